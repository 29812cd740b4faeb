//! Delivers emails over SMTP with lettre.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use percent_encoding::percent_decode_str;
use um_domain::ports::{Mail, Mailer};

use crate::Renderer;
use crate::message::build_message;

/// How long connecting, and then each SMTP command, may take before delivery is given up.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);
/// How many connections the pool keeps open between emails.
const POOL_MAX_IDLE: u32 = 4;
/// How long an unused pooled connection stays open (well below the 5 minutes after which RFC 5321
/// lets a server drop an idle client).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    /// `smtp://`: STARTTLS when the server offers it, plain otherwise.
    Opportunistic,
    /// `smtp://…?tls=required`: STARTTLS or no delivery.
    StartTlsRequired,
    /// `smtp://…?tls=none`: never TLS (a local mail catcher).
    Plain,
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
}

/// What an `SMTP_URL` says.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SmtpConfig {
    pub(crate) scheme: &'static str,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) security: Security,
    /// User name and password, percent-decoded.
    pub(crate) credentials: Option<(String, String)>,
    /// The name the client gives in `EHLO` (the URL's path), else the machine's host name.
    pub(crate) hello_name: Option<String>,
}

/// Never shows the password.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("hello_name", &self.hello_name)
            .finish_non_exhaustive()
    }
}

impl SmtpConfig {
    /// Parses an `SMTP_URL` (see [`SmtpMailer::from_url`]). Messages never repeat the URL, which
    /// may hold a password.
    pub(crate) fn parse(smtp_url: &str) -> anyhow::Result<Self> {
        let url =
            url::Url::parse(smtp_url.trim()).map_err(|e| anyhow::anyhow!("not a URL ({e})"))?;
        let scheme = match url.scheme() {
            "smtp" => "smtp",
            "smtps" => "smtps",
            other => anyhow::bail!("the scheme must be smtp:// or smtps://, not {other}://"),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => anyhow::bail!("the URL names no host"),
        };
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match &*key {
                "tls" if tls.is_none() => tls = Some(value.into_owned()),
                "tls" => anyhow::bail!("tls= is given twice"),
                other => anyhow::bail!("unknown parameter {other:?} (only tls= is known)"),
            }
        }
        let security = match (scheme, tls.as_deref()) {
            ("smtp", None | Some("opportunistic")) => Security::Opportunistic,
            ("smtp", Some("required")) => Security::StartTlsRequired,
            ("smtp", Some("none")) => Security::Plain,
            ("smtp", Some(other)) => {
                anyhow::bail!("tls={other} is not one of required, opportunistic, none")
            }
            (_, None) => Security::ImplicitTls,
            (_, Some(_)) => anyhow::bail!("smtps:// always uses TLS; tls= is for smtp:// only"),
        };
        let port = url.port().unwrap_or(match security {
            Security::ImplicitTls => 465,
            _ => 587,
        });
        let decode = |part: &str, what: &str| {
            percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| anyhow::anyhow!("the {what} is not UTF-8 once percent-decoded"))
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => anyhow::bail!("the URL has a password but no user name"),
            (_, None) => {
                anyhow::bail!("the URL has a user name but no password (smtp://user:password@host)")
            }
            (user, Some(password)) => {
                Some((decode(user, "user name")?, decode(password, "password")?))
            }
        };
        let path = url.path().trim_matches('/');
        let hello_name = (!path.is_empty())
            .then(|| decode(path, "client name"))
            .transpose()?;
        Ok(Self {
            scheme,
            host,
            port,
            security,
            credentials,
            hello_name,
        })
    }

    /// `scheme://host:port` (and the `tls=` mode unless it is the default), for logs and errors.
    pub(crate) fn describe(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let mode = match self.security {
            Security::StartTlsRequired => "?tls=required",
            Security::Plain => "?tls=none",
            Security::Opportunistic | Security::ImplicitTls => "",
        };
        format!("{}://{host}:{}{mode}", self.scheme, self.port)
    }

    /// The lettre transport: a pool of connections, each command under [`SMTP_TIMEOUT`].
    fn transport(&self, trust: Trust) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
        let tls_parameters = || -> anyhow::Result<TlsParameters> {
            let builder = TlsParameters::builder(self.host.clone());
            let builder = match trust {
                Trust::Platform => builder,
                #[cfg(test)]
                Trust::AnyCertificate => builder.dangerous_accept_invalid_certs(true),
            };
            builder
                .build()
                .context("cannot set up TLS for the SMTP connection")
        };
        let tls = match self.security {
            Security::Opportunistic => Tls::Opportunistic(tls_parameters()?),
            Security::StartTlsRequired => Tls::Required(tls_parameters()?),
            Security::Plain => Tls::None,
            Security::ImplicitTls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT))
            .pool_config(
                PoolConfig::new()
                    .min_idle(0)
                    .max_size(POOL_MAX_IDLE)
                    .idle_timeout(POOL_IDLE_TIMEOUT),
            );
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        if let Some(name) = &self.hello_name {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        Ok(builder.build())
    }
}

