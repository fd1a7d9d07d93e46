//! The portal: server-rendered pages over the same domain modules as the JSON API.
//! No build step — askama templates compiled into the binary, one stylesheet and a
//! few lines of plain JavaScript served from memory. Every page works without
//! JavaScript; forms post back and are re-rendered with the server's field errors.

mod admin;
mod audit;
pub mod chart;
mod forms;
mod tenant;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use serde::Deserialize;

use crate::access::{ClientAddress, Principal, SESSION_COOKIE, same_origin, session_cookie};
use crate::error::AppError;
use crate::state::AppState;
use crate::users::Role;
pub(crate) use forms::FormData;

/// The portal's routes.
pub fn router(state: AppState) -> crate::routes::Routes {
    crate::routes::Routes::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .route("/static/softphone.js", get(softphone_script))
        .route("/static/vendor/twilio-voice-sdk.min.js", get(voice_sdk))
        .merge(tenant::router())
        .merge(admin::router())
        .merge(audit::router())
        .map(|r| {
            r.fallback(not_found)
                .layer(axum::middleware::from_fn_with_state(
                    state,
                    error_page_chrome,
                ))
                .layer(axum::middleware::map_response(security_headers))
        })
}

/// Any other path (a mistyped link, an old bookmark): the portal's not-found page, drawn
/// inside the signed-in user's navigation by `error_page_chrome`. Paths under `/api`
/// answer JSON instead (their own catch-all route).
async fn not_found() -> WebError {
    AppError::NotFound.into()
}

/// What an error page said, so that it can be drawn again with the user's navigation.
#[derive(Debug, Clone)]
struct ErrorFacts {
    title: String,
    message: String,
}

/// Error pages are drawn where the user is unknown; when the request had a live
/// session, draw them again inside that user's navigation.
async fn error_page_chrome(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let token = CookieJar::from_headers(request.headers())
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_owned());
    let response = next.run(request).await;
    let (Some(facts), Some(token)) = (response.extensions().get::<ErrorFacts>().cloned(), token)
    else {
        return response;
    };
    let Ok(Some(user)) = crate::auth::resolve_session(&state.db, &token).await else {
        return response;
    };
    let user = PageUser(Principal {
        user,
        token,
        audit: None,
    });
    match Chrome::for_user(&state, &user, &facts.title, "").await {
        Ok(chrome) => (
            response.status(),
            ErrorPage {
                chrome,
                title: facts.title,
                message: facts.message,
            },
        )
            .into_response(),
        Err(_) => response,
    }
}

/// Pages load nothing from elsewhere, run no inline script, and are not framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; media-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers
            .entry(name)
            .or_insert(axum::http::HeaderValue::from_static(value));
    }
    response
}

/// What went wrong while serving a page: not logged in (go to the login page), or an
/// application error shown as a page with its status.
#[derive(Debug)]
pub enum WebError {
    /// No session: redirect to the login page, then back to `next`.
    Login {
        /// Where to return after logging in.
        next: String,
    },
    /// Anything else.
    App(AppError),
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        Self::App(e.into())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    title: String,
    message: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            Self::Login { next } => {
                let target = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Redirect::to(&target).into_response()
            }
            Self::App(e) => {
                let status = e.status();
                if let AppError::Internal(cause) = &e {
                    tracing::error!(error = %cause, "page failed");
                }
                let (title, message) = match &e {
                    AppError::NotFound => (
                        "Not found".to_owned(),
                        "There is nothing here, or it belongs to another account.".to_owned(),
                    ),
                    AppError::Forbidden(why) => (
                        "Not available to your account".to_owned(),
                        format!("{}. Ask the account owner for access.", capitalise(why)),
                    ),
                    AppError::Internal(_) => (
                        "Something went wrong".to_owned(),
                        "The error was logged. Please try again.".to_owned(),
                    ),
                    other => ("That did not work".to_owned(), other.to_string()),
                };
                let facts = ErrorFacts {
                    title: title.clone(),
                    message: message.clone(),
                };
                let page = ErrorPage {
                    chrome: Chrome {
                        offer_sign_out: true,
                        ..Chrome::anonymous(&title)
                    },
                    title,
                    message,
                };
                let mut response = (status, page).into_response();
                response.extensions_mut().insert(facts);
                response
            }
        }
    }
}

/// Page handlers' result.
pub type PageResult<T = Response> = Result<T, WebError>;

/// A logged-in user of the portal (session cookie). Unlike the API's [`Principal`],
/// a missing session sends the browser to the login page.
#[derive(Debug, Clone)]
pub struct PageUser(pub Principal);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/".to_owned(), |pq| pq.as_str().to_owned());
        match Principal::from_request_parts(parts, state).await {
            Ok(p) => Ok(Self(p)),
            Err(AppError::Unauthorized) => Err(WebError::Login { next }),
            Err(e) => Err(WebError::App(e)),
        }
    }
}

