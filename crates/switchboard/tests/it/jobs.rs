//! The durable job queue: retries, leases, two workers on one database, and the admin
//! routes. Queue tests use a database of their own (no server, so no other worker).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use switchboard::db::Db;
use switchboard::jobs::{self, JobState, NewJob, Registry, WorkerOptions};

use crate::common::{TestApp, fresh_database};

/// A fresh database, and its URL (to open a second pool on it).
async fn database_at() -> (Db, String) {
    let dir = std::env::temp_dir().join(switchboard::db::new_id("sbjobs"));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = fresh_database(&dir).await;
    (Db::connect(&url).await.expect("database"), url)
}

async fn database() -> Db {
    database_at().await.0
}

/// How many times each job ran, by its payload's `n`.
type Runs = Arc<Mutex<HashMap<i64, usize>>>;

/// Counts a run of `job`; returns how many it has had.
fn count_run(runs: &Runs, job: &jobs::Job) -> usize {
    let n = job.payload["n"].as_i64().unwrap_or_default();
    let mut map = runs.lock().unwrap_or_else(|p| p.into_inner());
    let count = map.entry(n).or_default();
    *count += 1;
    *count
}

fn fast(name: &str) -> WorkerOptions {
    WorkerOptions {
        name: name.to_owned(),
        lease: Duration::from_secs(30),
        idle_poll: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
        first_retry: Duration::from_millis(20),
    }
}

async fn wait_until(db: &Db, what: &str, done: impl Fn(&[jobs::Job]) -> bool) {
    for _ in 0..500 {
        let (all, _) = jobs::list(db, None, 200, 0).await.expect("list");
        if done(&all) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_job_that_fails_twice_then_succeeds_runs_three_times() {
    let db = database().await;
    let runs: Runs = Arc::default();
    let registry = Registry::default().on("test.flaky", |runs: Runs, job: jobs::Job| async move {
        let count = count_run(&runs, &job);
        if count < 3 {
            Err(format!("attempt {count} fails"))
        } else {
            Ok(())
        }
    });
    assert!(
        jobs::enqueue(&db, NewJob::new("test.flaky", json!({"n": 1})))
            .await
            .expect("enqueue")
    );
    let (stop, watch) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(jobs::run_worker(
        db.clone(),
        runs.clone(),
        Arc::new(registry),
        fast("w1"),
        watch,
    ));
    wait_until(&db, "the job to finish", |all| {
        all.iter().all(|j| j.state == JobState::Done)
    })
    .await;
    let _ = stop.send(true);
    let _ = worker.await;
    assert_eq!(runs.lock().expect("runs").get(&1), Some(&3));
    let (all, _) = jobs::list(&db, None, 10, 0).await.expect("list");
    assert_eq!(all[0].attempts, 3);
    assert_eq!(all[0].last_error, None, "a success clears the error");
}

#[tokio::test]
async fn failing_every_attempt_ends_dead_with_its_error_and_dedupe_keys_queue_once() {
    let db = database().await;
    let mut job = NewJob::new("test.broken", json!({}));
    job.max_attempts = 2;
    job.dedupe_key = Some("broken:1".into());
    assert!(jobs::enqueue(&db, job.clone()).await.expect("enqueue"));
    assert!(
        !jobs::enqueue(&db, job).await.expect("enqueue"),
        "queued once"
    );
    let registry = Registry::default().on("test.broken", |(): (), _job: jobs::Job| async {
        Err::<(), _>("Twilio said 21422".to_owned())
    });
    let (stop, watch) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(jobs::run_worker(
        db.clone(),
        (),
        Arc::new(registry),
        fast("w1"),
        watch,
    ));
    wait_until(&db, "the job to die", |all| {
        all.iter().all(|j| j.state == JobState::Dead)
    })
    .await;
    let _ = stop.send(true);
    let _ = worker.await;
    let (dead, total) = jobs::list(&db, Some(JobState::Dead), 10, 0)
        .await
        .expect("list");
    assert_eq!(total, 1);
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].last_error.as_deref(), Some("Twilio said 21422"));
    // An admin retries it: queued again with its attempts counted afresh.
    let again = jobs::retry(&db, &dead[0].id).await.expect("retry");
    assert_eq!((again.state, again.attempts), (JobState::Queued, 0));
    jobs::discard(&db, &dead[0].id).await.expect("discard");
    assert_eq!(jobs::list(&db, None, 10, 0).await.expect("list").1, 0);
}