/// Which server certificates TLS accepts.
#[derive(Debug, Clone, Copy)]
enum Trust {
    /// Those the operating system trusts, for the server's name.
    Platform,
    /// Any (the tests' self-signed one).
    #[cfg(test)]
    AnyCertificate,
}

/// Sends each email straight away to an SMTP server, over a small pool of connections.
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
    /// - `smtp://host:port`: STARTTLS when the server offers it, plain otherwise (port 587 by
    ///   default; give `:25` to use 25). Credentials then travel in the clear to a server that
    ///   offers no STARTTLS: use `?tls=required` for any server across a network;
    /// - `smtp://host:port?tls=required`: STARTTLS, or no delivery;
    /// - `smtp://host:port?tls=none`: never TLS (a local mail catcher);
    /// - `smtps://host:port`: TLS from the start (port 465 by default);
    ///
    /// with optional `user:password@` credentials (percent-encoded: `p%40ss` for `p@ss`) and an
    /// optional path naming the client in `EHLO`. Certificates are checked against the
    /// operating system's trust store. Up to 4 connections stay open for up to a minute between
    /// emails; connecting and every command time out after 15 s.
    ///
    /// # Errors
    /// When the URL cannot be parsed or asks for something unsupported (the message never
    /// repeats the URL, which may hold a password), or when called outside a Tokio runtime.
    pub fn from_url(smtp_url: &str, from: Mailbox, renderer: Renderer) -> anyhow::Result<Self> {
        let config = SmtpConfig::parse(smtp_url).context(
            "not a usable SMTP URL (smtp://user:pass@host:port, smtps://…, smtp://…?tls=required or ?tls=none)",
        )?;
        Self::from_config(&config, Trust::Platform, from, renderer)
    }

    fn from_config(
        config: &SmtpConfig,
        trust: Trust,
        from: Mailbox,
        renderer: Renderer,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .context("the SMTP mailer must be created inside a Tokio runtime")?;
        let transport = config.transport(trust)?;
        Ok(Self {
            transport: Some(transport),
            runtime,
            server: config.describe(),
            from,
            renderer,
        })
    }

    /// Whether the server answers (connects, with TLS and authentication as configured, and
    /// sends `NOOP`).
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
    SmtpConfig::parse(smtp_url).map_or_else(|_| "(unusable URL)".to_owned(), |c| c.describe())
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
    use crate::test_support::{Secured, TestSmtpServer};
    use mail_parser::MimeHeaders as _;
    use um_domain::model::{Email, RawToken, Role, UserId};
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

    fn mail(to: &str) -> Mail {
        Mail {
            to: Email::parse(to).expect("email"),
            greeting_name: "ada".into(),
            kind: MailKind::RoleChanged {
                role: Role::Manager,
            },
        }
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
        crate::test_checks::assert_verification_envelope(&message, "ada@example.com");
        assert!(message.date().is_some());
        assert_eq!(
            message.content_type().map(|c| (c.ctype(), c.subtype())),
            Some(("multipart", Some("alternative")))
        );
        assert_eq!(message.html_body_count(), 1);
        assert_eq!(message.text_body_count(), 1);
        let types: Vec<_> = message
            .parts
            .iter()
            .filter_map(|p| p.content_type())
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
            .collect();
        assert_eq!(
            types,
            ["multipart/alternative", "text/plain", "text/html"],
            "the text part first, then the HTML one"
        );

        let link = format!(
            "https://users.example.com/verify-email/{id}/{}",
            token.as_str()
        );
        let text = message
            .body_text(0)
            .expect("text part")
            .replace("\r\n", "\n");
        assert!(
            text.starts_with("User Management\n\nHello ada_lovelace,"),
            "{text}"
        );
        let found: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("/verify-email/"))
            .collect();
        assert_eq!(found, [format!("<{link}>")], "in\n{text}");
        let html = message.body_html(0).expect("html part");
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        assert!(html.contains("Hello ada_lovelace,"), "{html}");
        assert!(!html.contains("<style"), "{html}");
    }

    #[tokio::test]
    async fn keeps_envelopes_apart_and_reuses_the_connection() {
        let server = TestSmtpServer::start();
        let mailer = SmtpMailer::from_url(&server.url(), from(), renderer()).expect("mailer");
        assert!(mailer.test_connection().await.expect("reachable"));
        for to in ["one@example.com", "two@example.com"] {
            mailer.send(mail(to)).await.expect("send");
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
        let port = TestSmtpServer::free_port();
        let url = format!("smtp://user:hunter2@127.0.0.1:{port}");
        let mailer = SmtpMailer::from_url(&url, from(), renderer()).expect("mailer");
        let err = mailer
            .send(mail("ada@example.com"))
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

    #[tokio::test]
    async fn a_server_started_later_on_the_configured_port_gets_the_mail() {
        let port = TestSmtpServer::free_port();
        let mailer = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}"), from(), renderer())
            .expect("mailer");
        assert!(mailer.send(mail("ada@example.com")).await.is_err());
        let server = TestSmtpServer::start_on(port);
        assert_eq!(server.addr().port(), port);
        mailer.send(mail("ada@example.com")).await.expect("sent");
        assert!(
            server
                .wait_for_message("ada@example.com", WAIT)
                .await
                .is_some()
        );
        assert!(
            TestSmtpServer::try_start_on(port).is_err(),
            "the port is taken"
        );
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
            "smtp://localhost:1025?tls=none",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:p%40ss@mail.example.com",
            "smtp://[::1]:2525",
            " smtp://mail.example.com/client.example.org ",
        ] {
            assert!(SmtpMailer::from_url(ok, from(), renderer()).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "localhost:25",
            "http://mail.example.com",
            "smtp://host?tls=sometimes",
            "smtp://host?tls=none&tls=required",
            "smtp://host?timeout=5",
            "smtps://host?tls=none",
            "smtp://user@host",
            "smtp://:secret@host",
            "smtp:///path-only",
            "smtp://user:%FF@host",
        ] {
            let err = SmtpMailer::from_url(bad, from(), renderer()).expect_err(bad);
            let chain = format!("{err:#}");
            assert!(chain.contains("not a usable SMTP URL"), "{bad}: {chain}");
            assert!(!chain.contains("secret"), "{bad}: {chain}");
        }
    }

    #[test]
    fn the_url_decides_port_tls_and_credentials() {
        for (url, host, port, security) in [
            (
                "smtp://mail.example.com",
                "mail.example.com",
                587,
                Security::Opportunistic,
            ),
            (
                "smtp://mail.example.com:25",
                "mail.example.com",
                25,
                Security::Opportunistic,
            ),
            (
                "smtp://mail.example.com?tls=opportunistic",
                "mail.example.com",
                587,
                Security::Opportunistic,
            ),
            (
                "smtp://mail.example.com?tls=required",
                "mail.example.com",
                587,
                Security::StartTlsRequired,
            ),
            (
                "smtp://localhost:1025?tls=none",
                "localhost",
                1025,
                Security::Plain,
            ),
            (
                "smtps://mail.example.com",
                "mail.example.com",
                465,
                Security::ImplicitTls,
            ),
            (
                "smtps://mail.example.com:2465",
                "mail.example.com",
                2465,
                Security::ImplicitTls,
            ),
            (
                "smtp://127.0.0.1:2525",
                "127.0.0.1",
                2525,
                Security::Opportunistic,
            ),
            ("smtp://[::1]:2525", "::1", 2525, Security::Opportunistic),
        ] {
            let config = SmtpConfig::parse(url).expect(url);
            assert_eq!(
                (config.host.as_str(), config.port, config.security),
                (host, port, security),
                "{url}"
            );
            assert_eq!(config.credentials, None, "{url}");
            assert_eq!(config.hello_name, None, "{url}");
        }

        let config = SmtpConfig::parse(
            "smtp://ada%40example.com:p%40ss%3Aw%2Frd+%25@mail.example.com/client.example.org",
        )
        .expect("parses");
        assert_eq!(
            config.credentials,
            Some(("ada@example.com".to_owned(), "p@ss:w/rd+%".to_owned()))
        );
        assert_eq!(config.hello_name.as_deref(), Some("client.example.org"));
        let debug = format!("{config:?}");
        assert!(debug.contains("ada@example.com"), "{debug}");
        assert!(
            !debug.contains("p@ss") && !debug.contains("p%40ss"),
            "{debug}"
        );

        for (url, described) in [
            (
                "smtp://u:secret@mail.example.com",
                "smtp://mail.example.com:587",
            ),
            (
                "smtp://mail.example.com:25?tls=required",
                "smtp://mail.example.com:25?tls=required",
            ),
            (
                "smtp://localhost:1025?tls=none",
                "smtp://localhost:1025?tls=none",
            ),
            (
                "smtps://u:secret@mail.example.com",
                "smtps://mail.example.com:465",
            ),
            ("smtp://[::1]:2525", "smtp://[::1]:2525"),
            ("smtpx://u:secret@mail.example.com", "(unusable URL)"),
        ] {
            assert_eq!(describe_server(url), described);
        }
    }

    #[tokio::test]
    async fn required_tls_refuses_a_server_without_starttls() {
        let server = TestSmtpServer::start();
        let mailer = SmtpMailer::from_url(
            &format!("{}?tls=required", server.url()),
            from(),
            renderer(),
        )
        .expect("mailer");
        let err = mailer
            .send(mail("ada@example.com"))
            .await
            .expect_err("no STARTTLS, no delivery");
        assert!(format!("{err:#}").contains("?tls=required"), "{err:#}");
        assert!(server.messages().is_empty());
    }

    /// A server that offers STARTTLS (self-signed certificate) and takes mail only after AUTH,
    /// which it offers only over TLS: delivery proves both TLS and the credentials.
    fn secured_server() -> (TestSmtpServer, std::path::PathBuf) {
        let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("a certificate");
        let dir = std::env::temp_dir().join(format!("um-mail-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, cert.pem()).expect("cert");
        std::fs::write(&key_path, signing_key.serialize_pem()).expect("key");
        let server = TestSmtpServer::start_secured(Secured {
            cert_path: cert_path.display().to_string(),
            key_path: key_path.display().to_string(),
            user: "ada@example.com".to_owned(),
            password: "p@ss:w/rd".to_owned(),
        });
        (server, dir)
    }

    fn mailer_for(url: &str) -> SmtpMailer {
        let config = SmtpConfig::parse(url).expect("a valid URL");
        SmtpMailer::from_config(&config, Trust::AnyCertificate, from(), renderer()).expect("mailer")
    }

    #[tokio::test]
    async fn starttls_and_auth_with_percent_encoded_credentials() {
        let (server, dir) = secured_server();
        let port = server.addr().port();
        let credentials = "ada%40example.com:p%40ss%3Aw%2Frd";

        // Opportunistic (the default) upgrades when the server offers STARTTLS.
        let mailer = mailer_for(&format!("smtp://{credentials}@127.0.0.1:{port}"));
        assert!(mailer.test_connection().await.expect("connects"));
        mailer.send(mail("one@example.com")).await.expect("sent");
        assert!(
            server
                .wait_for_message("one@example.com", WAIT)
                .await
                .is_some()
        );

        let mailer = mailer_for(&format!(
            "smtp://{credentials}@127.0.0.1:{port}?tls=required"
        ));
        mailer.send(mail("two@example.com")).await.expect("sent");
        assert!(
            server
                .wait_for_message("two@example.com", WAIT)
                .await
                .is_some()
        );

        // Without TLS the server offers no AUTH, so the credentials cannot be used.
        let mailer = mailer_for(&format!("smtp://{credentials}@127.0.0.1:{port}?tls=none"));
        assert!(mailer.send(mail("three@example.com")).await.is_err());

        // A wrong password is refused, and the error does not repeat it.
        let mailer = mailer_for(&format!(
            "smtp://ada%40example.com:wrong-pw@127.0.0.1:{port}"
        ));
        let err = mailer
            .send(mail("four@example.com"))
            .await
            .expect_err("refused");
        assert!(!format!("{err:#} {err:?}").contains("wrong-pw"), "{err:#}");

        // Without credentials the server refuses the mail.
        let mailer = mailer_for(&format!("smtp://127.0.0.1:{port}"));
        assert!(mailer.send(mail("five@example.com")).await.is_err());

        assert!(server.messages().is_empty(), "only two were delivered");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
