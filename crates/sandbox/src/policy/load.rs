//! Loading a file-system policy: YAML → typed file model (first structural error, located) →
//! compiled [`FsPolicy`] (every remaining problem, located: unknown operation names, patterns
//! that are not paths, sizes that do not parse). Operations no kernel interface reports are
//! accepted with a warning, since ChaosTrace files list them. Any error means no policy.

use shakedown_core::ByteSize;
use shakedown_core::located::{finish, parse, problem};
use shakedown_core::system::tree::Located;
use shakedown_core::system::{Level, Problem, Problems};

use super::model::{Action, FsPolicyFile, SizeValue};
use super::{Forbidden, FsOp, FsPolicy, HoneypotRule, PathGlob, PathRule, map_path};

/// Reads and compiles a policy. `Ok` carries the policy and any warnings; `Err` every problem.
pub fn load_fs_policy(text: &str) -> Result<(FsPolicy, Problems), Problems> {
    let (file, doc) = parse::<FsPolicyFile>(text, "file policy", "sandbox")?;
    let mut problems = Vec::new();
    let policy = compile(file, &doc, &mut problems);
    finish(policy, Problems(problems))
}

fn op_names() -> String {
    FsOp::ALL.map(|o| o.as_str()).join(", ")
}

fn operation(doc: &Located, pointer: &str, name: &str, out: &mut Vec<Problem>) -> Option<FsOp> {
    match FsOp::parse(name) {
        None => {
            out.push(problem(
                doc,
                pointer,
                Level::Error,
                format!("`{name}` is not a file operation"),
                format!("use one of: {}", op_names()),
            ));
            None
        }
        Some(op) if !op.observable() => {
            out.push(problem(
                doc,
                pointer,
                Level::Warning,
                format!(
                    "`{}` cannot be observed by fanotify or inotify, so this never fires",
                    op.as_str()
                ),
                "keep it for ChaosTrace compatibility, or remove it; see docs/sandbox.md",
            ));
            Some(op)
        }
        Some(op) => Some(op),
    }
}

/// Checks that a pattern is a path glob once `sandbox_root` is mapped (to a stand-in root).
fn pattern(doc: &Located, pointer: &str, root: &str, text: &str, out: &mut Vec<Problem>) -> bool {
    let mapped = map_path(root, "/workdir", text);
    if text.trim().is_empty() || PathGlob::new(&mapped).is_none() {
        out.push(problem(
            doc,
            pointer,
            Level::Error,
            format!("`{text}` is not a path pattern"),
            "write an absolute path or glob such as `/sandbox/config/**` (`**` crosses folders, `*` does not)",
        ));
        return false;
    }
    true
}

