//! Building the application from its configuration: adapters, the use cases, the HTTP server.
//! `main` and the end-to-end tests both go through [`Application::build`].

use anyhow::Context as _;
use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{
    App, HttpResponse, HttpServer, ResponseError,
    dev::{Server, ServiceResponse},
    http::StatusCode,
    middleware::{ErrorHandlerResponse, ErrorHandlers, NormalizePath, TrailingSlash, from_fn},
    web,
};
use chrono::TimeDelta;
use secrecy::ExposeSecret;
use um_domain::{
    ports::{Clock, Housekeeping, ObjectStore, RateCounter, SystemClock, UserRepository},
    services::{DeliveryPolicy, OutboxDelivery, Ports, Settings, UserService},
};

use actix_cors::Cors;

use crate::{
    config::{Config, StorageConfig},
    dto::Urls,
    error::ApiError,
    limits::{self, RateLimits, RequestTimeout},
    metrics::Metrics,
    routes, telemetry,
};

/// What every handler can reach.
pub struct AppState {
    pub users: UserService,
    pub repo: Arc<dyn UserRepository>,
    pub store: Arc<dyn ObjectStore>,
    pub urls: Urls,
    pub max_picture_bytes: usize,
    /// One permit per upload in progress (`MAX_CONCURRENT_UPLOADS`), taken before the body
    /// is read.
    pub upload_slots: Arc<tokio::sync::Semaphore>,
    /// How long an upload's body may take to arrive (`UPLOAD_BODY_TIMEOUT_SECONDS`).
    pub upload_body_timeout: Duration,
}

/// The use cases wired to their adapters, without HTTP: what the server and the command-line
/// tools share.
pub struct Services {
    pub users: UserService,
    pub repo: Arc<dyn UserRepository>,
    pub store: Arc<dyn ObjectStore>,
    /// Delivers the emails the use cases queue.
    pub outbox: OutboxDelivery,
    /// The rate-limit counters every instance shares.
    pub rate_counter: Arc<dyn RateCounter>,
    /// Removes expired tokens and long-delivered emails.
    pub housekeeping: Arc<dyn Housekeeping>,
}

/// Creates the database if missing, runs the migrations and builds a pool of `pool_size`
/// connections: what the server and every command-line tool do first, with the same TLS
/// settings (`sslmode`, `sslrootcert` of `DATABASE_URL`). A failure names `DATABASE_URL`.
///
/// # Errors
/// When the database cannot be reached (a refused certificate included), created or migrated.
pub async fn prepare_database(
    config: &Config,
    pool_size: usize,
) -> anyhow::Result<um_postgres::Pool> {
    let url = &config.database_url;
    let prepared = async {
        um_postgres::create_database_if_missing(url).await?;
        um_postgres::run_migrations(url).await?;
        um_postgres::connect(url, pool_size).await
    };
    prepared
        .await
        .context("DATABASE_URL: the database cannot be reached or prepared")
}

impl Services {
    /// Creates the database if missing, runs the migrations, connects the object store
    /// (creating the bucket if missing) and wires every adapter.
    ///
    /// # Errors
    /// When the database or the object store cannot be prepared, or the mail settings are bad.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let pool = prepare_database(config, config.database_pool_size).await?;
        let rate_counter: Arc<dyn RateCounter> =
            Arc::new(um_postgres::PgRateCounter::new(pool.clone()));
        let housekeeping: Arc<dyn Housekeeping> =
            Arc::new(um_postgres::PgHousekeeping::new(pool.clone()));
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
            rate_counter,
            housekeeping,
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

/// At start and then every hour, removes expired tokens and the outbox rows delivered more than
/// `keep_delivered` ago (every instance does; each row goes once).
fn spawn_housekeeping(housekeeping: Arc<dyn Housekeeping>, keep_delivered: TimeDelta) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(3600));
        loop {
            interval.tick().await;
            match housekeeping
                .remove_expired(chrono::Utc::now(), keep_delivered)
                .await
            {
                Ok(removed) if removed != um_domain::ports::Removed::default() => tracing::info!(
                    expired_tokens = removed.expired_tokens,
                    delivered_mails = removed.delivered_mails,
                    "housekeeping removed what no longer serves"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "housekeeping failed; retrying next hour"),
            }
        }
    });
}

/// Once a minute, removes the rate-limit counters of windows that no longer count (every
/// instance does; deleting what another instance deleted already is harmless).
fn spawn_rate_limit_cleanup(limits: web::Data<RateLimits>) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(limits::WINDOW);
        loop {
            interval.tick().await;
            limits.forget_expired().await;
        }
    });
}

