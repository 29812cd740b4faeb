//! The audit log: who did what to whom, and when. Rows are only ever appended.

use std::fmt;

use super::UserId;

/// What kind of change an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    RoleChanged,
    Locked,
    Unlocked,
    ProStatusChanged,
    UserDeleted,
    UserUpdated,
    PictureChanged,
    PictureDeleted,
    /// Staff ended every session of an account (`DELETE /users/{id}/sessions`).
    SessionsRevoked,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "kind must be one of role_changed, locked, unlocked, pro_status_changed, user_deleted, user_updated, picture_changed, picture_deleted, sessions_revoked"
)]
pub struct AuditKindError;

impl AuditKind {
    pub const ALL: [AuditKind; 9] = [
        Self::RoleChanged,
        Self::Locked,
        Self::Unlocked,
        Self::ProStatusChanged,
        Self::UserDeleted,
        Self::UserUpdated,
        Self::PictureChanged,
        Self::PictureDeleted,
        Self::SessionsRevoked,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RoleChanged => "role_changed",
            Self::Locked => "locked",
            Self::Unlocked => "unlocked",
            Self::ProStatusChanged => "pro_status_changed",
            Self::UserDeleted => "user_deleted",
            Self::UserUpdated => "user_updated",
            Self::PictureChanged => "picture_changed",
            Self::PictureDeleted => "picture_deleted",
            Self::SessionsRevoked => "sessions_revoked",
        }
    }

    /// # Errors
    /// [`AuditKindError`] for an unknown name.
    pub fn parse(raw: &str) -> Result<Self, AuditKindError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or(AuditKindError)
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value that changed: its field, and its value before and after (`None`: absent/null).
/// Never a secret: passwords, hashes and tokens are not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl AuditChange {
    #[must_use]
    pub fn new(field: &str, before: Option<String>, after: Option<String>) -> Self {
        Self {
            field: field.to_owned(),
            before,
            after,
        }
    }
}

/// A change to record. `actor` is `None` for the system itself (the login lockout, the
/// command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub actor: Option<UserId>,
    pub target: UserId,
    pub kind: AuditKind,
    pub changes: Vec<AuditChange>,
}

impl AuditEvent {
    /// `actor` ended every session of `target`, `ended` of which were alive: details
    /// `{"live_sessions": {"before": "<ended>", "after": "0"}}`.
    #[must_use]
    pub fn sessions_revoked(actor: UserId, target: UserId, ended: u64) -> Self {
        Self {
            actor: Some(actor),
            target,
            kind: AuditKind::SessionsRevoked,
            changes: vec![AuditChange::new(
                "live_sessions",
                Some(ended.to_string()),
                Some("0".into()),
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Ok(kind));
        }
        assert_eq!(AuditKind::parse("Locked"), Err(AuditKindError));
    }
}
