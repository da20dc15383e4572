//! Files named in requests. A path in a request body (`system_file`, a run's scenario, policy,
//! chaos script, fault profile, file policy or mock-LLM rules) is read with the server's rights,
//! and parse errors quote the file back — so a server reads only files inside the directory its
//! operator named (`shakedown serve --files-root DIR`), and none at all without one. Built-in
//! names (`data_cleanup`, `strict`, `db_lock_v1`…) need no file and are always allowed.

use std::path::{Path, PathBuf};

use axum::http::StatusCode;

use crate::error::{ApiError, ApiResult};

/// Whether a value names a file rather than a built-in: a path separator or a file extension.
pub fn is_path(value: &str) -> bool {
    value.contains('/')
        || value.contains('\\')
        || [".yaml", ".yml", ".json", ".sql"]
            .iter()
            .any(|ext| value.to_ascii_lowercase().ends_with(ext))
}

/// The real path of `value` (relative to the root, or absolute) if it is an existing file
/// inside `root`; symlinks and `..` are resolved before the check.
pub fn resolve(root: Option<&Path>, value: &str, what: &str) -> ApiResult<PathBuf> {
    let Some(root) = root else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "files_not_served",
            format!(
                "`{what}` names a file, and this server reads no files named in requests; send \
                 the text instead, use a built-in name, or start the server with --files-root DIR"
            ),
        ));
    };
    let root = root.canonicalize().map_err(|e| {
        ApiError::internal(format!(
            "the --files-root {} is unusable: {e}",
            root.display()
        ))
    })?;
    let joined = root.join(value);
    let real = joined.canonicalize().map_err(|e| {
        ApiError::unprocessable(format!(
            "cannot read {what} `{value}` under --files-root: {e}"
        ))
    })?;
    if !real.starts_with(&root) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "outside_files_root",
            format!("{what} `{value}` is outside the server's --files-root"),
        ));
    }
    if !real.is_file() {
        return Err(ApiError::unprocessable(format!(
            "{what} `{value}` is not a regular file"
        )));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_inside_the_root_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.yaml"), "x").unwrap();
        std::fs::write(dir.path().join("secret.yaml"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.yaml"), root.join("link.yaml")).unwrap();
        let ok = resolve(Some(&root), "sub/a.yaml", "scenario").unwrap();
        assert!(ok.ends_with("sub/a.yaml"));
        let abs = root.join("sub/a.yaml");
        assert_eq!(
            resolve(Some(&root), abs.to_str().unwrap(), "s").unwrap(),
            ok
        );
        for (value, code) in [
            ("../secret.yaml", "outside_files_root"),
            ("link.yaml", "outside_files_root"),
            ("/etc/hostname", "outside_files_root"),
            ("sub", "invalid_request"),
            ("missing.yaml", "invalid_request"),
        ] {
            let e = resolve(Some(&root), value, "scenario").unwrap_err();
            assert_eq!(e.code, code, "{value}: {}", e.message);
        }
        let e = resolve(None, "sub/a.yaml", "scenario").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (403, "files_not_served"));
    }

    #[test]
    fn built_in_names_are_not_paths() {
        for name in ["data_cleanup", "strict", "db_lock_v1", "rate_limit_storm"] {
            assert!(!is_path(name), "{name}");
        }
        for path in ["x.yaml", "dir/x", "x.JSON", "./x", "..\\x"] {
            assert!(is_path(path), "{path}");
        }
    }
}
