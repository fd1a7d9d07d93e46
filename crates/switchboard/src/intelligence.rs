//! Voice Intelligence: transcripts of answered calls' recordings, their summaries and
//! why people called.
//!
//! A completed main recording starts a transcript in the platform's Intelligence service
//! (`TWILIO_VI_SERVICE_SID`) with the CallSid as its customer key. Twilio then calls
//! `/api/twilio/ci-status`; we store that webhook as an event, fetch the operator
//! results, and store them as a second event, so the call's summary comes from the
//! same fold as everything else.

use crate::calls::{EventKind, NewEvent};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The classifier labels we keep; anything else is OTHER.
pub const CALL_REASONS: &[&str] = &[
    "SETUP_APPOINTMENT",
    "CANCEL_APPOINTMENT",
    "MODIFY_APPOINTMENT",
    "GET_HOURS",
    "GET_PRICING",
    "OTHER",
];

/// Starts a transcript of a call's main recording in the background, when a service is
/// configured. Best effort: a failure is logged (a durable job queue is future work).
pub fn request_transcript(
    state: &AppState,
    tenant: String,
    call_sid: String,
    recording_sid: String,
) {
    let Some(service_sid) = state.config.platform.vi_service_sid.clone() else {
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        let result = async {
            let client = state.twilio_client(&tenant).await?;
            client
                .create_transcript(&twilio::client::CreateTranscript {
                    service_sid,
                    recording_sid,
                    customer_key: Some(call_sid.clone()),
                })
                .await
                .map_err(|e| AppError::BadGateway(e.to_string()))
        }
        .await;
        match result {
            Ok(t) => tracing::info!(transcript = %t.sid, "transcript requested"),
            Err(e) => tracing::warn!(error = %e, "could not request a transcript"),
        }
    });
}

/// Fetches a transcript's operator results and stores them on the call.
pub async fn store_results(
    state: &AppState,
    tenant: &str,
    call_sid: &str,
    transcript_sid: &str,
) -> AppResult<()> {
    let client = state.twilio_client(tenant).await?;
    let results = client
        .operator_results(transcript_sid)
        .await
        .map_err(|e| AppError::BadGateway(e.to_string()))?;
    let summary = results
        .iter()
        .find(|r| r.name == "Conversation Summary")
        .and_then(|r| r.generated_text())
        .or_else(|| results.iter().find_map(|r| r.generated_text()));
    let reason = results
        .iter()
        .filter(|r| r.operator_type == "conversation-classify")
        .find_map(|r| r.predicted_label.as_deref())
        .map(|label| {
            if CALL_REASONS.contains(&label) {
                label
            } else {
                "OTHER"
            }
        });
    let mut params = vec![("TranscriptSid".to_owned(), transcript_sid.to_owned())];
    if let Some(s) = summary {
        params.push(("SummaryText".to_owned(), s.to_owned()));
    }
    if let Some(r) = reason {
        params.push(("CallReason".to_owned(), r.to_owned()));
    }
    state
        .events
        .record(NewEvent {
            tenant_id: Some(tenant.to_owned()),
            call_sid: call_sid.to_owned(),
            kind: EventKind::Intelligence,
            params,
            timezone: None,
        })
        .await?;
    Ok(())
}
