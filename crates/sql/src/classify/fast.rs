//! The fast path: common, simple statements classified by a hand-written scanner, without
//! sqlparser.
//!
//! Most of what an application sends is a handful of simple shapes — `SELECT cols FROM t WHERE
//! col = literal`, a few joins, `INSERT INTO t (cols) VALUES (…)`, `UPDATE t SET col = … WHERE
//! …`, `DELETE FROM t WHERE …`, `BEGIN`, `COMMIT` — and parsing them with a general SQL parser
//! costs several microseconds each (mostly its tokenizer's keyword lookups and moving large
//! syntax-tree nodes). This module recognises exactly the shapes below in the comment-free match
//! text and produces what the full parse and walk would: the same statement type, table actions,
//! columns (in the same order), functions and WHERE flag. Anything outside the narrow grammar —
//! a keyword it does not know in a place it does not expect, an operator it does not list, a
//! subquery, a CTE, a set operation, a window, a non-ASCII byte — makes it give up (`None`), and
//! the statement goes to sqlparser as before. It never decides a statement sqlparser would
//! refuse: every shape it accepts is one sqlparser reads the same way, which the tests check
//! statement by statement against the full parse on the benchmark corpus, on every keyword in
//! every name position, and on generated and fuzzed variants (`tests/fast_path.rs`).
//!
//! Grammar (keywords case-insensitive; `ident` is a non-empty `"quoted"` identifier or an
//! unquoted word that is not a keyword sqlparser reserves or gives a meaning of its own; an
//! alias is never a keyword):
//!
//! ```text
//! stmt    := select | insert | update | delete | BEGIN | COMMIT | END | ROLLBACK
//! select  := SELECT [DISTINCT] items [FROM tref {join}] [WHERE cond]
//!            [GROUP BY expr {, expr}] [HAVING cond]
//!            [ORDER BY order {, order}] [LIMIT num|param] [OFFSET num|param]
//! tref    := table [[AS] alias]
//! join    := , tref | CROSS JOIN tref
//!          | [INNER | LEFT [OUTER] | RIGHT [OUTER] | FULL [OUTER]] JOIN tref
//!            (ON cond | USING (ident {, ident}))
//! insert  := INSERT INTO table [(ident {, ident})] VALUES row {, row}
//!            [ON CONFLICT [(ident {, ident})] DO NOTHING] [RETURNING items]
//! update  := UPDATE table SET ident = expr {, ident = expr} [WHERE cond] [RETURNING items]
//! delete  := DELETE FROM table [WHERE cond] [RETURNING items]
//! items   := item {, item};   item := * | name.* (SELECT only) | expr [[AS] alias]
//! cond    := conj {OR conj};  conj := neg {AND neg};  neg := NOT neg | ( cond ) | pred
//! pred    := expr (= | <> | != | < | > | <= | >=) expr  -- not both sides constant, and not
//!                                                       -- the same tokens on both sides
//!          | expr IS [NOT] NULL | expr [NOT] IN (expr {, expr})
//!          | expr [NOT] BETWEEN expr AND expr | expr [NOT] (LIKE | ILIKE) expr
//!          | colref                -- a bare boolean column, not named like a boolean word
//!                                  -- (the left expr of the others is never constant)
//! expr    := cast {(+ | - | * | / | ||) cast};   cast := operand {:: type}
//! operand := colref | num | -num | 'string' | $n | NULL | TRUE | FALSE | INTERVAL literal
//!          | CURRENT_DATE/TIME/TIMESTAMP | LOCALTIME[STAMP] | func([* | expr {, expr}])
//! ```
//!
//! Why these restrictions on predicates: the walk flags a WHERE that is always true (`1 = 1`,
//! `x = x`, `NOT false`, `… OR true`), which this scanner does not evaluate. A comparison with a
//! varying side and a constant one can never be one; two varying sides are accepted only when
//! their token sequences differ (the walk compares syntax trees, which differ when the tokens
//! do); a bare predicate is a column (never a constant), and a column called `off` or `no` under
//! NOT is left to the parser. With no tautological leaf, AND, OR, NOT and parentheses cannot make
//! one, so the WHERE flag is simply "WHERE present".

use std::iter::Peekable;

