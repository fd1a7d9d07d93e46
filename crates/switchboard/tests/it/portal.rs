//! The portal over plain HTTP (no browser): sessions, redirects, role guards, CSRF,
//! bad form input, and another tenant's ids on every page route.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN};
use twilio_sim::{Scenario, Staff};

use crate::calls::{TRACKING, call_world};
use crate::common::{PASSWORD, TestApp};

/// Every page, with `{call}` standing for a call sid and `{tenant}` for a tenant id.
const PAGES: &[(&str, &str)] = &[
    ("GET", "/dashboard"),
    ("GET", "/call-logs"),
    ("GET", "/call-logs/export.csv"),
    ("GET", "/call-logs/{call}/delete"),
    ("POST", "/call-logs/{call}/delete"),
    ("GET", "/messages"),
    ("GET", "/contacts"),
    ("POST", "/contacts"),
    ("GET", "/contacts/con_missing"),
    ("POST", "/contacts/con_missing"),
    ("POST", "/contacts/con_missing/delete"),
    ("GET", "/appointments"),
    ("POST", "/appointments"),
    ("POST", "/appointments/staff"),
    ("GET", "/appointments/apt_missing"),
    ("POST", "/appointments/apt_missing"),
    ("POST", "/appointments/apt_missing/send"),
    ("GET", "/settings"),
    ("POST", "/settings"),
    ("POST", "/settings/test-credentials"),
    ("GET", "/admin/tenants"),
    ("POST", "/admin/tenants"),
    ("GET", "/admin/tenants/{tenant}"),
    ("POST", "/admin/tenants/{tenant}"),
    ("POST", "/admin/tenants/{tenant}/delete"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("POST", "/admin/users/usr_missing/delete"),
    ("GET", "/admin/numbers"),
    ("POST", "/admin/numbers/connect"),
    ("POST", "/admin/numbers/message"),
    ("POST", "/admin/numbers/disconnect"),
    ("GET", "/admin/unrouted"),
    ("GET", "/admin/health"),
];

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Sends a page request as a browser would: the session cookie, and for posts a
/// same-origin form.
pub(crate) async fn page(
    t: &TestApp,
    method: &str,
    path: &str,
    session: Option<&str>,
    form: &str,
) -> (StatusCode, String, Option<String>) {
    let mut req = no_redirects().request(
        reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
        t.url(path),
    );
    if let Some(token) = session {
        req = req.header(COOKIE, format!("sb_session={token}"));
    }
    if method == "POST" {
        req = req
            .header(ORIGIN, &t.base)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.to_owned());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, resp.text().await.unwrap_or_default(), location)
}

