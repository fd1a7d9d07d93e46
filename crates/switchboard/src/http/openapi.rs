//! The API contract: OpenAPI 3.1 generated from the handlers' `#[utoipa::path]`
//! attributes and the types they read and answer (`ToSchema`), served at
//! `/api/openapi.json`, with Swagger UI (vendored in the binary) at `/api/docs/`.
//!
//! The types here exist for the contract only: the shapes of answers the handlers build
//! as JSON values, the error body and Twilio's form posts. The integration tests check
//! that every JSON route mounted is in the spec, and every answer the suite receives
//! against its schema.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error: `{"error": {"code", "message", "fields"?}}`; the seed telephony routes
/// (`/api/telephony/*`) add `success: false` and `message` at the top.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ErrorBody {
    /// `false`, on `/api/telephony/*` only.
    success: Option<bool>,
    /// The message again, on `/api/telephony/*` only.
    message: Option<String>,
    error: ErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable: `bad_request`, `unauthorized`, `invalid_credentials`, `forbidden`,
    /// `not_found`, `gone`, `conflict`, `validation_failed`, `payload_too_large`,
    /// `unsupported_media_type`, `rate_limited`, `range_not_satisfiable`, `busy`,
    /// `upstream_failed`, `internal`.
    code: String,
    /// For people.
    message: String,
    /// Per field (camelCase, as sent), why it was refused.
    fields: Option<BTreeMap<String, String>>,
}

/// A webhook as Twilio posts it: form fields (`CallSid`, `AccountSid`, `From`, `To`, …;
/// see Twilio's webhook reference), signed with `X-Twilio-Signature`.
#[derive(ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)]
pub struct TwilioForm(BTreeMap<String, String>);

/// The answer of the seed telephony module's routes.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct SeedAnswer {
    /// `true`.
    success: bool,
    /// A few words, on some routes.
    message: Option<String>,
    /// What the route answers (see the route).
    #[schema(value_type = Object)]
    data: Value,
}

/// What the AI receptionist would answer.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ReceptionistAnswer {
    question: String,
    answer: String,
    /// `continue`, `book`, `handoff`, `emergency`, `goodbye`, ….
    action: String,
    /// What the question was about.
    topic: Option<String>,
}

/// A call's intelligence: summary, transcript and verdict, each with its source.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CallSummary {
    call_sid: String,
    summary_text: Option<String>,
    summary_ready: bool,
    transcript_text: Option<String>,
    appointment_booked: Option<bool>,
    call_reason: Option<String>,
    analysed: bool,
    #[schema(value_type = Object)]
    summary: Value,
    #[schema(value_type = Object)]
    transcript: Value,
    #[schema(value_type = Object)]
    classification: Value,
}

/// How many were deleted.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Deleted {
    deleted: i64,
}

/// Numbers disconnected.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Disconnected {
    /// The numbers disconnected (E.164).
    disconnected: Vec<String>,
}

/// A released number.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Released {
    /// The number released (E.164).
    released: String,
    sid: String,
}

/// A number pointed back at us.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Fixed {
    fixed: bool,
    phone_number: String,
}

/// Work queued: follow it with `GET /api/admin/jobs`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Pending {
    /// `pending`.
    status: String,
    job_id: String,
}

/// Numbers (on an account, or for sale).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct NumberList {
    #[schema(value_type = Vec<Object>)]
    numbers: Vec<Value>,
}

/// Calls to numbers no tenant owns.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct UnroutedList {
    unrouted_calls: Vec<crate::calls::UnroutedCall>,
}

/// Contacts.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ContactList {
    contacts: Vec<crate::contacts::Contact>,
}

/// A page of texts.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct MessageList {
    messages: Vec<crate::messaging::Message>,
    total: i64,
    limit: i64,
    offset: i64,
}

/// A page of appointments.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct AppointmentPage {
    appointments: Vec<crate::appointments::Appointment>,
    total: i64,
    limit: i64,
    offset: i64,
}

/// Staff members.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct StaffList {
    staff_members: Vec<crate::appointments::StaffMember>,
}

