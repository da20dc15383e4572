//! The event bus over a real nats-server, through the real binary: a `guardian.halt_chaos`
//! message halts a running campaign (stored `halted_by_guardian`, latch and ledger entry by
//! the message's `by`) and `guardian.resume_chaos` lifts it; a campaign's events arrive on
//! `chaos.>` exactly as its JSON lines; NATS that is down or is not NATS gives clear errors,
//! and a campaign whose NATS is dead still runs, counting the events it dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use shakedown_control::nats::{Client, ClientOptions, HALT_SUBJECT, RESUME_SUBJECT};

#[path = "support/http.rs"]
mod http;

/// A nats-server child process on a loopback port it picks itself, killed on drop.
struct NatsServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsServer {
    fn start() -> NatsServer {
        let dir = tempfile::tempdir().unwrap();
        let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("nats-server");
        let mut child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "nats-server must be installed (apt-get install nats-server; scripts/test does it)",
            );
        // Listening once it has written its ports file.
        let ports = dir.path().join(format!("nats-server_{}.ports", child.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("nats-server exited at start ({status})");
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            let listed = std::fs::read_to_string(&ports)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v["nats"][0].as_str().map(str::to_string))
                .and_then(|u| u.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()));
            if let Some(p) = listed {
                break p;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"INFO");
        NatsServer {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shakedown(data: &Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("shakedown"));
    c.env("SHAKEDOWN_DATA_DIR", data)
        .env("USER", "alice")
        .env_remove("RUST_LOG")
        .env_remove("SHAKEDOWN_NATS_URL");
    c
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The weak practice API and a system file attacking it with `patterns`.
fn weak_api(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    patterns: &str,
) -> (shakedown_practice::PracticeServer, PathBuf) {
    let weak = rt
        .block_on(shakedown_practice::start(
            shakedown_practice::PracticeConfig::weak(),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let file = write(
        dir,
        "weak.yaml",
        &format!(
            "components:\n  - id: weak\n    kind: api_endpoint\n    target: {}\n    health: /health\n    patterns: [{patterns}]\n    endpoints:\n      - path: /search\n        query: {{q: \"{{input}}\"}}\n",
            weak.url()
        ),
    );
    (weak, file)
}

/// Lines of a child's stream, as they come.
fn lines_of(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) for a line containing `want`; returns it.
fn wait_line(rx: &mpsc::Receiver<String>, want: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(want) => return l,
            Ok(l) => seen.push(l),
            Err(_) => break,
        }
    }
    panic!("no line with {want:?} within {within:?}; saw: {seen:#?}");
}

/// Waits (bounded) for a child to exit.
fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn json_out(data: &Path, args: &[&str]) -> Vec<Value> {
    let o = shakedown(data).args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(a)) => a,
        Ok(v) => vec![v],
        Err(_) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    }
}

fn quick() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(1),
        ..ClientOptions::default()
    }
}

