//! The call record as a pure function of the *set* of its events.
//!
//! Twilio delivers callbacks late, twice and out of order. [`fold`] first puts the
//! events in a canonical order (event time, kind, payload) and drops exact
//! duplicates, so no rule can depend on arrival order; each rule is then written to
//! be monotone: the furthest status, any evidence of an answer, the first valid menu
//! digit, the earliest start.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What kind of callback an event was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The request to the number's VoiceUrl.
    Incoming,
    /// The menu's Gather action (carries `Digits`).
    Gather,
    /// A status callback of the caller's call.
    Status,
    /// A dialed leg's status (`<Number statusCallback>`), keyed by the parent call.
    DialLeg,
    /// The whisper request for the answering staff, keyed by the parent call.
    Whisper,
    /// The `<Dial action>` request.
    DialAction,
    /// The main (dial) recording is ready.
    Recording,
    /// The voicemail prompt was requested.
    VoicemailRequest,
    /// The voicemail recording is ready.
    Voicemail,
    /// A real-time transcription event.
    Transcription,
    /// A Voice Intelligence result attached to the call.
    Intelligence,
    /// A classifier's verdict on the call's text (booked, reason, evidence).
    Classification,
    /// A person's correction of the verdict.
    Correction,
    /// A staff member placed the call from the browser (ours, not Twilio's: who, from
    /// which tracking number, to whom).
    Placed,
    /// One turn of the AI receptionist (ours): what it heard, with Twilio's confidence,
    /// and what it said and did. `Turn` 0 is the greeting.
    Agent,
    /// The call's recordings, voicemail and transcripts were erased (ours: retention or
    /// "forget this caller"; `ErasedAt`, `Reason`). What they held stays erased however
    /// the other events arrive.
    Erasure,
}

impl EventKind {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incoming => "incoming",
            Self::Gather => "gather",
            Self::Status => "status",
            Self::DialLeg => "dial_leg",
            Self::Whisper => "whisper",
            Self::DialAction => "dial_action",
            Self::Recording => "recording",
            Self::VoicemailRequest => "voicemail_request",
            Self::Voicemail => "voicemail",
            Self::Transcription => "transcription",
            Self::Intelligence => "intelligence",
            Self::Classification => "classification",
            Self::Correction => "correction",
            Self::Placed => "placed",
            Self::Agent => "agent",
            Self::Erasure => "erasure",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Incoming,
            Self::Gather,
            Self::Status,
            Self::DialLeg,
            Self::Whisper,
            Self::DialAction,
            Self::Recording,
            Self::VoicemailRequest,
            Self::Voicemail,
            Self::Transcription,
            Self::Intelligence,
            Self::Classification,
            Self::Correction,
            Self::Placed,
            Self::Agent,
            Self::Erasure,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Events of the caller's own call (not a dialed leg or a recording).
    fn is_parent_call(self) -> bool {
        matches!(
            self,
            Self::Incoming
                | Self::Gather
                | Self::Status
                | Self::DialAction
                | Self::VoicemailRequest
        )
    }
}

/// One stored event: what Twilio sent, and when we received it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Event {
    /// The kind.
    pub kind: EventKind,
    /// The parameters as sent, repeated keys kept.
    pub params: Vec<(String, String)>,
    /// Unix milliseconds.
    pub received_at: i64,
}

impl Event {
    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn num(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.trim().parse().ok())
    }

    /// When the event happened: Twilio's `Timestamp` (RFC 2822) when sent, else when
    /// we received it.
    pub fn time(&self) -> i64 {
        self.get("Timestamp")
            .and_then(parse_rfc2822_ms)
            .unwrap_or(self.received_at)
    }
}

/// Parses Twilio's `Tue, 14 Apr 2026 09:26:42 +0000` to unix milliseconds.
pub fn parse_rfc2822_ms(s: &str) -> Option<i64> {
    let zoned = jiff::fmt::rfc2822::parse(s).ok()?;
    Some(zoned.timestamp().as_millisecond())
}

/// Formats unix milliseconds as Twilio's RFC 2822 `Timestamp`.
pub fn format_rfc2822(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .and_then(|t| jiff::fmt::rfc2822::to_string(&t.to_zoned(jiff::tz::TimeZone::UTC)).ok())
        .unwrap_or_default()
}

