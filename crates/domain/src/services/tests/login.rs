//! Login with lockout and re-hashing, and authentication of bearer tokens.

use super::*;

// ---------------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------------

fn password(raw: &str) -> SecretString {
    SecretString::from(raw)
}

/// Ada logs in to `service` with the password `with`.
async fn ada_logs_in(service: &UserService, with: &str) -> Result<LoginSuccess, Error> {
    service
        .login("ada@example.com", password(with), laptop())
        .await
}

/// Where the logins of these tests come from.
fn laptop() -> ClientInfo {
    ClientInfo::new(Some("Firefox/140.0"), Some("198.51.100.4".into()))
}

/// `account` stored alone in memory, and a [`Given`] whose hasher answers that the password
/// is `correct`.
fn stored_checking_password(account: &User, correct: bool) -> (InMemoryRepository, Given) {
    let repo = stored_in_memory(&[account]);
    let mut given = Given::new();
    given.a_password_that_is(correct);
    (repo, given)
}

/// Ada's account, stored alone one failure from the lock, fails to log in once: the
/// repository after it, and the answer.
async fn a_locking_failure() -> (User, InMemoryRepository, Result<LoginSuccess, Error>) {
    let account = one_failure_from_the_lock(user(Role::Authenticated));
    let (repo, given) = stored_checking_password(&account, false);
    let answer = ada_logs_in(&given.service_over(&repo), "wrong").await;
    (account, repo, answer)
}

/// A service over `repo`, whose every token verifies to `id`, authenticates `good.token`.
async fn authenticate_as(repo: &InMemoryRepository, id: UserId) -> Result<User, Error> {
    let mut given = Given::new();
    given.tokens.expect_verify().returning(move |_| {
        Ok(TokenHolder {
            user: id,
            session: session_of(id),
        })
    });
    given
        .service_over(repo)
        .authenticate("good.token")
        .await
        .map(|caller| caller.user)
}

/// `account` one failed login short of the lockout (the settings allow 5).
fn one_failure_from_the_lock(mut account: User) -> User {
    account.failed_login_attempts = 4;
    account
}

/// Nothing was written: the accounts are `accounts`, and no token, email or event was stored.
fn assert_untouched(repo: &InMemoryRepository, accounts: &[User]) {
    assert_eq!(repo.users(), accounts, "the accounts are unchanged");
    assert_eq!(repo.token_counts(), Default::default(), "no token");
    assert_no_mail(repo);
    assert_no_audit(repo);
}

#[tokio::test]
async fn login_with_an_unknown_email_checks_a_dummy_hash_and_answers_invalid_credentials() {
    let other = user(Role::Authenticated);
    let repo = stored_in_memory(&[&other]);
    let mut given = Given::new();
    given
        .hasher
        .expect_verify()
        .withf(|candidate, hash| candidate.expose_secret() == "Secur3*Pass" && hash.is_none())
        .times(1)
        .returning(|_, _| Ok(false));
    let service = given.service_over(&repo);

    let result = service
        .login("nobody@example.com", password("Secur3*Pass"), laptop())
        .await;

    assert_err!(result, Error::InvalidCredentials);
    // No failure was counted against anyone.
    assert_untouched(&repo, &[other]);
}

#[tokio::test]
async fn login_with_a_malformed_email_answers_like_an_unknown_one() {
    // The mock proves the malformed address never reaches the repository.
    let mut given = Given::new();
    given.users.expect_find_by_email().never();
    given
        .hasher
        .expect_verify()
        .withf(|_, hash| hash.is_none())
        .times(1)
        .returning(|_, _| Ok(false));
    let service = given.service();

    let result = service
        .login("not an email", password("Secur3*Pass"), laptop())
        .await;

    assert_err!(result, Error::InvalidCredentials);
}

#[tokio::test]
async fn login_to_a_locked_account_answers_account_locked_without_checking_the_password() {
    let account = locked(user(Role::Authenticated));
    let repo = stored_in_memory(&[&account]);
    let mut given = Given::new();
    given.hasher.expect_verify().never();
    let service = given.service_over(&repo);

    let result = ada_logs_in(&service, "Secur3*Pass").await;

    assert_err!(result, Error::AccountLocked);
    // Neither a failure nor a login was recorded.
    assert_untouched(&repo, &[account]);
}

