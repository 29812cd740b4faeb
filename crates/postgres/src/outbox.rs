//! The outbox: emails queued by the repository's transactions ([`queue`]) and worked off by
//! the delivery worker through [`PgOutbox`], the [`Outbox`] port over PostgreSQL.
//!
//! A row's life: queued (`payload` set, due at once) → claimed (`attempts` counted, leased until
//! `locked_until`) → sent (`sent_at` set, `payload` erased) or failed (due again at
//! `next_attempt_at`, or given up at `given_up_at` with the payload kept for an operator).
//! A claimer that dies leaves its lease to run out, after which the message is due again.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::{
    ExpressionMethods as _, QueryDsl as _,
    dsl::now,
    prelude::{Insertable, QueryableByName},
    result::Error as DieselError,
    sql_query,
    sql_types::{BigInt, Integer, Jsonb, Nullable, Timestamptz},
};
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _, pooled_connection::deadpool::Object,
};
use um_domain::ports::{Mail, Outbox, OutboxDepth, OutboxMessage, RepoError};

use crate::{
    error::{TxError, from_diesel, from_pool},
    payload::{decode, encode},
    pool::Pool,
    schema::outbox,
};

/// How much of a delivery error is kept in `last_error`, in characters.
const MAX_ERROR_CHARS: usize = 1000;

#[derive(Insertable)]
#[diesel(table_name = outbox)]
struct QueuedRow {
    recipient: String,
    kind: &'static str,
    payload: serde_json::Value,
}

