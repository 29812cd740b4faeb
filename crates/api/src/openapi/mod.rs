//! The OpenAPI 3.1 description of the API, generated from the handlers' `#[utoipa::path]`
//! annotations, served at `GET /openapi.json`, and Swagger UI at `GET /docs` from assets built
//! into the binary (it works offline).
//!
//! Every handler that `routes::configure` registers is listed in [`ApiDoc`]; the end-to-end test
//! `openapi` compares the document with `routes::registered()` in both directions, so a route
//! added without documentation fails it.

use std::sync::Arc;

use actix_web::{
    HttpResponse,
    http::{Method, header},
    middleware::DefaultHeaders,
    web,
};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        self, ContentBuilder, HttpMethod, Ref, RefOr, ResponseBuilder, Schema,
        path::ParameterIn,
        schema::Type,
        security::{
            Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement,
            SecurityScheme,
        },
    },
};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::{error::Problem, routes};

/// The name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";

/// The name of the OAuth2 password-flow scheme: the same bearer token, got by Swagger UI's
/// "Authorize" dialog (or any OAuth2 client) from the login form.
pub const PASSWORD_FLOW: &str = "password";

/// The Content-Security-Policy of `/docs` and its assets: Swagger UI's scripts, styles and
/// images come from this server only; it sets inline styles and uses `data:` images for its
/// icons; it fetches `/openapi.json` and, with "Try it out", the API itself.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

const DESCRIPTION: &str = r#"User management: registration with email verification, login with JWT bearer tokens, password reset and unlock links, self-service profiles with pictures and unique nicknames, PRO (professional) status, and administration with an audit log. A re-implementation of the NJIT "User Management System" (FastAPI): paths, status codes, JSON field names and the `detail` of error bodies are kept where the original had them.

**Conventions.** JSON in and out, UTF-8; times are RFC 3339. Every path works with and without its trailing slash. Ids are UUIDs: a malformed id in a path is a 422, an unknown one a 404. Unknown JSON fields are a 422. Errors are RFC 9457 problem details (`application/problem+json`) with a human `detail` and a stable snake_case `code`; validation errors (422) add `errors`, one entry per bad field. A `Content-Type` other than JSON (or, where accepted, a form) is a 415; a body over 64 KiB a 413. While the database or the object store is unreachable, affected endpoints answer 503 with `Retry-After`.

**Authentication.** Protected endpoints take `Authorization: Bearer <token>` from `POST /login`. A missing, malformed, expired or badly signed token, one whose session has ended, or one whose account is deleted or locked, is a 401 with `WWW-Authenticate: Bearer`.

**Sessions.** A login starts a session and answers, besides the access token, a `refresh_token` (opaque, single-use, stored only as its SHA-256) and `refresh_expires_in`. `POST /token/refresh` trades it for new tokens; a refresh token used a second time ends its session. The session, not the access token, is what ends: `POST /logout`, `DELETE /me/sessions…`, staff's `DELETE /users/{user_id}/sessions`, and by themselves a password change (every other session), a password reset, a lock and a deletion (all of them); an unlock does not bring a session back. Every access token of an ended session is refused at once. Access tokens issued before sessions existed (without `sid`) are refused: log in again. The role stored in the database, not the one in the token, decides permissions; too few rights is a 403 `Operation not permitted`. A `MANAGER` acts only on `ANONYMOUS` and `AUTHENTICATED` accounts; only an `ADMIN` acts on `MANAGER`/`ADMIN` accounts or changes roles.

