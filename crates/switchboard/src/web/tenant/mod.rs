//! The tenant's pages (owners, staff and receptionists), one file per page; shared
//! here: the router and how a call is shown as a row.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::routing::get;

use super::{Chrome, PageUser, WebError, mmss};
use crate::calls::CallLog;
use crate::error::AppError;
use crate::numbers::PhoneNumber;
use crate::state::AppState;

mod appointments;
mod call_logs;
pub(in crate::web) mod calls;
mod contacts;
mod dashboard;
mod messages;
mod settings;

use appointments::*;
use call_logs::*;
use calls::*;
use contacts::*;
use dashboard::*;
use messages::*;
use settings::*;

pub(in crate::web) fn router() -> crate::routes::Routes {
    crate::routes::Routes::new()
        .route("/dashboard", get(dashboard))
        .route("/call-logs", get(call_logs))
        .route("/call-logs/export.csv", get(export_csv))
        .route(
            "/call-logs/{call_sid}/delete",
            get(confirm_delete).post(delete),
        )
        .route(
            "/call-logs/{call_sid}/classification",
            axum::routing::post(correct_call),
        )
        .route("/settings", get(settings).post(save_settings))
        .route(
            "/settings/test-credentials",
            axum::routing::post(test_credentials),
        )
        .route("/messages", get(messages))
        .route("/messages/reply", axum::routing::post(reply))
        .route("/contacts", get(contacts).post(add_contact))
        .route("/contacts/{id}", get(contact_page).post(save_contact))
        .route("/contacts/{id}/delete", axum::routing::post(delete_contact))
        .route("/contacts/{id}/forget", axum::routing::post(forget_contact))
        .route("/appointments", get(appointments_page).post(book))
        .route("/appointments/staff", axum::routing::post(add_staff))
        .route(
            "/appointments/{id}",
            get(appointment_page).post(save_appointment),
        )
        .route("/appointments/{id}/send", axum::routing::post(send_notice))
        .route("/calls", get(calls_page))
        .route("/calls/dial", axum::routing::post(dial))
        .route("/calls/phone", axum::routing::post(save_phone))
        .route("/no-access", get(no_access))
}

/// A call as a row of the portal.
pub(super) struct CallRow {
    pub call_sid: String,
    pub when: String,
    pub caller: String,
    /// The caller is one of the tenant's contacts (and `caller` is their name).
    pub is_contact: bool,
    pub from: String,
    pub location: String,
    pub number_label: String,
    pub menu: String,
    pub outcome: String,
    pub outcome_label: &'static str,
    pub talk: String,
    pub appointment: Option<bool>,
    pub reason: String,
    pub recording_url: Option<String>,
    pub voicemail_url: Option<String>,
    pub summary: Option<String>,
    pub transcript: Option<String>,
    /// The stored reason code (SETUP_APPOINTMENT, …), for the correction form.
    pub reason_code: String,
    /// The phrases that decided.
    pub evidence: Vec<String>,
    /// Who decided, in words.
    pub source: String,
    /// A missed-call text went to the caller.
    pub texted_back: bool,
    /// The AI receptionist's conversation, line by line.
    pub conversation: Vec<ChatLine>,
    /// The receptionist put the caller through to a person.
    pub handed_off: bool,
    /// Its recordings and transcripts were deleted (retention, a forgotten caller).
    pub media_erased: bool,
}

/// One line of the receptionist's conversation as the call log shows it.
pub(super) struct ChatLine {
    /// `caller` or `receptionist`.
    pub who: &'static str,
    pub text: String,
    /// "heard with 62% confidence", "pressed 0", "put through to staff".
    pub note: String,
}

fn chat_lines(turns: &[crate::calls::fold::Turn]) -> Vec<ChatLine> {
    let mut lines = Vec::new();
    for t in turns {
        match &t.heard {
            Some(heard) => lines.push(ChatLine {
                who: "caller",
                text: heard.clone(),
                note: t
                    .confidence
                    .filter(|c| *c < 0.6)
                    .map(|c| format!("heard with {:.0}% confidence", c * 100.0))
                    .unwrap_or_default(),
            }),
            None if t.turn > 0 => lines.push(ChatLine {
                who: "caller",
                text: "(silence)".into(),
                note: String::new(),
            }),
            _ => {}
        }
        lines.push(ChatLine {
            who: "receptionist",
            text: t.said.clone(),
            note: match t.action.as_str() {
                "book" => "appointment request taken".into(),
                "handoff" => "put through to staff".into(),
                "emergency" => "emergency: put through at once".into(),
                _ => String::new(),
            },
        });
    }
    lines
}

