//! What an operator relies on: request ids, metrics, limits, CORS, security headers, clean
//! logs and a graceful shutdown.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Outage, PASSWORD, TestApp, json_of, link_in};

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_a_clients_own() {
    let app = TestApp::spawn().await;
    let generated = app.get("/healthz", None).await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let own = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "trace-42.a_b")
        .send()
        .await
        .expect("answered");
    assert_eq!(own.headers()["x-request-id"], "trace-42.a_b");
    let hostile = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "x y; rm -rf /")
        .send()
        .await
        .expect("answered");
    assert_ne!(
        hostile.headers()["x-request-id"],
        "x y; rm -rf /",
        "replaced"
    );
}

#[tokio::test]
async fn metrics_count_requests_logins_and_the_outbox() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.login_form("admin@example.com", "Wrong*Passw0rd").await;
    let text = app.get("/metrics", None).await.text().await.expect("text");
    for series in [
        r#"http_requests_total{method="POST",route="/register",status="201"} 1"#,
        r#"logins_total{outcome="success"} 1"#,
        r#"logins_total{outcome="failure"} 1"#,
        "http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
}

#[tokio::test]
async fn logins_from_one_address_are_limited_with_429_and_retry_after() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_PER_MINUTE", "3")]).await;
    let wrong = json!({"email": "x@example.com", "password": "Wrong*Passw0rd"});
    let wrong_login = || app.post_json("/login", &wrong, None);
    for _ in 0..3 {
        assert_eq!(wrong_login().await.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = wrong_login().await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    // A sliding window: this minute's hits keep counting, weighted, into the next minute, so
    // the wait can exceed 60 s but never two windows.
    assert!((1..=120).contains(&wait), "{wait}");
    let body: serde_json::Value = limited.json().await.expect("a problem");
    assert_eq!(body["code"], "too_many_requests");
    // Other endpoints count apart, and reading is never limited.
    assert_eq!(
        app.register("fresh@example.com").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins_and_never_with_credentials() {
    let app = TestApp::spawn_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/users"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let allowed = preflight("https://app.example.com")
        .await
        .expect("answered");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(
        !allowed
            .headers()
            .contains_key("access-control-allow-credentials")
    );
    let refused = preflight("https://evil.example.com")
        .await
        .expect("answered");
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn responses_carry_security_headers_and_no_server_banner() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/no-such-page", "/nicknames/suggestions"] {
        let response = app.get(path, None).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .expect("ascii")
                .contains("default-src 'none'"),
            "{path}"
        );
        assert!(!headers.contains_key("server"), "{path}");
    }
}

#[tokio::test]
async fn no_password_token_or_hash_ever_reaches_the_log() {
    let mut app = TestApp::spawn_logging("debug").await;
    app.admin().await;
    let user = app.register_ok("secretive@example.com").await;
    let verify = app.verification_path("secretive@example.com").await;
    assert_eq!(app.get(&verify, None).await.status(), StatusCode::OK);
    let token = app.token("secretive@example.com").await;
    app.get("/me", Some(&token)).await;
    app.post_json(
        "/password-reset",
        &json!({"email": "secretive@example.com"}),
        None,
    )
    .await;
    let mail = app.received("secretive@example.com").await;
    let reset = link_in(&mail.text, &app.url("/password-reset?token=")).expect("a reset link");
    let reset_token = reset.split("token=").nth(1).expect("a token").to_owned();
    app.post_json(
        "/password-reset/confirm",
        &json!({"token": reset_token, "new_password": "N3w*Passw0rd!"}),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.terminate(Duration::from_secs(20));

    let path = app.log_file.clone().expect("a log file");
    let log = std::fs::read_to_string(path).expect("the log");
    assert!(
        log.contains("\"request_id\""),
        "the log is JSON with request ids"
    );
    let verify_token = verify.rsplit('/').next().expect("a token");
    for secret in [
        PASSWORD,
        "N3w*Passw0rd!",
        verify_token,
        reset_token.as_str(),
        token.as_str(),
        "$argon2id$",
    ] {
        assert!(!log.contains(secret), "the log contains {secret:?}");
    }
    assert!(
        log.contains(user["id"].as_str().expect("an id")),
        "the log is not empty of detail"
    );
}

#[tokio::test]
async fn sigterm_stops_the_service_cleanly_and_flushes_the_outbox() {
    // A worker that would otherwise wait a minute between rounds: only the shutdown flush can
    // deliver the email in time.
    let mut app = TestApp::spawn_with(&[("OUTBOX_POLL_INTERVAL_MS", "60000")]).await;
    app.admin().await;
    app.register_ok("last-minute@example.com").await;
    let status = app.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
    let delivered = app
        .smtp
        .wait_for_message("last-minute@example.com", Duration::from_secs(5))
        .await;
    assert!(delivered.is_some(), "the queued email went out before exit");
}

/// Polls `GET /me` until it answers 200 again (the service heals without a restart).
async fn wait_until_me_answers(app: &TestApp, token: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = app.get("/me", Some(token)).await.status();
        if status == StatusCode::OK {
            return;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "while recovering");
        assert!(
            std::time::Instant::now() < deadline,
            "the service did not recover within 30 s of the database's return"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assert_unavailable(response: &reqwest::Response, what: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{what} during the outage"
    );
    assert!(
        response.headers().contains_key("retry-after"),
        "{what} carries Retry-After"
    );
}

#[tokio::test]
async fn a_database_outage_answers_503_with_retry_after_and_heals_by_itself() {
    let app = TestApp::spawn_behind_db_proxy(&[]).await;
    let (_, admin) = app.admin().await;
    let proxy = app.db_proxy.as_ref().expect("a proxy");
    let credentials = json!({"email": "admin@example.com", "password": PASSWORD});
    for outage in [Outage::Refuse, Outage::Stall] {
        assert_eq!(app.get("/me", Some(&admin)).await.status(), StatusCode::OK);
        proxy.cut(outage);
        // The client gives up after 30 s: an answer at all means the service did not hang.
        let me = app.get("/me", Some(&admin)).await;
        assert_unavailable(&me, "GET /me");
        assert_eq!(json_of(me).await["code"], "service_unavailable");
        let login = app.post_json("/login", &credentials, None).await;
        assert_unavailable(&login, "POST /login");
        let readiness = app.get("/readyz", None).await;
        assert_unavailable(&readiness, "GET /readyz");
        let readiness = json_of(readiness).await;
        assert_eq!(readiness["checks"]["database"], "unavailable", "{outage:?}");
        assert_eq!(readiness["checks"]["object_store"], "ok");
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);

        proxy.restore();
        wait_until_me_answers(&app, &admin).await;
        assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    }
    // Nothing was lost: the account works as before.
    let login = app.post_json("/login", &credentials, None).await;
    assert_eq!(login.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_request_past_its_time_limit_is_abandoned_with_503_and_retry_after() {
    // The pool would wait 5 s for a connection to the stalled database; the request may take 4.
    // (Not less: the setup's registration and login hash under SCHED_IDLE, and on a machine
    // whose cores are all kept busy by other programs they took longer than 1 s, and once, with
    // an image build beside the suite, longer than 2 s.)
    let app = TestApp::spawn_behind_db_proxy(&[("REQUEST_TIMEOUT_SECONDS", "4")]).await;
    let (_, admin) = app.admin().await;
    let proxy = app.db_proxy.as_ref().expect("a proxy");
    proxy.cut(Outage::Stall);
    // Pooled connections that the cut closed fail at once; then a new one is awaited in vain.
    let mut codes = Vec::new();
    for _ in 0..10 {
        let response = app.get("/me", Some(&admin)).await;
        assert_unavailable(&response, "GET /me");
        let code = json_of(response).await["code"]
            .as_str()
            .expect("a code")
            .to_owned();
        let timed_out = code == "request_timeout";
        codes.push(code);
        if timed_out {
            break;
        }
    }
    assert_eq!(
        codes.last().map(String::as_str),
        Some("request_timeout"),
        "{codes:?}"
    );
    proxy.restore();
    wait_until_me_answers(&app, &admin).await;
}

#[tokio::test]
async fn logins_for_one_account_are_limited_whatever_the_address() {
    // The per-address limit is off (as in every test); the per-account one is 3 a minute, of
    // which `admin()` uses one login.
    let app = TestApp::spawn_with(&[("RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", "3")]).await;
    app.admin().await;
    for _ in 0..2 {
        let response = app.login_form("admin@example.com", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let limited = app.login_form("Admin@Example.com", PASSWORD).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(json_of(limited).await["code"], "too_many_requests");
    // Another account is not affected; nor is the same account on another endpoint.
    app.register_ok("other@example.com").await;
    let other = app.login_form("other@example.com", PASSWORD).await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED, "unverified");
    for expected in [
        StatusCode::ACCEPTED,
        StatusCode::ACCEPTED,
        StatusCode::ACCEPTED,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let reset = app
            .post_json(
                "/password-reset",
                &json!({"email": "admin@example.com"}),
                None,
            )
            .await;
        assert_eq!(reset.status(), expected);
    }
}

#[tokio::test]
async fn the_healthcheck_command_probes_the_running_server_as_the_image_does() {
    let app = TestApp::spawn().await;
    let bind_addr = app.base.trim_start_matches("http://").to_owned();
    let probe = |bind_addr: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_user-management"))
            .arg("healthcheck")
            .env_clear()
            .env("BIND_ADDR", bind_addr)
            .output()
            .expect("the binary runs")
    };
    let healthy = probe(bind_addr.clone());
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    // What the image sets: 0.0.0.0 is probed on loopback.
    let port = bind_addr.rsplit(':').next().expect("a port");
    assert!(probe(format!("0.0.0.0:{port}")).status.success());

    drop(app);
    let stopped = probe(bind_addr);
    assert_eq!(stopped.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&stopped.stderr).contains("unhealthy"),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
}

#[tokio::test]
async fn answers_to_authenticated_requests_are_never_stored_by_a_cache() {
    let app = TestApp::spawn().await;
    let (id, token) = app.admin().await;
    for path in [
        "/me".to_owned(),
        "/users".to_owned(),
        format!("/users/{id}"),
        "/audit-events".to_owned(),
        "/me/pro-upgrade".to_owned(),
    ] {
        let response = app.get(&path, Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
    // A wrong token's 401 is not cached either.
    let refused = app.get("/me", Some("not-a-token")).await;
    assert_eq!(refused.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn with_metrics_token_set_metrics_need_it_as_a_bearer_token() {
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", "scrape-me-0123456789")]).await;
    assert_eq!(
        app.get("/metrics", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/metrics", Some("scrape-me-wrong-00000"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let scraped = app.get("/metrics", Some("scrape-me-0123456789")).await;
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(
        scraped
            .text()
            .await
            .expect("text")
            .contains("http_requests_total")
    );
    // The probes stay public.
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);

    let short = app.run_cli_with(&["migrate"], &[("METRICS_TOKEN", "short")]);
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("METRICS_TOKEN"));
}

#[tokio::test]
async fn every_route_with_a_body_refuses_more_than_64_kib_with_413() {
    let app = TestApp::spawn().await;
    let (id, token) = app.admin().await;
    let big_json = format!(
        "{{\"email\": \"a@example.com\", \"bio\": \"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let big_form = format!(
        "username=a%40example.com&password={}",
        "x".repeat(70 * 1024)
    );
    let routes: Vec<(reqwest::Method, String, bool)> = vec![
        (reqwest::Method::POST, "/register".into(), false),
        (reqwest::Method::POST, "/login".into(), false),
        (reqwest::Method::POST, "/verify-email/resend".into(), false),
        (reqwest::Method::POST, "/password-reset".into(), false),
        (
            reqwest::Method::POST,
            "/password-reset/confirm".into(),
            false,
        ),
        (reqwest::Method::POST, "/unlock".into(), false),
        (reqwest::Method::PATCH, "/me".into(), true),
        (reqwest::Method::PUT, "/me/password".into(), true),
        (reqwest::Method::DELETE, "/me".into(), true),
        (reqwest::Method::POST, "/users".into(), true),
        (reqwest::Method::PUT, format!("/users/{id}"), true),
        (reqwest::Method::PUT, format!("/users/{id}/role"), true),
        (
            reqwest::Method::PUT,
            format!("/users/{id}/professional-status"),
            true,
        ),
    ];
    for (method, path, authenticated) in routes {
        let mut json = app
            .client
            .request(method.clone(), app.url(&path))
            .header("Content-Type", "application/json")
            .body(big_json.clone());
        if authenticated {
            json = json.bearer_auth(&token);
        }
        let status = json.send().await.expect("answered").status();
        assert_eq!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "JSON {method} {path}"
        );
    }
    // The routes that also take a form.
    for path in ["/login", "/password-reset/confirm", "/unlock"] {
        let status = app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(big_form.clone())
            .send()
            .await
            .expect("answered")
            .status();
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "form POST {path}");
    }
}
