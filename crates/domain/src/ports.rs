//! What the core needs from the world. Adapters implement these traits; tests mock them
//! (`mocks` feature, mockall).
//!
//! Each method documents what it MUST return, so that every adapter behaves alike.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use secrecy::SecretString;

use std::{collections::HashSet, pin::Pin, time::Duration};

use bytes::Bytes;
use futures_core::Stream;

mod sessions;

#[cfg(any(test, feature = "mocks"))]
pub use sessions::MockSessionRepository;
pub use sessions::{EndSessions, NewSession, Rotation, SessionRepository};

use crate::model::{
    AuditEvent, AuditKind, Email, Nickname, PasswordHash, PictureFormat, PictureKey, PictureKeys,
    Profile, ProfileField, ProfilePatch, RawToken, Role, SessionId, TokenHash, User, UserId,
};

/// Errors of a [`UserRepository`], translated from the storage's own at the adapter boundary.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("email already exists")]
    EmailTaken,
    #[error("nickname already taken")]
    NicknameTaken,
    #[error("user not found")]
    NotFound,
    #[error("the last ADMIN cannot be demoted or deleted")]
    LastAdmin,
    /// The storage cannot be reached (pool exhausted, connection refused); worth retrying later.
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("storage error")]
    Other(#[source] anyhow::Error),
}

/// A one-time token waiting to be used: its hash and when it stops working.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingToken {
    pub hash: TokenHash,
    pub expires_at: DateTime<Utc>,
}

/// An account to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub nickname: Nickname,
    pub profile: Profile,
    pub password_hash: PasswordHash,
    pub role: Role,
    pub email_verified: bool,
    /// Make this account ADMIN with a verified email if no other account exists.
    pub promote_if_first: bool,
    /// Stored as the account's email-verification token unless the account ends up verified.
    pub verification_token: Option<PendingToken>,
    /// Queued in the outbox, in the same transaction, unless the account ends up verified.
    pub verification_mail: Option<Mail>,
    pub created_at: DateTime<Utc>,
}

/// A partial update: `None` leaves a field alone; for nullable fields `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserChanges {
    pub email: Option<Email>,
    pub email_verified: Option<bool>,
    pub nickname: Option<Nickname>,
    pub profile: ProfilePatch,
    pub role: Option<Role>,
    /// Replaces any earlier email-verification token of the account.
    pub verification_token: Option<PendingToken>,
    /// Queued in the outbox in the same transaction as the change.
    pub mails: Vec<Mail>,
    /// Appended to the audit log in the same transaction as the change.
    pub audit: Vec<AuditEvent>,
}

impl UserChanges {
    /// True when the update would change no column.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Which users a listing returns, in which order, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    pub skip: u64,
    pub limit: u64,
    pub filter: UserFilter,
    pub sort: UserSort,
}

/// Conditions a listed user meets; `None` leaves a condition out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// A case-insensitive substring of the email, nickname, first or last name.
    pub q: Option<String>,
    /// Only users with one of these roles; `None` means every role.
    pub roles: Option<Vec<Role>>,
    pub is_locked: Option<bool>,
    pub is_professional: Option<bool>,
    pub email_verified: Option<bool>,
    /// Created at or after (inclusive).
    pub created_from: Option<DateTime<Utc>>,
    /// Created at or before (inclusive).
    pub created_to: Option<DateTime<Utc>>,
}

/// The order of a listing; ties are broken by id so that pages are stable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserSort {
    /// Newest first (the default).
    #[default]
    CreatedAtDesc,
    CreatedAtAsc,
    /// Case-insensitive.
    EmailAsc,
    EmailDesc,
    /// Case-insensitive.
    NicknameAsc,
    NicknameDesc,
}

impl UserSort {
    pub const ALL: [UserSort; 6] = [
        Self::CreatedAtDesc,
        Self::CreatedAtAsc,
        Self::EmailAsc,
        Self::EmailDesc,
        Self::NicknameAsc,
        Self::NicknameDesc,
    ];

    /// The contract's names: `created_at`, `-created_at`, `email`, `-email`, `nickname`,
    /// `-nickname`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAtDesc => "-created_at",
            Self::CreatedAtAsc => "created_at",
            Self::EmailAsc => "email",
            Self::EmailDesc => "-email",
            Self::NicknameAsc => "nickname",
            Self::NicknameDesc => "-nickname",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Which audit events a listing returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub skip: u64,
    pub limit: u64,
    /// Events whose target or actor is this user.
    pub user_id: Option<UserId>,
    pub kind: Option<AuditKind>,
}

