//! One pass over a statement's tokens producing what the cheap layer needs before (and
//! without) the parser: the text policies match against (comments removed, whitespace
//! collapsed, so neither can hide a keyword), the normalised text behind the statement hash
//! (literals replaced by `?`), and a keyword guess at the statement type.

use sha2::{Digest, Sha256};

use super::lex::{Lexer, Token, TokenKind};
use super::types::{StatementHash, StatementType};

/// The cheap layer's view of one statement.
pub struct Prepared {
    /// Comments replaced by a space, whitespace runs collapsed to one space, trimmed. Quoted
    /// literals and identifiers are kept exactly.
    pub match_text: String,
    /// Lower-cased keywords, literals replaced by `?`, no comments, spaces only between words.
    pub normalized: String,
    /// The keyword guess at the statement type.
    pub hint: StatementType,
}

fn wordish(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Word
            | TokenKind::QuotedIdent
            | TokenKind::String
            | TokenKind::Number
            | TokenKind::Param
    )
}

/// Builds the match text, the normalised text and the keyword hint in one pass.
pub fn prepare(stmt: &str) -> Prepared {
    let mut match_text = String::with_capacity(stmt.len());
    let mut normalized = String::with_capacity(stmt.len());
    let mut pending_space = false;
    let mut prev_kind: Option<TokenKind> = None;
    let mut first: Option<Token> = None;
    let mut with_target: Option<StatementType> = None;
    let mut depth = 0usize;
    for tok in Lexer::new(stmt) {
        if tok.is_trivia() {
            pending_space = true;
            continue;
        }
        let text = tok.text(stmt);
        if pending_space && !match_text.is_empty() {
            match_text.push(' ');
        }
        match_text.push_str(text);
        if pending_space && prev_kind.is_some_and(wordish) && wordish(tok.kind) {
            normalized.push(' ');
        }
        match tok.kind {
            TokenKind::Word => {
                for c in text.chars() {
                    normalized.push(c.to_ascii_lowercase());
                }
            }
            TokenKind::String | TokenKind::Number => normalized.push('?'),
            _ => normalized.push_str(text),
        }
        pending_space = false;
        prev_kind = Some(tok.kind);

        // Hint: the first keyword; for WITH, the first DML keyword outside parentheses.
        if first.is_none() {
            first = Some(tok);
        } else if with_target.is_none()
            && first.is_some_and(|f| f.is_word(stmt, "with"))
            && tok.kind == TokenKind::Word
            && depth == 0
        {
            with_target = match text.to_ascii_lowercase().as_str() {
                "select" | "values" | "table" => Some(StatementType::Select),
                "insert" => Some(StatementType::Insert),
                "update" => Some(StatementType::Update),
                "delete" => Some(StatementType::Delete),
                "merge" => Some(StatementType::Merge),
                _ => None,
            };
        }
        if tok.kind == TokenKind::Punct {
            match text {
                "(" => depth += 1,
                ")" => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    let hint = match first {
        None => StatementType::Other,
        Some(t) if t.is_word(stmt, "with") => with_target.unwrap_or(StatementType::Select),
        Some(t) if t.kind == TokenKind::Punct && t.text(stmt) == "(" => StatementType::Select,
        Some(t) if t.kind == TokenKind::Word => match StatementType::parse(t.text(stmt)) {
            Some(StatementType::Other | StatementType::Unparsed | StatementType::Oversized)
            | None => StatementType::Other,
            Some(k) => k,
        },
        Some(_) => StatementType::Other,
    };
    Prepared {
        match_text,
        normalized,
        hint,
    }
}

/// The keyword guess alone, without building any text (used for oversized statements).
pub fn keyword_hint(stmt: &str) -> StatementType {
    // Only the first few tokens matter; cut the text so a huge statement costs nothing.
    let mut end = stmt.len().min(4096);
    while !stmt.is_char_boundary(end) {
        end -= 1;
    }
    prepare(&stmt[..end]).hint
}

/// SHA-256 of `normalized`.
pub fn hash(normalized: &str) -> StatementHash {
    StatementHash(Sha256::digest(normalized.as_bytes()).into())
}

/// The identifier-like words of a statement (unquoted ones lower-cased, quoted ones exact),
/// for fail-closed name checks on statements the parser could not read.
pub fn identifiers(stmt: &str) -> impl Iterator<Item = String> + '_ {
    Lexer::new(stmt).filter_map(move |t| match t.kind {
        TokenKind::Word => Some(t.text(stmt).to_lowercase()),
        TokenKind::QuotedIdent => {
            let s = t.text(stmt);
            let inner = s.strip_prefix("U&").unwrap_or(s);
            let inner = inner.strip_prefix('"')?;
            let inner = inner.strip_suffix('"').unwrap_or(inner);
            Some(inner.replace("\"\"", "\""))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_cannot_hide_keywords() {
        let p = prepare("DROP/* x */TABLE -- y\n  users");
        assert_eq!(p.match_text, "DROP TABLE users");
        assert_eq!(p.hint, StatementType::Drop);
        assert_eq!(prepare("dRoP\n\n\tTaBlE x").match_text, "dRoP TaBlE x");
    }

    #[test]
    fn normalisation_replaces_literals() {
        let a = prepare("SELECT * FROM t WHERE a = 1 AND b = 'x' -- c");
        let b = prepare("select *  from T where a=42 and b=$q$y$q$");
        assert_eq!(a.normalized, "select*from t where a=? and b=?");
        assert_eq!(a.normalized, b.normalized);
        assert_eq!(hash(&a.normalized), hash(&b.normalized));
        assert_ne!(hash("select ?"), hash("select $1"));
        assert_eq!(hash("").to_string().len(), 64);
    }

    #[test]
    fn hints_follow_the_keyword() {
        assert_eq!(
            prepare("WITH d AS (SELECT 1) DELETE FROM t").hint,
            StatementType::Delete
        );
        assert_eq!(prepare("(SELECT 1)").hint, StatementType::Select);
        assert_eq!(prepare("frobnicate").hint, StatementType::Other);
        assert_eq!(prepare("do $$ begin end $$").hint, StatementType::Do);
        assert_eq!(keyword_hint("end"), StatementType::Commit);
    }

    #[test]
    fn identifiers_are_folded() {
        let ids: Vec<String> = identifiers("SELECT \"Sec\"\"ret\" FROM _System_Secrets").collect();
        assert_eq!(ids, vec!["select", "Sec\"ret", "from", "_system_secrets"]);
    }
}
