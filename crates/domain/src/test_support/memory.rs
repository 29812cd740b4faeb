//! [`InMemoryRepository`]: the [`UserRepository`], [`SessionRepository`](crate::ports::SessionRepository) and [`AuditLog`] ports
//! in memory, for tests.
//!
//! It keeps the rules the ports state, the way the PostgreSQL adapter keeps them (the contract
//! suite in [`super::contract`] runs against both): case-insensitive uniqueness of email and
//! nickname, the promoted first account, the last ADMIN, the lockout, single-use tokens with
//! expiry, and emails and audit events stored together with the change that causes them. One
//! mutex stands for the database's transactions: every method is atomic.
//!
//! What a transaction would have written to the outbox and the audit log stays observable
//! ([`InMemoryRepository::mails`], [`InMemoryRepository::audit_events`]), and so do the tokens.

mod sessions;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::{
    model::{
        AuditChange, AuditEvent, AuditKind, Email, Nickname, PasswordHash, PictureKeys, Role,
        TokenHash, User, UserId,
    },
    ports::{
        AuditLog, AuditQuery, AuditRecord, EndSessions, FailedLogin, LockNotice, Mail, MailKind,
        NewUser, Page, PasswordChanged, PendingToken, RepoError, UserChanges, UserFilter,
        UserQuery, UserRepository, UserSort,
    },
};

use sessions::StoredSession;

/// How many tokens of each kind are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub verification: usize,
    pub reset: usize,
    pub unlock: usize,
}

#[derive(Debug, Default)]
struct State {
    /// In insertion order.
    users: Vec<User>,
    verification: HashMap<UserId, PendingToken>,
    /// In creation order; an account may have several.
    reset: Vec<(UserId, PendingToken)>,
    unlock: HashMap<UserId, PendingToken>,
    mails: Vec<Mail>,
    audit: Vec<AuditRecord>,
    /// In creation order.
    sessions: Vec<StoredSession>,
    /// The last `updated_at` or audit time handed out: times never go backwards.
    last_time: Option<DateTime<Utc>>,
}

/// Accounts, their tokens, the outbox and the audit log, in memory. Cheap to clone; clones share
/// the same data.
#[derive(Debug, Clone, Default)]
pub struct InMemoryRepository {
    state: Arc<Mutex<State>>,
}

impl InMemoryRepository {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `user` as it is, as a fixture (no token, no email, no event).
    ///
    /// # Panics
    /// When its id, email or nickname is taken: a fixture that breaks the rules is a bug.
    pub fn put(&self, user: User) {
        let mut state = self.state();
        assert!(
            state.find(user.id).is_none(),
            "a user with id {} is stored already",
            user.id
        );
        assert!(
            state
                .collision(None, Some(&user.email), Some(&user.nickname))
                .is_none(),
            "the email or nickname of {} is taken",
            user.id
        );
        state.users.push(user);
    }

    /// The stored account, if any.
    #[must_use]
    pub fn get(&self, id: UserId) -> Option<User> {
        self.state().find(id).cloned()
    }

    /// Stores a token of the account `id` with `store`, and queues `mail`, which carries it.
    fn store_token(
        &self,
        id: UserId,
        mail: Mail,
        store: impl FnOnce(&mut State),
    ) -> Result<(), RepoError> {
        let mut state = self.state();
        state.existing(id)?;
        store(&mut state);
        state.mails.push(mail);
        Ok(())
    }

    /// The first stored account that `wanted` accepts, if any.
    fn find_user(&self, wanted: impl Fn(&User) -> bool) -> Option<User> {
        self.state().users.iter().find(|u| wanted(u)).cloned()
    }

    /// The stored accounts that `wanted` accepts, in insertion order.
    fn users_where(&self, wanted: impl Fn(&User) -> bool) -> Vec<User> {
        self.state()
            .users
            .iter()
            .filter(|u| wanted(u))
            .cloned()
            .collect()
    }

    /// Every stored account, in insertion order.
    #[must_use]
    pub fn users(&self) -> Vec<User> {
        self.state().users.clone()
    }

