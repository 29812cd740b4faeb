//! The model: value objects that are valid once they exist, and the user built from them.

mod audit;
mod avatar;
mod email;
mod nickname;
mod password;
mod picture;
mod pro;
mod profile;
mod role;
mod session;
mod token;
mod user;
mod words;

pub use audit::{AuditChange, AuditEvent, AuditKind, AuditKindError};
pub use avatar::default_avatar_svg;
pub use email::{Email, EmailError};
pub use nickname::{Nickname, NicknameError, generate_nickname};
pub use password::{Password, PasswordError, PasswordHash};
pub use picture::{PictureFormat, PictureKey, PictureKeyError, PictureKeys};
pub use pro::{ProRequirement, ProUpgrade};
pub use profile::{
    Bio, FORMAT_CHARACTERS, FieldKind, Name, Patch, Profile, ProfileField, ProfileFieldError,
    ProfilePatch, ProfileUrl, TextError, UrlError, is_forbidden_in_text,
};
pub use role::{Role, RoleError};
pub use session::{ClientInfo, MAX_USER_AGENT_CHARS, RefreshToken, Session, SessionId};
pub use token::{RawToken, TokenHash};
pub use user::{User, UserId};
