//! The HTTP server: the actix-web application around the routes, its middleware and error
//! handlers, and its life from binding to a graceful stop. `main` and the end-to-end tests
//! both go through [`Application::build`].

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_cors::Cors;
use actix_web::{
    App, HttpResponse, HttpServer, ResponseError,
    dev::{Server, ServiceResponse},
    http::{Method, StatusCode},
    middleware::{ErrorHandlerResponse, ErrorHandlers, NormalizePath, TrailingSlash, from_fn},
    web,
};
use secrecy::ExposeSecret;

use crate::{
    config::Config,
    dto::Urls,
    error::ApiError,
    limits::{self, RateLimits, RequestTimeout},
    metrics::Metrics,
    openapi, routes,
    startup::Services,
    state::AppState,
    telemetry, workers,
};

/// How often each HTTP worker thread hands the memory it freed back to the system.
const RELEASE_FREED_MEMORY_EVERY: Duration = Duration::from_secs(1);

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
        if config.auth.jwt_secret_generated {
            tracing::warn!(
                "JWT_SECRET is not set: using a random secret; tokens stop working on restart"
            );
        }
        let Services {
            users,
            outbox,
            rate_counter,
            housekeeping,
            ..
        } = Services::build(config).await?;
        workers::spawn_housekeeping(housekeeping, config.outbox.retention);
        workers::spawn_orphan_sweep(users.clone(), config.pictures.orphan_sweep_interval_minutes);
        let metrics = web::Data::new(Metrics::default());
        let (stop_outbox, stop) = tokio::sync::watch::channel(false);
        let outbox_worker = workers::spawn_outbox_worker(
            outbox,
            config.outbox.poll_interval,
            metrics.clone(),
            stop,
        );
        let rate_limits = web::Data::new(RateLimits::new(
            rate_counter,
            config.http.rate_limit_per_minute,
            config.http.rate_limit_per_account_per_minute,
        ));
        workers::spawn_rate_limit_cleanup(rate_limits.clone());
        let trusted_proxies = web::Data::new(config.http.trusted_proxies.clone());
        let metrics_token = web::Data::new(crate::metrics::MetricsToken::new(
            config
                .http
                .metrics_token
                .as_ref()
                .map(ExposeSecret::expose_secret),
        ));
        let request_timeout = web::Data::new(RequestTimeout(config.http.request_timeout));
        let cors_origins = config.http.cors_allowed_origins.clone();
        let base = config.base_url();
        let state = web::Data::new(AppState {
            users,
            urls: Urls {
                pictures: config
                    .pictures
                    .s3_public_url
                    .clone()
                    .unwrap_or_else(|| format!("{base}/pictures")),
                base,
            },
            max_picture_bytes: config.pictures.max_bytes,
            upload_slots: Arc::new(tokio::sync::Semaphore::new(
                config.pictures.max_concurrent_uploads,
            )),
            upload_body_timeout: config.pictures.upload_body_timeout,
        });

        let listener = TcpListener::bind(config.http.bind_addr)?;
        let port = listener.local_addr()?.port();
        // Lane 0 of the database pool is the background jobs'; each worker takes the next.
        let next_lane = Arc::new(std::sync::atomic::AtomicUsize::new(1));
        let server = HttpServer::new(move || {
            um_postgres::use_lane(next_lane.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            // Runs once on each worker thread. The allocator gives a thread's freed pages back
            // only when that thread asks it to; a worker that has read upload bodies otherwise
            // keeps them for good (docs/benchmarks.md). Once a second it asks.
            actix_web::rt::spawn(async {
                let mut every = actix_web::rt::time::interval(RELEASE_FREED_MEMORY_EVERY);
                loop {
                    every.tick().await;
                    um_alloc::collect();
                }
            });
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
                .configure(openapi::configure)
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
        .workers(crate::startup::cores())
        .shutdown_timeout(config.http.shutdown_grace_seconds)
        // actix leaves Nagle's algorithm on by default. A streamed answer (a picture) goes out
        // as the headers, then the body; Nagle held the body until the client acknowledged the
        // headers, which Linux delays by 40 ms on a connection that looks like request and
        // response: every picture took 44 ms (issue #17, docs/benchmarks.md).
        .tcp_nodelay(true)
        .listen(listener)?
        .run();
        tracing::info!(addr = %config.http.bind_addr, port, base_url = %config.base_url(), "listening");
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
        .and_then(|pattern| allowed_methods(&pattern))
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

/// The methods a path pattern of the application serves, as the value of an `Allow` header
/// (`GET, POST`), in registration order; `None` for a pattern it does not register. Every
/// 405 carries it (RFC 9110 §15.5.6). actix serves neither `HEAD` nor `OPTIONS` on its own
/// (CORS answers preflights before routing), so they are listed only where registered.
#[must_use]
pub fn allowed_methods(pattern: &str) -> Option<&'static str> {
    static ALLOWED: std::sync::LazyLock<Vec<(&'static str, String)>> =
        std::sync::LazyLock::new(|| {
            let mut allowed: Vec<(&'static str, String)> = Vec::new();
            for (method, path) in registered() {
                match allowed.iter_mut().find(|(p, _)| *p == path) {
                    Some((_, methods)) => {
                        methods.push_str(", ");
                        methods.push_str(method.as_str());
                    }
                    None => allowed.push((path, method.as_str().to_owned())),
                }
            }
            allowed
        });
    ALLOWED
        .iter()
        .find(|(path, _)| *path == pattern)
        .map(|(_, methods)| methods.as_str())
}

/// Every (method, path) the application registers: the API's routes, then the document's own.
#[must_use]
pub fn registered() -> Vec<(Method, &'static str)> {
    let own = openapi::OWN_ROUTES
        .iter()
        .map(|(method, path)| (method.clone(), *path));
    routes::registered().into_iter().chain(own).collect()
}