/// Whether a call's `Direction` is one staff placed: `outbound-api` (click-to-call),
/// `outbound-dial` (the browser softphone) or Twilio's other outbound kinds.
pub fn is_outbound(direction: Option<&str>) -> bool {
    direction.is_some_and(|d| d.starts_with("outbound"))
}

/// The projection of a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// `From` as sent.
    pub from: Option<String>,
    /// `To` as sent.
    pub to: Option<String>,
    /// `inbound`, `outbound-api`, …
    pub direction: Option<String>,
    /// Furthest lifecycle status.
    pub status: Option<String>,
    /// answered | no-answer | busy | failed | canceled.
    pub dial_status: Option<String>,
    /// answered | voicemail | missed | in-progress: what the portal filters on.
    pub outcome: String,
    /// Talk seconds (0 when missed).
    pub talk_seconds: i64,
    /// Whole call including the menu.
    pub call_seconds: Option<i64>,
    /// "1" new, "2" existing.
    pub menu_choice: Option<String>,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms.
    pub answered_at: Option<i64>,
    /// Unix ms.
    pub ended_at: Option<i64>,
    /// Seconds from start to answer.
    pub ringing_seconds: Option<i64>,
    /// Main recording.
    pub recording_sid: Option<String>,
    /// Twilio's media URL (never handed to clients).
    pub recording_url: Option<String>,
    /// Seconds.
    pub recording_seconds: Option<i64>,
    /// Voicemail recording.
    pub voicemail_sid: Option<String>,
    /// Twilio's media URL (never handed to clients).
    pub voicemail_url: Option<String>,
    /// Seconds.
    pub voicemail_seconds: Option<i64>,
    /// CNAM.
    pub caller_name: Option<String>,
    /// Caller location.
    pub caller_city: Option<String>,
    /// Caller location.
    pub caller_state: Option<String>,
    /// Caller location.
    pub caller_zip: Option<String>,
    /// Caller location.
    pub caller_country: Option<String>,
    /// Decimal text as Twilio sends it.
    pub price: Option<String>,
    /// Currency.
    pub price_unit: Option<String>,
    /// The transcript, `Agent:` / `Customer:` lines.
    pub transcript_text: Option<String>,
    /// Where the transcript came from: `realtime` or `vi` (Voice Intelligence).
    pub transcript_source: Option<String>,
    /// Voice Intelligence transcript of the main recording.
    pub transcript_sid: Option<String>,
    /// Conversation summary from Voice Intelligence.
    pub summary_text: Option<String>,
    /// Why they called (SETUP_APPOINTMENT, …): a correction's, else the classifier's,
    /// else Voice Intelligence's.
    pub call_reason: Option<String>,
    /// Voice Intelligence's classification, when its service has a classify operator.
    pub vi_call_reason: Option<String>,
    /// 1 booked, 0 not, `None` not analysed.
    pub appointment_booked: Option<i64>,
    /// Who decided: `correction`, `llm`, `local` or `vi`.
    pub classification_source: Option<String>,
    /// The phrases that decided, a JSON array.
    pub classification_evidence: Option<String>,
    /// The classifier (and version) that decided.
    pub classifier_version: Option<String>,
    /// Hash of the text the classifier read (a changed text is classified again).
    pub classified_hash: Option<String>,
    /// Who corrected the verdict (a user's email).
    pub corrected_by: Option<String>,
    /// When (unix ms).
    pub corrected_at: Option<i64>,
    /// The staff member who placed an outbound call.
    pub user_id: Option<String>,
    /// The AI receptionist's conversation: a JSON array of [`Turn`]s in turn order.
    pub conversation: Option<String>,
    /// What the receptionist achieved: `ai-resolved`, `ai-booked` or `ai-handoff`.
    pub ai_outcome: Option<String>,
    /// When its recordings, voicemail and transcripts were erased (unix ms).
    pub media_erased_at: Option<i64>,
}

