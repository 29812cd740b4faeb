//! The bearer-token extractor: the signed-in user, loaded fresh on every request.

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use um_domain::{Error, authz::Actor, model::User};

use crate::{error::ApiError, state::AppState};

/// The account behind the request's `Authorization: Bearer` token. A missing, malformed,
/// expired or badly signed token, or one whose account is gone or locked, is a 401.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl CurrentUser {
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor::from(&self.0)
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::from(Error::Internal(anyhow::anyhow!(
                    "AppState is not registered"
                )))
            })?;
            let token = token.ok_or(Error::Unauthenticated)?;
            Ok(CurrentUser(state.users.authenticate(&token).await?))
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
        std::future::ready(
            bearer_token(req)
                .map(BearerToken)
                .ok_or_else(|| Error::Unauthenticated.into()),
        )
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
