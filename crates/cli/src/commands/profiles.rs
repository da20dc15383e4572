//! `shakedown profiles`: the built-in fault profiles and what each does.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::exit::Exit;

pub fn run() -> anyhow::Result<Exit> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["Profile", "Rules", "What it does"]);
    for (name, description) in shakedown_faults::profiles::list() {
        let rules = shakedown_faults::profiles::get(name)
            .map(|c| c.rules.len().to_string())
            .unwrap_or_else(|e| format!("broken: {e}"));
        t.add_row([name.to_string(), rules, description]);
    }
    println!("{t}");
    println!(
        "Use one with `shakedown fault-proxy --profile NAME`; see docs/fault-config.md for every rule."
    );
    Ok(Exit::Passed)
}
