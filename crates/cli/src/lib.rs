//! The `shakedown` command line: argument definitions, dispatch, exit codes.

pub mod commands;
pub mod exit;
pub mod halt;
pub mod progress;
pub mod table;

/// The hidden first argument that makes `shakedown` the sandbox launcher: confine with
/// Landlock, then exec the agent (`shakedown sandbox-exec --write DIR -- CMD…`). Handled in
/// `main` before any thread starts.
pub const SANDBOX_EXEC: &str = "sandbox-exec";

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use exit::Exit;

/// Shakedown red-teams a system before its users do: governed chaos campaigns that verify the
/// guardrails each component claims.
#[derive(Debug, Parser)]
#[command(
    name = "shakedown",
    version,
    about = "Shakedown red-teams a system — and the AI agents that act on it — before its users do: governed chaos campaigns that verify the guardrails each component claims, and sandboxed agent runs under chaos with a CI verdict.",
    long_about = None
)]
pub struct Cli {
    /// Where campaigns, runs, rankings, events and the managed PostgreSQL live (default: the
    /// platform data dir).
    #[arg(long, global = true, env = "SHAKEDOWN_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a campaign against the components of a system file (or `campaign show ID`).
    Campaign(commands::campaign::CampaignArgs),
    /// Sign an expiring approval of the exact plan a campaign would run (used with
    /// `campaign --approval FILE`).
    Approve(commands::approve::ApproveArgs),
    /// List past campaigns, newest first.
    Campaigns(commands::campaigns::CampaignsArgs),
    /// Resilience ranking of every component ever tested, weakest first.
    Resilience(commands::resilience::ResilienceArgs),
    /// List the attack patterns and what each verifies.
    Patterns,
    /// Check a system file, a SQL policy or a chaos script; every problem with line:column.
    Validate(commands::validate::ValidateArgs),
    /// Print a JSON Schema (`system`: the system file).
    Schema(commands::schema::SchemaArgs),
    /// Start two practice APIs on loopback and run a campaign against them.
    Demo(commands::demo::DemoArgs),
    /// The PostgreSQL interception proxy: classify and police every statement.
    PgProxy(commands::pg_proxy::PgProxyArgs),
    /// The HTTP fault proxy: provider-faithful LLM faults, tool faults and context attacks on
    /// the calls an agent makes (reverse proxy, HTTP_PROXY, CONNECT with TLS interception).
    FaultProxy(commands::fault_proxy::FaultProxyArgs),
    /// List the built-in fault profiles.
    Profiles,
    /// The TCP fault proxy: Toxiproxy's toxics behind a Toxiproxy-compatible admin API.
    TcpProxy(commands::tcp_proxy::TcpProxyArgs),
    /// Run an agent under chaos in a sandbox and judge it (or `run show ID`).
    Run(commands::run::RunCmd),
    /// The managed PostgreSQL cluster of agent runs: status, stop, destroy.
    PgSandbox(commands::pg_sandbox::PgSandboxArgs),
    /// Stop every campaign and agent run of this data directory now, undo their chaos, and
    /// block new ones until `shakedown resume`.
    Halt(commands::halt::HaltArgs),
    /// Lift a halt.
    Resume,
    /// Listen on NATS for `guardian.halt_chaos` (halt everything, like `shakedown halt`) and
    /// `guardian.resume_chaos` (resume), printing every action.
    Guardian(commands::guardian::GuardianArgs),
    /// List agent runs, newest first.
    Runs(commands::run_report::RunsArgs),
    /// Print a stored run's report (json, markdown, junit, sarif).
    Report(commands::run_report::ReportArgs),
    /// A run's status (running, passed, failed, terminated, error).
    Status(commands::run_report::IdArgs),
    /// Stop a running run: the agent is killed, chaos undone, the sandbox torn down.
    Terminate(commands::run_report::IdArgs),
    /// Raw HTTP load from the burst engine (benchmarks): like `oha`, loopback only.
    Load(commands::load::LoadArgs),
    /// A deterministic local LLM server (OpenAI Chat/Responses, Anthropic Messages) scripted
    /// by a rules file.
    MockLlm(commands::mock_llm::MockLlmArgs),
    /// The signed ledger of every chaos action: `verify` (exit 1 when tampered), `export`.
    Ledger(commands::ledger::LedgerArgs),
    /// The ledger's signing keys: `rotate` (recorded in the ledger, signed by the old key).
    Keys(commands::keys::KeysArgs),
    /// The REST API: campaigns, approvals, halt, ledger, budgets, events, OpenAPI, metrics
    /// (bearer tokens from `shakedown token create`).
    Serve(commands::serve::ServeArgs),
    /// Bearer tokens of the REST API: `create` (printed once), `list`, `revoke`.
    Token(commands::token::TokenArgs),
}

/// Runs one command and maps the result to the documented exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Campaign(args) => commands::campaign::run(args, cli.data_dir).await,
        Command::Approve(args) => commands::approve::run(args, cli.data_dir),
        Command::Campaigns(args) => commands::campaigns::run(args, cli.data_dir),
        Command::Resilience(args) => commands::resilience::run(args, cli.data_dir),
        Command::Patterns => commands::patterns::run(),
        Command::Validate(args) => commands::validate::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::Demo(args) => commands::demo::run(args, cli.data_dir).await,
        Command::Load(args) => commands::load::run(args).await,
        Command::MockLlm(args) => commands::mock_llm::run(args).await,
        Command::PgProxy(args) => commands::pg_proxy::run(args, cli.data_dir).await,
        Command::TcpProxy(args) => commands::tcp_proxy::run(args, cli.data_dir).await,
        Command::FaultProxy(args) => commands::fault_proxy::run(args, cli.data_dir).await,
        Command::Profiles => commands::profiles::run(),
        Command::Run(cmd) => commands::run::run(cmd, cli.data_dir).await,
        Command::PgSandbox(args) => commands::pg_sandbox::run(args, cli.data_dir).await,
        Command::Halt(args) => commands::halt::halt(args, cli.data_dir),
        Command::Resume => commands::halt::resume(cli.data_dir),
        Command::Guardian(args) => commands::guardian::run(args, cli.data_dir).await,
        Command::Runs(args) => commands::run_report::list(args, cli.data_dir),
        Command::Report(args) => commands::run_report::show(&args.id, args.format, cli.data_dir),
        Command::Status(args) => commands::run_report::status(args, cli.data_dir),
        Command::Terminate(args) => commands::run_report::terminate(args, cli.data_dir),
        Command::Ledger(args) => commands::ledger::run(args, cli.data_dir),
        Command::Keys(args) => commands::keys::run(args, cli.data_dir),
        Command::Serve(args) => commands::serve::run(args, cli.data_dir).await,
        Command::Token(args) => commands::token::run(args, cli.data_dir),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::Error.into()
        }
    }
}

/// Logs go to stderr; `RUST_LOG` overrides `-v`.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
