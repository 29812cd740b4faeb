//! The connection pool, and the per-connection instrumentation that logs every statement.

use std::{
    cell::Cell,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::tls::ConnectSettings;
use deadpool::managed::Status;
use diesel::{
    ConnectionResult,
    connection::{Instrumentation, InstrumentationEvent},
};
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection,
    pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
        deadpool::{Object, PoolError},
    },
};

type Lane = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;

/// The pool the repository and the service share. Its connections can be split into lanes
/// ([`connect_in_lanes`]): a thread bound to a lane ([`use_lane`], each HTTP worker) takes its
/// connections from that lane alone, every other thread from lane 0. A connection's driver
/// runs on the runtime of the thread that opened it, so a request then talks to PostgreSQL
/// without waking another thread: with one pool for all, the HTTP workers used each other's
/// connections and the background jobs', and `GET /users/{id}` spent most of its time
/// switching threads (docs/benchmarks.md).
#[derive(Clone)]
pub struct Pool {
    lanes: Arc<[Lane]>,
}

thread_local! {
    /// The lane this thread takes its connections from; 0 unless [`use_lane`] said otherwise.
    static LANE: Cell<usize> = const { Cell::new(0) };
}

/// Makes the calling thread take its connections from lane `lane` of every [`Pool`] (modulo
/// the pool's number of lanes). Each HTTP worker calls it once, with a lane of its own.
pub fn use_lane(lane: usize) {
    LANE.with(|current| current.set(lane));
}

impl Pool {
    /// A connection from the calling thread's lane, waiting up to [`CONNECT_TIMEOUT`].
    ///
    /// # Errors
    /// When no connection is free in time or a new one cannot be opened.
    pub async fn get(&self) -> Result<Object<AsyncPgConnection>, PoolError> {
        let lane = LANE.with(Cell::get) % self.lanes.len();
        self.lanes[lane].get().await
    }

    /// The lanes' figures added up.
    #[must_use]
    pub fn status(&self) -> Status {
        self.lanes.iter().map(Lane::status).fold(
            Status {
                max_size: 0,
                size: 0,
                available: 0,
                waiting: 0,
            },
            |sum, lane| Status {
                max_size: sum.max_size + lane.max_size,
                size: sum.size + lane.size,
                available: sum.available + lane.available,
                waiting: sum.waiting + lane.waiting,
            },
        )
    }
}

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
    connect_in_lanes(database_url, max_size, 1).await
}

/// [`connect`], with the `max_size` connections split as evenly as can be into `lanes` lanes
/// (at most `max_size`, at least one) of their own (see [`Pool`] and [`use_lane`]).
///
/// # Errors
/// As [`connect`].
pub async fn connect_in_lanes(
    database_url: &str,
    max_size: usize,
    lanes: usize,
) -> anyhow::Result<Pool> {
    anyhow::ensure!(
        max_size > 0,
        "the database pool needs at least one connection"
    );
    let settings = ConnectSettings::from_url(database_url)?;
    let lanes = lanes.clamp(1, max_size);
    (0..lanes)
        .map(|lane| {
            let settings = settings.clone();
            let mut config = ManagerConfig::<AsyncPgConnection>::default();
            // A pooled connection is handed out again without a `SELECT 1` round trip:
            // diesel-async still refuses connections that are closed or stuck in a
            // transaction, and a connection that died unnoticed fails its query as
            // `Unavailable` and is then discarded.
            config.recycling_method = RecyclingMethod::Fast;
            config.custom_setup = Box::new(move |_url| establish(settings.clone()));
            let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
                database_url,
                config,
            );
            Lane::builder(manager)
                .max_size(max_size / lanes + usize::from(lane < max_size % lanes))
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .runtime(deadpool::Runtime::Tokio1)
                .build()
                .context("building the database connection pool")
        })
        .collect::<anyhow::Result<Arc<[Lane]>>>()
        .map(|lanes| Pool { lanes })
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
