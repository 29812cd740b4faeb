//! Sessions through the binary: login with refresh tokens, refresh (JSON, form, and the
//! refresh grant on `/login`), reuse detection and the refresh race, logout, one's own
//! sessions, staff revocation, the changes that end sessions by themselves, and the refresh
//! token never showing up anywhere but in the answer that issued it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, id_of, json_of};

const NEW_PASSWORD: &str = "N3w*Secure-pass";

/// Logs in with JSON: the whole token answer, asserting a 200.
async fn log_in(app: &TestApp, email: &str) -> Value {
    let response = app
        .post_json(
            "/login",
            &json!({"email": email, "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "login of {email}");
    json_of(response).await
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("an access token")
}

fn refresh_token(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().expect("a refresh token")
}

async fn refresh(app: &TestApp, tokens: &Value) -> reqwest::Response {
    app.post_json(
        "/token/refresh",
        &json!({"refresh_token": refresh_token(tokens)}),
        None,
    )
    .await
}

/// Whether the access token of `tokens` still gets `GET /me` answered.
async fn signed_in(app: &TestApp, tokens: &Value) -> bool {
    let status = app.get("/me", Some(access(tokens))).await.status();
    assert!(
        status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
        "{status}"
    );
    status == StatusCode::OK
}

async fn assert_invalid_refresh(response: reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    assert_problem(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
        "Invalid or expired refresh token",
    )
    .await;
}

/// `POST /logout` with the bearer token of `tokens` and no body.
async fn logout(app: &TestApp, tokens: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/logout"))
        .bearer_auth(access(tokens))
        .send()
        .await
        .expect("answered")
}

async fn form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .expect("answered")
}

async fn sessions(app: &TestApp, tokens: &Value) -> Vec<Value> {
    let response = app.get("/me/sessions", Some(access(tokens))).await;
    assert_eq!(response.status(), StatusCode::OK);
    json_of(response).await["items"]
        .as_array()
        .expect("items")
        .clone()
}

#[tokio::test]
async fn a_login_starts_a_session_whose_refresh_token_rotates_once() {
    let app = TestApp::spawn_with(&[("REFRESH_TOKEN_TTL_DAYS", "7")]).await;
    app.admin().await;
    app.verified_user("ada@example.com").await;

    let login = log_in(&app, "ada@example.com").await;
    assert_eq!(login["token_type"], "bearer");
    assert_eq!(login["refresh_expires_in"], 7 * 24 * 3600);
    assert!(refresh_token(&login).len() >= 64, "{login}");
    // As Swagger UI's "Authorize" (the OAuth2 password flow) posts it.
    let form_login = form(
        &app,
        "/login",
        &[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
            ("scope", ""),
            ("client_id", ""),
            ("client_secret", ""),
        ],
    )
    .await;
    assert_eq!(form_login.status(), StatusCode::OK);
    let form_login = json_of(form_login).await;
    assert!(form_login["refresh_token"].is_string(), "the form too");

    let response = refresh(&app, &login).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let refreshed = json_of(response).await;
    assert_ne!(refresh_token(&refreshed), refresh_token(&login));
    assert_ne!(access(&refreshed), access(&login));
    assert!(signed_in(&app, &refreshed).await);

    // The rotated token comes back: the whole session ends.
    assert_invalid_refresh(refresh(&app, &login).await).await;
    assert!(
        !signed_in(&app, &refreshed).await,
        "its access token dies at once"
    );
    assert!(!signed_in(&app, &login).await);
    assert_invalid_refresh(refresh(&app, &refreshed).await).await;
    assert!(
        signed_in(&app, &form_login).await,
        "another session goes on"
    );
}

#[tokio::test]
async fn the_oauth2_form_refreshes_on_both_token_urls() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("ada@example.com").await;
    let login = log_in(&app, "ada@example.com").await;

    let on_refresh = form(
        &app,
        "/token/refresh",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token(&login)),
        ],
    )
    .await;
    assert_eq!(on_refresh.status(), StatusCode::OK);
    let second = json_of(on_refresh).await;
    let on_login = form(
        &app,
        "/login",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token(&second)),
        ],
    )
    .await;
    assert_eq!(on_login.status(), StatusCode::OK);
    let third = json_of(on_login).await;
    assert!(signed_in(&app, &third).await);

    let unknown_grant = form(&app, "/login", &[("grant_type", "client_credentials")]).await;
    let body = assert_problem(
        unknown_grant,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "grant_type");
    let missing = form(&app, "/login", &[("grant_type", "refresh_token")]).await;
    let body = assert_problem(
        missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "refresh_token");
    let wrong_grant = form(
        &app,
        "/token/refresh",
        &[("grant_type", "password"), ("refresh_token", "x")],
    )
    .await;
    assert_problem(
        wrong_grant,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "",
    )
    .await;
    let unknown_field = app
        .post_json(
            "/token/refresh",
            &json!({"refresh_token": "x", "extra": 1}),
            None,
        )
        .await;
    assert_problem(
        unknown_field,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "",
    )
    .await;
    for garbage in ["", "garbage", &"0".repeat(97)] {
        let response = app
            .post_json("/token/refresh", &json!({"refresh_token": garbage}), None)
            .await;
        assert_invalid_refresh(response).await;
    }
    let text = app
        .client
        .post(app.url("/token/refresh"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("answered");
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn of_concurrent_refreshes_with_one_token_exactly_one_gets_new_tokens() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("ada@example.com").await;
    let login = log_in(&app, "ada@example.com").await;

    let attempts = (0..8).map(|_| refresh(&app, &login));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();

    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn logout_ends_the_session_by_bearer_or_by_refresh_token() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("ada@example.com").await;
    let first = log_in(&app, "ada@example.com").await;
    let second = log_in(&app, "ada@example.com").await;

    let response = logout(&app, &first).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!signed_in(&app, &first).await, "at once");
    assert_invalid_refresh(refresh(&app, &first).await).await;
    let again = logout(&app, &first).await;
    assert_eq!(
        again.status(),
        StatusCode::NO_CONTENT,
        "ending an ended session"
    );
    assert!(signed_in(&app, &second).await);

    let by_refresh = app
        .post_json(
            "/logout",
            &json!({"refresh_token": refresh_token(&second)}),
            None,
        )
        .await;
    assert_eq!(by_refresh.status(), StatusCode::NO_CONTENT);
    assert!(!signed_in(&app, &second).await);
    let unknown = app
        .post_json("/logout", &json!({"refresh_token": "whatever"}), None)
        .await;
    assert_eq!(unknown.status(), StatusCode::NO_CONTENT, "tells nothing");

    let nothing = app
        .client
        .post(app.url("/logout"))
        .send()
        .await
        .expect("answered");
    assert_eq!(nothing.headers()["www-authenticate"], "Bearer");
    assert_problem(nothing, StatusCode::UNAUTHORIZED, "not_authenticated", "").await;
    let forged = app
        .client
        .post(app.url("/logout"))
        .bearer_auth("forged.token")
        .send()
        .await
        .expect("answered");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let bad_body = app
        .post_json("/logout", &json!({}), Some(access(&second)))
        .await;
    assert_problem(
        bad_body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "",
    )
    .await;
}

