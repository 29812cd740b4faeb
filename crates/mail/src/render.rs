//! Turns the domain's [`Mail`] into a subject, a plain-text body and an HTML body, from Markdown
//! templates.
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
//! Subject: Reset your {product} password
//! Button: Choose a new password
//!
//! Hello {name},
//!
//! <{link}>
//! ```
//!
//! - `{name}` (the nickname), `{email}`, `{product}` and `{base}` (`PUBLIC_BASE_URL` without a
//!   trailing slash) work everywhere; `{link}` in the verification, password-reset and
//!   account-locked templates; `{role}` in the role-changed one; `{new_email}` in the
//!   email-changed one (which goes to the old address). `{#granted}…{/granted}` and
//!   `{^granted}…{/granted}` show their content only when the PRO status was granted, or revoked
//!   (`pro_status_changed.md`). `{{` and `}}` are literal braces. A section tag alone on its line
//!   takes the line with it.
//! - The plain-text part is the Markdown itself with the values filled in, so write links as
//!   `<{link}>` autolinks: a reader of the text then sees the bare URL.
//! - In the HTML part every element carries its style inline (email clients ignore `<style>`).
//!   A paragraph that holds nothing but a link becomes a button labelled with `Button:` (or with
//!   the link's text), followed by the URL in small print for clients that hide buttons. Only
//!   `http`, `https` and `mailto` links are kept.
//! - Values never pass through the Markdown parser: a nickname like `**x**`, `[x](javascript:…)`
//!   or `<script>` shows as typed. Raw HTML in a template is refused (the text part would show
//!   it), as is an unknown placeholder or an unclosed section: [`Renderer::with_template_dir`]
//!   fails naming the file, so a broken template stops start-up rather than an email.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd, TextMergeStream};
use um_domain::model::{RawToken, UserId};
use um_domain::ports::{Mail, MailKind};
use url::Url;

use crate::template::{
    self, Fill, MailTemplate, Node, Values, Var, Vocabulary, expand, fill_stand_ins,
};

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

/// The template files, in the order they are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TemplateName {
    Header,
    Footer,
    VerifyEmail,
    PasswordReset,
    AccountLocked,
    ProStatusChanged,
    RoleChanged,
    PasswordChanged,
    EmailChanged,
}

impl TemplateName {
    const ALL: [TemplateName; 9] = [
        TemplateName::Header,
        TemplateName::Footer,
        TemplateName::VerifyEmail,
        TemplateName::PasswordReset,
        TemplateName::AccountLocked,
        TemplateName::ProStatusChanged,
        TemplateName::RoleChanged,
        TemplateName::PasswordChanged,
        TemplateName::EmailChanged,
    ];

    const fn file_name(self) -> &'static str {
        match self {
            TemplateName::Header => "header.md",
            TemplateName::Footer => "footer.md",
            TemplateName::VerifyEmail => "verify_email.md",
            TemplateName::PasswordReset => "password_reset.md",
            TemplateName::AccountLocked => "account_locked.md",
            TemplateName::ProStatusChanged => "pro_status_changed.md",
            TemplateName::RoleChanged => "role_changed.md",
            TemplateName::PasswordChanged => "password_changed.md",
            TemplateName::EmailChanged => "email_changed.md",
        }
    }

    const fn built_in(self) -> &'static str {
        match self {
            TemplateName::Header => include_str!("../templates/header.md"),
            TemplateName::Footer => include_str!("../templates/footer.md"),
            TemplateName::VerifyEmail => include_str!("../templates/verify_email.md"),
            TemplateName::PasswordReset => include_str!("../templates/password_reset.md"),
            TemplateName::AccountLocked => include_str!("../templates/account_locked.md"),
            TemplateName::ProStatusChanged => include_str!("../templates/pro_status_changed.md"),
            TemplateName::RoleChanged => include_str!("../templates/role_changed.md"),
            TemplateName::PasswordChanged => include_str!("../templates/password_changed.md"),
            TemplateName::EmailChanged => include_str!("../templates/email_changed.md"),
        }
    }

    const fn vocabulary(self) -> Vocabulary {
        match self {
            TemplateName::Header | TemplateName::Footer => Vocabulary::COMMON,
            TemplateName::VerifyEmail
            | TemplateName::PasswordReset
            | TemplateName::AccountLocked => Vocabulary::WITH_LINK,
            TemplateName::ProStatusChanged => Vocabulary::PRO_STATUS,
            TemplateName::RoleChanged => Vocabulary::ROLE,
            TemplateName::PasswordChanged => Vocabulary::COMMON,
            TemplateName::EmailChanged => Vocabulary::EMAIL_CHANGED,
        }
    }
}

/// Every template, parsed and checked.
#[derive(Debug, PartialEq, Eq)]
struct Templates {
    header: Vec<Node>,
    footer: Vec<Node>,
    verify_email: MailTemplate,
    password_reset: MailTemplate,
    account_locked: MailTemplate,
    pro_status_changed: MailTemplate,
    role_changed: MailTemplate,
    password_changed: MailTemplate,
    email_changed: MailTemplate,
}

