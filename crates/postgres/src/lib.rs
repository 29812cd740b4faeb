//! PostgreSQL adapter: the connection pool, the embedded migrations and start-up helpers,
//! [`PgUserRepository`], which implements the domain's
//! [`UserRepository`](um_domain::ports::UserRepository) port with diesel-async, and
//! [`PgOutbox`], its [`Outbox`](um_domain::ports::Outbox) port: the emails that the
//! repository's transactions queue, delivered by a worker.
//!
//! With the `test-support` feature, [`TestDatabase`] gives each test a fresh, migrated database
//! of its own.

mod error;
mod outbox;
mod payload;
mod pool;
mod repository;
pub mod schema;
mod setup;
#[cfg(feature = "test-support")]
mod test_support;

pub use outbox::PgOutbox;
pub use pool::{CONNECT_TIMEOUT, Pool, SQL_LOG_TARGET, connect};
pub use repository::PgUserRepository;
pub use setup::{MIGRATIONS, create_database_if_missing, run_migrations};
#[cfg(feature = "test-support")]
pub use test_support::TestDatabase;
