//! The outbox against a real PostgreSQL, one fresh database per test: how `PgOutbox` hands the
//! messages out, and that a change whose email cannot be queued is undone. What each repository
//! method queues is the contract suite (`tests/contract.rs`).

mod common;

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};
use diesel::{ExpressionMethods as _, OptionalExtension as _, QueryDsl as _, sql_query};
use diesel_async::RunQueryDsl as _;
use um_domain::{
    model::{RawToken, Role, User, UserId},
    ports::{
        EndSessions, LockNotice, Mail, MailKind, Outbox, OutboxDepth, RepoError, UserChanges,
        UserRepository,
    },
};
use um_postgres::{PgOutbox, Pool, schema::outbox};

use common::{Fixture, fixture, unlock_rows};
use um_domain::test_support::contract::{
    insert_with_role, locked_event, mail, new_user, now, pending, pro_mail, set_pro,
};

const LEASE: TimeDelta = TimeDelta::minutes(5);

/// Every kind of email, with every value a variant can carry.
fn every_kind_of_mail() -> Vec<Mail> {
    let mut mails = vec![
        mail(
            "Ada.Lovelace@Example.com",
            MailKind::VerifyEmail {
                user_id: UserId::new(),
                token: RawToken::generate(),
            },
        ),
        mail(
            "ada@example.com",
            MailKind::PasswordReset {
                token: RawToken::generate(),
            },
        ),
        mail(
            "ada@example.com",
            MailKind::AccountLocked {
                unlock_token: RawToken::generate(),
            },
        ),
        pro_mail(true),
        pro_mail(false),
    ];
    mails.extend(
        Role::ALL
            .into_iter()
            .map(|role| mail("ada@example.com", MailKind::RoleChanged { role })),
    );
    mails
}

/// A verified account, inserted without queueing anything.
async fn verified_user(f: &Fixture, email: &str, nickname: &str) -> User {
    let user = insert_with_role(&f.repo, email, nickname, Role::Authenticated).await;
    assert_eq!(f.outbox.depth().await.expect("depth").pending, 0);
    user
}

/// Queues `mails` through an update of a fresh account.
async fn queue(f: &Fixture, mails: Vec<Mail>) {
    let user = verified_user(f, "queue@example.com", "queue_user").await;
    f.repo
        .update(
            user.id,
            UserChanges {
                mails,
                ..UserChanges::default()
            },
        )
        .await
        .expect("update");
}

/// Claims everything due, marks it sent and returns the mails in queue order.
async fn drain(outbox: &PgOutbox) -> Vec<Mail> {
    let messages = outbox
        .claim(1000, LEASE, now() + TimeDelta::seconds(1))
        .await
        .expect("claim");
    for message in &messages {
        outbox
            .mark_sent(message.id, now())
            .await
            .expect("mark_sent");
    }
    messages.into_iter().map(|m| m.mail).collect()
}

/// What the outbox row of message `id` holds, as an operator would look at it.
async fn row(pool: &Pool, id: i64) -> OutboxRow {
    let mut conn = pool.get().await.expect("a connection");
    let (has_payload, sent_at, locked_until, last_error, given_up_at, kind, recipient) =
        outbox::table
            .find(id)
            .select((
                outbox::payload.is_not_null(),
                outbox::sent_at,
                outbox::locked_until,
                outbox::last_error,
                outbox::given_up_at,
                outbox::kind,
                outbox::recipient,
            ))
            .first::<(
                bool,
                Option<DateTime<Utc>>,
                Option<DateTime<Utc>>,
                Option<String>,
                Option<DateTime<Utc>>,
                String,
                String,
            )>(&mut conn)
            .await
            .expect("the outbox row");
    OutboxRow {
        has_payload,
        sent_at,
        locked_until,
        last_error,
        given_up: given_up_at.is_some(),
        kind,
        recipient,
    }
}

#[derive(Debug)]
struct OutboxRow {
    has_payload: bool,
    sent_at: Option<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    given_up: bool,
    kind: String,
    recipient: String,
}

// ---------------------------------------------------------------------------------------------
// What the repository queues

