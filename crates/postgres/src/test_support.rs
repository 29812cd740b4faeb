//! A fresh, migrated database per test, cloned from a template that is migrated once.
//!
//! The template is named after a hash of the files under `migrations/`, so a changed migration
//! gets a new template. It is built under a session-level advisory lock on the maintenance
//! database, so that parallel test processes (nextest runs one per test) never race, and under a
//! temporary name that is renamed only once the migrations succeeded: a template that exists is
//! complete. Each [`TestDatabase`] is `CREATE DATABASE um_test_<uuid> TEMPLATE <template>` and is
//! dropped, with `WITH (FORCE)`, when the value is.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use diesel::sql_query;
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::{
    pool::connect_once,
    setup::{
        MAINTENANCE_DATABASE, advisory_lock, advisory_unlock, database_exists, parse_url,
        quote_ident, redacted, run_migrations, with_database,
    },
};

/// Where the server for tests is: any database on it, usually the maintenance database.
const SERVER_URL_VAR: &str = "TEST_DATABASE_URL";
const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const MIGRATIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
/// Key of the session-level advisory lock held while the template is built.
const TEMPLATE_LOCK: i64 = 0x756d_5f74_6d70_6c74; // "um_tmplt"

/// A database of one's own for a test: freshly cloned from the migrated template, dropped when
/// this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    maintenance_url: String,
}

impl TestDatabase {
    /// Creates a fresh, migrated database on the server `TEST_DATABASE_URL` points at (default
    /// `postgres://postgres@127.0.0.1:5432/postgres`).
    ///
    /// # Panics
    /// When the server cannot be reached or the database cannot be created: a test cannot run
    /// without it.
    pub async fn new() -> TestDatabase {
        match Self::create().await {
            Ok(db) => db,
            Err(e) => panic!("cannot create a test database: {e:#}"),
        }
    }

    /// The URL of this test's database.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The name of this test's database (`um_test_<uuid>`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn create() -> anyhow::Result<TestDatabase> {
        let server = std::env::var(SERVER_URL_VAR).unwrap_or_else(|_| DEFAULT_SERVER_URL.into());
        let server = parse_url(&server).with_context(|| format!("reading {SERVER_URL_VAR}"))?;
        let maintenance = with_database(&server, MAINTENANCE_DATABASE);
        let mut conn = connect_once(maintenance.as_str())
            .await
            .with_context(|| format!("connecting to {}", redacted(&maintenance)))?;

        let template = template_name()?;
        ensure_template(&mut conn, &server, &template).await?;

        let name = format!("um_test_{}", uuid::Uuid::new_v4().simple());
        sql_query(format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(&name),
            quote_ident(&template)
        ))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating {name} from {template}"))?;

        Ok(TestDatabase {
            url: with_database(&server, &name).into(),
            maintenance_url: maintenance.into(),
            name,
        })
    }
}

impl Drop for TestDatabase {
    /// Drops the database. `Drop` is synchronous and may run inside any runtime, so the drop runs
    /// on a thread of its own with its own runtime, and this waits for it.
    fn drop(&mut self) {
        let maintenance = self.maintenance_url.clone();
        let name = self.name.clone();
        let outcome = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = connect_once(&maintenance).await?;
                sql_query(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote_ident(&name)
                ))
                .execute(&mut conn)
                .await?;
                Ok(())
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e:#}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

/// Builds the template unless it exists, holding the template lock meanwhile.
async fn ensure_template(
    conn: &mut AsyncPgConnection,
    server: &Url,
    template: &str,
) -> anyhow::Result<()> {
    advisory_lock(conn, TEMPLATE_LOCK).await?;
    let built = build_template_unless_present(conn, server, template).await;
    let unlocked = advisory_unlock(conn, TEMPLATE_LOCK).await;
    built?;
    unlocked
}

async fn build_template_unless_present(
    conn: &mut AsyncPgConnection,
    server: &Url,
    template: &str,
) -> anyhow::Result<()> {
    if database_exists(conn, template).await? {
        return Ok(());
    }
    // A process killed mid-build may have left this behind.
    let building = format!("{template}_build");
    for statement in [
        format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&building)
        ),
        format!("CREATE DATABASE {}", quote_ident(&building)),
    ] {
        sql_query(&statement)
            .execute(conn)
            .await
            .with_context(|| format!("preparing template database {building}"))?;
    }
    run_migrations(with_database(server, &building).as_str())
        .await
        .with_context(|| format!("migrating template database {building}"))?;
    sql_query(format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(&building),
        quote_ident(template)
    ))
    .execute(conn)
    .await
    .with_context(|| format!("renaming {building} to {template}"))?;
    Ok(())
}

/// `um_test_template_<first 16 hex digits of the SHA-256 of every file under migrations/>`.
fn template_name() -> anyhow::Result<String> {
    let root = Path::new(MIGRATIONS_DIR);
    let mut files = Vec::new();
    collect_files(root, &mut files)
        .with_context(|| format!("reading the migrations under {}", root.display()))?;
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        let relative = file.strip_prefix(root).unwrap_or(file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(file).with_context(|| format!("reading {}", file.display()))?);
        hasher.update([0]);
    }
    let digest = hex::encode(hasher.finalize());
    Ok(format!("um_test_template_{}", &digest[..16]))
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}
