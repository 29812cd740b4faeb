//! The command line: create-admin, set-role, unlock.

use super::*;

#[tokio::test]
async fn create_admin_inserts_a_verified_admin_without_a_verification_link() {
    let mut given = Given::new();
    let inserted = given.a_free_email_and_working_insert();
    let service = given.service();

    let user = service
        .create_admin(registration_with_nickname("Grace_H"))
        .await
        .expect("created");

    let new = inserted.only();
    assert_eq!(new.role, Role::Admin);
    assert!(new.email_verified);
    assert!(!new.promote_if_first);
    assert_eq!(new.verification_token, None);
    assert_eq!(new.verification_mail, None);
    assert_eq!(new.email, email("grace@example.com"));
    assert_eq!(new.nickname, nickname("Grace_H"));
    assert_eq!(new.password_hash, fresh_hash());
    assert_eq!(new.created_at, now());
    assert_eq!(user.role, Role::Admin);
    assert!(user.email_verified);
}

#[tokio::test]
async fn create_admin_without_a_nickname_gets_a_free_generated_one() {
    let mut given = Given::new();
    let inserted = given.a_free_email_and_working_insert();
    let service = given.service();

    let user = service.create_admin(registration()).await.expect("created");

    assert_eq!(inserted.only().nickname, user.nickname);
}

#[tokio::test]
async fn create_admin_hashes_the_given_password() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given.users.expect_nickname_taken().returning(|_| Ok(false));
    given
        .hasher
        .expect_hash()
        .withf(|password| password.expose_secret() == "Secur3*Pass")
        .times(1)
        .returning(|_| Ok(fresh_hash()));
    given
        .users
        .expect_insert()
        .times(1)
        .returning(|new| Ok(stored(&new)));
    let service = given.service();

    service.create_admin(registration()).await.expect("created");
}

#[tokio::test]
async fn create_admin_with_a_taken_email_answers_email_exists_and_inserts_nothing() {
    let mut given = Given::new();
    given
        .users
        .expect_find_by_email()
        .with(eq(email("grace@example.com")))
        .returning(|_| Ok(Some(user(Role::Authenticated))));
    given.hasher.expect_hash().never();
    given.users.expect_insert().never();
    let service = given.service();

    let result = service.create_admin(registration()).await;

    assert!(matches!(result, Err(Error::EmailExists)), "{result:?}");
}

#[tokio::test]
async fn create_admin_losing_the_email_race_at_insert_answers_email_exists() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given.users.expect_nickname_taken().returning(|_| Ok(false));
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    given
        .users
        .expect_insert()
        .times(1)
        .returning(|_| Err(RepoError::EmailTaken));
    let service = given.service();

    let result = service.create_admin(registration()).await;

    assert!(matches!(result, Err(Error::EmailExists)), "{result:?}");
}

#[tokio::test]
async fn set_role_for_an_unknown_email_answers_user_not_found() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given.users.expect_update().never();
    let service = given.service();

    let result = service
        .set_role_by_email(&email("nobody@example.com"), Role::Admin)
        .await;

    assert!(matches!(result, Err(Error::UserNotFound)), "{result:?}");
}

#[tokio::test]
async fn set_role_to_the_role_an_account_has_writes_nothing() {
    let account = user(Role::Manager);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.users.expect_update().never();
    let service = given.service();

    let user = service
        .set_role_by_email(&account.email, Role::Manager)
        .await
        .expect("answered");

    assert_eq!(user, account);
}

#[tokio::test]
async fn set_role_changes_the_role_mails_the_user_and_records_an_event_by_no_one() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    let updates = given.working_update(&account);
    let service = given.service();

    let user = service
        .set_role_by_email(&account.email, Role::Admin)
        .await
        .expect("changed");

    assert_eq!(user.role, Role::Admin);
    let update = updates.only();
    assert_eq!(
        update,
        UserChanges {
            role: Some(Role::Admin),
            mails: vec![role_mail(&account, Role::Admin)],
            audit: vec![role_changed_event(
                None,
                account.id,
                Role::Authenticated,
                Role::Admin
            )],
            ..UserChanges::default()
        }
    );
}

#[tokio::test]
async fn set_role_demoting_the_last_admin_answers_last_admin() {
    let account = user(Role::Admin);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given
        .users
        .expect_update()
        .times(1)
        .returning(|_, _| Err(RepoError::LastAdmin));
    let service = given.service();

    let result = service
        .set_role_by_email(&account.email, Role::Authenticated)
        .await;

    assert!(matches!(result, Err(Error::LastAdmin)), "{result:?}");
}

#[tokio::test]
async fn unlock_by_email_lifts_the_lock_with_an_unlocked_event_by_no_one() {
    let account = locked(user(Role::Authenticated));
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    let events = given.working_unlock(&account);
    let service = given.service();

    let user = service
        .unlock_by_email(&account.email)
        .await
        .expect("unlocked");

    assert!(!user.is_locked);
    assert_eq!(events.only(), unlocked_event(None, account.id));
}

#[tokio::test]
async fn unlock_by_email_for_an_unknown_email_answers_user_not_found() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given.users.expect_unlock().never();
    let service = given.service();

    let result = service.unlock_by_email(&email("nobody@example.com")).await;

    assert!(matches!(result, Err(Error::UserNotFound)), "{result:?}");
}
