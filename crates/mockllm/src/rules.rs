//! The rules file: what the mock answers. A YAML document with an ordered list of rules (the
//! first match wins) and a default reply. Loading reports problems with line and column, using
//! core's located YAML tree.

use regex::Regex;
use serde::Deserialize;
use shakedown_core::system::tree::{self, Located, Pos};
use shakedown_core::system::{Level, Problem, Problems};

/// The default model list of `GET /v1/models` when the file names none.
pub const DEFAULT_MODEL: &str = "shakedown-mock";

/// A loaded, checked rules file.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Models listed by `GET /v1/models`.
    pub models: Vec<String>,
    /// Ordered rules; the first one that matches answers.
    pub rules: Vec<Rule>,
    /// The answer when no rule matches.
    pub default: Reply,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            models: vec![DEFAULT_MODEL.to_string()],
            rules: Vec::new(),
            default: Reply::text("This is a deterministic reply from shakedown mock-llm."),
        }
    }
}

/// One rule: when it matches, and what it answers.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub on: Subject,
    pub matcher: Matcher,
    /// Only requests for this model match (exact name).
    pub model: Option<String>,
    pub reply: Reply,
}

/// Which turn a rule looks at. The subject is the newest turn of the conversation: a user
/// message or a tool result. `user` rules never match a tool-result turn, so an agent loop
/// (question → tool call → tool result) does not ask for the same tool again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    User,
    ToolResult,
}

/// How the subject text is tested.
#[derive(Debug, Clone)]
pub enum Matcher {
    Contains(String),
    Regex(Regex),
    Always,
}

/// What the mock answers: text, tool calls, or both, with optional usage numbers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

impl Reply {
    /// A text-only reply.
    pub fn text(text: &str) -> Self {
        Self {
            text: Some(text.to_string()),
            tool_calls: Vec::new(),
            usage: None,
        }
    }
}

/// A tool call the mock asks the client to make.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    pub name: String,
    /// The arguments as a JSON object.
    #[serde(default = "empty_object")]
    pub arguments: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// Token counts reported in the response; absent numbers are estimated (4 characters a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// The newest turn of a request, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub subject: Subject,
    pub text: String,
}

impl Rules {
    /// The reply for a request for `model` whose newest turn is `turn`, and the name of the
    /// rule that gave it (None: the default). A request without any user message or tool
    /// result matches no rule.
    pub fn answer(&self, model: &str, turn: Option<&Turn>) -> (&Reply, Option<&str>) {
        for rule in &self.rules {
            if rule.model.as_deref().is_some_and(|m| m != model) {
                continue;
            }
            let Some(turn) = turn else { continue };
            if turn.subject != rule.on {
                continue;
            }
            let hit = match &rule.matcher {
                Matcher::Contains(s) => turn.text.contains(s.as_str()),
                Matcher::Regex(r) => r.is_match(&turn.text),
                Matcher::Always => true,
            };
            if hit {
                return (&rule.reply, Some(rule.name.as_str()));
            }
        }
        (&self.default, None)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    default: Option<Reply>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "match")]
    when: RawMatch,
    reply: Reply,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    on: Option<Subject>,
    #[serde(default)]
    contains: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    always: Option<bool>,
    #[serde(default)]
    model: Option<String>,
}

fn problem(doc: &Located, pointer: &str, key: bool, message: String, hint: &str) -> Problem {
    let pos = if key {
        doc.key_pos(pointer)
    } else {
        doc.value_pos(pointer)
    };
    at(pos, pointer, message, hint)
}

fn at(pos: Pos, pointer: &str, message: String, hint: &str) -> Problem {
    Problem {
        level: Level::Error,
        line: pos.line,
        column: pos.column,
        pointer: pointer.to_string(),
        message,
        hint: hint.to_string(),
    }
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => out.push_str(&format!("/{}", tree::escape(key))),
            Segment::Enum { variant } => out.push_str(&format!("/{}", tree::escape(variant))),
            Segment::Unknown => {}
        }
    }
    out
}

