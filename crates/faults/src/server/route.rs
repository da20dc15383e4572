//! Reverse-proxy routing: the longest matching prefix wins, the prefix is stripped and the
//! rest is appended to the route's upstream base URL.

use http::Uri;

use super::settings::Route;

/// The scheme of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

/// Where a call goes: scheme, host and port of the upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl Target {
    /// Parses the scheme and authority of an absolute URI.
    pub fn from_uri(uri: &Uri) -> Result<Target, String> {
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(other) => return Err(format!("unsupported scheme `{other}` (use http or https)")),
            None => {
                return Err(format!(
                    "`{uri}` has no scheme (write http://… or https://…)"
                ));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("`{uri}` has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
        Ok(Target { scheme, host, port })
    }

    /// `host:port` as a `CONNECT` target names it (`[::1]:443` for IPv6).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The `Host` header value: the port is left out when it is the scheme's default.
    pub fn host_header(&self) -> String {
        let default = match self.scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        if self.port == default {
            if self.host.contains(':') {
                format!("[{}]", self.host)
            } else {
                self.host.clone()
            }
        } else {
            self.host_port()
        }
    }

    /// `scheme://host:port`, the start of every URL built for this target.
    pub fn origin(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}", self.host_port())
    }
}

/// A route ready to match.
#[derive(Debug, Clone)]
struct Compiled {
    prefix: String,
    target: Target,
    /// The upstream URL's own path (`/v1` in `http://h:1/v1`), without a trailing `/`.
    base_path: String,
    tool: Option<String>,
}

/// A matched route.
#[derive(Debug, Clone)]
pub struct Matched<'a> {
    pub target: &'a Target,
    /// Path and query the upstream sees: base path + the request path without the prefix.
    pub upstream_path: String,
    pub tool: Option<&'a str>,
}

/// The configured routes, longest prefix first.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Compiled>,
}

impl RouteTable {
    /// Validates and orders the routes.
    pub fn new(routes: &[Route]) -> Result<RouteTable, String> {
        let mut out = Vec::with_capacity(routes.len());
        for (i, r) in routes.iter().enumerate() {
            if !r.prefix.starts_with('/') {
                return Err(format!(
                    "proxy.routes[{i}].prefix `{}` must start with `/`",
                    r.prefix
                ));
            }
            let uri: Uri = r.upstream.parse().map_err(|e| {
                format!(
                    "proxy.routes[{i}].upstream `{}` is not a URL: {e}",
                    r.upstream
                )
            })?;
            let target =
                Target::from_uri(&uri).map_err(|e| format!("proxy.routes[{i}].upstream: {e}"))?;
            if uri.query().is_some() {
                return Err(format!(
                    "proxy.routes[{i}].upstream `{}` must not carry a query string",
                    r.upstream
                ));
            }
            let base_path = uri.path().trim_end_matches('/').to_string();
            let prefix = if r.prefix.len() > 1 {
                r.prefix.trim_end_matches('/').to_string()
            } else {
                r.prefix.clone()
            };
            out.push(Compiled {
                prefix,
                target,
                base_path,
                tool: r.tool.clone(),
            });
        }
        // Stable: among equal lengths the first configured wins.
        out.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(RouteTable { routes: out })
    }

    /// Whether any route is configured.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The route for a request path (with its query), if any.
    pub fn resolve(&self, path_and_query: &str) -> Option<Matched<'_>> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let route = self
            .routes
            .iter()
            .find(|r| prefix_matches(&r.prefix, path))?;
        let rest = if route.prefix == "/" {
            path
        } else {
            &path[route.prefix.len()..]
        };
        let mut upstream_path = format!("{}{}", route.base_path, rest);
        if !upstream_path.starts_with('/') {
            upstream_path.insert(0, '/');
        }
        if let Some(q) = query {
            upstream_path.push('?');
            upstream_path.push_str(q);
        }
        Some(Matched {
            target: &route.target,
            upstream_path,
            tool: route.tool.as_deref(),
        })
    }
}

/// `/openai` matches `/openai` and `/openai/…`, never `/openaix`.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, upstream: &str) -> Route {
        Route {
            prefix: prefix.into(),
            upstream: upstream.into(),
            tool: None,
        }
    }

    #[test]
    fn longest_prefix_wins_and_is_stripped() {
        let t = RouteTable::new(&[
            route("/", "http://127.0.0.1:1"),
            route("/openai", "http://127.0.0.1:2/v1/"),
            route("/openai/special", "https://localhost:3"),
        ])
        .unwrap();
        let m = t.resolve("/openai/chat/completions?x=1").unwrap();
        assert_eq!(m.target.port, 2);
        assert_eq!(m.upstream_path, "/v1/chat/completions?x=1");
        let m = t.resolve("/openai/special/a").unwrap();
        assert_eq!((m.target.port, m.target.scheme), (3, Scheme::Https));
        assert_eq!(m.upstream_path, "/a");
        let m = t.resolve("/openaix").unwrap();
        assert_eq!((m.target.port, m.upstream_path.as_str()), (1, "/openaix"));
        let m = t.resolve("/openai").unwrap();
        assert_eq!(m.upstream_path, "/v1");
    }

    #[test]
    fn bad_routes_are_refused_with_their_index() {
        let e = RouteTable::new(&[route("openai", "http://127.0.0.1:1")]).unwrap_err();
        assert!(e.contains("routes[0].prefix"), "{e}");
        let e = RouteTable::new(&[route("/a", "ftp://x")]).unwrap_err();
        assert!(e.contains("scheme"), "{e}");
        assert!(RouteTable::new(&[]).unwrap().resolve("/x").is_none());
    }

    #[test]
    fn host_header_omits_default_ports() {
        let t = Target::from_uri(&"https://[::1]/x".parse().unwrap()).unwrap();
        assert_eq!(t.host_header(), "[::1]");
        assert_eq!(t.host_port(), "[::1]:443");
    }
}
