//! How the fault proxy listens and where it sends calls: the `proxy:` block of a fault config
//! (Shakedown's extension to Flakestorm's `chaos:` block).

use schemars::JsonSchema;
use serde::Deserialize;
use shakedown_core::ByteSize;

/// Request bodies above this are answered 413 when the config sets no `max_request_body`.
pub const DEFAULT_MAX_REQUEST_BODY: u64 = 16 * ByteSize::MIB;

/// One reverse-proxy route: requests whose path starts with `prefix` go to `upstream` with the
/// prefix stripped (`/openai/v1/chat/completions` → `{upstream}/v1/chat/completions`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Path prefix, starting with `/` (`/openai`, `/tools/search`). `/` matches everything.
    pub prefix: String,
    /// Base URL of the upstream (`http://127.0.0.1:9000` or `https://api.openai.com`).
    pub upstream: String,
    /// Tool name for calls on this route, when the request itself does not name one.
    #[serde(default)]
    pub tool: Option<String>,
}

/// The `proxy:` block.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// Address to listen on (`127.0.0.1:8480`); the CLI's `--listen` wins.
    #[serde(default)]
    pub listen: Option<String>,
    /// Reverse-proxy routes, longest prefix first when matching.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Also act as a forward proxy (`HTTP_PROXY`, absolute-form requests and `CONNECT`).
    #[serde(default = "yes")]
    pub forward: bool,
    /// Intercept TLS inside `CONNECT` with a locally generated CA (otherwise CONNECT tunnels
    /// bytes untouched and no fault can apply to them).
    #[serde(default = "yes")]
    pub intercept_tls: bool,
    /// Where the generated CA certificate and key are written (`ca.pem`, `ca.key`).
    #[serde(default)]
    pub ca_dir: Option<String>,
    /// Extra root certificates (PEM) the proxy trusts for HTTPS upstreams, for example a
    /// local test server's self-signed certificate.
    #[serde(default)]
    pub upstream_ca_file: Option<String>,
    /// Hosts the forward proxy and `CONNECT` may reach besides loopback (`api.example.com`,
    /// `*.example.com`). Routes are trusted config and need no entry here.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Largest request body the proxy buffers (`16MB` when unset); larger ones get a 413.
    #[serde(default)]
    pub max_request_body: Option<ByteSize>,
}

impl Default for ProxySettings {
    /// The same defaults an empty `proxy:` block gets (forward proxy and interception on).
    fn default() -> ProxySettings {
        ProxySettings {
            listen: None,
            routes: Vec::new(),
            forward: true,
            intercept_tls: true,
            ca_dir: None,
            upstream_ca_file: None,
            allow_hosts: Vec::new(),
            max_request_body: None,
        }
    }
}

impl ProxySettings {
    /// The request body cap in bytes.
    pub fn max_request_body_bytes(&self) -> u64 {
        self.max_request_body
            .map_or(DEFAULT_MAX_REQUEST_BODY, ByteSize::bytes)
    }
}

fn yes() -> bool {
    true
}
