//! Appointments: today by staff member and the week by day, booking (also from a call),
//! editing, confirmations and reminders, and the staff list.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};

use crate::appointments::{self, Appointment, StaffMember, Status};
use crate::error::AppError;
use crate::state::AppState;
use crate::tenants::TenantId;
use crate::web::forms::{Errors, FormData};
use crate::web::{Chrome, PageResult, PageUser, WebError};

const PAGE: &str = "appointments";

/// An appointment as a row of the page.
pub(super) struct AppointmentRow {
    id: String,
    day: String,
    time: String,
    customer: String,
    phone: String,
    staff: String,
    status: &'static str,
    status_label: &'static str,
    reminder: String,
    confirmed_at: Option<String>,
    from_call: bool,
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Requested => "Requested",
        Status::Scheduled => "Scheduled",
        Status::Confirmed => "Confirmed",
        Status::Cancelled => "Cancelled",
        Status::Completed => "Completed",
        Status::NoShow => "No-show",
    }
}

fn zoned(rfc3339: &str, tz: &jiff::tz::TimeZone) -> Option<jiff::Zoned> {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.to_zoned(tz.clone()))
}

impl AppointmentRow {
    fn new(a: &Appointment, tz: &jiff::tz::TimeZone) -> Self {
        let start = zoned(&a.start_time, tz);
        let end = zoned(&a.end_time, tz);
        let hm = |z: &Option<jiff::Zoned>| {
            z.as_ref()
                .map(|z| z.strftime("%-I:%M %p").to_string())
                .unwrap_or_default()
        };
        let when = |t: &Option<String>| {
            t.as_deref()
                .map(|t| super::local_time(t, tz))
                .unwrap_or_default()
        };
        let reminder = match a.reminder.status.as_str() {
            "scheduled" => format!("Reminder {}", when(&a.reminder.due_at)),
            "sent" => "Reminder sent".to_owned(),
            "skipped" => format!(
                "Reminder skipped: {}",
                a.reminder.detail.clone().unwrap_or_default()
            ),
            "dropped" => "Reminder dropped".to_owned(),
            _ => "No reminder".to_owned(),
        };
        Self {
            id: a.id.clone(),
            day: start
                .as_ref()
                .map(|z| z.strftime("%A, %b %-d").to_string())
                .unwrap_or_default(),
            time: format!("{}–{}", hm(&start), hm(&end)),
            customer: a.customer_name.clone(),
            phone: a.customer_phone.clone(),
            staff: a
                .staff_member_name
                .clone()
                .unwrap_or_else(|| "Anyone".to_owned()),
            status: a.status.as_str(),
            status_label: status_label(a.status),
            reminder,
            confirmed_at: a
                .confirmation_sent_at
                .as_deref()
                .map(|t| super::local_time(t, tz)),
            from_call: a.call_sid.is_some(),
        }
    }
}

/// The booking form as it shows.
#[derive(Default)]
pub(super) struct BookingForm {
    customer_name: String,
    customer_phone: String,
    staff_member_id: String,
    date: String,
    time: String,
    duration: String,
    notes: String,
    status: String,
    call_sid: String,
    contact_id: String,
}

impl BookingForm {
    fn typed(form: &FormData) -> Self {
        let field = |name: &str| form.get(name).unwrap_or_default().trim().to_owned();
        Self {
            customer_name: field("customerName"),
            customer_phone: field("customerPhone"),
            staff_member_id: field("staffMemberId"),
            date: field("date"),
            time: field("time"),
            duration: field("duration"),
            notes: field("notes"),
            status: field("status"),
            call_sid: field("callSid"),
            contact_id: field("contactId"),
        }
    }

    fn of(a: &Appointment, tz: &jiff::tz::TimeZone) -> Self {
        let start = zoned(&a.start_time, tz);
        let minutes = match (
            a.start_time.parse::<jiff::Timestamp>(),
            a.end_time.parse::<jiff::Timestamp>(),
        ) {
            (Ok(s), Ok(e)) => (e.as_millisecond() - s.as_millisecond()) / 60_000,
            _ => 30,
        };
        Self {
            customer_name: a.customer_name.clone(),
            customer_phone: a.customer_phone.clone(),
            staff_member_id: a.staff_member_id.clone().unwrap_or_default(),
            date: start
                .as_ref()
                .map(|z| z.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            time: start
                .as_ref()
                .map(|z| z.strftime("%H:%M").to_string())
                .unwrap_or_default(),
            duration: minutes.to_string(),
            notes: a.notes.clone().unwrap_or_default(),
            status: a.status.as_str().to_owned(),
            call_sid: a.call_sid.clone().unwrap_or_default(),
            contact_id: a.contact_id.clone().unwrap_or_default(),
        }
    }

    /// The local start and end the API reads (`2026-12-02T10:00`), when a date and time
    /// were given; the API names what is missing.
    fn times(&self) -> Result<(Option<String>, Option<String>), AppError> {
        if self.date.is_empty() || self.time.is_empty() {
            let mut errors = crate::error::FieldErrors::new();
            if self.date.is_empty() {
                errors.insert("date".into(), "is required".into());
            }
            if self.time.is_empty() {
                errors.insert("time".into(), "is required".into());
            }
            return Err(AppError::Validation(errors));
        }
        let start = format!("{}T{}", self.date, self.time);
        let minutes: i64 = self
            .duration
            .parse()
            .ok()
            .filter(|m| (5..=600).contains(m))
            .ok_or_else(|| AppError::field("duration", "must be 5 to 600 minutes"))?;
        let end = start
            .parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|s| s.checked_add(jiff::SignedDuration::from_mins(minutes)).ok())
            .map(|e| e.strftime("%Y-%m-%dT%H:%M").to_string());
        Ok((Some(start), end))
    }
}

