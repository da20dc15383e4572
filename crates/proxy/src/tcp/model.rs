//! The data of the TCP fault proxy: proxy definitions, toxics (with Toxiproxy's JSON field
//! names and defaults) and the API error type. Parsing validates everything so an invalid body
//! is refused before anything changes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An admin-API error: Toxiproxy's `{"error": "...", "status": N}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}")]
pub struct ApiError {
    /// What went wrong.
    pub error: String,
    /// The HTTP status code.
    pub status: u16,
}

impl ApiError {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            error: message.into(),
            status: 400,
        }
    }
    /// 404: no proxy by that name.
    pub fn proxy_not_found() -> Self {
        Self {
            error: "proxy not found".into(),
            status: 404,
        }
    }
    /// 404: no toxic by that name.
    pub fn toxic_not_found() -> Self {
        Self {
            error: "toxic not found".into(),
            status: 404,
        }
    }
    /// 409 with `message`: chaos is halted, no fault may be added until resumed. 409 (the
    /// request conflicts with the server's state) rather than 423, because toxiproxy-python
    /// raises only on 400, 404 and 409 and would take any other answer for success.
    pub fn halted(message: impl Into<String>) -> Self {
        Self {
            error: message.into(),
            status: 409,
        }
    }
    /// 409 with `message`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            error: message.into(),
            status: 409,
        }
    }
}

/// A proxy definition as the API reads and shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxySpec {
    /// Unique name.
    pub name: String,
    /// Where clients connect (`host:port`; port 0 picks one, shown afterwards).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where connections go.
    pub upstream: String,
    /// `false` = down: new connections are refused and open ones closed.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_listen() -> String {
    "127.0.0.1:0".into()
}
fn yes() -> bool {
    true
}

/// A stream direction: `upstream` is client → server, `downstream` server → client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Client → server.
    Upstream,
    /// Server → client.
    Downstream,
}

impl Stream {
    fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "upstream" => Ok(Self::Upstream),
            "downstream" => Ok(Self::Downstream),
            _ => Err(ApiError::bad_request(
                "stream was invalid, can be either upstream or downstream",
            )),
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
        }
    }
}

/// What a toxic does, with its attributes (milliseconds unless stated).
#[derive(Debug, Clone, PartialEq)]
pub enum ToxicKind {
    /// Delay every chunk by `latency` ± `jitter` ms.
    Latency { latency: u64, jitter: u64 },
    /// Limit throughput to `rate` KB/s.
    Bandwidth { rate: u64 },
    /// Wait `delay` ms before passing on a close.
    SlowClose { delay: u64 },
    /// Stop all data; close after `timeout` ms (0 = never close).
    Timeout { timeout: u64 },
    /// Reset both sockets (RST) after `timeout` ms.
    ResetPeer { timeout: u64 },
    /// Cut chunks into pieces of `average_size` ± `size_variation` bytes, `delay` µs apart.
    Slicer {
        average_size: u64,
        size_variation: u64,
        delay: u64,
    },
    /// Close the connection after `bytes` bytes went through in this direction.
    LimitData { bytes: u64 },
    /// Swallow every byte, never close (a partition).
    Blackhole,
    /// Before each chunk, with `probability`, pause `duration` ms (loss-like stalls).
    Stall { probability: f64, duration: u64 },
}

