use rand::Rng;
use std::fmt;

use super::words::{ADJECTIVES, ANIMALS};

/// A public handle: 3–30 characters of `[A-Za-z0-9_-]`, not a reserved word. Unique among
/// accounts without regard to case (the database enforces that); keeps the casing it was given.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Nickname(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NicknameError {
    #[error("nickname must be 3 to 30 characters")]
    Length,
    #[error("nickname may contain only letters, digits, '_' and '-'")]
    Characters,
    #[error("nickname is reserved")]
    Reserved,
}

/// Names that would let an account pass for the service or its staff, or collide with routes.
const RESERVED: &[&str] = &[
    "admin",
    "administrator",
    "anonymous",
    "api",
    "authenticated",
    "help",
    "info",
    "login",
    "logout",
    "manager",
    "me",
    "mod",
    "moderator",
    "no-reply",
    "noreply",
    "null",
    "official",
    "postmaster",
    "register",
    "root",
    "security",
    "staff",
    "superuser",
    "support",
    "sys",
    "sysadmin",
    "system",
    "undefined",
    "user",
    "users",
    "webmaster",
];

impl Nickname {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 30;
    /// Names no account may take, compared without regard to case.
    pub const RESERVED: &'static [&'static str] = RESERVED;

    /// # Errors
    /// [`NicknameError`] naming the broken rule.
    pub fn parse(raw: &str) -> Result<Self, NicknameError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&raw.chars().count()) {
            return Err(NicknameError::Length);
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(NicknameError::Characters);
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(raw)) {
            return Err(NicknameError::Reserved);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The lower-cased form that uniqueness is decided on.
    #[must_use]
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A random `adjective_animal_number` nickname, e.g. `brisk_otter_4821`. It is valid but not
/// necessarily free: callers check availability and retry.
#[must_use]
pub fn generate_nickname() -> Nickname {
    let mut rng = rand::rng();
    let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let animal = ANIMALS[rng.random_range(0..ANIMALS.len())];
    let number: u16 = rng.random_range(0..10_000);
    Nickname(format!("{adjective}_{animal}_{number}"))
}

impl AsRef<str> for Nickname {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nickname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Nickname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nickname({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn accepts_names_within_the_rules() {
        for ok in ["abc", "John_Doe-42", &"x".repeat(30)] {
            assert!(Nickname::parse(ok).is_ok(), "{ok} rejected");
        }
    }

    #[test]
    fn rejects_each_broken_rule() {
        let cases = [
            ("ab", NicknameError::Length),
            (&*"x".repeat(31), NicknameError::Length),
            ("john doe", NicknameError::Characters),
            ("jöhn", NicknameError::Characters),
            ("a.b.c", NicknameError::Characters),
            ("Admin", NicknameError::Reserved),
            ("ROOT", NicknameError::Reserved),
            ("system", NicknameError::Reserved),
            ("support", NicknameError::Reserved),
        ];
        for (raw, expected) in cases {
            assert_eq!(Nickname::parse(raw).err(), Some(expected), "{raw}");
        }
        // "me" is reserved too, but is already too short to be a nickname.
        assert!(Nickname::parse("me").is_err());
    }

    #[test]
    fn generated_nicknames_are_valid_and_rarely_collide() {
        let generated: Vec<Nickname> = (0..2000).map(|_| generate_nickname()).collect();
        for n in &generated {
            assert!(Nickname::parse(n.as_str()).is_ok(), "{n} is not valid");
            assert_eq!(
                n.as_str().split('_').count(),
                3,
                "{n} is not adjective_animal_number"
            );
        }
        let distinct: HashSet<_> = generated.iter().map(Nickname::normalized).collect();
        // 2000 draws from ~690 million: more than a couple of repeats means the lists are broken.
        assert!(distinct.len() >= 1995, "only {} distinct", distinct.len());
    }

    #[test]
    fn word_lists_are_large_and_clean() {
        assert!(ADJECTIVES.len() >= 250 && ANIMALS.len() >= 250);
        for w in ADJECTIVES.iter().chain(ANIMALS.iter()) {
            assert!(w.chars().all(|c| c.is_ascii_lowercase()), "{w}");
        }
        let longest = ADJECTIVES.iter().map(|w| w.len()).max().unwrap_or(0)
            + ANIMALS.iter().map(|w| w.len()).max().unwrap_or(0)
            + "_".len() * 2
            + "9999".len();
        assert!(longest <= Nickname::MAX_LEN);
    }
}
