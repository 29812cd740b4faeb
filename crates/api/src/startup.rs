//! Building the application from its configuration: adapters, the use cases, the HTTP server.
//! `main` and the end-to-end tests both go through [`Application::build`].

use std::{net::TcpListener, sync::Arc, time::Duration};

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
    ports::{Clock, ObjectStore, SystemClock, UserRepository},
    services::{DeliveryPolicy, OutboxDelivery, Ports, Settings, UserService},
};

use crate::{
    config::{Config, StorageConfig},
    dto::Urls,
    error::ApiError,
    routes, telemetry,
};

/// What every handler can reach.
pub struct AppState {
    pub users: UserService,
    pub repo: Arc<dyn UserRepository>,
    pub store: Arc<dyn ObjectStore>,
    pub urls: Urls,
    pub max_picture_bytes: usize,
}

/// The use cases wired to their adapters, without HTTP: what the server and the command-line
/// tools share.
pub struct Services {
    pub users: UserService,
    pub repo: Arc<dyn UserRepository>,
    pub store: Arc<dyn ObjectStore>,
    /// Delivers the emails the use cases queue.
    pub outbox: OutboxDelivery,
}

impl Services {
    /// Creates the database if missing, runs the migrations, connects the object store
    /// (creating the bucket if missing) and wires every adapter.
    ///
    /// # Errors
    /// When the database or the object store cannot be prepared, or the mail settings are bad.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        um_postgres::create_database_if_missing(&config.database_url).await?;
        um_postgres::run_migrations(&config.database_url).await?;
        let pool = um_postgres::connect(&config.database_url, config.database_pool_size).await?;
        let repo: Arc<dyn UserRepository> =
            Arc::new(um_postgres::PgUserRepository::new(pool.clone()));

        let store: Arc<dyn ObjectStore> = match &config.storage {
            StorageConfig::Directory(root) => {
                tracing::info!(dir = %root.display(), "pictures are stored in a local directory");
                Arc::new(um_storage::DirectoryObjectStore::new(root)?)
            }
            StorageConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key,
                secret_key,
            } => {
                tracing::info!(%endpoint, %bucket, "pictures are stored in an S3 bucket");
                Arc::new(
                    um_storage::S3ObjectStore::connect(um_storage::S3Settings {
                        endpoint: endpoint.clone(),
                        bucket: bucket.clone(),
                        region: region.clone(),
                        access_key: access_key.clone(),
                        secret_key: secret_key.clone(),
                    })
                    .await?,
                )
            }
        };

        let mailer = um_mail::build_mailer(&um_mail::MailSettings {
            smtp_url: config
                .smtp_url
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            mail_dir: config.mail_dir.clone(),
            from: config.mail_from.clone(),
            public_base_url: config.public_base_url.clone(),
            template_dir: config.mail_template_dir.clone(),
        })?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let outbox = OutboxDelivery::new(
            Arc::new(um_postgres::PgOutbox::new(pool.clone())),
            mailer,
            clock.clone(),
            DeliveryPolicy {
                max_attempts: config.outbox_max_attempts,
                base_delay: TimeDelta::seconds(config.outbox_retry_base_seconds),
                ..DeliveryPolicy::default()
            },
        );
        let ports = Ports {
            users: repo.clone(),
            hasher: Arc::new(um_security::Argon2Hasher::new()),
            tokens: Arc::new(um_security::JwtIssuer::new(
                config.jwt_secret.clone(),
                config.jwt_issuer.clone(),
                TimeDelta::minutes(config.access_token_ttl_minutes),
            )),
            clock,
            store: store.clone(),
            pictures: Arc::new(um_images::ImageProcessor::new(config.max_picture_pixels)),
            audit: Arc::new(um_postgres::PgAuditLog::new(pool.clone())),
        };
        let users = UserService::new(
            ports,
            Settings {
                max_login_attempts: config.max_login_attempts,
                first_user_is_admin: config.first_user_is_admin,
                verification_ttl: TimeDelta::hours(config.verification_token_ttl_hours),
                password_reset_ttl: TimeDelta::minutes(config.password_reset_ttl_minutes),
                unlock_ttl: TimeDelta::hours(config.unlock_token_ttl_hours),
            },
        );
        Ok(Self {
            users,
            repo,
            store,
            outbox,
        })
    }
}

/// How old an unreferenced picture object must be before the sweep removes it: younger ones may
/// belong to an upload whose row update has not happened yet.
pub const ORPHAN_GRACE: TimeDelta = TimeDelta::hours(1);

/// Runs the orphan sweep every `minutes` in the background (never when 0).
fn spawn_orphan_sweep(users: UserService, minutes: u64) {
    if minutes == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(minutes * 60));
        interval.tick().await; // the first tick is immediate; start-up has enough to do
        loop {
            interval.tick().await;
            if let Err(e) = users.sweep_orphaned_pictures(ORPHAN_GRACE).await {
                tracing::warn!(error = ?e, "orphaned-picture sweep failed; retrying next interval");
            }
        }
    });
}

/// Works off the outbox in the background: a round whenever the last one was full, else one
/// per `poll`. Database trouble is logged and retried; nothing is lost. The depth is logged
/// once a minute while emails wait or were given up on.
fn spawn_outbox_worker(outbox: OutboxDelivery, poll: Duration) {
    tokio::spawn(async move {
        let mut last_depth_log = tokio::time::Instant::now();
        loop {
            let busy = match outbox.run_once().await {
                Ok(report) => report.claimed > 0 && report.claimed == report.sent,
                Err(e) => {
                    tracing::warn!(error = ?e, "outbox round failed; retrying");
                    false
                }
            };
            if last_depth_log.elapsed() >= Duration::from_secs(60) {
                last_depth_log = tokio::time::Instant::now();
                match outbox.depth().await {
                    Ok(depth) if depth.pending > 0 || depth.dead > 0 => {
                        tracing::info!(
                            pending = depth.pending,
                            given_up = depth.dead,
                            "outbox depth"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = ?e, "could not read the outbox depth"),
                }
            }
            if !busy {
                tokio::time::sleep(poll).await;
            }
        }
    });
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Builds the [`Services`], starts the orphan sweep, and binds the HTTP server.
    ///
    /// # Errors
    /// When the services cannot be built or the address cannot be bound.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        if config.jwt_secret_generated {
            tracing::warn!(
                "JWT_SECRET is not set: using a random secret; tokens stop working on restart"
            );
        }
        let Services {
            users,
            repo,
            store,
            outbox,
        } = Services::build(config).await?;
        spawn_orphan_sweep(users.clone(), config.orphan_sweep_interval_minutes);
        spawn_outbox_worker(
            outbox,
            Duration::from_millis(config.outbox_poll_interval_ms),
        );
        let base = config.base_url();
        let state = web::Data::new(AppState {
            users,
            repo,
            store,
            urls: Urls {
                pictures: config
                    .s3_public_url
                    .clone()
                    .unwrap_or_else(|| format!("{base}/pictures")),
                base,
            },
            max_picture_bytes: config.max_picture_bytes,
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
