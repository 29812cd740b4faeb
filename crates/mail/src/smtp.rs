//! Delivers emails over SMTP with lettre.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use um_domain::ports::{Mail, Mailer};

use crate::Renderer;
use crate::message::build_message;

/// How long one SMTP command may take before delivery is given up.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends each email straight away to an SMTP server (connections are pooled).
///
/// lettre's connection pool spawns Tokio tasks when it is created and when it is dropped, so
/// [`SmtpMailer::from_url`] must run inside a Tokio runtime; the mailer remembers that runtime and
/// drops its pool there, so dropping the mailer anywhere (even after the runtime ended) is safe.
pub struct SmtpMailer {
    /// Always `Some` until dropped.
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    runtime: tokio::runtime::Handle,
    server: String,
    from: Mailbox,
    renderer: Renderer,
}

/// Shows the server but never the credentials.
impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Connects lazily to the server of `smtp_url`:
    /// - `smtp://host:port` plain (port 25 by default),
    /// - `smtp://host:port?tls=required` (STARTTLS, 587 by default; `?tls=opportunistic` too),
    /// - `smtps://host:port` TLS from the start (465 by default);
    ///
    /// with optional `user:password@` credentials (percent-encoded) and an optional path naming
    /// the client in `EHLO`.
    ///
    /// # Errors
    /// When the URL cannot be parsed or asks for something lettre does not support (the message
    /// never repeats the URL, which may hold a password), or when called outside a Tokio runtime.
    pub fn from_url(smtp_url: &str, from: Mailbox, renderer: Renderer) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .context("the SMTP mailer must be created inside a Tokio runtime")?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .context("not a usable SMTP URL (smtp://user:pass@host:port, smtps://… or smtp://…?tls=required)")?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self {
            transport: Some(transport),
            runtime,
            server: describe_server(smtp_url),
            from,
            renderer,
        })
    }

    /// Whether the server answers (connects and sends `NOOP`).
    ///
    /// # Errors
    /// When no connection can be made.
    pub async fn test_connection(&self) -> anyhow::Result<bool> {
        self.transport()?
            .test_connection()
            .await
            .with_context(|| format!("SMTP server {} unreachable", self.server))
    }
}

impl SmtpMailer {
    fn transport(&self) -> anyhow::Result<&AsyncSmtpTransport<Tokio1Executor>> {
        self.transport
            .as_ref()
            .context("the SMTP mailer has been shut down")
    }
}

impl Drop for SmtpMailer {
    fn drop(&mut self) {
        // The pool spawns its shutdown on the current runtime; give it the one it was made on.
        // Should that runtime be gone already, the spawned task is merely cancelled.
        let _runtime = self.runtime.enter();
        drop(self.transport.take());
    }
}

