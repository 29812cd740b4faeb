//! Failed and successful logins: the counter, the lock it reaches, what the locking failure stores, and lifting a lock.

#![allow(
    clippy::too_many_lines,
    reason = "a contract test reads best in one piece"
)]

use super::*;
use crate::ports::RepoError;

pub async fn failed_logins_count_up_and_the_one_reaching_the_limit_locks(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;

    let outcomes = [
        fail_login(&*repo, user.id, 3, lock_notice(user.id)).await,
        fail_login(&*repo, user.id, 3, lock_notice(user.id)).await,
        fail_login(&*repo, user.id, 3, lock_notice(user.id)).await,
        fail_login(&*repo, user.id, 3, lock_notice(user.id)).await,
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
    let stored = reload(&*repo, user.id).await;
    assert!(stored.is_locked);
    assert_eq!(
        stored.failed_login_attempts, 3,
        "nothing counts past the lock"
    );
}

pub async fn a_failed_login_of_an_unknown_account_is_not_found(h: &dyn Harness) {
    let repo = h.repo();
    assert!(matches!(
        repo.record_failed_login(UserId::new(), 3, lock_notice(UserId::new()))
            .await,
        Err(RepoError::NotFound)
    ));
}

pub async fn parallel_failed_logins_never_count_past_the_lock(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    let repo = h.repo();
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
        h.tokens().await.unlock,
        1,
        "only the locking call stores its unlock token"
    );
    assert_eq!(
        counted, 3,
        "exactly three failures are counted: {outcomes:?}"
    );
    let stored = reload(&*repo, user.id).await;
    assert_eq!(
        stored.failed_login_attempts, 3,
        "the counter stops at the limit"
    );
    assert!(stored.is_locked);
}

pub async fn a_successful_login_resets_the_counter_and_records_the_time(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    fail_login(&*repo, user.id, 3, lock_notice(user.id)).await;
    fail_login(&*repo, user.id, 3, lock_notice(user.id)).await;
    let at = now();

    let logged_in = repo
        .record_login(user.id, at)
        .await
        .expect("query")
        .expect("an unlocked account logs in");

    assert_eq!(logged_in.failed_login_attempts, 0, "the counter resets");
    assert_eq!(logged_in.last_login_at, Some(at));
    assert_eq!(reload(&*repo, user.id).await, logged_in);
}

pub async fn a_locked_or_unknown_account_does_not_log_in(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    fail_login(&*repo, user.id, 1, lock_notice(user.id)).await;

    assert!(
        repo.record_login(user.id, now())
            .await
            .expect("query")
            .is_none()
    );
    let stored = reload(&*repo, user.id).await;
    assert_eq!(
        stored.failed_login_attempts, 1,
        "a locked account keeps its counter"
    );
    assert_eq!(stored.last_login_at, None);
    assert!(
        repo.record_login(UserId::new(), now())
            .await
            .expect("query")
            .is_none()
    );
}

pub async fn only_the_failure_that_locks_queues_the_locked_email_and_stores_the_unlock_token(
    h: &dyn Harness,
) {
    let repo = h.repo();
    let user = verified(&*repo, "ada@example.com", "ada_l").await;
    let notice = |token: &RawToken| LockNotice {
        end_sessions: EndSessions::All,
        unlock_token: pending(token),
        audit: locked_event(user.id),
        mail: mail(
            "ada@example.com",
            MailKind::AccountLocked {
                unlock_token: token.clone(),
            },
        ),
    };

    for attempt in 1..=2 {
        let outcome = fail_login(&*repo, user.id, 3, notice(&RawToken::generate())).await;
        assert_eq!(
            outcome,
            FailedLogin::Counted {
                attempts: attempt,
                locked: false
            }
        );
    }
    assert_eq!(h.take_mails().await.len(), 0, "no lock, no email");
    assert_eq!(h.tokens().await.unlock, 0, "no lock, no token");

    let token = RawToken::generate();
    let locking = notice(&token);
    let outcome = fail_login(&*repo, user.id, 3, locking.clone()).await;
    assert_eq!(
        outcome,
        FailedLogin::Counted {
            attempts: 3,
            locked: true
        }
    );
    assert_eq!(h.take_mails().await, vec![locking.mail]);
    assert_eq!(h.tokens().await.unlock, 1);

    let outcome = fail_login(&*repo, user.id, 3, notice(&RawToken::generate())).await;
    assert_eq!(outcome, FailedLogin::AlreadyLocked);
    let unknown = repo
        .record_failed_login(UserId::new(), 3, notice(&RawToken::generate()))
        .await;
    assert!(matches!(unknown, Err(RepoError::NotFound)), "{unknown:?}");
    assert_eq!(
        h.take_mails().await.len(),
        0,
        "a locked account gets no more"
    );
    assert!(
        unlock_with(&*repo, &token).await.is_some(),
        "the token of the locking call is the one stored"
    );
}

