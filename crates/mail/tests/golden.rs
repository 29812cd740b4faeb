//! Every kind of email, rendered with fixed values, must stay byte for byte what the golden files
//! in `tests/golden/` hold: the subject, the plain-text part and the HTML part.
//!
//! After a deliberate change of an email, `UPDATE_GOLDEN=1 cargo test -p um-mail --test golden`
//! rewrites the files; review the difference before committing it.

use std::path::{Path, PathBuf};

use um_domain::model::{Email, RawToken, Role, UserId};
use um_domain::ports::{Mail, MailKind};
use um_mail::Renderer;
use url::Url;
use uuid::Uuid;

/// A nickname that tries HTML, Markdown, a `javascript:` link, quotes and an entity.
const HOSTILE_NAME: &str = "<b>**x**</b> & [y](javascript:alert(1)) 'q' \"d\" &amp; _u_ `c`";

fn kinds() -> Vec<(&'static str, MailKind)> {
    let user_id = UserId(Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef));
    vec![
        (
            "verify_email",
            MailKind::VerifyEmail {
                user_id,
                token: RawToken::from_client("4f1c0ffee"),
            },
        ),
        (
            "password_reset",
            MailKind::PasswordReset {
                // Characters that need percent-encoding in a query.
                token: RawToken::from_client("a b&c=d#e/f'g"),
            },
        ),
        (
            "account_locked",
            MailKind::AccountLocked {
                unlock_token: RawToken::from_client("0123456789abcdef"),
            },
        ),
        (
            "pro_status_granted",
            MailKind::ProStatusChanged {
                is_professional: true,
            },
        ),
        (
            "pro_status_revoked",
            MailKind::ProStatusChanged {
                is_professional: false,
            },
        ),
        (
            "role_changed",
            MailKind::RoleChanged {
                role: Role::Manager,
            },
        ),
        ("password_changed", MailKind::PasswordChanged),
        (
            "email_changed",
            MailKind::EmailChanged {
                new_email: Email::parse("ada.new@example.com").expect("email"),
            },
        ),
    ]
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `actual` with the golden file `name`, or writes it with `UPDATE_GOLDEN=1`.
fn check(name: &str, actual: &str, mismatches: &mut Vec<String>) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).expect("golden dir");
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        mismatches.push(format!(
            "{name} differs from its golden file:\n--- expected\n{expected}\n--- actual\n{actual}"
        ));
    }
}

fn render_all(renderer: &Renderer, prefix: &str, name: &str, mismatches: &mut Vec<String>) {
    for (kind_name, kind) in kinds() {
        let rendered = renderer.render(&Mail {
            to: Email::parse("ada@example.com").expect("email"),
            greeting_name: name.to_owned(),
            kind,
        });
        let stem = format!("{prefix}{kind_name}");
        check(
            &format!("{stem}.subject.txt"),
            &format!("{}\n", rendered.subject),
            mismatches,
        );
        check(&format!("{stem}.txt"), &rendered.text, mismatches);
        check(&format!("{stem}.html.golden"), &rendered.html, mismatches);
    }
}

#[test]
fn every_email_reads_as_its_golden_file() {
    let mut mismatches = Vec::new();
    let renderer = Renderer::new(
        Url::parse("https://users.example.com/app/").expect("url"),
        "User Management",
    );
    render_all(&renderer, "", "ada", &mut mismatches);
    render_all(&renderer, "hostile_name.", HOSTILE_NAME, &mut mismatches);

    let hostile_product = Renderer::new(
        Url::parse("http://localhost:8000").expect("url"),
        "Users & <Co> **x** 'q' \"d\"",
    );
    render_all(&hostile_product, "hostile_product.", "ada", &mut mismatches);

    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}
