use std::collections::BTreeMap;

use super::*;
use crate::telephony::{AfterHoursAction, OpenInterval};

fn kb() -> AiAgent {
    AiAgent {
        greeting: None,
        services: vec![
            Service {
                name: "Teeth cleaning".into(),
                price: Some("$120".into()),
                duration: Some(45),
            },
            Service {
                name: "Whitening".into(),
                price: Some("from $300".into()),
                duration: None,
            },
            Service {
                name: "Emergency exam".into(),
                price: None,
                duration: None,
            },
        ],
        faqs: vec![
            Faq {
                question: "Do you have parking?".into(),
                answer: "Yes, there is free parking behind the building.".into(),
            },
            Faq {
                question: "Do you see children?".into(),
                answer: "Yes, we see patients of every age.".into(),
            },
        ],
        address: Some("We're at 12 Main Street, next to the library.".into()),
        insurance: Some("We take Delta Dental, Aetna and Cigna, and all major cards.".into()),
        emergency_handoff: None,
        business_kind: BusinessKind::Dental,
    }
}

fn hours() -> BusinessHours {
    let nine_to_five = vec![OpenInterval {
        open: "09:00".into(),
        close: "17:00".into(),
    }];
    let mut days = BTreeMap::new();
    for d in ["mon", "tue", "wed", "thu", "fri"] {
        days.insert(d.to_owned(), nine_to_five.clone());
    }
    BusinessHours {
        timezone: None,
        days,
        after_hours_action: AfterHoursAction::Voicemail,
        after_hours_message: None,
    }
}

/// Tuesday 1 December 2026, 10:00 in Chicago.
fn now() -> jiff::Timestamp {
    "2026-12-01T16:00:00Z".parse().expect("ts")
}

fn ask(kb: &AiAgent, hours: Option<&BusinessHours>, state: &State, said: &str) -> Reply {
    let ctx = Context {
        business: "Bright Smiles Dental",
        timezone: "America/Chicago",
        hours,
        kb,
        now: now(),
    };
    reply(
        &ctx,
        state,
        1,
        &Input {
            heard: Some(said),
            confidence: Some(0.9),
            digits: None,
        },
    )
}

#[test]
fn answers_from_the_knowledge_base() {
    let (kb, h) = (kb(), hours());
    let r = ask(&kb, Some(&h), &State::default(), "Are you open right now?");
    assert_eq!(r.action, Action::Answer);
    assert!(
        r.said.starts_with("Yes, we're open now, until 5 PM today."),
        "{}",
        r.said
    );
    let r = ask(&kb, Some(&h), &State::default(), "are you open on saturday");
    assert!(
        r.said.starts_with("We're closed on Saturdays."),
        "{}",
        r.said
    );
    let r = ask(
        &kb,
        Some(&h),
        &State::default(),
        "How much does a cleaning cost?",
    );
    assert!(
        r.said.starts_with("A teeth cleaning is $120."),
        "{}",
        r.said
    );
    let r = ask(&kb, Some(&h), &State::default(), "Where are you located?");
    assert!(r.said.starts_with("We're at 12 Main Street"), "{}", r.said);
    let r = ask(
        &kb,
        Some(&h),
        &State::default(),
        "do you take aetna insurance",
    );
    assert!(r.said.starts_with("We take Delta Dental"), "{}", r.said);
    let r = ask(
        &kb,
        Some(&h),
        &State::default(),
        "Is there somewhere to park?",
    );
    assert!(
        r.said.starts_with("Yes, there is free parking"),
        "{}",
        r.said
    );
    let r = ask(&kb, Some(&h), &State::default(), "can my kids come to you");
    assert!(
        r.said.starts_with("Yes, we see patients of every age."),
        "{}",
        r.said
    );
}

#[test]
fn never_speaks_a_price_it_does_not_have() {
    let mut kb = kb();
    for s in &mut kb.services {
        s.price = None;
    }
    for q in [
        "how much is a cleaning",
        "what are your prices",
        "how much for whitening",
    ] {
        let r = ask(&kb, None, &State::default(), q);
        assert!(!r.said.contains('$'), "{q}: {}", r.said);
        assert!(r.said.contains("don't have"), "{q}: {}", r.said);
        assert!(r.state.offered_person, "{q}");
        let yes = ask(&kb, None, &r.state, "yes please");
        assert_eq!(yes.action, Action::Handoff);
    }
}

#[test]
fn says_so_when_it_does_not_know() {
    let kb = AiAgent::default();
    let r = ask(&kb, None, &State::default(), "what are your hours");
    assert!(
        r.said.contains("don't have our opening hours"),
        "{}",
        r.said
    );
    assert!(r.said.contains("put you through"));
}

