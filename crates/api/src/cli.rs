//! The operator's commands besides `serve`: creating an ADMIN, setting a role, lifting a lock,
//! importing accounts from a CSV file or from a FastAPI original's database, and exporting them
//! to CSV. `main` parses the command line and calls these.
//!
//! Every value that comes in (a CSV cell, a column of the original) goes through the domain's
//! constructors, exactly as an HTTP request would.
//!
//! # The CSV format
//! A header row names the columns, in any order; only `email` is required:
//! `id`, `email`, `nickname`, the profile fields (`first_name`, `last_name`, `bio` and the
//! profile URLs, see `ProfileField`), `role`, `email_verified`, `is_professional`,
//! `hashed_password`, `password`. Booleans are `true`/`false` (also `1`/`0`, `yes`/`no`, `t`/`f`; empty is false).
//! `export-csv` writes the same columns except the two password columns.

use std::{
    collections::HashMap,
    fmt,
    io::{BufRead as _, IsTerminal as _, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, anyhow};
use chrono::Utc;
use clap::Args;
use futures_util::future::try_join_all;
use um_domain::{
    Error,
    model::{Email, Nickname, Password, PasswordHash, Profile, ProfileField, Role, UserId},
    ports::PasswordHasher,
    services::Registration,
};
use um_postgres::{ImportUser, OriginalUser, PgImporter, Pool, RowOutcome};
use uuid::Uuid;

use crate::{
    config::{Config, LogFormat},
    startup::Services,
};

/// Accounts written per transaction by the imports.
pub const IMPORT_BATCH: usize = 500;
/// Accounts read per query by the export.
const EXPORT_PAGE: i64 = 1000;
/// The exit code of an import that finished but skipped rows or users it could not take.
pub const EXIT_REJECTED: u8 = 3;

/// How a command that went through ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Everything was done.
    Clean,
    /// Done, but some input was rejected (reported on standard error); exit code
    /// [`EXIT_REJECTED`].
    WithRejects,
}

/// Logging for the one-shot commands: like the server's, to standard error, but only warnings
/// unless `RUST_LOG` says otherwise, so that the output stays readable.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

// ---------------------------------------------------------------------------------------------
// create-admin, set-role, unlock
// ---------------------------------------------------------------------------------------------

/// `create-admin`: the options.
#[derive(Debug, Clone, Args)]
pub struct CreateAdminArgs {
    /// The new ADMIN's email address.
    #[arg(long)]
    pub email: String,
    /// Its nickname; a free one is generated when left out.
    #[arg(long)]
    pub nickname: Option<String>,
    /// Read the password from the first line of standard input instead of prompting for it.
    /// Without it, standard input must be a terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Creates a verified ADMIN and prints its id.
///
/// # Errors
/// A malformed email or nickname, a password that breaks the policy or that cannot be read, an
/// email or nickname that exists, or an unavailable database.
pub async fn create_admin(config: &Config, args: CreateAdminArgs) -> anyhow::Result<()> {
    let email =
        Email::parse(&args.email).map_err(|e| anyhow!("invalid email {:?}: {e}", args.email))?;
    let nickname = args
        .nickname
        .as_deref()
        .map(|n| Nickname::parse(n).map_err(|e| anyhow!("invalid nickname {n:?}: {e}")))
        .transpose()?;
    let raw = if args.password_stdin {
        password_from_stdin()?
    } else {
        password_from_prompt()?
    };
    let password =
        Password::parse(&raw).map_err(|e| anyhow!("the password is not accepted: {e}"))?;
    drop(raw);

    let services = Services::build(config).await?;
    let user = services
        .users
        .create_admin(Registration {
            email: email.clone(),
            password,
            nickname: nickname.clone(),
            profile: Profile::default(),
        })
        .await
        .map_err(|e| match e {
            Error::EmailExists | Error::EmailTaken => {
                anyhow!("an account with the email {email} exists already")
            }
            Error::NicknameTaken => anyhow!(
                "the nickname {} is taken",
                nickname.as_ref().map_or("", Nickname::as_str)
            ),
            other => domain_error(other, "creating the ADMIN"),
        })?;
    eprintln!(
        "created ADMIN {} with the nickname {}; its id:",
        user.email, user.nickname
    );
    println!("{}", user.id);
    Ok(())
}

/// One line of standard input, without its line break.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    anyhow::ensure!(read > 0, "no password on standard input");
    let trimmed = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(trimmed);
    anyhow::ensure!(!line.is_empty(), "the password on standard input is empty");
    Ok(line)
}

