//! `shakedown load URL`: raw HTTP/1.1 load from the burst engine, like `oha`/`wrk` — used by
//! `scripts/bench` to compare throughput. Loopback only (the default scope).

use anyhow::Context;
use clap::Args;
use shakedown_attack::http::HttpRequest;
use shakedown_attack::load::engine::{LoadSpec, run_load};
use shakedown_attack::resolve_target;
use shakedown_core::HumanDuration;
use shakedown_core::system::{ScopeRule, load_system};

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Target URL, e.g. http://127.0.0.1:8080/ (must be inside the default loopback scope).
    pub url: String,
    /// Concurrent connections.
    #[arg(short = 'c', long, default_value_t = 50)]
    pub connections: usize,
    /// How long to run (e.g. 10s).
    #[arg(short = 'z', long, default_value = "10s")]
    pub duration: HumanDuration,
    /// Stop after this many requests (whichever comes first with --duration).
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Deadline of one request.
    #[arg(long, default_value = "10s")]
    pub timeout: HumanDuration,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: LoadArgs) -> anyhow::Result<Exit> {
    if args.connections == 0 || args.connections > 20_000 {
        anyhow::bail!(
            "--connections must be between 1 and 20000, got {}",
            args.connections
        );
    }
    // Reuse the system-file machinery so the URL is checked exactly like a component target.
    let yaml = format!(
        "components:\n  - id: load\n    kind: api_endpoint\n    target: {:?}\n",
        base(&args.url)
    );
    let (spec, _) = load_system(&yaml).map_err(|p| {
        let why: Vec<String> = p.errors().map(|e| e.message.clone()).collect();
        anyhow::anyhow!(
            "cannot load `{}`: {} (load only targets loopback)",
            args.url,
            why.join("; ")
        )
    })?;
    let scope = ScopeRule::parse(&spec.scope.allow).map_err(anyhow::Error::msg)?;
    let target = resolve_target(&spec.components[0], &scope).await?;
    let path = path_of(&args.url);
    let mut load = LoadSpec::new(target, HttpRequest::get(path));
    load.connections = args.connections;
    load.duration = args.duration.as_duration();
    load.max_requests = args.requests;
    load.per_request_timeout = args.timeout.as_duration();
    let halt = crate::halt::on_signals();
    let report = run_load(&load, &halt).await.context("load run failed")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} requests in {:.2}s: {:.0} req/s; statuses {:?}; errors {:?}",
            report.requests,
            report.duration.as_secs_f64(),
            report.rps,
            report.status_histogram,
            report.errors
        );
        if let Some(l) = &report.latency {
            println!(
                "latency p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                l.p50_ms, l.p99_ms, l.max_ms
            );
        }
    }
    Ok(Exit::Passed)
}

/// `http://h:p/x?y` → `http://h:p`.
fn base(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => url.to_string(),
    }
}

/// `http://h:p/x?y` → `/x?y` (or `/`).
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => rest[i..].to_string(),
        Some(i) => format!("/{}", &rest[i..]),
        None => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_base_and_path() {
        assert_eq!(
            base("http://127.0.0.1:8080/a/b?c=1"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(path_of("http://127.0.0.1:8080/a/b?c=1"), "/a/b?c=1");
        assert_eq!(path_of("http://127.0.0.1:8080"), "/");
        assert_eq!(path_of("http://127.0.0.1:8080?x=1"), "/?x=1");
    }
}
