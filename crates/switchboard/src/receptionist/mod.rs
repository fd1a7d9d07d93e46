//! The AI receptionist (`callRoutingMode: "ai-agent"`): what it says to each thing a
//! caller says. Pure: a turn is a function of the tenant's knowledge base, its hours,
//! the time, the conversation's state so far and what Twilio heard.
//!
//! It answers only from the knowledge base — opening hours, services and prices,
//! address, insurance and payment, the tenant's own questions and answers — and says so
//! when it does not know, offering a person. It takes appointment *requests* (day,
//! time, name, confirmed back), hands off on request, on pressing 0, after two turns it
//! could not understand, on poor recognition and on an emergency, and after
//! [`MAX_TURNS`] turns or [`MAX_MINUTES`] minutes.

pub mod conversation;
pub mod when;
pub mod words;

use serde::{Deserialize, Serialize};

use crate::telephony::{AiAgent, BusinessHours, BusinessKind, Faq, Service};
use words::{concepts, has_any, has_phrase, normalise, similarity};

/// Most turns of one conversation before a person takes over.
pub const MAX_TURNS: i64 = 12;
/// Most minutes of one conversation before a person takes over.
pub const MAX_MINUTES: i64 = 6;
/// Below this recognition confidence a person takes over rather than a guess.
pub const LOW_CONFIDENCE: f64 = 0.35;
/// Turns in a row it could not understand before a person takes over.
pub const MAX_MISUNDERSTOOD: u8 = 2;
/// How long an appointment request is when its service does not say.
pub const DEFAULT_MINUTES: u32 = 30;

/// What the receptionist knows for one call.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The business's name.
    pub business: &'a str,
    /// The tenant's IANA zone.
    pub timezone: &'a str,
    /// Opening hours, when set.
    pub hours: Option<&'a BusinessHours>,
    /// The knowledge base.
    pub kb: &'a AiAgent,
    /// Now.
    pub now: jiff::Timestamp,
}

impl<'a> Context<'a> {
    /// What the receptionist knows of a tenant, from its effective settings.
    pub fn of(s: &'a crate::telephony::EffectiveSettings, now: jiff::Timestamp) -> Self {
        Self {
            business: &s.tenant_name,
            timezone: &s.timezone,
            hours: s.business_hours.as_ref(),
            kb: &s.ai_agent,
            now,
        }
    }

    fn zone(&self) -> jiff::tz::TimeZone {
        match self.hours {
            Some(h) => h.zone(self.timezone),
            None => jiff::tz::TimeZone::get(self.timezone).unwrap_or(jiff::tz::TimeZone::UTC),
        }
    }

    fn local_now(&self) -> jiff::civil::DateTime {
        self.now.to_zoned(self.zone()).datetime()
    }
}

/// What the receptionist did with a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The greeting.
    Greet,
    /// Answered from the knowledge base.
    Answer,
    /// Asked the caller something (a booking detail, a repeat).
    Ask,
    /// Took an appointment request.
    Book,
    /// Put the caller through to a person (or voicemail).
    Handoff,
    /// An emergency: told to call 911 and put through at once.
    Emergency,
    /// Said goodbye and hung up.
    Goodbye,
}

impl Action {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Greet => "greet",
            Self::Answer => "answer",
            Self::Ask => "ask",
            Self::Book => "book",
            Self::Handoff => "handoff",
            Self::Emergency => "emergency",
            Self::Goodbye => "goodbye",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Greet,
            Self::Answer,
            Self::Ask,
            Self::Book,
            Self::Handoff,
            Self::Emergency,
            Self::Goodbye,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }

    /// Whether the conversation goes on after this turn.
    pub fn continues(self) -> bool {
        matches!(self, Self::Greet | Self::Answer | Self::Ask | Self::Book)
    }
}

/// What a caller asked about (told to staff in the whisper of a hand-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topic {
    /// Opening hours.
    Hours,
    /// Services and prices.
    Prices,
    /// Where the business is.
    Address,
    /// Insurance and payment.
    Insurance,
    /// An appointment.
    Booking,
    /// One of the tenant's own questions.
    Question,
    /// Asked for a person.
    Person,
    /// An emergency.
    Emergency,
    /// Could not be understood.
    Unclear,
}

