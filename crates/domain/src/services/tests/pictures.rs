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
    let old = keys();
    let me = User {
        picture: Some(old.clone()),
        ..user(Role::Authenticated)
    };
    let repo = stored_in_memory(&[&me]);
    let mut given = Given::new();
    processing(&mut given);
    // Each store call notes what the stored row pointed at when it came.
    let order = Spy::<String>::default();
    let row = |repo: &InMemoryRepository, id: UserId| match repo.get(id).and_then(|u| u.picture) {
        Some(keys) => format!("row at {}", keys.main),
        None => "row at nothing".to_owned(),
    };
    let (puts, deletes) = (order.clone(), order.clone());
    let (repo_at_put, repo_at_delete) = (repo.clone(), repo.clone());
    given
        .store
        .expect_put()
        .times(2)
        .returning(move |key, bytes| {
            puts.record(format!(
                "put {key} {}, {}",
                bytes.len(),
                row(&repo_at_put, me.id)
            ));
            Ok(())
        });
    given.store.expect_delete().times(2).returning(move |key| {
        deletes.record(format!("delete {key}, {}", row(&repo_at_delete, me.id)));
        Ok(())
    });
    let service = given.service_over(&repo);

    let user = service
        .upload_picture(Actor::from(&me), me.id, Bytes::from_static(b"img"))
        .await;

    let user = user.expect("uploaded");
    let new = user
        .picture
        .clone()
        .expect("the row points at the new picture");
    assert_eq!(repo.get(me.id), Some(user));
    let steps = order.all();
    assert_eq!(
        steps,
        vec![
            format!("put {} 16, row at {}", new.main, old.main),
            format!("put {} 16, row at {}", new.thumbnail, old.main),
            format!("delete {}, row at {}", old.main, new.main),
            format!("delete {}, row at {}", old.thumbnail, new.main),
        ]
    );
}

#[tokio::test]
async fn a_failed_thumbnail_store_removes_the_main_object_and_keeps_the_old_picture() {
    let me = User {
        picture: Some(keys()),
        ..user(Role::Authenticated)
    };
    let repo = stored_in_memory(&[&me]);
    let mut given = Given::new();
    processing(&mut given);
    let mut seq = mockall::Sequence::new();
    let puts = Spy::<String>::default();
    let p = puts.clone();
    given
        .store
        .expect_put()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |key, _| {
            p.record(key.to_string());
            Ok(())
        });
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
    let service = given.service_over(&repo);

    let result = service
        .upload_picture(Actor::from(&me), me.id, Bytes::from_static(b"img"))
        .await;

    assert_err!(result, Error::Unavailable(_));
    assert_eq!(deleted.all(), puts.all(), "the main object is removed");
    assert_eq!(repo.get(me.id), Some(me), "the old picture is kept");
    assert!(repo.audit_events().is_empty());
}

#[tokio::test]
async fn a_failed_row_update_removes_both_new_objects() {
    // The row update fails (`Unavailable`): mocked.
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

    assert_err!(result, Error::Unavailable(_));
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
    let target = User {
        picture: Some(keys()),
        ..user(Role::Authenticated)
    };
    let repo = stored_in_memory(&[&target]);
    let mut given = Given::new();
    given.pictures.expect_process().never();
    let service = given.service_over(&repo);
    let result = service
        .upload_picture(
            actor(Role::Authenticated),
            target.id,
            Bytes::from_static(b"img"),
        )
        .await;
    assert_err!(result, Error::Forbidden);
    assert_eq!(repo.get(target.id), Some(target.clone()), "unchanged");

    let mut given = Given::new();
    // The removed picture's objects go.
    given.store.expect_delete().times(2).returning(|_| Ok(()));
    let service = given.service_over(&repo);
    let result = service
        .delete_picture(actor(Role::Manager), target.id)
        .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(repo.get(target.id).expect("stored").picture, None);
}

