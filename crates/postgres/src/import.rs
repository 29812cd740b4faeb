//! [`PgImporter`]: the domain's [`AccountImporter`] port, for the operator's imports and export.
//! It inserts accounts in batches (one transaction each) without ever duplicating one and pages
//! through every account for the CSV export; besides the port it reads the users of a FastAPI
//! original's database ([`PgImporter::read_original`]), a source the operator names by URL.
//!
//! Nothing here validates: the domain's `ImportService` hands in values that passed its rules,
//! and gets the original's users back as raw text to judge itself.

use std::collections::HashSet;

use anyhow::Context as _;
use async_trait::async_trait;
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
use um_domain::{
    model::{Nickname, ProfileField, UserId, generate_nickname},
    ports::{
        AccountImporter, ExportedAccount, ImportedAccount, ImportedBatch, ImportedRow, RepoError,
    },
    services::OriginalUser,
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

/// A `users` row of a FastAPI original, as stored there, unvalidated. Columns the original
/// declares nullable are `Option`s.
#[derive(Debug, Clone, QueryableByName)]
struct OriginalRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    nickname: String,
    #[diesel(embed)]
    profile: ProfileRow,
    /// Whether the original pointed at a profile picture (which is not copied).
    #[diesel(sql_type = Bool)]
    has_profile_picture: bool,
    /// The original's `UserRole` enum value as text.
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Nullable<Bool>)]
    is_professional: Option<bool>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    professional_status_updated_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_login_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Integer>)]
    failed_login_attempts: Option<i32>,
    #[diesel(sql_type = Nullable<Bool>)]
    is_locked: Option<bool>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    created_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    updated_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Bool>)]
    email_verified: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    hashed_password: Option<String>,
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
struct ExportedRow {
    id: Uuid,
    email: String,
    nickname: String,
    #[diesel(embed)]
    profile: ProfileRow,
    role: String,
    email_verified: bool,
    is_professional: bool,
}

impl From<OriginalRow> for OriginalUser {
    fn from(row: OriginalRow) -> Self {
        Self {
            id: UserId(row.id),
            email: row.email,
            nickname: row.nickname,
            profile: row.profile.stored_texts(),
            has_profile_picture: row.has_profile_picture,
            role: row.role,
            is_professional: row.is_professional,
            professional_status_updated_at: row.professional_status_updated_at,
            last_login_at: row.last_login_at,
            failed_login_attempts: row.failed_login_attempts,
            is_locked: row.is_locked,
            created_at: row.created_at,
            updated_at: row.updated_at,
            email_verified: row.email_verified,
            hashed_password: row.hashed_password,
        }
    }
}

impl From<ExportedRow> for ExportedAccount {
    fn from(row: ExportedRow) -> Self {
        Self {
            id: UserId(row.id),
            email: row.email,
            nickname: row.nickname,
            profile: row.profile.stored_texts(),
            role: row.role,
            email_verified: row.email_verified,
            is_professional: row.is_professional,
        }
    }
}

/// A failure to get a connection, saying so.
fn connecting(e: diesel_async::pooled_connection::deadpool::PoolError) -> RepoError {
    match from_pool(e) {
        RepoError::Unavailable(cause) => {
            RepoError::Unavailable(cause.context("connecting to the database"))
        }
        RepoError::Other(cause) => RepoError::Other(cause.context("connecting to the database")),
        other => other,
    }
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
        let rows: Vec<OriginalRow> = sql_query(read_original_query())
            .load(&mut conn)
            .await
            .with_context(|| format!("reading the users table of the original database {shown}"))?;
        Ok(rows.into_iter().map(OriginalUser::from).collect())
    }
}

#[async_trait]
impl AccountImporter for PgImporter {
    /// One transaction per batch, under the advisory lock a registration takes to decide
    /// whether it is the first account: a registration racing an import into an empty database
    /// is then not promoted to ADMIN.
    async fn insert_batch(&self, batch: &[ImportedAccount]) -> Result<ImportedBatch, RepoError> {
        if batch.is_empty() {
            return Ok(ImportedBatch::default());
        }
        let mut conn = self.pool.get().await.map_err(connecting)?;
        conn.transaction::<_, anyhow::Error, _>(async |conn| {
            sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(FIRST_ACCOUNT_LOCK)
                .execute(conn)
                .await?;
            let mut rows = Vec::with_capacity(batch.len());
            for account in batch {
                let row = insert_one(conn, account)
                    .await
                    .with_context(|| format!("importing the account with id {}", account.id))?;
                rows.push(row);
            }
            Ok(ImportedBatch { rows })
        })
        .await
        .map_err(RepoError::Other)
    }

    async fn export_page(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<ExportedAccount>, RepoError> {
        let mut conn = self.pool.get().await.map_err(connecting)?;
        let mut query = users::table
            .select(ExportedRow::as_select())
            .order((lower(users::email).asc(), users::id.asc()))
            .limit(i64::from(limit))
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(lower(users::email).gt(lower(after)));
        }
        let rows: Vec<ExportedRow> =
            query
                .load(&mut conn)
                .await
                .map_err(|e| match from_diesel(e) {
                    RepoError::Unavailable(cause) => {
                        RepoError::Unavailable(cause.context("reading the accounts"))
                    }
                    RepoError::Other(cause) => {
                        RepoError::Other(cause.context("reading the accounts"))
                    }
                    other => other,
                })?;
        Ok(rows.into_iter().map(ExportedAccount::from).collect())
    }
}

/// Inserts one account unless it is present, drawing a new nickname while its nickname is taken.
async fn insert_one(
    conn: &mut diesel_async::AsyncPgConnection,
    account: &ImportedAccount,
) -> anyhow::Result<ImportedRow> {
    let mut nickname = account.nickname.clone().unwrap_or_else(generate_nickname);
    // Generated nicknames tried in this call, so that a taken one is not drawn again.
    let mut tried = HashSet::new();
    for _ in 0..NICKNAME_ATTEMPTS {
        let inserted = NewUserRow::imported(account, &nickname)
            .insert()
            // Any unique index: the id, lower(email) or lower(nickname).
            .on_conflict_do_nothing()
            .returning(users::id)
            .get_result::<Uuid>(conn)
            .await
            .optional()?;
        if inserted.is_some() {
            let replaced = match &account.nickname {
                Some(wanted) if wanted != &nickname => Some(wanted.clone()),
                _ => None,
            };
            return Ok(ImportedRow::Inserted { nickname, replaced });
        }
        let present: bool = diesel::select(exists(
            users::table.filter(
                users::id
                    .eq(account.id.0)
                    .or(lower(users::email).eq(lower(account.email.as_str()))),
            ),
        ))
        .get_result(conn)
        .await?;
        if present {
            return Ok(ImportedRow::AlreadyPresent);
        }
        // Neither id nor email: the nickname is taken. Draw one nobody has.
        tried.insert(nickname.normalized());
        nickname = loop {
            let candidate: Nickname = generate_nickname();
            if !tried.contains(&candidate.normalized()) {
                break candidate;
            }
        };
    }
    anyhow::bail!("no free nickname found in {NICKNAME_ATTEMPTS} attempts")
}
