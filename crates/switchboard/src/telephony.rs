//! A tenant's telephony settings: its own Twilio credentials (encrypted at rest) and
//! its routing choices. Owns `tenant_telephony`.
//!
//! Secrets never leave this module in plaintext except as [`twilio::client::Credentials`]
//! for talking to Twilio; views carry masked SIDs and `has…` flags only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::config::{ALLOWED_VOICES, PlatformTwilio};
use crate::crypto::SecretBox;
use crate::db::{Db, now_ms};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::numbers::{self, E164, NumberInput, PhoneNumber};
use twilio::sid::{is_sid, mask_sid};

/// What a caller hears first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoutingMode {
    /// Ring the staff number straight away.
    Forward,
    /// "Press 1 if you are a new patient, 2 if existing."
    Menu,
    /// Straight to voicemail.
    Voicemail,
    /// A spoken greeting, then forward (or voicemail).
    Greeting,
    /// The AI receptionist answers from the tenant's knowledge base and hands off to a
    /// person when it cannot help.
    #[serde(rename = "ai-agent")]
    AiAgent,
}

impl RoutingMode {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forward => "forward",
            Self::Menu => "menu",
            Self::Voicemail => "voicemail",
            Self::Greeting => "greeting",
            Self::AiAgent => "ai-agent",
        }
    }
    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "forward" => Some(Self::Forward),
            "menu" => Some(Self::Menu),
            "voicemail" => Some(Self::Voicemail),
            "greeting" => Some(Self::Greeting),
            "ai-agent" => Some(Self::AiAgent),
            _ => None,
        }
    }
}

/// One opening interval, local time, `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenInterval {
    /// Opens at.
    pub open: String,
    /// Closes at (after `open`).
    pub close: String,
}

/// What happens outside business hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AfterHoursAction {
    /// Take a message.
    Voicemail,
    /// Ring the forward number anyway (an on-call phone).
    Forward,
    /// Say the after-hours message and hang up.
    Hangup,
}

/// Opening hours per weekday.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BusinessHours {
    /// IANA zone; the tenant's when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// `mon` … `sun` → intervals; a missing day is closed.
    pub days: BTreeMap<String, Vec<OpenInterval>>,
    /// What callers get when closed.
    pub after_hours_action: AfterHoursAction,
    /// Spoken when closed.
    #[serde(default)]
    pub after_hours_message: Option<String>,
}

const DAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The key of a weekday in [`BusinessHours::days`] (`mon` … `sun`).
pub fn day_key(day: jiff::civil::Weekday) -> &'static str {
    DAYS[usize::try_from(day.to_monday_zero_offset()).unwrap_or(0)]
}

/// Minutes since midnight of an `HH:MM` time (`24:00` is the end of the day).
pub fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl BusinessHours {
    /// The zone the hours are in: their own, else the tenant's.
    pub fn zone(&self, tenant_timezone: &str) -> jiff::tz::TimeZone {
        let tz_name = self.timezone.as_deref().unwrap_or(tenant_timezone);
        jiff::tz::TimeZone::get(tz_name).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// The day's intervals (none: closed that day).
    pub fn on(&self, day: jiff::civil::Weekday) -> &[OpenInterval] {
        self.days.get(day_key(day)).map_or(&[], Vec::as_slice)
    }

    /// The opening interval `now` falls in, in the hours' (or tenant's) zone.
    pub fn open_interval(
        &self,
        tenant_timezone: &str,
        now: jiff::Timestamp,
    ) -> Option<&OpenInterval> {
        let local = now.to_zoned(self.zone(tenant_timezone));
        let minute =
            u32::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).ok()?;
        self.on(local.weekday())
            .iter()
            .find(|iv| match (minutes(&iv.open), minutes(&iv.close)) {
                (Some(o), Some(c)) => o <= minute && minute < c,
                _ => false,
            })
    }

    /// Whether `now` falls inside the opening hours, in the hours' (or tenant's) zone.
    pub fn is_open(&self, tenant_timezone: &str, now: jiff::Timestamp) -> bool {
        self.open_interval(tenant_timezone, now).is_some()
    }

    /// When the business is next open: `now` when it is, else the first five-minute mark
    /// within the next eight days at which it is; `None` when it never opens.
    pub fn next_opening(
        &self,
        tenant_timezone: &str,
        now: jiff::Timestamp,
    ) -> Option<jiff::Timestamp> {
        if self.is_open(tenant_timezone, now) {
            return Some(now);
        }
        let step = jiff::SignedDuration::from_mins(5);
        let start = jiff::Timestamp::from_second(now.as_second() - now.as_second() % 300).ok()?;
        (1..=8 * 24 * 12)
            .filter_map(|i| start.checked_add(step * i).ok())
            .find(|t| self.is_open(tenant_timezone, *t))
    }

    fn check(&self, errors: &mut FieldErrors) {
        for (day, intervals) in &self.days {
            if !DAYS.contains(&day.as_str()) {
                errors.insert(
                    format!("businessHours.days.{day}"),
                    "days are mon, tue, wed, thu, fri, sat, sun".into(),
                );
                continue;
            }
            for (i, iv) in intervals.iter().enumerate() {
                match (minutes(&iv.open), minutes(&iv.close)) {
                    (Some(o), Some(c)) if o < c => {}
                    _ => {
                        errors.insert(
                            format!("businessHours.days.{day}[{i}]"),
                            "open and close are HH:MM with open before close".into(),
                        );
                    }
                }
            }
        }
        if let Some(tz) = &self.timezone {
            let mut tz_errors = FieldErrors::new();
            crate::tenants::check_timezone(tz, &mut tz_errors);
            if !tz_errors.is_empty() {
                errors.insert(
                    "businessHours.timezone".into(),
                    "must be an IANA time zone".into(),
                );
            }
        }
    }
}