#[tokio::test]
async fn ones_sessions_are_listed_and_ended_one_by_one_or_all_but_this_one() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("ada@example.com").await;
    let (_, grace) = app.verified_user("grace@example.com").await;
    let older = log_in(&app, "ada@example.com").await;
    let other = log_in(&app, "ada@example.com").await;
    let current = app
        .client
        .post(app.url("/login"))
        .header("user-agent", "session-test/1.0")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("answered");
    let current = json_of(current).await;

    let listed = sessions(&app, &current).await;
    // verified_user logged in once too.
    assert_eq!(listed.len(), 4, "{listed:#?}");
    let newest = &listed[0];
    assert_eq!(newest["current"], true);
    assert_eq!(newest["user_agent"], "session-test/1.0");
    assert_eq!(newest["ip"], "127.0.0.1");
    for key in ["id", "created_at", "last_used_at", "expires_at"] {
        assert!(newest[key].is_string(), "{key} in {newest}");
    }
    assert!(listed[1..].iter().all(|s| s["current"] == false));
    let created: Vec<&str> = listed
        .iter()
        .map(|s| s["created_at"].as_str().expect("created_at"))
        .collect();
    let mut sorted = created.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted, "newest first");

    let graces = app.get("/me/sessions", Some(&grace)).await;
    let graces = json_of(graces).await;
    let graces_id = graces["items"][0]["id"].as_str().expect("an id").to_owned();
    let foreign = app
        .delete(&format!("/me/sessions/{graces_id}"), Some(access(&current)))
        .await;
    assert_problem(
        foreign,
        StatusCode::NOT_FOUND,
        "session_not_found",
        "Session not found",
    )
    .await;
    let malformed = app
        .delete("/me/sessions/nope", Some(access(&current)))
        .await;
    assert_problem(
        malformed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "",
    )
    .await;

    let older_id = listed
        .iter()
        .rev()
        .nth(1)
        .and_then(|s| s["id"].as_str())
        .expect("an id")
        .to_owned();
    let ended = app
        .delete(&format!("/me/sessions/{older_id}"), Some(access(&current)))
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert!(!signed_in(&app, &older).await);
    let twice = app
        .delete(&format!("/me/sessions/{older_id}/"), Some(access(&current)))
        .await;
    assert_eq!(twice.status(), StatusCode::NOT_FOUND, "ended already");

    let rest = app.delete("/me/sessions", Some(access(&current))).await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    assert!(!signed_in(&app, &other).await);
    assert!(signed_in(&app, &current).await, "this one stays");
    assert_eq!(sessions(&app, &current).await.len(), 1);
    assert_eq!(
        app.get("/me/sessions", Some(&grace)).await.status(),
        StatusCode::OK,
        "grace's sessions are untouched"
    );
}

