//! `fundtrail simulate DIR`: writes the fraud simulator's district (`crate::simulate`) and
//! says how to import it; `simulate --check DIR LEDGER` imports it and sets the findings
//! against planted.json.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Value};

use super::{actor, exit, failure, Cli, Failure, Output};
use crate::ledger::import::Progress;
use crate::ledger::AppendContext;
use crate::model::render::{Align, Table};
use crate::simulate::check::{self, CheckError, CheckReport, Checked, PlantedCase, Watch};
use crate::simulate::{
    self, Options, SimulateError, DEFAULT_HOUSEHOLDS, DEFAULT_SEED, DEFAULT_YEARS, IMPORT_ORDER,
    PLANTED_FILE, REGISTER_SOURCE,
};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Where to write the files (created if missing; files of the same names are replaced);
    /// with --check, where to read them.
    pub dir: PathBuf,
    /// With --check: the ledger to build (a new directory, or a ledger with no events).
    #[arg(value_name = "LEDGER", requires = "check")]
    pub target: Option<PathBuf>,
    /// Import DIR into a fresh ledger at LEDGER, in the documented order, fold the findings
    /// and print per rule: planted, found, missed, false alarms. Exit 0 when every planted
    /// case is found and no other finding is raised, 1 otherwise.
    #[arg(long, requires = "target", conflicts_with_all = ["households", "years", "seed"])]
    pub check: bool,
    /// Households in the district (40 to 100,000).
    #[arg(long, default_value_t = DEFAULT_HOUSEHOLDS)]
    pub households: u32,
    /// Years of payments (2 to 20): from 2021 for up to 5, else ending in 2025.
    #[arg(long, default_value_t = DEFAULT_YEARS)]
    pub years: u32,
    /// The seed everything is drawn from: the same seed, the same files.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
}

