//! Registration, verification and login: the public account endpoints.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Serialize;
use um_domain::model::Email;

use super::requests::{LoginForm, LoginJson, NewUserRequest, ResendRequest};
use crate::{
    dto::{MessageResponse, UserResponse},
    error::ApiError,
    extract::{JSON_LIMIT, JsonBody, content_type, is_json, parse_json, parse_user_id},
    startup::AppState,
};

/// `POST /register`: 201 with the new account.
pub async fn register(
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<NewUserRequest>,
) -> Result<HttpResponse, ApiError> {
    // A `role` in the body is accepted and ignored: registration never grants a role.
    let (registration, _ignored_role) = body.try_into_domain()?;
    let user = state.users.register(registration).await?;
    Ok(HttpResponse::Created().json(UserResponse::new(user, &state.urls)))
}

#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

/// `POST /login`: an OAuth2 password form (`username`, `password`) or JSON (`email`, `password`).
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if body.len() > JSON_LIMIT {
        return Err(ApiError::PayloadTooLarge);
    }
    let (email, password) = match content_type(&req).as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let form: LoginForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
                ApiError::invalid(
                    "body",
                    format!("expected the fields username and password: {e}"),
                )
            })?;
            (form.username, form.password)
        }
        Some(ct) if !is_json(ct) => {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/x-www-form-urlencoded or application/json".into(),
            ));
        }
        _ => {
            let json: LoginJson = parse_json(&body)?;
            (json.email, json.password)
        }
    };
    let success = state
        .users
        .login(&email, SecretString::from(password))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenResponse {
            access_token: success.access.token,
            token_type: "bearer",
            expires_in: success.access.expires_in,
        }))
}

/// `GET /verify-email/{user_id}/{token}`: 200 once, 400 for a wrong, used or expired token.
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
pub async fn resend_verification(
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<ResendRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    state.users.resend_verification(&email).await?;
    Ok(HttpResponse::Accepted().json(MessageResponse {
        message: "If the account exists and is not verified yet, a new link is on its way",
    }))
}
