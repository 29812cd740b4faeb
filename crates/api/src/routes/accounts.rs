//! Registration, verification and login: the public account endpoints.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use secrecy::SecretString;
use serde::Serialize;
use um_domain::{
    model::{ClientInfo, Email},
    services::LoginSuccess,
};
use utoipa::ToSchema;

use super::requests::{Grant, LoginForm, LoginJson, NewUserRequest, ResendRequest, TokenForm};
use crate::{
    client_ip::client_ip,
    dto::{MessageResponse, UserResponse},
    error::{ApiError, Problem},
    extract::{FormOrJson, JsonBody, RawBody, form_or_json, parse_user_id},
    limits::RateLimits,
    metrics::Metrics,
    state::AppState,
};

/// `POST /register`: 201 with the new account.
#[utoipa::path(
    post,
    path = "/register",
    operation_id = "register",
    tag = "accounts",
    summary = "Register an account",
    description = "The first account ever created becomes `ADMIN` with its email already verified \
        (`FIRST_USER_IS_ADMIN`, on by default); every later one starts `ANONYMOUS` and is sent a \
        verification email. A `role` in the body is accepted and ignored (the original's clients \
        always send one).",
    request_body(content = NewUserRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new account.", body = UserResponse),
        (status = 400, description = "Email already exists (`email_taken`).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nickname already taken (`nickname_taken`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown fields (`validation_error`), each named in `errors`.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    JsonBody(body): JsonBody<NewUserRequest>,
) -> Result<HttpResponse, ApiError> {
    if let Some(email) = body.email() {
        limits.check_account("/register", email).await?;
    }
    // A `role` in the body is accepted and ignored: registration never grants a role.
    let (registration, _ignored_role) = body.try_into_domain()?;
    let user = state.users.register(registration).await?;
    Ok(HttpResponse::Created().json(UserResponse::new(user, &state.urls)))
}

/// The tokens of a login or a refresh.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TokenResponse {
    /// A JWT with `sub` (the user's id), `role`, `iat`, `exp`, `iss`, `jti` and `sid` (the
    /// session); it works until it expires or its session ends.
    access_token: String,
    /// Always `bearer`.
    #[schema(value_type = String, example = "bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires (`ACCESS_TOKEN_TTL_MINUTES`, default 30 minutes).
    #[schema(example = 1800)]
    expires_in: i64,
    /// Opaque and single-use: trade it at `POST /token/refresh` for new tokens. Keep it secret;
    /// it is shown only in this answer.
    refresh_token: String,
    /// Seconds until the session ends, however often it is refreshed (`REFRESH_TOKEN_TTL_DAYS`
    /// after the login, default 30 days).
    #[schema(example = 2_592_000)]
    refresh_expires_in: i64,
}

/// 200 with the tokens of `success`, never cached.
pub(super) fn token_response(success: LoginSuccess) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenResponse {
            access_token: success.access.token,
            token_type: "bearer",
            expires_in: success.access.expires_in,
            refresh_token: success.refresh.expose().to_owned(),
            refresh_expires_in: success.refresh_expires_in,
        })
}

/// Where a login comes from, as its session records it: the `User-Agent` and the client's
/// address by the trusted-proxy rule.
fn client_info(req: &HttpRequest) -> ClientInfo {
    ClientInfo::new(
        req.headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        client_ip(req).map(|ip| ip.to_string()),
    )
}