#[tokio::test]
async fn deleting_a_user_removes_its_picture_objects() {
    let picture = keys();
    let target = User {
        picture: Some(picture.clone()),
        ..user(Role::Authenticated)
    };
    let repo = stored_in_memory(&[&target]);
    let mut given = Given::new();
    let deleted = Spy::<String>::default();
    let d = deleted.clone();
    given.store.expect_delete().times(2).returning(move |key| {
        d.record(key.to_string());
        Ok(())
    });
    let service = given.service_over(&repo);

    service
        .delete_user(actor(Role::Admin), target.id)
        .await
        .expect("deleted");

    assert_eq!(repo.get(target.id), None);
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
    let owner = User {
        picture: Some(PictureKeys {
            main: referenced.clone(),
            thumbnail: PictureKey::generate(PictureFormat::Png),
        }),
        ..user(Role::Authenticated)
    };
    let repo = stored_in_memory(&[&owner]);
    let mut given = Given::new();
    given
        .store
        .expect_list()
        .returning(move || Ok(listing.clone()));
    // Only the orphan is deleted: the young object and the stray file are not even looked up
    // (they would be unreferenced, hence deleted).
    let orphan_key = orphan.clone();
    given
        .store
        .expect_delete()
        .withf(move |key| *key == orphan_key)
        .times(1)
        .returning(|_| Ok(()));
    let service = given.service_over(&repo);

    let report = service
        .sweep_orphaned_pictures(TimeDelta::hours(1))
        .await
        .expect("swept");

    assert_eq!(report.examined, 2);
    assert_eq!(report.deleted, 1);
}

#[tokio::test]
async fn the_avatar_is_the_picture_when_there_is_one_else_generated_initials() {
    let mut with_picture = user_called(Role::Authenticated, "pictured");
    with_picture.picture = Some(keys());
    let plain = user(Role::Authenticated);
    let repo = stored_in_memory(&[&with_picture, &plain]);
    let service = Given::new().service_over(&repo);

    let avatar = service.avatar(with_picture.id).await.expect("found");
    assert!(matches!(avatar, super::super::Avatar::Picture(_)));
    match service.avatar(plain.id).await.expect("found") {
        super::super::Avatar::Generated(svg) => assert!(svg.contains(">AL</text>")),
        other => panic!("{other:?}"),
    }
}
// -- What a picture change tells the audit log ----------------------------------------------

/// An upload succeeds all the way (the account had no picture, so no object is deleted).
fn a_working_upload(given: &mut Given) {
    processing(given);
    given.store.expect_put().times(2).returning(|_, _| Ok(()));
}

#[tokio::test]
async fn changing_ones_own_picture_records_no_audit_event() {
    // Staff changing their own picture act as its owner too.
    for role in [Role::Authenticated, Role::Admin] {
        let me = user(role);
        let repo = stored_in_memory(&[&me]);
        let mut given = Given::new();
        a_working_upload(&mut given);
        let service = given.service_over(&repo);

        service
            .upload_picture(Actor::from(&me), me.id, Bytes::from_static(b"img"))
            .await
            .expect("uploaded");

        assert!(repo.get(me.id).expect("stored").picture.is_some(), "{role}");
        assert!(
            repo.audit_events().is_empty(),
            "{role}: {:?}",
            repo.audit_events()
        );
    }
}

#[tokio::test]
async fn staff_changing_a_picture_record_a_picture_changed_event_naming_them() {
    let target = user(Role::Authenticated);
    let staff = actor(Role::Manager);
    let repo = stored_in_memory(&[&target]);
    let mut given = Given::new();
    a_working_upload(&mut given);
    let service = given.service_over(&repo);

    service
        .upload_picture(staff, target.id, Bytes::from_static(b"img"))
        .await
        .expect("uploaded");

    let keys = repo
        .get(target.id)
        .and_then(|u| u.picture)
        .expect("new keys");
    let [audit] = repo.audit_events().try_into().expect("one audit event");
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
    let me = User {
        picture: Some(keys()),
        ..user(Role::Authenticated)
    };
    let repo = stored_in_memory(&[&me]);
    let mut given = Given::new();
    given.store.expect_delete().times(2).returning(|_| Ok(()));
    let service = given.service_over(&repo);

    service
        .delete_picture(Actor::from(&me), me.id)
        .await
        .expect("removed");

    assert_eq!(repo.get(me.id).expect("stored").picture, None);
    assert_no_audit(&repo);
}

#[tokio::test]
async fn staff_removing_a_picture_record_a_picture_deleted_event_naming_them() {
    let mut target = user(Role::Authenticated);
    target.picture = Some(keys());
    let staff = actor(Role::Admin);
    let repo = stored_in_memory(&[&target]);
    let mut given = Given::new();
    given.store.expect_delete().times(2).returning(|_| Ok(()));
    let service = given.service_over(&repo);

    service
        .delete_picture(staff, target.id)
        .await
        .expect("removed");

    assert_eq!(repo.get(target.id).expect("stored").picture, None);
    let [audit] = repo.audit_events().try_into().expect("one audit event");
    assert_eq!(audit.kind, AuditKind::PictureDeleted);
    assert_eq!(audit.actor, Some(staff.id));
    assert_eq!(audit.target, target.id);
}