**Choices where the contract is silent.**
- A `MANAGER`'s listing shows only `ANONYMOUS` and `AUTHENTICATED` accounts, the ones it may act on; `total` counts those.
- Accounts created through `POST /users` get a verification email like registered ones; their role defaults to `ANONYMOUS`.
- Changing an account's email (`PUT /users/{user_id}`) makes it unverified and sends a link to the new address; an `AUTHENTICATED` account drops back to `ANONYMOUS` until it verifies again. `MANAGER` and `ADMIN` keep their role.
- Blank names, bios and URLs count as none (`null`). A nickname or email can be changed, not removed.
- `role` in a registration body is accepted and ignored (the original's clients always send one).
- Nicknames are 3–30 characters of `A–Z a–z 0–9 _ -`, unique without regard to case (the database decides races: of two concurrent claims one gets 409), and not a reserved word (`admin`, `root`, `me`, `system`, `support`, `api`, `staff`, …). A generated nickname is `adjective_animal_number` from ~690 million combinations.
- PRO: eligible means email verified, not locked, and first name, last name, bio, a picture and a LinkedIn or GitHub URL. `missing` lists the unmet ones in that order. A staff member setting the status an account already has changes nothing and sends no email; every real change sets `professional_status_updated_at` and emails the user. Two racing upgrades: one 200, one 409.
- `DELETE /me` by the only ADMIN is refused (409), like any deletion of the last ADMIN.
- Public profiles show accounts whatever their verification state; they never show email, role or id.
- Login answers `Cache-Control: no-store`. A body that is not a JSON object is a 422; a `Content-Type` other than JSON (or the login form) is a 415.
- A known path with another method is a 405 problem; an unknown path a 404 problem."#;

/// The document. `paths(...)` lists every registered handler (the `openapi` end-to-end test
/// holds it to `routes::registered()`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "User Management API",
        description = DESCRIPTION,
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        routes::accounts::register,
        routes::accounts::login,
        routes::sessions::refresh,
        routes::sessions::logout,
        routes::sessions::list_mine,
        routes::sessions::end_mine,
        routes::sessions::end_others,
        routes::sessions::revoke,
        routes::accounts::resend_verification,
        routes::accounts::verify_email,
        routes::users::list,
        routes::users::create,
        routes::users::get,
        routes::users::update,
        routes::users::delete,
        routes::pictures::upload_for_user,
        routes::pictures::delete_for_user,
        routes::pictures::avatar,
        routes::pictures::upload_for_me,
        routes::pictures::delete_for_me,
        routes::pictures::get_picture,
        routes::users::set_role,
        routes::users::unlock,
        routes::audit::list,
        routes::users::set_professional_status,
        routes::me::get,
        routes::me::update,
        routes::me::delete,
        routes::me::change_password,
        routes::me::pro_upgrade_status,
        routes::me::upgrade_to_pro,
        routes::nicknames::suggestions,
        routes::nicknames::availability,
        routes::nicknames::profile,
        routes::recovery::form,
        routes::recovery::request,
        routes::recovery::confirm,
        routes::recovery::unlock_page,
        routes::recovery::unlock,
        routes::health::healthz,
        routes::health::readyz,
        crate::metrics::metrics,
    ),
    components(schemas(Problem, crate::schema::Role, crate::schema::ProRequirement, routes::users::UserSortParam)),
    modifiers(&CommonResponses, &DomainRules),
    tags(
        (name = "accounts", description = "Registration, email verification and login (public)."),
        (name = "sessions", description = "Refresh tokens, logout, one's own sessions. A login starts a session; the session, not the access token, is what a user or an administrator ends."),
        (name = "recovery", description = "Password reset and the unlock link (public); the links open small HTML pages first, so a mail scanner that follows links cannot use a token up."),
        (name = "me", description = "Self-service for any signed-in user."),
        (name = "pictures", description = "Profile pictures (stored in an S3-compatible store or a local directory), serving and default avatars."),
        (name = "nicknames", description = "Nickname suggestions and availability, public profiles (public)."),
        (name = "users", description = "Administration of accounts (`MANAGER` and `ADMIN` unless noted)."),
        (name = "audit", description = "The audit log (`ADMIN` only)."),
        (name = "operations", description = "Liveness, readiness and metrics."),
    )
)]
pub struct ApiDoc;

/// The document as served.
#[must_use]
pub fn document() -> openapi::OpenApi {
    ApiDoc::openapi()
}

/// Adds what every operation shares instead of repeating it on each: the bearer scheme, a 401
/// on every protected operation, the 404 (and the staff 403) of every operation on one account,
/// the 408, 413 and 415 of every picture upload, the 413 and 415 of every JSON body (an operation that also
/// takes a form documents its own 415), the 429 of the rate-limited ones, and the 500 and 503 that any
/// operation touching the database or the object store can answer. Also `minProperties: 1` on the partial-update bodies
/// (utoipa 5.5's `#[schema(min_properties = …)]` emits `maxProperties`).
struct CommonResponses;

/// What every picture upload can answer besides its own outcomes.
const UPLOAD_RESPONSES: &[(&str, &str)] = &[
    (
        "408",
        "The body did not arrive within `UPLOAD_BODY_TIMEOUT_SECONDS` (`body_timeout`).",
    ),
    (
        "413",
        "Larger than `MAX_PICTURE_BYTES` (default 5 MiB), or other parts than `file` over 64 KiB \
         together (`payload_too_large`), detected while streaming.",
    ),
    (
        "415",
        "Not an accepted image format: Unsupported image format (`unsupported_image_format`); or a \
         Content-Type other than `multipart/form-data` (`unsupported_media_type`).",
    ),
];

