//! Login with lockout and re-hashing, and authentication of bearer tokens.

use super::*;

// ---------------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------------

fn password(raw: &str) -> SecretString {
    SecretString::from(raw)
}

#[tokio::test]
async fn login_with_an_unknown_email_checks_a_dummy_hash_and_answers_invalid_credentials() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given
        .hasher
        .expect_verify()
        .withf(|candidate, hash| candidate.expose_secret() == "Secur3*Pass" && hash.is_none())
        .times(1)
        .returning(|_, _| Ok(false));
    given.users.expect_record_failed_login().never();
    let service = given.service();

    let result = service
        .login("nobody@example.com", password("Secur3*Pass"))
        .await;

    assert!(
        matches!(result, Err(Error::InvalidCredentials)),
        "{result:?}"
    );
}

#[tokio::test]
async fn login_with_a_malformed_email_answers_like_an_unknown_one() {
    let mut given = Given::new();
    given.users.expect_find_by_email().never();
    given
        .hasher
        .expect_verify()
        .withf(|_, hash| hash.is_none())
        .times(1)
        .returning(|_, _| Ok(false));
    let service = given.service();

    let result = service.login("not an email", password("Secur3*Pass")).await;

    assert!(
        matches!(result, Err(Error::InvalidCredentials)),
        "{result:?}"
    );
}

#[tokio::test]
async fn login_to_a_locked_account_answers_account_locked_without_checking_the_password() {
    let mut given = Given::new();
    given.an_account_found_by_email(&locked(user(Role::Authenticated)));
    given.hasher.expect_verify().never();
    given.users.expect_record_failed_login().never();
    given.users.expect_record_login().never();
    let service = given.service();

    let result = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await;

    assert!(matches!(result, Err(Error::AccountLocked)), "{result:?}");
}

#[tokio::test]
async fn login_with_a_wrong_password_counts_the_failure_and_answers_invalid_credentials() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    let stored_hash = account.password_hash.clone();
    given
        .hasher
        .expect_verify()
        .withf(move |_, hash| hash.as_ref() == Some(&stored_hash))
        .times(1)
        .returning(|_, _| Ok(false));
    given.a_failed_login_of(
        &account,
        FailedLogin::Counted {
            attempts: 1,
            locked: false,
        },
    );
    given.users.expect_record_login().never();
    let service = given.service();

    let result = service.login("ada@example.com", password("wrong")).await;

    assert!(
        matches!(result, Err(Error::InvalidCredentials)),
        "{result:?}"
    );
}

