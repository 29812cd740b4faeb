//! Administration of accounts (`MANAGER` and `ADMIN`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::requests::{NewUserRequest, ProfessionalStatusRequest, UpdateUserRequest};
use crate::{
    auth::CurrentUser,
    dto::{PageResponse, UserResponse, page_links},
    error::ApiError,
    extract::{JsonBody, parse_user_id},
    startup::AppState,
};

#[derive(Debug, Deserialize)]
pub struct ListParams {
    skip: Option<u64>,
    limit: Option<u64>,
}

/// `GET /users?skip=0&limit=10`: a page of accounts, newest first.
pub async fn list(
    state: web::Data<AppState>,
    me: CurrentUser,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let skip = params.skip.unwrap_or(0);
    let limit = params.limit.unwrap_or(10);
    let page = state.users.list_users(me.actor(), skip, limit).await?;
    let urls = &state.urls;
    let base = &urls.base;
    let items: Vec<UserResponse> = page
        .items
        .into_iter()
        .map(|u| UserResponse::new(u, urls))
        .collect();
    Ok(HttpResponse::Ok().json(PageResponse {
        size: items.len(),
        items,
        total: page.total,
        page: skip / limit + 1,
        links: page_links(skip, limit, page.total, |s| {
            format!("{base}/users?skip={s}&limit={limit}")
        }),
    }))
}

/// `POST /users`: 201 with the new account.
pub async fn create(
    state: web::Data<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<NewUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let (registration, role) = body.try_into_domain()?;
    let user = state
        .users
        .create_user(me.actor(), registration, role)
        .await?;
    Ok(HttpResponse::Created().json(UserResponse::new(user, &state.urls)))
}

/// `GET /users/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&path, "user_id")?;
    let user = state.users.get_user(me.actor(), id).await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}

/// `PUT /users/{id}`: a partial update.
pub async fn update(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<String>,
    JsonBody(body): JsonBody<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&path, "user_id")?;
    let changes = body.try_into_domain()?;
    let user = state.users.update_user(me.actor(), id, changes).await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}

/// `DELETE /users/{id}`: 204.
pub async fn delete(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&path, "user_id")?;
    state.users.delete_user(me.actor(), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /users/{id}/professional-status`: staff grant or revoke PRO regardless of the profile.
pub async fn set_professional_status(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<String>,
    JsonBody(body): JsonBody<ProfessionalStatusRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&path, "user_id")?;
    let user = state
        .users
        .set_professional_status(me.actor(), id, body.is_professional)
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}