/// Asks twice on the terminal, without echo.
fn password_from_prompt() -> anyhow::Result<String> {
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "standard input is not a terminal: pass --password-stdin to read the password from it"
    );
    let first = rpassword::prompt_password("Password of the new ADMIN: ")
        .context("reading the password from the terminal")?;
    let second = rpassword::prompt_password("The same password again: ")
        .context("reading the password from the terminal")?;
    anyhow::ensure!(first == second, "the two passwords differ");
    Ok(first)
}

/// Sets the role of the account with `email`.
///
/// # Errors
/// A malformed email or role, an unknown account, the last ADMIN, an unavailable database.
pub async fn set_role(config: &Config, email: &str, role: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow!("invalid email {email:?}: {e}"))?;
    let role = role
        .parse::<Role>()
        .map_err(|e| anyhow!("invalid role {role:?}: {e}"))?;
    let services = Services::build(config).await?;
    let user = services
        .users
        .set_role_by_email(&email, role)
        .await
        .map_err(|e| match e {
            Error::UserNotFound => anyhow!("no account has the email {email}"),
            Error::LastAdmin => anyhow!(
                "{email} is the last ADMIN: make another account ADMIN before taking the role from it"
            ),
            other => domain_error(other, "setting the role"),
        })?;
    println!("{} is now {}", user.email, user.role);
    Ok(())
}

/// Lifts the lock of the account with `email` (and resets its failed-login counter).
///
/// # Errors
/// A malformed email, an unknown account, an unavailable database.
pub async fn unlock(config: &Config, email: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow!("invalid email {email:?}: {e}"))?;
    let services = Services::build(config).await?;
    let was_locked = services
        .repo
        .find_by_email(&email)
        .await
        .map_err(|e| domain_error(e.into(), "looking the account up"))?
        .is_some_and(|u| u.is_locked);
    let user = services
        .users
        .unlock_by_email(&email)
        .await
        .map_err(|e| match e {
            Error::UserNotFound => anyhow!("no account has the email {email}"),
            other => domain_error(other, "unlocking the account"),
        })?;
    if was_locked {
        println!("{} is unlocked", user.email);
    } else {
        println!(
            "{} was not locked; its failed-login counter is reset",
            user.email
        );
    }
    Ok(())
}

/// A use case's error with its causes, for the operator.
fn domain_error(e: Error, doing: &str) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("{doing} failed"))
}

// ---------------------------------------------------------------------------------------------
// import-csv
// ---------------------------------------------------------------------------------------------

/// A column of the CSV format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Id,
    Email,
    Nickname,
    Profile(ProfileField),
    Role,
    EmailVerified,
    IsProfessional,
    HashedPassword,
    Password,
}

impl Column {
    /// The columns `export-csv` writes, in its order.
    fn exported() -> impl Iterator<Item = Column> {
        [Column::Id, Column::Email, Column::Nickname]
            .into_iter()
            .chain(ProfileField::ALL.map(Column::Profile))
            .chain([Column::Role, Column::EmailVerified, Column::IsProfessional])
    }

    /// Every column `import-csv` reads.
    fn all() -> impl Iterator<Item = Column> {
        Self::exported().chain([Column::HashedPassword, Column::Password])
    }

    const fn name(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Email => "email",
            Column::Nickname => "nickname",
            Column::Profile(field) => field.as_str(),
            Column::Role => "role",
            Column::EmailVerified => "email_verified",
            Column::IsProfessional => "is_professional",
            Column::HashedPassword => "hashed_password",
            Column::Password => "password",
        }
    }

    fn parse(raw: &str) -> Option<Column> {
        let raw = raw.trim_start_matches('\u{feff}').trim();
        Column::all().find(|c| c.name().eq_ignore_ascii_case(raw))
    }
}

/// Where each column is in a record.
struct Header {
    positions: HashMap<Column, usize>,
    len: usize,
}

