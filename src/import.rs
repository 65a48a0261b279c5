//! CSV batches: households and events, parsed row by row into commands with their line
//! numbers. The files are streamed, never held whole, and may be read twice (the ledger
//! checks every row before it writes any).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::domain::{
    check_text, parse_date, Allocation, Category, Command, Enrollment, HouseholdId, Money, Payment,
    PaymentKind, ProgramCode, Rate, Reference, ReversalRequest,
};
use crate::ledger::{LedgerError, Row, RowSource};

/// A field longer than this is refused before it is parsed: no valid value comes close.
pub const MAX_FIELD_BYTES: usize = 1024;

/// Rows per import. A month's payments for the whole district are a few thousand rows; the
/// cap bounds what one import may ask the ledger to check and hold in its indexes.
pub const MAX_IMPORT_ROWS: u64 = 5_000_000;

/// Progress is reported every this many rows.
const PROGRESS_EVERY_ROWS: u64 = 4096;

pub const HOUSEHOLD_COLUMNS: [&str; 6] = [
    "household_id",
    "subdistrict",
    "community",
    "category",
    "members",
    "enrolled_on",
];

pub const EVENT_COLUMNS: [&str; 8] = [
    "date",
    "type",
    "household_id",
    "program",
    "amount",
    "persons",
    "reference",
    "memo",
];

pub const RATE_COLUMNS: [&str; 5] = [
    "program",
    "category",
    "per_member",
    "valid_from",
    "valid_to",
];

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Households,
    Events,
    Rates,
}

impl ImportKind {
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ImportKind::Households => &HOUSEHOLD_COLUMNS,
            ImportKind::Events => &EVENT_COLUMNS,
            ImportKind::Rates => &RATE_COLUMNS,
        }
    }
}

/// Called with the bytes read so far and the file's size.
pub type Progress = Box<dyn FnMut(u64)>;

/// A CSV file as a [`RowSource`].
pub struct CsvFile {
    path: PathBuf,
    kind: ImportKind,
    progress: Option<Progress>,
}

impl CsvFile {
    pub fn new(path: &Path, kind: ImportKind) -> CsvFile {
        CsvFile {
            path: path.to_owned(),
            kind,
            progress: None,
        }
    }

    pub fn with_progress(mut self, progress: Progress) -> CsvFile {
        self.progress = Some(progress);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl RowSource for CsvFile {
    fn rows(&mut self) -> Result<Box<dyn Iterator<Item = Row> + '_>, LedgerError> {
        let file = File::open(&self.path)
            .map_err(|e| LedgerError::Source(format!("{}: {e}", self.path.display())))?;
        let again = File::open(&self.path)
            .map_err(|e| LedgerError::Source(format!("{}: {e}", self.path.display())))?;
        let lines = LineCounter::new(BufReader::new(again));
        csv_rows(
            BufReader::new(file),
            lines,
            self.kind,
            self.progress.as_mut(),
        )
    }
}

/// Parses a whole CSV text held in memory (an import sent to the HTTP API). Reads at most
/// `max_rows` data rows; `Ok(None)` says there were more.
pub fn rows_from_bytes(
    bytes: &[u8],
    kind: ImportKind,
    max_rows: usize,
) -> Result<Option<Vec<Row>>, LedgerError> {
    let mut rows: Vec<Row> = csv_rows(bytes, LineCounter::new(bytes), kind, None)?
        .take(max_rows.saturating_add(1))
        .collect();
    if rows.len() > max_rows {
        return Ok(None);
    }
    rows.shrink_to_fit();
    Ok(Some(rows))
}

/// Parses one row given as named fields (the HTTP API's JSON form of a CSV row). A field
/// not given is empty, as an empty CSV cell; a field the kind does not have is refused.
pub fn command_from_fields<'f>(
    kind: ImportKind,
    fields: impl IntoIterator<Item = (&'f str, &'f str)>,
) -> Result<Command, (&'static str, String)> {
    let columns = kind.columns();
    let mut values = vec![""; columns.len()];
    for (name, value) in fields {
        let slot = columns.iter().position(|c| *c == name).ok_or_else(|| {
            (
                "row",
                format!("unknown field {name:?}; expected {}", columns.join(",")),
            )
        })?;
        values[slot] = value;
    }
    let record = csv::StringRecord::from(values);
    let identity = Columns {
        index: (0..columns.len()).collect(),
        width: columns.len(),
    };
    let fields = Fields {
        record: &record,
        columns: &identity,
    };
    parse_fields(kind, &fields)
}

