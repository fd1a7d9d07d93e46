//! Unread counts: what arrived since a user last looked. Owns `notification_reads`.

use serde::Serialize;
use sqlx::Row as _;

use crate::db::{Db, now_ms};
use crate::error::{AppError, AppResult};

/// The sections that carry a badge.
pub const SECTIONS: &[&str] = &["callLogs", "messages", "voicemails"];

/// Accepts `callLogs`, `call-logs`, `messages`, `voicemails`.
pub fn parse_section(s: &str) -> Option<&'static str> {
    match s {
        "callLogs" | "call-logs" | "calls" => Some("callLogs"),
        "messages" => Some("messages"),
        "voicemails" => Some("voicemails"),
        _ => None,
    }
}

/// Unread counts per section.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnreadCounts {
    /// Calls started since the call log was last opened.
    pub call_logs: i64,
    /// Inbound texts since messages were last opened.
    pub messages: i64,
    /// Voicemails since voicemails were last opened.
    pub voicemails: i64,
}

async fn last_read(db: &Db, user_id: &str, section: &str) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT last_read_at FROM notification_reads WHERE user_id = $1 AND section = $2",
    )
    .bind(user_id)
    .bind(section)
    .fetch_optional(db.pool())
    .await?;
    Ok(row
        .map(|r| r.try_get("last_read_at"))
        .transpose()?
        .unwrap_or(0))
}

/// Unread counts for a user of a tenant.
pub async fn unread(db: &Db, user_id: &str, tenant_id: &str) -> AppResult<UnreadCounts> {
    let calls_since = last_read(db, user_id, "callLogs").await?;
    let voicemails_since = last_read(db, user_id, "voicemails").await?;
    Ok(UnreadCounts {
        call_logs: crate::calls::count_started_after(db, tenant_id, calls_since, None).await?,
        messages: crate::messaging::count_inbound_after(
            db,
            tenant_id,
            last_read(db, user_id, "messages").await?,
        )
        .await?,
        voicemails: crate::calls::count_started_after(
            db,
            tenant_id,
            voicemails_since,
            Some("voicemail"),
        )
        .await?,
    })
}

/// Marks one section read now.
pub async fn mark_read(db: &Db, user_id: &str, section: &str) -> AppResult<()> {
    let section = parse_section(section).ok_or_else(|| {
        AppError::field("section", format!("must be one of {}", SECTIONS.join(", ")))
    })?;
    store_read(db, user_id, section).await
}

/// A conversation's read mark lives beside the sections', under its own key.
fn thread_key(party: &str) -> String {
    format!("thread:{party}")
}

/// Marks the conversation with `party` read now (opening it on the Messages page).
pub async fn mark_thread_read(db: &Db, user_id: &str, party: &str) -> AppResult<()> {
    store_read(db, user_id, &thread_key(party)).await
}

/// Unread texts in each of `parties`' conversations for a user: those received since
/// the user last opened that conversation.
pub async fn thread_unread(
    db: &Db,
    user_id: &str,
    tenant_id: &str,
    parties: &[String],
) -> AppResult<std::collections::HashMap<String, i64>> {
    let mut out = std::collections::HashMap::new();
    for party in parties {
        let since = last_read(db, user_id, &thread_key(party)).await?;
        let n = crate::messaging::count_inbound_from_after(db, tenant_id, party, since).await?;
        if n > 0 {
            out.insert(party.clone(), n);
        }
    }
    Ok(out)
}

async fn store_read(db: &Db, user_id: &str, section: &str) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO notification_reads (user_id, section, last_read_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, section) DO UPDATE SET last_read_at = excluded.last_read_at",
    )
    .bind(user_id)
    .bind(section)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Marks every section read.
pub async fn mark_all_read(db: &Db, user_id: &str) -> AppResult<()> {
    for section in SECTIONS {
        mark_read(db, user_id, section).await?;
    }
    Ok(())
}
