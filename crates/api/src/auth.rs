//! How a request is authenticated, in one place: [`BearerToken`] reads the `Authorization:
//! Bearer` header (a missing or malformed one is a 401), and the domain's
//! `UserService::authenticate` verifies it, and loads the account fresh on every request in
//! the same round trip as the check that the token's session is alive ([`CurrentUser`]). A handler that reads another account asks for both at once with
//! [`BearerToken::read_user`] (one database round trip). Handlers never parse the header or
//! verify a token themselves.

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use um_domain::{
    Error,
    authz::Actor,
    model::{SessionId, User, UserId},
    services::{Authenticated, UserService},
};

use crate::{error::ApiError, state::AppState};

/// The account behind the request's `Authorization: Bearer` token, and the token's session. A
/// missing, malformed, expired or badly signed token, one whose session has ended, or whose
/// account is gone or locked, is a 401.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User, pub SessionId);

impl CurrentUser {
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor::from(&self.0)
    }

    /// The session of the bearer token.
    #[must_use]
    pub fn session(&self) -> SessionId {
        self.1
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = BearerToken::from_header(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::from(Error::Internal(anyhow::anyhow!(
                    "AppState is not registered"
                )))
            })?;
            let BearerToken(token) = token?;
            let Authenticated { user, session } = state.users.authenticate(&token).await?;
            Ok(CurrentUser(user, session))
        })
    }
}

/// The raw `Authorization: Bearer` token, not yet verified: for handlers that pass it to a use
/// case which loads the caller together with what it reads (one database round trip instead of
/// two). A missing or malformed header is a 401.
#[derive(Debug, Clone)]
pub struct BearerToken(pub String);

impl FromRequest for BearerToken {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::from_header(req))
    }
}

impl BearerToken {
    fn from_header(req: &HttpRequest) -> Result<Self, ApiError> {
        bearer_token(req)
            .map(BearerToken)
            .ok_or_else(|| Error::Unauthenticated.into())
    }

    /// The account `id` names, as the caller may see it (staff only), loaded together with the
    /// caller. A malformed `id` is answered only once the token is known to be good, so that a
    /// bad token is a 401 before a bad path is a 422, as on every route.
    ///
    /// # Errors
    /// 401, then the error of `id`, then the use case's (403, 404).
    pub async fn read_user(
        &self,
        users: &UserService,
        id: Result<UserId, ApiError>,
    ) -> Result<User, ApiError> {
        match id {
            Ok(id) => Ok(users.get_user_for(&self.0, id).await?),
            Err(invalid) => {
                users.authenticate(&self.0).await?;
                Err(invalid)
            }
        }
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
