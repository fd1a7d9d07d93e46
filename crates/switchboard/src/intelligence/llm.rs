//! The optional LLM path of the classifier: an OpenAI-compatible chat endpoint
//! (`POST {base}/chat/completions`), used only when configured *and* allowed by the
//! tenant. Its answer must be a JSON object of the contract's shape; anything else (not
//! JSON, a wrong field, a timeout, a 429, a 500) is an error the caller answers with the
//! local classifier. Requests are rate-limited across the process (a token bucket) and
//! time-bounded; what happened is kept for `GET /api/twilio/ai-status`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::CALL_REASONS;
use super::classifier::{TextKind, Verdict};
use crate::config::LlmConfig;
use crate::db::now_ms;

/// Why the LLM gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// No endpoint is configured.
    #[error("no LLM endpoint is configured")]
    NotConfigured,
    /// Our own rate limit has no request left this minute.
    #[error("the LLM rate limit is used up for now")]
    RateLimited,
    /// No answer within the timeout.
    #[error("the LLM endpoint did not answer in time")]
    Timeout,
    /// The endpoint answered with an error status.
    #[error("the LLM endpoint answered {0}")]
    Status(u16),
    /// The request could not be sent.
    #[error("the LLM endpoint could not be reached: {0}")]
    Transport(String),
    /// The answer was not the JSON object asked for.
    #[error("the LLM answer was not valid: {0}")]
    Invalid(String),
}

impl From<reqwest::Error> for LlmError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else {
            // Without the URL: it is configuration, and may carry credentials.
            Self::Transport(e.without_url().to_string())
        }
    }
}

impl LlmError {
    /// Worth trying again later (through the job queue).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited | Self::Timeout | Self::Transport(_) => true,
            Self::Status(s) => *s == 429 || *s >= 500,
            Self::NotConfigured | Self::Invalid(_) => false,
        }
    }
}

const INSTRUCTIONS: &str = r#"You classify phone calls to a small business (a clinic, a salon, a plumber...). You get a call summary or an Agent/Customer transcript. Answer with one JSON object and nothing else:
{"appointmentBooked": true|false|null, "callReason": "SETUP_APPOINTMENT"|"CANCEL_APPOINTMENT"|"MODIFY_APPOINTMENT"|"GET_HOURS"|"GET_PRICING"|"OTHER", "evidence": ["short quotes from the text that decided"]}
appointmentBooked is true only when, by the end of the call, a new time is held for the caller or someone they book for (including an existing appointment moved to a new time); false when there is text but no new time was held (attempts, nothing available, will call back, cancelled, confirming an existing appointment, questions only, wrong numbers, sales calls, voicemails); null only when there is no text. callReason: appointment work comes before questions (asking a price and then booking is SETUP_APPOINTMENT; cancelling and rebooking is MODIFY_APPOINTMENT; cancelling only is CANCEL_APPOINTMENT); GET_HOURS or GET_PRICING when the caller only asked that; everything else, including confirming an existing appointment, is OTHER."#;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What the LLM path has done lately.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmStatus {
    /// Requests sent.
    pub requests: u64,
    /// Requests that gave no usable answer.
    pub failures: u64,
    /// Classifications refused by the rate limit.
    pub rate_limited: u64,
    /// When the last usable answer came (RFC 3339).
    pub last_success_at: Option<String>,
    /// The latest errors, newest first (no call text in them).
    pub recent_errors: VecDeque<RecentError>,
}

/// One error of the LLM path.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentError {
    /// RFC 3339.
    pub at: String,
    /// What went wrong.
    pub error: String,
}

