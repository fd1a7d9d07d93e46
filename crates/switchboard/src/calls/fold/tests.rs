use super::*;
use proptest::prelude::*;

const T0: i64 = 1_764_000_000_000;

fn ev(kind: EventKind, at: i64, params: &[(&str, &str)]) -> Event {
    let mut p: Vec<(String, String)> = vec![
        ("CallSid".into(), "CA1".into()),
        ("AccountSid".into(), "AC1".into()),
    ];
    p.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Event {
        kind,
        params: p,
        received_at: T0 + at,
    }
}

fn answered_call() -> Vec<Event> {
    vec![
        ev(
            EventKind::Incoming,
            0,
            &[
                ("From", "+15550001111"),
                ("To", "+15551230001"),
                ("CallStatus", "ringing"),
                ("Direction", "inbound"),
                ("CallerName", "JANE DOE"),
                ("FromCity", "AUSTIN"),
            ],
        ),
        ev(
            EventKind::Gather,
            5_000,
            &[("CallStatus", "in-progress"), ("Digits", "1")],
        ),
        ev(
            EventKind::DialLeg,
            6_000,
            &[("CallStatus", "ringing"), ("ParentCallSid", "CA1")],
        ),
        ev(
            EventKind::DialLeg,
            9_000,
            &[("CallStatus", "in-progress"), ("ParentCallSid", "CA1")],
        ),
        ev(
            EventKind::DialLeg,
            54_000,
            &[
                ("CallStatus", "completed"),
                ("CallDuration", "45"),
                ("ParentCallSid", "CA1"),
            ],
        ),
        ev(
            EventKind::DialAction,
            54_100,
            &[
                ("CallStatus", "in-progress"),
                ("DialCallStatus", "completed"),
                ("DialCallDuration", "45"),
            ],
        ),
        ev(
            EventKind::Status,
            55_000,
            &[
                ("CallStatus", "completed"),
                ("CallDuration", "55"),
                ("FromCity", "DALLAS"),
            ],
        ),
        ev(
            EventKind::Recording,
            60_000,
            &[
                ("RecordingSid", "RE1"),
                ("RecordingStatus", "completed"),
                ("RecordingDuration", "45"),
                ("RecordingUrl", "https://api.twilio.com/x/RE1"),
            ],
        ),
    ]
}

fn voicemail_call() -> Vec<Event> {
    vec![
        ev(
            EventKind::Incoming,
            0,
            &[
                ("From", "+15550002222"),
                ("To", "+15551230001"),
                ("CallStatus", "ringing"),
            ],
        ),
        ev(
            EventKind::DialLeg,
            1_000,
            &[("CallStatus", "ringing"), ("ParentCallSid", "CA1")],
        ),
        ev(
            EventKind::DialLeg,
            31_000,
            &[("CallStatus", "no-answer"), ("ParentCallSid", "CA1")],
        ),
        ev(
            EventKind::DialAction,
            31_100,
            &[
                ("CallStatus", "in-progress"),
                ("DialCallStatus", "no-answer"),
                ("DialCallDuration", "0"),
            ],
        ),
        ev(
            EventKind::Voicemail,
            60_000,
            &[
                ("RecordingSid", "REvm"),
                ("RecordingStatus", "completed"),
                ("RecordingDuration", "20"),
            ],
        ),
        ev(
            EventKind::Status,
            59_000,
            &[("CallStatus", "completed"), ("CallDuration", "59")],
        ),
    ]
}

#[test]
fn an_answered_call() {
    let r = fold(&answered_call());
    assert_eq!(r.status.as_deref(), Some("completed"));
    assert_eq!(r.dial_status.as_deref(), Some("answered"));
    assert_eq!(r.outcome, "answered");
    assert_eq!(r.talk_seconds, 45);
    assert_eq!(r.call_seconds, Some(55));
    assert_eq!(r.menu_choice.as_deref(), Some("1"));
    assert_eq!(r.started_at, T0);
    assert_eq!(r.answered_at, Some(T0 + 9_000));
    assert_eq!(r.ringing_seconds, Some(9));
    assert_eq!(r.ended_at, Some(T0 + 55_000));
    assert_eq!(r.recording_sid.as_deref(), Some("RE1"));
    assert_eq!(r.caller_name.as_deref(), Some("JANE DOE"));
    assert_eq!(
        r.caller_city.as_deref(),
        Some("AUSTIN"),
        "the first non-empty value wins"
    );
    assert_eq!(r.from.as_deref(), Some("+15550001111"));
    assert_eq!(r.voicemail_sid, None);
}

#[test]
fn a_voicemail_is_not_an_answer() {
    let r = fold(&voicemail_call());
    assert_eq!(r.dial_status.as_deref(), Some("no-answer"));
    assert_eq!(r.outcome, "voicemail");
    assert_eq!(r.talk_seconds, 0);
    assert_eq!(r.voicemail_sid.as_deref(), Some("REvm"));
    assert_eq!(r.voicemail_seconds, Some(20));
    assert_eq!(r.recording_sid, None);
}