#[tokio::test]
async fn every_failed_login_hands_over_an_unlock_link_for_the_repository_to_store_if_it_locks() {
    // Whether this failure locks the account is decided atomically in the repository, so the
    // notice travels with every failure; the repository stores it only with the lock.
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

        service
            .login("ada@example.com", password("wrong"))
            .await
            .expect_err("refused");

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
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(false);
    given.a_failed_login_of(
        &account,
        FailedLogin::Counted {
            attempts: 5,
            locked: true,
        },
    );
    given.users.expect_record_login().never();
    let service = given.service();

    let result = service.login("ada@example.com", password("wrong")).await;

    assert!(
        matches!(result, Err(Error::InvalidCredentials)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_wrong_password_for_an_account_locked_meanwhile_answers_account_locked() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(false);
    given.a_failed_login_of(&account, FailedLogin::AlreadyLocked);
    let service = given.service();

    let result = service.login("ada@example.com", password("wrong")).await;

    assert!(matches!(result, Err(Error::AccountLocked)), "{result:?}");
}

#[tokio::test]
async fn the_right_password_with_an_unverified_email_answers_invalid_credentials_uncounted() {
    let mut given = Given::new();
    given.an_account_found_by_email(&unverified(user(Role::Anonymous)));
    given.a_password_that_is(true);
    given.users.expect_record_failed_login().never();
    given.users.expect_record_login().never();
    given.tokens.expect_issue().never();
    let service = given.service();

    let result = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await;

    assert!(
        matches!(result, Err(Error::InvalidCredentials)),
        "{result:?}"
    );
}

#[tokio::test]
async fn login_records_the_login_at_the_current_time_and_returns_the_issued_token() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(true);
    let recorded = User {
        last_login_at: Some(now()),
        ..account.clone()
    };
    let returned = recorded.clone();
    given
        .users
        .expect_record_login()
        .with(eq(account.id), eq(now()))
        .times(1)
        .returning(move |_, _| Ok(Some(returned.clone())));
    let for_user = recorded.clone();
    given
        .tokens
        .expect_issue()
        .withf(move |user, at| *user == for_user && *at == now())
        .times(1)
        .returning(|_, _| {
            Ok(AccessToken {
                token: "signed.jwt.token".to_owned(),
                expires_in: 1800,
            })
        });
    given.users.expect_record_failed_login().never();
    let service = given.service();

    let success = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await
        .expect("logged in");

    assert_eq!(success.access.token, "signed.jwt.token");
    assert_eq!(success.access.expires_in, 1800);
    assert_eq!(success.user, recorded);
}

#[tokio::test]
async fn login_to_an_account_locked_between_check_and_record_answers_account_locked() {
    let mut given = Given::new();
    given.an_account_found_by_email(&user(Role::Authenticated));
    given.a_password_that_is(true);
    given.users.expect_record_login().returning(|_, _| Ok(None));
    given.tokens.expect_issue().never();
    let service = given.service();

    let result = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await;

    assert!(matches!(result, Err(Error::AccountLocked)), "{result:?}");
}

#[tokio::test]
async fn the_lock_notice_of_a_failed_login_carries_a_locked_event_by_no_one() {
    // The lockout is the system's doing: the event has no actor.
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(false);
    let notices = given.a_failed_login_of(
        &account,
        FailedLogin::Counted {
            attempts: 5,
            locked: true,
        },
    );
    let service = given.service();

    service
        .login("ada@example.com", password("wrong"))
        .await
        .expect_err("refused");

    assert_eq!(
        notices.only().audit,
        event(
            None,
            account.id,
            AuditKind::Locked,
            vec![change("is_locked", Some("false"), Some("true"))],
        )
    );
}

#[tokio::test]
async fn a_login_with_an_outdated_hash_stores_a_fresh_hash_of_the_same_password() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(true);
    given.a_recorded_login_of(&account);
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
    given
        .users
        .expect_set_password_hash()
        // The same password hashed anew: no notice, nothing else changes.
        .with(eq(account.id), eq(fresh_hash()), eq(None))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let service = given.service();

    let success = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await
        .expect("logged in");

    assert_eq!(hashed.only(), "Secur3*Pass");
    assert_eq!(success.user.id, account.id);
}

#[tokio::test]
async fn a_login_with_a_current_hash_hashes_nothing() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(true);
    given.a_recorded_login_of(&account);
    given
        .hasher
        .expect_needs_rehash()
        .times(1)
        .return_const(false);
    given.hasher.expect_hash().never();
    given.users.expect_set_password_hash().never();
    let service = given.service();

    let result = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_failing_rehash_still_logs_the_user_in() {
    // Either step may fail: hashing, or storing the new hash. The old hash still works, so the
    // re-hash is simply tried again at the next login.
    for storing_fails in [false, true] {
        let account = user(Role::Authenticated);
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        given.a_password_that_is(true);
        given.a_recorded_login_of(&account);
        given.hasher.expect_needs_rehash().return_const(true);
        if storing_fails {
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
        } else {
            given
                .hasher
                .expect_hash()
                .times(1)
                .returning(|_| Err(anyhow::anyhow!("hasher pool gone")));
            given.users.expect_set_password_hash().never();
        }
        let service = given.service();

        let success = service
            .login("ada@example.com", password("Secur3*Pass"))
            .await;

        let success = success.unwrap_or_else(|e| panic!("storing fails {storing_fails}: {e:?}"));
        assert_eq!(success.access.token, "signed.jwt.token");
    }
}

