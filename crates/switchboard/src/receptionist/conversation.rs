//! A turn of a live call: the state the last stored turn left, the receptionist's
//! reply, the appointment request it took, and the turn stored as an `agent` event of
//! the call before Twilio is answered.

use twilio::webhook::IncomingCall;

use super::{Action, Input, State, Topic, Utterance};
use crate::calls::{self, EventKind};
use crate::error::AppResult;
use crate::state::AppState;
use crate::telephony::EffectiveSettings;

fn turn_of(e: &calls::Event) -> Option<i64> {
    e.get("Turn").and_then(|t| t.parse().ok())
}

fn taken_from(e: &calls::Event) -> Utterance {
    Utterance {
        text: e.get("Said").unwrap_or_default().to_owned(),
        action: e
            .get("Action")
            .and_then(Action::parse)
            .unwrap_or(Action::Answer),
        topic: e.get("Topic").and_then(Topic::parse),
    }
}

/// Takes turn `turn` of the call: answers a turn already stored as it was answered,
/// else works out the reply, stores the appointment request it took (and texts the
/// tenant's confirmation), stores the turn, and returns it.
pub async fn take_turn(
    state: &AppState,
    tenant: &str,
    call: &IncomingCall,
    turn: i64,
    settings: &EffectiveSettings,
    now: jiff::Timestamp,
) -> AppResult<Utterance> {
    let call_sid = &call.call.call_sid;
    let stored = calls::events_of(&state.db, tenant, call_sid, EventKind::Agent).await?;
    if let Some(done) = stored.iter().find(|e| turn_of(e) == Some(turn)) {
        return Ok(taken_from(done));
    }
    let previous: State = stored
        .iter()
        .filter(|e| turn_of(e).is_some_and(|t| t < turn))
        .max_by_key(|e| turn_of(e))
        .and_then(|e| e.get("State"))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let heard = call
        .params
        .get("SpeechResult")
        .map(|h| h.chars().take(500).collect::<String>());
    let confidence = call
        .params
        .get("Confidence")
        .and_then(|c| c.trim().parse::<f64>().ok())
        .filter(|c| c.is_finite());
    let input = Input {
        heard: heard.as_deref(),
        confidence,
        digits: call.digits.as_deref(),
    };
    let ctx = super::Context::of(settings, now);
    let reply = super::reply(&ctx, &previous, turn, &input);

    let mut params: Vec<(String, String)> = vec![
        ("Turn".into(), turn.to_string()),
        ("Said".into(), reply.said.clone()),
        ("Action".into(), reply.action.as_str().into()),
        (
            "State".into(),
            serde_json::to_string(&reply.state).unwrap_or_default(),
        ),
    ];
    if let Some(h) = &heard {
        params.push(("Heard".into(), h.clone()));
    }
    if let Some(c) = confidence {
        params.push(("Confidence".into(), format!("{c:.3}")));
    }
    if let Some(d) = &call.digits {
        params.push(("Digits".into(), d.clone()));
    }
    if let Some(t) = reply.topic {
        params.push(("Topic".into(), t.as_str().into()));
    }
    if let Some(request) = &reply.request {
        let service = request
            .service
            .as_deref()
            .map(|s| format!("{s}. "))
            .unwrap_or_default();
        let notes = format!(
            "{service}Asked for on the phone (AI receptionist): \u{201c}{}\u{201d}",
            request.words
        );
        let (appointment, created) = crate::appointments::request_from_call(
            &state.db,
            tenant,
            &crate::appointments::CallRequest {
                call_sid,
                phone: &call.call.from,
                name: &request.name,
                starts: request.starts,
                minutes: request.minutes,
                notes,
            },
        )
        .await?;
        params.push(("AppointmentId".into(), appointment.id.clone()));
        if created && crate::numbers::E164::parse(&call.call.from).is_some() {
            // The request stands without the text; a caller who opted out gets none.
            if let Err(e) = crate::appointments::send_notice(
                &state.db,
                tenant,
                &appointment.id,
                crate::appointments::Notice::Confirmation,
                None,
            )
            .await
            {
                tracing::info!(error = %e, "no confirmation text for an appointment request");
            }
        }
    }
    state
        .events
        .record(calls::NewEvent {
            tenant_id: Some(tenant.to_owned()),
            call_sid: call_sid.clone(),
            kind: EventKind::Agent,
            params,
            timezone: Some(settings.timezone.clone()),
        })
        .await?;
    Ok(Utterance {
        text: reply.said,
        action: reply.action,
        topic: reply.topic,
    })
}
