//! The caller: plays a scenario against a number's VoiceUrl the way Twilio would.
//!
//! Requests whose answer is TwiML (the VoiceUrl, Gather and Dial actions, the
//! whisper, Redirect, Record's action) are made in line, in order. Callbacks that
//! only report (call status, leg status, recordings, real-time transcription) follow
//! the scenario's [`Delivery`]: in Twilio's order, duplicated, shuffled, or late.
//! Time is simulated: a 45-second conversation takes no 45 seconds to play, and every
//! `Timestamp` is on the simulated clock.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use twilio::signature::{RequestValidator, SIGNATURE_HEADER};

use crate::Simulator;
use crate::state::{
    CallRecord, MessageRecord, RecordingRecord, TranscriptRecord, now_ms, rfc2822, sid,
};
use crate::twiml::{self, Node};

/// Something went wrong before the call could start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimError {
    /// No account owns the number dialled.
    #[error("no account owns {0}")]
    UnknownNumber(String),
    /// The number has no VoiceUrl (or SmsUrl).
    #[error("{0} has no {1} configured")]
    NoWebhook(String, &'static str),
    /// No such account.
    #[error("no account {0}")]
    UnknownAccount(String),
}

/// What the staff phone does when dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Staff {
    /// Picks up after this many seconds of ringing (no answer if past the Dial timeout).
    Answers {
        /// Seconds of ringing.
        after_secs: u32,
    },
    /// Busy signal.
    Busy,
    /// Rings until the Dial timeout.
    NoAnswer,
    /// The call to staff fails (bad number, carrier error).
    Fails,
}

/// What the caller does at each Gather, in order: presses keys, speaks (to a Gather
/// whose `input` includes `speech`), or stays silent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Press {
    /// These digits.
    Digits(String),
    /// These words, heard with this confidence (0 to 1), sent as `SpeechResult` and
    /// `Confidence`. To a keys-only Gather they are silence.
    Speech {
        /// What Twilio's recogniser heard.
        text: String,
        /// How sure it was.
        confidence: f64,
    },
    /// Nothing: the Gather times out.
    Nothing,
}

impl Press {
    /// The caller says `text`, clearly heard.
    pub fn says(text: &str) -> Self {
        Self::Speech {
            text: text.to_owned(),
            confidence: 0.92,
        }
    }
}

/// How report-only callbacks are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum Delivery {
    /// As Twilio does: each when it happens.
    InOrder,
    /// Each twice, when it happens.
    Duplicated,
    /// All after the call, in a random order from `seed`.
    Shuffled {
        /// Seed of the shuffle.
        seed: u64,
    },
    /// All after the call, `ms` apart.
    Delayed {
        /// Milliseconds between callbacks.
        ms: u64,
    },
    /// All after the call, at once, each twice: Twilio's callbacks for one call travel
    /// on separate connections and may arrive together, its retries beside them.
    Concurrent,
}

/// Who says a line of the scripted conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    /// The person calling.
    Caller,
    /// The staff who answered.
    Staff,
}

/// One call, from the caller's side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scenario {
    /// Caller id (E.164, `anonymous`, `client:…`).
    pub from: String,
    /// The tracking number dialled.
    pub to: String,
    /// CNAM name, when caller-id lookup would find one.
    pub caller_name: Option<String>,
    /// City, state, zip and country of the caller.
    pub caller_location: Option<(String, String, String, String)>,
    /// One entry per Gather (a menu, a turn of the receptionist), in order; missing
    /// entries are `Nothing`.
    pub presses: Vec<Press>,
    /// Hang up while the first menu plays.
    pub hang_up_in_menu: bool,
    /// The staff phone.
    pub staff: Staff,
    /// Seconds of conversation once staff answers.
    pub talk_secs: u32,
    /// Seconds of voicemail left at the beep; `None` hangs up instead.
    pub voicemail_secs: Option<u32>,
    /// What the voicemail says.
    pub voicemail_text: Option<String>,
    /// The conversation, for transcription and summaries.
    pub script: Vec<(Speaker, String)>,
    /// Delivery of report-only callbacks.
    pub delivery: Delivery,
    /// When the call starts on the simulated clock (unix ms; now if `None`).
    pub start_ms: Option<i64>,
}

impl Scenario {
    /// A caller who presses nothing and talks for 30 s with staff who answer after 5 s.
    pub fn new(from: &str, to: &str) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            caller_name: None,
            caller_location: None,
            presses: Vec::new(),
            hang_up_in_menu: false,
            staff: Staff::Answers { after_secs: 5 },
            talk_secs: 30,
            voicemail_secs: Some(15),
            voicemail_text: None,
            script: Vec::new(),
            delivery: Delivery::InOrder,
            start_ms: None,
        }
    }
}

/// Where a call's first request goes, and with what.
struct Leg {
    account: String,
    token: String,
    voice_url: String,
    voice_method: String,
    status_callback: Option<String>,
    extra: Vec<(String, String)>,
}

/// A request the simulator sent, and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sent {
    /// The URL.
    pub url: String,
    /// What it reported (`CallStatus`, `RecordingStatus`, …) or `twiml` for TwiML fetches.
    pub what: String,
    /// HTTP status, or 0 when the request failed.
    pub status: u16,
}

/// What happened on a call.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallReport {
    /// The caller's call.
    pub call_sid: String,
    /// Everything the caller heard (`Say` texts), in order.
    pub heard: Vec<String>,
    /// Everything the caller said to a speech Gather, in order.
    pub said: Vec<String>,
    /// Numbers dialled.
    pub dialed: Vec<String>,
    /// What the answering staff heard (the whisper).
    pub staff_heard: Vec<String>,
    /// The call's final status.
    pub final_status: String,
    /// The dialled leg's outcome, when there was a Dial.
    pub dial_call_status: Option<String>,
    /// The main recording.
    pub recording_sid: Option<String>,
    /// The voicemail.
    pub voicemail_sid: Option<String>,
    /// Every request, in the order sent.
    pub requests: Vec<Sent>,
    /// Problems Twilio would have reported (application errors, failed callbacks).
    pub errors: Vec<String>,
}

