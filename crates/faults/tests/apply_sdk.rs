//! The official `openai` and `anthropic` Python SDKs against the real fault proxy (planner:
//! `shakedown_faults::plan`) in front of the mock LLM on 127.0.0.1: what each SDK does with
//! each fault shape — retries honouring `retry-after-ms`, quota 429s not retried, 529 as
//! `OverloadedError`, cut streams ending iterators without completion, mid-stream errors
//! raising, truncation marks, split tool arguments reassembled. The script asserts the SDK
//! side; this side asserts how many calls the SDK really made.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shakedown_faults::proxy::{FaultProxy, FaultProxyOptions, Planner};
use shakedown_faults::server::{ProxySettings, Route};
use shakedown_faults::{
    CallInfo, Decider, Fault, FaultFamily, FiredFault, RateLimitKind, StreamFault,
};
use shakedown_mockllm::{Reply, Rules, ToolCall};
use tokio::net::TcpListener;
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

async fn python_ready() -> Option<String> {
    let out = tokio::process::Command::new("python3")
        .args(["-c", "import openai, anthropic"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await;
    match out {
        Err(e) => Some(format!("python3 is not runnable: {e}")),
        Ok(o) if !o.status.success() => Some(format!(
            "python3 lacks openai/anthropic (pip install openai anthropic): {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_react_to_each_shape() {
    if let Some(reason) = python_ready().await {
        println!("skipped: {reason}");
        return;
    }
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
                upstream: text,
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
    let mut cmd = tokio::process::Command::new("python3");
    cmd.args(["-c", SCRIPT, &base])
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
    let out = tokio::time::timeout(Duration::from_secs(40), cmd.output())
        .await
        .expect("the SDK script finishes within 40s")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    handle.shutdown().await;
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
    for case in [
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
