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

/// The text as sent is what the API document's `maxLength` and `pattern` describe, so both rules
/// apply to it whole, spaces around included; what is kept is the text trimmed.
fn checked_text(raw: &str, max: usize, allow_newlines: bool) -> Result<Option<String>, TextError> {
    if raw.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    if raw.chars().any(|c| is_forbidden_in_text(c, allow_newlines)) {
        return Err(TextError::ControlCharacters);
    }
    let s = raw.trim();
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
        if raw.chars().count() > Self::MAX_LEN {
            return Err(UrlError::TooLong);
        }
        // ASCII white space only, as the document's pattern says.
        let s = raw.trim_matches([' ', '\t', '\r', '\n']);
        if s.is_empty() {
            return Ok(None);
        }
        if !is_plain_web_url(s) {
            return Err(UrlError::Invalid);
        }
        // The narrower rule, and what every stored URL meets as well.
        Self::from_stored(s)
    }

    /// A URL as stored: the rule it met when it was taken (an absolute `http`/`https` URL with a
    /// host, at most 255 characters), so that an account saved before the rule narrowed still
    /// loads. New values go through [`ProfileUrl::parse`].
    ///
    /// # Errors
    /// [`UrlError`] when it is not even that.
    pub fn from_stored(raw: &str) -> Result<Option<Self>, UrlError> {
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
}

/// The URLs the API document states (its `pattern` of profile URLs), and only those: `http` or
/// `https` in any case, a DNS name whose last label starts with a letter (no IP address, no
/// internationalised name), a port of at most four digits, and a path, query and fragment of
/// printable ASCII (other characters percent-encoded).
fn is_plain_web_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let labels: Vec<&str> = host.split('.').collect();
    let hosts_ok = labels.iter().all(|l| label_ok(l))
        && labels
            .last()
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()));
    let port_ok =
        port.is_none_or(|p| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    hosts_ok && port_ok && tail_ok(tail)
}

/// A path (`/…`), then a query (`?…`), then a fragment (`#…`), each optional, of the characters
/// RFC 3986 allows there unencoded, or `%` and two hex digits.
fn tail_ok(tail: &str) -> bool {
    const SAFE: &[u8] = b"._~!$&'()*+,;=:@/-";
    let bytes = tail.as_bytes();
    // 0: path, 1: query, 2: fragment.
    let mut part = 0;
    let mut i = 0;
    if !(tail.is_empty() || matches!(bytes[0], b'/' | b'?' | b'#')) {
        return false;
    }
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'?' if part == 0 => part = 1,
            b'#' if part < 2 => part = 2,
            b'?' => {}
            b'%' => {
                let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 2;
            }
            _ if b.is_ascii_alphanumeric() || SAFE.contains(&b) => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

impl ProfileUrl {
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

/// What a user tells about themselves: the optional, free-form part of an account. Every layer
/// carries it whole (the account, a registration, the stored row, the wire bodies).
///
/// A new field goes here and in [`ProfileField`], then in the `users` table, the embedded
/// profile row of `um_postgres`, the wire types of `um_api` and, if it counts, the PRO rule
/// ([`super::ProUpgrade`]); everything else (audit log, CSV import and export, validation
/// errors) goes through [`ProfileField`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    pub bio: Option<Bio>,
    pub linkedin_profile_url: Option<ProfileUrl>,
    pub github_profile_url: Option<ProfileUrl>,
}

/// A field of [`Profile`], by the name the API, the CSV files and the audit log give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileField {
    FirstName,
    LastName,
    Bio,
    LinkedinProfileUrl,
    GithubProfileUrl,
}

impl ProfileField {
    /// Every field, in the contract's order.
    pub const ALL: [Self; 5] = [
        Self::FirstName,
        Self::LastName,
        Self::Bio,
        Self::LinkedinProfileUrl,
        Self::GithubProfileUrl,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::Bio => "bio",
            Self::LinkedinProfileUrl => "linkedin_profile_url",
            Self::GithubProfileUrl => "github_profile_url",
        }
    }

    /// The field called `name`, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// What kind of text the field holds, for those who state its rule (the API document).
    #[must_use]
    pub const fn kind(self) -> FieldKind {
        match self {
            Self::FirstName | Self::LastName => FieldKind::Line { max: Name::MAX_LEN },
            Self::Bio => FieldKind::Text { max: Bio::MAX_LEN },
            Self::LinkedinProfileUrl | Self::GithubProfileUrl => FieldKind::Url {
                max: ProfileUrl::MAX_LEN,
            },
        }
    }
}

