//! Request bodies and their one-step conversion into domain values. Every body denies unknown
//! fields, so a typo is a 422 rather than silently ignored.

use serde::Deserialize;
use serde_json::Value;
use um_domain::{
    model::{Bio, Email, Name, Nickname, Password, ProfileUrl, Role},
    services::{AdminChanges, ProfileChanges, Registration},
    validation::{ValidationErrors, Validator},
};

use crate::extract::double_option;

/// `POST /register` and `POST /users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    email: Option<String>,
    password: Option<String>,
    nickname: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    bio: Option<String>,
    linkedin_profile_url: Option<String>,
    github_profile_url: Option<String>,
    /// Registration ignores it (clients of the original always send one); `POST /users` uses it.
    #[serde(default, deserialize_with = "double_option")]
    role: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option")]
    profile_picture_url: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option")]
    profile_picture_thumbnail_url: Option<Option<Value>>,
}

impl NewUserRequest {
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
        let first_name = optional(&mut v, "first_name", self.first_name, Name::parse);
        let last_name = optional(&mut v, "last_name", self.last_name, Name::parse);
        let bio = optional(&mut v, "bio", self.bio, Bio::parse);
        let linkedin = optional(
            &mut v,
            "linkedin_profile_url",
            self.linkedin_profile_url,
            ProfileUrl::parse,
        );
        let github = optional(
            &mut v,
            "github_profile_url",
            self.github_profile_url,
            ProfileUrl::parse,
        );
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
                first_name,
                last_name,
                bio,
                linkedin_profile_url: linkedin,
                github_profile_url: github,
            },
            role,
        ))
    }
}

/// `PATCH /me`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    #[serde(default, deserialize_with = "double_option")]
    nickname: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    linkedin_profile_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    github_profile_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    profile_picture_url: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option")]
    profile_picture_thumbnail_url: Option<Option<Value>>,
}

/// `PUT /users/{id}`: the fields of `PATCH /me`, plus `email` and `role`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default, deserialize_with = "double_option")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    role: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    nickname: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    linkedin_profile_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    github_profile_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    profile_picture_url: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option")]
    profile_picture_thumbnail_url: Option<Option<Value>>,
}

/// The profile fields both update bodies share.
struct ProfilePatch {
    nickname: Option<Option<String>>,
    first_name: Option<Option<String>>,
    last_name: Option<Option<String>>,
    bio: Option<Option<String>>,
    linkedin_profile_url: Option<Option<String>>,
    github_profile_url: Option<Option<String>>,
    pictures_sent: (bool, bool),
}

impl ProfilePatch {
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
        ProfileChanges {
            nickname,
            first_name: patch(v, "first_name", self.first_name, Name::parse),
            last_name: patch(v, "last_name", self.last_name, Name::parse),
            bio: patch(v, "bio", self.bio, Bio::parse),
            linkedin_profile_url: patch(
                v,
                "linkedin_profile_url",
                self.linkedin_profile_url,
                ProfileUrl::parse,
            ),
            github_profile_url: patch(
                v,
                "github_profile_url",
                self.github_profile_url,
                ProfileUrl::parse,
            ),
        }
    }
}

impl UpdateMeRequest {
    /// # Errors
    /// Every bad field at once.
    pub fn try_into_domain(self) -> Result<ProfileChanges, ValidationErrors> {
        let mut v = Validator::default();
        let changes = ProfilePatch {
            nickname: self.nickname,
            first_name: self.first_name,
            last_name: self.last_name,
            bio: self.bio,
            linkedin_profile_url: self.linkedin_profile_url,
            github_profile_url: self.github_profile_url,
            pictures_sent: (
                self.profile_picture_url.is_some(),
                self.profile_picture_thumbnail_url.is_some(),
            ),
        }
        .parse(&mut v);
        v.finish()?;
        Ok(changes)
    }
}

impl UpdateUserRequest {
    /// # Errors
    /// Every bad field at once.
    pub fn try_into_domain(self) -> Result<AdminChanges, ValidationErrors> {
        let mut v = Validator::default();
        let email = match self.email {
            None => None,
            Some(None) => {
                v.error("email", "email cannot be removed, only changed");
                None
            }
            Some(Some(raw)) => v.check("email", Email::parse(&raw)),
        };
        let role = match self.role {
            None => None,
            Some(None) => {
                v.error("role", "role cannot be removed, only changed");
                None
            }
            Some(Some(raw)) => v.check("role", raw.parse::<Role>()),
        };
        let profile = ProfilePatch {
            nickname: self.nickname,
            first_name: self.first_name,
            last_name: self.last_name,
            bio: self.bio,
            linkedin_profile_url: self.linkedin_profile_url,
            github_profile_url: self.github_profile_url,
            pictures_sent: (
                self.profile_picture_url.is_some(),
                self.profile_picture_thumbnail_url.is_some(),
            ),
        }
        .parse(&mut v);
        v.finish()?;
        Ok(AdminChanges {
            email,
            role,
            profile,
        })
    }
}

/// `POST /verify-email/resend`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    pub email: String,
}

/// `PUT /me/password`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// `DELETE /me`: the password confirms the deletion.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeRequest {
    pub password: String,
}

/// `PUT /users/{id}/professional-status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfessionalStatusRequest {
    pub is_professional: bool,
}

/// `POST /login` as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginJson {
    pub email: String,
    pub password: String,
}

/// `POST /login` as an OAuth2 password form. The form's other fields (`grant_type`, `scope`,
/// `client_id`, `client_secret`) are accepted and ignored, as OAuth2 clients send them.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
}

/// An optional text field on creation: absent or blank is `None`.
fn optional<T, E: std::fmt::Display>(
    v: &mut Validator,
    field: &str,
    raw: Option<String>,
    parse: impl Fn(&str) -> Result<Option<T>, E>,
) -> Option<T> {
    raw.and_then(|s| v.check(field, parse(&s)).flatten())
}

/// A nullable field in a partial update: absent leaves it, `null` clears it.
fn patch<T, E: std::fmt::Display>(
    v: &mut Validator,
    field: &str,
    raw: Option<Option<String>>,
    parse: impl Fn(&str) -> Result<Option<T>, E>,
) -> Option<Option<T>> {
    match raw {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => v.check(field, parse(&s)),
    }
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
