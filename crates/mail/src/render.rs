//! Turns the domain's [`Mail`] into a subject, a plain-text body and an HTML body.

use std::fmt::{self, Write as _};

use um_domain::model::{RawToken, UserId};
use um_domain::ports::{Mail, MailKind};
use url::Url;

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

/// Renders every kind of email the service sends. Links are absolute, built on `PUBLIC_BASE_URL`.
#[derive(Debug, Clone)]
pub struct Renderer {
    base: Url,
    product_name: String,
}

impl Renderer {
    /// `public_base_url` is where the service is reached from outside (with or without a trailing
    /// slash, possibly with a path prefix); `product_name` names the service in subjects and text.
    #[must_use]
    pub fn new(public_base_url: Url, product_name: impl Into<String>) -> Self {
        let mut base = public_base_url;
        base.set_query(None);
        base.set_fragment(None);
        Self {
            base,
            product_name: product_name.into(),
        }
    }

    /// The link that confirms an email address: `{PUBLIC_BASE_URL}/verify-email/{user_id}/{token}`.
    #[must_use]
    pub fn verification_link(&self, user_id: UserId, token: &RawToken) -> String {
        self.link(&["verify-email", &user_id.to_string(), token.as_str()])
    }

    /// The base URL with `segments` appended as path segments (each percent-encoded as needed).
    fn link(&self, segments: &[&str]) -> String {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        } else {
            // A base that cannot carry a path (`mailto:` and the like) is a configuration mistake;
            // still produce something readable rather than nothing.
            return format!(
                "{}/{}",
                self.base.as_str().trim_end_matches('/'),
                segments.join("/")
            );
        }
        url.into()
    }

    #[must_use]
    pub fn render(&self, mail: &Mail) -> RenderedMail {
        let product = &self.product_name;
        let name = &mail.greeting_name;
        match &mail.kind {
            MailKind::VerifyEmail { user_id, token } => {
                let link = self.verification_link(*user_id, token);
                let subject = format!("Confirm your email address for {product}");
                let text = format!(
                    "Hello {name},\n\
                     \n\
                     Welcome to {product}! Please confirm your email address by opening this link:\n\
                     \n\
                     {link}\n\
                     \n\
                     If you did not create an account, you can ignore this email.\n\
                     {}",
                    self.text_footer()
                );
                let mut body = String::new();
                paragraph(&mut body, &format!("Hello {},", escape(name)));
                paragraph(
                    &mut body,
                    &format!(
                        "Welcome to {}! Please confirm your email address:",
                        escape(product)
                    ),
                );
                button(&mut body, &link, "Confirm email address");
                paragraph(
                    &mut body,
                    &format!(
                        "If the button does not work, open this link:<br>\
                         <a href=\"{0}\" style=\"color:#1d4ed8;word-break:break-all\">{0}</a>",
                        escape(&link)
                    ),
                );
                paragraph(
                    &mut body,
                    "If you did not create an account, you can ignore this email.",
                );
                let html = self.html_page(&subject, &body);
                RenderedMail {
                    subject,
                    text,
                    html,
                }
            }
            MailKind::AccountLocked => {
                let subject = format!("Your {product} account has been locked");
                let text = format!(
                    "Hello {name},\n\
                     \n\
                     Your {product} account has been locked after too many failed login attempts.\n\
                     \n\
                     Please contact an administrator to have it unlocked. If these attempts were not \
                     yours, someone may be trying to guess your password.\n\
                     {}",
                    self.text_footer()
                );
                let mut body = String::new();
                paragraph(&mut body, &format!("Hello {},", escape(name)));
                paragraph(
                    &mut body,
                    &format!(
                        "Your {} account has been <strong>locked</strong> after too many failed \
                         login attempts.",
                        escape(product)
                    ),
                );
                paragraph(
                    &mut body,
                    "Please contact an administrator to have it unlocked. If these attempts were \
                     not yours, someone may be trying to guess your password.",
                );
                let html = self.html_page(&subject, &body);
                RenderedMail {
                    subject,
                    text,
                    html,
                }
            }
            MailKind::ProStatusChanged { is_professional } => {
                let (subject, line) = if *is_professional {
                    (
                        format!("You are now a {product} PRO member"),
                        "Your account has been upgraded to PRO: your profile now shows the PRO badge.",
                    )
                } else {
                    (
                        format!("Your {product} PRO status has ended"),
                        "Your account is no longer a PRO account.",
                    )
                };
                let text = format!("Hello {name},\n\n{line}\n{}", self.text_footer());
                let mut body = String::new();
                paragraph(&mut body, &format!("Hello {},", escape(name)));
                paragraph(&mut body, line);
                let html = self.html_page(&subject, &body);
                RenderedMail {
                    subject,
                    text,
                    html,
                }
            }
        }
    }

    fn text_footer(&self) -> String {
        format!(
            "\n-- \n{}\n{}\n",
            self.product_name,
            self.base.as_str().trim_end_matches('/')
        )
    }

    fn html_page(&self, title: &str, body: &str) -> String {
        format!(
            "<!DOCTYPE html>\n\
             <html lang=\"en\">\n\
             <head>\n\
             <meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n\
             </head>\n\
             <body style=\"margin:0;padding:24px;background:#f4f5f7;\
             font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
             font-size:16px;line-height:1.5;color:#1f2933\">\n\
             <div style=\"max-width:560px;margin:0 auto;padding:24px;background:#ffffff;\
             border-radius:8px\">\n\
             {body}\
             <hr style=\"border:none;border-top:1px solid #e4e7eb;margin:24px 0 12px\">\n\
             <p style=\"margin:0;font-size:13px;color:#616e7c\">{product}</p>\n\
             </div>\n\
             </body>\n\
             </html>\n",
            title = escape(title),
            product = escape(&self.product_name),
        )
    }
}

