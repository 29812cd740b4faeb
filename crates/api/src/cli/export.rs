//! `export-csv`: every account in the CSV format of `import-csv`, without the password columns.

use std::{io::Write, path::PathBuf};

use anyhow::Context as _;
use um_domain::services::ExportCursor;

use super::{cause, csv::Column, import::import_service};
use crate::config::Config;

/// `export-csv [FILE]`: every account in the CSV format, without password hashes, ordered by
/// email (without regard to case). To standard output without `FILE`.
///
/// # Errors
/// When the database cannot be read or the output cannot be written.
pub(super) async fn export_csv(config: &Config, file: Option<&PathBuf>) -> anyhow::Result<()> {
    let service = import_service(config).await?;
    let out: Box<dyn Write> = match file {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(Column::exported().map(Column::name))?;
    let mut cursor = ExportCursor::default();
    let mut count = 0usize;
    loop {
        let page = service.export_page(&mut cursor).await.map_err(cause)?;
        if page.is_empty() {
            break;
        }
        for account in &page {
            writer.write_record(Column::exported().map(|c| c.exported_text(account)))?;
        }
        count += page.len();
    }
    writer.flush().context("writing the CSV")?;
    if let Some(path) = file {
        eprintln!("exported {count} users to {}", path.display());
    }
    Ok(())
}
