//! Bulk import and export of accounts for the command line: [`PgImporter`] inserts validated
//! accounts in batches (one transaction each) without ever duplicating one, reads the accounts of
//! a FastAPI original's database ([`PgImporter::read_original`]), and pages through every account
//! for the CSV export.
//!
//! Nothing here validates: the caller hands in values that passed the domain's constructors, and
//! gets raw values back from the original's database to validate itself.

use std::collections::HashSet;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use diesel::{
    BoolExpressionMethods as _, ExpressionMethods as _, OptionalExtension as _, QueryDsl as _,
    SelectableHelper as _,
    dsl::exists,
    pg::Pg,
    prelude::{Queryable, QueryableByName, Selectable},
    sql_query,
    sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
use um_domain::model::{
    Email, Nickname, PasswordHash, Profile, ProfileField, Role, UserId, generate_nickname,
};
use uuid::Uuid;

use crate::{
    error::{from_diesel, from_pool},
    pool::{Pool, connect_once},
    repository::FIRST_ACCOUNT_LOCK,
    rows::{NewUserRow, ProfileRow},
    schema::users,
    search::lower,
    setup::{parse_url, redacted},
};

/// How often a generated nickname is drawn again when it is taken before giving up.
const NICKNAME_ATTEMPTS: usize = 50;

/// An account to import, every value already valid.
#[derive(Debug, Clone)]
pub struct ImportUser {
    pub id: UserId,
    pub email: Email,
    /// `None`: a nickname is generated. A nickname that another account has (without regard to
    /// case) is replaced by a generated one, and the outcome says so.
    pub nickname: Option<Nickname>,
    pub profile: Profile,
    pub role: Role,
    pub email_verified: bool,
    pub is_professional: bool,
    pub professional_status_updated_at: Option<DateTime<Utc>>,
    pub is_locked: bool,
    pub failed_login_attempts: u32,
    /// Argon2id, a bcrypt hash of the original, or the hasher's unusable hash.
    pub password_hash: PasswordHash,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What became of one account of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// Inserted under `nickname`. `replaced` is the requested nickname when it was taken and a
    /// generated one was used instead.
    Inserted {
        nickname: Nickname,
        replaced: Option<Nickname>,
    },
    /// An account with the same id, or the same email without regard to case, exists already
    /// (or came earlier in the batch); nothing was written.
    AlreadyPresent,
}

/// What a batch did: the outcome of each account, in the order given, and their counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub inserted: usize,
    pub already_present: usize,
    pub rows: Vec<RowOutcome>,
}

/// A `users` row of a FastAPI original, as stored there, unvalidated. Columns the original
/// declares nullable are `Option`s.
#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalUser {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Text)]
    pub nickname: String,
    #[diesel(embed)]
    pub profile: ProfileRow,
    /// Whether the original pointed at a profile picture (which is not copied).
    #[diesel(sql_type = Bool)]
    pub has_profile_picture: bool,
    /// The original's `UserRole` enum value as text.
    #[diesel(sql_type = Text)]
    pub role: String,
    #[diesel(sql_type = Nullable<Bool>)]
    pub is_professional: Option<bool>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub professional_status_updated_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_login_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub failed_login_attempts: Option<i32>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub is_locked: Option<bool>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub created_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub updated_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub email_verified: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    pub hashed_password: Option<String>,
}

/// Every user of the original, oldest first. Casts keep this working whether a column is
/// `varchar` or `text`, an enum or a string, `timestamp` or `timestamptz`.
fn read_original_query() -> String {
    let profile: Vec<String> = ProfileField::ALL
        .iter()
        .map(|f| format!("{0}::text AS {0}", f.as_str()))
        .collect();
    format!(
        "SELECT id::uuid AS id, email::text AS email, nickname::text AS nickname, {}, \
         (profile_picture_url IS NOT NULL AND btrim(profile_picture_url::text) <> '') AS has_profile_picture, \
         role::text AS role, is_professional, \
         professional_status_updated_at::timestamptz AS professional_status_updated_at, \
         last_login_at::timestamptz AS last_login_at, \
         failed_login_attempts::integer AS failed_login_attempts, is_locked, \
         created_at::timestamptz AS created_at, updated_at::timestamptz AS updated_at, \
         email_verified, hashed_password::text AS hashed_password \
         FROM users ORDER BY created_at NULLS FIRST, id",
        profile.join(", ")
    )
}

/// An account as the CSV export writes it: no password hash, no picture, no timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(Pg))]
pub struct ExportedUser {
    pub id: Uuid,
    pub email: String,
    pub nickname: String,
    #[diesel(embed)]
    pub profile: ProfileRow,
    pub role: String,
    pub email_verified: bool,
    pub is_professional: bool,
}

/// Imports and exports accounts.
#[derive(Clone)]
pub struct PgImporter {
    pool: Pool,
}

