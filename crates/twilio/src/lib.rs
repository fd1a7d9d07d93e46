//! # twilio — the Twilio protocol, nothing else
//!
//! The pieces Switchboard needs to talk to Twilio, with no database and no web
//! framework in them:
//!
//! - [`signature`]: compute and check `X-Twilio-Signature` exactly as Twilio's helper
//!   libraries do (port variants, repeated keys, `bodySHA256`).
//! - [`twiml`]: typed builders for voice and messaging TwiML.
//! - [`webhook`]: typed payloads of every callback Switchboard receives.
//! - [`client`]: an async REST client (numbers, calls, messages, recordings, Voice
//!   Intelligence) with API-key-first authentication, retries and typed errors.
//! - [`token`]: Voice SDK access tokens.
//! - [`sid`]: recognising and masking SIDs.
//!
//! ```
//! use twilio::signature::RequestValidator;
//! use twilio::twiml::{Say, VoiceResponse};
//! use twilio::webhook::{IncomingCall, Params};
//!
//! // Twilio posts an incoming call …
//! let url = "https://switchboard.example.com/api/twilio/voice/incoming";
//! let body = b"CallSid=CA1&AccountSid=AC1&From=%2B15550001111&To=%2B15551230001&CallStatus=ringing";
//! let params = Params::parse_form(body).unwrap();
//! let validator = RequestValidator::new("auth-token");
//! let signature = validator.compute_signature(url, params.pairs());
//!
//! // … we check the signature, read the payload and answer with TwiML.
//! assert!(validator.validate(url, params.pairs(), &signature));
//! let call = IncomingCall::from_params(params).unwrap();
//! let twiml = VoiceResponse::new().push(Say::new(format!("Hello caller {}", call.call.from)));
//! assert!(twiml.to_xml().starts_with("<?xml"));
//! ```
#![warn(missing_docs)]

pub mod client;
pub mod sid;
pub mod signature;
pub mod token;
pub mod twiml;
pub mod webhook;
