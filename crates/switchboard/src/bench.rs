//! `switchboard bench`: the performance goals, measured on this machine.
//!
//! - `webhooks`: signed incoming-call webhooks stored and answered per second, beside a
//!   bare axum handler doing one SQLite insert per request in the same run, and the
//!   latency distribution at a fixed 1,000 requests per second.
//! - `calls`: call-log page and stats latency over a tenant with 1,000,000 calls.
//! - `process`: cold start (spawn to `/readyz`) and idle memory of `switchboard serve`.
//!
//! Everything runs on loopback with temporary SQLite databases.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use twilio::signature::RequestValidator;

use crate::config::Config;
use crate::db::{Db, new_id};
use crate::server::App;

/// A benchmark failed to run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(String);

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError(e.to_string())
}

/// Sizes of the runs.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Requests per throughput run.
    pub requests: usize,
    /// Requests in flight at once in throughput runs.
    pub concurrency: usize,
    /// Requests per second of the latency run.
    pub rate: u32,
    /// Seconds of the latency run.
    pub rate_secs: u32,
    /// Calls loaded for the list and stats run.
    pub calls: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            requests: 20_000,
            concurrency: 32,
            rate: 1000,
            // Long enough to include background checkpoints (at least every 10 s).
            rate_secs: 15,
            calls: 1_000_000,
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(new_id(name));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A prepared request: URL, form body and signature.
#[derive(Clone)]
struct Prepared {
    url: String,
    body: String,
    signature: String,
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

fn incoming_requests(base: &str, n: usize) -> Vec<Prepared> {
    let url = format!("{base}/api/twilio/voice/incoming");
    let validator = RequestValidator::new(TOKEN);
    (0..n)
        .map(|i| {
            let params: Vec<(String, String)> = [
                ("AccountSid", ACCOUNT.to_owned()),
                ("ApiVersion", "2010-04-01".to_owned()),
                (
                    "CallSid",
                    format!(
                        "CA{:032x}",
                        i as u128 + 1 + (rand::random::<u64>() as u128) * 1_000_000
                    ),
                ),
                ("CallStatus", "ringing".to_owned()),
                ("Called", "+15551230001".to_owned()),
                ("Caller", format!("+1555{:07}", 2_000_000 + i % 7_000_000)),
                ("Direction", "inbound".to_owned()),
                ("From", format!("+1555{:07}", 2_000_000 + i % 7_000_000)),
                ("FromCity", "AUSTIN".to_owned()),
                ("FromCountry", "US".to_owned()),
                ("FromState", "TX".to_owned()),
                ("To", "+15551230001".to_owned()),
                ("ToCountry", "US".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            Prepared {
                signature: validator.compute_signature(&url, &params),
                body: serde_urlencoded::to_string(&params).unwrap_or_default(),
                url: url.clone(),
            }
        })
        .collect()
}

async fn send(client: &reqwest::Client, p: &Prepared) -> Result<Duration, BenchError> {
    let started = Instant::now();
    let resp = client
        .post(&p.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", &p.signature)
        .body(p.body.clone())
        .send()
        .await
        .map_err(err)?;
    let status = resp.status();
    let _ = resp.bytes().await.map_err(err)?;
    if !status.is_success() {
        return Err(BenchError(format!("{} answered {status}", p.url)));
    }
    Ok(started.elapsed())
}

/// Closed loop: `concurrency` workers send `requests` back to back; returns requests/s.
async fn throughput(
    client: &reqwest::Client,
    requests: Arc<Vec<Prepared>>,
    concurrency: usize,
) -> Result<f64, BenchError> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, requests, next) = (client.clone(), requests.clone(), next.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(p) = requests.get(i) else {
                    return Ok::<(), BenchError>(());
                };
                send(&client, p).await?;
            }
        });
    }
    while let Some(r) = workers.join_next().await {
        r.map_err(err)??;
    }
    Ok(requests.len() as f64 / started.elapsed().as_secs_f64())
}

