//! The standalone proxies in the signed ledger, with the real binary: a `tcp-proxy`, a
//! `pg-proxy` with a chaos script on a real PostgreSQL and a `fault-proxy` in front of a real
//! nginx each record their session (start with the digest of their chaos configuration, every
//! chaos action or fault change, halt, resume, stop), `shakedown ledger verify` passes and
//! shows the entries; per-call faults stay events. Fail closed: with an unusable signing key
//! none of them starts; a tcp-proxy whose ledger breaks mid-session refuses new toxics, and a
//! pg-proxy halts its chaos script.

#[path = "support/nginx.rs"]
mod nginx;
#[path = "support/proc.rs"]
mod proc;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use nginx::Nginx;
use proc::{Running, eventually, free_port};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shakedown_pgtest::PgCluster;

/// Socket timeouts so no step of the test can block forever.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn shakedown(data: &Path) -> Command {
    let mut cmd = Command::new(cargo_bin("shakedown"));
    cmd.arg("--data-dir")
        .arg(data)
        .env("USER", "ops")
        .env_remove("RUST_LOG");
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn halt(data: &Path, reason: &str) {
    run_ok(shakedown(data).args(["halt", "--reason", reason, "--wait", "20"]));
}

fn resume(data: &Path) {
    run_ok(shakedown(data).arg("resume"));
}

