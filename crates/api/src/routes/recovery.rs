//! Getting back in without a session: password reset and the unlock link. Both links open a
//! small HTML page first; only its form (or an API client) uses the token up, so a mail scanner
//! that follows links cannot spoil it.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;
use um_domain::{
    Error,
    model::{Email, Password},
};
use utoipa::{IntoParams, ToSchema};

use crate::{
    dto::MessageResponse,
    error::{ApiError, Problem},
    extract::{JsonBody, RawBody, content_type, is_json, parse_json},
    html::{Page, page},
    limits::RateLimits,
    state::AppState,
};

/// `POST /password-reset`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(format = Email)]
    email: String,
}

/// `POST /password-reset`: always 202; a known account is emailed a one-time link.
#[utoipa::path(
    post,
    path = "/password-reset",
    operation_id = "request_password_reset",
    tag = "recovery",
    summary = "Ask for a password reset",
    description = "Always 202 for a well-formed email, so it tells nothing about which accounts exist; a known account is emailed a single-use link (valid 1 hour by default) to `GET /password-reset?token=…`.",
    request_body(content = ResetRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted.", body = MessageResponse),
        (status = 422, description = "Invalid email or unknown fields (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn request(
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    JsonBody(body): JsonBody<ResetRequest>,
) -> Result<HttpResponse, ApiError> {
    limits.check_account("/password-reset", &body.email).await?;
    let email = Email::parse(&body.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    // As long for an unknown address as for a known one.
    crate::limits::in_uniform_time(state.users.request_password_reset(&email)).await?;
    Ok(HttpResponse::Accepted().json(MessageResponse {
        message: "If an account exists for this email, a reset link is on its way",
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The token from the email's link.
    token: Option<String>,
}

/// `GET /password-reset?token=…`: the form that sets a new password. Showing it uses nothing up.
#[utoipa::path(
    get,
    path = "/password-reset",
    operation_id = "password_reset_page",
    tag = "recovery",
    summary = "The password reset page",
    description = "The link in the reset email opens this small HTML page with a form that posts the new password to `POST /password-reset/confirm`. Showing it never uses the token up, so a mail scanner that follows links cannot spoil it.",
    params(TokenQuery),
    responses(
        (status = 200, description = "The form.", content_type = "text/html", body = String,
            headers(("Content-Security-Policy" = String, description = "A restrictive policy: no scripts, forms post back here only."))),
        (status = 400, description = "The link has no token.", content_type = "text/html", body = String,
            headers(("Content-Security-Policy" = String, description = "A restrictive policy: no scripts, forms post back here only."))),
    )
)]
pub async fn form(query: web::Query<TokenQuery>) -> HttpResponse {
    let Some(token) = query.token.as_deref().filter(|t| !t.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            Page::Message {
                title: "Reset your password",
                message: "This link is incomplete. Ask for a new one.",
            },
        );
    };
    page(StatusCode::OK, Page::PasswordReset { token })
}

/// `POST /password-reset/confirm` as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmJson {
    token: String,
    /// 8–128 characters with an upper-case letter, a lower-case letter, a digit and a symbol.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    new_password: String,
}

/// `POST /password-reset/confirm` from the page's form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmForm {
    token: String,
    #[schema(format = Password, min_length = 8, max_length = 128)]
    new_password: String,
}

/// `POST /password-reset/confirm`: JSON `{token, new_password}` answers JSON; the page's form
/// answers with a page.
#[utoipa::path(
    post,
    path = "/password-reset/confirm",
    operation_id = "confirm_password_reset",
    tag = "recovery",
    summary = "Set a new password with a reset token",
    description = "The password changes, the lock and failed-attempt counter clear, and every earlier reset token dies. JSON is answered with JSON; the page's form (`application/x-www-form-urlencoded`) is answered with an HTML page (200, or 400/422 explaining what to do).",
    request_body(content((ConfirmJson = "application/json"), (ConfirmForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Password has been reset (JSON), or a confirmation page (form).", content((MessageResponse = "application/json"), (String = "text/html"))),
        (status = 400, description = "Invalid, used or expired token (`invalid_reset_token`); a page for the form.", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 415, description = "Content-Type is neither JSON nor the form (`unsupported_media_type`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A new password that breaks the rules, or missing or unknown fields (`validation_error`); a page for the form.", content((Problem = "application/problem+json"), (String = "text/html"))),
    )
)]
pub async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    RawBody(body): RawBody,
) -> Result<HttpResponse, ApiError> {
    if is_form(&req) {
        let Ok(form) = serde_urlencoded::from_bytes::<ConfirmForm>(&body) else {
            return Ok(page(
                StatusCode::BAD_REQUEST,
                Page::Message {
                    title: "Reset your password",
                    message: "The form was incomplete. Open the link from the email again.",
                },
            ));
        };
        let password = match Password::parse(&form.new_password) {
            Ok(p) => p,
            Err(e) => {
                return Ok(page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Page::PasswordResetRetry {
                        error: &capitalised(&e.to_string()),
                        token: &form.token,
                    },
                ));
            }
        };
        return Ok(
            match state
                .users
                .confirm_password_reset(&form.token, password)
                .await
            {
                Ok(()) => page(
                    StatusCode::OK,
                    Page::Message {
                        title: "Password changed",
                        message: "Your password has been changed. You can sign in with it now.",
                    },
                ),
                Err(Error::InvalidResetToken) => page(
                    StatusCode::BAD_REQUEST,
                    Page::Message {
                        title: "Reset your password",
                        message: "This link is invalid, used or expired. Ask for a new one.",
                    },
                ),
                Err(e) => return Err(e.into()),
            },
        );
    }
    require_json(&req)?;
    let body: ConfirmJson = parse_json(&body)?;
    let password = Password::parse(&body.new_password)
        .map_err(|e| ApiError::invalid("new_password", e.to_string()))?;
    state
        .users
        .confirm_password_reset(&body.token, password)
        .await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Password has been reset",
    }))
}

