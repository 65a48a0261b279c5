//! Re-performing a recorded reconciliation from an export bundle and the bank statement
//! alone, with no ledger (FORMAT.md §5.5, "Re-performing a run").
//!
//! One pass over `events.jsonl` verifies the export (the same [`ExportCheck`] as
//! `audit verify-export`) and folds its payments and reversals into the same
//! [`PaymentTable`] a run matches against. At every `reconciliation` event of this
//! statement, the statement is matched against the payments of the events before it with
//! the same pure [`reconcile`] a run uses, and the report is compared with what the event
//! records. Nothing is trusted before the whole export has verified.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::export::{
    read_note, ExportCheck, ExportError, ExportFault, ExportVerified, CHECKPOINT_FILE, EVENTS_FILE,
    MAX_LINE_BYTES,
};
use crate::model::domain::{Month, Seq};
use crate::model::encoding::{decode, Body, ReconciliationV1};
use crate::runs::payment_index::{Fold, NewPayment, PaymentTable};
use crate::runs::reconcile::{
    parse_statement, reconcile, Report, StatementError, StatementRow, MAX_STATEMENT_BYTES,
};
use crate::tlog::checkpoint::{open_note_bytes, Checkpoint};
use crate::tlog::note::VerifierKey;
use crate::tlog::proofs::strict_hex;

/// Read buffer for `events.jsonl`: large enough that reads cost nothing per line.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// Why the inputs could not be used at all (exit 2): not a judgement of the export.
#[derive(Debug, thiserror::Error)]
pub enum ReperformError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than a statement may be ({MAX_STATEMENT_BYTES} bytes)")]
    StatementTooLarge { path: PathBuf },
    #[error(transparent)]
    Statement(#[from] StatementError),
}

/// The statement an auditor brings, read and parsed.
#[derive(Debug, Clone)]
pub struct Statement {
    /// BLAKE3 of the file's bytes, as a run records it.
    pub hash: [u8; 32],
    pub rows: Vec<StatementRow>,
}

impl Statement {
    /// Reads and parses a statement file, as `fundtrail reconcile` does.
    pub fn read(path: &Path) -> Result<Statement, ReperformError> {
        let io = |source| ReperformError::Io {
            path: path.to_owned(),
            source,
        };
        let mut bytes = Vec::new();
        File::open(path)
            .map_err(io)?
            .take(MAX_STATEMENT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_STATEMENT_BYTES {
            return Err(ReperformError::StatementTooLarge {
                path: path.to_owned(),
            });
        }
        let rows = parse_statement(&bytes)?;
        Ok(Statement {
            hash: *blake3::hash(&bytes).as_bytes(),
            rows,
        })
    }
}

/// A reconciliation event of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRun {
    pub seq: Seq,
    pub actor: String,
    pub recorded_at_us: i64,
    pub run: ReconciliationV1,
}

/// One recorded run of the statement, performed again.
#[derive(Debug, Clone)]
pub struct Reperformed {
    pub recorded: RecordedRun,
    /// The report recomputed from the events before the run; `None` when the recorded
    /// period is not a month, so the run cannot be performed again.
    pub report: Option<Report>,
    /// What differs between the record and the recomputed run (`field: recorded …,
    /// recomputed …`); empty when the run is reproduced.
    pub differs: Vec<String>,
}

impl Reperformed {
    pub fn reproduced(&self) -> bool {
        self.differs.is_empty()
    }
}

/// What the export holds about the statement.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verified: ExportVerified,
    /// Every recorded run of this statement (of the period asked for), in log order.
    pub runs: Vec<Reperformed>,
    /// The other reconciliation events of the export, to say what it does record when no
    /// run matches.
    pub others: Vec<RecordedRun>,
}

/// Verifies the export in `dir` with `key` and performs again every recorded run of
/// `statement` (of `period` only, when given: `Some(None)` for runs over every month). The
/// inner error is an export that does not verify.
pub fn reperform(
    dir: &Path,
    key: &VerifierKey,
    statement: &Statement,
    period: Option<Option<Month>>,
) -> Result<Result<Outcome, ExportFault>, ReperformError> {
    let checkpoint = match export_checkpoint(dir, key)? {
        Ok(checkpoint) => checkpoint,
        Err(fault) => return Ok(Err(fault)),
    };
    let mut pass = Pass {
        check: ExportCheck::new(checkpoint, Vec::new()),
        statement,
        period,
        fold: Fold::default(),
        table: PaymentTable::default(),
        runs: Vec::new(),
        others: Vec::new(),
    };
    if let Err(fault) = pass.stream(&dir.join(EVENTS_FILE))? {
        return Ok(Err(fault));
    }
    let Pass {
        check,
        runs,
        others,
        ..
    } = pass;
    Ok(check.finish().map(|verified| Outcome {
        verified,
        runs,
        others,
    }))
}