/// What kind of business answers: it decides which words are an emergency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BusinessKind {
    /// Any business: only the universal emergencies.
    #[default]
    General,
    /// A medical practice.
    Medical,
    /// A dental practice.
    Dental,
    /// Plumbing, heating, electrical and other home services.
    HomeService,
}

/// One service the business offers, with its price as the business words it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// "Teeth cleaning".
    pub name: String,
    /// "$120", "from $90", "free": spoken as written. Absent: no price is ever said.
    #[serde(default)]
    pub price: Option<String>,
    /// How long it takes, in minutes (appointment requests use it).
    #[serde(default)]
    pub duration: Option<u32>,
}

/// A question callers ask and the business's own answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faq {
    /// The question, in the business's words.
    pub question: String,
    /// The answer, spoken as plain text.
    pub answer: String,
}

/// The AI receptionist's knowledge base: everything it may say, and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiAgent {
    /// The first thing a caller hears; "Thanks for calling {business}. How can I help?"
    /// when unset.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Services and prices.
    #[serde(default)]
    pub services: Vec<Service>,
    /// The business's own questions and answers.
    #[serde(default)]
    pub faqs: Vec<Faq>,
    /// Street address and directions, spoken as written.
    #[serde(default)]
    pub address: Option<String>,
    /// Insurance and payment accepted, spoken as written.
    #[serde(default)]
    pub insurance: Option<String>,
    /// The number an emergency is put through to (an on-call phone); the forward number
    /// when unset.
    #[serde(default)]
    pub emergency_handoff: Option<String>,
    /// Which emergencies it listens for (default `general`).
    #[serde(default)]
    pub business_kind: BusinessKind,
}

/// Most services in a knowledge base.
pub const MAX_SERVICES: usize = 100;
/// Most questions and answers in a knowledge base.
pub const MAX_FAQS: usize = 200;
/// Longest answer, address or insurance text, in characters.
pub const MAX_ANSWER: usize = 1000;
/// Longest question, service name or price, in characters.
pub const MAX_QUESTION: usize = 200;

/// Why a text cannot be spoken as plain text, if it cannot.
fn unspeakable(text: &str, max: usize) -> Option<String> {
    if text.trim().is_empty() {
        return Some("must not be blank".into());
    }
    if text.chars().count() > max {
        return Some(format!("must be at most {max} characters"));
    }
    if text.contains('<') || text.contains('>') {
        return Some("must be plain text (no markup: it is spoken as written)".into());
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Some("must not contain control characters".into());
    }
    None
}

impl AiAgent {
    /// Checks the knowledge base; errors are keyed `aiAgent.<field>[i]…`.
    pub fn check(&self, errors: &mut FieldErrors) {
        let text = |errors: &mut FieldErrors, field: String, value: &str, max: usize| {
            if let Some(why) = unspeakable(value, max) {
                errors.insert(field, why);
            }
        };
        for (field, value) in [
            ("greeting", &self.greeting),
            ("address", &self.address),
            ("insurance", &self.insurance),
        ] {
            if let Some(v) = value {
                text(errors, format!("aiAgent.{field}"), v, MAX_ANSWER);
            }
        }
        for (i, s) in self.services.iter().enumerate().take(MAX_SERVICES) {
            text(
                errors,
                format!("aiAgent.services[{i}].name"),
                &s.name,
                MAX_QUESTION,
            );
            if let Some(price) = &s.price {
                text(
                    errors,
                    format!("aiAgent.services[{i}].price"),
                    price,
                    MAX_QUESTION,
                );
            }
            if s.duration.is_some_and(|d| !(5..=480).contains(&d)) {
                errors.insert(
                    format!("aiAgent.services[{i}].duration"),
                    "must be from 5 to 480 minutes".into(),
                );
            }
        }
        for (i, f) in self.faqs.iter().enumerate().take(MAX_FAQS) {
            text(
                errors,
                format!("aiAgent.faqs[{i}].question"),
                &f.question,
                MAX_QUESTION,
            );
            text(
                errors,
                format!("aiAgent.faqs[{i}].answer"),
                &f.answer,
                MAX_ANSWER,
            );
        }
        if self.services.len() > MAX_SERVICES {
            errors.insert(
                "aiAgent.services".into(),
                format!("must have at most {MAX_SERVICES} services"),
            );
        }
        if self.faqs.len() > MAX_FAQS {
            errors.insert(
                "aiAgent.faqs".into(),
                format!("must have at most {MAX_FAQS} questions"),
            );
        }
        if let Some(number) = &self.emergency_handoff
            && E164::parse(number).is_none()
        {
            errors.insert(
                "aiAgent.emergencyHandoff".into(),
                "is not a valid phone number".into(),
            );
        }
    }

