//! `switchboard demo`: the service and the simulator on loopback, two tenants, their
//! logins, and days of realistic call traffic played through the real webhooks.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use twilio_sim::{Delivery, Press, Scenario, Simulator, Speaker, Staff};

use crate::error::{AppError, AppResult};
use crate::numbers::NumberInput;
use crate::paths;
use crate::state::AppState;
use crate::telephony::{RoutingMode, TwilioConfigUpdate};
use crate::tenants::NewTenant;
use crate::users::{NewUser, Role};

/// The demo's password for every login (it serves on loopback with made-up data).
pub const DEMO_PASSWORD: &str = "switchboard-demo";

/// A login the demo created.
#[derive(Debug, Clone)]
pub struct Login {
    /// What it is for.
    pub label: &'static str,
    /// Email.
    pub email: &'static str,
}

/// What the demo set up.
#[derive(Debug, Clone)]
pub struct DemoSetup {
    /// Logins, all with [`DEMO_PASSWORD`].
    pub logins: Vec<Login>,
    /// (tenant id, tenant name, tracking numbers).
    pub tenants: Vec<(String, String, Vec<String>)>,
}

/// How much traffic to play.
#[derive(Debug, Clone, Copy)]
pub struct TrafficOptions {
    /// Calls in all.
    pub calls: usize,
    /// Spread over this many days up to now.
    pub days: u32,
    /// RNG seed (the same seed plays the same traffic).
    pub seed: u64,
    /// Calls played at once.
    pub concurrency: usize,
}

impl Default for TrafficOptions {
    fn default() -> Self {
        Self {
            calls: 300,
            days: 7,
            seed: 2026,
            concurrency: 6,
        }
    }
}

/// What the traffic produced.
#[derive(Debug, Clone, Default)]
pub struct TrafficSummary {
    /// Calls played.
    pub calls: usize,
    /// Calls whose play reported an error (should be none).
    pub errors: usize,
    /// Inbound texts sent.
    pub texts: usize,
    /// Scripted calls to the AI receptionist's line (besides `calls`).
    pub receptionist_calls: usize,
}

const TEXTS: &[&str] = &[
    "Hi, can I move my appointment to Thursday?",
    "Do you take Delta Dental insurance?",
    "Running 10 minutes late, sorry!",
    "What time do you open on Saturday?",
    "Please call me back about my bill.",
];

fn update() -> TwilioConfigUpdate {
    TwilioConfigUpdate::default()
}

