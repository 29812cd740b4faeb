//! Sessions: refresh with rotation and reuse detection, logout, one's own sessions, staff
//! revocation, and the changes that end sessions by themselves. All over the in-memory
//! repository, with access tokens `access.<user>.<session>` that verify to what they name.

use super::*;

/// A service over `repo` whose passwords are always right and whose access tokens name their
/// user and session.
fn sessions_service(repo: &InMemoryRepository) -> UserService {
    let mut given = Given::new();
    given.hasher.expect_verify().returning(|_, _| Ok(true));
    given.hasher.expect_hash().returning(|_| Ok(fresh_hash()));
    given
        .tokens
        .expect_issue()
        .returning(|user, session, _, _| {
            Ok(AccessToken {
                token: format!("access.{}.{}", user.id, session),
                expires_in: 1800,
            })
        });
    given.tokens.expect_verify().returning(|token| {
        let mut parts = token
            .strip_prefix("access.")
            .ok_or(TokenError::Invalid)?
            .split('.');
        let mut next = || {
            parts
                .next()
                .and_then(|p| p.parse().ok())
                .ok_or(TokenError::Invalid)
        };
        Ok(TokenHolder {
            user: UserId(next()?),
            session: SessionId(next()?),
        })
    });
    given.service_over(repo)
}

/// Ada (AUTHENTICATED) stored alone, and a service over her repository.
fn ada_alone() -> (User, InMemoryRepository, UserService) {
    let ada = user(Role::Authenticated);
    let repo = InMemoryRepository::new();
    repo.put(ada.clone());
    let service = sessions_service(&repo);
    (ada, repo, service)
}

async fn log_in(service: &UserService, who: &User) -> LoginSuccess {
    service
        .login(
            who.email.as_str(),
            SecretString::from("Secur3*Pass"),
            ClientInfo::default(),
        )
        .await
        .expect("logged in")
}

/// Whether the access token of `success` still authenticates.
async fn signed_in(service: &UserService, success: &LoginSuccess) -> bool {
    match service.authenticate(&success.access.token).await {
        Ok(caller) => {
            assert_eq!(caller.session, success.refresh.session());
            true
        }
        Err(Error::Unauthenticated) => false,
        Err(e) => panic!("unexpected {e:?}"),
    }
}

