//! Sessions: started by a login, kept going by refreshes that rotate the refresh token, ended by
//! a logout, by their owner from the list, by staff, or by the changes that end them by
//! themselves (a password change, a reset, a lock; a deletion takes them with the account).
//!
//! A refresh token works once. One that was already rotated and comes back was copied: it ends
//! its whole session, so that a thief and the owner cannot both go on (RFC 9700, 4.14.2). Two
//! refreshes racing with one token count the same way: at most one gets a new pair, the other
//! presents a token that has just become an earlier one.

use chrono::{DateTime, Utc};

use super::{LoginSuccess, UserService};
use crate::{
    authz::Actor,
    error::Error,
    model::{ClientInfo, RefreshToken, Session, SessionId, User, UserId},
    ports::{EndSessions, NewSession, RepoError, Rotation},
};

/// How many of a session's earlier refresh tokens are remembered to recognise a reused one. A
/// token older than that is refused like an unknown one (without ending the session): a client
/// that refreshes every 30 minutes rotates 64 tokens in 32 hours, far longer than a copied
/// token goes unused in the attacks reuse detection is for.
pub const REMEMBERED_REFRESH_TOKENS: usize = 64;

/// The most live sessions an account keeps: a login beyond ends the oldest. Far more than
/// people use; it bounds what a script that logs in without ever logging out leaves behind.
pub const MAX_LIVE_SESSIONS: usize = 100;