#[test]
fn busy_beats_no_answer_and_completed_without_answer_is_missed() {
    let busy = fold(&[
        ev(EventKind::Incoming, 0, &[("CallStatus", "ringing")]),
        ev(EventKind::DialAction, 2_000, &[("DialCallStatus", "busy")]),
        ev(EventKind::DialLeg, 2_000, &[("CallStatus", "busy")]),
        ev(
            EventKind::Status,
            3_000,
            &[("CallStatus", "completed"), ("CallDuration", "3")],
        ),
    ]);
    assert_eq!(
        (busy.dial_status.as_deref(), busy.outcome.as_str()),
        (Some("busy"), "missed")
    );

    let menu_hangup = fold(&[
        ev(EventKind::Incoming, 0, &[("CallStatus", "ringing")]),
        ev(
            EventKind::Status,
            8_000,
            &[("CallStatus", "completed"), ("CallDuration", "8")],
        ),
    ]);
    assert_eq!(menu_hangup.dial_status.as_deref(), Some("no-answer"));
    assert_eq!(menu_hangup.outcome, "missed");
    assert_eq!(menu_hangup.menu_choice, None);

    let ringing = fold(&[ev(EventKind::Incoming, 0, &[("CallStatus", "ringing")])]);
    assert_eq!(
        (ringing.dial_status, ringing.outcome.as_str()),
        (None, "in-progress")
    );
}

#[test]
fn a_late_recording_alone_proves_the_answer() {
    let r = fold(&[
        ev(EventKind::Incoming, 0, &[("CallStatus", "ringing")]),
        ev(
            EventKind::Status,
            40_000,
            &[("CallStatus", "completed"), ("CallDuration", "40")],
        ),
        ev(
            EventKind::Recording,
            41_000,
            &[
                ("RecordingSid", "RE9"),
                ("RecordingStatus", "completed"),
                ("RecordingDuration", "30"),
            ],
        ),
    ]);
    assert_eq!(r.dial_status.as_deref(), Some("answered"));
    assert_eq!(
        r.talk_seconds, 30,
        "the recording's length when Twilio gave no dial duration"
    );
}

#[test]
fn an_answered_call_without_durations_talks_at_least_one_second() {
    let r = fold(&[
        ev(EventKind::Incoming, 0, &[("CallStatus", "ringing")]),
        ev(
            EventKind::DialAction,
            2_000,
            &[("DialCallStatus", "answered")],
        ),
    ]);
    assert_eq!((r.outcome.as_str(), r.talk_seconds), ("answered", 1));
}

#[test]
fn twilio_timestamps_set_the_times() {
    // T0 is 2025-11-24T16:00:00Z; Twilio says the call ended 60 s later after 90 s.
    let end = "Mon, 24 Nov 2025 16:01:00 +0000";
    let r = fold(&[
        ev(EventKind::Incoming, 0, &[("CallStatus", "ringing")]),
        ev(
            EventKind::Status,
            500,
            &[
                ("CallStatus", "completed"),
                ("CallDuration", "90"),
                ("Timestamp", end),
            ],
        ),
    ]);
    let ts = parse_rfc2822_ms(end).expect("parse");
    assert_eq!(ts, T0 + 60_000);
    assert_eq!(r.ended_at, Some(ts));
    assert_eq!(
        r.started_at,
        T0 - 30_000,
        "end minus duration is earlier than our receipt"
    );
    assert_eq!(format_rfc2822(ts), end);
}

#[test]
fn realtime_transcript_in_sequence() {
    let data = |t: &str| serde_json::json!({"transcript": t, "confidence": 0.9}).to_string();
    let (d1, d2) = (data("I need a cleaning"), data("We have Tuesday"));
    let r = fold(&[
        ev(
            EventKind::Transcription,
            9_000,
            &[
                ("TranscriptionEvent", "transcription-content"),
                ("SequenceId", "3"),
                ("Track", "outbound_track"),
                ("Final", "true"),
                ("TranscriptionData", &d2),
            ],
        ),
        ev(
            EventKind::Transcription,
            8_000,
            &[
                ("TranscriptionEvent", "transcription-content"),
                ("SequenceId", "2"),
                ("Track", "inbound_track"),
                ("Final", "true"),
                ("TranscriptionData", &d1),
            ],
        ),
        ev(
            EventKind::Transcription,
            8_500,
            &[
                ("TranscriptionEvent", "transcription-content"),
                ("SequenceId", "2"),
                ("Track", "inbound_track"),
                ("Final", "false"),
                ("TranscriptionData", &data("I need a")),
            ],
        ),
    ]);
    assert_eq!(
        r.transcript_text.as_deref(),
        Some("Customer: I need a cleaning\nAgent: We have Tuesday")
    );
}

