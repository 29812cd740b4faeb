//! Role rules of the administration use cases.

use super::*;

// ---------------------------------------------------------------------------------------------
// Role rules of the administration use cases
// ---------------------------------------------------------------------------------------------

// The Forbidden cases that are refused before any account is loaded keep the mocked
// repository: it proves that nothing is loaded or written.

/// A listing fixture: three plain accounts and two staff ones, created a day apart (the first
/// one newest), each with its own email and nickname.
fn a_mixed_population() -> Vec<User> {
    [
        (Role::Authenticated, "plain_one"),
        (Role::Manager, "staff_one"),
        (Role::Anonymous, "plain_two"),
        (Role::Admin, "staff_two"),
        (Role::Authenticated, "plain_three"),
    ]
    .into_iter()
    .zip(1..)
    .map(|((role, handle), age)| User {
        created_at: now() - TimeDelta::days(age),
        ..user_called(role, handle)
    })
    .collect()
}

#[tokio::test]
async fn non_staff_may_not_read_an_account_and_the_repository_is_not_asked() {
    // The mocks expect no call: nothing is loaded or written.
    assert_forbidden_untouched(&NON_STAFF, async |service, role| {
        service.get_user(actor(role), UserId::new()).await
    })
    .await;
}

#[tokio::test]
async fn non_staff_may_not_list_accounts() {
    // The mocks expect no call: nothing is loaded or written.
    assert_forbidden_untouched(&NON_STAFF, async |service, role| {
        service.list_users(actor(role), page_of(0, 10)).await
    })
    .await;
}

#[tokio::test]
async fn non_staff_may_not_update_an_account() {
    // The mocks expect no call: nothing is loaded or written.
    assert_forbidden_untouched(&NON_STAFF, async |service, role| {
        service
            .update_user(actor(role), UserId::new(), a_nickname_change())
            .await
    })
    .await;
}

#[tokio::test]
async fn non_staff_may_not_delete_an_account() {
    // The mocks expect no call: nothing is loaded or written.
    assert_forbidden_untouched(&NON_STAFF, async |service, role| {
        service.delete_user(actor(role), UserId::new()).await
    })
    .await;
}

#[tokio::test]
async fn non_staff_may_not_create_an_account() {
    // The mocks expect no call: nothing is loaded or written.
    assert_forbidden_untouched(&NON_STAFF, async |service, role| {
        service.create_user(actor(role), registration(), None).await
    })
    .await;
}

#[tokio::test]
async fn a_manager_may_not_read_update_or_delete_staff_accounts() {
    for target_role in [Role::Manager, Role::Admin] {
        let target = user(target_role);
        let repo = stored_in_memory(&[&target]);
        let service = Given::new().service_over(&repo);
        let manager = actor(Role::Manager);

        let read = service.get_user(manager, target.id).await;
        let updated = service
            .update_user(manager, target.id, a_nickname_change())
            .await;
        let deleted = service.delete_user(manager, target.id).await;

        assert_err!(read, Error::Forbidden, target_role);
        assert_err!(updated, Error::Forbidden, target_role);
        assert_err!(deleted, Error::Forbidden, target_role);
        assert_eq!(
            repo.users(),
            [target],
            "{target_role}: neither updated nor deleted"
        );
        assert!(repo.mails().is_empty() && repo.audit_events().is_empty());
    }
}

