//! Calls: the softphone (a dialer in the browser on Twilio's Voice SDK, and
//! click-to-call through the staff member's own phone) beside the call history.
//!
//! Without JavaScript the page still places click-to-calls (a plain form); the browser
//! softphone needs the SDK, which we vendor and serve ourselves (see
//! `docs/voice-sdk.md`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect};

use crate::calls::{self, CallFilter, Scope};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::forms::{Errors, FormData};
use crate::web::{Chrome, PageResult, PageUser};

use super::*;

/// The vendored `@twilio/voice-sdk` release (`scripts/vendor-voice-sdk` replaces it).
pub(in crate::web) const VOICE_SDK_VERSION: &str = "2.18.5";

/// The SDK as npm ships it (`dist/twilio.min.js`), served from our own origin.
pub(in crate::web) const VOICE_SDK: &str =
    include_str!("../../../static/vendor/twilio-voice-sdk.min.js");

/// The page's own script.
pub(in crate::web) const SOFTPHONE_JS: &str = include_str!("../../../static/softphone.js");

/// The portal's policy, widened on this page only as far as the SDK needs: its
/// signalling websocket and event gateway (`connect-src`), and the ringtones it plays
/// from Twilio's SDK host (`media-src`).
const CALLS_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; media-src 'self' https://sdk.twilio.com; \
     connect-src 'self' wss://*.twilio.com https://*.twilio.com; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Calls shown in the history.
const HISTORY_SIZE: i64 = 25;

/// A call of the history.
pub(super) struct HistoryRow {
    call_sid: String,
    when: String,
    outbound: bool,
    /// The contact's (or caller id's) name, else the number.
    party: String,
    /// The customer's number, to call back.
    number: String,
    /// Who placed an outbound call.
    placed_by: String,
    outcome: String,
    outcome_label: &'static str,
    talk: String,
    recording_url: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "calls.html")]
pub(super) struct CallsPage {
    chrome: Chrome,
    /// The tenant's active numbers, for the caller id.
    numbers: Vec<crate::numbers::PhoneNumber>,
    /// The tenant's contacts for the dialer's suggestions: (name, number).
    contacts: Vec<(String, String)>,
    to: String,
    from_number: String,
    my_phone: String,
    errors: Errors,
    notice: Option<String>,
    /// `""`, `inbound` or `outbound`.
    direction: String,
    rows: Vec<HistoryRow>,
    total: i64,
    /// A click-to-call the page just placed, to follow.
    placed: Option<String>,
    /// The SDK's version, in its URL so that an upgrade is never served from a cache.
    sdk_version: &'static str,
}

#[derive(serde::Deserialize, Default)]
pub(super) struct CallsQuery {
    direction: Option<String>,
    to: Option<String>,
    placed: Option<String>,
    phone: Option<String>,
}

/// What the dialer shows as typed, and what went wrong.
struct Dialer {
    to: String,
    from_number: String,
    errors: Errors,
    notice: Option<String>,
    placed: Option<String>,
}

async fn page(
    state: &AppState,
    user: &PageUser,
    tenant: &crate::tenants::TenantId,
    direction: String,
    dialer: Dialer,
) -> Result<CallsPage, crate::web::WebError> {
    let chrome = Chrome::for_user(state, user, "Calls", "/calls").await?;
    let tz = calls::rollups::tenant_zone(&state.db, tenant).await?;
    let numbers: Vec<_> = crate::numbers::list_for_tenant(&state.db, tenant)
        .await?
        .into_iter()
        .filter(|n| n.status == "active")
        .collect();
    let filter = CallFilter {
        limit: Some(HISTORY_SIZE),
        direction: Some(direction.clone()).filter(|d| !d.is_empty()),
        ..CallFilter::default()
    };
    let (logs, total, ..) =
        calls::list(&state.db, &Scope::One(tenant.clone()), &filter, &tz).await?;
    let parties: Vec<String> = logs
        .iter()
        .filter_map(|c| c.customer_number().map(str::to_owned))
        .collect();
    let names = crate::contacts::names(&state.db, tenant, &parties).await?;
    let staff: std::collections::HashMap<String, String> =
        crate::users::list(&state.db, Some(tenant.as_str()))
            .await?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect();
    let rows = logs
        .into_iter()
        .map(|c| {
            let number = c.customer_number().unwrap_or_default().to_owned();
            let outbound = c.is_outbound();
            HistoryRow {
                when: local_time(&c.started_at, &tz),
                party: names
                    .get(&number)
                    .cloned()
                    .or_else(|| (!outbound).then(|| c.caller_name.as_deref().map(title_case))?)
                    .unwrap_or_else(|| number.clone()),
                placed_by: c
                    .user_id
                    .as_ref()
                    .and_then(|id| staff.get(id).cloned())
                    .unwrap_or_else(|| {
                        if outbound {
                            "staff".into()
                        } else {
                            "—".into()
                        }
                    }),
                outcome_label: match (outbound, c.outcome.as_str()) {
                    (_, "answered") => "Answered",
                    (_, "in-progress") => "In progress",
                    (true, _) => "Not answered",
                    (false, "voicemail") => "Voicemail",
                    (false, _) => "Missed",
                },
                talk: if c.outcome == "answered" {
                    crate::web::mmss(c.duration)
                } else {
                    "—".into()
                },
                outcome: c.outcome,
                recording_url: c.recording_url,
                call_sid: c.call_sid,
                outbound,
                number,
            }
        })
        .collect();
    // At most 500, as the contacts module answers them.
    let contacts = crate::contacts::list(&state.db, tenant, None)
        .await?
        .into_iter()
        .map(|c| (c.name, c.phone))
        .collect();
    Ok(CallsPage {
        chrome,
        numbers,
        contacts,
        to: dialer.to,
        from_number: dialer.from_number,
        my_phone: user.0.user.phone.clone().unwrap_or_default(),
        errors: dialer.errors,
        notice: dialer.notice,
        direction,
        rows,
        total,
        placed: dialer.placed,
        sdk_version: VOICE_SDK_VERSION,
    })
}

