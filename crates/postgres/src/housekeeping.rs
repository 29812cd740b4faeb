//! [`PgHousekeeping`]: removes expired tokens, finished sessions and long-delivered outbox rows.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::{BoolExpressionMethods as _, ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use um_domain::ports::{Housekeeping, Removed, RepoError};

use crate::{
    error::{from_diesel, from_pool},
    pool::Pool,
    schema::{email_verification_tokens, outbox, password_reset_tokens, sessions, unlock_tokens},
};

/// The [`Housekeeping`] port over PostgreSQL. Each `DELETE` stands alone: two instances
/// sweeping at once delete disjoint rows or nothing.
#[derive(Clone)]
pub struct PgHousekeeping {
    pool: Pool,
}

impl std::fmt::Debug for PgHousekeeping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgHousekeeping").finish_non_exhaustive()
    }
}

impl PgHousekeeping {
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[async_trait]
impl Housekeeping for PgHousekeeping {
    async fn remove_expired(
        &self,
        now: DateTime<Utc>,
        keep_delivered: TimeDelta,
    ) -> Result<Removed, RepoError> {
        let mut conn = self.pool.get().await.map_err(from_pool)?;
        let verification = diesel::delete(
            email_verification_tokens::table.filter(email_verification_tokens::expires_at.lt(now)),
        )
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        let reset = diesel::delete(
            password_reset_tokens::table.filter(password_reset_tokens::expires_at.lt(now)),
        )
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        let unlock = diesel::delete(unlock_tokens::table.filter(unlock_tokens::expires_at.lt(now)))
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        // Ended or expired: nothing can bring a session back, and its token hashes go with it.
        // Expired ones leave their accounts' lists of live sessions first (ended ones did when
        // they ended). The list is filtered, not rebuilt from `sessions`: a login committing
        // meanwhile adds to the row this UPDATE re-reads, and keeps its session.
        diesel::sql_query(
            "WITH expired AS ( \
                 SELECT user_id, array_agg(id) AS ids FROM sessions \
                 WHERE ended_at IS NULL AND expires_at <= $1 GROUP BY user_id) \
             UPDATE users SET live_session_ids = ARRAY( \
                 SELECT live.id FROM unnest(users.live_session_ids) WITH ORDINALITY AS live(id, n) \
                 WHERE live.id <> ALL (expired.ids) ORDER BY live.n) \
             FROM expired WHERE users.id = expired.user_id",
        )
        .bind::<diesel::sql_types::Timestamptz, _>(now)
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        let finished = diesel::delete(
            sessions::table.filter(
                sessions::ended_at
                    .is_not_null()
                    .or(sessions::expires_at.le(now)),
            ),
        )
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        let delivered =
            diesel::delete(outbox::table.filter(outbox::sent_at.lt(now - keep_delivered)))
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
        Ok(Removed {
            expired_tokens: count(verification + reset + unlock),
            delivered_mails: count(delivered),
            finished_sessions: count(finished),
        })
    }
}
