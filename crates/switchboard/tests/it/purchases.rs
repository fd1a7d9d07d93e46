//! Buying, releasing and provisioning numbers through the simulator: a double submit
//! buys once, Twilio's refusals come back in its words, provision-phone is idempotent,
//! a subscription that starts gets a number, and a failure shows on the tenant.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::calls::{CallWorld, call_world};

async fn numbers_of(w: &CallWorld, tenant: &str) -> Vec<String> {
    let (status, config) =
        w.t.get(&format!("/api/companies/{tenant}/twilio/config"), &w.admin)
            .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    config["phoneNumbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .filter_map(|n| n["phoneNumber"].as_str().map(str::to_owned))
        .collect()
}

async fn offers(w: &CallWorld, query: &str, token: &str) -> Vec<Value> {
    let (status, body) =
        w.t.get(&format!("/api/twilio/available-numbers{query}"), token)
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["numbers"].as_array().expect("numbers").clone()
}

#[tokio::test]
async fn a_double_submit_buys_once_and_a_released_number_keeps_its_history() {
    let w = call_world().await;
    let found = offers(&w, "?areaCode=555&contains=1007&smsEnabled=true", &w.admin).await;
    assert!(!found.is_empty());
    for n in &found {
        let number = n["phoneNumber"].as_str().expect("number");
        assert!(
            number.starts_with("+1555") && number.contains("1007"),
            "{n}"
        );
        assert_eq!(n["capabilities"]["sms"], true);
        assert!(n["locality"].is_string() && n["region"].is_string(), "{n}");
    }
    let every = offers(&w, "?areaCode=555", &w.admin).await;
    assert!(
        every.iter().any(|n| n["capabilities"]["sms"] == false),
        "some numbers take calls only: {every:?}"
    );
    let (status, bad) =
        w.t.get("/api/twilio/available-numbers?areaCode=12", &w.admin)
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    // An owner searches its own account; staff may not.
    assert!(!offers(&w, "", &w.owner).await.is_empty());
    let desk =
        w.t.user(
            &w.admin,
            "desk@numbers.test",
            "receptionist",
            &w.tenant,
            &["settings"],
        )
        .await;
    let (status, _) = w.t.get("/api/twilio/available-numbers", &desk).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (rapid, _) = w.other_tenant().await;
    let number = found[0]["phoneNumber"].as_str().expect("number").to_owned();
    let body = json!({"phoneNumber": number, "clinicId": rapid, "friendlyName": "Yard signs",
                      "forwardNumber": "+15553339999"});
    let (a, b) = tokio::join!(
        w.t.post("/api/twilio/numbers/purchase", &w.admin, body.clone()),
        w.t.post("/api/twilio/numbers/purchase", &w.admin, body.clone()),
    );
    assert_eq!(a.0, StatusCode::CREATED, "{}", a.1);
    assert_eq!(b.0, StatusCode::CREATED, "{}", b.1);
    assert_eq!(a.1["sid"], b.1["sid"], "one number, bought once");
    assert_eq!(a.1["phoneNumber"], number.as_str());
    assert_eq!(a.1["clinicId"], rapid.as_str());
    let sid = a.1["sid"].as_str().expect("sid").to_owned();
    assert!(sid.starts_with("PN"), "{sid}");
    let on_twilio = w.sim.number(&number).expect("bought on the simulator");
    assert_eq!(
        on_twilio.voice_url.as_deref(),
        Some(w.t.url("/api/twilio/voice/incoming").as_str()),
        "bought with our webhooks"
    );
    assert_eq!(numbers_of(&w, &rapid).await, vec![number.clone()]);
    let (_, config) =
        w.t.get(&format!("/api/companies/{rapid}/twilio/config"), &w.admin)
            .await;
    assert_eq!(config["forwardNumber"], "+15553339999");
    let (_, jobs) = w.t.get("/api/admin/jobs", &w.admin).await;
    let purchases = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter(|j| j["kind"] == "numbers.purchase")
        .count();
    assert_eq!(purchases, 1, "{jobs}");

    // Somebody else's number: ours is a 409, Twilio's refusal comes back in its words.
    let (status, taken) =
        w.t.post(
            "/api/twilio/numbers/purchase",
            &w.admin,
            json!({"phoneNumber": crate::calls::TRACKING, "clinicId": rapid}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{taken}");
    let elsewhere = w.sim.create_account("Someone else");
    w.sim
        .add_number(&elsewhere.sid, "+15557770001", "Theirs")
        .expect("number");
    let (status, refused) =
        w.t.post(
            "/api/twilio/numbers/purchase",
            &w.admin,
            json!({"phoneNumber": "+15557770001", "clinicId": rapid}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("21422")),
        "{refused}"
    );
    let (status, _) =
        w.t.post(
            "/api/twilio/numbers/purchase",
            &w.owner,
            json!({"phoneNumber": number, "clinicId": w.tenant}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Release: gone from Twilio and from the tenant; it can be bought again.
    let (status, released) =
        w.t.delete(&format!("/api/twilio/numbers/{sid}"), &w.admin)
            .await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["released"], number.as_str());
    assert!(w.sim.number(&number).is_none());
    assert!(numbers_of(&w, &rapid).await.is_empty());
    let (status, _) =
        w.t.delete(&format!("/api/twilio/numbers/{sid}"), &w.admin)
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, again) =
        w.t.post("/api/twilio/numbers/purchase", &w.admin, body)
            .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_ne!(again["sid"], sid.as_str(), "a new purchase");
    w.t.stop().await;
}

#[tokio::test]
async fn provisioning_is_idempotent_and_follows_the_subscription() {
    let w = call_world().await;
    // provision-phone: a tenant without a number gets one, once.
    let fresh = w.t.tenant(&w.admin, "Fresh Start Chiropractic").await;
    let owner =
        w.t.user(&w.admin, "owner@fresh.test", "customer", &fresh, &[])
            .await;
    let (a, b) = tokio::join!(
        w.t.post("/api/telephony/provision-phone", &owner, json!({})),
        w.t.post("/api/telephony/provision-phone", &owner, json!({})),
    );
    assert_eq!(a.0, StatusCode::OK, "{}", a.1);
    assert_eq!(b.0, StatusCode::OK, "{}", b.1);
    assert_eq!(a.1["success"], true);
    let phone = a.1["data"]["phoneNumber"]
        .as_str()
        .expect("number")
        .to_owned();
    assert_eq!(b.1["data"]["phoneNumber"], phone.as_str());
    assert_eq!(numbers_of(&w, &fresh).await, vec![phone.clone()]);
    let (_, third) =
        w.t.post("/api/telephony/provision-phone", &owner, json!({}))
            .await;
    assert_eq!(third["data"]["phoneNumber"], phone.as_str());
    let (_, seed) = w.t.get("/api/telephony/phone-number", &owner).await;
    assert_eq!(seed["data"]["phoneNumber"], phone.as_str());
    // A tenant that has a number gets it back, nothing bought.
    let (_, existing) =
        w.t.post("/api/telephony/provision-phone", &w.owner, json!({}))
            .await;
    assert_eq!(existing["data"]["phoneNumber"], crate::calls::TRACKING);

    // A subscription that starts provisions; saving it again does not buy again.
    let sub = w.t.tenant(&w.admin, "Subscriber Dental").await;
    for status in ["trialing", "trialing", "active"] {
        let (code, body) =
            w.t.patch(
                &format!("/api/admin/tenants/{sub}"),
                &w.admin,
                json!({"subscriptionStatus": status}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["subscriptionStatus"], status);
    }
    let mut got = Vec::new();
    for _ in 0..100 {
        got = numbers_of(&w, &sub).await;
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "one number for the new subscriber");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(numbers_of(&w, &sub).await.len(), 1);
    let (code, bad) =
        w.t.patch(
            &format!("/api/admin/tenants/{sub}"),
            &w.admin,
            json!({"subscriptionStatus": "gold"}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    // A subscriber whose own Twilio account is closed: the failure shows on the tenant.
    let broke = w.t.tenant(&w.admin, "Closed Account Clinic").await;
    let own = w.sim.create_account("Closed");
    let (code, body) =
        w.t.put(
            &format!("/api/companies/{broke}/twilio/config"),
            &w.admin,
            json!({"accountSid": own.sid, "authToken": own.auth_token}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    w.sim.set_account_status(&own.sid, "closed");
    let (code, _) =
        w.t.patch(
            &format!("/api/admin/tenants/{broke}"),
            &w.admin,
            json!({"subscriptionStatus": "active"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let page = |path: String| {
        let req =
            w.t.http
                .get(w.t.url(&path))
                .header("cookie", format!("sb_session={}", w.admin));
        async move { req.send().await.expect("page").text().await.expect("text") }
    };
    let mut shown = String::new();
    for _ in 0..200 {
        shown = page(format!("/admin/tenants/{broke}")).await;
        if shown.contains("provisioning-error") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shown.contains("provisioning-error"), "{shown}");
    assert!(numbers_of(&w, &broke).await.is_empty());
    // Its owner searches its own (closed) account, not the platform's.
    let broke_owner =
        w.t.user(&w.admin, "owner@closed.test", "customer", &broke, &[])
            .await;
    let (status, _) = w.t.get("/api/twilio/available-numbers", &broke_owner).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    w.t.stop().await;
}