impl PageUser {
    /// The user's tenant, with access to `page` checked (admins have no tenant here).
    pub async fn tenant_for(
        &self,
        state: &AppState,
        page: &str,
    ) -> Result<crate::tenants::TenantId, WebError> {
        if self.0.is_admin() {
            return Err(AppError::Forbidden(
                "this page belongs to a tenant's users; admins use the admin pages",
            )
            .into());
        }
        Ok(self.0.tenant(state, Some(page), None).await?)
    }

    /// Requires the platform operator.
    pub fn admin(&self) -> Result<(), WebError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden("only platform admins may open this page").into())
        }
    }
}

/// One entry of the navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Where it goes.
    pub href: &'static str,
    /// What it says.
    pub label: &'static str,
    /// Whether it is the page being shown.
    pub current: bool,
    /// Unread count shown as a badge.
    pub badge: i64,
}

/// What every page's frame needs: title, navigation and who is logged in.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// `<title>` and the main heading.
    pub title: String,
    /// Navigation for this user.
    pub nav: Vec<NavItem>,
    /// Logged-in user's email (none on the login page).
    pub email: Option<String>,
    /// Their role, as shown.
    pub role: String,
    /// The tenant's name, for tenant users.
    pub tenant_name: Option<String>,
    /// Error pages do not know who is asking, so they offer a way out regardless.
    pub offer_sign_out: bool,
    /// The tenant user's unread counts (zeros for admins), read once per page.
    pub unread: crate::notifications::UnreadCounts,
}

/// Pages of a tenant's users, in navigation order, with the permission each needs.
const TENANT_PAGES: &[(&str, &str, &str)] = &[
    ("/dashboard", "Dashboard", "dashboard"),
    ("/call-logs", "Call logs", "call-logs"),
    ("/calls", "Calls", "calls"),
    ("/messages", "Messages", "messages"),
    ("/contacts", "Contacts", "contacts"),
    ("/appointments", "Appointments", "appointments"),
    ("/settings", "Settings", "settings"),
];

const ADMIN_PAGES: &[(&str, &str)] = &[
    ("/admin/tenants", "Tenants"),
    ("/admin/users", "Users"),
    ("/admin/numbers", "Numbers"),
    ("/admin/unrouted", "Unrouted calls"),
    ("/admin/jobs", "Jobs"),
    ("/admin/health", "Health"),
    ("/admin/audit", "Audit log"),
];

impl Chrome {
    fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            ..Self::default()
        }
    }

    /// The frame for `user` on the page at `current`.
    pub async fn for_user(
        state: &AppState,
        user: &PageUser,
        title: &str,
        current: &str,
    ) -> Result<Self, WebError> {
        let u = &user.0.user;
        let mut nav = Vec::new();
        let mut tenant_name = None;
        let mut unread = crate::notifications::UnreadCounts::default();
        match u.role {
            Role::Admin => {
                for (href, label) in ADMIN_PAGES {
                    nav.push(NavItem {
                        href,
                        label,
                        current: *href == current,
                        badge: 0,
                    });
                }
            }
            Role::Customer | Role::Receptionist => {
                let tenant = u.tenant_id.clone().unwrap_or_default();
                tenant_name = crate::tenants::get(&state.db, &tenant)
                    .await
                    .ok()
                    .map(|t| t.name);
                unread = crate::notifications::unread(&state.db, &u.id, &tenant).await?;
                for (href, label, page) in TENANT_PAGES {
                    if !u.may_open(page) {
                        continue;
                    }
                    nav.push(NavItem {
                        href,
                        label,
                        current: *href == current,
                        badge: match *page {
                            "call-logs" => unread.call_logs,
                            "messages" => unread.messages,
                            _ => 0,
                        },
                    });
                }
            }
        }
        Ok(Self {
            title: title.to_owned(),
            nav,
            email: Some(u.email.clone()),
            role: match u.role {
                Role::Admin => "Platform admin",
                Role::Customer => "Owner",
                Role::Receptionist => "Staff",
            }
            .to_owned(),
            tenant_name,
            offer_sign_out: false,
            unread,
        })
    }
}

/// The first page a user may open.
fn landing(user: &crate::users::User) -> &'static str {
    if user.role == Role::Admin {
        return "/admin/tenants";
    }
    TENANT_PAGES
        .iter()
        .find(|(_, _, page)| user.may_open(page))
        .map_or("/no-access", |(href, _, _)| *href)
}

async fn home(user: PageUser) -> Redirect {
    Redirect::to(landing(&user.0.user))
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

/// Only same-site paths are followed after login (no open redirects). The value (already
/// decoded once from the form or query) must start with exactly one `/` followed by a
/// path character, hold no control character or backslash (browsers drop or reread
/// them: `/\t/evil.example` is `//evil.example` to them), and it is rebuilt from a URL
/// parse against our own origin rather than echoed, so the `Location` header is always
/// a valid, percent-encoded path.
fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?;
    if next.len() > 2048 || next.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let mut chars = next.chars();
    if chars.next() != Some('/') {
        return None;
    }
    if chars.next().is_some_and(|c| c == '/' || c.is_whitespace()) {
        return None;
    }
    let base = url::Url::parse("http://switchboard.invalid/").ok()?;
    let joined = base.join(next).ok()?;
    if joined.origin() != base.origin() {
        return None;
    }
    Some(joined[url::Position::BeforePath..].to_owned())
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    email: String,
    next: String,
    error: Option<String>,
}

