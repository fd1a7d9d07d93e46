use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{ADMIN_EMAIL, PASSWORD, TestApp, error_code};

#[tokio::test]
async fn login_me_logout() {
    let t = TestApp::start().await;
    let (status, body) = t
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": "Admin@Switchboard.test ", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().expect("token");
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["user"]["email"], ADMIN_EMAIL);
    assert!(body["user"].get("passwordHash").is_none() && !body.to_string().contains("argon2"));

    let (status, me) = t.get("/api/auth/me", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], ADMIN_EMAIL);

    let (status, _) = t
        .call(Method::POST, "/api/auth/logout", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = t.get("/api/auth/me", token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "unauthorized");
    t.stop().await;
}

#[tokio::test]
async fn wrong_password_unknown_user_and_no_token_are_401() {
    let t = TestApp::start().await;
    for (email, password) in [(ADMIN_EMAIL, "wrong password"), ("nobody@x.io", PASSWORD)] {
        let (status, body) = t
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(error_code(&body), "invalid_credentials");
    }
    let (status, _) = t.call(Method::GET, "/api/auth/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = t.get("/api/auth/me", "made-up-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    t.stop().await;
}

#[tokio::test]
async fn repeated_failures_are_rate_limited() {
    let t = TestApp::start().await;
    for _ in 0..5 {
        let (status, _) = t
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"email": ADMIN_EMAIL, "password": "guess guess"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let resp = t
        .http
        .post(t.url("/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("retry-after").is_some());
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(error_code(&body), "rate_limited");
    t.stop().await;
}

#[tokio::test]
async fn session_cookie_is_httponly_and_authenticates() {
    let t = TestApp::start().await;
    let resp = t
        .http
        .post(t.url("/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_owned();

    let me = t
        .http
        .get(t.url("/api/auth/me"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);

    // A cookie-authenticated write from another site is refused (CSRF) …
    let cross = t
        .http
        .post(t.url("/api/admin/tenants"))
        .header("cookie", &pair)
        .header("origin", "https://evil.example")
        .json(&json!({"name": "Evil"}))
        .send()
        .await
        .expect("cross");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let fetch_site = t
        .http
        .post(t.url("/api/admin/tenants"))
        .header("cookie", &pair)
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"name": "Evil"}))
        .send()
        .await
        .expect("cross");
    assert_eq!(fetch_site.status(), StatusCode::FORBIDDEN);
    // … while the same origin works.
    let same = t
        .http
        .post(t.url("/api/admin/tenants"))
        .header("cookie", &pair)
        .header("origin", &t.base)
        .json(&json!({"name": "Same Site Dental"}))
        .send()
        .await
        .expect("same");
    assert_eq!(same.status(), StatusCode::CREATED);
    let (_, list) = t.get("/api/admin/tenants", &t.admin_token().await).await;
    assert_eq!(
        list["tenants"].as_array().map(Vec::len),
        Some(1),
        "the refused writes stored nothing"
    );
    t.stop().await;
}

#[tokio::test]
async fn expired_sessions_do_not_authenticate() {
    let t = TestApp::start().await;
    let (user, _) = switchboard::users::find_by_email(&t.app.state.db, ADMIN_EMAIL)
        .await
        .expect("query")
        .expect("admin");
    let session =
        switchboard::auth::create_session(&t.app.state.db, &user.id, std::time::Duration::ZERO)
            .await
            .expect("session");
    let (status, _) = t.get("/api/auth/me", &session.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        switchboard::auth::purge_expired(&t.app.state.db)
            .await
            .expect("purge")
            >= 1
    );
    t.stop().await;
}

#[tokio::test]
async fn password_change_signs_out_everywhere() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let tenant = t.tenant(&admin, "Bright Smiles").await;
    let token = t
        .user(&admin, "owner@bright.test", "customer", &tenant, &[])
        .await;
    let (_, users) = t
        .get(&format!("/api/admin/users?tenantId={tenant}"), &admin)
        .await;
    let id = users["users"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = t
        .call(
            Method::PATCH,
            &format!("/api/admin/users/{id}"),
            Some(&admin),
            Some(json!({"password": "a brand new secret"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = t.get("/api/auth/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    t.login("owner@bright.test", "a brand new secret").await;
    t.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let t = TestApp::start().await;
    let (status, body) = t.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let resp = t.http.get(t.url("/readyz")).send().await.expect("readyz");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers().get("x-request-id").is_some(),
        "responses carry a request id"
    );
    t.stop().await;
}
