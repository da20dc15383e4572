//! Shakedown's signed ledger: every chaos action (requested, approved, denied, started, each
//! attack or run, halted, resumed, completed, budget gate) as an append-only, hash-chained,
//! Ed25519-signed entry, so that afterwards there is tamper-evident proof of what was done.
//!
//! [`Ledger::open`] fails closed (no usable key or no writable ledger: no campaign, no run);
//! [`Ledger::append`] records; [`Ledger::verify`] names the first modified, deleted, inserted or
//! reordered entry; [`Ledger::rotate_key`] records the rotation in the ledger itself. The format
//! is documented in `docs/ledger.md`.

#![forbid(unsafe_code)]

mod canonical;
mod chain_file;
mod entry;
mod error;
mod export;
mod hex;
mod keys;
mod ledger;
mod verify;

pub use canonical::{MAX_SAFE_INTEGER, check_numbers, to_canonical_vec};
pub use chain_file::{HEAD_FILE, Head, LEDGER_FILE};
pub use entry::{Entry, GENESIS_PREV_HASH, KEY_ROTATED_ACTION, KeyRotation, LEDGER_CATEGORY};
pub use error::LedgerError;
pub use export::{ExportFormat, export_dir};
pub use keys::{CURRENT_FILE, Key, KeyStore, key_id};
pub use ledger::{KEYS_DIR, LEDGER_DIR, Ledger, Rotation, ledger_dir};
pub use verify::{Problem, VerifyReport, verify_dir};
