//! Dependency health (seed 002's design): the database and its disk, Twilio for the
//! platform account and for every tenant with its own, the LLM endpoint, the job queue,
//! and numbers whose webhooks on Twilio drifted away from us.
//!
//! Checks run concurrently, each in its own task with a timeout, so one that hangs or
//! panics reports DOWN for itself and the rest still answer. A report is kept briefly,
//! so refreshing the page does not ask Twilio again. Owns no table: it asks the modules
//! that own them.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::AppResult;
use crate::paths;
use crate::state::AppState;

/// How long one check may take before it is DOWN.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Twilio answering slower than this is DEGRADED.
const SLOW_TWILIO: Duration = Duration::from_secs(2);
/// The database answering slower than this is DEGRADED.
const SLOW_DATABASE: Duration = Duration::from_millis(500);
/// A queued job overdue by more than this is a backlog.
const BACKLOG: Duration = Duration::from_secs(5 * 60);
/// How long a report is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(10);

/// A dependency's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    /// Nothing to check.
    NotConfigured,
    /// Working.
    Healthy,
    /// Working, but slow or needing attention.
    Degraded,
    /// Not working.
    Down,
}

/// A number whose webhooks on Twilio no longer point at us.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftedNumber {
    /// `PN…`.
    pub sid: String,
    /// E.164.
    pub phone_number: String,
    /// The tenant it is connected to here.
    pub tenant_id: String,
    /// What Twilio has instead (the voice URL).
    pub voice_url: Option<String>,
}

/// One dependency's check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Its state.
    pub status: Level,
    /// Whether it decides the overall status.
    pub critical: bool,
    /// How long it took.
    pub latency_ms: u64,
    /// What was found, in words.
    pub message: String,
    /// Twilio checks: `platform` or `tenant:{name}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_source: Option<String>,
    /// Webhook checks: the numbers to point back at us.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<DriftedNumber>,
}

/// All checks.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The worst of the critical checks (HEALTHY when none is critical and configured).
    pub status: Level,
    /// RFC 3339.
    pub checked_at: String,
    /// Every check.
    pub checks: Vec<Check>,
}

/// What a check finds, before its name and timing are added.
struct Finding {
    status: Level,
    message: String,
    drifted: Vec<DriftedNumber>,
}

impl Finding {
    fn new(status: Level, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            drifted: Vec::new(),
        }
    }
}

/// A check to run: name, whether critical, where its credentials come from, the work.
struct Planned {
    name: String,
    critical: bool,
    credential_source: Option<String>,
    work: std::pin::Pin<Box<dyn Future<Output = Finding> + Send>>,
}

fn planned(
    name: impl Into<String>,
    critical: bool,
    credential_source: Option<String>,
    work: impl Future<Output = Finding> + Send + 'static,
) -> Planned {
    Planned {
        name: name.into(),
        critical,
        credential_source,
        work: Box::pin(work),
    }
}

/// The last report and when it was made, per server.
#[derive(Default)]
pub struct HealthCache(std::sync::Mutex<Option<(Instant, Report)>>);

/// The report: the cached one when it is recent, else a new one.
pub async fn report(state: &AppState) -> AppResult<Report> {
    if let Some((at, r)) = state
        .health
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        && at.elapsed() < CACHE_FOR
    {
        return Ok(r);
    }
    let r = run(state).await?;
    *state.health.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), r.clone()));
    Ok(r)
}

