//! The ledger's contract through its public API: fail closed (missing, exposed or swapped key,
//! unwritable or damaged ledger), key rotation recorded in the ledger and keeping old entries
//! verifiable, concurrent appenders (threads and processes) never breaking the chain, export.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use shakedown_ledger::{
    CURRENT_FILE, Entry, ExportFormat, KEY_ROTATED_ACTION, KEYS_DIR, KeyStore, LEDGER_CATEGORY,
    LEDGER_FILE, Ledger, LedgerError, Problem, verify_dir,
};

fn append(ledger: &Ledger, i: u64) -> Result<Entry, LedgerError> {
    ledger.append(
        "alice",
        "campaign",
        "staging",
        "started",
        &format!("c-{i}"),
        json!({ "i": i }),
    )
}

fn line_count(dir: &Path) -> usize {
    fs::read_to_string(dir.join(LEDGER_FILE))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn secret_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(KEYS_DIR).join(format!("{id}.secret"))
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn first_open_creates_a_private_key_and_entries_chain_from_genesis() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let ledger = Ledger::open(&dir).unwrap();
    let id = ledger.current_key_id().unwrap();
    let mode = fs::metadata(secret_path(&dir, &id))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let first = append(&ledger, 1).unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, "0".repeat(64));
    assert_eq!(first.key_id, id);
    assert_eq!(first.hash, first.compute_hash().unwrap());
    let second = append(&ledger, 2).unwrap();
    assert_eq!(
        (second.seq, second.prev_hash.as_str()),
        (2, first.hash.as_str())
    );
    // A second handle sees the same key and continues the chain.
    let again = Ledger::open(&dir).unwrap();
    assert_eq!(again.current_key_id().unwrap(), id);
    assert_eq!(append(&again, 3).unwrap().prev_hash, second.hash);
    let report = verify_dir(&dir).unwrap();
    assert!(report.is_ok());
    assert_eq!((report.verified, report.last_seq), (3, Some(3)));
}

#[test]
fn a_missing_key_denies_append_and_open_and_is_never_silently_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(tmp.path()).unwrap();
    append(&ledger, 1).unwrap();
    let id = ledger.current_key_id().unwrap();
    fs::remove_file(secret_path(tmp.path(), &id)).unwrap();
    assert!(matches!(
        append(&ledger, 2),
        Err(LedgerError::KeyMissing { .. })
    ));
    assert!(matches!(
        ledger.check_writable(),
        Err(LedgerError::KeyMissing { .. })
    ));
    assert!(matches!(
        Ledger::open(tmp.path()),
        Err(LedgerError::KeyMissing { .. })
    ));
    // Losing the whole keys directory is no different: no fresh key for a non-empty ledger.
    fs::remove_dir_all(tmp.path().join(KEYS_DIR)).unwrap();
    let err = Ledger::open(tmp.path()).unwrap_err();
    assert!(matches!(err, LedgerError::KeyMissing { .. }), "{err}");
    assert!(
        err.to_string().contains("restore the key from backup"),
        "{err}"
    );
    assert!(!tmp.path().join(KEYS_DIR).join(CURRENT_FILE).exists());
    assert_eq!(line_count(tmp.path()), 1);
}

#[test]
fn a_key_readable_by_group_or_others_denies_append() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(tmp.path()).unwrap();
    append(&ledger, 1).unwrap();
    let secret = secret_path(tmp.path(), &ledger.current_key_id().unwrap());
    for mode in [0o644, 0o640, 0o604, 0o660] {
        fs::set_permissions(&secret, fs::Permissions::from_mode(mode)).unwrap();
        let err = append(&ledger, 2).unwrap_err();
        assert!(
            matches!(err, LedgerError::KeyPermissions { mode: m, .. } if m == mode),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert!(Ledger::open(tmp.path()).is_err());
    }
    assert_eq!(line_count(tmp.path()), 1, "nothing was appended");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    append(&ledger, 2).unwrap();
}

#[test]
fn an_unwritable_ledger_fails_closed() {
    // Tests may run as root, which ignores permission bits: use paths that cannot be files.
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join(LEDGER_FILE)).unwrap();
    let err = Ledger::open(tmp.path()).unwrap_err();
    assert!(matches!(err, LedgerError::Io { .. }), "{err}");
    assert!(err.to_string().contains("--data-dir"), "{err}");
    let file = tmp.path().join("not-a-dir");
    fs::write(&file, "x").unwrap();
    assert!(matches!(Ledger::open(&file), Err(LedgerError::Io { .. })));
    // The directory turns into something we cannot write to after open.
    let ok = tmp.path().join("ok");
    let ledger = Ledger::open(&ok).unwrap();
    fs::remove_dir_all(&ok).unwrap();
    fs::write(&ok, "not a directory any more").unwrap();
    assert!(ledger.check_writable().is_err());
    assert!(append(&ledger, 1).is_err());
}

