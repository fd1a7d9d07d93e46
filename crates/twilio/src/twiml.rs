//! TwiML: typed builders for the verbs Switchboard uses.
//!
//! Every verb is a small builder whose setters name Twilio's attributes. A response
//! renders to a complete XML document with text and attributes escaped, and characters
//! XML 1.0 cannot carry (most control characters) dropped.
//!
//! ```
//! use twilio::twiml::{Dial, Gather, Number, Say, VoiceResponse};
//!
//! let xml = VoiceResponse::new()
//!     .push(Gather::new().num_digits(1).action("/menu").push(Say::new("Press 1 & wait")))
//!     .push(Dial::new().caller_id("+15551230001").push(Number::new("+15557654321")))
//!     .to_xml();
//! assert!(xml.contains("<Say>Press 1 &amp; wait</Say>"));
//! ```

use std::fmt::Write as _;

/// One XML element of a TwiML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: &'static str,
    attributes: Vec<(&'static str, String)>,
    text: Option<String>,
    children: Vec<Element>,
}

impl Element {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            attributes: Vec::new(),
            text: None,
            children: Vec::new(),
        }
    }

    fn with_text(name: &'static str, text: impl Into<String>) -> Self {
        let mut element = Self::new(name);
        element.text = Some(text.into());
        element
    }

    /// Sets an attribute, replacing an earlier value of the same name.
    fn set(&mut self, name: &'static str, value: impl ToString) {
        let value = value.to_string();
        match self.attributes.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((name, value)),
        }
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(self.name);
        for (name, value) in &self.attributes {
            let _ = write!(out, " {name}=\"");
            escape_into(value, true, out);
            out.push('"');
        }
        match (&self.text, self.children.is_empty()) {
            (None, true) => out.push_str("/>"),
            (text, _) => {
                out.push('>');
                if let Some(text) = text {
                    escape_into(text, false, out);
                }
                for child in &self.children {
                    child.write(out);
                }
                let _ = write!(out, "</{}>", self.name);
            }
        }
    }
}

/// Escapes text for XML. Characters XML 1.0 forbids are dropped rather than sent to
/// Twilio, which would reject the whole document.
fn escape_into(text: &str, attribute: bool, out: &mut String) {
    // Runs of text that need nothing are copied whole (most of a document).
    let mut run = 0;
    for (i, c) in text.char_indices() {
        let escaped = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' if attribute => "&quot;",
            '\'' if attribute => "&apos;",
            '\t' if attribute => "&#9;",
            '\n' if attribute => "&#10;",
            '\r' if attribute => "&#13;",
            '\t' | '\n' | '\r' => continue,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => "",
            _ => continue,
        };
        out.push_str(&text[run..i]);
        out.push_str(escaped);
        run = i + c.len_utf8();
    }
    out.push_str(&text[run..]);
}

fn document(root: &Element) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    root.write(&mut out);
    out
}

macro_rules! verb {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(Element);

        impl From<$name> for Element {
            fn from(verb: $name) -> Element {
                verb.0
            }
        }
    };
}

macro_rules! attrs {
    ($($(#[$doc:meta])* $method:ident => $attr:literal : $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $method(mut self, value: $ty) -> Self {
                self.0.set($attr, value);
                self
            }
        )*
    };
}

/// Joins Twilio's space-separated list attributes (`statusCallbackEvent`, …).
fn space_list<I, S>(items: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    items
        .into_iter()
        .map(|s| s.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The root of a voice TwiML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceResponse(Element);

impl Default for VoiceResponse {
    fn default() -> Self {
        Self::new()
    }
}

impl VoiceResponse {
    /// An empty `<Response/>` (Twilio hangs up after it).
    pub fn new() -> Self {
        Self(Element::new("Response"))
    }

    /// Appends a verb.
    #[must_use]
    pub fn push(mut self, verb: impl Into<VoiceVerb>) -> Self {
        self.0.children.push(verb.into().0);
        self
    }

    /// Appends every verb of another response.
    #[must_use]
    pub fn push_all(mut self, other: VoiceResponse) -> Self {
        self.0.children.extend(other.0.children);
        self
    }

    /// Renders the whole document, XML declaration included.
    pub fn to_xml(&self) -> String {
        document(&self.0)
    }
}

impl std::fmt::Display for VoiceResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_xml())
    }
}

/// Any verb allowed directly inside a voice `<Response>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceVerb(Element);