#[test]
fn hands_off_when_asked_or_lost() {
    let kb = kb();
    for q in [
        "can I talk to a real person",
        "receptionist please",
        "operator",
    ] {
        assert_eq!(
            ask(&kb, None, &State::default(), q).action,
            Action::Handoff,
            "{q}"
        );
    }
    let first = ask(&kb, None, &State::default(), "purple monkey dishwasher");
    assert_eq!(first.action, Action::Ask);
    let second = ask(&kb, None, &first.state, "flibbertigibbet");
    assert_eq!(second.action, Action::Handoff);
    assert_eq!(second.topic, Some(Topic::Unclear));
    let ctx = Context {
        business: "B",
        timezone: "UTC",
        hours: None,
        kb: &kb,
        now: now(),
    };
    let zero = reply(
        &ctx,
        &State::default(),
        1,
        &Input {
            digits: Some("0"),
            ..Input::default()
        },
    );
    assert_eq!(zero.action, Action::Handoff);
    let mumbled = reply(
        &ctx,
        &State::default(),
        1,
        &Input {
            heard: Some("what are your hours"),
            confidence: Some(0.1),
            digits: None,
        },
    );
    assert_eq!(mumbled.action, Action::Handoff);
    let late = reply(&ctx, &State::default(), MAX_TURNS + 1, &Input::default());
    assert_eq!(late.action, Action::Handoff);
}

#[test]
fn emergencies_depend_on_the_business() {
    let kb = kb();
    let r = ask(
        &kb,
        None,
        &State::default(),
        "my face is swollen and it hurts",
    );
    assert_eq!(r.action, Action::Emergency);
    assert!(r.said.contains("call 911"));
    assert_eq!(
        ask(&kb, None, &State::default(), "I have chest pain").action,
        Action::Emergency
    );
    let plumber = AiAgent {
        business_kind: BusinessKind::HomeService,
        ..AiAgent::default()
    };
    assert_eq!(
        ask(&plumber, None, &State::default(), "my basement is flooding").action,
        Action::Emergency
    );
    assert_ne!(
        ask(&kb, None, &State::default(), "my basement is flooding").action,
        Action::Emergency
    );
}

#[test]
fn takes_an_appointment_request() {
    let (kb, h) = (kb(), hours());
    let r = ask(
        &kb,
        Some(&h),
        &State::default(),
        "I'd like to book a cleaning",
    );
    assert_eq!(r.action, Action::Ask);
    assert!(r.said.contains("Which day and time"), "{}", r.said);
    let r = ask(&kb, Some(&h), &r.state, "tomorrow at nine");
    assert!(
        r.said
            .starts_with("Wednesday, December 2 at 9 AM. And what name"),
        "{}",
        r.said
    );
    let r = ask(&kb, Some(&h), &r.state, "My name is jane doe.");
    assert_eq!(
        r.said,
        "So that's a request for teeth cleaning for Jane Doe on Wednesday, December 2 at 9 AM. Shall I send it?"
    );
    let r = ask(&kb, Some(&h), &r.state, "yes");
    assert_eq!(r.action, Action::Book);
    let request = r.request.expect("a request");
    assert_eq!(request.name, "Jane Doe");
    assert_eq!(request.minutes, 45);
    assert_eq!(request.starts.to_string(), "2026-12-02T09:00:00");
    assert!(request.words.contains("tomorrow at nine"));
    assert!(r.state.booking.is_none());
}

#[test]
fn a_booking_outside_hours_or_in_the_past_is_asked_again() {
    let (kb, h) = (kb(), hours());
    let start = ask(
        &kb,
        Some(&h),
        &State::default(),
        "can I make an appointment",
    );
    let r = ask(&kb, Some(&h), &start.state, "Saturday at 10");
    assert!(r.said.starts_with("We're not open then."), "{}", r.said);
    let r = ask(&kb, Some(&h), &start.state, "today at 8 in the morning");
    assert!(r.said.contains("already passed"), "{}", r.said);
    let r = ask(&kb, Some(&h), &start.state, "next Tuesday");
    assert_eq!(r.said, "What time on Tuesday works for you?");
    let r = ask(&kb, Some(&h), &r.state, "at 2 in the afternoon");
    assert!(
        r.said.starts_with("Tuesday, December 8 at 2 PM."),
        "{}",
        r.said
    );
    let r = ask(&kb, Some(&h), &r.state, "Sam");
    let r = ask(&kb, Some(&h), &r.state, "no");
    assert!(r.said.starts_with("No problem."), "{}", r.said);
    assert!(r.request.is_none());
}

#[test]
fn goodbye_hangs_up() {
    let kb = kb();
    let r = ask(&kb, None, &State::default(), "no that's all, thank you");
    assert_eq!(r.action, Action::Goodbye);
}
