//! `GET|PUT /api/companies/:companyId/twilio/config`: numbers, routing, secrets.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::common::{TestApp, error_code};

fn sid(prefix: &str, fill: char) -> String {
    format!("{prefix}{}", fill.to_string().repeat(32))
}

#[tokio::test]
async fn one_number_in_three_spellings_and_409_for_another_owner() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let a = t.tenant(&admin, "Alpha").await;
    let b = t.tenant(&admin, "Beta").await;

    let (status, body) = t
        .put(
            &format!("/api/companies/{a}/twilio/config"),
            &admin,
            json!({"phoneNumbers": [{"phoneNumber": "+1 (555) 123-0001", "friendlyName": "Google Ads"}, {"phoneNumber": "5551230003", "status": "inactive"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let numbers = body["phoneNumbers"].as_array().expect("numbers");
    assert_eq!(numbers.len(), 2);
    assert_eq!(numbers[0]["phoneNumber"], "+15551230001");
    assert_eq!(numbers[0]["isPrimary"], true);
    assert_eq!(numbers[0]["friendlyName"], "Google Ads");
    assert_eq!(numbers[1]["status"], "inactive");

    // The same number, spelled two more ways, in one request: one number.
    let (status, body) = t
        .put(
            &format!("/api/companies/{a}/twilio/config"),
            &admin,
            json!({"phoneNumbers": [{"phoneNumber": "15551230001"}, {"phoneNumber": "+15551230001"}]}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "listed twice: {body}"
    );

    for spelling in ["+1 (555) 123-0001", "15551230001", "+15551230001"] {
        let (status, body) = t
            .put(
                &format!("/api/companies/{b}/twilio/config"),
                &admin,
                json!({"phoneNumbers": [{"phoneNumber": spelling}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{spelling}: {body}");
        assert_eq!(error_code(&body), "conflict");
    }
    let (_, b_config) = t
        .get(&format!("/api/companies/{b}/twilio/config"), &admin)
        .await;
    assert_eq!(
        b_config["phoneNumbers"],
        json!([]),
        "the refused request stored nothing"
    );

    // Re-saving A's own number in another spelling is fine.
    let (status, body) = t
        .put(
            &format!("/api/companies/{a}/twilio/config"),
            &admin,
            json!({"phoneNumbers": [{"phoneNumber": "15551230001"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phoneNumbers"].as_array().map(Vec::len), Some(1));
    t.stop().await;
}

#[tokio::test]
async fn secrets_are_masked_and_encrypted_at_rest() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let a = t.tenant(&admin, "Secretive Dental").await;
    let owner = t
        .user(&admin, "owner@secretive.test", "customer", &a, &[])
        .await;
    let account = sid("AC", 'a');
    let key = sid("SK", 'c');
    let token = "0123456789abcdef0123456789abcdef";
    let key_secret = "super-secret-api-key-value";
    let (status, body) = t
        .put(
            &format!("/api/companies/{a}/twilio/config"),
            &owner,
            json!({"accountSid": account, "authToken": token, "apiKeySid": key, "apiKeySecret": key_secret,
                   "callRoutingMode": "menu", "forwardNumberNew": "(555) 765-4321", "recordingEnabled": true,
                   "voice": "Polly.Joanna", "businessHours": {"timezone": "America/Denver", "days": {"mon": [{"open": "08:00", "close": "12:00"}, {"open": "13:00", "close": "17:00"}]}, "afterHoursAction": "voicemail"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for view in [
        body.clone(),
        t.get(&format!("/api/companies/{a}/twilio/config"), &owner)
            .await
            .1,
    ] {
        let text = view.to_string();
        assert!(
            !text.contains(token) && !text.contains(key_secret),
            "secret in response: {text}"
        );
        assert!(
            !text.contains(&account) && !text.contains(&key),
            "full SIDs in response: {text}"
        );
        assert_eq!(view["accountSid"], "AC…aaaa");
        assert_eq!(view["apiKeySid"], "SK…cccc");
        assert_eq!(view["hasAuthToken"], true);
        assert_eq!(view["hasApiKeySecret"], true);
        assert_eq!(view["usesPlatformCredentials"], false);
        assert_eq!(view["callRoutingMode"], "menu");
        assert_eq!(view["forwardNumberNew"], "+15557654321");
        assert_eq!(
            view["businessHours"]["days"]["mon"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    // The raw row holds no plaintext.
    let row = sqlx::query("SELECT * FROM tenant_telephony WHERE tenant_id = $1")
        .bind(&a)
        .fetch_one(t.app.state.db.pool())
        .await
        .expect("row");
    for column in ["auth_token_enc", "api_key_secret_enc"] {
        let stored: String = row.try_get(column).expect("column");
        assert!(
            stored.starts_with("v1:") && !stored.contains(token) && !stored.contains(key_secret),
            "{column}: {stored}"
        );
    }
    // Nor does the database file, byte for byte (SQLite).
    if t.app.state.db.backend() == switchboard::db::Backend::Sqlite {
        let mut bytes = Vec::new();
        for f in ["switchboard.db", "switchboard.db-wal"] {
            bytes.extend(std::fs::read(t.data_dir.join(f)).unwrap_or_default());
        }
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains(token) && !hay.contains(key_secret),
            "plaintext secret in the database file"
        );
    }

    // The service can still use them.
    let creds = switchboard::telephony::credentials_for(
        &t.app.state.db,
        &t.app.state.secrets,
        &t.app.state.config.platform,
        &a,
    )
    .await
    .expect("credentials")
    .expect("some");
    assert_eq!(creds.account_sid(), account);

    // Clearing with null keeps other settings.
    let (status, cleared) = t
        .put(
            &format!("/api/companies/{a}/twilio/config"),
            &owner,
            json!({"accountSid": null, "authToken": null, "apiKeySid": null, "apiKeySecret": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["usesPlatformCredentials"], true);
    assert_eq!(cleared["hasAuthToken"], false);
    assert_eq!(cleared["callRoutingMode"], "menu");
    t.stop().await;
}

#[tokio::test]
async fn credentials_must_come_in_pairs() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let a = t.tenant(&admin, "Half Configured").await;
    let path = format!("/api/companies/{a}/twilio/config");
    for (payload, field) in [
        (json!({"authToken": "abc"}), "accountSid"),
        (json!({"accountSid": sid("AC", 'd')}), "authToken"),
        (
            json!({"accountSid": sid("AC", 'd'), "authToken": "abc", "apiKeySid": sid("SK", 'e')}),
            "apiKeySecret",
        ),
    ] {
        let (status, body) = t.put(&path, &admin, payload).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["fields"][field].is_string(),
            "{field}: {body}"
        );
    }
    let (_, config): (StatusCode, Value) = t.get(&path, &admin).await;
    assert_eq!(config["hasAuthToken"], false);
    t.stop().await;
}