impl Header {
    fn parse(record: &csv::StringRecord) -> anyhow::Result<Header> {
        let mut positions = HashMap::new();
        for (i, name) in record.iter().enumerate() {
            let column = Column::parse(name).ok_or_else(|| {
                anyhow!(
                    "the header names an unknown column {name:?}; the columns are {}",
                    Column::all()
                        .map(Column::name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            anyhow::ensure!(
                positions.insert(column, i).is_none(),
                "the header names the column {} twice",
                column.name()
            );
        }
        anyhow::ensure!(
            positions.contains_key(&Column::Email),
            "the header has no email column (the only required one)"
        );
        Ok(Header {
            positions,
            len: record.len(),
        })
    }

    /// The cell of `column`, `""` when the file has no such column.
    fn cell<'r>(&self, record: &'r csv::StringRecord, column: Column) -> &'r str {
        self.positions
            .get(&column)
            .and_then(|&i| record.get(i))
            .unwrap_or("")
    }
}

/// The reasons a row or an original user is not taken, or a value was changed: `field: reason`.
#[derive(Debug, Default)]
struct Problems(Vec<(&'static str, String)>);

impl Problems {
    fn add(&mut self, field: &'static str, reason: impl fmt::Display) {
        self.0.push((field, reason.to_string()));
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs `parse`; on an error records it under `field` and returns `None`.
    fn check<T, E: fmt::Display>(
        &mut self,
        field: &'static str,
        parsed: Result<T, E>,
    ) -> Option<T> {
        parsed.map_err(|e| self.add(field, e)).ok()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, reason)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{field}: {reason}")?;
        }
        Ok(())
    }
}

/// The secret a row brings.
enum Secret {
    /// Hashed with Argon2id before the insert.
    Plain(Password),
    /// A bcrypt hash, kept as it is.
    Hash(PasswordHash),
    /// Neither: the account gets the unusable hash and gets in by a password reset.
    None,
}

/// A valid row, not yet hashed.
struct CsvRow {
    line: u64,
    user: ImportUser,
    secret: Secret,
}

/// A boolean cell: `true`/`false`, `1`/`0`, `yes`/`no`, `t`/`f`, any casing; empty is false.
fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "f" | "0" | "no" | "n" => Ok(false),
        "true" | "t" | "1" | "yes" | "y" => Ok(true),
        _ => Err(format!("{raw:?} is not a boolean (true or false)")),
    }
}

/// Whether `hash` is a bcrypt hash of the form the original stored: `$2a$`, `$2b$` or `$2y$`,
/// a two-digit cost of 4 to 31, and 53 characters of bcrypt's base64 (salt and hash).
fn is_bcrypt(hash: &str) -> bool {
    let Some(rest) = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|p| hash.strip_prefix(p))
    else {
        return false;
    };
    let Some((cost, tail)) = rest.split_once('$') else {
        return false;
    };
    cost.len() == 2
        && cost.parse::<u32>().is_ok_and(|c| (4..=31).contains(&c))
        && tail.len() == 53
        && tail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
}

