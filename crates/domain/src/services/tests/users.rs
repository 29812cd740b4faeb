//! Updating accounts and what an edit tells the audit log.

use super::*;

// ---------------------------------------------------------------------------------------------
// Updating accounts
// ---------------------------------------------------------------------------------------------

fn an_email_change(to: &str) -> AdminChanges {
    AdminChanges {
        email: Some(email(to)),
        ..AdminChanges::default()
    }
}

/// The change of the email to `ada@newmail.example`.
fn to_new_address() -> AdminChanges {
    an_email_change("ada@newmail.example")
}

#[tokio::test]
async fn changing_the_email_unverifies_it_and_stores_a_new_token_in_the_same_update() {
    let target = user(Role::Anonymous);
    let (repo, answer) = update_alone(&target, actor(Role::Admin), to_new_address()).await;
    answer.expect("updated");

    let after = repo.get(target.id).expect("stored");
    assert_eq!(after.email, email("ada@newmail.example"));
    assert!(!after.email_verified);
    let token = repo
        .verification_token(target.id)
        .expect("a new verification token");
    assert_eq!(token.expires_at, now() + TimeDelta::minutes(90));
}

#[tokio::test]
async fn changing_the_email_queues_a_verification_link_to_the_new_address_in_the_update() {
    let target = user(Role::Anonymous);
    let (repo, answer) = update_alone(&target, actor(Role::Manager), to_new_address()).await;
    answer.expect("updated");

    let stored_token = repo
        .verification_token(target.id)
        .expect("a new verification token");
    let mails = repo.mails();
    let [mail, notice] = mails.as_slice() else {
        panic!("expected the link and the notice, got {mails:?}");
    };
    assert_eq!(mail.to, email("ada@newmail.example"));
    assert_eq!(mail.greeting_name, target.nickname.to_string());
    let (user_id, raw) = unwrap_verify_email(&mail.kind);
    assert_eq!(user_id, target.id);
    assert_eq!(raw.hash(), stored_token.hash);
    // The old address is told where the account went.
    assert_eq!(notice.to, target.email);
    assert_eq!(
        notice.kind,
        MailKind::EmailChanged {
            new_email: email("ada@newmail.example")
        }
    );
}

#[tokio::test]
async fn changing_the_email_and_the_role_queues_the_link_and_the_role_change() {
    let target = user(Role::Authenticated);
    let (repo, answer) = update_alone(
        &target,
        actor(Role::Admin),
        AdminChanges {
            role: Some(Role::Manager),
            ..to_new_address()
        },
    )
    .await;
    answer.expect("updated");

    assert_eq!(repo.get(target.id).expect("stored").role, Role::Manager);
    let stored_token = repo
        .verification_token(target.id)
        .expect("a new verification token");
    let mails = repo.mails();
    let [link, notice, role_mail] = mails.as_slice() else {
        panic!("expected three mails, got {mails:?}");
    };
    assert_eq!(
        notice.to, target.email,
        "the notice goes to the old address"
    );
    assert_eq!(link.to, email("ada@newmail.example"));
    let (user_id, raw) = unwrap_verify_email(&link.kind);
    assert_eq!(user_id, target.id);
    assert_eq!(raw.hash(), stored_token.hash);
    assert_eq!(role_mail.greeting_name, target.nickname.to_string());
    assert_eq!(
        role_mail.kind,
        MailKind::RoleChanged {
            role: Role::Manager
        }
    );
}

#[tokio::test]
async fn an_authenticated_account_whose_email_changes_drops_to_anonymous() {
    let target = user(Role::Authenticated);
    let (repo, answer) = update_alone(&target, actor(Role::Manager), to_new_address()).await;
    let user = answer.expect("updated");

    assert_eq!(repo.get(target.id), Some(user.clone()));
    assert_eq!(user.role, Role::Anonymous);
    assert!(!user.email_verified);
}

