//! Nicknames, public profiles, the PRO upgrade and the rest of self-service.

use std::collections::HashSet;

use super::*;
use crate::model::{Bio, PictureFormat, PictureKey, PictureKeys, ProRequirement, ProfileUrl};

fn keys() -> PictureKeys {
    PictureKeys {
        main: PictureKey::generate(PictureFormat::Jpeg),
        thumbnail: PictureKey::generate(PictureFormat::Jpeg),
    }
}

/// A verified, unlocked AUTHENTICATED account whose profile meets every PRO condition.
fn pro_ready() -> User {
    let mut me = user(Role::Authenticated);
    me.profile.bio = Bio::parse("Analyst and poet.").expect("a valid bio");
    me.picture = Some(keys());
    me.profile.github_profile_url =
        ProfileUrl::parse("https://github.com/ada").expect("a valid url");
    me
}

/// `before` as a well-behaved repository returns it after `set_professional`.
fn professional(before: &User, is_professional: bool) -> User {
    User {
        is_professional,
        professional_status_updated_at: Some(now()),
        updated_at: now(),
        ..before.clone()
    }
}

fn pro_mail(to: &User, is_professional: bool) -> Mail {
    Mail {
        to: to.email.clone(),
        greeting_name: to.nickname.to_string(),
        kind: MailKind::ProStatusChanged { is_professional },
    }
}

fn secret(raw: &str) -> SecretString {
    SecretString::from(raw.to_owned())
}

/// Nothing was written: `account` is stored as it was, the only one, and no email or event
/// was stored.
fn assert_untouched(repo: &InMemoryRepository, account: &User) {
    assert_eq!(repo.users(), std::slice::from_ref(account), "unchanged");
    assert_no_mail(repo);
    assert_no_audit(repo);
}

/// `before` as stored after `set_professional` changed its status at [`now`], the time of the
/// last change being `updated_at`.
fn professional_as_stored(before: &User, is_professional: bool, updated_at: DateTime<Utc>) -> User {
    User {
        updated_at,
        ..professional(before, is_professional)
    }
}

/// Stores `stored` alone and has `me`, as loaded, upgrade to PRO: the repository and the
/// answer.
async fn upgrade_over(stored: &User, me: &User) -> (InMemoryRepository, Result<User, Error>) {
    let repo = stored_in_memory(&[stored]);
    let answer = Given::new().service_over(&repo).upgrade_to_pro(me).await;
    (repo, answer)
}

/// Stores `stored` alone and has an actor of role `by` set the PRO status of the account `id`
/// to `status`: the repository and the answer.
async fn set_pro_over(
    stored: &User,
    by: Role,
    id: UserId,
    status: bool,
) -> (InMemoryRepository, Result<User, Error>) {
    let repo = stored_in_memory(&[stored]);
    let answer = Given::new()
        .service_over(&repo)
        .set_professional_status(actor(by), id, status)
        .await;
    (repo, answer)
}

// -- suggest_nicknames ---------------------------------------------------------------------

// The candidates are drawn at random, so an honest repository cannot be made to hold some of
// them: the suggestion tests keep the mocked repository, which takes candidates as they come
// (and counts the rounds).

#[tokio::test]
async fn asking_for_no_suggestions_or_more_than_twenty_is_a_validation_error_on_count() {
    for count in [0, 21, 1000] {
        // The mock proves that the repository is not asked.
        let mut given = Given::new();
        given.users.expect_taken_nicknames().never();
        let service = given.service();

        let result = service.suggest_nicknames(count).await;

        assert!(
            matches!(&result, Err(Error::Validation(errors)) if errors.0[0].field == "count"),
            "count {count}: {result:?}"
        );
    }
}

