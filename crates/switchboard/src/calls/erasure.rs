//! Erasing a call's media: what it said (transcripts, summaries, the receptionist's
//! conversation, the classifier's quoted evidence) and where its audio was. Its
//! metadata stays, so the stats still count it.
//!
//! Two steps, both repeatable: the stored events' content parameters are emptied
//! ([`super::fold::CONTENT_PARAMS`]), then an `erasure` event is recorded, whose fold
//! clears the row and marks it (`media_erased_at`; the audio routes then answer 410).
//! Deleting the audio at Twilio is the caller's part (the retention job), done first.

use sqlx::Row as _;

use super::fold::CONTENT_PARAMS;
use super::{EventKind, EventWriter, NewEvent};
use crate::db::{Db, now_ms};
use crate::error::{AppError, AppResult};

/// What a call has that erasing would remove.
#[derive(Debug, Clone)]
pub struct Media {
    /// The call.
    pub call_sid: String,
    /// The tenant.
    pub tenant_id: String,
    /// Recordings at Twilio (the main one, the voicemail).
    pub recording_sids: Vec<String>,
    /// The Voice Intelligence transcript at Twilio.
    pub transcript_sid: Option<String>,
}

const HAS_MEDIA: &str =
    "media_erased_at IS NULL AND (recording_sid IS NOT NULL OR voicemail_sid IS NOT NULL
     OR transcript_sid IS NOT NULL OR transcript_text IS NOT NULL OR summary_text IS NOT NULL
     OR conversation IS NOT NULL)";

fn media_from_row(r: &sqlx::any::AnyRow) -> Result<Media, sqlx::Error> {
    let recording: Option<String> = r.try_get("recording_sid")?;
    let voicemail: Option<String> = r.try_get("voicemail_sid")?;
    Ok(Media {
        call_sid: r.try_get("call_sid")?,
        tenant_id: r.try_get("tenant_id")?,
        recording_sids: recording.into_iter().chain(voicemail).collect(),
        transcript_sid: r.try_get("transcript_sid")?,
    })
}

/// The tenant's calls that started before `before` (unix ms) and still have media, at
/// most `limit`, oldest first.
pub async fn media_older_than(
    db: &Db,
    tenant_id: &str,
    before: i64,
    limit: i64,
) -> AppResult<Vec<Media>> {
    let rows = sqlx::query(&format!(
        "SELECT call_sid, tenant_id, recording_sid, voicemail_sid, transcript_sid FROM calls
         WHERE tenant_id = $1 AND started_at < $2 AND {HAS_MEDIA}
         ORDER BY started_at LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(media_from_row).collect::<Result<_, _>>()?)
}

/// The tenant's calls from or to `number` that still have media.
pub async fn media_of_number(db: &Db, tenant_id: &str, number: &str) -> AppResult<Vec<Media>> {
    let rows = sqlx::query(&format!(
        "SELECT call_sid, tenant_id, recording_sid, voicemail_sid, transcript_sid FROM calls
         WHERE tenant_id = $1 AND (from_number = $2 OR to_number = $2) AND {HAS_MEDIA}"
    ))
    .bind(tenant_id)
    .bind(number)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(media_from_row).collect::<Result<_, _>>()?)
}

/// One call's media, if the tenant has the call and its media was not erased yet.
pub async fn media_of_call(db: &Db, tenant_id: &str, call_sid: &str) -> AppResult<Option<Media>> {
    let row = sqlx::query(
        "SELECT call_sid, tenant_id, recording_sid, voicemail_sid, transcript_sid FROM calls
         WHERE tenant_id = $1 AND call_sid = $2 AND media_erased_at IS NULL",
    )
    .bind(tenant_id)
    .bind(call_sid)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(media_from_row).transpose()?)
}

/// Whether the call that holds this recording had its media erased.
pub async fn recording_erased(db: &Db, recording_sid: &str) -> AppResult<bool> {
    let row = sqlx::query(
        "SELECT media_erased_at FROM calls WHERE recording_sid = $1 OR voicemail_sid = $1 LIMIT 1",
    )
    .bind(recording_sid)
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        Some(r) => r.try_get::<Option<i64>, _>("media_erased_at")?.is_some(),
        None => false,
    })
}

/// Erases the call's media here: empties the content of its stored events, then
/// records the erasure (which refolds the row without it). `reason` is kept with it
/// (`retention`, `forget`).
pub async fn erase(
    db: &Db,
    events: &EventWriter,
    tenant_id: &str,
    call_sid: &str,
    reason: &str,
) -> AppResult<()> {
    let rows = sqlx::query(
        "SELECT dedupe_key, payload FROM call_events WHERE call_sid = $1 AND tenant_id = $2",
    )
    .bind(call_sid)
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    for r in &rows {
        let key: String = r.try_get("dedupe_key")?;
        let payload: String = r.try_get("payload")?;
        let mut params: Vec<(String, String)> =
            serde_json::from_str(&payload).map_err(AppError::internal)?;
        let mut changed = false;
        for (k, v) in &mut params {
            if CONTENT_PARAMS.contains(&k.as_str()) && !v.is_empty() {
                v.clear();
                changed = true;
            }
        }
        if changed {
            // The dedupe key stays: a redelivered original is still recognised and
            // not stored again.
            sqlx::query(
                "UPDATE call_events SET payload = $1 WHERE call_sid = $2 AND dedupe_key = $3",
            )
            .bind(serde_json::to_string(&params).map_err(AppError::internal)?)
            .bind(call_sid)
            .bind(key)
            .execute(db.pool())
            .await?;
        }
    }
    events
        .record(NewEvent {
            tenant_id: Some(tenant_id.to_owned()),
            call_sid: call_sid.to_owned(),
            kind: EventKind::Erasure,
            params: vec![
                ("ErasedAt".to_owned(), now_ms().to_string()),
                ("Reason".to_owned(), reason.to_owned()),
            ],
            timezone: None,
        })
        .await?;
    Ok(())
}
