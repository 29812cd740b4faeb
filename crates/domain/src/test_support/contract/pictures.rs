//! Picture keys, the PRO status and password hashes.

#![allow(
    clippy::too_many_lines,
    reason = "a contract test reads best in one piece"
)]

use super::*;
use crate::ports::RepoError;
use std::collections::HashSet;

pub async fn set_picture_returns_the_keys_it_replaced(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "pic@example.com", "pic_user").await;
    let first = picture();
    let second = picture();

    let (stored, previous) = repo
        .set_picture(user.id, Some(first.clone()), None)
        .await
        .expect("set");
    assert_eq!(stored.picture, Some(first.clone()));
    assert_eq!(previous, None);

    let (stored, previous) = repo
        .set_picture(user.id, Some(second.clone()), None)
        .await
        .expect("replaced");
    assert_eq!(stored.picture, Some(second.clone()));
    assert_eq!(previous, Some(first));

    let (stored, previous) = repo
        .set_picture(user.id, None, None)
        .await
        .expect("cleared");
    assert_eq!(stored.picture, None);
    assert_eq!(previous, Some(second));
    assert_eq!(reload(&*repo, user.id).await.picture, None);

    let unknown = repo.set_picture(UserId::new(), Some(picture()), None).await;
    assert!(matches!(unknown, Err(RepoError::NotFound)), "{unknown:?}");
}

pub async fn concurrent_uploads_each_see_the_keys_the_other_replaced(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "race@example.com", "race_user").await;
    let (a, b) = (picture(), picture());
    let (ra, rb) = tokio::join!(
        repo.set_picture(user.id, Some(a.clone()), None),
        repo.set_picture(user.id, Some(b.clone()), None)
    );
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    // One ran first and replaced nothing; the other replaced exactly what the first set.
    let previous: Vec<Option<PictureKeys>> = vec![ra.1, rb.1];
    assert!(previous.contains(&None), "{previous:?}");
    assert!(
        previous.contains(&Some(a.clone())) || previous.contains(&Some(b.clone())),
        "{previous:?}"
    );
    let final_picture = reload(&*repo, user.id).await.picture.expect("a picture");
    assert!(
        !previous.contains(&Some(final_picture)),
        "the kept picture was handed out for deletion"
    );
}

pub async fn deleting_a_user_returns_its_picture_keys(h: &dyn Harness) {
    let repo = h.repo();
    let (with, _) = insert(&*repo, "with@example.com", "with_pic").await;
    let (without, _) = insert(&*repo, "without@example.com", "without_pic").await;
    let keys = picture();
    repo.set_picture(with.id, Some(keys.clone()), None)
        .await
        .expect("set");

    assert_eq!(
        repo.delete(with.id, deletion(with.id))
            .await
            .expect("deleted"),
        Some(keys)
    );
    assert_eq!(
        repo.delete(without.id, deletion(without.id))
            .await
            .expect("deleted"),
        None
    );
}

pub async fn referenced_picture_keys_names_only_keys_rows_point_at(h: &dyn Harness) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "ref@example.com", "ref_user").await;
    let keys = picture();
    repo.set_picture(user.id, Some(keys.clone()), None)
        .await
        .expect("set");
    let orphan = PictureKey::generate(PictureFormat::Png);

    let referenced = repo
        .referenced_picture_keys(vec![
            keys.main.to_string(),
            keys.thumbnail.to_string(),
            orphan.to_string(),
        ])
        .await
        .expect("looked up");

    let expected: HashSet<String> = [keys.main.to_string(), keys.thumbnail.to_string()].into();
    assert_eq!(referenced, expected);
    assert!(
        repo.referenced_picture_keys(Vec::new())
            .await
            .expect("empty")
            .is_empty()
    );
}

pub async fn set_picture_appends_its_event_only_when_it_has_one(h: &dyn Harness) {
    let repo = h.repo();
    let manager = insert_with_role(&*repo, "m@example.com", "the_manager", Role::Manager).await;
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    let picture = keys();
    let changed = event(
        Some(manager.id),
        ada.id,
        AuditKind::PictureChanged,
        &[("profile_picture_key", None, Some(picture.main.as_str()))],
    );
    repo.set_picture(ada.id, Some(picture.clone()), Some(changed.clone()))
        .await
        .expect("set_picture");
    // The account's own change is not audited.
    repo.set_picture(ada.id, Some(keys()), None)
        .await
        .expect("set_picture");
    let deleted = event(Some(manager.id), ada.id, AuditKind::PictureDeleted, &[]);
    repo.set_picture(ada.id, None, Some(deleted.clone()))
        .await
        .expect("set_picture");
    let unknown = repo
        .set_picture(UserId::new(), None, Some(deleted.clone()))
        .await;
    assert!(matches!(unknown, Err(RepoError::NotFound)), "{unknown:?}");
    assert_eq!(audit_events(h).await, vec![changed, deleted]);
}

