//! `switchboard bench`: the performance goals, measured on this machine.
//!
//! - `webhooks`: signed incoming-call webhooks stored and answered per second, beside a
//!   bare axum handler doing one SQLite insert per request in the same run, and the
//!   latency distribution at a fixed 1,000 requests per second.
//! - `calls`: call-log page and stats latency over a tenant with 1,000,000 calls.
//! - `process`: cold start (spawn to `/readyz`) and idle memory of `switchboard serve`.
//!
//! Everything runs on loopback with temporary SQLite databases.

use std::collections::{BTreeMap, HashMap};
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
    /// Seconds of each throughput run.
    pub run_secs: u32,
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
            run_secs: 5,
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

/// The auth token, account and tracking number of every system under load: the seeds'
/// stack (perf-anchors' `peer-node`) verifies with token `12345` and answers
/// `+15551234567`, so one set of signed bodies serves every system.
const TOKEN: &str = "12345";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TRACKING: &str = "+15551234567";
const INCOMING_PATH: &str = "/api/twilio/voice/incoming";

/// Lets the bench read the writer's batch figures from `/metrics`.
const METRICS_TOKEN: &str = "bench-metrics-token-0123456789";

/// The event writer's figures so far, from a process's `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
struct WriterFigures {
    batches: f64,
    events: f64,
    /// Seconds spent writing batches.
    seconds: f64,
    /// Checkpoints between batches, and the seconds they took.
    checkpoints: f64,
    checkpoint_seconds: f64,
    /// Batches slower than each of [`SLOW_BATCH_BOUNDS`].
    slower: [f64; 4],
    /// Incoming-call webhooks answered, and how many of them took the server longer
    /// than each of [`SLOW_BATCH_BOUNDS`] (its own time, from the request read to the
    /// answer).
    handled: f64,
    handled_slower: [f64; 4],
}

/// Bounds of the writer's batch-time histogram the latency run reports against (they
/// are bucket bounds of `switchboard_event_commit_seconds`).
const SLOW_BATCH_BOUNDS: [&str; 4] = ["0.001", "0.0025", "0.005", "0.01"];

impl std::ops::AddAssign for WriterFigures {
    fn add_assign(&mut self, o: Self) {
        self.batches += o.batches;
        self.events += o.events;
        self.seconds += o.seconds;
        self.checkpoints += o.checkpoints;
        self.checkpoint_seconds += o.checkpoint_seconds;
        self.handled += o.handled;
        for (a, b) in self.slower.iter_mut().zip(o.slower) {
            *a += b;
        }
        for (a, b) in self.handled_slower.iter_mut().zip(o.handled_slower) {
            *a += b;
        }
    }
}

impl std::ops::Sub for WriterFigures {
    type Output = Self;

    fn sub(self, o: Self) -> Self {
        Self {
            batches: self.batches - o.batches,
            events: self.events - o.events,
            seconds: self.seconds - o.seconds,
            checkpoints: self.checkpoints - o.checkpoints,
            checkpoint_seconds: self.checkpoint_seconds - o.checkpoint_seconds,
            slower: std::array::from_fn(|i| self.slower[i] - o.slower[i]),
            handled: self.handled - o.handled,
            handled_slower: std::array::from_fn(|i| self.handled_slower[i] - o.handled_slower[i]),
        }
    }
}

