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
    let repo = stored_in_memory(&[&user(Role::Authenticated)]);
    let service = Given::new().service_over(&repo);

    let result = service
        .request_password_reset(&email("nobody@example.com"))
        .await;

    assert!(result.is_ok(), "{result:?}");
    assert_eq!(repo.token_counts().reset, 0, "no token is stored");
    assert!(repo.mails().is_empty(), "no email is queued");
}

#[tokio::test]
async fn a_reset_stores_a_token_that_expires_after_the_reset_ttl_and_queues_its_link() {
    // A locked account gets the link as well: a reset is one way to lift the lock.
    for account in [user(Role::Authenticated), locked(user(Role::Authenticated))] {
        let repo = stored_in_memory(&[&account]);
        let service = Given::new().service_over(&repo);

        service
            .request_password_reset(&email("ada@example.com"))
            .await
            .expect("requested");

        let [token] = repo.reset_tokens(account.id).try_into().expect("one token");
        assert_eq!(token.expires_at, now() + TimeDelta::minutes(45));
        let [mail] = repo.mails().try_into().expect("one email");
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
        .returning(|_, _, _| Err(unavailable()));
    let service = given.service();

    let result = service
        .request_password_reset(&email("ada@example.com"))
        .await;

    assert_err!(result, Error::Unavailable(_));
}

#[tokio::test]
async fn confirming_a_reset_stores_the_hash_of_the_new_password_with_the_token_hash_and_now() {
    let account = user(Role::Authenticated);
    let repo = stored_in_memory(&[&account]);
    // Used at the clock's time: a token that ends at `now` no longer works, one that ends a
    // second later still does.
    for (raw, expires_at) in [
        ("ended-at-now", now()),
        ("r3set-t0ken", now() + TimeDelta::seconds(1)),
    ] {
        repo.create_password_reset(
            account.id,
            token_until(raw, expires_at),
            role_mail(&account, Role::Authenticated),
        )
        .await
        .expect("a stored reset token");
    }
    let _ = repo.take_mails();
    let mut given = Given::new();
    let hashed = Spy::<String>::default();
    let spy = hashed.clone();
    given.hasher.expect_hash().times(2).returning(move |new| {
        spy.record(new.expose_secret().to_owned());
        Ok(fresh_hash())
    });
    let service = given.service_over(&repo);

    let ended = service
        .confirm_password_reset("ended-at-now", new_password())
        .await;
    assert_err!(ended, Error::InvalidResetToken);
    service
        .confirm_password_reset("r3set-t0ken", new_password())
        .await
        .expect("reset");

    assert_eq!(hashed.all(), ["N3w*Secure", "N3w*Secure"]);
    let stored = repo.get(account.id).expect("stored");
    assert_eq!(stored.password_hash, fresh_hash());
    assert!(
        repo.reset_tokens(account.id).is_empty(),
        "the token is used up"
    );
    // The owner is told, in the transaction of the reset.
    assert_eq!(
        repo.mails(),
        [Mail {
            to: account.email.clone(),
            greeting_name: account.nickname.to_string(),
            kind: MailKind::PasswordChanged,
        }]
    );
}

#[tokio::test]
async fn a_reset_token_the_repository_rejects_answers_invalid_reset_token() {
    let account = user(Role::Authenticated);
    let repo = stored_in_memory(&[&account]);
    let mut given = Given::new();
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    let service = given.service_over(&repo);

    let result = service
        .confirm_password_reset("used-or-expired", new_password())
        .await;

    assert_err!(result, Error::InvalidResetToken);
    assert_eq!(repo.get(account.id), Some(account), "nothing changed");
}

#[tokio::test]
async fn a_reset_whose_password_cannot_be_hashed_fails_internally_and_uses_no_token() {
    let account = user(Role::Authenticated);
    let repo = stored_in_memory(&[&account]);
    repo.create_password_reset(
        account.id,
        token_until("r3set-t0ken", now() + TimeDelta::hours(1)),
        role_mail(&account, Role::Authenticated),
    )
    .await
    .expect("a stored reset token");
    let mut given = Given::new();
    given
        .hasher
        .expect_hash()
        .returning(|_| Err(anyhow::anyhow!("hasher pool gone")));
    let service = given.service_over(&repo);

    let result = service
        .confirm_password_reset("r3set-t0ken", new_password())
        .await;

    assert_err!(result, Error::Internal(_));
    assert_eq!(repo.reset_tokens(account.id).len(), 1, "the token is kept");
    assert_eq!(repo.get(account.id), Some(account), "nothing changed");
}

#[tokio::test]
async fn the_unlock_link_hands_the_repository_the_hash_of_its_token_and_the_current_time() {
    let account = user(Role::Authenticated);
    let repo = stored_in_memory(&[&account]);
    let service = Given::new().service_over(&repo);
    // Used at the clock's time: a link that ends at `now` no longer works, one that ends a
    // second later still does.
    for (raw, expires_at, works) in [
        ("ended-at-now", now(), false),
        ("unl0ck-t0ken", now() + TimeDelta::seconds(1), true),
    ] {
        let lock = LockNotice {
            end_sessions: EndSessions::All,
            unlock_token: token_until(raw, expires_at),
            mail: role_mail(&account, Role::Authenticated),
            audit: event(None, account.id, AuditKind::Locked, Vec::new()),
        };
        repo.lift_lock_keeping_tokens(account.id);
        repo.record_failed_login(account.id, 1, lock)
            .await
            .expect("locked");

        let result = service.unlock_with_token(raw).await;

        assert_eq!(result.is_ok(), works, "{raw}: {result:?}");
        assert_eq!(repo.get(account.id).expect("stored").is_locked, !works);
    }
    assert_eq!(
        repo.audit_events().last(),
        Some(&unlocked_event(Some(account.id), account.id)),
        "the account lifted its own lock"
    );
}

#[tokio::test]
async fn an_unlock_token_the_repository_rejects_answers_invalid_unlock_token() {
    let account = locked(user(Role::Authenticated));
    let repo = stored_in_memory(&[&account]);
    let service = Given::new().service_over(&repo);

    let result = service.unlock_with_token("used-or-expired").await;

    assert_err!(result, Error::InvalidUnlockToken);
    assert!(repo.get(account.id).expect("stored").is_locked);
}
