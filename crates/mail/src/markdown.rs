//! Markdown to HTML for the emails: every element carries its style inline (email clients ignore
//! `<style>`), a paragraph that holds nothing but a link becomes a button, only `http`, `https`
//! and `mailto` links are kept. The Markdown is a template's output with its values replaced by
//! stand-ins (see [`crate::template`]); the values are put back into the parser's events here, as
//! text or URLs that are escaped on the way out, so that no value is read as Markdown or HTML.

use std::fmt::Write as _;

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd, TextMergeStream};

use crate::template::Rendered;

/// `text` escaped for HTML element content and quoted attribute values, by the escaping of
/// pulldown-cmark's HTML writer.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    pulldown_cmark_escape::escape_html(&mut out, text).expect("writing to a String cannot fail");
    out
}

pub(crate) fn options() -> Options {
    Options::ENABLE_STRIKETHROUGH
}

/// Where a piece of Markdown goes in the email; each part has its own look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Header,
    Body,
    Footer,
}

/// The inline styles, one per element.
pub(crate) mod style {
    pub(crate) const HEADER_P: &str = "margin:0 0 24px;font-size:18px;line-height:1.3;\
        font-weight:700;color:#1d4ed8";
    pub(crate) const P: &str = "margin:0 0 16px";
    pub(crate) const FOOTER_P: &str = "margin:0 0 8px;font-size:13px;line-height:1.4;color:#616e7c";
    pub(crate) const A: &str = "color:#1d4ed8;text-decoration:underline;word-break:break-word";
    pub(crate) const FOOTER_A: &str =
        "color:#616e7c;text-decoration:underline;word-break:break-word";
    pub(crate) const H1: &str =
        "margin:0 0 16px;font-size:24px;line-height:1.25;font-weight:700;color:#1f2933";
    pub(crate) const H2: &str =
        "margin:0 0 12px;font-size:20px;line-height:1.3;font-weight:700;color:#1f2933";
    pub(crate) const H3: &str =
        "margin:0 0 8px;font-size:17px;line-height:1.4;font-weight:700;color:#1f2933";
    pub(crate) const BUTTON_P: &str = "margin:24px 0";
    pub(crate) const BUTTON_A: &str = "display:inline-block;padding:12px 20px;\
        background-color:#1d4ed8;color:#ffffff;text-decoration:none;border-radius:6px;\
        font-weight:600";
    pub(crate) const BUTTON_URL_P: &str = "margin:0 0 16px;font-size:13px;line-height:1.4;\
        color:#616e7c;word-break:break-all";
    pub(crate) const BUTTON_URL_A: &str = "color:#1d4ed8;text-decoration:underline;\
        word-break:break-all";
    pub(crate) const LIST: &str = "margin:0 0 16px;padding-left:24px";
    pub(crate) const LI: &str = "margin:0 0 4px";
    pub(crate) const BLOCKQUOTE: &str =
        "margin:0 0 16px;padding:0 0 0 12px;border-left:3px solid #e4e7eb;color:#52606d";
    pub(crate) const CODE: &str = "font-family:SFMono-Regular,Consolas,'Liberation Mono',\
        monospace;font-size:14px;background-color:#f4f5f7;padding:1px 4px;border-radius:4px";
    pub(crate) const PRE: &str = "margin:0 0 16px;padding:12px;background-color:#f4f5f7;\
        border-radius:6px;overflow-x:auto;font-family:SFMono-Regular,Consolas,\
        'Liberation Mono',monospace;font-size:14px;line-height:1.4";
    pub(crate) const HR: &str = "border:none;border-top:1px solid #e4e7eb;margin:24px 0";
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
pub(crate) fn to_html(rendered: &Rendered, part: Part, button: Option<&str>) -> String {
    let events: Vec<Event<'_>> =
        TextMergeStream::new(Parser::new_ext(&rendered.markdown, options())).collect();

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
                        button_paragraph(&events, i - 1, rendered, button)
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
                let url = rendered.fill(dest_url);
                let safe = is_safe_url(&url);
                if safe {
                    out.push(inline(format!(
                        "<a href=\"{}\" style=\"{a_style}\">",
                        escaped(url.trim())
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
                let url = rendered.fill(dest_url);
                let safe = is_safe_url(&url) && !url.to_ascii_lowercase().starts_with("mailto:");
                if safe {
                    out.push(Event::Start(Tag::Image {
                        link_type: *link_type,
                        dest_url: CowStr::from(url),
                        title: CowStr::from(rendered.fill(title)),
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
                escaped(&rendered.fill(code))
            ))),
            Event::Text(text) => out.push(Event::Text(CowStr::from(rendered.fill(text)))),
            // Refused when the templates are loaded; should one slip through, show it as text.
            Event::Html(raw) | Event::InlineHtml(raw) => {
                out.push(Event::Text(CowStr::from(rendered.fill(raw))));
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
    rendered: &Rendered,
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
    let url = rendered.fill(dest_url);
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
                    text.push_str(&rendered.fill(t));
                }
            }
            text
        }
    };
    let href = escaped(url);
    let mut html = format!(
        "<p style=\"{}\"><a href=\"{href}\" style=\"{}\">{}</a></p>\n",
        style::BUTTON_P,
        style::BUTTON_A,
        escaped(&label)
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