pub async fn only_the_failed_login_that_locks_appends_locked(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    for _ in 0..2 {
        fail_login(&*repo, ada.id, 3, lock_notice(ada.id)).await;
        assert!(audit_events(h).await.is_empty(), "no lock, no event");
    }
    let outcome = fail_login(&*repo, ada.id, 3, lock_notice(ada.id)).await;
    assert_eq!(
        outcome,
        FailedLogin::Counted {
            attempts: 3,
            locked: true
        }
    );
    let outcome = fail_login(&*repo, ada.id, 3, lock_notice(ada.id)).await;
    assert_eq!(outcome, FailedLogin::AlreadyLocked);
    assert_eq!(audit_events(h).await, vec![locked_event(ada.id)]);
}

pub async fn unlock_clears_a_lock_kills_the_token_and_appends_its_event(h: &dyn Harness) {
    let repo = h.repo();
    let manager = insert_with_role(&*repo, "m@example.com", "the_manager", Role::Manager).await;
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    let token = lock(&*repo, ada.id).await;
    assert_eq!(h.tokens().await.unlock, 1);

    let by_staff = event(
        Some(manager.id),
        ada.id,
        AuditKind::Unlocked,
        &[("is_locked", Some("true"), Some("false"))],
    );
    let unlocked = repo.unlock(ada.id, by_staff.clone()).await.expect("unlock");
    assert!(!unlocked.is_locked);
    assert_eq!(unlocked.failed_login_attempts, 0);
    assert!(unlocked.updated_at >= ada.updated_at);
    assert_eq!(
        repo.find_by_id(ada.id).await.expect("query"),
        Some(unlocked)
    );
    assert_eq!(h.tokens().await.unlock, 0, "the unlock link died");
    assert!(
        repo.unlock_with_token(token.hash(), now())
            .await
            .expect("unlock_with_token")
            .is_none()
    );
    assert_eq!(audit_events(h).await, vec![locked_event(ada.id), by_staff]);
}

pub async fn unlocking_an_unlocked_account_clears_the_counter_and_appends_nothing(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    fail_login(&*repo, ada.id, 3, lock_notice(ada.id)).await;
    let staff = event(
        None,
        ada.id,
        AuditKind::Unlocked,
        &[("is_locked", Some("true"), Some("false"))],
    );

    let unlocked = repo.unlock(ada.id, staff.clone()).await.expect("unlock");
    assert!(!unlocked.is_locked);
    assert_eq!(unlocked.failed_login_attempts, 0, "the counter is cleared");
    let again = repo.unlock(ada.id, staff.clone()).await.expect("unlock");
    assert_eq!(again, unlocked, "nothing left to change");
    assert!(audit_events(h).await.is_empty());

    let unknown = repo.unlock(UserId::new(), staff).await;
    assert!(matches!(unknown, Err(RepoError::NotFound)), "{unknown:?}");
    assert!(audit_events(h).await.is_empty());
}
