//! The single-use tokens: email verification, password reset and unlock links, their expiry, and what ends them.

#![allow(
    clippy::too_many_lines,
    reason = "a contract test reads best in one piece"
)]

use super::*;
use crate::{
    model::{Name, ProfilePatch},
    ports::RepoError,
};

pub async fn the_right_token_verifies_once(h: &dyn Harness) {
    let repo = h.repo();
    let (user, token) = insert(&*repo, "ada@example.com", "ada_l").await;

    let verified = verify_with(&*repo, user.id, &token)
        .await
        .expect("the right token verifies");
    assert!(verified.email_verified);
    assert_eq!(
        verified.role,
        Role::Authenticated,
        "ANONYMOUS becomes AUTHENTICATED"
    );
    assert!(verified.updated_at > user.updated_at, "updated_at moves");
    assert_eq!(reload(&*repo, user.id).await, verified);

    assert!(
        verify_with(&*repo, user.id, &token).await.is_none(),
        "a used token does not verify again"
    );
    assert_eq!(h.tokens().await.verification, 0, "the used token is gone");
}

pub async fn wrong_expired_or_foreign_tokens_do_not_verify(h: &dyn Harness) {
    let repo = h.repo();
    let (user, token) = insert(&*repo, "ada@example.com", "ada_l").await;
    let (other, other_token) = insert(&*repo, "bob@example.com", "bob_b").await;

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
            repo.verify_email(id, candidate.hash(), at)
                .await
                .expect("query")
                .is_none(),
            "{case} must not verify"
        );
    }
    let stored = reload(&*repo, user.id).await;
    assert!(
        !stored.email_verified && stored.role == Role::Anonymous,
        "nothing changed"
    );
    assert_eq!(
        h.tokens().await.verification,
        2,
        "failed attempts use no token up"
    );
}

pub async fn verifying_keeps_a_role_above_anonymous(h: &dyn Harness) {
    let repo = h.repo();
    let (mut manager, token) = new_user("manager@example.com", "the_manager");
    manager.role = Role::Manager;
    let manager = repo.insert(manager).await.expect("insert");

    let verified = verify_with(&*repo, manager.id, &token)
        .await
        .expect("verifies");
    assert_eq!(verified.role, Role::Manager);
    assert!(verified.email_verified);
}

pub async fn replacing_the_token_invalidates_the_old_one(h: &dyn Harness) {
    let repo = h.repo();
    let (user, old) = insert(&*repo, "ada@example.com", "ada_l").await;
    let fresh = RawToken::generate();

    repo.replace_verification_token(
        user.id,
        pending_until(&fresh, now() + TimeDelta::hours(1)),
        verify_mail(user.id, &fresh),
    )
    .await
    .expect("replace");

    assert_eq!(h.tokens().await.verification, 1, "one token per account");
    assert!(verify_with(&*repo, user.id, &old).await.is_none());
    assert!(verify_with(&*repo, user.id, &fresh).await.is_some());
    assert!(matches!(
        repo.replace_verification_token(
            UserId::new(),
            pending_until(&fresh, now()),
            verify_mail(user.id, &fresh),
        )
        .await,
        Err(RepoError::NotFound)
    ));
}

pub async fn token_requests_queue_their_mail_and_unknown_accounts_queue_nothing(h: &dyn Harness) {
    let repo = h.repo();
    let user = verified(&*repo, "ada@example.com", "ada_l").await;
    let verification = RawToken::generate();
    let verify = mail(
        "ada@example.com",
        MailKind::VerifyEmail {
            user_id: user.id,
            token: verification.clone(),
        },
    );
    let reset_token = RawToken::generate();
    let reset = mail(
        "ada@example.com",
        MailKind::PasswordReset {
            token: reset_token.clone(),
        },
    );

    repo.replace_verification_token(user.id, pending(&verification), verify.clone())
        .await
        .expect("replace_verification_token");
    repo.create_password_reset(user.id, pending(&reset_token), reset.clone())
        .await
        .expect("create_password_reset");
    assert_eq!(h.take_mails().await, vec![verify.clone(), reset.clone()]);

    let gone = UserId::new();
    assert!(matches!(
        repo.replace_verification_token(gone, pending(&verification), verify)
            .await,
        Err(RepoError::NotFound)
    ));
    assert!(matches!(
        repo.create_password_reset(gone, pending(&RawToken::generate()), reset)
            .await,
        Err(RepoError::NotFound)
    ));
    assert_eq!(h.take_mails().await.len(), 0);
}

