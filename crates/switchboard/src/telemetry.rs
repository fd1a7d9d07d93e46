//! Prometheus metrics: one recorder per process, what the code counts as it works,
//! and `GET /metrics` rendering it with the gauges read at scrape time (jobs, pool).
//!
//! Labels are route templates, kinds, states and sources: never a phone number, a SID,
//! a tenant id or anything a caller controls, so the series stay few and say nothing
//! about anyone. The endpoint is not on the public listener unless
//! `SWITCHBOARD_METRICS_TOKEN` is set (then it wants that bearer token), or it is
//! served alone on `SWITCHBOARD_METRICS_BIND`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Request latencies, seconds: webhooks answer in about a millisecond, pages in tens.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Events per group commit.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (every server in a process, tests
/// included, shares it). `None` when another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("switchboard_event_batch_size".into()),
                        BATCH_BUCKETS,
                    )
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: bad bucket configuration");
                    return None;
                }
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("metrics are off: another recorder is installed");
                return None;
            }
            describe();
            metrics::gauge!("switchboard_build_info", "version" => env!("CARGO_PKG_VERSION"))
                .set(1.0);
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "switchboard_http_requests_total",
        "Requests answered, by method, route template and status."
    );
    describe_histogram!(
        "switchboard_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer a request, by method and route template."
    );
    describe_counter!(
        "switchboard_webhook_events_total",
        "Call events Twilio's webhooks delivered, by kind (duplicates included)."
    );
    describe_counter!(
        "switchboard_webhook_signature_failures_total",
        "Webhooks refused for a missing or invalid X-Twilio-Signature."
    );
    describe_histogram!(
        "switchboard_event_batch_size",
        "Call events stored by one group commit."
    );
    describe_histogram!(
        "switchboard_event_commit_seconds",
        metrics::Unit::Seconds,
        "Time to store and fold one batch of call events."
    );
    describe_gauge!("switchboard_jobs", "Durable jobs, by kind and state.");
    describe_gauge!(
        "switchboard_db_pool_connections",
        "Database connections, by state (idle, in_use) and the pool's maximum (max)."
    );
    describe_counter!(
        "switchboard_classifications_total",
        "Calls classified, by source (local, llm, vi, correction)."
    );
    describe_counter!(
        "switchboard_writer_checkpoints_total",
        "SQLite checkpoints the event writer ran between batches, by whether they copied the whole log (complete) or not (partial: a reader held an older snapshot, or another checkpoint was running)."
    );
    describe_histogram!(
        "switchboard_writer_checkpoint_seconds",
        "How long each of the event writer's checkpoints held its next batch up."
    );
    describe_counter!(
        "switchboard_rate_limited_total",
        "Requests refused with 429, by limit (user, client)."
    );
}

/// Counts a call event a webhook delivered.
pub fn webhook_event(kind: &'static str) {
    if handle().is_some() {
        metrics::counter!("switchboard_webhook_events_total", "kind" => kind).increment(1);
    }
}

/// Counts a webhook refused for its signature (`reason`: missing or invalid).
pub fn signature_failure(reason: &'static str) {
    if handle().is_some() {
        metrics::counter!("switchboard_webhook_signature_failures_total", "reason" => reason)
            .increment(1);
    }
}

/// Records one group commit of `events` events that took `started.elapsed()`.
pub fn event_batch(events: usize, started: Instant) {
    if handle().is_some() {
        metrics::histogram!("switchboard_event_batch_size").record(events as f64);
        metrics::histogram!("switchboard_event_commit_seconds")
            .record(started.elapsed().as_secs_f64());
    }
}

/// Counts a checkpoint of the event writer's, by whether it copied the whole log, and
/// records how long it held the writer up.
pub fn writer_checkpoint(complete: bool, started: Instant) {
    if handle().is_some() {
        let outcome = if complete { "complete" } else { "partial" };
        metrics::counter!("switchboard_writer_checkpoints_total", "outcome" => outcome)
            .increment(1);
        metrics::histogram!("switchboard_writer_checkpoint_seconds")
            .record(started.elapsed().as_secs_f64());
    }
}

/// Counts a classification stored, by where it came from.
pub fn classified(source: &'static str) {
    if handle().is_some() {
        metrics::counter!("switchboard_classifications_total", "source" => source).increment(1);
    }
}

/// Counts a request refused by a rate limit.
pub fn rate_limited(limit: &'static str) {
    if handle().is_some() {
        metrics::counter!("switchboard_rate_limited_total", "limit" => limit).increment(1);
    }
}

/// The layer over every route: counts requests and times them, by route template (an
/// unmatched path is `unmatched`, so probes cannot mint series).
pub async fn track(request: Request, next: Next) -> Response {
    if handle().is_none() {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Only methods we know: a made-up method would be a new series.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(
        "switchboard_http_request_duration_seconds",
        "method" => method,
        "route" => route.clone(),
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "switchboard_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status,
    )
    .increment(1);
    response
}

/// Periodic upkeep of the recorder (drains histogram samples into their buckets).
pub fn upkeep() {
    if let Some(h) = handle() {
        h.run_upkeep();
    }
}

/// Where a scrape arrived.
#[derive(Debug, Clone, Copy)]
pub struct Listener {
    /// The separate metrics bind (`SWITCHBOARD_METRICS_BIND`) rather than the public one.
    pub private: bool,
}

fn token_matches(headers: &HeaderMap, expected: &str) -> bool {
    crate::access::bearer_token(headers).is_some_and(|given| {
        use sha2::Digest as _;
        // Compare digests: equal-length inputs, so timing says nothing of the token.
        sha2::Sha256::digest(given.as_bytes()) == sha2::Sha256::digest(expected.as_bytes())
    })
}

/// `GET /metrics`: Prometheus text format.
pub async fn scrape(
    State(state): State<AppState>,
    listener: Option<axum::Extension<Listener>>,
    headers: HeaderMap,
) -> Response {
    let private = listener.is_some_and(|l| l.private);
    match state.config.metrics_token.as_deref() {
        Some(token) if !token_matches(&headers, token) => {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need the bearer token SWITCHBOARD_METRICS_TOKEN\n",
            )
                .into_response();
        }
        Some(_) => {}
        // Public listener, no token: as if there were no such route.
        None if !private => return crate::error::AppError::NotFound.into_response(),
        None => {}
    }
    let Some(handle) = handle() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are off\n").into_response();
    };
    read_gauges(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Gauges that are cheaper to read when asked than to keep up to date.
async fn read_gauges(state: &AppState) {
    let pool = state.db.pool();
    let size = f64::from(pool.size());
    let idle = pool.num_idle() as f64;
    metrics::gauge!("switchboard_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("switchboard_db_pool_connections", "state" => "in_use").set(size - idle);
    metrics::gauge!("switchboard_db_pool_connections", "state" => "max")
        .set(f64::from(pool.options().get_max_connections()));
    match crate::jobs::counts(&state.db).await {
        Ok(counts) => {
            for ((kind, job_state), n) in counts {
                metrics::gauge!("switchboard_jobs", "kind" => kind, "state" => job_state)
                    .set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not count jobs for metrics"),
    }
}
