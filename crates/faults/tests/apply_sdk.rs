//! The official `openai` and `anthropic` Python SDKs against the real fault proxy (planner:
//! `shakedown_faults::plan`) in front of the mock LLM on 127.0.0.1: what each SDK does with
//! each fault shape — retries honouring `retry-after-ms`, quota 429s not retried, 529 as
//! `OverloadedError`, cut streams ending iterators without completion, mid-stream errors
//! raising, truncation marks, split tool arguments reassembled. The script asserts the SDK
//! side; this side asserts how many calls the SDK really made.
//!
//! The anthropic SDK's rate-limit and timeout cases run against a second proxy whose faults
//! come from a Flakestorm `chaos:` config file, loaded the way `shakedown fault-proxy
//! --config` loads it (`load_faults_file` → `FaultEngine` → `plan_for_request`, routes from
//! the file's `proxy:` block), so the whole config path is on trial, not a hand-written picker.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shakedown_core::Event;
use shakedown_faults::proxy::{FaultProxy, FaultProxyOptions, Planner};
use shakedown_faults::server::{ProxySettings, Route};
use shakedown_faults::{
    CallInfo, Decider, Fault, FaultEngine, FaultFamily, FiredFault, RateLimitKind, StreamFault,
};
use shakedown_mockllm::{Reply, Rules, ToolCall};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SCRIPT: &str = include_str!("apply_support/sdk_shapes.py");

/// Fires the faults named by the request's model; counts calls per model.
struct ByModel {
    faults: HashMap<&'static str, Vec<Fault>>,
    calls: Mutex<HashMap<String, u64>>,
    /// When each call arrived, per model: retry gaps show which header the SDK obeyed.
    arrivals: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Decider for ByModel {
    fn decide(&self, call: &mut CallInfo) -> Vec<FiredFault> {
        let model = call.model.clone().unwrap_or_default();
        self.arrivals
            .lock()
            .unwrap()
            .entry(model.clone())
            .or_default()
            .push(Instant::now());
        let mut calls = self.calls.lock().unwrap();
        let n = calls.entry(model.clone()).or_default();
        *n += 1;
        call.call_number = *n;
        self.faults
            .get(model.as_str())
            .into_iter()
            .flatten()
            .map(|f| FiredFault {
                rule: model.clone(),
                family: FaultFamily::LlmFault,
                call_number: *n,
                fault: f.clone(),
                seed: 99,
            })
            .collect()
    }
}

/// The fault engine built from a config file, as the CLI builds it, with the arrival time of
/// every call recorded per model (the engine alone decides what fires).
struct Observed {
    engine: FaultEngine,
    arrivals: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Decider for Observed {
    fn decide(&self, call: &mut CallInfo) -> Vec<FiredFault> {
        self.arrivals
            .lock()
            .unwrap()
            .entry(call.model.clone().unwrap_or_default())
            .or_default()
            .push(Instant::now());
        self.engine.decide(call)
    }
}

/// A Flakestorm `chaos:` block (`rate_limit`, `timeout`; `model`, `retry_after_ms` and
/// `quota_exhausted` are Shakedown's extensions) with the proxy's routes.
fn chaos_config(upstream: &str) -> String {
    format!(
        r#"version: "2.0"
chaos:
  llm_faults:
    - mode: rate_limit
      model: claude-rl-retry
      retry_after_ms: 1500
    - mode: quota_exhausted
      model: claude-rl-quota
    - mode: timeout
      model: claude-timeout
      delay_ms: 3000
proxy:
  routes:
    - {{prefix: /llm, upstream: "{upstream}"}}
"#
    )
}

/// Starts the proxy from the config file at `path` the way `shakedown fault-proxy --config`
/// does, listening on 127.0.0.1:0 with events to `events`.
async fn proxy_from_config(
    path: &std::path::Path,
    events: mpsc::Sender<Event>,
    halt: CancellationToken,
) -> (shakedown_faults::proxy::FaultProxyHandle, Arc<Observed>) {
    let (config, warnings) = shakedown_faults::load_faults_file(path)
        .unwrap_or_else(|p| panic!("{}", p.render(&path.display().to_string())));
    assert!(
        warnings.0.is_empty(),
        "{}",
        warnings.render(&path.display().to_string())
    );
    assert_eq!(config.rules.len(), 3);
    let settings = config.proxy.clone();
    let decider = Arc::new(Observed {
        engine: FaultEngine::new(config, 7),
        arrivals: Mutex::new(HashMap::new()),
    });
    let handle = FaultProxy::start(FaultProxyOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        settings,
        decider: decider.clone(),
        planner: Arc::new(shakedown_faults::plan::plan_for_request),
        events: Some(events),
        halt,
    })
    .await
    .expect("proxy from the config file starts");
    (handle, decider)
}

fn faults() -> HashMap<&'static str, Vec<Fault>> {
    let ms = Duration::from_millis;
    HashMap::from([
        (
            "rl-retry",
            vec![Fault::RateLimit(RateLimitKind::Retryable {
                retry_after: ms(300),
            })],
        ),
        ("rl-quota", vec![Fault::RateLimit(RateLimitKind::Quota)]),
        ("overloaded", vec![Fault::Overloaded]),
        ("timeout", vec![Fault::Timeout { delay: ms(3000) }]),
        (
            "cut",
            vec![Fault::Stream(StreamFault::Cut { after_events: 3 })],
        ),
        (
            "err-event",
            vec![Fault::Stream(StreamFault::ErrorEvent { after_events: 3 })],
        ),
        ("mid-whole", vec![Fault::MidStreamError]),
        ("truncate", vec![Fault::TruncatedResponse { max_tokens: 3 }]),
        ("malformed", vec![Fault::Malformed]),
        (
            "malformed-chunk",
            vec![Fault::Stream(StreamFault::MalformedChunk { at_event: 2 })],
        ),
        ("split", vec![Fault::Stream(StreamFault::SplitToolArgs)]),
        ("clean", vec![]),
    ])
}

