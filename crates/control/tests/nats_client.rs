//! The NATS client and the halt listener against a real nats-server on loopback (and fake
//! servers that misbehave): publish/subscribe, credentials, keepalive in both directions,
//! reconnection after the server restarts, size caps, clear errors for servers that are down
//! or are not NATS, and a bus message halting and resuming a data directory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shakedown_control::halt_latch::{self, Active};
use shakedown_control::nats::{
    Client, ClientOptions, ConnState, EventPublisher, GuardianAction, HALT_SUBJECT, HaltListener,
    NatsError, RESUME_SUBJECT,
};
use shakedown_ledger::{ExportFormat, Ledger};

/// A nats-server child process on a loopback port, killed on drop.
struct NatsServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

fn nats_server_bin() -> String {
    for p in ["/usr/sbin/nats-server", "/usr/bin/nats-server"] {
        if Path::new(p).exists() {
            return p.to_string();
        }
    }
    // On PATH, or a clear failure: scripts/test installs it (apt-get install nats-server).
    "nats-server".to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsServer {
    /// On a port nats-server picks itself (no race with other tests for a free port).
    fn start(extra_conf: &str) -> NatsServer {
        NatsServer::launch(None, extra_conf)
    }

    /// On `port` (a restart where an earlier server was).
    fn start_on(port: u16, extra_conf: &str) -> NatsServer {
        NatsServer::launch(Some(port), extra_conf)
    }

    fn launch(port: Option<u16>, extra_conf: &str) -> NatsServer {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("nats.conf");
        let port_conf = port.map_or("-1".to_string(), |p| p.to_string());
        std::fs::write(
            &conf,
            format!(
                "host: 127.0.0.1\nport: {port_conf}\nports_file_dir: \"{}\"\n{extra_conf}\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "nats-server must be installed (apt-get install nats-server; scripts/test does it)",
            );
        // Listening once it has written its ports file; then it greets clients with INFO.
        let ports = dir.path().join(format!("nats-server_{}.ports", child.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("nats-server exited at start ({status}); config:\n{extra_conf}");
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            let listed = std::fs::read_to_string(&ports)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
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

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a fake server does with its one connection.
type Script = Box<dyn FnOnce(TcpStream) + Send>;

/// A fake server on loopback: `script` runs on the first accepted connection.
fn fake_server(script: impl FnOnce(TcpStream) + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((s, _)) = l.accept() {
            script(s);
        }
    });
    format!("nats://127.0.0.1:{port}")
}

/// Reads whatever the client sent until `want` appears (bounded).
fn read_until(s: &mut TcpStream, want: &str) -> String {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..100 {
        if String::from_utf8_lossy(&got).contains(want) {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).to_string()
}

const INFO: &str =
    "INFO {\"server_id\":\"fake\",\"version\":\"2.9.10\",\"max_payload\":1048576}\r\n";

fn quick() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_millis(500),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(100),
        ..ClientOptions::default()
    }
}

/// Waits (bounded) until the state satisfies `ok`.
async fn wait_state(
    client: &Client,
    within: Duration,
    ok: impl Fn(&ConnState) -> bool,
) -> ConnState {
    let mut rx = client.state();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = rx.borrow_and_update().clone();
        if ok(&now) {
            return now;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("state never matched; last: {now:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_and_subscribes_through_a_real_server() {
    let server = NatsServer::start("");
    let sub = Client::connect(&server.url(), quick()).await.unwrap();
    let mut all = sub.subscribe("chaos.>").await.unwrap();
    sub.flush(Duration::from_secs(2)).await.unwrap();
    let publisher = Client::connect(&server.url(), quick()).await.unwrap();
    // A payload containing CRLF and binary bytes: the byte count frames it.
    let payload = Bytes::from_static(b"line1\r\nline2\x00\xff");
    publisher
        .try_publish("chaos.injection", payload.clone())
        .unwrap();
    publisher
        .publish("chaos.campaign.started", Some("reply.here"), Bytes::new())
        .await
        .unwrap();
    publisher.flush(Duration::from_secs(2)).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(2), all.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.subject.as_str(), &m.payload),
        ("chaos.injection", &payload)
    );
    let m = tokio::time::timeout(Duration::from_secs(2), all.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.subject, "chaos.campaign.started");
    assert_eq!(m.reply.as_deref(), Some("reply.here"));
    assert_eq!(publisher.stats().published, 2);
    assert_eq!(sub.stats().delivered, 2);
    // Subjects are checked before anything is sent.
    let e = publisher
        .try_publish("chaos.>", Bytes::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("wildcards") && e.contains("invalid NATS subject"),
        "{e}"
    );
    sub.close().await;
    assert!(matches!(
        *sub.state().borrow(),
        ConnState::Closed { error: None }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_url_are_used_and_refusals_are_clear() {
    let server = NatsServer::start("authorization { user: ops, password: \"s3cret\" }");
    let e = Client::connect(&server.url(), quick())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("refused the connection") && e.contains("Authorization Violation"),
        "{e}"
    );
    assert!(e.contains("nats://user:password@host:port"), "{e}");
    let wrong = format!("nats://ops:nope@127.0.0.1:{}", server.port);
    let e = Client::connect(&wrong, quick())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("Authorization Violation") && !e.contains("nope"),
        "{e}"
    );
    let right = format!("nats://ops:s3cret@127.0.0.1:{}", server.port);
    let c = Client::connect(&right, quick()).await.unwrap();
    c.flush(Duration::from_secs(2)).await.unwrap();

    let token = NatsServer::start("authorization { token: \"t0ken\" }");
    let c = Client::connect(&format!("nats://t0ken@127.0.0.1:{}", token.port), quick())
        .await
        .unwrap();
    c.flush(Duration::from_secs(2)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_the_servers_pings_and_detects_a_server_that_stops_answering() {
    // The server pings every 100 ms and drops a client after 2 unanswered pings; the client's
    // own pings are rare here so they cannot mask a missing PONG.
    let server = NatsServer::start("ping_interval: \"100ms\"\nping_max: 2");
    let opts = ClientOptions {
        ping_interval: Duration::from_secs(60),
        ..quick()
    };
    let c = Client::connect(&server.url(), opts).await.unwrap();
    let mut sub = c.subscribe("k.a").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        c.stats().reconnects,
        0,
        "the server dropped us: PINGs not answered"
    );
    assert!(matches!(*c.state().borrow(), ConnState::Connected { .. }));
    c.try_publish("k.a", Bytes::from_static(b"still here"))
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(2), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.payload[..], b"still here");

    // A fake server that completes the handshake and then never answers a PING.
    let url = fake_server(|mut s| {
        s.write_all(INFO.as_bytes()).unwrap();
        read_until(&mut s, "PING");
        s.write_all(b"PONG\r\n").unwrap();
        std::thread::sleep(Duration::from_secs(3));
    });
    let opts = ClientOptions {
        ping_interval: Duration::from_millis(100),
        max_reconnects: 1,
        ..quick()
    };
    let c = Client::connect(&url, opts).await.unwrap();
    let t0 = Instant::now();
    let st = wait_state(&c, Duration::from_secs(3), |s| {
        !matches!(s, ConnState::Connected { .. })
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    let ConnState::Disconnected { error } = st else {
        panic!("{st:?}")
    };
    assert!(error.to_string().contains("stale connection"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_resubscribes_after_the_server_restarts() {
    let mut server = NatsServer::start("");
    let port = server.port;
    let c = Client::connect(&server.url(), quick()).await.unwrap();
    let mut sub = c.subscribe("r.x").await.unwrap();
    c.flush(Duration::from_secs(2)).await.unwrap();
    server.stop();
    wait_state(&c, Duration::from_secs(3), |s| {
        matches!(s, ConnState::Disconnected { .. })
    })
    .await;
    // Publishing while down drops (counted) and never blocks.
    let t0 = Instant::now();
    for _ in 0..10 {
        let _ = c.try_publish("r.x", Bytes::from_static(b"lost"));
    }
    assert!(t0.elapsed() < Duration::from_millis(100));
    let _server = NatsServer::start_on(port, "");
    wait_state(&c, Duration::from_secs(5), |s| {
        matches!(s, ConnState::Connected { .. })
    })
    .await;
    c.flush(Duration::from_secs(2)).await.unwrap();
    let other = Client::connect(&format!("nats://127.0.0.1:{port}"), quick())
        .await
        .unwrap();
    other
        .try_publish("r.x", Bytes::from_static(b"after"))
        .unwrap();
    other.flush(Duration::from_secs(2)).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(2), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &m.payload[..],
        b"after",
        "the subscription came back with the connection"
    );
    let st = c.stats();
    assert_eq!(st.reconnects, 1);
    assert_eq!(st.dropped, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_over_the_servers_max_payload_are_dropped_not_sent() {
    let server = NatsServer::start("max_payload: 1024");
    let c = Client::connect(&server.url(), quick()).await.unwrap();
    let mut sub = c.subscribe("big").await.unwrap();
    c.try_publish("big", Bytes::from(vec![b'x'; 2048])).unwrap();
    c.try_publish("big", Bytes::from_static(b"small")).unwrap();
    c.flush(Duration::from_secs(2)).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(2), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.payload[..], b"small");
    assert_eq!(c.stats().dropped, 1);
    assert_eq!(
        c.stats().reconnects,
        0,
        "the server never saw the oversized message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_that_are_down_or_not_nats_give_clear_errors() {
    let dead = format!("nats://127.0.0.1:{}", free_port());
    let e = Client::connect(&dead, quick())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("cannot connect to NATS at 127.0.0.1:"), "{e}");
    assert!(e.contains("start nats-server"), "{e}");

    let cases: Vec<(Script, &str)> = vec![
        (
            Box::new(|mut s: TcpStream| {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            }),
            "`HTTP/1.1 400 Bad Request`, which is no NATS operation",
        ),
        (
            Box::new(|mut s: TcpStream| {
                let _ = s.write_all(b"INFO {\"server_id\": nope}\r\n");
            }),
            "INFO: its JSON does not parse",
        ),
        (
            Box::new(|mut s: TcpStream| {
                let _ = s.write_all(&[0xde, 0xad, 0xbe, 0xef, b'\n']);
            }),
            "`\\xde\\xad\\xbe\\xef`, which is no NATS operation",
        ),
        (
            Box::new(|mut s: TcpStream| {
                // Endless bytes without a line end: capped, not buffered forever.
                let chunk = [b'A'; 4096];
                for _ in 0..8 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }),
            "a line longer than 16384 bytes",
        ),
        (
            Box::new(|_s: TcpStream| std::thread::sleep(Duration::from_secs(2))),
            "no complete NATS handshake within",
        ),
        (
            Box::new(|mut s: TcpStream| {
                let _ = s.write_all(b"INFO {\"tls_required\":true}\r\n");
                std::thread::sleep(Duration::from_secs(1));
            }),
            "requires TLS",
        ),
        (
            Box::new(|mut s: TcpStream| {
                let _ = s.write_all(INFO.as_bytes());
                read_until(&mut s, "PING");
                let _ = s.write_all(b"-ERR 'Authorization Violation'\r\n");
            }),
            "refused the connection: Authorization Violation",
        ),
    ];
    for (script, want) in cases {
        let url = fake_server(script);
        let e = Client::connect(&url, quick())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(want), "want {want:?} in: {e}");
        assert!(e.contains("127.0.0.1:"), "names the server: {e}");
    }

    // Garbage after a good handshake: a protocol error, and the client reconnects.
    let url = fake_server(|mut s| {
        s.write_all(INFO.as_bytes()).unwrap();
        read_until(&mut s, "PING");
        s.write_all(b"PONG\r\nMSG x 1 3\r\nTOO LONG\r\n").unwrap();
        std::thread::sleep(Duration::from_secs(2));
    });
    let c = Client::connect(&url, quick()).await.unwrap();
    let st = wait_state(&c, Duration::from_secs(3), |s| {
        !matches!(s, ConnState::Connected { .. })
    })
    .await;
    let ConnState::Disconnected { error } = st else {
        panic!("{st:?}")
    };
    let text = error.to_string();
    assert!(matches!(error, NatsError::Protocol { .. }), "{text}");
    assert!(text.contains("wrong byte count"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_publisher_to_a_dead_server_drops_and_counts_without_waiting() {
    let dead = format!("nats://127.0.0.1:{}", free_port());
    let p = EventPublisher::connect_lazy(&dead).unwrap();
    let t0 = Instant::now();
    for i in 0..5 {
        p.publish(&shakedown_core::Event::named(
            "chaos.injection",
            Some("c"),
            None,
            serde_json::json!({"i": i}),
            time::OffsetDateTime::now_utc(),
        ));
    }
    assert!(
        t0.elapsed() < Duration::from_millis(50),
        "publishing waited: {:?}",
        t0.elapsed()
    );
    let stats = p.finish(Duration::from_secs(2)).await;
    assert_eq!((stats.published, stats.dropped), (0, 5));
    assert!(EventPublisher::connect_lazy("http://x").is_err());
}

fn ledger_entries(data: &Path) -> Vec<serde_json::Value> {
    let ledger = Ledger::open_in_data_dir(data).unwrap();
    let mut out = Vec::new();
    ledger.export(ExportFormat::Jsonl, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn next_action(rx: &mut tokio::sync::broadcast::Receiver<GuardianAction>) -> GuardianAction {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_message_halts_the_data_directory_and_another_resumes_it() {
    let server = NatsServer::start("");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let mut listener = HaltListener::spawn_with(&server.url(), data.clone(), quick())
        .await
        .unwrap();
    // A real process carrying a "campaign": the halt must SIGTERM it.
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::create_dir_all(data.join("active")).unwrap();
    let reg = Active {
        pid: child.id(),
        kind: "campaign".into(),
        id: "c-bus".into(),
        started: None,
    };
    std::fs::write(
        data.join("active").join(child.id().to_string()),
        serde_json::to_vec(&reg).unwrap(),
    )
    .unwrap();

    let ops = Client::connect(&server.url(), quick()).await.unwrap();
    let mut replies = ops.subscribe("_INBOX.test").await.unwrap();
    ops.flush(Duration::from_secs(2)).await.unwrap();
    let sent = time::OffsetDateTime::now_utc();
    ops.publish(
        HALT_SUBJECT,
        Some("_INBOX.test"),
        Bytes::from_static(br#"{"by":"oncall-bot","reason":"error rate 30%"}"#),
    )
    .await
    .unwrap();
    let GuardianAction::Halted {
        by,
        reason,
        understood,
        outcome,
        ..
    } = next_action(&mut listener.actions).await
    else {
        panic!("not halted")
    };
    assert_eq!(
        (by.as_str(), reason.as_str(), understood),
        ("oncall-bot", "error rate 30%", true)
    );
    // From publish to latch set: the bus adds little to the lever.
    let latency = outcome.accepted_at - sent;
    assert!(
        latency < time::Duration::milliseconds(500),
        "bus → latch took {latency}"
    );
    assert_eq!(outcome.signalled, vec![reg.clone()]);
    assert_eq!(outcome.ledger, Ok(1));
    let latch = halt_latch::halted(&data).unwrap();
    assert_eq!(
        (latch.by.as_str(), latch.reason.as_str()),
        ("oncall-bot", "error rate 30%")
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.wait().unwrap().signal(), Some(15));
    let action = next_action(&mut listener.actions).await;
    let GuardianAction::Settled { still_running } = action else {
        panic!("not settled: {action:?}")
    };
    assert!(still_running.is_empty());
    let reply = tokio::time::timeout(Duration::from_secs(2), replies.next())
        .await
        .unwrap()
        .unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["action"], "halted");
    assert_eq!(reply["signalled"][0]["id"], "c-bus");

    // Resume lifts it; a second resume has nothing to lift.
    ops.publish(
        RESUME_SUBJECT,
        None,
        Bytes::from_static(br#"{"by":"lead"}"#),
    )
    .await
    .unwrap();
    let GuardianAction::Resumed { by, outcome, .. } = next_action(&mut listener.actions).await
    else {
        panic!("not resumed")
    };
    assert_eq!(by, "lead");
    assert!(outcome.lifted.is_some());
    assert!(halt_latch::halted(&data).is_none());

    // Fail safe: garbage still halts, as `nats` for "bus message".
    ops.publish(HALT_SUBJECT, None, Bytes::from_static(b"\xffSTOP"))
        .await
        .unwrap();
    let GuardianAction::Halted {
        by,
        reason,
        understood,
        ..
    } = next_action(&mut listener.actions).await
    else {
        panic!("garbage did not halt")
    };
    assert_eq!(
        (by.as_str(), reason.as_str(), understood),
        ("nats", "bus message", false)
    );
    assert_eq!(halt_latch::halted(&data).unwrap().by, "nats");

    let entries = ledger_entries(&data);
    let summary: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("oncall-bot", "halted"),
            ("lead", "resumed"),
            ("nats", "halted")
        ]
    );
    assert_eq!(entries[0]["data"]["reason"], "error rate 30%");
    assert!(
        Ledger::open_in_data_dir(&data)
            .unwrap()
            .verify()
            .unwrap()
            .is_ok()
    );
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_the_server_does_not_let_subscribe_is_an_error_not_a_deaf_guardian() {
    let server = NatsServer::start(
        "authorization { users = [ {user: g, password: p, permissions: {subscribe: {deny: [\"guardian.>\"]}}} ] }",
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("nats://g:p@127.0.0.1:{}", server.port);
    let e = HaltListener::spawn_with(&url, dir.path().to_path_buf(), quick())
        .await
        .err()
        .expect("a guardian that cannot subscribe must not start")
        .to_string();
    assert!(
        e.contains("Permissions Violation for Subscription to \"guardian.*\""),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_keeps_working_across_a_server_restart() {
    let mut server = NatsServer::start("");
    let port = server.port;
    let dir = tempfile::tempdir().unwrap();
    let mut listener = HaltListener::spawn_with(&server.url(), dir.path().to_path_buf(), quick())
        .await
        .unwrap();
    server.stop();
    wait_state(listener.client(), Duration::from_secs(3), |s| {
        matches!(s, ConnState::Disconnected { .. })
    })
    .await;
    let _server = NatsServer::start_on(port, "");
    wait_state(listener.client(), Duration::from_secs(5), |s| {
        matches!(s, ConnState::Connected { .. })
    })
    .await;
    let ops = Client::connect(&format!("nats://127.0.0.1:{port}"), quick())
        .await
        .unwrap();
    // The re-sent SUB races this publish on the server: flush the listener first.
    listener
        .client()
        .flush(Duration::from_secs(2))
        .await
        .unwrap();
    ops.publish(
        HALT_SUBJECT,
        None,
        Bytes::from_static(br#"{"by":"after-restart"}"#),
    )
    .await
    .unwrap();
    let action = next_action(&mut listener.actions).await;
    let GuardianAction::Halted { by, .. } = action else {
        panic!("not halted after the restart: {action:?}")
    };
    assert_eq!(by, "after-restart");
    assert_eq!(
        halt_latch::halted(dir.path()).unwrap().reason,
        "bus message"
    );
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_gives_up_after_its_reconnection_rounds_with_a_clear_error() {
    let mut server = NatsServer::start("");
    let dir = tempfile::tempdir().unwrap();
    let opts = ClientOptions {
        max_reconnects: 3,
        reconnect_min: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(40),
        ..quick()
    };
    let listener = HaltListener::spawn_with(&server.url(), dir.path().to_path_buf(), opts)
        .await
        .unwrap();
    server.stop();
    let t0 = Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(5), listener.wait())
        .await
        .expect("the listener must end once the client gives up")
        .unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert!(matches!(e, NatsError::GaveUp { attempts: 3, .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("gave up on NATS after 3 reconnection attempts")
            && text.contains("cannot connect to NATS at 127.0.0.1:"),
        "{text}"
    );
}
