//! The operator's bulk imports (`import-csv`, `import-original`) and the export (`export-csv`):
//! which accounts are taken, with which values, and what is reported about them.
//!
//! # Who does what
//! The sources are read by the adapters, and handed in as text, unvalidated: a row of a CSV file
//! as its cells ([`CsvRow`], the file format itself is the command line's business) and a user
//! of a FastAPI original's database as stored there ([`OriginalUser`], read by the PostgreSQL
//! adapter). Reading the original is no port: it is a one-off source the operator names by URL
//! on the command line, not something the service depends on, and nothing here would differ
//! between two ways of reading it. Writing our accounts and paging through them for the export
//! go through the [`AccountImporter`] port.
//!
//! Decided here, with the domain's constructors and one problem report
//! ([`ValidationErrors`], `field: reason; …`):
//! - a CSV row is taken as a whole or refused with every bad field
//!   ([`ImportService::csv_row`]), and an email or id that an earlier row of the same file has is
//!   refused ([`ImportRun::unique`]);
//! - a user of the original is fixed where it can be (a bad nickname is replaced, a bad profile
//!   value dropped, an unknown role replaced, a hash that is not bcrypt made unusable) and
//!   skipped only for an email that is not valid here ([`ImportService::original_user`]);
//! - the role of a row that names none, and of an original role we do not know, follows the
//!   email status: AUTHENTICATED when verified, else ANONYMOUS;
//! - a bcrypt hash ([`is_bcrypt`]) is kept and becomes Argon2id at the next login; a plain
//!   password is hashed through the [`PasswordHasher`] port (off the async executor) when its
//!   batch is written; an account with neither gets the hasher's unusable hash and gets in by a
//!   password reset;
//! - an account whose nickname is taken is imported under a generated one, and the run reports
//!   the replacement ([`Renamed`]); an account whose id or email exists is counted as already
//!   present, so that an import can run again ([`ImportRun::flush`]).

use std::{collections::HashMap, fmt, sync::Arc};

use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;

use crate::{
    error::Error,
    model::{Email, Nickname, Password, PasswordHash, Profile, ProfileField, Role, UserId},
    ports::{
        AccountImporter, Clock, ExportedAccount, ImportedAccount, ImportedRow, PasswordHasher,
    },
    validation::{ValidationErrors, Validator},
};

/// Accounts written per transaction by the imports.
pub const IMPORT_BATCH: usize = 500;
/// Accounts read per query by the export.
pub const EXPORT_PAGE: u32 = 1000;

/// One row of a CSV file: the text of each cell, `""` for a column the file does not have.
#[derive(Debug, Clone, Default)]
pub struct CsvRow<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub nickname: &'a str,
    /// The cells of the profile fields' columns; a field not named has no column.
    pub profile: Vec<(ProfileField, &'a str)>,
    pub role: &'a str,
    pub email_verified: &'a str,
    pub is_professional: &'a str,
    /// A bcrypt hash, kept as it is.
    pub hashed_password: &'a str,
    /// A plain password, hashed with the service's hasher.
    pub password: &'a str,
}

impl CsvRow<'_> {
    fn profile_cell(&self, field: ProfileField) -> &str {
        self.profile
            .iter()
            .find(|(f, _)| *f == field)
            .map_or("", |(_, cell)| cell)
    }
}

/// A user of a FastAPI original as stored there, unvalidated. Columns the original declares
/// nullable are `Option`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalUser {
    pub id: UserId,
    pub email: String,
    pub nickname: String,
    /// The profile fields that hold a value, as text.
    pub profile: Vec<(ProfileField, String)>,
    /// Whether the original pointed at a profile picture (which is not copied).
    pub has_profile_picture: bool,
    /// The original's `UserRole` enum value as text.
    pub role: String,
    pub is_professional: Option<bool>,
    pub professional_status_updated_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub failed_login_attempts: Option<i32>,
    pub is_locked: Option<bool>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub email_verified: Option<bool>,
    pub hashed_password: Option<String>,
}

impl OriginalUser {
    /// The stored text of `field`, if any.
    fn profile_text(&self, field: ProfileField) -> Option<&str> {
        self.profile
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, text)| text.as_str())
    }
}

/// The password a CSV row brings.
enum Secret {
    /// Neither column: the unusable hash; the account gets in by a password reset.
    None,
    /// Hashed with the service's hasher when the batch is written.
    Plain(Password),
    /// A bcrypt hash, kept as it is.
    Bcrypt(PasswordHash),
}