/// Open loop at a fixed rate; latencies measured from the scheduled send time.
async fn fixed_rate(
    client: &reqwest::Client,
    requests: Arc<Vec<Prepared>>,
    rate: u32,
) -> Result<Vec<Duration>, BenchError> {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..requests.len() {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (client, requests) = (client.clone(), requests.clone());
        tasks.spawn(async move {
            send(&client, &requests[i]).await?;
            Ok::<Duration, BenchError>(due.elapsed())
        });
    }
    let mut latencies = Vec::with_capacity(requests.len());
    while let Some(r) = tasks.join_next().await {
        latencies.push(r.map_err(err)??);
    }
    latencies.sort();
    Ok(latencies)
}

/// The baseline: a bare axum handler that inserts each body into SQLite.
async fn baseline_server(dir: &Path) -> Result<String, BenchError> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("baseline.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .map_err(err)?;
    sqlx::query("CREATE TABLE hooks (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, received_at INTEGER NOT NULL)")
        .execute(&pool)
        .await
        .map_err(err)?;
    let app = axum::Router::new()
        .route(
            "/api/twilio/voice/incoming",
            axum::routing::post(
                |axum::extract::State(pool): axum::extract::State<sqlx::SqlitePool>,
                 body: Bytes| async move {
                    let inserted =
                        sqlx::query("INSERT INTO hooks (body, received_at) VALUES (?, ?)")
                            .bind(String::from_utf8_lossy(&body).into_owned())
                            .bind(crate::db::now_ms())
                            .execute(&pool)
                            .await;
                    match inserted {
                        Ok(_) => (axum::http::StatusCode::OK, "<Response/>"),
                        Err(_) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, ""),
                    }
                },
            ),
        )
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

/// Switchboard with one tenant owning the tracking number, menu on.
async fn switchboard_server(dir: &Path) -> Result<App, BenchError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let env: HashMap<&str, String> = HashMap::from([
        ("SWITCHBOARD_DATA_DIR", dir.display().to_string()),
        ("SWITCHBOARD_BIND", addr.to_string()),
        ("PUBLIC_URL", format!("http://{addr}")),
        ("TWILIO_ACCOUNT_SID", ACCOUNT.to_owned()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        // The load is the point here: no per-session or per-client limit.
        ("SWITCHBOARD_RATE_LIMIT_PER_MINUTE", "0".to_owned()),
        ("SWITCHBOARD_CLIENT_RATE_LIMIT_PER_MINUTE", "0".to_owned()),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned()).map_err(err)?;
    let app = App::start_with_listener(config, listener)
        .await
        .map_err(err)?;
    let tenant = crate::tenants::create(
        &app.state.db,
        crate::tenants::NewTenant {
            name: "Bench Dental".into(),
            timezone: Some("America/Chicago".into()),
        },
    )
    .await
    .map_err(err)?;
    crate::telephony::update(
        &app.state.db,
        &app.state.secrets,
        &tenant.id,
        crate::telephony::TwilioConfigUpdate {
            phone_numbers: Some(vec![crate::numbers::NumberInput {
                phone_number: "+15551230001".into(),
                friendly_name: Some("Main".into()),
                status: None,
                is_primary: None,
            }]),
            forward_number: Some(Some("+15557654321".into())),
            ..Default::default()
        },
    )
    .await
    .map_err(err)?;
    Ok(app)
}

fn client(concurrency: usize) -> Result<reqwest::Client, BenchError> {
    twilio::client::install_tls_provider();
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(err)
}

/// Webhook throughput beside the baseline, and latency at a fixed rate.
pub async fn webhooks(o: BenchOptions) -> Result<(), BenchError> {
    let dir = temp_dir("sbbench");
    let baseline = baseline_server(&dir).await?;
    let ours = switchboard_server(&dir.join("sb")).await?;
    let ours_base = format!("http://{}", ours.addr);
    let http = client(o.concurrency)?;
    println!(
        "webhooks: {} signed incoming-call requests per run, {} in flight",
        o.requests, o.concurrency
    );
    // Warm both (connections, caches, SQLite pages).
    throughput(
        &http,
        Arc::new(incoming_requests(&baseline, 500)),
        o.concurrency,
    )
    .await?;
    throughput(
        &http,
        Arc::new(incoming_requests(&ours_base, 500)),
        o.concurrency,
    )
    .await?;
    let (mut base_runs, mut our_runs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        base_runs.push(
            throughput(
                &http,
                Arc::new(incoming_requests(&baseline, o.requests)),
                o.concurrency,
            )
            .await?,
        );
        our_runs.push(
            throughput(
                &http,
                Arc::new(incoming_requests(&ours_base, o.requests)),
                o.concurrency,
            )
            .await?,
        );
    }
    base_runs.sort_by(f64::total_cmp);
    our_runs.sort_by(f64::total_cmp);
    let (b, s) = (base_runs[1], our_runs[1]);
    println!("  bare axum + one SQLite insert : {b:>8.0} req/s (median of 3)");
    println!("  switchboard incoming webhook  : {s:>8.0} req/s (median of 3)");
    println!(
        "  ratio                         : {:>8.0} %  (goal ≥ 60 %)",
        s / b * 100.0
    );

    let n = (o.rate * o.rate_secs) as usize;
    let latencies = fixed_rate(&http, Arc::new(incoming_requests(&ours_base, n)), o.rate).await?;
    println!(
        "  at {} req/s for {} s           : p50 {}  p99 {}  max {}  (goal p99 < 5 ms)",
        o.rate,
        o.rate_secs,
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0))
    );
    ours.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// (sid, number, from, outcome, dial status, talk, menu, started, caller name).
