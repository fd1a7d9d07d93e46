//! The `switchboard` command.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use switchboard::config::Config;
use switchboard::users::{NewUser, Role};

/// mimalloc rather than glibc's malloc: the webhook path allocates on the HTTP threads
/// and frees on the event writer's, where glibc spent about a fifth of the process's CPU
/// under load (see docs/architecture.md, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-hosted, multi-tenant call tracking on Twilio.
///
/// Configuration comes from environment variables (see the README); a bad value
/// stops the start with one line naming the variable.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, the webhooks and the portal.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Measure the performance goals on this machine and print the figures.
    Bench {
        /// webhooks, calls, process, classify (all when none given); latency: only the
        /// webhook latency runs of `webhooks`.
        #[arg(value_parser = ["webhooks", "latency", "calls", "process", "classify"])]
        which: Vec<String>,
        /// Calls to load for the list and stats run.
        #[arg(long, default_value_t = 1_000_000)]
        calls: usize,
        /// Seconds of each webhook throughput run (wrk, closed loop).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=600))]
        run_seconds: u32,
        /// With `webhooks`: perf-anchors' `limit-probe` binary (the rusqlite reference),
        /// measured beside ours when it is there.
        #[arg(long, default_value = "target/perf-anchors/release/limit-probe")]
        limit_probe: std::path::PathBuf,
        /// With `webhooks`: perf-anchors' `peer-node` folder with its node_modules (the
        /// seeds' stack), measured beside ours when it is there.
        #[arg(long, default_value = "target/peer-node")]
        peer_node: std::path::PathBuf,
        /// With `webhooks` or `latency`: a PostgreSQL server URL; also measure one and two `serve`
        /// processes on fresh databases there (created and dropped by the bench). With
        /// `calls`: also measure the call log on a fresh database there.
        #[arg(long)]
        postgres: Option<String>,
        /// Seconds of the webhook latency run at 1,000 requests a second (180 for a
        /// sustained run; its requests are prepared beforehand, about 1 KB each).
        #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=3600))]
        seconds: u32,
        /// With `classify`: list every call it gets wrong (of the tuning part or the file).
        #[arg(long)]
        misses: bool,
        /// With `classify`: measure on this file of labelled calls instead (the labelled
        /// set's format, or the JSON lines of the corrections export).
        #[arg(long)]
        labelled: Option<std::path::PathBuf>,
    },
    /// Classify calls offline with the local classifier: JSON lines on stdin
    /// (`{"id", "kind": "summary"|"transcript", "text"}`), one answer per line on stdout.
    Classify {
        /// Read and write JSON lines (the only format).
        #[arg(long)]
        jsonl: bool,
    },
    /// Start the service with a simulated Twilio, demo tenants and a week of calls.
    Demo {
        /// Calls to play.
        #[arg(long, default_value_t = 300)]
        calls: usize,
        /// Days the calls are spread over.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Stop after the traffic instead of serving until Ctrl-C.
        #[arg(long)]
        exit: bool,
    },
    /// Write a consistent copy of the SQLite database to PATH while the service runs.
    /// Keep the secret key with it (see the README): the copy's secrets need it.
    Backup {
        /// The new file (must not exist).
        path: std::path::PathBuf,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (non-interactive, for scripts).
    Create {
        /// Login email.
        #[arg(long)]
        email: String,
        /// Password (at least 8 characters); prefer --password-stdin.
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// admin, customer or receptionist.
        #[arg(long, value_parser = ["admin", "customer", "receptionist"])]
        role: String,
        /// The tenant, for customers and receptionists.
        #[arg(long)]
        tenant: Option<String>,
        /// Pages a receptionist may open, comma-separated (e.g. call-logs,contacts).
        #[arg(long, value_delimiter = ',')]
        pages: Vec<String>,
    },
}

