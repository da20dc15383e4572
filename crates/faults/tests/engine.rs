//! The rule engine: call numbering per family, schedules (`after_calls` from N+1, every N,
//! `max_fires`, windows on a manual clock, seeded probability), matching, and predictions
//! that agree with what the engine really does.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};
use shakedown_faults::config::load_faults;
use shakedown_faults::detect::{TOOL_HEADER, describe};
use shakedown_faults::schedule::{ManualClock, SALT_FIRE, draw, unit};
use shakedown_faults::{CallInfo, Decider, Fault, FaultEngine, FaultFamily, FiredFault};

fn engine(yaml: &str, seed: u64) -> FaultEngine {
    let (config, _) = load_faults(yaml).unwrap_or_else(|p| panic!("{}", p.render("t.yaml")));
    FaultEngine::new(config, seed)
}

fn tool(name: Option<&str>) -> CallInfo {
    let mut h = HeaderMap::new();
    if let Some(n) = name {
        h.insert(TOOL_HEADER, n.parse().unwrap());
    }
    describe(
        Method::POST,
        "http://127.0.0.1:7001/api/run".into(),
        "/api/run".into(),
        "/api/run",
        h,
        b"{}",
        None,
    )
}

fn llm(path: &str, model: &str, stream: bool) -> CallInfo {
    let body = format!(r#"{{"model":"{model}","stream":{stream}}}"#);
    describe(
        Method::POST,
        format!("http://127.0.0.1:7002{path}"),
        path.into(),
        path,
        HeaderMap::new(),
        body.as_bytes(),
        None,
    )
}

/// Runs `calls` and returns, per call, the names of the rules that fired.
fn run(e: &FaultEngine, calls: Vec<CallInfo>) -> Vec<(u64, Vec<FiredFault>)> {
    calls
        .into_iter()
        .map(|mut c| {
            let fired = e.decide(&mut c);
            (c.call_number, fired)
        })
        .collect()
}

fn fired_on(results: &[(u64, Vec<FiredFault>)], rule: &str) -> Vec<u64> {
    results
        .iter()
        .flat_map(|(_, f)| f.iter().filter(|x| x.rule == rule).map(|x| x.call_number))
        .collect()
}

#[test]
fn after_calls_fires_exactly_from_n_plus_one() {
    let e = engine(
        "chaos:\n  tool_faults:\n    - {tool: search, mode: error, after_calls: 3}\n",
        7,
    );
    let r = run(&e, (0..6).map(|_| tool(Some("search"))).collect());
    let numbers: Vec<u64> = r.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
    assert_eq!(fired_on(&r, "tool_faults[0]"), [4, 5, 6]);
    assert_eq!(e.predict(0, 6), [4, 5, 6]);
    let f = &r[3].1[0];
    assert_eq!(f.family, FaultFamily::ToolFault);
    assert_eq!(
        f.fault,
        Fault::Error {
            status: 503,
            message: "Service Unavailable".into()
        }
    );
}

#[test]
fn tool_calls_count_per_tool_and_star_counts_all() {
    let e = engine(
        r#"
chaos:
  tool_faults:
    - {name: per_tool, tool: "search", mode: malformed, after_calls: 2}
    - {name: all, tool: "*", mode: slow, delay_ms: 1, after_calls: 4}
"#,
        1,
    );
    // search, fetch, search, fetch, search, (unnamed), search
    let calls = vec![
        tool(Some("search")),
        tool(Some("fetch")),
        tool(Some("search")),
        tool(Some("fetch")),
        tool(Some("search")),
        tool(None),
        tool(Some("search")),
    ];
    let r = run(&e, calls);
    let numbers: Vec<u64> = r.iter().map(|(n, _)| *n).collect();
    // CallInfo numbers: per tool name; the unnamed call counts across all tool calls.
    assert_eq!(numbers, [1, 1, 2, 2, 3, 6, 4]);
    // Third and fourth calls to `search` (overall calls 5 and 7).
    assert_eq!(fired_on(&r, "per_tool"), [3, 4]);
    // `*` counts every tool call, the unnamed one included: calls 5, 6, 7.
    assert_eq!(fired_on(&r, "all"), [5, 6, 7]);
}

#[test]
fn llm_calls_count_together_across_apis_and_apart_from_tools() {
    let e = engine(
        "chaos:\n  llm_faults:\n    - {mode: rate_limit, after_calls: 2}\n",
        1,
    );
    let r = run(
        &e,
        vec![
            llm("/v1/chat/completions", "gpt-4o", false),
            tool(Some("search")),
            llm("/v1/messages", "claude-3-5-haiku", false),
            tool(Some("search")),
            llm("/v1/responses", "gpt-4o", false),
            llm("/v1/chat/completions", "gpt-4o", true),
        ],
    );
    let numbers: Vec<u64> = r.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [1, 1, 2, 2, 3, 4]);
    assert_eq!(fired_on(&r, "llm_faults[0]"), [3, 4]);
    // Tool calls never reach an llm rule.
    assert!(r[1].1.is_empty() && r[3].1.is_empty());
}

