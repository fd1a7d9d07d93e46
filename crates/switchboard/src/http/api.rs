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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoginResponse {
    token: String,
    user: User,
    #[serde(rename = "expiresAt")]
    expires_at: String,
}

#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    summary = "Sign in; answers a bearer token and sets the session cookie",
    request_body = LoginRequest,
    responses((status = 200, description = "Signed in", body = LoginResponse), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 503, description = "Busy; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
)]
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

#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    summary = "Sign out (revokes the session)",
    responses((status = 204, description = "Signed out"), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
) -> AppResult<Response> {
    crate::auth::revoke_session(&state.db, &principal.token).await?;
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((StatusCode::NO_CONTENT, jar).into_response())
}

#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    summary = "The signed-in user",
    responses((status = 200, description = "The user", body = User), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn me(principal: Principal) -> Json<User> {
    Json(principal.user)
}

/// `PATCH /api/auth/me` `{phone}`: what a user may change of their own profile.
#[utoipa::path(
    patch,
    path = "/api/auth/me",
    tag = "auth",
    summary = "Change your own profile (phone)",
    request_body = crate::users::ProfileUpdate,
    responses((status = 200, description = "The user", body = User), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn update_me(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<crate::users::ProfileUpdate>,
) -> AppResult<Json<User>> {
    Ok(Json(
        crate::users::update_profile(&state.db, &principal.user.id, body).await?,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TenantList {
    tenants: Vec<Tenant>,
}

#[utoipa::path(
    get,
    path = "/api/admin/tenants",
    tag = "admin",
    summary = "Every tenant",
    responses((status = 200, description = "Tenants", body = TenantList), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn list_tenants(
    State(state): State<AppState>,
    _admin: Admin,
) -> AppResult<Json<TenantList>> {
    Ok(Json(TenantList {
        tenants: tenants::list(&state.db).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/api/admin/tenants",
    tag = "admin",
    summary = "Create a tenant",
    request_body = NewTenant,
    responses((status = 201, description = "Created", body = Tenant), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn create_tenant(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<NewTenant>,
) -> AppResult<(StatusCode, Json<Tenant>)> {
    let tenant = tenants::create(&state.db, body).await?;
    if let Some(slot) = &admin.audit {
        slot.created(&tenant.id, Some(&tenant.id));
    }
    Ok((StatusCode::CREATED, Json(tenant)))
}

#[utoipa::path(
    get,
    path = "/api/admin/tenants/{id}",
    tag = "admin",
    summary = "A tenant",
    params(("id" = String, Path)),
    responses((status = 200, description = "The tenant", body = Tenant), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn get_tenant(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> AppResult<Json<Tenant>> {
    Ok(Json(tenants::get(&state.db, &id).await?))
}

#[utoipa::path(
    method(patch, put),
    path = "/api/admin/tenants/{id}",
    tag = "admin",
    summary = "Change a tenant",
    params(("id" = String, Path)),
    request_body = TenantUpdate,
    responses((status = 200, description = "The tenant", body = Tenant), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
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

#[utoipa::path(
    delete,
    path = "/api/admin/tenants/{id}",
    tag = "admin",
    summary = "Delete a tenant and everything it owns",
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn delete_tenant(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    tenants::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UserFilter {
    tenant_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserList {
    users: Vec<User>,
}

#[utoipa::path(
    get,
    path = "/api/admin/users",
    tag = "admin",
    summary = "Users, optionally of one tenant",
    params(UserFilter),
    responses((status = 200, description = "Users", body = UserList), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    filter: Result<Query<UserFilter>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<UserList>> {
    let Query(filter) = filter.map_err(|e| crate::error::AppError::BadRequest(e.body_text()))?;
    Ok(Json(UserList {
        users: users::list(&state.db, filter.tenant_id.as_deref()).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/api/admin/users",
    tag = "admin",
    summary = "Create a user",
    request_body = NewUser,
    responses((status = 201, description = "Created", body = User), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<NewUser>,
) -> AppResult<(StatusCode, Json<User>)> {
    let user = users::create(&state.db, body).await?;
    if let Some(slot) = &admin.audit {
        slot.created(&user.id, user.tenant_id.as_deref());
    }
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(
    get,
    path = "/api/admin/users/{id}",
    tag = "admin",
    summary = "A user",
    params(("id" = String, Path)),
    responses((status = 200, description = "The user", body = User), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> AppResult<Json<User>> {
    Ok(Json(users::get(&state.db, &id).await?))
}

#[utoipa::path(
    method(patch, put),
    path = "/api/admin/users/{id}",
    tag = "admin",
    summary = "Change a user",
    params(("id" = String, Path)),
    request_body = UserUpdate,
    responses((status = 200, description = "The user", body = User), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserUpdate>,
) -> AppResult<Json<User>> {
    Ok(Json(crate::auth::update_user(&state.db, &id, body).await?))
}

#[utoipa::path(
    delete,
    path = "/api/admin/users/{id}",
    tag = "admin",
    summary = "Delete a user",
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
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

#[utoipa::path(
    get,
    path = "/api/companies/{company_id}/twilio/config",
    tag = "settings",
    summary = "A tenant's telephony settings (secrets never returned)",
    params(("company_id" = String, Path)),
    responses((status = 200, description = "The settings", body = TwilioConfigView), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn get_twilio_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(company_id): Path<String>,
) -> AppResult<Json<TwilioConfigView>> {
    principal.tenant_scope(&state, &company_id, None).await?;
    Ok(Json(telephony::view(&state.db, &company_id).await?))
}

/// A question typed into the receptionist's "try it" box.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TryReceptionist {
    question: String,
}

/// `POST /api/companies/{companyId}/twilio/agent/try`: what the AI receptionist would
/// answer to a caller's first words, through the same code as a call.
#[utoipa::path(
    post,
    path = "/api/companies/{company_id}/twilio/agent/try",
    tag = "settings",
    summary = "Ask the AI receptionist a question, as a caller would",
    params(("company_id" = String, Path)),
    request_body = TryReceptionist,
    responses((status = 200, description = "What it would say", body = crate::http::openapi::ReceptionistAnswer), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
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

#[utoipa::path(
    put,
    path = "/api/companies/{company_id}/twilio/config",
    tag = "settings",
    summary = "Change a tenant's telephony settings (absent fields stay, null clears)",
    params(("company_id" = String, Path)),
    request_body = TwilioConfigUpdate,
    responses((status = 200, description = "The settings", body = TwilioConfigView), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
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
    let credentials = body.credentials_changed();
    let view = telephony::update(&state.db, &state.secrets, &company_id, body).await?;
    if let Some(slot) = principal.audit.as_ref().filter(|_| !credentials.is_empty()) {
        slot.detail(format!("credentials: {}", credentials.join(", ")));
    }
    tracing::info!(tenant = %company_id, by = %principal.user.id, "telephony settings changed");
    Ok(Json(view))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditList {
    entries: Vec<crate::audit::Entry>,
}

/// `GET /api/admin/audit`: every tenant's entries and the platform's, with filters.
#[utoipa::path(
    get,
    path = "/api/admin/audit",
    tag = "operations",
    summary = "The audit log, every tenant's",
    params(crate::audit::Filter),
    responses((status = 200, description = "Entries, newest first", body = AuditList), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn admin_audit(
    State(state): State<AppState>,
    _admin: Admin,
    filter: Result<Query<crate::audit::Filter>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<AuditList>> {
    let Query(filter) = filter.map_err(|e| crate::error::AppError::BadRequest(e.body_text()))?;
    Ok(Json(AuditList {
        entries: crate::audit::list(&state.db, &filter, None).await?,
    }))
}

/// `GET /api/audit`: an account owner's view of their tenant's entries (an admin's of
/// everything, as [`admin_audit`]).
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "operations",
    summary = "An account owner's audit log (an admin's: every tenant's)",
    params(crate::audit::Filter),
    responses((status = 200, description = "Entries, newest first", body = AuditList), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn tenant_audit(
    State(state): State<AppState>,
    principal: Principal,
    filter: Result<Query<crate::audit::Filter>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<AuditList>> {
    let Query(filter) = filter.map_err(|e| crate::error::AppError::BadRequest(e.body_text()))?;
    let tenant = if principal.is_admin() {
        None
    } else {
        Some(principal.owned_tenant(&state, "settings").await?)
    };
    Ok(Json(AuditList {
        entries: crate::audit::list(&state.db, &filter, tenant.as_deref()).await?,
    }))
}
