//! A real server on 127.0.0.1:0 over a temporary data directory, tokens minted into its
//! store, a practice API as the campaign target, and a one-connection-per-request HTTP client
//! (hyper), so every test talks to the API exactly as a client would.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use shakedown_control::auth::{TokenRequest, create_token};
use shakedown_server::{RunningServer, ServerConfig};
use shakedown_store::{SqliteStore, Store};
use time::OffsetDateTime;
use tokio::net::TcpStream;

/// Longest any single test request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    /// The error code of an error answer (asserting the error shape).
    pub fn code(&self) -> String {
        let v = self.json();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error without a message: {}",
            self.text
        );
        v["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", self.text))
            .to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A server under test.
pub struct Api {
    /// Kept alive for the test; dropping it stops the server.
    _server: RunningServer,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
}

impl Api {
    pub async fn start() -> Api {
        Api::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut ServerConfig)) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().into());
        tune(&mut config);
        let server = shakedown_server::start(config).await.unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
        Api {
            addr: server.addr(),
            _server: server,
            dir,
            store,
        }
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    /// A token of a new account `account` holding `role`.
    pub fn token(&self, account: &str, role: &str) -> String {
        let kind = if role == "chaos_agent_service" {
            "service"
        } else {
            "person"
        };
        create_token(
            self.store.as_ref(),
            &TokenRequest {
                account: account.into(),
                kind: kind.into(),
                roles: vec![role.into()],
                label: "test".into(),
                expires_at: None,
            },
            OffsetDateTime::now_utc(),
        )
        .unwrap()
        .1
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        call(self.addr, "GET", path, token, None).await
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        let bytes = serde_json::to_vec(body).unwrap();
        call(
            self.addr,
            "POST",
            path,
            token,
            Some(("application/json", bytes)),
        )
        .await
    }

    /// Ledger lines (entries) so far.
    pub fn ledger_len(&self) -> usize {
        std::fs::read_to_string(self.data().join("ledger/ledger.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// The ledger's entries as JSON.
    pub fn ledger(&self) -> Vec<Value> {
        std::fs::read_to_string(self.data().join("ledger/ledger.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn ledger_verifies(&self) -> bool {
        shakedown_ledger::Ledger::open_in_data_dir(self.data())
            .unwrap()
            .verify()
            .unwrap()
            .is_ok()
    }

    /// Polls a campaign until it is no longer running (bounded).
    pub async fn wait_campaign(&self, id: &str, token: &str) -> Value {
        for _ in 0..300 {
            let r = self
                .get(&format!("/api/chaos/campaigns/{id}"), Some(token))
                .await;
            if r.status == 200 {
                let v = r.json();
                let status = v["status"].as_str().unwrap_or_default().to_string();
                if status != "running" && status != "starting" {
                    return v;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("campaign {id} did not end within 30 s");
    }
}

/// One request on a fresh connection.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> Resp {
    tokio::time::timeout(CALL_TIMEOUT, async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let payload = match body {
            Some((ct, bytes)) => {
                b = b.header("content-type", ct);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        let resp = sender
            .send_request(b.body(Full::new(payload)).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Resp {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path} took longer than {CALL_TIMEOUT:?}"))
}

/// A practice API to attack. The weak one: it needs no secret (the server reads secrets from
/// its process environment, which tests leave alone), and its verdicts do not matter here —
/// only the campaign's lifecycle does.
pub async fn practice() -> shakedown_practice::PracticeServer {
    shakedown_practice::start(
        shakedown_practice::PracticeConfig::weak(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

/// A system file with one api_endpoint component at `url`.
pub fn system(env: &str, url: &str, component: &str) -> String {
    format!(
        "environment: {env}
scope:
  allow: [127.0.0.0/8]
blast_radius_limit: 3
components:
  - id: {component}
    kind: api_endpoint
    target: {url}
    health: /health
    endpoints:
      - method: GET
        path: /search
        query: {{q: \"{{input}}\"}}
"
    )
}

/// A system with two components at `url` and blast radius 1 (the least resilient is chosen).
pub fn two_components(env: &str, url: &str) -> String {
    let one = system(env, url, "api_a");
    let extra = format!(
        "  - id: api_b
    kind: api_endpoint
    target: {url}
    health: /health
    endpoints:
      - method: GET
        path: /search
        query: {{q: \"{{input}}\"}}
"
    );
    format!("{one}{extra}").replace("blast_radius_limit: 3", "blast_radius_limit: 1")
}

/// The request body of a short campaign (one injection pattern).
pub fn run_body(system: &str) -> Value {
    serde_json::json!({"system": system, "patterns": ["sql_injection"]})
}
