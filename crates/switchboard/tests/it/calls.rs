//! Complete calls played by the simulator (as Twilio) against the real server.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use twilio_sim::{AccountCredentials, Delivery, Press, Scenario, Simulator, Speaker, Staff};

use crate::common::{TestApp, error_code};

pub const TRACKING: &str = "+15551230001";
const STAFF_DEFAULT: &str = "+15557654321";
const STAFF_NEW: &str = "+15557650001";
pub const CALLER: &str = "+15550001111";

pub struct CallWorld {
    pub t: TestApp,
    pub sim: Simulator,
    pub account: AccountCredentials,
    pub admin: String,
    pub tenant: String,
    pub owner: String,
}

/// A tenant on the platform account with a menu, two staff lines and recording on.
pub async fn call_world() -> CallWorld {
    call_world_with(false).await
}

/// The same, optionally with a Voice Intelligence service whose webhook points at us.
pub async fn call_world_with(intelligence: bool) -> CallWorld {
    call_world_env(intelligence, &[]).await
}

/// The same, with more environment for the server.
pub async fn call_world_env(intelligence: bool, extra: &[(&str, &str)]) -> CallWorld {
    let sim = Simulator::start().await.expect("simulator");
    let account = sim.create_account("Platform");
    call_world_on(sim, account, intelligence, extra).await
}

