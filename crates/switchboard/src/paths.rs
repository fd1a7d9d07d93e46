//! The paths of every route Twilio calls, in one place: the router mounts them and the
//! call flow builds its callback URLs from them, so the two cannot drift apart. The
//! aliases are the paths the systems we replace configured on their numbers.

/// Incoming call and the menu's Gather action.
pub const INCOMING: &str = "/api/twilio/voice/incoming";
/// Parent call status.
pub const STATUS: &str = "/api/twilio/voice/status-callback";
/// Dial action and Number leg status.
pub const DIAL_STATUS: &str = "/api/twilio/voice/dial-status";
/// The whisper for the answering staff.
pub const WHISPER: &str = "/api/twilio/voice/whisper";
/// Voicemail prompt (GET and POST).
pub const VOICEMAIL: &str = "/api/twilio/voice/voicemail";
/// Voicemail recording ready.
pub const VOICEMAIL_STATUS: &str = "/api/twilio/voice/voicemail-status";
/// Main recording ready.
pub const RECORDING_STATUS: &str = "/api/twilio/voice/recording-status";
/// Real-time transcription.
pub const TRANSCRIPTION: &str = "/api/twilio/voice/transcription";
/// The AI receptionist's turns: its speech Gather's action (and fallthrough).
pub const AGENT: &str = "/api/twilio/voice/agent";
/// Inbound SMS.
pub const SMS: &str = "/api/twilio/sms";
/// The Voice URL of the softphone's TwiML App: Twilio calls it when a browser dials.
pub const VOICE_CLIENT: &str = "/api/twilio/voice/client";
/// The seed's name for it.
pub const VOICE_CLIENT_ALIAS: &str = "/api/twilio/voice-webhook";
/// What a click-to-call does once the staff member's own phone answers: dial the
/// customer (the customer's number rides in the query, signed with the rest).
pub const CLICK_TO_CALL: &str = "/api/twilio/voice/click-to-call";
/// Outbound SMS status.
pub const SMS_STATUS: &str = "/api/twilio/sms/status";
/// A Voice Intelligence transcript is ready.
pub const CI_STATUS: &str = "/api/twilio/ci-status";

/// Aliases of [`INCOMING`].
pub const INCOMING_ALIASES: &[&str] = &["/api/twilio/voice", "/api/webhooks/twilio/voice"];
/// Aliases of [`STATUS`].
pub const STATUS_ALIASES: &[&str] = &[
    "/api/webhooks/twilio/voice/status",
    "/api/twilio/call-status",
];
/// Aliases of [`RECORDING_STATUS`].
pub const RECORDING_STATUS_ALIASES: &[&str] = &["/api/twilio/recording-status"];
/// Aliases of [`SMS`].
pub const SMS_ALIASES: &[&str] = &["/api/webhooks/twilio/sms"];
