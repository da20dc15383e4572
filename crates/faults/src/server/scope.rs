//! Where the proxy may send calls. Routes are trusted config and may point anywhere; forward
//! proxy and `CONNECT` targets must be loopback unless listed in `allow_hosts`, so a fault
//! proxy left running cannot be used to reach the outside world.

use std::net::{IpAddr, SocketAddr};

/// The hosts forward-proxy and `CONNECT` calls may reach.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Lower-cased `allow_hosts` entries; `*.example.com` matches subdomains only.
    allow: Vec<String>,
}

impl Scope {
    /// A scope allowing loopback plus `allow_hosts`.
    pub fn new(allow_hosts: &[String]) -> Scope {
        Scope {
            allow: allow_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    /// Whether `host` is listed in `allow_hosts`.
    pub fn is_listed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow.iter().any(|pat| match pat.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
            None => *pat == host,
        })
    }

    /// A cheap check on the name before any lookup: loopback literals, `localhost`, or listed.
    /// Names that are neither are refused without resolving them.
    pub fn admits_name(&self, host: &str) -> bool {
        self.is_listed(host) || is_loopback_name(host)
    }

    /// The check on resolved addresses: unlisted hosts must resolve to loopback only (so a
    /// name that points outside cannot slip through as `localhost`).
    pub fn admits_addrs(&self, host: &str, addrs: &[SocketAddr]) -> bool {
        self.is_listed(host) || (!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()))
    }
}

/// `127.0.0.0/8`, `::1`, `localhost` and `*.localhost`.
pub fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_hosts_only() {
        let s = Scope::new(&["api.example.com".into(), "*.corp.test".into()]);
        assert!(s.admits_name("127.0.0.1"));
        assert!(s.admits_name("[::1]"));
        assert!(s.admits_name("LOCALHOST"));
        assert!(s.admits_name("api.example.com"));
        assert!(s.admits_name("a.corp.test"));
        assert!(!s.admits_name("corp.test"));
        assert!(!s.admits_name("evilcorp.test"));
        assert!(!s.admits_name("example.com"));
        assert!(!s.admits_name("10.0.0.1"));
        let lo: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let out: SocketAddr = "93.184.216.34:80".parse().unwrap();
        assert!(s.admits_addrs("localhost", &[lo]));
        assert!(!s.admits_addrs("localhost", &[lo, out]));
        assert!(s.admits_addrs("api.example.com", &[out]));
    }
}