async fn login_page(
    q: Result<Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> LoginPage {
    let next = q.ok().and_then(|Query(q)| safe_next(q.next.as_deref()));
    LoginPage {
        chrome: Chrome::anonymous("Sign in"),
        email: String::new(),
        next: next.unwrap_or_default(),
        error: None,
    }
}

async fn login_submit(
    State(state): State<AppState>,
    ClientAddress(peer): ClientAddress,
    audit: Option<axum::Extension<crate::audit::Slot>>,
    jar: CookieJar,
    parts: forms::RequestHead,
    form: FormData,
) -> PageResult {
    if !same_origin(&parts.0) {
        return Err(AppError::Forbidden("cross-site request refused").into());
    }
    let email = form.get("email").unwrap_or_default().to_owned();
    let password = form.get("password").unwrap_or_default();
    let next = safe_next(form.get("next"));
    if let Some(slot) = &audit {
        slot.login_email(&email);
    }
    let again = |status: StatusCode, error: String| {
        (
            status,
            LoginPage {
                chrome: Chrome::anonymous("Sign in"),
                email: email.clone(),
                next: next.clone().unwrap_or_default(),
                error: Some(error),
            },
        )
            .into_response()
    };
    match crate::auth::login(
        &state.db,
        &state.login_limiter,
        &email,
        password,
        peer,
        state.config.session_ttl,
    )
    .await
    {
        Ok((user, session)) => {
            if let Some(slot) = &audit {
                slot.actor(&user);
            }
            tracing::info!(user = %user.id, role = user.role.as_str(), "logged in to the portal");
            let target = next.unwrap_or_else(|| landing(&user).to_owned());
            Ok((
                jar.add(session_cookie(&state, &session.token)),
                Redirect::to(&target),
            )
                .into_response())
        }
        Err(AppError::InvalidCredentials) => Ok(again(
            StatusCode::UNAUTHORIZED,
            "That email and password do not match an account.".into(),
        )),
        Err(AppError::RateLimited { retry_after_secs }) => {
            let mut page = again(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many attempts. {}", try_again_in(retry_after_secs)),
            );
            set_retry_after(&mut page, retry_after_secs);
            Ok(page)
        }
        Err(AppError::Busy { retry_after_secs }) => {
            let mut page = again(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "Many people are signing in right now. {}",
                    try_again_in(retry_after_secs)
                ),
            );
            set_retry_after(&mut page, retry_after_secs);
            Ok(page)
        }
        Err(e) => Err(e.into()),
    }
}

/// "Try again in 5 seconds." / "… in 3 minutes."
fn try_again_in(secs: u64) -> String {
    match secs {
        0..=1 => "Try again in a second.".to_owned(),
        2..=90 => format!("Try again in {secs} seconds."),
        _ => format!("Try again in {} minutes.", secs.div_ceil(60)),
    }
}

fn set_retry_after(response: &mut Response, secs: u64) {
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, secs.max(1).into());
}

async fn logout(State(state): State<AppState>, user: PageUser, jar: CookieJar) -> PageResult {
    crate::auth::revoke_session(&state.db, &user.0.token).await?;
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, Redirect::to("/login")).into_response())
}

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        CSS,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        JS,
    )
}

async fn softphone_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        tenant::calls::SOFTPHONE_JS,
    )
}

/// The vendored Voice SDK; its URL carries no version, so it is cached briefly too.
async fn voice_sdk() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        tenant::calls::VOICE_SDK,
    )
}

/// A message with its first letter capitalised.
pub(crate) fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Talk time as `m:ss`.
pub fn mmss(seconds: i64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_same_site_only() {
        assert_eq!(
            safe_next(Some("/call-logs?status=missed")).as_deref(),
            Some("/call-logs?status=missed")
        );
        assert_eq!(safe_next(Some("//evil.example/")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
        assert_eq!(safe_next(Some("https://evil.example/")), None);
        assert_eq!(safe_next(None), None);
        // Found by the probe: browsers drop tabs and newlines and read `\\` as `/`.
        for evil in [
            "/\t/evil.example",
            "/\t\\evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "/%09/evil.example\r\n",
            "/x\u{7f}",
            "/x\u{1}",
            "",
            "evil.example",
        ] {
            assert_eq!(safe_next(Some(evil)), None, "{evil:?}");
        }
        // What comes out is rebuilt and encoded, never echoed.
        assert_eq!(
            safe_next(Some("/call-logs?q=a b")).as_deref(),
            Some("/call-logs?q=a%20b")
        );
        assert_eq!(
            safe_next(Some("/a/../settings")).as_deref(),
            Some("/settings")
        );
    }

    #[test]
    fn talk_time() {
        assert_eq!(mmss(0), "0:00");
        assert_eq!(mmss(65), "1:05");
        assert_eq!(mmss(3600), "60:00");
    }
}
