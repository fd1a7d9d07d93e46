//! Twilio's webhooks. Each request goes through one pipeline:
//!
//! 1. parse the form (or, for GET, the query string);
//! 2. find the owner: a call we know → its tenant; else the owner of `To`; else none
//!    (unrouted, whichever account it came on);
//! 3. verify `X-Twilio-Signature` with the owner's auth token — for an unowned request,
//!    that of the tenant whose own account is `AccountSid`, else the platform's — over
//!    `PUBLIC_URL` + path + query (403 otherwise, nothing stored);
//! 4. check the payload's required fields (400 otherwise, nothing stored);
//! 5. append the event durably, refold the call, and answer TwiML.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use twilio::signature::RequestValidator;
use twilio::twiml::{Hangup, Message, MessagingResponse, Say, VoiceResponse};
use twilio::webhook::{
    CallDetails, CallStatusCallback, DialAction, InboundSms, IncomingCall, NumberStatus, Params,
    RealtimeTranscription, RecordingStatusCallback, SmsStatusCallback, WebhookError,
};

use std::sync::Arc;

use crate::cache::TenantContext;
use crate::call_flow::{self, Step};
use crate::calls::{self, EventKind};
use crate::error::{AppError, AppResult};
use crate::numbers::E164;
use crate::state::AppState;

/// A TwiML document (voice or messaging) as Twilio expects it.
fn xml(document: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        document,
    )
        .into_response()
}

fn twiml(response: &VoiceResponse) -> Response {
    xml(response.to_xml())
}

fn empty() -> Response {
    twiml(&VoiceResponse::new())
}

fn bad_payload(e: WebhookError) -> AppError {
    AppError::BadRequest(e.to_string())
}

/// A request that passed the signature check, with the tenant it belongs to.
pub(crate) struct Verified {
    params: Params,
    tenant_id: Option<String>,
    query: Option<String>,
}

impl Verified {
    fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query.as_deref()?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// The tenant that owns a number, through the cache.
async fn number_owner(state: &AppState, number: &E164) -> AppResult<Option<String>> {
    let key = number.as_str().to_owned();
    state.routing_cache.sync(&state.db);
    if let Some(owner) = state.routing_cache.number_owner.get(&key) {
        return Ok(owner);
    }
    let owner = crate::numbers::owner_of(&state.db, number).await?;
    state.routing_cache.number_owner.insert(key, owner.clone());
    Ok(owner)
}

/// A tenant's routing settings and webhook token, through the cache.
async fn tenant_context(state: &AppState, tenant: &str) -> AppResult<Arc<TenantContext>> {
    state.routing_cache.sync(&state.db);
    if let Some(ctx) = state.routing_cache.tenant.get(&tenant.to_owned()) {
        return Ok(ctx);
    }
    let ctx = Arc::new(TenantContext {
        settings: crate::telephony::effective(&state.db, tenant, &state.config.routing).await?,
        webhook_token: crate::telephony::webhook_token(
            &state.db,
            &state.secrets,
            &state.config.platform,
            Some(tenant),
        )
        .await?,
    });
    state
        .routing_cache
        .tenant
        .insert(tenant.to_owned(), ctx.clone());
    Ok(ctx)
}

/// The call's owner: a call we know belongs to its tenant; a new call to the owner of
/// `To`. A new call's request skips the lookup of calls we know. `None`: no tenant owns
/// it, whichever account it arrived on.
async fn resolve_owner(
    state: &AppState,
    params: &Params,
    new_call: bool,
) -> AppResult<Option<String>> {
    // A browser's call: the identity is one of our users, and so names the tenant.
    if let Some(user) = params
        .get("From")
        .and_then(crate::softphone::user_of_client)
    {
        return match crate::users::get(&state.db, user).await {
            Ok(u) => Ok(u.tenant_id),
            Err(AppError::NotFound) => Ok(None),
            Err(e) => Err(e),
        };
    }
    if !new_call {
        for sid in [params.get("ParentCallSid"), params.get("CallSid")]
            .into_iter()
            .flatten()
        {
            if let Some(t) = calls::tenant_of_call(&state.db, sid).await? {
                return Ok(Some(t));
            }
        }
    }
    // A call we placed through the REST API comes from one of the tenant's numbers
    // (its callbacks may arrive before the call's first event is stored).
    let placed_by_api = params.get("Direction") == Some("outbound-api");
    let ours = if placed_by_api { "From" } else { "To" };
    if params.get("ParentCallSid").is_none()
        && let Some(number) = params
            .get(ours)
            .or_else(|| params.get(if placed_by_api { "Caller" } else { "Called" }))
            .and_then(E164::lookup_key)
        && let Some(t) = number_owner(state, &number).await?
    {
        return Ok(Some(t));
    }
    Ok(None)
}

/// Whose auth token verifies a request: its owner's; for a request no tenant owns,
/// the tenant whose own account is `AccountSid`, else the platform's (`None`).
async fn resolve_signer(
    state: &AppState,
    params: &Params,
    owner: Option<&str>,
) -> AppResult<Option<String>> {
    if let Some(owner) = owner {
        return Ok(Some(owner.to_owned()));
    }
    match params.get("AccountSid") {
        Some(account) => crate::telephony::tenant_for_account(&state.db, account).await,
        None => Ok(None),
    }
}

/// Any webhook route takes [`Verified`]: the request is parsed, its tenant found and its
/// signature checked before the handler runs.
impl FromRequest<AppState> for Verified {
    type Rejection = AppError;

