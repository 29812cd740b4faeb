use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// A new password that meets the policy: 8–128 characters with at least one upper-case letter,
/// one lower-case letter, one digit and one symbol. Never printed.
#[derive(Clone)]
pub struct Password(SecretString);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least 8 characters")]
    TooShort,
    #[error("password must be at most 128 characters")]
    TooLong,
    #[error(
        "password must contain an upper-case letter, a lower-case letter, a digit and a symbol"
    )]
    TooWeak,
}

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 128;

    /// # Errors
    /// [`PasswordError`] naming the broken rule.
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return Err(PasswordError::TooShort);
        }
        if len > Self::MAX_LEN {
            return Err(PasswordError::TooLong);
        }
        let upper = raw.chars().any(char::is_uppercase);
        let lower = raw.chars().any(char::is_lowercase);
        let digit = raw.chars().any(|c| c.is_ascii_digit());
        let symbol = raw
            .chars()
            .any(|c| !c.is_alphanumeric() && !c.is_whitespace());
        if upper && lower && digit && symbol {
            Ok(Self(SecretString::from(raw)))
        } else {
            Err(PasswordError::TooWeak)
        }
    }

    #[must_use]
    pub fn secret(&self) -> &SecretString {
        &self.0
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// A password hash in PHC string form (Argon2id; bcrypt for accounts imported from the original).
/// Never printed, never returned.
#[derive(Clone)]
pub struct PasswordHash(SecretString);

impl PasswordHash {
    #[must_use]
    pub fn new(phc: String) -> Self {
        Self(SecretString::from(phc))
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for PasswordHash {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_password_with_every_class() {
        assert!(Password::parse("Secur3*Pass").is_ok());
        assert!(Password::parse("Ünïcode9!").is_ok());
    }

    #[test]
    fn rejects_each_broken_rule() {
        let cases = [
            ("Sh0rt!", PasswordError::TooShort),
            ("nouppercase1!", PasswordError::TooWeak),
            ("NOLOWERCASE1!", PasswordError::TooWeak),
            ("NoDigitsHere!", PasswordError::TooWeak),
            ("NoSymbols123", PasswordError::TooWeak),
        ];
        for (raw, expected) in cases {
            assert_eq!(Password::parse(raw).err(), Some(expected), "{raw}");
        }
        let long = format!("Aa1!{}", "x".repeat(125));
        assert_eq!(Password::parse(&long).err(), Some(PasswordError::TooLong));
        assert!(Password::parse(&long[..128]).is_ok());
    }

    #[test]
    fn never_prints_the_secret() {
        let p = Password::parse("Secur3*Pass").expect("valid");
        assert!(!format!("{p:?}").contains("Secur3"));
        let h = PasswordHash::new("$argon2id$v=19$secret".into());
        assert!(!format!("{h:?}").contains("argon2id"));
    }
}
