//! Configuration from environment variables.
//!
//! Every variable is read here, once, at start. A bad value is a [`ConfigError`]
//! whose one-line message names the variable, so `switchboard serve` fails clearly
//! instead of half-starting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The voice used when none (or one not on the allow-list) is configured.
pub const DEFAULT_VOICE: &str = "Google.en-US-Chirp3-HD-Aoede";

/// Voices a tenant may choose; anything else falls back to [`DEFAULT_VOICE`].
pub const ALLOWED_VOICES: &[&str] = &[
    "Google.en-US-Chirp3-HD-Aoede",
    "Google.en-US-Chirp3-HD-Charon",
    "Google.en-US-Chirp3-HD-Kore",
    "Google.en-US-Chirp3-HD-Puck",
    "Polly.Joanna",
    "Polly.Matthew",
    "Polly.Salli",
    "Polly.Joanna-Neural",
    "Polly.Matthew-Neural",
    "alice",
    "man",
    "woman",
];

/// A configuration value is missing or wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

/// Platform Twilio credentials, used for tenants without their own.
#[derive(Clone, Default)]
pub struct PlatformTwilio {
    /// `TWILIO_ACCOUNT_SID`.
    pub account_sid: Option<String>,
    /// `TWILIO_AUTH_TOKEN`.
    pub auth_token: Option<String>,
    /// `TWILIO_API_KEY_SID`.
    pub api_key_sid: Option<String>,
    /// `TWILIO_API_KEY_SECRET`.
    pub api_key_secret: Option<String>,
    /// `TWILIO_TWIML_APP_SID`.
    pub twiml_app_sid: Option<String>,
    /// `TWILIO_VI_SERVICE_SID`.
    pub vi_service_sid: Option<String>,
}

impl std::fmt::Debug for PlatformTwilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformTwilio")
            .field("account_sid", &self.account_sid)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "[redacted]"),
            )
            .field("api_key_sid", &self.api_key_sid)
            .field(
                "api_key_secret",
                &self.api_key_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("twiml_app_sid", &self.twiml_app_sid)
            .field("vi_service_sid", &self.vi_service_sid)
            .finish()
    }
}

/// Platform defaults for call routing, overridden per tenant.
#[derive(Debug, Clone)]
pub struct RoutingDefaults {
    /// `TWILIO_ENABLE_MENU` (default true).
    pub menu_enabled: bool,
    /// `TWILIO_ENABLE_RECORDING` (default true).
    pub recording_enabled: bool,
    /// `TWILIO_ENABLE_TRANSCRIPTION` (default false).
    pub transcription_enabled: bool,
    /// `TWILIO_MENU_MESSAGE`.
    pub menu_message: Option<String>,
    /// `TWILIO_VOICE`, already checked against the allow-list.
    pub voice: String,
}

