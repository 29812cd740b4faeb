//! Configuration from the environment (a `.env` file is read first when present).
//!
//! Every variable, its default and its meaning:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `APP_ENV` | `development` | `development` or `production`; production insists on `JWT_SECRET` |
//! | `DATABASE_URL` | `postgres://postgres@127.0.0.1:5432/user_management` | PostgreSQL; the database is created if missing and migrated at start; `?sslmode=disable\|prefer\|require\|verify-ca\|verify-full` and `sslrootcert=FILE` as libpq's (default `prefer`, plain on loopback) |
//! | `DATABASE_POOL_SIZE` | `16` | connections in the pool, split evenly into a lane per HTTP worker (one per core) and one for the background jobs; each worker uses its own lane |
//! | `BIND_ADDR` | `127.0.0.1:8000` | address the HTTP server listens on |
//! | `PUBLIC_BASE_URL` | `http://localhost:8000` | base of every absolute link (API links, email links) |
//! | `JWT_SECRET` | random, with a warning (development only) | HS256 signing key, at least 32 bytes |
//! | `JWT_ISSUER` | `user-management` | the `iss` claim issued and required |
//! | `ACCESS_TOKEN_TTL_MINUTES` | `30` | lifetime of an access token |
//! | `REFRESH_TOKEN_TTL_DAYS` | `30` | lifetime of a session from its login, however often refreshed |
//! | `MAX_LOGIN_ATTEMPTS` | `3` | consecutive failed logins that lock an account |
//! | `FIRST_USER_IS_ADMIN` | `true` | the first account becomes a verified ADMIN |
//! | `VERIFICATION_TOKEN_TTL_HOURS` | `24` | lifetime of an email-verification link |
//! | `SMTP_URL` | unset | `smtp://user:pass@host:587` or `smtps://…`; send email over SMTP |
//! | `MAIL_DIR` | unset | without SMTP: write each email as an `.eml` file here |
//! | `MAIL_FROM` | `User Management <no-reply@localhost>` | sender of every email |
//! | `MAIL_TEMPLATE_DIR` | unset | directory whose `<name>.md` files replace the built-in email templates |
//! | `OUTBOX_POLL_INTERVAL_MS` | `1000` | how often the outbox worker looks for due emails |
//! | `OUTBOX_MAX_ATTEMPTS` | `12` | delivery attempts before an email is given up on |
//! | `OUTBOX_RETRY_BASE_SECONDS` | `5` | delay after the first failure; doubles each time, at most an hour |
//! | `UPLOAD_BODY_TIMEOUT_SECONDS` | `10` | an upload whose body has not fully arrived after this long is refused with 408 and frees its upload slot |
//! | `OUTBOX_RETENTION_DAYS` | `7` | delivered emails' outbox rows are removed after this many days (hourly, with expired tokens) |
//! | `PASSWORD_RESET_TTL_MINUTES` | `60` | lifetime of a password-reset link |
//! | `UNLOCK_TOKEN_TTL_HOURS` | `168` | lifetime of the unlock link in an "account locked" email |
//! | `S3_ENDPOINT` | unset | S3/MinIO endpoint (`http://127.0.0.1:9000`); unset: pictures go to `DATA_DIR` |
//! | `S3_BUCKET` | `profile-pictures` | bucket, created if missing |
//! | `S3_ACCESS_KEY`, `S3_SECRET_KEY` | none; required with `S3_ENDPOINT` | credentials |
//! | `S3_REGION` | `us-east-1` | region used for signing |
//! | `S3_PUBLIC_URL` | unset | when set, picture URLs are `{S3_PUBLIC_URL}/{key}` instead of `/pictures/{key}` |
//! | `DATA_DIR` | `./data` | directory store for pictures when `S3_ENDPOINT` is unset |
//! | `MAX_PICTURE_BYTES` | `5242880` (5 MiB) | largest accepted upload |
//! | `MAX_PICTURE_PIXELS` | `40000000` | largest accepted width × height |
//! | `MAX_CONCURRENT_UPLOADS` | twice the CPUs | picture uploads read, processed and stored at once; more wait their turn before their body is read (bounds the memory uploads hold) |
//! | `ORPHAN_SWEEP_INTERVAL_MINUTES` | `60` | how often unreferenced picture objects are removed (0: never) |
//! | `CORS_ALLOWED_ORIGINS` | unset (no cross-origin access) | comma-separated origins (`https://app.example.com`), or `*` for any; never with credentials |
//! | `RATE_LIMIT_PER_MINUTE` | `30` | POSTs per minute and client address to `/login`, `/register`, `/password-reset(/confirm)`, `/verify-email/resend`; 0 switches it off |
//! | `RATE_LIMIT_PER_ACCOUNT_PER_MINUTE` | `10` | POSTs per minute and email address to `/login`, `/register`, `/password-reset`, `/verify-email/resend`, from all addresses together; 0 switches it off |
//! | `METRICS_TOKEN` | unset (public) | when set, `GET /metrics` needs `Authorization: Bearer <token>`; at least 16 characters |
//! | `TRUSTED_PROXIES` | none | comma-separated addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` names the client (rate limits, logs) |
//! | `REQUEST_TIMEOUT_SECONDS` | `30` | a request still unanswered after this long is abandoned with 503 and `Retry-After`; 0 switches it off |
//! | `SHUTDOWN_GRACE_SECONDS` | `30` | on SIGTERM, how long in-flight requests may finish |
//! | `LOG_FORMAT` | `pretty` | `pretty` or `json` |
//! | `RUST_LOG` | `info` | log filter (tracing `EnvFilter` syntax) |

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use chrono::TimeDelta;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Where the server listens without `BIND_ADDR` (the health probe assumes it too).
pub const DEFAULT_BIND_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8000);

