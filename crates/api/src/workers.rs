//! The background work of a running server: the outbox worker, the orphaned-picture sweep,
//! housekeeping of expired rows and rate-limit counters.

use std::{sync::Arc, time::Duration};

use actix_web::web;
use chrono::TimeDelta;
use um_domain::{
    ports::Housekeeping,
    services::{OutboxDelivery, UserService},
};

use crate::{
    limits::{self, RateLimits},
    metrics::Metrics,
};

/// How old an unreferenced picture object must be before the sweep removes it: younger ones may
/// belong to an upload whose row update has not happened yet.
pub const ORPHAN_GRACE: TimeDelta = TimeDelta::hours(1);

/// Runs the orphan sweep every `minutes` in the background (never when 0).
pub(crate) fn spawn_orphan_sweep(users: UserService, minutes: u64) {
    if minutes == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(minutes * 60));
        interval.tick().await; // the first tick is immediate; start-up has enough to do
        loop {
            interval.tick().await;
            if let Err(e) = users.sweep_orphaned_pictures(ORPHAN_GRACE).await {
                tracing::warn!(error = ?e, "orphaned-picture sweep failed; retrying next interval");
            }
        }
    });
}

/// At start and then every hour, removes expired tokens, ended and expired sessions, and the
/// outbox rows delivered more than `keep_delivered` ago (every instance does; each row goes
/// once).
pub(crate) fn spawn_housekeeping(housekeeping: Arc<dyn Housekeeping>, keep_delivered: TimeDelta) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(3600));
        loop {
            interval.tick().await;
            match housekeeping
                .remove_expired(chrono::Utc::now(), keep_delivered)
                .await
            {
                Ok(removed) if removed != um_domain::ports::Removed::default() => tracing::info!(
                    expired_tokens = removed.expired_tokens,
                    delivered_mails = removed.delivered_mails,
                    finished_sessions = removed.finished_sessions,
                    "housekeeping removed what no longer serves"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "housekeeping failed; retrying next hour"),
            }
        }
    });
}

/// Once a minute, removes the rate-limit counters of windows that no longer count (every
/// instance does; deleting what another instance deleted already is harmless).
pub(crate) fn spawn_rate_limit_cleanup(limits: web::Data<RateLimits>) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(limits::WINDOW);
        loop {
            interval.tick().await;
            limits.forget_expired().await;
        }
    });
}

/// Works off the outbox in the background: a round whenever the last one was full, else one
/// per `poll`. Database trouble is logged and retried; nothing is lost. The depth goes to the
/// metrics every 10 s and to the log once a minute while emails wait or were given up on. When
/// `stop` fires it finishes the round under way plus one more, so that what it claimed is sent
/// or released, and ends.
pub(crate) fn spawn_outbox_worker(
    outbox: OutboxDelivery,
    poll: Duration,
    metrics: web::Data<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_depth = tokio::time::Instant::now() - Duration::from_secs(60);
        let mut last_depth_log = tokio::time::Instant::now();
        loop {
            let stopping = *stop.borrow();
            let busy = match outbox.run_once().await {
                Ok(report) => report.claimed > 0 && report.claimed == report.sent,
                Err(e) => {
                    tracing::warn!(error = ?e, "outbox round failed; retrying");
                    false
                }
            };
            if stopping {
                tracing::info!("outbox worker stopped");
                return;
            }
            if last_depth.elapsed() >= Duration::from_secs(10) {
                last_depth = tokio::time::Instant::now();
                match outbox.depth().await {
                    Ok(depth) => {
                        metrics.set_outbox_depth(depth.pending, depth.dead);
                        if (depth.pending > 0 || depth.dead > 0)
                            && last_depth_log.elapsed() >= Duration::from_secs(60)
                        {
                            last_depth_log = tokio::time::Instant::now();
                            tracing::info!(
                                pending = depth.pending,
                                given_up = depth.dead,
                                "outbox depth"
                            );
                        }
                    }
                    Err(e) => tracing::warn!(error = ?e, "could not read the outbox depth"),
                }
            }
            if !busy {
                // Wake early when shutdown begins.
                let _ = tokio::time::timeout(poll, stop.changed()).await;
            }
        }
    })
}
