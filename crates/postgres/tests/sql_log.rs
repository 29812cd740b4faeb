//! The per-connection statement log: one line per statement, never a bound value.

use std::{
    io,
    sync::{Arc, Mutex},
};

use chrono::{TimeDelta, Utc};
use um_domain::{
    model::{Email, Nickname, PasswordHash, RawToken, Role, UserId},
    ports::{Mail, MailKind, NewUser, PendingToken, UserRepository},
};
use um_postgres::{PgUserRepository, SQL_LOG_TARGET, TestDatabase, connect};

/// Everything the subscriber writes, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn take(&self) -> String {
        let mut buffer = self.0.lock().expect("log buffer lock");
        String::from_utf8(std::mem::take(&mut *buffer)).expect("UTF-8 log")
    }
}

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .expect("log buffer lock")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn statements(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(SQL_LOG_TARGET)).collect()
}

// Current-thread runtime: the thread-local subscriber sees every poll of the queries.
#[tokio::test]
async fn every_statement_is_logged_at_debug_without_its_bound_values() {
    let db = TestDatabase::new().await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(format!("{SQL_LOG_TARGET}=debug"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let repo = PgUserRepository::new(connect(db.url(), 2).await.expect("a pool"));
    let secret_hash = "$argon2id$v=19$m=19456,t=2,p=1$U0VDUkVUU0FMVA$VGhpc0lzVGhlU2VjcmV0SGFzaA";
    let token = RawToken::generate();
    let id = UserId::new();
    let user = repo
        .insert(NewUser {
            id,
            email: Email::parse("private.person@example.com").expect("valid"),
            nickname: Nickname::parse("private_person").expect("valid"),
            profile: Default::default(),
            password_hash: PasswordHash::new(secret_hash.to_owned()),
            role: Role::Anonymous,
            email_verified: false,
            promote_if_first: false,
            verification_token: Some(PendingToken {
                hash: token.hash(),
                expires_at: Utc::now() + TimeDelta::hours(1),
            }),
            verification_mail: Some(Mail {
                to: Email::parse("private.person@example.com").expect("valid"),
                greeting_name: "private_person".to_owned(),
                kind: MailKind::VerifyEmail {
                    user_id: id,
                    token: token.clone(),
                },
            }),
            created_at: Utc::now(),
        })
        .await
        .expect("insert");
    let insert_log = captured.take();

    repo.find_by_id(user.id)
        .await
        .expect("find")
        .expect("found");
    let find_log = captured.take();

    repo.verify_email(user.id, token.hash(), Utc::now())
        .await
        .expect("verify")
        .expect("verified");
    let verify_log = captured.take();

    assert!(
        statements(&insert_log)
            .iter()
            .any(|l| l.contains("INSERT INTO \"users\"")),
        "the insert is logged:\n{insert_log}"
    );
    let find = statements(&find_log);
    assert_eq!(
        find.len(),
        1,
        "find_by_id is a single statement:\n{find_log}"
    );
    assert!(
        find[0].contains("SELECT") && find[0].contains("elapsed="),
        "{find_log}"
    );

    let everything = format!("{insert_log}{find_log}{verify_log}");
    let token_hex = hex::encode(token.hash().as_bytes());
    for (secret, what) in [
        (secret_hash, "the password hash"),
        (token.as_str(), "the raw token"),
        (token_hex.as_str(), "the token hash"),
        ("private.person@example.com", "the email"),
        ("binds", "any bound value"),
    ] {
        assert!(
            !everything.contains(secret),
            "the log shows {what}:\n{everything}"
        );
    }
    // The bytes of the token hash as diesel would debug-print them.
    let token_bytes = format!("{:?}", token.hash().as_bytes());
    assert!(
        !everything.contains(&token_bytes[1..20]),
        "the log shows the token hash bytes"
    );
}
