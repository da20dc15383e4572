//! The halt lever under load, with the real binary: a campaign bursting 1,000 connections at a
//! real nginx is halted mid-burst and nginx's access log shows no request arriving later than
//! 100 ms after the halt was accepted; a `tcp-proxy` with a latency toxic and a `pg-proxy`
//! holding a table lock on a real PostgreSQL lose their faults at once, refuse new ones while
//! halted and take them again after `resume`.
//!
//! The same drill through the API: `POST /api/chaos/halt` to a `shakedown serve` running the
//! campaign itself, with a tcp-proxy toxic and a pg-proxy lock in force during the same burst.
//!
//! "Accepted" is the latch's timestamp (`halted.json` → `at`, written by `shakedown halt`
//! before it signals anybody): from that instant nothing new may start. A request's arrival at
//! nginx is `$msec - $request_time` (when nginx read its first byte; `$msec` alone is when the
//! line was logged, i.e. when the response ended).

#[path = "support/http.rs"]
mod http;
#[path = "support/nginx.rs"]
mod nginx;
#[path = "support/proc.rs"]
mod proc;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use nginx::Nginx;
use proc::{Running, eventually, free_port};
use serde_json::{Value, json};
use shakedown_pgtest::PgCluster;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The halt target: no attack traffic reaches the target later than this after acceptance.
const HALT_TARGET_MS: f64 = 100.0;
/// Socket timeouts so no step of the test can block forever.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn shakedown(data: &Path) -> Command {
    let mut cmd = Command::new(cargo_bin("shakedown"));
    cmd.arg("--data-dir").arg(data).env("USER", "ops");
    cmd
}

