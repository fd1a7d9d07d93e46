//! The JSON API and Twilio's webhooks: their routes and handlers. The server
//! ([`crate::server`]) merges them with the portal and adds the shared layers.

pub mod api;
pub mod appointments_api;
pub mod calls_api;
pub mod jobs_api;
pub mod limits;
pub mod numbers_api;
pub mod openapi;
pub mod ops;
pub mod softphone_api;
pub mod telephony_api;
pub mod webhooks;

use axum::routing::{get, patch, post};

use crate::error::AppError;
use crate::paths;
use crate::routes::Routes;

/// JSON bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest telephony settings body (it carries the receptionist's knowledge base).
pub const SETTINGS_BODY_BYTES: usize = 1024 * 1024;

/// API answers carry tenant data (or errors about it): no cache, shared or private,
/// may keep them.
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    response
}

/// The JSON API: every route under `/api` but Twilio's.
pub fn api_router() -> Routes {
    Routes::new()
        .route("/api/auth/login", post(api::login))
        .route("/api/auth/logout", post(api::logout))
        .route("/api/auth/me", get(api::me).patch(api::update_me))
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
            get(api::get_twilio_config)
                .put(api::put_twilio_config)
                // A knowledge base is bigger than other bodies; its own limits (items,
                // characters) answer 422 with the field well before this.
                .layer(axum::extract::DefaultBodyLimit::max(SETTINGS_BODY_BYTES)),
        )
        .route(
            "/api/companies/{company_id}/twilio/agent/try",
            post(api::try_receptionist),
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
        .route(
            "/api/twilio/call-logs/{call_sid}/classification",
            axum::routing::put(calls_api::correct),
        )
        .route(
            "/api/twilio/call-logs/corrections.jsonl",
            get(calls_api::corrections_export),
        )
        .route("/api/twilio/ai-status", get(calls_api::ai_status))
        .route("/api/telephony/sms", post(telephony_api::send_sms))
        .route(
            "/api/twilio/access-token",
            post(softphone_api::access_token),
        )
        .route("/api/twilio/make-call", post(softphone_api::make_call))
        .route(
            "/api/telephony/appointment-confirmation",
            post(appointments_api::confirmation),
        )
        .route(
            "/api/telephony/appointment-reminder",
            post(appointments_api::reminder),
        )
        .route("/api/telephony/call-logs", get(telephony_api::call_logs))
        .route(
            "/api/telephony/phone-number",
            get(telephony_api::phone_number),
        )
        .route(
            "/api/appointments",
            get(appointments_api::list).post(appointments_api::create),
        )
        .route(
            "/api/appointments/{id}",
            get(appointments_api::get)
                .patch(appointments_api::update)
                .delete(appointments_api::delete),
        )
        .route(
            "/api/staff-members",
            get(appointments_api::list_staff).post(appointments_api::create_staff),
        )
        .route(
            "/api/staff-members/{id}",
            get(appointments_api::get_staff)
                .patch(appointments_api::update_staff)
                .delete(appointments_api::delete_staff),
        )
        .route(
            "/api/telephony/notifications",
            get(telephony_api::notifications),
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
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api/docs", get(openapi::docs_root))
        .route("/api/docs/", get(openapi::docs))
        .route("/api/docs/{*file}", get(openapi::docs))
        .route("/api/admin/audit", get(api::admin_audit))
        .route("/api/callers/forget", post(calls_api::forget_caller))
        .route("/api/audit", get(api::tenant_audit))
        .route("/api/admin/jobs", get(jobs_api::list))
        .route("/api/admin/jobs/{id}/retry", post(jobs_api::retry))
        .route("/api/admin/jobs/{id}/discard", post(jobs_api::discard))
        .route("/api/twilio/numbers", get(numbers_api::list))
        .route(
            "/api/twilio/numbers/fix-webhooks",
            post(numbers_api::fix_webhooks),
        )
        .route("/api/twilio/numbers/purchase", post(numbers_api::purchase))
        .route(
            "/api/twilio/numbers/{sid}",
            axum::routing::delete(numbers_api::release),
        )
        .route(
            "/api/twilio/numbers/{sid}/release",
            post(numbers_api::release),
        )
        .route("/api/twilio/available-numbers", get(numbers_api::available))
        .route(
            "/api/telephony/provision-phone",
            post(telephony_api::provision_phone),
        )
        .route(
            "/api/admin/notifications/dependency-health",
            get(numbers_api::dependency_health),
        )
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
        .map(|r| r.layer(axum::middleware::map_response(no_store)))
}

/// Twilio's webhooks.
pub fn webhook_router() -> Routes {
    // Twilio's webhooks: signature-checked, form-encoded, answered with TwiML. Mounted
    // from the same constants the call flow builds its callback URLs with.
    let mut twilio_hooks = Routes::new()
        .route(paths::DIAL_STATUS, post(webhooks::dial_status))
        .route(paths::WHISPER, post(webhooks::whisper))
        .route(
            paths::VOICEMAIL,
            get(webhooks::voicemail).post(webhooks::voicemail),
        )
        .route(paths::VOICEMAIL_STATUS, post(webhooks::voicemail_status))
        .route(paths::TRANSCRIPTION, post(webhooks::transcription))
        .route(paths::SMS_STATUS, post(webhooks::sms_status))
        .route(paths::CI_STATUS, post(webhooks::ci_status))
        .route(paths::VOICE_CLIENT, post(webhooks::voice_client))
        .route(paths::VOICE_CLIENT_ALIAS, post(webhooks::voice_client))
        .route(paths::CLICK_TO_CALL, post(webhooks::click_to_call))
        .route(paths::AGENT, post(webhooks::agent));
    for (path, aliases, handler) in [
        (
            paths::INCOMING,
            paths::INCOMING_ALIASES,
            post(webhooks::incoming),
        ),
        (
            paths::STATUS,
            paths::STATUS_ALIASES,
            post(webhooks::status_callback),
        ),
        (
            paths::RECORDING_STATUS,
            paths::RECORDING_STATUS_ALIASES,
            post(webhooks::recording_status),
        ),
        (paths::SMS, paths::SMS_ALIASES, post(webhooks::sms)),
    ] {
        for p in std::iter::once(&path).chain(aliases) {
            twilio_hooks = twilio_hooks.route(p, handler.clone());
        }
    }
    twilio_hooks
}
