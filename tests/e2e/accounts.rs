//! Registration, verification, login and authentication, end to end.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_email_taken, assert_nickname_taken, assert_problem, id_of,
};

#[tokio::test]
async fn a_new_user_registers_follows_the_emailed_link_logs_in_and_reads_itself() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = app.admin().await;

    let user = app.register_ok("Ada@Example.com").await;
    assert_eq!(user["role"], "ANONYMOUS");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["email"], "Ada@Example.com");
    let nickname = user["nickname"].as_str().expect("a generated nickname");
    assert_eq!(
        nickname.split('_').count(),
        3,
        "adjective_animal_number: {nickname}"
    );
    assert_eq!(
        user["links"][0]["href"],
        app.url(&format!("/users/{}", id_of(&user)))
    );
    assert!(user.get("hashed_password").is_none() && user.get("password").is_none());

    // Not verified yet: login refused like a wrong password.
    let early = app.login_form("ada@example.com", PASSWORD).await;
    assert_problem(
        early,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "Incorrect email or password.",
    )
    .await;

    let path = app.verification_path("Ada@Example.com").await;
    let verified = app.get(&path, None).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let body: Value = verified.json().await.expect("JSON");
    assert_eq!(body["message"], "Email verified successfully");

    let login = app.login_form("ADA@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let tokens: Value = login.json().await.expect("JSON");
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 1800);
    let token = tokens["access_token"].as_str().expect("token");

    let me: Value = app
        .get("/me", Some(token))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(me["role"], "AUTHENTICATED");
    assert_eq!(me["email_verified"], true);
    assert!(me["last_login_at"].is_string());

    // The admin sees the same account as verified.
    let seen: Value = app
        .get(&format!("/users/{}", id_of(&user)), Some(&admin_token))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(seen["role"], "AUTHENTICATED");
}

#[tokio::test]
async fn login_also_takes_json() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let response = app
        .post_json(
            "/login",
            &json!({"email": "admin@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let wrong_field = app
        .post_json(
            "/login",
            &json!({"username": "admin@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(wrong_field.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn register_answers_400_for_an_email_that_exists_in_any_casing() {
    let app = TestApp::spawn().await;
    app.register_ok("taken@example.com").await;
    let again = app.register("TAKEN@example.com").await;
    assert_email_taken(again).await;
}

#[tokio::test]
async fn register_answers_409_for_a_taken_nickname() {
    let app = TestApp::spawn().await;
    let first = json!({"email": "a@example.com", "password": PASSWORD, "nickname": "Shared_Name"});
    assert_eq!(
        app.post_json("/register", &first, None).await.status(),
        StatusCode::CREATED
    );
    let second = json!({"email": "b@example.com", "password": PASSWORD, "nickname": "shared_name"});
    let response = app.post_json("/register", &second, None).await;
    assert_nickname_taken(response).await;
}

#[tokio::test]
async fn register_lists_every_invalid_field() {
    let app = TestApp::spawn().await;
    let body = json!({
        "email": "not-an-email",
        "password": "weak",
        "nickname": "no spaces allowed",
        "bio": "b".repeat(501),
        "github_profile_url": "github.com/ada",
    });
    let response = app.post_json("/register", &body, None).await;
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        ["email", "password", "nickname", "bio", "github_profile_url"]
    );
}

#[tokio::test]
async fn unknown_json_fields_are_rejected_by_name() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "a@example.com", "password": PASSWORD, "nick_name": "typo"});
    let problem = assert_problem(
        app.post_json("/register", &body, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "nick_name");
    let read_only = json!({"email": "a@example.com", "password": PASSWORD, "profile_picture_url": "https://x.test/p.png"});
    let problem = assert_problem(
        app.post_json("/register", &read_only, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "profile_picture_url");
}

#[tokio::test]
async fn a_role_sent_at_registration_is_ignored() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let body = json!({"email": "sneaky@example.com", "password": PASSWORD, "role": "ADMIN"});
    let response = app.post_json("/register", &body, None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.expect("JSON");
    assert_eq!(user["role"], "ANONYMOUS");
}

#[tokio::test]
async fn unknown_email_wrong_password_and_unverified_email_look_the_same() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.register_ok("pending@example.com").await;
    let answers = [
        app.login_form("nobody@example.com", PASSWORD).await,
        app.login_form("admin@example.com", "Wrong*Passw0rd").await,
        app.login_form("pending@example.com", PASSWORD).await,
    ];
    let mut bodies = Vec::new();
    for response in answers {
        assert_bearer_challenge(&response);
        bodies.push(
            assert_problem(
                response,
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Incorrect email or password.",
            )
            .await,
        );
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "bodies differ: {bodies:?}"
    );
}

#[tokio::test]
async fn the_third_wrong_password_locks_the_account_and_sends_an_email() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.verified_user("victim@example.com").await;
    for attempt in 1..=3 {
        let response = app.login_form("victim@example.com", "Wrong*Passw0rd").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let (subject, text) = app.mail_to("victim@example.com").await;
    assert!(
        subject.to_lowercase().contains("locked"),
        "subject: {subject}"
    );
    assert!(text.to_lowercase().contains("locked"));

    assert_locked_out(&app, "victim@example.com").await;
}

/// The right password no longer gets in: the account is locked.
async fn assert_locked_out(app: &TestApp, email: &str) {
    let with_right_password = app.login_form(email, PASSWORD).await;
    assert_problem(
        with_right_password,
        StatusCode::BAD_REQUEST,
        "account_locked",
        "Account locked due to too many failed login attempts.",
    )
    .await;
}

#[tokio::test]
async fn parallel_wrong_guesses_never_count_past_the_limit() {
    let app = TestApp::spawn_with(&[("MAX_LOGIN_ATTEMPTS", "5")]).await;
    let (admin_id, _) = app.admin().await;
    let guesses = (0..12).map(|_| app.login_form("admin@example.com", "Wrong*Passw0rd"));
    let statuses: Vec<StatusCode> = join_all(guesses).await.iter().map(|r| r.status()).collect();
    let unauthorized = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let locked = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!(unauthorized + locked, 12, "{statuses:?}");
    assert!(
        unauthorized <= 5,
        "{unauthorized} guesses were checked: {statuses:?}"
    );
    app.sql(&format!(
        "DO $$ BEGIN IF (SELECT failed_login_attempts FROM users WHERE id = '{admin_id}') <> 5 \
         OR NOT (SELECT is_locked FROM users WHERE id = '{admin_id}') \
         THEN RAISE EXCEPTION 'counter is not exactly 5 and locked'; END IF; END $$;"
    ))
    .await;
}

#[tokio::test]
async fn a_verification_link_works_once() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.register_ok("once@example.com").await;
    let path = app.verification_path("once@example.com").await;
    assert_eq!(app.get(&path, None).await.status(), StatusCode::OK);
    assert_link_refused(&app, &path).await;
}

#[tokio::test]
async fn wrong_expired_and_malformed_verification_links_are_refused() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let user = app.register_ok("late@example.com").await;
    let id = id_of(&user);
    let path = app.verification_path("late@example.com").await;

    let wrong = app
        .get(&format!("/verify-email/{id}/{}", "0".repeat(64)), None)
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let malformed = app
        .get(
            &format!("/verify-email/not-a-uuid/{}", "0".repeat(64)),
            None,
        )
        .await;
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);

    app.sql(&format!(
        "UPDATE email_verification_tokens SET expires_at = now() - interval '1 second' WHERE user_id = '{id}'"
    ))
    .await;
    assert_link_refused(&app, &path).await;
}

