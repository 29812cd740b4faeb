//! Reading and changing accounts: administration (`/users`) and self-service (`/me`).

use super::{AdminChanges, ProfileChanges, Registration, UserService};
use crate::{
    authz::Actor,
    error::Error,
    model::{Role, User, UserId},
    ports::{Mail, MailKind, Page, UserChanges, UserQuery},
    validation::ValidationErrors,
};

/// The largest page a listing returns.
pub const MAX_PAGE_SIZE: u64 = 100;

impl UserService {
    /// An account, for MANAGER (plain accounts only) and ADMIN.
    ///
    /// # Errors
    /// `Forbidden` (403), `UserNotFound` (404).
    pub async fn get_user(&self, actor: Actor, id: UserId) -> Result<User, Error> {
        self.administered(actor, id).await
    }

    /// A page of accounts, newest first. A MANAGER sees only ANONYMOUS and AUTHENTICATED ones.
    ///
    /// # Errors
    /// `Forbidden` for non-staff; `Validation` for a page size outside 1–100.
    pub async fn list_users(
        &self,
        actor: Actor,
        skip: u64,
        limit: u64,
    ) -> Result<Page<User>, Error> {
        if !actor.is_staff() {
            return Err(Error::Forbidden);
        }
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(
                ValidationErrors::single("limit", "limit must be between 1 and 100").into(),
            );
        }
        Ok(self
            .ports
            .users
            .list(UserQuery {
                skip,
                limit,
                roles: actor.visible_roles(),
            })
            .await?)
    }

    /// Creates an account on behalf of staff. The role defaults to ANONYMOUS; only an ADMIN
    /// creates MANAGER or ADMIN accounts. The account gets a verification link like any other.
    ///
    /// # Errors
    /// `Forbidden`, `EmailExists` (400), `NicknameTaken` (409).
    pub async fn create_user(
        &self,
        actor: Actor,
        registration: Registration,
        role: Option<Role>,
    ) -> Result<User, Error> {
        let role = role.unwrap_or(Role::Anonymous);
        if !actor.is_staff() || !actor.may_create_with_role(role) {
            return Err(Error::Forbidden);
        }
        self.create_account(registration, role, false).await
    }

    /// Changes an account on behalf of staff. A role change needs ADMIN and is emailed to the
    /// user. A changed email becomes unverified (an AUTHENTICATED account drops to ANONYMOUS
    /// until it verifies again) and is sent a new verification link.
    ///
    /// # Errors
    /// `Forbidden`, `UserNotFound`, `EmailTaken`/`NicknameTaken` (409), `LastAdmin` (409),
    /// `Validation` when nothing is to change.
    pub async fn update_user(
        &self,
        actor: Actor,
        id: UserId,
        changes: AdminChanges,
    ) -> Result<User, Error> {
        if changes.is_empty() {
            return Err(nothing_to_change());
        }
        let target = self.administered(actor, id).await?;
        let role_change = changes.role.filter(|r| *r != target.role);
        if role_change.is_some() && !actor.may_change_roles() {
            return Err(Error::Forbidden);
        }
        let mut update = profile_update(changes.profile);
        update.role = role_change;

        if let Some(email) = changes.email {
            if email.normalized() != target.email.normalized() {
                let (token, pending) = self.new_token(self.settings.verification_ttl);
                update.verification_token = Some(pending);
                update.email_verified = Some(false);
                if update.role.is_none() && target.role == Role::Authenticated {
                    update.role = Some(Role::Anonymous);
                }
                update.mails.push(Mail {
                    to: email.clone(),
                    greeting_name: target.nickname.to_string(),
                    kind: MailKind::VerifyEmail {
                        user_id: target.id,
                        token,
                    },
                });
            }
            update.email = Some(email);
        }
        if let Some(role) = role_change {
            update.mails.push(Mail {
                to: update.email.clone().unwrap_or_else(|| target.email.clone()),
                greeting_name: target.nickname.to_string(),
                kind: MailKind::RoleChanged { role },
            });
        }

        let user = self.ports.users.update(id, update).await?;
        tracing::info!(actor = %actor.id, target = %id, "account updated by staff");
        Ok(user)
    }

    /// Deletes an account on behalf of staff.
    ///
    /// # Errors
    /// `Forbidden`, `UserNotFound`, `LastAdmin` (409).
    pub async fn delete_user(&self, actor: Actor, id: UserId) -> Result<(), Error> {
        self.administered(actor, id).await?;
        if let Some(picture) = self.ports.users.delete(id).await? {
            self.remove_objects(&picture.both()).await;
        }
        tracing::info!(actor = %actor.id, target = %id, "account deleted by staff");
        Ok(())
    }

    /// Changes one's own profile.
    ///
    /// # Errors
    /// `Validation` when nothing is to change, `NicknameTaken` (409).
    pub async fn update_me(&self, me: &User, changes: ProfileChanges) -> Result<User, Error> {
        if changes.is_empty() {
            return Err(nothing_to_change());
        }
        Ok(self
            .ports
            .users
            .update(me.id, profile_update(changes))
            .await?)
    }

    /// Loads an account that `actor` may administer.
    pub(super) async fn administered(&self, actor: Actor, id: UserId) -> Result<User, Error> {
        if !actor.is_staff() {
            return Err(Error::Forbidden);
        }
        let target = self
            .ports
            .users
            .find_by_id(id)
            .await?
            .ok_or(Error::UserNotFound)?;
        if !actor.may_administer(target.role) {
            return Err(Error::Forbidden);
        }
        Ok(target)
    }
}

fn nothing_to_change() -> Error {
    ValidationErrors::single("body", "at least one field must be given").into()
}

fn profile_update(changes: ProfileChanges) -> UserChanges {
    UserChanges {
        nickname: changes.nickname,
        first_name: changes.first_name,
        last_name: changes.last_name,
        bio: changes.bio,
        linkedin_profile_url: changes.linkedin_profile_url,
        github_profile_url: changes.github_profile_url,
        ..UserChanges::default()
    }
}
