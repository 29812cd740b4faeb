//! Profile pictures.

use bytes::Bytes;

use super::*;
use crate::{
    model::{PictureFormat, PictureKey, PictureKeys},
    ports::{EncodedPicture, ObjectInfo, PictureError, ProcessedPicture, StoreError},
};

fn processed() -> ProcessedPicture {
    let encoded = |size: u32| EncodedPicture {
        bytes: Bytes::from(vec![size as u8; 16]),
        format: PictureFormat::Jpeg,
        width: size,
        height: size,
    };
    ProcessedPicture {
        main: encoded(200),
        thumbnail: encoded(128),
    }
}

fn keys() -> PictureKeys {
    PictureKeys {
        main: PictureKey::generate(PictureFormat::Jpeg),
        thumbnail: PictureKey::generate(PictureFormat::Png),
    }
}

fn down() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("connection refused"))
}

/// A processor that accepts the upload.
fn processing(given: &mut Given) {
    given
        .pictures
        .expect_process()
        .returning(|_| Ok(processed()));
}

#[tokio::test]
async fn an_upload_stores_both_objects_then_points_the_row_at_them_then_deletes_the_old_ones() {
    let me = user(Role::Authenticated);
    let old = keys();
    let mut given = Given::new();
    processing(&mut given);
    let order = Spy::<String>::default();
    let (puts, sets, deletes) = (order.clone(), order.clone(), order.clone());
    given
        .store
        .expect_put()
        .times(2)
        .returning(move |key, bytes| {
            puts.record(format!("put {key} {}", bytes.len()));
            Ok(())
        });
    let old_for_set = old.clone();
    let mut updated = me.clone();
    let me_id = me.id;
    given
        .users
        .expect_set_picture()
        .withf(move |id, keys, audit| *id == me_id && keys.is_some() && audit.is_none())
        .times(1)
        .returning(move |_, keys, _| {
            sets.record("set".into());
            updated.picture = keys;
            Ok((updated.clone(), Some(old_for_set.clone())))
        });
    given.store.expect_delete().times(2).returning(move |key| {
        deletes.record(format!("delete {key}"));
        Ok(())
    });
    let service = given.service();

    let user = service
        .upload_picture(Actor::from(&me), me.id, Bytes::from_static(b"img"))
        .await;

    let user = user.expect("uploaded");
    let new = user.picture.expect("the row points at the new picture");
    let steps = order.all();
    assert_eq!(
        steps,
        vec![
            format!("put {} 16", new.main),
            format!("put {} 16", new.thumbnail),
            "set".to_owned(),
            format!("delete {}", old.main),
            format!("delete {}", old.thumbnail),
        ]
    );
}

#[tokio::test]
async fn a_failed_thumbnail_store_removes_the_main_object_and_keeps_the_old_picture() {
    let me = actor(Role::Authenticated);
    let mut given = Given::new();
    processing(&mut given);
    let mut seq = mockall::Sequence::new();
    given
        .store
        .expect_put()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    given
        .store
        .expect_put()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Err(down()));
    let deleted = Spy::<String>::default();
    let d = deleted.clone();
    given.store.expect_delete().times(1).returning(move |key| {
        d.record(key.to_string());
        Ok(())
    });
    given.users.expect_set_picture().never();
    let service = given.service();

    let result = service
        .upload_picture(me, me.id, Bytes::from_static(b"img"))
        .await;

    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
    assert_eq!(deleted.all().len(), 1);
}

