//! The service's own chores: the health probe, `migrate`, `sweep-pictures`.

use std::{process::ExitCode, time::Duration};

use chrono::TimeDelta;

use crate::{config::Config, startup::Services};

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
    crate::startup::prepare_database(config, 1).await?;
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
