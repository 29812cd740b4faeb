//! The command line: the subcommands with their help text, and the operator's commands besides
//! `serve` (creating an ADMIN, setting a role, lifting a lock, importing accounts from a CSV
//! file or from a FastAPI original's database, exporting them to CSV, migrating, sweeping
//! orphaned pictures, the health probe). `main` parses [`Cli`], serves, or hands a [`Task`] to
//! [`run`].
//!
//! Every value that comes in (an argument, a CSV cell, a column of the original) goes through
//! the domain's constructors, exactly as an HTTP request would; the import rules are the
//! domain's ([`um_domain::services::ImportService`]), this module reads the sources and reports.

mod accounts;
mod csv;
mod export;
mod import;
mod service;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use um_domain::Error;

use crate::config::{Config, LogFormat};

pub use accounts::CreateAdminArgs;
pub use service::{hash_worker, hash_worker_command, healthcheck};

/// The exit code of an import that finished but skipped rows or users it could not take.
pub const EXIT_REJECTED: u8 = 3;

/// How a command that went through ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Everything was done.
    Clean,
    /// Done, but some input was rejected (reported on standard error); exit code
    /// [`EXIT_REJECTED`].
    WithRejects,
}

#[derive(Debug, Parser)]
#[command(
    name = "user-management",
    version,
    about = "Self-hosted user management service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// The password hashing worker that `serve` starts itself (see `um_security::worker`):
    /// jobs on standard input, outcomes on standard output. Not for operators.
    #[command(hide = true)]
    HashWorker {
        /// Hashing threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    #[command(flatten)]
    Task(Task),
}

/// The commands that read the configuration and run once.
#[derive(Debug, Subcommand)]
pub enum Task {
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
    #[command(long_about = csv::import_help())]
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
    #[command(long_about = csv::export_help())]
    ExportCsv {
        /// The file to write; standard output without it.
        file: Option<PathBuf>,
    },
}

impl Task {
    /// The operator's tools, which log only warnings by default and report on standard error;
    /// `migrate` and `sweep-pictures` log like the server.
    #[must_use]
    pub fn is_tool(&self) -> bool {
        !matches!(self, Task::Migrate | Task::SweepPictures { .. })
    }
}

/// Runs `task` against the configured database and services.
///
/// # Errors
/// Whatever stopped the task, with its causes, for the operator.
pub async fn run(task: Task, config: &Config) -> anyhow::Result<Completion> {
    let clean = |()| Completion::Clean;
    match task {
        Task::Migrate => service::migrate(config).await.map(clean),
        Task::SweepPictures { grace_minutes } => service::sweep_pictures(config, grace_minutes)
            .await
            .map(clean),
        Task::CreateAdmin(args) => accounts::create_admin(config, args).await.map(clean),
        Task::SetRole { email, role } => accounts::set_role(config, &email, &role).await.map(clean),
        Task::Unlock { email } => accounts::unlock(config, &email).await.map(clean),
        Task::ImportCsv { file } => import::import_csv(config, &file).await,
        Task::ImportOriginal { database_url } => {
            import::import_original(config, &database_url).await
        }
        Task::ExportCsv { file } => export::export_csv(config, file.as_ref()).await.map(clean),
    }
}

/// Logging for the one-shot commands: like the server's, to standard error, but only warnings
/// unless `RUST_LOG` says otherwise, so that the output stays readable.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// A use case's error with its causes, for the operator.
fn domain_error(e: Error, doing: &str) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("{doing} failed"))
}

/// An import's or export's error as the operator reads it: the cause of a storage or hashing
/// failure itself (`Internal`, `Unavailable` only wrap it), any other error as it is.
fn cause(e: Error) -> anyhow::Error {
    match e {
        Error::Internal(cause) | Error::Unavailable(cause) => cause,
        other => anyhow::Error::new(other),
    }
}
