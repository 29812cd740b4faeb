//! The use cases, one file per family, all on [`UserService`].

mod accounts;
mod pictures;
mod profiles;
mod users;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::TimeDelta;

use crate::{
    error::Error,
    model::{Bio, Email, Name, Nickname, Password, ProfileUrl, Role},
    ports::{
        Clock, Mail, Mailer, ObjectStore, PasswordHasher, PictureProcessor, RepoError, StoreError,
        TokenIssuer, UserRepository,
    },
};

pub use accounts::LoginSuccess;
pub use pictures::{Avatar, SweepReport};

/// Rules that deployments tune.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Consecutive failed logins that lock an account.
    pub max_login_attempts: u32,
    /// The very first account becomes a verified ADMIN.
    pub first_user_is_admin: bool,
    /// How long an email-verification link works.
    pub verification_ttl: TimeDelta,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_login_attempts: 3,
            first_user_is_admin: true,
            verification_ttl: TimeDelta::hours(24),
        }
    }
}

/// The ports a [`UserService`] works through.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub store: Arc<dyn ObjectStore>,
    pub pictures: Arc<dyn PictureProcessor>,
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

    /// Hands an email on. A failure is logged, not returned: the change that caused the email
    /// stands, and the user can ask again (resend). The outbox will make delivery durable.
    async fn deliver(&self, mail: Mail) {
        if let Err(e) = self.ports.mailer.send(mail).await {
            tracing::error!(error = ?e, "could not hand an email on for delivery");
        }
    }
}

/// The fields of a new account, already valid.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub nickname: Option<Nickname>,
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    pub bio: Option<Bio>,
    pub linkedin_profile_url: Option<ProfileUrl>,
    pub github_profile_url: Option<ProfileUrl>,
}

/// A partial update of the fields a user may change about themselves. For nullable fields,
/// `Some(None)` clears the value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChanges {
    pub nickname: Option<Nickname>,
    pub first_name: Option<Option<Name>>,
    pub last_name: Option<Option<Name>>,
    pub bio: Option<Option<Bio>>,
    pub linkedin_profile_url: Option<Option<ProfileUrl>>,
    pub github_profile_url: Option<Option<ProfileUrl>>,
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