use sqlparser::keywords::{
    Keyword, RESERVED_FOR_COLUMN_ALIAS, RESERVED_FOR_IDENTIFIER, RESERVED_FOR_TABLE_ALIAS,
    RESERVED_FOR_TABLE_FACTOR,
};

use super::lex::{Lexer, Token, TokenKind};
use super::types::{StatementType, TableAction, TableName, TableOp, TxnControl};

/// What the fast path found: the parts of a classification the walk would otherwise produce.
#[derive(Debug)]
pub struct Fast {
    /// The statement type, as the walk would find it.
    pub kind: StatementType,
    /// Transaction control (BEGIN, COMMIT, ROLLBACK).
    pub txn: Option<TxnControl>,
    /// The one table action (none for SELECT without FROM and for transaction control).
    pub actions: Vec<TableAction>,
    /// Columns in the walk's order, without duplicates.
    pub columns: Vec<String>,
    /// Functions called, lower case, without duplicates.
    pub functions: Vec<String>,
}

/// Keywords that start special expression syntax in sqlparser (its reserved-word prefixes:
/// literals, `CASE`, `CAST`, time functions, `USER`, geometric types…), that this grammar uses
/// itself, or that the tests found to mean something after SELECT, INTO, UPDATE or FROM
/// (`ALL`, `ANY`, `TABLE`, `UNNEST`…). Every other keyword reads as a plain name where this
/// grammar puts one, except those sqlparser reserves (see [`is_name`]); the tests try every
/// keyword in every position.
const SPECIAL_KEYWORDS: &[&str] = &[
    "all",
    "any",
    "directory",
    "local",
    "replace",
    "some",
    "table",
    "unnest",
    "only",
    "lateral",
    "and",
    "array",
    "as",
    "asc",
    "between",
    "box",
    "case",
    "cast",
    "ceil",
    "circle",
    "collate",
    "connect_by_root",
    "convert",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "delete",
    "desc",
    "distinct",
    "exists",
    "extract",
    "false",
    "floor",
    "from",
    "ilike",
    "in",
    "insert",
    "interval",
    "into",
    "is",
    "isnull",
    "lambda",
    "like",
    "limit",
    "line",
    "localtime",
    "localtimestamp",
    "lseg",
    "map",
    "match",
    "not",
    "notnull",
    "null",
    "offset",
    "or",
    "order",
    "overlay",
    "path",
    "point",
    "polygon",
    "position",
    "prior",
    "returning",
    "safe_cast",
    "select",
    "session_user",
    "set",
    "similar",
    "struct",
    "substr",
    "substring",
    "system_user",
    "trim",
    "true",
    "try_cast",
    "try_convert",
    "unknown",
    "update",
    "user",
    "values",
    "where",
];
/// Functions the grammar accepts by name: ordinary calls in sqlparser (no special syntax), and
/// none with a risk of its own.
const FUNCTIONS: &[&str] = &[
    "abs",
    "avg",
    "coalesce",
    "count",
    "date_trunc",
    "greatest",
    "jsonb_build_object",
    "least",
    "length",
    "lower",
    "max",
    "min",
    "now",
    "nullif",
    "round",
    "sum",
    "to_char",
    "upper",
];

/// Words a bare boolean column must not be named: the walk reads `NOT off` (and the like) as
/// an always-true WHERE, so these stay with the parser.
const BOOLEAN_WORDS: &[&str] = &[
    "false", "no", "off", "on", "true", "yes", "f", "n", "t", "y", "0", "1",
];

/// Types a `::` cast may name: single words sqlparser reads as a plain data type.
const CAST_TYPES: &[&str] = &[
    "bigint",
    "boolean",
    "date",
    "int",
    "integer",
    "json",
    "jsonb",
    "numeric",
    "text",
    "timestamp",
    "timestamptz",
    "uuid",
];

/// SQL-standard time functions written without parentheses.
const TIME_FUNCTIONS: &[&str] = &[
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
];

/// sqlparser's keyword for `w`, if it is one.
fn keyword(w: &str) -> Option<Keyword> {
    super::tokens::keyword(w)
}

fn is_keyword(w: &str) -> bool {
    keyword(w).is_some()
}

