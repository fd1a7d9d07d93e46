//! Tenant isolation from the outside: one tenant's tokens against another's ids on
//! every route, and role guards on every admin route.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, signed_post};

/// Every tenant-scoped route, with `{tenant}` standing for the tenant id.
const TENANT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/companies/{tenant}/twilio/config"),
    ("PUT", "/api/companies/{tenant}/twilio/config"),
    ("POST", "/api/companies/{tenant}/twilio/test-credentials"),
    ("POST", "/api/companies/{tenant}/twilio/agent/try"),
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
        _ if path.contains("agent/try") => Some(json!({"question": "where are you"})),
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

/// Who may use a route, for the walk over every path the server mounts.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Access {
    /// Anyone (login, health, static files), or ends the caller's own session.
    Public,
    /// Twilio's webhooks: signature-checked, so a user's token gets 403 (400 when the
    /// body is not even a webhook's).
    Webhook,
    /// Platform admins only: 403 for everyone else.
    Admin,
    /// The tenant is named in the path: another tenant's id answers 404 (or 403).
    NamedTenant,
    /// A resource found by id (call, recording, contact): another tenant's is 404.
    Resource,
    /// The caller's own tenant, whatever else the request names.
    OwnTenant,
    /// The caller's own tenant, on Twilio: this world has no Twilio, so 502 is the
    /// honest answer; anything else of the server's own is not.
    OwnTenantOnTwilio,
}

