//! Voice Intelligence: transcripts of answered calls' recordings, their summaries and
//! why people called.
//!
//! A completed main recording starts a transcript in the platform's Intelligence service
//! (`TWILIO_VI_SERVICE_SID`) with the CallSid as its customer key. Twilio then calls
//! `/api/twilio/ci-status`; we store that webhook as an event, fetch the operator
//! results, and store them as a second event, so the call's summary comes from the
//! same fold as everything else.

pub mod classifier;

use crate::calls::{EventKind, NewEvent};
use crate::error::{AppError, AppResult};
use crate::jobs::{self, HandlerResult, Job, NewJob};
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

/// The job that asks Voice Intelligence for a recording's transcript.
pub const CREATE_TRANSCRIPT: &str = "intelligence.create_transcript";

/// Queues the transcript of a call's main recording, once per recording (Twilio
/// redelivers callbacks), when a Voice Intelligence service is configured.
pub async fn request_transcript(
    state: &AppState,
    tenant: &str,
    call_sid: &str,
    recording_sid: &str,
) -> AppResult<()> {
    if state.config.platform.vi_service_sid.is_none() {
        return Ok(());
    }
    let job = NewJob {
        tenant_id: Some(tenant.to_owned()),
        dedupe_key: Some(format!("{CREATE_TRANSCRIPT}:{recording_sid}")),
        ..NewJob::new(
            CREATE_TRANSCRIPT,
            serde_json::json!({ "callSid": call_sid, "recordingSid": recording_sid }),
        )
    };
    jobs::enqueue(&state.db, job).await?;
    Ok(())
}

/// Runs [`CREATE_TRANSCRIPT`]: creates the transcript with the tenant's credentials (else
/// the platform's), keyed by the CallSid so `/api/twilio/ci-status` finds the call.
pub async fn create_transcript(state: AppState, job: Job) -> HandlerResult {
    let service_sid = state
        .config
        .platform
        .vi_service_sid
        .clone()
        .ok_or("no Voice Intelligence service is configured")?;
    let field = |name: &str| {
        job.payload[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("payload without {name}"))
    };
    let (call_sid, recording_sid) = (field("callSid")?, field("recordingSid")?);
    let tenant = job.tenant_id.clone().ok_or("job without a tenant")?;
    let client = state
        .twilio_client(&tenant)
        .await
        .map_err(|e| e.to_string())?;
    let transcript = client
        .create_transcript(&twilio::client::CreateTranscript {
            service_sid,
            recording_sid,
            customer_key: Some(call_sid),
        })
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(transcript = %transcript.sid, "transcript requested");
    Ok(())
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