/// Whether an unquoted word can be a table or column name here: not a keyword, or a keyword
/// sqlparser reserves neither as an identifier nor against aliases, and that starts no special
/// syntax.
fn is_name(w: &str) -> bool {
    match keyword(w) {
        None => true,
        Some(k) => {
            !RESERVED_FOR_IDENTIFIER.contains(&k)
                && !RESERVED_FOR_TABLE_ALIAS.contains(&k)
                && !RESERVED_FOR_COLUMN_ALIAS.contains(&k)
                && !RESERVED_FOR_TABLE_FACTOR.contains(&k)
                && !in_list(SPECIAL_KEYWORDS, w)
        }
    }
}

fn in_list(list: &[&str], w: &str) -> bool {
    list.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// One token of the fast path's own, smaller vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// An unquoted word: byte range.
    Word(usize, usize),
    /// A `"quoted"` identifier: byte range including the quotes.
    Quoted(usize, usize),
    /// A number, plain string or `$n` parameter.
    Literal,
    /// An operator: one of the few this grammar knows.
    Op(Op),
    LParen,
    RParen,
    Comma,
    Dot,
    /// `::`, a PostgreSQL cast.
    Cast,
    /// Anything outside the vocabulary: no rule accepts it.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `=`: a comparison, and the assignment in SET.
    Eq,
    /// The other comparisons.
    Cmp,
    Plus,
    Minus,
    Star,
    Slash,
    /// `||`, string concatenation.
    Concat,
}

/// The next token of `s` in the fast vocabulary (`Tok::Invalid` for anything outside it),
/// `None` at the end. Tokens are made as the scanner asks for them, so a statement that leaves
/// the grammar early costs only the tokens read so far.
fn next_tok(s: &str, lexer: &mut Peekable<Lexer<'_>>) -> Option<Tok> {
    loop {
        let t = lexer.next()?;
        if t.kind == TokenKind::Space {
            continue;
        }
        return Some(classify_tok(s, t, lexer).unwrap_or(Tok::Invalid));
    }
}

/// One lexer token in the fast vocabulary; `None` when it is outside it.
fn classify_tok(s: &str, t: Token, lexer: &mut Peekable<Lexer<'_>>) -> Option<Tok> {
    let text = t.text(s);
    let tok = match t.kind {
        TokenKind::Space => return None,
        TokenKind::Word => {
            // A word glued to a quote (`b"…"`, `x'…'`, `e'…'`, `n'…'`) may be a prefixed
            // literal to sqlparser's tokenizer: not ours to guess.
            if lexer.peek().is_some_and(|n| {
                n.start == t.end && matches!(n.kind, TokenKind::QuotedIdent | TokenKind::String)
            }) {
                return None;
            }
            Tok::Word(t.start, t.end)
        }
        TokenKind::QuotedIdent => {
            // Only plain `"…"`, properly closed, not empty.
            let inner = text.strip_prefix('"')?.strip_suffix('"')?;
            if inner.is_empty() || inner.replace("\"\"", "").contains('"') {
                return None;
            }
            Tok::Quoted(t.start, t.end)
        }
        TokenKind::String => {
            // Only plain `'…'` without backslashes (so no dialect's escape rules matter),
            // properly closed.
            let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
            if text.len() < 2 || inner.contains('\\') || inner.replace("''", "").contains('\'') {
                return None;
            }
            Tok::Literal
        }
        TokenKind::Number => {
            // Digits, optionally `.digits`: no exponents, hex, separators or trailing dots.
            let mut parts = text.split('.');
            let int = parts.next()?;
            let frac = parts.next();
            let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            if !digits(int) || frac.is_some_and(|f| !digits(f)) || parts.next().is_some() {
                return None;
            }
            Tok::Literal
        }
        TokenKind::Param => Tok::Literal,
        TokenKind::Punct => {
            // An operator is the whole run of adjacent operator characters: `<=` is one,
            // `=-` or `->` is not one of ours.
            let mut end = t.end;
            while let Some(n) = lexer.peek() {
                if n.kind == TokenKind::Punct
                    && n.start == end
                    && is_op_char(s.as_bytes()[n.start])
                    && is_op_char(s.as_bytes()[t.start])
                {
                    end = n.end;
                    lexer.next();
                } else {
                    break;
                }
            }
            match &s[t.start..end] {
                "(" => Tok::LParen,
                ")" => Tok::RParen,
                "," => Tok::Comma,
                "." => Tok::Dot,
                "::" => Tok::Cast,
                "=" => Tok::Op(Op::Eq),
                "<>" | "!=" | "<" | ">" | "<=" | ">=" => Tok::Op(Op::Cmp),
                "+" => Tok::Op(Op::Plus),
                "-" => Tok::Op(Op::Minus),
                "*" => Tok::Op(Op::Star),
                "/" => Tok::Op(Op::Slash),
                "||" => Tok::Op(Op::Concat),
                _ => return None,
            }
        }
        TokenKind::LineComment | TokenKind::BlockComment => return None,
    };
    Some(tok)
}

