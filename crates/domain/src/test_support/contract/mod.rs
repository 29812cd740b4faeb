//! The behaviour every [`UserRepository`] (with its [`SessionRepository`]) shares, written once: what the doc comments of the
//! port state, checked against an implementation through a [`Harness`].
//!
//! A test crate runs all of it with `um_domain::user_repository_contract!(fixture)`, where
//! `fixture` is an `async fn() -> impl Harness` giving each test an empty repository of its own.
//! The in-memory repository runs it in this crate, `PgUserRepository` in `um-postgres`.

mod accounts;
mod listing;
mod logins;
mod pictures;
mod sessions;
mod tokens;
mod updates;

pub use accounts::*;
pub use listing::*;
pub use logins::*;
pub use pictures::*;
pub use sessions::*;
pub use tokens::*;
pub use updates::*;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};

use super::TokenCounts;
use crate::{
    model::{
        AuditChange, AuditEvent, AuditKind, Email, Nickname, PasswordHash, PictureFormat,
        PictureKey, PictureKeys, Profile, RawToken, Role, User, UserId,
    },
    ports::{
        AuditLog, AuditQuery, EndSessions, FailedLogin, LockNotice, Mail, MailKind, NewSession,
        NewUser, PasswordChanged, PendingToken, RepoError, Rotation, SessionRepository,
        UserChanges, UserRepository,
    },
};

/// An empty repository under test, and a look at what it stores besides the accounts.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The repository under test.
    fn repo(&self) -> Arc<dyn UserRepository>;

    /// The audit log that the repository appends to.
    fn audit_log(&self) -> Arc<dyn AuditLog>;

    /// The sessions of the repository's accounts.
    fn sessions(&self) -> Arc<dyn SessionRepository>;

    /// How many tokens of each kind are stored.
    async fn tokens(&self) -> TokenCounts;

    /// The emails queued since the last call, in queue order; they leave the outbox.
    async fn take_mails(&self) -> Vec<Mail>;

    /// Lifts the lock of `id` (and clears its counter) behind the repository's back, keeping
    /// every token, as an operator would by hand.
    async fn lift_lock_keeping_tokens(&self, id: UserId);
}

#[async_trait]
impl Harness for super::InMemoryRepository {
    fn repo(&self) -> Arc<dyn UserRepository> {
        Arc::new(self.clone())
    }

    fn audit_log(&self) -> Arc<dyn AuditLog> {
        Arc::new(self.clone())
    }

    fn sessions(&self) -> Arc<dyn SessionRepository> {
        Arc::new(self.clone())
    }

    async fn tokens(&self) -> TokenCounts {
        self.token_counts()
    }

    async fn take_mails(&self) -> Vec<Mail> {
        super::InMemoryRepository::take_mails(self)
    }

    async fn lift_lock_keeping_tokens(&self, id: UserId) {
        super::InMemoryRepository::lift_lock_keeping_tokens(self, id);
    }
}

/// Every appended event, oldest first, as the audit log lists them (changes sorted by field).
pub async fn audit_events(h: &dyn Harness) -> Vec<AuditEvent> {
    logged_events(&*h.audit_log()).await
}

/// Every event `log` holds, oldest first, as it lists them (changes sorted by field).
pub async fn logged_events(log: &dyn AuditLog) -> Vec<AuditEvent> {
    let mut records = log
        .list(AuditQuery {
            skip: 0,
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .expect("listing the audit log")
        .items;
    records.reverse();
    records.into_iter().map(|r| r.event).collect()
}

/// Now, at the microsecond precision PostgreSQL stores.
#[must_use]
pub fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::microseconds(1))
        .expect("truncating now to microseconds")
}

#[must_use]
pub fn email(raw: &str) -> Email {
    Email::parse(raw).expect("a valid test email")
}

#[must_use]
pub fn nickname(raw: &str) -> Nickname {
    Nickname::parse(raw).expect("a valid test nickname")
}

/// `token`, stored hashed and valid for a day.
#[must_use]
pub fn pending(token: &RawToken) -> PendingToken {
    pending_until(token, now() + TimeDelta::days(1))
}

/// `token`, stored hashed and valid until `expires_at`.
#[must_use]
pub fn pending_until(token: &RawToken, expires_at: DateTime<Utc>) -> PendingToken {
    PendingToken {
        hash: token.hash(),
        expires_at,
    }
}

#[must_use]
pub fn mail(to: &str, kind: MailKind) -> Mail {
    Mail {
        to: email(to),
        greeting_name: "someone".to_owned(),
        kind,
    }
}

#[must_use]
pub fn pro_mail(is_professional: bool) -> Mail {
    mail(
        "someone@example.com",
        MailKind::ProStatusChanged { is_professional },
    )
}

