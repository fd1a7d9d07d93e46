//! Calling customers from the browser: Voice SDK access tokens for a tenant's staff.
//! Owns no tables: credentials and the TwiML App come from `telephony`.
//!
//! A token is signed with the tenant's API key (its own account's, else the platform's):
//! Twilio accepts no token signed with an auth token. Its identity is the user's id,
//! stable for the user and unique across tenants, so the browser's calls can be traced
//! back to a user — and so to a tenant — without trusting anything else the call says.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How long a token lives; the page asks for a new one before it runs out.
pub const TOKEN_TTL_SECONDS: u64 = 3600;

/// An access token as the browser gets it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// The Voice SDK identity (`client:{identity}` on Twilio's side).
    pub identity: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// The Voice SDK identity of a user.
pub fn identity(user_id: &str) -> String {
    user_id.to_owned()
}

/// The user behind a `client:{identity}` caller, when it is one of ours.
pub fn user_of_client(from: &str) -> Option<&str> {
    from.strip_prefix("client:")
        .filter(|id| id.starts_with("usr_") && id.len() <= 64)
}

/// Issues a token for `user_id` of `tenant_id`: outgoing calls through the tenant's
/// TwiML App, incoming calls to the user's identity. A tenant that cannot sign one gets
/// a 409 that says what to configure.
pub async fn access_token(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
) -> AppResult<IssuedToken> {
    let creds = crate::telephony::credentials_for(
        &state.db,
        &state.secrets,
        &state.config.platform,
        tenant_id,
    )
    .await?
    .ok_or_else(|| {
        AppError::Conflict("this account has no Twilio credentials to call with".into())
    })?;
    let (key_sid, key_secret) = creds.signing_key().ok_or_else(|| {
        AppError::Conflict(
            "browser calls need an API key: set apiKeySid and apiKeySecret in the Twilio settings \
             (or TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET for the platform's account)"
                .into(),
        )
    })?;
    let settings = crate::telephony::view(&state.db, tenant_id).await?;
    let app = if settings.uses_platform_credentials {
        state.config.platform.twiml_app_sid.clone()
    } else {
        settings.twiml_app_sid.clone()
    }
    .ok_or_else(|| {
        AppError::Conflict(format!(
            "browser calls need a TwiML App whose Voice URL is {}{}: set twimlAppSid \
             (or TWILIO_TWIML_APP_SID for the platform's account)",
            state.config.public_url.trim_end_matches('/'),
            crate::paths::VOICE_CLIENT
        ))
    })?;
    let identity = identity(user_id);
    let now = u64::try_from(crate::db::now_ms() / 1000).unwrap_or(0);
    let token = twilio::token::AccessToken::new(creds.account_sid(), key_sid, &identity)
        .ttl_seconds(TOKEN_TTL_SECONDS)
        .voice(
            twilio::token::VoiceGrant::new()
                .outgoing_application(app)
                .incoming(true),
        )
        .sign(key_secret.as_bytes(), now)
        .map_err(AppError::internal)?;
    let expires_ms = i64::try_from(now + TOKEN_TTL_SECONDS).unwrap_or(i64::MAX / 1000) * 1000;
    Ok(IssuedToken {
        token,
        identity,
        expires_at: crate::db::rfc3339(expires_ms),
    })
}

/// Whether staff may dial `to` from the softphone: North American numbers only (the
/// tenant's country), never premium-rate (900, 976) or N11 service codes.
pub fn dialable(to: &str) -> Option<crate::numbers::E164> {
    let n = crate::numbers::E164::parse(to)?;
    let digits = n.as_str().strip_prefix("+1")?;
    let area = digits.get(..3)?;
    let premium = matches!(area, "900" | "976");
    let service = area.ends_with("11");
    (digits.len() == 10 && !premium && !service).then_some(n)
}

/// Why none of the tenant's numbers can be a call's caller id.
enum NoCallerId {
    /// The number asked for is not the tenant's.
    NotOurs,
    /// It is, but not active.
    Inactive,
    /// None was asked for, and the tenant has no active number.
    NoneActive,
}

/// The caller id of a call staff place: the tenant's number asked for, else its primary.
fn caller_id<'a>(
    numbers: &'a [crate::numbers::PhoneNumber],
    asked: Option<&crate::numbers::E164>,
) -> Result<&'a crate::numbers::PhoneNumber, NoCallerId> {
    match asked {
        Some(asked) => {
            let number = numbers
                .iter()
                .find(|n| n.phone_number == asked.as_str())
                .ok_or(NoCallerId::NotOurs)?;
            if number.status == "active" {
                Ok(number)
            } else {
                Err(NoCallerId::Inactive)
            }
        }
        None => crate::numbers::sending_number(numbers).ok_or(NoCallerId::NoneActive),
    }
}