/// The rows of a CSV stream after its header; `lines` reads the same bytes again to number
/// them.
fn csv_rows<'a, R: std::io::Read + 'a, L: BufRead + 'a>(
    reader: R,
    mut lines: LineCounter<L>,
    kind: ImportKind,
    mut progress: Option<&'a mut Progress>,
) -> Result<Box<dyn Iterator<Item = Row> + 'a>, LedgerError> {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut records = reader.into_records();
    let columns = match records.next() {
        Some(Ok(header)) => Columns::from_header(&header, kind)?,
        Some(Err(e)) => return Err(header_rejection("header", unreadable_header(&e))),
        None => return Err(header_rejection("header", "the file is empty".into())),
    };
    let mut count = 0u64;
    let rows = records.map(move |item| {
        count += 1;
        if count.is_multiple_of(PROGRESS_EVERY_ROWS) {
            if let (Some(p), Ok(r)) = (progress.as_mut(), &item) {
                p(r.position().map_or(0, |pos| pos.byte()));
            }
        }
        let position = match &item {
            Ok(record) => record.position(),
            Err(e) => e.position(),
        };
        let line = position.map_or(count + 1, |p| lines.record_line(p));
        parse_row(item, &columns, kind, count, line)
    });
    Ok(Box::new(rows))
}

/// The line each record starts on, counted from the bytes of the file.
///
/// csv's own `Position::line` is where reading stopped after the previous record, so it is
/// one short for every record of a text with CRLF line ends (as spreadsheets write them),
/// stays at 1 with CR line ends, and names the first of any blank lines before a record
/// (rust-csv issue 208). Its byte offset is exact, though: a record starts at the first byte
/// from there on that is not a line break. This reads the bytes a second time alongside the
/// parser, counting `\n`, `\r\n` and lone `\r` as one break each, as the parser does.
struct LineCounter<R> {
    reader: R,
    /// Bytes counted so far.
    offset: u64,
    /// The line of the byte at `offset`, from 1.
    line: u64,
    /// Whether the last byte counted was `\r`, so that a `\n` after it ends no new line.
    after_cr: bool,
}

impl<R: BufRead> LineCounter<R> {
    fn new(reader: R) -> LineCounter<R> {
        LineCounter {
            reader,
            offset: 0,
            line: 1,
            after_cr: false,
        }
    }

    /// The line of the record whose reading began at `position`; csv's line if the file
    /// cannot be read again.
    fn record_line(&mut self, position: &csv::Position) -> u64 {
        self.skip_to_record(position.byte())
            .map_or(position.line(), |()| self.line)
    }

    /// Counts up to `byte`, then over any line breaks: to the first byte of the record.
    fn skip_to_record(&mut self, byte: u64) -> std::io::Result<()> {
        loop {
            let Some(&b) = self.reader.fill_buf()?.first() else {
                return Ok(());
            };
            let line_break = b == b'\r' || b == b'\n';
            if self.offset >= byte && !line_break {
                return Ok(());
            }
            self.line += u64::from(b == b'\r' || (b == b'\n' && !self.after_cr));
            self.after_cr = b == b'\r';
            self.reader.consume(1);
            self.offset += 1;
        }
    }
}

fn header_rejection(field: &'static str, reason: String) -> LedgerError {
    LedgerError::Rejected {
        rejections: vec![crate::ledger::RowRejection {
            line: 1,
            field,
            reason,
        }],
        total: 1,
    }
}

/// Where each expected column sits in the file.
struct Columns {
    index: Vec<usize>,
    width: usize,
}

impl Columns {
    /// The expected column at the file's field `position`, by name.
    fn name_at(&self, kind: ImportKind, position: usize) -> Option<&'static str> {
        let expected = self.index.iter().position(|&at| at == position)?;
        kind.columns().get(expected).copied()
    }

    fn from_header(header: &csv::StringRecord, kind: ImportKind) -> Result<Columns, LedgerError> {
        let names: Vec<&str> = header
            .iter()
            .enumerate()
            .map(|(i, name)| {
                if i == 0 {
                    name.trim_start_matches('\u{feff}')
                } else {
                    name
                }
            })
            .map(str::trim)
            .collect();
        let expected = kind.columns();
        if let Some(unknown) = names.iter().find(|n| !expected.contains(n)) {
            return Err(header_rejection(
                "header",
                format!(
                    "unknown column {unknown:?}; expected {}",
                    expected.join(",")
                ),
            ));
        }
        let mut index = Vec::with_capacity(expected.len());
        for column in expected {
            match names.iter().filter(|n| *n == column).count() {
                1 => index.push(names.iter().position(|n| n == column).unwrap_or(0)),
                0 => {
                    return Err(header_rejection(
                        "header",
                        format!("missing column {column:?}"),
                    ))
                }
                _ => {
                    return Err(header_rejection(
                        "header",
                        format!("column {column:?} appears twice"),
                    ))
                }
            }
        }
        Ok(Columns {
            index,
            width: names.len(),
        })
    }
}

