//! `user-management`: the thin composition root. Reads the configuration, builds the
//! application, runs it.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use chrono::TimeDelta;
use clap::{Parser, Subcommand};
use um_api::{
    cli::{self, Completion, CreateAdminArgs},
    config::Config,
    server::Application,
    startup::Services,
    telemetry,
};

/// mimalloc instead of glibc's allocator: password hashes (19 MiB each) and decoded pictures
/// (tens of MiB) are allocated and freed on worker threads all the time, and glibc keeps such
/// freed blocks in per-thread arenas, so the resident memory kept growing (to over 1 GiB in
/// `bench/`); mimalloc gives them back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Ask the server listening on BIND_ADDR for /healthz; exit 0 when it answers 200.
    ///
    /// The container image's HEALTHCHECK: the image has no shell and no HTTP client. Only
    /// BIND_ADDR is read (an unspecified address such as 0.0.0.0 is probed on loopback).
    Healthcheck {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3)]
        timeout_seconds: u64,
    },
    /// Create the database if missing, apply pending migrations, and exit.
    Migrate,
    /// Delete picture objects that no account points at (left by a crash mid-upload), then exit.
    /// The server also does this every ORPHAN_SWEEP_INTERVAL_MINUTES.
    SweepPictures {
        /// Leave objects younger than this alone: an upload may still be finishing.
        #[arg(long, default_value_t = 60)]
        grace_minutes: i64,
    },
    /// Create a verified ADMIN and print its id.
    ///
    /// The password is asked for on the terminal (without echo), or read from the first line of
    /// standard input with --password-stdin; it is never an argument. It must meet the password
    /// policy.
    CreateAdmin(CreateAdminArgs),
    /// Give the account with this email a role (ANONYMOUS, AUTHENTICATED, MANAGER, ADMIN).
    ///
    /// The user is emailed about it (by the running service's outbox worker).
    SetRole {
        /// The account's email.
        email: String,
        /// The new role.
        role: String,
    },
    /// Lift the lock of the account with this email and reset its failed-login counter.
    Unlock {
        /// The account's email.
        email: String,
    },
    /// Import accounts from a CSV file; bad rows are reported and skipped.
    ///
    /// The header row names the columns, in any order: id, email (required), nickname,
    /// first_name, last_name, bio, linkedin_profile_url, github_profile_url, role (default
    /// AUTHENTICATED when email_verified, else ANONYMOUS), email_verified, is_professional,
    /// hashed_password (a bcrypt hash, kept), password (hashed with Argon2id). An account without
    /// either gets in by a password reset; a missing nickname is generated. Every row is
    /// validated like an API request; each bad row is reported on standard error with its line
    /// number. Rows are imported in transactions of 500. Accounts whose id or email (in any
    /// casing) exist are skipped and counted as already present, so the import can run again.
    /// Exits with 0 when every row was good, 3 when some were rejected, 1 on failure.
    ImportCsv {
        /// The CSV file.
        file: PathBuf,
    },
    /// Copy every user of a FastAPI original's database, safe to run again.
    ///
    /// Ids, nicknames, roles, flags, timestamps and bcrypt password hashes are kept (a bcrypt
    /// hash becomes Argon2id at the user's next login). Profile pictures are not copied: this
    /// service stores pictures itself, so those users upload theirs again. A nickname that
    /// breaks our rules or is taken is replaced by a generated one; a name, bio or profile URL
    /// that does not pass is dropped; a user whose email is not valid here is skipped; each such
    /// case is reported on standard error. Users whose id or email exist are skipped and counted
    /// as already present. Exits with 0, 3 when users were skipped, 1 on failure.
    ImportOriginal {
        /// The original's database, postgres://user:password@host:port/name.
        #[arg(env = "ORIGINAL_DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Write every account as CSV, ordered by email.
    ///
    /// The columns of import-csv without the password columns: id, email, nickname, first_name,
    /// last_name, bio, linkedin_profile_url, github_profile_url, role, email_verified,
    /// is_professional.
    ExportCsv {
        /// The file to write; standard output without it.
        file: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // Transparent huge pages off for this process. mimalloc asks for them, and with them every
    // touched 2 MiB of its arena is resident in full: the idle service held 43 MiB instead of
    // 24 MiB, and 61 MiB instead of 44 MiB after one login (bench/, docs/benchmarks.md). Failure
    // (an old kernel) only costs memory, so it is ignored.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { timeout_seconds }) = cli.command {
        return healthcheck(timeout_seconds);
    }
    // A .env file is optional; the real environment wins over it.
    let _ = dotenvy::dotenv();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("user-management: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    // The operator's tools log only warnings by default and report on standard error.
    let tool = !matches!(
        command,
        Command::Serve | Command::Migrate | Command::SweepPictures { .. }
    );
    if tool {
        cli::init_logging(config.log_format);
    } else {
        telemetry::init(config.log_format);
    }

    let result = match command {
        Command::Serve => serve(&config).await.map(|()| Completion::Clean),
        Command::Healthcheck { timeout_seconds } => return healthcheck(timeout_seconds),
        Command::Migrate => migrate(&config).await.map(|()| Completion::Clean),
        Command::SweepPictures { grace_minutes } => sweep_pictures(&config, grace_minutes)
            .await
            .map(|()| Completion::Clean),
        Command::CreateAdmin(args) => cli::create_admin(&config, args)
            .await
            .map(|()| Completion::Clean),
        Command::SetRole { email, role } => cli::set_role(&config, &email, &role)
            .await
            .map(|()| Completion::Clean),
        Command::Unlock { email } => cli::unlock(&config, &email)
            .await
            .map(|()| Completion::Clean),
        Command::ImportCsv { file } => cli::import_csv(&config, &file).await,
        Command::ImportOriginal { database_url } => {
            cli::import_original(&config, &database_url).await
        }
        Command::ExportCsv { file } => cli::export_csv(&config, file.as_ref())
            .await
            .map(|()| Completion::Clean),
    };
    match result {
        Ok(Completion::Clean) => ExitCode::SUCCESS,
        Ok(Completion::WithRejects) => ExitCode::from(cli::EXIT_REJECTED),
        Err(e) => {
            if !tool {
                tracing::error!(error = ?e, "user-management stopped");
            }
            eprintln!("user-management: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The health probe reads BIND_ADDR alone: no `.env`, no other setting, no logging.
fn healthcheck(timeout_seconds: u64) -> ExitCode {
    let bind_addr = match std::env::var("BIND_ADDR") {
        Err(_) => um_api::config::DEFAULT_BIND_ADDR,
        Ok(value) => match value.trim().parse() {
            Ok(address) => address,
            Err(e) => {
                eprintln!("user-management healthcheck: BIND_ADDR: cannot parse {value:?}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match um_api::healthcheck::probe(bind_addr, Duration::from_secs(timeout_seconds.max(1))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("user-management healthcheck: unhealthy: {e}");
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
    um_api::startup::prepare_database(config, 1).await?;
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
