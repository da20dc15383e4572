//! Loading a system file: YAML → located JSON → JSON Schema (every structural problem at once)
//! → typed [`SystemSpec`] → semantic checks. Nothing is half-accepted: any error means no spec.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::SystemSpec;
use super::check::check;
use super::problem::{Level, Problem, Problems};
use super::tree::{self, Located, Pos};

/// The JSON Schema of the system file (draft 2020-12).
pub fn system_schema() -> Value {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<SystemSpec>();
    let mut value = serde_json::to_value(schema).expect("schema serialises");
    strip_null(&mut value);
    value
}

/// `Option<T>` fields are optional, not nullable: `rate_limit: null` is a mistake, so the
/// `null` alternatives schemars adds are removed.
fn strip_null(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            let is_null = |s: &Value| s.get("type").and_then(Value::as_str) == Some("null");
            if let Some(Value::Array(alts)) = map.get("anyOf")
                && alts.len() == 2
                && alts.iter().any(is_null)
            {
                let keep = alts
                    .iter()
                    .find(|a| !is_null(a))
                    .cloned()
                    .unwrap_or(Value::Null);
                map.remove("anyOf");
                if let Value::Object(inner) = keep {
                    for (k, val) in inner {
                        map.entry(k).or_insert(val);
                    }
                }
            }
            map.values_mut().for_each(strip_null);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

fn schema_value() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(system_schema)
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| jsonschema::validator_for(schema_value()).expect("generated schema is valid"))
}

/// Reads and checks a system file. `Ok` carries the spec and any warnings; `Err` carries every
/// problem found (errors and warnings), sorted by position.
pub fn load_system(text: &str) -> Result<(SystemSpec, Problems), Problems> {
    let doc = match tree::read(text) {
        Ok(doc) => doc,
        Err((pos, message)) => {
            return Err(Problems(vec![error_at(
                pos,
                "",
                format!("not valid YAML: {message}"),
                "fix the YAML syntax at this position",
            )]));
        }
    };
    let mut problems = Problems(schema_problems(&doc));
    if problems.has_errors() {
        problems.sort();
        return Err(problems);
    }
    let spec: SystemSpec = match serde_json::from_value(doc.value.clone()) {
        Ok(spec) => spec,
        Err(e) => {
            return Err(Problems(vec![error_at(
                Pos { line: 1, column: 1 },
                "",
                e.to_string(),
                "compare the file with `shakedown schema system`",
            )]));
        }
    };
    for (pointer, level, message, hint) in check(&spec) {
        let pos = doc.value_pos(&pointer);
        problems.0.push(Problem {
            level,
            line: pos.line,
            column: pos.column,
            pointer,
            message,
            hint,
        });
    }
    problems.sort();
    if problems.has_errors() {
        Err(problems)
    } else {
        Ok((spec, problems))
    }
}

fn error_at(pos: Pos, pointer: &str, message: String, hint: &str) -> Problem {
    Problem {
        level: Level::Error,
        line: pos.line,
        column: pos.column,
        pointer: pointer.to_string(),
        message,
        hint: hint.to_string(),
    }
}

fn schema_problems(doc: &Located) -> Vec<Problem> {
    let mut out = Vec::new();
    for err in validator().iter_errors(&doc.value) {
        let pointer = err.instance_path().as_str().to_string();
        let field = pointer.rsplit('/').next().unwrap_or("").to_string();
        let (pos, pointer, message, hint) = match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let key = unexpected.first().cloned().unwrap_or_default();
                let child = format!("{pointer}/{}", tree::escape(&key));
                let allowed = allowed_fields(&pointer);
                (
                    doc.key_pos(&child),
                    child,
                    format!("unknown field `{key}`"),
                    format!("remove it or fix its spelling; allowed here: {allowed}"),
                )
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or("?");
                (
                    doc.value_pos(&pointer),
                    pointer.clone(),
                    format!("missing required field `{name}`"),
                    format!("add `{name}:` here"),
                )
            }
            ValidationErrorKind::Enum { options } => (
                doc.value_pos(&pointer),
                pointer.clone(),
                format!("`{}` is not a valid `{field}`", show(err.instance())),
                format!("use one of: {}", list(options)),
            ),
            ValidationErrorKind::Pattern { .. } => (
                doc.value_pos(&pointer),
                pointer.clone(),
                format!("`{}` is not a valid `{field}`", show(err.instance())),
                pattern_hint(&field).to_string(),
            ),
            ValidationErrorKind::Type { kind } => {
                let expected = type_name(kind);
                let unit_hint = pattern_hint(&field);
                let hint = if unit_hint.starts_with("compare") {
                    format!("expected {expected}")
                } else {
                    format!("expected {expected}: {unit_hint}")
                };
                (
                    doc.value_pos(&pointer),
                    pointer.clone(),
                    format!(
                        "`{field}` must be {expected}, not `{}`",
                        show(err.instance())
                    ),
                    hint,
                )
            }
            _ => (
                doc.value_pos(&pointer),
                pointer.clone(),
                format!("`{field}`: {err}"),
                "compare the file with `shakedown schema system`".to_string(),
            ),
        };
        out.push(error_at(pos, &pointer, message, &hint));
    }
    out
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list(options: &Value) -> String {
    match options {
        Value::Array(items) => items.iter().map(show).collect::<Vec<_>>().join(", "),
        other => show(other),
    }
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => article(&format!("{t:?}").to_lowercase()),
        jsonschema::error::TypeKind::Multiple(ts) => format!("one of {ts:?}").to_lowercase(),
    }
}

fn article(t: &str) -> String {
    match t {
        "object" | "array" | "integer" => format!("an {t}"),
        "null" => t.to_string(),
        _ => format!("a {t}"),
    }
}

fn pattern_hint(field: &str) -> &'static str {
    match field {
        "per" | "request_timeout" => "write a duration like 500ms, 30s or 1m",
        "max_payload" => "write a size like 512KB or 10MB",
        "id" => {
            "use lowercase letters, digits, `_` and `-` (at most 64), starting with a letter or digit"
        }
        "token_env" => "name an environment variable, e.g. API_TOKEN",
        _ => "compare the value with `shakedown schema system`",
    }
}

/// The property names the schema allows for the object at `pointer` (best effort).
fn allowed_fields(pointer: &str) -> String {
    let schema = schema_value();
    let defs = &schema["$defs"];
    let mut node = schema;
    for seg in pointer.split('/').skip(1) {
        node = follow_ref(node, defs);
        let next = node
            .get("items")
            .or_else(|| node.get("properties").and_then(|p| p.get(seg)))
            .or_else(|| node.get("additionalProperties").filter(|v| v.is_object()));
        match next {
            Some(n) => node = n,
            None => return "see `shakedown schema system`".into(),
        }
    }
    match follow_ref(node, defs)
        .get("properties")
        .and_then(Value::as_object)
    {
        Some(props) => props.keys().cloned().collect::<Vec<_>>().join(", "),
        None => "see `shakedown schema system`".into(),
    }
}

fn follow_ref<'a>(node: &'a Value, defs: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|name| defs.get(name))
            .unwrap_or(node),
        None => node,
    }
}
