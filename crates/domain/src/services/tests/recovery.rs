//! Password reset and the unlock link.

use super::*;

// ---------------------------------------------------------------------------------------------
// Password reset and the unlock link
// ---------------------------------------------------------------------------------------------

/// A new password as a client sends it with a reset token.
fn new_password() -> Password {
    Password::parse("N3w*Secure").expect("a valid password")
}

#[tokio::test]
async fn a_reset_for_an_unknown_email_succeeds_quietly_and_writes_nothing() {
    let mut given = Given::new();
    given
        .users
        .expect_find_by_email()
        .with(eq(email("nobody@example.com")))
        .times(1)
        .returning(|_| Ok(None));
    given.users.expect_create_password_reset().never();
    let service = given.service();

    let result = service
        .request_password_reset(&email("nobody@example.com"))
        .await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_reset_stores_a_token_that_expires_after_the_reset_ttl_and_queues_its_link() {
    // A locked account gets the link as well: a reset is one way to lift the lock.
    for account in [user(Role::Authenticated), locked(user(Role::Authenticated))] {
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        let created = Spy::default();
        let spy = created.clone();
        given
            .users
            .expect_create_password_reset()
            .with(
                eq(account.id),
                mockall::predicate::always(),
                mockall::predicate::always(),
            )
            .times(1)
            .returning(move |_, token, mail| {
                spy.record((token, mail));
                Ok(())
            });
        let service = given.service();

        service
            .request_password_reset(&email("ada@example.com"))
            .await
            .expect("requested");

        let (token, mail): (PendingToken, Mail) = created.only();
        assert_eq!(token.expires_at, now() + TimeDelta::minutes(45));
        assert_eq!(mail.to, account.email);
        assert_eq!(mail.greeting_name, account.nickname.to_string());
        let raw = unwrap_password_reset(&mail.kind);
        assert_eq!(raw.hash(), token.hash);
    }
}

#[tokio::test]
async fn a_reset_request_reports_an_unreachable_repository_as_unavailable() {
    let mut given = Given::new();
    given.an_account_found_by_email(&user(Role::Authenticated));
    given
        .users
        .expect_create_password_reset()
        .returning(|_, _, _| Err(RepoError::Unavailable(anyhow::anyhow!("pool exhausted"))));
    let service = given.service();

    let result = service
        .request_password_reset(&email("ada@example.com"))
        .await;

    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn confirming_a_reset_stores_the_hash_of_the_new_password_with_the_token_hash_and_now() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    let hashed = Spy::<String>::default();
    let spy = hashed.clone();
    given.hasher.expect_hash().times(1).returning(move |new| {
        spy.record(new.expose_secret().to_owned());
        Ok(fresh_hash())
    });
    let reset = account.clone();
    given
        .users
        .expect_reset_password()
        .with(
            eq(RawToken::from_client("r3set-t0ken").hash()),
            eq(fresh_hash()),
            eq(now()),
            // The owner is told, in the transaction of the reset.
            eq(MailKind::PasswordChanged),
        )
        .times(1)
        .returning(move |_, _, _, _| Ok(Some(reset.clone())));
    let service = given.service();

    service
        .confirm_password_reset("r3set-t0ken", new_password())
        .await
        .expect("reset");

    assert_eq!(hashed.only(), "N3w*Secure");
}

#[tokio::test]
async fn a_reset_token_the_repository_rejects_answers_invalid_reset_token() {
    let mut given = Given::new();
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    given
        .users
        .expect_reset_password()
        .times(1)
        .returning(|_, _, _, _| Ok(None));
    let service = given.service();

    let result = service
        .confirm_password_reset("used-or-expired", new_password())
        .await;

    assert!(
        matches!(result, Err(Error::InvalidResetToken)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_reset_whose_password_cannot_be_hashed_fails_internally_and_uses_no_token() {
    let mut given = Given::new();
    given
        .hasher
        .expect_hash()
        .returning(|_| Err(anyhow::anyhow!("hasher pool gone")));
    given.users.expect_reset_password().never();
    let service = given.service();

    let result = service
        .confirm_password_reset("r3set-t0ken", new_password())
        .await;

    assert!(matches!(result, Err(Error::Internal(_))), "{result:?}");
}

#[tokio::test]
async fn the_unlock_link_hands_the_repository_the_hash_of_its_token_and_the_current_time() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    let unlocked = account.clone();
    given
        .users
        .expect_unlock_with_token()
        .with(eq(RawToken::from_client("unl0ck-t0ken").hash()), eq(now()))
        .times(1)
        .returning(move |_, _| Ok(Some(unlocked.clone())));
    let service = given.service();

    let result = service.unlock_with_token("unl0ck-t0ken").await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn an_unlock_token_the_repository_rejects_answers_invalid_unlock_token() {
    let mut given = Given::new();
    given
        .users
        .expect_unlock_with_token()
        .times(1)
        .returning(|_, _| Ok(None));
    let service = given.service();

    let result = service.unlock_with_token("used-or-expired").await;

    assert!(
        matches!(result, Err(Error::InvalidUnlockToken)),
        "{result:?}"
    );
}