impl Topic {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hours => "hours",
            Self::Prices => "prices",
            Self::Address => "address",
            Self::Insurance => "insurance",
            Self::Booking => "booking",
            Self::Question => "question",
            Self::Person => "person",
            Self::Emergency => "emergency",
            Self::Unclear => "unclear",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Hours,
            Self::Prices,
            Self::Address,
            Self::Insurance,
            Self::Booking,
            Self::Question,
            Self::Person,
            Self::Emergency,
            Self::Unclear,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// What staff hear about it when the call is put through to them.
    pub fn whisper(self) -> &'static str {
        match self {
            Self::Hours => "The caller asked about opening hours.",
            Self::Prices => "The caller asked about prices.",
            Self::Address => "The caller asked where you are.",
            Self::Insurance => "The caller asked about insurance or payment.",
            Self::Booking => "The caller wants to book or change an appointment.",
            Self::Question => "The caller has a question the receptionist could not answer.",
            Self::Person => "The caller asked for a person.",
            Self::Emergency => "The caller may have an emergency.",
            Self::Unclear => "The receptionist could not understand the caller.",
        }
    }
}

/// Where an appointment request stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Asking for the day and time.
    #[default]
    When,
    /// Asking for the caller's name.
    Name,
    /// Reading it back for a yes or no.
    Confirm,
}

/// An appointment request being taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    /// What is asked next.
    pub stage: Stage,
    /// `YYYY-MM-DD`, local.
    #[serde(default)]
    pub day: Option<String>,
    /// `HH:MM`, local.
    #[serde(default)]
    pub time: Option<String>,
    /// The caller's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The service named, when one was.
    #[serde(default)]
    pub service: Option<String>,
    /// What the caller said while booking (kept with the request).
    #[serde(default)]
    pub words: Vec<String>,
}

/// What carries from one turn to the next (stored with each turn).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Turns in a row it could not understand.
    #[serde(default)]
    pub misunderstood: u8,
    /// It offered a person last turn (a "yes" now puts the caller through).
    #[serde(default)]
    pub offered_person: bool,
    /// The request being taken.
    #[serde(default)]
    pub booking: Option<Booking>,
    /// When the conversation began (unix ms).
    #[serde(default)]
    pub started_at: Option<i64>,
}

/// What the caller did this turn.
#[derive(Debug, Clone, Copy, Default)]
pub struct Input<'a> {
    /// Twilio's `SpeechResult`.
    pub heard: Option<&'a str>,
    /// Twilio's `Confidence`.
    pub confidence: Option<f64>,
    /// Keys pressed (`Digits`).
    pub digits: Option<&'a str>,
}

/// An appointment request to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Local start, in the tenant's zone.
    pub starts: jiff::civil::DateTime,
    /// Length in minutes.
    pub minutes: u32,
    /// The caller's name.
    pub name: String,
    /// The service asked for.
    pub service: Option<String>,
    /// What the caller said.
    pub words: String,
}

/// The receptionist's answer to one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Spoken to the caller (plain text).
    pub said: String,
    /// What it did.
    pub action: Action,
    /// What the caller asked about.
    pub topic: Option<Topic>,
    /// What carries to the next turn.
    pub state: State,
    /// The appointment request taken this turn.
    pub request: Option<Request>,
}

/// What one turn says and does, as the call flow speaks it.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    /// Spoken to the caller.
    pub text: String,
    /// What it did.
    pub action: Action,
    /// What the caller asked about.
    pub topic: Option<Topic>,
}

/// What the receptionist answers when a caller's first words are `question` (the
/// Settings page's "try it" box): the same turn a call's first answer is.
pub fn try_question(
    settings: &crate::telephony::EffectiveSettings,
    question: &str,
    now: jiff::Timestamp,
) -> Utterance {
    let reply = reply(
        &Context::of(settings, now),
        &State::default(),
        1,
        &Input {
            heard: Some(question),
            confidence: None,
            digits: None,
        },
    );
    Utterance {
        text: reply.said,
        action: reply.action,
        topic: reply.topic,
    }
}

/// The first thing a caller hears.
pub fn greeting(ctx: &Context<'_>) -> String {
    ctx.kb
        .greeting
        .clone()
        .unwrap_or_else(|| format!("Thanks for calling {}. How can I help?", ctx.business))
}

const ANYTHING_ELSE: &str = "Is there anything else I can help with?";
const OFFER_PERSON: &str = "I can put you through to someone who can help. Would you like that?";
const NOT_UNDERSTOOD: &str = "Sorry, I didn't catch that. I can tell you our hours, prices, address or insurance, or take an appointment request. What would you like?";

