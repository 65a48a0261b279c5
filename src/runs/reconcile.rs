//! Reconciliation of a bank statement against the ledger's payments (pure).
//!
//! The statement is parsed from its bytes with every bad row reported; the ledger side
//! comes in as a [`PaymentTable`], which `batch` keeps up to date with the log. Matching is by
//! reference, and every reference ends up either matched or as exactly one [`Difference`]
//! (FORMAT.md §5.5 gives the rules and the report hash).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::domain::{
    date_to_days, parse_date, DifferenceCounts, Money, Month, ReconciliationSummary,
    AMOUNT_CEILING_FEN, MAX_REFERENCE_CHARS, MAX_TEXT_CHARS,
};
use crate::runs::payment_index::PaymentTable;

pub const STATEMENT_COLUMNS: [&str; 4] = ["value_date", "amount", "reference", "beneficiary"];

/// Rows per statement. A month of the whole district is a few thousand rows; five million
/// leaves room for years of history in one file while bounding the memory of one run.
pub const MAX_STATEMENT_ROWS: u64 = 5_000_000;

/// Bytes per statement file: the file is read whole (it is hashed and parsed from memory);
/// 5,000,000 rows of about 60 bytes fit well within this.
pub const MAX_STATEMENT_BYTES: u64 = 1 << 30;

/// At most this many bad rows are listed; the total is always counted.
pub const MAX_REPORTED_BAD_ROWS: usize = 100;

// Sums of bank amounts cannot overflow: every amount is below the ceiling, and there are
// at most MAX_STATEMENT_ROWS of them. (5,000,000 rows fits an i64.)
#[allow(clippy::cast_possible_wrap)]
const _: () = assert!((MAX_STATEMENT_ROWS as i64)
    .checked_mul(AMOUNT_CEILING_FEN)
    .is_some());

/// A statement row that does not parse: where, which column, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub field: &'static str,
    pub reason: String,
}

/// A statement that cannot be reconciled: the bad rows (up to [`MAX_REPORTED_BAD_ROWS`])
/// and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{total} statement row(s) are invalid; nothing was reconciled")]
pub struct StatementError {
    pub rows: Vec<BadRow>,
    pub total: usize,
}

/// One payment the bank reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRow {
    /// Line in the file; the header is line 1.
    pub line: u64,
    /// Days since 1970-01-01.
    pub value_date: i32,
    pub amount_fen: i64,
    pub reference: String,
}

/// Parses a statement: a header naming the four columns (any order), then one payment per
/// row. Every bad row is collected; one bad row fails the whole statement.
pub fn parse_statement(bytes: &[u8]) -> Result<Vec<StatementRow>, StatementError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let columns = match reader.read_byte_record(&mut record) {
        Ok(true) => header(&record).map_err(|reason| one_bad_row(1, "header", reason))?,
        Ok(false) => return Err(one_bad_row(1, "header", "the file is empty".into())),
        Err(e) => return Err(one_bad_row(1, "header", e.to_string())),
    };
    let mut rows = Vec::new();
    let mut bad = BadRows::default();
    loop {
        let read = reader.read_byte_record(&mut record);
        let position = match &read {
            Ok(_) => record.position(),
            Err(e) => e.position(),
        };
        let line = position.map_or(0, |p| record_line(bytes, p));
        match read {
            Ok(false) => break,
            Ok(true) if rows.len() as u64 + bad.total as u64 >= MAX_STATEMENT_ROWS => {
                let reason = format!("the statement has more than {MAX_STATEMENT_ROWS} rows");
                bad.push(line, "row", reason);
                break;
            }
            Ok(true) => match parse_row(&record, &columns, line) {
                Ok(row) => rows.push(row),
                Err((field, reason)) => bad.push(line, field, reason),
            },
            Err(e) => bad.push(line, "row", e.to_string()),
        }
    }
    match bad.total {
        0 => Ok(rows),
        total => Err(StatementError {
            rows: bad.rows,
            total,
        }),
    }
}

