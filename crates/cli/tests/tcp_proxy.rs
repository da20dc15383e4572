//! `shakedown tcp-proxy` as a user runs it: the real binary, a proxy created through its admin
//! API in front of a loopback echo server, traffic held by a `latency` toxic on an open
//! connection, and SIGTERM. The process must exit promptly and close the client's connection,
//! even with an admin request left half sent (that once kept it alive forever).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::{Value, json};

/// How long the process may take to exit after SIGTERM.
const EXIT_WITHIN: Duration = Duration::from_secs(5);
/// Socket timeouts so no step of the test can block forever.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

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

/// A threaded echo server on 127.0.0.1:0; stops accepting when `stop` is set (and a last
/// connection wakes it).
fn echo_server(stop: Arc<AtomicBool>) -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        for conn in l.incoming() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(mut s) = conn else { return };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                let mut buf = vec![0u8; 64 * 1024];
                loop {
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
        }
    });
    (addr, h)
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
    let json = if rest.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(rest).unwrap()
    };
    (status, json)
}

#[test]
fn sigterm_ends_the_process_with_latency_in_flight() {
    // Its own data directory: the session is recorded in that ledger.
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(cargo_bin("shakedown"))
        .args(["tcp-proxy", "--api", "127.0.0.1:0"])
        .env("SHAKEDOWN_DATA_DIR", data.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let proc = Running(child);
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let api: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no admin API address in {line:?}"))
        .parse()
        .unwrap();

    let stop_echo = Arc::new(AtomicBool::new(false));
    let (echo, echo_thread) = echo_server(Arc::clone(&stop_echo));
    let (status, proxy) = call(
        api,
        "POST",
        "/proxies",
        &json!({"name": "echo", "listen": "127.0.0.1:0", "upstream": echo.to_string()}),
    );
    assert_eq!(status, 201, "{proxy}");
    let listen: SocketAddr = proxy["listen"].as_str().unwrap().parse().unwrap();

    // Without toxics the proxy echoes at once.
    let mut client = TcpStream::connect(listen).unwrap();
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    client.write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");

    for stream in ["downstream", "upstream"] {
        let (status, v) = call(
            api,
            "POST",
            "/proxies/echo/toxics",
            &json!({"type": "latency", "stream": stream, "attributes": {"latency": 30_000}}),
        );
        assert_eq!(status, 200, "{v}");
    }
    // Traffic on the open connection is now held by the toxic: nothing comes back.
    client.write_all(&[7u8; 256 * 1024]).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let held = client.read(&mut buf);
    assert!(
        held.is_err(),
        "the latency toxic must hold the data: {held:?}"
    );
    // And an admin client that sent half a request and went quiet.
    let mut half = TcpStream::connect(api).unwrap();
    half.write_all(b"POST /proxies HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));

    let t = Instant::now();
    let mut proc = proc;
    let killed = Command::new("kill")
        .args(["-TERM", &proc.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(s) = proc.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < EXIT_WITHIN,
            "shakedown tcp-proxy still running {:?} after SIGTERM",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("halt requested"), "{rest}");

    // The proxied connection was closed by the exit (EOF or reset, never a timeout).
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let closed = loop {
        match client.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => {}
            Err(e) => {
                break !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    };
    assert!(closed, "the client connection stayed open");
    assert!(
        TcpStream::connect(listen).is_err(),
        "nothing listens after exit"
    );

    stop_echo.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(echo);
    echo_thread.join().unwrap();
}
