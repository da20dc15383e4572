//! `shakedown keys rotate`: replace the ledger's signing key. The rotation is itself a ledger
//! entry, signed by the old key and announcing the new one, so the chain vouches for every key.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use shakedown_ledger::Ledger;
use shakedown_store::default_data_dir;

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new signing key, record the rotation in the ledger (signed by the old key),
    /// switch to the new key and delete the old secret (its public key is kept).
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Who is rotating (recorded as the entry's actor; default: $USER).
    #[arg(long)]
    pub actor: Option<String>,
}

pub fn run(args: KeysArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    match args.command {
        KeysCommand::Rotate(a) => {
            let ledger = Ledger::open_in_data_dir(&data_dir.unwrap_or_else(default_data_dir))?;
            let actor = a
                .actor
                .or_else(|| std::env::var("USER").ok())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "cli".into());
            let r = ledger.rotate_key(&actor)?;
            println!(
                "rotated the ledger key {} -> {} (recorded as seq {}, signed by {})",
                r.old_key_id, r.new_key_id, r.entry.seq, r.old_key_id
            );
            Ok(Exit::Passed)
        }
    }
}
