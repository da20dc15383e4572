//! `shakedown ledger verify|export` and `shakedown keys rotate` with the real binary: an intact
//! ledger verifies (exit 0), a tampered one exits 1 naming the first bad seq, an unusable one
//! exits 2; rotation is recorded; a key others can read stops the rotation (fail closed).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{Value, json};
use shakedown_ledger::{KEYS_DIR, LEDGER_FILE, Ledger, ledger_dir};

fn shakedown(data: &Path) -> Command {
    let mut c = Command::cargo_bin("shakedown").unwrap();
    c.env("SHAKEDOWN_DATA_DIR", data).env_remove("RUST_LOG");
    c
}

fn record(data: &Path, actions: &[&str]) {
    let ledger = Ledger::open_in_data_dir(data).unwrap();
    for a in actions {
        ledger
            .append(
                "alice",
                "campaign",
                "staging",
                a,
                "c-1",
                json!({"action": a}),
            )
            .unwrap();
    }
}

#[test]
fn verify_passes_then_exits_1_naming_the_first_tampered_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    shakedown(data)
        .args(["ledger", "verify"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no entries yet"));

    record(data, &["requested", "approved", "started"]);
    shakedown(data)
        .args(["keys", "rotate", "--actor", "ops"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("recorded as seq 4"));
    record(data, &["completed"]);
    shakedown(data)
        .args(["ledger", "verify"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "5 entries (seq 1 to 5), signed by 2 key(s), 1 rotation(s)",
        ));

    let out = shakedown(data)
        .args(["ledger", "export", "--format", "json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let entries: Vec<Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[3]["action"], json!("key_rotated"));
    assert_eq!(entries[3]["actor"], json!("ops"));
    let path = ledger_dir(data).join(LEDGER_FILE);
    let original = fs::read_to_string(&path).unwrap();
    shakedown(data)
        .args(["ledger", "export"])
        .assert()
        .code(0)
        .stdout(original.clone());

    // Rewrite who approved it: exit 1, the seq and the kind named.
    let lines: Vec<&str> = original.lines().collect();
    let tampered = original.replacen(
        lines[1],
        &lines[1].replace("\"actor\":\"alice\"", "\"actor\":\"mallory\""),
        1,
    );
    assert_ne!(tampered, original);
    fs::write(&path, &tampered).unwrap();
    shakedown(data)
        .args(["ledger", "verify"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("TAMPERED"))
        .stdout(predicate::str::contains("modified entry: seq 2 (line 2)"))
        .stdout(predicate::str::contains("1 entry verified before it"));

    // Delete the `started` entry instead.
    let deleted: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    fs::write(&path, deleted).unwrap();
    let out = shakedown(data)
        .args(["ledger", "verify", "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        report["problem"],
        json!({"kind": "deleted", "line": 3, "first_missing_seq": 3, "count": 1})
    );

    fs::write(&path, &original).unwrap();
    shakedown(data).args(["ledger", "verify"]).assert().code(0);
}

#[test]
fn an_unreadable_ledger_is_an_error_and_an_exposed_key_stops_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    record(data, &["started"]);
    let keys = ledger_dir(data).join(KEYS_DIR);
    let id = fs::read_to_string(keys.join("current")).unwrap();
    let secret = keys.join(format!("{}.secret", id.trim()));
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
    shakedown(data)
        .args(["keys", "rotate"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("chmod 600"));
    // Verify needs no secret: it still works, and nothing was appended.
    shakedown(data)
        .args(["ledger", "verify"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1 entry (seq 1 to 1)"));

    let other = tempfile::tempdir().unwrap();
    fs::create_dir_all(ledger_dir(other.path()).join(LEDGER_FILE)).unwrap();
    shakedown(other.path())
        .args(["ledger", "verify"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("error:"));
}
