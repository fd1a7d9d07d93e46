//! Rate limits on the API and the portal, so one runaway client (a script in a loop, a
//! stuck integration) cannot take the service from everyone else.
//!
//! A request that carries a session (bearer token or session cookie) counts against
//! that session's quota; one without, and every login, against its client address's
//! (the trusted proxy header's address behind a proxy, see
//! [`crate::auth::client_address`]). Both are GCRA buckets: a minute's worth may come
//! at once, then they refill evenly. Past the quota: 429, `Retry-After` and the JSON
//! error shape. Twilio's webhooks, health checks, metrics and static files are never
//! limited (Twilio does not retry a 429: the caller would hear an error).

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::access::{ClientAddress, SESSION_COOKIE};
use crate::config::RateLimits;
use crate::error::AppError;
use crate::state::AppState;

/// The limiters of one server.
pub struct Limiters {
    /// Per session, keyed by a digest of its token (the token itself is not kept).
    sessions: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    /// Per client address.
    clients: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiters")
            .field("sessions", &self.sessions.is_some())
            .field("clients", &self.clients.is_some())
            .finish()
    }
}

fn keyed<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

impl Limiters {
    /// Limiters for `limits` (a 0 turns one off).
    pub fn new(limits: RateLimits) -> Self {
        Self {
            sessions: keyed(limits.per_session),
            clients: keyed(limits.per_client),
        }
    }

    /// Forgets keys whose buckets are full again (housekeeping).
    pub fn forget_idle(&self) {
        if let Some(l) = &self.sessions {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.clients {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

fn session_token(request: &Request) -> Option<String> {
    if let Some(token) = crate::access::bearer_token(request.headers()) {
        return Some(token.to_owned());
    }
    CookieJar::from_headers(request.headers())
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
}

/// Paths no limit applies to: what a page load fetches besides the page.
fn exempt(path: &str) -> bool {
    path.starts_with("/static/")
}

/// Whether this request is a login (limited by address even with a stale cookie).
fn is_login(request: &Request) -> bool {
    request.method() == axum::http::Method::POST
        && matches!(request.uri().path(), "/api/auth/login" | "/login")
}

/// The layer.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let api = request.uri().path().starts_with("/api/");
    let limiters = &state.limiters;
    let clock = DefaultClock::default();
    let refused = match session_token(&request).filter(|_| !is_login(&request)) {
        Some(token) => limiters.sessions.as_ref().and_then(|l| {
            use sha2::Digest as _;
            let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
            l.check_key(&key)
                .err()
                .map(|not_until| ("session", not_until.wait_time_from(clock.now())))
        }),
        None => ClientAddress::of(&request, &state).and_then(|ip| {
            limiters.clients.as_ref().and_then(|l| {
                l.check_key(&ip)
                    .err()
                    .map(|not_until| ("client", not_until.wait_time_from(clock.now())))
            })
        }),
    };
    match refused {
        None => next.run(request).await,
        Some((limit, wait)) => {
            crate::telemetry::rate_limited(limit);
            // Whole seconds, rounded up: a client that waits that long gets through.
            let retry_after_secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            let error = AppError::RateLimited { retry_after_secs };
            // The API answers its JSON error; the portal a page saying so.
            let mut response = if api {
                error.into_response()
            } else {
                crate::web::WebError::from(error).into_response()
            };
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_lets_a_minutes_worth_through_then_refuses() {
        let limiter = keyed::<u8>(3).expect("on");
        assert!(limiter.check_key(&1).is_ok());
        assert!(limiter.check_key(&1).is_ok());
        assert!(limiter.check_key(&1).is_ok());
        let refused = limiter.check_key(&1).expect_err("the fourth is refused");
        let wait = refused.wait_time_from(DefaultClock::default().now());
        assert!(
            wait.as_secs() <= 20,
            "one request refills in 20 s: {wait:?}"
        );
        // Another key has its own bucket.
        assert!(limiter.check_key(&2).is_ok());
    }

    #[test]
    fn zero_turns_a_limit_off() {
        assert!(keyed::<u8>(0).is_none());
    }
}