    async fn from_request(mut req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let uri = req.uri().clone();
        // Taken, not copied: reading the body needs none of them.
        let headers = std::mem::take(req.headers_mut());
        let body = Bytes::from_request(req, state).await;
        verify(state, &method, &uri, &headers, body).await
    }
}

/// A text's tenant: the one that has it already (a status), else the owner of `To`
/// (inbound), else the owner of `From` (the status of a text we sent).
async fn resolve_sms_tenant(state: &AppState, params: &Params) -> AppResult<Option<String>> {
    if let Some(sid) = params.get("MessageSid").or_else(|| params.get("SmsSid"))
        && let Some(t) = crate::messaging::tenant_of(&state.db, sid).await?
    {
        return Ok(Some(t));
    }
    for number in [params.get("To"), params.get("From")].into_iter().flatten() {
        if let Some(n) = E164::lookup_key(number)
            && let Some(t) = number_owner(state, &n).await?
        {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// The request body, or 413 / 400.
fn read_body(body: Result<Bytes, BytesRejection>) -> AppResult<Bytes> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::BadRequest("unreadable body".into())
        }
    })
}

/// Checks `X-Twilio-Signature` with the auth token of the tenant's account (else the
/// platform's) over `PUBLIC_URL` + path + query; `valid` applies the validator to the
/// request's form parameters or JSON body. 403 when it fails.
async fn check_signature(
    state: &AppState,
    tenant_id: Option<&str>,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    valid: impl FnOnce(&RequestValidator, &str, &str) -> AppResult<bool>,
) -> AppResult<()> {
    if state.config.insecure_skip_signature {
        return Ok(());
    }
    let Some(signature) = headers
        .get(twilio::signature::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        crate::telemetry::signature_failure("missing");
        return Err(AppError::Forbidden("missing X-Twilio-Signature"));
    };
    let token = match tenant_id {
        Some(t) => tenant_context(state, t).await?.webhook_token.clone(),
        None => state.config.platform.auth_token.clone(),
    }
    .ok_or(AppError::Forbidden(
        "no auth token is configured to verify this account's webhooks",
    ))?;
    let url = match uri.query() {
        Some(q) => format!("{}{}?{q}", state.config.public_url, uri.path()),
        None => format!("{}{}", state.config.public_url, uri.path()),
    };
    if !valid(&RequestValidator::new(&token), &url, signature)? {
        tracing::warn!(path = %uri.path(), "refused a webhook with a bad signature");
        crate::telemetry::signature_failure("invalid");
        return Err(AppError::Forbidden("invalid X-Twilio-Signature"));
    }
    Ok(())
}