/// The export's checkpoint, opened with the key.
fn export_checkpoint(
    dir: &Path,
    key: &VerifierKey,
) -> Result<Result<Checkpoint, ExportFault>, ReperformError> {
    if !dir.is_dir() {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory");
        return Err(ReperformError::Io {
            path: dir.to_owned(),
            source,
        });
    }
    for file in [CHECKPOINT_FILE, EVENTS_FILE] {
        if !dir.join(file).is_file() {
            return Err(ExportError::Missing(dir.join(file)).into());
        }
    }
    let note = read_note(&dir.join(CHECKPOINT_FILE))?;
    Ok(open_note_bytes(&note, key).map_err(ExportFault::Checkpoint))
}

/// The record of an export line; `ExportCheck` has checked the rest of the line.
#[derive(Deserialize)]
struct LineRecord {
    record: String,
}

/// The state of the one pass over `events.jsonl`.
struct Pass<'s> {
    check: ExportCheck,
    statement: &'s Statement,
    period: Option<Option<Month>>,
    /// Payments and reversals read since `table` was last brought up to date.
    fold: Fold,
    table: PaymentTable,
    runs: Vec<Reperformed>,
    others: Vec<RecordedRun>,
}

impl Pass<'_> {
    /// Reads `events.jsonl` a bounded line at a time, as `audit verify-export` does.
    fn stream(&mut self, path: &Path) -> Result<Result<(), ExportFault>, ReperformError> {
        let io = |source| ReperformError::Io {
            path: path.to_owned(),
            source,
        };
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, File::open(path).map_err(io)?);
        let mut line = Vec::with_capacity(4096);
        for number in 1u64.. {
            line.clear();
            let limit = MAX_LINE_BYTES as u64 + 1;
            let read = (&mut reader)
                .take(limit)
                .read_until(b'\n', &mut line)
                .map_err(io)?;
            if read == 0 {
                break;
            }
            if line.pop() != Some(b'\n') {
                let reason = if read as u64 == limit {
                    format!("longer than {MAX_LINE_BYTES} bytes")
                } else {
                    "the file ends inside this line (no final newline)".to_string()
                };
                return Ok(Err(ExportFault::Line {
                    line: number,
                    reason,
                }));
            }
            if let Err(fault) = self.line(number, &line) {
                return Ok(Err(fault));
            }
        }
        Ok(Ok(()))
    }

    /// Verifies one line, then folds its event or performs its run again.
    fn line(&mut self, number: u64, bytes: &[u8]) -> Result<(), ExportFault> {
        self.check.push_line(bytes)?;
        let fault = |reason: String| ExportFault::Line {
            line: number,
            reason,
        };
        let parsed: LineRecord =
            serde_json::from_slice(bytes).map_err(|e| fault(format!("not an event line: {e}")))?;
        let record = strict_hex(&parsed.record).map_err(|e| fault(format!("record: {e}")))?;
        let record = decode(&record).map_err(|e| fault(format!("record: {e}")))?;
        // The same mapping from events to the payment table as `batch`'s fold.
        match record.body {
            Body::Reversal(r) => self.fold.reversal(r.target_reference),
            Body::Reconciliation(run) => {
                let recorded = RecordedRun {
                    seq: Seq::new(number),
                    actor: record.actor,
                    recorded_at_us: record.recorded_at_us,
                    run,
                };
                self.recorded(recorded).map_err(fault)?;
            }
            body => {
                if let Some((_, p)) = body.payment() {
                    self.fold.payment(NewPayment {
                        reference: record.reference,
                        amount_fen: p.amount_fen,
                        value_date: p.value_date,
                    });
                }
            }
        }
        self.fold.event();
        Ok(())
    }

    /// A reconciliation event: performed again if it is a run of this statement.
    fn recorded(&mut self, recorded: RecordedRun) -> Result<(), String> {
        let period = parse_period(&recorded.run.period);
        let wanted = recorded.run.statement_hash == self.statement.hash
            && self
                .period
                .is_none_or(|asked| period.as_ref().is_ok_and(|p| *p == asked));
        if !wanted {
            self.others.push(recorded);
            return Ok(());
        }
        let period = match period {
            Ok(period) => period,
            Err(reason) => {
                self.runs.push(Reperformed {
                    recorded,
                    report: None,
                    differs: vec![reason],
                });
                return Ok(());
            }
        };
        // The run matched the payments of every event before it (FORMAT.md §1.4).
        let fold = std::mem::take(&mut self.fold);
        let table = std::mem::take(&mut self.table)
            .with(fold)
            .map_err(|e| e.to_string())?;
        let report = reconcile(&table, &self.statement.rows, period);
        self.table = table;
        let differs = compare(&recorded.run, &report);
        self.runs.push(Reperformed {
            recorded,
            report: Some(report),
            differs,
        });
        Ok(())
    }
}

