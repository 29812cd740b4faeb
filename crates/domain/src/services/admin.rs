//! Use cases of the command line: an operator on the server acts as the system itself
//! (audit events carry no actor).

use super::{Registration, UserService, users::unlock_audit};
use crate::{
    error::Error,
    model::{AuditChange, AuditEvent, AuditKind, Email, Role, User, UserId},
    ports::{Mail, MailKind, NewUser, RepoError, UserChanges},
};

impl UserService {
    /// Creates a verified ADMIN (`create-admin`). No verification email: the operator vouches
    /// for the address.
    ///
    /// # Errors
    /// `EmailExists`, `NicknameTaken`, `Unavailable`.
    pub async fn create_admin(&self, reg: Registration) -> Result<User, Error> {
        if self.ports.users.find_by_email(&reg.email).await?.is_some() {
            return Err(Error::EmailExists);
        }
        let nickname = match reg.nickname {
            Some(n) => n,
            None => self.free_nickname().await?,
        };
        let password_hash = self.hash_password(&reg.password).await?;
        let now = self.ports.clock.now();
        let user = self
            .ports
            .users
            .insert(NewUser {
                id: UserId::new(),
                email: reg.email,
                nickname,
                profile: reg.profile,
                password_hash,
                role: Role::Admin,
                email_verified: true,
                promote_if_first: false,
                verification_token: None,
                verification_mail: None,
                created_at: now,
            })
            .await
            .map_err(|e| match e {
                RepoError::EmailTaken => Error::EmailExists,
                other => other.into(),
            })?;
        tracing::info!(user_id = %user.id, "ADMIN created from the command line");
        Ok(user)
    }

    /// Sets the role of the account with this email (`set-role`); the user is emailed.
    ///
    /// # Errors
    /// `UserNotFound`, `LastAdmin`.
    pub async fn set_role_by_email(&self, email: &Email, role: Role) -> Result<User, Error> {
        let target = self.account_by_email(email).await?;
        if target.role == role {
            return Ok(target);
        }
        let changes = UserChanges {
            role: Some(role),
            mails: vec![Mail {
                to: target.email.clone(),
                greeting_name: target.nickname.to_string(),
                kind: MailKind::RoleChanged { role },
            }],
            audit: vec![AuditEvent {
                actor: None,
                target: target.id,
                kind: AuditKind::RoleChanged,
                changes: vec![AuditChange::new(
                    "role",
                    Some(target.role.to_string()),
                    Some(role.to_string()),
                )],
            }],
            ..UserChanges::default()
        };
        Ok(self.ports.users.update(target.id, changes).await?)
    }

    /// Lifts the lock of the account with this email (`unlock`).
    ///
    /// # Errors
    /// `UserNotFound`.
    pub async fn unlock_by_email(&self, email: &Email) -> Result<User, Error> {
        let target = self.account_by_email(email).await?;
        Ok(self
            .ports
            .users
            .unlock(target.id, unlock_audit(None, target.id))
            .await?)
    }

    /// The account with this email; `UserNotFound` without one.
    async fn account_by_email(&self, email: &Email) -> Result<User, Error> {
        self.ports
            .users
            .find_by_email(email)
            .await?
            .ok_or(Error::UserNotFound)
    }
}
