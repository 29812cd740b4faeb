//! Builds the RFC 5322 message that the directory and SMTP transports hand on.

use anyhow::Context;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use um_domain::ports::Mail;
use uuid::Uuid;

use crate::RenderedMail;

/// A `multipart/alternative` message (text, then HTML) from `from` to the mail's recipient, with
/// a `Date` and a `Message-ID` in the sender's domain.
pub(crate) fn build_message(
    from: &Mailbox,
    mail: &Mail,
    rendered: &RenderedMail,
) -> anyhow::Result<Message> {
    let to: Mailbox = mail
        .to
        .as_str()
        .parse()
        .with_context(|| format!("recipient {} is not a deliverable address", mail.to))?;
    let message_id = format!("<{}@{}>", Uuid::new_v4().simple(), from.email.domain());
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .message_id(Some(message_id))
        .multipart(MultiPart::alternative_plain_html(
            rendered.text.clone(),
            rendered.html.clone(),
        ))
        .context("cannot build the email message")
}