/// Events of a random call: a pool to draw subsets from, covering every kind.
fn event_pool() -> Vec<Event> {
    let mut pool = answered_call();
    pool.extend(voicemail_call());
    pool.extend([
        ev(EventKind::Status, 2_000, &[("CallStatus", "in-progress")]),
        ev(EventKind::Status, 70_000, &[("CallStatus", "busy")]),
        ev(EventKind::Gather, 7_000, &[("Digits", "2")]),
        ev(EventKind::Gather, 3_000, &[("Digits", "9")]),
        ev(
            EventKind::DialAction,
            20_000,
            &[("DialCallStatus", "failed")],
        ),
        ev(
            EventKind::Status,
            1_000,
            &[("CallStatus", "ringing"), ("CallerName", "JOHN ROE")],
        ),
        placed(4_000),
    ]);
    pool
}

/// Our record that a staff member placed the call from the browser.
fn placed(at: i64) -> Event {
    ev(
        EventKind::Placed,
        at,
        &[
            ("From", "+15551230001"),
            ("To", "+15557654321"),
            ("Direction", "outbound-dial"),
            ("UserId", "usr_1"),
        ],
    )
}

#[test]
fn a_placed_call_is_the_users_outbound_call_whatever_twilio_says_first() {
    // The browser's leg reaches Twilio as a call from client:… to the app; its status
    // callbacks may arrive before our record of what it is.
    let events = vec![
        ev(
            EventKind::Status,
            -500,
            &[
                ("From", "client:usr_1"),
                ("To", ""),
                ("Direction", "inbound"),
                ("CallStatus", "ringing"),
            ],
        ),
        placed(0),
        ev(
            EventKind::DialLeg,
            3_000,
            &[("CallStatus", "in-progress"), ("ParentCallSid", "CA1")],
        ),
        ev(
            EventKind::DialAction,
            40_000,
            &[("DialCallStatus", "completed"), ("DialCallDuration", "37")],
        ),
    ];
    let r = fold(&events);
    assert_eq!(r.from.as_deref(), Some("+15551230001"));
    assert_eq!(r.to.as_deref(), Some("+15557654321"));
    assert_eq!(r.direction.as_deref(), Some("outbound-dial"));
    assert_eq!(r.user_id.as_deref(), Some("usr_1"));
    assert_eq!(r.outcome, "answered");
    assert_eq!(r.talk_seconds, 37);
}

fn subset_strategy() -> impl Strategy<Value = Vec<Event>> {
    let pool = event_pool();
    let n = pool.len();
    prop::collection::vec(0..n, 1..12)
        .prop_map(move |idx| idx.into_iter().map(|i| pool[i].clone()).collect())
}

proptest! {
    #[test]
    fn any_order_or_duplication_gives_the_same_row(events in subset_strategy(), seed in any::<u64>(), dups in prop::collection::vec(any::<prop::sample::Index>(), 0..5)) {
        let expected = fold(&events);
        let mut shuffled = events.clone();
        for d in &dups {
            shuffled.push(events[d.index(events.len())].clone());
        }
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(fold(&shuffled), expected);
    }

    #[test]
    fn a_terminal_status_never_regresses(events in subset_strategy(), extra in prop::sample::select(vec!["queued", "initiated", "ringing", "in-progress"])) {
        let before = fold(&events);
        let mut more = events.clone();
        more.push(ev(EventKind::Status, 1_000_000, &[("CallStatus", extra)]));
        let after = fold(&more);
        if before.status.as_deref().is_some_and(is_terminal) {
            prop_assert_eq!(after.status, before.status);
        }
    }

    #[test]
    fn answer_evidence_always_wins_and_voicemail_never_answers(events in subset_strategy()) {
        let mut with_answer = events.clone();
        with_answer.push(ev(EventKind::DialAction, 50_000, &[("DialCallStatus", "completed"), ("DialCallDuration", "12")]));
        let answered = fold(&with_answer);
        prop_assert_eq!(answered.dial_status.as_deref(), Some("answered"));
        prop_assert!(answered.talk_seconds >= 1);

        let without: Vec<Event> = events.iter().filter(|e| !matches!(e.kind, EventKind::DialAction | EventKind::DialLeg | EventKind::Recording | EventKind::Intelligence)).cloned().collect();
        if !without.is_empty() {
            let mut vm = without.clone();
            vm.push(ev(EventKind::Voicemail, 90_000, &[("RecordingSid", "REx"), ("RecordingDuration", "15")]));
            let r = fold(&vm);
            prop_assert_ne!(r.dial_status.as_deref(), Some("answered"));
            prop_assert_eq!(r.talk_seconds, 0);
        }
    }

    #[test]
    fn the_menu_choice_is_never_erased(events in subset_strategy()) {
        let before = fold(&events);
        let mut more = events.clone();
        more.push(ev(EventKind::Gather, 2_000_000, &[("Digits", "7")]));
        more.push(ev(EventKind::Status, 2_000_001, &[("CallStatus", "completed")]));
        let after = fold(&more);
        if before.menu_choice.is_some() {
            prop_assert_eq!(after.menu_choice, before.menu_choice);
        }
    }
}
