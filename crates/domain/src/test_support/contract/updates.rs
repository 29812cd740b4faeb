//! Updates and deletions: partial changes, collisions, the last ADMIN, and the emails and audit events stored with a change.

#![allow(
    clippy::too_many_lines,
    reason = "a contract test reads best in one piece"
)]

use super::*;
use crate::{
    model::{Bio, Name, Patch, ProfilePatch, ProfileUrl},
    ports::{RepoError, UserFilter, UserQuery},
};

pub async fn an_update_changes_only_the_given_fields(h: &dyn Harness) {
    let repo = h.repo();
    let (mut new, _) = new_user("ada@example.com", "ada_l");
    new.profile.last_name = Name::parse("Lovelace").expect("valid");
    new.profile.bio = Bio::parse("Poet of science").expect("valid");
    let before = repo.insert(new).await.expect("insert");

    let after = repo
        .update(
            before.id,
            UserChanges {
                profile: ProfilePatch {
                    first_name: Name::parse("Ada").expect("valid").into(),
                    bio: Patch::Clear,
                    ..ProfilePatch::default()
                },
                ..UserChanges::default()
            },
        )
        .await
        .expect("update");

    assert_eq!(
        after.profile.first_name.as_ref().map(Name::as_str),
        Some("Ada"),
        "set"
    );
    assert_eq!(after.profile.bio, None, "Some(None) clears");
    assert_eq!(
        after.profile.last_name, before.profile.last_name,
        "untouched fields stay"
    );
    assert_eq!(after.email, before.email);
    assert_eq!(after.nickname, before.nickname);
    assert_eq!(after.role, before.role);
    assert_eq!(after.email_verified, before.email_verified);
    assert!(after.updated_at > before.updated_at, "updated_at moves");
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(reload(&*repo, before.id).await, after);
}

pub async fn an_update_can_change_every_updatable_field(h: &dyn Harness) {
    let repo = h.repo();
    let (before, _) = insert(&*repo, "ada@example.com", "ada_l").await;

    let after = repo
        .update(
            before.id,
            UserChanges {
                email: Some(email("Ada.New@Example.com")),
                email_verified: Some(true),
                nickname: Some(nickname("Countess")),
                profile: ProfilePatch {
                    first_name: Name::parse("Ada").expect("valid").into(),
                    last_name: Name::parse("King").expect("valid").into(),
                    bio: Bio::parse("Notes on the engine").expect("valid").into(),
                    linkedin_profile_url: ProfileUrl::parse("https://linkedin.com/in/a")
                        .expect("ok")
                        .into(),
                    github_profile_url: ProfileUrl::parse("https://github.com/a")
                        .expect("ok")
                        .into(),
                },
                role: Some(Role::Manager),
                verification_token: None,
                mails: Vec::new(),
                audit: Vec::new(),
            },
        )
        .await
        .expect("update");

    assert_eq!(after.email.as_str(), "Ada.New@Example.com");
    assert!(after.email_verified);
    assert_eq!(after.nickname.as_str(), "Countess");
    assert_eq!(
        after.profile.last_name.as_ref().map(Name::as_str),
        Some("King")
    );
    assert_eq!(
        after.profile.bio.as_ref().map(Bio::as_str),
        Some("Notes on the engine")
    );
    assert!(
        after.profile.linkedin_profile_url.is_some() && after.profile.github_profile_url.is_some()
    );
    assert_eq!(after.role, Role::Manager);
    assert_eq!(reload(&*repo, before.id).await, after);
}

pub async fn an_update_with_a_verification_token_replaces_the_old_one(h: &dyn Harness) {
    let repo = h.repo();
    let (user, old) = insert(&*repo, "ada@example.com", "ada_l").await;
    let fresh = RawToken::generate();

    repo.update(
        user.id,
        UserChanges {
            email: Some(email("ada.new@example.com")),
            email_verified: Some(false),
            verification_token: Some(pending_until(&fresh, now() + TimeDelta::hours(1))),
            ..UserChanges::default()
        },
    )
    .await
    .expect("update");

    assert_eq!(h.tokens().await.verification, 1);
    assert!(verify_with(&*repo, user.id, &old).await.is_none());
    assert!(verify_with(&*repo, user.id, &fresh).await.is_some());
}

