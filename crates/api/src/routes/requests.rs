//! Request bodies and their one-step conversion into domain values. Every body denies unknown
//! fields, so a typo is a 422 rather than silently ignored.

use serde::Deserialize;
use serde_json::Value;
use um_domain::{
    model::{Email, Nickname, Password, Profile, ProfileField, ProfilePatch, Role},
    services::{AdminChanges, ProfileChanges, Registration},
    validation::{ValidationErrors, Validator},
};
use utoipa::ToSchema;

use crate::{error::ApiError, extract::double_option};

/// `POST /register` and `POST /users`. Unknown fields are a 422; so are
/// `profile_picture_url` and `profile_picture_thumbnail_url`, which only an upload sets. Blank
/// names, bios and URLs count as none (`null`). Without a nickname one is generated
/// (`adjective_animal_number`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    #[schema(value_type = String, required = true, format = Email, max_length = 255)]
    email: Option<String>,
    /// 8–128 characters with an upper-case letter, a lower-case letter, a digit and a symbol.
    #[schema(value_type = String, required = true, min_length = 8, max_length = 128, format = Password)]
    password: Option<String>,
    /// 3–30 characters of `A–Z a–z 0–9 _ -`, unique without regard to case, not a reserved
    /// word (`admin`, `root`, `me`, `system`, `support`, `api`, `staff`, …).
    #[schema(min_length = 3, max_length = 30, pattern = "^[A-Za-z0-9_-]+$")]
    nickname: Option<String>,
    #[schema(max_length = 100)]
    first_name: Option<String>,
    #[schema(max_length = 100)]
    last_name: Option<String>,
    #[schema(max_length = 500)]
    bio: Option<String>,
    /// An absolute `http`/`https` URL.
    #[schema(format = Uri, max_length = 255)]
    linkedin_profile_url: Option<String>,
    /// An absolute `http`/`https` URL.
    #[schema(format = Uri, max_length = 255)]
    github_profile_url: Option<String>,
    /// `POST /register` accepts and ignores it (the original's clients always send one);
    /// `POST /users` uses it (default `ANONYMOUS`; only an `ADMIN` may create `MANAGER`/`ADMIN`).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::schema::Role>)]
    role: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(ignore)]
    profile_picture_url: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(ignore)]
    profile_picture_thumbnail_url: Option<Option<Value>>,
}

impl NewUserRequest {
    /// The email as sent, if any.
    #[must_use]
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// The registration, and the requested role if one was sent as a string.
    ///
    /// # Errors
    /// Every bad field at once.
    pub fn try_into_domain(self) -> Result<(Registration, Option<Role>), ValidationErrors> {
        let mut v = Validator::default();
        let email = v.required("email", self.email.as_deref().map(Email::parse));
        let email = email.and_then(|r| v.check("email", r));
        let password = v.required("password", self.password.as_deref().map(Password::parse));
        let password = password.and_then(|r| v.check("password", r));
        let nickname = v.check_opt("nickname", self.nickname.as_deref().map(Nickname::parse));
        let mut profile = Profile::default();
        for (field, raw) in [
            (ProfileField::FirstName, self.first_name),
            (ProfileField::LastName, self.last_name),
            (ProfileField::Bio, self.bio),
            (ProfileField::LinkedinProfileUrl, self.linkedin_profile_url),
            (ProfileField::GithubProfileUrl, self.github_profile_url),
        ] {
            if let Some(raw) = raw {
                v.check(field.as_str(), profile.set(field, &raw));
            }
        }
        let role = match self.role.flatten() {
            Some(Value::String(s)) => v.check("role", s.parse::<Role>()),
            Some(_) => {
                v.error("role", "role must be a string");
                None
            }
            None => None,
        };
        reject_read_only(
            &mut v,
            self.profile_picture_url.is_some(),
            self.profile_picture_thumbnail_url.is_some(),
        );
        v.finish()?;
        let (Some(email), Some(password)) = (email, password) else {
            return Err(ValidationErrors::single(
                "body",
                "email and password are required",
            ));
        };
        Ok((
            Registration {
                email,
                password,
                nickname,
                profile,
            },
            role,
        ))
    }
}