macro_rules! voice_verbs {
    ($($t:ident),*) => { $(impl From<$t> for VoiceVerb { fn from(v: $t) -> Self { VoiceVerb(v.0) } })* };
}
voice_verbs!(
    Say, Play, Pause, Gather, Dial, Record, Redirect, Hangup, Reject, Start
);

verb!(
    /// `<Say>`: text-to-speech.
    Say
);
impl Say {
    /// Speaks `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(Element::with_text("Say", text))
    }
    attrs! {
        /// A voice such as `Polly.Joanna` or `Google.en-US-Chirp3-HD-Aoede`.
        voice => "voice": &str,
        /// A language tag such as `en-US`.
        language => "language": &str,
        /// Repeat count (0 = until the call ends).
        r#loop => "loop": u32,
    }
}

verb!(
    /// `<Play>`: plays an audio file, or DTMF tones with `digits`.
    Play
);
impl Play {
    /// Plays the audio at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self(Element::with_text("Play", url))
    }
    /// Plays DTMF tones instead of a file.
    pub fn digits(digits: &str) -> Self {
        let mut element = Element::new("Play");
        element.set("digits", digits);
        Self(element)
    }
    attrs! {
        /// Repeat count.
        r#loop => "loop": u32,
    }
}

verb!(
    /// `<Pause>`: silence.
    Pause
);
impl Pause {
    /// One second of silence (Twilio's default).
    pub fn new() -> Self {
        Self(Element::new("Pause"))
    }
    attrs! {
        /// Seconds of silence.
        length => "length": u32,
    }
}
impl Default for Pause {
    fn default() -> Self {
        Self::new()
    }
}

verb!(
    /// `<Gather>`: collects digits (or speech), then requests `action`.
    Gather
);
/// What may be nested in `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatherChild(Element);
impl From<Say> for GatherChild {
    fn from(v: Say) -> Self {
        Self(v.0)
    }
}
impl From<Play> for GatherChild {
    fn from(v: Play) -> Self {
        Self(v.0)
    }
}
impl From<Pause> for GatherChild {
    fn from(v: Pause) -> Self {
        Self(v.0)
    }
}
impl Gather {
    /// An empty `<Gather>`.
    pub fn new() -> Self {
        Self(Element::new("Gather"))
    }
    /// Nests a `<Say>`, `<Play>` or `<Pause>`.
    #[must_use]
    pub fn push(mut self, child: impl Into<GatherChild>) -> Self {
        self.0.children.push(child.into().0);
        self
    }
    attrs! {
        /// URL requested with `Digits` when input is complete.
        action => "action": &str,
        /// `GET` or `POST`.
        method => "method": &str,
        /// Stop after this many digits.
        num_digits => "numDigits": u32,
        /// Seconds to wait for input.
        timeout => "timeout": u32,
        /// Key that ends input (`#` by default).
        finish_on_key => "finishOnKey": &str,
        /// `dtmf`, `speech` or `dtmf speech`.
        input => "input": &str,
        /// Request `action` even when nothing was entered.
        action_on_empty_result => "actionOnEmptyResult": bool,
        /// Seconds of silence that end speech input, or `auto`.
        speech_timeout => "speechTimeout": &str,
        /// Words and phrases likely to be said, comma-separated.
        hints => "hints": &str,
        /// The speech's language (`en-US`).
        language => "language": &str,
    }
}
impl Default for Gather {
    fn default() -> Self {
        Self::new()
    }
}