async fn writer_figures(http: &reqwest::Client, webhook_url: &str) -> Option<WriterFigures> {
    let base = webhook_url.strip_suffix(INCOMING_PATH)?;
    let text = http
        .get(format!("{base}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    let batches = value("switchboard_event_batch_size_count")?;
    let mut slower = [0.0; 4];
    for (slow, bound) in slower.iter_mut().zip(SLOW_BATCH_BOUNDS) {
        let within = value(&format!(
            "switchboard_event_commit_seconds_bucket{{le=\"{bound}\"}}"
        ))?;
        *slow = batches - within;
    }
    // The incoming webhook's own series, whatever order the exporter puts labels in.
    let route = format!("route=\"{INCOMING_PATH}\"");
    let handled_value = |suffix: &str, le: Option<&str>| -> f64 {
        let le = le.map(|b| format!("le=\"{b}\""));
        text.lines()
            .filter(|l| {
                l.starts_with(&format!(
                    "switchboard_http_request_duration_seconds_{suffix}"
                ))
            })
            .filter(|l| l.contains(&route) && le.as_ref().is_none_or(|le| l.contains(le.as_str())))
            .find_map(|l| l.rsplit_once(' ')?.1.parse().ok())
            .unwrap_or(0.0)
    };
    let handled = handled_value("count", None);
    let handled_slower =
        SLOW_BATCH_BOUNDS.map(|bound| handled - handled_value("bucket", Some(bound)));
    Some(WriterFigures {
        batches,
        slower,
        handled,
        handled_slower,
        events: value("switchboard_event_batch_size_sum")?,
        seconds: value("switchboard_event_commit_seconds_sum")?,
        // None before the first checkpoint.
        checkpoints: value("switchboard_writer_checkpoint_seconds_count").unwrap_or(0.0),
        checkpoint_seconds: value("switchboard_writer_checkpoint_seconds_sum").unwrap_or(0.0),
    })
}

/// The writer figures of every process behind `urls`, added up.
async fn writer_totals(http: &reqwest::Client, urls: &[String]) -> WriterFigures {
    let mut total = WriterFigures::default();
    for url in urls {
        if let Some(f) = writer_figures(http, url).await {
            total += f;
        }
    }
    total
}

/// The wrk script: each pre-signed line sent once (see the script).
const WRK_SCRIPT: &str = include_str!("bench/signed.lua");

/// Signed Twilio-sized incoming-call bodies for `url`, `(signature, form body)`, each
/// with a CallSid of its own.
fn incoming_bodies(url: &str, n: usize) -> Vec<(String, String)> {
    let validator = RequestValidator::new(TOKEN);
    let salt = u128::from(rand::random::<u64>()) << 32;
    (0..n)
        .map(|i| {
            let from = format!("+1555{:07}", 2_000_000 + i % 7_000_000);
            let params: Vec<(String, String)> = [
                ("AccountSid", ACCOUNT.to_owned()),
                ("ApiVersion", "2010-04-01".to_owned()),
                ("CallSid", format!("CA{:032x}", salt + i as u128)),
                ("CallStatus", "ringing".to_owned()),
                ("Called", TRACKING.to_owned()),
                ("Caller", from.clone()),
                ("Direction", "inbound".to_owned()),
                ("From", from),
                ("FromCity", "AUSTIN".to_owned()),
                ("FromCountry", "US".to_owned()),
                ("FromState", "TX".to_owned()),
                ("To", TRACKING.to_owned()),
                ("ToCountry", "US".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            (
                validator.compute_signature(url, &params),
                serde_urlencoded::to_string(&params).unwrap_or_default(),
            )
        })
        .collect()
}

/// Writes `n` signed bodies for `url` as the wrk script's lines.
fn request_file(path: &Path, url: &str, n: usize) -> Result<(), BenchError> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
    for (signature, body) in incoming_bodies(url, n) {
        writeln!(out, "{signature} {body}").map_err(err)?;
    }
    out.flush().map_err(err)
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    body: &(String, String),
) -> Result<(), BenchError> {
    let resp = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", &body.0)
        .body(body.1.clone())
        .send()
        .await
        .map_err(err)?;
    let status = resp.status();
    let _ = resp.bytes().await.map_err(err)?;
    if !status.is_success() {
        return Err(BenchError(format!("{url} answered {status}")));
    }
    Ok(())
}

/// One answer of an open-loop run.
#[derive(Debug, Clone, Copy)]
struct Answer {
    /// When the request was due, from the run's start.
    due: Duration,
    /// How late the load generator started sending it (its own delay, part of `latency`).
    late: Duration,
    /// From when it was due to the end of its answer.
    latency: Duration,
}

/// Open loop at a fixed rate, round-robin over `urls`; latencies measured from each
/// request's scheduled send time, so a stall counts for everything queued behind it.
/// `sample` is called once a second (memory readings).
async fn fixed_rate(
    client: &reqwest::Client,
    urls: &[String],
    bodies: Arc<Vec<(String, String)>>,
    rate: u32,
    mut sample: impl FnMut(),
) -> Result<Vec<Answer>, BenchError> {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let n = bodies.len();
    let runtime = tokio::runtime::Handle::current();
    let (client, urls) = (client.clone(), urls.to_vec());
    let (tasks, mut sent) = tokio::sync::mpsc::unbounded_channel();
    // A thread of its own keeps the schedule: the runtime's timers tick by the
    // millisecond, which at 1,000 a second sent each request up to a millisecond after
    // it was due, and that lateness counted in every latency.
    let pacer = std::thread::spawn(move || {
        let start = Instant::now();
        for i in 0..n {
            let due = start + interval * i as u32;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let (client, bodies, url) =
                (client.clone(), bodies.clone(), urls[i % urls.len()].clone());
            let task = runtime.spawn(async move {
                let late = due.elapsed();
                send(&client, &url, &bodies[i]).await?;
                Ok::<_, BenchError>(Answer {
                    due: due - start,
                    late,
                    latency: due.elapsed(),
                })
            });
            if tasks.send(task).is_err() {
                break;
            }
        }
    });
    let mut pending = Vec::with_capacity(n);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            task = sent.recv() => match task {
                Some(task) => pending.push(task),
                None => break,
            },
            _ = second.tick() => sample(),
        }
    }
    pacer
        .join()
        .map_err(|_| BenchError("the pacing thread panicked".into()))?;
    let mut answers = Vec::with_capacity(n);
    for task in pending {
        answers.push(task.await.map_err(err)??);
    }
    sample();
    Ok(answers)
}

/// The same handler as perf-anchors' `limit-probe sqlite`, through sqlx: one insert of
/// the body per request (what this bench compared against before; kept for the figure).
async fn sqlx_baseline(dir: &Path) -> Result<String, BenchError> {
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
    sqlx::query("CREATE TABLE hooks (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .execute(&pool)
        .await
        .map_err(err)?;
    let app = axum::Router::new()
        .route(
            INCOMING_PATH,
            axum::routing::post(
                |axum::extract::State(pool): axum::extract::State<sqlx::SqlitePool>,
                 body: Bytes| async move {
                    let inserted = sqlx::query("INSERT INTO hooks (body) VALUES (?)")
                        .bind(body.to_vec())
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
    Ok(format!("http://{addr}{INCOMING_PATH}"))
}

fn free_port() -> Result<u16, BenchError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(err)?;
    Ok(l.local_addr().map_err(err)?.port())
}

/// Waits until `url` answers anything (the server is listening).
async fn wait_listening(http: &reqwest::Client, url: &str) -> Result<(), BenchError> {
    let started = Instant::now();
    while http.get(url).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            return Err(BenchError(format!("{url} did not come up in 30 s")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn spawn(cmd: &mut tokio::process::Command) -> Result<tokio::process::Child, BenchError> {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError(format!("could not start {cmd:?}: {e}")))
}

/// The environment of Switchboard under load: one tenant's number, verified with the
/// token every system shares, signed over `public_url`, no rate limits.
fn switchboard_env(
    data_dir: &Path,
    database_url: Option<&str>,
    public_url: &str,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("SWITCHBOARD_DATA_DIR", data_dir.display().to_string()),
        ("PUBLIC_URL", public_url.to_owned()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT.to_owned()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        // The load is the point here: no per-session or per-client limit.
        ("SWITCHBOARD_RATE_LIMIT_PER_MINUTE", "0".to_owned()),
        ("SWITCHBOARD_CLIENT_RATE_LIMIT_PER_MINUTE", "0".to_owned()),
        ("SWITCHBOARD_LOG", "warn".to_owned()),
        ("SWITCHBOARD_METRICS_TOKEN", METRICS_TOKEN.to_owned()),
    ];
    if let Some(url) = database_url {
        env.push(("DATABASE_URL", url.to_owned()));
    }
    env
}

/// Switchboard in this process on `env`, with one tenant owning the tracking number,
/// menu on.
async fn bench_app(env: &[(&'static str, String)]) -> Result<App, BenchError> {
    let setup_env: HashMap<&str, String> = env.iter().cloned().collect();
    let config = Config::from_lookup(|k| setup_env.get(k).cloned()).map_err(err)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
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
                phone_number: TRACKING.into(),
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

/// Prepares the database (see [`bench_app`]) and starts `processes` ×
/// `switchboard serve` on it, each on a port of its own.
async fn start_switchboard(
    http: &reqwest::Client,
    env: &[(&'static str, String)],
    processes: usize,
) -> Result<(Vec<tokio::process::Child>, Vec<String>), BenchError> {
    let app = bench_app(env).await?;
    app.stop().await;
    let exe = std::env::current_exe().map_err(err)?;
    let (mut children, mut urls) = (Vec::new(), Vec::new());
    for _ in 0..processes {
        let port = free_port()?;
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.arg("serve")
            .env_remove("DATABASE_URL")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("SWITCHBOARD_BIND", format!("127.0.0.1:{port}"));
        children.push(spawn(&mut cmd)?);
        let base = format!("http://127.0.0.1:{port}");
        wait_listening(http, &format!("{base}/readyz")).await?;
        urls.push(format!("{base}{INCOMING_PATH}"));
    }
    Ok((children, urls))
}

/// One wrk run's figures.
#[derive(Debug, Clone, Copy, Default)]
struct WrkRun {
    rate: f64,
    requests: u64,
    failed: u64,
    wrapped: u64,
}

/// A closed-loop wrk run of `seconds` against `url`, over share `part` of `parts` of
/// `file`'s lines.
async fn wrk(
    script: &Path,
    url: &str,
    file: &Path,
    (part, parts): (usize, usize),
    seconds: u32,
    connections: usize,
) -> Result<WrkRun, BenchError> {
    let out = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "-s",
        ])
        .arg(script)
        .arg(url)
        .arg("--")
        .arg(file)
        .arg((2 * parts).to_string())
        .arg((2 * part).to_string())
        .output()
        .await
        .map_err(|e| BenchError(format!("could not run wrk: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(BenchError(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let number_after = |label: &str| -> f64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.trim_end_matches(',').parse().ok())
            .unwrap_or(0.0)
    };
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let socket_errors: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map(|rest| {
            rest.split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Ok(WrkRun {
        rate: number_after("Requests/sec:"),
        requests,
        failed: number_after("Non-2xx or 3xx responses:") as u64 + socket_errors,
        wrapped: number_after("wrapped:") as u64,
    })
}

/// A system under load and its runs.
struct Target {
    name: String,
    /// The URLs its load is split over (one per process).
    urls: Vec<String>,
    /// Its processes (for the in-process sqlx baseline, the bench itself: its CPU time a
    /// request then includes what the bench does meanwhile, which is waiting on wrk).
    pids: Vec<u32>,
    /// Whether a failed request is a failure of the bench (ours) or only noted.
    ours: bool,
    runs: Vec<WrkRun>,
    /// Requests answered while warming up.
    warm_requests: u64,
    /// The most resident memory seen after a run, summed over its processes.
    peak_rss_kib: u64,
    /// CPU time its processes spent during the runs, and the requests they answered
    /// meanwhile: the cost of a request, whatever share of the machine wrk took.
    cpu: Duration,
    cpu_requests: u64,
    /// Its PostgreSQL database, whose server processes' CPU time during the runs is
    /// counted beside its own (the server is on this machine: loopback).
    database: Option<String>,
    database_cpu: Duration,
}

impl Target {
    fn median(&self) -> WrkRun {
        let mut runs = self.runs.clone();
        runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        runs.get(runs.len() / 2).copied().unwrap_or_default()
    }

    fn rss_kib(&self) -> u64 {
        self.pids.iter().filter_map(|p| rss_kib(*p)).sum()
    }

    fn cpu_time(&self) -> Duration {
        self.pids.iter().filter_map(|p| cpu_time(*p)).sum()
    }
}

/// Where the reference servers are: perf-anchors' `limit-probe` binary and `peer-node`
/// folder (built as that README says); each is measured when present.
#[derive(Debug, Clone, Default)]
pub struct Anchors {
    /// The `limit-probe` binary.
    pub limit_probe: PathBuf,
    /// The `peer-node` folder, with its `node_modules` installed.
    pub peer_node: PathBuf,
    /// A PostgreSQL server URL: also measure Switchboard on a fresh database there, with
    /// one and with two `serve` processes.
    pub postgres: Option<String>,
}

/// A fresh database on the PostgreSQL server of `admin_url`; its URL.
async fn fresh_postgres(admin_url: &str, name: &str) -> Result<String, BenchError> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(admin_url).await.map_err(err)?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .map_err(err)?;
    conn.close().await.map_err(err)?;
    let mut url = url::Url::parse(admin_url).map_err(err)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

async fn drop_postgres(admin_url: &str, name: &str) {
    use sqlx::Connection as _;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
    }
}

/// The PostgreSQL server processes working for the database at `url`: its
/// connections' backends (the bench's own excepted) and the server's WAL writer,
/// checkpointer and background writer, which write what they commit.
async fn postgres_pids(url: &str) -> Result<Vec<u32>, BenchError> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.map_err(err)?;
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
         WHERE (datname = current_database() AND pid <> pg_backend_pid())
            OR backend_type IN ('walwriter', 'checkpointer', 'background writer')",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(err)?;
    conn.close().await.map_err(err)?;
    Ok(pids
        .into_iter()
        .filter_map(|p| u32::try_from(p).ok())
        .collect())
}

/// Stored calls in a Switchboard database (the check that nothing was lost or counted
/// twice).
async fn stored_calls(env: &[(&'static str, String)]) -> Result<i64, BenchError> {
    let setup_env: HashMap<&str, String> = env.iter().cloned().collect();
    let config = Config::from_lookup(|k| setup_env.get(k).cloned()).map_err(err)?;
    let db = Db::connect(&config.effective_database_url())
        .await
        .map_err(err)?;
    let n = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM calls")
        .fetch_one(db.pool())
        .await
        .map_err(err);
    db.close().await;
    n
}

/// Webhook throughput beside the references (wrk, closed loop, the same signed bodies
/// for every system), then latency at a fixed rate, and memory.
pub async fn webhooks(o: BenchOptions, anchors: Anchors) -> Result<(), BenchError> {
    let dir = temp_dir("sbbench");
    let http = client(o.concurrency)?;
    // Every system is sent bodies signed over the peer's URL: Switchboard's PUBLIC_URL
    // is set to it, and the references do not look.
    let peer_port = free_port()?;
    let public_url = format!("http://127.0.0.1:{peer_port}");
    let signed_url = format!("{public_url}{INCOMING_PATH}");
    let mut children = Vec::new();
    let mut targets: Vec<Target> = Vec::new();
    let target = |name: &str, urls: Vec<String>, pids: Vec<u32>, ours: bool| Target {
        name: name.to_owned(),
        urls,
        pids,
        ours,
        runs: Vec::new(),
        warm_requests: 0,
        peak_rss_kib: 0,
        cpu: Duration::ZERO,
        cpu_requests: 0,
        database: None,
        database_cpu: Duration::ZERO,
    };

    if anchors.limit_probe.is_file() {
        for (mode, name) in [
            ("static", "axum, static TwiML (limit-probe static)"),
            ("sqlite", "axum + one rusqlite insert (limit-probe sqlite)"),
        ] {
            let port = free_port()?;
            let child = spawn(
                tokio::process::Command::new(&anchors.limit_probe)
                    .args([mode, &port.to_string()])
                    .env("LIMIT_PROBE_DB", dir.join(format!("limit-probe-{mode}.db"))),
            )?;
            let url = format!("http://127.0.0.1:{port}/");
            wait_listening(&http, &url).await?;
            targets.push(target(
                name,
                vec![url],
                child.id().into_iter().collect(),
                false,
            ));
            children.push(child);
        }
    } else {
        println!(
            "  (no limit-probe at {}: build it as ../shared/tools/perf-anchors/README.md says, or pass --limit-probe)",
            anchors.limit_probe.display()
        );
    }
    targets.push(target(
        "axum + one sqlx insert (the old baseline)",
        vec![sqlx_baseline(&dir).await?],
        vec![std::process::id()],
        false,
    ));
    if anchors.peer_node.join("node_modules").is_dir() {
        let child = spawn(
            tokio::process::Command::new("node")
                .arg("server.js")
                .current_dir(&anchors.peer_node)
                .env("PORT", peer_port.to_string())
                .env("PEER_NODE_DB", dir.join("peer-node.db")),
        )?;
        wait_listening(&http, &public_url).await?;
        targets.push(target(
            "the seeds' stack (peer-node: Express, twilio, better-sqlite3)",
            vec![signed_url.clone()],
            child.id().into_iter().collect(),
            false,
        ));
        children.push(child);
    } else {
        println!(
            "  (no peer-node with node_modules at {}: see ../shared/tools/perf-anchors/README.md, or pass --peer-node)",
            anchors.peer_node.display()
        );
    }
    let sqlite_env = switchboard_env(&dir.join("sb"), None, &public_url);
    let (sb, urls) = start_switchboard(&http, &sqlite_env, 1).await?;
    let sqlite_pids: Vec<u32> = sb.iter().filter_map(|c| c.id()).collect();
    let idle_rss: u64 = sqlite_pids.iter().filter_map(|p| rss_kib(*p)).sum();
    targets.push(target(
        "switchboard, SQLite",
        urls.clone(),
        sqlite_pids,
        true,
    ));
    children.extend(sb);
    let mut postgres_setups = Vec::new();
    if let Some(admin) = &anchors.postgres {
        for processes in [1, 2] {
            let name = format!("sbbench_{}_{processes}", std::process::id());
            let url = fresh_postgres(admin, &name).await?;
            let env = switchboard_env(
                &dir.join(format!("sb-pg{processes}")),
                Some(&url),
                &public_url,
            );
            let (sb, urls) = start_switchboard(&http, &env, processes).await?;
            let label = if processes == 1 {
                "switchboard, PostgreSQL, one process".to_owned()
            } else {
                format!("switchboard, PostgreSQL, {processes} processes (load split between them)")
            };
            targets.push(Target {
                database: Some(url),
                ..target(
                    &label,
                    urls.clone(),
                    sb.iter().filter_map(|c| c.id()).collect(),
                    true,
                )
            });
            children.extend(sb);
            postgres_setups.push((name, env, urls));
        }
    }

    let script = dir.join("signed.lua");
    std::fs::write(&script, WRK_SCRIPT).map_err(err)?;
    let have_wrk = std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok();
    let rounds = 3;
    if have_wrk {
        // Enough lines that no body repeats at 50,000 req/s.
        let lines = 50_000 * o.run_secs as usize;
        println!(
            "webhooks: signed Twilio-sized incoming-call bodies, each CallSid once; wrk -t2 -c{} -d{}s, {rounds} rounds, every system in each round, median",
            o.concurrency, o.run_secs
        );
        let warm = dir.join("warm.txt");
        request_file(&warm, &signed_url, 20_000)?;
        for t in &mut targets {
            let share = o.concurrency.div_ceil(t.urls.len());
            for (i, url) in t.urls.iter().enumerate() {
                t.warm_requests += wrk(&script, url, &warm, (i, t.urls.len()), 1, share)
                    .await?
                    .requests;
            }
        }
        for round in 0..rounds {
            let file = dir.join(format!("round{round}.txt"));
            request_file(&file, &signed_url, lines)?;
            for t in &mut targets {
                let share = o.concurrency.div_ceil(t.urls.len());
                // A system of several processes: one wrk each, at once (round-robin
                // by connection), their rates summed.
                let cpu_before = t.cpu_time();
                let database_before: Vec<(u32, Duration)> = match &t.database {
                    Some(url) => postgres_pids(url)
                        .await?
                        .into_iter()
                        .filter_map(|p| Some((p, cpu_time(p)?)))
                        .collect(),
                    None => Vec::new(),
                };
                let runs = futures_util::future::try_join_all(t.urls.iter().enumerate().map(
                    |(i, url)| wrk(&script, url, &file, (i, t.urls.len()), o.run_secs, share),
                ))
                .await?;
                t.cpu += t.cpu_time().saturating_sub(cpu_before);
                // Per process, of those alive at both ends (connections opened meanwhile
                // are missed: the pools are warm by now).
                t.database_cpu += database_before
                    .iter()
                    .filter_map(|(pid, before)| Some(cpu_time(*pid)?.saturating_sub(*before)))
                    .sum::<Duration>();
                t.cpu_requests += runs.iter().map(|r| r.requests).sum::<u64>();
                let run = runs.iter().fold(WrkRun::default(), |a, r| WrkRun {
                    rate: a.rate + r.rate,
                    requests: a.requests + r.requests,
                    failed: a.failed + r.failed,
                    wrapped: a.wrapped + r.wrapped,
                });
                if t.ours && run.failed > 0 {
                    return Err(BenchError(format!(
                        "{}: {} of {} requests failed",
                        t.name, run.failed, run.requests
                    )));
                }
                t.peak_rss_kib = t.peak_rss_kib.max(t.rss_kib());
                t.runs.push(run);
            }
            let _ = std::fs::remove_file(&file);
        }
        let limit = targets
            .iter()
            .find(|t| t.name.contains("rusqlite"))
            .map(|t| t.median().rate);
        let seeds = targets
            .iter()
            .find(|t| t.name.contains("seeds"))
            .map(|t| t.median().rate);
        for t in &targets {
            let m = t.median();
            let mut line = format!("  {:<66} {:>8.0} req/s", t.name, m.rate);
            if t.cpu_requests > 0 && !t.cpu.is_zero() {
                line += &format!(
                    "  {:>5.1} µs CPU a request",
                    t.cpu.as_secs_f64() / t.cpu_requests as f64 * 1e6
                );
                if t.database.is_some() {
                    line += &format!(
                        " (+ PostgreSQL's {:.1} µs)",
                        t.database_cpu.as_secs_f64() / t.cpu_requests as f64 * 1e6
                    );
                }
            }
            if t.ours {
                if let Some(limit) = limit {
                    line += &format!("  {:>4.0} % of the rusqlite limit", m.rate / limit * 100.0);
                }
                if let Some(seeds) = seeds {
                    line += &format!("  {:>4.1} × the seeds", m.rate / seeds);
                }
            }
            if m.failed > 0 {
                line += &format!("  ({} failed)", m.failed);
            }
            if t.ours && t.runs.iter().any(|r| r.wrapped > 0) {
                line += "  (ran out of bodies: some repeated)";
            }
            println!("{line}");
        }
        println!("  goals: ≥ 60 % of the rusqlite limit (aim ≥ 100 %), ≥ 3 × the seeds' stack");
        for t in targets.iter().filter(|t| t.ours) {
            let f = writer_totals(&http, &t.urls).await;
            if f.batches > 0.0 {
                // Batch time over events: on PostgreSQL, whose writers run batches at
                // once, their times overlap, so this is not the writers' cost an event.
                println!(
                    "  {:<66} writer: {:.1} events a batch on average, {:.0} µs a batch, {:.1} µs of batch time an event",
                    t.name,
                    f.events / f.batches,
                    f.seconds / f.batches * 1e6,
                    f.seconds / f.events * 1e6
                );
            }
            if f.checkpoints > 0.0 {
                println!(
                    "  {:<66} writer: {:.0} checkpoints between batches, {:.0} µs each on average",
                    t.name,
                    f.checkpoints,
                    f.checkpoint_seconds / f.checkpoints * 1e6
                );
            }
            println!(
                "  {:<66} RSS {:.1} MB idle → {:.1} MB after the runs",
                t.name,
                idle_rss as f64 / 1024.0,
                t.peak_rss_kib as f64 / 1024.0
            );
        }
        let answered: u64 = targets
            .iter()
            .rfind(|t| t.ours)
            .map(|t| t.warm_requests + t.runs.iter().map(|r| r.requests).sum::<u64>())
            .unwrap_or(0);
        if let Some((_, env, _)) = postgres_setups.last() {
            let stored = stored_calls(env).await?;
            println!(
                "  two processes on one PostgreSQL: {stored} calls stored for {answered} answered requests (every request a new call; in-flight ones at each run's end are stored but not counted by wrk)"
            );
        }
    } else {
        println!("webhooks: wrk not found (apt-get install wrk): throughput runs skipped");
    }

    // Latency, open loop, against fresh instances of ours (warm, but not still digesting
    // the saturating runs above: their search-index backlog and log are their own
    // figure), with the throughput systems stopped.
    for mut child in children.drain(..) {
        let _ = child.kill().await;
    }
    if let Some(admin) = &anchors.postgres {
        for (name, _, _) in &postgres_setups {
            drop_postgres(admin, name).await;
        }
    }
    let latency = latency_runs(&o, &http, &dir, &public_url, anchors.postgres.as_deref()).await;
    let _ = std::fs::remove_dir_all(&dir);
    latency
}

/// Only the open-loop latency runs of [`webhooks`] (`bench latency`): quicker when the
/// tail is what is being worked on.
pub async fn latency(o: BenchOptions, postgres: Option<&str>) -> Result<(), BenchError> {
    let dir = temp_dir("sbbench");
    let http = client(o.concurrency)?;
    let public_url = format!("http://127.0.0.1:{}", free_port()?);
    let result = latency_runs(&o, &http, &dir, &public_url, postgres).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `o.rate` signed incoming calls a second for `o.rate_secs`, open loop, against fresh
/// instances of ours: SQLite, then (with `postgres`) one and two processes on fresh
/// PostgreSQL databases there (dropped afterwards). Prints the percentiles, when the
/// slow answers came (spread out, or bunched into a few seconds), the writer's batch
/// times over the run, and memory.
async fn latency_runs(
    o: &BenchOptions,
    http: &reqwest::Client,
    dir: &Path,
    public_url: &str,
    postgres: Option<&str>,
) -> Result<(), BenchError> {
    let signed_url = format!("{public_url}{INCOMING_PATH}");
    let mut children = Vec::new();
    let mut databases = Vec::new();
    let result = async {
        let mut instances = Vec::new();
        let mut configs: Vec<(String, Option<String>, usize)> =
            vec![("SQLite".to_owned(), None, 1)];
        if let Some(admin) = postgres {
            for processes in [1, 2] {
                let name = format!("sbbench_{}_{processes}_latency", std::process::id());
                let url = fresh_postgres(admin, &name).await?;
                databases.push(name);
                configs.push((
                    format!("PostgreSQL, {processes} process(es)"),
                    Some(url),
                    processes,
                ));
            }
        }
        for (i, (name, url, processes)) in configs.into_iter().enumerate() {
            let data_dir = dir.join(format!("latency-{i}"));
            let env = switchboard_env(&data_dir, url.as_deref(), public_url);
            let (sb, urls) = start_switchboard(http, &env, processes).await?;
            let warm = Arc::new(incoming_bodies(&signed_url, 2_000));
            fixed_rate(http, &urls, warm, o.rate, || {}).await?;
            instances.push((
                name,
                urls,
                sb.iter().filter_map(|c| c.id()).collect::<Vec<_>>(),
                data_dir.join("switchboard.db-wal"),
            ));
            children.extend(sb);
        }
        for (name, urls, pids, wal) in instances {
            let before = writer_totals(http, &urls).await;
            let n = (o.rate * o.rate_secs) as usize;
            let bodies = Arc::new(incoming_bodies(&signed_url, n));
            let rss_now = || pids.iter().filter_map(|p| rss_kib(*p)).sum::<u64>();
            let mut samples: Vec<u64> = Vec::new();
            // The clock time, to line the worst seconds up with the database's log.
            let started = jiff::Timestamp::now();
            let answers =
                fixed_rate(http, &urls, bodies, o.rate, || samples.push(rss_now())).await?;
            let third = samples.get(samples.len() / 3).copied().unwrap_or(0);
            let last = samples.last().copied().unwrap_or(0);
            let peak = samples.iter().copied().max().unwrap_or(0);
            let mut latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
            latencies.sort();
            let mut late: Vec<Duration> = answers.iter().map(|a| a.late).collect();
            late.sort();
            println!(
                "  {name}: {} req/s for {} s from {}, open loop: p50 {}  p99 {}  p99.9 {}  max {}  (goals p99 < 5 ms, max < 100 ms); RSS at a third {:.1} MB, at the end {:.1} MB, peak {:.1} MB",
                o.rate,
                o.rate_secs,
                started.strftime("%H:%M:%S UTC"),
                ms(percentile(&latencies, 0.50)),
                ms(percentile(&latencies, 0.99)),
                ms(percentile(&latencies, 0.999)),
                ms(percentile(&latencies, 1.0)),
                third as f64 / 1024.0,
                last as f64 / 1024.0,
                peak as f64 / 1024.0,
            );
            println!(
                "  {name}: {}; the load generator sent requests late by p50 {}, p99 {}",
                slow_spread(&answers, SLOW),
                ms(percentile(&late, 0.5)),
                ms(percentile(&late, 0.99))
            );
            let after = writer_totals(http, &urls).await;
            let run = after - before;
            if run.handled > 0.0 {
                println!(
                    "  {name}: the server's own time (request read to answer): {}",
                    over_bounds(&run.handled_slower, run.handled, "answers")
                );
            }
            if run.batches > 0.0 {
                println!(
                    "  {name}: writer: {:.0} batches of {:.1} events on average, {:.0} µs each; {}",
                    run.batches,
                    run.events / run.batches,
                    run.seconds / run.batches * 1e6,
                    over_bounds(&run.slower, run.batches, "batches")
                );
            }
            // SQLite's write-ahead log stays small when checkpoints rewind it.
            if let Ok(meta) = std::fs::metadata(&wal) {
                println!(
                    "  {name}: {:.0} checkpoints by the writer, {:.0} µs each on average; write-ahead log {:.1} MB at the end",
                    run.checkpoints,
                    run.checkpoint_seconds / run.checkpoints.max(1.0) * 1e6,
                    meta.len() as f64 / 1e6
                );
            }
        }
        Ok(())
    }
    .await;
    for mut child in children {
        let _ = child.kill().await;
    }
    if let Some(admin) = postgres {
        for name in &databases {
            drop_postgres(admin, name).await;
        }
    }
    result
}

/// How many of `total` took longer than each of [`SLOW_BATCH_BOUNDS`] (`slower`): a
/// share of them for the first three, a count of `what` for the last and rarest.
fn over_bounds(slower: &[f64; 4], total: f64, what: &str) -> String {
    let share = |i: usize| slower[i] / total * 100.0;
    format!(
        "over 1 ms {:.1} %, over 2.5 ms {:.2} %, over 5 ms {:.3} %, over 10 ms {:.0} {what}",
        share(0),
        share(1),
        share(2),
        slower[3]
    )
}

/// The latency goal's bound: an answer slower than this is a slow one.
const SLOW: Duration = Duration::from_millis(5);

/// Where the answers slower than `slow` fell in the run: in how many of its seconds,
/// and the worst seconds. Bunched into a few seconds points at a stall (a checkpoint, a
/// vacuum); spread over most seconds at the ordinary batch time.
fn slow_spread(answers: &[Answer], slow: Duration) -> String {
    let mut per_second: BTreeMap<u64, usize> = BTreeMap::new();
    for a in answers.iter().filter(|a| a.latency > slow) {
        *per_second.entry(a.due.as_secs()).or_default() += 1;
    }
    let total: usize = per_second.values().sum();
    let seconds = answers
        .iter()
        .map(|a| a.due.as_secs() + 1)
        .max()
        .unwrap_or(0);
    let mut worst: Vec<(u64, usize)> = per_second.iter().map(|(s, n)| (*s, *n)).collect();
    worst.sort_by_key(|(s, n)| (std::cmp::Reverse(*n), *s));
    let worst: Vec<String> = worst
        .iter()
        .take(5)
        .map(|(s, n)| format!("{n} at {s} s"))
        .collect();
    format!(
        "{total} answers over {} ms, in {} of {seconds} seconds; the worst seconds: {}",
        slow.as_millis(),
        per_second.len(),
        if worst.is_empty() {
            "none".to_owned()
        } else {
            worst.join(", ")
        }
    )
}

fn client(concurrency: usize) -> Result<reqwest::Client, BenchError> {
    twilio::client::install_tls_provider();
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(err)
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
/// With `postgres` (a server URL), also on a fresh database there, created and dropped.
pub async fn calls(o: BenchOptions, postgres: Option<&str>) -> Result<(), BenchError> {
    calls_on(&o, None).await?;
    if let Some(admin) = postgres {
        let name = format!("sbbench_{}_calls", std::process::id());
        let url = fresh_postgres(admin, &name).await?;
        let measured = calls_on(&o, Some(&url)).await;
        drop_postgres(admin, &name).await;
        measured?;
    }
    Ok(())
}

/// [`calls`] on SQLite (`database_url` `None`) or on the PostgreSQL database it names.
async fn calls_on(o: &BenchOptions, database_url: Option<&str>) -> Result<(), BenchError> {
    let dir = temp_dir("sbbench");
    let app = bench_app(&switchboard_env(&dir, database_url, "http://127.0.0.1")).await?;
    let tenants = crate::tenants::list(&app.state.db).await.map_err(err)?;
    let tenant = tenants
        .first()
        .map(|t| t.id.clone())
        .ok_or_else(|| err("no tenant"))?;
    let database = if database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "calls: loading {} calls for one tenant ({database})…",
        o.calls
    );
    let started = Instant::now();
    load_calls(&app.state.db, &tenant, o.calls).await?;
    println!("  loaded in {:.1} s", started.elapsed().as_secs_f64());
    // Rows loaded behind the writer's back are not in the search index: build it, as
    // the writer would have kept it, before measuring.
    let started = Instant::now();
    crate::calls::rebuild_search_index(&app.state.db)
        .await
        .map_err(err)?;
    println!(
        "  indexed for search in {:.1} s",
        started.elapsed().as_secs_f64()
    );
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

/// The CPU time process `pid` has used so far (user and system), from `/proc`.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces:
    // utime and stime are the 14th and 15th fields, the 12th and 13th after it.
    let mut after = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .skip(11);
    let ticks: u64 = after.next()?.parse::<u64>().ok()? + after.next()?.parse::<u64>().ok()?;
    let per_second = rustix::param::clock_ticks_per_second();
    Some(Duration::from_secs_f64(ticks as f64 / per_second as f64))
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