/// Queues `mails` in the outbox on `conn`, in one statement: called inside the transaction of
/// the change that causes them, so that they are stored exactly when the change is.
pub(crate) async fn queue(conn: &mut AsyncPgConnection, mails: &[Mail]) -> Result<(), TxError> {
    if mails.is_empty() {
        return Ok(());
    }
    let rows = mails
        .iter()
        .map(|mail| {
            encode(mail).map(|e| QueuedRow {
                recipient: e.recipient,
                kind: e.kind,
                payload: e.payload,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    diesel::insert_into(outbox::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}

/// The emails waiting in PostgreSQL, shared by every instance of the service.
#[derive(Clone)]
pub struct PgOutbox {
    pool: Pool,
}

impl std::fmt::Debug for PgOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOutbox")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PgOutbox {
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn conn(&self) -> Result<Object<AsyncPgConnection>, RepoError> {
        self.pool.get().await.map_err(from_pool)
    }
}

/// A row as [`CLAIM`] returns it.
#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Jsonb>)]
    payload: Option<serde_json::Value>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// Claims due messages: `$1` is the end of the lease, `$2` now, `$3` the limit. The inner
/// SELECT locks the rows it picks and skips those another claim has locked, and under READ
/// COMMITTED a row that a concurrent claim leased and committed meanwhile is re-checked
/// against the WHERE clause and dropped: concurrent claimers get disjoint messages.
const CLAIM: &str = "\
UPDATE outbox SET attempts = attempts + 1, locked_until = $1 \
WHERE id IN (\
    SELECT id FROM outbox \
    WHERE sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $2 \
      AND (locked_until IS NULL OR locked_until <= $2) \
    ORDER BY id LIMIT $3 \
    FOR UPDATE SKIP LOCKED) \
RETURNING id, payload, attempts";

/// Why a claim was rolled back: payloads that do not parse.
enum ClaimError {
    Db(DieselError),
    Unreadable { ids: Vec<i64>, first: RepoError },
}

impl From<DieselError> for ClaimError {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

#[derive(QueryableByName)]
struct DepthRow {
    #[diesel(sql_type = BigInt)]
    pending: i64,
    #[diesel(sql_type = BigInt)]
    dead: i64,
}

/// The error text as stored: at most [`MAX_ERROR_CHARS`] characters, without NUL (which a
/// PostgreSQL `text` cannot hold).
fn stored_error(error: &str) -> String {
    error
        .chars()
        .filter(|c| *c != '\0')
        .take(MAX_ERROR_CHARS)
        .collect()
}

#[async_trait]
impl Outbox for PgOutbox {
    /// A message whose payload does not parse back fails the claim with `Other` naming it; the
    /// claim is rolled back (the other messages stay due) and that message is given up on, so
    /// that it cannot block the queue.
    async fn claim(
        &self,
        limit: u32,
        lease: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<Vec<OutboxMessage>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let leased_until = at.checked_add_signed(lease).ok_or_else(|| {
            RepoError::Other(anyhow::anyhow!("the outbox lease ends out of range"))
        })?;
        let mut conn = self.conn().await?;
        let claimed = conn
            .transaction::<_, ClaimError, _>(async |conn| {
                let rows: Vec<ClaimedRow> = sql_query(CLAIM)
                    .bind::<Timestamptz, _>(leased_until)
                    .bind::<Timestamptz, _>(at)
                    .bind::<BigInt, _>(i64::from(limit))
                    .load(conn)
                    .await?;
                let mut messages = Vec::with_capacity(rows.len());
                let mut unreadable = Vec::new();
                let mut first = None;
                for row in rows {
                    match decode(row.id, row.payload) {
                        Ok(mail) => messages.push(OutboxMessage {
                            id: row.id,
                            mail,
                            attempts: u32::try_from(row.attempts).unwrap_or(0),
                        }),
                        Err(e) => {
                            unreadable.push(row.id);
                            first.get_or_insert(e);
                        }
                    }
                }
                if let Some(first) = first {
                    return Err(ClaimError::Unreadable {
                        ids: unreadable,
                        first,
                    });
                }
                messages.sort_by_key(|m| m.id);
                Ok(messages)
            })
            .await;
        match claimed {
            Ok(messages) => Ok(messages),
            Err(ClaimError::Db(e)) => Err(from_diesel(e)),
            Err(ClaimError::Unreadable { ids, first }) => {
                tracing::error!(
                    ?ids,
                    "giving up on outbox messages whose payload does not parse"
                );
                diesel::update(
                    outbox::table
                        .filter(outbox::id.eq_any(&ids))
                        .filter(outbox::sent_at.is_null())
                        .filter(outbox::given_up_at.is_null()),
                )
                .set((
                    outbox::given_up_at.eq(now),
                    outbox::locked_until.eq(None::<DateTime<Utc>>),
                    outbox::last_error.eq("the payload does not parse"),
                ))
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
                Err(first)
            }
        }
    }

    /// Erases the payload with the token it may hold. A message sent already keeps its first
    /// time (a second `mark_sent` comes from a claimer whose lease ran out); one given up on
    /// meanwhile by another claimer was delivered after all, and counts as sent.
    async fn mark_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        diesel::update(outbox::table.find(id).filter(outbox::sent_at.is_null()))
            .set((
                outbox::sent_at.eq(at),
                outbox::given_up_at.eq(None::<DateTime<Utc>>),
                outbox::payload.eq(None::<serde_json::Value>),
                outbox::locked_until.eq(None::<DateTime<Utc>>),
                outbox::last_error.eq(None::<String>),
            ))
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }

    async fn release(&self, ids: &[i64]) -> Result<(), RepoError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        diesel::update(
            outbox::table
                .filter(outbox::id.eq_any(ids))
                .filter(outbox::sent_at.is_null())
                .filter(outbox::given_up_at.is_null())
                .filter(outbox::locked_until.is_not_null()),
        )
        .set((
            outbox::locked_until.eq(None::<DateTime<Utc>>),
            outbox::attempts.eq(diesel::dsl::sql::<Integer>("greatest(attempts - 1, 0)")),
        ))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    /// Keeps the first 1000 characters of `error`, releases the lease, and either
    /// makes the message due at `retry_at` or gives up on it (keeping its payload). A message
    /// sent or given up meanwhile stays as it is.
    async fn mark_failed(
        &self,
        id: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepoError> {
        let target = outbox::table
            .find(id)
            .filter(outbox::sent_at.is_null())
            .filter(outbox::given_up_at.is_null());
        let error = stored_error(&error);
        let released = (
            outbox::last_error.eq(error),
            outbox::locked_until.eq(None::<DateTime<Utc>>),
        );
        let mut conn = self.conn().await?;
        match retry_at {
            Some(retry_at) => {
                diesel::update(target)
                    .set((released, outbox::next_attempt_at.eq(retry_at)))
                    .execute(&mut conn)
                    .await
            }
            None => {
                diesel::update(target)
                    .set((released, outbox::given_up_at.eq(now)))
                    .execute(&mut conn)
                    .await
            }
        }
        .map_err(from_diesel)?;
        Ok(())
    }

    /// One statement, so both counts come from one snapshot; each uses its partial index.
    async fn depth(&self) -> Result<OutboxDepth, RepoError> {
        let mut conn = self.conn().await?;
        let row: DepthRow = sql_query(
            "SELECT \
               (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND given_up_at IS NULL) \
                 AS pending, \
               (SELECT count(*) FROM outbox WHERE given_up_at IS NOT NULL) AS dead",
        )
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(OutboxDepth {
            pending: u64::try_from(row.pending).unwrap_or(0),
            dead: u64::try_from(row.dead).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_errors_are_cut_at_a_character_boundary_and_lose_nul() {
        let long = "é".repeat(MAX_ERROR_CHARS + 10);
        let stored = stored_error(&long);
        assert_eq!(stored.chars().count(), MAX_ERROR_CHARS);
        assert_eq!(stored_error("a\0b"), "ab");
        assert_eq!(stored_error("short"), "short");
    }
}
