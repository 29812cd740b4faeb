//! Reading and changing accounts: administration (`/users`) and self-service (`/me`).

use super::{AdminChanges, ProfileChanges, Registration, UserService, profiles::deletion_audit};
use crate::{
    authz::Actor,
    error::Error,
    model::{AuditChange, AuditEvent, AuditKind, Role, User, UserId},
    ports::{AuditQuery, AuditRecord, Mail, MailKind, Page, UserChanges, UserQuery},
    validation::ValidationErrors,
};

/// The largest page a listing returns.
pub const MAX_PAGE_SIZE: u64 = 100;

/// The largest `skip` of a listing: PostgreSQL's `OFFSET` is a signed 64-bit number.
pub const MAX_SKIP: u64 = i64::MAX.unsigned_abs();

/// The page size and the skip of a listing, checked against [`MAX_PAGE_SIZE`] and [`MAX_SKIP`].
fn check_page(limit: u64, skip: u64) -> Result<(), Error> {
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ValidationErrors::single("limit", "limit must be between 1 and 100").into());
    }
    if skip > MAX_SKIP {
        return Err(
            ValidationErrors::single("skip", format!("skip must be at most {MAX_SKIP}")).into(),
        );
    }
    Ok(())
}

impl UserService {
    /// An account, for MANAGER (plain accounts only) and ADMIN.
    ///
    /// # Errors
    /// `Forbidden` (403), `UserNotFound` (404).
    pub async fn get_user(&self, actor: Actor, id: UserId) -> Result<User, Error> {
        self.administered(actor, id).await
    }

    /// [`get_user`](Self::get_user) for the holder of `bearer`: the caller and the account
    /// are loaded in one round trip (the hot path of `GET /users/{id}`).
    ///
    /// # Errors
    /// `Unauthenticated` (401) as [`authenticate`](Self::authenticate), then as
    /// [`get_user`](Self::get_user).
    pub async fn get_user_for(&self, bearer: &str, id: UserId) -> Result<User, Error> {
        let (caller, target) = self.authenticate_with(bearer, id).await?;
        administers(Actor::from(&caller), target)
    }

    /// A page of accounts matching `query`. A MANAGER sees only ANONYMOUS and AUTHENTICATED
    /// ones: a role filter is narrowed to those (asking for ADMINs gives an empty page).
    ///
    /// # Errors
    /// `Forbidden` for non-staff; `Validation` for a page size outside 1–100 or a skip over
    /// [`MAX_SKIP`].
    pub async fn list_users(
        &self,
        actor: Actor,
        mut query: UserQuery,
    ) -> Result<Page<User>, Error> {
        if !actor.is_staff() {
            return Err(Error::Forbidden);
        }
        check_page(query.limit, query.skip)?;
        if let Some(visible) = actor.visible_roles() {
            query.filter.roles = Some(match query.filter.roles.take() {
                Some(asked) => asked.into_iter().filter(|r| visible.contains(r)).collect(),
                None => visible,
            });
        }
        Ok(self.ports.users.list(query).await?)
    }

    /// A page of the audit log, newest first (ADMIN only).
    ///
    /// # Errors
    /// `Forbidden` for anyone but an ADMIN; `Validation` for a page size outside 1–100 or a skip over
    /// [`MAX_SKIP`].
    pub async fn list_audit_events(
        &self,
        actor: Actor,
        query: AuditQuery,
    ) -> Result<Page<AuditRecord>, Error> {
        if actor.role != Role::Admin {
            return Err(Error::Forbidden);
        }
        check_page(query.limit, query.skip)?;
        Ok(self.ports.audit.list(query).await?)
    }

    /// Changes an account's role (ADMIN only); the user is emailed. The last ADMIN keeps its
    /// role (409), decided in the database under concurrent requests.
    ///
    /// # Errors
    /// `Forbidden`, `UserNotFound`, `LastAdmin`.
    pub async fn change_role(&self, actor: Actor, id: UserId, role: Role) -> Result<User, Error> {
        if !actor.may_change_roles() {
            return Err(Error::Forbidden);
        }
        self.update_user(
            actor,
            id,
            AdminChanges {
                role: Some(role),
                ..AdminChanges::default()
            },
        )
        .await
    }

