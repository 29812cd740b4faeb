//! The [`SessionRepository`] port of [`PgUserRepository`], over the `sessions` table.
//!
//! Races are decided by single statements: a refresh is one conditional `UPDATE` (of two with
//! one token, the second waits for the first's row lock, re-reads the row and no longer finds
//! its token current), and every way of ending is an `UPDATE ... WHERE ended_at IS NULL`.
//!
//! The account's row keeps the ids of its live sessions (`users.live_session_ids`), so that a
//! request checks its session in the row it loads anyway. Every change of liveness updates that
//! row first and the `sessions` rows second, in one transaction: one lock order everywhere (the
//! lockout, a reset and a password change lock the account's row first too), so no two of them
//! can deadlock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::{
    BoolExpressionMethods as _, ExpressionMethods as _, OptionalExtension as _,
    PgArrayExpressionMethods as _, QueryDsl as _, SelectableHelper as _,
    dsl::{exists, not, sql},
    sql_types::{Array, Bytea, Integer},
};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use um_domain::{
    model::{AuditEvent, Session, SessionId, TokenHash, User, UserId},
    ports::{EndSessions, NewSession, RepoError, Rotation, SessionRepository},
};
use uuid::Uuid;

use crate::{
    audit::append,
    error::{TxError, from_diesel},
    repository::{PgUserRepository, account_gone},
    rows::{UserRow, to_user},
    schema::{sessions, users},
};

/// A session as `GET /me/sessions` shows it.
#[derive(diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    user_agent: Option<String>,
    ip: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Self {
            id: SessionId(row.id),
            user_id: UserId(row.user_id),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            user_agent: row.user_agent,
            ip: row.ip,
        }
    }
}

/// The sessions alive at `$now`: not ended, not expired.
macro_rules! alive_at {
    ($now:expr) => {
        sessions::ended_at
            .is_null()
            .and(sessions::expires_at.gt($now))
    };
}

/// Ends, at `at`, the live sessions of `user` that `which` names; how many. The account's row
/// first (its list of live sessions), then the sessions. What a password change, a reset and a
/// lock do in their own transactions, and staff and owners
/// through [`SessionRepository::end_all`].
pub(crate) async fn end_sessions(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    which: EndSessions,
    at: DateTime<Utc>,
) -> Result<usize, diesel::result::Error> {
    // Counted are the sessions alive at `at`; expired ones go with the sweep.
    let mine = sessions::user_id.eq(user).and(alive_at!(at));
    match which {
        EndSessions::All => {
            diesel::update(users::table.find(user))
                .set(users::live_session_ids.eq(Vec::<Uuid>::new()))
                .execute(conn)
                .await?;
            diesel::update(sessions::table.filter(mine))
                .set(sessions::ended_at.eq(at))
                .execute(conn)
                .await
        }
        EndSessions::AllBut(keep) => {
            let kept =
                sql::<Array<diesel::sql_types::Uuid>>("CASE WHEN live_session_ids @> ARRAY[")
                    .bind::<diesel::sql_types::Uuid, _>(keep.0)
                    .sql("] THEN ARRAY[")
                    .bind::<diesel::sql_types::Uuid, _>(keep.0)
                    .sql("] ELSE '{}'::uuid[] END");
            diesel::update(users::table.find(user))
                .set(users::live_session_ids.eq(kept))
                .execute(conn)
                .await?;
            diesel::update(sessions::table.filter(mine.and(sessions::id.ne(keep.0))))
                .set(sessions::ended_at.eq(at))
                .execute(conn)
                .await
        }
    }
}

/// `$id = ANY(users.live_session_ids)`: the session is among the account's live ones, with one
/// scalar parameter (`live_session_ids @> ARRAY[$id]` sent an array with every request, and
/// diesel's `eq_any` takes only values on its right).
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
struct Listed(Uuid);

fn listed(id: SessionId) -> Listed {
    Listed(id.0)
}

