//! The shipped policies and chaos scripts (embedded by the sql crate), resolved for commands.

pub use shakedown_sql::builtin::{CHAOS_SCRIPTS, POLICIES};

/// Reads `value` as a file if it is one, else as a built-in name. Returns (display name, text).
pub fn resolve(
    value: &str,
    builtins: &[(&str, &str)],
    what: &str,
) -> anyhow::Result<(String, String)> {
    shakedown_sql::builtin::resolve(value, builtins, what).map_err(anyhow::Error::msg)
}