/// Makes every insert into `outbox` fail, as a full disk or a lost connection would.
async fn refuse_outbox_inserts(pool: &Pool) {
    let mut conn = pool.get().await.expect("a connection");
    for statement in [
        "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'the outbox refuses'; END $$",
        "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox \
         FOR EACH STATEMENT EXECUTE FUNCTION refuse_outbox()",
    ] {
        sql_query(statement)
            .execute(&mut conn)
            .await
            .expect("installing the trigger");
    }
}

#[tokio::test]
async fn when_the_email_cannot_be_queued_the_change_is_rolled_back() {
    let f = fixture().await;
    let user = verified_user(&f, "ada@example.com", "ada_l").await;
    let token = RawToken::generate();
    f.repo
        .replace_verification_token(
            user.id,
            pending(&token),
            mail(
                "ada@example.com",
                MailKind::VerifyEmail {
                    user_id: user.id,
                    token: token.clone(),
                },
            ),
        )
        .await
        .expect("replace_verification_token");
    drain(&f.outbox).await;
    refuse_outbox_inserts(&f.pool).await;

    let (newcomer, _) = new_user("new@example.com", "newcomer");
    let newcomer_id = newcomer.id;
    assert!(f.repo.insert(newcomer).await.is_err(), "insert");
    assert!(
        f.repo
            .find_by_id(newcomer_id)
            .await
            .expect("query")
            .is_none(),
        "the account was not inserted"
    );

    let update = f
        .repo
        .update(
            user.id,
            UserChanges {
                role: Some(Role::Manager),
                mails: vec![mail(
                    "ada@example.com",
                    MailKind::RoleChanged {
                        role: Role::Manager,
                    },
                )],
                ..UserChanges::default()
            },
        )
        .await;
    assert!(update.is_err(), "update");

    let other = RawToken::generate();
    let locking = f
        .repo
        .record_failed_login(
            user.id,
            1,
            LockNotice {
                end_sessions: EndSessions::All,
                unlock_token: pending(&other),
                audit: locked_event(user.id),
                mail: mail(
                    "ada@example.com",
                    MailKind::AccountLocked {
                        unlock_token: other.clone(),
                    },
                ),
            },
        )
        .await;
    assert!(locking.is_err(), "record_failed_login: {locking:?}");
    assert_eq!(unlock_rows(&f.pool).await, 0, "no unlock token was stored");

    let pro = set_pro(&f.repo, user.id, true, now()).await;
    assert!(pro.is_err(), "set_professional");

    let replaced = f
        .repo
        .replace_verification_token(
            user.id,
            pending(&other),
            mail(
                "ada@example.com",
                MailKind::VerifyEmail {
                    user_id: user.id,
                    token: other.clone(),
                },
            ),
        )
        .await;
    assert!(replaced.is_err(), "replace_verification_token");

    let reset = f
        .repo
        .create_password_reset(
            user.id,
            pending(&other),
            mail(
                "ada@example.com",
                MailKind::PasswordReset {
                    token: other.clone(),
                },
            ),
        )
        .await;
    assert!(reset.is_err(), "create_password_reset");
    assert!(
        f.repo
            .reset_password(
                other.hash(),
                user.password_hash.clone(),
                now(),
                MailKind::PasswordChanged,
                EndSessions::All,
            )
            .await
            .expect("query")
            .is_none(),
        "no reset token was stored"
    );

    let stored = f
        .repo
        .find_by_id(user.id)
        .await
        .expect("query")
        .expect("the account");
    assert_eq!(stored, user, "no change was kept");
    assert!(
        f.repo
            .verify_email(user.id, token.hash(), now())
            .await
            .expect("query")
            .is_some(),
        "the earlier verification token was not replaced"
    );
    assert_eq!(
        f.outbox.depth().await.expect("depth"),
        OutboxDepth::default()
    );
}

// ---------------------------------------------------------------------------------------------
// The payload