#[tokio::test]
async fn staff_end_every_session_of_an_account_audited() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let (ada_id, _) = app.verified_user("ada@example.com").await;
    let ada = log_in(&app, "ada@example.com").await;
    let (_, plain) = app.verified_user("plain@example.com").await;

    let forbidden = app
        .delete(&format!("/users/{ada_id}/sessions"), Some(&plain))
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(signed_in(&app, &ada).await);
    let unknown = app
        .delete(
            "/users/00000000-0000-4000-8000-000000000000/sessions",
            Some(&admin),
        )
        .await;
    assert_problem(
        unknown,
        StatusCode::NOT_FOUND,
        "user_not_found",
        "User not found",
    )
    .await;

    let revoked = app
        .delete(&format!("/users/{ada_id}/sessions"), Some(&admin))
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert!(!signed_in(&app, &ada).await);
    assert_invalid_refresh(refresh(&app, &ada).await).await;

    let events = app
        .get(
            &format!("/audit-events?user_id={ada_id}&kind=sessions_revoked"),
            Some(&admin),
        )
        .await;
    let events = json_of(events).await;
    assert_eq!(events["total"], 1, "{events}");
    let event = &events["items"][0];
    assert_eq!(event["kind"], "sessions_revoked");
    assert_eq!(
        event["details"],
        json!({"live_sessions": {"before": "2", "after": "0"}}),
        "the login of verified_user and the one above"
    );
    assert!(
        signed_in(&app, &log_in(&app, "ada@example.com").await).await,
        "logs in again"
    );
}

