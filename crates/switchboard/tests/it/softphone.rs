//! The browser softphone's access tokens: what configuration they need, who may get
//! one, and their claims read independently of the code that made them.

use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::calls::call_world;

fn part(jwt: &str, i: usize) -> Value {
    let raw = jwt.split('.').nth(i).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn tokens_carry_the_tenants_app_and_key_and_say_what_is_missing() {
    let w = call_world().await;
    // The platform's account here has no API key: the token cannot be signed.
    let (status, body) =
        w.t.post("/api/twilio/access-token", &w.owner, json!({}))
            .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("apiKeySid")),
        "{body}"
    );
    let (status, _) =
        w.t.post("/api/twilio/access-token", &w.admin, json!({}))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A tenant with its own account and API key, but no TwiML App yet.
    let (rapid, owner) = w.other_tenant().await;
    let own = w.sim.create_account("Rapid's own");
    let (key, secret) = w.sim.create_api_key(&own.sid).expect("key");
    let config = format!("/api/companies/{rapid}/twilio/config");
    let (status, body) =
        w.t.put(
            &config,
            &w.admin,
            json!({"accountSid": own.sid, "authToken": own.auth_token, "apiKeySid": key, "apiKeySecret": secret}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        w.t.post("/api/twilio/access-token", &owner, json!({}))
            .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("twimlAppSid") && m.contains("/api/twilio/voice/client")),
        "{body}"
    );
    let (status, bad) =
        w.t.put(&config, &w.admin, json!({"twimlAppSid": "AP123"}))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let app = format!("AP{}", "a1".repeat(16));
    let (status, body) =
        w.t.put(&config, &w.admin, json!({"twimlAppSid": app}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["twimlAppSid"], app.as_str());

    let (status, issued) =
        w.t.post("/api/twilio/access-token", &owner, json!({}))
            .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let (_, me) = w.t.get("/api/auth/me", &owner).await;
    let user_id = me["id"]
        .as_str()
        .or(me["user"]["id"].as_str())
        .expect("id")
        .to_owned();
    assert_eq!(issued["identity"], user_id.as_str());
    let jwt = issued["token"].as_str().expect("token");
    let header = part(jwt, 0);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["cty"], "twilio-fpa;v=1");
    let claims = part(jwt, 1);
    assert_eq!(claims["iss"], key.as_str(), "issued by the API key");
    assert_eq!(
        claims["sub"],
        own.sid.as_str(),
        "for the tenant's own account"
    );
    assert_eq!(claims["grants"]["identity"], user_id.as_str());
    assert_eq!(
        claims["grants"]["voice"]["outgoing"]["application_sid"],
        app.as_str()
    );
    assert_eq!(claims["grants"]["voice"]["incoming"]["allow"], true);
    let (iat, exp) = (
        claims["iat"].as_i64().expect("iat"),
        claims["exp"].as_i64().expect("exp"),
    );
    assert_eq!(exp - iat, 3600);
    let expires: jiff::Timestamp = issued["expiresAt"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("expiresAt");
    assert_eq!(expires.as_second(), exp);
    // Signed with the key's secret, as Twilio will check it.
    let (signed, signature) = jwt.rsplit_once('.').expect("signature");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(signed.as_bytes());
    let expected =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    assert_eq!(signature, expected);
    assert!(
        !issued.to_string().contains(&secret),
        "the secret never leaves"
    );

    // Staff need the calls page.
    let desk =
        w.t.user(
            &w.admin,
            "desk@rapid.test",
            "receptionist",
            &rapid,
            &["messages"],
        )
        .await;
    let (status, _) = w.t.post("/api/twilio/access-token", &desk, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let caller =
        w.t.user(
            &w.admin,
            "caller@rapid.test",
            "receptionist",
            &rapid,
            &["calls"],
        )
        .await;
    let (status, theirs) =
        w.t.post("/api/twilio/access-token", &caller, json!({}))
            .await;
    assert_eq!(status, StatusCode::OK, "{theirs}");
    assert_ne!(
        theirs["identity"], issued["identity"],
        "one identity per user"
    );
    w.t.stop().await;
}

/// A call from a staff member's browser, as Twilio places it through the TwiML App.
async fn browser_call(
    w: &crate::calls::CallWorld,
    identity: &str,
    to: &str,
    customer: twilio_sim::Staff,
) -> twilio_sim::CallReport {
    let mut s = twilio_sim::Scenario::new(&format!("client:{identity}"), to);
    s.staff = customer;
    s.talk_secs = 42;
    s.voicemail_secs = None;
    w.sim
        .client_call(
            &w.account.sid,
            &w.t.url("/api/twilio/voice/client"),
            &s,
            &[
                ("FromNumber", crate::calls::TRACKING),
                ("ApplicationSid", "AP00000000000000000000000000000000"),
            ],
        )
        .await
        .expect("client call")
}

async fn user_id(w: &crate::calls::CallWorld, token: &str) -> String {
    let (_, me) = w.t.get("/api/auth/me", token).await;
    me["id"]
        .as_str()
        .or(me["user"]["id"].as_str())
        .expect("id")
        .to_owned()
}

#[tokio::test]
async fn browser_calls_are_outbound_call_logs_of_the_user_who_placed_them() {
    let w = call_world().await;
    let owner = user_id(&w, &w.owner).await;
    let customer = "+15557654321";
    let answered = browser_call(
        &w,
        &owner,
        customer,
        twilio_sim::Staff::Answers { after_secs: 4 },
    )
    .await;
    assert!(answered.errors.is_empty(), "{:?}", answered.errors);
    assert_eq!(answered.dialed, vec![customer.to_owned()], "{answered:?}");
    let log = w.log(&answered.call_sid).await;
    assert_eq!(log["direction"], "outbound-dial", "{log}");
    assert_eq!(log["from"], crate::calls::TRACKING);
    assert_eq!(log["to"], customer);
    assert_eq!(log["twilioPhoneNumber"], crate::calls::TRACKING);
    assert_eq!(log["userId"], owner.as_str());
    assert_eq!(log["outcome"], "answered", "{log}");
    assert!(log["duration"].as_i64().is_some_and(|d| d > 0), "{log}");

    let unanswered = browser_call(&w, &owner, "+15557654322", twilio_sim::Staff::NoAnswer).await;
    let log = w.log(&unanswered.call_sid).await;
    assert_eq!(log["direction"], "outbound-dial");
    assert_ne!(log["outcome"], "answered", "{log}");
    let (_, outbound) =
        w.t.get("/api/twilio/call-logs?direction=outbound", &w.owner)
            .await;
    assert_eq!(outbound["total"], 2, "{outbound}");
    let (_, inbound) =
        w.t.get("/api/twilio/call-logs?direction=inbound", &w.owner)
            .await;
    assert_eq!(inbound["total"], 0, "{inbound}");
    // Stats keep them apart: an outbound call nobody picked up was not missed by the
    // business (rollups and scans agree).
    for path in [
        "/api/twilio/call-logs/stats",
        "/api/twilio/call-logs/stats?q=555",
    ] {
        let (status, stats) = w.t.get(path, &w.owner).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert_eq!(stats["total"], 2, "{path}: {stats}");
        assert_eq!(stats["outbound"], 2, "{path}: {stats}");
        assert_eq!(stats["missed"], 0, "{path}: {stats}");
        assert_eq!(stats["answered"], 0, "{path}: {stats}");
        assert_eq!(stats["byMenuChoice"]["none"], 0, "{path}: {stats}");
    }

    // Refused, and nothing stored: a premium number, a foreign one, an identity that is
    // not one of our users, and staff without the calls page.
    let desk =
        w.t.user(
            &w.admin,
            "desk@calls.test",
            "receptionist",
            &w.tenant,
            &["messages"],
        )
        .await;
    let desk = user_id(&w, &desk).await;
    for (identity, to, heard) in [
        (owner.as_str(), "+19005550100", "cannot be called"),
        (owner.as_str(), "+442079460000", "cannot be called"),
        ("usr_0000000000000000deadbeef", customer, "not signed in"),
        (desk.as_str(), customer, "may not place calls"),
    ] {
        let report = browser_call(
            &w,
            identity,
            to,
            twilio_sim::Staff::Answers { after_secs: 1 },
        )
        .await;
        assert!(report.dialed.is_empty(), "{identity} → {to}: {report:?}");
        assert!(
            report.heard.iter().any(|h| h.contains(heard)),
            "{identity} → {to}: {:?}",
            report.heard
        );
        let (status, _) =
            w.t.get(
                &format!("/api/twilio/call-logs/{}", report.call_sid),
                &w.owner,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "stored nothing");
    }

    // A tenant with its own account: a request signed by another account for one of its
    // users is refused before anything is read.
    let (rapid, rapid_owner) = w.other_tenant().await;
    let own = w.sim.create_account("Rapid's own");
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{rapid}/twilio/config"),
            &w.admin,
            json!({"accountSid": own.sid, "authToken": own.auth_token}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rapid_user = user_id(&w, &rapid_owner).await;
    let forged = browser_call(
        &w,
        &rapid_user,
        customer,
        twilio_sim::Staff::Answers { after_secs: 1 },
    )
    .await;
    assert!(forged.dialed.is_empty(), "{forged:?}");
    assert!(
        forged.errors.iter().any(|e| e.contains("403")),
        "{:?}",
        forged.errors
    );
    let (_, theirs) = w.t.get("/api/twilio/call-logs", &rapid_owner).await;
    assert_eq!(theirs["total"], 0);
    w.t.stop().await;
}

/// Places a click-to-call and waits for the simulator to finish it.
async fn click_to_call(
    w: &crate::calls::CallWorld,
    body: Value,
) -> (String, twilio_sim::CallReport) {
    let (status, placed) = w.t.post("/api/twilio/make-call", &w.owner, body).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let sid = placed["callSid"].as_str().expect("callSid").to_owned();
    let report = w
        .sim
        .wait_outbound(&sid, std::time::Duration::from_secs(20))
        .await
        .expect("the call ends");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    (sid, report)
}

#[tokio::test]
async fn click_to_call_rings_the_staff_phone_then_bridges_the_customer() {
    let w = call_world().await;
    let owner = user_id(&w, &w.owner).await;
    let customer = "+15557654321";

    // Click-to-call rings the staff member's own phone first: without one, say so.
    let (status, body) =
        w.t.post("/api/twilio/make-call", &w.owner, json!({"to": customer}))
            .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("profile")),
        "{body}"
    );
    let (status, body) =
        w.t.patch("/api/auth/me", &w.owner, json!({"phone": "not a phone"}))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["phone"].is_string(), "{body}");
    let (status, me) =
        w.t.patch("/api/auth/me", &w.owner, json!({"phone": "(555) 010-2000"}))
            .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let staff_phone = "+15550102000";
    assert_eq!(me["phone"], staff_phone);
    let (status, contact) =
        w.t.post(
            "/api/contacts",
            &w.owner,
            json!({"name": "Jordan Lee", "phone": customer}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let contact_id = contact["id"].as_str().expect("id");

    // Answered: the staff phone picks up, hears whom it calls, the customer answers.
    w.sim
        .set_phone(customer, twilio_sim::Staff::Answers { after_secs: 4 });
    let (sid, report) = click_to_call(&w, json!({"contactId": contact_id})).await;
    assert_eq!(report.final_status, "completed", "{report:?}");
    assert_eq!(report.dialed, vec![customer.to_owned()], "{report:?}");
    assert!(
        report.heard.iter().any(|h| h.starts_with("Calling")),
        "{report:?}"
    );
    let at_twilio = w.sim.call(&w.account.sid, &sid).expect("Twilio's call");
    assert_eq!(at_twilio.to, staff_phone, "Twilio rang the staff phone");
    assert_eq!(at_twilio.from, crate::calls::TRACKING);
    assert_eq!(at_twilio.direction, "outbound-api");
    let log = w.log(&sid).await;
    assert_eq!(log["direction"], "outbound-api", "{log}");
    assert_eq!(log["from"], crate::calls::TRACKING, "{log}");
    assert_eq!(
        log["to"], customer,
        "the customer, not the staff phone: {log}"
    );
    assert_eq!(log["userId"], owner.as_str(), "{log}");
    assert_eq!(log["contactId"], contact_id, "{log}");
    assert_eq!(log["outcome"], "answered", "{log}");
    assert!(log["duration"].as_i64().is_some_and(|d| d > 0), "{log}");

    // The customer does not answer: the staff member hears so, and nobody is offered
    // the voicemail box meant for inbound callers.
    let nobody = "+15557654329";
    w.sim.set_phone(nobody, twilio_sim::Staff::NoAnswer);
    let (sid, report) = click_to_call(&w, json!({"to": "555-765-4329"})).await;
    assert_eq!(report.dialed, vec![nobody.to_owned()], "{report:?}");
    assert!(
        report.heard.iter().any(|h| h.contains("not answered")),
        "{report:?}"
    );
    assert!(report.voicemail_sid.is_none(), "{report:?}");
    let log = w.log(&sid).await;
    assert_eq!(log["to"], nobody);
    assert_ne!(log["outcome"], "answered", "{log}");

    // The staff member's own phone does not answer: nobody is dialled.
    w.sim.set_phone(staff_phone, twilio_sim::Staff::NoAnswer);
    let (sid, report) = click_to_call(&w, json!({"to": customer})).await;
    assert!(report.dialed.is_empty(), "{report:?}");
    assert_eq!(report.final_status, "no-answer");
    let log = w.log(&sid).await;
    assert_eq!(log["status"], "no-answer", "{log}");
    assert_eq!(log["to"], customer);
    assert_eq!(log["userId"], owner.as_str());

    let (_, outbound) =
        w.t.get("/api/twilio/call-logs?direction=outbound", &w.owner)
            .await;
    assert_eq!(outbound["total"], 3, "{outbound}");

    // Refused, and nothing placed: a premium number, a number that is not one of ours
    // as caller id, another tenant's contact, unknown fields, an admin.
    let (rapid, rapid_owner) = w.other_tenant().await;
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{rapid}/twilio/config"),
            &w.admin,
            json!({"phoneNumbers": [{"phoneNumber": "+15551239999"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, theirs) =
        w.t.post(
            "/api/contacts",
            &rapid_owner,
            json!({"name": "Their customer", "phone": "+15557650000"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let before = w.sim.call_count(&w.account.sid);
    for (body, expected) in [
        (
            json!({"to": "+19005550100"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"to": "+442079460000"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"to": customer, "fromNumber": "+15551239999"}),
            StatusCode::NOT_FOUND,
        ),
        (json!({"contactId": theirs["id"]}), StatusCode::NOT_FOUND),
        (
            json!({"to": customer, "callerName": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, answer) =
            w.t.post("/api/twilio/make-call", &w.owner, body.clone())
                .await;
        assert_eq!(status, expected, "{body} → {answer}");
    }
    let (status, _) =
        w.t.post("/api/twilio/make-call", &w.admin, json!({"to": customer}))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        w.sim.call_count(&w.account.sid),
        before,
        "nothing was placed"
    );
    w.t.stop().await;
}

#[tokio::test]
async fn forwarded_calls_can_ring_staff_browsers_and_the_first_to_answer_takes_it() {
    let w = call_world().await;
    let owner = user_id(&w, &w.owner).await;
    let desk =
        w.t.user(
            &w.admin,
            "desk@brightsmiles.test",
            "receptionist",
            &w.tenant,
            &["calls"],
        )
        .await;
    let desk = user_id(&w, &desk).await;
    let config = format!("/api/companies/{}/twilio/config", w.tenant);
    let (status, body) =
        w.t.put(&config, &w.owner, json!({"ringBrowsers": true}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ringBrowsers"], true);

    // The owner's browser answers before the front desk's phone would.
    w.sim.set_phone(
        &format!("client:{owner}"),
        twilio_sim::Staff::Answers { after_secs: 2 },
    );
    let mut s = crate::calls::caller();
    s.presses = vec![twilio_sim::Press::Digits("1".into())];
    s.staff = twilio_sim::Staff::Answers { after_secs: 8 };
    let report = w.play(&s).await;
    for party in [format!("client:{owner}"), format!("client:{desk}")] {
        assert!(report.dialed.contains(&party), "{party}: {report:?}");
    }
    assert_eq!(report.dial_call_status.as_deref(), Some("completed"));
    let log = w.log(&report.call_sid).await;
    assert_eq!(log["outcome"], "answered", "{log}");
    assert_eq!(log["direction"], "inbound");

    // Nobody is at a browser: the phone still takes the call.
    w.sim
        .set_phone(&format!("client:{owner}"), twilio_sim::Staff::NoAnswer);
    let report = w.play(&s).await;
    assert_eq!(report.dial_call_status.as_deref(), Some("completed"));
    assert_eq!(w.log(&report.call_sid).await["outcome"], "answered");

    // Off again: only the phone rings.
    let (status, _) =
        w.t.put(&config, &w.owner, json!({"ringBrowsers": false}))
            .await;
    assert_eq!(status, StatusCode::OK);
    let report = w.play(&s).await;
    assert!(
        report.dialed.iter().all(|d| !d.starts_with("client:")),
        "{report:?}"
    );
    w.t.stop().await;
}