fn paragraph(out: &mut String, inner_html: &str) {
    let _ = writeln!(out, "<p style=\"margin:0 0 16px\">{inner_html}</p>");
}

fn button(out: &mut String, href: &str, label: &str) {
    let _ = writeln!(
        out,
        "<p style=\"margin:24px 0\"><a href=\"{}\" style=\"display:inline-block;padding:12px 20px;\
         background:#1d4ed8;color:#ffffff;text-decoration:none;border-radius:6px;\
         font-weight:600\">{}</a></p>",
        escape(href),
        escape(label)
    );
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
mod pro_tests {
    use super::*;
    use um_domain::model::Email;

    #[test]
    fn pro_status_mails_say_which_way_it_changed_and_escape_the_name() {
        let renderer = Renderer::new(
            url::Url::parse("http://localhost:8000").expect("a URL"),
            "User Management",
        );
        for (is_professional, word) in [(true, "now a"), (false, "ended")] {
            let rendered = renderer.render(&Mail {
                to: Email::parse("a@example.com").expect("valid"),
                greeting_name: "<b>ada</b>".into(),
                kind: MailKind::ProStatusChanged { is_professional },
            });
            assert!(rendered.subject.contains(word), "{}", rendered.subject);
            assert!(rendered.html.contains("&lt;b&gt;ada&lt;/b&gt;"));
            assert!(rendered.text.contains("Hello <b>ada</b>,"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use um_domain::model::Email;

    fn verify_mail(user_id: UserId, token: &str, name: &str) -> Mail {
        Mail {
            to: Email::parse("ada@example.com").expect("email"),
            greeting_name: name.to_owned(),
            kind: MailKind::VerifyEmail {
                user_id,
                token: RawToken::from_client(token),
            },
        }
    }

    fn renderer(base: &str) -> Renderer {
        Renderer::new(Url::parse(base).expect("url"), "User Management")
    }

    #[test]
    fn the_verification_link_is_right_with_and_without_a_trailing_slash() {
        let id = UserId::new();
        let token = RawToken::generate();
        let mail = Mail {
            to: Email::parse("ada@example.com").expect("email"),
            greeting_name: "ada".into(),
            kind: MailKind::VerifyEmail {
                user_id: id,
                token: token.clone(),
            },
        };
        for (base, expected_prefix) in [
            ("http://localhost:8000", "http://localhost:8000"),
            ("http://localhost:8000/", "http://localhost:8000"),
            (
                "https://users.example.com/api",
                "https://users.example.com/api",
            ),
            (
                "https://users.example.com/api/",
                "https://users.example.com/api",
            ),
            (
                "https://users.example.com/?x=1#top",
                "https://users.example.com",
            ),
        ] {
            let expected = format!("{expected_prefix}/verify-email/{id}/{}", token.as_str());
            let rendered = renderer(base).render(&mail);
            assert!(
                rendered.text.lines().any(|l| l == expected),
                "{base}: link {expected} not on a line of its own in\n{}",
                rendered.text
            );
            assert!(
                rendered.html.contains(&format!("href=\"{expected}\"")),
                "{base}: link missing from the HTML"
            );
            assert!(
                !rendered.text.contains("//verify-email"),
                "{base}: double slash"
            );
        }
    }

    #[test]
    fn link_segments_are_percent_encoded() {
        let id = UserId::new();
        let rendered = renderer("http://localhost:8000").render(&verify_mail(id, "a/b c", "ada"));
        assert!(
            rendered
                .text
                .contains(&format!("/verify-email/{id}/a%2Fb%20c\n"))
        );
    }

    #[test]
    fn user_controlled_text_is_escaped_in_html_only() {
        let name = "<script>alert('x')</script>&\"";
        let rendered =
            renderer("http://localhost:8000").render(&verify_mail(UserId::new(), "t", name));
        assert!(!rendered.html.contains("<script>"), "{}", rendered.html);
        assert!(
            rendered
                .html
                .contains("Hello &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;,")
        );
        assert!(rendered.text.starts_with(&format!("Hello {name},\n")));

        let locked = Mail {
            kind: MailKind::AccountLocked,
            ..verify_mail(UserId::new(), "t", name)
        };
        let rendered = renderer("http://localhost:8000").render(&locked);
        assert!(!rendered.html.contains("<script>"));
    }

    #[test]
    fn the_product_name_is_escaped_too() {
        let r = Renderer::new(
            Url::parse("http://localhost:8000").expect("url"),
            "Users & <Co>",
        );
        let rendered = r.render(&verify_mail(UserId::new(), "t", "ada"));
        assert!(rendered.html.contains("Users &amp; &lt;Co&gt;"));
        assert!(!rendered.html.contains("<Co>"));
        assert_eq!(
            rendered.subject,
            "Confirm your email address for Users & <Co>"
        );
    }

    #[test]
    fn the_account_locked_mail_says_what_happened_and_what_to_do() {
        let mail = Mail {
            to: Email::parse("ada@example.com").expect("email"),
            greeting_name: "ada".into(),
            kind: MailKind::AccountLocked,
        };
        let rendered = renderer("http://localhost:8000").render(&mail);
        assert_eq!(
            rendered.subject,
            "Your User Management account has been locked"
        );
        for part in [&rendered.text, &rendered.html] {
            assert!(part.contains("Hello ada,"));
            assert!(part.contains("too many failed"));
            assert!(part.contains("contact an administrator"));
        }
        assert!(rendered.html.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn debug_output_hides_the_bodies() {
        let rendered = renderer("http://localhost:8000").render(&verify_mail(
            UserId::new(),
            "secret-token",
            "ada",
        ));
        assert!(!format!("{rendered:?}").contains("secret-token"));
    }
}
