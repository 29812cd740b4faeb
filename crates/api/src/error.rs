//! The one place where errors become HTTP responses: RFC 9457 problem details with a human
//! `detail` and a stable snake_case `code`.

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use serde::Serialize;
use um_domain::{
    Error as DomainError,
    validation::{FieldError, ValidationErrors},
};
use utoipa::ToSchema;

/// Every error a handler can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("Not found")]
    RouteNotFound,
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("Too many requests; try again in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
    #[error("The request took longer than {seconds} s and was abandoned; try again later")]
    Timeout { seconds: u64 },
    /// The body of an upload did not arrive in time (a client trickling it holds an upload slot).
    #[error("The upload's body did not arrive within {seconds} s")]
    BodyTimeout { seconds: u64 },
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        Self::Domain(DomainError::Validation(e))
    }
}

impl ApiError {
    /// A 422 for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Domain(DomainError::Validation(ValidationErrors::single(
            field, message,
        )))
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Domain(e) => match e {
                DomainError::Validation(_) => "validation_error",
                DomainError::EmailExists | DomainError::EmailTaken => "email_taken",
                DomainError::NicknameTaken => "nickname_taken",
                DomainError::InvalidCredentials => "invalid_credentials",
                DomainError::AccountLocked => "account_locked",
                DomainError::InvalidVerificationToken => "invalid_verification_token",
                DomainError::InvalidResetToken => "invalid_reset_token",
                DomainError::InvalidUnlockToken => "invalid_unlock_token",
                DomainError::Unauthenticated => "not_authenticated",
                DomainError::InvalidRefreshToken => "invalid_refresh_token",
                DomainError::SessionNotFound => "session_not_found",
                DomainError::Forbidden => "forbidden",
                DomainError::UserNotFound => "user_not_found",
                DomainError::LastAdmin => "last_admin",
                DomainError::UnsupportedImage => "unsupported_image_format",
                DomainError::InvalidImage(_) => "invalid_image",
                DomainError::PictureNotFound => "picture_not_found",
                DomainError::NotEligibleForPro(_) => "not_eligible_for_pro",
                DomainError::AlreadyProfessional => "already_professional",
                DomainError::IncorrectPassword => "incorrect_password",
                DomainError::Unavailable(_) => "service_unavailable",
                DomainError::Internal(_) => "internal_error",
            },
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RouteNotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Timeout { .. } => "request_timeout",
            Self::BodyTimeout { .. } => "body_timeout",
        }
    }
}

/// The body of every error response: RFC 9457 problem details
/// (`application/problem+json`) with a human `detail` and a stable snake_case `code`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = Problem,
    example = json!({"type": "about:blank", "title": "Bad Request", "status": 400,
        "code": "email_taken", "detail": "Email already exists"})
)]
pub struct Problem<'a> {
    /// Always `about:blank`: the status and `code` say what happened.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "about:blank")]
    pub kind: &'static str,
    /// The status's reason phrase.
    #[schema(value_type = String, example = "Bad Request")]
    pub title: &'static str,
    /// The HTTP status code.
    #[schema(example = 400)]
    pub status: u16,
    /// A stable snake_case code, e.g. `validation_error`, `email_taken`, `nickname_taken`,
    /// `invalid_credentials`, `account_locked`, `not_authenticated`, `invalid_refresh_token`,
    /// `forbidden`, `user_not_found`, `session_not_found`, `last_admin`, `unsupported_image_format`, `invalid_image`,
    /// `not_eligible_for_pro`, `already_professional`, `payload_too_large`,
    /// `unsupported_media_type`, `too_many_requests`, `service_unavailable`, `request_timeout`,
    /// `internal_error`.
    #[schema(value_type = String, example = "email_taken")]
    pub code: &'a str,
    /// A human explanation, kept from the FastAPI original where it had one.
    #[schema(example = "Email already exists")]
    pub detail: String,
    /// Validation errors (422): one entry per bad field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<ProblemField>>, nullable = false)]
    pub errors: Option<Vec<ProblemField<'a>>>,
    /// For a refused PRO upgrade (422 `not_eligible_for_pro`): what the profile still lacks, in
    /// this order: `email_verified`, `first_name`, `last_name`, `bio`, `profile_picture`,
    /// `linkedin_or_github_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::schema::ProRequirement>>, nullable = false)]
    pub missing: Option<Vec<&'static str>>,
}

