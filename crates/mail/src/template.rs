//! The small template language of the mail templates: Markdown with `{placeholder}`s and
//! `{#flag}…{/flag}` / `{^flag}…{/flag}` sections, and, for the templates of a kind of email, a
//! header block (`Subject:`, `Button:`) ended by an empty line.
//!
//! Templates are parsed once, when the [`Renderer`](crate::Renderer) is made, so that a mistake
//! in one stops start-up instead of an email.

use std::fmt::Write as _;

/// A value that a template can insert.
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
}

impl Var {
    const ALL: [Var; 7] = [
        Var::Name,
        Var::Email,
        Var::Product,
        Var::Base,
        Var::Link,
        Var::Role,
        Var::NewEmail,
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
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    const fn index(self) -> usize {
        self as usize
    }

    /// Whether the value is a URL: its stand-in in Markdown then looks like one, so that
    /// `<{link}>` is an autolink and `[text]({link})` a link.
    const fn is_url(self) -> bool {
        matches!(self, Var::Base | Var::Link)
    }
}

/// A condition a section can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flag {
    /// PRO status changed: true when granted, false when revoked.
    Granted,
}

impl Flag {
    const ALL: [Flag; 1] = [Flag::Granted];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Flag::Granted => "granted",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// What one template may use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vocabulary {
    pub(crate) vars: &'static [Var],
    pub(crate) flags: &'static [Flag],
}

const COMMON: [Var; 4] = [Var::Name, Var::Email, Var::Product, Var::Base];

impl Vocabulary {
    /// Header and footer, and the kinds without a value of their own.
    pub(crate) const COMMON: Self = Self {
        vars: &COMMON,
        flags: &[],
    };
    pub(crate) const WITH_LINK: Self = Self {
        vars: &[Var::Name, Var::Email, Var::Product, Var::Base, Var::Link],
        flags: &[],
    };
    pub(crate) const PRO_STATUS: Self = Self {
        vars: &COMMON,
        flags: &[Flag::Granted],
    };
    pub(crate) const ROLE: Self = Self {
        vars: &[Var::Name, Var::Email, Var::Product, Var::Base, Var::Role],
        flags: &[],
    };
    pub(crate) const EMAIL_CHANGED: Self = Self {
        vars: &[
            Var::Name,
            Var::Email,
            Var::Product,
            Var::Base,
            Var::NewEmail,
        ],
        flags: &[],
    };

    fn describe(&self) -> String {
        let mut out = String::new();
        for (i, var) in self.vars.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{{{}}}", var.name());
        }
        for flag in self.flags {
            let _ = write!(out, ", {{#{0}}}…{{/{0}}}", flag.name());
        }
        out
    }
}

/// A parsed piece of template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Text(String),
    Var(Var),
    Section {
        flag: Flag,
        inverted: bool,
        body: Vec<Node>,
    },
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
    pub(crate) fn get(&self, var: Var) -> &str {
        match var {
            Var::Name => self.name,
            Var::Email => self.email,
            Var::Product => self.product,
            Var::Base => self.base,
            // The vocabulary of a template only offers these where they are set.
            Var::Link => self.link.as_deref().unwrap_or_default(),
            Var::Role => self.role.unwrap_or_default(),
            Var::NewEmail => self.new_email.unwrap_or_default(),
        }
    }

    fn flag(&self, flag: Flag) -> bool {
        match flag {
            Flag::Granted => self.granted,
        }
    }
}

/// Marks where a value goes in the Markdown handed to the parser: letters and digits only (with
/// `http://` before it for URLs), so that Markdown neither reads anything into it nor splits it,
/// and templates may not contain it.
const STAND_IN: &str = "xumvalue";
const URL_STAND_IN_PREFIX: &str = "http://";

/// How values are written when a template is expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    /// As they are (the subject and the plain-text part).
    Raw,
    /// As stand-ins, replaced by [`fill_stand_ins`] in the events of the Markdown parser, so
    /// that no value is ever read as Markdown or HTML.
    StandIn,
}

/// Expands `nodes` for one email.
pub(crate) fn expand(nodes: &[Node], values: &Values<'_>, fill: Fill, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Var(var) => match fill {
                Fill::Raw => out.push_str(values.get(*var)),
                Fill::StandIn => {
                    if var.is_url() {
                        out.push_str(URL_STAND_IN_PREFIX);
                    }
                    let _ = write!(out, "{STAND_IN}{}x", var.index());
                }
            },
            Node::Section {
                flag,
                inverted,
                body,
            } => {
                if values.flag(*flag) != *inverted {
                    expand(body, values, fill, out);
                }
            }
        }
    }
}

