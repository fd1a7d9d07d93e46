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
