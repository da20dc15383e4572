//! A byte-level PostgreSQL lexer: just enough of PostgreSQL's scanner to know what is a
//! comment, a quoted literal, an identifier or punctuation, so that statements can be split,
//! comments stripped and literals normalised without being fooled by `;`, `--` or `/*` inside
//! quotes. It never allocates and never fails: malformed input (an unterminated quote or
//! comment) runs to the end of the text, as it does in the server's scanner.
//!
//! Assumes `standard_conforming_strings = on` (the default since PostgreSQL 9.1): a backslash
//! escapes only inside `E'…'` strings.

use memchr::{memchr, memchr2};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A run of whitespace.
    Space,
    /// `-- …` up to (not including) the end of the line.
    LineComment,
    /// `/* … */`, nested as PostgreSQL allows.
    BlockComment,
    /// An unquoted identifier or keyword.
    Word,
    /// `"…"` or `U&"…"`.
    QuotedIdent,
    /// `'…'`, `E'…'`, `B'…'`, `X'…'`, `N'…'`, `U&'…'` or `$tag$…$tag$`.
    String,
    /// A numeric literal.
    Number,
    /// A positional parameter such as `$1`.
    Param,
    /// One ASCII punctuation or operator character.
    Punct,
}

/// One token: its kind and byte range in the source. Ranges always fall on `char` boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token's text.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }
    /// Whether this token is the keyword `kw` (ASCII, case-insensitive).
    pub fn is_word(&self, src: &str, kw: &str) -> bool {
        self.kind == TokenKind::Word && self.text(src).eq_ignore_ascii_case(kw)
    }
    /// Whitespace and comments: what the server ignores between tokens.
    pub fn is_trivia(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Space | TokenKind::LineComment | TokenKind::BlockComment
        )
    }
}