    /// Every email queued so far, in order.
    #[must_use]
    pub fn mails(&self) -> Vec<Mail> {
        self.state().mails.clone()
    }

    /// The emails queued since the last call, in order; the outbox is emptied.
    #[must_use]
    pub fn take_mails(&self) -> Vec<Mail> {
        std::mem::take(&mut self.state().mails)
    }

    /// Every audit event appended so far, in order, as it was handed over.
    #[must_use]
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.state().audit.iter().map(|r| r.event.clone()).collect()
    }

    /// How many tokens of each kind are stored.
    #[must_use]
    pub fn token_counts(&self) -> TokenCounts {
        let state = self.state();
        TokenCounts {
            verification: state.verification.len(),
            reset: state.reset.len(),
            unlock: state.unlock.len(),
        }
    }

    /// The account's email-verification token, if one is stored.
    #[must_use]
    pub fn verification_token(&self, id: UserId) -> Option<PendingToken> {
        self.state().verification.get(&id).cloned()
    }

    /// The account's password-reset tokens, oldest first.
    #[must_use]
    pub fn reset_tokens(&self, id: UserId) -> Vec<PendingToken> {
        self.state()
            .reset
            .iter()
            .filter(|(owner, _)| *owner == id)
            .map(|(_, token)| token.clone())
            .collect()
    }

    /// The account's unlock token, if one is stored.
    #[must_use]
    pub fn unlock_token(&self, id: UserId) -> Option<PendingToken> {
        self.state().unlock.get(&id).cloned()
    }

    /// Lifts a lock behind the repository's back (the counter too), keeping every token, as an
    /// operator's SQL would.
    pub fn lift_lock_keeping_tokens(&self, id: UserId) {
        if let Some(user) = self.state().find_mut(id) {
            user.is_locked = false;
            user.failed_login_attempts = 0;
        }
    }
}

impl State {
    fn find(&self, id: UserId) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    fn find_mut(&mut self, id: UserId) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.id == id)
    }

    fn existing(&mut self, id: UserId) -> Result<&mut User, RepoError> {
        self.find_mut(id).ok_or(RepoError::NotFound)
    }

    /// Which unique value of another account than `except` the given ones collide with.
    fn collision(
        &self,
        except: Option<UserId>,
        email: Option<&Email>,
        nickname: Option<&Nickname>,
    ) -> Option<RepoError> {
        let others = || self.users.iter().filter(|u| Some(u.id) != except);
        if let Some(email) = email {
            let wanted = email.normalized();
            if others().any(|u| u.email.normalized() == wanted) {
                return Some(RepoError::EmailTaken);
            }
        }
        if let Some(nickname) = nickname {
            let wanted = nickname.normalized();
            if others().any(|u| u.nickname.normalized() == wanted) {
                return Some(RepoError::NicknameTaken);
            }
        }
        None
    }

    /// Refuses with `LastAdmin` when `id` is the only ADMIN.
    fn ensure_not_last_admin(&self, id: UserId) -> Result<(), RepoError> {
        let admins: Vec<UserId> = self
            .users
            .iter()
            .filter(|u| u.role == Role::Admin)
            .map(|u| u.id)
            .collect();
        if admins == [id] {
            return Err(RepoError::LastAdmin);
        }
        Ok(())
    }

    /// A time after every one handed out before: `updated_at` always moves.
    fn tick(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let at = match self.last_time {
            Some(last) if now <= last => last + TimeDelta::microseconds(1),
            _ => now,
        };
        self.last_time = Some(at);
        at
    }

    fn touch(&mut self, id: UserId) {
        let at = self.tick();
        if let Some(user) = self.find_mut(id) {
            user.updated_at = at;
        }
    }

    /// Appends `events`, which share one time, as the events of one transaction do.
    fn append(&mut self, events: &[AuditEvent]) {
        if events.is_empty() {
            return;
        }
        let at = self.tick();
        for event in events {
            let id = i64::try_from(self.audit.len()).unwrap_or(i64::MAX) + 1;
            self.audit.push(AuditRecord {
                id,
                at,
                event: event.clone(),
            });
        }
    }

    fn end_reset_and_unlock_tokens(&mut self, id: UserId) {
        self.reset.retain(|(owner, _)| *owner != id);
        self.unlock.remove(&id);
    }
}

