//! `PgUserRepository` against a real PostgreSQL, one fresh database per test.

mod common;

use std::{collections::HashSet, sync::Arc};

use chrono::TimeDelta;
use diesel::{ExpressionMethods as _, QueryDsl as _, dsl::count_star};
use diesel_async::RunQueryDsl as _;
use um_domain::{
    model::{
        AuditEvent, AuditKind, Bio, Name, PasswordHash, Patch, PictureFormat, PictureKey,
        PictureKeys, ProfilePatch, ProfileUrl, RawToken, Role, User, UserId,
    },
    ports::{
        FailedLogin, Mail, MailKind, RepoError, UserChanges, UserFilter, UserQuery, UserRepository,
    },
};
use um_postgres::{PgUserRepository, Pool, connect, schema};

use common::{
    email, fixture, insert_with_role, lock_notice, lock_notice_for, mail, new_user, nickname, now,
    pending_until, pro_event, pro_mail, request_reset, unlock_rows,
};

fn verify_mail(id: UserId, token: &RawToken) -> Mail {
    mail(
        "someone@example.com",
        MailKind::VerifyEmail {
            user_id: id,
            token: token.clone(),
        },
    )
}

/// The `user_deleted` event of deleting `id` (by some administrator).
fn deletion(id: UserId) -> AuditEvent {
    AuditEvent {
        actor: Some(UserId::new()),
        target: id,
        kind: AuditKind::UserDeleted,
        changes: Vec::new(),
    }
}

async fn insert(repo: &PgUserRepository, email_raw: &str, nickname_raw: &str) -> (User, RawToken) {
    let (user, token) = new_user(email_raw, nickname_raw);
    let user = repo.insert(user).await.expect("inserting a fresh account");
    (user, token)
}

async fn token_rows(pool: &Pool) -> i64 {
    let mut conn = pool.get().await.expect("a connection");
    schema::email_verification_tokens::table
        .select(count_star())
        .get_result(&mut conn)
        .await
        .expect("counting token rows")
}

async fn reset_rows(pool: &Pool) -> i64 {
    let mut conn = pool.get().await.expect("a connection");
    schema::password_reset_tokens::table
        .select(count_star())
        .get_result(&mut conn)
        .await
        .expect("counting reset tokens")
}

async fn reload(repo: &PgUserRepository, id: UserId) -> User {
    repo.find_by_id(id)
        .await
        .expect("find_by_id succeeds")
        .expect("the account exists")
}

// ---------------------------------------------------------------------------------------------
// Insert and find

#[tokio::test]
async fn insert_stores_every_field_and_find_by_id_returns_it() {
    let f = fixture().await;
    let (mut new, _) = new_user("Ada.Lovelace@Example.com", "Ada_L");
    new.profile.first_name = Name::parse("Ada").expect("valid name");
    new.profile.last_name = Name::parse("Lovelace").expect("valid name");
    new.profile.bio = Bio::parse("First programmer.\nAlso a poet.").expect("valid bio");
    new.profile.linkedin_profile_url =
        ProfileUrl::parse("https://linkedin.com/in/ada").expect("valid url");
    new.profile.github_profile_url =
        ProfileUrl::parse("https://github.com/ada").expect("valid url");

    let inserted = f.repo.insert(new.clone()).await.expect("insert succeeds");

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

    let found = reload(&f.repo, new.id).await;
    assert_eq!(found, inserted, "find_by_id returns what insert returned");
}

#[tokio::test]
async fn lookups_of_unknown_accounts_find_nothing() {
    let f = fixture().await;
    insert(&f.repo, "someone@example.com", "someone").await;

    assert!(
        f.repo
            .find_by_id(UserId::new())
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        f.repo
            .find_by_email(&email("nobody@example.com"))
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        !f.repo
            .nickname_taken(&nickname("nobody"))
            .await
            .expect("query")
    );
}

#[tokio::test]
async fn find_both_returns_those_of_the_two_accounts_that_exist() {
    let f = fixture().await;
    let (ada, _) = insert(&f.repo, "ada@example.com", "ada").await;
    let (grace, _) = insert(&f.repo, "grace@example.com", "grace").await;
    insert(&f.repo, "alan@example.com", "alan").await;

    let mut both = f.repo.find_both(grace.id, ada.id).await.expect("query");
    let one = f
        .repo
        .find_both(UserId::new(), grace.id)
        .await
        .expect("query");
    both.sort_by_key(|u| u.email.as_str().to_owned());
    let same_twice = f.repo.find_both(ada.id, ada.id).await.expect("query");
    let none = f
        .repo
        .find_both(UserId::new(), UserId::new())
        .await
        .expect("query");

    assert_eq!(
        both,
        [
            reload(&f.repo, ada.id).await,
            reload(&f.repo, grace.id).await
        ]
    );
    assert_eq!(one, [reload(&f.repo, grace.id).await]);
    assert_eq!(same_twice, [reload(&f.repo, ada.id).await]);
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn email_and_nickname_lookups_ignore_case() {
    let f = fixture().await;
    let (ada, _) = insert(&f.repo, "Ada@Example.com", "Ada_L").await;

    for variant in ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.com"] {
        let found = f
            .repo
            .find_by_email(&email(variant))
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("{variant} should find the account"));
        assert_eq!(found.id, ada.id, "{variant} found another account");
    }
    for variant in ["ada_l", "ADA_L", "Ada_L"] {
        assert!(
            f.repo
                .nickname_taken(&nickname(variant))
                .await
                .expect("query"),
            "{variant} should count as taken"
        );
    }
}

#[tokio::test]
async fn a_taken_email_or_nickname_in_any_case_is_refused_by_name() {
    let f = fixture().await;
    insert(&f.repo, "ada@example.com", "ada_l").await;

    let (same_email, _) = new_user("ADA@Example.COM", "someone_else");
    assert!(
        matches!(f.repo.insert(same_email).await, Err(RepoError::EmailTaken)),
        "the same email in other case must be EmailTaken"
    );
    let (same_nickname, _) = new_user("other@example.com", "ADA_L");
    assert!(
        matches!(
            f.repo.insert(same_nickname).await,
            Err(RepoError::NicknameTaken)
        ),
        "the same nickname in other case must be NicknameTaken"
    );
    assert_eq!(
        token_rows(&f.pool).await,
        1,
        "refused inserts leave no token behind"
    );
}