pub async fn an_update_to_a_taken_email_or_nickname_is_refused(h: &dyn Harness) {
    let repo = h.repo();
    insert(&*repo, "ada@example.com", "ada_l").await;
    let (bob, _) = insert(&*repo, "bob@example.com", "bob_b").await;

    let to_email = UserChanges {
        email: Some(email("ADA@example.com")),
        ..UserChanges::default()
    };
    assert!(
        matches!(
            repo.update(bob.id, to_email).await,
            Err(RepoError::EmailTaken)
        ),
        "a taken email in other case is EmailTaken"
    );
    let to_nickname = UserChanges {
        nickname: Some(nickname("Ada_L")),
        ..UserChanges::default()
    };
    assert!(
        matches!(
            repo.update(bob.id, to_nickname).await,
            Err(RepoError::NicknameTaken)
        ),
        "a taken nickname in other case is NicknameTaken"
    );
    assert_eq!(
        reload(&*repo, bob.id).await,
        bob,
        "a refused update changes nothing"
    );
}

pub async fn updating_or_deleting_an_unknown_account_is_not_found(h: &dyn Harness) {
    let repo = h.repo();
    let changes = UserChanges {
        profile: ProfilePatch {
            bio: Patch::Clear,
            ..ProfilePatch::default()
        },
        ..UserChanges::default()
    };
    assert!(matches!(
        repo.update(UserId::new(), changes).await,
        Err(RepoError::NotFound)
    ));
    let demotion = UserChanges {
        role: Some(Role::Authenticated),
        ..UserChanges::default()
    };
    assert!(matches!(
        repo.update(UserId::new(), demotion).await,
        Err(RepoError::NotFound)
    ));
    assert!(matches!(
        repo.delete(UserId::new(), deletion(UserId::new())).await,
        Err(RepoError::NotFound)
    ));
}

pub async fn the_only_admin_can_be_neither_demoted_nor_deleted(h: &dyn Harness) {
    let repo = h.repo();
    let admin = insert_with_role(&*repo, "admin@example.com", "the_admin", Role::Admin).await;
    insert_with_role(&*repo, "manager@example.com", "the_manager", Role::Manager).await;

    for role in [Role::Manager, Role::Authenticated, Role::Anonymous] {
        assert!(
            matches!(
                repo.update(admin.id, role_change(role)).await,
                Err(RepoError::LastAdmin)
            ),
            "demoting the only ADMIN to {role} must be LastAdmin"
        );
    }
    assert!(matches!(
        repo.delete(admin.id, deletion(admin.id)).await,
        Err(RepoError::LastAdmin)
    ));
    assert_eq!(
        reload(&*repo, admin.id).await.role,
        Role::Admin,
        "still ADMIN"
    );

    let same = repo
        .update(admin.id, role_change(Role::Admin))
        .await
        .expect("keeping the ADMIN role is no demotion");
    assert_eq!(same.role, Role::Admin);
}

pub async fn one_of_two_admins_can_be_demoted_or_deleted(h: &dyn Harness) {
    let repo = h.repo();
    let first = insert_with_role(&*repo, "a1@example.com", "admin_one", Role::Admin).await;
    let second = insert_with_role(&*repo, "a2@example.com", "admin_two", Role::Admin).await;

    let demoted = repo
        .update(first.id, role_change(Role::Manager))
        .await
        .expect("demoting one of two ADMINs");
    assert_eq!(demoted.role, Role::Manager);
    assert!(
        matches!(
            repo.update(second.id, role_change(Role::Manager)).await,
            Err(RepoError::LastAdmin)
        ),
        "now the second is the only ADMIN"
    );

    repo.update(first.id, role_change(Role::Admin))
        .await
        .expect("promoting back");
    repo.delete(second.id, deletion(second.id))
        .await
        .expect("deleting one of two ADMINs");
    assert!(repo.find_by_id(second.id).await.expect("query").is_none());
}

pub async fn of_two_admins_demoted_concurrently_one_stays(h: &dyn Harness) {
    let repo = h.repo();
    for round in 0..5 {
        let (a, b) = two_last_admins(&*repo, round).await;

        let (ra, rb) = tokio::join!(
            repo.update(a.id, role_change(Role::Manager)),
            repo.delete(b.id, deletion(b.id))
        );
        assert_one_done_one_last_admin(round, [ra.map(|_| ()), rb.map(|_| ())]);
    }
}

