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

#[test]
fn the_log_is_followed_from_a_cursor_in_append_order() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(store.last_event_cursor().unwrap(), 0);
    assert!(store.events_after(0, 10).unwrap().is_empty());
    // Appended out of timestamp order: the cursor follows the append order.
    let ids: Vec<_> = [30, 10, 20]
        .iter()
        .map(|s| {
            let e = Event::new(
                EventType::Injection,
                Some("chaos_a"),
                None,
                serde_json::json!({"n": s}),
                T0 + Duration::seconds(*s),
            );
            store.append_event(&e).unwrap();
            e.id
        })
        .collect();
    let all = store.events_after(0, 10).unwrap();
    assert_eq!(all.iter().map(|(_, e)| e.id).collect::<Vec<_>>(), ids);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    let (first, _) = all[0];
    let rest = store.events_after(first, 1).unwrap();
    assert_eq!(rest.len(), 1, "the limit holds");
    assert_eq!(rest[0].1.id, ids[1]);
    assert_eq!(store.last_event_cursor().unwrap(), all[2].0);
    assert!(store.events_after(all[2].0, 10).unwrap().is_empty());
}
