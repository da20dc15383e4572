//! Shared pieces for the fault proxy's server tests: a real upstream on 127.0.0.1 (plain or
//! TLS) that records what it receives, a scripted decider, clients that talk to the proxy
//! directly, as a forward proxy, and through `CONNECT`.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use shakedown_core::Event;
use shakedown_faults::server::ProxySettings;
use shakedown_faults::{
    CallInfo, CallPlan, Decider, Fault, FaultFamily, FaultProxy, FaultProxyHandle,
    FaultProxyOptions, FiredFault, Planner,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Number of events the SSE route sends, and the pause between them.
pub const SSE_EVENTS: usize = 5;
pub const SSE_GAP: Duration = Duration::from_millis(150);

/// What the upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A real HTTP/1.1 server on 127.0.0.1. `/sse` (or a JSON body with `"stream": true`)
/// streams [`SSE_EVENTS`] events [`SSE_GAP`] apart then `[DONE]`; everything else echoes the
/// request body and content type with an `x-upstream-path` header.
pub struct TestUpstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
    stop: CancellationToken,
    /// The self-signed certificate (PEM file) when serving TLS.
    pub cert_file: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl TestUpstream {
    /// Plain HTTP.
    pub async fn start() -> TestUpstream {
        Self::spawn(None, None, None).await
    }

    /// HTTPS with a self-signed certificate for `localhost` and `127.0.0.1`.
    pub async fn start_tls() -> TestUpstream {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let cert_file = dir.path().join("upstream.pem");
        std::fs::write(&cert_file, cert.pem()).unwrap();
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        Self::spawn(Some(Arc::new(config)), Some(cert_file), Some(dir)).await
    }

    async fn spawn(
        tls: Option<Arc<ServerConfig>>,
        cert_file: Option<PathBuf>,
        dir: Option<tempfile::TempDir>,
    ) -> TestUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let (s, h, st) = (seen.clone(), hits.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => return },
                    _ = st.cancelled() => return,
                };
                let (s, h, st, tls) = (s.clone(), h.clone(), st.clone(), tls.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| upstream_handler(req, s.clone(), h.clone()));
                    match tls {
                        None => {
                            let conn =
                                http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                            tokio::select! { _ = conn => {}, _ = st.cancelled() => {} }
                        }
                        Some(cfg) => {
                            let Ok(tls) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await
                            else {
                                return;
                            };
                            let conn =
                                http1::Builder::new().serve_connection(TokioIo::new(tls), svc);
                            tokio::select! { _ = conn => {}, _ = st.cancelled() => {} }
                        }
                    }
                });
            }
        });
        TestUpstream {
            addr,
            seen,
            hits,
            stop,
            cert_file,
            _dir: dir,
        }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The last request received.
    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("upstream saw no request")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

type UpBody = BoxBody<Bytes, Infallible>;

async fn upstream_handler(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
) -> Result<Response<UpBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    hits.fetch_add(1, Ordering::SeqCst);
    seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let wants_stream = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
        .unwrap_or(false);
    if path.ends_with("/sse") || wants_stream {
        let (tx, rx) = mpsc::channel::<Bytes>(1);
        tokio::spawn(async move {
            for i in 0..SSE_EVENTS {
                if i > 0 {
                    tokio::time::sleep(SSE_GAP).await;
                }
                let ev = format!("data: {{\"i\":{i}}}\n\n");
                if tx.send(Bytes::from(ev)).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(SSE_GAP).await;
            let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
        });
        let resp = Response::builder()
            .header("content-type", "text/event-stream")
            .body(ChannelBody(rx).boxed())
            .unwrap();
        return Ok(resp);
    }
    // The echo keeps the request's content type, so JSON in is JSON out.
    let content_type = parts
        .headers
        .get("content-type")
        .cloned()
        .unwrap_or_else(|| http::HeaderValue::from_static("application/octet-stream"));
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header("x-upstream-path", path)
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "must-not-cross")
        .body(Full::new(body).boxed())
        .unwrap();
    Ok(resp)
}

/// A body fed through a channel, so the upstream can stream with real pauses.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// Which fault fires on a call, if any.
type When = Box<dyn Fn(&CallInfo) -> Option<Fault> + Send + Sync>;

/// Fires `fault` on every call for which `when` holds; numbers calls 1, 2, 3…
pub struct ScriptedDecider {
    calls: AtomicU64,
    when: When,
}

impl ScriptedDecider {
    pub fn new(when: impl Fn(&CallInfo) -> Option<Fault> + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(ScriptedDecider {
            calls: AtomicU64::new(0),
            when: Box::new(when),
        })
    }

