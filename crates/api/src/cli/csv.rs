//! The CSV format of `import-csv` and `export-csv`: its columns, the header row, and the help
//! text that lists them.
//!
//! A header row names the columns, in any order; only `email` is required: `id`, `email`,
//! `nickname`, the profile fields (see `ProfileField`), `role`, `email_verified`,
//! `is_professional`, `hashed_password`, `password`. Booleans are `true`/`false` (also `1`/`0`,
//! `yes`/`no`, `t`/`f`; empty is false). `export-csv` writes the same columns except the two
//! password columns. What a row means is the domain's business
//! ([`um_domain::services::ImportService::csv_row`]).

use std::collections::HashMap;

use anyhow::anyhow;
use um_domain::{
    model::ProfileField,
    ports::ExportedAccount,
    services::{CsvRow, IMPORT_BATCH},
};

/// A column of the CSV format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Column {
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
    pub(super) fn exported() -> impl Iterator<Item = Column> {
        [Column::Id, Column::Email, Column::Nickname]
            .into_iter()
            .chain(ProfileField::ALL.map(Column::Profile))
            .chain([Column::Role, Column::EmailVerified, Column::IsProfessional])
    }

    /// Every column `import-csv` reads.
    fn all() -> impl Iterator<Item = Column> {
        Self::exported().chain([Column::HashedPassword, Column::Password])
    }

    pub(super) const fn name(self) -> &'static str {
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

    /// What the help of `import-csv` says about the column after its name.
    const fn note(self) -> Option<&'static str> {
        match self {
            Column::Email => Some("required"),
            Column::Role => Some("default AUTHENTICATED when email_verified, else ANONYMOUS"),
            Column::HashedPassword => Some("a bcrypt hash, kept"),
            Column::Password => Some("hashed with Argon2id"),
            _ => None,
        }
    }

    fn parse(raw: &str) -> Option<Column> {
        let raw = raw.trim_start_matches('\u{feff}').trim();
        Column::all().find(|c| c.name().eq_ignore_ascii_case(raw))
    }

    /// The text of this column for an exported account.
    pub(super) fn exported_text(self, account: &ExportedAccount) -> String {
        let bool_text = |b: bool| if b { "true" } else { "false" };
        match self {
            Column::Id => account.id.to_string(),
            Column::Email => account.email.clone(),
            Column::Nickname => account.nickname.clone(),
            Column::Profile(field) => account.profile_text(field).to_owned(),
            Column::Role => account.role.clone(),
            Column::EmailVerified => bool_text(account.email_verified).to_owned(),
            Column::IsProfessional => bool_text(account.is_professional).to_owned(),
            Column::HashedPassword | Column::Password => String::new(),
        }
    }
}

/// The long help of `import-csv`; the columns are listed from [`Column`].
pub(super) fn import_help() -> String {
    let columns: Vec<String> = Column::all()
        .map(|c| match c.note() {
            Some(note) => format!("{} ({note})", c.name()),
            None => c.name().to_owned(),
        })
        .collect();
    format!(
        "Import accounts from a CSV file; bad rows are reported and skipped.\n\n\
         The header row names the columns, in any order: {}. An account without either gets in \
         by a password reset; a missing nickname is generated. Every row is validated like an \
         API request; each bad row is reported on standard error with its line number. Rows are \
         imported in transactions of {IMPORT_BATCH}. Accounts whose id or email (in any casing) \
         exist are skipped and counted as already present, so the import can run again. Exits \
         with 0 when every row was good, 3 when some were rejected, 1 on failure.",
        columns.join(", ")
    )
}

/// The long help of `export-csv`; the columns are listed from [`Column`].
pub(super) fn export_help() -> String {
    let columns: Vec<&str> = Column::exported().map(Column::name).collect();
    format!(
        "Write every account as CSV, ordered by email.\n\n\
         The columns of import-csv without the password columns: {}.",
        columns.join(", ")
    )
}

/// Where each column is in a record.
pub(super) struct Header {
    positions: HashMap<Column, usize>,
    len: usize,
}

impl Header {
    pub(super) fn parse(record: &csv::StringRecord) -> anyhow::Result<Header> {
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

    /// The cells of `record` by column, or why the record does not fit the header.
    pub(super) fn row<'r>(&self, record: &'r csv::StringRecord) -> Result<CsvRow<'r>, String> {
        if record.len() != self.len {
            return Err(format!(
                "has {} fields where the header has {}",
                record.len(),
                self.len
            ));
        }
        let cell = |column: Column| {
            self.positions
                .get(&column)
                .and_then(|&i| record.get(i))
                .unwrap_or("")
        };
        Ok(CsvRow {
            id: cell(Column::Id),
            email: cell(Column::Email),
            nickname: cell(Column::Nickname),
            profile: ProfileField::ALL
                .into_iter()
                .map(|field| (field, cell(Column::Profile(field))))
                .collect(),
            role: cell(Column::Role),
            email_verified: cell(Column::EmailVerified),
            is_professional: cell(Column::IsProfessional),
            hashed_password: cell(Column::HashedPassword),
            password: cell(Column::Password),
        })
    }
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
    fn a_record_gives_the_cells_of_its_columns_and_must_fit_the_header() {
        let header = header(&["role", "email", "bio"]).expect("a header");
        let record = csv::StringRecord::from(vec!["ADMIN", "a@example.com", "hi"]);
        let row = header.row(&record).expect("fits");
        assert_eq!(
            (row.email, row.role, row.nickname),
            ("a@example.com", "ADMIN", "")
        );
        assert!(row.profile.contains(&(ProfileField::Bio, "hi")));
        let short = csv::StringRecord::from(vec!["ADMIN"]);
        assert_eq!(
            header.row(&short).err().as_deref(),
            Some("has 1 fields where the header has 3")
        );
    }

    #[test]
    fn the_help_lists_every_column() {
        let help = import_help();
        for column in Column::all() {
            assert!(help.contains(column.name()), "{}", column.name());
        }
        assert!(export_help().ends_with("role, email_verified, is_professional."));
    }
}
