//! Switchboard: self-hosted, multi-tenant call tracking on Twilio.
//!
//! The library holds the whole service; the `switchboard` binary is a thin CLI over
//! it. Tests start the real server through [`App::start`] on an ephemeral port.

pub mod auth;
pub mod bench;
pub mod cache;
pub mod calls;
pub mod config;
pub mod contacts;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod error;
pub mod files;
pub mod http;
pub mod intelligence;
pub mod messaging;
pub mod notifications;
pub mod numbers;
pub mod passwords;
pub mod patch;
pub mod provisioning;
pub mod routing;
pub mod serve;
pub mod telephony;
pub mod tenants;
pub mod users;
pub mod web;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::crypto::SecretBox;
use crate::db::Db;

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
    /// Recordings whose transcript was requested lately (Twilio redelivers callbacks).
    pub transcripts_requested: cache::TtlCache<String, ()>,
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
        Ok(Self(Arc::new(Inner {
            events: calls::EventWriter::start(db.clone()),
            db,
            config,
            secrets,
            login_limiter: auth::LoginLimiter::default(),
            routing_cache: cache::RoutingCache::default(),
            transcripts_requested: cache::TtlCache::new(Duration::from_secs(3600)),
        })))
    }
}

/// A running server.
pub struct App {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (tests reach the database through it).
    pub state: AppState,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    /// Binds `config.bind` (port 0 picks a free port) and serves in the background.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let bind = config.bind;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| StartError::Bind { addr: bind, source })?;
        Self::start_with_listener(config, listener).await
    }

    /// Serves on a listener bound beforehand (so `PUBLIC_URL` can name its port).
    pub async fn start_with_listener(
        config: Config,
        listener: tokio::net::TcpListener,
    ) -> Result<Self, StartError> {
        let bind = config.bind;
        let state = AppState::open(config).await?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr: bind, source })?;
        let (shutdown, watch) = tokio::sync::watch::channel(false);
        let router = http::router(state.clone());
        let housekeeping = spawn_housekeeping(state.clone(), shutdown.subscribe());
        let header_read_timeout = state.config.header_read_timeout;
        let task = tokio::spawn(async move {
            serve::serve(listener, router, header_read_timeout, watch).await;
            housekeeping.abort();
        });
        Ok(Self {
            addr,
            state,
            shutdown,
            task,
        })
    }

    /// Stops accepting, finishes in-flight requests, closes the database.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.state.db.close().await;
    }

    /// Serves until `signal` completes, then stops gracefully.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down");
        self.stop().await;
    }
}

/// Periodic upkeep: SQLite checkpoints off the request path, expired sessions hourly.
fn spawn_housekeeping(
    state: AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        // Small and often: every 100 ms, a checkpoint if the log was written since the
        // last look. Each copies a tenth of a second of writes, so it stays out of the
        // webhook tail: `bench webhooks` p99 at 1,000/s 3.7–4.6 ms, against 7.0–7.9 ms
        // with the former 32 MB / 10 s checkpoints. An idle service does none.
        let mut checkpoint = tokio::time::interval(Duration::from_millis(100));
        checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_seen = None;
        loop {
            tokio::select! {
                _ = checkpoint.tick() => {
                    let written = state.db.wal_modified();
                    if written.is_some() && written != last_seen {
                        last_seen = written;
                        if let Err(e) = state.db.checkpoint().await {
                            tracing::warn!(error = %e, "SQLite checkpoint failed");
                        }
                    }
                }
                _ = tick.tick() => {
                    match auth::purge_expired(&state.db).await {
                        Ok(n) if n > 0 => tracing::info!(removed = n, "purged expired sessions"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "could not purge sessions"),
                    }
                    if let Err(e) = calls::purge_deleted(&state.db).await {
                        tracing::warn!(error = %e, "could not purge deleted-call markers");
                    }
                }
                _ = stop.changed() => return,
            }
        }
    })
}
