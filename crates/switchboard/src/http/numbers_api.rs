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

#[derive(Deserialize)]
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
pub(crate) async fn connect(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<Connect>,
) -> AppResult<Json<TwilioConfigView>> {
    Ok(Json(provisioning::connect(&state, body).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MessageChange {
    menu_message: Option<String>,
}

/// `PATCH /api/twilio/update-message/{clinicId}`.
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

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DisconnectRequest {
    phone_number: Option<String>,
}

/// `PATCH /api/twilio/disconnect/{clinicId}` with an optional `{phoneNumber}`; without
/// one, every number of the tenant is disconnected.
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
