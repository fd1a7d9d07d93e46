//! The HTTP surface: routes, middleware, and the one place errors become responses.

pub mod api;
pub mod calls_api;
pub mod extract;
pub mod numbers_api;
pub mod ops;
pub mod webhooks;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::{get, patch, post};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

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

/// API answers carry tenant data (or errors about it): no cache, shared or private,
/// may keep them.
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    response
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
            "/api/twilio/call-logs",
            get(calls_api::list).delete(calls_api::delete_own),
        )
        .route("/api/twilio/call-logs/stats", get(calls_api::stats))
        .route(
            "/api/twilio/call-logs/{call_sid}",
            get(calls_api::detail).delete(calls_api::delete_for_tenant),
        )
        .route(
            "/api/twilio/call-logs/{call_sid}/summary",
            get(calls_api::summary),
        )
        .route("/api/twilio/configuration", get(calls_api::configuration))
        .route(
            "/api/twilio/recording/{recording_sid}",
            get(calls_api::recording),
        )
        .route(
            "/api/twilio/voicemail/{call_sid}",
            get(calls_api::voicemail),
        )
        .route(
            "/api/customer-notifications/unread-counts",
            get(calls_api::unread_counts),
        )
        .route(
            "/api/customer-notifications/mark-read/{section}",
            post(calls_api::mark_read),
        )
        .route(
            "/api/customer-notifications/mark-all-read",
            post(calls_api::mark_all_read),
        )
        .route("/api/admin/unrouted-calls", get(calls_api::unrouted))
        .route("/api/twilio/numbers", get(numbers_api::list))
        .route("/api/twilio/connect", post(numbers_api::connect))
        .route(
            "/api/twilio/update-message/{clinic_id}",
            patch(numbers_api::update_message),
        )
        .route(
            "/api/twilio/disconnect/{clinic_id}",
            patch(numbers_api::disconnect),
        )
        .route(
            "/api/twilio/test-credentials",
            get(numbers_api::test_credentials),
        )
        .route(
            "/api/companies/{company_id}/twilio/test-credentials",
            post(numbers_api::test_own_credentials),
        )
        .route("/api/messages", get(calls_api::list_messages))
        .route(
            "/api/contacts/{id}",
            get(calls_api::get_contact)
                .patch(calls_api::update_contact)
                .delete(calls_api::delete_contact),
        )
        .route(
            "/api/contacts",
            get(calls_api::list_contacts).post(calls_api::create_contact),
        )
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async { AppError::NotFound }),
        )
        .layer(axum::middleware::map_response(no_store));

    // Twilio's webhooks: signature-checked, form-encoded, answered with TwiML.
    let twilio_hooks = Router::new()
        .route("/api/twilio/voice/incoming", post(webhooks::incoming))
        .route("/api/twilio/voice", post(webhooks::incoming))
        .route("/api/webhooks/twilio/voice", post(webhooks::incoming))
        .route(
            "/api/twilio/voice/status-callback",
            post(webhooks::status_callback),
        )
        .route(
            "/api/webhooks/twilio/voice/status",
            post(webhooks::status_callback),
        )
        .route("/api/twilio/call-status", post(webhooks::status_callback))
        .route("/api/twilio/voice/dial-status", post(webhooks::dial_status))
        .route("/api/twilio/voice/whisper", post(webhooks::whisper))
        .route(
            "/api/twilio/voice/voicemail",
            get(webhooks::voicemail).post(webhooks::voicemail),
        )
        .route(
            "/api/twilio/voice/voicemail-status",
            post(webhooks::voicemail_status),
        )
        .route(
            "/api/twilio/voice/recording-status",
            post(webhooks::recording_status),
        )
        .route(
            "/api/twilio/recording-status",
            post(webhooks::recording_status),
        )
        .route(
            "/api/twilio/voice/transcription",
            post(webhooks::transcription),
        )
        .route("/api/twilio/sms", post(webhooks::sms))
        .route("/api/webhooks/twilio/sms", post(webhooks::sms))
        .route("/api/twilio/sms/status", post(webhooks::sms_status))
        .route("/api/twilio/ci-status", post(webhooks::ci_status));

    let ids = RequestIds {
        prefix: crate::db::new_id("req").trim_start_matches("req_")[..8].to_owned(),
        counter: std::sync::Arc::new(AtomicU64::new(1)),
    };
    Router::new()
        .merge(twilio_hooks)
        .merge(api)
        .merge(crate::web::router(state.clone()))
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
            })
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), ids))
        .with_state(state)
}
