//! The command line: create-admin, set-role, unlock.

use super::*;

#[tokio::test]
async fn create_admin_inserts_a_verified_admin_without_a_verification_link() {
    // Not the first account, and an ADMIN all the same.
    let repo = stored_in_memory(&[&user(Role::Authenticated)]);
    let mut given = Given::new();
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    let service = given.service_over(&repo);

    let user = service
        .create_admin(registration_with_nickname("Grace_H"))
        .await
        .expect("created");

    let new = repo.get(user.id).expect("stored");
    assert_eq!(new.role, Role::Admin);
    assert!(new.email_verified);
    assert_eq!(repo.verification_token(user.id), None);
    assert!(repo.mails().is_empty(), "no verification link");
    assert_eq!(new.email, email("grace@example.com"));
    assert_eq!(new.nickname, nickname("Grace_H"));
    assert_eq!(new.password_hash, fresh_hash());
    assert_eq!(new.created_at, now());
    assert_eq!(user.role, Role::Admin);
    assert!(user.email_verified);
}

#[tokio::test]
async fn create_admin_without_a_nickname_gets_a_free_generated_one() {
    let repo = stored_in_memory(&[&user(Role::Authenticated)]);
    let mut given = Given::new();
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    let service = given.service_over(&repo);

    let user = service.create_admin(registration()).await.expect("created");

    assert_eq!(repo.get(user.id).expect("stored").nickname, user.nickname);
    assert_ne!(user.nickname, nickname("ada_lovelace"));
}

#[tokio::test]
async fn create_admin_hashes_the_given_password() {
    let repo = InMemoryRepository::new();
    let mut given = Given::new();
    given
        .hasher
        .expect_hash()
        .withf(|password| password.expose_secret() == "Secur3*Pass")
        .times(1)
        .returning(|_| Ok(fresh_hash()));
    let service = given.service_over(&repo);

    let user = service.create_admin(registration()).await.expect("created");

    assert_eq!(
        repo.get(user.id).expect("stored").password_hash,
        fresh_hash()
    );
}

#[tokio::test]
async fn create_admin_with_a_taken_email_answers_email_exists_and_inserts_nothing() {
    let mut taken = user(Role::Authenticated);
    taken.email = email("GRACE@example.com");
    let repo = stored_in_memory(&[&taken]);
    let mut given = Given::new();
    given.hasher.expect_hash().never();
    let service = given.service_over(&repo);

    let result = service.create_admin(registration()).await;

    assert_err!(result, Error::EmailExists);
    assert_eq!(repo.users(), [taken], "nothing was inserted");
}

#[tokio::test]
async fn create_admin_losing_the_email_race_at_insert_answers_email_exists() {
    let mut given = Given::new();
    given.an_insert_that_fails_with(|| RepoError::EmailTaken);
    let service = given.service();

    let result = service.create_admin(registration()).await;

    assert_err!(result, Error::EmailExists);
}

#[tokio::test]
async fn set_role_for_an_unknown_email_answers_user_not_found() {
    let account = user(Role::Authenticated);
    let repo = stored_in_memory(&[&account]);
    let service = Given::new().service_over(&repo);

    let result = service
        .set_role_by_email(&email("nobody@example.com"), Role::Admin)
        .await;

    assert_err!(result, Error::UserNotFound);
    assert_eq!(repo.users(), [account], "nothing changed");
}

#[tokio::test]
async fn set_role_to_the_role_an_account_has_writes_nothing() {
    let account = user(Role::Manager);
    let repo = stored_in_memory(&[&account]);
    let service = Given::new().service_over(&repo);

    let user = service
        .set_role_by_email(&account.email, Role::Manager)
        .await
        .expect("answered");

    assert_eq!(user, account);
    assert_eq!(
        repo.get(account.id),
        Some(account),
        "not even updated_at moved"
    );
    assert!(repo.mails().is_empty());
    assert!(repo.audit_events().is_empty());
}

#[tokio::test]
async fn set_role_changes_the_role_mails_the_user_and_records_an_event_by_no_one() {
    let account = user(Role::Authenticated);
    let repo = stored_in_memory(&[&account]);
    let service = Given::new().service_over(&repo);

    let user = service
        .set_role_by_email(&account.email, Role::Admin)
        .await
        .expect("changed");

    assert_eq!(user.role, Role::Admin);
    assert_eq!(
        repo.get(account.id),
        Some(User {
            role: Role::Admin,
            updated_at: user.updated_at,
            ..account.clone()
        }),
        "only the role changed"
    );
    assert_eq!(repo.mails(), [role_mail(&account, Role::Admin)]);
    assert_eq!(
        repo.audit_events(),
        [role_changed_event(
            None,
            account.id,
            Role::Authenticated,
            Role::Admin
        )]
    );
}

#[tokio::test]
async fn set_role_demoting_the_last_admin_answers_last_admin() {
    let account = user(Role::Admin);
    let repo = stored_in_memory(&[&account]);
    let service = Given::new().service_over(&repo);

    let result = service
        .set_role_by_email(&account.email, Role::Authenticated)
        .await;

    assert_err!(result, Error::LastAdmin);
    assert_eq!(repo.get(account.id), Some(account), "still ADMIN");
    assert!(repo.mails().is_empty() && repo.audit_events().is_empty());
}

#[tokio::test]
async fn unlock_by_email_lifts_the_lock_with_an_unlocked_event_by_no_one() {
    let account = locked(user(Role::Authenticated));
    let repo = stored_in_memory(&[&account]);
    let service = Given::new().service_over(&repo);

    let user = service
        .unlock_by_email(&account.email)
        .await
        .expect("unlocked");

    assert!(!user.is_locked);
    let stored = repo.get(account.id).expect("stored");
    assert!(!stored.is_locked);
    assert_eq!(stored.failed_login_attempts, 0);
    assert_eq!(repo.audit_events(), [unlocked_event(None, account.id)]);
}

#[tokio::test]
async fn unlock_by_email_for_an_unknown_email_answers_user_not_found() {
    let account = locked(user(Role::Authenticated));
    let repo = stored_in_memory(&[&account]);
    let service = Given::new().service_over(&repo);

    let result = service.unlock_by_email(&email("nobody@example.com")).await;

    assert_err!(result, Error::UserNotFound);
    assert_eq!(repo.get(account.id), Some(account), "still locked");
}
