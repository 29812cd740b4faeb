//! Registration, nickname collisions, email verification and resending the link.

use super::*;

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

/// A [`Given`] whose hasher hashes every password to [`fresh_hash`].
fn given_hashing() -> Given {
    let mut given = Given::new();
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    given
}

/// [`registration`] through a service over `repo` and `given`'s other ports, which succeeds.
async fn registered_in(repo: &InMemoryRepository, given: Given) -> User {
    given
        .service_over(repo)
        .register(registration())
        .await
        .expect("registered")
}

/// `registration` through a service over `given`'s mocked ports: the answer.
async fn register_mocked(given: Given, registration: Registration) -> Result<User, Error> {
    given.service().register(registration).await
}

#[tokio::test]
async fn register_makes_the_first_account_a_verified_admin_when_the_repository_promotes_it() {
    let repo = InMemoryRepository::new();

    let user = registered_in(&repo, given_hashing()).await;

    assert_eq!(user.role, Role::Admin);
    assert!(user.email_verified);
    assert_eq!(repo.get(user.id), Some(user.clone()));
    // No other account existed: the repository promoted this one and, as its contract says,
    // then stored neither the verification token nor the verification mail.
    assert_eq!(repo.verification_token(user.id), None);
    assert!(repo.mails().is_empty());
}

#[tokio::test]
async fn register_inserts_an_anonymous_unverified_account_that_may_be_promoted_if_first() {
    // Another account exists, so this one is not promoted (that it may be, when it is the
    // first, is the test above).
    let repo = stored_in_memory(&[&user(Role::Admin)]);

    let user = registered_in(&repo, given_hashing()).await;

    let new = repo.get(user.id).expect("stored");
    assert_eq!(new.role, Role::Anonymous);
    assert!(!new.email_verified);
    assert_eq!(new.email, email("grace@example.com"));
    assert_eq!(new.password_hash, fresh_hash());
    assert_eq!(new.created_at, now());
    assert_eq!(user.role, Role::Anonymous);
}

#[tokio::test]
async fn register_does_not_ask_for_promotion_when_first_user_is_admin_is_off() {
    let repo = InMemoryRepository::new();
    let mut given = given_hashing();
    given.settings.first_user_is_admin = false;

    let user = registered_in(&repo, given).await;

    let stored = repo.get(user.id).expect("stored");
    assert_eq!(
        stored.role,
        Role::Anonymous,
        "the first account is not promoted"
    );
    assert!(!stored.email_verified);
}

#[tokio::test]
async fn register_stores_a_verification_token_that_expires_after_the_configured_ttl() {
    let repo = stored_in_memory(&[&user(Role::Admin)]);
    let mut given = given_hashing();
    given.settings.verification_ttl = TimeDelta::hours(6);

    let user = registered_in(&repo, given).await;

    let token = repo
        .verification_token(user.id)
        .expect("a verification token");
    assert_eq!(token.expires_at, now() + TimeDelta::hours(6));
}

#[tokio::test]
async fn register_hands_the_insert_a_verification_link_whose_token_hash_is_stored() {
    let repo = stored_in_memory(&[&user(Role::Admin)]);

    let user = registered_in(&repo, given_hashing()).await;

    let stored_token = repo
        .verification_token(user.id)
        .expect("a verification token");
    let [mail] = repo.mails().try_into().expect("one verification mail");
    assert_eq!(mail.to, email("grace@example.com"));
    assert_eq!(mail.greeting_name, user.nickname.to_string());
    let (user_id, raw) = unwrap_verify_email(&mail.kind);
    assert_eq!(user_id, user.id);
    assert_eq!(raw.hash(), stored_token.hash);
}

#[tokio::test]
async fn register_with_a_taken_email_answers_email_exists_without_hashing() {
    let mut taken = user(Role::Authenticated);
    taken.email = email("Grace@Example.com");
    let repo = stored_in_memory(&[&taken]);
    let mut given = Given::new();
    given.hasher.expect_hash().never();
    let service = given.service_over(&repo);

    let result = service.register(registration()).await;

    assert_err!(result, Error::EmailExists);
    assert_eq!(repo.users(), [taken], "nothing was inserted");
}

#[tokio::test]
async fn register_with_a_taken_nickname_answers_nickname_taken_without_hashing() {
    let mut taken = user(Role::Authenticated);
    taken.nickname = nickname("grace_h");
    let repo = stored_in_memory(&[&taken]);
    let mut given = Given::new();
    given.hasher.expect_hash().never();
    let service = given.service_over(&repo);

    let result = service
        .register(registration_with_nickname("Grace_H"))
        .await;

    assert_err!(result, Error::NicknameTaken);
    assert_eq!(repo.users(), [taken], "nothing was inserted");
}

