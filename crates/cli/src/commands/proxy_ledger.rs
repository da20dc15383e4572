//! The signed ledger of a standalone proxy (`pg-proxy`, `tcp-proxy`, `fault-proxy`): one
//! session per process, recorded under category `proxy`, subcategory the proxy's kind, with
//! the session id in every entry's `data`. What is recorded is bounded by the configuration,
//! never by traffic: the start with a digest of the chaos configuration, each chaos action of
//! a pg-proxy script (capped by the script's `max_triggers` and global cap), each change of a
//! tcp-proxy's faults through its admin API, halt, resume and stop. Per-call faults of a
//! fault-proxy are events only (see docs/ledger.md). Fail closed: a proxy that can inject
//! chaos does not start without a usable ledger.

use std::path::PathBuf;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shakedown_control::{Governance, default_actor};
use shakedown_ledger::LedgerError;
use shakedown_store::default_data_dir;

/// The ledger category of every proxy entry.
pub const CATEGORY: &str = "proxy";

/// One proxy process's handle on the ledger. Cheap to clone.
#[derive(Clone)]
pub struct ProxyLedger {
    gov: Governance,
    kind: &'static str,
    session: String,
}

impl ProxyLedger {
    /// Opens the data directory's ledger and checks that an append would succeed now (key
    /// present, private and expected; files writable).
    pub fn open(data_dir: Option<&PathBuf>, kind: &'static str) -> Result<Self, LedgerError> {
        let dir = data_dir.cloned().unwrap_or_else(default_data_dir);
        let gov = Governance::open(&dir, default_actor())?;
        let session = format!("proxy_{:08x}", rand::random::<u32>());
        Ok(ProxyLedger { gov, kind, session })
    }

    /// The session id that ties this process's entries together.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Appends one entry (blocking: the ledger fsyncs); the session goes into `data`.
    pub fn record(&self, action: &str, resource: &str, data: Value) -> Result<u64, LedgerError> {
        let data = match data {
            Value::Object(mut m) => {
                m.insert("session".into(), Value::String(self.session.clone()));
                Value::Object(m)
            }
            other => json!({"session": self.session, "value": other}),
        };
        self.gov
            .ledger
            .append(&self.gov.actor, CATEGORY, self.kind, action, resource, data)
            .map(|e| e.seq)
    }

    /// [`Self::record`] off the async workers.
    pub async fn record_async(
        &self,
        action: &str,
        resource: &str,
        data: Value,
    ) -> Result<u64, LedgerError> {
        let me = self.clone();
        let (action, resource) = (action.to_string(), resource.to_string());
        match tokio::task::spawn_blocking(move || me.record(&action, &resource, data)).await {
            Ok(r) => r,
            Err(e) => Err(LedgerError::Io {
                action: "append to (the writer thread failed)",
                path: self.gov.ledger.path(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }

    /// Records `action` and prints a failure on stderr (for entries that must not stop what
    /// they record: a halt, a stop).
    pub async fn record_or_warn(&self, action: &str, resource: &str, data: Value) {
        if let Err(e) = self.record_async(action, resource, data).await {
            eprintln!(
                "{}: warning: could not record `{action}` in the signed ledger: {e}",
                self.kind
            );
        }
    }
}

/// `{"sha256": …, "bytes": …}` of a configuration's text.
pub fn digest(text: &[u8]) -> Value {
    let hash: String = Sha256::digest(text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({"sha256": hash, "bytes": text.len()})
}

/// The message and exit of a proxy that refuses to start without the ledger.
pub fn refuse(kind: &str, e: &LedgerError) -> crate::exit::Exit {
    eprintln!(
        "error: refusing to start {kind}: it can inject chaos and the signed ledger is not usable: {e}"
    );
    crate::exit::Exit::Error
}
