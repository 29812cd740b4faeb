//! The API document against the domain's rules and the routes.

use super::*;
use serde_json::Value;

#[test]
fn the_document_is_openapi_3_1() {
    let json = serde_json::to_value(document()).expect("serializable");
    if let Ok(path) = std::env::var("OPENAPI_DUMP") {
        std::fs::write(path, serde_json::to_string_pretty(&json).expect("JSON")).expect("written");
    }
    assert_eq!(json["openapi"], "3.1.0");
}

/// The bounds of `skip` and `limit` in the document are the domain's, exactly.
#[test]
fn page_bounds_are_the_domains() {
    use um_domain::services::{MAX_PAGE_SIZE, MAX_SKIP};
    let json = serde_json::to_value(document()).expect("serializable");
    for path in ["/users", "/audit-events"] {
        let parameters = json["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters");
        let schema = |name: &str| {
            parameters
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| p["schema"].clone())
                .unwrap_or_else(|| panic!("{path} has no {name}"))
        };
        assert_eq!(schema("skip")["minimum"], 0, "{path}");
        assert_eq!(schema("skip")["maximum"].as_u64(), Some(MAX_SKIP), "{path}");
        assert_eq!(schema("limit")["minimum"], 1, "{path}");
        assert_eq!(
            schema("limit")["maximum"].as_u64(),
            Some(MAX_PAGE_SIZE),
            "{path}"
        );
    }
}