#[test]
fn a_bus_message_halts_a_running_campaign_and_another_resumes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // The weak API never drops slow connections: slowloris runs 30 s unless halted, and
    // burst_traffic never starts.
    let (weak, file) = weak_api(&rt, data, "slowloris, burst_traffic");

    let mut guardian = shakedown(data)
        .args(["guardian", "--nats", &nats.url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = lines_of(guardian.stdout.take().unwrap());
    wait_line(
        &said,
        "guardian: listening on guardian.halt_chaos and guardian.resume_chaos",
        Duration::from_secs(10),
    );

    // Watch the campaign's own events on the bus to know when it is attacking.
    let bus = rt.block_on(Client::connect(&nats.url(), quick())).unwrap();
    let mut events = rt.block_on(bus.subscribe("chaos.>")).unwrap();
    rt.block_on(bus.flush(Duration::from_secs(2))).unwrap();
    let mut campaign = shakedown(data)
        .args(["campaign", "--approve", "--nats", &nats.url(), "-f"])
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let campaign_err = lines_of(campaign.stderr.take().unwrap());
    let started = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), events.next()).await })
        .expect("no event from the campaign")
        .unwrap();
    assert_eq!(started.subject, "chaos.campaign.started");
    let started: Value = serde_json::from_slice(&started.payload).unwrap();
    let campaign_id = started["campaign_id"].as_str().unwrap().to_string();
    // Let slowloris get its connections open.
    std::thread::sleep(Duration::from_millis(1000));

    let sent = Instant::now();
    let sent_wall = time::OffsetDateTime::now_utc();
    rt.block_on(bus.publish(
        HALT_SUBJECT,
        None,
        br#"{"by": "pager", "reason": "p99 over SLO"}"#.to_vec().into(),
    ))
    .unwrap();
    rt.block_on(bus.flush(Duration::from_secs(2))).unwrap();
    let status = wait_exit(&mut campaign, Duration::from_secs(15));
    let stopped_in = sent.elapsed();
    // Same bound as a SIGINT to the campaign itself: the bus adds a hop, not seconds.
    assert!(
        stopped_in < Duration::from_secs(3),
        "bus message → campaign gone took {stopped_in:?}"
    );
    assert_eq!(status.code(), Some(2), "a halted campaign has no verdict");
    wait_line(&campaign_err, "halted_by_guardian", Duration::from_secs(2));

    let line = wait_line(&said, "halted by pager", Duration::from_secs(5));
    assert!(
        line.contains("(p99 over SLO)") && line.contains("1 campaign(s)/run(s) signalled"),
        "{line}"
    );
    wait_line(&said, "  campaign ", Duration::from_secs(2));
    wait_line(&said, "halt settled", Duration::from_secs(10));

    // The latch names the message's sender; the campaign is stored halted.
    let latch: Value =
        serde_json::from_slice(&std::fs::read(data.join("halted.json")).unwrap()).unwrap();
    assert_eq!(latch["by"], "pager");
    assert_eq!(latch["reason"], "p99 over SLO");
    // Published → accepted (latch written, the instant the 100 ms target counts from).
    let accepted = time::OffsetDateTime::parse(
        latch["at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let bus_latency = accepted - sent_wall;
    eprintln!("bus message → halt accepted: {bus_latency}; → campaign exited: {stopped_in:?}");
    assert!(
        bus_latency < time::Duration::milliseconds(250),
        "bus message → halt accepted took {bus_latency}"
    );
    let campaigns = json_out(data, &["campaigns", "--json"]);
    assert_eq!(campaigns[0]["campaign_id"], campaign_id.as_str());
    assert_eq!(campaigns[0]["status"], "halted_by_guardian");
    // Its completion went out on the bus too, saying so.
    let completed = rt.block_on(async {
        for _ in 0..16 {
            let m = tokio::time::timeout(Duration::from_secs(5), events.next())
                .await
                .ok()??;
            if m.subject == "chaos.campaign.completed" {
                return Some(m);
            }
        }
        None
    });
    let completed: Value = serde_json::from_slice(&completed.unwrap().payload).unwrap();
    assert_eq!(completed["data"]["status"], "halted_by_guardian");

    // While halted nothing new starts.
    let o = shakedown(data)
        .args(["campaign", "--approve", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("chaos is halted (by pager"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    rt.block_on(bus.publish(RESUME_SUBJECT, None, br#"{"by": "lead"}"#.to_vec().into()))
        .unwrap();
    wait_line(&said, "resumed by lead", Duration::from_secs(5));
    assert!(!data.join("halted.json").exists());

    let ledger = json_out(data, &["ledger", "export", "--format", "jsonl"]);
    let halted = ledger
        .iter()
        .find(|e| e["category"] == "control" && e["action"] == "halted")
        .expect("a control/halted entry");
    assert_eq!(halted["actor"], "pager");
    assert_eq!(halted["data"]["reason"], "p99 over SLO");
    assert_eq!(halted["data"]["signalled"][0]["kind"], "campaign");
    let resumed = ledger
        .iter()
        .find(|e| e["action"] == "resumed")
        .expect("a resumed entry");
    assert_eq!(resumed["actor"], "lead");
    let o = shakedown(data).args(["ledger", "verify"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    // SIGTERM ends the guardian cleanly.
    let _ = Command::new("kill")
        .args(["-TERM", &guardian.id().to_string()])
        .status();
    assert!(wait_exit(&mut guardian, Duration::from_secs(5)).success());
    rt.block_on(weak.shutdown());
}

#[test]
fn a_campaigns_events_arrive_on_chaos_subjects_as_its_json_lines() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (weak, file) = weak_api(&rt, data, "xss_attack");
    let bus = rt.block_on(Client::connect(&nats.url(), quick())).unwrap();
    let mut events = rt.block_on(bus.subscribe("chaos.>")).unwrap();
    rt.block_on(bus.flush(Duration::from_secs(2))).unwrap();

    let jsonl = data.join("events.jsonl");
    // The URL from the environment, as a deployment would set it.
    let o = shakedown(data)
        .env("SHAKEDOWN_NATS_URL", nats.url())
        .args(["campaign", "--approve", "--events"])
        .arg(&jsonl)
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(
        o.status.code(),
        Some(1),
        "xss fails on the weak API: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "NATS 127.0.0.1:{}: 3 event(s) published, 0 dropped",
            nats.port
        )),
        "{stderr}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(String, Value)> = rt.block_on(async {
        let mut got = Vec::new();
        while got.len() < lines.len() {
            let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(5), events.next()).await
            else {
                break;
            };
            got.push((m.subject, serde_json::from_slice(&m.payload).unwrap()));
        }
        got
    });
    let subjects: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "chaos.campaign.started",
            "chaos.injection",
            "chaos.campaign.completed"
        ]
    );
    let payloads: Vec<Value> = got.into_iter().map(|(_, v)| v).collect();
    assert_eq!(payloads, lines, "the bus carries exactly the JSON lines");
    assert_eq!(payloads[1]["data"]["stress_pattern"], "xss_attack");
    rt.block_on(weak.shutdown());
}

#[test]
fn nats_that_is_down_or_not_nats_is_a_clear_error_and_never_stops_a_campaign() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let dead = format!("nats://127.0.0.1:{}", free_port());

    let o = shakedown(data)
        .args(["guardian", "--nats", &dead])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the guardian cannot listen on NATS: cannot connect to NATS at 127.0.0.1:")
            && err.contains("start nats-server"),
        "{err}"
    );

    let o = shakedown(data)
        .args(["guardian", "--nats", "http://127.0.0.1:4222"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("invalid NATS URL") && err.contains("scheme `http`"),
        "{err}"
    );

    // A bad URL stops `campaign` and `run` while their arguments are parsed: nothing written.
    let o = shakedown(data)
        .args([
            "campaign",
            "--approve",
            "--nats",
            "nats://x:99999",
            "-f",
            "/none.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the port `99999` is not 1-65535"), "{err}");
    let o = shakedown(data)
        .args(["run", "--agent", "true", "--scenario", "data_cleanup"])
        .args(["--nats", "tls://127.0.0.1:4222"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("tls:// is not supported"), "{err}");
    assert!(
        std::fs::read_dir(data).unwrap().next().is_none(),
        "nothing may be written to the data directory"
    );

    // Something on the port that is not NATS (an HTTP server's answer).
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let o = shakedown(data)
        .args(["guardian", "--nats", &format!("nats://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "the server at 127.0.0.1:{port} does not speak the NATS protocol"
        )) && err.contains("HTTP/1.1 400"),
        "{err}"
    );

    // A campaign whose NATS is dead runs to its verdict; the events are dropped, counted,
    // and warned about once.
    let (weak, file) = weak_api(&rt, data, "xss_attack");
    let t0 = Instant::now();
    let o = shakedown(data)
        .args(["campaign", "--approve", "--nats", &dead, "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert_eq!(
        err.matches("dropping published messages").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "NATS {}: 0 event(s) published, 3 dropped",
            dead.trim_start_matches("nats://")
        )),
        "{err}"
    );
    let campaigns = json_out(data, &["campaigns", "--json"]);
    assert_eq!(campaigns[0]["status"], "completed");
    rt.block_on(weak.shutdown());
}

