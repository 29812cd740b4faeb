//! A real SMTP server for tests (feature `test-support`).

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mailin_embedded::{Handler, Response, Server, response};
use tokio::sync::Notify;

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`), as the client sent them.
    pub recipients: Vec<String>,
    /// The message itself (headers and body, CRLF line ends, dot-unstuffed).
    pub data: Vec<u8>,
}

impl ReceivedMessage {
    fn is_for(&self, to: &str) -> bool {
        self.recipients.iter().any(|r| {
            r.trim_matches(|c| c == '<' || c == '>')
                .eq_ignore_ascii_case(to.trim())
        })
    }
}

#[derive(Default)]
struct Inbox {
    messages: Mutex<Vec<ReceivedMessage>>,
    arrived: Notify,
    /// How long the server takes to accept each message (a slow server).
    delay: Mutex<Duration>,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, Vec<ReceivedMessage>> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_for(&self, to: &str) -> Option<ReceivedMessage> {
        let mut messages = self.lock();
        let index = messages.iter().position(|m| m.is_for(to))?;
        Some(messages.remove(index))
    }
}

/// An SMTP server (plain, no TLS, no authentication) on a loopback port that keeps every
/// message it receives. It runs on its own threads until the process ends; start one per test.
///
/// ```no_run
/// # async fn demo() {
/// use std::time::Duration;
/// let server = um_mail::TestSmtpServer::start();
/// // configure the service with SMTP_URL = server.url(), make it send, then:
/// let raw = server.wait_for_message("ada@example.com", Duration::from_secs(5)).await;
/// # }
/// ```
///
/// To test what happens while the SMTP server is down, point the service at
/// [`TestSmtpServer::free_port`] and [`start_on`](TestSmtpServer::start_on) that port later.
pub struct TestSmtpServer {
    addr: SocketAddr,
    inbox: Arc<Inbox>,
}

impl std::fmt::Debug for TestSmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSmtpServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// How many SMTP sessions the server serves at once. Clients that pool connections (lettre does)
/// keep sessions open, so leave plenty.
const SESSIONS: u32 = 32;

/// STARTTLS with a certificate and AUTH PLAIN/LOGIN with one user, for this crate's tests.
#[cfg(test)]
pub(crate) struct Secured {
    pub(crate) cert_path: String,
    pub(crate) key_path: String,
    pub(crate) user: String,
    pub(crate) password: String,
}

impl TestSmtpServer {
    /// Starts a server on `127.0.0.1` with a port chosen by the operating system.
    ///
    /// # Panics
    /// When no loopback port can be bound or the server thread cannot be started.
    #[must_use]
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts a server on `127.0.0.1:port` (`0`: any free port).
    ///
    /// # Panics
    /// When the port cannot be bound (see [`try_start_on`](Self::try_start_on)) or the server
    /// thread cannot be started.
    #[must_use]
    pub fn start_on(port: u16) -> Self {
        Self::try_start_on(port)
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:{port} for the test SMTP server: {e}"))
    }

    /// Starts a server on `127.0.0.1:port` (`0`: any free port).
    ///
    /// # Errors
    /// When the port cannot be bound (another process listens on it).
    ///
    /// # Panics
    /// When the server thread cannot be started.
    pub fn try_start_on(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        Ok(Self::serve(listener, None, |_| {}))
    }

