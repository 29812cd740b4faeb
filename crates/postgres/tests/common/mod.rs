//! What the integration tests of `um-postgres` share: the fixture of a fresh database per test.
//! The builders of the accounts, tokens, mails and audit events they store are the contract
//! suite's, in `um_domain::test_support::contract`.
//!
//! Each test file includes this module with `mod common;`. Cargo builds every test file as a
//! crate of its own, and no file uses every helper, so the unused ones would be dead code there.
#![allow(dead_code, reason = "each test crate uses only some of these helpers")]

use diesel::{QueryDsl as _, dsl::count_star};
use diesel_async::RunQueryDsl as _;
use um_postgres::{PgAuditLog, PgOutbox, PgUserRepository, Pool, TestDatabase, connect, schema};

/// The repository, the outbox and the audit log over a database of this test's own. Fields
/// drop in order: the pool before the database.
pub struct Fixture {
    pub repo: PgUserRepository,
    pub outbox: PgOutbox,
    pub log: PgAuditLog,
    pub pool: Pool,
    _db: TestDatabase,
}

/// The fixture over a pool of up to 24 connections, enough for the concurrency tests.
pub async fn fixture() -> Fixture {
    fixture_with_pool_size(24).await
}

/// The fixture over a pool of up to `max_size` connections.
pub async fn fixture_with_pool_size(max_size: usize) -> Fixture {
    let db = TestDatabase::new().await;
    let pool = connect(db.url(), max_size)
        .await
        .expect("a pool for the test database");
    Fixture {
        repo: PgUserRepository::new(pool.clone()),
        outbox: PgOutbox::new(pool.clone()),
        log: PgAuditLog::new(pool.clone()),
        pool,
        _db: db,
    }
}

pub async fn unlock_rows(pool: &Pool) -> i64 {
    let mut conn = pool.get().await.expect("a connection");
    schema::unlock_tokens::table
        .select(count_star())
        .get_result(&mut conn)
        .await
        .expect("counting unlock tokens")
}
