//! Reading calls: the call-log view, filters, list, detail and timeline, stats, the
//! unrouted requests; and deleting logs.

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use super::{event_from_row, rollups, row};
use crate::db::{Backend, Db, now_ms, rfc3339};
use crate::error::{AppError, AppResult};

/// A call as clients see it (the shape of DESIGN's call log).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CallLog {
    pub id: String,
    pub call_sid: String,
    pub customer_id: String,
    pub twilio_phone_number: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub direction: Option<String>,
    pub status: Option<String>,
    pub dial_call_status: Option<String>,
    /// answered | voicemail | missed | in-progress, or ai-resolved | ai-booked for a call
    /// the AI receptionist finished without a person.
    pub outcome: String,
    /// Talk seconds, 0 when missed.
    pub duration: i64,
    pub call_duration: Option<i64>,
    pub menu_choice: Option<String>,
    pub started_at: String,
    pub answer_time: Option<String>,
    pub ended_at: Option<String>,
    pub ringing_duration: Option<i64>,
    pub recording_sid: Option<String>,
    /// Our proxy, never Twilio.
    pub recording_url: Option<String>,
    pub recording_duration: Option<i64>,
    pub voicemail_sid: Option<String>,
    /// Our proxy, never Twilio.
    pub voicemail_url: Option<String>,
    pub voicemail_duration: Option<i64>,
    pub caller_name: Option<String>,
    pub caller_city: Option<String>,
    pub caller_state: Option<String>,
    pub caller_zip: Option<String>,
    pub caller_country: Option<String>,
    pub price: Option<String>,
    pub price_unit: Option<String>,
    pub quality_metrics: Option<serde_json::Value>,
    pub transcript_sid: Option<String>,
    pub transcript_text: Option<String>,
    pub summary_text: Option<String>,
    pub summary_ready: bool,
    pub appointment_booked: Option<bool>,
    pub call_reason: Option<String>,
    /// `realtime` or `vi`.
    pub transcript_source: Option<String>,
    /// Who decided booked and reason: `correction`, `llm`, `local` or `vi`.
    pub classification_source: Option<String>,
    /// The phrases that decided.
    pub classification_evidence: Vec<String>,
    pub classifier_version: Option<String>,
    pub corrected_by: Option<String>,
    pub corrected_at: Option<String>,
    /// Hash of the text last classified (internal).
    #[serde(skip)]
    pub classified_hash: Option<String>,
    pub contact_id: Option<String>,
    /// The staff member who placed an outbound call.
    pub user_id: Option<String>,
    /// The AI receptionist's turns, in order (empty when it did not answer the call).
    pub conversation: Vec<super::fold::Turn>,
    /// `ai-resolved`, `ai-booked` or `ai-handoff` when the receptionist answered.
    pub ai_outcome: Option<String>,
    /// When the call's recordings, voicemail and transcripts were erased (retention or
    /// "forget this caller"); its audio routes then answer 410.
    pub media_erased_at: Option<String>,
}

impl CallLog {
    /// Whether staff placed the call (from the browser or by click-to-call).
    pub fn is_outbound(&self) -> bool {
        super::fold::is_outbound(self.direction.as_deref())
    }

    /// The customer's number: who called in, or who was called.
    pub fn customer_number(&self) -> Option<&str> {
        if self.is_outbound() {
            self.to.as_deref()
        } else {
            self.from.as_deref()
        }
    }
}