/// Declares a partial-update body: its own leading fields, then the fields a user may change
/// about themselves (the nickname and the profile) and the read-only picture URLs (a 422 when
/// sent), with [`ProfileUpdate`] taking them out.
macro_rules! profile_update_body {
    ($(#[$meta:meta])* pub struct $name:ident { $($own:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($own)*
            /// Can be changed, not removed (`null` is a 422).
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>, min_length = 3, max_length = 30, pattern = "^[A-Za-z0-9_-]+$")]
            nickname: Option<Option<String>>,
            /// `null` or blank clears it.
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>, max_length = 100)]
            first_name: Option<Option<String>>,
            /// `null` or blank clears it.
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>, max_length = 100)]
            last_name: Option<Option<String>>,
            /// `null` or blank clears it.
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>, max_length = 500)]
            bio: Option<Option<String>>,
            /// An absolute `http`/`https` URL; `null` or blank clears it.
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>, format = Uri, max_length = 255)]
            linkedin_profile_url: Option<Option<String>>,
            /// An absolute `http`/`https` URL; `null` or blank clears it.
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>, format = Uri, max_length = 255)]
            github_profile_url: Option<Option<String>>,
            #[serde(default, deserialize_with = "double_option")]
            #[schema(ignore)]
            profile_picture_url: Option<Option<Value>>,
            #[serde(default, deserialize_with = "double_option")]
            #[schema(ignore)]
            profile_picture_thumbnail_url: Option<Option<Value>>,
        }

        impl $name {
            /// The shared fields, taken out of the body.
            fn take_profile_update(&mut self) -> ProfileUpdate {
                ProfileUpdate {
                    nickname: self.nickname.take(),
                    profile: [
                        (ProfileField::FirstName, self.first_name.take()),
                        (ProfileField::LastName, self.last_name.take()),
                        (ProfileField::Bio, self.bio.take()),
                        (ProfileField::LinkedinProfileUrl, self.linkedin_profile_url.take()),
                        (ProfileField::GithubProfileUrl, self.github_profile_url.take()),
                    ],
                    pictures_sent: (
                        self.profile_picture_url.is_some(),
                        self.profile_picture_thumbnail_url.is_some(),
                    ),
                }
            }
        }
    };
}

profile_update_body!(
    /// `PATCH /me`: a partial update; an absent field is left as it is, at least one field is
    /// needed (422 otherwise). Unknown fields and the read-only picture URLs are a 422.
    pub struct UpdateMeRequest {}
);

profile_update_body!(
    /// `PUT /users/{id}`: the fields of `PATCH /me`, plus `email` and `role`; a partial update,
    /// at least one field (422 otherwise).
    pub struct UpdateUserRequest {
        /// A changed email becomes unverified and gets a new verification link; an `AUTHENTICATED`
        /// account drops back to `ANONYMOUS` until it verifies again (`MANAGER` and `ADMIN` keep
        /// their role). Can be changed, not removed.
        #[serde(default, deserialize_with = "double_option")]
        #[schema(value_type = Option<String>, format = Email, max_length = 255)]
        email: Option<Option<String>>,
        /// Changing it needs `ADMIN`. Can be changed, not removed.
        #[serde(default, deserialize_with = "double_option")]
        #[schema(value_type = Option<crate::schema::Role>)]
        role: Option<Option<String>>,
    }
);

/// The profile fields both update bodies share, as sent: absent leaves a field alone, `null`
/// (or blank) clears it.
struct ProfileUpdate {
    nickname: Option<Option<String>>,
    profile: [(ProfileField, Option<Option<String>>); 5],
    pictures_sent: (bool, bool),
}

impl ProfileUpdate {
    fn parse(self, v: &mut Validator) -> ProfileChanges {
        let nickname = match self.nickname {
            None => None,
            Some(None) => {
                v.error("nickname", "nickname cannot be removed, only changed");
                None
            }
            Some(Some(raw)) => v.check("nickname", Nickname::parse(&raw)),
        };
        reject_read_only(v, self.pictures_sent.0, self.pictures_sent.1);
        let mut profile = ProfilePatch::default();
        for (field, raw) in self.profile {
            if let Some(raw) = raw {
                v.check(field.as_str(), profile.set(field, raw.as_deref()));
            }
        }
        ProfileChanges { nickname, profile }
    }
}

impl UpdateMeRequest {
    /// # Errors
    /// Every bad field at once.
    pub fn try_into_domain(mut self) -> Result<ProfileChanges, ValidationErrors> {
        let mut v = Validator::default();
        let changes = self.take_profile_update().parse(&mut v);
        v.finish()?;
        Ok(changes)
    }
}