/// A stored audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub event: AuditEvent,
}

/// Reading the audit log. Events are written by the [`UserRepository`] methods, in the
/// transaction of the change they record.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// A page of events, newest first, and the number of all matches.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn list(&self, query: AuditQuery) -> Result<Page<AuditRecord>, RepoError>;
}

/// One page of a listing and the number of all matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// What a failed login stores when it locks the account.
#[derive(Debug, Clone, PartialEq)]
pub struct LockNotice {
    /// The one-time token of the unlock link, for this lock only.
    pub unlock_token: PendingToken,
    /// The "account locked" email carrying the link.
    pub mail: Mail,
    /// The `locked` audit event.
    pub audit: AuditEvent,
    /// The sessions the lock ends.
    pub end_sessions: EndSessions,
}

/// What a failed login did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedLogin {
    /// The failure was counted; `locked` is true when this very failure locked the account.
    Counted { attempts: u32, locked: bool },
    /// The account was locked already; nothing was counted.
    AlreadyLocked,
}

/// What a new password brings along (see [`UserRepository::set_password_hash`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordChanged {
    /// The "password changed" email.
    pub notice: Mail,
    pub end_sessions: EndSessions,
}

/// Storage of accounts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// # Errors
    /// `Unavailable`/`Other` only; an unknown id is `Ok(None)`.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepoError>;

    /// Looks the email up without regard to case.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// Whether any account has this nickname, without regard to case.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn nickname_taken(&self, nickname: &Nickname) -> Result<bool, RepoError>;

    /// Inserts an account. When `promote_if_first` is set and no account exists, the account
    /// MUST be stored as ADMIN with a verified email, and of concurrent inserts at most one may
    /// be promoted. The verification token is stored only for an unverified account.
    ///
    /// # Errors
    /// MUST return `EmailTaken` when the email exists (case-insensitively) and `NicknameTaken`
    /// when the nickname does, even when a concurrent insert won the race.
    async fn insert(&self, user: NewUser) -> Result<User, RepoError>;

    /// Applies `changes` and returns the updated account (`updated_at` set to now). A change of
    /// the email ends every outstanding password-reset and unlock token of the account.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown id; `EmailTaken`/`NicknameTaken` on collisions;
    /// `LastAdmin` when the change takes the ADMIN role from the only ADMIN (decided atomically).
    async fn update(&self, id: UserId, changes: UserChanges) -> Result<User, RepoError>;

    /// Deletes an account with its tokens and sessions, appends `audit` in the same transaction, and returns
    /// the keys of its picture, if it had one, so that the caller can remove the objects.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown id and `LastAdmin` for the only ADMIN.
    async fn delete(&self, id: UserId, audit: AuditEvent)
    -> Result<Option<PictureKeys>, RepoError>;

    /// Lifts a lock: the lock and the failure counter clear and the unlock token dies. `audit`
    /// is appended, in the same transaction, only when the account was locked.
    ///
    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`/`Other`.
    async fn unlock(&self, id: UserId, audit: AuditEvent) -> Result<User, RepoError>;

    /// Points the account at a new picture (`Some`) or at none, atomically, and returns the
    /// updated account together with the keys it pointed at before. `audit` is appended in the
    /// same transaction.
    ///
    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`/`Other`.
    async fn set_picture(
        &self,
        id: UserId,
        picture: Option<PictureKeys>,
        audit: Option<AuditEvent>,
    ) -> Result<(User, Option<PictureKeys>), RepoError>;

    /// The account with this nickname, without regard to case.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn find_by_nickname(&self, nickname: &Nickname) -> Result<Option<User>, RepoError>;

    /// Which of `candidates` are taken (compared without regard to case), in one query.
    /// Returns the lower-cased forms of the taken ones.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn taken_nicknames(&self, candidates: Vec<String>) -> Result<HashSet<String>, RepoError>;

    /// Sets the PRO status and `professional_status_updated_at = at`, but only when the status
    /// really changes (decided in the database, so of two racing upgrades one wins); `mail` is
    /// queued and `audit` appended in the same transaction, only then. Returns the
    /// updated account, or `None` when the status was already `is_professional` or the account
    /// is gone.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn set_professional(
        &self,
        id: UserId,
        is_professional: bool,
        at: DateTime<Utc>,
        mail: Mail,
        audit: AuditEvent,
    ) -> Result<Option<User>, RepoError>;

    /// Replaces the password hash. With a `change` it is a new password: in the same
    /// transaction every outstanding password-reset and unlock token of the account ends (links
    /// mailed before the change), the sessions it names end, and its notice is queued. Without
    /// one it is the same password hashed anew (bcrypt to Argon2id), which changes nothing else.
    ///
    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`/`Other`.
    async fn set_password_hash(
        &self,
        id: UserId,
        hash: PasswordHash,
        change: Option<PasswordChanged>,
    ) -> Result<(), RepoError>;

    /// Which of `keys` some account's picture or thumbnail points at.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn referenced_picture_keys(
        &self,
        keys: Vec<String>,
    ) -> Result<HashSet<String>, RepoError>;

    /// A page of accounts, newest first, and the number of all matches.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn list(&self, query: UserQuery) -> Result<Page<User>, RepoError>;

    /// Counts a failed login atomically: the counter goes up by one and the account locks when
    /// it reaches `max_attempts`. Parallel calls MUST never count past the lock. Only the call
    /// whose failure locks the account carries out `on_lock` (stores its unlock token, replacing
    /// any earlier one, queues its email, appends its event and ends the sessions it names), in
    /// the same transaction.
    ///
    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`/`Other`.
    async fn record_failed_login(
        &self,
        id: UserId,
        max_attempts: u32,
        on_lock: LockNotice,
    ) -> Result<FailedLogin, RepoError>;

    /// Records a successful login: the failure counter resets, `last_login_at` becomes `at`.
    /// Returns the updated account, or `None` when it is gone or was locked in the meantime.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn record_login(&self, id: UserId, at: DateTime<Utc>) -> Result<Option<User>, RepoError>;

    /// Replaces the account's email-verification token and queues `mail`, in one transaction.
    ///
    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`/`Other`.
    async fn replace_verification_token(
        &self,
        id: UserId,
        token: PendingToken,
        mail: Mail,
    ) -> Result<(), RepoError>;

    /// Stores a password-reset token for the account (earlier ones stay valid until a reset
    /// succeeds) and queues `mail`, in one transaction.
    ///
    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`/`Other`.
    async fn create_password_reset(
        &self,
        id: UserId,
        token: PendingToken,
        mail: Mail,
    ) -> Result<(), RepoError>;

    /// Uses a password-reset token: only a stored, unexpired one at `now`. In one transaction
    /// the password hash becomes `new_hash`, the lock and the failure counter clear, and every
    /// reset token and the unlock token of the account are deleted; when a lock was lifted, an
    /// `unlocked` audit event by the account itself is appended, an email of kind `notice`
    /// is queued to the account (its address and nickname as stored), and the sessions
    /// `end_sessions` names end. Returns the account, or `None` when the token does not
    /// qualify.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn reset_password(
        &self,
        token: TokenHash,
        new_hash: PasswordHash,
        now: DateTime<Utc>,
        notice: MailKind,
        end_sessions: EndSessions,
    ) -> Result<Option<User>, RepoError>;

    /// Uses an unlock token: only the stored, unexpired one of a locked account. In one
    /// transaction the lock and the failure counter clear, the token is deleted, and an
    /// `unlocked` audit event by the account itself is appended. Returns the account, or `None`
    /// when the token does not qualify.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn unlock_with_token(
        &self,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError>;

    /// Uses up the verification token: only when it belongs to `id`, matches `token` and has not
    /// expired at `now`, it is deleted, the email becomes verified and an ANONYMOUS account
    /// becomes AUTHENTICATED, all in one transaction. Returns the verified account, or `None`
    /// when the token does not qualify.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn verify_email(
        &self,
        id: UserId,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError>;

    /// Answers when the storage is reachable.
    ///
    /// # Errors
    /// `Unavailable` when it is not.
    async fn ping(&self) -> Result<(), RepoError>;
}

