//! Sessions: starting, finding the caller through a live session, rotating refresh tokens
//! (with the race and the remembered earlier tokens), ending, and the changes that end them.

use super::*;
use crate::model::{ClientInfo, RefreshToken, Session, SessionId, TokenHash};

/// A session of `user` started at [`now`], living `ttl`, with its first refresh token.
pub async fn start_session(
    h: &dyn Harness,
    user: UserId,
    ttl: TimeDelta,
) -> (SessionId, RefreshToken) {
    start_keeping(h, user, ttl, 100).await
}

/// [`start_session`] for an account that keeps at most `keep_at_most` live sessions.
async fn start_keeping(
    h: &dyn Harness,
    user: UserId,
    ttl: TimeDelta,
    keep_at_most: usize,
) -> (SessionId, RefreshToken) {
    let id = SessionId::new();
    let token = RefreshToken::generate(id);
    let at = now();
    h.sessions()
        .start(NewSession {
            id,
            user_id: user,
            refresh: token.hash(),
            created_at: at,
            expires_at: at + ttl,
            client: ClientInfo::new(Some("curl/8.5"), Some("203.0.113.7".into())),
            keep_at_most,
        })
        .await
        .expect("start");
    (id, token)
}

/// Rotates `presented` of `id` to a fresh token at [`now`], remembering 8 earlier ones: the
/// outcome and the fresh token.
async fn rotate(h: &dyn Harness, id: SessionId, presented: &TokenHash) -> (Rotation, RefreshToken) {
    let next = RefreshToken::generate(id);
    let outcome = h
        .sessions()
        .rotate(id, presented.clone(), next.hash(), now(), 8)
        .await
        .expect("rotate");
    (outcome, next)
}

async fn alive(h: &dyn Harness, user: UserId, id: SessionId) -> bool {
    h.sessions()
        .session_user(user, id)
        .await
        .expect("session_user")
        .is_some()
}

async fn listed(h: &dyn Harness, user: UserId) -> Vec<SessionId> {
    h.sessions()
        .list(user, now())
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect()
}

pub async fn a_started_session_is_listed_and_finds_its_account(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (grace, _) = insert(&*repo, "grace@example.com", "grace").await;
    let (id, _) = start_session(h, ada.id, TimeDelta::days(30)).await;

    let found = h.sessions().session_user(ada.id, id).await;
    assert_eq!(found.expect("query"), Some(reload(&*repo, ada.id).await));
    assert!(!alive(h, grace.id, id).await, "not grace's session");
    assert!(!alive(h, ada.id, SessionId::new()).await, "an unknown one");

    let sessions = h.sessions().list(ada.id, now()).await.expect("list");
    let expected = Session {
        id,
        user_id: ada.id,
        created_at: now_of(&sessions),
        last_used_at: now_of(&sessions),
        expires_at: now_of(&sessions) + TimeDelta::days(30),
        user_agent: Some("curl/8.5".into()),
        ip: Some("203.0.113.7".into()),
    };
    assert_eq!(sessions, [expected]);
    assert!(listed(h, grace.id).await.is_empty());
}

/// The creation time of the one listed session (what the test's `now()` was then).
fn now_of(sessions: &[Session]) -> DateTime<Utc> {
    sessions.first().expect("one session").created_at
}

pub async fn starting_a_session_for_an_unknown_account_is_not_found(h: &dyn Harness) {
    let refused = h
        .sessions()
        .start(NewSession {
            id: SessionId::new(),
            user_id: UserId::new(),
            refresh: RefreshToken::generate(SessionId::new()).hash(),
            created_at: now(),
            expires_at: now() + TimeDelta::days(1),
            client: ClientInfo::default(),
            keep_at_most: 10,
        })
        .await;
    assert!(matches!(refused, Err(RepoError::NotFound)), "{refused:?}");
}