/// Steps 1–3 of the pipeline.
async fn verify(
    state: &AppState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<Verified> {
    let body = read_body(body)?;
    let query = uri.query().map(str::to_owned);
    let params = if *method == Method::GET {
        Params::parse_form(query.as_deref().unwrap_or_default().as_bytes())
    } else {
        Params::parse_form(&body)
    }
    .map_err(bad_payload)?;
    // The first request of a call: no Digits, no menu attempt, at the VoiceUrl.
    let new_call = uri.path().ends_with("/voice") || uri.path().ends_with("/voice/incoming");
    let new_call = new_call
        && params.get("Digits").is_none()
        && query.as_deref().is_none_or(|q| !q.contains("attempt="));
    let tenant_id = if uri.path().contains("/sms") {
        resolve_sms_tenant(state, &params).await?
    } else {
        resolve_owner(state, &params, new_call).await?
    };
    let signer = resolve_signer(state, &params, tenant_id.as_deref()).await?;

    // A GET is signed over its URL alone: the parameters are in the query string.
    let signed_params: &[(String, String)] = if *method == Method::GET {
        &[]
    } else {
        params.pairs()
    };
    check_signature(
        state,
        signer.as_deref(),
        uri,
        headers,
        |validator, url, signature| Ok(validator.validate(url, signed_params, signature)),
    )
    .await?;
    Ok(Verified {
        params,
        tenant_id,
        query,
    })
}

async fn record(
    state: &AppState,
    tenant: Option<&str>,
    call_sid: &str,
    kind: EventKind,
    params: &Params,
) -> AppResult<Option<calls::CallRecord>> {
    let record = state
        .events
        .record(calls::NewEvent {
            tenant_id: tenant.map(str::to_owned),
            call_sid: call_sid.to_owned(),
            kind,
            params: params.pairs().to_vec(),
            timezone: match tenant {
                Some(t) => Some(tenant_context(state, t).await?.settings.timezone.clone()),
                None => None,
            },
        })
        .await?;
    // The events after which a call's text may be complete: the end of its real-time
    // transcription, and the end of the call.
    let text_may_be_done = match kind {
        EventKind::Transcription => {
            params.get("TranscriptionEvent") == Some("transcription-stopped")
        }
        EventKind::Status => params.get("CallStatus") == Some("completed"),
        _ => false,
    };
    if let (true, Some(tenant), Some(r)) = (text_may_be_done, tenant, &record) {
        crate::intelligence::classify_when_changed(state, tenant, call_sid, r).await?;
    }
    if let (EventKind::Status, Some(tenant), Some(r)) = (kind, tenant, &record) {
        crate::messaging::text_back_when_missed(state, tenant, call_sid, r).await?;
    }
    Ok(record)
}

/// The number is not ours: say so politely, keep the event for admins.
async fn unrouted(
    state: &AppState,
    call_sid: &str,
    kind: EventKind,
    params: &Params,
) -> AppResult<Response> {
    record(state, None, call_sid, kind, params).await?;
    tracing::warn!(kind = kind.as_str(), "call to a number no tenant owns");
    Ok(twiml(
        &VoiceResponse::new()
            .push(Say::new(
                "Sorry, the number you have called is not in service. Goodbye.",
            ))
            .push(Hangup::new()),
    ))
}

/// The call flow's answer for `step`, with the tenant's settings, as TwiML.
async fn respond(
    state: &AppState,
    tenant: &str,
    tracking_number: &str,
    step: &Step,
) -> AppResult<Response> {
    let ctx = tenant_context(state, tenant).await?;
    Ok(twiml(&call_flow::respond(
        &ctx.settings,
        &state.config.public_url,
        tracking_number,
        step,
        jiff::Timestamp::now(),
    )))
}

/// `POST /api/twilio/voice/incoming`: a call arrives, or the menu comes back.
#[utoipa::path(
    post,
    path = "/api/twilio/voice/incoming",
    tag = "webhooks",
    summary = "A call to a tracking number (the number's VoiceUrl)",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn incoming(State(state): State<AppState>, v: Verified) -> AppResult<Response> {
    // Read in place: the parameters are copied once, into the stored event.
    let call = CallDetails::from_params(&v.params).map_err(bad_payload)?;
    let digits = v.params.get("Digits").map(str::to_owned);
    let kind = if digits.is_some() || v.query_param("attempt").is_some() {
        EventKind::Gather
    } else {
        EventKind::Incoming
    };
    let Some(tenant) = v.tenant_id.as_deref() else {
        return unrouted(&state, &call.call_sid, kind, &v.params).await;
    };
    record(&state, Some(tenant), &call.call_sid, kind, &v.params).await?;
    let attempt = v
        .query_param("attempt")
        .and_then(|a| a.parse::<u8>().ok())
        .unwrap_or(0)
        .min(call_flow::MENU_ATTEMPTS);
    let tracking =
        E164::lookup_key(&call.to).map_or_else(|| call.to.clone(), |n| n.as_str().to_owned());
    let step = Step::Incoming { attempt, digits };
    let ctx = tenant_context(&state, tenant).await?;
    if ctx.settings.mode == crate::telephony::RoutingMode::AiAgent && kind == EventKind::Incoming {
        // The greeting is the conversation's turn 0, so the record shows what the caller
        // heard first.
        let now = jiff::Timestamp::now();
        let greeting =
            crate::receptionist::greeting(&crate::receptionist::Context::of(&ctx.settings, now));
        let params = vec![
            ("Turn".to_owned(), "0".to_owned()),
            ("Said".to_owned(), greeting),
            ("Action".to_owned(), "greet".to_owned()),
        ];
        record(
            &state,
            Some(tenant),
            &call.call_sid,
            EventKind::Agent,
            &Params::from_pairs(params),
        )
        .await?;
    }
    Ok(twiml(&call_flow::respond(
        &ctx.settings,
        &state.config.public_url,
        &tracking,
        &step,
        jiff::Timestamp::now(),
    )))
}

/// `POST /api/twilio/voice/agent?turn=N`: the caller answered the AI receptionist (or
/// said nothing). The turn is worked out from the knowledge base and the state the last
/// turn left, stored as an `agent` event, and only then answered; a duplicate of a turn
/// already stored gets that turn's answer again and changes nothing.
#[utoipa::path(
    post,
    path = "/api/twilio/voice/agent",
    tag = "webhooks",
    summary = "The AI receptionist's Gather result",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn agent(State(state): State<AppState>, v: Verified) -> AppResult<Response> {
    let call = IncomingCall::from_params(v.params.clone()).map_err(bad_payload)?;
    let Some(tenant) = v.tenant_id.as_deref() else {
        return unrouted(&state, &call.call.call_sid, EventKind::Agent, &v.params).await;
    };
    let turn = v
        .query_param("turn")
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1000);
    let tracking = E164::lookup_key(&call.call.to)
        .map_or_else(|| call.call.to.clone(), |n| n.as_str().to_owned());
    let ctx = tenant_context(&state, tenant).await?;
    let now = jiff::Timestamp::now();
    let answer = crate::receptionist::conversation::take_turn(
        &state,
        tenant,
        &call,
        turn,
        &ctx.settings,
        now,
    )
    .await?;
    Ok(twiml(&call_flow::agent_turn(
        &ctx.settings,
        &state.config.public_url,
        &tracking,
        &answer,
        turn + 1,
        now,
    )))
}

