//! `shakedown validate [FILE] [--policy FILE] [--chaos FILE] [--faults FILE] [--scenario FILE]
//! [--fs-policy FILE]`: every problem with line:column and a hint; exit 2 on errors.

use std::path::PathBuf;

use clap::Args;
use shakedown_core::system::Problems;

use super::builtin::{CHAOS_SCRIPTS, POLICIES, resolve};
use super::{Loaded, read_system};
use crate::exit::Exit;

#[derive(Debug, Args)]
#[command(arg_required_else_help = true)]
pub struct ValidateArgs {
    /// A system file to check.
    pub file: Option<PathBuf>,
    /// A SQL policy (file, or a built-in name: strict, permissive, read_only).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<String>,
    /// A chaos script (file, or a built-in name such as db_lock_v1).
    #[arg(long, value_name = "FILE")]
    pub chaos: Option<String>,
    /// A fault config for the HTTP fault proxy (file, or a built-in profile name).
    #[arg(long, value_name = "FILE")]
    pub faults: Option<String>,
    /// An agent-run scenario (file, or a built-in name such as data_cleanup).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<String>,
    /// A file policy in ChaosTrace strict_fs format (file, or `strict_fs`).
    #[arg(long, value_name = "FILE")]
    pub fs_policy: Option<String>,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<Exit> {
    let mut ok = true;
    if let Some(file) = &args.file {
        match read_system(file)? {
            Loaded::Spec(spec) => println!(
                "{}: ok ({} component(s), environment {})",
                file.display(),
                spec.components.len(),
                spec.environment
            ),
            Loaded::Invalid(msg) => {
                eprintln!("{msg}");
                ok = false;
            }
        }
    }
    if let Some(p) = &args.policy {
        let (name, text) = resolve(p, POLICIES, "policy")?;
        ok &= report(
            &name,
            shakedown_sql::policy::load_policy(&text)
                .map(|(p, w)| (format!("policy `{}`", p.name), w)),
        );
    }
    if let Some(c) = &args.chaos {
        let (name, text) = resolve(c, CHAOS_SCRIPTS, "chaos script")?;
        ok &= report(
            &name,
            shakedown_sql::chaos::load_chaos(&text)
                .map(|(s, w)| (format!("chaos script `{}`", s.name), w)),
        );
    }
    if let Some(f) = &args.faults {
        let path = std::path::Path::new(f);
        let (name, result) = if path.exists() {
            (
                path.display().to_string(),
                shakedown_faults::load_faults_file(path),
            )
        } else {
            match shakedown_faults::profiles::source(f) {
                Some(text) => (
                    format!("{f} (built in)"),
                    shakedown_faults::load_faults(text),
                ),
                None => anyhow::bail!(
                    "no fault config file `{f}` and no built-in profile of that name; built-ins: {}",
                    shakedown_faults::profiles::names().join(", ")
                ),
            }
        };
        ok &= report(
            &name,
            result.map(|(c, w)| (format!("fault config, {} rule(s)", c.rules.len()), w)),
        );
    }
    if let Some(s) = &args.scenario {
        let path = std::path::Path::new(s);
        let (name, result) = if path.exists() {
            (
                path.display().to_string(),
                shakedown_agent::scenario::load_scenario_file(path),
            )
        } else {
            match shakedown_agent::scenario::builtin(s) {
                Some(r) => (format!("{s} (built in)"), r),
                None => anyhow::bail!(
                    "no scenario file `{s}` and no built-in scenario of that name; built-ins: {}",
                    shakedown_agent::scenario::builtin_names().join(", ")
                ),
            }
        };
        ok &= report(
            &name,
            result.map(|(sc, w)| {
                (
                    format!(
                        "scenario `{}`, {} prompt(s), {} invariant(s), {} state check(s)",
                        sc.name,
                        sc.golden_prompts.len(),
                        sc.invariants.len(),
                        sc.state_checks.len()
                    ),
                    w,
                )
            }),
        );
    }
    if let Some(f) = &args.fs_policy {
        let (name, text) = resolve(f, super::run::FS_POLICIES, "file policy")?;
        ok &= report(
            &name,
            shakedown_sandbox::load_fs_policy(&text)
                .map(|(p, w)| (format!("file policy `{}`", p.name), w)),
        );
    }
    Ok(if ok { Exit::Passed } else { Exit::Error })
}

fn report(name: &str, result: Result<(String, Problems), Problems>) -> bool {
    match result {
        Ok((what, warnings)) => {
            if !warnings.0.is_empty() {
                eprintln!("{}", warnings.render(name));
            }
            println!("{name}: ok ({what})");
            true
        }
        Err(problems) => {
            eprintln!(
                "{}\n{name}: {} error(s); the file was not used",
                problems.render(name),
                problems.errors().count()
            );
            false
        }
    }
}
