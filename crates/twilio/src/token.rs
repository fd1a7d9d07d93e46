//! Voice SDK access tokens.
//!
//! An access token is a JWT signed (HS256) with an API key's secret. Twilio reads the
//! header's `cty: twilio-fpa;v=1`, takes the API key from `iss` and the account from
//! `sub`, and the browser's identity and Voice grant from `grants`.
//!
//! ```
//! use twilio::token::{AccessToken, VoiceGrant};
//!
//! let jwt = AccessToken::new("ACxxxxxxxx", "SKxxxxxxxx", "identity-alice")
//!     .ttl_seconds(3600)
//!     .voice(VoiceGrant::new().outgoing_application("APxxxxxxxx").incoming(true))
//!     .sign(b"the api key secret", 1_700_000_000)
//!     .unwrap();
//! assert_eq!(jwt.split('.').count(), 3);
//! ```

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// The content type Twilio requires in the JWT header.
pub const CONTENT_TYPE: &str = "twilio-fpa;v=1";

/// A token could not be produced.
#[derive(Debug, thiserror::Error)]
#[error("could not sign access token: {0}")]
pub struct TokenError(#[from] jsonwebtoken::errors::Error);

/// What a Voice SDK client may do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceGrant {
    /// Incoming calls to the identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming: Option<Incoming>,
    /// Outgoing calls through a TwiML application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outgoing: Option<Outgoing>,
}

/// `grants.voice.incoming`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Incoming {
    /// Whether the identity may receive calls.
    pub allow: bool,
}

/// `grants.voice.outgoing`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    /// The TwiML application (`AP…`) whose Voice URL handles outgoing calls.
    pub application_sid: String,
    /// Parameters passed to the application's Voice URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
}

impl VoiceGrant {
    /// A grant allowing nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows outgoing calls through the TwiML application `application_sid`.
    #[must_use]
    pub fn outgoing_application(mut self, application_sid: impl Into<String>) -> Self {
        self.outgoing = Some(Outgoing {
            application_sid: application_sid.into(),
            params: None,
        });
        self
    }

    /// Allows (or not) incoming calls.
    #[must_use]
    pub fn incoming(mut self, allow: bool) -> Self {
        self.incoming = Some(Incoming { allow });
        self
    }
}

/// The `grants` claim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grants {
    /// The client's identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The Voice grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<VoiceGrant>,
}

/// The claims of a Twilio access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// `{apiKeySid}-{issuedAt}`.
    pub jti: String,
    /// The API key (`SK…`).
    pub iss: String,
    /// The account (`AC…`).
    pub sub: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Not before (unix seconds).
    pub nbf: u64,
    /// Expiry (unix seconds).
    pub exp: u64,
    /// Identity and grants.
    pub grants: Grants,
}

/// Builder for a Voice SDK access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    account_sid: String,
    api_key_sid: String,
    identity: String,
    ttl_seconds: u64,
    voice: Option<VoiceGrant>,
}

/// Twilio refuses tokens that live longer than 24 hours.
pub const MAX_TTL_SECONDS: u64 = 24 * 3600;

impl AccessToken {
    /// A token for `identity` on `account_sid`, signed with the API key `api_key_sid`.
    /// Lives one hour unless told otherwise.
    pub fn new(
        account_sid: impl Into<String>,
        api_key_sid: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            account_sid: account_sid.into(),
            api_key_sid: api_key_sid.into(),
            identity: identity.into(),
            ttl_seconds: 3600,
            voice: None,
        }
    }

    /// Lifetime in seconds (capped at 24 hours, Twilio's limit).
    #[must_use]
    pub fn ttl_seconds(mut self, ttl: u64) -> Self {
        self.ttl_seconds = ttl.min(MAX_TTL_SECONDS);
        self
    }

    /// Adds a Voice grant.
    #[must_use]
    pub fn voice(mut self, grant: VoiceGrant) -> Self {
        self.voice = Some(grant);
        self
    }

    /// The claims for a token issued at `now` (unix seconds).
    pub fn claims(&self, now: u64) -> Claims {
        Claims {
            jti: format!("{}-{}", self.api_key_sid, now),
            iss: self.api_key_sid.clone(),
            sub: self.account_sid.clone(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
            grants: Grants {
                identity: Some(self.identity.clone()),
                voice: self.voice.clone(),
            },
        }
    }

    /// Signs the token with the API key's secret, as issued at `now` (unix seconds).
    pub fn sign(&self, api_key_secret: &[u8], now: u64) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".into());
        header.cty = Some(CONTENT_TYPE.into());
        Ok(jsonwebtoken::encode(
            &header,
            &self.claims(now),
            &EncodingKey::from_secret(api_key_secret),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, KeyInit, Mac};

    const SECRET: &[u8] = b"secret-of-SK123";

    fn token() -> String {
        AccessToken::new("AC123", "SK123", "tenant-7:user-3")
            .ttl_seconds(600)
            .voice(
                VoiceGrant::new()
                    .outgoing_application("AP123")
                    .incoming(true),
            )
            .sign(SECRET, 1_750_000_000)
            .expect("sign")
    }

    /// Checks the token by hand, with nothing from jsonwebtoken, as an independent
    /// implementation of RFC 7519 HS256 would.
    #[test]
    fn independent_decoding() {
        let jwt = token();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["cty"], "twilio-fpa;v=1");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET).expect("key");
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).expect("b64"))
            .expect("signature verifies");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(claims["iss"], "SK123");
        assert_eq!(claims["sub"], "AC123");
        assert_eq!(claims["jti"], "SK123-1750000000");
        assert_eq!(claims["exp"], 1_750_000_600u64);
        assert_eq!(claims["grants"]["identity"], "tenant-7:user-3");
        assert_eq!(
            claims["grants"]["voice"]["outgoing"]["application_sid"],
            "AP123"
        );
        assert_eq!(claims["grants"]["voice"]["incoming"]["allow"], true);
    }

    #[test]
    fn jsonwebtoken_round_trip_and_wrong_secret() {
        let jwt = token();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(
            &jwt,
            &jsonwebtoken::DecodingKey::from_secret(SECRET),
            &validation,
        )
        .expect("decode");
        assert_eq!(data.claims.sub, "AC123");
        assert_eq!(data.header.cty.as_deref(), Some(CONTENT_TYPE));
        assert!(
            jsonwebtoken::decode::<Claims>(
                &jwt,
                &jsonwebtoken::DecodingKey::from_secret(b"other"),
                &validation
            )
            .is_err()
        );
    }

    #[test]
    fn ttl_is_capped_at_a_day() {
        let claims = AccessToken::new("AC1", "SK1", "x")
            .ttl_seconds(10 * 86_400)
            .claims(100);
        assert_eq!(claims.exp, 100 + MAX_TTL_SECONDS);
    }
}
