//! Registration, email verification, login with lockout, and bearer-token authentication.

use secrecy::SecretString;

use super::{Registration, UserService, mail_to};
use crate::{
    error::Error,
    model::{
        AuditChange, AuditEvent, AuditKind, ClientInfo, Email, Nickname, RawToken, RefreshToken,
        Role, SessionId, User, UserId, generate_nickname,
    },
    ports::{
        AccessToken, EndSessions, FailedLogin, LockNotice, Mail, MailKind, NewUser, RepoError,
        TokenHolder,
    },
};

/// How many generated nicknames are tried before giving up; with ~690 million possible names
/// even one retry is rare.
const NICKNAME_TRIES: usize = 10;

/// A successful login or refresh: the tokens and the account they were issued for.
#[derive(Debug, Clone)]
pub struct LoginSuccess {
    pub access: AccessToken,
    /// The session's new refresh token, handed to the client once.
    pub refresh: RefreshToken,
    /// Seconds until the session ends however often it is refreshed.
    pub refresh_expires_in: i64,
    pub user: User,
}

/// The caller of a request: the account behind a valid bearer token, loaded fresh, and the
/// session the token belongs to, alive.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub session: SessionId,
}

impl UserService {
    /// Counts a wrong password of `user`, whether given to log in or to confirm a change of
    /// one's own account (`PUT /me/password`, `DELETE /me`): both are guesses. The failure that
    /// reaches `MAX_LOGIN_ATTEMPTS` locks the account and queues the "account locked" email.
    ///
    /// # Errors
    /// `Unavailable`, `Internal`.
    pub(crate) async fn count_failed_password(&self, user: &User) -> Result<FailedLogin, Error> {
        // Only stored if this very failure locks the account.
        let (unlock_token, pending) = self.new_token(self.settings.unlock_ttl);
        let on_lock = LockNotice {
            unlock_token: pending,
            mail: mail_to(user, MailKind::AccountLocked { unlock_token }),
            audit: AuditEvent {
                actor: None,
                target: user.id,
                kind: AuditKind::Locked,
                changes: vec![AuditChange::new(
                    "is_locked",
                    Some("false".into()),
                    Some("true".into()),
                )],
            },
            // A lock ends every session: an unlock later does not bring them back.
            end_sessions: EndSessions::All,
        };
        let outcome = self
            .ports
            .users
            .record_failed_login(user.id, self.settings.max_login_attempts, on_lock)
            .await?;
        if matches!(outcome, FailedLogin::Counted { locked: true, .. }) {
            tracing::warn!(user_id = %user.id, "account locked after wrong passwords");
        }
        Ok(outcome)
    }

    /// Registers an account. The first account ever becomes a verified ADMIN (when the setting
    /// is on); every other one starts ANONYMOUS and is sent a verification link.
    ///
    /// # Errors
    /// `EmailExists` (400), `NicknameTaken` (409), `Unavailable`, `Internal`.
    pub async fn register(&self, registration: Registration) -> Result<User, Error> {
        self.create_account(
            registration,
            Role::Anonymous,
            self.settings.first_user_is_admin,
        )
        .await
    }

    /// Shared by registration and administrative creation.
    pub(super) async fn create_account(
        &self,
        reg: Registration,
        role: Role,
        promote_if_first: bool,
    ) -> Result<User, Error> {
        // Cheap checks first, so that a taken email costs no password hash. The unique
        // indexes still decide races.
        if self.ports.users.find_by_email(&reg.email).await?.is_some() {
            return Err(Error::EmailExists);
        }
        if let Some(nickname) = &reg.nickname
            && self.ports.users.nickname_taken(nickname).await?
        {
            return Err(Error::NicknameTaken);
        }
        let password_hash = self.hash_password(&reg.password).await?;
        let (token, pending) = self.new_token(self.settings.verification_ttl);
        let now = self.ports.clock.now();
        let id = UserId::new();

        let mut tries = 0;
        let user = loop {
            let nickname = match &reg.nickname {
                Some(n) => n.clone(),
                None => self.free_nickname().await?,
            };
            let verification_mail = Mail {
                to: reg.email.clone(),
                greeting_name: nickname.to_string(),
                kind: MailKind::VerifyEmail {
                    user_id: id,
                    token: token.clone(),
                },
            };
            let new = NewUser {
                id,
                email: reg.email.clone(),
                nickname,
                profile: reg.profile.clone(),
                password_hash: password_hash.clone(),
                role,
                email_verified: false,
                promote_if_first,
                verification_token: Some(pending.clone()),
                verification_mail: Some(verification_mail),
                created_at: now,
            };
            match self.ports.users.insert(new).await {
                Ok(user) => break user,
                // A generated nickname taken between the check and the insert: draw again.
                Err(RepoError::NicknameTaken) if reg.nickname.is_none() => {
                    tries += 1;
                    if tries > 3 {
                        return Err(Error::Internal(anyhow::anyhow!(
                            "generated nicknames kept colliding on insert"
                        )));
                    }
                }
                Err(RepoError::EmailTaken) => return Err(Error::EmailExists),
                Err(e) => return Err(e.into()),
            }
        };

        if user.email_verified {
            tracing::info!(user_id = %user.id, role = %user.role, "first account created as ADMIN");
        }
        Ok(user)
    }

