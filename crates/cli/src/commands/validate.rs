//! `shakedown validate FILE`: every problem with line:column and a hint; exit 2 on errors.

use std::path::PathBuf;

use clap::Args;

use super::{Loaded, read_system};
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The system file to check.
    pub file: PathBuf,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<Exit> {
    match read_system(&args.file)? {
        Loaded::Spec(spec) => {
            let n = spec.components.len();
            println!(
                "{}: ok ({n} component(s), environment {})",
                args.file.display(),
                spec.environment
            );
            Ok(Exit::Passed)
        }
        Loaded::Invalid(msg) => {
            eprintln!("{msg}");
            Ok(Exit::Error)
        }
    }
}
