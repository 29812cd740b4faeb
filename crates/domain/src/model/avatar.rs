//! The default avatar: the nickname's initials on a colour derived from the user's id.

use super::{Nickname, UserId};

/// An SVG of up to two initials of `nickname` on a background whose hue comes from `id`, so
/// that a user keeps the same colour. Contains nothing but letters and digits from the
/// nickname, so it is safe to serve as `image/svg+xml`.
#[must_use]
pub fn default_avatar_svg(id: UserId, nickname: &Nickname) -> String {
    let initials = initials(nickname.as_str());
    let bytes = id.0.as_bytes();
    let hue = u16::from_be_bytes([bytes[0], bytes[1]]) % 360;
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128" role="img" aria-label="{initials}">"#,
            r#"<rect width="128" height="128" fill="hsl({hue}, 55%, 45%)"/>"#,
            r#"<text x="50%" y="50%" dy=".35em" text-anchor="middle" fill="white" "#,
            r#"font-family="Helvetica, Arial, sans-serif" font-size="52" font-weight="600">{initials}</text>"#,
            "</svg>"
        ),
        initials = initials,
        hue = hue,
    )
}

/// The first letter of the first two words (split at `_` and `-`), upper-cased; a single word
/// gives its first two characters.
fn initials(nickname: &str) -> String {
    let words: Vec<&str> = nickname
        .split(['_', '-'])
        .filter(|w| !w.is_empty())
        .collect();
    let raw: String = match words.as_slice() {
        [] => "?".to_owned(),
        [one] => one.chars().take(2).collect(),
        [first, second, ..] => first
            .chars()
            .take(1)
            .chain(second.chars().take(1))
            .collect(),
    };
    raw.to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(s: &str) -> Nickname {
        Nickname::parse(s).expect("valid nickname")
    }

    #[test]
    fn initials_come_from_the_first_two_words() {
        assert_eq!(initials("brisk_otter_4821"), "BO");
        assert_eq!(initials("ada-lovelace"), "AL");
        assert_eq!(initials("grace"), "GR");
        assert_eq!(initials("__x"), "X");
    }

    #[test]
    fn the_colour_is_stable_per_user_and_the_svg_carries_the_initials() {
        let id = UserId::new();
        let a = default_avatar_svg(id, &nick("brisk_otter_1"));
        assert_eq!(a, default_avatar_svg(id, &nick("brisk_otter_1")));
        assert!(a.starts_with("<svg") && a.contains(">BO</text>"));
        let hues: std::collections::HashSet<String> = (0..20)
            .map(|_| {
                let svg = default_avatar_svg(UserId::new(), &nick("same_name"));
                svg.split("hsl(").nth(1).unwrap_or_default().to_owned()
            })
            .collect();
        assert!(hues.len() > 1, "every user got the same colour");
    }
}
