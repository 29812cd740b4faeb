//! The HTTP routes, one file per family. Paths work with and without a trailing slash
//! (`NormalizePath` trims it before routing).

pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod health;
pub(crate) mod me;
pub(crate) mod nicknames;
pub(crate) mod pictures;
pub(crate) mod recovery;
mod requests;
pub(crate) mod sessions;
pub(crate) mod users;

use actix_web::{Route, http::Method, middleware::from_fn, web};

/// One path and, per method, its handler.
type Resource = (&'static str, Vec<(Method, Route)>);

/// Every API route. [`configure`] registers exactly these, one resource per path (so a known
/// path with another method is a 405), and [`registered`] lists them for the test that holds
/// the OpenAPI document to them: a route added here without a `#[utoipa::path]` listed in
/// `openapi::ApiDoc` fails that test.
fn table() -> Vec<Resource> {
    vec![
        (
            "/register",
            vec![(Method::POST, web::to(accounts::register))],
        ),
        ("/login", vec![(Method::POST, web::to(accounts::login))]),
        (
            "/token/refresh",
            vec![(Method::POST, web::to(sessions::refresh))],
        ),
        ("/logout", vec![(Method::POST, web::to(sessions::logout))]),
        (
            "/me/sessions",
            vec![
                (Method::GET, web::to(sessions::list_mine)),
                (Method::DELETE, web::to(sessions::end_others)),
            ],
        ),
        (
            "/me/sessions/{session_id}",
            vec![(Method::DELETE, web::to(sessions::end_mine))],
        ),
        (
            "/users/{user_id}/sessions",
            vec![(Method::DELETE, web::to(sessions::revoke))],
        ),
        (
            "/verify-email/resend",
            vec![(Method::POST, web::to(accounts::resend_verification))],
        ),
        (
            "/verify-email/{user_id}/{token}",
            vec![(Method::GET, web::to(accounts::verify_email))],
        ),
        (
            "/users",
            vec![
                (Method::GET, web::to(users::list)),
                (Method::POST, web::to(users::create)),
            ],
        ),
        (
            "/users/{user_id}",
            vec![
                (Method::GET, web::to(users::get)),
                (Method::PUT, web::to(users::update)),
                (Method::DELETE, web::to(users::delete)),
            ],
        ),
        (
            "/users/{user_id}/profile-picture",
            vec![
                (Method::POST, web::to(pictures::upload_for_user)),
                (Method::DELETE, web::to(pictures::delete_for_user)),
            ],
        ),
        (
            "/users/{user_id}/avatar",
            vec![(Method::GET, web::to(pictures::avatar))],
        ),
        (
            "/me/profile-picture",
            vec![
                (Method::POST, web::to(pictures::upload_for_me)),
                (Method::DELETE, web::to(pictures::delete_for_me)),
            ],
        ),
        (
            "/pictures/{key}",
            vec![(Method::GET, web::to(pictures::get_picture))],
        ),
        (
            "/users/{user_id}/role",
            vec![(Method::PUT, web::to(users::set_role))],
        ),
        (
            "/users/{user_id}/unlock",
            vec![(Method::POST, web::to(users::unlock))],
        ),
        ("/audit-events", vec![(Method::GET, web::to(audit::list))]),
        (
            "/users/{user_id}/professional-status",
            vec![(Method::PUT, web::to(users::set_professional_status))],
        ),
        (
            "/me",
            vec![
                (Method::GET, web::to(me::get)),
                (Method::PATCH, web::to(me::update)),
                (Method::DELETE, web::to(me::delete)),
            ],
        ),
        (
            "/me/password",
            vec![(Method::PUT, web::to(me::change_password))],
        ),
        (
            "/me/pro-upgrade",
            vec![
                (Method::GET, web::to(me::pro_upgrade_status)),
                (Method::POST, web::to(me::upgrade_to_pro)),
            ],
        ),
        // Registered before `/nicknames/{nickname}`, which would match it too.
        (
            "/nicknames/suggestions",
            vec![(Method::GET, web::to(nicknames::suggestions))],
        ),
        (
            "/nicknames/{nickname}",
            vec![(Method::GET, web::to(nicknames::availability))],
        ),
        (
            "/profiles/{nickname}",
            vec![(Method::GET, web::to(nicknames::profile))],
        ),
        (
            "/password-reset",
            vec![
                (Method::GET, web::to(recovery::form)),
                (Method::POST, web::to(recovery::request)),
            ],
        ),
        (
            "/password-reset/confirm",
            vec![(Method::POST, web::to(recovery::confirm))],
        ),
        (
            "/unlock",
            vec![
                (Method::GET, web::to(recovery::unlock_page)),
                (Method::POST, web::to(recovery::unlock)),
            ],
        ),
        ("/healthz", vec![(Method::GET, web::to(health::healthz))]),
        ("/readyz", vec![(Method::GET, web::to(health::readyz))]),
        (
            "/metrics",
            vec![(Method::GET, web::to(crate::metrics::metrics))],
        ),
    ]
}

/// Registers every API route, each under the request time limit
/// ([`crate::limits::time_limit`]) and those of [`crate::limits::LIMITED_ROUTES`] under the
/// per-address rate limit too (on the resource, so that it is decided on the route the router
/// matched). The document's own routes (`/openapi.json`, `/docs`) are registered by
/// [`crate::openapi::configure`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, routes) in table() {
        let resource = routes
            .into_iter()
            .fold(web::resource(path), |resource, (method, route)| {
                resource.route(route.method(method))
            });
        if crate::limits::LIMITED_ROUTES.contains(&path) {
            cfg.service(
                resource
                    .wrap(from_fn(crate::limits::rate_limit))
                    .wrap(from_fn(crate::limits::time_limit)),
            );
        } else {
            cfg.service(resource.wrap(from_fn(crate::limits::time_limit)));
        }
    }
}

/// Every (method, path) of the API that [`configure`] registers, in registration order.
#[must_use]
pub fn registered() -> Vec<(Method, &'static str)> {
    table()
        .into_iter()
        .flat_map(|(path, routes)| routes.into_iter().map(move |(method, _)| (method, path)))
        .collect()
}
