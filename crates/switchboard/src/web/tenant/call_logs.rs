//! Call logs: filters, paging, recordings, CSV export, delete.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};

use crate::calls::{self, CallFilter, Scope};
use crate::error::AppError;
use crate::numbers::PhoneNumber;
use crate::state::AppState;
use crate::web::forms::Errors;
use crate::web::{Chrome, PageResult, PageUser};

use super::*;

pub(super) const PAGE_SIZE: i64 = 25;

#[derive(Template, WebTemplate)]
#[template(path = "call_logs.html")]
pub(super) struct CallLogsPage {
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
    /// The user may open the appointments page: calls offer "book from this call".
    can_book: bool,
    notice: Option<String>,
    reasons: Vec<(String, String)>,
}

/// The call reasons with their labels, for the filter and the correction form.
fn reason_options() -> Vec<(String, String)> {
    crate::intelligence::CALL_REASONS
        .iter()
        .map(|r| ((*r).to_owned(), title_case(&r.replace('_', " "))))
        .collect()
}

/// The filter as the form shows it.
#[derive(Default)]
pub(super) struct FilterView {
    start_date: String,
    end_date: String,
    status: String,
    tracking_number: String,
    q: String,
    booked: String,
    reason: String,
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
            booked: s(&f.appointment_booked),
            reason: s(&f.call_reason),
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
            ("appointmentBooked", &self.booked),
            ("callReason", &self.reason),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

pub(super) fn with_offset(query: &str, offset: i64) -> String {
    match (query.is_empty(), offset) {
        (true, 0) => "/call-logs".into(),
        (true, o) => format!("/call-logs?offset={o}"),
        (false, 0) => format!("/call-logs?{query}"),
        (false, o) => format!("/call-logs?{query}&offset={o}"),
    }
}

#[derive(serde::Deserialize, Default)]
pub(super) struct Notice {
    deleted: Option<String>,
    corrected: Option<String>,
}

/// The call-log filter of a tenant's page: `customerId` is an admin's, never read here.
pub(super) fn own_filter(
    q: Result<Query<CallFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<CallFilter, AppError> {
    let mut filter = q
        .map(|Query(f)| f)
        .map_err(|e| AppError::BadRequest(e.body_text()))?;
    filter.customer_id = None;
    Ok(filter)
}

pub(super) async fn call_logs(
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
        Ok((logs, total, ..)) => {
            let sids: Vec<String> = logs.iter().map(|c| c.call_sid.clone()).collect();
            let texted = crate::messaging::texted_back(&state.db, &tenant, &sids).await?;
            Ok((
                contact_names(&state, &tenant, &logs).await?,
                texted,
                logs,
                total,
            ))
        }
        Err(e) => Err(e),
    };
    let (rows, total, errors, status) = match listed {
        Ok((contacts, texted, logs, total)) => (
            logs.into_iter()
                .map(|c| {
                    let texted_back = texted.contains(&c.call_sid);
                    CallRow {
                        texted_back,
                        ..CallRow::new(c, &tz, &numbers, &contacts)
                    }
                })
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
            can_book: u.may_open("appointments"),
            notice: notice.ok().and_then(|Query(n)| {
                n.deleted
                    .map(|_| "The call log was deleted.".to_owned())
                    .or_else(|| n.corrected.map(|_| "The correction was saved.".to_owned()))
            }),
            reasons: reason_options(),
        },
    )
        .into_response())
}

/// A CSV cell: quoted when needed, and never read as a formula by a spreadsheet.
pub(super) fn csv_cell(value: &str) -> String {
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
pub(super) const EXPORT_MAX: i64 = 50_000;

pub(super) async fn export_csv(
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
pub(super) struct ConfirmDeletePage {
    chrome: Chrome,
    call: CallRow,
}

pub(super) async fn confirm_delete(
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

pub(super) async fn delete(
    State(state): State<AppState>,
    user: PageUser,
    Path(call_sid): Path<String>,
) -> PageResult {
    let tenant = user.0.owned_tenant(&state, "call-logs").await?;
    calls::delete_one(&state.db, &tenant, &call_sid).await?;
    tracing::info!(tenant = %tenant, by = %user.0.user.id, "call log deleted");
    Ok(Redirect::to("/call-logs?deleted=1").into_response())
}

/// `POST /call-logs/{callSid}/classification`: an owner, or staff who may open the
/// call logs, corrects booked and reason.
pub(super) async fn correct_call(
    State(state): State<AppState>,
    user: PageUser,
    Path(call_sid): Path<String>,
    form: crate::web::forms::FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, "call-logs").await?;
    let call = calls::get(&state.db, &Scope::One(tenant), &call_sid).await?;
    let appointment_booked = match form.get("booked").unwrap_or_default() {
        "yes" => Some(true),
        "no" => Some(false),
        "" | "unknown" => None,
        _ => return Err(AppError::field("booked", "must be yes, no or unknown").into()),
    };
    crate::intelligence::correct(
        &state,
        &call,
        &user.0.user.email,
        &crate::intelligence::Correction {
            appointment_booked,
            call_reason: form.get("reason").unwrap_or_default().to_owned(),
        },
    )
    .await?;
    Ok(Redirect::to("/call-logs?corrected=1").into_response())
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
}