/// A variable whose value cannot be used; start-up stops with this message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The whole configuration of the service, in sections, each parsed once into typed values
/// (durations, URLs, secrets) by [`Config::from_lookup`].
#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub mail: MailConfig,
    pub outbox: OutboxConfig,
    pub pictures: PictureConfig,
}

/// The HTTP face: where it listens, how it links, whom it trusts, its limits.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `BIND_ADDR`.
    pub bind_addr: SocketAddr,
    /// `PUBLIC_BASE_URL`: the base of every absolute link.
    pub public_base_url: Url,
    /// `CORS_ALLOWED_ORIGINS`: `None` allows no cross-origin access, an empty list any origin.
    pub cors_allowed_origins: Option<Vec<String>>,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: crate::client_ip::TrustedProxies,
    /// `REQUEST_TIMEOUT_SECONDS`; `None` when 0 (off).
    pub request_timeout: Option<Duration>,
    /// `SHUTDOWN_GRACE_SECONDS`.
    pub shutdown_grace_seconds: u64,
    /// `METRICS_TOKEN`: the bearer token `/metrics` asks for; `None`: public.
    pub metrics_token: Option<SecretString>,
    /// `RATE_LIMIT_PER_MINUTE` (per client address; 0 off).
    pub rate_limit_per_minute: u32,
    /// `RATE_LIMIT_PER_ACCOUNT_PER_MINUTE` (per email address; 0 off).
    pub rate_limit_per_account_per_minute: u32,
}

/// PostgreSQL.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`, with its `sslmode` and `sslrootcert` checked.
    pub url: String,
    /// `DATABASE_POOL_SIZE`.
    pub pool_size: usize,
}

