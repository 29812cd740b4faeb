//! Building the application from its configuration: adapters, the use cases, the HTTP server.
//! `main` and the end-to-end tests both go through [`Application::build`].

use std::{net::TcpListener, sync::Arc};

use actix_web::{
    App, HttpResponse, HttpServer, ResponseError,
    dev::{Server, ServiceResponse},
    http::StatusCode,
    middleware::{
        DefaultHeaders, ErrorHandlerResponse, ErrorHandlers, NormalizePath, TrailingSlash, from_fn,
    },
    web,
};
use chrono::TimeDelta;
use secrecy::ExposeSecret;
use um_domain::{
    ports::{SystemClock, UserRepository},
    services::{Ports, Settings, UserService},
};

use crate::{config::Config, error::ApiError, routes, telemetry};

/// What every handler can reach.
pub struct AppState {
    pub users: UserService,
    pub repo: Arc<dyn UserRepository>,
    /// `PUBLIC_BASE_URL` without a trailing slash.
    pub base_url: String,
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Creates the database if missing, runs the migrations, wires the adapters and binds.
    ///
    /// # Errors
    /// When the database cannot be prepared or the address cannot be bound.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        if config.jwt_secret_generated {
            tracing::warn!(
                "JWT_SECRET is not set: using a random secret; tokens stop working on restart"
            );
        }
        um_postgres::create_database_if_missing(&config.database_url).await?;
        um_postgres::run_migrations(&config.database_url).await?;
        let pool = um_postgres::connect(&config.database_url, config.database_pool_size).await?;
        let repo: Arc<dyn UserRepository> = Arc::new(um_postgres::PgUserRepository::new(pool));

        let mailer = um_mail::build_mailer(&um_mail::MailSettings {
            smtp_url: config
                .smtp_url
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            mail_dir: config.mail_dir.clone(),
            from: config.mail_from.clone(),
            public_base_url: config.public_base_url.clone(),
        })?;
        let ports = Ports {
            users: repo.clone(),
            hasher: Arc::new(um_security::Argon2Hasher::new()),
            tokens: Arc::new(um_security::JwtIssuer::new(
                config.jwt_secret.clone(),
                config.jwt_issuer.clone(),
                TimeDelta::minutes(config.access_token_ttl_minutes),
            )),
            mailer,
            clock: Arc::new(SystemClock),
        };
        let users = UserService::new(
            ports,
            Settings {
                max_login_attempts: config.max_login_attempts,
                first_user_is_admin: config.first_user_is_admin,
                verification_ttl: TimeDelta::hours(config.verification_token_ttl_hours),
            },
        );
        let state = web::Data::new(AppState {
            users,
            repo,
            base_url: config.base_url(),
        });

        let listener = TcpListener::bind(config.bind_addr)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|e, _| ApiError::invalid("query", e.to_string()).into()),
                )
                .configure(routes::configure)
                .default_service(web::to(not_found))
                .wrap(
                    ErrorHandlers::new()
                        .handler(StatusCode::METHOD_NOT_ALLOWED, method_not_allowed),
                )
                .wrap(from_fn(telemetry::log_requests))
                .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                .wrap(NormalizePath::new(TrailingSlash::Trim))
        })
        .listen(listener)?
        .run();
        tracing::info!(addr = %config.bind_addr, port, base_url = %config.base_url(), "listening");
        Ok(Self { port, server })
    }

    /// The bound port (useful with port 0).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM end it gracefully).
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn not_found() -> HttpResponse {
    ApiError::RouteNotFound.error_response()
}

/// actix answers a known path with an unknown method with an empty 405; give it a problem body.
fn method_not_allowed<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let (req, _) = res.into_parts();
    let response = ServiceResponse::new(req, ApiError::MethodNotAllowed.error_response());
    Ok(ErrorHandlerResponse::Response(
        response.map_into_right_body(),
    ))
}