impl Templates {
    /// The built-in templates, overridden by the files of `dir` where it has them.
    fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        if let Some(dir) = dir {
            check_dir(dir)?;
        }
        let layout = |name: TemplateName| {
            let (file, source) = read_template(dir, name)?;
            template::parse(&source, &name.vocabulary(), 1)
                .and_then(|nodes| check_markdown(&nodes).map(|()| nodes))
                .map_err(|reason| TemplateError { file, reason })
        };
        let mail = |name: TemplateName| {
            let (file, source) = read_template(dir, name)?;
            template::parse_mail_template(&source, &name.vocabulary())
                .and_then(|parsed| {
                    check_subject(&parsed.subject)?;
                    check_markdown(&parsed.body)?;
                    if name.vocabulary().vars.contains(&Var::Link) {
                        check_uses_link(&parsed.body)?;
                    }
                    Ok(parsed)
                })
                .map_err(|reason| TemplateError { file, reason })
        };
        Ok(Self {
            header: layout(TemplateName::Header)?,
            footer: layout(TemplateName::Footer)?,
            verify_email: mail(TemplateName::VerifyEmail)?,
            password_reset: mail(TemplateName::PasswordReset)?,
            account_locked: mail(TemplateName::AccountLocked)?,
            pro_status_changed: mail(TemplateName::ProStatusChanged)?,
            role_changed: mail(TemplateName::RoleChanged)?,
            password_changed: mail(TemplateName::PasswordChanged)?,
            email_changed: mail(TemplateName::EmailChanged)?,
        })
    }
}

/// The file of `name` in `dir` when there is one, else the built-in template; with the path to
/// name in errors (`built-in/<name>.md` for a built-in).
fn read_template(
    dir: Option<&Path>,
    name: TemplateName,
) -> Result<(PathBuf, String), TemplateError> {
    let overriding = dir
        .map(|d| d.join(name.file_name()))
        .filter(|path| path.exists());
    match overriding {
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(source) => Ok((path, source.replace("\r\n", "\n"))),
            Err(e) => Err(TemplateError {
                reason: format!("cannot be read: {e}"),
                file: path,
            }),
        },
        None => Ok((
            Path::new("built-in").join(name.file_name()),
            name.built_in().to_owned(),
        )),
    }
}

/// The directory must exist; files in it that are no template are reported, since a misspelt
/// name would silently leave the built-in template in use.
fn check_dir(dir: &Path) -> Result<(), TemplateError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TemplateError {
        file: dir.to_owned(),
        reason: format!("the template directory cannot be read: {e}"),
    })?;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let known = TemplateName::ALL.iter().any(|n| n.file_name() == file_name);
        if file_name.ends_with(".md") && !known {
            tracing::warn!(
                file = %entry.path().display(),
                known = ?TemplateName::ALL.map(TemplateName::file_name),
                "ignoring a file in the mail template directory that names no template"
            );
        }
    }
    Ok(())
}

/// Sample values for checking templates: every flag is tried both ways.
fn samples() -> [Values<'static>; 2] {
    let sample = |granted| Values {
        name: "ada",
        email: "ada@example.com",
        product: "Product",
        base: "https://example.com",
        link: Some("https://example.com/link".to_owned()),
        role: Some("MANAGER"),
        new_email: Some("ada.new@example.com"),
        granted,
    };
    [sample(false), sample(true)]
}

/// Raw HTML in a template would show as tags in the plain-text part, and could smuggle in what
/// the inline styling is meant to avoid (`<style>`): refuse it.
fn check_markdown(nodes: &[Node]) -> Result<(), String> {
    for values in samples() {
        let mut markdown = String::new();
        expand(nodes, &values, Fill::StandIn, &mut markdown);
        for event in Parser::new_ext(&markdown, markdown_options()) {
            if let Event::Html(html) | Event::InlineHtml(html) = event {
                return Err(format!(
                    "raw HTML ({}) is not allowed in mail templates: write Markdown (the plain-text part shows the template as it is)",
                    html.trim()
                ));
            }
        }
    }
    Ok(())
}

/// An email whose whole point is its link must carry it.
fn check_uses_link(body: &[Node]) -> Result<(), String> {
    for values in samples() {
        let mut out = String::new();
        expand(body, &values, Fill::Raw, &mut out);
        if !out.contains(values.get(Var::Link)) {
            return Err("the body never shows `{link}`, the link this email exists for".to_owned());
        }
    }
    Ok(())
}