/// Creates the demo's tenants, logins and numbers (on the simulator's platform account).
pub async fn seed(state: &AppState, sim: &Simulator, account_sid: &str) -> AppResult<DemoSetup> {
    let db = &state.db;
    let public = state.config.public_url.clone();
    let create_user =
        |email: &'static str, role: Role, tenant: Option<String>, pages: &[&str]| NewUser {
            email: email.into(),
            password: DEMO_PASSWORD.into(),
            role,
            tenant_id: tenant,
            allowed_pages: Some(pages.iter().map(|p| (*p).to_owned()).collect()),
            phone: None,
        };
    crate::users::create(
        db,
        create_user("admin@demo.switchboard", Role::Admin, None, &[]),
    )
    .await?;

    let dental = crate::tenants::create(
        db,
        NewTenant {
            name: "Bright Smiles Dental".into(),
            timezone: Some("America/Chicago".into()),
        },
    )
    .await?;
    let plumbing = crate::tenants::create(
        db,
        NewTenant {
            name: "Rapid Rooter Plumbing".into(),
            timezone: Some("America/Denver".into()),
        },
    )
    .await?;
    let number = |n: &str, label: &str| NumberInput {
        phone_number: n.into(),
        friendly_name: Some(label.into()),
        status: None,
        is_primary: None,
    };
    crate::telephony::update(
        db,
        &state.secrets,
        &dental.id,
        TwilioConfigUpdate {
            phone_numbers: Some(vec![
                number("+15551230001", "Google Ads"),
                number("+15551230002", "Website"),
            ]),
            call_routing_mode: Some(Some(RoutingMode::Menu)),
            forward_number: Some(Some("+15557654321".into())),
            forward_number_new: Some(Some("+15557650001".into())),
            forward_number_existing: Some(Some("+15557650002".into())),
            recording_enabled: Some(Some(true)),
            transcription_enabled: Some(Some(true)),
            auto_reply_message: Some(Some(
                "Thanks for texting Bright Smiles Dental! We'll reply during office hours.".into(),
            )),
            ..update()
        },
    )
    .await?;
    crate::telephony::update(
        db,
        &state.secrets,
        &plumbing.id,
        TwilioConfigUpdate {
            phone_numbers: Some(vec![number("+15553330001", "Yard signs")]),
            call_routing_mode: Some(Some(RoutingMode::Forward)),
            forward_number: Some(Some("+15553339999".into())),
            recording_enabled: Some(Some(true)),
            ..update()
        },
    )
    .await?;
    // A clinic whose line the AI receptionist answers.
    let clinic = crate::tenants::create(
        db,
        NewTenant {
            name: "Northside Family Clinic".into(),
            timezone: Some("America/Chicago".into()),
        },
    )
    .await?;
    crate::telephony::update(
        db,
        &state.secrets,
        &clinic.id,
        TwilioConfigUpdate {
            phone_numbers: Some(vec![number(RECEPTIONIST_LINE, "AI receptionist line")]),
            call_routing_mode: Some(Some(RoutingMode::AiAgent)),
            forward_number: Some(Some("+15554440009".into())),
            recording_enabled: Some(Some(true)),
            ai_agent: Some(Some(clinic_knowledge_base())),
            ..update()
        },
    )
    .await?;
    crate::users::create(
        db,
        create_user(
            "owner@northside.demo",
            Role::Customer,
            Some(clinic.id.clone()),
            &[],
        ),
    )
    .await?;
    crate::users::create(
        db,
        create_user(
            "owner@brightsmiles.demo",
            Role::Customer,
            Some(dental.id.clone()),
            &[],
        ),
    )
    .await?;
    crate::users::create(
        db,
        create_user(
            "frontdesk@brightsmiles.demo",
            Role::Receptionist,
            Some(dental.id.clone()),
            &[
                "dashboard",
                "call-logs",
                "contacts",
                "messages",
                "appointments",
            ],
        ),
    )
    .await?;
    crate::users::create(
        db,
        create_user(
            "owner@rapidrooter.demo",
            Role::Customer,
            Some(plumbing.id.clone()),
            &[],
        ),
    )
    .await?;

    // The simulated Twilio console: the numbers exist on the account and point at us.
    for (n, label) in [
        ("+15551230001", "Google Ads"),
        ("+15551230002", "Website"),
        ("+15553330001", "Yard signs"),
        (RECEPTIONIST_LINE, "AI receptionist line"),
    ] {
        sim.add_number(account_sid, n, label);
        sim.set_number_webhooks(
            account_sid,
            n,
            &format!("{public}{}", paths::INCOMING),
            Some(&format!("{public}{}", paths::STATUS)),
            Some(&format!("{public}{}", paths::SMS)),
        );
    }
    Ok(DemoSetup {
        logins: vec![
            Login {
                label: "platform admin",
                email: "admin@demo.switchboard",
            },
            Login {
                label: "clinic owner",
                email: "owner@brightsmiles.demo",
            },
            Login {
                label: "front desk (no settings)",
                email: "frontdesk@brightsmiles.demo",
            },
            Login {
                label: "other tenant's owner",
                email: "owner@rapidrooter.demo",
            },
            Login {
                label: "AI receptionist clinic's owner",
                email: "owner@northside.demo",
            },
        ],
        tenants: vec![
            (
                dental.id,
                dental.name,
                vec!["+15551230001".into(), "+15551230002".into()],
            ),
            (plumbing.id, plumbing.name, vec!["+15553330001".into()]),
            (clinic.id, clinic.name, vec![RECEPTIONIST_LINE.into()]),
        ],
    })
}

/// The number the AI receptionist answers in the demo.
pub const RECEPTIONIST_LINE: &str = "+15554440001";

fn clinic_knowledge_base() -> crate::telephony::AiAgent {
    use crate::telephony::{AiAgent, BusinessKind, Faq, Service};
    let service = |name: &str, price: &str, minutes: u32| Service {
        name: name.into(),
        price: Some(price.into()),
        duration: Some(minutes),
    };
    AiAgent {
        greeting: Some(
            "Thanks for calling Northside Family Clinic. I'm the virtual receptionist. How can I help?"
                .into(),
        ),
        services: vec![
            service("Annual physical", "$150", 45),
            service("Flu shot", "$35", 15),
            service("Sports physical", "$60", 30),
        ],
        faqs: vec![
            Faq {
                question: "Do you take walk-ins?".into(),
                answer: "Yes, we see walk-ins from 9 to 11 every weekday morning.".into(),
            },
            Faq {
                question: "Do you have parking?".into(),
                answer: "Yes, there is free parking behind the clinic.".into(),
            },
        ],
        address: Some("We're at 400 North Avenue, across from the public library.".into()),
        insurance: Some(
            "We accept Medicare, Blue Cross, Aetna and United, and all major cards.".into(),
        ),
        emergency_handoff: None,
        business_kind: BusinessKind::Medical,
    }
}