/// The line a record starts on. The csv reader positions a record where it started
/// looking, before any blank lines it skipped; those are counted here.
fn record_line(bytes: &[u8], position: &csv::Position) -> u64 {
    let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
    let skipped = bytes
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .filter(|b| **b == b'\n')
        .count();
    position.line() + skipped as u64
}

#[derive(Default)]
struct BadRows {
    rows: Vec<BadRow>,
    total: usize,
}

impl BadRows {
    fn push(&mut self, line: u64, field: &'static str, reason: String) {
        self.total += 1;
        if self.rows.len() < MAX_REPORTED_BAD_ROWS {
            self.rows.push(BadRow {
                line,
                field,
                reason,
            });
        }
    }
}

fn one_bad_row(line: u64, field: &'static str, reason: String) -> StatementError {
    StatementError {
        rows: vec![BadRow {
            line,
            field,
            reason,
        }],
        total: 1,
    }
}

/// Where each of [`STATEMENT_COLUMNS`] sits, and how many fields a row has.
struct Columns {
    index: [usize; 4],
    width: usize,
}

fn header(record: &csv::ByteRecord) -> Result<Columns, String> {
    let names: Vec<String> = record
        .iter()
        .map(|name| {
            String::from_utf8_lossy(name)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_owned()
        })
        .collect();
    let expected = STATEMENT_COLUMNS.join(",");
    if let Some(unknown) = names
        .iter()
        .find(|n| !STATEMENT_COLUMNS.contains(&n.as_str()))
    {
        return Err(format!("unknown column {unknown:?}; expected {expected}"));
    }
    let mut index = [0; 4];
    for (slot, column) in STATEMENT_COLUMNS.iter().enumerate() {
        let mut found = names.iter().enumerate().filter(|(_, n)| n == column);
        match (found.next(), found.next()) {
            (Some((i, _)), None) => index[slot] = i,
            (None, _) => return Err(format!("missing column {column:?}; expected {expected}")),
            (Some(_), Some(_)) => return Err(format!("column {column:?} appears twice")),
        }
    }
    Ok(Columns {
        index,
        width: names.len(),
    })
}

type FieldResult<T> = Result<T, (&'static str, String)>;

fn parse_row(record: &csv::ByteRecord, columns: &Columns, line: u64) -> FieldResult<StatementRow> {
    if record.len() != columns.width {
        let reason = format!(
            "has {} fields, the header has {}",
            record.len(),
            columns.width
        );
        return Err(("row", reason));
    }
    let field = |slot: usize| -> FieldResult<&str> {
        let name = STATEMENT_COLUMNS[slot];
        let bytes = record.get(columns.index[slot]).unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|_| (name, "is not UTF-8".to_string()))
    };
    let value_date = parse_date(field(0)?.trim()).map_err(|e| ("value_date", e.0))?;
    let amount = Money::parse(field(1)?).map_err(|e| ("amount", e.0))?;
    let reference = check_reference(field(2)?.trim())?;
    check_beneficiary(field(3)?)?;
    Ok(StatementRow {
        line,
        value_date: date_to_days(value_date),
        amount_fen: amount.fen(),
        reference: reference.to_owned(),
    })
}

/// A bank's reference is matched as it is, so it only has to be something the ledger
/// could hold: 1 to 64 characters, no spaces or control characters.
fn check_reference(text: &str) -> FieldResult<&str> {
    let len = text.chars().count();
    if len == 0 {
        return Err(("reference", "is empty".into()));
    }
    if len > MAX_REFERENCE_CHARS {
        let reason = format!("is longer than {MAX_REFERENCE_CHARS} characters");
        return Err(("reference", reason));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        let reason = format!("{text:?} contains spaces or control characters");
        return Err(("reference", reason));
    }
    Ok(text)
}

/// The beneficiary is not matched on, but it is bounded like every free-text field.
fn check_beneficiary(text: &str) -> FieldResult<()> {
    if text.chars().count() > MAX_TEXT_CHARS {
        let reason = format!("is longer than {MAX_TEXT_CHARS} characters");
        return Err(("beneficiary", reason));
    }
    if text.chars().any(|c| c.is_control()) {
        return Err(("beneficiary", "contains control characters".into()));
    }
    Ok(())
}