fn init_logging(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Offline: no configuration, no database, nothing on stdout but the answers.
    if let Command::Classify { jsonl } = cli.command {
        if !jsonl {
            anyhow::bail!("classify reads and writes JSON lines: pass --jsonl");
        }
        switchboard::intelligence::classifier::classify_jsonl(
            std::io::stdin().lock(),
            std::io::BufWriter::new(std::io::stdout().lock()),
        )?;
        return Ok(());
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: configuration error: {e}");
            std::process::exit(2);
        }
    };
    // The demo and the benchmarks print their own figures; per-request lines would bury
    // them (and, for the benchmarks, be part of what is measured).
    let default_filter = if matches!(cli.command, Command::Demo { .. } | Command::Bench { .. }) {
        "warn"
    } else {
        "info"
    };
    init_logging(config.log_json, default_filter);
    for name in Config::unknown_variables() {
        tracing::warn!(variable = %name, "unknown SWITCHBOARD_ variable ignored (typo?)");
    }
    match cli.command {
        Command::Serve => {
            let app = switchboard::App::start(config).await?;
            let backend = format!("{:?}", app.state.db.backend()).to_lowercase();
            tracing::info!(addr = %app.addr, public_url = %app.state.config.public_url, database = %backend, "Switchboard is serving");
            if !switchboard::users::any_exist(&app.state.db).await? {
                tracing::warn!(
                    "no users yet: create an admin with `switchboard user create --email you@example.com --role admin --password-stdin`"
                );
            }
            app.run_until(shutdown_signal()).await;
        }
        Command::Demo { calls, days, exit } => demo(config, calls, days, exit).await?,
        Command::Bench {
            which,
            calls,
            run_seconds,
            limit_probe,
            peer_node,
            postgres,
            seconds,
            misses,
            labelled,
        } => {
            let options = switchboard::bench::BenchOptions {
                calls,
                run_secs: run_seconds,
                rate_secs: seconds,
                ..Default::default()
            };
            let all = which.is_empty();
            if all || which.iter().any(|w| w == "process") {
                switchboard::bench::process().await?;
            }
            if all || which.iter().any(|w| w == "webhooks") {
                switchboard::bench::webhooks(
                    options,
                    switchboard::bench::Anchors {
                        limit_probe: limit_probe.clone(),
                        peer_node: peer_node.clone(),
                        postgres: postgres.clone(),
                    },
                )
                .await?;
            }
            if which.iter().any(|w| w == "latency") {
                switchboard::bench::latency(options, postgres.as_deref()).await?;
            }
            if all || which.iter().any(|w| w == "calls") {
                switchboard::bench::calls(options, postgres.as_deref()).await?;
            }
            if all || which.iter().any(|w| w == "classify") {
                switchboard::bench::classify(misses, labelled.as_deref())?;
            }
        }
        Command::Classify { .. } => unreachable!("handled before the configuration"),
        Command::Backup { path } => {
            let db = switchboard::db::Db::connect(&config.effective_database_url()).await?;
            let result = db.backup(&path).await;
            db.close().await;
            let bytes = result.context("backup failed")?;
            println!("backed up to {} ({bytes} bytes)", path.display());
            if config.secret_key.is_none() {
                println!(
                    "keep {} with it: it decrypts the stored Twilio credentials",
                    config.data_dir.join("secret.key").display()
                );
            }
        }
        Command::Migrate => {
            let state = switchboard::AppState::open(config).await?;
            state.db.close().await;
            println!("migrations applied");
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    password,
                    password_stdin,
                    role,
                    tenant,
                    pages,
                },
        } => {
            let password = match (password, password_stdin) {
                (Some(p), false) => p,
                (None, true) => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .context("reading the password from stdin")?;
                    s.trim_end_matches(['\r', '\n']).to_owned()
                }
                _ => bail!("give the password with --password or --password-stdin"),
            };
            let role =
                Role::parse(&role).context("role must be admin, customer or receptionist")?;
            let state = switchboard::AppState::open(config).await?;
            let created = switchboard::users::create(
                &state.db,
                NewUser {
                    email,
                    password,
                    role,
                    tenant_id: tenant,
                    allowed_pages: Some(pages),
                    phone: None,
                },
            )
            .await;
            state.db.close().await;
            match created {
                Ok(user) => println!(
                    "created {} {} ({})",
                    user.role.as_str(),
                    user.email,
                    user.id
                ),
                Err(switchboard::error::AppError::Validation(fields)) => {
                    let reasons: Vec<String> =
                        fields.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    bail!("cannot create user: {}", reasons.join("; "))
                }
                Err(e) => bail!("cannot create user: {e}"),
            }
        }
    }
    Ok(())
}