#[tokio::test]
async fn every_kind_of_mail_comes_back_exactly_as_queued() {
    let f = fixture().await;
    let mails = every_kind_of_mail();
    queue(&f, mails.clone()).await;

    let claimed = f
        .outbox
        .claim(100, LEASE, now() + TimeDelta::seconds(1))
        .await
        .expect("claim");

    assert_eq!(
        claimed.iter().map(|m| m.mail.clone()).collect::<Vec<_>>(),
        mails,
        "in queue order"
    );
    assert!(claimed.iter().all(|m| m.attempts == 1), "{claimed:?}");
    assert!(
        claimed.windows(2).all(|w| w[0].id < w[1].id),
        "ordered by id"
    );
    let first = row(&f.pool, claimed[0].id).await;
    assert_eq!(first.kind, "verify_email", "the kind is kept for operators");
    assert_eq!(first.recipient, "Ada.Lovelace@Example.com");
    let kinds: Vec<String> = {
        let mut kinds = Vec::new();
        for message in &claimed {
            kinds.push(row(&f.pool, message.id).await.kind);
        }
        kinds
    };
    assert_eq!(
        kinds,
        [
            "verify_email",
            "password_reset",
            "account_locked",
            "pro_status_changed",
            "pro_status_changed",
            "role_changed",
            "role_changed",
            "role_changed",
            "role_changed",
        ]
    );
}

