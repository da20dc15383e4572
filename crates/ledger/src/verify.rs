//! `verify`: re-derives every hash, checks every signature against the key in force, walks the
//! chain, and names the FIRST problem.
//!
//! How problems are told apart (a chain can only say so much; docs/ledger.md has the full
//! table): an entry whose content no longer matches its hash is *modified*, unless the entries
//! on both sides of it link to each other without it, in which case it was *inserted*; the same
//! holds for an entry whose hash is right but whose signature is not (*bad signature* vs
//! *inserted*). A well-signed entry whose seq skips ahead is *reordered* when the skipped seq
//! turns up later in the file and *deleted* otherwise; a well-signed copy of another entry is
//! *inserted*. Entries cut off the end are caught by the signed head checkpoint.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::chain_file::{HEAD_FILE, HeadState, LEDGER_FILE, read_head};
use crate::entry::{Entry, GENESIS_PREV_HASH};
use crate::error::LedgerError;
use crate::hex;
use crate::keys::{KeyStore, key_id};

/// The outcome of verifying a ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Lines in the ledger file.
    pub lines: usize,
    /// Entries checked and found sound before the first problem (all of them when ok).
    pub verified: usize,
    /// The seq of the last sound entry.
    pub last_seq: Option<u64>,
    /// The keys that signed sound entries, in order of first use.
    pub key_ids: Vec<String>,
    /// Key rotations among the sound entries.
    pub rotations: usize,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// The first thing wrong with a ledger. `line` is 1-based in `ledger.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A line that is not an entry this crate writes (bad JSON, unknown field, torn write).
    Malformed { line: usize, reason: String },
    /// The content no longer hashes to the recorded hash.
    Modified {
        line: usize,
        seq: u64,
        recorded_hash: String,
        computed_hash: String,
    },
    /// The hash matches the content but the signature does not verify with the key in force.
    BadSignature {
        line: usize,
        seq: u64,
        key_id: String,
        reason: String,
    },
    /// Entries `first_missing_seq ..` (`count` of them) are gone; `line` is where they belong.
    Deleted {
        line: usize,
        first_missing_seq: u64,
        count: u64,
    },
    /// An entry that is not part of the chain: forged, or a copy of another.
    Inserted {
        line: usize,
        seq: u64,
        reason: String,
    },
    /// `line` holds `seq`, but `expected_seq` belongs there and comes later in the file.
    Reordered {
        line: usize,
        seq: u64,
        expected_seq: u64,
    },
    /// A well-signed entry that does not link to the one before it.
    ChainBroken {
        line: usize,
        seq: u64,
        reason: String,
    },
    /// The head checkpoint is missing, unreadable, badly signed or disagrees with the ledger.
    Head { reason: String },
}