    /// A loopback port that nothing listens on right now (the operating system picked it and it
    /// was released again), to start a server on later with [`start_on`](Self::start_on).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind a loopback port")
            .port()
    }

    /// A server that offers STARTTLS with the given certificate and accepts mail only after
    /// AUTH (PLAIN or LOGIN, which it offers only once TLS is on) with `user` and `password`.
    #[cfg(test)]
    pub(crate) fn start_secured(secured: Secured) -> Self {
        // lettre and mailin-embedded enable two crypto providers in rustls: pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port for SMTP");
        let Secured {
            cert_path,
            key_path,
            user,
            password,
        } = secured;
        Self::serve(listener, Some(Arc::new((user, password))), move |server| {
            server
                .with_ssl(mailin_embedded::SslConfig::SelfSigned {
                    cert_path,
                    key_path,
                })
                .expect("the test certificate");
            server
                .with_auth(mailin_embedded::AuthMechanism::Plain)
                .with_auth(mailin_embedded::AuthMechanism::Login);
        })
    }

    fn serve(
        listener: TcpListener,
        credentials: Option<Arc<(String, String)>>,
        configure: impl FnOnce(&mut Server<Collector>),
    ) -> Self {
        let addr = listener
            .local_addr()
            .expect("local address of the SMTP listener");
        let inbox = Arc::new(Inbox::default());
        let mut server = Server::new(Collector {
            inbox: Arc::clone(&inbox),
            current: None,
            credentials,
        });
        server
            .with_name("test-smtp.localhost")
            .with_num_threads(SESSIONS)
            .with_tcp_listener(listener);
        configure(&mut server);
        std::thread::Builder::new()
            .name(format!("test-smtp-{}", addr.port()))
            .spawn(move || {
                if let Err(e) = server.serve() {
                    eprintln!("test SMTP server on {addr} stopped: {e}");
                }
            })
            .expect("start the SMTP server thread");
        Self { addr, inbox }
    }

    /// From now on, waits `delay` before accepting each message, as a slow server does.
    pub fn set_delay(&self, delay: Duration) {
        *self
            .inbox
            .delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = delay;
    }

    /// `smtp://127.0.0.1:PORT`, ready for `SMTP_URL`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits up to `timeout` for a message whose envelope has recipient `to` (compared without
    /// regard to case), removes it from the inbox and returns its raw bytes. The oldest such
    /// message comes first.
    pub async fn wait_for_message(&self, to: &str, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.inbox.arrived.notified();
            tokio::pin!(arrived);
            // Register before looking, so that a message landing in between still wakes us.
            arrived.as_mut().enable();
            if let Some(message) = self.inbox.take_for(to) {
                return Some(message.data);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.inbox.take_for(to).map(|m| m.data);
            }
        }
    }

    /// [`wait_for_message`](Self::wait_for_message) for code outside an async runtime.
    #[must_use]
    pub fn wait_for_message_blocking(&self, to: &str, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(message) = self.inbox.take_for(to) {
                return Some(message.data);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every message received and not yet taken, oldest first; they stay in the inbox.
    #[must_use]
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.inbox.lock().clone()
    }

    /// Every message received and not yet taken, oldest first; the inbox is emptied.
    #[must_use]
    pub fn take_messages(&self) -> Vec<ReceivedMessage> {
        std::mem::take(&mut *self.inbox.lock())
    }
}

/// The per-session handler: mailin clones it for every connection.
#[derive(Clone)]
struct Collector {
    inbox: Arc<Inbox>,
    current: Option<ReceivedMessage>,
    /// The one user and password that AUTH accepts, when the server asks for AUTH.
    credentials: Option<Arc<(String, String)>>,
}

impl Collector {
    fn check(&self, user: &str, password: &str) -> Response {
        match self.credentials.as_deref() {
            Some((u, p)) if u == user && p == password => response::AUTH_OK,
            _ => response::INVALID_CREDENTIALS,
        }
    }
}

impl Handler for Collector {
    fn auth_plain(
        &mut self,
        _authorization_id: &str,
        authentication_id: &str,
        password: &str,
    ) -> Response {
        self.check(authentication_id, password)
    }

    fn auth_login(&mut self, username: &str, password: &str) -> Response {
        self.check(username, password)
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(ReceivedMessage {
            mail_from: from.to_owned(),
            recipients: to.to_vec(),
            data: Vec::new(),
        });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(message) = &mut self.current {
            message.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let delay = *self
            .inbox
            .delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if let Some(message) = self.current.take() {
            self.inbox.lock().push(message);
            self.inbox.arrived.notify_waiters();
        }
        response::OK
    }
}