pub async fn a_reset_token_sets_the_password_once(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    let token = request_reset(&*repo, user.id, TimeDelta::hours(1)).await;

    let reset = reset_with(&*repo, &token, "first")
        .await
        .expect("the right token resets");
    assert_eq!(reset.password_hash, hash_of("first"));
    assert!(reset.updated_at > user.updated_at, "updated_at moves");
    assert_eq!(reload(&*repo, user.id).await, reset);

    let again = reset_with(&*repo, &token, "second").await;
    assert!(again.is_none(), "a used token does not reset again");
    assert_eq!(
        reload(&*repo, user.id).await.password_hash,
        hash_of("first")
    );
    assert_eq!(h.tokens().await.reset, 0, "the used token is gone");
}

pub async fn an_expired_or_unknown_reset_token_changes_nothing(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    let token = request_reset(&*repo, user.id, TimeDelta::hours(1)).await;

    for (case, candidate, at) in [
        (
            "an expired token",
            token.clone(),
            now() + TimeDelta::hours(2),
        ),
        ("an unknown token", RawToken::generate(), now()),
    ] {
        let result = repo
            .reset_password(
                candidate.hash(),
                hash_of("never"),
                at,
                MailKind::PasswordChanged,
                EndSessions::All,
            )
            .await
            .expect("query");
        assert!(result.is_none(), "{case} must not reset");
    }
    assert_eq!(reload(&*repo, user.id).await, user, "nothing changed");
    assert!(
        reset_with(&*repo, &token, "later").await.is_some(),
        "failed attempts use no token up"
    );
}

pub async fn a_reset_clears_the_lock_and_kills_every_other_token_of_the_account(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    let (other, _) = insert(&*repo, "bob@example.com", "bob_b").await;
    let first = request_reset(&*repo, user.id, TimeDelta::hours(1)).await;
    let second = request_reset(&*repo, user.id, TimeDelta::hours(1)).await;
    let others = request_reset(&*repo, other.id, TimeDelta::hours(1)).await;
    let unlock = lock(&*repo, user.id).await;
    assert_eq!(h.tokens().await.reset, 3, "earlier tokens stay valid");

    let reset = reset_with(&*repo, &second, "new")
        .await
        .expect("either token resets");
    assert!(!reset.is_locked, "the lock clears");
    assert_eq!(reset.failed_login_attempts, 0, "the counter clears");

    assert!(
        reset_with(&*repo, &first, "other").await.is_none(),
        "the other reset token died"
    );
    assert_eq!(h.tokens().await.unlock, 0, "the unlock token died");
    assert!(unlock_with(&*repo, &unlock).await.is_none());
    assert!(
        reset_with(&*repo, &others, "bobs").await.is_some(),
        "another account's token is untouched"
    );
}

pub async fn a_reset_for_an_unknown_account_is_not_found(h: &dyn Harness) {
    let repo = h.repo();
    let token = RawToken::generate();
    let result = repo
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
    assert_eq!(h.tokens().await.reset, 0);
}

pub async fn of_concurrent_resets_of_one_account_exactly_one_succeeds(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(request_reset(&*repo, user.id, TimeDelta::hours(1)).await);
    }
    let repo = h.repo();
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
                EndSessions::All,
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
        reload(&*repo, user.id).await.password_hash,
        winners[0].password_hash
    );
    assert_eq!(h.tokens().await.reset, 0);
}

pub async fn the_unlock_token_unlocks_a_locked_account_once(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    let token = lock(&*repo, user.id).await;
    assert_eq!(h.tokens().await.unlock, 1);
    assert!(
        repo.record_login(user.id, now())
            .await
            .expect("query")
            .is_none(),
        "locked"
    );

    let unlocked = unlock_with(&*repo, &token)
        .await
        .expect("the right token unlocks");
    assert!(!unlocked.is_locked);
    assert_eq!(unlocked.failed_login_attempts, 0);
    assert_eq!(reload(&*repo, user.id).await, unlocked);
    assert_eq!(h.tokens().await.unlock, 0, "the used token is gone");

    assert!(
        unlock_with(&*repo, &token).await.is_none(),
        "a used token does not unlock again"
    );
    assert!(
        repo.record_login(user.id, now())
            .await
            .expect("query")
            .is_some(),
        "the account logs in again"
    );
}

pub async fn an_unlock_token_does_nothing_when_expired_wrong_or_the_account_is_not_locked(
    h: &dyn Harness,
) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    let token = lock(&*repo, user.id).await;

    for (case, candidate, at) in [
        (
            "an expired token",
            token.clone(),
            now() + TimeDelta::days(2),
        ),
        ("an unknown token", RawToken::generate(), now()),
    ] {
        let result = repo
            .unlock_with_token(candidate.hash(), at)
            .await
            .expect("query");
        assert!(result.is_none(), "{case} must not unlock");
        assert!(reload(&*repo, user.id).await.is_locked, "{case}");
    }

    h.lift_lock_keeping_tokens(user.id).await;
    let before = reload(&*repo, user.id).await;
    let result = unlock_with(&*repo, &token).await;
    assert!(result.is_none(), "the account is not locked: {result:?}");
    assert_eq!(reload(&*repo, user.id).await, before, "nothing changed");
}

