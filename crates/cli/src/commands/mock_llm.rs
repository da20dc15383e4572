//! `shakedown mock-llm`: the deterministic local LLM server (OpenAI Chat Completions, the
//! Responses API, Anthropic Messages), scripted by a rules file. Runs until Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use shakedown_mockllm::{Rules, load_rules};

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct MockLlmArgs {
    /// Where clients connect (set OPENAI_BASE_URL to http://ADDR/v1, ANTHROPIC_BASE_URL to
    /// http://ADDR).
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    /// The rules file (docs/mock-llm.md). Without it every request gets the default reply.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
}

/// Reads a rules file; `None` when it has errors (printed, located).
fn read_rules(path: &Path) -> anyhow::Result<Option<Rules>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read rules file {}", path.display()))?;
    match load_rules(&text) {
        Ok(rules) => Ok(Some(rules)),
        Err(problems) => {
            let name = path.display().to_string();
            eprintln!(
                "{}\n{name}: {} error(s); the file was not used",
                problems.render(&name),
                problems.errors().count()
            );
            Ok(None)
        }
    }
}

/// A mock LLM served inside this process (for `shakedown run --mock-llm`).
pub struct InProcessMock {
    pub addr: SocketAddr,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl InProcessMock {
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Starts the mock on 127.0.0.1 with the rules of `path`.
pub async fn start_in_process(path: &Path) -> anyhow::Result<InProcessMock> {
    let Some(rules) = read_rules(path)? else {
        anyhow::bail!("the mock LLM rules {} have errors (above)", path.display());
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = shakedown_mockllm::local_addr(&listener)?;
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    let task = tokio::spawn(async move {
        let _ = shakedown_mockllm::serve(listener, rules, async move { s.cancelled().await }).await;
    });
    Ok(InProcessMock { addr, stop, task })
}

pub async fn run(args: MockLlmArgs) -> anyhow::Result<Exit> {
    let rules = match &args.rules {
        None => Rules::default(),
        Some(path) => match read_rules(path)? {
            Some(rules) => rules,
            None => return Ok(Exit::Error),
        },
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = shakedown_mockllm::local_addr(&listener)?;
    eprintln!(
        "mock-llm listening on http://{addr} ({} rule(s)); Ctrl-C stops it",
        rules.rules.len()
    );
    let halt = crate::halt::on_signals();
    shakedown_mockllm::serve(listener, rules, async move { halt.cancelled().await }).await?;
    Ok(Exit::Passed)
}
