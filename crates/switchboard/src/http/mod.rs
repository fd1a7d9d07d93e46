//! The HTTP surface: routes, middleware, and the one place errors become responses.

pub mod api;
pub mod extract;
pub mod ops;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::{get, post};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::error::AppError;

/// JSON bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a per-process random prefix and a counter, cheap and unique.
#[derive(Clone)]
struct RequestIds {
    prefix: String,
    counter: std::sync::Arc<AtomicU64>,
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.prefix)
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// Builds the whole application router.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/auth/login", post(api::login))
        .route("/api/auth/logout", post(api::logout))
        .route("/api/auth/me", get(api::me))
        .route(
            "/api/admin/tenants",
            get(api::list_tenants).post(api::create_tenant),
        )
        .route(
            "/api/admin/tenants/{id}",
            get(api::get_tenant)
                .patch(api::update_tenant)
                .put(api::update_tenant)
                .delete(api::delete_tenant),
        )
        .route(
            "/api/admin/users",
            get(api::list_users).post(api::create_user),
        )
        .route(
            "/api/admin/users/{id}",
            get(api::get_user)
                .patch(api::update_user)
                .put(api::update_user)
                .delete(api::delete_user),
        )
        .route(
            "/api/companies/{company_id}/twilio/config",
            get(api::get_twilio_config).put(api::put_twilio_config),
        )
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async { AppError::NotFound }),
        );

    let ids = RequestIds {
        prefix: crate::db::new_id("req").trim_start_matches("req_")[..8].to_owned(),
        counter: std::sync::Arc::new(AtomicU64::new(1)),
    };
    Router::new()
        .merge(api)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                // The path only: query strings can carry phone numbers.
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), ids))
        .with_state(state)
}
