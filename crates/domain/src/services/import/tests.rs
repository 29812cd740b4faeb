//! The import rules against mocked ports.

use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use secrecy::ExposeSecret as _;

use super::*;
use crate::ports::{ImportedBatch, MockAccountImporter, MockClock, MockPasswordHasher, RepoError};

const BCRYPT: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
const UNUSABLE: &str = "!unusable";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0)
        .single()
        .expect("a valid fixed time")
}

fn hasher() -> MockPasswordHasher {
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_unusable_hash()
        .returning(|| PasswordHash::new(UNUSABLE.to_owned()));
    hasher.expect_hash().returning(|p| {
        Ok(PasswordHash::new(format!(
            "$argon2id${}",
            p.expose_secret()
        )))
    });
    hasher
}

fn service(accounts: MockAccountImporter) -> ImportService {
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    ImportService::new(Arc::new(accounts), Arc::new(hasher()), Arc::new(clock))
}

fn rules() -> ImportService {
    service(MockAccountImporter::new())
}

fn fields(errors: &ValidationErrors) -> Vec<&str> {
    errors.0.iter().map(|e| e.field.as_str()).collect()
}

fn original(email: &str) -> OriginalUser {
    OriginalUser {
        id: UserId::new(),
        email: email.to_owned(),
        nickname: "old_hand".to_owned(),
        profile: vec![(ProfileField::FirstName, "Olga".to_owned())],
        has_profile_picture: false,
        role: "ADMIN".to_owned(),
        is_professional: None,
        professional_status_updated_at: None,
        last_login_at: None,
        failed_login_attempts: Some(2),
        is_locked: None,
        created_at: None,
        updated_at: None,
        email_verified: Some(true),
        hashed_password: Some(BCRYPT.to_owned()),
    }
}

#[test]
fn bcrypt_hashes_are_recognised_by_their_form() {
    assert!(is_bcrypt(BCRYPT));
    assert!(is_bcrypt(&BCRYPT.replacen("$2b$", "$2y$", 1)));
    assert!(!is_bcrypt(&BCRYPT.replacen("$2b$", "$2x$", 1)));
    assert!(!is_bcrypt(&BCRYPT[..40]));
    assert!(!is_bcrypt(&BCRYPT.replacen("$12$", "$99$", 1)));
    assert!(!is_bcrypt("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"));
}

#[test]
fn booleans_take_the_usual_spellings() {
    for raw in ["true", "T", "1", "yes", "Y"] {
        assert_eq!(parse_bool(raw), Ok(true), "{raw}");
    }
    for raw in ["", " ", "false", "f", "0", "No"] {
        assert_eq!(parse_bool(raw), Ok(false), "{raw}");
    }
    assert!(parse_bool("maybe").is_err());
}

#[test]
fn a_row_reports_every_broken_field_in_column_order() {
    let row = CsvRow {
        id: "not-a-uuid",
        email: "nope",
        nickname: "a b",
        profile: vec![(ProfileField::GithubProfileUrl, "not a url")],
        role: "OWNER",
        email_verified: "maybe",
        password: "weak",
        ..CsvRow::default()
    };
    let errors = rules().csv_row(&row).expect_err("rejected");
    assert_eq!(
        fields(&errors),
        [
            "id",
            "email",
            "nickname",
            "github_profile_url",
            "email_verified",
            "role",
            "password"
        ]
    );
}

#[test]
fn a_row_needs_an_email_and_one_secret_at_most() {
    let errors = rules().csv_row(&CsvRow::default()).expect_err("no email");
    assert_eq!(errors.to_string(), "email: is required");
    let both = CsvRow {
        email: "a@example.com",
        password: "Secur3*Passw0rd",
        hashed_password: BCRYPT,
        ..CsvRow::default()
    };
    let errors = rules().csv_row(&both).expect_err("both secrets");
    assert_eq!(fields(&errors), ["password"]);
    let argon = CsvRow {
        email: "a@example.com",
        hashed_password: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        ..CsvRow::default()
    };
    let errors = rules().csv_row(&argon).expect_err("not bcrypt");
    assert_eq!(fields(&errors), ["hashed_password"]);
}

#[test]
fn defaults_follow_the_email_status() {
    let verified = rules()
        .csv_row(&CsvRow {
            email: "a@example.com",
            email_verified: "true",
            ..CsvRow::default()
        })
        .expect("valid");
    assert_eq!(verified.account().role, Role::Authenticated);
    assert!(verified.account().nickname.is_none());
    assert_eq!(verified.account().password_hash.expose(), UNUSABLE);
    assert!(!verified.has_plain_password());
    assert_eq!(verified.account().created_at, now());
    let unverified = rules()
        .csv_row(&CsvRow {
            email: "b@example.com",
            ..CsvRow::default()
        })
        .expect("valid");
    assert_eq!(unverified.account().role, Role::Anonymous);
    assert!(!unverified.account().email_verified);
}