/// The scripted callers of the receptionist line: hours, a price, a booking, a person,
/// and one who says nothing.
fn receptionist_callers() -> Vec<Scenario> {
    use twilio_sim::Press;
    let call = |from: &str, lines: &[&str]| {
        let mut s = Scenario::new(from, RECEPTIONIST_LINE);
        s.presses = lines.iter().map(|l| Press::says(l)).collect();
        s.staff = twilio_sim::Staff::Answers { after_secs: 4 };
        s.talk_secs = 40;
        s
    };
    let mut silent = call("+15552009005", &[]);
    silent.presses = vec![Press::Nothing, Press::Nothing];
    silent.staff = twilio_sim::Staff::NoAnswer;
    vec![
        call(
            "+15552009001",
            &[
                "what are your hours",
                "do you take walk-ins",
                "no thanks, bye",
            ],
        ),
        call(
            "+15552009002",
            &[
                "how much is a flu shot",
                "do you take medicare",
                "that's all",
            ],
        ),
        call(
            "+15552009003",
            &[
                "I'd like to book an annual physical",
                "next Tuesday at ten in the morning",
                "my name is Maria Lopez",
                "yes",
                "no thank you",
            ],
        ),
        call("+15552009004", &["can I talk to a real person please"]),
        silent,
    ]
}

const FIRST: &[&str] = &[
    "MARIA", "JAMES", "AISHA", "WEI", "SOFIA", "DAVID", "PRIYA", "LUCAS", "EMMA", "NOAH", "OLIVIA",
    "LIAM", "AVA", "ETHAN", "MIA",
];
const LAST: &[&str] = &[
    "GARCIA", "SMITH", "KHAN", "CHEN", "ROSSI", "JOHNSON", "PATEL", "MARTIN", "BROWN", "NGUYEN",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("AUSTIN", "TX", "78701"),
    ("DALLAS", "TX", "75201"),
    ("CHICAGO", "IL", "60601"),
    ("DENVER", "CO", "80202"),
    ("PLANO", "TX", "75023"),
];
const CONVERSATIONS: &[&[(Speaker, &str)]] = &[
    &[
        (
            Speaker::Caller,
            "Hi, I'd like to book a cleaning for next week.",
        ),
        (
            Speaker::Staff,
            "Sure, we have Tuesday at ten or Thursday at two.",
        ),
        (Speaker::Caller, "Tuesday at ten works, thank you."),
        (Speaker::Staff, "You're booked for Tuesday at ten."),
    ],
    &[
        (Speaker::Caller, "I need to cancel my appointment tomorrow."),
        (
            Speaker::Staff,
            "No problem, I've cancelled it. Would you like to reschedule?",
        ),
        (Speaker::Caller, "Not right now, thanks."),
    ],
    &[
        (Speaker::Caller, "What are your hours on Saturday?"),
        (Speaker::Staff, "We're open nine to one on Saturdays."),
    ],
    &[
        (Speaker::Caller, "How much does a whitening cost?"),
        (Speaker::Staff, "Whitening starts at two hundred dollars."),
        (Speaker::Caller, "Okay, I'll think about it."),
    ],
    &[
        (Speaker::Caller, "Can I move my appointment to Friday?"),
        (
            Speaker::Staff,
            "Yes, Friday at eleven is open, I've moved you.",
        ),
    ],
    &[
        (
            Speaker::Caller,
            "My sink is leaking, can someone come today?",
        ),
        (
            Speaker::Staff,
            "We can send a plumber at three, I'll book it now.",
        ),
    ],
    // The hard ones: what keyword matching gets wrong.
    &[
        (
            Speaker::Caller,
            "Do you have anything for a filling this week?",
        ),
        (
            Speaker::Staff,
            "I'm sorry, we're fully booked until the 28th.",
        ),
        (Speaker::Caller, "That's too late, I'll try somewhere else."),
    ],
    &[
        (
            Speaker::Caller,
            "I'm just calling to confirm my appointment on Thursday at two.",
        ),
        (Speaker::Staff, "Yes, you're all set for Thursday at two."),
        (Speaker::Caller, "Great, thanks."),
    ],
    &[
        (Speaker::Caller, "Hello, is this Mario's Pizza?"),
        (Speaker::Staff, "No, this is the dental office."),
        (Speaker::Caller, "Oh sorry, wrong number."),
    ],
    &[
        (
            Speaker::Caller,
            "Hi, I'm calling from a marketing agency, we help businesses get more reviews.",
        ),
        (Speaker::Staff, "We're not interested, thank you."),
    ],
    &[
        (Speaker::Caller, "What time do you close on Friday?"),
        (Speaker::Staff, "Five o'clock. Did you want to come in?"),
        (Speaker::Caller, "Yes, can I do four on Friday for my son?"),
        (Speaker::Staff, "Sure, I've got him in at four on Friday."),
    ],
    &[
        (
            Speaker::Caller,
            "Hola, quería hacer una cita para una limpieza.",
        ),
        (Speaker::Staff, "Claro, ¿el martes a las diez?"),
        (Speaker::Caller, "Sí, perfecto."),
        (Speaker::Staff, "Listo, quedó agendada para el martes."),
    ],
    &[
        (
            Speaker::Caller,
            "I wanted to schedule a checkup but I couldn't find a time online.",
        ),
        (Speaker::Staff, "We have Monday at nine, would that work?"),
        (
            Speaker::Caller,
            "Let me check with my work and call you back.",
        ),
    ],
];