impl diesel::Expression for Listed {
    type SqlType = diesel::sql_types::Bool;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for Listed {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.0)?;
        out.push_sql(" = ANY(");
        users::live_session_ids.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

impl diesel::AppearsOnTable<users::table> for Listed {}

impl diesel::SelectableExpression<users::table> for Listed {}

impl diesel::expression::ValidGrouping<()> for Listed {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

/// Takes `id` out of the live sessions of `user` and ends it when it is alive at `at`: whether
/// it was.
async fn end_one(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, diesel::result::Error> {
    let listed = diesel::update(
        users::table
            .find(user)
            .filter(users::live_session_ids.contains(vec![id])),
    )
    .set(users::live_session_ids.eq(array_remove(users::live_session_ids, id)))
    .execute(conn)
    .await?;
    if listed == 0 {
        return Ok(false);
    }
    let ended = diesel::update(
        sessions::table.filter(
            sessions::id
                .eq(id)
                .and(sessions::user_id.eq(user))
                .and(alive_at!(at)),
        ),
    )
    .set(sessions::ended_at.eq(at))
    .execute(conn)
    .await?;
    Ok(ended > 0)
}

diesel::define_sql_function! {
    /// PostgreSQL's `array_remove(anyarray, anyelement)`, for the live sessions of an account.
    fn array_remove(
        array: Array<diesel::sql_types::Uuid>,
        element: diesel::sql_types::Uuid,
    ) -> Array<diesel::sql_types::Uuid>;
}

/// What a rotation found, before the account row becomes a [`User`].
enum Found {
    Rotated(Box<UserRow>, DateTime<Utc>),
    Earlier,
    Refused,
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[async_trait]
impl SessionRepository for PgUserRepository {
    async fn start(&self, session: NewSession) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, TxError, _>(async |conn| {
            // The account's row first: it orders concurrent logins of one account.
            let live: Vec<Uuid> = users::table
                .find(session.user_id.0)
                .select(users::live_session_ids)
                .for_update()
                .first(conn)
                .await
                .optional()?
                .ok_or(TxError::Repo(RepoError::NotFound))?;
            // Room for the new one: the oldest live sessions (the list is oldest first) end.
            let excess = (live.len() + 1).saturating_sub(session.keep_at_most.max(1));
            let (ended, kept) = live.split_at(excess.min(live.len()));
            if !ended.is_empty() {
                diesel::update(
                    sessions::table
                        .filter(sessions::id.eq_any(ended).and(sessions::ended_at.is_null())),
                )
                .set(sessions::ended_at.eq(session.created_at))
                .execute(conn)
                .await?;
            }
            let mut listed = kept.to_vec();
            listed.push(session.id.0);
            diesel::update(users::table.find(session.user_id.0))
                .set(users::live_session_ids.eq(listed))
                .execute(conn)
                .await?;
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id.eq(session.id.0),
                    sessions::user_id.eq(session.user_id.0),
                    sessions::created_at.eq(session.created_at),
                    sessions::last_used_at.eq(session.created_at),
                    sessions::expires_at.eq(session.expires_at),
                    sessions::user_agent.eq(&session.client.user_agent),
                    sessions::ip.eq(&session.client.ip),
                    sessions::refresh_hash.eq(session.refresh.as_bytes().as_slice()),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
        .map_err(account_gone)
    }

    async fn rotate(
        &self,
        id: SessionId,
        presented: TokenHash,
        next: TokenHash,
        now: DateTime<Utc>,
        remember: usize,
    ) -> Result<Rotation, RepoError> {
        let remember = i32::try_from(remember).unwrap_or(i32::MAX);
        let presented = presented.as_bytes().to_vec();
        let mut conn = self.conn().await?;
        let rotation = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                let unlocked_owner = exists(
                    users::table.filter(users::id.eq(sessions::user_id).and(not(users::is_locked))),
                );
                // The replaced hash goes in front of the earlier ones; the oldest fall off.
                let earlier = sql::<Array<Bytea>>("(ARRAY[refresh_hash] || earlier_hashes)[1:")
                    .bind::<Integer, _>(remember)
                    .sql("]");
                let rotated: Option<(Uuid, DateTime<Utc>)> = diesel::update(
                    sessions::table.filter(
                        sessions::id
                            .eq(id.0)
                            .and(sessions::refresh_hash.eq(&presented))
                            .and(alive_at!(now))
                            .and(unlocked_owner),
                    ),
                )
                .set((
                    sessions::earlier_hashes.eq(earlier),
                    sessions::refresh_hash.eq(next.as_bytes().as_slice()),
                    sessions::last_used_at.eq(now),
                ))
                .returning((sessions::user_id, sessions::expires_at))
                .get_result(conn)
                .await
                .optional()?;
                if let Some((user_id, expires_at)) = rotated {
                    let row: UserRow = users::table
                        .find(user_id)
                        .select(UserRow::as_select())
                        .first(conn)
                        .await?;
                    return Ok(Found::Rotated(Box::new(row), expires_at));
                }
                let earlier: bool = diesel::select(exists(
                    sessions::table.filter(
                        sessions::id
                            .eq(id.0)
                            .and(sessions::earlier_hashes.contains(vec![presented.clone()])),
                    ),
                ))
                .get_result(conn)
                .await?;
                Ok(if earlier {
                    Found::Earlier
                } else {
                    Found::Refused
                })
            })
            .await
            .map_err(from_diesel)?;
        Ok(match rotation {
            Found::Rotated(row, expires_at) => Rotation::Rotated {
                user: Box::new(to_user(*row)?),
                expires_at,
            },
            Found::Earlier => Rotation::Earlier,
            Found::Refused => Rotation::Refused,
        })
    }

    async fn session_user(&self, user: UserId, id: SessionId) -> Result<Option<User>, RepoError> {
        let mut conn = self.conn().await?;
        // One primary-key read: the session is checked in the account's own row.
        users::table
            .find(user.0)
            .filter(listed(id))
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(to_user)
            .transpose()
    }

    async fn session_user_and(
        &self,
        user: UserId,
        id: SessionId,
        other: UserId,
    ) -> Result<(Option<User>, Option<User>), RepoError> {
        let mut conn = self.conn().await?;
        // `id = $1 OR id = $2`, not `id = ANY($1)`: a statement of fixed shape is prepared
        // once per connection, and PostgreSQL settles on one generic plan for it, where the
        // array form was planned afresh on every request (half the database time in the
        // planner, seen with `perf` in bench/). Each row says whether it is the caller's with
        // the session among its live ones: no second lookup (docs/benchmarks.md).
        let rows: Vec<(UserRow, bool)> = users::table
            .filter(users::id.eq(user.0).or(users::id.eq(other.0)))
            .select((UserRow::as_select(), users::id.eq(user.0).and(listed(id))))
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        let (mut caller, mut target) = (None, None);
        for (row, signed_in) in rows {
            let account = to_user(row)?;
            if account.id == other {
                target = Some(account.clone());
            }
            if signed_in {
                caller = Some(account);
            }
        }
        Ok((caller, target))
    }

    async fn list(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, RepoError> {
        let mut conn = self.conn().await?;
        let rows: Vec<SessionRow> = sessions::table
            .filter(sessions::user_id.eq(user.0).and(alive_at!(now)))
            .order((sessions::created_at.desc(), sessions::id.desc()))
            .select(SessionRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn end(
        &self,
        user: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            end_one(conn, user.0, id.0, now).await
        })
        .await
        .map_err(from_diesel)
    }

    async fn end_by_token(
        &self,
        id: SessionId,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let token = token.as_bytes().to_vec();
        let mut conn = self.conn().await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            // Whose session this is, if the token is one of its own (an unlocked read: the
            // ending below re-checks under the locks).
            let owner: Option<Uuid> = sessions::table
                .filter(
                    sessions::id.eq(id.0).and(
                        sessions::refresh_hash
                            .eq(&token)
                            .or(sessions::earlier_hashes.contains(vec![token.clone()])),
                    ),
                )
                .select(sessions::user_id)
                .first(conn)
                .await
                .optional()?;
            match owner {
                Some(user) => end_one(conn, user, id.0, now).await,
                None => Ok(false),
            }
        })
        .await
        .map_err(from_diesel)
    }

    async fn end_all(
        &self,
        user: UserId,
        which: EndSessions,
        now: DateTime<Utc>,
        audited_by: Option<UserId>,
    ) -> Result<u64, RepoError> {
        let mut conn = self.conn().await?;
        let ended = conn
            .transaction::<_, TxError, _>(async |conn| {
                let ended = count(end_sessions(conn, user.0, which, now).await?);
                if let Some(actor) = audited_by {
                    let event = AuditEvent::sessions_revoked(actor, user, ended);
                    append(conn, std::slice::from_ref(&event)).await?;
                }
                Ok(ended)
            })
            .await?;
        Ok(ended)
    }
}