    /// The knowledge base as stored: trimmed, blanks dropped, numbers in E.164.
    fn normalised(mut self) -> Self {
        let clean = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        self.greeting = clean(self.greeting);
        self.address = clean(self.address);
        self.insurance = clean(self.insurance);
        self.emergency_handoff = clean(self.emergency_handoff)
            .map(|n| E164::parse(&n).map_or(n, |e| e.as_str().to_owned()));
        for s in &mut self.services {
            s.name = s.name.trim().to_owned();
            s.price = clean(s.price.take());
        }
        for f in &mut self.faqs {
            f.question = f.question.trim().to_owned();
            f.answer = f.answer.trim().to_owned();
        }
        self
    }
}

/// The stored settings of one tenant (secrets still encrypted).
#[derive(Debug, Clone, Default)]
struct Row {
    account_sid: Option<String>,
    auth_token_enc: Option<String>,
    api_key_sid: Option<String>,
    api_key_secret_enc: Option<String>,
    call_routing_mode: Option<String>,
    forward_number: Option<String>,
    forward_number_new: Option<String>,
    forward_number_existing: Option<String>,
    menu_message: Option<String>,
    voice: Option<String>,
    recording_enabled: Option<bool>,
    transcription_enabled: Option<bool>,
    whisper_message: Option<String>,
    auto_reply_message: Option<String>,
    business_hours: Option<String>,
    llm_classification: Option<bool>,
    sms_help_text: Option<String>,
    sms_max_segments: Option<i64>,
    text_back_enabled: Option<bool>,
    text_back_message: Option<String>,
    confirmation_message: Option<String>,
    reminder_message: Option<String>,
    reminder_lead_minutes: Option<i64>,
    twiml_app_sid: Option<String>,
    ring_browsers: Option<bool>,
    ai_agent: Option<String>,
    retention_days: Option<i64>,
}

async fn load_row(db: &Db, tenant_id: &str) -> AppResult<Row> {
    let row = sqlx::query("SELECT * FROM tenant_telephony WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?;
    let Some(r) = row else {
        return Ok(Row::default());
    };
    let flag = |name: &str| -> Result<Option<bool>, sqlx::Error> {
        Ok(r.try_get::<Option<i64>, _>(name)?.map(|v| v != 0))
    };
    Ok(Row {
        account_sid: r.try_get("account_sid")?,
        auth_token_enc: r.try_get("auth_token_enc")?,
        api_key_sid: r.try_get("api_key_sid")?,
        api_key_secret_enc: r.try_get("api_key_secret_enc")?,
        call_routing_mode: r.try_get("call_routing_mode")?,
        forward_number: r.try_get("forward_number")?,
        forward_number_new: r.try_get("forward_number_new")?,
        forward_number_existing: r.try_get("forward_number_existing")?,
        menu_message: r.try_get("menu_message")?,
        voice: r.try_get("voice")?,
        recording_enabled: flag("recording_enabled")?,
        transcription_enabled: flag("transcription_enabled")?,
        whisper_message: r.try_get("whisper_message")?,
        auto_reply_message: r.try_get("auto_reply_message")?,
        business_hours: r.try_get("business_hours")?,
        llm_classification: flag("llm_classification")?,
        sms_help_text: r.try_get("sms_help_text")?,
        sms_max_segments: r.try_get("sms_max_segments")?,
        text_back_enabled: flag("text_back_enabled")?,
        text_back_message: r.try_get("text_back_message")?,
        confirmation_message: r.try_get("confirmation_message")?,
        reminder_message: r.try_get("reminder_message")?,
        reminder_lead_minutes: r.try_get("reminder_lead_minutes")?,
        twiml_app_sid: r.try_get("twiml_app_sid")?,
        ring_browsers: flag("ring_browsers")?,
        ai_agent: r.try_get("ai_agent")?,
        retention_days: r.try_get("retention_days")?,
    })
}

async fn store_row(db: &Db, tenant_id: &str, r: &Row) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO tenant_telephony (tenant_id, account_sid, auth_token_enc, api_key_sid, api_key_secret_enc,
            call_routing_mode, forward_number, forward_number_new, forward_number_existing, menu_message, voice,
            recording_enabled, transcription_enabled, whisper_message, auto_reply_message, business_hours, updated_at, llm_classification, sms_help_text, sms_max_segments, text_back_enabled, text_back_message,
            confirmation_message, reminder_message, reminder_lead_minutes, twiml_app_sid, ring_browsers, ai_agent, retention_days)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)
         ON CONFLICT (tenant_id) DO UPDATE SET
            account_sid = excluded.account_sid, auth_token_enc = excluded.auth_token_enc,
            api_key_sid = excluded.api_key_sid, api_key_secret_enc = excluded.api_key_secret_enc,
            call_routing_mode = excluded.call_routing_mode, forward_number = excluded.forward_number,
            forward_number_new = excluded.forward_number_new, forward_number_existing = excluded.forward_number_existing,
            menu_message = excluded.menu_message, voice = excluded.voice,
            recording_enabled = excluded.recording_enabled, transcription_enabled = excluded.transcription_enabled,
            whisper_message = excluded.whisper_message, auto_reply_message = excluded.auto_reply_message,
            business_hours = excluded.business_hours, updated_at = excluded.updated_at,
            llm_classification = excluded.llm_classification,
            sms_help_text = excluded.sms_help_text, sms_max_segments = excluded.sms_max_segments,
            text_back_enabled = excluded.text_back_enabled, text_back_message = excluded.text_back_message,
            confirmation_message = excluded.confirmation_message, reminder_message = excluded.reminder_message,
            reminder_lead_minutes = excluded.reminder_lead_minutes, twiml_app_sid = excluded.twiml_app_sid,
            ring_browsers = excluded.ring_browsers, ai_agent = excluded.ai_agent,
            retention_days = excluded.retention_days",
    )
    .bind(tenant_id)
    .bind(r.account_sid.as_deref())
    .bind(r.auth_token_enc.as_deref())
    .bind(r.api_key_sid.as_deref())
    .bind(r.api_key_secret_enc.as_deref())
    .bind(r.call_routing_mode.as_deref())
    .bind(r.forward_number.as_deref())
    .bind(r.forward_number_new.as_deref())
    .bind(r.forward_number_existing.as_deref())
    .bind(r.menu_message.as_deref())
    .bind(r.voice.as_deref())
    .bind(r.recording_enabled.map(i64::from))
    .bind(r.transcription_enabled.map(i64::from))
    .bind(r.whisper_message.as_deref())
    .bind(r.auto_reply_message.as_deref())
    .bind(r.business_hours.as_deref())
    .bind(now_ms())
    .bind(r.llm_classification.map(i64::from))
    .bind(r.sms_help_text.as_deref())
    .bind(r.sms_max_segments)
    .bind(r.text_back_enabled.map(i64::from))
    .bind(r.text_back_message.as_deref())
    .bind(r.confirmation_message.as_deref())
    .bind(r.reminder_message.as_deref())
    .bind(r.reminder_lead_minutes)
    .bind(r.twiml_app_sid.as_deref())
    .bind(r.ring_browsers.map(i64::from))
    .bind(r.ai_agent.as_deref())
    .bind(r.retention_days)
    .execute(db.pool())
    .await?;
    Ok(())
}