#[tokio::test]
async fn login_with_a_wrong_password_counts_the_failure_and_answers_invalid_credentials() {
    let account = user(Role::Authenticated);
    let repo = stored_in_memory(&[&account]);
    let mut given = Given::new();
    let stored_hash = account.password_hash.clone();
    given
        .hasher
        .expect_verify()
        .withf(move |_, hash| hash.as_ref() == Some(&stored_hash))
        .times(1)
        .returning(|_, _| Ok(false));
    let service = given.service_over(&repo);

    let result = ada_logs_in(&service, "wrong").await;

    assert_err!(result, Error::InvalidCredentials);
    let after = repo.get(account.id).expect("stored");
    assert_eq!(after.failed_login_attempts, 1);
    assert!(!after.is_locked);
    assert_eq!(after.last_login_at, None, "no login recorded");
    assert_eq!(repo.token_counts(), Default::default(), "no unlock token");
    assert!(repo.mails().is_empty() && repo.audit_events().is_empty());
}

#[tokio::test]
async fn every_failed_login_hands_over_an_unlock_link_for_the_repository_to_store_if_it_locks() {
    // Whether this failure locks the account is decided atomically in the repository, so the
    // notice travels with every failure; the repository stores it only with the lock. The
    // mocked repository stands for one that counted other failures meanwhile: the service's
    // copy of the account cannot tell whether this one locks.
    for locks in [false, true] {
        let account = user(Role::Authenticated);
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        given.a_password_that_is(false);
        let notices = given.a_failed_login_of(
            &account,
            FailedLogin::Counted {
                attempts: if locks { 5 } else { 2 },
                locked: locks,
            },
        );
        let service = given.service();

        ada_logs_in(&service, "wrong").await.expect_err("refused");

        let notice = notices.only();
        assert_eq!(
            notice.unlock_token.expires_at,
            now() + TimeDelta::hours(30),
            "locks {locks}"
        );
        assert_eq!(notice.mail.to, account.email, "locks {locks}");
        assert_eq!(
            notice.mail.greeting_name,
            account.nickname.to_string(),
            "locks {locks}"
        );
        let raw = unwrap_account_locked(&notice.mail.kind);
        assert_eq!(raw.hash(), notice.unlock_token.hash, "locks {locks}");
    }
}

#[tokio::test]
async fn the_failed_login_that_locks_the_account_still_answers_401() {
    let (account, repo, result) = a_locking_failure().await;

    assert_err!(result, Error::InvalidCredentials);
    let after = repo.get(account.id).expect("stored");
    assert!(after.is_locked);
    assert_eq!(after.failed_login_attempts, 5);
    assert_eq!(after.last_login_at, None, "no login recorded");
}

#[tokio::test]
async fn the_failed_login_that_locks_the_account_stores_the_unlock_link_it_mails() {
    let (account, repo, result) = a_locking_failure().await;
    result.expect_err("refused");

    let stored = repo.unlock_token(account.id).expect("an unlock token");
    assert_eq!(stored.expires_at, now() + TimeDelta::hours(30));
    let [mail] = repo.mails().try_into().expect("one mail");
    assert_eq!(mail.to, account.email);
    assert_eq!(mail.greeting_name, account.nickname.to_string());
    let raw = unwrap_account_locked(&mail.kind);
    assert_eq!(raw.hash(), stored.hash);
}

#[tokio::test]
async fn a_wrong_password_for_an_account_locked_meanwhile_answers_account_locked() {
    // A race: the account was unlocked when loaded and is locked when the failure is counted.
    // An honest repository cannot be made to lose it between the two calls, so it is mocked.
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(false);
    given.a_failed_login_of(&account, FailedLogin::AlreadyLocked);
    let service = given.service();

    let result = ada_logs_in(&service, "wrong").await;

    assert_err!(result, Error::AccountLocked);
}

#[tokio::test]
async fn the_right_password_with_an_unverified_email_answers_invalid_credentials_uncounted() {
    let account = unverified(user(Role::Anonymous));
    let (repo, mut given) = stored_checking_password(&account, true);
    given.tokens.expect_issue().never();
    let service = given.service_over(&repo);

    let result = ada_logs_in(&service, "Secur3*Pass").await;

    assert_err!(result, Error::InvalidCredentials);
    // Neither a failure nor a login was recorded.
    assert_untouched(&repo, &[account]);
}

