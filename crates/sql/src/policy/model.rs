//! The policy file as written: ChaosTrace's `PolicyDefinition` field for field, with its
//! defaults, plus Shakedown's extensions. Unknown fields are refused (ChaosTrace's pydantic
//! model would drop them silently, which turns a misspelt safety rule into no rule at all).
//! Names (operations, statement types, table globs) stay strings here and are checked, with
//! their location, when the policy is compiled.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use shakedown_core::ByteSize;

use super::PolicySeverity;

fn default_version() -> String {
    "1.0".into()
}

fn default_max_query_length() -> u64 {
    10_000
}

fn default_true() -> bool {
    true
}

fn default_operations() -> Vec<String> {
    ["DELETE", "UPDATE", "DROP", "TRUNCATE"]
        .into_iter()
        .map(String::from)
        .collect()
}

fn default_error() -> PolicySeverity {
    PolicySeverity::Error
}

fn default_critical() -> PolicySeverity {
    PolicySeverity::Critical
}

/// `version: 1.0` (a number) is as good as `"1.0"`.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        S(String),
        N(serde_json::Number),
    }
    Ok(match V::deserialize(d)? {
        V::S(s) => s,
        V::N(n) => n.to_string(),
    })
}

/// A whole policy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub name: String,
    #[serde(default = "default_version", deserialize_with = "string_or_number")]
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub forbidden_sql: PatternList,
    #[serde(default)]
    pub required_sql: PatternList,
    #[serde(default)]
    pub table_restrictions: Vec<TableRestrictionFile>,
    #[serde(default)]
    pub row_limits: Vec<RowLimitFile>,
    #[serde(default)]
    pub honeypots: HoneypotsFile,
    #[serde(default)]
    pub fail_on_unknown_table: bool,
    #[serde(default)]
    pub require_transaction: bool,
    #[serde(default = "default_max_query_length")]
    pub max_query_length: u64,

    // Shakedown extensions (absent from ChaosTrace files; defaults keep ChaosTrace behaviour
    // except where it would fail open).
    /// What to do with a statement the parser cannot read: block (default), flag or allow.
    #[serde(default)]
    pub on_unparsed: UnparsedAction,
    /// Cap on one statement's size before parsing (default 1MB).
    #[serde(default)]
    pub max_statement_size: Option<ByteSize>,
    /// If set, only these statement types and table operations pass.
    #[serde(default)]
    pub allowed_statement_types: Option<Vec<String>>,
    /// Statement types and table operations that never pass.
    #[serde(default)]
    pub forbidden_statement_types: Vec<String>,
    /// Tables that exist, for `fail_on_unknown_table` (besides the catalog the proxy supplies).
    #[serde(default)]
    pub known_tables: Vec<String>,
}

/// The `on_unparsed` knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnparsedAction {
    #[default]
    Block,
    Flag,
    Allow,
}

/// `forbidden_sql` / `required_sql`: ChaosTrace accepts `{patterns: [...]}`, a plain list, or
/// null; each entry is a pattern string or a rule mapping.
#[derive(Debug, Clone, Default)]
pub struct PatternList {
    pub rules: Vec<PatternRuleFile>,
    /// Written as `{patterns: [...]}` (so entry `i` lives at `/…/patterns/i`).
    pub nested: bool,
}

/// One `SQLPatternRule` (`severity` defaults to error, `message` to empty, matching is
/// case-insensitive unless `case_sensitive`).
#[derive(Debug, Clone)]
pub struct PatternRuleFile {
    pub pattern: String,
    pub severity: PolicySeverity,
    pub message: String,
    pub case_sensitive: bool,
    /// Whether the entry was a bare string (so its pointer is the entry itself).
    pub bare: bool,
}

impl<'de> Deserialize<'de> for PatternRuleFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PatternRuleFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a pattern string or a mapping with `pattern`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PatternRuleFile, E> {
                Ok(PatternRuleFile {
                    pattern: v.to_string(),
                    severity: PolicySeverity::Error,
                    message: String::new(),
                    case_sensitive: false,
                    bare: true,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PatternRuleFile, A::Error> {
                Rule::deserialize(de::value::MapAccessDeserializer::new(map)).map(|r| {
                    PatternRuleFile {
                        pattern: r.pattern,
                        severity: r.severity,
                        message: r.message,
                        case_sensitive: r.case_sensitive,
                        bare: false,
                    }
                })
            }
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Rule {
            pattern: String,
            #[serde(default = "default_error")]
            severity: PolicySeverity,
            #[serde(default)]
            message: String,
            #[serde(default)]
            case_sensitive: bool,
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for PatternList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PatternList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of patterns, or a mapping with `patterns`")
            }
            fn visit_unit<E>(self) -> Result<PatternList, E> {
                Ok(PatternList::default())
            }
            fn visit_none<E>(self) -> Result<PatternList, E> {
                Ok(PatternList::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PatternList, A::Error> {
                let mut rules = Vec::new();
                while let Some(r) = seq.next_element::<PatternRuleFile>()? {
                    rules.push(r);
                }
                Ok(PatternList {
                    rules,
                    nested: false,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PatternList, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Nested {
                    #[serde(default)]
                    patterns: Option<Vec<PatternRuleFile>>,
                }
                let n = Nested::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PatternList {
                    rules: n.patterns.unwrap_or_default(),
                    nested: true,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// One `TableRestriction`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRestrictionFile {
    pub table: String,
    #[serde(default = "default_operations")]
    pub operations: Vec<String>,
    #[serde(default = "default_true")]
    pub require_where: bool,
    #[serde(default)]
    pub max_rows: Option<u64>,
    #[serde(default)]
    pub allowed_columns: Option<Vec<String>>,
    #[serde(default)]
    pub forbidden_columns: Vec<String>,
}

/// One `RowLimit`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowLimitFile {
    pub operation: String,
    pub max_rows: u64,
    #[serde(default = "default_error")]
    pub action: PolicySeverity,
}

/// `HoneypotConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoneypotsFile {
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub columns: Vec<String>,
    /// File honeypots belong to the file-system proxy; accepted and reported as not enforced.
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default = "default_critical")]
    pub severity: PolicySeverity,
}

impl Default for HoneypotsFile {
    fn default() -> Self {
        HoneypotsFile {
            tables: Vec::new(),
            columns: Vec::new(),
            files: Vec::new(),
            severity: PolicySeverity::Critical,
        }
    }
}
