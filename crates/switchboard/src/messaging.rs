//! Text messages. Owns `messages` and `sms_opt_outs`.
//!
//! Inbound texts are stored once per `MessageSid`; delivery statuses of outbound ones
//! only move forward (Twilio reports them late and out of order). A text we send is
//! stored QUEUED under our own id, then the [`SEND`] job sends it with the tenant's
//! credentials and number and stores Twilio's `MessageSid` in place of that id; a
//! recipient who texted STOP gets nothing (FAILED "recipient opted out", no REST call).

use sqlx::Row as _;

use crate::db::{Db, new_id, now_ms};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::jobs::{self, HandlerResult, Job, NewJob};
use crate::state::AppState;

/// The job that sends one queued text.
pub const SEND: &str = "messaging.send_sms";

/// GSM 03.38's basic characters (one septet each).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table (two septets each: an escape and the character).
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{0c}";

/// How a text travels: its encoding and how many segments carriers bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Segments {
    /// `GSM-7` or `UCS-2` (any character outside GSM-7 makes the whole text UCS-2).
    pub encoding: &'static str,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Segments: 160 / 153 septets, or 70 / 67 UTF-16 units, a segment.
    pub segments: usize,
}

/// Counts a text's segments as carriers do.
pub fn segments(body: &str) -> Segments {
    let septets: Option<usize> = body
        .chars()
        .map(|c| {
            if GSM_BASIC.contains(c) {
                Some(1)
            } else if GSM_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, multi) = match septets {
        Some(n) => ("GSM-7", n, 160, 153),
        None => ("UCS-2", body.encode_utf16().count(), 70, 67),
    };
    Segments {
        encoding,
        units,
        segments: if units <= single {
            1
        } else {
            units.div_ceil(multi)
        },
    }
}

/// What a carrier keyword asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT.
    OptOut,
    /// START, UNSTOP.
    OptIn,
    /// HELP, INFO.
    Help,
}

/// The keyword a text is, if it is one: the whole text, any case, punctuation around it
/// ignored.
pub fn keyword(body: &str) -> Option<Keyword> {
    let word = body
        .trim()
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "STOP ALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => {
            Some(Keyword::OptOut)
        }
        "START" | "UNSTOP" => Some(Keyword::OptIn),
        "HELP" | "INFO" => Some(Keyword::Help),
        _ => None,
    }
}

/// Twilio's common messaging error codes in plain words.
pub fn failure_reason(code: &str) -> Option<&'static str> {
    Some(match code {
        "21211" => "The number is not a valid phone number.",
        "21408" => "Texting this country is not enabled on the Twilio account.",
        "21610" => "The recipient replied STOP and has opted out of texts from this number.",
        "21612" => "This number cannot text that destination.",
        "21614" => "The number is not a mobile number and cannot receive texts.",
        "30003" => "The phone is unreachable: switched off or out of coverage.",
        "30004" => "The recipient's carrier blocked the text.",
        "30005" => "The number does not exist or is no longer in service.",
        "30006" => "The number is a landline or its carrier cannot receive texts.",
        "30007" => "The carrier filtered the text as spam.",
        "30008" => "The carrier could not deliver the text (unknown error).",
        "30034" => "The sending number is not registered for A2P 10DLC, so US carriers block it.",
        _ => return None,
    })
}

/// The job that texts back a missed caller.
pub const TEXT_BACK: &str = "messaging.text_back";

/// The missed-call text when the tenant wrote none.
pub const DEFAULT_TEXT_BACK: &str =
    "Sorry we missed your call to {business}. Reply here and we'll get back to you.";

/// The caller ids Twilio sends when there is none to text.
fn is_textable(number: &str) -> bool {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    // Short codes and "anonymous" / "restricted" (and Twilio's +266696687) are not.
    number.starts_with('+') && digits >= 10 && !number.starts_with("+266696687")
}