const PERSON: &[&str] = &[
    "person",
    "human",
    "receptionist",
    "operator",
    "someone",
    "somebody",
    "representative",
    "real person",
    "talk to",
    "speak to",
    "speak with",
    "talk with",
    "front desk",
    "staff",
    "agent",
];

const EMERGENCY_ALWAYS: &[&str] = &[
    "emergency",
    "911",
    "9 1 1",
    "can not breathe",
    "not breathing",
    "chest pain",
    "chest pains",
    "heart attack",
    "stroke",
    "unconscious",
    "passed out",
    "overdose",
    "suicide",
    "kill myself",
    "gas leak",
    "smell gas",
    "carbon monoxide",
    "fire",
    "severe bleeding",
    "bleeding a lot",
];
const EMERGENCY_MEDICAL: &[&str] = &[
    "bleeding",
    "severe pain",
    "allergic reaction",
    "seizure",
    "fainted",
    "broken bone",
    "high fever",
    "can not move",
];
const EMERGENCY_DENTAL: &[&str] = &[
    "bleeding",
    "severe pain",
    "knocked out",
    "swollen face",
    "face is swollen",
    "swelling",
    "abscess",
    "broken jaw",
];
const EMERGENCY_HOME: &[&str] = &[
    "flooding",
    "flooded",
    "flood",
    "burst pipe",
    "pipe burst",
    "water everywhere",
    "sewage",
    "no heat",
    "sparks",
    "sparking",
    "smoke",
    "water heater leaking",
];

/// Whether the words are an emergency for this kind of business.
pub fn is_emergency(kind: BusinessKind, text: &str) -> bool {
    let own: &[&str] = match kind {
        BusinessKind::General => &[],
        BusinessKind::Medical => EMERGENCY_MEDICAL,
        BusinessKind::Dental => EMERGENCY_DENTAL,
        BusinessKind::HomeService => EMERGENCY_HOME,
    };
    has_any(text, EMERGENCY_ALWAYS) || has_any(text, own)
}

const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "correct",
    "right",
    "ok",
    "okay",
    "please",
    "absolutely",
    "sounds good",
    "go ahead",
    "that is right",
    "perfect",
];
const NO: &[&str] = &["no", "nope", "nah", "not", "wrong", "incorrect", "negative"];
const GOODBYE: &[&str] = &[
    "bye",
    "goodbye",
    "that is all",
    "that is it",
    "nothing else",
    "no thank you",
    "no thanks",
    "all set",
    "i am good",
    "i am all set",
    "that will be all",
    "that is everything",
];
const CANCEL_BOOKING: &[&str] = &["never mind", "nevermind", "forget it", "do not book"];
const CHANGE_BOOKING: &[&str] = &[
    "cancel",
    "reschedule",
    "move my appointment",
    "change my appointment",
];

fn says_yes(text: &str) -> bool {
    has_any(text, YES) && !says_no(text)
}

fn says_no(text: &str) -> bool {
    has_any(text, NO)
}

fn wants_booking(text: &str) -> bool {
    concepts(text).iter().any(|c| c == "book")
        || has_any(
            text,
            &[
                "come in",
                "see the doctor",
                "see a doctor",
                "see the dentist",
                "get in",
                "send someone",
                "someone come out",
                "come out",
            ],
        )
}