/// Slow, salted password hashing. Implementations MUST NOT block the async executor.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// # Errors
    /// Only on a failure of the hashing machinery itself.
    async fn hash(&self, password: SecretString) -> anyhow::Result<PasswordHash>;

    /// Checks `candidate` against `hash`. With `None` (an unknown account) it MUST spend about
    /// the same time on a dummy hash and return `false`, so that timing does not tell which
    /// emails exist.
    ///
    /// # Errors
    /// Only on a failure of the hashing machinery; a malformed stored hash is `Ok(false)`.
    async fn verify(
        &self,
        candidate: SecretString,
        hash: Option<PasswordHash>,
    ) -> anyhow::Result<bool>;

    /// Whether a verified hash should be replaced by a fresh one (a bcrypt hash imported from
    /// the original, or Argon2 parameters weaker than today's).
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;

    /// A hash that no password matches, for accounts imported without a usable password (they
    /// get in through a password reset).
    fn unusable_hash(&self) -> PasswordHash;
}

/// An access token handed out at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
}

/// Why a bearer token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is malformed, badly signed or of a refused algorithm")]
    Invalid,
    #[error("token has expired")]
    Expired,
}

/// Whom and which session a valid access token was issued to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHolder {
    pub user: UserId,
    pub session: SessionId,
}