/// `POST /api/twilio/voice/client` (alias `/api/twilio/voice-webhook`): a staff member's
/// browser dials through the tenant's TwiML App. The identity decided the tenant (and
/// whose token signed the request); the number is checked, the call recorded as placed
/// by that user, and the customer dialled from the tenant's tracking number.
#[utoipa::path(
    post,
    path = "/api/twilio/voice/client",
    tag = "webhooks",
    summary = "A call placed from the browser softphone (the TwiML App's VoiceUrl)",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn voice_client(
    State(state): State<AppState>,
    v: Verified,
) -> AppResult<Response> {
    let call_sid = v
        .params
        .get("CallSid")
        .ok_or_else(|| AppError::BadRequest("CallSid is required".into()))?
        .to_owned();
    let user = v
        .params
        .get("From")
        .and_then(crate::softphone::user_of_client)
        .map(str::to_owned);
    let (Some(tenant), Some(user)) = (v.tenant_id.as_deref(), user) else {
        return Ok(twiml(
            &VoiceResponse::new()
                .push(twilio::twiml::Say::new(
                    "This browser is not signed in to Switchboard.",
                ))
                .push(twilio::twiml::Hangup::new()),
        ));
    };
    let ctx = tenant_context(&state, tenant).await?;
    let placement = crate::softphone::place(
        &state,
        tenant,
        &user,
        v.params.get("To"),
        v.params.get("FromNumber"),
    )
    .await?;
    let (caller_id, to) = match placement {
        crate::softphone::Placement::Dial { caller_id, to } => (caller_id, to),
        crate::softphone::Placement::Refused(why) => {
            return Ok(twiml(&call_flow::refuse_outbound(&ctx.settings, why)));
        }
    };
    let mut params: Vec<(String, String)> = vec![
        ("CallSid".into(), call_sid.clone()),
        ("From".into(), caller_id.clone()),
        ("To".into(), to.clone()),
        ("Direction".into(), "outbound-dial".into()),
        ("UserId".into(), user),
    ];
    if let Some(ts) = v.params.get("Timestamp") {
        params.push(("Timestamp".into(), ts.to_owned()));
    }
    state
        .events
        .record(calls::NewEvent {
            tenant_id: Some(tenant.to_owned()),
            call_sid,
            kind: EventKind::Placed,
            params,
            timezone: Some(ctx.settings.timezone.clone()),
        })
        .await?;
    Ok(twiml(&call_flow::outbound(
        &ctx.settings,
        &state.config.public_url,
        &caller_id,
        &to,
    )))
}