#[tokio::test]
async fn a_worker_that_dies_holding_a_job_loses_it_when_the_lease_ends() {
    let db = database().await;
    let runs: Runs = Arc::default();
    assert!(
        jobs::enqueue(&db, NewJob::new("test.slow", json!({"n": 7})))
            .await
            .expect("enqueue")
    );
    // The first worker takes the job and hangs; then it is killed mid-job.
    let hang = Registry::default().on("test.slow", |runs: Runs, job: jobs::Job| async move {
        count_run(&runs, &job);
        std::future::pending::<()>().await;
        Ok(())
    });
    let (_stop_a, watch_a) = tokio::sync::watch::channel(false);
    let mut options = fast("dies");
    options.lease = Duration::from_millis(300);
    let dying = tokio::spawn(jobs::run_worker(
        db.clone(),
        runs.clone(),
        Arc::new(hang),
        options,
        watch_a,
    ));
    wait_until(&db, "the claim", |all| {
        all.iter().all(|j| j.state == JobState::Running)
    })
    .await;
    dying.abort();
    let _ = dying.await;
    // Another worker finishes it once the lease is over.
    let finish = Registry::default().on("test.slow", |runs: Runs, job: jobs::Job| async move {
        count_run(&runs, &job);
        Ok(())
    });
    let (stop, watch) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(jobs::run_worker(
        db.clone(),
        runs.clone(),
        Arc::new(finish),
        fast("lives"),
        watch,
    ));
    wait_until(&db, "the job to finish", |all| {
        all.iter().all(|j| j.state == JobState::Done)
    })
    .await;
    let _ = stop.send(true);
    let _ = worker.await;
    assert_eq!(
        runs.lock().expect("runs").get(&7),
        Some(&2),
        "run again after the lease"
    );
}

#[tokio::test]
async fn two_workers_on_their_own_connections_never_run_a_job_twice() {
    let (db, url) = database_at().await;
    for n in 0..200 {
        assert!(
            jobs::enqueue(&db, NewJob::new("test.count", json!({"n": n})))
                .await
                .expect("enqueue")
        );
    }
    let runs: Runs = Arc::default();
    let counting = || {
        Arc::new(
            Registry::default().on("test.count", |runs: Runs, job: jobs::Job| async move {
                count_run(&runs, &job);
                tokio::task::yield_now().await;
                Ok(())
            }),
        )
    };
    let (stop, watch) = tokio::sync::watch::channel(false);
    // Each worker has its own pool, as two processes would.
    let second_pool = Db::connect(&url).await.expect("second pool");
    let a = tokio::spawn(jobs::run_worker(
        db.clone(),
        runs.clone(),
        counting(),
        fast("a"),
        watch.clone(),
    ));
    let b = tokio::spawn(jobs::run_worker(
        second_pool,
        runs.clone(),
        counting(),
        fast("b"),
        watch,
    ));
    wait_until(&db, "200 jobs", |all| {
        all.len() == 200 && all.iter().all(|j| j.state == JobState::Done)
    })
    .await;
    let _ = stop.send(true);
    let _ = (a.await, b.await);
    let runs = runs.lock().expect("runs");
    assert_eq!(runs.len(), 200);
    let twice: Vec<_> = runs.iter().filter(|(_, c)| **c != 1).collect();
    assert!(twice.is_empty(), "jobs run more than once: {twice:?}");
}

#[tokio::test]
async fn admins_list_retry_and_discard_jobs_over_http() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    // A kind no handler knows dies at once in the server's own worker.
    let mut job = NewJob::new("test.unknown", json!({"x": 1}));
    job.max_attempts = 1;
    jobs::enqueue(&t.app.state.db, job).await.expect("enqueue");
    let mut dead = serde_json::Value::Null;
    for _ in 0..200 {
        let (_, body) = t.get("/api/admin/jobs?state=dead", &admin).await;
        // The page and the total are two reads: the job can die between them.
        if body["total"] == 1 && body["jobs"].as_array().is_some_and(|j| j.len() == 1) {
            dead = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(dead["jobs"][0]["kind"], "test.unknown", "{dead}");
    assert!(
        dead["jobs"][0]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("no handler")),
        "{dead}"
    );
    let id = dead["jobs"][0]["id"].as_str().expect("id").to_owned();
    let (status, body) = t
        .post(&format!("/api/admin/jobs/{id}/retry"), &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "queued");
    let (status, body) = t.get("/api/admin/jobs?state=lost", &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Wait for it to die again, then drop it.
    for _ in 0..200 {
        let (_, body) = t.get("/api/admin/jobs?state=dead", &admin).await;
        // The page and the total are two reads: the job can die between them.
        if body["total"] == 1 && body["jobs"].as_array().is_some_and(|j| j.len() == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, _) = t
        .post(&format!("/api/admin/jobs/{id}/discard"), &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = t.get("/api/admin/jobs", &admin).await;
    assert_eq!(body["total"], 0, "{body}");
    let (status, _) = t
        .post("/api/admin/jobs/job_nope/retry", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    t.stop().await;
}
