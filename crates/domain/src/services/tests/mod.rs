//! Unit tests of the use cases, one file per family.
//!
//! Each test arranges the ports through a [`Given`] builder, acts on the [`UserService`] it
//! builds, and asserts on the answer and on what reached the ports. Where the repository's
//! answers are what matters, the service runs over an [`InMemoryRepository`]
//! ([`Given::service_over`]), which keeps the ports' rules (the contract suite holds it to them),
//! and the test asserts on the state it ends in: the account, its tokens, the queued emails and
//! the audit log. The mocked repository is kept for failures (`Unavailable`), races that an
//! honest repository cannot be made to lose, and proofs that something is never called. Values
//! that reach a mock are caught with a [`Spy`] where the assertion reads better after the act
//! than inside a `withf`.

/// Asserts that `$result` is `Err` matching `$error`, showing the result (and `$context`) if not.
macro_rules! assert_err {
    ($result:expr, $error:pat) => {{
        let result = &$result;
        assert!(matches!(result, Err($error)), "{result:?}");
    }};
    ($result:expr, $error:pat, $context:expr) => {{
        let result = &$result;
        assert!(matches!(result, Err($error)), "{}: {result:?}", $context);
    }};
}

mod accounts;
mod admin;
mod command_line;
mod listing;
mod login;
mod pictures;
mod profiles;
mod recovery;
mod roles;
mod sessions;
mod users;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use mockall::predicate::eq;
use secrecy::{ExposeSecret, SecretString};

