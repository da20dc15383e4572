//! Kinds of component a system file can describe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a component is; it decides which attack patterns apply by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    /// An HTTP API reached at `target`.
    ApiEndpoint,
    Database,
    MessageBus,
    RemoteAccess,
    RagPipeline,
    Agent,
}

impl ComponentKind {
    pub const ALL: [ComponentKind; 6] = [
        ComponentKind::ApiEndpoint,
        ComponentKind::Database,
        ComponentKind::MessageBus,
        ComponentKind::RemoteAccess,
        ComponentKind::RagPipeline,
        ComponentKind::Agent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::ApiEndpoint => "api_endpoint",
            ComponentKind::Database => "database",
            ComponentKind::MessageBus => "message_bus",
            ComponentKind::RemoteAccess => "remote_access",
            ComponentKind::RagPipeline => "rag_pipeline",
            ComponentKind::Agent => "agent",
        }
    }
}

impl std::fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
