//! Wiring: the adapters built from the configuration and plugged into the use cases. What the
//! server ([`crate::server`]) and the command-line tools share.

use anyhow::Context as _;
use std::sync::Arc;

use secrecy::ExposeSecret;
use um_domain::{
    ports::{Clock, Housekeeping, ObjectStore, RateCounter, SystemClock, UserRepository},
    services::{DeliveryPolicy, OutboxDelivery, Ports, Settings, UserService},
};

use crate::config::{Config, StorageConfig};

/// The use cases wired to their adapters, without HTTP: what the server and the command-line
/// tools share.
pub struct Services {
    pub users: UserService,
    /// For the command line's look before an unlock.
    pub repo: Arc<dyn UserRepository>,
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
    lanes: usize,
) -> anyhow::Result<um_postgres::Pool> {
    let url = &config.database.url;
    let prepared = async {
        um_postgres::create_database_if_missing(url).await?;
        um_postgres::run_migrations(url).await?;
        um_postgres::connect_in_lanes(url, pool_size, lanes).await
    };
    prepared
        .await
        .context("DATABASE_URL: the database cannot be reached or prepared")
}

/// The cores: one HTTP worker and one hashing thread each.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl Services {
    /// Creates the database if missing, runs the migrations, connects the object store
    /// (creating the bucket if missing), starts the password hashing worker process (one
    /// thread per core) and wires every adapter.
    ///
    /// # Errors
    /// When the database or the object store cannot be prepared, or the mail settings are bad.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // A lane of connections for each HTTP worker and one for everything else.
        let pool = prepare_database(config, config.database.pool_size, cores() + 1).await?;
        let hashing_threads = cores();
        let rate_counter: Arc<dyn RateCounter> =
            Arc::new(um_postgres::PgRateCounter::new(pool.clone()));
        let housekeeping: Arc<dyn Housekeeping> =
            Arc::new(um_postgres::PgHousekeeping::new(pool.clone()));
        let pg_repo = Arc::new(um_postgres::PgUserRepository::new(pool.clone()));
        let repo: Arc<dyn UserRepository> = pg_repo.clone();

        let store: Arc<dyn ObjectStore> = match &config.pictures.storage {
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
                .mail
                .smtp_url
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            mail_dir: config.mail.dir.clone(),
            from: config.mail.from.clone(),
            public_base_url: config.http.public_base_url.clone(),
            template_dir: config.mail.template_dir.clone(),
        })?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let outbox = OutboxDelivery::new(
            Arc::new(um_postgres::PgOutbox::new(pool.clone())),
            mailer,
            clock.clone(),
            DeliveryPolicy {
                max_attempts: config.outbox.max_attempts,
                base_delay: config.outbox.retry_base,
                ..DeliveryPolicy::default()
            },
        );
        let ports = Ports {
            users: repo.clone(),
            sessions: pg_repo,
            hasher: Arc::new(
                um_security::Argon2Hasher::in_worker_process(
                    crate::cli::hash_worker_command(hashing_threads),
                    hashing_threads,
                )
                .await?,
            ),
            tokens: Arc::new(um_security::JwtIssuer::new(
                config.auth.jwt_secret.clone(),
                config.auth.jwt_issuer.clone(),
                config.auth.access_token_ttl,
            )),
            clock,
            store: store.clone(),
            pictures: Arc::new(um_images::ImageProcessor::new(config.pictures.max_pixels)),
            audit: Arc::new(um_postgres::PgAuditLog::new(pool.clone())),
        };
        let users = UserService::new(
            ports,
            Settings {
                max_login_attempts: config.auth.max_login_attempts,
                first_user_is_admin: config.auth.first_user_is_admin,
                verification_ttl: config.auth.verification_ttl,
                password_reset_ttl: config.auth.password_reset_ttl,
                unlock_ttl: config.auth.unlock_ttl,
                session_ttl: config.auth.session_ttl,
            },
        );
        Ok(Self {
            users,
            repo,
            outbox,
            rate_counter,
            housekeeping,
        })
    }
}
