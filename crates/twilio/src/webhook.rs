//! Typed payloads of the callbacks Twilio sends, parsed from form bodies.
//!
//! Every payload keeps the complete parameter multimap in `params`, so parameters
//! Twilio adds later are neither lost nor left out of signature checks. Optional
//! parameters that arrive empty are treated as absent (Twilio does both).
//!
//! ```
//! use twilio::webhook::{IncomingCall, Params};
//!
//! let params = Params::parse_form(b"CallSid=CA1&AccountSid=AC1&From=%2B15550001111&To=%2B15551230001&CallStatus=ringing&Digits=1").unwrap();
//! let call = IncomingCall::from_params(params).unwrap();
//! assert_eq!(call.call.call_sid, "CA1");
//! assert_eq!(call.digits.as_deref(), Some("1"));
//! ```

use serde::{Deserialize, Serialize};

/// A callback that could not be understood.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// The body is not `application/x-www-form-urlencoded` text.
    #[error("malformed form body: {0}")]
    Malformed(String),
    /// A parameter Twilio always sends is missing or empty.
    #[error("missing required parameter {0}")]
    Missing(&'static str),
    /// A parameter has a value of the wrong shape (a number that is not one, …).
    #[error("invalid value for parameter {0}")]
    Invalid(&'static str),
}

/// The parameters of one callback, in the order received, repeated keys kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a form-encoded body (or a query string).
    pub fn parse_form(body: &[u8]) -> Result<Self, WebhookError> {
        // Twilio always sends UTF-8; anything else did not come from Twilio.
        std::str::from_utf8(body)
            .map_err(|_| WebhookError::Malformed("body is not UTF-8".into()))?;
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(Self)
            .map_err(|e| WebhookError::Malformed(e.to_string()))
    }

    /// Wraps pairs that were already decoded.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// All pairs as received.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Encodes the parameters as a form body.
    pub fn to_form(&self) -> String {
        serde_urlencoded::to_string(&self.0).unwrap_or_default()
    }

    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn opt(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    fn req(&self, name: &'static str) -> Result<String, WebhookError> {
        self.opt(name).ok_or(WebhookError::Missing(name))
    }

    fn num<T: std::str::FromStr>(&self, name: &'static str) -> Result<Option<T>, WebhookError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<T>()
                    .map_err(|_| WebhookError::Invalid(name))
            })
            .transpose()
    }

    fn flag(&self, name: &'static str) -> Result<Option<bool>, WebhookError> {
        self.get(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(WebhookError::Invalid(name)),
            })
            .transpose()
    }
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $text, "`")] $variant,)*
            /// A value this version does not know; kept as sent.
            Other(String),
        }

        impl $name {
            /// Twilio's spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(s) => s,
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(match s {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// `CallStatus`.
    CallStatus {
        Queued => "queued",
        Initiated => "initiated",
        Ringing => "ringing",
        InProgress => "in-progress",
        Completed => "completed",
        Busy => "busy",
        Failed => "failed",
        NoAnswer => "no-answer",
        Canceled => "canceled",
    }
);

impl CallStatus {
    /// Whether the call has ended.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled
        )
    }
}

string_enum!(
    /// `DialCallStatus` on the `<Dial action>` request.
    DialCallStatus {
        Completed => "completed",
        Answered => "answered",
        Busy => "busy",
        NoAnswer => "no-answer",
        Failed => "failed",
        Canceled => "canceled",
    }
);

string_enum!(
    /// `RecordingStatus`.
    RecordingStatus {
        InProgress => "in-progress",
        Completed => "completed",
        Absent => "absent",
        Failed => "failed",
    }
);

string_enum!(
    /// `MessageStatus` / `SmsStatus`.
    MessageStatus {
        Accepted => "accepted",
        Scheduled => "scheduled",
        Queued => "queued",
        Sending => "sending",
        Sent => "sent",
        Delivered => "delivered",
        Undelivered => "undelivered",
        Failed => "failed",
        Receiving => "receiving",
        Received => "received",
        Read => "read",
        Canceled => "canceled",
    }
);

string_enum!(
    /// `TranscriptionEvent` of real-time transcription.
    TranscriptionEvent {
        Started => "transcription-started",
        Content => "transcription-content",
        Stopped => "transcription-stopped",
        Error => "transcription-error",
    }
);

