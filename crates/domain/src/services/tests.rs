//! Unit tests of the use cases, against mocked ports.
//!
//! Each test arranges the mocks through a [`Given`] builder, acts on the [`UserService`] it
//! builds, and asserts on the answer and on what reached the ports. Values that reach a port are
//! caught with a [`Spy`] where the assertion reads better after the act than inside a `withf`.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use mockall::predicate::eq;
use secrecy::{ExposeSecret, SecretString};

use super::{AdminChanges, Ports, ProfileChanges, Registration, Settings, UserService};
use crate::{
    authz::Actor,
    error::Error,
    model::{
        AuditChange, AuditEvent, AuditKind, Email, Name, Nickname, Password, PasswordHash, Patch,
        Profile, ProfilePatch, RawToken, Role, User, UserId,
    },
    ports::{
        AccessToken, AuditQuery, AuditRecord, FailedLogin, LockNotice, Mail, MailKind,
        MockAuditLog, MockClock, MockObjectStore, MockPasswordHasher, MockPictureProcessor,
        MockTokenIssuer, MockUserRepository, NewUser, Page, PendingToken, RepoError, TokenError,
        UserChanges, UserFilter, UserQuery, UserSort,
    },
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The time every test's clock stands at.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0)
        .single()
        .expect("a valid fixed time")
}

fn email(raw: &str) -> Email {
    Email::parse(raw).expect("a valid email")
}

fn nickname(raw: &str) -> Nickname {
    Nickname::parse(raw).expect("a valid nickname")
}

/// What the mocked hasher answers for every new password.
fn fresh_hash() -> PasswordHash {
    PasswordHash::new("$argon2id$v=19$fresh".to_owned())
}

/// A stored account of `role`, verified unless ANONYMOUS, not locked.
fn user(role: Role) -> User {
    User {
        id: UserId::new(),
        email: email("ada@example.com"),
        nickname: nickname("ada_lovelace"),
        profile: Profile {
            first_name: Name::parse("Ada").expect("a valid name"),
            last_name: Name::parse("Lovelace").expect("a valid name"),
            ..Profile::default()
        },
        picture: None,
        role,
        is_professional: false,
        professional_status_updated_at: None,
        email_verified: role != Role::Anonymous,
        is_locked: false,
        failed_login_attempts: 0,
        password_hash: PasswordHash::new("$argon2id$v=19$stored".to_owned()),
        last_login_at: None,
        created_at: now() - TimeDelta::days(30),
        updated_at: now() - TimeDelta::days(30),
    }
}

fn locked(mut user: User) -> User {
    user.is_locked = true;
    user.failed_login_attempts = 5;
    user
}

fn unverified(mut user: User) -> User {
    user.email_verified = false;
    user
}

fn actor(role: Role) -> Actor {
    Actor {
        id: UserId::new(),
        role,
    }
}

fn registration() -> Registration {
    Registration {
        email: email("grace@example.com"),
        password: Password::parse("Secur3*Pass").expect("a valid password"),
        nickname: None,
        profile: Profile {
            first_name: Name::parse("Grace").expect("a valid name"),
            ..Profile::default()
        },
    }
}

fn registration_with_nickname(given: &str) -> Registration {
    Registration {
        nickname: Some(nickname(given)),
        ..registration()
    }
}

/// The account a well-behaved repository returns for an insert (not promoted).
fn stored(new: &NewUser) -> User {
    User {
        id: new.id,
        email: new.email.clone(),
        nickname: new.nickname.clone(),
        profile: new.profile.clone(),
        picture: None,
        role: new.role,
        is_professional: false,
        professional_status_updated_at: None,
        email_verified: new.email_verified,
        is_locked: false,
        failed_login_attempts: 0,
        password_hash: new.password_hash.clone(),
        last_login_at: None,
        created_at: new.created_at,
        updated_at: new.created_at,
    }
}

/// The account a well-behaved repository returns for an update of `before`.
fn applied(before: &User, changes: &UserChanges) -> User {
    let mut after = before.clone();
    if let Some(email) = &changes.email {
        after.email = email.clone();
    }
    if let Some(verified) = changes.email_verified {
        after.email_verified = verified;
    }
    if let Some(nickname) = &changes.nickname {
        after.nickname = nickname.clone();
    }
    if let Some(role) = changes.role {
        after.role = role;
    }
    after.updated_at = now();
    after
}

fn unwrap_verify_email(kind: &MailKind) -> (UserId, RawToken) {
    match kind {
        MailKind::VerifyEmail { user_id, token } => (*user_id, token.clone()),
        other => panic!("expected a verification mail, got {other:?}"),
    }
}

fn unwrap_account_locked(kind: &MailKind) -> RawToken {
    match kind {
        MailKind::AccountLocked { unlock_token } => unlock_token.clone(),
        other => panic!("expected an \"account locked\" mail, got {other:?}"),
    }
}

fn unwrap_password_reset(kind: &MailKind) -> RawToken {
    match kind {
        MailKind::PasswordReset { token } => token.clone(),
        other => panic!("expected a password-reset mail, got {other:?}"),
    }
}

/// One value of an audit event, before and after.
fn change(field: &str, before: Option<&str>, after: Option<&str>) -> AuditChange {
    AuditChange::new(field, before.map(str::to_owned), after.map(str::to_owned))
}

fn event(
    actor: Option<UserId>,
    target: UserId,
    kind: AuditKind,
    changes: Vec<AuditChange>,
) -> AuditEvent {
    AuditEvent {
        actor,
        target,
        kind,
        changes,
    }
}

/// The `unlocked` event of lifting `target`'s lock, by `actor` (`None`: the command line).
fn unlocked_event(actor: Option<UserId>, target: UserId) -> AuditEvent {
    event(
        actor,
        target,
        AuditKind::Unlocked,
        vec![change("is_locked", Some("true"), Some("false"))],
    )
}

/// The `role_changed` event of `target` going from `before` to `after`.
fn role_changed_event(
    actor: Option<UserId>,
    target: UserId,
    before: Role,
    after: Role,
) -> AuditEvent {
    event(
        actor,
        target,
        AuditKind::RoleChanged,
        vec![change("role", Some(before.as_str()), Some(after.as_str()))],
    )
}

/// The mail telling `to` that its role is now `role`.
fn role_mail(to: &User, role: Role) -> Mail {
    Mail {
        to: to.email.clone(),
        greeting_name: to.nickname.to_string(),
        kind: MailKind::RoleChanged { role },
    }
}

// ---------------------------------------------------------------------------------------------
// The builder and a spy
// ---------------------------------------------------------------------------------------------

/// The mocked ports of a [`UserService`] under test, and its settings. Set expectations on the
/// fields, then [`Given::service`]. The clock always answers [`now`].
///
/// There is no mailer: use cases hand every email to the repository method that makes the
/// change (it goes to the outbox in the same transaction), so tests check the mail there.
struct Given {
    users: MockUserRepository,
    hasher: MockPasswordHasher,
    tokens: MockTokenIssuer,
    store: MockObjectStore,
    pictures: MockPictureProcessor,
    audit: MockAuditLog,
    settings: Settings,
}

impl Given {
    fn new() -> Self {
        Self {
            users: MockUserRepository::new(),
            hasher: MockPasswordHasher::new(),
            tokens: MockTokenIssuer::new(),
            store: MockObjectStore::new(),
            pictures: MockPictureProcessor::new(),
            audit: MockAuditLog::new(),
            // Not the defaults, so that a value the service hard-codes shows up.
            settings: Settings {
                max_login_attempts: 5,
                first_user_is_admin: true,
                verification_ttl: TimeDelta::minutes(90),
                password_reset_ttl: TimeDelta::minutes(45),
                unlock_ttl: TimeDelta::hours(30),
            },
        }
    }

    fn service(mut self) -> UserService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        // Stored hashes are current unless a test says otherwise. Expectations are matched in
        // the order they were set, so one set by the test comes first. (Mockall skips a
        // saturated expectation when another exists, so `expect_needs_rehash().never()` would
        // fall through to this one: forbid the re-hash through `hash`/`set_password_hash`.)
        self.hasher.expect_needs_rehash().return_const(false);
        UserService::new(
            Ports {
                users: Arc::new(self.users),
                hasher: Arc::new(self.hasher),
                tokens: Arc::new(self.tokens),
                clock: Arc::new(clock),
                store: Arc::new(self.store),
                pictures: Arc::new(self.pictures),
                audit: Arc::new(self.audit),
            },
            self.settings,
        )
    }

    // Arrangements that many tests share.

    /// Registration finds the email free, the hasher hashes and the insert succeeds.
    fn a_free_email_and_working_insert(&mut self) -> Spy<NewUser> {
        self.users.expect_find_by_email().returning(|_| Ok(None));
        self.users.expect_nickname_taken().returning(|_| Ok(false));
        self.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
        let inserted = Spy::default();
        let spy = inserted.clone();
        self.users.expect_insert().times(1).returning(move |new| {
            let user = stored(&new);
            spy.record(new);
            Ok(user)
        });
        inserted
    }

    /// `target` is stored under its id.
    fn stored_user(&mut self, target: &User) {
        let target = target.clone();
        self.users
            .expect_find_by_id()
            .with(eq(target.id))
            .returning(move |_| Ok(Some(target.clone())));
    }

    /// `accounts` are stored, and are the only ones: one `find_both` call is expected, and
    /// no `find_by_id`.
    fn stored_accounts(&mut self, accounts: &[&User]) {
        let stored: Vec<User> = accounts.iter().map(|&u| u.clone()).collect();
        self.users.expect_find_by_id().never();
        self.users
            .expect_find_both()
            .times(1)
            .returning(move |first, second| {
                Ok(stored
                    .iter()
                    .filter(|u| u.id == first || u.id == second)
                    .cloned()
                    .collect())
            });
    }

    /// The token `bearer.of.<id>` verifies to `id`; any other token is invalid.
    fn bearer_tokens(&mut self) {
        self.tokens.expect_verify().returning(|bearer| {
            bearer
                .strip_prefix("bearer.of.")
                .and_then(|id| id.parse().ok())
                .map(UserId)
                .ok_or(TokenError::Invalid)
        });
    }

    /// Updates of `target` succeed and are kept.
    fn working_update(&mut self, target: &User) -> Spy<UserChanges> {
        let before = target.clone();
        let updates = Spy::default();
        let spy = updates.clone();
        self.users
            .expect_update()
            .with(eq(target.id), mockall::predicate::always())
            .times(1)
            .returning(move |_, changes| {
                let after = applied(&before, &changes);
                spy.record(changes);
                Ok(after)
            });
        updates
    }

    /// Login finds `account` under its email.
    fn an_account_found_by_email(&mut self, account: &User) {
        let account = account.clone();
        self.users
            .expect_find_by_email()
            .with(eq(account.email.clone()))
            .returning(move |_| Ok(Some(account.clone())));
    }

    fn a_password_that_is(&mut self, correct: bool) {
        self.hasher
            .expect_verify()
            .times(1)
            .returning(move |_, _| Ok(correct));
    }

    /// One failed login of `account` is counted with the configured limit and has `outcome`;
    /// the lock notice handed over is kept.
    fn a_failed_login_of(&mut self, account: &User, outcome: FailedLogin) -> Spy<LockNotice> {
        let notices = Spy::default();
        let spy = notices.clone();
        let max_attempts = self.settings.max_login_attempts;
        self.users
            .expect_record_failed_login()
            .with(
                eq(account.id),
                eq(max_attempts),
                mockall::predicate::always(),
            )
            .times(1)
            .returning(move |_, _, on_lock| {
                spy.record(on_lock);
                Ok(outcome)
            });
        notices
    }

    /// Deleting `target` succeeds (it had no picture); the audit event handed over is kept.
    fn working_delete(&mut self, target: UserId) -> Spy<AuditEvent> {
        let events = Spy::default();
        let spy = events.clone();
        self.users
            .expect_delete()
            .with(eq(target), mockall::predicate::always())
            .times(1)
            .returning(move |_, audit| {
                spy.record(audit);
                Ok(None)
            });
        events
    }

    /// Unlocking `target` succeeds; the audit event handed over is kept.
    fn working_unlock(&mut self, target: &User) -> Spy<AuditEvent> {
        let unlocked = User {
            is_locked: false,
            failed_login_attempts: 0,
            ..target.clone()
        };
        let events = Spy::default();
        let spy = events.clone();
        self.users
            .expect_unlock()
            .with(eq(target.id), mockall::predicate::always())
            .times(1)
            .returning(move |_, audit| {
                spy.record(audit);
                Ok(unlocked.clone())
            });
        events
    }

    /// The successful login of `account` is recorded and a token issued for it.
    fn a_recorded_login_of(&mut self, account: &User) {
        let recorded = User {
            last_login_at: Some(now()),
            ..account.clone()
        };
        self.users
            .expect_record_login()
            .with(eq(account.id), eq(now()))
            .times(1)
            .returning(move |_, _| Ok(Some(recorded.clone())));
        self.tokens.expect_issue().times(1).returning(|_, _| {
            Ok(AccessToken {
                token: "signed.jwt.token".to_owned(),
                expires_in: 1800,
            })
        });
    }
}