/// After a call's status is stored: when it was missed (answered by nobody, voicemail
/// or not), the tenant has the text-back on and the caller can be texted, queue the
/// text — once per caller per day, now when the tenant is open, else at its next
/// opening.
pub async fn text_back_when_missed(
    state: &AppState,
    tenant_id: &str,
    call_sid: &str,
    record: &crate::calls::CallRecord,
) -> AppResult<()> {
    let terminal = matches!(
        record.status.as_deref(),
        Some("completed" | "no-answer" | "busy" | "failed" | "canceled")
    );
    let missed = matches!(record.outcome.as_str(), "missed" | "voicemail");
    let inbound = record.direction.as_deref() == Some("inbound");
    let (Some(from), Some(to)) = (&record.from, &record.to) else {
        return Ok(());
    };
    if !(terminal && missed && inbound && is_textable(from)) {
        return Ok(());
    }
    let settings = crate::telephony::view(&state.db, tenant_id).await?;
    if !settings.text_back_enabled {
        return Ok(());
    }
    let tz_name = crate::tenants::get(&state.db, tenant_id).await?.timezone;
    let tz = jiff::tz::TimeZone::get(&tz_name).unwrap_or(jiff::tz::TimeZone::UTC);
    let now = jiff::Timestamp::now();
    let at = match &settings.business_hours {
        Some(hours) => hours.next_opening(&tz_name, now).unwrap_or(now),
        None => now,
    };
    let day = at.to_zoned(tz).date();
    let job = NewJob {
        tenant_id: Some(tenant_id.to_owned()),
        dedupe_key: Some(format!("{TEXT_BACK}:{tenant_id}:{from}:{day}")),
        run_at: Some(at.as_millisecond()),
        ..NewJob::new(
            TEXT_BACK,
            serde_json::json!({ "callSid": call_sid, "to": from, "from": to }),
        )
    };
    jobs::enqueue(&state.db, job).await?;
    Ok(())
}