#[tokio::test]
async fn resend_always_answers_202_and_mails_a_fresh_link_to_unverified_accounts() {
    let app = TestApp::spawn().await;
    app.admin().await;
    app.register_ok("slow@example.com").await;
    let first = app.verification_path("slow@example.com").await;

    let unknown = app
        .post_json(
            "/verify-email/resend",
            &json!({"email": "ghost@example.com"}),
            None,
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    let known = app
        .post_json(
            "/verify-email/resend",
            &json!({"email": "SLOW@example.com"}),
            None,
        )
        .await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);

    let second = app.verification_path("slow@example.com").await;
    assert_ne!(first, second);
    assert_eq!(
        app.get(&first, None).await.status(),
        StatusCode::BAD_REQUEST,
        "the old link died"
    );
    assert_eq!(app.get(&second, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn protected_endpoints_refuse_missing_and_bad_tokens_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let (_, token) = app.admin().await;
    let tampered = format!("{}x", &token[..token.len() - 1]);
    // An unsigned token (`alg: none`) with the admin's claims.
    let parts: Vec<&str> = token.split('.').collect();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    for bad in [
        None,
        Some("garbage"),
        Some(tampered.as_str()),
        Some(unsigned.as_str()),
    ] {
        let response = app.get("/users", bad).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "token {bad:?}");
        assert_bearer_challenge(&response);
    }
    assert_eq!(
        app.get("/users", Some(&token)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn concurrent_first_registrations_make_exactly_one_admin() {
    let app = TestApp::spawn().await;
    let emails: Vec<String> = (0..8).map(|i| format!("racer{i}@example.com")).collect();
    let responses = join_all(emails.iter().map(|e| app.register(e))).await;
    let mut roles = Vec::new();
    for response in responses {
        assert_eq!(response.status(), StatusCode::CREATED);
        let user: Value = response.json().await.expect("JSON");
        roles.push(user["role"].as_str().expect("role").to_owned());
    }
    assert_eq!(
        roles.iter().filter(|r| *r == "ADMIN").count(),
        1,
        "{roles:?}"
    );
    assert_eq!(
        roles.iter().filter(|r| *r == "ANONYMOUS").count(),
        7,
        "{roles:?}"
    );
}

#[tokio::test]
async fn racing_registrations_of_one_email_give_one_201_and_400s() {
    let app = TestApp::spawn().await;
    let responses = join_all((0..6).map(|_| app.register("twin@example.com"))).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::BAD_REQUEST)
            .count(),
        5,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn paths_work_with_and_without_a_trailing_slash() {
    let app = TestApp::spawn().await;
    let (_, token) = app.admin().await;
    assert_eq!(
        app.get("/users/", Some(&token)).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get("/me/", Some(&token)).await.status(), StatusCode::OK);
    assert_eq!(app.get("/healthz/", None).await.status(), StatusCode::OK);
    let readiness = app.get("/readyz", None).await;
    assert_eq!(readiness.status(), StatusCode::OK);
    assert_problem(
        app.get("/no-such-thing", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "",
    )
    .await;
}

#[tokio::test]
async fn wrong_current_passwords_with_a_token_count_like_failed_logins_and_lock() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let (_, token) = app.verified_user("holder@example.com").await;
    let change = json!({"current_password": "Wrong*Passw0rd", "new_password": "N3w*Passw0rd!"});
    for attempt in 1..=2 {
        let response = app
            .send_json(Method::PUT, "/me/password", &change, Some(&token))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "attempt {attempt}"
        );
    }
    // The third guess, through DELETE /me, reaches the limit like a third wrong login.
    let delete = app
        .client
        .delete(app.url("/me"))
        .bearer_auth(&token)
        .json(&json!({"password": "Wrong*Passw0rd"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(delete.status(), StatusCode::BAD_REQUEST);

    let (subject, _) = app.mail_to("holder@example.com").await;
    assert!(
        subject.to_lowercase().contains("locked"),
        "subject: {subject}"
    );
    assert_locked_out(&app, "holder@example.com").await;
}

#[tokio::test]
async fn common_passwords_and_an_unchanged_password_are_refused() {
    let app = TestApp::spawn().await;
    app.admin().await;
    for common in ["Password1!", "Welcome1!", "P@ssw0rd2024"] {
        let response = app
            .post_json(
                "/register",
                &json!({"email": "common@example.com", "password": common}),
                None,
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{common}"
        );
        let body: Value = response.json().await.expect("a problem");
        assert!(body.to_string().contains("most common"), "{body}");
    }
    let (_, token) = app.verified_user("same@example.com").await;
    let unchanged = app
        .send_json(
            Method::PUT,
            "/me/password",
            &json!({"current_password": PASSWORD, "new_password": PASSWORD}),
            Some(&token),
        )
        .await;
    assert_eq!(unchanged.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = unchanged.json().await.expect("a problem");
    assert!(body.to_string().contains("new_password"), "{body}");
}

#[tokio::test]
async fn the_owner_is_told_when_the_password_changes_and_the_old_address_when_the_email_moves() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = app.admin().await;
    let (id, token) = app.verified_user("owner@example.com").await;

    // A change by the owner.
    let changed = app
        .send_json(
            Method::PUT,
            "/me/password",
            &json!({"current_password": PASSWORD, "new_password": "N3w*Lantern-Moss"}),
            Some(&token),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let (subject, text) = app.mail_to("owner@example.com").await;
    assert!(subject.contains("password was changed"), "{subject}");
    assert!(text.contains("/password-reset"), "{text}");

    // A reset through the link.
    let requested = app
        .post_json(
            "/password-reset",
            &json!({"email": "owner@example.com"}),
            None,
        )
        .await;
    assert_eq!(requested.status(), StatusCode::ACCEPTED);
    let link = app
        .link_path("owner@example.com", "/password-reset?token=")
        .await;
    let reset_token = link.split("token=").nth(1).expect("a token").to_owned();
    let reset = app
        .post_json(
            "/password-reset/confirm",
            &json!({"token": reset_token, "new_password": "Th1rd*Lantern-Moss"}),
            None,
        )
        .await;
    assert_eq!(reset.status(), StatusCode::OK);
    let (subject, _) = app.mail_to("owner@example.com").await;
    assert!(subject.contains("password was changed"), "{subject}");

    // Staff moves the email: the old address hears of it, naming the new one.
    let moved = app
        .send_json(
            Method::PUT,
            &format!("/users/{id}"),
            &json!({"email": "elsewhere@example.com"}),
            Some(&admin_token),
        )
        .await;
    assert_eq!(moved.status(), StatusCode::OK);
    let (subject, text) = app.mail_to("owner@example.com").await;
    assert!(subject.contains("email address"), "{subject}");
    assert!(text.contains("elsewhere@example.com"), "{text}");
}

/// A verification link that no longer works: 400 `invalid_verification_token`.
async fn assert_link_refused(app: &TestApp, path: &str) {
    assert_problem(
        app.get(path, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_verification_token",
        "Invalid or expired verification token",
    )
    .await;
}

/// A 401 that says how to authenticate: `WWW-Authenticate: Bearer`.
fn assert_bearer_challenge(response: &reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
}
