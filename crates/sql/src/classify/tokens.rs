//! sqlparser's tokens, made faster for the common case.
//!
//! Tokenizing is about half of what sqlparser spends on a statement, and most of that is its
//! keyword lookup (a binary search over its ~900 keywords, upper-casing byte by byte, for every
//! word). This module builds the same token stream — the same tokens, whitespace tokens and
//! spans, so the parser cannot tell the difference — for text made only of the plainest tokens:
//! unquoted words, `"quoted"` identifiers, plain `'strings'`, decimal numbers, `$n` parameters,
//! `( ) , . ;`, single spaces, and the operators `= <> != < > <= >= + - * / % || ::`. Keywords
//! are found with a hash map. For anything else (a newline, an escape string, a dollar quote, an
//! operator it does not know, a non-ASCII byte) it returns `None` and the caller uses sqlparser's
//! own tokenizer. The tests compare both tokenizers token by token and span by span.

use std::collections::HashMap;
use std::sync::LazyLock;

use sqlparser::keywords::{ALL_KEYWORDS, ALL_KEYWORDS_INDEX, Keyword};
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Whitespace, Word};

use super::lex::{Lexer, TokenKind};

/// Longest sqlparser keyword, in bytes; longer words are never keywords.
const MAX_KEYWORD: usize = 64;

static KEYWORDS: LazyLock<HashMap<&'static str, Keyword>> = LazyLock::new(|| {
    ALL_KEYWORDS
        .iter()
        .copied()
        .zip(ALL_KEYWORDS_INDEX.iter().copied())
        .collect()
});

/// sqlparser's keyword for an unquoted word, `None` when it is not one.
pub fn keyword(word: &str) -> Option<Keyword> {
    if word.len() > MAX_KEYWORD {
        return None;
    }
    let mut buf = [0u8; MAX_KEYWORD];
    let upper = &mut buf[..word.len()];
    upper.copy_from_slice(word.as_bytes());
    upper.make_ascii_uppercase();
    let upper = std::str::from_utf8(upper).ok()?;
    KEYWORDS.get(upper).copied()
}

/// The tokens sqlparser's PostgreSQL tokenizer would produce for `sql`, or `None` when `sql`
/// holds anything outside the plain subset described in the module docs.
pub fn tokenize(sql: &str) -> Option<Vec<TokenWithSpan>> {
    if !sql.is_ascii() {
        return None;
    }
    let bytes = sql.as_bytes();
    let mut out = Vec::with_capacity(sql.len() / 3 + 4);
    let mut lexer = Lexer::new(sql).peekable();
    while let Some(t) = lexer.next() {
        let text = t.text(sql);
        let next = bytes.get(t.end).copied();
        let token = match t.kind {
            TokenKind::Space => {
                // One token per space, as sqlparser makes them; only plain spaces here.
                if !text.bytes().all(|b| b == b' ') {
                    return None;
                }
                for i in t.start..t.end {
                    out.push(at(Token::Whitespace(Whitespace::Space), i, i + 1));
                }
                continue;
            }
            TokenKind::Word => {
                if next.is_some_and(|b| b == b'\'' || b == b'"') {
                    // `e'…'`-style prefixes and the like: not ours.
                    return None;
                }
                Token::Word(Word {
                    value: text.to_string(),
                    quote_style: None,
                    keyword: keyword(text).unwrap_or(Keyword::NoKeyword),
                })
            }
            TokenKind::QuotedIdent => {
                let inner = text.strip_prefix('"')?.strip_suffix('"')?;
                if inner.is_empty()
                    || inner.contains('\n')
                    || inner.contains('\r')
                    || inner.replace("\"\"", "").contains('"')
                {
                    return None;
                }
                Token::Word(Word {
                    value: inner.replace("\"\"", "\""),
                    quote_style: Some('"'),
                    keyword: Keyword::NoKeyword,
                })
            }
            TokenKind::String => {
                let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
                if text.len() < 2
                    || inner.contains(['\\', '\n', '\r'])
                    || inner.replace("''", "").contains('\'')
                {
                    return None;
                }
                Token::SingleQuotedString(inner.replace("''", "'"))
            }
            TokenKind::Number => {
                let mut parts = text.split('.');
                let int = parts.next()?;
                let frac = parts.next();
                let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
                if !digits(int)
                    || frac.is_some_and(|f| !digits(f))
                    || parts.next().is_some()
                    || next.is_some_and(|b| b == b'$' || b == b'.' || b == b'\'' || b == b'"')
                {
                    return None;
                }
                Token::Number(text.to_string(), false)
            }
            TokenKind::Param => {
                if next.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$') {
                    return None;
                }
                Token::Placeholder(text.to_string())
            }
            TokenKind::Punct => {
                let mut end = t.end;
                if is_op_char(bytes[t.start]) {
                    while let Some(n) = lexer.peek() {
                        if n.kind == TokenKind::Punct
                            && n.start == end
                            && is_op_char(bytes[n.start])
                        {
                            end = n.end;
                            lexer.next();
                        } else {
                            break;
                        }
                    }
                }
                let token = match &sql[t.start..end] {
                    "(" => Token::LParen,
                    ")" => Token::RParen,
                    "," => Token::Comma,
                    "." => {
                        // `.5` is a number to sqlparser, and `._` after anything but a word an
                        // error: leave both to it.
                        let after_word = matches!(
                            out.last(),
                            Some(TokenWithSpan {
                                token: Token::Word(_),
                                ..
                            })
                        );
                        if next.is_some_and(|b| b.is_ascii_digit())
                            || (next == Some(b'_') && !after_word)
                        {
                            return None;
                        }
                        Token::Period
                    }
                    ";" => Token::SemiColon,
                    "=" => Token::Eq,
                    "<>" | "!=" => Token::Neq,
                    "<" => Token::Lt,
                    ">" => Token::Gt,
                    "<=" => Token::LtEq,
                    ">=" => Token::GtEq,
                    "+" => Token::Plus,
                    "-" => Token::Minus,
                    "*" => Token::Mul,
                    "/" => Token::Div,
                    "%" => Token::Mod,
                    "||" => Token::StringConcat,
                    "::" => Token::DoubleColon,
                    _ => return None,
                };
                out.push(at(token, t.start, end));
                continue;
            }
            TokenKind::LineComment | TokenKind::BlockComment => return None,
        };
        out.push(at(token, t.start, t.end));
    }
    Some(out)
}

/// Characters that continue an operator: a run of them is one operator to sqlparser.
fn is_op_char(b: u8) -> bool {
    b"+-*/<>=~!@#%^&|`?:".contains(&b)
}

/// A token spanning bytes `start..end` of a one-line ASCII text (columns count from 1).
fn at(token: Token, start: usize, end: usize) -> TokenWithSpan {
    let loc = |i: usize| Location::new(1, i as u64 + 1);
    TokenWithSpan::new(token, Span::new(loc(start), loc(end)))
}