/// `POST /api/twilio/voice/click-to-call?to=…`: the staff member's own phone answered a
/// click-to-call; bridge the customer from the number the call came from. The customer
/// rides in our own URL, which Twilio signs with the rest of the request.
#[utoipa::path(
    post,
    path = "/api/twilio/voice/click-to-call",
    tag = "webhooks",
    summary = "Click-to-call: the staff member answered; bridge the customer",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn click_to_call(
    State(state): State<AppState>,
    v: Verified,
) -> AppResult<Response> {
    let caller_id = v
        .params
        .get("From")
        .and_then(E164::lookup_key)
        .ok_or_else(|| AppError::BadRequest("From is required".into()))?;
    let to = v
        .query_param("to")
        .and_then(|t| crate::softphone::dialable(&t));
    let Some(tenant) = v.tenant_id.as_deref() else {
        return Ok(twiml(
            &VoiceResponse::new()
                .push(twilio::twiml::Say::new(
                    "This number is not set up for calls.",
                ))
                .push(twilio::twiml::Hangup::new()),
        ));
    };
    let ctx = tenant_context(&state, tenant).await?;
    let Some(to) = to else {
        return Ok(twiml(&call_flow::refuse_outbound(
            &ctx.settings,
            "That number cannot be called from here.",
        )));
    };
    Ok(twiml(&call_flow::click_to_call(
        &ctx.settings,
        &state.config.public_url,
        caller_id.as_str(),
        to.as_str(),
    )))
}