/// The call log a stored row shows: the record [`row`] reads back, as clients see it.
fn log_from_row(r: &sqlx::any::AnyRow) -> Result<CallLog, sqlx::Error> {
    let call_sid: String = r.try_get("call_sid")?;
    let record = row::record_from_row(r)?;
    let quality: Option<String> = r.try_get("quality_metrics")?;
    Ok(CallLog {
        id: call_sid.clone(),
        customer_id: r.try_get("tenant_id")?,
        twilio_phone_number: r.try_get("twilio_number")?,
        from: record.from,
        to: record.to,
        direction: record.direction,
        status: record.status,
        dial_call_status: record.dial_status,
        outcome: record.outcome,
        duration: record.talk_seconds,
        call_duration: record.call_seconds,
        menu_choice: record.menu_choice,
        started_at: rfc3339(record.started_at),
        answer_time: record.answered_at.map(rfc3339),
        ended_at: record.ended_at.map(rfc3339),
        ringing_duration: record.ringing_seconds,
        // Audio is played through us, never from Twilio's URL.
        recording_url: record
            .recording_sid
            .as_ref()
            .filter(|_| record.media_erased_at.is_none())
            .map(|sid| format!("/api/twilio/recording/{sid}")),
        recording_sid: record.recording_sid,
        recording_duration: record.recording_seconds,
        voicemail_url: record
            .voicemail_sid
            .as_ref()
            .filter(|_| record.media_erased_at.is_none())
            .map(|_| format!("/api/twilio/voicemail/{call_sid}")),
        voicemail_sid: record.voicemail_sid,
        voicemail_duration: record.voicemail_seconds,
        caller_name: record.caller_name,
        caller_city: record.caller_city,
        caller_state: record.caller_state,
        caller_zip: record.caller_zip,
        caller_country: record.caller_country,
        price: record.price,
        price_unit: record.price_unit,
        quality_metrics: quality.and_then(|q| serde_json::from_str(&q).ok()),
        transcript_sid: record.transcript_sid,
        transcript_text: record.transcript_text,
        summary_ready: record.summary_text.is_some(),
        summary_text: record.summary_text,
        appointment_booked: record.appointment_booked.map(|v| v != 0),
        call_reason: record.call_reason,
        transcript_source: record.transcript_source,
        classification_source: record.classification_source,
        classification_evidence: record
            .classification_evidence
            .and_then(|e| serde_json::from_str(&e).ok())
            .unwrap_or_default(),
        classifier_version: record.classifier_version,
        corrected_by: record.corrected_by,
        corrected_at: record.corrected_at.map(rfc3339),
        classified_hash: record.classified_hash,
        contact_id: r.try_get("contact_id")?,
        user_id: record.user_id,
        conversation: super::fold::turns(record.conversation.as_deref()),
        ai_outcome: record.ai_outcome,
        media_erased_at: record.media_erased_at.map(rfc3339),
        call_sid,
    })
}