#[tokio::test]
async fn suggestions_are_exactly_count_distinct_valid_nicknames_none_of_them_taken() {
    for count in [1, 5, 20] {
        let mut given = Given::new();
        // Every other candidate is taken; the repository answers in lower case, and the
        // candidates it saw are kept to check that the suggestions are among them.
        let taken = Spy::<String>::default();
        let asked = Spy::<String>::default();
        let (taken_spy, asked_spy) = (taken.clone(), asked.clone());
        given
            .users
            .expect_taken_nicknames()
            .returning(move |candidates| {
                let mut answer = HashSet::new();
                for (i, candidate) in candidates.into_iter().enumerate() {
                    if i % 2 == 0 {
                        let lowered = candidate.to_lowercase();
                        taken_spy.record(lowered.clone());
                        answer.insert(lowered);
                    }
                    asked_spy.record(candidate);
                }
                Ok(answer)
            });
        let service = given.service();

        let suggestions = service.suggest_nicknames(count).await.expect("suggested");

        assert_eq!(suggestions.len(), count, "count {count}");
        let distinct: HashSet<String> = suggestions.iter().map(Nickname::normalized).collect();
        assert_eq!(distinct.len(), count, "duplicates in {suggestions:?}");
        let taken: HashSet<String> = taken.all().into_iter().collect();
        assert!(!taken.is_empty(), "the mock reported some taken");
        let asked = asked.all();
        for suggestion in &suggestions {
            assert!(
                Nickname::parse(suggestion.as_str()).is_ok(),
                "{suggestion:?} breaks the nickname rules"
            );
            assert!(
                !taken.contains(&suggestion.normalized()),
                "{suggestion:?} was reported taken"
            );
            assert!(
                asked.iter().any(|c| c == suggestion.as_str()),
                "{suggestion:?} was never checked against the repository"
            );
        }
    }
}

#[tokio::test]
async fn suggestions_take_one_repository_query_when_nothing_collides() {
    let mut given = Given::new();
    given
        .users
        .expect_taken_nicknames()
        .times(1)
        .returning(|_| Ok(HashSet::new()));
    let service = given.service();

    let suggestions = service.suggest_nicknames(20).await.expect("suggested");

    assert_eq!(suggestions.len(), 20);
}

#[tokio::test]
async fn when_every_candidate_of_a_round_is_taken_another_round_is_drawn() {
    let mut given = Given::new();
    let mut seq = mockall::Sequence::new();
    let first_round = Spy::<String>::default();
    let spy = first_round.clone();
    given
        .users
        .expect_taken_nicknames()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |candidates| {
            let all: HashSet<String> = candidates.iter().map(|c| c.to_lowercase()).collect();
            for candidate in all.clone() {
                spy.record(candidate);
            }
            Ok(all)
        });
    given
        .users
        .expect_taken_nicknames()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(HashSet::new()));
    let service = given.service();

    let suggestions = service.suggest_nicknames(3).await.expect("suggested");

    assert_eq!(suggestions.len(), 3);
    let first_round: HashSet<String> = first_round.all().into_iter().collect();
    assert!(
        suggestions
            .iter()
            .all(|s| !first_round.contains(&s.normalized())),
        "{suggestions:?}"
    );
}

#[tokio::test]
async fn suggestions_stop_after_three_rounds_when_everything_is_taken() {
    let mut given = Given::new();
    given
        .users
        .expect_taken_nicknames()
        .times(3)
        .returning(|candidates| Ok(candidates.iter().map(|c| c.to_lowercase()).collect()));
    let service = given.service();

    let suggestions = service.suggest_nicknames(5).await.expect("answered");

    assert!(suggestions.is_empty(), "{suggestions:?}");
}

#[tokio::test]
async fn suggestions_report_an_unreachable_repository_as_unavailable() {
    let mut given = Given::new();
    given
        .users
        .expect_taken_nicknames()
        .returning(|_| Err(RepoError::Unavailable(anyhow::anyhow!("db down"))));
    let service = given.service();

    let result = service.suggest_nicknames(5).await;

    assert_err!(result, Error::Unavailable(_));
}

// -- nickname_available and profile -----------------------------------------------------------

#[tokio::test]
async fn a_nickname_is_available_exactly_when_the_repository_says_it_is_not_taken() {
    for taken in [false, true] {
        // Taken in another casing, or not at all.
        let other = user_called(
            Role::Authenticated,
            if taken { "grace_h" } else { "grace_hopper" },
        );
        let repo = stored_in_memory(&[&other]);
        let service = Given::new().service_over(&repo);

        let available = service
            .nickname_available(&nickname("Grace_H"))
            .await
            .expect("answered");

        assert_eq!(available, !taken);
    }
}