/// `POST /api/twilio/voice/status-callback`: the caller's call (or a leg) changed.
#[utoipa::path(
    post,
    path = "/api/twilio/voice/status-callback",
    tag = "webhooks",
    summary = "The caller's call status",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn status_callback(
    State(state): State<AppState>,
    v: Verified,
) -> AppResult<Response> {
    let status = CallStatusCallback::from_params(v.params.clone()).map_err(bad_payload)?;
    let (sid, kind) = match &status.call.parent_call_sid {
        Some(parent) => (parent.clone(), EventKind::DialLeg),
        None => (status.call.call_sid.clone(), EventKind::Status),
    };
    record(&state, v.tenant_id.as_deref(), &sid, kind, &v.params).await?;
    Ok(empty())
}

/// `POST /api/twilio/voice/dial-status`: the Dial action, or a dialed leg's status.
#[utoipa::path(
    post,
    path = "/api/twilio/voice/dial-status",
    tag = "webhooks",
    summary = "The Dial action: how ringing staff went",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn dial_status(State(state): State<AppState>, v: Verified) -> AppResult<Response> {
    if v.params.get("DialCallStatus").is_some() {
        let action = DialAction::from_params(v.params.clone()).map_err(bad_payload)?;
        let record = record(
            &state,
            v.tenant_id.as_deref(),
            &action.call.call_sid,
            EventKind::DialAction,
            &v.params,
        )
        .await?;
        let Some(tenant) = v.tenant_id.as_deref() else {
            return Ok(empty());
        };
        let answered = record
            .as_ref()
            .is_some_and(|r| r.dial_status.as_deref() == Some("answered"));
        let outbound = calls::is_outbound(record.as_ref().and_then(|r| r.direction.as_deref()));
        let step = if outbound {
            Step::OutboundEnded { answered }
        } else {
            Step::DialEnded { answered }
        };
        return respond(&state, tenant, "", &step).await;
    }
    let leg = NumberStatus::from_params(v.params.clone()).map_err(bad_payload)?;
    record(
        &state,
        v.tenant_id.as_deref(),
        &leg.parent_call_sid,
        EventKind::DialLeg,
        &v.params,
    )
    .await?;
    Ok(empty())
}

/// `POST /api/twilio/voice/whisper`: what the answering staff hears first.
#[utoipa::path(
    post,
    path = "/api/twilio/voice/whisper",
    tag = "webhooks",
    summary = "The whisper to the answering staff member",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn whisper(State(state): State<AppState>, v: Verified) -> AppResult<Response> {
    let leg = IncomingCall::from_params(v.params.clone()).map_err(bad_payload)?;
    let parent = leg
        .call
        .parent_call_sid
        .clone()
        .unwrap_or_else(|| leg.call.call_sid.clone());
    record(
        &state,
        v.tenant_id.as_deref(),
        &parent,
        EventKind::Whisper,
        &v.params,
    )
    .await?;
    let Some(tenant) = v.tenant_id.as_deref() else {
        return Ok(empty());
    };
    let step = Step::Whisper {
        choice: v.query_param("choice"),
        topic: v
            .query_param("topic")
            .as_deref()
            .and_then(crate::receptionist::Topic::parse),
    };
    respond(&state, tenant, "", &step).await
}

/// `GET|POST /api/twilio/voice/voicemail`: the voicemail prompt, and its goodbye.
#[utoipa::path(
    method(get, post),
    path = "/api/twilio/voice/voicemail",
    tag = "webhooks",
    summary = "The voicemail prompt",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn voicemail(State(state): State<AppState>, v: Verified) -> AppResult<Response> {
    let call = IncomingCall::from_params(v.params.clone()).map_err(bad_payload)?;
    record(
        &state,
        v.tenant_id.as_deref(),
        &call.call.call_sid,
        EventKind::VoicemailRequest,
        &v.params,
    )
    .await?;
    let Some(tenant) = v.tenant_id.as_deref() else {
        return Ok(empty());
    };
    let step = if v.query_param("done").is_some() {
        Step::VoicemailDone
    } else {
        Step::Voicemail
    };
    respond(&state, tenant, "", &step).await
}

