//! The `switchboard` command.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use switchboard::config::Config;
use switchboard::users::{NewUser, Role};

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

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
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
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: configuration error: {e}");
            std::process::exit(2);
        }
    };
    init_logging(config.log_json);
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
