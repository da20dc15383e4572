//! [`Ledger`]: open (creating the key on first use), append, rotate the key, verify, export.
//! Every write happens under an exclusive lock on `ledger.jsonl` and re-reads the current key,
//! so separate handles, threads and processes chain correctly and a key removed or exposed
//! after `open` stops the very next append (fail closed).

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::canonical::check_numbers;
use crate::chain_file::{HEAD_FILE, LEDGER_FILE, append_line, open_append, read_tail, write_head};
use crate::entry::{Entry, GENESIS_PREV_HASH, KEY_ROTATED_ACTION, KeyRotation, LEDGER_CATEGORY};
use crate::error::LedgerError;
use crate::export::{ExportFormat, export_dir};
use crate::hex;
use crate::keys::{CURRENT_FILE, Key, KeyStore};
use crate::verify::{VerifyReport, verify_dir};

/// The ledger directory's name inside the data dir.
pub const LEDGER_DIR: &str = "ledger";
/// The keys directory's name inside the ledger directory.
pub const KEYS_DIR: &str = "keys";

/// The ledger directory of a data dir (`<data_dir>/ledger`).
pub fn ledger_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(LEDGER_DIR)
}

/// A signed, hash-chained, append-only ledger in one directory:
/// `ledger.jsonl`, `head.json` and `keys/`.
pub struct Ledger {
    dir: PathBuf,
    keys: KeyStore,
    /// The last key used, so that an unchanged key file is not re-derived on every append.
    cached: Mutex<Option<Key>>,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("Ledger").field("dir", &self.dir).finish()
    }
}

/// What [`Ledger::rotate_key`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    /// The retired key (its secret is deleted, its public key kept).
    pub old_key_id: String,
    /// The key that signs from now on.
    pub new_key_id: String,
    /// The rotation entry, signed by the old key.
    pub entry: Entry,
}

