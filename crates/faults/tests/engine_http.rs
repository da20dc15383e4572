//! The engine's predictions hold on the wire: through the real proxy over loopback, seeded
//! probability with `after_calls` faults exactly the calls `FaultEngine::predict` names, per
//! tool, and the events carry those call numbers.

mod server_support;

use std::sync::Arc;

use server_support::*;
use shakedown_faults::{Decider, FaultEngine, Planner, load_faults};

const CALLS: u64 = 24;

#[tokio::test]
async fn seeded_probability_faults_exactly_the_predicted_calls() {
    let up = TestUpstream::start().await;
    let yaml = format!(
        r#"
chaos:
  tool_faults:
    - name: flaky_search
      tool: search
      mode: error
      error_code: 502
      probability: 0.5
      after_calls: 3
proxy:
  routes:
    - {{prefix: /tools/search, upstream: "{u}", tool: search}}
    - {{prefix: /tools/fetch, upstream: "{u}", tool: fetch}}
"#,
        u = up.url()
    );
    let (config, _) = load_faults(&yaml).unwrap_or_else(|p| panic!("{}", p.render("t")));
    let settings = config.proxy.clone();
    // A second engine with the same config and seed only predicts; the proxy runs the first.
    let predicted = FaultEngine::new(config.clone(), 1234).predict(0, CALLS);
    assert!(!predicted.is_empty() && predicted.len() < (CALLS - 3) as usize);
    assert!(
        predicted.iter().all(|&n| n > 3),
        "after_calls: 3 → from call 4"
    );

    let engine: Arc<dyn Decider> = Arc::new(FaultEngine::new(config, 1234));
    let planner: Planner = Arc::new(shakedown_faults::plan_for_request);
    let mut p = start_proxy(settings, engine, planner).await;

    let mut faulted = Vec::new();
    for n in 1..=CALLS {
        // Calls to another tool in between must not shift `search`'s numbering.
        let other = send(p.handle.addr(), request("POST", "/tools/fetch", "{}"))
            .await
            .unwrap();
        assert_eq!(other.status(), 200);
        let resp = send(p.handle.addr(), request("POST", "/tools/search", "{}"))
            .await
            .unwrap();
        match resp.status().as_u16() {
            200 => {}
            502 => faulted.push(n),
            s => panic!("call {n}: unexpected status {s}"),
        }
    }
    assert_eq!(faulted, predicted);
    // Faulted calls never reached the upstream; every other call did.
    assert_eq!(up.hits() as u64, 2 * CALLS - faulted.len() as u64);

    let mut event_calls = Vec::new();
    for _ in 0..faulted.len() {
        let ev = next_event(&mut p.events).await;
        assert_eq!(ev.data["rule"], "flaky_search");
        event_calls.push(ev.data["call_number"].as_u64().unwrap());
    }
    assert_eq!(event_calls, predicted);
    p.halt.cancel();
}