verb!(
    /// `<Dial>`: connects the caller to another party.
    Dial
);
/// What may be nested in `<Dial>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialTarget(Element);
impl From<Number> for DialTarget {
    fn from(v: Number) -> Self {
        Self(v.0)
    }
}
impl From<Client> for DialTarget {
    fn from(v: Client) -> Self {
        Self(v.0)
    }
}
impl Dial {
    /// A `<Dial>` whose targets are added with [`Dial::push`].
    pub fn new() -> Self {
        Self(Element::new("Dial"))
    }
    /// `<Dial>+15551234567</Dial>`: dials one number given as text.
    pub fn number(number: impl Into<String>) -> Self {
        Self(Element::with_text("Dial", number))
    }
    /// Adds a `<Number>` or `<Client>`.
    #[must_use]
    pub fn push(mut self, target: impl Into<DialTarget>) -> Self {
        self.0.children.push(target.into().0);
        self
    }
    attrs! {
        /// URL requested when the dialed party hangs up or does not answer.
        action => "action": &str,
        /// `GET` or `POST` for `action`.
        method => "method": &str,
        /// Caller id shown to the dialed party.
        caller_id => "callerId": &str,
        /// Seconds to ring before giving up.
        timeout => "timeout": u32,
        /// Maximum call length in seconds.
        time_limit => "timeLimit": u32,
        /// `do-not-record`, `record-from-answer`, `record-from-ringing`,
        /// `record-from-answer-dual`, `record-from-ringing-dual`.
        record => "record": &str,
        /// URL told when the recording is ready.
        recording_status_callback => "recordingStatusCallback": &str,
        /// `GET` or `POST` for the recording callback.
        recording_status_callback_method => "recordingStatusCallbackMethod": &str,
        /// Whether `*` hangs up the dialed party.
        hangup_on_star => "hangupOnStar": bool,
        /// `true` to play ringback until the dialed party answers.
        answer_on_bridge => "answerOnBridge": bool,
    }
    /// Recording events to report (`in-progress`, `completed`, `absent`).
    #[must_use]
    pub fn recording_status_callback_event<I: IntoIterator<Item = S>, S: AsRef<str>>(
        mut self,
        events: I,
    ) -> Self {
        self.0
            .set("recordingStatusCallbackEvent", space_list(events));
        self
    }
}
impl Default for Dial {
    fn default() -> Self {
        Self::new()
    }
}

verb!(
    /// `<Number>` inside `<Dial>`: a phone number to ring.
    Number
);
impl Number {
    /// Rings `number` (E.164).
    pub fn new(number: impl Into<String>) -> Self {
        Self(Element::with_text("Number", number))
    }
    attrs! {
        /// TwiML played to the answering party before connecting (a whisper).
        url => "url": &str,
        /// `GET` or `POST` for `url`.
        method => "method": &str,
        /// URL told about this leg's progress.
        status_callback => "statusCallback": &str,
        /// `GET` or `POST` for the status callback.
        status_callback_method => "statusCallbackMethod": &str,
        /// DTMF tones to send after the party answers.
        send_digits => "sendDigits": &str,
    }
    /// Leg events to report (`initiated ringing answered completed`).
    #[must_use]
    pub fn status_callback_event<I: IntoIterator<Item = S>, S: AsRef<str>>(
        mut self,
        events: I,
    ) -> Self {
        self.0.set("statusCallbackEvent", space_list(events));
        self
    }
}

verb!(
    /// `<Client>` inside `<Dial>`: a Voice SDK identity to ring.
    Client
);
impl Client {
    /// Rings the browser or app registered as `identity`.
    pub fn new(identity: impl Into<String>) -> Self {
        Self(Element::with_text("Client", identity))
    }
    attrs! {
        /// TwiML played to the answering party first.
        url => "url": &str,
        /// `GET` or `POST` for `url`.
        method => "method": &str,
        /// URL told about this leg's progress.
        status_callback => "statusCallback": &str,
        /// `GET` or `POST` for the status callback.
        status_callback_method => "statusCallbackMethod": &str,
    }
    /// Leg events to report.
    #[must_use]
    pub fn status_callback_event<I: IntoIterator<Item = S>, S: AsRef<str>>(
        mut self,
        events: I,
    ) -> Self {
        self.0.set("statusCallbackEvent", space_list(events));
        self
    }
}

verb!(
    /// `<Record>`: records the caller (voicemail).
    Record
);
impl Record {
    /// A `<Record>` with Twilio's defaults.
    pub fn new() -> Self {
        Self(Element::new("Record"))
    }
    attrs! {
        /// URL requested when recording ends.
        action => "action": &str,
        /// `GET` or `POST` for `action`.
        method => "method": &str,
        /// Maximum length in seconds.
        max_length => "maxLength": u32,
        /// Seconds of silence that end the recording.
        timeout => "timeout": u32,
        /// Keys that end the recording.
        finish_on_key => "finishOnKey": &str,
        /// Beep before recording.
        play_beep => "playBeep": bool,
        /// Remove silence at the start and end (`trim-silence` / `do-not-trim`).
        trim => "trim": &str,
        /// URL told when the recording is ready.
        recording_status_callback => "recordingStatusCallback": &str,
        /// `GET` or `POST` for the recording callback.
        recording_status_callback_method => "recordingStatusCallbackMethod": &str,
    }
    /// Recording events to report.
    #[must_use]
    pub fn recording_status_callback_event<I: IntoIterator<Item = S>, S: AsRef<str>>(
        mut self,
        events: I,
    ) -> Self {
        self.0
            .set("recordingStatusCallbackEvent", space_list(events));
        self
    }
}
impl Default for Record {
    fn default() -> Self {
        Self::new()
    }
}