/// One turn of the AI receptionist's conversation, as the call record keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Turn {
    /// 0 for the greeting, then 1, 2, … per answer from the caller.
    pub turn: i64,
    /// What Twilio heard (`SpeechResult`), or the keys pressed; `None`: silence.
    pub heard: Option<String>,
    /// Twilio's confidence in `heard`, 0 to 1.
    pub confidence: Option<f64>,
    /// What the receptionist said.
    pub said: String,
    /// What it did: `greet`, `answer`, `ask`, `book`, `handoff`, `emergency`, `goodbye`.
    pub action: String,
    /// What the caller asked about (`hours`, `prices`, …), when it knew.
    pub topic: Option<String>,
    /// When (unix ms).
    pub at: i64,
}

impl Turn {
    /// The turn an `agent` event holds.
    fn of(e: &Event) -> Option<Self> {
        Some(Self {
            turn: e.num("Turn")?,
            heard: e.get("Heard").map(str::to_owned),
            confidence: e.get("Confidence").and_then(|c| c.trim().parse().ok()),
            said: e.get("Said").unwrap_or_default().to_owned(),
            action: e.get("Action").unwrap_or("answer").to_owned(),
            topic: e.get("Topic").map(str::to_owned),
            at: e.time(),
        })
    }
}

/// The turns of a stored conversation (empty when there is none or it does not parse).
pub fn turns(conversation: Option<&str>) -> Vec<Turn> {
    conversation
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default()
}

fn status_rank(status: &str) -> Option<(u8, u8)> {
    // (lifecycle rank, tie-break among terminals)
    Some(match status {
        "queued" => (0, 0),
        "initiated" => (1, 0),
        "ringing" => (2, 0),
        "in-progress" | "answered" => (3, 0),
        "canceled" => (4, 1),
        "failed" => (4, 2),
        "no-answer" => (4, 3),
        "busy" => (4, 4),
        "completed" => (4, 5),
        _ => return None,
    })
}

fn is_terminal(status: &str) -> bool {
    status_rank(status).is_some_and(|(r, _)| r == 4)
}

/// Among missed outcomes, the one that explains most.
fn missed_rank(status: &str) -> u8 {
    match status {
        "busy" => 4,
        "failed" => 3,
        "no-answer" | "completed" => 2,
        "canceled" => 1,
        _ => 0,
    }
}

fn first<'a>(events: &'a [&Event], name: &str) -> Option<&'a str> {
    events.iter().find_map(|e| e.get(name))
}

fn positive(v: Option<i64>) -> Option<i64> {
    v.filter(|n| *n > 0)
}