/// Reads and checks a rules file. Every semantic problem is reported at once; a structural
/// (serde) problem stops at the first one, located by its path.
pub fn load_rules(text: &str) -> Result<Rules, Problems> {
    let doc = tree::read(text).map_err(|(pos, message)| {
        Problems(vec![at(
            pos,
            "",
            format!("not valid YAML: {message}"),
            "fix the YAML syntax at this position",
        )])
    })?;
    if doc.value.is_null() {
        return Ok(Rules::default());
    }
    if !doc.value.is_object() {
        return Err(Problems(vec![at(
            Pos { line: 1, column: 1 },
            "",
            "a rules file must be a YAML mapping".to_string(),
            "start with `rules:` and a list of rules",
        )]));
    }
    let raw: RawFile = serde_path_to_error::deserialize(&doc.value).map_err(|e| {
        let pointer = pointer_of(e.path());
        let msg = e.inner().to_string();
        let key = msg.starts_with("unknown field");
        Problems(vec![problem(
            &doc,
            &pointer,
            key,
            msg,
            "see docs/mock-llm.md for the rules format",
        )])
    })?;
    let mut problems = Vec::new();
    let mut rules = Vec::new();
    for (i, r) in raw.rules.into_iter().enumerate() {
        let base = format!("/rules/{i}");
        let m = &r.when;
        let count = usize::from(m.contains.is_some())
            + usize::from(m.regex.is_some())
            + usize::from(m.always.is_some());
        let matcher = if count != 1 {
            problems.push(problem(
                &doc,
                &format!("{base}/match"),
                false,
                format!(
                    "a match needs exactly one of `contains`, `regex`, `always` (found {count})"
                ),
                "keep one matcher per rule; write several rules for alternatives",
            ));
            None
        } else if let Some(s) = &m.contains {
            Some(Matcher::Contains(s.clone()))
        } else if let Some(re) = &m.regex {
            match Regex::new(re) {
                Ok(r) => Some(Matcher::Regex(r)),
                Err(e) => {
                    problems.push(problem(
                        &doc,
                        &format!("{base}/match/regex"),
                        false,
                        format!(
                            "invalid regex: {}",
                            e.to_string()
                                .lines()
                                .last()
                                .unwrap_or("")
                                .trim_start_matches("error: ")
                        ),
                        "use Rust regex syntax (https://docs.rs/regex)",
                    ));
                    None
                }
            }
        } else if m.always == Some(true) {
            Some(Matcher::Always)
        } else {
            problems.push(problem(
                &doc,
                &format!("{base}/match/always"),
                false,
                "`always: false` never matches".to_string(),
                "write `always: true` or remove the rule",
            ));
            None
        };
        check_reply(&doc, &format!("{base}/reply"), &r.reply, &mut problems);
        if let Some(matcher) = matcher {
            rules.push(Rule {
                name: r.name.unwrap_or_else(|| format!("rule {i}")),
                on: m.on.unwrap_or(Subject::User),
                matcher,
                model: m.model.clone(),
                reply: r.reply,
            });
        }
    }
    let default = raw.default.unwrap_or_else(|| Rules::default().default);
    check_reply(&doc, "/default", &default, &mut problems);
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    let models = if raw.models.is_empty() {
        vec![DEFAULT_MODEL.to_string()]
    } else {
        raw.models
    };
    Ok(Rules {
        models,
        rules,
        default,
    })
}

fn check_reply(doc: &Located, pointer: &str, reply: &Reply, problems: &mut Vec<Problem>) {
    if reply.text.is_none() && reply.tool_calls.is_empty() {
        problems.push(problem(
            doc,
            pointer,
            false,
            "a reply needs `text`, `tool_calls`, or both".to_string(),
            "add `text: …` or a `tool_calls:` list",
        ));
    }
    for (j, call) in reply.tool_calls.iter().enumerate() {
        if !call.arguments.is_object() {
            problems.push(problem(
                doc,
                &format!("{pointer}/tool_calls/{j}/arguments"),
                false,
                "tool call arguments must be a mapping (a JSON object)".to_string(),
                "write e.g. `arguments: {city: Paris}`",
            ));
        }
        if call.name.is_empty() {
            problems.push(problem(
                doc,
                &format!("{pointer}/tool_calls/{j}/name"),
                false,
                "a tool call needs a non-empty name".to_string(),
                "name the tool the client should call",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins_and_respects_subject_and_model() {
        let rules = load_rules(
            "rules:\n  - name: w\n    match: {contains: weather}\n    reply:\n      tool_calls:\n        - {name: get_weather, arguments: {city: Paris}}\n  - name: t\n    match: {on: tool_result, regex: '\\d+C'}\n    reply: {text: warm}\n  - name: m\n    match: {always: true, model: big}\n    reply: {text: big}\n",
        )
        .unwrap();
        let user = |t: &str| Turn {
            subject: Subject::User,
            text: t.into(),
        };
        assert_eq!(rules.answer("x", Some(&user("the weather?"))).1, Some("w"));
        let tool = Turn {
            subject: Subject::ToolResult,
            text: "21C".into(),
        };
        assert_eq!(rules.answer("x", Some(&tool)).1, Some("t"));
        assert_eq!(rules.answer("x", Some(&user("hi"))).1, None);
        assert_eq!(rules.answer("big", Some(&user("hi"))).1, Some("m"));
        assert_eq!(rules.models, vec![DEFAULT_MODEL.to_string()]);
    }

    #[test]
    fn bad_files_give_located_errors() {
        let p = load_rules("rules:\n  - match: {contains: a}\n    reply: {txt: b}\n").unwrap_err();
        assert_eq!((p.0[0].line, p.0[0].column), (3, 13), "{:?}", p.0);
        assert!(p.0[0].message.contains("unknown field"));
        let p = load_rules("rules:\n  - match: {regex: '(' }\n    reply: {text: b}\n").unwrap_err();
        assert_eq!(p.0[0].line, 2);
        assert_eq!(p.0[0].pointer, "/rules/0/match/regex");
        let p = load_rules("rules:\n  - match: {}\n    reply: {}\n").unwrap_err();
        assert_eq!(p.0.len(), 2);
        assert_eq!(p.0[1].pointer, "/rules/0/reply");
        assert!(load_rules("rules: [\n").is_err());
    }

    #[test]
    fn the_documented_example_loads() {
        let doc = include_str!("../../../docs/mock-llm.md");
        let start = doc.find("```yaml\n").expect("an example") + 8;
        let len = doc[start..].find("```").expect("closed");
        let rules = load_rules(&doc[start..start + len]).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(rules.rules.len(), 3);
        assert_eq!(rules.models, ["mock-gpt", "mock-claude"]);
        assert_eq!(rules.default, Reply::text("I do not know."));
    }
}
