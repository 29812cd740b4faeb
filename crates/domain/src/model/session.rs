//! Sessions: what a login starts and a logout, a password change or an administrator ends.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{RawToken, TokenHash, UserId};

/// A session's id: a random UUID. It names the session in `GET /me/sessions`, in the access
/// token's `sid` claim and at the front of its refresh tokens; it opens nothing by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub Uuid);

impl SessionId {
    #[must_use]
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A refresh token as the client holds it: `<session id, 32 hex digits>.<256 random bits, 64 hex
/// digits>`. The session id in front lets the service find the session by its key and tell a
/// reused token (one of the session's earlier ones) from a made-up one; only the SHA-256 of the
/// whole string is stored. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    session: SessionId,
    raw: RawToken,
}

/// Characters of the random part of a refresh token.
const SECRET_HEX_DIGITS: usize = 64;

impl RefreshToken {
    /// A fresh token for `session`, from the operating system's random source.
    #[must_use]
    pub fn generate(session: SessionId) -> Self {
        let secret = RawToken::generate();
        Self {
            session,
            raw: RawToken::from_client(&format!("{}.{}", session.0.simple(), secret.as_str())),
        }
    }

    /// A token received from a client; `None` when it does not even have the form of one (so it
    /// can be nobody's).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let (session, secret) = text.split_once('.')?;
        let well_formed = session.len() == 32
            && session.bytes().all(|b| b.is_ascii_hexdigit())
            && secret.len() == SECRET_HEX_DIGITS
            && secret.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return None;
        }
        let session = SessionId(Uuid::try_parse(session).ok()?);
        Some(Self {
            session,
            raw: RawToken::from_client(text),
        })
    }

    /// The session the token claims to belong to (a claim until its hash is found there).
    #[must_use]
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The only form in which a refresh token is stored.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        self.raw.hash()
    }

    /// The text handed to the client, once.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.raw.as_str()
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefreshToken({}, [REDACTED])", self.session)
    }
}

/// A session as its user sees it (`GET /me/sessions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    /// The login, or the latest refresh.
    pub last_used_at: DateTime<Utc>,
    /// The end of its life: `REFRESH_TOKEN_TTL_DAYS` after the login, however often refreshed.
    pub expires_at: DateTime<Utc>,
    /// The `User-Agent` of the login, cut to [`MAX_USER_AGENT_CHARS`].
    pub user_agent: Option<String>,
    /// The client's address at the login, by the trusted-proxy rule.
    pub ip: Option<String>,
}

/// The longest `User-Agent` a session keeps; longer ones are cut (real ones are far shorter).
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// Where a login came from, as the session records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl ClientInfo {
    /// `user_agent` without control characters and cut to [`MAX_USER_AGENT_CHARS`]; blank ones
    /// are dropped.
    #[must_use]
    pub fn new(user_agent: Option<&str>, ip: Option<String>) -> Self {
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT_CHARS)
                    .collect::<String>()
                    .trim()
                    .to_owned()
            })
            .filter(|ua| !ua.is_empty());
        Self { user_agent, ip }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_parses_back_to_its_session_and_hash() {
        let session = SessionId::new();
        let token = RefreshToken::generate(session);
        assert_eq!(token.expose().len(), 32 + 1 + 64);
        let parsed = RefreshToken::parse(token.expose()).expect("well formed");
        assert_eq!(parsed.session(), session);
        assert_eq!(parsed.hash(), token.hash());
        assert_ne!(RefreshToken::generate(session).hash(), token.hash());
    }

    #[test]
    fn malformed_tokens_are_nobodys() {
        let good = RefreshToken::generate(SessionId::new());
        let (session, secret) = good.expose().split_once('.').expect("<session>.<secret>");
        for bad in [
            String::new(),
            "abc".to_owned(),
            secret.to_owned(),
            format!("{session}{secret}"),
            format!("{session}.{}", &secret[1..]),
            format!("{session}.{secret}0"),
            format!("{session}.{}x", &secret[1..]),
            format!("{}.{secret}", &session[1..]),
            format!("{}-{secret}", session),
        ] {
            assert!(RefreshToken::parse(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = RefreshToken::generate(SessionId::new());
        let shown = format!("{token:?}");
        let (_, secret) = token.expose().split_once('.').expect("<session>.<secret>");
        assert!(!shown.contains(secret), "{shown}");
    }

    #[test]
    fn client_info_keeps_a_short_clean_user_agent() {
        let info = ClientInfo::new(Some("  curl/8.5\u{7}\n  "), Some("10.0.0.1".into()));
        assert_eq!(info.user_agent.as_deref(), Some("curl/8.5"));
        let long = "x".repeat(1000);
        let info = ClientInfo::new(Some(&long), None);
        assert_eq!(
            info.user_agent.map(|ua| ua.len()),
            Some(MAX_USER_AGENT_CHARS)
        );
        assert_eq!(ClientInfo::new(Some(" \t"), None).user_agent, None);
    }
}
