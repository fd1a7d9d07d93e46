//! Appointments and staff members over JSON (`/api/appointments`, `/api/staff-members`),
//! and the seed telephony module's appointment texts.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{ApiJson, Principal, Scoped, page};
use crate::appointments::{self, Appointment, Filter, Notice, StaffMember, Status};
use crate::error::{AppError, AppResult, FieldErrors, SeedError};
use crate::state::AppState;
use crate::tenants::TenantId;
use crate::users::Role;

const PAGE: Option<&str> = <page::Appointments as crate::access::OnPage>::PAGE;

/// `GET /api/appointments` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// A date (`2026-12-02`, the tenant's midnight) or a time.
    from: Option<String>,
    /// A date (through its end) or a time (before it).
    to: Option<String>,
    staff_member_id: Option<String>,
    status: Option<String>,
    call_sid: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    /// Read by [`Scoped`].
    #[allow(dead_code)]
    customer_id: Option<String>,
}

/// A bound of a date range: a date means that day in the tenant's zone (its start for
/// `from`, the next day's start for `to`), anything else a time.
fn bound(raw: &str, tz: &jiff::tz::TimeZone, end: bool) -> Option<i64> {
    if let Ok(date) = raw.trim().parse::<jiff::civil::Date>() {
        let day = if end { date.tomorrow().ok()? } else { date };
        return Some(day.to_zoned(tz.clone()).ok()?.timestamp().as_millisecond());
    }
    appointments::parse_time(raw, tz)
}

/// `GET /api/appointments`: the tenant's appointments by start time, as
/// `{appointments, total, limit, offset}`.
#[utoipa::path(
    get,
    path = "/api/appointments",
    tag = "appointments",
    summary = "Appointments in a range",
    params(ListQuery),
    responses((status = 200, description = "Appointments", body = crate::http::openapi::AppointmentPage), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    scoped: Scoped<page::Appointments>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<Value>> {
    let tenant = scoped.tenant()?;
    let Query(q) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let tz = crate::calls::rollups::tenant_zone(&state.db, tenant).await?;
    let mut errors = FieldErrors::new();
    let mut range = |raw: Option<&str>, field: &str, end: bool| {
        raw.and_then(|r| {
            let b = bound(r, &tz, end);
            if b.is_none() {
                errors.insert(field.into(), "must be a date (2026-12-02) or a time".into());
            }
            b
        })
    };
    let from = range(q.from.as_deref(), "from", false);
    let to = range(q.to.as_deref(), "to", true);
    let status = q.status.as_deref().and_then(|s| {
        let parsed = Status::parse(s);
        if parsed.is_none() {
            errors.insert(
                "status".into(),
                "must be requested, scheduled, confirmed, cancelled, completed or no-show".into(),
            );
        }
        parsed
    });
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        errors.insert("limit".into(), "must be from 1 to 500".into());
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        errors.insert("offset".into(), "must not be negative".into());
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let filter = Filter {
        from,
        to,
        staff_id: q.staff_member_id,
        status,
        call_sid: q.call_sid,
        limit,
        offset,
    };
    let (list, total) = appointments::list(&state.db, tenant, &filter).await?;
    Ok(Json(
        json!({"appointments": list, "total": total, "limit": limit, "offset": offset}),
    ))
}

/// `POST /api/appointments` → 201 with the appointment; an overlap for its staff member
/// is 409.
#[utoipa::path(
    post,
    path = "/api/appointments",
    tag = "appointments",
    summary = "Book an appointment",
    request_body = appointments::NewAppointment,
    responses((status = 201, description = "Booked", body = Appointment), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<appointments::NewAppointment>,
) -> AppResult<(StatusCode, Json<Appointment>)> {
    let tenant = principal
        .tenant(&state, PAGE, body.tenant_id.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(appointments::create(&state.db, &tenant, body).await?),
    ))
}