#[tokio::test]
async fn a_staff_account_whose_email_changes_keeps_its_role() {
    let target = user(Role::Manager);
    let (repo, answer) = update_alone(&target, actor(Role::Admin), to_new_address()).await;
    answer.expect("updated");

    let after = repo.get(target.id).expect("stored");
    assert_eq!(after.role, Role::Manager);
    assert!(!after.email_verified);
    assert!(
        repo.audit_events()
            .iter()
            .all(|e| e.kind != AuditKind::RoleChanged),
        "no role change: {:?}",
        repo.audit_events()
    );
    assert!(
        repo.mails()
            .iter()
            .all(|m| !matches!(m.kind, MailKind::RoleChanged { .. })),
        "no role mail: {:?}",
        repo.mails()
    );
}

#[tokio::test]
async fn the_same_email_in_other_casing_is_not_a_change_of_address() {
    let target = user(Role::Authenticated);
    let (repo, answer) = update_alone(
        &target,
        actor(Role::Admin),
        an_email_change("Ada@Example.COM"),
    )
    .await;
    answer.expect("updated");

    let after = repo.get(target.id).expect("stored");
    assert_eq!(after.email.as_str(), "Ada@Example.COM");
    assert!(after.email_verified, "still verified");
    assert_eq!(repo.verification_token(target.id), None);
    assert_eq!(after.role, Role::Authenticated);
    assert_no_mail(&repo);
}

#[tokio::test]
async fn changing_the_email_to_another_accounts_answers_email_taken() {
    let target = user(Role::Anonymous);
    let other = User {
        email: email("Grace@Example.com"),
        ..user_called(Role::Authenticated, "grace_h")
    };
    let repo = stored_in_memory(&[&target, &other]);

    let result = update_in(
        &repo,
        actor(Role::Admin),
        target.id,
        an_email_change("grace@example.com"),
    )
    .await;

    // 409, unlike the 400 "Email already exists" of registration.
    assert_err!(result, Error::EmailTaken);
    assert_eq!(repo.users(), [target, other], "nothing changed");
    assert!(repo.mails().is_empty() && repo.audit_events().is_empty());
    assert_eq!(repo.token_counts(), Default::default());
}

#[tokio::test]
async fn an_update_without_changes_is_a_validation_error_and_loads_nothing() {
    // The mock proves that nothing is loaded or written.
    let mut given = Given::new();
    given.users.expect_find_by_id().never();
    given.users.expect_update().never();
    let service = given.service();

    let result = service
        .update_user(actor(Role::Admin), UserId::new(), AdminChanges::default())
        .await;

    assert_err!(result, Error::Validation(_));
}

#[tokio::test]
async fn update_me_without_changes_is_a_validation_error() {
    // The mock proves that nothing is written.
    let mut given = Given::new();
    given.users.expect_update().never();
    let service = given.service();

    let result = service
        .update_me(&user(Role::Authenticated), ProfileChanges::default())
        .await;

    assert_err!(result, Error::Validation(_));
}

#[tokio::test]
async fn update_me_changes_only_the_profile_of_the_signed_in_account() {
    let mut me = user(Role::Authenticated);
    me.profile.bio = crate::model::Bio::parse("Poet of science.").expect("a valid bio");
    let other = user_called(Role::Authenticated, "someone_else");
    let repo = stored_in_memory(&[&me, &other]);
    let service = Given::new().service_over(&repo);

    service
        .update_me(
            &me,
            ProfileChanges {
                nickname: Some(nickname("countess")),
                profile: ProfilePatch {
                    bio: Patch::Clear,
                    ..ProfilePatch::default()
                },
            },
        )
        .await
        .expect("updated");

    let after = repo.get(me.id).expect("stored");
    let mut expected = User {
        nickname: nickname("countess"),
        updated_at: after.updated_at,
        ..me.clone()
    };
    expected.profile.bio = None;
    assert_eq!(after, expected, "only the nickname and the bio changed");
    assert_eq!(repo.get(other.id), Some(other), "no other account changed");
    assert_eq!(repo.token_counts(), Default::default());
    assert_no_mail(&repo);
    assert_no_audit(&repo);
}

#[tokio::test]
async fn update_me_to_a_taken_nickname_answers_nickname_taken() {
    let me = user(Role::Authenticated);
    let other = user_called(Role::Authenticated, "Taken_Name");
    let repo = stored_in_memory(&[&me, &other]);
    let service = Given::new().service_over(&repo);

    let result = service
        .update_me(
            &me,
            ProfileChanges {
                nickname: Some(nickname("taken_name")),
                ..ProfileChanges::default()
            },
        )
        .await;

    assert_err!(result, Error::NicknameTaken);
    assert_eq!(repo.users(), [me, other], "nothing changed");
}