/// The turn: what to say and do when the caller said or pressed `input`.
pub fn reply(ctx: &Context<'_>, previous: &State, turn: i64, input: &Input<'_>) -> Reply {
    let mut state = previous.clone();
    state.started_at.get_or_insert(ctx.now.as_millisecond());
    let offered = std::mem::take(&mut state.offered_person);
    let heard = input.heard.map(normalise).filter(|h| !h.is_empty());
    let handoff = |state: State, said: &str, topic: Topic| Reply {
        said: said.to_owned(),
        action: Action::Handoff,
        topic: Some(topic),
        state,
        request: None,
    };

    if input.digits.map(str::trim) == Some("0") {
        return handoff(state, "Putting you through now.", Topic::Person);
    }
    if let Some(text) = &heard
        && is_emergency(ctx.kb.business_kind, text)
    {
        return Reply {
            said: "If this is an emergency, hang up and call 911. I'm putting you through to someone now.".into(),
            action: Action::Emergency,
            topic: Some(Topic::Emergency),
            state,
            request: None,
        };
    }
    let elapsed_ms = ctx.now.as_millisecond() - state.started_at.unwrap_or_default();
    if turn > MAX_TURNS || elapsed_ms > MAX_MINUTES * 60_000 {
        let topic = if state.booking.is_some() {
            Topic::Booking
        } else {
            Topic::Question
        };
        return handoff(
            state,
            "Let me put you through to someone who can help you further.",
            topic,
        );
    }
    if let Some(text) = &heard
        && has_any(text, PERSON)
    {
        return handoff(
            state,
            "Sure, I'll put you through to someone now.",
            Topic::Person,
        );
    }
    if heard.is_some() && input.confidence.is_some_and(|c| c < LOW_CONFIDENCE) {
        return handoff(
            state,
            "I'm having trouble hearing you, so let me put you through to someone.",
            Topic::Unclear,
        );
    }
    let Some(text) = heard else {
        return not_understood(state, input.digits.is_some());
    };
    if offered && says_yes(&text) && !wants_booking(&text) {
        return handoff(state, "Okay, putting you through now.", Topic::Question);
    }
    if let Some(booking) = state.booking.take() {
        if has_any(&text, CANCEL_BOOKING) {
            state.misunderstood = 0;
            return answered(
                state,
                format!("Okay, I won't send a request. {ANYTHING_ELSE}"),
                Topic::Booking,
            );
        }
        return continue_booking(ctx, state, booking, &text, input.heard.unwrap_or_default());
    }
    if offered && says_no(&text) && concepts(&text).is_empty() {
        state.misunderstood = 0;
        return answered(
            state,
            "Okay. What else can I help with?".into(),
            Topic::Question,
        );
    }
    if has_any(&text, GOODBYE) || matches!(text.as_str(), "no" | "nope" | "that is it") {
        return Reply {
            said: format!("Thanks for calling {}. Goodbye!", ctx.business),
            action: Action::Goodbye,
            topic: None,
            state,
            request: None,
        };
    }
    if has_any(&text, CHANGE_BOOKING) {
        return handoff(
            state,
            "I'll put you through to someone who can change your appointment.",
            Topic::Booking,
        );
    }
    if wants_booking(&text) && !is_question_about_booking(&text) {
        state.misunderstood = 0;
        let booking = Booking {
            service: service_in(ctx.kb, &text).map(|s| s.name.clone()),
            ..Booking::default()
        };
        return continue_booking(ctx, state, booking, &text, input.heard.unwrap_or_default());
    }
    let said = concepts(&text);
    if let Some(faq) = best_faq(ctx.kb, &said, 0.55) {
        state.misunderstood = 0;
        return answered(
            state,
            format!("{} {ANYTHING_ELSE}", faq.answer),
            Topic::Question,
        );
    }
    let topic = if said.iter().any(|c| c == "price") || has_phrase(&text, "how much") {
        Some(Topic::Prices)
    } else if said.iter().any(|c| c == "hours")
        || has_any(&text, &["what time", "when are you", "are you open"])
    {
        Some(Topic::Hours)
    } else if said.iter().any(|c| c == "address") {
        Some(Topic::Address)
    } else if said.iter().any(|c| c == "insurance" || c == "payment")
        || names_a_plan(ctx.kb.insurance.as_deref(), &said)
    {
        Some(Topic::Insurance)
    } else {
        None
    };
    if let Some(topic) = topic {
        state.misunderstood = 0;
        let (answer, known) = match topic {
            Topic::Prices => prices(ctx.kb, &text),
            Topic::Hours => hours(ctx, &text),
            Topic::Address => known_or_not(ctx.kb.address.as_deref(), "our address"),
            _ => known_or_not(
                ctx.kb.insurance.as_deref(),
                "which insurance and payments we take",
            ),
        };
        if known {
            return answered(state, format!("{answer} {ANYTHING_ELSE}"), topic);
        }
        state.offered_person = true;
        return Reply {
            said: format!("{answer} {OFFER_PERSON}"),
            action: Action::Answer,
            topic: Some(topic),
            state,
            request: None,
        };
    }
    if let Some(faq) = best_faq(ctx.kb, &said, 0.4) {
        state.misunderstood = 0;
        return answered(
            state,
            format!("{} {ANYTHING_ELSE}", faq.answer),
            Topic::Question,
        );
    }
    not_understood(state, false)
}

