//! The service's own chores: the health probe, `migrate`, `sweep-pictures`.

use std::{process::ExitCode, time::Duration};

use chrono::TimeDelta;

use crate::{config::Config, startup::Services};

/// `hash-worker`: serves password hashing jobs until the service closes the pipe.
#[must_use]
pub fn hash_worker(threads: usize) -> ExitCode {
    match um_security::worker::serve(threads, um_alloc::collect) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("user-management hash-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The command that starts the hashing worker: this very executable (through `/proc/self/exe`
/// on Linux, which still works after the file was replaced by an upgrade), with an empty
/// environment (the worker needs no setting and should see no secret), but for the allocator's
/// settings.
#[must_use]
pub fn hash_worker_command(threads: usize) -> um_security::worker::WorkerCommand {
    let program = if cfg!(target_os = "linux") {
        std::path::PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().unwrap_or_else(|_| "user-management".into())
    };
    std::sync::Arc::new(move || {
        let mut command = std::process::Command::new(&program);
        command
            .arg("hash-worker")
            .arg("--threads")
            .arg(threads.to_string())
            .env_clear()
            .envs(
                std::env::vars_os()
                    .filter(|(k, _)| k.to_str().is_some_and(|k| k.starts_with("MIMALLOC_"))),
            );
        command
    })
}

/// `healthcheck`: the health probe reads BIND_ADDR alone: no `.env`, no other setting, no
/// logging.
#[must_use]
pub fn healthcheck(timeout_seconds: u64) -> ExitCode {
    let bind_addr = match std::env::var("BIND_ADDR") {
        Err(_) => crate::config::DEFAULT_BIND_ADDR,
        Ok(value) => match value.trim().parse() {
            Ok(address) => address,
            Err(e) => {
                eprintln!("user-management healthcheck: BIND_ADDR: cannot parse {value:?}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match crate::healthcheck::probe(bind_addr, Duration::from_secs(timeout_seconds.max(1))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("user-management healthcheck: unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `migrate`: creates the database if missing and applies pending migrations.
pub(super) async fn migrate(config: &Config) -> anyhow::Result<()> {
    crate::startup::prepare_database(config, 1, 1).await?;
    tracing::info!("migrations are up to date");
    Ok(())
}

/// `sweep-pictures`: deletes picture objects older than the grace period that no account points
/// at.
pub(super) async fn sweep_pictures(config: &Config, grace_minutes: i64) -> anyhow::Result<()> {
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
