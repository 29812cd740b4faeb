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

/// `POST path` with `body` and, when given, an `X-Forwarded-For`, against `base`.
async fn post_from(
    app: &TestApp,
    base: &str,
    path: &str,
    body: &serde_json::Value,
    forwarded_for: Option<&str>,
) -> reqwest::StatusCode {
    let mut request = app.client.post(format!("{base}{path}")).json(body);
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.expect("answered").status()
}

fn wrong_login() -> serde_json::Value {
    serde_json::json!({"email": "nobody@example.com", "password": "Wrong*Passw0rd"})
}

#[tokio::test]
async fn the_address_limit_is_decided_on_the_matched_route_not_the_raw_path() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    let login = wrong_login();
    for _ in 0..2 {
        assert_eq!(
            post_from(&app, &app.base, "/login", &login, None).await,
            401
        );
    }
    // The router decodes `%6c` to `l`: the same route, the same bucket.
    for path in ["/%6cogin", "/login", "/LOGIN/", "/%6Cogin/"] {
        let status = post_from(&app, &app.base, path, &login, None).await;
        assert!(
            status == 429 || status == 404,
            "{path}: {status} (it must never reach the login unlimited)"
        );
    }
    assert_eq!(
        post_from(&app, &app.base, "/%6cogin", &login, None).await,
        429
    );

    let register = serde_json::json!({"email": "r@example.com", "password": "x"});
    for _ in 0..2 {
        post_from(&app, &app.base, "/register", &register, None).await;
    }
    assert_eq!(
        post_from(&app, &app.base, "/%72egister", &register, None).await,
        429
    );

    let confirm = serde_json::json!({"token": "nope", "new_password": "N3w*Passw0rd!x"});
    for _ in 0..2 {
        post_from(&app, &app.base, "/password-reset/%63onfirm", &confirm, None).await;
    }
    assert_eq!(
        post_from(&app, &app.base, "/password-reset/confirm", &confirm, None).await,
        429
    );
}

#[tokio::test]
async fn a_forged_x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    let login = wrong_login();
    // Each request claims another address; all of them come from 127.0.0.1, which is no
    // trusted proxy, so they share its bucket.
    let statuses = [
        post_from(&app, &app.base, "/login", &login, Some("198.51.100.1")).await,
        post_from(&app, &app.base, "/login", &login, Some("198.51.100.2")).await,
        post_from(&app, &app.base, "/login", &login, Some("198.51.100.3")).await,
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [401, 401, 429]);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit_and_log_address() {
    let app = TestApp::spawn_logging_with(
        "info",
        &[
            ("RATE_LIMIT_PER_MINUTE", "2"),
            ("TRUSTED_PROXIES", "127.0.0.0/8, ::1"),
        ],
    )
    .await;
    let login = wrong_login();
    // One client (its forged first entry is not believed: the proxy appended the real one).
    for _ in 0..2 {
        let status = post_from(
            &app,
            &app.base,
            "/login",
            &login,
            Some("6.6.6.6, 203.0.113.7"),
        )
        .await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        post_from(
            &app,
            &app.base,
            "/login",
            &login,
            Some("9.9.9.9, 203.0.113.7")
        )
        .await,
        429,
        "the same client, whatever it forged to the left"
    );
    // Another client behind the same proxy is not held back by the first.
    assert_eq!(
        post_from(&app, &app.base, "/login", &login, Some("203.0.113.8")).await,
        401
    );

    let logged: Vec<String> = app
        .log_lines()
        .iter()
        .filter(|line| line["message"] == "request" && line["route"] == "/login")
        .filter_map(|line| line["client"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        logged,
        ["203.0.113.7", "203.0.113.7", "203.0.113.7", "203.0.113.8"],
        "the request log names the forwarded client, not the proxy"
    );
}

#[tokio::test]
async fn every_endpoint_that_sends_email_is_limited_per_address_and_per_account() {
    let app = TestApp::spawn_with(&[
        ("RATE_LIMIT_PER_MINUTE", "4"),
        ("RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", "2"),
    ])
    .await;
    app.admin().await;
    app.register_ok("inbox@example.com").await;
    let resend = serde_json::json!({"email": "inbox@example.com"});
    let statuses = [
        post_from(&app, &app.base, "/verify-email/resend", &resend, None).await,
        post_from(&app, &app.base, "/verify-email/resend", &resend, None).await,
        post_from(&app, &app.base, "/verify-email/resend", &resend, None).await,
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [202, 202, 429], "per account");
    // Other accounts from the same address: the address limit (4) is reached on the 5th POST.
    let other = |n: u32| serde_json::json!({"email": format!("other{n}@example.com")});
    assert_eq!(
        post_from(&app, &app.base, "/verify-email/resend", &other(1), None).await,
        202
    );
    assert_eq!(
        post_from(&app, &app.base, "/verify-email/resend", &other(2), None).await,
        429
    );
}

#[tokio::test]
async fn two_instances_share_one_rate_limit() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_PER_MINUTE", "3")]).await;
    let second = app
        .spawn_second_instance(&[("RATE_LIMIT_PER_MINUTE", "3")])
        .await;
    let login = wrong_login();
    assert_eq!(
        post_from(&app, &app.base, "/login", &login, None).await,
        401
    );
    assert_eq!(
        post_from(&app, &second.base, "/login", &login, None).await,
        401
    );
    assert_eq!(
        post_from(&app, &app.base, "/login", &login, None).await,
        401
    );
    assert_eq!(
        post_from(&app, &second.base, "/login", &login, None).await,
        429,
        "the fourth login from one address in a minute, through either instance"
    );
    assert_eq!(
        post_from(&app, &app.base, "/login", &login, None).await,
        429
    );
}

