//! Who may do what. The role stored in the database, not the one in a token, is what counts.

use crate::model::{Role, User, UserId};

/// The signed-in account on whose behalf a use case runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub id: UserId,
    pub role: Role,
}

impl From<&User> for Actor {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            role: user.role,
        }
    }
}

impl Actor {
    /// MANAGER and ADMIN administer accounts.
    #[must_use]
    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }

    /// Whether the actor may read, edit or delete an account of `target` role through the
    /// administration endpoints: ADMIN any; MANAGER only ANONYMOUS and AUTHENTICATED.
    #[must_use]
    pub fn may_administer(&self, target: Role) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Manager => matches!(target, Role::Anonymous | Role::Authenticated),
            Role::Anonymous | Role::Authenticated => false,
        }
    }

    /// Whether the actor may give a new account this role: MANAGER only the two plain roles.
    #[must_use]
    pub fn may_create_with_role(&self, role: Role) -> bool {
        self.may_administer(role)
    }

    /// Only an ADMIN changes roles.
    #[must_use]
    pub fn may_change_roles(&self) -> bool {
        self.role == Role::Admin
    }

    /// The roles a listing shows to this actor (`None`: all of them).
    #[must_use]
    pub fn visible_roles(&self) -> Option<Vec<Role>> {
        match self.role {
            Role::Admin => None,
            _ => Some(
                Role::ALL
                    .into_iter()
                    .filter(|r| self.may_administer(*r))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role) -> Actor {
        Actor {
            id: UserId::new(),
            role,
        }
    }

    #[test]
    fn administration_rights_follow_the_role_table() {
        use Role::*;
        let table = [
            (Admin, [true, true, true, true]),
            (Manager, [true, true, false, false]),
            (Authenticated, [false, false, false, false]),
            (Anonymous, [false, false, false, false]),
        ];
        for (who, expected) in table {
            for (target, want) in Role::ALL.into_iter().zip(expected) {
                assert_eq!(
                    actor(who).may_administer(target),
                    want,
                    "{who} acting on {target}"
                );
            }
        }
    }

    #[test]
    fn only_admins_change_roles_and_managers_see_plain_accounts() {
        assert!(actor(Role::Admin).may_change_roles());
        assert!(!actor(Role::Manager).may_change_roles());
        assert_eq!(actor(Role::Admin).visible_roles(), None);
        assert_eq!(
            actor(Role::Manager).visible_roles(),
            Some(vec![Role::Anonymous, Role::Authenticated])
        );
    }
}