/// The statement rows carrying one reference.
#[derive(Debug, Clone, Default)]
struct BankSide {
    rows: u32,
    fen: i64,
    first_line: u64,
    /// Every line, once there is more than one.
    lines: Vec<u64>,
}

impl BankSide {
    fn add(&mut self, row: &StatementRow) {
        self.rows += 1;
        self.fen = self
            .fen
            .checked_add(row.amount_fen)
            .expect("bounded by MAX_STATEMENT_ROWS × AMOUNT_CEILING_FEN");
        match self.rows {
            1 => self.first_line = row.line,
            2 => self.lines.extend([self.first_line, row.line]),
            _ => self.lines.push(row.line),
        }
    }

    fn lines(&self) -> Vec<u64> {
        match self.rows {
            0 => Vec::new(),
            1 => vec![self.first_line],
            _ => self.lines.clone(),
        }
    }
}

/// The five kinds of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DifferenceKind {
    /// A live ledger payment (amount above zero, dated in the period) the bank did not pay.
    MissingInBank,
    /// The bank paid a reference that is no payment in the ledger.
    MissingInLedger,
    /// Paid once, at another amount.
    AmountMismatch,
    /// The bank paid a live payment's reference more than once.
    DuplicateInBank,
    /// The bank paid a payment the ledger reversed.
    ReversedButPaid,
}

impl DifferenceKind {
    pub const ALL: [DifferenceKind; 5] = [
        DifferenceKind::MissingInBank,
        DifferenceKind::MissingInLedger,
        DifferenceKind::AmountMismatch,
        DifferenceKind::DuplicateInBank,
        DifferenceKind::ReversedButPaid,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DifferenceKind::MissingInBank => "missing_in_bank",
            DifferenceKind::MissingInLedger => "missing_in_ledger",
            DifferenceKind::AmountMismatch => "amount_mismatch",
            DifferenceKind::DuplicateInBank => "duplicate_in_bank",
            DifferenceKind::ReversedButPaid => "reversed_but_paid",
        }
    }

    /// How many differences of this kind `counts` holds.
    pub fn count_of(self, counts: &DifferenceCounts) -> u64 {
        *self.count_in(&mut { *counts })
    }

    fn count_in(self, counts: &mut DifferenceCounts) -> &mut u64 {
        match self {
            DifferenceKind::MissingInBank => &mut counts.missing_in_bank,
            DifferenceKind::MissingInLedger => &mut counts.missing_in_ledger,
            DifferenceKind::AmountMismatch => &mut counts.amount_mismatch,
            DifferenceKind::DuplicateInBank => &mut counts.duplicate_in_bank,
            DifferenceKind::ReversedButPaid => &mut counts.reversed_but_paid,
        }
    }
}

/// One reference on which the ledger and the bank disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: DifferenceKind,
    pub reference: String,
    /// The ledger payment's amount; `None` when the ledger has no such payment.
    pub ledger_fen: Option<i64>,
    /// What the bank paid under the reference, all rows together; `None` when nothing.
    pub bank_fen: Option<i64>,
    /// The statement lines carrying the reference.
    pub bank_lines: Vec<u64>,
}

/// A difference in the canonical JSON form the report hash covers: keys in byte order,
/// amounts as yuan strings (FORMAT.md §5.5).
#[derive(Debug, Serialize)]
pub struct CanonicalDifference<'a> {
    pub bank_amount: Option<String>,
    pub bank_lines: &'a [u64],
    pub category: &'static str,
    pub ledger_amount: Option<String>,
    pub reference: &'a str,
}

impl Difference {
    pub fn canonical(&self) -> CanonicalDifference<'_> {
        let yuan = |fen: Option<i64>| fen.map(|f| Money::from_fen(f).to_string());
        CanonicalDifference {
            bank_amount: yuan(self.bank_fen),
            bank_lines: &self.bank_lines,
            category: self.kind.code(),
            ledger_amount: yuan(self.ledger_fen),
            reference: &self.reference,
        }
    }
}