/// Catches the values a mock receives, for assertions after the act.
struct Spy<T>(Arc<Mutex<Vec<T>>>);

impl<T> Default for Spy<T> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T> Clone for Spy<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: Clone> Spy<T> {
    fn record(&self, value: T) {
        self.0.lock().expect("spy lock").push(value);
    }

    fn all(&self) -> Vec<T> {
        self.0.lock().expect("spy lock").clone()
    }

    /// The one value caught; fails when there was not exactly one.
    fn only(&self) -> T {
        let all = self.all();
        assert_eq!(all.len(), 1, "expected exactly one call");
        all.into_iter().next().expect("one value")
    }
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn register_makes_the_first_account_a_verified_admin_when_the_repository_promotes_it() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given.users.expect_nickname_taken().returning(|_| Ok(false));
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    given.users.expect_insert().times(1).returning(|new| {
        // No other account exists: the repository promotes this one and, as its contract
        // says, then stores neither the verification token nor the verification mail.
        assert!(new.promote_if_first);
        let mut user = stored(&new);
        user.role = Role::Admin;
        user.email_verified = true;
        Ok(user)
    });
    let service = given.service();

    let user = service.register(registration()).await.expect("registered");

    assert_eq!(user.role, Role::Admin);
    assert!(user.email_verified);
}

#[tokio::test]
async fn register_inserts_an_anonymous_unverified_account_that_may_be_promoted_if_first() {
    let mut given = Given::new();
    let inserted = given.a_free_email_and_working_insert();
    let service = given.service();

    let user = service.register(registration()).await.expect("registered");

    let new = inserted.only();
    assert_eq!(new.role, Role::Anonymous);
    assert!(!new.email_verified);
    assert!(new.promote_if_first);
    assert_eq!(new.email, email("grace@example.com"));
    assert_eq!(new.password_hash, fresh_hash());
    assert_eq!(new.created_at, now());
    assert_eq!(user.role, Role::Anonymous);
}

#[tokio::test]
async fn register_does_not_ask_for_promotion_when_first_user_is_admin_is_off() {
    let mut given = Given::new();
    given.settings.first_user_is_admin = false;
    let inserted = given.a_free_email_and_working_insert();
    let service = given.service();

    service.register(registration()).await.expect("registered");

    assert!(!inserted.only().promote_if_first);
}

#[tokio::test]
async fn register_stores_a_verification_token_that_expires_after_the_configured_ttl() {
    let mut given = Given::new();
    given.settings.verification_ttl = TimeDelta::hours(6);
    let inserted = given.a_free_email_and_working_insert();
    let service = given.service();

    service.register(registration()).await.expect("registered");

    let token = inserted
        .only()
        .verification_token
        .expect("a verification token");
    assert_eq!(token.expires_at, now() + TimeDelta::hours(6));
}

#[tokio::test]
async fn register_hands_the_insert_a_verification_link_whose_token_hash_is_stored() {
    let mut given = Given::new();
    let inserted = given.a_free_email_and_working_insert();
    let service = given.service();

    let user = service.register(registration()).await.expect("registered");

    let new = inserted.only();
    let stored_token = new.verification_token.expect("a verification token");
    let mail = new.verification_mail.expect("a verification mail");
    assert_eq!(mail.to, email("grace@example.com"));
    assert_eq!(mail.greeting_name, user.nickname.to_string());
    let (user_id, raw) = unwrap_verify_email(&mail.kind);
    assert_eq!(user_id, user.id);
    assert_eq!(raw.hash(), stored_token.hash);
}

#[tokio::test]
async fn register_with_a_taken_email_answers_email_exists_without_hashing() {
    let mut given = Given::new();
    given
        .users
        .expect_find_by_email()
        .with(eq(email("grace@example.com")))
        .returning(|_| Ok(Some(user(Role::Authenticated))));
    given.hasher.expect_hash().never();
    given.users.expect_insert().never();
    let service = given.service();

    let result = service.register(registration()).await;

    assert!(matches!(result, Err(Error::EmailExists)), "{result:?}");
}

#[tokio::test]
async fn register_with_a_taken_nickname_answers_nickname_taken_without_hashing() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given
        .users
        .expect_nickname_taken()
        .with(eq(nickname("Grace_H")))
        .times(1)
        .returning(|_| Ok(true));
    given.hasher.expect_hash().never();
    given.users.expect_insert().never();
    let service = given.service();

    let result = service
        .register(registration_with_nickname("Grace_H"))
        .await;

    assert!(matches!(result, Err(Error::NicknameTaken)), "{result:?}");
}

#[tokio::test]
async fn register_keeps_a_given_free_nickname() {
    let mut given = Given::new();
    let inserted = given.a_free_email_and_working_insert();
    let service = given.service();

    let user = service
        .register(registration_with_nickname("Grace_H"))
        .await
        .expect("registered");

    assert_eq!(inserted.only().nickname, nickname("Grace_H"));
    assert_eq!(user.nickname, nickname("Grace_H"));
}

#[tokio::test]
async fn register_losing_the_email_race_at_insert_answers_email_exists() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given.users.expect_nickname_taken().returning(|_| Ok(false));
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    given
        .users
        .expect_insert()
        .times(1)
        .returning(|_| Err(RepoError::EmailTaken));
    let service = given.service();

    let result = service.register(registration()).await;

    assert!(matches!(result, Err(Error::EmailExists)), "{result:?}");
}

#[tokio::test]
async fn register_reports_an_unreachable_repository_as_unavailable() {
    let mut given = Given::new();
    given
        .users
        .expect_find_by_email()
        .returning(|_| Err(RepoError::Unavailable(anyhow::anyhow!("pool exhausted"))));
    given.hasher.expect_hash().never();
    let service = given.service();

    let result = service.register(registration()).await;

    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
}

// ---------------------------------------------------------------------------------------------
// Nickname collisions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn register_skips_generated_nicknames_that_are_taken_and_uses_the_third() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    let candidates = Spy::default();
    let spy = candidates.clone();
    given
        .users
        .expect_nickname_taken()
        .times(3)
        .returning(move |candidate| {
            spy.record(candidate.clone());
            Ok(spy.all().len() <= 2)
        });
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    let inserted = Spy::default();
    let spy = inserted.clone();
    given.users.expect_insert().times(1).returning(move |new| {
        let user = stored(&new);
        spy.record(new);
        Ok(user)
    });
    let service = given.service();

    service.register(registration()).await.expect("registered");

    let candidates = candidates.all();
    assert_eq!(inserted.only().nickname, candidates[2]);
}

#[tokio::test]
async fn register_draws_a_new_nickname_when_the_insert_finds_the_generated_one_taken() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    let candidates = Spy::default();
    let spy = candidates.clone();
    given
        .users
        .expect_nickname_taken()
        .returning(move |candidate| {
            spy.record(candidate.clone());
            Ok(false)
        });
    given
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(fresh_hash()));
    let attempts = Spy::default();
    let spy = attempts.clone();
    let greetings = Spy::default();
    let greeting_spy = greetings.clone();
    given.users.expect_insert().times(2).returning(move |new| {
        spy.record(new.nickname.clone());
        greeting_spy.record(
            new.verification_mail
                .as_ref()
                .map(|mail| mail.greeting_name.clone()),
        );
        if spy.all().len() == 1 {
            // Another registration took the name between the check and the insert.
            Err(RepoError::NicknameTaken)
        } else {
            Ok(stored(&new))
        }
    });
    let service = given.service();

    let user = service.register(registration()).await.expect("registered");

    // Each insert used a freshly checked candidate, and the account got the second one.
    assert_eq!(attempts.all(), candidates.all());
    assert_eq!(user.nickname, candidates.all()[1]);
    // The verification mail of each insert greets the nickname that insert tried.
    let tried: Vec<Option<String>> = attempts.all().iter().map(|n| Some(n.to_string())).collect();
    assert_eq!(greetings.all(), tried);
}

#[tokio::test]
async fn register_with_a_given_nickname_taken_at_insert_answers_409_without_retrying() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given.users.expect_nickname_taken().returning(|_| Ok(false));
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    given
        .users
        .expect_insert()
        .times(1)
        .returning(|_| Err(RepoError::NicknameTaken));
    let service = given.service();

    let result = service
        .register(registration_with_nickname("Grace_H"))
        .await;

    assert!(matches!(result, Err(Error::NicknameTaken)), "{result:?}");
}

