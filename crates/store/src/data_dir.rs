//! Where the store lives when the user does not say: `SHAKEDOWN_DATA_DIR`, else the platform's
//! data directory, else `./.shakedown`.

use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variable that overrides the data directory.
pub const DATA_DIR_ENV: &str = "SHAKEDOWN_DATA_DIR";

/// The directory the store opens by default: `$SHAKEDOWN_DATA_DIR` when set and non-empty,
/// else `<platform data dir>/shakedown` (e.g. `~/.local/share/shakedown`), else `./.shakedown`.
pub fn default_data_dir() -> PathBuf {
    resolve(std::env::var_os(DATA_DIR_ENV), dirs::data_dir())
}

/// The decision itself, apart from the process environment so it can be tested without
/// mutating global state.
fn resolve(env: Option<OsString>, platform: Option<PathBuf>) -> PathBuf {
    match (env, platform) {
        (Some(dir), _) if !dir.is_empty() => PathBuf::from(dir),
        (_, Some(base)) => base.join("shakedown"),
        _ => PathBuf::from(".shakedown"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn env_wins_over_platform() {
        let got = resolve(Some("/srv/sd".into()), Some("/home/u/.local/share".into()));
        assert_eq!(got, PathBuf::from("/srv/sd"));
    }

    #[test]
    fn empty_env_is_ignored() {
        let got = resolve(Some("".into()), Some("/home/u/.local/share".into()));
        assert_eq!(got, PathBuf::from("/home/u/.local/share/shakedown"));
    }

    #[test]
    fn falls_back_to_dot_shakedown() {
        assert_eq!(resolve(None, None), PathBuf::from(".shakedown"));
    }

    #[test]
    fn real_default_is_nonempty_and_ends_in_a_shakedown_dir_or_env() {
        let got = default_data_dir();
        match std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(env) => assert_eq!(got, PathBuf::from(env)),
            None => assert!(
                got.ends_with("shakedown") || got == Path::new(".shakedown"),
                "{got:?}"
            ),
        }
    }
}
