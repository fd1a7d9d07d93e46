use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, error_code};

#[tokio::test]
async fn tenants_crud() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let (status, created) = t
        .post(
            "/api/admin/tenants",
            &admin,
            json!({"name": "  Oak Street Clinic ", "timezone": "America/Chicago"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "Oak Street Clinic");
    assert_eq!(created["timezone"], "America/Chicago");
    let id = created["id"].as_str().expect("id");
    assert!(id.starts_with("ten_"));

    let (status, got) = t.get(&format!("/api/admin/tenants/{id}"), &admin).await;
    assert_eq!(
        (status, &got["name"]),
        (StatusCode::OK, &json!("Oak Street Clinic"))
    );

    let (status, updated) = t
        .call(
            Method::PATCH,
            &format!("/api/admin/tenants/{id}"),
            Some(&admin),
            Some(json!({"name": "Oak St. Clinic"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["name"], "Oak St. Clinic");
    assert_eq!(
        updated["timezone"], "America/Chicago",
        "untouched fields stay"
    );

    let (_, list) = t.get("/api/admin/tenants", &admin).await;
    assert_eq!(list["tenants"].as_array().map(Vec::len), Some(1));

    let (status, _) = t
        .call(
            Method::DELETE,
            &format!("/api/admin/tenants/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = t.get(&format!("/api/admin/tenants/{id}"), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
    let (status, _) = t
        .call(
            Method::DELETE,
            &format!("/api/admin/tenants/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    t.stop().await;
}

#[tokio::test]
async fn tenant_validation() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let (status, body) = t
        .post(
            "/api/admin/tenants",
            &admin,
            json!({"name": "  ", "timezone": "<script>"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "validation_failed");
    assert!(
        body["error"]["fields"]["name"].is_string()
            && body["error"]["fields"]["timezone"].is_string(),
        "{body}"
    );
    t.stop().await;
}

#[tokio::test]
async fn users_crud_and_rules() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let tenant = t.tenant(&admin, "Maple Dental").await;

    let (status, user) = t
        .post(
            "/api/admin/users",
            &admin,
            json!({"email": "Front@Maple.test", "password": "long enough pw", "role": "receptionist", "tenantId": tenant, "allowedPages": ["call-logs", "contacts", "call-logs"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["email"], "front@maple.test");
    assert_eq!(user["allowedPages"], json!(["call-logs", "contacts"]));
    assert_eq!(user["tenantId"], json!(tenant));
    let id = user["id"].as_str().expect("id");

    // Duplicate email (any case) → 409.
    let (status, body) = t
        .post("/api/admin/users", &admin, json!({"email": "FRONT@maple.test", "password": "long enough pw", "role": "customer", "tenantId": tenant}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "conflict");

    // Rules: customers need a tenant, admins have none, pages must exist, passwords are long.
    for (payload, field) in [
        (
            json!({"email": "a@maple.test", "password": "long enough pw", "role": "customer"}),
            "tenantId",
        ),
        (
            json!({"email": "b@maple.test", "password": "long enough pw", "role": "admin", "tenantId": tenant}),
            "tenantId",
        ),
        (
            json!({"email": "c@maple.test", "password": "long enough pw", "role": "receptionist", "tenantId": tenant, "allowedPages": ["root"]}),
            "allowedPages",
        ),
        (
            json!({"email": "d@maple.test", "password": "short", "role": "customer", "tenantId": tenant}),
            "password",
        ),
        (
            json!({"email": "not-an-email", "password": "long enough pw", "role": "customer", "tenantId": tenant}),
            "email",
        ),
        (
            json!({"email": "e@maple.test", "password": "long enough pw", "role": "customer", "tenantId": "ten_nope"}),
            "tenantId",
        ),
    ] {
        let (status, body) = t.post("/api/admin/users", &admin, payload).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["fields"][field].is_string(),
            "expected {field}: {body}"
        );
    }
    let (status, body) = t
        .post(
            "/api/admin/users",
            &admin,
            json!({"email": "f@maple.test", "password": "long enough pw", "role": "boss"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown role: {body}"
    );

    let (status, updated) = t
        .call(
            Method::PATCH,
            &format!("/api/admin/users/{id}"),
            Some(&admin),
            Some(json!({"allowedPages": ["dashboard"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["allowedPages"], json!(["dashboard"]));

    let (_, list) = t
        .get(&format!("/api/admin/users?tenantId={tenant}"), &admin)
        .await;
    assert_eq!(list["users"].as_array().map(Vec::len), Some(1));
    let (_, all) = t.get("/api/admin/users", &admin).await;
    assert_eq!(
        all["users"].as_array().map(Vec::len),
        Some(2),
        "admin + receptionist"
    );

    let (status, _) = t
        .call(
            Method::DELETE,
            &format!("/api/admin/users/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = t.get(&format!("/api/admin/users/{id}"), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Admins cannot delete themselves (and lock everyone out).
    let (_, me) = t.get("/api/auth/me", &admin).await;
    let (status, _) = t
        .call(
            Method::DELETE,
            &format!("/api/admin/users/{}", me["id"].as_str().expect("id")),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    t.stop().await;
}

#[tokio::test]
async fn deleting_a_tenant_removes_its_users_and_numbers() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let tenant = t.tenant(&admin, "Gone Soon").await;
    let token = t
        .user(&admin, "owner@gone.test", "customer", &tenant, &[])
        .await;
    let (status, _) = t
        .put(
            &format!("/api/companies/{tenant}/twilio/config"),
            &token,
            json!({"phoneNumbers": [{"phoneNumber": "+15551239999"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = t
        .call(
            Method::DELETE,
            &format!("/api/admin/tenants/{tenant}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = t.get("/api/auth/me", &token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the tenant's users are gone"
    );
    // The number is free for another tenant.
    let other = t.tenant(&admin, "Next Owner").await;
    let (status, body) = t
        .put(
            &format!("/api/companies/{other}/twilio/config"),
            &admin,
            json!({"phoneNumbers": [{"phoneNumber": "+15551239999"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    t.stop().await;
}

#[tokio::test]
async fn a_taken_unique_value_is_409_naming_its_field() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let tenant = t.tenant(&admin, "Maple Dental").await;
    let contact = json!({"name": "Ann", "phone": "(555) 000-1234", "tenantId": tenant});
    let (status, body) = t.post("/api/contacts", &admin, contact.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The same number in another spelling: the database's unique index refuses it.
    let mut again = contact.clone();
    again["phone"] = json!("+1 555 000 1234");
    again["name"] = json!("Ann again");
    let (status, body) = t.post("/api/contacts", &admin, again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "conflict");
    assert!(body["error"]["fields"]["phone"].is_string(), "{body}");
    let user = json!({"email": "dup@maple.test", "password": "long enough pw", "role": "customer", "tenantId": tenant});
    let (status, _) = t.post("/api/admin/users", &admin, user.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = t.post("/api/admin/users", &admin, user).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["fields"]["email"].is_string(), "{body}");
    t.stop().await;
}