impl Problem {
    /// A short name: `modified`, `bad_signature`, `deleted`, `inserted`, `reordered`, ….
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Malformed { .. } => "malformed",
            Problem::Modified { .. } => "modified",
            Problem::BadSignature { .. } => "bad_signature",
            Problem::Deleted { .. } => "deleted",
            Problem::Inserted { .. } => "inserted",
            Problem::Reordered { .. } => "reordered",
            Problem::ChainBroken { .. } => "chain_broken",
            Problem::Head { .. } => "head",
        }
    }

    /// The seq the problem is about (the first missing one for a deletion).
    pub fn seq(&self) -> Option<u64> {
        match self {
            Problem::Modified { seq, .. }
            | Problem::BadSignature { seq, .. }
            | Problem::Inserted { seq, .. }
            | Problem::Reordered { seq, .. }
            | Problem::ChainBroken { seq, .. } => Some(*seq),
            Problem::Deleted {
                first_missing_seq, ..
            } => Some(*first_missing_seq),
            Problem::Malformed { .. } | Problem::Head { .. } => None,
        }
    }

    /// The 1-based line of `ledger.jsonl` the problem is at.
    pub fn line(&self) -> Option<usize> {
        match self {
            Problem::Malformed { line, .. }
            | Problem::Modified { line, .. }
            | Problem::BadSignature { line, .. }
            | Problem::Deleted { line, .. }
            | Problem::Inserted { line, .. }
            | Problem::Reordered { line, .. }
            | Problem::ChainBroken { line, .. } => Some(*line),
            Problem::Head { .. } => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Malformed { line, reason } => write!(
                f,
                "line {line} is not a ledger entry ({reason}): it was edited, damaged or inserted"
            ),
            Problem::Modified {
                line,
                seq,
                recorded_hash,
                computed_hash,
            } => write!(
                f,
                "modified entry: seq {seq} (line {line}) hashes to {computed_hash} but records \
                 {recorded_hash}"
            ),
            Problem::BadSignature {
                line,
                seq,
                key_id,
                reason,
            } => write!(
                f,
                "bad signature: seq {seq} (line {line}, key {key_id}): {reason}"
            ),
            Problem::Deleted {
                line,
                first_missing_seq,
                count: 1,
            } => write!(
                f,
                "deleted entry: seq {first_missing_seq} is missing (it belongs at line {line})"
            ),
            Problem::Deleted {
                line,
                first_missing_seq,
                count,
            } => write!(
                f,
                "deleted entries: seq {first_missing_seq} to {} ({count} entries) are missing \
                 (they belong at line {line})",
                first_missing_seq + count - 1
            ),
            Problem::Inserted { line, seq, reason } => {
                write!(f, "inserted entry: seq {seq} (line {line}): {reason}")
            }
            Problem::Reordered {
                line,
                seq,
                expected_seq,
            } => write!(
                f,
                "reordered entries: line {line} holds seq {seq} where seq {expected_seq} belongs \
                 (seq {expected_seq} comes later in the file)"
            ),
            Problem::ChainBroken { line, seq, reason } => {
                write!(f, "broken chain: seq {seq} (line {line}) {reason}")
            }
            Problem::Head { reason } => write!(f, "head checkpoint ({HEAD_FILE}): {reason}"),
        }
    }
}

/// Verifies the ledger in `dir` (public keys from `dir/keys`) without needing, or creating, a
/// signing key: auditors and a tampered ledger's owner can always run it. Holds a shared lock
/// so that an append in progress is never read half-written.
pub fn verify_dir(dir: &Path) -> Result<VerifyReport, LedgerError> {
    let keys = KeyStore::new(dir.join(crate::ledger::KEYS_DIR));
    let path = dir.join(LEDGER_FILE);
    let (bytes, head) = match File::open(&path) {
        Ok(mut file) => {
            file.lock_shared()
                .map_err(|e| LedgerError::io("lock", &path, e))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)
                .map_err(|e| LedgerError::io("read", &path, e))?;
            (bytes, read_head(dir)?)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Vec::new(), read_head(dir)?),
        Err(e) => return Err(LedgerError::io("open", &path, e)),
    };
    let torn = !bytes.is_empty() && bytes.last() != Some(&b'\n');
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if !torn {
        lines.pop();
    }
    let parsed = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if torn && i + 1 == lines.len() {
                Err("incomplete last line (no newline): a write was cut short".to_string())
            } else if l.is_empty() {
                Err("empty line".to_string())
            } else {
                Entry::parse_line(l)
            }
        })
        .collect();
    Walk {
        keys: &keys,
        known: HashMap::new(),
        parsed,
        head,
    }
    .run()
}

/// The state of one verification.
struct Walk<'a> {
    keys: &'a KeyStore,
    /// Public keys by id: from rotation entries, and from the keys directory as needed.
    known: HashMap<String, VerifyingKey>,
    parsed: Vec<Result<Entry, String>>,
    head: HeadState,
}