use super::{
    AdminChanges, LoginSuccess, Ports, ProfileChanges, Registration, Settings, UserService,
};
use crate::{
    authz::Actor,
    error::Error,
    model::{
        AuditChange, AuditEvent, AuditKind, ClientInfo, Email, Name, Nickname, Password,
        PasswordHash, Patch, Profile, ProfilePatch, RawToken, RefreshToken, Role, SessionId, User,
        UserId,
    },
    ports::{
        AccessToken, AuditLog, AuditQuery, EndSessions, FailedLogin, LockNotice, Mail, MailKind,
        MockAuditLog, MockClock, MockObjectStore, MockPasswordHasher, MockPictureProcessor,
        MockSessionRepository, MockTokenIssuer, MockUserRepository, NewUser, Page, PendingToken,
        RepoError, SessionRepository, TokenError, TokenHolder, UserChanges, UserFilter, UserQuery,
        UserRepository, UserSort,
    },
    test_support::InMemoryRepository,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The session of the bearer token `bearer.of.<id>` ([`Given::bearer_tokens`]), which
/// [`stored_in_memory`] starts for every account it stores.
fn session_of(id: UserId) -> SessionId {
    SessionId(id.0)
}

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

/// A stored account of `role` like [`user`], with its own email `<handle>@example.com` and
/// nickname `<handle>`, so that several can be stored together.
fn user_called(role: Role, handle: &str) -> User {
    User {
        email: email(&format!("{handle}@example.com")),
        nickname: nickname(handle),
        ..user(role)
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

const NON_STAFF: [Role; 2] = [Role::Anonymous, Role::Authenticated];

fn a_nickname_change() -> AdminChanges {
    AdminChanges {
        profile: ProfileChanges {
            nickname: Some(nickname("renamed")),
            ..ProfileChanges::default()
        },
        ..AdminChanges::default()
    }
}

/// A listing of every account, `limit` of them from `skip` on, in the default order.
fn page_of(skip: u64, limit: u64) -> UserQuery {
    UserQuery {
        skip,
        limit,
        ..UserQuery::default()
    }
}

fn an_audit_query(limit: u64) -> AuditQuery {
    AuditQuery {
        skip: 40,
        limit,
        user_id: Some(UserId::new()),
        kind: Some(AuditKind::RoleChanged),
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
    sessions: MockSessionRepository,
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
            sessions: MockSessionRepository::new(),
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
                session_ttl: TimeDelta::days(12),
            },
        }
    }

    /// The service over the mocked repository and audit log.
    fn service(self) -> UserService {
        let Self {
            users,
            sessions,
            hasher,
            tokens,
            store,
            pictures,
            audit,
            settings,
        } = self;
        build(
            (users, sessions, audit),
            hasher,
            tokens,
            store,
            pictures,
            settings,
        )
    }

    /// The service over `repo`, an in-memory repository and audit log that keep the ports'
    /// rules, instead of the mocked ones (which must have no expectations).
    fn service_over(self, repo: &InMemoryRepository) -> UserService {
        let Self {
            hasher,
            tokens,
            store,
            pictures,
            settings,
            ..
        } = self;
        build(
            (repo.clone(), repo.clone(), repo.clone()),
            hasher,
            tokens,
            store,
            pictures,
            settings,
        )
    }

    // Arrangements that many tests share.

    /// `accounts` are stored, and are the only ones, each signed in with its session
    /// [`session_of`] alive: one `session_user_and` call is expected, and no `find_by_id`.
    fn stored_accounts(&mut self, accounts: &[&User]) {
        let stored: Vec<User> = accounts.iter().map(|&u| u.clone()).collect();
        self.users.expect_find_by_id().never();
        self.sessions.expect_session_user_and().times(1).returning(
            move |caller, session, other| {
                let find = |id| stored.iter().find(|u| u.id == id).cloned();
                let caller = find(caller).filter(|u| session == session_of(u.id));
                Ok((caller, find(other)))
            },
        );
    }

    /// The token `bearer.of.<id>` verifies to `id` in the session [`session_of`] it; any other
    /// token is invalid.
    fn bearer_tokens(&mut self) {
        self.tokens.expect_verify().returning(|bearer| {
            bearer
                .strip_prefix("bearer.of.")
                .and_then(|id| id.parse().ok())
                .map(|id| TokenHolder {
                    user: UserId(id),
                    session: SessionId(id),
                })
                .ok_or(TokenError::Invalid)
        });
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

    /// The successful login of `account` is recorded, a session started and a token issued
    /// for it.
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
        let owner = account.id;
        self.sessions
            .expect_start()
            .withf(move |s| s.user_id == owner && s.created_at == now())
            .times(1)
            .returning(|_| Ok(()));
        self.an_issued_token();
    }

    /// The email and any nickname are free and the password hashes, but the one insert fails
    /// with `error`: a race lost between the checks and the insert.
    fn an_insert_that_fails_with(&mut self, error: fn() -> RepoError) {
        self.users.expect_find_by_email().returning(|_| Ok(None));
        self.users.expect_nickname_taken().returning(|_| Ok(false));
        self.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
        self.users
            .expect_insert()
            .times(1)
            .returning(move |_| Err(error()));
    }

    /// One access token is issued, `signed.jwt.token`.
    fn an_issued_token(&mut self) {
        self.tokens.expect_issue().times(1).returning(|_, _, _, _| {
            Ok(AccessToken {
                token: "signed.jwt.token".to_owned(),
                expires_in: 1800,
            })
        });
    }
}

/// The service over `users` and `audit`, with the other ports mocked. The clock always answers
/// [`now`].
fn build(
    (users, sessions, audit): (
        impl UserRepository + 'static,
        impl SessionRepository + 'static,
        impl AuditLog + 'static,
    ),
    mut hasher: MockPasswordHasher,
    tokens: MockTokenIssuer,
    store: MockObjectStore,
    pictures: MockPictureProcessor,
    settings: Settings,
) -> UserService {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(now());
    // Stored hashes are current unless a test says otherwise. Expectations are matched in
    // the order they were set, so one set by the test comes first. (Mockall skips a
    // saturated expectation when another exists, so `expect_needs_rehash().never()` would
    // fall through to this one: forbid the re-hash through `hash`/`set_password_hash`.)
    hasher.expect_needs_rehash().return_const(false);
    UserService::new(
        Ports {
            users: Arc::new(users),
            sessions: Arc::new(sessions),
            hasher: Arc::new(hasher),
            tokens: Arc::new(tokens),
            clock: Arc::new(clock),
            store: Arc::new(store),
            pictures: Arc::new(pictures),
            audit: Arc::new(audit),
        },
        settings,
    )
}

/// An in-memory repository holding `accounts` as they are, each signed in with its session
/// [`session_of`] (alive for a day from [`now`]).
fn stored_in_memory(accounts: &[&User]) -> InMemoryRepository {
    let repo = InMemoryRepository::new();
    for account in accounts {
        repo.put((*account).clone());
        repo.put_session(
            session_of(account.id),
            account.id,
            now(),
            TimeDelta::days(1),
        );
    }
    repo
}

/// `raw` as a token that works until `expires_at`.
fn token_until(raw: &str, expires_at: DateTime<Utc>) -> PendingToken {
    PendingToken {
        hash: RawToken::from_client(raw).hash(),
        expires_at,
    }
}

/// What a repository that cannot be reached answers.
fn unavailable() -> RepoError {
    RepoError::Unavailable(anyhow::anyhow!("pool exhausted"))
}

/// Asserts that no email was queued in `repo`.
fn assert_no_mail(repo: &InMemoryRepository) {
    assert!(repo.mails().is_empty(), "{:?}", repo.mails());
}

/// Asserts that `repo`'s audit log is empty.
fn assert_no_audit(repo: &InMemoryRepository) {
    assert!(repo.audit_events().is_empty(), "{:?}", repo.audit_events());
}

/// `actor` makes `changes` to the account `target` through a service over `repo`.
async fn update_in(
    repo: &InMemoryRepository,
    actor: Actor,
    target: UserId,
    changes: AdminChanges,
) -> Result<User, Error> {
    Given::new()
        .service_over(repo)
        .update_user(actor, target, changes)
        .await
}

/// Stores `target` alone in memory and has `actor` make `changes` to it: the repository
/// and the answer.
async fn update_alone(
    target: &User,
    actor: Actor,
    changes: AdminChanges,
) -> (InMemoryRepository, Result<User, Error>) {
    let repo = stored_in_memory(&[target]);
    let answer = update_in(&repo, actor, target.id, changes).await;
    (repo, answer)
}

/// Asserts that each of `roles` is refused with `Forbidden` by `act`, run as that role on a
/// service whose mocked ports have no expectations: any load or write would fail the test.
async fn assert_forbidden_untouched<T: std::fmt::Debug>(
    roles: &[Role],
    act: impl AsyncFn(UserService, Role) -> Result<T, Error>,
) {
    for &role in roles {
        let result = act(Given::new().service(), role).await;
        assert_err!(result, Error::Forbidden, role);
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