/// Operations that touch neither the database nor the object store (or, like `/readyz`,
/// document their 503 themselves).
const NO_BACKEND: &[(&str, HttpMethod)] = &[
    ("/healthz", HttpMethod::Get),
    ("/readyz", HttpMethod::Get),
    ("/password-reset", HttpMethod::Get),
    ("/unlock", HttpMethod::Get),
    ("/metrics", HttpMethod::Get),
];

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The `access_token` from `POST /login`: a JWT (HS256 by default) with \
                         `sub`, `role`, `iat`, `exp` and `iss`, valid 30 minutes by default.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            PASSWORD_FLOW,
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::Password(Password::with_refresh_url(
                    "/login",
                    Scopes::new(),
                    "/token/refresh",
                ))],
                "The OAuth2 password flow of `POST /login` (`username` = the email): the \
                 same bearer token as the `bearer` scheme, and a refresh token for \
                 `POST /token/refresh`. Scopes are not used; `client_id` and `client_secret` \
                 are ignored.",
            )),
        );
        for name in ["UpdateMeRequest", "UpdateUserRequest"] {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                object.min_properties = Some(1);
            }
        }
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(Problem::name())))
                        .build(),
                )
                .build()
        };
        for (path, item) in &mut doc.paths.paths {
            let operations = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Delete, &mut item.delete),
                (HttpMethod::Patch, &mut item.patch),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                state_page_bounds(operation);
                // Every protected operation also takes the token of the password flow.
                if let Some(security) = &mut operation.security {
                    security.push(SecurityRequirement::new(
                        PASSWORD_FLOW,
                        Vec::<String>::new(),
                    ));
                }
                // With a bearer token, `POST /logout` reads no body.
                if path == "/logout"
                    && matches!(method, HttpMethod::Post)
                    && let Some(body) = &mut operation.request_body
                {
                    body.required = Some(openapi::Required::False);
                }
                let responses = &mut operation.responses.responses;
                if operation.security.is_some() && !responses.contains_key("401") {
                    responses.insert(
                        "401".into(),
                        problem(
                            "No valid bearer token (`not_authenticated`): missing, malformed, \
                             expired or badly signed, its session ended, or its account \
                             deleted or locked. Carries `WWW-Authenticate: Bearer`.",
                        )
                        .into(),
                    );
                }
                // Every operation on one account answers 404 for an unknown one and, for staff
                // operations, 403 for the wrong caller, unless it words its own.
                if path.starts_with("/users/{user_id}") {
                    responses
                        .entry("404".into())
                        .or_insert_with(|| problem("User not found (`user_not_found`).").into());
                    if operation.security.is_some() {
                        responses.entry("403".into()).or_insert_with(|| {
                            problem(
                                "Operation not permitted (`forbidden`): not `MANAGER`/`ADMIN`, \
                                 or a `MANAGER` acting on a `MANAGER`/`ADMIN` account.",
                            )
                            .into()
                        });
                    }
                }
                let query = operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.parameter_in == ParameterIn::Query);
                if query {
                    responses.entry("422".into()).or_insert_with(|| {
                        problem(
                            "A malformed query (`validation_error`), such as a parameter given \
                             twice.",
                        )
                        .into()
                    });
                }
                let json_body = operation
                    .request_body
                    .as_ref()
                    .is_some_and(|body| body.content.contains_key("application/json"));
                if json_body {
                    responses.entry("413".into()).or_insert_with(|| {
                        problem("Body over 64 KiB (`payload_too_large`).").into()
                    });
                    responses.entry("415".into()).or_insert_with(|| {
                        problem("Content-Type is not JSON (`unsupported_media_type`).").into()
                    });
                }
                let upload = operation
                    .request_body
                    .as_ref()
                    .is_some_and(|body| body.content.contains_key("multipart/form-data"));
                if upload {
                    for (status, description) in UPLOAD_RESPONSES {
                        responses
                            .entry((*status).into())
                            .or_insert_with(|| problem(description).into());
                    }
                }
                if method == HttpMethod::Post
                    && crate::limits::LIMITED_ROUTES.contains(&path.as_str())
                {
                    responses.entry("429".into()).or_insert_with(|| {
                        problem(
                            "Too many requests (`too_many_requests`) from this client address \
                             (`RATE_LIMIT_PER_MINUTE`) or, except for the confirmation, for this \
                             email address (`RATE_LIMIT_PER_ACCOUNT_PER_MINUTE`); retry after \
                             `Retry-After` seconds.",
                        )
                        .into()
                    });
                }
                if NO_BACKEND.contains(&(path.as_str(), method)) {
                    continue;
                }
                responses.entry("500".into()).or_insert_with(|| {
                    problem("Unexpected failure (`internal_error`); the cause is only logged.")
                        .into()
                });
                responses.entry("503".into()).or_insert_with(|| {
                    problem(
                        "The database or the object store is unreachable \
                         (`service_unavailable`), or the request ran past \
                         `REQUEST_TIMEOUT_SECONDS` (`request_timeout`); retry after \
                         `Retry-After` seconds.",
                    )
                    .into()
                });
            }
        }
    }
}

