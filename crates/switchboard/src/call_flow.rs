//! What a caller hears: TwiML from a tenant's effective settings. Pure functions of
//! their inputs (settings, step, time), so every path is unit-tested.

use twilio::twiml::{
    Client, Dial, Gather, Hangup, Number, Pause, Record, Redirect, Say, Start, Transcription,
    VoiceResponse,
};

use crate::receptionist::{self, Action, Topic, Utterance};
use crate::telephony::{AfterHoursAction, EffectiveSettings, RoutingMode};

use crate::paths;

const DISCLOSURE: &str = "This call may be recorded for quality and training purposes.";
const VOICEMAIL_PROMPT: &str =
    "Sorry we missed your call. Please leave a message after the beep, and we will call you back.";
/// A menu is offered this many times before the default forward.
pub const MENU_ATTEMPTS: u8 = 2;

/// Which request of the call we are answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The call arrived, or the menu came back (`attempt` ≥ 1) with or without digits.
    Incoming {
        /// How many times the menu was offered already.
        attempt: u8,
        /// What the caller pressed.
        digits: Option<String>,
    },
    /// The dial ended; `answered` says whether staff picked up.
    DialEnded {
        /// Staff answered.
        answered: bool,
    },
    /// The Dial of a call staff placed ended: nobody is sent to voicemail.
    OutboundEnded {
        /// The customer answered.
        answered: bool,
    },
    /// The voicemail prompt.
    Voicemail,
    /// After the voicemail was recorded.
    VoicemailDone,
    /// The whisper to the answering staff.
    Whisper {
        /// The menu choice, if any.
        choice: Option<String>,
        /// What the caller asked the AI receptionist about, if it put them through.
        topic: Option<Topic>,
    },
}

fn say(s: &EffectiveSettings, text: &str) -> Say {
    Say::new(text).voice(&s.voice)
}

fn url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// Forward target: digit 1 → new, else default, else existing; digit 2 → the mirror;
/// no menu → default, else new, else existing.
pub fn forward_target(s: &EffectiveSettings, digit: Option<&str>) -> Option<String> {
    let (default, new, existing) = (
        &s.forward_number,
        &s.forward_number_new,
        &s.forward_number_existing,
    );
    let order = match digit {
        Some("1") => [new, default, existing],
        Some("2") => [existing, default, new],
        _ => [default, new, existing],
    };
    order.into_iter().find_map(Clone::clone)
}

/// The voicemail TwiML.
pub fn voicemail(s: &EffectiveSettings, base: &str, prompt: Option<&str>) -> VoiceResponse {
    VoiceResponse::new()
        .push(say(s, prompt.unwrap_or(VOICEMAIL_PROMPT)))
        .push(
            Record::new()
                .max_length(120)
                .play_beep(true)
                .timeout(5)
                .action(&url(base, &format!("{}?done=1", paths::VOICEMAIL)))
                .method("POST")
                .recording_status_callback(&url(base, paths::VOICEMAIL_STATUS))
                .recording_status_callback_method("POST"),
        )
        .push(say(s, "We did not receive a message. Goodbye."))
        .push(Hangup::new())
}

fn dial(
    s: &EffectiveSettings,
    base: &str,
    tracking_number: &str,
    target: &str,
    whisper_query: Option<String>,
    mut response: VoiceResponse,
) -> VoiceResponse {
    if s.recording_enabled || s.transcription_enabled {
        response = response.push(say(s, DISCLOSURE));
    }
    if s.transcription_enabled {
        response = response.push(
            Start::new().transcription(
                Transcription::new(&url(base, paths::TRANSCRIPTION))
                    .track("both_tracks")
                    .partial_results(false),
            ),
        );
    }
    let whisper = match whisper_query {
        Some(q) => url(base, &format!("{}?{q}", paths::WHISPER)),
        None => url(base, paths::WHISPER),
    };
    let number = reported(Number::new(target).url(&whisper).method("POST"), base);
    // Browsers ring alongside the phone; the first to answer takes the call.
    let mut d = dialing(s, base, tracking_number);
    for identity in &s.browser_identities {
        d = d.push(
            Client::new(identity)
                .url(&whisper)
                .method("POST")
                .status_callback(&url(base, paths::DIAL_STATUS))
                .status_callback_method("POST")
                .status_callback_event(LEG_EVENTS),
        );
    }
    response.push(d.push(number))
}