pub async fn sessions_are_listed_newest_first_and_expired_ones_do_not_refresh(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (older, _) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let (short, token) = start_session(h, ada.id, TimeDelta::milliseconds(1)).await;
    let (newest, _) = start_session(h, ada.id, TimeDelta::days(1)).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // An expired session is not listed and does not refresh; its access tokens expired with it
    // (the use cases cap them), so the per-request check need not look at its expiry.
    assert_eq!(listed(h, ada.id).await, [newest, older]);
    let (outcome, _) = rotate(h, short, &token.hash()).await;
    assert_eq!(
        outcome,
        Rotation::Refused,
        "an expired session does not refresh"
    );
}

pub async fn the_caller_is_found_with_a_live_session_together_with_the_other_account(
    h: &dyn Harness,
) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (grace, _) = insert(&*repo, "grace@example.com", "grace").await;
    let (id, _) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let sessions = h.sessions();
    let both = |user, other| {
        let sessions = Arc::clone(&sessions);
        async move {
            sessions
                .session_user_and(user, id, other)
                .await
                .expect("query")
        }
    };
    let ada_now = Some(reload(&*repo, ada.id).await);
    let grace_now = Some(reload(&*repo, grace.id).await);

    assert_eq!(
        both(ada.id, grace.id).await,
        (ada_now.clone(), grace_now.clone())
    );
    assert_eq!(
        both(ada.id, ada.id).await,
        (ada_now.clone(), ada_now.clone())
    );
    assert_eq!(both(ada.id, UserId::new()).await, (ada_now.clone(), None));
    assert_eq!(
        both(grace.id, ada.id).await,
        (None, ada_now.clone()),
        "not grace's"
    );

    assert!(sessions.end(ada.id, id, now()).await.expect("end"));
    assert_eq!(both(ada.id, grace.id).await, (None, grace_now));
    assert_eq!(
        both(ada.id, ada.id).await,
        (None, ada_now),
        "an ended session does not sign its account in, even as its own target"
    );
}

pub async fn a_refresh_token_rotates_once_and_comes_back_as_an_earlier_one(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (id, first) = start_session(h, ada.id, TimeDelta::days(30)).await;
    let expires_at = h.sessions().list(ada.id, now()).await.expect("list")[0].expires_at;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;

    let (outcome, second) = rotate(h, id, &first.hash()).await;
    assert_eq!(
        outcome,
        Rotation::Rotated {
            user: Box::new(reload(&*repo, ada.id).await),
            expires_at
        },
        "the session's life does not grow"
    );
    let listed = &h.sessions().list(ada.id, now()).await.expect("list")[0];
    assert!(listed.last_used_at > listed.created_at, "{listed:?}");

    assert_eq!(rotate(h, id, &first.hash()).await.0, Rotation::Earlier);
    assert!(
        alive(h, ada.id, id).await,
        "the port only reports a reuse; ending is the use case's"
    );
    let (outcome, _) = rotate(h, id, &second.hash()).await;
    assert!(matches!(outcome, Rotation::Rotated { .. }), "{outcome:?}");
}

pub async fn made_up_tokens_and_unknown_sessions_are_refused(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (id, token) = start_session(h, ada.id, TimeDelta::days(1)).await;

    let made_up = RefreshToken::generate(id);
    assert_eq!(rotate(h, id, &made_up.hash()).await.0, Rotation::Refused);
    assert_eq!(
        rotate(h, SessionId::new(), &token.hash()).await.0,
        Rotation::Refused
    );
    let (outcome, _) = rotate(h, id, &token.hash()).await;
    assert!(
        matches!(outcome, Rotation::Rotated { .. }),
        "the real token still works: {outcome:?}"
    );
}

pub async fn only_the_remembered_earlier_tokens_are_recognised(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (id, first) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let mut tokens = vec![first];
    for _ in 0..10 {
        let (outcome, next) = rotate(h, id, &tokens.last().expect("a token").hash()).await;
        assert!(matches!(outcome, Rotation::Rotated { .. }), "{outcome:?}");
        tokens.push(next);
    }
    // 10 replaced tokens, of which the newest 8 are remembered.
    for (i, token) in tokens.iter().enumerate().take(10) {
        let expected = if i < 2 {
            Rotation::Refused
        } else {
            Rotation::Earlier
        };
        assert_eq!(rotate(h, id, &token.hash()).await.0, expected, "token {i}");
    }
}

