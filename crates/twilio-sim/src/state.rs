//! What the simulated Twilio knows: accounts, their keys, numbers, calls,
//! recordings, messages and transcripts.

use std::collections::BTreeMap;

use rand::RngCore as _;
use serde_json::{Value, json};

/// Twilio-style SID: a two-letter prefix and 32 hex digits.
pub fn sid(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Twilio's date format (RFC 2822).
/// Voice Intelligence (v2) dates: ISO 8601.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

pub fn rfc2822(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .and_then(|t| jiff::fmt::rfc2822::to_string(&t.to_zoned(jiff::tz::TimeZone::UTC)).ok())
        .unwrap_or_default()
}

/// A number on an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberRecord {
    /// `PN…`.
    pub sid: String,
    /// E.164.
    pub phone_number: String,
    /// Display name.
    pub friendly_name: String,
    /// Where incoming calls go.
    pub voice_url: Option<String>,
    /// `GET` or `POST`.
    pub voice_method: String,
    /// Where call status goes.
    pub status_callback: Option<String>,
    /// Where incoming texts go.
    pub sms_url: Option<String>,
    /// When bought.
    pub date_created: i64,
    /// Everything else a number update may set, as Twilio echoes it back
    /// (`SmsMethod`, `StatusCallbackMethod`, `VoiceFallbackUrl`, …; parameter name →
    /// value).
    pub settings: BTreeMap<String, String>,
    /// When it last changed (0: never).
    pub date_updated: i64,
}

/// A TwiML App (`Applications.json`): where a Voice SDK browser's calls go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplicationRecord {
    /// `AP…`.
    pub sid: String,
    /// Display name.
    pub friendly_name: String,
    /// Everything an Application create or update sets (`VoiceUrl`, `VoiceMethod`,
    /// `StatusCallback`, `SmsUrl`, …; parameter name → value).
    pub settings: BTreeMap<String, String>,
    /// When made.
    pub date_created: i64,
    /// When it last changed.
    pub date_updated: i64,
}

impl ApplicationRecord {
    /// A setting, when given.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }

    /// As Twilio answers it.
    pub fn json(&self, account: &str) -> Value {
        let opt = |name: &str| self.setting(name).map_or(Value::Null, |v| json!(v));
        let method = |name: &str| self.setting(name).unwrap_or("POST").to_owned();
        json!({
            "sid": self.sid,
            "account_sid": account,
            "friendly_name": self.friendly_name,
            "api_version": "2010-04-01",
            "voice_url": opt("VoiceUrl"),
            "voice_method": method("VoiceMethod"),
            "voice_fallback_url": opt("VoiceFallbackUrl"),
            "voice_fallback_method": method("VoiceFallbackMethod"),
            "voice_caller_id_lookup": self.setting("VoiceCallerIdLookup") == Some("true"),
            "status_callback": opt("StatusCallback"),
            "status_callback_method": method("StatusCallbackMethod"),
            "sms_url": opt("SmsUrl"),
            "sms_method": method("SmsMethod"),
            "sms_fallback_url": opt("SmsFallbackUrl"),
            "sms_fallback_method": method("SmsFallbackMethod"),
            "sms_status_callback": opt("SmsStatusCallback"),
            "message_status_callback": opt("MessageStatusCallback"),
            "public_application_connect_enabled": self.setting("PublicApplicationConnectEnabled") != Some("false"),
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated.max(self.date_created)),
            "uri": uri(account, &format!("Applications/{}.json", self.sid)),
        })
    }
}

/// A call leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// `CA…`.
    pub sid: String,
    /// The caller's leg, for dialed legs.
    pub parent_call_sid: Option<String>,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// Current status.
    pub status: String,
    /// `inbound`, `outbound-api`, `outbound-dial`.
    pub direction: String,
    /// Seconds, once ended.
    pub duration: Option<u32>,
    /// Unix ms.
    pub start_time: i64,
    /// Unix ms.
    pub end_time: Option<i64>,
}

/// A recording and what was said on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRecord {
    /// `RE…`.
    pub sid: String,
    /// The recorded call.
    pub call_sid: String,
    /// Seconds.
    pub duration: u32,
    /// `DialVerb` or `RecordVerb`.
    pub source: String,
    /// 1 or 2.
    pub channels: u8,
    /// Unix ms.
    pub date_created: i64,
    /// The conversation heard on it (speaker, text), for transcripts.
    pub script: Vec<(String, String)>,
}