    /// A generated nickname that no account has right now.
    ///
    /// # Errors
    /// `Internal` when every try was taken (the word lists would have to be exhausted).
    pub async fn free_nickname(&self) -> Result<Nickname, Error> {
        for _ in 0..NICKNAME_TRIES {
            let candidate = generate_nickname();
            if !self.ports.users.nickname_taken(&candidate).await? {
                return Ok(candidate);
            }
        }
        Err(Error::Internal(anyhow::anyhow!(
            "no free nickname in {NICKNAME_TRIES} tries"
        )))
    }

    /// Uses a verification link: the email becomes verified and an ANONYMOUS account
    /// AUTHENTICATED.
    ///
    /// # Errors
    /// `InvalidVerificationToken` for a wrong, used or expired token or an unknown user.
    pub async fn verify_email(&self, user_id: UserId, token: &str) -> Result<User, Error> {
        let hash = RawToken::from_client(token).hash();
        self.ports
            .users
            .verify_email(user_id, hash, self.ports.clock.now())
            .await?
            .ok_or(Error::InvalidVerificationToken)
    }

    /// Sends a fresh verification link to an unverified account. Says nothing about whether
    /// the account exists.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` only.
    pub async fn resend_verification(&self, email: &Email) -> Result<(), Error> {
        let Some(user) = self.ports.users.find_by_email(email).await? else {
            return Ok(());
        };
        if user.email_verified {
            return Ok(());
        }
        let (token, pending) = self.new_token(self.settings.verification_ttl);
        let mail = mail_to(
            &user,
            MailKind::VerifyEmail {
                user_id: user.id,
                token,
            },
        );
        match self
            .ports
            .users
            .replace_verification_token(user.id, pending, mail)
            .await
        {
            // Deleted since the lookup: as good as never there.
            Ok(()) | Err(RepoError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks the credentials, starts a session for `client` and issues its tokens.
    ///
    /// Unknown email, wrong password and unverified email give the same error after about the
    /// same work. Each wrong password is counted; the failure that reaches the limit locks the
    /// account and queues an "account locked" email.
    ///
    /// # Errors
    /// `InvalidCredentials` (401), `AccountLocked` (400), `Unavailable`, `Internal`.
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        client: ClientInfo,
    ) -> Result<LoginSuccess, Error> {
        let user = match Email::parse(email) {
            Ok(email) => self.ports.users.find_by_email(&email).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            self.ports
                .hasher
                .verify(password, None)
                .await
                .map_err(Error::Internal)?;
            return Err(Error::InvalidCredentials);
        };
        if user.is_locked {
            return Err(Error::AccountLocked);
        }
        let valid = self
            .ports
            .hasher
            .verify(password.clone(), Some(user.password_hash.clone()))
            .await
            .map_err(Error::Internal)?;
        if !valid {
            return match self.count_failed_password(&user).await? {
                FailedLogin::Counted { .. } => Err(Error::InvalidCredentials),
                FailedLogin::AlreadyLocked => Err(Error::AccountLocked),
            };
        }
        if !user.email_verified {
            return Err(Error::InvalidCredentials);
        }
        let now = self.ports.clock.now();
        let user = self
            .ports
            .users
            .record_login(user.id, now)
            .await?
            .ok_or(Error::AccountLocked)?;
        if self.ports.hasher.needs_rehash(&user.password_hash) {
            self.rehash(&user, password).await;
        }
        self.start_session(user, client, now).await
    }

    /// Replaces an outdated hash (bcrypt from the original) with Argon2id after a successful
    /// login. A failure is logged and tried again at the next login.
    async fn rehash(&self, user: &User, password: SecretString) {
        let result = match self.ports.hasher.hash(password).await {
            Ok(hash) => self
                .ports
                .users
                .set_password_hash(user.id, hash, None)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => tracing::info!(user_id = %user.id, "password re-hashed with Argon2id"),
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = ?e, "could not re-hash the password")
            }
        }
    }

    /// The account behind a bearer token, loaded fresh together with the check that the
    /// token's session is alive (one round trip): an ended or expired session, a deleted or a
    /// locked account are refused, and the stored role, not the token's, is what counts.
    ///
    /// # Errors
    /// `Unauthenticated` (401), `Unavailable`, `Internal`.
    pub async fn authenticate(&self, bearer: &str) -> Result<Authenticated, Error> {
        let holder = self.token_holder(bearer)?;
        match self
            .ports
            .sessions
            .session_user(holder.user, holder.session)
            .await?
        {
            Some(user) if !user.is_locked => Ok(Authenticated {
                user,
                session: holder.session,
            }),
            _ => Err(Error::Unauthenticated),
        }
    }

    /// [`authenticate`](Self::authenticate) and the account `other` (`None` when there is no
    /// such account), loaded in one round trip.
    ///
    /// # Errors
    /// As [`authenticate`](Self::authenticate).
    pub(super) async fn authenticate_with(
        &self,
        bearer: &str,
        other: UserId,
    ) -> Result<(User, Option<User>), Error> {
        let holder = self.token_holder(bearer)?;
        let (caller, target) = self
            .ports
            .sessions
            .session_user_and(holder.user, holder.session, other)
            .await?;
        let caller = caller
            .filter(|u| !u.is_locked)
            .ok_or(Error::Unauthenticated)?;
        Ok((caller, target))
    }

    /// Whom and which session a bearer token was issued to; an invalid or expired token is
    /// `Unauthenticated`.
    pub(super) fn token_holder(&self, bearer: &str) -> Result<TokenHolder, Error> {
        self.ports
            .tokens
            .verify(bearer)
            .map_err(|_| Error::Unauthenticated)
    }
}
