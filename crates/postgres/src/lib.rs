//! PostgreSQL adapter: the connection pool, the embedded migrations and start-up helpers,
//! [`PgUserRepository`], which implements the domain's
//! [`UserRepository`](um_domain::ports::UserRepository) port with diesel-async, and
//! [`PgOutbox`], its [`Outbox`](um_domain::ports::Outbox) port: the emails that the
//! repository's transactions queue, delivered by a worker. [`PgImporter`] is the
//! [`AccountImporter`](um_domain::ports::AccountImporter) port of the operator's bulk imports and
//! export. [`PgAuditLog`] reads the audit log
//! that the repository's transactions append to.
//!
//! With the `test-support` feature, [`TestDatabase`] gives each test a fresh, migrated database
//! of its own, and [`explain`] shows the plans of the listings' queries.

mod audit;
mod error;
#[cfg(feature = "test-support")]
pub mod explain;
mod housekeeping;
mod import;
mod outbox;
mod payload;
mod pool;
mod rate;
mod repository;
mod rows;
pub mod schema;
mod search;
mod sessions;
mod setup;
#[cfg(feature = "test-support")]
mod test_support;
pub mod tls;

pub use audit::PgAuditLog;
pub use housekeeping::PgHousekeeping;
pub use import::PgImporter;
pub use outbox::PgOutbox;
pub use pool::{CONNECT_TIMEOUT, Pool, SQL_LOG_TARGET, connect, connect_in_lanes, use_lane};
pub use rate::PgRateCounter;
pub use repository::PgUserRepository;
pub use setup::{MIGRATIONS, create_database_if_missing, run_migrations};
#[cfg(feature = "test-support")]
pub use test_support::TestDatabase;