/// The progress a dialled leg reports.
const LEG_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

/// A dialed number whose leg reports its progress to the Dial status path.
fn reported(number: Number, base: &str) -> Number {
    number
        .status_callback(&url(base, paths::DIAL_STATUS))
        .status_callback_method("POST")
        .status_callback_event(LEG_EVENTS)
}

/// The Dial both directions use: the tracking number as caller id, the action and the
/// recording (per the tenant's setting) reported to our paths.
fn dialing(s: &EffectiveSettings, base: &str, caller_id: &str) -> Dial {
    let d = Dial::new()
        .caller_id(caller_id)
        .timeout(30)
        .action(&url(base, paths::DIAL_STATUS))
        .method("POST");
    if s.recording_enabled {
        d.record("record-from-answer-dual")
            .recording_status_callback(&url(base, paths::RECORDING_STATUS))
            .recording_status_callback_method("POST")
            .recording_status_callback_event(["completed", "absent"])
    } else {
        d
    }
}

/// A call a staff member placed from the browser: the customer is dialled with the
/// tracking number as caller id, answered on bridge, recorded per the tenant's setting,
/// with the same status and recording callbacks as an inbound call's Dial.
pub fn outbound(s: &EffectiveSettings, base: &str, caller_id: &str, to: &str) -> VoiceResponse {
    let d = dialing(s, base, caller_id).answer_on_bridge(true);
    VoiceResponse::new().push(d.push(reported(Number::new(to), base)))
}

/// Click-to-call once the staff member picks up their own phone: they hear who is being
/// called, then the customer is dialled like a browser's call.
pub fn click_to_call(
    s: &EffectiveSettings,
    base: &str,
    caller_id: &str,
    to: &str,
) -> VoiceResponse {
    let spoken: String = to
        .trim_start_matches("+1")
        .chars()
        .map(|c| format!("{c} "))
        .collect();
    let d = dialing(s, base, caller_id).answer_on_bridge(true);
    VoiceResponse::new()
        .push(say(s, &format!("Calling {}.", spoken.trim_end())))
        .push(d.push(reported(Number::new(to), base)))
}

/// What a browser hears when its call is refused (nothing is dialled).
pub fn refuse_outbound(s: &EffectiveSettings, why: &str) -> VoiceResponse {
    VoiceResponse::new().push(say(s, why)).push(Hangup::new())
}

fn forward_or_voicemail(
    s: &EffectiveSettings,
    base: &str,
    tracking_number: &str,
    choice: Option<&str>,
    prefix: VoiceResponse,
) -> VoiceResponse {
    match forward_target(s, choice) {
        Some(target) => dial(
            s,
            base,
            tracking_number,
            &target,
            choice.map(|c| format!("choice={c}")),
            prefix,
        ),
        None => voicemail(s, base, None),
    }
}

fn menu(s: &EffectiveSettings, base: &str, attempt: u8) -> VoiceResponse {
    let again = url(base, &format!("{}?attempt={attempt}", paths::INCOMING));
    VoiceResponse::new()
        .push(
            Gather::new()
                .num_digits(1)
                .timeout(6)
                .action(&again)
                .method("POST")
                .push(say(s, &s.menu_message)),
        )
        // No input: Twilio falls through to the next verb; come back without Digits.
        .push(Redirect::new(&again).method("POST"))
}

