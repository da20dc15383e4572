//! Prometheus metrics of the server, rendered in the text exposition format (0.0.4): requests
//! by route template, method and status; campaigns running in this server; whether chaos is
//! halted; error budget remaining per environment. Routes are counted by their template
//! (`/api/chaos/campaigns/{id}`), never the raw path, so a client cannot grow the series
//! without bound.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::PoisonError;

/// Request counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
}

/// Gauges read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub campaigns_running: usize,
    pub halted: bool,
    /// Environment → remaining fraction of its error budget.
    pub budgets: BTreeMap<String, f64>,
    pub event_streams: usize,
}

impl Metrics {
    /// Counts one answered request. `route` is the matched template, or `unmatched`.
    pub fn record(&self, route: &str, method: &str, status: u16) {
        let mut m = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        *m.entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
    }

    /// Requests counted so far for one route and status (tests and `/api/chaos/status`).
    pub fn count(&self, route: &str, status: u16) -> u64 {
        let m = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        m.iter()
            .filter(|((r, _, s), _)| r == route && *s == status)
            .map(|(_, n)| n)
            .sum()
    }

    /// The exposition text.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP shakedown_http_requests_total API requests answered, by route template, method and status.\n\
             # TYPE shakedown_http_requests_total counter\n",
        );
        {
            let m = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            for ((route, method, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "shakedown_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                    escape(route),
                    escape(method)
                );
            }
        }
        let _ = write!(
            out,
            "# HELP shakedown_campaigns_running Campaigns this server is running now.\n\
             # TYPE shakedown_campaigns_running gauge\n\
             shakedown_campaigns_running {}\n\
             # HELP shakedown_halted 1 while chaos is halted (nothing new starts until resume).\n\
             # TYPE shakedown_halted gauge\n\
             shakedown_halted {}\n\
             # HELP shakedown_event_streams Open /api/events streams.\n\
             # TYPE shakedown_event_streams gauge\n\
             shakedown_event_streams {}\n\
             # HELP shakedown_error_budget_remaining Remaining error budget per environment (0..1).\n\
             # TYPE shakedown_error_budget_remaining gauge\n",
            g.campaigns_running,
            u8::from(g.halted),
            g.event_streams,
        );
        for (env, remaining) in &g.budgets {
            let _ = writeln!(
                out,
                "shakedown_error_budget_remaining{{environment=\"{}\"}} {remaining}",
                escape(env)
            );
        }
        out
    }
}

/// Label values escape backslash, quote and newline.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let m = Metrics::default();
        m.record("/api/health", "GET", 200);
        m.record("/api/health", "GET", 200);
        m.record("unmatched", "GET", 404);
        let mut g = Gauges {
            campaigns_running: 2,
            halted: true,
            ..Gauges::default()
        };
        g.budgets.insert("staging".into(), 0.5);
        let text = m.render(&g);
        assert!(text.contains(
            "shakedown_http_requests_total{route=\"/api/health\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains("shakedown_campaigns_running 2\n"));
        assert!(text.contains("shakedown_halted 1\n"));
        assert!(text.contains("shakedown_error_budget_remaining{environment=\"staging\"} 0.5\n"));
        assert_eq!(m.count("unmatched", 404), 1);
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