#[tokio::test]
async fn a_password_change_keeps_only_its_own_session_and_a_reset_ends_all() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("ada@example.com").await;
    let here = log_in(&app, "ada@example.com").await;
    let elsewhere = log_in(&app, "ada@example.com").await;

    let changed = app
        .send_json(
            reqwest::Method::PUT,
            "/me/password",
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
            Some(access(&here)),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert!(signed_in(&app, &here).await);
    assert!(!signed_in(&app, &elsewhere).await);
    assert_invalid_refresh(refresh(&app, &elsewhere).await).await;
    let here = json_of(refresh(&app, &here).await).await;
    assert!(signed_in(&app, &here).await, "refreshes on");
    let notice = app.received("ada@example.com").await;
    assert!(
        notice.subject.to_lowercase().contains("password"),
        "{}",
        notice.subject
    );

    app.post_json(
        "/password-reset",
        &json!({"email": "ada@example.com"}),
        None,
    )
    .await;
    let path = app
        .link_path("ada@example.com", "/password-reset?token=")
        .await;
    let token = path.split("token=").nth(1).expect("a token");
    let reset = app
        .post_json(
            "/password-reset/confirm",
            &json!({"token": token, "new_password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(reset.status(), StatusCode::OK);
    assert!(!signed_in(&app, &here).await, "a reset ends every session");
    assert_invalid_refresh(refresh(&app, &here).await).await;
}

#[tokio::test]
async fn the_lockout_ends_every_session_and_an_unlock_brings_none_back() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let (ada_id, _) = app.verified_user("ada@example.com").await;
    let ada = log_in(&app, "ada@example.com").await;

    for _ in 0..3 {
        app.login_form("ada@example.com", "Wr0ng*Password").await;
    }
    assert!(!signed_in(&app, &ada).await);
    let unlocked = app
        .post_json(&format!("/users/{ada_id}/unlock"), &json!({}), Some(&admin))
        .await;
    assert_eq!(unlocked.status(), StatusCode::OK);
    assert!(!signed_in(&app, &ada).await, "not brought back");
    assert_invalid_refresh(refresh(&app, &ada).await).await;
}

#[tokio::test]
async fn a_deleted_accounts_tokens_stop_working() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("ada@example.com").await;
    let ada = log_in(&app, "ada@example.com").await;

    let deleted = app
        .send_json(
            reqwest::Method::DELETE,
            "/me",
            &json!({"password": PASSWORD}),
            Some(access(&ada)),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(!signed_in(&app, &ada).await);
    assert_invalid_refresh(refresh(&app, &ada).await).await;
}

#[tokio::test]
async fn an_access_token_never_outlives_its_session_and_an_expired_one_does_not_refresh() {
    // Access tokens of a week, sessions of a day.
    let app = TestApp::spawn_with(&[
        ("ACCESS_TOKEN_TTL_MINUTES", "10080"),
        ("REFRESH_TOKEN_TTL_DAYS", "1"),
    ])
    .await;
    app.admin().await;
    app.verified_user("ada@example.com").await;
    let ada = log_in(&app, "ada@example.com").await;
    let other = log_in(&app, "ada@example.com").await;

    let expires_in = ada["expires_in"].as_i64().expect("expires_in");
    assert!(
        (86_390..=86_400).contains(&expires_in),
        "capped at the session's end: {ada}"
    );
    assert_eq!(ada["refresh_expires_in"], 86_400);

    let id = sessions(&app, &ada).await[1]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    app.sql(&format!(
        "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = '{id}'"
    ))
    .await;
    assert_invalid_refresh(refresh(&app, &ada).await).await;
    let listed = sessions(&app, &other).await;
    assert_eq!(
        listed.len(),
        2,
        "the expired one is not listed: {listed:#?}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_a_session_records_the_forwarded_address() {
    let app = TestApp::spawn_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.admin().await;
    app.verified_user("ada@example.com").await;
    let response = app
        .client
        .post(app.url("/login"))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("answered");
    let tokens = json_of(response).await;

    let listed = sessions(&app, &tokens).await;

    assert_eq!(listed[0]["current"], true);
    assert_eq!(listed[0]["ip"], "203.0.113.9");
}

#[tokio::test]
async fn a_refresh_token_shows_up_only_in_the_answer_that_issued_it() {
    let app = TestApp::spawn_logging("debug").await;
    let (_, admin) = app.admin().await;
    let (ada_id, _) = app.verified_user("ada@example.com").await;
    let login = log_in(&app, "ada@example.com").await;
    let refreshed = json_of(refresh(&app, &login).await).await;
    let issued = [
        refresh_token(&login).to_owned(),
        refresh_token(&refreshed).to_owned(),
    ];
    // A reuse, a list, a revocation, the account, the audit log, a logout.
    refresh(&app, &login).await;
    let second = log_in(&app, "ada@example.com").await;
    let mut seen = vec![
        app.get("/me/sessions", Some(access(&second)))
            .await
            .text()
            .await
            .expect("text"),
        app.get("/me", Some(access(&second)))
            .await
            .text()
            .await
            .expect("text"),
        app.get(&format!("/users/{ada_id}"), Some(&admin))
            .await
            .text()
            .await
            .expect("text"),
    ];
    app.delete(&format!("/users/{ada_id}/sessions"), Some(&admin))
        .await;
    seen.push(
        app.get("/audit-events?limit=100", Some(&admin))
            .await
            .text()
            .await
            .expect("text"),
    );
    app.post_json(
        "/logout",
        &json!({"refresh_token": refresh_token(&second)}),
        None,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(app.log_file.as_ref().expect("a log")).expect("the log");
    assert!(log.lines().count() > 20, "the log is written");
    assert!(log.contains("session started"), "sessions are logged");

    for token in issued
        .iter()
        .map(String::as_str)
        .chain([refresh_token(&second)])
    {
        let (_, secret) = token.split_once('.').expect("<session>.<secret>");
        assert!(!log.contains(secret), "a refresh token in the log");
        for body in &seen {
            assert!(!body.contains(secret), "a refresh token in {body}");
        }
    }
}

#[tokio::test]
async fn reading_a_user_or_oneself_takes_one_primary_key_query_with_the_session_check() {
    let app = TestApp::spawn_logging("warn,um_api::telemetry=info,um_postgres::sql=debug").await;
    let (_, admin) = app.admin().await;
    let target = id_of(&app.register_ok("target@example.com").await);

    for path in [format!("/users/{target}"), "/me".to_owned()] {
        let response = app.get(&path, Some(&admin)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let lines = app.log_lines();
        let statements: Vec<&str> = lines
            .iter()
            .filter(|l| {
                l["message"] == "statement" && l["span"]["request_id"] == request_id.as_str()
            })
            .map(|l| l["sql"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(statements.len(), 1, "{path}: {statements:#?}");
        // The session is checked in the account's own row: no second table.
        assert!(
            statements[0].contains(r#" = ANY("users"."live_session_ids")"#)
                && !statements[0].contains(r#""sessions""#),
            "{path}: {}",
            statements[0]
        );
        if path.starts_with("/users/") {
            // The caller and the target together, by primary key.
            assert!(
                statements[0]
                    .contains(r#"FROM "users" WHERE (("users"."id" = $3) OR ("users"."id" = $4))"#),
                "not a primary-key lookup of both: {}",
                statements[0]
            );
        }
    }
}
