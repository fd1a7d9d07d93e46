//! Tenant isolation from the outside: one tenant's tokens against another's ids on
//! every route, and role guards on every admin route.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;

/// Every tenant-scoped route, with `{tenant}` standing for the tenant id.
const TENANT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/companies/{tenant}/twilio/config"),
    ("PUT", "/api/companies/{tenant}/twilio/config"),
    ("POST", "/api/companies/{tenant}/twilio/test-credentials"),
];

/// Every admin-only route, with `{tenant}` / `{user}` placeholders.
const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/admin/tenants"),
    ("POST", "/api/admin/tenants"),
    ("GET", "/api/admin/tenants/{tenant}"),
    ("PATCH", "/api/admin/tenants/{tenant}"),
    ("PUT", "/api/admin/tenants/{tenant}"),
    ("DELETE", "/api/admin/tenants/{tenant}"),
    ("GET", "/api/admin/users"),
    ("POST", "/api/admin/users"),
    ("GET", "/api/admin/users/{user}"),
    ("PATCH", "/api/admin/users/{user}"),
    ("PUT", "/api/admin/users/{user}"),
    ("DELETE", "/api/admin/users/{user}"),
    ("GET", "/api/admin/unrouted-calls"),
    ("GET", "/api/twilio/numbers"),
    ("GET", "/api/twilio/numbers?clinicId={tenant}"),
    ("POST", "/api/twilio/connect"),
    ("PATCH", "/api/twilio/update-message/{tenant}"),
    ("PATCH", "/api/twilio/disconnect/{tenant}"),
    ("GET", "/api/twilio/test-credentials"),
];

fn body_for(method: &str, path: &str) -> Option<Value> {
    match method {
        "GET" | "DELETE" => None,
        _ if path.contains("twilio/config") => Some(
            json!({"menuMessage": "hijacked", "phoneNumbers": [{"phoneNumber": "+15551230777"}]}),
        ),
        _ if path.contains("connect") && !path.contains("disconnect") => Some(
            json!({"clinicId": "{tenant}", "phoneNumber": "+15551230002", "forwardNumber": "+15557770000"}),
        ),
        _ if path.contains("update-message") => Some(json!({"menuMessage": "hijacked"})),
        _ if path.contains("disconnect") => Some(json!({})),
        _ if path.contains("test-credentials") => None,
        _ if path.contains("users") => {
            Some(json!({"email": "x@evil.test", "password": "long enough pw", "role": "admin"}))
        }
        _ => Some(json!({"name": "Hijacked"})),
    }
}

struct World {
    t: TestApp,
    admin: String,
    tenant_a: String,
    tenant_b: String,
    user_b: String,
    customer_a: String,
    receptionist_a_all_pages: String,
}

async fn world() -> World {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let tenant_a = t.tenant(&admin, "Alpha Clinic").await;
    let tenant_b = t.tenant(&admin, "Beta Plumbing").await;
    let customer_a = t
        .user(&admin, "owner@alpha.test", "customer", &tenant_a, &[])
        .await;
    let all_pages = [
        "dashboard",
        "call-logs",
        "calls",
        "contacts",
        "messages",
        "appointments",
        "settings",
    ];
    let receptionist_a_all_pages = t
        .user(
            &admin,
            "desk@alpha.test",
            "receptionist",
            &tenant_a,
            &all_pages,
        )
        .await;
    let _customer_b = t
        .user(&admin, "owner@beta.test", "customer", &tenant_b, &[])
        .await;
    let (_, users) = t
        .get(&format!("/api/admin/users?tenantId={tenant_b}"), &admin)
        .await;
    let user_b = users["users"][0]["id"].as_str().expect("user").to_owned();
    // Give B data worth stealing.
    let (status, _) = t
        .put(
            &format!("/api/companies/{tenant_b}/twilio/config"),
            &admin,
            json!({"accountSid": format!("AC{}", "b".repeat(32)), "authToken": "beta-secret-token", "menuMessage": "Beta secret menu", "phoneNumbers": [{"phoneNumber": "+15551230002"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    World {
        t,
        admin,
        tenant_a,
        tenant_b,
        user_b,
        customer_a,
        receptionist_a_all_pages,
    }
}

fn fill(path: &str, w: &World) -> String {
    path.replace("{tenant}", &w.tenant_b)
        .replace("{user}", &w.user_b)
}

#[tokio::test]
async fn another_tenants_ids_reveal_nothing() {
    let w = world().await;
    for token in [&w.customer_a, &w.receptionist_a_all_pages] {
        for (method, template) in TENANT_ROUTES {
            let path = fill(template, &w);
            let (status, body) =
                w.t.call(
                    Method::from_bytes(method.as_bytes()).expect("method"),
                    &path,
                    Some(token),
                    body_for(method, template),
                )
                .await;
            assert!(
                matches!(status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
                "{method} {path} gave {status}: {body}"
            );
            let text = body.to_string();
            assert!(
                !text.contains("Beta") && !text.contains("15551230002"),
                "{method} {path} leaked: {text}"
            );
        }
    }
    // Nothing of B changed.
    let (_, config) =
        w.t.get(
            &format!("/api/companies/{}/twilio/config", w.tenant_b),
            &w.admin,
        )
        .await;
    assert_eq!(config["menuMessage"], "Beta secret menu");
    assert_eq!(config["phoneNumbers"].as_array().map(Vec::len), Some(1));
    // And A's own config is reachable by A's owner.
    let (status, own) =
        w.t.get(
            &format!("/api/companies/{}/twilio/config", w.tenant_a),
            &w.customer_a,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(own["companyId"], json!(w.tenant_a));
    w.t.stop().await;
}

#[tokio::test]
async fn non_admins_are_refused_on_every_admin_route() {
    let w = world().await;
    for token in [&w.customer_a, &w.receptionist_a_all_pages] {
        for (method, template) in ADMIN_ROUTES {
            let path = fill(template, &w);
            let (status, body) =
                w.t.call(
                    Method::from_bytes(method.as_bytes()).expect("method"),
                    &path,
                    Some(token),
                    body_for(method, template),
                )
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
            assert!(!body.to_string().contains("Beta"), "{method} {path} leaked");
        }
    }
    for (method, template) in ADMIN_ROUTES.iter().chain(TENANT_ROUTES) {
        let path = fill(template, &w);
        let (status, _) =
            w.t.call(
                Method::from_bytes(method.as_bytes()).expect("method"),
                &path,
                None,
                body_for(method, template),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "anonymous {method} {path}"
        );
    }
    let (_, tenants) = w.t.get("/api/admin/tenants", &w.admin).await;
    assert_eq!(
        tenants["tenants"].as_array().map(Vec::len),
        Some(2),
        "nothing was created or deleted"
    );
    w.t.stop().await;
}

#[tokio::test]
async fn receptionists_cannot_change_their_own_tenants_telephony() {
    let w = world().await;
    let (status, body) =
        w.t.get(
            &format!("/api/companies/{}/twilio/config", w.tenant_a),
            &w.receptionist_a_all_pages,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let no_pages =
        w.t.user(
            &w.admin,
            "temp@alpha.test",
            "receptionist",
            &w.tenant_a,
            &[],
        )
        .await;
    let (status, _) =
        w.t.put(
            &format!("/api/companies/{}/twilio/config", w.tenant_a),
            &no_pages,
            json!({"menuMessage": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    w.t.stop().await;
}