#[tokio::test]
async fn login_records_the_login_at_the_current_time_and_returns_the_issued_token() {
    // Earlier failures are forgotten by the login.
    let account = User {
        failed_login_attempts: 3,
        ..user(Role::Authenticated)
    };
    let (repo, mut given) = stored_checking_password(&account, true);
    let recorded = User {
        last_login_at: Some(now()),
        failed_login_attempts: 0,
        ..account.clone()
    };
    let for_user = recorded.clone();
    given
        .tokens
        .expect_issue()
        .withf(move |user, _, at, not_after| {
            *user == for_user && *at == now() && *not_after == now() + TimeDelta::days(12)
        })
        .times(1)
        .returning(|_, _, _, _| {
            Ok(AccessToken {
                token: "signed.jwt.token".to_owned(),
                expires_in: 1800,
            })
        });
    let service = given.service_over(&repo);

    let success = ada_logs_in(&service, "Secur3*Pass")
        .await
        .expect("logged in");

    assert_eq!(success.access.token, "signed.jwt.token");
    assert_eq!(success.access.expires_in, 1800);
    assert_eq!(success.user, recorded);
    assert_eq!(repo.get(account.id), Some(recorded));
    // A new session, alive for the configured 12 days, recorded with where the login came from.
    assert_eq!(success.refresh_expires_in, 12 * 24 * 3600);
    let sessions: Vec<_> = repo
        .stored_sessions(account.id)
        .into_iter()
        .filter(|(s, _)| s.id != session_of(account.id))
        .collect();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let (session, ended) = &sessions[0];
    assert_eq!(session.id, success.refresh.session());
    assert_eq!(
        (session.created_at, session.expires_at),
        (now(), now() + TimeDelta::days(12))
    );
    assert_eq!(session.user_agent.as_deref(), Some("Firefox/140.0"));
    assert_eq!(session.ip.as_deref(), Some("198.51.100.4"));
    assert_eq!(*ended, None);
    assert!(repo.mails().is_empty() && repo.audit_events().is_empty());
}

#[tokio::test]
async fn login_to_an_account_locked_between_check_and_record_answers_account_locked() {
    // A race an honest repository cannot be made to lose: mocked.
    let mut given = Given::new();
    given.an_account_found_by_email(&user(Role::Authenticated));
    given.a_password_that_is(true);
    given.users.expect_record_login().returning(|_, _| Ok(None));
    given.tokens.expect_issue().never();
    let service = given.service();

    let result = ada_logs_in(&service, "Secur3*Pass").await;

    assert_err!(result, Error::AccountLocked);
}

#[tokio::test]
async fn the_lock_notice_of_a_failed_login_carries_a_locked_event_by_no_one() {
    // The lockout is the system's doing: the event has no actor.
    let (account, repo, result) = a_locking_failure().await;
    result.expect_err("refused");

    assert_eq!(
        repo.audit_events(),
        [event(
            None,
            account.id,
            AuditKind::Locked,
            vec![change("is_locked", Some("false"), Some("true"))],
        )]
    );
}

#[tokio::test]
async fn a_login_with_an_outdated_hash_stores_a_fresh_hash_of_the_same_password() {
    let account = user(Role::Authenticated);
    let (repo, mut given) = stored_checking_password(&account, true);
    given.an_issued_token();
    let stored_hash = account.password_hash.clone();
    given
        .hasher
        .expect_needs_rehash()
        .withf(move |hash| *hash == stored_hash)
        .times(1)
        .return_const(true);
    let hashed = Spy::<String>::default();
    let spy = hashed.clone();
    given.hasher.expect_hash().times(1).returning(move |given| {
        spy.record(given.expose_secret().to_owned());
        Ok(fresh_hash())
    });
    let service = given.service_over(&repo);

    let success = ada_logs_in(&service, "Secur3*Pass")
        .await
        .expect("logged in");

    assert_eq!(hashed.only(), "Secur3*Pass");
    assert_eq!(success.user.id, account.id);
    let after = repo.get(account.id).expect("stored");
    // The same password hashed anew: no notice, nothing else changes.
    assert_eq!(
        after,
        User {
            password_hash: fresh_hash(),
            last_login_at: Some(now()),
            updated_at: after.updated_at,
            ..account
        }
    );
    assert_no_mail(&repo);
    assert!(repo.audit_events().is_empty());
}

