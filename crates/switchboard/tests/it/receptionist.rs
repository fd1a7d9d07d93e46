//! The AI receptionist end to end: the simulator's callers speak to a tenant in
//! `ai-agent` mode, and what they hear, the call record and the appointment request
//! come out as they should.

use reqwest::StatusCode;
use serde_json::{Value, json};
use twilio_sim::{Press, Staff};

use crate::calls::{CallWorld, TRACKING, call_world, caller};
use crate::common::{error_code, signed_post};

const STAFF: &str = "+15557654321";
const ON_CALL: &str = "+15557659999";

pub(crate) fn knowledge_base() -> Value {
    json!({
        "services": [
            {"name": "Teeth cleaning", "price": "$120", "duration": 45},
            {"name": "Whitening", "price": "from $300"}
        ],
        "faqs": [{"question": "Do you have parking?", "answer": "Yes, free parking is behind the building."}],
        "address": "We're at 12 Main Street, next to the library.",
        "insurance": "We take Delta Dental, Aetna and Cigna.",
        "emergencyHandoff": ON_CALL,
        "businessKind": "dental"
    })
}

/// Open every hour of every day, so a test never depends on when it runs.
fn always_open() -> Value {
    let day = json!([{"open": "00:00", "close": "24:00"}]);
    json!({"days": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
           "afterHoursAction": "voicemail"})
}