#[tokio::test]
async fn register_keeps_a_given_free_nickname() {
    let repo = stored_in_memory(&[&user(Role::Admin)]);
    let service = given_hashing().service_over(&repo);

    let user = service
        .register(registration_with_nickname("Grace_H"))
        .await
        .expect("registered");

    assert_eq!(
        repo.get(user.id).expect("stored").nickname,
        nickname("Grace_H")
    );
    assert_eq!(user.nickname, nickname("Grace_H"));
}

#[tokio::test]
async fn register_losing_the_email_race_at_insert_answers_email_exists() {
    let mut given = Given::new();
    given.an_insert_that_fails_with(|| RepoError::EmailTaken);

    let result = register_mocked(given, registration()).await;

    assert_err!(result, Error::EmailExists);
}

#[tokio::test]
async fn register_reports_an_unreachable_repository_as_unavailable() {
    let mut given = Given::new();
    given
        .users
        .expect_find_by_email()
        .returning(|_| Err(unavailable()));
    given.hasher.expect_hash().never();

    let result = register_mocked(given, registration()).await;

    assert_err!(result, Error::Unavailable(_));
}

// ---------------------------------------------------------------------------------------------
// Nickname collisions
// ---------------------------------------------------------------------------------------------

// These keep the mocked repository: generated nicknames are random, so an honest repository
// cannot be made to hold the candidates in advance, and a name taken between the check and the
// insert is a race it cannot be made to lose.

impl Given {
    /// The email is free, and exactly `times` generated nicknames are checked, the `n`th
    /// (from 1) taken when `taken(n)`: the candidates checked, in order.
    fn generated_nicknames_checked(
        &mut self,
        times: usize,
        taken: fn(usize) -> bool,
    ) -> Spy<Nickname> {
        self.users.expect_find_by_email().returning(|_| Ok(None));
        let candidates = Spy::default();
        let spy = candidates.clone();
        self.users
            .expect_nickname_taken()
            .times(times)
            .returning(move |candidate| {
                spy.record(candidate.clone());
                Ok(taken(spy.all().len()))
            });
        candidates
    }
}

#[tokio::test]
async fn register_skips_generated_nicknames_that_are_taken_and_uses_the_third() {
    let mut given = Given::new();
    let candidates = given.generated_nicknames_checked(3, |n| n <= 2);
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    let inserted = Spy::default();
    let spy = inserted.clone();
    given.users.expect_insert().times(1).returning(move |new| {
        let user = stored(&new);
        spy.record(new);
        Ok(user)
    });

    register_mocked(given, registration())
        .await
        .expect("registered");

    let candidates = candidates.all();
    assert_eq!(inserted.only().nickname, candidates[2]);
}

#[tokio::test]
async fn register_draws_a_new_nickname_when_the_insert_finds_the_generated_one_taken() {
    let mut given = Given::new();
    let candidates = given.generated_nicknames_checked(2, |_| false);
    given
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(fresh_hash()));
    let attempts = Spy::default();
    let spy = attempts.clone();
    let greetings = Spy::default();
    let greeting_spy = greetings.clone();
    given.users.expect_insert().times(2).returning(move |new| {
        spy.record(new.nickname.clone());
        greeting_spy.record(
            new.verification_mail
                .as_ref()
                .map(|mail| mail.greeting_name.clone()),
        );
        if spy.all().len() == 1 {
            // Another registration took the name between the check and the insert.
            Err(RepoError::NicknameTaken)
        } else {
            Ok(stored(&new))
        }
    });

    let user = register_mocked(given, registration())
        .await
        .expect("registered");

    // Each insert used a freshly checked candidate, and the account got the second one.
    assert_eq!(attempts.all(), candidates.all());
    assert_eq!(user.nickname, candidates.all()[1]);
    // The verification mail of each insert greets the nickname that insert tried.
    let tried: Vec<Option<String>> = attempts.all().iter().map(|n| Some(n.to_string())).collect();
    assert_eq!(greetings.all(), tried);
}

#[tokio::test]
async fn register_with_a_given_nickname_taken_at_insert_answers_409_without_retrying() {
    let mut given = Given::new();
    given.an_insert_that_fails_with(|| RepoError::NicknameTaken);

    let result = register_mocked(given, registration_with_nickname("Grace_H")).await;

    assert_err!(result, Error::NicknameTaken);
}

