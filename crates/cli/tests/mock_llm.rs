//! `shakedown mock-llm` as a process: a bad rules file is refused with located errors, and a
//! good one is served on loopback until the process is stopped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

#[test]
fn bad_rules_file_gives_located_errors_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yaml");
    std::fs::write(
        &path,
        "rules:\n  - match: {regex: '(' }\n    reply: {text: x}\n  - match: {contains: a}\n    reply: {}\n",
    )
    .unwrap();
    let out = Command::cargo_bin("shakedown")
        .unwrap()
        .args(["mock-llm", "--listen", "127.0.0.1:0", "--rules"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = path.display().to_string();
    assert!(stderr.contains(&format!("{name}:2:")), "{stderr}");
    assert!(stderr.contains("invalid regex"), "{stderr}");
    assert!(stderr.contains(&format!("{name}:5:")), "{stderr}");
    assert!(stderr.contains("2 error(s)"), "{stderr}");
}

#[test]
fn serves_the_rules_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yaml");
    std::fs::write(
        &path,
        "rules:\n  - match: {contains: ping}\n    reply: {text: pong}\n",
    )
    .unwrap();
    let mut child = Command::cargo_bin("shakedown")
        .unwrap()
        .args(["mock-llm", "--listen", "127.0.0.1:0", "--rules"])
        .arg(&path)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = Instant::now();
    let addr = loop {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no listening line"
        );
        let line = lines.next().expect("stderr open").unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let body = r#"{"model":"m","messages":[{"role":"user","content":"ping?"}]}"#;
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""content":"pong""#), "{resp}");
}
