//! Protection at the edge: a per-IP rate limit on the endpoints that invite guessing and
//! spamming, and the security headers of every response. (Requests cannot hang on a dependency:
//! the database pool gives up after 5 s and the object store after 10 s, both answering 503.)

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

/// Per-IP limits of POST requests to [`LIMITED_ROUTES`]; `None` when switched off.
#[derive(Clone)]
pub struct RateLimits {
    limiter: Option<Arc<DefaultKeyedRateLimiter<(&'static str, IpAddr)>>>,
}

impl RateLimits {
    /// `per_minute` requests per minute and address and endpoint, with bursts of as many;
    /// 0 switches the limit off.
    #[must_use]
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute)
                .map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n)))),
        }
    }

    /// How long the caller must wait, when it must.
    fn check(&self, route: &'static str, ip: IpAddr) -> Option<Duration> {
        let limiter = self.limiter.as_ref()?;
        limiter.check_key(&(route, ip)).err().map(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }
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
    ) && let Some(wait) = limits.check(route, peer.ip())
    {
        let seconds = wait.as_secs().max(1);
        let mut response = ApiError::TooManyRequests.error_response();
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
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
        let limits = RateLimits::per_minute(2);
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(limits.check("/login", ip).is_none());
        assert!(limits.check("/login", ip).is_none());
        assert!(limits.check("/login", ip).is_some(), "the third is refused");
        assert!(
            limits.check("/register", ip).is_none(),
            "other endpoints count apart"
        );
        assert!(
            limits.check("/login", [10, 0, 0, 1].into()).is_none(),
            "other addresses count apart"
        );
        let off = RateLimits::per_minute(0);
        assert!((0..100).all(|_| off.check("/login", ip).is_none()));
    }
}
