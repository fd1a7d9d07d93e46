//! The tenant API over calls: logs, detail, stats, audio, notifications.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::access::{Admin, ApiJson, Principal, Scoped, page};
use crate::calls::{self, CallFilter, CallLog, Scope};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::users::Role;

const PAGE: &str = "call-logs";
const CONTACTS: Option<&str> = <page::Contacts as crate::access::OnPage>::PAGE;

fn query<T: serde::de::DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> AppResult<T> {
    q.map(|Query(v)| v)
        .map_err(|e| AppError::BadRequest(e.body_text()))
}

/// The zone dates are read in: the tenant's, or UTC across tenants.
async fn zone(state: &AppState, scope: &Scope) -> AppResult<jiff::tz::TimeZone> {
    match scope {
        Scope::One(t) => calls::rollups::tenant_zone(&state.db, t).await,
        Scope::All => Ok(jiff::tz::TimeZone::UTC),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallLogPage {
    call_logs: Vec<CallLog>,
    total: i64,
    limit: i64,
    offset: i64,
}

#[utoipa::path(
    get,
    path = "/api/twilio/call-logs",
    tag = "calls",
    summary = "Call logs, newest first, filtered",
    params(crate::calls::CallFilter),
    responses((status = 200, description = "A page of calls", body = CallLogPage), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Scoped { scope, .. }: Scoped<page::CallLogs>,
    q: Result<Query<CallFilter>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<CallLogPage>> {
    let filter = query(q)?;
    let tz = zone(&state, &scope).await?;
    let (mut call_logs, total, limit, offset) =
        calls::list(&state.db, &scope, &filter, &tz).await?;
    crate::contacts::link(&state.db, &mut call_logs).await?;
    Ok(Json(CallLogPage {
        call_logs,
        total,
        limit,
        offset,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallDetail {
    #[serde(flatten)]
    call: CallLog,
    events: Vec<calls::TimelineEntry>,
}

#[utoipa::path(
    get,
    path = "/api/twilio/call-logs/{call_sid}",
    tag = "calls",
    summary = "One call with its event timeline",
    params(("call_sid" = String, Path), ("customerId" = Option<String>, Query, description = "Admins: the tenant")),
    responses((status = 200, description = "The call", body = CallDetail), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Scoped { scope, .. }: Scoped<page::CallLogs>,
    Path(call_sid): Path<String>,
) -> AppResult<Json<CallDetail>> {
    let mut call = calls::get(&state.db, &scope, &call_sid).await?;
    crate::contacts::link(&state.db, std::slice::from_mut(&mut call)).await?;
    let events = calls::timeline(&state.db, &call.customer_id, &call_sid).await?;
    Ok(Json(CallDetail { call, events }))
}

/// The intelligence view of a call: summary, transcript and classification, each with
/// where it came from.
fn intelligence_view(c: &CallLog) -> Value {
    json!({
        "callSid": c.call_sid,
        "summaryText": c.summary_text,
        "summaryReady": c.summary_ready,
        "transcriptText": c.transcript_text,
        "appointmentBooked": c.appointment_booked,
        "callReason": c.call_reason,
        "analysed": c.classification_source.is_some(),
        "summary": {
            "text": c.summary_text,
            "source": c.summary_text.as_ref().map(|_| "vi"),
        },
        "transcript": {
            "text": c.transcript_text,
            "source": c.transcript_source,
            "transcriptSid": c.transcript_sid,
        },
        "classification": {
            "appointmentBooked": c.appointment_booked,
            "callReason": c.call_reason,
            "source": c.classification_source,
            "evidence": c.classification_evidence,
            "classifierVersion": c.classifier_version,
            "correctedBy": c.corrected_by,
            "correctedAt": c.corrected_at,
        },
    })
}

/// `GET /api/twilio/call-logs/{callSid}/summary`: summary, transcript and verdict. A
/// verdict from an older local classifier (or none yet, for a call with text) is
/// redone first.
#[utoipa::path(
    get,
    path = "/api/twilio/call-logs/{call_sid}/summary",
    tag = "calls",
    summary = "A call's summary, transcript and verdict with their sources",
    params(("call_sid" = String, Path), ("customerId" = Option<String>, Query, description = "Admins: the tenant")),
    responses((status = 200, description = "The summary", body = crate::http::openapi::CallSummary), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn summary(
    State(state): State<AppState>,
    Scoped { scope, .. }: Scoped<page::CallLogs>,
    Path(call_sid): Path<String>,
) -> AppResult<Json<Value>> {
    let c = calls::get(&state.db, &scope, &call_sid).await?;
    let c = crate::intelligence::refresh_if_stale(&state, c).await?;
    Ok(Json(intelligence_view(&c)))
}

/// A correction of a call's verdict.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CorrectionBody {
    appointment_booked: Option<bool>,
    call_reason: String,
}

/// `PUT /api/twilio/call-logs/{callSid}/classification`: an owner, or staff who may
/// open the call logs, corrects booked and reason. The correction wins in the row and
/// the stats, and is kept with who made it, when, and what it replaced.
#[utoipa::path(
    put,
    path = "/api/twilio/call-logs/{call_sid}/classification",
    tag = "calls",
    summary = "Correct a call's verdict (booked, reason)",
    params(("call_sid" = String, Path), ("customerId" = Option<String>, Query, description = "Admins: the tenant")),
    request_body = crate::intelligence::Correction,
    responses((status = 200, description = "The corrected call", body = crate::http::openapi::CallSummary), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn correct(
    State(state): State<AppState>,
    Scoped {
        scope, principal, ..
    }: Scoped<page::CallLogs>,
    Path(call_sid): Path<String>,
    body: Result<crate::access::ApiJson<CorrectionBody>, AppError>,
) -> AppResult<Json<Value>> {
    // Whose call it is first: another tenant's id is a 404 whatever the body says.
    let call = calls::get(&state.db, &scope, &call_sid).await?;
    let crate::access::ApiJson(body) = body?;
    let corrected = crate::intelligence::correct(
        &state,
        &call,
        &principal.user.email,
        &crate::intelligence::Correction {
            appointment_booked: body.appointment_booked,
            call_reason: body.call_reason,
        },
    )
    .await?;
    Ok(Json(intelligence_view(&corrected)))
}

/// Most corrections exported at once.
const MAX_EXPORT: i64 = 100_000;

/// `GET /api/twilio/call-logs/corrections.jsonl`: every correction as a labelled line —
/// the call's text in `switchboard classify --jsonl`'s input shape plus the corrected
/// labels and what they replaced — to measure the classifier on a clinic's own calls.
#[utoipa::path(
    get,
    path = "/api/twilio/call-logs/corrections.jsonl",
    tag = "calls",
    summary = "Corrections as JSON lines (for tuning the classifier)",
    params(("customerId" = Option<String>, Query, description = "Admins: the tenant")),
    responses((status = 200, description = "One JSON object per line", content_type = "application/x-ndjson", body = String), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn corrections_export(
    State(state): State<AppState>,
    Scoped { scope, .. }: Scoped<page::CallLogs>,
) -> AppResult<Response> {
    let entries = calls::corrections(&state.db, &scope, MAX_EXPORT).await?;
    let mut out = String::new();
    for e in entries {
        let get = |name: &str| {
            e.params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        let flag = |v: &str| match v {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::Null,
        };
        let (kind, text) = crate::intelligence::text_of(
            e.call.transcript_text.as_deref(),
            e.call.summary_text.as_deref(),
        )
        .map_or(("summary", ""), |(k, t)| {
            (
                match k {
                    crate::intelligence::classifier::TextKind::Summary => "summary",
                    crate::intelligence::classifier::TextKind::Transcript => "transcript",
                },
                t,
            )
        });
        let line = json!({
            "id": e.call.call_sid,
            "kind": kind,
            "text": text,
            "appointmentBooked": flag(get("AppointmentBooked")),
            "callReason": get("CallReason"),
            "previous": {
                "appointmentBooked": flag(get("PreviousBooked")),
                "callReason": get("PreviousReason"),
                "source": get("PreviousSource"),
            },
            "correctedBy": get("CorrectedBy"),
            "correctedAt": get("CorrectedAt").parse::<i64>().ok().map(crate::db::rfc3339),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"corrections.jsonl\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// `GET /api/twilio/ai-status` (admin): which classifier paths are active, whether
/// the LLM endpoint answers, the rate limiter and recent errors.
#[utoipa::path(
    get,
    path = "/api/twilio/ai-status",
    tag = "calls",
    summary = "The classifier and LLM endpoint's state",
    responses((status = 200, description = "Status", body = Object), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn ai_status(State(state): State<AppState>, _: Admin) -> AppResult<Json<Value>> {
    let llm = state.llm.config().map(|c| {
        json!({
            "model": c.model,
            "endpoint": url::Url::parse(&c.base_url).ok().and_then(|u| u.host_str().map(str::to_owned)),
            "perMinute": c.per_minute,
            "timeoutSeconds": c.timeout.as_secs(),
        })
    });
    let answers = match state.llm.config() {
        Some(_) => Some(match state.llm.probe().await {
            Ok(()) => json!({"ok": true}),
            Err(e) => json!({"ok": false, "error": e.to_string()}),
        }),
        None => None,
    };
    let status = state.llm.status();
    Ok(Json(json!({
        "paths": {
            "voiceIntelligence": {
                "active": state.config.platform.vi_service_sid.is_some(),
            },
            "llm": {
                "active": llm.is_some(),
                "config": llm,
                "reachable": answers,
                "note": "used only for tenants whose settings allow it",
            },
            "local": {"active": true, "version": crate::intelligence::classifier::VERSION},
        },
        "rateLimiter": {
            "perMinute": state.llm.config().map(|c| c.per_minute),
            "available": state.llm.config().map(|_| (state.llm.tokens() * 10.0).floor() / 10.0),
            "refused": status.rate_limited,
        },
        "llmRequests": status.requests,
        "llmFailures": status.failures,
        "lastSuccessAt": status.last_success_at,
        "recentErrors": status.recent_errors,
    })))
}

#[utoipa::path(
    get,
    path = "/api/twilio/call-logs/stats",
    tag = "calls",
    summary = "Figures over the filtered calls",
    params(crate::calls::CallFilter),
    responses((status = 200, description = "Stats", body = crate::calls::Stats), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn stats(
    State(state): State<AppState>,
    Scoped { scope, .. }: Scoped<page::CallLogs>,
    q: Result<Query<CallFilter>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<calls::Stats>> {
    let filter = query(q)?;
    let names = match &scope {
        Scope::One(t) => crate::numbers::list_for_tenant(&state.db, t)
            .await?
            .into_iter()
            .map(|n| (n.phone_number, n.friendly_name))
            .collect::<Vec<_>>(),
        Scope::All => Vec::new(),
    };
    let tz = zone(&state, &scope).await?;
    Ok(Json(
        calls::stats(&state.db, &scope, &filter, &tz, &names).await?,
    ))
}

/// `DELETE /api/twilio/call-logs`: a customer deletes their tenant's logs.
#[utoipa::path(
    delete,
    path = "/api/twilio/call-logs",
    tag = "calls",
    summary = "Delete every call of your tenant (account owners)",
    responses((status = 200, description = "How many", body = crate::http::openapi::Deleted), (status = 400, description = "Admins name the tenant in the path instead", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn delete_own(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<Value>> {
    let tenant = match principal.user.role {
        Role::Customer => principal.user.tenant_id.clone().ok_or(AppError::NotFound)?,
        Role::Receptionist => {
            return Err(AppError::Forbidden(
                "only the account owner may delete call logs",
            ));
        }
        Role::Admin => {
            return Err(AppError::BadRequest(
                "admins delete a tenant's logs with DELETE /api/twilio/call-logs/{customerId}"
                    .into(),
            ));
        }
    };
    let deleted = calls::delete_for_tenant(&state.db, &tenant).await?;
    tracing::info!(tenant = %tenant, deleted, "call logs deleted by the tenant");
    Ok(Json(json!({ "deleted": deleted })))
}

/// `DELETE /api/twilio/call-logs/{id}`: an admin deletes the logs of the tenant `id`
/// (DESIGN's `customerId`); a customer deletes their own call `id`.
#[utoipa::path(
    delete,
    path = "/api/twilio/call-logs/{call_sid}",
    tag = "calls",
    summary = "Delete one call (owners), or, for admins, every call of the tenant whose id is given",
    params(("call_sid" = String, Path)),
    responses((status = 200, description = "How many", body = crate::http::openapi::Deleted), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn delete_for_tenant(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    if !principal.is_admin() {
        let tenant = principal.owned_tenant(&state, PAGE).await?;
        calls::delete_one(&state.db, &tenant, &id).await?;
        tracing::info!(tenant = %tenant, by = %principal.user.id, "call log deleted");
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let admin = principal;
    let tenant = id;
    admin.tenant_scope(&state, &tenant, None).await?;
    let deleted = calls::delete_for_tenant(&state.db, &tenant).await?;
    tracing::info!(tenant = %tenant, deleted, by = %admin.user.id, "call logs deleted by an admin");
    Ok(Json(json!({ "deleted": deleted })).into_response())
}

/// `GET /api/twilio/configuration`: the tenant's effective telephony set-up.
#[utoipa::path(
    get,
    path = "/api/twilio/configuration",
    tag = "calls",
    summary = "What is configured for your tenant (numbers, features)",
    responses((status = 200, description = "Configuration", body = Object), (status = 400, description = "Admins read a tenant's settings instead", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn configuration(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<Value>> {
    let tenant = principal
        .user
        .tenant_id
        .clone()
        .ok_or(AppError::BadRequest(
            "admins read a tenant's config at /api/companies/{companyId}/twilio/config".into(),
        ))?;
    principal
        .tenant_scope(&state, &tenant, Some("settings"))
        .await
        .or_else(|e| match e {
            // Any of the tenant's users may see how their lines are set up.
            AppError::Forbidden(_) => Ok(()),
            other => Err(other),
        })?;
    let s = crate::telephony::effective(&state.db, &tenant, &state.config.routing).await?;
    let view = crate::telephony::view(&state.db, &tenant).await?;
    Ok(Json(json!({
        "companyId": tenant,
        "configured": !view.phone_numbers.is_empty() && (s.forward_number.is_some() || s.forward_number_new.is_some() || s.forward_number_existing.is_some() || s.mode == crate::telephony::RoutingMode::Voicemail),
        "phoneNumbers": view.phone_numbers,
        "callRoutingMode": s.mode,
        "menuMessage": s.menu_message,
        "voice": s.voice,
        "recordingEnabled": s.recording_enabled,
        "transcriptionEnabled": s.transcription_enabled,
        "forwardNumber": s.forward_number,
        "forwardNumberNew": s.forward_number_new,
        "forwardNumberExisting": s.forward_number_existing,
        "businessHours": s.business_hours,
        "usesPlatformCredentials": view.uses_platform_credentials,
    })))
}

/// Streams a recording through us with the tenant's credentials.
async fn stream_recording(
    state: &AppState,
    tenant: &str,
    recording_sid: &str,
    headers: &HeaderMap,
) -> AppResult<Response> {
    let client = state.twilio_client(tenant).await?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let media = match client
        .recording_media(recording_sid, twilio::client::MediaFormat::Mp3, range)
        .await
    {
        Ok(media) => media,
        Err(e) if e.status() == Some(404) => return Err(AppError::NotFound),
        Err(e) if e.status() == Some(416) => {
            // HTTP wants the size in the answer (`Content-Range: bytes */SIZE`); one
            // byte's worth of a second request tells it.
            let size = client
                .recording_media(
                    recording_sid,
                    twilio::client::MediaFormat::Mp3,
                    Some("bytes=0-0"),
                )
                .await
                .ok()
                .and_then(|m| {
                    m.content_range
                        .as_deref()
                        .and_then(total_from_content_range)
                });
            return Err(AppError::RangeNotSatisfiable { size });
        }
        Err(e) => {
            // The detail names Twilio's URL and the account: logs only.
            tracing::warn!(error = %e, "Twilio could not serve a recording");
            return Err(AppError::BadGateway(
                "the recording could not be fetched".into(),
            ));
        }
    };
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(media.status).unwrap_or(StatusCode::OK))
        .header(header::CONTENT_TYPE, media.content_type.clone())
        .header(header::ACCEPT_RANGES, "bytes")
        // Recordings are health information for a clinic: never kept in a cache.
        .header(header::CACHE_CONTROL, "no-store");
    if let Some(len) = media.content_length {
        builder = builder.header(header::CONTENT_LENGTH, len);
    }
    if let Some(range) = &media.content_range {
        builder = builder.header(header::CONTENT_RANGE, range);
    }
    builder
        .body(Body::from_stream(media.into_stream()))
        .map_err(AppError::internal)
}

/// The total of `bytes 0-0/12345`.
fn total_from_content_range(value: &str) -> Option<u64> {
    value.rsplit_once('/')?.1.trim().parse().ok()
}

/// `GET /api/twilio/recording/{recordingSid}`.
#[utoipa::path(
    get,
    path = "/api/twilio/recording/{recording_sid}",
    tag = "calls",
    summary = "A recording's audio, streamed through us (Range supported)",
    params(("recording_sid" = String, Path)),
    responses((status = 200, description = "Audio", content_type = "audio/mpeg", body = Vec<u8>), (status = 206, description = "Part of the audio", content_type = "audio/mpeg", body = Vec<u8>), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 410, description = "Deleted on purpose (retention, a forgotten caller)", body = crate::http::openapi::ErrorBody), (status = 416, description = "Range outside the audio", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn recording(
    State(state): State<AppState>,
    principal: Principal,
    Path(recording_sid): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let tenant = calls::recording_owner(&state.db, &recording_sid)
        .await?
        .ok_or(AppError::NotFound)?;
    principal.tenant_scope(&state, &tenant, Some(PAGE)).await?;
    if calls::erasure::recording_erased(&state.db, &recording_sid).await? {
        return Err(AppError::Gone(ERASED));
    }
    stream_recording(&state, &tenant, &recording_sid, &headers).await
}

const ERASED: &str =
    "this recording was deleted (the account's retention, or a caller who asked to be forgotten)";

/// `GET /api/twilio/voicemail/{callSid}`.
#[utoipa::path(
    get,
    path = "/api/twilio/voicemail/{call_sid}",
    tag = "calls",
    summary = "A call's voicemail audio (Range supported)",
    params(("call_sid" = String, Path), ("customerId" = Option<String>, Query, description = "Admins: the tenant")),
    responses((status = 200, description = "Audio", content_type = "audio/mpeg", body = Vec<u8>), (status = 206, description = "Part of the audio", content_type = "audio/mpeg", body = Vec<u8>), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 410, description = "Deleted on purpose (retention, a forgotten caller)", body = crate::http::openapi::ErrorBody), (status = 416, description = "Range outside the audio", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody), (status = 502, description = "Twilio failed or is not configured", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn voicemail(
    State(state): State<AppState>,
    Scoped { scope, .. }: Scoped<page::CallLogs>,
    Path(call_sid): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let call = calls::get(&state.db, &scope, &call_sid).await?;
    let sid = call.voicemail_sid.ok_or(AppError::NotFound)?;
    if call.media_erased_at.is_some() {
        return Err(AppError::Gone(ERASED));
    }
    stream_recording(&state, &call.customer_id, &sid, &headers).await
}

fn tenant_of(principal: &Principal) -> AppResult<String> {
    principal.user.tenant_id.clone().ok_or(AppError::BadRequest(
        "notifications belong to a tenant's users".into(),
    ))
}

#[utoipa::path(
    get,
    path = "/api/customer-notifications/unread-counts",
    tag = "notifications",
    summary = "Unread calls, voicemails and texts",
    responses((status = 200, description = "Counts", body = crate::notifications::UnreadCounts), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn unread_counts(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<crate::notifications::UnreadCounts>> {
    let tenant = tenant_of(&principal)?;
    let mut counts = crate::notifications::unread(&state.db, &principal.user.id, &tenant).await?;
    if !principal.user.may_open(PAGE) {
        counts.call_logs = 0;
        counts.voicemails = 0;
    }
    if !principal.user.may_open("messages") {
        counts.messages = 0;
    }
    Ok(Json(counts))
}

#[utoipa::path(
    post,
    path = "/api/customer-notifications/mark-read/{section}",
    tag = "notifications",
    summary = "Mark a section read (call-logs, voicemails, messages)",
    params(("section" = String, Path)),
    responses((status = 204, description = "Done"), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn mark_read(
    State(state): State<AppState>,
    principal: Principal,
    Path(section): Path<String>,
) -> AppResult<StatusCode> {
    tenant_of(&principal)?;
    crate::notifications::mark_read(&state.db, &principal.user.id, &section).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/customer-notifications/mark-all-read",
    tag = "notifications",
    summary = "Mark everything read",
    responses((status = 204, description = "Done"), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn mark_all_read(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<StatusCode> {
    tenant_of(&principal)?;
    crate::notifications::mark_all_read(&state.db, &principal.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/admin/unrouted-calls",
    tag = "admin",
    summary = "Verified calls to numbers no tenant owns",
    responses((status = 200, description = "Calls", body = crate::http::openapi::UnroutedList), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn unrouted(
    State(state): State<AppState>,
    _admin: Admin,
) -> AppResult<Json<Value>> {
    Ok(Json(
        json!({ "unroutedCalls": calls::unrouted(&state.db, 200).await? }),
    ))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ContactQuery {
    q: Option<String>,
    /// Accepted here; [`Scoped`] reads it from the query.
    #[allow(dead_code)]
    customer_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/contacts",
    tag = "contacts",
    summary = "Contacts, optionally matching q",
    params(ContactQuery),
    responses((status = 200, description = "Contacts", body = crate::http::openapi::ContactList), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn list_contacts(
    State(state): State<AppState>,
    scoped: Scoped<page::Contacts>,
    q: Result<Query<ContactQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<Value>> {
    let q = query(q)?;
    let tenant = scoped.tenant()?;
    Ok(Json(
        json!({ "contacts": crate::contacts::list(&state.db, tenant, q.q.as_deref()).await? }),
    ))
}

#[utoipa::path(
    post,
    path = "/api/contacts",
    tag = "contacts",
    summary = "Add a contact",
    request_body = crate::contacts::NewContact,
    responses((status = 201, description = "Created", body = crate::contacts::Contact), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn create_contact(
    State(state): State<AppState>,
    principal: Principal,
    crate::access::ApiJson(body): crate::access::ApiJson<crate::contacts::NewContact>,
) -> AppResult<(StatusCode, Json<crate::contacts::Contact>)> {
    let tenant = principal
        .tenant(&state, CONTACTS, body.tenant_id.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::contacts::create(&state.db, &tenant, body).await?),
    ))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MessageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    /// Accepted here; [`Scoped`] reads it from the query.
    #[allow(dead_code)]
    customer_id: Option<String>,
}

/// `GET /api/messages`: a tenant's texts, newest first.
#[utoipa::path(
    get,
    path = "/api/messages",
    tag = "messages",
    summary = "Texts, newest first",
    params(MessageQuery),
    responses((status = 200, description = "Texts", body = crate::http::openapi::MessageList), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn list_messages(
    State(state): State<AppState>,
    scoped: Scoped<page::Messages>,
    q: Result<Query<MessageQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<Value>> {
    let q = query(q)?;
    let tenant = scoped.tenant()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 200"));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(AppError::field("offset", "must not be negative"));
    }
    let (messages, total) = crate::messaging::list(&state.db, tenant, limit, offset).await?;
    Ok(Json(
        json!({ "messages": messages, "total": total, "limit": limit, "offset": offset }),
    ))
}

/// `GET /api/contacts/{id}`.
#[utoipa::path(
    get,
    path = "/api/contacts/{id}",
    tag = "contacts",
    summary = "A contact",
    params(("id" = String, Path)),
    responses((status = 200, description = "The contact", body = crate::contacts::Contact), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn get_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<crate::contacts::Contact>> {
    let tenant = contact_tenant(&state, &principal, &id).await?;
    Ok(Json(crate::contacts::get(&state.db, &tenant, &id).await?))
}

/// `PATCH /api/contacts/{id}`.
#[utoipa::path(
    patch,
    path = "/api/contacts/{id}",
    tag = "contacts",
    summary = "Change a contact",
    params(("id" = String, Path)),
    request_body = crate::contacts::ContactUpdate,
    responses((status = 200, description = "The contact", body = crate::contacts::Contact), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn update_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    crate::access::ApiJson(body): crate::access::ApiJson<crate::contacts::ContactUpdate>,
) -> AppResult<Json<crate::contacts::Contact>> {
    let tenant = contact_tenant(&state, &principal, &id).await?;
    Ok(Json(
        crate::contacts::update(&state.db, &tenant, &id, body).await?,
    ))
}

/// `DELETE /api/contacts/{id}`.
#[utoipa::path(
    delete,
    path = "/api/contacts/{id}",
    tag = "contacts",
    summary = "Delete a contact (their calls stay)",
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn delete_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let tenant = contact_tenant(&state, &principal, &id).await?;
    crate::contacts::delete(&state.db, &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant a contact id is looked up in: the principal's own, or (admins) the
/// contact's. Another tenant's id is simply not found.
async fn contact_tenant(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> AppResult<crate::tenants::TenantId> {
    let named = match principal.user.role {
        Role::Admin => Some(
            crate::contacts::owner(&state.db, id)
                .await?
                .ok_or(AppError::NotFound)?,
        ),
        _ => None,
    };
    principal.tenant(state, CONTACTS, named.as_deref()).await
}

/// `POST /api/callers/forget` `{phoneNumber, confirm, customerId?}`: account owners (and
/// admins, naming the tenant) erase what a caller left: recordings and transcripts (by
/// jobs, at Twilio first), texts and contact.
#[utoipa::path(
    post,
    path = "/api/callers/forget",
    tag = "operations",
    summary = "Forget a caller: texts and contact now, recordings and transcripts by jobs (here and at Twilio)",
    request_body = crate::retention::ForgetRequest,
    responses((status = 200, description = "What is being erased", body = crate::retention::Forgotten), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 413, description = "Body too large", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not JSON", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn forget_caller(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<crate::retention::ForgetRequest>,
) -> AppResult<Json<crate::retention::Forgotten>> {
    let tenant = if principal.is_admin() {
        principal
            .tenant(&state, None, body.customer_id.as_deref())
            .await?
    } else {
        principal.owned_tenant(&state, PAGE).await?
    };
    // The entry says whom, without keeping the whole number it was asked to forget.
    if let (Some(slot), Some(number)) = (
        &principal.audit,
        crate::numbers::E164::parse(&body.phone_number),
    ) {
        slot.target(number.masked());
    }
    Ok(Json(
        crate::retention::forget_caller(&state.db, &tenant, &body).await?,
    ))
}