#[test]
fn a_torn_or_damaged_last_line_stops_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(tmp.path()).unwrap();
    append(&ledger, 1).unwrap();
    let path = tmp.path().join(LEDGER_FILE);
    let good = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("{good}{{\"seq\":2,")).unwrap();
    let err = append(&ledger, 2).unwrap_err();
    assert!(matches!(err, LedgerError::CorruptTail { .. }), "{err}");
    assert!(err.to_string().contains("cut short"), "{err}");
    let report = verify_dir(tmp.path()).unwrap();
    assert!(matches!(
        report.problem,
        Some(Problem::Malformed { line: 2, .. })
    ));
    fs::write(&path, format!("{good}not json\n")).unwrap();
    assert!(matches!(
        append(&ledger, 2),
        Err(LedgerError::CorruptTail { .. })
    ));
}

#[test]
fn a_key_swapped_outside_rotation_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(tmp.path()).unwrap();
    append(&ledger, 1).unwrap();
    let keys = KeyStore::new(tmp.path().join(KEYS_DIR));
    let other = keys.create().unwrap();
    keys.set_current(&other.id).unwrap();
    let err = append(&ledger, 2).unwrap_err();
    assert!(matches!(err, LedgerError::KeyChanged { .. }), "{err}");
    assert!(err.to_string().contains("shakedown keys rotate"), "{err}");
}

#[test]
fn data_a_double_cannot_hold_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(tmp.path()).unwrap();
    let err = ledger
        .append("a", "b", "c", "d", "e", json!({"bytes": u64::MAX}))
        .unwrap_err();
    assert!(matches!(err, LedgerError::InvalidData(_)), "{err}");
    assert!(err.to_string().contains("data.bytes"), "{err}");
    assert_eq!(line_count(tmp.path()), 0);
}

#[test]
fn rotation_is_recorded_signed_by_the_old_key_and_old_entries_stay_verifiable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ledger = Ledger::open(dir).unwrap();
    for i in 0..3 {
        append(&ledger, i).unwrap();
    }
    let first = ledger.current_key_id().unwrap();
    let old_secret = fs::read_to_string(secret_path(dir, &first)).unwrap();
    let r1 = ledger.rotate_key("ops").unwrap();
    assert_eq!(r1.old_key_id, first);
    assert_eq!(ledger.current_key_id().unwrap(), r1.new_key_id);
    let e = &r1.entry;
    assert_eq!((e.seq, e.key_id.as_str()), (4, first.as_str()));
    assert_eq!(
        (e.category.as_str(), e.action.as_str(), e.actor.as_str()),
        (LEDGER_CATEGORY, KEY_ROTATED_ACTION, "ops")
    );
    assert_eq!(e.data["new_key_id"], json!(r1.new_key_id));
    assert_eq!(e.key_rotation().unwrap().old_key_id, first);
    // The retired secret is gone; its public half stays.
    assert!(!secret_path(dir, &first).exists());
    assert!(dir.join(KEYS_DIR).join(format!("{first}.pub")).exists());
    assert_eq!(append(&ledger, 9).unwrap().key_id, r1.new_key_id);
    let r2 = ledger.rotate_key("ops").unwrap();
    assert_eq!(r2.entry.key_id, r1.new_key_id);
    assert_eq!(append(&ledger, 10).unwrap().key_id, r2.new_key_id);
    let report = verify_dir(dir).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.verified, 7);
    assert_eq!(report.rotations, 2);
    assert_eq!(
        report.key_ids,
        vec![first.clone(), r1.new_key_id.clone(), r2.new_key_id]
    );

    // Someone holding the retired key forges an entry after the rotation: verify refuses it.
    let old_key = SigningKey::from_bytes(&unhex(old_secret.trim()).try_into().unwrap());
    let text = fs::read_to_string(dir.join(LEDGER_FILE)).unwrap();
    let last: Entry = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let mut forged = last.clone();
    forged.seq += 1;
    forged.prev_hash = last.hash.clone();
    forged.key_id = first.clone();
    forged.action = "completed".into();
    forged.hash = forged.compute_hash().unwrap();
    forged.signature = old_key
        .sign(&unhex(&forged.hash))
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    fs::write(
        dir.join(LEDGER_FILE),
        format!("{text}{}\n", serde_json::to_string(&forged).unwrap()),
    )
    .unwrap();
    let problem = verify_dir(dir).unwrap().problem.unwrap();
    assert!(
        matches!(problem, Problem::BadSignature { seq: 8, .. }),
        "{problem}"
    );
    assert!(problem.to_string().contains("was in force"), "{problem}");
}