/// Replaces the stand-ins that [`expand`] wrote with [`Fill::StandIn`] by their values.
pub(crate) fn fill_stand_ins(text: &str, values: &Values<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(STAND_IN) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let after = &from[STAND_IN.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let var = after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|i| Var::ALL.get(i).copied())
            .filter(|_| after[digits..].starts_with('x'));
        match var {
            Some(var) => {
                if var.is_url() && out.ends_with(URL_STAND_IN_PREFIX) {
                    out.truncate(out.len() - URL_STAND_IN_PREFIX.len());
                }
                out.push_str(values.get(var));
                rest = &after[digits + 1..];
            }
            None => {
                // Not a stand-in after all (templates cannot contain one; values are not
                // scanned): keep it.
                out.push_str(STAND_IN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses a template body (or a header value). `first_line` is the line number of `source`'s
/// first line in its file, for messages.
///
/// # Errors
/// A message saying what is wrong and on which line.
pub(crate) fn parse(
    source: &str,
    vocabulary: &Vocabulary,
    first_line: usize,
) -> Result<Vec<Node>, String> {
    struct Open {
        flag: Flag,
        inverted: bool,
        line: usize,
        outer: Vec<Node>,
    }
    let line_of = |at: usize| first_line + source[..at].matches('\n').count();
    let mut stack: Vec<Open> = Vec::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, nodes: &mut Vec<Node>| {
        if !text.is_empty() {
            nodes.push(Node::Text(std::mem::take(text)));
        }
    };

    let mut i = 0;
    while i < source.len() {
        let rest = &source[i..];
        if rest.starts_with("{{") {
            text.push('{');
            i += 2;
            continue;
        }
        if rest.starts_with("}}") {
            text.push('}');
            i += 2;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        if c != '{' {
            text.push(c);
            i += c.len_utf8();
            continue;
        }
        let line = line_of(i);
        let Some(close) = rest
            .find(['}', '\n'])
            .filter(|&c| rest.as_bytes()[c] == b'}')
        else {
            return Err(format!(
                "line {line}: `{{` is not closed on its line (write `{{{{` for a literal brace)"
            ));
        };
        let tag = &rest[1..close];
        let end = i + close + 1;
        let (sigil, ident) = match tag.chars().next() {
            Some(s @ ('#' | '^' | '/')) => (Some(s), &tag[1..]),
            _ => (None, tag),
        };
        if ident.is_empty()
            || !ident
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!(
                "line {line}: `{{{tag}}}` is not a placeholder (write `{{{{` for a literal brace)"
            ));
        }
        let Some(sigil) = sigil else {
            let var = Var::from_name(ident)
                .filter(|v| vocabulary.vars.contains(v))
                .ok_or_else(|| {
                    format!(
                        "line {line}: unknown placeholder `{{{ident}}}`; this template knows {}",
                        vocabulary.describe()
                    )
                })?;
            flush(&mut text, &mut nodes);
            nodes.push(Node::Var(var));
            i = end;
            continue;
        };
        let flag = Flag::from_name(ident)
            .filter(|f| vocabulary.flags.contains(f))
            .ok_or_else(|| {
                format!(
                    "line {line}: unknown section `{{{tag}}}`; this template knows {}",
                    vocabulary.describe()
                )
            })?;
        // A section tag alone on its line takes the line with it, so that it leaves no blank
        // line behind.
        let line_start = source[..i].rfind('\n').map_or(0, |n| n + 1);
        let line_end = source[end..].find('\n').map_or(source.len(), |n| end + n);
        let standalone =
            source[line_start..i].trim().is_empty() && source[end..line_end].trim().is_empty();
        let mut next = end;
        if standalone {
            text.truncate(text.len().saturating_sub(i - line_start));
            next = (line_end + 1).min(source.len());
        }
        flush(&mut text, &mut nodes);
        if sigil == '/' {
            match stack.pop() {
                Some(open) if open.flag == flag => {
                    let body = std::mem::replace(&mut nodes, open.outer);
                    nodes.push(Node::Section {
                        flag,
                        inverted: open.inverted,
                        body,
                    });
                }
                Some(open) => {
                    return Err(format!(
                        "line {line}: `{{/{ident}}}` closes `{{{}{}}}` of line {}",
                        if open.inverted { '^' } else { '#' },
                        open.flag.name(),
                        open.line
                    ));
                }
                None => {
                    return Err(format!(
                        "line {line}: `{{/{ident}}}` closes no open section"
                    ));
                }
            }
        } else {
            stack.push(Open {
                flag,
                inverted: sigil == '^',
                line,
                outer: std::mem::take(&mut nodes),
            });
        }
        i = next;
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "line {}: `{{{}{}}}` is never closed with `{{/{}}}`",
            open.line,
            if open.inverted { '^' } else { '#' },
            open.flag.name(),
            open.flag.name()
        ));
    }
    flush(&mut text, &mut nodes);
    if let Some(at) = source.find(STAND_IN) {
        return Err(format!(
            "line {}: `{STAND_IN}` is reserved and cannot appear in a template",
            line_of(at)
        ));
    }
    Ok(nodes)
}

/// The template of one kind of email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MailTemplate {
    pub(crate) subject: Vec<Node>,
    /// The label of the button(s): a paragraph that holds nothing but a link.
    pub(crate) button: Option<Vec<Node>>,
    pub(crate) body: Vec<Node>,
}