/// One turn of the AI receptionist: what it says, then the next speech Gather (silence
/// falls through to the same turn without words), a hand-off or a goodbye.
pub fn agent_turn(
    s: &EffectiveSettings,
    base: &str,
    tracking_number: &str,
    turn: &Utterance,
    next_turn: i64,
    now: jiff::Timestamp,
) -> VoiceResponse {
    let (action, topic) = (turn.action, turn.topic);
    let spoken = say(s, &turn.text);
    match action {
        Action::Greet | Action::Answer | Action::Ask | Action::Book => {
            let next = url(base, &format!("{}?turn={next_turn}", paths::AGENT));
            VoiceResponse::new()
                .push(
                    Gather::new()
                        .input("speech dtmf")
                        .speech_timeout("auto")
                        .timeout(6)
                        .num_digits(1)
                        .language("en-US")
                        .action(&next)
                        .method("POST")
                        .push(spoken),
                )
                .push(Redirect::new(&next).method("POST"))
        }
        Action::Goodbye => VoiceResponse::new().push(spoken).push(Hangup::new()),
        Action::Handoff | Action::Emergency => {
            let prefix = VoiceResponse::new().push(spoken);
            let whisper = topic.map(|t| format!("topic={}", t.as_str()));
            let emergency_line = s
                .ai_agent
                .emergency_handoff
                .clone()
                .filter(|_| action == Action::Emergency);
            if let Some(target) = emergency_line {
                return dial(s, base, tracking_number, &target, whisper, prefix);
            }
            // Staff are not there after hours unless the tenant forwards then too.
            let closed = s.business_hours.as_ref().is_some_and(|h| {
                !h.is_open(&s.timezone, now) && h.after_hours_action != AfterHoursAction::Forward
            });
            match forward_target(s, None) {
                Some(target) if !closed || action == Action::Emergency => {
                    dial(s, base, tracking_number, &target, whisper, prefix)
                }
                _ => prefix.push_all(voicemail(s, base, None)),
            }
        }
    }
}