#[tokio::test]
async fn the_public_profile_is_the_account_found_by_nickname() {
    let ada = user(Role::Authenticated);
    let other = user_called(Role::Authenticated, "grace_h");
    let repo = stored_in_memory(&[&other, &ada]);
    let service = Given::new().service_over(&repo);

    let profile = service
        .profile(&nickname("ADA_lovelace"))
        .await
        .expect("found");

    assert_eq!(profile, ada);
}

#[tokio::test]
async fn the_profile_of_an_unknown_nickname_is_user_not_found() {
    let repo = stored_in_memory(&[&user(Role::Authenticated)]);
    let service = Given::new().service_over(&repo);

    let result = service.profile(&nickname("nobody_here")).await;

    assert_err!(result, Error::UserNotFound);
}

// -- pro_upgrade_status and upgrade_to_pro ----------------------------------------------------

#[tokio::test]
async fn the_upgrade_status_lists_what_is_missing_without_asking_any_port() {
    let service = Given::new().service();

    let incomplete = service.pro_upgrade_status(&user(Role::Authenticated));
    let ready = service.pro_upgrade_status(&pro_ready());

    assert!(!incomplete.eligible);
    assert_eq!(
        incomplete.missing,
        vec![
            ProRequirement::Bio,
            ProRequirement::ProfilePicture,
            ProRequirement::LinkedinOrGithubUrl
        ]
    );
    assert!(ready.eligible);
    assert!(ready.missing.is_empty());
}

#[tokio::test]
async fn upgrading_an_account_that_is_pro_already_answers_already_professional_untouched() {
    let mut me = pro_ready();
    me.is_professional = true;
    me.professional_status_updated_at = Some(now() - TimeDelta::days(1));
    let (repo, result) = upgrade_over(&me, &me).await;

    assert_err!(result, Error::AlreadyProfessional);
    assert_untouched(&repo, &me);
}

#[tokio::test]
async fn upgrading_an_incomplete_profile_answers_not_eligible_with_what_is_missing() {
    let me = unverified(user(Role::Anonymous));
    let (repo, result) = upgrade_over(&me, &me).await;

    match result {
        Err(Error::NotEligibleForPro(missing)) => assert_eq!(
            missing,
            vec![
                ProRequirement::EmailVerified,
                ProRequirement::Bio,
                ProRequirement::ProfilePicture,
                ProRequirement::LinkedinOrGithubUrl
            ]
        ),
        other => panic!("expected NotEligibleForPro, got {other:?}"),
    }
    assert_untouched(&repo, &me);
}

#[tokio::test]
async fn a_locked_account_with_a_complete_profile_is_not_eligible_and_nothing_is_missing() {
    let me = locked(pro_ready());
    let (repo, result) = upgrade_over(&me, &me).await;

    assert!(
        matches!(&result, Err(Error::NotEligibleForPro(missing)) if missing.is_empty()),
        "{result:?}"
    );
    assert_untouched(&repo, &me);
}

#[tokio::test]
async fn an_eligible_upgrade_sets_pro_at_the_current_time_and_queues_a_mail_to_the_user() {
    let me = pro_ready();
    let (repo, answer) = upgrade_over(&me, &me).await;
    let user = answer.expect("upgraded");

    assert_eq!(user, professional_as_stored(&me, true, user.updated_at));
    assert!(user.is_professional);
    assert_eq!(user.professional_status_updated_at, Some(now()));
    assert_eq!(repo.get(me.id), Some(user));
    assert_eq!(repo.mails(), [pro_mail(&me, true)]);
}