/// Every path the server serves, and who may use it. A new route fails
/// `every_route_declares_its_scope` until it is listed here.
const ROUTE_ACCESS: &[(&str, Access)] = &[
    ("/", Access::Public),
    ("/login", Access::Public),
    ("/logout", Access::Public),
    ("/static/app.css", Access::Public),
    ("/static/app.js", Access::Public),
    ("/static/softphone.js", Access::Public),
    ("/static/vendor/twilio-voice-sdk.min.js", Access::Public),
    ("/healthz", Access::Public),
    ("/readyz", Access::Public),
    // 404 without SWITCHBOARD_METRICS_TOKEN (and it names no tenant's data with one).
    ("/metrics", Access::Public),
    // The API's description and its reference page: no tenant data.
    ("/api/openapi.json", Access::Public),
    ("/api/docs", Access::Public),
    ("/api/docs/", Access::Public),
    ("/api/docs/{*file}", Access::Public),
    ("/api/admin/audit", Access::Admin),
    ("/api/audit", Access::OwnTenant),
    ("/api/callers/forget", Access::OwnTenant),
    ("/contacts/{id}/forget", Access::Resource),
    ("/admin/audit", Access::Admin),
    ("/activity", Access::OwnTenant),
    ("/no-access", Access::Public),
    ("/api/auth/login", Access::Public),
    ("/api/auth/logout", Access::Public),
    ("/api/{*rest}", Access::Public),
    ("/api/twilio/voice/incoming", Access::Webhook),
    ("/api/twilio/voice", Access::Webhook),
    ("/api/webhooks/twilio/voice", Access::Webhook),
    ("/api/twilio/voice/status-callback", Access::Webhook),
    ("/api/webhooks/twilio/voice/status", Access::Webhook),
    ("/api/twilio/call-status", Access::Webhook),
    ("/api/twilio/voice/dial-status", Access::Webhook),
    ("/api/twilio/voice/whisper", Access::Webhook),
    ("/api/twilio/voice/voicemail", Access::Webhook),
    ("/api/twilio/voice/voicemail-status", Access::Webhook),
    ("/api/twilio/voice/recording-status", Access::Webhook),
    ("/api/twilio/recording-status", Access::Webhook),
    ("/api/twilio/voice/transcription", Access::Webhook),
    ("/api/twilio/sms", Access::Webhook),
    ("/api/webhooks/twilio/sms", Access::Webhook),
    ("/api/twilio/sms/status", Access::Webhook),
    ("/api/twilio/ci-status", Access::Webhook),
    ("/api/twilio/voice/client", Access::Webhook),
    ("/api/twilio/voice-webhook", Access::Webhook),
    ("/api/twilio/voice/click-to-call", Access::Webhook),
    ("/api/twilio/voice/agent", Access::Webhook),
    ("/api/admin/tenants", Access::Admin),
    ("/api/admin/tenants/{id}", Access::Admin),
    ("/api/admin/users", Access::Admin),
    ("/api/admin/users/{id}", Access::Admin),
    ("/api/admin/unrouted-calls", Access::Admin),
    ("/api/admin/jobs", Access::Admin),
    ("/api/admin/jobs/{id}/retry", Access::Admin),
    ("/api/admin/jobs/{id}/discard", Access::Admin),
    ("/admin/jobs", Access::Admin),
    ("/admin/jobs/{id}/retry", Access::Admin),
    ("/admin/jobs/{id}/discard", Access::Admin),
    ("/api/twilio/ai-status", Access::Admin),
    ("/api/twilio/numbers", Access::Admin),
    ("/api/twilio/numbers/fix-webhooks", Access::Admin),
    ("/api/twilio/numbers/purchase", Access::Admin),
    ("/api/twilio/numbers/{sid}", Access::Admin),
    ("/api/twilio/numbers/{sid}/release", Access::Admin),
    ("/api/twilio/available-numbers", Access::OwnTenantOnTwilio),
    ("/api/telephony/provision-phone", Access::OwnTenantOnTwilio),
    ("/api/twilio/access-token", Access::OwnTenant),
    ("/api/twilio/make-call", Access::OwnTenantOnTwilio),
    ("/calls", Access::OwnTenant),
    ("/calls/dial", Access::OwnTenantOnTwilio),
    ("/calls/phone", Access::OwnTenant),
    ("/api/admin/notifications/dependency-health", Access::Admin),
    ("/admin/health/fix", Access::Admin),
    ("/api/twilio/connect", Access::Admin),
    ("/api/twilio/update-message/{clinic_id}", Access::Admin),
    ("/api/twilio/disconnect/{clinic_id}", Access::Admin),
    ("/api/twilio/test-credentials", Access::Admin),
    ("/admin", Access::Admin),
    ("/admin/tenants", Access::Admin),
    ("/admin/tenants/{id}", Access::Admin),
    ("/admin/tenants/{id}/delete", Access::Admin),
    ("/admin/users", Access::Admin),
    ("/admin/users/{id}/delete", Access::Admin),
    ("/admin/numbers", Access::Admin),
    ("/admin/numbers/connect", Access::Admin),
    ("/admin/numbers/message", Access::Admin),
    ("/admin/numbers/disconnect", Access::Admin),
    ("/admin/numbers/buy", Access::Admin),
    ("/admin/numbers/release", Access::Admin),
    ("/admin/unrouted", Access::Admin),
    ("/admin/health", Access::Admin),
    (
        "/api/companies/{company_id}/twilio/config",
        Access::NamedTenant,
    ),
    (
        "/api/companies/{company_id}/twilio/test-credentials",
        Access::NamedTenant,
    ),
    (
        "/api/companies/{company_id}/twilio/agent/try",
        Access::NamedTenant,
    ),
    ("/api/twilio/call-logs/{call_sid}", Access::Resource),
    ("/api/twilio/call-logs/{call_sid}/summary", Access::Resource),
    (
        "/api/twilio/call-logs/{call_sid}/classification",
        Access::Resource,
    ),
    ("/api/twilio/recording/{recording_sid}", Access::Resource),
    ("/api/twilio/voicemail/{call_sid}", Access::Resource),
    ("/api/contacts/{id}", Access::Resource),
    ("/api/appointments/{id}", Access::Resource),
    ("/api/staff-members/{id}", Access::Resource),
    ("/api/telephony/appointment-confirmation", Access::Resource),
    ("/api/telephony/appointment-reminder", Access::Resource),
    ("/appointments/{id}", Access::Resource),
    ("/appointments/{id}/send", Access::Resource),
    ("/call-logs/{call_sid}/delete", Access::Resource),
    ("/call-logs/{call_sid}/classification", Access::Resource),
    ("/contacts/{id}", Access::Resource),
    ("/contacts/{id}/delete", Access::Resource),
    ("/api/auth/me", Access::OwnTenant),
    ("/api/twilio/call-logs", Access::OwnTenant),
    ("/api/twilio/call-logs/stats", Access::OwnTenant),
    ("/api/twilio/call-logs/corrections.jsonl", Access::OwnTenant),
    ("/api/twilio/configuration", Access::OwnTenant),
    (
        "/api/customer-notifications/unread-counts",
        Access::OwnTenant,
    ),
    (
        "/api/customer-notifications/mark-read/{section}",
        Access::OwnTenant,
    ),
    (
        "/api/customer-notifications/mark-all-read",
        Access::OwnTenant,
    ),
    ("/api/messages", Access::OwnTenant),
    ("/api/telephony/sms", Access::OwnTenant),
    ("/api/telephony/notifications", Access::OwnTenant),
    ("/api/telephony/call-logs", Access::OwnTenant),
    ("/api/telephony/phone-number", Access::OwnTenant),
    ("/api/appointments", Access::OwnTenant),
    ("/api/staff-members", Access::OwnTenant),
    ("/appointments", Access::OwnTenant),
    ("/appointments/staff", Access::OwnTenant),
    ("/api/contacts", Access::OwnTenant),
    ("/dashboard", Access::OwnTenant),
    ("/call-logs", Access::OwnTenant),
    ("/call-logs/export.csv", Access::OwnTenant),
    ("/settings", Access::OwnTenant),
    ("/settings/test-credentials", Access::OwnTenant),
    ("/messages", Access::OwnTenant),
    ("/messages/reply", Access::OwnTenant),
    ("/contacts", Access::OwnTenant),
];

