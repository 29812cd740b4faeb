//! What an operator relies on: request ids, metrics, limits, CORS, security headers, clean
//! logs and a graceful shutdown.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, link_in};

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
    for _ in 0..3 {
        let response = app
            .post_json(
                "/login",
                &json!({"email": "x@example.com", "password": "Wrong*Passw0rd"}),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = app
        .post_json(
            "/login",
            &json!({"email": "x@example.com", "password": "Wrong*Passw0rd"}),
            None,
        )
        .await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
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
