//! [`PgRateCounter`]: the [`RateCounter`] port over PostgreSQL, so that rate limits hold across
//! every instance on one database. The windows follow the database's clock.

use std::time::Duration;

use async_trait::async_trait;
use diesel::{
    prelude::QueryableByName,
    sql_query,
    sql_types::{Double, Integer, Text},
};
use diesel_async::RunQueryDsl as _;
use um_domain::ports::{RateCounter, RateWindow, RepoError};

use crate::{
    error::{from_diesel, from_pool},
    pool::Pool,
};

/// Counts a hit in the current window (`$2` seconds long) of key `$1` and reads the previous
/// window's count, in one statement; the upsert makes concurrent hits add up exactly.
const HIT: &str = "\
WITH clock AS (\
    SELECT extract(epoch FROM clock_timestamp())::float8 AS now_s, $2::float8 AS len), \
bounds AS (\
    SELECT to_timestamp(floor(now_s / len) * len) AS start, \
           (now_s - floor(now_s / len) * len) / len AS elapsed, len FROM clock), \
counted AS (\
    INSERT INTO rate_limit_hits AS r (key, window_start, hits) \
    SELECT $1, start, 1 FROM bounds \
    ON CONFLICT (key, window_start) DO UPDATE SET hits = r.hits + 1 \
    RETURNING hits) \
SELECT counted.hits AS current, \
       coalesce((SELECT p.hits FROM rate_limit_hits p, bounds \
                 WHERE p.key = $1 AND p.window_start = bounds.start - make_interval(secs => bounds.len)), 0) \
           AS previous, \
       bounds.elapsed AS elapsed \
FROM counted, bounds";

#[derive(QueryableByName)]
struct HitRow {
    #[diesel(sql_type = Integer)]
    current: i32,
    #[diesel(sql_type = Integer)]
    previous: i32,
    #[diesel(sql_type = Double)]
    elapsed: f64,
}

/// Rate-limit counters in the table `rate_limit_hits`.
#[derive(Clone)]
pub struct PgRateCounter {
    pool: Pool,
}

impl std::fmt::Debug for PgRateCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRateCounter").finish_non_exhaustive()
    }
}

impl PgRateCounter {
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

fn non_negative(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

#[async_trait]
impl RateCounter for PgRateCounter {
    async fn hit(&self, key: &str, window: Duration) -> Result<RateWindow, RepoError> {
        let mut conn = self.pool.get().await.map_err(from_pool)?;
        let row: HitRow = sql_query(HIT)
            .bind::<Text, _>(key)
            .bind::<Double, _>(window.as_secs_f64().max(1.0))
            .get_result(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(RateWindow {
            current: non_negative(row.current),
            previous: non_negative(row.previous),
            elapsed: row.elapsed.clamp(0.0, 1.0),
        })
    }

    async fn forget_expired(&self, window: Duration) -> Result<u64, RepoError> {
        let mut conn = self.pool.get().await.map_err(from_pool)?;
        // A window that ended more than one window ago is neither current nor previous.
        let removed = sql_query(
            "DELETE FROM rate_limit_hits \
             WHERE window_start < clock_timestamp() - make_interval(secs => 2 * $1::float8)",
        )
        .bind::<Double, _>(window.as_secs_f64().max(1.0))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(u64::try_from(removed).unwrap_or(0))
    }
}
