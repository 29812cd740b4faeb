//! Start-up: create the database when it is missing, and run the embedded migrations.

use anyhow::{Context as _, anyhow};
use diesel::{
    ExpressionMethods as _, QueryDsl as _, dsl::exists, select, sql_query, sql_types::BigInt,
};
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl as _};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};
use url::Url;

use crate::{pool::connect_once, schema::catalog::pg_database};

/// The migrations under `migrations/` at the workspace top, embedded into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Key of the session-level advisory lock that serialises concurrent migration runs (two
/// instances starting at once) on one database.
const MIGRATION_LOCK: i64 = 0x756d_5f6d_6967_7261; // "um_migra"

/// The database every PostgreSQL server has, used to create and drop other databases.
pub(crate) const MAINTENANCE_DATABASE: &str = "postgres";

/// Creates the database `database_url` names unless it exists, by connecting to the `postgres`
/// maintenance database on the same server. A database created concurrently by someone else
/// counts as success.
///
/// # Errors
/// When the URL is not a `postgres://` URL naming a database, the server cannot be reached, or
/// the database neither exists nor can be created.
pub async fn create_database_if_missing(database_url: &str) -> anyhow::Result<()> {
    let url = parse_url(database_url)?;
    let name = database_name(&url)?;
    // The common case, and one that needs no access to the maintenance database.
    if connect_once(database_url).await.is_ok() {
        return Ok(());
    }
    let maintenance = with_database(&url, MAINTENANCE_DATABASE);
    let mut conn = connect_once(maintenance.as_str())
        .await
        .with_context(|| format!("connecting to {}", redacted(&maintenance)))?;
    if database_exists(&mut conn, &name).await? {
        return Ok(());
    }
    match sql_query(format!("CREATE DATABASE {}", quote_ident(&name)))
        .execute(&mut conn)
        .await
    {
        Ok(_) => {
            tracing::info!(database = %name, "created the database");
            Ok(())
        }
        // duplicate_database (or a unique violation in the catalog) from a concurrent creator.
        Err(_) if database_exists(&mut conn, &name).await? => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating database {name:?}")),
    }
}

/// Runs every pending embedded migration on `database_url`, under an advisory lock so that
/// instances starting together do not race.
///
/// Works from any tokio runtime (multi- or current-thread): the migrations run on a thread of
/// their own, where [`AsyncMigrationHarness`] may block.
///
/// # Errors
/// When the database cannot be reached or a migration fails.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<()> {
    let url = database_url.to_owned();
    let (done, answer) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("um-migrations".to_owned())
        .spawn(move || {
            // The receiver is gone only when the caller stopped waiting; nothing to tell then.
            let _ = done.send(run_migrations_blocking(&url));
        })
        .context("starting the migration thread")?;
    answer
        .await
        .context("the migration thread ended without an answer")?
}

fn run_migrations_blocking(database_url: &str) -> anyhow::Result<()> {
    // `AsyncMigrationHarness` uses `block_in_place`, which needs a multi-threaded runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the migration runtime")?;
    runtime.block_on(async {
        let mut conn = connect_once(database_url)
            .await
            .context("connecting to the database to migrate it")?;
        advisory_lock(&mut conn, MIGRATION_LOCK).await?;
        let mut harness = AsyncMigrationHarness::new(conn);
        let applied = harness
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| anyhow!(e).context("running the database migrations"));
        let mut conn = harness.into_inner();
        // Closing the connection would release the lock too; this is for tidiness.
        let _ = advisory_unlock(&mut conn, MIGRATION_LOCK).await;
        for version in applied? {
            tracing::info!(%version, "applied migration");
        }
        Ok(())
    })
}

/// Takes a session-level advisory lock, waiting for it.
pub(crate) async fn advisory_lock(conn: &mut AsyncPgConnection, key: i64) -> anyhow::Result<()> {
    sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(key)
        .execute(conn)
        .await
        .context("taking an advisory lock")?;
    Ok(())
}

pub(crate) async fn advisory_unlock(conn: &mut AsyncPgConnection, key: i64) -> anyhow::Result<()> {
    sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(key)
        .execute(conn)
        .await
        .context("releasing an advisory lock")?;
    Ok(())
}

pub(crate) async fn database_exists(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> anyhow::Result<bool> {
    select(exists(
        pg_database::table.filter(pg_database::datname.eq(name)),
    ))
    .get_result(conn)
    .await
    .context("looking the database up in pg_database")
}

pub(crate) fn parse_url(database_url: &str) -> anyhow::Result<Url> {
    let url = Url::parse(database_url)
        .map_err(|e| anyhow!("the database URL is not a valid URL: {e}"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "postgres" | "postgresql"),
        "the database URL must start with postgres:// or postgresql://"
    );
    Ok(url)
}

/// The database a URL names: its path without the leading slash, percent-decoded.
pub(crate) fn database_name(url: &Url) -> anyhow::Result<String> {
    let name = percent_decode(url.path().trim_start_matches('/'))
        .ok_or_else(|| anyhow!("the database URL's database name is not valid UTF-8"))?;
    anyhow::ensure!(!name.is_empty(), "the database URL names no database");
    Ok(name)
}

/// The same server, user and options, another database.
pub(crate) fn with_database(url: &Url, name: &str) -> Url {
    let mut other = url.clone();
    other.set_path(&format!("/{name}"));
    other
}

/// The URL without its password, for messages.
pub(crate) fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have a password, which this one has.
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// An SQL identifier in double quotes, inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = decoded {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_the_decoded_path() {
        let url = parse_url("postgres://u:p@h:5432/user%20management?sslmode=disable")
            .expect("a valid URL");
        assert_eq!(
            database_name(&url).expect("a name"),
            "user management",
            "the path is percent-decoded"
        );
        assert!(
            database_name(&parse_url("postgres://h/").expect("a valid URL")).is_err(),
            "a URL without a database names none"
        );
        assert!(parse_url("mysql://h/db").is_err(), "only postgres URLs");
    }

    #[test]
    fn the_maintenance_url_keeps_server_user_and_options() {
        let url = parse_url("postgres://u:p@h:5433/app?sslmode=disable").expect("a valid URL");
        assert_eq!(
            with_database(&url, "postgres").as_str(),
            "postgres://u:p@h:5433/postgres?sslmode=disable"
        );
        assert_eq!(
            redacted(&url),
            "postgres://u:***@h:5433/app?sslmode=disable"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("app"), "\"app\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