fn check_subject(subject: &[Node]) -> Result<(), String> {
    for values in samples() {
        let mut out = String::new();
        expand(subject, &values, Fill::Raw, &mut out);
        if out.trim().is_empty() {
            return Err(format!(
                "the subject is empty when granted is {}",
                values.granted
            ));
        }
    }
    Ok(())
}

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
        let templates = Templates::load(None).expect("the built-in mail templates are valid");
        Self {
            base,
            product_name: product_name.into(),
            templates: Arc::new(templates),
            template_dir: None,
        }
    }

    /// Uses the templates of `dir` (`MAIL_TEMPLATE_DIR`): each of `header.md`, `footer.md`,
    /// `verify_email.md`, `password_reset.md`, `account_locked.md`, `pro_status_changed.md` and
    /// `role_changed.md` found there replaces the built-in one; the others stay built in.
    ///
    /// # Errors
    /// When the directory cannot be read, or a template in it cannot be read, does not parse,
    /// uses an unknown placeholder or holds raw HTML; the error names the file.
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

    #[must_use]
    pub fn render(&self, mail: &Mail) -> RenderedMail {
        let t = &*self.templates;
        let mut new_email = None;
        let (template, link, role, granted) = match &mail.kind {
            MailKind::VerifyEmail { user_id, token } => (
                &t.verify_email,
                Some(self.verification_link(*user_id, token)),
                None,
                false,
            ),
            MailKind::PasswordReset { token } => (
                &t.password_reset,
                Some(self.password_reset_link(token)),
                None,
                false,
            ),
            MailKind::AccountLocked { unlock_token } => (
                &t.account_locked,
                Some(self.unlock_link(unlock_token)),
                None,
                false,
            ),
            MailKind::ProStatusChanged { is_professional } => {
                (&t.pro_status_changed, None, None, *is_professional)
            }
            MailKind::RoleChanged { role } => (&t.role_changed, None, Some(role.as_str()), false),
            MailKind::PasswordChanged => (&t.password_changed, None, None, false),
            MailKind::EmailChanged {
                new_email: changed_to,
            } => {
                new_email = Some(changed_to.as_str());
                (&t.email_changed, None, None, false)
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

        let subject = one_line(&expand_raw(&template.subject, &values));
        let button = template
            .button
            .as_ref()
            .map(|b| one_line(&expand_raw(b, &values)));

        let text = format!(
            "{}\n\n{}\n\n-- \n{}\n",
            expand_raw(&t.header, &values).trim(),
            expand_raw(&template.body, &values).trim(),
            expand_raw(&t.footer, &values).trim(),
        );

        let html = document(
            &subject,
            &to_html(&t.header, &values, Part::Header, None),
            &to_html(&template.body, &values, Part::Body, button.as_deref()),
            &to_html(&t.footer, &values, Part::Footer, None),
        );
        RenderedMail {
            subject,
            text,
            html,
        }
    }
}

fn expand_raw(nodes: &[Node], values: &Values<'_>) -> String {
    let mut out = String::new();
    expand(nodes, values, Fill::Raw, &mut out);
    out
}

/// A header value on one line: line breaks and other control characters become spaces.
fn one_line(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn markdown_options() -> Options {
    Options::ENABLE_STRIKETHROUGH
}

/// Where a piece of Markdown goes in the email; each part has its own look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Header,
    Body,
    Footer,
}

/// The inline styles, one per element.
mod style {
    pub(super) const BODY: &str = "margin:0;padding:24px;background-color:#f4f5f7;\
        font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
        font-size:16px;line-height:1.5;color:#1f2933";
    pub(super) const CONTAINER: &str = "max-width:560px;margin:0 auto;padding:24px;\
        background-color:#ffffff;border-radius:8px";
    pub(super) const HEADER_P: &str = "margin:0 0 24px;font-size:18px;line-height:1.3;\
        font-weight:700;color:#1d4ed8";
    pub(super) const P: &str = "margin:0 0 16px";
    pub(super) const FOOTER_P: &str = "margin:0 0 8px;font-size:13px;line-height:1.4;color:#616e7c";
    pub(super) const A: &str = "color:#1d4ed8;text-decoration:underline;word-break:break-word";
    pub(super) const FOOTER_A: &str =
        "color:#616e7c;text-decoration:underline;word-break:break-word";
    pub(super) const H1: &str =
        "margin:0 0 16px;font-size:24px;line-height:1.25;font-weight:700;color:#1f2933";
    pub(super) const H2: &str =
        "margin:0 0 12px;font-size:20px;line-height:1.3;font-weight:700;color:#1f2933";
    pub(super) const H3: &str =
        "margin:0 0 8px;font-size:17px;line-height:1.4;font-weight:700;color:#1f2933";
    pub(super) const BUTTON_P: &str = "margin:24px 0";
    pub(super) const BUTTON_A: &str = "display:inline-block;padding:12px 20px;\
        background-color:#1d4ed8;color:#ffffff;text-decoration:none;border-radius:6px;\
        font-weight:600";
    pub(super) const BUTTON_URL_P: &str = "margin:0 0 16px;font-size:13px;line-height:1.4;\
        color:#616e7c;word-break:break-all";
    pub(super) const BUTTON_URL_A: &str = "color:#1d4ed8;text-decoration:underline;\
        word-break:break-all";
    pub(super) const LIST: &str = "margin:0 0 16px;padding-left:24px";
    pub(super) const LI: &str = "margin:0 0 4px";
    pub(super) const BLOCKQUOTE: &str =
        "margin:0 0 16px;padding:0 0 0 12px;border-left:3px solid #e4e7eb;color:#52606d";
    pub(super) const CODE: &str = "font-family:SFMono-Regular,Consolas,'Liberation Mono',\
        monospace;font-size:14px;background-color:#f4f5f7;padding:1px 4px;border-radius:4px";
    pub(super) const PRE: &str = "margin:0 0 16px;padding:12px;background-color:#f4f5f7;\
        border-radius:6px;overflow-x:auto;font-family:SFMono-Regular,Consolas,\
        'Liberation Mono',monospace;font-size:14px;line-height:1.4";
    pub(super) const HR: &str = "border:none;border-top:1px solid #e4e7eb;margin:24px 0";
    pub(super) const FOOTER_HR: &str =
        "border:none;border-top:1px solid #e4e7eb;margin:24px 0 12px";
}

/// Only these links are kept; anything else (`javascript:`, relative links) shows as text.
fn is_safe_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    ["https://", "http://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// Renders a template to HTML with inline styles. The values go in only after parsing, as text
/// or URLs that the HTML writer escapes, so that no value is read as Markdown or HTML.
fn to_html(nodes: &[Node], values: &Values<'_>, part: Part, button: Option<&str>) -> String {
    let mut markdown = String::new();
    expand(nodes, values, Fill::StandIn, &mut markdown);
    let events: Vec<Event<'_>> =
        TextMergeStream::new(Parser::new_ext(&markdown, markdown_options())).collect();

    let (p_style, a_style) = match part {
        Part::Header => (style::HEADER_P, style::A),
        Part::Body => (style::P, style::A),
        Part::Footer => (style::FOOTER_P, style::FOOTER_A),
    };
    let html = |s: String| Event::Html(CowStr::from(s));
    let inline = |s: String| Event::InlineHtml(CowStr::from(s));

    let mut out: Vec<Event<'_>> = Vec::with_capacity(events.len());
    // Per open link or image: whether its tags were written (a refused URL leaves only its text).
    let mut open_links: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let event = &events[i];
        i += 1;
        match event {
            Event::Start(Tag::Paragraph) => {
                if part == Part::Body
                    && let Some((end, button_html)) =
                        button_paragraph(&events, i - 1, values, button)
                {
                    out.push(html(button_html));
                    i = end + 1;
                } else {
                    out.push(html(format!("<p style=\"{p_style}\">")));
                }
            }
            Event::End(TagEnd::Paragraph) => out.push(html("</p>\n".to_owned())),
            Event::Start(Tag::Heading { level, .. }) => {
                let style = match level {
                    HeadingLevel::H1 => style::H1,
                    HeadingLevel::H2 => style::H2,
                    _ => style::H3,
                };
                out.push(html(format!("<{level} style=\"{style}\">")));
            }
            Event::End(TagEnd::Heading(level)) => out.push(html(format!("</{level}>\n"))),
            Event::Start(Tag::Link { dest_url, .. }) => {
                let url = fill_stand_ins(dest_url, values);
                let safe = is_safe_url(&url);
                if safe {
                    out.push(inline(format!(
                        "<a href=\"{}\" style=\"{a_style}\">",
                        escape(url.trim())
                    )));
                }
                open_links.push(safe);
            }
            Event::End(TagEnd::Link) => {
                if open_links.pop().unwrap_or(false) {
                    out.push(inline("</a>".to_owned()));
                }
            }
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let url = fill_stand_ins(dest_url, values);
                let safe = is_safe_url(&url) && !url.to_ascii_lowercase().starts_with("mailto:");
                if safe {
                    out.push(Event::Start(Tag::Image {
                        link_type: *link_type,
                        dest_url: CowStr::from(url),
                        title: CowStr::from(fill_stand_ins(title, values)),
                        id: id.clone(),
                    }));
                }
                open_links.push(safe);
            }
            Event::End(TagEnd::Image) => {
                if open_links.pop().unwrap_or(false) {
                    out.push(Event::End(TagEnd::Image));
                }
            }
            Event::Start(Tag::List(None)) => {
                out.push(html(format!("<ul style=\"{}\">\n", style::LIST)));
            }
            Event::Start(Tag::List(Some(start))) => {
                let start_attr = if *start == 1 {
                    String::new()
                } else {
                    format!(" start=\"{start}\"")
                };
                out.push(html(format!(
                    "<ol{start_attr} style=\"{}\">\n",
                    style::LIST
                )));
            }
            Event::End(TagEnd::List(ordered)) => {
                out.push(html(
                    if *ordered { "</ol>\n" } else { "</ul>\n" }.to_owned(),
                ));
            }
            Event::Start(Tag::Item) => out.push(html(format!("<li style=\"{}\">", style::LI))),
            Event::End(TagEnd::Item) => out.push(html("</li>\n".to_owned())),
            Event::Start(Tag::BlockQuote(_)) => {
                out.push(html(format!(
                    "<blockquote style=\"{}\">\n",
                    style::BLOCKQUOTE
                )));
            }
            Event::End(TagEnd::BlockQuote(_)) => out.push(html("</blockquote>\n".to_owned())),
            Event::Start(Tag::CodeBlock(_)) => {
                out.push(html(format!("<pre style=\"{}\"><code>", style::PRE)));
            }
            Event::End(TagEnd::CodeBlock) => out.push(html("</code></pre>\n".to_owned())),
            Event::Rule => out.push(html(format!("<hr style=\"{}\">\n", style::HR))),
            Event::Code(code) => out.push(inline(format!(
                "<code style=\"{}\">{}</code>",
                style::CODE,
                escape(&fill_stand_ins(code, values))
            ))),
            Event::Text(text) => out.push(Event::Text(CowStr::from(fill_stand_ins(text, values)))),
            // Refused when the templates are loaded; should one slip through, show it as text.
            Event::Html(raw) | Event::InlineHtml(raw) => {
                out.push(Event::Text(raw.clone()));
            }
            other => out.push(other.clone()),
        }
    }
    let mut html_out = String::new();
    pulldown_cmark::html::push_html(&mut html_out, out.into_iter());
    html_out
}

