//! Nicknames, public profiles, the PRO upgrade, and the rest of self-service.

use std::collections::HashSet;

use secrecy::SecretString;

use super::{UserService, mail_to};
use crate::{
    authz::Actor,
    error::Error,
    model::{
        AuditChange, AuditEvent, AuditKind, Nickname, Password, ProUpgrade, SessionId, User,
        UserId, generate_nickname,
    },
    ports::{EndSessions, Mail, MailKind, PasswordChanged},
};

/// The most suggestions one request may ask for.
pub const MAX_SUGGESTIONS: usize = 20;

impl UserService {
    /// Up to `count` generated nicknames that no account has right now (1–20). Free now does
    /// not mean reserved: another registration may take one before the caller does.
    ///
    /// # Errors
    /// `Validation` for a count outside 1–20; `Unavailable`.
    pub async fn suggest_nicknames(&self, count: usize) -> Result<Vec<Nickname>, Error> {
        if !(1..=MAX_SUGGESTIONS).contains(&count) {
            return Err(crate::validation::ValidationErrors::single(
                "count",
                "count must be between 1 and 20",
            )
            .into());
        }
        let mut free: Vec<Nickname> = Vec::with_capacity(count);
        let mut seen = HashSet::new();
        // Collisions are rare, so one round nearly always suffices; three bound the work.
        for _ in 0..3 {
            let candidates: Vec<Nickname> = (0..count * 2)
                .map(|_| generate_nickname())
                .filter(|n| seen.insert(n.normalized()))
                .collect();
            let taken = self
                .ports
                .users
                .taken_nicknames(candidates.iter().map(|n| n.as_str().to_owned()).collect())
                .await?;
            free.extend(
                candidates
                    .into_iter()
                    .filter(|n| !taken.contains(&n.normalized()))
                    .take(count - free.len()),
            );
            if free.len() == count {
                break;
            }
        }
        Ok(free)
    }

    /// Whether no account has `nickname` (without regard to case).
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn nickname_available(&self, nickname: &Nickname) -> Result<bool, Error> {
        Ok(!self.ports.users.nickname_taken(nickname).await?)
    }

    /// The account behind a public profile.
    ///
    /// # Errors
    /// `UserNotFound`.
    pub async fn profile(&self, nickname: &Nickname) -> Result<User, Error> {
        self.ports
            .users
            .find_by_nickname(nickname)
            .await?
            .ok_or(Error::UserNotFound)
    }

    /// What stands between `me` and the PRO upgrade.
    #[must_use]
    pub fn pro_upgrade_status(&self, me: &User) -> ProUpgrade {
        ProUpgrade::assess(me)
    }

    /// Upgrades `me` to PRO when eligible, and emails the news.
    ///
    /// # Errors
    /// `AlreadyProfessional` (409), `NotEligibleForPro` (422) with what is missing.
    pub async fn upgrade_to_pro(&self, me: &User) -> Result<User, Error> {
        if me.is_professional {
            return Err(Error::AlreadyProfessional);
        }
        let assessment = ProUpgrade::assess(me);
        if !assessment.eligible {
            return Err(Error::NotEligibleForPro(assessment.missing));
        }
        self.ports
            .users
            .set_professional(
                me.id,
                true,
                self.ports.clock.now(),
                pro_mail(me, true),
                pro_audit(me.id, me, true),
            )
            .await?
            // Another request upgraded the account between the load and this update.
            .ok_or(Error::AlreadyProfessional)
    }