fn secret_context(tenant_id: &str, column: &str) -> String {
    format!("tenant_telephony.{column}:{tenant_id}")
}

/// The config as clients see it: secrets masked, `null` where the platform default applies.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwilioConfigView {
    /// The tenant.
    pub company_id: String,
    /// Masked (`AC…1234`).
    pub account_sid: Option<String>,
    /// Whether an auth token is stored.
    pub has_auth_token: bool,
    /// Masked (`SK…abcd`).
    pub api_key_sid: Option<String>,
    /// Whether an API key secret is stored.
    pub has_api_key_secret: bool,
    /// True when the tenant has no credentials of its own.
    pub uses_platform_credentials: bool,
    /// Tracking numbers.
    pub phone_numbers: Vec<PhoneNumber>,
    /// Routing mode.
    pub call_routing_mode: Option<RoutingMode>,
    /// Default forward number (E.164).
    pub forward_number: Option<String>,
    /// Forward number for new patients (menu 1).
    pub forward_number_new: Option<String>,
    /// Forward number for existing patients (menu 2).
    pub forward_number_existing: Option<String>,
    /// Menu prompt.
    pub menu_message: Option<String>,
    /// Voice.
    pub voice: Option<String>,
    /// Record answered calls.
    pub recording_enabled: Option<bool>,
    /// Real-time transcription.
    pub transcription_enabled: Option<bool>,
    /// Whispered to staff when they answer.
    pub whisper_message: Option<String>,
    /// Texted back to missed callers.
    pub auto_reply_message: Option<String>,
    /// Opening hours.
    pub business_hours: Option<BusinessHours>,
    /// Whether call text may go to the configured LLM endpoint for classification (off
    /// unless set: transcripts of a clinic's calls are health information).
    pub llm_classification: bool,
    /// The answer to a text saying HELP.
    pub sms_help_text: Option<String>,
    /// The longest text the tenant sends, in segments (default 10).
    pub sms_max_segments: i64,
    /// Text callers whose call was missed.
    pub text_back_enabled: bool,
    /// The missed-call text (`{business}` is the tenant's name); a default when unset.
    pub text_back_message: Option<String>,
    /// The appointment confirmation text; a default when unset.
    pub confirmation_message: Option<String>,
    /// The appointment reminder text; a default when unset.
    pub reminder_message: Option<String>,
    /// How long before an appointment its reminder goes (default 24 h).
    pub reminder_lead_minutes: i64,
    /// The TwiML App the browser softphone calls through (`AP…`); the platform's when
    /// unset.
    pub twiml_app_sid: Option<String>,
    /// Forwarded calls also ring the staff's browsers (the Calls page); the first to
    /// answer, browser or phone, takes the call.
    pub ring_browsers: bool,
    /// The AI receptionist's knowledge base (`callRoutingMode: "ai-agent"`).
    pub ai_agent: Option<AiAgent>,
    /// Recordings, voicemails and transcripts older than this many days are deleted,
    /// here and at Twilio; `null` keeps them (the default).
    pub retention_days: Option<i64>,
}