impl Walk<'_> {
    fn run(mut self) -> Result<VerifyReport, LedgerError> {
        let mut report = VerifyReport {
            lines: self.parsed.len(),
            verified: 0,
            last_seq: None,
            key_ids: Vec::new(),
            rotations: 0,
            problem: None,
        };
        // hash -> seq of every sound entry, to recognise copies.
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut prev: Option<(u64, String)> = None;
        let mut in_force: Option<String> = None;
        for i in 0..self.parsed.len() {
            match self.check(i, prev.as_ref(), in_force.as_deref(), &seen)? {
                Err(problem) => {
                    report.problem = Some(problem);
                    return Ok(report);
                }
                Ok(entry) => {
                    if !report.key_ids.contains(&entry.key_id) {
                        report.key_ids.push(entry.key_id.clone());
                    }
                    in_force = Some(entry.key_id.clone());
                    if let Some(rotation) = entry.key_rotation() {
                        // check() validated it; the announced key signs from here on.
                        if let Some(public) = hex::decode::<32>(&rotation.new_public_key)
                            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
                        {
                            self.known.insert(rotation.new_key_id.clone(), public);
                        }
                        in_force = Some(rotation.new_key_id);
                        report.rotations += 1;
                    }
                    seen.insert(entry.hash.clone(), entry.seq);
                    prev = Some((entry.seq, entry.hash.clone()));
                    report.verified += 1;
                    report.last_seq = Some(entry.seq);
                }
            }
        }
        report.problem = self.check_head(prev.as_ref())?;
        Ok(report)
    }

    /// Line `i` (0-based) as a sound entry, or its problem, given the last sound entry.
    fn check(
        &mut self,
        i: usize,
        prev: Option<&(u64, String)>,
        in_force: Option<&str>,
        seen: &HashMap<String, u64>,
    ) -> Result<Result<Entry, Problem>, LedgerError> {
        let line = i + 1;
        let expected_seq = prev.map_or(1, |p| p.0 + 1);
        let expected_prev = prev.map_or(GENESIS_PREV_HASH, |p| p.1.as_str());
        let entry = match &self.parsed[i] {
            Ok(e) => e.clone(),
            Err(reason) => {
                return Ok(Err(Problem::Malformed {
                    line,
                    reason: reason.clone(),
                }));
            }
        };
        let seq = entry.seq;
        let computed = entry.compute_hash()?;
        if computed != entry.hash {
            if self.skippable(i, prev) {
                return Ok(Err(Problem::Inserted {
                    line,
                    seq,
                    reason: "its hash does not match its content, and the entries on either \
                             side of it link to each other without it"
                        .into(),
                }));
            }
            return Ok(Err(Problem::Modified {
                line,
                seq,
                recorded_hash: entry.hash,
                computed_hash: computed,
            }));
        }
        let signature = match self.public_key(&entry.key_id)? {
            None => Err(format!(
                "signed by unknown key {} (no keys/{}.pub and no rotation announced it)",
                entry.key_id, entry.key_id
            )),
            Some(key) => entry.check_signature(&key),
        };
        if let Err(reason) = signature {
            if self.skippable(i, prev) {
                return Ok(Err(Problem::Inserted {
                    line,
                    seq,
                    reason: format!(
                        "{reason}, and the entries on either side of it link to each other \
                         without it"
                    ),
                }));
            }
            return Ok(Err(Problem::BadSignature {
                line,
                seq,
                key_id: entry.key_id,
                reason,
            }));
        }
        // Hash and signature are sound: the entry is genuine; is it in its place?
        if seq != expected_seq || entry.prev_hash != expected_prev {
            return Ok(Err(self.misplaced(i, &entry, expected_seq, seen)));
        }
        if let Some(force) = in_force
            && entry.key_id != force
        {
            return Ok(Err(Problem::BadSignature {
                line,
                seq,
                key_id: entry.key_id.clone(),
                reason: format!(
                    "signed by key {}, but key {force} was in force (keys change only through \
                     a rotation entry)",
                    entry.key_id
                ),
            }));
        }
        if entry.category == crate::entry::LEDGER_CATEGORY
            && entry.action == crate::entry::KEY_ROTATED_ACTION
        {
            let valid = entry.key_rotation().is_some_and(|r| {
                r.old_key_id == entry.key_id
                    && hex::decode::<32>(&r.new_public_key)
                        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
                        .is_some_and(|k| key_id(&k) == r.new_key_id)
            });
            if !valid {
                return Ok(Err(Problem::ChainBroken {
                    line,
                    seq,
                    reason: "is a key rotation whose data does not name the signing key and a \
                             valid new public key with its id"
                        .into(),
                }));
            }
        }
        Ok(Ok(entry))
    }

    /// Classifies a genuine entry that is not where the chain expects it.
    fn misplaced(
        &self,
        i: usize,
        entry: &Entry,
        expected_seq: u64,
        seen: &HashMap<String, u64>,
    ) -> Problem {
        let line = i + 1;
        let seq = entry.seq;
        let later = |pred: &dyn Fn(&Entry) -> bool| {
            self.parsed[i + 1..]
                .iter()
                .position(|p| p.as_ref().is_ok_and(pred))
                .map(|j| i + 2 + j)
        };
        if let Some(copy_of) = seen.get(&entry.hash) {
            return Problem::Inserted {
                line,
                seq,
                reason: format!("a copy of seq {copy_of}, which appears earlier"),
            };
        }
        if seq > expected_seq {
            if let Some(other) = later(&|e: &Entry| e.hash == entry.hash) {
                return Problem::Inserted {
                    line,
                    seq,
                    reason: format!("a copy of the entry at line {other}"),
                };
            }
            if later(&|e: &Entry| e.seq == expected_seq).is_some() {
                return Problem::Reordered {
                    line,
                    seq,
                    expected_seq,
                };
            }
            return Problem::Deleted {
                line,
                first_missing_seq: expected_seq,
                count: seq - expected_seq,
            };
        }
        if seq < expected_seq {
            return Problem::ChainBroken {
                line,
                seq,
                reason: format!("comes after seq {}", expected_seq - 1),
            };
        }
        Problem::ChainBroken {
            line,
            seq,
            reason: "has a prev_hash that is not the hash of the entry before it".into(),
        }
    }

    /// Whether the chain holds with line `i` left out: the next line links to `prev`, or line
    /// `i` is the last and the head checkpoint already ends at `prev`.
    fn skippable(&self, i: usize, prev: Option<&(u64, String)>) -> bool {
        let expected_seq = prev.map_or(1, |p| p.0 + 1);
        let expected_prev = prev.map_or(GENESIS_PREV_HASH, |p| p.1.as_str());
        match self.parsed.get(i + 1) {
            Some(Ok(next)) => {
                next.seq == expected_seq
                    && next.prev_hash == expected_prev
                    && next.compute_hash().is_ok_and(|h| h == next.hash)
            }
            Some(Err(_)) => false,
            None => match (&self.head, prev) {
                (HeadState::Present(head), Some((seq, hash))) => {
                    head.seq == *seq && head.hash == *hash
                }
                _ => false,
            },
        }
    }

    /// The head checkpoint against the last sound entry.
    fn check_head(&mut self, last: Option<&(u64, String)>) -> Result<Option<Problem>, LedgerError> {
        let head = match &self.head {
            HeadState::Missing if last.is_none() => return Ok(None),
            HeadState::Missing => {
                return Ok(Some(Problem::Head {
                    reason: "it is missing, so entries cut off the end could not be detected; \
                             it is rewritten by the next append"
                        .into(),
                }));
            }
            HeadState::Unreadable(reason) => {
                return Ok(Some(Problem::Head {
                    reason: format!("unreadable: {reason}"),
                }));
            }
            HeadState::Present(head) => head.clone(),
        };
        let signed = match self.public_key(&head.key_id)? {
            Some(key) => head.check_signature(&key),
            None => false,
        };
        if !signed {
            return Ok(Some(Problem::Head {
                reason: format!("its signature does not verify with key {}", head.key_id),
            }));
        }
        let (last_seq, last_hash) = last.map_or((0, ""), |(s, h)| (*s, h.as_str()));
        if head.seq > last_seq {
            return Ok(Some(Problem::Deleted {
                line: self.parsed.len() + 1,
                first_missing_seq: last_seq + 1,
                count: head.seq - last_seq,
            }));
        }
        // The head may lag by an entry after a crash, never disagree.
        let recorded = if head.seq == last_seq {
            Some(last_hash.to_string())
        } else {
            self.parsed
                .iter()
                .filter_map(|p| p.as_ref().ok())
                .find(|e| e.seq == head.seq)
                .map(|e| e.hash.clone())
        };
        if recorded.as_deref() != Some(head.hash.as_str()) {
            return Ok(Some(Problem::Head {
                reason: format!(
                    "it records hash {} for seq {}, which the ledger does not have",
                    head.hash, head.seq
                ),
            }));
        }
        Ok(None)
    }

    fn public_key(&mut self, id: &str) -> Result<Option<VerifyingKey>, LedgerError> {
        if let Some(key) = self.known.get(id) {
            return Ok(Some(*key));
        }
        if hex::decode::<8>(id).is_none() {
            return Ok(None);
        }
        let key = self.keys.public_key(id)?;
        if let Some(key) = key {
            self.known.insert(id.to_string(), key);
        }
        Ok(key)
    }
}
