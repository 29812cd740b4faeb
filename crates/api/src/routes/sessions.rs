//! Sessions: refresh, logout, one's own list of sessions, and staff revocation.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use um_domain::model::{Session, SessionId};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    accounts::{TokenResponse, token_response},
    requests::{RefreshForm, RefreshRequest},
};
use crate::{
    auth::{BearerToken, CurrentUser},
    error::{ApiError, Problem},
    extract::{FormOrJson, RawBody, content_type, form_or_json, parse_user_id},
    state::AppState,
};

/// The refresh token of a `POST /token/refresh` or `POST /logout` body, JSON or form.
///
/// # Errors
/// 415, 422 as [`form_or_json`]; 422 for a form whose `grant_type` is not `refresh_token`.
fn refresh_token_of(req: &HttpRequest, body: &web::Bytes) -> Result<String, ApiError> {
    match form_or_json::<RefreshForm, RefreshRequest>(req, body)? {
        FormOrJson::Form(form) => match form.grant_type.as_deref() {
            None | Some("refresh_token") => Ok(form.refresh_token),
            Some(_) => Err(ApiError::invalid("grant_type", "must be refresh_token")),
        },
        FormOrJson::Json(json) => Ok(json.refresh_token),
    }
}

/// `POST /token/refresh`: new tokens for a refresh token, which stops working.
#[utoipa::path(
    post,
    path = "/token/refresh",
    operation_id = "refresh_token",
    tag = "sessions",
    summary = "Refresh the tokens of a session",
    description = "Trades a refresh token for a new access token and a **new** refresh token \
        (rotation): the presented one stops working. Takes JSON `{\"refresh_token\"}` or the \
        OAuth2 form `grant_type=refresh_token&refresh_token=...` (also accepted by `POST \
        /login`). A refresh token that was already used once and comes back ends its whole \
        session (reuse detection, RFC 9700): the newest refresh token and every access token of \
        that session stop working. The same holds for two refreshes racing with one token: one \
        gets new tokens, the other ends the session. On `invalid_refresh_token` a client logs in \
        again. The session lives `REFRESH_TOKEN_TTL_DAYS` from its login however often it is \
        refreshed. Answers `Cache-Control: no-store`.",
    request_body(content(
        (RefreshRequest = "application/json"),
        (RefreshForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "New tokens of the same session.", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "The refresh token is unknown, expired, ended or used before, or its account is locked or deleted (`invalid_refresh_token`): log in again.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Content-Type is neither JSON nor the form (`unsupported_media_type`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or unknown fields, a `grant_type` other than `refresh_token`, or a body that is not a JSON object (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    RawBody(body): RawBody,
) -> Result<HttpResponse, ApiError> {
    let token = refresh_token_of(&req, &body)?;
    Ok(token_response(state.users.refresh(&token).await?))
}

/// `POST /logout`: ends the session of the bearer token, or of the refresh token in the body.
#[utoipa::path(
    post,
    path = "/logout",
    operation_id = "logout",
    tag = "sessions",
    summary = "Log out",
    description = "With `Authorization: Bearer`, ends the session of that access token; \
        without it, ends the session of the refresh token in the body (JSON \
        `{\"refresh_token\"}` or the form). With both, both. The body may be left out when a \
        bearer token is given; a body that is given must be well-formed. Every token of the \
        session stops working at once. \
        204 also when the session had ended already, and, as for OAuth2 token revocation \
        (RFC 7009), for a refresh token that matches no session: the answer tells nothing about \
        a token. Only the holder of one of a session's refresh tokens can end it this way; \
        knowing its id is not enough.",
    request_body(content(
        (RefreshRequest = "application/json"),
        (RefreshForm = "application/x-www-form-urlencoded"),
    )),
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "The session is ended."),
        (status = 401, description = "Neither a bearer token nor a body; or a bearer token that is malformed, expired or badly signed (`not_authenticated`). Carries `WWW-Authenticate: Bearer`.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A body whose Content-Type is neither JSON nor the form (`unsupported_media_type`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body with missing or unknown fields, or that is not a JSON object (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    bearer: Option<BearerToken>,
    RawBody(body): RawBody,
) -> Result<HttpResponse, ApiError> {
    // A body is given when it has bytes or a declared type.
    let refresh = if body.is_empty() && content_type(&req).is_none() {
        None
    } else {
        Some(refresh_token_of(&req, &body)?)
    };
    match (bearer, refresh) {
        (None, None) => return Err(um_domain::Error::Unauthenticated.into()),
        (Some(BearerToken(access)), refresh) => {
            state.users.logout_bearer(&access).await?;
            if let Some(refresh) = refresh {
                state.users.logout_with_refresh(&refresh).await?;
            }
        }
        (None, Some(refresh)) => state.users.logout_with_refresh(&refresh).await?,
    }
    Ok(HttpResponse::NoContent().finish())
}

/// One of the caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// The session's id (also the `sid` claim of its access tokens).
    id: Uuid,
    /// The login that started it.
    created_at: DateTime<Utc>,
    /// The login, or the latest refresh (requests with its access tokens do not count).
    last_used_at: DateTime<Utc>,
    /// When it ends however often it is refreshed.
    expires_at: DateTime<Utc>,
    /// The `User-Agent` of the login (at most 256 characters).
    user_agent: Option<String>,
    /// The client's address at the login (behind a proxy in `TRUSTED_PROXIES`, the one it
    /// forwarded).
    ip: Option<String>,
    /// True for the session of the bearer token of this request.
    current: bool,
}