/// A change to the config; absent fields stay, `null` clears.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct TwilioConfigUpdate {
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub account_sid: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub auth_token: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub api_key_sid: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub api_key_secret: Option<Option<String>>,
    #[serde(default)]
    pub phone_numbers: Option<Vec<NumberInput>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub call_routing_mode: Option<Option<RoutingMode>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub forward_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub forward_number_new: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub forward_number_existing: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub menu_message: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub voice: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub recording_enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub transcription_enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub whisper_message: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub auto_reply_message: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub business_hours: Option<Option<BusinessHours>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub llm_classification: Option<Option<bool>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub sms_help_text: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub sms_max_segments: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub text_back_enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub text_back_message: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub confirmation_message: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub reminder_message: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub reminder_lead_minutes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub twiml_app_sid: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub ring_browsers: Option<Option<bool>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub ai_agent: Option<Option<AiAgent>>,
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub retention_days: Option<Option<i64>>,
    /// Admins only: allow saving an account SID another tenant already uses (tenants
    /// that really share one Twilio account). Not stored; checked when the SID changes.
    #[serde(default)]
    pub share_account: Option<bool>,
}

impl TwilioConfigUpdate {
    /// Which Twilio credentials the change touches, by name (for the audit log: which,
    /// never their values).
    pub fn credentials_changed(&self) -> Vec<&'static str> {
        [
            ("accountSid", self.account_sid.is_some()),
            ("authToken", self.auth_token.is_some()),
            ("apiKeySid", self.api_key_sid.is_some()),
            ("apiKeySecret", self.api_key_secret.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }
}

/// Longest text by default, in segments (a tenant may set its own).
pub const DEFAULT_MAX_SEGMENTS: i64 = 10;

/// Appointment reminders go this long before the appointment unless the tenant says
/// otherwise.
pub const DEFAULT_REMINDER_LEAD_MINUTES: i64 = 24 * 60;

/// What the appointment confirmation and reminder templates may use.
pub const APPOINTMENT_PLACEHOLDERS: &[&str] = &["name", "business", "date", "time", "staff"];

/// Checks a template's `{placeholders}` against the ones it may use.
pub fn check_template(template: &str, allowed: &[&str]) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("has a { without its }".into());
        };
        let name = &after[..close];
        if !allowed.contains(&name) {
            let list: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
            return Err(format!(
                "uses {{{name}}}, which is not a placeholder; use {}",
                list.join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// Fills a checked template.
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |t, (name, value)| {
        t.replace(&format!("{{{name}}}"), value)
    })
}

const MAX_MESSAGE: usize = 1000;

/// Applies `change` to `slot`: blank text clears, like `null`.
fn text(
    change: &Option<Option<String>>,
    slot: &mut Option<String>,
    field: &str,
    errors: &mut FieldErrors,
) {
    if let Some(value) = change {
        let value = value.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if value.is_some_and(|v| v.chars().count() > MAX_MESSAGE) {
            errors.insert(
                field.into(),
                format!("must be at most {MAX_MESSAGE} characters"),
            );
        }
        *slot = value.map(str::to_owned);
    }
}

fn forward(
    change: &Option<Option<String>>,
    slot: &mut Option<String>,
    field: &str,
    errors: &mut FieldErrors,
) {
    if let Some(value) = change {
        *slot = match value.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match E164::parse(raw) {
                Some(n) => Some(n.as_str().to_owned()),
                None => {
                    errors.insert(field.into(), "is not a valid phone number".into());
                    None
                }
            },
        };
    }
}

/// Reads a tenant's config as clients see it.
pub async fn view(db: &Db, tenant_id: &str) -> AppResult<TwilioConfigView> {
    let row = load_row(db, tenant_id).await?;
    let numbers = numbers::list_for_tenant(db, tenant_id).await?;
    Ok(to_view(tenant_id, row, numbers))
}

fn to_view(tenant_id: &str, r: Row, phone_numbers: Vec<PhoneNumber>) -> TwilioConfigView {
    TwilioConfigView {
        company_id: tenant_id.to_owned(),
        uses_platform_credentials: r.account_sid.is_none(),
        account_sid: r.account_sid.as_deref().map(mask_sid),
        has_auth_token: r.auth_token_enc.is_some(),
        api_key_sid: r.api_key_sid.as_deref().map(mask_sid),
        has_api_key_secret: r.api_key_secret_enc.is_some(),
        phone_numbers,
        call_routing_mode: r.call_routing_mode.as_deref().and_then(RoutingMode::parse),
        forward_number: r.forward_number,
        forward_number_new: r.forward_number_new,
        forward_number_existing: r.forward_number_existing,
        menu_message: r.menu_message,
        voice: r.voice,
        recording_enabled: r.recording_enabled,
        transcription_enabled: r.transcription_enabled,
        whisper_message: r.whisper_message,
        auto_reply_message: r.auto_reply_message,
        business_hours: r
            .business_hours
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok()),
        llm_classification: r.llm_classification.unwrap_or(false),
        sms_help_text: r.sms_help_text,
        sms_max_segments: r.sms_max_segments.unwrap_or(DEFAULT_MAX_SEGMENTS),
        text_back_enabled: r.text_back_enabled.unwrap_or(false),
        text_back_message: r.text_back_message,
        confirmation_message: r.confirmation_message,
        reminder_message: r.reminder_message,
        reminder_lead_minutes: r
            .reminder_lead_minutes
            .unwrap_or(DEFAULT_REMINDER_LEAD_MINUTES),
        twiml_app_sid: r.twiml_app_sid,
        ring_browsers: r.ring_browsers.unwrap_or(false),
        ai_agent: r
            .ai_agent
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok()),
        retention_days: r.retention_days,
    }
}

/// Longest retention a tenant may set (ten years).
pub const MAX_RETENTION_DAYS: i64 = 3650;

