//! Scope rules: which hosts may receive attack traffic.

use std::net::IpAddr;

use ipnet::IpNet;

/// One parsed `scope.allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeEntry {
    Net(IpNet),
    /// An exact host name, compared case-insensitively.
    Host(String),
}

impl ScopeEntry {
    /// Parses `10.0.0.0/8`, `127.0.0.1`, `::1` or `api.staging.internal`.
    pub fn parse(s: &str) -> Result<ScopeEntry, String> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(ScopeEntry::Net(net.trunc()));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(ScopeEntry::Net(IpNet::from(ip)));
        }
        let valid_host = !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
            });
        if valid_host {
            Ok(ScopeEntry::Host(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "`{s}` is not an IP address, a CIDR block or a host name"
            ))
        }
    }
}

/// The whole allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRule {
    pub entries: Vec<ScopeEntry>,
}

impl ScopeRule {
    pub fn parse(allow: &[String]) -> Result<ScopeRule, String> {
        let entries = allow
            .iter()
            .map(|s| ScopeEntry::parse(s))
            .collect::<Result<_, _>>()?;
        Ok(ScopeRule { entries })
    }

    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.entries
            .iter()
            .any(|e| matches!(e, ScopeEntry::Net(n) if n.contains(&ip)))
    }

    /// Whether a host name is listed by name. A listed name is trusted as written; an unlisted
    /// one must resolve only to permitted addresses.
    pub fn lists_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.entries
            .iter()
            .any(|e| matches!(e, ScopeEntry::Host(h) if *h == host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scope_is_loopback_only() {
        let rule = ScopeRule::parse(&["127.0.0.0/8".into(), "::1/128".into()]).unwrap();
        assert!(rule.permits_ip("127.0.0.1".parse().unwrap()));
        assert!(rule.permits_ip("127.9.8.7".parse().unwrap()));
        assert!(rule.permits_ip("::1".parse().unwrap()));
        assert!(rule.permits_ip("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!rule.permits_ip("10.0.0.1".parse().unwrap()));
        assert!(!rule.permits_ip("8.8.8.8".parse().unwrap()));
        assert!(!rule.permits_ip("::2".parse().unwrap()));
    }

    #[test]
    fn entries_parse_or_explain() {
        assert_eq!(
            ScopeEntry::parse("10.1.2.3/8").unwrap(),
            ScopeEntry::Net("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            ScopeEntry::parse("Api.Local").unwrap(),
            ScopeEntry::Host("api.local".into())
        );
        assert!(ScopeEntry::parse("10.0.0.0/99").is_err());
        assert!(ScopeEntry::parse("http://x").is_err());
        assert!(ScopeEntry::parse("").is_err());
    }
}
