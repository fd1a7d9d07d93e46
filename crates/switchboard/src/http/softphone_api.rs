//! The browser softphone's API: access tokens.

use axum::Json;
use axum::extract::State;

use crate::access::Principal;
use crate::error::{AppError, AppResult};
use crate::softphone::IssuedToken;
use crate::state::AppState;

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