/// Runs [`TEXT_BACK`]: texts the missed caller from the number they called, unless they
/// opted out.
pub async fn text_back_job(state: AppState, job: Job) -> HandlerResult {
    let (call_sid, to, from) = (job.text("callSid")?, job.text("to")?, job.text("from")?);
    let tenant = job.tenant()?;
    let opted_out = opted_out_at(&state.db, &tenant, &to)
        .await
        .map_err(|e| e.to_string())?;
    if opted_out.is_some() {
        tracing::info!("missed caller opted out of texts; no text-back");
        return Ok(());
    }
    let settings = crate::telephony::view(&state.db, &tenant)
        .await
        .map_err(|e| e.to_string())?;
    let business = crate::tenants::get(&state.db, &tenant)
        .await
        .map_err(|e| e.to_string())?
        .name;
    let template = settings
        .text_back_message
        .unwrap_or_else(|| DEFAULT_TEXT_BACK.to_owned());
    let body = crate::telephony::render(&template, &[("business", &business)]);
    queue(
        &state.db,
        &Outgoing {
            tenant_id: &tenant,
            from: &from,
            to: &to,
            body: &body,
            sent_by: None,
            max_segments: settings.sms_max_segments.max(1),
            call_sid: Some(&call_sid),
            appointment_id: None,
            id: None,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Of `call_sids`, the calls a text-back went to.
pub async fn texted_back(
    db: &Db,
    tenant_id: &str,
    call_sids: &[String],
) -> AppResult<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    for chunk in call_sids.chunks(100) {
        if chunk.is_empty() {
            continue;
        }
        // All placeholders from one source: sqlx numbers plain `?` from 1 whatever `$n`
        // precede them.
        let sql = format!(
            "SELECT call_sid FROM messages WHERE tenant_id = {} AND call_sid IN ({})",
            db.placeholders(1, 1),
            db.placeholders(2, chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(tenant_id);
        for sid in chunk {
            q = q.bind(sid.as_str());
        }
        for r in q.fetch_all(db.pool()).await? {
            out.insert(r.try_get("call_sid")?);
        }
    }
    Ok(out)
}

/// The reason shown for a send refused because the recipient opted out.
pub const OPTED_OUT: &str = "Recipient opted out (texted STOP); nothing was sent.";

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
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// Our id of a text we send (stable before and after Twilio accepts it).
    pub id: Option<String>,
    /// Why it failed, in plain words.
    pub failure_reason: Option<String>,
    /// The other side of the conversation.
    pub party: Option<String>,
    /// The call a text-back answered.
    pub call_sid: Option<String>,
}

const MESSAGE_COLUMNS: &str = "message_sid, direction, from_number, to_number, body, status, error_code, num_media, created_at, local_id, failure_reason, party, call_sid";

fn message_from_row(r: &sqlx::any::AnyRow) -> Result<Message, sqlx::Error> {
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
        id: r.try_get("local_id")?,
        failure_reason: r.try_get("failure_reason")?,
        party: r.try_get("party")?,
        call_sid: r.try_get("call_sid")?,
    })
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
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS}
         FROM messages WHERE tenant_id = $1 ORDER BY created_at DESC, message_sid DESC LIMIT $2 OFFSET $3"
    ))
    .bind(tenant_id)
    .bind(limit.clamp(1, 200))
    .bind(offset.max(0))
    .fetch_all(db.pool())
    .await?;
    let messages = rows
        .iter()
        .map(message_from_row)
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
        "INSERT INTO messages (message_sid, tenant_id, direction, from_number, to_number, body, status, num_media, created_at, updated_at, party)
         VALUES ($1, $2, 'inbound', $3, $4, $5, 'received', $6, $7, $7, $3)
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
        "INSERT INTO messages (message_sid, tenant_id, direction, from_number, to_number, body, status, num_media, created_at, updated_at, party)
         VALUES ($1, $2, 'outbound-api', $3, $4, $5, $6, 0, $7, $7, $4)
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
        let reason = error_code.and_then(failure_reason);
        sqlx::query("UPDATE messages SET status = $1, error_code = COALESCE($2, error_code), failure_reason = COALESCE($3, failure_reason), updated_at = $4 WHERE message_sid = $5")
            .bind(status)
            .bind(error_code)
            .bind(reason)
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

/// Inbound texts from `party` to a tenant received after `since` (unix ms).
pub async fn count_inbound_from_after(
    db: &Db,
    tenant_id: &str,
    party: &str,
    since: i64,
) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM messages
         WHERE tenant_id = $1 AND party = $2 AND direction = 'inbound' AND created_at > $3",
    )
    .bind(tenant_id)
    .bind(party)
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

/// Deletes every text the tenant exchanged with `phone` ("forget this caller"); the
/// opt-out, if any, stays, so they are never texted against their word. Returns how
/// many were deleted.
pub async fn forget_number(db: &Db, tenant_id: &str, phone: &str) -> AppResult<u64> {
    let done = sqlx::query(
        "DELETE FROM messages WHERE tenant_id = $1 AND (from_number = $2 OR to_number = $2)",
    )
    .bind(tenant_id)
    .bind(phone)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// Records that `phone` texted an opt-out keyword to the tenant.
pub async fn opt_out(db: &Db, tenant_id: &str, phone: &str, keyword: &str) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO sms_opt_outs (tenant_id, phone, keyword, opted_out_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, phone) DO UPDATE SET keyword = excluded.keyword, opted_out_at = excluded.opted_out_at",
    )
    .bind(tenant_id)
    .bind(phone)
    .bind(keyword)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// `phone` texted START or UNSTOP: texts may go to it again.
