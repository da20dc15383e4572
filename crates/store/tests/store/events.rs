//! The event log: ordering, per-campaign filter, exact data round trip.

use shakedown_core::{Event, EventType};
use shakedown_store::{SqliteStore, Store, StoreError};
use time::Duration;

use crate::fixtures::T0;

#[test]
fn events_filter_by_campaign_and_come_back_oldest_first() {
    let store = SqliteStore::open_in_memory().unwrap();
    let at = |s: i64| T0 + Duration::seconds(s);
    let data = serde_json::json!({"pattern": "sql_injection", "verdict": "passed", "p99": 12.34});
    let e_done = Event::new(
        EventType::CampaignCompleted,
        Some("chaos_a"),
        None,
        data.clone(),
        at(30),
    );
    let e_start = Event::new(
        EventType::CampaignStarted,
        Some("chaos_a"),
        None,
        data.clone(),
        at(0),
    );
    let e_inj = Event::new(
        EventType::Injection,
        Some("chaos_a"),
        Some("api"),
        data.clone(),
        at(10),
    );
    let e_other = Event::new(
        EventType::Injection,
        Some("chaos_b"),
        Some("db"),
        data.clone(),
        at(5),
    );
    let e_none = Event::new(
        EventType::Injection,
        None,
        None,
        serde_json::json!(null),
        at(20),
    );
    // Same timestamp as e_inj, appended later: ties keep append order.
    let e_tie = Event::new(
        EventType::Injection,
        Some("chaos_a"),
        Some("search"),
        data,
        at(10),
    );
    for e in [&e_done, &e_start, &e_inj, &e_other, &e_none, &e_tie] {
        store.append_event(e).unwrap();
    }
    assert_eq!(
        store.events(Some("chaos_a")).unwrap(),
        vec![
            e_start.clone(),
            e_inj.clone(),
            e_tie.clone(),
            e_done.clone()
        ]
    );
    assert_eq!(
        store.events(Some("chaos_b")).unwrap(),
        vec![e_other.clone()]
    );
    assert!(store.events(Some("chaos_zzz")).unwrap().is_empty());
    assert_eq!(
        store.events(None).unwrap(),
        vec![e_start, e_other, e_inj, e_tie, e_none, e_done]
    );
}

#[test]
fn duplicate_event_ids_are_refused() {
    let store = SqliteStore::open_in_memory().unwrap();
    let e = Event::new(
        EventType::Injection,
        None,
        None,
        serde_json::json!({"n": 1}),
        T0,
    );
    store.append_event(&e).unwrap();
    let err = store.append_event(&e).unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateEvent(id) if id == e.id),
        "{err}"
    );
    assert_eq!(store.events(None).unwrap(), vec![e]);
}