/// The rules the request schemas state are the domain's: lengths are its constants, and
/// every sample the schema accepts, the domain's parser accepts too (while the schema
/// does refuse what the domain refuses for its shape); for emails, names, bios and URLs
/// the two agree both ways.
#[test]
fn request_rules_are_the_domains() {
    use um_domain::model::{Bio, Email, Name, Nickname, Password, ProfileUrl, RawToken};
    let json = serde_json::to_value(document()).expect("serializable");
    let property = |schema: &str, name: &str| -> Value {
        let found = json["components"]["schemas"][schema]["properties"][name].clone();
        assert!(found.is_object(), "{schema}.{name}");
        found
    };
    type Parse = fn(&str) -> bool;
    /// Schema, property, the domain's parser, minLength, maxLength, samples.
    type Case<'a> = (&'a str, &'a str, Parse, Option<usize>, usize, Vec<String>);
    let long = |n: usize| "a".repeat(n);
    let cases: Vec<Case> = vec![
        (
            "NewUserRequest",
            "password",
            |s| Password::parse(s).is_ok(),
            Some(Password::MIN_LEN),
            Password::MAX_LEN,
            vec![
                "Secur3*Passw0rd".into(),
                "aB3$aaaa".into(),
                "aB3$".into(),
                "abcdefgh".into(),
                "ABCDEFG1!".into(),
                "abcdefg1!".into(),
                "Abcdefgh!".into(),
                "Abcdefg12".into(),
                format!("aB3$ {}", long(124)),
                format!("aB3$ {}", long(123)),
                "0000000000".into(),
            ],
        ),
        (
            "NewUserRequest",
            "email",
            |s| Email::parse(s).is_ok(),
            None,
            Email::MAX_LEN,
            vec![
                "ada@example.com".into(),
                "a.b+c@sub.example.org".into(),
                "0@0.com".into(),
                "a@b".into(),
                "a@b.123".into(),
                ".a@b.com".into(),
                "a..b@b.com".into(),
                "a@-b.com".into(),
                "a@b-.com".into(),
                "\"a\"@b.com".into(),
                "a@[127.0.0.1]".into(),
                format!("{}@b.com", long(65)),
                format!("{}@b.com", long(64)),
                format!("a@{}.com", long(64)),
                " ada@example.com\t".into(),
                "\u{a0}ada@example.com".into(),
                "ada@example.1x".into(),
                format!("  {}@example.com", long(64)),
                format!("   {}@{}.com", long(60), long(190)),
            ],
        ),
        (
            "NewUserRequest",
            "nickname",
            |s| Nickname::parse(s).is_ok(),
            Some(Nickname::MIN_LEN),
            Nickname::MAX_LEN,
            vec![
                "ada_l-1".into(),
                "abc".into(),
                "ab".into(),
                long(30),
                long(31),
                "a b".into(),
                "ÄÖÜ".into(),
                "Admin".into(),
                "ROOT".into(),
                "admins".into(),
            ],
        ),
        (
            "UpdateMeRequest",
            "first_name",
            |s| Name::parse(s).is_ok(),
            None,
            Name::MAX_LEN,
            vec![
                "Ada".into(),
                "a\u{1}b".into(),
                "a\nb".into(),
                "a\u{85}b".into(),
                "Ada\u{202E}".into(),
                "L*\u{AD}8A".into(),
                "a\u{200B}b".into(),
                "Zoë 李 🏴\u{E0067}\u{E007F}".into(),
                long(100),
                long(101),
            ],
        ),
        (
            "UpdateMeRequest",
            "bio",
            |s| Bio::parse(s).is_ok(),
            None,
            Bio::MAX_LEN,
            vec![
                "Hi\nthere\t!".into(),
                "a\u{12}b".into(),
                "a\u{2066}b\u{FEFF}".into(),
                "\u{8b}".into(),
                long(500),
                long(501),
            ],
        ),
        (
            "UpdateUserRequest",
            "github_profile_url",
            |s| ProfileUrl::parse(s).is_ok(),
            None,
            ProfileUrl::MAX_LEN,
            vec![
                "https://github.com/ada".into(),
                "http://0.com".into(),
                "HTTPS://x.io:8080/a?b=c#d".into(),
                "".into(),
                "https://".into(),
                "ftp://example.com".into(),
                "github.com/ada".into(),
                "https://999999999999".into(),
                "https://1.2.3.4".into(),
                "https://a b.com".into(),
                format!("https://example.com/{}", long(240)),
            ],
        ),
        (
            "ConfirmJson",
            "token",
            |s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()),
            None,
            64,
            vec![
                RawToken::generate().as_str().to_owned(),
                "abc".into(),
                long(64),
            ],
        ),
    ];
    for (schema, name, parse, min, max, samples) in cases {
        let rule = property(schema, name);
        assert_eq!(
            rule["minLength"].as_u64(),
            min.map(|m| m as u64),
            "{schema}.{name}"
        );
        assert_eq!(
            rule["maxLength"].as_u64(),
            Some(max as u64),
            "{schema}.{name}"
        );
        let validator = jsonschema::draft202012::new(&rule).expect("the rule compiles");
        let (mut accepted, mut refused) = (0, 0);
        for sample in &samples {
            let valid = validator.is_valid(&Value::String(sample.clone()));
            assert!(
                !valid || parse(sample),
                "{schema}.{name}: the schema accepts {sample:?}, the domain refuses it"
            );
            // Emails and profile texts are described exactly: what the schema refuses, the
            // service refuses too (a fuzzer sending it expects a 4xx). The password pattern
            // is an ASCII subset of the policy, and a nickname's or token's form is stricter.
            let exact = !matches!(name, "password" | "new_password" | "nickname" | "token");
            assert!(
                !exact || valid || !parse(sample),
                "{schema}.{name}: the schema refuses {sample:?}, the domain accepts it"
            );
            if valid {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(accepted > 0 && refused > 0, "{schema}.{name}: {rule}");
    }
    // The same rules wherever the field recurs.
    for (schema, name, like) in [
        (
            "ChangePasswordRequest",
            "new_password",
            ("NewUserRequest", "password"),
        ),
        (
            "ConfirmForm",
            "new_password",
            ("NewUserRequest", "password"),
        ),
        (
            "ConfirmJson",
            "new_password",
            ("NewUserRequest", "password"),
        ),
        ("UpdateUserRequest", "email", ("NewUserRequest", "email")),
        (
            "UpdateMeRequest",
            "nickname",
            ("NewUserRequest", "nickname"),
        ),
        (
            "UpdateUserRequest",
            "nickname",
            ("NewUserRequest", "nickname"),
        ),
        (
            "NewUserRequest",
            "linkedin_profile_url",
            ("UpdateUserRequest", "github_profile_url"),
        ),
        (
            "UpdateMeRequest",
            "github_profile_url",
            ("UpdateUserRequest", "github_profile_url"),
        ),
        ("UnlockJson", "token", ("ConfirmJson", "token")),
    ] {
        let (a, b) = (property(schema, name), property(like.0, like.1));
        for key in ["minLength", "maxLength", "pattern"] {
            assert_eq!(a[key], b[key], "{schema}.{name} {key}");
        }
    }
    // What can be changed but not removed is not nullable.
    assert_eq!(property("UpdateUserRequest", "email")["type"], "string");
    assert_eq!(property("UpdateMeRequest", "nickname")["type"], "string");
    assert_eq!(
        property("UpdateUserRequest", "role")["$ref"],
        "#/components/schemas/Role"
    );
}

/// The documented enums are copies (the domain knows nothing of utoipa): they must list
/// exactly the domain's values, in its order.
#[test]
fn documented_enums_match_the_domain() {
    use um_domain::model;
    let json = serde_json::to_value(document()).expect("serializable");
    let documented = |name: &str| -> Vec<String> {
        serde_json::from_value(json["components"]["schemas"][name]["enum"].clone())
            .unwrap_or_else(|e| panic!("{name} has no enum: {e}"))
    };
    let domain = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        documented("Role"),
        domain(&model::Role::ALL.map(model::Role::as_str))
    );
    assert_eq!(
        documented("ProRequirement"),
        domain(&model::ProRequirement::ALL.map(model::ProRequirement::as_str))
    );
    assert_eq!(
        documented("AuditKind"),
        domain(&model::AuditKind::ALL.map(model::AuditKind::as_str))
    );
}