pub async fn a_new_lock_replaces_the_earlier_unlock_token(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    let earlier = lock(&*repo, user.id).await;
    h.lift_lock_keeping_tokens(user.id).await;
    let later = lock(&*repo, user.id).await;

    assert_eq!(h.tokens().await.unlock, 1, "one unlock token per account");
    assert!(
        unlock_with(&*repo, &earlier).await.is_none(),
        "the earlier lock's link is dead"
    );
    assert!(unlock_with(&*repo, &later).await.is_some());
}

pub async fn deleting_an_account_removes_its_reset_and_unlock_tokens(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    request_reset(&*repo, user.id, TimeDelta::hours(1)).await;
    lock(&*repo, user.id).await;

    repo.delete(user.id, deletion(user.id))
        .await
        .expect("delete");

    assert_eq!(h.tokens().await.reset, 0);
    assert_eq!(h.tokens().await.unlock, 0);
}

pub async fn a_password_change_ends_the_reset_and_unlock_tokens_of_the_account_only(
    h: &dyn Harness,
) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    let (other, _) = insert(&*repo, "bob@example.com", "bob_b").await;
    let mailed = request_reset(&*repo, user.id, TimeDelta::hours(1)).await;
    lock(&*repo, user.id).await;
    let others = request_reset(&*repo, other.id, TimeDelta::hours(1)).await;

    repo.set_password_hash(
        user.id,
        hash_of("changed"),
        Some(PasswordChanged {
            notice: mail("ada@example.com", MailKind::PasswordChanged),
            end_sessions: EndSessions::All,
        }),
    )
    .await
    .expect("set_password_hash");

    assert_eq!(h.tokens().await.unlock, 0, "the unlock link died");
    assert!(
        reset_with(&*repo, &mailed, "attacker").await.is_none(),
        "a reset link mailed before the change no longer works"
    );
    assert!(
        reset_with(&*repo, &others, "bobs").await.is_some(),
        "another account's token is untouched"
    );
}

pub async fn an_email_change_ends_the_reset_and_unlock_tokens_and_other_changes_do_not(
    h: &dyn Harness,
) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    request_reset(&*repo, user.id, TimeDelta::hours(1)).await;
    repo.update(
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
    assert_eq!(h.tokens().await.reset, 1, "a name change keeps the link");
    lock(&*repo, user.id).await;

    repo.update(
        user.id,
        UserChanges {
            email: Some(email("ada.new@example.com")),
            ..UserChanges::default()
        },
    )
    .await
    .expect("update");

    assert_eq!(
        h.tokens().await.reset,
        0,
        "the reset link to the old address died"
    );
    assert_eq!(h.tokens().await.unlock, 0, "so did the unlock link");
}

pub async fn a_reset_appends_unlocked_by_the_account_only_when_it_lifts_a_lock(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;

    let token = request_reset(&*repo, ada.id, TimeDelta::days(1)).await;
    let reset = reset_with(&*repo, &token, "new").await;
    assert!(reset.is_some());
    assert!(audit_events(h).await.is_empty(), "nothing was locked");

    lock(&*repo, ada.id).await;
    let token = request_reset(&*repo, ada.id, TimeDelta::days(1)).await;
    let reset = reset_with(&*repo, &token, "new")
        .await
        .expect("the token qualifies");
    assert!(!reset.is_locked);
    assert_eq!(
        audit_events(h).await,
        vec![locked_event(ada.id), unlocked_by_itself(ada.id)]
    );

    let used = reset_with(&*repo, &token, "new").await;
    assert!(used.is_none());
    assert_eq!(
        audit_events(h).await.len(),
        2,
        "a used token appends nothing"
    );
}

pub async fn the_unlock_link_appends_unlocked_by_the_account(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    let token = lock(&*repo, ada.id).await;
    let unlocked = repo
        .unlock_with_token(token.hash(), now())
        .await
        .expect("unlock_with_token")
        .expect("the token qualifies");
    assert!(!unlocked.is_locked);
    assert_eq!(
        audit_events(h).await,
        vec![locked_event(ada.id), unlocked_by_itself(ada.id)]
    );

    let again = repo
        .unlock_with_token(token.hash(), now())
        .await
        .expect("unlock_with_token");
    assert!(again.is_none());
    assert_eq!(
        audit_events(h).await.len(),
        2,
        "a used token appends nothing"
    );
}