/// Forgets the cached report (after a fix, so the page shows the result).
pub fn invalidate(state: &AppState) {
    *state.health.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Runs every check now.
pub async fn run(state: &AppState) -> AppResult<Report> {
    let mut plan = vec![
        planned("database", true, None, database(state.clone())),
        planned("job queue", true, None, job_queue(state.clone())),
        planned("llm", false, None, llm(state.clone())),
    ];
    if state.db.backend() == crate::db::Backend::Sqlite {
        plan.push(planned("disk", true, None, disk(state.clone())));
    }
    let platform = crate::telephony::platform_credentials(&state.config.platform);
    plan.push(planned(
        "twilio",
        platform.is_some(),
        Some("platform".into()),
        twilio_account(state.clone(), None),
    ));
    if platform.is_some() {
        plan.push(planned(
            "webhooks",
            false,
            Some("platform".into()),
            webhook_drift(state.clone(), None),
        ));
    }
    for tenant in crate::tenants::list(&state.db).await? {
        let own = !crate::telephony::view(&state.db, &tenant.id)
            .await?
            .uses_platform_credentials;
        if !own {
            continue;
        }
        let source = Some(format!("tenant:{}", tenant.name));
        plan.push(planned(
            format!("twilio ({})", tenant.name),
            false,
            source.clone(),
            twilio_account(state.clone(), Some(tenant.id.clone())),
        ));
        plan.push(planned(
            format!("webhooks ({})", tenant.name),
            false,
            source,
            webhook_drift(state.clone(), Some(tenant.id.clone())),
        ));
    }
    let tasks: Vec<_> = plan
        .into_iter()
        .map(|p| {
            let started = Instant::now();
            let task = tokio::spawn(tokio::time::timeout(CHECK_TIMEOUT, p.work));
            (p.name, p.critical, p.credential_source, started, task)
        })
        .collect();
    let mut checks = Vec::with_capacity(tasks.len());
    for (name, critical, credential_source, started, task) in tasks {
        let finding = match task.await {
            Ok(Ok(f)) => f,
            Ok(Err(_)) => Finding::new(
                Level::Down,
                format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
            ),
            Err(_) => Finding::new(Level::Down, "the check itself failed"),
        };
        checks.push(Check {
            name,
            status: finding.status,
            critical,
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            message: finding.message,
            credential_source,
            drifted: finding.drifted,
        });
    }
    let status = checks
        .iter()
        .filter(|c| c.critical && c.status != Level::NotConfigured)
        .map(|c| c.status)
        .max()
        .unwrap_or(Level::Healthy);
    Ok(Report {
        status,
        checked_at: crate::db::rfc3339(crate::db::now_ms()),
        checks,
    })
}

async fn database(state: AppState) -> Finding {
    let started = Instant::now();
    if !state.db.ping().await {
        return Finding::new(Level::Down, "the database does not answer");
    }
    let took = started.elapsed();
    let backend = match state.db.backend() {
        crate::db::Backend::Sqlite => "SQLite",
        crate::db::Backend::Postgres => "PostgreSQL",
    };
    if took > SLOW_DATABASE {
        Finding::new(
            Level::Degraded,
            format!("{backend} answered in {} ms", took.as_millis()),
        )
    } else {
        Finding::new(Level::Healthy, format!("{backend} answers"))
    }
}

async fn disk(state: AppState) -> Finding {
    match free_space(&state.config.data_dir) {
        Some((free, total)) => {
            let gib = free as f64 / f64::from(1u32 << 30);
            let share = if total == 0 {
                0.0
            } else {
                free as f64 / total as f64
            };
            let message = format!(
                "{gib:.1} GiB free ({:.0} %) in the data directory",
                share * 100.0
            );
            let status = if free < 200 << 20 {
                Level::Down
            } else if free < 1 << 30 || share < 0.05 {
                Level::Degraded
            } else {
                Level::Healthy
            };
            Finding::new(status, message)
        }
        None => Finding::new(Level::Degraded, "free space could not be read"),
    }
}

/// Free (for us) and total bytes of the file system holding `dir`.
fn free_space(dir: &std::path::Path) -> Option<(u64, u64)> {
    let stats = rustix::fs::statvfs(dir).ok()?;
    let block = stats.f_frsize.max(1);
    Some((
        stats.f_bavail.saturating_mul(block),
        stats.f_blocks.saturating_mul(block),
    ))
}

async fn job_queue(state: AppState) -> Finding {
    let summary = match crate::jobs::backlog(&state.db).await {
        Ok(s) => s,
        Err(e) => return Finding::new(Level::Down, format!("the queue could not be read: {e}")),
    };
    let overdue_ms = i64::try_from(BACKLOG.as_millis()).unwrap_or(i64::MAX);
    let mut problems = Vec::new();
    if summary.dead > 0 {
        problems.push(format!("{} dead job(s) wait for an admin", summary.dead));
    }
    if let Some(oldest) = summary.oldest_due_at
        && crate::db::now_ms() - oldest > overdue_ms
    {
        problems.push(format!(
            "jobs are waiting since {} (backlog)",
            crate::db::rfc3339(oldest)
        ));
    }
    if problems.is_empty() {
        Finding::new(
            Level::Healthy,
            format!("{} job(s) waiting, none overdue", summary.waiting),
        )
    } else {
        Finding::new(Level::Degraded, problems.join("; "))
    }
}

async fn llm(state: AppState) -> Finding {
    if state.llm.config().is_none() {
        return Finding::new(
            Level::NotConfigured,
            "no LLM endpoint is configured; calls are classified locally",
        );
    }
    match state.llm.probe().await {
        Ok(()) => Finding::new(Level::Healthy, "the LLM endpoint answers"),
        Err(e) => Finding::new(Level::Down, format!("the LLM endpoint failed: {e}")),
    }
}

/// The account's client, or the finding that there is none to check.
async fn client(state: &AppState, tenant: Option<&str>) -> Result<twilio::client::Client, Finding> {
    if tenant.is_none() && crate::telephony::platform_credentials(&state.config.platform).is_none()
    {
        return Err(Finding::new(
            Level::NotConfigured,
            "no platform Twilio credentials are configured",
        ));
    }
    crate::provisioning::client_for(state, tenant)
        .await
        .map_err(|e| Finding::new(Level::Down, e.to_string()))
}

/// The same question as the "test credentials" buttons ([`crate::provisioning::test_credentials`]),
/// graded: an active account answering fast is HEALTHY.
async fn twilio_account(state: AppState, tenant: Option<String>) -> Finding {
    if tenant.is_none() && crate::telephony::platform_credentials(&state.config.platform).is_none()
    {
        return Finding::new(
            Level::NotConfigured,
            "no platform Twilio credentials are configured",
        );
    }
    let started = Instant::now();
    let check = match crate::provisioning::test_credentials(&state, tenant.as_deref()).await {
        Ok(c) => c,
        Err(e) => return Finding::new(Level::Down, e.to_string()),
    };
    let took = started.elapsed();
    let status = check.status.unwrap_or_else(|| "active".into());
    if !check.ok {
        Finding::new(
            Level::Down,
            check
                .message
                .unwrap_or_else(|| "Twilio refused these credentials".into()),
        )
    } else if status != "active" {
        Finding::new(Level::Down, format!("the Twilio account is {status}"))
    } else if took > SLOW_TWILIO {
        Finding::new(
            Level::Degraded,
            format!("Twilio answered in {} ms", took.as_millis()),
        )
    } else {
        Finding::new(Level::Healthy, "the Twilio account is active")
    }
}

/// The webhooks a connected number must have.
pub fn expected_webhooks(state: &AppState) -> twilio::client::NumberWebhooks {
    twilio::client::NumberWebhooks::switchboard(
        &state.config.public_url,
        paths::INCOMING,
        paths::STATUS,
        paths::SMS,
    )
}

async fn webhook_drift(state: AppState, tenant: Option<String>) -> Finding {
    let client = match client(&state, tenant.as_deref()).await {
        Ok(c) => c,
        Err(f) => return f,
    };
    let numbers = match client.all_incoming_phone_numbers(1000).await {
        Ok(n) => n,
        Err(e) => return Finding::new(Level::Down, format!("numbers could not be listed: {e}")),
    };
    let assignments = match crate::numbers::assignments(&state.db).await {
        Ok(a) => a,
        Err(e) => return Finding::new(Level::Down, e.to_string()),
    };
    let want = expected_webhooks(&state);
    let mut drifted = Vec::new();
    let mut connected = 0;
    for n in numbers {
        let Some((_, owner)) = assignments.iter().find(|(e164, _)| *e164 == n.phone_number) else {
            continue;
        };
        // On the platform account only the numbers of tenants without their own
        // account count; a tenant's own account is checked as that tenant.
        if tenant.as_deref().is_some_and(|t| t != owner) {
            continue;
        }
        connected += 1;
        let points_here = n.voice_url == want.voice_url
            && n.status_callback == want.status_callback
            && n.sms_url == want.sms_url;
        if !points_here {
            drifted.push(DriftedNumber {
                sid: n.sid,
                phone_number: n.phone_number,
                tenant_id: owner.clone(),
                voice_url: n.voice_url,
            });
        }
    }
    if drifted.is_empty() {
        Finding::new(
            Level::Healthy,
            format!(
                "{connected} connected number(s) point at {}",
                state.config.public_url
            ),
        )
    } else {
        let list: Vec<&str> = drifted.iter().map(|d| d.phone_number.as_str()).collect();
        Finding {
            status: Level::Degraded,
            message: format!(
                "{} of {connected} connected number(s) no longer point here: {}",
                drifted.len(),
                list.join(", ")
            ),
            drifted,
        }
    }
}

/// Points a connected number's webhooks back at us, on the account of the tenant it is
/// connected to. Returns whether the number was found on that account.
pub async fn fix_webhooks(
    state: &AppState,
    tenant_id: &str,
    phone_number: &str,
) -> AppResult<bool> {
    let client = state.twilio_client(tenant_id).await?;
    let numbers = client
        .all_incoming_phone_numbers(1000)
        .await
        .map_err(|e| crate::error::AppError::BadGateway(format!("listing numbers failed: {e}")))?;
    let Some(n) = numbers.into_iter().find(|n| n.phone_number == phone_number) else {
        return Ok(false);
    };
    client
        .update_incoming_phone_number(&n.sid, &expected_webhooks(state))
        .await
        .map_err(|e| {
            crate::error::AppError::BadGateway(format!("updating the number failed: {e}"))
        })?;
    invalidate(state);
    tracing::info!(tenant = %tenant_id, "number's webhooks pointed back at Switchboard");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_from_fine_to_down() {
        assert!(Level::Down > Level::Degraded);
        assert!(Level::Degraded > Level::Healthy);
        assert!(Level::Healthy > Level::NotConfigured);
        assert_eq!(
            serde_json::to_value(Level::NotConfigured).ok(),
            Some(serde_json::json!("NOT_CONFIGURED"))
        );
    }

    #[test]
    fn free_space_reads_the_temp_directory() {
        let (free, total) = free_space(&std::env::temp_dir()).expect("statvfs");
        assert!(total >= free && total > 0);
    }
}
