//! Many writers at once: threads sharing one store, and two stores (two connections, like two
//! processes) on one file. Nothing may be lost and read-modify-writes must not race.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;

use shakedown_core::{Pattern, Verdict};
use shakedown_store::{SqliteStore, Store};
use time::Duration;

use crate::fixtures::{T0, result, running};

const THREADS: u32 = 8;
const PER_THREAD: u32 = 40;

#[test]
fn eight_threads_sharing_a_store_lose_no_results() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
    store
        .insert_campaign(&running("chaos_00000001", T0))
        .unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                // Each thread also has a campaign of its own.
                let own = format!("chaos_1000000{t}");
                store
                    .insert_campaign(&running(&own, T0 + Duration::seconds(t.into())))
                    .unwrap();
                for i in 0..PER_THREAD {
                    let seq = t * PER_THREAD + i;
                    let r = result("api", Pattern::BurstTraffic, Verdict::Passed, seq);
                    store.insert_result("chaos_00000001", seq, &r).unwrap();
                    store.insert_result(&own, i, &r).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let reopened = SqliteStore::open_dir(dir.path()).unwrap();
    let shared = reopened.campaign("chaos_00000001").unwrap().unwrap();
    let seqs: Vec<u64> = shared
        .results
        .iter()
        .map(|r| r.duration_ms - 1500)
        .collect();
    let expected: Vec<u64> = (0..u64::from(THREADS * PER_THREAD)).collect();
    assert_eq!(seqs, expected, "every result, in seq order");
    assert_eq!(reopened.campaigns(100).unwrap().len(), THREADS as usize + 1);
    for t in 0..THREADS {
        let own = reopened
            .campaign(&format!("chaos_1000000{t}"))
            .unwrap()
            .unwrap();
        assert_eq!(own.results.len(), PER_THREAD as usize);
    }
}

#[test]
fn concurrent_scores_from_two_connections_all_apply() {
    let dir = tempfile::tempdir().unwrap();
    // Two independent stores on one file: cross-connection locking, as between processes.
    let stores = [
        Arc::new(SqliteStore::open_dir(dir.path()).unwrap()),
        Arc::new(SqliteStore::open_dir(dir.path()).unwrap()),
    ];
    for t in 0..THREADS {
        stores[0]
            .insert_campaign(&running(&format!("chaos_2000000{t}"), T0))
            .unwrap();
    }
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&stores[t as usize % 2]);
            thread::spawn(move || {
                store
                    .record_campaign_score(
                        "api",
                        "API",
                        &format!("chaos_2000000{t}"),
                        1.0,
                        t + 1,
                        T0,
                    )
                    .unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let r = stores[1].ranking("api").unwrap().unwrap();
    // No lost update: every campaign counted, every test summed.
    assert_eq!(r.campaigns, THREADS);
    assert_eq!(r.test_count, (1..=THREADS).sum::<u32>());
    let history = stores[0].history("api").unwrap();
    let campaigns: BTreeSet<String> = history.into_iter().map(|h| h.campaign_id).collect();
    assert_eq!(campaigns.len(), THREADS as usize);
}
