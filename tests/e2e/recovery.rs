//! Password reset, the unlock link, and the outbox, end to end: links are followed out of the
//! emails the test SMTP server receives, and the HTML forms are driven like a browser would.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_problem, link_in};

const NEW_PASSWORD: &str = "Fresh*Passw0rd";

/// Reads the hidden `token` field and the form's action out of a page.
fn form_of(html: &str) -> (String, String) {
    let action = html
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form action")
        .to_owned();
    let token = html
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a hidden token")
        .to_owned();
    (action, token)
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = app.get(path, None).await;
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("a page"))
}

async fn post_form(app: &TestApp, action: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url(action))
        .form(fields)
        .send()
        .await
        .expect("answered");
    (response.status(), response.text().await.expect("a page"))
}

async fn lock(app: &TestApp, email: &str) {
    for _ in 0..3 {
        assert_eq!(
            app.login_form(email, "Wrong*Passw0rd").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login_form(email, PASSWORD).await.status(),
        StatusCode::BAD_REQUEST,
        "locked"
    );
}

#[tokio::test]
async fn a_user_resets_a_forgotten_password_through_the_emailed_page() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("forgetful@example.com").await;

    for email in ["forgetful@example.com", "ghost@example.com"] {
        let response = app
            .post_json("/password-reset", &json!({"email": email}), None)
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{email}");
    }
    let mail = app.received("forgetful@example.com").await;
    assert!(mail.html.is_some(), "an HTML part");
    let link = link_in(&mail.text, &app.url("/password-reset?token=")).expect("a reset link");
    let path = &link[app.base.len()..];

    // Opening the page twice uses nothing up (a mail scanner may open it first).
    for _ in 0..2 {
        let (status, headers, html) = page(&app, path).await;
        assert_eq!(status, StatusCode::OK);
        let csp = headers["content-security-policy"].to_str().expect("ascii");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(
            headers["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
        assert!(!html.contains("<script"));
    }
    let (_, _, html) = page(&app, path).await;
    let (action, token) = form_of(&html);
    assert_eq!(action, "/password-reset/confirm");

    let (status, body) = post_form(
        &app,
        &action,
        &[("token", &token), ("new_password", "weak")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = post_form(
        &app,
        &action,
        &[("token", &token), ("new_password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Password changed"));

    assert_eq!(
        app.login_form("forgetful@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_form("forgetful@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    let (status, _) = post_form(
        &app,
        &action,
        &[("token", &token), ("new_password", "An0ther*Pass")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a used link");
}

#[tokio::test]
async fn a_reset_through_the_api_clears_a_lock_and_kills_earlier_links() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("locked@example.com").await;
    lock(&app, "locked@example.com").await;
    let _locked_mail = app.received("locked@example.com").await;

    for _ in 0..2 {
        app.post_json(
            "/password-reset",
            &json!({"email": "locked@example.com"}),
            None,
        )
        .await;
    }
    let first = app
        .link_path("locked@example.com", "/password-reset?token=")
        .await;
    let second = app
        .link_path("locked@example.com", "/password-reset?token=")
        .await;
    let token_of = |path: &str| path.split("token=").nth(1).expect("a token").to_owned();

    let bad = app
        .post_json(
            "/password-reset/confirm",
            &json!({"token": "nope", "new_password": NEW_PASSWORD}),
            None,
        )
        .await;
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid_reset_token", "").await;
    let weak = app
        .post_json(
            "/password-reset/confirm",
            &json!({"token": token_of(&second), "new_password": "weak"}),
            None,
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ok = app
        .post_json(
            "/password-reset/confirm",
            &json!({"token": token_of(&second), "new_password": NEW_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);

    assert_eq!(
        app.login_form("locked@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK,
        "the lock is gone"
    );
    let earlier = app
        .post_json(
            "/password-reset/confirm",
            &json!({"token": token_of(&first), "new_password": "Other*Passw0rd"}),
            None,
        )
        .await;
    assert_eq!(
        earlier.status(),
        StatusCode::BAD_REQUEST,
        "the earlier link died"
    );
}

#[tokio::test]
async fn a_locked_user_unlocks_through_the_link_in_the_locked_email() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("unlucky@example.com").await;
    lock(&app, "unlucky@example.com").await;

    let mail = app.received("unlucky@example.com").await;
    assert!(
        mail.subject.to_lowercase().contains("locked"),
        "{}",
        mail.subject
    );
    assert!(mail.html.is_some(), "an HTML part");
    let link = link_in(&mail.text, &app.url("/unlock?token=")).expect("an unlock link");
    let path = &link[app.base.len()..];

    let (status, headers, html) = page(&app, path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("content-security-policy"));
    assert_eq!(
        app.login_form("unlucky@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::BAD_REQUEST,
        "showing the page unlocks nothing"
    );
    let (action, token) = form_of(&html);
    assert_eq!(action, "/unlock");
    let (status, body) = post_form(&app, &action, &[("token", &token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.login_form("unlucky@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );

    let (status, _) = post_form(&app, &action, &[("token", &token)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the link works once");
    let api = app
        .post_json("/unlock", &json!({"token": token}), None)
        .await;
    assert_problem(api, StatusCode::BAD_REQUEST, "invalid_unlock_token", "").await;
}

#[tokio::test]
async fn emails_queued_while_smtp_is_down_arrive_when_it_comes_back() {
    let port = crate::helpers::free_port();
    let smtp_url = format!("smtp://127.0.0.1:{port}?tls=none");
    let app = TestApp::spawn_with(&[
        ("SMTP_URL", &smtp_url),
        ("OUTBOX_POLL_INTERVAL_MS", "100"),
        ("OUTBOX_RETRY_BASE_SECONDS", "1"),
    ])
    .await;
    app.admin().await;
    let emails: Vec<String> = (0..3).map(|i| format!("patient{i}@example.com")).collect();
    for email in &emails {
        // The outage never fails the request.
        app.register_ok(email).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // a few failed attempts

    let late = um_mail::TestSmtpServer::start_on(port);
    for email in &emails {
        let raw = late
            .wait_for_message(email, Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("{email} never got its email"));
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("verify-email"), "{text}");
    }
}

#[tokio::test]
async fn two_instances_never_send_the_same_email_twice() {
    let app = TestApp::spawn_with(&[("OUTBOX_POLL_INTERVAL_MS", "20")]).await;
    let _second = app
        .spawn_second_instance(&[("OUTBOX_POLL_INTERVAL_MS", "20")])
        .await;
    app.admin().await;
    let emails: Vec<String> = (0..24).map(|i| format!("twin{i}@example.com")).collect();
    for email in &emails {
        app.register_ok(email).await;
    }
    for email in &emails {
        assert!(
            app.smtp
                .wait_for_message(email, Duration::from_secs(20))
                .await
                .is_some(),
            "{email} got nothing"
        );
    }
    // Give a duplicate every chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let leftovers = app.smtp.take_messages();
    assert!(
        leftovers.is_empty(),
        "duplicates: {:?}",
        leftovers.iter().map(|m| &m.recipients).collect::<Vec<_>>()
    );
}

/// Compares a page (status, security headers, body) with its golden file in
/// `tests/e2e/golden/`, or writes the file with `UPDATE_GOLDEN=1`.
fn check_page_golden(name: &str, response: &(StatusCode, reqwest::header::HeaderMap, String)) {
    let (status, headers, body) = response;
    let mut actual = format!("{}\n", status.as_u16());
    for header in [
        "content-type",
        "content-security-policy",
        "referrer-policy",
        "cache-control",
        "x-frame-options",
    ] {
        let value = headers
            .get(header)
            .map(|v| v.to_str().expect("ascii"))
            .unwrap_or("(none)");
        actual.push_str(&format!("{header}: {value}\n"));
    }
    actual.push('\n');
    actual.push_str(body);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/e2e/golden")
        .join(format!("{name}.golden"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("golden dir");
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{name} differs from {}", path.display());
}

#[tokio::test]
async fn the_recovery_pages_read_as_their_golden_files() {
    const HOSTILE_TOKEN: &str = "a\"b<c>&'d e/f";
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("golden@example.com").await;

    let get = |path: &'static str, token: Option<&'static str>| {
        let app = &app;
        async move {
            let mut request = app.client.get(app.url(path));
            if let Some(token) = token {
                request = request.query(&[("token", token)]);
            }
            let response = request.send().await.expect("answered");
            let status = response.status();
            let headers = response.headers().clone();
            (status, headers, response.text().await.expect("a page"))
        }
    };
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url(path))
                .form(&fields)
                .send()
                .await
                .expect("answered");
            let status = response.status();
            let headers = response.headers().clone();
            (status, headers, response.text().await.expect("a page"))
        }
    };

    check_page_golden(
        "password_reset_form",
        &get("/password-reset", Some(HOSTILE_TOKEN)).await,
    );
    check_page_golden(
        "password_reset_no_token",
        &get("/password-reset", None).await,
    );
    check_page_golden("unlock_form", &get("/unlock", Some(HOSTILE_TOKEN)).await);
    check_page_golden("unlock_no_token", &get("/unlock", None).await);
    check_page_golden(
        "password_reset_incomplete_form",
        &post("/password-reset/confirm", vec![("token", "x".into())]).await,
    );
    for (name, password) in [
        ("password_reset_too_short", "weak"),
        ("password_reset_too_weak", "weakpassword"),
    ] {
        check_page_golden(
            name,
            &post(
                "/password-reset/confirm",
                vec![
                    ("token", HOSTILE_TOKEN.into()),
                    ("new_password", password.into()),
                ],
            )
            .await,
        );
    }
    check_page_golden(
        "password_reset_invalid_token",
        &post(
            "/password-reset/confirm",
            vec![
                ("token", HOSTILE_TOKEN.into()),
                ("new_password", NEW_PASSWORD.into()),
            ],
        )
        .await,
    );
    check_page_golden(
        "unlock_invalid_token",
        &post("/unlock", vec![("token", HOSTILE_TOKEN.into())]).await,
    );

    lock(&app, "golden@example.com").await;
    let unlock = app.link_path("golden@example.com", "/unlock?token=").await;
    let token = unlock.split("token=").nth(1).expect("a token").to_owned();
    check_page_golden(
        "unlock_done",
        &post("/unlock", vec![("token", token)]).await,
    );
    app.post_json(
        "/password-reset",
        &json!({"email": "golden@example.com"}),
        None,
    )
    .await;
    let reset = app
        .link_path("golden@example.com", "/password-reset?token=")
        .await;
    let token = reset.split("token=").nth(1).expect("a token").to_owned();
    check_page_golden(
        "password_reset_done",
        &post(
            "/password-reset/confirm",
            vec![("token", token), ("new_password", NEW_PASSWORD.into())],
        )
        .await,
    );
}
