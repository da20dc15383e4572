//! `shakedown resilience`: the ranking, weakest first (they are tested first), and one
//! component's history with `--history ID`.

use std::path::PathBuf;

use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::open_store;
use crate::exit::Exit;
use crate::table::rankings_table;

#[derive(Debug, Args)]
pub struct ResilienceArgs {
    /// Show the ranking history of one component.
    #[arg(long, value_name = "COMPONENT")]
    pub history: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ResilienceArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let store = open_store(data_dir)?;
    if let Some(id) = args.history {
        let history = store.history(&id)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&history)?);
            return Ok(Exit::Passed);
        }
        if history.is_empty() {
            anyhow::bail!(
                "no history for component `{id}`; `shakedown resilience` lists ranked components"
            );
        }
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "When",
            "Campaign",
            "Campaign score",
            "Ranking after",
            "Tests",
        ]);
        for h in history {
            t.add_row([
                h.at.to_string(),
                h.campaign_id,
                format!("{:.2}", h.campaign_score),
                format!("{:.3}", h.ranking_score),
                h.tests.to_string(),
            ]);
        }
        println!("{t}");
        return Ok(Exit::Passed);
    }
    let rankings = store.rankings()?;
    if args.json {
        let ranked: Vec<_> = rankings
            .iter()
            .enumerate()
            .map(|(i, r)| serde_json::json!({"rank": i + 1, "component_id": r.component_id,
                "component_name": r.component_name, "resilience_score": r.resilience_score,
                "test_count": r.test_count, "campaigns": r.campaigns, "last_tested": r.last_tested.to_string()}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"rankings": ranked}))?
        );
        return Ok(Exit::Passed);
    }
    if rankings.is_empty() {
        println!("no component has been tested yet");
    } else {
        println!("{}", rankings_table(&rankings));
    }
    Ok(Exit::Passed)
}