    /// Never fires.
    pub fn none() -> Arc<Self> {
        Self::new(|_| None)
    }
}

impl Decider for ScriptedDecider {
    fn decide(&self, call: &mut CallInfo) -> Vec<FiredFault> {
        call.call_number = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        match (self.when)(call) {
            Some(fault) => vec![FiredFault {
                rule: "test_rule".into(),
                family: if call.api.is_llm() {
                    FaultFamily::LlmFault
                } else {
                    FaultFamily::ToolFault
                },
                call_number: call.call_number,
                fault,
                seed: 1,
            }],
            None => vec![],
        }
    }
}

/// A planner from a closure that does not need the request body.
pub fn planner(
    f: impl Fn(&CallInfo, &[FiredFault]) -> CallPlan + Send + Sync + 'static,
) -> Planner {
    Arc::new(move |call: &CallInfo, fired: &[FiredFault], _body: &[u8]| f(call, fired))
}

/// A planner that never changes anything.
pub fn passthrough() -> Planner {
    planner(|_, _| CallPlan::passthrough())
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A running proxy with its CA directory and event receiver.
pub struct Proxy {
    pub handle: FaultProxyHandle,
    pub events: mpsc::Receiver<Event>,
    pub halt: CancellationToken,
    pub ca_dir: tempfile::TempDir,
}

/// Starts a proxy on 127.0.0.1:0 with a fresh CA directory.
pub async fn start_proxy(
    mut settings: ProxySettings,
    decider: Arc<dyn Decider>,
    planner: Planner,
) -> Proxy {
    let ca_dir = tempfile::tempdir().unwrap();
    settings.ca_dir = Some(ca_dir.path().to_string_lossy().into_owned());
    let (tx, events) = mpsc::channel(64);
    let halt = CancellationToken::new();
    let handle = FaultProxy::start(FaultProxyOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        settings,
        decider,
        planner,
        events: Some(tx),
        halt: halt.clone(),
    })
    .await
    .expect("proxy starts");
    Proxy {
        handle,
        events,
        halt,
        ca_dir,
    }
}

/// Settings with one route `prefix` → `upstream`.
pub fn routed(prefix: &str, upstream: &str) -> ProxySettings {
    ProxySettings {
        routes: vec![shakedown_faults::server::Route {
            prefix: prefix.into(),
            upstream: upstream.into(),
            tool: None,
        }],
        ..ProxySettings::default()
    }
}

/// Opens an HTTP/1.1 connection over any stream.
pub async fn handshake<IO>(io: IO) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request on a new connection to `addr` (the URI may be absolute: forward proxy).
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Response<Incoming>> {
    let tcp = TcpStream::connect(addr).await?;
    let mut sender = handshake(tcp).await?;
    Ok(sender.send_request(req).await?)
}

/// A request with a body.
pub fn request(method: &str, uri: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "proxy.test")
        .body(Full::new(body.into()))
        .unwrap()
}

/// The whole body.
pub async fn read_body(resp: Response<Incoming>) -> Result<Bytes> {
    Ok(resp.into_body().collect().await?.to_bytes())
}

/// Opens a `CONNECT` tunnel through the proxy to `target` (`host:port`) and returns the raw
/// stream once the proxy answered 200; other answers are returned as errors with the head.
pub async fn connect_tunnel(proxy: SocketAddr, target: &str) -> Result<TcpStream> {
    let mut tcp = TcpStream::connect(proxy).await?;
    tcp.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte so nothing after the head (the TLS handshake) is consumed; bounded.
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || tcp.read(&mut byte).await? == 0 {
            bail!(
                "proxy closed during CONNECT: {}",
                String::from_utf8_lossy(&head)
            );
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    if !head.starts_with("HTTP/1.1 200") {
        bail!("CONNECT refused: {head}");
    }
    Ok(tcp)
}

/// A rustls client config trusting only the PEM certificates in `files`.
pub fn client_config(files: &[&std::path::Path]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for f in files {
        for c in CertificateDer::pem_file_iter(f).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
    }
    Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// `CONNECT` to `host:port`, then TLS (SNI `host`) with `config`, then HTTP/1.1.
pub async fn https_via_connect(
    proxy: SocketAddr,
    host: &str,
    port: u16,
    config: Arc<ClientConfig>,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let tcp = connect_tunnel(proxy, &format!("{host}:{port}")).await?;
    let name = ServerName::try_from(host.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .context("TLS handshake inside the tunnel")?;
    handshake(tls).await
}

/// Receives the next event within a second.
pub async fn next_event(rx: &mut mpsc::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(1), rx.recv())
        .await
        .expect("an event within 1s")
        .expect("events channel open")
}

/// A port nothing listens on (bound, then released).
pub async fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}
