//! Protection at the edge: rate limits on the endpoints that invite guessing and spamming (per
//! client address here, per account in the handlers), a time limit on every request, and the
//! security headers of every response.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use actix_web::{
    Error, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
    web,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};

use crate::error::ApiError;

/// The endpoints a client may call only so often from one address.
pub const LIMITED_ROUTES: [&str; 4] = [
    "/login",
    "/register",
    "/password-reset",
    "/password-reset/confirm",
];

type Limiter<K> = Option<Arc<DefaultKeyedRateLimiter<K>>>;

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Limiter<K> {
    NonZeroU32::new(per_minute).map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n))))
}

/// The limits of POST requests to [`LIMITED_ROUTES`], per client address and per account (the
/// email address a request names); either is `None` when switched off.
#[derive(Clone)]
pub struct RateLimits {
    per_address: Limiter<(&'static str, IpAddr)>,
    per_account: Limiter<(&'static str, String)>,
}

impl RateLimits {
    /// `per_address` requests per minute and client address and endpoint, and `per_account`
    /// per minute and email address and endpoint, each with bursts of as many; 0 switches a
    /// limit off.
    #[must_use]
    pub fn new(per_address: u32, per_account: u32) -> Self {
        Self {
            per_address: limiter(per_address),
            per_account: limiter(per_account),
        }
    }

    /// How long the caller must wait, when it must.
    fn check_address(&self, route: &'static str, ip: IpAddr) -> Option<Duration> {
        wait_time(self.per_address.as_ref()?.check_key(&(route, ip)))
    }

    /// 429 once the account that `email` names has been asked for too often on `route`, from
    /// whatever addresses: this is what stops a password-guessing or email-bombing run spread
    /// over many addresses. The key is the trimmed, lower-cased text, valid email or not.
    ///
    /// # Errors
    /// [`ApiError::TooManyRequests`] with the time to wait.
    pub fn check_account(&self, route: &'static str, email: &str) -> Result<(), ApiError> {
        let Some(limiter) = self.per_account.as_ref() else {
            return Ok(());
        };
        let key = (route, email.trim().to_lowercase());
        wait_time(limiter.check_key(&key)).map_or(Ok(()), |wait| Err(too_many(wait)))
    }

    /// Forgets the keys whose limit has fully recovered, so that the maps do not grow with
    /// every address and email ever seen.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.per_address {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_account {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// 429 with a `Retry-After` of whole seconds, at least one.
fn too_many(wait: Duration) -> ApiError {
    ApiError::TooManyRequests {
        retry_after: wait.as_secs().max(1),
    }
}

fn wait_time<T>(
    outcome: Result<T, governor::NotUntil<governor::clock::QuantaInstant>>,
) -> Option<Duration> {
    outcome
        .err()
        .map(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
}

/// Answers 429 with `Retry-After` once an address exceeds its rate on a limited endpoint.
///
/// The address is the TCP peer: behind a reverse proxy every client shares the proxy's address,
/// so set the limit there, or raise it here.
///
/// # Errors
/// Whatever the inner service answers.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let limited = (req.method() == actix_web::http::Method::POST)
        .then(|| LIMITED_ROUTES.iter().find(|r| **r == req.path()).copied())
        .flatten();
    if let (Some(route), Some(limits), Some(peer)) = (
        limited,
        req.app_data::<web::Data<RateLimits>>(),
        req.peer_addr(),
    ) && let Some(wait) = limits.check_address(route, peer.ip())
    {
        let response = too_many(wait).error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// How long a request may take, end to end (`REQUEST_TIMEOUT_SECONDS`); `None`: no limit.
#[derive(Clone, Copy, Debug)]
pub struct RequestTimeout(pub Option<Duration>);

/// Abandons a request that is still unanswered after [`RequestTimeout`] with 503 and
/// `Retry-After` (`request_timeout`), dropping whatever it was waiting on. A transaction it had
/// open is rolled back by the database when its connection is discarded, so nothing is
/// half-written.
///
/// It wraps each resource, not the app: it keeps a handle on the request to answer with, and
/// the router needs the only handle while it routes.
///
/// # Errors
/// Whatever the inner service answers.
pub async fn time_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let limit = req
        .app_data::<web::Data<RequestTimeout>>()
        .and_then(|t| t.0);
    let Some(limit) = limit else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let request = req.request().clone();
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(response) => Ok(response?.map_into_left_body()),
        Err(_) => {
            tracing::warn!(limit = ?limit, "request abandoned: it took too long");
            let response = ApiError::Timeout {
                seconds: limit.as_secs(),
            }
            .error_response();
            Ok(ServiceResponse::new(request, response).map_into_right_body())
        }
    }
}

/// The Content-Security-Policy of every response that does not set its own: nothing may be
/// loaded, nothing may frame it.
pub const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds `X-Content-Type-Options: nosniff` everywhere and [`DEFAULT_CSP`] where a response has no
/// policy of its own (the HTML pages and Swagger UI set theirs).
///
/// # Errors
/// Whatever the inner service answers.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_limited_per_endpoint_and_zero_switches_it_off() {
        let limits = RateLimits::new(2, 0);
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(limits.check_address("/login", ip).is_none());
        assert!(limits.check_address("/login", ip).is_none());
        assert!(
            limits.check_address("/login", ip).is_some(),
            "the third is refused"
        );
        assert!(
            limits.check_address("/register", ip).is_none(),
            "other endpoints count apart"
        );
        assert!(
            limits
                .check_address("/login", [10, 0, 0, 1].into())
                .is_none(),
            "other addresses count apart"
        );
        let off = RateLimits::new(0, 0);
        assert!((0..100).all(|_| off.check_address("/login", ip).is_none()));
        assert!((0..100).all(|_| off.check_account("/login", "a@example.com").is_ok()));
    }

    #[test]
    fn an_account_is_limited_per_endpoint_whatever_the_spelling_of_its_email() {
        let limits = RateLimits::new(0, 2);
        assert!(limits.check_account("/login", "Ann@Example.com").is_ok());
        assert!(limits.check_account("/login", " ann@example.com ").is_ok());
        match limits.check_account("/login", "ANN@EXAMPLE.COM") {
            Err(ApiError::TooManyRequests { retry_after }) => {
                assert!((1..=60).contains(&retry_after), "{retry_after}");
            }
            other => panic!("the third is refused, got {other:?}"),
        }
        assert!(
            limits
                .check_account("/password-reset", "ann@example.com")
                .is_ok()
        );
        assert!(limits.check_account("/login", "bob@example.com").is_ok());
        limits.forget_idle();
        assert!(
            limits.check_account("/login", "ann@example.com").is_err(),
            "a key still limited is kept"
        );
    }
}
