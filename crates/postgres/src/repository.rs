//! [`PgUserRepository`]: the [`UserRepository`] port over PostgreSQL.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::{
    BoolExpressionMethods as _, ExpressionMethods as _, IntoSql as _, OptionalExtension as _,
    QueryDsl as _, SelectableHelper as _,
    dsl::{case_when, exists, now},
    result::{DatabaseErrorKind, Error as DieselError},
    sql_query,
    sql_types::{BigInt, Text},
    upsert::excluded,
};
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _, SimpleAsyncConnection as _,
    pooled_connection::deadpool::Object,
};
use um_domain::{
    model::{
        AuditEvent, Email, Nickname, PasswordHash, PictureKeys, Role, TokenHash, User, UserId,
    },
    ports::{
        EndSessions, FailedLogin, LockNotice, Mail, MailKind, NewUser, Page, PasswordChanged,
        PendingToken, RepoError, UserChanges, UserQuery, UserRepository,
    },
};
use uuid::Uuid;

use crate::{
    audit::{append, unlocked_by_itself},
    error::{TxError, from_diesel, from_pool},
    outbox::queue,
    pool::Pool,
    rows::{NewUserRow, UserChangeset, UserRow, picture_keys, to_user},
    schema::{
        email_verification_tokens as tokens, password_reset_tokens as reset_tokens, unlock_tokens,
        users,
    },
    search::{self, lower},
    sessions::{self, end_sessions},
};

/// Key of the transaction-level advisory lock that serialises "is this the first account?".
pub(crate) const FIRST_ACCOUNT_LOCK: i64 = 0x756d_5f66_6972_7374; // "um_first"

/// Accounts in PostgreSQL.
#[derive(Clone)]
pub struct PgUserRepository {
    pool: Pool,
}

impl std::fmt::Debug for PgUserRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUserRepository")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PgUserRepository {
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    pub(crate) async fn conn(&self) -> Result<Object<AsyncPgConnection>, RepoError> {
        self.pool.get().await.map_err(from_pool)
    }
}

/// The one account a query of `users` finds, if any (a statement of fixed shape, so that its
/// prepared form is cached per connection).
macro_rules! first_user {
    ($repo:ident, $query:expr) => {{
        let mut conn = $repo.conn().await?;
        $query
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(to_user)
            .transpose()
    }};
}

/// Stores `$token` as the account's only token in `$table` (verification or unlock tokens),
/// replacing any earlier one; a future of the number of rows written.
macro_rules! upsert_token {
    ($conn:expr, $table:ident, $user_id:expr, $token:expr) => {
        diesel::insert_into($table::table)
            .values((
                $table::user_id.eq($user_id),
                $table::token_hash.eq($token.hash.as_bytes().as_slice()),
                $table::expires_at.eq($token.expires_at),
            ))
            .on_conflict($table::user_id)
            .do_update()
            .set((
                $table::token_hash.eq(excluded($table::token_hash)),
                $table::expires_at.eq(excluded($table::expires_at)),
            ))
            .execute($conn)
    };
}

/// Uses up the token `$hash` of `$table` (password-reset or unlock tokens) if it works at
/// `$at`: `Some((account, whether it was locked))` with the account's row locked, `None` for an
/// unknown, expired or already used token (or an account gone meanwhile).
///
/// The account is locked before its token rows are touched (see [`lock_account`]); deleting the
/// token decides: of two uses of one token, the second finds it gone.
macro_rules! use_up_token {
    ($conn:expr, $table:ident, $hash:expr, $at:expr) => {
        async {
            let owner: Option<Uuid> = $table::table
                .filter($table::token_hash.eq($hash))
                .select($table::user_id)
                .first($conn)
                .await
                .optional()?;
            let Some(user_id) = owner else {
                return Ok::<_, DieselError>(None);
            };
            let Some(was_locked) = lock_account($conn, user_id).await? else {
                return Ok(None);
            };
            let used = diesel::delete(
                $table::table.filter(
                    $table::token_hash
                        .eq($hash)
                        .and($table::user_id.eq(user_id))
                        .and($table::expires_at.gt($at)),
                ),
            )
            .execute($conn)
            .await?;
            Ok((used > 0).then_some((user_id, was_locked)))
        }
    };
}

