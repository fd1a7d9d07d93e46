//! Retention and erasure: a tenant's recordings, voicemails and transcripts older than
//! its retention (off by default) are deleted at Twilio and here, and "forget this
//! caller" erases everything a number left with a tenant. Owns no table: the setting is
//! telephony's, the media the calls module's, the texts messaging's, the contact
//! contacts'. Deleting at Twilio is done by [`ERASE`] jobs, so a Twilio outage delays
//! an erasure rather than losing it; each erasure is audited.

use serde::Deserialize;
use serde_json::json;

use crate::calls::erasure;
use crate::db::{Db, now_ms};
use crate::error::{AppError, AppResult};
use crate::jobs::{self, HandlerResult, Job, NewJob};
use crate::state::AppState;

/// Job: erase one call's media, at Twilio then here (`callSid`, `reason`).
pub const ERASE: &str = "media.erase";

/// Calls queued per tenant per sweep; the next sweep takes the rest.
const SWEEP_BATCH: i64 = 500;

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn queue_erasure(db: &Db, media: &erasure::Media, reason: &str) -> AppResult<bool> {
    jobs::enqueue(
        db,
        NewJob {
            tenant_id: Some(media.tenant_id.clone()),
            dedupe_key: Some(format!("erase:{}", media.call_sid)),
            ..NewJob::new(ERASE, json!({"callSid": media.call_sid, "reason": reason}))
        },
    )
    .await
}

/// Queues the erasure of every call past its tenant's retention. Returns how many
/// were queued. Run hourly by the server; safe to run at any time.
pub async fn sweep(db: &Db) -> AppResult<usize> {
    let mut queued = 0;
    for (tenant, days) in crate::telephony::retention_policies(db).await? {
        let before = now_ms() - days * DAY_MS;
        for media in erasure::media_older_than(db, &tenant, before, SWEEP_BATCH).await? {
            if queue_erasure(db, &media, "retention").await? {
                queued += 1;
            }
        }
    }
    if queued > 0 {
        tracing::info!(
            calls = queued,
            "queued media past its retention for erasure"
        );
    }
    Ok(queued)
}

/// Runs [`ERASE`]: deletes the call's recordings and transcript at Twilio (already gone
/// counts as deleted), then here, then audits it. A call erased since is left alone.
pub async fn erase_job(state: AppState, job: Job) -> HandlerResult {
    let call_sid = job.text("callSid")?;
    let reason = job.text("reason")?;
    let tenant = job.tenant()?;
    let Some(media) = erasure::media_of_call(&state.db, &tenant, &call_sid)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    if !media.recording_sids.is_empty() || media.transcript_sid.is_some() {
        let client = state
            .twilio_client(&tenant)
            .await
            .map_err(|e| e.to_string())?;
        for sid in &media.recording_sids {
            client
                .delete_recording(sid)
                .await
                .map_err(|e| format!("deleting recording {sid} at Twilio: {e}"))?;
        }
        if let Some(sid) = &media.transcript_sid {
            client
                .delete_transcript(sid)
                .await
                .map_err(|e| format!("deleting transcript {sid} at Twilio: {e}"))?;
        }
    }
    erasure::erase(&state.db, &state.events, &tenant, &call_sid, &reason)
        .await
        .map_err(|e| e.to_string())?;
    crate::audit::record(
        &state.db,
        crate::audit::NewEntry {
            tenant_id: Some(tenant),
            action: "media.erase".to_owned(),
            target: Some(call_sid),
            detail: Some(format!(
                "{reason}: {} recording(s){}",
                media.recording_sids.len(),
                if media.transcript_sid.is_some() {
                    " and a Voice Intelligence transcript"
                } else {
                    ""
                }
            )),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// `POST /api/callers/forget` `{phoneNumber, confirm}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForgetRequest {
    /// The caller's number (E.164, or as the tenant writes it).
    pub phone_number: String,
    /// Must repeat the number: erasing cannot be undone.
    pub confirm: String,
    /// Admins name the tenant.
    #[serde(default)]
    pub customer_id: Option<String>,
}

/// What forgetting a caller did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Forgotten {
    /// The number, normalised.
    pub phone_number: String,
    /// Calls whose recordings and transcripts are being erased (at Twilio first, by jobs).
    pub calls_erasing: usize,
    /// Texts deleted.
    pub texts_deleted: u64,
    /// Contacts deleted (0 or 1).
    pub contacts_deleted: u64,
}

/// Forgets a caller for a tenant: their texts and contact at once, their calls'
/// recordings and transcripts by jobs (Twilio first). The calls themselves stay, as
/// metadata, for the stats. The opt-out, if they sent STOP, stays too.
pub async fn forget_caller(db: &Db, tenant: &str, request: &ForgetRequest) -> AppResult<Forgotten> {
    let number = crate::numbers::E164::parse(&request.phone_number)
        .map(|n| n.as_str().to_owned())
        .ok_or_else(|| AppError::field("phoneNumber", "a phone number, e.g. +15551234567"))?;
    let confirmed =
        crate::numbers::E164::parse(&request.confirm).is_some_and(|n| n.as_str() == number);
    if !confirmed {
        return Err(AppError::field(
            "confirm",
            "repeat the phone number to confirm: this cannot be undone",
        ));
    }
    let media = erasure::media_of_number(db, tenant, &number).await?;
    for m in &media {
        queue_erasure(db, m, "forget").await?;
    }
    Ok(Forgotten {
        calls_erasing: media.len(),
        texts_deleted: crate::messaging::forget_number(db, tenant, &number).await?,
        contacts_deleted: crate::contacts::forget_phone(db, tenant, &number).await?,
        phone_number: number,
    })
}