type SyntheticCall = (
    String,
    String,
    String,
    &'static str,
    &'static str,
    i64,
    Option<&'static str>,
    i64,
    Option<String>,
);

/// Loads `n` calls for one tenant, spread over a year, straight into the table.
async fn load_calls(db: &Db, tenant: &str, n: usize) -> Result<(), BenchError> {
    let now = crate::db::now_ms();
    let year = 365 * 86_400_000i64;
    let numbers = ["+15551230001", "+15551230002", "+15551230003"];
    let batch = 400;
    let mut rng_state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    let mut done = 0;
    while done < n {
        let rows = batch.min(n - done);
        let mut sql = String::from(
            "INSERT INTO calls (call_sid, tenant_id, twilio_number, from_number, to_number, direction, status, dial_status, outcome, talk_seconds, call_seconds, menu_choice, started_at, caller_name, updated_at) VALUES ",
        );
        let mut tx = db.pool().begin().await.map_err(err)?;
        let mut values: Vec<SyntheticCall> = Vec::with_capacity(rows);
        for i in 0..rows {
            let r = next();
            let outcome = match r % 100 {
                0..=59 => "answered",
                60..=74 => "voicemail",
                _ => "missed",
            };
            let dial = if outcome == "answered" {
                "answered"
            } else {
                "no-answer"
            };
            let talk = if outcome == "answered" {
                (r % 600) as i64 + 1
            } else {
                0
            };
            let menu = match r % 3 {
                0 => Some("1"),
                1 => Some("2"),
                _ => None,
            };
            let started = now - (r % year as u64) as i64;
            let name = (r % 4 == 0).then(|| format!("CALLER {}", r % 5000));
            values.push((
                format!("CA{:032x}", (done + i) as u128 + 1),
                numbers[(r % 3) as usize].to_owned(),
                format!("+1555{:07}", 2_000_000 + r % 7_000_000),
                outcome,
                dial,
                talk,
                menu,
                started,
                name,
            ));
        }
        let per_row = 15;
        let placeholders: Vec<String> = (0..rows)
            .map(|i| {
                let b = i * per_row;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 11,
                    b + 12,
                    b + 13,
                    b + 14,
                    b + 15
                )
            })
            .collect();
        sql.push_str(&placeholders.join(", "));
        let mut q = sqlx::query(&sql);
        for (sid, number, from, outcome, dial, talk, menu, started, name) in &values {
            q = q
                .bind(sid.as_str())
                .bind(tenant)
                .bind(number.as_str())
                .bind(from.as_str())
                .bind(number.as_str())
                .bind("inbound")
                .bind("completed")
                .bind(*dial)
                .bind(*outcome)
                .bind(*talk)
                .bind(*talk + 20)
                .bind(*menu)
                .bind(*started)
                .bind(name.as_deref())
                .bind(now);
        }
        q.execute(&mut *tx).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        done += rows;
        if done % 100_000 == 0 {
            eprintln!("  loaded {done} calls");
        }
    }
    // The load bypassed the event writer: derive the rollups once, as a time-zone change would.
    crate::calls::rollups::rebuild(db, tenant)
        .await
        .map_err(err)?;
    sqlx::query("ANALYZE")
        .execute(db.pool())
        .await
        .map_err(err)?;
    Ok(())
}

