//! Role rules of the administration use cases.

use super::*;

// ---------------------------------------------------------------------------------------------
// Role rules of the administration use cases
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn non_staff_may_not_read_an_account_and_the_repository_is_not_asked() {
    for role in NON_STAFF {
        let mut given = Given::new();
        given.users.expect_find_by_id().never();
        let service = given.service();

        let result = service.get_user(actor(role), UserId::new()).await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn non_staff_may_not_list_accounts() {
    for role in NON_STAFF {
        let mut given = Given::new();
        given.users.expect_list().never();
        let service = given.service();

        let result = service.list_users(actor(role), page_of(0, 10)).await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn non_staff_may_not_update_an_account() {
    for role in NON_STAFF {
        let mut given = Given::new();
        given.users.expect_find_by_id().never();
        given.users.expect_update().never();
        let service = given.service();

        let result = service
            .update_user(actor(role), UserId::new(), a_nickname_change())
            .await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn non_staff_may_not_delete_an_account() {
    for role in NON_STAFF {
        let mut given = Given::new();
        given.users.expect_find_by_id().never();
        given.users.expect_delete().never();
        let service = given.service();

        let result = service.delete_user(actor(role), UserId::new()).await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn non_staff_may_not_create_an_account() {
    for role in NON_STAFF {
        let mut given = Given::new();
        given.users.expect_find_by_email().never();
        given.users.expect_insert().never();
        given.hasher.expect_hash().never();
        let service = given.service();

        let result = service.create_user(actor(role), registration(), None).await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_manager_may_not_read_update_or_delete_staff_accounts() {
    for target_role in [Role::Manager, Role::Admin] {
        let target = user(target_role);
        let mut given = Given::new();
        given.stored_user(&target);
        given.users.expect_update().never();
        given.users.expect_delete().never();
        let service = given.service();
        let manager = actor(Role::Manager);

        let read = service.get_user(manager, target.id).await;
        let updated = service
            .update_user(manager, target.id, a_nickname_change())
            .await;
        let deleted = service.delete_user(manager, target.id).await;

        assert!(
            matches!(read, Err(Error::Forbidden)),
            "{target_role}: {read:?}"
        );
        assert!(
            matches!(updated, Err(Error::Forbidden)),
            "{target_role}: {updated:?}"
        );
        assert!(
            matches!(deleted, Err(Error::Forbidden)),
            "{target_role}: {deleted:?}"
        );
    }
}

#[tokio::test]
async fn a_manager_reads_plain_accounts() {
    for target_role in NON_STAFF {
        let target = user(target_role);
        let mut given = Given::new();
        given.stored_user(&target);
        let service = given.service();

        let read = service
            .get_user(actor(Role::Manager), target.id)
            .await
            .expect("readable");

        assert_eq!(read, target);
    }
}

#[tokio::test]
async fn a_manager_may_not_change_a_role() {
    let target = user(Role::Anonymous);
    let mut given = Given::new();
    given.stored_user(&target);
    given.users.expect_update().never();
    let service = given.service();

    let result = service
        .update_user(
            actor(Role::Manager),
            target.id,
            AdminChanges {
                role: Some(Role::Authenticated),
                ..AdminChanges::default()
            },
        )
        .await;

    assert!(matches!(result, Err(Error::Forbidden)), "{result:?}");
}

#[tokio::test]
async fn a_manager_may_send_the_current_role_unchanged_along_with_an_edit() {
    let target = user(Role::Authenticated);
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    let changes = AdminChanges {
        role: Some(Role::Authenticated),
        ..a_nickname_change()
    };
    service
        .update_user(actor(Role::Manager), target.id, changes)
        .await
        .expect("updated");

    let update = updates.only();
    assert_eq!(update.role, None);
    assert_eq!(update.nickname, Some(nickname("renamed")));
    assert!(update.mails.is_empty(), "{:?}", update.mails);
}

#[tokio::test]
async fn an_admin_changes_a_role() {
    let target = user(Role::Authenticated);
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    let user = service
        .update_user(
            actor(Role::Admin),
            target.id,
            AdminChanges {
                role: Some(Role::Manager),
                ..AdminChanges::default()
            },
        )
        .await
        .expect("updated");

    let update = updates.only();
    assert_eq!(update.role, Some(Role::Manager));
    assert_eq!(user.role, Role::Manager);
    // The user is told, in the same transaction: exactly one mail, to the account's address.
    assert_eq!(
        update.mails,
        vec![Mail {
            to: target.email.clone(),
            greeting_name: target.nickname.to_string(),
            kind: MailKind::RoleChanged {
                role: Role::Manager
            },
        }]
    );
}

#[tokio::test]
async fn demoting_the_last_admin_answers_last_admin() {
    let target = user(Role::Admin);
    let mut given = Given::new();
    given.stored_user(&target);
    given
        .users
        .expect_update()
        .returning(|_, _| Err(RepoError::LastAdmin));
    let service = given.service();

    let result = service
        .update_user(
            actor(Role::Admin),
            target.id,
            AdminChanges {
                role: Some(Role::Authenticated),
                ..AdminChanges::default()
            },
        )
        .await;

    assert!(matches!(result, Err(Error::LastAdmin)), "{result:?}");
}

#[tokio::test]
async fn deleting_the_last_admin_answers_last_admin() {
    let target = user(Role::Admin);
    let mut given = Given::new();
    given.stored_user(&target);
    given
        .users
        .expect_delete()
        .with(eq(target.id), mockall::predicate::always())
        .returning(|_, _| Err(RepoError::LastAdmin));
    let service = given.service();

    let result = service.delete_user(actor(Role::Admin), target.id).await;

    assert!(matches!(result, Err(Error::LastAdmin)), "{result:?}");
}

#[tokio::test]
async fn a_manager_deletes_a_plain_account() {
    let target = user(Role::Anonymous);
    let mut given = Given::new();
    given.stored_user(&target);
    given
        .users
        .expect_delete()
        .with(eq(target.id), mockall::predicate::always())
        .times(1)
        .returning(|_, _| Ok(None));
    let service = given.service();

    let result = service.delete_user(actor(Role::Manager), target.id).await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn acting_on_an_unknown_account_answers_user_not_found() {
    let mut given = Given::new();
    given.users.expect_find_by_id().returning(|_| Ok(None));
    given.users.expect_update().never();
    given.users.expect_delete().never();
    let service = given.service();
    let admin = actor(Role::Admin);
    let unknown = UserId::new();

    let read = service.get_user(admin, unknown).await;
    let updated = service
        .update_user(admin, unknown, a_nickname_change())
        .await;
    let deleted = service.delete_user(admin, unknown).await;

    assert!(matches!(read, Err(Error::UserNotFound)), "{read:?}");
    assert!(matches!(updated, Err(Error::UserNotFound)), "{updated:?}");
    assert!(matches!(deleted, Err(Error::UserNotFound)), "{deleted:?}");
}

#[tokio::test]
async fn a_manager_may_not_create_staff_accounts() {
    for role in [Role::Manager, Role::Admin] {
        let mut given = Given::new();
        given.users.expect_find_by_email().never();
        given.hasher.expect_hash().never();
        given.users.expect_insert().never();
        let service = given.service();

        let result = service
            .create_user(actor(Role::Manager), registration(), Some(role))
            .await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn an_account_created_without_a_role_is_anonymous_never_promoted_and_gets_a_link() {
    let mut given = Given::new();
    let inserted = given.a_free_email_and_working_insert();
    let service = given.service();

    let user = service
        .create_user(actor(Role::Manager), registration(), None)
        .await
        .expect("created");

    let new = inserted.only();
    assert_eq!(new.role, Role::Anonymous);
    assert!(!new.promote_if_first);
    assert_eq!(user.role, Role::Anonymous);
    let mail = new.verification_mail.expect("a verification mail");
    assert_eq!(mail.to, email("grace@example.com"));
    let (_, raw) = unwrap_verify_email(&mail.kind);
    assert_eq!(
        Some(raw.hash()),
        new.verification_token.map(|token| token.hash)
    );
}

#[tokio::test]
async fn an_admin_creates_a_manager() {
    let mut given = Given::new();
    let inserted = given.a_free_email_and_working_insert();
    let service = given.service();

    service
        .create_user(actor(Role::Admin), registration(), Some(Role::Manager))
        .await
        .expect("created");

    let new = inserted.only();
    assert_eq!(new.role, Role::Manager);
    assert!(!new.promote_if_first);
}

#[tokio::test]
async fn creating_an_account_with_a_taken_email_answers_email_exists() {
    let mut given = Given::new();
    given
        .users
        .expect_find_by_email()
        .returning(|_| Ok(Some(user(Role::Anonymous))));
    given.hasher.expect_hash().never();
    given.users.expect_insert().never();
    let service = given.service();

    let result = service
        .create_user(actor(Role::Admin), registration(), None)
        .await;

    assert!(matches!(result, Err(Error::EmailExists)), "{result:?}");
}

#[tokio::test]
async fn a_manager_lists_only_plain_accounts() {
    let mut given = Given::new();
    given
        .users
        .expect_list()
        .with(eq(UserQuery {
            skip: 20,
            limit: 10,
            filter: UserFilter {
                roles: Some(vec![Role::Anonymous, Role::Authenticated]),
                ..UserFilter::default()
            },
            sort: UserSort::CreatedAtDesc,
        }))
        .times(1)
        .returning(|_| {
            Ok(Page {
                items: vec![user(Role::Anonymous)],
                total: 21,
            })
        });
    let service = given.service();

    let page = service
        .list_users(actor(Role::Manager), page_of(20, 10))
        .await
        .expect("listed");

    assert_eq!(page.total, 21);
    assert_eq!(page.items.len(), 1);
}

#[tokio::test]
async fn an_admin_lists_every_role() {
    let mut given = Given::new();
    given
        .users
        .expect_list()
        .with(eq(UserQuery {
            skip: 0,
            limit: 100,
            filter: UserFilter {
                roles: None,
                ..UserFilter::default()
            },
            sort: UserSort::CreatedAtDesc,
        }))
        .times(1)
        .returning(|_| {
            Ok(Page {
                items: Vec::new(),
                total: 0,
            })
        });
    let service = given.service();

    let result = service
        .list_users(actor(Role::Admin), page_of(0, 100))
        .await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_page_size_outside_1_to_100_is_a_validation_error() {
    for limit in [0, 101] {
        let mut given = Given::new();
        given.users.expect_list().never();
        let service = given.service();

        let result = service
            .list_users(actor(Role::Admin), page_of(0, limit))
            .await;

        assert!(
            matches!(&result, Err(Error::Validation(errors)) if errors.0[0].field == "limit"),
            "limit {limit}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_skip_over_the_maximum_is_a_validation_error() {
    let mut given = Given::new();
    given.users.expect_list().times(1).returning(|_| {
        Ok(Page {
            items: Vec::new(),
            total: 0,
        })
    });
    given.audit.expect_list().times(1).returning(|_| {
        Ok(Page {
            items: Vec::new(),
            total: 0,
        })
    });
    let service = given.service();
    let mut audit = an_audit_query(10);
    audit.skip = crate::services::MAX_SKIP;
    assert!(
        service
            .list_users(actor(Role::Admin), page_of(crate::services::MAX_SKIP, 10))
            .await
            .is_ok()
    );
    assert!(
        service
            .list_audit_events(actor(Role::Admin), audit)
            .await
            .is_ok()
    );

    for skip in [crate::services::MAX_SKIP + 1, u64::MAX] {
        let users = service
            .list_users(actor(Role::Admin), page_of(skip, 10))
            .await;
        assert!(
            matches!(&users, Err(Error::Validation(errors)) if errors.0[0].field == "skip"),
            "skip {skip}: {users:?}"
        );
        let mut audit = an_audit_query(10);
        audit.skip = skip;
        let events = service.list_audit_events(actor(Role::Admin), audit).await;
        assert!(
            matches!(&events, Err(Error::Validation(errors)) if errors.0[0].field == "skip"),
            "skip {skip}: {events:?}"
        );
    }
    assert_eq!(crate::services::MAX_SKIP, 9_223_372_036_854_775_807);
}