verb!(
    /// `<Redirect>`: continue with the TwiML at another URL.
    Redirect
);
impl Redirect {
    /// Fetches TwiML from `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self(Element::with_text("Redirect", url))
    }
    attrs! {
        /// `GET` or `POST`.
        method => "method": &str,
    }
}

verb!(
    /// `<Hangup/>`.
    Hangup
);
impl Hangup {
    /// Ends the call.
    pub fn new() -> Self {
        Self(Element::new("Hangup"))
    }
}
impl Default for Hangup {
    fn default() -> Self {
        Self::new()
    }
}

verb!(
    /// `<Reject/>`: refuses the call without answering (no charge).
    Reject
);
impl Reject {
    /// Rejects with Twilio's default (`rejected`).
    pub fn new() -> Self {
        Self(Element::new("Reject"))
    }
    attrs! {
        /// `rejected` or `busy`.
        reason => "reason": &str,
    }
}
impl Default for Reject {
    fn default() -> Self {
        Self::new()
    }
}

verb!(
    /// `<Start>`: starts a background process such as real-time transcription.
    Start
);
impl Start {
    /// An empty `<Start>`.
    pub fn new() -> Self {
        Self(Element::new("Start"))
    }
    /// Nests a `<Transcription>`.
    #[must_use]
    pub fn transcription(mut self, transcription: Transcription) -> Self {
        self.0.children.push(transcription.0);
        self
    }
    attrs! {
        /// URL told about the background process.
        action => "action": &str,
    }
}
impl Default for Start {
    fn default() -> Self {
        Self::new()
    }
}

verb!(
    /// `<Transcription>` inside `<Start>`: real-time transcription.
    Transcription
);
impl Transcription {
    /// Real-time transcription reporting to `status_callback_url`.
    pub fn new(status_callback_url: &str) -> Self {
        let mut element = Element::new("Transcription");
        element.set("statusCallbackUrl", status_callback_url);
        Self(element)
    }
    attrs! {
        /// A name that identifies this transcription on the call.
        name => "name": &str,
        /// `inbound_track`, `outbound_track` or `both_tracks`.
        track => "track": &str,
        /// A language tag such as `en-US`.
        language_code => "languageCode": &str,
        /// Whether to send partial results.
        partial_results => "partialResults": bool,
        /// The transcription engine (`google`, `deepgram`).
        transcription_engine => "transcriptionEngine": &str,
        /// A Voice Intelligence service to attach the transcript to.
        intelligence_service => "intelligenceService": &str,
    }
}

/// The root of a messaging TwiML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagingResponse(Element);

impl Default for MessagingResponse {
    fn default() -> Self {
        Self::new()
    }
}

impl MessagingResponse {
    /// An empty `<Response/>` (no reply).
    pub fn new() -> Self {
        Self(Element::new("Response"))
    }
    /// Appends a `<Message>`.
    #[must_use]
    pub fn push(mut self, message: Message) -> Self {
        self.0.children.push(message.0);
        self
    }
    /// Renders the whole document.
    pub fn to_xml(&self) -> String {
        document(&self.0)
    }
}

