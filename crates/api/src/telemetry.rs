//! Logging: `tracing` to standard error, pretty or JSON, filtered by `RUST_LOG`.

use std::time::Instant;

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use tracing::Instrument as _;
use tracing_subscriber::{EnvFilter, fmt};

use crate::{config::LogFormat, metrics::Metrics};

/// Installs the global subscriber. `RUST_LOG` overrides the default filter (`info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The header that carries a request's id, in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// A request id from the client is kept when it is short and plain; otherwise one is made.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Gives every request an id (from `X-Request-Id` or new, returned in the response), runs it
/// inside a span carrying that id, logs one line per request with the client's address
/// ([`crate::client_ip::client_ip`]) and the route *pattern*
/// (`/verify-email/{user_id}/{token}`) — never the concrete path or query, so that tokens in
/// URLs stay out of the logs — and records the request in the metrics.
///
/// # Errors
/// Whatever the inner service answers.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let id = request_id(&req);
    // The client's address as TRUSTED_PROXIES says (the proxy's forwarded one behind a proxy).
    let client = crate::client_ip::client_ip(req.request())
        .map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), value);
    }
    if let Some(metrics) = metrics {
        metrics.observe(method.as_str(), &route, status, elapsed.as_secs_f64());
    }
    let _entered = span.enter();
    if status >= 500 {
        tracing::warn!(%method, %route, status, elapsed_ms, %client, "request");
    } else {
        tracing::info!(%method, %route, status, elapsed_ms, %client, "request");
    }
    Ok(response)
}
