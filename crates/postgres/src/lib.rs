//! PostgreSQL adapter: the connection pool, the embedded migrations and start-up helpers, and
//! [`PgUserRepository`], which implements the domain's
//! [`UserRepository`](um_domain::ports::UserRepository) port with diesel-async.
//!
//! With the `test-support` feature, [`TestDatabase`] gives each test a fresh, migrated database
//! of its own.

mod error;
mod pool;
mod repository;
pub mod schema;
mod setup;
#[cfg(feature = "test-support")]
mod test_support;

pub use pool::{CONNECT_TIMEOUT, Pool, SQL_LOG_TARGET, connect};
pub use repository::PgUserRepository;
pub use setup::{MIGRATIONS, create_database_if_missing, run_migrations};
#[cfg(feature = "test-support")]
pub use test_support::TestDatabase;
