//! Administration of accounts (`MANAGER` and `ADMIN`).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use um_domain::{
    model::Role,
    ports::{UserFilter, UserQuery, UserSort},
    services::{MAX_PAGE_SIZE, MAX_SKIP},
    validation::Validator,
};
use utoipa::{IntoParams, ToSchema};

use super::requests::{NewUserRequest, ProfessionalStatusRequest, UpdateUserRequest};
use crate::{
    auth::{BearerToken, CurrentUser},
    dto::{PageResponse, UserResponse, page_links},
    error::{ApiError, Problem},
    extract::{JsonBody, parse_user_id},
    state::AppState,
};

/// The query of `GET /users`. Every value arrives as text so that each bad one is named in the
/// 422.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// How many matches to skip.
    #[param(value_type = Option<u64>, minimum = 0, default = 0)]
    skip: Option<String>,
    /// The page size.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100, default = 10)]
    limit: Option<String>,
    /// A case-insensitive substring of the email, nickname, first or last name.
    #[param(max_length = 100)]
    q: Option<String>,
    #[param(value_type = Option<crate::schema::Role>)]
    role: Option<String>,
    #[param(value_type = Option<bool>)]
    is_locked: Option<String>,
    #[param(value_type = Option<bool>)]
    is_professional: Option<String>,
    #[param(value_type = Option<bool>)]
    email_verified: Option<String>,
    /// Created at or after (inclusive), RFC 3339.
    #[param(value_type = Option<DateTime<Utc>>)]
    created_from: Option<String>,
    /// Created at or before (inclusive), RFC 3339.
    #[param(value_type = Option<DateTime<Utc>>)]
    created_to: Option<String>,
    #[param(value_type = Option<UserSortParam>)]
    sort: Option<String>,
}

/// The order of `GET /users`; `-` means descending.
#[derive(ToSchema)]
#[schema(default = "-created_at")]
#[expect(dead_code, reason = "only a schema")]
pub enum UserSortParam {
    #[schema(rename = "created_at")]
    CreatedAt,
    #[schema(rename = "-created_at")]
    CreatedAtDesc,
    #[schema(rename = "email")]
    Email,
    #[schema(rename = "-email")]
    EmailDesc,
    #[schema(rename = "nickname")]
    Nickname,
    #[schema(rename = "-nickname")]
    NicknameDesc,
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
        // NUL, which PostgreSQL cannot hold, and the other characters no text field accepts.
        if q.as_ref().is_some_and(|q| {
            q.chars()
                .any(|c| um_domain::model::is_forbidden_in_text(c, false))
        }) {
            v.error(
                "q",
                "q must not contain control characters or invisible formatting characters",
            );
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
        Some(raw) => v.check(field, parse_page_number(field, raw)),
    }
}