#[tokio::test]
async fn free_nickname_gives_up_with_an_internal_error_after_ten_taken_tries() {
    let mut given = Given::new();
    given
        .users
        .expect_nickname_taken()
        .times(10)
        .returning(|_| Ok(true));
    let service = given.service();

    let result = service.free_nickname().await;

    assert!(matches!(result, Err(Error::Internal(_))), "{result:?}");
}

#[tokio::test]
async fn register_fails_internally_when_no_generated_nickname_is_free() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given
        .users
        .expect_nickname_taken()
        .times(10)
        .returning(|_| Ok(true));
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    given.users.expect_insert().never();
    let service = given.service();

    let result = service.register(registration()).await;

    assert!(matches!(result, Err(Error::Internal(_))), "{result:?}");
}

// ---------------------------------------------------------------------------------------------
// Email verification
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn verify_email_hands_the_repository_the_hash_of_the_link_token_and_the_current_time() {
    let account = user(Role::Anonymous);
    let mut given = Given::new();
    let verified = User {
        role: Role::Authenticated,
        email_verified: true,
        ..account.clone()
    };
    given
        .users
        .expect_verify_email()
        .with(
            eq(account.id),
            eq(RawToken::from_client("c0ffee").hash()),
            eq(now()),
        )
        .times(1)
        .returning(move |_, _, _| Ok(Some(verified.clone())));
    let service = given.service();

    let user = service
        .verify_email(account.id, "c0ffee")
        .await
        .expect("verified");

    assert_eq!(user.role, Role::Authenticated);
    assert!(user.email_verified);
}

