//! The ledger's error type. Each message names the file and says what to do next, because these
//! errors are what stops a campaign from starting (the ledger fails closed).

use std::io;
use std::path::PathBuf;

/// What can go wrong when opening, appending to or reading a ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A file or directory of the ledger could not be used.
    #[error(
        "cannot {action} {path}: {source}; fix its permissions or pass --data-dir / set SHAKEDOWN_DATA_DIR to a writable directory"
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The ledger exists and has entries, but the signing key is gone. A fresh key is only ever
    /// created for an empty ledger: silently replacing a lost key would hide who signed what.
    #[error(
        "the signing key {path} is missing but the ledger already has entries; restore the key from backup (a new key is only created for an empty ledger); nothing may run until then"
    )]
    KeyMissing { path: PathBuf },
    /// The secret key file may be read by someone other than its owner.
    #[error(
        "refusing to use the signing key {path}: it is readable by group or others (mode {mode:03o}); run `chmod 600 {path}`, and rotate the key (`shakedown keys rotate`) if others could have copied it"
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    /// A key file exists but does not hold a key.
    #[error("the key file {path} is unusable: {reason}; restore it from backup")]
    KeyInvalid { path: PathBuf, reason: String },
    /// The current key is not the one the ledger's last entry says must sign next.
    #[error(
        "the current signing key {current} is not the key the ledger expects ({expected}); keys may only change through `shakedown keys rotate`; restore keys/current or the key files"
    )]
    KeyChanged { current: String, expected: String },
    /// The last line of the ledger cannot be read as an entry, so nothing can be chained to it.
    #[error(
        "the ledger {path} ends with an unreadable entry ({reason}); run `shakedown ledger verify` and move the damaged ledger aside; nothing may be appended until then"
    )]
    CorruptTail { path: PathBuf, reason: String },
    /// A line of the ledger is not an entry (export refuses to guess).
    #[error(
        "line {line} of {path} is not a ledger entry ({reason}); run `shakedown ledger verify`"
    )]
    Unreadable {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// `data` holds something canonical JSON cannot represent exactly.
    #[error("ledger entry data rejected: {0}")]
    InvalidData(String),
    /// Serialising an entry failed (it never does for well-formed entries).
    #[error("cannot serialise a ledger entry: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl LedgerError {
    /// Wraps an I/O error with what we were doing and to which path.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LedgerError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