/// Whether the caller named one of the plans or cards the insurance text lists ("do
/// you take Aetna"): its capitalised words after the first, as concepts.
fn names_a_plan(insurance: Option<&str>, said: &[String]) -> bool {
    let Some(text) = insurance else {
        return false;
    };
    text.split_whitespace()
        .skip(1)
        .filter(|w| w.starts_with(|c: char| c.is_uppercase()))
        .flat_map(|w| concepts(&normalise(w)))
        .any(|plan| said.contains(&plan))
}

/// "Can I book online?" asks about booking rather than asking to book.
fn is_question_about_booking(text: &str) -> bool {
    has_any(text, &["online", "website", "how far ahead", "how do i"])
}

fn answered(state: State, said: String, topic: Topic) -> Reply {
    Reply {
        said,
        action: Action::Answer,
        topic: Some(topic),
        state,
        request: None,
    }
}

fn not_understood(mut state: State, pressed: bool) -> Reply {
    state.misunderstood = state.misunderstood.saturating_add(1);
    if state.misunderstood >= MAX_MISUNDERSTOOD {
        return Reply {
            said: "Let me put you through to someone who can help.".into(),
            action: Action::Handoff,
            topic: Some(Topic::Unclear),
            state,
            request: None,
        };
    }
    let said = if pressed {
        "To speak to someone, press 0. Otherwise, just tell me what you need.".to_owned()
    } else {
        NOT_UNDERSTOOD.to_owned()
    };
    Reply {
        said,
        action: Action::Ask,
        topic: Some(Topic::Unclear),
        state,
        request: None,
    }
}

fn known_or_not(value: Option<&str>, what: &str) -> (String, bool) {
    match value {
        Some(v) => (v.to_owned(), true),
        None => (format!("I'm sorry, I don't have {what} here."), false),
    }
}

fn best_faq<'a>(kb: &'a AiAgent, said: &[String], threshold: f64) -> Option<&'a Faq> {
    kb.faqs
        .iter()
        .map(|f| (similarity(said, &concepts(&normalise(&f.question))), f))
        .filter(|(score, _)| *score >= threshold)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, f)| f)
}

fn service_in<'a>(kb: &'a AiAgent, text: &str) -> Option<&'a Service> {
    let said = concepts(text);
    kb.services
        .iter()
        .map(|s| {
            let name = concepts(&normalise(&s.name));
            let shared = name.iter().filter(|c| said.contains(c)).count() as f64;
            (shared / name.len().max(1) as f64, s)
        })
        .filter(|(score, _)| *score >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, s)| s)
}

/// The price of the service asked about, else the prices there are; never a price the
/// knowledge base does not hold.
fn prices(kb: &AiAgent, text: &str) -> (String, bool) {
    if let Some(service) = service_in(kb, text) {
        return match &service.price {
            Some(price) => (format!("{} is {price}.", article(&service.name)), true),
            None => (
                format!("I'm sorry, I don't have a price for {} here.", service.name),
                false,
            ),
        };
    }
    let priced: Vec<String> = kb
        .services
        .iter()
        .filter_map(|s| s.price.as_ref().map(|p| format!("{}, {p}", s.name)))
        .take(6)
        .collect();
    if priced.is_empty() {
        return (
            "I'm sorry, I don't have prices to share here.".into(),
            false,
        );
    }
    (format!("Our prices: {}.", priced.join("; ")), true)
}

/// "A teeth cleaning", "An exam": a service named in a sentence.
fn article(name: &str) -> String {
    let lower = name.to_lowercase();
    let an = lower.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {lower}", if an { "An" } else { "A" })
}

/// Opening hours: a named day's, else open now and until when, else when next.
fn hours(ctx: &Context<'_>, text: &str) -> (String, bool) {
    let Some(h) = ctx.hours else {
        return (
            "I'm sorry, I don't have our opening hours here.".into(),
            false,
        );
    };
    if let Some(day) = when::weekday_in(text) {
        let name = when::weekday_name(day);
        let intervals = h.on(day);
        if intervals.is_empty() {
            return (format!("We're closed on {name}s."), true);
        }
        return (format!("On {name} we're open {}.", spans(intervals)), true);
    }
    let tz = ctx.zone();
    let local = ctx.local_now();
    if let Some(open) = h.open_interval(ctx.timezone, ctx.now) {
        return match hhmm_time(&open.close) {
            Some(t) => (
                format!("Yes, we're open now, until {} today.", when::clock(t)),
                true,
            ),
            None => ("Yes, we're open now.".into(), true),
        };
    }
    match h.next_opening(ctx.timezone, ctx.now) {
        Some(next) => {
            let at = next.to_zoned(tz).datetime();
            let day = if at.date() == local.date() {
                "today".to_owned()
            } else if local.date().tomorrow().ok() == Some(at.date()) {
                "tomorrow".to_owned()
            } else {
                format!("on {}", when::weekday_name(at.weekday()))
            };
            (
                format!(
                    "We're closed right now. We open again {day} at {}.",
                    when::clock(at.time())
                ),
                true,
            )
        }
        None => ("We're closed right now.".into(), true),
    }
}

