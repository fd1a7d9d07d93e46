//! JSON API handlers: thin, they check access and call the domain modules.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use serde::{Deserialize, Serialize};

use crate::access::{Admin, ApiJson, ClientAddress, Principal, SESSION_COOKIE};
use crate::error::AppResult;
use crate::state::AppState;
use crate::telephony::{self, TwilioConfigUpdate, TwilioConfigView};
use crate::tenants::{self, NewTenant, Tenant, TenantUpdate};
use crate::users::{self, NewUser, User, UserUpdate};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
pub(crate) struct LoginResponse {
    token: String,
    user: User,
    #[serde(rename = "expiresAt")]
    expires_at: String,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddress(peer): ClientAddress,
    audit: Option<axum::Extension<crate::audit::Slot>>,
    jar: CookieJar,
    ApiJson(body): ApiJson<LoginRequest>,
) -> AppResult<(CookieJar, Json<LoginResponse>)> {
    if let Some(slot) = &audit {
        slot.login_email(&body.email);
    }
    let (user, session) = crate::auth::login(
        &state.db,
        &state.login_limiter,
        &body.email,
        &body.password,
        peer,
        state.config.session_ttl,
    )
    .await?;
    let cookie = crate::access::session_cookie(&state, &session.token);
    if let Some(slot) = &audit {
        slot.actor(&user);
    }
    tracing::info!(user = %user.id, role = user.role.as_str(), "logged in");
    Ok((
        jar.add(cookie),
        Json(LoginResponse {
            token: session.token,
            user,
            expires_at: crate::db::rfc3339(session.expires_at),
        }),
    ))
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
) -> AppResult<Response> {
    crate::auth::revoke_session(&state.db, &principal.token).await?;
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((StatusCode::NO_CONTENT, jar).into_response())
}

pub(crate) async fn me(principal: Principal) -> Json<User> {
    Json(principal.user)
}

/// `PATCH /api/auth/me` `{phone}`: what a user may change of their own profile.
pub(crate) async fn update_me(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<crate::users::ProfileUpdate>,
) -> AppResult<Json<User>> {
    Ok(Json(
        crate::users::update_profile(&state.db, &principal.user.id, body).await?,
    ))
}

#[derive(Serialize)]
pub(crate) struct TenantList {
    tenants: Vec<Tenant>,
}

pub(crate) async fn list_tenants(
    State(state): State<AppState>,
    _admin: Admin,
) -> AppResult<Json<TenantList>> {
    Ok(Json(TenantList {
        tenants: tenants::list(&state.db).await?,
    }))
}

pub(crate) async fn create_tenant(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<NewTenant>,
) -> AppResult<(StatusCode, Json<Tenant>)> {
    Ok((
        StatusCode::CREATED,
        Json(tenants::create(&state.db, body).await?),
    ))
}

