//! A real S3 server for tests on a loopback port: the `s3s-fs` binary (Rust, files in a
//! directory), or moto's server (Python, in memory), a second implementation written
//! independently, so that the adapter is not tuned to one server's leniency. MinIO itself cannot
//! be installed on the machines the tests run on.

use std::{
    env,
    ffi::OsString,
    fs::File,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rand::{Rng as _, distr::Alphanumeric};
use secrecy::SecretString;
use tempfile::TempDir;

use crate::S3Settings;

/// How to install the server binary the tests need.
pub const S3S_FS_INSTALL: &str = "cargo install --locked s3s-fs@0.14.1 --features binary";

/// How to install moto's server.
pub const MOTO_INSTALL: &str = "pip install 'moto[server]'";

/// Which S3 server a [`TestS3Server`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Implementation {
    /// `s3s-fs`: one sub-directory of [`TestS3Server::data_dir`] per bucket; checks signatures.
    S3sFs,
    /// moto's `moto_server`: keeps everything in memory (a restart loses it) and accepts any
    /// credentials.
    Moto,
}

impl S3Implementation {
    fn binary_name(self) -> &'static str {
        match self {
            Self::S3sFs => "s3s-fs",
            Self::Moto => "moto_server",
        }
    }

    fn binary_var(self) -> &'static str {
        match self {
            Self::S3sFs => "S3S_FS_BIN",
            Self::Moto => "MOTO_SERVER_BIN",
        }
    }

    fn install(self) -> &'static str {
        match self {
            Self::S3sFs => S3S_FS_INSTALL,
            Self::Moto => MOTO_INSTALL,
        }
    }
}

/// How long the server may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// An S3 server on `127.0.0.1` with random keys: `s3s-fs` serving a fresh temporary directory
/// ([`TestS3Server::start`]) or moto's server ([`TestS3Server::start_moto`]).
///
/// The binary is found through `S3S_FS_BIN` (`MOTO_SERVER_BIN`), then `PATH`, then
/// `$CARGO_HOME/bin` and `~/.cargo/bin`; install it with [`S3S_FS_INSTALL`] ([`MOTO_INSTALL`]).
/// Dropping the server kills it and removes its directory.
pub struct TestS3Server {
    implementation: S3Implementation,
    binary: PathBuf,
    /// Holds `data/` (the served root) and `s3s-fs.log`.
    dir: TempDir,
    port: u16,
    access_key: String,
    secret_key: String,
    child: Option<Child>,
}

impl std::fmt::Debug for TestS3Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestS3Server")
            .field("implementation", &self.implementation)
            .field("endpoint", &self.endpoint())
            .field("data_dir", &self.data_dir())
            .field("running", &self.child.is_some())
            .finish_non_exhaustive()
    }
}

impl TestS3Server {
    /// Starts `s3s-fs` and waits until it accepts connections (within a tokio runtime).
    ///
    /// # Panics
    /// When `s3s-fs` is not installed (the message says how to install it) or does not start.
    pub async fn start() -> Self {
        Self::start_implementation(S3Implementation::S3sFs).await
    }

    /// Starts moto's server and waits until it accepts connections (within a tokio runtime).
    ///
    /// # Panics
    /// When `moto_server` is not installed (the message says how to install it) or does not
    /// start.
    pub async fn start_moto() -> Self {
        Self::start_implementation(S3Implementation::Moto).await
    }

    /// Starts the server `implementation` and waits until it accepts connections.
    ///
    /// # Panics
    /// When its binary is not installed (the message says how to install it) or does not start.
    pub async fn start_implementation(implementation: S3Implementation) -> Self {
        let binary = find_binary(implementation);
        let dir = tempfile::Builder::new()
            .prefix("um-s3s-fs-")
            .tempdir()
            .expect("could not create a temporary directory for s3s-fs");
        std::fs::create_dir(dir.path().join("data")).expect("could not create s3s-fs's root");
        let mut server = Self {
            implementation,
            binary,
            dir,
            port: 0,
            access_key: random_string(20),
            secret_key: random_string(40),
            child: None,
        };
        // The port is free when picked but could be taken before s3s-fs binds it: try again.
        let mut last_failure = String::new();
        for _attempt in 0..5 {
            server.port = free_port();
            match server.spawn_and_wait().await {
                Ok(()) => return server,
                Err(failure) => last_failure = failure,
            }
        }
        panic!(
            "{} did not start: {last_failure}",
            implementation.binary_name()
        );
    }

