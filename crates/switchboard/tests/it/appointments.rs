//! Appointments end to end: booking in the tenant's zone, overlaps, reminders on the job
//! queue (moved, dropped, skipped, sent once with two processes), confirmations through
//! the simulator, and another tenant's ids.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::calls::{CallWorld, TRACKING, call_world, caller};

/// A tenant in New York with one staff member who wants texts: the staff member's id.
async fn clinic(w: &CallWorld) -> String {
    let (status, body) =
        w.t.patch(
            &format!("/api/admin/tenants/{}", w.tenant),
            &w.admin,
            json!({"timezone": "America/New_York"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, staff) =
        w.t.post(
            "/api/staff-members",
            &w.owner,
            json!({"name": "Dr. Patel", "phone": "(555) 000-2222", "smsNotifications": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{staff}");
    assert_eq!(staff["phone"], "+15550002222");
    staff["id"].as_str().expect("id").to_owned()
}

async fn book(w: &CallWorld, body: Value) -> (StatusCode, Value) {
    w.t.post("/api/appointments", &w.owner, body).await
}

async fn appointment(w: &CallWorld, id: &str) -> Value {
    let (status, body) = w.t.get(&format!("/api/appointments/{id}"), &w.owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The texts sent about an appointment, from the seed's notifications list.
async fn texts_about(w: &CallWorld, id: &str) -> Vec<Value> {
    let (status, body) =
        w.t.get("/api/telephony/notifications?limit=200", &w.owner)
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .filter(|n| n["relatedAppointmentId"] == id)
        .cloned()
        .collect()
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..150 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never happened");
}

/// Queued reminder jobs for an appointment.
async fn pending_reminders(w: &CallWorld, id: &str) -> usize {
    let (jobs, _) = switchboard::jobs::list(&w.t.app.state.db, None, 500, 0)
        .await
        .expect("jobs");
    jobs.iter()
        .filter(|j| {
            j.kind == switchboard::appointments::REMIND
                && j.payload["id"] == id
                && matches!(
                    j.state,
                    switchboard::jobs::JobState::Queued | switchboard::jobs::JobState::Failed
                )
        })
        .count()
}

#[tokio::test]
async fn bookings_live_in_the_tenant_zone_refuse_overlaps_and_move_their_reminders() {
    let w = call_world().await;
    let patel = clinic(&w).await;
    let (status, a) = book(
        &w,
        json!({"customerName": "Jordan Lee", "customerPhone": "555-000-3333", "staffMemberId": patel,
               "startTime": "2030-03-04T10:00", "endTime": "2030-03-04T10:30", "notes": "Cleaning"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let id = a["id"].as_str().expect("id").to_owned();
    assert_eq!(a["startTime"], "2030-03-04T15:00:00.000Z", "{a}");
    assert_eq!(a["localStart"], "2030-03-04T10:00:00");
    assert_eq!(a["timezone"], "America/New_York");
    assert_eq!(a["customerPhone"], "+15550003333");
    assert_eq!(a["staffMemberName"], "Dr. Patel");
    assert_eq!(a["status"], "scheduled");
    assert_eq!(a["reminder"]["status"], "scheduled");
    assert_eq!(
        a["reminder"]["dueAt"], "2030-03-03T15:00:00.000Z",
        "24 h before"
    );
    assert_eq!(pending_reminders(&w, &id).await, 1);

    // The staff member asked to hear about new bookings.
    wait_for("the staff notice", async || {
        texts_about(&w, &id).await.iter().any(|n| {
            n["recipient"] == "+15550002222"
                && n["status"] == "SENT"
                && n["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Jordan Lee") && m.contains("10:00 AM"))
        })
    })
    .await;

    // One staff member, one customer at a time.
    let (status, clash) = book(
        &w,
        json!({"customerName": "Sam", "customerPhone": "+15550004444", "staffMemberId": patel,
               "startTime": "2030-03-04T15:15:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert!(
        clash["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&id)),
        "{clash}"
    );
    let (status, next) = book(
        &w,
        json!({"customerName": "Sam", "customerPhone": "+15550004444", "staffMemberId": patel,
               "startTime": "2030-03-04T10:30", "endTime": "2030-03-04T11:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "back to back is fine: {next}");
    let (status, anyone) = book(
        &w,
        json!({"customerName": "Ana", "customerPhone": "+15550005555", "startTime": "2030-03-04T10:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{anyone}");
    assert_eq!(anyone["endTime"], "2030-03-04T15:30:00.000Z", "30 minutes");
    let next_id = next["id"].as_str().expect("id").to_owned();
    let (status, moved_into) =
        w.t.patch(
            &format!("/api/appointments/{next_id}"),
            &w.owner,
            json!({"startTime": "2030-03-04T10:15"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{moved_into}");

    // Moving drops the old reminder and schedules the new one; cancelling drops it.
    let (status, moved) =
        w.t.patch(
            &format!("/api/appointments/{id}"),
            &w.owner,
            json!({"startTime": "2030-03-05T09:00", "endTime": "2030-03-05T09:45"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["reminder"]["dueAt"], "2030-03-04T14:00:00.000Z");
    assert_eq!(moved["notes"], "Cleaning", "untouched fields stay");
    assert_eq!(pending_reminders(&w, &id).await, 1, "one reminder, not two");
    let (status, cancelled) =
        w.t.patch(
            &format!("/api/appointments/{id}"),
            &w.owner,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["reminder"]["status"], "dropped");
    assert_eq!(pending_reminders(&w, &id).await, 0);
    let (status, _) = book(
        &w,
        json!({"customerName": "Kim", "customerPhone": "+15550006666", "staffMemberId": patel,
               "startTime": "2030-03-05T09:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "a cancelled slot is free");

    // Listing: the week, one staff member, one status.
    let (status, week) =
        w.t.get("/api/appointments?from=2030-03-04&to=2030-03-04", &w.owner)
            .await;
    assert_eq!(status, StatusCode::OK, "{week}");
    assert_eq!(week["total"], 2, "{week}");
    let (_, mine) =
        w.t.get(
            &format!("/api/appointments?staffMemberId={patel}&status=cancelled"),
            &w.owner,
        )
        .await;
    assert_eq!(mine["total"], 1, "{mine}");
    assert_eq!(mine["appointments"][0]["id"], id.as_str());

    // Bad input: refused with the field named, nothing stored.
    let (_, before) = w.t.get("/api/appointments", &w.owner).await;
    for (body, field) in [
        (
            json!({"customerName": "X", "customerPhone": "+15550007777", "startTime": "next tuesday"}),
            "startTime",
        ),
        (
            json!({"customerName": "X", "customerPhone": "+15550007777", "startTime": "2030-03-06T10:00", "endTime": "2030-03-06T09:00"}),
            "endTime",
        ),
        (
            json!({"customerName": "X", "customerPhone": "nope", "startTime": "2030-03-06T10:00"}),
            "customerPhone",
        ),
        (
            json!({"customerPhone": "+15550007777", "startTime": "2030-03-06T10:00"}),
            "customerName",
        ),
        (
            json!({"customerName": "X", "customerPhone": "+15550007777", "startTime": "2030-03-06T10:00", "staffMemberId": "stf_nobody"}),
            "staffMemberId",
        ),
        (
            json!({"customerName": "X", "customerPhone": "+15550007777", "startTime": "2030-03-06T10:00", "status": "maybe"}),
            "status",
        ),
        (
            json!({"customerName": "X", "customerPhone": "+15550007777", "startTime": "2030-03-06T10:00", "callSid": "CAnotours"}),
            "callSid",
        ),
    ] {
        let (status, err) = book(&w, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert!(err["error"]["fields"][field].is_string(), "{field}: {err}");
    }
    let (status, _) = book(&w, json!({"customerName": "X", "surprise": true})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, after) = w.t.get("/api/appointments", &w.owner).await;
    assert_eq!(before["total"], after["total"]);

    // Booked on a call: the call's own id, found again by it.
    let report = w.play(&caller()).await;
    let call_sid = report.call_sid.clone();
    let (status, from_call) = book(
        &w,
        json!({"customerName": "Jane Doe", "customerPhone": "+15550001111", "startTime": "2030-03-07T10:00", "callSid": call_sid}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{from_call}");
    let (_, by_call) =
        w.t.get(&format!("/api/appointments?callSid={call_sid}"), &w.owner)
            .await;
    assert_eq!(by_call["total"], 1);

    // Another tenant sees none of it and can touch none of it.
    let (_, other) = w.other_tenant().await;
    let (_, theirs) = w.t.get("/api/appointments", &other).await;
    assert_eq!(theirs["total"], 0, "{theirs}");
    for (method, path) in [
        ("GET", format!("/api/appointments/{id}")),
        ("PATCH", format!("/api/appointments/{id}")),
        ("DELETE", format!("/api/appointments/{id}")),
        ("GET", format!("/api/staff-members/{patel}")),
        ("PATCH", format!("/api/staff-members/{patel}")),
        ("DELETE", format!("/api/staff-members/{patel}")),
    ] {
        let (status, body) =
            w.t.call(
                method.parse().expect("method"),
                &path,
                Some(&other),
                Some(json!({"notes": "hijacked", "name": "hijacked"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
    }
    for path in [
        "/api/telephony/appointment-confirmation",
        "/api/telephony/appointment-reminder",
    ] {
        let (status, body) =
            w.t.post(path, &other, json!({"appointmentId": from_call["id"]}))
                .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["success"], false);
    }
    let (status, _) =
        w.t.post(
            "/api/appointments",
            &other,
            json!({"customerName": "X", "customerPhone": "+15550007777", "startTime": "2030-03-06T10:00", "staffMemberId": patel}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another tenant's staff is not theirs"
    );
    assert_eq!(appointment(&w, &id).await["notes"], "Cleaning");

    // Deleting removes it.
    let (status, _) =
        w.t.delete(&format!("/api/appointments/{next_id}"), &w.owner)
            .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) =
        w.t.get(&format!("/api/appointments/{next_id}"), &w.owner)
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(pending_reminders(&w, &next_id).await, 0);
    w.t.stop().await;
}

/// An RFC 3339 time `secs` from now.
fn in_secs(secs: i64) -> String {
    jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .expect("time")
        .to_string()
}

#[tokio::test]
async fn confirmations_and_reminders_are_texted_once_and_skipped_when_they_must_be() {
    let w = call_world().await;
    w.route_texts();
    let patel = clinic(&w).await;
    // Templates: an unknown placeholder is refused and nothing changes.
    let config = format!("/api/companies/{}/twilio/config", w.tenant);
    let (status, err) =
        w.t.put(
            &config,
            &w.owner,
            json!({"confirmationMessage": "Hi {first_name}!", "reminderLeadMinutes": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(err["error"]["fields"]["confirmationMessage"].is_string());
    let (_, now) = w.t.get(&config, &w.owner).await;
    assert_eq!(now["reminderLeadMinutes"], 1440);
    let (status, saved) =
        w.t.put(
            &config,
            &w.owner,
            json!({"confirmationMessage": "Hi {name}, see you {date} at {time} with {staff} at {business}.",
                   "reminderMessage": "Reminder: {name}, {time} today.", "reminderLeadMinutes": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");

    // A confirmation goes at once, rendered in the tenant's zone, and is delivered.
    let (status, a) = book(
        &w,
        json!({"customerName": "Jordan", "customerPhone": "+15550003333", "staffMemberId": patel,
               "startTime": "2030-03-04T10:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let id = a["id"].as_str().expect("id").to_owned();
    let (status, sent) =
        w.t.post(
            "/api/telephony/appointment-confirmation",
            &w.owner,
            json!({"appointmentId": id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["success"], true);
    assert!(sent["message"].is_string());
    wait_for("the confirmation", async || {
        texts_about(&w, &id).await.iter().any(|n| {
            n["recipient"] == "+15550003333"
                && n["status"] == "SENT"
                && n["message"]
                    == "Hi Jordan, see you Mon, Mar 4 at 10:00 AM with Dr. Patel at Bright Smiles Dental."
        })
    })
    .await;
    assert!(appointment(&w, &id).await["confirmationSentAt"].is_string());
    let (status, bad) =
        w.t.post(
            "/api/telephony/appointment-confirmation",
            &w.owner,
            json!({"appointmentId": "apt_nothing"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    let (status, _) =
        w.t.post(
            "/api/telephony/appointment-confirmation",
            &w.owner,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Booked too late for its reminder: skipped, and it says why.
    let (_, soon) = book(
        &w,
        json!({"customerName": "Late", "customerPhone": "+15550004444", "startTime": in_secs(120)}),
    )
    .await;
    assert_eq!(soon["reminder"]["status"], "skipped", "{soon}");
    assert!(
        soon["reminder"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("passed")),
        "{soon}"
    );

    // Due in a few seconds with two processes working the queue, and the job run a
    // second time as a lost lease would: one reminder reaches Twilio.
    let account = w.account.sid.clone();
    let second =
        w.t.second_process(&[
            ("TWILIO_ACCOUNT_SID", account.as_str()),
            ("TWILIO_AUTH_TOKEN", w.account.auth_token.as_str()),
            ("TWILIO_API_BASE", w.sim.base_url()),
        ])
        .await;
    let customer = "+15550005555";
    let (status, due) = book(
        &w,
        json!({"customerName": "Riley", "customerPhone": customer, "startTime": in_secs(5 * 60 + 3)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{due}");
    let due_id = due["id"].as_str().expect("id").to_owned();
    assert_eq!(due["reminder"]["status"], "scheduled");
    let starts_at = due["startTime"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .expect("start")
        .as_millisecond();
    let again = switchboard::jobs::NewJob {
        tenant_id: Some(w.tenant.clone()),
        run_at: Some(switchboard::db::now_ms() + 3_500),
        ..switchboard::jobs::NewJob::new(
            switchboard::appointments::REMIND,
            json!({"id": due_id, "startsAt": starts_at}),
        )
    };
    switchboard::jobs::enqueue(&w.t.app.state.db, again)
        .await
        .expect("enqueue");
    wait_for("the reminder", async || {
        appointment(&w, &due_id).await["reminder"]["status"] == "sent"
    })
    .await;
    wait_for("both jobs to finish", async || {
        pending_reminders(&w, &due_id).await == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reminders: Vec<_> = w
        .sim
        .messages_to(&account, customer)
        .into_iter()
        .filter(|m| m.body == "Reminder: Riley, ".to_owned() + &local_time(&due))
        .collect();
    assert_eq!(
        reminders.len(),
        1,
        "{:?}",
        w.sim.messages_to(&account, customer)
    );
    assert_eq!(texts_about(&w, &due_id).await.len(), 1);
    second.stop().await;

    // A customer who texted STOP: the confirmation is refused without a text, the
    // reminder is skipped and says why; START lets them through again.
    let (_, _) = w
        .sim
        .send_sms("+15550003333", TRACKING, "STOP")
        .await
        .expect("sms");
    let (status, refused) =
        w.t.post(
            "/api/telephony/appointment-confirmation",
            &w.owner,
            json!({"appointmentId": id}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["success"], false);
    let (_, stopped) = book(
        &w,
        json!({"customerName": "Jordan", "customerPhone": "+15550003333", "startTime": in_secs(5 * 60 + 2)}),
    )
    .await;
    let stopped_id = stopped["id"].as_str().expect("id").to_owned();
    wait_for("the skipped reminder", async || {
        appointment(&w, &stopped_id).await["reminder"]["status"] == "skipped"
    })
    .await;
    let skipped = appointment(&w, &stopped_id).await;
    assert!(
        skipped["reminder"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("STOP")),
        "{skipped}"
    );
    assert!(texts_about(&w, &stopped_id).await.is_empty());
    w.sim
        .send_sms("+15550003333", TRACKING, "START")
        .await
        .expect("sms");
    let (status, body) =
        w.t.post(
            "/api/telephony/appointment-reminder",
            &w.owner,
            json!({"appointmentId": id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reminded = appointment(&w, &id).await;
    assert_eq!(reminded["reminder"]["status"], "sent");
    assert_eq!(
        pending_reminders(&w, &id).await,
        0,
        "the scheduled one is dropped"
    );
    w.t.stop().await;
}

/// The reminder template's `{time}` for an appointment, in the tenant's zone.
fn local_time(a: &Value) -> String {
    let local: jiff::civil::DateTime = a["localStart"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("local start");
    format!("{} today.", local.strftime("%-I:%M %p"))
}

#[tokio::test]
async fn the_seed_call_log_and_phone_number_routes_answer_in_its_shape() {
    let w = call_world().await;
    w.play(&caller()).await;
    let (status, body) = w.t.get("/api/telephony/call-logs", &w.owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["total"], 1);
    let log = &body["data"]["callLogs"][0];
    assert!(log.get("callReason").is_some(), "{log}");
    assert_eq!(log["from"], "+15550001111");
    let (status, bad) = w.t.get("/api/telephony/call-logs?limit=0", &w.owner).await;
    assert!(status.is_client_error(), "{bad}");
    assert_eq!(bad["success"], false);
    let (status, number) = w.t.get("/api/telephony/phone-number", &w.owner).await;
    assert_eq!(status, StatusCode::OK, "{number}");
    assert_eq!(number["data"]["phoneNumber"], TRACKING);
    assert_eq!(number["data"]["friendlyName"], "Google Ads");
    let (_, other) = w.other_tenant().await;
    let (_, theirs) = w.t.get("/api/telephony/phone-number", &other).await;
    assert!(theirs["data"]["phoneNumber"].is_null(), "{theirs}");
    let (_, theirs) = w.t.get("/api/telephony/call-logs", &other).await;
    assert_eq!(theirs["data"]["total"], 0);
    w.t.stop().await;
}