fn compile(file: FsPolicyFile, doc: &Located, out: &mut Vec<Problem>) -> FsPolicy {
    if file.name.trim().is_empty() {
        out.push(problem(
            doc,
            "/name",
            Level::Error,
            "the policy name is empty",
            "name the policy, e.g. `name: strict_fs`",
        ));
    }
    let root = file.sandbox_root.clone();
    if !root.starts_with('/') {
        out.push(problem(
            doc,
            "/sandbox_root",
            Level::Error,
            format!("sandbox_root `{root}` is not an absolute path"),
            "write the path your patterns call the sandbox, e.g. `/sandbox`",
        ));
    }

    let mut protected = Vec::new();
    for (i, r) in file.protected_paths.into_iter().enumerate() {
        let base = format!("/protected_paths/{i}");
        let ok = pattern(doc, &format!("{base}/pattern"), &root, &r.pattern, out);
        let operations: Vec<FsOp> = r
            .operations
            .iter()
            .enumerate()
            .filter_map(|(j, o)| operation(doc, &format!("{base}/operations/{j}"), o, out))
            .collect();
        if ok {
            protected.push(PathRule {
                pattern: r.pattern,
                operations,
                action: r.action,
                risk: r.risk_level,
                message: r.message,
            });
        }
    }

    let mut allowed = Vec::new();
    for (i, p) in file.allowed_paths.into_iter().enumerate() {
        if pattern(doc, &format!("/allowed_paths/{i}"), &root, &p, out) {
            allowed.push(p);
        }
    }

    let mut forbidden = Vec::new();
    for (i, f) in file.forbidden_operations.into_iter().enumerate() {
        let pointer = format!("/forbidden_operations/{i}/operation");
        if let Some(op) = operation(doc, &pointer, &f.operation, out) {
            forbidden.push(Forbidden {
                operation: op,
                message: f
                    .message
                    .unwrap_or_else(|| format!("{} is forbidden", op.as_str())),
            });
        }
    }

    let max_file_size = match file.max_file_size {
        SizeValue::Bytes(n) => n,
        SizeValue::Text(t) => match t.parse::<ByteSize>() {
            Ok(s) => s.bytes(),
            Err(e) => {
                out.push(problem(
                    doc,
                    "/max_file_size",
                    Level::Error,
                    format!("max_file_size: {e}"),
                    "write bytes (104857600) or a size such as 100MB",
                ));
                u64::MAX
            }
        },
    };
    if max_file_size == 0 {
        out.push(problem(
            doc,
            "/max_file_size",
            Level::Error,
            "max_file_size 0 would refuse every write",
            "use a size such as 100MB (the default)",
        ));
    }
    if file.max_files_per_operation == 0 {
        out.push(problem(
            doc,
            "/max_files_per_operation",
            Level::Error,
            "max_files_per_operation 0 would flag every delete",
            "use a count such as 1000 (the default)",
        ));
    }

    let mut honeypots = Vec::new();
    for (i, h) in file.honeypots.into_iter().enumerate() {
        let pointer = format!("/honeypots/{i}/path");
        let literal = !h.path.contains(['*', '?']);
        if !literal {
            out.push(problem(
                doc,
                &pointer,
                Level::Error,
                format!("honeypot path `{}` is a pattern", h.path),
                "a honeypot is one file or directory; write its path without * or ?",
            ));
        } else if pattern(doc, &pointer, &root, &h.path, out) {
            if h.action == Some(Action::Allow) {
                out.push(problem(
                    doc,
                    &format!("/honeypots/{i}/action"),
                    Level::Error,
                    "a honeypot cannot be `allow`",
                    "use `block` (deny and report) or `allow_flagged` (let it be read, report it)",
                ));
            }
            honeypots.push(HoneypotRule {
                path: h.path,
                is_directory: h.is_directory,
                recursive: h.recursive,
                alert_on_list: h.alert_on_list,
                action: h.action.unwrap_or(Action::Block),
            });
        }
    }

    FsPolicy {
        name: file.name,
        version: file.version,
        description: file.description,
        sandbox_root: root,
        protected,
        allowed,
        forbidden,
        max_file_size,
        max_files_per_operation: file.max_files_per_operation,
        honeypots,
        allow_symlinks: file.allow_symlinks,
        allow_recursive_delete: file.allow_recursive_delete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<Problem> {
        load_fs_policy(text).unwrap_err().0
    }

    #[test]
    fn the_shipped_strict_fs_policy_loads_in_chaostrace_format() {
        let text = include_str!("../../../../policies/strict_fs.yaml");
        let (p, warnings) = load_fs_policy(text).unwrap();
        assert_eq!(p.name, "strict_fs");
        assert_eq!(p.protected.len(), 5);
        assert_eq!(
            p.protected[0].operations,
            [FsOp::Write, FsOp::Delete, FsOp::Chmod, FsOp::Chown]
        );
        assert_eq!(p.max_file_size, 104_857_600);
        assert_eq!(p.max_files_per_operation, 500);
        assert_eq!(p.honeypots.len(), 4);
        assert!(p.honeypots[1].is_directory && p.honeypots[1].recursive);
        assert!(!p.allow_symlinks && !p.allow_recursive_delete);
        assert!(warnings.0.is_empty(), "{warnings:?}");
    }

    #[test]
    fn unknown_fields_are_located() {
        let e = errors("name: x\nprotected_paths:\n  - pattern: /a/**\n    acton: block\n");
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].line, e[0].column), (4, 5));
        assert!(e[0].message.contains("acton"), "{}", e[0].message);
    }

    #[test]
    fn every_semantic_problem_is_reported_with_its_line() {
        let e = errors(
            "name: x\nprotected_paths:\n  - pattern: relative//x\n    operations: [WRITE, SHRED]\nforbidden_operations:\n  - operation: NUKE\nmax_file_size: 10 parsecs\nhoneypots:\n  - path: /sandbox/*.key\n",
        );
        let lines: Vec<u64> = e.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 4, 6, 7, 9], "{e:?}");
        assert!(e[1].message.contains("SHRED") && e[1].hint.contains("RMTREE"));
    }

    #[test]
    fn bad_enum_values_and_yaml_are_located() {
        let e = errors("name: x\nprotected_paths:\n  - pattern: /a\n    action: deny\n");
        assert_eq!(e[0].line, 4);
        let e = errors("name: x\nhoneypots: [\n");
        assert!(e[0].message.contains("not valid YAML"));
    }

    #[test]
    fn unobservable_operations_warn() {
        let (_, w) =
            load_fs_policy("name: x\nforbidden_operations:\n  - operation: STAT\n").unwrap();
        assert_eq!(w.0.len(), 1);
        assert_eq!(w.0[0].line, 3);
    }
}