/// Tenants that delete old media, with their retention in days.
pub async fn retention_policies(db: &Db) -> AppResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT tenant_id, retention_days FROM tenant_telephony WHERE retention_days IS NOT NULL",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("tenant_id")?, r.try_get("retention_days")?)))
        .collect()
}

/// Whether a tenant lets its calls' text go to the LLM endpoint (off by default).
pub async fn llm_allowed(db: &Db, tenant_id: &str) -> AppResult<bool> {
    Ok(load_row(db, tenant_id)
        .await?
        .llm_classification
        .unwrap_or(false))
}

/// Applies a change. Everything is validated before anything is written; a number
/// owned by another tenant is a 409 and nothing changes.
pub async fn update(
    db: &Db,
    secrets: &SecretBox,
    tenant_id: &str,
    change: TwilioConfigUpdate,
) -> AppResult<TwilioConfigView> {
    let mut r = load_row(db, tenant_id).await?;
    let previous_account = r.account_sid.clone();
    let mut errors = FieldErrors::new();

    if let Some(sid) = &change.account_sid {
        r.account_sid = match sid.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) if is_sid(s, "AC") => Some(s.to_owned()),
            Some(_) => {
                errors.insert(
                    "accountSid".into(),
                    "must be AC followed by 32 hex digits".into(),
                );
                None
            }
            None => None,
        };
    }
    if let Some(sid) = &change.twiml_app_sid {
        r.twiml_app_sid = match sid.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) if is_sid(s, "AP") => Some(s.to_owned()),
            Some(_) => {
                errors.insert(
                    "twimlAppSid".into(),
                    "must be AP followed by 32 hex digits".into(),
                );
                None
            }
            None => None,
        };
    }
    if let Some(sid) = &change.api_key_sid {
        r.api_key_sid = match sid.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) if is_sid(s, "SK") => Some(s.to_owned()),
            Some(_) => {
                errors.insert(
                    "apiKeySid".into(),
                    "must be SK followed by 32 hex digits".into(),
                );
                None
            }
            None => None,
        };
    }
    for (change, slot, field, column) in [
        (
            &change.auth_token,
            &mut r.auth_token_enc,
            "authToken",
            "auth_token",
        ),
        (
            &change.api_key_secret,
            &mut r.api_key_secret_enc,
            "apiKeySecret",
            "api_key_secret",
        ),
    ] {
        if let Some(value) = change {
            *slot = match value.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(s) if s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()) => {
                    Some(secrets.encrypt(s, &secret_context(tenant_id, column)))
                }
                Some(_) => {
                    errors.insert(
                        field.into(),
                        "must be up to 128 printable characters".into(),
                    );
                    None
                }
                None => None,
            };
        }
    }
    if r.account_sid.is_none() && (r.auth_token_enc.is_some() || r.api_key_sid.is_some()) {
        errors.insert(
            "accountSid".into(),
            "is required with an auth token or API key".into(),
        );
    }
    if let Some(account) = &r.account_sid
        && previous_account.as_ref() != Some(account)
        && change.share_account != Some(true)
        && account_used_elsewhere(db, tenant_id, account).await?
    {
        errors.insert(
            "accountSid".into(),
            "is already used by another tenant; an admin can let tenants share an account (shareAccount: true)".into(),
        );
    }
    if r.account_sid.is_some() && r.auth_token_enc.is_none() && r.api_key_secret_enc.is_none() {
        errors.insert(
            "authToken".into(),
            "an auth token or an API key secret is required with an account SID".into(),
        );
    }
    if r.api_key_sid.is_some() != r.api_key_secret_enc.is_some() {
        errors.insert(
            "apiKeySecret".into(),
            "an API key needs both its SID and its secret".into(),
        );
    }
    if let Some(mode) = change.call_routing_mode {
        r.call_routing_mode = mode.map(|m| m.as_str().to_owned());
    }
    forward(
        &change.forward_number,
        &mut r.forward_number,
        "forwardNumber",
        &mut errors,
    );
    forward(
        &change.forward_number_new,
        &mut r.forward_number_new,
        "forwardNumberNew",
        &mut errors,
    );
    forward(
        &change.forward_number_existing,
        &mut r.forward_number_existing,
        "forwardNumberExisting",
        &mut errors,
    );
    text(
        &change.menu_message,
        &mut r.menu_message,
        "menuMessage",
        &mut errors,
    );
    text(
        &change.whisper_message,
        &mut r.whisper_message,
        "whisperMessage",
        &mut errors,
    );
    text(
        &change.auto_reply_message,
        &mut r.auto_reply_message,
        "autoReplyMessage",
        &mut errors,
    );
    text(
        &change.sms_help_text,
        &mut r.sms_help_text,
        "smsHelpText",
        &mut errors,
    );
    text(
        &change.text_back_message,
        &mut r.text_back_message,
        "textBackMessage",
        &mut errors,
    );
    if let Some(template) = &r.text_back_message
        && let Err(e) = check_template(template, &["business"])
    {
        errors.insert("textBackMessage".into(), e);
    }
    for (change, slot, field) in [
        (
            &change.confirmation_message,
            &mut r.confirmation_message,
            "confirmationMessage",
        ),
        (
            &change.reminder_message,
            &mut r.reminder_message,
            "reminderMessage",
        ),
    ] {
        text(change, slot, field, &mut errors);
        if let Some(template) = slot.as_deref()
            && let Err(e) = check_template(template, APPOINTMENT_PLACEHOLDERS)
        {
            errors.insert(field.into(), e);
        }
    }
    if let Some(lead) = change.reminder_lead_minutes {
        if lead.is_some_and(|m| !(5..=14 * 24 * 60).contains(&m)) {
            errors.insert(
                "reminderLeadMinutes".into(),
                "must be from 5 minutes to 14 days (20160)".into(),
            );
        }
        r.reminder_lead_minutes = lead;
    }
    if let Some(flag) = change.text_back_enabled {
        r.text_back_enabled = flag;
    }
    if let Some(flag) = change.ring_browsers {
        r.ring_browsers = flag;
    }
    if let Some(days) = change.retention_days {
        if days.is_some_and(|d| !(1..=MAX_RETENTION_DAYS).contains(&d)) {
            errors.insert(
                "retentionDays".into(),
                format!("must be from 1 to {MAX_RETENTION_DAYS} days, or null to keep everything"),
            );
        }
        r.retention_days = days;
    }
    if let Some(agent) = &change.ai_agent {
        if let Some(a) = agent {
            a.check(&mut errors);
        }
        r.ai_agent = agent
            .clone()
            .map(AiAgent::normalised)
            .and_then(|a| serde_json::to_string(&a).ok());
    }
    if let Some(voice) = &change.voice {
        r.voice = match voice.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(v) if ALLOWED_VOICES.contains(&v) => Some(v.to_owned()),
            Some(_) => {
                errors.insert(
                    "voice".into(),
                    format!("must be one of {}", ALLOWED_VOICES.join(", ")),
                );
                None
            }
            None => None,
        };
    }
    if let Some(flag) = change.recording_enabled {
        r.recording_enabled = flag;
    }
    if let Some(flag) = change.transcription_enabled {
        r.transcription_enabled = flag;
    }
    if let Some(flag) = change.llm_classification {
        r.llm_classification = flag;
    }
    if let Some(max) = change.sms_max_segments {
        if max.is_some_and(|m| !(1..=100).contains(&m)) {
            errors.insert("smsMaxSegments".into(), "must be from 1 to 100".into());
        }
        r.sms_max_segments = max;
    }
    if let Some(hours) = &change.business_hours {
        if let Some(h) = hours {
            h.check(&mut errors);
        }
        r.business_hours = hours.as_ref().and_then(|h| serde_json::to_string(h).ok());
    }
    if let Some(inputs) = &change.phone_numbers {
        numbers::check(inputs, &mut errors);
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    if let Some(inputs) = &change.phone_numbers {
        numbers::replace_for_tenant(db, tenant_id, inputs).await?;
    }
    store_row(db, tenant_id, &r).await?;
    db.routing_changed();
    view(db, tenant_id).await
}