/// A recorded period: empty for every month, else `YYYY-MM`.
fn parse_period(text: &str) -> Result<Option<Month>, String> {
    match text {
        "" => Ok(None),
        month => Month::parse(month)
            .map(Some)
            .map_err(|e| format!("period: the recorded period {e}")),
    }
}

/// Each recorded value that the recomputed report does not give, as `name: recorded …,
/// recomputed …`.
fn compare(recorded: &ReconciliationV1, report: &Report) -> Vec<String> {
    let c = &report.counts;
    let numbers = [
        ("bank_rows", recorded.bank_rows, report.bank_rows),
        (
            "matched_count",
            recorded.matched_count,
            report.matched_count,
        ),
        (
            "missing_in_bank",
            recorded.missing_in_bank,
            c.missing_in_bank,
        ),
        (
            "missing_in_ledger",
            recorded.missing_in_ledger,
            c.missing_in_ledger,
        ),
        (
            "amount_mismatch",
            recorded.amount_mismatch,
            c.amount_mismatch,
        ),
        (
            "duplicate_in_bank",
            recorded.duplicate_in_bank,
            c.duplicate_in_bank,
        ),
        (
            "reversed_but_paid",
            recorded.reversed_but_paid,
            c.reversed_but_paid,
        ),
    ];
    let mut differs: Vec<String> = numbers
        .iter()
        .filter(|(_, was, now)| was != now)
        .map(|(name, was, now)| format!("{name}: recorded {was}, recomputed {now}"))
        .collect();
    if recorded.matched_fen != report.matched_fen {
        differs.push(format!(
            "matched_amount: recorded {}, recomputed {}",
            crate::model::domain::Money::from_fen(recorded.matched_fen),
            crate::model::domain::Money::from_fen(report.matched_fen)
        ));
    }
    let hash = report.report_hash();
    if recorded.report_hash != hash {
        differs.push(format!(
            "report_hash: recorded {}, recomputed {}",
            hex::encode(recorded.report_hash),
            hex::encode(hash)
        ));
    }
    differs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::domain::DifferenceCounts;

    fn report(matched_fen: i64, missing_in_bank: u64) -> Report {
        Report {
            period: None,
            bank_rows: 2,
            matched_count: 1,
            matched_fen,
            counts: DifferenceCounts {
                missing_in_bank,
                ..DifferenceCounts::default()
            },
            differences: Vec::new(),
        }
    }

    fn recorded_as(report: &Report) -> ReconciliationV1 {
        let c = &report.counts;
        ReconciliationV1 {
            statement_hash: [1; 32],
            period: String::new(),
            bank_rows: report.bank_rows,
            matched_count: report.matched_count,
            matched_fen: report.matched_fen,
            missing_in_bank: c.missing_in_bank,
            missing_in_ledger: c.missing_in_ledger,
            amount_mismatch: c.amount_mismatch,
            duplicate_in_bank: c.duplicate_in_bank,
            reversed_but_paid: c.reversed_but_paid,
            report_hash: report.report_hash(),
        }
    }

    #[test]
    fn a_run_recorded_as_computed_is_reproduced() {
        let r = report(100, 0);
        assert!(compare(&recorded_as(&r), &r).is_empty());
    }

    #[test]
    fn every_recorded_value_that_differs_is_named() {
        let recorded = recorded_as(&report(100, 0));
        let mut now = report(250, 1);
        now.differences.push(crate::runs::reconcile::Difference {
            kind: crate::runs::reconcile::DifferenceKind::MissingInBank,
            reference: "P1".into(),
            ledger_fen: Some(5),
            bank_fen: None,
            bank_lines: Vec::new(),
        });
        let differs = compare(&recorded, &now);
        assert_eq!(differs.len(), 3, "{differs:?}");
        assert_eq!(differs[0], "missing_in_bank: recorded 0, recomputed 1");
        assert_eq!(differs[1], "matched_amount: recorded 1.00, recomputed 2.50");
        assert!(
            differs[2].starts_with("report_hash: recorded "),
            "{differs:?}"
        );
    }

    #[test]
    fn periods_are_empty_or_a_month() {
        assert_eq!(parse_period(""), Ok(None));
        assert_eq!(
            parse_period("2018-07"),
            Ok(Some(Month::parse("2018-07").unwrap()))
        );
        assert!(parse_period("July").unwrap_err().starts_with("period: "));
    }
}
