//! The use cases, one file per family, all on [`UserService`] but the operator's bulk imports
//! and export, on [`ImportService`] (their own ports: they need no mailer, store or tokens).

mod accounts;
mod admin;
mod health;
mod import;
mod outbox;
mod pictures;
mod profiles;
mod recovery;
mod sessions;
mod users;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::TimeDelta;

use crate::{
    error::Error,
    model::{Email, Nickname, Password, PasswordHash, Profile, ProfilePatch, RawToken, Role, User},
    ports::{
        AuditLog, Clock, Mail, MailKind, ObjectStore, PasswordHasher, PendingToken,
        PictureProcessor, RepoError, SessionRepository, StoreError, TokenIssuer, UserRepository,
    },
};

pub use accounts::{Authenticated, LoginSuccess};
pub use health::Readiness;
pub use import::{
    Candidate, CsvRow, EXPORT_PAGE, ExportCursor, IMPORT_BATCH, ImportRun, ImportService,
    OriginalUser, Renamed, Tally, is_bcrypt, parse_bool, role_by_email_status,
};
pub use outbox::{DeliveryPolicy, DeliveryReport, OutboxDelivery};
pub use pictures::{Avatar, SweepReport};
pub use sessions::{MAX_LIVE_SESSIONS, REMEMBERED_REFRESH_TOKENS};
pub use users::{MAX_PAGE_SIZE, MAX_SKIP};

/// Rules that deployments tune.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Consecutive failed logins that lock an account.
    pub max_login_attempts: u32,
    /// The very first account becomes a verified ADMIN.
    pub first_user_is_admin: bool,
    /// How long an email-verification link works.
    pub verification_ttl: TimeDelta,
    /// How long a password-reset link works.
    pub password_reset_ttl: TimeDelta,
    /// How long the unlock link of an "account locked" email works.
    pub unlock_ttl: TimeDelta,
    /// How long a session lives from its login, however often it is refreshed
    /// (`REFRESH_TOKEN_TTL_DAYS`).
    pub session_ttl: TimeDelta,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_login_attempts: 3,
            first_user_is_admin: true,
            verification_ttl: TimeDelta::hours(24),
            password_reset_ttl: TimeDelta::hours(1),
            unlock_ttl: TimeDelta::days(7),
            session_ttl: TimeDelta::days(30),
        }
    }
}

/// The ports a [`UserService`] works through.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub clock: Arc<dyn Clock>,
    pub store: Arc<dyn ObjectStore>,
    pub pictures: Arc<dyn PictureProcessor>,
    pub audit: Arc<dyn AuditLog>,
}

/// Every account use case. Cheap to clone.
#[derive(Clone)]
pub struct UserService {
    ports: Ports,
    settings: Arc<Settings>,
}

impl UserService {
    #[must_use]
    pub fn new(ports: Ports, settings: Settings) -> Self {
        Self {
            ports,
            settings: Arc::new(settings),
        }
    }

    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The hash of a new password (off the executor, as the hasher port promises).
    async fn hash_password(&self, password: &Password) -> Result<PasswordHash, Error> {
        self.ports
            .hasher
            .hash(password.secret().clone())
            .await
            .map_err(Error::Internal)
    }

    /// A token that works until `ttl` from now: the raw form for the link, the pending form
    /// (its hash) for storage.
    fn new_token(&self, ttl: TimeDelta) -> (RawToken, PendingToken) {
        let raw = RawToken::generate();
        let pending = PendingToken {
            hash: raw.hash(),
            expires_at: self.ports.clock.now() + ttl,
        };
        (raw, pending)
    }
}

/// The fields of a new account, already valid.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub nickname: Option<Nickname>,
    pub profile: Profile,
}

/// A partial update of the fields a user may change about themselves: a new nickname (it can
/// be changed, not removed) and the profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChanges {
    pub nickname: Option<Nickname>,
    pub profile: ProfilePatch,
}

/// What an administrator may change about an account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdminChanges {
    pub email: Option<Email>,
    pub role: Option<Role>,
    pub profile: ProfileChanges,
}

impl AdminChanges {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl ProfileChanges {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl From<RepoError> for Error {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::EmailTaken => Error::EmailTaken,
            RepoError::NicknameTaken => Error::NicknameTaken,
            RepoError::NotFound => Error::UserNotFound,
            RepoError::LastAdmin => Error::LastAdmin,
            RepoError::Unavailable(cause) => Error::Unavailable(cause),
            RepoError::Other(cause) => Error::Internal(cause),
        }
    }
}

impl From<StoreError> for Error {
    /// Any failure of the object store is worth retrying later (503): the previous state is
    /// intact.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) | StoreError::Other(cause) => Error::Unavailable(cause),
        }
    }
}

/// An email of `kind` to `user`'s current address, greeting them by nickname.
pub(crate) fn mail_to(user: &User, kind: MailKind) -> Mail {
    Mail {
        to: user.email.clone(),
        greeting_name: user.nickname.to_string(),
        kind,
    }
}
