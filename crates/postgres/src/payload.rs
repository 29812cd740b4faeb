//! The outbox's `payload` column: a [`Mail`] as JSON.
//!
//! The domain types know nothing of serde, so the mail goes through the private DTOs below,
//! tagged by `kind`:
//!
//! ```json
//! {"to": "ada@example.com", "greeting_name": "ada_l", "kind": "verify_email",
//!  "user_id": "…", "token": "…"}
//! ```
//!
//! The payload holds the **raw** one-time token of a link (verification, password reset,
//! unlock): the email cannot be rendered without it. It is therefore erased (set to NULL) as
//! soon as the message is sent ([`Outbox::mark_sent`](um_domain::ports::Outbox::mark_sent));
//! only a message that was given up on keeps it, for an operator. The DTOs do not implement
//! `Debug`, so that a token cannot end up in a log by accident.

use serde::{Deserialize, Serialize};
use um_domain::{
    model::{Email, RawToken, Role, UserId},
    ports::{Mail, MailKind, RepoError},
};
use uuid::Uuid;

/// One email, as stored.
#[derive(Serialize, Deserialize)]
struct MailPayload {
    to: String,
    greeting_name: String,
    #[serde(flatten)]
    kind: KindPayload,
}

/// What the email is about; `kind` is the tag.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum KindPayload {
    VerifyEmail { user_id: Uuid, token: String },
    PasswordReset { token: String },
    AccountLocked { unlock_token: String },
    ProStatusChanged { is_professional: bool },
    RoleChanged { role: String },
    PasswordChanged,
    EmailChanged { new_email: String },
}

impl KindPayload {
    /// The tag, also stored in the `kind` column for operators.
    fn tag(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::PasswordReset { .. } => "password_reset",
            Self::AccountLocked { .. } => "account_locked",
            Self::ProStatusChanged { .. } => "pro_status_changed",
            Self::RoleChanged { .. } => "role_changed",
            Self::PasswordChanged => "password_changed",
            Self::EmailChanged { .. } => "email_changed",
        }
    }
}

impl From<&MailKind> for KindPayload {
    fn from(kind: &MailKind) -> Self {
        match kind {
            MailKind::VerifyEmail { user_id, token } => Self::VerifyEmail {
                user_id: user_id.0,
                token: token.as_str().to_owned(),
            },
            MailKind::PasswordReset { token } => Self::PasswordReset {
                token: token.as_str().to_owned(),
            },
            MailKind::AccountLocked { unlock_token } => Self::AccountLocked {
                unlock_token: unlock_token.as_str().to_owned(),
            },
            MailKind::ProStatusChanged { is_professional } => Self::ProStatusChanged {
                is_professional: *is_professional,
            },
            MailKind::RoleChanged { role } => Self::RoleChanged {
                role: role.as_str().to_owned(),
            },
            MailKind::PasswordChanged => Self::PasswordChanged,
            MailKind::EmailChanged { new_email } => Self::EmailChanged {
                new_email: new_email.as_str().to_owned(),
            },
        }
    }
}

/// A mail ready for the `outbox` row: its recipient, its kind and its payload.
pub(crate) struct Encoded {
    pub(crate) recipient: String,
    pub(crate) kind: &'static str,
    pub(crate) payload: serde_json::Value,
}

/// Serializes a mail for the outbox.
///
/// # Errors
/// `Other` when serde fails, which these plain DTOs never do; the error names no content.
pub(crate) fn encode(mail: &Mail) -> Result<Encoded, RepoError> {
    let kind = KindPayload::from(&mail.kind);
    let tag = kind.tag();
    let payload = serde_json::to_value(MailPayload {
        to: mail.to.as_str().to_owned(),
        greeting_name: mail.greeting_name.clone(),
        kind,
    })
    .map_err(|e| {
        RepoError::Other(anyhow::anyhow!(
            "a {tag} email could not be serialized ({:?} error)",
            e.classify()
        ))
    })?;
    Ok(Encoded {
        recipient: mail.to.as_str().to_owned(),
        kind: tag,
        payload,
    })
}