/// A text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// `SM…`.
    pub sid: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Text.
    pub body: String,
    /// `queued`, `sent`, `delivered`, …
    pub status: String,
    /// `inbound` or `outbound-api`.
    pub direction: String,
    /// On failure.
    pub error_code: Option<i64>,
    /// Unix ms.
    pub date_created: i64,
}

/// A Voice Intelligence transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptRecord {
    /// `GT…`.
    pub sid: String,
    /// `GA…`.
    pub service_sid: String,
    /// The recording transcribed.
    pub recording_sid: String,
    /// Caller's key.
    pub customer_key: Option<String>,
    /// `queued`, `completed`.
    pub status: String,
    /// Seconds.
    pub duration: u32,
    /// The conversation.
    pub script: Vec<(String, String)>,
    /// When it was created (Unix ms).
    pub date_created: i64,
    /// When its status last changed (0: never).
    pub date_updated: i64,
}

/// One Twilio account.
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// `AC…`.
    pub sid: String,
    /// When the account was made (Unix ms).
    pub date_created: i64,
    /// Display name.
    pub friendly_name: String,
    /// Signs webhooks; authenticates REST calls.
    pub auth_token: String,
    /// API keys: (sid, secret).
    pub api_keys: Vec<(String, String)>,
    /// Numbers, in purchase order.
    pub numbers: Vec<NumberRecord>,
    /// Calls by sid.
    pub calls: BTreeMap<String, CallRecord>,
    /// Recordings by sid.
    pub recordings: BTreeMap<String, RecordingRecord>,
    /// Messages by sid.
    pub messages: BTreeMap<String, MessageRecord>,
    /// Transcripts by sid.
    pub transcripts: BTreeMap<String, TranscriptRecord>,
    /// TwiML Apps by sid.
    pub applications: BTreeMap<String, ApplicationRecord>,
    /// Voice Intelligence services and their webhook URLs.
    pub vi_services: BTreeMap<String, Option<String>>,
    /// (our number, recipient) pairs where the recipient texted STOP to our number:
    /// Twilio refuses to send between them (21610) until the recipient texts START.
    pub opted_out: std::collections::BTreeSet<(String, String)>,
    /// `active` (when empty), `suspended` or `closed`.
    pub status: String,
    /// How long the account's REST answers take, to play a slow Twilio (ms).
    pub answer_delay_ms: u64,
}

/// Every account.
#[derive(Debug, Default)]
pub struct State {
    /// Accounts by sid.
    pub accounts: BTreeMap<String, Account>,
    /// How phones outside any account behave when the simulator calls them (a staff
    /// member's mobile, a customer, a browser's `client:…`); others answer.
    pub phones: BTreeMap<String, crate::caller::Staff>,
    /// What happened on each call created through the REST API, once it ended.
    pub outbound_reports: BTreeMap<String, crate::caller::CallReport>,
}

impl State {
    /// The account that owns a number, and the number.
    pub fn number_owner(&self, phone_number: &str) -> Option<(&Account, &NumberRecord)> {
        self.accounts.values().find_map(|a| {
            a.numbers
                .iter()
                .find(|n| n.phone_number == phone_number)
                .map(|n| (a, n))
        })
    }
}

fn uri(account: &str, rest: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/{rest}")
}

impl Account {
    /// The account resource.
    pub fn json(&self) -> Value {
        json!({
            "sid": self.sid,
            "friendly_name": self.friendly_name,
            "status": if self.status.is_empty() { "active" } else { self.status.as_str() },
            "type": "Full",
            "owner_account_sid": self.sid,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_created),
            "auth_token": "[redacted]",
            "uri": format!("/2010-04-01/Accounts/{}.json", self.sid),
            "subresource_uris": {},
        })
    }
}

impl NumberRecord {
    /// A setting a number update stored, else Twilio's default.
    fn setting(&self, name: &str, default: &str) -> Value {
        self.settings.get(name).map_or_else(
            || Value::String(default.to_owned()),
            |v| Value::String(v.clone()),
        )
    }

    fn optional(&self, name: &str) -> Value {
        self.settings
            .get(name)
            .map_or(Value::Null, |v| Value::String(v.clone()))
    }

