//! Self-service for any signed-in user.

use actix_web::{HttpResponse, web};
use secrecy::SecretString;
use serde::Serialize;
use um_domain::model::Password;

use super::requests::{ChangePasswordRequest, DeleteMeRequest, UpdateMeRequest};
use crate::{
    auth::CurrentUser, dto::UserResponse, error::ApiError, extract::JsonBody, startup::AppState,
};

/// `GET /me`.
pub async fn get(state: web::Data<AppState>, me: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::new(me.0, &state.urls))
}

/// `PATCH /me`: a partial update of one's own profile.
pub async fn update(
    state: web::Data<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<UpdateMeRequest>,
) -> Result<HttpResponse, ApiError> {
    let changes = body.try_into_domain()?;
    let user = state.users.update_me(&me.0, changes).await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}

#[derive(Debug, Serialize)]
struct ProUpgradeStatus {
    eligible: bool,
    is_professional: bool,
    missing: Vec<&'static str>,
}

/// `GET /me/pro-upgrade`: whether the account may upgrade, and what it still lacks.
pub async fn pro_upgrade_status(state: web::Data<AppState>, me: CurrentUser) -> HttpResponse {
    let assessment = state.users.pro_upgrade_status(&me.0);
    HttpResponse::Ok().json(ProUpgradeStatus {
        eligible: assessment.eligible,
        is_professional: me.0.is_professional,
        missing: assessment.missing.iter().map(|r| r.as_str()).collect(),
    })
}

/// `POST /me/pro-upgrade`: 200 with the upgraded account; 422 with `missing`; 409 when PRO.
pub async fn upgrade_to_pro(
    state: web::Data<AppState>,
    me: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let user = state.users.upgrade_to_pro(&me.0).await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}

/// `PUT /me/password`: 204; a wrong current password is a 400.
pub async fn change_password(
    state: web::Data<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = Password::parse(&body.new_password)
        .map_err(|e| ApiError::invalid("new_password", e.to_string()))?;
    state
        .users
        .change_password(&me.0, SecretString::from(body.current_password), new)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /me` with `{"password": ...}`: 204; removes the account and its pictures.
pub async fn delete(
    state: web::Data<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<DeleteMeRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .users
        .delete_me(&me.0, SecretString::from(body.password))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