/// What a reconciliation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub period: Option<Month>,
    pub bank_rows: u64,
    pub matched_count: u64,
    pub matched_fen: i64,
    pub counts: DifferenceCounts,
    /// Ordered by reference (byte order); a reference appears at most once.
    pub differences: Vec<Difference>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }

    /// The differences as canonical JSON: a compact array, no whitespace.
    pub fn canonical_json(&self) -> Vec<u8> {
        let items: Vec<CanonicalDifference> =
            self.differences.iter().map(Difference::canonical).collect();
        serde_json::to_vec(&items).expect("strings, numbers and nulls always serialize")
    }

    /// blake3 of [`Report::canonical_json`].
    pub fn report_hash(&self) -> [u8; 32] {
        *blake3::hash(&self.canonical_json()).as_bytes()
    }

    /// What the ledger records about this run.
    pub fn summary(&self, statement_hash: [u8; 32]) -> ReconciliationSummary {
        ReconciliationSummary {
            statement_hash,
            period: self.period,
            bank_rows: self.bank_rows,
            matched_count: self.matched_count,
            matched: Money::from_fen(self.matched_fen),
            differences: self.counts,
            report_hash: self.report_hash(),
        }
    }
}

/// Matches the statement against the ledger's payments. With a `period`, only ledger
/// payments dated in it are expected from the bank; a bank row paying a payment of another
/// month is still matched against it (the ledger does have that reference).
pub fn reconcile(
    ledger: &PaymentTable,
    statement: &[StatementRow],
    period: Option<Month>,
) -> Report {
    let (bank, unknown) = group_by_reference(ledger, statement);
    let mut report = Report {
        period,
        bank_rows: statement.len() as u64,
        matched_count: 0,
        matched_fen: 0,
        counts: DifferenceCounts::default(),
        differences: Vec::new(),
    };
    for (i, bank) in bank.iter().enumerate() {
        report.add_payment(ledger, i, bank);
    }
    for (reference, bank) in unknown {
        report.differences.push(Difference {
            kind: DifferenceKind::MissingInLedger,
            reference: reference.to_owned(),
            ledger_fen: None,
            bank_fen: Some(bank.fen),
            bank_lines: bank.lines(),
        });
    }
    report
        .differences
        .sort_unstable_by(|a, b| a.reference.cmp(&b.reference));
    for d in &report.differences {
        *d.kind.count_in(&mut report.counts) += 1;
    }
    report
}

/// The statement's rows by reference: per ledger payment (by position), and for the
/// references the ledger has no payment for.
fn group_by_reference<'s>(
    ledger: &PaymentTable,
    statement: &'s [StatementRow],
) -> (Vec<BankSide>, BTreeMap<&'s str, BankSide>) {
    let mut bank = vec![BankSide::default(); ledger.len()];
    let mut unknown: BTreeMap<&str, BankSide> = BTreeMap::new();
    for row in statement {
        match ledger.find(&row.reference) {
            Some(i) => bank[i].add(row),
            None => unknown.entry(&row.reference).or_default().add(row),
        }
    }
    (bank, unknown)
}

impl Report {
    /// Counts the ledger payment at position `i` as matched, or notes its difference.
    fn add_payment(&mut self, ledger: &PaymentTable, i: usize, bank: &BankSide) {
        let payment = Payment {
            amount_fen: ledger.amount_fen(i),
            value_date: ledger.value_date(i),
            reversed: ledger.reversed(i),
        };
        match classify(&payment, bank, self.period) {
            Outcome::Matched => {
                self.matched_count += 1;
                self.matched_fen = self
                    .matched_fen
                    .checked_add(payment.amount_fen)
                    .expect("matched amounts are bank amounts, bounded by the statement");
            }
            Outcome::Nothing => {}
            Outcome::Differs(kind) => self.differences.push(Difference {
                kind,
                reference: ledger.reference(i).to_owned(),
                ledger_fen: Some(payment.amount_fen),
                bank_fen: (bank.rows > 0).then_some(bank.fen),
                bank_lines: bank.lines(),
            }),
        }
    }
}

