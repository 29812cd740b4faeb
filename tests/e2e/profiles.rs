//! Nicknames, public profiles, the PRO upgrade and self-service, end to end.

use futures_util::future::join_all;
use image::ImageFormat;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_problem, id_of, image_bytes, json_of, upload};

#[tokio::test]
async fn suggestions_are_free_valid_nicknames() {
    let app = TestApp::spawn().await;
    let body = json_of(app.get("/nicknames/suggestions?count=7", None).await).await;
    let suggestions = body["suggestions"].as_array().expect("suggestions");
    assert_eq!(suggestions.len(), 7);
    for s in suggestions {
        let nickname = s.as_str().expect("a string");
        let check = json_of(app.get(&format!("/nicknames/{nickname}"), None).await).await;
        assert_eq!(check["available"], true, "{nickname}");
    }
    let default = json_of(app.get("/nicknames/suggestions", None).await).await;
    assert_eq!(default["suggestions"].as_array().map(Vec::len), Some(5));
    for bad in ["count=0", "count=21", "count=many"] {
        let response = app
            .get(&format!("/nicknames/suggestions?{bad}"), None)
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

#[tokio::test]
async fn availability_ignores_case_and_rejects_bad_nicknames() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD, "nickname": "Ada_L"});
    assert_eq!(
        app.post_json("/register", &body, None).await.status(),
        StatusCode::CREATED
    );

    let taken = json_of(app.get("/nicknames/ada_l", None).await).await;
    assert_eq!(taken, json!({"nickname": "ada_l", "available": false}));
    let free = json_of(app.get("/nicknames/grace_h", None).await).await;
    assert_eq!(free["available"], true);
    for bad in ["ab", "admin", "has%20space", &"x".repeat(31)] {
        let response = app.get(&format!("/nicknames/{bad}"), None).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

#[tokio::test]
async fn a_public_profile_shows_no_email_and_no_role() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let patch = json!({"nickname": "Public_Ada", "first_name": "Ada", "bio": "Engines.", "github_profile_url": "https://github.com/ada"});
    let response = app
        .send_json(Method::PATCH, "/me", &patch, Some(&admin))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let profile = json_of(app.get("/profiles/public_ada", None).await).await;
    assert_eq!(profile["nickname"], "Public_Ada");
    assert_eq!(profile["first_name"], "Ada");
    assert_eq!(profile["github_profile_url"], "https://github.com/ada");
    assert_eq!(profile["is_professional"], false);
    assert!(
        profile.get("email").is_none()
            && profile.get("role").is_none()
            && profile.get("id").is_none(),
        "{profile}"
    );
    assert!(!profile.to_string().contains("admin@example.com"));
    assert_problem(
        app.get("/profiles/nobody_here", None).await,
        StatusCode::NOT_FOUND,
        "user_not_found",
        "",
    )
    .await;
}

#[tokio::test]
async fn of_two_concurrent_claims_on_a_nickname_one_wins_and_one_gets_409() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let (_, a) = app.verified_user("a@example.com").await;
    let (_, b) = app.verified_user("b@example.com").await;
    let claim = json!({"nickname": "the_one"});
    let responses = join_all([
        app.send_json(Method::PATCH, "/me", &claim, Some(&a)),
        app.send_json(
            Method::PATCH,
            "/me",
            &json!({"nickname": "THE_ONE"}),
            Some(&b),
        ),
    ])
    .await;
    let mut statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
}

