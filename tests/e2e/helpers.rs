//! `TestApp`: the real binary, a fresh database, a loopback SMTP server, and typed helpers.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use um_mail::TestSmtpServer;
use um_postgres::TestDatabase;

pub const PASSWORD: &str = "Secur3*Passw0rd";
const MAIL_WAIT: Duration = Duration::from_secs(15);

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub smtp: TestSmtpServer,
    pub db: TestDatabase,
    /// The directory store of this instance (used unless it runs against S3).
    pub data_dir: std::path::PathBuf,
    /// The environment the service runs with, for running its command-line tools alike.
    env: Vec<(String, String)>,
    /// Where the service's log goes when started with [`TestApp::spawn_logging`].
    pub log_file: Option<std::path::PathBuf>,
    /// Between the service and PostgreSQL when started with [`TestApp::spawn_behind_db_proxy`].
    pub db_proxy: Option<DbProxy>,
    child: Child,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(path) = &self.log_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The built binary with exactly `vars` (and `PATH`) in its environment, run in `workdir` so
/// that no stray `.env` file is read.
fn binary(workdir: &std::path::Path, vars: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_user-management"));
    command
        .current_dir(workdir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().map(|(k, v)| (k, v)));
    command
}

/// A port that is free now, taken from below Linux's ephemeral range (32768–60999): the
/// kernel hands ports of that range to every `bind(…:0)` — other tests' servers and clients
/// included — so a port from it could be taken between this check and its use.
pub fn free_port() -> u16 {
    use rand::Rng as _;
    let mut rng = rand::rng();
    loop {
        let port = rng.random_range(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl TestApp {
    /// Starts the service with the default settings of the contract.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the service with extra environment variables.
    pub async fn spawn_with(env: &[(&str, &str)]) -> Self {
        Self::start(env, None, false, "").await
    }

    /// Starts the service with `options` (such as `sslmode=require`) appended to the query of
    /// its `DATABASE_URL`.
    pub async fn spawn_with_database_options(options: &str, env: &[(&str, &str)]) -> Self {
        Self::start(env, None, false, options).await
    }

    /// Starts the service with its database connections going through a [`DbProxy`] that the
    /// test can cut, as if PostgreSQL stopped or stopped answering.
    pub async fn spawn_behind_db_proxy(env: &[(&str, &str)]) -> Self {
        Self::start(env, None, true, "").await
    }

    /// Starts the service with its log (JSON lines, filtered by `rust_log`) going to a file.
    pub async fn spawn_logging(rust_log: &str) -> Self {
        Self::spawn_logging_with(rust_log, &[]).await
    }

    /// [`TestApp::spawn_logging`] with extra environment variables.
    pub async fn spawn_logging_with(rust_log: &str, env: &[(&str, &str)]) -> Self {
        let path = std::env::temp_dir().join(format!("um-e2e-{}.log", uuid::Uuid::new_v4()));
        let mut all = vec![("RUST_LOG", rust_log), ("LOG_FORMAT", "json")];
        all.extend_from_slice(env);
        Self::start(&all, Some(path), false, "").await
    }

    /// The service's log so far, one JSON value per line.
    pub fn log_lines(&self) -> Vec<Value> {
        let path = self.log_file.as_ref().expect("started with spawn_logging");
        std::fs::read_to_string(path)
            .expect("the log file")
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    async fn start(
        env: &[(&str, &str)],
        log_file: Option<std::path::PathBuf>,
        behind_proxy: bool,
        database_options: &str,
    ) -> Self {
        let db = TestDatabase::new().await;
        let db_proxy = behind_proxy.then(|| DbProxy::start(db.url()));
        let mut database_url = db_proxy
            .as_ref()
            .map_or_else(|| db.url().to_owned(), |p| p.url.clone());
        if !database_options.is_empty() {
            let separator = if database_url.contains('?') { '&' } else { '?' };
            database_url = format!("{database_url}{separator}{database_options}");
        }
        let smtp = TestSmtpServer::start();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let workdir = std::env::temp_dir();
        let data_dir = workdir.join(format!("um-e2e-data-{}", uuid::Uuid::new_v4()));
        let mut vars: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database_url),
            ("DATABASE_POOL_SIZE".into(), "8".into()),
            ("BIND_ADDR".into(), format!("127.0.0.1:{port}")),
            ("PUBLIC_BASE_URL".into(), base.clone()),
            (
                "JWT_SECRET".into(),
                "e2e-secret-e2e-secret-e2e-secret-0123456789".into(),
            ),
            ("SMTP_URL".into(), smtp.url()),
            (
                "MAIL_FROM".into(),
                "User Management <no-reply@example.test>".into(),
            ),
            ("RUST_LOG".into(), "warn".into()),
            // Emails go out within a poll; keep the tests from waiting on it.
            ("OUTBOX_POLL_INTERVAL_MS".into(), "50".into()),
            // Tests log in far more often than a person; the limit has tests of its own.
            ("RATE_LIMIT_PER_MINUTE".into(), "0".into()),
            ("RATE_LIMIT_PER_ACCOUNT_PER_MINUTE".into(), "0".into()),
            ("DATA_DIR".into(), data_dir.display().to_string()),
        ];
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let mut command = binary(&workdir, &vars);
        command.stdout(Stdio::null());
        match &log_file {
            Some(path) => {
                command.stderr(std::fs::File::create(path).expect("a log file"));
            }
            None => {
                command.stderr(Stdio::inherit());
            }
        }
        let mut child = command.spawn().expect("the user-management binary starts");
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");

        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("user-management exited during start-up: {status}");
            }
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await
                && r.status() == StatusCode::OK
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "user-management did not come up in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            base,
            client,
            smtp,
            db,
            data_dir,
            env: vars,
            log_file,
            db_proxy,
            child,
        }
    }

    /// Starts the service against an S3-compatible server (s3s-fs), with extra variables.
    pub async fn spawn_with_s3(s3: &um_storage::TestS3Server, env: &[(&str, &str)]) -> Self {
        let endpoint = s3.endpoint();
        let mut all = vec![
            ("S3_ENDPOINT", endpoint.as_str()),
            ("S3_ACCESS_KEY", s3.access_key()),
            ("S3_SECRET_KEY", s3.secret_key()),
            ("S3_BUCKET", "e2e-pictures"),
        ];
        all.extend_from_slice(env);
        Self::spawn_with(&all).await
    }

    /// Starts another instance of the service on the same database and SMTP server (a second
    /// replica), with `env` on top. It stops when the returned guard drops.
    pub async fn spawn_second_instance(&self, env: &[(&str, &str)]) -> Instance {
        let port = free_port();
        let mut vars = self.env.clone();
        vars.retain(|(k, _)| k != "BIND_ADDR");
        vars.push(("BIND_ADDR".into(), format!("127.0.0.1:{port}")));
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let mut command = binary(&std::env::temp_dir(), &vars);
        command.stdout(Stdio::null()).stderr(Stdio::inherit());
        let child = command.spawn().expect("a second instance starts");
        let instance = Instance {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let url = format!("http://127.0.0.1:{port}/healthz");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(self.client.get(&url).send().await, Ok(r) if r.status() == StatusCode::OK) {
            assert!(
                Instant::now() < deadline,
                "the second instance did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        instance
    }

    /// Sends SIGTERM to the service and waits (at most `within`) for it to exit.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the service did not stop within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The service's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `user-management <args>` with this instance's environment and returns its output.
    pub fn run_cli(&self, args: &[&str]) -> std::process::Output {
        self.run_cli_with(args, &[])
    }

    /// Runs `user-management <args>` with this instance's environment changed by `env`.
    pub fn run_cli_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        self.command_with(args, env)
            .output()
            .expect("the command runs")
    }

    /// `user-management <args>` with this instance's environment changed by `env`, not started.
    pub fn command_with(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut vars = self.env.clone();
        vars.retain(|(key, _)| env.iter().all(|(changed, _)| changed != key));
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let mut command = binary(&std::env::temp_dir(), &vars);
        command.args(args).stdin(Stdio::null());
        command
    }

    /// The `DATABASE_URL` the service runs with.
    pub fn database_url(&self) -> &str {
        self.env
            .iter()
            .find(|(key, _)| key == "DATABASE_URL")
            .map(|(_, value)| value.as_str())
            .expect("DATABASE_URL is set")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("GET is answered")
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request is answered")
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        self.send_json(reqwest::Method::POST, path, body, token)
            .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("DELETE is answered")
    }

    pub async fn register(&self, email: &str) -> Response {
        self.post_json(
            "/register",
            &json!({"email": email, "password": PASSWORD}),
            None,
        )
        .await
    }

    /// Registers and returns the created user, asserting a 201.
    pub async fn register_ok(&self, email: &str) -> Value {
        let response = self.register(email).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "registering {email}"
        );
        response.json().await.expect("a user")
    }

    /// Logs in with the OAuth2 password form, as the original's clients do.
    pub async fn login_form(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/login"))
            .form(&[
                ("username", email),
                ("password", password),
                ("grant_type", "password"),
            ])
            .send()
            .await
            .expect("login is answered")
    }

    /// Logs in and returns the access token, asserting a 200.
    pub async fn token(&self, email: &str) -> String {
        let response = self.login_form(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let body: Value = response.json().await.expect("a token");
        body["access_token"]
            .as_str()
            .expect("access_token is a string")
            .to_owned()
    }

    /// The first account: a verified ADMIN. Returns its id and token.
    pub async fn admin(&self) -> (String, String) {
        let user = self.register_ok("admin@example.com").await;
        assert_eq!(user["role"], "ADMIN");
        (id_of(&user), self.token("admin@example.com").await)
    }

    /// Waits for the next email to `to` and returns its decoded subject and text part.
    pub async fn mail_to(&self, to: &str) -> (String, String) {
        let mail = self.received(to).await;
        (mail.subject, mail.text)
    }

    /// Waits for the next email to `to` and returns it decoded.
    pub async fn received(&self, to: &str) -> ReceivedMail {
        let raw = self
            .smtp
            .wait_for_message(to, MAIL_WAIT)
            .await
            .unwrap_or_else(|| panic!("no email reached {to}"));
        let message = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("a parseable email");
        ReceivedMail {
            subject: message.subject().unwrap_or_default().to_owned(),
            text: message.body_text(0).expect("a text part").into_owned(),
            html: message.body_html(0).map(|h| h.into_owned()),
        }
    }

    /// Waits for the next email to `to` and returns the path (and query) of its first link that
    /// starts with `{base}{path_prefix}`.
    pub async fn link_path(&self, to: &str, path_prefix: &str) -> String {
        let mail = self.received(to).await;
        link_in(&mail.text, &format!("{}{path_prefix}", self.base))
            .map(|link| link[self.base.len()..].to_owned())
            .unwrap_or_else(|| panic!("no {path_prefix} link in: {}", mail.text))
    }

    /// Waits for the verification email to `to` and returns the link's path.
    pub async fn verification_path(&self, to: &str) -> String {
        self.link_path(to, "/verify-email/").await
    }

    /// Registers, verifies through the emailed link, logs in. Returns id and token.
    pub async fn verified_user(&self, email: &str) -> (String, String) {
        let user = self.register_ok(email).await;
        let path = self.verification_path(email).await;
        let verified = self.get(&path, None).await;
        assert_eq!(verified.status(), StatusCode::OK, "verifying {email}");
        (id_of(&user), self.token(email).await)
    }

    /// Runs SQL against the service's database (to arrange states such as an expired token).
    pub async fn sql(&self, statement: &str) {
        let (client, connection) = tokio_postgres::connect(self.db.url(), tokio_postgres::NoTls)
            .await
            .expect("a connection to the test database");
        let task = tokio::spawn(connection);
        client
            .batch_execute(statement)
            .await
            .expect("the statement runs");
        drop(client);
        let _ = task.await;
    }
}

/// Uploads `bytes` as the multipart part `file` to `path`.
pub async fn upload(app: &TestApp, path: &str, bytes: Vec<u8>, token: &str) -> Response {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("picture.bin")
        .mime_str("application/octet-stream")
        .expect("a valid mime type");
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("upload is answered")
}

/// A `width`×`height` image of one colour, encoded as `format`.
pub fn image_bytes(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 40, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .expect("encodes");
    out.into_inner()
}

/// What a cut [`DbProxy`] does to connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// Closes every connection and every new one at once, as a stopped server does.
    Refuse,
    /// Accepts connections and never answers, as an overloaded or cut-off server does.
    Stall,
}

/// A TCP proxy on loopback between the service and PostgreSQL, on plain threads so that it
/// runs whatever the test's runtime does. [`DbProxy::cut`] drops every live connection and
/// refuses or stalls new ones; [`DbProxy::restore`] forwards again.
pub struct DbProxy {
    /// The database URL that goes through the proxy.
    pub url: String,
    state: std::sync::Arc<std::sync::Mutex<ProxyState>>,
}

struct ProxyState {
    outage: Option<Outage>,
    /// Every socket of every connection, to close them on a cut.
    live: Vec<std::net::TcpStream>,
}

impl DbProxy {
    fn start(database_url: &str) -> Self {
        let (before, rest) = database_url.split_once('@').expect("a URL with a user");
        let (upstream, after) = rest.split_once('/').expect("a URL with a database");
        let upstream = upstream.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("bound").port();
        let state = std::sync::Arc::new(std::sync::Mutex::new(ProxyState {
            outage: None,
            live: Vec::new(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let mut state = shared.lock().expect("not poisoned");
                match state.outage {
                    Some(Outage::Refuse) => drop(client),
                    Some(Outage::Stall) => state.live.push(client),
                    None => {
                        let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                            continue;
                        };
                        for stream in [&client, &server] {
                            state
                                .live
                                .push(stream.try_clone().expect("a socket handle"));
                        }
                        let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(std::net::Shutdown::Both);
                            });
                        };
                        pipe(
                            client.try_clone().expect("a socket handle"),
                            server.try_clone().expect("a socket handle"),
                        );
                        pipe(server, client);
                    }
                }
            }
        });
        Self {
            url: format!("{before}@127.0.0.1:{port}/{after}"),
            state,
        }
    }

    /// Closes every live connection; new ones are refused or stall until [`Self::restore`].
    pub fn cut(&self, outage: Outage) {
        let mut state = self.state.lock().expect("not poisoned");
        state.outage = Some(outage);
        for stream in state.live.drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Forwards new connections again (stalled ones are closed).
    pub fn restore(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        state.outage = None;
        for stream in state.live.drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A further running instance of the service; killed on drop.
pub struct Instance {
    child: Child,
    /// `http://127.0.0.1:<port>` of this instance.
    pub base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An email as the test SMTP server received it, decoded.
pub struct ReceivedMail {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// The first URL in `text` that starts with `prefix`.
pub fn link_in(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)?;
    Some(
        text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '>' | ')' | '"' | '<'))
            .collect(),
    )
}

pub fn id_of(user: &Value) -> String {
    user["id"].as_str().expect("id is a string").to_owned()
}

/// Reads a problem body and checks its status, code and detail.
pub async fn assert_problem(
    response: Response,
    status: StatusCode,
    code: &str,
    detail: &str,
) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["code"], code, "code in {body}");
    if !detail.is_empty() {
        assert_eq!(body["detail"], detail, "detail in {body}");
    }
    assert_eq!(body["status"], status.as_u16());
    body
}

impl TestApp {
    /// Runs `user-management <args>` like [`TestApp::run_cli`], with `stdin` piped to it.
    pub fn run_cli_with_stdin(&self, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write as _;
        let mut child = binary(&std::env::temp_dir(), &self.env)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the command starts");
        if let Some(mut pipe) = child.stdin.take() {
            // A command that fails before reading closes the pipe; its output tells why.
            let _ = pipe.write_all(stdin.as_bytes());
        }
        child.wait_with_output().expect("the command ends")
    }
}

/// The JSON body of `response`, whatever its status.
pub async fn json_of(response: Response) -> Value {
    response.json().await.expect("JSON")
}

/// A 400 `email_taken`: the email exists, in any casing.
pub async fn assert_email_taken(response: Response) {
    assert_problem(
        response,
        StatusCode::BAD_REQUEST,
        "email_taken",
        "Email already exists",
    )
    .await;
}

/// A 409 `nickname_taken`: another account has the nickname, in any casing.
pub async fn assert_nickname_taken(response: Response) {
    assert_problem(
        response,
        StatusCode::CONFLICT,
        "nickname_taken",
        "Nickname already taken",
    )
    .await;
}
