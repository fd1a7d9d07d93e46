//! The composition root: one router merged from the JSON API and the webhooks
//! ([`crate::http`]), the portal ([`crate::web`]) and the health checks, with the
//! layers every request goes through; and the running server with its upkeep.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::config::Config;
use crate::routes::Routes;
use crate::state::{AppState, StartError};
use crate::{audit, auth, calls, http, jobs, serve, telemetry, web};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a per-process random prefix and a counter, cheap and unique.
#[derive(Clone)]
struct RequestIds {
    prefix: String,
    counter: Arc<AtomicU64>,
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.prefix)
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// A running server.
pub struct App {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where the separate metrics listener listens, when configured.
    pub metrics_addr: Option<SocketAddr>,
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
        let router = router(state.clone());
        let housekeeping = spawn_housekeeping(state.clone(), shutdown.subscribe());
        let header_read_timeout = state.config.header_read_timeout;
        let metrics_listener = match state.config.metrics_bind {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
        let metrics_task = metrics_listener.map(|listener| {
            tokio::spawn(serve::serve(
                listener,
                metrics_router(state.clone()),
                header_read_timeout,
                shutdown.subscribe(),
            ))
        });
        let worker = tokio::spawn(jobs::run_worker(
            state.db.clone(),
            state.clone(),
            Arc::new(job_handlers()),
            jobs::WorkerOptions::default(),
            shutdown.subscribe(),
        ));
        let task = tokio::spawn(async move {
            serve::serve(listener, router, header_read_timeout, watch).await;
            if let Some(metrics) = metrics_task {
                let _ = metrics.await;
            }
            // The job in hand finishes before the database closes.
            let _ = worker.await;
            housekeeping.abort();
        });
        Ok(Self {
            addr,
            metrics_addr,
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
        let mut upkeep = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = checkpoint.tick() => {
                    let written = state.db.wal_modified();
                    if written.is_some() && written != last_seen {
                        last_seen = written;
                        match state.db.checkpoint().await {
                            Ok(true) => state.events.log_copied(),
                            Ok(false) => {}
                            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed"),
                        }
                    }
                }
                _ = upkeep.tick() => {
                    telemetry::upkeep();
                    state.limiters.forget_idle();
                }
                _ = tick.tick() => {
                    match auth::purge_expired(&state.db).await {
                        Ok(n) if n > 0 => tracing::info!(removed = n, "purged expired sessions"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "could not purge sessions"),
                    }
                    if let Err(e) = jobs::purge_done(&state.db, Duration::from_secs(7 * 24 * 3600)).await {
                        tracing::warn!(error = %e, "could not purge finished jobs");
                    }
                    if let Err(e) = calls::purge_deleted(&state.db).await {
                        tracing::warn!(error = %e, "could not purge deleted-call markers");
                    }
                    if let Err(e) = crate::retention::sweep(&state.db).await {
                        tracing::warn!(error = %e, "could not sweep media past its retention");
                    }
                }
                _ = stop.changed() => return,
            }
        }
    })
}

/// Every job kind the worker runs, and its handler.
pub fn job_handlers() -> jobs::Registry<AppState> {
    jobs::Registry::default()
        .on(
            crate::intelligence::CREATE_TRANSCRIPT,
            crate::intelligence::create_transcript,
        )
        .on(
            crate::intelligence::FETCH_RESULTS,
            crate::intelligence::fetch_results,
        )
        .on(
            crate::intelligence::CLASSIFY,
            crate::intelligence::classify_call,
        )
        .on(crate::messaging::SEND, crate::messaging::send_job)
        .on(crate::messaging::TEXT_BACK, crate::messaging::text_back_job)
        .on(crate::appointments::REMIND, crate::appointments::remind_job)
        .on(crate::purchases::PURCHASE, crate::purchases::purchase_job)
        .on(crate::purchases::PROVISION, crate::purchases::provision_job)
        .on(crate::retention::ERASE, crate::retention::erase_job)
}

/// Every route the service serves: the JSON API, Twilio's webhooks, the portal and the
/// health checks.
pub fn routes(state: AppState) -> Routes {
    // What people use (the API, the portal) is audited and rate limited; what Twilio
    // and monitoring use is neither.
    let people = http::api_router()
        .merge(web::router(state.clone()))
        .map(|r| {
            r.layer(axum::middleware::from_fn_with_state(
                state.clone(),
                audit::capture,
            ))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                http::limits::limit,
            ))
        });
    Routes::new()
        .merge(http::webhook_router())
        .merge(people)
        .route("/healthz", get(http::ops::healthz))
        .route("/readyz", get(http::ops::readyz))
        .route("/metrics", get(telemetry::scrape))
}

/// The separate metrics listener's router: `/metrics` alone.
fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(telemetry::scrape))
        .layer(axum::Extension(telemetry::Listener { private: true }))
        .with_state(state)
}

/// The whole application: [`routes`] behind the layers every request goes through.
pub fn router(state: AppState) -> Router {
    let ids = RequestIds {
        prefix: crate::db::new_id("req").trim_start_matches("req_")[..8].to_owned(),
        counter: Arc::new(AtomicU64::new(1)),
    };
    routes(state.clone())
        .into_router()
        .layer(axum::middleware::from_fn(telemetry::track))
        .layer(DefaultBodyLimit::max(http::MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                // The path only: query strings can carry phone numbers.
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            })
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), ids))
        .with_state(state)
}