/// API field errors under the form's names.
fn form_errors(e: &AppError) -> Errors {
    let mut errors = Errors::from_app(e);
    errors.rename("startTime", "time");
    errors.rename("endTime", "duration");
    errors
}

/// A day of the week view.
pub(super) struct Day {
    label: String,
    rows: Vec<AppointmentRow>,
}

/// A staff member's appointments today.
pub(super) struct StaffDay {
    staff: String,
    rows: Vec<AppointmentRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "appointments.html")]
pub(super) struct AppointmentsPage {
    chrome: Chrome,
    today: Vec<StaffDay>,
    days: Vec<Day>,
    week_label: String,
    prev_week: String,
    next_week: String,
    staff: Vec<StaffMember>,
    form: BookingForm,
    errors: Errors,
    staff_form_errors: Errors,
    staff_name: String,
    staff_phone: String,
    notice: Option<String>,
    booking_from_call: Option<String>,
    suggested: bool,
}

#[derive(serde::Deserialize, Default)]
pub(super) struct WeekQuery {
    week: Option<String>,
    #[serde(rename = "callSid")]
    call_sid: Option<String>,
    booked: Option<String>,
    staff: Option<String>,
    sent: Option<String>,
}

/// What the page shows besides the calendar.
#[derive(Default)]
struct PageState {
    week: Option<String>,
    form: BookingForm,
    errors: Errors,
    staff_form_errors: Errors,
    staff_name: String,
    staff_phone: String,
    notice: Option<String>,
    booking_from_call: Option<String>,
    suggested: bool,
}

async fn page(
    state: &AppState,
    user: &PageUser,
    tenant: &TenantId,
    s: PageState,
) -> Result<AppointmentsPage, WebError> {
    let tz = crate::calls::rollups::tenant_zone(&state.db, tenant).await?;
    let now = jiff::Timestamp::now().to_zoned(tz.clone());
    let today = now.date();
    let anchor = s
        .week
        .as_deref()
        .and_then(|w| w.parse::<jiff::civil::Date>().ok())
        .unwrap_or(today);
    let monday = anchor
        .checked_sub(jiff::Span::new().days(i64::from(anchor.weekday().to_monday_zero_offset())))
        .unwrap_or(anchor);
    let start_of = |d: jiff::civil::Date| {
        d.to_zoned(tz.clone())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(0)
    };
    let week_end = monday
        .checked_add(jiff::Span::new().days(7))
        .unwrap_or(monday);
    let week =
        appointments::between(&state.db, tenant, start_of(monday), start_of(week_end)).await?;
    let tomorrow = today.tomorrow().unwrap_or(today);
    let todays =
        appointments::between(&state.db, tenant, start_of(today), start_of(tomorrow)).await?;
    let staff = appointments::list_staff(&state.db, tenant).await?;
    let mut by_staff: Vec<StaffDay> = Vec::new();
    for a in todays.iter().filter(|a| a.status != Status::Cancelled) {
        let name = a
            .staff_member_name
            .clone()
            .unwrap_or_else(|| "Anyone".to_owned());
        let row = AppointmentRow::new(a, &tz);
        match by_staff.iter_mut().find(|d| d.staff == name) {
            Some(d) => d.rows.push(row),
            None => by_staff.push(StaffDay {
                staff: name,
                rows: vec![row],
            }),
        }
    }
    by_staff.sort_by(|a, b| a.staff.cmp(&b.staff));
    let mut days: Vec<Day> = Vec::new();
    for a in &week {
        let row = AppointmentRow::new(a, &tz);
        match days.last_mut() {
            Some(d) if d.label == row.day => d.rows.push(row),
            _ => days.push(Day {
                label: row.day.clone(),
                rows: vec![row],
            }),
        }
    }
    let sunday = monday
        .checked_add(jiff::Span::new().days(6))
        .unwrap_or(monday);
    let shift = |days: i64| {
        monday
            .checked_add(jiff::Span::new().days(days))
            .map(|d| format!("/appointments?week={d}"))
            .unwrap_or_else(|_| "/appointments".to_owned())
    };
    let mut form = s.form;
    if form.date.is_empty() {
        form.date = today.to_string();
    }
    if form.duration.is_empty() {
        form.duration = "30".into();
    }
    Ok(AppointmentsPage {
        chrome: Chrome::for_user(state, user, "Appointments", "/appointments").await?,
        today: by_staff,
        days,
        week_label: format!(
            "{} – {}",
            monday.strftime("%b %-d"),
            sunday.strftime("%b %-d, %Y")
        ),
        prev_week: shift(-7),
        next_week: shift(7),
        staff,
        form,
        errors: s.errors,
        staff_form_errors: s.staff_form_errors,
        staff_name: s.staff_name,
        staff_phone: s.staff_phone,
        notice: s.notice,
        booking_from_call: s.booking_from_call,
        suggested: s.suggested,
    })
}