/// A field named twice in one event is a bug of the caller: the PostgreSQL adapter refuses the
/// whole transaction, and so does this.
fn check_audit(events: &[AuditEvent]) -> Result<(), RepoError> {
    for event in events {
        let mut fields = HashSet::new();
        if let Some(twice) = event
            .changes
            .iter()
            .find(|c| !fields.insert(c.field.as_str()))
        {
            return Err(RepoError::Other(anyhow::anyhow!(
                "an audit event names the field {:?} twice",
                twice.field
            )));
        }
    }
    Ok(())
}

/// The `unlocked` event of an account that lifted its own lock.
fn unlocked_by_itself(id: UserId) -> AuditEvent {
    AuditEvent {
        actor: Some(id),
        target: id,
        kind: AuditKind::Unlocked,
        changes: vec![AuditChange::new(
            "is_locked",
            Some("true".to_owned()),
            Some("false".to_owned()),
        )],
    }
}

fn matches(filter: &UserFilter, user: &User) -> bool {
    if let Some(q) = &filter.q {
        let needle = q.to_lowercase();
        let fields = [
            Some(user.email.as_str()),
            Some(user.nickname.as_str()),
            user.profile.first_name.as_ref().map(|n| n.as_str()),
            user.profile.last_name.as_ref().map(|n| n.as_str()),
        ];
        if !fields
            .into_iter()
            .flatten()
            .any(|text| text.to_lowercase().contains(&needle))
        {
            return false;
        }
    }
    filter
        .roles
        .as_ref()
        .is_none_or(|roles| roles.contains(&user.role))
        && filter.is_locked.is_none_or(|v| user.is_locked == v)
        && filter
            .is_professional
            .is_none_or(|v| user.is_professional == v)
        && filter
            .email_verified
            .is_none_or(|v| user.email_verified == v)
        && filter
            .created_from
            .is_none_or(|from| user.created_at >= from)
        && filter.created_to.is_none_or(|to| user.created_at <= to)
}

fn sort(users: &mut [User], sort: UserSort) {
    users.sort_by(|a, b| match sort {
        UserSort::CreatedAtDesc => (b.created_at, b.id).cmp(&(a.created_at, a.id)),
        UserSort::CreatedAtAsc => (a.created_at, a.id).cmp(&(b.created_at, b.id)),
        UserSort::EmailAsc => (a.email.normalized(), a.id).cmp(&(b.email.normalized(), b.id)),
        UserSort::EmailDesc => (b.email.normalized(), b.id).cmp(&(a.email.normalized(), a.id)),
        UserSort::NicknameAsc => {
            (a.nickname.normalized(), a.id).cmp(&(b.nickname.normalized(), b.id))
        }
        UserSort::NicknameDesc => {
            (b.nickname.normalized(), b.id).cmp(&(a.nickname.normalized(), a.id))
        }
    });
}

fn page<T>(items: Vec<T>, skip: u64, limit: u64) -> Page<T> {
    let total = items.len() as u64;
    let skip = usize::try_from(skip).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    Page {
        items: items.into_iter().skip(skip).take(limit).collect(),
        total,
    }
}

#[async_trait]
impl UserRepository for InMemoryRepository {
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepoError> {
        Ok(self.get(id))
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let wanted = email.normalized();
        Ok(self.find_user(|u| u.email.normalized() == wanted))
    }

    async fn nickname_taken(&self, nickname: &Nickname) -> Result<bool, RepoError> {
        Ok(self.find_by_nickname(nickname).await?.is_some())
    }

