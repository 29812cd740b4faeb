use super::*;
use crate::markdown::style;
use crate::template::one_line;
use um_domain::model::{Email, Role};

/// Escaped as the HTML writer of the Markdown escapes text and links.
fn escape(text: &str) -> String {
    let mut out = String::new();
    pulldown_cmark_escape::escape_html(&mut out, text).expect("infallible");
    out
}

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
    assert!(rendered.html.contains(&format!(
        "<title>{}</title>",
        minijinja::HtmlEscape(&rendered.subject)
    )));
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
        let dir = std::env::temp_dir().join(format!("um-mail-templates-{}", uuid::Uuid::new_v4()));
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
        ("header.md", "# {{ product }} news\n"),
        (
            "verify_email.md",
            "Subject: Welcome, {{ name }}!\r\n\r\nHi {{ name }}, click below.\r\n\r\n[Verify]({{ link }})\r\n\r\n> Sent to {{ email }}.\r\n\r\n- one\r\n- two\r\n",
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
        "Subject: Role\n\n[a]({{ name }})\n\n[b](javascript:alert(1)) and [c](mailto:help@example.com)\n\n![pic]({{ name }})\n",
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
            "Subject: Hi\n\nHello {{ nickname }}\n",
            "line 3: unknown variable `nickname`",
        ),
        (
            "password_reset.md",
            "Subject: Hi\n\n<{{ link }}> {{ role }}\n",
            "line 3: unknown variable `role`",
        ),
        (
            "footer.md",
            "Bye {{ link }}\n",
            "line 1: unknown variable `link`",
        ),
        (
            "pro_status_changed.md",
            "Subject: Hi\n\n{% if granted %}\nyes\n",
            "line 4: syntax error: unexpected end of input, expected end of block",
        ),
        (
            "role_changed.md",
            "Hello {{ name }}\n",
            "must start with `Subject: …`",
        ),
        (
            "account_locked.md",
            "Subject: Hi\n\n<div>{{ link }}</div>\n",
            "line 3: raw HTML",
        ),
        ("header.md", "Hi <b>{{ name }}</b>\n", "line 1: raw HTML"),
        (
            "header.md",
            "Hi {{ name\n",
            "line 1: syntax error: unexpected end of input, expected end of variable block",
        ),
        (
            "pro_status_changed.md",
            "Subject: {% if granted %}x{% endif %}\n\nBody\n",
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
