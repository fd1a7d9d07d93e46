//! A tenant's pages: dashboard, call logs (with export and delete) and settings.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

use super::forms::{Errors, FormData};
use super::{Chrome, PageResult, PageUser, WebError, chart, mmss};
use crate::calls::{self, CallFilter, CallLog, DayStats, Scope, Stats};
use crate::error::AppError;
use crate::numbers::PhoneNumber;
use crate::provisioning::CredentialsCheck;
use crate::state::AppState;
use crate::telephony::{self, BusinessHours, OpenInterval, TwilioConfigUpdate, TwilioConfigView};

pub(super) fn router() -> crate::routes::Routes {
    crate::routes::Routes::new()
        .route("/dashboard", get(dashboard))
        .route("/call-logs", get(call_logs))
        .route("/call-logs/export.csv", get(export_csv))
        .route(
            "/call-logs/{call_sid}/delete",
            get(confirm_delete).post(delete),
        )
        .route("/settings", get(settings).post(save_settings))
        .route(
            "/settings/test-credentials",
            axum::routing::post(test_credentials),
        )
        .route("/messages", get(messages))
        .route("/contacts", get(contacts).post(add_contact))
        .route("/contacts/{id}", get(contact_page).post(save_contact))
        .route("/contacts/{id}/delete", axum::routing::post(delete_contact))
        .route("/no-access", get(no_access))
}

/// A call as a row of the portal.
pub(super) struct CallRow {
    pub call_sid: String,
    pub when: String,
    pub caller: String,
    /// The caller is one of the tenant's contacts (and `caller` is their name).
    pub is_contact: bool,
    pub from: String,
    pub location: String,
    pub number_label: String,
    pub menu: String,
    pub outcome: String,
    pub outcome_label: &'static str,
    pub talk: String,
    pub appointment: Option<bool>,
    pub reason: String,
    pub recording_url: Option<String>,
    pub voicemail_url: Option<String>,
    pub summary: Option<String>,
    pub transcript: Option<String>,
}

fn local_time(rfc3339: &str, tz: &jiff::tz::TimeZone) -> String {
    rfc3339
        .parse::<jiff::Timestamp>()
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%b %-d, %-I:%M %p")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_owned())
}

fn number_label(number: Option<&str>, numbers: &[PhoneNumber]) -> String {
    let Some(number) = number else {
        return "—".into();
    };
    numbers
        .iter()
        .find(|n| n.phone_number == number)
        .and_then(|n| n.friendly_name.clone())
        .unwrap_or_else(|| number.to_owned())
}

