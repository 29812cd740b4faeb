//! The few server-rendered pages (password reset, unlock): plain HTML, no JavaScript, every
//! value escaped, served with a restrictive Content-Security-Policy and no referrer, so the token
//! in the page's URL goes nowhere else.

use actix_web::{HttpResponse, http::StatusCode};

/// Only inline styles of our own, forms that post back to us, nothing else.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Escapes text for HTML content and attribute values.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// A complete page around `body` (already escaped HTML) with the security headers.
#[must_use]
pub fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let title = escape(title);
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem; color: #1f2937; }}
h1 {{ font-size: 1.4rem; }}
label {{ display: block; font-weight: 600; margin-bottom: .3rem; }}
input[type=password] {{ width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }}
button {{ margin-top: 1rem; padding: .6rem 1.2rem; font-size: 1rem; background: #1d4ed8; color: #fff; border: 0; border-radius: .3rem; }}
.hint {{ color: #6b7280; font-size: .9rem; }}
.error {{ color: #b91c1c; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"#
    );
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

    #[test]
    fn escaping_covers_content_and_attributes() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#x27;y&#x27;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn pages_carry_a_restrictive_policy() {
        let response = page(StatusCode::OK, "<T>", "<p>x</p>");
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