struct Callback {
    url: String,
    params: Vec<(String, String)>,
    what: String,
}

/// At most this many TwiML documents per call, like Twilio's loop protection.
const MAX_DOCUMENTS: usize = 40;

struct Run<'a> {
    sim: &'a Simulator,
    token: String,
    base: Vec<(String, String)>,
    call_sid: String,
    status: String,
    clock: i64,
    started: i64,
    scenario: &'a Scenario,
    presses: std::collections::VecDeque<Press>,
    gathers_seen: usize,
    deferred: Vec<Callback>,
    report: CallReport,
    transcription: Option<(String, String)>,
    transcription_seq: u64,
    hung_up: bool,
    documents: usize,
}

/// A leg a `<Dial>` placed, as its requests name it.
struct DialedLeg<'a> {
    account: &'a str,
    sid: &'a str,
    parent: &'a str,
    from: &'a str,
    to: &'a str,
}

impl DialedLeg<'_> {
    /// The parameters of the leg's status callback (and its whisper request).
    fn params(
        &self,
        status: &str,
        clock: i64,
        seq: u64,
        extra: &[(&str, String)],
    ) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = [
            ("AccountSid", self.account),
            ("CallSid", self.sid),
            ("ParentCallSid", self.parent),
            ("From", self.from),
            ("To", self.to),
            ("Direction", "outbound-dial"),
            ("ApiVersion", "2010-04-01"),
            ("CallStatus", status),
            ("CallbackSource", "call-progress-events"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        p.push(("Timestamp".into(), rfc2822(clock)));
        p.push(("SequenceNumber".into(), seq.to_string()));
        p.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        p
    }
}

/// Whom a `<Number>` or `<Client>` rings: the number, or `client:{identity}`.
fn party_of(target: &Node) -> String {
    if target.name == "Client" {
        format!("client:{}", target.text.trim())
    } else {
        target.text.trim().to_owned()
    }
}

fn words_ms(text: &str) -> i64 {
    (text.split_whitespace().count() as i64 * 350).max(500)
}