/// Folds a call's events into its record. Identical for any order or duplication of
/// the same events.
pub fn fold(events: &[Event]) -> CallRecord {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| {
        (a.time(), a.kind, &a.params, a.received_at).cmp(&(
            b.time(),
            b.kind,
            &b.params,
            b.received_at,
        ))
    });
    sorted.dedup_by(|a, b| a == b);
    let of = |kind: EventKind| sorted.iter().copied().filter(move |e| e.kind == kind);
    let parent: Vec<&Event> = sorted
        .iter()
        .copied()
        .filter(|e| e.kind.is_parent_call())
        .collect();

    let mut r = CallRecord {
        from: first(&parent, "From")
            .or_else(|| first(&parent, "Caller"))
            .map(str::to_owned),
        to: first(&parent, "To")
            .or_else(|| first(&parent, "Called"))
            .map(str::to_owned),
        direction: first(&parent, "Direction").map(str::to_owned),
        ..CallRecord::default()
    };

    // Status: the furthest lifecycle state of the caller's call; terminals never regress.
    r.status = parent
        .iter()
        .filter(|e| e.kind != EventKind::DialAction)
        .filter_map(|e| e.get("CallStatus"))
        .filter_map(|s| status_rank(s).map(|rank| (rank, s)))
        .max()
        .map(|(_, s)| s.to_owned());

    // Recordings: the main one (Dial) and the voicemail are kept apart.
    let best_recording = |kind: EventKind| {
        of(kind)
            .filter(|e| e.get("RecordingStatus").is_none_or(|s| s == "completed"))
            .filter_map(|e| {
                e.get("RecordingSid")
                    .map(|sid| (e.num("RecordingDuration").unwrap_or(0), sid, e))
            })
            .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
            .map(|(secs, sid, e)| {
                (
                    sid.to_owned(),
                    e.get("RecordingUrl").map(str::to_owned),
                    secs,
                )
            })
    };
    if let Some((sid, url, secs)) = best_recording(EventKind::Recording) {
        r.recording_sid = Some(sid);
        r.recording_url = url;
        r.recording_seconds = Some(secs);
    }
    if let Some((sid, url, secs)) = best_recording(EventKind::Voicemail) {
        r.voicemail_sid = Some(sid);
        r.voicemail_url = url;
        r.voicemail_seconds = Some(secs);
    }

    // Answer evidence: any one is enough; a voicemail is never an answer.
    let leg_answered_at = of(EventKind::DialLeg)
        .filter(|e| matches!(e.get("CallStatus"), Some("in-progress" | "answered")))
        .map(Event::time)
        .min();
    let dial_duration = of(EventKind::DialAction)
        .filter_map(|e| positive(e.num("DialCallDuration")))
        .max();
    let action_answered = of(EventKind::DialAction).any(|e| match e.get("DialCallStatus") {
        Some("answered") => true,
        Some("completed") => {
            positive(e.num("DialCallDuration")).is_some() || e.get("DialBridged") == Some("true")
        }
        _ => false,
    });
    let leg_completed_talk = of(EventKind::DialLeg)
        .filter(|e| e.get("CallStatus") == Some("completed"))
        .filter_map(|e| positive(e.num("CallDuration")))
        .max();
    let recording_evidence = r.recording_seconds.is_some_and(|s| s > 0);
    let intelligence_evidence = of(EventKind::Intelligence).next().is_some();
    let answered = action_answered
        || leg_answered_at.is_some()
        || leg_completed_talk.is_some()
        || recording_evidence
        || intelligence_evidence;

    r.answered_at = leg_answered_at.or_else(|| {
        of(EventKind::DialAction)
            .filter_map(|e| positive(e.num("DialCallDuration")).map(|d| e.time() - d * 1000))
            .min()
    });
    r.dial_status = if answered {
        Some("answered".into())
    } else {
        let dial_outcomes = of(EventKind::DialAction)
            .filter_map(|e| e.get("DialCallStatus"))
            .chain(
                of(EventKind::DialLeg)
                    .filter_map(|e| e.get("CallStatus"))
                    .filter(|s| is_terminal(s)),
            );
        let from_dial = dial_outcomes
            .max_by_key(|s| (missed_rank(s), *s))
            .map(|s| match s {
                "completed" => "no-answer",
                other => other,
            });
        from_dial
            .or_else(|| {
                r.status
                    .as_deref()
                    .filter(|s| is_terminal(s))
                    .map(|s| match s {
                        "completed" => "no-answer",
                        other => other,
                    })
            })
            .map(str::to_owned)
    };
    r.talk_seconds = if answered {
        dial_duration
            .or(leg_completed_talk)
            .or(r.recording_seconds.filter(|s| *s > 0))
            .unwrap_or(1)
            .max(1)
    } else {
        0
    };
    r.outcome = if answered {
        "answered"
    } else if r.voicemail_sid.is_some() {
        "voicemail"
    } else if r.dial_status.is_some() {
        "missed"
    } else {
        "in-progress"
    }
    .into();

    // Whole-call length and the end, from the caller's terminal status.
    let terminal: Vec<&Event> = of(EventKind::Status)
        .filter(|e| e.get("CallStatus").is_some_and(is_terminal))
        .collect();
    r.call_seconds = terminal.iter().filter_map(|e| e.num("CallDuration")).max();
    r.ended_at = terminal.iter().map(|e| e.time()).max();

    // Start: the earliest thing we know, including "end minus duration".
    let earliest = sorted.iter().map(|e| e.time()).min().unwrap_or(0);
    let from_duration = terminal
        .iter()
        .filter_map(|e| e.num("CallDuration").map(|d| e.time() - d * 1000))
        .min();
    r.started_at = from_duration.map_or(earliest, |d| d.min(earliest));
    r.ringing_seconds = r.answered_at.map(|a| ((a - r.started_at) / 1000).max(0));

    // Menu: the first valid choice; later events never erase it.
    r.menu_choice = parent
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Gather | EventKind::Incoming))
        .filter_map(|e| e.get("Digits"))
        .find(|d| matches!(*d, "1" | "2"))
        .map(str::to_owned);

    // Caller details and price: the first non-empty value.
    r.caller_name = first(&parent, "CallerName").map(str::to_owned);
    r.caller_city = first(&parent, "FromCity")
        .or_else(|| first(&parent, "CallerCity"))
        .map(str::to_owned);
    r.caller_state = first(&parent, "FromState")
        .or_else(|| first(&parent, "CallerState"))
        .map(str::to_owned);
    r.caller_zip = first(&parent, "FromZip")
        .or_else(|| first(&parent, "CallerZip"))
        .map(str::to_owned);
    r.caller_country = first(&parent, "FromCountry")
        .or_else(|| first(&parent, "CallerCountry"))
        .map(str::to_owned);
    r.price = first(&parent, "Price").map(str::to_owned);
    r.price_unit = first(&parent, "PriceUnit").map(str::to_owned);

    // Real-time transcript: final content events in sequence order.
    let mut lines: BTreeMap<(i64, String), String> = BTreeMap::new();
    for e in of(EventKind::Transcription) {
        if e.get("TranscriptionEvent") != Some("transcription-content")
            || e.get("Final") == Some("false")
        {
            continue;
        }
        let Some(text) = e
            .get("TranscriptionData")
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .and_then(|v| {
                v.get("transcript")
                    .and_then(|t| t.as_str())
                    .map(str::to_owned)
            })
        else {
            continue;
        };
        // The inbound track is the audio of the call's own party: the customer on an
        // inbound call, the staff member placing an outbound one.
        let outbound = is_outbound(r.direction.as_deref());
        let speaker = match (e.get("Track"), outbound) {
            (Some("inbound_track"), false) | (Some("outbound_track"), true) => "Customer",
            (Some("outbound_track"), false) | (Some("inbound_track"), true) => "Agent",
            _ => "Speaker",
        };
        let seq = e.num("SequenceId").unwrap_or(i64::MAX);
        lines
            .entry((seq, format!("{speaker}: {text}")))
            .or_insert_with(|| format!("{speaker}: {text}"));
    }
    if !lines.is_empty() {
        r.transcript_text = Some(lines.into_values().collect::<Vec<_>>().join("\n"));
        r.transcript_source = Some("realtime".to_owned());
    }

    // Voice Intelligence: the first non-empty value of each. Its transcript stands in
    // when there was no real-time one.
    let intelligence: Vec<&Event> = of(EventKind::Intelligence).collect();
    r.transcript_sid = first(&intelligence, "TranscriptSid").map(str::to_owned);
    r.summary_text = first(&intelligence, "SummaryText").map(str::to_owned);
    r.vi_call_reason = first(&intelligence, "CallReason").map(str::to_owned);
    if r.transcript_text.is_none()
        && let Some(text) = first(&intelligence, "TranscriptText")
    {
        r.transcript_text = Some(text.to_owned());
        r.transcript_source = Some("vi".to_owned());
    }

    // The verdict: the latest correction, else the latest classification (by the time
    // each carries, then the canonical order, so arrival order never matters), else
    // Voice Intelligence's label alone.
    let latest = |kind: EventKind, at: &str| {
        of(kind)
            .filter(|e| e.get("CallReason").is_some())
            .max_by_key(|e| e.num(at).unwrap_or(0))
    };
    let booked = |e: &Event| match e.get("AppointmentBooked") {
        Some("true") => Some(1),
        Some("false") => Some(0),
        _ => None,
    };
    r.call_reason = r.vi_call_reason.clone();
    if r.call_reason.is_some() {
        r.classification_source = Some("vi".to_owned());
    }
    if let Some(c) = latest(EventKind::Classification, "ClassifiedAt") {
        r.appointment_booked = booked(c);
        r.call_reason = c.get("CallReason").map(str::to_owned);
        r.classification_source = c.get("Source").map(str::to_owned);
        r.classification_evidence = c.get("Evidence").map(str::to_owned);
        r.classifier_version = c.get("ClassifierVersion").map(str::to_owned);
        r.classified_hash = c.get("TextHash").map(str::to_owned);
    }
    if let Some(c) = latest(EventKind::Correction, "CorrectedAt") {
        r.appointment_booked = booked(c);
        r.call_reason = c.get("CallReason").map(str::to_owned);
        r.classification_source = Some("correction".to_owned());
        r.corrected_by = c.get("CorrectedBy").map(str::to_owned);
        r.corrected_at = c.num("CorrectedAt");
    }
    fold_conversation(
        &mut r,
        of(EventKind::Agent),
        of(EventKind::DialAction).next().is_none() && of(EventKind::DialLeg).next().is_none(),
    );
    // A call placed from the browser reaches Twilio as the browser's call to our TwiML
    // App (`From` client:…, `Direction` inbound); what it is, is what we recorded.
    if let Some(p) = of(EventKind::Placed).next() {
        r.from = p.get("From").map(str::to_owned);
        r.to = p.get("To").map(str::to_owned);
        r.direction = p.get("Direction").map(str::to_owned);
        r.user_id = p.get("UserId").map(str::to_owned);
    }
    if let Some(at) = of(EventKind::Erasure)
        .filter_map(|e| e.num("ErasedAt"))
        .min()
    {
        erase(&mut r, at);
    }
    r
}

