//! Inserting accounts and finding them: uniqueness without regard to case, the promoted first account, and the verification email queued with the insert.

#![allow(
    clippy::too_many_lines,
    reason = "a contract test reads best in one piece"
)]

use std::collections::HashSet;

use super::*;
use crate::{
    model::{Bio, Name, ProfileUrl},
    ports::RepoError,
};

pub async fn insert_stores_every_field_and_find_by_id_returns_it(h: &dyn Harness) {
    let repo = h.repo();
    let (mut new, _) = new_user("Ada.Lovelace@Example.com", "Ada_L");
    new.profile.first_name = Name::parse("Ada").expect("valid name");
    new.profile.last_name = Name::parse("Lovelace").expect("valid name");
    new.profile.bio = Bio::parse("First programmer.\nAlso a poet.").expect("valid bio");
    new.profile.linkedin_profile_url =
        ProfileUrl::parse("https://linkedin.com/in/ada").expect("valid url");
    new.profile.github_profile_url =
        ProfileUrl::parse("https://github.com/ada").expect("valid url");

    let inserted = repo.insert(new.clone()).await.expect("insert succeeds");

    assert_eq!(inserted.id, new.id);
    assert_eq!(
        inserted.email.as_str(),
        "Ada.Lovelace@Example.com",
        "casing is kept"
    );
    assert_eq!(inserted.nickname.as_str(), "Ada_L");
    assert_eq!(inserted.profile.first_name, new.profile.first_name);
    assert_eq!(inserted.profile.last_name, new.profile.last_name);
    assert_eq!(inserted.profile.bio, new.profile.bio);
    assert_eq!(
        inserted.profile.linkedin_profile_url,
        new.profile.linkedin_profile_url
    );
    assert_eq!(
        inserted.profile.github_profile_url,
        new.profile.github_profile_url
    );
    assert_eq!(inserted.password_hash, new.password_hash);
    assert_eq!(inserted.role, Role::Anonymous);
    assert!(!inserted.email_verified && !inserted.is_locked && !inserted.is_professional);
    assert_eq!(inserted.failed_login_attempts, 0);
    assert_eq!(inserted.picture, None);
    assert_eq!(inserted.professional_status_updated_at, None);
    assert_eq!(inserted.last_login_at, None);
    assert_eq!(inserted.created_at, new.created_at);
    assert_eq!(
        inserted.updated_at, new.created_at,
        "a new account was never updated"
    );

    let found = reload(&*repo, new.id).await;
    assert_eq!(found, inserted, "find_by_id returns what insert returned");
}

pub async fn lookups_of_unknown_accounts_find_nothing(h: &dyn Harness) {
    let repo = h.repo();
    insert(&*repo, "someone@example.com", "someone").await;

    assert!(
        repo.find_by_id(UserId::new())
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        repo.find_by_email(&email("nobody@example.com"))
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        !repo
            .nickname_taken(&nickname("nobody"))
            .await
            .expect("query")
    );
}

pub async fn email_and_nickname_lookups_ignore_case(h: &dyn Harness) {
    let repo = h.repo();
    let (ada, _) = insert(&*repo, "Ada@Example.com", "Ada_L").await;

    for variant in ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.com"] {
        let found = repo
            .find_by_email(&email(variant))
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("{variant} should find the account"));
        assert_eq!(found.id, ada.id, "{variant} found another account");
    }
    for variant in ["ada_l", "ADA_L", "Ada_L"] {
        assert!(
            repo.nickname_taken(&nickname(variant))
                .await
                .expect("query"),
            "{variant} should count as taken"
        );
    }
}

pub async fn a_taken_email_or_nickname_in_any_case_is_refused_by_name(h: &dyn Harness) {
    let repo = h.repo();
    insert(&*repo, "ada@example.com", "ada_l").await;

    let (same_email, _) = new_user("ADA@Example.COM", "someone_else");
    assert!(
        matches!(repo.insert(same_email).await, Err(RepoError::EmailTaken)),
        "the same email in other case must be EmailTaken"
    );
    let (same_nickname, _) = new_user("other@example.com", "ADA_L");
    assert!(
        matches!(
            repo.insert(same_nickname).await,
            Err(RepoError::NicknameTaken)
        ),
        "the same nickname in other case must be NicknameTaken"
    );
    assert_eq!(
        h.tokens().await.verification,
        1,
        "refused inserts leave no token behind"
    );
}