#[tokio::test]
async fn a_manager_reads_plain_accounts() {
    for target_role in NON_STAFF {
        let target = user(target_role);
        let repo = stored_in_memory(&[&target]);
        let service = Given::new().service_over(&repo);

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
    let repo = stored_in_memory(&[&target]);
    let service = Given::new().service_over(&repo);

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

    assert_err!(result, Error::Forbidden);
    assert_eq!(repo.users(), [target], "not updated");
    assert!(repo.mails().is_empty() && repo.audit_events().is_empty());
}

#[tokio::test]
async fn a_manager_may_send_the_current_role_unchanged_along_with_an_edit() {
    let target = user(Role::Authenticated);
    let repo = stored_in_memory(&[&target]);
    let service = Given::new().service_over(&repo);

    let changes = AdminChanges {
        role: Some(Role::Authenticated),
        ..a_nickname_change()
    };
    service
        .update_user(actor(Role::Manager), target.id, changes)
        .await
        .expect("updated");

    let after = repo.get(target.id).expect("stored");
    assert_eq!(after.role, Role::Authenticated);
    assert_eq!(after.nickname, nickname("renamed"));
    assert_no_mail(&repo);
    assert!(
        repo.audit_events()
            .iter()
            .all(|e| e.kind != AuditKind::RoleChanged),
        "no role change recorded: {:?}",
        repo.audit_events()
    );
}

#[tokio::test]
async fn an_admin_changes_a_role() {
    let target = user(Role::Authenticated);
    let repo = stored_in_memory(&[&target]);
    let service = Given::new().service_over(&repo);

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

    assert_eq!(repo.get(target.id).expect("stored").role, Role::Manager);
    assert_eq!(user.role, Role::Manager);
    // The user is told, in the same transaction: exactly one mail, to the account's address.
    assert_eq!(
        repo.mails(),
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
    let repo = stored_in_memory(&[&target]);
    let service = Given::new().service_over(&repo);

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

    assert_err!(result, Error::LastAdmin);
    assert_eq!(repo.users(), [target], "still ADMIN");
    assert!(repo.mails().is_empty() && repo.audit_events().is_empty());
}

#[tokio::test]
async fn deleting_the_last_admin_answers_last_admin() {
    let target = user(Role::Admin);
    let repo = stored_in_memory(&[&target]);
    let service = Given::new().service_over(&repo);

    let result = service.delete_user(actor(Role::Admin), target.id).await;

    assert_err!(result, Error::LastAdmin);
    assert_eq!(repo.users(), [target], "not deleted");
    assert!(repo.audit_events().is_empty());
}

#[tokio::test]
async fn a_manager_deletes_a_plain_account() {
    let target = user(Role::Anonymous);
    let other = user_called(Role::Authenticated, "grace_h");
    let repo = stored_in_memory(&[&target, &other]);
    let service = Given::new().service_over(&repo);

    let result = service.delete_user(actor(Role::Manager), target.id).await;

    assert!(result.is_ok(), "{result:?}");
    assert_eq!(repo.users(), [other], "only the target is gone");
}

#[tokio::test]
async fn acting_on_an_unknown_account_answers_user_not_found() {
    let other = user(Role::Authenticated);
    let repo = stored_in_memory(&[&other]);
    let service = Given::new().service_over(&repo);
    let admin = actor(Role::Admin);
    let unknown = UserId::new();

    let read = service.get_user(admin, unknown).await;
    let updated = service
        .update_user(admin, unknown, a_nickname_change())
        .await;
    let deleted = service.delete_user(admin, unknown).await;

    assert_err!(read, Error::UserNotFound);
    assert_err!(updated, Error::UserNotFound);
    assert_err!(deleted, Error::UserNotFound);
    assert_eq!(repo.users(), [other], "nothing changed");
    assert!(repo.mails().is_empty() && repo.audit_events().is_empty());
}

#[tokio::test]
async fn a_manager_may_not_create_staff_accounts() {
    // The mocks expect no call: nothing is loaded or written.
    assert_forbidden_untouched(&[Role::Manager, Role::Admin], async |service, role| {
        service
            .create_user(actor(Role::Manager), registration(), Some(role))
            .await
    })
    .await;
}

#[tokio::test]
async fn an_account_created_without_a_role_is_anonymous_never_promoted_and_gets_a_link() {
    // No account is stored: had the service asked for promotion, this one would be ADMIN.
    let repo = InMemoryRepository::new();
    let mut given = Given::new();
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    let service = given.service_over(&repo);

    let user = service
        .create_user(actor(Role::Manager), registration(), None)
        .await
        .expect("created");

    let new = repo.get(user.id).expect("stored");
    assert_eq!(new.role, Role::Anonymous);
    assert!(!new.email_verified);
    assert_eq!(user.role, Role::Anonymous);
    let [mail] = repo.mails().try_into().expect("one verification mail");
    assert_eq!(mail.to, email("grace@example.com"));
    let (user_id, raw) = unwrap_verify_email(&mail.kind);
    assert_eq!(user_id, user.id);
    assert_eq!(
        Some(raw.hash()),
        repo.verification_token(user.id).map(|token| token.hash)
    );
}

#[tokio::test]
async fn an_admin_creates_a_manager() {
    // No account is stored: had the service asked for promotion, this one would be ADMIN.
    let repo = InMemoryRepository::new();
    let mut given = Given::new();
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    let service = given.service_over(&repo);

    let user = service
        .create_user(actor(Role::Admin), registration(), Some(Role::Manager))
        .await
        .expect("created");

    assert_eq!(repo.get(user.id).expect("stored").role, Role::Manager);
    assert_eq!(repo.users().len(), 1);
}

#[tokio::test]
async fn creating_an_account_with_a_taken_email_answers_email_exists() {
    let taken = User {
        email: email("grace@example.com"),
        ..user(Role::Anonymous)
    };
    let repo = stored_in_memory(&[&taken]);
    let mut given = Given::new();
    given.hasher.expect_hash().never();
    let service = given.service_over(&repo);

    let result = service
        .create_user(actor(Role::Admin), registration(), None)
        .await;

    assert_err!(result, Error::EmailExists);
    assert_eq!(repo.users(), [taken], "nothing was inserted");
    assert!(repo.mails().is_empty());
}

#[tokio::test]
async fn a_manager_lists_only_plain_accounts() {
    let population = a_mixed_population();
    let repo = stored_in_memory(&population.iter().collect::<Vec<_>>());
    let service = Given::new().service_over(&repo);

    let page = service
        .list_users(actor(Role::Manager), page_of(1, 1))
        .await
        .expect("listed");

    // Three plain accounts; from the second on, one of them, newest first.
    assert_eq!(page.total, 3);
    assert_eq!(page.items, [population[2].clone()]);
}

#[tokio::test]
async fn an_admin_lists_every_role() {
    let population = a_mixed_population();
    let repo = stored_in_memory(&population.iter().collect::<Vec<_>>());
    let service = Given::new().service_over(&repo);

    let page = service
        .list_users(actor(Role::Admin), page_of(0, 100))
        .await
        .expect("listed");

    // Every account, newest first.
    assert_eq!(page.total, 5);
    assert_eq!(page.items, population);
}

#[tokio::test]
async fn a_page_size_outside_1_to_100_is_a_validation_error() {
    for limit in [0, 101] {
        // The mock proves that the repository is not asked.
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
    // The mocks count: only the valid skip reaches each store.
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