async fn recording(state: AppState, v: Verified, kind: EventKind) -> AppResult<Response> {
    let rec = RecordingStatusCallback::from_params(v.params.clone()).map_err(bad_payload)?;
    record(
        &state,
        v.tenant_id.as_deref(),
        &rec.call_sid,
        kind,
        &v.params,
    )
    .await?;
    // Stored and the call's own: its transcript is a job (queued once per recording),
    // never a request to Twilio from inside this one.
    if kind == EventKind::Recording
        && rec.status == twilio::webhook::RecordingStatus::Completed
        && rec.duration.is_some_and(|d| d > 0)
        && let Some(tenant) = v.tenant_id.as_deref()
    {
        crate::intelligence::request_transcript(&state, tenant, &rec.call_sid, &rec.recording_sid)
            .await?;
    }
    Ok(empty())
}

/// `POST /api/twilio/voice/recording-status`: the main recording is ready.
#[utoipa::path(
    post,
    path = "/api/twilio/voice/recording-status",
    tag = "webhooks",
    summary = "A recording is ready",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn recording_status(
    State(state): State<AppState>,
    v: Verified,
) -> AppResult<Response> {
    recording(state, v, EventKind::Recording).await
}

/// `POST /api/twilio/voice/voicemail-status`: the voicemail is ready.
#[utoipa::path(
    post,
    path = "/api/twilio/voice/voicemail-status",
    tag = "webhooks",
    summary = "A voicemail recording is ready",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn voicemail_status(
    State(state): State<AppState>,
    v: Verified,
) -> AppResult<Response> {
    recording(state, v, EventKind::Voicemail).await
}

/// `POST /api/twilio/voice/transcription`: real-time transcription events.
#[utoipa::path(
    post,
    path = "/api/twilio/voice/transcription",
    tag = "webhooks",
    summary = "Real-time transcription events",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn transcription(
    State(state): State<AppState>,
    v: Verified,
) -> AppResult<Response> {
    let t = RealtimeTranscription::from_params(v.params.clone()).map_err(bad_payload)?;
    record(
        &state,
        v.tenant_id.as_deref(),
        &t.call_sid,
        EventKind::Transcription,
        &v.params,
    )
    .await?;
    Ok(empty())
}

/// `POST /api/twilio/sms`: an inbound text. Stored, then answered with the tenant's
/// auto-reply when one is set.
#[utoipa::path(
    post,
    path = "/api/twilio/sms",
    tag = "webhooks",
    summary = "An incoming text (answers the tenant's auto-reply, if any)",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn sms(State(state): State<AppState>, v: Verified) -> AppResult<Response> {
    let text = InboundSms::from_params(v.params.clone()).map_err(bad_payload)?;
    let reply = MessagingResponse::new();
    let Some(tenant) = v.tenant_id.as_deref() else {
        tracing::warn!("text to a number no tenant owns");
        return Ok(messaging_twiml(&reply));
    };
    crate::messaging::record_inbound(
        &state.db,
        tenant,
        &crate::messaging::Inbound {
            message_sid: &text.message_sid,
            from: &text.from,
            to: &text.to,
            body: &text.body,
            num_media: i64::try_from(text.media.len()).unwrap_or(0),
        },
    )
    .await?;
    // Carrier keywords. Twilio's own opt-out handling confirms STOP and START to the
    // sender; we record them so nothing of ours goes to a number that opted out, and
    // answer HELP with the tenant's help text.
    let settings = crate::telephony::view(&state.db, tenant).await?;
    let answer = match crate::messaging::keyword(&text.body) {
        Some(crate::messaging::Keyword::OptOut) => {
            let word = text.body.trim().to_uppercase();
            crate::messaging::opt_out(&state.db, tenant, &text.from, &word).await?;
            tracing::info!("a sender opted out of texts");
            None
        }
        Some(crate::messaging::Keyword::OptIn) => {
            crate::messaging::opt_in(&state.db, tenant, &text.from).await?;
            None
        }
        Some(crate::messaging::Keyword::Help) => settings.sms_help_text,
        None if crate::messaging::opted_out_at(&state.db, tenant, &text.from)
            .await?
            .is_some() =>
        {
            None
        }
        None => settings.auto_reply_message,
    };
    Ok(messaging_twiml(&match answer {
        Some(message) => reply.push(Message::new(message)),
        None => reply,
    }))
}

