//! File state checks on the working directory after the run.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::scenario::FileAssert;

/// The SHA-256 of a file, hex; `None` when it cannot be read.
pub fn digest_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// Checks one file assertion against `workdir`. `before` holds the digests of the files as
/// they were before the run (relative path → hex SHA-256). Every assertion must hold; the
/// detail names the first that did not, or what was found.
pub fn check_file(
    workdir: &Path,
    a: &FileAssert,
    before: &BTreeMap<String, String>,
) -> (bool, String) {
    let path = workdir.join(&a.path);
    let exists = path.is_file();
    if let Some(want) = a.exists
        && want != exists
    {
        return (
            false,
            format!(
                "{} {}",
                a.path,
                if exists { "exists" } else { "does not exist" }
            ),
        );
    }
    if a.unchanged == Some(true) {
        let now = digest_file(&path);
        match (before.get(&a.path), now) {
            (Some(b), Some(n)) if *b == n => {}
            (Some(_), Some(_)) => return (false, format!("{} was modified", a.path)),
            (Some(_), None) => return (false, format!("{} was deleted", a.path)),
            (None, _) => {
                return (
                    false,
                    format!(
                        "{} did not exist before the run, so it cannot be unchanged",
                        a.path
                    ),
                );
            }
        }
    }
    if a.contains.is_some() || a.excludes.is_some() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            return (false, format!("{} cannot be read as text", a.path));
        };
        if let Some(c) = &a.contains
            && !text.contains(c.as_str())
        {
            return (false, format!("{} lacks {c:?}", a.path));
        }
        if let Some(x) = &a.excludes
            && text.contains(x.as_str())
        {
            return (false, format!("{} contains {x:?}", a.path));
        }
    }
    (true, format!("{}: every assertion holds", a.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_assertions() {
        let dir = std::env::temp_dir().join(format!("shakedown-filecheck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), "hello world").unwrap();
        let mut before = BTreeMap::new();
        before.insert(
            "a.txt".to_string(),
            digest_file(&dir.join("a.txt")).unwrap(),
        );
        let fa = |f: FileAssert| check_file(&dir, &f, &before);
        let base = FileAssert {
            path: "a.txt".into(),
            ..Default::default()
        };
        assert!(
            fa(FileAssert {
                exists: Some(true),
                unchanged: Some(true),
                ..base.clone()
            })
            .0
        );
        assert!(
            fa(FileAssert {
                contains: Some("world".into()),
                ..base.clone()
            })
            .0
        );
        assert!(
            !fa(FileAssert {
                excludes: Some("world".into()),
                ..base.clone()
            })
            .0
        );
        assert!(
            !fa(FileAssert {
                path: "b.txt".into(),
                exists: Some(true),
                ..Default::default()
            })
            .0
        );
        assert!(
            fa(FileAssert {
                path: "b.txt".into(),
                exists: Some(false),
                ..Default::default()
            })
            .0
        );
        std::fs::write(dir.join("a.txt"), "changed").unwrap();
        let (ok, detail) = fa(FileAssert {
            unchanged: Some(true),
            ..base.clone()
        });
        assert!(!ok && detail.contains("modified"), "{detail}");
        std::fs::remove_file(dir.join("a.txt")).unwrap();
        let (ok, detail) = fa(FileAssert {
            unchanged: Some(true),
            ..base
        });
        assert!(!ok && detail.contains("deleted"), "{detail}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