/// Works off the outbox in the background: a round whenever the last one was full, else one
/// per `poll`. Database trouble is logged and retried; nothing is lost. The depth goes to the
/// metrics every 10 s and to the log once a minute while emails wait or were given up on. When
/// `stop` fires it finishes the round under way plus one more, so that what it claimed is sent
/// or released, and ends.
fn spawn_outbox_worker(
    outbox: OutboxDelivery,
    poll: Duration,
    metrics: web::Data<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_depth = tokio::time::Instant::now() - Duration::from_secs(60);
        let mut last_depth_log = tokio::time::Instant::now();
        loop {
            let stopping = *stop.borrow();
            let busy = match outbox.run_once().await {
                Ok(report) => report.claimed > 0 && report.claimed == report.sent,
                Err(e) => {
                    tracing::warn!(error = ?e, "outbox round failed; retrying");
                    false
                }
            };
            if stopping {
                tracing::info!("outbox worker stopped");
                return;
            }
            if last_depth.elapsed() >= Duration::from_secs(10) {
                last_depth = tokio::time::Instant::now();
                match outbox.depth().await {
                    Ok(depth) => {
                        metrics.set_outbox_depth(depth.pending, depth.dead);
                        if (depth.pending > 0 || depth.dead > 0)
                            && last_depth_log.elapsed() >= Duration::from_secs(60)
                        {
                            last_depth_log = tokio::time::Instant::now();
                            tracing::info!(
                                pending = depth.pending,
                                given_up = depth.dead,
                                "outbox depth"
                            );
                        }
                    }
                    Err(e) => tracing::warn!(error = ?e, "could not read the outbox depth"),
                }
            }
            if !busy {
                // Wake early when shutdown begins.
                let _ = tokio::time::timeout(poll, stop.changed()).await;
            }
        }
    })
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    stop_outbox: tokio::sync::watch::Sender<bool>,
    outbox_worker: tokio::task::JoinHandle<()>,
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
            rate_counter,
            housekeeping,
        } = Services::build(config).await?;
        spawn_housekeeping(
            housekeeping,
            TimeDelta::days(i64::from(config.outbox_retention_days)),
        );
        spawn_orphan_sweep(users.clone(), config.orphan_sweep_interval_minutes);
        let metrics = web::Data::new(Metrics::default());
        let (stop_outbox, stop) = tokio::sync::watch::channel(false);
        let outbox_worker = spawn_outbox_worker(
            outbox,
            Duration::from_millis(config.outbox_poll_interval_ms),
            metrics.clone(),
            stop,
        );
        let rate_limits = web::Data::new(RateLimits::new(
            rate_counter,
            config.rate_limit_per_minute,
            config.rate_limit_per_account_per_minute,
        ));
        spawn_rate_limit_cleanup(rate_limits.clone());
        let trusted_proxies = web::Data::new(config.trusted_proxies.clone());
        let metrics_token = web::Data::new(crate::metrics::MetricsToken::new(
            config
                .metrics_token
                .as_ref()
                .map(ExposeSecret::expose_secret),
        ));
        let request_timeout = web::Data::new(RequestTimeout(
            (config.request_timeout_seconds > 0)
                .then(|| Duration::from_secs(config.request_timeout_seconds)),
        ));
        let cors_origins = config.cors_allowed_origins.clone();
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
            upload_slots: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_uploads)),
            upload_body_timeout: Duration::from_secs(config.upload_body_timeout_seconds),
        });

        let listener = TcpListener::bind(config.bind_addr)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(rate_limits.clone())
                .app_data(trusted_proxies.clone())
                .app_data(metrics_token.clone())
                .app_data(request_timeout.clone())
                // Bodies are read no further than the JSON limit (uploads stream past this).
                .app_data(web::PayloadConfig::new(crate::extract::JSON_LIMIT))
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
                .wrap(cors(cors_origins.as_deref()))
                .wrap(from_fn(limits::security_headers))
                .wrap(from_fn(telemetry::log_requests))
                .wrap(NormalizePath::new(TrailingSlash::Trim))
        })
        .shutdown_timeout(config.shutdown_grace_seconds)
        .listen(listener)?
        .run();
        tracing::info!(addr = %config.bind_addr, port, base_url = %config.base_url(), "listening");
        Ok(Self {
            port,
            server,
            stop_outbox,
            outbox_worker,
        })
    }

    /// The bound port (useful with port 0).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is told to stop. On SIGTERM/SIGINT the server stops accepting,
    /// lets in-flight requests finish within `SHUTDOWN_GRACE_SECONDS`, and then the outbox worker
    /// finishes its round and one more, so that no claimed email is left hanging.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let _ = self.stop_outbox.send(true);
        if tokio::time::timeout(Duration::from_secs(30), self.outbox_worker)
            .await
            .is_err()
        {
            tracing::warn!("the outbox worker did not finish in 30 s");
        }
        tracing::info!("stopped");
        served
    }
}

/// CORS: no cross-origin access unless `CORS_ALLOWED_ORIGINS` names origins (or `*`). Bearer
/// tokens travel in a header, so credentials (cookies) are never allowed, and so `*` is never
/// combined with them.
fn cors(origins: Option<&[String]>) -> Cors {
    let base = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderName::from_static(telemetry::REQUEST_ID),
        ])
        .expose_headers([telemetry::REQUEST_ID, "retry-after"])
        .max_age(600);
    match origins {
        None => base,
        Some([]) => base.allow_any_origin(),
        Some(list) => list
            .iter()
            .fold(base, |cors, origin| cors.allowed_origin(origin)),
    }
}

async fn not_found() -> HttpResponse {
    ApiError::RouteNotFound.error_response()
}

/// actix answers a known path with an unknown method with an empty 405; give it a problem body
/// and the `Allow` header RFC 9110 requires: the methods of the resource the path matched.
fn method_not_allowed<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let (req, _) = res.into_parts();
    let mut response = ApiError::MethodNotAllowed.error_response();
    if let Some(allowed) = req
        .match_pattern()
        .and_then(|pattern| routes::allowed_methods(&pattern))
    {
        response.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allowed),
        );
    }
    let response = ServiceResponse::new(req, response);
    Ok(ErrorHandlerResponse::Response(
        response.map_into_right_body(),
    ))
}