/// One bad field of a validation error.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProblemField)]
pub struct ProblemField<'a> {
    /// The field's name (`body` when the body as a whole is wrong).
    #[schema(value_type = String, example = "email")]
    pub field: &'a str,
    #[schema(value_type = String)]
    pub message: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Domain(e) => match e {
                DomainError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                DomainError::EmailExists
                | DomainError::IncorrectPassword
                | DomainError::AccountLocked
                | DomainError::InvalidVerificationToken
                | DomainError::InvalidResetToken
                | DomainError::InvalidUnlockToken => StatusCode::BAD_REQUEST,
                DomainError::EmailTaken
                | DomainError::NicknameTaken
                | DomainError::LastAdmin
                | DomainError::AlreadyProfessional => StatusCode::CONFLICT,
                DomainError::NotEligibleForPro(_) => StatusCode::UNPROCESSABLE_ENTITY,
                DomainError::InvalidCredentials
                | DomainError::Unauthenticated
                | DomainError::InvalidRefreshToken => StatusCode::UNAUTHORIZED,
                DomainError::Forbidden => StatusCode::FORBIDDEN,
                DomainError::UserNotFound
                | DomainError::PictureNotFound
                | DomainError::SessionNotFound => StatusCode::NOT_FOUND,
                DomainError::UnsupportedImage => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                DomainError::InvalidImage(_) => StatusCode::UNPROCESSABLE_ENTITY,
                DomainError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let Self::Domain(DomainError::Internal(cause) | DomainError::Unavailable(cause)) = self {
            tracing::error!(error = ?cause, status = status.as_u16(), "request failed");
        }
        let errors = match self {
            Self::Domain(DomainError::Validation(ValidationErrors(list))) => Some(
                list.iter()
                    .map(|FieldError { field, message }| ProblemField { field, message })
                    .collect(),
            ),
            Self::Domain(DomainError::InvalidImage(message)) => Some(vec![ProblemField {
                field: "file",
                message,
            }]),
            _ => None,
        };
        let problem = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            code: self.code(),
            detail: self.to_string(),
            errors,
            missing: match self {
                Self::Domain(DomainError::NotEligibleForPro(missing)) => {
                    Some(missing.iter().map(|r| r.as_str()).collect())
                }
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Self::TooManyRequests { retry_after } = self {
            response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        response.json(problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body(e: &ApiError) -> serde_json::Value {
        let bytes = e
            .error_response()
            .into_body()
            .try_into_bytes()
            .expect("a full body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let e = ApiError::from(DomainError::Internal(anyhow::anyhow!(
            "password hash $argon2id$ leaked"
        )));
        let json = body(&e);
        assert_eq!(json["status"], 500);
        assert_eq!(json["detail"], "Internal server error");
        assert!(!json.to_string().contains("argon2"));
    }

    #[test]
    fn validation_errors_list_each_field() {
        let e = ApiError::from(DomainError::Validation(ValidationErrors(vec![
            FieldError {
                field: "email".into(),
                message: "bad".into(),
            },
            FieldError {
                field: "password".into(),
                message: "weak".into(),
            },
        ])));
        let json = body(&e);
        assert_eq!(json["code"], "validation_error");
        assert_eq!(json["errors"][1]["field"], "password");
    }

    #[test]
    fn unauthorized_answers_carry_the_bearer_challenge() {
        let response = ApiError::from(DomainError::Unauthenticated).error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
    }
}