/// `switchboard demo`: fresh demo data, the simulator as Twilio, traffic, then serve.
async fn demo(mut config: Config, calls: usize, days: u32, exit: bool) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    if std::env::var_os("SWITCHBOARD_DATA_DIR").is_none() {
        config.data_dir = "./data/demo".into();
    }
    if config.database_url.is_none() {
        // The demo starts from nothing each time; the simulator keeps no state either.
        for f in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
            let _ = std::fs::remove_file(config.data_dir.join(f));
        }
    } else {
        bail!("the demo uses its own SQLite database; unset DATABASE_URL");
    }
    let sim = twilio_sim::Simulator::start()
        .await
        .context("starting the Twilio simulator")?;
    let account = sim.create_account("Switchboard demo");
    config.platform.account_sid = Some(account.sid.clone());
    config.platform.auth_token = Some(account.auth_token.clone());
    // Summaries and call reasons through the simulated Voice Intelligence.
    let service = sim.create_intelligence_service(&account.sid, None);
    config.platform.vi_service_sid = service.clone();
    config.twilio_api_base = sim.base_url().to_owned();
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    if std::env::var_os("PUBLIC_URL").is_none() && std::env::var_os("BACKEND_URL").is_none() {
        config.public_url = format!("http://{addr}");
    }
    let app = switchboard::App::start_with_listener(config, listener).await?;
    if let Some(service) = &service {
        sim.set_intelligence_webhook(
            &account.sid,
            service,
            &format!("{}/api/twilio/ci-status", app.state.config.public_url),
        );
    }
    let setup = switchboard::demo::seed(&app.state, &sim, &account.sid).await?;

    let quiet = !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some();
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(calls as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "playing calls {bar:40.cyan/blue} {pos}/{len} {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let ticker = bar.clone();
    let options = switchboard::demo::TrafficOptions {
        calls,
        days,
        ..Default::default()
    };
    let summary =
        switchboard::demo::play_traffic(&sim, &setup, options, move |n| ticker.inc(n as u64)).await;
    bar.finish_and_clear();

    // Classification runs on the job queue a moment after each call: let it finish so
    // the figures below (and the dashboard) are complete.
    switchboard::demo::wait_for_jobs(&app.state, std::time::Duration::from_secs(30)).await;
    let desk = switchboard::demo::book_and_reply(&app.state, &setup).await?;
    switchboard::demo::wait_for_jobs(&app.state, std::time::Duration::from_secs(30)).await;
    println!();
    println!(
        "Switchboard demo is serving at {}",
        app.state.config.public_url
    );
    println!("  Twilio simulator: {}", sim.base_url());
    println!(
        "  played {} calls and {} texts ({} with problems) over {days} days",
        summary.calls, summary.texts, summary.errors
    );
    println!(
        "  the AI receptionist answered {} scripted callers on {}",
        summary.receptionist_calls,
        switchboard::demo::RECEPTIONIST_LINE
    );
    println!(
        "  the front desk booked {} appointments from those calls and answered {} texts",
        desk.booked, desk.replies
    );
    for (id, name, numbers) in &setup.tenants {
        println!("  tenant {name}: {}", numbers.join(", "));
        if let Ok((answered, classified, booked)) =
            switchboard::demo::booking_figures(&app.state, id).await
        {
            println!(
                "    {answered} answered calls, {classified} classified from their transcripts, {booked} booked an appointment"
            );
        }
    }
    println!("  logins (password: {}):", switchboard::demo::DEMO_PASSWORD);
    for login in &setup.logins {
        println!("    {:<32} {}", login.email, login.label);
    }
    println!(
        "  place a call yourself: cargo run -p twilio-sim -- call --url {} --to +15551230001 --press 1 --account-sid {} --auth-token {}",
        app.state.config.public_url, account.sid, account.auth_token
    );
    if exit {
        app.stop().await;
        return Ok(());
    }
    println!("Press Ctrl-C to stop.");
    app.run_until(shutdown_signal()).await;
    Ok(())
}
