//! Turns the domain's [`Mail`] into a subject, a plain-text body and an HTML body, from
//! minijinja templates whose output is Markdown.
//!
//! # Templates
//!
//! Each kind of email has a template, `verify_email.md`, `password_reset.md`,
//! `account_locked.md`, `pro_status_changed.md`, `role_changed.md`, and the security notices
//! `password_changed.md` and `email_changed.md`, and every email starts with
//! `header.md` and ends with `footer.md`. The built-in ones ship inside the binary;
//! [`Renderer::with_template_dir`] replaces any of them by a file of the same name.
//!
//! A kind's template starts with a header block, then an empty line, then the Markdown body:
//!
//! ```text
//! Subject: Reset your {{ product }} password
//! Button: Choose a new password
//!
//! Hello {{ name }},
//!
//! <{{ link }}>
//! ```
//!
//! - The header values and the body are [minijinja](https://docs.rs/minijinja) templates (the
//!   syntax of Jinja2). `{{ name }}` (the nickname), `{{ email }}`, `{{ product }}` and
//!   `{{ base }}` (`PUBLIC_BASE_URL` without a trailing slash) work everywhere; `{{ link }}` in
//!   the verification, password-reset and account-locked templates; `{{ role }}` in the
//!   role-changed one; `{{ new_email }}` in the email-changed one (which goes to the old
//!   address); `granted`, true when the PRO status was granted and false when it was revoked, in
//!   `pro_status_changed.md`: `{% if granted %}…{% else %}…{% endif %}`. A block tag alone on
//!   its line takes the line with it. Filters and tests work as in minijinja; `{{ "{{" }}`
//!   writes literal braces.
//! - Any other variable is an error (minijinja's strict undefined behaviour), as is a syntax
//!   error: [`Renderer::with_template_dir`] checks every template by rendering it with sample
//!   values (`granted` both ways) and fails naming the file and the line, so a broken template
//!   stops start-up rather than an email.
//! - The plain-text part is the Markdown itself with the values filled in, so write links as
//!   `<{{ link }}>` autolinks: a reader of the text then sees the bare URL.
//! - In the HTML part every element carries its style inline (email clients ignore `<style>`).
//!   A paragraph that holds nothing but a link becomes a button labelled with `Button:` (or with
//!   the link's text), followed by the URL in small print for clients that hide buttons. Only
//!   `http`, `https` and `mailto` links are kept. The HTML frame around the parts is built in
//!   (`layout.html`, escaped by minijinja).
//! - Values never pass through the Markdown parser (see [`crate::template`] for how): a nickname
//!   like `**x**`, `[x](javascript:…)` or `<script>` shows as typed. Raw HTML in a template is
//!   refused (the text part would show it), and so are the placeholders of the template language
//!   of earlier versions (`{name}`, `{#granted}…{/granted}`), which would show as typed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use um_domain::model::{RawToken, UserId};
use um_domain::ports::{Mail, MailKind};
use url::Url;

use crate::markdown::{Part, to_html};
use crate::template::{HeaderField, LoadError, TemplateName, Templates, Values};

/// An email ready to be put into a message: the same content as plain text and as HTML.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The bodies carry one-time tokens: debug output shows the subject only.
impl fmt::Debug for RenderedMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedMail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A template that cannot be used: which file, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mail template {}: {reason}", file.display())]
pub struct TemplateError {
    file: PathBuf,
    reason: String,
}

impl TemplateError {
    /// The template file (or template directory) at fault; `built-in/<name>.md` for a built-in.
    #[must_use]
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// What is wrong with it, with the line where that applies.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl From<LoadError> for TemplateError {
    fn from(e: LoadError) -> Self {
        Self {
            file: e.file,
            reason: e.reason,
        }
    }
}

/// The built-in templates, loaded and checked once.
static BUILT_IN: LazyLock<Arc<Templates>> = LazyLock::new(|| {
    Arc::new(Templates::load(None).expect("the built-in mail templates are valid"))
});

/// Renders every kind of email the service sends. Links are absolute, built on `PUBLIC_BASE_URL`.
#[derive(Clone)]
pub struct Renderer {
    base: Url,
    product_name: String,
    templates: Arc<Templates>,
    template_dir: Option<PathBuf>,
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renderer")
            .field("base", &self.base.as_str())
            .field("product_name", &self.product_name)
            .field("template_dir", &self.template_dir)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer with the built-in templates.
    ///
    /// `public_base_url` is where the service is reached from outside (with or without a trailing
    /// slash, possibly with a path prefix); `product_name` names the service in subjects and text.
    ///
    /// # Panics
    /// Never: the built-in templates are checked by the tests of this crate.
    #[must_use]
    pub fn new(public_base_url: Url, product_name: impl Into<String>) -> Self {
        let mut base = public_base_url;
        base.set_query(None);
        base.set_fragment(None);
        Self {
            base,
            product_name: product_name.into(),
            templates: Arc::clone(&BUILT_IN),
            template_dir: None,
        }
    }