/// An account that passed the rules, ready to be written; a plain password is hashed only
/// then, with the rest of its batch.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its `password_hash` is the kept bcrypt hash or the unusable one until `password` is
    /// hashed.
    account: ImportedAccount,
    password: Option<Password>,
}

impl Candidate {
    /// The account as it will be written (the hash aside, when a plain password waits).
    #[must_use]
    pub fn account(&self) -> &ImportedAccount {
        &self.account
    }

    /// Whether a plain password waits to be hashed.
    #[must_use]
    pub fn has_plain_password(&self) -> bool {
        self.password.is_some()
    }
}

/// A nickname that was taken, and the generated one the account was imported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed<K> {
    /// Which account, as the caller named it in [`ImportRun::push`].
    pub key: K,
    pub wanted: Nickname,
    pub nickname: Nickname,
}

/// The counts of an import run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub imported: usize,
    pub already_present: usize,
    /// Rows or users refused (counted by [`ImportRun::reject`]).
    pub rejected: usize,
    /// Accounts imported under a generated nickname because theirs was taken.
    pub renamed: usize,
}

/// Where an export stands: after which email it goes on, and whether it is done.
#[derive(Debug, Clone, Default)]
pub struct ExportCursor {
    after: Option<String>,
    done: bool,
}

/// The imports and the export. Cheap to clone.
#[derive(Clone)]
pub struct ImportService {
    accounts: Arc<dyn AccountImporter>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ImportService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportService").finish_non_exhaustive()
    }
}

