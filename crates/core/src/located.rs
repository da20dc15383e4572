//! Reading a YAML file into a typed model with located problems, for policies, chaos scripts
//! and fault configs. Built on the located YAML tree (`crate::system::tree`): serde reports
//! the path of the first structural error, which the tree turns into a line and column; the
//! caller's semantic checks then report every remaining problem at once.

use crate::system::tree::{self, Located, Pos};
use crate::system::{Level, Problem, Problems};
use serde::de::DeserializeOwned;

/// A problem at the value (or, for `key`, the key) that `pointer` names.
pub fn problem(
    doc: &Located,
    pointer: &str,
    level: Level,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> Problem {
    let pos = doc.value_pos(pointer);
    at(pos, pointer, level, message, hint)
}

fn at(
    pos: Pos,
    pointer: &str,
    level: Level,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> Problem {
    Problem {
        level,
        line: pos.line,
        column: pos.column,
        pointer: pointer.to_string(),
        message: message.into(),
        hint: hint.into(),
    }
}

/// The JSON pointer of a serde path (`a.b[0].c` → `/a/b/0/c`).
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => {
                out.push('/');
                out.push_str(&index.to_string());
            }
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&tree::escape(key));
            }
            Segment::Enum { variant } => {
                out.push('/');
                out.push_str(&tree::escape(variant));
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// The text between the first pair of backticks in a serde message.
fn first_quoted(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

/// Reads `text` as YAML and deserialises it into `T`. `what` names the file kind in hints
/// (`policy`, `chaos script`); `doc_page` is the page under `docs/` that documents its fields
/// (`policies` for `docs/policies.md`).
pub fn parse<T: DeserializeOwned>(
    text: &str,
    what: &str,
    doc_page: &str,
) -> Result<(T, Located), Problems> {
    let doc = match tree::read(text) {
        Ok(doc) => doc,
        Err((pos, message)) => {
            return Err(Problems(vec![at(
                pos,
                "",
                Level::Error,
                format!("not valid YAML: {message}"),
                "fix the YAML syntax at this position",
            )]));
        }
    };
    if !doc.value.is_object() {
        return Err(Problems(vec![at(
            Pos { line: 1, column: 1 },
            "",
            Level::Error,
            format!("a {what} must be a YAML mapping (`name: …` and its fields)"),
            format!("start the file with `name: my_{}`", what.replace(' ', "_")),
        )]));
    }
    match serde_path_to_error::deserialize::<_, T>(&doc.value) {
        Ok(v) => Ok((v, doc)),
        Err(e) => {
            let p = serde_problem(&doc, "", &e, what, doc_page);
            Err(Problems(vec![p]))
        }
    }
}

/// Deserialises `value`, the part of an already-read document at `pointer`, into `T`. Lets a
/// loader read a file section by section and report a problem in every section, not only the
/// first; the problem is located like [`parse`]'s.
pub fn parse_value<T: DeserializeOwned>(
    doc: &Located,
    value: &serde_json::Value,
    pointer: &str,
    what: &str,
    doc_page: &str,
) -> Result<T, Problem> {
    serde_path_to_error::deserialize::<_, T>(value)
        .map_err(|e| serde_problem(doc, pointer, &e, what, doc_page))
}

/// Turns a serde error (with the path below `base`) into a located problem with a hint.
fn serde_problem(
    doc: &Located,
    base: &str,
    e: &serde_path_to_error::Error<serde_json::Error>,
    what: &str,
    doc_page: &str,
) -> Problem {
    let pointer = format!("{base}{}", pointer_of(e.path()));
    let msg = e.inner().to_string();
    let field = pointer.rsplit('/').next().unwrap_or("").to_string();
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let key = first_quoted(rest).unwrap_or("?");
        // serde_path_to_error usually ends the path at the unknown key already.
        let escaped = tree::escape(key);
        let child = if pointer.rsplit('/').next() == Some(escaped.as_str()) {
            pointer.clone()
        } else {
            format!("{pointer}/{escaped}")
        };
        let allowed = rest
            .split_once("expected ")
            .map(|(_, a)| a.replace('`', "").replace("one of ", ""))
            .unwrap_or_default();
        at(
            doc.key_pos(&child),
            &child,
            Level::Error,
            format!("unknown field `{key}`"),
            format!("remove it or fix its spelling; allowed here: {allowed}"),
        )
    } else if let Some(rest) = msg.strip_prefix("missing field ") {
        let key = first_quoted(rest).unwrap_or("?");
        at(
            doc.value_pos(&pointer),
            &pointer,
            Level::Error,
            format!("missing required field `{key}`"),
            format!("add `{key}:` here"),
        )
    } else {
        let label = if field.is_empty() {
            what.to_string()
        } else {
            format!("`{field}`")
        };
        at(
            doc.value_pos(&pointer),
            &pointer,
            Level::Error,
            format!("{label}: {msg}"),
            format!("see docs/{doc_page}.md for this field"),
        )
    }
}

/// Sorts problems and splits the outcome: any error means the file is refused.
pub fn finish<T>(value: T, mut problems: Problems) -> Result<(T, Problems), Problems> {
    problems.sort();
    if problems.has_errors() {
        Err(problems)
    } else {
        Ok((value, problems))
    }
}
