//! The files of a ledger directory: `ledger.jsonl` (one entry per line, append-only, fsynced per
//! append, guarded by an exclusive `flock` so processes never interleave) and `head.json` (a
//! signed note of the last seq and hash, so that cutting entries off the end is detectable).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use ed25519_dalek::{Signature, Signer, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::entry::Entry;
use crate::error::LedgerError;
use crate::hex;
use crate::keys::Key;

/// The entries, one JSON object per line.
pub const LEDGER_FILE: &str = "ledger.jsonl";
/// The signed checkpoint of the last entry.
pub const HEAD_FILE: &str = "head.json";

/// The last seq and hash written, signed by the key that wrote them. Written after the entry is
/// fsynced, so after a crash it may lag the ledger by one entry but never lead it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// The seq of the last entry.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// The key that signed this head.
    pub key_id: String,
    /// Lowercase hex Ed25519 signature of [`Head::message`].
    pub signature: String,
}

impl Head {
    /// The signed bytes; the prefix keeps a head signature from ever passing as an entry's.
    pub fn message(seq: u64, hash: &str) -> Vec<u8> {
        format!("shakedown-ledger-head\n{seq}\n{hash}").into_bytes()
    }

    fn sign(seq: u64, hash: &str, key: &Key) -> Head {
        Head {
            seq,
            hash: hash.to_string(),
            key_id: key.id.clone(),
            signature: hex::encode(&key.signing.sign(&Head::message(seq, hash)).to_bytes()),
        }
    }

    /// Whether the signature is `key`'s.
    pub fn check_signature(&self, key: &VerifyingKey) -> bool {
        hex::decode::<64>(&self.signature).is_some_and(|sig| {
            key.verify(
                &Head::message(self.seq, &self.hash),
                &Signature::from_bytes(&sig),
            )
            .is_ok()
        })
    }
}

/// Opens (creating) the ledger file for appending and reading its tail.
pub fn open_append(path: &Path) -> Result<File, LedgerError> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| LedgerError::io("open the ledger for appending", path, e))
}

/// The last entry of the ledger, reading only its end. A last line without its newline (a torn
/// write) or that does not parse is an error: nothing may be chained to it.
pub fn read_tail(file: &mut File, path: &Path) -> Result<Option<Entry>, LedgerError> {
    let io_err = |e| LedgerError::io("read the end of", path, e);
    let len = file.seek(SeekFrom::End(0)).map_err(io_err)?;
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1)).map_err(io_err)?;
    file.read_exact(&mut last).map_err(io_err)?;
    if last[0] != b'\n' {
        return Err(LedgerError::CorruptTail {
            path: path.to_path_buf(),
            reason: "the last line is incomplete (no newline): a write was cut short".into(),
        });
    }
    // Read backwards in chunks until the newline before the last line (or the start).
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    loop {
        let step = pos.min(4096);
        pos -= step;
        let mut chunk = vec![0u8; step as usize];
        file.seek(SeekFrom::Start(pos)).map_err(io_err)?;
        file.read_exact(&mut chunk).map_err(io_err)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        let body = &tail[..tail.len() - 1];
        if let Some(nl) = body.iter().rposition(|&b| b == b'\n') {
            tail.drain(..=nl);
            break;
        }
        if pos == 0 {
            break;
        }
    }
    tail.pop();
    let line = String::from_utf8(tail).map_err(|_| LedgerError::CorruptTail {
        path: path.to_path_buf(),
        reason: "the last line is not UTF-8".into(),
    })?;
    Entry::parse_line(&line)
        .map(Some)
        .map_err(|reason| LedgerError::CorruptTail {
            path: path.to_path_buf(),
            reason,
        })
}

/// Appends one entry as a line and fsyncs it. The caller holds the lock.
pub fn append_line(file: &mut File, path: &Path, entry: &Entry) -> Result<(), LedgerError> {
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    // One write of the whole line: with O_APPEND and the lock, lines never interleave.
    file.write_all(&line)
        .and_then(|()| file.sync_data())
        .map_err(|e| LedgerError::io("append to", path, e))
}

/// Replaces the head checkpoint (write, fsync, rename). The directory is not fsynced: a head
/// lost in a crash only lags the ledger, which verify accepts.
pub fn write_head(dir: &Path, entry: &Entry, key: &Key) -> Result<(), LedgerError> {
    let head = Head::sign(entry.seq, &entry.hash, key);
    let path = dir.join(HEAD_FILE);
    let tmp = dir.join(format!("{HEAD_FILE}.tmp"));
    let text = serde_json::to_vec(&head)?;
    File::create(&tmp)
        .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_data()))
        .map_err(|e| LedgerError::io("write", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| LedgerError::io("replace", &path, e))
}

/// What `head.json` holds.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadState {
    /// No head file (an empty ledger, or it was deleted).
    Missing,
    /// A head file that does not parse.
    Unreadable(String),
    /// A parsed head (its signature is not checked here).
    Present(Head),
}

/// Reads the head checkpoint.
pub fn read_head(dir: &Path) -> Result<HeadState, LedgerError> {
    let path = dir.join(HEAD_FILE);
    match fs::read(&path) {
        Ok(bytes) => Ok(match serde_json::from_slice(&bytes) {
            Ok(head) => HeadState::Present(head),
            Err(e) => HeadState::Unreadable(e.to_string()),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HeadState::Missing),
        Err(e) => Err(LedgerError::io("read", path, e)),
    }
}
