//! Durable jobs: work that talks to Twilio (or, later, an LLM) runs here, never inside a
//! webhook request or a database transaction. Owns `jobs`.
//!
//! - At least once: a job is claimed with a lease (`locked_until`); a worker that dies
//!   mid-job (kill -9) loses the lease and the job runs again after it expires, so
//!   handlers are idempotent.
//! - One claim per job: the claim is one `UPDATE … WHERE id = (SELECT … LIMIT 1)`, with
//!   `FOR UPDATE SKIP LOCKED` on PostgreSQL so processes sharing the database never take
//!   the same job; SQLite's single writer serialises claims by itself.
//! - Failures retry with exponential backoff and jitter; after `max_attempts` a job is
//!   dead, kept with its last error for an admin to retry or discard.
//! - `run_at` schedules work for later (reminders); a `dedupe_key` keeps the same work
//!   from being queued twice (a double click, a redelivered webhook).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::Row as _;

use crate::db::{Backend, Db, new_id, now_ms, rfc3339};
use crate::error::{AppError, AppResult};

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its `run_at`.
    Queued,
    /// Claimed by a worker until its lease ends.
    Running,
    /// Failed an attempt; waits for its next `run_at`.
    Failed,
    /// Failed its last attempt; waits for an admin.
    Dead,
    /// Finished.
    Done,
}

impl JobState {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Done => "done",
        }
    }

    /// A state by its name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Failed,
            Self::Dead,
            Self::Done,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// Work to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// What to do (a registered handler's name).
    pub kind: &'static str,
    /// The tenant it is for, when any.
    pub tenant_id: Option<String>,
    /// The handler's input, JSON.
    pub payload: serde_json::Value,
    /// Work with the same key is queued once.
    pub dedupe_key: Option<String>,
    /// Not before this time (Unix ms); now when `None`.
    pub run_at: Option<i64>,
    /// Attempts before the job is dead.
    pub max_attempts: i64,
}

impl NewJob {
    /// A job of `kind` with `payload`, to run now, at most 5 attempts.
    pub fn new(kind: &'static str, payload: serde_json::Value) -> Self {
        Self {
            kind,
            tenant_id: None,
            payload,
            dedupe_key: None,
            run_at: None,
            max_attempts: 5,
        }
    }
}

/// A job as a handler and an admin see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// `job_…`.
    pub id: String,
    /// Handler name.
    pub kind: String,
    /// Tenant, when any.
    pub tenant_id: Option<String>,
    /// Input.
    pub payload: serde_json::Value,
    /// Where it is.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// When it runs next (RFC 3339).
    pub run_at: String,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Job {
    /// A text field of the payload; its absence is the handler's error.
    pub fn text(&self, name: &str) -> Result<String, String> {
        self.payload[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("payload without {name}"))
    }

    /// The tenant the job runs for; its absence is the handler's error.
    pub fn tenant(&self) -> Result<String, String> {
        self.tenant_id
            .clone()
            .ok_or_else(|| "job without a tenant".to_owned())
    }
}

const COLUMNS: &str = "id, kind, tenant_id, payload, state, attempts, max_attempts, run_at, last_error, created_at, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> AppResult<Job> {
    let state: String = r.try_get("state")?;
    let payload: String = r.try_get("payload")?;
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        tenant_id: r.try_get("tenant_id")?,
        payload: serde_json::from_str(&payload).map_err(AppError::internal)?,
        state: JobState::parse(&state)
            .ok_or_else(|| AppError::Internal(format!("unknown job state {state}").into()))?,
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        run_at: rfc3339(r.try_get("run_at")?),
        last_error: r.try_get("last_error")?,
        created_at: rfc3339(r.try_get("created_at")?),
        updated_at: rfc3339(r.try_get("updated_at")?),
    })
}

/// Queues a job; `false` when one with the same dedupe key exists already.
pub async fn enqueue(db: &Db, job: NewJob) -> AppResult<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO jobs (id, kind, tenant_id, payload, dedupe_key, state, attempts, max_attempts, run_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $8, $8)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(new_id("job"))
    .bind(job.kind)
    .bind(job.tenant_id)
    .bind(job.payload.to_string())
    .bind(job.dedupe_key)
    .bind(job.max_attempts.max(1))
    .bind(job.run_at.unwrap_or(now))
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The job queued under `dedupe_key`, if there is one.
pub async fn by_dedupe_key(db: &Db, dedupe_key: &str) -> AppResult<Option<Job>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE dedupe_key = $1"))
        .bind(dedupe_key)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Queues work that must happen once however often it is asked for (a purchase): a