/// The LLM client, its rate limiter and its recent history.
pub struct Llm {
    config: Option<LlmConfig>,
    http: reqwest::Client,
    bucket: Mutex<Bucket>,
    status: Mutex<LlmStatus>,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Answer {
    appointment_booked: Option<bool>,
    call_reason: String,
    #[serde(default)]
    evidence: Vec<String>,
}

impl Llm {
    /// A client for `config` (none: every call is [`LlmError::NotConfigured`]).
    pub fn new(config: Option<LlmConfig>) -> Self {
        let per_minute = config.as_ref().map_or(0, |c| c.per_minute);
        twilio::client::install_tls_provider();
        Self {
            http: reqwest::Client::builder()
                .timeout(
                    config
                        .as_ref()
                        .map_or(Duration::from_secs(20), |c| c.timeout),
                )
                .build()
                .unwrap_or_default(),
            config,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(per_minute),
                at: Instant::now(),
            }),
            status: Mutex::new(LlmStatus::default()),
        }
    }

    /// The configuration, when there is one.
    pub fn config(&self) -> Option<&LlmConfig> {
        self.config.as_ref()
    }

    /// Requests left in the bucket now.
    pub fn tokens(&self) -> f64 {
        let Some(c) = &self.config else { return 0.0 };
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        refill(&mut b, c.per_minute);
        b.tokens
    }

    fn take(&self) -> bool {
        let Some(c) = &self.config else { return false };
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        refill(&mut b, c.per_minute);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// What happened lately.
    pub fn status(&self) -> LlmStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn note(&self, outcome: &Result<Verdict, LlmError>) {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(_) => s.last_success_at = Some(crate::db::rfc3339(now_ms())),
            Err(LlmError::RateLimited) => s.rate_limited += 1,
            Err(e) => {
                s.failures += 1;
                s.recent_errors.push_front(RecentError {
                    at: crate::db::rfc3339(now_ms()),
                    error: e.to_string(),
                });
                s.recent_errors.truncate(20);
            }
        }
    }

    /// Classifies one text.
    pub async fn classify(&self, kind: TextKind, text: &str) -> Result<Verdict, LlmError> {
        let outcome = self.ask(kind, text).await;
        self.note(&outcome);
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, "LLM classification failed");
        }
        outcome
    }

    async fn ask(&self, kind: TextKind, text: &str) -> Result<Verdict, LlmError> {
        let c = self.config.as_ref().ok_or(LlmError::NotConfigured)?;
        if !self.take() {
            return Err(LlmError::RateLimited);
        }
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests += 1;
        let kind_name = match kind {
            TextKind::Summary => "call summary",
            TextKind::Transcript => "call transcript",
        };
        let body = serde_json::json!({
            "model": c.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": format!("The {kind_name}:\n\n{}", super::classifier::bounded(text))},
            ],
        });
        let response = request(&self.http, c, reqwest::Method::POST, "chat/completions")
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(LlmError::Status(status.as_u16()));
        }
        let bytes = response.bytes().await?;
        parse_answer(&bytes)
    }

    /// Whether the endpoint answers (`GET {base}/models`), for the status page.
    pub async fn probe(&self) -> Result<(), LlmError> {
        let c = self.config.as_ref().ok_or(LlmError::NotConfigured)?;
        let response = request(&self.http, c, reqwest::Method::GET, "models")
            .timeout(Duration::from_secs(3))
            .send()
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(LlmError::Status(response.status().as_u16()))
        }
    }
}

/// A request to `{base}/{path}`, with the API key when there is one.
fn request(
    http: &reqwest::Client,
    c: &LlmConfig,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let url = format!("{}/{path}", c.base_url.trim_end_matches('/'));
    let request = http.request(method, url);
    match &c.api_key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

fn refill(b: &mut Bucket, per_minute: u32) {
    let now = Instant::now();
    let per_second = f64::from(per_minute) / 60.0;
    b.tokens =
        (b.tokens + now.duration_since(b.at).as_secs_f64() * per_second).min(f64::from(per_minute));
    b.at = now;
}

/// The verdict in a chat completion, validated against the contract.
fn parse_answer(body: &[u8]) -> Result<Verdict, LlmError> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|e| LlmError::Invalid(format!("not a chat completion: {e}")))?;
    let content = completion
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.message.content)
        .ok_or_else(|| LlmError::Invalid("no message content".into()))?;
    // Some servers wrap JSON in a code fence despite being asked not to.
    let trimmed = content
        .trim()
        .trim_start_matches("```json")
        .trim_start_matches("```")
        .trim_end_matches("```")
        .trim();
    let answer: Answer = serde_json::from_str(trimmed)
        .map_err(|e| LlmError::Invalid(format!("content is not the JSON object asked for: {e}")))?;
    let call_reason = CALL_REASONS
        .iter()
        .find(|r| **r == answer.call_reason)
        .copied()
        .ok_or_else(|| LlmError::Invalid(format!("unknown callReason {:?}", answer.call_reason)))?;
    Ok(Verdict {
        appointment_booked: answer.appointment_booked,
        call_reason,
        evidence: answer
            .evidence
            .into_iter()
            .take(10)
            .map(|e| e.chars().take(200).collect())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(content: &str) -> Vec<u8> {
        serde_json::json!({"choices": [{"message": {"role": "assistant", "content": content}}]})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_valid_answer_is_read() {
        let v = parse_answer(&completion(
            r#"{"appointmentBooked": true, "callReason": "SETUP_APPOINTMENT", "evidence": ["booked for Monday"]}"#,
        ))
        .expect("valid");
        assert_eq!(v.appointment_booked, Some(true));
        assert_eq!(v.call_reason, "SETUP_APPOINTMENT");
        assert!(
            parse_answer(&completion(
                "```json\n{\"appointmentBooked\": null, \"callReason\": \"OTHER\"}\n```"
            ))
            .is_ok()
        );
    }

    #[test]
    fn anything_else_is_invalid() {
        for body in [
            completion("Sure! The caller booked."),
            completion(r#"{"appointmentBooked": "yes", "callReason": "OTHER"}"#),
            completion(r#"{"appointmentBooked": true, "callReason": "BOOKED"}"#),
            completion(r#"{"appointmentBooked": true, "callReason": "OTHER", "extra": 1}"#),
            b"not json".to_vec(),
            br#"{"choices": []}"#.to_vec(),
        ] {
            assert!(matches!(parse_answer(&body), Err(LlmError::Invalid(_))));
        }
    }

    #[test]
    fn the_bucket_refills_per_minute() {
        let llm = Llm::new(Some(LlmConfig {
            api_key: None,
            base_url: "http://127.0.0.1:9".into(),
            model: "m".into(),
            per_minute: 2,
            timeout: Duration::from_secs(1),
        }));
        assert!(llm.take());
        assert!(llm.take());
        assert!(!llm.take(), "a third request in the same minute waits");
    }
}
