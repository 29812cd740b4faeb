//! Administration end to end: search, filters and sorting, roles, unlock, the audit log.

use futures_util::future::join_all;
use image::ImageFormat;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, id_of, image_bytes, upload};

/// The JSON body of a successful response. Unlike `helpers::json_of`, asserts the success.
async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert!(status.is_success(), "{status}: {body}");
    body
}

fn emails(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["email"].as_str().expect("email").to_owned())
        .collect()
}

/// Registers `email` with extra profile fields; returns its id.
async fn person(app: &TestApp, email: &str, extra: Value) -> String {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let response = app.post_json("/register", &body, None).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{email}");
    id_of(&response.json().await.expect("JSON"))
}

#[tokio::test]
async fn search_filters_and_sorting_narrow_the_list_and_links_keep_them() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    person(
        &app,
        "grace@navy.example",
        json!({"nickname": "amazing_grace", "first_name": "Grace", "last_name": "Hopper"}),
    )
    .await;
    person(
        &app,
        "ada@engine.example",
        json!({"nickname": "countess", "first_name": "Ada", "last_name": "Lovelace"}),
    )
    .await;
    let locked = person(
        &app,
        "locked@example.com",
        json!({"nickname": "locked_out"}),
    )
    .await;
    person(
        &app,
        "percent%sign@example.com",
        json!({"nickname": "under_score"}),
    )
    .await;
    app.sql(&format!(
        "UPDATE users SET is_locked = true WHERE id = '{locked}'"
    ))
    .await;
    let (app_ref, admin_ref) = (&app, &admin);
    let get = move |query: &str| {
        let path = format!("/users?{query}");
        async move { app_ref.get(&path, Some(admin_ref)).await }
    };

    // q: email, nickname, first and last name, case-insensitively; % and _ are literal.
    for (q, expected) in [
        ("NAVY", vec!["grace@navy.example"]),
        ("countess", vec!["ada@engine.example"]),
        ("grace", vec!["grace@navy.example"]),
        ("lovelace", vec!["ada@engine.example"]),
        ("%25", vec!["percent%sign@example.com"]),
        ("e_s", vec![]),
        ("r_s", vec!["percent%sign@example.com"]),
    ] {
        let page = json_of(get(&format!("q={q}")).await).await;
        assert_eq!(emails(&page), expected, "q={q}");
    }

    let page = json_of(get("is_locked=true").await).await;
    assert_eq!(emails(&page), ["locked@example.com"]);
    let page = json_of(get("role=ADMIN").await).await;
    assert_eq!(emails(&page), ["admin@example.com"]);
    let page = json_of(get("email_verified=false&sort=email").await).await;
    assert_eq!(
        emails(&page),
        [
            "ada@engine.example",
            "grace@navy.example",
            "locked@example.com",
            "percent%sign@example.com"
        ]
    );
    let page = json_of(get("is_professional=true").await).await;
    assert_eq!(page["total"], 0);

    let by_nickname = json_of(get("sort=-nickname&limit=100").await).await;
    let nicknames: Vec<&str> = by_nickname["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["nickname"].as_str().unwrap_or_default())
        .collect();
    let mut sorted = nicknames.clone();
    sorted.sort_by_key(|n| std::cmp::Reverse(n.to_lowercase()));
    assert_eq!(nicknames, sorted);
    let oldest_first = json_of(get("sort=created_at&limit=1").await).await;
    assert_eq!(emails(&oldest_first), ["admin@example.com"]);

    // created_from/created_to are inclusive.
    let all = json_of(get("sort=created_at&limit=100").await).await;
    let second_created = all["items"][1]["created_at"]
        .as_str()
        .expect("time")
        .to_owned();
    let from = url_encode(&second_created);
    let page = json_of(get(&format!("created_from={from}&created_to={from}")).await).await;
    assert_eq!(page["total"], 1, "both ends inclusive");

    // Every link keeps the filters.
    let page = json_of(get("q=example&sort=email&limit=1&skip=1").await).await;
    for link in page["links"].as_array().expect("links") {
        let href = link["href"].as_str().expect("href");
        assert!(
            href.contains("q=example") && href.contains("sort=email") && href.contains("limit=1"),
            "{href}"
        );
    }
    let next = page["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["rel"] == "next")
        .expect("a next link");
    let next_page = json_of(
        app.client
            .get(next["href"].as_str().expect("href"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(next_page["page"], 3);

    for bad in [
        "role=OWNER",
        "is_locked=maybe",
        "sort=age",
        "created_from=yesterday",
        "limit=0",
    ] {
        assert_eq!(
            get(bad).await.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn only_an_admin_changes_roles_and_the_user_is_told() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let (id, user) = app.verified_user("climber@example.com").await;
    let path = format!("/users/{id}/role");

    let response = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"role": "MANAGER"}),
            Some(&admin),
        )
        .await;
    let promoted = json_of(response).await;
    assert_eq!(promoted["role"], "MANAGER");
    let (subject, text) = app.mail_to("climber@example.com").await;
    assert!(subject.to_lowercase().contains("role"), "{subject}");
    assert!(text.contains("MANAGER"), "{text}");

    // The new manager may not hand out roles, not even its own.
    let manager = user;
    let other = app.register_ok("other@example.com").await;
    let other_path = format!("/users/{}/role", id_of(&other));
    for role in ["MANAGER", "ADMIN", "AUTHENTICATED"] {
        let response = app
            .send_json(
                Method::PUT,
                &other_path,
                &json!({"role": role}),
                Some(&manager),
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{role}");
    }
    let via_put = app
        .send_json(
            Method::PUT,
            &format!("/users/{}", id_of(&other)),
            &json!({"role": "MANAGER"}),
            Some(&manager),
        )
        .await;
    assert_eq!(via_put.status(), StatusCode::FORBIDDEN);
    let bad = app
        .send_json(Method::PUT, &path, &json!({"role": "OWNER"}), Some(&admin))
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn of_two_admins_demoting_each_other_at_once_one_is_refused() {
    let app = TestApp::spawn().await;
    let (first_id, first) = app.admin().await;
    let (second_id, second) = app.verified_user("second@example.com").await;
    let promote = app
        .send_json(
            Method::PUT,
            &format!("/users/{second_id}/role"),
            &json!({"role": "ADMIN"}),
            Some(&first),
        )
        .await;
    assert_eq!(promote.status(), StatusCode::OK);

    let demote = json!({"role": "AUTHENTICATED"});
    let first_path = format!("/users/{first_id}/role");
    let second_path = format!("/users/{second_id}/role");
    let responses = join_all([
        app.send_json(Method::PUT, &second_path, &demote, Some(&first)),
        app.send_json(Method::PUT, &first_path, &demote, Some(&second)),
    ])
    .await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    // One demotion wins; the other is either the last-admin refusal, or comes from an actor
    // who has just lost the rights.
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert!(matches!(statuses[1], 409 | 403), "{statuses:?}");
    app.sql(
        "DO $$ BEGIN IF (SELECT count(*) FROM users WHERE role = 'ADMIN') <> 1 \
         THEN RAISE EXCEPTION 'not exactly one ADMIN left'; END IF; END $$;",
    )
    .await;
}

#[tokio::test]
async fn staff_unlock_a_locked_account() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let (id, _) = app.verified_user("stuck@example.com").await;
    for _ in 0..3 {
        app.login_form("stuck@example.com", "Wrong*Passw0rd").await;
    }
    assert_eq!(
        app.login_form("stuck@example.com", PASSWORD).await.status(),
        StatusCode::BAD_REQUEST
    );
    let unlocked = json_of(
        app.post_json(&format!("/users/{id}/unlock"), &json!({}), Some(&admin))
            .await,
    )
    .await;
    assert_eq!(unlocked["is_locked"], false);
    assert_eq!(
        app.login_form("stuck@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let (_, plain) = app.verified_user("plain@example.com").await;
    assert_eq!(
        app.post_json(&format!("/users/{id}/unlock"), &json!({}), Some(&plain))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_json(
            "/users/00000000-0000-0000-0000-000000000000/unlock",
            &json!({}),
            Some(&admin)
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_audited_action_leaves_an_event_and_only_admins_read_them() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.admin().await;
    let (id, _) = app.verified_user("watched@example.com").await;
    let path = format!("/users/{id}");

    // Locked by failed logins (no actor), unlocked by the admin.
    for _ in 0..3 {
        app.login_form("watched@example.com", "Wrong*Passw0rd")
            .await;
    }
    json_of(
        app.post_json(&format!("{path}/unlock"), &json!({}), Some(&admin))
            .await,
    )
    .await;
    // The lock ended the user's sessions; it logs in anew.
    let user = app.token("watched@example.com").await;
    // An admin edit, a role change, a PRO change, a picture change and removal by the admin.
    put_ok(&app, &path, &json!({"first_name": "Wanda"}), &admin).await;
    put_ok(
        &app,
        &format!("{path}/role"),
        &json!({"role": "MANAGER"}),
        &admin,
    )
    .await;
    put_ok(
        &app,
        &format!("{path}/professional-status"),
        &json!({"is_professional": true}),
        &admin,
    )
    .await;
    json_of(
        upload(
            &app,
            &format!("{path}/profile-picture"),
            image_bytes(40, 40, ImageFormat::Png),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(
        app.delete(&format!("{path}/profile-picture"), Some(&admin))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // The user's own picture upload is not an administrative act.
    json_of(
        upload(
            &app,
            "/me/profile-picture",
            image_bytes(40, 40, ImageFormat::Png),
            &user,
        )
        .await,
    )
    .await;
    assert_eq!(
        app.delete(&format!("{path}/sessions"), Some(&admin))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&path, Some(&admin)).await.status(),
        StatusCode::NO_CONTENT
    );

    let events = json_of(
        app.get(
            &format!("/audit-events?user_id={id}&limit=100"),
            Some(&admin),
        )
        .await,
    )
    .await;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        [
            "user_deleted",
            "sessions_revoked",
            "picture_deleted",
            "picture_changed",
            "pro_status_changed",
            "role_changed",
            "user_updated",
            "unlocked",
            "locked"
        ],
        "newest first"
    );
    let by_kind = |kind: &str| {
        events["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|e| e["kind"] == kind)
            .cloned()
            .expect("an event")
    };
    let locked = by_kind("locked");
    assert_eq!(locked["actor_id"], Value::Null);
    assert_eq!(locked["target_user_id"], id.as_str());
    let role = by_kind("role_changed");
    assert_eq!(role["actor_id"], admin_id.as_str());
    assert_eq!(
        role["details"]["role"],
        json!({"before": "AUTHENTICATED", "after": "MANAGER"})
    );
    assert_eq!(
        by_kind("user_updated")["details"]["first_name"],
        json!({"before": null, "after": "Wanda"})
    );
    assert_eq!(
        by_kind("pro_status_changed")["details"]["is_professional"],
        json!({"before": "false", "after": "true"})
    );
    assert_eq!(
        by_kind("user_deleted")["details"]["email"]["before"],
        "watched@example.com"
    );
    let serialized = events.to_string();
    assert!(
        !serialized.contains("argon2") && !serialized.contains("hashed_password"),
        "no secrets"
    );

    let only_roles = json_of(
        app.get("/audit-events?kind=role_changed", Some(&admin))
            .await,
    )
    .await;
    assert_eq!(only_roles["total"], 1);
    assert!(
        only_roles["links"][0]["href"]
            .as_str()
            .unwrap_or_default()
            .contains("kind=role_changed")
    );
    assert_eq!(
        app.get("/audit-events?kind=coffee", Some(&admin))
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let body = json!({"email": "mgr@example.com", "password": PASSWORD, "role": "MANAGER"});
    json_of(app.post_json("/users", &body, Some(&admin)).await).await;
    let link = app.verification_path("mgr@example.com").await;
    assert_eq!(app.get(&link, None).await.status(), StatusCode::OK);
    let manager = app.token("mgr@example.com").await;
    assert_problem(
        app.get("/audit-events", Some(&manager)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "",
    )
    .await;
}

/// A `PUT` by `token` that must succeed; its JSON answer.
async fn put_ok(app: &TestApp, path: &str, body: &Value, token: &str) -> Value {
    json_of(app.send_json(Method::PUT, path, body, Some(token)).await).await
}
