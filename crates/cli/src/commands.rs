//! One file per command.

pub mod approve;
pub mod builtin;
pub mod campaign;
pub mod campaigns;
pub mod demo;
pub mod event_writer;
pub mod fault_proxy;
pub mod guardian;
pub mod halt;
pub mod keys;
pub mod ledger;
pub mod load;
pub mod mock_llm;
pub mod obey_halt;
pub mod patterns;
pub mod pg_proxy;
pub mod pg_sandbox;
pub mod profiles;
pub mod proxy_ledger;
pub mod resilience;
pub mod run;
pub mod run_report;
pub mod schema;
pub mod serve;
pub mod tcp_proxy;
pub mod token;
pub mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use shakedown_core::system::{SystemSpec, load_system};
use shakedown_store::{SqliteStore, Store, default_data_dir};

/// Opens the store in `data_dir` (or the default), marking campaigns a dead process left
/// running as interrupted.
pub fn open_store(data_dir: Option<PathBuf>) -> anyhow::Result<Arc<dyn Store>> {
    let dir = data_dir.unwrap_or_else(default_data_dir);
    let store = SqliteStore::open_dir(&dir)?;
    let interrupted = store.mark_interrupted()?;
    if !interrupted.is_empty() {
        eprintln!(
            "note: marked as interrupted (their process died): {}",
            interrupted.join(", ")
        );
    }
    Ok(Arc::new(store))
}

/// The outcome of reading a system file: the spec, or the rendered problems.
pub enum Loaded {
    Spec(Box<SystemSpec>),
    Invalid(String),
}

/// Reads and checks a system file, printing warnings to stderr.
pub fn read_system(path: &Path) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read system file {}", path.display()))?;
    let name = path.display().to_string();
    match load_system(&text) {
        Ok((spec, warnings)) => {
            if !warnings.0.is_empty() {
                eprintln!("{}", warnings.render(&name));
            }
            Ok(Loaded::Spec(Box::new(spec)))
        }
        Err(problems) => {
            let count = problems.errors().count();
            Ok(Loaded::Invalid(format!(
                "{}\n{name}: {count} error(s); the file was not used",
                problems.render(&name)
            )))
        }
    }
}
