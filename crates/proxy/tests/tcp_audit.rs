//! The TCP fault proxy's audit hook over the real admin API: every change of the faults is
//! shown to it in order, and while it cannot record, a change that injects a fault (a proxy
//! created or disabled, a toxic added or changed) is refused with 503 and changes nothing,
//! while removing faults still works.

#[path = "tcp_support/support.rs"]
mod tcp_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use serde_json::{Value, json};
use shakedown_proxy::tcp::{Audit, Change};
use tcp_support::{Api, echo_server};

/// Records a line per change; fails every change while `broken`.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    broken: AtomicBool,
}

impl Audit for Log {
    fn record(&self, change: &Change<'_>) -> Result<(), String> {
        let line = match change {
            Change::ProxyCreated(p) => format!("proxy_created {}", p.name),
            Change::ProxyUpdated { after, .. } => {
                format!("proxy_updated {} enabled={}", after.name, after.enabled)
            }
            Change::ProxyDeleted(n) => format!("proxy_deleted {n}"),
            Change::ToxicAdded { proxy, toxic } => format!("toxic_added {proxy}/{}", toxic.name),
            Change::ToxicUpdated { proxy, toxic } => {
                format!("toxic_updated {proxy}/{}", toxic.name)
            }
            Change::ToxicRemoved { proxy, name } => format!("toxic_removed {proxy}/{name}"),
            Change::Reset => "reset".to_string(),
        };
        if self.broken.load(Ordering::SeqCst) {
            return Err("the ledger is gone".into());
        }
        self.lines.lock().unwrap().push(line);
        Ok(())
    }
}

fn lines(log: &Log) -> Vec<String> {
    log.lines.lock().unwrap().clone()
}

#[tokio::test]
async fn every_change_is_audited_and_unrecordable_faults_are_refused() -> Result<()> {
    let api = Api::start().await?;
    let log = Arc::new(Log::default());
    assert!(api.server.set_audit(log.clone()));
    assert!(!api.server.set_audit(log.clone()), "set once");
    let echo = echo_server(api.stop.clone()).await?;
    let proxy = json!({"name": "db", "listen": "127.0.0.1:0", "upstream": echo.to_string()});
    let toxic = json!({"name": "slow", "type": "latency", "attributes": {"latency": 100}});

    assert_eq!(
        api.call("POST", "/proxies", Some(&proxy.to_string()))
            .await?
            .0,
        201
    );
    let (s, _) = api
        .call("POST", "/proxies/db/toxics", Some(&toxic.to_string()))
        .await?;
    assert_eq!(s, 200);
    let (s, _) = api
        .call(
            "POST",
            "/proxies/db/toxics/slow",
            Some(&json!({"attributes": {"latency": 200}}).to_string()),
        )
        .await?;
    assert_eq!(s, 200);
    // A refused request (unknown toxic) is not a change.
    let (s, _) = api.call("DELETE", "/proxies/db/toxics/nope", None).await?;
    assert_eq!(s, 404);
    assert_eq!(
        api.call("DELETE", "/proxies/db/toxics/slow", None).await?.0,
        204
    );
    assert_eq!(
        lines(&log),
        [
            "proxy_created db",
            "toxic_added db/slow",
            "toxic_updated db/slow",
            "toxic_removed db/slow",
        ]
    );

    // The recorder breaks: nothing that injects gets through, and nothing changes.
    log.broken.store(true, Ordering::SeqCst);
    let (s, v) = api
        .call("POST", "/proxies/db/toxics", Some(&toxic.to_string()))
        .await?;
    assert_eq!(s, 503, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("cannot be recorded: the ledger is gone"),
        "{v}"
    );
    let (s, _) = api
        .call(
            "POST",
            "/proxies/db",
            Some(&json!({"enabled": false}).to_string()),
        )
        .await?;
    assert_eq!(s, 503, "an outage is a fault too");
    let other = json!({"name": "db2", "listen": "127.0.0.1:0", "upstream": echo.to_string()});
    assert_eq!(
        api.call("POST", "/proxies", Some(&other.to_string()))
            .await?
            .0,
        503
    );
    let (_, all) = api.call("GET", "/proxies", None).await?;
    assert_eq!(all.as_object().map(|m| m.len()), Some(1), "{all}");
    assert_eq!(all["db"]["enabled"], true, "{all}");
    assert_eq!(all["db"]["toxics"], json!([]), "{all}");
    // Removing faults is never held up by the recorder.
    assert_eq!(api.call("POST", "/reset", None).await?.0, 204);
    assert_eq!(api.call("DELETE", "/proxies/db", None).await?.0, 204);
    let (_, all) = api.call("GET", "/proxies", None).await?;
    assert_eq!(all, Value::Object(Default::default()));

    log.broken.store(false, Ordering::SeqCst);
    assert_eq!(
        api.call("POST", "/proxies", Some(&proxy.to_string()))
            .await?
            .0,
        201
    );
    assert_eq!(
        lines(&log).last().map(String::as_str),
        Some("proxy_created db")
    );
    assert_eq!(lines(&log).len(), 5, "{:?}", lines(&log));
    Ok(())
}
