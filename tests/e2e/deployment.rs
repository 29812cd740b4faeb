//! Running in production: TLS to PostgreSQL, behind a proxy, several instances.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use crate::helpers::TestApp;

/// The machine's PostgreSQL has `ssl = on` with Debian's self-signed certificate for
/// `localhost` (`TEST_PG_ROOT_CERT` overrides its path).
fn server_root_cert() -> String {
    std::env::var("TEST_PG_ROOT_CERT")
        .unwrap_or_else(|_| "/etc/ssl/certs/ssl-cert-snakeoil.pem".to_owned())
}

/// `database_url` on host `localhost` with `sslmode=verify-full` and `root` as `sslrootcert`.
fn verify_full(database_url: &str, root: &str) -> String {
    let mut url = url::Url::parse(database_url).expect("a URL");
    url.set_host(Some("localhost")).expect("a host");
    url.query_pairs_mut()
        .append_pair("sslmode", "verify-full")
        .append_pair("sslrootcert", root);
    url.into()
}

/// How many connections the database `name` has from others than us, and whether all of them
/// are encrypted, as `pg_stat_ssl` says.
async fn connections_of(app: &TestApp) -> (i64, bool) {
    let (client, connection) = tokio_postgres::connect(app.db.url(), tokio_postgres::NoTls)
        .await
        .expect("a connection");
    let task = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*), coalesce(bool_and(s.ssl), false) \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
            &[&app.db.name()],
        )
        .await
        .expect("pg_stat_ssl");
    drop(client);
    let _ = task.await;
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn with_sslmode_require_the_service_and_its_tools_talk_tls_to_postgresql() {
    let app = TestApp::spawn_with_database_options("sslmode=require", &[]).await;
    app.admin().await;

    let (count, all_encrypted) = connections_of(&app).await;
    assert!(count > 0, "the service holds connections");
    assert!(
        all_encrypted,
        "{count} connections, not all of them over TLS"
    );

    let export = app.run_cli(&["export-csv"]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    assert!(String::from_utf8_lossy(&export.stdout).contains("admin@example.com"));

    // verify-full with the server's own root, on the name its certificate is for.
    let verified = verify_full(app.database_url(), &server_root_cert());
    let migrate = app.run_cli_with(&["migrate"], &[("DATABASE_URL", &verified)]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
}

#[tokio::test]
async fn a_root_certificate_that_does_not_match_stops_start_up_naming_database_url() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wrong_root = dir.path().join("wrong-root.crt");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("a cert");
    std::fs::write(&wrong_root, cert.cert.pem()).expect("write it");
    let wrong = verify_full(app.database_url(), &wrong_root.display().to_string());

    // The command-line tools and the migrations.
    for args in [
        &["migrate"][..],
        &["export-csv"][..],
        &["unlock", "a@example.com"][..],
    ] {
        let output = app.run_cli_with(args, &[("DATABASE_URL", &wrong)]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains("DATABASE_URL"), "{args:?}: {stderr}");
        assert!(stderr.contains("UnknownIssuer"), "{args:?}: {stderr}");
    }

    // The server itself: start-up stops with the same message instead of serving.
    let port = crate::helpers::free_port().to_string();
    let mut server = app
        .command_with(
            &["serve"],
            &[
                ("DATABASE_URL", &wrong),
                ("BIND_ADDR", &format!("127.0.0.1:{port}")),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!("the server kept running with a refused certificate");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = server.wait_with_output().expect("its output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!status.success());
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");

    // A value that cannot be meant is refused before any connection.
    let bogus = format!("{}?sslmode=always", app.db.url());
    let output = app.run_cli_with(&["migrate"], &[("DATABASE_URL", &bogus)]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("DATABASE_URL") && stderr.contains("sslmode"),
        "{stderr}"
    );
}