#[tokio::test]
async fn a_login_with_a_current_hash_hashes_nothing() {
    let account = user(Role::Authenticated);
    let (repo, mut given) = stored_checking_password(&account, true);
    given.an_issued_token();
    given
        .hasher
        .expect_needs_rehash()
        .times(1)
        .return_const(false);
    given.hasher.expect_hash().never();
    let service = given.service_over(&repo);

    let result = ada_logs_in(&service, "Secur3*Pass").await;

    assert!(result.is_ok(), "{result:?}");
    // Only the login was recorded: the hash, and the time of the last change, are as they were.
    assert_eq!(
        repo.get(account.id),
        Some(User {
            last_login_at: Some(now()),
            ..account
        })
    );
}

#[tokio::test]
async fn a_failing_hash_still_logs_the_user_in_and_keeps_the_old_hash() {
    // The old hash still works, so the re-hash is simply tried again at the next login.
    let account = user(Role::Authenticated);
    let (repo, mut given) = stored_checking_password(&account, true);
    given.an_issued_token();
    given.hasher.expect_needs_rehash().return_const(true);
    given
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Err(anyhow::anyhow!("hasher pool gone")));
    let service = given.service_over(&repo);

    let success = ada_logs_in(&service, "Secur3*Pass")
        .await
        .expect("logged in");

    assert_eq!(success.access.token, "signed.jwt.token");
    assert_eq!(
        repo.get(account.id).expect("stored").password_hash,
        account.password_hash
    );
}

#[tokio::test]
async fn failing_to_store_the_new_hash_still_logs_the_user_in() {
    // Storing the new hash fails (`Unavailable`): mocked.
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(true);
    given.a_recorded_login_of(&account);
    given.hasher.expect_needs_rehash().return_const(true);
    given
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(fresh_hash()));
    given
        .users
        .expect_set_password_hash()
        .times(1)
        .returning(|_, _, _| Err(RepoError::Unavailable(anyhow::anyhow!("db down"))));
    let service = given.service();

    let success = ada_logs_in(&service, "Secur3*Pass")
        .await
        .expect("logged in");

    assert_eq!(success.access.token, "signed.jwt.token");
}