/// Validates one record with the domain's constructors.
fn parse_record(
    header: &Header,
    record: &csv::StringRecord,
    line: u64,
) -> Result<CsvRow, Problems> {
    let mut problems = Problems::default();
    if record.len() != header.len {
        problems.add(
            "row",
            format!(
                "has {} fields where the header has {}",
                record.len(),
                header.len
            ),
        );
        return Err(problems);
    }
    let cell = |c: Column| header.cell(record, c);

    let id = match cell(Column::Id).trim() {
        "" => Some(UserId::new()),
        raw => problems.check(
            "id",
            Uuid::parse_str(raw)
                .map(UserId)
                .map_err(|_| format!("{raw:?} is not a UUID")),
        ),
    };
    let email = match cell(Column::Email).trim() {
        "" => {
            problems.add("email", "is required");
            None
        }
        raw => problems.check("email", Email::parse(raw)),
    };
    let nickname = match cell(Column::Nickname).trim() {
        "" => Some(None),
        raw => problems.check("nickname", Nickname::parse(raw).map(Some)),
    };
    let mut profile = Profile::default();
    let mut profile_valid = true;
    for field in ProfileField::ALL {
        let set = profile.set(field, cell(Column::Profile(field)));
        profile_valid &= problems.check(field.as_str(), set).is_some();
    }
    let profile = profile_valid.then_some(profile);
    let email_verified = problems.check("email_verified", parse_bool(cell(Column::EmailVerified)));
    let is_professional =
        problems.check("is_professional", parse_bool(cell(Column::IsProfessional)));
    let role = match cell(Column::Role).trim() {
        "" => Some(if email_verified == Some(true) {
            Role::Authenticated
        } else {
            Role::Anonymous
        }),
        raw => problems.check(
            "role",
            raw.parse::<Role>()
                .map_err(|e| format!("{raw:?} is not a role: {e}")),
        ),
    };
    let secret = match (cell(Column::Password), cell(Column::HashedPassword).trim()) {
        ("", "") => Some(Secret::None),
        (plain, "") => problems.check("password", Password::parse(plain).map(Secret::Plain)),
        ("", hash) if is_bcrypt(hash) => Some(Secret::Hash(PasswordHash::new(hash.to_owned()))),
        ("", _) => {
            problems.add(
                "hashed_password",
                "is not a bcrypt hash ($2a$, $2b$ or $2y$)",
            );
            None
        }
        (_, _) => {
            problems.add(
                "password",
                "give either password or hashed_password, not both",
            );
            None
        }
    };

    let (
        Some(id),
        Some(email),
        Some(nickname),
        Some(profile),
        Some(email_verified),
        Some(is_professional),
        Some(role),
        Some(secret),
    ) = (
        id,
        email,
        nickname,
        profile,
        email_verified,
        is_professional,
        role,
        secret,
    )
    else {
        return Err(problems);
    };
    let now = Utc::now();
    Ok(CsvRow {
        line,
        user: ImportUser {
            id,
            email,
            nickname,
            profile,
            role,
            email_verified,
            is_professional,
            professional_status_updated_at: is_professional.then_some(now),
            is_locked: false,
            failed_login_attempts: 0,
            // Replaced once the secret is known.
            password_hash: PasswordHash::new(String::new()),
            last_login_at: None,
            created_at: now,
            updated_at: now,
        },
        secret,
    })
}

/// Counts of an import.
#[derive(Debug, Default)]
struct Tally {
    imported: usize,
    already_present: usize,
    rejected: usize,
    renamed: usize,
}

/// The database of `config`, created and migrated if need be, with a small pool.
async fn importer(config: &Config) -> anyhow::Result<PgImporter> {
    let pool: Pool = crate::startup::prepare_database(config, 2).await?;
    Ok(PgImporter::new(pool))
}

/// The Argon2id hasher the service uses.
fn hasher() -> um_security::Argon2Hasher {
    um_security::Argon2Hasher::new()
}

/// `import-csv FILE`: imports the valid rows, one transaction per [`IMPORT_BATCH`] rows, and
/// reports each rejected row on standard error with its line number.
///
/// # Errors
/// An unreadable file or header, an unavailable database. The batches before the failure stay
/// imported; the summary so far is printed.
pub async fn import_csv(config: &Config, file: &Path) -> anyhow::Result<Completion> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(file)
        .with_context(|| format!("opening {}", file.display()))?;
    let header = Header::parse(
        reader
            .headers()
            .with_context(|| format!("reading the header row of {}", file.display()))?,
    )?;
    let importer = importer(config).await?;
    let hasher = hasher();

    let mut tally = Tally::default();
    let mut batch: Vec<CsvRow> = Vec::with_capacity(IMPORT_BATCH);
    // The first line of each email and id, to reject repetitions within the file.
    let mut seen_emails: HashMap<String, u64> = HashMap::new();
    let mut seen_ids: HashMap<Uuid, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    let result: anyhow::Result<()> = async {
        loop {
            let line = reader.position().line();
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    if let csv::ErrorKind::Io(_) = e.kind() {
                        return Err(anyhow::Error::new(e))
                            .with_context(|| format!("reading {}", file.display()));
                    }
                    let line = e.position().map_or(line, csv::Position::line);
                    tally.rejected += 1;
                    eprintln!("line {line}: {e}");
                    continue;
                }
            }
            let line = record.position().map_or(line, csv::Position::line);
            let row = match parse_record(&header, &record, line) {
                Ok(row) => row,
                Err(problems) => {
                    tally.rejected += 1;
                    eprintln!("line {line}: {problems}");
                    continue;
                }
            };
            if let Some(first) = seen_emails.get(&row.user.email.normalized()) {
                tally.rejected += 1;
                eprintln!("line {line}: email: repeats the email of line {first}");
                continue;
            }
            if let Some(first) = seen_ids.get(&row.user.id.0) {
                tally.rejected += 1;
                eprintln!("line {line}: id: repeats the id of line {first}");
                continue;
            }
            seen_emails.insert(row.user.email.normalized(), line);
            seen_ids.insert(row.user.id.0, line);
            batch.push(row);
            if batch.len() == IMPORT_BATCH {
                import_csv_batch(&importer, &hasher, std::mem::take(&mut batch), &mut tally)
                    .await?;
            }
        }
        import_csv_batch(&importer, &hasher, batch, &mut tally).await
    }
    .await;
    let summary = format!(
        "imported {}, already present {}, bad {}",
        tally.imported, tally.already_present, tally.rejected
    );
    if let Err(e) = result {
        eprintln!("stopped early; so far: {summary}");
        return Err(e);
    }
    if tally.renamed > 0 {
        println!("{summary} ({} nicknames replaced)", tally.renamed);
    } else {
        println!("{summary}");
    }
    Ok(if tally.rejected > 0 {
        Completion::WithRejects
    } else {
        Completion::Clean
    })
}

