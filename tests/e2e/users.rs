//! Administration and self-service, end to end.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_email_taken, assert_nickname_taken, assert_problem, id_of,
};

/// An ADMIN creates a MANAGER, who verifies through the emailed link and logs in.
async fn manager(app: &TestApp, admin_token: &str) -> (String, String) {
    let body = json!({"email": "manager@example.com", "password": PASSWORD, "role": "MANAGER"});
    let response = app.post_json("/users", &body, Some(admin_token)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.expect("JSON");
    assert_eq!(user["role"], "MANAGER");
    let path = app.verification_path("manager@example.com").await;
    assert_eq!(app.get(&path, None).await.status(), StatusCode::OK);
    (id_of(&user), app.token("manager@example.com").await)
}

#[tokio::test]
async fn an_admin_lists_edits_and_deletes_users() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    for i in 0..4 {
        app.register_ok(&format!("user{i}@example.com")).await;
    }

    let page: Value = app
        .get("/users?skip=2&limit=2", Some(&admin))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(page["total"], 5);
    assert_eq!(page["page"], 2);
    assert_eq!(page["size"], 2);
    let links: Vec<(String, String)> = page["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| {
            (
                l["rel"].as_str().unwrap_or_default().to_owned(),
                l["href"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let href = |skip: u32| app.url(&format!("/users?skip={skip}&limit=2"));
    assert!(links.contains(&("self".into(), href(2))), "{links:?}");
    assert!(links.contains(&("first".into(), href(0))), "{links:?}");
    assert!(links.contains(&("last".into(), href(4))), "{links:?}");
    assert!(links.contains(&("next".into(), href(4))), "{links:?}");
    assert!(links.contains(&("prev".into(), href(0))), "{links:?}");

    // Newest first: the first page starts with the last registration.
    let first: Value = app
        .get("/users?limit=1", Some(&admin))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(first["items"][0]["email"], "user3@example.com");
    let target = id_of(&first["items"][0]);

    let edit = json!({"first_name": "Grace", "bio": "Compilers.", "github_profile_url": "https://github.com/grace"});
    let response = app
        .send_json(
            Method::PUT,
            &format!("/users/{target}"),
            &edit,
            Some(&admin),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let edited: Value = response.json().await.expect("JSON");
    assert_eq!(edited["first_name"], "Grace");
    assert_eq!(edited["github_profile_url"], "https://github.com/grace");
    assert_eq!(
        edited["email"], "user3@example.com",
        "untouched fields stay"
    );

    assert_eq!(
        app.delete(&format!("/users/{target}"), Some(&admin))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.get(&format!("/users/{target}"), Some(&admin)).await,
        StatusCode::NOT_FOUND,
        "user_not_found",
        "User not found",
    )
    .await;
    assert_eq!(
        app.delete(&format!("/users/{target}"), Some(&admin))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn malformed_ids_and_bad_paging_are_422() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    assert_eq!(
        app.get("/users/12345", Some(&admin)).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    for query in ["limit=0", "limit=101", "skip=-1", "limit=ten"] {
        let response = app.get(&format!("/users?{query}"), Some(&admin)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
    }
}

#[tokio::test]
async fn a_bad_or_locked_token_is_401_before_the_path_is_judged() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.admin().await;
    let (plain_id, _) = app.verified_user("plain@example.com").await;
    app.sql(&format!(
        "UPDATE users SET is_locked = true WHERE id = '{admin_id}'"
    ))
    .await;
    for (case, path, token) in [
        (
            "locked caller",
            format!("/users/{plain_id}"),
            Some(admin.as_str()),
        ),
        (
            "locked caller, bad id",
            "/users/12345".to_owned(),
            Some(admin.as_str()),
        ),
        (
            "forged token, bad id",
            "/users/12345".to_owned(),
            Some("forged"),
        ),
        ("no token, bad id", "/users/12345".to_owned(), None),
    ] {
        let response = app.get(&path, token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    }
}

#[tokio::test]
async fn plain_users_may_not_administer() {
    let app = TestApp::spawn().await;
    let (admin_id, _) = app.admin().await;
    let (_, token) = app.verified_user("plain@example.com").await;
    for response in [
        app.get("/users", Some(&token)).await,
        app.get(&format!("/users/{admin_id}"), Some(&token)).await,
        app.delete(&format!("/users/{admin_id}"), Some(&token))
            .await,
    ] {
        assert_problem(
            response,
            StatusCode::FORBIDDEN,
            "forbidden",
            "Operation not permitted",
        )
        .await;
    }
}

#[tokio::test]
async fn a_manager_acts_only_on_plain_accounts_and_never_on_roles() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.admin().await;
    let (_, manager) = manager(&app, &admin).await;
    let plain = app.register_ok("plain@example.com").await;
    let plain_id = id_of(&plain);

    assert_eq!(
        app.get(&format!("/users/{plain_id}"), Some(&manager))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/users/{admin_id}"), Some(&manager))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let promote = json!({"role": "ADMIN"});
    let response = app
        .send_json(
            Method::PUT,
            &format!("/users/{plain_id}"),
            &promote,
            Some(&manager),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let create_manager =
        json!({"email": "m2@example.com", "password": PASSWORD, "role": "MANAGER"});
    assert_eq!(
        app.post_json("/users", &create_manager, Some(&manager))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&format!("/users/{admin_id}"), Some(&manager))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // The listing shows a manager only the accounts it may act on.
    let page: Value = app
        .get("/users", Some(&manager))
        .await
        .json()
        .await
        .expect("JSON");
    let roles: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["role"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(roles, ["ANONYMOUS"]);
    assert_eq!(page["total"], 1);

    let rename = json!({"nickname": "renamed_by_manager"});
    let response = app
        .send_json(
            Method::PUT,
            &format!("/users/{plain_id}"),
            &rename,
            Some(&manager),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.delete(&format!("/users/{plain_id}"), Some(&manager))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_demoted_admin_loses_its_rights_at_once_and_the_last_admin_stays() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.admin().await;
    let (other_id, other) = app.verified_user("second@example.com").await;

    // The only ADMIN cannot be deleted or demoted.
    assert_problem(
        app.delete(&format!("/users/{admin_id}"), Some(&admin))
            .await,
        StatusCode::CONFLICT,
        "last_admin",
        "",
    )
    .await;
    let demote = json!({"role": "AUTHENTICATED"});
    let response = app
        .send_json(
            Method::PUT,
            &format!("/users/{admin_id}"),
            &demote,
            Some(&admin),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    let promote = json!({"role": "ADMIN"});
    let response = app
        .send_json(
            Method::PUT,
            &format!("/users/{other_id}"),
            &promote,
            Some(&admin),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.get("/users", Some(&other)).await.status(),
        StatusCode::OK,
        "the old token carries the new role"
    );

    let response = app
        .send_json(
            Method::PUT,
            &format!("/users/{other_id}"),
            &demote,
            Some(&admin),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.get("/users", Some(&other)).await.status(),
        StatusCode::FORBIDDEN,
        "demoted at once"
    );
}

#[tokio::test]
async fn a_deleted_users_token_stops_working() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let (id, token) = app.verified_user("leaving@example.com").await;
    assert_eq!(app.get("/me", Some(&token)).await.status(), StatusCode::OK);
    assert_eq!(
        app.delete(&format!("/users/{id}"), Some(&admin))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/me", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn changing_an_email_unverifies_it_and_sends_a_new_link() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let (id, _) = app.verified_user("old@example.com").await;
    let change = json!({"email": "new@example.com"});
    let response = app
        .send_json(Method::PUT, &format!("/users/{id}"), &change, Some(&admin))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.expect("JSON");
    assert_eq!(user["email"], "new@example.com");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["role"], "ANONYMOUS");

    let path = app.verification_path("new@example.com").await;
    assert_eq!(app.get(&path, None).await.status(), StatusCode::OK);
    let again: Value = app
        .get(&format!("/users/{id}"), Some(&admin))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(again["email_verified"], true);
    assert_eq!(again["role"], "AUTHENTICATED");
}

#[tokio::test]
async fn taken_emails_and_nicknames_on_update_are_409_and_empty_updates_422() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let a = app.register_ok("a@example.com").await;
    let b = app.register_ok("b@example.com").await;
    let b_path = format!("/users/{}", id_of(&b));

    let email = json!({"email": "A@example.com"});
    let response = app
        .send_json(Method::PUT, &b_path, &email, Some(&admin))
        .await;
    assert_problem(response, StatusCode::CONFLICT, "email_taken", "").await;
    let nickname = json!({"nickname": a["nickname"].as_str().expect("nickname").to_uppercase()});
    let response = app
        .send_json(Method::PUT, &b_path, &nickname, Some(&admin))
        .await;
    assert_nickname_taken(response).await;
    let response = app
        .send_json(Method::PUT, &b_path, &json!({}), Some(&admin))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = json!({"is_locked": false});
    let response = app
        .send_json(Method::PUT, &b_path, &unknown, Some(&admin))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_user_patches_its_own_profile_and_null_clears_a_field() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let (_, token) = app.verified_user("self@example.com").await;
    let set = json!({"first_name": "Ada", "last_name": "Lovelace", "nickname": "countess_ada"});
    let response = app
        .send_json(Method::PATCH, "/me", &set, Some(&token))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.expect("JSON");
    assert_eq!(me["nickname"], "countess_ada");
    assert_eq!(me["last_name"], "Lovelace");

    let clear = json!({"last_name": null});
    let me: Value = app
        .send_json(Method::PATCH, "/me", &clear, Some(&token))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(me["last_name"], Value::Null);
    assert_eq!(me["first_name"], "Ada", "fields not sent stay");

    for bad in [
        json!({}),
        json!({"role": "ADMIN"}),
        json!({"nickname": null}),
        json!({"nickname": "admin"}),
    ] {
        let response = app
            .send_json(Method::PATCH, "/me", &bad, Some(&token))
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

#[tokio::test]
async fn staff_create_users_and_duplicates_are_400() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let body = json!({"email": "made@example.com", "password": PASSWORD, "first_name": "Made"});
    let response = app.post_json("/users", &body, Some(&admin)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.expect("JSON");
    assert_eq!(user["role"], "ANONYMOUS");
    assert_eq!(user["first_name"], "Made");
    let again = app.post_json("/users", &body, Some(&admin)).await;
    assert_email_taken(again).await;
}

#[tokio::test]
async fn a_search_for_nul_or_invisible_characters_is_a_422_not_a_500() {
    let app = TestApp::spawn().await;
    let (_, token) = app.admin().await;
    for q in ["%00", "a%00b", "%E2%80%AE", "a%0Ab"] {
        let response = app.get(&format!("/users?q={q}"), Some(&token)).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "q={q}");
        let body: serde_json::Value = response.json().await.expect("a problem");
        assert!(body["detail"].to_string().contains("q"), "{body}");
    }
    assert_eq!(
        app.get("/users?q=ada", Some(&token)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn names_and_bios_with_bidi_overrides_or_zero_width_characters_are_refused() {
    let app = TestApp::spawn().await;
    let (_, token) = app.admin().await;
    for (field, value) in [
        ("first_name", "\u{202E}nimda"),
        ("last_name", "Love\u{200B}lace"),
        ("bio", "Hello\u{2066}there"),
    ] {
        let response = app
            .send_json(
                reqwest::Method::PATCH,
                "/me",
                &serde_json::json!({ field: value }),
                Some(&token),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}"
        );
        let body: serde_json::Value = response.json().await.expect("a problem");
        assert!(body.to_string().contains(field), "{body}");
    }
}