#[tokio::test]
async fn a_payload_that_does_not_parse_fails_the_claim_by_id_and_is_given_up() {
    let f = fixture().await;
    queue(&f, vec![pro_mail(true), pro_mail(false), pro_mail(true)]).await;
    let mut conn = f.pool.get().await.expect("a connection");
    let ids: Vec<i64> = outbox::table
        .select(outbox::id)
        .order(outbox::id)
        .load(&mut conn)
        .await
        .expect("ids");
    sql_query(
        "UPDATE outbox SET payload = '{\"kind\": \"nonsense\", \"secret\": \"hunter2\"}' \
         WHERE id = $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(ids[1])
    .execute(&mut conn)
    .await
    .expect("corrupting a payload");
    drop(conn);

    let claimed = f
        .outbox
        .claim(10, LEASE, now() + TimeDelta::seconds(1))
        .await;
    let Err(RepoError::Other(cause)) = claimed else {
        panic!("expected Other, got {claimed:?}");
    };
    let message = format!("{cause:#}");
    assert!(message.contains(&ids[1].to_string()), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!message.contains("nonsense"), "{message}");

    let bad = row(&f.pool, ids[1]).await;
    assert!(bad.given_up && bad.has_payload, "{bad:?}");
    assert!(bad.last_error.is_some());
    let claimed = f
        .outbox
        .claim(10, LEASE, now() + TimeDelta::seconds(1))
        .await
        .expect("the rest is claimed at once");
    assert_eq!(
        claimed
            .iter()
            .map(|m| (m.id, m.attempts))
            .collect::<Vec<_>>(),
        vec![(ids[0], 1), (ids[2], 1)],
        "the failed claim was rolled back"
    );
    assert_eq!(
        f.outbox.depth().await.expect("depth"),
        OutboxDepth {
            pending: 2,
            dead: 1
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Claiming, leases, success and failure

#[tokio::test]
async fn claim_takes_at_most_limit_of_the_oldest_due_messages() {
    let f = fixture().await;
    queue(&f, (0..5).map(|i| pro_mail(i % 2 == 0)).collect()).await;
    let at = now() + TimeDelta::seconds(1);

    let mut batches = Vec::new();
    for _ in 0..4 {
        let batch = f.outbox.claim(2, LEASE, at).await.expect("claim");
        batches.push(batch.iter().map(|m| m.id).collect::<Vec<_>>());
    }
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 2, 1, 0]);
    let all: Vec<i64> = batches.concat();
    let mut sorted = all.clone();
    sorted.sort_unstable();
    assert_eq!(all, sorted, "oldest first");
    assert!(
        f.outbox
            .claim(0, LEASE, at)
            .await
            .expect("claim")
            .is_empty(),
        "a limit of 0 claims nothing"
    );
}

#[tokio::test]
async fn a_message_is_not_due_before_its_time() {
    let f = fixture().await;
    let before = now() - TimeDelta::minutes(1);
    queue(&f, vec![pro_mail(true)]).await;
    assert!(
        f.outbox
            .claim(10, LEASE, before)
            .await
            .expect("claim")
            .is_empty(),
        "not due before it was queued"
    );
    assert_eq!(
        f.outbox
            .claim(10, LEASE, now() + TimeDelta::seconds(1))
            .await
            .expect("claim")
            .len(),
        1
    );
}

#[tokio::test]
async fn a_claimed_message_is_claimed_again_only_once_its_lease_ran_out() {
    let f = fixture().await;
    queue(&f, vec![pro_mail(true)]).await;
    let t0 = now() + TimeDelta::seconds(1);

    let first = f.outbox.claim(10, LEASE, t0).await.expect("claim");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 1);
    assert_eq!(
        row(&f.pool, first[0].id).await.locked_until,
        Some(t0 + LEASE)
    );

    let during = f
        .outbox
        .claim(10, LEASE, t0 + LEASE - TimeDelta::seconds(1))
        .await
        .expect("claim");
    assert!(during.is_empty(), "leased: {during:?}");

    let after = f.outbox.claim(10, LEASE, t0 + LEASE).await.expect("claim");
    assert_eq!(
        after.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(),
        vec![(first[0].id, 2)],
        "the claimer died; the message is due again and the attempt counts"
    );
    assert_eq!(after[0].mail, first[0].mail);
}

#[tokio::test]
async fn released_claims_are_due_again_at_once_without_a_counted_attempt() {
    let f = fixture().await;
    queue(&f, vec![pro_mail(true), pro_mail(false), pro_mail(true)]).await;
    let t0 = now() + TimeDelta::seconds(1);
    let claimed = f.outbox.claim(10, LEASE, t0).await.expect("claim");
    let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
    // The first was sent before the round was cut short; the other two were never tried.
    f.outbox.mark_sent(ids[0], now()).await.expect("mark_sent");

    f.outbox.release(&ids).await.expect("release");

    assert_eq!(row(&f.pool, ids[1]).await.locked_until, None);
    let again = f
        .outbox
        .claim(10, LEASE, t0 + TimeDelta::seconds(1))
        .await
        .expect("claim");
    assert_eq!(
        again.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(),
        vec![(ids[1], 1), (ids[2], 1)],
        "due again long before the lease ends; the untried attempt is not counted; the sent one stays sent"
    );
    f.outbox.release(&[]).await.expect("nothing to release");
}

#[tokio::test]
async fn a_sent_message_loses_its_payload_and_is_never_claimed_again() {
    let f = fixture().await;
    queue(&f, vec![pro_mail(true), pro_mail(false)]).await;
    let t0 = now() + TimeDelta::seconds(1);
    let claimed = f.outbox.claim(10, LEASE, t0).await.expect("claim");
    let (sent, other) = (claimed[0].id, claimed[1].id);

    let sent_at = now();
    f.outbox.mark_sent(sent, sent_at).await.expect("mark_sent");
    f.outbox
        .mark_sent(sent, sent_at + TimeDelta::minutes(1))
        .await
        .expect("a second mark_sent is harmless");

    let stored = row(&f.pool, sent).await;
    assert!(!stored.has_payload, "the payload (and its token) is erased");
    assert_eq!(stored.sent_at, Some(sent_at), "the first time is kept");
    assert_eq!(stored.locked_until, None);
    assert!(row(&f.pool, other).await.has_payload, "others keep theirs");

    let later = f
        .outbox
        .claim(10, LEASE, t0 + TimeDelta::days(1))
        .await
        .expect("claim");
    assert_eq!(
        later.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![other],
        "only the unsent one comes back"
    );
    assert_eq!(
        f.outbox.depth().await.expect("depth"),
        OutboxDepth {
            pending: 1,
            dead: 0
        }
    );
}

#[tokio::test]
async fn a_failed_message_is_due_again_at_its_retry_time_and_not_before() {
    let f = fixture().await;
    queue(&f, vec![pro_mail(true)]).await;
    let t0 = now() + TimeDelta::seconds(1);
    let id = f.outbox.claim(10, LEASE, t0).await.expect("claim")[0].id;
    // Earlier than the lease ends: the failure releases the lease.
    let retry_at = t0 + TimeDelta::minutes(1);

    f.outbox
        .mark_failed(id, "connection refused".to_owned(), Some(retry_at))
        .await
        .expect("mark_failed");

    let stored = row(&f.pool, id).await;
    assert_eq!(stored.last_error.as_deref(), Some("connection refused"));
    assert_eq!(stored.locked_until, None);
    assert!(stored.has_payload && !stored.given_up);
    assert!(
        f.outbox
            .claim(10, LEASE, retry_at - TimeDelta::microseconds(1))
            .await
            .expect("claim")
            .is_empty(),
        "not before its retry time"
    );
    let again = f.outbox.claim(10, LEASE, retry_at).await.expect("claim");
    assert_eq!(
        again.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(),
        vec![(id, 2)]
    );

    f.outbox
        .mark_failed(
            id,
            "timeout".to_owned(),
            Some(retry_at + TimeDelta::minutes(2)),
        )
        .await
        .expect("mark_failed");
    let third = f
        .outbox
        .claim(10, LEASE, retry_at + TimeDelta::minutes(2))
        .await
        .expect("claim");
    assert_eq!(third[0].attempts, 3, "attempts count up");
    f.outbox.mark_sent(id, now()).await.expect("mark_sent");
    assert_eq!(
        row(&f.pool, id).await.last_error,
        None,
        "success clears the error"
    );
}

#[tokio::test]
async fn a_message_given_up_on_keeps_its_payload_and_counts_as_dead() {
    let f = fixture().await;
    queue(&f, vec![pro_mail(true), pro_mail(false)]).await;
    let t0 = now() + TimeDelta::seconds(1);
    let id = f.outbox.claim(1, LEASE, t0).await.expect("claim")[0].id;
    let long_error = "é".repeat(5000);

    f.outbox
        .mark_failed(id, long_error, None)
        .await
        .expect("mark_failed");

    let stored = row(&f.pool, id).await;
    assert!(stored.given_up, "{stored:?}");
    assert!(stored.has_payload, "kept for an operator");
    assert_eq!(
        stored.last_error.map(|e| e.chars().count()),
        Some(1000),
        "the error is cut"
    );
    assert_eq!(
        f.outbox.depth().await.expect("depth"),
        OutboxDepth {
            pending: 1,
            dead: 1
        }
    );
    let later = f
        .outbox
        .claim(10, LEASE, t0 + TimeDelta::days(1))
        .await
        .expect("claim");
    assert!(
        later.iter().all(|m| m.id != id),
        "never claimed again: {later:?}"
    );
    f.outbox
        .mark_failed(id, "late".to_owned(), Some(t0))
        .await
        .expect("mark_failed");
    assert!(
        row(&f.pool, id).await.given_up,
        "a late failure does not revive it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_get_the_same_message() {
    let f = fixture().await;
    queue(&f, (0..200).map(|i| pro_mail(i % 2 == 0)).collect()).await;
    let mut conn = f.pool.get().await.expect("a connection");
    let queued: HashSet<i64> = outbox::table
        .select(outbox::id)
        .load::<i64>(&mut conn)
        .await
        .expect("ids")
        .into_iter()
        .collect();
    drop(conn);
    assert_eq!(queued.len(), 200);

    let outbox = Arc::new(f.outbox.clone());
    let at = now() + TimeDelta::seconds(1);
    let mut claimers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let outbox = Arc::clone(&outbox);
        claimers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = outbox
                    .claim(7, TimeDelta::minutes(10), at)
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    break mine;
                }
                for message in batch {
                    assert_eq!(message.attempts, 1, "claimed before: {}", message.id);
                    outbox
                        .mark_sent(message.id, now())
                        .await
                        .expect("mark_sent");
                    mine.push(message.id);
                }
            }
        });
    }
    let mut claimed = Vec::new();
    while let Some(joined) = claimers.join_next().await {
        claimed.extend(joined.expect("claimer"));
    }

    let distinct: HashSet<i64> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), distinct.len(), "a message was claimed twice");
    assert_eq!(distinct, queued, "every message was claimed");
    assert_eq!(
        f.outbox.depth().await.expect("depth"),
        OutboxDepth::default()
    );
    let mut conn = f.pool.get().await.expect("a connection");
    let with_payload: Option<i64> = outbox::table
        .filter(outbox::payload.is_not_null())
        .select(outbox::id)
        .first(&mut conn)
        .await
        .optional()
        .expect("query");
    assert_eq!(with_payload, None, "every sent payload is erased");
}
