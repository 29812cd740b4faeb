//! The errors of the use cases. The API maps each variant to one status in one place.

use crate::{model::ProRequirement, validation::ValidationErrors};

/// What a use case can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more fields break their rules (422).
    #[error("{0}")]
    Validation(ValidationErrors),
    /// Registration or creation with an email that exists (400, kept from the original).
    #[error("Email already exists")]
    EmailExists,
    /// Changing a user's email to one that another account has (409).
    #[error("Email already taken")]
    EmailTaken,
    /// The nickname belongs to another account (409).
    #[error("Nickname already taken")]
    NicknameTaken,
    /// Unknown email, wrong password or unverified email: one answer for all three (401).
    #[error("Incorrect email or password.")]
    InvalidCredentials,
    /// Too many failed logins (400, kept from the original).
    #[error("Account locked due to too many failed login attempts.")]
    AccountLocked,
    /// Wrong, used or expired verification token (400).
    #[error("Invalid or expired verification token")]
    InvalidVerificationToken,
    /// Wrong, used or expired password-reset token (400).
    #[error("Invalid or expired password reset token")]
    InvalidResetToken,
    /// Wrong, used or expired unlock token, or an account no longer locked (400).
    #[error("Invalid or expired unlock token")]
    InvalidUnlockToken,
    /// No valid bearer token, or its user is gone or locked (401).
    #[error("Could not validate credentials")]
    Unauthenticated,
    /// A refresh token that is unknown, expired, ended, used before, or whose account is
    /// locked or gone (401): the client logs in again.
    #[error("Invalid or expired refresh token")]
    InvalidRefreshToken,
    /// No live session with that id among the caller's (404).
    #[error("Session not found")]
    SessionNotFound,
    /// The actor lacks the rights (403).
    #[error("Operation not permitted")]
    Forbidden,
    /// No user with that id (404).
    #[error("User not found")]
    UserNotFound,
    /// The upload is not JPEG, PNG, WebP or GIF by its bytes (415).
    #[error("Unsupported image format")]
    UnsupportedImage,
    /// The upload is an image that cannot be used: corrupt, truncated or too many pixels (422).
    #[error("{0}")]
    InvalidImage(String),
    /// No stored picture under that key (404).
    #[error("Picture not found")]
    PictureNotFound,
    /// The account does not meet the PRO conditions (422); lists what is missing.
    #[error("Profile is not eligible for the PRO upgrade")]
    NotEligibleForPro(Vec<ProRequirement>),
    /// The account is PRO already (409).
    #[error("Already a PRO member")]
    AlreadyProfessional,
    /// The password given to confirm a change is wrong (400).
    #[error("Incorrect password")]
    IncorrectPassword,
    /// The change would leave no ADMIN (409).
    #[error("The last remaining ADMIN cannot be demoted or deleted")]
    LastAdmin,
    /// A backing service (database) does not answer; try again later (503).
    #[error("Service temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything unexpected (500). The cause is logged, never shown to clients.
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
}

impl From<ValidationErrors> for Error {
    fn from(e: ValidationErrors) -> Self {
        Self::Validation(e)
    }
}