/// Reads the payload of outbox message `id` back.
///
/// # Errors
/// `Other` naming the message id and what is wrong, never the payload's content (which holds
/// tokens and addresses; serde's own messages may quote it, so they are not passed on).
pub(crate) fn decode(id: i64, payload: Option<serde_json::Value>) -> Result<Mail, RepoError> {
    let bad = |what: &str| {
        RepoError::Other(anyhow::anyhow!(
            "the payload of outbox message {id} does not parse: {what}"
        ))
    };
    let payload = payload.ok_or_else(|| bad("it is missing"))?;
    let stored: MailPayload = serde_json::from_value(payload)
        .map_err(|e| bad(&format!("not a known email ({:?} error)", e.classify())))?;
    let kind = match stored.kind {
        KindPayload::VerifyEmail { user_id, token } => MailKind::VerifyEmail {
            user_id: UserId(user_id),
            token: RawToken::from_client(&token),
        },
        KindPayload::PasswordReset { token } => MailKind::PasswordReset {
            token: RawToken::from_client(&token),
        },
        KindPayload::AccountLocked { unlock_token } => MailKind::AccountLocked {
            unlock_token: RawToken::from_client(&unlock_token),
        },
        KindPayload::ProStatusChanged { is_professional } => {
            MailKind::ProStatusChanged { is_professional }
        }
        KindPayload::RoleChanged { role } => MailKind::RoleChanged {
            role: role
                .parse::<Role>()
                .map_err(|e| bad(&format!("role: {e}")))?,
        },
        KindPayload::PasswordChanged => MailKind::PasswordChanged,
        KindPayload::EmailChanged { new_email } => MailKind::EmailChanged {
            new_email: Email::parse(&new_email).map_err(|e| bad(&format!("new_email: {e}")))?,
        },
    };
    Ok(Mail {
        to: Email::parse(&stored.to).map_err(|e| bad(&format!("to: {e}")))?,
        greeting_name: stored.greeting_name,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(kind: MailKind) -> Mail {
        Mail {
            to: Email::parse("Ada@Example.com").expect("a valid email"),
            greeting_name: "ada_l".to_owned(),
            kind,
        }
    }

    fn every_kind() -> Vec<MailKind> {
        vec![
            MailKind::VerifyEmail {
                user_id: UserId::new(),
                token: RawToken::generate(),
            },
            MailKind::PasswordReset {
                token: RawToken::generate(),
            },
            MailKind::AccountLocked {
                unlock_token: RawToken::generate(),
            },
            MailKind::ProStatusChanged {
                is_professional: true,
            },
            MailKind::ProStatusChanged {
                is_professional: false,
            },
            MailKind::RoleChanged {
                role: Role::Manager,
            },
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for kind in every_kind() {
            let original = mail(kind);
            let encoded = encode(&original).expect("encodes");
            assert_eq!(encoded.recipient, "Ada@Example.com");
            assert_eq!(
                encoded.payload["kind"].as_str(),
                Some(encoded.kind),
                "the column and the tag agree"
            );
            let decoded = decode(7, Some(encoded.payload)).expect("decodes");
            assert_eq!(decoded, original);
        }
    }

    #[test]
    fn the_payload_format_is_stable() {
        let user_id = UserId::new();
        let token = RawToken::generate();
        let encoded = encode(&mail(MailKind::VerifyEmail {
            user_id,
            token: token.clone(),
        }))
        .expect("encodes");
        assert_eq!(encoded.kind, "verify_email");
        assert_eq!(
            encoded.payload,
            serde_json::json!({
                "to": "Ada@Example.com",
                "greeting_name": "ada_l",
                "kind": "verify_email",
                "user_id": user_id.0.to_string(),
                "token": token.as_str(),
            })
        );
    }

    #[test]
    fn a_bad_payload_is_an_error_naming_the_row_and_never_the_content() {
        let secret = "s3cr3t-token-value";
        let cases = [
            ("missing", None),
            (
                "unknown kind",
                Some(
                    serde_json::json!({"to": "a@example.com", "greeting_name": "a", "kind": secret}),
                ),
            ),
            (
                "wrong type",
                Some(
                    serde_json::json!({"to": "a@example.com", "greeting_name": "a",
                    "kind": "pro_status_changed", "is_professional": secret}),
                ),
            ),
            (
                "bad address",
                Some(serde_json::json!({"to": secret, "greeting_name": "a",
                    "kind": "password_reset", "token": "t"})),
            ),
            (
                "bad role",
                Some(
                    serde_json::json!({"to": "a@example.com", "greeting_name": "a",
                    "kind": "role_changed", "role": secret}),
                ),
            ),
            ("not an object", Some(serde_json::json!(secret))),
        ];
        for (case, payload) in cases {
            let Err(RepoError::Other(e)) = decode(4242, payload) else {
                panic!("{case}: expected Other");
            };
            let message = format!("{e:#}");
            assert!(message.contains("4242"), "{case}: {message}");
            assert!(!message.contains(secret), "{case}: {message}");
        }
    }
}