/// One record's fields, by expected column, with the rejection helper.
struct Fields<'r> {
    record: &'r csv::StringRecord,
    columns: &'r Columns,
}

type FieldResult<T> = Result<T, (&'static str, String)>;

impl Fields<'_> {
    fn get(&self, kind: ImportKind, column: &'static str) -> FieldResult<&str> {
        let slot = kind
            .columns()
            .iter()
            .position(|c| *c == column)
            .expect("columns are looked up by their own names");
        let text = self.record.get(self.columns.index[slot]).unwrap_or("");
        if text.len() > MAX_FIELD_BYTES {
            return Err((column, format!("is longer than {MAX_FIELD_BYTES} bytes")));
        }
        Ok(text)
    }
}

/// Why a row could not be read, naming the field where it can. A field that is not UTF-8
/// almost always means the file was saved in a legacy Chinese encoding (GBK, GB18030), as
/// spreadsheet programs do by default: the message says how to save it instead.
fn unreadable_row(e: &csv::Error, columns: &Columns, kind: ImportKind) -> (&'static str, String) {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => (
            columns.name_at(kind, err.field()).unwrap_or("row"),
            "is not UTF-8 text (the file may be saved as GBK or GB18030); save it as UTF-8 \
             (in Excel: Save As, \"CSV UTF-8\") and import it again"
                .to_string(),
        ),
        _ => ("row", e.to_string()),
    }
}

/// Why the header could not be read. A header is ASCII in every encoding but UTF-16
/// (Excel's "Unicode Text"), so one that is not UTF-8 is most likely that.
fn unreadable_header(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not UTF-8 text (the file may be saved as UTF-16, \
            Excel's \"Unicode Text\", or as GBK); save it as UTF-8 (in Excel: Save As, \
            \"CSV UTF-8\") and import it again"
            .to_string(),
        _ => e.to_string(),
    }
}

/// Added to a row's error when one of its fields spans lines: in the files clerks send,
/// that is nearly always a quote that was opened and never closed.
const UNCLOSED_QUOTE_HINT: &str =
    " (a field spans lines: a quote (\") that is not closed joins the next lines into it)";

fn has_line_break(field: &str) -> bool {
    field.contains(['\n', '\r'])
}

fn parse_row(
    item: Result<csv::StringRecord, csv::Error>,
    columns: &Columns,
    kind: ImportKind,
    count: u64,
    line: u64,
) -> Row {
    let record = match item {
        Ok(record) => record,
        Err(e) => {
            return Row {
                line,
                command: Err(unreadable_row(&e, columns, kind)),
            };
        }
    };
    let command = if count > MAX_IMPORT_ROWS {
        Err((
            "row",
            format!("the file has more than {MAX_IMPORT_ROWS} rows"),
        ))
    } else if record.len() != columns.width {
        let hint = if record.iter().any(has_line_break) {
            UNCLOSED_QUOTE_HINT
        } else {
            ""
        };
        Err((
            "row",
            format!(
                "has {} fields, the header has {}{hint}",
                record.len(),
                columns.width
            ),
        ))
    } else {
        let fields = Fields {
            record: &record,
            columns,
        };
        parse_fields(kind, &fields)
    };
    Row { line, command }
}

fn parse_fields(kind: ImportKind, fields: &Fields) -> FieldResult<Command> {
    match kind {
        ImportKind::Households => parse_household(fields),
        ImportKind::Events => parse_event(fields),
        ImportKind::Rates => parse_rate(fields),
    }
}

fn field<T, E: ToString>(column: &'static str, result: Result<T, E>) -> FieldResult<T> {
    result.map_err(|e| (column, e.to_string()))
}

