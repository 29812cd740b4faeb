//! Storage of sessions: the [`SessionRepository`] port.
//!
//! The rules (a login starts a session, a refresh rotates its token, a reused token ends it,
//! which changes end which sessions) are the use cases'; the port stores, finds and ends, and
//! decides races in one statement or one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::RepoError;
use crate::model::{ClientInfo, Session, SessionId, TokenHash, User, UserId};

/// A session to store at a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    /// The hash of its first refresh token.
    pub refresh: TokenHash,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub client: ClientInfo,
    /// At most this many live sessions per account: starting one more ends the oldest ones.
    pub keep_at_most: usize,
}

/// Which sessions of an account a change ends, in the same transaction as the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndSessions {
    /// Every session (a password reset, a lock).
    All,
    /// Every session but this one (a password change keeps the session that made it).
    AllBut(SessionId),
}

/// What [`SessionRepository::rotate`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The presented token was the session's current one, the session was alive and its account
    /// unlocked: the token is replaced, `last_used_at` is now. The account, as stored, and
    /// the end of the session's life.
    Rotated {
        user: Box<User>,
        expires_at: DateTime<Utc>,
    },
    /// The presented token is one the session had earlier (among the remembered ones): a token
    /// used twice. Nothing was changed.
    Earlier,
    /// Anything else: no such session, not its token, or the session ended or expired, or its
    /// account locked.
    Refused,
}

/// Storage of sessions. Times are passed in, so that "alive" means the same in every adapter:
/// not ended, and `expires_at` after `now`. The per-request check ([`Self::session_user`]) asks
/// only "not ended": an access token never outlives its session (the use cases cap its expiry),
/// so that check can read the account's row alone.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session, `last_used_at` = `created_at`; when the account has `keep_at_most`
    /// live sessions or more, the oldest end first, leaving room for this one.
    ///
    /// # Errors
    /// `NotFound` when the account is gone.
    async fn start(&self, session: NewSession) -> Result<(), RepoError>;

    /// Replaces the session's refresh token `presented` with `next`, only when `presented` is
    /// its current one, the session is alive at `now` and its account not locked; the replaced
    /// hash joins the session's earlier ones, of which the newest `remember` are kept. Of two
    /// concurrent calls with one token at most one MUST get `Rotated` (decided in the storage).
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn rotate(
        &self,
        id: SessionId,
        presented: TokenHash,
        next: TokenHash,
        now: DateTime<Utc>,
        remember: usize,
    ) -> Result<Rotation, RepoError>;

    /// The account `user` when its session `id` has not been ended, in one round trip; `None`
    /// when the session is ended, someone else's or unknown, or the account gone. An expired
    /// session may still count until it is swept: its access tokens have expired with it.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn session_user(&self, user: UserId, id: SessionId) -> Result<Option<User>, RepoError>;

    /// [`session_user`](Self::session_user) and the account `other` (`None` when there is no
    /// such account), in the same round trip: an authenticated request loads its caller and
    /// its target together. `other` may be `user`.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn session_user_and(
        &self,
        user: UserId,
        id: SessionId,
        other: UserId,
    ) -> Result<(Option<User>, Option<User>), RepoError>;

    /// The sessions of `user` alive at `now`, newest first.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn list(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, RepoError>;

    /// Ends the session `id` of `user` at `now`. `true` when it was alive.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn end(&self, user: UserId, id: SessionId, now: DateTime<Utc>)
    -> Result<bool, RepoError>;

    /// Ends the session `id` when `token` is its current refresh token or one of its remembered
    /// earlier ones (a logout by refresh token). `true` when it was alive.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn end_by_token(
        &self,
        id: SessionId,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;

    /// Ends the sessions of `user` that `which` names and that are alive at `now`. With
    /// `audited_by`, appends [`AuditEvent::sessions_revoked`](crate::model::AuditEvent::sessions_revoked) by that actor with the number
    /// ended, in the same transaction. Returns how many were ended.
    ///
    /// # Errors
    /// `Unavailable`/`Other` only.
    async fn end_all(
        &self,
        user: UserId,
        which: EndSessions,
        now: DateTime<Utc>,
        audited_by: Option<UserId>,
    ) -> Result<u64, RepoError>;
}