/// `skip` or `limit` of a listing; the range itself is the domain's to check, but a number too
/// large even for `u64` is named as too large rather than as no number.
pub(crate) fn parse_page_number(field: &str, raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    raw.parse::<u64>().map_err(|_| {
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            match field {
                "limit" => format!("limit must be between 1 and {MAX_PAGE_SIZE}"),
                _ => format!("{field} must be at most {MAX_SKIP}"),
            }
        } else {
            format!("{field} must be a whole number ≥ 0")
        }
    })
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
#[utoipa::path(
    get,
    path = "/users",
    operation_id = "list_users",
    tag = "users",
    summary = "List accounts",
    description = "Newest first by default, paginated; `total` counts every match. A `MANAGER` sees only `ANONYMOUS` and `AUTHENTICATED` accounts, the ones it may act on, and `total` counts those. Page links are absolute and keep every filter.",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of accounts.", body = PageResponse<UserResponse>),
        (status = 403, description = "Operation not permitted (`forbidden`): not `MANAGER`/`ADMIN`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad query parameter (`validation_error`), each named in `errors`.", body = Problem, content_type = "application/problem+json"),
    )
)]
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
#[utoipa::path(
    post,
    path = "/users",
    operation_id = "create_user",
    tag = "users",
    summary = "Create an account",
    description = "The body of `POST /register` plus an optional `role` (default `ANONYMOUS`); only an `ADMIN` may create `MANAGER`/`ADMIN` accounts. The account gets a verification email like a registered one.",
    request_body(content = NewUserRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new account.", body = UserResponse),
        (status = 400, description = "Email already exists (`email_taken`).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Operation not permitted (`forbidden`).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nickname already taken (`nickname_taken`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown fields (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
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
#[utoipa::path(
    get,
    path = "/users/{user_id}",
    operation_id = "get_user",
    tag = "users",
    summary = "Get an account",
    params(("user_id" = Uuid, Path, description = "The account's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account.", body = UserResponse),
        (status = 422, description = "`user_id` is not a UUID (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    token: BearerToken,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = token
        .read_user(&state.users, parse_user_id(&path, "user_id"))
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}

/// `PUT /users/{id}`: a partial update.
#[utoipa::path(
    put,
    path = "/users/{user_id}",
    operation_id = "update_user",
    tag = "users",
    summary = "Update an account",
    description = "A partial update (at least one field). A `role` change needs `ADMIN`. A changed email becomes unverified and is sent a new verification link; an `AUTHENTICATED` account drops back to `ANONYMOUS` until it verifies again, `MANAGER` and `ADMIN` keep their role.",
    params(("user_id" = Uuid, Path, description = "The account's id.")),
    request_body(content = UpdateUserRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated account.", body = UserResponse),
        (status = 409, description = "Email or nickname already taken (`email_taken`, `nickname_taken`), or the last `ADMIN` would be demoted (`last_admin`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`user_id` is not a UUID, no field, or invalid or unknown fields (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
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
#[utoipa::path(
    delete,
    path = "/users/{user_id}",
    operation_id = "delete_user",
    tag = "users",
    summary = "Delete an account",
    description = "Removes the account and its pictures.",
    params(("user_id" = Uuid, Path, description = "The account's id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "The last `ADMIN` cannot be deleted (`last_admin`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`user_id` is not a UUID (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
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
#[utoipa::path(
    put,
    path = "/users/{user_id}/professional-status",
    operation_id = "set_professional_status",
    tag = "users",
    summary = "Grant or revoke PRO status",
    description = "`MANAGER`/`ADMIN` grant or revoke regardless of the profile's completeness. Setting the status the account already has changes nothing and sends no email; every real change sets `professional_status_updated_at` and emails the user.",
    params(("user_id" = Uuid, Path, description = "The account's id.")),
    request_body(content = ProfessionalStatusRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account.", body = UserResponse),
        (status = 422, description = "`user_id` is not a UUID, or a missing or unknown field (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
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

/// `PUT /users/{id}/role`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    #[schema(value_type = crate::schema::Role)]
    role: String,
}

/// `PUT /users/{id}/role`: ADMIN only; the user is emailed; the last ADMIN keeps its role (409).
#[utoipa::path(
    put,
    path = "/users/{user_id}/role",
    operation_id = "set_role",
    tag = "users",
    summary = "Change an account's role",
    description = "`ADMIN` only. The user is emailed. The last remaining `ADMIN` cannot be demoted (409).",
    params(("user_id" = Uuid, Path, description = "The account's id.")),
    request_body(content = RoleRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account.", body = UserResponse),
        (status = 403, description = "Operation not permitted (`forbidden`): not `ADMIN`.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last `ADMIN` cannot be demoted (`last_admin`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`user_id` is not a UUID, or an unknown role or field (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
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
#[utoipa::path(
    post,
    path = "/users/{user_id}/unlock",
    operation_id = "unlock_user",
    tag = "users",
    summary = "Unlock an account",
    description = "Clears the lock and the failed-attempt counter.",
    params(("user_id" = Uuid, Path, description = "The account's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account.", body = UserResponse),
        (status = 422, description = "`user_id` is not a UUID (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn unlock(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&path, "user_id")?;
    let user = state.users.unlock_user(me.actor(), id).await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}
