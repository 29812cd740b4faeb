//! `import-csv` and `import-original`: read the source, hand each row or user to the domain's
//! [`ImportService`], report what it refused or changed on standard error, and print the counts.

use std::{fmt, path::Path, sync::Arc};

use anyhow::Context as _;
use um_domain::{
    ports::SystemClock,
    services::{ImportRun, ImportService, OriginalUser, Tally},
};
use um_postgres::{PgImporter, Pool};

use super::{Completion, cause, csv::Header};
use crate::config::Config;

/// The database of `config`, created and migrated if need be, with a small pool, behind the
/// import rules and the Argon2id hasher the service uses.
pub(super) async fn import_service(config: &Config) -> anyhow::Result<ImportService> {
    let pool: Pool = crate::startup::prepare_database(config, 2, 1).await?;
    Ok(ImportService::new(
        Arc::new(PgImporter::new(pool)),
        Arc::new(um_security::Argon2Hasher::new()),
        Arc::new(SystemClock),
    ))
}

/// A CSV row, named by its line in reports (`line 7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Line(u64);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.0)
    }
}

/// Rejected, or counted as done: `Clean` without rejects.
fn completion(tally: Tally) -> Completion {
    if tally.rejected > 0 {
        Completion::WithRejects
    } else {
        Completion::Clean
    }
}

/// `import-csv FILE`: imports the valid rows, one transaction per batch, and reports each
/// rejected row on standard error with its line number.
///
/// # Errors
/// An unreadable file or header, an unavailable database. The batches before the failure stay
/// imported; the summary so far is printed.
pub(super) async fn import_csv(config: &Config, file: &Path) -> anyhow::Result<Completion> {
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
    let service = import_service(config).await?;

    let mut run = service.run::<Line>();
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
                    run.reject();
                    eprintln!("line {line}: {e}");
                    continue;
                }
            }
            let line = Line(record.position().map_or(line, csv::Position::line));
            let candidate = header
                .row(&record)
                .map_err(|why| um_domain::validation::ValidationErrors::single("row", why))
                .and_then(|row| service.csv_row(&row))
                .and_then(|candidate| run.unique(&line, candidate));
            match candidate {
                Ok(candidate) => {
                    if run.push(line, candidate) {
                        flush_csv(&mut run).await?;
                    }
                }
                Err(problems) => {
                    run.reject();
                    eprintln!("{line}: {problems}");
                }
            }
        }
        flush_csv(&mut run).await
    }
    .await;
    let tally = run.tally();
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
    Ok(completion(tally))
}

/// Writes the waiting rows and reports the replaced nicknames.
async fn flush_csv(run: &mut ImportRun<Line>) -> anyhow::Result<()> {
    let Some((Line(first), Line(last))) = run.pending().map(|(f, l)| (*f, *l)) else {
        return Ok(());
    };
    let renamed = run
        .flush()
        .await
        .map_err(cause)
        .with_context(|| format!("importing the rows of lines {first} to {last}"))?;
    for r in renamed {
        eprintln!(
            "{}: nickname: {} is taken; imported as {}",
            r.key, r.wanted, r.nickname
        );
    }
    Ok(())
}

/// `import-original DATABASE_URL`: copies every user of a FastAPI original's database, by the
/// domain's rules ([`ImportService::original_user`]). Not copied: `profile_picture_url`
/// (pictures are stored by this service; those users upload theirs again) and
/// `verification_token`. Users whose id or email exist already are skipped silently and counted:
/// running the command again imports nothing new.
///
/// # Errors
/// When either database cannot be read or written.
pub(super) async fn import_original(
    config: &Config,
    source_url: &str,
) -> anyhow::Result<Completion> {
    let originals = PgImporter::read_original(source_url).await?;
    let service = import_service(config).await?;

    let mut run = service.run::<String>();
    let mut pictures = 0usize;
    let label = |o: &OriginalUser| format!("user {} ({})", o.id, o.email);
    let result: anyhow::Result<()> = async {
        for original in &originals {
            if original.has_profile_picture {
                pictures += 1;
            }
            match service.original_user(original) {
                Err(why) => {
                    run.reject();
                    eprintln!("{}: skipped: {why}", label(original));
                }
                Ok((candidate, changes)) => {
                    if !changes.is_empty() {
                        eprintln!("{}: {changes}", label(original));
                    }
                    if run.push(label(original), candidate) {
                        flush_original(&mut run).await?;
                    }
                }
            }
        }
        flush_original(&mut run).await
    }
    .await;
    let tally = run.tally();
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
    Ok(completion(tally))
}

/// Writes the waiting users and reports the replaced nicknames.
async fn flush_original(run: &mut ImportRun<String>) -> anyhow::Result<()> {
    let renamed = run.flush().await.map_err(cause)?;
    for r in renamed {
        eprintln!(
            "{}: nickname: {} is taken here; imported as {}",
            r.key, r.wanted, r.nickname
        );
    }
    Ok(())
}