#[test]
fn deleting_a_rotation_entry_is_reported_as_a_deletion() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(tmp.path()).unwrap();
    append(&ledger, 1).unwrap();
    ledger.rotate_key("ops").unwrap();
    append(&ledger, 2).unwrap();
    let path = tmp.path().join(LEDGER_FILE);
    let lines: Vec<String> = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    assert_eq!(
        verify_dir(tmp.path()).unwrap().problem,
        Some(Problem::Deleted {
            line: 2,
            first_missing_seq: 2,
            count: 1
        })
    );
}

#[test]
fn eight_threads_with_separate_handles_append_800_entries_without_breaking_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    Ledger::open(&dir).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let ledger = Ledger::open(&dir).unwrap();
                for i in 0..100 {
                    ledger
                        .append(
                            "svc",
                            "run",
                            "test",
                            "attack",
                            &format!("t{t}"),
                            json!({"i": i}),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = verify_dir(&dir).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!((report.verified, report.last_seq), (800, Some(800)));
    // Every thread's 100 entries are there, none lost or duplicated.
    let mut out = Vec::new();
    Ledger::open(&dir)
        .unwrap()
        .export(ExportFormat::Json, &mut out)
        .unwrap();
    let entries: Vec<Entry> = serde_json::from_slice(&out).unwrap();
    for t in 0..8 {
        let mut is: Vec<u64> = entries
            .iter()
            .filter(|e| e.resource == format!("t{t}"))
            .map(|e| e.data["i"].as_u64().unwrap())
            .collect();
        is.sort_unstable();
        assert_eq!(is, (0..100).collect::<Vec<_>>());
    }
}

/// Run as a child process by the test below (it does nothing when run directly).
#[test]
fn child_appender() {
    let Ok(dir) = std::env::var("LEDGER_CHILD_DIR") else {
        return;
    };
    let ledger = Ledger::open(&dir).unwrap();
    for i in 0..50 {
        append(&ledger, i).unwrap();
    }
}

#[test]
fn separate_processes_append_without_interleaving() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_appender", "--test-threads", "1"])
                .env("LEDGER_CHILD_DIR", tmp.path())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let report = verify_dir(tmp.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.verified, 150);
    // Only one key was created although three processes opened an empty ledger at once.
    assert_eq!(report.key_ids.len(), 1);
    let secrets = fs::read_dir(tmp.path().join(KEYS_DIR))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".secret")
        })
        .count();
    assert_eq!(secrets, 1);
}

#[test]
fn export_writes_json_and_jsonl_that_match_the_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(tmp.path()).unwrap();
    let written: Vec<Entry> = (0..3).map(|i| append(&ledger, i).unwrap()).collect();
    let mut json_out = Vec::new();
    assert_eq!(ledger.export(ExportFormat::Json, &mut json_out).unwrap(), 3);
    let parsed: Vec<Entry> = serde_json::from_slice(&json_out).unwrap();
    assert_eq!(parsed, written);
    let mut jsonl = Vec::new();
    assert_eq!(ledger.export(ExportFormat::Jsonl, &mut jsonl).unwrap(), 3);
    assert_eq!(
        String::from_utf8(jsonl).unwrap(),
        fs::read_to_string(tmp.path().join(LEDGER_FILE)).unwrap()
    );
    let v: Value = serde_json::from_slice(&json_out).unwrap();
    assert_eq!(v[2]["seq"], json!(3));
}

#[test]
fn the_head_checkpoint_must_be_present_signed_and_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(tmp.path()).unwrap();
    append(&ledger, 1).unwrap();
    append(&ledger, 2).unwrap();
    let head_path = tmp.path().join(shakedown_ledger::HEAD_FILE);
    let head: Value = serde_json::from_str(&fs::read_to_string(&head_path).unwrap()).unwrap();
    assert_eq!(head["seq"], json!(2));

    fs::remove_file(&head_path).unwrap();
    let problem = verify_dir(tmp.path()).unwrap().problem.unwrap();
    assert!(matches!(problem, Problem::Head { .. }), "{problem}");
    assert!(problem.to_string().contains("missing"), "{problem}");
    // The next append rewrites it.
    append(&ledger, 3).unwrap();
    assert!(verify_dir(tmp.path()).unwrap().is_ok());

    // A head edited to claim fewer entries no longer verifies with the key.
    let mut edited: Value = serde_json::from_str(&fs::read_to_string(&head_path).unwrap()).unwrap();
    edited["seq"] = json!(2);
    fs::write(&head_path, edited.to_string()).unwrap();
    let problem = verify_dir(tmp.path()).unwrap().problem.unwrap();
    assert!(
        problem.to_string().contains("signature does not verify"),
        "{problem}"
    );
    fs::write(&head_path, "{").unwrap();
    let problem = verify_dir(tmp.path()).unwrap().problem.unwrap();
    assert!(problem.to_string().contains("unreadable"), "{problem}");
}
