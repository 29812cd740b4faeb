//! `um-bench`: what `bench/run` measures besides the service itself. Each measurement prints one
//! JSON object on stdout.
//!
//! - `photo OUT`: writes the benchmark's test photo, a 2400×1600 JPEG of about 1 MiB, the same
//!   bytes every time.
//! - `hash`: prints the Argon2id hash of the seeded users' password, made by the service's hasher.
//! - `argon2 --seconds N`: raw Argon2id verifications per second with the service's own
//!   parameters, on every core, through the service's own hasher.
//! - `picture --photo F --endpoint URL …`: raw uploads per second: decode, orient, resize and
//!   encode with the service's own processor, then PUT the two objects with the service's own S3
//!   client, on every core.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use serde_json::json;
use um_domain::{
    model::{PasswordHash, PictureKey},
    ports::{ObjectStore, PasswordHasher, PictureProcessor},
};

/// The password of every seeded user.
pub const PASSWORD: &str = "Bench*Passw0rd";

#[derive(Parser)]
#[command(about = "Ceilings and fixtures of the user-management benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the test photo.
    Photo { out: PathBuf },
    /// Prints the Argon2id hash of the seeded users' password.
    Hash,
    /// Raw Argon2id verifications per second on every core.
    Argon2 {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Raw picture processing plus two S3 PUTs per second on every core.
    Picture {
        #[arg(long)]
        photo: PathBuf,
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        bucket: String,
        #[arg(long)]
        access_key: String,
        #[arg(long)]
        secret_key: String,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The service's allocator (crates/api/src/main.rs), so that the ceilings allocate as it does.
#[global_allocator]
static ALLOCATOR: um_alloc::MiMalloc = um_alloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // As the service does: transparent huge pages off.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    match Cli::parse().command {
        Command::Photo { out } => {
            let jpeg = photo()?;
            std::fs::write(&out, &jpeg).with_context(|| format!("writing {}", out.display()))?;
            println!("{}", json!({"path": out, "bytes": jpeg.len()}));
        }
        Command::Hash => {
            let hash = um_security::Argon2Hasher::new()
                .hash(SecretString::from(PASSWORD))
                .await?;
            println!("{}", hash.expose());
        }
        Command::Argon2 { seconds } => argon2(Duration::from_secs(seconds)).await?,
        Command::Picture {
            photo,
            endpoint,
            bucket,
            access_key,
            secret_key,
            seconds,
        } => {
            let store = um_storage::S3ObjectStore::connect(um_storage::S3Settings {
                endpoint,
                bucket,
                region: "us-east-1".to_owned(),
                access_key,
                secret_key: SecretString::from(secret_key),
            })
            .await?;
            let bytes = Bytes::from(std::fs::read(&photo)?);
            picture(Arc::new(store), bytes, Duration::from_secs(seconds)).await?;
        }
    }
    Ok(())
}

/// A deterministic photo-like picture: smooth colour fields with fine grain, which JPEG at
/// quality 90 stores in about 1 MiB at 2400×1600 (3.8 megapixels, a phone photo scaled down).
fn photo() -> anyhow::Result<Vec<u8>> {
    let (width, height) = (2400_u32, 1600_u32);
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let grain = i32::try_from(seed % 24).unwrap_or(0) - 12;
        let (fx, fy) = (
            f64::from(x) / f64::from(width),
            f64::from(y) / f64::from(height),
        );
        let wave = ((fx * 9.0).sin() * (fy * 7.0).cos() * 60.0) as i32;
        let channel = |base: f64, k: i32| -> u8 {
            let value = (base * 255.0) as i32 + wave * k / 2 + grain;
            u8::try_from(value.clamp(0, 255)).unwrap_or(0)
        };
        image::Rgb([
            channel(0.3 + 0.5 * fx, 1),
            channel(0.2 + 0.6 * fy, -1),
            channel(0.6 - 0.3 * fx * fy, 2),
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&image)?;
    Ok(out)
}

/// Runs `op` on `workers` tasks at once until `duration` has passed; returns how many finished
/// and the time it took.
async fn saturate<F, Fut>(workers: usize, duration: Duration, op: F) -> anyhow::Result<(u64, f64)>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0_u64;
            while Instant::now() < deadline {
                op().await?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok((total, started.elapsed().as_secs_f64()))
}

async fn argon2(duration: Duration) -> anyhow::Result<()> {
    let hasher = um_security::Argon2Hasher::new();
    let hash: PasswordHash = hasher.hash(SecretString::from(PASSWORD)).await?;
    // Twice as many callers as cores, as many logins in flight would be: the hasher's own
    // limit decides how many run at once, exactly as in the service.
    let workers = cpus() * 2;
    let (done, elapsed) = saturate(workers, duration, move || {
        let hasher = hasher.clone();
        let hash = hash.clone();
        async move {
            let ok = hasher
                .verify(SecretString::from(PASSWORD), Some(hash))
                .await?;
            anyhow::ensure!(ok, "the password did not verify");
            Ok(())
        }
    })
    .await?;
    println!(
        "{}",
        json!({"verifications": done, "seconds": elapsed, "per_second": done as f64 / elapsed,
               "callers": workers})
    );
    Ok(())
}

async fn picture(
    store: Arc<dyn ObjectStore>,
    photo: Bytes,
    duration: Duration,
) -> anyhow::Result<()> {
    let processor = Arc::new(um_images::ImageProcessor::new(40_000_000));
    let workers = cpus() * 2;
    let (done, elapsed) = saturate(workers, duration, move || {
        let processor = processor.clone();
        let store = store.clone();
        let photo = photo.clone();
        async move {
            let processed = processor.process(photo).await?;
            // As the service does: the main picture, then the thumbnail.
            let main = PictureKey::generate(processed.main.format);
            store.put(&main, processed.main.bytes).await?;
            let thumbnail = PictureKey::generate(processed.thumbnail.format);
            store.put(&thumbnail, processed.thumbnail.bytes).await?;
            Ok(())
        }
    })
    .await?;
    println!(
        "{}",
        json!({"uploads": done, "seconds": elapsed, "per_second": done as f64 / elapsed,
               "callers": workers})
    );
    Ok(())
}