pub async fn opt_in(db: &Db, tenant_id: &str, phone: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM sms_opt_outs WHERE tenant_id = $1 AND phone = $2")
        .bind(tenant_id)
        .bind(phone)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// When `phone` opted out of the tenant's texts (unix ms), if it did.
pub async fn opted_out_at(db: &Db, tenant_id: &str, phone: &str) -> AppResult<Option<i64>> {
    let row =
        sqlx::query("SELECT opted_out_at FROM sms_opt_outs WHERE tenant_id = $1 AND phone = $2")
            .bind(tenant_id)
            .bind(phone)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|r| r.try_get("opted_out_at")).transpose()?)
}

/// A text to send.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The tenant sending.
    pub tenant_id: &'a str,
    /// Its number (E.164).
    pub from: &'a str,
    /// The recipient (E.164).
    pub to: &'a str,
    /// Text.
    pub body: &'a str,
    /// The user who sent it, if a person did.
    pub sent_by: Option<&'a str>,
    /// The tenant's limit in segments.
    pub max_segments: i64,
    /// The call this text answers (a text-back).
    pub call_sid: Option<&'a str>,
    /// The appointment it is about.
    pub appointment_id: Option<&'a str>,
    /// Our id for it when the caller must be able to queue it twice and send it once (a
    /// reminder); a fresh one otherwise.
    pub id: Option<&'a str>,
}

/// Checks a text before anything is stored: not empty, within the tenant's segments.
pub fn check_body(body: &str, max_segments: i64) -> Result<Segments, AppError> {
    let mut errors = FieldErrors::new();
    let s = segments(body);
    if body.trim().is_empty() {
        errors.insert("message".into(), "must not be empty".into());
    } else if i64::try_from(s.segments).unwrap_or(i64::MAX) > max_segments {
        errors.insert(
            "message".into(),
            format!(
                "is {} segments ({} {}); this account sends at most {max_segments}",
                s.segments,
                s.units,
                if s.encoding == "GSM-7" {
                    "GSM-7 characters"
                } else {
                    "UCS-2 units"
                }
            ),
        );
    }
    if errors.is_empty() {
        Ok(s)
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Stores a text QUEUED and queues its [`SEND`] job; returns it as stored.
pub async fn queue(db: &Db, out: &Outgoing<'_>) -> AppResult<Message> {
    check_body(out.body, out.max_segments)?;
    let id = out.id.map_or_else(|| new_id("msg"), str::to_owned);
    let now = now_ms();
    // A given id that is stored already (as queued, or since renamed to Twilio's sid)
    // is the same text: nothing new is stored and its job is deduplicated below.
    sqlx::query(
        "INSERT INTO messages (message_sid, tenant_id, direction, from_number, to_number, body, status, num_media, created_at, updated_at, local_id, party, sent_by, call_sid, appointment_id)
         VALUES ($1, $2, 'outbound-api', $3, $4, $5, 'queued', 0, $6, $6, $1, $4, $7, $8, $9)
         ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(out.tenant_id)
    .bind(out.from)
    .bind(out.to)
    .bind(out.body)
    .bind(now)
    .bind(out.sent_by)
    .bind(out.call_sid)
    .bind(out.appointment_id)
    .execute(db.pool())
    .await?;
    let job = NewJob {
        tenant_id: Some(out.tenant_id.to_owned()),
        dedupe_key: Some(format!("{SEND}:{id}")),
        ..NewJob::new(SEND, serde_json::json!({ "id": id }))
    };
    if let Err(e) = jobs::enqueue(db, job).await {
        mark_failed(db, &id, None, "Could not be queued for sending.").await?;
        return Err(e);
    }
    get_by_id(db, out.tenant_id, &id).await
}

/// One conversation: the texts with one other party.
#[derive(Debug, Clone)]
pub struct Thread {
    /// The other party (the customer's number).
    pub party: String,
    /// The latest text.
    pub last: Message,
    /// Texts in the conversation.
    pub count: i64,
}

/// A page of a tenant's conversations, the latest first, and how many there are.
pub async fn threads(
    db: &Db,
    tenant_id: &str,
    limit: i64,
    offset: i64,
) -> AppResult<(Vec<Thread>, i64)> {
    let rows = sqlx::query(
        "SELECT party, MAX(created_at) AS last_at, COUNT(*) AS n FROM messages
         WHERE tenant_id = $1 AND party IS NOT NULL
         GROUP BY party ORDER BY last_at DESC, party LIMIT $2 OFFSET $3",
    )
    .bind(tenant_id)
    .bind(limit.clamp(1, 200))
    .bind(offset.max(0))
    .fetch_all(db.pool())
    .await?;
    let mut threads = Vec::with_capacity(rows.len());
    for r in &rows {
        let party: String = r.try_get("party")?;
        let last = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND party = $2
             ORDER BY created_at DESC, message_sid DESC LIMIT 1"
        ))
        .bind(tenant_id)
        .bind(&party)
        .fetch_one(db.pool())
        .await?;
        threads.push(Thread {
            last: message_from_row(&last)?,
            count: r.try_get("n")?,
            party,
        });
    }
    let total: i64 = sqlx::query(
        "SELECT COUNT(DISTINCT party) AS n FROM messages WHERE tenant_id = $1 AND party IS NOT NULL",
    )
    .bind(tenant_id)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    Ok((threads, total))
}

/// The latest `limit` texts with one party, oldest first.
pub async fn conversation(
    db: &Db,
    tenant_id: &str,
    party: &str,
    limit: i64,
) -> AppResult<Vec<Message>> {
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND party = $2
         ORDER BY created_at DESC, message_sid DESC LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(party)
    .bind(limit.clamp(1, 500))
    .fetch_all(db.pool())
    .await?;
    let mut out = rows
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    out.reverse();
    Ok(out)
}

/// What [`send_for_tenant`] records with a text besides its words.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions<'a> {
    /// The user who sent it, if a person did.
    pub sent_by: Option<&'a str>,
    /// The appointment it is about.
    pub appointment_id: Option<&'a str>,
    /// A fixed id (see [`Outgoing::id`]).
    pub id: Option<&'a str>,
}

