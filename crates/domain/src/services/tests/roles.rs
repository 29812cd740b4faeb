//! Changing a role, and unlocking and deleting on behalf of staff.

use super::*;

// ---------------------------------------------------------------------------------------------
// Changing a role (`PUT /users/{id}/role`)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_manager_may_not_change_a_role_even_to_the_same_one() {
    let target = user(Role::Authenticated);
    // The mocks expect no call: nothing is loaded or written.
    assert_forbidden_untouched(
        &[Role::Authenticated, Role::Anonymous, Role::Admin],
        async |service, role| {
            service
                .change_role(actor(Role::Manager), target.id, role)
                .await
        },
    )
    .await;
}

#[tokio::test]
async fn non_staff_may_not_change_a_role() {
    // The mocks expect no call: nothing is loaded or written.
    assert_forbidden_untouched(&NON_STAFF, async |service, role| {
        service
            .change_role(actor(role), UserId::new(), Role::Admin)
            .await
    })
    .await;
}

#[tokio::test]
async fn an_admin_changing_a_role_mails_the_user_and_records_one_role_changed_event() {
    let target = user(Role::Authenticated);
    let admin = actor(Role::Admin);
    let repo = stored_in_memory(&[&target]);
    let service = Given::new().service_over(&repo);

    let user = service
        .change_role(admin, target.id, Role::Manager)
        .await
        .expect("changed");

    assert_eq!(user.role, Role::Manager);
    assert_eq!(repo.get(target.id), Some(user.clone()));
    assert_eq!(
        user,
        User {
            role: Role::Manager,
            updated_at: user.updated_at,
            ..target.clone()
        },
        "only the role changed"
    );
    assert_eq!(repo.mails(), vec![role_mail(&target, Role::Manager)]);
    assert_eq!(
        repo.audit_events(),
        vec![role_changed_event(
            Some(admin.id),
            target.id,
            Role::Authenticated,
            Role::Manager
        )]
    );
}

#[tokio::test]
async fn an_admin_setting_the_role_an_account_has_mails_and_records_nothing() {
    let target = user(Role::Manager);
    let repo = stored_in_memory(&[&target]);
    let service = Given::new().service_over(&repo);

    let user = service
        .change_role(actor(Role::Admin), target.id, Role::Manager)
        .await
        .expect("answered");

    assert_eq!(user.role, Role::Manager);
    assert_eq!(repo.get(target.id).expect("stored").role, Role::Manager);
    assert_no_mail(&repo);
    assert_no_audit(&repo);
}

#[tokio::test]
async fn changing_the_role_of_the_last_admin_answers_last_admin() {
    let target = user(Role::Admin);
    let repo = stored_in_memory(&[&target]);
    let service = Given::new().service_over(&repo);

    let result = service
        .change_role(actor(Role::Admin), target.id, Role::Authenticated)
        .await;

    // 409 at the API.
    assert_err!(result, Error::LastAdmin);
    assert_eq!(repo.get(target.id), Some(target), "still ADMIN");
    assert!(repo.mails().is_empty() && repo.audit_events().is_empty());
}

#[tokio::test]
async fn changing_the_role_of_an_unknown_account_answers_user_not_found() {
    let other = user(Role::Authenticated);
    let repo = stored_in_memory(&[&other]);
    let service = Given::new().service_over(&repo);

    let result = service
        .change_role(actor(Role::Admin), UserId::new(), Role::Manager)
        .await;

    assert_err!(result, Error::UserNotFound);
    assert_eq!(repo.users(), [other], "nothing changed");
    assert!(repo.mails().is_empty() && repo.audit_events().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Unlocking and deleting on behalf of staff, and what the audit log learns
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn non_staff_may_not_unlock_an_account() {
    // The mocks expect no call: nothing is loaded or written.
    assert_forbidden_untouched(&NON_STAFF, async |service, role| {
        service.unlock_user(actor(role), UserId::new()).await
    })
    .await;
}

#[tokio::test]
async fn a_manager_may_not_unlock_a_staff_account() {
    for role in [Role::Manager, Role::Admin] {
        let target = locked(user(role));
        let repo = stored_in_memory(&[&target]);
        let service = Given::new().service_over(&repo);

        let result = service.unlock_user(actor(Role::Manager), target.id).await;

        assert_err!(result, Error::Forbidden, role);
        assert_eq!(repo.get(target.id), Some(target), "{role}: still locked");
        assert!(repo.audit_events().is_empty());
    }
}

#[tokio::test]
async fn unlocking_an_unknown_account_answers_user_not_found() {
    let other = locked(user(Role::Authenticated));
    let repo = stored_in_memory(&[&other]);
    let service = Given::new().service_over(&repo);

    let result = service.unlock_user(actor(Role::Admin), UserId::new()).await;

    assert_err!(result, Error::UserNotFound);
    assert_eq!(repo.users(), [other], "nothing changed");
}

#[tokio::test]
async fn staff_unlocking_an_account_hands_over_an_unlocked_event_naming_them() {
    for (staff, target_role) in [
        (Role::Manager, Role::Authenticated),
        (Role::Admin, Role::Manager),
    ] {
        let target = locked(user(target_role));
        let staff = actor(staff);
        let repo = stored_in_memory(&[&target]);
        let service = Given::new().service_over(&repo);

        let user = service
            .unlock_user(staff, target.id)
            .await
            .expect("unlocked");

        assert!(!user.is_locked);
        assert_eq!(user.failed_login_attempts, 0);
        assert_eq!(repo.get(target.id), Some(user));
        assert_eq!(
            repo.audit_events(),
            [unlocked_event(Some(staff.id), target.id)]
        );
    }
}

#[tokio::test]
async fn staff_deleting_an_account_record_who_it_was_and_who_deleted_it() {
    for (staff, target_role) in [
        (Role::Manager, Role::Anonymous),
        (Role::Admin, Role::Manager),
    ] {
        let target = user(target_role);
        let staff = actor(staff);
        let repo = stored_in_memory(&[&target]);
        let service = Given::new().service_over(&repo);

        service
            .delete_user(staff, target.id)
            .await
            .expect("deleted");

        assert_eq!(repo.get(target.id), None, "gone");
        assert_eq!(repo.audit_events(), [deletion_event(staff.id, &target)]);
    }
}
