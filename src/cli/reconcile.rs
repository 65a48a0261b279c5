//! `fundtrail reconcile`: a bank statement against the ledger's payments.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Value};

use super::run::{batch_failure, parse_month};
use super::{actor, exit, open, Cli, Failure, Output};
use crate::ledger::AppendContext;
use crate::model::domain::Money;
use crate::model::render::{Align, Table};
use crate::runs::batch::{self, BatchError, IndexMode, Reconciliation};
use crate::runs::reconcile::{Difference, DifferenceKind, StatementError};

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The bank statement: CSV value_date,amount,reference,beneficiary.
    #[arg(long)]
    pub statement: PathBuf,
    /// Expect from the bank only the ledger payments dated in this month, YYYY-MM.
    #[arg(long, value_parser = parse_month)]
    pub month: Option<crate::model::domain::Month>,
    /// Print the differences as CSV instead of a table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// Read every event instead of the cached payment index (which is checked against the
    /// chain and caught up, but is not evidence).
    #[arg(long)]
    pub rebuild_index: bool,
}

/// Exit code when the statement and the ledger differ.
const DIFFERENCES_FOUND: u8 = 1;

pub(super) fn run(cli: &Cli, args: &ReconcileArgs) -> Result<Output, Failure> {
    let ctx = AppendContext::now(actor(cli)?);
    let mut ledger = open(cli)?;
    let mode = if args.rebuild_index {
        IndexMode::Rebuild
    } else {
        IndexMode::Cached
    };
    let outcome = batch::reconcile_file(&mut ledger, &args.statement, args.month, mode, &ctx)
        .map_err(|e| reconcile_failure(e, &args.statement))?;
    if outcome.appended {
        super::read::refresh(&ledger);
    }
    let text = if args.csv {
        differences_csv(&outcome.report.differences)
    } else {
        report_text(&outcome, &args.statement)
    };
    let code = if outcome.report.is_clean() {
        exit::OK
    } else {
        DIFFERENCES_FOUND
    };
    let output = Output {
        code,
        text,
        json: report_json(&outcome, &args.statement),
    };
    Ok(super::witness::ask_after_append(cli, &ledger, output))
}

/// Bad statement rows as `FILE:LINE: field: reason`, exit 2; nothing was recorded.
fn reconcile_failure(err: BatchError, file: &Path) -> Failure {
    let BatchError::Statement(StatementError { rows, total }) = err else {
        return batch_failure(err);
    };
    let name = file.display().to_string();
    let mut lines: Vec<String> = rows
        .iter()
        .map(|r| format!("{name}:{}: {}: {}", r.line, r.field, r.reason))
        .collect();
    if total > rows.len() {
        lines.push(format!("... and {} more", total - rows.len()));
    }
    lines.push(format!(
        "{total} statement row(s) rejected; nothing was reconciled or recorded"
    ));
    let mut failure = Failure::new(exit::BAD_INPUT, lines.join("\n"));
    failure.json = json!({
        "error": "rejected",
        "file": name,
        "total": total,
        "rejections": rows.iter().map(|r| json!({
            "line": r.line, "field": r.field, "reason": r.reason,
        })).collect::<Vec<_>>(),
    });
    failure
}

fn amount(fen: Option<i64>) -> String {
    fen.map_or(String::new(), |f| Money::from_fen(f).to_string())
}

fn lines_text(d: &Difference) -> String {
    let lines: Vec<String> = d.bank_lines.iter().map(u64::to_string).collect();
    lines.join(" ")
}

fn report_text(outcome: &Reconciliation, file: &Path) -> String {
    let r = &outcome.report;
    let period = r.period.map_or("all months".into(), |m| {
        format!("{m} (ledger payments dated in it)")
    });
    let mut text = format!(
        "statement:   {} ({} rows, blake3 {})\nperiod:      {period}\nledger:      {}\nmatched:     {} payment(s), {}\n",
        file.display(),
        r.bank_rows,
        hex::encode(outcome.statement_hash),
        crate::ledger::answers::index_text(&outcome.index),
        r.matched_count,
        Money::from_fen(r.matched_fen),
    );
    let counts: Vec<String> = DifferenceKind::ALL
        .iter()
        .map(|k| format!("{} {}", k.code(), k.count_of(&r.counts)))
        .collect();
    text.push_str(&format!(
        "differences: {} ({})\n",
        r.counts.total(),
        counts.join(", ")
    ));
    if !r.is_clean() {
        let mut table = Table::new(&[
            ("category", Align::Left),
            ("reference", Align::Left),
            ("ledger", Align::Right),
            ("bank", Align::Right),
            ("statement lines", Align::Left),
        ]);
        for d in &r.differences {
            table.row(vec![
                d.kind.code().to_string(),
                d.reference.clone(),
                amount(d.ledger_fen),
                amount(d.bank_fen),
                lines_text(d),
            ]);
        }
        text.push_str(&table.render());
    }
    let recorded = if outcome.appended {
        "recorded as"
    } else {
        "already recorded as"
    };
    text.push_str(&format!(
        "{recorded} seq {}, reference {}\n",
        outcome.seq, outcome.reference
    ));
    text
}

/// `category,reference,ledger_amount,bank_amount,bank_lines`, lines separated by spaces.
fn differences_csv(differences: &[Difference]) -> String {
    let mut csv = csv::Writer::from_writer(Vec::new());
    let header = [
        "category",
        "reference",
        "ledger_amount",
        "bank_amount",
        "bank_lines",
    ];
    let mut rows = vec![header.map(String::from)];
    rows.extend(differences.iter().map(|d| {
        [
            d.kind.code().to_string(),
            d.reference.clone(),
            amount(d.ledger_fen),
            amount(d.bank_fen),
            lines_text(d),
        ]
    }));
    for row in rows {
        csv.write_record(&row)
            .expect("writing CSV to memory cannot fail");
    }
    let bytes = csv
        .into_inner()
        .expect("flushing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("every field is UTF-8")
}

fn report_json(outcome: &Reconciliation, file: &Path) -> Value {
    crate::ledger::answers::reconciliation_json(outcome, &file.display().to_string())
}