/// A tenant's routing settings with platform defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveSettings {
    /// Spoken in the default prompts.
    pub tenant_name: String,
    /// IANA zone for business hours.
    pub timezone: String,
    /// The routing mode.
    pub mode: RoutingMode,
    /// Menu prompt.
    pub menu_message: String,
    /// Greeting-mode prompt.
    pub greeting_message: String,
    /// Voice from the allow-list.
    pub voice: String,
    /// Record answered calls.
    pub recording_enabled: bool,
    /// Real-time transcription.
    pub transcription_enabled: bool,
    /// Default forward number.
    pub forward_number: Option<String>,
    /// Menu 1.
    pub forward_number_new: Option<String>,
    /// Menu 2.
    pub forward_number_existing: Option<String>,
    /// Whispered to staff.
    pub whisper_message: Option<String>,
    /// Opening hours.
    pub business_hours: Option<BusinessHours>,
    /// Voice SDK identities a forwarded call also rings (empty unless the tenant rings
    /// browsers): its users who may open the Calls page.
    pub browser_identities: Vec<String>,
    /// The AI receptionist's knowledge base (empty when none is set).
    pub ai_agent: AiAgent,
}

/// At most this many browsers ring beside the forward number (Twilio dials at most ten
/// nouns in one `<Dial>`).
pub const MAX_BROWSERS_RUNG: usize = 9;

/// The settings routing uses: the tenant's, else the platform defaults.
pub async fn effective(
    db: &Db,
    tenant_id: &str,
    defaults: &crate::config::RoutingDefaults,
) -> AppResult<EffectiveSettings> {
    let tenant = crate::tenants::get(db, tenant_id).await?;
    let r = load_row(db, tenant_id).await?;
    let mode = r
        .call_routing_mode
        .as_deref()
        .and_then(RoutingMode::parse)
        .unwrap_or(if defaults.menu_enabled {
            RoutingMode::Menu
        } else {
            RoutingMode::Forward
        });
    let voice = r
        .voice
        .filter(|v| ALLOWED_VOICES.contains(&v.as_str()))
        .unwrap_or_else(|| defaults.voice.clone());
    let menu_message = r
        .menu_message
        .clone()
        .or_else(|| defaults.menu_message.clone())
        .unwrap_or_else(|| default_menu_message(&tenant.name));
    let browser_identities = if r.ring_browsers.unwrap_or(false) {
        crate::users::list(db, Some(tenant_id))
            .await?
            .into_iter()
            .filter(|u| u.may_open("calls"))
            .take(MAX_BROWSERS_RUNG)
            .map(|u| crate::softphone::identity(&u.id))
            .collect()
    } else {
        Vec::new()
    };
    Ok(EffectiveSettings {
        browser_identities,
        ai_agent: r
            .ai_agent
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default(),
        greeting_message: r
            .menu_message
            .unwrap_or_else(|| format!("Thank you for calling {}.", tenant.name)),
        tenant_name: tenant.name,
        timezone: tenant.timezone,
        mode,
        menu_message,
        voice,
        recording_enabled: r.recording_enabled.unwrap_or(defaults.recording_enabled),
        transcription_enabled: r
            .transcription_enabled
            .unwrap_or(defaults.transcription_enabled),
        forward_number: r.forward_number,
        forward_number_new: r.forward_number_new,
        forward_number_existing: r.forward_number_existing,
        whisper_message: r.whisper_message,
        business_hours: r
            .business_hours
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok()),
    })
}

