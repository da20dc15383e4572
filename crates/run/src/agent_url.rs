//! An agent reached over HTTP (`--agent-url`): one `POST` of JSON with the task and the
//! sandbox's addresses; the answer is JSON `{output}` (or `answer` / `response`), or plain
//! text. Loopback only, bounded by the scenario's time limit.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::RunError;

/// Longest answer read from an agent URL.
const MAX_ANSWER: usize = 1 << 20;

/// What an HTTP agent did.
pub struct UrlOutcome {
    pub output: String,
    pub latency: Duration,
    pub status: Option<u16>,
    pub timed_out: bool,
    pub error: Option<String>,
}

/// Checks an agent URL: `http://` on loopback.
pub fn check_url(url: &str) -> Result<(hyper::Uri, std::net::SocketAddr), RunError> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| RunError::AgentUrl(format!("`{url}` is not a URL: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(RunError::AgentUrl(format!(
            "`{url}`: only http:// agent URLs are supported"
        )));
    }
    let host = uri.host().unwrap_or("").trim_matches(['[', ']']);
    let ip: std::net::IpAddr = match host {
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h.parse().map_err(|_| {
            RunError::AgentUrl(format!(
                "`{url}`: give the agent's address as an IP (127.0.0.1)"
            ))
        })?,
    };
    if !ip.is_loopback() {
        return Err(RunError::AgentUrl(format!(
            "`{url}` is outside the scope: agent URLs must be on loopback"
        )));
    }
    let port = uri.port_u16().unwrap_or(80);
    Ok((uri, std::net::SocketAddr::new(ip, port)))
}

/// Calls the agent once.
pub async fn call(url: &str, body: Value, limit: Duration, halt: &CancellationToken) -> UrlOutcome {
    let start = Instant::now();
    let outcome = |output: String, status, timed_out, error| UrlOutcome {
        output,
        latency: start.elapsed(),
        status,
        timed_out,
        error,
    };
    let attempt = async {
        let (uri, addr) = check_url(url).map_err(|e| e.to_string())?;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(conn);
        let req = Request::post(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        driver.abort();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let output = match serde_json::from_str::<Value>(&text) {
            Ok(v) => ["output", "answer", "response"]
                .iter()
                .find_map(|k| v.get(k).and_then(Value::as_str).map(str::to_string))
                .unwrap_or(text),
            Err(_) => text,
        };
        Ok::<_, String>((status, output))
    };
    tokio::select! {
        r = tokio::time::timeout(limit, attempt) => match r {
            Ok(Ok((status, output))) => {
                let error = (!(200..300).contains(&status)).then(|| format!("the agent answered HTTP {status}"));
                outcome(output, Some(status), false, error)
            }
            Ok(Err(e)) => outcome(String::new(), None, false, Some(e)),
            Err(_) => outcome(String::new(), None, true, Some(format!("no answer within {} s", limit.as_secs()))),
        },
        _ = halt.cancelled() => outcome(String::new(), None, false, Some("terminated".into())),
    }
}

/// The JSON body sent to an HTTP agent.
pub fn request_body(
    task: &str,
    scenario: &str,
    run_id: &str,
    database_url: &str,
    llm_base: &str,
) -> Value {
    json!({
        "task": task,
        "scenario": scenario,
        "run_id": run_id,
        "database_url": database_url,
        "openai_base_url": format!("{llm_base}/openai/v1"),
        "anthropic_base_url": format!("{llm_base}/anthropic"),
    })
}
