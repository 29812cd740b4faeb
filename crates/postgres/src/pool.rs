//! The connection pool, and the per-connection instrumentation that logs every statement.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::tls::ConnectSettings;
use diesel::{
    ConnectionResult,
    connection::{Instrumentation, InstrumentationEvent},
};
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection,
    pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod},
};

/// The pool the repository and the service share.
pub type Pool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;

/// How long a request waits for a pooled connection, and how long opening a connection may take,
/// before it gives up and reports the database unavailable instead of hanging.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `tracing` target of the per-statement log: `RUST_LOG=um_postgres::sql=debug` shows every
/// statement with its duration (never its bound values).
pub const SQL_LOG_TARGET: &str = "um_postgres::sql";

/// Builds a pool of at most `max_size` connections to `database_url`, over TLS as its
/// `sslmode` and `sslrootcert` ask (see [`crate::tls`]).
///
/// Connections are opened lazily, so this succeeds while the database is down; requests then
/// fail within [`CONNECT_TIMEOUT`] with `RepoError::Unavailable` and recover by themselves once
/// the database answers again. Every connection logs its statements (see [`SQL_LOG_TARGET`]).
///
/// # Errors
/// When the pool cannot be built (a `max_size` of zero), or the URL's TLS settings cannot be
/// used (an unknown `sslmode`, an unreadable `sslrootcert`).
pub async fn connect(database_url: &str, max_size: usize) -> anyhow::Result<Pool> {
    anyhow::ensure!(
        max_size > 0,
        "the database pool needs at least one connection"
    );
    let settings = ConnectSettings::from_url(database_url)?;
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    // A pooled connection is handed out again without a `SELECT 1` round trip: diesel-async
    // still refuses connections that are closed or stuck in a transaction, and a connection
    // that died unnoticed fails its query as `Unavailable` and is then discarded.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |_url| establish(settings.clone()));
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the database connection pool")
}

type Establishing = Pin<Box<dyn Future<Output = ConnectionResult<AsyncPgConnection>> + Send>>;

/// Opens one connection with the statement log installed.
fn establish(settings: ConnectSettings) -> Establishing {
    Box::pin(async move {
        let mut conn = settings.connect().await?;
        conn.set_instrumentation(SqlLog::default());
        Ok(conn)
    })
}

/// Opens a single connection outside any pool (start-up and test helpers), giving up after
/// [`CONNECT_TIMEOUT`].
pub(crate) async fn connect_once(url: &str) -> anyhow::Result<AsyncPgConnection> {
    let settings = ConnectSettings::from_url(url)?;
    tokio::time::timeout(CONNECT_TIMEOUT, establish(settings))
        .await
        .map_err(|_| anyhow::anyhow!("timed out after {CONNECT_TIMEOUT:?}"))?
        .map_err(anyhow::Error::from)
}

/// Logs each statement at `debug` with its duration, on target [`SQL_LOG_TARGET`].
#[derive(Debug, Default)]
struct SqlLog {
    started: Option<Instant>,
}

impl Instrumentation for SqlLog {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => self.started = Some(Instant::now()),
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                let elapsed = self.started.take().map(|t| t.elapsed()).unwrap_or_default();
                match error {
                    None => tracing::debug!(
                        target: SQL_LOG_TARGET,
                        sql = %WithoutBinds(query),
                        elapsed = ?elapsed,
                        "statement"
                    ),
                    Some(error) => tracing::debug!(
                        target: SQL_LOG_TARGET,
                        sql = %WithoutBinds(query),
                        elapsed = ?elapsed,
                        %error,
                        "statement failed"
                    ),
                }
            }
            _ => {}
        }
    }
}

/// A statement's SQL without the bound values that diesel appends after ` -- binds: `: those
/// include password hashes and token hashes, which must never reach a log.
struct WithoutBinds<'a, Q: ?Sized>(&'a Q);

impl<Q: fmt::Display + ?Sized> fmt::Display for WithoutBinds<'_, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = self.0.to_string();
        let sql = full
            .split_once(" -- binds: ")
            .map_or(full.as_str(), |(sql, _)| sql);
        f.write_str(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_values_are_cut_from_the_logged_sql() {
        let logged = WithoutBinds(
            "UPDATE \"users\" SET \"hashed_password\" = $1 -- binds: [\"$argon2id$v=19$secret\"]",
        )
        .to_string();
        assert_eq!(logged, "UPDATE \"users\" SET \"hashed_password\" = $1");
        assert_eq!(WithoutBinds("BEGIN").to_string(), "BEGIN");
    }
}
