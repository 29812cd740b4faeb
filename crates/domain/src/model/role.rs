use std::{fmt, str::FromStr};

/// What an account may do. Ordered from least to most rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Registered, email not verified.
    Anonymous,
    /// Email verified.
    Authenticated,
    /// Manages ANONYMOUS and AUTHENTICATED accounts.
    Manager,
    /// Manages everything, roles included.
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be one of ANONYMOUS, AUTHENTICATED, MANAGER, ADMIN")]
pub struct RoleError;

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Anonymous,
        Role::Authenticated,
        Role::Manager,
        Role::Admin,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Anonymous => "ANONYMOUS",
            Role::Authenticated => "AUTHENTICATED",
            Role::Manager => "MANAGER",
            Role::Admin => "ADMIN",
        }
    }

    /// MANAGER and ADMIN: the roles that administer other accounts.
    #[must_use]
    pub const fn is_staff(self) -> bool {
        matches!(self, Role::Manager | Role::Admin)
    }
}

impl FromStr for Role {
    type Err = RoleError;

    /// Accepts the upper-case names of the contract (and, leniently, any casing of them).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or(RoleError)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("manager".parse::<Role>(), Ok(Role::Manager));
        assert_eq!("OWNER".parse::<Role>(), Err(RoleError));
    }
}