pub async fn deleting_an_account_removes_its_token(h: &dyn Harness) {
    let repo = h.repo();
    let (ada, _) = insert(&*repo, "ada@example.com", "ada_l").await;
    let (bob, bob_token) = insert(&*repo, "bob@example.com", "bob_b").await;
    assert_eq!(h.tokens().await.verification, 2);

    repo.delete(ada.id, deletion(ada.id)).await.expect("delete");

    assert!(repo.find_by_id(ada.id).await.expect("query").is_none());
    assert_eq!(
        h.tokens().await.verification,
        1,
        "the token went with the account"
    );
    assert!(
        verify_with(&*repo, bob.id, &bob_token).await.is_some(),
        "the token left is the other account's"
    );
    assert!(
        matches!(
            repo.delete(ada.id, deletion(ada.id)).await,
            Err(RepoError::NotFound)
        ),
        "only once"
    );
}

pub async fn an_update_queues_its_mails_and_a_refused_one_queues_nothing(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    let bob = verified(&*repo, "bob@example.com", "bob_b").await;
    let mails = vec![
        mail(
            "bob@example.com",
            MailKind::RoleChanged {
                role: Role::Manager,
            },
        ),
        pro_mail(true),
    ];

    repo.update(
        bob.id,
        UserChanges {
            role: Some(Role::Manager),
            mails: mails.clone(),
            ..UserChanges::default()
        },
    )
    .await
    .expect("update");
    assert_eq!(h.take_mails().await, mails, "in the order given");

    let taken = repo
        .update(
            bob.id,
            UserChanges {
                email: Some(ada.email.clone()),
                mails: mails.clone(),
                ..UserChanges::default()
            },
        )
        .await;
    assert!(matches!(taken, Err(RepoError::EmailTaken)), "{taken:?}");
    let unknown = repo
        .update(
            UserId::new(),
            UserChanges {
                mails: mails.clone(),
                ..UserChanges::default()
            },
        )
        .await;
    assert!(matches!(unknown, Err(RepoError::NotFound)), "{unknown:?}");
    assert_eq!(
        h.take_mails().await.len(),
        0,
        "refused updates queue nothing"
    );
}

pub async fn an_update_appends_its_events_in_order_and_a_refused_one_appends_none(h: &dyn Harness) {
    let repo = h.repo();
    let admin = insert_with_role(&*repo, "admin@example.com", "the_admin", Role::Admin).await;
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    let bob = verified(&*repo, "bob@example.com", "bob_b").await;
    let role_changed = event(
        Some(admin.id),
        ada.id,
        AuditKind::RoleChanged,
        &[("role", Some("AUTHENTICATED"), Some("MANAGER"))],
    );
    // Fields out of order: they come back sorted by name.
    let updated = event(
        Some(admin.id),
        ada.id,
        AuditKind::UserUpdated,
        &[
            ("nickname", Some("ada_l"), Some("countess")),
            ("bio", None, Some("Poet.")),
        ],
    );
    repo.update(
        ada.id,
        UserChanges {
            role: Some(Role::Manager),
            nickname: Some(Nickname::parse("countess").expect("valid")),
            audit: vec![role_changed.clone(), updated.clone()],
            ..UserChanges::default()
        },
    )
    .await
    .expect("update");
    let mut sorted = updated;
    sorted.changes.sort_by(|a, b| a.field.cmp(&b.field));
    assert_eq!(audit_events(h).await, vec![role_changed, sorted.clone()]);

    let refused = [
        (
            "a taken email",
            bob.id,
            UserChanges {
                email: Some(ada.email.clone()),
                ..UserChanges::default()
            },
        ),
        (
            "a taken nickname",
            bob.id,
            UserChanges {
                nickname: Some(Nickname::parse("COUNTESS").expect("valid")),
                ..UserChanges::default()
            },
        ),
        ("an unknown account", UserId::new(), UserChanges::default()),
        (
            "the last ADMIN",
            admin.id,
            UserChanges {
                role: Some(Role::Manager),
                ..UserChanges::default()
            },
        ),
    ];
    for (case, id, mut changes) in refused {
        changes.audit = vec![event(Some(admin.id), id, AuditKind::UserUpdated, &[])];
        assert!(repo.update(id, changes).await.is_err(), "{case}");
        assert_eq!(audit_events(h).await.len(), 2, "{case} appends nothing");
    }
}

