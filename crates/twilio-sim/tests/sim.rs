//! The simulator against a small app that answers scripted TwiML and records every
//! request it gets, checking verbs, parameters, signatures and delivery modes.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::routing::any;
use twilio::client::{
    AvailableNumberSearch, Client, ClientConfig, CreateMessage, CreateTranscript, Credentials,
    MediaFormat, NumberWebhooks,
};
use twilio::signature::RequestValidator;
use twilio_sim::{Delivery, Press, Scenario, Simulator, Speaker, Staff};

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    params: Vec<(String, String)>,
    signature_ok: bool,
}

#[derive(Clone)]
struct App {
    token: String,
    base: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// path → TwiML to answer.
    scripts: Arc<Mutex<Vec<(String, String)>>>,
}

impl App {
    fn param(s: &Seen, k: &str) -> Option<String> {
        s.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
    fn on(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

async fn handle(
    State(app): State<App>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], String) {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let base = app.base.lock().expect("lock").clone();
    let url = format!("{base}{}", uri.0);
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let signature_ok = RequestValidator::new(&app.token).validate(&url, &params, signature);
    let path = uri.0.path().to_owned();
    app.seen.lock().expect("lock").push(Seen {
        path: path.clone(),
        params,
        signature_ok,
    });
    let script = app
        .scripts
        .lock()
        .expect("lock")
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| "<Response/>".into());
    ([("content-type", "text/xml")], script)
}

async fn setup(scripts: &[(&str, String)]) -> (Simulator, App, String) {
    let sim = Simulator::start().await.expect("sim");
    let account = sim.create_account("Test");
    let app = App {
        token: account.auth_token.clone(),
        base: Arc::new(Mutex::new(String::new())),
        seen: Arc::new(Mutex::new(Vec::new())),
        scripts: Arc::new(Mutex::new(
            scripts
                .iter()
                .map(|(p, t)| (p.to_string(), t.clone()))
                .collect(),
        )),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    *app.base.lock().expect("lock") = base.clone();
    let router = Router::new().fallback(any(handle)).with_state(app.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    sim.add_number(&account.sid, "+15551230001", "Main")
        .expect("number");
    sim.set_number_webhooks(
        &account.sid,
        "+15551230001",
        &format!("{base}/voice"),
        Some(&format!("{base}/status")),
        Some(&format!("{base}/sms")),
    );
    (sim, app, account.sid)
}

fn menu_and_dial(base_record: bool) -> Vec<(&'static str, String)> {
    let record = if base_record {
        r#" record="record-from-answer-dual" recordingStatusCallback="/recording""#
    } else {
        ""
    };
    vec![
        (
            "/voice",
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Start><Transcription statusCallbackUrl="/transcription"/></Start><Say>Welcome &amp; hello</Say><Pause length="2"/><Play>https://x/a.mp3</Play><Gather numDigits="1" action="/menu" timeout="4"><Say>Press one</Say></Gather><Redirect>/voice2</Redirect></Response>"#.into(),
        ),
        ("/voice2", "<Response><Say>You pressed nothing</Say><Hangup/></Response>".into()),
        (
            "/menu",
            format!(r#"<Response><Dial callerId="+15551230001" timeout="20" action="/dial-action"{record}><Number url="/whisper" statusCallback="/leg" statusCallbackEvent="initiated ringing answered completed">+15557654321</Number></Dial><Say>not reached</Say></Response>"#),
        ),
        ("/whisper", "<Response><Say>New patient</Say></Response>".into()),
        ("/dial-action", r#"<Response><Say>Leave a message</Say><Record maxLength="60" action="/vm-done" recordingStatusCallback="/vm"/></Response>"#.into()),
        ("/vm-done", "<Response><Hangup/></Response>".into()),
    ]
}

#[tokio::test]
async fn answered_call_follows_every_verb_and_signs_every_request() {
    let (sim, app, _) = setup(&menu_and_dial(true)).await;
    let mut s = Scenario::new("+15550001111", "+15551230001");
    s.presses = vec![Press::Digits("1".into())];
    s.staff = Staff::Answers { after_secs: 3 };
    s.talk_secs = 40;
    s.caller_name = Some("JANE".into());
    s.script = vec![
        (Speaker::Caller, "I want to book".into()),
        (Speaker::Staff, "Sure".into()),
    ];
    let report = sim.play(&s).await.expect("play");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.heard, vec!["Welcome & hello", "Press one"]);
    assert_eq!(report.staff_heard, vec!["New patient"]);
    assert_eq!(report.dialed, vec!["+15557654321"]);
    assert_eq!(report.dial_call_status.as_deref(), Some("completed"));

    let seen = app.seen();
    assert!(
        seen.iter().all(|s| s.signature_ok),
        "every request signed with the account's token: {seen:?}"
    );
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/voice",
            "/transcription",
            "/menu",
            "/leg",
            "/leg",
            "/leg",
            "/whisper",
            "/transcription",
            "/transcription",
            "/leg",
            "/recording",
            "/dial-action",
            "/transcription",
            "/status"
        ],
        "Twilio's order"
    );
    let first = &app.on("/voice")[0];
    assert_eq!(App::param(first, "CallStatus").as_deref(), Some("ringing"));
    assert_eq!(App::param(first, "Direction").as_deref(), Some("inbound"));
    assert_eq!(App::param(first, "CallerName").as_deref(), Some("JANE"));
    let menu = &app.on("/menu")[0];
    assert_eq!(App::param(menu, "Digits").as_deref(), Some("1"));
    let legs = app.on("/leg");
    let statuses: Vec<String> = legs
        .iter()
        .filter_map(|l| App::param(l, "CallStatus"))
        .collect();
    assert_eq!(
        statuses,
        ["initiated", "ringing", "in-progress", "completed"]
    );
    assert!(
        legs.iter()
            .all(|l| App::param(l, "ParentCallSid") == Some(report.call_sid.clone()))
    );
    assert_eq!(App::param(&legs[3], "CallDuration").as_deref(), Some("40"));
    let whisper = &app.on("/whisper")[0];
    assert_eq!(
        App::param(whisper, "Direction").as_deref(),
        Some("outbound-dial")
    );
    let action = &app.on("/dial-action")[0];
    assert_eq!(
        App::param(action, "DialCallStatus").as_deref(),
        Some("completed")
    );
    assert_eq!(
        App::param(action, "DialCallDuration").as_deref(),
        Some("40")
    );
    assert_eq!(App::param(action, "DialBridged").as_deref(), Some("true"));
    let rec = &app.on("/recording")[0];
    assert_eq!(
        App::param(rec, "RecordingStatus").as_deref(),
        Some("completed")
    );
    assert_eq!(App::param(rec, "RecordingChannels").as_deref(), Some("2"));
    assert_eq!(App::param(rec, "RecordingSid"), report.recording_sid);
    let content: Vec<String> = app
        .on("/transcription")
        .iter()
        .filter_map(|t| App::param(t, "TranscriptionEvent"))
        .collect();
    assert_eq!(
        content,
        [
            "transcription-started",
            "transcription-content",
            "transcription-content",
            "transcription-stopped"
        ]
    );
    let status = &app.on("/status")[0];
    assert_eq!(
        App::param(status, "CallStatus").as_deref(),
        Some("completed")
    );
    let duration: u32 = App::param(status, "CallDuration")
        .and_then(|d| d.parse().ok())
        .expect("CallDuration");
    assert!(duration >= 45, "menu + ringing + talk: {duration}");
    assert!(
        App::param(status, "Timestamp").is_some() && App::param(status, "SequenceNumber").is_some()
    );
    assert!(
        app.on("/vm").is_empty(),
        "the caller hung up after talking: no voicemail"
    );
}

#[tokio::test]
async fn no_answer_runs_the_dial_action_and_leaves_a_voicemail() {
    let (sim, app, _) = setup(&menu_and_dial(false)).await;
    let mut s = Scenario::new("+15550001111", "+15551230001");
    s.presses = vec![Press::Digits("1".into())];
    s.staff = Staff::NoAnswer;
    s.voicemail_secs = Some(25);
    let report = sim.play(&s).await.expect("play");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.heard.last().map(String::as_str),
        Some("Leave a message")
    );
    let action = &app.on("/dial-action")[0];
    assert_eq!(
        App::param(action, "DialCallStatus").as_deref(),
        Some("no-answer")
    );
    assert_eq!(App::param(action, "DialCallDuration").as_deref(), Some("0"));
    let vm = &app.on("/vm")[0];
    assert_eq!(App::param(vm, "RecordingDuration").as_deref(), Some("25"));
    assert_eq!(
        App::param(vm, "RecordingSource").as_deref(),
        Some("RecordVerb")
    );
    let done = &app.on("/vm-done")[0];
    assert_eq!(App::param(done, "Digits").as_deref(), Some("hangup"));
    assert!(report.voicemail_sid.is_some() && report.recording_sid.is_none());
}

#[tokio::test]
async fn busy_failed_nothing_pressed_hangup_in_menu_and_reject() {
    for (staff, expected) in [
        (Staff::Busy, "busy"),
        (Staff::Fails, "failed"),
        (Staff::Answers { after_secs: 25 }, "no-answer"),
    ] {
        let (sim, app, _) = setup(&menu_and_dial(false)).await;
        let mut s = Scenario::new("+15550001111", "+15551230001");
        s.presses = vec![Press::Digits("1".into())];
        s.staff = staff;
        s.voicemail_secs = None;
        sim.play(&s).await.expect("play");
        assert_eq!(
            App::param(&app.on("/dial-action")[0], "DialCallStatus").as_deref(),
            Some(expected),
            "{staff:?}"
        );
    }
    let (sim, app, _) = setup(&menu_and_dial(false)).await;
    let report = sim
        .play(&Scenario::new("+15550001111", "+15551230001"))
        .await
        .expect("play");
    assert_eq!(
        report.heard.last().map(String::as_str),
        Some("You pressed nothing"),
        "Gather timed out, Redirect followed"
    );
    assert!(app.on("/menu").is_empty());

    let (sim, app, _) = setup(&menu_and_dial(false)).await;
    let mut s = Scenario::new("+15550001111", "+15551230001");
    s.hang_up_in_menu = true;
    let report = sim.play(&s).await.expect("play");
    assert!(app.on("/menu").is_empty() && report.dialed.is_empty());
    assert_eq!(report.final_status, "completed");

    let (sim, app, _) = setup(&[(
        "/voice",
        r#"<Response><Reject reason="busy"/></Response>"#.into(),
    )])
    .await;
    let report = sim
        .play(&Scenario::new("+15550001111", "+15551230001"))
        .await
        .expect("play");
    assert_eq!(report.final_status, "busy");
    assert_eq!(
        App::param(&app.on("/status")[0], "CallStatus").as_deref(),
        Some("busy")
    );
}

#[tokio::test]
async fn bad_twiml_and_server_errors_are_application_errors() {
    let (sim, _, _) = setup(&[("/voice", "<Response><Say>unclosed".into())]).await;
    let report = sim
        .play(&Scenario::new("+15550001111", "+15551230001"))
        .await
        .expect("play");
    assert!(
        report.errors.iter().any(|e| e.contains("malformed TwiML")),
        "{:?}",
        report.errors
    );
    let (sim, _, _) = setup(&[(
        "/voice",
        r#"<Response><Redirect>/voice</Redirect></Response>"#.into(),
    )])
    .await;
    let report = sim
        .play(&Scenario::new("+15550001111", "+15551230001"))
        .await
        .expect("play");
    assert!(
        report.errors.iter().any(|e| e.contains("loop")),
        "a redirect loop is cut off: {:?}",
        report.errors
    );
    assert!(matches!(
        sim.play(&Scenario::new("+15550001111", "+15559999999"))
            .await,
        Err(twilio_sim::SimError::UnknownNumber(_))
    ));
}

fn callback_paths(app: &App) -> Vec<(String, String)> {
    app.seen()
        .into_iter()
        .filter(|s| matches!(s.path.as_str(), "/leg" | "/recording" | "/status"))
        .map(|s| {
            (
                s.path.clone(),
                App::param(&s, "CallStatus")
                    .or_else(|| App::param(&s, "RecordingStatus"))
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn delivery_modes() {
    let mut s = Scenario::new("+15550001111", "+15551230001");
    s.presses = vec![Press::Digits("1".into())];
    let (sim, app, _) = setup(&menu_and_dial(true)).await;
    sim.play(&s).await.expect("play");
    let in_order = callback_paths(&app);
    assert_eq!(in_order.len(), 6);

    let (sim, app, _) = setup(&menu_and_dial(true)).await;
    s.delivery = Delivery::Duplicated;
    sim.play(&s).await.expect("play");
    let dup = callback_paths(&app);
    assert_eq!(dup.len(), 12);
    assert!(
        dup.chunks(2).all(|p| p[0] == p[1]),
        "each sent twice in a row"
    );

    let (sim, app, _) = setup(&menu_and_dial(true)).await;
    s.delivery = Delivery::Shuffled { seed: 3 };
    sim.play(&s).await.expect("play");
    let shuffled = callback_paths(&app);
    assert_ne!(shuffled, in_order, "a different order");
    let (mut a, mut b) = (shuffled.clone(), in_order.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same callbacks");
    // Report-only callbacks come after every TwiML request when shuffled.
    let seen = app.seen();
    let last_twiml = seen
        .iter()
        .rposition(|s| {
            matches!(
                s.path.as_str(),
                "/voice" | "/menu" | "/whisper" | "/dial-action"
            )
        })
        .expect("twiml");
    let first_cb = seen
        .iter()
        .position(|s| matches!(s.path.as_str(), "/leg" | "/status"))
        .expect("callback");
    assert!(first_cb > last_twiml);
}

#[tokio::test]
async fn inbound_sms_is_signed() {
    let (sim, app, _) = setup(&[(
        "/sms",
        "<Response><Message>Thanks!</Message></Response>".into(),
    )])
    .await;
    let (status, body) = sim
        .send_sms("+15550001111", "+15551230001", "Hello 👋")
        .await
        .expect("sms");
    assert_eq!(status, 200);
    assert!(body.contains("Thanks!"));
    let sms = &app.on("/sms")[0];
    assert!(sms.signature_ok);
    assert_eq!(App::param(sms, "Body").as_deref(), Some("Hello 👋"));
    assert_eq!(App::param(sms, "SmsStatus").as_deref(), Some("received"));
}

/// The REST API through the real client, and its shapes against the OpenAPI spec.
#[tokio::test]
async fn rest_api_through_the_twilio_client() {
    let (sim, app, account) = setup(&menu_and_dial(true)).await;
    let base = app.base.lock().expect("lock").clone();
    let token = app.token.clone();
    let (key, secret) = sim.create_api_key(&account).expect("key");
    let client = Client::new(
        Credentials::api_key(&account, key, secret, Some(token.clone())),
        ClientConfig::with_base(sim.base_url()),
    )
    .expect("client");

    assert_eq!(client.fetch_account().await.expect("account").sid, account);
    assert!(!client.fell_back_to_auth_token(), "the API key is accepted");
    let bad = Client::new(
        Credentials::auth_token(&account, "wrong"),
        ClientConfig::with_base(sim.base_url()),
    )
    .expect("client");
    assert_eq!(
        bad.fetch_account().await.expect_err("401").status(),
        Some(401)
    );
    let refused_key = Client::new(
        Credentials::api_key(&account, "SKnope", "nope", Some(token)),
        ClientConfig::with_base(sim.base_url()),
    )
    .expect("client");
    refused_key
        .fetch_account()
        .await
        .expect("falls back to the token");
    assert!(refused_key.fell_back_to_auth_token());

    let found = client
        .search_available_phone_numbers(&AvailableNumberSearch {
            country_code: "US".into(),
            area_code: Some("555".into()),
            page_size: Some(3),
            ..AvailableNumberSearch::default()
        })
        .await
        .expect("search");
    assert_eq!(found.len(), 3);
    for n in &found {
        client
            .purchase_incoming_phone_number(&twilio::client::PurchaseNumber {
                phone_number: Some(n.phone_number.clone()),
                area_code: None,
                webhooks: NumberWebhooks::switchboard(&base, "/voice", "/status", "/sms"),
            })
            .await
            .expect("purchase");
    }
    let page = client.list_incoming_phone_numbers(2).await.expect("page");
    assert_eq!(page.incoming_phone_numbers.len(), 2);
    assert!(page.next_page_uri.is_some());
    let all = client.all_incoming_phone_numbers(100).await.expect("all");
    assert_eq!(all.len(), 4);
    let bought = all
        .iter()
        .find(|n| n.phone_number == found[0].phone_number)
        .expect("bought");
    assert_eq!(
        bought.voice_url.as_deref(),
        Some(format!("{base}/voice").as_str())
    );
    let renamed = client
        .update_incoming_phone_number(
            &bought.sid,
            &NumberWebhooks {
                friendly_name: Some("Renamed".into()),
                ..NumberWebhooks::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(renamed.friendly_name.as_deref(), Some("Renamed"));
    client
        .release_incoming_phone_number(&bought.sid)
        .await
        .expect("release");
    assert_eq!(
        client
            .fetch_incoming_phone_number(&bought.sid)
            .await
            .expect_err("gone")
            .status(),
        Some(404)
    );

    // A call leaves a recording: metadata, media, and a transcript with a summary.
    let mut s = Scenario::new("+15550001111", "+15551230001");
    s.presses = vec![Press::Digits("1".into())];
    s.talk_secs = 20;
    s.script = vec![(Speaker::Caller, "I'd like to book an appointment".into())];
    // Long enough that its sentences take two pages.
    for i in 0..150 {
        let who = if i % 2 == 0 {
            Speaker::Staff
        } else {
            Speaker::Caller
        };
        s.script.push((who, format!("line {i}")));
    }
    let report = sim.play(&s).await.expect("play");
    let rec_sid = report.recording_sid.expect("recording");
    let rec = client.fetch_recording(&rec_sid).await.expect("recording");
    assert_eq!(rec.duration.as_deref(), Some("20"));
    let call = client.fetch_call(&report.call_sid).await.expect("call");
    assert_eq!(call.status, "completed");
    let media = client
        .recording_media(&rec_sid, MediaFormat::Wav, Some("bytes=0-43"))
        .await
        .expect("media");
    assert_eq!(media.status, 206);
    assert_eq!(media.content_type, "audio/x-wav");

    let service = sim
        .create_intelligence_service(&account, Some(&format!("{base}/ci")))
        .expect("service");
    let transcript = client
        .create_transcript(&CreateTranscript {
            service_sid: service,
            recording_sid: rec_sid,
            customer_key: Some(report.call_sid.clone()),
        })
        .await
        .expect("transcript");
    for _ in 0..50 {
        if !app.on("/ci").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!app.on("/ci").is_empty(), "the service webhook was called");
    assert_eq!(
        client
            .fetch_transcript(&transcript.sid)
            .await
            .expect("fetch")
            .status,
        "completed"
    );
    let results = client
        .operator_results(&transcript.sid)
        .await
        .expect("results");
    let summary = results
        .iter()
        .find(|r| r.name == "Conversation Summary")
        .and_then(|r| r.generated_text())
        .expect("summary");
    assert!(summary.contains("book"), "{summary}");
    // Sentences, every page followed (151 lines at 100 a page), channel 1 the caller.
    let sentences = client
        .transcript_sentences(&transcript.sid, 10)
        .await
        .expect("sentences");
    assert_eq!(sentences.len(), 151);
    assert_eq!(sentences[0].media_channel, 1);
    assert_eq!(
        sentences[0].transcript.as_deref(),
        Some("I'd like to book an appointment")
    );
    assert_eq!(sentences[1].media_channel, 2);
    assert_eq!(sentences[150].transcript.as_deref(), Some("line 149"));
    assert_eq!(
        client
            .transcript_sentences(&transcript.sid, 1)
            .await
            .expect("one page")
            .len(),
        100,
        "at most the pages asked for"
    );
    assert!(
        results
            .iter()
            .any(|r| r.predicted_label.as_deref() == Some("SETUP_APPOINTMENT"))
    );

    // Messages: queued → sent → delivered, or undelivered with an error code.
    let sent = client
        .create_message(&CreateMessage {
            status_callback: Some(format!("{base}/sms-status")),
            ..CreateMessage::new("+15557654321", "+15551230001", "See you Tuesday")
        })
        .await
        .expect("message");
    assert_eq!(sent.status, "queued");
    let failing = client
        .create_message(&CreateMessage::new("+15557650000", "+15551230001", "x"))
        .await
        .expect("message");
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert_eq!(
        client.fetch_message(&sent.sid).await.expect("fetch").status,
        "delivered"
    );
    let failed = client.fetch_message(&failing.sid).await.expect("fetch");
    assert_eq!(
        (failed.status.as_str(), failed.error_code),
        ("undelivered", Some(30003))
    );
    let statuses: Vec<String> = app
        .on("/sms-status")
        .iter()
        .filter_map(|s| App::param(s, "MessageStatus"))
        .collect();
    assert_eq!(statuses, ["sent", "delivered"]);
    assert!(app.on("/sms-status").iter().all(|s| s.signature_ok));
}

/// Raw JSON of each resource against the spec's schema properties.
#[tokio::test]
async fn rest_shapes_match_the_openapi_spec() {
    let spec_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/twilio-oai/twilio_api_v2010.json");
    let Ok(text) = std::fs::read_to_string(&spec_path) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have ../shared/twilio-oai"
        );
        eprintln!("skipping: no ../shared/twilio-oai beside this checkout");
        return;
    };
    let spec: serde_json::Value = serde_json::from_str(&text).expect("spec");
    let (sim, _, account) = setup(&menu_and_dial(true)).await;
    let token = sim_token(&sim, &account);
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", sim.base_url());
        let (account, token) = (account.clone(), token.clone());
        async move {
            let resp = http
                .get(url)
                .basic_auth(account, Some(token))
                .send()
                .await
                .expect("get");
            assert!(resp.status().is_success(), "{}", resp.status());
            resp.json::<serde_json::Value>().await.expect("json")
        }
    };
    let mut s = Scenario::new("+15550001111", "+15551230001");
    s.presses = vec![Press::Digits("1".into())];
    let report = sim.play(&s).await.expect("play");
    let rec = report.recording_sid.expect("recording");
    let check = |schema: &str, value: &serde_json::Value| {
        let props = &spec["components"]["schemas"][schema]["properties"];
        assert!(props.is_object(), "{schema}");
        for key in value.as_object().expect("object").keys() {
            assert!(
                props.get(key).is_some(),
                "{schema}: {key} is not in the spec"
            );
        }
    };
    check(
        "api.v2010.account",
        &get(format!("/2010-04-01/Accounts/{account}.json")).await,
    );
    let numbers = get(format!(
        "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json"
    ))
    .await;
    let list_props = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"]
        ["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"];
    for key in numbers.as_object().expect("page").keys() {
        assert!(list_props.get(key).is_some(), "number page: {key}");
    }
    check(
        "api.v2010.account.incoming_phone_number",
        &numbers["incoming_phone_numbers"][0],
    );
    check(
        "api.v2010.account.call",
        &get(format!(
            "/2010-04-01/Accounts/{account}/Calls/{}.json",
            report.call_sid
        ))
        .await,
    );
    check(
        "api.v2010.account.recording",
        &get(format!(
            "/2010-04-01/Accounts/{account}/Recordings/{rec}.json"
        ))
        .await,
    );
    let available = get(format!(
        "/2010-04-01/Accounts/{account}/AvailablePhoneNumbers/US/Local.json"
    ))
    .await;
    check(
        "api.v2010.account.available_phone_number_country.available_phone_number_local",
        &available["available_phone_numbers"][0],
    );
    // A TwiML App: created, read, listed, changed and deleted as Twilio does.
    let created = http
        .post(format!(
            "{}/2010-04-01/Accounts/{account}/Applications.json",
            sim.base_url()
        ))
        .basic_auth(&account, Some(&token))
        .form(&[
            ("FriendlyName", "Softphone"),
            ("VoiceUrl", "https://sb.example.com/api/twilio/voice/client"),
            ("VoiceMethod", "POST"),
        ])
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let app: serde_json::Value = created.json().await.expect("json");
    check("api.v2010.account.application", &app);
    let app_sid = app["sid"].as_str().expect("sid").to_owned();
    assert!(app_sid.starts_with("AP") && app_sid.len() == 34, "{app}");
    assert_eq!(
        app["voice_url"],
        "https://sb.example.com/api/twilio/voice/client"
    );
    let apps = get(format!("/2010-04-01/Accounts/{account}/Applications.json")).await;
    let list_props = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Applications.json"]["get"]["responses"]
        ["200"]["content"]["application/json"]["schema"]["properties"];
    for key in apps.as_object().expect("page").keys() {
        assert!(list_props.get(key).is_some(), "application page: {key}");
    }
    assert_eq!(apps["applications"][0]["sid"], app_sid.as_str());
    let changed: serde_json::Value = http
        .post(format!(
            "{}/2010-04-01/Accounts/{account}/Applications/{app_sid}.json",
            sim.base_url()
        ))
        .basic_auth(&account, Some(&token))
        .form(&[("VoiceUrl", "https://other.example.com/voice")])
        .send()
        .await
        .expect("update")
        .json()
        .await
        .expect("json");
    assert_eq!(changed["voice_url"], "https://other.example.com/voice");
    assert_eq!(changed["friendly_name"], "Softphone");
    let gone = http
        .delete(format!(
            "{}/2010-04-01/Accounts/{account}/Applications/{app_sid}.json",
            sim.base_url()
        ))
        .basic_auth(&account, Some(&token))
        .send()
        .await
        .expect("delete");
    assert_eq!(gone.status(), 204);
    assert!(sim.application(&account, &app_sid).is_none());

    // An unknown resource: Twilio's error body.
    let resp = http
        .get(format!(
            "{}/2010-04-01/Accounts/{account}/Calls/CAnope.json",
            sim.base_url()
        ))
        .basic_auth(&account, Some(&token))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 404);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        (err["code"].as_i64(), err["status"].as_i64()),
        (Some(20404), Some(404))
    );
    assert!(
        err["more_info"]
            .as_str()
            .is_some_and(|m| m.ends_with("20404"))
    );
}

fn sim_token(sim: &Simulator, account: &str) -> String {
    sim.account_token(account).expect("token")
}

/// What a client other than ours relies on: every field the spec documents, real
/// dates, list filters, Twilio's error bodies and headers, stored update parameters.
#[tokio::test]
async fn rest_answers_as_twilio_s_own_libraries_expect() {
    let spec_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/twilio-oai/twilio_api_v2010.json");
    let spec: Option<serde_json::Value> = std::fs::read_to_string(&spec_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    assert!(
        spec.is_some() || std::env::var_os("CI").is_none(),
        "CI must have ../shared/twilio-oai"
    );
    let (sim, _, account) = setup(&menu_and_dial(true)).await;
    let token = sim_token(&sim, &account);
    let http = reqwest::Client::new();
    let base = sim.base_url().to_owned();
    let call = |method: reqwest::Method, path: &str, form: &[(&str, &str)]| {
        let req = http
            .request(
                method,
                format!("{base}/2010-04-01/Accounts/{account}{path}"),
            )
            .basic_auth(&account, Some(&token))
            .form(form);
        async move {
            let resp = req.send().await.expect("send");
            let status = resp.status();
            (
                status,
                resp.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let mut s = Scenario::new("+15550001111", "+15551230001");
    s.presses = vec![Press::Digits("1".into())];
    let report = sim.play(&s).await.expect("play");
    let rec = report.recording_sid.clone().expect("recording");
    let (_, _message) = call(
        reqwest::Method::POST,
        "/Messages.json",
        &[
            ("To", "+15557650000"),
            ("From", "+15551230001"),
            ("Body", "hi"),
        ],
    )
    .await;
    let (_, _other) = call(
        reqwest::Method::POST,
        "/Messages.json",
        &[
            ("To", "+15557650099"),
            ("From", "+15551230001"),
            ("Body", "hi"),
        ],
    )
    .await;

    // Every documented field is sent, with real dates.
    let (_, acct) = call(reqwest::Method::GET, ".json", &[]).await;
    let (_, numbers) = call(reqwest::Method::GET, "/IncomingPhoneNumbers.json", &[]).await;
    let number = numbers["incoming_phone_numbers"][0].clone();
    let (_, the_call) = call(
        reqwest::Method::GET,
        &format!("/Calls/{}.json", report.call_sid),
        &[],
    )
    .await;
    let (_, recording) = call(
        reqwest::Method::GET,
        &format!("/Recordings/{rec}.json"),
        &[],
    )
    .await;
    let (_, messages) = call(
        reqwest::Method::GET,
        "/Messages.json?To=%2B15557650000",
        &[],
    )
    .await;
    assert_eq!(
        messages["messages"].as_array().map(Vec::len),
        Some(1),
        "To filters"
    );
    let message = messages["messages"][0].clone();
    let this_year = jiff::Timestamp::now().strftime("%Y").to_string();
    for (schema, value) in [
        ("api.v2010.account", &acct),
        ("api.v2010.account.incoming_phone_number", &number),
        ("api.v2010.account.call", &the_call),
        ("api.v2010.account.recording", &recording),
        ("api.v2010.account.message", &message),
    ] {
        for date in ["date_created", "date_updated"] {
            let text = value[date].as_str().unwrap_or_default();
            assert!(
                text.contains(&this_year) && text.ends_with("+0000"),
                "{schema}.{date} = {text:?}"
            );
        }
        if let Some(spec) = &spec {
            let props = spec["components"]["schemas"][schema]["properties"]
                .as_object()
                .expect("schema");
            let sent = value.as_object().expect("object");
            for key in props.keys() {
                assert!(sent.contains_key(key), "{schema}: {key} is never sent");
            }
            for key in sent.keys() {
                assert!(
                    props.contains_key(key),
                    "{schema}: {key} is not in the spec"
                );
            }
        }
    }
    // The recording's media is served here, not at api.twilio.com.
    let media = recording["media_url"].as_str().expect("media_url");
    assert!(media.starts_with(&base), "{media}");
    let audio = http
        .get(format!("{media}.mp3"))
        .basic_auth(&account, Some(&token))
        .send()
        .await
        .expect("media");
    assert_eq!(audio.status(), 200);

    // Lists we do not call yet, with their filters.
    let (status, calls) = call(
        reqwest::Method::GET,
        "/Calls.json?Status=completed&To=%2B15551230001",
        &[],
    )
    .await;
    assert_eq!(status, 200, "{calls}");
    let sids: Vec<&str> = calls["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter_map(|c| c["sid"].as_str())
        .collect();
    assert_eq!(sids, vec![report.call_sid.as_str()], "{calls}");
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let (_, none) = call(
        reqwest::Method::GET,
        &format!(
            "/Calls.json?StartTime%3E=2999-01-01&To=%2B15551230001{}",
            ""
        ),
        &[],
    )
    .await;
    assert_eq!(none["calls"].as_array().map(Vec::len), Some(0), "{none}");
    let (_, same_day) = call(
        reqwest::Method::GET,
        &format!("/Calls.json?StartTime={today}&To=%2B15551230001"),
        &[],
    )
    .await;
    assert_eq!(same_day["calls"].as_array().map(Vec::len), Some(1));
    let (status, recordings) = call(
        reqwest::Method::GET,
        &format!("/Recordings.json?CallSid={}", report.call_sid),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(recordings["recordings"][0]["sid"], rec.as_str());

    // A number update keeps what it was given.
    let (status, updated) = call(
        reqwest::Method::POST,
        &format!(
            "/IncomingPhoneNumbers/{}.json",
            number["sid"].as_str().expect("sid")
        ),
        &[
            ("SmsMethod", "GET"),
            ("StatusCallbackMethod", "GET"),
            ("VoiceFallbackUrl", "https://fallback.example/voice"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["sms_method"], "GET");
    assert_eq!(updated["status_callback_method"], "GET");
    assert_eq!(
        updated["voice_fallback_url"],
        "https://fallback.example/voice"
    );

    // Twilio's errors: JSON for a wrong method, Basic challenge for no credentials.
    let resp = http
        .delete(format!(
            "{base}/2010-04-01/Accounts/{account}/Messages.json"
        ))
        .basic_auth(&account, Some(&token))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 405);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(err["status"], 405);
    assert!(
        err["code"].is_number() && err["message"].is_string(),
        "{err}"
    );
    let resp = http
        .get(format!("{base}/2010-04-01/Accounts/{account}/Calls.json"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Basic")),
        "{:?}",
        resp.headers()
    );
}

/// The Python interpreter with Twilio's official `twilio` package (`.ci/run` installs it
/// in `target/pytwilio`), or `None` with a line saying why — a failure when
/// `TWILIO_SIM_REQUIRE_PYTHON` is set.
fn official_library_python() -> Option<std::path::PathBuf> {
    let default =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pytwilio/bin/python");
    let python = std::env::var_os("TWILIO_SIM_PYTHON").map_or(default, std::path::PathBuf::from);
    let has_library = std::process::Command::new(&python)
        .args(["-c", "import twilio"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_library {
        return Some(python);
    }
    assert!(
        std::env::var_os("TWILIO_SIM_REQUIRE_PYTHON").is_none(),
        "TWILIO_SIM_REQUIRE_PYTHON is set but {} cannot import twilio",
        python.display()
    );
    eprintln!(
        "official library test skipped: {} cannot import twilio \
         (python3 -m venv target/pytwilio && target/pytwilio/bin/pip install twilio)",
        python.display()
    );
    None
}

/// Every resource the simulator serves, through Twilio's own Python helper library.
#[tokio::test]
async fn official_python_library_sees_a_faithful_twilio() {
    let Some(python) = official_library_python() else {
        return;
    };
    let (sim, _app, account) = setup(&menu_and_dial(true)).await;
    let service = sim
        .create_intelligence_service(&account, None)
        .expect("service");
    let mut s = Scenario::new("+15550001111", "+15551230001");
    s.presses = vec![Press::Digits("1".into())];
    sim.play(&s).await.expect("play");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/official_library.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .env("TWILIO_SIM_BASE", sim.base_url())
        .env("TWILIO_SIM_ACCOUNT_SID", &account)
        .env("TWILIO_SIM_AUTH_TOKEN", sim_token(&sim, &account))
        .env("TWILIO_SIM_NUMBER", "+15551230001")
        .env("TWILIO_SIM_VI_SERVICE", &service)
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "Twilio's Python library against the simulator: {}",
        stdout.trim()
    );
    assert!(
        out.status.success() && stdout.contains(" passed, 0 failed"),
        "{stdout}\n{stderr}"
    );
}

/// A browser's call through a TwiML App goes to the app's Voice URL, signed, with the
/// SDK's parameters and the app's sid.
#[tokio::test]
async fn a_browser_call_through_a_twiml_app_requests_its_voice_url() {
    let (sim, app, account) = setup(&[(
        "/client",
        "<Response><Say>Connecting.</Say></Response>".to_owned(),
    )])
    .await;
    let base = app.base.lock().expect("lock").clone();
    let token = sim_token(&sim, &account);
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "{}/2010-04-01/Accounts/{account}/Applications.json",
            sim.base_url()
        ))
        .basic_auth(&account, Some(&token))
        .form(&[
            ("FriendlyName", "Softphone"),
            ("VoiceUrl", &format!("{base}/client")),
        ])
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let app_sid = created["sid"].as_str().expect("sid");
    let report = sim
        .client_call_through_app(
            &account,
            app_sid,
            &Scenario::new("client:usr_1", "+15557654321"),
            &[("FromNumber", "+15551230001")],
        )
        .await
        .expect("call");
    assert_eq!(report.heard, vec!["Connecting.".to_owned()]);
    let seen = app.on("/client");
    assert_eq!(seen.len(), 1);
    assert!(seen[0].signature_ok);
    assert_eq!(
        App::param(&seen[0], "ApplicationSid").as_deref(),
        Some(app_sid)
    );
    assert_eq!(
        App::param(&seen[0], "From").as_deref(),
        Some("client:usr_1")
    );
    assert_eq!(App::param(&seen[0], "To").as_deref(), Some("+15557654321"));
    assert_eq!(
        App::param(&seen[0], "FromNumber").as_deref(),
        Some("+15551230001")
    );
    assert!(
        sim.client_call_through_app(&account, "AP0000", &Scenario::new("client:x", "+1555"), &[])
            .await
            .is_err()
    );
}