impl std::fmt::Debug for PgImporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgImporter")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PgImporter {
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Inserts `batch` in one transaction: all of it or, on an error, none of it.
    ///
    /// An account whose id, or whose email without regard to case, exists already (or came
    /// earlier in the batch) is skipped as [`RowOutcome::AlreadyPresent`], so that an import can
    /// be run again. An account whose nickname is taken is inserted all the same, under a
    /// generated nickname ([`RowOutcome::Inserted::replaced`] tells). Audit events and emails are
    /// not written: the import is no change of an existing account.
    ///
    /// # Errors
    /// When the database cannot be reached or refuses a row (nothing of the batch is kept then).
    pub async fn insert_batch(&self, batch: &[ImportUser]) -> anyhow::Result<ImportOutcome> {
        if batch.is_empty() {
            return Ok(ImportOutcome::default());
        }
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(from_pool)
            .context("connecting to the database")?;
        let outcome = conn
            .transaction::<_, anyhow::Error, _>(async |conn| {
                sql_query("SELECT pg_advisory_xact_lock($1)")
                    // The lock a registration takes to decide whether it is the first account:
                    // a registration racing an import into an empty database is then not
                    // promoted to ADMIN.
                    .bind::<BigInt, _>(FIRST_ACCOUNT_LOCK)
                    .execute(conn)
                    .await?;
                let mut outcome = ImportOutcome::default();
                for user in batch {
                    let row = insert_one(conn, user)
                        .await
                        .with_context(|| format!("importing the account with id {}", user.id))?;
                    match row {
                        RowOutcome::Inserted { .. } => outcome.inserted += 1,
                        RowOutcome::AlreadyPresent => outcome.already_present += 1,
                    }
                    outcome.rows.push(row);
                }
                Ok(outcome)
            })
            .await?;
        Ok(outcome)
    }

    /// Up to `limit` accounts whose lower-cased email sorts after `after` (from the start with
    /// `None`), ordered by lower-cased email: a stable order to page through every account.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn export_page(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<ExportedUser>> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(from_pool)
            .context("connecting to the database")?;
        let mut query = users::table
            .select(ExportedUser::as_select())
            .order((lower(users::email).asc(), users::id.asc()))
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(lower(users::email).gt(lower(after.to_owned())));
        }
        query
            .load(&mut conn)
            .await
            .map_err(from_diesel)
            .context("reading the accounts")
    }

    /// Every user in the `users` table of a FastAPI original at `database_url`, oldest first,
    /// unvalidated. Read in one query on a connection of its own, closed afterwards.
    ///
    /// # Errors
    /// When the URL is not a PostgreSQL URL, the database cannot be reached, or it has no
    /// `users` table of the original's shape.
    pub async fn read_original(database_url: &str) -> anyhow::Result<Vec<OriginalUser>> {
        let url = parse_url(database_url)?;
        let shown = redacted(&url);
        let mut conn = connect_once(database_url)
            .await
            .with_context(|| format!("connecting to the original database {shown}"))?;
        sql_query(read_original_query())
            .load(&mut conn)
            .await
            .with_context(|| format!("reading the users table of the original database {shown}"))
    }
}

/// Inserts one account unless it is present, drawing a new nickname while its nickname is taken.
async fn insert_one(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &ImportUser,
) -> anyhow::Result<RowOutcome> {
    let mut nickname = user.nickname.clone().unwrap_or_else(generate_nickname);
    // Generated nicknames tried in this call, so that a taken one is not drawn again.
    let mut tried = HashSet::new();
    for _ in 0..NICKNAME_ATTEMPTS {
        let inserted = diesel::insert_into(users::table)
            .values(row(user, &nickname))
            // Any unique index: the id, lower(email) or lower(nickname).
            .on_conflict_do_nothing()
            .returning(users::id)
            .get_result::<Uuid>(conn)
            .await
            .optional()?;
        if inserted.is_some() {
            let replaced = match &user.nickname {
                Some(wanted) if wanted != &nickname => Some(wanted.clone()),
                _ => None,
            };
            return Ok(RowOutcome::Inserted { nickname, replaced });
        }
        let present: bool = diesel::select(exists(
            users::table.filter(
                users::id
                    .eq(user.id.0)
                    .or(lower(users::email).eq(lower(user.email.as_str()))),
            ),
        ))
        .get_result(conn)
        .await?;
        if present {
            return Ok(RowOutcome::AlreadyPresent);
        }
        // Neither id nor email: the nickname is taken. Draw one nobody has.
        tried.insert(nickname.normalized());
        nickname = loop {
            let candidate = generate_nickname();
            if !tried.contains(&candidate.normalized()) {
                break candidate;
            }
        };
    }
    anyhow::bail!("no free nickname found in {NICKNAME_ATTEMPTS} attempts")
}

fn row<'a>(user: &'a ImportUser, nickname: &'a Nickname) -> NewUserRow<'a> {
    NewUserRow {
        id: user.id.0,
        email: user.email.as_str(),
        nickname: nickname.as_str(),
        profile: ProfileRow::from(&user.profile),
        role: user.role.as_str(),
        is_professional: user.is_professional,
        professional_status_updated_at: user.professional_status_updated_at,
        email_verified: user.email_verified,
        is_locked: user.is_locked,
        failed_login_attempts: i32::try_from(user.failed_login_attempts).unwrap_or(i32::MAX),
        hashed_password: user.password_hash.expose(),
        last_login_at: user.last_login_at,
        created_at: user.created_at,
        updated_at: user.updated_at,
    }
}
