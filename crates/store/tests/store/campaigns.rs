//! Campaigns and results: exact round trips, listing order, error cases, interrupted runs.

use shakedown_core::campaign::CampaignStatus;
use shakedown_core::{Pattern, Verdict};
use shakedown_store::{SqliteStore, Store, StoreError};
use time::Duration;
use time::macros::datetime;

use crate::fixtures::{T0, finished, result, running};

#[test]
fn full_campaign_round_trips_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let results = vec![
        result("api", Pattern::SqlInjection, Verdict::Passed, 0),
        result("api", Pattern::RateLimitBreach, Verdict::Failed, 1),
        result("search", Pattern::Slowloris, Verdict::Inconclusive, 2),
        result("search", Pattern::XssAttack, Verdict::Passed, 3),
    ];
    let expected = finished(running("chaos_0000beef", T0), results.clone());
    {
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        store
            .insert_campaign(&running("chaos_0000beef", T0))
            .unwrap();
        for (seq, r) in results.iter().enumerate() {
            store
                .insert_result("chaos_0000beef", seq as u32, r)
                .unwrap();
        }
        store.finish_campaign(&expected).unwrap();
    }
    // A fresh connection proves it was on disk, not in a cache.
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let got = store.campaign("chaos_0000beef").unwrap().expect("stored");
    assert_eq!(got, expected);
    // The tally is real: 1 passed of 2 non-inconclusive for api, etc.
    assert_eq!(
        (got.tests_run, got.tests_passed, got.tests_failed),
        (4, 2, 1)
    );
    assert_eq!(got.tests_inconclusive, 1);
    assert_eq!(got.components.len(), 2);
}

#[test]
fn results_come_back_in_seq_order_and_non_utc_instants_survive() {
    let store = SqliteStore::open_in_memory().unwrap();
    let start = datetime!(2025-01-01 09:30:00.5 +05:30);
    store
        .insert_campaign(&running("chaos_00000001", start))
        .unwrap();
    let mut late = result("api", Pattern::AuthBypass, Verdict::Failed, 9);
    late.started_at = datetime!(2025-01-01 09:31:00.000000001 -07:00);
    let early = result("api", Pattern::BurstTraffic, Verdict::Passed, 4);
    store.insert_result("chaos_00000001", 7, &late).unwrap();
    store.insert_result("chaos_00000001", 2, &early).unwrap();
    let got = store.campaign("chaos_00000001").unwrap().unwrap();
    assert_eq!(got.results, vec![early, late.clone()]);
    // Same instant, to the nanosecond (stored in UTC).
    assert_eq!(got.started_at, start);
    assert_eq!(
        got.results[1].started_at.unix_timestamp_nanos(),
        late.started_at.unix_timestamp_nanos()
    );
}

#[test]
fn insert_campaign_stores_results_it_already_carries() {
    let store = SqliteStore::open_in_memory().unwrap();
    let c = finished(
        running("chaos_00000002", T0),
        vec![
            result("api", Pattern::SqlInjection, Verdict::Passed, 0),
            result("search", Pattern::NullInjection, Verdict::Failed, 1),
        ],
    );
    store.insert_campaign(&c).unwrap();
    assert_eq!(store.campaign("chaos_00000002").unwrap().unwrap(), c);
}

#[test]
fn listing_is_newest_first_without_results_and_limited() {
    let store = SqliteStore::open_in_memory().unwrap();
    // Inserted out of order; the last two share a start time (ties: last inserted first).
    let starts = [
        ("chaos_0000000b", T0 + Duration::hours(1)),
        ("chaos_0000000a", T0),
        ("chaos_0000000d", T0 + Duration::days(3)),
        ("chaos_0000000c", T0 + Duration::hours(2)),
        ("chaos_0000000e", T0 + Duration::hours(2)),
    ];
    for (id, at) in starts {
        store.insert_campaign(&running(id, at)).unwrap();
        store
            .insert_result(
                id,
                0,
                &result("api", Pattern::SqlInjection, Verdict::Passed, 0),
            )
            .unwrap();
    }
    let all = store.campaigns(100).unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.campaign_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "chaos_0000000d",
            "chaos_0000000e",
            "chaos_0000000c",
            "chaos_0000000b",
            "chaos_0000000a"
        ]
    );
    assert!(all.iter().all(|c| c.results.is_empty()));
    assert_eq!(all[0], running("chaos_0000000d", T0 + Duration::days(3)));
    let two: Vec<String> = store
        .campaigns(2)
        .unwrap()
        .into_iter()
        .map(|c| c.campaign_id)
        .collect();
    assert_eq!(two, ["chaos_0000000d", "chaos_0000000e"]);
    assert!(store.campaigns(0).unwrap().is_empty());
}