// -- What an edit tells the audit log ----------------------------------------------------------

/// The `user_updated` events among `events`, their changes sorted by field.
fn user_updated_events(events: &[AuditEvent]) -> Vec<AuditEvent> {
    events
        .iter()
        .filter(|e| e.kind == AuditKind::UserUpdated)
        .cloned()
        .map(|mut e| {
            e.changes.sort_by(|a, b| a.field.cmp(&b.field));
            e
        })
        .collect()
}

#[tokio::test]
async fn an_edit_records_one_user_updated_event_with_exactly_the_fields_that_changed() {
    // ANONYMOUS, so that the new email brings no implicit role change along.
    let target = user(Role::Anonymous);
    let manager = actor(Role::Manager);
    let (repo, answer) = update_alone(
        &target,
        manager,
        AdminChanges {
            email: Some(email("ada@newmail.example")),
            role: None,
            profile: ProfileChanges {
                nickname: Some(nickname("countess")),
                profile: ProfilePatch {
                    // The value it has: sent again, not a change.
                    first_name: Patch::Set(
                        Name::parse("Ada").expect("a valid name").expect("a name"),
                    ),
                    // Cleared.
                    last_name: Patch::Clear,
                    // Set where there was none.
                    bio: Patch::Set(
                        crate::model::Bio::parse("Poet of science.")
                            .expect("a valid bio")
                            .expect("a bio"),
                    ),
                    // Empty before and after.
                    linkedin_profile_url: Patch::Clear,
                    github_profile_url: Patch::Keep,
                },
            },
        },
    )
    .await;
    answer.expect("updated");

    let audit = repo.audit_events();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        user_updated_events(&audit),
        vec![event(
            Some(manager.id),
            target.id,
            AuditKind::UserUpdated,
            vec![
                change("bio", None, Some("Poet of science.")),
                change(
                    "email",
                    Some("ada@example.com"),
                    Some("ada@newmail.example")
                ),
                change("last_name", Some("Lovelace"), None),
                change("nickname", Some("ada_lovelace"), Some("countess")),
            ],
        )]
    );
}

#[tokio::test]
async fn an_edit_that_changes_nothing_records_no_user_updated_event() {
    let target = user(Role::Authenticated);
    let (repo, answer) = update_alone(
        &target,
        actor(Role::Manager),
        AdminChanges {
            email: Some(target.email.clone()),
            role: Some(target.role),
            profile: ProfileChanges {
                nickname: Some(target.nickname.clone()),
                profile: ProfilePatch {
                    first_name: Patch::Set(target.profile.first_name.clone().expect("a name")),
                    last_name: Patch::Set(target.profile.last_name.clone().expect("a name")),
                    bio: Patch::Clear,
                    linkedin_profile_url: Patch::Clear,
                    github_profile_url: Patch::Clear,
                },
            },
        },
    )
    .await;
    answer.expect("updated");

    assert_no_audit(&repo);
    assert_no_mail(&repo);
}

#[tokio::test]
async fn a_role_change_with_an_edit_records_the_role_apart_from_the_other_fields() {
    let target = user(Role::Authenticated);
    let admin = actor(Role::Admin);
    let (repo, answer) = update_alone(
        &target,
        admin,
        AdminChanges {
            role: Some(Role::Manager),
            ..a_nickname_change()
        },
    )
    .await;
    answer.expect("updated");

    let audit = repo.audit_events();
    let role_events: Vec<&AuditEvent> = audit
        .iter()
        .filter(|e| e.kind == AuditKind::RoleChanged)
        .collect();
    assert_eq!(
        role_events,
        vec![&role_changed_event(
            Some(admin.id),
            target.id,
            Role::Authenticated,
            Role::Manager
        )]
    );
    assert_eq!(
        user_updated_events(&audit),
        vec![event(
            Some(admin.id),
            target.id,
            AuditKind::UserUpdated,
            vec![change("nickname", Some("ada_lovelace"), Some("renamed"))],
        )]
    );
    assert_eq!(audit.len(), 2, "{audit:?}");
}