/// Tokens, lockout and the lifetimes of the emailed links.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `JWT_SECRET`, or a random one (then `jwt_secret_generated`).
    pub jwt_secret: SecretString,
    pub jwt_secret_generated: bool,
    /// `JWT_ISSUER`.
    pub jwt_issuer: String,
    /// `ACCESS_TOKEN_TTL_MINUTES`.
    pub access_token_ttl: TimeDelta,
    /// `MAX_LOGIN_ATTEMPTS`.
    pub max_login_attempts: u32,
    /// `FIRST_USER_IS_ADMIN`.
    pub first_user_is_admin: bool,
    /// `VERIFICATION_TOKEN_TTL_HOURS`.
    pub verification_ttl: TimeDelta,
    /// `PASSWORD_RESET_TTL_MINUTES`.
    pub password_reset_ttl: TimeDelta,
    /// `UNLOCK_TOKEN_TTL_HOURS`.
    pub unlock_ttl: TimeDelta,
    /// `REFRESH_TOKEN_TTL_DAYS`: how long a session lives from its login.
    pub session_ttl: TimeDelta,
}

/// How emails are written and sent.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `SMTP_URL`.
    pub smtp_url: Option<SecretString>,
    /// `MAIL_DIR`.
    pub dir: Option<PathBuf>,
    /// `MAIL_FROM`.
    pub from: String,
    /// `MAIL_TEMPLATE_DIR`.
    pub template_dir: Option<PathBuf>,
}

/// The outbox worker.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// `OUTBOX_POLL_INTERVAL_MS`.
    pub poll_interval: Duration,
    /// `OUTBOX_MAX_ATTEMPTS`.
    pub max_attempts: u32,
    /// `OUTBOX_RETRY_BASE_SECONDS`.
    pub retry_base: TimeDelta,
    /// `OUTBOX_RETENTION_DAYS`: how long a delivered email's row is kept.
    pub retention: TimeDelta,
}

/// Profile pictures: where they are stored, how large they may be, how uploads are paced.
#[derive(Debug, Clone)]
pub struct PictureConfig {
    pub storage: StorageConfig,
    /// `S3_PUBLIC_URL`, without a trailing slash.
    pub s3_public_url: Option<String>,
    /// `MAX_PICTURE_BYTES`.
    pub max_bytes: usize,
    /// `MAX_PICTURE_PIXELS`.
    pub max_pixels: u64,
    /// `MAX_CONCURRENT_UPLOADS`.
    pub max_concurrent_uploads: usize,
    /// `UPLOAD_BODY_TIMEOUT_SECONDS`.
    pub upload_body_timeout: Duration,
    /// `ORPHAN_SWEEP_INTERVAL_MINUTES`; 0: never.
    pub orphan_sweep_interval_minutes: u64,
}

