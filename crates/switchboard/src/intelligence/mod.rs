//! Conversation intelligence: transcripts, summaries, "was an appointment booked" and
//! why people called.
//!
//! - A completed main recording queues [`CREATE_TRANSCRIPT`]: a transcript in the
//!   Voice Intelligence service (`TWILIO_VI_SERVICE_SID`) keyed by the CallSid. Twilio
//!   then calls `/api/twilio/ci-status`; that webhook is stored and queues
//!   [`FETCH_RESULTS`], which reads the sentences and operator results and stores them
//!   as an event on the call.
//! - A call whose text changed queues [`CLASSIFY`]: the LLM when configured and allowed
//!   by the tenant, else (and whenever it fails) the [`classifier`]. The verdict is an
//!   event too, and a person's correction another, so the row's `appointmentBooked` and
//!   `callReason` come from the same order-independent fold as everything else.
//!
//! Nothing here talks to Twilio or an LLM inside a webhook request: jobs do.

pub mod classifier;
pub mod llm;

use sha2::{Digest, Sha256};

use crate::calls::{self, CallLog, CallRecord, EventKind, NewEvent, Scope};
use crate::db::now_ms;
use crate::error::{AppError, AppResult};
use crate::jobs::{self, HandlerResult, Job, NewJob};
use crate::state::AppState;
use crate::tenants::TenantId;
use classifier::{TextKind, Verdict};

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
    let (call_sid, recording_sid) = (job.text("callSid")?, job.text("recordingSid")?);
    let tenant = job.tenant()?;
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

/// The job that reads a finished transcript's sentences and operator results.
pub const FETCH_RESULTS: &str = "intelligence.fetch_results";

/// The job that classifies a call's text.
pub const CLASSIFY: &str = "intelligence.classify";

/// Queues [`FETCH_RESULTS`] for a transcript Twilio says is ready, once per transcript.
pub async fn results_ready(
    state: &AppState,
    tenant: &str,
    call_sid: &str,
    transcript_sid: &str,
) -> AppResult<()> {
    let job = NewJob {
        tenant_id: Some(tenant.to_owned()),
        dedupe_key: Some(format!("{FETCH_RESULTS}:{transcript_sid}")),
        ..NewJob::new(
            FETCH_RESULTS,
            serde_json::json!({ "callSid": call_sid, "transcriptSid": transcript_sid }),
        )
    };
    jobs::enqueue(&state.db, job).await?;
    Ok(())
}

/// Pages of sentences read at most (100 each).
const MAX_SENTENCE_PAGES: usize = 50;

