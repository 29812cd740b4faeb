//! Self-service for any signed-in user.

use actix_web::{HttpResponse, web};

use super::requests::UpdateMeRequest;
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