const BETA_CALL: &str = "CA0000000000000000000000000000beta";
const BETA_RECORDING: &str = "RE0000000000000000000000000000beta";

/// Gives tenant B a call with a recording (signed webhooks, as its own Twilio account
/// would send them) and a contact.
async fn give_beta_a_call_and_a_contact(w: &World) -> String {
    let beta_account = format!("AC{}", "b".repeat(32));
    for (path, params) in [
        (
            "/api/twilio/voice/incoming",
            vec![
                ("CallSid", BETA_CALL),
                ("AccountSid", beta_account.as_str()),
                ("From", "+15550009999"),
                ("To", "+15551230002"),
                ("CallStatus", "ringing"),
                ("Direction", "inbound"),
                ("CallerName", "BETA SECRET CALLER"),
            ],
        ),
        (
            "/api/twilio/voice/recording-status",
            vec![
                ("CallSid", BETA_CALL),
                ("AccountSid", beta_account.as_str()),
                ("RecordingSid", BETA_RECORDING),
                ("RecordingUrl", "https://api.twilio.com/recording"),
                ("RecordingStatus", "completed"),
                ("RecordingDuration", "12"),
            ],
        ),
    ] {
        let (status, _) = signed_post(&w.t, path, "beta-secret-token", &params).await;
        assert!(status.is_success(), "{path}: {status}");
    }
    let (status, contact) =
        w.t.post(
            "/api/contacts",
            &w.admin,
            json!({"name": "Beta Secret Contact", "phone": "+15550008888", "tenantId": w.tenant_b}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    contact["id"].as_str().expect("id").to_owned()
}

/// Gives tenant B a staff member and an appointment with them: (staff id, appointment id).
async fn give_beta_an_appointment(w: &World) -> (String, String) {
    let (status, staff) =
        w.t.post(
            "/api/staff-members",
            &w.admin,
            json!({"name": "Beta Secret Dentist", "phone": "+15550009999", "tenantId": w.tenant_b}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{staff}");
    let staff = staff["id"].as_str().expect("id").to_owned();
    let (status, appointment) =
        w.t.post(
            "/api/appointments",
            &w.admin,
            json!({"customerName": "Beta Secret Patient", "customerPhone": "+15550009999",
                   "staffMemberId": staff, "startTime": "2030-01-02T10:00:00Z", "tenantId": w.tenant_b}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{appointment}");
    (staff, appointment["id"].as_str().expect("id").to_owned())
}

#[tokio::test]
async fn every_route_declares_its_scope() {
    let w = world().await;
    let beta_contact = give_beta_a_call_and_a_contact(&w).await;
    let (beta_staff, beta_appointment) = give_beta_an_appointment(&w).await;
    let (_, beta_log) =
        w.t.get(&format!("/api/twilio/call-logs/{BETA_CALL}"), &w.admin)
            .await;
    assert_eq!(beta_log["recordingSid"], BETA_RECORDING, "{beta_log}");

    let mounted = switchboard::server::routes(w.t.app.state.clone());
    let mounted: Vec<&str> = mounted.paths().to_vec();
    let declared: Vec<&str> = ROUTE_ACCESS.iter().map(|(p, _)| *p).collect();
    let undeclared: Vec<&&str> = mounted.iter().filter(|p| !declared.contains(p)).collect();
    assert!(
        undeclared.is_empty(),
        "routes without a declared scope (add them to ROUTE_ACCESS): {undeclared:?}"
    );
    let stale: Vec<&&str> = declared.iter().filter(|p| !mounted.contains(p)).collect();
    assert!(
        stale.is_empty(),
        "ROUTE_ACCESS lists routes that no longer exist: {stale:?}"
    );

    let fill = |template: &str| {
        let path = template
            .replace("{company_id}", &w.tenant_b)
            .replace("{clinic_id}", &w.tenant_b)
            .replace("{call_sid}", BETA_CALL)
            .replace("{recording_sid}", BETA_RECORDING)
            .replace("{section}", "call-logs")
            .replace("{*rest}", "nothing-here");
        let path = if template.contains("/contacts/") {
            path.replace("{id}", &beta_contact)
        } else if template.contains("/appointments/") {
            path.replace("{id}", &beta_appointment)
        } else if template.contains("/staff-members/") {
            path.replace("{id}", &beta_staff)
        } else if template.contains("/users/") {
            path.replace("{id}", &w.user_b)
        } else {
            path.replace("{id}", &w.tenant_b)
        };
        // Routes that read the tenant from the query are asked for B's.
        if path.starts_with("/api/") && !path.contains('?') {
            format!("{path}?customerId={}", w.tenant_b)
        } else {
            path
        }
    };
    let mut walked = 0;
    for token in [&w.customer_a, &w.receptionist_a_all_pages] {
        for (template, access) in ROUTE_ACCESS {
            if *access == Access::Public {
                continue;
            }
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                let path = fill(template);
                let mut req =
                    w.t.http
                        .request(
                            Method::from_bytes(method.as_bytes()).expect("method"),
                            w.t.url(&path),
                        )
                        .bearer_auth(token);
                if method != "GET" && method != "DELETE" {
                    req = if template.contains("/appointment-") {
                        req.json(&json!({ "appointmentId": beta_appointment }))
                    } else if path.starts_with("/api/") && *access != Access::Webhook {
                        req.json(&body_for(method, template).unwrap_or_else(|| json!({})))
                    } else {
                        req.header("content-type", "application/x-www-form-urlencoded")
                            .body("name=Hijacked")
                    };
                }
                let resp = req.send().await.expect("send");
                let status = resp.status();
                if status == StatusCode::METHOD_NOT_ALLOWED {
                    continue;
                }
                walked += 1;
                let text = resp.text().await.unwrap_or_default();
                let ok = match access {
                    Access::Public => true,
                    Access::Admin => status == StatusCode::FORBIDDEN,
                    // Unsigned: refused, or unreadable before the signature is known.
                    Access::Webhook => {
                        matches!(status, StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST)
                    }
                    Access::NamedTenant | Access::Resource => {
                        matches!(status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN)
                    }
                    Access::OwnTenant => !status.is_server_error(),
                    Access::OwnTenantOnTwilio => {
                        !status.is_server_error() || status == StatusCode::BAD_GATEWAY
                    }
                };
                assert!(ok, "{method} {path} ({access:?}) gave {status}: {text}");
                for secret in [
                    "Beta",
                    "BETA",
                    "15551230002",
                    "15550009999",
                    BETA_CALL,
                    BETA_RECORDING,
                ] {
                    assert!(
                        !text.contains(secret),
                        "{method} {path} ({access:?}) leaked {secret}: {text}"
                    );
                }
            }
        }
    }
    assert!(walked > 60, "only {walked} requests were routed");
    // B's call, contact and settings are as they were.
    let (status, log) =
        w.t.get(&format!("/api/twilio/call-logs/{BETA_CALL}"), &w.admin)
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log["callerName"], "BETA SECRET CALLER");
    let (status, _) =
        w.t.get(&format!("/api/contacts/{beta_contact}"), &w.admin)
            .await;
    assert_eq!(status, StatusCode::OK);
    let (status, appointment) =
        w.t.get(&format!("/api/appointments/{beta_appointment}"), &w.admin)
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(appointment["customerName"], "Beta Secret Patient");
    assert_eq!(appointment["status"], "scheduled");
    let (_, sent) =
        w.t.get(
            &format!("/api/telephony/notifications?customerId={}", w.tenant_b),
            &w.admin,
        )
        .await;
    assert_eq!(sent["data"]["total"], 0, "nothing was texted for B: {sent}");
    w.t.stop().await;
}