    /// Grants or revokes PRO on behalf of staff, whatever the profile holds. Setting the status
    /// it already has changes nothing and sends nothing.
    ///
    /// # Errors
    /// `Forbidden`, `UserNotFound`.
    pub async fn set_professional_status(
        &self,
        actor: Actor,
        id: UserId,
        is_professional: bool,
    ) -> Result<User, Error> {
        let target = self.administered(actor, id).await?;
        if target.is_professional == is_professional {
            return Ok(target);
        }
        match self
            .ports
            .users
            .set_professional(
                id,
                is_professional,
                self.ports.clock.now(),
                pro_mail(&target, is_professional),
                pro_audit(actor.id, &target, is_professional),
            )
            .await?
        {
            Some(user) => {
                tracing::info!(actor = %actor.id, target = %id, is_professional, "PRO status changed by staff");
                Ok(user)
            }
            // Changed by someone else, or deleted, since it was loaded: answer with what is
            // stored now.
            None => self
                .ports
                .users
                .find_by_id(id)
                .await?
                .ok_or(Error::UserNotFound),
        }
    }

    /// Changes one's own password after checking the current one. Every other session of the
    /// account ends; `session`, the one that made the change, goes on.
    ///
    /// # Errors
    /// `IncorrectPassword` (400) when `current` is wrong (counted as a failed login);
    /// `Validation` when the new password is the current one.
    pub async fn change_password(
        &self,
        me: &User,
        session: SessionId,
        current: SecretString,
        new: Password,
    ) -> Result<(), Error> {
        let unchanged = {
            use secrecy::ExposeSecret as _;
            current.expose_secret() == new.expose()
        };
        self.confirm_password(me, current).await?;
        if unchanged {
            return Err(crate::validation::ValidationErrors::single(
                "new_password",
                "the new password must differ from the current one",
            )
            .into());
        }
        let hash = self.hash_password(&new).await?;
        // A security notice: if this was not the owner, the owner learns it at once.
        let change = PasswordChanged {
            notice: mail_to(me, MailKind::PasswordChanged),
            end_sessions: EndSessions::AllBut(session),
        };
        self.ports
            .users
            .set_password_hash(me.id, hash, Some(change))
            .await?;
        tracing::info!(user_id = %me.id, "password changed");
        Ok(())
    }

    /// Deletes one's own account and its pictures after checking the password.
    ///
    /// # Errors
    /// `IncorrectPassword` (400, counted as a failed login); `LastAdmin` (409) for the only
    /// ADMIN.
    pub async fn delete_me(&self, me: &User, password: SecretString) -> Result<(), Error> {
        self.confirm_password(me, password).await?;
        let audit = deletion_audit(me.id, me);
        if let Some(picture) = self.ports.users.delete(me.id, audit).await? {
            self.remove_objects(&picture.both()).await;
        }
        tracing::info!(user_id = %me.id, "account deleted by its owner");
        Ok(())
    }

    async fn confirm_password(&self, me: &User, candidate: SecretString) -> Result<(), Error> {
        let valid = self
            .ports
            .hasher
            .verify(candidate, Some(me.password_hash.clone()))
            .await
            .map_err(Error::Internal)?;
        if valid {
            Ok(())
        } else {
            // A guess like a wrong login: counted, and the one that reaches the limit locks.
            self.count_failed_password(me).await?;
            Err(Error::IncorrectPassword)
        }
    }
}

fn pro_mail(user: &User, is_professional: bool) -> Mail {
    mail_to(user, MailKind::ProStatusChanged { is_professional })
}

fn pro_audit(actor: UserId, target: &User, is_professional: bool) -> AuditEvent {
    AuditEvent {
        actor: Some(actor),
        target: target.id,
        kind: AuditKind::ProStatusChanged,
        changes: vec![AuditChange::new(
            "is_professional",
            Some(target.is_professional.to_string()),
            Some(is_professional.to_string()),
        )],
    }
}

/// The audit event of deleting `target`: who it was.
pub(super) fn deletion_audit(actor: UserId, target: &User) -> AuditEvent {
    AuditEvent {
        actor: Some(actor),
        target: target.id,
        kind: AuditKind::UserDeleted,
        changes: vec![
            AuditChange::new("email", Some(target.email.to_string()), None),
            AuditChange::new("nickname", Some(target.nickname.to_string()), None),
            AuditChange::new("role", Some(target.role.to_string()), None),
        ],
    }
}
