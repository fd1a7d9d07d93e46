//! Conversation intelligence end to end: transcripts labelled by speaker, Voice
//! Intelligence sentences, the classification job (local, and an OpenAI-compatible stub
//! for the LLM path), corrections and their export, and the status page.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use twilio_sim::{Speaker, Staff};

use crate::calls::{CallWorld, call_world_env, call_world_with, caller};

/// Turns on real-time transcription for the world's tenant.
async fn transcribe(w: &CallWorld) {
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
            json!({"transcriptionEnabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Waits until the call log satisfies `done` (jobs run in the background).
pub(crate) async fn wait_for(
    w: &CallWorld,
    call_sid: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut log = w.log(call_sid).await;
    for _ in 0..150 {
        if done(&log) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        log = w.log(call_sid).await;
    }
    panic!("the call never got there: {log}");
}

pub(crate) fn booking_script() -> Vec<(Speaker, String)> {
    vec![
        (
            Speaker::Caller,
            "Hi, my tooth has been hurting, can I come in this week?".into(),
        ),
        (Speaker::Staff, "Sure. How about Thursday at 10?".into()),
        (Speaker::Caller, "Thursday at 10 works.".into()),
        (Speaker::Staff, "Great, see you Thursday.".into()),
    ]
}

fn no_booking_script() -> Vec<(Speaker, String)> {
    vec![
        (
            Speaker::Caller,
            "I'd like to book a cleaning for Saturday.".into(),
        ),
        (
            Speaker::Staff,
            "I'm sorry, we're fully booked on Saturday.".into(),
        ),
        (Speaker::Caller, "Okay, I'll call back next week.".into()),
    ]
}

#[tokio::test]
async fn transcribed_calls_are_classified_and_counted() {
    let w = call_world_with(false).await;
    transcribe(&w).await;

    let mut booked = caller();
    booked.staff = Staff::Answers { after_secs: 3 };
    booked.script = booking_script();
    let booked = w.play(&booked).await.call_sid;

    let mut not_booked = caller();
    not_booked.script = no_booking_script();
    let not_booked = w.play(&not_booked).await.call_sid;

    let mut missed = caller();
    missed.staff = Staff::Busy;
    let missed = w.play(&missed).await.call_sid;

    let log = wait_for(&w, &booked, |l| !l["appointmentBooked"].is_null()).await;
    assert_eq!(log["appointmentBooked"], true, "{log}");
    assert_eq!(log["callReason"], "SETUP_APPOINTMENT");
    assert_eq!(log["classificationSource"], "local");
    assert!(
        !log["classificationEvidence"]
            .as_array()
            .expect("evidence")
            .is_empty(),
        "{log}"
    );
    // The transcript is labelled by track, in sequence order.
    let transcript = log["transcriptText"].as_str().expect("transcript");
    assert!(
        transcript.starts_with("Customer: Hi, my tooth")
            && transcript.contains("\nAgent: Sure. How about Thursday at 10?"),
        "{transcript}"
    );
    assert_eq!(log["transcriptSource"], "realtime");

    let log = wait_for(&w, &not_booked, |l| !l["appointmentBooked"].is_null()).await;
    assert_eq!(log["appointmentBooked"], false, "{log}");
    assert_eq!(log["callReason"], "SETUP_APPOINTMENT");

    // No text: not analysed, never "not booked".
    let log = w.log(&missed).await;
    assert!(log["appointmentBooked"].is_null(), "{log}");

    // Stats count bookings for real, from the rollups and from a scan alike.
    let (_, stats) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    assert_eq!(stats["appointmentsBooked"], 1, "{stats}");
    let (_, scanned) =
        w.t.get("/api/twilio/call-logs/stats?q=jane", &w.owner)
            .await;
    assert_eq!(scanned["appointmentsBooked"], 1, "{scanned}");

    // Filters for booked and reason.
    let (_, list) =
        w.t.get("/api/twilio/call-logs?appointmentBooked=true", &w.owner)
            .await;
    let ids: Vec<&str> = list["callLogs"]
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|c| c["callSid"].as_str())
        .collect();
    assert_eq!(ids, vec![booked.as_str()], "{list}");
    let (_, list) =
        w.t.get("/api/twilio/call-logs?appointmentBooked=unknown", &w.owner)
            .await;
    assert_eq!(list["total"], 1, "{list}");
    let (_, list) =
        w.t.get(
            "/api/twilio/call-logs?callReason=SETUP_APPOINTMENT",
            &w.owner,
        )
        .await;
    assert_eq!(list["total"], 2, "{list}");
    let (status, body) =
        w.t.get("/api/twilio/call-logs?callReason=BOOKED", &w.owner)
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The summary endpoint says where each part came from.
    let (status, s) =
        w.t.get(&format!("/api/twilio/call-logs/{booked}/summary"), &w.owner)
            .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["classification"]["source"], "local");
    assert_eq!(s["transcript"]["source"], "realtime");
    assert_eq!(s["analysed"], true);
    w.t.stop().await;
}

#[tokio::test]
async fn corrections_win_are_recorded_and_export_as_labelled_lines() {
    let w = call_world_with(false).await;
    transcribe(&w).await;
    let mut s = caller();
    s.script = booking_script();
    let sid = w.play(&s).await.call_sid;
    wait_for(&w, &sid, |l| l["appointmentBooked"] == true).await;

    let path = format!("/api/twilio/call-logs/{sid}/classification");
    // Bad input: a reason we do not know, a wrong type, not JSON.
    let (status, body) =
        w.t.put(
            &path,
            &w.owner,
            json!({"appointmentBooked": false, "callReason": "NOPE"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) =
        w.t.put(
            &path,
            &w.owner,
            json!({"appointmentBooked": "no", "callReason": "OTHER"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Another tenant's owner cannot see or correct it.
    let (_, other) = w.other_tenant().await;
    let (status, _) =
        w.t.put(
            &path,
            &other,
            json!({"appointmentBooked": false, "callReason": "OTHER"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) =
        w.t.put(
            &path,
            &w.owner,
            json!({"appointmentBooked": false, "callReason": "GET_HOURS"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["classification"]["source"], "correction");
    assert_eq!(
        body["classification"]["correctedBy"],
        "owner@brightsmiles.test"
    );
    let log = w.log(&sid).await;
    assert_eq!(log["appointmentBooked"], false);
    assert_eq!(log["callReason"], "GET_HOURS");
    let (_, stats) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    assert_eq!(
        stats["appointmentsBooked"], 0,
        "the correction wins in the stats: {stats}"
    );

    // A later event on the call (Twilio redelivering) does not undo the correction.
    let (_, again) =
        w.t.get(&format!("/api/twilio/call-logs/{sid}/summary"), &w.owner)
            .await;
    assert_eq!(again["classification"]["source"], "correction", "{again}");

    let resp =
        w.t.http
            .get(w.t.url("/api/twilio/call-logs/corrections.jsonl"))
            .bearer_auth(&w.owner)
            .send()
            .await
            .expect("export");
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.expect("body");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = &lines[0];
    assert_eq!(line["id"], sid.as_str());
    assert_eq!(line["kind"], "transcript");
    assert!(
        line["text"]
            .as_str()
            .is_some_and(|t| t.contains("Customer:"))
    );
    assert_eq!(line["appointmentBooked"], false);
    assert_eq!(line["callReason"], "GET_HOURS");
    assert_eq!(line["previous"]["appointmentBooked"], true);
    assert_eq!(line["previous"]["source"], "local");
    // The other tenant's export is empty.
    let resp =
        w.t.http
            .get(w.t.url("/api/twilio/call-logs/corrections.jsonl"))
            .bearer_auth(&other)
            .send()
            .await
            .expect("export");
    assert_eq!(resp.text().await.expect("body"), "");
    w.t.stop().await;
}

#[tokio::test]
async fn voice_intelligence_sentences_become_the_transcript() {
    let w = call_world_with(true).await;
    let mut s = caller();
    s.presses = vec![twilio_sim::Press::Digits("1".into())];
    s.script = booking_script();
    let sid = w.play(&s).await.call_sid;
    let log = wait_for(&w, &sid, |l| {
        l["transcriptSource"] == "vi" && !l["appointmentBooked"].is_null()
    })
    .await;
    let transcript = log["transcriptText"].as_str().expect("transcript");
    assert!(
        transcript.starts_with("Customer: Hi, my tooth")
            && transcript.contains("Agent: Great, see you Thursday."),
        "{transcript}"
    );
    assert_eq!(log["appointmentBooked"], true, "{log}");
    assert!(log["summaryText"].is_string());
    w.t.stop().await;
}

/// An OpenAI-compatible endpoint that answers each request with the next of `answers`
/// (status, body), repeating the last.
async fn llm_stub(answers: Vec<(u16, String)>) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(answers);
    let counter = calls.clone();
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(move |body: axum::Json<Value>| {
                let answers = answers.clone();
                let counter = counter.clone();
                async move {
                    assert_eq!(body["response_format"]["type"], "json_object");
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let (status, text) = answers[n.min(answers.len() - 1)].clone();
                    (
                        axum::http::StatusCode::from_u16(status).expect("status"),
                        [("content-type", "application/json")],
                        text,
                    )
                }
            }),
        )
        .route(
            "/v1/models",
            axum::routing::get(|| async { axum::Json(json!({"data": []})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1"), calls)
}

/// A call world whose server classifies through an LLM stub answering `answers`, and
/// the stub's request count.
async fn llm_world(answers: Vec<(u16, String)>) -> (CallWorld, Arc<AtomicUsize>) {
    let (base, calls) = llm_stub(answers).await;
    let w = call_world_env(
        false,
        &[
            ("OPENAI_BASE_URL", base.as_str()),
            ("SWITCHBOARD_LLM_PER_MINUTE", "100"),
        ],
    )
    .await;
    (w, calls)
}

fn completion(content: &str) -> String {
    json!({"choices": [{"message": {"role": "assistant", "content": content}}]}).to_string()
}

async fn allow_llm(w: &CallWorld) {
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
            json!({"transcriptionEnabled": true, "llmClassification": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["llmClassification"]
            .as_bool()
            .or(body["llmClassification"].as_bool()),
        Some(true),
        "{body}"
    );
}

#[tokio::test]
async fn the_llm_path_is_used_only_when_allowed_and_falls_back_on_bad_answers() {
    let (w, calls) = llm_world(vec![(
        200,
        completion(r#"{"appointmentBooked": false, "callReason": "GET_PRICING", "evidence": ["how much"]}"#),
    )])
    .await;

    // Not allowed by the tenant yet: local, and the endpoint is never called.
    transcribe(&w).await;
    let mut s = caller();
    s.script = booking_script();
    let local = w.play(&s).await.call_sid;
    let log = wait_for(&w, &local, |l| !l["appointmentBooked"].is_null()).await;
    assert_eq!(log["classificationSource"], "local", "{log}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    allow_llm(&w).await;
    let llm = w.play(&s).await.call_sid;
    let log = wait_for(&w, &llm, |l| !l["appointmentBooked"].is_null()).await;
    assert_eq!(log["classificationSource"], "llm", "{log}");
    assert_eq!(log["callReason"], "GET_PRICING");
    assert_eq!(log["classificationEvidence"], json!(["how much"]));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let (status, ai) = w.t.get("/api/twilio/ai-status", &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{ai}");
    assert_eq!(ai["paths"]["llm"]["active"], true);
    assert_eq!(ai["paths"]["llm"]["reachable"]["ok"], true, "{ai}");
    assert_eq!(ai["paths"]["local"]["active"], true);
    let (status, _) = w.t.get("/api/twilio/ai-status", &w.owner).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    w.t.stop().await;
}

#[tokio::test]
async fn broken_llm_answers_fall_back_to_the_local_classifier() {
    let (w, calls) = llm_world(vec![
        (200, completion("Sure! I think they booked.")),
        (500, "{\"error\": \"overloaded\"}".into()),
        (429, "{\"error\": \"slow down\"}".into()),
    ])
    .await;
    allow_llm(&w).await;
    let mut s = caller();
    s.script = booking_script();
    // Not JSON: the local answer at once.
    let first = w.play(&s).await.call_sid;
    let log = wait_for(&w, &first, |l| !l["appointmentBooked"].is_null()).await;
    assert_eq!(log["classificationSource"], "local", "{log}");
    assert_eq!(log["appointmentBooked"], true);
    // 500, then 429 on the retry: the local answer after the retries, never a stuck job.
    let second = w.play(&s).await.call_sid;
    let log = wait_for(&w, &second, |l| !l["appointmentBooked"].is_null()).await;
    assert_eq!(log["classificationSource"], "local", "{log}");
    assert!(calls.load(Ordering::SeqCst) >= 3);
    let (_, jobs) = w.t.get("/api/admin/jobs?state=dead", &w.admin).await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "{jobs}");
    let (_, ai) = w.t.get("/api/twilio/ai-status", &w.admin).await;
    assert!(
        ai["recentErrors"].as_array().is_some_and(|e| e.len() >= 2),
        "{ai}"
    );
    w.t.stop().await;
}
