//! The mail templates: [minijinja](https://docs.rs/minijinja) templates whose output is Markdown,
//! loaded (built in, or from `MAIL_TEMPLATE_DIR`) and checked once, when the
//! [`Renderer`](crate::Renderer) is made, so that a mistake in one stops start-up instead of an
//! email.
//!
//! # Keeping values out of the Markdown
//!
//! A template is rendered once per email, with the real values; minijinja reports which parts
//! of the output are the template's own text and which come from `{{ … }}` (and any other
//! output that is not verbatim template text). The output as it is becomes the plain-text part.
//! For the HTML part, a copy of the output in which every value is replaced by a stand-in
//! (`http://xumvalue<n>x`: letters and digits after a fake scheme, which Markdown neither reads
//! anything into nor splits, and which makes `<{{ link }}>` an autolink) goes to the Markdown
//! parser; the values are put back into the parser's events as text or URLs, which the HTML
//! writer escapes. So the structure of the HTML (paragraphs, emphasis, links, …) comes from the
//! template alone and never from what a value contains: a nickname such as `**x**`,
//! `[x](javascript:…)` or `<script>` shows as typed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, ErrorKind, OutputSpanKind, UndefinedBehavior, Value};
use pulldown_cmark::{Event, Parser};

use crate::markdown;

/// A value that a template can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    /// How to greet the recipient (the nickname). User-controlled.
    Name,
    /// The recipient's address.
    Email,
    /// The product name.
    Product,
    /// `PUBLIC_BASE_URL` without a trailing slash.
    Base,
    /// The link of the email (verification, password reset, unlock).
    Link,
    /// The new role (`MANAGER`, …).
    Role,
    /// The address an account's email was changed to (sent to the old one).
    NewEmail,
    /// PRO status changed: true when granted, false when revoked.
    Granted,
}

impl Var {
    const ALL: [Var; 8] = [
        Var::Name,
        Var::Email,
        Var::Product,
        Var::Base,
        Var::Link,
        Var::Role,
        Var::NewEmail,
        Var::Granted,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Var::Name => "name",
            Var::Email => "email",
            Var::Product => "product",
            Var::Base => "base",
            Var::Link => "link",
            Var::Role => "role",
            Var::NewEmail => "new_email",
            Var::Granted => "granted",
        }
    }
}

/// What one template may use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vocabulary(&'static [Var]);

impl Vocabulary {
    /// Header and footer, and the kinds without a value of their own.
    pub(crate) const COMMON: Self = Self(&[Var::Name, Var::Email, Var::Product, Var::Base]);
    pub(crate) const WITH_LINK: Self =
        Self(&[Var::Name, Var::Email, Var::Product, Var::Base, Var::Link]);
    pub(crate) const PRO_STATUS: Self =
        Self(&[Var::Name, Var::Email, Var::Product, Var::Base, Var::Granted]);
    pub(crate) const ROLE: Self =
        Self(&[Var::Name, Var::Email, Var::Product, Var::Base, Var::Role]);
    pub(crate) const EMAIL_CHANGED: Self = Self(&[
        Var::Name,
        Var::Email,
        Var::Product,
        Var::Base,
        Var::NewEmail,
    ]);

    pub(crate) fn contains(self, var: Var) -> bool {
        self.0.contains(&var)
    }

    fn knows(self, name: &str) -> bool {
        self.0.iter().any(|v| v.name() == name)
    }

    fn describe(self) -> String {
        let mut out = String::new();
        for (i, var) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if *var == Var::Granted {
                out.push_str("`{% if granted %}…{% else %}…{% endif %}`");
            } else {
                let _ = write!(out, "`{{{{ {} }}}}`", var.name());
            }
        }
        out
    }
}

/// The values of one email.
#[derive(Debug, Clone)]
pub(crate) struct Values<'a> {
    pub(crate) name: &'a str,
    pub(crate) email: &'a str,
    pub(crate) product: &'a str,
    pub(crate) base: &'a str,
    pub(crate) link: Option<String>,
    pub(crate) role: Option<&'a str>,
    pub(crate) new_email: Option<&'a str>,
    pub(crate) granted: bool,
}

