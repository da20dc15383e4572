//! Why a run could not be carried out (as opposed to a run whose agent failed its checks).

use shakedown_pgserver::PgError;
use shakedown_sandbox::SandboxError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("sandbox database: {0}")]
    Database(#[from] PgError),
    #[error("agent sandbox: {0}")]
    Sandbox(#[from] SandboxError),
    #[error("PostgreSQL proxy: {0}")]
    PgProxy(String),
    #[error("fault proxy: {0}")]
    FaultProxy(String),
    #[error("chaos script: {0}")]
    Chaos(String),
    #[error("agent URL: {0}")]
    AgentUrl(String),
    #[error("{0}")]
    Invalid(String),
}
