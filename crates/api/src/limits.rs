//! Protection at the edge: rate limits on the endpoints that invite guessing and spamming (per
//! client address here, per account in the handlers), a time limit on every request, and the
//! security headers of every response.
//!
//! The rate limits count in a [`RateCounter`] shared by every instance (PostgreSQL's
//! `rate_limit_hits`), so they hold across instances behind one load balancer. Each limit is a
//! sliding window of one minute: the hits of the current minute plus those of the previous
//! minute weighted by how much of it still overlaps the last 60 seconds, so a burst split over
//! the edge of two minutes is counted whole. Refused requests count too: a client that keeps
//! hammering stays refused. Keys are SHA-256 digests of route and address or email.

use std::{net::IpAddr, sync::Arc, time::Duration};

use actix_web::{
    Error, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
    web,
};
use sha2::{Digest as _, Sha256};
use um_domain::ports::{RateCounter, RateWindow};

use crate::{client_ip::client_ip, error::ApiError};

/// The endpoints a client may call only so often from one address (POST only).
pub const LIMITED_ROUTES: [&str; 5] = [
    "/login",
    "/register",
    "/password-reset",
    "/password-reset/confirm",
    "/verify-email/resend",
];

/// The length of a rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The limits of POST requests to [`LIMITED_ROUTES`], per client address and per account (the
/// email address a request names); a limit of 0 is switched off.
#[derive(Clone)]
pub struct RateLimits {
    counter: Arc<dyn RateCounter>,
    per_address: u32,
    per_account: u32,
}

impl RateLimits {
    /// `per_address` requests per minute and client address and endpoint, and `per_account`
    /// per minute and email address and endpoint, counted in `counter`; 0 switches a limit off.
    #[must_use]
    pub fn new(counter: Arc<dyn RateCounter>, per_address: u32, per_account: u32) -> Self {
        Self {
            counter,
            per_address,
            per_account,
        }
    }

    /// 429 once `ip` has called `route` too often.
    ///
    /// # Errors
    /// [`ApiError::TooManyRequests`] with the time to wait.
    pub async fn check_address(&self, route: &str, ip: IpAddr) -> Result<(), ApiError> {
        self.check(self.per_address, &format!("address {route} {ip}"))
            .await
    }

    /// 429 once the account that `email` names has been asked for too often on `route`, from
    /// whatever addresses: this is what stops a password-guessing or email-bombing run spread
    /// over many addresses. The key is the trimmed, lower-cased text, valid email or not.
    ///
    /// # Errors
    /// [`ApiError::TooManyRequests`] with the time to wait.
    pub async fn check_account(&self, route: &str, email: &str) -> Result<(), ApiError> {
        let email = email.trim().to_lowercase();
        self.check(self.per_account, &format!("account {route} {email}"))
            .await
    }

    /// Removes the counters that no longer count (every instance runs this; it is idempotent).
    pub async fn forget_expired(&self) {
        if let Err(e) = self.counter.forget_expired(WINDOW).await {
            tracing::warn!(error = ?e, "could not remove expired rate-limit counters");
        }
    }

    async fn check(&self, limit: u32, key: &str) -> Result<(), ApiError> {
        if limit == 0 {
            return Ok(());
        }
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        match self.counter.hit(&digest, WINDOW).await {
            Ok(window) => refusal(limit, window).map_or(Ok(()), |wait| Err(too_many(wait))),
            // The request goes on: whatever it does with the database answers 503 itself, and
            // a limit that cannot count must not lock everyone out.
            Err(e) => {
                tracing::warn!(error = ?e, "rate limit not checked: the counter is unavailable");
                Ok(())
            }
        }
    }
}