/// Texts a customer from the tenant's number (its primary active one): validates the
/// number and the length, then [`queue`]s it.
pub async fn send_for_tenant(
    db: &Db,
    tenant_id: &str,
    to: &str,
    body: &str,
    options: SendOptions<'_>,
) -> AppResult<(Message, Segments)> {
    let to = crate::numbers::E164::parse(to)
        .ok_or_else(|| AppError::field("phoneNumber", "is not a valid phone number"))?;
    let settings = crate::telephony::view(db, tenant_id).await?;
    let segments = check_body(body, settings.sms_max_segments)?;
    let numbers = crate::numbers::list_for_tenant(db, tenant_id).await?;
    let from = crate::numbers::sending_number(&numbers).ok_or_else(|| {
        AppError::Conflict("this account has no active phone number to text from".into())
    })?;
    let message = queue(
        db,
        &Outgoing {
            tenant_id,
            from: &from.phone_number,
            to: to.as_str(),
            body,
            sent_by: options.sent_by,
            max_segments: settings.sms_max_segments,
            call_sid: None,
            appointment_id: options.appointment_id,
            id: options.id,
        },
    )
    .await?;
    Ok((message, segments))
}

/// A text we sent, as the seed telephony module's notifications list shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Our id (`msg_…`), or Twilio's sid for texts sent before ids existed.
    pub id: String,
    /// `SMS` (no email is sent yet).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The recipient.
    pub recipient: String,
    /// The text.
    pub message: String,
    /// `QUEUED`, `SENT` or `FAILED`.
    pub status: &'static str,
    /// Twilio's status, finer grained.
    pub delivery_status: String,
    /// The appointment it was about.
    pub related_appointment_id: Option<String>,
    /// The call a text-back answered.
    pub related_call_sid: Option<String>,
    /// When Twilio accepted it (RFC 3339).
    pub sent_at: Option<String>,
    /// Why it failed, in plain words.
    pub failure_reason: Option<String>,
    /// Twilio's error code.
    pub error_code: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// The notification status of a Twilio message status.
