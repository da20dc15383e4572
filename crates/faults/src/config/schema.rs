//! The JSON Schema of the fault config file (`shakedown schema faults`,
//! `schemas/faults.schema.json`), for editors and CI linters. It is generated from the same
//! types the loader reads, plus the enumerated names (modes, types, strategies) the loader
//! checks, so the two cannot drift apart.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::model::{ContextAttackFile, FaultFile};
use super::rules::{CONTEXT_TYPES, DRIFT_TYPES, LLM_MODES, SEVERITIES, TOOL_MODES};

/// `version:` is a string or a number (`2.0`).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only its schema is used.
pub(super) enum Version {
    Text(String),
    Number(f64),
}

/// `context_attacks:` is a list of attacks with `type:`, or a mapping keyed by type.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only its schema is used.
pub(super) enum ContextAttacks {
    List(Vec<ContextAttackFile>),
    ByType(BTreeMap<String, ContextAttackFile>),
}

/// The JSON Schema of a fault config (draft 2020-12).
pub fn faults_schema() -> Value {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<FaultFile>();
    let mut v = serde_json::to_value(schema).expect("schema serialises");
    strip_null(&mut v);
    let names = |list: &[&str]| json!(list);
    let defs = &mut v["$defs"];
    set_enum(defs, "ToolFaultFile", "mode", names(TOOL_MODES));
    set_enum(defs, "LlmFaultFile", "mode", names(LLM_MODES));
    set_enum(defs, "LlmFaultFile", "drift_type", names(DRIFT_TYPES));
    set_enum(defs, "LlmFaultFile", "severity", names(SEVERITIES));
    set_enum(
        defs,
        "LlmFaultFile",
        "direction",
        json!(["expand", "compress"]),
    );
    set_enum(defs, "ContextAttackFile", "type", names(CONTEXT_TYPES));
    set_enum(
        defs,
        "ContextAttackFile",
        "strategy",
        json!(["append", "prepend", "replace"]),
    );
    // The mapping form's keys are attack types.
    if let Some(Value::Array(alts)) = defs
        .get_mut("ContextAttacks")
        .and_then(|d| d.get_mut("anyOf"))
    {
        for alt in alts {
            if alt.get("type").and_then(Value::as_str) == Some("object") {
                alt["propertyNames"] = json!({"enum": CONTEXT_TYPES});
            }
        }
    }
    v
}

fn set_enum(defs: &mut Value, def: &str, field: &str, names: Value) {
    let prop = &mut defs[def]["properties"][field];
    debug_assert!(prop.is_object(), "{def}.{field} is in the schema");
    if let Value::Object(map) = prop {
        map.insert("enum".into(), names);
    }
}

/// `Option<T>` fields are optional, not nullable (`mode: null` is a mistake): the `null`
/// alternatives schemars adds are removed, as for the system file's schema.
fn strip_null(v: &mut Value) {
    match v {
        Value::Object(map) => {
            // `#[serde(default)]` on an `Option` says nothing a reader needs.
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
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
                let keep = alts.iter().find(|a| !is_null(a)).cloned();
                map.remove("anyOf");
                if let Some(Value::Object(inner)) = keep {
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
