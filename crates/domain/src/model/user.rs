use chrono::{DateTime, Utc};
use std::fmt;
use uuid::Uuid;

use super::{Email, Nickname, PasswordHash, PictureKeys, Profile, Role};

/// A user's id: a random UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub Uuid);

impl UserId {
    #[must_use]
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub nickname: Nickname,
    pub profile: Profile,
    /// The stored profile picture and its thumbnail, when one was uploaded.
    pub picture: Option<PictureKeys>,
    pub role: Role,
    pub is_professional: bool,
    pub professional_status_updated_at: Option<DateTime<Utc>>,
    pub email_verified: bool,
    pub is_locked: bool,
    pub failed_login_attempts: i32,
    pub password_hash: PasswordHash,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
