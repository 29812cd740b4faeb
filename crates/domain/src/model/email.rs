use std::fmt;

/// An email address: syntactically valid, at most 255 characters, surrounding white space removed.
///
/// The address keeps the casing it was given for display; comparisons and the database's unique
/// index use its lower-cased form ([`Email::normalized`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("value is not a valid email address")]
    Invalid,
    #[error("email must be at most 255 characters")]
    TooLong,
}

impl Email {
    pub const MAX_LEN: usize = 255;

    /// Parses an address with the rules of RFC 5321 that matter in practice: a dot-atom local
    /// part of at most 64 characters, and a domain of at least two labels of letters, digits and
    /// hyphens whose last label is not all digits.
    ///
    /// # Errors
    /// [`EmailError`] naming the broken rule.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        // The text as sent meets the length, as the API document's `maxLength` says; ASCII white
        // space around it is dropped (its `pattern` allows that and nothing else).
        if raw.chars().count() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let s = raw.trim_matches([' ', '\t', '\r', '\n']);
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::Invalid)?;
        if !valid_local(local) || !valid_domain(domain) {
            return Err(EmailError::Invalid);
        }
        Ok(Self(s.to_owned()))
    }

    /// The lower-cased form used for lookups and uniqueness.
    #[must_use]
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_local(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || SPECIALS.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the API document's pattern allows, and only that: ASCII white space around, the
    /// length counted on the text as sent.
    #[test]
    fn the_text_as_sent_is_what_the_document_describes() {
        assert_eq!(
            Email::parse(" \tada@example.com\n").map(|e| e.to_string()),
            Ok("ada@example.com".to_owned())
        );
        assert_eq!(
            Email::parse("\u{a0}ada@example.com"),
            Err(EmailError::Invalid)
        );
        let padded = format!("  {}@example.com", "a".repeat(60));
        assert!(Email::parse(&padded).is_ok());
        let long = format!("  {}@{}.com", "a".repeat(60), "b".repeat(190));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
        assert!(Email::parse("ada@example.1x").is_ok());
        assert_eq!(Email::parse("ada@example.123"), Err(EmailError::Invalid));
    }

    #[test]
    fn accepts_ordinary_addresses_and_keeps_their_casing() {
        for ok in ["john.doe@example.com", "A+tag@sub.example.org", "x@a-b.io"] {
            let email = Email::parse(ok).unwrap_or_else(|e| panic!("{ok} rejected: {e}"));
            assert_eq!(email.as_str(), ok);
        }
        assert_eq!(
            Email::parse("  Mixed@Example.COM ").map(|e| e.normalized()),
            Ok("mixed@example.com".to_owned())
        );
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a..b@example.com",
            ".a@example.com",
            "a b@example.com",
            "a@-example.com",
            "a@example..com",
            "a@1.2.3.4",
            "a@exa mple.com",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(EmailError::Invalid),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn rejects_addresses_over_255_characters() {
        let long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}
