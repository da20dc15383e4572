//! Loading a fault config: YAML → the located tree → each section deserialised on its own
//! (so an unknown field or a wrong type in one rule does not hide the problems in the others)
//! → resolved rules, with every semantic problem located. Nothing is half-accepted: any error
//! means no config.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;
use shakedown_core::located::{finish, parse, parse_value, problem};
use shakedown_core::system::tree::Located;
use shakedown_core::system::{Level, Problem, Problems};

use super::model::{ChaosBlock, FaultFile};
use super::rules::{Resolver, context_attacks};
use super::{FaultConfig, Rule};
use crate::profiles;
use crate::server::ProxySettings;

/// The file kind in messages, and its page under `docs/`.
pub(super) const WHAT: &str = "fault config";
pub(super) const DOC_PAGE: &str = "fault-config";

/// Reads and resolves a fault config. `Ok` carries the config and any warnings; `Err` every
/// problem found.
pub fn load_faults(text: &str) -> Result<(FaultConfig, Problems), Problems> {
    let (root, doc) = parse::<Value>(text, WHAT, DOC_PAGE)?;
    let mut out = Vec::new();
    let config = compile(&root, &doc, &mut out);
    finish(config, Problems(out))
}

/// Reads a fault config file; an unreadable file is one problem naming the path.
pub fn load_faults_file(path: &Path) -> Result<(FaultConfig, Problems), Problems> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_faults(&text),
        Err(e) => Err(Problems(vec![Problem {
            level: Level::Error,
            line: 0,
            column: 0,
            pointer: String::new(),
            message: format!("cannot read fault config {}: {e}", path.display()),
            hint: "check the path, or use a built-in profile with --profile NAME".into(),
        }])),
    }
}

/// Where problems go while a file is resolved.
pub(super) struct Ctx<'a> {
    pub doc: &'a Located,
    pub out: &'a mut Vec<Problem>,
}

impl Ctx<'_> {
    pub fn error(&mut self, pointer: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.out
            .push(problem(self.doc, pointer, Level::Error, message, hint));
    }

    pub fn warn(&mut self, pointer: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.out
            .push(problem(self.doc, pointer, Level::Warning, message, hint));
    }

    /// Deserialises the section at `pointer`. On a problem with one field, reports it, drops
    /// that field and tries again, so every unknown field and wrong type of the section is
    /// reported at once. `None` when the section cannot be read even so.
    pub fn section<T: DeserializeOwned>(&mut self, value: &Value, pointer: &str) -> Option<T> {
        if !value.is_object() {
            // Serde would read a list as a struct's fields in order: say what is expected.
            let what = if pointer.is_empty() {
                "the file"
            } else {
                pointer
            };
            self.error(
                pointer,
                format!("{what} must be a mapping of fields"),
                format!("see docs/{DOC_PAGE}.md for the fields allowed here"),
            );
            return None;
        }
        let mut v = value.clone();
        let mut dropped: Vec<String> = Vec::new();
        // Each retry drops one key, so this ends after at most keys + 1 attempts.
        loop {
            let p = match parse_value::<T>(self.doc, &v, pointer, WHAT, DOC_PAGE) {
                Ok(t) => return Some(t),
                Err(p) => p,
            };
            // A field we dropped for being wrong is now "missing": already reported.
            if p.message.starts_with("missing required field")
                && dropped
                    .iter()
                    .any(|k| p.message.contains(&format!("`{k}`")))
            {
                return None;
            }
            let key = p
                .pointer
                .strip_prefix(pointer)
                .and_then(|rest| rest.strip_prefix('/'))
                .map(|rest| unescape(rest.split('/').next().unwrap_or(rest)));
            self.out.push(p);
            let removed = match (key, v.as_object_mut()) {
                (Some(k), Some(obj)) => obj.remove(&k).map(|_| k),
                _ => None,
            };
            match removed {
                Some(k) => dropped.push(k),
                None => return None,
            }
        }
    }
}

/// Undoes RFC 6901 escaping of one pointer segment.
fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

fn compile(root: &Value, doc: &Located, out: &mut Vec<Problem>) -> FaultConfig {
    let mut cx = Ctx { doc, out };
    let Some(file) = cx.section::<FaultFile>(root, "") else {
        return FaultConfig::default();
    };

    let mut rules: Vec<Rule> = Vec::new();
    let mut profile_name = None;
    if let Some(name) = &file.profile {
        match profiles::get(name) {
            Ok(p) => {
                rules = p.rules;
                profile_name = Some(name.clone());
            }
            Err(e) => cx.error(
                "/profile",
                format!("unknown profile `{name}`"),
                format!("use one of: {}", e.known().join(", ")),
            ),
        }
    }
    let taken = rules
        .iter()
        .map(|r| (r.name.clone(), r.origin.clone()))
        .collect();
    let mut resolver = Resolver::new(&mut cx, taken);
    match &file.chaos {
        None | Some(Value::Null) => {}
        Some(chaos) => {
            if let Some(block) = resolver.cx.section::<ChaosBlock>(chaos, "/chaos") {
                for (i, v) in block.tool_faults.iter().flatten().enumerate() {
                    rules.extend(resolver.tool_fault(v, i));
                }
                for (i, v) in block.llm_faults.iter().flatten().enumerate() {
                    rules.extend(resolver.llm_fault(v, i));
                }
                if let Some(ca) = &block.context_attacks {
                    for (pointer, name, v) in context_attacks(resolver.cx, ca) {
                        rules.extend(resolver.context_attack(&v, &pointer, &name));
                    }
                }
            }
        }
    }

    let proxy = match &file.proxy {
        Some(v) if !v.is_null() => cx.section::<ProxySettings>(v, "/proxy"),
        // The same defaults as `proxy: {}`.
        _ => Some(ProxySettings::default()),
    }
    .unwrap_or_default();

    if rules.is_empty() && !cx.out.iter().any(|p| p.level == Level::Error) {
        cx.warn(
            "",
            "this config has no fault rules: the proxy forwards every call untouched",
            "add rules under `chaos:` (tool_faults, llm_faults, context_attacks) or start from a profile with `profile: NAME`",
        );
    }

    FaultConfig {
        version: file.version,
        name: file.name,
        description: file.description,
        profile: profile_name,
        rules,
        proxy,
    }
}