/// `None` when the hit (already counted in `window.current`) is within `limit`; otherwise how
/// long until one more would be.
fn refusal(limit: u32, window: RateWindow) -> Option<Duration> {
    let limit = f64::from(limit);
    let current = f64::from(window.current);
    let previous = f64::from(window.previous);
    let estimate = previous.mul_add(1.0 - window.elapsed, current);
    if estimate <= limit {
        return None;
    }
    let window_secs = WINDOW.as_secs_f64();
    // Still in this window: once the previous window's weight has shrunk enough.
    let within = if current < limit && previous > 0.0 {
        let elapsed_needed = 1.0 - (limit - current - 1.0) / previous;
        Some((elapsed_needed - window.elapsed).max(0.0) * window_secs)
    } else {
        None
    };
    // Otherwise in the next window, where this window's hits become the previous ones.
    let next = || {
        let elapsed_needed = (1.0 - (limit - 1.0) / current).clamp(0.0, 1.0);
        (1.0 - window.elapsed + elapsed_needed) * window_secs
    };
    Some(Duration::from_secs_f64(within.unwrap_or_else(next)))
}

/// 429 with a `Retry-After` of whole seconds, at least one.
fn too_many(wait: Duration) -> ApiError {
    ApiError::TooManyRequests {
        retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}

/// Answers 429 with `Retry-After` once a client address exceeds its rate on a limited
/// endpoint. It wraps each resource of [`LIMITED_ROUTES`], so the route is the one the router
/// matched (`/%6cogin` is `/login`), never the raw path. The address is [`client_ip`]'s: behind
/// a trusted proxy, the one it forwards.
///
/// # Errors
/// Whatever the inner service answers.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let route = (req.method() == actix_web::http::Method::POST)
        .then(|| req.match_pattern())
        .flatten();
    if let (Some(route), Some(limits), Some(ip)) = (
        route,
        req.app_data::<web::Data<RateLimits>>(),
        client_ip(req.request()),
    ) && let Err(refused) = limits.check_address(&route, ip).await
    {
        let response = refused.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// How long, at least, the answers take that must not tell whether an account exists
/// (`POST /password-reset`, `POST /verify-email/resend`): a known address does more work (a
/// token, an email queued in a transaction) than an unknown one, and without a common floor the
/// difference (5–9 ms against 2 ms) shows which addresses have accounts.
pub const UNIFORM_ANSWER_TIME: Duration = Duration::from_millis(60);

/// Runs `work` and answers no sooner than [`UNIFORM_ANSWER_TIME`] after it started.
pub async fn in_uniform_time<T>(work: impl std::future::Future<Output = T>) -> T {
    let started = tokio::time::Instant::now();
    let outcome = work.await;
    tokio::time::sleep_until(started + UNIFORM_ANSWER_TIME).await;
    outcome
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

/// Adds `X-Content-Type-Options: nosniff` everywhere, [`DEFAULT_CSP`] where a response has no
/// policy of its own (the HTML pages and Swagger UI set theirs), and `Cache-Control: no-store`
/// to every answer to a request with credentials (`Authorization`) that says nothing of caching,
/// so that no browser or shared cache keeps an account's data.
///
/// # Errors
/// Whatever the inner service answers.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let with_credentials = req.headers().contains_key(header::AUTHORIZATION);
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    if with_credentials && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
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
    use std::{collections::HashMap, sync::Mutex};

    use async_trait::async_trait;
    use um_domain::ports::RepoError;

    use super::*;

    /// Counts in memory, all hits in one window that has run `elapsed` of its length, with
    /// `previous` hits in the window before for every key.
    #[derive(Default)]
    struct Counter {
        hits: Mutex<HashMap<String, u32>>,
        previous: u32,
        elapsed: f64,
    }

    #[async_trait]
    impl RateCounter for Counter {
        async fn hit(&self, key: &str, _window: Duration) -> Result<RateWindow, RepoError> {
            let mut hits = self.hits.lock().expect("not poisoned");
            let current = hits.entry(key.to_owned()).or_default();
            *current += 1;
            Ok(RateWindow {
                current: *current,
                previous: self.previous,
                elapsed: self.elapsed,
            })
        }

        async fn forget_expired(&self, _window: Duration) -> Result<u64, RepoError> {
            Ok(0)
        }
    }

    fn limits(per_address: u32, per_account: u32, counter: Counter) -> RateLimits {
        RateLimits::new(Arc::new(counter), per_address, per_account)
    }

    #[tokio::test]
    async fn an_address_is_limited_per_endpoint_and_zero_switches_it_off() {
        let limits = limits(2, 0, Counter::default());
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(limits.check_address("/login", ip).await.is_ok());
        assert!(limits.check_address("/login", ip).await.is_ok());
        assert!(
            limits.check_address("/login", ip).await.is_err(),
            "the third is refused"
        );
        assert!(
            limits.check_address("/register", ip).await.is_ok(),
            "other endpoints count apart"
        );
        assert!(
            limits
                .check_address("/login", [10, 0, 0, 1].into())
                .await
                .is_ok(),
            "other addresses count apart"
        );
        let off = self::limits(0, 0, Counter::default());
        for _ in 0..100 {
            assert!(off.check_address("/login", ip).await.is_ok());
            assert!(off.check_account("/login", "a@example.com").await.is_ok());
        }
    }

    #[tokio::test]
    async fn an_account_is_limited_per_endpoint_whatever_the_spelling_of_its_email() {
        let limits = limits(0, 2, Counter::default());
        assert!(
            limits
                .check_account("/login", "Ann@Example.com")
                .await
                .is_ok()
        );
        assert!(
            limits
                .check_account("/login", " ann@example.com ")
                .await
                .is_ok()
        );
        match limits.check_account("/login", "ANN@EXAMPLE.COM").await {
            Err(ApiError::TooManyRequests { retry_after }) => {
                assert!((1..=120).contains(&retry_after), "{retry_after}");
            }
            other => panic!("the third is refused, got {other:?}"),
        }
        assert!(
            limits
                .check_account("/password-reset", "ann@example.com")
                .await
                .is_ok()
        );
        assert!(
            limits
                .check_account("/login", "bob@example.com")
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn the_previous_window_still_counts_so_its_edge_cannot_be_gamed() {
        let ip: IpAddr = [192, 0, 2, 1].into();
        // 10 hits at the very end of the last minute: a new burst right after the edge is
        // refused at once (0.95 × 10 + 1 > 10).
        let at_the_edge = limits(
            10,
            0,
            Counter {
                previous: 10,
                elapsed: 0.05,
                ..Counter::default()
            },
        );
        match at_the_edge.check_address("/login", ip).await {
            Err(ApiError::TooManyRequests { retry_after }) => {
                assert!((1..=60).contains(&retry_after), "{retry_after}");
            }
            other => panic!("the burst across the edge is refused, got {other:?}"),
        }
        // Half-way through the minute, half of the last minute's hits still count.
        let half_way = limits(
            10,
            0,
            Counter {
                previous: 10,
                elapsed: 0.5,
                ..Counter::default()
            },
        );
        for _ in 0..5 {
            assert!(half_way.check_address("/login", ip).await.is_ok());
        }
        assert!(half_way.check_address("/login", ip).await.is_err());
    }

    #[test]
    fn the_wait_is_until_one_more_hit_fits() {
        let at = |current, previous, elapsed| RateWindow {
            current,
            previous,
            elapsed,
        };
        assert_eq!(refusal(3, at(3, 0, 0.5)), None);
        // Over the limit within this window: wait for the next one, plus the time until the
        // weight of this window's hits has shrunk enough.
        let wait = refusal(3, at(4, 0, 0.5)).expect("refused");
        assert!((29.0..=76.0).contains(&wait.as_secs_f64()), "{wait:?}");
        // Refused only because of the previous window: wait until its weight shrinks.
        // 10 × (1 − e) + 5 + 1 ≤ 10 from e = 0.6 on: 24 s after 0.2 of the window.
        let wait = refusal(10, at(5, 10, 0.2)).expect("refused");
        assert!((23.9..=24.1).contains(&wait.as_secs_f64()), "{wait:?}");
    }

    #[tokio::test]
    async fn an_unavailable_counter_lets_the_request_through() {
        struct Down;
        #[async_trait]
        impl RateCounter for Down {
            async fn hit(&self, _: &str, _: Duration) -> Result<RateWindow, RepoError> {
                Err(RepoError::Unavailable(anyhow::anyhow!("down")))
            }
            async fn forget_expired(&self, _: Duration) -> Result<u64, RepoError> {
                Ok(0)
            }
        }
        let limits = RateLimits::new(Arc::new(Down), 1, 1);
        for _ in 0..3 {
            assert!(
                limits
                    .check_address("/login", [127, 0, 0, 1].into())
                    .await
                    .is_ok()
            );
        }
    }
}