/// The bounds of a listing's `skip` and `limit` as the domain enforces them (a 422 beyond):
/// `#[param(maximum = …)]` takes only a literal, and as a float `MAX_SKIP` would round up.
fn state_page_bounds(operation: &mut openapi::path::Operation) {
    use um_domain::services::{MAX_PAGE_SIZE, MAX_SKIP};
    for parameter in operation.parameters.iter_mut().flatten() {
        let (minimum, maximum) = match parameter.name.as_str() {
            "skip" => (0, MAX_SKIP),
            "limit" => (1, MAX_PAGE_SIZE),
            _ => continue,
        };
        if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema {
            object.minimum = Some(minimum.into());
            object.maximum = Some(maximum.into());
        }
    }
}

/// States in the request schemas the rules the domain enforces on their fields (lengths from
/// its constants, patterns that only accept what it accepts), so that a schema-valid request is
/// never refused for its shape; the unit test `request_rules_are_the_domains` holds them to the
/// domain's parsers. Fields that "can be changed, not removed" are not nullable.
struct DomainRules;

/// A new password: the domain's policy (an upper-case and a lower-case letter, a digit and a
/// symbol; ASCII ones, a subset of what it accepts).
pub const PASSWORD_PATTERN: &str =
    r"^(?=[\s\S]*[A-Z])(?=[\s\S]*[a-z])(?=[\s\S]*[0-9])(?=[\s\S]*[!-/:-@\[-`{-~])[\s\S]*$";
/// An email as `Email::parse` takes it: a dot-atom local part of at most 64 characters and a
/// domain of two or more labels whose last one is not all digits, ASCII white space around.
pub const EMAIL_PATTERN: &str = r"^[ \t\r\n]*(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?![0-9]+[ \t\r\n]*$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?[ \t\r\n]*$";
/// A profile URL as `ProfileUrl::parse` takes it, or blank (none): absolute `http`/`https`
/// with a host name, and only characters RFC 3986 allows (it is shown back as a `uri`).
pub const URL_PATTERN: &str = r"^[ \t\r\n]*(?:[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::[0-9]{1,4})?(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?(?:\?(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?(?:#(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?)?[ \t\r\n]*$";
/// A text field as `is_forbidden_in_text` takes it: no control characters (but line breaks and
/// tabs where `newlines`) and none of the domain's `FORMAT_CHARACTERS`.
#[must_use]
pub fn text_pattern(newlines: bool) -> String {
    let controls = if newlines {
        r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F"
    } else {
        r"\u0000-\u001F\u007F-\u009F"
    };
    let formats: String = um_domain::model::FORMAT_CHARACTERS
        .iter()
        .map(|(first, last)| format!(r"\u{:04X}-\u{:04X}", u32::from(*first), u32::from(*last)))
        .collect();
    format!("^[^{controls}{formats}]*$")
}
/// A token of an emailed link: 256 random bits in hex (`RawToken::generate`).
pub const TOKEN_PATTERN: &str = "^[0-9a-f]{64}$";

