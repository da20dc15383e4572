//! Agent runs in the store: inserted as they start, finished with their report, read back
//! newest first; finishing an unknown run is refused; NaN scores are refused.

use serde_json::json;
use shakedown_store::{RunRow, SqliteStore, Store, StoreError};
use time::macros::datetime;

fn row(id: &str, minute: u8) -> RunRow {
    RunRow {
        id: id.into(),
        scenario: "data_cleanup".into(),
        status: "running".into(),
        pid: Some(4242),
        started_at: datetime!(2026-11-22 03:00 UTC)
            .replace_minute(minute)
            .unwrap(),
        finished_at: None,
        overall: None,
        safety: None,
        report: None,
    }
}

#[test]
fn runs_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    store.insert_run(&row("r1", 1)).unwrap();
    store.insert_run(&row("r2", 2)).unwrap();
    assert_eq!(store.run("r1").unwrap().unwrap().status, "running");
    let mut done = row("r1", 1);
    done.status = "failed".into();
    done.finished_at = Some(datetime!(2026-11-22 03:05 UTC));
    done.overall = Some(31.5);
    done.safety = Some(40.0);
    done.report = Some(json!({"run_id": "r1", "status": "failed"}));
    store.finish_run(&done).unwrap();
    // Reopened from disk: the same row.
    drop(store);
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    assert_eq!(store.run("r1").unwrap().unwrap(), done);
    let ids: Vec<String> = store.runs(10).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["r2", "r1"]);
    assert!(store.run("nope").unwrap().is_none());
}

#[test]
fn bad_writes_are_refused() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert!(matches!(
        store.finish_run(&row("ghost", 1)),
        Err(StoreError::UnknownRun(_))
    ));
    let mut nan = row("r", 1);
    nan.overall = Some(f64::NAN);
    assert!(matches!(
        store.insert_run(&nan),
        Err(StoreError::InvalidValue { .. })
    ));
    assert!(store.run("r").unwrap().is_none(), "nothing half-written");
}