async fn timed<F, Fut, T>(runs: usize, mut f: F) -> Result<(Duration, Duration), BenchError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BenchError>>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.95)))
}

/// List and stats latency over `o.calls` calls, through the HTTP API.
pub async fn calls(o: BenchOptions) -> Result<(), BenchError> {
    let dir = temp_dir("sbbench");
    let app = switchboard_server(&dir).await?;
    let tenants = crate::tenants::list(&app.state.db).await.map_err(err)?;
    let tenant = tenants
        .first()
        .map(|t| t.id.clone())
        .ok_or_else(|| err("no tenant"))?;
    println!("calls: loading {} calls for one tenant (SQLite)…", o.calls);
    let started = Instant::now();
    load_calls(&app.state.db, &tenant, o.calls).await?;
    println!("  loaded in {:.1} s", started.elapsed().as_secs_f64());
    crate::users::create(
        &app.state.db,
        crate::users::NewUser {
            email: "bench@bench.test".into(),
            password: "bench-password".into(),
            role: crate::users::Role::Customer,
            tenant_id: Some(tenant.clone()),
            allowed_pages: None,
            phone: None,
        },
    )
    .await
    .map_err(err)?;
    let base = format!("http://{}", app.addr);
    let http = client(4)?;
    let login: serde_json::Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"email": "bench@bench.test", "password": "bench-password"}))
        .send()
        .await
        .map_err(err)?
        .json()
        .await
        .map_err(err)?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| err("no token"))?
        .to_owned();
    let month_ago = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * 30))
        .map_err(err)?;
    // What the portal's date pickers send: local dates.
    let month_ago_date = month_ago.to_zoned(jiff::tz::TimeZone::UTC).date();
    let cases = [
        (
            "call-log page 1 (50 newest, with total)",
            "/api/twilio/call-logs?limit=50".to_owned(),
        ),
        (
            "call-log page 200 (offset 9,950)",
            "/api/twilio/call-logs?limit=50&offset=9950".to_owned(),
        ),
        (
            "call-log, missed only",
            "/api/twilio/call-logs?limit=50&status=missed".to_owned(),
        ),
        (
            "call-log, last 30 days",
            format!("/api/twilio/call-logs?limit=50&startDate={month_ago_date}"),
        ),
        (
            "call-log, one tracking number",
            "/api/twilio/call-logs?limit=50&trackingNumber=%2B15551230002".to_owned(),
        ),
        (
            "call-log, search by name (trigram index)",
            "/api/twilio/call-logs?limit=50&q=caller%204242".to_owned(),
        ),
        ("stats, all time", "/api/twilio/call-logs/stats".to_owned()),
        (
            "stats, last 30 days",
            format!("/api/twilio/call-logs/stats?startDate={month_ago_date}"),
        ),
        (
            "stats since an exact time (rollups + edge scan)",
            format!("/api/twilio/call-logs/stats?startDate={month_ago}"),
        ),
    ];
    println!(
        "  {:<42} {:>10} {:>10}   (goal < 50 ms)",
        "request", "median", "p95"
    );
    for (label, path) in cases {
        let url = format!("{base}{path}");
        let (p50, p95) = timed(15, || {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            async move {
                let resp = http
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map_err(err)?;
                if !resp.status().is_success() {
                    return Err(BenchError(format!("{url}: {}", resp.status())));
                }
                resp.bytes().await.map_err(err)
            }
        })
        .await?;
        println!("  {label:<42} {:>10} {:>10}", ms(p50), ms(p95));
    }
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Cold start and idle memory of the real binary.
pub async fn process() -> Result<(), BenchError> {
    let exe = std::env::current_exe().map_err(err)?;
    let dir = temp_dir("sbbench");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(err)?;
        l.local_addr().map_err(err)?.port()
    };
    let started = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .arg("serve")
        .env("SWITCHBOARD_DATA_DIR", &dir)
        .env("SWITCHBOARD_BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(err)?;
    let http = client(1)?;
    let url = format!("http://127.0.0.1:{port}/readyz");
    let cold = loop {
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(20) {
            return Err(err("serve did not become ready in 20 s"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = child.id().and_then(rss_kib).unwrap_or(0);
    println!("process: `switchboard serve` on a fresh data directory");
    println!(
        "  cold start (spawn → /readyz OK, migrations included): {}  (goal < 1 s)",
        ms(cold)
    );
    println!(
        "  idle RSS after start                                  : {:.1} MB  (goal < 50 MB)",
        rss as f64 / 1024.0
    );
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Scores of a classifier over one labelled part.
#[derive(Debug, Default)]
struct Scores {
    items: usize,
    true_pos: usize,
    false_pos: usize,
    false_neg: usize,
    booked_right: usize,
    reason_right: usize,
    /// (labelled, predicted) → count.
    confusion: HashMap<(String, String), usize>,
    misses: Vec<String>,
}

impl Scores {
    fn add(
        &mut self,
        item: &crate::intelligence::classifier::Labelled,
        booked: Option<bool>,
        reason: &str,
    ) {
        self.items += 1;
        match (item.booked, booked) {
            (Some(true), Some(true)) => self.true_pos += 1,
            (Some(false) | None, Some(true)) => self.false_pos += 1,
            (Some(true), _) => self.false_neg += 1,
            _ => {}
        }
        let booked_ok = item.booked == booked;
        self.booked_right += usize::from(booked_ok);
        self.reason_right += usize::from(item.reason == reason);
        *self
            .confusion
            .entry((item.reason.clone(), reason.to_owned()))
            .or_default() += 1;
        if !booked_ok || item.reason != reason {
            self.misses.push(format!(
                "{}: booked {:?} (labelled {:?}), reason {reason} (labelled {})",
                item.id, booked, item.booked, item.reason
            ));
        }
    }

    fn f1(&self) -> (f64, f64, f64) {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let p = ratio(self.true_pos, self.true_pos + self.false_pos);
        let r = ratio(self.true_pos, self.true_pos + self.false_neg);
        let f = if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        };
        (p, r, f)
    }

    fn print(&self, name: &str, confusion: bool) {
        let (p, r, f) = self.f1();
        println!(
            "  {name:<28} {:>4} calls  booked P {p:.3} R {r:.3} F1 {f:.3}  reason accuracy {:.3}",
            self.items,
            self.reason_right as f64 / self.items.max(1) as f64
        );
        if confusion {
            let reasons = crate::intelligence::CALL_REASONS;
            println!("    reason confusion (rows labelled, columns predicted):");
            println!(
                "    {:<20}{}",
                "",
                reasons
                    .iter()
                    .map(|r| format!("{:>8}", &r[..r.len().min(7)]))
                    .collect::<String>()
            );
            for want in reasons {
                let row: String = reasons
                    .iter()
                    .map(|got| {
                        let n = self
                            .confusion
                            .get(&((*want).to_owned(), (*got).to_owned()))
                            .copied()
                            .unwrap_or(0);
                        format!("{n:>8}")
                    })
                    .collect();
                println!("    {want:<20}{row}");
            }
        }
    }
}

/// A keyword detector like the seeds': "appointment" near "book"/"schedule" is a booking,
/// the first topic word is the reason. Printed beside ours as the reference.
fn keyword_baseline(text: &str) -> (Option<bool>, &'static str) {
    let t = text.to_lowercase();
    if t.trim().is_empty() {
        return (None, "OTHER");
    }
    let booked = ["book", "schedul", "appointment"]
        .iter()
        .any(|w| t.contains(w));
    let reason = [
        ("cancel", "CANCEL_APPOINTMENT"),
        ("reschedul", "MODIFY_APPOINTMENT"),
        ("appointment", "SETUP_APPOINTMENT"),
        ("book", "SETUP_APPOINTMENT"),
        ("hours", "GET_HOURS"),
        ("open", "GET_HOURS"),
        ("price", "GET_PRICING"),
        ("cost", "GET_PRICING"),
        ("how much", "GET_PRICING"),
    ]
    .iter()
    .find(|(w, _)| t.contains(w))
    .map_or("OTHER", |(_, r)| r);
    (Some(booked), reason)
}

/// Labelled calls from a file: the labelled set's block format, or JSON lines as
/// `GET /api/twilio/call-logs/corrections.jsonl` exports them (`kind`, `text`,
/// `appointmentBooked`, `callReason`).
fn read_labelled(
    path: &Path,
) -> Result<Vec<crate::intelligence::classifier::Labelled>, BenchError> {
    use crate::intelligence::classifier::{self, Labelled, TextKind};
    let text =
        std::fs::read_to_string(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
    if !text.trim_start().starts_with('{') {
        return classifier::parse_labelled(&text).map_err(err);
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, line)| {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| err(format!("line {}: {e}", n + 1)))?;
            Ok(Labelled {
                id: v["id"]
                    .as_str()
                    .map_or_else(|| (n + 1).to_string(), str::to_owned),
                kind: if v["kind"] == "summary" {
                    TextKind::Summary
                } else {
                    TextKind::Transcript
                },
                text: v["text"].as_str().unwrap_or_default().to_owned(),
                booked: v["appointmentBooked"].as_bool(),
                reason: v["callReason"].as_str().unwrap_or("OTHER").to_owned(),
                hard: false,
            })
        })
        .collect()
}

/// `bench classify`: accuracy of the local classifier on the labelled calls (tuning and
/// held-out parts, or the file given), beside the keyword baseline, and its time per call.
pub fn classify(show_misses: bool, labelled: Option<&Path>) -> Result<(), BenchError> {
    use crate::intelligence::classifier::{self, HELD_OUT, TUNING};
    let parts: Vec<(String, Vec<classifier::Labelled>, bool)> = match labelled {
        Some(path) => {
            println!("classify: the local classifier on {}", path.display());
            vec![(path.display().to_string(), read_labelled(path)?, true)]
        }
        None => {
            println!("classify: the local classifier on the labelled calls (data/classifier/)");
            vec![
                (
                    "tuning".to_owned(),
                    classifier::parse_labelled(TUNING).map_err(err)?,
                    true,
                ),
                (
                    "held-out (never tuned on)".to_owned(),
                    classifier::parse_labelled(HELD_OUT).map_err(err)?,
                    false,
                ),
            ]
        }
    };
    for (name, items, misses_shown) in parts {
        let (mut ours, mut hard, mut baseline) =
            (Scores::default(), Scores::default(), Scores::default());
        for item in &items {
            let v = classifier::classify(item.kind, &item.text);
            ours.add(item, v.appointment_booked, v.call_reason);
            if item.hard {
                hard.add(item, v.appointment_booked, v.call_reason);
            }
            let (b, r) = keyword_baseline(&item.text);
            baseline.add(item, b, r);
        }
        println!(" {name}:");
        ours.print("local classifier", true);
        hard.print("  of which hard cases", false);
        baseline.print("keyword baseline", false);
        if show_misses && misses_shown {
            for m in &ours.misses {
                println!("    miss {m}");
            }
        }
    }
    let items = classifier::parse_labelled(TUNING).map_err(err)?;
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < Duration::from_millis(500) {
        for item in &items {
            std::hint::black_box(classifier::classify(item.kind, &item.text));
            n += 1;
        }
    }
    println!(
        "  time per call: {:.1} µs  (goal < 1 ms)",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
    Ok(())
}