fn what_of(params: &[(String, String)]) -> String {
    [
        "CallStatus",
        "RecordingStatus",
        "TranscriptionEvent",
        "MessageStatus",
    ]
    .iter()
    .find_map(|k| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    .unwrap_or_default()
}

impl<'a> Run<'a> {
    fn new(
        sim: &'a Simulator,
        token: String,
        base: Vec<(String, String)>,
        call_sid: &str,
        started: i64,
        scenario: &'a Scenario,
    ) -> Self {
        Run {
            sim,
            token,
            base,
            call_sid: call_sid.to_owned(),
            status: "ringing".into(),
            clock: started,
            started,
            scenario,
            presses: scenario.presses.iter().cloned().collect(),
            gathers_seen: 0,
            deferred: Vec::new(),
            report: CallReport {
                call_sid: call_sid.to_owned(),
                ..CallReport::default()
            },
            transcription: None,
            transcription_seq: 0,
            hung_up: false,
            documents: 0,
        }
    }

    fn params(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut p = self.base.clone();
        p.push(("CallStatus".into(), self.status.clone()));
        p.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        p
    }

    /// A request whose answer is TwiML.
    async fn fetch(
        &mut self,
        url: &str,
        method: &str,
        params: Vec<(String, String)>,
    ) -> Option<(String, Node)> {
        self.documents += 1;
        if self.documents > MAX_DOCUMENTS {
            self.report
                .errors
                .push("too many TwiML documents (loop?)".into());
            return None;
        }
        let (status, body) = self
            .sim
            .signed_request(&self.token, url, method, &params)
            .await;
        self.report.requests.push(Sent {
            url: url.to_owned(),
            what: "twiml".into(),
            status,
        });
        if !(200..300).contains(&status) {
            self.report.errors.push(format!(
                "{url} answered {status}: an application error has occurred"
            ));
            return None;
        }
        match twiml::parse(&body) {
            Ok(doc) => Some((url.to_owned(), doc)),
            Err(e) => {
                self.report.errors.push(format!("{url}: {e}"));
                None
            }
        }
    }

    /// A report-only callback, delivered per the scenario.
    async fn callback(&mut self, url: &str, params: Vec<(String, String)>) {
        let cb = Callback {
            url: url.to_owned(),
            what: what_of(&params),
            params,
        };
        match self.scenario.delivery {
            Delivery::InOrder => self.send(&cb).await,
            Delivery::Duplicated => {
                self.send(&cb).await;
                self.send(&cb).await;
            }
            Delivery::Shuffled { .. } | Delivery::Delayed { .. } | Delivery::Concurrent => {
                self.deferred.push(cb)
            }
        }
    }

    async fn send(&mut self, cb: &Callback) {
        let (status, _) = self
            .sim
            .signed_request(&self.token, &cb.url, "POST", &cb.params)
            .await;
        self.record_sent(cb, status);
    }

    /// Notes a delivered callback and its answer in the report.
    fn record_sent(&mut self, cb: &Callback, status: u16) {
        if !(200..300).contains(&status) {
            self.report.errors.push(format!(
                "callback {} ({}) answered {status}",
                cb.url, cb.what
            ));
        }
        self.report.requests.push(Sent {
            url: cb.url.clone(),
            what: cb.what.clone(),
            status,
        });
    }

    async fn flush(&mut self) {
        let mut pending = std::mem::take(&mut self.deferred);
        match self.scenario.delivery {
            Delivery::Shuffled { seed } => {
                let mut s = seed.max(1);
                for i in (1..pending.len()).rev() {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    pending.swap(i, (s % (i as u64 + 1)) as usize);
                }
                for cb in &pending {
                    self.send(cb).await;
                }
            }
            Delivery::Delayed { ms } => {
                for cb in &pending {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    self.send(cb).await;
                }
            }
            Delivery::Concurrent => {
                let (sim, token) = (&self.sim, self.token.as_str());
                let sends = pending.iter().chain(&pending).map(|cb| async move {
                    let (status, _) = sim.signed_request(token, &cb.url, "POST", &cb.params).await;
                    (cb, status)
                });
                let answered = futures_util::future::join_all(sends).await;
                for (cb, status) in answered {
                    self.record_sent(cb, status);
                }
            }
            Delivery::InOrder | Delivery::Duplicated => {}
        }
    }

    fn resolve(&self, current: &str, target: &str) -> String {
        url::Url::parse(current)
            .and_then(|u| u.join(target))
            .map(|u| u.to_string())
            .unwrap_or_else(|_| target.to_owned())
    }

    async fn transcription_event(&mut self, event: &str, extra: Vec<(&str, String)>) {
        let Some((url, tsid)) = self.transcription.clone() else {
            return;
        };
        self.transcription_seq += 1;
        let mut p = vec![
            ("AccountSid".to_owned(), self.base_value("AccountSid")),
            ("CallSid".to_owned(), self.call_sid.clone()),
            ("TranscriptionSid".to_owned(), tsid),
            ("TranscriptionEvent".to_owned(), event.to_owned()),
            ("SequenceId".to_owned(), self.transcription_seq.to_string()),
            ("Timestamp".to_owned(), rfc2822(self.clock)),
        ];
        p.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        self.callback(&url, p).await;
    }

    fn base_value(&self, name: &str) -> String {
        self.base
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Follows documents until the call ends.
    async fn follow(&mut self, mut url: String, mut doc: Node) {
        'documents: loop {
            for verb in doc.children.clone() {
                if self.hung_up {
                    return;
                }
                match verb.name.as_str() {
                    "Say" => {
                        self.report.heard.push(verb.text.clone());
                        self.clock += words_ms(&verb.text);
                        self.status = "in-progress".into();
                    }
                    "Play" => self.clock += 3_000,
                    "Pause" => self.clock += i64::from(verb.num("length").unwrap_or(1)) * 1000,
                    "Gather" => {
                        self.status = "in-progress".into();
                        for child in &verb.children {
                            if child.name == "Say" {
                                self.report.heard.push(child.text.clone());
                                self.clock += words_ms(&child.text);
                            }
                        }
                        self.gathers_seen += 1;
                        if self.scenario.hang_up_in_menu {
                            self.hung_up = true;
                            return;
                        }
                        let action = self.resolve(&url, verb.attr("action").unwrap_or(&url));
                        let method = verb.attr("method").unwrap_or("POST").to_owned();
                        let listens = verb.attr("input").unwrap_or("dtmf").contains("speech");
                        let press = match self.presses.pop_front().unwrap_or(Press::Nothing) {
                            Press::Speech { .. } if !listens => Press::Nothing,
                            p => p,
                        };
                        // What the Gather posts to its action, if anything.
                        let posted = match press {
                            Press::Speech { text, confidence } => {
                                self.clock += words_ms(&text) + 800;
                                self.report.said.push(text.clone());
                                Some(self.params(&[
                                    ("SpeechResult", text),
                                    ("Confidence", format!("{confidence:.6}")),
                                ]))
                            }
                            Press::Digits(d) => {
                                self.clock += 1_500;
                                Some(
                                    self.params(&[("Digits", d), ("FinishedOnKey", String::new())]),
                                )
                            }
                            Press::Nothing => {
                                self.clock += i64::from(verb.num("timeout").unwrap_or(5)) * 1000;
                                (verb.attr("actionOnEmptyResult") == Some("true"))
                                    .then(|| self.params(&[]))
                            }
                        };
                        // No input and no actionOnEmptyResult: on to the next verb.
                        if let Some(params) = posted {
                            match self.fetch(&action, &method, params).await {
                                Some((u, d)) => {
                                    url = u;
                                    doc = d;
                                    continue 'documents;
                                }
                                None => return,
                            }
                        }
                    }
                    "Redirect" => {
                        let target = self.resolve(&url, &verb.text);
                        let method = verb.attr("method").unwrap_or("POST").to_owned();
                        let params = self.params(&[]);
                        match self.fetch(&target, &method, params).await {
                            Some((u, d)) => {
                                url = u;
                                doc = d;
                                continue 'documents;
                            }
                            None => return,
                        }
                    }
                    "Dial" => {
                        if let Some((u, d)) = self.dial(&url, &verb).await {
                            url = u;
                            doc = d;
                            continue 'documents;
                        }
                        if self.hung_up {
                            return;
                        }
                    }
                    "Record" => {
                        if let Some((u, d)) = self.record(&url, &verb).await {
                            url = u;
                            doc = d;
                            continue 'documents;
                        }
                        if self.hung_up {
                            return;
                        }
                    }
                    "Start" => {
                        for child in &verb.children {
                            if child.name == "Transcription"
                                && let Some(cb) = child.attr("statusCallbackUrl")
                            {
                                let cb = self.resolve(&url, cb);
                                self.transcription = Some((cb, sid("GT")));
                                self.transcription_event("transcription-started", vec![])
                                    .await;
                            }
                        }
                    }
                    "Hangup" => {
                        self.hung_up = true;
                        return;
                    }
                    "Reject" => {
                        self.status = if verb.attr("reason") == Some("busy") {
                            "busy"
                        } else {
                            "no-answer"
                        }
                        .into();
                        self.hung_up = true;
                        return;
                    }
                    other => self
                        .report
                        .errors
                        .push(format!("unsupported verb <{other}>")),
                }
            }
            // The end of a document ends the call.
            self.hung_up = true;
            return;
        }
    }

    async fn dial(&mut self, url: &str, verb: &Node) -> Option<(String, Node)> {
        self.status = "in-progress".into();
        let timeout = verb.num("timeout").unwrap_or(30);
        let caller_id = verb
            .attr("callerId")
            .map(str::to_owned)
            .unwrap_or_else(|| self.base_value("To"));
        // Every Number and Client rings at once; the first to answer takes the call.
        let mut targets: Vec<Node> = verb
            .children
            .iter()
            .filter(|c| matches!(c.name.as_str(), "Number" | "Client"))
            .cloned()
            .collect();
        if targets.is_empty() {
            targets.push(Node {
                name: "Number".into(),
                text: verb.text.clone(),
                ..Node::default()
            });
        }
        let answers_after = |run: &Self, t: &Node| match run.behaviour_of(&party_of(t)) {
            Staff::Answers { after_secs } if after_secs < timeout => Some(after_secs),
            _ => None,
        };
        let winner = targets
            .iter()
            .enumerate()
            .filter_map(|(i, t)| answers_after(self, t).map(|after| (after, i)))
            .min()
            .map_or(0, |(_, i)| i);
        let target = targets.remove(winner);
        let someone_answers = answers_after(self, &target).is_some();
        for other in &targets {
            self.ring_other_leg(url, other, &caller_id, someone_answers)
                .await;
        }
        let to = party_of(&target);
        self.report.dialed.push(to.clone());
        let child_sid = sid("CA");
        let leg_cb = target.attr("statusCallback").map(|u| self.resolve(url, u));
        let leg_events: Vec<String> = target
            .attr("statusCallbackEvent")
            .map(|e| e.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_else(|| vec!["completed".into()]);
        let leg_started = self.clock;
        let account = self.base_value("AccountSid");
        let parent_sid = self.call_sid.clone();
        let this_leg = DialedLeg {
            account: &account,
            sid: &child_sid,
            parent: &parent_sid,
            from: &caller_id,
            to: &to,
        };
        let leg_params = |status: &str, clock: i64, seq: u64, extra: &[(&str, String)]| {
            this_leg.params(status, clock, seq, extra)
        };
        let mut seq = 0u64;
        let mut leg = |run: &mut Self, event: &str, status: &str, extra: Vec<(&str, String)>| {
            let wanted = leg_events.iter().any(|e| e == event);
            let params = leg_params(status, run.clock, seq, &extra);
            seq += 1;
            (wanted, leg_cb.clone(), params)
        };
        for (event, status) in [("initiated", "initiated"), ("ringing", "ringing")] {
            if let (true, Some(cb), p) = leg(self, event, status, vec![]) {
                self.callback(&cb, p).await;
            }
        }
        let (dial_status, talk, answered) = match self.behaviour_of(&to) {
            Staff::Answers { after_secs } if after_secs < timeout => {
                self.clock += i64::from(after_secs) * 1000;
                (
                    String::from("completed"),
                    self.scenario.talk_secs.max(1),
                    true,
                )
            }
            Staff::Answers { .. } | Staff::NoAnswer => {
                self.clock += i64::from(timeout) * 1000;
                ("no-answer".into(), 0, false)
            }
            Staff::Busy => {
                self.clock += 3_000;
                ("busy".into(), 0, false)
            }
            Staff::Fails => {
                self.clock += 1_000;
                ("failed".into(), 0, false)
            }
        };
        let mut recording: Option<RecordingRecord> = None;
        if answered {
            if let (true, Some(cb), p) = leg(self, "answered", "in-progress", vec![]) {
                self.callback(&cb, p).await;
            }
            if let Some(whisper) = target.attr("url") {
                let whisper = self.resolve(url, whisper);
                let method = target.attr("method").unwrap_or("POST").to_owned();
                let params = leg_params("in-progress", self.clock, 0, &[]);
                let (status, body) = self
                    .sim
                    .signed_request(&self.token, &whisper, &method, &params)
                    .await;
                self.report.requests.push(Sent {
                    url: whisper.clone(),
                    what: "twiml".into(),
                    status,
                });
                match twiml::parse(&body) {
                    Ok(doc) if (200..300).contains(&status) => {
                        for v in doc.children.iter().filter(|v| v.name == "Say") {
                            self.report.staff_heard.push(v.text.clone());
                            self.clock += words_ms(&v.text);
                        }
                    }
                    _ => self
                        .report
                        .errors
                        .push(format!("whisper {whisper} answered {status}")),
                }
            }
            let answer_clock = self.clock;
            // The conversation, with real-time transcription if started.
            let script = self.scenario.script.clone();
            let per_line = if script.is_empty() {
                0
            } else {
                i64::from(talk) * 1000 / script.len() as i64
            };
            for (speaker, line) in &script {
                self.clock += per_line;
                let track = match speaker {
                    Speaker::Caller => "inbound_track",
                    Speaker::Staff => "outbound_track",
                };
                let data = serde_json::json!({"transcript": line, "confidence": 0.92}).to_string();
                self.transcription_event(
                    "transcription-content",
                    vec![
                        ("TranscriptionData", data),
                        ("Track", track.into()),
                        ("Final", "true".into()),
                        ("LanguageCode", "en-US".into()),
                    ],
                )
                .await;
            }
            self.clock = answer_clock + i64::from(talk) * 1000;
            if verb
                .attr("record")
                .is_some_and(|r| r.starts_with("record-from"))
            {
                recording = Some(RecordingRecord {
                    sid: sid("RE"),
                    call_sid: self.call_sid.clone(),
                    duration: talk,
                    source: "DialVerb".into(),
                    channels: if verb.attr("record").is_some_and(|r| r.ends_with("dual")) {
                        2
                    } else {
                        1
                    },
                    date_created: self.clock,
                    script: script
                        .iter()
                        .map(|(s, t)| (format!("{s:?}").to_lowercase(), t.clone()))
                        .collect(),
                });
            }
        }
        let leg_duration = if answered { talk } else { 0 };
        let (event, status) = if answered {
            ("completed", "completed")
        } else {
            ("completed", dial_status.as_str())
        };
        if let (true, Some(cb), p) = leg(
            self,
            event,
            status,
            vec![
                ("CallDuration", leg_duration.to_string()),
                ("Duration", leg_duration.div_ceil(60).to_string()),
            ],
        ) {
            self.callback(&cb, p).await;
        }
        self.sim.store_call(
            &account,
            CallRecord {
                sid: child_sid.clone(),
                parent_call_sid: Some(self.call_sid.clone()),
                from: caller_id.clone(),
                to: to.clone(),
                status: status.to_owned(),
                direction: "outbound-dial".into(),
                duration: Some(leg_duration),
                start_time: leg_started,
                end_time: Some(self.clock),
            },
        );
        self.report.dial_call_status = Some(dial_status.clone());
        if let Some(rec) = recording {
            self.report.recording_sid = Some(rec.sid.clone());
            let rec_url = format!(
                "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{}",
                rec.sid
            );
            self.sim.store_recording(&account, rec.clone());
            if let Some(cb) = verb.attr("recordingStatusCallback") {
                let cb = self.resolve(url, cb);
                let p = vec![
                    ("AccountSid".to_owned(), account.clone()),
                    ("CallSid".to_owned(), self.call_sid.clone()),
                    ("RecordingSid".to_owned(), rec.sid.clone()),
                    ("RecordingUrl".to_owned(), rec_url),
                    ("RecordingStatus".to_owned(), "completed".to_owned()),
                    ("RecordingDuration".to_owned(), rec.duration.to_string()),
                    ("RecordingChannels".to_owned(), rec.channels.to_string()),
                    ("RecordingSource".to_owned(), "DialVerb".to_owned()),
                    (
                        "RecordingStartTime".to_owned(),
                        rfc2822(self.clock - i64::from(rec.duration) * 1000),
                    ),
                    ("RecordingTrack".to_owned(), "both".to_owned()),
                ];
                self.callback(&cb, p).await;
            }
        }
        if answered {
            // The caller hangs up when the conversation ends.
            self.hung_up = true;
        }
        let action = verb.attr("action").map(|a| self.resolve(url, a))?;
        let method = verb.attr("method").unwrap_or("POST").to_owned();
        let params = self.params(&[
            ("DialCallStatus", dial_status),
            ("DialCallSid", child_sid),
            ("DialCallDuration", leg_duration.to_string()),
            ("DialBridged", answered.to_string()),
        ]);
        let next = self.fetch(&action, &method, params).await;
        if self.hung_up { None } else { next }
    }

    /// How a dialled party behaves: as set with [`Simulator::set_phone`], else a browser
    /// (`client:…`) that is not registered and never answers, else the scenario's staff.
    fn behaviour_of(&self, party: &str) -> Staff {
        self.sim
            .phone(party)
            .unwrap_or(if party.starts_with("client:") {
                Staff::NoAnswer
            } else {
                self.scenario.staff
            })
    }

    /// A leg of a simultaneous Dial that did not take the call: it rang, and was
    /// cancelled when another answered (else it ended its own way).
    async fn ring_other_leg(&mut self, url: &str, target: &Node, caller_id: &str, taken: bool) {
        let to = party_of(target);
        self.report.dialed.push(to.clone());
        let status = match (taken, self.behaviour_of(&to)) {
            (true, _) => "canceled",
            (false, Staff::Busy) => "busy",
            (false, Staff::Fails) => "failed",
            (false, _) => "no-answer",
        };
        let child_sid = sid("CA");
        let account = self.base_value("AccountSid");
        let events: Vec<String> = target
            .attr("statusCallbackEvent")
            .map(|e| e.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_else(|| vec!["completed".into()]);
        if let Some(cb) = target.attr("statusCallback").map(|u| self.resolve(url, u)) {
            for (seq, (event, leg_status)) in [
                ("initiated", "initiated"),
                ("ringing", "ringing"),
                ("completed", status),
            ]
            .into_iter()
            .enumerate()
            {
                if !events.iter().any(|e| e == event) {
                    continue;
                }
                let p = DialedLeg {
                    account: &account,
                    sid: &child_sid,
                    parent: &self.call_sid,
                    from: caller_id,
                    to: &to,
                }
                .params(
                    leg_status,
                    self.clock,
                    seq as u64,
                    &[("CallDuration", "0".into())],
                );
                self.callback(&cb, p).await;
            }
        }
        self.sim.store_call(
            &account,
            CallRecord {
                sid: child_sid,
                parent_call_sid: Some(self.call_sid.clone()),
                from: caller_id.to_owned(),
                to,
                status: status.to_owned(),
                direction: "outbound-dial".into(),
                duration: Some(0),
                start_time: self.clock,
                end_time: Some(self.clock),
            },
        );
    }

    async fn record(&mut self, url: &str, verb: &Node) -> Option<(String, Node)> {
        self.status = "in-progress".into();
        let Some(secs) = self.scenario.voicemail_secs.filter(|s| *s > 0) else {
            // Hangs up at the beep.
            self.hung_up = true;
            return None;
        };
        let secs = secs.min(verb.num("maxLength").unwrap_or(3600));
        self.clock += i64::from(secs) * 1000 + 1000;
        let account = self.base_value("AccountSid");
        let rec = RecordingRecord {
            sid: sid("RE"),
            call_sid: self.call_sid.clone(),
            duration: secs,
            source: "RecordVerb".into(),
            channels: 1,
            date_created: self.clock,
            script: self
                .scenario
                .voicemail_text
                .iter()
                .map(|t| ("caller".to_owned(), t.clone()))
                .collect(),
        };
        let rec_url = format!(
            "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{}",
            rec.sid
        );
        self.report.voicemail_sid = Some(rec.sid.clone());
        self.sim.store_recording(&account, rec.clone());
        // The caller hangs up after the message; Twilio still requests the action.
        self.hung_up = true;
        if let Some(cb) = verb.attr("recordingStatusCallback") {
            let cb = self.resolve(url, cb);
            let p = vec![
                ("AccountSid".to_owned(), account.clone()),
                ("CallSid".to_owned(), self.call_sid.clone()),
                ("RecordingSid".to_owned(), rec.sid.clone()),
                ("RecordingUrl".to_owned(), rec_url.clone()),
                ("RecordingStatus".to_owned(), "completed".to_owned()),
                ("RecordingDuration".to_owned(), secs.to_string()),
                ("RecordingChannels".to_owned(), "1".to_owned()),
                ("RecordingSource".to_owned(), "RecordVerb".to_owned()),
            ];
            self.callback(&cb, p).await;
        }
        if let Some(action) = verb.attr("action").map(|a| self.resolve(url, a)) {
            let method = verb.attr("method").unwrap_or("POST").to_owned();
            let params = self.params(&[
                ("RecordingUrl", rec_url),
                ("RecordingSid", rec.sid),
                ("RecordingDuration", secs.to_string()),
                ("Digits", "hangup".into()),
            ]);
            self.fetch(&action, &method, params).await;
        }
        None
    }
}

impl Simulator {
    /// Plays an inbound call to `scenario.to` and reports what happened.
    pub async fn play(&self, scenario: &Scenario) -> Result<CallReport, SimError> {
        let (account, token, voice_url, voice_method, status_callback) = {
            let state = self.lock();
            let (acct, number) = state
                .number_owner(&scenario.to)
                .ok_or_else(|| SimError::UnknownNumber(scenario.to.clone()))?;
            let voice_url = number
                .voice_url
                .clone()
                .ok_or_else(|| SimError::NoWebhook(scenario.to.clone(), "VoiceUrl"))?;
            (
                acct.sid.clone(),
                acct.auth_token.clone(),
                voice_url,
                number.voice_method.clone(),
                number.status_callback.clone(),
            )
        };
        let call = Leg {
            account,
            token,
            voice_url,
            voice_method,
            status_callback,
            extra: Vec::new(),
        };
        self.run_call(call, scenario).await
    }

    /// What Twilio does when a Voice SDK browser connects through a TwiML App: a signed
    /// POST to the app's Voice URL with `From` `client:{identity}`, `To` and the SDK's
    /// other parameters (`extra`), and then the answer followed like any call; the
    /// scenario's `staff` plays the party the app dials.
    pub async fn client_call(
        &self,
        account: &str,
        voice_url: &str,
        scenario: &Scenario,
        extra: &[(&str, &str)],
    ) -> Result<CallReport, SimError> {
        let token = self
            .account_token(account)
            .ok_or_else(|| SimError::UnknownAccount(account.to_owned()))?;
        let call = Leg {
            account: account.to_owned(),
            token,
            voice_url: voice_url.to_owned(),
            voice_method: "POST".into(),
            status_callback: None,
            extra: extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        self.run_call(call, scenario).await
    }

    /// A Voice SDK browser's call through a TwiML App of the account: Twilio requests the
    /// app's `VoiceUrl` with `ApplicationSid` and the SDK's parameters.
    pub async fn client_call_through_app(
        &self,
        account: &str,
        application_sid: &str,
        scenario: &Scenario,
        extra: &[(&str, &str)],
    ) -> Result<CallReport, SimError> {
        let app = self
            .application(account, application_sid)
            .ok_or_else(|| SimError::UnknownAccount(format!("{account}/{application_sid}")))?;
        let voice_url = app
            .setting("VoiceUrl")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| SimError::NoWebhook(application_sid.to_owned(), "VoiceUrl"))?
            .to_owned();
        let mut params = vec![("ApplicationSid", application_sid)];
        params.extend_from_slice(extra);
        self.client_call(account, &voice_url, scenario, &params)
            .await
    }

    async fn run_call(&self, call: Leg, scenario: &Scenario) -> Result<CallReport, SimError> {
        let Leg {
            account,
            token,
            voice_url,
            voice_method,
            status_callback,
            extra,
        } = call;
        let call_sid = sid("CA");
        let started = scenario.start_ms.unwrap_or_else(now_ms);
        let mut base = vec![
            ("AccountSid".to_owned(), account.clone()),
            ("CallSid".to_owned(), call_sid.clone()),
            ("From".to_owned(), scenario.from.clone()),
            ("To".to_owned(), scenario.to.clone()),
            ("Caller".to_owned(), scenario.from.clone()),
            ("Called".to_owned(), scenario.to.clone()),
            ("Direction".to_owned(), "inbound".to_owned()),
            ("ApiVersion".to_owned(), "2010-04-01".to_owned()),
            ("ToCountry".to_owned(), "US".to_owned()),
        ];
        base.extend(extra);
        if let Some(name) = &scenario.caller_name {
            base.push(("CallerName".into(), name.clone()));
        }
        if let Some((city, state, zip, country)) = &scenario.caller_location {
            for (k, v) in [
                ("FromCity", city),
                ("FromState", state),
                ("FromZip", zip),
                ("FromCountry", country),
            ] {
                base.push((k.into(), v.clone()));
            }
        }
        let mut run = Run::new(self, token, base, &call_sid, started, scenario);
        let params = run.params(&[]);
        if let Some((url, doc)) = run.fetch(&voice_url, &voice_method, params).await {
            run.follow(url, doc).await;
        }
        run.clock += 500;
        if run.transcription.is_some() {
            run.transcription_event("transcription-stopped", vec![])
                .await;
        }
        let final_status = match run.status.as_str() {
            "busy" | "no-answer" | "failed" | "canceled" => run.status.clone(),
            _ if run
                .report
                .errors
                .iter()
                .any(|e| e.contains("application error")) =>
            {
                "completed".into()
            }
            _ => "completed".into(),
        };
        let call_secs = ((run.clock - run.started) / 1000).max(0) as u32;
        run.status = final_status.clone();
        if let Some(cb) = status_callback {
            let minutes = call_secs.div_ceil(60);
            let params = run.params(&[
                ("CallDuration", call_secs.to_string()),
                ("Duration", minutes.to_string()),
                ("Timestamp", rfc2822(run.clock)),
                ("SequenceNumber", "0".into()),
                ("CallbackSource", "call-progress-events".into()),
                (
                    "SipResponseCode",
                    if final_status == "completed" {
                        "200"
                    } else {
                        "486"
                    }
                    .into(),
                ),
                ("Price", format!("-{:.5}", 0.0085 * f64::from(minutes))),
                ("PriceUnit", "USD".into()),
            ]);
            run.callback(&cb, params).await;
        }
        run.flush().await;
        self.store_call(
            &account,
            CallRecord {
                sid: call_sid,
                parent_call_sid: None,
                from: scenario.from.clone(),
                to: scenario.to.clone(),
                status: final_status.clone(),
                direction: "inbound".into(),
                duration: Some(call_secs),
                start_time: started,
                end_time: Some(run.clock),
            },
        );
        run.report.final_status = final_status;
        Ok(run.report)
    }

    /// Sends an inbound text to a number's SmsUrl; returns the HTTP status and body.
    pub async fn send_sms(
        &self,
        from: &str,
        to: &str,
        body: &str,
    ) -> Result<(u16, String), SimError> {
        let (account, token, sms_url) = {
            let state = self.lock();
            let (acct, number) = state
                .number_owner(to)
                .ok_or_else(|| SimError::UnknownNumber(to.to_owned()))?;
            let url = number
                .sms_url
                .clone()
                .ok_or_else(|| SimError::NoWebhook(to.to_owned(), "SmsUrl"))?;
            (acct.sid.clone(), acct.auth_token.clone(), url)
        };
        // Twilio's Advanced Opt-Out: STOP and its synonyms block our number from texting
        // the sender; START / UNSTOP lift it.
        let keyword = body.trim().trim_end_matches(['.', '!']).to_uppercase();
        {
            let mut state = self.lock();
            if let Some(acct) = state.accounts.get_mut(&account) {
                let pair = (to.to_owned(), from.to_owned());
                match keyword.as_str() {
                    "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => {
                        acct.opted_out.insert(pair);
                    }
                    "START" | "UNSTOP" | "YES" => {
                        acct.opted_out.remove(&pair);
                    }
                    _ => {}
                }
            }
        }
        let message_sid = sid("SM");
        let params: Vec<(String, String)> = [
            ("MessageSid", message_sid.clone()),
            ("SmsSid", message_sid.clone()),
            ("SmsMessageSid", message_sid.clone()),
            ("AccountSid", account.clone()),
            ("From", from.to_owned()),
            ("To", to.to_owned()),
            ("Body", body.to_owned()),
            ("NumMedia", "0".to_owned()),
            ("NumSegments", "1".to_owned()),
            ("SmsStatus", "received".to_owned()),
            ("ApiVersion", "2010-04-01".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        self.store_message(
            &account,
            MessageRecord {
                sid: message_sid,
                from: from.to_owned(),
                to: to.to_owned(),
                body: body.to_owned(),
                status: "received".into(),
                direction: "inbound".into(),
                error_code: None,
                date_created: now_ms(),
            },
        );
        Ok(self.signed_request(&token, &sms_url, "POST", &params).await)
    }
}

/// What a REST `Calls.json` create asked for.
struct OutboundRequest {
    url: Option<String>,
    method: String,
    twiml: Option<String>,
    status_callback: Option<String>,
    events: Vec<String>,
    timeout: u32,
}

/// Starts an outbound call created through the REST API, as Twilio does: answers
/// `queued` at once, then rings `To` ([`Simulator::set_phone`] says how it behaves;
/// others answer after 3 s), reports the `StatusCallbackEvent`s asked for, and once
/// answered follows the TwiML at `Url` (or inline `Twiml`) like any call, Dials included.
pub fn start_outbound(
    sim: &Simulator,
    account: &str,
    to: &str,
    from: &str,
    form: &[(String, String)],
) -> Result<Value, SimError> {
    let get = |name: &str| {
        form.iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let token = {
        let state = sim.lock();
        state
            .accounts
            .get(account)
            .map(|a| a.auth_token.clone())
            .ok_or_else(|| SimError::UnknownAccount(account.to_owned()))?
    };
    let call = CallRecord {
        sid: sid("CA"),
        parent_call_sid: None,
        from: from.to_owned(),
        to: to.to_owned(),
        status: "queued".into(),
        direction: "outbound-api".into(),
        duration: None,
        start_time: now_ms(),
        end_time: None,
    };
    sim.store_call(account, call.clone());
    let out = call.json(account);
    let request = OutboundRequest {
        url: get("Url"),
        method: get("Method").unwrap_or_else(|| "POST".into()),
        twiml: get("Twiml"),
        status_callback: get("StatusCallback"),
        events: form
            .iter()
            .filter(|(k, _)| k == "StatusCallbackEvent")
            .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect(),
        timeout: get("Timeout")
            .and_then(|t| t.parse().ok())
            .unwrap_or(60)
            .clamp(5, 600),
    };
    let (sim, account) = (sim.clone(), account.to_owned());
    tokio::spawn(async move {
        let report = sim.run_outbound(&account, token, call, request).await;
        sim.lock()
            .outbound_reports
            .insert(report.call_sid.clone(), report);
    });
    Ok(out)
}

impl Simulator {
    async fn run_outbound(
        &self,
        account: &str,
        token: String,
        call: CallRecord,
        request: OutboundRequest,
    ) -> CallReport {
        let base: Vec<(String, String)> = [
            ("AccountSid", account),
            ("CallSid", call.sid.as_str()),
            ("From", call.from.as_str()),
            ("To", call.to.as_str()),
            ("Caller", call.from.as_str()),
            ("Called", call.to.as_str()),
            ("Direction", "outbound-api"),
            ("ApiVersion", "2010-04-01"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let scenario = Scenario::new(&call.from, &call.to);
        let started = now_ms();
        let mut run = Run::new(self, token, base, &call.sid, started, &scenario);
        let mut seq = 0u64;
        // Without StatusCallbackEvent, Twilio reports `completed` alone.
        let wants = |event: &str| request.events.iter().any(|e| e == event);
        let mut progress = |run: &mut Run<'_>, extra: Vec<(&str, String)>| {
            let mut fields = vec![
                ("Timestamp", rfc2822(run.clock)),
                ("SequenceNumber", seq.to_string()),
                ("CallbackSource", "call-progress-events".to_owned()),
            ];
            fields.extend(extra);
            seq += 1;
            run.params(&fields)
        };
        for (event, status) in [("initiated", "initiated"), ("ringing", "ringing")] {
            run.status = status.into();
            let params = progress(&mut run, vec![]);
            if let Some(cb) = request.status_callback.clone().filter(|_| wants(event)) {
                run.callback(&cb, params).await;
            }
        }
        let behaviour = self
            .phone(&call.to)
            .unwrap_or(Staff::Answers { after_secs: 3 });
        let answered = match behaviour {
            Staff::Answers { after_secs } if after_secs < request.timeout => {
                run.clock += i64::from(after_secs) * 1000;
                true
            }
            Staff::Answers { .. } | Staff::NoAnswer => {
                run.clock += i64::from(request.timeout) * 1000;
                run.status = "no-answer".into();
                false
            }
            Staff::Busy => {
                run.clock += 3_000;
                run.status = "busy".into();
                false
            }
            Staff::Fails => {
                run.clock += 1_000;
                run.status = "failed".into();
                false
            }
        };
        let answered_at = run.clock;
        if answered {
            run.status = "in-progress".into();
            let params = progress(&mut run, vec![]);
            if let Some(cb) = request
                .status_callback
                .clone()
                .filter(|_| wants("answered"))
            {
                run.callback(&cb, params).await;
            }
            let doc = match (&request.url, &request.twiml) {
                (Some(url), _) => {
                    let params = run.params(&[]);
                    run.fetch(url, &request.method, params).await
                }
                (None, Some(inline)) => match twiml::parse(inline) {
                    Ok(doc) => Some((String::new(), doc)),
                    Err(e) => {
                        run.report.errors.push(format!("Twiml: {e}"));
                        None
                    }
                },
                (None, None) => None,
            };
            if let Some((url, doc)) = doc {
                run.follow(url, doc).await;
            }
            run.clock += 500;
            run.status = "completed".into();
        }
        // Talk time runs from the answer (nothing when it was not answered).
        let secs = u32::try_from(((run.clock - answered_at) / 1000).max(0)).unwrap_or(0);
        if let Some(cb) = request.status_callback.clone() {
            let p = progress(
                &mut run,
                vec![
                    ("CallDuration", secs.to_string()),
                    ("Duration", secs.div_ceil(60).to_string()),
                ],
            );
            run.callback(&cb, p).await;
        }
        run.flush().await;
        self.finish_call(account, &call.sid, &run.status, secs, run.clock);
        run.report.final_status = run.status.clone();
        run.report
    }
}

/// The carrier error a scenario's numbers stand for: recipients ending in 0000 are
/// unreachable (30003), in 0007 filtered as spam (30007); senders ending in 0034 are
/// unregistered 10DLC numbers (30034).
fn delivery_error(message: &MessageRecord) -> Option<i64> {
    if message.from.ends_with("0034") {
        Some(30034)
    } else if message.to.ends_with("0000") {
        Some(30003)
    } else if message.to.ends_with("0007") {
        Some(30007)
    } else {
        None
    }
}

/// Moves an outbound message through queued → sent → delivered, or to undelivered with
/// the scenario's carrier error ([`delivery_error`]), telling `callback` each step.
pub async fn deliver_message(
    sim: &Simulator,
    account: &str,
    message: MessageRecord,
    callback: Option<String>,
) {
    let token = {
        let state = sim.lock();
        state.accounts.get(account).map(|a| a.auth_token.clone())
    };
    let Some(token) = token else { return };
    let failure = delivery_error(&message);
    let steps: &[&str] = if failure.is_some() {
        &["sent", "undelivered"]
    } else {
        &["sent", "delivered"]
    };
    for status in steps {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let error = if *status == "undelivered" {
            failure
        } else {
            None
        };
        sim.set_message_status(account, &message.sid, status, error);
        if let Some(cb) = &callback {
            let mut p: Vec<(String, String)> = [
                ("MessageSid", message.sid.clone()),
                ("SmsSid", message.sid.clone()),
                ("MessageStatus", status.to_string()),
                ("SmsStatus", status.to_string()),
                ("AccountSid", account.to_owned()),
                ("From", message.from.clone()),
                ("To", message.to.clone()),
                ("ApiVersion", "2010-04-01".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            if let Some(code) = error {
                p.push(("ErrorCode".into(), code.to_string()));
            }
            sim.signed_request(&token, cb, "POST", &p).await;
        }
    }
}

/// Completes a transcript shortly after creation and tells the service's webhook
/// (JSON body, signed with `bodySHA256`).
pub async fn complete_transcript(sim: &Simulator, account: &str, transcript: TranscriptRecord) {
    tokio::time::sleep(Duration::from_millis(30)).await;
    let (token, webhook) = {
        let mut state = sim.lock();
        let Some(acct) = state.accounts.get_mut(account) else {
            return;
        };
        if let Some(t) = acct.transcripts.get_mut(&transcript.sid) {
            t.status = "completed".into();
            t.date_updated = crate::state::now_ms();
        }
        (
            acct.auth_token.clone(),
            acct.vi_services
                .get(&transcript.service_sid)
                .cloned()
                .flatten(),
        )
    };
    let Some(webhook) = webhook else { return };
    let body = serde_json::json!({
        "account_sid": account,
        "service_sid": transcript.service_sid,
        "transcript_sid": transcript.sid,
        "customer_key": transcript.customer_key,
        "event_type": "voice_intelligence_transcript_available",
    })
    .to_string();
    sim.signed_json(&token, &webhook, &body).await;
}

/// Signs with the account's auth token as Twilio does.
pub fn sign(token: &str, url: &str, params: &[(String, String)]) -> String {
    RequestValidator::new(token).compute_signature(url, params)
}

/// The signature header name, for callers of [`sign`].
pub const SIGNATURE: &str = SIGNATURE_HEADER;