#[tokio::test]
async fn a_failed_row_update_removes_both_new_objects() {
    let me = actor(Role::Authenticated);
    let mut given = Given::new();
    processing(&mut given);
    given.store.expect_put().times(2).returning(|_, _| Ok(()));
    given
        .users
        .expect_set_picture()
        .returning(|_, _, _| Err(RepoError::Unavailable(anyhow::anyhow!("db down"))));
    given.store.expect_delete().times(2).returning(|_| Ok(()));
    let service = given.service();

    let result = service
        .upload_picture(me, me.id, Bytes::from_static(b"img"))
        .await;

    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn unsupported_and_broken_uploads_map_to_415_and_422_and_store_nothing() {
    for (answer, want_415) in [
        (PictureError::UnsupportedFormat, true),
        (PictureError::Undecodable("truncated".into()), false),
        (
            PictureError::TooManyPixels {
                width: 10_000,
                height: 10_000,
                max_pixels: 40_000_000,
            },
            false,
        ),
    ] {
        let me = actor(Role::Authenticated);
        let mut given = Given::new();
        let answer = std::sync::Mutex::new(Some(answer));
        given
            .pictures
            .expect_process()
            .returning(move |_| Err(answer.lock().expect("lock").take().expect("one call")));
        given.store.expect_put().never();
        let service = given.service();

        let result = service
            .upload_picture(me, me.id, Bytes::from_static(b"img"))
            .await;

        match result {
            Err(Error::UnsupportedImage) => assert!(want_415),
            Err(Error::InvalidImage(message)) => {
                assert!(!want_415);
                assert!(!message.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn another_plain_user_may_not_change_my_picture_but_staff_may() {
    let target = user(Role::Authenticated);
    let mut given = Given::new();
    given.pictures.expect_process().never();
    let service = given.service();
    let result = service
        .upload_picture(
            actor(Role::Authenticated),
            target.id,
            Bytes::from_static(b"img"),
        )
        .await;
    assert!(matches!(result, Err(Error::Forbidden)), "{result:?}");

    let mut given = Given::new();
    given.stored_user(&target);
    given
        .users
        .expect_set_picture()
        .returning(move |_, _, _| Ok((user(Role::Authenticated), None)));
    let service = given.service();
    let result = service
        .delete_picture(actor(Role::Manager), target.id)
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn deleting_a_user_removes_its_picture_objects() {
    let target = user(Role::Authenticated);
    let picture = keys();
    let mut given = Given::new();
    given.stored_user(&target);
    let returned = picture.clone();
    given
        .users
        .expect_delete()
        .returning(move |_, _| Ok(Some(returned.clone())));
    let deleted = Spy::<String>::default();
    let d = deleted.clone();
    given.store.expect_delete().times(2).returning(move |key| {
        d.record(key.to_string());
        Ok(())
    });
    let service = given.service();

    service
        .delete_user(actor(Role::Admin), target.id)
        .await
        .expect("deleted");

    assert_eq!(
        deleted.all(),
        vec![picture.main.to_string(), picture.thumbnail.to_string()]
    );
}

#[tokio::test]
async fn the_sweep_deletes_only_old_unreferenced_picture_objects() {
    let referenced = PictureKey::generate(PictureFormat::Jpeg);
    let orphan = PictureKey::generate(PictureFormat::Jpeg);
    let young = PictureKey::generate(PictureFormat::Jpeg);
    let listing = vec![
        ObjectInfo {
            key: referenced.to_string(),
            last_modified: now() - TimeDelta::hours(3),
        },
        ObjectInfo {
            key: orphan.to_string(),
            last_modified: now() - TimeDelta::hours(3),
        },
        ObjectInfo {
            key: young.to_string(),
            last_modified: now() - TimeDelta::minutes(5),
        },
        ObjectInfo {
            key: "README.txt".into(),
            last_modified: now() - TimeDelta::days(3),
        },
    ];
    let mut given = Given::new();
    given
        .store
        .expect_list()
        .returning(move || Ok(listing.clone()));
    let kept = referenced.to_string();
    given
        .users
        .expect_referenced_picture_keys()
        .withf(|keys| keys.len() == 2)
        .returning(move |_| Ok([kept.clone()].into_iter().collect()));
    let orphan_key = orphan.clone();
    given
        .store
        .expect_delete()
        .withf(move |key| *key == orphan_key)
        .times(1)
        .returning(|_| Ok(()));
    let service = given.service();

    let report = service
        .sweep_orphaned_pictures(TimeDelta::hours(1))
        .await
        .expect("swept");

    assert_eq!(report.examined, 2);
    assert_eq!(report.deleted, 1);
}

#[tokio::test]
async fn the_avatar_is_the_picture_when_there_is_one_else_generated_initials() {
    let mut with_picture = user(Role::Authenticated);
    with_picture.picture = Some(keys());
    let plain = user(Role::Authenticated);
    let mut given = Given::new();
    given.stored_user(&with_picture);
    given.stored_user(&plain);
    let service = given.service();

    let avatar = service.avatar(with_picture.id).await.expect("found");
    assert!(matches!(avatar, super::super::Avatar::Picture(_)));
    match service.avatar(plain.id).await.expect("found") {
        super::super::Avatar::Generated(svg) => assert!(svg.contains(">AL</text>")),
        other => panic!("{other:?}"),
    }
}
// -- What a picture change tells the audit log ----------------------------------------------

/// An upload for `target` succeeds all the way; the keys and the audit event handed to
/// `set_picture` are kept.
fn a_working_upload(
    given: &mut Given,
    target: &User,
) -> Spy<(Option<PictureKeys>, Option<AuditEvent>)> {
    processing(given);
    given.store.expect_put().times(2).returning(|_, _| Ok(()));
    let sets = Spy::default();
    let spy = sets.clone();
    let before = target.clone();
    given
        .users
        .expect_set_picture()
        .with(
            eq(target.id),
            mockall::predicate::always(),
            mockall::predicate::always(),
        )
        .times(1)
        .returning(move |_, keys, audit| {
            spy.record((keys.clone(), audit));
            let mut after = before.clone();
            after.picture = keys;
            Ok((after, None))
        });
    sets
}

/// Removing `target`'s picture succeeds; the audit event handed to `set_picture` is kept.
fn a_working_removal(given: &mut Given, target: &User) -> Spy<Option<AuditEvent>> {
    let sets = Spy::default();
    let spy = sets.clone();
    let after = User {
        picture: None,
        ..target.clone()
    };
    given
        .users
        .expect_set_picture()
        .with(eq(target.id), eq(None), mockall::predicate::always())
        .times(1)
        .returning(move |_, _, audit| {
            spy.record(audit);
            Ok((after.clone(), None))
        });
    sets
}

#[tokio::test]
async fn changing_ones_own_picture_records_no_audit_event() {
    // Staff changing their own picture act as its owner too.
    for role in [Role::Authenticated, Role::Admin] {
        let me = user(role);
        let mut given = Given::new();
        let sets = a_working_upload(&mut given, &me);
        let service = given.service();

        service
            .upload_picture(Actor::from(&me), me.id, Bytes::from_static(b"img"))
            .await
            .expect("uploaded");

        let (keys, audit) = sets.only();
        assert!(keys.is_some());
        assert_eq!(audit, None, "{role}");
    }
}

#[tokio::test]
async fn staff_changing_a_picture_record_a_picture_changed_event_naming_them() {
    let target = user(Role::Authenticated);
    let staff = actor(Role::Manager);
    let mut given = Given::new();
    given.stored_user(&target);
    let sets = a_working_upload(&mut given, &target);
    let service = given.service();

    service
        .upload_picture(staff, target.id, Bytes::from_static(b"img"))
        .await
        .expect("uploaded");

    let (keys, audit) = sets.only();
    let keys = keys.expect("new keys");
    let audit = audit.expect("an audit event");
    assert_eq!(audit.kind, AuditKind::PictureChanged);
    assert_eq!(audit.actor, Some(staff.id));
    assert_eq!(audit.target, target.id);
    assert!(
        audit
            .changes
            .iter()
            .any(|c| c.field == "profile_picture"
                && c.after.as_deref() == Some(keys.main.as_str())),
        "{audit:?}"
    );
}

#[tokio::test]
async fn removing_ones_own_picture_records_no_audit_event() {
    let me = user(Role::Authenticated);
    let mut given = Given::new();
    let sets = a_working_removal(&mut given, &me);
    let service = given.service();

    service
        .delete_picture(Actor::from(&me), me.id)
        .await
        .expect("removed");

    assert_eq!(sets.only(), None);
}

#[tokio::test]
async fn staff_removing_a_picture_record_a_picture_deleted_event_naming_them() {
    let mut target = user(Role::Authenticated);
    target.picture = Some(keys());
    let staff = actor(Role::Admin);
    let mut given = Given::new();
    given.stored_user(&target);
    let sets = a_working_removal(&mut given, &target);
    let service = given.service();

    service
        .delete_picture(staff, target.id)
        .await
        .expect("removed");

    let audit = sets.only().expect("an audit event");
    assert_eq!(audit.kind, AuditKind::PictureDeleted);
    assert_eq!(audit.actor, Some(staff.id));
    assert_eq!(audit.target, target.id);
}