/// A page of jobs.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct JobPage {
    jobs: Vec<crate::jobs::Job>,
    total: i64,
    limit: i64,
    offset: i64,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The token `POST /api/auth/login` answers"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::access::SESSION_COOKIE,
                "The portal's session cookie (writes must come from the same site)",
            ))),
        );
        components.add_security_scheme(
            "twilio_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Twilio-Signature",
                "HMAC-SHA1 of PUBLIC_URL + path + query and the sorted form fields, with the account's auth token",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "Self-hosted, multi-tenant call tracking on Twilio: the JSON API, and the webhooks Twilio calls. JSON is camelCase; times are RFC 3339 UTC.",
    ),
    paths(
        openapi_json,
        super::api::login,
        super::api::logout,
        super::api::me,
        super::api::update_me,
        super::api::list_tenants,
        super::api::create_tenant,
        super::api::get_tenant,
        super::api::update_tenant,
        super::api::delete_tenant,
        super::api::list_users,
        super::api::create_user,
        super::api::get_user,
        super::api::update_user,
        super::api::delete_user,
        super::api::get_twilio_config,
        super::api::try_receptionist,
        super::api::put_twilio_config,
        super::api::admin_audit,
        super::api::tenant_audit,
        super::calls_api::list,
        super::calls_api::detail,
        super::calls_api::summary,
        super::calls_api::correct,
        super::calls_api::corrections_export,
        super::calls_api::ai_status,
        super::calls_api::stats,
        super::calls_api::delete_own,
        super::calls_api::delete_for_tenant,
        super::calls_api::configuration,
        super::calls_api::recording,
        super::calls_api::voicemail,
        super::calls_api::unread_counts,
        super::calls_api::mark_read,
        super::calls_api::mark_all_read,
        super::calls_api::unrouted,
        super::calls_api::list_contacts,
        super::calls_api::create_contact,
        super::calls_api::list_messages,
        super::calls_api::get_contact,
        super::calls_api::update_contact,
        super::calls_api::delete_contact,
        super::calls_api::forget_caller,
        super::appointments_api::list,
        super::appointments_api::create,
        super::appointments_api::get,
        super::appointments_api::update,
        super::appointments_api::delete,
        super::appointments_api::list_staff,
        super::appointments_api::create_staff,
        super::appointments_api::get_staff,
        super::appointments_api::update_staff,
        super::appointments_api::delete_staff,
        super::appointments_api::confirmation,
        super::appointments_api::reminder,
        super::numbers_api::list,
        super::numbers_api::connect,
        super::numbers_api::update_message,
        super::numbers_api::disconnect,
        super::numbers_api::test_credentials,
        super::numbers_api::test_own_credentials,
        super::numbers_api::dependency_health,
        super::numbers_api::fix_webhooks,
        super::numbers_api::available,
        super::numbers_api::purchase,
        super::numbers_api::release,
        super::jobs_api::list,
        super::jobs_api::retry,
        super::jobs_api::discard,
        super::softphone_api::make_call,
        super::softphone_api::access_token,
        super::telephony_api::send_sms,
        super::telephony_api::notifications,
        super::telephony_api::call_logs,
        super::telephony_api::phone_number,
        super::telephony_api::provision_phone,
        super::ops::healthz,
        super::ops::readyz,
        super::webhooks::incoming,
        super::webhooks::agent,
        super::webhooks::voice_client,
        super::webhooks::click_to_call,
        super::webhooks::status_callback,
        super::webhooks::dial_status,
        super::webhooks::whisper,
        super::webhooks::voicemail,
        super::webhooks::recording_status,
        super::webhooks::voicemail_status,
        super::webhooks::transcription,
        super::webhooks::sms,
        super::webhooks::sms_status,
        super::webhooks::ci_status,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security),
)]
struct ApiDoc;