/// When the paragraph starting at `events[start]` holds nothing but one link to a safe URL, its
/// HTML as a button (and the URL in small print) and the index of the paragraph's end.
fn button_paragraph(
    events: &[Event<'_>],
    start: usize,
    values: &Values<'_>,
    label: Option<&str>,
) -> Option<(usize, String)> {
    let end = start
        + events[start..]
            .iter()
            .position(|e| matches!(e, Event::End(TagEnd::Paragraph)))?;
    let is_blank = |e: &Event<'_>| match e {
        Event::Text(t) => t.trim().is_empty(),
        Event::SoftBreak => true,
        _ => false,
    };
    let mut inner = &events[start + 1..end];
    while let [first, rest @ ..] = inner
        && is_blank(first)
    {
        inner = rest;
    }
    while let [rest @ .., last] = inner
        && is_blank(last)
    {
        inner = rest;
    }
    let [
        Event::Start(Tag::Link { dest_url, .. }),
        content @ ..,
        Event::End(TagEnd::Link),
    ] = inner
    else {
        return None;
    };
    if content
        .iter()
        .any(|e| matches!(e, Event::Start(Tag::Link { .. }) | Event::End(TagEnd::Link)))
    {
        return None;
    }
    let url = fill_stand_ins(dest_url, values);
    if !is_safe_url(&url) {
        return None;
    }
    let url = url.trim();
    let label = match label {
        Some(label) => label.to_owned(),
        None => {
            let mut text = String::new();
            for e in content {
                if let Event::Text(t) | Event::Code(t) = e {
                    text.push_str(&fill_stand_ins(t, values));
                }
            }
            text
        }
    };
    let href = escape(url);
    let mut html = format!(
        "<p style=\"{}\"><a href=\"{href}\" style=\"{}\">{}</a></p>\n",
        style::BUTTON_P,
        style::BUTTON_A,
        escape(&label)
    );
    if label.trim() != url {
        let _ = writeln!(
            html,
            "<p style=\"{}\"><a href=\"{href}\" style=\"{}\">{href}</a></p>",
            style::BUTTON_URL_P,
            style::BUTTON_URL_A,
        );
    }
    Some((end, html))
}

