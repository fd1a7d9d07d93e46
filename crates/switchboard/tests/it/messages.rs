//! Texts: inbound through the simulator, delivery statuses, unread counts.

use reqwest::StatusCode;
use serde_json::json;
use twilio::client::{Client, ClientConfig, CreateMessage, Credentials};

use crate::calls::{TRACKING, call_world};

#[tokio::test]
async fn inbound_texts_are_stored_counted_and_auto_replied() {
    let w = call_world().await;
    w.route_texts();
    let (status, body) = w
        .sim
        .send_sms("+15550009999", TRACKING, "Can I book for Friday? 🙂")
        .await
        .expect("sms");
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("<Message>"),
        "no auto-reply configured: {body}"
    );
    let (_, unread) =
        w.t.get("/api/customer-notifications/unread-counts", &w.owner)
            .await;
    assert_eq!(unread["messages"], 1);

    let (status, _) =
        w.t.put(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
            json!({"autoReplyMessage": "Thanks! We'll text you back shortly."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = w
        .sim
        .send_sms("+15550008888", TRACKING, "Hello?")
        .await
        .expect("sms");
    assert_eq!(status, 200);
    assert!(
        body.contains("<Message>Thanks! We&apos;ll text you back shortly.</Message>")
            || body.contains("<Message>Thanks! We'll text you back shortly.</Message>"),
        "{body}"
    );
    let (_, unread) =
        w.t.get("/api/customer-notifications/unread-counts", &w.owner)
            .await;
    assert_eq!(unread["messages"], 2);
    let desk =
        w.t.user(
            &w.admin,
            "desk@texts.test",
            "receptionist",
            &w.tenant,
            &["call-logs"],
        )
        .await;
    let (_, unread) =
        w.t.get("/api/customer-notifications/unread-counts", &desk)
            .await;
    assert_eq!(unread["messages"], 0, "no messages page, no badge");

    // The list: newest first, with paging; staff without the page and other tenants get none.
    let (status, list) = w.t.get("/api/messages?limit=1", &w.owner).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 2);
    assert_eq!(list["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["messages"][0]["body"], "Hello?");
    assert_eq!(list["messages"][0]["direction"], "inbound");
    assert!(
        list["messages"][0]["createdAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let (_, older) = w.t.get("/api/messages?limit=1&offset=1", &w.owner).await;
    assert_eq!(older["messages"][0]["body"], "Can I book for Friday? 🙂");
    let (status, _) = w.t.get("/api/messages", &desk).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in [
        "/api/messages?limit=0",
        "/api/messages?offset=-1",
        "/api/messages?limit=x",
        "/api/messages?surprise=1",
    ] {
        let (status, body) = w.t.get(bad, &w.owner).await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
    }
    let (_, other_owner) = w.other_tenant().await;
    let (_, theirs) = w.t.get("/api/messages", &other_owner).await;
    assert_eq!(theirs["total"], 0, "{theirs}");
    let (_, theirs) =
        w.t.get(
            &format!("/api/messages?customerId={}", w.tenant),
            &other_owner,
        )
        .await;
    assert_eq!(theirs["total"], 0, "customerId is an admin's: {theirs}");
    let (_, as_admin) =
        w.t.get(&format!("/api/messages?customerId={}", w.tenant), &w.admin)
            .await;
    assert_eq!(as_admin["total"], 2);
    let (status, _) =
        w.t.post(
            "/api/customer-notifications/mark-read/messages",
            &w.owner,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, unread) =
        w.t.get("/api/customer-notifications/unread-counts", &w.owner)
            .await;
    assert_eq!(unread["messages"], 0);

    // A forged text is refused and stored nothing.
    let resp =
        w.t.http
            .post(w.t.url("/api/twilio/sms"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", "forged")
            .body(format!(
                "MessageSid=SMforged&AccountSid={}&From=%2B15550007777&To=%2B15551230001&Body=hi",
                w.account.sid
            ))
            .send()
            .await
            .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        switchboard::messaging::status_of(&w.t.app.state.db, "SMforged")
            .await
            .expect("query")
            .is_none()
    );
    w.t.stop().await;
}

#[tokio::test]
async fn delivery_statuses_only_move_forward() {
    let w = call_world().await;
    let client = Client::new(
        Credentials::auth_token(&w.account.sid, &w.account.auth_token),
        ClientConfig::with_base(w.sim.base_url()),
    )
    .expect("client");
    let mut sids = Vec::new();
    for to in ["+15557654321", "+15557650000"] {
        let sent = client
            .create_message(&CreateMessage {
                status_callback: Some(w.t.url("/api/twilio/sms/status")),
                ..CreateMessage::new(to, TRACKING, "Reminder: cleaning tomorrow at 10.")
            })
            .await
            .expect("send");
        switchboard::messaging::record_outbound(
            &w.t.app.state.db,
            &w.tenant,
            &sent.sid,
            TRACKING,
            to,
            "Reminder",
            &sent.status,
        )
        .await
        .expect("record");
        sids.push(sent.sid);
    }
    let db = &w.t.app.state.db;
    let mut statuses = Vec::new();
    for _ in 0..100 {
        statuses.clear();
        for sid in &sids {
            statuses.push(
                switchboard::messaging::status_of(db, sid)
                    .await
                    .expect("status")
                    .expect("known"),
            );
        }
        if statuses.iter().all(|(s, _)| s != "queued" && s != "sent") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(statuses[0], ("delivered".to_owned(), None));
    assert_eq!(
        statuses[1],
        ("undelivered".to_owned(), Some("30003".to_owned()))
    );

    // A late 'sent' does not undo 'delivered'.
    let params: Vec<(String, String)> = [
        ("MessageSid", sids[0].as_str()),
        ("AccountSid", w.account.sid.as_str()),
        ("MessageStatus", "sent"),
        ("From", TRACKING),
        ("To", "+15557654321"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = w.t.url("/api/twilio/sms/status");
    let signature = twilio::signature::RequestValidator::new(&w.account.auth_token)
        .compute_signature(&url, &params);
    let resp =
        w.t.http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(serde_urlencoded::to_string(&params).expect("form"))
            .send()
            .await
            .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        switchboard::messaging::status_of(db, &sids[0])
            .await
            .expect("status")
            .map(|s| s.0),
        Some("delivered".to_owned())
    );
    w.t.stop().await;
}

/// The tenant's text with our id, from the messages API.
async fn text_by_id(w: &crate::calls::CallWorld, id: &str) -> serde_json::Value {
    let (status, body) = w.t.get("/api/messages?limit=200", &w.owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no text {id}: {body}"))
}

/// Waits until the text with our id satisfies `done`.
async fn wait_text(
    w: &crate::calls::CallWorld,
    id: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..100 {
        let m = text_by_id(w, id).await;
        if done(&m) {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the text never got there: {}", text_by_id(w, id).await);
}

async fn send(
    w: &crate::calls::CallWorld,
    to: &str,
    message: &str,
) -> (StatusCode, serde_json::Value) {
    w.t.post(
        "/api/telephony/sms",
        &w.owner,
        json!({"phoneNumber": to, "message": message}),
    )
    .await
}

#[tokio::test]
async fn texts_are_sent_through_the_queue_and_their_status_comes_back() {
    let w = call_world().await;
    w.route_texts();
    let (status, body) = send(&w, "(555) 765-4321", "See you Tuesday at 10!").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["status"], "QUEUED");
    assert_eq!(body["data"]["to"], "+15557654321");
    assert_eq!(body["data"]["from"], TRACKING);
    assert_eq!(body["data"]["segments"], 1);
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    let sent = wait_text(&w, &id, |m| m["status"] == "delivered").await;
    assert!(
        sent["messageSid"]
            .as_str()
            .is_some_and(|s| s.starts_with("SM")),
        "{sent}"
    );
    assert_eq!(sent["party"], "+15557654321");

    // A number the carrier cannot reach: undelivered, with the code in plain words.
    let (_, body) = send(&w, "+15557650000", "Hello").await;
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    let failed = wait_text(&w, &id, |m| m["errorCode"] == "30003").await;
    assert!(
        failed["failureReason"]
            .as_str()
            .is_some_and(|r| r.contains("unreachable")),
        "{failed}"
    );

    // The seed's notifications list: both texts, the failed one under FAILED.
    let (status, n) = w.t.get("/api/telephony/notifications", &w.owner).await;
    assert_eq!(status, StatusCode::OK, "{n}");
    assert_eq!(n["success"], true);
    assert_eq!(n["data"]["total"], 2, "{n}");
    let first = &n["data"]["notifications"][1];
    assert_eq!(first["type"], "SMS");
    assert_eq!(first["status"], "SENT");
    assert!(first["sentAt"].is_string(), "{first}");
    assert!(first["relatedAppointmentId"].is_null());
    let (_, failed) =
        w.t.get("/api/telephony/notifications?status=FAILED", &w.owner)
            .await;
    assert_eq!(failed["data"]["total"], 1, "{failed}");
    assert_eq!(failed["data"]["notifications"][0]["errorCode"], "30003");
    let (_, email) =
        w.t.get("/api/telephony/notifications?type=EMAIL", &w.owner)
            .await;
    assert_eq!(email["data"]["total"], 0);
    let (status, bad) =
        w.t.get("/api/telephony/notifications?status=LOST&limit=0", &w.owner)
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["success"], false);
    assert!(
        bad["error"]["fields"]["status"].is_string() && bad["error"]["fields"]["limit"].is_string()
    );

    // Bad input: nothing is queued.
    let (_, before) = w.t.get("/api/messages", &w.owner).await;
    let (status, body) = send(&w, "+15557654321", &"long text ".repeat(1_000)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["success"], false);
    assert!(
        body["error"]["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("segments")),
        "{body}"
    );
    let (status, body) = send(&w, "not a number", "hi").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"]["fields"]["phoneNumber"],
        "is not a valid phone number"
    );
    let (status, body) = send(&w, "+15557654321", "   ").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) =
        w.t.post(
            "/api/telephony/sms",
            &w.owner,
            json!({"phoneNumber": "+15557654321"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, after) = w.t.get("/api/messages", &w.owner).await;
    assert_eq!(before["total"], after["total"]);

    // A tenant with no number of its own cannot text.
    let (_, other) = w.other_tenant().await;
    let (status, body) =
        w.t.post(
            "/api/telephony/sms",
            &other,
            json!({"phoneNumber": "+15557654321", "message": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["success"], false);
    w.t.stop().await;
}

#[tokio::test]
async fn stop_start_and_help_are_honoured() {
    let w = call_world().await;
    w.route_texts();
    let customer = "+15550004444";
    let (status, _) =
        w.t.put(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
            json!({"smsHelpText": "Bright Smiles Dental: call 555-123-0001. Reply STOP to stop.",
                   "autoReplyMessage": "Thanks, we'll text back."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, twiml) = w
        .sim
        .send_sms(customer, TRACKING, "HELP")
        .await
        .expect("sms");
    assert!(twiml.contains("Reply STOP to stop."), "{twiml}");

    let (_, twiml) = w
        .sim
        .send_sms(customer, TRACKING, "Stop")
        .await
        .expect("sms");
    assert!(
        !twiml.contains("<Message>"),
        "no auto-reply to STOP: {twiml}"
    );
    let (_, twiml) = w
        .sim
        .send_sms(customer, TRACKING, "one more thing")
        .await
        .expect("sms");
    assert!(
        !twiml.contains("<Message>"),
        "no auto-reply to an opted-out number: {twiml}"
    );
    let (_, body) = send(&w, customer, "Your appointment is tomorrow").await;
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    let refused = wait_text(&w, &id, |m| m["status"] == "failed").await;
    assert_eq!(refused["errorCode"], "21610");
    assert!(
        refused["messageSid"]
            .as_str()
            .is_some_and(|s| s.starts_with("msg_")),
        "never sent to Twilio: {refused}"
    );

    let (_, _) = w
        .sim
        .send_sms(customer, TRACKING, "START")
        .await
        .expect("sms");
    let (_, body) = send(&w, customer, "Welcome back").await;
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    wait_text(&w, &id, |m| m["status"] == "delivered").await;
    w.t.stop().await;
}

#[tokio::test]
async fn missed_callers_are_texted_back_once_a_day() {
    let w = call_world().await;
    w.route_texts();
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
            json!({"textBackEnabled": true, "textBackMessage": "Sorry we missed you at {business}! Reply to book."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A template with a placeholder we do not know is refused.
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
            json!({"textBackMessage": "Hi {name}"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let texts_to = |party: &'static str| {
        let w = &w;
        async move {
            let (_, body) = w.t.get("/api/messages?limit=200", &w.owner).await;
            body["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .filter(|m| m["to"] == party && m["direction"] == "outbound-api")
                .cloned()
                .collect::<Vec<_>>()
        }
    };
    let mut missed = crate::calls::caller();
    missed.staff = twilio_sim::Staff::Busy;
    missed.voicemail_secs = None;
    let first = w.play(&missed).await.call_sid;
    let mut sent = Vec::new();
    for _ in 0..100 {
        sent = texts_to("+15550001111").await;
        if sent.first().is_some_and(|m| m["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0]["body"],
        "Sorry we missed you at Bright Smiles Dental! Reply to book."
    );
    assert_eq!(sent[0]["status"], "delivered");
    assert_eq!(sent[0]["from"], TRACKING);
    assert_eq!(
        sent[0]["callSid"],
        first.as_str(),
        "the text answers the first call"
    );

    // A second missed call the same day: no second text.
    w.play(&missed).await;
    // An answered call from someone else: none.
    let mut answered = twilio_sim::Scenario::new("+15550002222", TRACKING);
    answered.staff = twilio_sim::Staff::Answers { after_secs: 2 };
    w.play(&answered).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(texts_to("+15550001111").await.len(), 1);
    assert!(texts_to("+15550002222").await.is_empty());

    // A caller who texted STOP is never texted back.
    w.sim
        .send_sms("+15550003333", TRACKING, "STOP")
        .await
        .expect("sms");
    let mut opted = twilio_sim::Scenario::new("+15550003333", TRACKING);
    opted.staff = twilio_sim::Staff::NoAnswer;
    w.play(&opted).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(texts_to("+15550003333").await.is_empty());

    // The call's row says so.
    let page =
        w.t.http
            .get(w.t.url("/call-logs"))
            .bearer_auth(&w.owner)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
    let row = page
        .split(&format!("id=\"call-{first}\""))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_default();
    assert!(row.contains("Texted back"), "{row}");
    w.t.stop().await;
}