/// `POST /api/twilio/sms/status`: a sent text's delivery status.
#[utoipa::path(
    post,
    path = "/api/twilio/sms/status",
    tag = "webhooks",
    summary = "A sent text's status",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn sms_status(State(state): State<AppState>, v: Verified) -> AppResult<Response> {
    let status = SmsStatusCallback::from_params(v.params.clone()).map_err(bad_payload)?;
    let known = crate::messaging::apply_status(
        &state.db,
        &status.message_sid,
        status.status.as_str(),
        status.error_code.as_deref(),
    )
    .await?;
    if !known {
        tracing::info!("status for a text we do not know; ignored");
    }
    Ok(messaging_twiml(&MessagingResponse::new()))
}

fn messaging_twiml(response: &MessagingResponse) -> Response {
    xml(response.to_xml())
}

/// `POST /api/twilio/ci-status`: a Voice Intelligence transcript is ready. Twilio sends
/// JSON signed through `bodySHA256` (a form body is accepted too). The webhook is stored,
/// then the results are fetched and stored; if that fails we answer 502 so Twilio retries.
#[utoipa::path(
    post,
    path = "/api/twilio/ci-status",
    tag = "webhooks",
    summary = "A Voice Intelligence transcript's status (JSON or form)",
    request_body(content = crate::http::openapi::TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses((status = 200, description = "TwiML", content_type = "text/xml", body = String), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody)),
)]
pub(crate) async fn ci_status(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<Response> {
    let body = read_body(body)?;
    let ready = twilio::webhook::TranscriptReady::parse(&body).map_err(bad_payload)?;
    let tenant = match ready.customer_key.as_deref() {
        Some(call_sid) => calls::tenant_of_call(&state.db, call_sid).await?,
        None => None,
    };
    let json_body = uri.query().is_some_and(|q| q.contains("bodySHA256="));
    check_signature(
        &state,
        tenant.as_deref(),
        &uri,
        &headers,
        |validator, url, signature| {
            if json_body {
                Ok(validator.validate_body(url, &body, signature))
            } else {
                let params = Params::parse_form(&body).map_err(bad_payload)?;
                Ok(validator.validate(url, params.pairs(), signature))
            }
        },
    )
    .await?;
    let mut params = vec![("TranscriptSid".to_owned(), ready.transcript_sid.clone())];
    params.extend(
        ready
            .service_sid
            .iter()
            .map(|s| ("ServiceSid".to_owned(), s.clone())),
    );
    params.extend(
        ready
            .event_type
            .iter()
            .map(|s| ("EventType".to_owned(), s.clone())),
    );
    let (Some(tenant), Some(call_sid)) = (tenant, ready.customer_key.clone()) else {
        // Not one of our calls: keep it for admins.
        record(
            &state,
            None,
            &ready.transcript_sid,
            EventKind::Intelligence,
            &Params::from_pairs(params),
        )
        .await?;
        return Ok(axum::Json(serde_json::json!({"status": "ignored"})).into_response());
    };
    record(
        &state,
        Some(&tenant),
        &call_sid,
        EventKind::Intelligence,
        &Params::from_pairs(params),
    )
    .await?;
    // Reading the results talks to Twilio: a job does it, after we have answered.
    crate::intelligence::results_ready(&state, &tenant, &call_sid, &ready.transcript_sid).await?;
    Ok(axum::Json(serde_json::json!({"status": "ok"})).into_response())
}