#[tokio::test]
async fn an_outbox_round_cut_short_by_the_database_gives_its_claims_back_when_it_answers() {
    // Rounds every 5 s, so that one round claims all the emails registered in between.
    let app = TestApp::spawn_behind_db_proxy(&[("OUTBOX_POLL_INTERVAL_MS", "5000")]).await;
    let proxy = app.db_proxy.as_ref().expect("a proxy");
    app.admin().await;
    // A slow SMTP server: the round takes a while, and the database is cut in the middle.
    app.smtp.set_delay(Duration::from_millis(400));
    let recipients: Vec<String> = (0..8).map(|i| format!("user{i}@example.com")).collect();
    for email in &recipients {
        app.register_ok(email).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.smtp.messages().is_empty() {
        assert!(Instant::now() < deadline, "no email went out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.cut(crate::helpers::Outage::Refuse);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.restore();

    // Far sooner than the 5-minute lease: every email arrives, each exactly once.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.smtp.messages().len() < recipients.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} emails arrived: claims of the interrupted round are still held",
            app.smtp.messages().len(),
            recipients.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One more round (5 s) must not send anything twice.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let messages = app.smtp.messages();
    for email in &recipients {
        let count = messages
            .iter()
            .filter(|m| m.recipients.iter().any(|r| r.contains(email.as_str())))
            .count();
        assert_eq!(count, 1, "{email} got {count} emails");
    }
    assert_eq!(messages.len(), recipients.len());
}

#[tokio::test]
async fn reset_and_resend_answer_no_sooner_for_an_unknown_address_than_for_a_known_one() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.register_ok("known@example.com").await;
    let floor = Duration::from_millis(60);
    for path in ["/password-reset", "/verify-email/resend"] {
        for email in ["known@example.com", "unknown@example.com"] {
            // Every answer waits for the common floor, whatever the address: the time tells
            // nothing about which addresses have accounts.
            for _ in 0..3 {
                let started = Instant::now();
                let status = post_from(
                    &app,
                    &app.base,
                    path,
                    &serde_json::json!({"email": email}),
                    None,
                )
                .await;
                let took = started.elapsed();
                assert_eq!(status, 202, "{path} {email}");
                assert!(took >= floor, "{path} {email} answered after {took:?}");
            }
        }
    }
}

/// Uploads a picture for `token` through the instance at `base`; the answer's picture URLs.
async fn upload_through(app: &TestApp, base: &str, token: &str, side: u32) -> (String, String) {
    let bytes = crate::helpers::image_bytes(side, side, image::ImageFormat::Png);
    let part = reqwest::multipart::Part::bytes(bytes).file_name("p.png");
    let response = app
        .client
        .post(format!("{base}/me/profile-picture"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let user: serde_json::Value = response.json().await.expect("a user");
    let url = |field: &str| user[field].as_str().expect("a URL").to_owned();
    (
        url("profile_picture_url"),
        url("profile_picture_thumbnail_url"),
    )
}

#[tokio::test]
async fn uploads_through_two_instances_while_both_sweep_lose_no_picture() {
    let s3 = um_storage::TestS3Server::start().await;
    let app = TestApp::spawn_with_s3(&s3, &[]).await;
    let second = app.spawn_second_instance(&[]).await;
    app.admin().await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        tokens.push(app.verified_user(&format!("pic{i}@example.com")).await.1);
    }
    // Pictures stored a while ago, and orphans a crash left behind a while ago: everything in
    // the bucket is made two hours old, past the sweep's one-hour grace.
    let mut kept = Vec::new();
    for (i, token) in tokens.iter().take(4).enumerate() {
        let base = if i % 2 == 0 { &app.base } else { &second.base };
        kept.push(upload_through(&app, base, token, 40 + u32::try_from(i).unwrap_or(0)).await);
    }
    let bucket = s3.data_dir().join("e2e-pictures");
    let orphans: Vec<_> = (0..4)
        .map(|i| bucket.join(format!("{i:032x}.jpg")))
        .collect();
    for orphan in &orphans {
        std::fs::write(orphan, b"left by a crash").expect("an orphan");
    }
    let aged = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find '{}' -type f -exec touch -d '2 hours ago' {{}} +",
            bucket.display()
        ))
        .status()
        .expect("touch runs");
    assert!(aged.success());

    // Both instances' sweeps at once, while uploads go through both instances.
    let sweeps: Vec<_> = (0..2)
        .map(|_| {
            let command = app.command_with(&["sweep-pictures"], &[]);
            std::thread::spawn(move || {
                let mut command = command;
                command.output().expect("the sweep runs")
            })
        })
        .collect();
    for (i, token) in tokens.iter().enumerate().skip(4) {
        let base = if i % 2 == 0 { &app.base } else { &second.base };
        kept.push(upload_through(&app, base, token, 50 + u32::try_from(i).unwrap_or(0)).await);
    }
    let mut deleted = 0;
    for sweep in sweeps {
        let output = sweep.join().expect("the sweep thread");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed = String::from_utf8_lossy(&output.stdout).to_string();
        deleted += printed
            .split("deleted ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u32>().ok())
            .expect("the sweep says how many it deleted");
    }

    // Each orphan is deleted by one sweep or by both (a delete of what is gone succeeds).
    assert!((4..=8).contains(&deleted), "{deleted} deletions reported");
    assert!(orphans.iter().all(|orphan| !orphan.exists()));
    for (main, thumbnail) in &kept {
        for url in [main, thumbnail] {
            let status = app.client.get(url).send().await.expect("answered").status();
            assert_eq!(status, 200, "{url} was lost");
        }
    }
}