/// Whether a tenant other than `tenant_id` has its own credentials for `account_sid`.
async fn account_used_elsewhere(db: &Db, tenant_id: &str, account_sid: &str) -> AppResult<bool> {
    let row = sqlx::query(
        "SELECT tenant_id FROM tenant_telephony WHERE account_sid = $1 AND tenant_id <> $2 LIMIT 1",
    )
    .bind(account_sid)
    .bind(tenant_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// A tenant whose own credentials are for `account_sid`: whose auth token verifies
/// that account's webhooks. Only for verifying: it says nothing about who owns a call.
/// Tenants an admin let share an account share its token; the first by id is taken.
pub async fn tenant_for_account(db: &Db, account_sid: &str) -> AppResult<Option<String>> {
    let row = sqlx::query(
        "SELECT tenant_id FROM tenant_telephony WHERE account_sid = $1 ORDER BY tenant_id LIMIT 1",
    )
    .bind(account_sid)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.try_get("tenant_id")).transpose()?)
}

/// The auth token that signs webhooks for a tenant (its own, else the platform's).
/// API keys cannot sign webhooks; only the account's auth token does.
pub async fn webhook_token(
    db: &Db,
    secrets: &SecretBox,
    platform: &PlatformTwilio,
    tenant_id: Option<&str>,
) -> AppResult<Option<String>> {
    if let Some(tenant_id) = tenant_id {
        let r = load_row(db, tenant_id).await?;
        if r.account_sid.is_some() {
            return r
                .auth_token_enc
                .map(|enc| {
                    secrets
                        .decrypt(&enc, &secret_context(tenant_id, "auth_token"))
                        .map_err(AppError::internal)
                })
                .transpose();
        }
    }
    Ok(platform.auth_token.clone())
}

/// The credentials to act for a tenant: its own, else the platform's, else none.
pub async fn credentials_for(
    db: &Db,
    secrets: &SecretBox,
    platform: &PlatformTwilio,
    tenant_id: &str,
) -> AppResult<Option<twilio::client::Credentials>> {
    let r = load_row(db, tenant_id).await?;
    if let Some(account_sid) = r.account_sid {
        let decrypt = |enc: Option<String>, column: &str| -> AppResult<Option<String>> {
            enc.map(|e| {
                secrets
                    .decrypt(&e, &secret_context(tenant_id, column))
                    .map_err(AppError::internal)
            })
            .transpose()
        };
        let token = decrypt(r.auth_token_enc, "auth_token")?;
        let key_secret = decrypt(r.api_key_secret_enc, "api_key_secret")?;
        return Ok(Some(match (r.api_key_sid, key_secret, token) {
            (Some(sid), Some(secret), token) => {
                twilio::client::Credentials::api_key(account_sid, sid, secret, token)
            }
            (_, _, Some(token)) => twilio::client::Credentials::auth_token(account_sid, token),
            _ => return Ok(None),
        }));
    }
    Ok(platform_credentials(platform))
}

/// The platform's credentials, when configured.
pub fn platform_credentials(platform: &PlatformTwilio) -> Option<twilio::client::Credentials> {
    let account = platform.account_sid.clone()?;
    match (&platform.api_key_sid, &platform.api_key_secret) {
        (Some(sid), Some(secret)) => Some(twilio::client::Credentials::api_key(
            account,
            sid.clone(),
            secret.clone(),
            platform.auth_token.clone(),
        )),
        _ => platform
            .auth_token
            .clone()
            .map(|token| twilio::client::Credentials::auth_token(account, token)),
    }
}

/// The default menu prompt naming the tenant.
pub fn default_menu_message(tenant_name: &str) -> String {
    format!(
        "Thank you for calling {tenant_name}. If you are a new patient, press 1. If you are an existing patient, press 2."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_hours_validation() {
        let ok: BusinessHours = serde_json::from_value(serde_json::json!({
            "days": {"mon": [{"open": "09:00", "close": "17:00"}], "sat": []},
            "afterHoursAction": "voicemail"
        }))
        .expect("parse");
        let mut errors = FieldErrors::new();
        ok.check(&mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let bad: BusinessHours = serde_json::from_value(serde_json::json!({
            "days": {"funday": [], "tue": [{"open": "18:00", "close": "09:00"}], "wed": [{"open": "9am", "close": "17:00"}]},
            "afterHoursAction": "hangup"
        }))
        .expect("parse");
        bad.check(&mut errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