/// `GET /appointments[?week=YYYY-MM-DD][&callSid=…]`: the calendar; with a call, the
/// booking form is filled from it.
pub(super) async fn appointments_page(
    State(state): State<AppState>,
    user: PageUser,
    q: Result<Query<WeekQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let tenant = user.tenant_for(&state, PAGE).await?;
    let Query(q) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let mut s = PageState {
        week: q.week,
        notice: if q.booked.is_some() {
            Some("Appointment booked.".to_owned())
        } else if q.staff.is_some() {
            Some("Staff member added.".to_owned())
        } else {
            q.sent.map(|_| "Text queued for sending.".to_owned())
        },
        ..PageState::default()
    };
    if let Some(sid) = q.call_sid.filter(|s| !s.is_empty()) {
        let scope = crate::calls::Scope::One(tenant.clone());
        let mut call = crate::calls::get(&state.db, &scope, &sid).await?;
        crate::contacts::link(&state.db, std::slice::from_mut(&mut call)).await?;
        let tz = crate::calls::rollups::tenant_zone(&state.db, &tenant).await?;
        let caller = call.from.clone().unwrap_or_default();
        let contact = match &call.contact_id {
            Some(id) => crate::contacts::get(&state.db, &tenant, id).await.ok(),
            None => None,
        };
        s.form.customer_phone = caller.clone();
        s.form.customer_name = contact
            .as_ref()
            .map(|c| c.name.clone())
            .or_else(|| call.caller_name.clone())
            .unwrap_or_default();
        s.form.contact_id = call.contact_id.clone().unwrap_or_default();
        s.form.call_sid = call.call_sid.clone();
        s.form.notes = call.summary_text.clone().unwrap_or_default();
        s.booking_from_call = Some(format!(
            "{} on {}",
            if caller.is_empty() {
                "a caller"
            } else {
                &caller
            },
            super::local_time(&call.started_at, &tz)
        ));
        s.suggested = call.appointment_booked == Some(true);
    }
    Ok(page(&state, &user, &tenant, s).await?.into_response())
}

fn booking(form: &BookingForm) -> Result<appointments::NewAppointment, AppError> {
    let (start_time, end_time) = form.times()?;
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    Ok(appointments::NewAppointment {
        contact_id: opt(&form.contact_id),
        customer_name: opt(&form.customer_name),
        customer_phone: opt(&form.customer_phone),
        staff_member_id: opt(&form.staff_member_id),
        start_time,
        end_time,
        notes: opt(&form.notes),
        status: None,
        call_sid: opt(&form.call_sid),
        tenant_id: None,
    })
}

