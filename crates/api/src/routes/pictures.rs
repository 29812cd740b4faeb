//! Profile pictures: upload and removal (the user themselves or staff), serving, avatars.

use actix_multipart::{Multipart, MultipartError};
use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{self, EntityTag, IfNoneMatch},
    },
    web,
};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt as _, TryStreamExt as _};
use um_domain::{model::UserId, services::Avatar};

use crate::{
    auth::CurrentUser,
    dto::UserResponse,
    error::{ApiError, Problem},
    extract::parse_user_id,
    metrics::Metrics,
    schema::{Binary, PictureUpload},
    state::AppState,
};

/// `POST /users/{id}/profile-picture`.
#[utoipa::path(
    post,
    path = "/users/{user_id}/profile-picture",
    operation_id = "upload_for_user",
    tag = "pictures",
    summary = "Upload a profile picture for an account",
    description = "Allowed: the user themselves, `MANAGER` (on `ANONYMOUS`/`AUTHENTICATED` accounts) and `ADMIN`. The format is detected from the bytes, never from the file name or the part's content type: JPEG, PNG and WebP (GIF: first frame). The image is decoded, EXIF orientation applied, and re-encoded (which strips every metadata block) into a main picture within 512×512 keeping its aspect ratio and a 128×128 centre-cropped thumbnail, stored under fresh unguessable keys; then the previous objects are deleted. A failed upload leaves the previous picture in place.",
    params(("user_id" = Uuid, Path, description = "The account's id.")),
    request_body(content = PictureUpload, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account with `profile_picture_url` and `profile_picture_thumbnail_url` set.", body = UserResponse),
        (status = 403, description = "Operation not permitted (`forbidden`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`user_id` is not a UUID, no part named `file`, an empty, undecodable or truncated image, or more than `MAX_PICTURE_PIXELS` (default 40 megapixels) (`validation_error`, `invalid_image`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload_for_user(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    me: CurrentUser,
    path: web::Path<String>,
    req: HttpRequest,
    multipart: Multipart,
) -> Result<HttpResponse, ApiError> {
    let outcome = match parse_user_id(&path, "user_id") {
        Ok(id) => upload(&state, &me, id, &req, multipart).await,
        Err(e) => Err(e),
    };
    metrics.upload(&outcome);
    outcome
}

/// `POST /me/profile-picture`.
#[utoipa::path(
    post,
    path = "/me/profile-picture",
    operation_id = "upload_for_me",
    tag = "pictures",
    summary = "Upload one's own profile picture",
    description = "The format is detected from the bytes, never from the file name or the part's content type: JPEG, PNG and WebP (GIF: first frame). The image is decoded, EXIF orientation applied, and re-encoded (which strips every metadata block) into a main picture within 512×512 keeping its aspect ratio and a 128×128 centre-cropped thumbnail, stored under fresh unguessable keys; then the previous objects are deleted. A failed upload leaves the previous picture in place.",
    request_body(content = PictureUpload, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account with `profile_picture_url` and `profile_picture_thumbnail_url` set.", body = UserResponse),
        (status = 422, description = "No part named `file`, an empty, undecodable or truncated image, or more than `MAX_PICTURE_PIXELS` (default 40 megapixels) (`validation_error`, `invalid_image`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload_for_me(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    me: CurrentUser,
    req: HttpRequest,
    multipart: Multipart,
) -> Result<HttpResponse, ApiError> {
    let id = me.0.id;
    let outcome = upload(&state, &me, id, &req, multipart).await;
    metrics.upload(&outcome);
    outcome
}

async fn upload(
    state: &AppState,
    me: &CurrentUser,
    target: UserId,
    req: &HttpRequest,
    multipart: Multipart,
) -> Result<HttpResponse, ApiError> {
    // A plain user uploading for someone else is refused before the body is read; the use
    // case checks the full rules (a MANAGER only on plain accounts) once more.
    if me.0.id != target && !me.actor().is_staff() {
        return Err(um_domain::Error::Forbidden.into());
    }
    // Uploads beyond MAX_CONCURRENT_UPLOADS wait here, before their body is read, so that
    // the memory held by uploads stays bounded (the request time limit bounds the wait).
    let _slot = state.upload_slots.acquire().await.map_err(|e| {
        ApiError::from(um_domain::Error::Internal(
            anyhow::anyhow!(e).context("upload slots"),
        ))
    })?;
    // The body's declared length (a little more than the file's) sizes the buffer once.
    let expected = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(0);
    // The body gets a deadline of its own: a client trickling it would otherwise hold one of
    // the few upload slots until the request time limit.
    let deadline = state.upload_body_timeout;
    let bytes = tokio::time::timeout(
        deadline,
        read_file_part(multipart, state.max_picture_bytes, expected),
    )
    .await
    .map_err(|_| ApiError::BodyTimeout {
        seconds: deadline.as_secs(),
    })??;
    let user = state
        .users
        .upload_picture(me.actor(), target, bytes)
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::new(user, &state.urls)))
}

