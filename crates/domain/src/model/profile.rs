use std::fmt;

/// The Unicode format characters (general category `Cf`, Unicode 15.1) of the Basic
/// Multilingual Plane: invisible characters that change how the text around them is shown
/// (bidirectional overrides such as U+202E, zero-width spaces and joiners, the byte-order mark).
/// Text fields refuse them, so that a name cannot display as something other than what it holds.
/// The few format characters beyond U+FFFF (musical and hieroglyph format controls, the tag
/// characters of subdivision flag emoji) are allowed: a JSON Schema pattern cannot name them
/// portably, and the API document states exactly this list.
pub const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
];

/// Whether `c` is a Unicode format character (category `Cf`), see [`FORMAT_CHARACTERS`].
#[must_use]
pub fn is_format_character(c: char) -> bool {
    FORMAT_CHARACTERS
        .iter()
        .any(|(first, last)| (*first..=*last).contains(&c))
}

/// Whether `c` may not appear in a text field: a control character (other than line breaks and
/// tabs where `allow_newlines`) or a format character.
#[must_use]
pub fn is_forbidden_in_text(c: char, allow_newlines: bool) -> bool {
    (c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
        || is_format_character(c)
}

/// A first or last name: at most 100 characters, no control or format characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

/// A short biography: at most 500 characters, no control characters other than line breaks and
/// tabs, no format characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error(
        "must not contain control characters or invisible formatting characters (such as U+202E or U+200B)"
    )]
    ControlCharacters,
}

fn checked_text(raw: &str, max: usize, allow_newlines: bool) -> Result<Option<String>, TextError> {
    let s = raw.trim();
    if s.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    if s.chars().any(|c| is_forbidden_in_text(c, allow_newlines)) {
        return Err(TextError::ControlCharacters);
    }
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

impl Name {
    pub const MAX_LEN: usize = 100;

    /// Parses a name; an empty or all-blank string is no name (`Ok(None)`).
    ///
    /// # Errors
    /// [`TextError`] when the name is too long or holds control characters.
    pub fn parse(raw: &str) -> Result<Option<Self>, TextError> {
        checked_text(raw, Self::MAX_LEN, false).map(|s| s.map(Self))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Bio {
    pub const MAX_LEN: usize = 500;

    /// Parses a biography; an empty or all-blank string is no biography (`Ok(None)`).
    ///
    /// # Errors
    /// [`TextError`] when the text is too long or holds control characters.
    pub fn parse(raw: &str) -> Result<Option<Self>, TextError> {
        checked_text(raw, Self::MAX_LEN, true).map(|s| s.map(Self))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An absolute `http`/`https` URL of at most 255 characters (a LinkedIn or GitHub profile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileUrl(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("must be an absolute http or https URL")]
    Invalid,
    #[error("must be at most 255 characters")]
    TooLong,
}

impl ProfileUrl {
    pub const MAX_LEN: usize = 255;

    /// Parses a URL; an empty string is no URL (`Ok(None)`).
    ///
    /// # Errors
    /// [`UrlError`] when it is not an absolute http(s) URL with a host, or too long.
    pub fn parse(raw: &str) -> Result<Option<Self>, UrlError> {
        let s = raw.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(UrlError::TooLong);
        }
        let url = url::Url::parse(s).map_err(|_| UrlError::Invalid)?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(UrlError::Invalid);
        }
        Ok(Some(Self(s.to_owned())))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}
display_as_str!(Name, Bio, ProfileUrl);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_blank_means_none() {
        assert_eq!(
            Name::parse("  Ada ").map(|n| n.map(|n| n.0)),
            Ok(Some("Ada".into()))
        );
        assert_eq!(Name::parse("   "), Ok(None));
        assert_eq!(Name::parse(&"x".repeat(101)), Err(TextError::TooLong(100)));
        assert!(Name::parse(&"é".repeat(100)).is_ok());
        assert_eq!(Name::parse("a\u{0}b"), Err(TextError::ControlCharacters));
    }

    #[test]
    fn bidi_overrides_zero_width_and_other_format_characters_are_refused() {
        for hidden in [
            "\u{202E}", "\u{200B}", "\u{200D}", "\u{FEFF}", "\u{00AD}", "\u{2066}",
        ] {
            let text = format!("Ada{hidden}Lovelace");
            assert_eq!(
                Name::parse(&text),
                Err(TextError::ControlCharacters),
                "{hidden:?}"
            );
            assert_eq!(
                Bio::parse(&text),
                Err(TextError::ControlCharacters),
                "{hidden:?}"
            );
        }
        assert_eq!(
            Name::parse("Ada\u{0000}"),
            Err(TextError::ControlCharacters)
        );
        // Letters of any script, accents, emoji and the line breaks of a bio stay welcome.
        assert!(Name::parse("Zoë Ñúñez 李小龍 عائشة").is_ok());
        assert!(Bio::parse("Engines.\nNumbers 🚂").is_ok());
        assert!(!is_format_character('a') && !is_format_character('\u{200A}'));
        assert!(is_forbidden_in_text('\n', false) && !is_forbidden_in_text('\n', true));
    }

    #[test]
    fn bios_allow_line_breaks_and_500_characters() {
        assert!(Bio::parse("line one\nline two").is_ok());
        assert!(Bio::parse(&"b".repeat(500)).is_ok());
        assert_eq!(Bio::parse(&"b".repeat(501)), Err(TextError::TooLong(500)));
    }

    #[test]
    fn profile_urls_must_be_absolute_http() {
        assert!(ProfileUrl::parse("https://github.com/ada").is_ok_and(|u| u.is_some()));
        assert!(ProfileUrl::parse("http://linkedin.com/in/ada").is_ok());
        for bad in [
            "github.com/ada",
            "ftp://github.com/x",
            "javascript:alert(1)",
            "https://",
        ] {
            assert_eq!(ProfileUrl::parse(bad), Err(UrlError::Invalid), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(240));
        assert_eq!(ProfileUrl::parse(&long), Err(UrlError::TooLong));
    }
}