#[tokio::test]
async fn an_upgrade_that_loses_the_race_to_another_answers_already_professional() {
    // The repository queues the mail only when the status really changes, so none goes
    // out for the lost race. The account in hand is the one loaded before the other request
    // upgraded the stored one.
    let me = pro_ready();
    let upgraded_meanwhile = professional(&me, true);
    let (repo, result) = upgrade_over(&upgraded_meanwhile, &me).await;

    assert_err!(result, Error::AlreadyProfessional);
    assert_untouched(&repo, &upgraded_meanwhile);
}

// -- set_professional_status ------------------------------------------------------------------

#[tokio::test]
async fn non_staff_may_not_set_the_pro_status_and_nothing_is_loaded() {
    // The mocks expect no call: nothing is loaded or written.
    assert_forbidden_untouched(
        &[Role::Anonymous, Role::Authenticated],
        async |service, role| {
            service
                .set_professional_status(actor(role), UserId::new(), true)
                .await
        },
    )
    .await;
}

#[tokio::test]
async fn a_manager_may_not_set_the_pro_status_of_an_admin() {
    let target = user(Role::Admin);
    let (repo, result) = set_pro_over(&target, Role::Manager, target.id, true).await;

    assert_err!(result, Error::Forbidden);
    assert_untouched(&repo, &target);
}

#[tokio::test]
async fn setting_the_pro_status_of_an_unknown_account_answers_user_not_found() {
    let other = user(Role::Authenticated);
    let (repo, result) = set_pro_over(&other, Role::Admin, UserId::new(), true).await;

    assert_err!(result, Error::UserNotFound);
    assert_untouched(&repo, &other);
}

#[tokio::test]
async fn staff_grant_pro_to_an_incomplete_profile_and_a_mail_to_the_user_is_queued() {
    // Unverified, no bio, picture or links: far from eligible on its own.
    let target = unverified(user(Role::Anonymous));
    assert!(!crate::model::ProUpgrade::assess(&target).eligible);
    let (repo, answer) = set_pro_over(&target, Role::Manager, target.id, true).await;
    let user = answer.expect("granted");

    assert_eq!(user, professional_as_stored(&target, true, user.updated_at));
    assert_eq!(repo.get(target.id), Some(user));
    assert_eq!(repo.mails(), [pro_mail(&target, true)]);
}

#[tokio::test]
async fn staff_revoking_pro_queues_a_mail_telling_the_user_that_it_is_gone() {
    let mut target = pro_ready();
    target.is_professional = true;
    target.professional_status_updated_at = Some(now() - TimeDelta::days(3));
    let (repo, answer) = set_pro_over(&target, Role::Admin, target.id, false).await;
    let user = answer.expect("revoked");

    assert!(!user.is_professional);
    assert_eq!(
        user,
        professional_as_stored(&target, false, user.updated_at)
    );
    assert_eq!(repo.get(target.id), Some(user));
    assert_eq!(repo.mails(), [pro_mail(&target, false)]);
}

#[tokio::test]
async fn setting_the_pro_status_an_account_has_already_returns_it_unwritten_and_unmailed() {
    let mut pro = user(Role::Authenticated);
    pro.is_professional = true;
    for (target, status) in [(user(Role::Authenticated), false), (pro, true)] {
        let (repo, result) = set_pro_over(&target, Role::Admin, target.id, status).await;

        assert_eq!(result.expect("answered"), target);
        assert_untouched(&repo, &target);
    }
}

impl Given {
    /// The next call in `seq` is one load of `account` by its id, which finds it as it is.
    fn the_next_load_in(&mut self, seq: &mut mockall::Sequence, account: &User) {
        let found = account.clone();
        self.users
            .expect_find_by_id()
            .with(eq(account.id))
            .times(1)
            .in_sequence(seq)
            .returning(move |_| Ok(Some(found.clone())));
    }
}

#[tokio::test]
async fn a_status_change_that_another_request_made_first_answers_with_the_stored_account() {
    // A race between the load and the update that an honest repository cannot be made to
    // lose: mocked.
    let target = user(Role::Authenticated);
    let now_pro = professional(&target, true);
    let mut given = Given::new();
    let mut seq = mockall::Sequence::new();
    given.the_next_load_in(&mut seq, &target);
    given
        .users
        .expect_set_professional()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _, _, _| Ok(None));
    given.the_next_load_in(&mut seq, &now_pro);
    let service = given.service();

    let user = service
        .set_professional_status(actor(Role::Manager), target.id, true)
        .await
        .expect("answered");

    assert_eq!(user, now_pro);
}

