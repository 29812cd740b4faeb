//! `PgRateCounter`: rate-limit counters shared by every instance on one database.

use std::time::Duration;

use diesel_async::RunQueryDsl as _;
use um_domain::ports::RateCounter as _;
use um_postgres::{PgRateCounter, TestDatabase, connect};

/// Long enough that no test runs across the edge of a window (edges fall on whole hours UTC).
const HOUR: Duration = Duration::from_secs(3600);

async fn counter(db: &TestDatabase) -> (PgRateCounter, um_postgres::Pool) {
    let pool = connect(db.url(), 8).await.expect("a pool");
    (PgRateCounter::new(pool.clone()), pool)
}

async fn sql(pool: &um_postgres::Pool, statement: &str) {
    let mut conn = pool.get().await.expect("a connection");
    diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .expect("the statement runs");
}

#[tokio::test]
async fn hits_add_up_per_key_within_a_window() {
    let db = TestDatabase::new().await;
    let (counter, _) = counter(&db).await;
    for expected in 1..=3 {
        let window = counter.hit("a", HOUR).await.expect("hit");
        assert_eq!((window.current, window.previous), (expected, 0));
        assert!((0.0..1.0).contains(&window.elapsed), "{}", window.elapsed);
    }
    assert_eq!(counter.hit("b", HOUR).await.expect("hit").current, 1);
}

#[tokio::test]
async fn concurrent_hits_are_each_counted_once() {
    let db = TestDatabase::new().await;
    let (counter, _) = counter(&db).await;
    let hits = (0..24).map(|_| {
        let counter = counter.clone();
        tokio::spawn(async move { counter.hit("k", HOUR).await.expect("hit").current })
    });
    let mut seen: Vec<u32> = Vec::new();
    for hit in hits {
        seen.push(hit.await.expect("the task"));
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=24).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_previous_window_is_read_and_expired_windows_are_swept() {
    let db = TestDatabase::new().await;
    let (counter, pool) = counter(&db).await;
    // The previous hour's window of "k" had 7 hits; one from three hours ago no longer counts.
    sql(
        &pool,
        "INSERT INTO rate_limit_hits (key, window_start, hits) VALUES \
         ('k', date_trunc('hour', clock_timestamp()) - interval '1 hour', 7), \
         ('k', date_trunc('hour', clock_timestamp()) - interval '3 hours', 9), \
         ('other', date_trunc('hour', clock_timestamp()) - interval '5 hours', 2)",
    )
    .await;

    let window = counter.hit("k", HOUR).await.expect("hit");
    assert_eq!((window.current, window.previous), (1, 7));

    assert_eq!(counter.forget_expired(HOUR).await.expect("sweep"), 2);
    let again = counter.hit("k", HOUR).await.expect("hit");
    assert_eq!(
        (again.current, again.previous),
        (2, 7),
        "current and previous are kept"
    );
    // Sweeping again (another instance at the same time) finds nothing more.
    assert_eq!(counter.forget_expired(HOUR).await.expect("sweep"), 0);
}