pub async fn of_concurrent_first_inserts_exactly_one_becomes_a_verified_admin(h: &dyn Harness) {
    let repo = h.repo();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let repo = Arc::clone(&repo);
        tasks.spawn(async move {
            let (mut user, token) = new_user(&format!("user{i}@example.com"), &format!("user_{i}"));
            user.promote_if_first = true;
            (repo.insert(user).await, token)
        });
    }
    let mut admins = Vec::new();
    let mut others = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (result, token) = joined.expect("insert task");
        let user = result.expect("every insert succeeds");
        if user.role == Role::Admin {
            admins.push((user, token));
        } else {
            others.push(user);
        }
    }

    assert_eq!(admins.len(), 1, "exactly one account is promoted");
    assert_eq!(others.len(), 19);
    let (admin, token) = &admins[0];
    assert!(admin.email_verified, "the first ADMIN is verified");
    assert!(
        verify_with(&*repo, admin.id, token).await.is_none(),
        "no token is stored for the promoted account"
    );
    for user in &others {
        assert_eq!(
            user.role,
            Role::Anonymous,
            "{} was promoted too",
            user.email
        );
        assert!(!user.email_verified, "{} was verified", user.email);
    }
    assert_eq!(
        h.tokens().await.verification,
        19,
        "every other account keeps its token"
    );
}

pub async fn promote_if_first_keeps_the_role_once_an_account_exists(h: &dyn Harness) {
    let repo = h.repo();
    insert(&*repo, "first@example.com", "first").await;

    let (mut second, _) = new_user("second@example.com", "second");
    second.promote_if_first = true;
    let second = repo.insert(second).await.expect("insert");

    assert_eq!(second.role, Role::Anonymous);
    assert!(!second.email_verified);
}

pub async fn of_concurrent_inserts_with_one_email_exactly_one_succeeds(h: &dyn Harness) {
    let repo = h.repo();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let repo = Arc::clone(&repo);
        // The same address in varying case, each with its own nickname.
        let address = if i % 2 == 0 {
            "Same@Example.com"
        } else {
            "same@example.COM"
        };
        tasks.spawn(async move {
            repo.insert(new_user(address, &format!("racer_{i}")).0)
                .await
        });
    }
    let (mut ok, mut taken) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("insert task") {
            Ok(_) => ok += 1,
            Err(RepoError::EmailTaken) => taken += 1,
            Err(other) => panic!("expected Ok or EmailTaken, got {other:?}"),
        }
    }
    assert_eq!(
        (ok, taken),
        (1, 9),
        "one insert wins, the others see EmailTaken"
    );
}

pub async fn insert_queues_the_verification_mail_only_for_an_unverified_account(h: &dyn Harness) {
    let repo = h.repo();
    let (mut first, _) = new_user("first@example.com", "first_one");
    first.promote_if_first = true;
    let first = repo.insert(first).await.expect("insert");
    assert_eq!(first.role, Role::Admin);
    assert_eq!(
        h.take_mails().await.len(),
        0,
        "the promoted first ADMIN is verified and gets no email"
    );

    let (mut second, _) = new_user("second@example.com", "second_one");
    second.promote_if_first = true;
    let expected = second.verification_mail.clone().expect("a mail");
    let second = repo.insert(second).await.expect("insert");
    assert_eq!(second.role, Role::Anonymous);
    assert_eq!(h.take_mails().await, vec![expected]);

    let (mut verified, _) = new_user("verified@example.com", "verified_one");
    verified.email_verified = true;
    repo.insert(verified).await.expect("insert");
    assert_eq!(
        h.take_mails().await.len(),
        0,
        "a verified account gets none"
    );

    let (refused, _) = new_user("SECOND@example.com", "third_one");
    assert!(matches!(
        repo.insert(refused).await,
        Err(RepoError::EmailTaken)
    ));
    assert_eq!(
        h.take_mails().await.len(),
        0,
        "a refused insert queues nothing"
    );
}

pub async fn find_by_nickname_ignores_case_and_finds_nothing_for_an_unknown_one(h: &dyn Harness) {
    let repo = h.repo();
    let (grace, _) = insert(&*repo, "grace@example.com", "Grace_Hopper").await;
    insert(&*repo, "alan@example.com", "alan_t").await;

    for variant in ["Grace_Hopper", "grace_hopper", "GRACE_HOPPER"] {
        let found = repo
            .find_by_nickname(&nickname(variant))
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("{variant} not found"));
        assert_eq!(found, grace, "{variant}");
        assert_eq!(found.nickname.as_str(), "Grace_Hopper", "casing is kept");
    }
    assert!(
        repo.find_by_nickname(&nickname("grace_hopper_2"))
            .await
            .expect("query")
            .is_none()
    );
}

pub async fn taken_nicknames_names_the_lower_cased_forms_of_exactly_the_taken_candidates(
    h: &dyn Harness,
) {
    let repo = h.repo();
    insert(&*repo, "a@example.com", "Brisk_Otter_1").await;
    insert(&*repo, "b@example.com", "calm_heron_2").await;
    insert(&*repo, "c@example.com", "not_asked_about").await;

    let taken = repo
        .taken_nicknames(vec![
            "brisk_otter_1".into(),
            "CALM_Heron_2".into(),
            "free_fox_3".into(),
            "Free_Fox_4".into(),
        ])
        .await
        .expect("looked up");

    let expected: HashSet<String> = ["brisk_otter_1".into(), "calm_heron_2".into()].into();
    assert_eq!(taken, expected);
    assert!(
        repo.taken_nicknames(Vec::new())
            .await
            .expect("empty")
            .is_empty()
    );
}
