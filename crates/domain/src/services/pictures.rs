//! Profile pictures: upload, removal, serving, the default avatar, and the orphan sweep.
//!
//! Consistency: new objects are stored first, under fresh keys; only when both are stored does
//! the row point at them; then the objects it pointed at before are deleted. A failure before
//! the row changes leaves the previous picture in place (and removes what was stored). A crash
//! between the steps can only leave objects that no row points at; [`UserService::sweep_orphaned_pictures`]
//! removes those.

use bytes::Bytes;
use chrono::TimeDelta;

use super::UserService;
use crate::{
    authz::Actor,
    error::Error,
    model::{
        AuditChange, AuditEvent, AuditKind, PictureKey, PictureKeys, User, UserId,
        default_avatar_svg,
    },
    ports::{PictureError, StoredObject},
};

/// What `GET /users/{id}/avatar` shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Avatar {
    /// The uploaded picture.
    Picture(PictureKeys),
    /// A generated SVG of the nickname's initials.
    Generated(String),
}

/// What a sweep found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Picture objects old enough to be judged.
    pub examined: usize,
    /// Of those, the ones no row pointed at, now deleted.
    pub deleted: usize,
}

impl UserService {
    /// Replaces the picture of `target`. Allowed to the user themselves, and to staff on
    /// accounts they administer.
    ///
    /// # Errors
    /// `Forbidden`, `UserNotFound`, `UnsupportedImage` (415), `InvalidImage` (422),
    /// `Unavailable` (503) when the store fails — the previous picture then stays.
    pub async fn upload_picture(
        &self,
        actor: Actor,
        target: UserId,
        upload: Bytes,
    ) -> Result<User, Error> {
        self.may_change_picture(actor, target).await?;
        let processed = self
            .ports
            .pictures
            .process(upload)
            .await
            .map_err(|e| match e {
                PictureError::UnsupportedFormat => Error::UnsupportedImage,
                PictureError::TooManyPixels { .. }
                | PictureError::TooMuchMemory { .. }
                | PictureError::Undecodable(_) => Error::InvalidImage(e.to_string()),
                PictureError::Internal(cause) => Error::Internal(cause),
            })?;
        let keys = PictureKeys {
            main: PictureKey::generate(processed.main.format),
            thumbnail: PictureKey::generate(processed.thumbnail.format),
        };
        self.ports
            .store
            .put(&keys.main, processed.main.bytes)
            .await?;
        if let Err(e) = self
            .ports
            .store
            .put(&keys.thumbnail, processed.thumbnail.bytes)
            .await
        {
            self.remove_objects(&[&keys.main]).await;
            return Err(e.into());
        }
        let audit = by_someone_else(actor, target, AuditKind::PictureChanged, &keys, true);
        let (user, previous) = match self
            .ports
            .users
            .set_picture(target, Some(keys.clone()), audit)
            .await
        {
            Ok(done) => done,
            Err(e) => {
                self.remove_objects(&keys.both()).await;
                return Err(e.into());
            }
        };
        if let Some(previous) = previous {
            self.remove_objects(&previous.both()).await;
        }
        tracing::info!(actor = %actor.id, target = %target, "profile picture changed");
        Ok(user)
    }

    /// Removes the picture of `target`; the URLs become null.
    ///
    /// # Errors
    /// `Forbidden`, `UserNotFound`, `Unavailable`.
    pub async fn delete_picture(&self, actor: Actor, target: UserId) -> Result<User, Error> {
        self.may_change_picture(actor, target).await?;
        let audit = (actor.id != target).then(|| AuditEvent {
            actor: Some(actor.id),
            target,
            kind: AuditKind::PictureDeleted,
            changes: Vec::new(),
        });
        let (user, previous) = self.ports.users.set_picture(target, None, audit).await?;
        if let Some(previous) = previous {
            self.remove_objects(&previous.both()).await;
        }
        Ok(user)
    }

    /// A stored picture, to stream to a client.
    ///
    /// # Errors
    /// `PictureNotFound` for a key that is malformed or has no object; `Unavailable`.
    pub async fn picture(&self, key: &str) -> Result<StoredObject, Error> {
        let key = PictureKey::parse(key).map_err(|_| Error::PictureNotFound)?;
        self.ports
            .store
            .get(&key)
            .await?
            .ok_or(Error::PictureNotFound)
    }

    /// The avatar of a user: the uploaded picture, or a generated one.
    ///
    /// # Errors
    /// `UserNotFound`.
    pub async fn avatar(&self, id: UserId) -> Result<Avatar, Error> {
        let user = self
            .ports
            .users
            .find_by_id(id)
            .await?
            .ok_or(Error::UserNotFound)?;
        Ok(match user.picture {
            Some(keys) => Avatar::Picture(keys),
            None => Avatar::Generated(default_avatar_svg(user.id, &user.nickname)),
        })
    }

    /// Deletes picture objects that no row points at and that are older than `grace` (younger
    /// ones may belong to an upload that has not updated its row yet). Objects whose names are
    /// not picture keys are left alone.
    ///
    /// # Errors
    /// `Unavailable` when the store or the database cannot be reached.
    pub async fn sweep_orphaned_pictures(&self, grace: TimeDelta) -> Result<SweepReport, Error> {
        let cutoff = self.ports.clock.now() - grace;
        let candidates: Vec<PictureKey> = self
            .ports
            .store
            .list()
            .await?
            .into_iter()
            .filter(|o| o.last_modified < cutoff)
            .filter_map(|o| PictureKey::parse(&o.key).ok())
            .collect();
        let mut report = SweepReport {
            examined: candidates.len(),
            deleted: 0,
        };
        for chunk in candidates.chunks(500) {
            let referenced = self
                .ports
                .users
                .referenced_picture_keys(chunk.iter().map(|k| k.as_str().to_owned()).collect())
                .await?;
            for key in chunk.iter().filter(|k| !referenced.contains(k.as_str())) {
                self.ports.store.delete(key).await?;
                report.deleted += 1;
            }
        }
        if report.deleted > 0 {
            tracing::info!(deleted = report.deleted, "removed orphaned picture objects");
        }
        Ok(report)
    }

    /// The user themselves, or staff on an account they administer.
    async fn may_change_picture(&self, actor: Actor, target: UserId) -> Result<(), Error> {
        if actor.id == target {
            return Ok(());
        }
        self.administered(actor, target).await.map(|_| ())
    }

    /// Deletes objects that are no longer (or never were) pointed at. A failure is logged and
    /// left to the orphan sweep: the user-visible change has happened already.
    pub(super) async fn remove_objects(&self, keys: &[&PictureKey]) {
        for key in keys {
            if let Err(e) = self.ports.store.delete(key).await {
                tracing::warn!(key = %key, error = ?e, "could not delete a picture object; the orphan sweep will");
            }
        }
    }
}

/// The audit event of a picture change, when someone changed another account's picture.
fn by_someone_else(
    actor: Actor,
    target: UserId,
    kind: AuditKind,
    keys: &PictureKeys,
    new: bool,
) -> Option<AuditEvent> {
    (actor.id != target).then(|| AuditEvent {
        actor: Some(actor.id),
        target,
        kind,
        changes: vec![AuditChange::new(
            "profile_picture",
            None,
            new.then(|| keys.main.to_string()),
        )],
    })
}