fn is_op_char(b: u8) -> bool {
    b"+-*/<>=~!@#%^&|`?:".contains(&b)
}

/// Whether an expression just scanned was constant, or referenced a column or function.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Value {
    Constant,
    Varying,
}

struct Scan<'a> {
    src: &'a str,
    lexer: Peekable<Lexer<'a>>,
    /// Tokens read so far (the UPDATE rule goes back over its SET list).
    toks: Vec<Tok>,
    pos: usize,
    columns: Vec<String>,
    functions: Vec<String>,
    /// A `*` item was seen in a SELECT list (the walk lists `*` first).
    star_first: bool,
}

/// Classifies `match_text` (comments removed, whitespace collapsed) if it is one of the simple
/// shapes in the module docs.
pub fn classify(match_text: &str) -> Option<Fast> {
    if !match_text.is_ascii() || match_text.len() > 4096 {
        return None;
    }
    let mut s = Scan {
        src: match_text,
        lexer: Lexer::new(match_text).peekable(),
        toks: Vec::with_capacity(24),
        pos: 0,
        columns: Vec::new(),
        functions: Vec::new(),
        star_first: false,
    };
    let first = s.word()?;
    let (kind, txn, actions) = match first.to_ascii_lowercase().as_str() {
        "select" => (StatementType::Select, None, s.select()?),
        "insert" => (StatementType::Insert, None, s.insert()?),
        "update" => (StatementType::Update, None, s.update()?),
        "delete" => (StatementType::Delete, None, s.delete()?),
        "begin" => (StatementType::Begin, Some(TxnControl::Begin), Vec::new()),
        "commit" | "end" => (
            StatementType::Commit,
            Some(TxnControl::Commit { chain: false }),
            Vec::new(),
        ),
        "rollback" => (
            StatementType::Rollback,
            Some(TxnControl::Rollback { chain: false }),
            Vec::new(),
        ),
        _ => return None,
    };
    if s.peek().is_some() {
        return None;
    }
    let mut columns = s.columns;
    if s.star_first {
        columns.retain(|c| c != "*");
        columns.insert(0, "*".to_string());
    }
    Some(Fast {
        kind,
        txn,
        actions,
        columns,
        functions: s.functions,
    })
}