fn notification_status(status: &str) -> &'static str {
    match status {
        "sent" | "delivered" | "read" => "SENT",
        "failed" | "undelivered" | "canceled" => "FAILED",
        _ => "QUEUED",
    }
}

/// The Twilio statuses of a notification status.
pub fn statuses_of(notification_status: &str) -> Option<&'static [&'static str]> {
    Some(match notification_status {
        "QUEUED" => &["accepted", "scheduled", "queued", "sending"],
        "SENT" => &["sent", "delivered", "read"],
        "FAILED" => &["failed", "undelivered", "canceled"],
        _ => return None,
    })
}

/// A page of the texts a tenant sent, newest first, optionally of some Twilio statuses.
pub async fn notifications(
    db: &Db,
    tenant_id: &str,
    statuses: Option<&[&str]>,
    limit: i64,
    offset: i64,
) -> AppResult<(Vec<Notification>, i64)> {
    let filter = match statuses {
        Some(list) => format!(
            " AND status IN ({})",
            list.iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    };
    let rows = sqlx::query(&format!(
        "SELECT message_sid, local_id, to_number, body, status, error_code, failure_reason, call_sid, appointment_id, sent_at, created_at
         FROM messages WHERE tenant_id = $1 AND direction <> 'inbound'{filter}
         ORDER BY created_at DESC, message_sid DESC LIMIT $2 OFFSET $3"
    ))
    .bind(tenant_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db.pool())
    .await?;
    let list = rows
        .iter()
        .map(|r| {
            let sid: String = r.try_get("message_sid")?;
            let local: Option<String> = r.try_get("local_id")?;
            let status: String = r.try_get("status")?;
            let sent_at: Option<i64> = r.try_get("sent_at")?;
            Ok(Notification {
                id: local.unwrap_or(sid),
                kind: "SMS",
                recipient: r.try_get("to_number")?,
                message: r.try_get("body")?,
                status: notification_status(&status),
                delivery_status: status,
                related_appointment_id: r.try_get("appointment_id")?,
                related_call_sid: r.try_get("call_sid")?,
                sent_at: sent_at.map(crate::db::rfc3339),
                failure_reason: r.try_get("failure_reason")?,
                error_code: r.try_get("error_code")?,
                created_at: crate::db::rfc3339(r.try_get("created_at")?),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let total: i64 = sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM messages WHERE tenant_id = $1 AND direction <> 'inbound'{filter}"
    ))
    .bind(tenant_id)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    Ok((list, total))
}

/// A tenant's text by our id.
pub async fn get_by_id(db: &Db, tenant_id: &str, id: &str) -> AppResult<Message> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND local_id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(message_from_row(&row)?)
}

async fn mark_failed(db: &Db, id: &str, code: Option<&str>, reason: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE messages SET status = 'failed', error_code = $1, failure_reason = $2, updated_at = $3
         WHERE local_id = $4 AND status = 'queued'",
    )
    .bind(code)
    .bind(reason)
    .bind(now_ms())
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Twilio accepted the text: its `MessageSid` replaces our id (status callbacks use it).
async fn mark_accepted(db: &Db, id: &str, message_sid: &str, status: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE messages SET message_sid = $1, status = $2, updated_at = $3, sent_at = $3
         WHERE local_id = $4 AND message_sid = $4",
    )
    .bind(message_sid)
    .bind(if status.is_empty() { "queued" } else { status })
    .bind(now_ms())
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Runs [`SEND`]: sends a queued text unless it went already or its recipient opted out.
/// Twilio's refusals (a bad number, an unregistered sender) fail the text with Twilio's
/// code; an unreachable Twilio is retried, and fails the text after the last attempt.
pub async fn send_job(state: AppState, job: Job) -> HandlerResult {
    let id = job.text("id")?;
    let tenant = job.tenant()?;
    let message = match get_by_id(&state.db, &tenant, &id).await {
        Ok(m) => m,
        Err(AppError::NotFound) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    if message.status != "queued" || message.message_sid != id {
        return Ok(());
    }
    if opted_out_at(&state.db, &tenant, &message.to)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        mark_failed(&state.db, &id, Some("21610"), OPTED_OUT)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(());
    }
    let client = state
        .twilio_client(&tenant)
        .await
        .map_err(|e| e.to_string())?;
    let request = twilio::client::CreateMessage {
        status_callback: Some(format!(
            "{}/api/twilio/sms/status",
            state.config.public_url.trim_end_matches('/')
        )),
        ..twilio::client::CreateMessage::new(&message.to, &message.from, &message.body)
    };
    match client.create_message(&request).await {
        Ok(sent) => mark_accepted(&state.db, &id, &sent.sid, &sent.status)
            .await
            .map_err(|e| e.to_string()),
        Err(twilio::client::ClientError::Api(e)) if e.status < 500 && e.status != 429 => {
            let code = e.code.map(|c| c.to_string());
            let reason = code
                .as_deref()
                .and_then(failure_reason)
                .map_or_else(|| e.message.clone(), str::to_owned);
            mark_failed(&state.db, &id, code.as_deref(), &reason)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) if job.attempts >= job.max_attempts => {
            mark_failed(&state.db, &id, None, &format!("Not sent: {e}"))
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_count_as_carriers_do() {
        assert_eq!(segments("hello").segments, 1);
        assert_eq!(segments(&"a".repeat(160)).segments, 1);
        assert_eq!(segments(&"a".repeat(161)).segments, 2);
        assert_eq!(segments(&"a".repeat(306)).segments, 2);
        assert_eq!(segments(&"a".repeat(307)).segments, 3);
        // Extension characters take two septets.
        assert_eq!(segments(&"€".repeat(80)).units, 160);
        assert_eq!(segments(&"€".repeat(81)).segments, 2);
        // One character outside GSM-7 makes the whole text UCS-2.
        let s = segments(&format!("{}😀", "a".repeat(68)));
        assert_eq!((s.encoding, s.units, s.segments), ("UCS-2", 70, 1));
        assert_eq!(segments(&format!("{}ü😀", "a".repeat(69))).segments, 2);
    }

    #[test]
    fn keywords_are_the_whole_text() {
        assert_eq!(keyword(" stop "), Some(Keyword::OptOut));
        assert_eq!(keyword("Unsubscribe."), Some(Keyword::OptOut));
        assert_eq!(keyword("START"), Some(Keyword::OptIn));
        assert_eq!(keyword("help"), Some(Keyword::Help));
        assert_eq!(keyword("please stop calling me"), None);
        assert_eq!(keyword("Can I cancel my appointment?"), None);
    }

    #[test]
    fn templates_name_known_placeholders_only() {
        use crate::telephony::{check_template, render};
        assert!(check_template("Sorry we missed you at {business}!", &["business"]).is_ok());
        let e = check_template("Hi {name}", &["business"]).expect_err("unknown");
        assert!(e.contains("{name}") && e.contains("{business}"), "{e}");
        assert!(check_template("oops {business", &["business"]).is_err());
        assert_eq!(
            render(DEFAULT_TEXT_BACK, &[("business", "Bright Smiles")]),
            "Sorry we missed your call to Bright Smiles. Reply here and we'll get back to you."
        );
        assert!(!is_textable("+266696687"));
        assert!(!is_textable("anonymous"));
        assert!(!is_textable("+12345"));
        assert!(is_textable("+15550001111"));
    }

    #[test]
    fn long_texts_are_refused_with_the_count() {
        assert!(check_body("hi", 1).is_ok());
        let e = check_body(&"a".repeat(161), 1).expect_err("two segments");
        assert!(matches!(e, AppError::Validation(_)));
        assert!(check_body("   ", 10).is_err());
    }

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
