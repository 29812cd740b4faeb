//! `GET /metrics`: Prometheus text format. Request counts and latency per route and status,
//! login outcomes, picture uploads, and the outbox depth.

use crate::error::ApiError;
use actix_web::{HttpResponse, ResponseError as _, web};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use sha2::{Digest as _, Sha256};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route pattern (`/users/{user_id}`), never the concrete path.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

type HistogramFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

/// Every series the service exports. Cheap to share (`Arc` inside each family).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    logins: Family<OutcomeLabels, Counter>,
    uploads: Family<OutcomeLabels, Counter>,
    outbox: Family<OutcomeLabels, Gauge>,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = HistogramFamily::new_with_constructor(latency_histogram);
        let logins = Family::<OutcomeLabels, Counter>::default();
        let uploads = Family::<OutcomeLabels, Counter>::default();
        let outbox = Family::<OutcomeLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        registry.register(
            "logins",
            "Login attempts by outcome: success, failure (wrong credentials), locked",
            logins.clone(),
        );
        registry.register(
            "picture_uploads",
            "Profile picture uploads by outcome: stored, rejected, failed",
            uploads.clone(),
        );
        registry.register(
            "outbox_emails",
            "Emails in the outbox by state: pending, given_up",
            outbox.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            logins,
            uploads,
            outbox,
        }
    }
}

impl Metrics {
    /// Records one finished request (every route, by its pattern).
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Records how a login attempt ended, as the login handler saw it: signed in, refused
    /// (wrong email or password), or refused because the account is locked. Attempts that
    /// never reached the check (a malformed body, a rate limit, an outage) are not logins.
    pub fn login(&self, outcome: &Result<um_domain::services::LoginSuccess, um_domain::Error>) {
        let outcome = match outcome {
            Ok(_) => "success",
            Err(um_domain::Error::InvalidCredentials) => "failure",
            Err(um_domain::Error::AccountLocked) => "locked",
            Err(_) => return,
        };
        self.count(&self.logins, outcome);
    }

    /// Records how a picture upload ended, as the upload handler saw it: stored, rejected (the
    /// client's fault: a bad image, too large, not allowed) or failed (ours).
    pub fn upload<T>(&self, outcome: &Result<T, ApiError>) {
        let outcome = match outcome {
            Ok(_) => "stored",
            Err(e) if e.status_code().is_server_error() => "failed",
            Err(_) => "rejected",
        };
        self.count(&self.uploads, outcome);
    }

    /// Sets the outbox gauges.
    pub fn set_outbox_depth(&self, pending: u64, given_up: u64) {
        for (state, value) in [("pending", pending), ("given_up", given_up)] {
            self.outbox
                .get_or_create(&OutcomeLabels {
                    outcome: state.to_owned(),
                })
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
    }

    fn count(&self, family: &Family<OutcomeLabels, Counter>, outcome: &str) {
        family
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "OpenMetrics text: `http_requests_total{method,route,status}` and \
        `http_request_duration_seconds{method,route}` (routes by pattern), \
        `logins_total{outcome}` (success, failure, locked), `picture_uploads_total{outcome}` \
        (stored, rejected, failed) and `outbox_emails{outcome}` (pending, given_up). With \
        `METRICS_TOKEN` set it needs `Authorization: Bearer <METRICS_TOKEN>`; without it, it is \
        public like the probes.",
    responses(
        (status = 200, description = "The series.",
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
        (status = 401, description = "`METRICS_TOKEN` is set and the request does not carry it (`not_authenticated`).", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn metrics(
    req: actix_web::HttpRequest,
    metrics: web::Data<Metrics>,
    token: web::Data<MetricsToken>,
) -> Result<HttpResponse, ApiError> {
    if !token.admits(&req) {
        return Err(um_domain::Error::Unauthenticated.into());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(metrics.render()))
}

/// `METRICS_TOKEN`: the bearer token `/metrics` asks for (none: public), kept as its SHA-256
/// digest so that the comparison takes the same time whatever the guess.
#[derive(Clone, Default)]
pub struct MetricsToken(Option<[u8; 32]>);

impl MetricsToken {
    #[must_use]
    pub fn new(token: Option<&str>) -> Self {
        Self(token.map(|token| Sha256::digest(token.as_bytes()).into()))
    }

    fn admits(&self, req: &actix_web::HttpRequest) -> bool {
        let Some(expected) = self.0 else {
            return true;
        };
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| <[u8; 32]>::from(Sha256::digest(token.trim().as_bytes())));
        presented.is_some_and(|digest| {
            digest
                .iter()
                .zip(expected.iter())
                .fold(0_u8, |diff, (a, b)| diff | (a ^ b))
                == 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_logins_and_uploads_are_counted() {
        use um_domain::Error;
        let m = Metrics::default();
        m.observe("GET", "/users/{user_id}", 200, 0.002);
        m.login(&Err(Error::InvalidCredentials));
        m.login(&Err(Error::AccountLocked));
        // A 400 that is no lock (a malformed body) and an outage are no login.
        m.login(&Err(Error::Validation(
            um_domain::validation::ValidationErrors::single("body", "bad"),
        )));
        m.login(&Err(Error::Unavailable(anyhow::anyhow!("down"))));
        m.upload::<()>(&Err(ApiError::UnsupportedMediaType("nope".into())));
        m.upload::<()>(&Err(ApiError::from(Error::Unavailable(anyhow::anyhow!(
            "down"
        )))));
        m.upload(&Ok(()));
        m.set_outbox_depth(3, 1);
        let text = m.render();
        for line in [
            r#"http_requests_total{method="GET",route="/users/{user_id}",status="200"} 1"#,
            r#"logins_total{outcome="failure"} 1"#,
            r#"logins_total{outcome="locked"} 1"#,
            r#"picture_uploads_total{outcome="rejected"} 1"#,
            r#"picture_uploads_total{outcome="failed"} 1"#,
            r#"picture_uploads_total{outcome="stored"} 1"#,
            r#"outbox_emails{outcome="pending"} 3"#,
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(
            !text.contains(r#"logins_total{outcome="success"}"#),
            "{text}"
        );
        assert!(text.contains("http_request_duration_seconds_bucket"));
    }
}
