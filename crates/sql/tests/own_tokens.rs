//! The classifier's own tokenizer (`classify::tokens`) must hand sqlparser exactly the tokens
//! and spans sqlparser's tokenizer would: compared on every statement of the benchmark corpus
//! and on fuzzed text, and it must decline (`None`) whatever sqlparser's tokenizer refuses.

use proptest::prelude::*;
use shakedown_sql::classify::split::split;
use shakedown_sql::classify::text::prepare;
use shakedown_sql::classify::tokens::{keyword, tokenize};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::{ALL_KEYWORDS, ALL_KEYWORDS_INDEX};
use sqlparser::tokenizer::Tokenizer;

const CORPUS: &str = include_str!("../../../scripts/bench.d/classify_corpus.sql");

/// Compares both tokenizers on `text`; returns whether the own one took it.
fn same_tokens(text: &str) -> Result<bool, String> {
    let Some(own) = tokenize(text) else {
        return Ok(false);
    };
    match Tokenizer::new(&PostgreSqlDialect {}, text).tokenize_with_location() {
        Ok(theirs) if theirs == own => Ok(true),
        Ok(theirs) => Err(format!(
            "tokens differ for {text:?}:\nown:    {own:?}\ntheirs: {theirs:?}"
        )),
        Err(e) => Err(format!(
            "own tokens for {text:?}, which sqlparser refuses: {e}"
        )),
    }
}

#[test]
fn corpus_statements_tokenize_identically() {
    let mut total = 0;
    let mut own = 0;
    for line_block in CORPUS.split("\n\n") {
        let entry: String = line_block
            .lines()
            .filter(|l| !l.starts_with("--!"))
            .collect::<Vec<_>>()
            .join("\n");
        for r in split(&entry) {
            let text = prepare(&entry[r]).match_text;
            total += 1;
            if same_tokens(&text).unwrap_or_else(|m| panic!("{m}")) {
                own += 1;
            }
        }
    }
    assert!(total > 200, "corpus not read");
    // Most statements are plain enough (about two thirds when written).
    assert!(
        own * 2 > total,
        "only {own} of {total} statements took the own tokenizer"
    );
}

#[test]
fn keywords_are_found_like_sqlparser_finds_them() {
    for (i, kw) in ALL_KEYWORDS.iter().enumerate() {
        assert_eq!(keyword(kw), Some(ALL_KEYWORDS_INDEX[i]), "{kw}");
        assert_eq!(
            keyword(&kw.to_ascii_lowercase()),
            Some(ALL_KEYWORDS_INDEX[i]),
            "{kw}"
        );
    }
    for not in ["abalance", "selects", "", "x".repeat(100).as_str()] {
        assert_eq!(keyword(not), None, "{not}");
    }
}

#[test]
fn odd_text_is_left_to_sqlparser() {
    for text in [
        "SELECT E'a'",
        "SELECT $$x$$",
        "SELECT 'a\nb'",
        "SELECT a->>'b' FROM t",
        "SELECT 1e5",
        "SELECT .5",
        "SELECT t.1",
        "SELECT ( ._x)",
        "SELECT 'open",
        "SELECT \"open",
        "SELECT café",
        "SELECT a  -- c",
        "SELECT x'1F'",
        "SELECT $1a",
        "SELECT a[1]",
        "SELECT 1L",
    ] {
        assert_eq!(same_tokens(text), Ok(false), "{text}");
    }
    assert_eq!(
        same_tokens(
            "SELECT t1.a, \"Q\"\"x\", 'it''s', $2, 1.5 :: numeric || 'a' FROM s.t WHERE a <> 1 AND b != 2 AND c <= 3 % 2;"
        ),
        Ok(true)
    );
}

/// Pieces of SQL text, plain and odd, glued at random.
const PIECES: &[&str] = &[
    "SELECT",
    "select",
    "from",
    "t",
    "t1",
    "a$b",
    "_x",
    "\"Q\"",
    "\"a\"\"b\"",
    "'s'",
    "'it''s'",
    "''",
    "1",
    "42",
    "1.5",
    "1.",
    ".5",
    "1e3",
    "0x1F",
    "$1",
    "$",
    "(",
    ")",
    ",",
    ".",
    ";",
    "=",
    "<",
    ">",
    "<>",
    "!=",
    "<=",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    "::",
    ":",
    "!",
    "@",
    "#",
    "~",
    "^",
    "&",
    "|",
    "?",
    "[",
    "]",
    "{",
    "}",
    "e'x'",
    "E",
    "N",
    "'",
    "\"",
    "_",
    "\\",
    "é",
    " ",
    "  ",
    "\t",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 6000, ..ProptestConfig::default() })]

    #[test]
    fn fuzzed_text_tokenizes_identically(pieces in prop::collection::vec(prop::sample::select(PIECES), 1..16), spaces in prop::collection::vec(prop::bool::ANY, 16)) {
        let mut text = String::new();
        for (i, p) in pieces.iter().enumerate() {
            if i > 0 && spaces[i] {
                text.push(' ');
            }
            text.push_str(p);
        }
        if let Err(m) = same_tokens(&text) {
            prop_assert!(false, "{}", m);
        }
    }
}

/// The same fuzzing, deterministic and counted, so it is known to exercise the own tokenizer.
#[test]
fn fuzzed_text_often_takes_the_own_tokenizer() {
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    let plain = &PIECES[..PIECES
        .iter()
        .position(|p| *p == ":")
        .unwrap_or(PIECES.len())];
    let (mut own, total) = (0, 20_000);
    for _ in 0..total {
        let len = 1 + next(12);
        let mut text = String::new();
        for i in 0..len {
            if i > 0 && next(2) == 0 {
                text.push(' ');
            }
            // Mostly plain pieces, now and then an odd one.
            let pool = if next(8) == 0 { PIECES } else { plain };
            text.push_str(pool[next(pool.len())]);
        }
        if same_tokens(&text).unwrap_or_else(|m| panic!("{m}")) {
            own += 1;
        }
    }
    assert!(
        own * 5 > total,
        "only {own} of {total} texts took the own tokenizer"
    );
}