pub async fn of_concurrent_refreshes_with_one_token_exactly_one_rotates(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (id, token) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let sessions = h.sessions();
        let presented = token.hash();
        tasks.spawn(async move {
            sessions
                .rotate(id, presented, RefreshToken::generate(id).hash(), now(), 8)
                .await
                .expect("rotate")
        });
    }
    let outcomes = tasks.join_all().await;
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, Rotation::Rotated { .. }))
        .count();
    assert_eq!(rotated, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Rotation::Rotated { .. } | Rotation::Earlier)),
        "the losers see a token that has just become an earlier one: {outcomes:?}"
    );
}

pub async fn ending_takes_the_owners_live_session_once(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (grace, _) = insert(&*repo, "grace@example.com", "grace").await;
    let (id, token) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let sessions = h.sessions();

    assert!(
        !sessions.end(grace.id, id, now()).await.expect("end"),
        "not grace's"
    );
    assert!(alive(h, ada.id, id).await);
    assert!(sessions.end(ada.id, id, now()).await.expect("end"));
    assert!(
        !sessions.end(ada.id, id, now()).await.expect("end"),
        "ended already"
    );
    assert!(!alive(h, ada.id, id).await);
    assert!(listed(h, ada.id).await.is_empty());
    assert_eq!(
        rotate(h, id, &token.hash()).await.0,
        Rotation::Refused,
        "an ended session does not refresh"
    );
}

pub async fn ending_by_token_needs_one_of_the_sessions_tokens(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (id, first) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let (_, second) = rotate(h, id, &first.hash()).await;
    let (other, other_token) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let sessions = h.sessions();

    let made_up = RefreshToken::generate(id);
    assert!(
        !sessions
            .end_by_token(id, made_up.hash(), now())
            .await
            .expect("end")
    );
    assert!(
        !sessions
            .end_by_token(id, other_token.hash(), now())
            .await
            .expect("end"),
        "another session's token"
    );
    assert!(alive(h, ada.id, id).await);
    assert!(
        sessions
            .end_by_token(id, first.hash(), now())
            .await
            .expect("end"),
        "an earlier token ends it too"
    );
    assert!(!alive(h, ada.id, id).await);
    assert!(
        !sessions
            .end_by_token(id, second.hash(), now())
            .await
            .expect("end")
    );
    assert!(alive(h, ada.id, other).await, "the other session goes on");
}

pub async fn ending_all_spares_the_named_one_and_audits_when_asked(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (grace, _) = insert(&*repo, "grace@example.com", "grace").await;
    let (a, _) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let (b, _) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let (c, _) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let (g, _) = start_session(h, grace.id, TimeDelta::days(1)).await;
    let sessions = h.sessions();

    let ended = sessions
        .end_all(ada.id, EndSessions::AllBut(b), now(), None)
        .await
        .expect("end_all");
    assert_eq!(ended, 2);
    assert_eq!(listed(h, ada.id).await, [b]);
    assert!(!alive(h, ada.id, a).await && !alive(h, ada.id, c).await);
    assert!(audit_events(h).await.is_empty(), "nothing audited unasked");

    let admin = UserId::new();
    let ended = sessions
        .end_all(ada.id, EndSessions::All, now(), Some(admin))
        .await
        .expect("end_all");
    assert_eq!(ended, 1);
    assert!(listed(h, ada.id).await.is_empty());
    let ended = sessions
        .end_all(ada.id, EndSessions::All, now(), Some(admin))
        .await
        .expect("end_all");
    assert_eq!(ended, 0);
    assert_eq!(
        audit_events(h).await,
        [
            AuditEvent::sessions_revoked(admin, ada.id, 1),
            AuditEvent::sessions_revoked(admin, ada.id, 0)
        ]
    );
    assert!(alive(h, grace.id, g).await, "grace's session goes on");
}