impl CallRow {
    pub(super) fn new(
        c: CallLog,
        tz: &jiff::tz::TimeZone,
        numbers: &[PhoneNumber],
        contacts: &std::collections::HashMap<String, String>,
    ) -> Self {
        let contact = c.from.as_ref().and_then(|f| contacts.get(f)).cloned();
        let outcome_label = match c.outcome.as_str() {
            "answered" => "Answered",
            "voicemail" => "Voicemail",
            "missed" => "Missed",
            _ => "In progress",
        };
        // Caller id sends "CHICAGO" and "IL": the city reads better in title case, the
        // state stays an abbreviation.
        let location = [
            c.caller_city.as_deref().map(title_case),
            c.caller_state.as_deref().map(str::to_uppercase),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
        Self {
            when: local_time(&c.started_at, tz),
            is_contact: contact.is_some(),
            caller: contact
                .or_else(|| c.caller_name.as_deref().map(title_case))
                .unwrap_or_else(|| "Unknown caller".into()),
            from: c.from.clone().unwrap_or_default(),
            location,
            number_label: number_label(c.twilio_phone_number.as_deref(), numbers),
            menu: match c.menu_choice.as_deref() {
                Some("1" | "new") => "New patient".into(),
                Some("2" | "existing") => "Existing".into(),
                Some(other) => other.to_owned(),
                None => "—".into(),
            },
            outcome: c.outcome.clone(),
            outcome_label,
            talk: if c.outcome == "answered" {
                mmss(c.duration)
            } else {
                "—".into()
            },
            appointment: c.appointment_booked,
            reason: c
                .call_reason
                .as_deref()
                .map(|r| title_case(&r.replace('_', " ")))
                .unwrap_or_default(),
            recording_url: c.recording_url,
            voicemail_url: c.voicemail_url,
            summary: c.summary_text,
            transcript: c.transcript_text,
            call_sid: c.call_sid,
        }
    }
}

/// The tenant's contacts among the callers of `logs`: number → name.
async fn contact_names(
    state: &AppState,
    tenant: &str,
    logs: &[CallLog],
) -> Result<std::collections::HashMap<String, String>, AppError> {
    let callers: Vec<String> = logs.iter().filter_map(|c| c.from.clone()).collect();
    crate::contacts::names(&state.db, tenant, &callers).await
}

/// "JANE DOE" → "Jane Doe" (caller-id names arrive in capitals).
fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

// ----- dashboard -----

struct Figures {
    label: &'static str,
    stats: Stats,
}

impl Figures {
    /// Average talk time as `m:ss`.
    fn avg_talk(&self) -> String {
        mmss(self.stats.avg_duration.round() as i64)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    unread_calls: i64,
    unread_voicemails: i64,
    unread_messages: i64,
    show_calls: bool,
    show_messages: bool,
    figures: Vec<Figures>,
    chart: String,
    booked_30: i64,
    recent: Vec<CallRow>,
    numbers: Vec<PhoneNumber>,
}

fn days_ago(today: jiff::civil::Date, n: i64) -> jiff::civil::Date {
    today
        .checked_sub(jiff::Span::new().days(n))
        .unwrap_or(today)
}

/// One entry per day from `first` to `last`, zeros where nothing happened.
fn fill_days(
    by_day: &[DayStats],
    first: jiff::civil::Date,
    last: jiff::civil::Date,
) -> Vec<DayStats> {
    let mut out = Vec::new();
    let mut d = first;
    while d <= last {
        let date = d.to_string();
        out.push(
            by_day
                .iter()
                .find(|s| s.date == date)
                .cloned()
                .unwrap_or(DayStats {
                    date,
                    total: 0,
                    answered: 0,
                    missed: 0,
                    voicemails: 0,
                }),
        );
        match d.tomorrow() {
            Ok(next) => d = next,
            Err(_) => break,
        }
    }
    out
}

async fn dashboard(State(state): State<AppState>, user: PageUser) -> PageResult {
    let tenant = user.tenant_for(&state, "dashboard").await?;
    let chrome = Chrome::for_user(&state, &user, "Dashboard", "/dashboard").await?;
    let tz = calls::rollups::tenant_zone(&state.db, &tenant).await?;
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let numbers = crate::numbers::list_for_tenant(&state.db, &tenant).await?;
    let names: Vec<(String, Option<String>)> = numbers
        .iter()
        .map(|n| (n.phone_number.clone(), n.friendly_name.clone()))
        .collect();
    let scope = Scope::One(tenant.clone());
    let mut figures = Vec::new();
    for (label, days) in [("Today", 1), ("Last 7 days", 7), ("Last 30 days", 30)] {
        let filter = CallFilter {
            start_date: Some(days_ago(today, days - 1).to_string()),
            ..CallFilter::default()
        };
        let stats = calls::stats(&state.db, &scope, &filter, &tz, &names).await?;
        figures.push(Figures { label, stats });
    }
    let month = &figures[2].stats;
    let chart = chart::calls_per_day(&fill_days(&month.by_day, days_ago(today, 29), today));
    let booked_30 = month.appointments_booked;

    let u = &user.0.user;
    let counts = chrome.unread.clone();
    let show_calls = u.may_open("call-logs");
    let recent = if show_calls {
        let filter = CallFilter {
            limit: Some(5),
            ..CallFilter::default()
        };
        let (logs, ..) = calls::list(&state.db, &scope, &filter, &tz).await?;
        let contacts = contact_names(&state, &tenant, &logs).await?;
        logs.into_iter()
            .map(|c| CallRow::new(c, &tz, &numbers, &contacts))
            .collect()
    } else {
        Vec::new()
    };
    Ok(DashboardPage {
        chrome,
        unread_calls: if show_calls { counts.call_logs } else { 0 },
        unread_voicemails: if show_calls { counts.voicemails } else { 0 },
        unread_messages: if u.may_open("messages") {
            counts.messages
        } else {
            0
        },
        show_messages: u.may_open("messages"),
        show_calls,
        figures,
        chart,
        booked_30,
        recent,
        numbers,
    }
    .into_response())
}

// ----- call logs -----

const PAGE_SIZE: i64 = 25;

#[derive(Template, WebTemplate)]
#[template(path = "call_logs.html")]
struct CallLogsPage {
    chrome: Chrome,
    rows: Vec<CallRow>,
    numbers: Vec<PhoneNumber>,
    filter: FilterView,
    errors: Errors,
    total: i64,
    first: i64,
    last: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
    export_href: String,
    can_delete: bool,
    notice: Option<String>,
}

/// The filter as the form shows it.
#[derive(Default)]
struct FilterView {
    start_date: String,
    end_date: String,
    status: String,
    tracking_number: String,
    q: String,
}

impl FilterView {
    fn of(f: &CallFilter) -> Self {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        Self {
            start_date: s(&f.start_date),
            end_date: s(&f.end_date),
            status: s(&f.status),
            tracking_number: s(&f.tracking_number),
            q: s(&f.q),
        }
    }