/// Keys of event parameters that carry what a call said or where its audio is:
/// emptied in the stored events when the call's media is erased.
pub const CONTENT_PARAMS: &[&str] = &[
    "RecordingUrl",
    "TranscriptionData",
    "TranscriptionText",
    "TranscriptText",
    "SummaryText",
    "Evidence",
    "Heard",
    "Said",
];

/// What an erased call keeps: who called whom, when, how it went, what it was about
/// (for the stats); never what was said or where the audio was.
fn erase(r: &mut CallRecord, at: i64) {
    r.media_erased_at = Some(at);
    r.recording_url = None;
    r.voicemail_url = None;
    r.transcript_text = None;
    r.summary_text = None;
    r.classification_evidence = None;
    r.conversation = None;
}

/// The AI receptionist's turns: one per turn number (the first in canonical order; the
/// writer stores one anyway), in turn order. A call it finished without a person is
/// `ai-booked` or `ai-resolved` — its outcome too, never `missed`; one it put through
/// is `ai-handoff` and keeps the Dial's outcome.
fn fold_conversation<'a>(
    r: &mut CallRecord,
    events: impl Iterator<Item = &'a Event>,
    no_dial: bool,
) {
    let mut turns: BTreeMap<i64, Turn> = BTreeMap::new();
    for turn in events.filter_map(Turn::of) {
        turns.entry(turn.turn).or_insert(turn);
    }
    if turns.is_empty() {
        return;
    }
    let acted = |actions: &[&str]| turns.values().any(|t| actions.contains(&t.action.as_str()));
    let booked = acted(&["book"]);
    let handed_off = acted(&["handoff", "emergency"]);
    let talked = turns.keys().any(|t| *t > 0);
    r.ai_outcome = if booked {
        Some("ai-booked")
    } else if handed_off {
        Some("ai-handoff")
    } else if talked {
        Some("ai-resolved")
    } else {
        None
    }
    .map(str::to_owned);
    if no_dial
        && !handed_off
        && r.voicemail_sid.is_none()
        && let Some(outcome) = r.ai_outcome.as_deref().filter(|_| talked)
    {
        r.outcome = outcome.to_owned();
        r.dial_status = None;
    }
    if r.transcript_text.is_none() {
        let mut lines = Vec::new();
        for t in turns.values() {
            if let Some(heard) = &t.heard {
                lines.push(format!("Customer: {heard}"));
            }
            if !t.said.is_empty() {
                lines.push(format!("Agent: {}", t.said));
            }
        }
        r.transcript_text = Some(lines.join("\n"));
        r.transcript_source = Some("agent".to_owned());
    }
    let list: Vec<&Turn> = turns.values().collect();
    r.conversation = serde_json::to_string(&list).ok();
}

#[cfg(test)]
mod tests;