fn scenario(rng: &mut StdRng, to: &str, start_ms: i64, repeat_callers: &[String]) -> Scenario {
    let from = if rng.random_bool(0.3) && !repeat_callers.is_empty() {
        repeat_callers[rng.random_range(0..repeat_callers.len())].clone()
    } else {
        format!("+1555{:07}", rng.random_range(2_000_000..9_999_999))
    };
    let mut s = Scenario::new(&from, to);
    if rng.random_bool(0.6) {
        s.caller_name = Some(format!(
            "{} {}",
            FIRST[rng.random_range(0..FIRST.len())],
            LAST[rng.random_range(0..LAST.len())]
        ));
    }
    let (city, st, zip) = CITIES[rng.random_range(0..CITIES.len())];
    s.caller_location = Some((city.into(), st.into(), zip.into(), "US".into()));
    s.start_ms = Some(start_ms);
    // Menu choice: new, existing, nothing, or a wrong key.
    s.presses = match rng.random_range(0..10) {
        0..=3 => vec![Press::Digits("1".into())],
        4..=7 => vec![Press::Digits("2".into())],
        8 => vec![Press::Nothing, Press::Digits("1".into())],
        _ => vec![Press::Digits("9".into()), Press::Nothing],
    };
    s.hang_up_in_menu = rng.random_bool(0.07);
    s.staff = match rng.random_range(0..100) {
        0..=61 => Staff::Answers {
            after_secs: rng.random_range(3..20),
        },
        62..=86 => Staff::NoAnswer,
        87..=95 => Staff::Busy,
        _ => Staff::Fails,
    };
    s.talk_secs = rng.random_range(25..420);
    s.voicemail_secs = rng.random_bool(0.65).then(|| rng.random_range(8..70));
    s.voicemail_text = s
        .voicemail_secs
        .map(|_| "Hi, please call me back about an appointment.".into());
    let convo = CONVERSATIONS[rng.random_range(0..CONVERSATIONS.len())];
    s.script = convo
        .iter()
        .map(|(who, line)| (*who, (*line).to_owned()))
        .collect();
    // Now and then Twilio delivers late or twice; the call record does not care.
    s.delivery = match rng.random_range(0..20) {
        0 => Delivery::Duplicated,
        1 => Delivery::Shuffled { seed: rng.random() },
        _ => Delivery::InOrder,
    };
    s
}

/// A start time within the last `days` days, mostly in business hours (US Central).
fn start_time(rng: &mut StdRng, now_ms: i64, days: u32) -> i64 {
    let day = i64::from(rng.random_range(0..days.max(1)));
    let local_hour = if rng.random_bool(0.85) {
        rng.random_range(8..18)
    } else {
        rng.random_range(0..24)
    };
    let minute = rng.random_range(0..60);
    let midnight_utc = now_ms - now_ms.rem_euclid(86_400_000) - day * 86_400_000;
    // Central time is UTC-6 in winter.
    let start = midnight_utc + (local_hour + 6) * 3_600_000 + minute * 60_000;
    // Calls run up to ~10 minutes; none should end in the future. A time later today
    // than that moves to a random earlier moment of the day, so today's calls do not
    // all pile up at one minute.
    let latest = now_ms - 15 * 60_000;
    if start <= latest {
        return start;
    }
    let mut local_midnight = midnight_utc + 6 * 3_600_000;
    if local_midnight > latest {
        local_midnight -= 86_400_000;
    }
    local_midnight + rng.random_range(0..(latest - local_midnight).max(1))
}