#[test]
fn a_row_keeps_a_bcrypt_hash_and_names_its_values() {
    let id = UserId::new();
    let id_text = id.to_string();
    let row = CsvRow {
        id: &id_text,
        email: "bob@example.com",
        nickname: "bobby",
        profile: vec![(ProfileField::Bio, "line one\nline two")],
        role: "manager",
        is_professional: "yes",
        hashed_password: BCRYPT,
        ..CsvRow::default()
    };
    let candidate = rules().csv_row(&row).expect("valid");
    let account = candidate.account();
    assert_eq!(account.id, id);
    assert_eq!(account.role, Role::Manager);
    assert_eq!(
        account.nickname.as_ref().map(Nickname::as_str),
        Some("bobby")
    );
    assert_eq!(
        account.profile.get(ProfileField::Bio),
        Some("line one\nline two")
    );
    assert!(account.is_professional);
    assert_eq!(account.professional_status_updated_at, Some(now()));
    assert_eq!(account.password_hash.expose(), BCRYPT);
}

#[test]
fn the_original_roles_map_onto_ours() {
    let mut changes = Validator::default();
    assert_eq!(original_role("ADMIN", false, &mut changes), Role::Admin);
    assert_eq!(original_role("manager", true, &mut changes), Role::Manager);
    assert!(changes.into_errors().is_empty());
    let mut changes = Validator::default();
    assert_eq!(
        original_role("PRO", true, &mut changes),
        Role::Authenticated
    );
    assert_eq!(original_role("GUEST", false, &mut changes), Role::Anonymous);
    assert_eq!(changes.into_errors().0.len(), 2);
}

#[test]
fn an_original_user_is_kept_as_it_is_when_it_passes() {
    let user = original("olga@example.com");
    let (candidate, changes) = rules().original_user(&user).expect("taken");
    assert!(changes.is_empty(), "{changes}");
    let account = candidate.account();
    assert_eq!(account.id, user.id);
    assert_eq!(account.role, Role::Admin);
    assert_eq!(account.password_hash.expose(), BCRYPT);
    assert_eq!(account.failed_login_attempts, 2);
    assert_eq!(account.profile.get(ProfileField::FirstName), Some("Olga"));
    assert_eq!(account.created_at, now(), "no created_at: now");
    assert_eq!(account.updated_at, account.created_at);
    assert!(!candidate.has_plain_password());
}

#[test]
fn an_original_user_is_fixed_where_it_breaks_our_rules() {
    let mut user = original("john@example.com");
    user.nickname = "john.doe".to_owned();
    user.role = "PRO".to_owned();
    user.hashed_password = Some("plain text".to_owned());
    user.profile = vec![
        (ProfileField::LinkedinProfileUrl, "not a url".to_owned()),
        (ProfileField::LastName, "Doe".to_owned()),
    ];
    let (candidate, changes) = rules().original_user(&user).expect("taken");
    assert_eq!(
        fields(&changes),
        [
            "nickname",
            "role",
            "hashed_password",
            "linkedin_profile_url"
        ]
    );
    assert!(
        changes.to_string().starts_with("nickname: \"john.doe\": "),
        "{changes}"
    );
    let account = candidate.account();
    assert!(account.nickname.is_none(), "generated at the insert");
    assert_eq!(account.role, Role::Authenticated);
    assert_eq!(account.password_hash.expose(), UNUSABLE);
    assert_eq!(account.profile.get(ProfileField::LinkedinProfileUrl), None);
    assert_eq!(account.profile.get(ProfileField::LastName), Some("Doe"));
}

#[test]
fn an_original_user_with_a_bad_email_is_skipped() {
    let why = rules()
        .original_user(&original("broken@@example"))
        .expect_err("skipped");
    assert!(
        why.to_string().starts_with("email: \"broken@@example\" "),
        "{why}"
    );
}

fn row(email: &str) -> CsvRow<'_> {
    CsvRow {
        email,
        ..CsvRow::default()
    }
}

#[test]
fn a_run_refuses_an_email_or_id_it_has_seen() {
    let service = rules();
    let mut run = service.run::<String>();
    let first = service.csv_row(&row("grace@example.com")).expect("valid");
    let id = first.account().id.to_string();
    run.unique(&"line 2".to_owned(), first).expect("first");
    let again = service.csv_row(&row("GRACE@example.com")).expect("valid");
    let why = run
        .unique(&"line 5".to_owned(), again)
        .expect_err("repeated email");
    assert_eq!(why.to_string(), "email: repeats the email of line 2");
    let same_id = service
        .csv_row(&CsvRow {
            id: &id,
            email: "other@example.com",
            ..CsvRow::default()
        })
        .expect("valid");
    let why = run
        .unique(&"line 6".to_owned(), same_id)
        .expect_err("repeated id");
    assert_eq!(why.to_string(), "id: repeats the id of line 2");
}