pub(super) fn run(cli: &Cli, args: &SimulateArgs) -> Result<Output, Failure> {
    if let (true, Some(target)) = (args.check, &args.target) {
        return run_check(cli, &args.dir, target);
    }
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
        .map(|(kind, file, _)| {
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

/// `simulate --check DIR LEDGER`.
fn run_check(cli: &Cli, dir: &Path, target: &Path) -> Result<Output, Failure> {
    if cli.ledger_given {
        return Err(Failure::new(
            exit::BAD_INPUT,
            "simulate --check builds the ledger named by its second argument and does not \
             use --ledger",
        ));
    }
    let ctx = AppendContext::now(actor(cli)?);
    let mut watch = Bars::new(cli.json);
    let checked = check::check(dir, target, &ctx, &mut watch).map_err(check_failure)?;
    super::read::refresh(&checked.ledger);
    let text = check_text(dir, target, &checked);
    let json = check_json(dir, target, &checked);
    let code = if checked.report.clean() {
        exit::OK
    } else {
        exit::VERIFY_FAILED
    };
    Ok(Output { code, text, json })
}

fn check_failure(e: CheckError) -> Failure {
    match e {
        CheckError::Ledger(e) => failure(e, None),
        CheckError::Import { file, error } => super::people::people_failure(*error, Some(&file)),
        other => Failure::new(exit::BAD_INPUT, format!("simulate --check: {other}")),
    }
}

fn check_text(dir: &Path, target: &Path, checked: &Checked) -> String {
    let report = &checked.report;
    let head = checked.ledger.view().head();
    let mut text = format!(
        "imported {} into {}: {} events, head seq {} {}\n\n",
        dir.display(),
        target.display(),
        head.size,
        head.size,
        head.hash
    );
    text.push_str(&rules_table(report));
    let near_raised = report
        .false_alarms
        .iter()
        .filter(|a| a.near_miss.is_some())
        .count();
    text.push_str(&format!(
        "near misses: {} planted, {near_raised} raised\n",
        checked.planted_near_misses
    ));
    for case in &report.missed {
        text.push_str(&format!(
            "missed: {} of {}: {}\n",
            case.rule.as_str(),
            case.households.join(", "),
            case.what
        ));
    }
    for alarm in &report.false_alarms {
        let f = &alarm.finding;
        let near = alarm.near_miss.as_ref().map_or_else(String::new, |what| {
            format!(" (a planted near miss: {what})")
        });
        text.push_str(&format!(
            "false alarm: {} {} of {}{near}\n",
            f.id,
            f.rule.as_str(),
            f.household
        ));
    }
    text.push_str(if report.clean() {
        "ok: every planted case found, no false alarm\n"
    } else {
        "FAILED: the findings differ from planted.json\n"
    });
    text
}

fn rules_table(report: &CheckReport) -> String {
    let mut table = Table::new(&[
        ("rule", Align::Left),
        ("planted", Align::Right),
        ("found", Align::Right),
        ("missed", Align::Right),
        ("false alarms", Align::Right),
    ]);
    let mut sum = [0usize; 4];
    for r in &report.rules {
        let counts = [r.planted, r.found, r.missed, r.false_alarms];
        sum.iter_mut().zip(counts).for_each(|(s, n)| *s += n);
        let mut row = vec![r.rule.as_str().to_string()];
        row.extend(counts.iter().map(ToString::to_string));
        table.row(row);
    }
    let mut row = vec!["total".to_string()];
    row.extend(sum.iter().map(ToString::to_string));
    table.row(row);
    table.render()
}

fn check_json(dir: &Path, target: &Path, checked: &Checked) -> Value {
    let report = &checked.report;
    let rules: Vec<Value> = report
        .rules
        .iter()
        .map(|r| {
            json!({
                "rule": r.rule.as_str(),
                "planted": r.planted,
                "found": r.found,
                "missed": r.missed,
                "false_alarms": r.false_alarms,
            })
        })
        .collect();
    let alarms: Vec<Value> = report
        .false_alarms
        .iter()
        .map(|a| {
            json!({
                "finding": crate::ledger::answers::finding_json(&a.finding),
                "near_miss": a.near_miss,
            })
        })
        .collect();
    json!({
        "dir": dir.display().to_string(),
        "ledger": target.display().to_string(),
        "events": checked.ledger.view().head().size,
        "ok": report.clean(),
        "rules": rules,
        "missed": report.missed.iter().map(case_json).collect::<Vec<_>>(),
        "false_alarms": alarms,
    })
}

fn case_json(case: &PlantedCase) -> Value {
    json!({
        "rule": case.rule.as_str(),
        "households": case.households,
        "person": case.person,
        "what": case.what,
    })
}

/// Progress of the check's steps on a terminal: a bar for each file, a spinner for the
/// fold; nothing when output is piped or JSON.
struct Bars {
    shown: bool,
    bar: Option<indicatif::ProgressBar>,
}

/// How often the fold's spinner turns: often enough to show life, rarely enough to cost
/// nothing.
const SPINNER_TICK: std::time::Duration = std::time::Duration::from_millis(120);

impl Bars {
    fn new(json: bool) -> Bars {
        Bars {
            shown: !json && std::io::stderr().is_terminal(),
            bar: None,
        }
    }
}

impl Watch for Bars {
    fn start(&mut self, what: &str, bytes: u64) -> Option<Progress> {
        if !self.shown {
            return None;
        }
        let (bar, template) = if bytes > 0 {
            (
                indicatif::ProgressBar::new(bytes),
                "{msg} {bytes}/{total_bytes} {wide_bar} {eta}",
            )
        } else {
            (indicatif::ProgressBar::new_spinner(), "{spinner} {msg}")
        };
        let style = indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(what.to_string());
        if bytes == 0 {
            bar.enable_steady_tick(SPINNER_TICK);
        }
        self.bar = Some(bar.clone());
        Some(Box::new(move |pos| bar.set_position(pos)))
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