async fn mock(rules: Rules, halt: CancellationToken) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(shakedown_mockllm::serve(listener, rules, async move {
        halt.cancelled().await
    }));
    format!("http://{addr}")
}

/// Fails the test, saying how to install them, when python3 or the SDKs are missing: a
/// machine without them must not pass this test silently.
async fn require_sdks() {
    let out = tokio::process::Command::new("python3")
        .args(["-c", "import openai, anthropic"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await;
    match out {
        Err(e) => panic!(
            "python3 is not runnable ({e}): install Python 3, then `python3 -m pip install openai anthropic` (scripts/test does both checks and installs the SDKs)"
        ),
        Ok(o) if !o.status.success() => panic!(
            "python3 lacks the openai / anthropic SDKs: run `python3 -m pip install openai anthropic` (scripts/test installs them): {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Ok(_) => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_react_to_each_shape() {
    require_sdks().await;
    let halt = CancellationToken::new();
    let text = mock(
        Rules {
            default: Reply::text("The weather in Paris is sunny with a high of 21 degrees today."),
            ..Rules::default()
        },
        halt.clone(),
    )
    .await;
    let tools = mock(
        Rules {
            default: Reply {
                text: None,
                tool_calls: vec![ToolCall {
                    name: "get_weather".into(),
                    arguments: serde_json::json!({"city": "Paris \"FR\"", "days": 12345}),
                }],
                usage: None,
            },
            ..Rules::default()
        },
        halt.clone(),
    )
    .await;
    let decider = Arc::new(ByModel {
        faults: faults(),
        calls: Mutex::new(HashMap::new()),
        arrivals: Mutex::new(HashMap::new()),
    });
    let planner: Planner = Arc::new(shakedown_faults::plan_for_request);
    let settings = ProxySettings {
        routes: vec![
            Route {
                prefix: "/llm".into(),
                upstream: text.clone(),
                tool: None,
            },
            Route {
                prefix: "/tools-llm".into(),
                upstream: tools,
                tool: None,
            },
        ],
        forward: false,
        intercept_tls: false,
        ..ProxySettings::default()
    };
    let handle = FaultProxy::start(FaultProxyOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        settings,
        decider: decider.clone(),
        planner,
        events: None,
        halt: halt.clone(),
    })
    .await
    .expect("proxy starts");
    let base = format!("http://{}", handle.addr());

    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("chaos.yaml");
    std::fs::write(&config_file, chaos_config(&text)).unwrap();
    let (events_tx, mut events_rx) = mpsc::channel(64);
    let (config_handle, observed) = proxy_from_config(&config_file, events_tx, halt.clone()).await;
    let config_base = format!("http://{}", config_handle.addr());

    let mut cmd = tokio::process::Command::new("python3");
    cmd.args(["-c", SCRIPT, &base, &config_base])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("the SDK script finishes within 90s")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    handle.shutdown().await;
    config_handle.shutdown().await;
    halt.cancel();
    assert!(
        out.status.success(),
        "SDK script failed:\n{stdout}\n{stderr}"
    );
    let calls = decider.calls.lock().unwrap().clone();
    // max_retries=2: the retryable 429 is tried three times, the quota 429 once.
    assert_eq!(calls["rl-retry"], 3, "{calls:?}");
    // The SDK waited `retry-after-ms` (300 ms), not `retry-after` (rounded up to 1 s).
    let at = decider.arrivals.lock().unwrap()["rl-retry"].clone();
    for gap in at.windows(2).map(|w| w[1] - w[0]) {
        assert!(
            gap >= Duration::from_millis(290) && gap < Duration::from_millis(950),
            "retry gap {gap:?}"
        );
    }
    assert_eq!(calls["rl-quota"], 1, "{calls:?}");
    // max_retries=1 on the 529.
    assert_eq!(calls["overloaded"], 2, "{calls:?}");
    assert_eq!(calls["timeout"], 1, "{calls:?}");

    // The config-driven proxy: the anthropic SDK made 3 calls for the retryable 429 (two
    // retries), each after the 2 s `retry-after` (its own backoff would wait ≤ 0.5 s, then
    // ≤ 1 s); 1 for the quota 429; 1 for the timeout (max_retries=0).
    let arrivals = observed.arrivals.lock().unwrap().clone();
    let count = |m: &str| arrivals.get(m).map_or(0, Vec::len);
    assert_eq!(count("claude-rl-retry"), 3, "{arrivals:?}");
    for gap in arrivals["claude-rl-retry"].windows(2).map(|w| w[1] - w[0]) {
        assert!(
            gap >= Duration::from_millis(1950) && gap < Duration::from_millis(4000),
            "anthropic retry gap {gap:?}: retry-after is 2 s"
        );
    }
    assert_eq!(count("claude-rl-quota"), 1, "{arrivals:?}");
    assert_eq!(count("claude-timeout"), 1, "{arrivals:?}");
    assert_eq!(count("claude-clean"), 1, "{arrivals:?}");
    // Every fired fault was reported, under the rule of the file that fired it.
    let mut fired: HashMap<(String, String), u32> = HashMap::new();
    while let Ok(ev) = events_rx.try_recv() {
        let key = (
            ev.data["rule"].as_str().unwrap().to_string(),
            ev.data["fault"].as_str().unwrap().to_string(),
        );
        *fired.entry(key).or_default() += 1;
    }
    let key = |r: &str, f: &str| (r.to_string(), f.to_string());
    assert_eq!(
        fired,
        HashMap::from([
            (key("llm_faults[0]", "rate_limit"), 3),
            (key("llm_faults[1]", "quota_exhausted"), 1),
            (key("llm_faults[2]", "timeout"), 1),
        ]),
        "fault_injected events"
    );

    for case in [
        "an-rl-retry",
        "an-rl-quota",
        "an-timeout",
        "an-clean",
        "rl-retry",
        "rl-quota",
        "overloaded",
        "timeout",
        "cut",
        "err-event",
        "mid-whole",
        "truncate",
        "malformed",
        "malformed-chunk",
        "split",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("ok {case}"))),
            "case {case} did not report:\n{stdout}"
        );
    }
}