/// Filters of the call-log list and stats.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct CallFilter {
    /// Page size (1–200, default 50).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
    /// RFC 3339 time or `YYYY-MM-DD` (start of that UTC day).
    pub start_date: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD` (end of that UTC day).
    pub end_date: Option<String>,
    /// `inbound` or `outbound` (every outbound kind).
    pub direction: Option<String>,
    /// `answered`, `missed` (every unanswered call), `voicemail`, or a dial status.
    pub status: Option<String>,
    /// A tracking number, any spelling.
    pub tracking_number: Option<String>,
    /// Search in caller number and name.
    pub q: Option<String>,
    /// Admins only: one tenant.
    pub customer_id: Option<String>,
    /// `true`, `false` or `unknown` (not analysed).
    pub appointment_booked: Option<String>,
    /// One of the call reasons.
    pub call_reason: Option<String>,
}

pub use crate::tenants::TenantScope as Scope;

/// A bound: an RFC 3339 time, or a date meaning the tenant's local day.
pub(super) fn parse_bound(s: &str, end: bool, tz: &jiff::tz::TimeZone) -> Option<i64> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let date: jiff::civil::Date = s.parse().ok()?;
    let day = if end { date.tomorrow().ok()? } else { date };
    let start = day.to_zoned(tz.clone()).ok()?.timestamp().as_millisecond();
    Some(if end { start - 1 } else { start })
}

/// A WHERE clause with its bound values, built once for list, count and stats.
struct Where {
    sql: String,
    texts: Vec<String>,
    ints: Vec<i64>,
}

fn build_where(
    backend: Backend,
    scope: &Scope,
    f: &CallFilter,
    tz: &jiff::tz::TimeZone,
) -> AppResult<Where> {
    let mut clauses: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut ints: Vec<i64> = Vec::new();
    // Texts bind first as $1..$n, ints after; positions are fixed up below.
    let mut push_text = |clauses: &mut Vec<String>, sql: &str, v: String| {
        texts.push(v);
        clauses.push(sql.replace('?', &format!("$T{}", texts.len())));
    };
    if let Scope::One(t) = scope {
        push_text(&mut clauses, "tenant_id = ?", t.to_string());
    }
    let mut errors = crate::error::FieldErrors::new();
    if let Some(s) = f.start_date.as_deref().filter(|s| !s.is_empty()) {
        match parse_bound(s, false, tz) {
            Some(ms) => {
                ints.push(ms);
                clauses.push(format!("started_at >= $I{}", ints.len()));
            }
            None => {
                errors.insert(
                    "startDate".into(),
                    "must be a date (YYYY-MM-DD) or an RFC 3339 time".into(),
                );
            }
        }
    }
    if let Some(s) = f.end_date.as_deref().filter(|s| !s.is_empty()) {
        match parse_bound(s, true, tz) {
            Some(ms) => {
                ints.push(ms);
                clauses.push(format!("started_at <= $I{}", ints.len()));
            }
            None => {
                errors.insert(
                    "endDate".into(),
                    "must be a date (YYYY-MM-DD) or an RFC 3339 time".into(),
                );
            }
        }
    }
    match f.direction.as_deref().filter(|s| !s.is_empty()) {
        None => {}
        Some("inbound") => clauses.push("direction = 'inbound'".into()),
        Some("outbound") => clauses.push("direction LIKE 'outbound%'".into()),
        Some(_) => {
            errors.insert("direction".into(), "must be inbound or outbound".into());
        }
    }
    match f.status.as_deref().filter(|s| !s.is_empty()) {
        None => {}
        Some("answered") => clauses.push("outcome = 'answered'".into()),
        Some("voicemail") => clauses.push("outcome = 'voicemail'".into()),
        Some("missed") => clauses.push("outcome IN ('missed', 'voicemail')".into()),
        Some(s @ ("ai-resolved" | "ai-booked")) => {
            push_text(&mut clauses, "outcome = ?", s.to_owned())
        }
        Some("ai-handoff") => clauses.push("ai_outcome = 'ai-handoff'".into()),
        Some(s @ ("no-answer" | "busy" | "failed" | "canceled")) => {
            push_text(&mut clauses, "dial_status = ?", s.to_owned())
        }
        Some(_) => {
            errors.insert(
                "status".into(),
                "must be answered, missed, voicemail, ai-resolved, ai-booked, ai-handoff, no-answer, busy, failed or canceled".into(),
            );
        }
    }
    if let Some(n) = f.tracking_number.as_deref().filter(|s| !s.is_empty()) {
        match crate::numbers::E164::parse(n) {
            Some(n) => push_text(&mut clauses, "twilio_number = ?", n.as_str().to_owned()),
            None => {
                errors.insert(
                    "trackingNumber".into(),
                    "is not a valid phone number".into(),
                );
            }
        }
    }
    match f.appointment_booked.as_deref().filter(|s| !s.is_empty()) {
        None => {}
        Some("true") => clauses.push("appointment_booked = 1".into()),
        Some("false") => clauses.push("appointment_booked = 0".into()),
        Some("unknown") => clauses.push("appointment_booked IS NULL".into()),
        Some(_) => {
            errors.insert(
                "appointmentBooked".into(),
                "must be true, false or unknown".into(),
            );
        }
    }
    if let Some(reason) = f.call_reason.as_deref().filter(|s| !s.is_empty()) {
        if crate::intelligence::CALL_REASONS.contains(&reason) {
            push_text(&mut clauses, "call_reason = ?", reason.to_owned());
        } else {
            errors.insert(
                "callReason".into(),
                format!(
                    "must be one of {}",
                    crate::intelligence::CALL_REASONS.join(", ")
                ),
            );
        }
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        if q.chars().count() > 64 {
            errors.insert("q".into(), "must be at most 64 characters".into());
        } else {
            let escaped = q
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
                .to_lowercase();
            let digits: String = q.chars().filter(char::is_ascii_digit).collect();
            texts.push(format!("%{escaped}%"));
            let name_idx = texts.len();
            let number_idx = if digits.len() >= 3 {
                texts.push(format!("%{digits}%"));
                texts.len()
            } else {
                name_idx
            };
            // LOWER: what PostgreSQL's trigram index (migration 0021) is built on.
            // `table`: the columns' qualifier, with its dot, or none.
            let like_on = |table: &str| {
                format!(
                    "(LOWER({table}caller_name) LIKE $T{name_idx} ESCAPE '\\' OR LOWER({table}from_number) LIKE $T{number_idx} ESCAPE '\\')"
                )
            };
            if backend == Backend::Sqlite && q.chars().count() >= 3 {
                // The trigram index (migration 0021) finds the same substrings as the
                // LIKEs, case-insensitively; it needs three characters or more. Calls
                // not yet in it (migration 0022) are checked with the LIKEs.
                let phrase = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
                let expr = if digits.len() >= 3 {
                    format!(
                        "caller_name : {} OR from_number : {}",
                        phrase(q),
                        phrase(&digits)
                    )
                } else {
                    format!("{{caller_name from_number}} : {}", phrase(q))
                };
                texts.push(expr);
                // `CROSS JOIN`: the few noted rows outside, each call by its row id
                // (a plain join lets the planner walk every call instead).
                let pending_like = like_on("noted.");
                clauses.push(format!(
                    "calls.rowid IN (SELECT rowid FROM calls_search WHERE calls_search MATCH $T{} \
                     UNION ALL SELECT noted.rowid FROM calls_search_pending p CROSS JOIN calls noted ON noted.rowid = p.call_rowid WHERE {pending_like})",
                    texts.len()
                ));
            } else {
                clauses.push(like_on(""));
            }
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let mut sql = if clauses.is_empty() {
        "1 = 1".to_owned()
    } else {
        clauses.join(" AND ")
    };
    // Number the placeholders: texts first, then ints (highest index first so $T1 does
    // not clobber $T10).
    let n_texts = texts.len();
    for i in (1..=ints.len()).rev() {
        sql = sql.replace(&format!("$I{i}"), &format!("${}", n_texts + i));
    }
    for i in (1..=n_texts).rev() {
        sql = sql.replace(&format!("$T{i}"), &format!("${i}"));
    }
    Ok(Where { sql, texts, ints })
}

fn bind_where<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    w: &'q Where,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for t in &w.texts {
        q = q.bind(t.as_str());
    }
    for i in &w.ints {
        q = q.bind(*i);
    }
    q
}

/// The maximum page size.
pub const MAX_LIMIT: i64 = 200;

/// A page of calls, newest first, and the total matching.
pub async fn list(
    db: &Db,
    scope: &Scope,
    f: &CallFilter,
    tz: &jiff::tz::TimeZone,
) -> AppResult<(Vec<CallLog>, i64, i64, i64)> {
    let limit = f.limit.unwrap_or(50);
    let offset = f.offset.unwrap_or(0);
    let mut errors = crate::error::FieldErrors::new();
    if !(1..=MAX_LIMIT).contains(&limit) {
        errors.insert("limit".into(), format!("must be from 1 to {MAX_LIMIT}"));
    }
    if offset < 0 {
        errors.insert("offset".into(), "must not be negative".into());
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let w = build_where(db.backend(), scope, f, tz)?;
    let n = w.texts.len() + w.ints.len();
    let sql = format!(
        "SELECT {} FROM calls WHERE {} ORDER BY started_at DESC, call_sid DESC LIMIT ${} OFFSET ${}",
        row::SELECT_COLUMNS.as_str(),
        w.sql,
        n + 1,
        n + 2
    );
    let rows = bind_where(sqlx::query(&sql), &w)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    let logs = rows
        .iter()
        .map(log_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    // Totals come from the rollups when the filter allows; a scan otherwise.
    let total: i64 = match (scope, rollups::rollup_filter(f)) {
        (Scope::One(t), Some(rf)) => rollups::total(db, t, &rf).await?,
        _ => {
            let count_sql = format!("SELECT COUNT(*) AS n FROM calls WHERE {}", w.sql);
            bind_where(sqlx::query(&count_sql), &w)
                .fetch_one(db.pool())
                .await?
                .try_get("n")?
        }
    };
    Ok((logs, total, limit, offset))
}

/// One call of a scope, or `NotFound`.
pub async fn get(db: &Db, scope: &Scope, call_sid: &str) -> AppResult<CallLog> {
    let row = match scope {
        Scope::One(t) => {
            sqlx::query(&format!(
                "SELECT {} FROM calls WHERE call_sid = $1 AND tenant_id = $2",
                row::SELECT_COLUMNS.as_str()
            ))
            .bind(call_sid)
            .bind(t.as_str())
            .fetch_optional(db.pool())
            .await?
        }
        Scope::All => {
            sqlx::query(&format!(
                "SELECT {} FROM calls WHERE call_sid = $1",
                row::SELECT_COLUMNS.as_str()
            ))
            .bind(call_sid)
            .fetch_optional(db.pool())
            .await?
        }
    };
    Ok(log_from_row(&row.ok_or(AppError::NotFound)?)?)
}

/// One entry of a call's timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// Event kind.
    pub kind: String,
    /// When it happened (Twilio's time when sent).
    pub at: String,
    /// The call status or outcome it reported, when any.
    pub status: Option<String>,
    /// Parameters, minus ones that identify the account.
    pub params: std::collections::BTreeMap<String, String>,
}

/// The tenant's stored events of a call, of one kind or all.
async fn stored_events(
    db: &Db,
    tenant_id: &str,
    call_sid: &str,
    kind: Option<super::EventKind>,
) -> AppResult<Vec<super::Event>> {
    let rows = sqlx::query(
        "SELECT kind, payload, received_at FROM call_events
         WHERE call_sid = $1 AND tenant_id = $2 AND ($3 = '' OR kind = $3)",
    )
    .bind(call_sid)
    .bind(tenant_id)
    .bind(kind.map_or("", super::EventKind::as_str))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(event_from_row).collect()
}

/// The tenant's stored events of one kind for a call, in canonical order.
pub async fn events_of(
    db: &Db,
    tenant_id: &str,
    call_sid: &str,
    kind: super::EventKind,
) -> AppResult<Vec<super::Event>> {
    let mut events = stored_events(db, tenant_id, call_sid, Some(kind)).await?;
    events.sort();
    Ok(events)
}

/// The events of a call, in the order they happened.
pub async fn timeline(db: &Db, tenant_id: &str, call_sid: &str) -> AppResult<Vec<TimelineEntry>> {
    let mut events = stored_events(db, tenant_id, call_sid, None).await?;
    events.sort_by_key(|e| (e.time(), e.kind));
    Ok(events
        .into_iter()
        .map(|e| TimelineEntry {
            kind: e.kind.as_str().to_owned(),
            at: rfc3339(e.time()),
            status: e
                .get("CallStatus")
                .or_else(|| e.get("DialCallStatus"))
                .or_else(|| e.get("RecordingStatus"))
                .or_else(|| e.get("TranscriptionEvent"))
                .map(str::to_owned),
            params: e
                .params
                .iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "AccountSid" | "ApiVersion" | "RecordingUrl")
                })
                .cloned()
                .collect(),
        })
        .collect())
}

/// Figures over the calls a filter matches.
#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Stats {
    pub total: i64,
    pub answered: i64,
    /// Every call not answered.
    pub missed: i64,
    /// The missed calls that left a voicemail.
    pub voicemails: i64,
    /// Calls staff placed (answered, missed and voicemails count inbound calls only).
    pub outbound: i64,
    /// Mean talk seconds of answered calls.
    pub avg_duration: f64,
    pub appointments_booked: i64,
    pub by_menu_choice: MenuCounts,
    pub by_day: Vec<DayStats>,
    pub by_number: Vec<NumberStats>,
    /// Talk seconds of the answered inbound calls (what `avg_duration` averages), so
    /// that parts of a range can be added up.
    #[serde(skip)]
    pub(super) talk_seconds: i64,
}

#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
#[allow(missing_docs)]
pub struct MenuCounts {
    pub new: i64,
    pub existing: i64,
    pub none: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[allow(missing_docs)]
pub struct DayStats {
    /// `YYYY-MM-DD` in the tenant's time zone.
    pub date: String,
    pub total: i64,
    pub answered: i64,
    pub missed: i64,
    pub voicemails: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct NumberStats {
    pub twilio_phone_number: String,
    pub friendly_name: Option<String>,
    pub total: i64,
    pub answered: i64,
}

impl Stats {
    /// The headline figures from an aggregate row with the columns total, answered,
    /// missed, voicemails, talk, booked, menu_new and menu_existing.
    pub(super) fn from_totals(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        let (total, answered): (i64, i64) = (row.try_get("total")?, row.try_get("answered")?);
        let talk: i64 = row.try_get("talk")?;
        let (new, existing): (i64, i64) = (row.try_get("menu_new")?, row.try_get("menu_existing")?);
        let outbound: i64 = row.try_get("outbound")?;
        Ok(Self {
            total,
            answered,
            missed: row.try_get("missed")?,
            voicemails: row.try_get("voicemails")?,
            outbound,
            avg_duration: if answered > 0 {
                (talk as f64 / answered as f64 * 10.0).round() / 10.0
            } else {
                0.0
            },
            appointments_booked: row.try_get("booked")?,
            by_menu_choice: MenuCounts {
                new,
                existing,
                none: total - outbound - new - existing,
            },
            by_day: Vec::new(),
            by_number: Vec::new(),
            talk_seconds: talk,
        })
    }

    /// Adds the figures of a disjoint part of the range (days and numbers merged).
    pub(super) fn add(&mut self, other: Stats) {
        self.total += other.total;
        self.answered += other.answered;
        self.missed += other.missed;
        self.voicemails += other.voicemails;
        self.outbound += other.outbound;
        self.appointments_booked += other.appointments_booked;
        self.talk_seconds += other.talk_seconds;
        self.avg_duration = if self.answered > 0 {
            (self.talk_seconds as f64 / self.answered as f64 * 10.0).round() / 10.0
        } else {
            0.0
        };
        self.by_menu_choice.new += other.by_menu_choice.new;
        self.by_menu_choice.existing += other.by_menu_choice.existing;
        self.by_menu_choice.none += other.by_menu_choice.none;
        for day in other.by_day {
            match self.by_day.iter_mut().find(|d| d.date == day.date) {
                Some(d) => {
                    d.total += day.total;
                    d.answered += day.answered;
                    d.missed += day.missed;
                    d.voicemails += day.voicemails;
                }
                None => self.by_day.push(day),
            }
        }
        self.by_day.sort_by(|a, b| a.date.cmp(&b.date));
        for number in other.by_number {
            match self
                .by_number
                .iter_mut()
                .find(|n| n.twilio_phone_number == number.twilio_phone_number)
            {
                Some(n) => {
                    n.total += number.total;
                    n.answered += number.answered;
                }
                None => self.by_number.push(number),
            }
        }
        self.by_number.sort_by_key(|n| std::cmp::Reverse(n.total));
    }
}

impl DayStats {
    /// One day from a row with the columns day, total, answered, missed and voicemails.
    pub(super) fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        let day: i64 = r.try_get("day")?;
        Ok(Self {
            date: rfc3339(day * 86_400_000)
                .get(..10)
                .unwrap_or_default()
                .to_owned(),
            total: r.try_get("total")?,
            answered: r.try_get("answered")?,
            missed: r.try_get("missed")?,
            voicemails: r.try_get("voicemails")?,
        })
    }
}

impl NumberStats {
    /// One tracking number from a row with the columns twilio_number, total and answered.
    pub(super) fn from_row(
        r: &sqlx::any::AnyRow,
        friendly: &[(String, Option<String>)],
    ) -> Result<Self, sqlx::Error> {
        let number: String = r.try_get("twilio_number")?;
        Ok(Self {
            friendly_name: friendly
                .iter()
                .find(|(n, _)| *n == number)
                .and_then(|(_, f)| f.clone()),
            twilio_phone_number: number,
            total: r.try_get("total")?,
            answered: r.try_get("answered")?,
        })
    }
}

/// Answered, missed and voicemails are the inbound calls' (an outbound call nobody picked
/// up was not missed by the business); `outbound` counts the calls staff placed.
const AGGREGATES: &str = "COUNT(*) AS total,
    COALESCE(SUM(CASE WHEN outcome = 'answered' AND COALESCE(direction, '') NOT LIKE 'outbound%' THEN 1 ELSE 0 END), 0) AS answered,
    COALESCE(SUM(CASE WHEN outcome IN ('missed', 'voicemail') AND COALESCE(direction, '') NOT LIKE 'outbound%' THEN 1 ELSE 0 END), 0) AS missed,
    COALESCE(SUM(CASE WHEN outcome = 'voicemail' AND COALESCE(direction, '') NOT LIKE 'outbound%' THEN 1 ELSE 0 END), 0) AS voicemails,
    COALESCE(SUM(CASE WHEN COALESCE(direction, '') LIKE 'outbound%' THEN 1 ELSE 0 END), 0) AS outbound";

/// Stats over a filter. Days are cut at the tenant's local midnight (the zone's offset
/// now; a DST change inside the range shifts that day's edge by an hour).
pub async fn stats(
    db: &Db,
    scope: &Scope,
    f: &CallFilter,
    tz: &jiff::tz::TimeZone,
    friendly: &[(String, Option<String>)],
) -> AppResult<Stats> {
    if let (Scope::One(t), Some(rf)) = (scope, rollups::rollup_filter(f)) {
        return rollups::stats(db, t, &rf, friendly).await;
    }
    // Exact times: the whole days inside from rollups, the partial edge days scanned.
    if let (Scope::One(t), Some(split)) = (scope, rollups::exact_split(f, tz)) {
        let mut s = rollups::stats(db, t, &split.days, friendly).await?;
        for (from, to, day) in split.edges {
            let edge = CallFilter {
                start_date: Some(rfc3339(from)),
                end_date: Some(rfc3339(to)),
                ..f.clone()
            };
            let mut e = scan_stats(db, scope, &edge, tz, friendly).await?;
            // The edge lies inside one local day: count it there, whatever the offset
            // the scan's day grouping assumed.
            e.by_day = (e.total > 0)
                .then(|| DayStats {
                    date: rfc3339(day * 86_400_000)
                        .get(..10)
                        .unwrap_or_default()
                        .to_owned(),
                    total: e.total,
                    answered: e.answered,
                    missed: e.missed,
                    voicemails: e.voicemails,
                })
                .into_iter()
                .collect();
            s.add(e);
        }
        return Ok(s);
    }
    scan_stats(db, scope, f, tz, friendly).await
}

/// Stats by scanning the matching calls.
async fn scan_stats(
    db: &Db,
    scope: &Scope,
    f: &CallFilter,
    tz: &jiff::tz::TimeZone,
    friendly: &[(String, Option<String>)],
) -> AppResult<Stats> {
    let utc_offset_ms = i64::from(tz.to_offset(jiff::Timestamp::now()).seconds()) * 1000;
    let w = build_where(db.backend(), scope, f, tz)?;
    let n = w.texts.len() + w.ints.len();
    let sql = format!(
        "SELECT {AGGREGATES},
            -- SUM of a BIGINT is NUMERIC on PostgreSQL, which sqlx's Any cannot decode.
            CAST(COALESCE(SUM(CASE WHEN outcome = 'answered' AND COALESCE(direction, '') NOT LIKE 'outbound%' THEN talk_seconds ELSE 0 END), 0) AS BIGINT) AS talk,
            COALESCE(SUM(CASE WHEN appointment_booked = 1 THEN 1 ELSE 0 END), 0) AS booked,
            COALESCE(SUM(CASE WHEN menu_choice = '1' THEN 1 ELSE 0 END), 0) AS menu_new,
            COALESCE(SUM(CASE WHEN menu_choice = '2' THEN 1 ELSE 0 END), 0) AS menu_existing
         FROM calls WHERE {}",
        w.sql
    );
    let row = bind_where(sqlx::query(&sql), &w)
        .fetch_one(db.pool())
        .await?;
    let mut s = Stats::from_totals(&row)?;

    let day_sql = format!(
        "SELECT (started_at + ${}) / 86400000 AS day, {AGGREGATES} FROM calls WHERE {} GROUP BY (started_at + ${}) / 86400000 ORDER BY day",
        n + 1,
        w.sql,
        n + 1
    );
    for r in bind_where(sqlx::query(&day_sql), &w)
        .bind(utc_offset_ms)
        .fetch_all(db.pool())
        .await?
    {
        s.by_day.push(DayStats::from_row(&r)?);
    }
    let number_sql = format!(
        "SELECT twilio_number, {AGGREGATES} FROM calls WHERE {} AND twilio_number IS NOT NULL GROUP BY twilio_number ORDER BY total DESC",
        w.sql
    );
    for r in bind_where(sqlx::query(&number_sql), &w)
        .fetch_all(db.pool())
        .await?
    {
        s.by_number.push(NumberStats::from_row(&r, friendly)?);
    }
    Ok(s)
}

/// What the AI receptionist did with a tenant's calls in a time range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceptionistStats {
    /// Calls it answered to the end without a person.
    pub resolved: i64,
    /// Calls on which it took an appointment request.
    pub booked: i64,
    /// Calls it put through to a person (or to voicemail).
    pub handed_off: i64,
}

/// Counts the receptionist's calls started in `[from_ms, to_ms)` (a partial index holds
/// only the calls it answered).
pub async fn receptionist_stats(
    db: &Db,
    tenant_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> AppResult<ReceptionistStats> {
    let rows = sqlx::query(
        "SELECT ai_outcome, COUNT(*) AS n FROM calls
         WHERE tenant_id = $1 AND ai_outcome IS NOT NULL AND started_at >= $2 AND started_at < $3
         GROUP BY ai_outcome",
    )
    .bind(tenant_id)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(db.pool())
    .await?;
    let mut s = ReceptionistStats::default();
    for r in rows {
        let outcome: String = r.try_get("ai_outcome")?;
        let n: i64 = r.try_get("n")?;
        match outcome.as_str() {
            "ai-resolved" => s.resolved += n,
            "ai-booked" => s.booked += n,
            "ai-handoff" => s.handed_off += n,
            _ => {}
        }
    }
    Ok(s)
}

/// Deletes a tenant's calls and their events; returns how many calls.
pub async fn delete_for_tenant(db: &Db, tenant_id: &str) -> AppResult<u64> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM call_events WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM call_rollups WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    // Late callbacks for these calls must not bring them back.
    sqlx::query(
        "INSERT INTO deleted_calls (call_sid, tenant_id, deleted_at)
         SELECT call_sid, tenant_id, $2 FROM calls WHERE tenant_id = $1
         ON CONFLICT (call_sid) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query("DELETE FROM calls WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Deletes one of a tenant's calls with its events; its rollup contribution is
/// subtracted and a tombstone keeps late callbacks from bringing it back.
pub async fn delete_one(db: &Db, tenant_id: &str, call_sid: &str) -> AppResult<()> {
    let tz = rollups::tenant_zone(db, tenant_id).await?;
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(&format!(
        "SELECT {} FROM calls WHERE tenant_id = $1 AND call_sid = $2",
        rollups::ROW_COLUMNS
    ))
    .bind(tenant_id)
    .bind(call_sid)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let mut deltas = rollups::Deltas::default();
    deltas.add(rollups::from_row(&row, &tz)?, -1);
    deltas.apply(db, &mut tx).await?;
    sqlx::query("DELETE FROM call_events WHERE tenant_id = $1 AND call_sid = $2")
        .bind(tenant_id)
        .bind(call_sid)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO deleted_calls (call_sid, tenant_id, deleted_at) VALUES ($1, $2, $3)
         ON CONFLICT (call_sid) DO NOTHING",
    )
    .bind(call_sid)
    .bind(tenant_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM calls WHERE tenant_id = $1 AND call_sid = $2")
        .bind(tenant_id)
        .bind(call_sid)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Forgets deletions older than a week: Twilio does not call back that late.
pub async fn purge_deleted(db: &Db) -> AppResult<u64> {
    let done = sqlx::query("DELETE FROM deleted_calls WHERE deleted_at < $1")
        .bind(now_ms() - 7 * 86_400_000)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// Calls of a tenant that started after `since` (unix ms), optionally of one outcome.
pub async fn count_started_after(
    db: &Db,
    tenant_id: &str,
    since: i64,
    outcome: Option<&str>,
) -> AppResult<i64> {
    let row = match outcome {
        Some(o) => {
            sqlx::query("SELECT COUNT(*) AS n FROM calls WHERE tenant_id = $1 AND started_at > $2 AND outcome = $3")
                .bind(tenant_id)
                .bind(since)
                .bind(o)
                .fetch_one(db.pool())
                .await?
        }
        None => {
            sqlx::query("SELECT COUNT(*) AS n FROM calls WHERE tenant_id = $1 AND started_at > $2")
                .bind(tenant_id)
                .bind(since)
                .fetch_one(db.pool())
                .await?
        }
    };
    Ok(row.try_get("n")?)
}

/// Who owns a recording: (tenant, whether it is a voicemail) for the audio proxy.
pub async fn recording_owner(db: &Db, recording_sid: &str) -> AppResult<Option<String>> {
    let row = sqlx::query(
        "SELECT tenant_id FROM calls WHERE recording_sid = $1 OR voicemail_sid = $1 LIMIT 1",
    )
    .bind(recording_sid)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.try_get("tenant_id")).transpose()?)
}

/// A verified request for a number no tenant owns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnroutedCall {
    /// The call.
    pub call_sid: String,
    /// Event kind.
    pub kind: String,
    /// Caller as sent.
    pub from: Option<String>,
    /// The number called.
    pub to: Option<String>,
    /// The account Twilio named.
    pub account_sid: Option<String>,
    /// When.
    pub received_at: String,
    /// Set when the request was refused because the call belongs to another tenant:
    /// the tenant whose account signed it.
    pub claimed_by_tenant_id: Option<String>,
}

/// The newest unrouted requests.
pub async fn unrouted(db: &Db, limit: i64) -> AppResult<Vec<UnroutedCall>> {
    let rows = sqlx::query(
        "SELECT call_sid, kind, payload, received_at, claimed_tenant_id FROM call_events WHERE tenant_id IS NULL ORDER BY received_at DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let e = event_from_row(r)?;
            Ok(UnroutedCall {
                call_sid: r.try_get("call_sid")?,
                kind: e.kind.as_str().to_owned(),
                from: e.get("From").map(str::to_owned),
                to: e.get("To").map(str::to_owned),
                account_sid: e.get("AccountSid").map(str::to_owned),
                received_at: rfc3339(e.received_at),
                claimed_by_tenant_id: r.try_get("claimed_tenant_id")?,
            })
        })
        .collect()
}

/// One correction of a call's verdict, with the call as it is now.
#[derive(Debug, Clone)]
pub struct CorrectionEntry {
    /// The call.
    pub call: CallLog,
    /// The correction event's parameters (`AppointmentBooked`, `CallReason`,
    /// `CorrectedBy`, `CorrectedAt`, `Previous…`).
    pub params: Vec<(String, String)>,
}

/// Every correction in scope, oldest first (at most `limit`).
pub async fn corrections(db: &Db, scope: &Scope, limit: i64) -> AppResult<Vec<CorrectionEntry>> {
    let rows = match scope {
        Scope::One(t) => {
            sqlx::query(
                "SELECT call_sid, kind, payload, received_at FROM call_events
                 WHERE kind = 'correction' AND tenant_id = $1 ORDER BY id LIMIT $2",
            )
            .bind(t.as_str())
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
        Scope::All => {
            sqlx::query(
                "SELECT call_sid, kind, payload, received_at FROM call_events
                 WHERE kind = 'correction' AND tenant_id IS NOT NULL ORDER BY id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    let mut calls: std::collections::HashMap<String, Option<CallLog>> =
        std::collections::HashMap::new();
    for r in &rows {
        let sid: String = r.try_get("call_sid")?;
        let event = event_from_row(r)?;
        if !calls.contains_key(&sid) {
            let call = match get(db, scope, &sid).await {
                Ok(c) => Some(c),
                Err(AppError::NotFound) => None,
                Err(e) => return Err(e),
            };
            calls.insert(sid.clone(), call);
        }
        if let Some(Some(call)) = calls.get(&sid) {
            out.push(CorrectionEntry {
                call: call.clone(),
                params: event.params,
            });
        }
    }
    Ok(out)
}