/// SIGTERM, then waits (bounded) for the exit; returns its code.
fn terminate(child: &mut Running) -> Option<i32> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            return s.code();
        }
        assert!(Instant::now() < deadline, "the proxy did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every ledger entry, through `shakedown ledger export`.
fn ledger(data: &Path) -> Vec<Value> {
    run_ok(shakedown(data).args(["ledger", "export", "--format", "jsonl"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The entries of one kind of proxy (`category` proxy, `subcategory` the kind).
fn proxy_entries(data: &Path, kind: &str) -> Vec<Value> {
    ledger(data)
        .into_iter()
        .filter(|e| e["category"] == "proxy" && e["subcategory"] == kind)
        .collect()
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

/// `shakedown ledger verify` passes and counts `n` entries.
fn verifies_with(data: &Path, n: usize) {
    let out = run_ok(shakedown(data).args(["ledger", "verify"]));
    assert!(out.contains(&format!("{n} entries")), "{out}");
    let o = shakedown(data)
        .args(["ledger", "verify", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success());
}

/// One session: the same session id in every entry, started first and stopped last.
fn one_session(entries: &[Value]) -> String {
    let session = entries[0]["data"]["session"].as_str().unwrap().to_string();
    assert!(session.starts_with("proxy_"), "{session}");
    for e in entries {
        assert_eq!(e["data"]["session"], session.as_str(), "{e}");
        assert_eq!(e["actor"], "ops", "{e}");
    }
    assert_eq!(entries[0]["action"], "started");
    assert_eq!(entries.last().unwrap()["action"], "stopped");
    session
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One admin API request on its own connection; returns the status and the JSON body.
fn call(api: SocketAddr, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let mut s = TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
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
    (
        status,
        serde_json::from_str(rest.trim()).unwrap_or(Value::Null),
    )
}

fn tcp_proxy(data: &Path, api: SocketAddr, config: Option<&Path>) -> Running {
    let mut cmd = shakedown(data);
    cmd.args(["tcp-proxy", "--api", &api.to_string()]);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let child = Running(cmd.stderr(Stdio::null()).spawn().unwrap());
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect(api).is_ok()),
        "the tcp-proxy admin API did not come up"
    );
    child
}

#[test]
fn a_tcp_proxy_session_is_in_the_ledger_change_by_change() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = dir.path().join("proxies.json");
    let config_text = json!([{"name": "db", "listen": "127.0.0.1:0", "upstream": upstream.local_addr().unwrap().to_string()}]).to_string();
    std::fs::write(&config, &config_text).unwrap();
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut proxy = tcp_proxy(&data, api, Some(&config));

    let latency = json!({"name": "slow", "type": "latency", "attributes": {"latency": 1000}});
    assert_eq!(call(api, "POST", "/proxies/db/toxics", &latency).0, 200);
    let (code, _) = call(
        api,
        "POST",
        "/proxies/db/toxics/slow",
        &json!({"attributes": {"latency": 2000}}),
    );
    assert_eq!(code, 200);
    assert_eq!(
        call(api, "DELETE", "/proxies/db/toxics/slow", &Value::Null).0,
        204
    );
    // A refused request changes nothing and records nothing.
    assert_eq!(
        call(api, "DELETE", "/proxies/db/toxics/slow", &Value::Null).0,
        404
    );
    let reset = json!({"name": "cut", "type": "reset_peer", "attributes": {"timeout": 0}});
    assert_eq!(call(api, "POST", "/proxies/db/toxics", &reset).0, 200);

    halt(&data, "ledger drill");
    assert!(
        eventually(Duration::from_secs(5), || {
            call(api, "GET", "/proxies/db/toxics", &Value::Null).1 == json!([])
        }),
        "the halt did not remove the toxic"
    );
    // The halt is recorded after the toxics are gone; wait for it before resuming.
    assert!(eventually(Duration::from_secs(5), || {
        actions(&proxy_entries(&data, "tcp-proxy")).contains(&"halted".to_string())
    }));
    resume(&data);
    assert!(eventually(Duration::from_secs(5), || {
        actions(&proxy_entries(&data, "tcp-proxy")).contains(&"resumed".to_string())
    }));
    let extra = json!({"name": "api", "listen": "127.0.0.1:0", "upstream": upstream.local_addr().unwrap().to_string()});
    assert_eq!(call(api, "POST", "/proxies", &extra).0, 201);
    assert_eq!(call(api, "DELETE", "/proxies/api", &Value::Null).0, 204);
    assert_eq!(terminate(&mut proxy), Some(0));

    let entries = proxy_entries(&data, "tcp-proxy");
    assert_eq!(
        actions(&entries),
        [
            "started",
            "proxy_created",
            "toxic_added",
            "toxic_updated",
            "toxic_removed",
            "toxic_added",
            "halted",
            "resumed",
            "proxy_created",
            "proxy_deleted",
            "stopped",
        ]
    );
    one_session(&entries);
    let started = &entries[0]["data"];
    assert_eq!(
        started["config"]["sha256"],
        sha256(config_text.as_bytes()),
        "{started}"
    );
    assert_eq!(started["config"]["file"], config.display().to_string());
    assert_eq!(entries[1]["resource"], "db");
    assert_eq!(entries[2]["resource"], "db/slow");
    assert_eq!(entries[2]["data"]["toxic"]["type"], "latency");
    assert_eq!(entries[3]["data"]["toxic"]["attributes"]["latency"], 2000);
    assert_eq!(entries[6]["data"]["removed"][0]["toxic"]["name"], "cut");
    assert_eq!(entries[6]["data"]["halt"]["reason"], "ledger drill");
    assert_eq!(entries[10]["data"]["proxies"][0]["toxics"], 0);
    // The halt and resume themselves (category control) are in the same chain.
    verifies_with(&data, ledger(&data).len());
    assert_eq!(ledger(&data).len(), entries.len() + 2);
}

#[test]
fn a_pg_proxy_records_its_script_and_every_chaos_action() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cluster = PgCluster::start().expect("cluster");
    let owner = &cluster.user().name;
    cluster
        .admin_sql(
            cluster.database(),
            &format!("CREATE TABLE t (id int); ALTER TABLE t OWNER TO {owner};"),
        )
        .unwrap();
    let chaos = dir.path().join("lock.yaml");
    let script = "name: ledger-lock\ntriggers:\n  - name: lock_now\n    trigger_type: time\n    time_condition: {elapsed_seconds: 0}\n    action: {type: lock_table, table: t, duration_seconds: 300}\n    max_triggers: 1\n";
    std::fs::write(&chaos, script).unwrap();
    let mut pg = Running(
        shakedown(&data)
            .args([
                "pg-proxy",
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .args(["--upstream", &format!("127.0.0.1:{}", cluster.port())])
            .args(["--policy", "strict", "--chaos"])
            .arg(&chaos)
            .args(["--admin-url", &cluster.url(), "--seed", "7"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let locks = "SELECT count(*) FROM pg_locks WHERE relation = (SELECT oid FROM pg_class WHERE relname = 't') AND mode = 'AccessExclusiveLock' AND granted";
    let count = |sql: &str| -> i64 {
        cluster
            .admin_sql(cluster.database(), sql)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        eventually(Duration::from_secs(15), || count(locks) == 1),
        "the chaos script did not lock t"
    );
    halt(&data, "pg ledger drill");
    assert!(
        eventually(Duration::from_secs(10), || count(locks) == 0),
        "the halt did not release the lock"
    );
    assert!(eventually(Duration::from_secs(5), || {
        let a = actions(&proxy_entries(&data, "pg-proxy"));
        a.contains(&"halted".to_string()) && a.contains(&"chaos_completed".to_string())
    }));
    resume(&data);
    assert!(eventually(Duration::from_secs(5), || {
        actions(&proxy_entries(&data, "pg-proxy")).contains(&"resumed".to_string())
    }));
    assert_eq!(terminate(&mut pg), Some(0));

    let entries = proxy_entries(&data, "pg-proxy");
    one_session(&entries);
    let a = actions(&entries);
    // The chaos actions come from the runtime, halt and resume from the latch: each stream in
    // order, so the chaos action's two entries are in order, and so are halt and resume.
    let pos = |x: &str| {
        a.iter()
            .position(|y| y == x)
            .unwrap_or_else(|| panic!("no {x} in {a:?}"))
    };
    assert!(pos("chaos_triggered") < pos("chaos_completed"), "{a:?}");
    assert!(pos("halted") < pos("resumed"), "{a:?}");
    // Bounded by the script: one trigger, at most once.
    assert_eq!(
        a.iter().filter(|x| *x == "chaos_triggered").count(),
        1,
        "{a:?}"
    );
    assert_eq!(a.len(), 6, "{a:?}");
    let started = &entries[0]["data"];
    assert_eq!(
        started["chaos"]["sha256"],
        sha256(script.as_bytes()),
        "{started}"
    );
    assert_eq!(started["chaos"]["triggers"], 1);
    assert_eq!(started["policy"]["name"], "strict (built in)");
    assert!(
        started["policy"]["sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    assert_eq!(started["seed"], "7");
    let triggered = &entries[pos("chaos_triggered")];
    assert_eq!(triggered["resource"], "lock_now");
    assert_eq!(triggered["data"]["action"]["type"], "lock_table");
    let completed = &entries[pos("chaos_completed")];
    assert_eq!(completed["data"]["outcome"], "halted_by_guardian");
    assert_eq!(completed["data"]["id"], triggered["data"]["id"]);
    assert_eq!(entries[pos("halted")]["data"]["undone"], 1);
    assert_eq!(entries.last().unwrap()["data"]["chaos_fired"], 1);
    verifies_with(&data, ledger(&data).len());
}

#[test]
fn a_fault_proxy_records_its_rules_and_leaves_per_call_faults_to_events() {
    let nginx = Nginx::start("", r#"location / { return 200 '{"ok":true}'; }"#);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let events = dir.path().join("events.jsonl");
    let config = dir.path().join("faults.yaml");
    let config_text =
        "chaos:\n  tool_faults:\n    - tool: \"*\"\n      mode: error\n      error_code: 503\n";
    std::fs::write(&config, config_text).unwrap();
    let mut proxy = Running(
        shakedown(&data)
            .args(["fault-proxy", "--config"])
            .arg(&config)
            .args(["--seed", "3", "--listen", "127.0.0.1:0", "--route"])
            .arg(format!("/x={}", nginx.url()))
            .arg("--events")
            .arg(&events)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(proxy.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no listening address in {line:?}"))
        .parse()
        .unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let tool_call = || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        write!(
            s,
            "GET /x/search HTTP/1.1\r\nHost: {addr}\r\nx-shakedown-tool: search\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u16>()
            .unwrap()
    };
    for _ in 0..5 {
        assert_eq!(tool_call(), 503, "every call is faulted");
    }
    assert!(
        nginx.access_log().is_empty(),
        "faulted calls never reach nginx"
    );
    halt(&data, "fault ledger drill");
    assert!(eventually(Duration::from_secs(5), || tool_call() == 200));
    assert!(!nginx.access_log().is_empty(), "halted, calls pass through");
    resume(&data);
    assert!(eventually(Duration::from_secs(5), || tool_call() == 503));
    assert_eq!(terminate(&mut proxy), Some(0));

    let entries = proxy_entries(&data, "fault-proxy");
    assert_eq!(
        actions(&entries),
        ["started", "halted", "resumed", "stopped"]
    );
    one_session(&entries);
    let started = &entries[0]["data"];
    assert_eq!(started["config"]["sha256"], sha256(config_text.as_bytes()));
    assert_eq!(started["seed"], "3");
    assert_eq!(started["rules"], 1);
    assert_eq!(started["routes"][0]["prefix"], "/x");
    assert_eq!(entries[1]["data"]["halt"]["reason"], "fault ledger drill");
    // Each faulted call is an event, none a ledger entry.
    let fired = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"fault_injected\""))
        .count();
    assert!(fired >= 6, "{fired} fault_injected events");
    verifies_with(&data, ledger(&data).len());
}

/// A data directory whose ledger has its signing key but readable by others.
fn exposed_key(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    shakedown_ledger::Ledger::open_in_data_dir(&data).unwrap();
    let keys = shakedown_ledger::ledger_dir(&data).join(shakedown_ledger::KEYS_DIR);
    let secret = std::fs::read_dir(&keys)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "secret"))
        .expect("a signing key");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    data
}

fn refused(out: &std::process::Output, kind: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("refusing to start {kind}"))
            && err.contains("signed ledger is not usable")
            && err.contains("chmod 600"),
        "{err}"
    );
}

/// Runs a proxy command to its end, bounded: it must refuse at once.
fn output_within(cmd: &mut Command) -> std::process::Output {
    let mut child = Running(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the proxy started instead of refusing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    let mut err = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    std::process::Output {
        status: child.0.wait().unwrap(),
        stdout: out.into_bytes(),
        stderr: err.into_bytes(),
    }
}

#[test]
fn proxies_that_can_inject_chaos_do_not_start_without_a_usable_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let data = exposed_key(dir.path());
    let before =
        std::fs::read(shakedown_ledger::ledger_dir(&data).join("ledger.jsonl")).unwrap_or_default();

    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let out = output_within(shakedown(&data).args(["tcp-proxy", "--api", &api.to_string()]));
    refused(&out, "tcp-proxy");
    assert!(TcpStream::connect(api).is_err(), "nothing listens");

    let listen = format!("127.0.0.1:{}", free_port());
    let script = dir.path().join("slow.yaml");
    std::fs::write(
        &script,
        "name: slow\ntriggers:\n  - name: now\n    trigger_type: time\n    time_condition: {elapsed_seconds: 0}\n    action: {type: add_latency, latency_ms: 500, duration_seconds: 60}\n",
    )
    .unwrap();
    let out = output_within(
        shakedown(&data)
            .args(["pg-proxy", "--listen", &listen, "--upstream"])
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--chaos")
            .arg(&script),
    );
    refused(&out, "pg-proxy with a chaos script");
    assert!(TcpStream::connect(&listen).is_err(), "nothing listens");

    let out = output_within(shakedown(&data).args([
        "fault-proxy",
        "--profile",
        "api_outage",
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
    ]));
    refused(&out, "fault-proxy");

    // Nothing was written.
    let after =
        std::fs::read(shakedown_ledger::ledger_dir(&data).join("ledger.jsonl")).unwrap_or_default();
    assert_eq!(before, after);

    // A pg-proxy that only guards (no chaos script) injects nothing: it starts, unrecorded,
    // and says so.
    let listen = format!("127.0.0.1:{}", free_port());
    let mut guard = Running(
        shakedown(&data)
            .args(["pg-proxy", "--listen", &listen, "--upstream"])
            .arg(format!("127.0.0.1:{}", free_port()))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(guard.0.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("the session is not recorded"), "{first}");
    // Drained for the rest of its life (a closed stderr would fail its next line).
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    assert!(eventually(Duration::from_secs(10), || TcpStream::connect(
        &listen
    )
    .is_ok()));
    terminate(&mut guard);
}

#[test]
fn a_tcp_proxy_whose_ledger_breaks_refuses_new_toxics() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut proxy = tcp_proxy(&data, api, None);
    let spec = json!({"name": "db", "listen": "127.0.0.1:0", "upstream": upstream.local_addr().unwrap().to_string()});
    assert_eq!(call(api, "POST", "/proxies", &spec).0, 201);
    let latency = json!({"name": "slow", "type": "latency", "attributes": {"latency": 1000}});
    assert_eq!(call(api, "POST", "/proxies/db/toxics", &latency).0, 200);

    // The key is exposed mid-session: the very next fault is refused, and nothing changes.
    let keys = shakedown_ledger::ledger_dir(&data).join(shakedown_ledger::KEYS_DIR);
    for e in std::fs::read_dir(&keys).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "secret") {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let other = json!({"name": "cut", "type": "reset_peer", "attributes": {"timeout": 0}});
    let (code, err) = call(api, "POST", "/proxies/db/toxics", &other);
    assert_eq!(code, 503, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("cannot be recorded")
            && err["error"].as_str().unwrap().contains("chmod 600"),
        "{err}"
    );
    let (_, toxics) = call(api, "GET", "/proxies/db/toxics", &Value::Null);
    assert_eq!(toxics.as_array().unwrap().len(), 1, "{toxics}");
    // Taking faults away still works.
    assert_eq!(
        call(api, "DELETE", "/proxies/db/toxics/slow", &Value::Null).0,
        204
    );
    terminate(&mut proxy);
    // What was recorded before still verifies.
    let out = shakedown(&data)
        .args(["ledger", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_pg_proxy_whose_ledger_breaks_halts_its_chaos_script() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cluster = PgCluster::start().expect("cluster");
    let owner = &cluster.user().name;
    cluster
        .admin_sql(
            cluster.database(),
            &format!(
                "CREATE TABLE t (id int); INSERT INTO t VALUES (1); ALTER TABLE t OWNER TO {owner};"
            ),
        )
        .unwrap();
    let chaos = dir.path().join("lock.yaml");
    std::fs::write(
        &chaos,
        "name: lock-on-select\ntriggers:\n  - name: lock_on_select\n    trigger_type: event\n    event_condition: {event_type: SQL_RECEIVED, parsed_type: SELECT, table_pattern: t}\n    action: {type: lock_table, table: t, duration_seconds: 300}\n",
    )
    .unwrap();
    let port = free_port();
    let mut pg = Running(
        shakedown(&data)
            .args(["pg-proxy", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--upstream", &format!("127.0.0.1:{}", cluster.port())])
            .arg("--chaos")
            .arg(&chaos)
            .args(["--admin-url", &cluster.url()])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = pg.0.stderr.take().unwrap();
    let said = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut all);
        all
    });
    assert!(eventually(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    assert!(eventually(Duration::from_secs(5), || {
        actions(&proxy_entries(&data, "pg-proxy")) == ["started"]
    }));

    // The key is exposed: the trigger fires, its record fails, and the script is halted —
    // the lock it took is released and the statement it held goes through.
    let keys = shakedown_ledger::ledger_dir(&data).join(shakedown_ledger::KEYS_DIR);
    for e in std::fs::read_dir(&keys).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "secret") {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let mut select = Running(
        cluster
            .psql_via(port, cluster.user())
            .args(["-A", "-t", "-c", "SELECT count(*) FROM t"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        if let Some(s) = select.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the statement is still held by the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rows = String::new();
    select
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rows)
        .unwrap();
    assert!(done.success() && rows.trim() == "1", "{rows}");
    let locks = "SELECT count(*) FROM pg_locks WHERE relation = (SELECT oid FROM pg_class WHERE relname = 't') AND mode = 'AccessExclusiveLock' AND granted";
    let held: i64 = cluster
        .admin_sql(cluster.database(), locks)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(held, 0);
    terminate(&mut pg);
    let said = said.join().unwrap();
    assert!(
        said.contains("cannot record `chaos_triggered`")
            && said.contains("the chaos script is halted"),
        "{said}"
    );
    // Nothing was recorded after the key was exposed, and what was recorded still verifies.
    assert_eq!(actions(&proxy_entries(&data, "pg-proxy")), ["started"]);
    let out = shakedown(&data)
        .args(["ledger", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