/// Plays `options.calls` calls to the demo's numbers, calling `progress` after each.
pub async fn play_traffic(
    sim: &Simulator,
    setup: &DemoSetup,
    options: TrafficOptions,
    progress: impl Fn(usize) + Send + Sync + 'static,
) -> TrafficSummary {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let repeat_callers: Vec<String> = (0..40).map(|i| format!("+1555200{i:04}")).collect();
    let now = jiff::Timestamp::now().as_millisecond();
    let mut scenarios = Vec::with_capacity(options.calls);
    for _ in 0..options.calls {
        let (_, _, numbers) = if rng.random_bool(0.8) {
            &setup.tenants[0]
        } else {
            &setup.tenants[1]
        };
        let to = numbers[rng.random_range(0..numbers.len())].clone();
        let start = start_time(&mut rng, now, options.days);
        scenarios.push(scenario(&mut rng, &to, start, &repeat_callers));
    }
    let progress = std::sync::Arc::new(progress);
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for s in scenarios {
        let sim = sim.clone();
        let permit = semaphore.clone();
        let progress = progress.clone();
        tasks.spawn(async move {
            let _permit = permit.acquire_owned().await;
            let errors = match sim.play(&s).await {
                Ok(report) if report.errors.is_empty() => 0,
                Ok(report) => {
                    tracing::warn!(errors = ?report.errors, "demo call reported problems");
                    1
                }
                Err(e) => {
                    tracing::warn!(error = %e, "demo call could not be placed");
                    1
                }
            };
            progress(1);
            errors
        });
    }
    let mut summary = TrafficSummary::default();
    while let Some(result) = tasks.join_next().await {
        summary.calls += 1;
        summary.errors += result.unwrap_or(1);
    }
    // The receptionist line's scripted callers.
    for s in receptionist_callers() {
        match sim.play(&s).await {
            Ok(report) if report.errors.is_empty() => {}
            Ok(report) => {
                tracing::warn!(errors = ?report.errors, "demo receptionist call reported problems");
                summary.errors += 1;
            }
            Err(e) => {
                tracing::warn!(error = %e, "demo receptionist call could not be placed");
                summary.errors += 1;
            }
        }
        summary.receptionist_calls += 1;
    }
    // Some texts to the clinic's numbers.
    let dental_numbers = &setup.tenants[0].2;
    for i in 0..(options.calls / 12).max(1) {
        let from = &repeat_callers[i % repeat_callers.len()];
        let to = &dental_numbers[i % dental_numbers.len()];
        match sim.send_sms(from, to, TEXTS[i % TEXTS.len()]).await {
            Ok((200, _)) => summary.texts += 1,
            Ok((status, _)) => {
                tracing::warn!(status, "demo text was refused");
                summary.errors += 1;
            }
            Err(e) => {
                tracing::warn!(error = %e, "demo text could not be sent");
                summary.errors += 1;
            }
        }
    }
    summary
}

