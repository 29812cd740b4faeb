//! What the integration tests of `um-postgres` share: the fixture of a fresh database per test,
//! and builders of the accounts, tokens, mails and audit events they store.
//!
//! Each test file includes this module with `mod common;`. Cargo builds every test file as a
//! crate of its own, and no file uses every helper, so the unused ones would be dead code there.
#![allow(dead_code, reason = "each test crate uses only some of these helpers")]

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use diesel::{QueryDsl as _, dsl::count_star};
use diesel_async::RunQueryDsl as _;
use um_domain::{
    model::{
        AuditChange, AuditEvent, AuditKind, Email, Nickname, PasswordHash, Profile, RawToken, Role,
        User, UserId,
    },
    ports::{LockNotice, Mail, MailKind, NewUser, PendingToken, UserRepository},
};
use um_postgres::{PgAuditLog, PgOutbox, PgUserRepository, Pool, TestDatabase, connect, schema};

/// The repository, the outbox and the audit log over a database of this test's own. Fields
/// drop in order: the pool before the database.
pub struct Fixture {
    pub repo: PgUserRepository,
    pub outbox: PgOutbox,
    pub log: PgAuditLog,
    pub pool: Pool,
    _db: TestDatabase,
}

/// The fixture over a pool of up to 24 connections, enough for the concurrency tests.
pub async fn fixture() -> Fixture {
    fixture_with_pool_size(24).await
}

/// The fixture over a pool of up to `max_size` connections.
pub async fn fixture_with_pool_size(max_size: usize) -> Fixture {
    let db = TestDatabase::new().await;
    let pool = connect(db.url(), max_size)
        .await
        .expect("a pool for the test database");
    Fixture {
        repo: PgUserRepository::new(pool.clone()),
        outbox: PgOutbox::new(pool.clone()),
        log: PgAuditLog::new(pool.clone()),
        pool,
        _db: db,
    }
}

/// Now, at the microsecond precision PostgreSQL stores.
pub fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::microseconds(1))
        .expect("truncating now to microseconds")
}

pub fn email(raw: &str) -> Email {
    Email::parse(raw).expect("a valid test email")
}

pub fn nickname(raw: &str) -> Nickname {
    Nickname::parse(raw).expect("a valid test nickname")
}

/// `token`, stored hashed and valid for a day.
pub fn pending(token: &RawToken) -> PendingToken {
    pending_until(token, now() + TimeDelta::days(1))
}

/// `token`, stored hashed and valid until `expires_at`.
pub fn pending_until(token: &RawToken, expires_at: DateTime<Utc>) -> PendingToken {
    PendingToken {
        hash: token.hash(),
        expires_at,
    }
}

pub fn mail(to: &str, kind: MailKind) -> Mail {
    Mail {
        to: email(to),
        greeting_name: "someone".to_owned(),
        kind,
    }
}

pub fn pro_mail(is_professional: bool) -> Mail {
    mail(
        "someone@example.com",
        MailKind::ProStatusChanged { is_professional },
    )
}

/// The `locked` event of the login lockout (by the system).
pub fn locked_event(id: UserId) -> AuditEvent {
    AuditEvent {
        actor: None,
        target: id,
        kind: AuditKind::Locked,
        changes: vec![AuditChange::new(
            "is_locked",
            Some("false".into()),
            Some("true".into()),
        )],
    }
}

/// The `pro_status_changed` event of setting `id`'s PRO status to `to`.
pub fn pro_event(id: UserId, to: bool) -> AuditEvent {
    AuditEvent {
        actor: Some(id),
        target: id,
        kind: AuditKind::ProStatusChanged,
        changes: vec![AuditChange::new(
            "is_professional",
            Some((!to).to_string()),
            Some(to.to_string()),
        )],
    }
}

/// What a locking failure of `id` stores: the unlock token, valid for a day, its email and its
/// audit event.
pub fn lock_notice_for(id: UserId, token: &RawToken) -> LockNotice {
    LockNotice {
        audit: locked_event(id),
        unlock_token: pending(token),
        mail: mail(
            "someone@example.com",
            MailKind::AccountLocked {
                unlock_token: token.clone(),
            },
        ),
    }
}

/// [`lock_notice_for`] a fresh unlock token.
pub fn lock_notice(id: UserId) -> LockNotice {
    lock_notice_for(id, &RawToken::generate())
}

/// An ANONYMOUS, unverified account with a verification token valid for a day, and its email.
pub fn new_user(email_raw: &str, nickname_raw: &str) -> (NewUser, RawToken) {
    let token = RawToken::generate();
    let id = UserId::new();
    let user = NewUser {
        id,
        email: email(email_raw),
        nickname: nickname(nickname_raw),
        profile: Profile::default(),
        password_hash: PasswordHash::new(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".into(),
        ),
        role: Role::Anonymous,
        email_verified: false,
        promote_if_first: false,
        verification_token: Some(pending(&token)),
        verification_mail: Some(mail(
            email_raw,
            MailKind::VerifyEmail {
                user_id: id,
                token: token.clone(),
            },
        )),
        created_at: now(),
    };
    (user, token)
}

/// Inserts a verified account with `role`. A verified account gets neither a verification token
/// nor an email.
pub async fn insert_with_role(
    repo: &PgUserRepository,
    email_raw: &str,
    nickname_raw: &str,
    role: Role,
) -> User {
    let (mut user, _) = new_user(email_raw, nickname_raw);
    user.role = role;
    user.email_verified = true;
    repo.insert(user).await.expect("inserting a fresh account")
}

/// Stores a reset token valid for `valid_for` and returns it.
pub async fn request_reset(repo: &PgUserRepository, id: UserId, valid_for: TimeDelta) -> RawToken {
    let token = RawToken::generate();
    repo.create_password_reset(
        id,
        pending_until(&token, now() + valid_for),
        mail(
            "someone@example.com",
            MailKind::PasswordReset {
                token: token.clone(),
            },
        ),
    )
    .await
    .expect("create_password_reset");
    token
}

pub async fn unlock_rows(pool: &Pool) -> i64 {
    let mut conn = pool.get().await.expect("a connection");
    schema::unlock_tokens::table
        .select(count_star())
        .get_result(&mut conn)
        .await
        .expect("counting unlock tokens")
}
