//! Who may touch what, shared by the JSON API and the portal: JSON bodies that fail in
//! our error shape, the authenticated principal with its role guards, and the tenant
//! scope of a request.
//!
//! Guards are types: a handler that takes [`Admin`] cannot run for anyone else.
//! [`Principal::scope`] / [`Principal::tenant`] decide which tenant a request names may
//! be touched, [`Scoped`] does it as an extractor for routes that name the tenant in
//! the query, and [`Principal::tenant_scope`] checks a tenant found through a resource
//! (a call, a recording, a contact). Nothing else decides a tenant.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldErrors};
use crate::state::AppState;
use crate::tenants::{TenantId, TenantScope};
use crate::users::{Role, User};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sb_session";

/// A JSON body; malformed → 400, wrong shape → 422, too large → 413, not JSON → 415.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            AppError::UnsupportedMediaType("expected Content-Type: application/json")
        }
        StatusCode::UNPROCESSABLE_ENTITY => {
            let mut fields = FieldErrors::new();
            let text = rejection.body_text();
            let detail = text
                .split_once(": ")
                .map_or(text.as_str(), |(_, rest)| rest);
            fields.insert("body".into(), detail.to_owned());
            AppError::Validation(fields)
        }
        _ => AppError::BadRequest(format!("malformed JSON: {}", rejection.body_text())),
    }
}

/// The HttpOnly session cookie for `token`, living as long as the session.
pub(crate) fn session_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    let max_age = i64::try_from(state.config.session_ttl.as_secs()).unwrap_or(i64::MAX);
    Cookie::build((SESSION_COOKIE, token.to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.public_url.starts_with("https://"))
        .path("/")
        .max_age(time::Duration::seconds(max_age))
        .build()
}

/// Someone who logged in, by bearer token or session cookie.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// The token that authenticated this request.
    pub token: String,
    /// The request's audit note, when its route is audited: access decisions name the
    /// tenant acted on there.
    pub audit: Option<crate::audit::Slot>,
}

impl Principal {
    /// Whether this is the platform operator.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// Allows a tenant-scoped operation on `tenant_id`: admins on any tenant that
    /// exists, customers on their own. Another tenant's id looks exactly like a
    /// missing one (404), so ids cannot be probed. Receptionists need `page`.
    pub async fn tenant_scope(
        &self,
        state: &AppState,
        tenant_id: &str,
        page: Option<&str>,
    ) -> Result<(), AppError> {
        self.tenant_access(state, tenant_id, page).await?;
        if let Some(slot) = &self.audit {
            slot.tenant(tenant_id);
        }
        Ok(())
    }