impl ImportService {
    #[must_use]
    pub fn new(
        accounts: Arc<dyn AccountImporter>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            accounts,
            hasher,
            clock,
        }
    }

    /// A CSV row as an account, or every bad field of it, in the order of the columns: id,
    /// email, nickname, the profile fields, `email_verified`, `is_professional`, role, the
    /// password.
    ///
    /// An empty id is a new one, an empty nickname is generated at the insert, an empty role
    /// follows the email status. A row gives a plain `password` or a bcrypt `hashed_password`,
    /// or neither (the unusable hash), never both.
    ///
    /// # Errors
    /// Every field that breaks its rule.
    pub fn csv_row(&self, row: &CsvRow<'_>) -> Result<Candidate, ValidationErrors> {
        let mut v = Validator::default();
        let id = match row.id.trim() {
            "" => Some(UserId::new()),
            raw => v.check(
                "id",
                uuid::Uuid::parse_str(raw)
                    .map(UserId)
                    .map_err(|_| format!("{raw:?} is not a UUID")),
            ),
        };
        let email = match row.email.trim() {
            "" => {
                v.error("email", "is required");
                None
            }
            raw => v.check("email", Email::parse(raw)),
        };
        let nickname = match row.nickname.trim() {
            "" => Some(None),
            raw => v.check("nickname", Nickname::parse(raw).map(Some)),
        };
        let mut profile = Profile::default();
        let mut profile_valid = true;
        for field in ProfileField::ALL {
            let set = profile.set(field, row.profile_cell(field));
            profile_valid &= v.check(field.as_str(), set).is_some();
        }
        let profile = profile_valid.then_some(profile);
        let email_verified = v.check("email_verified", parse_bool(row.email_verified));
        let is_professional = v.check("is_professional", parse_bool(row.is_professional));
        let role = match row.role.trim() {
            "" => Some(role_by_email_status(email_verified == Some(true))),
            raw => v.check(
                "role",
                raw.parse::<Role>()
                    .map_err(|e| format!("{raw:?} is not a role: {e}")),
            ),
        };
        let secret = match (row.password, row.hashed_password.trim()) {
            ("", "") => Some(Secret::None),
            (plain, "") => v.check("password", Password::parse(plain).map(Secret::Plain)),
            ("", hash) if is_bcrypt(hash) => {
                Some(Secret::Bcrypt(PasswordHash::new(hash.to_owned())))
            }
            ("", _) => {
                v.error(
                    "hashed_password",
                    "is not a bcrypt hash ($2a$, $2b$ or $2y$)",
                );
                None
            }
            (_, _) => {
                v.error(
                    "password",
                    "give either password or hashed_password, not both",
                );
                None
            }
        };
        let errors = v.into_errors();
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
            return Err(errors);
        };
        let (password_hash, password) = match secret {
            Secret::None => (self.hasher.unusable_hash(), None),
            Secret::Plain(password) => (self.hasher.unusable_hash(), Some(password)),
            Secret::Bcrypt(hash) => (hash, None),
        };
        let now = self.clock.now();
        Ok(Candidate {
            account: ImportedAccount {
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
                password_hash,
                last_login_at: None,
                created_at: now,
                updated_at: now,
            },
            password,
        })
    }

    /// A user of the original as an account, with what had to change about it (empty when
    /// nothing did).
    ///
    /// Kept as they are: id, email, nickname, names, bio, profile URLs, role,
    /// `email_verified`, `is_locked`, `failed_login_attempts`, `is_professional`,
    /// `professional_status_updated_at`, `last_login_at`, `created_at`, `updated_at`, and the
    /// bcrypt `hashed_password`. What the original allowed and we do not is fixed and reported:
    /// a nickname that breaks our rules is replaced by a generated one at the insert, a name,
    /// bio or profile URL that does not pass is dropped, an unknown role becomes AUTHENTICATED
    /// or ANONYMOUS by the email status, a hash that is not bcrypt becomes unusable (the user
    /// resets the password).
    ///
    /// # Errors
    /// An email that is not valid here: the user is skipped.
    pub fn original_user(
        &self,
        original: &OriginalUser,
    ) -> Result<(Candidate, ValidationErrors), ValidationErrors> {
        let email = Email::parse(&original.email)
            .map_err(|e| ValidationErrors::single("email", format!("{:?} {e}", original.email)))?;
        let mut changes = Validator::default();
        let nickname = match Nickname::parse(&original.nickname) {
            Ok(n) => Some(n),
            Err(e) => {
                changes.error(
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
                changes.error(
                    "hashed_password",
                    "is not a bcrypt hash; the user must reset the password",
                );
                self.hasher.unusable_hash()
            }
        };
        let created_at = original.created_at.unwrap_or_else(|| self.clock.now());
        // A profile value the original allowed and we do not is dropped and reported.
        let mut profile = Profile::default();
        for field in ProfileField::ALL {
            if let Some(raw) = original.profile_text(field)
                && let Err(e) = profile.set(field, raw)
            {
                changes.error(field.as_str(), format!("{e}; dropped"));
            }
        }
        let account = ImportedAccount {
            id: original.id,
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
        Ok((
            Candidate {
                account,
                password: None,
            },
            changes.into_errors(),
        ))
    }

    /// A new import run whose accounts the caller names by `K` (a line number, a label).
    #[must_use]
    pub fn run<K>(&self) -> ImportRun<K> {
        ImportRun {
            service: self.clone(),
            pending: Vec::with_capacity(IMPORT_BATCH),
            seen_emails: HashMap::new(),
            seen_ids: HashMap::new(),
            tally: Tally::default(),
        }
    }

    /// The next [`EXPORT_PAGE`] accounts of the export, ordered by email without regard to case
    /// (then id); empty once every account was returned.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` when the accounts cannot be read.
    pub async fn export_page(
        &self,
        cursor: &mut ExportCursor,
    ) -> Result<Vec<ExportedAccount>, Error> {
        if cursor.done {
            return Ok(Vec::new());
        }
        let page = self
            .accounts
            .export_page(cursor.after.clone(), EXPORT_PAGE)
            .await?;
        cursor.after = page.last().map(|u| u.email.clone());
        cursor.done = page.len() < usize::try_from(EXPORT_PAGE).unwrap_or(usize::MAX);
        Ok(page)
    }
}

/// An import in progress: accounts are pushed one by one and written in batches of
/// [`IMPORT_BATCH`], one transaction each; the counts add up as it goes.
pub struct ImportRun<K> {
    service: ImportService,
    pending: Vec<(K, Candidate)>,
    /// The first account of each email (normalised) and id, to refuse repetitions.
    seen_emails: HashMap<String, K>,
    seen_ids: HashMap<UserId, K>,
    tally: Tally,
}

impl<K: Clone + fmt::Display> ImportRun<K> {
    /// The counts so far.
    #[must_use]
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// Counts a row or user that was refused (and reported by the caller).
    pub fn reject(&mut self) {
        self.tally.rejected += 1;
    }

    /// Refuses `candidate` when an earlier account of this run, named `K` in the message, has
    /// its email (without regard to case) or its id; otherwise remembers them under `key`.
    ///
    /// # Errors
    /// `email: repeats the email of {first}` or `id: repeats the id of {first}`.
    pub fn unique(&mut self, key: &K, candidate: Candidate) -> Result<Candidate, ValidationErrors> {
        let email = candidate.account.email.normalized();
        if let Some(first) = self.seen_emails.get(&email) {
            return Err(ValidationErrors::single(
                "email",
                format!("repeats the email of {first}"),
            ));
        }
        let id = candidate.account.id;
        if let Some(first) = self.seen_ids.get(&id) {
            return Err(ValidationErrors::single(
                "id",
                format!("repeats the id of {first}"),
            ));
        }
        self.seen_emails.insert(email, key.clone());
        self.seen_ids.insert(id, key.clone());
        Ok(candidate)
    }

    /// Adds an account to the batch; true when the batch is full and wants a
    /// [`ImportRun::flush`].
    pub fn push(&mut self, key: K, candidate: Candidate) -> bool {
        self.pending.push((key, candidate));
        self.pending.len() >= IMPORT_BATCH
    }

    /// The first and the last account of the batch waiting to be written.
    #[must_use]
    pub fn pending(&self) -> Option<(&K, &K)> {
        Some((&self.pending.first()?.0, &self.pending.last()?.0))
    }

    /// Writes the waiting batch in one transaction: hashes its plain passwords (in parallel, as
    /// far as the hasher allows), inserts it, and counts what happened. Returns the accounts
    /// that were imported under a generated nickname because theirs was taken.
    ///
    /// # Errors
    /// `Internal` when hashing fails, `Unavailable`/`Internal` when the batch cannot be
    /// written; nothing of the batch is kept then, the batches before it stay.
    pub async fn flush(&mut self) -> Result<Vec<Renamed<K>>, Error> {
        let batch = std::mem::take(&mut self.pending);
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let hasher = &self.service.hasher;
        let hashed = try_join_all(batch.into_iter().map(|(key, candidate)| async move {
            let mut account = candidate.account;
            if let Some(password) = candidate.password {
                account.password_hash = hasher.hash(password.secret().clone()).await?;
            }
            anyhow::Ok((key, account))
        }))
        .await
        .map_err(|e| Error::Internal(e.context("hashing the passwords")))?;
        let (keys, accounts): (Vec<K>, Vec<ImportedAccount>) = hashed.into_iter().unzip();
        let outcome = self.service.accounts.insert_batch(&accounts).await?;
        let mut renamed = Vec::new();
        for (key, row) in keys.into_iter().zip(outcome.rows) {
            match row {
                ImportedRow::AlreadyPresent => self.tally.already_present += 1,
                ImportedRow::Inserted { nickname, replaced } => {
                    self.tally.imported += 1;
                    if let Some(wanted) = replaced {
                        self.tally.renamed += 1;
                        renamed.push(Renamed {
                            key,
                            wanted,
                            nickname,
                        });
                    }
                }
            }
        }
        Ok(renamed)
    }
}

/// The role of an account that names none: AUTHENTICATED when its email is verified, else
/// ANONYMOUS (what registering and verifying would have given it).
#[must_use]
pub fn role_by_email_status(email_verified: bool) -> Role {
    if email_verified {
        Role::Authenticated
    } else {
        Role::Anonymous
    }
}

/// The original's role names: its `UserRole` enum holds our four (older versions used them in
/// lower case). Anything else becomes what an account with that email status has here.
fn original_role(raw: &str, email_verified: bool, changes: &mut Validator) -> Role {
    raw.parse::<Role>().unwrap_or_else(|_| {
        let role = role_by_email_status(email_verified);
        changes.error(
            "role",
            format!("{raw:?} is not a role here; imported as {role}"),
        );
        role
    })
}

/// A boolean cell: `true`/`false`, `1`/`0`, `yes`/`no`, `t`/`f`, any casing; empty is false.
///
/// # Errors
/// Any other text.
pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "f" | "0" | "no" | "n" => Ok(false),
        "true" | "t" | "1" | "yes" | "y" => Ok(true),
        _ => Err(format!("{raw:?} is not a boolean (true or false)")),
    }
}

/// Whether `hash` is a bcrypt hash of the form the original stored: `$2a$`, `$2b$` or `$2y$`,
/// a two-digit cost of 4 to 31, and 53 characters of bcrypt's base64 (salt and hash).
#[must_use]
pub fn is_bcrypt(hash: &str) -> bool {
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

#[cfg(test)]
mod tests;
