//! Self-service for any signed-in user.

use actix_web::{HttpResponse, web};
use secrecy::SecretString;
use serde::Serialize;
use um_domain::model::Password;
use utoipa::ToSchema;

use super::requests::{ChangePasswordRequest, DeleteMeRequest, UpdateMeRequest};
use crate::{
    auth::CurrentUser,
    dto::UserResponse,
    error::{ApiError, Problem},
    extract::JsonBody,
    state::AppState,
};

/// `GET /me`.
#[utoipa::path(
    get,
    path = "/me",
    operation_id = "get_me",
    tag = "me",
    summary = "Get one's own account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account.", body = UserResponse),
    )
)]
pub async fn get(state: web::Data<AppState>, me: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::new(me.0, &state.urls))
}

/// `PATCH /me`: a partial update of one's own profile.
#[utoipa::path(
    patch,
    path = "/me",
    operation_id = "update_me",
    tag = "me",
    summary = "Update one's own profile",
    description = "A partial update of the nickname and the profile fields of `UpdateMeRequest`; a field sent as `null` clears it (a nickname can be changed, not removed); at least one field.",
    request_body(content = UpdateMeRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated account.", body = UserResponse),
        (status = 409, description = "Nickname already taken (`nickname_taken`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No field, or invalid or unknown fields (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<UpdateMeRequest>,
) -> Result<HttpResponse, ApiError> {
    let changes = body.try_into_domain()?;
    let user = state.users.update_me(&me.0, changes).await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}

/// Whether the account may upgrade to PRO.
#[derive(Debug, Serialize, ToSchema)]
struct ProUpgradeStatus {
    /// Email verified, not locked, and a complete profile.
    eligible: bool,
    is_professional: bool,
    /// The unmet requirements, in this order.
    #[schema(value_type = Vec<crate::schema::ProRequirement>)]
    missing: Vec<&'static str>,
}

/// `GET /me/pro-upgrade`: whether the account may upgrade, and what it still lacks.
#[utoipa::path(
    get,
    path = "/me/pro-upgrade",
    operation_id = "pro_upgrade_status",
    tag = "me",
    summary = "PRO eligibility",
    description = "A user is eligible when the email is verified, the account is not locked, and the profile is complete: first name, last name, bio, a profile picture, and a LinkedIn or GitHub URL.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Eligibility and what is missing.", body = ProUpgradeStatus),
    )
)]
pub async fn pro_upgrade_status(state: web::Data<AppState>, me: CurrentUser) -> HttpResponse {
    let assessment = state.users.pro_upgrade_status(&me.0);
    HttpResponse::Ok().json(ProUpgradeStatus {
        eligible: assessment.eligible,
        is_professional: me.0.is_professional,
        missing: assessment.missing.iter().map(|r| r.as_str()).collect(),
    })
}

/// `POST /me/pro-upgrade`: 200 with the upgraded account; 422 with `missing`; 409 when PRO.
#[utoipa::path(
    post,
    path = "/me/pro-upgrade",
    operation_id = "upgrade_to_pro",
    tag = "me",
    summary = "Upgrade to PRO",
    description = "Upgrades an eligible account and queues a notification email. Of two racing upgrades one answers 200, the other 409.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The upgraded account, `is_professional: true`.", body = UserResponse),
        (status = 409, description = "Already PRO (`already_professional`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not eligible (`not_eligible_for_pro`); `missing` lists what the profile lacks.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upgrade_to_pro(
    state: web::Data<AppState>,
    me: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let user = state.users.upgrade_to_pro(&me.0).await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}

/// `PUT /me/password`: 204; a wrong current password is a 400.
#[utoipa::path(
    put,
    path = "/me/password",
    operation_id = "change_password",
    tag = "me",
    summary = "Change one's password",
    request_body(content = ChangePasswordRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed."),
        (status = 400, description = "Wrong current password (`incorrect_password`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A new password that breaks the rules, or missing or unknown fields (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = Password::parse(&body.new_password)
        .map_err(|e| ApiError::invalid("new_password", e.to_string()))?;
    state
        .users
        .change_password(
            &me.0,
            me.session(),
            SecretString::from(body.current_password),
            new,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /me` with `{"password": ...}`: 204; removes the account and its pictures.
#[utoipa::path(
    delete,
    path = "/me",
    operation_id = "delete_me",
    tag = "me",
    summary = "Delete one's own account",
    description = "The password in the body confirms the deletion; the account and its pictures are removed. The only `ADMIN` cannot delete itself (409), like any deletion of the last `ADMIN`.",
    request_body(content = DeleteMeRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "Wrong password (`incorrect_password`).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last `ADMIN` cannot be deleted (`last_admin`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or unknown fields (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
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
