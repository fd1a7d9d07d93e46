//! Calling customers from the browser: Voice SDK access tokens for a tenant's staff.
//! Owns no tables: credentials and the TwiML App come from `telephony`.
//!
//! A token is signed with the tenant's API key (its own account's, else the platform's):
//! Twilio accepts no token signed with an auth token. Its identity is the user's id,
//! stable for the user and unique across tenants, so the browser's calls can be traced
//! back to a user — and so to a tenant — without trusting anything else the call says.

use serde::Serialize;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How long a token lives; the page asks for a new one before it runs out.
pub const TOKEN_TTL_SECONDS: u64 = 3600;

/// An access token as the browser gets it.
#[derive(Debug, Clone, Serialize)]
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
    let caller_id = match asked {
        Some(n) => numbers
            .iter()
            .find(|x| x.status == "active" && x.phone_number == n.as_str()),
        None => crate::numbers::sending_number(&numbers),
    };
    let Some(caller_id) = caller_id else {
        return Ok(Placement::Refused("There is no number to call from."));
    };
    Ok(Placement::Dial {
        caller_id: caller_id.phone_number.clone(),
        to: to.as_str().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