fn hhmm_time(s: &str) -> Option<jiff::civil::Time> {
    let m = crate::telephony::minutes(s)?;
    if m >= 24 * 60 {
        return jiff::civil::Time::new(23, 59, 0, 0).ok();
    }
    jiff::civil::Time::new(i8::try_from(m / 60).ok()?, i8::try_from(m % 60).ok()?, 0, 0).ok()
}

fn spans(intervals: &[crate::telephony::OpenInterval]) -> String {
    intervals
        .iter()
        .filter_map(|iv| Some((hhmm_time(&iv.open)?, hhmm_time(&iv.close)?)))
        .map(|(o, c)| format!("from {} to {}", when::clock(o), when::clock(c)))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Words before a name that are not the name.
const NAME_LEADS: &[&str] = &[
    "my name is ",
    "the name is ",
    "name is ",
    "it is ",
    "it's ",
    "this is ",
    "i am ",
    "i'm ",
    "im ",
    "under ",
    "put it under ",
    "yes ",
    "sure ",
];

/// The caller's name from what they said: lead words dropped, at most four words, each
/// capitalised; `None` when nothing name-like is left.
fn name_in(said: &str) -> Option<String> {
    let mut rest = said.trim().trim_end_matches(['.', '!', '?']).to_owned();
    loop {
        let lower = rest.to_lowercase();
        match NAME_LEADS.iter().find(|l| lower.starts_with(*l)) {
            Some(lead) => rest = rest[lead.len()..].trim_start().to_owned(),
            None => break,
        }
    }
    let words: Vec<String> = rest
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphabetic() || *c == '-' || *c == '\'')
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .take(4)
        .map(|w| when::capitalised(&w.to_lowercase()))
        .collect();
    let name = words.join(" ");
    let normalised = normalise(&name);
    if name.is_empty() || name.len() > 80 || has_any(&normalised, YES) || says_no(&normalised) {
        return None;
    }
    Some(name)
}

fn parse_day(s: &str) -> Option<jiff::civil::Date> {
    s.parse().ok()
}

fn parse_time(s: &str) -> Option<jiff::civil::Time> {
    s.parse().ok()
}