    pub fn json(&self, account: &str) -> Value {
        json!({
            "sid": self.sid,
            "account_sid": account,
            "phone_number": self.phone_number,
            "friendly_name": self.friendly_name,
            "voice_url": self.voice_url,
            "voice_method": self.voice_method,
            "voice_fallback_url": self.optional("VoiceFallbackUrl"),
            "voice_fallback_method": self.setting("VoiceFallbackMethod", "POST"),
            "voice_application_sid": self.optional("VoiceApplicationSid"),
            "voice_caller_id_lookup": self.settings.get("VoiceCallerIdLookup").is_some_and(|v| v == "true"),
            "voice_receive_mode": self.setting("VoiceReceiveMode", "voice"),
            "status_callback": self.status_callback,
            "status_callback_method": self.setting("StatusCallbackMethod", "POST"),
            "sms_url": self.sms_url,
            "sms_method": self.setting("SmsMethod", "POST"),
            "sms_fallback_url": self.optional("SmsFallbackUrl"),
            "sms_fallback_method": self.setting("SmsFallbackMethod", "POST"),
            "sms_application_sid": self.optional("SmsApplicationSid"),
            "trunk_sid": self.optional("TrunkSid"),
            "address_sid": null,
            "address_requirements": "none",
            "bundle_sid": null,
            "identity_sid": null,
            "emergency_status": "Inactive",
            "emergency_address_sid": null,
            "emergency_address_status": "unregistered",
            "beta": false,
            "origin": "twilio",
            "type": "local",
            "capabilities": {"voice": true, "sms": true, "mms": true, "fax": false},
            "status": "in-use",
            "api_version": "2010-04-01",
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated.max(self.date_created)),
            "uri": uri(account, &format!("IncomingPhoneNumbers/{}.json", self.sid)),
        })
    }
}

impl CallRecord {
    /// The Call resource.
    pub fn json(&self, account: &str) -> Value {
        json!({
            "sid": self.sid,
            "account_sid": account,
            "parent_call_sid": self.parent_call_sid,
            "from": self.from,
            "to": self.to,
            "status": self.status,
            "direction": self.direction,
            "duration": self.duration.map(|d| d.to_string()),
            "start_time": rfc2822(self.start_time),
            "end_time": self.end_time.map(rfc2822),
            "date_created": rfc2822(self.start_time),
            "date_updated": rfc2822(self.end_time.unwrap_or(self.start_time)),
            "from_formatted": self.from,
            "to_formatted": self.to,
            "caller_name": null,
            "answered_by": null,
            "forwarded_from": null,
            "group_sid": null,
            "trunk_sid": null,
            "phone_number_sid": null,
            "queue_time": "0",
            "subresource_uris": {
                "recordings": uri(account, &format!("Calls/{}/Recordings.json", self.sid)),
                "notifications": uri(account, &format!("Calls/{}/Notifications.json", self.sid)),
            },
            "price": self.duration.map(|d| format!("-{:.5}", 0.0085 * f64::from(d.div_ceil(60)))),
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "uri": uri(account, &format!("Calls/{}.json", self.sid)),
        })
    }
}

impl RecordingRecord {
    /// The Recording resource.
    /// The resource; `base` is where this simulator serves (its media too).
    pub fn json(&self, account: &str, base: &str) -> Value {
        json!({
            "sid": self.sid,
            "account_sid": account,
            "call_sid": self.call_sid,
            "duration": self.duration.to_string(),
            "status": "completed",
            "channels": self.channels,
            "source": self.source,
            "start_time": rfc2822(self.date_created),
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_created),
            "conference_sid": null,
            "error_code": null,
            "encryption_details": null,
            "subresource_uris": {},
            "price": "-0.00250",
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "media_url": format!("{base}{}", uri(account, &format!("Recordings/{}", self.sid))),
            "uri": uri(account, &format!("Recordings/{}.json", self.sid)),
        })
    }
}

impl MessageRecord {
    /// The Message resource.
    pub fn json(&self, account: &str) -> Value {
        json!({
            "sid": self.sid,
            "account_sid": account,
            "from": self.from,
            "to": self.to,
            "body": self.body,
            "status": self.status,
            "direction": self.direction,
            "num_segments": "1",
            "num_media": "0",
            "error_code": self.error_code,
            "error_message": self.error_code.map(|_| "Unreachable destination handset"),
            "price": null,
            "price_unit": "USD",
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_created),
            "messaging_service_sid": null,
            "subresource_uris": {
                "media": uri(account, &format!("Messages/{}/Media.json", self.sid)),
            },
            "api_version": "2010-04-01",
            "uri": uri(account, &format!("Messages/{}.json", self.sid)),
        })
    }
}