/// Everything `switchboard serve` needs to know.
#[derive(Clone)]
pub struct Config {
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…`; SQLite in the data dir if unset.
    pub database_url: Option<String>,
    /// `SWITCHBOARD_DATA_DIR` (default `./data`).
    pub data_dir: PathBuf,
    /// `SWITCHBOARD_BIND` (default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// `PUBLIC_URL` (alias `BACKEND_URL`): the URL Twilio calls and signs.
    pub public_url: String,
    /// `SWITCHBOARD_SECRET_KEY`: 32 bytes, base64 or hex. Else a key file in the data dir.
    pub secret_key: Option<[u8; 32]>,
    /// `SWITCHBOARD_SESSION_HOURS` (default 12).
    pub session_ttl: Duration,
    /// `TWILIO_API_BASE`: where the REST client sends requests (the simulator in tests).
    pub twilio_api_base: String,
    /// Platform credentials.
    pub platform: PlatformTwilio,
    /// Routing defaults.
    pub routing: RoutingDefaults,
    /// `SWITCHBOARD_LOG_FORMAT`: `json` or `text` (default text).
    pub log_json: bool,
    /// `SWITCHBOARD_INSECURE_SKIP_TWILIO_SIGNATURE`: development only; off by default and
    /// warned about at every start.
    pub insecure_skip_signature: bool,
    /// `SWITCHBOARD_TRUSTED_PROXY_HEADER`: the header a reverse proxy in front of us sets
    /// to the client's address (e.g. `X-Forwarded-For`, `X-Real-IP`), lower-cased. Unset:
    /// the connection's peer is the client, and forwarding headers are ignored.
    pub trusted_proxy_header: Option<String>,
    /// `SWITCHBOARD_HEADER_TIMEOUT_SECS` (default 10): a client must send a request's
    /// headers within this time, or it is disconnected.
    pub header_read_timeout: Duration,
    /// An OpenAI-compatible chat endpoint for classification, when configured.
    pub llm: Option<LlmConfig>,
    /// `SWITCHBOARD_METRICS_TOKEN`: `/metrics` on the public listener, for this bearer
    /// token. Unset: `/metrics` is only on [`Self::metrics_bind`], if that is set.
    pub metrics_token: Option<String>,
    /// `SWITCHBOARD_METRICS_BIND`: a second listener that serves `/metrics` alone (say on
    /// a private interface).
    pub metrics_bind: Option<SocketAddr>,
    /// Request rate limits on the API and the portal.
    pub rate_limits: RateLimits,
}

/// Requests a minute each may make (bursts of up to that many, refilled evenly); 0 turns
/// a limit off. Twilio's webhooks are never limited: Twilio does not retry a 429.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// `SWITCHBOARD_RATE_LIMIT_PER_MINUTE` (default 1200): per signed-in session (bearer
    /// token or session cookie).
    pub per_session: u32,
    /// `SWITCHBOARD_CLIENT_RATE_LIMIT_PER_MINUTE` (default 300): per client address, for
    /// logins and requests that carry no session.
    pub per_client: u32,
}

/// `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_MODEL`: an OpenAI-compatible chat
/// endpoint (OpenAI, or Ollama / llama.cpp / vLLM on the clinic's own hardware).
/// Configured when the key or the base URL is set; used only for tenants that allow it.
#[derive(Clone)]
pub struct LlmConfig {
    /// Sent as a bearer token when set (local servers often need none).
    pub api_key: Option<String>,
    /// Default `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// Default `gpt-4o-mini`.
    pub model: String,
    /// `SWITCHBOARD_LLM_PER_MINUTE` (default 2): requests per minute, all tenants.
    pub per_minute: u32,
    /// `SWITCHBOARD_LLM_TIMEOUT_SECS` (default 20).
    pub timeout: Duration,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("base_url", &redact_url(&self.base_url))
            .field("model", &self.model)
            .field("per_minute", &self.per_minute)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A database URL with its password replaced, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "[unparsable URL]".to_owned(),
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("public_url", &self.public_url)
            .field("secret_key", &self.secret_key.map(|_| "[redacted]"))
            .field("session_ttl", &self.session_ttl)
            .field("twilio_api_base", &self.twilio_api_base)
            .field("platform", &self.platform)
            .field("routing", &self.routing)
            .field("log_json", &self.log_json)
            .field("insecure_skip_signature", &self.insecure_skip_signature)
            .field("trusted_proxy_header", &self.trusted_proxy_header)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("llm", &self.llm)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "[redacted]"),
            )
            .field("metrics_bind", &self.metrics_bind)
            .field("rate_limits", &self.rate_limits)
            .finish()
    }
}