#[test]
fn every_n_calls_and_max_fires() {
    let e = engine(
        "chaos:\n  llm_faults:\n    - {mode: empty, after_calls: 1, every_n_calls: 3, max_fires: 2}\n",
        1,
    );
    let r = run(
        &e,
        (0..20)
            .map(|_| llm("/v1/chat/completions", "m", false))
            .collect(),
    );
    assert_eq!(fired_on(&r, "llm_faults[0]"), [4, 7]);
    assert_eq!(e.predict(0, 20), [4, 7]);
    assert_eq!(e.fired_counts(), [("llm_faults[0]".to_string(), 2)]);
}

#[test]
fn windows_follow_the_clock() {
    let (config, _) = load_faults(
        "chaos:\n  llm_faults:\n    - {mode: garbage, window: {start_after: 10s, duration: 30s}}\n",
    )
    .unwrap();
    let clock = ManualClock::new();
    let e = FaultEngine::with_clock(config, 1, Arc::new(clock.clone()));
    let mut fires = Vec::new();
    for at in [0u64, 9, 10, 25, 39, 40, 100] {
        clock.set(Duration::from_secs(at));
        let mut c = llm("/v1/chat/completions", "m", false);
        if !e.decide(&mut c).is_empty() {
            fires.push(at);
        }
    }
    assert_eq!(fires, [10, 25, 39]);
}

#[test]
fn seeded_probability_is_reproducible_and_predicted() {
    let yaml = r#"
chaos:
  tool_faults:
    - {tool: "*", mode: malformed, probability: 0.3}
  llm_faults:
    - {mode: empty, probability: 0.5}
"#;
    let pattern = |seed: u64, with_llm_noise: bool| {
        let e = engine(yaml, seed);
        let mut calls = Vec::new();
        for i in 0..200 {
            calls.push(tool(Some(if i % 2 == 0 { "a" } else { "b" })));
            if with_llm_noise {
                calls.push(llm("/v1/chat/completions", "m", false));
            }
        }
        let r = run(&e, calls);
        (fired_on(&r, "tool_faults[0]"), e.predict(0, 200))
    };
    let (a, predicted) = pattern(42, false);
    let (b, _) = pattern(42, true);
    let (c, _) = pattern(43, false);
    assert_eq!(a, b, "other families' calls do not change a rule's draws");
    assert_eq!(a, predicted, "predict says exactly which calls fire");
    assert_ne!(a, c, "another seed gives another pattern");
    // Roughly the configured rate (200 draws at 0.3: 60 ± a wide margin).
    assert!((35..=85).contains(&a.len()), "{} fires", a.len());
    // The documented draw, recomputed by hand.
    let by_hand: Vec<u64> = (1..=200)
        .filter(|&n| unit(draw(42, 0, n, SALT_FIRE)) < 0.3)
        .collect();
    assert_eq!(a, by_hand);
}

#[test]
fn a_rule_draws_do_not_depend_on_other_rules() {
    let one = engine(
        "chaos:\n  llm_faults:\n    - {mode: empty, probability: 0.5}\n",
        9,
    );
    let two = engine(
        "chaos:\n  llm_faults:\n    - {mode: empty, probability: 0.5}\n    - {mode: garbage, probability: 0.5}\n",
        9,
    );
    let calls = || {
        (0..100)
            .map(|_| llm("/v1/chat/completions", "m", false))
            .collect()
    };
    assert_eq!(
        fired_on(&run(&one, calls()), "llm_faults[0]"),
        fired_on(&run(&two, calls()), "llm_faults[0]")
    );
}

