//! The HTTP routes, one file per family. Paths work with and without a trailing slash
//! (`NormalizePath` trims it before routing).

mod accounts;
mod audit;
mod health;
mod me;
mod nicknames;
mod pictures;
mod recovery;
mod requests;
mod users;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/register", web::post().to(accounts::register))
        .route("/login", web::post().to(accounts::login))
        .route(
            "/verify-email/resend",
            web::post().to(accounts::resend_verification),
        )
        .route(
            "/verify-email/{user_id}/{token}",
            web::get().to(accounts::verify_email),
        )
        .service(
            web::resource("/users")
                .route(web::get().to(users::list))
                .route(web::post().to(users::create)),
        )
        .service(
            web::resource("/users/{user_id}")
                .route(web::get().to(users::get))
                .route(web::put().to(users::update))
                .route(web::delete().to(users::delete)),
        )
        .service(
            web::resource("/users/{user_id}/profile-picture")
                .route(web::post().to(pictures::upload_for_user))
                .route(web::delete().to(pictures::delete_for_user)),
        )
        .route("/users/{user_id}/avatar", web::get().to(pictures::avatar))
        .service(
            web::resource("/me/profile-picture")
                .route(web::post().to(pictures::upload_for_me))
                .route(web::delete().to(pictures::delete_for_me)),
        )
        .route("/pictures/{key}", web::get().to(pictures::get_picture))
        .route("/users/{user_id}/role", web::put().to(users::set_role))
        .route("/users/{user_id}/unlock", web::post().to(users::unlock))
        .route("/audit-events", web::get().to(audit::list))
        .route(
            "/users/{user_id}/professional-status",
            web::put().to(users::set_professional_status),
        )
        .service(
            web::resource("/me")
                .route(web::get().to(me::get))
                .route(web::patch().to(me::update))
                .route(web::delete().to(me::delete)),
        )
        .route("/me/password", web::put().to(me::change_password))
        .service(
            web::resource("/me/pro-upgrade")
                .route(web::get().to(me::pro_upgrade_status))
                .route(web::post().to(me::upgrade_to_pro)),
        )
        // Registered before `/nicknames/{nickname}`, which would match it too.
        .route(
            "/nicknames/suggestions",
            web::get().to(nicknames::suggestions),
        )
        .route(
            "/nicknames/{nickname}",
            web::get().to(nicknames::availability),
        )
        .route("/profiles/{nickname}", web::get().to(nicknames::profile))
        .service(
            web::resource("/password-reset")
                .route(web::get().to(recovery::form))
                .route(web::post().to(recovery::request)),
        )
        .route("/password-reset/confirm", web::post().to(recovery::confirm))
        .service(
            web::resource("/unlock")
                .route(web::get().to(recovery::unlock_page))
                .route(web::post().to(recovery::unlock)),
        )
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz));
}