/// `GET /me/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Live sessions, newest first.
    items: Vec<SessionResponse>,
}

impl SessionResponse {
    fn new(session: Session, current: SessionId) -> Self {
        Self {
            id: session.id.0,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            user_agent: session.user_agent,
            ip: session.ip,
            current: session.id == current,
        }
    }
}

/// `GET /me/sessions`: the caller's live sessions, newest first.
#[utoipa::path(
    get,
    path = "/me/sessions",
    operation_id = "list_my_sessions",
    tag = "sessions",
    summary = "List one's sessions",
    description = "The caller's live sessions (not ended, not expired), newest first; \
        `current` marks the one of this request's bearer token.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sessions.", body = SessionList),
    )
)]
pub async fn list_mine(
    state: web::Data<AppState>,
    me: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let current = me.session();
    let items = state
        .users
        .sessions_of(me.0.id)
        .await?
        .into_iter()
        .map(|s| SessionResponse::new(s, current))
        .collect();
    Ok(HttpResponse::Ok().json(SessionList { items }))
}

/// `DELETE /me/sessions/{session_id}`: ends one of the caller's sessions.
#[utoipa::path(
    delete,
    path = "/me/sessions/{session_id}",
    operation_id = "end_my_session",
    tag = "sessions",
    summary = "End one of one's sessions",
    description = "Ends one of the caller's live sessions, the current one too if named: \
        every token of it stops working at once.",
    params(("session_id" = Uuid, Path, description = "The session's id, from `GET /me/sessions`.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Ended."),
        (status = 404, description = "No live session of the caller with this id (`session_not_found`): someone else's, unknown or ended.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`session_id` is not a UUID (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn end_mine(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::try_parse(&path)
        .map(SessionId)
        .map_err(|_| ApiError::invalid("session_id", "must be a UUID"))?;
    state.users.end_own_session(me.0.id, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /me/sessions`: ends every session of the caller but the current one.
#[utoipa::path(
    delete,
    path = "/me/sessions",
    operation_id = "end_my_other_sessions",
    tag = "sessions",
    summary = "Log out everywhere else",
    description = "Ends every session of the caller except the one of this request's bearer \
        token.",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every other session is ended."),
    )
)]
pub async fn end_others(
    state: web::Data<AppState>,
    me: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    state
        .users
        .end_other_sessions(me.0.id, me.session())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /users/{user_id}/sessions`: staff ends every session of an account.
#[utoipa::path(
    delete,
    path = "/users/{user_id}/sessions",
    operation_id = "revoke_user_sessions",
    tag = "users",
    summary = "End every session of an account",
    description = "Every session of the account ends: its refresh tokens and access tokens \
        stop working at once, and its owner must log in again. A `MANAGER` may do this only to \
        `ANONYMOUS` and `AUTHENTICATED` accounts. Audited as `sessions_revoked`, with the number \
        of sessions ended (`live_sessions` before and after), also when there was none.",
    params(("user_id" = Uuid, Path, description = "The account's id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session of the account is ended."),
        (status = 422, description = "`user_id` is not a UUID (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&path, "user_id")?;
    state.users.revoke_sessions(me.actor(), id).await?;
    Ok(HttpResponse::NoContent().finish())
}