/// job already under the key is left alone while it waits, runs or has finished, and is
/// run again when it is dead (asking again is how a failure is retried). Returns the job.
pub async fn enqueue_once(db: &Db, job: NewJob) -> AppResult<Job> {
    let key = job.dedupe_key.clone().ok_or_else(|| {
        AppError::internal(std::io::Error::other("enqueue_once needs a dedupe key"))
    })?;
    enqueue(db, job).await?;
    let found = by_dedupe_key(db, &key).await?.ok_or(AppError::NotFound)?;
    if found.state == JobState::Dead {
        return retry(db, &found.id).await;
    }
    Ok(found)
}

/// Frees a finished (or dead) job's dedupe key, so the same work may be asked for again
/// (a number bought, released, and bought again).
pub async fn forget_key(db: &Db, dedupe_key: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE jobs SET dedupe_key = NULL WHERE dedupe_key = $1 AND state IN ('done', 'dead')",
    )
    .bind(dedupe_key)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// How the queue stands, for the health check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Backlog {
    /// Jobs waiting to run or to retry.
    pub waiting: i64,
    /// Jobs that failed their last attempt.
    pub dead: i64,
    /// When the longest-waiting due job was due (unix ms).
    pub oldest_due_at: Option<i64>,
}

/// Counts waiting and dead jobs and finds the oldest one already due.
pub async fn backlog(db: &Db) -> AppResult<Backlog> {
    let row = sqlx::query(
        "SELECT
            COUNT(CASE WHEN state IN ('queued', 'failed') THEN 1 END) AS waiting,
            COUNT(CASE WHEN state = 'dead' THEN 1 END) AS dead,
            MIN(CASE WHEN state IN ('queued', 'failed') AND run_at <= $1 THEN run_at END) AS oldest
         FROM jobs",
    )
    .bind(now_ms())
    .fetch_one(db.pool())
    .await?;
    Ok(Backlog {
        waiting: row.try_get("waiting")?,
        dead: row.try_get("dead")?,
        oldest_due_at: row.try_get("oldest")?,
    })
}