fn verify_mail(id: UserId, token: &RawToken) -> Mail {
    mail(
        "someone@example.com",
        MailKind::VerifyEmail {
            user_id: id,
            token: token.clone(),
        },
    )
}

/// An audit event with `(field, before, after)` changes.
#[must_use]
pub fn event(
    actor: Option<UserId>,
    target: UserId,
    kind: AuditKind,
    changes: &[(&str, Option<&str>, Option<&str>)],
) -> AuditEvent {
    AuditEvent {
        actor,
        target,
        kind,
        changes: changes
            .iter()
            .map(|(field, before, after)| {
                AuditChange::new(field, before.map(str::to_owned), after.map(str::to_owned))
            })
            .collect(),
    }
}

/// Appends `event` through an update of its target, in a transaction of its own.
pub async fn record(repo: &dyn UserRepository, event: AuditEvent) {
    repo.update(
        event.target,
        UserChanges {
            audit: vec![event],
            ..UserChanges::default()
        },
    )
    .await
    .expect("update");
}

/// The `locked` event of the login lockout (by the system).
#[must_use]
pub fn locked_event(id: UserId) -> AuditEvent {
    event(
        None,
        id,
        AuditKind::Locked,
        &[("is_locked", Some("false"), Some("true"))],
    )
}

/// The `unlocked` event of an account that lifted its own lock.
#[must_use]
pub fn unlocked_by_itself(id: UserId) -> AuditEvent {
    event(
        Some(id),
        id,
        AuditKind::Unlocked,
        &[("is_locked", Some("true"), Some("false"))],
    )
}

/// The `pro_status_changed` event of setting `id`'s PRO status to `to`.
#[must_use]
pub fn pro_event(id: UserId, to: bool) -> AuditEvent {
    AuditEvent {
        actor: Some(id),
        target: id,
        kind: AuditKind::ProStatusChanged,
        changes: vec![AuditChange::new(
            "is_professional",
            Some((!to).to_string()),
            Some(to.to_string()),
        )],
    }
}

/// The `user_deleted` event of deleting `id` (by some administrator).
#[must_use]
pub fn deletion(id: UserId) -> AuditEvent {
    AuditEvent {
        actor: Some(UserId::new()),
        target: id,
        kind: AuditKind::UserDeleted,
        changes: Vec::new(),
    }
}

/// What a locking failure of `id` stores: the unlock token, valid for a day, its email and its
/// audit event.
#[must_use]
pub fn lock_notice_for(id: UserId, token: &RawToken) -> LockNotice {
    LockNotice {
        end_sessions: EndSessions::All,
        audit: locked_event(id),
        unlock_token: pending(token),
        mail: mail(
            "someone@example.com",
            MailKind::AccountLocked {
                unlock_token: token.clone(),
            },
        ),
    }
}

/// [`lock_notice_for`] a fresh unlock token.
#[must_use]
pub fn lock_notice(id: UserId) -> LockNotice {
    lock_notice_for(id, &RawToken::generate())
}

/// An ANONYMOUS, unverified account with a verification token valid for a day, and its email.
#[must_use]
pub fn new_user(email_raw: &str, nickname_raw: &str) -> (NewUser, RawToken) {
    let token = RawToken::generate();
    let id = UserId::new();
    let user = NewUser {
        id,
        email: email(email_raw),
        nickname: nickname(nickname_raw),
        profile: Profile::default(),
        password_hash: PasswordHash::new(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".into(),
        ),
        role: Role::Anonymous,
        email_verified: false,
        promote_if_first: false,
        verification_token: Some(pending(&token)),
        verification_mail: Some(mail(
            email_raw,
            MailKind::VerifyEmail {
                user_id: id,
                token: token.clone(),
            },
        )),
        created_at: now(),
    };
    (user, token)
}

/// Inserts an unverified account (with its token and email) and returns it with its token.
pub async fn insert(
    repo: &dyn UserRepository,
    email_raw: &str,
    nickname_raw: &str,
) -> (User, RawToken) {
    let (user, token) = new_user(email_raw, nickname_raw);
    let user = repo.insert(user).await.expect("inserting a fresh account");
    (user, token)
}

/// Inserts a verified account with `role`. A verified account gets neither a verification token
/// nor an email.
pub async fn insert_with_role(
    repo: &dyn UserRepository,
    email_raw: &str,
    nickname_raw: &str,
    role: Role,
) -> User {
    let (mut user, _) = new_user(email_raw, nickname_raw);
    user.role = role;
    user.email_verified = true;
    repo.insert(user).await.expect("inserting a fresh account")
}

pub async fn reload(repo: &dyn UserRepository, id: UserId) -> User {
    repo.find_by_id(id)
        .await
        .expect("find_by_id succeeds")
        .expect("the account exists")
}