    async fn insert(&self, new: NewUser) -> Result<User, RepoError> {
        let mut state = self.state();
        if let Some(taken) = state.collision(None, Some(&new.email), Some(&new.nickname)) {
            return Err(taken);
        }
        let promoted = new.promote_if_first && state.users.is_empty();
        let (role, email_verified) = if promoted {
            (Role::Admin, true)
        } else {
            (new.role, new.email_verified)
        };
        let user = User {
            id: new.id,
            email: new.email,
            nickname: new.nickname,
            profile: new.profile,
            picture: None,
            role,
            is_professional: false,
            professional_status_updated_at: None,
            email_verified,
            is_locked: false,
            failed_login_attempts: 0,
            password_hash: new.password_hash,
            last_login_at: None,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        state.users.push(user.clone());
        // A verified account (the promoted first ADMIN) needs neither token nor email.
        if !email_verified {
            if let Some(token) = new.verification_token {
                state.verification.insert(user.id, token);
            }
            state.mails.extend(new.verification_mail);
        }
        Ok(user)
    }

    async fn update(&self, id: UserId, changes: UserChanges) -> Result<User, RepoError> {
        let mut state = self.state();
        let current = state.find(id).ok_or(RepoError::NotFound)?;
        if changes.role.is_some_and(|r| r != Role::Admin) && current.role == Role::Admin {
            state.ensure_not_last_admin(id)?;
        }
        if let Some(taken) =
            state.collision(Some(id), changes.email.as_ref(), changes.nickname.as_ref())
        {
            return Err(taken);
        }
        check_audit(&changes.audit)?;
        let at = state.tick();
        let user = state.existing(id)?;
        if let Some(email) = &changes.email {
            user.email = email.clone();
        }
        if let Some(verified) = changes.email_verified {
            user.email_verified = verified;
        }
        if let Some(nickname) = &changes.nickname {
            user.nickname = nickname.clone();
        }
        changes.profile.apply_to(&mut user.profile);
        if let Some(role) = changes.role {
            user.role = role;
        }
        user.updated_at = at;
        let user = user.clone();
        if let Some(token) = changes.verification_token {
            state.verification.insert(id, token);
        }
        if changes.email.is_some() {
            // A link mailed to the old address must not open the account any more.
            state.end_reset_and_unlock_tokens(id);
        }
        state.mails.extend(changes.mails);
        state.append(&changes.audit);
        Ok(user)
    }

    async fn delete(
        &self,
        id: UserId,
        audit: AuditEvent,
    ) -> Result<Option<PictureKeys>, RepoError> {
        let mut state = self.state();
        let current = state.find(id).ok_or(RepoError::NotFound)?;
        if current.role == Role::Admin {
            state.ensure_not_last_admin(id)?;
        }
        check_audit(std::slice::from_ref(&audit))?;
        let position = state
            .users
            .iter()
            .position(|u| u.id == id)
            .ok_or(RepoError::NotFound)?;
        let removed = state.users.remove(position);
        state.sessions.retain(|s| s.session.user_id != id);
        state.verification.remove(&id);
        state.end_reset_and_unlock_tokens(id);
        state.append(std::slice::from_ref(&audit));
        Ok(removed.picture)
    }

    async fn unlock(&self, id: UserId, audit: AuditEvent) -> Result<User, RepoError> {
        let mut state = self.state();
        let current = state.find(id).ok_or(RepoError::NotFound)?;
        let was_locked = current.is_locked;
        if was_locked {
            check_audit(std::slice::from_ref(&audit))?;
        }
        if was_locked || current.failed_login_attempts != 0 {
            let at = state.tick();
            let user = state.existing(id)?;
            user.is_locked = false;
            user.failed_login_attempts = 0;
            user.updated_at = at;
        }
        state.unlock.remove(&id);
        if was_locked {
            state.append(std::slice::from_ref(&audit));
        }
        state.existing(id).map(|u| u.clone())
    }

    async fn set_picture(
        &self,
        id: UserId,
        picture: Option<PictureKeys>,
        audit: Option<AuditEvent>,
    ) -> Result<(User, Option<PictureKeys>), RepoError> {
        let mut state = self.state();
        state.find(id).ok_or(RepoError::NotFound)?;
        check_audit(audit.as_slice())?;
        let at = state.tick();
        let user = state.existing(id)?;
        let old = std::mem::replace(&mut user.picture, picture);
        user.updated_at = at;
        let user = user.clone();
        state.append(audit.as_slice());
        Ok((user, old))
    }

    async fn find_by_nickname(&self, nickname: &Nickname) -> Result<Option<User>, RepoError> {
        let wanted = nickname.normalized();
        Ok(self.find_user(|u| u.nickname.normalized() == wanted))
    }

    async fn taken_nicknames(&self, candidates: Vec<String>) -> Result<HashSet<String>, RepoError> {
        let lowered: HashSet<String> = candidates.iter().map(|c| c.to_lowercase()).collect();
        Ok(self
            .state()
            .users
            .iter()
            .map(|u| u.nickname.as_str().to_lowercase())
            .filter(|n| lowered.contains(n))
            .collect())
    }

    async fn set_professional(
        &self,
        id: UserId,
        is_professional: bool,
        at: DateTime<Utc>,
        mail: Mail,
        audit: AuditEvent,
    ) -> Result<Option<User>, RepoError> {
        let mut state = self.state();
        match state.find(id) {
            Some(user) if user.is_professional != is_professional => {}
            _ => return Ok(None),
        }
        check_audit(std::slice::from_ref(&audit))?;
        let now = state.tick();
        let user = state.existing(id)?;
        user.is_professional = is_professional;
        user.professional_status_updated_at = Some(at);
        user.updated_at = now;
        let user = user.clone();
        state.mails.push(mail);
        state.append(std::slice::from_ref(&audit));
        Ok(Some(user))
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: PasswordHash,
        change: Option<PasswordChanged>,
    ) -> Result<(), RepoError> {
        let mut state = self.state();
        let at = state.tick();
        let user = state.existing(id)?;
        user.password_hash = hash;
        user.updated_at = at;
        if let Some(change) = change {
            // Links mailed before the change must not set another password after it.
            state.end_reset_and_unlock_tokens(id);
            state.end_sessions(id, change.end_sessions, at);
            state.mails.push(change.notice);
        }
        Ok(())
    }

    async fn referenced_picture_keys(
        &self,
        keys: Vec<String>,
    ) -> Result<HashSet<String>, RepoError> {
        let state = self.state();
        Ok(keys
            .into_iter()
            .filter(|key| {
                state.users.iter().any(|u| {
                    u.picture.as_ref().is_some_and(|p| {
                        p.main.as_str() == key.as_str() || p.thumbnail.as_str() == key.as_str()
                    })
                })
            })
            .collect())
    }

    async fn list(&self, query: UserQuery) -> Result<Page<User>, RepoError> {
        let mut users = self.users_where(|u| matches(&query.filter, u));
        sort(&mut users, query.sort);
        Ok(page(users, query.skip, query.limit))
    }

    async fn record_failed_login(
        &self,
        id: UserId,
        max_attempts: u32,
        on_lock: LockNotice,
    ) -> Result<FailedLogin, RepoError> {
        let mut state = self.state();
        let current = state.find(id).ok_or(RepoError::NotFound)?;
        if current.is_locked {
            return Ok(FailedLogin::AlreadyLocked);
        }
        let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        let attempts = current.failed_login_attempts + 1;
        let locked = attempts >= max;
        if locked {
            check_audit(std::slice::from_ref(&on_lock.audit))?;
        }
        let at = state.tick();
        let user = state.existing(id)?;
        user.failed_login_attempts = attempts;
        user.is_locked = locked;
        user.updated_at = at;
        if locked {
            state.end_sessions(id, on_lock.end_sessions, at);
            state.unlock.insert(id, on_lock.unlock_token);
            state.mails.push(on_lock.mail);
            state.append(std::slice::from_ref(&on_lock.audit));
        }
        Ok(FailedLogin::Counted {
            attempts: u32::try_from(attempts).unwrap_or(0),
            locked,
        })
    }

    async fn record_login(&self, id: UserId, at: DateTime<Utc>) -> Result<Option<User>, RepoError> {
        let mut state = self.state();
        Ok(state.find_mut(id).filter(|u| !u.is_locked).map(|user| {
            user.failed_login_attempts = 0;
            user.last_login_at = Some(at);
            user.clone()
        }))
    }

    async fn replace_verification_token(
        &self,
        id: UserId,
        token: PendingToken,
        mail: Mail,
    ) -> Result<(), RepoError> {
        self.store_token(id, mail, |state| {
            state.verification.insert(id, token);
        })
    }

    async fn create_password_reset(
        &self,
        id: UserId,
        token: PendingToken,
        mail: Mail,
    ) -> Result<(), RepoError> {
        self.store_token(id, mail, |state| state.reset.push((id, token)))
    }

    async fn reset_password(
        &self,
        token: TokenHash,
        new_hash: PasswordHash,
        now: DateTime<Utc>,
        notice: MailKind,
        end_sessions: EndSessions,
    ) -> Result<Option<User>, RepoError> {
        let mut state = self.state();
        let Some(position) = state
            .reset
            .iter()
            .position(|(_, t)| t.hash == token && t.expires_at > now)
        else {
            return Ok(None);
        };
        let (id, _) = state.reset.remove(position);
        let at = state.tick();
        let Some(user) = state.find_mut(id) else {
            return Ok(None);
        };
        let was_locked = user.is_locked;
        user.password_hash = new_hash;
        user.is_locked = false;
        user.failed_login_attempts = 0;
        user.updated_at = at;
        let user = user.clone();
        // Every other reset token dies, and so does the unlock link of a lock this lifts.
        state.end_reset_and_unlock_tokens(id);
        state.end_sessions(id, end_sessions, at);
        state.mails.push(Mail {
            to: user.email.clone(),
            greeting_name: user.nickname.to_string(),
            kind: notice,
        });
        if was_locked {
            state.append(&[unlocked_by_itself(id)]);
        }
        Ok(Some(user))
    }

    async fn unlock_with_token(
        &self,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError> {
        let mut state = self.state();
        let Some(id) = state
            .unlock
            .iter()
            .find(|(_, t)| t.hash == token && t.expires_at > now)
            .map(|(id, _)| *id)
        else {
            return Ok(None);
        };
        // The token is used up either way; it unlocks only an account that is locked.
        state.unlock.remove(&id);
        let at = state.tick();
        let Some(user) = state.find_mut(id).filter(|u| u.is_locked) else {
            return Ok(None);
        };
        user.is_locked = false;
        user.failed_login_attempts = 0;
        user.updated_at = at;
        let user = user.clone();
        state.append(&[unlocked_by_itself(id)]);
        Ok(Some(user))
    }

    async fn verify_email(
        &self,
        id: UserId,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError> {
        let mut state = self.state();
        let qualifies = state
            .verification
            .get(&id)
            .is_some_and(|t| t.hash == token && t.expires_at > now);
        if !qualifies {
            return Ok(None);
        }
        state.verification.remove(&id);
        state.touch(id);
        Ok(state.find_mut(id).map(|user| {
            user.email_verified = true;
            if user.role == Role::Anonymous {
                user.role = Role::Authenticated;
            }
            user.clone()
        }))
    }

    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }
}

#[async_trait]
impl AuditLog for InMemoryRepository {
    /// Newest first; the changes of each event sorted by field name, as the PostgreSQL log
    /// returns them.
    async fn list(&self, query: AuditQuery) -> Result<Page<AuditRecord>, RepoError> {
        let mut records: Vec<AuditRecord> = self
            .state()
            .audit
            .iter()
            .filter(|r| {
                query
                    .user_id
                    .is_none_or(|u| r.event.target == u || r.event.actor == Some(u))
                    && query.kind.is_none_or(|k| r.event.kind == k)
            })
            .cloned()
            .collect();
        records.sort_by_key(|r| std::cmp::Reverse((r.at, r.id)));
        for record in &mut records {
            record.event.changes.sort_by(|a, b| a.field.cmp(&b.field));
        }
        Ok(page(records, query.skip, query.limit))
    }
}