    /// The filter as a query string (without paging).
    fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("startDate", &self.start_date),
            ("endDate", &self.end_date),
            ("status", &self.status),
            ("trackingNumber", &self.tracking_number),
            ("q", &self.q),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

fn with_offset(query: &str, offset: i64) -> String {
    match (query.is_empty(), offset) {
        (true, 0) => "/call-logs".into(),
        (true, o) => format!("/call-logs?offset={o}"),
        (false, 0) => format!("/call-logs?{query}"),
        (false, o) => format!("/call-logs?{query}&offset={o}"),
    }
}

#[derive(serde::Deserialize, Default)]
struct Notice {
    deleted: Option<String>,
}

/// The call-log filter of a tenant's page: `customerId` is an admin's, never read here.
fn own_filter(
    q: Result<Query<CallFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<CallFilter, AppError> {
    let mut filter = q
        .map(|Query(f)| f)
        .map_err(|e| AppError::BadRequest(e.body_text()))?;
    filter.customer_id = None;
    Ok(filter)
}

async fn call_logs(
    State(state): State<AppState>,
    user: PageUser,
    q: Result<Query<CallFilter>, axum::extract::rejection::QueryRejection>,
    notice: Result<Query<Notice>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "call-logs").await?;
    let mut filter = own_filter(q)?;
    filter.limit = Some(PAGE_SIZE);
    let offset = filter.offset.unwrap_or(0).max(0);
    filter.offset = Some(offset);
    // Opening the call log is reading it.
    let u = &user.0.user;
    crate::notifications::mark_read(&state.db, &u.id, "callLogs").await?;
    crate::notifications::mark_read(&state.db, &u.id, "voicemails").await?;
    let chrome = Chrome::for_user(&state, &user, "Call logs", "/call-logs").await?;

    let tz = calls::rollups::tenant_zone(&state.db, &tenant).await?;
    let numbers = crate::numbers::list_for_tenant(&state.db, &tenant).await?;
    let view = FilterView::of(&filter);
    let query = view.query();
    let scope = Scope::One(tenant.clone());
    let listed = match calls::list(&state.db, &scope, &filter, &tz).await {
        Ok((logs, total, ..)) => Ok((contact_names(&state, &tenant, &logs).await?, logs, total)),
        Err(e) => Err(e),
    };
    let (rows, total, errors, status) = match listed {
        Ok((contacts, logs, total)) => (
            logs.into_iter()
                .map(|c| CallRow::new(c, &tz, &numbers, &contacts))
                .collect::<Vec<_>>(),
            total,
            Errors::none(),
            StatusCode::OK,
        ),
        Err(e @ AppError::Validation(_)) => (
            Vec::new(),
            0,
            Errors::from_app(&e),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return Err(e.into()),
    };
    let shown = i64::try_from(rows.len()).unwrap_or(0);
    Ok((
        status,
        CallLogsPage {
            chrome,
            first: if shown == 0 { 0 } else { offset + 1 },
            last: offset + shown,
            prev_href: (offset > 0).then(|| with_offset(&query, (offset - PAGE_SIZE).max(0))),
            next_href: (offset + shown < total).then(|| with_offset(&query, offset + PAGE_SIZE)),
            export_href: if query.is_empty() {
                "/call-logs/export.csv".into()
            } else {
                format!("/call-logs/export.csv?{query}")
            },
            rows,
            numbers,
            filter: view,
            errors,
            total,
            can_delete: u.role == crate::users::Role::Customer,
            notice: notice
                .ok()
                .and_then(|Query(n)| n.deleted)
                .map(|_| "The call log was deleted.".to_owned()),
        },
    )
        .into_response())
}

/// A CSV cell: quoted when needed, and never read as a formula by a spreadsheet.
fn csv_cell(value: &str) -> String {
    let risky = value.starts_with(['=', '-', '@', '\t', '\r'])
        || (value.starts_with('+') && !value[1..].chars().all(|c| c.is_ascii_digit()));
    let value = if risky {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Rows an export may hold; a bigger one asks the user to narrow the filter.
const EXPORT_MAX: i64 = 50_000;

async fn export_csv(
    State(state): State<AppState>,
    user: PageUser,
    q: Result<Query<CallFilter>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "call-logs").await?;
    let mut filter = own_filter(q)?;
    let tz = calls::rollups::tenant_zone(&state.db, &tenant).await?;
    let numbers = crate::numbers::list_for_tenant(&state.db, &tenant).await?;
    let scope = Scope::One(tenant);
    let mut out = String::from(
        "Started,Caller,From,Tracking number,Number label,Menu choice,Outcome,Talk seconds,Appointment booked,Call reason,Summary,Call SID\r\n",
    );
    let mut offset = 0;
    loop {
        filter.limit = Some(calls::MAX_LIMIT);
        filter.offset = Some(offset);
        let (logs, total, ..) = calls::list(&state.db, &scope, &filter, &tz).await?;
        if total > EXPORT_MAX {
            return Err(AppError::BadRequest(format!(
                "{total} calls match; narrow the dates to export at most {EXPORT_MAX} at once"
            ))
            .into());
        }
        let n = i64::try_from(logs.len()).unwrap_or(0);
        for c in logs {
            let label = number_label(c.twilio_phone_number.as_deref(), &numbers);
            let cells = [
                c.started_at.clone(),
                c.caller_name.clone().unwrap_or_default(),
                c.from.clone().unwrap_or_default(),
                c.twilio_phone_number.clone().unwrap_or_default(),
                label,
                c.menu_choice.clone().unwrap_or_default(),
                c.outcome.clone(),
                c.duration.to_string(),
                match c.appointment_booked {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => String::new(),
                },
                c.call_reason.clone().unwrap_or_default(),
                c.summary_text.clone().unwrap_or_default(),
                c.call_sid.clone(),
            ];
            let line: Vec<String> = cells.iter().map(|v| csv_cell(v)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
        offset += n;
        if n == 0 || offset >= total {
            break;
        }
    }
    let name = format!(
        "call-logs-{}.csv",
        jiff::Timestamp::now().to_zoned(tz).date()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        out,
    )
        .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "confirm_delete.html")]
struct ConfirmDeletePage {
    chrome: Chrome,
    call: CallRow,
}

async fn confirm_delete(
    State(state): State<AppState>,
    user: PageUser,
    Path(call_sid): Path<String>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "call-logs").await?;
    let chrome = Chrome::for_user(&state, &user, "Delete call log", "/call-logs").await?;
    let tz = calls::rollups::tenant_zone(&state.db, &tenant).await?;
    let numbers = crate::numbers::list_for_tenant(&state.db, &tenant).await?;
    let call = calls::get(&state.db, &Scope::One(tenant.clone()), &call_sid).await?;
    Ok(ConfirmDeletePage {
        chrome,
        call: {
            let contacts = contact_names(&state, &tenant, std::slice::from_ref(&call)).await?;
            CallRow::new(call, &tz, &numbers, &contacts)
        },
    }
    .into_response())
}

async fn delete(
    State(state): State<AppState>,
    user: PageUser,
    Path(call_sid): Path<String>,
) -> PageResult {
    let tenant = user.0.owned_tenant(&state, "call-logs").await?;
    calls::delete_one(&state.db, &tenant, &call_sid).await?;
    tracing::info!(tenant = %tenant, by = %user.0.user.id, "call log deleted");
    Ok(Redirect::to("/call-logs?deleted=1").into_response())
}

// ----- messages -----

/// A text as a row of the portal.
struct MessageRow {
    when: String,
    inbound: bool,
    other_party: String,
    number_label: String,
    body: String,
    status: String,
    media: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "messages.html")]
struct MessagesPage {
    chrome: Chrome,
    rows: Vec<MessageRow>,
    total: i64,
    first: i64,
    last: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct Paging {
    offset: Option<i64>,
}

async fn messages(
    State(state): State<AppState>,
    user: PageUser,
    q: Result<Query<Paging>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "messages").await?;
    let offset = q
        .map_err(|e| AppError::BadRequest(e.body_text()))?
        .0
        .offset
        .unwrap_or(0)
        .max(0);
    crate::notifications::mark_read(&state.db, &user.0.user.id, "messages").await?;
    let chrome = Chrome::for_user(&state, &user, "Messages", "/messages").await?;
    let tz = calls::rollups::tenant_zone(&state.db, &tenant).await?;
    let numbers = crate::numbers::list_for_tenant(&state.db, &tenant).await?;
    let (texts, total) = crate::messaging::list(&state.db, &tenant, PAGE_SIZE, offset).await?;
    let rows: Vec<MessageRow> = texts
        .into_iter()
        .map(|m| {
            let inbound = m.direction == "inbound";
            let (other, ours) = if inbound {
                (m.from, m.to)
            } else {
                (m.to, m.from)
            };
            MessageRow {
                when: local_time(&crate::db::rfc3339(m.created_at), &tz),
                inbound,
                other_party: other,
                number_label: number_label(Some(&ours), &numbers),
                body: m.body,
                status: match m.error_code {
                    Some(code) => format!("{} (error {code})", m.status),
                    None => m.status,
                },
                media: m.num_media,
            }
        })
        .collect();
    let shown = i64::try_from(rows.len()).unwrap_or(0);
    Ok(MessagesPage {
        chrome,
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        prev_href: (offset > 0)
            .then(|| format!("/messages?offset={}", (offset - PAGE_SIZE).max(0))),
        next_href: (offset + shown < total)
            .then(|| format!("/messages?offset={}", offset + PAGE_SIZE)),
        rows,
        total,
    }
    .into_response())
}

// ----- contacts -----

#[derive(Template, WebTemplate)]
#[template(path = "contacts.html")]
struct ContactsPage {
    chrome: Chrome,
    contacts: Vec<crate::contacts::Contact>,
    q: String,
    form: ContactForm,
    errors: Errors,
    notice: Option<String>,
}

#[derive(Default)]
struct ContactForm {
    name: String,
    phone: String,
    email: String,
    notes: String,
}

#[derive(serde::Deserialize, Default)]
struct ContactQuery {
    q: Option<String>,
    added: Option<String>,
    saved: Option<String>,
    deleted: Option<String>,
}

async fn contacts_page(
    state: &AppState,
    user: &PageUser,
    tenant: &str,
    q: Option<String>,
    form: ContactForm,
    errors: Errors,
) -> Result<ContactsPage, WebError> {
    let q = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    Ok(ContactsPage {
        chrome: Chrome::for_user(state, user, "Contacts", "/contacts").await?,
        contacts: crate::contacts::list(&state.db, tenant, q.as_deref()).await?,
        q: q.unwrap_or_default(),
        form,
        errors,
        notice: None,
    })
}

async fn contacts(
    State(state): State<AppState>,
    user: PageUser,
    q: Result<Query<ContactQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    let Query(q) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let mut page = contacts_page(
        &state,
        &user,
        &tenant,
        q.q,
        ContactForm::default(),
        Errors::none(),
    )
    .await?;
    page.notice = if q.added.is_some() {
        Some("Contact added.".to_owned())
    } else if q.saved.is_some() {
        Some("Contact saved.".to_owned())
    } else {
        q.deleted.map(|_| "Contact deleted.".to_owned())
    };
    Ok(page.into_response())
}

async fn add_contact(State(state): State<AppState>, user: PageUser, form: FormData) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    let typed = ContactForm::typed(&form);
    let new = crate::contacts::NewContact {
        name: typed.name.clone(),
        phone: typed.phone.clone(),
        email: form.text("email"),
        notes: form.text("notes"),
        tenant_id: None,
    };
    match crate::contacts::create(&state.db, &tenant, new).await {
        Ok(_) => Ok(Redirect::to("/contacts?added=1").into_response()),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::Taken { .. })) => {
            let page =
                contacts_page(&state, &user, &tenant, None, typed, Errors::from_app(&e)).await?;
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "contact.html")]
struct ContactPage {
    chrome: Chrome,
    id: String,
    form: ContactForm,
    errors: Errors,
}

impl ContactForm {
    fn of(c: crate::contacts::Contact) -> Self {
        Self {
            name: c.name,
            phone: c.phone,
            email: c.email.unwrap_or_default(),
            notes: c.notes.unwrap_or_default(),
        }
    }