fn parse_enum<T: std::str::FromStr<Err = std::convert::Infallible>>(s: &str) -> T {
    match s.parse() {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

/// Where a caller is, as far as Twilio knows (often empty for mobiles).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerDetails {
    /// `CallerName` (CNAM), when caller-id lookup is on.
    pub name: Option<String>,
    /// `FromCity`.
    pub city: Option<String>,
    /// `FromState`.
    pub state: Option<String>,
    /// `FromZip`.
    pub zip: Option<String>,
    /// `FromCountry`.
    pub country: Option<String>,
}

/// Parameters every voice request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallDetails {
    /// `CallSid`.
    pub call_sid: String,
    /// `AccountSid`.
    pub account_sid: String,
    /// `From`: E.164, `client:…`, `sip:…` or `anonymous`; stored as sent.
    pub from: String,
    /// `To`.
    pub to: String,
    /// `CallStatus`.
    pub call_status: Option<CallStatus>,
    /// `Direction`: `inbound`, `outbound-api`, `outbound-dial`.
    pub direction: Option<String>,
    /// `ParentCallSid`, on child legs.
    pub parent_call_sid: Option<String>,
    /// `ForwardedFrom`.
    pub forwarded_from: Option<String>,
    /// Caller name and location.
    pub caller: CallerDetails,
}

impl CallDetails {
    /// Parses the parameters every call webhook carries; `CallSid` and `AccountSid` are
    /// required.
    pub fn from_params(p: &Params) -> Result<Self, WebhookError> {
        Ok(Self {
            call_sid: p.req("CallSid")?,
            account_sid: p.req("AccountSid")?,
            from: p
                .opt("From")
                .or_else(|| p.opt("Caller"))
                .unwrap_or_else(|| "anonymous".into()),
            to: p.opt("To").or_else(|| p.opt("Called")).unwrap_or_default(),
            call_status: p.get("CallStatus").map(parse_enum),
            direction: p.opt("Direction"),
            parent_call_sid: p.opt("ParentCallSid"),
            forwarded_from: p.opt("ForwardedFrom"),
            caller: CallerDetails {
                name: p.opt("CallerName"),
                city: p.opt("FromCity").or_else(|| p.opt("CallerCity")),
                state: p.opt("FromState").or_else(|| p.opt("CallerState")),
                zip: p.opt("FromZip").or_else(|| p.opt("CallerZip")),
                country: p.opt("FromCountry").or_else(|| p.opt("CallerCountry")),
            },
        })
    }
}

/// A recording reference that some voice callbacks carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingRef {
    /// `RecordingSid`.
    pub sid: Option<String>,
    /// `RecordingUrl` (no extension).
    pub url: Option<String>,
    /// `RecordingDuration` in seconds.
    pub duration: Option<u32>,
}

impl RecordingRef {
    fn from_params(p: &Params) -> Result<Self, WebhookError> {
        Ok(Self {
            sid: p.opt("RecordingSid"),
            url: p.opt("RecordingUrl"),
            duration: p.num("RecordingDuration")?,
        })
    }
}

/// The request to a number's `VoiceUrl`, and the `<Gather action>` that follows a menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// Common call parameters.
    pub call: CallDetails,
    /// `Digits`, on a Gather action.
    pub digits: Option<String>,
    /// Every parameter as received.
    pub params: Params,
}

impl IncomingCall {
    /// Parses the parameters; `CallSid` and `AccountSid` are required.
    pub fn from_params(params: Params) -> Result<Self, WebhookError> {
        Ok(Self {
            call: CallDetails::from_params(&params)?,
            digits: params.opt("Digits"),
            params,
        })
    }
}

/// A call status callback (`StatusCallback`), on the parent call or a dialed leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStatusCallback {
    /// Common call parameters (`ParentCallSid` is set on a dialed leg).
    pub call: CallDetails,
    /// `CallDuration` in seconds, on the terminal callback.
    pub call_duration: Option<u32>,
    /// `Timestamp` (RFC 2822) as sent.
    pub timestamp: Option<String>,
    /// `SequenceNumber`: the order Twilio produced the events in.
    pub sequence_number: Option<u64>,
    /// `CallbackSource`.
    pub callback_source: Option<String>,
    /// `SipResponseCode`.
    pub sip_response_code: Option<u16>,
    /// `AnsweredBy`, with answering-machine detection.
    pub answered_by: Option<String>,
    /// A recording, when the call was created with `Record=true`.
    pub recording: RecordingRef,
    /// Every parameter as received.
    pub params: Params,
}

