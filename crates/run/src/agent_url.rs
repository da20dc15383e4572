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
        let content_type = resp
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        driver.abort();
        let text = String::from_utf8_lossy(&bytes).to_string();
        Ok::<_, String>((status, content_type, text))
    };
    tokio::select! {
        r = tokio::time::timeout(limit, attempt) => match r {
            Ok(Ok((status, content_type, text))) => {
                if !(200..300).contains(&status) {
                    let error = format!("the agent answered HTTP {status}");
                    return outcome(text, Some(status), false, Some(error));
                }
                match answer(content_type.as_deref(), &text) {
                    Ok(output) => outcome(output, Some(status), false, None),
                    Err(e) => outcome(text, Some(status), false, Some(e)),
                }
            }
            Ok(Err(e)) => outcome(String::new(), None, false, Some(e)),
            Err(_) => outcome(String::new(), None, true, Some(format!("no answer within {} s", limit.as_secs()))),
        },
        _ = halt.cancelled() => outcome(String::new(), None, false, Some("terminated".into())),
    }
}

/// Fields an answer object may carry its text in, in order of preference.
const ANSWER_FIELDS: [&str; 3] = ["output", "answer", "response"];

/// The agent's answer in a 2xx body, or why there is none. A JSON object must carry its answer
/// as a string `output`, `answer` or `response`: `{"error": "rate limited"}` or
/// `{"output": 42}` is an agent error, never the answer. A body declared JSON must be an
/// object like that or a JSON string; anything else is plain text.
fn answer(content_type: Option<&str>, text: &str) -> Result<String, String> {
    let declared_json = content_type.is_some_and(|c| {
        let media = c
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        media == "application/json" || media.ends_with("+json")
    });
    let excerpt = || crate::cell::cap(text, 200);
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => ANSWER_FIELDS
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str).map(str::to_string))
            .ok_or_else(|| {
                format!(
                    "the agent answered JSON without a string `output`, `answer` or `response` field: {}",
                    excerpt()
                )
            }),
        Ok(Value::String(s)) if declared_json => Ok(s),
        Ok(_) if declared_json => Err(format!(
            "the agent answered JSON that is not an object with a string `output`, `answer` or `response` field: {}",
            excerpt()
        )),
        Err(e) if declared_json => Err(format!(
            "the agent declared a JSON answer that does not parse ({e}): {}",
            excerpt()
        )),
        _ => Ok(text.to_string()),
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    #[test]
    fn an_answer_object_needs_a_string_answer_field() {
        assert_eq!(
            answer(JSON, r#"{"output": "Deleted 80"}"#).unwrap(),
            "Deleted 80"
        );
        assert_eq!(answer(JSON, r#"{"response": "ok", "x": 1}"#).unwrap(), "ok");
        // A JSON object is judged as one whatever the content type says.
        assert_eq!(answer(None, r#"{"answer": "fine"}"#).unwrap(), "fine");
        for body in [r#"{"error": "rate limited"}"#, r#"{"output": 42}"#, "{}"] {
            for ct in [JSON, Some("text/plain"), None] {
                let e = answer(ct, body).unwrap_err();
                assert!(
                    e.contains("without a string `output`"),
                    "{body} {ct:?}: {e}"
                );
            }
        }
        assert_eq!(answer(JSON, r#""just text""#).unwrap(), "just text");
        assert!(answer(JSON, "42").unwrap_err().contains("not an object"));
        assert!(
            answer(JSON, "Deleted 80")
                .unwrap_err()
                .contains("does not parse")
        );
        // Plain text stays plain text, even when it happens to parse as a JSON number.
        assert_eq!(answer(Some("text/plain"), "42").unwrap(), "42");
        assert_eq!(answer(None, "Deleted 80 rows").unwrap(), "Deleted 80 rows");
    }

    /// Serves one HTTP response with `body` to every connection.
    async fn agent(body: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = s.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn a_200_without_an_answer_is_an_agent_error() {
        let halt = CancellationToken::new();
        let limit = Duration::from_secs(10);
        let url = agent(r#"{"error":"rate limited"}"#).await;
        let o = call(&url, json!({"task": "t"}), limit, &halt).await;
        assert_eq!(o.status, Some(200));
        let e = o.error.expect("an agent error");
        assert!(e.contains(r#"{"error":"rate limited"}"#), "{e}");
        let url = agent(r#"{"output":42}"#).await;
        let o = call(&url, json!({"task": "t"}), limit, &halt).await;
        assert!(o.error.is_some(), "{}", o.output);
        let url = agent(r#"{"output":"Deleted 80"}"#).await;
        let o = call(&url, json!({"task": "t"}), limit, &halt).await;
        assert_eq!((o.error, o.output.as_str()), (None, "Deleted 80"));
    }
}
