//! `shakedown campaigns`: past campaigns, newest first.

use std::path::PathBuf;

use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use shakedown_control::report::percent;

use super::open_store;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct CampaignsArgs {
    /// How many to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CampaignsArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let store = open_store(data_dir)?;
    let list = store.campaigns(args.limit)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(Exit::Passed);
    }
    if list.is_empty() {
        println!(
            "no campaigns yet: run `shakedown campaign -f shakedown.yaml` or `shakedown demo`"
        );
        return Ok(Exit::Passed);
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "Campaign", "Started", "Env", "Status", "Targets", "Tests", "Passed", "Failed", "Score",
    ]);
    for c in list {
        t.add_row([
            c.campaign_id,
            c.started_at.to_string(),
            c.environment.to_string(),
            c.status.as_str().to_string(),
            c.target_components.join(", "),
            c.tests_run.to_string(),
            c.tests_passed.to_string(),
            c.tests_failed.to_string(),
            percent(c.score),
        ]);
    }
    println!("{t}");
    Ok(Exit::Passed)
}