pub async fn a_deletion_is_recorded_although_the_account_is_gone(h: &dyn Harness) {
    let repo = h.repo();
    let admin = insert_with_role(&*repo, "admin@example.com", "the_admin", Role::Admin).await;
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    let deleted = event(
        Some(admin.id),
        ada.id,
        AuditKind::UserDeleted,
        &[
            ("email", Some("ada@example.com"), None),
            ("nickname", Some("ada_l"), None),
            ("role", Some("AUTHENTICATED"), None),
        ],
    );
    repo.delete(ada.id, deleted.clone()).await.expect("delete");
    assert!(repo.find_by_id(ada.id).await.expect("query").is_none());
    assert_eq!(audit_events(h).await, vec![deleted.clone()]);

    let again = repo.delete(ada.id, deleted.clone()).await;
    assert!(matches!(again, Err(RepoError::NotFound)), "{again:?}");
    let last = repo
        .delete(
            admin.id,
            event(Some(admin.id), admin.id, AuditKind::UserDeleted, &[]),
        )
        .await;
    assert!(matches!(last, Err(RepoError::LastAdmin)), "{last:?}");
    assert_eq!(
        audit_events(h).await,
        vec![deleted],
        "refusals append nothing"
    );
}

pub async fn of_two_concurrent_demotions_of_the_last_two_admins_one_is_refused_and_unrecorded(
    h: &dyn Harness,
) {
    let repo = h.repo();
    for round in 0..5 {
        let (a, b) = two_last_admins(&*repo, round).await;

        let demotion = |who: &User, by: &User| UserChanges {
            role: Some(Role::Manager),
            audit: vec![event(
                Some(by.id),
                who.id,
                AuditKind::RoleChanged,
                &[("role", Some("ADMIN"), Some("MANAGER"))],
            )],
            ..UserChanges::default()
        };
        let before = audit_events(h).await.len();
        let (ra, rb) = tokio::join!(
            repo.update(a.id, demotion(&a, &b)),
            repo.update(b.id, demotion(&b, &a))
        );
        assert_one_done_one_last_admin(round, [ra.map(|_| ()), rb.map(|_| ())]);
        assert_eq!(
            audit_events(h).await.len(),
            before + 1,
            "round {round}: only the demotion that happened is recorded"
        );
    }
}

/// Inserts the two ADMINs of `round` and demotes every other ADMIN, leaving exactly these two.
async fn two_last_admins(repo: &dyn UserRepository, round: u32) -> (User, User) {
    let a = insert_with_role(
        repo,
        &format!("a{round}@example.com"),
        &format!("adm_a{round}"),
        Role::Admin,
    )
    .await;
    let b = insert_with_role(
        repo,
        &format!("b{round}@example.com"),
        &format!("adm_b{round}"),
        Role::Admin,
    )
    .await;
    leave_only_admins(repo, &[a.id, b.id]).await;
    (a, b)
}

/// Of two concurrent changes that would each leave no ADMIN, exactly one was made and the other
/// refused as [`RepoError::LastAdmin`].
fn assert_one_done_one_last_admin(round: u32, outcomes: [Result<(), RepoError>; 2]) {
    let ok = outcomes.iter().filter(|r| r.is_ok()).count();
    let last = outcomes
        .iter()
        .filter(|r| matches!(r, Err(RepoError::LastAdmin)))
        .count();
    assert_eq!((ok, last), (1, 1), "round {round}: {outcomes:?}");
}

/// Demotes every ADMIN but `keep` to MANAGER, without audit events.
async fn leave_only_admins(repo: &dyn UserRepository, keep: &[UserId]) {
    let admins = repo
        .list(UserQuery {
            skip: 0,
            limit: 1000,
            filter: UserFilter {
                roles: Some(vec![Role::Admin]),
                ..UserFilter::default()
            },
            ..UserQuery::default()
        })
        .await
        .expect("list")
        .items;
    for admin in admins.iter().filter(|u| !keep.contains(&u.id)) {
        repo.update(admin.id, role_change(Role::Manager))
            .await
            .expect("demoting earlier rounds");
    }
}