/// `POST /appointments`: books from the form.
pub(super) async fn book(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, PAGE).await?;
    let typed = BookingForm::typed(&form);
    let result = match booking(&typed) {
        Ok(new) => appointments::create(&state.db, &tenant, new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(a) => Ok(Redirect::to(&format!(
            "/appointments?week={}&booked=1",
            a.local_start.get(..10).unwrap_or_default()
        ))
        .into_response()),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_))) => {
            let s = PageState {
                week: Some(typed.date.clone()).filter(|d| !d.is_empty()),
                errors: form_errors(&e),
                form: typed,
                ..PageState::default()
            };
            let page = page(&state, &user, &tenant, s).await?;
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /appointments/staff`: adds a staff member.
pub(super) async fn add_staff(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, PAGE).await?;
    let input = appointments::StaffInput {
        name: form.text("name"),
        phone: Some(form.text("phone")),
        sms_notifications: Some(form.checked("smsNotifications")),
        tenant_id: None,
    };
    match appointments::create_staff(&state.db, &tenant, input).await {
        Ok(_) => Ok(Redirect::to("/appointments?staff=1").into_response()),
        Err(e @ AppError::Validation(_)) => {
            let s = PageState {
                staff_form_errors: Errors::from_app(&e),
                staff_name: form.get("name").unwrap_or_default().to_owned(),
                staff_phone: form.get("phone").unwrap_or_default().to_owned(),
                ..PageState::default()
            };
            let page = page(&state, &user, &tenant, s).await?;
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "appointment.html")]
pub(super) struct AppointmentPage {
    chrome: Chrome,
    row: AppointmentRow,
    form: BookingForm,
    errors: Errors,
    staff: Vec<StaffMember>,
    notice: Option<String>,
    call_href: Option<String>,
    statuses: Vec<(&'static str, &'static str)>,
}

async fn edit_page(
    state: &AppState,
    user: &PageUser,
    tenant: &TenantId,
    a: &Appointment,
    form: Option<BookingForm>,
    errors: Errors,
    notice: Option<String>,
) -> Result<AppointmentPage, WebError> {
    let tz = crate::calls::rollups::tenant_zone(&state.db, tenant).await?;
    Ok(AppointmentPage {
        chrome: Chrome::for_user(state, user, "Appointment", "/appointments").await?,
        row: AppointmentRow::new(a, &tz),
        form: form.unwrap_or_else(|| BookingForm::of(a, &tz)),
        errors,
        staff: appointments::list_staff(&state.db, tenant).await?,
        notice,
        call_href: a.call_sid.as_ref().map(|sid| {
            let q: String =
                url::form_urlencoded::byte_serialize(a.customer_phone.as_bytes()).collect();
            format!("/call-logs?q={q}#call-{sid}")
        }),
        statuses: [
            Status::Requested,
            Status::Scheduled,
            Status::Confirmed,
            Status::Cancelled,
            Status::Completed,
            Status::NoShow,
        ]
        .into_iter()
        .map(|s| (s.as_str(), status_label(s)))
        .collect(),
    })
}

#[derive(serde::Deserialize, Default)]
pub(super) struct EditQuery {
    saved: Option<String>,
    sent: Option<String>,
}

/// `GET /appointments/{id}`.
pub(super) async fn appointment_page(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    q: Result<Query<EditQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let tenant = user.tenant_for(&state, PAGE).await?;
    let a = appointments::get(&state.db, &tenant, &id).await?;
    let Query(q) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let notice = match (q.saved, q.sent.as_deref()) {
        (Some(_), _) => Some("Appointment saved.".to_owned()),
        (_, Some("confirmation")) => Some("Confirmation queued for sending.".to_owned()),
        (_, Some(_)) => Some("Reminder queued for sending.".to_owned()),
        _ => None,
    };
    let page = edit_page(&state, &user, &tenant, &a, None, Errors::none(), notice).await?;
    Ok(page.into_response())
}

/// `POST /appointments/{id}`: saves the form.
pub(super) async fn save_appointment(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, PAGE).await?;
    let before = appointments::get(&state.db, &tenant, &id).await?;
    let typed = BookingForm::typed(&form);
    let change = booking(&typed).map(|new| appointments::AppointmentUpdate {
        contact_id: Some(new.contact_id),
        customer_name: Some(typed.customer_name.clone()),
        customer_phone: Some(typed.customer_phone.clone()),
        staff_member_id: Some(new.staff_member_id),
        start_time: new.start_time,
        end_time: new.end_time,
        notes: Some(new.notes),
        status: Some(typed.status.clone()).filter(|s| !s.is_empty()),
        call_sid: None,
    });
    let result = match change {
        Ok(change) => appointments::update(&state.db, &tenant, &id, change).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/appointments/{id}?saved=1")).into_response()),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_))) => {
            let page = edit_page(
                &state,
                &user,
                &tenant,
                &before,
                Some(typed),
                form_errors(&e),
                None,
            )
            .await?;
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /appointments/{id}/send` (`what=confirmation|reminder`): texts it now.
pub(super) async fn send_notice(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, PAGE).await?;
    let a = appointments::get(&state.db, &tenant, &id).await?;
    let (notice, what) = match form.get("what") {
        Some("reminder") => (appointments::Notice::Reminder, "reminder"),
        _ => (appointments::Notice::Confirmation, "confirmation"),
    };
    match appointments::send_notice(&state.db, &tenant, &id, notice, Some(&user.0.user.id)).await {
        Ok(_) => Ok(Redirect::to(&format!("/appointments/{id}?sent={what}")).into_response()),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_))) => {
            let page =
                edit_page(&state, &user, &tenant, &a, None, Errors::from_app(&e), None).await?;
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
