//! The policies and chaos scripts shipped in `policies/` and `chaos_scripts/`, embedded so
//! `--policy strict` works from any directory. A value that names an existing file wins.

use std::path::Path;

/// (name, YAML) of every shipped policy.
pub const POLICIES: &[(&str, &str)] = &[
    ("strict", include_str!("../../../policies/strict.yaml")),
    (
        "permissive",
        include_str!("../../../policies/permissive.yaml"),
    ),
    (
        "read_only",
        include_str!("../../../policies/read_only.yaml"),
    ),
];

/// (name, YAML) of every shipped chaos script.
pub const CHAOS_SCRIPTS: &[(&str, &str)] = &[
    (
        "db_lock_v1",
        include_str!("../../../chaos_scripts/db_lock_v1.yaml"),
    ),
    (
        "latency_spike",
        include_str!("../../../chaos_scripts/latency_spike.yaml"),
    ),
    (
        "schema_mutation",
        include_str!("../../../chaos_scripts/schema_mutation.yaml"),
    ),
    (
        "network_chaos",
        include_str!("../../../chaos_scripts/network_chaos.yaml"),
    ),
    (
        "resource_exhaustion",
        include_str!("../../../chaos_scripts/resource_exhaustion.yaml"),
    ),
];

/// Reads `value` as a file if it is one, else as a built-in name. Returns (display name,
/// text); the error names the built-ins.
pub fn resolve(
    value: &str,
    builtins: &[(&str, &str)],
    what: &str,
) -> Result<(String, String), String> {
    let path = Path::new(value);
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {what} file {}: {e}", path.display()))?;
        return Ok((path.display().to_string(), text));
    }
    match builtins.iter().find(|(name, _)| *name == value) {
        Some((name, text)) => Ok((format!("{name} (built in)"), (*text).to_string())),
        None => {
            let names: Vec<&str> = builtins.iter().map(|(n, _)| *n).collect();
            Err(format!(
                "no {what} file `{value}` and no built-in {what} of that name; built-ins: {}",
                names.join(", ")
            ))
        }
    }
}
