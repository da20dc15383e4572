//! Test helpers: a mock server on 127.0.0.1:0 and a one-request hyper client.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use shakedown_mockllm::{Rules, load_rules, local_addr, serve};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The rules the tests script the mock with.
pub const RULES: &str = r#"
models: [mock-gpt, mock-claude]
rules:
  - name: weather
    match: {contains: weather}
    reply:
      tool_calls:
        - name: get_weather
          arguments: {city: Paris, unit: celsius}
  - name: weather_result
    match: {on: tool_result, regex: '\d+ ?C'}
    reply:
      text: It is warm in Paris.
      usage: {input_tokens: 42, output_tokens: 7}
  - name: greet
    match: {regex: '(?i)^hello'}
    reply: {text: "Hello from the mock, friend."}
  - name: big_model
    match: {always: true, model: mock-big}
    reply: {text: big}
default:
  text: I do not know.
"#;

/// A running mock; dropping `stop` (or sending on it) ends it.
pub struct Mock {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Mock {
    pub async fn start() -> Self {
        let rules: Rules = load_rules(RULES).expect("test rules load");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = local_addr(&listener).unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listener, rules, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(std::time::Duration::from_secs(5), t)
                .await
                .expect("server stops")
                .unwrap();
        }
    }

    /// One request; returns status, content type and the whole body.
    pub async fn call(&self, method: &str, path: &str, body: &str) -> (u16, String, String) {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let conn_task = tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(bytes_of(body)))
            .unwrap();
        let resp =
            tokio::time::timeout(std::time::Duration::from_secs(5), sender.send_request(req))
                .await
                .expect("answer in time")
                .unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        conn_task.abort();
        (status, ctype, String::from_utf8(body.to_vec()).unwrap())
    }
}

fn bytes_of(s: &str) -> hyper::body::Bytes {
    hyper::body::Bytes::from(s.to_string())
}

/// Parses an SSE body into (event name, data) pairs.
pub fn sse(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (event, data)
        })
        .collect()
}