#[tokio::test]
async fn an_incomplete_profile_learns_what_is_missing_then_upgrades_to_pro() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let (_, token) = app.verified_user("pro@example.com").await;

    let status = json_of(app.get("/me/pro-upgrade", Some(&token)).await).await;
    assert_eq!(
        status,
        json!({"eligible": false, "is_professional": false, "missing": ["first_name", "last_name", "bio", "profile_picture", "linkedin_or_github_url"]})
    );
    let refused = app
        .post_json("/me/pro-upgrade", &json!({}), Some(&token))
        .await;
    let problem = assert_problem(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_eligible_for_pro",
        "",
    )
    .await;
    assert_eq!(problem["missing"].as_array().map(Vec::len), Some(5));

    let complete = json!({"first_name": "Ada", "last_name": "Lovelace", "bio": "Notes on the engine.", "linkedin_profile_url": "https://linkedin.com/in/ada"});
    assert_eq!(
        app.send_json(Method::PATCH, "/me", &complete, Some(&token))
            .await
            .status(),
        StatusCode::OK
    );
    let status = json_of(app.get("/me/pro-upgrade", Some(&token)).await).await;
    assert_eq!(status["missing"], json!(["profile_picture"]));
    assert_eq!(
        upload(
            &app,
            "/me/profile-picture",
            image_bytes(64, 64, ImageFormat::Png),
            &token
        )
        .await
        .status(),
        StatusCode::OK
    );
    let status = json_of(app.get("/me/pro-upgrade", Some(&token)).await).await;
    assert_eq!(
        status,
        json!({"eligible": true, "is_professional": false, "missing": []})
    );

    let upgraded = app
        .post_json("/me/pro-upgrade", &json!({}), Some(&token))
        .await;
    assert_eq!(upgraded.status(), StatusCode::OK);
    let user = json_of(upgraded).await;
    assert_eq!(user["is_professional"], true);
    assert!(user["professional_status_updated_at"].is_string());
    let (subject, _) = app.mail_to("pro@example.com").await;
    assert!(subject.contains("PRO"), "{subject}");

    assert_problem(
        app.post_json("/me/pro-upgrade", &json!({}), Some(&token))
            .await,
        StatusCode::CONFLICT,
        "already_professional",
        "",
    )
    .await;
    let profile = json_of(
        app.get(
            &format!("/profiles/{}", user["nickname"].as_str().expect("nickname")),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(profile["is_professional"], true);
}

#[tokio::test]
async fn staff_grant_and_revoke_pro_regardless_of_the_profile() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.admin().await;
    let (manager_id, _) = {
        let body = json!({"email": "manager@example.com", "password": PASSWORD, "role": "MANAGER"});
        let created = json_of(app.post_json("/users", &body, Some(&admin)).await).await;
        let path = app.verification_path("manager@example.com").await;
        assert_eq!(app.get(&path, None).await.status(), StatusCode::OK);
        (id_of(&created), ())
    };
    let manager = app.token("manager@example.com").await;
    let (user_id, user) = app.verified_user("plain@example.com").await;
    let path = format!("/users/{user_id}/professional-status");

    let granted = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"is_professional": true}),
            Some(&manager),
        )
        .await;
    assert_eq!(granted.status(), StatusCode::OK);
    let granted = json_of(granted).await;
    assert_eq!(granted["is_professional"], true);
    let first_change = granted["professional_status_updated_at"].clone();
    assert!(first_change.is_string());
    let (subject, _) = app.mail_to("plain@example.com").await;
    assert!(subject.contains("PRO"), "{subject}");

    let revoked = json_of(
        app.send_json(
            Method::PUT,
            &path,
            &json!({"is_professional": false}),
            Some(&admin),
        )
        .await,
    )
    .await;
    assert_eq!(revoked["is_professional"], false);
    assert_ne!(revoked["professional_status_updated_at"], first_change);
    let (subject, _) = app.mail_to("plain@example.com").await;
    assert!(subject.to_lowercase().contains("ended"), "{subject}");

    // Rights: a plain user may not, a manager not on staff accounts; bad bodies are 422.
    assert_eq!(
        app.send_json(
            Method::PUT,
            &path,
            &json!({"is_professional": true}),
            Some(&user)
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    let on_admin = format!("/users/{admin_id}/professional-status");
    assert_eq!(
        app.send_json(
            Method::PUT,
            &on_admin,
            &json!({"is_professional": true}),
            Some(&manager)
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    for bad in [
        json!({}),
        json!({"is_professional": "yes"}),
        json!({"is_professional": true, "extra": 1}),
    ] {
        assert_eq!(
            app.send_json(Method::PUT, &path, &bad, Some(&admin))
                .await
                .status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    assert_ne!(manager_id, user_id);
}

#[tokio::test]
async fn a_user_changes_its_password_with_the_current_one() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let (_, token) = app.verified_user("pw@example.com").await;
    let new_password = "N3w*Password!";

    let wrong = json!({"current_password": "Wrong*Passw0rd", "new_password": new_password});
    assert_problem(
        app.send_json(Method::PUT, "/me/password", &wrong, Some(&token))
            .await,
        StatusCode::BAD_REQUEST,
        "incorrect_password",
        "Incorrect password",
    )
    .await;
    let weak = json!({"current_password": PASSWORD, "new_password": "weak"});
    let problem = assert_problem(
        app.send_json(Method::PUT, "/me/password", &weak, Some(&token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "new_password");

    let change = json!({"current_password": PASSWORD, "new_password": new_password});
    assert_eq!(
        app.send_json(Method::PUT, "/me/password", &change, Some(&token))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.login_form("pw@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_form("pw@example.com", new_password)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_user_deletes_its_account_and_pictures_with_its_password() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let (id, token) = app.verified_user("bye@example.com").await;
    let me = json_of(
        upload(
            &app,
            "/me/profile-picture",
            image_bytes(80, 80, ImageFormat::Png),
            &token,
        )
        .await,
    )
    .await;
    let picture = me["profile_picture_url"]
        .as_str()
        .expect("a URL")
        .replace(&app.base, "");

    let wrong = app
        .send_json(
            Method::DELETE,
            "/me",
            &json!({"password": "Wrong*Passw0rd"}),
            Some(&token),
        )
        .await;
    assert_problem(wrong, StatusCode::BAD_REQUEST, "incorrect_password", "").await;
    let missing = app
        .send_json(Method::DELETE, "/me", &json!({}), Some(&token))
        .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let done = app
        .send_json(
            Method::DELETE,
            "/me",
            &json!({"password": PASSWORD}),
            Some(&token),
        )
        .await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/me", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&format!("/users/{id}"), Some(&admin))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&picture, None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        std::fs::read_dir(&app.data_dir)
            .expect("the data dir")
            .count(),
        0
    );
}

#[tokio::test]
async fn the_only_admin_cannot_delete_itself() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let response = app
        .send_json(
            Method::DELETE,
            "/me",
            &json!({"password": PASSWORD}),
            Some(&admin),
        )
        .await;
    assert_problem(response, StatusCode::CONFLICT, "last_admin", "").await;
    assert_eq!(app.get("/me", Some(&admin)).await.status(), StatusCode::OK);
}