    fn typed(form: &FormData) -> Self {
        let field = |name: &str| form.get(name).unwrap_or_default().to_owned();
        Self {
            name: field("name"),
            phone: field("phone"),
            email: field("email"),
            notes: field("notes"),
        }
    }
}

async fn contact_page(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    let contact = crate::contacts::get(&state.db, &tenant, &id).await?;
    Ok(ContactPage {
        chrome: Chrome::for_user(&state, &user, &contact.name, "/contacts").await?,
        id,
        form: ContactForm::of(contact),
        errors: Errors::none(),
    }
    .into_response())
}

async fn save_contact(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    let change = crate::contacts::ContactUpdate {
        name: Some(form.get("name").unwrap_or_default().to_owned()),
        phone: Some(form.get("phone").unwrap_or_default().to_owned()),
        email: Some(form.text("email")),
        notes: Some(form.text("notes")),
    };
    match crate::contacts::update(&state.db, &tenant, &id, change).await {
        Ok(_) => Ok(Redirect::to("/contacts?saved=1").into_response()),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::Taken { .. })) => {
            let page = ContactPage {
                chrome: Chrome::for_user(&state, &user, "Contact", "/contacts").await?,
                id,
                form: ContactForm::typed(&form),
                errors: Errors::from_app(&e),
            };
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete_contact(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    crate::contacts::delete(&state.db, &tenant, &id).await?;
    Ok(Redirect::to("/contacts?deleted=1").into_response())
}

// ----- settings -----

const WEEKDAYS: &[(&str, &str)] = &[
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

/// One weekday's row of the hours form.
struct DayHours {
    key: &'static str,
    name: &'static str,
    open: String,
    close: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    config: TwilioConfigView,
    mode: String,
    hours_enabled: bool,
    days: Vec<DayHours>,
    after_hours_action: String,
    after_hours_message: String,
    errors: Errors,
    saved: bool,
    check: Option<CredentialsCheck>,
    can_edit: bool,
    other_errors: Vec<String>,
    voices: &'static [&'static str],
}

const SETTINGS_FIELDS: &[&str] = &[
    "callRoutingMode",
    "menuMessage",
    "forwardNumber",
    "forwardNumberNew",
    "forwardNumberExisting",
    "voice",
    "whisperMessage",
    "autoReplyMessage",
    "businessHours",
    "accountSid",
    "authToken",
    "apiKeySid",
    "apiKeySecret",
];

impl SettingsPage {
    fn new(chrome: Chrome, config: TwilioConfigView, can_edit: bool) -> Self {
        let hours = config.business_hours.clone();
        let days = WEEKDAYS
            .iter()
            .map(|(key, name)| {
                let first = hours
                    .as_ref()
                    .and_then(|h| h.days.get(*key))
                    .and_then(|v| v.first());
                DayHours {
                    key,
                    name,
                    open: first.map(|i| i.open.clone()).unwrap_or_default(),
                    close: first.map(|i| i.close.clone()).unwrap_or_default(),
                }
            })
            .collect();
        Self {
            chrome,
            mode: config
                .call_routing_mode
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            hours_enabled: hours.is_some(),
            after_hours_action: hours
                .as_ref()
                .map(|h| {
                    serde_json::to_value(h.after_hours_action)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .unwrap_or_else(|| "voicemail".into()),
            after_hours_message: hours
                .as_ref()
                .and_then(|h| h.after_hours_message.clone())
                .unwrap_or_default(),
            days,
            config,
            errors: Errors::none(),
            saved: false,
            check: None,
            can_edit,
            other_errors: Vec::new(),
            voices: crate::config::ALLOWED_VOICES,
        }
    }

    fn voice_is(&self, voice: &str) -> bool {
        self.config.voice.as_deref() == Some(voice)
    }

    /// The page for `tenant` as stored, editable for its owner.
    async fn load(state: &AppState, user: &PageUser, tenant: &str) -> Result<Self, WebError> {
        let chrome = Chrome::for_user(state, user, "Settings", "/settings").await?;
        let config = telephony::view(&state.db, tenant).await?;
        Ok(Self::new(chrome, config, settings_can_edit(user)))
    }

    /// Keeps what the user typed when the form comes back with errors.
    fn refill(&mut self, form: &FormData) {
        self.mode = form.get("callRoutingMode").unwrap_or_default().to_owned();
        let c = &mut self.config;
        c.menu_message = form.text("menuMessage");
        c.forward_number = form.text("forwardNumber");
        c.forward_number_new = form.text("forwardNumberNew");
        c.forward_number_existing = form.text("forwardNumberExisting");
        c.voice = form.text("voice");
        c.whisper_message = form.text("whisperMessage");
        c.auto_reply_message = form.text("autoReplyMessage");
        c.recording_enabled = Some(form.checked("recordingEnabled"));
        c.transcription_enabled = Some(form.checked("transcriptionEnabled"));
        self.hours_enabled = form.checked("hoursEnabled");
        for d in &mut self.days {
            d.open = form
                .get(&format!("open_{}", d.key))
                .unwrap_or_default()
                .to_owned();
            d.close = form
                .get(&format!("close_{}", d.key))
                .unwrap_or_default()
                .to_owned();
        }
        self.after_hours_action = form.get("afterHoursAction").unwrap_or_default().to_owned();
        self.after_hours_message = form.get("afterHoursMessage").unwrap_or_default().to_owned();
    }
}

fn settings_can_edit(user: &PageUser) -> bool {
    user.0.user.role == crate::users::Role::Customer
}

async fn settings(
    State(state): State<AppState>,
    user: PageUser,
    saved: Result<
        Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> PageResult {
    let tenant = user.tenant_for(&state, "settings").await?;
    let mut page = SettingsPage::load(&state, &user, &tenant).await?;
    page.saved = saved.is_ok_and(|Query(q)| q.contains_key("saved"));
    Ok(page.into_response())
}

/// The update a settings form asks for. Blank secret fields keep what is stored.
fn settings_update(form: &FormData) -> Result<TwilioConfigUpdate, AppError> {
    let text = |name: &str| Some(form.text(name));
    let mode = match form.get("callRoutingMode").unwrap_or_default() {
        "" => None,
        other => Some(
            telephony::RoutingMode::parse(other)
                .ok_or_else(|| AppError::field("callRoutingMode", "choose one of the options"))?,
        ),
    };
    let business_hours = if form.checked("hoursEnabled") {
        let mut days = std::collections::BTreeMap::new();
        for (key, _) in WEEKDAYS {
            let open = form.text(&format!("open_{key}"));
            let close = form.text(&format!("close_{key}"));
            let intervals = match (open, close) {
                (Some(open), Some(close)) => vec![OpenInterval { open, close }],
                (None, None) => Vec::new(),
                _ => {
                    return Err(AppError::field(
                        &format!("businessHours.days.{key}"),
                        "give both an opening and a closing time, or neither",
                    ));
                }
            };
            days.insert((*key).to_owned(), intervals);
        }
        let action = serde_json::from_value(serde_json::Value::String(
            form.get("afterHoursAction")
                .unwrap_or("voicemail")
                .to_owned(),
        ))
        .map_err(|_| {
            AppError::field(
                "businessHours.afterHoursAction",
                "choose one of the options",
            )
        })?;
        Some(BusinessHours {
            timezone: None,
            days,
            after_hours_action: action,
            after_hours_message: form.text("afterHoursMessage"),
        })
    } else {
        None
    };
    let mut update = TwilioConfigUpdate {
        call_routing_mode: Some(mode),
        menu_message: text("menuMessage"),
        forward_number: text("forwardNumber"),
        forward_number_new: text("forwardNumberNew"),
        forward_number_existing: text("forwardNumberExisting"),
        voice: text("voice"),
        recording_enabled: Some(Some(form.checked("recordingEnabled"))),
        transcription_enabled: Some(Some(form.checked("transcriptionEnabled"))),
        whisper_message: text("whisperMessage"),
        auto_reply_message: text("autoReplyMessage"),
        business_hours: Some(business_hours),
        ..TwilioConfigUpdate::default()
    };
    if form.checked("removeCredentials") {
        update.account_sid = Some(None);
        update.auth_token = Some(None);
        update.api_key_sid = Some(None);
        update.api_key_secret = Some(None);
    } else {
        // A blank field keeps the stored value: secrets are never sent back to the page.
        update.account_sid = form.text("accountSid").map(Some);
        update.auth_token = form.text("authToken").map(Some);
        update.api_key_sid = form.text("apiKeySid").map(Some);
        update.api_key_secret = form.text("apiKeySecret").map(Some);
    }
    Ok(update)
}

async fn save_settings(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, "settings").await?;
    user.0.tenant_scope(&state, &tenant, None).await?;
    let result = match settings_update(&form) {
        Ok(update) => telephony::update(&state.db, &state.secrets, &tenant, update).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            state.routing_cache.invalidate();
            tracing::info!(tenant = %tenant, by = %user.0.user.id, "settings saved in the portal");
            Ok(Redirect::to("/settings?saved=1").into_response())
        }
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::Taken { .. })) => {
            let mut page = SettingsPage::load(&state, &user, &tenant).await?;
            page.refill(&form);
            page.errors = Errors::from_app(&e);
            page.other_errors = page.errors.others(SETTINGS_FIELDS);
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn test_credentials(State(state): State<AppState>, user: PageUser) -> PageResult {
    let tenant = user.tenant_for(&state, "settings").await?;
    user.0.tenant_scope(&state, &tenant, None).await?;
    let check = crate::provisioning::test_credentials(&state, Some(&tenant)).await?;
    let mut page = SettingsPage::load(&state, &user, &tenant).await?;
    page.check = Some(check);
    Ok(page.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct NoAccessPage {
    chrome: Chrome,
    title: String,
    message: String,
}

async fn no_access(
    State(state): State<AppState>,
    user: PageUser,
) -> Result<NoAccessPage, WebError> {
    Ok(NoAccessPage {
        chrome: Chrome::for_user(&state, &user, "No pages yet", "").await?,
        title: "No pages yet".into(),
        message: "Your account has not been given any pages. Ask the account owner for access."
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("+15550001111"), "+15550001111");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+SUM(A1)"), "'+SUM(A1)");
        assert_eq!(csv_cell("@cmd"), "'@cmd");
    }

    #[test]
    fn caller_names_read_naturally() {
        assert_eq!(title_case("JANE DOE"), "Jane Doe");
        assert_eq!(title_case("AUSTIN"), "Austin");
    }

    #[test]
    fn days_are_filled_in() {
        let first: jiff::civil::Date = "2026-11-01".parse().expect("date");
        let last: jiff::civil::Date = "2026-11-03".parse().expect("date");
        let filled = fill_days(
            &[DayStats {
                date: "2026-11-02".into(),
                total: 4,
                answered: 3,
                missed: 1,
                voicemails: 1,
            }],
            first,
            last,
        );
        let totals: Vec<i64> = filled.iter().map(|d| d.total).collect();
        assert_eq!(totals, vec![0, 4, 0]);
    }
}