    /// Which server this is.
    #[must_use]
    pub fn implementation(&self) -> S3Implementation {
        self.implementation
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    #[must_use]
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    #[must_use]
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The served root of `s3s-fs`: one sub-directory per bucket (moto keeps nothing there).
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Settings for `bucket` on this server (region `us-east-1`).
    #[must_use]
    pub fn settings(&self, bucket: &str) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint(),
            bucket: bucket.to_owned(),
            region: "us-east-1".to_owned(),
            access_key: self.access_key.clone(),
            secret_key: SecretString::from(self.secret_key.clone()),
        }
    }

    /// Kills the server, as in an outage; the data of `s3s-fs` stays for
    /// [`TestS3Server::start_again`] (moto's is lost).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ignored = child.kill();
            let _ignored = child.wait();
        }
    }

    /// Starts the stopped server again on the same port, with the same keys and data.
    ///
    /// # Panics
    /// When it does not start (say, because the port was taken meanwhile).
    pub async fn start_again(&mut self) {
        self.stop();
        if let Err(failure) = self.spawn_and_wait().await {
            panic!("s3s-fs did not start again: {failure}");
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("s3s-fs.log")
    }

    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|error| format!("cannot open its log: {error}"))?;
        let log_err = log
            .try_clone()
            .map_err(|error| format!("cannot open its log: {error}"))?;
        let mut command = Command::new(&self.binary);
        match self.implementation {
            S3Implementation::S3sFs => command
                .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
                .args(["--access-key", &self.access_key])
                .args(["--secret-key", &self.secret_key])
                .arg(self.data_dir()),
            S3Implementation::Moto => command
                .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
                .env("PYTHONUNBUFFERED", "1"),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", self.binary.display()))?;
        self.child = Some(child);

        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!(
                    "it exited with {status} on port {}; its log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            if tokio::net::TcpStream::connect(address).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "no connection on port {} within {STARTUP_TIMEOUT:?}; its log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for TestS3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn find_binary(implementation: S3Implementation) -> PathBuf {
    let name = format!(
        "{}{}",
        implementation.binary_name(),
        env::consts::EXE_SUFFIX
    );
    let (var, install) = (implementation.binary_var(), implementation.install());
    if let Some(path) = env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(
            is_file(&path),
            "{var} points at {}, which is not a file; install {name} with `{install}`",
            path.display()
        );
        return path;
    }
    let path_dirs = env::var_os("PATH")
        .map(|paths| env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let cargo_bins = [
        env::var_os("CARGO_HOME").map(|home| PathBuf::from(home).join("bin")),
        env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo").join("bin")),
    ];
    path_dirs
        .into_iter()
        .chain(cargo_bins.into_iter().flatten())
        .map(|dir| dir.join(&name))
        .find(|candidate| is_file(candidate))
        .unwrap_or_else(|| {
            panic!(
                "the {name} binary was not found (looked at ${var}, $PATH and {}/bin); \
                 install it with `{install}` or point {var} at it",
                cargo_home
                    .unwrap_or_else(|| PathBuf::from(OsString::from("~/.cargo")))
                    .display()
            )
        })
}

fn is_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|metadata| metadata.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("could not find a free loopback port")
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The keys `store` lists, in its order; panics when listing fails.
pub async fn listed_keys(store: &dyn um_domain::ports::ObjectStore) -> Vec<String> {
    store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|info| info.key)
        .collect()
}
