//! Text messages. Owns `messages`.
//!
//! Inbound texts are stored once per `MessageSid`; delivery statuses of outbound ones
//! only move forward (Twilio reports them late and out of order).

use sqlx::Row as _;

use crate::db::{Db, now_ms};
use crate::error::AppResult;

/// Where a status stands; terminal statuses (delivered, undelivered, failed, read,
/// canceled) never move back.
fn rank(status: &str) -> u8 {
    match status {
        "accepted" | "scheduled" => 0,
        "queued" => 1,
        "sending" => 2,
        "sent" => 3,
        "receiving" => 4,
        "received" => 5,
        "delivered" | "undelivered" | "failed" | "canceled" => 6,
        "read" => 7,
        _ => 0,
    }
}

/// An inbound text as Twilio sent it.
#[derive(Debug, Clone)]
pub struct Inbound<'a> {
    /// `MessageSid`.
    pub message_sid: &'a str,
    /// Sender, as sent.
    pub from: &'a str,
    /// The tenant's number.
    pub to: &'a str,
    /// Text.
    pub body: &'a str,
    /// Attachments.
    pub num_media: i64,
}

/// A text as the portal shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// `SM…`.
    pub message_sid: String,
    /// `inbound` or `outbound-api`.
    pub direction: String,
    /// Sender, as sent.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Text.
    pub body: String,
    /// Twilio's status.
    pub status: String,
    /// Twilio's error code when it failed.
    pub error_code: Option<String>,
    /// Attachments.
    pub num_media: i64,
    /// Unix milliseconds (RFC 3339 in JSON).
    #[serde(serialize_with = "as_rfc3339")]
    pub created_at: i64,
}

fn as_rfc3339<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::db::rfc3339(*ms))
}

/// A page of a tenant's texts, newest first, and how many there are.
pub async fn list(
    db: &Db,
    tenant_id: &str,
    limit: i64,
    offset: i64,
) -> AppResult<(Vec<Message>, i64)> {
    let rows = sqlx::query(
        "SELECT message_sid, direction, from_number, to_number, body, status, error_code, num_media, created_at
         FROM messages WHERE tenant_id = $1 ORDER BY created_at DESC, message_sid DESC LIMIT $2 OFFSET $3",
    )
    .bind(tenant_id)
    .bind(limit.clamp(1, 200))
    .bind(offset.max(0))
    .fetch_all(db.pool())
    .await?;
    let messages = rows
        .iter()
        .map(|r| {
            Ok(Message {
                message_sid: r.try_get("message_sid")?,
                direction: r.try_get("direction")?,
                from: r.try_get("from_number")?,
                to: r.try_get("to_number")?,
                body: r.try_get("body")?,
                status: r.try_get("status")?,
                error_code: r.try_get("error_code")?,
                num_media: r.try_get("num_media")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM messages WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    Ok((messages, total))
}

/// Stores an inbound text; a redelivery of the same `MessageSid` is a no-op.
pub async fn record_inbound(db: &Db, tenant_id: &str, m: &Inbound<'_>) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO messages (message_sid, tenant_id, direction, from_number, to_number, body, status, num_media, created_at, updated_at)
         VALUES ($1, $2, 'inbound', $3, $4, $5, 'received', $6, $7, $7)
         ON CONFLICT (message_sid) DO NOTHING",
    )
    .bind(m.message_sid)
    .bind(tenant_id)
    .bind(m.from)
    .bind(m.to)
    .bind(m.body)
    .bind(m.num_media)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Stores a text we sent (the send API records what Twilio accepted).
pub async fn record_outbound(
    db: &Db,
    tenant_id: &str,
    message_sid: &str,
    from: &str,
    to: &str,
    body: &str,
    status: &str,
) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO messages (message_sid, tenant_id, direction, from_number, to_number, body, status, num_media, created_at, updated_at)
         VALUES ($1, $2, 'outbound-api', $3, $4, $5, $6, 0, $7, $7)
         ON CONFLICT (message_sid) DO NOTHING",
    )
    .bind(message_sid)
    .bind(tenant_id)
    .bind(from)
    .bind(to)
    .bind(body)
    .bind(status)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Applies a delivery status if it moves the message forward. Returns whether the
/// message is one of ours.
pub async fn apply_status(
    db: &Db,
    message_sid: &str,
    status: &str,
    error_code: Option<&str>,
) -> AppResult<bool> {
    let row = sqlx::query("SELECT status FROM messages WHERE message_sid = $1")
        .bind(message_sid)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(false) };
    let current: String = row.try_get("status")?;
    if rank(status) > rank(&current) {
        sqlx::query("UPDATE messages SET status = $1, error_code = COALESCE($2, error_code), updated_at = $3 WHERE message_sid = $4")
            .bind(status)
            .bind(error_code)
            .bind(now_ms())
            .bind(message_sid)
            .execute(db.pool())
            .await?;
    }
    Ok(true)
}

/// The tenant a message belongs to.
pub async fn tenant_of(db: &Db, message_sid: &str) -> AppResult<Option<String>> {
    let row = sqlx::query("SELECT tenant_id FROM messages WHERE message_sid = $1")
        .bind(message_sid)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get("tenant_id")).transpose()?)
}

/// Inbound texts of a tenant received after `since` (unix ms).
pub async fn count_inbound_after(db: &Db, tenant_id: &str, since: i64) -> AppResult<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM messages WHERE tenant_id = $1 AND direction = 'inbound' AND created_at > $2")
        .bind(tenant_id)
        .bind(since)
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get("n")?)
}

/// One message's status (for tests and the portal).
pub async fn status_of(db: &Db, message_sid: &str) -> AppResult<Option<(String, Option<String>)>> {
    let row = sqlx::query("SELECT status, error_code FROM messages WHERE message_sid = $1")
        .bind(message_sid)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok((r.try_get("status")?, r.try_get("error_code")?)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn statuses_only_move_forward() {
        assert!(rank("sent") > rank("queued"));
        assert!(rank("delivered") > rank("sent"));
        assert!(rank("undelivered") > rank("sent"));
        assert_eq!(
            rank("delivered"),
            rank("failed"),
            "terminals do not replace each other"
        );
        assert!(
            rank("sent") < rank("undelivered"),
            "a late 'sent' never undoes a failure"
        );
    }
}
