//! The [`SessionRepository`] port of [`InMemoryRepository`], under the same one mutex as the
//! accounts: a rotation is atomic, so of two with one token only the first finds it current.

use std::collections::VecDeque;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use super::{InMemoryRepository, State};
use crate::{
    model::{AuditEvent, Session, SessionId, TokenHash, User, UserId},
    ports::{EndSessions, NewSession, RepoError, Rotation, SessionRepository},
};

/// A session with what only the storage sees: its token hashes and when it ended.
#[derive(Debug, Clone)]
pub(super) struct StoredSession {
    pub(super) session: Session,
    current: TokenHash,
    /// Newest first.
    earlier: VecDeque<TokenHash>,
    ended_at: Option<DateTime<Utc>>,
}

impl StoredSession {
    fn alive(&self, now: DateTime<Utc>) -> bool {
        self.ended_at.is_none() && self.session.expires_at > now
    }

    fn knows(&self, token: &TokenHash) -> bool {
        self.current == *token || self.earlier.contains(token)
    }
}

impl State {
    /// Ends the sessions of `user` alive at `at` that `which` names; how many (expired ones go
    /// with the sweep, as in PostgreSQL).
    pub(super) fn end_sessions(
        &mut self,
        user: UserId,
        which: EndSessions,
        at: DateTime<Utc>,
    ) -> u64 {
        let mut ended = 0;
        for stored in &mut self.sessions {
            let spared = matches!(which, EndSessions::AllBut(keep) if keep == stored.session.id);
            if stored.session.user_id == user && stored.alive(at) && !spared {
                stored.ended_at = Some(at);
                ended += 1;
            }
        }
        ended
    }

    /// The account `user` while its session `id` is not ended (expiry is the access token's).
    fn signed_in_user(&self, user: UserId, id: SessionId) -> Option<User> {
        self.sessions
            .iter()
            .any(|s| s.session.id == id && s.session.user_id == user && s.ended_at.is_none())
            .then(|| self.find(user).cloned())
            .flatten()
    }
}

impl InMemoryRepository {
    /// Stores a live session `id` of `user` started at `at` and living `ttl`, as a fixture (its
    /// refresh token is nobody's).
    ///
    /// # Panics
    /// When `user` is not stored.
    pub fn put_session(&self, id: SessionId, user: UserId, at: DateTime<Utc>, ttl: TimeDelta) {
        let mut state = self.state();
        assert!(state.find(user).is_some(), "no account {user}");
        state.sessions.push(StoredSession {
            session: Session {
                id,
                user_id: user,
                created_at: at,
                last_used_at: at,
                expires_at: at + ttl,
                user_agent: None,
                ip: None,
            },
            current: crate::model::RawToken::generate().hash(),
            earlier: VecDeque::new(),
            ended_at: None,
        });
    }

    /// Every stored session of `user`, ended or not, with its end (a fixture's view).
    #[must_use]
    pub fn stored_sessions(&self, user: UserId) -> Vec<(Session, Option<DateTime<Utc>>)> {
        self.state()
            .sessions
            .iter()
            .filter(|s| s.session.user_id == user)
            .map(|s| (s.session.clone(), s.ended_at))
            .collect()
    }

    /// Ends the first session alive at `now` that `which` picks; whether there was one.
    fn end_first(&self, now: DateTime<Utc>, which: impl Fn(&StoredSession) -> bool) -> bool {
        let mut state = self.state();
        let found = state.sessions.iter_mut().find(|s| which(s) && s.alive(now));
        found.map(|s| s.ended_at = Some(now)).is_some()
    }

    /// Removes the sessions ended or expired at `now` (the sweep); how many.
    pub fn remove_finished_sessions(&self, now: DateTime<Utc>) -> u64 {
        let mut state = self.state();
        let before = state.sessions.len();
        state.sessions.retain(|s| s.alive(now));
        u64::try_from(before - state.sessions.len()).unwrap_or(u64::MAX)
    }
}

#[async_trait]
impl SessionRepository for InMemoryRepository {
    async fn start(&self, new: NewSession) -> Result<(), RepoError> {
        let mut state = self.state();
        state.existing(new.user_id)?;
        // Room for the new one: the oldest live sessions end first (in creation order).
        let live = state
            .sessions
            .iter()
            .filter(|s| s.session.user_id == new.user_id && s.ended_at.is_none())
            .count();
        let mut excess = (live + 1).saturating_sub(new.keep_at_most.max(1));
        for stored in &mut state.sessions {
            if excess > 0 && stored.session.user_id == new.user_id && stored.ended_at.is_none() {
                stored.ended_at = Some(new.created_at);
                excess -= 1;
            }
        }
        state.sessions.push(StoredSession {
            session: Session {
                id: new.id,
                user_id: new.user_id,
                created_at: new.created_at,
                last_used_at: new.created_at,
                expires_at: new.expires_at,
                user_agent: new.client.user_agent,
                ip: new.client.ip,
            },
            current: new.refresh,
            earlier: VecDeque::new(),
            ended_at: None,
        });
        Ok(())
    }

    async fn rotate(
        &self,
        id: SessionId,
        presented: TokenHash,
        next: TokenHash,
        now: DateTime<Utc>,
        remember: usize,
    ) -> Result<Rotation, RepoError> {
        let mut state = self.state();
        let State {
            sessions, users, ..
        } = &mut *state;
        let Some(stored) = sessions.iter_mut().find(|s| s.session.id == id) else {
            return Ok(Rotation::Refused);
        };
        if stored.earlier.contains(&presented) {
            return Ok(Rotation::Earlier);
        }
        let user = users
            .iter()
            .find(|u| u.id == stored.session.user_id && !u.is_locked);
        match user {
            Some(user) if stored.current == presented && stored.alive(now) => {
                let replaced = std::mem::replace(&mut stored.current, next);
                stored.earlier.push_front(replaced);
                stored.earlier.truncate(remember);
                stored.session.last_used_at = now;
                Ok(Rotation::Rotated {
                    user: Box::new(user.clone()),
                    expires_at: stored.session.expires_at,
                })
            }
            _ => Ok(Rotation::Refused),
        }
    }

    async fn session_user(&self, user: UserId, id: SessionId) -> Result<Option<User>, RepoError> {
        Ok(self.state().signed_in_user(user, id))
    }

    async fn session_user_and(
        &self,
        user: UserId,
        id: SessionId,
        other: UserId,
    ) -> Result<(Option<User>, Option<User>), RepoError> {
        let state = self.state();
        Ok((state.signed_in_user(user, id), state.find(other).cloned()))
    }

    async fn list(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, RepoError> {
        let mut live: Vec<Session> = self
            .state()
            .sessions
            .iter()
            .filter(|s| s.session.user_id == user && s.alive(now))
            .map(|s| s.session.clone())
            .collect();
        live.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(live)
    }

    async fn end(
        &self,
        user: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        Ok(self.end_first(now, |s| s.session.id == id && s.session.user_id == user))
    }

    async fn end_by_token(
        &self,
        id: SessionId,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        Ok(self.end_first(now, |s| s.session.id == id && s.knows(&token)))
    }

    async fn end_all(
        &self,
        user: UserId,
        which: EndSessions,
        now: DateTime<Utc>,
        audited_by: Option<UserId>,
    ) -> Result<u64, RepoError> {
        let mut state = self.state();
        let ended = state.end_sessions(user, which, now);
        if let Some(actor) = audited_by {
            state.append(&[AuditEvent::sessions_revoked(actor, user, ended)]);
        }
        Ok(ended)
    }
}