impl CallStatusCallback {
    /// Parses the parameters; `CallSid`, `AccountSid` and `CallStatus` are required.
    pub fn from_params(params: Params) -> Result<Self, WebhookError> {
        params.req("CallStatus")?;
        Ok(Self {
            call: CallDetails::from_params(&params)?,
            call_duration: params.num("CallDuration")?,
            timestamp: params.opt("Timestamp"),
            sequence_number: params.num("SequenceNumber")?,
            callback_source: params.opt("CallbackSource"),
            sip_response_code: params.num("SipResponseCode")?,
            answered_by: params.opt("AnsweredBy"),
            recording: RecordingRef::from_params(&params)?,
            params,
        })
    }
}

/// The status callback of a `<Number>` leg inside `<Dial>`: a call status callback
/// whose `CallSid` is the child leg and `ParentCallSid` the caller's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberStatus {
    /// The leg's status callback.
    pub leg: CallStatusCallback,
    /// `ParentCallSid`: the caller's call.
    pub parent_call_sid: String,
}

impl NumberStatus {
    /// Parses the parameters; `ParentCallSid` is required in addition.
    pub fn from_params(params: Params) -> Result<Self, WebhookError> {
        let parent_call_sid = params.req("ParentCallSid")?;
        Ok(Self {
            leg: CallStatusCallback::from_params(params)?,
            parent_call_sid,
        })
    }
}

/// The `<Dial action>` request, sent to the parent call when the dialed leg ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialAction {
    /// Common parameters of the parent call.
    pub call: CallDetails,
    /// `DialCallStatus`.
    pub dial_call_status: DialCallStatus,
    /// `DialCallSid`.
    pub dial_call_sid: Option<String>,
    /// `DialCallDuration`: seconds the parties were connected.
    pub dial_call_duration: Option<u32>,
    /// `DialBridged`.
    pub dial_bridged: Option<bool>,
    /// The dial recording, if Twilio already has one.
    pub recording: RecordingRef,
    /// Every parameter as received.
    pub params: Params,
}

impl DialAction {
    /// Parses the parameters; `DialCallStatus` is required in addition.
    pub fn from_params(params: Params) -> Result<Self, WebhookError> {
        Ok(Self {
            call: CallDetails::from_params(&params)?,
            dial_call_status: parse_enum(&params.req("DialCallStatus")?),
            dial_call_sid: params.opt("DialCallSid"),
            dial_call_duration: params.num("DialCallDuration")?,
            dial_bridged: params.flag("DialBridged")?,
            recording: RecordingRef::from_params(&params)?,
            params,
        })
    }
}

/// A recording status callback (`recordingStatusCallback`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingStatusCallback {
    /// `AccountSid`.
    pub account_sid: String,
    /// `CallSid`: the call that was recorded.
    pub call_sid: String,
    /// `RecordingSid`.
    pub recording_sid: String,
    /// `RecordingUrl` (no extension; needs auth to fetch).
    pub recording_url: Option<String>,
    /// `RecordingStatus`.
    pub status: RecordingStatus,
    /// `RecordingDuration` in seconds.
    pub duration: Option<u32>,
    /// `RecordingChannels`.
    pub channels: Option<u8>,
    /// `RecordingSource` (`DialVerb`, `RecordVerb`, …).
    pub source: Option<String>,
    /// `RecordingStartTime` (RFC 2822).
    pub start_time: Option<String>,
    /// `ErrorCode`, when the recording failed or is absent.
    pub error_code: Option<String>,
    /// Every parameter as received.
    pub params: Params,
}

impl RecordingStatusCallback {
    /// Parses the parameters; `AccountSid`, `CallSid`, `RecordingSid` and
    /// `RecordingStatus` are required.
    pub fn from_params(params: Params) -> Result<Self, WebhookError> {
        Ok(Self {
            account_sid: params.req("AccountSid")?,
            call_sid: params.req("CallSid")?,
            recording_sid: params.req("RecordingSid")?,
            recording_url: params.opt("RecordingUrl"),
            status: parse_enum(&params.req("RecordingStatus")?),
            duration: params.num("RecordingDuration")?,
            channels: params.num("RecordingChannels")?,
            source: params.opt("RecordingSource"),
            start_time: params.opt("RecordingStartTime"),
            error_code: params.opt("ErrorCode"),
            params,
        })
    }
}