/// Hashes the plain passwords of `batch` (in parallel, bounded by the hasher) and imports it.
async fn import_csv_batch(
    importer: &PgImporter,
    hasher: &um_security::Argon2Hasher,
    batch: Vec<CsvRow>,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let (Some(first), Some(last)) = (batch.first().map(|r| r.line), batch.last().map(|r| r.line))
    else {
        return Ok(());
    };
    let users = try_join_all(batch.into_iter().map(|row| async move {
        let mut user = row.user;
        user.password_hash = match row.secret {
            Secret::Plain(password) => hasher.hash(password.secret().clone()).await?,
            Secret::Hash(hash) => hash,
            Secret::None => hasher.unusable_hash(),
        };
        anyhow::Ok((row.line, user))
    }))
    .await
    .context("hashing the passwords")?;
    let (lines, users): (Vec<u64>, Vec<ImportUser>) = users.into_iter().unzip();
    let outcome = importer
        .insert_batch(&users)
        .await
        .with_context(|| format!("importing the rows of lines {first} to {last}"))?;
    for (line, row) in lines.iter().zip(&outcome.rows) {
        if let RowOutcome::Inserted {
            nickname,
            replaced: Some(wanted),
        } = row
        {
            tally.renamed += 1;
            eprintln!("line {line}: nickname: {wanted} is taken; imported as {nickname}");
        }
    }
    tally.imported += outcome.inserted;
    tally.already_present += outcome.already_present;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// import-original
// ---------------------------------------------------------------------------------------------

/// The original's role names: its `UserRole` enum holds our four (older versions used them in
/// lower case). Anything else becomes what an account with that email status has here.
fn original_role(raw: &str, email_verified: bool, changes: &mut Problems) -> Role {
    raw.parse::<Role>().unwrap_or_else(|_| {
        let role = if email_verified {
            Role::Authenticated
        } else {
            Role::Anonymous
        };
        changes.add(
            "role",
            format!("{raw:?} is not a role here; imported as {role}"),
        );
        role
    })
}

/// Maps one user of the original onto ours, with what had to change (`Err`: why it is skipped).
/// See [`import_original`] for the rules.
fn map_original(
    original: &OriginalUser,
    unusable: &PasswordHash,
) -> Result<(ImportUser, Problems), Problems> {
    let mut changes = Problems::default();
    let email = match Email::parse(&original.email) {
        Ok(email) => email,
        Err(e) => {
            let mut why = Problems::default();
            why.add("email", format!("{:?} {e}", original.email));
            return Err(why);
        }
    };
    let nickname = match Nickname::parse(&original.nickname) {
        Ok(n) => Some(n),
        Err(e) => {
            changes.add(
                "nickname",
                format!("{:?}: {e}; a generated one is used", original.nickname),
            );
            None
        }
    };
    let email_verified = original.email_verified.unwrap_or(false);
    let role = original_role(&original.role, email_verified, &mut changes);
    let password_hash = match original.hashed_password.as_deref() {
        Some(hash) if is_bcrypt(hash) => PasswordHash::new(hash.to_owned()),
        _ => {
            changes.add(
                "hashed_password",
                "is not a bcrypt hash; the user must reset the password",
            );
            unusable.clone()
        }
    };
    let created_at = original.created_at.unwrap_or_else(Utc::now);
    // A profile value the original allowed and we do not is dropped and reported.
    let mut profile = Profile::default();
    for field in ProfileField::ALL {
        if let Some(raw) = original.profile.get(field)
            && let Err(e) = profile.set(field, raw)
        {
            changes.add(field.as_str(), format!("{e}; dropped"));
        }
    }
    let user = ImportUser {
        id: UserId(original.id),
        email,
        nickname,
        profile,
        role,
        email_verified,
        is_professional: original.is_professional.unwrap_or(false),
        professional_status_updated_at: original.professional_status_updated_at,
        is_locked: original.is_locked.unwrap_or(false),
        failed_login_attempts: original
            .failed_login_attempts
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        password_hash,
        last_login_at: original.last_login_at,
        created_at,
        updated_at: original.updated_at.unwrap_or(created_at),
    };
    Ok((user, changes))
}

/// `import-original DATABASE_URL`: copies every user of a FastAPI original's database.
///
/// Kept as they are: id, email, nickname, names, bio, profile URLs, role, `email_verified`,
/// `is_locked`, `failed_login_attempts`, `is_professional`, `professional_status_updated_at`,
/// `last_login_at`, `created_at`, `updated_at`, and the bcrypt `hashed_password` (re-hashed with
/// Argon2id at the user's first login). Not copied: `profile_picture_url` (pictures are stored by
/// this service; those users upload theirs again) and `verification_token`.
///
/// What the original allowed and we do not is fixed and reported per user: a nickname that breaks
/// our rules, or that another account has without regard to case, is replaced by a generated
/// one; a name, bio or profile URL that does not pass is dropped; an unknown role becomes
/// AUTHENTICATED or ANONYMOUS by the email status; a password hash that is not bcrypt becomes
/// unusable (the user resets the password). A user whose email is not valid here is skipped and
/// reported. Users whose id or email exist already are skipped silently and counted: running the
/// command again imports nothing new.
///
/// # Errors
/// When either database cannot be read or written.
pub async fn import_original(config: &Config, source_url: &str) -> anyhow::Result<Completion> {
    let originals = PgImporter::read_original(source_url).await?;
    let importer = importer(config).await?;
    let unusable = hasher().unusable_hash();

    let mut tally = Tally::default();
    let mut pictures = 0usize;
    let mut batch: Vec<ImportUser> = Vec::with_capacity(IMPORT_BATCH);
    let label = |o: &OriginalUser| format!("user {} ({})", o.id, o.email);
    let mut labels: Vec<String> = Vec::with_capacity(IMPORT_BATCH);
    let result: anyhow::Result<()> = async {
        for original in &originals {
            if original.has_profile_picture {
                pictures += 1;
            }
            match map_original(original, &unusable) {
                Err(why) => {
                    tally.rejected += 1;
                    eprintln!("{}: skipped: {why}", label(original));
                }
                Ok((user, changes)) => {
                    if !changes.is_empty() {
                        eprintln!("{}: {changes}", label(original));
                    }
                    batch.push(user);
                    labels.push(label(original));
                }
            }
            if batch.len() == IMPORT_BATCH {
                import_original_batch(&importer, &batch, &labels, &mut tally).await?;
                batch.clear();
                labels.clear();
            }
        }
        import_original_batch(&importer, &batch, &labels, &mut tally).await
    }
    .await;
    let summary = format!(
        "imported {}, already present {}, skipped {}",
        tally.imported, tally.already_present, tally.rejected
    );
    if let Err(e) = result {
        eprintln!("stopped early; so far: {summary}");
        return Err(e);
    }
    println!("{summary} (of {} users in the original)", originals.len());
    if pictures > 0 {
        println!(
            "{pictures} users had a profile picture URL; pictures are not copied (this service \
             stores pictures itself): those users upload theirs again"
        );
    }
    Ok(if tally.rejected > 0 {
        Completion::WithRejects
    } else {
        Completion::Clean
    })
}

async fn import_original_batch(
    importer: &PgImporter,
    batch: &[ImportUser],
    labels: &[String],
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let outcome = importer.insert_batch(batch).await?;
    for (label, row) in labels.iter().zip(&outcome.rows) {
        if let RowOutcome::Inserted {
            nickname,
            replaced: Some(wanted),
        } = row
        {
            tally.renamed += 1;
            eprintln!("{label}: nickname: {wanted} is taken here; imported as {nickname}");
        }
    }
    tally.imported += outcome.inserted;
    tally.already_present += outcome.already_present;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// export-csv
// ---------------------------------------------------------------------------------------------

/// `export-csv [FILE]`: every account in the CSV format, without password hashes, ordered by
/// email (without regard to case). To standard output without `FILE`.
///
/// # Errors
/// When the database cannot be read or the output cannot be written.
pub async fn export_csv(config: &Config, file: Option<&PathBuf>) -> anyhow::Result<()> {
    let importer = importer(config).await?;
    let out: Box<dyn Write> = match file {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(Column::exported().map(Column::name))?;
    let mut after: Option<String> = None;
    let mut count = 0usize;
    loop {
        let page = importer.export_page(after.as_deref(), EXPORT_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.email.clone());
        for u in &page {
            let bool_text = |b: bool| if b { "true" } else { "false" };
            let id = u.id.to_string();
            writer.write_record(Column::exported().map(|column| match column {
                Column::Id => id.as_str(),
                Column::Email => u.email.as_str(),
                Column::Nickname => u.nickname.as_str(),
                Column::Profile(field) => u.profile.get(field).unwrap_or(""),
                Column::Role => u.role.as_str(),
                Column::EmailVerified => bool_text(u.email_verified),
                Column::IsProfessional => bool_text(u.is_professional),
                Column::HashedPassword | Column::Password => "",
            }))?;
        }
        count += page.len();
        if page.len() < usize::try_from(EXPORT_PAGE).unwrap_or(usize::MAX) {
            break;
        }
    }
    writer.flush().context("writing the CSV")?;
    if let Some(path) = file {
        eprintln!("exported {count} users to {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> anyhow::Result<Header> {
        Header::parse(&csv::StringRecord::from(names.to_vec()))
    }

    #[test]
    fn the_header_needs_email_and_known_unique_columns() {
        assert!(header(&["email", "nickname"]).is_ok());
        assert!(header(&["\u{feff}Email", "ROLE"]).is_ok());
        assert!(header(&["nickname"]).is_err());
        assert!(header(&["email", "e-mail"]).is_err());
        assert!(header(&["email", "email"]).is_err());
    }

    #[test]
    fn bcrypt_hashes_are_recognised_by_their_form() {
        let hash = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
        assert!(is_bcrypt(hash));
        assert!(is_bcrypt(&hash.replacen("$2b$", "$2y$", 1)));
        assert!(!is_bcrypt(&hash.replacen("$2b$", "$2x$", 1)));
        assert!(!is_bcrypt(&hash[..40]));
        assert!(!is_bcrypt(
            "$2b$99$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
        ));
        assert!(!is_bcrypt("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"));
    }

    #[test]
    fn a_row_reports_every_broken_field() {
        let header =
            header(&["email", "nickname", "role", "email_verified", "password"]).expect("a header");
        let record = csv::StringRecord::from(vec!["nope", "a b", "OWNER", "maybe", "weak"]);
        let problems = parse_record(&header, &record, 7).err().expect("rejected");
        let fields: Vec<&str> = problems.0.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            ["email", "nickname", "email_verified", "role", "password"]
        );
    }

    #[test]
    fn defaults_follow_the_email_status() {
        let header = header(&["email", "email_verified"]).expect("a header");
        let verified = parse_record(
            &header,
            &csv::StringRecord::from(vec!["a@example.com", "true"]),
            2,
        )
        .expect("valid");
        assert_eq!(verified.user.role, Role::Authenticated);
        assert!(verified.user.nickname.is_none());
        assert!(matches!(verified.secret, Secret::None));
        let unverified = parse_record(
            &header,
            &csv::StringRecord::from(vec!["b@example.com", ""]),
            3,
        )
        .expect("valid");
        assert_eq!(unverified.user.role, Role::Anonymous);
    }

    #[test]
    fn the_original_roles_map_onto_ours() {
        let mut changes = Problems::default();
        assert_eq!(original_role("ADMIN", false, &mut changes), Role::Admin);
        assert_eq!(original_role("manager", true, &mut changes), Role::Manager);
        assert!(changes.is_empty());
        assert_eq!(
            original_role("PRO", true, &mut changes),
            Role::Authenticated
        );
        assert_eq!(original_role("GUEST", false, &mut changes), Role::Anonymous);
        assert_eq!(changes.0.len(), 2);
    }
}