#[tokio::test]
async fn pages_need_a_session_and_the_right_role() {
    let w = call_world().await;
    let mut s = Scenario::new("+15550001111", TRACKING);
    s.staff = Staff::NoAnswer;
    let call = w.play(&s).await.call_sid;
    let fill = |p: &str| p.replace("{call}", &call).replace("{tenant}", &w.tenant);

    // Anonymous: every page sends the browser to the login page, and back afterwards.
    for (method, template) in PAGES {
        let path = fill(template);
        let (status, _, location) = page(&w.t, method, &path, None, "").await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{method} {path}");
        let location = location.expect("redirect");
        assert!(
            location.starts_with("/login?next=%2F"),
            "{method} {path} → {location}"
        );
    }

    // A customer is refused every admin page.
    for (method, template) in PAGES.iter().filter(|(_, p)| p.starts_with("/admin")) {
        let path = fill(template);
        let (status, body, _) = page(
            &w.t,
            method,
            &path,
            Some(&w.owner),
            "name=Hijack&clinicId=x",
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert!(
            body.contains("Not available to your account"),
            "{method} {path}"
        );
    }
    // And admins have no tenant pages of their own.
    let (status, _, _) = page(&w.t, "GET", "/call-logs", Some(&w.admin), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another tenant's owner: the first tenant's call is not found on any page.
    let (_, other_owner) = w.other_tenant().await;
    for path in [format!("/call-logs/{call}/delete")] {
        for method in ["GET", "POST"] {
            let (status, body, _) = page(&w.t, method, &path, Some(&other_owner), "").await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
            assert!(!body.contains("+15550001111"));
        }
    }
    for path in [
        "/call-logs",
        "/call-logs/export.csv",
        "/dashboard",
        "/messages",
    ] {
        let (status, body, _) = page(&w.t, "GET", path, Some(&other_owner), "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            !body.contains(&call) && !body.contains("+15550001111"),
            "{path} leaked"
        );
    }
    let (status, _, _) = page(
        &w.t,
        "GET",
        &format!("/call-logs/{call}/delete"),
        Some(&w.owner),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the owner's own call is there");

    // Staff: only their pages; never the owner's settings form.
    let desk =
        w.t.user(
            &w.admin,
            "desk@brightsmiles.test",
            "receptionist",
            &w.tenant,
            &["dashboard", "settings"],
        )
        .await;
    let (status, _, _) = page(&w.t, "GET", "/call-logs", Some(&desk), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body, _) = page(&w.t, "GET", "/settings", Some(&desk), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Only the account owner can change these settings."));
    let (status, _, _) = page(
        &w.t,
        "POST",
        "/settings",
        Some(&desk),
        "menuMessage=hijacked",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    w.t.stop().await;
}

#[tokio::test]
async fn forms_refuse_other_sites_bad_bodies_and_open_redirects() {
    let w = call_world().await;
    // A post from another site is refused, even with the session cookie.
    let resp = no_redirects()
        .post(w.t.url("/settings"))
        .header(COOKIE, format!("sb_session={}", w.owner))
        .header(ORIGIN, "https://evil.example")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("menuMessage=hijacked")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = no_redirects()
        .post(w.t.url("/login"))
        .header(ORIGIN, "https://evil.example")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "email=owner%40brightsmiles.test&password={PASSWORD}"
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "login CSRF");
    let (_, config) =
        w.t.get(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
        )
        .await;
    assert_ne!(config["menuMessage"], "hijacked");

    // JSON where a form is expected, and an oversized form.
    let resp = no_redirects()
        .post(w.t.url("/settings"))
        .header(COOKIE, format!("sb_session={}", w.owner))
        .header(ORIGIN, &w.t.base)
        .header(CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("menuMessage={}", "a".repeat(200_000));
    let (status, _, _) = page(&w.t, "POST", "/settings", Some(&w.owner), &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Pages run only our own scripts and cannot be framed.
    let resp = no_redirects()
        .get(w.t.url("/settings"))
        .header(COOKIE, format!("sb_session={}", w.owner))
        .send()
        .await
        .expect("request");
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");

    // Invalid settings come back with the reason next to the field; nothing is saved.
    let (status, body, _) = page(
        &w.t,
        "POST",
        "/settings",
        Some(&w.owner),
        "callRoutingMode=menu&forwardNumber=12&menuMessage=Kept+text&hoursEnabled=on&open_mon=09%3A00",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("id=\"businessHours-error\""), "{body}");
    assert!(body.contains("Kept text"), "what was typed is kept");
    let (status, body, _) = page(
        &w.t,
        "POST",
        "/settings",
        Some(&w.owner),
        "callRoutingMode=menu&forwardNumber=12&menuMessage=Kept+text",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("id=\"forwardNumber-error\">This is not a valid phone number."),
        "{body}"
    );
    let (_, config) =
        w.t.get(
            &format!("/api/companies/{}/twilio/config", w.tenant),
            &w.owner,
        )
        .await;
    assert_ne!(config["menuMessage"], "Kept text");
    let (status, _, _) = page(
        &w.t,
        "GET",
        "/call-logs?startDate=yesterday",
        Some(&w.owner),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Login: wrong password is a page with the reason; `next` never leaves the site.
    let (status, body, _) = page(
        &w.t,
        "POST",
        "/login",
        None,
        "email=owner%40brightsmiles.test&password=wrong",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("do not match"));
    let (status, _, location) = page(
        &w.t,
        "POST",
        "/login",
        None,
        &format!(
            "email=owner%40brightsmiles.test&password={}&next=%2F%2Fevil.example%2F",
            PASSWORD.replace(' ', "+")
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/dashboard"));
    w.t.stop().await;
}

#[tokio::test]
async fn call_logs_page_through_and_admins_edit_tenants_and_messages() {
    let w = call_world().await;
    for i in 0..27 {
        let mut s = Scenario::new(&format!("+1555000{:04}", 2000 + i), TRACKING);
        s.staff = Staff::Busy;
        s.voicemail_secs = None;
        w.play(&s).await;
    }
    let (status, body, _) = page(&w.t, "GET", "/call-logs", Some(&w.owner), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Showing 1–25 of 27 calls"), "{body}");
    assert!(body.contains("href=\"/call-logs?offset=25\""), "{body}");
    assert!(!body.contains("rel=\"prev\""));
    let (_, body, _) = page(
        &w.t,
        "GET",
        "/call-logs?status=missed&offset=25",
        Some(&w.owner),
        "",
    )
    .await;
    assert!(body.contains("Showing 26–27 of 27 calls"), "{body}");
    assert!(
        body.contains("href=\"/call-logs?status=missed\" rel=\"prev\""),
        "{body}"
    );
    assert!(!body.contains("rel=\"next\""));
    let (_, csv, _) = page(&w.t, "GET", "/call-logs/export.csv", Some(&w.owner), "").await;
    assert_eq!(
        csv.lines().count(),
        28,
        "a header and every call, not one page"
    );

    // What was typed comes back, escaped, with the reason next to the field.
    let (status, body, _) = page(
        &w.t,
        "POST",
        "/admin/tenants",
        Some(&w.admin),
        "name=Acme+%26+Sons&timezone=%3Cscript%3E",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("id=\"name\" name=\"name\" type=\"text\" value=\"Acme &#38; Sons\"")
            || body.contains("value=\"Acme &amp; Sons\""),
        "{body}"
    );
    assert!(
        body.contains("value=\"&lt;script&gt;\"") || body.contains("value=\"&#60;script&#62;\""),
        "{body}"
    );
    assert!(!body.contains("<script>"), "never echoed raw");
    assert!(body.contains("id=\"timezone-error\""), "{body}");

    // An admin renames the tenant and changes its menu message from the pages.
    let path = format!("/admin/tenants/{}", w.tenant);
    let (status, body, _) = page(
        &w.t,
        "POST",
        &path,
        Some(&w.admin),
        "name=&timezone=%3Cscript%3E",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("id=\"name-error\">This is required."),
        "{body}"
    );
    assert!(body.contains("id=\"timezone-error\""), "{body}");
    let (status, _, location) = page(
        &w.t,
        "POST",
        &path,
        Some(&w.admin),
        "name=Bright+Smiles+Family+Dental&timezone=America%2FChicago",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, Some(format!("{path}?saved=1")));
    let (status, _, location) = page(
        &w.t,
        "POST",
        "/admin/numbers/message",
        Some(&w.admin),
        &format!("clinicId={}&menuMessage=Welcome+to+Bright+Smiles", w.tenant),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location:?}");
    let (_, body, _) = page(&w.t, "GET", &path, Some(&w.admin), "").await;
    assert!(
        body.contains("Bright Smiles Family Dental") && body.contains("Welcome to Bright Smiles")
    );
    let (status, _, _) = page(
        &w.t,
        "POST",
        "/admin/numbers/message",
        Some(&w.admin),
        "clinicId=ten_missing&menuMessage=x",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    w.t.stop().await;
}

#[tokio::test]
async fn admins_delete_users_and_tenants_from_the_pages() {
    let w = call_world().await;
    let desk =
        w.t.user(
            &w.admin,
            "desk@brightsmiles.test",
            "receptionist",
            &w.tenant,
            &["dashboard"],
        )
        .await;
    let (_, users) =
        w.t.get(&format!("/api/admin/users?tenantId={}", w.tenant), &w.admin)
            .await;
    let desk_id = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == "desk@brightsmiles.test")
        .and_then(|u| u["id"].as_str())
        .expect("desk user")
        .to_owned();
    let (_, me) = w.t.get("/api/auth/me", &w.admin).await;
    let admin_id = me["id"].as_str().expect("admin id").to_owned();

    // Only admins, never oneself; a deleted user's session ends at once.
    let (status, _, _) = page(
        &w.t,
        "POST",
        &format!("/admin/users/{desk_id}/delete"),
        Some(&w.owner),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = page(
        &w.t,
        "POST",
        &format!("/admin/users/{admin_id}/delete"),
        Some(&w.admin),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, location) = page(
        &w.t,
        "POST",
        &format!("/admin/users/{desk_id}/delete"),
        Some(&w.admin),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/admin/users?deleted=1"));
    let (status, _, _) = page(&w.t, "GET", "/dashboard", Some(&desk), "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out");
    let (status, _, _) = page(
        &w.t,
        "POST",
        &format!("/admin/users/{desk_id}/delete"),
        Some(&w.admin),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting the tenant takes its owner, numbers and calls with it.
    let path = format!("/admin/tenants/{}/delete", w.tenant);
    let (status, _, _) = page(&w.t, "POST", &path, Some(&w.owner), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = page(&w.t, "POST", &path, Some(&w.admin), "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = page(
        &w.t,
        "GET",
        &format!("/admin/tenants/{}", w.tenant),
        Some(&w.admin),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = page(&w.t, "GET", "/dashboard", Some(&w.owner), "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the owner is gone too");
    let (_, numbers) = w.t.get("/api/twilio/numbers", &w.admin).await;
    assert!(
        numbers["numbers"]
            .as_array()
            .expect("numbers")
            .iter()
            .all(|n| n["tenantId"].is_null()),
        "{numbers}"
    );
    w.t.stop().await;
}

#[tokio::test]
async fn unknown_pages_answer_the_portals_not_found_page() {
    let w = call_world().await;
    // Anonymous: the portal's page, not an empty body.
    let (status, html, _) = page(&w.t, "GET", "/no/such/page", None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("<h1>Not found</h1>"), "{html}");
    // Signed in: the same, inside the user's navigation.
    let (status, html, _) = page(&w.t, "GET", "/old-bookmark", Some(&w.owner), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("<h1>Not found</h1>"), "{html}");
    assert!(
        html.contains("href=\"/call-logs\""),
        "navigation kept: {html}"
    );
    // The API keeps answering JSON.
    let (status, body) = w.t.get("/api/no/such/route", &w.owner).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(crate::common::error_code(&body), "not_found");
    w.t.stop().await;
}

#[tokio::test]
async fn appointments_are_booked_from_a_call_edited_and_confirmed_on_the_page() {
    let w = call_world().await;
    let call = w.play(&crate::calls::caller()).await.call_sid;
    let (_, logs, _) = page(&w.t, "GET", "/call-logs", Some(&w.owner), "").await;
    assert!(
        logs.contains(&format!("href=\"/appointments?callSid={call}\"")),
        "{logs}"
    );
    let (status, form, _) = page(
        &w.t,
        "GET",
        &format!("/appointments?callSid={call}"),
        Some(&w.owner),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("value=\"+15550001111\""), "{form}");
    assert!(form.contains(&format!("value=\"{call}\"")), "{form}");
    assert!(form.contains("id=\"from-call\""), "{form}");

    let (status, body, _) =
        page(&w.t, "POST", "/appointments/staff", Some(&w.owner), "name=").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("name-error"), "{body}");
    let (status, _, location) = page(
        &w.t,
        "POST",
        "/appointments/staff",
        Some(&w.owner),
        "name=Dr.+Patel&phone=5550002222",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/appointments?staff=1"));
    let (_, staff) = w.t.get("/api/staff-members", &w.owner).await;
    let patel = staff["staffMembers"][0]["id"]
        .as_str()
        .expect("staff")
        .to_owned();

    let booking = format!(
        "customerName=Jane+Doe&customerPhone=%2B15550001111&staffMemberId={patel}&date=2030-03-04&time=10%3A00&duration=30&callSid={call}&contactId="
    );
    let (status, _, location) = page(&w.t, "POST", "/appointments", Some(&w.owner), &booking).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.expect("redirect");
    assert_eq!(location, "/appointments?week=2030-03-04&booked=1");
    let (_, week, _) = page(&w.t, "GET", &location, Some(&w.owner), "").await;
    assert!(week.contains("Appointment booked."), "{week}");
    assert!(week.contains("10:00 AM–10:30 AM"), "{week}");
    assert!(week.contains("From a call"), "{week}");
    assert!(week.contains("Jane Doe"), "{week}");
    let (status, clash, _) = page(&w.t, "POST", "/appointments", Some(&w.owner), &booking).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(clash.contains("already booked"), "{clash}");
    assert!(
        clash.contains("value=\"Jane Doe\""),
        "what was typed stays: {clash}"
    );
    let (status, missing, _) = page(
        &w.t,
        "POST",
        "/appointments",
        Some(&w.owner),
        "customerName=X&customerPhone=%2B15550001111&date=2030-03-04&time=&duration=30",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.contains("time-error"), "{missing}");

    let (_, list) = w.t.get("/api/appointments", &w.owner).await;
    let id = list["appointments"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _, location) = page(
        &w.t,
        "POST",
        &format!("/appointments/{id}/send"),
        Some(&w.owner),
        "what=confirmation",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, detail, _) = page(
        &w.t,
        "GET",
        &location.expect("redirect"),
        Some(&w.owner),
        "",
    )
    .await;
    assert!(detail.contains("Confirmation queued"), "{detail}");
    assert!(detail.contains("Confirmation sent"), "{detail}");
    let (status, _, _) = page(
        &w.t,
        "POST",
        &format!("/appointments/{id}"),
        Some(&w.owner),
        &format!(
            "customerName=Jane+Doe&customerPhone=%2B15550001111&staffMemberId={patel}&date=2030-03-04&time=10%3A00&duration=45&status=cancelled&notes=Called+to+cancel"
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, detail, _) = page(
        &w.t,
        "GET",
        &format!("/appointments/{id}"),
        Some(&w.owner),
        "",
    )
    .await;
    assert!(detail.contains("Reminder dropped"), "{detail}");
    assert!(detail.contains(">Cancelled<"), "{detail}");
    assert!(detail.contains("value=\"45\""), "{detail}");

    let (_, settings, _) = page(&w.t, "GET", "/settings", Some(&w.owner), "").await;
    assert!(
        settings.contains("id=\"confirmationMessage-preview\""),
        "{settings}"
    );
    assert!(
        settings.contains("Hi Jordan, your appointment at Bright Smiles Dental is booked for Wed, Dec 2 at 10:30 AM with Dr. Patel."),
        "{settings}"
    );
    w.t.stop().await;
}

#[tokio::test]
async fn each_conversation_counts_its_unread_texts_until_it_is_opened() {
    let w = call_world().await;
    w.route_texts();
    for (from, body) in [
        ("+15550002001", "Hi, are you open Saturday?"),
        ("+15550002001", "Or Sunday?"),
        ("+15550002002", "Running late"),
    ] {
        let (status, _) = w.sim.send_sms(from, TRACKING, body).await.expect("sms");
        assert_eq!(status, 200);
    }
    let (_, list, _) = page(&w.t, "GET", "/messages", Some(&w.owner), "").await;
    assert!(list.contains("2 new"), "{list}");
    assert!(list.contains("1 new"), "{list}");
    let (_, opened, _) = page(
        &w.t,
        "GET",
        "/messages?with=%2B15550002001",
        Some(&w.owner),
        "",
    )
    .await;
    assert!(!opened.contains("2 new"), "opening it reads it: {opened}");
    assert!(opened.contains("1 new"), "the other stays unread: {opened}");
    // Read marks are the user's own: a colleague still sees both unread.
    let desk =
        w.t.user(
            &w.admin,
            "desk@threads.test",
            "receptionist",
            &w.tenant,
            &["messages"],
        )
        .await;
    let (_, theirs, _) = page(&w.t, "GET", "/messages", Some(&desk), "").await;
    assert!(
        theirs.contains("2 new") && theirs.contains("1 new"),
        "{theirs}"
    );
    w.t.stop().await;
}