/// The world on a simulator and platform account made beforehand (to give the account
/// an API key, say, before the server reads its configuration).
pub async fn call_world_on(
    sim: Simulator,
    account: twilio_sim::AccountCredentials,
    intelligence: bool,
    extra: &[(&str, &str)],
) -> CallWorld {
    let service = intelligence.then(|| {
        sim.create_intelligence_service(&account.sid, None)
            .expect("service")
    });
    let mut env = vec![
        ("TWILIO_ACCOUNT_SID", account.sid.as_str()),
        ("TWILIO_AUTH_TOKEN", account.auth_token.as_str()),
        ("TWILIO_API_BASE", sim.base_url()),
    ];
    if let Some(service) = &service {
        env.push(("TWILIO_VI_SERVICE_SID", service.as_str()));
    }
    env.extend_from_slice(extra);
    let t = TestApp::start_with(&env).await;
    if let Some(service) = &service {
        sim.set_intelligence_webhook(&account.sid, service, &t.url("/api/twilio/ci-status"));
    }
    let admin = t.admin_token().await;
    let tenant = t.tenant(&admin, "Bright Smiles Dental").await;
    let owner = t
        .user(&admin, "owner@brightsmiles.test", "customer", &tenant, &[])
        .await;
    let (status, body) = t
        .put(
            &format!("/api/companies/{tenant}/twilio/config"),
            &owner,
            json!({"phoneNumbers": [{"phoneNumber": TRACKING, "friendlyName": "Google Ads"}], "callRoutingMode": "menu",
                   "forwardNumber": STAFF_DEFAULT, "forwardNumberNew": STAFF_NEW, "recordingEnabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sim.add_number(&account.sid, TRACKING, "Google Ads")
        .expect("number");
    sim.set_number_webhooks(
        &account.sid,
        TRACKING,
        &t.url("/api/twilio/voice/incoming"),
        Some(&t.url("/api/twilio/voice/status-callback")),
        None,
    );
    CallWorld {
        t,
        sim,
        account,
        admin,
        tenant,
        owner,
    }
}

impl CallWorld {
    /// A second tenant with its owner: (tenant id, owner's token).
    pub async fn other_tenant(&self) -> (String, String) {
        let other = self.t.tenant(&self.admin, "Rapid Rooter Plumbing").await;
        let owner = self
            .t
            .user(&self.admin, "owner@rapid.test", "customer", &other, &[])
            .await;
        (other, owner)
    }

    /// Points the tracking number's texts at us too (calls already are).
    pub fn route_texts(&self) {
        self.sim.set_number_webhooks(
            &self.account.sid,
            TRACKING,
            &self.t.url("/api/twilio/voice/incoming"),
            Some(&self.t.url("/api/twilio/voice/status-callback")),
            Some(&self.t.url("/api/twilio/sms")),
        );
    }

    pub async fn play(&self, scenario: &Scenario) -> twilio_sim::CallReport {
        let report = self.sim.play(scenario).await.expect("play");
        assert!(
            report.errors.is_empty(),
            "Twilio would have reported: {:?}",
            report.errors
        );
        report
    }

    pub async fn log(&self, call_sid: &str) -> Value {
        let (status, body) = self
            .t
            .get(&format!("/api/twilio/call-logs/{call_sid}"), &self.owner)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

pub fn caller() -> Scenario {
    let mut s = Scenario::new(CALLER, TRACKING);
    s.caller_name = Some("JANE DOE".into());
    s.caller_location = Some(("AUSTIN".into(), "TX".into(), "78701".into(), "US".into()));
    s
}

#[tokio::test]
async fn answered_call_with_recording_through_the_menu() {
    let w = call_world().await;
    let mut s = caller();
    s.presses = vec![Press::Digits("1".into())];
    s.staff = Staff::Answers { after_secs: 6 };
    s.talk_secs = 45;
    s.script = vec![
        (Speaker::Caller, "Hi, I'd like to book a cleaning.".into()),
        (Speaker::Staff, "Sure, Tuesday at ten?".into()),
    ];
    let report = w.play(&s).await;

    assert!(
        report
            .heard
            .iter()
            .any(|h| h.contains("Thank you for calling Bright Smiles Dental")),
        "{:?}",
        report.heard
    );
    assert!(
        report.heard.iter().any(|h| h.contains("may be recorded")),
        "disclosure before the dial"
    );
    assert_eq!(
        report.dialed,
        vec![STAFF_NEW.to_owned()],
        "menu 1 rings the new-patient line"
    );
    assert!(
        report.staff_heard.iter().any(|h| h.contains("New patient")),
        "{:?}",
        report.staff_heard
    );
    assert_eq!(report.dial_call_status.as_deref(), Some("completed"));

    let log = w.log(&report.call_sid).await;
    assert_eq!(log["dialCallStatus"], "answered");
    assert_eq!(log["outcome"], "answered");
    assert_eq!(log["status"], "completed");
    assert_eq!(log["duration"], 45);
    assert_eq!(log["menuChoice"], "1");
    assert_eq!(log["from"], CALLER);
    assert_eq!(log["twilioPhoneNumber"], TRACKING);
    assert_eq!(log["customerId"], json!(w.tenant));
    assert_eq!(log["callerName"], "JANE DOE");
    assert_eq!(log["callerCity"], "AUSTIN");
    assert_eq!(log["priceUnit"], "USD");
    assert!(log["callDuration"].as_i64().is_some_and(|d| d >= 45));
    assert!(log["ringingDuration"].as_i64().is_some_and(|d| d >= 6));
    assert!(log["answerTime"].is_string());
    let recording_sid = report.recording_sid.clone().expect("recorded");
    assert_eq!(log["recordingSid"], json!(recording_sid));
    assert_eq!(
        log["recordingUrl"],
        json!(format!("/api/twilio/recording/{recording_sid}"))
    );
    assert_eq!(log["recordingDuration"], 45);
    assert!(
        !log.to_string().contains("api.twilio.com"),
        "no Twilio URLs handed out"
    );
    let kinds: Vec<&str> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in [
        "incoming",
        "gather",
        "dial_leg",
        "whisper",
        "dial_action",
        "recording",
        "status",
    ] {
        assert!(kinds.contains(&kind), "timeline lacks {kind}: {kinds:?}");
    }

    // The recording streams through us, with Range.
    let audio =
        w.t.http
            .get(w.t.url(&format!("/api/twilio/recording/{recording_sid}")))
            .bearer_auth(&w.owner)
            .send()
            .await
            .expect("audio");
    assert_eq!(audio.status(), StatusCode::OK);
    assert_eq!(audio.headers()["content-type"], "audio/mpeg");
    let bytes = audio.bytes().await.expect("bytes");
    assert_eq!(&bytes[..2], &[0xFF, 0xFB], "real MP3 frames");
    let part =
        w.t.http
            .get(w.t.url(&format!("/api/twilio/recording/{recording_sid}")))
            .bearer_auth(&w.owner)
            .header("range", "bytes=0-99")
            .send()
            .await
            .expect("range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 0-99/{}", bytes.len())
    );
    assert_eq!(part.bytes().await.expect("bytes").len(), 100);
    w.t.stop().await;
}

#[tokio::test]
async fn no_answer_goes_to_voicemail() {
    let w = call_world().await;
    let mut s = caller();
    s.presses = vec![Press::Digits("2".into())];
    s.staff = Staff::NoAnswer;
    s.voicemail_secs = Some(22);
    let report = w.play(&s).await;
    assert_eq!(
        report.dialed,
        vec![STAFF_DEFAULT.to_owned()],
        "menu 2 with no existing line rings the default"
    );
    assert!(
        report.heard.iter().any(|h| h.contains("leave a message")),
        "{:?}",
        report.heard
    );
    let vm = report.voicemail_sid.clone().expect("voicemail left");

    let log = w.log(&report.call_sid).await;
    assert_eq!(log["dialCallStatus"], "no-answer");
    assert_eq!(log["outcome"], "voicemail");
    assert_eq!(log["duration"], 0, "a voicemail is not talk time");
    assert_eq!(log["menuChoice"], "2");
    assert_eq!(log["voicemailSid"], json!(vm));
    assert_eq!(log["voicemailDuration"], 22);
    assert_eq!(
        log["voicemailUrl"],
        json!(format!("/api/twilio/voicemail/{}", report.call_sid))
    );
    assert_eq!(
        log["recordingSid"],
        Value::Null,
        "the voicemail is not the main recording"
    );

    let audio =
        w.t.http
            .get(w.t.url(&format!("/api/twilio/voicemail/{}", report.call_sid)))
            .bearer_auth(&w.owner)
            .send()
            .await
            .expect("voicemail audio");
    assert_eq!(audio.status(), StatusCode::OK);
    assert_eq!(audio.headers()["content-type"], "audio/mpeg");
    w.t.stop().await;
}

#[tokio::test]
async fn busy_staff_and_caller_hangs_up_at_the_beep() {
    let w = call_world().await;
    let mut s = caller();
    s.presses = vec![Press::Digits("1".into())];
    s.staff = Staff::Busy;
    s.voicemail_secs = None;
    let report = w.play(&s).await;
    let log = w.log(&report.call_sid).await;
    assert_eq!(log["dialCallStatus"], "busy");
    assert_eq!(log["outcome"], "missed");
    assert_eq!(log["voicemailSid"], Value::Null);
    assert_eq!(log["duration"], 0);
    w.t.stop().await;
}

#[tokio::test]
async fn caller_hangs_up_in_the_menu() {
    let w = call_world().await;
    let mut s = caller();
    s.hang_up_in_menu = true;
    let report = w.play(&s).await;
    assert!(report.dialed.is_empty());
    let log = w.log(&report.call_sid).await;
    assert_eq!(log["status"], "completed");
    assert_eq!(log["dialCallStatus"], "no-answer");
    assert_eq!(log["outcome"], "missed");
    assert_eq!(log["menuChoice"], Value::Null);
    w.t.stop().await;
}

#[tokio::test]
async fn no_input_repeats_the_menu_once_then_forwards() {
    let w = call_world().await;
    let mut s = caller();
    s.presses = vec![Press::Nothing, Press::Digits("7".into())];
    let report = w.play(&s).await;
    let menus = report
        .heard
        .iter()
        .filter(|h| h.contains("press 1"))
        .count();
    assert_eq!(menus, 2, "offered twice: {:?}", report.heard);
    assert_eq!(report.dialed, vec![STAFF_DEFAULT.to_owned()]);
    let log = w.log(&report.call_sid).await;
    assert_eq!(log["menuChoice"], Value::Null, "7 is not a choice");
    assert_eq!(log["outcome"], "answered");
    w.t.stop().await;
}

/// The fields a delivery order must not change.
fn essence(log: &Value) -> Value {
    json!({
        "status": log["status"], "dialCallStatus": log["dialCallStatus"], "outcome": log["outcome"],
        "duration": log["duration"], "callDuration": log["callDuration"], "menuChoice": log["menuChoice"],
        "recording": log["recordingSid"].is_string(), "recordingDuration": log["recordingDuration"],
        "voicemail": log["voicemailSid"].is_string(), "callerName": log["callerName"], "from": log["from"],
        "ringingDuration": log["ringingDuration"],
    })
}

#[tokio::test]
async fn shuffled_duplicated_and_late_callbacks_give_the_same_rows() {
    let w = call_world().await;
    for (staff, vm) in [
        (Staff::Answers { after_secs: 4 }, None),
        (Staff::NoAnswer, Some(12)),
    ] {
        let mut base = caller();
        base.presses = vec![Press::Digits("1".into())];
        base.staff = staff;
        base.voicemail_secs = vm;
        base.talk_secs = 33;
        // A fixed start so durations on the simulated clock line up across plays.
        base.start_ms = Some(1_764_000_000_000);
        let in_order = w.play(&base).await;
        let expected = essence(&w.log(&in_order.call_sid).await);
        for delivery in [
            Delivery::Duplicated,
            Delivery::Shuffled { seed: 7 },
            Delivery::Shuffled { seed: 99 },
            Delivery::Delayed { ms: 5 },
            // Several writers on PostgreSQL take these in batches at once.
            Delivery::Concurrent,
        ] {
            let mut s = base.clone();
            s.delivery = delivery;
            let report = w.play(&s).await;
            assert_eq!(
                essence(&w.log(&report.call_sid).await),
                expected,
                "{delivery:?} with {staff:?}"
            );
        }
    }
    let (_, page) = w.t.get("/api/twilio/call-logs?limit=200", &w.owner).await;
    assert_eq!(page["total"], 12, "duplicates did not create calls");
    w.t.stop().await;
}

#[tokio::test]
async fn unknown_number_is_answered_politely_and_kept_for_admins() {
    let w = call_world().await;
    w.sim
        .add_number(&w.account.sid, "+15551239876", "Unassigned")
        .expect("number");
    w.sim.set_number_webhooks(
        &w.account.sid,
        "+15551239876",
        &w.t.url("/api/twilio/voice/incoming"),
        None,
        None,
    );
    let report = w.play(&Scenario::new(CALLER, "+15551239876")).await;
    assert!(
        report.heard.iter().any(|h| h.contains("not in service")),
        "{:?}",
        report.heard
    );
    let (_, page) = w.t.get("/api/twilio/call-logs", &w.owner).await;
    assert_eq!(page["total"], 0, "never counted as a tenant's call");
    let (_, all) = w.t.get("/api/twilio/call-logs", &w.admin).await;
    assert_eq!(all["total"], 0);
    let (status, unrouted) = w.t.get("/api/admin/unrouted-calls", &w.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        unrouted["unroutedCalls"][0]["callSid"],
        json!(report.call_sid)
    );
    assert_eq!(unrouted["unroutedCalls"][0]["to"], "+15551239876");
    let (status, _) = w.t.get("/api/admin/unrouted-calls", &w.owner).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    w.t.stop().await;
}

async fn post_form(
    t: &TestApp,
    path: &str,
    body: &str,
    signature: Option<&str>,
) -> (StatusCode, String) {
    let mut req = t
        .http
        .post(t.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header("x-twilio-signature", sig);
    }
    let resp = req.send().await.expect("send");
    (resp.status(), resp.text().await.unwrap_or_default())
}

fn form(pairs: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (serde_urlencoded::to_string(&owned).expect("encode"), owned)
}

#[tokio::test]
async fn bad_and_missing_signatures_are_refused_and_store_nothing() {
    let w = call_world().await;
    let path = "/api/twilio/voice/incoming";
    let (body, params) = form(&[
        ("CallSid", "CAforged"),
        ("AccountSid", &w.account.sid),
        ("From", CALLER),
        ("To", TRACKING),
        ("CallStatus", "ringing"),
    ]);
    let (status, _) = post_form(&w.t, path, &body, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let wrong = twilio::signature::RequestValidator::new("not-the-token")
        .compute_signature(&w.t.url(path), &params);
    let (status, text) = post_form(&w.t, path, &body, Some(&wrong)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    // Signed for another URL (a replay to a different endpoint).
    let other = twilio::signature::RequestValidator::new(&w.account.auth_token)
        .compute_signature(&w.t.url("/api/twilio/voice/dial-status"), &params);
    let (status, _) = post_form(&w.t, path, &body, Some(&other)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Tampered after signing.
    let good = twilio::signature::RequestValidator::new(&w.account.auth_token)
        .compute_signature(&w.t.url(path), &params);
    let (status, _) = post_form(
        &w.t,
        path,
        &body.replace("ringing", "completed"),
        Some(&good),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The genuine request is accepted.
    let (status, twiml) = post_form(&w.t, path, &body, Some(&good)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(twiml.contains("<Gather"), "{twiml}");
    let (_, page) = w.t.get("/api/twilio/call-logs", &w.owner).await;
    assert_eq!(page["total"], 1, "only the signed request was stored");
    w.t.stop().await;
}

#[tokio::test]
async fn malformed_webhooks_get_a_4xx_and_store_nothing() {
    let w = call_world().await;
    let sign = |path: &str, params: &[(String, String)]| {
        twilio::signature::RequestValidator::new(&w.account.auth_token)
            .compute_signature(&w.t.url(path), params)
    };
    for (path, pairs) in [
        (
            "/api/twilio/voice/incoming",
            vec![
                ("AccountSid", w.account.sid.as_str()),
                ("From", CALLER),
                ("To", TRACKING),
            ],
        ),
        (
            "/api/twilio/voice/status-callback",
            vec![
                ("CallSid", "CA1"),
                ("AccountSid", w.account.sid.as_str()),
                ("To", TRACKING),
            ],
        ),
        (
            "/api/twilio/voice/dial-status",
            vec![
                ("CallSid", "CA1"),
                ("AccountSid", w.account.sid.as_str()),
                ("To", TRACKING),
                ("CallStatus", "completed"),
            ],
        ),
        (
            "/api/twilio/voice/recording-status",
            vec![
                ("CallSid", "CA1"),
                ("AccountSid", w.account.sid.as_str()),
                ("To", TRACKING),
            ],
        ),
        (
            "/api/twilio/voice/status-callback",
            vec![
                ("CallSid", "CA1"),
                ("AccountSid", w.account.sid.as_str()),
                ("To", TRACKING),
                ("CallStatus", "completed"),
                ("CallDuration", "lots"),
            ],
        ),
    ] {
        let (body, params) = form(&pairs);
        let (status, text) = post_form(&w.t, path, &body, Some(&sign(path, &params))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
        let err: Value = serde_json::from_str(&text).expect("json error");
        assert_eq!(error_code(&err), "bad_request");
    }
    // A bad number in To: verified, but no tenant owns it → unrouted, not a tenant call.
    let (body, params) = form(&[
        ("CallSid", "CAbadnum"),
        ("AccountSid", &w.account.sid),
        ("From", "not a number"),
        ("To", "12"),
        ("CallStatus", "ringing"),
    ]);
    let (status, text) = post_form(
        &w.t,
        "/api/twilio/voice/incoming",
        &body,
        Some(&sign("/api/twilio/voice/incoming", &params)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("not in service"));
    // Oversized.
    let big = format!("CallSid=CA2&Body={}", "x".repeat(100_000));
    let (status, _) = post_form(&w.t, "/api/twilio/voice/incoming", &big, Some("sig")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Not UTF-8.
    let resp =
        w.t.http
            .post(w.t.url("/api/twilio/voice/incoming"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![0xff, 0xfe, b'=', b'1'])
            .send()
            .await
            .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (_, page) = w.t.get("/api/twilio/call-logs", &w.owner).await;
    assert_eq!(page["total"], 0);
    w.t.stop().await;
}

#[tokio::test]
async fn list_filters_stats_and_notifications() {
    let w = call_world().await;
    let mut answered = caller();
    answered.presses = vec![Press::Digits("1".into())];
    answered.talk_secs = 60;
    let mut vm = caller();
    vm.from = "+15550002222".into();
    vm.caller_name = Some("JOHN ROE".into());
    vm.presses = vec![Press::Digits("2".into())];
    vm.staff = Staff::NoAnswer;
    let mut hangup = caller();
    hangup.from = "+15550003333".into();
    hangup.caller_name = None;
    hangup.hang_up_in_menu = true;
    for s in [&answered, &answered, &vm, &hangup] {
        w.play(s).await;
    }
    let (_, unread) =
        w.t.get("/api/customer-notifications/unread-counts", &w.owner)
            .await;
    assert_eq!(
        unread,
        json!({"callLogs": 4, "messages": 0, "voicemails": 1})
    );

    let count = |q: &str| {
        let q = q.to_owned();
        let t = &w.t;
        let owner = w.owner.clone();
        async move {
            let (status, page) = t.get(&format!("/api/twilio/call-logs?{q}"), &owner).await;
            assert_eq!(status, StatusCode::OK, "{q}: {page}");
            page["total"].as_i64().expect("total")
        }
    };
    assert_eq!(count("").await, 4);
    assert_eq!(count("status=answered").await, 2);
    assert_eq!(count("status=missed").await, 2);
    assert_eq!(count("status=voicemail").await, 1);
    assert_eq!(count("q=roe").await, 1);
    assert_eq!(count("q=0003333").await, 1);
    assert_eq!(
        count(&format!("trackingNumber={}", "(555) 123-0001")).await,
        4
    );
    assert_eq!(count("trackingNumber=5559990000").await, 0);
    assert_eq!(count("direction=inbound").await, 4);
    assert_eq!(count("startDate=2099-01-01").await, 0);
    assert_eq!(count("endDate=2000-01-01").await, 0);
    let (_, page) =
        w.t.get("/api/twilio/call-logs?limit=2&offset=1", &w.owner)
            .await;
    assert_eq!(
        (page["limit"].as_i64(), page["offset"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(page["callLogs"].as_array().map(Vec::len), Some(2));
    let (_, all) = w.t.get("/api/twilio/call-logs", &w.owner).await;
    let starts: Vec<&str> = all["callLogs"]
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["startedAt"].as_str())
        .collect();
    assert!(
        starts.windows(2).all(|p| p[0] >= p[1]),
        "newest first: {starts:?}"
    );

    for bad in [
        "limit=0",
        "limit=201",
        "offset=-1",
        "status=maybe",
        "startDate=yesterday",
        "direction=sideways",
        "limit=abc",
    ] {
        let (status, body) =
            w.t.get(&format!("/api/twilio/call-logs?{bad}"), &w.owner)
                .await;
        assert!(
            matches!(
                status,
                StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
            ),
            "{bad}: {status} {body}"
        );
    }

    let (status, stats) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["total"], 4);
    assert_eq!(stats["answered"], 2);
    assert_eq!(stats["missed"], 2);
    assert_eq!(stats["voicemails"], 1);
    assert_eq!(stats["avgDuration"], 60.0);
    assert_eq!(
        stats["byMenuChoice"],
        json!({"new": 2, "existing": 1, "none": 1})
    );
    assert_eq!(stats["byDay"].as_array().map(Vec::len), Some(1));
    assert_eq!(stats["byDay"][0]["total"], 4);
    assert_eq!(
        stats["byNumber"][0],
        json!({"twilioPhoneNumber": TRACKING, "friendlyName": "Google Ads", "total": 4, "answered": 2})
    );

    let (status, _) =
        w.t.post(
            "/api/customer-notifications/mark-read/voicemails",
            &w.owner,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, unread) =
        w.t.get("/api/customer-notifications/unread-counts", &w.owner)
            .await;
    assert_eq!(unread["voicemails"], 0);
    assert_eq!(unread["callLogs"], 4);
    let (status, _) =
        w.t.post(
            "/api/customer-notifications/mark-all-read",
            &w.owner,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, unread) =
        w.t.get("/api/customer-notifications/unread-counts", &w.owner)
            .await;
    assert_eq!(
        unread,
        json!({"callLogs": 0, "messages": 0, "voicemails": 0})
    );
    let (status, _) =
        w.t.post(
            "/api/customer-notifications/mark-read/everything",
            &w.owner,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Deleting: receptionists may not; the owner may; the rows are gone.
    let desk =
        w.t.user(
            &w.admin,
            "desk@brightsmiles.test",
            "receptionist",
            &w.tenant,
            &["call-logs"],
        )
        .await;
    let (status, _) =
        w.t.call(
            reqwest::Method::DELETE,
            "/api/twilio/call-logs",
            Some(&desk),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) =
        w.t.call(
            reqwest::Method::DELETE,
            "/api/twilio/call-logs",
            Some(&w.owner),
            None,
        )
        .await;
    assert_eq!((status, &body["deleted"]), (StatusCode::OK, &json!(4)));
    assert_eq!(count("").await, 0);
    w.t.stop().await;
}

#[tokio::test]
async fn configuration_shows_effective_settings() {
    let w = call_world().await;
    let (status, config) = w.t.get("/api/twilio/configuration", &w.owner).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["configured"], true);
    assert_eq!(config["callRoutingMode"], "menu");
    assert_eq!(config["recordingEnabled"], true);
    assert_eq!(
        config["transcriptionEnabled"], false,
        "the platform default"
    );
    assert_eq!(config["voice"], "Google.en-US-Chirp3-HD-Aoede");
    assert_eq!(config["usesPlatformCredentials"], true);
    assert!(!config.to_string().contains(&w.account.auth_token));
    w.t.stop().await;
}

#[tokio::test]
async fn another_tenant_reaches_none_of_these_calls() {
    let w = call_world().await;
    let mut answered = caller();
    answered.presses = vec![Press::Digits("1".into())];
    let a = w.play(&answered).await;
    let mut missed = caller();
    missed.staff = Staff::NoAnswer;
    missed.presses = vec![Press::Digits("2".into())];
    let vm = w.play(&missed).await;
    let recording = a.recording_sid.clone().expect("recording");

    let other = w.t.tenant(&w.admin, "Rival Plumbing").await;
    let rival =
        w.t.user(&w.admin, "owner@rival.test", "customer", &other, &[])
            .await;
    let rival_desk =
        w.t.user(
            &w.admin,
            "desk@rival.test",
            "receptionist",
            &other,
            &["call-logs"],
        )
        .await;
    let own_desk_without =
        w.t.user(
            &w.admin,
            "temp@brightsmiles.test",
            "receptionist",
            &w.tenant,
            &["contacts"],
        )
        .await;
    let own_desk_with =
        w.t.user(
            &w.admin,
            "front@brightsmiles.test",
            "receptionist",
            &w.tenant,
            &["call-logs"],
        )
        .await;

    let by_id = [
        format!("/api/twilio/call-logs/{}", a.call_sid),
        format!("/api/twilio/call-logs/{}/summary", a.call_sid),
        format!("/api/twilio/recording/{recording}"),
        format!("/api/twilio/voicemail/{}", vm.call_sid),
    ];
    for token in [&rival, &rival_desk] {
        for path in &by_id {
            let (status, body) = w.t.get(path, token).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
        for path in ["/api/twilio/call-logs", "/api/twilio/call-logs/stats"] {
            let (status, body) = w.t.get(path, token).await;
            assert_eq!(status, StatusCode::OK);
            assert!(
                !body.to_string().contains(&a.call_sid) && !body.to_string().contains(TRACKING),
                "{path} leaked: {body}"
            );
        }
        // customerId is an admin's filter; others cannot use it to reach another tenant.
        let (status, body) =
            w.t.get(
                &format!("/api/twilio/call-logs?customerId={}", w.tenant),
                token,
            )
            .await;
        assert!(
            status == StatusCode::OK && body["total"] == 0,
            "customerId ignored for non-admins: {body}"
        );
        let (status, _) =
            w.t.call(
                reqwest::Method::DELETE,
                &format!("/api/twilio/call-logs/{}", w.tenant),
                Some(token),
                None,
            )
            .await;
        // For non-admins the id names one of their own calls: there is none such.
        assert!(
            matches!(status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
            "{status}"
        );
    }
    for path in by_id
        .iter()
        .map(String::as_str)
        .chain(["/api/twilio/call-logs", "/api/twilio/call-logs/stats"])
    {
        let (status, _) = w.t.get(path, &own_desk_without).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "receptionist without call-logs: {path}"
        );
        let (status, _) = w.t.call(reqwest::Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "anonymous: {path}");
    }
    let (status, page) = w.t.get("/api/twilio/call-logs", &own_desk_with).await;
    assert_eq!(
        (status, page["total"].as_i64()),
        (StatusCode::OK, Some(2)),
        "the effective tenant's logs"
    );
    let (status, _) =
        w.t.get(
            &format!("/api/twilio/recording/{recording}"),
            &own_desk_with,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Admins see any tenant, and may filter to one.
    let (_, all) =
        w.t.get(
            &format!("/api/twilio/call-logs?customerId={}", w.tenant),
            &w.admin,
        )
        .await;
    assert_eq!(all["total"], 2);
    let (_, none) =
        w.t.get(
            &format!("/api/twilio/call-logs?customerId={other}"),
            &w.admin,
        )
        .await;
    assert_eq!(none["total"], 0);
    let (status, _) =
        w.t.get("/api/twilio/call-logs?customerId=ten_nope", &w.admin)
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) =
        w.t.call(
            reqwest::Method::DELETE,
            &format!("/api/twilio/call-logs/{}", w.tenant),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!((status, &body["deleted"]), (StatusCode::OK, &json!(2)));
    w.t.stop().await;
}

#[tokio::test]
async fn rollup_stats_equal_a_scan_of_the_calls() {
    let w = call_world().await;
    let outcomes = [
        Staff::Answers { after_secs: 3 },
        Staff::NoAnswer,
        Staff::Busy,
        Staff::Answers { after_secs: 9 },
    ];
    for (i, staff) in outcomes.iter().enumerate() {
        let mut s = caller();
        s.presses = vec![Press::Digits(if i % 2 == 0 { "1" } else { "2" }.into())];
        s.staff = *staff;
        s.talk_secs = 30 + i as u32 * 10;
        s.voicemail_secs = (i == 1).then_some(14);
        // A retried, shuffled delivery changes rows after they were first counted.
        s.delivery = if i == 3 {
            Delivery::Shuffled { seed: 5 }
        } else {
            Delivery::Duplicated
        };
        w.play(&s).await;
    }
    // `q` forces the scan; every caller's number contains 555.
    for status in [
        "",
        "&status=answered",
        "&status=missed",
        "&status=voicemail",
    ] {
        let (_, fast) =
            w.t.get(
                &format!("/api/twilio/call-logs/stats?x=1{status}"),
                &w.owner,
            )
            .await;
        let (_, scan) =
            w.t.get(
                &format!("/api/twilio/call-logs/stats?q=555{status}"),
                &w.owner,
            )
            .await;
        for field in [
            "total",
            "answered",
            "missed",
            "voicemails",
            "avgDuration",
            "byMenuChoice",
            "byDay",
            "byNumber",
        ] {
            assert_eq!(fast[field], scan[field], "{field} with '{status}'");
        }
        let (_, fast_page) =
            w.t.get(&format!("/api/twilio/call-logs?x=1{status}"), &w.owner)
                .await;
        let (_, scan_page) =
            w.t.get(&format!("/api/twilio/call-logs?q=555{status}"), &w.owner)
                .await;
        assert_eq!(
            fast_page["total"], scan_page["total"],
            "list total with '{status}'"
        );
    }
    let (_, stats) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    assert_eq!(
        (stats["total"].as_i64(), stats["answered"].as_i64()),
        (Some(4), Some(2))
    );

    // Moving the tenant to another zone rebuilds the local days.
    let (status, _) =
        w.t.call(
            reqwest::Method::PATCH,
            &format!("/api/admin/tenants/{}", w.tenant),
            Some(&w.admin),
            Some(json!({"timezone": "Pacific/Kiritimati"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    let (_, scan) = w.t.get("/api/twilio/call-logs/stats?q=555", &w.owner).await;
    assert_eq!(after["total"], 4);
    assert_eq!(after["byDay"], scan["byDay"]);
    w.t.stop().await;
}

#[tokio::test]
async fn answered_calls_get_a_summary_and_a_reason() {
    let w = call_world_with(true).await;
    let mut s = caller();
    s.presses = vec![Press::Digits("1".into())];
    s.script = vec![
        (
            Speaker::Caller,
            "Hi, I'd like to book an appointment for a cleaning.".into(),
        ),
        (Speaker::Staff, "Sure, Tuesday at ten?".into()),
    ];
    s.delivery = Delivery::Duplicated;
    let report = w.play(&s).await;
    let mut log = w.log(&report.call_sid).await;
    for _ in 0..100 {
        if log["summaryReady"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        log = w.log(&report.call_sid).await;
    }
    assert_eq!(log["summaryReady"], true, "{log}");
    assert!(
        log["summaryText"]
            .as_str()
            .is_some_and(|t| t.contains("book")),
        "{log}"
    );
    assert_eq!(log["callReason"], "SETUP_APPOINTMENT");
    assert!(
        log["transcriptSid"]
            .as_str()
            .is_some_and(|t| t.starts_with("GT"))
    );
    assert_eq!(log["outcome"], "answered");
    let (_, summary) =
        w.t.get(
            &format!("/api/twilio/call-logs/{}/summary", report.call_sid),
            &w.owner,
        )
        .await;
    assert_eq!(summary["callReason"], "SETUP_APPOINTMENT");
    // The duplicated recording callback requested one transcript, not two.
    let intelligence = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "intelligence")
        .count();
    assert_eq!(intelligence, 2, "the webhook and its results: {log}");

    // A forged ci-status is refused.
    let body = serde_json::json!({"transcript_sid": "GTforged", "customer_key": report.call_sid})
        .to_string();
    let hash = twilio::signature::body_sha256_hex(body.as_bytes());
    let resp =
        w.t.http
            .post(w.t.url(&format!("/api/twilio/ci-status?bodySHA256={hash}")))
            .header("content-type", "application/json")
            .header("x-twilio-signature", "forged")
            .body(body)
            .send()
            .await
            .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    w.t.stop().await;
}

#[tokio::test]
async fn a_late_callback_does_not_bring_back_a_deleted_call() {
    let w = call_world().await;
    let mut s = caller();
    s.presses = vec![Press::Digits("1".into())];
    let report = w.play(&s).await;
    let (status, body) =
        w.t.call(
            reqwest::Method::DELETE,
            "/api/twilio/call-logs",
            Some(&w.owner),
            None,
        )
        .await;
    assert_eq!((status, &body["deleted"]), (StatusCode::OK, &json!(1)));
    // Twilio's recording callback arrives after the deletion.
    let path = "/api/twilio/voice/recording-status";
    let (body, params) = form(&[
        ("AccountSid", &w.account.sid),
        ("CallSid", &report.call_sid),
        ("RecordingSid", "RElate00000000000000000000000000000"),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "12"),
    ]);
    let signature = twilio::signature::RequestValidator::new(&w.account.auth_token)
        .compute_signature(&w.t.url(path), &params);
    let (status, _) = post_form(&w.t, path, &body, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK, "accepted, not an error for Twilio");
    let (_, page) = w.t.get("/api/twilio/call-logs", &w.owner).await;
    assert_eq!(page["total"], 0, "{page}");
    let (status, _) =
        w.t.get(
            &format!("/api/twilio/call-logs/{}", report.call_sid),
            &w.owner,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, stats) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    assert_eq!(stats["total"], 0);
    // New calls are tracked as before.
    w.play(&s).await;
    let (_, page) = w.t.get("/api/twilio/call-logs", &w.owner).await;
    assert_eq!(page["total"], 1);
    w.t.stop().await;
}

#[tokio::test]
async fn calls_link_to_the_tenants_contact_for_the_caller() {
    let w = call_world().await;
    let earlier = w.play(&caller()).await;
    let (status, contact) =
        w.t.post(
            "/api/contacts",
            &w.owner,
            json!({"name": "Jane Doe", "phone": "(555) 000-1111", "email": "Jane@Example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert_eq!(contact["phone"], CALLER);
    assert_eq!(contact["email"], "jane@example.com");
    let id = contact["id"].as_str().expect("id").to_owned();
    let later = w.play(&caller()).await;
    for sid in [&earlier.call_sid, &later.call_sid] {
        assert_eq!(
            w.log(sid).await["contactId"],
            json!(id),
            "linked when read, so earlier calls too"
        );
    }
    let (_, page) = w.t.get("/api/twilio/call-logs", &w.owner).await;
    assert!(
        page["callLogs"]
            .as_array()
            .expect("logs")
            .iter()
            .all(|l| l["contactId"] == json!(id))
    );

    let (status, _) =
        w.t.post(
            "/api/contacts",
            &w.owner,
            json!({"name": "Jane again", "phone": CALLER}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) =
        w.t.post(
            "/api/contacts",
            &w.owner,
            json!({"name": "", "phone": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["fields"]["phone"].is_string() && body["error"]["fields"]["name"].is_string()
    );
    let (_, found) = w.t.get("/api/contacts?q=jane", &w.owner).await;
    assert_eq!(found["contacts"].as_array().map(Vec::len), Some(1));

    // Another tenant sees none of them, may keep the same number, and does not steal the link.
    let other = w.t.tenant(&w.admin, "Rival Plumbing").await;
    let rival =
        w.t.user(&w.admin, "owner@rival.test", "customer", &other, &[])
            .await;
    let (_, theirs) =
        w.t.get(&format!("/api/contacts?customerId={}", w.tenant), &rival)
            .await;
    assert_eq!(
        theirs["contacts"],
        json!([]),
        "customerId is an admin's parameter"
    );
    let (status, _) =
        w.t.post(
            "/api/contacts",
            &rival,
            json!({"name": "Jane at Rival", "phone": CALLER, "tenantId": w.tenant}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "created in the rival's own tenant"
    );
    assert_eq!(w.log(&later.call_sid).await["contactId"], json!(id));
    let (_, ours) = w.t.get("/api/contacts", &w.owner).await;
    assert_eq!(ours["contacts"].as_array().map(Vec::len), Some(1));

    // Receptionists need the contacts page; admins name the tenant.
    let desk =
        w.t.user(
            &w.admin,
            "desk@brightsmiles.test",
            "receptionist",
            &w.tenant,
            &["call-logs"],
        )
        .await;
    let (status, _) = w.t.get("/api/contacts", &desk).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        w.t.post(
            "/api/contacts",
            &desk,
            json!({"name": "X", "phone": "+15550005555"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = w.t.get("/api/contacts", &w.admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, listed) =
        w.t.get(&format!("/api/contacts?customerId={}", w.tenant), &w.admin)
            .await;
    assert_eq!(listed["contacts"][0]["id"], json!(id));
    let (status, _) =
        w.t.call(reqwest::Method::GET, "/api/contacts", None, None)
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    w.t.stop().await;
}

#[tokio::test]
async fn contacts_are_edited_and_deleted_within_their_tenant() {
    let w = call_world().await;
    let call = w.play(&caller()).await.call_sid;
    let create = |name: &str, phone: &str| json!({"name": name, "phone": phone});
    let (_, jane) =
        w.t.post("/api/contacts", &w.owner, create("Jane", CALLER))
            .await;
    let (_, sam) =
        w.t.post("/api/contacts", &w.owner, create("Sam", "+15550002222"))
            .await;
    let jane = jane["id"].as_str().expect("id").to_owned();
    let sam = sam["id"].as_str().expect("id").to_owned();
    let path = format!("/api/contacts/{jane}");

    let (status, body) =
        w.t.call(
            Method::PATCH,
            &path,
            Some(&w.owner),
            Some(json!({"name": "Jane Doe", "notes": "Prefers mornings"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Jane Doe");
    assert_eq!(body["phone"], CALLER, "absent fields stay");
    assert_eq!(body["notes"], "Prefers mornings");
    let (status, body) =
        w.t.call(
            Method::PATCH,
            &path,
            Some(&w.owner),
            Some(json!({"notes": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["notes"], Value::Null, "null clears");
    for (change, status) in [
        (json!({"phone": "+15550002222"}), StatusCode::CONFLICT),
        (
            json!({"email": "not-an-email"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"name": " "}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"tenantId": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (got, body) =
            w.t.call(Method::PATCH, &path, Some(&w.owner), Some(change.clone()))
                .await;
        assert_eq!(got, status, "{change} → {body}");
    }

    // Another tenant's owner reaches none of it; an admin can read it.
    let (_, other_owner) = w.other_tenant().await;
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({"name": "Hijacked"}));
        let (status, _) =
            w.t.call(method.clone(), &path, Some(&other_owner), body)
                .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
    }
    let (status, body) = w.t.get(&path, &w.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Jane Doe");

    // Deleting unlinks the calls, and deletes once.
    assert_eq!(w.log(&call).await["contactId"], json!(jane));
    let (status, _) = w.t.call(Method::DELETE, &path, Some(&w.owner), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = w.t.call(Method::DELETE, &path, Some(&w.owner), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(w.log(&call).await["contactId"], Value::Null);
    let (status, _) = w.t.get(&format!("/api/contacts/{sam}"), &w.owner).await;
    assert_eq!(status, StatusCode::OK, "the other contact stays");
    w.t.stop().await;
}

#[tokio::test]
async fn stats_bounded_by_exact_times_equal_a_scan_of_the_calls() {
    let w = call_world().await;
    // Local days in a zone far from UTC, so day edges and UTC midnights differ.
    let (status, _) =
        w.t.call(
            Method::PATCH,
            &format!("/api/admin/tenants/{}", w.tenant),
            Some(&w.admin),
            Some(json!({"timezone": "America/Los_Angeles"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let tz = jiff::tz::TimeZone::get("America/Los_Angeles").expect("zone");
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let local = |days_ago: i64, hour: i8, minute: i8| {
        today
            .checked_sub(jiff::Span::new().days(days_ago))
            .expect("date")
            .at(hour, minute, 0, 0)
            .to_zoned(tz.clone())
            .expect("zoned")
            .timestamp()
    };
    // Twelve calls over five local days, at hours on both sides of the edges below.
    let staff = [
        Staff::Answers { after_secs: 3 },
        Staff::NoAnswer,
        Staff::Busy,
        Staff::Answers { after_secs: 5 },
    ];
    let mut n = 0;
    for days_ago in 1..=5 {
        for (hour, minute) in [(6, 30), (13, 15), (23, 50)] {
            if n >= 12 {
                break;
            }
            let mut s = caller();
            s.presses = vec![Press::Digits(if n % 2 == 0 { "1" } else { "2" }.into())];
            s.staff = staff[n % staff.len()];
            s.talk_secs = 20 + n as u32;
            s.voicemail_secs = (n % 4 == 1).then_some(10);
            s.start_ms = Some(local(days_ago, hour, minute).as_millisecond());
            w.play(&s).await;
            n += 1;
        }
    }
    let enc = |t: jiff::Timestamp| {
        url::form_urlencoded::byte_serialize(t.to_string().as_bytes()).collect::<String>()
    };
    let cases = [
        // Mid-day to mid-day: two partial edges and whole days between.
        format!(
            "startDate={}&endDate={}",
            enc(local(4, 12, 0)),
            enc(local(2, 9, 0))
        ),
        // From exactly a local midnight (no left edge) to a time.
        format!(
            "startDate={}&endDate={}",
            enc(local(5, 0, 0)),
            enc(local(1, 14, 0))
        ),
        // One bound only, each way; a time and a date mixed.
        format!("startDate={}", enc(local(3, 18, 0))),
        format!("endDate={}", enc(local(3, 7, 0))),
        format!(
            "startDate={}&endDate={}",
            enc(local(4, 20, 0)),
            today.checked_sub(jiff::Span::new().days(2)).expect("date")
        ),
        // With the other filters rollups answer.
        format!(
            "startDate={}&endDate={}&status=missed",
            enc(local(4, 12, 0)),
            enc(local(1, 23, 0))
        ),
        format!(
            "startDate={}&direction=inbound&trackingNumber=%2B15551230001",
            enc(local(4, 12, 0))
        ),
        // Inside one day: a scan, as before.
        format!(
            "startDate={}&endDate={}",
            enc(local(2, 1, 0)),
            enc(local(2, 20, 0))
        ),
    ];
    for case in &cases {
        let (status, split) =
            w.t.get(&format!("/api/twilio/call-logs/stats?{case}"), &w.owner)
                .await;
        assert_eq!(status, StatusCode::OK, "{split}");
        // `q` forces the scan; every caller's number contains 555.
        let (_, scan) =
            w.t.get(
                &format!("/api/twilio/call-logs/stats?q=555&{case}"),
                &w.owner,
            )
            .await;
        for field in [
            "total",
            "answered",
            "missed",
            "voicemails",
            "outbound",
            "avgDuration",
            "appointmentsBooked",
            "byMenuChoice",
            "byDay",
            "byNumber",
        ] {
            assert_eq!(split[field], scan[field], "{field} for {case}");
        }
    }
    let (_, all) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    assert_eq!(all["total"], 12);
    let (_, first) =
        w.t.get(
            &format!("/api/twilio/call-logs/stats?{}", cases[0]),
            &w.owner,
        )
        .await;
    let total = first["total"].as_i64().unwrap_or(0);
    assert!(total > 0 && total < 12, "the bounds cut: {first}");
    w.t.stop().await;
}

#[tokio::test]
async fn search_finds_callers_by_name_and_number_fragments() {
    let w = call_world().await;
    for (name, from) in [
        (Some("JANE DOE"), "+15550001111"),
        (Some("BOB SMITH"), "+15550002222"),
        (None, "+15550003333"),
    ] {
        let mut s = Scenario::new(from, TRACKING);
        s.caller_name = name.map(str::to_owned);
        s.presses = vec![Press::Digits("1".into())];
        s.staff = Staff::Answers { after_secs: 2 };
        w.play(&s).await;
    }
    let found = |q: &'static str| {
        let t = &w.t;
        let owner = w.owner.clone();
        async move {
            let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
            let (status, page) = t.get(&format!("/api/twilio/call-logs?q={q}"), &owner).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let (_, stats) = t
                .get(&format!("/api/twilio/call-logs/stats?q={q}"), &owner)
                .await;
            assert_eq!(
                page["total"], stats["total"],
                "list and stats agree for {q}"
            );
            let mut from: Vec<String> = page["callLogs"]
                .as_array()
                .expect("calls")
                .iter()
                .map(|c| c["from"].as_str().unwrap_or_default().to_owned())
                .collect();
            from.sort();
            from
        }
    };
    let jane = vec!["+15550001111".to_owned()];
    let bob = vec!["+15550002222".to_owned()];
    let expectations = || async {
        // Names, any case, any part, spaces included.
        assert_eq!(found("jane").await, jane);
        assert_eq!(found("DoE").await, jane);
        assert_eq!(found("ne d").await, jane);
        assert_eq!(found("smith").await, bob);
        // Number fragments, however they are written.
        assert_eq!(found("000-22").await, bob);
        assert_eq!(
            found("(555) 000-3333").await,
            vec!["+15550003333".to_owned()]
        );
        assert_eq!(found("555").await.len(), 3);
        // Shorter than the index takes: still found, by a scan.
        assert_eq!(found("an").await, jane);
        // Characters that mean something to LIKE or to the index's query syntax are text.
        assert!(found("a\"b").await.is_empty());
        assert!(found("50%_").await.is_empty());
        assert!(found("OR smith").await.is_empty());
    };
    // Just stored: on SQLite the calls may still wait for the trigram index (the
    // writer moves them in a few times a second) and are found all the same.
    expectations().await;
    // Every call in the index: found through it.
    let db = &w.t.app.state.db;
    switchboard::calls::index_for_search(db)
        .await
        .expect("index");
    assert_eq!(
        switchboard::calls::search_backlog(db)
            .await
            .expect("backlog"),
        0
    );
    expectations().await;
    // A new call is found as soon as it is stored.
    let mut late = Scenario::new("+15550004444", TRACKING);
    late.caller_name = Some("ZED ZULU".into());
    late.presses = vec![Press::Digits("1".into())];
    late.staff = Staff::Answers { after_secs: 2 };
    w.play(&late).await;
    assert_eq!(found("zulu").await, vec!["+15550004444".to_owned()]);
    // Deleted calls leave the index with them, indexed (Jane) or not yet (Zed).
    let rows_before = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM calls")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(rows_before, 4);
    let (status, _) = w.t.delete("/api/twilio/call-logs", &w.owner).await;
    assert_eq!(status, StatusCode::OK);
    assert!(found("jane").await.is_empty());
    assert!(found("zulu").await.is_empty());
    switchboard::calls::index_for_search(db)
        .await
        .expect("index");
    assert!(found("555").await.is_empty());
    w.t.stop().await;
}

#[tokio::test]
async fn search_follows_a_caller_name_an_earlier_callback_brings() {
    let w = call_world().await;
    let db = &w.t.app.state.db;
    let token = w.account.auth_token.clone();
    let call = "CA5ea7c4a11e7e5ea7c4a11e7e5ea7c4a1";
    let callback =
        |path: &'static str, status: &'static str, at: &'static str, name: &'static str| {
            let t = &w.t;
            let token = token.clone();
            let account = w.account.sid.clone();
            async move {
                let (code, body) = crate::common::signed_post(
                    t,
                    path,
                    &token,
                    &[
                        ("AccountSid", account.as_str()),
                        ("CallSid", call),
                        ("From", "+15550007777"),
                        ("To", TRACKING),
                        ("Direction", "inbound"),
                        ("CallStatus", status),
                        ("CallerName", name),
                        ("Timestamp", at),
                    ],
                )
                .await;
                assert_eq!(code, StatusCode::OK, "{body}");
            }
        };
    let found = |q: &'static str| {
        let t = &w.t;
        let owner = w.owner.clone();
        async move {
            let (status, page) = t.get(&format!("/api/twilio/call-logs?q={q}"), &owner).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            page["total"].as_i64().expect("total")
        }
    };
    // The call's end arrives first, naming the caller as its lookup had it then …
    callback(
        "/api/twilio/voice/status-callback",
        "completed",
        "Tue, 01 Dec 2026 10:00:40 +0000",
        "OLDNAME LOOKUP",
    )
    .await;
    assert_eq!(found("oldname").await, 1);
    switchboard::calls::index_for_search(db)
        .await
        .expect("index");
    assert_eq!(found("oldname").await, 1, "found through the index");
    // … then its start, earlier on Twilio's clock: the call's first name is this one.
    callback(
        "/api/twilio/voice/incoming",
        "ringing",
        "Tue, 01 Dec 2026 10:00:00 +0000",
        "NEWNAME LOOKUP",
    )
    .await;
    let (_, page) = w.t.get("/api/twilio/call-logs", &w.owner).await;
    assert_eq!(
        page["callLogs"][0]["callerName"], "NEWNAME LOOKUP",
        "{page}"
    );
    for indexed in [false, true] {
        assert_eq!(found("newname").await, 1, "indexed: {indexed}");
        assert_eq!(found("oldname").await, 0, "indexed: {indexed}");
        assert_eq!(found("lookup").await, 1, "one call, once");
        switchboard::calls::index_for_search(db)
            .await
            .expect("index");
    }
    w.t.stop().await;
}