pub(crate) async fn get_tenant(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> AppResult<Json<Tenant>> {
    Ok(Json(tenants::get(&state.db, &id).await?))
}

pub(crate) async fn update_tenant(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TenantUpdate>,
) -> AppResult<Json<Tenant>> {
    let before = tenants::get(&state.db, &id).await?;
    let tenant = tenants::update(&state.db, &id, body).await?;
    if tenant.timezone != before.timezone {
        // Stats count the tenant's local days.
        crate::calls::rollups::rebuild(&state.db, &id).await?;
    }
    crate::purchases::on_subscription_change(
        &state,
        &id,
        &before.subscription_status,
        &tenant.subscription_status,
    )
    .await?;
    Ok(Json(tenant))
}

pub(crate) async fn delete_tenant(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    tenants::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UserFilter {
    tenant_id: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct UserList {
    users: Vec<User>,
}

pub(crate) async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    Query(filter): Query<UserFilter>,
) -> AppResult<Json<UserList>> {
    Ok(Json(UserList {
        users: users::list(&state.db, filter.tenant_id.as_deref()).await?,
    }))
}

pub(crate) async fn create_user(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<NewUser>,
) -> AppResult<(StatusCode, Json<User>)> {
    Ok((
        StatusCode::CREATED,
        Json(users::create(&state.db, body).await?),
    ))
}

pub(crate) async fn get_user(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> AppResult<Json<User>> {
    Ok(Json(users::get(&state.db, &id).await?))
}

pub(crate) async fn update_user(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserUpdate>,
) -> AppResult<Json<User>> {
    Ok(Json(crate::auth::update_user(&state.db, &id, body).await?))
}

pub(crate) async fn delete_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if admin.user.id == id {
        return Err(crate::error::AppError::Conflict(
            "you cannot delete your own account".into(),
        ));
    }
    users::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn get_twilio_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(company_id): Path<String>,
) -> AppResult<Json<TwilioConfigView>> {
    principal.tenant_scope(&state, &company_id, None).await?;
    Ok(Json(telephony::view(&state.db, &company_id).await?))
}

/// A question typed into the receptionist's "try it" box.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TryReceptionist {
    question: String,
}

/// `POST /api/companies/{companyId}/twilio/agent/try`: what the AI receptionist would
/// answer to a caller's first words, through the same code as a call.
pub(crate) async fn try_receptionist(
    State(state): State<AppState>,
    principal: Principal,
    Path(company_id): Path<String>,
    ApiJson(body): ApiJson<TryReceptionist>,
) -> AppResult<Json<serde_json::Value>> {
    principal.tenant_scope(&state, &company_id, None).await?;
    let question = body.question.trim();
    if question.is_empty() || question.chars().count() > 500 {
        return Err(crate::error::AppError::field(
            "question",
            "must be 1 to 500 characters",
        ));
    }
    let settings = telephony::effective(&state.db, &company_id, &state.config.routing).await?;
    let answer = crate::receptionist::try_question(&settings, question, jiff::Timestamp::now());
    Ok(Json(serde_json::json!({
        "question": question,
        "answer": answer.text,
        "action": answer.action.as_str(),
        "topic": answer.topic.map(crate::receptionist::Topic::as_str),
    })))
}

pub(crate) async fn put_twilio_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(company_id): Path<String>,
    ApiJson(body): ApiJson<TwilioConfigUpdate>,
) -> AppResult<Json<TwilioConfigView>> {
    principal.tenant_scope(&state, &company_id, None).await?;
    if body.share_account == Some(true) && principal.user.role != users::Role::Admin {
        return Err(crate::error::AppError::Forbidden(
            "only an admin may let tenants share a Twilio account",
        ));
    }
    let view = telephony::update(&state.db, &state.secrets, &company_id, body).await?;
    tracing::info!(tenant = %company_id, by = %principal.user.id, "telephony settings changed");
    Ok(Json(view))
}

#[derive(Serialize)]
pub(crate) struct AuditList {
    entries: Vec<crate::audit::Entry>,
}

/// `GET /api/admin/audit`: every tenant's entries and the platform's, with filters.
pub(crate) async fn admin_audit(
    State(state): State<AppState>,
    _admin: Admin,
    Query(filter): Query<crate::audit::Filter>,
) -> AppResult<Json<AuditList>> {
    Ok(Json(AuditList {
        entries: crate::audit::list(&state.db, &filter, None).await?,
    }))
}

/// `GET /api/audit`: an account owner's view of their tenant's entries (an admin's of
/// everything, as [`admin_audit`]).
pub(crate) async fn tenant_audit(
    State(state): State<AppState>,
    principal: Principal,
    Query(filter): Query<crate::audit::Filter>,
) -> AppResult<Json<AuditList>> {
    let tenant = if principal.is_admin() {
        None
    } else {
        Some(principal.owned_tenant(&state, "settings").await?)
    };
    Ok(Json(AuditList {
        entries: crate::audit::list(&state.db, &filter, tenant.as_deref()).await?,
    }))
}
