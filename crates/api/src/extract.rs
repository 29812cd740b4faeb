//! Request extractors that answer bad input with the contract's 4xx problems.

use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpRequest,
    dev::Payload,
    http::header,
    web::{self, Bytes},
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use um_domain::model::UserId;
use uuid::Uuid;

use crate::error::ApiError;

/// The largest JSON (or form) body accepted. The app's `PayloadConfig` carries it too, so that
/// reading stops there instead of at actix's default of 256 KiB.
pub const JSON_LIMIT: usize = 64 * 1024;

/// A request body of at most [`JSON_LIMIT`] bytes, for handlers that take JSON or a form; a
/// larger one is a 413 problem, read no further than the limit.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move { limited(bytes.await).map(RawBody) })
    }
}

/// The body as read under the app's `PayloadConfig`, held to [`JSON_LIMIT`] whatever it says.
fn limited(read: Result<Bytes, actix_web::Error>) -> Result<Bytes, ApiError> {
    match read {
        Ok(bytes) if bytes.len() <= JSON_LIMIT => Ok(bytes),
        _ => Err(ApiError::PayloadTooLarge),
    }
}

/// A JSON body. Unlike actix's `Json`, every failure is a 422 problem naming the field
/// (unknown fields included, since request types deny them), a non-JSON content type is a 415,
/// and an oversized body a 413.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = content_type(req).is_none_or(|ct| is_json(&ct));
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "Content-Type must be application/json".into(),
                ));
            }
            let bytes = limited(bytes.await)?;
            parse_json(&bytes).map(JsonBody)
        })
    }
}

/// The request's media type, lower-cased, without parameters.
pub fn content_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// A body that an endpoint takes either as an OAuth2 form or as JSON.
pub enum FormOrJson<F, J> {
    Form(F),
    Json(J),
}

const FORM: &str = "application/x-www-form-urlencoded";

/// Parses `body` as the form `F` (`application/x-www-form-urlencoded`) or as the JSON `J` (a
/// JSON media type, or none given).
///
/// # Errors
/// 415 for another media type; 422 for a body that does not parse, naming what is wrong.
pub fn form_or_json<F: DeserializeOwned, J: DeserializeOwned>(
    req: &HttpRequest,
    body: &Bytes,
) -> Result<FormOrJson<F, J>, ApiError> {
    match content_type(req).as_deref() {
        Some(FORM) => serde_urlencoded::from_bytes(body)
            .map(FormOrJson::Form)
            .map_err(|e| ApiError::invalid("body", format!("not the expected form: {e}"))),
        Some(ct) if !is_json(ct) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be {FORM} or application/json"
        ))),
        _ => parse_json(body).map(FormOrJson::Json),
    }
}

pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// Parses a JSON body into `T`, turning serde's complaint into a 422 that names the field.
///
/// # Errors
/// A validation problem.
pub fn parse_json<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    // serde would also fill a struct from a JSON array; the contract speaks of objects only.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid("body", "a JSON object is required"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        ApiError::invalid(field_of(&path, &message), clean(&message))
    })
}

/// serde names unknown and missing fields only in its message (`unknown field `x``).
fn field_of(path: &str, message: &str) -> String {
    for prefix in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((name, _)) = rest.split_once('`')
        {
            // serde_path_to_error already ends the path with an unknown field's name.
            return if path == "." {
                name.to_owned()
            } else if path == name || path.ends_with(&format!(".{name}")) {
                path.to_owned()
            } else {
                format!("{path}.{name}")
            };
        }
    }
    if path == "." || path == "?" {
        "body".to_owned()
    } else {
        path.to_owned()
    }
}

/// serde's message without the " at line 1 column 12" position suffix.
fn clean(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Parses an id from a path segment: a malformed one is a 422, as the contract says.
///
/// # Errors
/// A validation problem naming `field`.
pub fn parse_user_id(raw: &str, field: &str) -> Result<UserId, ApiError> {
    Uuid::parse_str(raw)
        .map(UserId)
        .map_err(|_| ApiError::invalid(field, "must be a UUID"))
}

/// For partial updates: a missing field is `None`, an explicit `null` is `Some(None)`.
///
/// # Errors
/// Whatever `T`'s deserializer says.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Body {
        email: String,
        #[serde(default)]
        age: Option<u8>,
    }

    fn field(json: &str) -> String {
        match parse_json::<Body>(&Bytes::from(json.to_owned())) {
            Err(ApiError::Domain(um_domain::Error::Validation(v))) => v.0[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn serde_errors_name_the_field() {
        assert_eq!(field(r#"{"email":"a","emial":"b"}"#), "emial");
        assert_eq!(field(r#"{"age":3}"#), "email");
        assert_eq!(field(r#"{"email":"a","age":"old"}"#), "age");
        assert_eq!(field("[1]"), "body");
        assert_eq!(field("{"), "body");
        assert_eq!(field(""), "body");
    }
}