// -- change_password ---------------------------------------------------------------------------

#[tokio::test]
async fn a_wrong_current_password_answers_incorrect_password_and_changes_nothing() {
    let me = user(Role::Authenticated);
    let repo = stored_in_memory(&[&me]);
    let mut given = Given::new();
    given.a_password_that_is(false);
    given.hasher.expect_hash().never();
    let service = given.service_over(&repo);

    let result = service
        .change_password(
            &me,
            session_of(me.id),
            secret("Wr0ng*Pass"),
            Password::parse("N3w*Secure").expect("a valid password"),
        )
        .await;

    assert_err!(result, Error::IncorrectPassword);
    // Counted like a wrong password at login; the hash is untouched.
    let after = repo.get(me.id).expect("stored");
    assert_eq!(after.failed_login_attempts, 1);
    assert!(!after.is_locked);
    assert_eq!(after.password_hash, me.password_hash);
    assert_no_mail(&repo);
}

#[tokio::test]
async fn the_right_current_password_stores_the_hash_of_the_new_one() {
    let me = user(Role::Authenticated);
    let stored_hash = me.password_hash.clone();
    let mut given = Given::new();
    given
        .hasher
        .expect_verify()
        .withf(move |candidate, hash| {
            candidate.expose_secret() == "Curr3nt*Pass" && hash.as_ref() == Some(&stored_hash)
        })
        .times(1)
        .returning(|_, _| Ok(true));
    let hashed = Spy::<String>::default();
    let spy = hashed.clone();
    given.hasher.expect_hash().times(1).returning(move |new| {
        spy.record(new.expose_secret().to_owned());
        Ok(fresh_hash())
    });
    let repo = stored_in_memory(&[&me]);
    let service = given.service_over(&repo);

    service
        .change_password(
            &me,
            session_of(me.id),
            secret("Curr3nt*Pass"),
            Password::parse("N3w*Secure").expect("a valid password"),
        )
        .await
        .expect("changed");

    assert_eq!(hashed.only(), "N3w*Secure");
    let after = repo.get(me.id).expect("stored");
    assert_eq!(
        after,
        User {
            password_hash: fresh_hash(),
            updated_at: after.updated_at,
            ..me.clone()
        }
    );
    let [notice] = repo.mails().try_into().expect("one notice");
    assert_eq!(notice.to, me.email);
    assert_eq!(notice.kind, MailKind::PasswordChanged);
}

/// A [`Given`] whose hasher answers that the password is `correct` and whose object store
/// must delete nothing.
fn given_a_password_deleting_no_object(correct: bool) -> Given {
    let mut given = Given::new();
    given.a_password_that_is(correct);
    given.store.expect_delete().never();
    given
}

/// `me` deletes itself with `password` through a service over `repo` and `given`'s ports.
async fn delete_me_over(
    repo: &InMemoryRepository,
    given: Given,
    me: &User,
    password: &str,
) -> Result<(), Error> {
    given
        .service_over(repo)
        .delete_me(me, secret(password))
        .await
}

// -- delete_me ---------------------------------------------------------------------------------

#[tokio::test]
async fn deleting_myself_with_a_wrong_password_answers_incorrect_password_and_deletes_nothing() {
    // One guess short of the limit (5).
    let me = User {
        failed_login_attempts: 4,
        ..user(Role::Authenticated)
    };
    let repo = stored_in_memory(&[&me]);
    let given = given_a_password_deleting_no_object(false);

    let result = delete_me_over(&repo, given, &me, "Wr0ng*Pass").await;

    assert_err!(result, Error::IncorrectPassword);
    let after = repo.get(me.id).expect("not deleted");
    // The guess that reaches the limit locks, with the unlock email, as at login.
    assert!(after.is_locked);
    let [mail] = repo.mails().try_into().expect("one mail");
    let raw = unwrap_account_locked(&mail.kind);
    assert_eq!(repo.unlock_token(me.id).map(|t| t.hash), Some(raw.hash()));
    assert!(
        repo.audit_events()
            .iter()
            .all(|e| e.kind != AuditKind::UserDeleted),
        "{:?}",
        repo.audit_events()
    );
}