/// One request through the shared test client: status and JSON body.
fn http_json(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let a = http::request(addr, method, path, Some(token), body);
    (a.status, a.json())
}

#[test]
fn serve_with_nats_is_halted_and_resumed_by_bus_messages() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (weak, file) = weak_api(&rt, data, "slowloris");
    let out = shakedown(data)
        .args(["token", "create", "--account", "ops", "--role", "operator"])
        .output()
        .unwrap();
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut serve = shakedown(data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--nats",
            &nats.url(),
            "--files-root",
        ])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let said = lines_of(serve.stdout.take().unwrap());
    let line = wait_line(&said, "listening on http://", Duration::from_secs(20));
    let addr = line
        .trim()
        .trim_start_matches("listening on http://")
        .to_string();

    // A test-environment campaign the server runs itself (slowloris: 30 s unless halted).
    let body = serde_json::json!({"system_file": file.display().to_string()}).to_string();
    let (code, accepted) = http_json(&addr, "POST", "/api/chaos/run", &token, Some(&body));
    assert_eq!(code, 202, "{accepted}");
    let id = accepted["campaign_id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(800));

    let bus = rt.block_on(Client::connect(&nats.url(), quick())).unwrap();
    rt.block_on(bus.publish(
        HALT_SUBJECT,
        None,
        br#"{"by": "pager", "reason": "bus drill"}"#.to_vec().into(),
    ))
    .unwrap();
    rt.block_on(bus.flush(Duration::from_secs(2))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let campaign = loop {
        let (_, c) = http_json(
            &addr,
            "GET",
            &format!("/api/chaos/campaigns/{id}"),
            &token,
            None,
        );
        if c["status"] == "halted_by_guardian" {
            break c;
        }
        assert!(Instant::now() < deadline, "not halted: {c}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(campaign["tests_run"].as_u64().unwrap() <= 1);
    let (_, status) = http_json(&addr, "GET", "/api/chaos/status", &token, None);
    assert_eq!(status["halted"]["by"], "pager", "{status}");
    // While halted the API refuses new campaigns.
    let (code, _) = http_json(&addr, "POST", "/api/chaos/run", &token, Some(&body));
    assert_eq!(code, 423);

    rt.block_on(bus.publish(RESUME_SUBJECT, None, br#"{"by": "pager"}"#.to_vec().into()))
        .unwrap();
    rt.block_on(bus.flush(Duration::from_secs(2))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, status) = http_json(&addr, "GET", "/api/chaos/status", &token, None);
        if status["halted"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "not resumed: {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = serve.kill();
    let _ = serve.wait();
    rt.block_on(weak.shutdown());
}

#[test]
fn serve_refuses_to_start_when_nats_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = shakedown(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--nats"])
        .arg(format!("nats://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NATS"), "{err}");
}