async fn refresh(service: &UserService, success: &LoginSuccess) -> Result<LoginSuccess, Error> {
    service.refresh(success.refresh.expose()).await
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_within_the_same_session() {
    let (ada, _, service) = ada_alone();
    let login = log_in(&service, &ada).await;

    let refreshed = refresh(&service, &login).await.expect("refreshed");

    assert_eq!(refreshed.refresh.session(), login.refresh.session());
    assert_ne!(refreshed.refresh, login.refresh);
    assert_eq!(refreshed.user.id, ada.id);
    assert_eq!(refreshed.refresh_expires_in, 12 * 24 * 3600);
    assert!(signed_in(&service, &refreshed).await);
    assert!(signed_in(&service, &login).await, "same session, so alive");
    let again = refresh(&service, &refreshed)
        .await
        .expect("the new one works");
    assert!(signed_in(&service, &again).await);
}

#[tokio::test]
async fn a_rotated_refresh_token_used_again_ends_the_whole_session() {
    let (ada, repo, service) = ada_alone();
    let login = log_in(&service, &ada).await;
    let refreshed = refresh(&service, &login).await.expect("refreshed");
    let other = log_in(&service, &ada).await;

    let replayed = refresh(&service, &login).await;

    assert_err!(replayed, Error::InvalidRefreshToken);
    assert!(
        !signed_in(&service, &refreshed).await,
        "its access tokens die"
    );
    assert_err!(
        refresh(&service, &refreshed).await,
        Error::InvalidRefreshToken,
        "and its newest refresh token"
    );
    assert!(signed_in(&service, &other).await, "another session goes on");
    let ended = repo
        .stored_sessions(ada.id)
        .into_iter()
        .filter(|(_, ended)| ended.is_some())
        .count();
    assert_eq!(ended, 1);
}

#[tokio::test]
async fn made_up_malformed_and_unknown_refresh_tokens_are_invalid_and_end_nothing() {
    let (ada, _, service) = ada_alone();
    let login = log_in(&service, &ada).await;
    let made_up = RefreshToken::generate(login.refresh.session());
    let elsewhere = RefreshToken::generate(SessionId::new());

    for token in ["", "garbage", made_up.expose(), elsewhere.expose()] {
        assert_err!(
            service.refresh(token).await,
            Error::InvalidRefreshToken,
            token
        );
    }
    assert!(signed_in(&service, &login).await, "the session goes on");
    refresh(&service, &login)
        .await
        .expect("the real token works");
}

#[tokio::test]
async fn the_refresh_token_of_a_locked_account_is_invalid() {
    let (ada, repo, service) = ada_alone();
    let login = log_in(&service, &ada).await;
    // Locked behind the repository's back, its session left alive.
    let mut locked_ada = repo.get(ada.id).expect("stored");
    locked_ada.is_locked = true;
    let repo_with_lock = InMemoryRepository::new();
    repo_with_lock.put(locked_ada);
    let (session, _) = repo.stored_sessions(ada.id).remove(0);
    repo_with_lock.put_session(session.id, ada.id, now(), TimeDelta::days(1));
    let service = sessions_service(&repo_with_lock);

    assert!(!signed_in(&service, &login).await);
    assert_err!(refresh(&service, &login).await, Error::InvalidRefreshToken);
}

#[tokio::test]
async fn logout_ends_the_bearers_session_and_twice_is_fine() {
    let (ada, _, service) = ada_alone();
    let login = log_in(&service, &ada).await;
    let other = log_in(&service, &ada).await;

    service
        .logout_bearer(&login.access.token)
        .await
        .expect("logged out");
    service
        .logout_bearer(&login.access.token)
        .await
        .expect("an ended session is no error");

    assert!(!signed_in(&service, &login).await);
    assert_err!(refresh(&service, &login).await, Error::InvalidRefreshToken);
    assert!(signed_in(&service, &other).await);
    assert_err!(
        service.logout_bearer("forged").await,
        Error::Unauthenticated
    );
}

#[tokio::test]
async fn logout_with_a_refresh_token_needs_one_of_the_sessions_tokens() {
    let (ada, _, service) = ada_alone();
    let login = log_in(&service, &ada).await;
    let made_up = RefreshToken::generate(login.refresh.session());

    service
        .logout_with_refresh(made_up.expose())
        .await
        .expect("answers alike");
    service
        .logout_with_refresh("garbage")
        .await
        .expect("answers alike");
    assert!(
        signed_in(&service, &login).await,
        "knowing the id is not enough"
    );

    service
        .logout_with_refresh(login.refresh.expose())
        .await
        .expect("logged out");
    assert!(!signed_in(&service, &login).await);
}

#[tokio::test]
async fn ones_sessions_are_listed_and_ended_one_by_one_or_all_but_the_current() {
    let (ada, repo, service) = ada_alone();
    let grace = user_called(Role::Authenticated, "grace");
    repo.put(grace.clone());
    let first = log_in(&service, &ada).await;
    let second = log_in(&service, &ada).await;
    let third = log_in(&service, &ada).await;
    let graces = log_in(&service, &grace).await;

    let listed: Vec<SessionId> = service
        .sessions_of(ada.id)
        .await
        .expect("listed")
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed.len(), 3);

    assert_err!(
        service
            .end_own_session(ada.id, graces.refresh.session())
            .await,
        Error::SessionNotFound,
        "someone else's"
    );
    assert_err!(
        service.end_own_session(ada.id, SessionId::new()).await,
        Error::SessionNotFound
    );
    service
        .end_own_session(ada.id, first.refresh.session())
        .await
        .expect("ended");
    assert_err!(
        service
            .end_own_session(ada.id, first.refresh.session())
            .await,
        Error::SessionNotFound,
        "ended already"
    );
    assert!(!signed_in(&service, &first).await);

    service
        .end_other_sessions(ada.id, third.refresh.session())
        .await
        .expect("ended");
    assert!(!signed_in(&service, &second).await);
    assert!(signed_in(&service, &third).await, "the current one stays");
    assert!(signed_in(&service, &graces).await);
}