/// `GET /unlock?token=…`: asks for confirmation; showing it uses nothing up.
#[utoipa::path(
    get,
    path = "/unlock",
    operation_id = "unlock_page",
    tag = "recovery",
    summary = "The unlock page",
    description = "The one-time link of the \"account locked\" email opens this small HTML confirmation page whose button posts to `POST /unlock`. Showing it uses nothing up.",
    params(TokenQuery),
    responses(
        (status = 200, description = "The confirmation page.", content_type = "text/html", body = String,
            headers(("Content-Security-Policy" = String, description = "A restrictive policy: no scripts, forms post back here only."))),
        (status = 400, description = "The link has no token.", content_type = "text/html", body = String,
            headers(("Content-Security-Policy" = String, description = "A restrictive policy: no scripts, forms post back here only."))),
    )
)]
pub async fn unlock_page(query: web::Query<TokenQuery>) -> HttpResponse {
    let Some(token) = query.token.as_deref().filter(|t| !t.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            Page::Message {
                title: "Unlock your account",
                message: "This link is incomplete.",
            },
        );
    };
    page(StatusCode::OK, Page::Unlock { token })
}

/// `POST /unlock` as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockJson {
    token: String,
}

/// `POST /unlock` from the page's form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UnlockForm {
    token: String,
}

/// `POST /unlock`: JSON `{token}` → 200 `{message}`; a bad or used token → 400. The page's form
/// answers with a page.
#[utoipa::path(
    post,
    path = "/unlock",
    operation_id = "unlock_account",
    tag = "recovery",
    summary = "Unlock one's account with the emailed token",
    description = "Clears the lock and the failed-attempt counter. JSON is answered with JSON; the page's form (`application/x-www-form-urlencoded`) is answered with an HTML page.",
    request_body(content((UnlockJson = "application/json"), (UnlockForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Account unlocked (JSON), or a confirmation page (form).", content((MessageResponse = "application/json"), (String = "text/html"))),
        (status = 400, description = "Invalid, used or expired token, or the account is not locked (`invalid_unlock_token`); a page for the form.", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 415, description = "Content-Type is neither JSON nor the form (`unsupported_media_type`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or unknown fields (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn unlock(
    state: web::Data<AppState>,
    req: HttpRequest,
    RawBody(body): RawBody,
) -> Result<HttpResponse, ApiError> {
    if is_form(&req) {
        let token = serde_urlencoded::from_bytes::<UnlockForm>(&body)
            .map(|f| f.token)
            .unwrap_or_default();
        return Ok(match state.users.unlock_with_token(&token).await {
            Ok(()) => page(
                StatusCode::OK,
                Page::Message {
                    title: "Account unlocked",
                    message: "Your account is unlocked. You can sign in again.",
                },
            ),
            Err(Error::InvalidUnlockToken) => page(
                StatusCode::BAD_REQUEST,
                Page::Message {
                    title: "Unlock your account",
                    message: "This link is invalid, used or expired, or the account is not locked.",
                },
            ),
            Err(e) => return Err(e.into()),
        });
    }
    require_json(&req)?;
    let body: UnlockJson = parse_json(&body)?;
    state.users.unlock_with_token(&body.token).await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Account unlocked",
    }))
}

fn is_form(req: &HttpRequest) -> bool {
    content_type(req).as_deref() == Some("application/x-www-form-urlencoded")
}

fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    match content_type(req) {
        Some(ct) if !is_json(&ct) => Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json or application/x-www-form-urlencoded".into(),
        )),
        _ => Ok(()),
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