/// Parses a template with its header block: `Subject: …` on the first line, optionally
/// `Button: …`, then an empty line and the Markdown body.
///
/// # Errors
/// A message saying what is wrong and on which line.
pub(crate) fn parse_mail_template(
    source: &str,
    vocabulary: &Vocabulary,
) -> Result<MailTemplate, String> {
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
                return Err(
                    "line 1: a template must start with `Subject: …` (then an empty line and the body)"
                        .to_owned(),
                );
            }
            break;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(if subject.is_none() {
                "line 1: a template must start with `Subject: …` (then an empty line and the body)"
                    .to_owned()
            } else {
                format!(
                    "line {line_number}: `{line}` is not a header line (`Button: …`); end the header with an empty line"
                )
            });
        };
        let value = value.trim();
        let parsed = parse(value, vocabulary, line_number)?;
        let key = key.trim();
        let slot = if key.eq_ignore_ascii_case("subject") {
            &mut subject
        } else if key.eq_ignore_ascii_case("button") && subject.is_some() {
            &mut button
        } else if subject.is_none() {
            return Err(
                "line 1: a template must start with `Subject: …` (then an empty line and the body)"
                    .to_owned(),
            );
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
        *slot = Some(parsed);
        if offset >= source.len() {
            break;
        }
    }
    let body = parse(&source[offset..], vocabulary, line_number + 1)?;
    Ok(MailTemplate {
        subject: subject.unwrap_or_default(),
        button,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values<'static> {
        Values {
            name: "ada",
            email: "ada@example.com",
            product: "Users",
            base: "https://u.example",
            link: Some("https://u.example/x?token=1".into()),
            role: None,
            new_email: None,
            granted: true,
        }
    }

    fn raw(nodes: &[Node], values: &Values<'_>) -> String {
        let mut out = String::new();
        expand(nodes, values, Fill::Raw, &mut out);
        out
    }

    #[test]
    fn placeholders_braces_and_sections_expand() {
        let nodes = parse(
            "Hi {name} {{literal}} }\n{#granted}\nyes {product}\n{/granted}\n{^granted}no{/granted}end",
            &Vocabulary::PRO_STATUS,
            1,
        )
        .expect("parses");
        assert_eq!(raw(&nodes, &values()), "Hi ada {literal} }\nyes Users\nend");
        let revoked = Values {
            granted: false,
            ..values()
        };
        assert_eq!(raw(&nodes, &revoked), "Hi ada {literal} }\nnoend");
    }

    #[test]
    fn stand_ins_round_trip_and_urls_lose_their_fake_scheme() {
        let nodes =
            parse("<{link}> {name}{name} {base}/a", &Vocabulary::WITH_LINK, 1).expect("parses");
        let mut md = String::new();
        expand(&nodes, &values(), Fill::StandIn, &mut md);
        assert!(!md.contains("ada"), "{md}");
        assert_eq!(
            fill_stand_ins(&md, &values()),
            "<https://u.example/x?token=1> adaada https://u.example/a"
        );
    }

    #[test]
    fn mistakes_are_reported_with_their_line() {
        for (source, expected) in [
            ("a\n{nope}", "line 2: unknown placeholder `{nope}`"),
            ("{link}", "line 1: unknown placeholder `{link}`"),
            ("a\nb { c", "line 2: `{` is not closed"),
            ("{Name}", "line 1: `{Name}` is not a placeholder"),
            ("{#granted}\n\nx", "line 1: `{#granted}` is never closed"),
            ("x{/granted}", "line 1: `{/granted}` closes no open section"),
            ("{#pro}{/pro}", "line 1: unknown section `{#pro}`"),
            ("a xumvalue0x", "line 1: `xumvalue` is reserved"),
        ] {
            let err = parse(source, &Vocabulary::PRO_STATUS, 1).expect_err(source);
            assert!(err.starts_with(expected), "{source:?}: {err}");
        }
    }

    #[test]
    fn the_header_block_gives_subject_and_button() {
        let t = parse_mail_template(
            "Subject: Hi {product}\nButton: Go\n\nBody {link}\n",
            &Vocabulary::WITH_LINK,
        )
        .expect("parses");
        assert_eq!(raw(&t.subject, &values()), "Hi Users");
        assert_eq!(
            raw(t.button.as_deref().unwrap_or_default(), &values()),
            "Go"
        );
        assert_eq!(
            raw(&t.body, &values()),
            "Body https://u.example/x?token=1\n"
        );

        for (source, expected) in [
            (
                "Hello\n\nbody",
                "line 1: a template must start with `Subject: …`",
            ),
            (
                "Button: x\n\nbody",
                "line 1: a template must start with `Subject: …`",
            ),
            ("\nbody", "line 1: a template must start with `Subject: …`"),
            (
                "Subject: a\nFrom: b\n\nbody",
                "line 2: unknown header `From`",
            ),
            (
                "Subject: a\nSubject: b\n\nbody",
                "line 2: `Subject` is given twice",
            ),
            (
                "Subject: a\n\nx {nope}",
                "line 3: unknown placeholder `{nope}`",
            ),
            (
                "Subject: {nope}\n\nx",
                "line 1: unknown placeholder `{nope}`",
            ),
        ] {
            let err = parse_mail_template(source, &Vocabulary::COMMON).expect_err(source);
            assert!(err.starts_with(expected), "{source:?}: {err}");
        }
    }
}
