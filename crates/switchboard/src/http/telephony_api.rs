//! The seed telephony module's routes (`/api/telephony/*`), in its `{success, data}`
//! shapes: texting, notifications, call logs and the phone number.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{ApiJson, Scoped, page};
use crate::error::{AppError, SeedError};
use crate::state::AppState;

/// `POST /api/telephony/sms` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SendSms {
    phone_number: String,
    message: String,
}

/// `POST /api/telephony/sms`: texts a customer from the tenant's number, with its
/// credentials, through the job queue. Answers at once with the text stored QUEUED;
/// its status moves as Twilio reports it.
#[utoipa::path(
    post,
    path = "/api/telephony/sms",
    tag = "telephony",
    summary = "Send a text (`{success, data}`)",
    request_body = SendSms,
    responses((status = 200, description = "Queued", body = crate::http::openapi::SeedAnswer), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn send_sms(
    State(state): State<AppState>,
    scoped: Scoped<page::Messages>,
    body: Result<ApiJson<SendSms>, AppError>,
) -> Result<Json<Value>, SeedError> {
    let tenant = scoped.tenant()?.clone();
    let ApiJson(body) = body?;
    let (message, segments) = crate::messaging::send_for_tenant(
        &state.db,
        &tenant,
        &body.phone_number,
        &body.message,
        crate::messaging::SendOptions {
            sent_by: Some(&scoped.principal.user.id),
            ..Default::default()
        },
    )
    .await?;
    Ok(Json(json!({
        "success": true,
        "message": format!("SMS queued for {}", message.to),
        "data": {
            "id": message.id,
            "status": message.status.to_uppercase(),
            "to": message.to,
            "from": message.from,
            "message": message.body,
            "segments": segments.segments,
            "encoding": segments.encoding,
            "createdAt": crate::db::rfc3339(message.created_at),
        }
    })))
}

/// `GET /api/telephony/notifications` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    #[serde(rename = "customerId")]
    _customer_id: Option<String>,
}

/// `GET /api/telephony/notifications?type=SMS|EMAIL&status=QUEUED|SENT|FAILED&limit&offset`:
/// the texts the tenant sent (text-backs and replies; appointment notices once they
/// exist), newest first, as `{success, data: {notifications, total, limit, offset}}`.
#[utoipa::path(
    get,
    path = "/api/telephony/notifications",
    tag = "telephony",
    summary = "Texts sent (`{success, data}`)",
    params(NotificationQuery),
    responses((status = 200, description = "Notifications", body = crate::http::openapi::SeedAnswer), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn notifications(
    State(state): State<AppState>,
    scoped: Scoped<page::Messages>,
    q: Result<axum::extract::Query<NotificationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, SeedError> {
    let tenant = scoped.tenant()?.clone();
    let axum::extract::Query(q) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let mut errors = crate::error::FieldErrors::new();
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        errors.insert("limit".into(), "must be from 1 to 200".into());
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        errors.insert("offset".into(), "must not be negative".into());
    }
    let kind = q.kind.as_deref().map(str::to_uppercase);
    if !matches!(kind.as_deref(), None | Some("SMS" | "EMAIL")) {
        errors.insert("type".into(), "must be SMS or EMAIL".into());
    }
    let statuses = match q.status.as_deref().map(str::to_uppercase) {
        None => None,
        Some(s) => match crate::messaging::statuses_of(&s) {
            Some(list) => Some(list),
            None => {
                errors.insert("status".into(), "must be QUEUED, SENT or FAILED".into());
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors).into());
    }
    // No email is sent yet: an EMAIL list is empty, not an error.
    let (list, total) = if kind.as_deref() == Some("EMAIL") {
        (Vec::new(), 0)
    } else {
        crate::messaging::notifications(&state.db, &tenant, statuses, limit, offset).await?
    };
    Ok(Json(json!({
        "success": true,
        "data": {"notifications": list, "total": total, "limit": limit, "offset": offset},
    })))
}

/// `GET /api/telephony/call-logs` (the call-log filters): the tenant's calls in the seed
/// module's shape, `{success, data: {callLogs, total, limit, offset}}`, each with its
/// `callReason` and `appointmentBooked`.
#[utoipa::path(
    get,
    path = "/api/telephony/call-logs",
    tag = "telephony",
    summary = "Call logs (`{success, data}`)",
    params(crate::calls::CallFilter),
    responses((status = 200, description = "Call logs", body = crate::http::openapi::SeedAnswer), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn call_logs(
    State(state): State<AppState>,
    scoped: Scoped<page::CallLogs>,
    q: Result<
        axum::extract::Query<crate::calls::CallFilter>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<Value>, SeedError> {
    let tenant = scoped.tenant()?.clone();
    let axum::extract::Query(filter) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let tz = crate::calls::rollups::tenant_zone(&state.db, &tenant).await?;
    let scope = crate::calls::Scope::One(tenant);
    let (mut call_logs, total, limit, offset) =
        crate::calls::list(&state.db, &scope, &filter, &tz).await?;
    crate::contacts::link(&state.db, &mut call_logs).await?;
    Ok(Json(json!({
        "success": true,
        "data": {"callLogs": call_logs, "total": total, "limit": limit, "offset": offset},
    })))
}

/// `GET /api/telephony/phone-number`: the number the tenant calls and texts from (its
/// primary active one, `null` when it has none) and all its numbers, as
/// `{success, data: {phoneNumber, friendlyName, numbers}}`.
#[utoipa::path(
    get,
    path = "/api/telephony/phone-number",
    tag = "telephony",
    summary = "The number texts and calls go from (`{success, data}`)",
    responses((status = 200, description = "The number", body = crate::http::openapi::SeedAnswer), (status = 422, description = "Admins name the tenant (`customerId`)", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn phone_number(
    State(state): State<AppState>,
    scoped: Scoped<page::CallLogs>,
) -> Result<Json<Value>, SeedError> {
    let tenant = scoped.tenant()?.clone();
    let numbers = crate::numbers::list_for_tenant(&state.db, &tenant).await?;
    let main = crate::numbers::sending_number(&numbers);
    Ok(Json(json!({
        "success": true,
        "data": {
            "phoneNumber": main.map(|n| n.phone_number.clone()),
            "friendlyName": main.and_then(|n| n.friendly_name.clone()),
            "numbers": numbers,
        },
    })))
}

/// `POST /api/telephony/provision-phone`: the tenant's number, bought for it when it has
/// none (idempotent: asking again returns the same number, never a second purchase) →
/// `{success, data: {phoneNumber, sid, …}}`, or `{success, data: {status: "pending", jobId}}`
/// with 202 while Twilio works.
#[utoipa::path(
    post,
    path = "/api/telephony/provision-phone",
    tag = "telephony",
    summary = "Buy and connect a number for your tenant (`{success, data}`)",
    responses((status = 200, description = "Bought and connected", body = crate::http::openapi::SeedAnswer), (status = 202, description = "Queued", body = crate::http::openapi::SeedAnswer), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn provision_phone(
    State(state): State<AppState>,
    principal: crate::access::Principal,
) -> Result<(axum::http::StatusCode, Json<Value>), SeedError> {
    let tenant = principal.owned_tenant(&state, "settings").await?;
    Ok(match crate::purchases::provision(&state, &tenant).await? {
        crate::purchases::Outcome::Done(bought) => (
            axum::http::StatusCode::OK,
            Json(json!({"success": true, "data": bought})),
        ),
        crate::purchases::Outcome::Pending(job) => (
            axum::http::StatusCode::ACCEPTED,
            Json(json!({"success": true, "data": {"status": "pending", "jobId": job}})),
        ),
    })
}