pub async fn a_password_change_ends_the_sessions_it_names_and_a_rehash_none(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (kept, _) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let (other, _) = start_session(h, ada.id, TimeDelta::days(1)).await;

    repo.set_password_hash(ada.id, hash_of("rehashed"), None)
        .await
        .expect("rehash");
    assert_eq!(listed(h, ada.id).await.len(), 2, "a re-hash ends nothing");

    repo.set_password_hash(
        ada.id,
        hash_of("changed"),
        Some(PasswordChanged {
            notice: mail("ada@example.com", MailKind::PasswordChanged),
            end_sessions: EndSessions::AllBut(kept),
        }),
    )
    .await
    .expect("set_password_hash");
    assert_eq!(listed(h, ada.id).await, [kept]);
    assert!(!alive(h, ada.id, other).await);
}

pub async fn a_reset_and_a_lock_end_every_session_and_an_unlock_revives_none(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (grace, _) = insert(&*repo, "grace@example.com", "grace").await;
    let (g, _) = start_session(h, grace.id, TimeDelta::days(1)).await;

    let (first, token) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let unlock_token = lock(&*repo, ada.id).await;
    assert!(!alive(h, ada.id, first).await, "the lock ended it");
    assert_eq!(rotate(h, first, &token.hash()).await.0, Rotation::Refused);
    let unlocked = repo
        .unlock_with_token(unlock_token.hash(), now())
        .await
        .expect("unlock");
    assert!(unlocked.is_some());
    assert!(!alive(h, ada.id, first).await, "an unlock revives nothing");
    assert_eq!(rotate(h, first, &token.hash()).await.0, Rotation::Refused);

    let (second, _) = start_session(h, ada.id, TimeDelta::days(1)).await;
    let reset = request_reset(&*repo, ada.id, TimeDelta::hours(1)).await;
    assert!(reset_with(&*repo, &reset, "new").await.is_some());
    assert!(!alive(h, ada.id, second).await, "the reset ended it");
    assert!(alive(h, grace.id, g).await, "grace's session goes on");
}

pub async fn a_locked_accounts_live_session_neither_refreshes(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (id, token) = start_session(h, ada.id, TimeDelta::days(1)).await;
    // Locked behind the repository's back (no session ended): the rotation still refuses.
    let notice = LockNotice {
        end_sessions: EndSessions::AllBut(id),
        ..lock_notice_for(ada.id, &RawToken::generate())
    };
    fail_login(&*repo, ada.id, 1, notice).await;
    assert_eq!(rotate(h, id, &token.hash()).await.0, Rotation::Refused);
}

pub async fn deleting_an_account_removes_its_sessions(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (id, token) = start_session(h, ada.id, TimeDelta::days(1)).await;

    repo.delete(ada.id, deletion(ada.id)).await.expect("delete");
    assert!(!alive(h, ada.id, id).await);
    assert!(listed(h, ada.id).await.is_empty());
    assert_eq!(rotate(h, id, &token.hash()).await.0, Rotation::Refused);
}

pub async fn a_login_beyond_the_limit_ends_the_oldest_live_sessions(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada").await;
    let (first, _) = start_keeping(h, ada.id, TimeDelta::days(1), 3).await;
    let (second, _) = start_keeping(h, ada.id, TimeDelta::days(1), 3).await;
    let (third, _) = start_keeping(h, ada.id, TimeDelta::days(1), 3).await;
    assert!(h.sessions().end(ada.id, second, now()).await.expect("end"));

    let (fourth, _) = start_keeping(h, ada.id, TimeDelta::days(1), 3).await;
    assert_eq!(listed(h, ada.id).await.len(), 3, "an ended one makes room");
    let (fifth, _) = start_keeping(h, ada.id, TimeDelta::days(1), 3).await;

    assert!(!alive(h, ada.id, first).await, "the oldest made room");
    for id in [third, fourth, fifth] {
        assert!(alive(h, ada.id, id).await);
    }
    assert_eq!(listed(h, ada.id).await.len(), 3);
}
