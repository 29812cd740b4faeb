//! The few server-rendered pages (password reset, unlock): plain HTML, no JavaScript, rendered
//! from the minijinja templates in `crates/api/templates/` (built into the binary) with HTML
//! autoescaping and strict undefined variables, served with a restrictive
//! Content-Security-Policy and no referrer, so the token in the page's URL goes nowhere else.

use std::sync::LazyLock;

use actix_web::{HttpResponse, http::StatusCode};
use minijinja::{Environment, UndefinedBehavior, Value, context};

/// Only inline styles of our own, forms that post back to us, nothing else.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The templates, by name: `page.html` is the frame every other one extends.
const TEMPLATES: [(&str, &str); 5] = [
    ("page.html", include_str!("../templates/page.html")),
    ("message.html", include_str!("../templates/message.html")),
    (
        "password_reset.html",
        include_str!("../templates/password_reset.html"),
    ),
    (
        "password_reset_retry.html",
        include_str!("../templates/password_reset_retry.html"),
    ),
    ("unlock.html", include_str!("../templates/unlock.html")),
];

/// The page templates, compiled once. Names ending in `.html` are escaped as HTML.
static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let mut syntax = minijinja::syntax::SyntaxConfig::builder();
    syntax.keep_trailing_newline(true);
    env.set_syntax(syntax.build().expect("the default delimiters are valid"));
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .expect("the page templates are valid (checked by the tests)");
    }
    env
});

/// A page the service serves; every value in it is escaped.
#[derive(Debug, Clone, Copy)]
pub enum Page<'a> {
    /// A title and one paragraph of text.
    Message { title: &'a str, message: &'a str },
    /// The form that sets a new password with the token of a reset link.
    PasswordReset { token: &'a str },
    /// The new password was refused: why, and a link back to the form.
    PasswordResetRetry { error: &'a str, token: &'a str },
    /// The button that unlocks the account of an unlock link's token.
    Unlock { token: &'a str },
}

impl Page<'_> {
    fn template_and_context(self) -> (&'static str, Value) {
        match self {
            Page::Message { title, message } => ("message.html", context! { title, message }),
            Page::PasswordReset { token } => (
                "password_reset.html",
                context! { title => "Reset your password", token },
            ),
            Page::PasswordResetRetry { error, token } => (
                "password_reset_retry.html",
                context! {
                    title => "Reset your password",
                    error,
                    token_query => url::form_urlencoded::byte_serialize(token.as_bytes())
                        .collect::<String>(),
                },
            ),
            Page::Unlock { token } => (
                "unlock.html",
                context! { title => "Unlock your account", token },
            ),
        }
    }

    /// The page as HTML.
    ///
    /// # Errors
    /// Only if a template is broken, which the tests of this module rule out.
    pub fn render(self) -> Result<String, minijinja::Error> {
        let (name, context) = self.template_and_context();
        PAGES.get_template(name)?.render(context)
    }
}

/// A complete page with the security headers.
#[must_use]
pub fn page(status: StatusCode, page: Page<'_>) -> HttpResponse {
    let html = match page.render() {
        Ok(html) => html,
        Err(error) => {
            tracing::error!(%error, "a page template failed");
            return HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("internal error");
        }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", PAGE_CSP))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"<a href="x" onclick='y'>&</a>"#;

    fn all_pages(value: &str) -> [Page<'_>; 4] {
        [
            Page::Message {
                title: value,
                message: value,
            },
            Page::PasswordReset { token: value },
            Page::PasswordResetRetry {
                error: value,
                token: value,
            },
            Page::Unlock { token: value },
        ]
    }

    #[test]
    fn every_template_renders_and_escapes_content_and_attributes() {
        for (name, _) in TEMPLATES {
            assert!(PAGES.get_template(name).is_ok(), "{name}");
        }
        for page in all_pages(HOSTILE) {
            let html = page.render().expect("renders");
            assert!(html.starts_with("<!doctype html>\n"), "{html}");
            assert!(html.ends_with("</body>\n</html>\n"), "{html}");
            assert!(!html.contains("<a href=\"x\""), "{html}");
            assert!(!html.contains("onclick='"), "{html}");
            assert!(
                html.contains("&lt;a href=&quot;x&quot; onclick=&#x27;y&#x27;&gt;&amp;")
                    || html.contains("token=%3Ca+href%3D%22x%22+onclick%3D%27y%27%3E%26"),
                "{html}"
            );
        }
    }

    #[test]
    fn the_token_goes_into_the_form_and_the_link_back() {
        let html = Page::PasswordReset { token: "t0k\"x" }
            .render()
            .expect("renders");
        assert!(html.contains(r#"<input type="hidden" name="token" value="t0k&quot;x">"#));
        assert!(html.contains("<title>Reset your password</title>"));
        let html = Page::PasswordResetRetry {
            error: "Too short",
            token: "a b&c",
        }
        .render()
        .expect("renders");
        assert!(html.contains(r#"<p class="error">Too short</p>"#), "{html}");
        assert!(
            html.contains(r#"href="/password-reset?token=a+b%26c""#),
            "{html}"
        );
        let html = Page::Unlock { token: "t0k" }.render().expect("renders");
        assert!(html.contains(r#"<form method="post" action="/unlock">"#));
        assert!(html.contains(r#"value="t0k""#));
    }

    #[test]
    fn pages_carry_a_restrictive_policy() {
        let response = page(
            StatusCode::OK,
            Page::Message {
                title: "<T>",
                message: "x",
            },
        );
        let csp = response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"));
        assert_eq!(
            response
                .headers()
                .get("referrer-policy")
                .map(|v| v.as_bytes()),
            Some(&b"no-referrer"[..])
        );
    }
}
