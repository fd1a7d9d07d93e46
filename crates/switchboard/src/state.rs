//! What every handler shares: the database, configuration, secrets, the event
//! writer, caches. Built once at start by [`AppState::open`].

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use crate::config::Config;
use crate::crypto::SecretBox;
use crate::db::Db;
use crate::{auth, cache, calls, crypto, db, error, telephony};

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The shared parts.
pub struct Inner {
    /// The database.
    pub db: Db,
    /// Configuration read at start.
    pub config: Config,
    /// Encrypts secrets at rest.
    pub secrets: SecretBox,
    /// Failed-login counter.
    pub login_limiter: auth::LoginLimiter,
    /// Stores webhook events with group commit.
    pub events: calls::EventWriter,
    /// Number owners and tenant routing contexts, briefly.
    pub routing_cache: cache::RoutingCache,
    /// The optional LLM classifier, its rate limit and recent errors.
    pub llm: crate::intelligence::llm::Llm,
    /// The last dependency-health report, briefly.
    pub health: crate::health::HealthCache,
    /// Keeps click-to-call within each Twilio account's calls-per-second limit.
    pub call_pacer: crate::softphone::CallPacer,
    /// Request rate limits on the API and the portal.
    pub limiters: crate::http::limits::Limiters,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// A REST client acting for a tenant (its credentials, else the platform's), pointed
    /// at `TWILIO_API_BASE` (which, when set, serves Voice Intelligence too).
    pub async fn twilio_client(&self, tenant_id: &str) -> error::AppResult<twilio::client::Client> {
        let creds =
            telephony::credentials_for(&self.db, &self.secrets, &self.config.platform, tenant_id)
                .await?
                .ok_or_else(|| {
                    error::AppError::BadGateway(
                        "no Twilio credentials are configured for this tenant".into(),
                    )
                })?;
        self.client_with(creds)
    }

    /// A Twilio client with these credentials, at the configured API base.
    pub fn client_with(
        &self,
        creds: twilio::client::Credentials,
    ) -> error::AppResult<twilio::client::Client> {
        let config = if self.config.twilio_api_base == twilio::client::DEFAULT_API_BASE {
            twilio::client::ClientConfig::default()
        } else {
            twilio::client::ClientConfig::with_base(&self.config.twilio_api_base)
        };
        twilio::client::Client::new(creds, config)
            .map_err(|e| error::AppError::BadGateway(e.to_string()))
    }
}

/// The service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// Secret key.
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    /// Listening socket.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl AppState {
    /// Opens the database and the secret key described by `config`.
    pub async fn open(config: Config) -> Result<Self, StartError> {
        twilio::client::install_tls_provider();
        if config.insecure_skip_signature {
            tracing::warn!(
                "SWITCHBOARD_INSECURE_SKIP_TWILIO_SIGNATURE is on: webhooks are NOT verified; never use this in production"
            );
        }
        let db = Db::connect(&config.effective_database_url()).await?;
        let secrets = SecretBox::load(config.secret_key, &config.data_dir)?;
        let llm = crate::intelligence::llm::Llm::new(config.llm.clone());
        let limiters = crate::http::limits::Limiters::new(config.rate_limits);
        Ok(Self(Arc::new(Inner {
            llm,
            events: calls::EventWriter::start(db.clone()),
            db,
            config,
            secrets,
            login_limiter: auth::LoginLimiter::default(),
            routing_cache: cache::RoutingCache::default(),
            health: crate::health::HealthCache::default(),
            call_pacer: crate::softphone::CallPacer::default(),
            limiters,
        })))
    }
}