/// Issues and checks signed access tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenIssuer: Send + Sync {
    /// A token for `user` in `session` issued at `now`, carrying at least its id (`sub`), its
    /// role and the session (`sid`). It expires after the issuer's lifetime, but never after
    /// `not_after` (the end of its session).
    ///
    /// # Errors
    /// Only on a failure of the signing machinery.
    fn issue(
        &self,
        user: &User,
        session: SessionId,
        now: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> anyhow::Result<AccessToken>;

    /// The user and session a token was issued for.
    ///
    /// # Errors
    /// `Expired` past its expiry; `Invalid` for anything else that is not a token we signed,
    /// a token without a session included.
    fn verify(&self, token: &str) -> Result<TokenHolder, TokenError>;
}

/// What an email is about. The mail adapter renders it; the core never builds message text.
#[derive(Debug, Clone, PartialEq)]
pub enum MailKind {
    /// Confirm the address: links to `/verify-email/{user_id}/{token}`.
    VerifyEmail { user_id: UserId, token: RawToken },
    /// Choose a new password: links to `/password-reset?token=…`.
    PasswordReset { token: RawToken },
    /// The account was locked after too many failed logins: links to `/unlock?token=…`.
    AccountLocked { unlock_token: RawToken },
    /// The account's PRO status changed (by the user's upgrade or by staff).
    ProStatusChanged { is_professional: bool },
    /// An administrator changed the account's role.
    RoleChanged { role: Role },
    /// A security notice: the account's password was changed (by its owner or by a reset).
    PasswordChanged,
    /// A security notice to the **old** address: the account's email was changed to
    /// `new_email`.
    EmailChanged { new_email: Email },
}

/// One email to one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub to: Email,
    /// How to greet the recipient (the nickname).
    pub greeting_name: String,
    pub kind: MailKind,
}

/// A mail transport (SMTP, a directory of `.eml` files, the log). Only the outbox worker uses
/// it: use cases queue their emails in the outbox, in the transaction of the change.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// # Errors
    /// When the email could not be delivered; the outbox retries it later.
    async fn send(&self, mail: Mail) -> anyhow::Result<()>;
}

/// An email waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub mail: Mail,
    /// Delivery attempts so far, this one included.
    pub attempts: u32,
}

/// How many emails wait, and how many were given up on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    pub pending: u64,
    pub dead: u64,
}

/// The queue of emails to deliver, filled by the repository's transactions.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Claims up to `limit` messages that are due at `now` and not claimed by anyone else, for
    /// `lease`; counts the attempt. Concurrent callers (other instances) MUST get disjoint
    /// messages (`FOR UPDATE SKIP LOCKED`). A message whose lease ran out (its claimer died) is
    /// due again.
    ///
    /// # Errors
    /// `Unavailable`/`Other`.
    async fn claim(
        &self,
        limit: u32,
        lease: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxMessage>, RepoError>;

    /// Marks a message delivered; its body (which may hold a token) is erased.
    ///
    /// # Errors
    /// `Unavailable`/`Other`.
    async fn mark_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), RepoError>;

    /// Gives back the claims of messages that were not tried (a round interrupted before it
    /// reached them): the lease ends at once and the counted attempt is taken back, so they are
    /// due again for any claimer. Messages sent or given up on meanwhile stay as they are.
    ///
    /// # Errors
    /// `Unavailable`/`Other`.
    async fn release(&self, ids: &[i64]) -> Result<(), RepoError>;

    /// Records a failed attempt and its error. `retry_at: None` gives up on the message.
    ///
    /// # Errors
    /// `Unavailable`/`Other`.
    async fn mark_failed(
        &self,
        id: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepoError>;

    /// # Errors
    /// `Unavailable`/`Other`.
    async fn depth(&self) -> Result<OutboxDepth, RepoError>;
}

