//! The browser softphone's API: access tokens and click-to-call.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::access::{ApiJson, Principal};
use crate::error::{AppError, AppResult};
use crate::softphone::{IssuedToken, MakeCall, PlacedCall};
use crate::state::AppState;

/// `POST /api/twilio/make-call` `{to, contactId?, fromNumber?}` → 201 `{callSid, …}`:
/// rings the staff member's own phone, then bridges the customer. Another tenant's
/// contact or number is a 404; a burst waits for the account's calls-per-second turn.
#[utoipa::path(
    post,
    path = "/api/twilio/make-call",
    tag = "softphone",
    summary = "Click-to-call: ring your phone, then the customer",
    request_body = MakeCall,
    responses((status = 201, description = "Placed", body = PlacedCall), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn make_call(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<MakeCall>,
) -> AppResult<(StatusCode, Json<PlacedCall>)> {
    if principal.is_admin() {
        return Err(AppError::Forbidden(
            "click-to-call belongs to a tenant's staff; admins have no tenant to call for",
        ));
    }
    let tenant = principal.tenant(&state, Some("calls"), None).await?;
    let placed = crate::softphone::make_call(&state, &tenant, &principal.user, body).await?;
    Ok((StatusCode::CREATED, Json(placed)))
}

/// `POST /api/twilio/access-token` → `{token, identity, expiresAt}`: a Voice SDK token
/// for the signed-in staff member (the tenant's users with the calls page; not admins).
#[utoipa::path(
    post,
    path = "/api/twilio/access-token",
    tag = "softphone",
    summary = "A Voice SDK access token for the browser softphone",
    responses((status = 200, description = "The token", body = IssuedToken), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn access_token(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<IssuedToken>> {
    if principal.is_admin() {
        return Err(AppError::Forbidden(
            "the softphone belongs to a tenant's staff; admins have no tenant to call for",
        ));
    }
    let tenant = principal.tenant(&state, Some("calls"), None).await?;
    Ok(Json(
        crate::softphone::access_token(&state, &tenant, &principal.user.id).await?,
    ))
}