/// How many jobs there are of each kind in each state; every state of a kind that has
/// any job is listed, zeros included, so a drained state reads 0 rather than its last
/// count.
pub async fn counts(db: &Db) -> AppResult<Vec<((String, &'static str), i64)>> {
    let rows = sqlx::query("SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state")
        .fetch_all(db.pool())
        .await?;
    let mut counts: std::collections::BTreeMap<(String, &'static str), i64> = Default::default();
    for r in &rows {
        let kind: String = r.try_get("kind")?;
        let state: String = r.try_get("state")?;
        for s in ["queued", "running", "failed", "dead", "done"] {
            counts.entry((kind.clone(), s)).or_insert(0);
        }
        if let Some(s) = JobState::parse(&state) {
            counts.insert((kind, s.as_str()), r.try_get("n")?);
        }
    }
    Ok(counts.into_iter().collect())
}

/// Drops the job queued under `dedupe_key` unless a worker holds it or it has finished
/// (a reminder for a start that moved). Returns whether one was dropped.
pub async fn drop_pending(db: &Db, dedupe_key: &str) -> AppResult<bool> {
    let done =
        sqlx::query("DELETE FROM jobs WHERE dedupe_key = $1 AND state IN ('queued', 'failed')")
            .bind(dedupe_key)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Takes the next due job (or one whose lease ran out) for `worker`, for `lease`.
pub async fn claim(db: &Db, worker: &str, lease: Duration) -> AppResult<Option<Job>> {
    let now = now_ms();
    let lock = if db.backend() == Backend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    // A read first: an idle worker polling every quarter second takes no write lock.
    let due = sqlx::query(
        "SELECT id FROM jobs WHERE (state IN ('queued', 'failed') AND run_at <= $1)
            OR (state = 'running' AND locked_until < $1) LIMIT 1",
    )
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    if due.is_none() {
        return Ok(None);
    }
    let sql = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2, updated_at = $3
         WHERE id = (SELECT id FROM jobs
                     WHERE (state IN ('queued', 'failed') AND run_at <= $3)
                        OR (state = 'running' AND locked_until < $3)
                     ORDER BY run_at LIMIT 1{lock})
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(worker)
        .bind(now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2))
        .bind(now)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The job finished. Only the worker that holds it may say so.
pub async fn complete(db: &Db, id: &str, worker: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, last_error = NULL, updated_at = $1
         WHERE id = $2 AND locked_by = $3 AND state = 'running'",
    )
    .bind(now_ms())
    .bind(id)
    .bind(worker)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The wait before attempt `attempts + 1`: `first` (2 s by default) doubling per
/// attempt, at most an hour, with ±25 % jitter so failures of many jobs do not retry in
/// lockstep.
pub fn backoff(attempts: i64, first: Duration) -> Duration {
    use rand::Rng as _;
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let first = u64::try_from(first.as_millis()).unwrap_or(u64::MAX).max(1);
    let base = first.saturating_mul(1u64 << doublings).min(3_600_000);
    let jitter = rand::rng().random_range(0.75..=1.25);
    Duration::from_millis((base as f64 * jitter) as u64)
}

/// A handler's error that starts with this will not get better by retrying (Twilio
/// refused the request): the job is dead at once, with the rest of the text as its error.
pub const PERMANENT: &str = "permanent: ";

/// The error of a failure no retry can fix (see [`PERMANENT`]).
pub fn permanent(error: impl std::fmt::Display) -> String {
    format!("{PERMANENT}{error}")
}

/// The attempt failed: retry after [`backoff`], or, after the last attempt (or a
/// [`PERMANENT`] error), dead.
pub async fn fail(
    db: &Db,
    job: &Job,
    worker: &str,
    error: &str,
    first_retry: Duration,
) -> AppResult<JobState> {
    let now = now_ms();
    let (error, hopeless) = match error.strip_prefix(PERMANENT) {
        Some(rest) => (rest, true),
        None => (error, false),
    };
    let error: String = error.chars().take(2000).collect();
    let (state, run_at) = if hopeless || job.attempts >= job.max_attempts {
        (JobState::Dead, now)
    } else {
        let wait =
            i64::try_from(backoff(job.attempts, first_retry).as_millis()).unwrap_or(i64::MAX / 2);
        (JobState::Failed, now + wait)
    };
    sqlx::query(
        "UPDATE jobs SET state = $1, run_at = $2, last_error = $3, locked_by = NULL, locked_until = NULL, updated_at = $4
         WHERE id = $5 AND locked_by = $6 AND state = 'running'",
    )
    .bind(state.as_str())
    .bind(run_at)
    .bind(error)
    .bind(now)
    .bind(&job.id)
    .bind(worker)
    .execute(db.pool())
    .await?;
    Ok(state)
}

/// Jobs in a state (all when `None`), newest first, with the total.
pub async fn list(
    db: &Db,
    state: Option<JobState>,
    limit: i64,
    offset: i64,
) -> AppResult<(Vec<Job>, i64)> {
    // The state filter is the first parameter when there is one.
    let (filter, next) = match state {
        Some(_) => ("WHERE state = $1", 2),
        None => ("", 1),
    };
    let list_sql = format!(
        "SELECT {COLUMNS} FROM jobs {filter} ORDER BY created_at DESC, id DESC LIMIT ${next} OFFSET ${}",
        next + 1
    );
    let count_sql = format!("SELECT COUNT(*) AS n FROM jobs {filter}");
    let mut list_q = sqlx::query(&list_sql);
    let mut count_q = sqlx::query(&count_sql);
    if let Some(s) = state {
        list_q = list_q.bind(s.as_str());
        count_q = count_q.bind(s.as_str());
    }
    let rows = list_q.bind(limit).bind(offset).fetch_all(db.pool()).await?;
    let total: i64 = count_q.fetch_one(db.pool()).await?.try_get("n")?;
    Ok((rows.iter().map(from_row).collect::<AppResult<_>>()?, total))
}

/// Runs a failed or dead job again now, with its attempts counted afresh.
pub async fn retry(db: &Db, id: &str) -> AppResult<Job> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, updated_at = $1
         WHERE id = $2 AND state IN ('failed', 'dead')",
    )
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    let job = get(db, id).await?;
    if done.rows_affected() == 0 {
        return Err(AppError::Conflict(format!(
            "a {} job cannot be retried; only failed and dead ones",
            job.state.as_str()
        )));
    }
    Ok(job)
}

/// Drops a job that is not running.
pub async fn discard(db: &Db, id: &str) -> AppResult<()> {
    let job = get(db, id).await?;
    if job.state == JobState::Running {
        return Err(AppError::Conflict(
            "a running job cannot be discarded; wait until it ends".into(),
        ));
    }
    sqlx::query("DELETE FROM jobs WHERE id = $1 AND state <> 'running'")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// One job.
pub async fn get(db: &Db, id: &str) -> AppResult<Job> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    from_row(&row)
}

/// Removes finished jobs older than `age`; returns how many.
pub async fn purge_done(db: &Db, age: Duration) -> AppResult<u64> {
    let before = now_ms() - i64::try_from(age.as_millis()).unwrap_or(i64::MAX / 2);
    let done = sqlx::query("DELETE FROM jobs WHERE state = 'done' AND updated_at < $1")
        .bind(before)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// What a handler returns: `Err` with a message to retry (or die) with.
pub type HandlerResult = Result<(), String>;

type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;
type Handler<C> = Arc<dyn Fn(C, Job) -> HandlerFuture + Send + Sync>;

/// The handlers a worker runs, by job kind, with the context `C` they get.
pub struct Registry<C> {
    handlers: HashMap<&'static str, Handler<C>>,
}

impl<C> Default for Registry<C> {
    fn default() -> Self {
        Self {
            handlers: HashMap::new(),
        }
    }
}

impl<C: Clone + Send + Sync + 'static> Registry<C> {
    /// Registers `handler` for `kind`.
    #[must_use]
    pub fn on<F, Fut>(mut self, kind: &'static str, handler: F) -> Self
    where
        F: Fn(C, Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.handlers
            .insert(kind, Arc::new(move |c, job| Box::pin(handler(c, job))));
        self
    }
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Names the worker in `locked_by`.
    pub name: String,
    /// How long a claim holds before another worker may take the job.
    pub lease: Duration,
    /// How long to wait when nothing is due.
    pub idle_poll: Duration,
    /// Longest a handler may run; longer counts as a failure.
    pub timeout: Duration,
    /// The wait before the first retry (doubling after).
    pub first_retry: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            name: new_id("worker"),
            lease: Duration::from_secs(120),
            idle_poll: Duration::from_millis(250),
            timeout: Duration::from_secs(60),
            first_retry: Duration::from_secs(2),
        }
    }
}