impl TranscriptRecord {
    /// The Voice Intelligence Transcript resource.
    pub fn json(&self, account: &str) -> Value {
        json!({
            "sid": self.sid,
            "account_sid": account,
            "service_sid": self.service_sid,
            "status": self.status,
            "customer_key": self.customer_key,
            "duration": self.duration,
            "language_code": "en-US",
            "channel": {"media_properties": {"source_sid": self.recording_sid}},
            "data_logging": false,
            "redaction": true,
            "date_created": rfc3339(self.date_created),
            "date_updated": rfc3339(self.date_updated.max(self.date_created)),
            "url": format!("https://intelligence.twilio.com/v2/Transcripts/{}", self.sid),
            "links": {
                "sentences": format!("https://intelligence.twilio.com/v2/Transcripts/{}/Sentences", self.sid),
                "operator_results": format!("https://intelligence.twilio.com/v2/Transcripts/{}/OperatorResults", self.sid),
            },
        })
    }

    /// Operator results: a conversation summary and a classification, derived from
    /// the conversation.
    /// One page of the transcript's sentences.
    pub fn sentences(&self, page: usize, size: usize) -> Value {
        let url = |p: usize| {
            format!(
                "https://intelligence.twilio.com/v2/Transcripts/{}/Sentences?PageSize={size}&Page={p}",
                self.sid
            )
        };
        let sentences: Vec<Value> = self
            .script
            .iter()
            .enumerate()
            .skip(page * size)
            .take(size)
            .map(|(i, (who, text))| {
                json!({
                    "media_channel": if who == "caller" { 1 } else { 2 },
                    "sentence_index": i,
                    "start_time": null,
                    "end_time": null,
                    "transcript": text,
                    "sid": format!("GX{:032x}", i + 1),
                    "confidence": "0.93",
                    "words": null,
                })
            })
            .collect();
        let more = (page + 1) * size < self.script.len();
        json!({
            "sentences": sentences,
            "meta": {
                "key": "sentences", "page": page, "page_size": size,
                "first_page_url": url(0),
                "url": url(page),
                "next_page_url": if more { Value::String(url(page + 1)) } else { Value::Null },
                "previous_page_url": if page > 0 { Value::String(url(page - 1)) } else { Value::Null },
            }
        })
    }

    /// The Voice Intelligence operator results.
    pub fn operator_results(&self) -> Value {
        let caller_lines: Vec<&str> = self
            .script
            .iter()
            .filter(|(who, _)| who == "caller")
            .map(|(_, t)| t.as_str())
            .collect();
        let all = self
            .script
            .iter()
            .map(|(_, t)| t.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        let summary = match caller_lines.first() {
            Some(first) => format!(
                "The caller said: \"{first}\". {} The call lasted about {} seconds.",
                if all.contains("book") || all.contains("appointment") {
                    "They discussed booking an appointment."
                } else {
                    "They asked a question."
                },
                self.duration
            ),
            None => format!(
                "A {}-second call with no recognisable speech.",
                self.duration
            ),
        };
        let label = if all.contains("cancel") {
            "CANCEL_APPOINTMENT"
        } else if all.contains("reschedule") || all.contains("move my") {
            "MODIFY_APPOINTMENT"
        } else if all.contains("book") || all.contains("appointment") {
            "SETUP_APPOINTMENT"
        } else if all.contains("hours") || all.contains("open") {
            "GET_HOURS"
        } else if all.contains("cost") || all.contains("price") {
            "GET_PRICING"
        } else {
            "OTHER"
        };
        json!({
            "operator_results": [
                {
                    "operator_type": "text-generation",
                    "name": "Conversation Summary",
                    "operator_sid": "LY00000000000000000000000000000001",
                    "text_generation_results": {"format": "text", "result": summary},
                    "transcript_sid": self.sid,
                    "url": format!("https://intelligence.twilio.com/v2/Transcripts/{}/OperatorResults/LY00000000000000000000000000000001", self.sid),
                },
                {
                    "operator_type": "conversation-classify",
                    "name": "Call Reason",
                    "operator_sid": "LY00000000000000000000000000000002",
                    "predicted_label": label,
                    "predicted_probability": 0.9,
                    "transcript_sid": self.sid,
                    "url": format!("https://intelligence.twilio.com/v2/Transcripts/{}/OperatorResults/LY00000000000000000000000000000002", self.sid),
                }
            ],
            "meta": {
                "page": 0, "page_size": 50, "key": "operator_results",
                "first_page_url": format!("https://intelligence.twilio.com/v2/Transcripts/{}/OperatorResults?PageSize=50&Page=0", self.sid),
                "previous_page_url": null, "next_page_url": null,
                "url": format!("https://intelligence.twilio.com/v2/Transcripts/{}/OperatorResults?PageSize=50&Page=0", self.sid),
            }
        })
    }
}
