//! `user-management`: the thin composition root. Parses the command line, reads the
//! configuration, sets up logging, and serves or runs the command (see [`um_api::cli`]).

use std::process::ExitCode;

use clap::Parser as _;
use um_api::{
    cli::{self, Cli, Command, Completion},
    config::Config,
    server::Application,
    telemetry,
};

/// mimalloc instead of glibc's allocator: password hashes (9 MiB each, in the hashing worker)
/// and decoded pictures (about 10 MB) are allocated and freed on worker threads all the time, and glibc keeps such
/// freed blocks in per-thread arenas, so the resident memory kept growing (to over 1 GiB in
/// `bench/`); mimalloc gives them back to the system.
#[global_allocator]
static ALLOCATOR: um_alloc::MiMalloc = um_alloc::MiMalloc;

/// How long (ms) memory freed by the service stays resident for reuse (mimalloc's default is
/// 1 s). Pictures are decoded into large blocks many times a second; with the default about a
/// second's worth of them stayed resident (`docs/benchmarks.md`). The hashing worker returns
/// before this is set: it keeps its Argon2 buffers itself and releases them when idle.
const SERVICE_PURGE_DELAY_MS: u32 = 0;

fn main() -> ExitCode {
    // Transparent huge pages off for this process. mimalloc asks for them, and with them every
    // touched 2 MiB of its arena is resident in full: the idle service held 43 MiB instead of
    // 24 MiB, and 61 MiB instead of 44 MiB after one login (bench/, docs/benchmarks.md). Failure
    // (an old kernel) only costs memory, so it is ignored.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let task = match Cli::parse().command.unwrap_or(Command::Serve) {
        // The probe reads BIND_ADDR alone: no `.env`, no other setting, no logging.
        Command::Healthcheck { timeout_seconds } => return cli::healthcheck(timeout_seconds),
        // Started by `serve` itself; no configuration, no runtime, nothing but the hashing.
        Command::HashWorker { threads } => return cli::hash_worker(threads),
        Command::Serve => None,
        Command::Task(task) => Some(task),
    };
    um_alloc::set_purge_delay(SERVICE_PURGE_DELAY_MS);
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(serve_or_run(task)),
        Err(e) => {
            eprintln!("user-management: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_or_run(task: Option<cli::Task>) -> ExitCode {
    // A .env file is optional; the real environment wins over it.
    let _ = dotenvy::dotenv();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("user-management: {e}");
            return ExitCode::from(2);
        }
    };
    // The operator's tools log only warnings by default and report on standard error.
    let tool = task.as_ref().is_some_and(cli::Task::is_tool);
    if tool {
        cli::init_logging(config.log_format);
    } else {
        telemetry::init(config.log_format);
    }

    let result = match task {
        None => serve(&config).await.map(|()| Completion::Clean),
        Some(task) => cli::run(task, &config).await,
    };
    match result {
        Ok(Completion::Clean) => ExitCode::SUCCESS,
        Ok(Completion::WithRejects) => ExitCode::from(cli::EXIT_REJECTED),
        Err(e) => {
            if !tool {
                tracing::error!(error = ?e, "user-management stopped");
            }
            eprintln!("user-management: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    Application::build(config)
        .await?
        .run_until_stopped()
        .await?;
    Ok(())
}