/// The rule of a profile field's text; `max` counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// One line: no control or format characters.
    Line { max: usize },
    /// Several lines: line breaks and tabs allowed, no other control or format characters.
    Text { max: usize },
    /// An absolute `http`/`https` URL.
    Url { max: usize },
}

impl fmt::Display for ProfileField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a profile field's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileFieldError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Url(#[from] UrlError),
}

/// Which rule a text meets: today's for what comes in, or the one it met when it was stored
/// (profile URLs were once taken more widely: an IP address, an internationalised name).
#[derive(Clone, Copy)]
enum Rule {
    Input,
    Stored,
}

impl Rule {
    fn url(self, raw: &str) -> Result<Option<ProfileUrl>, UrlError> {
        match self {
            Self::Input => ProfileUrl::parse(raw),
            Self::Stored => ProfileUrl::from_stored(raw),
        }
    }
}

impl Profile {
    /// The text of `field`, if it is set.
    #[must_use]
    pub fn get(&self, field: ProfileField) -> Option<&str> {
        match field {
            ProfileField::FirstName => self.first_name.as_ref().map(Name::as_str),
            ProfileField::LastName => self.last_name.as_ref().map(Name::as_str),
            ProfileField::Bio => self.bio.as_ref().map(Bio::as_str),
            ProfileField::LinkedinProfileUrl => {
                self.linkedin_profile_url.as_ref().map(ProfileUrl::as_str)
            }
            ProfileField::GithubProfileUrl => {
                self.github_profile_url.as_ref().map(ProfileUrl::as_str)
            }
        }
    }

    /// Sets `field` from text with the field's own rules; blank text clears it.
    ///
    /// # Errors
    /// The field's rule, when the text breaks it; the profile is then unchanged.
    pub fn set(&mut self, field: ProfileField, raw: &str) -> Result<(), ProfileFieldError> {
        let mut patch = ProfilePatch::default();
        patch.set(field, Some(raw))?;
        patch.apply_to(self);
        Ok(())
    }

    /// A profile from `(field, text)` pairs as stored, each checked with the rule it met when it
    /// was stored (see [`ProfileUrl::from_stored`]); fields not named stay unset.
    ///
    /// # Errors
    /// The first field whose text breaks its rule, with the error.
    pub fn from_texts<'a>(
        texts: impl IntoIterator<Item = (ProfileField, Option<&'a str>)>,
    ) -> Result<Self, (ProfileField, ProfileFieldError)> {
        let mut patch = ProfilePatch::default();
        for (field, raw) in texts {
            if let Some(raw) = raw {
                patch
                    .set_with(field, Some(raw), Rule::Stored)
                    .map_err(|e| (field, e))?;
            }
        }
        let mut profile = Self::default();
        patch.apply_to(&mut profile);
        Ok(profile)
    }
}

/// What a partial update does to one field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Remove the value.
    Clear,
    Set(T),
}

impl<T> From<Option<T>> for Patch<T> {
    /// `Set` for a value, `Clear` for none.
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Clear, Self::Set)
    }
}

impl<T> Patch<T> {
    fn apply(&self, target: &mut Option<T>)
    where
        T: Clone,
    {
        match self {
            Self::Keep => {}
            Self::Clear => *target = None,
            Self::Set(v) => *target = Some(v.clone()),
        }
    }

    /// `None` to keep, `Some(None)` to clear, `Some(Some(v))` to set.
    #[must_use]
    pub fn as_change(&self) -> Option<Option<&T>> {
        match self {
            Self::Keep => None,
            Self::Clear => Some(None),
            Self::Set(v) => Some(Some(v)),
        }
    }
}

/// A partial update of a [`Profile`]: per field keep, clear or set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    pub first_name: Patch<Name>,
    pub last_name: Patch<Name>,
    pub bio: Patch<Bio>,
    pub linkedin_profile_url: Patch<ProfileUrl>,
    pub github_profile_url: Patch<ProfileUrl>,
}

impl ProfilePatch {
    /// True when the patch keeps every field.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Sets `field` from text with the field's own rules: `None` or blank text clears it.
    ///
    /// # Errors
    /// The field's rule, when the text breaks it; the patch is then unchanged.
    pub fn set(&mut self, field: ProfileField, raw: Option<&str>) -> Result<(), ProfileFieldError> {
        self.set_with(field, raw, Rule::Input)
    }