/// The TwiML for one request of a call.
pub fn respond(
    s: &EffectiveSettings,
    base: &str,
    tracking_number: &str,
    step: &Step,
    now: jiff::Timestamp,
) -> VoiceResponse {
    match step {
        Step::Incoming { attempt, digits } => {
            // The receptionist answers at any hour; after hours it hands off to voicemail.
            if s.mode == RoutingMode::AiAgent {
                return agent_turn(
                    s,
                    base,
                    tracking_number,
                    &Utterance {
                        text: receptionist::greeting(&receptionist::Context::of(s, now)),
                        action: Action::Greet,
                        topic: None,
                    },
                    1,
                    now,
                );
            }
            if *attempt == 0
                && let Some(hours) = &s.business_hours
                && !hours.is_open(&s.timezone, now)
            {
                let message = hours.after_hours_message.as_deref();
                return match hours.after_hours_action {
                    AfterHoursAction::Voicemail => voicemail(
                        s,
                        base,
                        Some(message.unwrap_or("We are closed right now. Please leave a message after the beep, and we will call you back.")),
                    ),
                    AfterHoursAction::Forward => {
                        let mut r = VoiceResponse::new();
                        if let Some(m) = message {
                            r = r.push(say(s, m));
                        }
                        forward_or_voicemail(s, base, tracking_number, None, r)
                    }
                    AfterHoursAction::Hangup => VoiceResponse::new()
                        .push(say(s, message.unwrap_or("We are closed right now. Please call again during business hours.")))
                        .push(Hangup::new()),
                };
            }
            match s.mode {
                RoutingMode::Voicemail => voicemail(s, base, None),
                RoutingMode::AiAgent => VoiceResponse::new(),
                RoutingMode::Forward => {
                    forward_or_voicemail(s, base, tracking_number, None, VoiceResponse::new())
                }
                RoutingMode::Greeting => {
                    let greeting = VoiceResponse::new()
                        .push(say(s, &s.greeting_message))
                        .push(Pause::new().length(1));
                    forward_or_voicemail(s, base, tracking_number, None, greeting)
                }
                RoutingMode::Menu => match digits.as_deref() {
                    Some(d @ ("1" | "2")) => forward_or_voicemail(
                        s,
                        base,
                        tracking_number,
                        Some(d),
                        VoiceResponse::new(),
                    ),
                    _ if *attempt == 0 => menu(s, base, 1),
                    _ if *attempt < MENU_ATTEMPTS => {
                        let sorry = if digits.is_some() {
                            "Sorry, that is not a valid choice."
                        } else {
                            "Sorry, we did not get your choice."
                        };
                        let again = menu(s, base, attempt + 1);
                        VoiceResponse::new().push(say(s, sorry)).push_all(again)
                    }
                    _ => forward_or_voicemail(s, base, tracking_number, None, VoiceResponse::new()),
                },
            }
        }
        Step::DialEnded { answered: true } => VoiceResponse::new().push(Hangup::new()),
        Step::DialEnded { answered: false } | Step::Voicemail => voicemail(s, base, None),
        Step::OutboundEnded { answered: true } => VoiceResponse::new().push(Hangup::new()),
        Step::OutboundEnded { answered: false } => VoiceResponse::new()
            .push(say(s, "The call was not answered."))
            .push(Hangup::new()),
        Step::VoicemailDone => VoiceResponse::new()
            .push(say(s, "Thank you. Your message has been saved. Goodbye."))
            .push(Hangup::new()),
        Step::Whisper { choice, topic } => {
            let mut text = match (&s.whisper_message, choice.as_deref()) {
                (Some(custom), _) => custom.clone(),
                (None, Some("1")) => format!("New patient calling {}.", s.tenant_name),
                (None, Some("2")) => format!("Existing patient calling {}.", s.tenant_name),
                (None, _) => format!("Call for {}.", s.tenant_name),
            };
            if let Some(topic) = topic {
                text = format!("{text} {}", topic.whisper());
            }
            VoiceResponse::new().push(say(s, &text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telephony::{BusinessHours, OpenInterval};
    use std::collections::BTreeMap;

    const BASE: &str = "https://sb.example.com";
    const TRACKING: &str = "+15551230001";

    fn settings(mode: RoutingMode) -> EffectiveSettings {
        EffectiveSettings {
            tenant_name: "Smile & Co Dental".into(),
            timezone: "America/Chicago".into(),
            mode,
            menu_message: crate::telephony::default_menu_message("Smile & Co Dental"),
            greeting_message: "Thank you for calling Smile & Co Dental.".into(),
            voice: crate::config::DEFAULT_VOICE.into(),
            recording_enabled: true,
            transcription_enabled: false,
            forward_number: Some("+15557654321".into()),
            forward_number_new: Some("+15557650001".into()),
            forward_number_existing: None,
            whisper_message: None,
            business_hours: None,
            browser_identities: Vec::new(),
            ai_agent: crate::telephony::AiAgent::default(),
        }
    }

    fn now() -> jiff::Timestamp {
        "2026-11-24T16:00:00Z".parse().expect("ts")
    }

    fn at(step: Step, s: &EffectiveSettings) -> String {
        respond(s, BASE, TRACKING, &step, now()).to_xml()
    }

    #[test]
    fn menu_first_time() {
        insta::assert_snapshot!(at(
            Step::Incoming {
                attempt: 0,
                digits: None
            },
            &settings(RoutingMode::Menu)
        ));
    }

    #[test]
    fn menu_choice_one_dials_new_with_disclosure_and_recording() {
        insta::assert_snapshot!(at(
            Step::Incoming {
                attempt: 1,
                digits: Some("1".into())
            },
            &settings(RoutingMode::Menu)
        ));
    }

    #[test]
    fn menu_repeats_once_then_forwards_default() {
        let s = settings(RoutingMode::Menu);
        let second = at(
            Step::Incoming {
                attempt: 1,
                digits: None,
            },
            &s,
        );
        assert!(
            second.contains("Sorry, we did not get your choice.") && second.contains("attempt=2"),
            "{second}"
        );
        let bad = at(
            Step::Incoming {
                attempt: 1,
                digits: Some("9".into()),
            },
            &s,
        );
        assert!(bad.contains("not a valid choice"), "{bad}");
        let last = at(
            Step::Incoming {
                attempt: 2,
                digits: None,
            },
            &s,
        );
        assert!(
            last.contains("<Number") && last.contains(">+15557654321</Number>"),
            "default forward: {last}"
        );
    }

    #[test]
    fn forward_targets_follow_the_rules() {
        let mut s = settings(RoutingMode::Menu);
        assert_eq!(
            forward_target(&s, Some("1")).as_deref(),
            Some("+15557650001")
        );
        assert_eq!(
            forward_target(&s, Some("2")).as_deref(),
            Some("+15557654321"),
            "no existing → default"
        );
        assert_eq!(forward_target(&s, None).as_deref(), Some("+15557654321"));
        s.forward_number = None;
        assert_eq!(
            forward_target(&s, Some("2")).as_deref(),
            Some("+15557650001"),
            "then new"
        );
        s.forward_number_new = None;
        assert_eq!(forward_target(&s, None), None);
        s.mode = RoutingMode::Forward;
        let xml = at(
            Step::Incoming {
                attempt: 0,
                digits: None,
            },
            &s,
        );
        assert!(
            xml.contains("<Record"),
            "no target at all → voicemail: {xml}"
        );
    }

    #[test]
    fn voicemail_and_dial_outcomes() {
        let s = settings(RoutingMode::Voicemail);
        insta::assert_snapshot!(at(
            Step::Incoming {
                attempt: 0,
                digits: None
            },
            &s
        ));
        assert_eq!(
            at(Step::DialEnded { answered: true }, &s),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#
        );
        assert!(at(Step::DialEnded { answered: false }, &s).contains("<Record"));
        assert!(at(Step::VoicemailDone, &s).contains("saved"));
    }

    #[test]
    fn greeting_and_transcription() {
        let mut s = settings(RoutingMode::Greeting);
        s.transcription_enabled = true;
        s.recording_enabled = false;
        let xml = at(
            Step::Incoming {
                attempt: 0,
                digits: None,
            },
            &s,
        );
        assert!(
            xml.contains("Thank you for calling Smile &amp; Co Dental.</Say><Pause length=\"1\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains(DISCLOSURE),
            "transcription alone needs the disclosure"
        );
        assert!(xml.contains("<Start><Transcription statusCallbackUrl=\"https://sb.example.com/api/twilio/voice/transcription\""));
        assert!(!xml.contains("record="), "recording off");
    }

    #[test]
    fn outbound_calls_bridge_from_the_tracking_number_and_record_as_set() {
        let mut s = settings(RoutingMode::Forward);
        s.recording_enabled = true;
        let xml = outbound(&s, "https://sb.example", "+15551230001", "+15557654321").to_xml();
        assert!(xml.contains(r#"callerId="+15551230001""#), "{xml}");
        assert!(xml.contains(r#"answerOnBridge="true""#), "{xml}");
        assert!(xml.contains("record-from-answer-dual"), "{xml}");
        assert!(
            xml.contains("https://sb.example/api/twilio/voice/dial-status"),
            "{xml}"
        );
        assert!(xml.contains(">+15557654321</Number>"), "{xml}");
        assert!(!xml.contains("whisper"), "no whisper to a customer: {xml}");
        s.recording_enabled = false;
        let xml = outbound(&s, "https://sb.example", "+15551230001", "+15557654321").to_xml();
        assert!(!xml.contains("record"), "{xml}");
    }

    #[test]
    fn browsers_ring_alongside_the_forward_number_with_the_same_reports() {
        let mut s = settings(RoutingMode::Forward);
        s.browser_identities = vec!["usr_a".into(), "usr_b".into()];
        let twiml = at(
            Step::Incoming {
                attempt: 0,
                digits: None,
            },
            &s,
        );
        let dial = twiml.split("<Dial").nth(1).expect("a Dial");
        for identity in ["usr_a", "usr_b"] {
            assert!(dial.contains(&format!(">{identity}</Client>")), "{twiml}");
        }
        assert!(dial.contains(">+15557654321</Number>"), "{twiml}");
        assert_eq!(
            dial.matches("statusCallback=\"https://sb.example.com/api/twilio/voice/dial-status\"")
                .count(),
            3,
            "every leg reports: {twiml}"
        );
        // Without the setting, only the phone rings.
        let plain = at(
            Step::Incoming {
                attempt: 0,
                digits: None,
            },
            &settings(RoutingMode::Forward),
        );
        assert!(!plain.contains("<Client"), "{plain}");
    }

    #[test]
    fn whisper_names_the_choice() {
        let s = settings(RoutingMode::Menu);
        assert!(
            at(
                Step::Whisper {
                    choice: Some("1".into()),
                    topic: None,
                },
                &s
            )
            .contains("New patient calling")
        );
        let mut custom = s.clone();
        custom.whisper_message = Some("Booking line".into());
        assert!(
            at(
                Step::Whisper {
                    choice: None,
                    topic: None
                },
                &custom
            )
            .contains("Booking line")
        );
    }

    #[test]
    fn business_hours() {
        let mut days = BTreeMap::new();
        // 2026-11-24 is a Tuesday; 16:00Z is 10:00 in Chicago.
        days.insert(
            "tue".to_owned(),
            vec![OpenInterval {
                open: "09:00".into(),
                close: "17:00".into(),
            }],
        );
        let mut hours = BusinessHours {
            timezone: None,
            days,
            after_hours_action: AfterHoursAction::Hangup,
            after_hours_message: Some("We open at nine.".into()),
        };
        assert!(hours.is_open("America/Chicago", now()));
        assert!(
            !hours.is_open("Asia/Tokyo", now()),
            "01:00 Wednesday in Tokyo"
        );
        hours.timezone = Some("Europe/London".into());
        assert!(
            hours.is_open("Asia/Tokyo", now()),
            "the hours' own zone wins"
        );

        let mut s = settings(RoutingMode::Menu);
        hours.timezone = Some("Asia/Tokyo".into());
        s.business_hours = Some(hours.clone());
        let closed = at(
            Step::Incoming {
                attempt: 0,
                digits: None,
            },
            &s,
        );
        assert!(
            closed.contains("We open at nine.") && closed.contains("<Hangup/>"),
            "{closed}"
        );
        hours.after_hours_action = AfterHoursAction::Voicemail;
        s.business_hours = Some(hours);
        assert!(
            at(
                Step::Incoming {
                    attempt: 0,
                    digits: None
                },
                &s
            )
            .contains("<Record")
        );
    }

    fn turn(action: Action) -> Utterance {
        Utterance {
            text: "Okay.".into(),
            action,
            topic: Some(Topic::Prices),
        }
    }

    #[test]
    fn the_receptionist_listens_then_hands_off_or_hangs_up() {
        let mut s = settings(RoutingMode::AiAgent);
        let greeting = at(
            Step::Incoming {
                attempt: 0,
                digits: None,
            },
            &s,
        );
        assert!(greeting.contains(r#"input="speech dtmf""#), "{greeting}");
        assert!(
            greeting.contains("/api/twilio/voice/agent?turn=1"),
            "{greeting}"
        );
        assert!(greeting.contains("How can I help?"), "{greeting}");
        let answer = agent_turn(&s, BASE, TRACKING, &turn(Action::Answer), 3, now()).to_xml();
        assert!(answer.contains("<Redirect method=\"POST\">https://sb.example.com/api/twilio/voice/agent?turn=3</Redirect>"), "{answer}");
        let handoff = agent_turn(&s, BASE, TRACKING, &turn(Action::Handoff), 3, now()).to_xml();
        assert!(handoff.contains("+15557654321"), "{handoff}");
        assert!(handoff.contains("whisper?topic=prices"), "{handoff}");
        let bye = agent_turn(&s, BASE, TRACKING, &turn(Action::Goodbye), 3, now()).to_xml();
        assert!(bye.contains("<Hangup/>"), "{bye}");
        // After hours a hand-off is a voicemail, an emergency still rings the on-call line.
        s.business_hours = Some(BusinessHours {
            timezone: None,
            days: BTreeMap::new(),
            after_hours_action: AfterHoursAction::Voicemail,
            after_hours_message: None,
        });
        s.ai_agent.emergency_handoff = Some("+15557659999".into());
        let closed = agent_turn(&s, BASE, TRACKING, &turn(Action::Handoff), 3, now()).to_xml();
        assert!(closed.contains("<Record"), "{closed}");
        assert!(!closed.contains("<Dial"), "{closed}");
        let emergency = agent_turn(&s, BASE, TRACKING, &turn(Action::Emergency), 3, now()).to_xml();
        assert!(emergency.contains("+15557659999"), "{emergency}");
    }
}
