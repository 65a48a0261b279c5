//! `fundtrail simulate DIR`: writes the fraud simulator's district (`crate::simulate`) and
//! says how to import it.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{exit, Failure, Output};
use crate::simulate::{
    self, Options, SimulateError, DEFAULT_HOUSEHOLDS, DEFAULT_SEED, DEFAULT_YEARS, IMPORT_ORDER,
    PLANTED_FILE, REGISTER_SOURCE,
};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Where to write the files (created if missing; files of the same names are replaced).
    pub dir: PathBuf,
    /// Households in the district (40 to 10,000).
    #[arg(long, default_value_t = DEFAULT_HOUSEHOLDS)]
    pub households: u32,
    /// Years of payments, from 2021 (2 to 5).
    #[arg(long, default_value_t = DEFAULT_YEARS)]
    pub years: u32,
    /// The seed everything is drawn from: the same seed, the same files.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
}

pub(super) fn run(args: &SimulateArgs) -> Result<Output, Failure> {
    let options = Options {
        households: args.households,
        years: args.years,
        seed: args.seed,
    };
    let written = simulate::write(&args.dir, options).map_err(simulate_failure)?;
    let dir = args.dir.display();
    let mut text = format!("wrote {dir}:\n");
    for (file, rows) in &written.rows {
        text.push_str(&format!("  {file:<15} {rows:>7} rows\n"));
    }
    let planted = &written.planted;
    text.push_str(&format!(
        "  {PLANTED_FILE:<15} {} planted cases, {} near misses\n\nimport into a fresh ledger, in this order:\n  fundtrail init\n",
        planted.cases.len(),
        planted.near_misses.len()
    ));
    for command in import_commands(&dir.to_string()) {
        text.push_str(&format!("  {command}\n"));
    }
    let json = json!({
        "dir": dir.to_string(),
        "files": written.rows.iter().map(|(f, n)| json!({"file": f, "rows": n})).collect::<Vec<_>>(),
        "planted": planted,
        "import": import_commands(&dir.to_string()),
    });
    Ok(Output::ok(text, json))
}

/// The import commands, in the order the files must be imported.
fn import_commands(dir: &str) -> Vec<String> {
    IMPORT_ORDER
        .iter()
        .map(|(kind, file)| {
            let source = if *kind == "deaths" {
                format!(" --source {REGISTER_SOURCE}")
            } else {
                String::new()
            };
            format!("fundtrail import {kind} {dir}/{file}{source}")
        })
        .collect()
}

/// Sizes out of range and a directory that cannot be written are both the caller's to
/// fix, as for an export's directory: exit 2.
fn simulate_failure(e: SimulateError) -> Failure {
    Failure::new(exit::BAD_INPUT, format!("simulate: {e}"))
}
