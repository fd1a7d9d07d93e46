//! The REST API: Twilio's paths, parameters, JSON shapes, paging and error body.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::Simulator;
use crate::media::{self, RangeAnswer};
use crate::state::{
    Account, MessageRecord, NumberRecord, State as SimState, TranscriptRecord, now_ms, sid,
};

/// An error in Twilio's shape.
pub struct TwilioError {
    status: StatusCode,
    code: i64,
    message: String,
}

impl TwilioError {
    fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            20404,
            format!("The requested resource {path} was not found"),
        )
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 21200, message)
    }
}

impl IntoResponse for TwilioError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // As Twilio answers: clients retry with Basic credentials.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        response
    }
}

type Result<T> = std::result::Result<T, TwilioError>;

/// HTTP Basic with the account's SID and auth token, or one of its API keys.
/// Twilio's answer to missing or wrong credentials.
fn refused() -> TwilioError {
    TwilioError::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
}

/// The user and password of an HTTP Basic `Authorization` header.
fn basic_credentials(headers: &HeaderMap) -> Result<(String, String)> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refused)?;
    let encoded = value.strip_prefix("Basic ").ok_or_else(refused)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| refused())?;
    let text = String::from_utf8(decoded).map_err(|_| refused())?;
    let (user, password) = text.split_once(':').ok_or_else(refused)?;
    Ok((user.to_owned(), password.to_owned()))
}

fn authorize(sim: &Simulator, headers: &HeaderMap, account: &str) -> Result<()> {
    let (user, password) = basic_credentials(headers)?;
    let state = sim.lock();
    let acct = state.accounts.get(account).ok_or_else(refused)?;
    let ok = (user == acct.sid && password == acct.auth_token)
        || acct
            .api_keys
            .iter()
            .any(|(k, s)| *k == user && *s == password);
    // A closed account's credentials no longer authenticate.
    if ok && acct.status != "closed" {
        Ok(())
    } else {
        Err(refused())
    }
}

/// An account, or Twilio's 404.
fn account_of<'a>(state: &'a SimState, account: &str) -> Result<&'a Account> {
    state
        .accounts
        .get(account)
        .ok_or_else(|| TwilioError::not_found(account))
}

/// An account to change, or Twilio's 404.
fn account_of_mut<'a>(state: &'a mut SimState, account: &str) -> Result<&'a mut Account> {
    state
        .accounts
        .get_mut(account)
        .ok_or_else(|| TwilioError::not_found(account))
}

fn form(body: &[u8]) -> Result<Vec<(String, String)>> {
    serde_urlencoded::from_bytes(body).map_err(|_| TwilioError::bad("malformed form body"))
}

fn param<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

fn strip<'a>(file: &'a str, ext: &str) -> Option<&'a str> {
    file.strip_suffix(ext)
}

/// The sid of a `{sid}.json` resource path segment, else Twilio's 404.
fn json_sid(file: &str) -> Result<&str> {
    strip(file, ".json").ok_or_else(|| TwilioError::not_found(file))
}

/// Builds the REST router.
pub fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/2010-04-01/Accounts/{file}", get(account))
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
            get(list_numbers).post(purchase_number),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{file}",
            get(fetch_number).post(update_number).delete(release_number),
        )
        .route(
            "/2010-04-01/Accounts/{account}/AvailablePhoneNumbers/{country}/{file}",
            get(available_numbers),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            get(list_calls).post(create_call),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Applications.json",
            get(list_applications).post(create_application),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Applications/{file}",
            get(fetch_application)
                .post(update_application)
                .delete(delete_application),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Recordings.json",
            get(list_recordings),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{file}",
            get(fetch_call).post(update_call),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            get(list_messages).post(create_message),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{file}",
            get(fetch_message),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Recordings/{file}",
            get(recording).delete(delete_recording),
        )
        .route("/v2/Transcripts", axum::routing::post(create_transcript))
        .route(
            "/v2/Transcripts/{sid}",
            get(fetch_transcript).delete(delete_transcript),
        )
        .route(
            "/v2/Transcripts/{sid}/OperatorResults",
            get(operator_results),
        )
        .route("/v2/Transcripts/{sid}/Sentences", get(sentences))
        .route(
            "/v2/Transcripts/{sid}/OperatorResults/{operator_sid}",
            get(operator_result),
        )
        .fallback(|uri: axum::http::Uri| async move { TwilioError::not_found(uri.path()) })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            TwilioError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                20004,
                format!("Method {method} not allowed"),
            )
        })
        .with_state(sim)
}