/// Iterator over the tokens of `src`.
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer {
            src: src.as_bytes(),
            pos: 0,
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// PostgreSQL identifier start: letters, `_` and any non-ASCII byte.
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// PostgreSQL identifier continuation: also digits and `$`.
fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

impl Lexer<'_> {
    fn at(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    /// End of a `'…'` literal whose opening quote is at `open`; `backslash` for `E'…'`.
    fn single_quoted(&self, open: usize, backslash: bool) -> usize {
        let mut i = open + 1;
        loop {
            let rest = &self.src[i.min(self.src.len())..];
            let hit = if backslash {
                memchr2(b'\'', b'\\', rest)
            } else {
                memchr(b'\'', rest)
            };
            let Some(off) = hit else {
                return self.src.len();
            };
            let j = i + off;
            if self.src[j] == b'\\' {
                // Skip the escaped byte; a multi-byte char continues with bytes >= 0x80, which
                // are never quotes, so skipping one byte is enough.
                i = j + 2;
                continue;
            }
            if self.at(j + 1) == b'\'' {
                i = j + 2;
                continue;
            }
            return j + 1;
        }
    }

    /// End of a `"…"` identifier whose opening quote is at `open`.
    fn double_quoted(&self, open: usize) -> usize {
        let mut i = open + 1;
        loop {
            let Some(off) = memchr(b'"', &self.src[i.min(self.src.len())..]) else {
                return self.src.len();
            };
            let j = i + off;
            if self.at(j + 1) == b'"' {
                i = j + 2;
                continue;
            }
            return j + 1;
        }
    }

    /// If a dollar-quote opener `$tag$` starts at `i`, the index just past it.
    fn dollar_tag(&self, i: usize) -> Option<usize> {
        let mut j = i + 1;
        if self.at(j) == b'$' {
            return Some(j + 1);
        }
        if !is_ident_start(self.at(j)) {
            return None;
        }
        while j < self.src.len() && (is_ident_start(self.src[j]) || self.src[j].is_ascii_digit()) {
            j += 1;
        }
        (self.at(j) == b'$').then_some(j + 1)
    }

    /// End of a dollar-quoted string whose tag spans `open..body`.
    fn dollar_quoted(&self, open: usize, body: usize) -> usize {
        let tag = &self.src[open..body];
        let mut i = body;
        while let Some(off) = memchr(b'$', &self.src[i..]) {
            let j = i + off;
            if self.src[j..].starts_with(tag) {
                return j + tag.len();
            }
            i = j + 1;
        }
        self.src.len()
    }

    fn block_comment(&self, open: usize) -> usize {
        let mut depth = 0usize;
        let mut i = open;
        while i + 1 < self.src.len() {
            match (self.src[i], self.src[i + 1]) {
                (b'/', b'*') => {
                    depth += 1;
                    i += 2;
                }
                (b'*', b'/') => {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => i += 1,
            }
        }
        self.src.len()
    }

    fn number(&self, start: usize) -> usize {
        let mut i = start;
        while i < self.src.len() {
            let b = self.src[i];
            // Digits, letters (exponents, hex, `_` separators) and dots; a sign only right
            // after a decimal exponent.
            let exponent_sign = (b == b'+' || b == b'-')
                && matches!(self.src[i - 1], b'e' | b'E')
                && self.at(i + 1).is_ascii_digit()
                && !self.src[start..i].starts_with(b"0x");
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exponent_sign {
                i += 1;
            } else {
                break;
            }
        }
        i
    }

    fn word_end(&self, start: usize) -> usize {
        let mut i = start + 1;
        while i < self.src.len() && is_ident_cont(self.src[i]) {
            i += 1;
        }
        i
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let start = self.pos;
        let b = *self.src.get(start)?;
        let next = self.at(start + 1);
        let (kind, end) = if is_space(b) {
            let mut i = start + 1;
            while i < self.src.len() && is_space(self.src[i]) {
                i += 1;
            }
            (TokenKind::Space, i)
        } else if b == b'-' && next == b'-' {
            let end = memchr2(b'\n', b'\r', &self.src[start..])
                .map(|o| start + o)
                .unwrap_or(self.src.len());
            (TokenKind::LineComment, end)
        } else if b == b'/' && next == b'*' {
            (TokenKind::BlockComment, self.block_comment(start))
        } else if b == b'\'' {
            (TokenKind::String, self.single_quoted(start, false))
        } else if b == b'"' {
            (TokenKind::QuotedIdent, self.double_quoted(start))
        } else if matches!(b, b'E' | b'e') && next == b'\'' {
            (TokenKind::String, self.single_quoted(start + 1, true))
        } else if matches!(b, b'B' | b'b' | b'X' | b'x' | b'N' | b'n') && next == b'\'' {
            (TokenKind::String, self.single_quoted(start + 1, false))
        } else if matches!(b, b'U' | b'u') && next == b'&' && self.at(start + 2) == b'\'' {
            (TokenKind::String, self.single_quoted(start + 2, false))
        } else if matches!(b, b'U' | b'u') && next == b'&' && self.at(start + 2) == b'"' {
            (TokenKind::QuotedIdent, self.double_quoted(start + 2))
        } else if is_ident_start(b) {
            (TokenKind::Word, self.word_end(start))
        } else if b.is_ascii_digit() || (b == b'.' && next.is_ascii_digit()) {
            (TokenKind::Number, self.number(start))
        } else if b == b'$' && next.is_ascii_digit() {
            let mut i = start + 1;
            while i < self.src.len() && self.src[i].is_ascii_digit() {
                i += 1;
            }
            (TokenKind::Param, i)
        } else if b == b'$' {
            match self.dollar_tag(start) {
                Some(body) => (TokenKind::String, self.dollar_quoted(start, body)),
                None => (TokenKind::Punct, start + 1),
            }
        } else {
            // Non-ASCII bytes are identifier starts, so `b` is ASCII here.
            (TokenKind::Punct, start + 1)
        };
        self.pos = end;
        Some(Token { kind, start, end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(TokenKind, &str)> {
        Lexer::new(s).map(|t| (t.kind, t.text(s))).collect()
    }

    #[test]
    fn quotes_comments_and_dollars() {
        use TokenKind::*;
        assert_eq!(
            kinds("a'b;''c'$x$ ; $x$--z\n/* /* */ */\"q\"\"\"$1"),
            vec![
                (Word, "a"),
                (String, "'b;''c'"),
                (String, "$x$ ; $x$"),
                (LineComment, "--z"),
                (Space, "\n"),
                (BlockComment, "/* /* */ */"),
                (QuotedIdent, "\"q\"\"\""),
                (Param, "$1"),
            ]
        );
        assert_eq!(
            kinds(r"E'a\'b;' e"),
            vec![(String, r"E'a\'b;'"), (Space, " "), (Word, "e")]
        );
        // `$` inside an identifier is not a dollar quote.
        assert_eq!(
            kinds("a$b$ c"),
            vec![(Word, "a$b$"), (Space, " "), (Word, "c")]
        );
        assert_eq!(kinds("1.5e-3::int")[0], (Number, "1.5e-3"));
    }

    #[test]
    fn unterminated_runs_to_end() {
        for s in ["'abc", "\"abc", "$q$abc", "/* /* */", "E'\\"] {
            let toks: Vec<_> = Lexer::new(s).collect();
            assert_eq!(toks.len(), 1, "{s}");
            assert_eq!(toks[0].end, s.len(), "{s}");
        }
    }

    #[test]
    fn multibyte_identifiers_keep_char_boundaries() {
        let s = "SELECT café, 'ü' FROM tä;";
        for t in Lexer::new(s) {
            assert!(s.is_char_boundary(t.start) && s.is_char_boundary(t.end));
        }
    }
}