#[tokio::test]
async fn deleting_myself_removes_the_account_and_its_picture_objects() {
    let me = pro_ready();
    let picture = me.picture.clone().expect("a picture");
    let other = user_called(Role::Authenticated, "grace_h");
    let repo = stored_in_memory(&[&me, &other]);
    let mut given = Given::new();
    given.a_password_that_is(true);
    let deleted = Spy::<String>::default();
    let spy = deleted.clone();
    given.store.expect_delete().times(2).returning(move |key| {
        spy.record(key.to_string());
        Ok(())
    });

    delete_me_over(&repo, given, &me, "Curr3nt*Pass")
        .await
        .expect("deleted");

    assert_eq!(repo.users(), [other], "only my account is gone");
    assert_eq!(
        deleted.all(),
        vec![picture.main.to_string(), picture.thumbnail.to_string()]
    );
}

#[tokio::test]
async fn deleting_myself_without_a_picture_touches_no_object() {
    let me = user(Role::Authenticated);
    let repo = stored_in_memory(&[&me]);
    let given = given_a_password_deleting_no_object(true);

    delete_me_over(&repo, given, &me, "Curr3nt*Pass")
        .await
        .expect("deleted");

    assert_eq!(repo.get(me.id), None);
}

#[tokio::test]
async fn the_last_admin_deleting_itself_answers_last_admin() {
    let me = User {
        picture: Some(keys()),
        ..user(Role::Admin)
    };
    let repo = stored_in_memory(&[&me]);
    let given = given_a_password_deleting_no_object(true);

    let result = delete_me_over(&repo, given, &me, "Curr3nt*Pass").await;

    assert_err!(result, Error::LastAdmin);
    assert_untouched(&repo, &me);
}

// -- What PRO changes and self-deletion tell the audit log ---------------------------------

fn pro_event(actor: UserId, target: UserId, before: bool, after: bool) -> AuditEvent {
    event(
        Some(actor),
        target,
        AuditKind::ProStatusChanged,
        vec![change(
            "is_professional",
            Some(&before.to_string()),
            Some(&after.to_string()),
        )],
    )
}

#[tokio::test]
async fn an_upgrade_records_a_pro_status_change_by_the_user_themselves() {
    let me = pro_ready();
    let repo = stored_in_memory(&[&me]);
    let service = Given::new().service_over(&repo);

    service.upgrade_to_pro(&me).await.expect("upgraded");

    assert_eq!(repo.audit_events(), [pro_event(me.id, me.id, false, true)]);
}

#[tokio::test]
async fn a_pro_status_change_by_staff_records_them_as_the_actor() {
    let mut pro = pro_ready();
    pro.is_professional = true;
    for (target, status, staff) in [
        (user(Role::Authenticated), true, actor(Role::Manager)),
        (pro, false, actor(Role::Admin)),
    ] {
        let repo = stored_in_memory(&[&target]);
        let service = Given::new().service_over(&repo);

        let user = service
            .set_professional_status(staff, target.id, status)
            .await
            .expect("changed");

        assert_eq!(user.is_professional, status);
        assert_eq!(
            repo.audit_events(),
            [pro_event(staff.id, target.id, !status, status)]
        );
        assert_eq!(repo.mails(), [pro_mail(&target, status)]);
    }
}

#[tokio::test]
async fn deleting_myself_records_who_i_was_with_myself_as_the_actor() {
    let me = user(Role::Manager);
    let repo = stored_in_memory(&[&me]);
    let mut given = Given::new();
    given.a_password_that_is(true);

    delete_me_over(&repo, given, &me, "Curr3nt*Pass")
        .await
        .expect("deleted");

    assert_eq!(repo.audit_events(), [deletion_event(me.id, &me)]);
}