#[tokio::test]
async fn a_row_that_does_not_parse_is_an_error_not_a_panic() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let mut conn = f.pool.get().await.expect("a connection");
    diesel::update(schema::users::table.find(user.id.0))
        .set(schema::users::email.eq("not an email"))
        .execute(&mut conn)
        .await
        .expect("corrupting the row");

    let result = f.repo.find_by_id(user.id).await;
    let Err(RepoError::Other(cause)) = result else {
        panic!("expected Other, got {result:?}");
    };
    let message = format!("{cause:#}");
    assert!(
        message.contains("email"),
        "the cause names the column: {message}"
    );
    assert!(
        !message.contains("not an email"),
        "the cause hides the value: {message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Races decided by the database

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_first_inserts_exactly_one_becomes_a_verified_admin() {
    let f = fixture().await;
    let repo = Arc::new(f.repo.clone());
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
        f.repo
            .verify_email(admin.id, token.hash(), now())
            .await
            .expect("query")
            .is_none(),
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
        token_rows(&f.pool).await,
        19,
        "every other account keeps its token"
    );
}

#[tokio::test]
async fn promote_if_first_keeps_the_role_once_an_account_exists() {
    let f = fixture().await;
    insert(&f.repo, "first@example.com", "first").await;

    let (mut second, _) = new_user("second@example.com", "second");
    second.promote_if_first = true;
    let second = f.repo.insert(second).await.expect("insert");

    assert_eq!(second.role, Role::Anonymous);
    assert!(!second.email_verified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_inserts_with_one_email_exactly_one_succeeds() {
    let f = fixture().await;
    let repo = Arc::new(f.repo.clone());
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

// ---------------------------------------------------------------------------------------------
// Failed and successful logins

#[tokio::test]
async fn failed_logins_count_up_and_the_one_reaching_the_limit_locks() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;

    let outcomes = [
        f.repo
            .record_failed_login(user.id, 3, lock_notice(user.id))
            .await
            .expect("first"),
        f.repo
            .record_failed_login(user.id, 3, lock_notice(user.id))
            .await
            .expect("second"),
        f.repo
            .record_failed_login(user.id, 3, lock_notice(user.id))
            .await
            .expect("third"),
        f.repo
            .record_failed_login(user.id, 3, lock_notice(user.id))
            .await
            .expect("fourth"),
    ];

    assert_eq!(
        outcomes,
        [
            FailedLogin::Counted {
                attempts: 1,
                locked: false
            },
            FailedLogin::Counted {
                attempts: 2,
                locked: false
            },
            FailedLogin::Counted {
                attempts: 3,
                locked: true
            },
            FailedLogin::AlreadyLocked,
        ]
    );
    let stored = reload(&f.repo, user.id).await;
    assert!(stored.is_locked);
    assert_eq!(
        stored.failed_login_attempts, 3,
        "nothing counts past the lock"
    );
}

#[tokio::test]
async fn a_failed_login_of_an_unknown_account_is_not_found() {
    let f = fixture().await;
    assert!(matches!(
        f.repo
            .record_failed_login(UserId::new(), 3, lock_notice(UserId::new()))
            .await,
        Err(RepoError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_failed_logins_never_count_past_the_lock() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let repo = Arc::new(f.repo.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let repo = Arc::clone(&repo);
        tasks.spawn(async move {
            repo.record_failed_login(user.id, 3, lock_notice(user.id))
                .await
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.expect("task").expect("record_failed_login succeeds"));
    }

    let locking = outcomes
        .iter()
        .filter(|o| matches!(o, FailedLogin::Counted { locked: true, .. }))
        .count();
    let counted = outcomes
        .iter()
        .filter(|o| matches!(o, FailedLogin::Counted { .. }))
        .count();
    assert_eq!(
        locking, 1,
        "exactly one call locks the account: {outcomes:?}"
    );
    assert_eq!(
        unlock_rows(&f.pool).await,
        1,
        "only the locking call stores its unlock token"
    );
    assert_eq!(
        counted, 3,
        "exactly three failures are counted: {outcomes:?}"
    );
    let stored = reload(&f.repo, user.id).await;
    assert_eq!(
        stored.failed_login_attempts, 3,
        "the counter stops at the limit"
    );
    assert!(stored.is_locked);
}

#[tokio::test]
async fn a_successful_login_resets_the_counter_and_records_the_time() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    f.repo
        .record_failed_login(user.id, 3, lock_notice(user.id))
        .await
        .expect("failure");
    f.repo
        .record_failed_login(user.id, 3, lock_notice(user.id))
        .await
        .expect("failure");
    let at = now();

    let logged_in = f
        .repo
        .record_login(user.id, at)
        .await
        .expect("query")
        .expect("an unlocked account logs in");

    assert_eq!(logged_in.failed_login_attempts, 0, "the counter resets");
    assert_eq!(logged_in.last_login_at, Some(at));
    assert_eq!(reload(&f.repo, user.id).await, logged_in);
}

#[tokio::test]
async fn a_locked_or_unknown_account_does_not_log_in() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    f.repo
        .record_failed_login(user.id, 1, lock_notice(user.id))
        .await
        .expect("locking failure");

    assert!(
        f.repo
            .record_login(user.id, now())
            .await
            .expect("query")
            .is_none()
    );
    let stored = reload(&f.repo, user.id).await;
    assert_eq!(
        stored.failed_login_attempts, 1,
        "a locked account keeps its counter"
    );
    assert_eq!(stored.last_login_at, None);
    assert!(
        f.repo
            .record_login(UserId::new(), now())
            .await
            .expect("query")
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Email verification

#[tokio::test]
async fn the_right_token_verifies_once() {
    let f = fixture().await;
    let (user, token) = insert(&f.repo, "ada@example.com", "ada_l").await;

    let verified = f
        .repo
        .verify_email(user.id, token.hash(), now())
        .await
        .expect("query")
        .expect("the right token verifies");
    assert!(verified.email_verified);
    assert_eq!(
        verified.role,
        Role::Authenticated,
        "ANONYMOUS becomes AUTHENTICATED"
    );
    assert!(verified.updated_at > user.updated_at, "updated_at moves");
    assert_eq!(reload(&f.repo, user.id).await, verified);

    assert!(
        f.repo
            .verify_email(user.id, token.hash(), now())
            .await
            .expect("query")
            .is_none(),
        "a used token does not verify again"
    );
    assert_eq!(token_rows(&f.pool).await, 0, "the used token is gone");
}

#[tokio::test]
async fn wrong_expired_or_foreign_tokens_do_not_verify() {
    let f = fixture().await;
    let (user, token) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let (other, other_token) = insert(&f.repo, "bob@example.com", "bob_b").await;

    let cases = [
        ("a wrong token", user.id, RawToken::generate(), now()),
        (
            "an expired token",
            user.id,
            token.clone(),
            now() + TimeDelta::days(2),
        ),
        (
            "another account's token",
            user.id,
            other_token.clone(),
            now(),
        ),
        ("the token for another id", other.id, token.clone(), now()),
        ("an unknown account", UserId::new(), token.clone(), now()),
    ];
    for (case, id, candidate, at) in cases {
        assert!(
            f.repo
                .verify_email(id, candidate.hash(), at)
                .await
                .expect("query")
                .is_none(),
            "{case} must not verify"
        );
    }
    let stored = reload(&f.repo, user.id).await;
    assert!(
        !stored.email_verified && stored.role == Role::Anonymous,
        "nothing changed"
    );
    assert_eq!(
        token_rows(&f.pool).await,
        2,
        "failed attempts use no token up"
    );
}

#[tokio::test]
async fn verifying_keeps_a_role_above_anonymous() {
    let f = fixture().await;
    let (mut manager, token) = new_user("manager@example.com", "the_manager");
    manager.role = Role::Manager;
    let manager = f.repo.insert(manager).await.expect("insert");

    let verified = f
        .repo
        .verify_email(manager.id, token.hash(), now())
        .await
        .expect("query")
        .expect("verifies");
    assert_eq!(verified.role, Role::Manager);
    assert!(verified.email_verified);
}

#[tokio::test]
async fn replacing_the_token_invalidates_the_old_one() {
    let f = fixture().await;
    let (user, old) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let fresh = RawToken::generate();

    f.repo
        .replace_verification_token(
            user.id,
            pending_until(&fresh, now() + TimeDelta::hours(1)),
            verify_mail(user.id, &fresh),
        )
        .await
        .expect("replace");

    assert_eq!(token_rows(&f.pool).await, 1, "one token per account");
    assert!(
        f.repo
            .verify_email(user.id, old.hash(), now())
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        f.repo
            .verify_email(user.id, fresh.hash(), now())
            .await
            .expect("query")
            .is_some()
    );
    assert!(matches!(
        f.repo
            .replace_verification_token(
                UserId::new(),
                pending_until(&fresh, now()),
                verify_mail(user.id, &fresh),
            )
            .await,
        Err(RepoError::NotFound)
    ));
}

// ---------------------------------------------------------------------------------------------
// Updates

#[tokio::test]
async fn an_update_changes_only_the_given_fields() {
    let f = fixture().await;
    let (mut new, _) = new_user("ada@example.com", "ada_l");
    new.profile.last_name = Name::parse("Lovelace").expect("valid");
    new.profile.bio = Bio::parse("Poet of science").expect("valid");
    let before = f.repo.insert(new).await.expect("insert");

    let after = f
        .repo
        .update(
            before.id,
            UserChanges {
                profile: ProfilePatch {
                    first_name: Name::parse("Ada").expect("valid").into(),
                    bio: Patch::Clear,
                    ..ProfilePatch::default()
                },
                ..UserChanges::default()
            },
        )
        .await
        .expect("update");

    assert_eq!(
        after.profile.first_name.as_ref().map(Name::as_str),
        Some("Ada"),
        "set"
    );
    assert_eq!(after.profile.bio, None, "Some(None) clears");
    assert_eq!(
        after.profile.last_name, before.profile.last_name,
        "untouched fields stay"
    );
    assert_eq!(after.email, before.email);
    assert_eq!(after.nickname, before.nickname);
    assert_eq!(after.role, before.role);
    assert_eq!(after.email_verified, before.email_verified);
    assert!(after.updated_at > before.updated_at, "updated_at moves");
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(reload(&f.repo, before.id).await, after);
}

#[tokio::test]
async fn an_update_can_change_every_updatable_field() {
    let f = fixture().await;
    let (before, _) = insert(&f.repo, "ada@example.com", "ada_l").await;

    let after = f
        .repo
        .update(
            before.id,
            UserChanges {
                email: Some(email("Ada.New@Example.com")),
                email_verified: Some(true),
                nickname: Some(nickname("Countess")),
                profile: ProfilePatch {
                    first_name: Name::parse("Ada").expect("valid").into(),
                    last_name: Name::parse("King").expect("valid").into(),
                    bio: Bio::parse("Notes on the engine").expect("valid").into(),
                    linkedin_profile_url: ProfileUrl::parse("https://linkedin.com/in/a")
                        .expect("ok")
                        .into(),
                    github_profile_url: ProfileUrl::parse("https://github.com/a")
                        .expect("ok")
                        .into(),
                },
                role: Some(Role::Manager),
                verification_token: None,
                mails: Vec::new(),
                audit: Vec::new(),
            },
        )
        .await
        .expect("update");

    assert_eq!(after.email.as_str(), "Ada.New@Example.com");
    assert!(after.email_verified);
    assert_eq!(after.nickname.as_str(), "Countess");
    assert_eq!(
        after.profile.last_name.as_ref().map(Name::as_str),
        Some("King")
    );
    assert_eq!(
        after.profile.bio.as_ref().map(Bio::as_str),
        Some("Notes on the engine")
    );
    assert!(
        after.profile.linkedin_profile_url.is_some() && after.profile.github_profile_url.is_some()
    );
    assert_eq!(after.role, Role::Manager);
    assert_eq!(reload(&f.repo, before.id).await, after);
}

#[tokio::test]
async fn an_update_with_a_verification_token_replaces_the_old_one() {
    let f = fixture().await;
    let (user, old) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let fresh = RawToken::generate();

    f.repo
        .update(
            user.id,
            UserChanges {
                email: Some(email("ada.new@example.com")),
                email_verified: Some(false),
                verification_token: Some(pending_until(&fresh, now() + TimeDelta::hours(1))),
                ..UserChanges::default()
            },
        )
        .await
        .expect("update");

    assert_eq!(token_rows(&f.pool).await, 1);
    assert!(
        f.repo
            .verify_email(user.id, old.hash(), now())
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        f.repo
            .verify_email(user.id, fresh.hash(), now())
            .await
            .expect("query")
            .is_some()
    );
}

#[tokio::test]
async fn an_update_to_a_taken_email_or_nickname_is_refused() {
    let f = fixture().await;
    insert(&f.repo, "ada@example.com", "ada_l").await;
    let (bob, _) = insert(&f.repo, "bob@example.com", "bob_b").await;

    let to_email = UserChanges {
        email: Some(email("ADA@example.com")),
        ..UserChanges::default()
    };
    assert!(
        matches!(
            f.repo.update(bob.id, to_email).await,
            Err(RepoError::EmailTaken)
        ),
        "a taken email in other case is EmailTaken"
    );
    let to_nickname = UserChanges {
        nickname: Some(nickname("Ada_L")),
        ..UserChanges::default()
    };
    assert!(
        matches!(
            f.repo.update(bob.id, to_nickname).await,
            Err(RepoError::NicknameTaken)
        ),
        "a taken nickname in other case is NicknameTaken"
    );
    assert_eq!(
        reload(&f.repo, bob.id).await,
        bob,
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn updating_or_deleting_an_unknown_account_is_not_found() {
    let f = fixture().await;
    let changes = UserChanges {
        profile: ProfilePatch {
            bio: Patch::Clear,
            ..ProfilePatch::default()
        },
        ..UserChanges::default()
    };
    assert!(matches!(
        f.repo.update(UserId::new(), changes).await,
        Err(RepoError::NotFound)
    ));
    let demotion = UserChanges {
        role: Some(Role::Authenticated),
        ..UserChanges::default()
    };
    assert!(matches!(
        f.repo.update(UserId::new(), demotion).await,
        Err(RepoError::NotFound)
    ));
    assert!(matches!(
        f.repo.delete(UserId::new(), deletion(UserId::new())).await,
        Err(RepoError::NotFound)
    ));
}

// ---------------------------------------------------------------------------------------------
// The last ADMIN

fn role_change(role: Role) -> UserChanges {
    UserChanges {
        role: Some(role),
        ..UserChanges::default()
    }
}

#[tokio::test]
async fn the_only_admin_can_be_neither_demoted_nor_deleted() {
    let f = fixture().await;
    let admin = insert_with_role(&f.repo, "admin@example.com", "the_admin", Role::Admin).await;
    insert_with_role(&f.repo, "manager@example.com", "the_manager", Role::Manager).await;

    for role in [Role::Manager, Role::Authenticated, Role::Anonymous] {
        assert!(
            matches!(
                f.repo.update(admin.id, role_change(role)).await,
                Err(RepoError::LastAdmin)
            ),
            "demoting the only ADMIN to {role} must be LastAdmin"
        );
    }
    assert!(matches!(
        f.repo.delete(admin.id, deletion(admin.id)).await,
        Err(RepoError::LastAdmin)
    ));
    assert_eq!(
        reload(&f.repo, admin.id).await.role,
        Role::Admin,
        "still ADMIN"
    );

    let same = f
        .repo
        .update(admin.id, role_change(Role::Admin))
        .await
        .expect("keeping the ADMIN role is no demotion");
    assert_eq!(same.role, Role::Admin);
}

#[tokio::test]
async fn one_of_two_admins_can_be_demoted_or_deleted() {
    let f = fixture().await;
    let first = insert_with_role(&f.repo, "a1@example.com", "admin_one", Role::Admin).await;
    let second = insert_with_role(&f.repo, "a2@example.com", "admin_two", Role::Admin).await;

    let demoted = f
        .repo
        .update(first.id, role_change(Role::Manager))
        .await
        .expect("demoting one of two ADMINs");
    assert_eq!(demoted.role, Role::Manager);
    assert!(
        matches!(
            f.repo.update(second.id, role_change(Role::Manager)).await,
            Err(RepoError::LastAdmin)
        ),
        "now the second is the only ADMIN"
    );

    f.repo
        .update(first.id, role_change(Role::Admin))
        .await
        .expect("promoting back");
    f.repo
        .delete(second.id, deletion(second.id))
        .await
        .expect("deleting one of two ADMINs");
    assert!(f.repo.find_by_id(second.id).await.expect("query").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_admins_demoted_concurrently_one_stays() {
    let f = fixture().await;
    for round in 0..5 {
        let a = insert_with_role(
            &f.repo,
            &format!("a{round}@example.com"),
            &format!("adm_a{round}"),
            Role::Admin,
        )
        .await;
        let b = insert_with_role(
            &f.repo,
            &format!("b{round}@example.com"),
            &format!("adm_b{round}"),
            Role::Admin,
        )
        .await;
        // Leave exactly these two ADMINs.
        let mut conn = f.pool.get().await.expect("a connection");
        diesel::update(
            schema::users::table
                .filter(schema::users::role.eq("ADMIN"))
                .filter(schema::users::id.ne_all([a.id.0, b.id.0])),
        )
        .set(schema::users::role.eq("MANAGER"))
        .execute(&mut conn)
        .await
        .expect("demoting earlier rounds");
        drop(conn);

        let (ra, rb) = tokio::join!(
            f.repo.update(a.id, role_change(Role::Manager)),
            f.repo.delete(b.id, deletion(b.id))
        );
        let outcomes = [ra.map(|_| ()), rb.map(|_| ())];
        let ok = outcomes.iter().filter(|r| r.is_ok()).count();
        let last = outcomes
            .iter()
            .filter(|r| matches!(r, Err(RepoError::LastAdmin)))
            .count();
        assert_eq!((ok, last), (1, 1), "round {round}: {outcomes:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Listing and deleting

#[tokio::test]
async fn list_pages_newest_first_with_the_total_of_all_matches() {
    let f = fixture().await;
    let base = now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let (mut user, _) = new_user(&format!("u{i}@example.com"), &format!("user_{i}"));
        user.created_at = base + TimeDelta::seconds(i);
        user.role = if i % 2 == 0 {
            Role::Anonymous
        } else {
            Role::Manager
        };
        ids.push(f.repo.insert(user).await.expect("insert").id);
    }
    let newest_first: Vec<UserId> = ids.iter().rev().copied().collect();

    let page = f
        .repo
        .list(UserQuery {
            skip: 1,
            limit: 2,
            ..UserQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(page.total, 5, "total counts every match, not the page");
    assert_eq!(
        page.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        newest_first[1..3].to_vec(),
        "the second and third newest"
    );

    let past_the_end = f
        .repo
        .list(UserQuery {
            skip: 10,
            limit: 10,
            ..UserQuery::default()
        })
        .await
        .expect("list");
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, 5);

    let managers = f
        .repo
        .list(UserQuery {
            skip: 0,
            limit: 10,
            filter: UserFilter {
                roles: Some(vec![Role::Manager]),
                ..UserFilter::default()
            },
            ..UserQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(managers.total, 2);
    assert_eq!(
        managers.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![ids[3], ids[1]],
        "only MANAGERs, newest first"
    );

    let both = f
        .repo
        .list(UserQuery {
            skip: 0,
            limit: 10,
            filter: UserFilter {
                roles: Some(vec![Role::Manager, Role::Anonymous]),
                ..UserFilter::default()
            },
            ..UserQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(both.total, 5);
    assert_eq!(
        both.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        newest_first
    );
}

#[tokio::test]
async fn list_breaks_ties_in_creation_time_by_id() {
    let f = fixture().await;
    let at = now();
    let mut ids = HashSet::new();
    for i in 0..4 {
        let (mut user, _) = new_user(&format!("t{i}@example.com"), &format!("tie_{i}"));
        user.created_at = at;
        ids.insert(f.repo.insert(user).await.expect("insert").id);
    }
    let first = f
        .repo
        .list(UserQuery {
            skip: 0,
            limit: 2,
            ..UserQuery::default()
        })
        .await
        .expect("list");
    let second = f
        .repo
        .list(UserQuery {
            skip: 2,
            limit: 2,
            ..UserQuery::default()
        })
        .await
        .expect("list");
    let seen: Vec<UserId> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|u| u.id)
        .collect();

    let mut expected: Vec<UserId> = ids.into_iter().collect();
    expected.sort_by_key(|id| std::cmp::Reverse(id.0));
    assert_eq!(
        seen, expected,
        "equal times page by id, descending, without overlap"
    );
}

#[tokio::test]
async fn deleting_an_account_removes_its_token() {
    let f = fixture().await;
    let (ada, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    insert(&f.repo, "bob@example.com", "bob_b").await;
    assert_eq!(token_rows(&f.pool).await, 2);

    f.repo
        .delete(ada.id, deletion(ada.id))
        .await
        .expect("delete");

    assert!(f.repo.find_by_id(ada.id).await.expect("query").is_none());
    assert_eq!(
        token_rows(&f.pool).await,
        1,
        "the token went with the account"
    );
    let mut conn = f.pool.get().await.expect("a connection");
    let left: i64 = schema::email_verification_tokens::table
        .filter(schema::email_verification_tokens::user_id.eq(ada.id.0))
        .select(count_star())
        .get_result(&mut conn)
        .await
        .expect("count");
    assert_eq!(left, 0);
    assert!(
        matches!(
            f.repo.delete(ada.id, deletion(ada.id)).await,
            Err(RepoError::NotFound)
        ),
        "only once"
    );
}

// ---------------------------------------------------------------------------------------------
// Availability

#[tokio::test]
async fn ping_answers_when_the_database_does() {
    let f = fixture().await;
    f.repo.ping().await.expect("the database answers");
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_quickly() {
    // Nothing listens on port 1.
    let pool = connect("postgres://postgres@127.0.0.1:1/nothing", 2)
        .await
        .expect("a pool is built without connecting");
    let repo = PgUserRepository::new(pool);
    let started = std::time::Instant::now();

    assert!(matches!(repo.ping().await, Err(RepoError::Unavailable(_))));
    assert!(matches!(
        repo.find_by_id(UserId::new()).await,
        Err(RepoError::Unavailable(_))
    ));
    assert!(
        started.elapsed() < um_postgres::CONNECT_TIMEOUT * 3,
        "failing took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Profile pictures
// ---------------------------------------------------------------------------------------------

fn picture() -> PictureKeys {
    PictureKeys {
        main: PictureKey::generate(PictureFormat::Jpeg),
        thumbnail: PictureKey::generate(PictureFormat::Jpeg),
    }
}

#[tokio::test]
async fn set_picture_returns_the_keys_it_replaced() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "pic@example.com", "pic_user").await;
    let first = picture();
    let second = picture();

    let (stored, previous) = f
        .repo
        .set_picture(user.id, Some(first.clone()), None)
        .await
        .expect("set");
    assert_eq!(stored.picture, Some(first.clone()));
    assert_eq!(previous, None);

    let (stored, previous) = f
        .repo
        .set_picture(user.id, Some(second.clone()), None)
        .await
        .expect("replaced");
    assert_eq!(stored.picture, Some(second.clone()));
    assert_eq!(previous, Some(first));

    let (stored, previous) = f
        .repo
        .set_picture(user.id, None, None)
        .await
        .expect("cleared");
    assert_eq!(stored.picture, None);
    assert_eq!(previous, Some(second));
    assert_eq!(reload(&f.repo, user.id).await.picture, None);

    let unknown = f
        .repo
        .set_picture(UserId::new(), Some(picture()), None)
        .await;
    assert!(matches!(unknown, Err(RepoError::NotFound)), "{unknown:?}");
}

#[tokio::test]
async fn concurrent_uploads_each_see_the_keys_the_other_replaced() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "race@example.com", "race_user").await;
    let (a, b) = (picture(), picture());
    let (ra, rb) = tokio::join!(
        f.repo.set_picture(user.id, Some(a.clone()), None),
        f.repo.set_picture(user.id, Some(b.clone()), None)
    );
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    // One ran first and replaced nothing; the other replaced exactly what the first set.
    let previous: Vec<Option<PictureKeys>> = vec![ra.1, rb.1];
    assert!(previous.contains(&None), "{previous:?}");
    assert!(
        previous.contains(&Some(a.clone())) || previous.contains(&Some(b.clone())),
        "{previous:?}"
    );
    let final_picture = reload(&f.repo, user.id).await.picture.expect("a picture");
    assert!(
        !previous.contains(&Some(final_picture)),
        "the kept picture was handed out for deletion"
    );
}

#[tokio::test]
async fn deleting_a_user_returns_its_picture_keys() {
    let f = fixture().await;
    let (with, _) = insert(&f.repo, "with@example.com", "with_pic").await;
    let (without, _) = insert(&f.repo, "without@example.com", "without_pic").await;
    let keys = picture();
    f.repo
        .set_picture(with.id, Some(keys.clone()), None)
        .await
        .expect("set");

    assert_eq!(
        f.repo
            .delete(with.id, deletion(with.id))
            .await
            .expect("deleted"),
        Some(keys)
    );
    assert_eq!(
        f.repo
            .delete(without.id, deletion(without.id))
            .await
            .expect("deleted"),
        None
    );
}

#[tokio::test]
async fn referenced_picture_keys_names_only_keys_rows_point_at() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ref@example.com", "ref_user").await;
    let keys = picture();
    f.repo
        .set_picture(user.id, Some(keys.clone()), None)
        .await
        .expect("set");
    let orphan = PictureKey::generate(PictureFormat::Png);

    let referenced = f
        .repo
        .referenced_picture_keys(vec![
            keys.main.to_string(),
            keys.thumbnail.to_string(),
            orphan.to_string(),
        ])
        .await
        .expect("looked up");

    let expected: HashSet<String> = [keys.main.to_string(), keys.thumbnail.to_string()].into();
    assert_eq!(referenced, expected);
    assert!(
        f.repo
            .referenced_picture_keys(Vec::new())
            .await
            .expect("empty")
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Nicknames, PRO status and passwords
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn find_by_nickname_ignores_case_and_finds_nothing_for_an_unknown_one() {
    let f = fixture().await;
    let (grace, _) = insert(&f.repo, "grace@example.com", "Grace_Hopper").await;
    insert(&f.repo, "alan@example.com", "alan_t").await;

    for variant in ["Grace_Hopper", "grace_hopper", "GRACE_HOPPER"] {
        let found = f
            .repo
            .find_by_nickname(&nickname(variant))
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("{variant} not found"));
        assert_eq!(found, grace, "{variant}");
        assert_eq!(found.nickname.as_str(), "Grace_Hopper", "casing is kept");
    }
    assert!(
        f.repo
            .find_by_nickname(&nickname("grace_hopper_2"))
            .await
            .expect("query")
            .is_none()
    );
}

#[tokio::test]
async fn taken_nicknames_names_the_lower_cased_forms_of_exactly_the_taken_candidates() {
    let f = fixture().await;
    insert(&f.repo, "a@example.com", "Brisk_Otter_1").await;
    insert(&f.repo, "b@example.com", "calm_heron_2").await;
    insert(&f.repo, "c@example.com", "not_asked_about").await;

    let taken = f
        .repo
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
        f.repo
            .taken_nicknames(Vec::new())
            .await
            .expect("empty")
            .is_empty()
    );
}

#[tokio::test]
async fn set_professional_changes_the_status_only_when_it_differs_and_stamps_the_given_time() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "pro@example.com", "pro_user").await;
    let upgraded_at = now() - TimeDelta::hours(2);

    let upgraded = f
        .repo
        .set_professional(
            user.id,
            true,
            upgraded_at,
            pro_mail(true),
            pro_event(user.id, true),
        )
        .await
        .expect("query")
        .expect("false → true is a change");
    assert!(upgraded.is_professional);
    assert_eq!(upgraded.professional_status_updated_at, Some(upgraded_at));
    assert!(upgraded.updated_at > user.updated_at, "updated_at moves");
    assert_eq!(reload(&f.repo, user.id).await, upgraded);

    let again = f
        .repo
        .set_professional(
            user.id,
            true,
            now(),
            pro_mail(true),
            pro_event(user.id, true),
        )
        .await
        .expect("query");
    assert!(again.is_none(), "true → true is no change: {again:?}");
    let stored = reload(&f.repo, user.id).await;
    assert!(stored.is_professional);
    assert_eq!(
        stored.professional_status_updated_at,
        Some(upgraded_at),
        "the time of the real change is kept"
    );

    let revoked_at = now() - TimeDelta::hours(1);
    let revoked = f
        .repo
        .set_professional(
            user.id,
            false,
            revoked_at,
            pro_mail(false),
            pro_event(user.id, false),
        )
        .await
        .expect("query")
        .expect("true → false is a change");
    assert!(!revoked.is_professional);
    assert_eq!(revoked.professional_status_updated_at, Some(revoked_at));
    assert_eq!(reload(&f.repo, user.id).await, revoked);

    assert!(
        f.repo
            .set_professional(
                user.id,
                false,
                now(),
                pro_mail(false),
                pro_event(user.id, false)
            )
            .await
            .expect("query")
            .is_none(),
        "false → false is no change"
    );
}

#[tokio::test]
async fn set_professional_of_an_unknown_account_is_none() {
    let f = fixture().await;
    let result = f
        .repo
        .set_professional(
            UserId::new(),
            true,
            now(),
            pro_mail(true),
            pro_event(UserId::new(), true),
        )
        .await
        .expect("query");
    assert!(result.is_none(), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_concurrent_upgrades_exactly_one_changes_the_status() {
    let f = fixture().await;
    for round in 0..5 {
        let (user, _) = insert(
            &f.repo,
            &format!("racer{round}@example.com"),
            &format!("pro_racer_{round}"),
        )
        .await;
        let (first_at, second_at) = (now() - TimeDelta::minutes(2), now() - TimeDelta::minutes(1));

        let (a, b) = tokio::join!(
            f.repo.set_professional(
                user.id,
                true,
                first_at,
                pro_mail(true),
                pro_event(user.id, true)
            ),
            f.repo.set_professional(
                user.id,
                true,
                second_at,
                pro_mail(true),
                pro_event(user.id, true)
            )
        );

        let (a, b) = (a.expect("a"), b.expect("b"));
        let winners: Vec<&User> = [&a, &b].into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "round {round}: {a:?} / {b:?}");
        let stored = reload(&f.repo, user.id).await;
        assert!(stored.is_professional);
        assert_eq!(
            stored.professional_status_updated_at, winners[0].professional_status_updated_at,
            "round {round}: the winner's time is stored"
        );
    }
}

#[tokio::test]
async fn set_password_hash_replaces_the_stored_hash_and_refuses_an_unknown_account() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "pw@example.com", "pw_user").await;
    let (other, _) = insert(&f.repo, "other@example.com", "other_user").await;
    let new_hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA".into());

    f.repo
        .set_password_hash(user.id, new_hash.clone(), None)
        .await
        .expect("replaced");

    let stored = reload(&f.repo, user.id).await;
    assert_eq!(stored.password_hash, new_hash);
    assert!(stored.updated_at > user.updated_at, "updated_at moves");
    assert_eq!(
        reload(&f.repo, other.id).await.password_hash,
        other.password_hash,
        "other accounts keep theirs"
    );

    let unknown = f
        .repo
        .set_password_hash(UserId::new(), new_hash, None)
        .await;
    assert!(matches!(unknown, Err(RepoError::NotFound)), "{unknown:?}");
}

// ---------------------------------------------------------------------------------------------
// Password reset and unlock links
// ---------------------------------------------------------------------------------------------

fn hash_of(label: &str) -> PasswordHash {
    PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${label}"))
}

/// Locks the account with one failure and returns the unlock token stored with the lock.
async fn lock(repo: &PgUserRepository, id: UserId) -> RawToken {
    let token = RawToken::generate();
    let outcome = repo
        .record_failed_login(id, 1, lock_notice_for(id, &token))
        .await
        .expect("record_failed_login");
    assert!(
        matches!(outcome, FailedLogin::Counted { locked: true, .. }),
        "{outcome:?}"
    );
    token
}

/// Lifts the lock behind the repository's back, as staff would, keeping the unlock token.
async fn unlock_by_hand(pool: &Pool, id: UserId) {
    let mut conn = pool.get().await.expect("a connection");
    diesel::update(schema::users::table.find(id.0))
        .set((
            schema::users::is_locked.eq(false),
            schema::users::failed_login_attempts.eq(0),
        ))
        .execute(&mut conn)
        .await
        .expect("unlocking by hand");
}

#[tokio::test]
async fn a_reset_token_sets_the_password_once() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let token = request_reset(&f.repo, user.id, TimeDelta::hours(1)).await;

    let reset = f
        .repo
        .reset_password(
            token.hash(),
            hash_of("first"),
            now(),
            MailKind::PasswordChanged,
        )
        .await
        .expect("query")
        .expect("the right token resets");
    assert_eq!(reset.password_hash, hash_of("first"));
    assert!(reset.updated_at > user.updated_at, "updated_at moves");
    assert_eq!(reload(&f.repo, user.id).await, reset);

    let again = f
        .repo
        .reset_password(
            token.hash(),
            hash_of("second"),
            now(),
            MailKind::PasswordChanged,
        )
        .await
        .expect("query");
    assert!(again.is_none(), "a used token does not reset again");
    assert_eq!(
        reload(&f.repo, user.id).await.password_hash,
        hash_of("first")
    );
    assert_eq!(reset_rows(&f.pool).await, 0, "the used token is gone");
}

#[tokio::test]
async fn an_expired_or_unknown_reset_token_changes_nothing() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let token = request_reset(&f.repo, user.id, TimeDelta::hours(1)).await;

    for (case, candidate, at) in [
        (
            "an expired token",
            token.clone(),
            now() + TimeDelta::hours(2),
        ),
        ("an unknown token", RawToken::generate(), now()),
    ] {
        let result = f
            .repo
            .reset_password(
                candidate.hash(),
                hash_of("never"),
                at,
                MailKind::PasswordChanged,
            )
            .await
            .expect("query");
        assert!(result.is_none(), "{case} must not reset");
    }
    assert_eq!(reload(&f.repo, user.id).await, user, "nothing changed");
    assert!(
        f.repo
            .reset_password(
                token.hash(),
                hash_of("later"),
                now(),
                MailKind::PasswordChanged
            )
            .await
            .expect("query")
            .is_some(),
        "failed attempts use no token up"
    );
}

#[tokio::test]
async fn a_reset_clears_the_lock_and_kills_every_other_token_of_the_account() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let (other, _) = insert(&f.repo, "bob@example.com", "bob_b").await;
    let first = request_reset(&f.repo, user.id, TimeDelta::hours(1)).await;
    let second = request_reset(&f.repo, user.id, TimeDelta::hours(1)).await;
    let others = request_reset(&f.repo, other.id, TimeDelta::hours(1)).await;
    let unlock = lock(&f.repo, user.id).await;
    assert_eq!(reset_rows(&f.pool).await, 3, "earlier tokens stay valid");

    let reset = f
        .repo
        .reset_password(
            second.hash(),
            hash_of("new"),
            now(),
            MailKind::PasswordChanged,
        )
        .await
        .expect("query")
        .expect("either token resets");
    assert!(!reset.is_locked, "the lock clears");
    assert_eq!(reset.failed_login_attempts, 0, "the counter clears");

    assert!(
        f.repo
            .reset_password(
                first.hash(),
                hash_of("other"),
                now(),
                MailKind::PasswordChanged
            )
            .await
            .expect("query")
            .is_none(),
        "the other reset token died"
    );
    assert_eq!(unlock_rows(&f.pool).await, 0, "the unlock token died");
    assert!(
        f.repo
            .unlock_with_token(unlock.hash(), now())
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        f.repo
            .reset_password(
                others.hash(),
                hash_of("bobs"),
                now(),
                MailKind::PasswordChanged
            )
            .await
            .expect("query")
            .is_some(),
        "another account's token is untouched"
    );
}

#[tokio::test]
async fn a_reset_for_an_unknown_account_is_not_found() {
    let f = fixture().await;
    let token = RawToken::generate();
    let result = f
        .repo
        .create_password_reset(
            UserId::new(),
            pending_until(&token, now() + TimeDelta::hours(1)),
            mail(
                "someone@example.com",
                MailKind::PasswordReset {
                    token: token.clone(),
                },
            ),
        )
        .await;
    assert!(matches!(result, Err(RepoError::NotFound)), "{result:?}");
    assert_eq!(reset_rows(&f.pool).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_resets_of_one_account_exactly_one_succeeds() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(request_reset(&f.repo, user.id, TimeDelta::hours(1)).await);
    }
    let repo = Arc::new(f.repo.clone());
    let mut tasks = tokio::task::JoinSet::new();
    // Each token twice: the same token and the other tokens of the account race.
    for (i, token) in tokens.iter().chain(&tokens).enumerate() {
        let repo = Arc::clone(&repo);
        let token = token.clone();
        tasks.spawn(async move {
            repo.reset_password(
                token.hash(),
                hash_of(&format!("racer{i}")),
                now(),
                MailKind::PasswordChanged,
            )
            .await
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Some(user) = joined.expect("task").expect("no error, no deadlock") {
            winners.push(user);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        reload(&f.repo, user.id).await.password_hash,
        winners[0].password_hash
    );
    assert_eq!(reset_rows(&f.pool).await, 0);
}

#[tokio::test]
async fn the_unlock_token_unlocks_a_locked_account_once() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let token = lock(&f.repo, user.id).await;
    assert_eq!(unlock_rows(&f.pool).await, 1);
    assert!(
        f.repo
            .record_login(user.id, now())
            .await
            .expect("query")
            .is_none(),
        "locked"
    );

    let unlocked = f
        .repo
        .unlock_with_token(token.hash(), now())
        .await
        .expect("query")
        .expect("the right token unlocks");
    assert!(!unlocked.is_locked);
    assert_eq!(unlocked.failed_login_attempts, 0);
    assert_eq!(reload(&f.repo, user.id).await, unlocked);
    assert_eq!(unlock_rows(&f.pool).await, 0, "the used token is gone");

    assert!(
        f.repo
            .unlock_with_token(token.hash(), now())
            .await
            .expect("query")
            .is_none(),
        "a used token does not unlock again"
    );
    assert!(
        f.repo
            .record_login(user.id, now())
            .await
            .expect("query")
            .is_some(),
        "the account logs in again"
    );
}

#[tokio::test]
async fn an_unlock_token_does_nothing_when_expired_wrong_or_the_account_is_not_locked() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let token = lock(&f.repo, user.id).await;

    for (case, candidate, at) in [
        (
            "an expired token",
            token.clone(),
            now() + TimeDelta::days(2),
        ),
        ("an unknown token", RawToken::generate(), now()),
    ] {
        let result = f
            .repo
            .unlock_with_token(candidate.hash(), at)
            .await
            .expect("query");
        assert!(result.is_none(), "{case} must not unlock");
        assert!(reload(&f.repo, user.id).await.is_locked, "{case}");
    }

    unlock_by_hand(&f.pool, user.id).await;
    let before = reload(&f.repo, user.id).await;
    let result = f
        .repo
        .unlock_with_token(token.hash(), now())
        .await
        .expect("query");
    assert!(result.is_none(), "the account is not locked: {result:?}");
    assert_eq!(reload(&f.repo, user.id).await, before, "nothing changed");
}

#[tokio::test]
async fn a_new_lock_replaces_the_earlier_unlock_token() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let earlier = lock(&f.repo, user.id).await;
    unlock_by_hand(&f.pool, user.id).await;
    let later = lock(&f.repo, user.id).await;

    assert_eq!(
        unlock_rows(&f.pool).await,
        1,
        "one unlock token per account"
    );
    assert!(
        f.repo
            .unlock_with_token(earlier.hash(), now())
            .await
            .expect("query")
            .is_none(),
        "the earlier lock's link is dead"
    );
    assert!(
        f.repo
            .unlock_with_token(later.hash(), now())
            .await
            .expect("query")
            .is_some()
    );
}

#[tokio::test]
async fn deleting_an_account_removes_its_reset_and_unlock_tokens() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    request_reset(&f.repo, user.id, TimeDelta::hours(1)).await;
    lock(&f.repo, user.id).await;

    f.repo
        .delete(user.id, deletion(user.id))
        .await
        .expect("delete");

    assert_eq!(reset_rows(&f.pool).await, 0);
    assert_eq!(unlock_rows(&f.pool).await, 0);
}

#[tokio::test]
async fn a_password_change_ends_the_reset_and_unlock_tokens_of_the_account_only() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    let (other, _) = insert(&f.repo, "bob@example.com", "bob_b").await;
    let mailed = request_reset(&f.repo, user.id, TimeDelta::hours(1)).await;
    lock(&f.repo, user.id).await;
    let others = request_reset(&f.repo, other.id, TimeDelta::hours(1)).await;

    f.repo
        .set_password_hash(
            user.id,
            hash_of("changed"),
            Some(mail("ada@example.com", MailKind::PasswordChanged)),
        )
        .await
        .expect("set_password_hash");

    assert_eq!(unlock_rows(&f.pool).await, 0, "the unlock link died");
    assert!(
        f.repo
            .reset_password(
                mailed.hash(),
                hash_of("attacker"),
                now(),
                MailKind::PasswordChanged
            )
            .await
            .expect("query")
            .is_none(),
        "a reset link mailed before the change no longer works"
    );
    assert!(
        f.repo
            .reset_password(
                others.hash(),
                hash_of("bobs"),
                now(),
                MailKind::PasswordChanged
            )
            .await
            .expect("query")
            .is_some(),
        "another account's token is untouched"
    );
}

#[tokio::test]
async fn an_email_change_ends_the_reset_and_unlock_tokens_and_other_changes_do_not() {
    let f = fixture().await;
    let (user, _) = insert(&f.repo, "ada@example.com", "ada_l").await;
    request_reset(&f.repo, user.id, TimeDelta::hours(1)).await;
    f.repo
        .update(
            user.id,
            UserChanges {
                profile: ProfilePatch {
                    first_name: Name::parse("Ada").expect("valid").into(),
                    ..ProfilePatch::default()
                },
                ..UserChanges::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(reset_rows(&f.pool).await, 1, "a name change keeps the link");
    lock(&f.repo, user.id).await;

    f.repo
        .update(
            user.id,
            UserChanges {
                email: Some(email("ada.new@example.com")),
                ..UserChanges::default()
            },
        )
        .await
        .expect("update");

    assert_eq!(
        reset_rows(&f.pool).await,
        0,
        "the reset link to the old address died"
    );
    assert_eq!(unlock_rows(&f.pool).await, 0, "so did the unlock link");
}
