//! Schemas of the API document for values the domain owns (it knows nothing of OpenAPI): the
//! enums as the wire spells them, and the shapes of the picture upload. Handlers and wire types
//! name them in `#[schema(value_type = …)]`; nothing here depends on the rest of the crate.

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        RefOr, Schema,
        schema::{ObjectBuilder, Type},
    },
};

/// A role, as stored and shown.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Registered, email not verified.
    Anonymous,
    /// Email verified.
    Authenticated,
    Manager,
    Admin,
}

/// A requirement of the PRO upgrade that the profile does not meet yet.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ProRequirement {
    EmailVerified,
    FirstName,
    LastName,
    Bio,
    ProfilePicture,
    LinkedinOrGithubUrl,
}

/// The kind of an audit event.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AuditKind {
    RoleChanged,
    Locked,
    Unlocked,
    ProStatusChanged,
    UserDeleted,
    UserUpdated,
    PictureChanged,
    PictureDeleted,
}

/// The body of a picture upload: one part named `file` (other parts are ignored). The format is
/// detected from the bytes, never from the file name or the part's content type.
#[derive(ToSchema)]
pub struct PictureUpload {
    /// A JPEG, PNG, WebP or GIF (first frame) image, at most `MAX_PICTURE_BYTES` (default
    /// 5 MiB) and `MAX_PICTURE_PIXELS` (default 40 megapixels).
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    pub file: Vec<u8>,
}

/// Raw bytes (a picture).
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/octet-stream")
            .into()
    }
}

impl ToSchema for Binary {}
