//! Collects what an attack observed into [`Evidence`]: a status histogram, latency
//! percentiles (HDR histogram, microseconds), a few telling samples and findings.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use shakedown_core::result::{Evidence, LatencySummary, Sample};

use crate::http::{HttpRequest, Outcome};

/// Samples kept per attack.
pub const MAX_SAMPLES: usize = 8;
/// Characters of a response body kept in a sample.
pub const EXCERPT_CHARS: usize = 240;

/// Accumulates evidence while an attack runs.
pub struct Recorder {
    requests_sent: u64,
    histogram: BTreeMap<String, u64>,
    latency: Histogram<u64>,
    samples: Vec<Sample>,
    findings: Vec<String>,
    metrics: BTreeMap<String, serde_json::Value>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            requests_sent: 0,
            histogram: BTreeMap::new(),
            // 1 µs .. 1 h, 3 significant digits.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            samples: Vec::new(),
            findings: Vec::new(),
            metrics: BTreeMap::new(),
        }
    }
}

/// Cuts text to at most `n` characters, marking the cut.
pub fn excerpt(text: &str, n: usize) -> String {
    let mut out: String = text.chars().take(n).collect();
    if text.chars().nth(n).is_some() {
        out.push('…');
    }
    out
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Counts one request and its outcome.
    pub fn record(&mut self, outcome: &Outcome) {
        self.requests_sent += 1;
        *self.histogram.entry(outcome.label()).or_default() += 1;
        let latency = match outcome {
            Outcome::Response(r) => Some(r.latency),
            Outcome::Timeout(d) => Some(*d),
            _ => None,
        };
        if let Some(d) = latency {
            self.latency_sample(d);
        }
    }

    /// Counts a request whose outcome is given by label (raw-socket attacks).
    pub fn record_label(&mut self, label: &str, latency: Option<Duration>) {
        self.requests_sent += 1;
        *self.histogram.entry(label.to_string()).or_default() += 1;
        if let Some(d) = latency {
            self.latency_sample(d);
        }
    }

    pub fn latency_sample(&mut self, d: Duration) {
        let micros = (d.as_micros() as u64).clamp(1, 3_600_000_000);
        let _ = self.latency.record(micros);
    }

    /// Keeps `req`/`outcome` as a sample (up to [`MAX_SAMPLES`]).
    pub fn sample(&mut self, req: &HttpRequest, outcome: &Outcome) {
        self.sample_described(req.describe(), outcome);
    }

    pub fn sample_described(&mut self, request: String, outcome: &Outcome) {
        if self.samples.len() >= MAX_SAMPLES {
            return;
        }
        let (status, what, latency, text) = match outcome {
            Outcome::Response(r) => (
                Some(r.status),
                "response".to_string(),
                r.latency,
                r.body_text(),
            ),
            Outcome::Timeout(d) => (None, "timeout".to_string(), *d, String::new()),
            Outcome::ConnectError(e) => (None, "connect error".into(), Duration::ZERO, e.clone()),
            Outcome::Closed(e) => (None, "connection closed".into(), Duration::ZERO, e.clone()),
        };
        self.samples.push(Sample {
            request,
            status,
            outcome: what,
            latency_ms: latency.as_secs_f64() * 1000.0,
            excerpt: excerpt(&text, EXCERPT_CHARS),
        });
    }

    /// Adds a free-form sample (raw-socket attacks).
    pub fn sample_raw(&mut self, sample: Sample) {
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(sample);
        }
    }

    pub fn finding(&mut self, text: impl Into<String>) {
        self.findings.push(text.into());
    }

    pub fn metric(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.metrics.insert(key.to_string(), value.into());
    }

    pub fn requests_sent(&self) -> u64 {
        self.requests_sent
    }

    pub fn count(&self, label: &str) -> u64 {
        self.histogram.get(label).copied().unwrap_or(0)
    }

    pub fn finish(self) -> Evidence {
        let latency = (!self.latency.is_empty()).then(|| {
            let ms = |v: u64| v as f64 / 1000.0;
            LatencySummary {
                p50_ms: ms(self.latency.value_at_quantile(0.50)),
                p90_ms: ms(self.latency.value_at_quantile(0.90)),
                p99_ms: ms(self.latency.value_at_quantile(0.99)),
                max_ms: ms(self.latency.max()),
                mean_ms: self.latency.mean() / 1000.0,
            }
        });
        Evidence {
            requests_sent: self.requests_sent,
            status_histogram: self.histogram,
            latency,
            samples: self.samples,
            findings: self.findings,
            metrics: self.metrics,
        }
    }
}