/// A ledger payment's values.
struct Payment {
    amount_fen: i64,
    value_date: i32,
    reversed: bool,
}

enum Outcome {
    Matched,
    /// Not paid and not expected: reversed, zero, or outside the period.
    Nothing,
    Differs(DifferenceKind),
}

/// One outcome per ledger payment: a reversed payment the bank paid is that, whatever the
/// amount; then paying twice; then a wrong amount.
fn classify(payment: &Payment, bank: &BankSide, period: Option<Month>) -> Outcome {
    if bank.rows == 0 {
        let expected = !payment.reversed
            && payment.amount_fen > 0
            && period.is_none_or(|m| m.contains_days(payment.value_date));
        return if expected {
            Outcome::Differs(DifferenceKind::MissingInBank)
        } else {
            Outcome::Nothing
        };
    }
    if payment.reversed {
        Outcome::Differs(DifferenceKind::ReversedButPaid)
    } else if bank.rows > 1 {
        Outcome::Differs(DifferenceKind::DuplicateInBank)
    } else if bank.fen != payment.amount_fen {
        Outcome::Differs(DifferenceKind::AmountMismatch)
    } else {
        Outcome::Matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::payment_index::{Fold, NewPayment};

    fn statement(rows: &str) -> Vec<StatementRow> {
        let text = format!("value_date,amount,reference,beneficiary\n{rows}");
        parse_statement(text.as_bytes()).unwrap()
    }

    #[test]
    fn statements_parse_in_any_column_order_and_count_lines_from_the_header() {
        let text = "\u{feff}reference, amount,beneficiary,value_date\r\nP1,10.5,\"Wang, Fang\",2018-07-31\r\n\r\n\nP2,7,,2018-07-01\nP3,1.00,,2018-07-01";
        let rows = parse_statement(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].line, rows[0].amount_fen, rows[0].reference.as_str()),
            (2, 1050, "P1")
        );
        assert_eq!((rows[1].line, rows[1].amount_fen), (5, 700));
        assert_eq!(rows[2].line, 6);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line_and_field() {
        let text = "value_date,amount,reference,beneficiary\n\
                    2018-07-31,1.234,P1,a\n\
                    2018-02-30,1.00,P2,a\n\
                    2018-07-31,1.00,,a\n\
                    2018-07-31,1.00,P4\n\
                    2018-07-31,-1.00,P5,a\n\
                    2018-07-31,1.00,P6,a\n";
        let err = parse_statement(text.as_bytes()).unwrap_err();
        let found: Vec<(u64, &str)> = err.rows.iter().map(|r| (r.line, r.field)).collect();
        assert_eq!(
            found,
            [
                (2, "amount"),
                (3, "value_date"),
                (4, "reference"),
                (5, "row"),
                (6, "amount")
            ]
        );
        assert_eq!(err.total, 5);
        assert!(
            err.rows[0].reason.contains("more than 2 decimal places"),
            "{:?}",
            err.rows[0]
        );
    }

    #[test]
    fn headers_must_name_the_four_columns_once() {
        for (text, needle) in [
            ("", "empty"),
            (
                "value_date,amount,reference\n",
                "missing column \"beneficiary\"",
            ),
            (
                "value_date,amount,reference,beneficiary,extra\n",
                "unknown column \"extra\"",
            ),
            (
                "value_date,amount,reference,reference,beneficiary\n",
                "appears twice",
            ),
        ] {
            let err = parse_statement(text.as_bytes()).unwrap_err();
            assert_eq!((err.rows[0].line, err.rows[0].field), (1, "header"));
            assert!(
                err.rows[0].reason.contains(needle),
                "{text:?}: {:?}",
                err.rows[0]
            );
        }
    }

    fn ledger(payments: &[(&str, i64, &str, bool)]) -> PaymentTable {
        let mut fold = Fold::default();
        for (reference, fen, date, reversed) in payments {
            fold.payment(NewPayment {
                reference: reference.to_string(),
                amount_fen: *fen,
                value_date: date_to_days(parse_date(date).unwrap()),
            });
            if *reversed {
                fold.reversal(reference.to_string());
            }
        }
        PaymentTable::default().with(fold).unwrap()
    }

    type Found<'a> = (&'a str, &'static str, Option<i64>, Option<i64>, Vec<u64>);

    #[test]
    fn each_reference_is_matched_or_exactly_one_difference() {
        let l = ledger(&[
            ("OK", 100, "2018-07-31", false),
            ("GONE", 200, "2018-07-31", false),
            ("WRONG", 300, "2018-07-31", false),
            ("TWICE", 400, "2018-07-31", false),
            ("UNDONE", 500, "2018-07-31", true),
            ("UNDONE-UNPAID", 500, "2018-07-31", true),
            ("JUNE", 600, "2018-06-30", false),
            ("JUNE-PAID-LATE", 700, "2018-06-30", false),
            ("FREE", 0, "2018-07-31", false),
        ]);
        let s = statement(
            "2018-07-31,1.00,OK,a\n\
             2018-07-31,3.01,WRONG,a\n\
             2018-07-31,4.00,TWICE,a\n\
             2018-07-31,5.00,UNDONE,a\n\
             2018-07-31,9.00,STRANGER,a\n\
             2018-08-01,4.00,TWICE,a\n\
             2018-07-02,7.00,JUNE-PAID-LATE,a\n",
        );
        let report = reconcile(&l, &s, Some(Month::parse("2018-07").unwrap()));
        let found: Vec<Found> = report
            .differences
            .iter()
            .map(|d| {
                (
                    d.reference.as_str(),
                    d.kind.code(),
                    d.ledger_fen,
                    d.bank_fen,
                    d.bank_lines.clone(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("GONE", "missing_in_bank", Some(200), None, vec![]),
                ("STRANGER", "missing_in_ledger", None, Some(900), vec![6]),
                (
                    "TWICE",
                    "duplicate_in_bank",
                    Some(400),
                    Some(800),
                    vec![4, 7]
                ),
                ("UNDONE", "reversed_but_paid", Some(500), Some(500), vec![5]),
                ("WRONG", "amount_mismatch", Some(300), Some(301), vec![3]),
            ]
        );
        assert_eq!((report.matched_count, report.matched_fen), (2, 800));
        assert_eq!(report.counts.total(), 5);
        assert_eq!(report.counts.duplicate_in_bank, 1);
        assert!(!report.is_clean());
        // Without a period, the June payment nobody paid is missing too.
        let all = reconcile(&ledger(&[("JUNE", 600, "2018-06-30", false)]), &[], None);
        assert_eq!(all.counts.missing_in_bank, 1);
    }

    #[test]
    fn the_report_hash_covers_canonical_json() {
        let l = ledger(&[("A\"1", 100, "2018-07-31", false)]);
        let report = reconcile(
            &l,
            &statement("2018-07-31,2.00,\"A\"\"1\",a\n2018-07-31,1.00,银行,a\n"),
            None,
        );
        let json = String::from_utf8(report.canonical_json()).unwrap();
        assert_eq!(
            json,
            r#"[{"bank_amount":"2.00","bank_lines":[2],"category":"amount_mismatch","ledger_amount":"1.00","reference":"A\"1"},{"bank_amount":"1.00","bank_lines":[3],"category":"missing_in_ledger","ledger_amount":null,"reference":"银行"}]"#
        );
        assert_eq!(
            report.report_hash(),
            *blake3::hash(json.as_bytes()).as_bytes()
        );
        let clean = reconcile(&PaymentTable::default(), &[], None);
        assert_eq!(clean.canonical_json(), b"[]");
        assert!(clean.is_clean());
    }
}