/// Runs [`FETCH_RESULTS`]: the transcript's sentences (as `Customer:` / `Agent:` lines:
/// channel 1 of our dual-channel recordings is the caller's leg, channel 2 the dialed
/// staff member's), its summary ("Conversation Summary", else any generated text) and
/// its classification, stored as one event on the call.
pub async fn fetch_results(state: AppState, job: Job) -> HandlerResult {
    let (call_sid, transcript_sid) = (job.text("callSid")?, job.text("transcriptSid")?);
    let tenant = job.tenant()?;
    let client = state
        .twilio_client(&tenant)
        .await
        .map_err(|e| e.to_string())?;
    let sentences = client
        .transcript_sentences(&transcript_sid, MAX_SENTENCE_PAGES)
        .await
        .map_err(|e| e.to_string())?;
    let results = client
        .operator_results(&transcript_sid)
        .await
        .map_err(|e| e.to_string())?;
    let transcript: Vec<String> = sentences
        .iter()
        .filter_map(|s| {
            let text = s.transcript.as_deref()?.trim();
            let speaker = if s.media_channel == 2 {
                "Agent"
            } else {
                "Customer"
            };
            (!text.is_empty()).then(|| format!("{speaker}: {text}"))
        })
        .collect();
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
    let mut params = vec![("TranscriptSid".to_owned(), transcript_sid.clone())];
    if !transcript.is_empty() {
        params.push(("TranscriptText".to_owned(), transcript.join("\n")));
    }
    if let Some(s) = summary {
        params.push(("SummaryText".to_owned(), s.to_owned()));
    }
    if let Some(r) = reason {
        params.push(("CallReason".to_owned(), r.to_owned()));
    }
    let record = state
        .events
        .record(NewEvent {
            tenant_id: Some(tenant.clone()),
            call_sid: call_sid.clone(),
            kind: EventKind::Intelligence,
            params,
            timezone: None,
        })
        .await
        .map_err(|e| e.to_string())?;
    if let Some(record) = record {
        classify_when_changed(&state, &tenant, &call_sid, &record)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The text a call is classified on: its transcript, else its summary.
pub fn text_of<'a>(
    transcript: Option<&'a str>,
    summary: Option<&'a str>,
) -> Option<(TextKind, &'a str)> {
    let present = |t: Option<&'a str>| t.filter(|t| !t.trim().is_empty());
    present(transcript)
        .map(|t| (TextKind::Transcript, t))
        .or_else(|| present(summary).map(|s| (TextKind::Summary, s)))
}

/// What a verdict was reached on: the text and the classifier version. A stored verdict
/// with another hash is stale.
fn text_hash(kind: TextKind, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(classifier::VERSION.as_bytes());
    h.update([0, kind as u8]);
    h.update(text.as_bytes());
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// After one of a call's events is stored: queue its classification when its text is
/// new or changed (or the classifier changed). Cheap when nothing changed: no write.
pub async fn classify_when_changed(
    state: &AppState,
    tenant: &str,
    call_sid: &str,
    record: &CallRecord,
) -> AppResult<()> {
    let Some((kind, text)) = text_of(
        record.transcript_text.as_deref(),
        record.summary_text.as_deref(),
    ) else {
        return Ok(());
    };
    let hash = text_hash(kind, text);
    if record.classified_hash.as_deref() == Some(hash.as_str())
        || record.classification_source.as_deref() == Some("correction")
    {
        return Ok(());
    }
    let job = NewJob {
        tenant_id: Some(tenant.to_owned()),
        dedupe_key: Some(format!("{CLASSIFY}:{call_sid}:{hash}")),
        // A moment for the rest of a transcript to arrive.
        run_at: Some(now_ms() + 1_000),
        // Two LLM retries, then the local answer: a verdict within seconds.
        max_attempts: 3,
        ..NewJob::new(CLASSIFY, serde_json::json!({ "callSid": call_sid }))
    };
    jobs::enqueue(&state.db, job).await?;
    Ok(())
}

/// Which classifier reached a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The configured LLM endpoint.
    Llm,
    /// The local classifier.
    Local,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Llm => "llm",
            Self::Local => "local",
        }
    }
}

/// Classifies a call's text: the LLM when configured and allowed, else the local
/// classifier. `Err` only for an LLM failure worth retrying while `may_retry`.
async fn verdict_for(
    state: &AppState,
    tenant: &str,
    kind: TextKind,
    text: &str,
    may_retry: bool,
) -> Result<(Verdict, Source, String), String> {
    let allowed = state.llm.config().is_some()
        && crate::telephony::llm_allowed(&state.db, tenant)
            .await
            .map_err(|e| e.to_string())?;
    if allowed {
        match state.llm.classify(kind, text).await {
            Ok(v) => {
                return Ok((
                    v,
                    Source::Llm,
                    state
                        .llm
                        .config()
                        .map_or_else(String::new, |c| format!("llm:{}", c.model)),
                ));
            }
            Err(e) if e.is_transient() && may_retry => return Err(e.to_string()),
            // Anything else, or the last attempt: the local answer.
            Err(_) => {}
        }
    }
    Ok((
        classifier::classify(kind, text),
        Source::Local,
        classifier::VERSION.to_owned(),
    ))
}

/// Stores a verdict on the call as a classification event; returns the new record.
async fn store_verdict(
    state: &AppState,
    tenant: &str,
    call_sid: &str,
    verdict: &Verdict,
    source: Source,
    version: &str,
    hash: &str,
) -> AppResult<Option<CallRecord>> {
    let booked = match verdict.appointment_booked {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    };
    let evidence = serde_json::to_string(&verdict.evidence).map_err(AppError::internal)?;
    crate::telemetry::classified(source.as_str());
    state
        .events
        .record(NewEvent {
            tenant_id: Some(tenant.to_owned()),
            call_sid: call_sid.to_owned(),
            kind: EventKind::Classification,
            params: vec![
                ("AppointmentBooked".to_owned(), booked.to_owned()),
                ("CallReason".to_owned(), verdict.call_reason.to_owned()),
                ("Source".to_owned(), source.as_str().to_owned()),
                ("Evidence".to_owned(), evidence),
                ("ClassifierVersion".to_owned(), version.to_owned()),
                ("TextHash".to_owned(), hash.to_owned()),
                ("ClassifiedAt".to_owned(), now_ms().to_string()),
            ],
            timezone: None,
        })
        .await
}

