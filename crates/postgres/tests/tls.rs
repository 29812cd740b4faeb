//! TLS to PostgreSQL through `sslmode` and `sslrootcert` in the URL, against the machine's
//! server, which has `ssl = on` with a self-signed certificate for `localhost`
//! (`/etc/ssl/certs/ssl-cert-snakeoil.pem`, Debian's default; `TEST_PG_ROOT_CERT` overrides).

use diesel::{QueryableByName, sql_types::Bool};
use diesel_async::RunQueryDsl as _;
use um_postgres::{TestDatabase, connect, create_database_if_missing, run_migrations};

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

fn server_root_cert() -> String {
    std::env::var("TEST_PG_ROOT_CERT")
        .unwrap_or_else(|_| "/etc/ssl/certs/ssl-cert-snakeoil.pem".to_owned())
}

/// The test database's URL on `host`, with `query` appended.
fn url_with(db: &TestDatabase, host: &str, query: &str) -> String {
    let mut url = url::Url::parse(db.url()).expect("a URL");
    url.set_host(Some(host)).expect("a host");
    let separator = if url.query().is_some() { "&" } else { "?" };
    format!("{url}{separator}{query}")
}

/// Whether the pool's connection to the server is encrypted, as the server sees it.
async fn encrypted(url: &str) -> Result<bool, String> {
    let pool = connect(url, 1).await.map_err(|e| format!("{e:#}"))?;
    let mut conn = pool.get().await.map_err(|e| format!("{e:#}"))?;
    let row: Ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result(&mut conn)
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok(row.ssl)
}

/// A root certificate that signed nothing the server has.
fn wrong_root(dir: &tempfile::TempDir) -> String {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("a cert");
    let path = dir.path().join("wrong-root.crt");
    std::fs::write(&path, cert.cert.pem()).expect("write it");
    path.display().to_string()
}

#[tokio::test]
async fn require_connects_over_tls_and_disable_does_not() {
    let db = TestDatabase::new().await;

    assert_eq!(
        encrypted(&url_with(&db, "127.0.0.1", "sslmode=require")).await,
        Ok(true)
    );
    assert_eq!(
        encrypted(&url_with(&db, "127.0.0.1", "sslmode=disable")).await,
        Ok(false)
    );
    // Without sslmode, loopback stays plain (TLS there protects nothing and costs throughput).
    assert_eq!(encrypted(db.url()).await, Ok(false));
    assert_eq!(
        encrypted(&url_with(&db, "127.0.0.1", "sslmode=prefer")).await,
        Ok(true)
    );
}

#[tokio::test]
async fn verify_full_checks_the_root_and_the_host_name() {
    let db = TestDatabase::new().await;
    let root = server_root_cert();

    let right = format!("sslmode=verify-full&sslrootcert={root}");
    assert_eq!(
        encrypted(&url_with(&db, "localhost", &right)).await,
        Ok(true)
    );

    // The certificate is for localhost, not for 127.0.0.1: verify-full refuses, verify-ca
    // (the chain only) accepts.
    let by_address = encrypted(&url_with(&db, "127.0.0.1", &right))
        .await
        .expect_err("the name does not match");
    assert!(by_address.to_lowercase().contains("name"), "{by_address}");
    let ca_only = format!("sslmode=verify-ca&sslrootcert={root}");
    assert_eq!(
        encrypted(&url_with(&db, "127.0.0.1", &ca_only)).await,
        Ok(true)
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let wrong = format!("sslmode=verify-full&sslrootcert={}", wrong_root(&dir));
    let refused = encrypted(&url_with(&db, "localhost", &wrong))
        .await
        .expect_err("the server's certificate is not signed by that root");
    assert!(refused.contains("UnknownIssuer"), "{refused}");
}

#[tokio::test]
async fn migrations_use_the_same_tls_settings() {
    let db = TestDatabase::new().await;
    let root = server_root_cert();
    let right = url_with(
        &db,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    create_database_if_missing(&right).await.expect("exists");
    run_migrations(&right)
        .await
        .expect("migrations over verified TLS");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let wrong = url_with(
        &db,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", wrong_root(&dir)),
    );
    let error = run_migrations(&wrong)
        .await
        .expect_err("refused certificate");
    assert!(format!("{error:#}").contains("UnknownIssuer"), "{error:#}");
}