/// Runs `shakedown halt` and returns the acceptance instant from the latch, in Unix ms.
fn halt(data: &Path, reason: &str) -> f64 {
    let o = shakedown(data)
        .args(["halt", "--reason", reason, "--wait", "20"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "halt failed: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let latch: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("halted.json")).unwrap()).unwrap();
    let at = OffsetDateTime::parse(latch["at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(out.contains(latch["at"].as_str().unwrap()), "{out}");
    (at.unix_timestamp_nanos() as f64) / 1e6
}

fn ledger_verifies(data: &Path) {
    let o = shakedown(data).args(["ledger", "verify"]).output().unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A request nginx logged: when it arrived (Unix ms), its status and path.
struct Logged {
    arrived_ms: f64,
    status: u16,
    uri: String,
}

/// The access log's lines, written as `log_format arrival '$msec $request_time $status
/// $request_uri'`.
fn arrivals(nginx: &Nginx) -> Vec<Logged> {
    nginx
        .access_log()
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let msec: f64 = f[0].parse().unwrap();
            let took: f64 = f[1].parse().unwrap();
            Logged {
                arrived_ms: (msec - took) * 1000.0,
                status: f[2].parse().unwrap(),
                uri: f[3].to_string(),
            }
        })
        .collect()
}

fn system_file(url: &str) -> String {
    // Two components on the same nginx: without a working halt the second burst (and the
    // recovery probes) would reach nginx after the halt.
    let component = |id: &str| {
        format!(
            r#"  - id: {id}
    name: nginx {id}
    kind: api_endpoint
    target: {url}
    health: /health
    endpoints:
      - method: GET
        path: /api/data
    guardrails:
      circuit_breaker: {{concurrency: 1000}}
    patterns: [burst_traffic]
"#
        )
    };
    format!(
        "environment: test\nengine:\n  burst_concurrency: 1000\n  request_timeout: 20s\n  recovery_window: 10s\ncomponents:\n{}{}",
        component("edge_a"),
        component("edge_b")
    )
}

/// An nginx that delays every request past 200/s (limit_req without nodelay), so a burst of
/// 1,000 takes ~5 s to serve: a halt lands mid-burst. `return` would run before limit_req,
/// hence the proxied upstream (which logs nothing itself).
fn slow_nginx() -> Nginx {
    let up = free_port();
    Nginx::start(
        &format!(
            "log_format arrival '$msec $request_time $status $request_uri';\n    \
             limit_req_zone $binary_remote_addr zone=slow:1m rate=200r/s;\n    \
             server {{ listen 127.0.0.1:{up}; access_log off; location / {{ return 200 '{{\"ok\":true}}'; }} }}"
        ),
        &format!(
            r#"access_log access.log arrival;
        location = /health {{ return 200 '{{"status":"ok"}}'; }}
        location / {{
            limit_req zone=slow burst=5000;
            proxy_pass http://127.0.0.1:{up};
        }}"#
        ),
    )
}

/// Asserts what the halt guarantees at the target: every request of the burst reached nginx,
/// the ones still queued were cut off (499, so the halt landed mid-burst), and none arrived
/// more than [`HALT_TARGET_MS`] after `accepted_ms`.
fn nothing_arrived_late(nginx: &Nginx, accepted_ms: f64) {
    // nginx logs the requests the halt cut off (499) as it sees their connections close.
    eventually(Duration::from_secs(5), || arrivals(nginx).len() >= 1000);
    let lines = arrivals(nginx);
    let cut = lines.iter().filter(|l| l.status == 499).count();
    assert!(
        lines.len() >= 1000,
        "every request of the burst reached nginx ({} logged)",
        lines.len()
    );
    assert!(
        cut > 0,
        "the halt landed mid-burst: requests still queued at nginx were cut off"
    );
    let latest = lines.iter().map(|l| l.arrived_ms).fold(f64::MIN, f64::max);
    eprintln!(
        "{} requests logged, {cut} cut off by the halt; latest arrival {:+.1} ms from acceptance",
        lines.len(),
        latest - accepted_ms
    );
    let late: Vec<String> = lines
        .iter()
        .filter(|l| l.arrived_ms - accepted_ms > HALT_TARGET_MS)
        .map(|l| {
            format!(
                "{} {} at {:+.1} ms",
                l.status,
                l.uri,
                l.arrived_ms - accepted_ms
            )
        })
        .collect();
    assert!(
        late.is_empty(),
        "requests arrived more than {HALT_TARGET_MS} ms after the halt was accepted: {late:?}"
    );
}

#[test]
fn a_campaign_halted_mid_burst_sends_nothing_100ms_after_acceptance() {
    let nginx = slow_nginx();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("shakedown.yaml");
    std::fs::write(&file, system_file(&nginx.url())).unwrap();
    let out = dir.path().join("report.json");
    let mut campaign = Running(
        shakedown(&data)
            .args(["campaign", "--approve", "-f"])
            .arg(&file)
            .args(["--report", "json", "--out"])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Well under way: nginx has served 100 requests of the burst (the rest are queued).
    let under_way = eventually(Duration::from_secs(30), || {
        arrivals(&nginx).iter().filter(|l| l.status == 200).count() >= 100
            || matches!(campaign.0.try_wait(), Ok(Some(_)))
    });
    if let Ok(Some(status)) = campaign.0.try_wait() {
        let mut stderr = String::new();
        if let Some(mut e) = campaign.0.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        panic!("the campaign ended ({status}) before the halt:\n{stderr}");
    }
    assert!(
        under_way,
        "the burst did not get under way; log: {} lines",
        arrivals(&nginx).len()
    );

    let accepted_ms = halt(&data, "load drill");
    let status = {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = campaign.0.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the campaign did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut stderr = String::new();
    campaign
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    nothing_arrived_late(&nginx, accepted_ms);

    // Stored as halted by the guardian; no second component was attacked.
    assert_ne!(
        status.code(),
        Some(0),
        "a halted campaign does not pass\n{stderr}"
    );
    let o = shakedown(&data)
        .args(["campaigns", "--json"])
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["status"], "halted_by_guardian", "{list:#}");
    ledger_verifies(&data);
    let o = shakedown(&data)
        .args(["ledger", "export", "--format", "jsonl"])
        .output()
        .unwrap();
    let halted = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["category"] == "control" && e["action"] == "halted")
        .expect("the halt is in the ledger");
    assert_eq!(halted["actor"], "ops");
    assert_eq!(halted["data"]["signalled"][0]["kind"], "campaign");
}

/// One admin API request on its own connection; returns the status and the JSON body.
fn call(api: SocketAddr, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let mut s = TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let body = body.to_string();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, rest) = out.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let json = serde_json::from_str(rest.trim()).unwrap_or(Value::Null);
    (status, json)
}

/// A one-connection echo server on 127.0.0.1:0 (the tcp-proxy's upstream).
fn echo_once() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        let mut buf = [0u8; 1024];
        // Bounded: the test sends a handful of messages.
        for _ in 0..100 {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
    (addr, h)
}

fn pg_count(cluster: &PgCluster, sql: &str) -> i64 {
    cluster
        .admin_sql(cluster.database(), sql)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn terminate(child: &mut Running) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn halt_removes_toxics_and_locks_and_blocks_new_ones_until_resume() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // PostgreSQL with a table the chaos script locks at once, for five minutes.
    let cluster = PgCluster::start().expect("cluster");
    let owner = &cluster.user().name;
    cluster
        .admin_sql(
            cluster.database(),
            &format!(
                "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2); ALTER TABLE t OWNER TO {owner};"
            ),
        )
        .unwrap();
    let chaos = dir.path().join("lock.yaml");
    std::fs::write(
        &chaos,
        "name: halt-lock\ntriggers:\n  - name: lock_now\n    trigger_type: time\n    time_condition: {elapsed_seconds: 0}\n    action: {type: lock_table, table: t, duration_seconds: 300}\n",
    )
    .unwrap();
    let pg_events = dir.path().join("pg-events.jsonl");
    let mut pg = Running(
        shakedown(&data)
            .args([
                "pg-proxy",
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .args(["--upstream", &format!("127.0.0.1:{}", cluster.port())])
            .arg("--chaos")
            .arg(&chaos)
            .args(["--admin-url", &cluster.url(), "--events"])
            .arg(&pg_events)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let locks = "SELECT count(*) FROM pg_locks WHERE relation = (SELECT oid FROM pg_class WHERE relname = 't') AND mode = 'AccessExclusiveLock' AND granted";
    assert!(
        eventually(Duration::from_secs(15), || pg_count(&cluster, locks) == 1),
        "the chaos script did not lock t"
    );
    // A statement on t now waits for the lock.
    let mut blocked = Running(
        cluster
            .psql_via(cluster.port(), cluster.user())
            .args(["-A", "-t", "-c", "SELECT count(*) FROM t"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT count(*) FROM t%'";
    assert!(
        eventually(Duration::from_secs(10), || pg_count(&cluster, waiting) == 1),
        "the statement is not waiting for the lock"
    );

    // tcp-proxy with a 5 s latency toxic on an open connection.
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let tcp_events = dir.path().join("tcp-events.jsonl");
    let _tcp = Running(
        shakedown(&data)
            .args(["tcp-proxy", "--api", &api.to_string(), "--events"])
            .arg(&tcp_events)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect(api).is_ok()),
        "the admin API did not come up"
    );
    let (echo, echo_thread) = echo_once();
    let (code, proxy) = call(
        api,
        "POST",
        "/proxies",
        &json!({"name": "db", "listen": "127.0.0.1:0", "upstream": echo.to_string()}),
    );
    assert_eq!(code, 201, "{proxy}");
    let listen: SocketAddr = proxy["listen"].as_str().unwrap().parse().unwrap();
    let latency = json!({"name": "slow", "type": "latency", "stream": "downstream", "attributes": {"latency": 5000}});
    let (code, body) = call(api, "POST", "/proxies/db/toxics", &latency);
    assert_eq!(code, 200, "{body}");
    let mut conn = TcpStream::connect(listen).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"ping").unwrap();
    // The echo is now held by the toxic for 5 s.
    std::thread::sleep(Duration::from_millis(300));

    let accepted_ms = halt(&data, "proxy drill");
    let mut got = [0u8; 4];
    conn.read_exact(&mut got).unwrap();
    let answered_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() as f64) / 1e6;
    assert_eq!(&got, b"ping");
    assert!(
        answered_ms - accepted_ms < 1000.0,
        "the delayed chunk was released by the halt, not by the toxic ({:.0} ms after)",
        answered_ms - accepted_ms
    );
    let (_, toxics) = call(api, "GET", "/proxies/db/toxics", &Value::Null);
    assert_eq!(toxics, json!([]), "every toxic is gone");
    let (code, err) = call(api, "POST", "/proxies/db/toxics", &latency);
    assert_eq!(code, 409, "{err}");
    let msg = err["error"].as_str().unwrap();
    assert!(
        msg.contains("halted") && msg.contains("proxy drill") && msg.contains("shakedown resume"),
        "{msg}"
    );
    assert_eq!(err["status"], 409);

    // The lock is released and the waiting statement completes.
    assert!(
        eventually(Duration::from_secs(10), || pg_count(&cluster, locks) == 0),
        "the lock is still held after the halt"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = loop {
        if let Some(s) = blocked.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the blocked statement never ran");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rows = String::new();
    blocked
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rows)
        .unwrap();
    assert!(done.success() && rows.trim() == "2", "{rows}");

    // Resume: toxics may be added again; none came back by themselves.
    let o = shakedown(&data).arg("resume").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("resumed"));
    let added = eventually(Duration::from_secs(5), || {
        call(api, "POST", "/proxies/db/toxics", &latency).0 == 200
    });
    assert!(added, "toxics are still refused after resume");
    let (_, toxics) = call(api, "GET", "/proxies/db/toxics", &Value::Null);
    assert_eq!(toxics.as_array().unwrap().len(), 1);

    drop(conn);
    terminate(&mut pg);
    let _ = echo_thread.join();
    let tcp = events(&tcp_events);
    let halted = tcp
        .iter()
        .find(|e| e["event_type"] == "halted_by_guardian")
        .expect("the tcp-proxy reported its halt");
    assert_eq!(halted["data"]["removed"][0]["proxy"], "db");
    assert_eq!(halted["data"]["removed"][0]["toxic"]["name"], "slow");
    let pg_ev = events(&pg_events);
    assert!(
        pg_ev.iter().any(|e| e["event_type"] == "chaos_completed"
            && e["data"]["outcome"] == "halted_by_guardian"
            && e["data"]["action"]["type"] == "lock_table"),
        "{pg_ev:#?}"
    );
    assert!(
        pg_ev
            .iter()
            .any(|e| e["event_type"] == "halted_by_guardian" && e["data"]["undone"] == 1),
        "{pg_ev:#?}"
    );
    ledger_verifies(&data);
}

/// One GET of a tool call through the fault proxy; returns the status and body.
fn tool_call(proxy: SocketAddr, path: &str) -> (u16, String) {
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
fn a_halted_fault_proxy_passes_calls_through_until_resume() {
    let nginx = Nginx::start("", r#"location / { return 200 '{"ok":true}'; }"#);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let events_file = dir.path().join("events.jsonl");
    let mut proxy = Running(
        shakedown(&data)
            .args(["fault-proxy", "--profile", "api_outage", "--seed", "1"])
            .args(["--listen", "127.0.0.1:0", "--route"])
            .arg(format!("/x={}", nginx.url()))
            .arg("--events")
            .arg(&events_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Kept open to the end: the proxy reports the halt on stderr.
    let mut stderr = std::io::BufReader::new(proxy.0.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no listening address in {line:?}"))
        .parse()
        .unwrap();
    // api_outage: every tool call is answered 503 by the proxy; nginx sees none.
    assert_eq!(tool_call(addr, "/x/search").0, 503);
    assert!(nginx.access_log().is_empty());

    let accepted_ms = halt(&data, "fault drill");
    let passed = eventually(Duration::from_secs(2), || {
        tool_call(addr, "/x/search").0 == 200
    });
    let through_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() as f64) / 1e6;
    assert!(passed, "calls still get faults while halted");
    assert!(
        through_ms - accepted_ms < 500.0,
        "pass-through {:.0} ms after the halt",
        through_ms - accepted_ms
    );
    let (status, body) = tool_call(addr, "/x/search");
    assert_eq!((status, body.as_str()), (200, r#"{"ok":true}"#));
    assert!(!nginx.access_log().is_empty(), "the upstream answered");

    let o = shakedown(&data).arg("resume").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("resumed"));
    assert!(
        eventually(Duration::from_secs(2), || tool_call(addr, "/x/search").0
            == 503),
        "faults do not fire again after resume"
    );
    terminate(&mut proxy);
    let ev = events(&events_file);
    let halted = ev
        .iter()
        .position(|e| e["event_type"] == "halted_by_guardian")
        .expect("the halt is reported");
    assert_eq!(ev[halted]["data"]["halt"]["reason"], "fault drill");
    assert!(ev[halted]["data"]["suspended_rules"].as_u64().unwrap() > 0);
    let resumed = ev
        .iter()
        .position(|e| e["event_type"] == "resumed")
        .expect("the resume is reported");
    // No fault fired between the halt and the resume.
    assert!(
        ev[halted..resumed]
            .iter()
            .all(|e| e["event_type"] != "fault_injected"),
        "{ev:#?}"
    );
    assert!(
        ev[resumed..]
            .iter()
            .any(|e| e["event_type"] == "fault_injected")
    );
}

#[test]
fn proxies_started_under_a_halt_inject_nothing_from_the_first_instant() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    halt(&data, "started halted");

    // pg-proxy with a lock due at 0 s: it never takes the lock while halted.
    let cluster = PgCluster::start().expect("cluster");
    let owner = &cluster.user().name;
    cluster
        .admin_sql(
            cluster.database(),
            &format!("CREATE TABLE t (id int); ALTER TABLE t OWNER TO {owner};"),
        )
        .unwrap();
    let chaos = dir.path().join("lock.yaml");
    std::fs::write(
        &chaos,
        "name: lock-at-once\ntriggers:\n  - name: lock_now\n    trigger_type: time\n    time_condition: {elapsed_seconds: 0}\n    action: {type: lock_table, table: t, duration_seconds: 300}\n",
    )
    .unwrap();
    let _pg = Running(
        shakedown(&data)
            .args([
                "pg-proxy",
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .args(["--upstream", &format!("127.0.0.1:{}", cluster.port())])
            .arg("--chaos")
            .arg(&chaos)
            .args(["--admin-url", &cluster.url()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // tcp-proxy: its very first toxic is refused.
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _tcp = Running(
        shakedown(&data)
            .args(["tcp-proxy", "--api", &api.to_string()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect(api).is_ok()),
        "tcp-proxy did not start"
    );
    let (code, _) = call(
        api,
        "POST",
        "/proxies",
        &serde_json::json!({"name": "db", "listen": "127.0.0.1:0", "upstream": format!("127.0.0.1:{}", cluster.port())}),
    );
    assert!(code == 200 || code == 201, "{code}");
    let (code, body) = call(
        api,
        "POST",
        "/proxies/db/toxics",
        &serde_json::json!({"type": "latency", "attributes": {"latency": 1000}}),
    );
    assert_eq!(code, 409, "{body}");
    let locks = "SELECT count(*) FROM pg_locks WHERE relation = (SELECT oid FROM pg_class WHERE relname = 't') AND mode = 'AccessExclusiveLock' AND granted";
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        pg_count(&cluster, locks),
        0,
        "the halted script took its lock"
    );

    // Resumed: the script fires and toxics are accepted.
    let out = shakedown(&data).arg("resume").output().unwrap();
    assert!(out.status.success());
    assert!(
        eventually(Duration::from_secs(10), || pg_count(&cluster, locks) == 1),
        "the script did not fire after resume"
    );
    let (code, body) = call(
        api,
        "POST",
        "/proxies/db/toxics",
        &serde_json::json!({"type": "latency", "attributes": {"latency": 1000}}),
    );
    assert_eq!(code, 200, "{body}");
}

/// A token of a new `admin` account in the data directory's store.
fn admin_token(data: &Path) -> String {
    let store = shakedown_store::SqliteStore::open_dir(data).unwrap();
    shakedown_control::auth::create_token(
        &store,
        &shakedown_control::auth::TokenRequest {
            account: "ops".into(),
            kind: "person".into(),
            roles: vec!["admin".into()],
            label: "halt drill".into(),
            expires_at: None,
        },
        OffsetDateTime::now_utc(),
    )
    .unwrap()
    .1
}

/// `shakedown serve` on 127.0.0.1:0; its stdout is drained for its whole life.
fn serve(data: &Path) -> (Running, SocketAddr) {
    let mut child = shakedown(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (Running(child), addr)
}

#[test]
fn the_api_halt_mid_burst_sends_nothing_100ms_after_acceptance_and_removes_toxics_and_locks() {
    let nginx = slow_nginx();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();

    // In the same data directory: a pg-proxy holding a table lock and a tcp-proxy holding a
    // chunk on an open connection with a latency toxic.
    let cluster = PgCluster::start().expect("cluster");
    let owner = &cluster.user().name;
    cluster
        .admin_sql(
            cluster.database(),
            &format!("CREATE TABLE t (id int); ALTER TABLE t OWNER TO {owner};"),
        )
        .unwrap();
    let chaos = dir.path().join("lock.yaml");
    std::fs::write(
        &chaos,
        "name: api-halt-lock\ntriggers:\n  - name: lock_now\n    trigger_type: time\n    time_condition: {elapsed_seconds: 0}\n    action: {type: lock_table, table: t, duration_seconds: 300}\n",
    )
    .unwrap();
    let _pg = Running(
        shakedown(&data)
            .args([
                "pg-proxy",
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .args(["--upstream", &format!("127.0.0.1:{}", cluster.port())])
            .arg("--chaos")
            .arg(&chaos)
            .args(["--admin-url", &cluster.url()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let locks = "SELECT count(*) FROM pg_locks WHERE relation = (SELECT oid FROM pg_class WHERE relname = 't') AND mode = 'AccessExclusiveLock' AND granted";
    let tcp_api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _tcp = Running(
        shakedown(&data)
            .args(["tcp-proxy", "--api", &tcp_api.to_string()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect(tcp_api)
            .is_ok()),
        "the tcp-proxy admin API did not come up"
    );
    let (echo, echo_thread) = echo_once();
    let (code, proxy) = call(
        tcp_api,
        "POST",
        "/proxies",
        &json!({"name": "db", "listen": "127.0.0.1:0", "upstream": echo.to_string()}),
    );
    assert_eq!(code, 201, "{proxy}");
    let listen: SocketAddr = proxy["listen"].as_str().unwrap().parse().unwrap();
    let latency = json!({"name": "slow", "type": "latency", "stream": "downstream", "attributes": {"latency": 30000}});
    let (code, body) = call(tcp_api, "POST", "/proxies/db/toxics", &latency);
    assert_eq!(code, 200, "{body}");
    let mut conn = TcpStream::connect(listen).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    conn.write_all(b"ping").unwrap();
    assert!(
        eventually(Duration::from_secs(15), || pg_count(&cluster, locks) == 1),
        "the chaos script did not lock t"
    );

    // Then the same burst, run by the server itself (started last, so the halt lands
    // mid-burst however long the set-up took).
    let token = admin_token(&data);
    let (_server, api) = serve(&data);
    let body = json!({"system": system_file(&nginx.url())}).to_string();
    let a = http::request(
        &api.to_string(),
        "POST",
        "/api/chaos/run",
        Some(&token),
        Some(&body),
    );
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.json()["status"], "running", "{}", a.body);
    let campaign = a.json()["campaign_id"].as_str().unwrap().to_string();

    // Mid-burst: nginx has served 100 requests, the rest are queued.
    assert!(
        eventually(Duration::from_secs(30), || {
            arrivals(&nginx).iter().filter(|l| l.status == 200).count() >= 100
        }),
        "the burst did not get under way; log: {} lines",
        arrivals(&nginx).len()
    );
    // The held echo is read as it comes, so its time is not that of the checks below.
    let reader = std::thread::spawn(move || {
        let mut got = [0u8; 4];
        let r = conn.read_exact(&mut got);
        let at = (OffsetDateTime::now_utc().unix_timestamp_nanos() as f64) / 1e6;
        r.map(|()| (got, at))
    });
    let sent_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() as f64) / 1e6;
    let a = http::request(
        &api.to_string(),
        "POST",
        "/api/chaos/halt",
        Some(&token),
        Some(r#"{"reason": "api load drill"}"#),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let halt = a.json();
    assert_eq!(halt["cancelled_here"], json!([campaign]), "{halt}");
    // Accepted when the latch was written (the server cancelled its own campaigns just
    // before); the latch file says the same.
    let at = halt["halt"]["at"].as_str().unwrap().to_string();
    let accepted_ms = (OffsetDateTime::parse(&at, &Rfc3339)
        .unwrap()
        .unix_timestamp_nanos() as f64)
        / 1e6;
    let latch: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("halted.json")).unwrap()).unwrap();
    assert_eq!(latch["at"], at.as_str());
    assert!(
        accepted_ms >= sent_ms - 1.0,
        "acceptance {accepted_ms} before the request was sent {sent_ms}"
    );

    // The campaign ends halted by the guardian.
    let status = {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let a = http::request(
                &api.to_string(),
                "GET",
                &format!("/api/chaos/campaigns/{campaign}"),
                Some(&token),
                None,
            );
            let s = a.json()["status"].as_str().unwrap_or("").to_string();
            if s != "running" && s != "starting" {
                break s;
            }
            assert!(Instant::now() < deadline, "the campaign did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(status, "halted_by_guardian");
    nothing_arrived_late(&nginx, accepted_ms);

    // The same halt took the faults of the burst away: the held chunk is released at once,
    // the toxic is gone and refused, the lock is released.
    let (got, answered_ms) = reader.join().unwrap().expect("the echo came back");
    assert_eq!(&got, b"ping");
    assert!(
        answered_ms - accepted_ms < 1000.0,
        "the delayed chunk was released by the halt, not by the 30 s toxic ({:.0} ms after)",
        answered_ms - accepted_ms
    );
    let (_, toxics) = call(tcp_api, "GET", "/proxies/db/toxics", &Value::Null);
    assert_eq!(toxics, json!([]), "every toxic is gone");
    let (code, err) = call(tcp_api, "POST", "/proxies/db/toxics", &latency);
    assert_eq!(code, 409, "{err}");
    assert!(
        eventually(Duration::from_secs(10), || pg_count(&cluster, locks) == 0),
        "the lock is still held after the halt"
    );
    let _ = echo_thread.join();
    ledger_verifies(&data);
    let o = shakedown(&data)
        .args(["ledger", "export", "--format", "jsonl"])
        .output()
        .unwrap();
    let entries: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let halted = entries
        .iter()
        .find(|e| e["category"] == "control" && e["action"] == "halted")
        .expect("the halt is in the ledger");
    assert_eq!(halted["actor"], "ops", "recorded as the token's account");
}
