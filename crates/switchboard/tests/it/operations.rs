//! Operating the service: Prometheus metrics, rate limits, the audit log, backups.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use twilio_sim::{Press, Staff};

use crate::calls::{CALLER, TRACKING, call_world, call_world_env, caller};
use crate::common::{ADMIN_EMAIL, PASSWORD, TestApp, error_code, signed_post};

const METRICS_TOKEN: &str = "metrics-token-0123456789";

/// One sample of a Prometheus text exposition: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format strictly enough to fail on anything malformed:
/// `# HELP` / `# TYPE` lines, and `name{label="value",…} number` samples.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let keyword = words.next().unwrap_or_default();
            assert!(
                matches!(keyword, "HELP" | "TYPE"),
                "unknown comment: {line}"
            );
            if keyword == "TYPE" {
                let kind = rest.rsplit(' ').next().unwrap_or_default();
                assert!(
                    matches!(
                        kind,
                        "counter" | "gauge" | "histogram" | "summary" | "untyped"
                    ),
                    "bad type: {line}"
                );
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), HashMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed: {line}"));
                let mut labels = HashMap::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (key, after) = rest
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("label: {line}"));
                    let mut value = String::new();
                    let mut chars = after.char_indices();
                    let mut end = None;
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, e)) = chars.next() {
                                    value.push(e);
                                }
                            }
                            '"' => {
                                end = Some(i);
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    let end = end.unwrap_or_else(|| panic!("unterminated label: {line}"));
                    labels.insert(key.to_owned(), value);
                    rest = after[end + 1..].trim_start_matches(',');
                }
                (name.to_owned(), labels)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(t: &TestApp, base: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = t.http.get(format!("{base}/metrics"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("scrape");
    (resp.status(), resp.text().await.unwrap_or_default())
}

fn incoming_params<'a>(sid: &'a str, account: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CallSid", sid),
        ("AccountSid", account),
        ("From", CALLER),
        ("To", TRACKING),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ]
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_when_a_webhook_arrives() {
    let w = call_world_env(false, &[("SWITCHBOARD_METRICS_TOKEN", METRICS_TOKEN)]).await;
    let base = w.t.base.clone();

    let (status, _) = scrape(&w.t, &base, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no token, no metrics");
    let (status, _) = scrape(&w.t, &base, Some("metrics-token-wrong-wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, before) = scrape(&w.t, &base, Some(METRICS_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let before = parse_prometheus(&before);
    let route = [("route", "/api/twilio/voice/incoming"), ("status", "200")];

    let sid = format!("CA{}", "7".repeat(32));
    let (status, twiml) = signed_post(
        &w.t,
        "/api/twilio/voice/incoming",
        &w.account.auth_token,
        &incoming_params(&sid, &w.account.sid),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{twiml}");
    let (status, _) = signed_post(
        &w.t,
        "/api/twilio/voice/incoming",
        "not-the-auth-token",
        &incoming_params(&sid, &w.account.sid),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, text) = scrape(&w.t, &base, Some(METRICS_TOKEN)).await;
    let after = parse_prometheus(&text);
    for (name, labels) in [
        ("switchboard_http_requests_total", &route[..]),
        (
            "switchboard_webhook_events_total",
            &[("kind", "incoming")][..],
        ),
        (
            "switchboard_webhook_signature_failures_total",
            &[("reason", "invalid")][..],
        ),
        ("switchboard_event_batch_size_count", &[][..]),
        ("switchboard_event_commit_seconds_count", &[][..]),
        (
            "switchboard_http_request_duration_seconds_count",
            &[("route", "/api/twilio/voice/incoming")][..],
        ),
    ] {
        assert!(
            sum(&after, name, labels) >= sum(&before, name, labels) + 1.0,
            "{name}{labels:?} did not move:\n{text}"
        );
    }
    // Histograms are real histograms, with buckets.
    assert!(
        after.iter().any(
            |s| s.name == "switchboard_http_request_duration_seconds_bucket"
                && s.labels.get("le").map(String::as_str) == Some("0.005")
        ),
        "{text}"
    );
    // Gauges read at scrape time.
    assert!(
        sum(
            &after,
            "switchboard_db_pool_connections",
            &[("state", "max")]
        ) >= 1.0
    );
    // Nothing that names a caller, a call or a tenant.
    for secret in [
        CALLER,
        TRACKING,
        "15551230001",
        &sid,
        &w.tenant,
        &w.account.sid,
    ] {
        assert!(!text.contains(secret), "metrics name {secret}");
    }
    // Unmatched paths share one series: probes cannot mint new ones.
    let _ = w.t.http.get(w.t.url("/no/such/path/zqxj")).send().await;
    let (_, text) = scrape(&w.t, &base, Some(METRICS_TOKEN)).await;
    assert!(!text.contains("zqxj"), "{text}");
    assert!(text.contains(r#"route="unmatched""#), "{text}");
}

#[tokio::test]
async fn metrics_are_off_the_public_listener_without_a_token_and_on_their_own_bind() {
    let t = TestApp::start_with(&[("SWITCHBOARD_METRICS_BIND", "127.0.0.1:0")]).await;
    let (status, _) = scrape(&t, &t.base, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not on the public listener");
    let private = format!("http://{}", t.app.metrics_addr.expect("metrics listener"));
    let (status, text) = scrape(&t, &private, None).await;
    assert_eq!(status, StatusCode::OK);
    let samples = parse_prometheus(&text);
    assert!(
        samples.iter().any(|s| s.name == "switchboard_build_info"),
        "{text}"
    );
    // The private listener serves metrics only.
    let resp = t
        .http
        .get(format!("{private}/api/auth/me"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    t.stop().await;
}

#[tokio::test]
async fn past_the_limit_the_api_answers_429_with_retry_after_and_webhooks_never_do() {
    let w = call_world_env(
        false,
        &[
            ("SWITCHBOARD_RATE_LIMIT_PER_MINUTE", "5"),
            ("SWITCHBOARD_CLIENT_RATE_LIMIT_PER_MINUTE", "5"),
        ],
    )
    .await;
    // call_world has spent some of the admin's and owner's budget; a fresh session.
    let token = w.t.login("owner@brightsmiles.test", PASSWORD).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let resp =
            w.t.http
                .get(w.t.url("/api/auth/me"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("send");
        statuses.push(resp.status());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("Retry-After in seconds");
            assert!((1..=12).contains(&retry), "retry after {retry}");
            let body: Value = resp.json().await.expect("json");
            assert_eq!(error_code(&body), "rate_limited");
        }
    }
    assert_eq!(
        statuses[..5],
        [StatusCode::OK; 5],
        "a minute's worth goes through"
    );
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);

    // Another session has its own budget.
    let other = w.t.login(ADMIN_EMAIL, PASSWORD).await;
    let (status, _) = w.t.get("/api/auth/me", &other).await;
    assert_eq!(status, StatusCode::OK);

    // The portal's pages answer a page, with Retry-After too.
    let mut last = None;
    for _ in 0..6 {
        let resp =
            w.t.http
                .get(w.t.url("/dashboard"))
                .header("cookie", format!("sb_session={token}"))
                .send()
                .await
                .expect("page");
        last = Some(resp);
    }
    let last = last.expect("sent");
    assert_eq!(last.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(last.headers().contains_key("retry-after"));
    assert!(
        last.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );

    // Logins count against the client's address (two were spent above).
    let mut login_statuses = Vec::new();
    for _ in 0..5 {
        let resp =
            w.t.http
                .post(w.t.url("/api/auth/login"))
                .json(&json!({"email": "nobody@example.com", "password": "wrong password"}))
                .send()
                .await
                .expect("login");
        login_statuses.push(resp.status());
    }
    assert!(
        login_statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{login_statuses:?}"
    );

    // Twilio's webhooks are never limited: 200 of them in about a second, all answered.
    let mut answered = Vec::new();
    let started = std::time::Instant::now();
    for batch in 0..10 {
        let calls = (0..20).map(|i| {
            let sid = format!("CA{:032x}", batch * 20 + i + 1);
            let t = &w.t;
            let account = &w.account;
            async move {
                let params = incoming_params(&sid, &account.sid);
                signed_post(
                    t,
                    "/api/twilio/voice/incoming",
                    &account.auth_token,
                    &params,
                )
                .await
                .0
            }
        });
        answered.extend(futures_util::future::join_all(calls).await);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(answered.len(), 200);
    assert!(
        answered.iter().all(|s| s.is_success()),
        "{:?}",
        answered
            .iter()
            .filter(|s| !s.is_success())
            .collect::<Vec<_>>()
    );
    assert!(started.elapsed().as_secs() < 30);
}

#[tokio::test]
async fn behind_a_proxy_the_client_limit_keys_on_the_trusted_header_only() {
    let limited = |t: &TestApp, forwarded: &'static str| {
        let http = t.http.clone();
        let url = t.url("/api/auth/me");
        async move {
            let mut last = StatusCode::OK;
            for _ in 0..3 {
                last = http
                    .get(&url)
                    .header("x-forwarded-for", forwarded)
                    .send()
                    .await
                    .expect("send")
                    .status();
            }
            last
        }
    };
    // Trusted: two clients behind the proxy have two budgets.
    let t = TestApp::start_with(&[
        ("SWITCHBOARD_CLIENT_RATE_LIMIT_PER_MINUTE", "2"),
        ("SWITCHBOARD_TRUSTED_PROXY_HEADER", "x-forwarded-for"),
    ])
    .await;
    assert_eq!(
        limited(&t, "203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        limited(&t, "203.0.113.8").await,
        StatusCode::TOO_MANY_REQUESTS,
        "its own budget, spent by its own requests"
    );
    let resp = t
        .http
        .get(t.url("/api/auth/me"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "a third client is fine"
    );
    t.stop().await;

    // Untrusted: the header is anyone's to send, so it changes nothing.
    let t = TestApp::start_with(&[("SWITCHBOARD_CLIENT_RATE_LIMIT_PER_MINUTE", "2")]).await;
    assert_eq!(
        limited(&t, "203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let resp = t
        .http
        .get(t.url("/api/auth/me"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    t.stop().await;
}

async fn audit(t: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = t.get(&format!("/api/audit{query}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

fn find<'a>(entries: &'a [Value], action: &str) -> Option<&'a Value> {
    entries.iter().find(|e| e["action"] == action)
}

#[tokio::test]
async fn the_audit_log_records_who_did_what_and_owners_see_only_their_own() {
    let w = call_world().await;
    let (other, other_owner) = w.other_tenant().await;

    // A call with a recording, corrected, played, exported and deleted.
    let mut s = caller();
    s.presses = vec![Press::Digits("1".into())];
    s.staff = Staff::Answers { after_secs: 3 };
    s.talk_secs = 20;
    let report = w.play(&s).await;
    let sid = report.call_sid.clone();
    let recording = report.recording_sid.clone().expect("recorded");
    let (status, body) =
        w.t.put(
            &format!("/api/twilio/call-logs/{sid}/classification"),
            &w.owner,
            json!({"appointmentBooked": true, "callReason": "SETUP_APPOINTMENT"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let play = |range: Option<&'static str>| {
        let mut req =
            w.t.http
                .get(w.t.url(&format!("/api/twilio/recording/{recording}")))
                .bearer_auth(&w.owner);
        if let Some(range) = range {
            req = req.header("range", range);
        }
        req.send()
    };
    assert!(play(None).await.expect("play").status().is_success());
    // A player's later range request is the same playback.
    assert!(
        play(Some("bytes=100-"))
            .await
            .expect("range")
            .status()
            .is_success()
    );
    let export =
        w.t.http
            .get(w.t.url("/api/twilio/call-logs/corrections.jsonl"))
            .bearer_auth(&w.owner)
            .send()
            .await
            .expect("export");
    assert_eq!(export.status(), StatusCode::OK);
    let (status, _) =
        w.t.delete(&format!("/api/twilio/call-logs/{sid}"), &w.owner)
            .await;
    assert!(status.is_success(), "{status}");

    // A failed login, with the address it came from.
    let resp =
        w.t.http
            .post(w.t.url("/api/auth/login"))
            .json(&json!({"email": "Owner@BrightSmiles.test", "password": "not the password"}))
            .send()
            .await
            .expect("login");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // The other owner adds a number; the admin disconnects it and renames the tenant.
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{other}/twilio/config"),
            &other_owner,
            json!({"phoneNumbers": [{"phoneNumber": "+15551230077"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = w
        .t
        .put(
            &format!("/api/companies/{other}/twilio/config"),
            &other_owner,
            json!({"accountSid": format!("AC{}", "e".repeat(32)), "authToken": "tok-secret-zzz-0123"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        w.t.patch(
            &format!("/api/admin/tenants/{other}"),
            &w.admin,
            json!({"name": "Rapid Rooter & Drain"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        w.t.call(
            reqwest::Method::PATCH,
            &format!("/api/twilio/disconnect/{other}"),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mine = audit(&w.t, &w.owner, "").await;
    for action in [
        "settings.update",
        "call.correct",
        "recording.play",
        "export.corrections",
        "call.delete",
        "login.failed",
    ] {
        let entry = find(&mine, action).unwrap_or_else(|| panic!("no {action} in {mine:#?}"));
        assert_eq!(entry["tenantId"], json!(w.tenant), "{entry}");
        assert_eq!(entry["ip"], "127.0.0.1", "{entry}");
        assert!(entry["at"].is_string());
    }
    let played = mine
        .iter()
        .filter(|e| e["action"] == "recording.play")
        .count();
    assert_eq!(played, 1, "one playback, however many ranges");
    let corrected = find(&mine, "call.correct").expect("correction");
    assert_eq!(corrected["actorEmail"], "owner@brightsmiles.test");
    assert_eq!(corrected["target"], json!(sid));
    let failed = find(&mine, "login.failed").expect("failed login");
    assert_eq!(failed["actorEmail"], "owner@brightsmiles.test");
    assert!(failed["actorId"].is_null());
    // Never a value: no password, no token in any entry.
    let all = serde_json::to_string(&mine).expect("json");
    assert!(!all.contains("not the password") && !all.contains(&w.owner));

    // The other tenant's owner sees theirs, not ours; and ours do not see theirs.
    let theirs = audit(&w.t, &other_owner, "").await;
    let (_, everything) = w.t.get("/api/admin/audit?action=tenant", &w.admin).await;
    assert!(
        find(&theirs, "tenant.update").is_some(),
        "{theirs:#?} {everything:#}"
    );
    assert!(find(&theirs, "number.disconnect").is_some(), "{theirs:#?}");
    assert!(find(&theirs, "settings.update").is_some(), "{theirs:#?}");
    assert!(
        theirs.iter().any(|e| e["action"] == "settings.update"
            && e["detail"] == "credentials: accountSid, authToken"),
        "which credentials changed: {theirs:#?}"
    );
    assert!(
        !serde_json::to_string(&theirs)
            .expect("json")
            .contains("tok-secret")
    );
    let created = find(&theirs, "tenant.create").expect("the tenant's creation is its own");
    assert_eq!(created["target"], json!(other));
    assert!(
        theirs.iter().all(|e| e["tenantId"] == json!(other)),
        "{theirs:#?}"
    );
    assert!(
        mine.iter().all(|e| e["tenantId"] == json!(w.tenant)),
        "{mine:#?}"
    );
    // Naming the other tenant changes nothing for an owner.
    let named = audit(&w.t, &w.owner, &format!("?tenantId={other}")).await;
    assert!(named.iter().all(|e| e["tenantId"] == json!(w.tenant)));
    let (status, _) = w.t.get("/api/admin/audit", &w.owner).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The admin sees everything, and filters.
    let (status, body) = w.t.get("/api/admin/audit?action=tenant", &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tenants = body["entries"].as_array().expect("entries");
    assert!(
        tenants.iter().any(|e| e["action"] == "tenant.create"),
        "{body}"
    );
    assert!(
        tenants.iter().any(|e| e["action"] == "tenant.update"),
        "{body}"
    );
    assert!(tenants.iter().all(|e| {
        e["action"]
            .as_str()
            .unwrap_or_default()
            .starts_with("tenant.")
    }));
    let (_, body) =
        w.t.get(
            &format!("/api/admin/audit?tenantId={other}&actor={ADMIN_EMAIL}"),
            &w.admin,
        )
        .await;
    let entries = body["entries"].as_array().expect("entries");
    assert!(!entries.is_empty());
    assert!(
        entries
            .iter()
            .all(|e| e["tenantId"] == json!(other) && e["actorEmail"] == ADMIN_EMAIL)
    );
    let (_, body) = w.t.get("/api/admin/audit?action=login", &w.admin).await;
    assert!(
        body["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "login" && e["actorEmail"] == ADMIN_EMAIL),
        "{body}"
    );
    let (status, body) = w.t.get("/api/admin/audit?since=yesterday", &w.admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = w.t.get("/api/admin/audit?limit=100000", &w.admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Unreadable filters are the JSON error too, not axum's plain text.
    for query in ["limit=abc", "nonsense=1"] {
        let (status, body) =
            w.t.get(&format!("/api/admin/audit?{query}"), &w.admin)
                .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&body), "bad_request");
    }
    let (status, body) = w.t.get("/api/admin/users?Pw=1", &w.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "bad_request");

    // Append-only, down to the database.
    let db = w.t.app.state.db.pool();
    assert!(
        sqlx::query("UPDATE audit_log SET action = 'nothing'")
            .execute(db)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_log")
            .execute(db)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_backup_taken_under_webhook_load_is_whole_and_holds_every_answered_call() {
    let w = call_world().await;
    if w.t.app.state.db.backend() != switchboard::db::Backend::Sqlite {
        eprintln!("backup test skipped on PostgreSQL: it backs up with its own tools");
        let target = w.t.data_dir.join("copy.db");
        let refused = w.t.app.state.db.backup(&target).await;
        assert!(matches!(
            refused,
            Err(switchboard::db::BackupError::NotSqlite)
        ));
        return;
    }
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let answered = answered.clone();
        let stop = stop.clone();
        let t = w.t.base.clone();
        let http = w.t.http.clone();
        let account = w.account.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let batch: Vec<String> = (0..8)
                    .map(|_| {
                        n += 1;
                        format!("CA{n:032x}")
                    })
                    .collect();
                let posts = batch.iter().map(|sid| {
                    let params: Vec<(String, String)> = incoming_params(sid, &account.sid)
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect();
                    let url = format!("{t}/api/twilio/voice/incoming");
                    let signature = twilio::signature::RequestValidator::new(&account.auth_token)
                        .compute_signature(&url, &params);
                    let http = http.clone();
                    async move {
                        let resp = http
                            .post(url)
                            .header("content-type", "application/x-www-form-urlencoded")
                            .header("x-twilio-signature", signature)
                            .body(serde_urlencoded::to_string(&params).expect("encode"))
                            .send()
                            .await;
                        resp.map(|r| r.status().is_success()).unwrap_or(false)
                    }
                });
                let results = futures_util::future::join_all(posts).await;
                let mut done = answered.lock().expect("lock");
                for (sid, ok) in batch.into_iter().zip(results) {
                    if ok {
                        done.push(sid);
                    }
                }
            }
        })
    };
    // Let the load run, then back up with the real command while it goes on.
    while answered.lock().expect("lock").len() < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before: Vec<String> = answered.lock().expect("lock").clone();
    let target = w.t.data_dir.join("backup.db");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("backup")
        .arg(&target)
        .env(
            "DATABASE_URL",
            w.t.app.state.config.effective_database_url(),
        )
        .env("SWITCHBOARD_DATA_DIR", &w.t.data_dir)
        .env("SWITCHBOARD_LOG", "warn")
        .output()
        .await
        .expect("run backup");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let during = answered.lock().expect("lock").len();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.expect("load");
    assert!(during > before.len(), "the load went on during the backup");

    // Opens, is whole, and holds every call answered before the backup began.
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", target.display());
    let pool = sqlx::AnyPool::connect(&url).await.expect("open the backup");
    let check: (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .expect("integrity check");
    assert_eq!(check.0, "ok");
    let rows: Vec<(String,)> = sqlx::query_as("SELECT call_sid FROM calls")
        .fetch_all(&pool)
        .await
        .expect("calls");
    let stored: std::collections::HashSet<String> = rows.into_iter().map(|r| r.0).collect();
    let missing: Vec<&String> = before.iter().filter(|sid| !stored.contains(*sid)).collect();
    assert!(
        missing.is_empty(),
        "{} answered calls missing",
        missing.len()
    );
    pool.close().await;

    // It will not overwrite.
    let again = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("backup")
        .arg(&target)
        .env(
            "DATABASE_URL",
            w.t.app.state.config.effective_database_url(),
        )
        .env("SWITCHBOARD_DATA_DIR", &w.t.data_dir)
        .output()
        .await
        .expect("run backup");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
}

/// A call `days` days ago, answered, recorded and transcribed by Voice Intelligence;
/// and one that left a voicemail.
async fn old_calls(w: &crate::calls::CallWorld, days: i64) -> (String, String, String) {
    let start = switchboard::db::now_ms() - days * 24 * 3600 * 1000;
    let mut s = caller();
    s.presses = vec![Press::Digits("1".into())];
    s.staff = Staff::Answers { after_secs: 3 };
    s.talk_secs = 30;
    s.script = crate::intelligence::booking_script();
    s.start_ms = Some(start);
    let answered = w.play(&s).await;
    let mut v = caller();
    v.presses = vec![Press::Digits("2".into())];
    v.staff = Staff::NoAnswer;
    v.voicemail_secs = Some(12);
    v.start_ms = Some(start + 60_000);
    let voicemail = w.play(&v).await;
    let recording = answered.recording_sid.clone().expect("recorded");
    crate::intelligence::wait_for(w, &answered.call_sid, |l| {
        l["transcriptSource"] == "vi" && l["summaryText"].is_string() && !l["callReason"].is_null()
    })
    .await;
    (answered.call_sid, recording, voicemail.call_sid)
}

async fn audio_status(w: &crate::calls::CallWorld, path: &str) -> StatusCode {
    w.t.http
        .get(w.t.url(path))
        .bearer_auth(&w.owner)
        .send()
        .await
        .expect("audio")
        .status()
}

async fn wait_for_status(w: &crate::calls::CallWorld, path: &str, wanted: StatusCode) {
    for _ in 0..150 {
        if audio_status(w, path).await == wanted {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path} never answered {wanted}");
}

#[tokio::test]
async fn retention_deletes_old_media_at_twilio_and_here_and_keeps_the_stats() {
    let w = crate::calls::call_world_with(true).await;
    let (answered, recording, voicemail) = old_calls(&w, 40).await;
    let transcript_sid = w.log(&answered).await["transcriptSid"]
        .as_str()
        .expect("a Voice Intelligence transcript")
        .to_owned();
    assert!(w.sim.has_transcript(&w.account.sid, &transcript_sid));
    let (_, stats_before) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;

    // Off by default: nothing is swept.
    assert_eq!(
        switchboard::retention::sweep(&w.t.app.state.db)
            .await
            .expect("sweep"),
        0
    );
    let config = format!("/api/companies/{}/twilio/config", w.tenant);
    let (status, body) =
        w.t.put(&config, &w.owner, json!({"retentionDays": 0}))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["fields"]["retentionDays"].is_string(),
        "{body}"
    );
    let (status, body) =
        w.t.put(&config, &w.owner, json!({"retentionDays": 30}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["retentionDays"], 30, "{body}");

    assert_eq!(
        switchboard::retention::sweep(&w.t.app.state.db)
            .await
            .expect("sweep"),
        2,
        "both calls are past 30 days"
    );
    let recording_path = format!("/api/twilio/recording/{recording}");
    let voicemail_path = format!("/api/twilio/voicemail/{voicemail}");
    wait_for_status(&w, &recording_path, StatusCode::GONE).await;
    wait_for_status(&w, &voicemail_path, StatusCode::GONE).await;
    let resp =
        w.t.http
            .get(w.t.url(&recording_path))
            .bearer_auth(&w.owner)
            .send()
            .await
            .expect("gone");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(error_code(&body), "gone");

    // Deleted at Twilio.
    assert!(w.sim.recording(&w.account.sid, &recording).is_none());
    let vm_sid = w.log(&voicemail).await["voicemailSid"]
        .as_str()
        .expect("the voicemail's SID stays")
        .to_owned();
    assert!(w.sim.recording(&w.account.sid, &vm_sid).is_none());
    assert!(!w.sim.has_transcript(&w.account.sid, &transcript_sid));

    // Here: the content is gone, the facts stay.
    let log = w.log(&answered).await;
    assert!(log["mediaErasedAt"].is_string(), "{log}");
    for field in ["transcriptText", "summaryText", "recordingUrl"] {
        assert!(log[field].is_null(), "{field} kept: {log}");
    }
    assert_eq!(log["recordingSid"], json!(recording));
    assert_eq!(log["outcome"], "answered");
    assert!(!log["callReason"].is_null(), "{log}");
    assert!(w.log(&voicemail).await["voicemailUrl"].is_null());
    let payloads: Vec<(String,)> =
        sqlx::query_as("SELECT payload FROM call_events WHERE call_sid = $1")
            .bind(&answered)
            .fetch_all(w.t.app.state.db.pool())
            .await
            .expect("events");
    assert!(
        payloads.iter().all(|(p,)| !p.contains("tooth")),
        "a stored event still holds what was said"
    );
    let (_, stats_after) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    assert_eq!(
        stats_after["totalCalls"], stats_before["totalCalls"],
        "{stats_after}"
    );
    assert_eq!(
        stats_after["appointmentsBooked"], stats_before["appointmentsBooked"],
        "{stats_after}"
    );

    // Audited, and not swept again.
    let entries = audit(&w.t, &w.owner, "?action=media.erase").await;
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert!(entries.iter().all(|e| {
        e["actorId"].is_null()
            && e["detail"]
                .as_str()
                .unwrap_or_default()
                .starts_with("retention")
    }));
    assert_eq!(
        switchboard::retention::sweep(&w.t.app.state.db)
            .await
            .expect("sweep"),
        0
    );
}

#[tokio::test]
async fn forgetting_a_caller_erases_their_calls_texts_and_contact_with_confirmation() {
    let w = crate::calls::call_world_with(true).await;
    let (other, other_owner) = w.other_tenant().await;
    let (answered, recording, _) = old_calls(&w, 1).await;
    let (status, body) =
        w.t.post(
            "/api/contacts",
            &w.owner,
            json!({"name": "Jane Doe", "phone": CALLER}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let contact = body["id"].as_str().expect("contact").to_owned();

    // Without the number repeated, nothing happens.
    let (status, body) =
        w.t.post(
            "/api/callers/forget",
            &w.owner,
            json!({"phoneNumber": CALLER, "confirm": "yes"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["confirm"].is_string());
    assert_eq!(
        audio_status(&w, &format!("/api/twilio/recording/{recording}")).await,
        StatusCode::OK
    );

    // Another tenant forgetting the same number touches only its own.
    let (status, body) =
        w.t.post(
            "/api/callers/forget",
            &other_owner,
            json!({"phoneNumber": CALLER, "confirm": CALLER}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["callsErasing"], 0, "{body}");
    assert_eq!(body["contactsDeleted"], 0, "{body}");
    let (status, _) = w.t.get(&format!("/api/contacts/{contact}"), &w.owner).await;
    assert_eq!(status, StatusCode::OK);

    // The owner forgets them (spelled differently: the same number).
    let (status, body) =
        w.t.post(
            "/api/callers/forget",
            &w.owner,
            json!({"phoneNumber": "(555) 000-1111", "confirm": CALLER}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phoneNumber"], CALLER);
    assert_eq!(body["callsErasing"], 2, "{body}");
    assert_eq!(body["contactsDeleted"], 1, "{body}");
    wait_for_status(
        &w,
        &format!("/api/twilio/recording/{recording}"),
        StatusCode::GONE,
    )
    .await;
    assert!(w.sim.recording(&w.account.sid, &recording).is_none());
    let (status, _) = w.t.get(&format!("/api/contacts/{contact}"), &w.owner).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let log = w.log(&answered).await;
    assert!(
        log["transcriptText"].is_null() && log["mediaErasedAt"].is_string(),
        "{log}"
    );

    // Audited without the whole number.
    let entries = audit(&w.t, &w.owner, "?action=caller.forget").await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert!(
        !serde_json::to_string(&entries)
            .expect("json")
            .contains("5550001111")
    );
    let erased = audit(&w.t, &w.owner, "?action=media.erase").await;
    assert!(erased.iter().all(|e| {
        e["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("forget")
    }));
    // Admins name the tenant; receptionists may not.
    let (status, body) =
        w.t.post(
            "/api/callers/forget",
            &w.admin,
            json!({"phoneNumber": CALLER, "confirm": CALLER, "customerId": other}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let desk =
        w.t.user(
            &w.admin,
            "desk@brightsmiles.test",
            "receptionist",
            &w.tenant,
            &["call-logs", "contacts"],
        )
        .await;
    let (status, _) =
        w.t.post(
            "/api/callers/forget",
            &desk,
            json!({"phoneNumber": CALLER, "confirm": CALLER}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// On PostgreSQL every pooled connection plans each run of a statement for its values
/// and the tables as they are: a generic plan kept from when `calls` was empty had the
/// event writer scan the whole table on every batch.
#[tokio::test]
async fn postgres_connections_plan_each_statement_for_the_tables_as_they_are() {
    let t = TestApp::start_with(&[]).await;
    let db = &t.app.state.db;
    if db.backend() != switchboard::db::Backend::Postgres {
        eprintln!("SQLite: no plan cache to check");
        return;
    }
    // Every connection the pool hands out, not only the first.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = db.pool().acquire().await.expect("connection");
        let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
            .fetch_one(&mut *conn)
            .await
            .expect("show");
        assert_eq!(mode, "force_custom_plan");
        held.push(conn);
    }
}
