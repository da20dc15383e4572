//! NATS server URLs: `nats://[user:password@|token@]host[:port]`, several separated by commas
//! (tried in order on every (re)connection). `%XX` escapes in credentials are decoded.

use super::error::NatsError;

/// The default client port of nats-server.
pub const DEFAULT_PORT: u16 = 4222;

/// Credentials taken from the URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    UserPassword { user: String, password: String },
    Token(String),
}

impl std::fmt::Debug for Auth {
    // Never print a secret, not even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPassword { user, .. } => write!(f, "UserPassword({user}, ***)"),
            Auth::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// One server to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    pub host: String,
    pub port: u16,
    pub auth: Auth,
}

impl std::fmt::Display for ServerAddr {
    /// `host:port`, without credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses a comma-separated list of NATS URLs. A URL without a scheme is taken as
/// `nats://`.
pub fn parse_servers(urls: &str) -> Result<Vec<ServerAddr>, NatsError> {
    let list: Vec<&str> = urls
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        return Err(bad(urls, "it is empty"));
    }
    list.into_iter().map(parse_one).collect()
}

fn bad(url: &str, reason: &str) -> NatsError {
    NatsError::Url {
        url: redact(url),
        reason: reason.to_string(),
    }
}

/// The URL with any credentials replaced, for error messages.
fn redact(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((before, after)) => {
            let scheme = before.split_once("://").map_or("", |(s, _)| s);
            if scheme.is_empty() {
                format!("***@{after}")
            } else {
                format!("{scheme}://***@{after}")
            }
        }
        None => url.to_string(),
    }
}

fn parse_one(url: &str) -> Result<ServerAddr, NatsError> {
    let rest = match url.split_once("://") {
        Some(("nats", rest)) => rest,
        Some(("tls", _)) => {
            return Err(bad(
                url,
                "tls:// is not supported; use a plain nats:// server on loopback",
            ));
        }
        Some((scheme, _)) => {
            return Err(bad(url, &format!("the scheme `{scheme}` is not nats")));
        }
        None => url,
    };
    // Nothing after the authority: paths and queries mean nothing to NATS.
    if rest.contains(['/', '?', '#']) {
        return Err(bad(url, "a NATS URL has no path, query or fragment"));
    }
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let auth = match userinfo {
        None => Auth::None,
        Some(u) => match u.split_once(':') {
            Some((user, password)) => Auth::UserPassword {
                user: decode(url, user)?,
                password: decode(url, password)?,
            },
            None if u.is_empty() => return Err(bad(url, "empty credentials before `@`")),
            None => Auth::Token(decode(url, u)?),
        },
    };
    let (host, port) = split_host_port(url, hostport)?;
    Ok(ServerAddr { host, port, auth })
}

fn split_host_port(url: &str, hostport: &str) -> Result<(String, u16), NatsError> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| bad(url, "an IPv6 address without its closing `]`"))?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad(url, "unexpected text after the IPv6 address")),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad(url, "no host"));
    }
    if host.contains(|c: char| c.is_whitespace() || c == ':') && !hostport.starts_with('[') {
        return Err(bad(url, "the host contains spaces or colons"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(bad(url, &format!("the port `{p}` is not 1-65535"))),
            Ok(n) => n,
        },
    };
    Ok((host.to_string(), port))
}

/// Decodes `%XX` escapes (credentials may contain `@`, `:` or `,` that way).
fn decode(url: &str, s: &str) -> Result<String, NatsError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    bad(
                        url,
                        "a `%` in the credentials not followed by two hex digits",
                    )
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(url, "the credentials are not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_credentials() {
        let s = parse_servers("nats://127.0.0.1:4333").unwrap();
        assert_eq!(
            s,
            vec![ServerAddr {
                host: "127.0.0.1".into(),
                port: 4333,
                auth: Auth::None
            }]
        );
        let s = parse_servers("nats://al%40ice:p%3Ass@localhost, [::1]:5000,tok@h").unwrap();
        assert_eq!(
            s[0].auth,
            Auth::UserPassword {
                user: "al@ice".into(),
                password: "p:ss".into()
            }
        );
        assert_eq!(s[0].port, DEFAULT_PORT);
        assert_eq!((s[1].host.as_str(), s[1].port), ("::1", 5000));
        assert_eq!(s[1].to_string(), "[::1]:5000");
        assert_eq!(s[2].auth, Auth::Token("tok".into()));
    }

    #[test]
    fn bad_urls_are_clear_and_never_echo_secrets() {
        for (url, want) in [
            ("", "empty"),
            ("http://x:1", "scheme `http`"),
            ("tls://x:1", "tls://"),
            ("nats://x:0", "not 1-65535"),
            ("nats://x:http", "not 1-65535"),
            ("nats://:4222", "no host"),
            ("nats://x:1/path", "no path"),
            ("nats://[::1:4222", "closing"),
            ("nats://u:%zz@x", "hex"),
        ] {
            let e = parse_servers(url).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e}");
            assert!(e.contains("nats://[user:password@|token@]host"), "{e}");
        }
        let e = parse_servers("nats://user:secret@x:0")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
        assert!(!format!("{:?}", Auth::Token("secret".into())).contains("secret"));
    }
}
