//! Getting back in without a session: password reset and the unlock link. Both links open a
//! small HTML page first; only its form (or an API client) uses the token up, so a mail scanner
//! that follows links cannot spoil it.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;
use um_domain::{
    Error,
    model::{Email, Password},
};

use crate::{
    dto::MessageResponse,
    error::ApiError,
    extract::{JSON_LIMIT, JsonBody, content_type, is_json, parse_json},
    html::{escape, page},
    startup::AppState,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    email: String,
}

/// `POST /password-reset`: always 202; a known account is emailed a one-time link.
pub async fn request(
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<ResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    state.users.request_password_reset(&email).await?;
    Ok(HttpResponse::Accepted().json(MessageResponse {
        message: "If an account exists for this email, a reset link is on its way",
    }))
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /password-reset?token=…`: the form that sets a new password. Showing it uses nothing up.
pub async fn form(query: web::Query<TokenQuery>) -> HttpResponse {
    let Some(token) = query.token.as_deref().filter(|t| !t.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Reset your password",
            "<p>This link is incomplete. Ask for a new one.</p>",
        );
    };
    page(
        StatusCode::OK,
        "Reset your password",
        &format!(
            r#"<form method="post" action="/password-reset/confirm">
<input type="hidden" name="token" value="{token}">
<label for="new_password">New password</label>
<input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength="8" maxlength="128">
<p class="hint">8–128 characters with an upper-case letter, a lower-case letter, a digit and a symbol.</p>
<button type="submit">Set new password</button>
</form>"#,
            token = escape(token)
        ),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmJson {
    token: String,
    new_password: String,
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    token: String,
    new_password: String,
}

/// `POST /password-reset/confirm`: JSON `{token, new_password}` answers JSON; the page's form
/// answers with a page.
pub async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if body.len() > JSON_LIMIT {
        return Err(ApiError::PayloadTooLarge);
    }
    if is_form(&req) {
        let Ok(form) = serde_urlencoded::from_bytes::<ConfirmForm>(&body) else {
            return Ok(page(
                StatusCode::BAD_REQUEST,
                "Reset your password",
                "<p>The form was incomplete. Open the link from the email again.</p>",
            ));
        };
        let password = match Password::parse(&form.new_password) {
            Ok(p) => p,
            Err(e) => {
                return Ok(page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Reset your password",
                    &format!(
                        r#"<p class="error">{}</p><p><a href="/password-reset?token={}">Try another password</a></p>"#,
                        escape(&capitalised(&e.to_string())),
                        escape(&url_encode(&form.token))
                    ),
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
                    "Password changed",
                    "<p>Your password has been changed. You can sign in with it now.</p>",
                ),
                Err(Error::InvalidResetToken) => page(
                    StatusCode::BAD_REQUEST,
                    "Reset your password",
                    "<p>This link is invalid, used or expired. Ask for a new one.</p>",
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
pub async fn unlock_page(query: web::Query<TokenQuery>) -> HttpResponse {
    let Some(token) = query.token.as_deref().filter(|t| !t.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Unlock your account",
            "<p>This link is incomplete.</p>",
        );
    };
    page(
        StatusCode::OK,
        "Unlock your account",
        &format!(
            r#"<p>Your account was locked after too many failed sign-in attempts.</p>
<form method="post" action="/unlock">
<input type="hidden" name="token" value="{token}">
<button type="submit">Unlock my account</button>
</form>
<p class="hint">If the failed attempts were not yours, consider resetting your password too.</p>"#,
            token = escape(token)
        ),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockJson {
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct UnlockForm {
    token: String,
}

/// `POST /unlock`: JSON `{token}` → 200 `{message}`; a bad or used token → 400. The page's form
/// answers with a page.
pub async fn unlock(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if body.len() > JSON_LIMIT {
        return Err(ApiError::PayloadTooLarge);
    }
    if is_form(&req) {
        let token = serde_urlencoded::from_bytes::<UnlockForm>(&body)
            .map(|f| f.token)
            .unwrap_or_default();
        return Ok(match state.users.unlock_with_token(&token).await {
            Ok(()) => page(
                StatusCode::OK,
                "Account unlocked",
                "<p>Your account is unlocked. You can sign in again.</p>",
            ),
            Err(Error::InvalidUnlockToken) => page(
                StatusCode::BAD_REQUEST,
                "Unlock your account",
                "<p>This link is invalid, used or expired, or the account is not locked.</p>",
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

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