/// Where a browser's call goes, or why it may not.
pub enum Placement {
    /// Dial `to` from the tenant's `caller_id`.
    Dial {
        /// The tracking number shown to the customer.
        caller_id: String,
        /// The customer.
        to: String,
    },
    /// Say this and hang up; nothing is stored.
    Refused(&'static str),
}

/// Decides a browser's call: the user must be the tenant's with the calls page, the
/// number dialable, the caller id one of the tenant's active numbers (the one asked for,
/// else its primary).
pub async fn place(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
    to: Option<&str>,
    from_number: Option<&str>,
) -> AppResult<Placement> {
    let user = match crate::users::get(&state.db, user_id).await {
        Ok(u) => u,
        Err(AppError::NotFound) => return Ok(Placement::Refused("This browser is not signed in.")),
        Err(e) => return Err(e),
    };
    if user.tenant_id.as_deref() != Some(tenant_id) || !user.may_open("calls") {
        return Ok(Placement::Refused("This account may not place calls."));
    }
    let Some(to) = to.and_then(dialable) else {
        return Ok(Placement::Refused(
            "That number cannot be called from here.",
        ));
    };
    let numbers = crate::numbers::list_for_tenant(&state.db, tenant_id).await?;
    let asked = from_number.and_then(crate::numbers::E164::parse);
    let Ok(caller_id) = caller_id(&numbers, asked.as_ref()) else {
        return Ok(Placement::Refused("There is no number to call from."));
    };
    Ok(Placement::Dial {
        caller_id: caller_id.phone_number.clone(),
        to: to.as_str().to_owned(),
    })
}

/// Twilio's default outbound calls per second for an account: more are queued by us.
pub const DEFAULT_CALLS_PER_SECOND: u32 = 1;

/// The longest a click-to-call waits for its turn; a longer queue is a 503.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(30);

/// Spaces the REST calls each Twilio account places so that a burst is queued at the
/// account's calls-per-second limit instead of refused. One process paces its own calls;
/// several `serve` processes on one account each keep to the limit on their own.
pub struct CallPacer {
    interval: Duration,
    next_slot: Mutex<HashMap<String, Instant>>,
}

impl Default for CallPacer {
    fn default() -> Self {
        Self::new(DEFAULT_CALLS_PER_SECOND)
    }
}

impl CallPacer {
    /// At most `per_second` calls a second per account.
    pub fn new(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next_slot: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for the account's next slot; a queue longer than [`MAX_QUEUE_WAIT`] is Busy.
    pub async fn wait_turn(&self, account_sid: &str) -> AppResult<()> {
        let slot = self.reserve(account_sid, Instant::now())?;
        tokio::time::sleep_until(slot.into()).await;
        Ok(())
    }

    /// Takes the account's next slot at or after `now`.
    fn reserve(&self, account_sid: &str, now: Instant) -> AppResult<Instant> {
        let mut slots = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|_, at| *at > now);
        let slot = slots.get(account_sid).copied().unwrap_or(now).max(now);
        let wait = slot - now;
        if wait > MAX_QUEUE_WAIT {
            return Err(AppError::Busy {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        slots.insert(account_sid.to_owned(), slot + self.interval);
        Ok(slot)
    }
}

/// `POST /api/twilio/make-call`'s body.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MakeCall {
    /// The customer; the contact's number when absent.
    #[serde(default)]
    pub to: Option<String>,
    /// One of the tenant's contacts.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// One of the tenant's numbers as caller id; its primary when absent.
    #[serde(default)]
    pub from_number: Option<String>,
}

/// A click-to-call Twilio accepted.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacedCall {
    /// Twilio's sid of the call (its record is the call log of that sid).
    pub call_sid: String,
    /// The customer dialled once the staff member answers.
    pub to: String,
    /// The caller id the customer sees.
    pub from: String,
    /// The staff member's phone, rung first.
    pub rings: String,
}

/// Click-to-call: Twilio rings the staff member's own phone from the tenant's number,
/// and when they answer, [`crate::paths::CLICK_TO_CALL`] bridges the customer with the
/// same number as caller id. The call is recorded as placed by the user before we answer.
pub async fn make_call(
    state: &AppState,
    tenant_id: &str,
    user: &crate::users::User,
    req: MakeCall,
) -> AppResult<PlacedCall> {
    let contact = match req.contact_id.as_deref() {
        Some(id) => Some(crate::contacts::get(&state.db, tenant_id, id).await?),
        None => None,
    };
    let numbers = crate::numbers::list_for_tenant(&state.db, tenant_id).await?;
    let asked = match req.from_number.as_deref() {
        Some(n) => Some(crate::numbers::E164::parse(n).ok_or(AppError::NotFound)?),
        None => None,
    };
    let caller_id = match caller_id(&numbers, asked.as_ref()) {
        Ok(number) => number.phone_number.clone(),
        Err(NoCallerId::NotOurs) => return Err(AppError::NotFound),
        Err(NoCallerId::Inactive) => {
            return Err(AppError::field(
                "fromNumber",
                "this number is not active; choose an active one",
            ));
        }
        Err(NoCallerId::NoneActive) => {
            return Err(AppError::Conflict(
                "this account has no active number to call from".into(),
            ));
        }
    };
    let asked_to = req
        .to
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .or(contact.as_ref().map(|c| c.phone.as_str()))
        .ok_or_else(|| AppError::field("to", "is required (or a contactId with a number)"))?;
    let to = dialable(asked_to).ok_or_else(|| {
        AppError::field(
            "to",
            "must be a North American number that is not premium-rate or a service code",
        )
    })?;
    let rings = user.phone.clone().ok_or_else(|| {
        AppError::Conflict(
            "click-to-call rings your own phone first: add your phone number to your profile"
                .into(),
        )
    })?;
    let client = state.twilio_client(tenant_id).await?;
    state.call_pacer.wait_turn(client.account_sid()).await?;
    let base = state.config.public_url.trim_end_matches('/');
    let mut bridge = url::Url::parse(&format!("{base}{}", crate::paths::CLICK_TO_CALL))
        .map_err(AppError::internal)?;
    bridge.query_pairs_mut().append_pair("to", to.as_str());
    let call = client
        .create_call(&twilio::client::CreateCall {
            to: rings.clone(),
            from: caller_id.clone(),
            url: Some(bridge.to_string()),
            status_callback: Some(format!("{base}{}", crate::paths::STATUS)),
            status_callback_method: Some("POST".into()),
            status_callback_events: ["initiated", "ringing", "answered", "completed"]
                .map(str::to_owned)
                .to_vec(),
            timeout: Some(30),
            ..Default::default()
        })
        .await
        .map_err(|e| match &e {
            twilio::client::ClientError::Api(api) if api.status < 500 && api.status != 429 => {
                AppError::field("to", format!("Twilio refused the call: {}", api.message))
            }
            _ => AppError::BadGateway(format!("Twilio failed while placing the call: {e}")),
        })?;
    state
        .events
        .record(crate::calls::NewEvent {
            tenant_id: Some(tenant_id.to_owned()),
            call_sid: call.sid.clone(),
            kind: crate::calls::EventKind::Placed,
            params: vec![
                ("CallSid".into(), call.sid.clone()),
                ("From".into(), caller_id.clone()),
                ("To".into(), to.as_str().to_owned()),
                ("Direction".into(), "outbound-api".into()),
                ("UserId".into(), user.id.clone()),
                ("Rings".into(), rings.clone()),
            ],
            timezone: None,
        })
        .await?;
    Ok(PlacedCall {
        call_sid: call.sid,
        to: to.as_str().to_owned(),
        from: caller_id,
        rings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_queued_a_second_apart_per_account() {
        let pacer = CallPacer::new(1);
        let now = Instant::now();
        let slots: Vec<Duration> = (0..3)
            .map(|_| pacer.reserve("AC1", now).expect("a slot") - now)
            .collect();
        assert_eq!(slots, [0, 1, 2].map(Duration::from_secs));
        // Another account is not held up by the first.
        assert_eq!(pacer.reserve("AC2", now).expect("a slot"), now);
        // Later, the queue has drained.
        let later = now + Duration::from_secs(10);
        assert_eq!(pacer.reserve("AC1", later).expect("a slot"), later);
    }

    #[test]
    fn a_queue_longer_than_the_limit_is_busy_not_unbounded() {
        let pacer = CallPacer::new(1);
        let now = Instant::now();
        for _ in 0..=MAX_QUEUE_WAIT.as_secs() {
            pacer.reserve("AC1", now).expect("a slot");
        }
        assert!(matches!(
            pacer.reserve("AC1", now),
            Err(AppError::Busy { .. })
        ));
    }

    #[test]
    fn only_our_users_are_client_callers() {
        assert_eq!(user_of_client("client:usr_abc"), Some("usr_abc"));
        assert_eq!(user_of_client("client:alice"), None);
        assert_eq!(user_of_client("+15550001111"), None);
        assert_eq!(user_of_client("usr_abc"), None);
    }

    #[test]
    fn premium_service_and_foreign_numbers_are_not_dialled() {
        assert!(dialable("(555) 765-4321").is_some());
        assert!(dialable("+19005550100").is_none());
        assert!(dialable("+19765550100").is_none());
        assert!(dialable("+14115550100").is_none());
        assert!(dialable("+442079460000").is_none());
        assert!(dialable("911").is_none());
    }
}