async fn account(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Result<axum::Json<Value>> {
    let sid = json_sid(&file)?;
    authorize(&sim, &headers, sid)?;
    answer_delay(&sim, sid).await;
    let state = sim.lock();
    Ok(axum::Json(
        state
            .accounts
            .get(sid)
            .map(|a| a.json())
            .unwrap_or_default(),
    ))
}

/// Waits as long as the account was told to take (a slow Twilio).
async fn answer_delay(sim: &Simulator, account: &str) {
    let delay = sim
        .lock()
        .accounts
        .get(account)
        .map_or(0, |a| a.answer_delay_ms);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
}

async fn list_numbers(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(account): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    answer_delay(&sim, &account).await;
    let q = query_pairs(q.as_deref());
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    let items: Vec<Value> = acct
        .numbers
        .iter()
        .filter(|n| param(&q, "PhoneNumber").is_none_or(|p| n.phone_number == p))
        .map(|n| n.json(&account))
        .collect();
    Ok(axum::Json(page_of(
        &q,
        "incoming_phone_numbers",
        &format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json"),
        items,
    )))
}

fn apply_webhooks(n: &mut NumberRecord, f: &[(String, String)]) {
    if let Some(v) = param(f, "FriendlyName") {
        n.friendly_name = v.to_owned();
    }
    if let Some(v) = param(f, "VoiceUrl") {
        n.voice_url = Some(v.to_owned());
    }
    if let Some(v) = param(f, "VoiceMethod") {
        n.voice_method = v.to_owned();
    }
    if let Some(v) = param(f, "StatusCallback") {
        n.status_callback = Some(v.to_owned());
    }
    if let Some(v) = param(f, "SmsUrl") {
        n.sms_url = Some(v.to_owned());
    }
    // The rest of what Twilio stores and echoes back.
    for name in [
        "SmsMethod",
        "StatusCallbackMethod",
        "VoiceFallbackUrl",
        "VoiceFallbackMethod",
        "VoiceApplicationSid",
        "VoiceCallerIdLookup",
        "VoiceReceiveMode",
        "SmsFallbackUrl",
        "SmsFallbackMethod",
        "SmsApplicationSid",
        "TrunkSid",
    ] {
        if let Some(v) = param(f, name) {
            n.settings.insert(name.to_owned(), v.to_owned());
        }
    }
    n.date_updated = now_ms();
}

async fn purchase_number(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<Value>)> {
    authorize(&sim, &headers, &account)?;
    let f = form(&body)?;
    let phone_number = match (param(&f, "PhoneNumber"), param(&f, "AreaCode")) {
        (Some(p), _) => p.to_owned(),
        (None, Some(area)) if area.len() == 3 && area.bytes().all(|b| b.is_ascii_digit()) => {
            format!("+1{area}555{:04}", rand::random::<u16>() % 10_000)
        }
        _ => {
            return Err(TwilioError::bad(
                "A 'PhoneNumber' or 'AreaCode' is required.",
            ));
        }
    };
    let mut state = sim.lock();
    if state.number_owner(&phone_number).is_some() {
        return Err(TwilioError::new(
            StatusCode::BAD_REQUEST,
            21422,
            "PhoneNumber is not available",
        ));
    }
    let acct = account_of_mut(&mut state, &account)?;
    let mut n = NumberRecord {
        sid: sid("PN"),
        friendly_name: phone_number.clone(),
        phone_number,
        voice_url: None,
        voice_method: "POST".into(),
        status_callback: None,
        sms_url: None,
        date_created: now_ms(),
        settings: std::collections::BTreeMap::new(),
        date_updated: 0,
    };
    apply_webhooks(&mut n, &f);
    let out = n.json(&account);
    acct.numbers.push(n);
    Ok((StatusCode::CREATED, axum::Json(out)))
}

async fn fetch_number(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let sid = json_sid(&file)?;
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    let n = acct
        .numbers
        .iter()
        .find(|n| n.sid == sid)
        .ok_or_else(|| TwilioError::not_found(&file))?;
    Ok(axum::Json(n.json(&account)))
}

async fn update_number(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
    body: Bytes,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let sid = json_sid(&file)?;
    let f = form(&body)?;
    let mut state = sim.lock();
    let acct = account_of_mut(&mut state, &account)?;
    let n = acct
        .numbers
        .iter_mut()
        .find(|n| n.sid == sid)
        .ok_or_else(|| TwilioError::not_found(&file))?;
    apply_webhooks(n, &f);
    Ok(axum::Json(n.json(&account)))
}

async fn release_number(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
) -> Result<StatusCode> {
    authorize(&sim, &headers, &account)?;
    let sid = json_sid(&file)?;
    let mut state = sim.lock();
    let acct = account_of_mut(&mut state, &account)?;
    let before = acct.numbers.len();
    acct.numbers.retain(|n| n.sid != sid);
    if acct.numbers.len() == before {
        return Err(TwilioError::not_found(&file));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE …/Recordings/{Sid}.json`: the audio and metadata are gone; 204, or 404 for
/// a recording the account does not have (any more).
async fn delete_recording(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
) -> Result<StatusCode> {
    authorize(&sim, &headers, &account)?;
    let sid = json_sid(&file)?;
    let mut state = sim.lock();
    let acct = account_of_mut(&mut state, &account)?;
    acct.recordings
        .remove(sid)
        .map(|_| StatusCode::NO_CONTENT)
        .ok_or_else(|| TwilioError::not_found(&file))
}

/// `DELETE /v2/Transcripts/{Sid}`: 204, or 404 when there is no such transcript.
async fn delete_transcript(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(sid): Path<String>,
) -> Result<StatusCode> {
    let account = intelligence_account(&sim, &headers)?;
    let mut state = sim.lock();
    let acct = account_of_mut(&mut state, &account)?;
    acct.transcripts
        .remove(&sid)
        .map(|_| StatusCode::NO_CONTENT)
        .ok_or_else(|| TwilioError::not_found(&sid))
}

async fn available_numbers(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, country, file)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let toll_free = match file.as_str() {
        "Local.json" => false,
        "TollFree.json" => true,
        _ => return Err(TwilioError::not_found(&file)),
    };
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or_default()).unwrap_or_default();
    let area = if toll_free {
        "888".to_owned()
    } else {
        param(&q, "AreaCode").unwrap_or("555").to_owned()
    };
    let size: u32 = param(&q, "PageSize")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .clamp(1, 50);
    let state = sim.lock();
    // Every fifth number offered takes calls only, so SmsEnabled has something to filter.
    let wants = |name: &str| param(&q, name).map(|v| v.eq_ignore_ascii_case("true"));
    let numbers: Vec<Value> = (0..1000u32)
        .map(|i| (format!("+1{area}55{:05}", 1000 + i * 7), i % 5 != 4))
        .filter(|(n, _)| state.number_owner(n).is_none())
        .filter(|(n, _)| param(&q, "Contains").is_none_or(|c| n.contains(c.trim_matches('*'))))
        .filter(|(_, sms)| wants("SmsEnabled").is_none_or(|w| w == *sms))
        .take(size as usize)
        .map(|(n, sms)| {
            json!({
                "phone_number": n,
                "friendly_name": format!("({}) {}-{}", &n[2..5], &n[5..8], &n[8..]),
                "locality": "Springfield",
                "region": param(&q, "InRegion").unwrap_or("IL"),
                "postal_code": "62701",
                "iso_country": country,
                "capabilities": {"voice": true, "SMS": sms, "MMS": sms},
                "address_requirements": "none",
                "beta": false,
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "available_phone_numbers": numbers,
        "uri": format!("/2010-04-01/Accounts/{account}/AvailablePhoneNumbers/{country}/{file}"),
    })))
}

async fn create_call(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<Value>)> {
    authorize(&sim, &headers, &account)?;
    let f = form(&body)?;
    let to = param(&f, "To").ok_or_else(|| {
        TwilioError::new(
            StatusCode::BAD_REQUEST,
            21201,
            "No 'To' number is specified",
        )
    })?;
    let from = param(&f, "From").ok_or_else(|| {
        TwilioError::new(
            StatusCode::BAD_REQUEST,
            21213,
            "No 'From' number is specified",
        )
    })?;
    if param(&f, "Url").is_none()
        && param(&f, "Twiml").is_none()
        && param(&f, "ApplicationSid").is_none()
    {
        return Err(TwilioError::new(
            StatusCode::BAD_REQUEST,
            21205,
            "Url, Twiml or ApplicationSid is required",
        ));
    }
    let record = crate::caller::start_outbound(&sim, &account, to, from, &f)?;
    Ok((StatusCode::CREATED, axum::Json(record)))
}

/// The settings an Application create or update may carry.
const APPLICATION_SETTINGS: &[&str] = &[
    "VoiceUrl",
    "VoiceMethod",
    "VoiceFallbackUrl",
    "VoiceFallbackMethod",
    "StatusCallback",
    "StatusCallbackMethod",
    "VoiceCallerIdLookup",
    "SmsUrl",
    "SmsMethod",
    "SmsFallbackUrl",
    "SmsFallbackMethod",
    "SmsStatusCallback",
    "MessageStatusCallback",
    "PublicApplicationConnectEnabled",
];

fn apply_application(
    app: &mut crate::state::ApplicationRecord,
    f: &[(String, String)],
) -> Result<()> {
    for (k, v) in f {
        if k == "FriendlyName" {
            app.friendly_name = v.clone();
        } else if APPLICATION_SETTINGS.contains(&k.as_str()) {
            if k.ends_with("Url") && !v.is_empty() && url::Url::parse(v).is_err() {
                return Err(TwilioError::new(
                    StatusCode::BAD_REQUEST,
                    21502,
                    format!("{k} is not a valid URL: {v}"),
                ));
            }
            app.settings.insert(k.clone(), v.clone());
        }
    }
    Ok(())
}

/// `POST …/Applications.json`: a TwiML App.
async fn create_application(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<Value>)> {
    authorize(&sim, &headers, &account)?;
    let f = form(&body)?;
    let mut app = crate::state::ApplicationRecord {
        sid: crate::state::sid("AP"),
        date_created: now_ms(),
        ..Default::default()
    };
    apply_application(&mut app, &f)?;
    let mut state = sim.lock();
    let acct = account_of_mut(&mut state, &account)?;
    let out = app.json(&account);
    acct.applications.insert(app.sid.clone(), app);
    Ok((StatusCode::CREATED, axum::Json(out)))
}

/// `GET …/Applications.json` (`FriendlyName` filters), oldest first.
async fn list_applications(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(account): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let q = query_pairs(q.as_deref());
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    let mut apps: Vec<&crate::state::ApplicationRecord> = acct
        .applications
        .values()
        .filter(|a| param(&q, "FriendlyName").is_none_or(|n| a.friendly_name == n))
        .collect();
    apps.sort_by_key(|a| (a.date_created, a.sid.clone()));
    let items = apps.into_iter().map(|a| a.json(&account)).collect();
    Ok(axum::Json(page_of(
        &q,
        "applications",
        &format!("/2010-04-01/Accounts/{account}/Applications.json"),
        items,
    )))
}

async fn fetch_application(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let sid = json_sid(&file)?;
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    Ok(axum::Json(
        acct.applications
            .get(sid)
            .ok_or_else(|| TwilioError::not_found(&file))?
            .json(&account),
    ))
}

async fn update_application(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
    body: Bytes,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let sid = json_sid(&file)?;
    let f = form(&body)?;
    let mut state = sim.lock();
    let acct = account_of_mut(&mut state, &account)?;
    let app = acct
        .applications
        .get_mut(sid)
        .ok_or_else(|| TwilioError::not_found(&file))?;
    let mut changed = app.clone();
    apply_application(&mut changed, &f)?;
    changed.date_updated = now_ms();
    *app = changed;
    Ok(axum::Json(app.json(&account)))
}

async fn delete_application(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
) -> Result<StatusCode> {
    authorize(&sim, &headers, &account)?;
    let sid = json_sid(&file)?;
    let mut state = sim.lock();
    let acct = account_of_mut(&mut state, &account)?;
    acct.applications
        .remove(sid)
        .map(|_| StatusCode::NO_CONTENT)
        .ok_or_else(|| TwilioError::not_found(&file))
}

async fn fetch_call(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let sid = json_sid(&file)?;
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    Ok(axum::Json(
        acct.calls
            .get(sid)
            .ok_or_else(|| TwilioError::not_found(&file))?
            .json(&account),
    ))
}

async fn update_call(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
    body: Bytes,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let sid = json_sid(&file)?;
    let f = form(&body)?;
    let mut state = sim.lock();
    let acct = account_of_mut(&mut state, &account)?;
    let call = acct
        .calls
        .get_mut(sid)
        .ok_or_else(|| TwilioError::not_found(&file))?;
    if let Some(status) = param(&f, "Status") {
        if !matches!(status, "completed" | "canceled") {
            return Err(TwilioError::bad("Status must be completed or canceled"));
        }
        if !matches!(
            call.status.as_str(),
            "completed" | "canceled" | "busy" | "failed" | "no-answer"
        ) {
            call.status = status.to_owned();
            call.end_time = Some(now_ms());
        }
    }
    Ok(axum::Json(call.json(&account)))
}

async fn create_message(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<Value>)> {
    authorize(&sim, &headers, &account)?;
    let f = form(&body)?;
    let to = param(&f, "To").ok_or_else(|| {
        TwilioError::new(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        )
    })?;
    let from = param(&f, "From").ok_or_else(|| {
        TwilioError::new(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' phone number is required.",
        )
    })?;
    let body_text = param(&f, "Body").ok_or_else(|| {
        TwilioError::new(StatusCode::BAD_REQUEST, 21602, "Message body is required.")
    })?;
    {
        let state = sim.lock();
        let acct = account_of(&state, &account)?;
        if acct.opted_out.contains(&(from.to_owned(), to.to_owned())) {
            return Err(TwilioError::new(
                StatusCode::BAD_REQUEST,
                21610,
                "Attempt to send to unsubscribed recipient",
            ));
        }
    }
    let message = MessageRecord {
        sid: sid("SM"),
        from: from.to_owned(),
        to: to.to_owned(),
        body: body_text.to_owned(),
        status: "queued".into(),
        direction: "outbound-api".into(),
        error_code: None,
        date_created: now_ms(),
    };
    let out = message.json(&account);
    {
        let mut state = sim.lock();
        let acct = account_of_mut(&mut state, &account)?;
        acct.messages.insert(message.sid.clone(), message.clone());
    }
    let callback = param(&f, "StatusCallback").map(str::to_owned);
    let sim2 = sim.clone();
    tokio::spawn(async move {
        crate::caller::deliver_message(&sim2, &account, message, callback).await
    });
    Ok((StatusCode::CREATED, axum::Json(out)))
}

async fn fetch_message(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let sid = json_sid(&file)?;
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    Ok(axum::Json(
        acct.messages
            .get(sid)
            .ok_or_else(|| TwilioError::not_found(&file))?
            .json(&account),
    ))
}

async fn list_messages(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(account): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let q = query_pairs(q.as_deref());
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    let mut messages: Vec<&MessageRecord> = acct
        .messages
        .values()
        .filter(|m| param(&q, "To").is_none_or(|to| m.to == to))
        .filter(|m| param(&q, "From").is_none_or(|from| m.from == from))
        .filter(|m| date_matches(&q, "DateSent", m.date_created))
        .collect();
    messages.sort_by_key(|m| std::cmp::Reverse(m.date_created));
    let items: Vec<Value> = messages.iter().map(|m| m.json(&account)).collect();
    Ok(axum::Json(page_of(
        &q,
        "messages",
        &format!("/2010-04-01/Accounts/{account}/Messages.json"),
        items,
    )))
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(q.unwrap_or_default()).unwrap_or_default()
}

/// A filter on a date as Twilio's list endpoints take it: `Name=YYYY-MM-DD` (that UTC
/// day), `Name<=…`, `Name>=…` (the `<`/`>` arrive as part of the parameter name).
fn date_matches(q: &[(String, String)], name: &str, at_ms: i64) -> bool {
    let day = jiff::Timestamp::from_millisecond(at_ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();
    q.iter().all(|(k, v)| {
        let v = v.get(..10).unwrap_or(v);
        if k == name {
            day == v
        } else if *k == format!("{name}<") || *k == format!("{name}<=") {
            day.as_str() <= v
        } else if *k == format!("{name}>") || *k == format!("{name}>=") {
            day.as_str() >= v
        } else {
            true
        }
    })
}

/// One page of a list, in Twilio's 2010 paging shape (`PageSize`, `Page`).
fn page_of(q: &[(String, String)], key: &str, base: &str, items: Vec<Value>) -> Value {
    let page_size: usize = param(q, "PageSize")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    let page: usize = param(q, "Page").and_then(|v| v.parse().ok()).unwrap_or(0);
    let start = page * page_size;
    let has_next = start + page_size < items.len();
    let shown: Vec<Value> = items.into_iter().skip(start).take(page_size).collect();
    json!({
        key: shown,
        "page": page,
        "page_size": page_size,
        "start": start,
        "end": start + shown.len().saturating_sub(1),
        "uri": format!("{base}?PageSize={page_size}&Page={page}"),
        "first_page_uri": format!("{base}?PageSize={page_size}&Page=0"),
        "next_page_uri": has_next.then(|| format!("{base}?PageSize={page_size}&Page={}&PageToken=PA{}", page + 1, start + page_size)),
        "previous_page_uri": (page > 0).then(|| format!("{base}?PageSize={page_size}&Page={}", page - 1)),
    })
}

/// `GET …/Calls.json` with Twilio's filters (`To`, `From`, `Status`, `ParentCallSid`,
/// `StartTime`, `StartTime<`/`>`, `EndTime…`), newest first.
async fn list_calls(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(account): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let q = query_pairs(q.as_deref());
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    let mut calls: Vec<&crate::state::CallRecord> = acct
        .calls
        .values()
        .filter(|c| param(&q, "To").is_none_or(|to| c.to == to))
        .filter(|c| param(&q, "From").is_none_or(|from| c.from == from))
        .filter(|c| param(&q, "Status").is_none_or(|s| c.status == s))
        .filter(|c| {
            param(&q, "ParentCallSid").is_none_or(|p| c.parent_call_sid.as_deref() == Some(p))
        })
        .filter(|c| date_matches(&q, "StartTime", c.start_time))
        .filter(|c| {
            c.end_time
                .is_none_or(|end| date_matches(&q, "EndTime", end))
        })
        .collect();
    calls.sort_by_key(|c| std::cmp::Reverse(c.start_time));
    let items: Vec<Value> = calls.iter().map(|c| c.json(&account)).collect();
    Ok(axum::Json(page_of(
        &q,
        "calls",
        &format!("/2010-04-01/Accounts/{account}/Calls.json"),
        items,
    )))
}

/// `GET …/Recordings.json` (filters `CallSid`, `DateCreated…`), newest first.
async fn list_recordings(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(account): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<Value>> {
    authorize(&sim, &headers, &account)?;
    let q = query_pairs(q.as_deref());
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    let mut recordings: Vec<&crate::state::RecordingRecord> = acct
        .recordings
        .values()
        .filter(|r| param(&q, "CallSid").is_none_or(|c| r.call_sid == c))
        .filter(|r| date_matches(&q, "DateCreated", r.date_created))
        .collect();
    recordings.sort_by_key(|r| std::cmp::Reverse(r.date_created));
    let items: Vec<Value> = recordings
        .iter()
        .map(|r| r.json(&account, sim.base_url()))
        .collect();
    Ok(axum::Json(page_of(
        &q,
        "recordings",
        &format!("/2010-04-01/Accounts/{account}/Recordings.json"),
        items,
    )))
}

async fn recording(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((account, file)): Path<(String, String)>,
) -> Result<Response> {
    authorize(&sim, &headers, &account)?;
    let (sid, kind) = match file.rsplit_once('.') {
        Some((sid, ext @ ("json" | "mp3" | "wav"))) => (sid.to_owned(), ext),
        _ => (file.clone(), "wav"),
    };
    let rec = {
        let state = sim.lock();
        let acct = account_of(&state, &account)?;
        acct.recordings
            .get(&sid)
            .cloned()
            .ok_or_else(|| TwilioError::not_found(&file))?
    };
    let (bytes, content_type) = match kind {
        "json" => return Ok(axum::Json(rec.json(&account, sim.base_url())).into_response()),
        "mp3" => (media::mp3(rec.duration), "audio/mpeg"),
        _ => (media::wav(rec.duration), "audio/x-wav"),
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let len = bytes.len();
    Ok(match media::resolve_range(range, len) {
        RangeAnswer::Full => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::ACCEPT_RANGES, "bytes"),
            ],
            bytes,
        )
            .into_response(),
        RangeAnswer::Partial(start, end) => (
            StatusCode::PARTIAL_CONTENT,
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (header::ACCEPT_RANGES, "bytes".to_owned()),
                (header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")),
            ],
            bytes[start..=end].to_vec(),
        )
            .into_response(),
        RangeAnswer::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{len}"))],
        )
            .into_response(),
    })
}

/// Intelligence requests carry no account in the path: it is the authenticated user's.
fn intelligence_account(sim: &Simulator, headers: &HeaderMap) -> Result<String> {
    let (user, _) = basic_credentials(headers)?;
    let account = {
        let state = sim.lock();
        state
            .accounts
            .values()
            .find(|a| a.sid == user || a.api_keys.iter().any(|(k, _)| *k == user))
            .map(|a| a.sid.clone())
            .ok_or_else(refused)?
    };
    authorize(sim, headers, &account)?;
    Ok(account)
}

async fn create_transcript(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<Value>)> {
    let account = intelligence_account(&sim, &headers)?;
    let f = form(&body)?;
    let service = param(&f, "ServiceSid")
        .ok_or_else(|| TwilioError::bad("ServiceSid is required"))?
        .to_owned();
    let channel: Value = serde_json::from_str(
        param(&f, "Channel").ok_or_else(|| TwilioError::bad("Channel is required"))?,
    )
    .map_err(|_| TwilioError::bad("Channel must be JSON"))?;
    let recording_sid = channel["media_properties"]["source_sid"]
        .as_str()
        .ok_or_else(|| TwilioError::bad("Channel.media_properties.source_sid is required"))?
        .to_owned();
    let transcript = {
        let mut state = sim.lock();
        let acct = account_of_mut(&mut state, &account)?;
        let rec = acct
            .recordings
            .get(&recording_sid)
            .cloned()
            .ok_or_else(|| TwilioError::not_found(&recording_sid))?;
        let t = TranscriptRecord {
            sid: sid("GT"),
            service_sid: service,
            recording_sid,
            customer_key: param(&f, "CustomerKey").map(str::to_owned),
            status: "queued".into(),
            duration: rec.duration,
            script: rec.script,
            date_created: now_ms(),
            date_updated: 0,
        };
        acct.transcripts.insert(t.sid.clone(), t.clone());
        t
    };
    let out = transcript.json(&account);
    let sim2 = sim.clone();
    tokio::spawn(
        async move { crate::caller::complete_transcript(&sim2, &account, transcript).await },
    );
    Ok((StatusCode::ACCEPTED, axum::Json(out)))
}

async fn fetch_transcript(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(sid): Path<String>,
) -> Result<axum::Json<Value>> {
    let account = intelligence_account(&sim, &headers)?;
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    Ok(axum::Json(
        acct.transcripts
            .get(&sid)
            .ok_or_else(|| TwilioError::not_found(&sid))?
            .json(&account),
    ))
}

async fn operator_results(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(sid): Path<String>,
) -> Result<axum::Json<Value>> {
    let account = intelligence_account(&sim, &headers)?;
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    Ok(axum::Json(
        acct.transcripts
            .get(&sid)
            .ok_or_else(|| TwilioError::not_found(&sid))?
            .operator_results(),
    ))
}

/// `GET /v2/Transcripts/{sid}/Sentences`: the scripted conversation, one sentence per
/// line (channel 1 the caller, 2 the staff member), paged with `PageSize` and `Page`.
async fn sentences(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(sid): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<Value>> {
    let q: std::collections::HashMap<String, String> =
        query_pairs(q.as_deref()).into_iter().collect();
    let account = intelligence_account(&sim, &headers)?;
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    let t = acct
        .transcripts
        .get(&sid)
        .ok_or_else(|| TwilioError::not_found(&sid))?;
    let size: usize = q
        .get("PageSize")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    let page: usize = q.get("Page").and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(axum::Json(t.sentences(page, size)))
}

impl From<crate::caller::SimError> for TwilioError {
    fn from(e: crate::caller::SimError) -> Self {
        TwilioError::bad(e.to_string())
    }
}

/// `GET /v2/Transcripts/{sid}/OperatorResults/{operatorSid}`: one result.
async fn operator_result(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path((sid, operator_sid)): Path<(String, String)>,
) -> Result<axum::Json<Value>> {
    let account = intelligence_account(&sim, &headers)?;
    let state = sim.lock();
    let acct = account_of(&state, &account)?;
    let all = acct
        .transcripts
        .get(&sid)
        .ok_or_else(|| TwilioError::not_found(&sid))?
        .operator_results();
    all["operator_results"]
        .as_array()
        .and_then(|results| {
            results
                .iter()
                .find(|r| r["operator_sid"] == operator_sid.as_str())
                .cloned()
        })
        .map(axum::Json)
        .ok_or_else(|| TwilioError::not_found(&operator_sid))
}