/// The HTML document around the rendered parts. Every style is inline: email clients ignore
/// `<style>` blocks.
fn document(subject: &str, header: &str, body: &str, footer: &str) -> String {
    format!(
        "<!DOCTYPE html>\n\
         <html lang=\"en\">\n\
         <head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n\
         </head>\n\
         <body style=\"{body_style}\">\n\
         <div style=\"{container}\">\n\
         {header}\
         {body}\
         <hr style=\"{rule}\">\n\
         {footer}\
         </div>\n\
         </body>\n\
         </html>\n",
        title = escape(subject),
        body_style = style::BODY,
        container = style::CONTAINER,
        rule = style::FOOTER_HR,
    )
}

/// Escapes text for HTML element content and quoted attribute values.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use um_domain::model::{Email, Role};

    const BASE: &str = "https://users.example.com/app/";

    fn renderer() -> Renderer {
        Renderer::new(Url::parse(BASE).expect("url"), "User Management")
    }

    fn mail(kind: MailKind) -> Mail {
        mail_to_name(kind, "ada")
    }

    fn mail_to_name(kind: MailKind, name: &str) -> Mail {
        Mail {
            to: Email::parse("ada@example.com").expect("email"),
            greeting_name: name.to_owned(),
            kind,
        }
    }

    /// Every element that Markdown produces carries its style; no `<style>` block anywhere.
    fn assert_styled(html: &str) {
        assert!(!html.to_ascii_lowercase().contains("<style"), "{html}");
        for (at, _) in html.match_indices('<') {
            let tag = &html[at + 1..at + html[at..].find('>').expect("closed tag")];
            let name: String = tag
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            if [
                "p",
                "a",
                "h1",
                "h2",
                "h3",
                "h4",
                "ul",
                "ol",
                "li",
                "blockquote",
                "pre",
                "code",
                "hr",
            ]
            .contains(&name.as_str())
            {
                assert!(tag.contains(" style=\""), "<{tag}> has no inline style");
            }
        }
    }

    /// The only `<…>` in the text part are autolinks.
    fn assert_no_tags(text: &str) {
        for (at, _) in text.match_indices('<') {
            let rest = &text[at + 1..];
            assert!(
                ["http://", "https://", "mailto:"]
                    .iter()
                    .any(|s| rest.starts_with(s)),
                "an HTML tag in the text part at {:?}",
                &text[at..]
            );
        }
    }

    /// The link of a mail: alone on a line (as an autolink) in the text part, the target of a
    /// button in the HTML part.
    fn assert_link(rendered: &RenderedMail, link: &str) {
        let line = format!("<{link}>");
        assert_eq!(
            rendered
                .text
                .lines()
                .filter(|l| l.contains(&line))
                .collect::<Vec<_>>(),
            [line.as_str()],
            "{}",
            rendered.text
        );
        let href = format!(
            "<a href=\"{}\" style=\"{}\">",
            escape(link),
            style::BUTTON_A
        );
        assert!(rendered.html.contains(&href), "{}", rendered.html);
        assert!(
            rendered.html.contains(&format!(">{}</a>", escape(link))),
            "the URL is shown under the button: {}",
            rendered.html
        );
    }

    fn assert_common(rendered: &RenderedMail) {
        assert_styled(&rendered.html);
        assert_no_tags(&rendered.text);
        assert!(rendered.html.starts_with("<!DOCTYPE html>"));
        assert!(rendered.text.starts_with("User Management\n\nHello ada,\n"));
        assert!(rendered.html.contains("Hello ada,"));
        assert!(
            rendered.text.ends_with(
                "\n-- \nThis email was sent to ada@example.com by User Management, \
                 <https://users.example.com/app>.\n"
            ),
            "{}",
            rendered.text
        );
        assert!(
            rendered
                .html
                .contains(&format!("<title>{}</title>", escape(&rendered.subject)))
        );
    }

    #[test]
    fn the_verification_mail() {
        let id = UserId::new();
        let token = RawToken::generate();
        let rendered = renderer().render(&mail(MailKind::VerifyEmail {
            user_id: id,
            token: token.clone(),
        }));
        assert_eq!(
            rendered.subject,
            "Confirm your email address for User Management"
        );
        assert_common(&rendered);
        assert_link(
            &rendered,
            &format!(
                "https://users.example.com/app/verify-email/{id}/{}",
                token.as_str()
            ),
        );
        assert!(rendered.html.contains(">Confirm email address</a>"));
    }

    #[test]
    fn the_password_reset_mail() {
        let token = RawToken::generate();
        let rendered = renderer().render(&mail(MailKind::PasswordReset {
            token: token.clone(),
        }));
        assert_eq!(rendered.subject, "Reset your User Management password");
        assert_common(&rendered);
        assert_link(
            &rendered,
            &format!(
                "https://users.example.com/app/password-reset?token={}",
                token.as_str()
            ),
        );
        for part in [&rendered.text, &rendered.html] {
            assert!(part.contains("1 hour"), "{part}");
            assert!(part.contains("only once"), "{part}");
        }
    }

    #[test]
    fn the_account_locked_mail() {
        let token = RawToken::generate();
        let rendered = renderer().render(&mail(MailKind::AccountLocked {
            unlock_token: token.clone(),
        }));
        assert_eq!(
            rendered.subject,
            "Your User Management account has been locked"
        );
        assert_common(&rendered);
        assert_link(
            &rendered,
            &format!(
                "https://users.example.com/app/unlock?token={}",
                token.as_str()
            ),
        );
        for part in [&rendered.text, &rendered.html] {
            assert!(part.contains("too many failed login attempts"), "{part}");
            assert!(part.contains("ask an administrator"), "{part}");
            assert!(part.contains("reset your password"), "{part}");
            assert!(part.contains("works once"), "{part}");
        }
        assert!(rendered.html.contains("<strong>locked</strong>"));
    }

    #[test]
    fn the_pro_status_mails_say_which_way_it_changed() {
        for (is_professional, subject, says, not) in [
            (
                true,
                "You are now a User Management PRO member",
                "upgraded to",
                "no longer",
            ),
            (
                false,
                "Your User Management PRO status has ended",
                "no longer a PRO account",
                "upgraded",
            ),
        ] {
            let rendered = renderer().render(&mail(MailKind::ProStatusChanged { is_professional }));
            assert_eq!(rendered.subject, subject);
            assert_common(&rendered);
            for part in [&rendered.text, &rendered.html] {
                assert!(part.contains(says), "{part}");
                assert!(!part.contains(not), "{part}");
                assert!(!part.contains("{"), "a section tag left: {part}");
            }
            assert!(
                rendered.text.contains("Hello ada,\n\nYour account"),
                "section lines leave no blank lines: {}",
                rendered.text
            );
        }
    }

    #[test]
    fn the_role_changed_mail_names_the_new_role() {
        let rendered = renderer().render(&mail(MailKind::RoleChanged {
            role: Role::Manager,
        }));
        assert_eq!(rendered.subject, "Your User Management role has changed");
        assert_common(&rendered);
        assert!(rendered.text.contains("Your role is now **MANAGER**."));
        assert!(
            rendered
                .html
                .contains("Your role is now <strong>MANAGER</strong>.")
        );
    }

    #[test]
    fn links_are_right_with_and_without_a_trailing_slash() {
        let id = UserId::new();
        let token = RawToken::from_client("t0k");
        for (base, prefix) in [
            ("http://localhost:8000", "http://localhost:8000"),
            ("http://localhost:8000/", "http://localhost:8000"),
            ("https://u.example.com/api", "https://u.example.com/api"),
            ("https://u.example.com/api/", "https://u.example.com/api"),
            ("https://u.example.com/?x=1#top", "https://u.example.com"),
        ] {
            let r = Renderer::new(Url::parse(base).expect("url"), "P");
            assert_eq!(
                r.verification_link(id, &token),
                format!("{prefix}/verify-email/{id}/t0k")
            );
            assert_eq!(
                r.password_reset_link(&token),
                format!("{prefix}/password-reset?token=t0k")
            );
            assert_eq!(r.unlock_link(&token), format!("{prefix}/unlock?token=t0k"));
        }
    }

    #[test]
    fn tokens_are_percent_encoded_in_links() {
        let r = renderer();
        let id = UserId::new();
        assert!(
            r.verification_link(id, &RawToken::from_client("a/b c"))
                .ends_with(&format!("/verify-email/{id}/a%2Fb%20c"))
        );
        assert!(
            r.password_reset_link(&RawToken::from_client("a b&c=d#e"))
                .ends_with("/password-reset?token=a+b%26c%3Dd%23e")
        );
        assert!(
            r.unlock_link(&RawToken::from_client("x&y"))
                .ends_with("/unlock?token=x%26y")
        );
    }

    #[test]
    fn a_nickname_cannot_inject_html_or_markdown() {
        let kinds = || {
            [
                MailKind::VerifyEmail {
                    user_id: UserId::new(),
                    token: RawToken::generate(),
                },
                MailKind::AccountLocked {
                    unlock_token: RawToken::generate(),
                },
                MailKind::RoleChanged { role: Role::Admin },
            ]
        };
        for name in [
            "<script>alert('x')</script>",
            "[x](javascript:alert(1))",
            "**bold** _em_ `code`",
            "![img](https://evil.example/pixel.png)",
            "<https://evil.example>",
            "<b onmouseover=\"x\">&amp;",
            "# heading\n\n- item\n\n---",
            "a\\\n[ref]: https://evil.example",
            "xumvalue0x http://xumvalue4x",
        ] {
            for kind in kinds() {
                let rendered = renderer().render(&mail_to_name(kind, name));
                let html = &rendered.html;
                for forbidden in [
                    "<script",
                    "javascript:alert(1)\"",
                    "href=\"javascript",
                    "<strong>bold",
                    "<em>",
                    "<code",
                    "<img",
                    "evil.example\"",
                    "<b ",
                    "<h1",
                    "<ul",
                    "&amp;amp;amp;",
                ] {
                    assert!(
                        !html.contains(forbidden),
                        "{name:?}: {forbidden} in\n{html}"
                    );
                }
                assert_styled(html);
                let shown = name
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let html_flat = html.split_whitespace().collect::<Vec<_>>().join(" ");
                assert!(
                    html_flat.contains(&format!("Hello {shown},")),
                    "{name:?} is shown as typed in\n{html}"
                );
                assert!(
                    rendered.text.contains(&format!("Hello {name},")),
                    "{name:?} is shown as typed in the text part"
                );
                // The stand-ins of the template engine are not filled in from a value.
                assert!(!rendered.text.contains("ada@example.com by xumvalue"));
            }
        }
        let rendered = renderer().render(&mail_to_name(
            MailKind::ProStatusChanged {
                is_professional: true,
            },
            "<script>alert('x')</script>&\"",
        ));
        assert!(
            rendered
                .html
                .contains("Hello &lt;script&gt;alert('x')&lt;/script&gt;&amp;\","),
            "{}",
            rendered.html
        );
    }

    #[test]
    fn the_product_name_is_escaped_too() {
        let r = Renderer::new(
            Url::parse("http://localhost:8000").expect("url"),
            "Users & <Co> **x**",
        );
        let rendered = r.render(&mail(MailKind::PasswordReset {
            token: RawToken::generate(),
        }));
        assert!(rendered.html.contains("Users &amp; &lt;Co&gt; **x**"));
        assert!(!rendered.html.contains("<Co>"));
        assert_eq!(rendered.subject, "Reset your Users & <Co> **x** password");
    }

    #[test]
    fn the_subject_stays_on_one_line() {
        assert_eq!(one_line(" a\r\nb\tc\u{7}  d "), "a b c d");
    }

    #[test]
    fn debug_output_hides_the_bodies() {
        let rendered = renderer().render(&mail(MailKind::VerifyEmail {
            user_id: UserId::new(),
            token: RawToken::from_client("secret-token"),
        }));
        assert!(!format!("{rendered:?}").contains("secret-token"));
    }

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(files: &[(&str, &str)]) -> Self {
            let dir =
                std::env::temp_dir().join(format!("um-mail-templates-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            for (name, content) in files {
                std::fs::write(dir.join(name), content).expect("write template");
            }
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn templates_in_a_directory_replace_the_built_in_ones() {
        let dir = TempDir::new(&[
            ("header.md", "# {product} news\n"),
            (
                "verify_email.md",
                "Subject: Welcome, {name}!\r\n\r\nHi {name}, click below.\r\n\r\n[Verify]({link})\r\n\r\n> Sent to {email}.\r\n\r\n- one\r\n- two\r\n",
            ),
            ("notes.md", "not a template: ignored"),
        ]);
        let r = renderer()
            .with_template_dir(&dir.0)
            .expect("valid templates");
        assert!(format!("{r:?}").contains("um-mail-templates-"));
        let id = UserId::new();
        let token = RawToken::generate();
        let rendered = r.render(&mail(MailKind::VerifyEmail {
            user_id: id,
            token: token.clone(),
        }));
        let link = r.verification_link(id, &token);
        assert_eq!(rendered.subject, "Welcome, ada!");
        assert!(
            rendered
                .text
                .starts_with("# User Management news\n\nHi ada, click below.\n\n[Verify]("),
            "{}",
            rendered.text
        );
        assert!(!rendered.text.contains('\r'));
        assert!(rendered.text.contains(&link));
        // No `Button:` header: the link's own text labels the button.
        assert!(
            rendered.html.contains(&format!(
                "<a href=\"{link}\" style=\"{}\">Verify</a>",
                style::BUTTON_A
            )),
            "{}",
            rendered.html
        );
        assert!(rendered.html.contains("<h1 style=\""));
        assert!(rendered.html.contains("<blockquote style=\""));
        assert!(rendered.html.contains("<li style=\""));
        assert_styled(&rendered.html);
        // The footer and the other kinds stay built in.
        assert!(
            rendered
                .text
                .contains("This email was sent to ada@example.com")
        );
        let reset = r.render(&mail(MailKind::PasswordReset {
            token: RawToken::generate(),
        }));
        assert_eq!(reset.subject, "Reset your User Management password");
        assert!(reset.text.starts_with("# User Management news\n"));
    }

    #[test]
    fn links_other_than_http_and_mailto_are_dropped() {
        let dir = TempDir::new(&[(
            "role_changed.md",
            "Subject: Role\n\n[a]({name})\n\n[b](javascript:alert(1)) and [c](mailto:help@example.com)\n\n![pic]({name})\n",
        )]);
        let r = renderer()
            .with_template_dir(&dir.0)
            .expect("valid templates");
        for name in ["javascript:alert(1)", "data:text/html,x", "/relative"] {
            let rendered = r.render(&mail_to_name(
                MailKind::RoleChanged { role: Role::Admin },
                name,
            ));
            assert!(
                !rendered.html.contains("href=\"javascript"),
                "{}",
                rendered.html
            );
            assert!(!rendered.html.contains("href=\"data"), "{}", rendered.html);
            assert!(
                !rendered.html.contains("href=\"/relative"),
                "{}",
                rendered.html
            );
            assert!(!rendered.html.contains("<img"), "{}", rendered.html);
            assert!(rendered.html.contains("<p style=\"margin:0 0 16px\">a</p>"));
            assert!(
                rendered.html.contains("href=\"mailto:help@example.com\""),
                "{}",
                rendered.html
            );
        }
    }

    #[test]
    fn a_bad_template_is_an_error_naming_the_file() {
        for (file, content, expected) in [
            (
                "verify_email.md",
                "Subject: Hi\n\nHello {nickname}\n",
                "unknown placeholder `{nickname}`",
            ),
            (
                "password_reset.md",
                "Subject: Hi\n\n<{link}> {role}\n",
                "unknown placeholder `{role}`",
            ),
            ("footer.md", "Bye {link}\n", "unknown placeholder `{link}`"),
            (
                "pro_status_changed.md",
                "Subject: Hi\n\n{#granted}\nyes\n",
                "is never closed",
            ),
            (
                "role_changed.md",
                "Hello {name}\n",
                "must start with `Subject: …`",
            ),
            (
                "account_locked.md",
                "Subject: Hi\n\n<div>{link}</div>\n",
                "raw HTML",
            ),
            ("header.md", "Hi <b>{name}</b>\n", "raw HTML"),
            ("header.md", "Hi {name\n", "not closed"),
            (
                "pro_status_changed.md",
                "Subject: {#granted}x{/granted}\n\nBody\n",
                "subject is empty",
            ),
        ] {
            let dir = TempDir::new(&[(file, content)]);
            let err = renderer().with_template_dir(&dir.0).expect_err(content);
            assert_eq!(err.file(), dir.0.join(file), "{err}");
            let message = err.to_string();
            assert!(
                message.contains(&dir.0.join(file).display().to_string()),
                "{message}"
            );
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn a_missing_template_directory_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("um-mail-missing-{}", uuid::Uuid::new_v4()));
        let err = renderer().with_template_dir(&dir).expect_err("missing");
        assert_eq!(err.file(), dir);
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }

    #[test]
    fn the_built_in_templates_are_the_shipped_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let from_files = renderer()
            .with_template_dir(&dir)
            .expect("the shipped templates");
        assert_eq!(from_files.templates, renderer().templates);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("templates dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        for name in TemplateName::ALL {
            assert!(
                names.iter().any(|n| n == name.file_name()),
                "{}",
                name.file_name()
            );
        }
        assert_eq!(names.len(), TemplateName::ALL.len());
    }
}