fn parse_household(f: &Fields) -> FieldResult<Command> {
    let k = ImportKind::Households;
    let household = field(
        "household_id",
        HouseholdId::parse(f.get(k, "household_id")?),
    )?;
    let subdistrict = field(
        "subdistrict",
        check_text(f.get(k, "subdistrict")?.trim(), true),
    )?;
    let community = field("community", check_text(f.get(k, "community")?.trim(), true))?;
    let category: Category = field("category", f.get(k, "category")?.trim().parse())?;
    let members = parse_count("members", f.get(k, "members")?)?;
    let enrolled_on = field("enrolled_on", parse_date(f.get(k, "enrolled_on")?))?;
    Ok(Command::Enroll(Enrollment {
        household,
        subdistrict,
        community,
        category,
        members,
        enrolled_on,
    }))
}

fn parse_count(column: &'static str, text: &str) -> FieldResult<u32> {
    text.trim()
        .parse::<u32>()
        .map_err(|_| (column, format!("{text:?} is not a whole number")))
}

/// The event types a file may hold.
enum RowType {
    Allocation,
    Payment(PaymentKind),
    Reversal,
}

fn parse_type(text: &str) -> FieldResult<RowType> {
    match text {
        "fund_allocation" => Ok(RowType::Allocation),
        "reversal" => Ok(RowType::Reversal),
        other => PaymentKind::ALL
            .into_iter()
            .find(|k| k.code() == other)
            .map(RowType::Payment)
            .ok_or_else(|| {
                ("type", format!(
                    "{other:?} is not fund_allocation, disbursement, insurance_purchase, condolence_payment, in_kind_benefit or reversal"
                ))
            }),
    }
}

fn parse_event(f: &Fields) -> FieldResult<Command> {
    let k = ImportKind::Events;
    let date = field("date", parse_date(f.get(k, "date")?.trim()))?;
    let row_type = parse_type(f.get(k, "type")?.trim())?;
    let household = f.get(k, "household_id")?.trim();
    let program = f.get(k, "program")?.trim();
    let amount = field("amount", Money::parse(f.get(k, "amount")?))?;
    let persons = match f.get(k, "persons")?.trim() {
        "" => 1,
        text => parse_count("persons", text)?,
    };
    let reference = f.get(k, "reference")?.trim();
    let reference = field(
        "reference",
        match row_type {
            RowType::Reversal => Reference::parse_payment_target(reference),
            _ => Reference::parse(reference),
        },
    )?;
    let memo = field("memo", check_text(f.get(k, "memo")?, false))?;
    match row_type {
        RowType::Allocation => {
            if !household.is_empty() {
                return Err(("household_id", "must be empty for a fund_allocation".into()));
            }
            let program = field("program", ProgramCode::parse(program))?;
            Ok(Command::Allocate(Allocation {
                program,
                amount,
                date,
                reference,
                source: memo,
            }))
        }
        RowType::Payment(kind) => {
            let household = required_household(household)?;
            let program = field("program", ProgramCode::parse(program))?;
            Ok(Command::Pay(Payment {
                kind,
                household,
                program,
                amount,
                persons,
                date,
                reference,
                memo,
            }))
        }
        RowType::Reversal => {
            if household.is_empty() {
                return Err((
                    "household_id",
                    "is required for a reversal: it names the household of the payment it \
                     reverses (an allocation cannot be reversed)"
                        .into(),
                ));
            }
            let household = required_household(household)?;
            let program = match program {
                "" => None,
                code => Some(field("program", ProgramCode::parse(code))?),
            };
            Ok(Command::Reverse(ReversalRequest {
                target: reference,
                household,
                program,
                amount,
                date,
                reason: memo,
            }))
        }
    }
}

fn required_household(text: &str) -> FieldResult<HouseholdId> {
    if text.is_empty() {
        return Err(("household_id", "is required for this type".into()));
    }
    field("household_id", HouseholdId::parse(text))
}

/// A rates row; an empty `valid_to` leaves the rate open (rates.rs).
fn parse_rate(f: &Fields) -> FieldResult<Command> {
    let k = ImportKind::Rates;
    let program = field("program", ProgramCode::parse(f.get(k, "program")?.trim()))?;
    let category: Category = field("category", f.get(k, "category")?.trim().parse())?;
    let per_member = field("per_member", Money::parse(f.get(k, "per_member")?))?;
    let valid_from = field("valid_from", parse_date(f.get(k, "valid_from")?.trim()))?;
    let valid_to = match f.get(k, "valid_to")?.trim() {
        "" => None,
        text => Some(field("valid_to", parse_date(text))?),
    };
    Ok(Command::SetRate(Rate {
        program,
        category,
        per_member,
        valid_from,
        valid_to,
    }))
}