/// Waits (at most `timeout`) until no job is queued, running or waiting to retry.
pub async fn wait_for_jobs(state: &crate::AppState, timeout: std::time::Duration) {
    let started = std::time::Instant::now();
    while started.elapsed() < timeout {
        let mut pending = 0;
        for s in [
            crate::jobs::JobState::Queued,
            crate::jobs::JobState::Running,
            crate::jobs::JobState::Failed,
        ] {
            pending += crate::jobs::list(&state.db, Some(s), 1, 0)
                .await
                .map_or(1, |(_, total)| total);
        }
        if pending == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// What [`book_and_reply`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrontDesk {
    /// Appointments booked from calls the classifier heard a booking in.
    pub booked: usize,
    /// Texts answered from the clinic's number.
    pub replies: usize,
}

const REPLIES: &[&str] = &[
    "Of course! Thursday at 2:30 PM works. See you then.",
    "Yes, we're in network with Delta Dental.",
    "No problem, thanks for letting us know!",
];

/// Plays the clinic's front desk: staff members, an appointment for each call that
/// booked one (the next days, in the clinic's zone, linked to the call), and replies to
/// the first texts so the Messages page shows conversations.
pub async fn book_and_reply(state: &AppState, setup: &DemoSetup) -> AppResult<FrontDesk> {
    let db = &state.db;
    let Some((tenant, _, _)) = setup.tenants.first() else {
        return Ok(FrontDesk::default());
    };
    let mut staff = Vec::new();
    for (name, phone, notify) in [
        ("Dr. Maya Patel", Some("+15557650001"), true),
        ("Dr. Luis Ortega", None, false),
        ("Kim (hygienist)", None, false),
    ] {
        let member = crate::appointments::create_staff(
            db,
            tenant,
            crate::appointments::StaffInput {
                name: Some(name.into()),
                phone: Some(phone.map(str::to_owned)),
                sms_notifications: Some(notify),
                tenant_id: None,
            },
        )
        .await?;
        staff.push(member.id);
    }
    let scope = crate::calls::Scope::One(crate::tenants::TenantId::from_stored(tenant.clone()));
    let tz = crate::calls::rollups::tenant_zone(db, tenant).await?;
    let booked_calls = crate::calls::CallFilter {
        appointment_booked: Some("true".into()),
        limit: Some(12),
        ..Default::default()
    };
    let (calls, ..) = crate::calls::list(db, &scope, &booked_calls, &tz).await?;
    let today = jiff::Timestamp::now().to_zoned(tz).date();
    let mut out = FrontDesk::default();
    for (i, call) in calls.iter().enumerate() {
        let Some(phone) = call.from.clone() else {
            continue;
        };
        let offset = i64::try_from(i).unwrap_or(0);
        let day = today
            .checked_add(jiff::Span::new().days(offset / 3))
            .unwrap_or(today);
        let new = crate::appointments::NewAppointment {
            customer_name: Some(
                call.caller_name
                    .clone()
                    .unwrap_or_else(|| "New patient".into()),
            ),
            customer_phone: Some(phone),
            staff_member_id: staff.get(i % staff.len()).cloned(),
            start_time: Some(format!("{day}T{:02}:00", 9 + (offset % 3) * 2)),
            notes: call.summary_text.clone(),
            call_sid: Some(call.call_sid.clone()),
            ..Default::default()
        };
        match crate::appointments::create(db, tenant, new).await {
            Ok(_) => out.booked += 1,
            Err(AppError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let (threads, _) = crate::messaging::threads(db, tenant, REPLIES.len() as i64, 0).await?;
    for (thread, reply) in threads.iter().zip(REPLIES) {
        crate::messaging::send_for_tenant(
            db,
            tenant,
            &thread.party,
            reply,
            crate::messaging::SendOptions::default(),
        )
        .await?;
        out.replies += 1;
    }
    Ok(out)
}

/// A tenant's answered calls, how many of them were classified, and how many booked.
pub async fn booking_figures(
    state: &crate::AppState,
    tenant: &str,
) -> crate::error::AppResult<(i64, i64, i64)> {
    let scope = crate::calls::Scope::One(crate::tenants::TenantId::from_stored(tenant.to_owned()));
    let tz = crate::calls::rollups::tenant_zone(&state.db, tenant).await?;
    let stats = crate::calls::stats(
        &state.db,
        &scope,
        &crate::calls::CallFilter::default(),
        &tz,
        &[],
    )
    .await?;
    let unknown = crate::calls::CallFilter {
        status: Some("answered".into()),
        appointment_booked: Some("unknown".into()),
        limit: Some(1),
        ..Default::default()
    };
    let (_, not_analysed, ..) = crate::calls::list(&state.db, &scope, &unknown, &tz).await?;
    Ok((
        stats.answered,
        stats.answered - not_analysed,
        stats.appointments_booked,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_are_past_and_spread_even_early_in_the_day() {
        // 05:44 in Chicago: most of "today" is still ahead.
        let now: i64 = "2026-11-24T11:44:00Z"
            .parse::<jiff::Timestamp>()
            .expect("time")
            .as_millisecond();
        let mut rng = StdRng::seed_from_u64(7);
        let starts: Vec<i64> = (0..500).map(|_| start_time(&mut rng, now, 7)).collect();
        let latest = now - 15 * 60_000;
        assert!(starts.iter().all(|s| *s <= latest));
        assert!(starts.iter().all(|s| *s >= now - 8 * 86_400_000));
        let at_latest = starts.iter().filter(|s| **s == latest).count();
        assert!(at_latest <= 1, "{at_latest} calls piled up at one minute");
    }
}