verb!(
    /// `<Message>`: a reply text.
    Message
);
impl Message {
    /// A reply with `body`.
    pub fn new(body: impl Into<String>) -> Self {
        Self(Element::with_text("Message", body))
    }
    attrs! {
        /// Recipient (defaults to the sender of the inbound message).
        to => "to": &str,
        /// Sender (defaults to the number that received the message).
        from => "from": &str,
        /// URL told about delivery.
        status_callback => "statusCallback": &str,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_and_dial_snapshot() {
        let xml = VoiceResponse::new()
            .push(
                Gather::new()
                    .num_digits(1)
                    .action("https://sb.example.com/api/twilio/voice/incoming")
                    .method("POST")
                    .timeout(6)
                    .push(
                        Say::new(
                            "Thank you for calling Smile & Co. If you are a new patient, press 1.",
                        )
                        .voice("Google.en-US-Chirp3-HD-Aoede"),
                    ),
            )
            .push(
                Redirect::new("https://sb.example.com/api/twilio/voice/incoming?attempt=2")
                    .method("POST"),
            )
            .to_xml();
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn every_verb_snapshot() {
        let xml = VoiceResponse::new()
            .push(
                Say::new("Hello")
                    .voice("Polly.Joanna")
                    .language("en-US")
                    .r#loop(2),
            )
            .push(Play::new("https://example.com/a.mp3"))
            .push(Play::digits("ww1"))
            .push(Pause::new().length(2))
            .push(
                Start::new().transcription(
                    Transcription::new("https://sb.example.com/api/twilio/voice/transcription")
                        .track("both_tracks")
                        .partial_results(false),
                ),
            )
            .push(
                Dial::new()
                    .caller_id("+15551230001")
                    .timeout(30)
                    .record("record-from-answer-dual")
                    .recording_status_callback(
                        "https://sb.example.com/api/twilio/voice/recording-status",
                    )
                    .recording_status_callback_event(["completed", "absent"])
                    .action("https://sb.example.com/api/twilio/voice/dial-status")
                    .push(
                        Number::new("+15557654321")
                            .url("https://sb.example.com/whisper?x=1&y=2")
                            .status_callback("https://sb.example.com/api/twilio/voice/dial-status")
                            .status_callback_event([
                                "initiated",
                                "ringing",
                                "answered",
                                "completed",
                            ]),
                    )
                    .push(Client::new("alice")),
            )
            .push(
                Record::new()
                    .max_length(120)
                    .play_beep(true)
                    .recording_status_callback(
                        "https://sb.example.com/api/twilio/voice/voicemail-status",
                    ),
            )
            .push(Redirect::new("https://example.com/next"))
            .push(Reject::new().reason("busy"))
            .push(Hangup::new())
            .to_xml();
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn messaging_snapshot() {
        let xml = MessagingResponse::new()
            .push(Message::new("Thanks! We'll call you back <soon>."))
            .to_xml();
        insta::assert_snapshot!(xml);
        assert_eq!(
            MessagingResponse::new().to_xml(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
    }

    #[test]
    fn escapes_text_and_attributes() {
        let xml = VoiceResponse::new()
            .push(Say::new(r#"a < b && "c" > 'd'"#).voice(r#"x"y'z<&>"#))
            .to_xml();
        assert!(xml.contains(r#"<Say voice="x&quot;y&apos;z&lt;&amp;&gt;">a &lt; b &amp;&amp; "c" &gt; 'd'</Say>"#), "{xml}");
    }

    /// What escaping did before it copied runs whole: one character at a time.
    fn escape_by_character(text: &str, attribute: bool) -> String {
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' if attribute => out.push_str("&quot;"),
                '\'' if attribute => out.push_str("&apos;"),
                '\t' | '\n' | '\r' if attribute => out.push_str(&format!("&#{};", c as u32)),
                '\t' | '\n' | '\r' => out.push(c),
                c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
                c => out.push(c),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn escaping_runs_whole_matches_escaping_each_character(
            text in "[&<>\"'\t\n\r\x00-\x1fa-zé日😀\u{FFFE}\u{FFFF} ]{0,40}",
            attribute: bool,
        ) {
            let mut out = String::new();
            escape_into(&text, attribute, &mut out);
            proptest::prop_assert_eq!(out, escape_by_character(&text, attribute));
        }
    }

    #[test]
    fn keeps_unicode_and_drops_forbidden_control_characters() {
        let xml = VoiceResponse::new()
            .push(Say::new("Grüß Gott 👋 — 日本\u{0}\u{7}\nnext"))
            .to_xml();
        assert!(
            xml.contains("<Say>Grüß Gott 👋 — 日本\nnext</Say>"),
            "{xml}"
        );
        let attr = VoiceResponse::new()
            .push(Say::new("x").voice("a\nb"))
            .to_xml();
        assert!(attr.contains(r#"voice="a&#10;b""#), "{attr}");
    }

    #[test]
    fn push_all_appends_in_order() {
        let xml = VoiceResponse::new()
            .push(Say::new("a"))
            .push_all(VoiceResponse::new().push(Say::new("b")).push(Hangup::new()))
            .to_xml();
        assert!(
            xml.ends_with("<Response><Say>a</Say><Say>b</Say><Hangup/></Response>"),
            "{xml}"
        );
    }

    #[test]
    fn setting_an_attribute_twice_keeps_the_last() {
        let xml = VoiceResponse::new()
            .push(Pause::new().length(1).length(3))
            .to_xml();
        assert!(
            xml.ends_with(r#"<Response><Pause length="3"/></Response>"#),
            "{xml}"
        );
    }
}