#[tokio::test]
async fn free_nickname_gives_up_with_an_internal_error_after_ten_taken_tries() {
    let mut given = Given::new();
    given
        .users
        .expect_nickname_taken()
        .times(10)
        .returning(|_| Ok(true));
    let service = given.service();

    let result = service.free_nickname().await;

    assert_err!(result, Error::Internal(_));
}

#[tokio::test]
async fn register_fails_internally_when_no_generated_nickname_is_free() {
    let mut given = Given::new();
    given.generated_nicknames_checked(10, |_| true);
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    given.users.expect_insert().never();

    let result = register_mocked(given, registration()).await;

    assert_err!(result, Error::Internal(_));
}

// ---------------------------------------------------------------------------------------------
// Email verification
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn verify_email_hands_the_repository_the_hash_of_the_link_token_and_the_current_time() {
    let account = unverified(user(Role::Anonymous));
    let repo = stored_in_memory(&[&account]);
    let service = Given::new().service_over(&repo);
    // Used at the clock's time: a link that ends at `now` no longer works, one that ends a
    // second later still does.
    for (raw, expires_at) in [
        ("ended-at-now", now()),
        ("c0ffee", now() + TimeDelta::seconds(1)),
    ] {
        repo.replace_verification_token(
            account.id,
            token_until(raw, expires_at),
            role_mail(&account, Role::Anonymous),
        )
        .await
        .expect("a stored token");
        let result = service.verify_email(account.id, raw).await;
        if raw == "c0ffee" {
            let user = result.expect("verified");
            assert_eq!(user.role, Role::Authenticated);
            assert!(user.email_verified);
            assert_eq!(repo.get(account.id), Some(user));
        } else {
            assert_err!(result, Error::InvalidVerificationToken);
        }
    }
    assert_eq!(repo.verification_token(account.id), None, "used up");
}

#[tokio::test]
async fn verify_email_with_a_token_the_repository_rejects_answers_invalid_verification_token() {
    let account = unverified(user(Role::Anonymous));
    let repo = stored_in_memory(&[&account]);
    repo.replace_verification_token(
        account.id,
        token_until("the-right-one", now() + TimeDelta::hours(1)),
        role_mail(&account, Role::Anonymous),
    )
    .await
    .expect("a stored token");
    let service = Given::new().service_over(&repo);

    for (id, raw) in [
        (account.id, "expired-or-wrong"),
        (UserId::new(), "the-right-one"),
    ] {
        let result = service.verify_email(id, raw).await;

        assert_err!(result, Error::InvalidVerificationToken);
    }
    assert_eq!(repo.get(account.id), Some(account), "nothing changed");
}

// ---------------------------------------------------------------------------------------------
// Resending the verification link
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn resend_verification_for_an_unknown_email_succeeds_quietly_without_mail() {
    let repo = stored_in_memory(&[&unverified(user(Role::Anonymous))]);
    let service = Given::new().service_over(&repo);

    let result = service
        .resend_verification(&email("nobody@example.com"))
        .await;

    assert!(result.is_ok(), "{result:?}");
    assert!(repo.mails().is_empty());
    assert_eq!(repo.token_counts().verification, 0);
}

#[tokio::test]
async fn resend_verification_for_a_verified_account_sends_no_mail() {
    let account = user(Role::Authenticated);
    let repo = stored_in_memory(&[&account]);
    let service = Given::new().service_over(&repo);

    let result = service.resend_verification(&email("ada@example.com")).await;

    assert!(result.is_ok(), "{result:?}");
    assert!(repo.mails().is_empty());
    assert_eq!(repo.verification_token(account.id), None);
}

#[tokio::test]
async fn resend_verification_replaces_the_token_and_queues_a_mail_with_the_new_one() {
    let account = unverified(user(Role::Anonymous));
    let repo = stored_in_memory(&[&account]);
    let earlier = token_until("earlier", now() + TimeDelta::hours(1));
    repo.replace_verification_token(
        account.id,
        earlier.clone(),
        role_mail(&account, Role::Anonymous),
    )
    .await
    .expect("a stored token");
    let _ = repo.take_mails();
    let service = Given::new().service_over(&repo);

    service
        .resend_verification(&email("ADA@example.com"))
        .await
        .expect("resent");

    let token = repo.verification_token(account.id).expect("a token");
    assert_ne!(token, earlier, "the earlier token is replaced");
    assert_eq!(token.expires_at, now() + TimeDelta::minutes(90));
    let [mail] = repo.mails().try_into().expect("one email");
    assert_eq!(mail.to, account.email);
    assert_eq!(mail.greeting_name, account.nickname.to_string());
    let (user_id, raw) = unwrap_verify_email(&mail.kind);
    assert_eq!(user_id, account.id);
    assert_eq!(raw.hash(), token.hash);
}
