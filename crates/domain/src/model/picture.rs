use rand::RngCore;
use std::fmt;

/// The encodings pictures are stored in after re-encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureFormat {
    Jpeg,
    Png,
}

impl PictureFormat {
    #[must_use]
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }
}

/// The object-store key of a stored picture: 128 random bits in hex and the extension of its
/// format, e.g. `3f2a…9c.jpg`. Keys are made here, never from user input, and can hold no
/// path separator, so they cannot escape a directory store's root. A key is never reused.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PictureKey {
    key: String,
    format: PictureFormat,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a picture key")]
pub struct PictureKeyError;

impl PictureKey {
    /// A fresh, unguessable key for a picture in `format`.
    #[must_use]
    pub fn generate(format: PictureFormat) -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self {
            key: format!("{}.{}", hex::encode(bytes), format.extension()),
            format,
        }
    }

    /// Accepts exactly the keys [`PictureKey::generate`] makes.
    ///
    /// # Errors
    /// [`PictureKeyError`] for anything else.
    pub fn parse(raw: &str) -> Result<Self, PictureKeyError> {
        let (stem, ext) = raw.split_once('.').ok_or(PictureKeyError)?;
        let format = match ext {
            "jpg" => PictureFormat::Jpeg,
            "png" => PictureFormat::Png,
            _ => return Err(PictureKeyError),
        };
        if stem.len() != 32 || !stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(PictureKeyError);
        }
        Ok(Self {
            key: raw.to_owned(),
            format,
        })
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.key
    }

    #[must_use]
    pub fn format(&self) -> PictureFormat {
        self.format
    }

    #[must_use]
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }
}

impl fmt::Display for PictureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

impl fmt::Debug for PictureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PictureKey({})", self.key)
    }
}

/// The two objects of a profile picture: the main picture (at most 512×512) and its 128×128
/// thumbnail. They are set and cleared together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PictureKeys {
    pub main: PictureKey,
    pub thumbnail: PictureKey,
}

impl PictureKeys {
    #[must_use]
    pub fn both(&self) -> [&PictureKey; 2] {
        [&self.main, &self.thumbnail]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_and_differ() {
        let a = PictureKey::generate(PictureFormat::Jpeg);
        let b = PictureKey::generate(PictureFormat::Jpeg);
        assert_ne!(a, b);
        assert_eq!(PictureKey::parse(a.as_str()), Ok(a.clone()));
        assert!(a.as_str().ends_with(".jpg"));
        assert_eq!(
            PictureKey::generate(PictureFormat::Png).content_type(),
            "image/png"
        );
    }

    #[test]
    fn anything_else_is_not_a_key() {
        let stem = "0123456789abcdef0123456789abcdef";
        for bad in [
            String::new(),
            stem.to_owned(),
            format!("{stem}.gif"),
            format!("{}.jpg", stem.to_uppercase()),
            format!("../{stem}.jpg"),
            format!("{stem}.jpg/x"),
            format!("{}.jpg", &stem[..31]),
            "x.jpg".to_owned(),
        ] {
            assert_eq!(PictureKey::parse(&bad), Err(PictureKeyError), "{bad:?}");
        }
    }
}
