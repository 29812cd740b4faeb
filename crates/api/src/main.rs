//! `user-management`: the thin composition root. Reads the configuration, builds the
//! application, runs it.

use std::process::ExitCode;

use chrono::TimeDelta;
use clap::{Parser, Subcommand};
use um_api::{
    config::Config,
    startup::{Application, Services},
    telemetry,
};

#[derive(Debug, Parser)]
#[command(
    name = "user-management",
    version,
    about = "Self-hosted user management service"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Create the database if missing, apply pending migrations, and exit.
    Migrate,
    /// Delete picture objects that no account points at (left by a crash mid-upload), then exit.
    /// The server also does this every ORPHAN_SWEEP_INTERVAL_MINUTES.
    SweepPictures {
        /// Leave objects younger than this alone: an upload may still be finishing.
        #[arg(long, default_value_t = 60)]
        grace_minutes: i64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A .env file is optional; the real environment wins over it.
    let _ = dotenvy::dotenv();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("user-management: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);

    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&config).await,
        Command::Migrate => migrate(&config).await,
        Command::SweepPictures { grace_minutes } => sweep_pictures(&config, grace_minutes).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "user-management stopped");
            eprintln!("user-management: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    Application::build(config)
        .await?
        .run_until_stopped()
        .await?;
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    um_postgres::create_database_if_missing(&config.database_url).await?;
    um_postgres::run_migrations(&config.database_url).await?;
    tracing::info!("migrations are up to date");
    Ok(())
}

async fn sweep_pictures(config: &Config, grace_minutes: i64) -> anyhow::Result<()> {
    let services = Services::build(config).await?;
    let report = services
        .users
        .sweep_orphaned_pictures(TimeDelta::minutes(grace_minutes.max(0)))
        .await?;
    println!(
        "examined {} picture objects older than {grace_minutes} minutes; deleted {} that no account points at",
        report.examined, report.deleted
    );
    Ok(())
}