/// `scheme://host:port` of an SMTP URL, without credentials, for logs and errors.
pub(crate) fn describe_server(smtp_url: &str) -> String {
    match url::Url::parse(smtp_url) {
        Ok(url) => format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: Mail) -> anyhow::Result<()> {
        let rendered = self.renderer.render(&mail);
        let message = build_message(&self.from, &mail, &rendered)?;
        self.transport()?
            .send(message)
            .await
            .with_context(|| format!("SMTP delivery via {} failed", self.server))?;
        tracing::info!(to = %mail.to, subject = %rendered.subject, "email sent");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestSmtpServer;
    use mail_parser::MimeHeaders as _;
    use um_domain::model::{Email, RawToken, UserId};
    use um_domain::ports::MailKind;
    use url::Url;

    const WAIT: Duration = Duration::from_secs(10);

    fn renderer() -> Renderer {
        Renderer::new(
            Url::parse("https://users.example.com/").expect("url"),
            "User Management",
        )
    }

    fn from() -> Mailbox {
        "User Management <no-reply@example.com>"
            .parse()
            .expect("mailbox")
    }

    #[tokio::test]
    async fn delivers_a_multipart_message_with_the_exact_verification_link() {
        let server = TestSmtpServer::start();
        let mailer = SmtpMailer::from_url(&server.url(), from(), renderer()).expect("mailer");
        let id = UserId::new();
        let token = RawToken::generate();
        mailer
            .send(Mail {
                to: Email::parse("ada@example.com").expect("email"),
                greeting_name: "ada_lovelace".into(),
                kind: MailKind::VerifyEmail {
                    user_id: id,
                    token: token.clone(),
                },
            })
            .await
            .expect("send");

        let raw = server
            .wait_for_message("ada@example.com", WAIT)
            .await
            .expect("message received");
        let message = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("parseable");
        assert_eq!(
            message
                .from()
                .and_then(|a| a.first())
                .map(|a| (a.name(), a.address())),
            Some((Some("User Management"), Some("no-reply@example.com")))
        );
        assert_eq!(
            message
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address()),
            Some("ada@example.com")
        );
        assert_eq!(
            message.subject(),
            Some("Confirm your email address for User Management")
        );
        assert!(
            message
                .message_id()
                .is_some_and(|m| m.ends_with("@example.com"))
        );
        assert!(message.date().is_some());
        assert_eq!(
            message.content_type().map(|c| (c.ctype(), c.subtype())),
            Some(("multipart", Some("alternative")))
        );

        let link = format!(
            "https://users.example.com/verify-email/{id}/{}",
            token.as_str()
        );
        let text = message.body_text(0).expect("text part");
        assert!(text.starts_with("Hello ada_lovelace,"), "{text}");
        let found: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("/verify-email/"))
            .collect();
        assert_eq!(found, [link.as_str()], "in\n{text}");
        let html = message.body_html(0).expect("html part");
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        assert_eq!(message.html_body_count(), 1);
        assert_eq!(message.text_body_count(), 1);
    }

    #[tokio::test]
    async fn keeps_envelopes_apart_and_reuses_the_connection() {
        let server = TestSmtpServer::start();
        let mailer = SmtpMailer::from_url(&server.url(), from(), renderer()).expect("mailer");
        assert!(mailer.test_connection().await.expect("reachable"));
        for to in ["one@example.com", "two@example.com"] {
            mailer
                .send(Mail {
                    to: Email::parse(to).expect("email"),
                    greeting_name: "x".into(),
                    kind: MailKind::AccountLocked,
                })
                .await
                .expect("send");
        }
        let two = server
            .wait_for_message("TWO@example.com", WAIT)
            .await
            .expect("second");
        assert!(String::from_utf8_lossy(&two).contains("To: two@example.com"));
        let rest = server.take_messages();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].recipients, ["one@example.com"]);
        assert_eq!(rest[0].mail_from, "no-reply@example.com");
        assert!(
            server
                .wait_for_message("one@example.com", Duration::from_millis(50))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_naming_it() {
        // Bind then drop a listener to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let url = format!("smtp://user:hunter2@127.0.0.1:{port}");
        let mailer = SmtpMailer::from_url(&url, from(), renderer()).expect("mailer");
        let err = mailer
            .send(Mail {
                to: Email::parse("ada@example.com").expect("email"),
                greeting_name: "ada".into(),
                kind: MailKind::AccountLocked,
            })
            .await
            .expect_err("nobody listens");
        let chain = format!("{err:#}");
        assert!(
            chain.contains(&format!("smtp://127.0.0.1:{port}")),
            "{chain}"
        );
        assert!(!chain.contains("hunter2"), "{chain}");
        assert!(!format!("{mailer:?}").contains("hunter2"));
    }

    #[test]
    fn outside_a_runtime_creation_is_an_error_and_dropping_is_safe() {
        let err = SmtpMailer::from_url("smtp://localhost:25", from(), renderer())
            .expect_err("refused without a runtime");
        assert!(err.to_string().contains("Tokio runtime"), "{err}");

        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let mailer = runtime
            .block_on(async { SmtpMailer::from_url("smtp://localhost:25", from(), renderer()) })
            .expect("mailer");
        drop(runtime);
        drop(mailer);
    }

    #[tokio::test]
    async fn accepts_the_documented_url_forms_and_refuses_others() {
        for ok in [
            "smtp://localhost:1025",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:p%40ss@mail.example.com",
        ] {
            assert!(SmtpMailer::from_url(ok, from(), renderer()).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "localhost:25",
            "http://mail.example.com",
            "smtp://host?tls=sometimes",
        ] {
            assert!(
                SmtpMailer::from_url(bad, from(), renderer()).is_err(),
                "{bad}"
            );
        }
    }
}