#[tokio::test]
async fn staff_revocation_follows_the_manager_rule_and_is_audited() {
    let (ada, repo, service) = ada_alone();
    let boss = user_called(Role::Manager, "boss");
    repo.put(boss.clone());
    let ada_login = log_in(&service, &ada).await;
    let boss_login = log_in(&service, &boss).await;
    let admin = actor(Role::Admin);

    assert_err!(
        service.revoke_sessions(actor(Role::Manager), boss.id).await,
        Error::Forbidden,
        "a MANAGER on a MANAGER"
    );
    assert_err!(
        service
            .revoke_sessions(actor(Role::Authenticated), ada.id)
            .await,
        Error::Forbidden
    );
    assert_err!(
        service.revoke_sessions(admin, UserId::new()).await,
        Error::UserNotFound
    );
    assert!(signed_in(&service, &boss_login).await);
    assert!(repo.audit_events().is_empty(), "refusals are not audited");

    let manager = actor(Role::Manager);
    service
        .revoke_sessions(manager, ada.id)
        .await
        .expect("revoked");
    assert!(!signed_in(&service, &ada_login).await);
    assert_err!(
        refresh(&service, &ada_login).await,
        Error::InvalidRefreshToken
    );
    assert_eq!(
        repo.audit_events(),
        [AuditEvent::sessions_revoked(manager.id, ada.id, 1)]
    );
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    let (ada, _, service) = ada_alone();
    let here = log_in(&service, &ada).await;
    let elsewhere = log_in(&service, &ada).await;

    service
        .change_password(
            &ada,
            here.refresh.session(),
            SecretString::from("Curr3nt*Pass"),
            Password::parse("N3w*Secure").expect("a valid password"),
        )
        .await
        .expect("changed");

    assert!(
        signed_in(&service, &here).await,
        "the session that changed it"
    );
    assert!(!signed_in(&service, &elsewhere).await);
    assert_err!(
        refresh(&service, &elsewhere).await,
        Error::InvalidRefreshToken
    );
    refresh(&service, &here).await.expect("refreshes on");
}

#[tokio::test]
async fn a_password_reset_ends_every_session() {
    let (ada, repo, service) = ada_alone();
    let login = log_in(&service, &ada).await;
    service
        .request_password_reset(&ada.email)
        .await
        .expect("requested");
    let token = repo
        .take_mails()
        .iter()
        .find_map(|m| match &m.kind {
            MailKind::PasswordReset { token } => Some(token.clone()),
            _ => None,
        })
        .expect("a reset mail");

    service
        .confirm_password_reset(
            token.as_str(),
            Password::parse("N3w*Secure").expect("a valid password"),
        )
        .await
        .expect("reset");

    assert!(!signed_in(&service, &login).await);
    assert_err!(refresh(&service, &login).await, Error::InvalidRefreshToken);
}

#[tokio::test]
async fn the_lockout_ends_every_session_and_an_unlock_revives_none() {
    let ada = user(Role::Authenticated);
    let repo = InMemoryRepository::new();
    repo.put(ada.clone());
    let login = log_in(&sessions_service(&repo), &ada).await;
    let mut given = Given::new();
    given.hasher.expect_verify().returning(|_, _| Ok(false));
    let wrong = given.service_over(&repo);
    for _ in 0..5 {
        let _ = wrong
            .login(
                ada.email.as_str(),
                SecretString::from("wrong"),
                ClientInfo::default(),
            )
            .await;
    }
    assert!(repo.get(ada.id).expect("stored").is_locked);
    let service = sessions_service(&repo);
    assert!(!signed_in(&service, &login).await);

    service
        .unlock_user(actor(Role::Admin), ada.id)
        .await
        .expect("unlocked");

    assert!(!signed_in(&service, &login).await, "not revived");
    assert_err!(refresh(&service, &login).await, Error::InvalidRefreshToken);
    assert!(signed_in(&service, &log_in(&service, &ada).await).await);
}

#[tokio::test]
async fn a_deleted_accounts_sessions_are_gone() {
    let (ada, _, service) = ada_alone();
    let login = log_in(&service, &ada).await;

    service
        .delete_me(&ada, SecretString::from("Secur3*Pass"))
        .await
        .expect("deleted");

    assert!(!signed_in(&service, &login).await);
    assert_err!(refresh(&service, &login).await, Error::InvalidRefreshToken);
}

#[tokio::test]
async fn a_session_that_the_repository_cannot_start_fails_the_login_without_tokens() {
    let account = user(Role::Authenticated);
    let mut given = Given::new();
    given.an_account_found_by_email(&account);
    given.a_password_that_is(true);
    let recorded = account.clone();
    given
        .users
        .expect_record_login()
        .returning(move |_, _| Ok(Some(recorded.clone())));
    given
        .sessions
        .expect_start()
        .times(1)
        .returning(|_| Err(unavailable()));
    given.tokens.expect_issue().never();
    let service = given.service();

    let result = service
        .login(
            account.email.as_str(),
            SecretString::from("Secur3*Pass"),
            ClientInfo::default(),
        )
        .await;

    assert_err!(result, Error::Unavailable(_));
}
