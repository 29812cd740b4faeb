//! Mail adapters: render the domain's [`Mail`](um_domain::ports::Mail) ([`Renderer`], from
//! minijinja templates of Markdown that can be overridden from a directory) and deliver it through the
//! domain's [`Mailer`] port: to the log ([`LogMailer`], the default), as `.eml` files
//! ([`DirectoryMailer`]) or over SMTP ([`SmtpMailer`]). [`build_mailer`] picks one from the
//! settings.
//!
//! With the feature `test-support`, [`TestSmtpServer`] is a real SMTP server for tests.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use um_domain::ports::Mailer;
use url::Url;

mod directory;
mod log;
mod markdown;
mod message;
mod render;
mod smtp;
mod template;
#[cfg(test)]
mod test_checks;
#[cfg(any(test, feature = "test-support"))]
mod test_support;

pub use directory::DirectoryMailer;
pub use lettre::message::Mailbox;
pub use log::LogMailer;
pub use render::{RenderedMail, Renderer, TemplateError};
pub use smtp::SmtpMailer;
#[cfg(any(test, feature = "test-support"))]
pub use test_support::{ReceivedMessage, TestSmtpServer};

/// How the service names itself in emails.
pub const PRODUCT_NAME: &str = "User Management";

/// Where emails go, as configured.
#[derive(Clone)]
pub struct MailSettings {
    /// `SMTP_URL`: deliver over SMTP (takes precedence over `mail_dir`).
    pub smtp_url: Option<String>,
    /// `MAIL_DIR`: write `.eml` files into this directory.
    pub mail_dir: Option<PathBuf>,
    /// `MAIL_FROM`: the sender, `addr@example.com` or `Name <addr@example.com>`.
    pub from: String,
    /// `PUBLIC_BASE_URL`: the base of every link in an email.
    pub public_base_url: Url,
    /// `MAIL_TEMPLATE_DIR`: templates here replace the built-in ones of the same name
    /// (see [`Renderer::with_template_dir`]).
    pub template_dir: Option<PathBuf>,
}

/// Never shows the SMTP password.
impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field(
                "smtp_url",
                &self.smtp_url.as_deref().map(smtp::describe_server),
            )
            .field("mail_dir", &self.mail_dir)
            .field("from", &self.from)
            .field("public_base_url", &self.public_base_url.as_str())
            .field("template_dir", &self.template_dir)
            .finish()
    }
}

