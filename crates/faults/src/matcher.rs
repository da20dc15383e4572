//! Which calls a rule applies to: tool name, URL and model globs, with Flakestorm's matching
//! (`fnmatch`: `*` matches any run of characters, `/` included, so `https://api.x.com/*`
//! covers every path and query below it).
//!
//! Family scoping: `llm_faults` only match LLM calls; `tool_faults` and `context_attacks` only
//! match tool calls, unless their `match_url` explicitly matches an LLM call's URL.

use crate::{ApiKind, CallInfo};

/// A shell-style glob (Python's `fnmatch`, case-sensitive): `*` any run of characters
/// (including `/`), `?` one character, `[abc]` / `[a-z]` a class, `[!abc]` a negated class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(char),
    Any,
    AnyRun,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// Why a glob cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("the pattern is empty")]
    Empty,
    #[error("`[` at character {0} is never closed by `]`")]
    UnclosedClass(usize),
}

impl Glob {
    /// Compiles a glob. Unlike Python (which reads an unclosed `[` literally), an unclosed
    /// class is refused: it is nearly always a typo.
    pub fn new(source: &str) -> Result<Glob, GlobError> {
        if source.is_empty() {
            return Err(GlobError::Empty);
        }
        let chars: Vec<char> = source.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    // Runs of `*` are one `*`; keeps matching linear in practice.
                    if tokens.last() != Some(&Token::AnyRun) {
                        tokens.push(Token::AnyRun);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                '[' => {
                    let start = i;
                    let mut j = i + 1;
                    let negated = chars.get(j) == Some(&'!');
                    if negated {
                        j += 1;
                    }
                    let mut items = Vec::new();
                    // A `]` right after `[` or `[!` is a literal member, as in fnmatch.
                    let mut first = true;
                    loop {
                        let Some(&c) = chars.get(j) else {
                            return Err(GlobError::UnclosedClass(start + 1));
                        };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        if chars.get(j + 1) == Some(&'-')
                            && chars.get(j + 2).is_some_and(|&e| e != ']')
                        {
                            items.push((c, chars[j + 2]));
                            j += 3;
                        } else {
                            items.push((c, c));
                            j += 1;
                        }
                    }
                    tokens.push(Token::Class { negated, items });
                    i = j + 1;
                }
                c => {
                    tokens.push(Token::Lit(c));
                    i += 1;
                }
            }
        }
        Ok(Glob {
            source: source.to_string(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern is exactly `*` (matches everything).
    pub fn is_any(&self) -> bool {
        self.tokens == [Token::AnyRun]
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        // URLs and names are nearly always ASCII: match on the bytes without allocating.
        if text.is_ascii() {
            let b = text.as_bytes();
            self.matches_with(b.len(), |i| char::from(b[i]))
        } else {
            let chars: Vec<char> = text.chars().collect();
            self.matches_with(chars.len(), |i| chars[i])
        }
    }

    /// Iterative wildcard matching with one backtrack point (the last `*`): O(n·m) worst
    /// case, no recursion.
    fn matches_with(&self, len: usize, at: impl Fn(usize) -> char) -> bool {
        let (mut t, mut p) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < len {
            match self.tokens.get(p) {
                Some(Token::AnyRun) => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                Some(tok) if one(tok, at(t)) => {
                    t += 1;
                    p += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            }
        }
        self.tokens[p..].iter().all(|tok| *tok == Token::AnyRun)
    }
}

fn one(tok: &Token, c: char) -> bool {
    match tok {
        Token::Lit(l) => *l == c,
        Token::Any => true,
        Token::AnyRun => false,
        Token::Class { negated, items } => {
            items.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
    }
}

/// Which side of the proxy a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// LLM calls only (`llm_faults`).
    Llm,
    /// Tool calls (`tool_faults`, `context_attacks`); LLM calls only through `match_url`.
    Tool,
}

/// The conditions a call must meet for a rule to consider it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub scope: Scope,
    /// Tool name glob (`*` = every tool call, named or not). `None`: the rule matches by
    /// `match_url` only.
    pub tool: Option<Glob>,
    /// URL glob over the full upstream URL (`scheme://host:port/path?query`).
    pub url: Option<Glob>,
    /// Model glob; a call without a model never matches it.
    pub model: Option<Glob>,
    /// Only streamed (`Some(true)`) or only whole (`Some(false)`) answers.
    pub stream: Option<bool>,
}

impl Matcher {
    /// Whether the rule considers `call`.
    ///
    /// Tool rules follow Flakestorm: the call matches if its URL matches `match_url` **or**
    /// its tool name matches `tool`. An LLM call has no tool name, so it reaches a tool rule
    /// only through an explicit `match_url`.
    pub fn matches(&self, call: &CallInfo) -> bool {
        let scoped = match self.scope {
            Scope::Llm => call.api.is_llm(),
            Scope::Tool => {
                let by_url = self.url.as_ref().is_some_and(|g| g.matches(&call.url));
                let by_tool = call.api == ApiKind::Tool
                    && self.tool.as_ref().is_some_and(|g| {
                        g.is_any() || call.tool.as_deref().is_some_and(|t| g.matches(t))
                    });
                by_url || by_tool
            }
        };
        scoped
            && self
                .model
                .as_ref()
                .is_none_or(|g| call.model.as_deref().is_some_and(|m| g.matches(m)))
            && self.stream.is_none_or(|s| s == call.stream)
    }

    /// Whether the rule counts calls per tool name (any `tool` other than `*`) rather than
    /// across all tool calls.
    pub fn counts_per_tool(&self) -> bool {
        self.tool.as_ref().is_some_and(|g| !g.is_any())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str) -> Glob {
        Glob::new(p).unwrap()
    }

    #[test]
    fn fnmatch_semantics() {
        assert!(g("*").matches(""));
        assert!(g("web_*").matches("web_search"));
        assert!(!g("web_*").matches("websearch"));
        assert!(g("https://api.gmail.com/*").matches("https://api.gmail.com/v1/users/me?q=1"));
        assert!(!g("https://api.gmail.com/*").matches("http://api.gmail.com/v1"));
        assert!(g("*/v1/*").matches("http://127.0.0.1:9/v1/chat/completions"));
        assert!(g("gpt-4?").matches("gpt-4o"));
        assert!(!g("gpt-4?").matches("gpt-4"));
        assert!(g("claude-[0-9]*").matches("claude-3-opus"));
        assert!(!g("claude-[!0-9]*").matches("claude-3-opus"));
        assert!(g("[]]x").matches("]x"));
        assert!(g("a*b*c").matches("aXbYbZc"));
        assert!(!g("a*b*c").matches("aXbYbZ"));
        assert!(g("exact").matches("exact") && !g("exact").matches("Exact"));
        assert!(g("café-*").matches("café-crème") && g("caf?").matches("café"));
    }

    #[test]
    fn bad_globs_are_refused() {
        assert_eq!(Glob::new(""), Err(GlobError::Empty));
        assert_eq!(Glob::new("ab[cd"), Err(GlobError::UnclosedClass(3)));
        assert_eq!(Glob::new("[!"), Err(GlobError::UnclosedClass(1)));
    }
}