/// The hits of one rate-limit key in the current fixed window and the one before it, and how
/// far the current window has run (`0.0` at its start, just under `1.0` at its end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateWindow {
    pub current: u32,
    pub previous: u32,
    pub elapsed: f64,
}

/// Counters of requests per key and fixed window, shared by every instance of the service (rate
/// limits that hold across instances). The windows follow one clock for all callers (the
/// store's), so instances whose clocks differ still count in the same windows.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RateCounter: Send + Sync {
    /// Counts one hit of `key` in the current window of `window` length, atomically with
    /// concurrent callers, and returns that window's hits (this one included) and the previous
    /// window's.
    ///
    /// # Errors
    /// `Unavailable`/`Other`.
    async fn hit(&self, key: &str, window: Duration) -> Result<RateWindow, RepoError>;

    /// Removes the counters of windows that ended more than one `window` ago (they no longer
    /// count); safe to run in every instance at once. Returns how many were removed.
    ///
    /// # Errors
    /// `Unavailable`/`Other`.
    async fn forget_expired(&self, window: Duration) -> Result<u64, RepoError>;
}

/// What a housekeeping sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Expired email-verification, password-reset and unlock tokens.
    pub expired_tokens: u64,
    /// Emails delivered longer ago than the retention.
    pub delivered_mails: u64,
    /// Sessions ended or expired.
    pub finished_sessions: u64,
}

/// Removes what no longer serves: expired tokens, ended and expired sessions, and
/// long-delivered outbox rows. Safe to run in
/// every instance at once (each row is deleted by whoever gets to it first).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// Deletes the tokens that expired before `now`, the sessions ended or expired by `now`,
    /// and the outbox rows delivered before `now - keep_delivered`. Emails given up on are kept for an operator.
    ///
    /// # Errors
    /// `Unavailable`/`Other`.
    async fn remove_expired(
        &self,
        now: DateTime<Utc>,
        keep_delivered: TimeDelta,
    ) -> Result<Removed, RepoError>;
}

/// The current time, replaceable in tests.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Errors of an [`ObjectStore`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or refused to work; worth retrying later.
    #[error("object store unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("object store error")]
    Other(#[source] anyhow::Error),
}

/// The bytes of a stored object as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// A stored object, ready to be streamed to a client.
pub struct StoredObject {
    pub content_type: String,
    /// A strong validator for the object's bytes, quoted as in HTTP (`"…"`).
    pub etag: String,
    pub length: Option<u64>,
    pub body: ByteStream,
}

impl std::fmt::Debug for StoredObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredObject")
            .field("content_type", &self.content_type)
            .field("etag", &self.etag)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// One object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub last_modified: DateTime<Utc>,
}

/// Where pictures are kept: an S3 bucket or a local directory.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `bytes` under `key`. A reader MUST never see a partly written object.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached.
    async fn put(&self, key: &PictureKey, bytes: Bytes) -> Result<(), StoreError>;

    /// The object under `key`, or `None` when there is none.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached.
    async fn get(&self, key: &PictureKey) -> Result<Option<StoredObject>, StoreError>;

    /// Removes the object; removing an absent one is not an error.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached.
    async fn delete(&self, key: &PictureKey) -> Result<(), StoreError>;

    /// Every object in the store (bucket or directory), foreign ones included.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached.
    async fn list(&self) -> Result<Vec<ObjectInfo>, StoreError>;

    /// Answers when the store is reachable and the bucket exists.
    ///
    /// # Errors
    /// `Unavailable` when it is not.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// One re-encoded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPicture {
    pub bytes: Bytes,
    pub format: PictureFormat,
    pub width: u32,
    pub height: u32,
}

/// An upload turned into what is stored: a main picture within 512×512 and a 128×128 thumbnail,
/// both re-encoded without any metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedPicture {
    pub main: EncodedPicture,
    pub thumbnail: EncodedPicture,
}

