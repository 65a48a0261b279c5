//! `fundtrail audit reconcile EXPORT_DIR --statement FILE --key KEY`: performs a recorded
//! reconciliation again from an export and the statement alone, and says whether the
//! recorded report is reproduced. Exit 0: every recorded run of the statement is; 1: one
//! is not, no run of it is recorded, or the export does not verify; 2: bad input.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Value};

use super::audit::{verifier_key, KeyArg};
use super::{exit, Failure, Output};
use crate::model::domain::{Money, Month, ALL_PERIODS};
use crate::model::render::time_text;
use crate::runs::reperform::{
    reperform, Outcome, RecordedRun, ReperformError, Reperformed, Statement,
};

#[derive(Debug, Args)]
pub struct AuditReconcileArgs {
    /// The export directory (`fundtrail export --to DIR`).
    pub dir: PathBuf,
    /// The bank statement the recorded run matched: the same file, byte for byte.
    #[arg(long, value_name = "FILE")]
    pub statement: PathBuf,
    /// Only the runs over this month (YYYY-MM), or `all` for the runs over every month;
    /// default: every recorded run of the statement.
    #[arg(long, value_parser = parse_period)]
    pub month: Option<Period>,
    #[command(flatten)]
    pub key: KeyArg,
}

/// `--month`: a month, or every month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period(pub Option<Month>);

fn parse_period(text: &str) -> Result<Period, String> {
    match text {
        ALL_PERIODS => Ok(Period(None)),
        month => Month::parse(month)
            .map(|m| Period(Some(m)))
            .map_err(|e| e.0),
    }
}

/// How many other recorded runs a failure lists, to say what the export does hold.
const OTHER_RUNS_SHOWN: usize = 10;

pub(super) fn run(args: &AuditReconcileArgs) -> Result<Output, Failure> {
    let key = verifier_key(&args.key)?;
    let statement =
        Statement::read(&args.statement).map_err(|e| input_failure(e, &args.statement))?;
    let period = args.month.map(|p| p.0);
    let outcome = match reperform(&args.dir, &key, &statement, period)
        .map_err(|e| input_failure(e, &args.statement))?
    {
        Ok(outcome) => outcome,
        Err(fault) => {
            return Ok(super::check_failed(
                format!("the export does not verify: {fault}"),
                fault.first_bad_seq(),
            ))
        }
    };
    Ok(render(args, &statement, &outcome))
}

fn render(args: &AuditReconcileArgs, statement: &Statement, outcome: &Outcome) -> Output {
    let c = &outcome.verified.checkpoint;
    let mut text = format!(
        "export:    {}: {} events verified against the checkpoint of {} size {}\nstatement: {} ({} rows, blake3 {})\n",
        args.dir.display(),
        outcome.verified.events,
        c.origin,
        c.size,
        args.statement.display(),
        statement.rows.len(),
        hex::encode(statement.hash),
    );
    for run in &outcome.runs {
        text.push_str(&run_text(run));
    }
    let failed = outcome.runs.iter().filter(|r| !r.reproduced()).count();
    let verdict = match (outcome.runs.len(), failed) {
        (0, _) => Err(no_run_text(args, statement, outcome)),
        (n, 0) => Ok(format!(
            "ok: the {n} recorded run(s) of this statement are reproduced\n"
        )),
        (n, failed) => Err(format!(
            "FAILED: {failed} of the {n} recorded run(s) of this statement are not reproduced\n"
        )),
    };
    let ok = verdict.is_ok();
    text.push_str(verdict.as_ref().unwrap_or_else(|reason| reason));
    let json = json!({
        "ok": ok,
        "events": outcome.verified.events,
        "checkpoint": { "origin": c.origin, "size": c.size, "root": hex::encode(c.root) },
        "statement_hash": hex::encode(statement.hash),
        "bank_rows": statement.rows.len(),
        "runs": outcome.runs.iter().map(run_json).collect::<Vec<_>>(),
        "other_runs": outcome.others.len(),
    });
    Output {
        code: if ok { exit::OK } else { exit::VERIFY_FAILED },
        text,
        json,
    }
}

fn period_text(recorded: &RecordedRun) -> &str {
    match recorded.run.period.as_str() {
        "" => "all months",
        month => month,
    }
}

fn run_text(run: &Reperformed) -> String {
    let r = &run.recorded;
    let head = format!(
        "run at seq {} (period {}, recorded by {} at {}): ",
        r.seq,
        period_text(r),
        r.actor,
        time_text(r.recorded_at_us)
    );
    match &run.report {
        Some(report) if run.reproduced() => format!(
            "{head}reproduced: the report hash matches the record ({}); {} matched ({}), {} difference(s)\n",
            hex::encode(r.run.report_hash),
            report.matched_count,
            Money::from_fen(report.matched_fen),
            report.differences.len()
        ),
        _ => {
            let mut text = format!("{head}NOT reproduced: the report differs from the record\n");
            for what in &run.differs {
                text.push_str(&format!("  {what}\n"));
            }
            text
        }
    }
}

fn run_json(run: &Reperformed) -> Value {
    let r = &run.recorded;
    json!({
        "seq": r.seq.get(),
        "period": r.run.period,
        "actor": r.actor,
        "recorded_at": time_text(r.recorded_at_us),
        "reproduced": run.reproduced(),
        "recorded_report_hash": hex::encode(r.run.report_hash),
        "report_hash": run.report.as_ref().map(|rep| hex::encode(rep.report_hash())),
        "differs": run.differs,
    })
}

/// Why nothing was compared: which statement and period was looked for, and what the
/// export does record.
fn no_run_text(args: &AuditReconcileArgs, statement: &Statement, outcome: &Outcome) -> String {
    let period = match args.month {
        Some(Period(Some(m))) => format!(" over {m}"),
        Some(Period(None)) => " over all months".to_string(),
        None => String::new(),
    };
    let mut text = format!(
        "FAILED: the export records no reconciliation of a statement with blake3 {}{period} \
         (a statement changed after its run has another hash)\n",
        hex::encode(statement.hash)
    );
    if outcome.others.is_empty() {
        text.push_str("the export records no reconciliation at all\n");
        return text;
    }
    text.push_str("the export records these runs:\n");
    for r in outcome.others.iter().take(OTHER_RUNS_SHOWN) {
        text.push_str(&format!(
            "  seq {}: statement {}, period {}\n",
            r.seq,
            hex::encode(r.run.statement_hash),
            period_text(r)
        ));
    }
    if outcome.others.len() > OTHER_RUNS_SHOWN {
        let more = outcome.others.len() - OTHER_RUNS_SHOWN;
        text.push_str(&format!("  ... and {more} more\n"));
    }
    text
}

/// Exit 2: a file that cannot be read, or a statement that does not parse (its bad rows as
/// `FILE:LINE: field: reason`).
fn input_failure(err: ReperformError, statement: &Path) -> Failure {
    let ReperformError::Statement(bad) = err else {
        return Failure::new(exit::BAD_INPUT, err.to_string());
    };
    let name = statement.display().to_string();
    let mut lines: Vec<String> = bad
        .rows
        .iter()
        .map(|r| format!("{name}:{}: {}: {}", r.line, r.field, r.reason))
        .collect();
    if bad.total > bad.rows.len() {
        lines.push(format!("... and {} more", bad.total - bad.rows.len()));
    }
    lines.push(format!(
        "{} statement row(s) rejected; nothing was compared",
        bad.total
    ));
    Failure::new(exit::BAD_INPUT, lines.join("\n"))
}