/// The tenant an appointment id is looked up in: the principal's own, or (admins) the
/// appointment's. Another tenant's id is simply not found.
async fn appointment_tenant(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> AppResult<TenantId> {
    let owner = appointments::owner(&state.db, id).await?;
    resource_tenant(state, principal, owner).await
}

/// The tenant of a resource whose owner was looked up: the principal's own tenant when
/// it owns the resource, any for admins. Checked before a body is read, so another
/// tenant's id is a 404 whatever the body says.
async fn resource_tenant(
    state: &AppState,
    principal: &Principal,
    owner: Option<String>,
) -> AppResult<TenantId> {
    let owner = owner.ok_or(AppError::NotFound)?;
    let named = (principal.user.role == Role::Admin).then_some(owner.as_str());
    let tenant = principal.tenant(state, PAGE, named).await?;
    if *tenant != *owner {
        return Err(AppError::NotFound);
    }
    Ok(tenant)
}

/// `GET /api/appointments/{id}`.
#[utoipa::path(
    get,
    path = "/api/appointments/{id}",
    tag = "appointments",
    summary = "An appointment",
    params(("id" = String, Path)),
    responses((status = 200, description = "The appointment", body = Appointment), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Appointment>> {
    let tenant = appointment_tenant(&state, &principal, &id).await?;
    Ok(Json(appointments::get(&state.db, &tenant, &id).await?))
}

/// `PATCH /api/appointments/{id}`: moves the reminder with the start, drops it on
/// cancel; an overlap is 409.
#[utoipa::path(
    patch,
    path = "/api/appointments/{id}",
    tag = "appointments",
    summary = "Change an appointment",
    params(("id" = String, Path)),
    request_body = appointments::AppointmentUpdate,
    responses((status = 200, description = "The appointment", body = Appointment), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<appointments::AppointmentUpdate>, AppError>,
) -> AppResult<Json<Appointment>> {
    let tenant = appointment_tenant(&state, &principal, &id).await?;
    let ApiJson(body) = body?;
    Ok(Json(
        appointments::update(&state.db, &tenant, &id, body).await?,
    ))
}

/// `DELETE /api/appointments/{id}` → 204.
#[utoipa::path(
    delete,
    path = "/api/appointments/{id}",
    tag = "appointments",
    summary = "Delete an appointment",
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let tenant = appointment_tenant(&state, &principal, &id).await?;
    appointments::delete(&state.db, &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/staff-members` → `{staffMembers}`.
#[utoipa::path(
    get,
    path = "/api/staff-members",
    tag = "appointments",
    summary = "Staff members",
    responses((status = 200, description = "Staff", body = crate::http::openapi::StaffList), (status = 422, description = "Admins name the tenant (`customerId`)", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn list_staff(
    State(state): State<AppState>,
    scoped: Scoped<page::Appointments>,
) -> AppResult<Json<Value>> {
    let tenant = scoped.tenant()?;
    let staff = appointments::list_staff(&state.db, tenant).await?;
    Ok(Json(json!({ "staffMembers": staff })))
}

/// `POST /api/staff-members` `{name, phone?, smsNotifications?}` → 201.
#[utoipa::path(
    post,
    path = "/api/staff-members",
    tag = "appointments",
    summary = "Add a staff member",
    request_body = appointments::StaffInput,
    responses((status = 201, description = "Added", body = StaffMember), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn create_staff(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<appointments::StaffInput>,
) -> AppResult<(StatusCode, Json<StaffMember>)> {
    let tenant = principal
        .tenant(&state, PAGE, body.tenant_id.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(appointments::create_staff(&state.db, &tenant, body).await?),
    ))
}

async fn staff_tenant(state: &AppState, principal: &Principal, id: &str) -> AppResult<TenantId> {
    let owner = appointments::staff_owner(&state.db, id).await?;
    resource_tenant(state, principal, owner).await
}

/// `GET /api/staff-members/{id}`.
#[utoipa::path(
    get,
    path = "/api/staff-members/{id}",
    tag = "appointments",
    summary = "A staff member",
    params(("id" = String, Path)),
    responses((status = 200, description = "The staff member", body = StaffMember), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn get_staff(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<StaffMember>> {
    let tenant = staff_tenant(&state, &principal, &id).await?;
    Ok(Json(appointments::staff(&state.db, &tenant, &id).await?))
}

/// `PATCH /api/staff-members/{id}`.
#[utoipa::path(
    patch,
    path = "/api/staff-members/{id}",
    tag = "appointments",
    summary = "Change a staff member",
    params(("id" = String, Path)),
    request_body = appointments::StaffInput,
    responses((status = 200, description = "The staff member", body = StaffMember), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn update_staff(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<appointments::StaffInput>, AppError>,
) -> AppResult<Json<StaffMember>> {
    let tenant = staff_tenant(&state, &principal, &id).await?;
    let ApiJson(body) = body?;
    if body.tenant_id.is_some() {
        return Err(AppError::field("tenantId", "cannot be changed"));
    }
    Ok(Json(
        appointments::update_staff(&state.db, &tenant, &id, body).await?,
    ))
}

/// `DELETE /api/staff-members/{id}` → 204; their appointments stay, unassigned.
#[utoipa::path(
    delete,
    path = "/api/staff-members/{id}",
    tag = "appointments",
    summary = "Remove a staff member",
    params(("id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn delete_staff(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let tenant = staff_tenant(&state, &principal, &id).await?;
    appointments::delete_staff(&state.db, &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The seed's `{appointmentId}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NoticeRequest {
    appointment_id: String,
}

async fn notice(
    state: AppState,
    principal: Principal,
    body: Result<ApiJson<NoticeRequest>, AppError>,
    notice: Notice,
) -> Result<Json<Value>, SeedError> {
    let ApiJson(body) = body?;
    let tenant = appointment_tenant(&state, &principal, &body.appointment_id).await?;
    let message = appointments::send_notice(
        &state.db,
        &tenant,
        &body.appointment_id,
        notice,
        Some(&principal.user.id),
    )
    .await?;
    let what = match notice {
        Notice::Confirmation => "Confirmation",
        Notice::Reminder => "Reminder",
    };
    Ok(Json(json!({
        "success": true,
        "message": format!("{what} SMS queued for {}", message.to),
        "data": {
            "notificationId": message.id,
            "status": message.status.to_uppercase(),
            "relatedAppointmentId": body.appointment_id,
        },
    })))
}

/// `POST /api/telephony/appointment-confirmation` `{appointmentId}` → `{success, message}`.
#[utoipa::path(
    post,
    path = "/api/telephony/appointment-confirmation",
    tag = "telephony",
    summary = "Text an appointment's confirmation now (`{success, message, data}`)",
    request_body = NoticeRequest,
    responses((status = 200, description = "Queued", body = crate::http::openapi::SeedAnswer), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn confirmation(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<ApiJson<NoticeRequest>, AppError>,
) -> Result<Json<Value>, SeedError> {
    notice(state, principal, body, Notice::Confirmation).await
}

/// `POST /api/telephony/appointment-reminder` `{appointmentId}` → `{success, message}`.
#[utoipa::path(
    post,
    path = "/api/telephony/appointment-reminder",
    tag = "telephony",
    summary = "Text an appointment's reminder now (`{success, message, data}`)",
    request_body = NoticeRequest,
    responses((status = 200, description = "Queued", body = crate::http::openapi::SeedAnswer), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn reminder(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<ApiJson<NoticeRequest>, AppError>,
) -> Result<Json<Value>, SeedError> {
    notice(state, principal, body, Notice::Reminder).await
}