/// Runs [`CLASSIFY`] on the call's current text (idempotent: a verdict on the same
/// text is not redone).
pub async fn classify_call(state: AppState, job: Job) -> HandlerResult {
    let call_sid = job.text("callSid")?;
    let tenant = job.tenant()?;
    let scope = Scope::One(TenantId::from_stored(tenant.clone()));
    let call = match calls::get(&state.db, &scope, &call_sid).await {
        Ok(c) => c,
        // Deleted since: nothing to do.
        Err(AppError::NotFound) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    let Some((kind, text)) = text_of(
        call.transcript_text.as_deref(),
        call.summary_text.as_deref(),
    ) else {
        return Ok(());
    };
    let hash = text_hash(kind, text);
    if call.classified_hash.as_deref() == Some(hash.as_str()) {
        return Ok(());
    }
    let may_retry = job.attempts < job.max_attempts;
    let (verdict, source, version) = verdict_for(&state, &tenant, kind, text, may_retry).await?;
    store_verdict(
        &state, &tenant, &call_sid, &verdict, source, &version, &hash,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// A call's verdict is out of date when the local classifier changed since it was
/// reached (and no person corrected it): it is redone at once with the local
/// classifier, as the seed's summary endpoint does. Returns the call as it is now.
pub async fn refresh_if_stale(state: &AppState, call: CallLog) -> AppResult<CallLog> {
    let Some((kind, text)) = text_of(
        call.transcript_text.as_deref(),
        call.summary_text.as_deref(),
    ) else {
        return Ok(call);
    };
    let older_local = call.classification_source.as_deref() == Some("local")
        && call.classifier_version.as_deref() != Some(classifier::VERSION);
    let unclassified = matches!(call.classification_source.as_deref(), None | Some("vi"));
    if !(older_local || unclassified) {
        return Ok(call);
    }
    // A tenant that chose the LLM gets the LLM's verdict from the queued job; answering
    // locally here first would make that job see the text as done.
    if state.llm.config().is_some()
        && crate::telephony::llm_allowed(&state.db, &call.customer_id).await?
    {
        return Ok(call);
    }
    let hash = text_hash(kind, text);
    let verdict = classifier::classify(kind, text);
    store_verdict(
        state,
        &call.customer_id,
        &call.call_sid,
        &verdict,
        Source::Local,
        classifier::VERSION,
        &hash,
    )
    .await?;
    let scope = Scope::One(TenantId::from_stored(call.customer_id.clone()));
    calls::get(&state.db, &scope, &call.call_sid).await
}

/// A person's correction of a call's verdict.
#[derive(Debug, Clone, utoipa::ToSchema)]
pub struct Correction {
    /// Booked, not booked, or not known.
    pub appointment_booked: Option<bool>,
    /// One of [`CALL_REASONS`].
    pub call_reason: String,
}

/// Records a correction (who, when, the previous verdict); it wins over any classifier.
pub async fn correct(
    state: &AppState,
    call: &CallLog,
    by: &str,
    correction: &Correction,
) -> AppResult<CallLog> {
    if !CALL_REASONS.contains(&correction.call_reason.as_str()) {
        let mut errors = crate::error::FieldErrors::new();
        errors.insert(
            "callReason".into(),
            format!("must be one of {}", CALL_REASONS.join(", ")),
        );
        return Err(AppError::Validation(errors));
    }
    let flag = |b: Option<bool>| match b {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    };
    crate::telemetry::classified("correction");
    state
        .events
        .record(NewEvent {
            tenant_id: Some(call.customer_id.clone()),
            call_sid: call.call_sid.clone(),
            kind: EventKind::Correction,
            params: vec![
                (
                    "AppointmentBooked".to_owned(),
                    flag(correction.appointment_booked).to_owned(),
                ),
                ("CallReason".to_owned(), correction.call_reason.clone()),
                ("CorrectedBy".to_owned(), by.to_owned()),
                ("CorrectedAt".to_owned(), now_ms().to_string()),
                (
                    "PreviousBooked".to_owned(),
                    flag(call.appointment_booked).to_owned(),
                ),
                (
                    "PreviousReason".to_owned(),
                    call.call_reason.clone().unwrap_or_default(),
                ),
                (
                    "PreviousSource".to_owned(),
                    call.classification_source.clone().unwrap_or_default(),
                ),
            ],
            timezone: None,
        })
        .await?;
    let scope = Scope::One(TenantId::from_stored(call.customer_id.clone()));
    calls::get(&state.db, &scope, &call.call_sid).await
}