/// The mailer the settings ask for: SMTP when `smtp_url` is set (and not blank), else an `.eml`
/// directory when `mail_dir` is set, else the log.
///
/// # Errors
/// When `from` is not a mailbox (the message names `MAIL_FROM`), a template of `template_dir`
/// is unusable (names `MAIL_TEMPLATE_DIR` and the file) or `smtp_url` is not a usable SMTP URL
/// (names `SMTP_URL`).
pub fn build_mailer(settings: &MailSettings) -> anyhow::Result<Arc<dyn Mailer>> {
    let from: Mailbox = settings.from.trim().parse().with_context(|| {
        format!(
            "MAIL_FROM {:?} is not an email address (use addr@example.com or Name <addr@example.com>)",
            settings.from
        )
    })?;
    let mut renderer = Renderer::new(settings.public_base_url.clone(), PRODUCT_NAME);
    if let Some(dir) = &settings.template_dir {
        renderer = renderer
            .with_template_dir(dir)
            .context("MAIL_TEMPLATE_DIR holds an unusable template")?;
        tracing::info!(dir = %dir.display(), "mail templates are read from a directory");
    }
    let smtp_url = settings
        .smtp_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    if let Some(url) = smtp_url {
        tokio::runtime::Handle::try_current()
            .context("a mailer for SMTP_URL must be built inside a Tokio runtime")?;
        let mailer = SmtpMailer::from_url(url, from, renderer).context("SMTP_URL is invalid")?;
        tracing::info!(server = %smtp::describe_server(url), "emails are sent over SMTP");
        return Ok(Arc::new(mailer));
    }
    if let Some(dir) = &settings.mail_dir {
        tracing::info!(dir = %dir.display(), "emails are written as .eml files");
        return Ok(Arc::new(DirectoryMailer::new(dir.clone(), from, renderer)));
    }
    tracing::info!("emails are logged, not sent (set SMTP_URL or MAIL_DIR to deliver them)");
    Ok(Arc::new(LogMailer::new(renderer)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use um_domain::model::{Email, RawToken, UserId};
    use um_domain::ports::{Mail, MailKind};

    fn settings() -> MailSettings {
        MailSettings {
            smtp_url: None,
            mail_dir: None,
            from: "User Management <no-reply@example.com>".into(),
            public_base_url: Url::parse("http://localhost:8000").expect("url"),
            template_dir: None,
        }
    }

    fn mail(to: &str) -> Mail {
        Mail {
            to: Email::parse(to).expect("email"),
            greeting_name: "ada".into(),
            kind: MailKind::VerifyEmail {
                user_id: UserId::new(),
                token: RawToken::generate(),
            },
        }
    }

    #[test]
    fn a_bad_sender_is_an_error_naming_mail_from() {
        for bad in ["", "not an address", "a@", "<broken"] {
            let err = build_mailer(&MailSettings {
                from: bad.into(),
                ..settings()
            })
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(err.to_string().contains("MAIL_FROM"), "{err}");
        }
        assert!(
            build_mailer(&MailSettings {
                from: "plain@example.com".into(),
                ..settings()
            })
            .is_ok()
        );
    }

    #[test]
    fn a_bad_smtp_url_is_an_error_naming_smtp_url_without_its_password() {
        let err = build_mailer(&MailSettings {
            smtp_url: Some("smtpx://user:hunter2@mail.example.com".into()),
            ..settings()
        })
        .err()
        .expect("refused");
        assert!(err.to_string().contains("SMTP_URL"), "{err}");
        assert!(!format!("{err:#}").contains("hunter2"), "{err:#}");
        let debug = format!(
            "{:?}",
            MailSettings {
                smtp_url: Some("smtp://user:hunter2@mail.example.com:587".into()),
                ..settings()
            }
        );
        assert!(
            !debug.contains("hunter2") && debug.contains("mail.example.com:587"),
            "{debug}"
        );
    }

    #[tokio::test]
    async fn smtp_takes_precedence_over_the_directory() {
        let server = TestSmtpServer::start();
        let dir = std::env::temp_dir().join(format!("um-mail-test-{}", uuid::Uuid::new_v4()));
        let mailer = build_mailer(&MailSettings {
            smtp_url: Some(server.url()),
            mail_dir: Some(dir.clone()),
            ..settings()
        })
        .expect("mailer");
        mailer.send(mail("ada@example.com")).await.expect("send");
        assert!(
            server
                .wait_for_message("ada@example.com", Duration::from_secs(10))
                .await
                .is_some()
        );
        assert!(!dir.exists(), "nothing written to MAIL_DIR");
    }

    #[tokio::test]
    async fn the_directory_is_used_without_smtp_and_blank_smtp_counts_as_unset() {
        let dir = std::env::temp_dir().join(format!("um-mail-test-{}", uuid::Uuid::new_v4()));
        let mailer = build_mailer(&MailSettings {
            smtp_url: Some("  ".into()),
            mail_dir: Some(dir.clone()),
            ..settings()
        })
        .expect("mailer");
        mailer.send(mail("ada@example.com")).await.expect("send");
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[tokio::test]
    async fn templates_come_from_mail_template_dir_and_a_bad_one_stops_start_up() {
        let root = std::env::temp_dir().join(format!("um-mail-test-{}", uuid::Uuid::new_v4()));
        let templates = root.join("templates");
        let out = root.join("out");
        std::fs::create_dir_all(&templates).expect("template dir");
        std::fs::write(
            templates.join("verify_email.md"),
            "Subject: Custom for {{ name }}\n\n<{{ link }}>\n",
        )
        .expect("template");
        let mailer = build_mailer(&MailSettings {
            mail_dir: Some(out.clone()),
            template_dir: Some(templates.clone()),
            ..settings()
        })
        .expect("mailer");
        mailer.send(mail("ada@example.com")).await.expect("send");
        let file = std::fs::read_dir(&out)
            .expect("out dir")
            .next()
            .expect("one file")
            .expect("entry")
            .path();
        let eml = std::fs::read_to_string(file).expect("eml");
        assert!(eml.contains("Subject: Custom for ada"), "{eml}");

        std::fs::write(templates.join("footer.md"), "{{ unknown }}\n").expect("template");
        let err = build_mailer(&MailSettings {
            template_dir: Some(templates.clone()),
            ..settings()
        })
        .err()
        .expect("refused");
        let chain = format!("{err:#}");
        assert!(chain.contains("MAIL_TEMPLATE_DIR"), "{chain}");
        assert!(chain.contains("footer.md"), "{chain}");
        assert!(chain.contains("`unknown`"), "{chain}");
        std::fs::remove_dir_all(&root).expect("clean up");
    }

    #[tokio::test]
    async fn the_log_is_the_default() {
        let mailer = build_mailer(&settings()).expect("mailer");
        mailer.send(mail("ada@example.com")).await.expect("logged");
    }
}