impl Values<'_> {
    /// The context of a template: only what its vocabulary offers, so that anything else is an
    /// undefined variable.
    fn context(&self, vocabulary: Vocabulary) -> Value {
        let mut context = BTreeMap::new();
        for var in vocabulary.0 {
            let value = match var {
                Var::Name => Some(Value::from(self.name)),
                Var::Email => Some(Value::from(self.email)),
                Var::Product => Some(Value::from(self.product)),
                Var::Base => Some(Value::from(self.base)),
                Var::Link => self.link.as_deref().map(Value::from),
                Var::Role => self.role.map(Value::from),
                Var::NewEmail => self.new_email.map(Value::from),
                Var::Granted => Some(Value::from(self.granted)),
            };
            if let Some(value) = value {
                context.insert(var.name(), value);
            }
        }
        Value::from(context)
    }
}

/// The template files, in the order they are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemplateName {
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
    pub(crate) const ALL: [TemplateName; 9] = [
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

    pub(crate) const fn file_name(self) -> &'static str {
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

    pub(crate) const fn vocabulary(self) -> Vocabulary {
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

    /// Whether this is the template of a kind of email (with a header block), not the header or
    /// footer that every email shares.
    const fn is_mail(self) -> bool {
        !matches!(self, TemplateName::Header | TemplateName::Footer)
    }
}

/// A header line of a kind's template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderField {
    Subject,
    Button,
}

impl HeaderField {
    const fn key(self) -> &'static str {
        match self {
            HeaderField::Subject => "Subject",
            HeaderField::Button => "Button",
        }
    }
}

/// The name in the environment of a template's body, or of one of its header values.
fn env_name(name: TemplateName, field: Option<HeaderField>) -> String {
    match field {
        None => name.file_name().to_owned(),
        Some(field) => format!("{}#{}", name.file_name(), field.key()),
    }
}

/// The HTML frame of every email; not a template of `MAIL_TEMPLATE_DIR`.
pub(crate) const LAYOUT: &str = "layout.html";

/// A template with its header block taken apart; every piece keeps the line numbers of the
/// file (the lines before it are left empty), so that minijinja's messages point into the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MailSource {
    pub(crate) subject: Option<String>,
    pub(crate) button: Option<String>,
    pub(crate) body: String,
}

const NO_SUBJECT: &str =
    "line 1: a template must start with `Subject: …` (then an empty line and the body)";

/// Splits a kind's template into its header block (`Subject: …` on the first line, optionally
/// `Button: …`, ended by an empty line) and its Markdown body.
///
/// # Errors
/// A message saying what is wrong with the header block and on which line.
pub(crate) fn split_header(source: &str) -> Result<MailSource, String> {
    let mut subject = None;
    let mut button = None;
    let mut offset = 0;
    let mut line_number = 0;
    loop {
        line_number += 1;
        let line_end = source[offset..]
            .find('\n')
            .map_or(source.len(), |n| offset + n);
        let line = &source[offset..line_end];
        offset = (line_end + 1).min(source.len());
        if line.trim().is_empty() {
            if subject.is_none() {
                return Err(NO_SUBJECT.to_owned());
            }
            break;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(if subject.is_none() {
                NO_SUBJECT.to_owned()
            } else {
                format!(
                    "line {line_number}: `{line}` is not a header line (`Button: …`); end the header with an empty line"
                )
            });
        };
        let value = value.trim();
        let key = key.trim();
        let slot = if key.eq_ignore_ascii_case("subject") {
            &mut subject
        } else if key.eq_ignore_ascii_case("button") && subject.is_some() {
            &mut button
        } else if subject.is_none() {
            return Err(NO_SUBJECT.to_owned());
        } else {
            return Err(format!(
                "line {line_number}: unknown header `{key}` (known: Subject, Button); end the header with an empty line"
            ));
        };
        if slot.is_some() {
            return Err(format!("line {line_number}: `{key}` is given twice"));
        }
        if value.is_empty() {
            return Err(format!("line {line_number}: `{key}` is empty"));
        }
        *slot = Some(format!("{}{value}", "\n".repeat(line_number - 1)));
        if offset >= source.len() {
            break;
        }
    }
    Ok(MailSource {
        subject,
        button,
        body: format!("{}{}", "\n".repeat(line_number), &source[offset..]),
    })
}

/// Stand-ins look like `http://xumvalue12x`; templates may not contain the word.
const STAND_IN: &str = "xumvalue";
const STAND_IN_PREFIX: &str = "http://";