#[tokio::test]
async fn a_flush_hashes_plain_passwords_writes_the_batch_and_counts() {
    let written: Arc<Mutex<Vec<ImportedAccount>>> = Arc::default();
    let spy = Arc::clone(&written);
    let mut accounts = MockAccountImporter::new();
    accounts
        .expect_insert_batch()
        .times(1)
        .returning(move |batch| {
            spy.lock().expect("the spy").extend_from_slice(batch);
            Ok(ImportedBatch {
                rows: vec![
                    ImportedRow::Inserted {
                        nickname: Nickname::parse("generated_1").expect("a nickname"),
                        replaced: Some(Nickname::parse("taken").expect("a nickname")),
                    },
                    ImportedRow::AlreadyPresent,
                    ImportedRow::Inserted {
                        nickname: Nickname::parse("generated_2").expect("a nickname"),
                        replaced: None,
                    },
                ],
            })
        });
    let service = service(accounts);
    let mut run = service.run::<u64>();
    assert!(run.pending().is_none());
    let plain = service
        .csv_row(&CsvRow {
            email: "a@example.com",
            nickname: "taken",
            password: "Secur3*Passw0rd",
            ..CsvRow::default()
        })
        .expect("valid");
    assert!(plain.has_plain_password());
    assert!(!run.push(2, plain));
    assert!(!run.push(3, service.csv_row(&row("b@example.com")).expect("valid")));
    let kept = CsvRow {
        email: "c@example.com",
        hashed_password: BCRYPT,
        ..CsvRow::default()
    };
    assert!(!run.push(4, service.csv_row(&kept).expect("valid")));
    assert_eq!(run.pending(), Some((&2, &4)));

    let renamed = run.flush().await.expect("written");
    assert_eq!(
        renamed,
        [Renamed {
            key: 2,
            wanted: Nickname::parse("taken").expect("a nickname"),
            nickname: Nickname::parse("generated_1").expect("a nickname"),
        }]
    );
    assert_eq!(
        run.tally(),
        Tally {
            imported: 2,
            already_present: 1,
            rejected: 0,
            renamed: 1
        }
    );
    let hashes: Vec<String> = written
        .lock()
        .expect("the spy")
        .iter()
        .map(|a| a.password_hash.expose().to_owned())
        .collect();
    assert_eq!(hashes, ["$argon2id$Secur3*Passw0rd", UNUSABLE, BCRYPT]);
    assert!(run.pending().is_none());
    assert!(run.flush().await.expect("nothing to write").is_empty());
}

#[tokio::test]
async fn a_batch_is_full_at_its_size_and_a_failed_write_is_an_error() {
    let mut accounts = MockAccountImporter::new();
    accounts
        .expect_insert_batch()
        .returning(|_| Err(RepoError::Unavailable(anyhow::anyhow!("down"))));
    let service = service(accounts);
    let mut run = service.run::<usize>();
    let candidate = service.csv_row(&row("a@example.com")).expect("valid");
    let full = (1..=IMPORT_BATCH)
        .map(|line| run.push(line, candidate.clone()))
        .collect::<Vec<_>>();
    assert_eq!(full.iter().filter(|f| **f).count(), 1);
    assert!(full[IMPORT_BATCH - 1]);
    run.reject();
    assert!(matches!(run.flush().await, Err(Error::Unavailable(_))));
    assert_eq!(run.tally().rejected, 1);
    assert_eq!(run.tally().imported, 0);
}

fn exported(email: &str) -> ExportedAccount {
    ExportedAccount {
        id: UserId::new(),
        email: email.to_owned(),
        nickname: "nick".to_owned(),
        profile: Vec::new(),
        role: "ANONYMOUS".to_owned(),
        email_verified: false,
        is_professional: false,
    }
}

#[tokio::test]
async fn the_export_pages_on_after_the_last_email_until_a_short_page() {
    let asked: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let spy = Arc::clone(&asked);
    let mut accounts = MockAccountImporter::new();
    accounts
        .expect_export_page()
        .times(2)
        .returning(move |after, limit| {
            assert_eq!(limit, EXPORT_PAGE);
            let first = after.is_none();
            spy.lock().expect("the spy").push(after);
            let size = if first { EXPORT_PAGE as usize } else { 1 };
            Ok((0..size)
                .map(|i| exported(&format!("u{i:04}@example.com")))
                .collect())
        });
    let service = service(accounts);
    let mut cursor = ExportCursor::default();
    // A full page, the short one, then nothing: the export is done.
    for (step, expected_len) in [
        ("a full page", EXPORT_PAGE as usize),
        ("a short page", 1),
        ("done", 0),
    ] {
        let page = service.export_page(&mut cursor).await.expect(step);
        assert_eq!(page.len(), expected_len, "{step}");
    }
    assert_eq!(
        *asked.lock().expect("the spy"),
        [None, Some("u0999@example.com".to_owned())]
    );
}