impl Scan<'_> {
    /// Reads tokens until index `i` exists (or the text ends).
    fn fill(&mut self, i: usize) {
        while self.toks.len() <= i {
            match next_tok(self.src, &mut self.lexer) {
                Some(t) => self.toks.push(t),
                None => return,
            }
        }
    }

    fn peek(&mut self) -> Option<Tok> {
        self.fill(self.pos);
        self.toks.get(self.pos).copied()
    }

    fn peek2(&mut self) -> Option<Tok> {
        self.fill(self.pos + 1);
        self.toks.get(self.pos + 1).copied()
    }

    fn bump(&mut self) {
        self.pos += 1;
    }

    /// The next token if it is an unquoted word.
    fn word(&mut self) -> Option<&str> {
        match self.peek()? {
            Tok::Word(a, b) => {
                self.bump();
                Some(&self.src[a..b])
            }
            _ => None,
        }
    }

    /// Whether the next token is the keyword `kw` (not consumed).
    fn peek_word(&mut self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(a, b)) if self.src[a..b].eq_ignore_ascii_case(kw))
    }

    /// Whether the next token is the keyword `kw`; consumes it if so.
    fn eat(&mut self, kw: &str) -> bool {
        match self.peek() {
            Some(Tok::Word(a, b)) if self.src[a..b].eq_ignore_ascii_case(kw) => {
                self.bump();
                true
            }
            _ => false,
        }
    }

    fn eat_tok(&mut self, t: Tok) -> bool {
        if self.peek() == Some(t) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// One name part, folded as PostgreSQL folds it.
    fn name_part(&mut self) -> Option<String> {
        match self.peek()? {
            Tok::Word(a, b) => {
                let w = &self.src[a..b];
                if !is_name(w) {
                    return None;
                }
                self.bump();
                Some(w.to_ascii_lowercase())
            }
            Tok::Quoted(a, b) => {
                self.bump();
                Some(self.src[a + 1..b - 1].replace("\"\"", "\""))
            }
            _ => None,
        }
    }

    /// `name` or `schema.name`.
    fn table(&mut self) -> Option<TableName> {
        let first = self.name_part()?;
        if self.eat_tok(Tok::Dot) {
            let name = self.name_part()?;
            if self.peek() == Some(Tok::Dot) {
                return None;
            }
            Some(TableName {
                schema: Some(first),
                name,
            })
        } else {
            Some(TableName {
                schema: None,
                name: first,
            })
        }
    }

    /// An optional alias: `AS name` or a bare name. Aliases must not be keywords at all (a
    /// keyword after an item or table may start the next clause).
    fn alias(&mut self) -> Option<()> {
        let explicit = self.eat("as");
        match self.peek() {
            Some(Tok::Quoted(..)) => {
                self.bump();
            }
            Some(Tok::Word(a, b)) if !is_keyword(&self.src[a..b]) => self.bump(),
            _ if explicit => return None,
            _ => {}
        }
        Some(())
    }

    fn column(&mut self, c: String) {
        if !self.columns.contains(&c) {
            self.columns.push(c);
        }
    }

    fn function(&mut self, f: String) {
        if !self.functions.contains(&f) {
            self.functions.push(f);
        }
    }

    fn operand(&mut self) -> Option<Value> {
        match self.peek()? {
            Tok::Literal => {
                self.bump();
                Some(Value::Constant)
            }
            Tok::Op(Op::Minus) => {
                // Only a negative number literal.
                self.bump();
                self.eat_tok(Tok::Literal).then_some(Value::Constant)
            }
            Tok::Word(a, b) => {
                let w = &self.src[a..b];
                let call = self.peek2() == Some(Tok::LParen);
                if call && in_list(FUNCTIONS, w) {
                    let name = w.to_ascii_lowercase();
                    self.pos += 2;
                    self.function(name);
                    if !self.eat_tok(Tok::RParen) {
                        if !self.eat_tok(Tok::Op(Op::Star)) {
                            self.expr()?;
                            while self.eat_tok(Tok::Comma) {
                                self.expr()?;
                            }
                        }
                        if !self.eat_tok(Tok::RParen) {
                            return None;
                        }
                    }
                    return Some(Value::Varying);
                }
                if call {
                    return None;
                }
                if in_list(&["null", "true", "false"], w) {
                    // Constants; a predicate of constants alone is refused (`WHERE true`,
                    // `NOT false`), so these never make a WHERE always true here.
                    self.bump();
                    return Some(Value::Constant);
                }
                if w.eq_ignore_ascii_case("interval") && self.peek2() == Some(Tok::Literal) {
                    // `INTERVAL '1 day'`: a constant (a unit word after it is refused later).
                    self.pos += 2;
                    return Some(Value::Constant);
                }
                if in_list(TIME_FUNCTIONS, w) {
                    let name = w.to_ascii_lowercase();
                    self.bump();
                    self.function(name);
                    return Some(Value::Varying);
                }
                self.colref()
            }
            Tok::Quoted(..) => self.colref(),
            _ => None,
        }
    }

    /// `col` or `t.col`: records the column.
    fn colref(&mut self) -> Option<Value> {
        let mut col = self.name_part()?;
        if self.eat_tok(Tok::Dot) {
            col = self.name_part()?;
        }
        if matches!(self.peek(), Some(Tok::Dot | Tok::LParen | Tok::Literal)) {
            return None;
        }
        self.column(col);
        Some(Value::Varying)
    }

    /// An operand with any `::type` casts after it (types from [`CAST_TYPES`] only: a type
    /// name is no column to the walk, and these have no arguments or suffixes).
    fn cast_operand(&mut self) -> Option<Value> {
        let v = self.operand()?;
        while self.eat_tok(Tok::Cast) {
            match self.peek()? {
                Tok::Word(a, b) if in_list(CAST_TYPES, &self.src[a..b]) => self.bump(),
                _ => return None,
            }
        }
        Some(v)
    }

    fn expr(&mut self) -> Option<Value> {
        let mut v = self.cast_operand()?;
        while let Some(Tok::Op(Op::Plus | Op::Minus | Op::Star | Op::Slash | Op::Concat)) =
            self.peek()
        {
            self.bump();
            if self.cast_operand()? == Value::Varying {
                v = Value::Varying;
            }
        }
        Some(v)
    }

    /// `cond := conj {OR conj}`.
    fn condition(&mut self) -> Option<()> {
        self.conjunction()?;
        while self.eat("or") {
            self.conjunction()?;
        }
        Some(())
    }

    /// `conj := neg {AND neg}`.
    fn conjunction(&mut self) -> Option<()> {
        self.negation()?;
        while self.eat("and") {
            self.negation()?;
        }
        Some(())
    }

    /// `neg := NOT neg | ( cond ) | pred`. A parenthesis here always opens a condition: the
    /// grammar has no parenthesised arithmetic, so `(a + 1) = 2` is refused.
    fn negation(&mut self) -> Option<()> {
        if self.eat("not") {
            return self.negation();
        }
        if self.eat_tok(Tok::LParen) {
            self.condition()?;
            return self.eat_tok(Tok::RParen).then_some(());
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Option<()> {
        let (start, functions) = (self.pos, self.functions.len());
        let left = self.expr()?;
        let left_end = self.pos;
        if self.eat_tok(Tok::Op(Op::Eq)) || self.eat_tok(Tok::Op(Op::Cmp)) {
            let right_start = self.pos;
            let right = self.expr()?;
            return match (left, right) {
                (Value::Constant, Value::Constant) => None,
                // Two varying sides: the walk calls `x = x` a tautology (equal syntax trees);
                // equal token sequences (ignoring case, literals all alike) are refused, so
                // what is accepted can never be one.
                (Value::Varying, Value::Varying)
                    if self.same_tokens(start..left_end, right_start..self.pos) =>
                {
                    None
                }
                _ => Some(()),
            };
        }
        if left != Value::Varying {
            return None;
        }
        if self.eat("is") {
            self.eat("not");
            return self.eat("null").then_some(());
        }
        let negated = self.eat("not");
        if self.eat("in") {
            if !self.eat_tok(Tok::LParen) {
                return None;
            }
            self.expr()?;
            while self.eat_tok(Tok::Comma) {
                self.expr()?;
            }
            return self.eat_tok(Tok::RParen).then_some(());
        }
        if self.eat("between") {
            self.expr()?;
            if !self.eat("and") {
                return None;
            }
            self.expr()?;
            return Some(());
        }
        if self.eat("like") || self.eat("ilike") {
            self.expr()?;
            return Some(());
        }
        if negated {
            return None;
        }
        // A bare boolean column (`WHERE active`, `NOT archived`): only a lone column reference,
        // and never one named like a boolean word (the walk reads `NOT off` as always true).
        let lone = match self.pos - start {
            1 => true,
            3 => self.toks[start + 1] == Tok::Dot,
            _ => false,
        };
        if !lone || self.functions.len() != functions {
            return None;
        }
        let last = match self.toks[self.pos - 1] {
            Tok::Word(a, b) => &self.src[a..b],
            Tok::Quoted(a, b) => &self.src[a + 1..b - 1],
            _ => return None,
        };
        if in_list(BOOLEAN_WORDS, last) {
            return None;
        }
        Some(())
    }

    /// Whether two token ranges read the same, ignoring case (every literal counts as the same).
    fn same_tokens(&self, a: std::ops::Range<usize>, b: std::ops::Range<usize>) -> bool {
        a.len() == b.len()
            && self.toks[a]
                .iter()
                .zip(&self.toks[b])
                .all(|(x, y)| match (x, y) {
                    (Tok::Word(a1, b1), Tok::Word(a2, b2))
                    | (Tok::Quoted(a1, b1), Tok::Quoted(a2, b2)) => {
                        self.src[*a1..*b1].eq_ignore_ascii_case(&self.src[*a2..*b2])
                    }
                    _ => x == y,
                })
    }

    /// `WHERE cond` if present; whether there was one.
    fn where_clause(&mut self) -> Option<bool> {
        if !self.eat("where") {
            return Some(false);
        }
        self.condition()?;
        Some(true)
    }

    /// A SELECT list or RETURNING list. `select_list` decides where a `*` is listed: first
    /// for a SELECT list (the walk records it when it enters the SELECT), in place for
    /// RETURNING.
    fn items(&mut self, select_list: bool) -> Option<()> {
        loop {
            if select_list && self.qualified_star() {
                self.star_first = true;
            } else if self.eat_tok(Tok::Op(Op::Star)) {
                if select_list {
                    self.star_first = true;
                } else {
                    self.column("*".to_string());
                }
            } else {
                self.expr()?;
                self.alias()?;
            }
            if !self.eat_tok(Tok::Comma) {
                return Some(());
            }
        }
    }

    /// `name.*` (a qualified wildcard) if next; consumed if so. The walk lists it as `*`.
    fn qualified_star(&mut self) -> bool {
        self.fill(self.pos + 2);
        let is = matches!(
            self.toks.get(self.pos),
            Some(Tok::Word(..) | Tok::Quoted(..))
        ) && self.toks.get(self.pos + 1) == Some(&Tok::Dot)
            && self.toks.get(self.pos + 2) == Some(&Tok::Op(Op::Star));
        if !is {
            return false;
        }
        let mark = self.pos;
        if self.name_part().is_none() {
            self.pos = mark;
            return false;
        }
        self.pos += 2;
        true
    }

    fn returning(&mut self) -> Option<()> {
        if self.eat("returning") {
            self.items(false)?;
        }
        Some(())
    }

    fn select(&mut self) -> Option<Vec<TableAction>> {
        if self.eat("distinct") && self.eat("on") {
            return None;
        }
        self.items(true)?;
        let mut tables = Vec::new();
        if self.eat("from") {
            self.table_ref(&mut tables)?;
            loop {
                let constrained = if self.eat_tok(Tok::Comma) {
                    false
                } else {
                    match self.join()? {
                        Some(constrained) => constrained,
                        None => break,
                    }
                };
                self.table_ref(&mut tables)?;
                if constrained {
                    self.join_constraint()?;
                }
            }
        }
        let has_where = self.where_clause()?;
        if has_where && tables.is_empty() {
            return None;
        }
        if self.eat("group") {
            if !self.eat("by") || tables.is_empty() {
                return None;
            }
            loop {
                // `CUBE`, `ROLLUP` and `GROUPING SETS` are grouping syntax there, not names.
                if ["cube", "rollup", "grouping"]
                    .iter()
                    .any(|w| self.peek_word(w))
                {
                    return None;
                }
                self.expr()?;
                if !self.eat_tok(Tok::Comma) {
                    break;
                }
            }
        }
        if self.eat("having") {
            if tables.is_empty() {
                return None;
            }
            self.condition()?;
        }
        if self.eat("order") {
            if !self.eat("by") {
                return None;
            }
            loop {
                self.expr()?;
                let _ = self.eat("asc") || self.eat("desc");
                if !self.eat_tok(Tok::Comma) {
                    break;
                }
            }
        }
        for clause in ["limit", "offset"] {
            if self.eat(clause) && !self.eat_tok(Tok::Literal) {
                return None;
            }
        }
        // The walk records each table once per distinct action (a self-join reads it once).
        let mut actions: Vec<TableAction> = Vec::with_capacity(tables.len());
        for t in tables {
            let a = action(TableOp::Select, t, has_where, Vec::new());
            if !actions.contains(&a) {
                actions.push(a);
            }
        }
        Some(actions)
    }

    /// `table [[AS] alias]` in a FROM list or join.
    fn table_ref(&mut self, tables: &mut Vec<TableName>) -> Option<()> {
        tables.push(self.table()?);
        if self.peek() == Some(Tok::LParen) {
            return None;
        }
        self.alias()?;
        Some(())
    }

    /// A join keyword sequence (`[INNER | LEFT|RIGHT|FULL [OUTER]] JOIN` or `CROSS JOIN`) if
    /// one is next: `Some(Some(true))` when ON/USING must follow, `Some(None)` when no join
    /// starts, `None` when one starts but does not end in JOIN.
    fn join(&mut self) -> Option<Option<bool>> {
        let constrained = if self.eat("cross") {
            false
        } else {
            if self.eat("left") || self.eat("right") || self.eat("full") {
                self.eat("outer");
            } else if !self.eat("inner") && !self.peek_word("join") {
                return Some(None);
            }
            true
        };
        self.eat("join").then_some(Some(constrained))
    }

    /// `ON cond` or `USING (ident {, ident})` after a join. USING's names are not column
    /// references to the walk, so they are not recorded.
    fn join_constraint(&mut self) -> Option<()> {
        if self.eat("on") {
            return self.condition();
        }
        if !self.eat("using") || !self.eat_tok(Tok::LParen) {
            return None;
        }
        loop {
            self.name_part()?;
            if !self.eat_tok(Tok::Comma) {
                break;
            }
        }
        self.eat_tok(Tok::RParen).then_some(())
    }

    fn insert(&mut self) -> Option<Vec<TableAction>> {
        if !self.eat("into") {
            return None;
        }
        let table = self.table()?;
        let mut cols = Vec::new();
        if self.eat_tok(Tok::LParen) {
            loop {
                cols.push(self.name_part()?);
                if !self.eat_tok(Tok::Comma) {
                    break;
                }
            }
            if !self.eat_tok(Tok::RParen) {
                return None;
            }
        }
        for c in &cols {
            self.column(c.clone());
        }
        if !self.eat("values") {
            return None;
        }
        loop {
            if !self.eat_tok(Tok::LParen) {
                return None;
            }
            self.expr()?;
            while self.eat_tok(Tok::Comma) {
                self.expr()?;
            }
            if !self.eat_tok(Tok::RParen) {
                return None;
            }
            if !self.eat_tok(Tok::Comma) {
                break;
            }
        }
        if self.eat("on") {
            // `ON CONFLICT [(ident {, ident})] DO NOTHING`: no second action (DO UPDATE has
            // one), and the conflict target's names are not column references to the walk.
            if !self.eat("conflict") {
                return None;
            }
            if self.eat_tok(Tok::LParen) {
                loop {
                    self.name_part()?;
                    if !self.eat_tok(Tok::Comma) {
                        break;
                    }
                }
                if !self.eat_tok(Tok::RParen) {
                    return None;
                }
            }
            if !self.eat("do") || !self.eat("nothing") {
                return None;
            }
        }
        self.returning()?;
        Some(vec![action(TableOp::Insert, table, false, cols)])
    }

    fn update(&mut self) -> Option<Vec<TableAction>> {
        let table = self.table()?;
        if !self.eat("set") {
            return None;
        }
        // The walk lists the assigned columns first, then the columns the values read.
        let mark = self.pos;
        let mut cols = Vec::new();
        loop {
            cols.push(self.name_part()?);
            if !self.eat_tok(Tok::Op(Op::Eq)) {
                return None;
            }
            self.skip_expr()?;
            if !self.eat_tok(Tok::Comma) {
                break;
            }
        }
        for c in &cols {
            self.column(c.clone());
        }
        let end = self.pos;
        self.pos = mark;
        loop {
            self.name_part()?;
            self.bump();
            self.expr()?;
            if !self.eat_tok(Tok::Comma) {
                break;
            }
        }
        debug_assert_eq!(self.pos, end);
        let has_where = self.where_clause()?;
        self.returning()?;
        Some(vec![action(TableOp::Update, table, has_where, cols)])
    }

    /// Scans an expression without recording anything (the first pass over SET values).
    fn skip_expr(&mut self) -> Option<()> {
        let (columns, functions) = (self.columns.len(), self.functions.len());
        self.expr()?;
        self.columns.truncate(columns);
        self.functions.truncate(functions);
        Some(())
    }

    fn delete(&mut self) -> Option<Vec<TableAction>> {
        if !self.eat("from") {
            return None;
        }
        let table = self.table()?;
        let has_where = self.where_clause()?;
        self.returning()?;
        Some(vec![action(TableOp::Delete, table, has_where, Vec::new())])
    }
}

fn action(op: TableOp, table: TableName, has_where: bool, columns: Vec<String>) -> TableAction {
    TableAction {
        op,
        table,
        has_where,
        columns,
        in_cte: false,
    }
}