/// The spec, built once: generated paths, plus the aliases the router also mounts.
pub fn spec() -> &'static utoipa::openapi::OpenApi {
    static SPEC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
        let mut api = ApiDoc::openapi();
        api.info.version = env!("CARGO_PKG_VERSION").to_owned();
        let aliases = [
            (crate::paths::INCOMING, crate::paths::INCOMING_ALIASES),
            (crate::paths::STATUS, crate::paths::STATUS_ALIASES),
            (
                crate::paths::RECORDING_STATUS,
                crate::paths::RECORDING_STATUS_ALIASES,
            ),
            (crate::paths::SMS, crate::paths::SMS_ALIASES),
            (
                crate::paths::VOICE_CLIENT,
                &[crate::paths::VOICE_CLIENT_ALIAS],
            ),
            (
                "/api/twilio/numbers/{sid}",
                &["/api/twilio/numbers/{sid}/release"],
            ),
        ];
        for (path, alias_paths) in aliases {
            let Some(item) = api.paths.paths.get(path).cloned() else {
                continue;
            };
            for alias in alias_paths {
                let mut item = item.clone();
                // The release alias is a POST.
                if alias.ends_with("/release") {
                    item.post = item.delete.take();
                }
                for op in [&mut item.get, &mut item.post, &mut item.delete]
                    .into_iter()
                    .flatten()
                {
                    op.operation_id = op.operation_id.as_ref().map(|id| format!("{id}_alias"));
                    op.description = Some(format!("An alias of `{path}`."));
                }
                api.paths.paths.insert((*alias).to_owned(), item);
            }
        }
        unique_operation_ids(&mut api);
        api
    });
    &SPEC
}

fn operations(
    item: &mut utoipa::openapi::path::PathItem,
) -> [(&'static str, &mut Option<utoipa::openapi::path::Operation>); 6] {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
        ("head", &mut item.head),
    ]
}

/// Handlers in different modules share names (`list`), and one handler can serve two
/// methods (PATCH and PUT): operation ids are made unique with the tag, then the method.
fn unique_operation_ids(api: &mut utoipa::openapi::OpenApi) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for item in api.paths.paths.values_mut() {
        for (_, op) in operations(item) {
            if let Some(id) = op.as_ref().and_then(|o| o.operation_id.clone()) {
                *seen.entry(id).or_default() += 1;
            }
        }
    }
    let mut taken = std::collections::BTreeSet::new();
    for item in api.paths.paths.values_mut() {
        for (method, op) in operations(item) {
            let Some(op) = op else { continue };
            let Some(id) = op.operation_id.clone() else {
                continue;
            };
            let mut unique = id.clone();
            if seen.get(&id).copied().unwrap_or(0) > 1 {
                let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
                unique = match tag {
                    Some(tag) => format!("{tag}_{id}"),
                    None => id.clone(),
                };
                if taken.contains(&unique) {
                    unique = format!("{unique}_{method}");
                }
            }
            taken.insert(unique.clone());
            op.operation_id = Some(unique);
        }
    }
}

static SPEC_JSON: LazyLock<String> =
    LazyLock::new(|| spec().to_json().unwrap_or_else(|_| "{}".to_owned()));

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    summary = "This API's OpenAPI 3.1 description",
    responses((status = 200, description = "The spec", content_type = "application/json", body = Object)),
)]
pub(crate) async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        SPEC_JSON.as_str(),
    )
        .into_response()
}

static SWAGGER: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("/api/openapi.json")));

/// `GET /api/docs`: to the reference page.
pub(crate) async fn docs_root() -> Redirect {
    Redirect::permanent("/api/docs/")
}

/// `GET /api/docs/` and its files: Swagger UI, from the files vendored in the binary.
pub(crate) async fn docs(file: Option<Path<String>>) -> Response {
    let file = file.map(|Path(f)| f).unwrap_or_default();
    match utoipa_swagger_ui::serve(&file, SWAGGER.clone()) {
        Ok(Some(f)) => ([(header::CONTENT_TYPE, f.content_type)], f.bytes.to_vec()).into_response(),
        Ok(None) => crate::error::AppError::NotFound.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not serve the API reference");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the API reference failed",
            )
                .into_response()
        }
    }
}