#[tokio::test]
async fn verify_email_with_a_token_the_repository_rejects_answers_invalid_verification_token() {
    let mut given = Given::new();
    given
        .users
        .expect_verify_email()
        .returning(|_, _, _| Ok(None));
    let service = given.service();

    let result = service
        .verify_email(UserId::new(), "expired-or-wrong")
        .await;

    assert!(
        matches!(result, Err(Error::InvalidVerificationToken)),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Resending the verification link
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn resend_verification_for_an_unknown_email_succeeds_quietly_without_mail() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given.users.expect_replace_verification_token().never();
    let service = given.service();

    let result = service
        .resend_verification(&email("nobody@example.com"))
        .await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn resend_verification_for_a_verified_account_sends_no_mail() {
    let mut given = Given::new();
    given.an_account_found_by_email(&user(Role::Authenticated));
    given.users.expect_replace_verification_token().never();
    let service = given.service();

    let result = service.resend_verification(&email("ada@example.com")).await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn resend_verification_replaces_the_token_and_queues_a_mail_with_the_new_one() {
    let account = user(Role::Anonymous);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    let replaced = Spy::default();
    let spy = replaced.clone();
    given
        .users
        .expect_replace_verification_token()
        .with(
            eq(account.id),
            mockall::predicate::always(),
            mockall::predicate::always(),
        )
        .times(1)
        .returning(move |_, token, mail| {
            spy.record((token, mail));
            Ok(())
        });
    let service = given.service();

    service
        .resend_verification(&email("ada@example.com"))
        .await
        .expect("resent");

    let (token, mail): (PendingToken, Mail) = replaced.only();
    assert_eq!(token.expires_at, now() + TimeDelta::minutes(90));
    assert_eq!(mail.to, account.email);
    assert_eq!(mail.greeting_name, account.nickname.to_string());
    let (user_id, raw) = unwrap_verify_email(&mail.kind);
    assert_eq!(user_id, account.id);
    assert_eq!(raw.hash(), token.hash);
}

// ---------------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------------

fn password(raw: &str) -> SecretString {
    SecretString::from(raw)
}

#[tokio::test]
async fn login_with_an_unknown_email_checks_a_dummy_hash_and_answers_invalid_credentials() {
    let mut given = Given::new();
    given.users.expect_find_by_email().returning(|_| Ok(None));
    given
        .hasher
        .expect_verify()
        .withf(|candidate, hash| candidate.expose_secret() == "Secur3*Pass" && hash.is_none())
        .times(1)
        .returning(|_, _| Ok(false));
    given.users.expect_record_failed_login().never();
    let service = given.service();

    let result = service
        .login("nobody@example.com", password("Secur3*Pass"))
        .await;

    assert!(
        matches!(result, Err(Error::InvalidCredentials)),
        "{result:?}"
    );
}

#[tokio::test]
async fn login_with_a_malformed_email_answers_like_an_unknown_one() {
    let mut given = Given::new();
    given.users.expect_find_by_email().never();
    given
        .hasher
        .expect_verify()
        .withf(|_, hash| hash.is_none())
        .times(1)
        .returning(|_, _| Ok(false));
    let service = given.service();

    let result = service.login("not an email", password("Secur3*Pass")).await;

    assert!(
        matches!(result, Err(Error::InvalidCredentials)),
        "{result:?}"
    );
}

#[tokio::test]
async fn login_to_a_locked_account_answers_account_locked_without_checking_the_password() {
    let mut given = Given::new();
    given.an_account_found_by_email(&locked(user(Role::Authenticated)));
    given.hasher.expect_verify().never();
    given.users.expect_record_failed_login().never();
    given.users.expect_record_login().never();
    let service = given.service();

    let result = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await;

    assert!(matches!(result, Err(Error::AccountLocked)), "{result:?}");
}

#[tokio::test]
async fn login_with_a_wrong_password_counts_the_failure_and_answers_invalid_credentials() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    let stored_hash = account.password_hash.clone();
    given
        .hasher
        .expect_verify()
        .withf(move |_, hash| hash.as_ref() == Some(&stored_hash))
        .times(1)
        .returning(|_, _| Ok(false));
    given.a_failed_login_of(
        &account,
        FailedLogin::Counted {
            attempts: 1,
            locked: false,
        },
    );
    given.users.expect_record_login().never();
    let service = given.service();

    let result = service.login("ada@example.com", password("wrong")).await;

    assert!(
        matches!(result, Err(Error::InvalidCredentials)),
        "{result:?}"
    );
}

#[tokio::test]
async fn every_failed_login_hands_over_an_unlock_link_for_the_repository_to_store_if_it_locks() {
    // Whether this failure locks the account is decided atomically in the repository, so the
    // notice travels with every failure; the repository stores it only with the lock.
    for locks in [false, true] {
        let account = user(Role::Authenticated);
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        given.a_password_that_is(false);
        let notices = given.a_failed_login_of(
            &account,
            FailedLogin::Counted {
                attempts: if locks { 5 } else { 2 },
                locked: locks,
            },
        );
        let service = given.service();

        service
            .login("ada@example.com", password("wrong"))
            .await
            .expect_err("refused");

        let notice = notices.only();
        assert_eq!(
            notice.unlock_token.expires_at,
            now() + TimeDelta::hours(30),
            "locks {locks}"
        );
        assert_eq!(notice.mail.to, account.email, "locks {locks}");
        assert_eq!(
            notice.mail.greeting_name,
            account.nickname.to_string(),
            "locks {locks}"
        );
        let raw = unwrap_account_locked(&notice.mail.kind);
        assert_eq!(raw.hash(), notice.unlock_token.hash, "locks {locks}");
    }
}

#[tokio::test]
async fn the_failed_login_that_locks_the_account_still_answers_401() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(false);
    given.a_failed_login_of(
        &account,
        FailedLogin::Counted {
            attempts: 5,
            locked: true,
        },
    );
    given.users.expect_record_login().never();
    let service = given.service();

    let result = service.login("ada@example.com", password("wrong")).await;

    assert!(
        matches!(result, Err(Error::InvalidCredentials)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_wrong_password_for_an_account_locked_meanwhile_answers_account_locked() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(false);
    given.a_failed_login_of(&account, FailedLogin::AlreadyLocked);
    let service = given.service();

    let result = service.login("ada@example.com", password("wrong")).await;

    assert!(matches!(result, Err(Error::AccountLocked)), "{result:?}");
}

#[tokio::test]
async fn the_right_password_with_an_unverified_email_answers_invalid_credentials_uncounted() {
    let mut given = Given::new();
    given.an_account_found_by_email(&unverified(user(Role::Anonymous)));
    given.a_password_that_is(true);
    given.users.expect_record_failed_login().never();
    given.users.expect_record_login().never();
    given.tokens.expect_issue().never();
    let service = given.service();

    let result = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await;

    assert!(
        matches!(result, Err(Error::InvalidCredentials)),
        "{result:?}"
    );
}

#[tokio::test]
async fn login_records_the_login_at_the_current_time_and_returns_the_issued_token() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(true);
    let recorded = User {
        last_login_at: Some(now()),
        ..account.clone()
    };
    let returned = recorded.clone();
    given
        .users
        .expect_record_login()
        .with(eq(account.id), eq(now()))
        .times(1)
        .returning(move |_, _| Ok(Some(returned.clone())));
    let for_user = recorded.clone();
    given
        .tokens
        .expect_issue()
        .withf(move |user, at| *user == for_user && *at == now())
        .times(1)
        .returning(|_, _| {
            Ok(AccessToken {
                token: "signed.jwt.token".to_owned(),
                expires_in: 1800,
            })
        });
    given.users.expect_record_failed_login().never();
    let service = given.service();

    let success = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await
        .expect("logged in");

    assert_eq!(success.access.token, "signed.jwt.token");
    assert_eq!(success.access.expires_in, 1800);
    assert_eq!(success.user, recorded);
}

#[tokio::test]
async fn login_to_an_account_locked_between_check_and_record_answers_account_locked() {
    let mut given = Given::new();
    given.an_account_found_by_email(&user(Role::Authenticated));
    given.a_password_that_is(true);
    given.users.expect_record_login().returning(|_, _| Ok(None));
    given.tokens.expect_issue().never();
    let service = given.service();

    let result = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await;

    assert!(matches!(result, Err(Error::AccountLocked)), "{result:?}");
}

#[tokio::test]
async fn the_lock_notice_of_a_failed_login_carries_a_locked_event_by_no_one() {
    // The lockout is the system's doing: the event has no actor.
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(false);
    let notices = given.a_failed_login_of(
        &account,
        FailedLogin::Counted {
            attempts: 5,
            locked: true,
        },
    );
    let service = given.service();

    service
        .login("ada@example.com", password("wrong"))
        .await
        .expect_err("refused");

    assert_eq!(
        notices.only().audit,
        event(
            None,
            account.id,
            AuditKind::Locked,
            vec![change("is_locked", Some("false"), Some("true"))],
        )
    );
}

#[tokio::test]
async fn a_login_with_an_outdated_hash_stores_a_fresh_hash_of_the_same_password() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(true);
    given.a_recorded_login_of(&account);
    let stored_hash = account.password_hash.clone();
    given
        .hasher
        .expect_needs_rehash()
        .withf(move |hash| *hash == stored_hash)
        .times(1)
        .return_const(true);
    let hashed = Spy::<String>::default();
    let spy = hashed.clone();
    given.hasher.expect_hash().times(1).returning(move |given| {
        spy.record(given.expose_secret().to_owned());
        Ok(fresh_hash())
    });
    given
        .users
        .expect_set_password_hash()
        // The same password hashed anew: no notice, nothing else changes.
        .with(eq(account.id), eq(fresh_hash()), eq(None))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let service = given.service();

    let success = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await
        .expect("logged in");

    assert_eq!(hashed.only(), "Secur3*Pass");
    assert_eq!(success.user.id, account.id);
}

#[tokio::test]
async fn a_login_with_a_current_hash_hashes_nothing() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(true);
    given.a_recorded_login_of(&account);
    given
        .hasher
        .expect_needs_rehash()
        .times(1)
        .return_const(false);
    given.hasher.expect_hash().never();
    given.users.expect_set_password_hash().never();
    let service = given.service();

    let result = service
        .login("ada@example.com", password("Secur3*Pass"))
        .await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_failing_rehash_still_logs_the_user_in() {
    // Either step may fail: hashing, or storing the new hash. The old hash still works, so the
    // re-hash is simply tried again at the next login.
    for storing_fails in [false, true] {
        let account = user(Role::Authenticated);
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        given.a_password_that_is(true);
        given.a_recorded_login_of(&account);
        given.hasher.expect_needs_rehash().return_const(true);
        if storing_fails {
            given
                .hasher
                .expect_hash()
                .times(1)
                .returning(|_| Ok(fresh_hash()));
            given
                .users
                .expect_set_password_hash()
                .times(1)
                .returning(|_, _, _| Err(RepoError::Unavailable(anyhow::anyhow!("db down"))));
        } else {
            given
                .hasher
                .expect_hash()
                .times(1)
                .returning(|_| Err(anyhow::anyhow!("hasher pool gone")));
            given.users.expect_set_password_hash().never();
        }
        let service = given.service();

        let success = service
            .login("ada@example.com", password("Secur3*Pass"))
            .await;

        let success = success.unwrap_or_else(|e| panic!("storing fails {storing_fails}: {e:?}"));
        assert_eq!(success.access.token, "signed.jwt.token");
    }
}

#[tokio::test]
async fn a_refused_login_never_rehashes() {
    // Neither a wrong password nor an unverified email may replace the stored hash.
    for (account, correct) in [
        (user(Role::Authenticated), false),
        (unverified(user(Role::Anonymous)), true),
    ] {
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        given.a_password_that_is(correct);
        given
            .users
            .expect_record_failed_login()
            .returning(|_, _, _| {
                Ok(FailedLogin::Counted {
                    attempts: 1,
                    locked: false,
                })
            });
        given.hasher.expect_hash().never();
        given.users.expect_set_password_hash().never();
        let service = given.service();

        let result = service
            .login("ada@example.com", password("Secur3*Pass"))
            .await;

        assert!(
            matches!(result, Err(Error::InvalidCredentials)),
            "{result:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Password reset and the unlock link
// ---------------------------------------------------------------------------------------------

/// A new password as a client sends it with a reset token.
fn new_password() -> Password {
    Password::parse("N3w*Secure").expect("a valid password")
}

#[tokio::test]
async fn a_reset_for_an_unknown_email_succeeds_quietly_and_writes_nothing() {
    let mut given = Given::new();
    given
        .users
        .expect_find_by_email()
        .with(eq(email("nobody@example.com")))
        .times(1)
        .returning(|_| Ok(None));
    given.users.expect_create_password_reset().never();
    let service = given.service();

    let result = service
        .request_password_reset(&email("nobody@example.com"))
        .await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_reset_stores_a_token_that_expires_after_the_reset_ttl_and_queues_its_link() {
    // A locked account gets the link as well: a reset is one way to lift the lock.
    for account in [user(Role::Authenticated), locked(user(Role::Authenticated))] {
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        let created = Spy::default();
        let spy = created.clone();
        given
            .users
            .expect_create_password_reset()
            .with(
                eq(account.id),
                mockall::predicate::always(),
                mockall::predicate::always(),
            )
            .times(1)
            .returning(move |_, token, mail| {
                spy.record((token, mail));
                Ok(())
            });
        let service = given.service();

        service
            .request_password_reset(&email("ada@example.com"))
            .await
            .expect("requested");

        let (token, mail): (PendingToken, Mail) = created.only();
        assert_eq!(token.expires_at, now() + TimeDelta::minutes(45));
        assert_eq!(mail.to, account.email);
        assert_eq!(mail.greeting_name, account.nickname.to_string());
        let raw = unwrap_password_reset(&mail.kind);
        assert_eq!(raw.hash(), token.hash);
    }
}

#[tokio::test]
async fn a_reset_request_reports_an_unreachable_repository_as_unavailable() {
    let mut given = Given::new();
    given.an_account_found_by_email(&user(Role::Authenticated));
    given
        .users
        .expect_create_password_reset()
        .returning(|_, _, _| Err(RepoError::Unavailable(anyhow::anyhow!("pool exhausted"))));
    let service = given.service();

    let result = service
        .request_password_reset(&email("ada@example.com"))
        .await;

    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn confirming_a_reset_stores_the_hash_of_the_new_password_with_the_token_hash_and_now() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    let hashed = Spy::<String>::default();
    let spy = hashed.clone();
    given.hasher.expect_hash().times(1).returning(move |new| {
        spy.record(new.expose_secret().to_owned());
        Ok(fresh_hash())
    });
    let reset = account.clone();
    given
        .users
        .expect_reset_password()
        .with(
            eq(RawToken::from_client("r3set-t0ken").hash()),
            eq(fresh_hash()),
            eq(now()),
            // The owner is told, in the transaction of the reset.
            eq(MailKind::PasswordChanged),
        )
        .times(1)
        .returning(move |_, _, _, _| Ok(Some(reset.clone())));
    let service = given.service();

    service
        .confirm_password_reset("r3set-t0ken", new_password())
        .await
        .expect("reset");

    assert_eq!(hashed.only(), "N3w*Secure");
}

#[tokio::test]
async fn a_reset_token_the_repository_rejects_answers_invalid_reset_token() {
    let mut given = Given::new();
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    given
        .users
        .expect_reset_password()
        .times(1)
        .returning(|_, _, _, _| Ok(None));
    let service = given.service();

    let result = service
        .confirm_password_reset("used-or-expired", new_password())
        .await;

    assert!(
        matches!(result, Err(Error::InvalidResetToken)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_reset_whose_password_cannot_be_hashed_fails_internally_and_uses_no_token() {
    let mut given = Given::new();
    given
        .hasher
        .expect_hash()
        .returning(|_| Err(anyhow::anyhow!("hasher pool gone")));
    given.users.expect_reset_password().never();
    let service = given.service();

    let result = service
        .confirm_password_reset("r3set-t0ken", new_password())
        .await;

    assert!(matches!(result, Err(Error::Internal(_))), "{result:?}");
}

#[tokio::test]
async fn the_unlock_link_hands_the_repository_the_hash_of_its_token_and_the_current_time() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    let unlocked = account.clone();
    given
        .users
        .expect_unlock_with_token()
        .with(eq(RawToken::from_client("unl0ck-t0ken").hash()), eq(now()))
        .times(1)
        .returning(move |_, _| Ok(Some(unlocked.clone())));
    let service = given.service();

    let result = service.unlock_with_token("unl0ck-t0ken").await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn an_unlock_token_the_repository_rejects_answers_invalid_unlock_token() {
    let mut given = Given::new();
    given
        .users
        .expect_unlock_with_token()
        .times(1)
        .returning(|_, _| Ok(None));
    let service = given.service();

    let result = service.unlock_with_token("used-or-expired").await;

    assert!(
        matches!(result, Err(Error::InvalidUnlockToken)),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Authentication of bearer tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn authenticate_refuses_an_invalid_or_expired_token_without_loading_a_user() {
    for refusal in [TokenError::Invalid, TokenError::Expired] {
        let mut given = Given::new();
        given
            .tokens
            .expect_verify()
            .withf(|bearer| bearer == "bad.token")
            .return_once(move |_| Err(refusal));
        given.users.expect_find_by_id().never();
        let service = given.service();

        let result = service.authenticate("bad.token").await;

        assert!(matches!(result, Err(Error::Unauthenticated)), "{result:?}");
    }
}

#[tokio::test]
async fn authenticate_refuses_the_token_of_a_deleted_user() {
    let mut given = Given::new();
    let id = UserId::new();
    given.tokens.expect_verify().returning(move |_| Ok(id));
    given
        .users
        .expect_find_by_id()
        .with(eq(id))
        .returning(|_| Ok(None));
    let service = given.service();

    let result = service.authenticate("good.token").await;

    assert!(matches!(result, Err(Error::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn authenticate_refuses_the_token_of_a_locked_user() {
    let account = locked(user(Role::Authenticated));
    let mut given = Given::new();
    let id = account.id;
    given.tokens.expect_verify().returning(move |_| Ok(id));
    given.stored_user(&account);
    let service = given.service();

    let result = service.authenticate("good.token").await;

    assert!(matches!(result, Err(Error::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn authenticate_takes_the_role_stored_in_the_repository_not_the_one_in_the_token() {
    // The token was issued while the account was ADMIN; it has since been demoted.
    let demoted = user(Role::Authenticated);
    let mut given = Given::new();
    let id = demoted.id;
    given
        .tokens
        .expect_verify()
        .withf(|bearer| bearer == "token.issued.to.an.admin")
        .returning(move |_| Ok(id));
    given.stored_user(&demoted);
    let service = given.service();

    let user = service
        .authenticate("token.issued.to.an.admin")
        .await
        .expect("authenticated");

    assert_eq!(user.id, id);
    assert_eq!(user.role, Role::Authenticated);
    assert!(!Actor::from(&user).is_staff());
}

// ---------------------------------------------------------------------------------------------
// Role rules of the administration use cases
// ---------------------------------------------------------------------------------------------

const NON_STAFF: [Role; 2] = [Role::Anonymous, Role::Authenticated];

/// A listing of every account, `limit` of them from `skip` on, in the default order.
fn page_of(skip: u64, limit: u64) -> UserQuery {
    UserQuery {
        skip,
        limit,
        ..UserQuery::default()
    }
}

fn a_nickname_change() -> AdminChanges {
    AdminChanges {
        profile: ProfileChanges {
            nickname: Some(nickname("renamed")),
            ..ProfileChanges::default()
        },
        ..AdminChanges::default()
    }
}

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
    audit.skip = super::MAX_SKIP;
    assert!(
        service
            .list_users(actor(Role::Admin), page_of(super::MAX_SKIP, 10))
            .await
            .is_ok()
    );
    assert!(
        service
            .list_audit_events(actor(Role::Admin), audit)
            .await
            .is_ok()
    );

    for skip in [super::MAX_SKIP + 1, u64::MAX] {
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
    assert_eq!(super::MAX_SKIP, 9_223_372_036_854_775_807);
}

// ---------------------------------------------------------------------------------------------
// Listing accounts: filters, sort and what a MANAGER sees
// ---------------------------------------------------------------------------------------------

/// A listing that uses every filter and a sort other than the default.
fn a_filtered_query(roles: Option<Vec<Role>>) -> UserQuery {
    UserQuery {
        skip: 30,
        limit: 15,
        filter: UserFilter {
            q: Some("lovelace".to_owned()),
            roles,
            is_locked: Some(true),
            is_professional: Some(false),
            email_verified: Some(true),
            created_from: Some(now() - TimeDelta::days(7)),
            created_to: Some(now()),
        },
        sort: UserSort::EmailDesc,
    }
}

/// The repository lists anything and keeps the query it was given.
fn a_listing(given: &mut Given) -> Spy<UserQuery> {
    let queries = Spy::default();
    let spy = queries.clone();
    given.users.expect_list().times(1).returning(move |query| {
        spy.record(query);
        Ok(Page {
            items: Vec::new(),
            total: 0,
        })
    });
    queries
}

#[tokio::test]
async fn a_managers_role_filter_is_narrowed_to_the_plain_roles() {
    use Role::*;
    let cases = [
        (Some(vec![Admin]), Some(vec![])),
        (Some(vec![Manager, Admin]), Some(vec![])),
        (
            Some(vec![Authenticated, Manager]),
            Some(vec![Authenticated]),
        ),
        (
            Some(vec![Anonymous, Authenticated, Manager, Admin]),
            Some(vec![Anonymous, Authenticated]),
        ),
        (Some(vec![Anonymous]), Some(vec![Anonymous])),
        // No role filter: every role the MANAGER may see.
        (None, Some(vec![Anonymous, Authenticated])),
    ];
    for (asked, narrowed) in cases {
        let mut given = Given::new();
        let queries = a_listing(&mut given);
        let service = given.service();

        service
            .list_users(actor(Manager), a_filtered_query(asked.clone()))
            .await
            .expect("listed");

        // Only the roles change: paging, the other filters and the sort pass through.
        assert_eq!(
            queries.only(),
            a_filtered_query(narrowed),
            "asked for {asked:?}"
        );
    }
}

#[tokio::test]
async fn an_admins_query_reaches_the_repository_untouched() {
    for roles in [
        None,
        Some(vec![Role::Manager, Role::Admin]),
        Some(Vec::new()),
    ] {
        let mut given = Given::new();
        let queries = a_listing(&mut given);
        let service = given.service();

        service
            .list_users(actor(Role::Admin), a_filtered_query(roles.clone()))
            .await
            .expect("listed");

        assert_eq!(queries.only(), a_filtered_query(roles));
    }
}

#[tokio::test]
async fn every_sort_reaches_the_repository() {
    for sort in UserSort::ALL {
        let mut given = Given::new();
        let queries = a_listing(&mut given);
        let service = given.service();

        service
            .list_users(
                actor(Role::Manager),
                UserQuery {
                    sort,
                    ..page_of(0, 10)
                },
            )
            .await
            .expect("listed");

        assert_eq!(queries.only().sort, sort);
    }
}

#[tokio::test]
async fn a_listing_accepts_page_sizes_from_1_to_100_for_any_staff() {
    for role in [Role::Manager, Role::Admin] {
        for limit in [1, 100] {
            let mut given = Given::new();
            let queries = a_listing(&mut given);
            let service = given.service();

            service
                .list_users(actor(role), page_of(0, limit))
                .await
                .expect("listed");

            assert_eq!(queries.only().limit, limit, "{role}");
        }
        for limit in [0, 101] {
            let mut given = Given::new();
            given.users.expect_list().never();
            let service = given.service();

            let result = service.list_users(actor(role), page_of(0, limit)).await;

            assert!(
                matches!(&result, Err(Error::Validation(errors)) if errors.0[0].field == "limit"),
                "{role} limit {limit}: {result:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The audit log
// ---------------------------------------------------------------------------------------------

fn an_audit_query(limit: u64) -> AuditQuery {
    AuditQuery {
        skip: 40,
        limit,
        user_id: Some(UserId::new()),
        kind: Some(AuditKind::RoleChanged),
    }
}

#[tokio::test]
async fn only_an_admin_reads_the_audit_log() {
    for role in [Role::Anonymous, Role::Authenticated, Role::Manager] {
        let mut given = Given::new();
        given.audit.expect_list().never();
        let service = given.service();

        let result = service
            .list_audit_events(actor(role), an_audit_query(10))
            .await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn an_admin_reads_the_audit_log_with_the_query_as_given() {
    let query = an_audit_query(20);
    let record = AuditRecord {
        id: 7,
        at: now(),
        event: role_changed_event(
            Some(UserId::new()),
            query.user_id.expect("a user"),
            Role::Authenticated,
            Role::Manager,
        ),
    };
    let mut given = Given::new();
    let answer = record.clone();
    given
        .audit
        .expect_list()
        .with(eq(query.clone()))
        .times(1)
        .returning(move |_| {
            Ok(Page {
                items: vec![answer.clone()],
                total: 41,
            })
        });
    let service = given.service();

    let page = service
        .list_audit_events(actor(Role::Admin), query)
        .await
        .expect("listed");

    assert_eq!(page.items, vec![record]);
    assert_eq!(page.total, 41);
}

#[tokio::test]
async fn the_audit_log_takes_page_sizes_from_1_to_100() {
    for limit in [1, 100] {
        let mut given = Given::new();
        given
            .audit
            .expect_list()
            .withf(move |query| query.limit == limit)
            .times(1)
            .returning(|_| {
                Ok(Page {
                    items: Vec::new(),
                    total: 0,
                })
            });
        let service = given.service();

        let result = service
            .list_audit_events(actor(Role::Admin), an_audit_query(limit))
            .await;

        assert!(result.is_ok(), "limit {limit}: {result:?}");
    }
    for limit in [0, 101] {
        let mut given = Given::new();
        given.audit.expect_list().never();
        let service = given.service();

        let result = service
            .list_audit_events(actor(Role::Admin), an_audit_query(limit))
            .await;

        assert!(
            matches!(&result, Err(Error::Validation(errors)) if errors.0[0].field == "limit"),
            "limit {limit}: {result:?}"
        );
    }
}

#[tokio::test]
async fn the_audit_log_reports_an_unreachable_store_as_unavailable() {
    let mut given = Given::new();
    given
        .audit
        .expect_list()
        .returning(|_| Err(RepoError::Unavailable(anyhow::anyhow!("pool exhausted"))));
    let service = given.service();

    let result = service
        .list_audit_events(actor(Role::Admin), an_audit_query(10))
        .await;

    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
}

// ---------------------------------------------------------------------------------------------
// Changing a role (`PUT /users/{id}/role`)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_manager_may_not_change_a_role_even_to_the_same_one() {
    let target = user(Role::Authenticated);
    for role in [Role::Authenticated, Role::Anonymous, Role::Admin] {
        let mut given = Given::new();
        given.users.expect_find_by_id().never();
        given.users.expect_update().never();
        let service = given.service();

        let result = service
            .change_role(actor(Role::Manager), target.id, role)
            .await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn non_staff_may_not_change_a_role() {
    for role in NON_STAFF {
        let mut given = Given::new();
        given.users.expect_find_by_id().never();
        given.users.expect_update().never();
        let service = given.service();

        let result = service
            .change_role(actor(role), UserId::new(), Role::Admin)
            .await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn an_admin_changing_a_role_mails_the_user_and_records_one_role_changed_event() {
    let target = user(Role::Authenticated);
    let admin = actor(Role::Admin);
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    let user = service
        .change_role(admin, target.id, Role::Manager)
        .await
        .expect("changed");

    assert_eq!(user.role, Role::Manager);
    let update = updates.only();
    assert_eq!(update.role, Some(Role::Manager));
    assert_eq!(update.mails, vec![role_mail(&target, Role::Manager)]);
    assert_eq!(
        update.audit,
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
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = Spy::default();
    let spy = updates.clone();
    let unchanged = target.clone();
    given.users.expect_update().returning(move |_, changes| {
        spy.record(changes);
        Ok(unchanged.clone())
    });
    let service = given.service();

    let user = service
        .change_role(actor(Role::Admin), target.id, Role::Manager)
        .await
        .expect("answered");

    assert_eq!(user.role, Role::Manager);
    for update in updates.all() {
        assert_eq!(update.role, None);
        assert!(update.mails.is_empty(), "{:?}", update.mails);
        assert!(update.audit.is_empty(), "{:?}", update.audit);
    }
}

#[tokio::test]
async fn changing_the_role_of_the_last_admin_answers_last_admin() {
    let target = user(Role::Admin);
    let mut given = Given::new();
    given.stored_user(&target);
    given
        .users
        .expect_update()
        .times(1)
        .returning(|_, _| Err(RepoError::LastAdmin));
    let service = given.service();

    let result = service
        .change_role(actor(Role::Admin), target.id, Role::Authenticated)
        .await;

    // 409 at the API.
    assert!(matches!(result, Err(Error::LastAdmin)), "{result:?}");
}

#[tokio::test]
async fn changing_the_role_of_an_unknown_account_answers_user_not_found() {
    let mut given = Given::new();
    given.users.expect_find_by_id().returning(|_| Ok(None));
    given.users.expect_update().never();
    let service = given.service();

    let result = service
        .change_role(actor(Role::Admin), UserId::new(), Role::Manager)
        .await;

    assert!(matches!(result, Err(Error::UserNotFound)), "{result:?}");
}

// ---------------------------------------------------------------------------------------------
// Unlocking and deleting on behalf of staff, and what the audit log learns
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn non_staff_may_not_unlock_an_account() {
    for role in NON_STAFF {
        let mut given = Given::new();
        given.users.expect_find_by_id().never();
        given.users.expect_unlock().never();
        let service = given.service();

        let result = service.unlock_user(actor(role), UserId::new()).await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_manager_may_not_unlock_a_staff_account() {
    for role in [Role::Manager, Role::Admin] {
        let target = locked(user(role));
        let mut given = Given::new();
        given.stored_user(&target);
        given.users.expect_unlock().never();
        let service = given.service();

        let result = service.unlock_user(actor(Role::Manager), target.id).await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn unlocking_an_unknown_account_answers_user_not_found() {
    let mut given = Given::new();
    given.users.expect_find_by_id().returning(|_| Ok(None));
    given.users.expect_unlock().never();
    let service = given.service();

    let result = service.unlock_user(actor(Role::Admin), UserId::new()).await;

    assert!(matches!(result, Err(Error::UserNotFound)), "{result:?}");
}

#[tokio::test]
async fn staff_unlocking_an_account_hands_over_an_unlocked_event_naming_them() {
    for (staff, target_role) in [
        (Role::Manager, Role::Authenticated),
        (Role::Admin, Role::Manager),
    ] {
        let target = locked(user(target_role));
        let staff = actor(staff);
        let mut given = Given::new();
        given.stored_user(&target);
        let events = given.working_unlock(&target);
        let service = given.service();

        let user = service
            .unlock_user(staff, target.id)
            .await
            .expect("unlocked");

        assert!(!user.is_locked);
        assert_eq!(user.failed_login_attempts, 0);
        assert_eq!(events.only(), unlocked_event(Some(staff.id), target.id));
    }
}

/// The `user_deleted` event of `target` deleted by `actor`: who the account was.
fn deletion_event(actor: UserId, target: &User) -> AuditEvent {
    event(
        Some(actor),
        target.id,
        AuditKind::UserDeleted,
        vec![
            change("email", Some(target.email.as_str()), None),
            change("nickname", Some(target.nickname.as_str()), None),
            change("role", Some(target.role.as_str()), None),
        ],
    )
}

#[tokio::test]
async fn staff_deleting_an_account_record_who_it_was_and_who_deleted_it() {
    for (staff, target_role) in [
        (Role::Manager, Role::Anonymous),
        (Role::Admin, Role::Manager),
    ] {
        let target = user(target_role);
        let staff = actor(staff);
        let mut given = Given::new();
        given.stored_user(&target);
        let events = given.working_delete(target.id);
        let service = given.service();

        service
            .delete_user(staff, target.id)
            .await
            .expect("deleted");

        assert_eq!(events.only(), deletion_event(staff.id, &target));
    }
}

// ---------------------------------------------------------------------------------------------
// Updating accounts
// ---------------------------------------------------------------------------------------------

fn an_email_change(to: &str) -> AdminChanges {
    AdminChanges {
        email: Some(email(to)),
        ..AdminChanges::default()
    }
}

#[tokio::test]
async fn changing_the_email_unverifies_it_and_stores_a_new_token_in_the_same_update() {
    let target = user(Role::Anonymous);
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    service
        .update_user(
            actor(Role::Admin),
            target.id,
            an_email_change("ada@newmail.example"),
        )
        .await
        .expect("updated");

    let update = updates.only();
    assert_eq!(update.email, Some(email("ada@newmail.example")));
    assert_eq!(update.email_verified, Some(false));
    let token = update.verification_token.expect("a new verification token");
    assert_eq!(token.expires_at, now() + TimeDelta::minutes(90));
}

#[tokio::test]
async fn changing_the_email_queues_a_verification_link_to_the_new_address_in_the_update() {
    let target = user(Role::Anonymous);
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    service
        .update_user(
            actor(Role::Manager),
            target.id,
            an_email_change("ada@newmail.example"),
        )
        .await
        .expect("updated");

    let update = updates.only();
    let stored_token = update.verification_token.expect("a new verification token");
    let [mail, notice] = update.mails.as_slice() else {
        panic!("expected the link and the notice, got {:?}", update.mails);
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
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    service
        .update_user(
            actor(Role::Admin),
            target.id,
            AdminChanges {
                role: Some(Role::Manager),
                ..an_email_change("ada@newmail.example")
            },
        )
        .await
        .expect("updated");

    let update = updates.only();
    assert_eq!(update.role, Some(Role::Manager));
    let stored_token = update.verification_token.expect("a new verification token");
    let [link, notice, role_mail] = update.mails.as_slice() else {
        panic!("expected three mails, got {:?}", update.mails);
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
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    let user = service
        .update_user(
            actor(Role::Manager),
            target.id,
            an_email_change("ada@newmail.example"),
        )
        .await
        .expect("updated");

    assert_eq!(updates.only().role, Some(Role::Anonymous));
    assert_eq!(user.role, Role::Anonymous);
    assert!(!user.email_verified);
}

#[tokio::test]
async fn a_staff_account_whose_email_changes_keeps_its_role() {
    let target = user(Role::Manager);
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    service
        .update_user(
            actor(Role::Admin),
            target.id,
            an_email_change("ada@newmail.example"),
        )
        .await
        .expect("updated");

    let update = updates.only();
    assert_eq!(update.role, None);
    assert_eq!(update.email_verified, Some(false));
}

#[tokio::test]
async fn the_same_email_in_other_casing_is_not_a_change_of_address() {
    let target = user(Role::Authenticated);
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    service
        .update_user(
            actor(Role::Admin),
            target.id,
            an_email_change("Ada@Example.COM"),
        )
        .await
        .expect("updated");

    let update = updates.only();
    assert_eq!(update.email, Some(email("Ada@Example.COM")));
    assert_eq!(update.email_verified, None);
    assert_eq!(update.verification_token, None);
    assert_eq!(update.role, None);
    assert!(update.mails.is_empty(), "{:?}", update.mails);
}

#[tokio::test]
async fn changing_the_email_to_another_accounts_answers_email_taken() {
    let target = user(Role::Anonymous);
    let mut given = Given::new();
    given.stored_user(&target);
    given
        .users
        .expect_update()
        .returning(|_, _| Err(RepoError::EmailTaken));
    let service = given.service();

    let result = service
        .update_user(
            actor(Role::Admin),
            target.id,
            an_email_change("grace@example.com"),
        )
        .await;

    // 409, unlike the 400 "Email already exists" of registration.
    assert!(matches!(result, Err(Error::EmailTaken)), "{result:?}");
}

#[tokio::test]
async fn an_update_without_changes_is_a_validation_error_and_loads_nothing() {
    let mut given = Given::new();
    given.users.expect_find_by_id().never();
    given.users.expect_update().never();
    let service = given.service();

    let result = service
        .update_user(actor(Role::Admin), UserId::new(), AdminChanges::default())
        .await;

    assert!(matches!(result, Err(Error::Validation(_))), "{result:?}");
}

#[tokio::test]
async fn update_me_without_changes_is_a_validation_error() {
    let mut given = Given::new();
    given.users.expect_update().never();
    let service = given.service();

    let result = service
        .update_me(&user(Role::Authenticated), ProfileChanges::default())
        .await;

    assert!(matches!(result, Err(Error::Validation(_))), "{result:?}");
}

#[tokio::test]
async fn update_me_changes_only_the_profile_of_the_signed_in_account() {
    let me = user(Role::Authenticated);
    let mut given = Given::new();
    let updates = given.working_update(&me);
    let service = given.service();

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

    assert_eq!(
        updates.only(),
        UserChanges {
            nickname: Some(nickname("countess")),
            profile: ProfilePatch {
                bio: Patch::Clear,
                ..ProfilePatch::default()
            },
            ..UserChanges::default()
        }
    );
}

#[tokio::test]
async fn update_me_to_a_taken_nickname_answers_nickname_taken() {
    let me = user(Role::Authenticated);
    let mut given = Given::new();
    given
        .users
        .expect_update()
        .returning(|_, _| Err(RepoError::NicknameTaken));
    let service = given.service();

    let result = service
        .update_me(
            &me,
            ProfileChanges {
                nickname: Some(nickname("taken_name")),
                ..ProfileChanges::default()
            },
        )
        .await;

    assert!(matches!(result, Err(Error::NicknameTaken)), "{result:?}");
}

// -- What an edit tells the audit log ----------------------------------------------------------

/// The `user_updated` events of an update, their changes sorted by field.
fn user_updated_events(update: &UserChanges) -> Vec<AuditEvent> {
    update
        .audit
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
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    service
        .update_user(
            manager,
            target.id,
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
        .await
        .expect("updated");

    let update = updates.only();
    assert_eq!(update.audit.len(), 1, "{:?}", update.audit);
    assert_eq!(
        user_updated_events(&update),
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
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    service
        .update_user(
            actor(Role::Manager),
            target.id,
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
        .await
        .expect("updated");

    let update = updates.only();
    assert!(update.audit.is_empty(), "{:?}", update.audit);
    assert!(update.mails.is_empty(), "{:?}", update.mails);
}

#[tokio::test]
async fn a_role_change_with_an_edit_records_the_role_apart_from_the_other_fields() {
    let target = user(Role::Authenticated);
    let admin = actor(Role::Admin);
    let mut given = Given::new();
    given.stored_user(&target);
    let updates = given.working_update(&target);
    let service = given.service();

    service
        .update_user(
            admin,
            target.id,
            AdminChanges {
                role: Some(Role::Manager),
                ..a_nickname_change()
            },
        )
        .await
        .expect("updated");

    let update = updates.only();
    let role_events: Vec<&AuditEvent> = update
        .audit
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
        user_updated_events(&update),
        vec![event(
            Some(admin.id),
            target.id,
            AuditKind::UserUpdated,
            vec![change("nickname", Some("ada_lovelace"), Some("renamed"))],
        )]
    );
    assert_eq!(update.audit.len(), 2, "{:?}", update.audit);
}

// ---------------------------------------------------------------------------------------------
// Profile pictures
// ---------------------------------------------------------------------------------------------

mod pictures {
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
}

// ---------------------------------------------------------------------------------------------
// Nicknames, public profiles, the PRO upgrade and the rest of self-service
// ---------------------------------------------------------------------------------------------

mod profiles {
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

    // -- suggest_nicknames ---------------------------------------------------------------------

    #[tokio::test]
    async fn asking_for_no_suggestions_or_more_than_twenty_is_a_validation_error_on_count() {
        for count in [0, 21, 1000] {
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

        assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
    }

    // -- nickname_available and profile -----------------------------------------------------------

    #[tokio::test]
    async fn a_nickname_is_available_exactly_when_the_repository_says_it_is_not_taken() {
        for taken in [false, true] {
            let mut given = Given::new();
            given
                .users
                .expect_nickname_taken()
                .with(eq(nickname("Grace_H")))
                .times(1)
                .returning(move |_| Ok(taken));
            let service = given.service();

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
        let mut given = Given::new();
        let found = ada.clone();
        given
            .users
            .expect_find_by_nickname()
            .with(eq(nickname("ADA_lovelace")))
            .returning(move |_| Ok(Some(found.clone())));
        let service = given.service();

        let profile = service
            .profile(&nickname("ADA_lovelace"))
            .await
            .expect("found");

        assert_eq!(profile, ada);
    }

    #[tokio::test]
    async fn the_profile_of_an_unknown_nickname_is_user_not_found() {
        let mut given = Given::new();
        given
            .users
            .expect_find_by_nickname()
            .returning(|_| Ok(None));
        let service = given.service();

        let result = service.profile(&nickname("nobody_here")).await;

        assert!(matches!(result, Err(Error::UserNotFound)), "{result:?}");
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
        let mut given = Given::new();
        given.users.expect_set_professional().never();
        let service = given.service();

        let result = service.upgrade_to_pro(&me).await;

        assert!(
            matches!(result, Err(Error::AlreadyProfessional)),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn upgrading_an_incomplete_profile_answers_not_eligible_with_what_is_missing() {
        let me = unverified(user(Role::Anonymous));
        let mut given = Given::new();
        given.users.expect_set_professional().never();
        let service = given.service();

        let result = service.upgrade_to_pro(&me).await;

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
    }

    #[tokio::test]
    async fn a_locked_account_with_a_complete_profile_is_not_eligible_and_nothing_is_missing() {
        let me = locked(pro_ready());
        let mut given = Given::new();
        given.users.expect_set_professional().never();
        let service = given.service();

        let result = service.upgrade_to_pro(&me).await;

        assert!(
            matches!(&result, Err(Error::NotEligibleForPro(missing)) if missing.is_empty()),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn an_eligible_upgrade_sets_pro_at_the_current_time_and_queues_a_mail_to_the_user() {
        let me = pro_ready();
        let mut given = Given::new();
        let upgraded = professional(&me, true);
        let answer = upgraded.clone();
        given
            .users
            .expect_set_professional()
            .with(
                eq(me.id),
                eq(true),
                eq(now()),
                eq(pro_mail(&me, true)),
                mockall::predicate::always(),
            )
            .times(1)
            .returning(move |_, _, _, _, _| Ok(Some(answer.clone())));
        let service = given.service();

        let user = service.upgrade_to_pro(&me).await.expect("upgraded");

        assert_eq!(user, upgraded);
        assert!(user.is_professional);
        assert_eq!(user.professional_status_updated_at, Some(now()));
    }

    #[tokio::test]
    async fn an_upgrade_that_loses_the_race_to_another_answers_already_professional() {
        // The repository queues the mail only when the status really changes, so none goes
        // out for the lost race.
        let me = pro_ready();
        let mut given = Given::new();
        given
            .users
            .expect_set_professional()
            .times(1)
            .returning(|_, _, _, _, _| Ok(None));
        let service = given.service();

        let result = service.upgrade_to_pro(&me).await;

        assert!(
            matches!(result, Err(Error::AlreadyProfessional)),
            "{result:?}"
        );
    }

    // -- set_professional_status ------------------------------------------------------------------

    #[tokio::test]
    async fn non_staff_may_not_set_the_pro_status_and_nothing_is_loaded() {
        for role in [Role::Anonymous, Role::Authenticated] {
            let mut given = Given::new();
            given.users.expect_find_by_id().never();
            given.users.expect_set_professional().never();
            let service = given.service();

            let result = service
                .set_professional_status(actor(role), UserId::new(), true)
                .await;

            assert!(
                matches!(result, Err(Error::Forbidden)),
                "{role:?}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_manager_may_not_set_the_pro_status_of_an_admin() {
        let target = user(Role::Admin);
        let mut given = Given::new();
        given.stored_user(&target);
        given.users.expect_set_professional().never();
        let service = given.service();

        let result = service
            .set_professional_status(actor(Role::Manager), target.id, true)
            .await;

        assert!(matches!(result, Err(Error::Forbidden)), "{result:?}");
    }

    #[tokio::test]
    async fn setting_the_pro_status_of_an_unknown_account_answers_user_not_found() {
        let mut given = Given::new();
        given.users.expect_find_by_id().returning(|_| Ok(None));
        given.users.expect_set_professional().never();
        let service = given.service();

        let result = service
            .set_professional_status(actor(Role::Admin), UserId::new(), true)
            .await;

        assert!(matches!(result, Err(Error::UserNotFound)), "{result:?}");
    }

    #[tokio::test]
    async fn staff_grant_pro_to_an_incomplete_profile_and_a_mail_to_the_user_is_queued() {
        // Unverified, no bio, picture or links: far from eligible on its own.
        let target = unverified(user(Role::Anonymous));
        assert!(!crate::model::ProUpgrade::assess(&target).eligible);
        let mut given = Given::new();
        given.stored_user(&target);
        let granted = professional(&target, true);
        let answer = granted.clone();
        given
            .users
            .expect_set_professional()
            .with(
                eq(target.id),
                eq(true),
                eq(now()),
                eq(pro_mail(&target, true)),
                mockall::predicate::always(),
            )
            .times(1)
            .returning(move |_, _, _, _, _| Ok(Some(answer.clone())));
        let service = given.service();

        let user = service
            .set_professional_status(actor(Role::Manager), target.id, true)
            .await
            .expect("granted");

        assert_eq!(user, granted);
    }

    #[tokio::test]
    async fn staff_revoking_pro_queues_a_mail_telling_the_user_that_it_is_gone() {
        let mut target = pro_ready();
        target.is_professional = true;
        target.professional_status_updated_at = Some(now() - TimeDelta::days(3));
        let mut given = Given::new();
        given.stored_user(&target);
        let revoked = professional(&target, false);
        let answer = revoked.clone();
        given
            .users
            .expect_set_professional()
            .with(
                eq(target.id),
                eq(false),
                eq(now()),
                eq(pro_mail(&target, false)),
                mockall::predicate::always(),
            )
            .times(1)
            .returning(move |_, _, _, _, _| Ok(Some(answer.clone())));
        let service = given.service();

        let user = service
            .set_professional_status(actor(Role::Admin), target.id, false)
            .await
            .expect("revoked");

        assert!(!user.is_professional);
    }

    #[tokio::test]
    async fn setting_the_pro_status_an_account_has_already_returns_it_unwritten_and_unmailed() {
        let mut pro = user(Role::Authenticated);
        pro.is_professional = true;
        for (target, status) in [(user(Role::Authenticated), false), (pro, true)] {
            let mut given = Given::new();
            given.stored_user(&target);
            given.users.expect_set_professional().never();
            let service = given.service();

            let result = service
                .set_professional_status(actor(Role::Admin), target.id, status)
                .await;

            assert_eq!(result.expect("answered"), target);
        }
    }

    #[tokio::test]
    async fn a_status_change_that_another_request_made_first_answers_with_the_stored_account() {
        let target = user(Role::Authenticated);
        let now_pro = professional(&target, true);
        let mut given = Given::new();
        let mut seq = mockall::Sequence::new();
        let before = target.clone();
        given
            .users
            .expect_find_by_id()
            .with(eq(target.id))
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(before.clone())));
        given
            .users
            .expect_set_professional()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _, _, _| Ok(None));
        let after = now_pro.clone();
        given
            .users
            .expect_find_by_id()
            .with(eq(target.id))
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(after.clone())));
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
        let mut given = Given::new();
        given.a_password_that_is(false);
        // Counted like a wrong password at login.
        given.a_failed_login_of(
            &me,
            FailedLogin::Counted {
                attempts: 1,
                locked: false,
            },
        );
        given.hasher.expect_hash().never();
        given.users.expect_set_password_hash().never();
        let service = given.service();

        let result = service
            .change_password(
                &me,
                secret("Wr0ng*Pass"),
                Password::parse("N3w*Secure").expect("a valid password"),
            )
            .await;

        assert!(
            matches!(result, Err(Error::IncorrectPassword)),
            "{result:?}"
        );
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
        given
            .users
            .expect_set_password_hash()
            .withf({
                let me = me.clone();
                move |id, hash, notice| {
                    *id == me.id
                        && *hash == fresh_hash()
                        && notice.as_ref().is_some_and(|mail| {
                            mail.to == me.email && mail.kind == MailKind::PasswordChanged
                        })
                }
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let service = given.service();

        service
            .change_password(
                &me,
                secret("Curr3nt*Pass"),
                Password::parse("N3w*Secure").expect("a valid password"),
            )
            .await
            .expect("changed");

        assert_eq!(hashed.only(), "N3w*Secure");
    }

    // -- delete_me ---------------------------------------------------------------------------------

    #[tokio::test]
    async fn deleting_myself_with_a_wrong_password_answers_incorrect_password_and_deletes_nothing()
    {
        let me = user(Role::Authenticated);
        let mut given = Given::new();
        given.a_password_that_is(false);
        let notices = given.a_failed_login_of(
            &me,
            FailedLogin::Counted {
                attempts: 3,
                locked: true,
            },
        );
        given.users.expect_delete().never();
        given.store.expect_delete().never();
        let service = given.service();

        let result = service.delete_me(&me, secret("Wr0ng*Pass")).await;

        assert!(
            matches!(result, Err(Error::IncorrectPassword)),
            "{result:?}"
        );
        // The guess that reaches the limit locks, with the unlock email ready, as at login.
        let notice = notices.only();
        assert!(
            matches!(notice.mail.kind, MailKind::AccountLocked { .. }),
            "{:?}",
            notice.mail.kind
        );
    }

    #[tokio::test]
    async fn deleting_myself_removes_the_account_and_its_picture_objects() {
        let me = pro_ready();
        let picture = me.picture.clone().expect("a picture");
        let mut given = Given::new();
        given.a_password_that_is(true);
        let returned = picture.clone();
        given
            .users
            .expect_delete()
            .with(eq(me.id), mockall::predicate::always())
            .times(1)
            .returning(move |_, _| Ok(Some(returned.clone())));
        let deleted = Spy::<String>::default();
        let spy = deleted.clone();
        given.store.expect_delete().times(2).returning(move |key| {
            spy.record(key.to_string());
            Ok(())
        });
        let service = given.service();

        service
            .delete_me(&me, secret("Curr3nt*Pass"))
            .await
            .expect("deleted");

        assert_eq!(
            deleted.all(),
            vec![picture.main.to_string(), picture.thumbnail.to_string()]
        );
    }

    #[tokio::test]
    async fn deleting_myself_without_a_picture_touches_no_object() {
        let me = user(Role::Authenticated);
        let mut given = Given::new();
        given.a_password_that_is(true);
        given
            .users
            .expect_delete()
            .times(1)
            .returning(|_, _| Ok(None));
        given.store.expect_delete().never();
        let service = given.service();

        service
            .delete_me(&me, secret("Curr3nt*Pass"))
            .await
            .expect("deleted");
    }

    #[tokio::test]
    async fn the_last_admin_deleting_itself_answers_last_admin() {
        let me = user(Role::Admin);
        let mut given = Given::new();
        given.a_password_that_is(true);
        given
            .users
            .expect_delete()
            .times(1)
            .returning(|_, _| Err(RepoError::LastAdmin));
        given.store.expect_delete().never();
        let service = given.service();

        let result = service.delete_me(&me, secret("Curr3nt*Pass")).await;

        assert!(matches!(result, Err(Error::LastAdmin)), "{result:?}");
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
        let mut given = Given::new();
        let upgraded = professional(&me, true);
        given
            .users
            .expect_set_professional()
            .with(
                eq(me.id),
                eq(true),
                eq(now()),
                eq(pro_mail(&me, true)),
                eq(pro_event(me.id, me.id, false, true)),
            )
            .times(1)
            .returning(move |_, _, _, _, _| Ok(Some(upgraded.clone())));
        let service = given.service();

        service.upgrade_to_pro(&me).await.expect("upgraded");
    }

    #[tokio::test]
    async fn a_pro_status_change_by_staff_records_them_as_the_actor() {
        let mut pro = pro_ready();
        pro.is_professional = true;
        for (target, status, staff) in [
            (user(Role::Authenticated), true, actor(Role::Manager)),
            (pro, false, actor(Role::Admin)),
        ] {
            let mut given = Given::new();
            given.stored_user(&target);
            let answer = professional(&target, status);
            given
                .users
                .expect_set_professional()
                .with(
                    eq(target.id),
                    eq(status),
                    eq(now()),
                    eq(pro_mail(&target, status)),
                    eq(pro_event(staff.id, target.id, !status, status)),
                )
                .times(1)
                .returning(move |_, _, _, _, _| Ok(Some(answer.clone())));
            let service = given.service();

            let user = service
                .set_professional_status(staff, target.id, status)
                .await
                .expect("changed");

            assert_eq!(user.is_professional, status);
        }
    }

    #[tokio::test]
    async fn deleting_myself_records_who_i_was_with_myself_as_the_actor() {
        let me = user(Role::Manager);
        let mut given = Given::new();
        given.a_password_that_is(true);
        let events = given.working_delete(me.id);
        let service = given.service();

        service
            .delete_me(&me, secret("Curr3nt*Pass"))
            .await
            .expect("deleted");

        assert_eq!(events.only(), deletion_event(me.id, &me));
    }
}

// ---------------------------------------------------------------------------------------------
// The command line: create-admin, set-role, unlock
// ---------------------------------------------------------------------------------------------

mod command_line {
    use super::*;

    #[tokio::test]
    async fn create_admin_inserts_a_verified_admin_without_a_verification_link() {
        let mut given = Given::new();
        let inserted = given.a_free_email_and_working_insert();
        let service = given.service();

        let user = service
            .create_admin(registration_with_nickname("Grace_H"))
            .await
            .expect("created");

        let new = inserted.only();
        assert_eq!(new.role, Role::Admin);
        assert!(new.email_verified);
        assert!(!new.promote_if_first);
        assert_eq!(new.verification_token, None);
        assert_eq!(new.verification_mail, None);
        assert_eq!(new.email, email("grace@example.com"));
        assert_eq!(new.nickname, nickname("Grace_H"));
        assert_eq!(new.password_hash, fresh_hash());
        assert_eq!(new.created_at, now());
        assert_eq!(user.role, Role::Admin);
        assert!(user.email_verified);
    }

    #[tokio::test]
    async fn create_admin_without_a_nickname_gets_a_free_generated_one() {
        let mut given = Given::new();
        let inserted = given.a_free_email_and_working_insert();
        let service = given.service();

        let user = service.create_admin(registration()).await.expect("created");

        assert_eq!(inserted.only().nickname, user.nickname);
    }

    #[tokio::test]
    async fn create_admin_hashes_the_given_password() {
        let mut given = Given::new();
        given.users.expect_find_by_email().returning(|_| Ok(None));
        given.users.expect_nickname_taken().returning(|_| Ok(false));
        given
            .hasher
            .expect_hash()
            .withf(|password| password.expose_secret() == "Secur3*Pass")
            .times(1)
            .returning(|_| Ok(fresh_hash()));
        given
            .users
            .expect_insert()
            .times(1)
            .returning(|new| Ok(stored(&new)));
        let service = given.service();

        service.create_admin(registration()).await.expect("created");
    }

    #[tokio::test]
    async fn create_admin_with_a_taken_email_answers_email_exists_and_inserts_nothing() {
        let mut given = Given::new();
        given
            .users
            .expect_find_by_email()
            .with(eq(email("grace@example.com")))
            .returning(|_| Ok(Some(user(Role::Authenticated))));
        given.hasher.expect_hash().never();
        given.users.expect_insert().never();
        let service = given.service();

        let result = service.create_admin(registration()).await;

        assert!(matches!(result, Err(Error::EmailExists)), "{result:?}");
    }

    #[tokio::test]
    async fn create_admin_losing_the_email_race_at_insert_answers_email_exists() {
        let mut given = Given::new();
        given.users.expect_find_by_email().returning(|_| Ok(None));
        given.users.expect_nickname_taken().returning(|_| Ok(false));
        given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
        given
            .users
            .expect_insert()
            .times(1)
            .returning(|_| Err(RepoError::EmailTaken));
        let service = given.service();

        let result = service.create_admin(registration()).await;

        assert!(matches!(result, Err(Error::EmailExists)), "{result:?}");
    }

    #[tokio::test]
    async fn set_role_for_an_unknown_email_answers_user_not_found() {
        let mut given = Given::new();
        given.users.expect_find_by_email().returning(|_| Ok(None));
        given.users.expect_update().never();
        let service = given.service();

        let result = service
            .set_role_by_email(&email("nobody@example.com"), Role::Admin)
            .await;

        assert!(matches!(result, Err(Error::UserNotFound)), "{result:?}");
    }

    #[tokio::test]
    async fn set_role_to_the_role_an_account_has_writes_nothing() {
        let account = user(Role::Manager);
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        given.users.expect_update().never();
        let service = given.service();

        let user = service
            .set_role_by_email(&account.email, Role::Manager)
            .await
            .expect("answered");

        assert_eq!(user, account);
    }

    #[tokio::test]
    async fn set_role_changes_the_role_mails_the_user_and_records_an_event_by_no_one() {
        let account = user(Role::Authenticated);
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        let updates = given.working_update(&account);
        let service = given.service();

        let user = service
            .set_role_by_email(&account.email, Role::Admin)
            .await
            .expect("changed");

        assert_eq!(user.role, Role::Admin);
        let update = updates.only();
        assert_eq!(
            update,
            UserChanges {
                role: Some(Role::Admin),
                mails: vec![role_mail(&account, Role::Admin)],
                audit: vec![role_changed_event(
                    None,
                    account.id,
                    Role::Authenticated,
                    Role::Admin
                )],
                ..UserChanges::default()
            }
        );
    }

    #[tokio::test]
    async fn set_role_demoting_the_last_admin_answers_last_admin() {
        let account = user(Role::Admin);
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        given
            .users
            .expect_update()
            .times(1)
            .returning(|_, _| Err(RepoError::LastAdmin));
        let service = given.service();

        let result = service
            .set_role_by_email(&account.email, Role::Authenticated)
            .await;

        assert!(matches!(result, Err(Error::LastAdmin)), "{result:?}");
    }

    #[tokio::test]
    async fn unlock_by_email_lifts_the_lock_with_an_unlocked_event_by_no_one() {
        let account = locked(user(Role::Authenticated));
        let mut given = Given::new();
        given.an_account_found_by_email(&account);
        let events = given.working_unlock(&account);
        let service = given.service();

        let user = service
            .unlock_by_email(&account.email)
            .await
            .expect("unlocked");

        assert!(!user.is_locked);
        assert_eq!(events.only(), unlocked_event(None, account.id));
    }

    #[tokio::test]
    async fn unlock_by_email_for_an_unknown_email_answers_user_not_found() {
        let mut given = Given::new();
        given.users.expect_find_by_email().returning(|_| Ok(None));
        given.users.expect_unlock().never();
        let service = given.service();

        let result = service.unlock_by_email(&email("nobody@example.com")).await;

        assert!(matches!(result, Err(Error::UserNotFound)), "{result:?}");
    }
}

fn bearer_of(user: &User) -> String {
    format!("bearer.of.{}", user.id.0)
}

#[tokio::test]
async fn reading_through_a_token_loads_caller_and_account_in_one_round_trip() {
    for (caller_role, target_role) in [
        (Role::Admin, Role::Admin),
        (Role::Admin, Role::Manager),
        (Role::Admin, Role::Anonymous),
        (Role::Manager, Role::Authenticated),
        (Role::Manager, Role::Anonymous),
    ] {
        let caller = user(caller_role);
        let target = user(target_role);
        let mut given = Given::new();
        given.bearer_tokens();
        given.stored_accounts(&[&caller, &target]);
        let service = given.service();

        let read = service.get_user_for(&bearer_of(&caller), target.id).await;

        assert_eq!(
            read.ok(),
            Some(target),
            "{caller_role} reading {target_role}"
        );
    }
}

#[tokio::test]
async fn reading_oneself_through_a_token_needs_staff_and_returns_oneself() {
    for (role, readable) in [
        (Role::Admin, true),
        (Role::Manager, false),
        (Role::Authenticated, false),
    ] {
        let caller = user(role);
        let mut given = Given::new();
        given.bearer_tokens();
        given.stored_accounts(&[&caller]);
        let service = given.service();

        let read = service.get_user_for(&bearer_of(&caller), caller.id).await;

        if readable {
            assert_eq!(read.ok(), Some(caller), "{role}");
        } else {
            assert!(matches!(read, Err(Error::Forbidden)), "{role}: {read:?}");
        }
    }
}

#[tokio::test]
async fn reading_through_a_token_refuses_as_the_two_step_path_does() {
    let admin = user(Role::Admin);
    let manager = user(Role::Manager);
    let plain = user(Role::Authenticated);
    let locked_admin = locked(user(Role::Admin));
    let deleted_admin = user(Role::Admin);
    let unknown = user(Role::Anonymous);
    type Expected = fn(&Error) -> bool;
    let cases: [(&str, &User, &User, Expected); 5] = [
        ("locked caller", &locked_admin, &plain, |e| {
            matches!(e, Error::Unauthenticated)
        }),
        ("deleted caller", &deleted_admin, &plain, |e| {
            matches!(e, Error::Unauthenticated)
        }),
        ("non-staff, unknown target", &plain, &unknown, |e| {
            matches!(e, Error::Forbidden)
        }),
        ("manager on an admin", &manager, &admin, |e| {
            matches!(e, Error::Forbidden)
        }),
        ("unknown target", &admin, &unknown, |e| {
            matches!(e, Error::UserNotFound)
        }),
    ];
    for (case, caller, target, expected) in cases {
        let mut given = Given::new();
        given.bearer_tokens();
        given.stored_accounts(&[&admin, &manager, &plain, &locked_admin]);
        let service = given.service();

        let read = service.get_user_for(&bearer_of(caller), target.id).await;

        assert!(read.as_ref().is_err_and(expected), "{case}: {read:?}");
    }
}

#[tokio::test]
async fn reading_through_a_bad_token_asks_no_repository() {
    let target = user(Role::Anonymous);
    let mut given = Given::new();
    given.bearer_tokens();
    given.users.expect_find_both().never();
    given.users.expect_find_by_id().never();
    let service = given.service();

    let read = service.get_user_for("forged", target.id).await;

    assert!(matches!(read, Err(Error::Unauthenticated)), "{read:?}");
}
