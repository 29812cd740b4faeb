//! A real S3 server for tests: the `s3s-fs` binary on a loopback port.

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

/// How long the server may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The `s3s-fs` binary serving a fresh temporary directory on `127.0.0.1`, with random keys.
///
/// The binary is found through `S3S_FS_BIN`, then `PATH`, then `$CARGO_HOME/bin` and
/// `~/.cargo/bin`; install it with [`S3S_FS_INSTALL`]. Dropping the server kills it and removes
/// its directory.
pub struct TestS3Server {
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
            .field("endpoint", &self.endpoint())
            .field("data_dir", &self.data_dir())
            .field("running", &self.child.is_some())
            .finish_non_exhaustive()
    }
}

impl TestS3Server {
    /// Starts a server and waits until it accepts connections (within a tokio runtime).
    ///
    /// # Panics
    /// When `s3s-fs` is not installed (the message says how to install it) or does not start.
    pub async fn start() -> Self {
        let binary = find_binary();
        let dir = tempfile::Builder::new()
            .prefix("um-s3s-fs-")
            .tempdir()
            .expect("could not create a temporary directory for s3s-fs");
        std::fs::create_dir(dir.path().join("data")).expect("could not create s3s-fs's root");
        let mut server = Self {
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
        panic!("s3s-fs did not start: {last_failure}");
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

    /// The served root: one sub-directory per bucket.
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

    /// Kills the server, as in an outage; its data stays for [`TestS3Server::start_again`].
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
        let child = Command::new(&self.binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", &self.access_key])
            .args(["--secret-key", &self.secret_key])
            .arg(self.data_dir())
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

fn find_binary() -> PathBuf {
    let name = format!("s3s-fs{}", env::consts::EXE_SUFFIX);
    if let Some(path) = env::var_os("S3S_FS_BIN") {
        let path = PathBuf::from(path);
        assert!(
            is_file(&path),
            "S3S_FS_BIN points at {}, which is not a file; install s3s-fs with `{S3S_FS_INSTALL}`",
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
                "the s3s-fs binary was not found (looked at $S3S_FS_BIN, $PATH and {}/bin); \
                 install it with `{S3S_FS_INSTALL}` or point S3S_FS_BIN at it",
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
