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

/// An SMTP server (plain, no TLS, no authentication) on a free loopback port that keeps every
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

impl TestSmtpServer {
    /// Starts a server on `127.0.0.1` with a port chosen by the operating system.
    ///
    /// # Panics
    /// When no loopback port can be bound or the server thread cannot be started.
    #[must_use]
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port for SMTP");
        let addr = listener
            .local_addr()
            .expect("local address of the SMTP listener");
        let inbox = Arc::new(Inbox::default());
        let mut server = Server::new(Collector {
            inbox: Arc::clone(&inbox),
            current: None,
        });
        server
            .with_name("test-smtp.localhost")
            .with_num_threads(SESSIONS)
            .with_tcp_listener(listener);
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
}

impl Handler for Collector {
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
        if let Some(message) = self.current.take() {
            self.inbox.lock().push(message);
            self.inbox.arrived.notify_waiters();
        }
        response::OK
    }
}