/// The characters of a nickname, and none of the reserved words (in any case).
#[must_use]
pub fn nickname_pattern() -> String {
    let reserved: Vec<String> = um_domain::model::Nickname::RESERVED
        .iter()
        .map(|word| {
            word.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^(?!(?:{})$)[A-Za-z0-9_-]+$", reserved.join("|"))
}

impl Modify for DomainRules {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        use um_domain::model::{Email, FieldKind, Nickname, Password, ProfileField};
        let nickname = nickname_pattern();
        let components = doc.components.get_or_insert_with(Default::default);
        for schema in [
            "NewUserRequest",
            "UpdateMeRequest",
            "UpdateUserRequest",
            "ChangePasswordRequest",
            "ConfirmJson",
            "ConfirmForm",
            "UnlockJson",
            "UnlockForm",
        ] {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
                continue;
            };
            for (name, property) in &mut object.properties {
                let name = name.as_str();
                // "Can be changed, not removed": no `null` in a partial update.
                let partial = schema.starts_with("Update");
                if name == "role" && partial {
                    let mut role = Ref::from_schema_name("Role");
                    role.description =
                        "Changing it needs `ADMIN`. Can be changed, not removed.".to_owned();
                    *property = role.into();
                    continue;
                }
                let RefOr::T(Schema::Object(field)) = property else {
                    continue;
                };
                if partial && ["email", "nickname"].contains(&name) {
                    field.schema_type = Type::String.into();
                }
                let (min, max, pattern) = match name {
                    "password" | "new_password" => (
                        Some(Password::MIN_LEN),
                        Password::MAX_LEN,
                        PASSWORD_PATTERN.to_owned(),
                    ),
                    "email" => (None, Email::MAX_LEN, EMAIL_PATTERN.to_owned()),
                    "nickname" => (Some(Nickname::MIN_LEN), Nickname::MAX_LEN, nickname.clone()),
                    "token" => (None, 64, TOKEN_PATTERN.to_owned()),
                    other => match ProfileField::from_name(other).map(ProfileField::kind) {
                        Some(FieldKind::Line { max }) => (None, max, text_pattern(false)),
                        Some(FieldKind::Text { max }) => (None, max, text_pattern(true)),
                        Some(FieldKind::Url { max }) => {
                            // Blank is none, which `format: uri` would not allow.
                            field.format = None;
                            (None, max, URL_PATTERN.to_owned())
                        }
                        None => continue,
                    },
                };
                field.min_length = min;
                field.max_length = Some(max);
                field.pattern = Some(pattern);
            }
        }
        // Path and query parameters with the same rules.
        for item in doc.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post, &mut item.put]
                .into_iter()
                .flatten()
            {
                for parameter in operation.parameters.iter_mut().flatten() {
                    let Some(RefOr::T(Schema::Object(field))) = &mut parameter.schema else {
                        continue;
                    };
                    match parameter.name.as_str() {
                        "nickname" => {
                            field.min_length = Some(Nickname::MIN_LEN);
                            field.max_length = Some(Nickname::MAX_LEN);
                            field.pattern = Some("^[A-Za-z0-9_-]+$".to_owned());
                        }
                        // The search text: no control or format characters, as in names.
                        "q" => field.pattern = Some(text_pattern(false)),
                        // The pages take any `token` in the query (and show a form).
                        "token" if parameter.parameter_in == ParameterIn::Path => {
                            field.pattern = Some(TOKEN_PATTERN.to_owned());
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Registers `GET /openapi.json` and Swagger UI under `/docs` with its own
/// Content-Security-Policy.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let document = web::Data::new(Arc::new(document()));
    cfg.service(
        web::resource("/openapi.json")
            .app_data(document)
            .route(web::get().to(openapi_json)),
    )
    .service(
        web::scope("/docs")
            .wrap(DefaultHeaders::new().add((header::CONTENT_SECURITY_POLICY, DOCS_CSP)))
            // `/docs/` is trimmed to `/docs` before routing; serve the page there too.
            // A resource, so that another method is a 405 with `Allow` like every API path.
            .service(web::resource("").route(web::get().to(docs_page)))
            .service(SwaggerUi::new("/{_:.*}").config(swagger_config())),
    );
}

/// The (method, path) pairs [`configure`] adds besides the API routes; they are not
/// operations of the document.
pub const OWN_ROUTES: &[(Method, &str)] = &[(Method::GET, "/openapi.json"), (Method::GET, "/docs")];

fn swagger_config() -> Config<'static> {
    // No validator badge: it would load an image from validator.swagger.io.
    Config::new(["/openapi.json"])
        .validator_url("none")
        .try_it_out_enabled(false)
}

async fn openapi_json(document: web::Data<Arc<openapi::OpenApi>>) -> HttpResponse {
    HttpResponse::Ok().json(document.as_ref().as_ref())
}

/// Swagger UI's `index.html` at `/docs`, whose relative asset links are made to point under
/// `/docs/`.
async fn docs_page() -> HttpResponse {
    match utoipa_swagger_ui::serve("index.html", Arc::new(swagger_config())) {
        Ok(Some(file)) => {
            let html = String::from_utf8_lossy(&file.bytes).replacen(
                "<head>",
                r#"<head><base href="/docs/">"#,
                1,
            );
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(html)
        }
        _ => HttpResponse::NotFound().finish(),
    }
}

#[cfg(test)]
mod tests;
