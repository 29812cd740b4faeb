//! Writes each email as an `.eml` file into a directory.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;
use chrono::Utc;
use lettre::message::Mailbox;
use um_domain::ports::{Mail, Mailer};
use uuid::Uuid;

use crate::Renderer;
use crate::message::build_message;

/// Writes each email as an RFC 5322 `.eml` file named `<UTC timestamp>-<uuid>.eml` into a
/// directory, created if missing. A file is written under a hidden temporary name and renamed
/// when complete, so a reader never sees half a message. The file I/O runs on the blocking pool.
#[derive(Debug, Clone)]
pub struct DirectoryMailer {
    dir: PathBuf,
    from: Mailbox,
    renderer: Renderer,
}

impl DirectoryMailer {
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>, from: Mailbox, renderer: Renderer) -> Self {
        Self {
            dir: dir.into(),
            from,
            renderer,
        }
    }

    /// Where the `.eml` files go.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for DirectoryMailer {
    async fn send(&self, mail: Mail) -> anyhow::Result<()> {
        let rendered = self.renderer.render(&mail);
        let bytes = build_message(&self.from, &mail, &rendered)?.formatted();
        let name = format!(
            "{}-{}.eml",
            Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            Uuid::new_v4()
        );
        let dir = self.dir.clone();
        let path = tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
            .await
            .context("email writing task failed")??;
        tracing::info!(to = %mail.to, subject = %rendered.subject, path = %path.display(), "email written");
        Ok(())
    }
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create mail directory {}", dir.display()))?;
    let temp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let written = (|| {
        let mut file = fs::File::create_new(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, &path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e).with_context(|| format!("cannot write email to {}", path.display()));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use um_domain::model::{Email, RawToken, UserId};
    use um_domain::ports::MailKind;
    use url::Url;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("um-mail-test-{}", Uuid::new_v4()))
    }

    fn mailer(dir: &Path) -> DirectoryMailer {
        DirectoryMailer::new(
            dir.join("nested").join("outbox"),
            "User Management <no-reply@example.com>"
                .parse()
                .expect("mailbox"),
            Renderer::new(
                Url::parse("http://localhost:8000/").expect("url"),
                "User Management",
            ),
        )
    }

    #[tokio::test]
    async fn writes_a_parseable_eml_file_into_a_directory_it_creates() {
        let root = temp_dir();
        let mailer = mailer(&root);
        let id = UserId::new();
        let token = RawToken::generate();
        mailer
            .send(Mail {
                to: Email::parse("Ada@Example.com").expect("email"),
                greeting_name: "ada".into(),
                kind: MailKind::VerifyEmail {
                    user_id: id,
                    token: token.clone(),
                },
            })
            .await
            .expect("send");

        let entries: Vec<PathBuf> = fs::read_dir(mailer.dir())
            .expect("directory created")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(
            entries.len(),
            1,
            "exactly one file, no temporary left: {entries:?}"
        );
        let file_name = entries[0]
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name");
        assert!(
            file_name.ends_with(".eml") && !file_name.starts_with('.'),
            "{file_name}"
        );
        let (stamp, rest) = file_name.split_once('-').expect("timestamp-uuid");
        assert!(stamp.ends_with('Z') && stamp.contains('T'), "{stamp}");
        assert!(
            Uuid::parse_str(rest.trim_end_matches(".eml")).is_ok(),
            "{rest}"
        );

        let raw = fs::read(&entries[0]).expect("read");
        let message = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("parseable");
        assert_eq!(
            crate::test_checks::first_address(message.from()),
            Some("no-reply@example.com")
        );
        crate::test_checks::assert_verification_envelope(&message, "Ada@Example.com");
        let text = message.body_text(0).expect("text part");
        let link = format!("http://localhost:8000/verify-email/{id}/{}", token.as_str());
        assert!(
            text.lines().any(|l| l == format!("<{link}>")),
            "link not found in\n{text}"
        );
        assert!(message.body_html(0).expect("html part").contains(&link));

        fs::remove_dir_all(&root).expect("clean up");
    }

    #[tokio::test]
    async fn every_email_gets_its_own_file() {
        let root = temp_dir();
        let mailer = mailer(&root);
        for _ in 0..3 {
            mailer
                .send(Mail {
                    to: Email::parse("ada@example.com").expect("email"),
                    greeting_name: "ada".into(),
                    kind: MailKind::AccountLocked {
                        unlock_token: RawToken::generate(),
                    },
                })
                .await
                .expect("send");
        }
        assert_eq!(fs::read_dir(mailer.dir()).expect("dir").count(), 3);
        fs::remove_dir_all(&root).expect("clean up");
    }

    #[tokio::test]
    async fn an_unwritable_directory_is_an_error() {
        let root = temp_dir();
        fs::create_dir_all(&root).expect("root");
        let blocker = root.join("nested");
        fs::write(&blocker, b"a file where a directory should be").expect("blocker");
        let result = mailer(&root)
            .send(Mail {
                to: Email::parse("ada@example.com").expect("email"),
                greeting_name: "ada".into(),
                kind: MailKind::AccountLocked {
                    unlock_token: RawToken::generate(),
                },
            })
            .await;
        assert!(result.is_err());
        fs::remove_dir_all(&root).expect("clean up");
    }
}