/// The content of a `transcription-content` event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TranscriptionData {
    /// The recognised text.
    pub transcript: String,
    /// Recogniser confidence, 0.0 to 1.0.
    #[serde(default)]
    pub confidence: Option<f64>,
}

/// A real-time transcription event (`<Start><Transcription statusCallbackUrl>`).
#[derive(Debug, Clone, PartialEq)]
pub struct RealtimeTranscription {
    /// `AccountSid`.
    pub account_sid: String,
    /// `CallSid`.
    pub call_sid: String,
    /// `TranscriptionSid`.
    pub transcription_sid: Option<String>,
    /// `TranscriptionEvent`.
    pub event: TranscriptionEvent,
    /// `SequenceId`: order of events within the transcription.
    pub sequence_id: Option<u64>,
    /// `Timestamp` as sent.
    pub timestamp: Option<String>,
    /// `TranscriptionData`, on content events.
    pub data: Option<TranscriptionData>,
    /// `Track`: `inbound_track` or `outbound_track`.
    pub track: Option<String>,
    /// `Final`: whether this is a final (not partial) result.
    pub is_final: Option<bool>,
    /// `LanguageCode`.
    pub language_code: Option<String>,
    /// Every parameter as received.
    pub params: Params,
}

impl RealtimeTranscription {
    /// Parses the parameters; `TranscriptionData`, when present, must be JSON.
    pub fn from_params(params: Params) -> Result<Self, WebhookError> {
        let data = params
            .get("TranscriptionData")
            .map(|raw| {
                serde_json::from_str(raw).map_err(|_| WebhookError::Invalid("TranscriptionData"))
            })
            .transpose()?;
        Ok(Self {
            account_sid: params.req("AccountSid")?,
            call_sid: params.req("CallSid")?,
            transcription_sid: params.opt("TranscriptionSid"),
            event: parse_enum(&params.req("TranscriptionEvent")?),
            sequence_id: params.num("SequenceId")?,
            timestamp: params.opt("Timestamp"),
            data,
            track: params.opt("Track"),
            is_final: params.flag("Final")?,
            language_code: params.opt("LanguageCode"),
            params,
        })
    }
}

/// The Voice Intelligence webhook: a transcript is ready to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptReady {
    /// The transcript (`GT…`).
    pub transcript_sid: String,
    /// The account, when sent.
    pub account_sid: Option<String>,
    /// The Intelligence service (`GA…`).
    pub service_sid: Option<String>,
    /// The `CustomerKey` given when the transcript was created.
    pub customer_key: Option<String>,
    /// The event type, when sent.
    pub event_type: Option<String>,
}

impl TranscriptReady {
    /// Parses a form body (`TranscriptSid=…`) or Twilio's JSON body (`transcript_sid`).
    pub fn parse(body: &[u8]) -> Result<Self, WebhookError> {
        let trimmed = body
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map(|i| &body[i..]);
        if let Some(json) = trimmed.filter(|b| b.first() == Some(&b'{')) {
            #[derive(Deserialize)]
            struct Body {
                transcript_sid: Option<String>,
                account_sid: Option<String>,
                service_sid: Option<String>,
                customer_key: Option<String>,
                event_type: Option<String>,
            }
            let b: Body =
                serde_json::from_slice(json).map_err(|e| WebhookError::Malformed(e.to_string()))?;
            return Ok(Self {
                transcript_sid: b
                    .transcript_sid
                    .filter(|s| !s.is_empty())
                    .ok_or(WebhookError::Missing("transcript_sid"))?,
                account_sid: b.account_sid,
                service_sid: b.service_sid,
                customer_key: b.customer_key,
                event_type: b.event_type,
            });
        }
        let p = Params::parse_form(body)?;
        Ok(Self {
            transcript_sid: p.req("TranscriptSid")?,
            account_sid: p.opt("AccountSid"),
            service_sid: p.opt("ServiceSid"),
            customer_key: p.opt("CustomerKey"),
            event_type: p.opt("EventType"),
        })
    }
}

/// One attachment of an inbound MMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `MediaUrl{N}`.
    pub url: String,
    /// `MediaContentType{N}`.
    pub content_type: Option<String>,
}

