//! The admin API over tracking numbers on Twilio, and credential checks.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{Admin, ApiJson, Principal};
use crate::error::{AppError, AppResult};
use crate::provisioning::{self, Connect, CredentialsCheck};
use crate::state::AppState;
use crate::telephony::TwilioConfigView;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AccountQuery {
    clinic_id: Option<String>,
}

fn account_query(
    q: Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Option<String>> {
    q.map(|Query(v)| v.clinic_id.filter(|s| !s.is_empty()))
        .map_err(|e| AppError::BadRequest(e.body_text()))
}

/// `GET /api/twilio/numbers[?clinicId=]`: the platform's (or a tenant's own) account numbers.
#[utoipa::path(
    get,
    path = "/api/twilio/numbers",
    tag = "numbers",
    summary = "Numbers on a Twilio account, and which tenant each is connected to",
    params(AccountQuery),
    responses((status = 200, description = "Numbers", body = crate::http::openapi::NumberList), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
    q: Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<Value>> {
    let tenant = account_query(q)?;
    if let Some(t) = &tenant {
        admin.tenant_scope(&state, t, None).await?;
    }
    let numbers = provisioning::account_numbers(&state, tenant.as_deref()).await?;
    Ok(Json(json!({ "numbers": numbers })))
}

/// `POST /api/twilio/connect`.
#[utoipa::path(
    post,
    path = "/api/twilio/connect",
    tag = "numbers",
    summary = "Connect a number to a tenant (points its webhooks at us)",
    request_body = Connect,
    responses((status = 200, description = "The tenant's settings", body = TwilioConfigView), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn connect(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<Connect>,
) -> AppResult<Json<TwilioConfigView>> {
    Ok(Json(provisioning::connect(&state, body).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MessageChange {
    menu_message: Option<String>,
}

/// `PATCH /api/twilio/update-message/{clinicId}`.
#[utoipa::path(
    patch,
    path = "/api/twilio/update-message/{clinic_id}",
    tag = "numbers",
    summary = "Change a tenant's greeting",
    params(("clinic_id" = String, Path)),
    request_body = MessageChange,
    responses((status = 200, description = "The tenant's settings", body = TwilioConfigView), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn update_message(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(clinic_id): Path<String>,
    ApiJson(body): ApiJson<MessageChange>,
) -> AppResult<Json<TwilioConfigView>> {
    admin.tenant_scope(&state, &clinic_id, None).await?;
    Ok(Json(
        provisioning::update_message(&state, &clinic_id, body.menu_message).await?,
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DisconnectRequest {
    phone_number: Option<String>,
}

/// `PATCH /api/twilio/disconnect/{clinicId}` with an optional `{phoneNumber}`; without
/// one, every number of the tenant is disconnected.
#[utoipa::path(
    patch,
    path = "/api/twilio/disconnect/{clinic_id}",
    tag = "numbers",
    summary = "Disconnect one number (or all) from a tenant",
    params(("clinic_id" = String, Path)),
    request_body = DisconnectRequest,
    responses((status = 200, description = "Disconnected", body = crate::http::openapi::Disconnected), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn disconnect(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(clinic_id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Json<Value>> {
    admin.tenant_scope(&state, &clinic_id, None).await?;
    // The body is optional: none disconnects every number.
    let body: DisconnectRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DisconnectRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::BadRequest(format!("malformed JSON: {e}")))?
    };
    let removed =
        provisioning::disconnect(&state, &clinic_id, body.phone_number.as_deref()).await?;
    Ok(Json(json!({ "disconnected": removed })))
}

/// `GET /api/twilio/test-credentials[?clinicId=]` (admins).
#[utoipa::path(
    get,
    path = "/api/twilio/test-credentials",
    tag = "numbers",
    summary = "Check the platform's (or a tenant's) Twilio credentials",
    params(AccountQuery),
    responses((status = 200, description = "The check", body = CredentialsCheck), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn test_credentials(
    State(state): State<AppState>,
    Admin(admin): Admin,
    q: Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<CredentialsCheck>> {
    let tenant = account_query(q)?;
    if let Some(t) = &tenant {
        admin.tenant_scope(&state, t, None).await?;
    }
    Ok(Json(
        provisioning::test_credentials(&state, tenant.as_deref()).await?,
    ))
}

/// `POST /api/companies/{companyId}/twilio/test-credentials` (the tenant's owner).
#[utoipa::path(
    post,
    path = "/api/companies/{company_id}/twilio/test-credentials",
    tag = "settings",
    summary = "Check a tenant's Twilio credentials",
    params(("company_id" = String, Path)),
    responses((status = 200, description = "The check", body = CredentialsCheck), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn test_own_credentials(
    State(state): State<AppState>,
    principal: Principal,
    Path(company_id): Path<String>,
) -> AppResult<Json<CredentialsCheck>> {
    principal.tenant_scope(&state, &company_id, None).await?;
    Ok(Json(
        provisioning::test_credentials(&state, Some(&company_id)).await?,
    ))
}

/// `GET /api/admin/notifications/dependency-health` (seed 002's path): every dependency,
/// `{status, checkedAt, checks: [{name, status, critical, latencyMs, message,
/// credentialSource?, drifted?}]}`; `?refresh=true` skips the short cache.
#[utoipa::path(
    get,
    path = "/api/admin/notifications/dependency-health",
    tag = "numbers",
    summary = "Twilio, numbers' webhooks, jobs and the database",
    params(HealthQuery),
    responses((status = 200, description = "The report", body = crate::health::Report), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn dependency_health(
    State(state): State<AppState>,
    _: Admin,
    q: Result<Query<HealthQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<crate::health::Report>> {
    let Query(q) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    if q.refresh == Some(true) {
        crate::health::invalidate(&state);
    }
    Ok(Json(crate::health::report(&state).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthQuery {
    refresh: Option<bool>,
}

/// `POST /api/twilio/numbers/fix-webhooks` `{phoneNumber}`: points a connected number
/// whose webhooks drifted back at us, on its tenant's account → `{fixed: true}`.
#[utoipa::path(
    post,
    path = "/api/twilio/numbers/fix-webhooks",
    tag = "numbers",
    summary = "Point a drifted number's webhooks back at us",
    request_body = FixWebhooks,
    responses((status = 200, description = "Fixed", body = crate::http::openapi::Fixed), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn fix_webhooks(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<FixWebhooks>,
) -> AppResult<Json<Value>> {
    let number = crate::numbers::E164::parse(&body.phone_number)
        .ok_or_else(|| AppError::field("phoneNumber", "is not a valid phone number"))?;
    let tenant = crate::numbers::owner_of(&state.db, &number)
        .await?
        .ok_or_else(|| AppError::field("phoneNumber", "is not connected to a tenant"))?;
    if !crate::health::fix_webhooks(&state, &tenant, number.as_str()).await? {
        return Err(AppError::field(
            "phoneNumber",
            "is not on its tenant's Twilio account",
        ));
    }
    Ok(Json(
        json!({ "fixed": true, "phoneNumber": number.as_str() }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FixWebhooks {
    phone_number: String,
}

/// `GET /api/twilio/available-numbers?country&areaCode&contains&smsEnabled&voiceEnabled`
/// → `{numbers: [{phoneNumber, friendlyName, locality, region, capabilities: {voice, sms}}]}`:
/// an admin searches the platform's account (or `clinicId`'s own); a tenant's owner
/// searches its own tenant's account.
#[utoipa::path(
    get,
    path = "/api/twilio/available-numbers",
    tag = "numbers",
    summary = "Numbers for sale",
    params(crate::purchases::Search),
    responses((status = 200, description = "Numbers", body = crate::http::openapi::NumberList), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn available(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<crate::purchases::Search>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<Value>> {
    let Query(search) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let tenant = if principal.is_admin() {
        match search.clinic_id.as_deref().filter(|c| !c.is_empty()) {
            Some(t) => {
                principal.tenant_scope(&state, t, None).await?;
                Some(t.to_owned())
            }
            None => None,
        }
    } else {
        Some(
            principal
                .owned_tenant(&state, "settings")
                .await?
                .to_string(),
        )
    };
    let numbers = crate::purchases::search(&state, tenant.as_deref(), &search).await?;
    Ok(Json(json!({ "numbers": numbers })))
}

/// `POST /api/twilio/numbers/purchase` `{phoneNumber, clinicId, friendlyName?, forwardNumber?, …}`:
/// buys the number on the tenant's account (its own, else the platform's) with our
/// webhooks set and connects it → 201 `{sid, phoneNumber, clinicId, …}`, or 202
/// `{status: "pending", jobId}` when Twilio is slow. Asking twice buys once.
#[utoipa::path(
    post,
    path = "/api/twilio/numbers/purchase",
    tag = "numbers",
    summary = "Buy a number for a tenant (a job; answers at once)",
    request_body = crate::purchases::Purchase,
    responses((status = 201, description = "Bought and connected", body = crate::purchases::Bought), (status = 202, description = "Queued (the account is busy or Twilio is slow)", body = crate::http::openapi::Pending), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn purchase(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<crate::purchases::Purchase>,
) -> AppResult<(axum::http::StatusCode, Json<Value>)> {
    Ok(match crate::purchases::purchase(&state, body).await? {
        crate::purchases::Outcome::Done(bought) => (
            axum::http::StatusCode::CREATED,
            Json(serde_json::to_value(bought).map_err(AppError::internal)?),
        ),
        crate::purchases::Outcome::Pending(job) => (
            axum::http::StatusCode::ACCEPTED,
            Json(json!({"status": "pending", "jobId": job})),
        ),
    })
}

/// `DELETE /api/twilio/numbers/{sid}[?clinicId=]` (also `POST …/{sid}/release`): releases
/// the number on Twilio (the platform's account, or `clinicId`'s own) and disconnects it;
/// its call history stays → `{released: phoneNumber}`.
#[utoipa::path(
    delete,
    path = "/api/twilio/numbers/{sid}",
    tag = "numbers",
    summary = "Release a number at Twilio",
    params(("sid" = String, Path), AccountQuery),
    responses((status = 200, description = "Released", body = crate::http::openapi::Released), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn release(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(sid): Path<String>,
    q: Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<Value>> {
    let tenant = account_query(q)?;
    if let Some(t) = &tenant {
        admin.tenant_scope(&state, t, None).await?;
    }
    let released = crate::purchases::release(&state, tenant.as_deref(), &sid).await?;
    Ok(Json(json!({ "released": released, "sid": sid })))
}
