//! What an outside probe of the running service tried: each finding, from outside.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use twilio_sim::{Press, Scenario, Staff};

use crate::calls::{CallWorld, TRACKING, call_world};
use crate::common::{ADMIN_EMAIL, PASSWORD, TestApp, error_code, signed_post};

const OTHER_NUMBER: &str = "+15551230002";

/// A second tenant on its own Twilio account with its own tracking number:
/// (tenant, owner's token, account).
async fn tenant_with_own_account(
    w: &CallWorld,
) -> (String, String, twilio_sim::AccountCredentials) {
    let (tenant, owner) = w.other_tenant().await;
    let account = w.sim.create_account("Rapid Rooter's own");
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{tenant}/twilio/config"),
            &owner,
            json!({"accountSid": account.sid, "authToken": account.auth_token,
                   "phoneNumbers": [{"phoneNumber": OTHER_NUMBER}], "callRoutingMode": "forward",
                   "forwardNumber": "+15557659999"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.sim
        .add_number(&account.sid, OTHER_NUMBER, "Rooter line")
        .expect("number");
    w.sim.set_number_webhooks(
        &account.sid,
        OTHER_NUMBER,
        &w.t.url("/api/twilio/voice/incoming"),
        Some(&w.t.url("/api/twilio/voice/status-callback")),
        None,
    );
    (tenant, owner, account)
}

#[tokio::test]
async fn a_tenant_cannot_rewrite_another_tenants_call() {
    let w = call_world().await;
    let mut s = Scenario::new("+15550001111", TRACKING);
    s.caller_name = Some("JANE DOE".into());
    s.presses = vec![Press::Digits("1".into())];
    let call = w.play(&s).await.call_sid;
    let before = w.log(&call).await;
    let (_, stats_before) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    let (rival, rival_owner, rival_account) = tenant_with_own_account(&w).await;

    // The rival signs, with its own valid token, a "new call" carrying our CallSid.
    let forged = [
        ("CallSid", call.as_str()),
        ("AccountSid", rival_account.sid.as_str()),
        ("From", "+15559990000"),
        ("To", OTHER_NUMBER),
        ("CallerName", "MALLORY"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    for path in [
        "/api/twilio/voice/incoming",
        "/api/twilio/voice/status-callback",
    ] {
        let (status, text) = signed_post(&w.t, path, &rival_account.auth_token, &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {text}");
    }
    let mut ended = forged.to_vec();
    ended.retain(|(k, _)| *k != "CallStatus");
    ended.extend([("CallStatus", "completed"), ("CallDuration", "1")]);
    let (status, _) = signed_post(
        &w.t,
        "/api/twilio/voice/incoming",
        &rival_account.auth_token,
        &ended,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let after = w.log(&call).await;
    for field in [
        "from",
        "callerName",
        "status",
        "outcome",
        "duration",
        "customerId",
    ] {
        assert_eq!(after[field], before[field], "{field} changed");
    }
    let (_, stats_after) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    assert_eq!(stats_after["total"], stats_before["total"]);
    assert_eq!(stats_after["answered"], stats_before["answered"]);
    let (_, rival_list) = w.t.get("/api/twilio/call-logs", &rival_owner).await;
    assert_eq!(rival_list["total"], 0, "{rival_list}");
    let (_, rival_stats) = w.t.get("/api/twilio/call-logs/stats", &rival_owner).await;
    assert_eq!(rival_stats["total"], 0, "{rival_stats}");

    // Kept for admins, naming who claimed it.
    let (_, unrouted) = w.t.get("/api/admin/unrouted-calls", &w.admin).await;
    let refused: Vec<&Value> = unrouted["unroutedCalls"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|u| u["callSid"] == json!(call))
        .collect();
    assert!(!refused.is_empty(), "{unrouted}");
    assert!(
        refused
            .iter()
            .all(|u| u["claimedByTenantId"] == json!(rival)),
        "{unrouted}"
    );
    w.t.stop().await;
}

#[tokio::test]
async fn calls_to_an_unowned_number_on_a_tenants_account_are_nobodys() {
    let w = call_world().await;
    let (_, rival_owner, rival_account) = tenant_with_own_account(&w).await;
    let spare = "+15551230077";
    w.sim
        .add_number(&rival_account.sid, spare, "Not connected")
        .expect("number");
    w.sim.set_number_webhooks(
        &rival_account.sid,
        spare,
        &w.t.url("/api/twilio/voice/incoming"),
        Some(&w.t.url("/api/twilio/voice/status-callback")),
        None,
    );
    let unowned = w.play(&Scenario::new("+15550002222", spare)).await;
    assert!(
        unowned.heard.iter().any(|h| h.contains("not in service")),
        "{:?}",
        unowned.heard
    );
    let (_, list) = w.t.get("/api/twilio/call-logs", &rival_owner).await;
    assert_eq!(list["total"], 0, "{list}");
    let (_, counts) =
        w.t.get("/api/customer-notifications/unread-counts", &rival_owner)
            .await;
    assert_eq!(counts["callLogs"], 0, "{counts}");

    // Its own number routes, until it is disconnected.
    let mut s = Scenario::new("+15550003333", OTHER_NUMBER);
    s.staff = Staff::Answers { after_secs: 2 };
    w.play(&s).await;
    let (_, list) = w.t.get("/api/twilio/call-logs", &rival_owner).await;
    assert_eq!(list["total"], 1, "{list}");
    let (status, body) =
        w.t.call(
            Method::PATCH,
            &format!(
                "/api/twilio/disconnect/{}",
                list["callLogs"][0]["customerId"].as_str().expect("tenant")
            ),
            Some(&w.admin),
            Some(json!({"phoneNumber": OTHER_NUMBER})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = w.play(&Scenario::new("+15550004444", OTHER_NUMBER)).await;
    assert!(
        after.heard.iter().any(|h| h.contains("not in service")),
        "{:?}",
        after.heard
    );
    let (_, list) = w.t.get("/api/twilio/call-logs", &rival_owner).await;
    assert_eq!(
        list["total"], 1,
        "the disconnected number's call is nobody's: {list}"
    );
    let (_, unrouted) = w.t.get("/api/admin/unrouted-calls", &w.admin).await;
    let sids: Vec<&str> = unrouted["unroutedCalls"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|u| u["callSid"].as_str())
        .collect();
    assert!(sids.contains(&unowned.call_sid.as_str()), "{unrouted}");
    assert!(sids.contains(&after.call_sid.as_str()), "{unrouted}");
    w.t.stop().await;
}

/// A client that connects from `local` (any 127.0.0.0/8 address works on loopback).
fn client_from(local: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(local))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn api_login(
    t: &TestApp,
    client: &reqwest::Client,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = client
        .post(t.url("/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": password}));
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.expect("send")
}

#[tokio::test]
async fn parallel_guesses_cannot_race_past_the_limit() {
    let t = TestApp::start().await;
    let client = client_from([127, 0, 0, 1]);
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..40 {
        let client = client.clone();
        let url = t.url("/api/auth/login");
        guesses.spawn(async move {
            client
                .post(url)
                .json(&json!({"email": ADMIN_EMAIL, "password": format!("wrong guess {i}")}))
                .send()
                .await
                .expect("send")
                .status()
        });
    }
    let mut counts = std::collections::BTreeMap::new();
    while let Some(status) = guesses.join_next().await {
        *counts.entry(status.expect("join").as_u16()).or_insert(0) += 1;
    }
    assert_eq!(counts.get(&401), Some(&5), "{counts:?}");
    assert_eq!(counts.get(&429), Some(&35), "{counts:?}");
    t.stop().await;
}

#[tokio::test]
async fn failures_from_one_address_do_not_lock_the_account_elsewhere() {
    let t = TestApp::start().await;
    let attacker = client_from([127, 0, 0, 2]);
    for _ in 0..5 {
        let r = api_login(&t, &attacker, "guess guess", None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = api_login(&t, &attacker, PASSWORD, None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&wait), "a short, growing delay: {wait}");
    // The admin, from their own address, signs in at once.
    let r = api_login(&t, &client_from([127, 0, 0, 3]), PASSWORD, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Without a configured proxy header, X-Forwarded-For is the client's word: ignored.
    let r = api_login(&t, &attacker, PASSWORD, Some("198.51.100.99")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    t.stop().await;
}

#[tokio::test]
async fn behind_a_proxy_the_configured_header_names_the_client() {
    let t = TestApp::start_with(&[("SWITCHBOARD_TRUSTED_PROXY_HEADER", "X-Forwarded-For")]).await;
    let proxy = client_from([127, 0, 0, 1]);
    for _ in 0..5 {
        let r = api_login(&t, &proxy, "guess guess", Some("198.51.100.1")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = api_login(&t, &proxy, PASSWORD, Some("198.51.100.1")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not slowed down; the last entry counts
    // (the one the proxy appended), whatever the client put before it.
    let r = api_login(&t, &proxy, PASSWORD, Some("198.51.100.1, 198.51.100.2")).await;
    assert_eq!(r.status(), StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn login_redirects_stay_on_site_and_never_fail() {
    let t = TestApp::start().await;
    let client = client_from([127, 0, 0, 1]);
    let submit = |next: &'static str| {
        let client = client.clone();
        let url = t.url("/login");
        let origin = t.base.clone();
        async move {
            let body = serde_urlencoded::to_string([
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
                ("next", next),
            ])
            .expect("encode");
            client
                .post(url)
                .header("origin", origin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("send")
        }
    };
    for next in [
        "/\t/evil.example",
        "/\t\\\\evil.example",
        "/\t\\evil.example",
        "//evil.example",
        "/\r\n/evil.example",
        "/x\r\nSet-Cookie: a=b",
        "/x\u{7f}",
        "/x\u{1}",
        "https://evil.example/",
    ] {
        let r = submit(next).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        let location = r.headers()["location"].to_str().expect("ascii").to_owned();
        assert!(
            location.starts_with('/')
                && !location.starts_with("//")
                && !location.contains("evil.example")
                && !location.chars().any(|c| c.is_control() || c == '\\'),
            "{next:?} -> {location:?}"
        );
    }
    let r = submit("/call-logs?status=missed").await;
    assert_eq!(r.headers()["location"], "/call-logs?status=missed");
    t.stop().await;
}

#[tokio::test]
async fn common_and_blank_passwords_are_refused() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    for (i, password) in [
        "password",
        "12345678",
        "        ",
        "Password1",
        " qwertyuiop ",
    ]
    .into_iter()
    .enumerate()
    {
        let (status, body) = t
            .post(
                "/api/admin/users",
                &admin,
                json!({"email": format!("u{i}@x.test"), "password": password, "role": "admin"}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{password:?}: {body}"
        );
        assert!(body["error"]["fields"]["password"].is_string(), "{body}");
    }
    let long = "x".repeat(257);
    let (status, _) = t
        .post(
            "/api/admin/users",
            &admin,
            json!({"email": "long@x.test", "password": long, "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    t.stop().await;
}

#[tokio::test]
async fn unsatisfiable_ranges_are_416_and_upstream_failures_say_nothing_of_twilio() {
    let w = call_world().await;
    let mut s = Scenario::new("+15550001111", TRACKING);
    s.presses = vec![Press::Digits("1".into())];
    let recording = w.play(&s).await.recording_sid.expect("recording");
    let path = format!("/api/twilio/recording/{recording}");
    let whole =
        w.t.http
            .get(w.t.url(&path))
            .bearer_auth(&w.owner)
            .send()
            .await
            .expect("send");
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["cache-control"], "no-store");
    let size = whole.bytes().await.expect("body").len();
    for range in [format!("bytes={size}-"), "bytes=5-1".to_owned()] {
        let r =
            w.t.http
                .get(w.t.url(&path))
                .bearer_auth(&w.owner)
                .header("range", &range)
                .send()
                .await
                .expect("send");
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes */{size}").as_str(),
            "{range}"
        );
    }
    // Twilio refuses our credentials: a 502 that names neither its URL nor the account.
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
            json!({"accountSid": w.account.sid, "authToken": "not-the-right-token"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = w.t.get(&path, &w.owner).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let text = body.to_string();
    assert!(
        !text.contains(&w.account.sid) && !text.contains("twilio.com") && !text.contains("http"),
        "{text}"
    );
    assert!(text.contains("could not be fetched"), "{text}");
    w.t.stop().await;
}

#[tokio::test]
async fn slow_headers_are_cut_off_and_api_answers_are_not_cached() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let t = TestApp::start_with(&[("SWITCHBOARD_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut stream = tokio::net::TcpStream::connect(t.app.addr)
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection stayed open past the timeout");
    assert!(started.elapsed() >= Duration::from_millis(500));
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("200 OK"), "{text}");

    let admin = t.admin_token().await;
    for path in ["/api/auth/me", "/api/admin/tenants", "/api/no-such-route"] {
        let r = t
            .http
            .get(t.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("send");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
    t.stop().await;
}

#[tokio::test]
async fn two_tenants_share_an_account_sid_only_when_an_admin_says_so() {
    let w = call_world().await;
    let (_, _, rival_account) = tenant_with_own_account(&w).await;
    let third = w.t.tenant(&w.admin, "Third Clinic").await;
    let third_owner =
        w.t.user(&w.admin, "owner@third.test", "customer", &third, &[])
            .await;
    let config = format!("/api/companies/{third}/twilio/config");
    let creds = json!({"accountSid": rival_account.sid, "authToken": rival_account.auth_token});
    let (status, body) = w.t.put(&config, &third_owner, creds.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["accountSid"].is_string(), "{body}");
    let mut shared = creds.clone();
    shared["shareAccount"] = json!(true);
    let (status, body) = w.t.put(&config, &third_owner, shared.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "forbidden");
    let (status, body) = w.t.put(&config, &w.admin, shared).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Saving other settings later does not trip over the shared SID.
    let (status, body) =
        w.t.put(&config, &third_owner, json!({"menuMessage": "Hello"}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.t.stop().await;
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = std::env::temp_dir().join(switchboard::db::new_id("sbperm"));
    let data = root.join("nested/data");
    let out = crate::cli::switchboard()
        .arg("migrate")
        .env("SWITCHBOARD_DATA_DIR", &data)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&root.join("nested")), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(&data).expect("list") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(files >= 2, "the database and the key file");
    let _ = std::fs::remove_dir_all(&root);
}

/// Resident and peak memory of a process, in KiB (from /proc).
#[cfg(target_os = "linux")]
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_burst_of_logins_is_bounded_in_memory_and_gives_it_back() {
    twilio::client::install_tls_provider();
    let data = std::env::temp_dir().join(switchboard::db::new_id("sbmem"));
    let created = crate::cli::switchboard()
        .args([
            "user",
            "create",
            "--email",
            "owner@mem.test",
            "--role",
            "admin",
        ])
        .args(["--password", PASSWORD])
        .env("SWITCHBOARD_DATA_DIR", &data)
        .output()
        .expect("user create");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut server = crate::cli::switchboard()
        .arg("serve")
        .env("SWITCHBOARD_DATA_DIR", &data)
        .env("SWITCHBOARD_BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_TRUSTED_PROXY_HEADER", "X-Forwarded-For")
        .env("SWITCHBOARD_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let ready = async {
        for _ in 0..200 {
            if http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(ready.await, "serve did not become ready");
    let login = |i: usize, email: String, password: &'static str| {
        let http = http.clone();
        let url = format!("{base}/api/auth/login");
        async move {
            let r = http
                .post(url)
                .header(
                    "x-forwarded-for",
                    format!("198.51.{}.{}", i / 250, i % 250 + 1),
                )
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .expect("send");
            let retry_after = r.headers().contains_key("retry-after");
            (r.status(), retry_after)
        }
    };
    // Warm: a few sequential logins, right and wrong, so what every login allocates
    // once (pools, caches) is part of the baseline.
    for i in 0..4 {
        let (status, _) = login(1000 + i, "owner@mem.test".into(), PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        login(2000 + i, format!("nobody{i}@mem.test"), "wrong password").await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (baseline, _) = memory_kib(server.id());

    let mut burst = tokio::task::JoinSet::new();
    for i in 0..200 {
        let email = if i % 2 == 0 {
            "owner@mem.test".to_owned()
        } else {
            format!("unknown{i}@mem.test")
        };
        burst.spawn(login(i, email, "a wrong password"));
    }
    let mut counts = std::collections::BTreeMap::new();
    while let Some(answer) = burst.join_next().await {
        let (status, retry_after) = answer.expect("join");
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}"
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(retry_after, "503 without Retry-After");
        }
        *counts.entry(status.as_u16()).or_insert(0) += 1;
    }
    let (_, peak) = memory_kib(server.id());
    assert!(counts.get(&401).copied().unwrap_or(0) >= 10, "{counts:?}");

    // Back near the baseline shortly after.
    let mut after = u64::MAX;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = memory_kib(server.id()).0;
        if after <= baseline + 24 * 1024 {
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
    eprintln!(
        "login burst {counts:?}: RSS baseline {} MiB, peak {} MiB, after {} MiB",
        baseline / 1024,
        peak / 1024,
        after / 1024
    );
    assert!(
        peak <= baseline + 160 * 1024,
        "peak {peak} KiB against a baseline of {baseline} KiB"
    );
    assert!(
        after <= baseline + 24 * 1024,
        "after the burst {after} KiB against a baseline of {baseline} KiB"
    );
}
