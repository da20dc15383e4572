//! Rankings: EWMA across campaigns, history rows, ordering, and atomic refusal.

use shakedown_store::{HistoryEntry, SqliteStore, Store, StoreError};
use time::Duration;

use crate::fixtures::{T0, running};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Inserts campaigns `chaos_0000000N` for N in 1..=n so scores can refer to them.
fn with_campaigns(n: u32) -> SqliteStore {
    let store = SqliteStore::open_in_memory().unwrap();
    for i in 1..=n {
        store
            .insert_campaign(&running(
                &format!("chaos_{i:08x}"),
                T0 + Duration::hours(i.into()),
            ))
            .unwrap();
    }
    store
}

#[test]
fn ewma_over_three_campaigns_with_history() {
    let store = with_campaigns(3);
    let at = |h: i64| T0 + Duration::hours(h);
    let r1 = store
        .record_campaign_score("api", "Public API", "chaos_00000001", 0.5, 4, at(1))
        .unwrap();
    assert_eq!(
        (r1.resilience_score, r1.test_count, r1.campaigns),
        (0.5, 4, 1)
    );
    let r2 = store
        .record_campaign_score("api", "Public API", "chaos_00000002", 1.0, 3, at(2))
        .unwrap();
    assert!(close(r2.resilience_score, 0.65), "{}", r2.resilience_score);
    let r3 = store
        .record_campaign_score("api", "Public API", "chaos_00000003", 0.0, 5, at(3))
        .unwrap();
    assert!(close(r3.resilience_score, 0.455), "{}", r3.resilience_score);
    assert_eq!(
        (r3.test_count, r3.campaigns, r3.last_tested),
        (12, 3, at(3))
    );
    // What was returned is what is stored.
    assert_eq!(store.ranking("api").unwrap(), Some(r3.clone()));

    let history = store.history("api").unwrap();
    let expect = [
        ("chaos_00000001", 0.5, 0.5, 4, at(1)),
        ("chaos_00000002", 1.0, 0.65, 3, at(2)),
        ("chaos_00000003", 0.0, 0.455, 5, at(3)),
    ];
    assert_eq!(history.len(), expect.len());
    for (h, (campaign, score, ranking, tests, when)) in history.iter().zip(expect) {
        assert_eq!(h.component_id, "api");
        assert_eq!(h.component_name, "Public API");
        assert_eq!(h.campaign_id, campaign);
        assert_eq!(h.campaign_score, score);
        assert!(
            close(h.ranking_score, ranking),
            "{} vs {ranking}",
            h.ranking_score
        );
        assert_eq!((h.tests, h.at), (tests, when));
    }
    // The last history row carries exactly the ranking's score.
    assert_eq!(history[2].ranking_score, r3.resilience_score);
    assert!(store.history("nobody").unwrap().is_empty());
}

#[test]
fn rankings_are_lowest_score_first() {
    let store = with_campaigns(1);
    let c = "chaos_00000001";
    store
        .record_campaign_score("cache", "Cache", c, 0.9, 2, T0)
        .unwrap();
    store
        .record_campaign_score("api", "API", c, 0.2, 2, T0)
        .unwrap();
    store
        .record_campaign_score("db", "DB", c, 0.55, 2, T0)
        .unwrap();
    // Tie with api: broken by component id.
    store
        .record_campaign_score("aaa", "AAA", c, 0.2, 2, T0)
        .unwrap();
    let order: Vec<(String, f64)> = store
        .rankings()
        .unwrap()
        .into_iter()
        .map(|r| (r.component_id, r.resilience_score))
        .collect();
    assert_eq!(
        order,
        [
            ("aaa".into(), 0.2),
            ("api".into(), 0.2),
            ("db".into(), 0.55),
            ("cache".into(), 0.9)
        ]
    );
    assert_eq!(store.ranking("nobody").unwrap(), None);
}

#[test]
fn renames_update_the_ranking_but_not_old_history() {
    let store = with_campaigns(2);
    store
        .record_campaign_score("api", "API", "chaos_00000001", 1.0, 1, T0)
        .unwrap();
    let r = store
        .record_campaign_score("api", "Public API", "chaos_00000002", 1.0, 1, T0)
        .unwrap();
    assert_eq!(r.component_name, "Public API");
    let names: Vec<String> = store
        .history("api")
        .unwrap()
        .into_iter()
        .map(|h: HistoryEntry| h.component_name)
        .collect();
    assert_eq!(names, ["API", "Public API"]);
}

#[test]
fn refused_scores_change_nothing() {
    let store = with_campaigns(1);
    let c = "chaos_00000001";
    store
        .record_campaign_score("api", "API", c, 0.5, 2, T0)
        .unwrap();
    for bad in [f64::NAN, f64::INFINITY, -0.1, 1.5] {
        let err = store
            .record_campaign_score("api", "API", c, bad, 2, T0)
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidValue { .. }),
            "{bad}: {err}"
        );
    }
    let err = store
        .record_campaign_score("api", "API", "chaos_nothere0", 1.0, 2, T0)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownCampaign(id) if id == "chaos_nothere0"),
        "{err}"
    );
    let r = store.ranking("api").unwrap().unwrap();
    assert_eq!((r.resilience_score, r.test_count, r.campaigns), (0.5, 2, 1));
    assert_eq!(store.history("api").unwrap().len(), 1);
}

#[test]
fn each_component_knows_the_environments_that_scored_it() {
    use shakedown_core::system::Environment;
    let store = SqliteStore::open_in_memory().unwrap();
    for (id, env) in [
        ("chaos_0000000a", Environment::Test),
        ("chaos_0000000b", Environment::Production),
        ("chaos_0000000c", Environment::Test),
    ] {
        let mut c = running(id, T0);
        c.environment = env;
        store.insert_campaign(&c).unwrap();
    }
    assert_eq!(
        store.campaign_environment("chaos_0000000b").unwrap(),
        Some(Environment::Production)
    );
    assert_eq!(store.campaign_environment("chaos_ffffffff").unwrap(), None);
    for (component, campaign) in [
        ("web", "chaos_0000000a"),
        ("web", "chaos_0000000c"),
        ("db", "chaos_0000000a"),
        ("db", "chaos_0000000b"),
    ] {
        store
            .record_campaign_score(component, component, campaign, 0.5, 1, T0)
            .unwrap();
    }
    let envs = store.component_environments().unwrap();
    assert_eq!(envs.len(), 2);
    // Each environment once, however many campaigns of it scored the component.
    assert_eq!(envs["web"], [Environment::Test]);
    let mut db = envs["db"].clone();
    db.sort_by_key(|e| e.as_str());
    assert_eq!(db, [Environment::Production, Environment::Test]);
}
