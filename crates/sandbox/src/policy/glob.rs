//! Path globs as ChaosTrace's policies write them: `**` crosses `/`, `*` and `?` do not, and
//! anything else is literal. Compiled to an anchored regex over absolute paths.

use regex::Regex;

/// A compiled path glob.
#[derive(Debug, Clone)]
pub struct PathGlob {
    /// The absolute pattern after mapping `sandbox_root` to the working directory.
    pub pattern: String,
    re: Regex,
}

impl PathGlob {
    /// Compiles an absolute pattern; `None` when it is not absolute or has an empty segment.
    pub fn new(pattern: &str) -> Option<PathGlob> {
        if !pattern.starts_with('/') || pattern.contains("//") {
            return None;
        }
        let mut re = String::from("^");
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' if chars.get(i + 1) == Some(&'*') => {
                    // `dir/**` also matches `dir` itself, as "everything at or under dir".
                    if re.ends_with('/') && i + 2 == chars.len() {
                        re.pop();
                        re.push_str("(?:/.*)?");
                    } else {
                        re.push_str(".*");
                    }
                    i += 2;
                    continue;
                }
                '*' => re.push_str("[^/]*"),
                '?' => re.push_str("[^/]"),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
            i += 1;
        }
        re.push('$');
        let re = Regex::new(&re).ok()?;
        Some(PathGlob {
            pattern: pattern.to_string(),
            re,
        })
    }

    /// True when the absolute `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        self.re.is_match(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_double_stars() {
        let g = PathGlob::new("/w/config/**").unwrap();
        assert!(g.matches("/w/config"));
        assert!(g.matches("/w/config/a/b.txt"));
        assert!(!g.matches("/w/configs/a"));
        let one = PathGlob::new("/w/*.env").unwrap();
        assert!(one.matches("/w/.env") && one.matches("/w/prod.env"));
        assert!(!one.matches("/w/sub/prod.env"));
        let q = PathGlob::new("/w/file?.txt").unwrap();
        assert!(q.matches("/w/file1.txt") && !q.matches("/w/file12.txt"));
        let lit = PathGlob::new("/w/a+b (1).txt").unwrap();
        assert!(lit.matches("/w/a+b (1).txt"));
        assert!(PathGlob::new("relative/*").is_none());
        assert!(PathGlob::new("/a//b").is_none());
    }
}