impl ToxicKind {
    /// The Toxiproxy type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Latency { .. } => "latency",
            Self::Bandwidth { .. } => "bandwidth",
            Self::SlowClose { .. } => "slow_close",
            Self::Timeout { .. } => "timeout",
            Self::ResetPeer { .. } => "reset_peer",
            Self::Slicer { .. } => "slicer",
            Self::LimitData { .. } => "limit_data",
            Self::Blackhole => "blackhole",
            Self::Stall { .. } => "stall",
        }
    }

    /// The attributes object as the API shows it.
    pub fn attributes(&self) -> Value {
        match self {
            Self::Latency { latency, jitter } => {
                serde_json::json!({"latency": latency, "jitter": jitter})
            }
            Self::Bandwidth { rate } => serde_json::json!({"rate": rate}),
            Self::SlowClose { delay } => serde_json::json!({"delay": delay}),
            Self::Timeout { timeout } | Self::ResetPeer { timeout } => {
                serde_json::json!({"timeout": timeout})
            }
            Self::Slicer {
                average_size,
                size_variation,
                delay,
            } => serde_json::json!({
                "average_size": average_size, "size_variation": size_variation, "delay": delay
            }),
            Self::LimitData { bytes } => serde_json::json!({"bytes": bytes}),
            Self::Blackhole => serde_json::json!({}),
            Self::Stall {
                probability,
                duration,
            } => serde_json::json!({"probability": probability, "duration": duration}),
        }
    }

    /// Builds a kind from its type name and attributes; `base` supplies attributes left out
    /// (an update keeps the old values, a create uses the defaults).
    pub fn from_parts(
        type_name: &str,
        attrs: &Value,
        base: Option<&Self>,
    ) -> Result<Self, ApiError> {
        let obj = match attrs {
            Value::Null => serde_json::Map::new(),
            Value::Object(m) => m.clone(),
            _ => return Err(ApiError::bad_request("attributes must be an object")),
        };
        let base_attrs = base.map(Self::attributes);
        let int = |key: &str| -> Result<u64, ApiError> {
            let v = obj
                .get(key)
                .or_else(|| base_attrs.as_ref().and_then(|b| b.get(key)));
            match v {
                None => Ok(0),
                Some(v) => v.as_u64().ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "attribute {key} of a {type_name} toxic must be a non-negative integer"
                    ))
                }),
            }
        };
        let kind = match type_name {
            "latency" => Self::Latency {
                latency: int("latency")?,
                jitter: int("jitter")?,
            },
            "bandwidth" => Self::Bandwidth { rate: int("rate")? },
            "slow_close" => Self::SlowClose {
                delay: int("delay")?,
            },
            "timeout" => Self::Timeout {
                timeout: int("timeout")?,
            },
            "reset_peer" => Self::ResetPeer {
                timeout: int("timeout")?,
            },
            "slicer" => Self::Slicer {
                average_size: int("average_size")?,
                size_variation: int("size_variation")?,
                delay: int("delay")?,
            },
            "limit_data" => Self::LimitData {
                bytes: int("bytes")?,
            },
            "blackhole" => Self::Blackhole,
            "stall" => {
                let p = obj
                    .get("probability")
                    .or_else(|| base_attrs.as_ref().and_then(|b| b.get("probability")));
                let probability = match p {
                    None => 0.0,
                    Some(v) => v
                        .as_f64()
                        .filter(|p| (0.0..=1.0).contains(p))
                        .ok_or_else(|| {
                            ApiError::bad_request("attribute probability must be between 0 and 1")
                        })?,
                };
                Self::Stall {
                    probability,
                    duration: int("duration")?,
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid toxic type: {other:?} (latency, bandwidth, slow_close, timeout, \
                     reset_peer, slicer, limit_data, blackhole, stall)"
                )));
            }
        };
        if let Self::Slicer { average_size, .. } = kind
            && average_size == 0
        {
            return Err(ApiError::bad_request(
                "attribute average_size of a slicer toxic must be at least 1",
            ));
        }
        Ok(kind)
    }
}

/// A toxic on a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct ToxicSpec {
    /// Unique per proxy; defaults to `<type>_<stream>`.
    pub name: String,
    /// The direction it acts on.
    pub stream: Stream,
    /// Probability (0..=1) that a connection is affected; drawn once per connection.
    pub toxicity: f64,
    /// What it does.
    pub kind: ToxicKind,
}

impl ToxicSpec {
    /// The API's JSON shape.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "type": self.kind.type_name(),
            "stream": self.stream.as_str(),
            "toxicity": self.toxicity,
            "attributes": self.kind.attributes(),
        })
    }

    /// Parses a create body (`{name?, type, stream?, toxicity?, attributes?}`).
    pub fn from_create(body: &Value) -> Result<Self, ApiError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::bad_request("bad request body: expected a JSON object"))?;
        let type_name = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("missing required field: type"))?;
        let stream = match obj.get("stream") {
            None | Some(Value::Null) => Stream::Downstream,
            Some(Value::String(s)) if s.is_empty() => Stream::Downstream,
            Some(Value::String(s)) => Stream::parse(s)?,
            Some(_) => return Err(ApiError::bad_request("stream must be a string")),
        };
        let toxicity = parse_toxicity(obj.get("toxicity"), 1.0)?;
        let kind = ToxicKind::from_parts(
            type_name,
            obj.get("attributes").unwrap_or(&Value::Null),
            None,
        )?;
        let name = match obj.get("name") {
            None | Some(Value::Null) => format!("{type_name}_{}", stream.as_str()),
            Some(Value::String(s)) if s.is_empty() => format!("{type_name}_{}", stream.as_str()),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(ApiError::bad_request("name must be a string")),
        };
        Ok(Self {
            name,
            stream,
            toxicity,
            kind,
        })
    }

    /// Applies an update body: fields left out keep their values; the type cannot change.
    pub fn updated(&self, body: &Value) -> Result<Self, ApiError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::bad_request("bad request body: expected a JSON object"))?;
        if let Some(t) = obj.get("type").and_then(Value::as_str)
            && t != self.kind.type_name()
        {
            return Err(ApiError::bad_request("cannot change the type of a toxic"));
        }
        let stream = match obj.get("stream").and_then(Value::as_str) {
            Some(s) if !s.is_empty() => Stream::parse(s)?,
            _ => self.stream,
        };
        let toxicity = parse_toxicity(obj.get("toxicity"), self.toxicity)?;
        let kind = ToxicKind::from_parts(
            self.kind.type_name(),
            obj.get("attributes").unwrap_or(&Value::Null),
            Some(&self.kind),
        )?;
        Ok(Self {
            name: self.name.clone(),
            stream,
            toxicity,
            kind,
        })
    }
}

fn parse_toxicity(v: Option<&Value>, default: f64) -> Result<f64, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|t| (0.0..=1.0).contains(t))
            .ok_or_else(|| ApiError::bad_request("toxicity must be a number between 0 and 1")),
    }
}