    /// Uses the templates of `dir` (`MAIL_TEMPLATE_DIR`): each of `header.md`, `footer.md`,
    /// `verify_email.md`, `password_reset.md`, `account_locked.md`, `pro_status_changed.md`,
    /// `role_changed.md`, `password_changed.md` and `email_changed.md` found there replaces the
    /// built-in one; the others stay built in. Every template is rendered once with sample values.
    ///
    /// # Errors
    /// When the directory cannot be read, or a template in it cannot be read, does not parse,
    /// uses an unknown variable, fails to render or holds raw HTML; the error names the file and,
    /// where it applies, the line.
    pub fn with_template_dir(self, dir: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let dir = dir.as_ref();
        let templates = Templates::load(Some(dir))?;
        Ok(Self {
            templates: Arc::new(templates),
            template_dir: Some(dir.to_owned()),
            ..self
        })
    }

    /// The link that confirms an email address: `{PUBLIC_BASE_URL}/verify-email/{user_id}/{token}`.
    #[must_use]
    pub fn verification_link(&self, user_id: UserId, token: &RawToken) -> String {
        self.link(
            &["verify-email", &user_id.to_string(), token.as_str()],
            None,
        )
    }

    /// The link to the page that sets a new password: `{PUBLIC_BASE_URL}/password-reset?token=…`.
    #[must_use]
    pub fn password_reset_link(&self, token: &RawToken) -> String {
        self.link(&["password-reset"], Some(token))
    }

    /// The one-time link that unlocks a locked account: `{PUBLIC_BASE_URL}/unlock?token=…`.
    #[must_use]
    pub fn unlock_link(&self, token: &RawToken) -> String {
        self.link(&["unlock"], Some(token))
    }

    /// The base URL with `segments` appended as path segments (each percent-encoded as needed)
    /// and, when given, `?token=…`.
    fn link(&self, segments: &[&str], token: Option<&RawToken>) -> String {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        } else {
            // A base that cannot carry a path (`mailto:` and the like) is a configuration mistake;
            // still produce something readable rather than nothing.
            let mut link = format!(
                "{}/{}",
                self.base.as_str().trim_end_matches('/'),
                segments.join("/")
            );
            if let Some(token) = token {
                link.push_str("?token=");
                link.extend(url::form_urlencoded::byte_serialize(
                    token.as_str().as_bytes(),
                ));
            }
            return link;
        }
        if let Some(token) = token {
            url.query_pairs_mut().append_pair("token", token.as_str());
        }
        url.into()
    }

    /// Renders `mail` with the configured templates. A template of `MAIL_TEMPLATE_DIR` that
    /// fails for these values (it passed the check with sample values) is logged, and the email
    /// is rendered with the built-in templates instead: the email still goes out.
    ///
    /// # Panics
    /// Never: the built-in templates render every email (the tests of this crate check them).
    #[must_use]
    pub fn render(&self, mail: &Mail) -> RenderedMail {
        match self.render_with(&self.templates, mail) {
            Ok(rendered) => rendered,
            Err(error) => {
                tracing::error!(
                    dir = ?self.template_dir,
                    error = %error,
                    "a mail template failed; the email is rendered with the built-in templates"
                );
                self.render_with(&BUILT_IN, mail)
                    .expect("the built-in mail templates render every email")
            }
        }
    }

    fn render_with(
        &self,
        templates: &Templates,
        mail: &Mail,
    ) -> Result<RenderedMail, minijinja::Error> {
        let mut new_email = None;
        let (name, link, role, granted) = match &mail.kind {
            MailKind::VerifyEmail { user_id, token } => (
                TemplateName::VerifyEmail,
                Some(self.verification_link(*user_id, token)),
                None,
                false,
            ),
            MailKind::PasswordReset { token } => (
                TemplateName::PasswordReset,
                Some(self.password_reset_link(token)),
                None,
                false,
            ),
            MailKind::AccountLocked { unlock_token } => (
                TemplateName::AccountLocked,
                Some(self.unlock_link(unlock_token)),
                None,
                false,
            ),
            MailKind::ProStatusChanged { is_professional } => {
                (TemplateName::ProStatusChanged, None, None, *is_professional)
            }
            MailKind::RoleChanged { role } => {
                (TemplateName::RoleChanged, None, Some(role.as_str()), false)
            }
            MailKind::PasswordChanged => (TemplateName::PasswordChanged, None, None, false),
            MailKind::EmailChanged {
                new_email: changed_to,
            } => {
                new_email = Some(changed_to.as_str());
                (TemplateName::EmailChanged, None, None, false)
            }
        };
        let values = Values {
            name: &mail.greeting_name,
            email: mail.to.as_str(),
            product: &self.product_name,
            base: self.base.as_str().trim_end_matches('/'),
            link,
            role,
            new_email,
            granted,
        };

        let subject = templates
            .render_header(name, HeaderField::Subject, &values)?
            .unwrap_or_default();
        let button = templates.render_header(name, HeaderField::Button, &values)?;
        let header = templates.render_body(TemplateName::Header, &values)?;
        let body = templates.render_body(name, &values)?;
        let footer = templates.render_body(TemplateName::Footer, &values)?;

        let text = format!(
            "{}\n\n{}\n\n-- \n{}\n",
            header.text.trim(),
            body.text.trim(),
            footer.text.trim(),
        );
        let html = templates.render_layout(
            &subject,
            to_html(&header, Part::Header, None),
            to_html(&body, Part::Body, button.as_deref()),
            to_html(&footer, Part::Footer, None),
        )?;
        Ok(RenderedMail {
            subject,
            text,
            html,
        })
    }
}

#[cfg(test)]
mod tests;