/// `DELETE /users/{id}/profile-picture`: 204.
#[utoipa::path(
    delete,
    path = "/users/{user_id}/profile-picture",
    operation_id = "delete_for_user",
    tag = "pictures",
    summary = "Remove an account's profile picture",
    description = "Same permissions as the upload; the objects are removed and the URLs become null.",
    params(("user_id" = Uuid, Path, description = "The account's id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed."),
        (status = 403, description = "Operation not permitted (`forbidden`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`user_id` is not a UUID (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_for_user(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&path, "user_id")?;
    state.users.delete_picture(me.actor(), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /me/profile-picture`: 204.
#[utoipa::path(
    delete,
    path = "/me/profile-picture",
    operation_id = "delete_for_me",
    tag = "pictures",
    summary = "Remove one's own profile picture",
    description = "The objects are removed and the URLs become null.",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed."),
    )
)]
pub async fn delete_for_me(
    state: web::Data<AppState>,
    me: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    state.users.delete_picture(me.actor(), me.0.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /pictures/{key}`: streams the object. Keys are never reused, so the answer is cached
/// for a year and revalidation (`If-None-Match`) is cheap.
#[utoipa::path(
    get,
    path = "/pictures/{key}",
    operation_id = "get_picture",
    tag = "pictures",
    summary = "A stored picture",
    description = "Streams a stored picture from the object store with its content type and `ETag`. Keys are never reused, so the answer may be cached for a year; `If-None-Match` with the ETag answers 304. This is what `profile_picture_url` points at unless `S3_PUBLIC_URL` is configured.",
    params(("key" = String, Path, description = "The object key from a picture URL."), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer.")),
    responses(
        (status = 200, description = "The picture.", content((Binary = "image/jpeg"), (Binary = "image/png"), (Binary = "image/webp")),
            headers(("ETag" = String), ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"))),
        (status = 304, description = "Not modified (the `If-None-Match` ETag matches)."),
        (status = 404, description = "Unknown key (`picture_not_found`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_picture(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let object = state.users.picture(&key).await?;
    let etag = EntityTag::new_strong(object.etag.trim_matches('"').to_owned());
    let mut response = HttpResponse::Ok();
    response
        .insert_header(header::ETag(etag.clone()))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"));
    let not_modified = match <IfNoneMatch as header::Header>::parse(&req) {
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&etag)),
        Ok(IfNoneMatch::Any) => req.headers().contains_key(header::IF_NONE_MATCH),
        Err(_) => false,
    };
    if not_modified {
        return Ok(response.status(StatusCode::NOT_MODIFIED).finish());
    }
    if let Some(length) = object.length {
        response.no_chunking(length);
    }
    Ok(response
        .content_type(object.content_type)
        .streaming(object.body))
}

/// `GET /users/{id}/avatar`: the uploaded picture (a redirect to it) or a generated SVG.
#[utoipa::path(
    get,
    path = "/users/{user_id}/avatar",
    operation_id = "avatar",
    tag = "pictures",
    summary = "An account's avatar",
    description = "The uploaded picture, by a redirect to it; when none was uploaded, a generated SVG of the nickname's initials on a colour derived from the id.",
    params(("user_id" = Uuid, Path, description = "The account's id.")),
    responses(
        (status = 200, description = "The generated avatar.", content_type = "image/svg+xml", body = String,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        (status = 302, description = "The uploaded picture.",
            headers(("Location" = String, description = "The URL of the main picture."))),
        (status = 422, description = "`user_id` is not a UUID (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn avatar(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&path, "user_id")?;
    Ok(match state.users.avatar(id).await? {
        Avatar::Picture(keys) => HttpResponse::Found()
            .insert_header((header::LOCATION, state.urls.picture(&keys.main)))
            .finish(),
        Avatar::Generated(svg) => HttpResponse::Ok()
            .content_type("image/svg+xml")
            // The SVG is ours, but never let a browser run anything from it.
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ))
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .body(svg),
    })
}

/// How much the parts other than `file` may hold together: they are read and thrown away, and
/// a client has no reason to send more than a few form fields beside the picture.
const OTHER_PARTS_LIMIT: usize = 64 * 1024;

/// Reads the part named `file`, refusing with 413 as soon as it grows past `limit` (or the
/// other parts past [`OTHER_PARTS_LIMIT`]); nothing else is buffered. `expected` (the request's
/// Content-Length, if any) sizes the buffer up front, up to `limit`, instead of growing it by
/// doubling.
async fn read_file_part(
    mut multipart: Multipart,
    limit: usize,
    expected: usize,
) -> Result<Bytes, ApiError> {
    let mut other_parts = 0_usize;
    while let Some(field) = multipart.try_next().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            // Drain other parts without keeping them, up to a small budget.
            let mut field = field;
            while let Some(chunk) = field.next().await {
                other_parts += chunk.map_err(multipart_error)?.len();
                if other_parts > OTHER_PARTS_LIMIT {
                    return Err(ApiError::PayloadTooLarge);
                }
            }
            continue;
        }
        let mut field = field;
        let mut buffer = BytesMut::with_capacity(expected.min(limit));
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(multipart_error)?;
            if buffer.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge);
            }
            buffer.extend_from_slice(&chunk);
        }
        if buffer.is_empty() {
            return Err(ApiError::invalid("file", "the file is empty"));
        }
        return Ok(buffer.freeze());
    }
    Err(ApiError::invalid(
        "file",
        "a multipart/form-data part named \"file\" is required",
    ))
}

fn multipart_error(e: MultipartError) -> ApiError {
    match e {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible
        | MultipartError::BoundaryMissing => {
            ApiError::UnsupportedMediaType("Content-Type must be multipart/form-data".into())
        }
        other => ApiError::invalid("file", format!("malformed multipart body: {other}")),
    }
}