/// Where pictures are stored.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// A local directory (`DATA_DIR`): the embedded default.
    Directory(PathBuf),
    /// An S3-compatible bucket (MinIO, AWS, …), path-style addressing.
    S3 {
        endpoint: String,
        bucket: String,
        region: String,
        access_key: String,
        secret_key: SecretString,
    },
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// The first variable with a value that cannot be used.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`; empty values count as unset.
    ///
    /// # Errors
    /// The first variable with a value that cannot be used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let app_env = match get("APP_ENV")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("development" | "dev") => AppEnv::Development,
            Some("production" | "prod") => AppEnv::Production,
            Some(_) => return Err(bad("APP_ENV", "must be development or production")),
        };
        let database_url = get("DATABASE_URL")
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/user_management".into());
        let parsed_db = Url::parse(&database_url)
            .map_err(|e| bad("DATABASE_URL", format!("not a URL: {e}")))?;
        if !matches!(parsed_db.scheme(), "postgres" | "postgresql")
            || parsed_db.path().trim_start_matches('/').is_empty()
        {
            return Err(bad(
                "DATABASE_URL",
                "must be postgres://user@host:port/database",
            ));
        }
        // sslmode and sslrootcert: a bad value or an unreadable root certificate stops start-up
        // here, before any connection is tried.
        um_postgres::tls::ConnectSettings::from_url(&database_url)
            .map_err(|e| bad("DATABASE_URL", e.to_string()))?;
        let public_base_url: Url = parse_or("PUBLIC_BASE_URL", get("PUBLIC_BASE_URL"), || {
            Url::parse("http://localhost:8000").expect("the default is a URL")
        })?;
        if !matches!(public_base_url.scheme(), "http" | "https") {
            return Err(bad("PUBLIC_BASE_URL", "must be an http or https URL"));
        }

        let (jwt_secret, jwt_secret_generated) = match get("JWT_SECRET") {
            Some(s) if s.len() >= 32 => (SecretString::from(s), false),
            Some(_) => return Err(bad("JWT_SECRET", "must be at least 32 bytes long")),
            None if app_env == AppEnv::Production => {
                return Err(bad("JWT_SECRET", "is required when APP_ENV=production"));
            }
            None => (um_security::generate_secret(), true),
        };

        let smtp_url = get("SMTP_URL").map(SecretString::from);
        if let Some(url) = &smtp_url {
            let parsed = Url::parse(url.expose_secret())
                .map_err(|_| bad("SMTP_URL", "not a URL (smtp://user:pass@host:port)"))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") {
                return Err(bad("SMTP_URL", "scheme must be smtp or smtps"));
            }
        }

        let storage = match get("S3_ENDPOINT") {
            None => StorageConfig::Directory(PathBuf::from(
                get("DATA_DIR").unwrap_or_else(|| "./data".into()),
            )),
            Some(endpoint) => {
                let parsed = Url::parse(&endpoint)
                    .map_err(|_| bad("S3_ENDPOINT", "not a URL (http://host:port)"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(bad("S3_ENDPOINT", "must be an http or https URL"));
                }
                StorageConfig::S3 {
                    endpoint: endpoint.trim_end_matches('/').to_owned(),
                    bucket: get("S3_BUCKET").unwrap_or_else(|| "profile-pictures".into()),
                    region: get("S3_REGION").unwrap_or_else(|| "us-east-1".into()),
                    access_key: get("S3_ACCESS_KEY")
                        .ok_or_else(|| bad("S3_ACCESS_KEY", "is required with S3_ENDPOINT"))?,
                    secret_key: get("S3_SECRET_KEY")
                        .map(SecretString::from)
                        .ok_or_else(|| bad("S3_SECRET_KEY", "is required with S3_ENDPOINT"))?,
                }
            }
        };
        let s3_public_url = match get("S3_PUBLIC_URL") {
            None => None,
            Some(raw) => {
                let url = Url::parse(&raw)
                    .map_err(|_| bad("S3_PUBLIC_URL", "not a URL (https://host/bucket)"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(bad("S3_PUBLIC_URL", "must be an http or https URL"));
                }
                Some(raw.trim_end_matches('/').to_owned())
            }
        };

        Ok(Self {
            app_env,
            log_format: match get("LOG_FORMAT")
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("pretty") => LogFormat::Pretty,
                Some("json") => LogFormat::Json,
                Some(_) => return Err(bad("LOG_FORMAT", "must be pretty or json")),
            },
            http: HttpConfig {
                bind_addr: parse_or("BIND_ADDR", get("BIND_ADDR"), || DEFAULT_BIND_ADDR)?,
                public_base_url,
                cors_allowed_origins: match get("CORS_ALLOWED_ORIGINS") {
                    None => None,
                    Some(raw) if raw.trim() == "*" => Some(Vec::new()),
                    Some(raw) => Some(
                        raw.split(',')
                            .map(str::trim)
                            .filter(|o| !o.is_empty())
                            .map(|origin| {
                                let url = Url::parse(origin).map_err(|_| {
                                    bad(
                                        "CORS_ALLOWED_ORIGINS",
                                        format!("{origin:?} is not an origin"),
                                    )
                                })?;
                                if !matches!(url.scheme(), "http" | "https")
                                    || url.path() != "/"
                                    || origin.ends_with('/')
                                {
                                    return Err(bad(
                                        "CORS_ALLOWED_ORIGINS",
                                        format!(
                                            "{origin:?} must be scheme://host[:port] without a path"
                                        ),
                                    ));
                                }
                                Ok(origin.to_owned())
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                },
                trusted_proxies: crate::client_ip::TrustedProxies::parse(
                    &get("TRUSTED_PROXIES").unwrap_or_default(),
                )
                .map_err(|e| bad("TRUSTED_PROXIES", e))?,
                request_timeout: {
                    let seconds: u64 = in_range(
                        "REQUEST_TIMEOUT_SECONDS",
                        get("REQUEST_TIMEOUT_SECONDS"),
                        30,
                        0..=3600,
                    )?;
                    (seconds > 0).then(|| Duration::from_secs(seconds))
                },
                shutdown_grace_seconds: in_range(
                    "SHUTDOWN_GRACE_SECONDS",
                    get("SHUTDOWN_GRACE_SECONDS"),
                    30,
                    0..=3600,
                )?,
                metrics_token: match get("METRICS_TOKEN").map(|t| t.trim().to_owned()) {
                    None => None,
                    Some(t) if t.is_empty() => None,
                    Some(t) if t.len() < 16 => {
                        return Err(bad("METRICS_TOKEN", "must be at least 16 characters"));
                    }
                    Some(t) => Some(SecretString::from(t)),
                },
                rate_limit_per_minute: in_range(
                    "RATE_LIMIT_PER_MINUTE",
                    get("RATE_LIMIT_PER_MINUTE"),
                    30,
                    0..=100_000,
                )?,
                rate_limit_per_account_per_minute: in_range(
                    "RATE_LIMIT_PER_ACCOUNT_PER_MINUTE",
                    get("RATE_LIMIT_PER_ACCOUNT_PER_MINUTE"),
                    10,
                    0..=100_000,
                )?,
            },
            database: DatabaseConfig {
                url: database_url,
                pool_size: in_range(
                    "DATABASE_POOL_SIZE",
                    get("DATABASE_POOL_SIZE"),
                    16,
                    1..=1000,
                )?,
            },
            auth: AuthConfig {
                jwt_secret,
                jwt_secret_generated,
                jwt_issuer: get("JWT_ISSUER").unwrap_or_else(|| "user-management".into()),
                access_token_ttl: TimeDelta::minutes(in_range(
                    "ACCESS_TOKEN_TTL_MINUTES",
                    get("ACCESS_TOKEN_TTL_MINUTES"),
                    30,
                    1..=7 * 24 * 60,
                )?),
                max_login_attempts: in_range(
                    "MAX_LOGIN_ATTEMPTS",
                    get("MAX_LOGIN_ATTEMPTS"),
                    3,
                    1..=100,
                )?,
                first_user_is_admin: parse_bool(
                    "FIRST_USER_IS_ADMIN",
                    get("FIRST_USER_IS_ADMIN"),
                    true,
                )?,
                verification_ttl: TimeDelta::hours(in_range(
                    "VERIFICATION_TOKEN_TTL_HOURS",
                    get("VERIFICATION_TOKEN_TTL_HOURS"),
                    24,
                    1..=24 * 30,
                )?),
                password_reset_ttl: TimeDelta::minutes(in_range(
                    "PASSWORD_RESET_TTL_MINUTES",
                    get("PASSWORD_RESET_TTL_MINUTES"),
                    60,
                    1..=7 * 24 * 60,
                )?),
                unlock_ttl: TimeDelta::hours(in_range(
                    "UNLOCK_TOKEN_TTL_HOURS",
                    get("UNLOCK_TOKEN_TTL_HOURS"),
                    168,
                    1..=24 * 90,
                )?),
                session_ttl: TimeDelta::days(in_range(
                    "REFRESH_TOKEN_TTL_DAYS",
                    get("REFRESH_TOKEN_TTL_DAYS"),
                    30,
                    1..=365,
                )?),
            },
            mail: MailConfig {
                smtp_url,
                dir: get("MAIL_DIR").map(PathBuf::from),
                from: get("MAIL_FROM")
                    .unwrap_or_else(|| "User Management <no-reply@localhost>".into()),
                template_dir: get("MAIL_TEMPLATE_DIR").map(PathBuf::from),
            },
            outbox: OutboxConfig {
                poll_interval: Duration::from_millis(in_range(
                    "OUTBOX_POLL_INTERVAL_MS",
                    get("OUTBOX_POLL_INTERVAL_MS"),
                    1000,
                    10..=600_000,
                )?),
                max_attempts: in_range(
                    "OUTBOX_MAX_ATTEMPTS",
                    get("OUTBOX_MAX_ATTEMPTS"),
                    12,
                    1..=100,
                )?,
                retry_base: TimeDelta::seconds(in_range(
                    "OUTBOX_RETRY_BASE_SECONDS",
                    get("OUTBOX_RETRY_BASE_SECONDS"),
                    5,
                    1..=3600,
                )?),
                retention: TimeDelta::days(i64::from(in_range(
                    "OUTBOX_RETENTION_DAYS",
                    get("OUTBOX_RETENTION_DAYS"),
                    7,
                    0..=3650,
                )?)),
            },
            pictures: PictureConfig {
                storage,
                s3_public_url,
                max_bytes: in_range(
                    "MAX_PICTURE_BYTES",
                    get("MAX_PICTURE_BYTES"),
                    5 * 1024 * 1024,
                    1024..=100 * 1024 * 1024,
                )?,
                max_pixels: in_range(
                    "MAX_PICTURE_PIXELS",
                    get("MAX_PICTURE_PIXELS"),
                    40_000_000,
                    1..=500_000_000,
                )?,
                max_concurrent_uploads: in_range(
                    "MAX_CONCURRENT_UPLOADS",
                    get("MAX_CONCURRENT_UPLOADS"),
                    2 * std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                    1..=1024,
                )?,
                upload_body_timeout: Duration::from_secs(in_range(
                    "UPLOAD_BODY_TIMEOUT_SECONDS",
                    get("UPLOAD_BODY_TIMEOUT_SECONDS"),
                    10,
                    1..=3600,
                )?),
                orphan_sweep_interval_minutes: in_range(
                    "ORPHAN_SWEEP_INTERVAL_MINUTES",
                    get("ORPHAN_SWEEP_INTERVAL_MINUTES"),
                    60,
                    0..=7 * 24 * 60,
                )?,
            },
        })
    }

    /// `PUBLIC_BASE_URL` without a trailing slash, ready to have paths appended.
    #[must_use]
    pub fn base_url(&self) -> String {
        self.http
            .public_base_url
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }
}

fn bad(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

fn parse_or<T: FromStr>(
    var: &'static str,
    value: Option<String>,
    default: impl FnOnce() -> T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match value {
        None => Ok(default()),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|e| bad(var, format!("cannot parse {v:?}: {e}"))),
    }
}

fn in_range<T>(
    var: &'static str,
    value: Option<String>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
    T::Err: std::fmt::Display,
{
    let v = parse_or(var, value, || default).map_err(|_| {
        bad(
            var,
            format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )
    })?;
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(bad(
            var,
            format!("must be from {} to {}", range.start(), range.end()),
        ))
    }
}

fn parse_bool(
    var: &'static str,
    value: Option<String>,
    default: bool,
) -> Result<bool, ConfigError> {
    match value
        .as_deref()
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(_) => Err(bad(var, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    /// `.env.example` names every variable the configuration reads, so that an operator who
    /// copies it sees them all.
    #[test]
    fn the_env_example_lists_every_variable() {
        let example = include_str!("../../../.env.example");
        let asked = std::sync::Mutex::new(Vec::new());
        let _ = Config::from_lookup(|name| {
            asked.lock().expect("not poisoned").push(name.to_owned());
            None
        });
        let asked = asked.into_inner().expect("not poisoned");
        assert!(asked.len() > 30, "{asked:?}");
        for name in asked {
            assert!(
                example.contains(&format!("# {name}=")),
                "{name} is missing in .env.example"
            );
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(
            c.database.url,
            "postgres://postgres@127.0.0.1:5432/user_management"
        );
        assert_eq!(c.http.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(c.base_url(), "http://localhost:8000");
        assert_eq!(c.auth.access_token_ttl, TimeDelta::minutes(30));
        assert_eq!(c.auth.session_ttl, TimeDelta::days(30));
        assert_eq!(c.auth.max_login_attempts, 3);
        assert!(c.auth.first_user_is_admin);
        assert!(c.auth.jwt_secret_generated);
        assert!(c.mail.smtp_url.is_none() && c.mail.dir.is_none());
        assert!(
            matches!(&c.pictures.storage, StorageConfig::Directory(dir) if dir == std::path::Path::new("./data"))
        );
        assert_eq!(c.pictures.max_bytes, 5 * 1024 * 1024);
        assert_eq!(c.pictures.max_pixels, 40_000_000);
    }

    #[test]
    fn an_s3_endpoint_needs_credentials_and_defaults_its_bucket_and_region() {
        let err = config(&[("S3_ENDPOINT", "http://127.0.0.1:9000")]).expect_err("no keys");
        assert_eq!(err.var, "S3_ACCESS_KEY");
        let c = config(&[
            ("S3_ENDPOINT", "http://127.0.0.1:9000/"),
            ("S3_ACCESS_KEY", "minio"),
            ("S3_SECRET_KEY", "minio-secret"),
        ])
        .expect("valid");
        match c.pictures.storage {
            StorageConfig::S3 {
                endpoint,
                bucket,
                region,
                ..
            } => {
                assert_eq!(endpoint, "http://127.0.0.1:9000");
                assert_eq!(bucket, "profile-pictures");
                assert_eq!(region, "us-east-1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let cases: &[(&str, &str)] = &[
            ("BIND_ADDR", "localhost"),
            ("MAX_LOGIN_ATTEMPTS", "zero"),
            ("MAX_LOGIN_ATTEMPTS", "0"),
            ("ACCESS_TOKEN_TTL_MINUTES", "-5"),
            ("REFRESH_TOKEN_TTL_DAYS", "0"),
            ("REFRESH_TOKEN_TTL_DAYS", "366"),
            ("FIRST_USER_IS_ADMIN", "maybe"),
            ("PUBLIC_BASE_URL", "not a url"),
            ("DATABASE_URL", "mysql://x/y"),
            ("JWT_SECRET", "short"),
            ("SMTP_URL", "http://mail"),
            ("LOG_FORMAT", "xml"),
            ("APP_ENV", "staging"),
            ("S3_ENDPOINT", "minio:9000"),
            ("S3_PUBLIC_URL", "ftp://x"),
            ("MAX_PICTURE_BYTES", "12"),
            ("MAX_PICTURE_PIXELS", "lots"),
            ("MAX_CONCURRENT_UPLOADS", "0"),
            ("CORS_ALLOWED_ORIGINS", "app.example.com"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com/path"),
            ("RATE_LIMIT_PER_MINUTE", "-1"),
            ("RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", "many"),
            ("REQUEST_TIMEOUT_SECONDS", "3601"),
        ];
        for (var, value) in cases {
            let err = config(&[(var, value)]).expect_err(&format!("{var}={value} accepted"));
            assert_eq!(err.var, *var);
        }
    }

    #[test]
    fn production_requires_a_jwt_secret() {
        let err = config(&[("APP_ENV", "production")]).expect_err("accepted without a secret");
        assert_eq!(err.var, "JWT_SECRET");
        let ok =
            config(&[("APP_ENV", "production"), ("JWT_SECRET", &"k".repeat(32))]).expect("valid");
        assert!(!ok.auth.jwt_secret_generated);
    }

    #[test]
    fn a_trailing_slash_in_the_base_url_is_dropped() {
        let c = config(&[("PUBLIC_BASE_URL", "https://users.example.com/")]).expect("valid");
        assert_eq!(c.base_url(), "https://users.example.com");
    }
}
