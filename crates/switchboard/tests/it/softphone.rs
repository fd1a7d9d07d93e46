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
