//! The default transport: every email goes to the log.

use async_trait::async_trait;
use um_domain::ports::{Mail, Mailer};

use crate::Renderer;

/// Logs each email at INFO (recipient, subject and the plain-text body) instead of sending it, so
/// that a developer sees verification links in the console. Used when neither `SMTP_URL` nor
/// `MAIL_DIR` is set. The log carries one-time links: never use it in production.
#[derive(Debug, Clone)]
pub struct LogMailer {
    renderer: Renderer,
}

impl LogMailer {
    #[must_use]
    pub fn new(renderer: Renderer) -> Self {
        Self { renderer }
    }
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: Mail) -> anyhow::Result<()> {
        let rendered = self.renderer.render(&mail);
        tracing::info!(
            to = %mail.to,
            subject = %rendered.subject,
            text = %rendered.text,
            "email logged, not sent (set SMTP_URL or MAIL_DIR to deliver it)"
        );
        Ok(())
    }
}