#[test]
fn model_stream_and_url_matching() {
    let e = engine(
        r#"
chaos:
  llm_faults:
    - {name: gpt_only, mode: empty, model: "gpt-*"}
    - {name: cut, mode: stream_cut}
  tool_faults:
    - {name: anthropic_url, match_url: "*/v1/messages", mode: error, error_code: 500}
"#,
        1,
    );
    let names = |c: CallInfo| -> Vec<String> {
        let mut c = c;
        e.decide(&mut c).into_iter().map(|f| f.rule).collect()
    };
    assert_eq!(
        names(llm("/v1/chat/completions", "gpt-4o", false)),
        ["gpt_only"]
    );
    assert_eq!(
        names(llm("/v1/chat/completions", "gpt-4o", true)),
        ["gpt_only", "cut"]
    );
    assert!(names(llm("/v1/chat/completions", "o3-mini", false)).is_empty());
    // A tool rule reaches an LLM call only through an explicit match_url. Tool rules come
    // first, and its error answers alone, so the stream cut never gets to act.
    assert_eq!(
        names(llm("/v1/messages", "claude-3", true)),
        ["anthropic_url"]
    );
    assert_eq!(
        names(llm("/v1/messages", "claude-3", false)),
        ["anthropic_url"]
    );
    assert!(names(tool(Some("search"))).is_empty());
}

#[test]
fn the_first_fault_that_answers_alone_ends_the_list() {
    let e = engine(
        r#"
chaos:
  tool_faults:
    - {name: slow, tool: "*", mode: slow, delay_ms: 5}
    - {name: down, tool: "*", mode: error, after_calls: 1}
    - {name: hostile, tool: "*", mode: malicious_response, payload: "x", max_fires: 1}
"#,
        1,
    );
    let r = run(&e, (0..3).map(|_| tool(Some("t"))).collect());
    let rules: Vec<Vec<&str>> = r
        .iter()
        .map(|(_, f)| f.iter().map(|x| x.rule.as_str()).collect())
        .collect();
    // Call 1: slow, then hostile (down waits for call 2). From call 2 the error answers
    // alone, so the hostile rule neither fires nor spends its max_fires.
    assert_eq!(
        rules,
        [
            vec!["slow", "hostile"],
            vec!["slow", "down"],
            vec!["slow", "down"]
        ]
    );
}

#[test]
fn payload_choice_and_fault_seed_are_seeded() {
    let yaml = r#"
chaos:
  context_attacks:
    - {type: indirect_injection, trigger_probability: 1.0, payloads: [p0, p1, p2, p3]}
"#;
    let picks = |seed: u64| -> Vec<(String, u64)> {
        let e = engine(yaml, seed);
        run(&e, (0..40).map(|_| tool(Some("t"))).collect())
            .into_iter()
            .map(|(n, f)| {
                let f = &f[0];
                assert_eq!(f.seed, e.fault_seed(0, n));
                match &f.fault {
                    Fault::ContextAttack { payload, .. } => (payload.clone(), f.seed),
                    other => panic!("expected a context attack, got {other:?}"),
                }
            })
            .collect()
    };
    let a = picks(5);
    assert_eq!(a, picks(5));
    assert_ne!(a, picks(6));
    let used: BTreeSet<&str> = a.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        used.len(),
        4,
        "all payloads get picked over 40 calls: {used:?}"
    );
}

#[test]
fn counting_is_exact_under_concurrency() {
    let e = Arc::new(engine(
        "chaos:\n  tool_faults:\n    - {tool: \"*\", mode: malformed, after_calls: 100}\n",
        1,
    ));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for _ in 0..50 {
                    let mut c = tool(None);
                    let fired = e.decide(&mut c);
                    out.push((c.call_number, fired.len()));
                }
                out
            })
        })
        .collect();
    let mut all: Vec<(u64, usize)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    let numbers: Vec<u64> = all.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..=400).collect::<Vec<u64>>());
    assert!(all.iter().all(|(n, f)| (*f == 1) == (*n > 100)));
}

#[test]
fn max_fires_holds_under_concurrency() {
    let e = Arc::new(engine(
        "chaos:\n  llm_faults:\n    - {mode: garbage, max_fires: 5}\n",
        1,
    ));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| e.decide(&mut llm("/v1/messages", "claude", false)).len())
                    .sum::<usize>()
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 5);
    assert_eq!(e.fired_counts()[0].1, 5);
}