    /// Lifts a lock on behalf of staff: the lock and the failure counter clear.
    ///
    /// # Errors
    /// `Forbidden`, `UserNotFound`.
    pub async fn unlock_user(&self, actor: Actor, id: UserId) -> Result<User, Error> {
        self.administered(actor, id).await?;
        Ok(self
            .ports
            .users
            .unlock(id, unlock_audit(Some(actor.id), id))
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
        let mut changed = field_changes(&target, &update);

        if let Some(email) = changes.email {
            if email.normalized() != target.email.normalized() {
                let (token, pending) = self.new_token(self.settings.verification_ttl);
                update.verification_token = Some(pending);
                update.email_verified = Some(false);
                if update.role.is_none() && target.role == Role::Authenticated {
                    // Not verified any more: recorded with the edit that caused it.
                    update.role = Some(Role::Anonymous);
                    changed.push(AuditChange::new(
                        "role",
                        Some(Role::Authenticated.to_string()),
                        Some(Role::Anonymous.to_string()),
                    ));
                }
                update.mails.push(Mail {
                    to: email.clone(),
                    greeting_name: target.nickname.to_string(),
                    kind: MailKind::VerifyEmail {
                        user_id: target.id,
                        token,
                    },
                });
                // A security notice to the old address: an owner whose email staff moved away
                // learns it, instead of hearing nothing while the account is taken over.
                update.mails.push(Mail {
                    to: target.email.clone(),
                    greeting_name: target.nickname.to_string(),
                    kind: MailKind::EmailChanged {
                        new_email: email.clone(),
                    },
                });
            }
            if email.as_str() != target.email.as_str() {
                changed.push(AuditChange::new(
                    "email",
                    Some(target.email.to_string()),
                    Some(email.to_string()),
                ));
            }
            update.email = Some(email);
        }
        if let Some(role) = role_change {
            update.mails.push(Mail {
                to: update.email.clone().unwrap_or_else(|| target.email.clone()),
                greeting_name: target.nickname.to_string(),
                kind: MailKind::RoleChanged { role },
            });
            update.audit.push(AuditEvent {
                actor: Some(actor.id),
                target: id,
                kind: AuditKind::RoleChanged,
                changes: vec![AuditChange::new(
                    "role",
                    Some(target.role.to_string()),
                    Some(role.to_string()),
                )],
            });
        }
        if !changed.is_empty() {
            update.audit.push(AuditEvent {
                actor: Some(actor.id),
                target: id,
                kind: AuditKind::UserUpdated,
                changes: changed,
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
        let target = self.administered(actor, id).await?;
        let audit = deletion_audit(actor.id, &target);
        if let Some(picture) = self.ports.users.delete(id, audit).await? {
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
        administers(actor, self.ports.users.find_by_id(id).await?)
    }
}

/// `target` if `actor` may administer it: `Forbidden` for non-staff and for a MANAGER facing a
/// MANAGER/ADMIN, `UserNotFound` when there is no target (after the staff check, so that
/// non-staff learn nothing about which ids exist).
fn administers(actor: Actor, target: Option<User>) -> Result<User, Error> {
    if !actor.is_staff() {
        return Err(Error::Forbidden);
    }
    let target = target.ok_or(Error::UserNotFound)?;
    if !actor.may_administer(target.role) {
        return Err(Error::Forbidden);
    }
    Ok(target)
}

/// The audit event of lifting a lock (`actor` `None`: the command line).
pub(super) fn unlock_audit(actor: Option<UserId>, target: UserId) -> AuditEvent {
    AuditEvent {
        actor,
        target,
        kind: AuditKind::Unlocked,
        changes: vec![AuditChange::new(
            "is_locked",
            Some("true".into()),
            Some("false".into()),
        )],
    }
}

/// Before and after of every profile field `update` really changes (the role is recorded as a
/// `role_changed` event of its own, the email by the caller).
fn field_changes(target: &User, update: &UserChanges) -> Vec<AuditChange> {
    let mut changes = Vec::new();
    let mut record = |field: &str, before: Option<String>, after: Option<String>| {
        if before != after {
            changes.push(AuditChange::new(field, before, after));
        }
    };
    if let Some(n) = &update.nickname {
        record(
            "nickname",
            Some(target.nickname.to_string()),
            Some(n.to_string()),
        );
    }
    for (field, after) in update.profile.touched() {
        record(
            field.as_str(),
            target.profile.get(field).map(str::to_owned),
            after.map(str::to_owned),
        );
    }
    changes
}

fn nothing_to_change() -> Error {
    ValidationErrors::single("body", "at least one field must be given").into()
}

fn profile_update(changes: ProfileChanges) -> UserChanges {
    UserChanges {
        nickname: changes.nickname,
        profile: changes.profile,
        ..UserChanges::default()
    }
}
