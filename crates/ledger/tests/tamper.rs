//! Property tests: for random ledgers, any single modification (of any field), deletion,
//! insertion (a forged but well-formed entry, or a replayed copy) or reordering is detected, and
//! reported as that kind of problem at the right line and seq. Formatting-only rewrites are not
//! tampering.

use std::path::Path;

use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use serde_json::{Value, json};
use shakedown_ledger::{Entry, LEDGER_FILE, Ledger, Problem, VerifyReport, verify_dir};

/// One entry's worth of random content.
#[derive(Debug, Clone)]
struct Content {
    actor: String,
    action: String,
    resource: String,
    data: Value,
}

fn content() -> impl Strategy<Value = Content> {
    let scalar = prop_oneof![
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ];
    (
        "[a-z_]{1,10}",
        "[a-z]{1,10}",
        "[a-z0-9:/-]{0,16}",
        prop::collection::btree_map("[a-zé€😀]{1,6}", scalar, 0..4),
    )
        .prop_map(|(actor, action, resource, map)| Content {
            actor,
            action,
            resource,
            data: Value::Object(map.into_iter().collect()),
        })
}

/// A ledger of the given entries, with a key rotation before entry `rotate_at` if any.
fn build(dir: &Path, entries: &[Content], rotate_at: Option<usize>) -> Vec<Entry> {
    let ledger = Ledger::open(dir).unwrap();
    let mut written = Vec::new();
    for (i, c) in entries.iter().enumerate() {
        if rotate_at == Some(i) {
            written.push(ledger.rotate_key("ops").unwrap().entry);
        }
        let e = ledger
            .append(
                &c.actor,
                "campaign",
                "test",
                &c.action,
                &c.resource,
                c.data.clone(),
            )
            .unwrap();
        written.push(e);
    }
    let report = ledger.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.verified, written.len());
    written
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(LEDGER_FILE))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn rewrite(dir: &Path, lines: &[String]) -> VerifyReport {
    let mut text = lines.join("\n");
    if !lines.is_empty() {
        text.push('\n');
    }
    std::fs::write(dir.join(LEDGER_FILE), text).unwrap();
    verify_dir(dir).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Flips one hex digit of a hash-like string so it stays well-formed.
fn flip(s: &str, at: usize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = at % chars.len();
    chars[i] = if chars[i] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

const FIELDS: [&str; 12] = [
    "seq",
    "timestamp",
    "actor",
    "category",
    "subcategory",
    "action",
    "resource",
    "data",
    "prev_hash",
    "key_id",
    "hash",
    "signature",
];

fn ledger_case() -> impl Strategy<Value = (Vec<Content>, Option<usize>)> {
    prop::collection::vec(content(), 1..7).prop_flat_map(|entries| {
        let n = entries.len();
        (Just(entries), prop::option::of(0..n))
    })
}

fn tempdir() -> tempfile::TempDir {
    // fsync is the slow part of building hundreds of ledgers; /dev/shm makes it free.
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_single_modification_is_detected_at_its_seq(
        (entries, rotate_at) in ledger_case(),
        pick in any::<prop::sample::Index>(),
        field in 0..FIELDS.len(),
        at in any::<usize>(),
    ) {
        let dir = tempdir();
        let written = build(dir.path(), &entries, rotate_at);
        let k = pick.index(written.len());
        let mut all = lines(dir.path());
        let mut v: Value = serde_json::from_str(&all[k]).unwrap();
        let name = FIELDS[field];
        let old = v[name].clone();
        v[name] = match name {
            "seq" => json!(old.as_u64().unwrap() + 1 + (at as u64 % 5)),
            "data" => json!({"tampered": at as u64 % 1000, "was": old}),
            "prev_hash" | "hash" | "signature" | "key_id" => json!(flip(old.as_str().unwrap(), at)),
            "timestamp" => json!("2000-01-01T00:00:00Z"),
            _ => json!(format!("{}x", old.as_str().unwrap())),
        };
        prop_assert_ne!(&v[name], &old);
        all[k] = v.to_string();
        let report = rewrite(dir.path(), &all);
        let problem = report.problem.expect("a modification must be detected");
        prop_assert_eq!(problem.line(), Some(k + 1), "{}", problem);
        if name == "signature" {
            prop_assert!(matches!(problem, Problem::BadSignature { .. }), "{}", problem);
        } else {
            prop_assert!(matches!(problem, Problem::Modified { .. }), "{}", problem);
        }
        if name != "seq" {
            prop_assert_eq!(problem.seq(), Some(written[k].seq));
        }
        prop_assert_eq!(report.verified, k);
    }

    #[test]
    fn any_single_deletion_is_detected_at_its_seq(
        (entries, rotate_at) in ledger_case(),
        pick in any::<prop::sample::Index>(),
    ) {
        let dir = tempdir();
        let written = build(dir.path(), &entries, rotate_at);
        let k = pick.index(written.len());
        let mut all = lines(dir.path());
        all.remove(k);
        let report = rewrite(dir.path(), &all);
        let problem = report.problem.expect("a deletion must be detected");
        prop_assert_eq!(
            &problem,
            &Problem::Deleted { line: k + 1, first_missing_seq: written[k].seq, count: 1 }
        );
    }

    #[test]
    fn a_forged_well_formed_insertion_is_detected_at_its_seq(
        (entries, rotate_at) in ledger_case(),
        pick in any::<prop::sample::Index>(),
        forged in content(),
        takes_the_slot in any::<bool>(),
        seed in any::<[u8; 32]>(),
    ) {
        let dir = tempdir();
        let written = build(dir.path(), &entries, rotate_at);
        let p = pick.index(written.len() + 1);
        let prev = p.checked_sub(1).map(|i| &written[i]);
        // A forger knows the format, the hash function and the key id, but not the key.
        let mut e = Entry {
            seq: if takes_the_slot { p as u64 + 1 } else { 1000 + p as u64 },
            timestamp: "2030-01-01T00:00:00Z".into(),
            actor: forged.actor,
            category: "campaign".into(),
            subcategory: "test".into(),
            action: forged.action,
            resource: forged.resource,
            data: forged.data,
            prev_hash: prev.map_or("0".repeat(64), |e| e.hash.clone()),
            key_id: prev.unwrap_or(&written[0]).key_id.clone(),
            hash: String::new(),
            signature: String::new(),
        };
        e.hash = e.compute_hash().unwrap();
        let digest: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&e.hash[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        e.signature = hex(&SigningKey::from_bytes(&seed).sign(&digest).to_bytes());
        let mut all = lines(dir.path());
        all.insert(p, serde_json::to_string(&e).unwrap());
        let report = rewrite(dir.path(), &all);
        let problem = report.problem.expect("an insertion must be detected");
        prop_assert!(matches!(problem, Problem::Inserted { .. }), "{}", problem);
        prop_assert_eq!(problem.line(), Some(p + 1));
        prop_assert_eq!(problem.seq(), Some(e.seq));
    }

    #[test]
    fn a_replayed_copy_is_detected_as_inserted(
        (entries, rotate_at) in ledger_case(),
        from in any::<prop::sample::Index>(),
        to in any::<prop::sample::Index>(),
    ) {
        let dir = tempdir();
        let written = build(dir.path(), &entries, rotate_at);
        let j = from.index(written.len());
        let p = to.index(written.len() + 1);
        let mut all = lines(dir.path());
        let copy = all[j].clone();
        all.insert(p, copy);
        let report = rewrite(dir.path(), &all);
        let problem = report.problem.expect("a copy must be detected");
        prop_assert!(matches!(problem, Problem::Inserted { .. }), "{}", problem);
        prop_assert_eq!(problem.seq(), Some(written[j].seq));
        // A copy placed right before its original is indistinguishable from it: the second of
        // the two identical lines is the one reported.
        let line = if p == j { p + 2 } else { p + 1 };
        prop_assert_eq!(problem.line(), Some(line));
    }

    #[test]
    fn any_swap_is_detected_as_reordered(
        (entries, rotate_at) in ledger_case(),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let dir = tempdir();
        let written = build(dir.path(), &entries, rotate_at);
        let (a, b) = (a.index(written.len()), b.index(written.len()));
        prop_assume!(a != b);
        let (a, b) = (a.min(b), a.max(b));
        let mut all = lines(dir.path());
        all.swap(a, b);
        let report = rewrite(dir.path(), &all);
        let problem = report.problem.expect("a reordering must be detected");
        prop_assert_eq!(
            &problem,
            &Problem::Reordered { line: a + 1, seq: written[b].seq, expected_seq: written[a].seq }
        );
    }

    #[test]
    fn formatting_only_rewrites_still_verify(
        (entries, rotate_at) in ledger_case(),
    ) {
        let dir = tempdir();
        build(dir.path(), &entries, rotate_at);
        // Same values, different bytes: keys reversed, spaces added (canonical JSON hashes the
        // values, not the spelling).
        let all: Vec<String> = lines(dir.path())
            .iter()
            .map(|l| {
                let v: serde_json::Map<String, Value> = serde_json::from_str(l).unwrap();
                let fields: Vec<String> = v
                    .iter()
                    .rev()
                    .map(|(k, v)| format!("{} : {}", json!(k), v))
                    .collect();
                format!("{{ {} }}", fields.join(" ,  "))
            })
            .collect();
        let report = rewrite(dir.path(), &all);
        prop_assert!(report.is_ok(), "{:?}", report.problem);
    }
}

#[test]
fn cutting_entries_off_the_end_is_caught_by_the_head() {
    let dir = tempdir();
    let contents: Vec<Content> = (0..5)
        .map(|i| Content {
            actor: "alice".into(),
            action: format!("step{i}"),
            resource: "c-1".into(),
            data: json!({"i": i}),
        })
        .collect();
    build(dir.path(), &contents, None);
    let all = lines(dir.path());
    let report = rewrite(dir.path(), &all[..3]);
    assert_eq!(
        report.problem,
        Some(Problem::Deleted {
            line: 4,
            first_missing_seq: 4,
            count: 2
        })
    );
    assert_eq!(
        report.problem.unwrap().to_string(),
        "deleted entries: seq 4 to 5 (2 entries) are missing (they belong at line 4)"
    );
    let report = rewrite(dir.path(), &[]);
    assert_eq!(report.problem.unwrap().seq(), Some(1));
}