/// Why an upload is not a usable picture.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// Not JPEG, PNG, WebP or GIF by its bytes (415).
    #[error("Unsupported image format")]
    UnsupportedFormat,
    /// More pixels than allowed, told by the header before decoding (422).
    #[error("Image is {width}×{height} pixels; at most {max_pixels} pixels are accepted")]
    TooManyPixels {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    /// Fewer pixels than the limit, but so deep (16 bits per channel, alpha) that decoding
    /// would take more memory than a picture may, told by the header before decoding (422).
    #[error(
        "Image is {width}×{height} pixels of {bytes_per_pixel} bytes each and would need {needed_mib} MiB to decode; at most {max_mib} MiB are allowed (use fewer pixels or 8 bits per channel)"
    )]
    TooMuchMemory {
        width: u32,
        height: u32,
        bytes_per_pixel: u64,
        needed_mib: u64,
        max_mib: u64,
    },
    /// Truncated or corrupt (422).
    #[error("Image could not be decoded: {0}")]
    Undecodable(String),
    #[error("image processing failed")]
    Internal(#[source] anyhow::Error),
}

/// Validates, decodes and re-encodes uploaded pictures. Implementations MUST NOT decode or
/// resize on the async executor.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PictureProcessor: Send + Sync {
    /// # Errors
    /// [`PictureError`] saying what is wrong with the upload.
    async fn process(&self, upload: Bytes) -> Result<ProcessedPicture, PictureError>;
}

/// An account to import (`import-csv`, `import-original`), every value valid and its password
/// hash settled by [`crate::services::ImportService`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedAccount {
    pub id: UserId,
    pub email: Email,
    /// `None`: a nickname is generated. A nickname that another account has (without regard to
    /// case) is replaced by a generated one, and the outcome says so.
    pub nickname: Option<Nickname>,
    pub profile: Profile,
    pub role: Role,
    pub email_verified: bool,
    pub is_professional: bool,
    pub professional_status_updated_at: Option<DateTime<Utc>>,
    pub is_locked: bool,
    pub failed_login_attempts: u32,
    /// Argon2id, a bcrypt hash of the original, or the hasher's unusable hash.
    pub password_hash: PasswordHash,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What became of one account of an imported batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportedRow {
    /// Inserted under `nickname`. `replaced` is the requested nickname when it was taken and a
    /// generated one was used instead.
    Inserted {
        nickname: Nickname,
        replaced: Option<Nickname>,
    },
    /// An account with the same id, or the same email without regard to case, exists already
    /// (or came earlier in the batch); nothing was written.
    AlreadyPresent,
}

/// What a batch did: the outcome of each account, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportedBatch {
    pub rows: Vec<ImportedRow>,
}

/// An account as `export-csv` writes it: no password hash, no picture, no timestamps. The
/// texts are the stored ones, not parsed again, so that an export never fails on a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedAccount {
    pub id: UserId,
    pub email: String,
    pub nickname: String,
    /// The profile fields that are set, in [`ProfileField::ALL`] order.
    pub profile: Vec<(ProfileField, String)>,
    pub role: String,
    pub email_verified: bool,
    pub is_professional: bool,
}

impl ExportedAccount {
    /// The stored text of `field`, `""` when it is not set.
    #[must_use]
    pub fn profile_text(&self, field: ProfileField) -> &str {
        self.profile
            .iter()
            .find(|(f, _)| *f == field)
            .map_or("", |(_, text)| text.as_str())
    }
}

/// Bulk storage of accounts for the operator's imports and export. Nothing else creates
/// accounts in batches; audit events and emails are not written (an import changes no existing
/// account).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountImporter: Send + Sync {
    /// Inserts `batch` in one transaction: all of it or, on an error, none of it. Returns one
    /// [`ImportedRow`] per account, in the order given.
    ///
    /// An account whose id, or whose email without regard to case, exists already (or came
    /// earlier in the batch) MUST be skipped as [`ImportedRow::AlreadyPresent`], so that an
    /// import can run again. An account whose nickname is taken (or that has none) MUST be
    /// inserted under a generated nickname that is free. A registration that races the import
    /// into an empty database MUST NOT be promoted to the first ADMIN.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only (nothing of the batch is kept then).
    async fn insert_batch(&self, batch: &[ImportedAccount]) -> Result<ImportedBatch, RepoError>;

    /// Up to `limit` accounts whose lower-cased email sorts after `after` (from the start with
    /// `None`), ordered by lower-cased email, then id: a stable order to page through every
    /// account.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn export_page(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<ExportedAccount>, RepoError>;
}
