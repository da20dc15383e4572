//! `shakedown fault-proxy`, `profiles`, `validate --faults` and `schema faults` as a user runs
//! them: the real binary. Bad configs and unknown profiles fail with exit 2 and say why; a
//! running proxy in front of a tiny loopback upstream answers the profile's faults, writes
//! `fault_injected` lines, and stops promptly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

/// How long the process may take to exit after SIGTERM.
const EXIT_WITHIN: Duration = Duration::from_secs(5);
/// Socket timeouts so no step of the test can block forever.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The binary with a private data directory and no inherited log filter.
fn shakedown(data: &Path) -> Command {
    let mut c = Command::new(cargo_bin("shakedown"));
    c.env("SHAKEDOWN_DATA_DIR", data).env_remove("RUST_LOG");
    c
}

/// Runs to completion; returns (exit code, stdout, stderr).
fn run(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = shakedown(data).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Kills the child if the test fails before it exits, so no process outlives the test.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

const BAD_CONFIG: &str = "chaos:
  tool_faults:
    - tool: search
      mode: explode
  llm_faults:
    - mode: rate_limit
      probability: 2.0
";

#[test]
fn a_malformed_config_gives_located_errors_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, BAD_CONFIG).unwrap();
    let path = file.to_str().unwrap();
    let (code, _, err) = run(
        dir.path(),
        &["fault-proxy", "--config", path, "--listen", "127.0.0.1:0"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.yaml:4:"), "the mode's line: {err}");
    assert!(err.contains("explode"), "{err}");
    assert!(err.contains("bad.yaml:7:"), "the probability's line: {err}");
    assert!(err.contains("the fault config was not used"), "{err}");
    // validate --faults says the same without starting anything.
    let (code, _, err) = run(dir.path(), &["validate", "--faults", path]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad.yaml:4:") && err.contains("bad.yaml:7:"),
        "{err}"
    );
}

#[test]
fn an_unknown_profile_names_the_known_ones_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(
        dir.path(),
        &[
            "fault-proxy",
            "--profile",
            "api_outgae",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("api_outgae"), "{err}");
    assert!(
        err.contains("api_outage") && err.contains("stream_cut"),
        "{err}"
    );
    let (code, _, err) = run(dir.path(), &["validate", "--faults", "api_outgae"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("api_outage"), "{err}");
}

#[test]
fn profiles_lists_all_ten_and_each_validates() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(dir.path(), &["profiles"]);
    assert_eq!(code, 0, "{err}");
    let names = [
        "api_outage",
        "cascading_failure",
        "degraded_llm",
        "high_latency",
        "hostile_tools",
        "indirect_injection",
        "model_version_drift",
        "rate_limit_storm",
        "brownout",
        "stream_cut",
    ];
    for name in names {
        assert!(out.contains(name), "{name} missing from:\n{out}");
        let (code, out, err) = run(dir.path(), &["validate", "--faults", name]);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(out.contains("ok"), "{name}: {out}");
    }
    assert!(!out.contains("broken"), "{out}");
}

#[test]
fn validate_faults_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("good.yaml");
    std::fs::write(
        &file,
        "chaos:\n  tool_faults:\n    - {tool: search, mode: error, error_code: 503, after_calls: 1}\n  context_attacks:\n    - {type: indirect_injection, strategy: prepend, payload: P}\n",
    )
    .unwrap();
    let (code, out, err) = run(
        dir.path(),
        &["validate", "--faults", file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 rule(s)"), "{out}");
}

#[test]
fn the_checked_in_faults_schema_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(dir.path(), &["schema", "faults"]);
    assert_eq!(code, 0, "{err}");
    let printed: Value = serde_json::from_str(&out).unwrap();
    let checked_in: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schemas/faults.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        printed, checked_in,
        "regenerate with `shakedown schema faults > schemas/faults.schema.json`"
    );
}

/// A threaded HTTP/1.1 upstream answering every request `200 {"ok":true}` and closing;
/// counts requests. Stops accepting when `stop` is set (a last connection wakes it).
fn upstream(stop: Arc<AtomicBool>, hits: Arc<AtomicUsize>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(mut s) = conn else { return };
            let hits = Arc::clone(&hits);
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(IO_TIMEOUT));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                hits.fetch_add(1, Ordering::SeqCst);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}",
                );
            });
        }
    });
    addr
}

/// One GET through the proxy on its own connection; returns the status and body.
fn get(proxy: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(proxy).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {proxy}\r\nx-shakedown-tool: search\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

#[test]
fn a_running_proxy_answers_the_profile_writes_events_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicUsize::new(0));
    let up = upstream(Arc::clone(&stop), Arc::clone(&hits));
    let events = dir.path().join("events.jsonl");
    let route = format!("/x=http://{up}");
    let child = shakedown(dir.path())
        .args([
            "fault-proxy",
            "--profile",
            "api_outage",
            "--listen",
            "127.0.0.1:0",
            "--route",
            &route,
            "--seed",
            "1",
            "--events",
            events.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut proc = Running(child);
    let mut stderr = BufReader::new(proc.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("seed 1"), "{line}");
    let proxy: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no listening address in {line:?}"))
        .parse()
        .unwrap();

    // api_outage: every tool call answers 503 without asking the upstream.
    for _ in 0..3 {
        let (status, body) = get(proxy, "/x/search?q=1");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("Service Unavailable"), "{body}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // The events file gets one `fault_injected` line per call (written as they happen).
    let deadline = Instant::now() + IO_TIMEOUT;
    let lines = loop {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= 3 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (i, ev) in lines.iter().enumerate() {
        assert_eq!(ev["event_type"], "fault_injected", "{ev}");
        assert_eq!(ev["data"]["fault"], "error", "{ev}");
        assert_eq!(ev["data"]["tool"], "search", "{ev}");
        assert_eq!(ev["data"]["call_number"], i as u64 + 1, "{ev}");
        assert!(
            ev["data"]["rule"]
                .as_str()
                .unwrap()
                .starts_with("api_outage:"),
            "{ev}"
        );
    }

    // SIGTERM: the process exits promptly, cleanly.
    let pid = proc.0.id().to_string();
    let sent = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(s) = proc.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < EXIT_WITHIN,
            "still running {EXIT_WITHIN:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(TcpStream::connect(proxy).is_err(), "the listener is closed");

    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(up);
}
