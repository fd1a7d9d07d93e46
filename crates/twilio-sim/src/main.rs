//! `twilio-sim`: run the simulator, or place one call against any Switchboard.

use clap::{Parser, Subcommand, ValueEnum};
use twilio_sim::{Delivery, Press, Scenario, Simulator, Speaker, Staff};

/// A Twilio that runs on loopback.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum StaffArg {
    Answers,
    Busy,
    NoAnswer,
    Fails,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeliveryArg {
    InOrder,
    Duplicated,
    Shuffled,
    Delayed,
    Concurrent,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API with one account until Ctrl-C.
    Serve {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:4010")]
        bind: String,
        /// Account SID to create (random if absent).
        #[arg(long, env = "TWILIO_ACCOUNT_SID")]
        account_sid: Option<String>,
        /// Its auth token (random if absent).
        #[arg(long, env = "TWILIO_AUTH_TOKEN")]
        auth_token: Option<String>,
    },
    /// Place one inbound call to a Switchboard and print what happened as JSON.
    Call {
        /// The Switchboard's public URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The tracking number to call (a number a tenant owns).
        #[arg(long)]
        to: String,
        /// The caller.
        #[arg(long, default_value = "+15550001111")]
        from: String,
        /// Digits to press at each menu, in order (repeat the flag).
        #[arg(long)]
        press: Vec<String>,
        /// What the staff phone does.
        #[arg(long, value_enum, default_value = "answers")]
        staff: StaffArg,
        /// Seconds of ringing before staff answer.
        #[arg(long, default_value_t = 5)]
        answer_after: u32,
        /// Seconds of conversation.
        #[arg(long, default_value_t = 30)]
        talk: u32,
        /// Seconds of voicemail (0 hangs up at the beep).
        #[arg(long, default_value_t = 15)]
        voicemail: u32,
        /// Hang up during the menu.
        #[arg(long)]
        hang_up_in_menu: bool,
        /// How report-only callbacks are delivered.
        #[arg(long, value_enum, default_value = "in-order")]
        delivery: DeliveryArg,
        /// Lines of conversation, alternating caller and staff.
        #[arg(long)]
        say: Vec<String>,
        /// The account Switchboard verifies signatures with.
        #[arg(long, env = "TWILIO_ACCOUNT_SID")]
        account_sid: String,
        /// Its auth token.
        #[arg(long, env = "TWILIO_AUTH_TOKEN")]
        auth_token: String,
    },
    /// Place a call as a Voice SDK browser does: a signed request to a TwiML App's Voice
    /// URL from `client:{identity}`, then follow the answer (the dialed party picks up).
    ClientCall {
        /// The Switchboard's public URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The browser's identity (a Switchboard user id).
        #[arg(long)]
        identity: String,
        /// The number the browser dials.
        #[arg(long)]
        to: String,
        /// The tracking number to show as caller id.
        #[arg(long)]
        from_number: Option<String>,
        /// Seconds of ringing before the dialed party answers.
        #[arg(long, default_value_t = 5)]
        answer_after: u32,
        /// Seconds of conversation.
        #[arg(long, default_value_t = 30)]
        talk: u32,
        /// The account Switchboard verifies signatures with.
        #[arg(long, env = "TWILIO_ACCOUNT_SID")]
        account_sid: String,
        /// Its auth token.
        #[arg(long, env = "TWILIO_AUTH_TOKEN")]
        auth_token: String,
    },
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let code = match Cli::parse().command {
        Command::Serve {
            bind,
            account_sid,
            auth_token,
        } => serve(&bind, account_sid, auth_token).await,
        Command::Call {
            url,
            to,
            from,
            press,
            staff,
            answer_after,
            talk,
            voicemail,
            hang_up_in_menu,
            delivery,
            say,
            account_sid,
            auth_token,
        } => {
            let mut s = Scenario::new(&from, &to);
            s.presses = press.into_iter().map(Press::Digits).collect();
            s.staff = match staff {
                StaffArg::Answers => Staff::Answers {
                    after_secs: answer_after,
                },
                StaffArg::Busy => Staff::Busy,
                StaffArg::NoAnswer => Staff::NoAnswer,
                StaffArg::Fails => Staff::Fails,
            };
            s.talk_secs = talk;
            s.voicemail_secs = (voicemail > 0).then_some(voicemail);
            s.hang_up_in_menu = hang_up_in_menu;
            s.delivery = match delivery {
                DeliveryArg::InOrder => Delivery::InOrder,
                DeliveryArg::Duplicated => Delivery::Duplicated,
                DeliveryArg::Shuffled => Delivery::Shuffled {
                    seed: rand::random(),
                },
                DeliveryArg::Delayed => Delivery::Delayed { ms: 200 },
                DeliveryArg::Concurrent => Delivery::Concurrent,
            };
            s.script = say
                .into_iter()
                .enumerate()
                .map(|(i, line)| {
                    (
                        if i % 2 == 0 {
                            Speaker::Caller
                        } else {
                            Speaker::Staff
                        },
                        line,
                    )
                })
                .collect();
            call(&url, s, &account_sid, &auth_token).await
        }
        Command::ClientCall {
            url,
            identity,
            to,
            from_number,
            answer_after,
            talk,
            account_sid,
            auth_token,
        } => {
            let mut s = Scenario::new(&format!("client:{identity}"), &to);
            s.staff = Staff::Answers {
                after_secs: answer_after,
            };
            s.talk_secs = talk;
            s.voicemail_secs = None;
            client_call(&url, s, from_number, &account_sid, &auth_token).await
        }
    };
    std::process::exit(code);
}