    async fn tenant_access(
        &self,
        state: &AppState,
        tenant_id: &str,
        page: Option<&str>,
    ) -> Result<(), AppError> {
        match self.user.role {
            Role::Admin => {
                if crate::tenants::exists(&state.db, tenant_id).await? {
                    Ok(())
                } else {
                    Err(AppError::NotFound)
                }
            }
            Role::Customer | Role::Receptionist => {
                if self.user.tenant_id.as_deref() != Some(tenant_id) {
                    return Err(AppError::NotFound);
                }
                match page {
                    Some(page) if !self.user.may_open(page) => {
                        Err(AppError::Forbidden("your account may not open this page"))
                    }
                    None if self.user.role == Role::Receptionist => {
                        Err(AppError::Forbidden("only the account owner may do this"))
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// **The** decision for routes whose tenant the request names or implies. A tenant's
    /// users always get their own (effective) tenant, whatever they name; an admin gets
    /// the tenant named (`customerId`, `clinicId`, `companyId`; a missing one is 404) or,
    /// when none is named and `all_allowed`, every tenant — without it, 422 naming
    /// `customerId`. Receptionists also need `page` (`None`: the owner's routes).
    pub async fn scope(
        &self,
        state: &AppState,
        page: Option<&str>,
        named: Option<&str>,
        all_allowed: bool,
    ) -> Result<TenantScope, AppError> {
        let named = named.map(str::trim).filter(|s| !s.is_empty());
        let tenant = match (self.user.role, named) {
            (Role::Admin, None) if all_allowed => return Ok(TenantScope::All),
            (Role::Admin, None) => {
                return Err(AppError::field("customerId", "admins name the tenant"));
            }
            // Not even shaped like an id: nothing to look up.
            (Role::Admin, Some(t)) => TenantId::parse(t).ok_or(AppError::NotFound)?,
            (Role::Customer | Role::Receptionist, _) => self
                .user
                .tenant_id
                .clone()
                .map(TenantId::from_stored)
                .ok_or(AppError::NotFound)?,
        };
        self.tenant_scope(state, &tenant, page).await?;
        Ok(TenantScope::One(tenant))
    }

    /// [`Self::scope`] for routes that act on exactly one tenant.
    pub async fn tenant(
        &self,
        state: &AppState,
        page: Option<&str>,
        named: Option<&str>,
    ) -> Result<TenantId, AppError> {
        match self.scope(state, page, named, false).await? {
            TenantScope::One(t) => Ok(t),
            TenantScope::All => Err(AppError::NotFound),
        }
    }

    /// The principal's own tenant, when they are its account owner (a customer) and may
    /// open `page`: what destructive actions inside a tenant require.
    pub async fn owned_tenant(&self, state: &AppState, page: &str) -> Result<TenantId, AppError> {
        if self.user.role != Role::Customer {
            return Err(AppError::Forbidden("only the account owner may do this"));
        }
        self.tenant(state, Some(page), None).await
    }
}

/// The page of the product a route belongs to, declared by the route's handler through
/// [`Scoped`]'s type parameter.
pub trait OnPage: Send + Sync + 'static {
    /// What a receptionist must be granted (`None`: the tenant owner's routes).
    const PAGE: Option<&'static str>;
    /// Whether an admin who names no tenant reads every tenant.
    const ALL_TENANTS: bool;
}

/// The pages routes declare.
pub mod page {
    use super::OnPage;

    /// Call logs, their stats, recordings and voicemails.
    pub struct CallLogs;
    impl OnPage for CallLogs {
        const PAGE: Option<&'static str> = Some("call-logs");
        const ALL_TENANTS: bool = true;
    }

    /// Contacts.
    pub struct Contacts;
    impl OnPage for Contacts {
        const PAGE: Option<&'static str> = Some("contacts");
        const ALL_TENANTS: bool = false;
    }

    /// Appointments and the staff they are booked with.
    pub struct Appointments;
    impl OnPage for Appointments {
        const PAGE: Option<&'static str> = Some("appointments");
        const ALL_TENANTS: bool = false;
    }

    /// Texts.
    pub struct Messages;
    impl OnPage for Messages {
        const PAGE: Option<&'static str> = Some("messages");
        const ALL_TENANTS: bool = false;
    }
}

/// A principal with the tenant scope of the route's page `P`, the tenant named in the
/// query (`customerId`, or `clinicId`) as [`Principal::scope`] decides.
pub struct Scoped<P> {
    /// Who asked.
    pub principal: Principal,
    /// What they may read.
    pub scope: TenantScope,
    page: std::marker::PhantomData<P>,
}

impl<P> Scoped<P> {
    /// The one tenant in scope (routes of pages without `ALL_TENANTS` always have one).
    pub fn tenant(&self) -> Result<&TenantId, AppError> {
        match &self.scope {
            TenantScope::One(t) => Ok(t),
            TenantScope::All => Err(AppError::field("customerId", "admins name the tenant")),
        }
    }
}

/// The tenant a request names in its query string.
fn named_tenant(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "customerId" || k == "clinicId")
        .map(|(_, v)| v.into_owned())
}

impl<P: OnPage> FromRequestParts<AppState> for Scoped<P> {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let named = named_tenant(parts);
        let scope = principal
            .scope(state, P::PAGE, named.as_deref(), P::ALL_TENANTS)
            .await?;
        Ok(Self {
            principal,
            scope,
            page: std::marker::PhantomData,
        })
    }
}

/// The client's address: the connection's peer, or what the configured trusted proxy
/// header says (see [`crate::auth::client_address`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(ClientAddress::from_parts(
            state,
            &parts.extensions,
            &parts.headers,
        )))
    }
}

impl ClientAddress {
    /// The client's address for a whole request (in a layer, before extractors run).
    pub fn of<B>(request: &axum::http::Request<B>, state: &AppState) -> Option<std::net::IpAddr> {
        Self::from_parts(state, request.extensions(), request.headers())
    }

    fn from_parts(
        state: &AppState,
        extensions: &axum::http::Extensions,
        headers: &axum::http::HeaderMap,
    ) -> Option<std::net::IpAddr> {
        let peer = extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|ci| ci.0.ip());
        crate::auth::client_address(state.config.trusted_proxy_header.as_deref(), headers, peer)
    }
}

impl Principal {
    /// The principal a session resolved to; an audited request learns its actor.
    fn resolved(parts: &Parts, user: User, token: String) -> Self {
        let audit = parts.extensions.get::<crate::audit::Slot>().cloned();
        if let Some(slot) = &audit {
            slot.actor(&user);
        }
        Self { user, token, audit }
    }
}

/// The bearer token of a request, if it carries one.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn bearer(parts: &Parts) -> Option<String> {
    bearer_token(&parts.headers).map(str::to_owned)
}

/// Refuses cookie-authenticated writes that come from another site (CSRF). Bearer
/// tokens are not sent by browsers on their own, so they need no such check.
pub(crate) fn same_origin(parts: &Parts) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if let Some(site) = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (
        parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok()),
        parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => url::Url::parse(origin).ok().is_some_and(|o| {
            let origin_host = match o.port() {
                Some(port) => format!("{}:{port}", o.host_str().unwrap_or_default()),
                None => o.host_str().unwrap_or_default().to_owned(),
            };
            origin_host.eq_ignore_ascii_case(host)
        }),
        _ => true,
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer(parts) {
            let user = crate::auth::resolve_session(&state.db, &token)
                .await?
                .ok_or(AppError::Unauthorized)?;
            return Ok(Self::resolved(parts, user, token));
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .ok_or(AppError::Unauthorized)?;
        let user = crate::auth::resolve_session(&state.db, &token)
            .await?
            .ok_or(AppError::Unauthorized)?;
        if !same_origin(parts) {
            return Err(AppError::Forbidden("cross-site request refused"));
        }
        Ok(Self::resolved(parts, user, token))
    }
}

/// The platform operator; everyone else gets 403.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        if principal.is_admin() {
            Ok(Self(principal))
        } else {
            Err(AppError::Forbidden("admins only"))
        }
    }
}