/// Runs due jobs one at a time until `stop` turns true; the job in hand is finished
/// first (a stop never abandons a claimed job to its lease if it can help it).
pub async fn run_worker<C: Clone + Send + Sync + 'static>(
    db: Db,
    context: C,
    registry: Arc<Registry<C>>,
    options: WorkerOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let claimed = match claim(&db, &options.name, options.lease).await {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim a job");
                None
            }
        };
        let Some(job) = claimed else {
            tokio::select! {
                () = tokio::time::sleep(options.idle_poll) => {}
                _ = stop.changed() => {}
            }
            continue;
        };
        let outcome = match registry.handlers.get(job.kind.as_str()) {
            Some(handler) => {
                match tokio::time::timeout(options.timeout, handler(context.clone(), job.clone()))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(format!("timed out after {:?}", options.timeout)),
                }
            }
            None => Err(format!("no handler for job kind {}", job.kind)),
        };
        let recorded = match &outcome {
            Ok(()) => complete(&db, &job.id, &options.name).await.map(|()| None),
            Err(error) => fail(&db, &job, &options.name, error, options.first_retry)
                .await
                .map(Some),
        };
        match (recorded, outcome) {
            (Ok(None), _) => tracing::debug!(kind = %job.kind, "job done"),
            (Ok(Some(state)), Err(error)) => {
                tracing::warn!(kind = %job.kind, attempt = job.attempts, state = state.as_str(), %error, "job failed");
            }
            (Ok(Some(_)), Ok(())) => {}
            (Err(e), _) => {
                tracing::warn!(error = %e, kind = %job.kind, "could not record a job's outcome")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for (attempts, base) in [(1, 2_000.0), (2, 4_000.0), (5, 32_000.0)] {
            let ms = backoff(attempts, Duration::from_secs(2)).as_millis() as f64;
            assert!(
                (base * 0.75..=base * 1.25).contains(&ms),
                "{attempts}: {ms}"
            );
        }
        assert!(backoff(40, Duration::from_secs(2)).as_millis() <= 4_500_000);
    }

    #[test]
    fn states_round_trip() {
        for s in ["queued", "running", "failed", "dead", "done"] {
            assert_eq!(JobState::parse(s).map(JobState::as_str), Some(s));
        }
        assert_eq!(JobState::parse("lost"), None);
    }
}