async fn serve(bind: &str, account_sid: Option<String>, auth_token: Option<String>) -> i32 {
    let sim = match Simulator::start_on(bind).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("twilio-sim: {e}");
            return 1;
        }
    };
    let (sid, token) = match (account_sid, auth_token) {
        (Some(sid), Some(token)) => {
            sim.add_account(&sid, &token, "Simulated account");
            (sid, token)
        }
        _ => {
            let creds = sim.create_account("Simulated account");
            (creds.sid, creds.auth_token)
        }
    };
    println!("twilio-sim serving the REST API at {}", sim.base_url());
    println!("  TWILIO_API_BASE={}", sim.base_url());
    println!("  TWILIO_ACCOUNT_SID={sid}");
    println!("  TWILIO_AUTH_TOKEN={token}");
    let _ = tokio::signal::ctrl_c().await;
    0
}

async fn call(url: &str, scenario: Scenario, account_sid: &str, auth_token: &str) -> i32 {
    let Some(sim) = simulator_for(account_sid, auth_token).await else {
        return 1;
    };
    let base = url.trim_end_matches('/');
    sim.add_number(account_sid, &scenario.to, "Tracking number");
    sim.set_number_webhooks(
        account_sid,
        &scenario.to,
        &format!("{base}/api/twilio/voice/incoming"),
        Some(&format!("{base}/api/twilio/voice/status-callback")),
        Some(&format!("{base}/api/twilio/sms")),
    );
    print_report(sim.play(&scenario).await)
}

async fn client_call(
    url: &str,
    scenario: Scenario,
    from_number: Option<String>,
    account_sid: &str,
    auth_token: &str,
) -> i32 {
    let Some(sim) = simulator_for(account_sid, auth_token).await else {
        return 1;
    };
    let voice_url = format!("{}/api/twilio/voice/client", url.trim_end_matches('/'));
    let extra: Vec<(&str, &str)> = from_number
        .as_deref()
        .map(|n| ("FromNumber", n))
        .into_iter()
        .collect();
    print_report(
        sim.client_call(account_sid, &voice_url, &scenario, &extra)
            .await,
    )
}

/// A simulator on an ephemeral port that knows the account Switchboard verifies with;
/// `None` (said on stderr) when it cannot start.
async fn simulator_for(account_sid: &str, auth_token: &str) -> Option<Simulator> {
    match Simulator::start().await {
        Ok(sim) => {
            sim.add_account(account_sid, auth_token, "Simulated account");
            Some(sim)
        }
        Err(e) => {
            eprintln!("twilio-sim: {e}");
            None
        }
    }
}

/// Prints a call's report as JSON; the exit code says whether Twilio would have
/// reported problems.
fn print_report(result: Result<twilio_sim::CallReport, twilio_sim::SimError>) -> i32 {
    match result {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            i32::from(!report.errors.is_empty())
        }
        Err(e) => {
            eprintln!("twilio-sim: {e}");
            1
        }
    }
}
