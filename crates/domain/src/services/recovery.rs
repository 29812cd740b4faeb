//! Getting back in: password reset and the self-service unlock link.

use super::{UserService, mail_to};
use crate::{
    error::Error,
    model::{Email, Password, RawToken},
    ports::{EndSessions, MailKind, RepoError},
};

impl UserService {
    /// Emails a one-time password-reset link to the account, if there is one. Says nothing
    /// about whether there is.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` only.
    pub async fn request_password_reset(&self, email: &Email) -> Result<(), Error> {
        let Some(user) = self.ports.users.find_by_email(email).await? else {
            return Ok(());
        };
        let (token, pending) = self.new_token(self.settings.password_reset_ttl);
        match self
            .ports
            .users
            .create_password_reset(
                user.id,
                pending,
                mail_to(&user, MailKind::PasswordReset { token }),
            )
            .await
        {
            // Deleted since the lookup: as good as never there.
            Ok(()) | Err(RepoError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user_id = %user.id, "password reset requested");
        Ok(())
    }

    /// Sets a new password with a reset token. The lock and the failure counter clear, and
    /// every reset token of the account dies.
    ///
    /// # Errors
    /// `InvalidResetToken` (400) for a wrong, used or expired token.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: Password,
    ) -> Result<(), Error> {
        // Hashing first keeps the token's use atomic with the password change; the hasher
        // bounds how many run at once, as for logins.
        let hash = self
            .ports
            .hasher
            .hash(new_password.secret().clone())
            .await
            .map_err(Error::Internal)?;
        let user = self
            .ports
            .users
            .reset_password(
                RawToken::from_client(token).hash(),
                hash,
                self.ports.clock.now(),
                MailKind::PasswordChanged,
                // Whoever knew the old password, or held a session, is out.
                EndSessions::All,
            )
            .await?
            .ok_or(Error::InvalidResetToken)?;
        tracing::info!(user_id = %user.id, "password reset");
        Ok(())
    }

    /// Lifts a lock with the one-time link of the "account locked" email.
    ///
    /// # Errors
    /// `InvalidUnlockToken` (400) for a wrong, used or expired token, or an account that is
    /// not locked any more.
    pub async fn unlock_with_token(&self, token: &str) -> Result<(), Error> {
        let user = self
            .ports
            .users
            .unlock_with_token(RawToken::from_client(token).hash(), self.ports.clock.now())
            .await?
            .ok_or(Error::InvalidUnlockToken)?;
        tracing::info!(user_id = %user.id, "account unlocked by its owner");
        Ok(())
    }
}