impl UserService {
    /// Starts a session of `user` for `client` at `now` and issues its first tokens.
    ///
    /// # Errors
    /// `InvalidCredentials` when the account was deleted meanwhile; `Unavailable`, `Internal`.
    pub(super) async fn start_session(
        &self,
        user: User,
        client: ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<LoginSuccess, Error> {
        let id = SessionId::new();
        let refresh = RefreshToken::generate(id);
        let expires_at = now + self.settings.session_ttl;
        let started = self
            .ports
            .sessions
            .start(NewSession {
                id,
                user_id: user.id,
                refresh: refresh.hash(),
                created_at: now,
                expires_at,
                client,
                keep_at_most: MAX_LIVE_SESSIONS,
            })
            .await;
        match started {
            Ok(()) => {}
            Err(RepoError::NotFound) => return Err(Error::InvalidCredentials),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user_id = %user.id, session_id = %id, "session started");
        self.issue(user, id, refresh, expires_at, now)
    }

    /// The tokens of a session: a new access token and the refresh token just stored.
    fn issue(
        &self,
        user: User,
        session: SessionId,
        refresh: RefreshToken,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LoginSuccess, Error> {
        let access = self
            .ports
            .tokens
            .issue(&user, session, now, expires_at)
            .map_err(Error::Internal)?;
        Ok(LoginSuccess {
            access,
            refresh,
            refresh_expires_in: (expires_at - now).num_seconds().max(0),
            user,
        })
    }

    /// Trades a refresh token for a new access token and a new refresh token; the presented
    /// one stops working. A token that was already rotated ends its whole session.
    ///
    /// # Errors
    /// `InvalidRefreshToken` (401) for an unknown, expired, ended or reused token, or one whose
    /// account is locked or gone; `Unavailable`, `Internal`.
    pub async fn refresh(&self, token: &str) -> Result<LoginSuccess, Error> {
        let presented = RefreshToken::parse(token).ok_or(Error::InvalidRefreshToken)?;
        let session = presented.session();
        let next = RefreshToken::generate(session);
        let now = self.ports.clock.now();
        let rotation = self
            .ports
            .sessions
            .rotate(
                session,
                presented.hash(),
                next.hash(),
                now,
                REMEMBERED_REFRESH_TOKENS,
            )
            .await?;
        match rotation {
            Rotation::Rotated { user, expires_at } => {
                self.issue(*user, session, next, expires_at, now)
            }
            Rotation::Earlier => {
                // Copied, or raced by a second refresh with the same token: either way two
                // holders, so none keeps the session.
                self.ports
                    .sessions
                    .end_by_token(session, presented.hash(), now)
                    .await?;
                tracing::warn!(
                    session_id = %session,
                    "a refresh token was used a second time; its session is ended"
                );
                Err(Error::InvalidRefreshToken)
            }
            Rotation::Refused => Err(Error::InvalidRefreshToken),
        }
    }

    /// Ends the caller's own session (`POST /logout` with a bearer token). Ending one that has
    /// just ended is no error.
    ///
    /// # Errors
    /// `Unavailable`, `Internal`.
    pub async fn logout(&self, user: UserId, session: SessionId) -> Result<(), Error> {
        if self
            .ports
            .sessions
            .end(user, session, self.ports.clock.now())
            .await?
        {
            tracing::info!(user_id = %user, session_id = %session, "logged out");
        }
        Ok(())
    }

    /// Ends the session of a bearer token (`POST /logout`). The token must be valid (signed by
    /// us, not expired); its session may have ended already.
    ///
    /// # Errors
    /// `Unauthenticated` (401) for a token that is not valid; `Unavailable`, `Internal`.
    pub async fn logout_bearer(&self, bearer: &str) -> Result<(), Error> {
        let holder = self.token_holder(bearer)?;
        self.logout(holder.user, holder.session).await
    }

    /// Ends the session of a refresh token (`POST /logout` without a bearer token). As token
    /// revocation does (RFC 7009, 2.2), it answers the same for a token that matches nothing:
    /// the caller learns nothing, and ending twice is fine. Only the session whose current or
    /// remembered earlier token this is ends: knowing a session's id is not enough.
    ///
    /// # Errors
    /// `Unavailable`, `Internal`.
    pub async fn logout_with_refresh(&self, token: &str) -> Result<(), Error> {
        let Some(presented) = RefreshToken::parse(token) else {
            return Ok(());
        };
        let session = presented.session();
        if self
            .ports
            .sessions
            .end_by_token(session, presented.hash(), self.ports.clock.now())
            .await?
        {
            tracing::info!(session_id = %session, "logged out with a refresh token");
        }
        Ok(())
    }

    /// The caller's live sessions, newest first.
    ///
    /// # Errors
    /// `Unavailable`, `Internal`.
    pub async fn sessions_of(&self, user: UserId) -> Result<Vec<Session>, Error> {
        Ok(self
            .ports
            .sessions
            .list(user, self.ports.clock.now())
            .await?)
    }

    /// Ends one of the caller's own sessions (the current one too, if named).
    ///
    /// # Errors
    /// `SessionNotFound` (404) for someone else's, an unknown or an ended session.
    pub async fn end_own_session(&self, user: UserId, session: SessionId) -> Result<(), Error> {
        if !self
            .ports
            .sessions
            .end(user, session, self.ports.clock.now())
            .await?
        {
            return Err(Error::SessionNotFound);
        }
        tracing::info!(user_id = %user, session_id = %session, "session ended by its owner");
        Ok(())
    }

    /// Ends every session of the caller but `current` ("log out everywhere else").
    ///
    /// # Errors
    /// `Unavailable`, `Internal`.
    pub async fn end_other_sessions(&self, user: UserId, current: SessionId) -> Result<(), Error> {
        let ended = self
            .ports
            .sessions
            .end_all(
                user,
                EndSessions::AllBut(current),
                self.ports.clock.now(),
                None,
            )
            .await?;
        tracing::info!(user_id = %user, ended, "other sessions ended by their owner");
        Ok(())
    }

    /// Staff ends every session of an account (MANAGER: plain accounts only), audited as
    /// `sessions_revoked`.
    ///
    /// # Errors
    /// `Forbidden` (403), `UserNotFound` (404).
    pub async fn revoke_sessions(&self, actor: Actor, target: UserId) -> Result<(), Error> {
        self.administered(actor, target).await?;
        let ended = self
            .ports
            .sessions
            .end_all(
                target,
                EndSessions::All,
                self.ports.clock.now(),
                Some(actor.id),
            )
            .await?;
        tracing::info!(actor_id = %actor.id, user_id = %target, ended, "sessions revoked by staff");
        Ok(())
    }
}