pub(crate) async fn receptionist_world(kb: Value) -> CallWorld {
    let w = call_world().await;
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
            json!({"callRoutingMode": "ai-agent", "aiAgent": kb, "businessHours": always_open()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["callRoutingMode"], "ai-agent");
    w
}

pub(crate) fn saying(lines: &[&str]) -> twilio_sim::Scenario {
    let mut s = caller();
    s.presses = lines.iter().map(|l| Press::says(l)).collect();
    s
}

fn heard(report: &twilio_sim::CallReport) -> String {
    report.heard.join(" | ")
}

#[tokio::test]
async fn questions_are_answered_from_the_knowledge_base() {
    let w = receptionist_world(knowledge_base()).await;
    let report = w
        .play(&saying(&[
            "hi what are your hours",
            "how much is a teeth cleaning",
            "is there parking",
            "no that's all thanks",
        ]))
        .await;
    let all = heard(&report);
    assert!(
        all.starts_with("Thanks for calling Bright Smiles Dental. How can I help?"),
        "{all}"
    );
    assert!(all.contains("we're open now"), "{all}");
    assert!(all.contains("A teeth cleaning is $120."), "{all}");
    assert!(all.contains("free parking is behind the building"), "{all}");
    assert!(all.ends_with("Goodbye!"), "{all}");
    assert!(
        report.dialed.is_empty(),
        "nobody is rung: {:?}",
        report.dialed
    );

    let log = w.log(&report.call_sid).await;
    assert_eq!(log["aiOutcome"], "ai-resolved");
    assert_eq!(log["outcome"], "ai-resolved", "never missed: {log}");
    let turns = log["conversation"].as_array().expect("turns");
    assert_eq!(turns.len(), 5, "{turns:?}");
    assert_eq!(turns[0]["action"], "greet");
    assert_eq!(turns[1]["heard"], "hi what are your hours");
    assert!(turns[1]["confidence"].as_f64().unwrap_or(0.0) > 0.9);
    assert_eq!(turns[2]["topic"], "prices");
    assert_eq!(turns[4]["action"], "goodbye");
    let transcript = log["transcriptText"].as_str().unwrap_or_default();
    assert!(
        transcript.contains("Customer: how much is a teeth cleaning"),
        "{transcript}"
    );
    assert_eq!(log["transcriptSource"], "agent");
    // Not a missed call: no text-back, and not counted as missed.
    let (_, stats) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    assert_eq!(stats["missed"], 0, "{stats}");
}

#[tokio::test]
async fn a_caller_books_an_appointment_request() {
    let w = receptionist_world(knowledge_base()).await;
    w.route_texts();
    let report = w
        .play(&saying(&[
            "I'd like to book a cleaning",
            "tomorrow at ten in the morning",
            "my name is Jane Doe",
            "yes please",
            "no thanks",
        ]))
        .await;
    let all = heard(&report);
    assert!(all.contains("Which day and time would you like?"), "{all}");
    assert!(
        all.contains("And what name should I put the request under?"),
        "{all}"
    );
    assert!(
        all.contains("So that's a request for teeth cleaning for Jane Doe"),
        "{all}"
    );
    assert!(
        all.contains("Thank you, Jane. I've sent your request"),
        "{all}"
    );

    let log = w.log(&report.call_sid).await;
    assert_eq!(log["aiOutcome"], "ai-booked");
    assert_eq!(log["outcome"], "ai-booked");
    let (status, list) =
        w.t.get(
            &format!("/api/appointments?callSid={}", report.call_sid),
            &w.owner,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["appointments"].as_array().expect("appointments");
    assert_eq!(items.len(), 1, "{list}");
    let a = &items[0];
    assert_eq!(a["status"], "requested");
    assert_eq!(a["customerName"], "Jane Doe");
    assert_eq!(a["customerPhone"], crate::calls::CALLER);
    assert!(
        a["localStart"]
            .as_str()
            .unwrap_or_default()
            .ends_with("T10:00:00"),
        "{a}"
    );
    let notes = a["notes"].as_str().unwrap_or_default();
    assert!(notes.contains("tomorrow at ten in the morning"), "{notes}");
    // Staff confirm it from the Appointments page's API.
    let (status, body) =
        w.t.patch(
            &format!("/api/appointments/{}", a["id"].as_str().unwrap_or_default()),
            &w.owner,
            json!({"status": "confirmed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The caller was texted the tenant's confirmation.
    let mut texted = false;
    for _ in 0..50 {
        let (_, messages) = w.t.get("/api/messages", &w.owner).await;
        texted = messages["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x["to"] == crate::calls::CALLER));
        if texted {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(texted, "the confirmation text was sent");
}

#[tokio::test]
async fn asking_for_a_person_or_falling_silent_hands_off_with_a_whisper() {
    let w = receptionist_world(knowledge_base()).await;
    let mut asks = saying(&["can I speak to a real person"]);
    asks.staff = Staff::Answers { after_secs: 3 };
    let report = w.play(&asks).await;
    assert_eq!(report.dialed, vec![STAFF.to_owned()]);
    assert!(
        report
            .staff_heard
            .join(" ")
            .contains("The caller asked for a person."),
        "{:?}",
        report.staff_heard
    );
    let log = w.log(&report.call_sid).await;
    assert_eq!(log["aiOutcome"], "ai-handoff");
    assert_eq!(log["outcome"], "answered");

    // Silence twice: a person takes over; nobody answers, so voicemail.
    let mut silent = caller();
    silent.presses = vec![Press::Nothing, Press::Nothing];
    silent.staff = Staff::NoAnswer;
    let report = w.play(&silent).await;
    assert!(
        heard(&report).contains("Sorry, I didn't catch that."),
        "{}",
        heard(&report)
    );
    assert_eq!(report.dialed, vec![STAFF.to_owned()]);
    assert!(
        report.voicemail_sid.is_some(),
        "voicemail after the hand-off"
    );
    let log = w.log(&report.call_sid).await;
    assert_eq!(log["aiOutcome"], "ai-handoff");
    assert_eq!(log["outcome"], "voicemail");

    // Mumbled (low confidence): straight to a person.
    let mut mumbled = caller();
    mumbled.presses = vec![Press::Speech {
        text: "wuh huh".into(),
        confidence: 0.12,
    }];
    let report = w.play(&mumbled).await;
    assert_eq!(report.dialed, vec![STAFF.to_owned()]);
}

#[tokio::test]
async fn an_emergency_is_put_through_at_once() {
    let w = receptionist_world(knowledge_base()).await;
    let report = w
        .play(&saying(&["my face is swollen and it really hurts"]))
        .await;
    let all = heard(&report);
    assert!(all.contains("hang up and call 911"), "{all}");
    assert_eq!(report.dialed, vec![ON_CALL.to_owned()], "the on-call line");
    assert!(
        report
            .staff_heard
            .join(" ")
            .contains("The caller may have an emergency."),
        "{:?}",
        report.staff_heard
    );
}

#[tokio::test]
async fn a_knowledge_base_without_prices_never_speaks_one() {
    let w = receptionist_world(json!({
        "services": [{"name": "Teeth cleaning"}, {"name": "Whitening"}],
        "address": "12 Main Street"
    }))
    .await;
    let mut s = saying(&[
        "how much is a cleaning",
        "no",
        "what do you charge for whitening",
        "no",
        "what are your prices",
        "bye",
    ]);
    s.staff = Staff::NoAnswer;
    let report = w.play(&s).await;
    let all = heard(&report);
    assert!(!all.contains('$'), "{all}");
    assert!(
        all.contains("I don't have a price for Teeth cleaning"),
        "{all}"
    );
    assert!(all.contains("I don't have prices to share"), "{all}");
    assert!(report.dialed.is_empty());
}

#[tokio::test]
async fn each_tenant_hears_its_own_knowledge_base() {
    let w = receptionist_world(knowledge_base()).await;
    let (other, other_owner) = w.other_tenant().await;
    let other_number = "+15551230002";
    let (status, body) = w
        .t
        .put(
            &format!("/api/companies/{other}/twilio/config"),
            &other_owner,
            json!({"phoneNumbers": [{"phoneNumber": other_number}], "callRoutingMode": "ai-agent",
                   "aiAgent": {"address": "Rapid Rooter is at 99 Pipe Lane.", "businessKind": "home-service"},
                   "forwardNumber": "+15557770000"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.sim
        .add_number(&w.account.sid, other_number, "Rooter")
        .expect("number");
    w.sim.set_number_webhooks(
        &w.account.sid,
        other_number,
        &w.t.url("/api/twilio/voice/incoming"),
        Some(&w.t.url("/api/twilio/voice/status-callback")),
        None,
    );
    let ours = w.play(&saying(&["where are you located", "bye"])).await;
    let mut theirs = saying(&["where are you located", "bye"]);
    theirs.to = other_number.into();
    let theirs = w.play(&theirs).await;
    assert!(heard(&ours).contains("12 Main Street"), "{}", heard(&ours));
    assert!(!heard(&ours).contains("Pipe Lane"));
    assert!(
        heard(&theirs).contains("99 Pipe Lane"),
        "{}",
        heard(&theirs)
    );
    assert!(!heard(&theirs).contains("Main Street"));
    assert!(heard(&theirs).starts_with("Thanks for calling Rapid Rooter Plumbing."));
    // The plumber's emergencies are not the dentist's.
    let mut flood = saying(&["my basement is flooding"]);
    flood.to = other_number.into();
    let flood = w.play(&flood).await;
    assert!(heard(&flood).contains("call 911"), "{}", heard(&flood));
    let dentist_flood = w.play(&saying(&["my basement is flooding", "bye"])).await;
    assert!(!heard(&dentist_flood).contains("911"));
    // Another tenant's owner cannot try this tenant's receptionist.
    let (status, _) =
        w.t.post(
            &format!("/api/companies/{}/twilio/agent/try", w.tenant),
            &other_owner,
            json!({"question": "where are you"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn duplicated_and_late_turns_change_nothing() {
    let w = receptionist_world(knowledge_base()).await;
    let report = w
        .play(&saying(&[
            "can I make an appointment",
            "next friday at 2 in the afternoon",
            "Sam Lee",
            "yes",
            "bye",
        ]))
        .await;
    let before = w.log(&report.call_sid).await;
    let turns = before["conversation"].as_array().expect("turns").clone();
    let token = w.account.auth_token.clone();
    let resend = |turn: i64, speech: &'static str| {
        let (w, token, sid) = (&w, token.clone(), report.call_sid.clone());
        async move {
            signed_post(
                &w.t,
                &format!("/api/twilio/voice/agent?turn={turn}"),
                &token,
                &[
                    ("CallSid", sid.as_str()),
                    ("AccountSid", w.account.sid.as_str()),
                    ("From", crate::calls::CALLER),
                    ("To", TRACKING),
                    ("CallStatus", "in-progress"),
                    ("SpeechResult", speech),
                    ("Confidence", "0.9"),
                ],
            )
            .await
        }
    };
    // The same "yes" again, and a late, different answer to the day question.
    let (status, again) = resend(4, "yes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(again.contains("I've sent your request"), "{again}");
    let (status, late) = resend(2, "tomorrow at nine").await;
    assert_eq!(status, StatusCode::OK);
    assert!(late.contains("And what name should I put"), "{late}");
    assert!(
        late.contains("Friday"),
        "the turn as first answered: {late}"
    );
    let after = w.log(&report.call_sid).await;
    assert_eq!(after["conversation"].as_array().expect("turns"), &turns);
    assert_eq!(after["aiOutcome"], "ai-booked");
    let (_, list) =
        w.t.get(
            &format!("/api/appointments?callSid={}", report.call_sid),
            &w.owner,
        )
        .await;
    assert_eq!(list["appointments"].as_array().map(Vec::len), Some(1));
    // Unsigned turns are refused and store nothing.
    let resp =
        w.t.http
            .post(w.t.url("/api/twilio/voice/agent?turn=9"))
            .form(&[
                ("CallSid", report.call_sid.as_str()),
                ("SpeechResult", "hi"),
            ])
            .send()
            .await
            .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_knowledge_base_is_checked_and_tried() {
    let w = call_world().await;
    let path = format!("/api/companies/{}/twilio/config", w.tenant);
    let faqs: Vec<Value> = (0..10_000)
        .map(|i| json!({"question": format!("q{i}"), "answer": "a"}))
        .collect();
    for (kb, field) in [
        (json!({"faqs": faqs}), "aiAgent.faqs"),
        (
            json!({"faqs": [{"question": "hours?", "answer": "x".repeat(100_000)}]}),
            "aiAgent.faqs[0].answer",
        ),
        (
            json!({"faqs": [{"question": "hours?", "answer": "<speak>nine</speak>"}]}),
            "aiAgent.faqs[0].answer",
        ),
        (
            json!({"services": [{"name": "Cleaning", "price": "<b>$5</b>"}]}),
            "aiAgent.services[0].price",
        ),
        (
            json!({"emergencyHandoff": "call bob"}),
            "aiAgent.emergencyHandoff",
        ),
    ] {
        let (status, body) = w.t.put(&path, &w.owner, json!({"aiAgent": kb})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(error_code(&body), "validation_failed", "{body}");
        assert!(
            body["error"]["fields"][field].is_string(),
            "{field}: {body}"
        );
    }
    let (status, body) =
        w.t.put(&path, &w.owner, json!({"aiAgent": {"bogus": 1}}))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Nothing bad was stored; a good one is, and the "try it" box answers from it.
    let (status, body) =
        w.t.put(&path, &w.owner, json!({"aiAgent": knowledge_base()}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["aiAgent"]["services"][0]["price"], "$120");
    let try_path = format!("/api/companies/{}/twilio/agent/try", w.tenant);
    let (status, body) =
        w.t.post(
            &try_path,
            &w.owner,
            json!({"question": "how much for whitening"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["answer"]
            .as_str()
            .unwrap_or_default()
            .starts_with("A whitening is from $300."),
        "{body}"
    );
    assert_eq!(body["topic"], "prices");
    let (status, _) = w.t.post(&try_path, &w.owner, json!({"question": ""})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_portal_shows_the_conversation_and_the_receptionists_figures() {
    let w = receptionist_world(knowledge_base()).await;
    let booked = w
        .play(&saying(&[
            "I'd like to book a cleaning",
            "tomorrow at ten in the morning",
            "Jane Doe",
            "yes",
            "bye",
        ]))
        .await;
    w.play(&saying(&["what are your hours", "bye"])).await;
    w.play(&saying(&["operator"])).await;
    let (status, html, _) =
        crate::portal::page(&w.t, "GET", "/call-logs", Some(&w.owner), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Conversation with the receptionist"),
        "{html}"
    );
    assert!(
        html.contains(
            r#"<li class="caller"><span class="who">Caller</span> tomorrow at ten in the morning"#
        ),
        "{html}"
    );
    assert!(html.contains("appointment request taken"));
    assert!(html.contains("AI booked"));
    assert!(html.contains("AI handed off"));
    assert!(html.contains(&format!("call-{}", booked.call_sid)));
    let (status, html, _) =
        crate::portal::page(&w.t, "GET", "/dashboard", Some(&w.owner), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<dd id="ai-resolved">1</dd>"#), "{html}");
    assert!(html.contains(r#"<dd id="ai-booked">1</dd>"#), "{html}");
    assert!(html.contains(r#"<dd id="ai-handed-off">1</dd>"#), "{html}");
    // The Settings page edits the knowledge base and its "try it" box answers from it.
    let (status, html, _) = crate::portal::page(
        &w.t,
        "GET",
        "/settings?ask=how+much+is+whitening",
        Some(&w.owner),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"id="try-answer">A whitening is from $300."#),
        "{html}"
    );
    assert!(html.contains("Teeth cleaning | $120 | 45"), "{html}");
    assert!(html.contains("Q: Do you have parking?"), "{html}");
    let form = "callRoutingMode=ai-agent&aiServices=Exam+%7C+%2475&aiFaqs=Q%3A+Open+late%3F%0AA%3A+Until+8+on+Thursdays.&aiBusinessKind=dental&hoursEnabled=&recordingEnabled=on";
    let (status, _, location) =
        crate::portal::page(&w.t, "POST", "/settings", Some(&w.owner), form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/settings?saved=1"));
    let (_, config) =
        w.t.get(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
        )
        .await;
    assert_eq!(config["aiAgent"]["services"][0]["price"], "$75", "{config}");
    assert_eq!(
        config["aiAgent"]["faqs"][0]["answer"],
        "Until 8 on Thursdays."
    );
    let bad = "callRoutingMode=ai-agent&aiFaqs=Q%3A+x%0AA%3A+%3Cb%3Ebold%3C%2Fb%3E";
    let (status, html, _) =
        crate::portal::page(&w.t, "POST", "/settings", Some(&w.owner), bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("plain text"), "{html}");
}
