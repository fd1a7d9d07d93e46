//! Malformed, mistyped, oversized and mislabelled bodies get a clear 4xx in the JSON
//! error shape, and store nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, error_code};

async fn raw(
    t: &TestApp,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let resp = t
        .http
        .post(t.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("send");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_mistyped_oversized_and_wrong_type() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;

    let (status, body) = raw(
        &t,
        "/api/admin/tenants",
        &admin,
        "application/json",
        b"{\"name\": ".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "bad_request");

    let (status, body) = raw(
        &t,
        "/api/admin/tenants",
        &admin,
        "application/json",
        br#"{"name": 42}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "validation_failed");
    assert!(
        body["error"]["fields"]["body"]
            .as_str()
            .is_some_and(|m| m.contains("name")),
        "{body}"
    );

    let (status, _) = raw(
        &t,
        "/api/admin/tenants",
        &admin,
        "application/json",
        br#"{"name": "X", "extra": 1}"#.to_vec(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused, not ignored"
    );

    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(200_000));
    let (status, body) = raw(
        &t,
        "/api/admin/tenants",
        &admin,
        "application/json",
        huge.into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body), "payload_too_large");

    let (status, body) = raw(
        &t,
        "/api/admin/tenants",
        &admin,
        "text/plain",
        br#"{"name": "X"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&body), "unsupported_media_type");

    let (status, body) = raw(
        &t,
        "/api/auth/login",
        "",
        "application/json",
        b"[]".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (_, list) = t.get("/api/admin/tenants", &admin).await;
    assert_eq!(list["tenants"], json!([]), "nothing was stored");

    let (status, body) = t.get("/api/no/such/route", &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
    t.stop().await;
}

#[tokio::test]
async fn config_with_bad_values_changes_nothing() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let tenant = t.tenant(&admin, "Careful Co").await;
    let path = format!("/api/companies/{tenant}/twilio/config");
    let (status, _) = t
        .put(
            &path,
            &admin,
            json!({"menuMessage": "Original", "forwardNumber": "+15557654321"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = t
        .put(
            &path,
            &admin,
            json!({
                "menuMessage": "Changed",
                "accountSid": "AC123",
                "forwardNumber": "call me maybe",
                "voice": "Robot.Bob",
                "callRoutingMode": "menu",
                "phoneNumbers": [{"phoneNumber": "+15551230001"}, {"phoneNumber": "nope"}],
                "businessHours": {"days": {"mon": [{"open": "17:00", "close": "09:00"}]}, "afterHoursAction": "voicemail"}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = &body["error"]["fields"];
    for f in [
        "accountSid",
        "forwardNumber",
        "voice",
        "phoneNumbers[1].phoneNumber",
        "businessHours.days.mon[0]",
    ] {
        assert!(fields[f].is_string(), "expected an error on {f}: {body}");
    }
    let (_, config) = t.get(&path, &admin).await;
    assert_eq!(config["menuMessage"], "Original");
    assert_eq!(config["callRoutingMode"], Value::Null);
    assert_eq!(config["phoneNumbers"], json!([]));

    let (status, _) = t
        .put(&path, &admin, json!({"callRoutingMode": "teleport"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    t.stop().await;
}