    fn set_with(
        &mut self,
        field: ProfileField,
        raw: Option<&str>,
        rule: Rule,
    ) -> Result<(), ProfileFieldError> {
        let raw = raw.unwrap_or("");
        match field {
            ProfileField::FirstName => self.first_name = Name::parse(raw)?.into(),
            ProfileField::LastName => self.last_name = Name::parse(raw)?.into(),
            ProfileField::Bio => self.bio = Bio::parse(raw)?.into(),
            ProfileField::LinkedinProfileUrl => self.linkedin_profile_url = rule.url(raw)?.into(),
            ProfileField::GithubProfileUrl => self.github_profile_url = rule.url(raw)?.into(),
        }
        Ok(())
    }

    /// Every field the patch touches, with its new text (`None`: cleared), in the contract's
    /// order.
    #[must_use]
    pub fn touched(&self) -> Vec<(ProfileField, Option<&str>)> {
        fn text<T: AsRef<str>>(patch: &Patch<T>) -> Option<Option<&str>> {
            patch.as_change().map(|v| v.map(AsRef::as_ref))
        }
        let all = [
            (ProfileField::FirstName, text(&self.first_name)),
            (ProfileField::LastName, text(&self.last_name)),
            (ProfileField::Bio, text(&self.bio)),
            (
                ProfileField::LinkedinProfileUrl,
                text(&self.linkedin_profile_url),
            ),
            (
                ProfileField::GithubProfileUrl,
                text(&self.github_profile_url),
            ),
        ];
        all.into_iter()
            .filter_map(|(field, change)| change.map(|v| (field, v)))
            .collect()
    }