fn with_policy(page: CallsPage, status: axum::http::StatusCode) -> axum::response::Response {
    (
        status,
        [(
            header::CONTENT_SECURITY_POLICY,
            CALLS_CONTENT_SECURITY_POLICY,
        )],
        page,
    )
        .into_response()
}

/// `GET /calls?direction=&to=`: the dialer (prefilled with `to`) and the history.
pub(super) async fn calls_page(
    State(state): State<AppState>,
    user: PageUser,
    q: Result<Query<CallsQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "calls").await?;
    let q = q.map_err(|e| AppError::BadRequest(e.body_text()))?.0;
    let direction = match q.direction.as_deref().unwrap_or_default() {
        d @ ("" | "inbound" | "outbound") => d.to_owned(),
        _ => return Err(AppError::field("direction", "must be inbound or outbound").into()),
    };
    let placed = q.placed.filter(|s| twilio::sid::is_sid(s, "CA"));
    let notice = if placed.is_some() {
        Some("Your phone is ringing: answer it and we connect the customer.".to_owned())
    } else {
        q.phone.map(|_| "Your phone number was saved.".to_owned())
    };
    let dialer = Dialer {
        to: q.to.unwrap_or_default(),
        from_number: String::new(),
        errors: Errors::none(),
        notice,
        placed,
    };
    let page = page(&state, &user, &tenant, direction, dialer).await?;
    Ok(with_policy(page, axum::http::StatusCode::OK))
}

/// `POST /calls/dial`: click-to-call without JavaScript (the page's script posts to
/// `/api/twilio/make-call` instead).
pub(super) async fn dial(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, "calls").await?;
    let to = form.get("to").unwrap_or_default().to_owned();
    let from_number = form.get("fromNumber").unwrap_or_default().to_owned();
    let request = crate::softphone::MakeCall {
        to: Some(to.clone()),
        contact_id: None,
        from_number: Some(from_number.clone()).filter(|f| !f.is_empty()),
    };
    match crate::softphone::make_call(&state, &tenant, &user.0.user, request).await {
        Ok(placed) => {
            Ok(Redirect::to(&format!("/calls?placed={}", placed.call_sid)).into_response())
        }
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::BadGateway(_))) => {
            refused(&state, &user, &tenant, (to, from_number), &e).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /calls/phone`: the staff member's own phone, which click-to-call rings.
pub(super) async fn save_phone(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, "calls").await?;
    let update = crate::users::ProfileUpdate {
        phone: Some(form.get("phone").unwrap_or_default().to_owned()),
    };
    match crate::users::update_profile(&state.db, &user.0.user.id, update).await {
        Ok(_) => Ok(Redirect::to("/calls?phone=1").into_response()),
        Err(e @ AppError::Validation(_)) => {
            refused(&state, &user, &tenant, (String::new(), String::new()), &e).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The page again, with what was typed (`to`, `fromNumber`) and why it was refused.
async fn refused(
    state: &AppState,
    user: &PageUser,
    tenant: &crate::tenants::TenantId,
    (to, from_number): (String, String),
    e: &AppError,
) -> PageResult {
    let dialer = Dialer {
        to,
        from_number,
        errors: Errors::from_app(e),
        notice: None,
        placed: None,
    };
    let page = page(state, user, tenant, String::new(), dialer).await?;
    Ok(with_policy(page, e.status()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_sdk_is_the_pinned_release() {
        let marker = format!("RELEASE_VERSION=\"{VOICE_SDK_VERSION}\"");
        assert!(
            VOICE_SDK.contains(&marker),
            "static/vendor/twilio-voice-sdk.min.js is not @twilio/voice-sdk {VOICE_SDK_VERSION}"
        );
    }
}
