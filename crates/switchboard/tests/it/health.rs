//! Dependency health through the simulator: each tenant's own Twilio account graded on
//! its own (refused, slow, suspended), drifted webhooks found and pointed back, a short
//! cache, and admins only.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::calls::{TRACKING, call_world, caller};

const HEALTH: &str = "/api/admin/notifications/dependency-health?refresh=true";

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name}: {report}"))
}

#[tokio::test]
async fn each_account_is_graded_on_its_own_and_drifted_numbers_are_fixed() {
    let w = call_world().await;
    w.route_texts();
    let (status, report) = w.t.get(HEALTH, &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["status"], "HEALTHY", "{report}");
    assert!(report["checkedAt"].is_string());
    for name in ["database", "job queue", "twilio", "webhooks"] {
        assert_eq!(
            check(&report, name)["status"],
            "HEALTHY",
            "{name}: {report}"
        );
    }
    // The data directory's disk is checked where the database lives in it (SQLite).
    if std::env::var("TEST_DATABASE_URL").map_or(true, |u| u.is_empty()) {
        assert!(
            check(&report, "disk")["message"]
                .as_str()
                .is_some_and(|m| m.contains("GiB free")),
            "{report}"
        );
    }
    assert_eq!(check(&report, "twilio")["credentialSource"], "platform");
    assert_eq!(check(&report, "twilio")["critical"], true);
    assert_eq!(check(&report, "llm")["status"], "NOT_CONFIGURED");
    let (status, _) = w.t.get(HEALTH, &w.owner).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A tenant with its own working account, and one whose token Twilio refuses.
    let (rapid, _) = w.other_tenant().await;
    let own = w.sim.create_account("Rapid Rooter's own");
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{rapid}/twilio/config"),
            &w.admin,
            json!({"accountSid": own.sid, "authToken": own.auth_token}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let broken = w.t.tenant(&w.admin, "Broken Creds Dental").await;
    let stale = w.sim.create_account("Broken's old");
    let (status, body) =
        w.t.put(
            &format!("/api/companies/{broken}/twilio/config"),
            &w.admin,
            json!({"accountSid": stale.sid, "authToken": "0".repeat(32)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, report) = w.t.get(HEALTH, &w.admin).await;
    let text = report.to_string();
    let rapid_check = check(&report, "twilio (Rapid Rooter Plumbing)");
    assert_eq!(rapid_check["status"], "HEALTHY", "{report}");
    assert_eq!(
        rapid_check["credentialSource"],
        "tenant:Rapid Rooter Plumbing"
    );
    let broken_check = check(&report, "twilio (Broken Creds Dental)");
    assert_eq!(broken_check["status"], "DOWN", "{report}");
    assert_eq!(
        broken_check["credentialSource"],
        "tenant:Broken Creds Dental"
    );
    assert_eq!(
        report["status"], "HEALTHY",
        "one tenant's account is not the platform's"
    );
    assert_eq!(check(&report, "twilio")["status"], "HEALTHY");
    for secret in [own.auth_token.as_str(), w.account.auth_token.as_str()] {
        assert!(!text.contains(secret), "a secret in the report: {text}");
    }

    // Slow, then suspended.
    w.sim
        .set_answer_delay(&own.sid, Duration::from_millis(2_300));
    let (_, report) = w.t.get(HEALTH, &w.admin).await;
    assert_eq!(
        check(&report, "twilio (Rapid Rooter Plumbing)")["status"],
        "DEGRADED",
        "{report}"
    );
    // One that hangs is DOWN on its own; the rest still answer.
    w.sim
        .set_answer_delay(&own.sid, Duration::from_millis(6_000));
    let (_, report) = w.t.get(HEALTH, &w.admin).await;
    let hung = check(&report, "twilio (Rapid Rooter Plumbing)");
    assert_eq!(hung["status"], "DOWN", "{report}");
    assert!(
        hung["message"]
            .as_str()
            .is_some_and(|m| m.contains("no answer")),
        "{hung}"
    );
    assert_eq!(check(&report, "twilio")["status"], "HEALTHY");
    assert_eq!(check(&report, "database")["status"], "HEALTHY");
    w.sim.set_answer_delay(&own.sid, Duration::ZERO);
    w.sim.set_account_status(&own.sid, "suspended");
    let (_, report) = w.t.get(HEALTH, &w.admin).await;
    let suspended = check(&report, "twilio (Rapid Rooter Plumbing)");
    assert_eq!(suspended["status"], "DOWN", "{report}");
    assert!(
        suspended["message"]
            .as_str()
            .is_some_and(|m| m.contains("suspended")),
        "{suspended}"
    );

    // Someone pointed the clinic's number elsewhere in the Twilio console.
    w.sim.set_number_webhooks(
        &w.account.sid,
        TRACKING,
        "https://old-provider.example/voice",
        None,
        None,
    );
    let (_, report) = w.t.get(HEALTH, &w.admin).await;
    let drift = check(&report, "webhooks");
    assert_eq!(drift["status"], "DEGRADED", "{report}");
    assert_eq!(drift["drifted"][0]["phoneNumber"], TRACKING);
    assert_eq!(
        drift["drifted"][0]["voiceUrl"],
        "https://old-provider.example/voice"
    );
    let (status, fixed) =
        w.t.post(
            "/api/twilio/numbers/fix-webhooks",
            &w.admin,
            json!({"phoneNumber": TRACKING}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fixed}");
    let number = w.sim.number(TRACKING).expect("number");
    assert_eq!(
        number.voice_url.as_deref(),
        Some(w.t.url("/api/twilio/voice/incoming").as_str())
    );
    let (_, report) = w.t.get(HEALTH, &w.admin).await;
    assert_eq!(check(&report, "webhooks")["status"], "HEALTHY", "{report}");
    w.play(&caller()).await;
    let (status, bad) =
        w.t.post(
            "/api/twilio/numbers/fix-webhooks",
            &w.admin,
            json!({"phoneNumber": "+15559990000"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let (status, _) =
        w.t.post(
            "/api/twilio/numbers/fix-webhooks",
            &w.owner,
            json!({"phoneNumber": TRACKING}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Without ?refresh the report is reused briefly.
    let (_, first) =
        w.t.get("/api/admin/notifications/dependency-health", &w.admin)
            .await;
    let (_, second) =
        w.t.get("/api/admin/notifications/dependency-health", &w.admin)
            .await;
    assert_eq!(first["checkedAt"], second["checkedAt"]);
    w.t.stop().await;
}