/// Locks the account's row until the transaction ends and tells whether the account is locked
/// (`is_locked`); `None` when it is gone.
///
/// Transactions that use a token lock the account before they touch its token rows, the same
/// order as [`UserRepository::record_failed_login`] (which updates the account, then stores the
/// unlock token): two of them on one account then wait for each other instead of deadlocking.
async fn lock_account(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<bool>, DieselError> {
    users::table
        .find(id)
        .select(users::is_locked)
        .for_update()
        .first::<bool>(conn)
        .await
        .optional()
}

/// A transaction's error as the port states it, a foreign-key violation (a token or an email
/// for an account that is gone) being `NotFound`.
pub(crate) fn account_gone(e: TxError) -> RepoError {
    match e {
        TxError::Db(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            RepoError::NotFound
        }
        e => e.into(),
    }
}

async fn any_user(conn: &mut AsyncPgConnection) -> Result<bool, diesel::result::Error> {
    diesel::select(exists(users::table.select(users::id)))
        .get_result(conn)
        .await
}

/// The stored role of `id` (unlocked read), or `NotFound`.
async fn current_role(conn: &mut AsyncPgConnection, id: Uuid) -> Result<String, TxError> {
    users::table
        .find(id)
        .select(users::role)
        .first::<String>(conn)
        .await
        .optional()?
        .ok_or(TxError::Repo(RepoError::NotFound))
}

/// Refuses with `LastAdmin` when `id` is the only ADMIN. Locks every ADMIN row (in id order, so
/// that concurrent callers cannot deadlock) until the transaction ends: of two transactions
/// demoting or deleting the last two ADMINs, the second sees only one ADMIN left.
async fn ensure_not_last_admin(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), TxError> {
    let admins: Vec<Uuid> = users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .select(users::id)
        .order(users::id)
        .for_update()
        .load(conn)
        .await?;
    if admins == [id] {
        return Err(RepoError::LastAdmin.into());
    }
    Ok(())
}

#[async_trait]
impl UserRepository for PgUserRepository {
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepoError> {
        first_user!(self, users::table.find(id.0))
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        first_user!(
            self,
            users::table.filter(lower(users::email).eq(lower(email.as_str())))
        )
    }

    async fn nickname_taken(&self, nickname: &Nickname) -> Result<bool, RepoError> {
        let mut conn = self.conn().await?;
        diesel::select(exists(
            users::table.filter(lower(users::nickname).eq(lower(nickname.as_str()))),
        ))
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)
    }

    async fn insert(&self, user: NewUser) -> Result<User, RepoError> {
        let mut conn = self.conn().await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                let mut role = user.role;
                let mut email_verified = user.email_verified;
                // Only a table that looks empty needs the lock; re-checked under it, because a
                // transaction that held it may have committed the first account meanwhile (each
                // statement of a READ COMMITTED transaction sees what committed before it).
                if user.promote_if_first && !any_user(conn).await? {
                    sql_query("SELECT pg_advisory_xact_lock($1)")
                        .bind::<BigInt, _>(FIRST_ACCOUNT_LOCK)
                        .execute(conn)
                        .await?;
                    if !any_user(conn).await? {
                        role = Role::Admin;
                        email_verified = true;
                    }
                }
                let row = NewUserRow::new(&user, role, email_verified)
                    .insert()
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await?;
                // A verified account (the promoted first ADMIN) needs neither token nor email.
                if !email_verified {
                    if let Some(token) = &user.verification_token {
                        upsert_token!(conn, tokens, user.id.0, token).await?;
                    }
                    queue(conn, user.verification_mail.as_slice()).await?;
                }
                Ok(row)
            })
            .await?;
        to_user(row)
    }

    async fn update(&self, id: UserId, changes: UserChanges) -> Result<User, RepoError> {
        let mut conn = self.conn().await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                if changes.role.is_some_and(|r| r != Role::Admin)
                    && current_role(conn, id.0).await? == Role::Admin.as_str()
                {
                    ensure_not_last_admin(conn, id.0).await?;
                }
                let row = diesel::update(users::table.find(id.0))
                    .set((UserChangeset::from(&changes), users::updated_at.eq(now)))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?
                    .ok_or(TxError::Repo(RepoError::NotFound))?;
                if let Some(token) = &changes.verification_token {
                    upsert_token!(conn, tokens, id.0, token).await?;
                }
                if changes.email.is_some() {
                    // A link mailed to the old address must not open the account any more.
                    end_reset_and_unlock_tokens(conn, id.0).await?;
                }
                queue(conn, &changes.mails).await?;
                append(conn, &changes.audit).await?;
                Ok(row)
            })
            .await?;
        to_user(row)
    }

    async fn delete(
        &self,
        id: UserId,
        audit: AuditEvent,
    ) -> Result<Option<PictureKeys>, RepoError> {
        let mut conn = self.conn().await?;
        let keys = conn
            .transaction::<_, TxError, _>(async |conn| {
                if current_role(conn, id.0).await? == Role::Admin.as_str() {
                    ensure_not_last_admin(conn, id.0).await?;
                }
                // The tokens go with the row (ON DELETE CASCADE); the audit log, which references
                // no account, keeps the deletion.
                let keys = diesel::delete(users::table.find(id.0))
                    .returning((
                        users::profile_picture_key,
                        users::profile_picture_thumbnail_key,
                    ))
                    .get_result::<(Option<String>, Option<String>)>(conn)
                    .await
                    .optional()?
                    .ok_or(TxError::Repo(RepoError::NotFound))?;
                append(conn, std::slice::from_ref(&audit)).await?;
                Ok(keys)
            })
            .await?;
        picture_keys(keys.0, keys.1).map_err(|e| RepoError::Other(e.into()))
    }

    async fn unlock(&self, id: UserId, audit: AuditEvent) -> Result<User, RepoError> {
        let mut conn = self.conn().await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                // The row lock first, as every transaction that touches the unlock token does.
                let current = users::table
                    .find(id.0)
                    .select(UserRow::as_select())
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?
                    .ok_or(TxError::Repo(RepoError::NotFound))?;
                let was_locked = current.is_locked;
                let row = if was_locked || current.failed_login_attempts != 0 {
                    diesel::update(users::table.find(id.0))
                        .set((
                            users::is_locked.eq(false),
                            users::failed_login_attempts.eq(0),
                            users::updated_at.eq(now),
                        ))
                        .returning(UserRow::as_returning())
                        .get_result(conn)
                        .await?
                } else {
                    current
                };
                diesel::delete(unlock_tokens::table.find(id.0))
                    .execute(conn)
                    .await?;
                if was_locked {
                    append(conn, std::slice::from_ref(&audit)).await?;
                }
                Ok(row)
            })
            .await?;
        to_user(row)
    }

    async fn set_picture(
        &self,
        id: UserId,
        picture: Option<PictureKeys>,
        audit: Option<AuditEvent>,
    ) -> Result<(User, Option<PictureKeys>), RepoError> {
        let mut conn = self.conn().await?;
        let (row, old) = conn
            .transaction::<_, TxError, _>(async |conn| {
                // Lock the row, so that of two concurrent uploads each sees the keys the other
                // replaced and no object is forgotten.
                let old: (Option<String>, Option<String>) = users::table
                    .find(id.0)
                    .select((
                        users::profile_picture_key,
                        users::profile_picture_thumbnail_key,
                    ))
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?
                    .ok_or(TxError::Repo(RepoError::NotFound))?;
                let (main, thumbnail) = match &picture {
                    Some(keys) => (Some(keys.main.as_str()), Some(keys.thumbnail.as_str())),
                    None => (None, None),
                };
                let row = diesel::update(users::table.find(id.0))
                    .set((
                        users::profile_picture_key.eq(main),
                        users::profile_picture_thumbnail_key.eq(thumbnail),
                        users::updated_at.eq(now),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await?;
                append(conn, audit.as_slice()).await?;
                Ok((row, old))
            })
            .await?;
        let old = picture_keys(old.0, old.1).map_err(|e| RepoError::Other(e.into()))?;
        Ok((to_user(row)?, old))
    }

    async fn find_by_nickname(&self, nickname: &Nickname) -> Result<Option<User>, RepoError> {
        first_user!(
            self,
            users::table.filter(lower(users::nickname).eq(lower(nickname.as_str())))
        )
    }

    async fn taken_nicknames(&self, candidates: Vec<String>) -> Result<HashSet<String>, RepoError> {
        if candidates.is_empty() {
            return Ok(HashSet::new());
        }
        let lowered: Vec<String> = candidates.iter().map(|c| c.to_lowercase()).collect();
        let mut conn = self.conn().await?;
        let taken: Vec<String> = users::table
            .filter(lower(users::nickname).eq_any(&lowered))
            .select(lower(users::nickname))
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(taken.into_iter().collect())
    }

    async fn set_professional(
        &self,
        id: UserId,
        is_professional: bool,
        at: DateTime<Utc>,
        mail: Mail,
        audit: AuditEvent,
    ) -> Result<Option<User>, RepoError> {
        let mut conn = self.conn().await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                let row = diesel::update(
                    users::table
                        .find(id.0)
                        .filter(users::is_professional.ne(is_professional)),
                )
                .set((
                    users::is_professional.eq(is_professional),
                    users::professional_status_updated_at.eq(at),
                    users::updated_at.eq(now),
                ))
                .returning(UserRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
                if row.is_some() {
                    queue(conn, std::slice::from_ref(&mail)).await?;
                    append(conn, std::slice::from_ref(&audit)).await?;
                }
                Ok(row)
            })
            .await?;
        row.map(to_user).transpose()
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: PasswordHash,
        change: Option<PasswordChanged>,
    ) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, TxError, _>(async |conn| {
            let updated = diesel::update(users::table.find(id.0))
                .set((
                    users::hashed_password.eq(hash.expose()),
                    users::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
            if updated == 0 {
                return Err(TxError::Repo(RepoError::NotFound));
            }
            if let Some(change) = change {
                // Links mailed before the change must not set another password after it.
                end_reset_and_unlock_tokens(conn, id.0).await?;
                end_sessions(conn, id.0, change.end_sessions, Utc::now()).await?;
                queue(conn, std::slice::from_ref(&change.notice)).await?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn referenced_picture_keys(
        &self,
        keys: Vec<String>,
    ) -> Result<HashSet<String>, RepoError> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let mut conn = self.conn().await?;
        let rows: Vec<(Option<String>, Option<String>)> = users::table
            .filter(
                users::profile_picture_key
                    .eq_any(&keys)
                    .or(users::profile_picture_thumbnail_key.eq_any(&keys)),
            )
            .select((
                users::profile_picture_key,
                users::profile_picture_thumbnail_key,
            ))
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(rows
            .into_iter()
            .flat_map(|(main, thumbnail)| [main, thumbnail])
            .flatten()
            .filter(|k| keys.contains(k))
            .collect())
    }

    async fn list(&self, query: UserQuery) -> Result<Page<User>, RepoError> {
        let mut conn = self.conn().await?;
        // One snapshot for the page and the count, so that they agree.
        let (mut rows, total) = conn
            .build_transaction()
            .read_only()
            .repeatable_read()
            .run::<_, diesel::result::Error, _>(async |conn| {
                if search::plans_depend_on_values(&query.filter) {
                    conn.batch_execute(search::CUSTOM_PLANS).await?;
                }
                // The page and the next match, if any: when there is none, the page tells the
                // total and the count (a scan of every match) is not needed.
                let rows: Vec<UserRow> = search::page(&query).load(conn).await?;
                let total = match search::total_from_page(query.skip, query.limit, rows.len()) {
                    Some(total) => total,
                    None => {
                        let total: i64 = search::count(&query.filter).get_result(conn).await?;
                        u64::try_from(total).unwrap_or(0)
                    }
                };
                Ok((rows, total))
            })
            .await
            .map_err(from_diesel)?;
        rows.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        Ok(Page {
            items: rows.into_iter().map(to_user).collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn record_failed_login(
        &self,
        id: UserId,
        max_attempts: u32,
        on_lock: LockNotice,
    ) -> Result<FailedLogin, RepoError> {
        let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        let mut conn = self.conn().await?;
        let outcome = conn
            .transaction::<_, TxError, _>(async |conn| {
                // One statement counts: the row lock serialises parallel failures, and a waiting
                // UPDATE re-checks `NOT is_locked` on the row it waited for, so nothing counts
                // past the lock. The lock is held until the transaction ends.
                let counted: Option<(i32, bool)> =
                    diesel::update(users::table.find(id.0).filter(users::is_locked.eq(false)))
                        .set((
                            users::failed_login_attempts.eq(users::failed_login_attempts + 1),
                            users::is_locked.eq((users::failed_login_attempts + 1).ge(max)),
                            users::updated_at.eq(now),
                        ))
                        .returning((users::failed_login_attempts, users::is_locked))
                        .get_result(conn)
                        .await
                        .optional()?;
                if let Some((attempts, locked)) = counted {
                    // The row was unlocked before this UPDATE, so `locked` means that this very
                    // failure locked it: only then are the unlock link and its email stored.
                    if locked {
                        end_sessions(conn, id.0, on_lock.end_sessions, Utc::now()).await?;
                        upsert_token!(conn, unlock_tokens, id.0, on_lock.unlock_token).await?;
                        queue(conn, std::slice::from_ref(&on_lock.mail)).await?;
                        append(conn, std::slice::from_ref(&on_lock.audit)).await?;
                    }
                    return Ok(FailedLogin::Counted {
                        attempts: u32::try_from(attempts).unwrap_or(0),
                        locked,
                    });
                }
                // Nothing counted: the account is gone, or was locked when the UPDATE ran.
                let exists: bool = diesel::select(exists(users::table.find(id.0)))
                    .get_result(conn)
                    .await?;
                if exists {
                    Ok(FailedLogin::AlreadyLocked)
                } else {
                    Err(RepoError::NotFound.into())
                }
            })
            .await?;
        Ok(outcome)
    }

    async fn record_login(&self, id: UserId, at: DateTime<Utc>) -> Result<Option<User>, RepoError> {
        let mut conn = self.conn().await?;
        diesel::update(users::table.find(id.0).filter(users::is_locked.eq(false)))
            .set((
                users::failed_login_attempts.eq(0),
                users::last_login_at.eq(at),
            ))
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(to_user)
            .transpose()
    }

    async fn replace_verification_token(
        &self,
        id: UserId,
        token: PendingToken,
        mail: Mail,
    ) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, TxError, _>(async |conn| {
            upsert_token!(conn, tokens, id.0, token).await?;
            queue(conn, std::slice::from_ref(&mail)).await
        })
        .await
        .map_err(account_gone)
    }

    async fn create_password_reset(
        &self,
        id: UserId,
        token: PendingToken,
        mail: Mail,
    ) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, TxError, _>(async |conn| {
            diesel::insert_into(reset_tokens::table)
                .values((
                    reset_tokens::token_hash.eq(token.hash.as_bytes().as_slice()),
                    reset_tokens::user_id.eq(id.0),
                    reset_tokens::expires_at.eq(token.expires_at),
                ))
                .execute(conn)
                .await?;
            queue(conn, std::slice::from_ref(&mail)).await
        })
        .await
        .map_err(account_gone)
    }

    async fn reset_password(
        &self,
        token: TokenHash,
        new_hash: PasswordHash,
        at: DateTime<Utc>,
        notice: MailKind,
        end_sessions: EndSessions,
    ) -> Result<Option<User>, RepoError> {
        let hash = token.as_bytes().as_slice();
        let mut conn = self.conn().await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                let Some((user_id, was_locked)) =
                    use_up_token!(conn, reset_tokens, hash, at).await?
                else {
                    return Ok(None);
                };
                let row = diesel::update(users::table.find(user_id))
                    .set((
                        users::hashed_password.eq(new_hash.expose()),
                        users::is_locked.eq(false),
                        users::failed_login_attempts.eq(0),
                        users::updated_at.eq(now),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await?;
                // Every other reset token dies, and so does the unlock link of a lock this lifts.
                end_reset_and_unlock_tokens(conn, user_id).await?;
                sessions::end_sessions(conn, user_id, end_sessions, at).await?;
                let to = Email::parse(&row.email).map_err(|e| {
                    TxError::Repo(RepoError::Other(anyhow::anyhow!("stored email: {e}")))
                })?;
                let mail = Mail {
                    to,
                    greeting_name: row.nickname.clone(),
                    kind: notice,
                };
                queue(conn, std::slice::from_ref(&mail)).await?;
                if was_locked {
                    append(conn, &[unlocked_by_itself(user_id)]).await?;
                }
                Ok(Some(row))
            })
            .await?;
        row.map(to_user).transpose()
    }

    async fn unlock_with_token(
        &self,
        token: TokenHash,
        at: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError> {
        let hash = token.as_bytes().as_slice();
        let mut conn = self.conn().await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                let Some((user_id, _)) = use_up_token!(conn, unlock_tokens, hash, at).await? else {
                    return Ok(None);
                };
                // The token is used up either way; it unlocks only an account that is locked
                // (not one unlocked meanwhile by a reset or by staff).
                let row =
                    diesel::update(users::table.find(user_id).filter(users::is_locked.eq(true)))
                        .set((
                            users::is_locked.eq(false),
                            users::failed_login_attempts.eq(0),
                            users::updated_at.eq(now),
                        ))
                        .returning(UserRow::as_returning())
                        .get_result(conn)
                        .await
                        .optional()?;
                if row.is_some() {
                    append(conn, &[unlocked_by_itself(user_id)]).await?;
                }
                Ok(row)
            })
            .await?;
        row.map(to_user).transpose()
    }

    async fn verify_email(
        &self,
        id: UserId,
        token: TokenHash,
        at: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError> {
        let mut conn = self.conn().await?;
        let row = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                let used: Option<Uuid> = diesel::delete(
                    tokens::table.filter(
                        tokens::user_id
                            .eq(id.0)
                            .and(tokens::token_hash.eq(token.as_bytes().as_slice()))
                            .and(tokens::expires_at.gt(at)),
                    ),
                )
                .returning(tokens::user_id)
                .get_result(conn)
                .await
                .optional()?;
                if used.is_none() {
                    return Ok(None);
                }
                let role = case_when::<_, _, Text>(
                    users::role.eq(Role::Anonymous.as_str()),
                    Role::Authenticated.as_str().into_sql::<Text>(),
                )
                .otherwise(users::role);
                diesel::update(users::table.find(id.0))
                    .set((
                        users::email_verified.eq(true),
                        users::role.eq(role),
                        users::updated_at.eq(now),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()
            })
            .await
            .map_err(from_diesel)?;
        row.map(to_user).transpose()
    }

    async fn ping(&self) -> Result<(), RepoError> {
        let mut conn = self.pool.get().await.map_err(from_pool)?;
        diesel::select(1_i32.into_sql::<diesel::sql_types::Integer>())
            .get_result::<i32>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| RepoError::Unavailable(e.into()))
    }
}

/// Ends every outstanding password-reset and unlock token of the account: what a password
/// change, a reset and an email change do.
async fn end_reset_and_unlock_tokens(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<(), DieselError> {
    diesel::delete(reset_tokens::table.filter(reset_tokens::user_id.eq(user_id)))
        .execute(conn)
        .await?;
    diesel::delete(unlock_tokens::table.find(user_id))
        .execute(conn)
        .await?;
    Ok(())
}