/// An inbound message (the number's `SmsUrl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// `MessageSid` (or the legacy `SmsSid`).
    pub message_sid: String,
    /// `AccountSid`.
    pub account_sid: String,
    /// `From`.
    pub from: String,
    /// `To`.
    pub to: String,
    /// `Body` (may be empty for a picture message).
    pub body: String,
    /// `NumSegments`.
    pub num_segments: Option<u32>,
    /// `MessagingServiceSid`.
    pub messaging_service_sid: Option<String>,
    /// `MediaUrl0…`, `MediaContentType0…`.
    pub media: Vec<Media>,
    /// Sender's location.
    pub sender: CallerDetails,
    /// Every parameter as received.
    pub params: Params,
}

/// Twilio sends at most ten attachments.
const MAX_MEDIA: usize = 10;

impl InboundSms {
    /// Parses the parameters; `MessageSid`, `AccountSid`, `From` and `To` are required.
    pub fn from_params(params: Params) -> Result<Self, WebhookError> {
        let num_media: usize = params.num::<usize>("NumMedia")?.unwrap_or(0).min(MAX_MEDIA);
        let media = (0..num_media)
            .filter_map(|i| {
                params.opt(&format!("MediaUrl{i}")).map(|url| Media {
                    url,
                    content_type: params.opt(&format!("MediaContentType{i}")),
                })
            })
            .collect();
        Ok(Self {
            message_sid: params
                .opt("MessageSid")
                .or_else(|| params.opt("SmsSid"))
                .ok_or(WebhookError::Missing("MessageSid"))?,
            account_sid: params.req("AccountSid")?,
            from: params.req("From")?,
            to: params.req("To")?,
            body: params.opt("Body").unwrap_or_default(),
            num_segments: params.num("NumSegments")?,
            messaging_service_sid: params.opt("MessagingServiceSid"),
            media,
            sender: CallerDetails {
                name: None,
                city: params.opt("FromCity"),
                state: params.opt("FromState"),
                zip: params.opt("FromZip"),
                country: params.opt("FromCountry"),
            },
            params,
        })
    }
}

/// An outbound message status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsStatusCallback {
    /// `MessageSid` (or `SmsSid`).
    pub message_sid: String,
    /// `AccountSid`.
    pub account_sid: String,
    /// `MessageStatus` (or `SmsStatus`).
    pub status: MessageStatus,
    /// `ErrorCode` on failed/undelivered.
    pub error_code: Option<String>,
    /// `ErrorMessage`, sometimes.
    pub error_message: Option<String>,
    /// `From`.
    pub from: Option<String>,
    /// `To`.
    pub to: Option<String>,
    /// Every parameter as received.
    pub params: Params,
}