    /// Applies the patch to `profile`.
    pub fn apply_to(&self, profile: &mut Profile) {
        self.first_name.apply(&mut profile.first_name);
        self.last_name.apply(&mut profile.last_name);
        self.bio.apply(&mut profile.bio);
        self.linkedin_profile_url
            .apply(&mut profile.linkedin_profile_url);
        self.github_profile_url
            .apply(&mut profile.github_profile_url);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_set_and_read_by_field_name() {
        let mut profile = Profile::default();
        for field in ProfileField::ALL {
            assert_eq!(ProfileField::from_name(field.as_str()), Some(field));
            let text = if field.as_str().ends_with("_url") {
                format!("https://example.com/{field}")
            } else {
                format!("the {field}")
            };
            profile.set(field, &format!("  {text} ")).expect("valid");
            assert_eq!(profile.get(field), Some(text.as_str()), "{field}");
        }
        assert_eq!(ProfileField::from_name("nickname"), None);
        profile.set(ProfileField::Bio, "  ").expect("blank clears");
        assert_eq!(profile.get(ProfileField::Bio), None);
        assert!(profile.get(ProfileField::FirstName).is_some());
    }

    #[test]
    fn a_refused_text_leaves_the_profile_as_it_was() {
        let mut profile =
            Profile::from_texts([(ProfileField::GithubProfileUrl, Some("https://github.com/a"))])
                .expect("valid");
        let before = profile.clone();
        assert_eq!(
            profile.set(ProfileField::GithubProfileUrl, "ftp://x"),
            Err(ProfileFieldError::Url(UrlError::Invalid))
        );
        assert_eq!(
            profile.set(ProfileField::LastName, &"x".repeat(101)),
            Err(ProfileFieldError::Text(TextError::TooLong(100)))
        );
        assert_eq!(profile, before);
        assert_eq!(
            Profile::from_texts([(ProfileField::Bio, Some("a\u{0}b"))]),
            Err((
                ProfileField::Bio,
                ProfileFieldError::Text(TextError::ControlCharacters)
            ))
        );
    }

    #[test]
    fn a_patch_keeps_clears_and_sets_each_field_alone() {
        let before = Profile::from_texts([
            (ProfileField::FirstName, Some("Ada")),
            (ProfileField::LastName, Some("Lovelace")),
            (ProfileField::Bio, Some("Analyst")),
        ])
        .expect("valid");
        let mut patch = ProfilePatch::default();
        assert!(patch.is_empty());
        patch.set(ProfileField::LastName, None).expect("clear");
        patch
            .set(
                ProfileField::LinkedinProfileUrl,
                Some("https://linkedin.com/in/ada"),
            )
            .expect("valid");
        patch
            .set(ProfileField::Bio, Some(" "))
            .expect("blank clears");
        assert!(!patch.is_empty());
        assert_eq!(
            patch.touched(),
            vec![
                (ProfileField::LastName, None),
                (ProfileField::Bio, None),
                (
                    ProfileField::LinkedinProfileUrl,
                    Some("https://linkedin.com/in/ada")
                ),
            ]
        );
        let mut after = before.clone();
        patch.apply_to(&mut after);
        assert_eq!(after.get(ProfileField::FirstName), Some("Ada"));
        assert_eq!(after.get(ProfileField::LastName), None);
        assert_eq!(after.get(ProfileField::Bio), None);
        assert_eq!(
            after.get(ProfileField::LinkedinProfileUrl),
            Some("https://linkedin.com/in/ada")
        );
        assert_eq!(after.get(ProfileField::GithubProfileUrl), None);
        assert!(
            patch
                .set(ProfileField::FirstName, Some("a\u{202E}b"))
                .is_err()
        );
        assert_eq!(patch.first_name, Patch::Keep);
    }

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

    /// The rules apply to the text as sent, as the API document's `maxLength` and `pattern` do:
    /// spaces around count toward the length, and a control character around is refused, not
    /// trimmed away.
    #[test]
    fn the_text_as_sent_meets_the_rules_and_the_trimmed_text_is_kept() {
        assert_eq!(
            Name::parse(&format!(" {} ", "x".repeat(99))),
            Err(TextError::TooLong(100))
        );
        assert_eq!(Name::parse("Ada\n"), Err(TextError::ControlCharacters));
        assert_eq!(
            Name::parse(" Ada ").map(|n| n.map(|n| n.0)),
            Ok(Some("Ada".into()))
        );
        assert_eq!(Bio::parse(&" ".repeat(501)), Err(TextError::TooLong(500)));
        assert_eq!(ProfileUrl::parse(&" ".repeat(256)), Err(UrlError::TooLong));
        let padded = format!("  https://example.com/{}", "a".repeat(234));
        assert_eq!(ProfileUrl::parse(&padded), Err(UrlError::TooLong));
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

    /// Exactly the URLs the API document's pattern allows: what a client checks before sending
    /// is what the service accepts, both ways.
    #[test]
    fn profile_urls_are_plain_web_urls_as_documented() {
        for good in [
            "HTTPS://x.io:8080/a?b=c#d",
            "hTtp://github.com/ada_l-1~x",
            "https://a.b-c.example/%C3%BC?q=a/b?c#frag?x",
            "http://localhost",
            "https://x.io?only=query",
            "https://x.io#only-fragment",
            "  https://github.com/ada  ",
        ] {
            assert!(ProfileUrl::parse(good).is_ok_and(|u| u.is_some()), "{good}");
        }
        for bad in [
            "http://x*",
            "https://1.2.3.4",
            "https://999999999999",
            "https://münchen.de",
            "https://github.com/ü",
            "https://x.io:65535",
            "https://x.io:",
            "https://user@x.io",
            "https://-x.io",
            "https://x-.io",
            "https://x..io",
            "https://x.io/a b",
            "https://x.io/%zz",
            "https://x.io/a#b#c",
            "https://x.io/[a]",
            "\u{2003}https://x.io",
        ] {
            assert_eq!(ProfileUrl::parse(bad), Err(UrlError::Invalid), "{bad}");
        }
    }

    /// An account saved while the rule was wider still loads with its URL.
    #[test]
    fn stored_urls_load_under_the_rule_they_were_stored_with() {
        let stored = Profile::from_texts([
            (ProfileField::GithubProfileUrl, Some("https://1.2.3.4/ada")),
            (
                ProfileField::LinkedinProfileUrl,
                Some("https://münchen.de/ada"),
            ),
        ])
        .expect("loads");
        assert_eq!(
            stored.get(ProfileField::GithubProfileUrl),
            Some("https://1.2.3.4/ada")
        );
        assert!(stored.get(ProfileField::LinkedinProfileUrl).is_some());
        let mut input = Profile::default();
        assert!(
            input
                .set(ProfileField::GithubProfileUrl, "https://1.2.3.4/ada")
                .is_err()
        );
        assert_eq!(
            Profile::from_texts([(ProfileField::GithubProfileUrl, Some("ftp://x.io"))]),
            Err((
                ProfileField::GithubProfileUrl,
                ProfileFieldError::Url(UrlError::Invalid)
            ))
        );
    }
}