#[tokio::test]
async fn a_refused_login_never_rehashes() {
    // Neither a wrong password nor an unverified email may replace the stored hash.
    for (account, correct) in [
        (user(Role::Authenticated), false),
        (unverified(user(Role::Anonymous)), true),
    ] {
        let (repo, mut given) = stored_checking_password(&account, correct);
        given.hasher.expect_hash().never();
        let service = given.service_over(&repo);

        let result = ada_logs_in(&service, "Secur3*Pass").await;

        assert_err!(result, Error::InvalidCredentials);
        assert_eq!(
            repo.get(account.id).expect("stored").password_hash,
            account.password_hash,
            "correct {correct}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication of bearer tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn authenticate_refuses_an_invalid_or_expired_token_without_loading_a_user() {
    // The mock proves that no account is loaded.
    for refusal in [TokenError::Invalid, TokenError::Expired] {
        let mut given = Given::new();
        given
            .tokens
            .expect_verify()
            .withf(|bearer| bearer == "bad.token")
            .return_once(move |_| Err(refusal));
        given.users.expect_find_by_id().never();
        let service = given.service();

        let result = service.authenticate("bad.token").await;

        assert_err!(result, Error::Unauthenticated);
    }
}

#[tokio::test]
async fn authenticate_refuses_the_token_of_a_deleted_user() {
    let repo = stored_in_memory(&[&user(Role::Admin)]);

    let result = authenticate_as(&repo, UserId::new()).await;

    assert_err!(result, Error::Unauthenticated);
}

#[tokio::test]
async fn authenticate_refuses_the_token_of_a_locked_user() {
    let account = locked(user(Role::Authenticated));
    let repo = stored_in_memory(&[&account]);

    let result = authenticate_as(&repo, account.id).await;

    assert_err!(result, Error::Unauthenticated);
}

#[tokio::test]
async fn authenticate_takes_the_role_stored_in_the_repository_not_the_one_in_the_token() {
    // The token was issued while the account was ADMIN; it has since been demoted.
    let demoted = user(Role::Authenticated);
    let repo = stored_in_memory(&[&demoted]);
    let mut given = Given::new();
    let id = demoted.id;
    given
        .tokens
        .expect_verify()
        .withf(|bearer| bearer == "token.issued.to.an.admin")
        .returning(move |_| {
            Ok(TokenHolder {
                user: id,
                session: session_of(id),
            })
        });
    let service = given.service_over(&repo);

    let caller = service
        .authenticate("token.issued.to.an.admin")
        .await
        .expect("authenticated");
    let user = caller.user;

    assert_eq!(caller.session, session_of(id));
    assert_eq!(user.id, id);
    assert_eq!(user.role, Role::Authenticated);
    assert!(!Actor::from(&user).is_staff());
}

fn bearer_of(user: &User) -> String {
    format!("bearer.of.{}", user.id.0)
}

#[tokio::test]
async fn reading_through_a_token_loads_caller_and_account_in_one_round_trip() {
    // The mock counts the round trips: one `session_user_and`, no `find_by_id`.
    for (caller_role, target_role) in [
        (Role::Admin, Role::Admin),
        (Role::Admin, Role::Manager),
        (Role::Admin, Role::Anonymous),
        (Role::Manager, Role::Authenticated),
        (Role::Manager, Role::Anonymous),
    ] {
        let caller = user(caller_role);
        let target = user(target_role);
        let mut given = Given::new();
        given.bearer_tokens();
        given.stored_accounts(&[&caller, &target]);
        let service = given.service();

        let read = service.get_user_for(&bearer_of(&caller), target.id).await;

        assert_eq!(
            read.ok(),
            Some(target),
            "{caller_role} reading {target_role}"
        );
    }
}

#[tokio::test]
async fn reading_oneself_through_a_token_needs_staff_and_returns_oneself() {
    for (role, readable) in [
        (Role::Admin, true),
        (Role::Manager, false),
        (Role::Authenticated, false),
    ] {
        let caller = user(role);
        let repo = stored_in_memory(&[&caller]);
        let mut given = Given::new();
        given.bearer_tokens();
        let service = given.service_over(&repo);

        let read = service.get_user_for(&bearer_of(&caller), caller.id).await;

        if readable {
            assert_eq!(read.ok(), Some(caller), "{role}");
        } else {
            assert_err!(read, Error::Forbidden, role);
        }
    }
}

#[tokio::test]
async fn reading_through_a_token_refuses_as_the_two_step_path_does() {
    let admin = user_called(Role::Admin, "ada_admin");
    let manager = user_called(Role::Manager, "ada_manager");
    let plain = user_called(Role::Authenticated, "ada_plain");
    let locked_admin = locked(user_called(Role::Admin, "ada_locked"));
    let deleted_admin = user(Role::Admin);
    let unknown = user(Role::Anonymous);
    type Expected = fn(&Error) -> bool;
    let cases: [(&str, &User, &User, Expected); 5] = [
        ("locked caller", &locked_admin, &plain, |e| {
            matches!(e, Error::Unauthenticated)
        }),
        ("deleted caller", &deleted_admin, &plain, |e| {
            matches!(e, Error::Unauthenticated)
        }),
        ("non-staff, unknown target", &plain, &unknown, |e| {
            matches!(e, Error::Forbidden)
        }),
        ("manager on an admin", &manager, &admin, |e| {
            matches!(e, Error::Forbidden)
        }),
        ("unknown target", &admin, &unknown, |e| {
            matches!(e, Error::UserNotFound)
        }),
    ];
    for (case, caller, target, expected) in cases {
        let repo = stored_in_memory(&[&admin, &manager, &plain, &locked_admin]);
        let mut given = Given::new();
        given.bearer_tokens();
        let service = given.service_over(&repo);

        let read = service.get_user_for(&bearer_of(caller), target.id).await;

        assert!(read.as_ref().is_err_and(expected), "{case}: {read:?}");
    }
}

#[tokio::test]
async fn reading_through_a_bad_token_asks_no_repository() {
    // The mock proves that nothing is loaded.
    let target = user(Role::Anonymous);
    let mut given = Given::new();
    given.bearer_tokens();
    given.sessions.expect_session_user_and().never();
    given.sessions.expect_session_user().never();
    given.users.expect_find_by_id().never();
    let service = given.service();

    let read = service.get_user_for("forged", target.id).await;

    assert_err!(read, Error::Unauthenticated);
}