#[tokio::test]
async fn a_refused_login_never_rehashes() {
    // Neither a wrong password nor an unverified email may replace the stored hash.
    for (account, correct) in [
        (user(Role::Authenticated), false),
        (unverified(user(Role::Anonymous)), true),
    ] {
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        given.a_password_that_is(correct);
        given
            .users
            .expect_record_failed_login()
            .returning(|_, _, _| {
                Ok(FailedLogin::Counted {
                    attempts: 1,
                    locked: false,
                })
            });
        given.hasher.expect_hash().never();
        given.users.expect_set_password_hash().never();
        let service = given.service();

        let result = service
            .login("ada@example.com", password("Secur3*Pass"))
            .await;

        assert!(
            matches!(result, Err(Error::InvalidCredentials)),
            "{result:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication of bearer tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn authenticate_refuses_an_invalid_or_expired_token_without_loading_a_user() {
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

        assert!(matches!(result, Err(Error::Unauthenticated)), "{result:?}");
    }
}

#[tokio::test]
async fn authenticate_refuses_the_token_of_a_deleted_user() {
    let mut given = Given::new();
    let id = UserId::new();
    given.tokens.expect_verify().returning(move |_| Ok(id));
    given
        .users
        .expect_find_by_id()
        .with(eq(id))
        .returning(|_| Ok(None));
    let service = given.service();

    let result = service.authenticate("good.token").await;

    assert!(matches!(result, Err(Error::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn authenticate_refuses_the_token_of_a_locked_user() {
    let account = locked(user(Role::Authenticated));
    let mut given = Given::new();
    let id = account.id;
    given.tokens.expect_verify().returning(move |_| Ok(id));
    given.stored_user(&account);
    let service = given.service();

    let result = service.authenticate("good.token").await;

    assert!(matches!(result, Err(Error::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn authenticate_takes_the_role_stored_in_the_repository_not_the_one_in_the_token() {
    // The token was issued while the account was ADMIN; it has since been demoted.
    let demoted = user(Role::Authenticated);
    let mut given = Given::new();
    let id = demoted.id;
    given
        .tokens
        .expect_verify()
        .withf(|bearer| bearer == "token.issued.to.an.admin")
        .returning(move |_| Ok(id));
    given.stored_user(&demoted);
    let service = given.service();

    let user = service
        .authenticate("token.issued.to.an.admin")
        .await
        .expect("authenticated");

    assert_eq!(user.id, id);
    assert_eq!(user.role, Role::Authenticated);
    assert!(!Actor::from(&user).is_staff());
}

fn bearer_of(user: &User) -> String {
    format!("bearer.of.{}", user.id.0)
}

#[tokio::test]
async fn reading_through_a_token_loads_caller_and_account_in_one_round_trip() {
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
        let mut given = Given::new();
        given.bearer_tokens();
        given.stored_accounts(&[&caller]);
        let service = given.service();

        let read = service.get_user_for(&bearer_of(&caller), caller.id).await;

        if readable {
            assert_eq!(read.ok(), Some(caller), "{role}");
        } else {
            assert!(matches!(read, Err(Error::Forbidden)), "{role}: {read:?}");
        }
    }
}

#[tokio::test]
async fn reading_through_a_token_refuses_as_the_two_step_path_does() {
    let admin = user(Role::Admin);
    let manager = user(Role::Manager);
    let plain = user(Role::Authenticated);
    let locked_admin = locked(user(Role::Admin));
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
        let mut given = Given::new();
        given.bearer_tokens();
        given.stored_accounts(&[&admin, &manager, &plain, &locked_admin]);
        let service = given.service();

        let read = service.get_user_for(&bearer_of(caller), target.id).await;

        assert!(read.as_ref().is_err_and(expected), "{case}: {read:?}");
    }
}

#[tokio::test]
async fn reading_through_a_bad_token_asks_no_repository() {
    let target = user(Role::Anonymous);
    let mut given = Given::new();
    given.bearer_tokens();
    given.users.expect_find_both().never();
    given.users.expect_find_by_id().never();
    let service = given.service();

    let read = service.get_user_for("forged", target.id).await;

    assert!(matches!(read, Err(Error::Unauthenticated)), "{read:?}");
}