/// Stores a reset token valid for `valid_for` and returns it.
pub async fn request_reset(
    repo: &dyn UserRepository,
    id: UserId,
    valid_for: TimeDelta,
) -> RawToken {
    let token = RawToken::generate();
    repo.create_password_reset(
        id,
        pending_until(&token, now() + valid_for),
        mail(
            "someone@example.com",
            MailKind::PasswordReset {
                token: token.clone(),
            },
        ),
    )
    .await
    .expect("create_password_reset");
    token
}

/// Sets the PRO status of `id` to `is_professional` at `at`, with the mail and the audit event
/// of that change.
pub async fn set_pro(
    repo: &dyn UserRepository,
    id: UserId,
    is_professional: bool,
    at: DateTime<Utc>,
) -> Result<Option<User>, RepoError> {
    repo.set_professional(
        id,
        is_professional,
        at,
        pro_mail(is_professional),
        pro_event(id, is_professional),
    )
    .await
}

/// Resets the password with `token` to the hash labelled `label`: the account, or `None` when
/// the token does not reset.
pub async fn reset_with(repo: &dyn UserRepository, token: &RawToken, label: &str) -> Option<User> {
    repo.reset_password(
        token.hash(),
        hash_of(label),
        now(),
        MailKind::PasswordChanged,
        EndSessions::All,
    )
    .await
    .expect("query")
}

/// Verifies the email of `id` with `token`: the account, or `None` when the token does not verify.
pub async fn verify_with(repo: &dyn UserRepository, id: UserId, token: &RawToken) -> Option<User> {
    repo.verify_email(id, token.hash(), now())
        .await
        .expect("query")
}

/// Unlocks with `token`: the account, or `None` when the token does not unlock.
pub async fn unlock_with(repo: &dyn UserRepository, token: &RawToken) -> Option<User> {
    repo.unlock_with_token(token.hash(), now())
        .await
        .expect("query")
}

/// Records a failed login of `id` under a lockout after `limit` failures.
pub async fn fail_login(
    repo: &dyn UserRepository,
    id: UserId,
    limit: u32,
    notice: LockNotice,
) -> FailedLogin {
    repo.record_failed_login(id, limit, notice)
        .await
        .expect("record_failed_login")
}

/// Locks the account with one failure and returns the unlock token stored with the lock.
pub async fn lock(repo: &dyn UserRepository, id: UserId) -> RawToken {
    let token = RawToken::generate();
    let outcome = fail_login(repo, id, 1, lock_notice_for(id, &token)).await;
    assert!(
        matches!(outcome, FailedLogin::Counted { locked: true, .. }),
        "{outcome:?}"
    );
    token
}

#[must_use]
pub fn hash_of(label: &str) -> PasswordHash {
    PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${label}"))
}

#[must_use]
pub fn picture() -> PictureKeys {
    PictureKeys {
        main: PictureKey::generate(PictureFormat::Jpeg),
        thumbnail: PictureKey::generate(PictureFormat::Jpeg),
    }
}

#[must_use]
pub fn role_change(role: Role) -> UserChanges {
    UserChanges {
        role: Some(role),
        ..UserChanges::default()
    }
}

/// Inserts a verified AUTHENTICATED account, which queues nothing.
pub async fn verified(repo: &dyn UserRepository, email_raw: &str, nickname_raw: &str) -> User {
    insert_with_role(repo, email_raw, nickname_raw, Role::Authenticated).await
}