/// `POST /login`: an OAuth2 form (the password grant, or the refresh grant) or JSON (`email`,
/// `password`).
#[utoipa::path(
    post,
    path = "/login",
    operation_id = "login",
    tag = "accounts",
    summary = "Log in",
    description = "Takes an OAuth2 password form (`username` = the email, `password`; the form's \
        other OAuth2 fields are ignored) or the same as JSON (`email`, `password`), and starts a \
        session. Unknown email, wrong password and unverified email all answer the same 401 in \
        about the same time. At `MAX_LOGIN_ATTEMPTS` (default 3) consecutive wrong passwords the \
        account locks, every session of it ends, and an email with a one-time unlock link is \
        sent (that attempt still answers 401). A successful login resets the counter and sets \
        `last_login_at`. Since OAuth2 clients use one token URL, the form also takes \
        `grant_type=refresh_token&refresh_token=...`, which is `POST /token/refresh`. Answers \
        `Cache-Control: no-store`.",
    request_body(content(
        (LoginForm = "application/x-www-form-urlencoded"),
        (LoginJson = "application/json"),
    )),
    responses(
        (status = 200, description = "The tokens of a new session (or, for the refresh grant, of the refreshed one).", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "Account locked due to too many failed login attempts (`account_locked`).", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Incorrect email or password (`invalid_credentials`), also for an unverified email; for the refresh grant, a refresh token that is unknown, expired, ended or used before, or whose account is locked or deleted (`invalid_refresh_token`).", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Content-Type is neither the form nor JSON (`unsupported_media_type`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or unknown fields, an unknown `grant_type`, or a body that is not a JSON object (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    metrics: web::Data<Metrics>,
    req: HttpRequest,
    RawBody(body): RawBody,
) -> Result<HttpResponse, ApiError> {
    let (email, password) = match form_or_json::<TokenForm, LoginJson>(&req, &body)? {
        FormOrJson::Form(form) => match form.grant()? {
            Grant::Password { username, password } => (username, password),
            Grant::Refresh(token) => return Ok(token_response(state.users.refresh(&token).await?)),
        },
        FormOrJson::Json(json) => (json.email, json.password),
    };
    limits.check_account("/login", &email).await?;
    let outcome = state
        .users
        .login(&email, SecretString::from(password), client_info(&req))
        .await;
    metrics.login(&outcome);
    Ok(token_response(outcome?))
}

/// `GET /verify-email/{user_id}/{token}`: 200 once, 400 for a wrong, used or expired token.
#[utoipa::path(
    get,
    path = "/verify-email/{user_id}/{token}",
    operation_id = "verify_email",
    tag = "accounts",
    summary = "Verify an email address",
    description = "The link of the verification email. Success makes an `ANONYMOUS` account \
        `AUTHENTICATED`. Tokens are single-use and expire after 24 hours by default.",
    params(
        ("user_id" = Uuid, Path, description = "The account's id."),
        ("token" = String, Path, description = "The token from the email."),
    ),
    responses(
        (status = 200, description = "Email verified successfully.", body = MessageResponse),
        (status = 400, description = "Invalid or expired verification token (`invalid_verification_token`): wrong, used or expired.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`user_id` is not a UUID (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify_email(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, token) = path.into_inner();
    let user_id = parse_user_id(&user_id, "user_id")?;
    state.users.verify_email(user_id, &token).await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Email verified successfully",
    }))
}

/// `POST /verify-email/resend`: always 202, whether or not the account exists.
#[utoipa::path(
    post,
    path = "/verify-email/resend",
    operation_id = "resend_verification",
    tag = "accounts",
    summary = "Send a fresh verification link",
    description = "Always 202 for a well-formed email, so it tells nothing about which accounts \
        exist; an unverified account gets a new link.",
    request_body(content = ResendRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted.", body = MessageResponse),
        (status = 422, description = "Invalid email or unknown fields (`validation_error`).", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address, or for this email (`rate_limited`); see `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn resend_verification(
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    JsonBody(body): JsonBody<ResendRequest>,
) -> Result<HttpResponse, ApiError> {
    limits
        .check_account("/verify-email/resend", &body.email)
        .await?;
    let email = Email::parse(&body.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    // As long for an unknown address as for a known one.
    crate::limits::in_uniform_time(state.users.resend_verification(&email)).await?;
    Ok(HttpResponse::Accepted().json(MessageResponse {
        message: "If the account exists and is not verified yet, a new link is on its way",
    }))
}
