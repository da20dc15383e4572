//! `export`: the entries as one JSON array or as JSON lines, exactly as recorded (hashes and
//! signatures included, so an export can be verified elsewhere).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use crate::chain_file::LEDGER_FILE;
use crate::entry::Entry;
use crate::error::LedgerError;

/// The shape of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One pretty-printed JSON array of entries.
    Json,
    /// One compact entry per line, like the ledger file itself.
    Jsonl,
}

/// Writes every entry of the ledger in `dir` to `out`; returns how many. A line that is not an
/// entry stops the export with its line number (run `verify` to see what happened).
pub fn export_dir(
    dir: &Path,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<usize, LedgerError> {
    let path = dir.join(LEDGER_FILE);
    let entries = match File::open(&path) {
        Ok(file) => {
            file.lock_shared()
                .map_err(|e| LedgerError::io("lock", &path, e))?;
            let mut entries = Vec::new();
            for (i, line) in BufReader::new(&file).lines().enumerate() {
                let line = line.map_err(|e| LedgerError::io("read", &path, e))?;
                let entry = Entry::parse_line(&line).map_err(|reason| LedgerError::Unreadable {
                    path: path.clone(),
                    line: i + 1,
                    reason,
                })?;
                entries.push(entry);
            }
            entries
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(LedgerError::io("open", &path, e)),
    };
    let write_err = |e| LedgerError::io("write the export to", "the output", e);
    match format {
        ExportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &entries)?;
            out.write_all(b"\n").map_err(write_err)?;
        }
        ExportFormat::Jsonl => {
            for entry in &entries {
                serde_json::to_writer(&mut *out, entry)?;
                out.write_all(b"\n").map_err(write_err)?;
            }
        }
    }
    out.flush().map_err(write_err)?;
    Ok(entries.len())
}
