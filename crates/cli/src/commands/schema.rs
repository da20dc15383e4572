//! `shakedown schema system|faults`: the JSON Schema of the system file or of a fault config.

use clap::{Args, ValueEnum};

use crate::exit::Exit;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaKind {
    /// The system file (shakedown.yaml).
    System,
    /// A fault config for `shakedown fault-proxy` (`--config FILE`).
    Faults,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    pub kind: SchemaKind,
}

pub fn run(args: SchemaArgs) -> anyhow::Result<Exit> {
    let schema = match args.kind {
        SchemaKind::System => shakedown_core::system::system_schema(),
        SchemaKind::Faults => shakedown_faults::faults_schema(),
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(Exit::Passed)
}
