//! The admin numbers API against the simulator's account: list, connect (which points
//! the number's webhooks at us), change the message, disconnect, check credentials;
//! and deleting one call log.

use reqwest::{Method, StatusCode};
use serde_json::json;
use twilio_sim::{Scenario, Staff};

use crate::calls::{TRACKING, call_world};
use crate::common::error_code;

const SPARE: &str = "+15551239999";

#[tokio::test]
async fn connect_points_the_number_at_us_and_routes_its_calls() {
    let w = call_world().await;
    w.sim
        .add_number(&w.account.sid, SPARE, "Spring mailer")
        .expect("number");
    let (other, other_owner) = w.other_tenant().await;

    let (status, body) = w.t.get("/api/twilio/numbers", &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let numbers = body["numbers"].as_array().expect("numbers");
    let tracking = numbers
        .iter()
        .find(|n| n["phoneNumber"] == TRACKING)
        .expect("tracking number listed");
    assert_eq!(tracking["tenantId"], json!(w.tenant));
    assert_eq!(tracking["tenantName"], "Bright Smiles Dental");
    assert_eq!(tracking["pointsHere"], true);
    let spare = numbers
        .iter()
        .find(|n| n["phoneNumber"] == SPARE)
        .expect("spare listed");
    assert_eq!(spare["tenantId"], json!(null));
    assert_eq!(spare["pointsHere"], false);

    // Refusals change nothing on Twilio or here.
    for (body, status, code) in [
        (
            json!({"clinicId": other, "phoneNumber": TRACKING}),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            json!({"clinicId": other, "phoneNumber": "+15557771234"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"clinicId": other, "phoneNumber": SPARE, "forwardNumber": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"clinicId": "ten_missing", "phoneNumber": SPARE}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"clinicId": other, "phoneNumber": SPARE, "surprise": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ] {
        let (got, reply) =
            w.t.post("/api/twilio/connect", &w.admin, body.clone())
                .await;
        assert_eq!(got, status, "{body} → {reply}");
        assert_eq!(error_code(&reply), code, "{reply}");
    }
    assert_eq!(
        w.sim.number(SPARE).expect("spare").voice_url,
        None,
        "nothing was pointed anywhere"
    );

    let (status, config) = w
        .t
        .post(
            "/api/twilio/connect",
            &w.admin,
            json!({"clinicId": other, "phoneNumber": "(555) 123-9999", "forwardNumber": "555-777-0000",
                   "menuMessage": "Thanks for calling Rapid Rooter."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["phoneNumbers"][0]["phoneNumber"], SPARE);
    assert_eq!(config["phoneNumbers"][0]["friendlyName"], "Spring mailer");
    assert_eq!(config["forwardNumber"], "+15557770000");
    let on_twilio = w.sim.number(SPARE).expect("spare");
    assert_eq!(
        on_twilio.voice_url.as_deref(),
        Some(w.t.url("/api/twilio/voice/incoming").as_str())
    );
    assert_eq!(
        on_twilio.status_callback.as_deref(),
        Some(w.t.url("/api/twilio/voice/status-callback").as_str())
    );

    // Its calls now reach the other tenant and hear its message.
    let mut s = Scenario::new("+15550009999", SPARE);
    s.staff = Staff::Answers { after_secs: 2 };
    let report = w.play(&s).await;
    assert!(
        report
            .heard
            .iter()
            .any(|h| h.contains("Thanks for calling Rapid Rooter")),
        "{:?}",
        report.heard
    );
    let (status, log) =
        w.t.get(
            &format!("/api/twilio/call-logs/{}", report.call_sid),
            &other_owner,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let (status, _) =
        w.t.get(
            &format!("/api/twilio/call-logs/{}", report.call_sid),
            &w.owner,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The message changes; blank restores the default.
    let (status, config) =
        w.t.call(
            Method::PATCH,
            &format!("/api/twilio/update-message/{other}"),
            Some(&w.admin),
            Some(json!({"menuMessage": "Rapid Rooter, how can we help?"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["menuMessage"], "Rapid Rooter, how can we help?");
    let (status, _) =
        w.t.call(
            Method::PATCH,
            "/api/twilio/update-message/ten_missing",
            Some(&w.admin),
            Some(json!({"menuMessage": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Disconnecting: the number is gone from the tenant, its calls are unrouted.
    let (status, body) =
        w.t.call(
            Method::PATCH,
            &format!("/api/twilio/disconnect/{other}"),
            Some(&w.admin),
            Some(json!({"phoneNumber": SPARE})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["disconnected"], json!([SPARE]));
    let (status, _) =
        w.t.call(
            Method::PATCH,
            &format!("/api/twilio/disconnect/{other}"),
            Some(&w.admin),
            Some(json!({"phoneNumber": SPARE})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already disconnected");
    let late = w.play(&Scenario::new("+15550008888", SPARE)).await;
    let (_, unrouted) = w.t.get("/api/admin/unrouted-calls", &w.admin).await;
    assert!(
        unrouted["unroutedCalls"]
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["callSid"] == json!(late.call_sid)),
        "{unrouted}"
    );
    w.t.stop().await;
}

#[tokio::test]
async fn credentials_checks_say_whether_twilio_accepts_them() {
    let w = call_world().await;
    let (status, check) = w.t.get("/api/twilio/test-credentials", &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["ok"], true);
    assert_eq!(check["platform"], true);
    assert!(
        check["accountSid"]
            .as_str()
            .is_some_and(|s| s.starts_with("AC…") && !s.contains(&w.account.sid)),
        "{check}"
    );

    // The owner's own check: platform credentials first, then a wrong token of their own.
    let path = format!("/api/companies/{}/twilio/test-credentials", w.tenant);
    let (status, check) = w.t.post(&path, &w.owner, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["ok"], true);
    let (status, _) =
        w.t.put(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
            json!({"accountSid": w.account.sid, "authToken": "definitely-not-the-token"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, check) = w.t.post(&path, &w.owner, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["ok"], false);
    assert_eq!(check["platform"], false);
    assert!(
        !check.to_string().contains("definitely-not-the-token"),
        "{check}"
    );
    w.t.stop().await;
}

#[tokio::test]
async fn an_owner_deletes_one_call_and_the_figures_follow() {
    let w = call_world().await;
    let mut first = Scenario::new("+15550001111", TRACKING);
    first.staff = Staff::Answers { after_secs: 2 };
    first.talk_secs = 30;
    let first = w.play(&first).await.call_sid;
    let mut second = Scenario::new("+15550002222", TRACKING);
    second.staff = Staff::NoAnswer;
    let second = w.play(&second).await.call_sid;
    let desk =
        w.t.user(
            &w.admin,
            "desk@brightsmiles.test",
            "receptionist",
            &w.tenant,
            &["call-logs"],
        )
        .await;

    let path = format!("/api/twilio/call-logs/{first}");
    let (status, body) = w.t.call(Method::DELETE, &path, Some(&desk), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "staff cannot delete: {body}");
    let (_, other_owner) = w.other_tenant().await;
    let (status, _) =
        w.t.call(Method::DELETE, &path, Some(&other_owner), None)
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's call");

    let (status, _) = w.t.call(Method::DELETE, &path, Some(&w.owner), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = w.t.get(&path, &w.owner).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, stats) = w.t.get("/api/twilio/call-logs/stats", &w.owner).await;
    assert_eq!(stats["total"], 1, "{stats}");
    assert_eq!(stats["answered"], 0, "{stats}");
    assert_eq!(stats["missed"], 1, "{stats}");
    let (_, page) = w.t.get("/api/twilio/call-logs", &w.owner).await;
    assert_eq!(page["callLogs"][0]["callSid"], json!(second));
    w.t.stop().await;
}
