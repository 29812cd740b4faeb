use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

/// A one-time token as it travels in a link: 256 random bits, hex-encoded. Only its
/// [`TokenHash`] is ever stored. Never printed in full.
#[derive(Clone, PartialEq, Eq)]
pub struct RawToken(String);

/// The SHA-256 of a [`RawToken`], the only form a token is stored in.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl RawToken {
    /// A fresh token from the operating system's random source.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// Wraps a token received from a client. Any string is accepted: a wrong one simply matches
    /// no stored hash.
    #[must_use]
    pub fn from_client(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TokenHash {
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawToken([REDACTED])")
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_deterministically() {
        let a = RawToken::generate();
        let b = RawToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 64);
        assert_eq!(a.hash(), RawToken::from_client(a.as_str()).hash());
        assert_ne!(a.hash(), b.hash());
    }
}
