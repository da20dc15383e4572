//! `shakedown patterns`: the catalog.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use shakedown_core::{ComponentKind, Pattern};

use crate::exit::Exit;

pub fn run() -> anyhow::Result<Exit> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "Pattern",
        "Family",
        "Severity",
        "Guardrail",
        "Available for",
        "What it does",
    ]);
    for p in Pattern::ALL {
        let info = p.info();
        let kinds: Vec<&str> = ComponentKind::ALL
            .into_iter()
            .filter(|k| p.implemented_for(*k))
            .map(|k| k.as_str())
            .collect();
        t.add_row([
            info.name.to_string(),
            format!("{:?}", info.family).to_lowercase(),
            info.severity.to_string(),
            info.guardrail.to_string(),
            if kinds.is_empty() {
                "planned".to_string()
            } else {
                kinds.join(", ")
            },
            info.description.to_string(),
        ]);
    }
    println!("{t}");
    Ok(Exit::Passed)
}
