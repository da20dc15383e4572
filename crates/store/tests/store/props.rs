//! Property: any result the domain can express reads back equal, bit for bit (floats via JSON
//! included), and any event likewise.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shakedown_core::result::{HealthCheck, LatencySummary, Recovery, Sample};
use shakedown_core::{AttackResult, Event, Evidence, Pattern, Severity, Verdict};
use shakedown_store::{SqliteStore, Store};
use time::OffsetDateTime;

use crate::fixtures::{T0, running};

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        0.0..10_000.0f64,
        Just(0.1 + 0.2),
        Just(f64::MIN_POSITIVE),
        Just(-0.0),
    ]
}

fn timestamp() -> impl Strategy<Value = OffsetDateTime> {
    // Years 1970..=2200, any nanosecond, any offset within ±23:59.
    (0i128..7_258_118_400_000_000_000, -86_399i32..86_400).prop_map(|(ns, off)| {
        let utc = OffsetDateTime::from_unix_timestamp_nanos(ns).unwrap();
        utc.to_offset(time::UtcOffset::from_whole_seconds(off).unwrap())
    })
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        finite().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        ".{0,40}",
        prop::option::of(any::<u16>()),
        ".{0,10}",
        finite(),
        ".{0,40}",
    )
        .prop_map(|(request, status, outcome, latency_ms, excerpt)| Sample {
            request,
            status,
            outcome,
            latency_ms,
            excerpt,
        })
}

fn evidence() -> impl Strategy<Value = Evidence> {
    (
        any::<u64>(),
        prop::collection::btree_map("[0-9a-z_]{1,8}", any::<u64>(), 0..5),
        prop::option::of((finite(), finite(), finite(), finite(), finite()).prop_map(
            |(a, b, c, d, e)| LatencySummary {
                p50_ms: a,
                p90_ms: b,
                p99_ms: c,
                max_ms: d,
                mean_ms: e,
            },
        )),
        prop::collection::vec(sample(), 0..3),
        prop::collection::vec(".{0,30}", 0..3),
        prop::collection::btree_map("[a-z_]{1,10}", json_value(), 0..4),
    )
        .prop_map(
            |(requests_sent, status_histogram, latency, samples, findings, metrics)| Evidence {
                requests_sent,
                status_histogram,
                latency,
                samples,
                findings,
                metrics: metrics.into_iter().collect::<BTreeMap<_, _>>(),
            },
        )
}

fn attack_result() -> impl Strategy<Value = AttackResult> {
    (
        (
            "[a-z][a-z0-9_-]{0,15}",
            prop::sample::select(Pattern::ALL.to_vec()),
            prop::sample::select(vec![
                Verdict::Passed,
                Verdict::Failed,
                Verdict::Inconclusive,
            ]),
            prop::sample::select(vec![
                Severity::Low,
                Severity::Medium,
                Severity::High,
                Severity::Critical,
            ]),
            ".{0,20}",
            any::<bool>(),
            ".{0,60}",
        ),
        evidence(),
        (
            any::<bool>(),
            prop::option::of(any::<u16>()),
            finite(),
            ".{0,20}",
        ),
        prop::option::of((any::<bool>(), prop::option::of(any::<u64>()), any::<u64>())),
        timestamp(),
        0..=i64::MAX as u64,
    )
        .prop_map(
            |(
                (component_id, pattern, verdict, severity, guardrail, guardrail_triggered, summary),
                evidence,
                (healthy, status, latency_ms, detail),
                recovery,
                started_at,
                duration_ms,
            )| AttackResult {
                component_id,
                pattern,
                verdict,
                severity,
                guardrail,
                guardrail_triggered,
                summary,
                evidence,
                health_before: HealthCheck {
                    healthy,
                    status,
                    latency_ms,
                    detail,
                },
                recovery: recovery.map(|(recovered, recovery_ms, window_ms)| Recovery {
                    recovered,
                    recovery_ms,
                    window_ms,
                }),
                started_at,
                duration_ms,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_results_round_trip(results in prop::collection::vec(attack_result(), 1..4)) {
        let store = SqliteStore::open_in_memory().unwrap();
        store.insert_campaign(&running("chaos_0000cafe", T0)).unwrap();
        for (seq, r) in results.iter().enumerate() {
            store.insert_result("chaos_0000cafe", seq as u32, r).unwrap();
        }
        let got = store.campaign("chaos_0000cafe").unwrap().unwrap().results;
        prop_assert_eq!(got, results);
    }

    #[test]
    fn any_event_round_trips(
        data in json_value(),
        at in timestamp(),
        campaign in prop::option::of("[a-z_0-9]{1,14}"),
        component in prop::option::of(".{1,10}"),
    ) {
        let store = SqliteStore::open_in_memory().unwrap();
        let e = Event {
            id: uuid::Uuid::new_v4(),
            event_type: "chaos.injection".to_owned(),
            timestamp: at,
            campaign_id: campaign.clone(),
            component_id: component,
            data,
        };
        store.append_event(&e).unwrap();
        prop_assert_eq!(store.events(campaign.as_deref()).unwrap(), vec![e]);
    }
}
