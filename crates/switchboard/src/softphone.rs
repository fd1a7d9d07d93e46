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
}
