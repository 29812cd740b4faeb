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

/// A schema for an enum of the domain, spelled as the domain spells it (`as_str` of each of
/// its `ALL`), so that the document cannot list other values than the service accepts.
macro_rules! domain_enum {
    ($(#[doc = $doc:literal])* $name:ident = $domain:path) => {
        $(#[doc = $doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(concat!($($doc),*).trim()))
                    .enum_values(Some(<$domain>::ALL.map(|v| v.as_str())))
                    .into()
            }
        }

        impl ToSchema for $name {}
    };
}

domain_enum!(
    /// A role, as stored and shown.
    Role = um_domain::model::Role
);
domain_enum!(
    /// A requirement of the PRO upgrade that the profile does not meet yet.
    ProRequirement = um_domain::model::ProRequirement
);
domain_enum!(
    /// The kind of an audit event.
    AuditKind = um_domain::model::AuditKind
);

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
