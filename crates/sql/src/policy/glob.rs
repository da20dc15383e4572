//! Table-name globs for policies: `users`, `audit_*`, `public.*`, `*`. `*` matches any run of
//! characters and `?` one character; matching ignores ASCII case (policy authors write names the
//! way they think of them, and a honeypot spelt `"_System_Secrets"` must still match). A glob
//! with a schema (`public.users`) matches that schema, and also an unqualified name, which may
//! resolve to it through the search path (fail closed); a whole-schema glob (`vault.*`) matches
//! unqualified names only for `public`.

use std::fmt;

use crate::classify::TableName;

/// A compiled table glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableGlob {
    schema: Option<String>,
    name: String,
    text: String,
}

impl TableGlob {
    /// Parses `name` or `schema.name`; `None` if a part is empty.
    pub fn parse(text: &str) -> Option<TableGlob> {
        let t = text.trim();
        let (schema, name) = match t.rsplit_once('.') {
            Some((s, n)) => (Some(s.trim()), n.trim()),
            None => (None, t),
        };
        let clean = |s: &str| s.trim_matches('"').to_string();
        if name.is_empty() || schema.is_some_and(str::is_empty) {
            return None;
        }
        Some(TableGlob {
            schema: schema.map(clean),
            name: clean(name),
            text: t.to_string(),
        })
    }

    /// Whether the table matches.
    pub fn matches(&self, t: &TableName) -> bool {
        if !wildcard(self.name.as_bytes(), t.name.as_bytes()) {
            return false;
        }
        match (&self.schema, &t.schema) {
            (Some(g), Some(s)) => wildcard(g.as_bytes(), s.as_bytes()),
            // An unqualified name may resolve to any schema on the search path. For a specific
            // table (`vault.keys`) assume it does (fail closed); a whole-schema glob
            // (`vault.*`) would then match every unqualified name, so it assumes `public`.
            (Some(g), None) => !self.name_is_glob() || wildcard(g.as_bytes(), b"public"),
            _ => true,
        }
    }

    fn name_is_glob(&self) -> bool {
        self.name.contains(['*', '?'])
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for TableGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Glob match with `*` and `?`, ASCII case-insensitive, no allocation.
pub fn wildcard(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p].eq_ignore_ascii_case(&s[i])) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names_and_schemas() {
        let t = |s: Option<&str>, n: &str| TableName::new(s, n);
        let g = TableGlob::parse("audit_*").unwrap();
        assert!(g.matches(&t(None, "audit_logs")));
        assert!(g.matches(&t(Some("x"), "AUDIT_LOGS")));
        assert!(!g.matches(&t(None, "logs_audit")));
        let g = TableGlob::parse("public.users").unwrap();
        assert!(g.matches(&t(Some("public"), "users")));
        assert!(g.matches(&t(None, "users")));
        assert!(!g.matches(&t(Some("other"), "users")));
        assert!(TableGlob::parse("*").unwrap().matches(&t(Some("a"), "b")));
        let g = TableGlob::parse("vault.*").unwrap();
        assert!(g.matches(&t(Some("vault"), "keys")));
        assert!(!g.matches(&t(None, "keys")));
        assert!(
            TableGlob::parse("public.*")
                .unwrap()
                .matches(&t(None, "keys"))
        );
        assert!(
            TableGlob::parse("u?ers")
                .unwrap()
                .matches(&t(None, "users"))
        );
        assert!(TableGlob::parse("").is_none());
        assert!(TableGlob::parse(".x").is_none());
        assert!(wildcard(b"*a*b", b"xxaxxb"));
        assert!(!wildcard(b"*a*b", b"xxaxxbc"));
    }
}
