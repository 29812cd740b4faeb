use secrecy::{ExposeSecret, SecretString};
use std::{fmt, sync::LazyLock};

/// The 10,000 most common passwords (zxcvbn's list, `common_passwords.NOTICE.md`), lower-cased,
/// one per line, sorted: NIST SP 800-63B asks to refuse passwords found in such lists.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

static COMMON: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut list: Vec<&str> = COMMON_PASSWORDS.lines().filter(|l| !l.is_empty()).collect();
    list.sort_unstable();
    list
});

/// Whether `raw` is one of the common passwords dressed up to pass the composition rules:
/// compared without case, as it is, without the symbols it ends with (`Password1!` is
/// `password1`), without the digits and symbols it ends with (`Welcome2024!` is `welcome`), and
/// each of those with the usual look-alike substitutions undone (`P@ssw0rd1` is `password`).
fn is_common(raw: &str) -> bool {
    let lower = raw.to_lowercase();
    let without_symbols = lower.trim_end_matches(|c: char| !c.is_alphanumeric());
    let without_digits = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    [lower.as_str(), without_symbols, without_digits]
        .into_iter()
        .filter(|candidate| !candidate.is_empty())
        .flat_map(|candidate| [candidate.to_owned(), plain_letters(candidate)])
        .any(|candidate| COMMON.binary_search(&candidate.as_str()).is_ok())
}

/// `candidate` with look-alike digits and symbols read as the letters they stand for.
fn plain_letters(candidate: &str) -> String {
    candidate
        .chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '$' | '5' => 's',
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '7' => 't',
            other => other,
        })
        .collect()
}

/// A new password that meets the policy: 8–128 characters with at least one upper-case letter,
/// one lower-case letter, one digit and one symbol, and not one of the most common passwords
/// (nor one of them with digits and symbols appended). Never printed.
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
    #[error(
        "password is one of the most common passwords (or one with digits and symbols added); choose one that is harder to guess"
    )]
    TooCommon,
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
        if !(upper && lower && digit && symbol) {
            return Err(PasswordError::TooWeak);
        }
        if is_common(raw) {
            return Err(PasswordError::TooCommon);
        }
        Ok(Self(SecretString::from(raw)))
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
    fn the_most_common_passwords_are_refused_even_dressed_up() {
        assert!(COMMON.len() >= 10_000, "{}", COMMON.len());
        assert!(
            COMMON.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        for common in [
            "Password1!",
            "Welcome1!",
            "Qwerty123!",
            "Dragon2024!!",
            "P@ssword1",
            "Iloveyou1#",
        ] {
            assert_eq!(
                Password::parse(common).err(),
                Some(PasswordError::TooCommon),
                "{common}"
            );
        }
        for fine in ["Secur3*Passw0rd", "N3w*Passw0rd!", "Tr4in-Lantern-Moss"] {
            assert!(Password::parse(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn never_prints_the_secret() {
        let p = Password::parse("Secur3*Pass").expect("valid");
        assert!(!format!("{p:?}").contains("Secur3"));
        let h = PasswordHash::new("$argon2id$v=19$secret".into());
        assert!(!format!("{h:?}").contains("argon2id"));
    }
}