/// Runs the whole contract against the repository `$fixture().await` gives (an `async fn()`
/// returning a [`Harness`]), each test on a fresh one, as `#[tokio::test]`s in a module
/// `user_repository_contract`.
#[macro_export]
macro_rules! user_repository_contract {
    ($fixture:path) => {
        $crate::__user_repository_contract_tests!(
            $fixture;
            insert_stores_every_field_and_find_by_id_returns_it,
            lookups_of_unknown_accounts_find_nothing,
            email_and_nickname_lookups_ignore_case,
            a_taken_email_or_nickname_in_any_case_is_refused_by_name,
            of_concurrent_first_inserts_exactly_one_becomes_a_verified_admin,
            promote_if_first_keeps_the_role_once_an_account_exists,
            of_concurrent_inserts_with_one_email_exactly_one_succeeds,
            insert_queues_the_verification_mail_only_for_an_unverified_account,
            find_by_nickname_ignores_case_and_finds_nothing_for_an_unknown_one,
            taken_nicknames_names_the_lower_cased_forms_of_exactly_the_taken_candidates,
            list_pages_newest_first_with_the_total_of_all_matches,
            list_breaks_ties_in_creation_time_by_id,
            the_log_lists_newest_first_by_user_and_kind_with_the_total,
            the_events_of_one_transaction_share_their_time_and_keep_their_order,
            failed_logins_count_up_and_the_one_reaching_the_limit_locks,
            a_failed_login_of_an_unknown_account_is_not_found,
            parallel_failed_logins_never_count_past_the_lock,
            a_successful_login_resets_the_counter_and_records_the_time,
            a_locked_or_unknown_account_does_not_log_in,
            only_the_failure_that_locks_queues_the_locked_email_and_stores_the_unlock_token,
            only_the_failed_login_that_locks_appends_locked,
            unlock_clears_a_lock_kills_the_token_and_appends_its_event,
            unlocking_an_unlocked_account_clears_the_counter_and_appends_nothing,
            set_picture_returns_the_keys_it_replaced,
            concurrent_uploads_each_see_the_keys_the_other_replaced,
            deleting_a_user_returns_its_picture_keys,
            referenced_picture_keys_names_only_keys_rows_point_at,
            set_picture_appends_its_event_only_when_it_has_one,
            set_professional_changes_the_status_only_when_it_differs_and_stamps_the_given_time,
            set_professional_of_an_unknown_account_is_none,
            of_two_concurrent_upgrades_exactly_one_changes_the_status,
            set_professional_queues_its_mail_only_when_the_status_changes,
            set_professional_appends_its_event_only_on_a_real_change,
            set_password_hash_replaces_the_stored_hash_and_refuses_an_unknown_account,
            the_right_token_verifies_once,
            wrong_expired_or_foreign_tokens_do_not_verify,
            verifying_keeps_a_role_above_anonymous,
            replacing_the_token_invalidates_the_old_one,
            token_requests_queue_their_mail_and_unknown_accounts_queue_nothing,
            a_reset_token_sets_the_password_once,
            an_expired_or_unknown_reset_token_changes_nothing,
            a_reset_clears_the_lock_and_kills_every_other_token_of_the_account,
            a_reset_for_an_unknown_account_is_not_found,
            of_concurrent_resets_of_one_account_exactly_one_succeeds,
            the_unlock_token_unlocks_a_locked_account_once,
            an_unlock_token_does_nothing_when_expired_wrong_or_the_account_is_not_locked,
            a_new_lock_replaces_the_earlier_unlock_token,
            deleting_an_account_removes_its_reset_and_unlock_tokens,
            a_password_change_ends_the_reset_and_unlock_tokens_of_the_account_only,
            an_email_change_ends_the_reset_and_unlock_tokens_and_other_changes_do_not,
            a_reset_appends_unlocked_by_the_account_only_when_it_lifts_a_lock,
            the_unlock_link_appends_unlocked_by_the_account,
            an_update_changes_only_the_given_fields,
            an_update_can_change_every_updatable_field,
            an_update_with_a_verification_token_replaces_the_old_one,
            an_update_to_a_taken_email_or_nickname_is_refused,
            updating_or_deleting_an_unknown_account_is_not_found,
            the_only_admin_can_be_neither_demoted_nor_deleted,
            one_of_two_admins_can_be_demoted_or_deleted,
            of_two_admins_demoted_concurrently_one_stays,
            deleting_an_account_removes_its_token,
            an_update_queues_its_mails_and_a_refused_one_queues_nothing,
            an_update_appends_its_events_in_order_and_a_refused_one_appends_none,
            a_deletion_is_recorded_although_the_account_is_gone,
            of_two_concurrent_demotions_of_the_last_two_admins_one_is_refused_and_unrecorded,
            a_started_session_is_listed_and_finds_its_account,
            starting_a_session_for_an_unknown_account_is_not_found,
            sessions_are_listed_newest_first_and_expired_ones_do_not_refresh,
            a_login_beyond_the_limit_ends_the_oldest_live_sessions,
            the_caller_is_found_with_a_live_session_together_with_the_other_account,
            a_refresh_token_rotates_once_and_comes_back_as_an_earlier_one,
            made_up_tokens_and_unknown_sessions_are_refused,
            only_the_remembered_earlier_tokens_are_recognised,
            of_concurrent_refreshes_with_one_token_exactly_one_rotates,
            ending_takes_the_owners_live_session_once,
            ending_by_token_needs_one_of_the_sessions_tokens,
            ending_all_spares_the_named_one_and_audits_when_asked,
            a_password_change_ends_the_sessions_it_names_and_a_rehash_none,
            a_reset_and_a_lock_end_every_session_and_an_unlock_revives_none,
            a_locked_accounts_live_session_neither_refreshes,
            deleting_an_account_removes_its_sessions,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __user_repository_contract_tests {
    ($fixture:path; $($name:ident),* $(,)?) => {
        mod user_repository_contract {
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let harness = $fixture().await;
                    $crate::test_support::contract::$name(&harness).await;
                }
            )*
        }
    };
}