impl Ledger {
    /// Opens the ledger in `dir`, creating the directory, and the signing key when the ledger
    /// is empty and has none. Fails (closed) when the ledger is not writable, its last line is
    /// unreadable, or the key is missing, unreadable, exposed, or not the one the ledger expects.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Ledger, LedgerError> {
        let dir = dir.into();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| LedgerError::io("create the ledger directory", &dir, e))?;
        let ledger = Ledger {
            keys: KeyStore::new(dir.join(KEYS_DIR)),
            dir,
            cached: Mutex::new(None),
        };
        ledger.check_writable()?;
        Ok(ledger)
    }

    /// Opens `<data_dir>/ledger`.
    pub fn open_in_data_dir(data_dir: &Path) -> Result<Ledger, LedgerError> {
        Ledger::open(ledger_dir(data_dir))
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The ledger file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(LEDGER_FILE)
    }

    /// The keys.
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// Whether an append would succeed right now: the ledger file and directory are writable,
    /// the last entry is readable, and the current key is present, private (0600) and the one
    /// the ledger expects. Callers refuse to start a campaign or run when this fails.
    pub fn check_writable(&self) -> Result<(), LedgerError> {
        let (mut file, path) = self.lock()?;
        self.prepare(&mut file, &path)?;
        // The head is replaced by rename: the directory itself must take new files.
        let probe = self.dir.join(format!("{HEAD_FILE}.tmp"));
        File::create(&probe)
            .and_then(|_| fs::remove_file(&probe))
            .map_err(|e| LedgerError::io("write in the ledger directory", &self.dir, e))
    }

    /// The id of the key that signs the next entry.
    pub fn current_key_id(&self) -> Result<String, LedgerError> {
        self.keys
            .current_id()?
            .ok_or_else(|| LedgerError::KeyMissing {
                path: self.keys.dir().join(CURRENT_FILE),
            })
    }

    /// Appends one signed entry and returns it (fsynced before returning).
    pub fn append(
        &self,
        actor: &str,
        category: &str,
        subcategory: &str,
        action: &str,
        resource: &str,
        data: Value,
    ) -> Result<Entry, LedgerError> {
        check_numbers(&data).map_err(LedgerError::InvalidData)?;
        let (mut file, path) = self.lock()?;
        let (tail, key) = self.prepare(&mut file, &path)?;
        let entry = new_entry(
            tail.as_ref(),
            actor,
            category,
            subcategory,
            action,
            resource,
            data,
        );
        self.write(&mut file, &path, entry, &key)
    }

    /// Replaces the signing key: a new key is created, a `ledger`/`keys`/`key_rotated` entry
    /// announcing its id and public key is appended signed by the OLD key, then the new key
    /// becomes current and the old secret is deleted (its public key stays for verification).
    pub fn rotate_key(&self, actor: &str) -> Result<Rotation, LedgerError> {
        let (mut file, path) = self.lock()?;
        let (tail, old) = self.prepare(&mut file, &path)?;
        let new = self.keys.create()?;
        let rotation = KeyRotation {
            old_key_id: old.id.clone(),
            new_key_id: new.id.clone(),
            new_public_key: hex::encode(new.signing.verifying_key().as_bytes()),
        };
        let data = serde_json::to_value(&rotation)?;
        let entry = new_entry(
            tail.as_ref(),
            actor,
            LEDGER_CATEGORY,
            "keys",
            KEY_ROTATED_ACTION,
            &format!("key:{}", new.id),
            data,
        );
        let entry = self.write(&mut file, &path, entry, &old)?;
        // Until `current` names the new key, appends refuse (the last entry announces it).
        self.keys.set_current(&new.id)?;
        self.keys.retire(&old.id)?;
        Ok(Rotation {
            old_key_id: old.id,
            new_key_id: new.id,
            entry,
        })
    }

    /// Verifies the whole ledger (see [`verify_dir`]).
    pub fn verify(&self) -> Result<VerifyReport, LedgerError> {
        verify_dir(&self.dir)
    }

    /// Writes every entry to `out`; returns how many.
    pub fn export(&self, format: ExportFormat, out: &mut dyn Write) -> Result<usize, LedgerError> {
        export_dir(&self.dir, format, out)
    }

    /// Opens the ledger file and takes the exclusive lock (released when the file is dropped).
    fn lock(&self) -> Result<(File, PathBuf), LedgerError> {
        let path = self.path();
        let file = open_append(&path)?;
        file.lock().map_err(|e| LedgerError::io("lock", &path, e))?;
        Ok((file, path))
    }

    /// Under the lock: the last entry and the key that must sign the next one. Creates the key
    /// only for an empty ledger without one.
    fn prepare(&self, file: &mut File, path: &Path) -> Result<(Option<Entry>, Key), LedgerError> {
        let tail = read_tail(file, path)?;
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        let key = match self.keys.load_current_reusing(cached.as_ref())? {
            Some(key) => key,
            None if tail.is_none() => {
                let key = self.keys.create()?;
                self.keys.set_current(&key.id)?;
                key
            }
            None => {
                return Err(LedgerError::KeyMissing {
                    path: self.keys.dir().join(CURRENT_FILE),
                });
            }
        };
        if let Some(last) = &tail {
            let expected = last
                .key_rotation()
                .map_or_else(|| last.key_id.clone(), |r| r.new_key_id);
            if key.id != expected {
                return Err(LedgerError::KeyChanged {
                    current: key.id,
                    expected,
                });
            }
        }
        *cached = Some(key.clone());
        Ok((tail, key))
    }

    /// Seals, appends and checkpoints one entry. The caller holds the lock.
    fn write(
        &self,
        file: &mut File,
        path: &Path,
        mut entry: Entry,
        key: &Key,
    ) -> Result<Entry, LedgerError> {
        entry.seal(&key.id, &key.signing)?;
        append_line(file, path, &entry)?;
        write_head(&self.dir, &entry, key)?;
        Ok(entry)
    }
}

/// An unsealed entry chained after `tail`, stamped now.
fn new_entry(
    tail: Option<&Entry>,
    actor: &str,
    category: &str,
    subcategory: &str,
    action: &str,
    resource: &str,
    data: Value,
) -> Entry {
    Entry {
        seq: tail.map_or(1, |t| t.seq + 1),
        timestamp: now_rfc3339(),
        actor: actor.to_string(),
        category: category.to_string(),
        subcategory: subcategory.to_string(),
        action: action.to_string(),
        resource: resource.to_string(),
        data,
        prev_hash: tail.map_or_else(|| GENESIS_PREV_HASH.to_string(), |t| t.hash.clone()),
        key_id: String::new(),
        hash: String::new(),
        signature: String::new(),
    }
}

fn now_rfc3339() -> String {
    // Formatting a UTC timestamp as RFC 3339 cannot fail for years 0..=9999.
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| OffsetDateTime::UNIX_EPOCH.to_string())
}