/// A piece of template rendered for one email.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The output as it is: Markdown with the values in it (the plain-text part).
    pub(crate) text: String,
    /// The output with every value replaced by its stand-in: what the Markdown parser reads.
    pub(crate) markdown: String,
    /// The values, in the order of their stand-ins.
    values: Vec<String>,
    /// Where the lines of the template start in `markdown`: `(offset, line)`.
    lines: Vec<(usize, usize)>,
}

impl Rendered {
    /// Replaces the stand-ins in `text` (taken from the parser's events) by their values. Values
    /// are not scanned again.
    pub(crate) fn fill(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(STAND_IN) {
            let (before, from) = rest.split_at(at);
            let after = &from[STAND_IN.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let value = after[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|i| self.values.get(i))
                .filter(|_| after[digits..].starts_with('x'));
            match value {
                Some(value) => {
                    out.push_str(before.strip_suffix(STAND_IN_PREFIX).unwrap_or(before));
                    out.push_str(value);
                    rest = &after[digits + 1..];
                }
                None => {
                    // Not a stand-in after all: keep it.
                    out.push_str(before);
                    out.push_str(STAND_IN);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The line of the template that produced `markdown[offset]`.
    fn line_at(&self, offset: usize) -> usize {
        let at = self.lines.partition_point(|&(start, _)| start <= offset);
        match at.checked_sub(1).map(|i| self.lines[i]) {
            Some((start, line)) => line + self.markdown[start..offset].matches('\n').count(),
            None => 1,
        }
    }
}

/// Renders `template_name` with `context`, and builds the stand-in Markdown from minijinja's
/// output spans: only output that is verbatim template text is kept as Markdown.
fn render_parts(
    env: &Environment<'static>,
    template_name: &str,
    context: Value,
) -> Result<Rendered, minijinja::Error> {
    let template = env.get_template(template_name)?;
    let (text, spans) = template.render_with_spans(context)?;
    let mut rendered = Rendered {
        markdown: String::with_capacity(text.len()),
        values: Vec::new(),
        lines: Vec::new(),
        text: String::new(),
    };
    let value = |rendered: &mut Rendered, value: &str| {
        let n = rendered.values.len();
        rendered.values.push(value.to_owned());
        let _ = write!(rendered.markdown, "{STAND_IN_PREFIX}{STAND_IN}{n}x");
    };
    let mut done = 0;
    for span in &spans {
        let range = span.output_range();
        if range.start > done {
            value(&mut rendered, &text[done..range.start]);
        }
        rendered.lines.push((rendered.markdown.len(), span.line()));
        if span.kind() == OutputSpanKind::Raw {
            rendered.markdown.push_str(&text[range.clone()]);
        } else {
            value(&mut rendered, &text[range.clone()]);
        }
        done = done.max(range.end);
    }
    if done < text.len() {
        value(&mut rendered, &text[done..]);
    }
    rendered.text = text;
    Ok(rendered)
}

/// An environment set up for the mail templates: strict undefined variables, block tags alone
/// on their line take the line with them, HTML escaping for `.html` only.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    let mut syntax = SyntaxConfig::builder();
    syntax
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true);
    env.set_syntax(syntax.build().expect("the default delimiters are valid"));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // `.md` templates are not escaped (values are kept out of the Markdown instead, see the
    // module documentation); the HTML frame is.
    env.set_auto_escape_callback(minijinja::default_auto_escape_callback);
    env
}

/// Every template, compiled and checked.
pub(crate) struct Templates {
    env: Environment<'static>,
    /// The sources as read, in the order of [`TemplateName::ALL`].
    sources: Vec<String>,
}

impl PartialEq for Templates {
    fn eq(&self, other: &Self) -> bool {
        self.sources == other.sources
    }
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

/// Why a template cannot be used, and which file it is.
#[derive(Debug)]
pub(crate) struct LoadError {
    pub(crate) file: PathBuf,
    pub(crate) reason: String,
}

impl Templates {
    /// The built-in templates, overridden by the files of `dir` where it has them; each checked
    /// by rendering it with sample values.
    pub(crate) fn load(dir: Option<&Path>) -> Result<Self, LoadError> {
        if let Some(dir) = dir {
            check_dir(dir)?;
        }
        let mut env = environment();
        env.add_template(LAYOUT, include_str!("layout.html"))
            .map_err(|e| LoadError {
                file: PathBuf::from("built-in").join(LAYOUT),
                reason: describe_error(&e, Vocabulary(&[])),
            })?;

        let mut files = Vec::new();
        let mut sources = Vec::new();
        for name in TemplateName::ALL {
            let (file, source) = read_template(dir, name)?;
            let fail = |reason: String| LoadError {
                file: file.clone(),
                reason,
            };
            check_source(&source).map_err(fail)?;
            let vocabulary = name.vocabulary();
            let pieces = if name.is_mail() {
                let split = split_header(&source).map_err(fail)?;
                vec![
                    (None, Some(split.body)),
                    (Some(HeaderField::Subject), split.subject),
                    (Some(HeaderField::Button), split.button),
                ]
            } else {
                vec![(None, Some(source.clone()))]
            };
            for (field, piece) in pieces {
                let Some(piece) = piece else { continue };
                env.add_template_owned(env_name(name, field), piece.clone())
                    .map_err(|e| fail(describe_error(&e, vocabulary)))?;
                let template = env
                    .get_template(&env_name(name, field))
                    .map_err(|e| fail(describe_error(&e, vocabulary)))?;
                let globals: Vec<_> = env.globals().map(|(g, _)| g.to_owned()).collect();
                let mut unknown: Vec<_> = template
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|v| !vocabulary.knows(v) && !globals.contains(v))
                    .collect();
                unknown.sort();
                if let Some(var) = unknown.first() {
                    let line = line_of_variable(&piece, var)
                        .map(|n| format!("line {n}: "))
                        .unwrap_or_default();
                    return Err(fail(format!(
                        "{line}unknown variable `{var}`; this template knows {}",
                        vocabulary.describe()
                    )));
                }
            }
            files.push(file);
            sources.push(source);
        }
        let templates = Self { env, sources };
        for (name, file) in TemplateName::ALL.into_iter().zip(files) {
            templates
                .check(name)
                .map_err(|reason| LoadError { file, reason })?;
        }
        templates
            .render_layout("Subject", String::new(), String::new(), String::new())
            .map_err(|e| LoadError {
                file: PathBuf::from("built-in").join(LAYOUT),
                reason: describe_error(&e, Vocabulary(&[])),
            })?;
        Ok(templates)
    }

    /// Renders the template with sample values, every flag both ways, as an email would.
    fn check(&self, name: TemplateName) -> Result<(), String> {
        let vocabulary = name.vocabulary();
        for values in samples() {
            let context = values.context(vocabulary);
            let fail = |e: minijinja::Error| describe_error(&e, vocabulary);
            if name.is_mail() {
                let subject = self
                    .render_header(name, HeaderField::Subject, &values)
                    .map_err(fail)?
                    .unwrap_or_default();
                if subject.is_empty() {
                    return Err(format!(
                        "the subject is empty when granted is {}",
                        values.granted
                    ));
                }
                self.render_header(name, HeaderField::Button, &values)
                    .map_err(fail)?;
            }
            let body = render_parts(&self.env, &env_name(name, None), context).map_err(fail)?;
            check_markdown(&body)?;
            if vocabulary.contains(Var::Link)
                && let Some(link) = &values.link
                && !body.text.contains(link.as_str())
            {
                return Err(
                    "the body never shows `{{ link }}`, the link this email exists for".to_owned(),
                );
            }
        }
        Ok(())
    }

    /// The body of `name` (or the header or footer) for one email.
    pub(crate) fn render_body(
        &self,
        name: TemplateName,
        values: &Values<'_>,
    ) -> Result<Rendered, minijinja::Error> {
        render_parts(
            &self.env,
            &env_name(name, None),
            values.context(name.vocabulary()),
        )
    }

    /// A header value of a kind's template, on one line; `None` when the template has no such
    /// header.
    pub(crate) fn render_header(
        &self,
        name: TemplateName,
        field: HeaderField,
        values: &Values<'_>,
    ) -> Result<Option<String>, minijinja::Error> {
        let Ok(template) = self.env.get_template(&env_name(name, Some(field))) else {
            return Ok(None);
        };
        let text = template.render(values.context(name.vocabulary()))?;
        Ok(Some(one_line(&text)))
    }

    /// The HTML frame around the parts of an email: `subject` is escaped, the parts are HTML.
    pub(crate) fn render_layout(
        &self,
        subject: &str,
        header: String,
        body: String,
        footer: String,
    ) -> Result<String, minijinja::Error> {
        self.env.get_template(LAYOUT)?.render(minijinja::context! {
            subject => subject,
            header => Value::from_safe_string(header),
            body => Value::from_safe_string(body),
            footer => Value::from_safe_string(footer),
        })
    }
}

/// A header value on one line: line breaks and other control characters become spaces.
pub(crate) fn one_line(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A minijinja error as a reason: the line first, then what is wrong.
fn describe_error(error: &minijinja::Error, vocabulary: Vocabulary) -> String {
    let mut out = String::new();
    if let Some(line) = error.line() {
        let _ = write!(out, "line {line}: ");
    }
    let _ = write!(out, "{}", error.kind());
    if let Some(detail) = error.detail() {
        let _ = write!(out, ": {detail}");
    }
    if error.kind() == ErrorKind::UndefinedError {
        let _ = write!(out, "; this template knows {}", vocabulary.describe());
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(out, ": {cause}");
        source = cause.source();
    }
    out
}

/// The first line where `var` is used inside a `{{ … }}` or `{% … %}` tag.
fn line_of_variable(source: &str, var: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    source.lines().enumerate().find_map(|(i, line)| {
        let used = line.match_indices(var).any(|(at, _)| {
            let before = &line[..at];
            let open = before.rfind("{{").max(before.rfind("{%"));
            let close = before.rfind("}}").max(before.rfind("%}"));
            open > close
                && !before.chars().next_back().is_some_and(is_ident)
                && !line[at + var.len()..].chars().next().is_some_and(is_ident)
        });
        used.then_some(i + 1)
    })
}

/// Checks what minijinja would accept but an email should not: the stand-in word, and the
/// placeholders of the template language this service used before minijinja (`{name}`,
/// `{#granted}…{/granted}`), which would otherwise show as typed.
fn check_source(source: &str) -> Result<(), String> {
    let line_of = |at: usize| 1 + source[..at].matches('\n').count();
    if let Some(at) = source.find(STAND_IN) {
        return Err(format!(
            "line {}: `{STAND_IN}` is reserved and cannot appear in a template",
            line_of(at)
        ));
    }
    let mut i = 0;
    while let Some(found) = source[i..].find('{') {
        let at = i + found;
        let rest = &source[at..];
        // Skip minijinja's own tags.
        let closing = match rest.as_bytes().get(1) {
            Some(b'{') => Some("}}"),
            Some(b'%') => Some("%}"),
            Some(b'#') if !rest.starts_with("{#granted}") => Some("#}"),
            _ => None,
        };
        if let Some(closing) = closing {
            i = rest[2..]
                .find(closing)
                .map_or(source.len(), |end| at + 2 + end + 2);
            continue;
        }
        if let Some(end) = rest.find('}') {
            let tag = &rest[1..end];
            let replacement = match tag {
                "#granted" => Some("{% if granted %}".to_owned()),
                "^granted" => Some("{% if not granted %}".to_owned()),
                "/granted" => Some("{% endif %}".to_owned()),
                _ => Var::ALL
                    .iter()
                    .find(|v| v.name() == tag && **v != Var::Granted)
                    .map(|v| format!("{{{{ {} }}}}", v.name())),
            };
            if let Some(replacement) = replacement {
                return Err(format!(
                    "line {}: `{{{tag}}}` is the placeholder syntax of earlier versions; write `{replacement}` (templates are minijinja templates)",
                    line_of(at)
                ));
            }
        }
        i = at + 1;
    }
    Ok(())
}

/// Raw HTML in a template would show as tags in the plain-text part, and could smuggle in what
/// the inline styling is meant to avoid (`<style>`): refuse it.
fn check_markdown(rendered: &Rendered) -> Result<(), String> {
    let parser = Parser::new_ext(&rendered.markdown, markdown::options()).into_offset_iter();
    for (event, range) in parser {
        if let Event::Html(html) | Event::InlineHtml(html) = event {
            return Err(format!(
                "line {}: raw HTML ({}) is not allowed in mail templates: write Markdown (the plain-text part shows the template as it is)",
                rendered.line_at(range.start),
                html.trim()
            ));
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

/// The file of `name` in `dir` when there is one, else the built-in template; with the path to
/// name in errors (`built-in/<name>.md` for a built-in).
fn read_template(dir: Option<&Path>, name: TemplateName) -> Result<(PathBuf, String), LoadError> {
    let overriding = dir
        .map(|d| d.join(name.file_name()))
        .filter(|path| path.exists());
    match overriding {
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(source) => Ok((path, source.replace("\r\n", "\n"))),
            Err(e) => Err(LoadError {
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
fn check_dir(dir: &Path) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError {
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

#[cfg(test)]
mod tests;