/// The next step of an appointment request.
fn continue_booking(
    ctx: &Context<'_>,
    mut state: State,
    mut b: Booking,
    text: &str,
    raw: &str,
) -> Reply {
    if !raw.trim().is_empty() {
        b.words.push(raw.trim().chars().take(300).collect());
        b.words.truncate(12);
    }
    if b.service.is_none() {
        b.service = service_in(ctx.kb, text).map(|s| s.name.clone());
    }
    let ask = |mut state: State, b: Booking, said: String| {
        state.booking = Some(b);
        Reply {
            said,
            action: Action::Ask,
            topic: Some(Topic::Booking),
            state,
            request: None,
        }
    };
    let local = ctx.local_now();
    match b.stage {
        Stage::When => {
            if let Some(day) = when::day_in(text, local.date()) {
                b.day = Some(day.to_string());
            }
            if let Some(t) = when::time_in(text) {
                b.time = Some(t.strftime("%H:%M").to_string());
            }
            let day = b.day.as_deref().and_then(parse_day);
            let time = b.time.as_deref().and_then(parse_time);
            match (day, time) {
                (Some(day), Some(time)) => {
                    let at = day.to_datetime(time);
                    if at <= local {
                        b.day = None;
                        b.time = None;
                        return ask(
                            state,
                            b,
                            "That time has already passed. Which day and time would you like?"
                                .into(),
                        );
                    }
                    if let Some(h) = ctx.hours
                        && let Ok(instant) = at.to_zoned(ctx.zone())
                        && !h.is_open(ctx.timezone, instant.timestamp())
                    {
                        b.time = None;
                        let (open, _) =
                            hours(ctx, &when::weekday_name(day.weekday()).to_lowercase());
                        return ask(
                            state,
                            b,
                            format!("We're not open then. {open} What time would suit you?"),
                        );
                    }
                    state.misunderstood = 0;
                    match &b.name {
                        Some(_) => {
                            b.stage = Stage::Confirm;
                            let said = read_back(&b, at);
                            ask(state, b, said)
                        }
                        None => {
                            b.stage = Stage::Name;
                            ask(
                                state,
                                b,
                                format!(
                                    "{}. And what name should I put the request under?",
                                    when::spoken(at)
                                ),
                            )
                        }
                    }
                }
                (Some(day), None) => {
                    state.misunderstood = 0;
                    let said = format!(
                        "What time on {} works for you?",
                        when::weekday_name(day.weekday())
                    );
                    ask(state, b, said)
                }
                (None, Some(time)) => {
                    state.misunderstood = 0;
                    let said = format!("Which day would you like, at {}?", when::clock(time));
                    ask(state, b, said)
                }
                (None, None) => {
                    let first = b.words.len() <= 1 && wants_booking(text);
                    if !first {
                        state.misunderstood = state.misunderstood.saturating_add(1);
                        if state.misunderstood >= MAX_MISUNDERSTOOD {
                            return Reply {
                                said:
                                    "Let me put you through to someone who can book that for you."
                                        .into(),
                                action: Action::Handoff,
                                topic: Some(Topic::Booking),
                                state,
                                request: None,
                            };
                        }
                    }
                    let said = if first {
                        "I can take an appointment request. Which day and time would you like?"
                    } else {
                        "Sorry, which day and time would you like? For example, tomorrow at 10 AM."
                    };
                    ask(state, b, said.into())
                }
            }
        }
        Stage::Name => match name_in(raw) {
            Some(name) => {
                state.misunderstood = 0;
                b.name = Some(name);
                b.stage = Stage::Confirm;
                let at = booked_at(&b);
                let said = at.map_or_else(
                    || "Which day and time would you like?".to_owned(),
                    |at| read_back(&b, at),
                );
                if at.is_none() {
                    b.stage = Stage::When;
                }
                ask(state, b, said)
            }
            None => ask(
                state,
                b,
                "Sorry, what name should I put the request under?".into(),
            ),
        },
        Stage::Confirm => {
            let Some(at) = booked_at(&b) else {
                b.stage = Stage::When;
                return ask(state, b, "Which day and time would you like?".into());
            };
            if says_yes(text) {
                state.misunderstood = 0;
                let name = b.name.clone().unwrap_or_default();
                let minutes = b
                    .service
                    .as_deref()
                    .and_then(|s| ctx.kb.services.iter().find(|k| k.name == s))
                    .and_then(|s| s.duration)
                    .unwrap_or(DEFAULT_MINUTES);
                let first = name.split(' ').next().unwrap_or_default().to_owned();
                Reply {
                    said: format!(
                        "Thank you, {first}. I've sent your request for {}. The team will confirm it with you. {ANYTHING_ELSE}",
                        when::spoken(at)
                    ),
                    action: Action::Book,
                    topic: Some(Topic::Booking),
                    request: Some(Request {
                        starts: at,
                        minutes,
                        name,
                        service: b.service.clone(),
                        words: b.words.join(" / "),
                    }),
                    state,
                }
            } else if says_no(text) {
                b.stage = Stage::When;
                b.day = None;
                b.time = None;
                ask(
                    state,
                    b,
                    "No problem. Which day and time would you prefer?".into(),
                )
            } else {
                let said = format!("Sorry, {} Please say yes or no.", read_back(&b, at));
                ask(state, b, said)
            }
        }
    }
}

fn booked_at(b: &Booking) -> Option<jiff::civil::DateTime> {
    let day = b.day.as_deref().and_then(parse_day)?;
    let time = b.time.as_deref().and_then(parse_time)?;
    Some(day.to_datetime(time))
}

fn read_back(b: &Booking, at: jiff::civil::DateTime) -> String {
    let what = b
        .service
        .as_deref()
        .map(|s| format!(" for {}", s.to_lowercase()))
        .unwrap_or_default();
    format!(
        "So that's a request{what} for {} on {}. Shall I send it?",
        b.name.as_deref().unwrap_or("you"),
        when::spoken(at)
    )
}

#[cfg(test)]
mod tests;