pub async fn set_professional_changes_the_status_only_when_it_differs_and_stamps_the_given_time(
    h: &dyn Harness,
) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "pro@example.com", "pro_user").await;
    let upgraded_at = now() - TimeDelta::hours(2);

    let upgraded = set_pro(&*repo, user.id, true, upgraded_at)
        .await
        .expect("query")
        .expect("false → true is a change");
    assert!(upgraded.is_professional);
    assert_eq!(upgraded.professional_status_updated_at, Some(upgraded_at));
    assert!(upgraded.updated_at > user.updated_at, "updated_at moves");
    assert_eq!(reload(&*repo, user.id).await, upgraded);

    let again = set_pro(&*repo, user.id, true, now()).await.expect("query");
    assert!(again.is_none(), "true → true is no change: {again:?}");
    let stored = reload(&*repo, user.id).await;
    assert!(stored.is_professional);
    assert_eq!(
        stored.professional_status_updated_at,
        Some(upgraded_at),
        "the time of the real change is kept"
    );

    let revoked_at = now() - TimeDelta::hours(1);
    let revoked = set_pro(&*repo, user.id, false, revoked_at)
        .await
        .expect("query")
        .expect("true → false is a change");
    assert!(!revoked.is_professional);
    assert_eq!(revoked.professional_status_updated_at, Some(revoked_at));
    assert_eq!(reload(&*repo, user.id).await, revoked);

    assert!(
        set_pro(&*repo, user.id, false, now())
            .await
            .expect("query")
            .is_none(),
        "false → false is no change"
    );
}

pub async fn set_professional_of_an_unknown_account_is_none(h: &dyn Harness) {
    let repo = h.repo();
    let result = set_pro(&*repo, UserId::new(), true, now())
        .await
        .expect("query");
    assert!(result.is_none(), "{result:?}");
}

pub async fn of_two_concurrent_upgrades_exactly_one_changes_the_status(h: &dyn Harness) {
    let repo = h.repo();
    for round in 0..5 {
        let (user, _) = insert(
            &*repo,
            &format!("racer{round}@example.com"),
            &format!("pro_racer_{round}"),
        )
        .await;
        let (first_at, second_at) = (now() - TimeDelta::minutes(2), now() - TimeDelta::minutes(1));

        let (a, b) = tokio::join!(
            set_pro(&*repo, user.id, true, first_at),
            set_pro(&*repo, user.id, true, second_at)
        );

        let (a, b) = (a.expect("a"), b.expect("b"));
        let winners: Vec<&User> = [&a, &b].into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "round {round}: {a:?} / {b:?}");
        let stored = reload(&*repo, user.id).await;
        assert!(stored.is_professional);
        assert_eq!(
            stored.professional_status_updated_at, winners[0].professional_status_updated_at,
            "round {round}: the winner's time is stored"
        );
    }
}

pub async fn set_professional_queues_its_mail_only_when_the_status_changes(h: &dyn Harness) {
    let repo = h.repo();
    let user = verified(&*repo, "ada@example.com", "ada_l").await;

    let changed = set_pro(&*repo, user.id, true, now()).await.expect("query");
    assert!(changed.is_some());
    assert_eq!(h.take_mails().await, vec![pro_mail(true)]);

    for (id, case) in [
        (user.id, "no change"),
        (UserId::new(), "an unknown account"),
    ] {
        let result = set_pro(&*repo, id, true, now()).await.expect("query");
        assert!(result.is_none(), "{case}");
        assert_eq!(h.take_mails().await.len(), 0, "{case} queues nothing");
    }
}

pub async fn set_professional_appends_its_event_only_on_a_real_change(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    let upgrade = event(
        Some(ada.id),
        ada.id,
        AuditKind::ProStatusChanged,
        &[("is_professional", Some("false"), Some("true"))],
    );
    for (id, changes) in [(ada.id, true), (ada.id, false), (UserId::new(), false)] {
        let outcome = repo
            .set_professional(id, true, now(), pro_mail(true), upgrade.clone())
            .await
            .expect("set_professional");
        assert_eq!(outcome.is_some(), changes);
    }
    assert_eq!(audit_events(h).await, vec![upgrade]);
}

pub async fn set_password_hash_replaces_the_stored_hash_and_refuses_an_unknown_account(
    h: &dyn Harness,
) {
    let repo = h.repo();
    let (user, _) = insert(&*repo, "pw@example.com", "pw_user").await;
    let (other, _) = insert(&*repo, "other@example.com", "other_user").await;
    let new_hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA".into());

    repo.set_password_hash(user.id, new_hash.clone(), None)
        .await
        .expect("replaced");

    let stored = reload(&*repo, user.id).await;
    assert_eq!(stored.password_hash, new_hash);
    assert!(stored.updated_at > user.updated_at, "updated_at moves");
    assert_eq!(
        reload(&*repo, other.id).await.password_hash,
        other.password_hash,
        "other accounts keep theirs"
    );

    let unknown = repo.set_password_hash(UserId::new(), new_hash, None).await;
    assert!(matches!(unknown, Err(RepoError::NotFound)), "{unknown:?}");
}

fn keys() -> PictureKeys {
    PictureKeys {
        main: PictureKey::generate(PictureFormat::Png),
        thumbnail: PictureKey::generate(PictureFormat::Png),
    }
}