impl UpdateUserRequest {
    /// # Errors
    /// Every bad field at once.
    pub fn try_into_domain(mut self) -> Result<AdminChanges, ValidationErrors> {
        let mut v = Validator::default();
        let email = match self.email.take() {
            None => None,
            Some(None) => {
                v.error("email", "email cannot be removed, only changed");
                None
            }
            Some(Some(raw)) => v.check("email", Email::parse(&raw)),
        };
        let role = match self.role.take() {
            None => None,
            Some(None) => {
                v.error("role", "role cannot be removed, only changed");
                None
            }
            Some(Some(raw)) => v.check("role", raw.parse::<Role>()),
        };
        let profile = self.take_profile_update().parse(&mut v);
        v.finish()?;
        Ok(AdminChanges {
            email,
            role,
            profile,
        })
    }
}

/// `POST /verify-email/resend`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    #[schema(format = Email)]
    pub email: String,
}

/// `PUT /me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(format = Password)]
    pub current_password: String,
    /// 8–128 characters with an upper-case letter, a lower-case letter, a digit and a symbol.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// `DELETE /me`: the password confirms the deletion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeRequest {
    #[schema(format = Password)]
    pub password: String,
}

/// `PUT /users/{id}/professional-status`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfessionalStatusRequest {
    pub is_professional: bool,
}

/// `POST /login` as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginJson {
    #[schema(format = Email)]
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
}

/// `POST /login` as an OAuth2 form, as it arrives: which fields it needs depends on its grant
/// ([`TokenForm::grant`]); [`LoginForm`] describes the two shapes. The form's other OAuth2 fields
/// (`scope`, `client_id`, `client_secret`) are accepted and ignored, as OAuth2 clients send them.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub refresh_token: Option<String>,
}

/// `POST /login` as an OAuth2 form (one token URL for both grants): the password grant, or the
/// refresh grant. The form's other OAuth2 fields (`scope`, `client_id`, `client_secret`) are
/// accepted and ignored, as OAuth2 clients send them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // described, never built: requests are read as a `TokenForm`
pub enum LoginForm {
    Password(PasswordGrantForm),
    Refresh(RefreshGrantForm),
}

/// The password grant: the email and the password.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PasswordGrantForm {
    /// `password`, or absent.
    #[schema(nullable = false)]
    grant_type: Option<PasswordGrantType>,
    /// The email.
    #[schema(format = Email)]
    username: String,
    #[schema(format = Password)]
    password: String,
}

/// The refresh grant on the login URL: as `POST /token/refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct RefreshGrantForm {
    grant_type: RefreshGrantType,
    /// The refresh token of a login or of the latest refresh.
    refresh_token: String,
}

/// The grant of a password form: `password` only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PasswordGrantType {
    Password,
}

/// The grant of a refresh form: `refresh_token` only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // described, never built: the form carries it as text
pub enum RefreshGrantType {
    RefreshToken,
}

/// What a token form asks for.
pub enum Grant {
    Password { username: String, password: String },
    Refresh(String),
}

impl TokenForm {
    /// The grant the form asks for, with its fields.
    ///
    /// # Errors
    /// 422 naming an unknown grant or a missing field.
    pub fn grant(self) -> Result<Grant, ApiError> {
        match self.grant_type.as_deref() {
            None | Some("password") => match (self.username, self.password) {
                (Some(username), Some(password)) => Ok(Grant::Password { username, password }),
                (None, _) => Err(ApiError::invalid("username", "is required")),
                (_, None) => Err(ApiError::invalid("password", "is required")),
            },
            Some("refresh_token") => self
                .refresh_token
                .map(Grant::Refresh)
                .ok_or_else(|| ApiError::invalid("refresh_token", "is required")),
            Some(_) => Err(ApiError::invalid(
                "grant_type",
                "must be password or refresh_token",
            )),
        }
    }
}

/// `POST /token/refresh` and `POST /logout` as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of a login or of the latest refresh.
    pub refresh_token: String,
}

/// `POST /token/refresh` and `POST /logout` as an OAuth2 form; `grant_type`, when given, must be
/// `refresh_token` (the form's other OAuth2 fields are ignored).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshForm {
    /// `refresh_token`, or absent.
    #[schema(value_type = Option<RefreshGrantType>, nullable = false)]
    pub grant_type: Option<String>,
    pub refresh_token: String,
}

fn reject_read_only(v: &mut Validator, picture: bool, thumbnail: bool) {
    for (sent, field) in [
        (picture, "profile_picture_url"),
        (thumbnail, "profile_picture_thumbnail_url"),
    ] {
        if sent {
            v.error(field, "is read-only: upload a profile picture instead");
        }
    }
}
