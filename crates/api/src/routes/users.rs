//! Administration of accounts (`MANAGER` and `ADMIN`).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use um_domain::{
    model::Role,
    ports::{UserFilter, UserQuery, UserSort},
    validation::Validator,
};

use super::requests::{NewUserRequest, ProfessionalStatusRequest, UpdateUserRequest};
use crate::{
    auth::CurrentUser,
    dto::{PageResponse, UserResponse, page_links},
    error::ApiError,
    extract::{JsonBody, parse_user_id},
    startup::AppState,
};

/// The query of `GET /users`. Every value arrives as text so that each bad one is named in the
/// 422.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    skip: Option<String>,
    limit: Option<String>,
    q: Option<String>,
    role: Option<String>,
    is_locked: Option<String>,
    is_professional: Option<String>,
    email_verified: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    sort: Option<String>,
}

/// Query parameters a page link repeats, already normalised.
type KeptParams = Vec<(&'static str, String)>;

impl ListParams {
    /// The domain query, and the normalised filter parameters every page link repeats.
    fn try_into_query(self) -> Result<(UserQuery, KeptParams), ApiError> {
        let mut v = Validator::default();
        let skip = number(&mut v, "skip", self.skip.as_deref(), 0);
        let limit = number(&mut v, "limit", self.limit.as_deref(), 10);
        let role = v.check_opt("role", self.role.as_deref().map(str::parse::<Role>));
        let is_locked = flag(&mut v, "is_locked", self.is_locked.as_deref());
        let is_professional = flag(&mut v, "is_professional", self.is_professional.as_deref());
        let email_verified = flag(&mut v, "email_verified", self.email_verified.as_deref());
        let created_from = time(&mut v, "created_from", self.created_from.as_deref());
        let created_to = time(&mut v, "created_to", self.created_to.as_deref());
        let sort = match self.sort.as_deref() {
            None => Some(UserSort::default()),
            Some(raw) => {
                let sort = UserSort::parse(raw);
                if sort.is_none() {
                    v.error(
                        "sort",
                        "sort must be one of created_at, -created_at, email, -email, nickname, -nickname",
                    );
                }
                sort
            }
        };
        let q = self
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty());
        if q.as_ref().is_some_and(|q| q.chars().count() > 100) {
            v.error("q", "q must be at most 100 characters");
        }
        v.finish()?;

        let mut kept: KeptParams = Vec::new();
        let mut keep = |name: &'static str, value: Option<String>| {
            if let Some(value) = value {
                kept.push((name, value));
            }
        };
        keep("q", q.clone());
        keep("role", role.map(|r| r.as_str().to_owned()));
        keep("is_locked", is_locked.map(|b| b.to_string()));
        keep("is_professional", is_professional.map(|b| b.to_string()));
        keep("email_verified", email_verified.map(|b| b.to_string()));
        keep("created_from", created_from.map(|t| t.to_rfc3339()));
        keep("created_to", created_to.map(|t| t.to_rfc3339()));
        keep("sort", self.sort.clone());

        let query = UserQuery {
            skip: skip.unwrap_or(0),
            limit: limit.unwrap_or(10),
            filter: UserFilter {
                q,
                roles: role.map(|r| vec![r]),
                is_locked,
                is_professional,
                email_verified,
                created_from,
                created_to,
            },
            sort: sort.unwrap_or_default(),
        };
        Ok((query, kept))
    }
}

fn number(v: &mut Validator, field: &str, raw: Option<&str>, default: u64) -> Option<u64> {
    match raw {
        None => Some(default),
        Some(raw) => v.check(
            field,
            raw.trim()
                .parse::<u64>()
                .map_err(|_| format!("{field} must be a whole number ≥ 0")),
        ),
    }
}

fn flag(v: &mut Validator, field: &str, raw: Option<&str>) -> Option<bool> {
    raw.and_then(|raw| {
        v.check(
            field,
            match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(format!("{field} must be true or false")),
            },
        )
    })
}

fn time(v: &mut Validator, field: &str, raw: Option<&str>) -> Option<DateTime<Utc>> {
    raw.and_then(|raw| {
        v.check(
            field,
            DateTime::parse_from_rfc3339(raw.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    format!("{field} must be an RFC 3339 time such as 2026-11-28T09:00:00Z")
                }),
        )
    })
}

/// `GET /users`: a page of accounts with filters and sorting; every link keeps the filters.
pub async fn list(
    state: web::Data<AppState>,
    me: CurrentUser,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let (query, kept) = params.into_inner().try_into_query()?;
    let (skip, limit) = (query.skip, query.limit);
    let page = state.users.list_users(me.actor(), query).await?;
    let urls = &state.urls;
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
            page_href(&urls.base, "/users", &kept, s, limit)
        }),
    }))
}

/// `{base}{path}?<kept filters>&skip=…&limit=…`, form-encoded.
pub(crate) fn page_href(
    base: &str,
    path: &str,
    kept: &[(&'static str, String)],
    skip: u64,
    limit: u64,
) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in kept {
        query.append_pair(name, value);
    }
    query.append_pair("skip", &skip.to_string());
    query.append_pair("limit", &limit.to_string());
    format!("{base}{path}?{}", query.finish())
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    role: String,
}

/// `PUT /users/{id}/role`: ADMIN only; the user is emailed; the last ADMIN keeps its role (409).
pub async fn set_role(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<String>,
    JsonBody(body): JsonBody<RoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&path, "user_id")?;
    let role = body
        .role
        .parse::<Role>()
        .map_err(|e| ApiError::invalid("role", e.to_string()))?;
    let user = state.users.change_role(me.actor(), id, role).await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}

/// `POST /users/{id}/unlock`: clears the lock and the failure counter.
pub async fn unlock(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&path, "user_id")?;
    let user = state.users.unlock_user(me.actor(), id).await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}