impl SmsStatusCallback {
    /// Parses the parameters; the sid, account and status are required.
    pub fn from_params(params: Params) -> Result<Self, WebhookError> {
        Ok(Self {
            message_sid: params
                .opt("MessageSid")
                .or_else(|| params.opt("SmsSid"))
                .ok_or(WebhookError::Missing("MessageSid"))?,
            account_sid: params.req("AccountSid")?,
            status: parse_enum(
                &params
                    .opt("MessageStatus")
                    .or_else(|| params.opt("SmsStatus"))
                    .ok_or(WebhookError::Missing("MessageStatus"))?,
            ),
            error_code: params.opt("ErrorCode"),
            error_message: params.opt("ErrorMessage"),
            from: params.opt("From"),
            to: params.opt("To"),
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Params {
        Params::parse_form(s.as_bytes()).expect("form")
    }

    const BASE: &str = "CallSid=CAaaa&AccountSid=ACbbb&From=%2B15550001111&To=%2B15551230001&Direction=inbound&ApiVersion=2010-04-01";

    #[test]
    fn incoming_call_with_caller_details_and_unknown_fields() {
        let c = IncomingCall::from_params(p(&format!(
            "{BASE}&CallStatus=ringing&CallerName=JANE+DOE&FromCity=AUSTIN&FromState=TX&FromZip=78701&FromCountry=US&StirVerstat=TN-Validation-Passed-A&NewThing=x"
        )))
        .expect("parse");
        assert_eq!(c.call.from, "+15550001111");
        assert_eq!(c.call.call_status, Some(CallStatus::Ringing));
        assert_eq!(c.call.caller.name.as_deref(), Some("JANE DOE"));
        assert_eq!(c.call.caller.zip.as_deref(), Some("78701"));
        assert_eq!(c.params.get("NewThing"), Some("x"));
        assert_eq!(c.digits, None);
    }

    #[test]
    fn anonymous_and_client_callers_are_kept_as_sent() {
        let c = IncomingCall::from_params(p(
            "CallSid=CA1&AccountSid=AC1&From=client%3Aalice&To=%2B15551230001",
        ))
        .expect("parse");
        assert_eq!(c.call.from, "client:alice");
        let c = IncomingCall::from_params(p("CallSid=CA1&AccountSid=AC1&To=%2B15551230001"))
            .expect("parse");
        assert_eq!(c.call.from, "anonymous");
    }

    #[test]
    fn missing_required_fields_are_typed_errors() {
        assert_eq!(
            IncomingCall::from_params(p("AccountSid=AC1")),
            Err(WebhookError::Missing("CallSid"))
        );
        assert_eq!(
            IncomingCall::from_params(p("CallSid=&AccountSid=AC1")),
            Err(WebhookError::Missing("CallSid"))
        );
        assert_eq!(
            CallStatusCallback::from_params(p(BASE)).err(),
            Some(WebhookError::Missing("CallStatus"))
        );
        assert_eq!(
            DialAction::from_params(p(BASE)).err(),
            Some(WebhookError::Missing("DialCallStatus"))
        );
        assert_eq!(
            NumberStatus::from_params(p(&format!("{BASE}&CallStatus=ringing"))).err(),
            Some(WebhookError::Missing("ParentCallSid"))
        );
        assert_eq!(
            RecordingStatusCallback::from_params(p(BASE)).err(),
            Some(WebhookError::Missing("RecordingSid"))
        );
        assert_eq!(
            SmsStatusCallback::from_params(p("MessageSid=SM1&AccountSid=AC1")).err(),
            Some(WebhookError::Missing("MessageStatus"))
        );
        assert_eq!(
            TranscriptReady::parse(b"{}").err(),
            Some(WebhookError::Missing("transcript_sid"))
        );
        assert!(matches!(
            TranscriptReady::parse(b"{nope"),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn numbers_that_are_not_numbers_are_invalid() {
        let e = CallStatusCallback::from_params(p(&format!(
            "{BASE}&CallStatus=completed&CallDuration=abc"
        )));
        assert_eq!(e.err(), Some(WebhookError::Invalid("CallDuration")));
        let e = DialAction::from_params(p(&format!(
            "{BASE}&DialCallStatus=completed&DialBridged=maybe"
        )));
        assert_eq!(e.err(), Some(WebhookError::Invalid("DialBridged")));
    }

    #[test]
    fn status_callback_fields() {
        let s = CallStatusCallback::from_params(p(&format!(
            "{BASE}&CallStatus=completed&CallDuration=65&Duration=2&SequenceNumber=3&Timestamp=Tue%2C+14+Apr+2026+09%3A26%3A42+%2B0000&CallbackSource=call-progress-events&SipResponseCode=200&CallerName="
        )))
        .expect("parse");
        assert_eq!(s.call.call_status, Some(CallStatus::Completed));
        assert!(
            s.call
                .call_status
                .as_ref()
                .is_some_and(CallStatus::is_terminal)
        );
        assert_eq!(s.call_duration, Some(65));
        assert_eq!(s.sequence_number, Some(3));
        assert_eq!(s.sip_response_code, Some(200));
        assert_eq!(
            s.call.caller.name, None,
            "empty optional params count as absent"
        );
    }

    #[test]
    fn dial_action_and_number_leg() {
        let d = DialAction::from_params(p(&format!(
            "{BASE}&CallStatus=in-progress&DialCallStatus=no-answer&DialCallSid=CAchild&DialCallDuration=0&DialBridged=false"
        )))
        .expect("parse");
        assert_eq!(d.dial_call_status, DialCallStatus::NoAnswer);
        assert_eq!(d.dial_bridged, Some(false));
        let n = NumberStatus::from_params(p(
            "CallSid=CAchild&AccountSid=AC1&ParentCallSid=CAaaa&CallStatus=in-progress&Direction=outbound-dial&From=%2B15551230001&To=%2B15557654321",
        ))
        .expect("parse");
        assert_eq!(n.parent_call_sid, "CAaaa");
        assert_eq!(n.leg.call.direction.as_deref(), Some("outbound-dial"));
        let odd = DialAction::from_params(p(&format!("{BASE}&DialCallStatus=something-new")))
            .expect("parse");
        assert_eq!(
            odd.dial_call_status,
            DialCallStatus::Other("something-new".into())
        );
    }

    #[test]
    fn recording_status() {
        let r = RecordingStatusCallback::from_params(p(
            "AccountSid=AC1&CallSid=CA1&RecordingSid=RE1&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC1%2FRecordings%2FRE1&RecordingStatus=completed&RecordingDuration=42&RecordingChannels=2&RecordingSource=DialVerb",
        ))
        .expect("parse");
        assert_eq!(r.status, RecordingStatus::Completed);
        assert_eq!(r.duration, Some(42));
        assert_eq!(r.channels, Some(2));
        assert_eq!(r.source.as_deref(), Some("DialVerb"));
    }

    #[test]
    fn realtime_transcription() {
        let data = serde_urlencoded::to_string([(
            "TranscriptionData",
            r#"{"transcript":"I'd like to book","confidence":0.93}"#,
        )])
        .expect("encode");
        let t = RealtimeTranscription::from_params(p(&format!(
            "AccountSid=AC1&CallSid=CA1&TranscriptionSid=GT1&TranscriptionEvent=transcription-content&SequenceId=4&Track=inbound_track&Final=true&{data}"
        )))
        .expect("parse");
        assert_eq!(t.event, TranscriptionEvent::Content);
        assert_eq!(
            t.data.as_ref().map(|d| d.transcript.as_str()),
            Some("I'd like to book")
        );
        assert_eq!(t.is_final, Some(true));
        let bad = RealtimeTranscription::from_params(p(
            "AccountSid=AC1&CallSid=CA1&TranscriptionEvent=transcription-content&TranscriptionData=nope",
        ));
        assert_eq!(bad.err(), Some(WebhookError::Invalid("TranscriptionData")));
    }

    #[test]
    fn transcript_ready_form_and_json() {
        assert_eq!(
            TranscriptReady::parse(b"TranscriptSid=GT1&ServiceSid=GA1")
                .expect("form")
                .transcript_sid,
            "GT1"
        );
        let j = TranscriptReady::parse(br#" {"transcript_sid":"GT2","service_sid":"GA1","event_type":"voice_intelligence_transcript_available"}"#).expect("json");
        assert_eq!(j.transcript_sid, "GT2");
        assert_eq!(j.service_sid.as_deref(), Some("GA1"));
    }

    #[test]
    fn inbound_sms_with_media() {
        let s = InboundSms::from_params(p(
            "MessageSid=MM1&SmsSid=MM1&AccountSid=AC1&From=%2B15550001111&To=%2B15551230001&Body=Hi+%F0%9F%91%8B&NumMedia=2&NumSegments=1&MediaUrl0=https%3A%2F%2Fm%2F0&MediaContentType0=image%2Fjpeg&MediaUrl1=https%3A%2F%2Fm%2F1",
        ))
        .expect("parse");
        assert_eq!(s.body, "Hi 👋");
        assert_eq!(s.media.len(), 2);
        assert_eq!(s.media[0].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(s.media[1].content_type, None);
        let legacy =
            InboundSms::from_params(p("SmsSid=SM9&AccountSid=AC1&From=a&To=b")).expect("parse");
        assert_eq!(legacy.message_sid, "SM9");
        assert_eq!(legacy.body, "");
    }

    #[test]
    fn sms_status() {
        let s = SmsStatusCallback::from_params(p("MessageSid=SM1&AccountSid=AC1&SmsStatus=undelivered&MessageStatus=undelivered&ErrorCode=30003")).expect("parse");
        assert_eq!(s.status, MessageStatus::Undelivered);
        assert_eq!(s.error_code.as_deref(), Some("30003"));
    }

    #[test]
    fn malformed_body() {
        assert!(matches!(
            Params::parse_form(&[0xff, 0xfe, b'=', b'x']),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn repeated_keys_are_kept() {
        let params = p("A=1&A=2&B=");
        assert_eq!(params.pairs().len(), 3);
        assert_eq!(params.get("A"), Some("1"));
        assert_eq!(params.get("B"), None);
    }
}