pub(crate) fn local_time(rfc3339: &str, tz: &jiff::tz::TimeZone) -> String {
    rfc3339
        .parse::<jiff::Timestamp>()
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%b %-d, %-I:%M %p")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_owned())
}

fn number_label(number: Option<&str>, numbers: &[PhoneNumber]) -> String {
    let Some(number) = number else {
        return "—".into();
    };
    numbers
        .iter()
        .find(|n| n.phone_number == number)
        .and_then(|n| n.friendly_name.clone())
        .unwrap_or_else(|| number.to_owned())
}

impl CallRow {
    pub(super) fn new(
        c: CallLog,
        tz: &jiff::tz::TimeZone,
        numbers: &[PhoneNumber],
        contacts: &std::collections::HashMap<String, String>,
    ) -> Self {
        let contact = c.customer_number().and_then(|n| contacts.get(n)).cloned();
        let outcome_label = match c.outcome.as_str() {
            "answered" => "Answered",
            "voicemail" => "Voicemail",
            "missed" => "Missed",
            "ai-resolved" => "AI resolved",
            "ai-booked" => "AI booked",
            _ => "In progress",
        };
        // Caller id sends "CHICAGO" and "IL": the city reads better in title case, the
        // state stays an abbreviation.
        let location = [
            c.caller_city.as_deref().map(title_case),
            c.caller_state.as_deref().map(str::to_uppercase),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
        Self {
            when: local_time(&c.started_at, tz),
            is_contact: contact.is_some(),
            caller: contact
                .or_else(|| c.caller_name.as_deref().map(title_case))
                .unwrap_or_else(|| "Unknown caller".into()),
            from: c.customer_number().unwrap_or_default().to_owned(),
            location,
            number_label: number_label(c.twilio_phone_number.as_deref(), numbers),
            menu: match c.menu_choice.as_deref() {
                Some("1" | "new") => "New patient".into(),
                Some("2" | "existing") => "Existing".into(),
                Some(other) => other.to_owned(),
                None => "—".into(),
            },
            outcome: c.outcome.clone(),
            outcome_label,
            talk: if c.outcome == "answered" {
                mmss(c.duration)
            } else {
                "—".into()
            },
            appointment: c.appointment_booked,
            reason: c
                .call_reason
                .as_deref()
                .map(|r| title_case(&r.replace('_', " ")))
                .unwrap_or_default(),
            recording_url: c.recording_url,
            voicemail_url: c.voicemail_url,
            summary: c.summary_text,
            // The receptionist's calls show the conversation itself instead.
            transcript: c
                .transcript_text
                .filter(|_| c.transcript_source.as_deref() != Some("agent")),
            reason_code: c.call_reason.clone().unwrap_or_default(),
            evidence: c.classification_evidence,
            source: match (c.classification_source.as_deref(), &c.corrected_by) {
                (Some("correction"), Some(by)) => format!("corrected by {by}"),
                (Some("correction"), None) => "corrected".into(),
                (Some("llm"), _) => "the LLM classifier".into(),
                (Some("local"), _) => "the local classifier".into(),
                (Some("vi"), _) => "Voice Intelligence".into(),
                _ => String::new(),
            },
            texted_back: false,
            handed_off: c.ai_outcome.as_deref() == Some("ai-handoff"),
            media_erased: c.media_erased_at.is_some(),
            conversation: chat_lines(&c.conversation),
            call_sid: c.call_sid,
        }
    }
}

/// The tenant's contacts among the callers of `logs`: number → name.
async fn contact_names(
    state: &AppState,
    tenant: &str,
    logs: &[CallLog],
) -> Result<std::collections::HashMap<String, String>, AppError> {
    let callers: Vec<String> = logs
        .iter()
        .filter_map(|c| c.customer_number().map(str::to_owned))
        .collect();
    crate::contacts::names(&state.db, tenant, &callers).await
}

/// "JANE DOE" → "Jane Doe" (caller-id names arrive in capitals).
fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct NoAccessPage {
    chrome: Chrome,
    title: String,
    message: String,
}

async fn no_access(
    State(state): State<AppState>,
    user: PageUser,
) -> Result<NoAccessPage, WebError> {
    Ok(NoAccessPage {
        chrome: Chrome::for_user(&state, &user, "No pages yet", "").await?,
        title: "No pages yet".into(),
        message: "Your account has not been given any pages. Ask the account owner for access."
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_names_read_naturally() {
        assert_eq!(title_case("JANE DOE"), "Jane Doe");
        assert_eq!(title_case("AUSTIN"), "Austin");
    }
}