/// Variables under our prefix that we read; any other `SWITCHBOARD_*` is probably a typo.
const KNOWN_PREFIXED: &[&str] = &[
    "SWITCHBOARD_DATA_DIR",
    "SWITCHBOARD_BIND",
    "SWITCHBOARD_SECRET_KEY",
    "SWITCHBOARD_SESSION_HOURS",
    "SWITCHBOARD_LOG_FORMAT",
    "SWITCHBOARD_LOG",
    "SWITCHBOARD_INSECURE_SKIP_TWILIO_SIGNATURE",
    "SWITCHBOARD_TRUSTED_PROXY_HEADER",
    "SWITCHBOARD_HEADER_TIMEOUT_SECS",
    "SWITCHBOARD_LLM_PER_MINUTE",
    "SWITCHBOARD_LLM_TIMEOUT_SECS",
    "SWITCHBOARD_METRICS_TOKEN",
    "SWITCHBOARD_METRICS_BIND",
    "SWITCHBOARD_RATE_LIMIT_PER_MINUTE",
    "SWITCHBOARD_CLIENT_RATE_LIMIT_PER_MINUTE",
];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `SWITCHBOARD_*` variables that are set but mean nothing to us.
    pub fn unknown_variables() -> Vec<String> {
        std::env::vars()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("SWITCHBOARD_") && !KNOWN_PREFIXED.contains(&k.as_str()))
            .collect()
    }

    /// Reads configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let database_url = get("DATABASE_URL");
        if let Some(url) = &database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return Err(bad(
                "DATABASE_URL",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        let data_dir =
            PathBuf::from(get("SWITCHBOARD_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let bind: SocketAddr = match get("SWITCHBOARD_BIND") {
            Some(v) => v.parse().map_err(|_| {
                bad(
                    "SWITCHBOARD_BIND",
                    format!("'{v}' is not an address like 127.0.0.1:8080"),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let public_url = match get("PUBLIC_URL").or_else(|| get("BACKEND_URL")) {
            Some(v) => {
                let parsed = url::Url::parse(&v).map_err(|_| {
                    bad(
                        "PUBLIC_URL",
                        format!("'{v}' is not an absolute http(s) URL"),
                    )
                })?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                    return Err(bad(
                        "PUBLIC_URL",
                        format!("'{v}' is not an absolute http(s) URL"),
                    ));
                }
                v.trim_end_matches('/').to_owned()
            }
            None => format!("http://{bind}"),
        };
        let secret_key = get("SWITCHBOARD_SECRET_KEY")
            .map(|v| {
                crate::crypto::parse_key(&v).ok_or_else(|| {
                    bad(
                        "SWITCHBOARD_SECRET_KEY",
                        "must be 32 bytes, base64 or hex encoded",
                    )
                })
            })
            .transpose()?;
        let session_hours: u64 = match get("SWITCHBOARD_SESSION_HOURS") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|h| (1..=24 * 90).contains(h))
                .ok_or_else(|| {
                    bad(
                        "SWITCHBOARD_SESSION_HOURS",
                        "must be a whole number of hours from 1 to 2160",
                    )
                })?,
            None => 12,
        };
        let twilio_api_base = match get("TWILIO_API_BASE") {
            Some(v) => {
                url::Url::parse(&v)
                    .map_err(|_| bad("TWILIO_API_BASE", format!("'{v}' is not a URL")))?;
                v.trim_end_matches('/').to_owned()
            }
            None => twilio::client::DEFAULT_API_BASE.to_owned(),
        };
        let flag = |name: &'static str, default: bool| -> Result<bool, ConfigError> {
            match get(name).map(|v| v.to_ascii_lowercase()) {
                None => Ok(default),
                Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
                Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
                Some(v) => Err(bad(name, format!("'{v}' is not true or false"))),
            }
        };
        let voice = match get("TWILIO_VOICE") {
            Some(v) if ALLOWED_VOICES.contains(&v.as_str()) => v,
            Some(v) => {
                return Err(bad(
                    "TWILIO_VOICE",
                    format!(
                        "'{v}' is not an allowed voice ({})",
                        ALLOWED_VOICES.join(", ")
                    ),
                ));
            }
            None => DEFAULT_VOICE.to_owned(),
        };
        let sid = |name: &'static str, prefix: &str| -> Result<Option<String>, ConfigError> {
            match get(name) {
                Some(v) if twilio::sid::is_sid(&v, prefix) => Ok(Some(v)),
                Some(_) => Err(bad(
                    name,
                    format!("must be {prefix} followed by 32 hex digits"),
                )),
                None => Ok(None),
            }
        };
        let log_json = match get("SWITCHBOARD_LOG_FORMAT").as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(bad(
                    "SWITCHBOARD_LOG_FORMAT",
                    format!("'{other}' is not json or text"),
                ));
            }
        };
        let trusted_proxy_header = match get("SWITCHBOARD_TRUSTED_PROXY_HEADER") {
            Some(v) => Some(
                axum::http::HeaderName::from_bytes(v.as_bytes())
                    .map_err(|_| {
                        bad(
                            "SWITCHBOARD_TRUSTED_PROXY_HEADER",
                            format!("'{v}' is not a header name"),
                        )
                    })?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let header_timeout_secs: u64 = match get("SWITCHBOARD_HEADER_TIMEOUT_SECS") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|s| (1..=300).contains(s))
                .ok_or_else(|| {
                    bad(
                        "SWITCHBOARD_HEADER_TIMEOUT_SECS",
                        "must be a whole number of seconds from 1 to 300",
                    )
                })?,
            None => 10,
        };
        let whole = |name: &'static str, range: std::ops::RangeInclusive<u64>, default: u64| {
            match get(name) {
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| {
                        bad(
                            name,
                            format!(
                                "must be a whole number from {} to {}",
                                range.start(),
                                range.end()
                            ),
                        )
                    }),
                None => Ok(default),
            }
        };
        let llm = match (get("OPENAI_API_KEY"), get("OPENAI_BASE_URL")) {
            (None, None) => None,
            (api_key, base) => {
                let base_url = base.unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
                if !matches!(
                    url::Url::parse(&base_url)
                        .map(|u| u.scheme().to_owned())
                        .as_deref(),
                    Ok("http" | "https")
                ) {
                    return Err(bad("OPENAI_BASE_URL", "must be an http(s) URL"));
                }
                Some(LlmConfig {
                    api_key,
                    base_url,
                    model: get("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".to_owned()),
                    per_minute: u32::try_from(whole("SWITCHBOARD_LLM_PER_MINUTE", 1..=10_000, 2)?)
                        .unwrap_or(2),
                    timeout: Duration::from_secs(whole(
                        "SWITCHBOARD_LLM_TIMEOUT_SECS",
                        1..=300,
                        20,
                    )?),
                })
            }
        };
        let metrics_token = match get("SWITCHBOARD_METRICS_TOKEN") {
            Some(t) if t.trim().len() < 16 => {
                return Err(bad(
                    "SWITCHBOARD_METRICS_TOKEN",
                    "must be at least 16 characters (e.g. openssl rand -hex 16)",
                ));
            }
            t => t.map(|t| t.trim().to_owned()),
        };
        let metrics_bind = match get("SWITCHBOARD_METRICS_BIND") {
            Some(v) => Some(v.parse::<SocketAddr>().map_err(|_| {
                bad(
                    "SWITCHBOARD_METRICS_BIND",
                    format!("'{v}' is not an address like 127.0.0.1:9100"),
                )
            })?),
            None => None,
        };
        let per_minute = |name: &'static str, default: u64| -> Result<u32, ConfigError> {
            whole(name, 0..=1_000_000, default).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        };
        let rate_limits = RateLimits {
            per_session: per_minute("SWITCHBOARD_RATE_LIMIT_PER_MINUTE", 1200)?,
            per_client: per_minute("SWITCHBOARD_CLIENT_RATE_LIMIT_PER_MINUTE", 300)?,
        };
        Ok(Self {
            llm,
            metrics_token,
            metrics_bind,
            rate_limits,
            database_url,
            data_dir,
            bind,
            public_url,
            secret_key,
            session_ttl: Duration::from_secs(session_hours * 3600),
            twilio_api_base,
            platform: PlatformTwilio {
                account_sid: sid("TWILIO_ACCOUNT_SID", "AC")?,
                auth_token: get("TWILIO_AUTH_TOKEN"),
                api_key_sid: sid("TWILIO_API_KEY_SID", "SK")?,
                api_key_secret: get("TWILIO_API_KEY_SECRET"),
                twiml_app_sid: sid("TWILIO_TWIML_APP_SID", "AP")?,
                vi_service_sid: sid("TWILIO_VI_SERVICE_SID", "GA")?,
            },
            routing: RoutingDefaults {
                menu_enabled: flag("TWILIO_ENABLE_MENU", true)?,
                recording_enabled: flag("TWILIO_ENABLE_RECORDING", true)?,
                transcription_enabled: flag("TWILIO_ENABLE_TRANSCRIPTION", false)?,
                menu_message: get("TWILIO_MENU_MESSAGE"),
                voice,
            },
            log_json,
            insecure_skip_signature: flag("SWITCHBOARD_INSECURE_SKIP_TWILIO_SIGNATURE", false)?,
            trusted_proxy_header,
            header_read_timeout: Duration::from_secs(header_timeout_secs),
        })
    }

    /// The database URL to use: the configured one, or SQLite in the data dir.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("switchboard.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn debug_redacts_the_database_password_and_the_key() {
        let c = config(&[
            (
                "DATABASE_URL",
                "postgres://app:hunter2secret@db.internal/sb",
            ),
            (
                "SWITCHBOARD_SECRET_KEY",
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            ),
        ])
        .expect("valid");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2secret"), "{shown}");
        assert!(!shown.contains("0a0b0c0d"), "{shown}");
        assert!(shown.contains("db.internal"), "{shown}");
    }

    #[test]
    fn the_trusted_proxy_header_is_checked_and_lower_cased() {
        let c = config(&[("SWITCHBOARD_TRUSTED_PROXY_HEADER", "X-Forwarded-For")]).expect("ok");
        assert_eq!(c.trusted_proxy_header.as_deref(), Some("x-forwarded-for"));
        assert!(config(&[("SWITCHBOARD_TRUSTED_PROXY_HEADER", "bad header")]).is_err());
        assert_eq!(config(&[]).expect("ok").trusted_proxy_header, None);
    }

    #[test]
    fn defaults_need_nothing() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(
            c.effective_database_url()
                .starts_with("sqlite://./data/switchboard.db")
        );
        assert!(
            c.routing.menu_enabled
                && c.routing.recording_enabled
                && !c.routing.transcription_enabled
        );
        assert_eq!(c.routing.voice, DEFAULT_VOICE);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (var, value) in [
            ("SWITCHBOARD_BIND", "nope"),
            ("PUBLIC_URL", "ftp://x"),
            ("DATABASE_URL", "mysql://x"),
            ("SWITCHBOARD_SECRET_KEY", "short"),
            ("TWILIO_ENABLE_MENU", "perhaps"),
            ("TWILIO_VOICE", "Robot.Bob"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("SWITCHBOARD_SESSION_HOURS", "0"),
            ("SWITCHBOARD_LOG_FORMAT", "xml"),
        ] {
            let err = config(&[(var, value)]).expect_err(var);
            assert_eq!(err.variable, var);
            assert!(err.to_string().starts_with(&format!("{var}: ")), "{err}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn backend_url_is_an_alias_and_keys_decode() {
        use base64::Engine as _;
        let c = config(&[("BACKEND_URL", "https://calls.example.com/")]).expect("ok");
        assert_eq!(c.public_url, "https://calls.example.com");
        let hex = "00".repeat(31) + "ff";
        assert_eq!(crate::crypto::parse_key(&hex).map(|k| k[31]), Some(0xff));
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(crate::crypto::parse_key(&b64), Some([7u8; 32]));
    }
}