#[test]
fn missing_and_duplicate_records_are_clear_errors() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(store.campaign("chaos_nothere0").unwrap(), None);
    let r = result("api", Pattern::SqlInjection, Verdict::Passed, 0);
    let err = store.insert_result("chaos_nothere0", 0, &r).unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownCampaign(id) if id == "chaos_nothere0"),
        "{err}"
    );
    let err = store
        .finish_campaign(&running("chaos_nothere0", T0))
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownCampaign(_)), "{err}");

    store
        .insert_campaign(&running("chaos_00000003", T0))
        .unwrap();
    let err = store
        .insert_campaign(&running("chaos_00000003", T0))
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateCampaign(_)), "{err}");
    store.insert_result("chaos_00000003", 0, &r).unwrap();
    let err = store.insert_result("chaos_00000003", 0, &r).unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateResult { seq: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chaos_00000003"), "{err}");
    // The failed duplicate left the first result intact.
    assert_eq!(
        store.campaign("chaos_00000003").unwrap().unwrap().results,
        vec![r]
    );
}

#[test]
fn a_refused_campaign_writes_nothing() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut c = running("chaos_00000004", T0);
    c.threshold = f64::NAN;
    let err = store.insert_campaign(&c).unwrap_err();
    assert!(matches!(err, StoreError::InvalidValue { .. }), "{err}");
    // A valid campaign whose second result is unstorable rolls back whole.
    let mut c = running("chaos_00000005", T0);
    let mut bad = result("api", Pattern::SqlInjection, Verdict::Passed, 1);
    bad.duration_ms = u64::MAX;
    c.results = vec![
        result("api", Pattern::SqlInjection, Verdict::Passed, 0),
        bad,
    ];
    assert!(store.insert_campaign(&c).is_err());
    assert_eq!(store.campaign("chaos_00000005").unwrap(), None);
    assert!(store.campaigns(10).unwrap().is_empty());
}

#[test]
fn mark_interrupted_flips_running_campaigns_and_counts_their_results() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        store
            .insert_campaign(&running("chaos_0000000a", T0))
            .unwrap();
        store
            .insert_campaign(&running("chaos_0000000b", T0 + Duration::minutes(1)))
            .unwrap();
        let done = finished(running("chaos_0000000c", T0), vec![]);
        store
            .insert_campaign(&running("chaos_0000000c", T0))
            .unwrap();
        store.finish_campaign(&done).unwrap();
        let verdicts = [
            Verdict::Passed,
            Verdict::Failed,
            Verdict::Failed,
            Verdict::Inconclusive,
        ];
        for (seq, v) in verdicts.into_iter().enumerate() {
            let r = result("api", Pattern::PayloadOverflow, v, seq as u32);
            store
                .insert_result("chaos_0000000a", seq as u32, &r)
                .unwrap();
        }
        // Campaigns of a live process (this one) are left alone.
        assert!(store.mark_interrupted().unwrap().is_empty());
        // The process "dies" here: the store is dropped with two campaigns running.
    }
    // Stand in for the dead process: a pid that is not running (the kernel's pid_max is
    // below 2^22 by default, and at most 2^22).
    let conn = rusqlite::Connection::open(dir.path().join(shakedown_store::DB_FILE_NAME)).unwrap();
    conn.execute("UPDATE campaigns SET pid = 4194305", [])
        .unwrap();
    drop(conn);
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    assert_eq!(
        store.mark_interrupted().unwrap(),
        ["chaos_0000000a", "chaos_0000000b"]
    );
    let a = store.campaign("chaos_0000000a").unwrap().unwrap();
    assert_eq!(a.status, CampaignStatus::Interrupted);
    assert_eq!(
        (
            a.tests_run,
            a.tests_passed,
            a.tests_failed,
            a.tests_inconclusive
        ),
        (4, 1, 2, 1)
    );
    assert_eq!(a.results.len(), 4);
    let b = store.campaign("chaos_0000000b").unwrap().unwrap();
    assert_eq!((b.status, b.tests_run), (CampaignStatus::Interrupted, 0));
    let c = store.campaign("chaos_0000000c").unwrap().unwrap();
    assert_eq!(c.status, CampaignStatus::Completed);
    // Nothing is left running, so a second pass finds nothing.
    assert!(store.mark_interrupted().unwrap().is_empty());
}
