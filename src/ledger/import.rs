//! CSV batches: households and events, parsed row by row into commands with their line
//! numbers. The files are streamed, never held whole, and read once (the ledger commits no
//! row before it has checked every one). What is read is bounded: a file by
//! [`MAX_IMPORT_BYTES`], a row by [`MAX_ROW_BYTES`], a field by [`MAX_FIELD_BYTES`], so an
//! endless or binary input (`/dev/zero`) is refused within a few KiB of memory.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::keys::identity::{Account, AccountKey, IdentityKey};
use crate::ledger::{LedgerError, Row, RowSource};
use crate::model::domain::{
    check_text, parse_date, Allocation, Category, Command, Enrollment, HouseholdId, Money, Payment,
    PaymentKind, ProgramCode, Rate, Reference, ReversalRequest,
};
use crate::model::domain::{LifeEvent, LifeEventKind, PayeeAccount, PersonEntry};
use crate::model::person::{check_identity, PersonId, Role};
use crate::model::recovery::{FindingId, Recovery};
use crate::people::identity::IdNumber;
use crate::people::vault::Clear;

/// A field longer than this is refused before it is parsed: no valid value comes close.
pub const MAX_FIELD_BYTES: usize = 1024;

/// Rows per import. A month's payments for the whole district are a few thousand rows; the
/// cap bounds what one import may ask the ledger to check and hold in its indexes.
pub const MAX_IMPORT_ROWS: u64 = 5_000_000;

/// Bytes per import file, as for a bank statement: [`MAX_IMPORT_ROWS`] rows of the usual
/// 60 to 150 bytes fit well within it, and a larger file is refused before it is parsed (a
/// stream with no size, such as a device or a pipe, when it reaches this many bytes).
pub const MAX_IMPORT_BYTES: u64 = 1 << 30;

/// Bytes per row (one CSV record, usually one line). No valid row comes close: at most 8
/// fields of at most [`MAX_FIELD_BYTES`] each, even quoted with every quote doubled, is
/// under 17 KiB. The reader never holds more than this (plus its buffer) of one row, so a
/// quote that is never closed, or a file with no line breaks, cannot grow memory.
pub const MAX_ROW_BYTES: u64 = 64 * 1024;

/// The CSV parser's read buffer. It may read this far beyond the row it is parsing, so the
/// input is cut off only this far past [`MAX_ROW_BYTES`].
const CSV_BUFFER_BYTES: usize = 8 * 1024;

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

/// `account`: the payee's bank account, 12 to 19 digits, kept as a keyed hash and its
/// last four. `finding`: the finding a `recovery_received` row pays back (16 hex digits);
/// a column of its own rather than the memo, so that a memo stays free text and a typo in
/// an id is refused as a bad id, not read as a note.
pub const EVENT_OPTIONAL_COLUMNS: [&str; 2] = ["account", "finding"];

pub const PERSON_COLUMNS: [&str; 7] = [
    "person_id",
    "household_id",
    "id_number",
    "name",
    "role",
    "birth_date",
    "joined_on",
];

pub const CHANGE_COLUMNS: [&str; 6] = [
    "date",
    "type",
    "person_id",
    "household_id",
    "reference",
    "memo",
];

pub const DEATH_COLUMNS: [&str; 4] = ["id_number", "name", "date_of_death", "source_ref"];

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Households,
    Events,
    Rates,
    /// Persons; the identity key ([`CsvFile::with_identity_key`]) turns each identity
    /// number into the hash the log keeps.
    Persons,
    /// Life events: deaths, departures, exits, ends of eligibility.
    Changes,
    /// An external death register, matched against the roll (`people::deaths`).
    Deaths,
}

impl ImportKind {
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ImportKind::Households => &HOUSEHOLD_COLUMNS,
            ImportKind::Events => &EVENT_COLUMNS,
            ImportKind::Rates => &RATE_COLUMNS,
            ImportKind::Persons => &PERSON_COLUMNS,
            ImportKind::Changes => &CHANGE_COLUMNS,
            ImportKind::Deaths => &DEATH_COLUMNS,
        }
    }

    /// Columns a file may leave out (an empty cell when it does): events may name the
    /// payee's `account`, and a recovery its `finding`.
    pub fn optional_columns(self) -> &'static [&'static str] {
        match self {
            ImportKind::Events => &EVENT_OPTIONAL_COLUMNS,
            _ => &[],
        }
    }

    /// Required columns, then optional ones: the slots of [`Columns`].
    fn all_columns(self) -> impl Iterator<Item = &'static str> {
        self.columns()
            .iter()
            .chain(self.optional_columns())
            .copied()
    }
}

/// Called with the bytes read so far and the file's size.
pub type Progress = Box<dyn FnMut(u64)>;

/// A CSV file as a [`RowSource`].
pub struct CsvFile {
    path: PathBuf,
    kind: ImportKind,
    progress: Option<Progress>,
    identity: Option<IdentityKey>,
    account: Option<AccountKey>,
}

impl CsvFile {
    pub fn new(path: &Path, kind: ImportKind) -> CsvFile {
        CsvFile {
            path: path.to_owned(),
            kind,
            progress: None,
            identity: None,
            account: None,
        }
    }

    /// The key of account hashes, which an events file naming accounts needs.
    pub fn with_account_key(mut self, key: AccountKey) -> CsvFile {
        self.account = Some(key);
        self
    }

    /// The key of identity hashes, which a persons file needs.
    pub fn with_identity_key(mut self, key: IdentityKey) -> CsvFile {
        self.identity = Some(key);
        self
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
        let size = file
            .metadata()
            .map_err(|e| LedgerError::Source(format!("{}: {e}", self.path.display())))?
            .len();
        if size > MAX_IMPORT_BYTES {
            return Err(LedgerError::Source(format!(
                "{}: {size} bytes, more than an import may hold ({MAX_IMPORT_BYTES} bytes, \
                 1 GiB); split it into several files",
                self.path.display()
            )));
        }
        let again = File::open(&self.path)
            .map_err(|e| LedgerError::Source(format!("{}: {e}", self.path.display())))?;
        let lines = LineCounter::new(BufReader::new(again));
        csv_rows(
            BufReader::new(file),
            lines,
            self.kind,
            self.progress.as_mut(),
            Keys {
                identity: self.identity.as_ref(),
                account: self.account.as_ref(),
            },
        )
    }
}

/// Parses a whole CSV text held in memory (an import sent to the HTTP API). Reads at most
/// `max_rows` data rows; `Ok(None)` says there were more.
pub fn rows_from_bytes(
    bytes: &[u8],
    kind: ImportKind,
    max_rows: usize,
    keys: &RowKeys,
) -> Result<Option<Vec<Row>>, LedgerError> {
    let mut rows: Vec<Row> = csv_rows(bytes, LineCounter::new(bytes), kind, None, keys.lend())?
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
    keys: &RowKeys,
) -> Result<Command, (&'static str, String)> {
    let columns: Vec<&str> = kind.all_columns().collect();
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
    let all = Columns {
        index: (0..columns.len()).collect(),
        width: columns.len(),
    };
    let fields = Fields {
        record: &record,
        columns: &all,
        kind,
    };
    parse_fields(kind, &fields, keys.lend())
}

/// The rows of a CSV stream after its header; `lines` reads the same bytes again to number
/// them. The rows end after the first one that breaks a size limit.
fn csv_rows<'a, R: Read + 'a, L: BufRead + 'a>(
    reader: R,
    lines: LineCounter<L>,
    kind: ImportKind,
    progress: Option<&'a mut Progress>,
    keys: Keys<'a>,
) -> Result<Box<dyn Iterator<Item = Row> + 'a>, LedgerError> {
    let parse = Box::new(move |fields: &Fields| parse_fields(kind, fields, keys));
    let values = csv_values(reader, lines, kind, progress, parse)?;
    Ok(Box::new(
        values.map(|(line, command)| Row { line, command }),
    ))
}

/// Parses one row's fields into a value.
type ParseFn<'a, T> = Box<dyn Fn(&Fields) -> FieldResult<T> + 'a>;

/// The rows of a CSV stream after its header, each parsed by `parse`, with its line; `lines`
/// reads the same bytes again to number them. The rows end after the first one that breaks
/// a size limit.
fn csv_values<'a, R: Read + 'a, L: BufRead + 'a, T: 'a>(
    reader: R,
    lines: LineCounter<L>,
    kind: ImportKind,
    progress: Option<&'a mut Progress>,
    parse: ParseFn<'a, T>,
) -> Result<Box<dyn Iterator<Item = Parsed<T>> + 'a>, LedgerError> {
    let bounds = Rc::new(Bounds::default());
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(CSV_BUFFER_BYTES)
        .from_reader(Bounded {
            inner: reader,
            delivered: 0,
            bounds: Rc::clone(&bounds),
        });
    let mut rows = CsvRows {
        reader,
        bounds,
        lines,
        kind,
        progress,
        parse,
        record: csv::StringRecord::new(),
        count: 0,
        done: false,
    };
    let columns = rows.header()?;
    Ok(Box::new(std::iter::from_fn(move || {
        rows.next_row(&columns)
    })))
}

/// A size limit the input broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exceeded {
    /// More than [`MAX_ROW_BYTES`] without the end of a row.
    Row,
    /// More than [`MAX_IMPORT_BYTES`] in all.
    File,
}

impl Exceeded {
    fn reason(self) -> String {
        match self {
            Exceeded::Row => format!(
                "is longer than {MAX_ROW_BYTES} bytes (a row, with any blank lines before \
                 it): a quote (\") that is not closed joins the lines after it into one \
                 row, or this is not a CSV file"
            ),
            Exceeded::File => format!(
                "the input goes on past {MAX_IMPORT_BYTES} bytes (1 GiB), more than an import \
                 may hold; split it into several files"
            ),
        }
    }
}

/// Shared between the reader below the CSV parser and the rows above it.
#[derive(Debug, Default)]
struct Bounds {
    /// Where the row being read began: the end of the previous one.
    row_start: Cell<u64>,
    /// The limit the reader stopped at, if it did.
    exceeded: Cell<Option<Exceeded>>,
}

/// The input, cut off with an error where a row or the whole input grows past its limit,
/// so that the parser never buffers more than a row's worth.
struct Bounded<R> {
    inner: R,
    delivered: u64,
    bounds: Rc<Bounds>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // One byte more than the file limit tells a file at the limit from a longer one.
        let file_end = MAX_IMPORT_BYTES + 1;
        let row_end = self.bounds.row_start.get() + MAX_ROW_BYTES + CSV_BUFFER_BYTES as u64;
        let exceeded = if self.delivered >= file_end {
            Some(Exceeded::File)
        } else if self.delivered >= row_end {
            Some(Exceeded::Row)
        } else {
            None
        };
        if let Some(which) = exceeded {
            self.bounds.exceeded.set(Some(which));
            return Err(std::io::Error::other(which.reason()));
        }
        let room = file_end.min(row_end) - self.delivered;
        let room = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..room])?;
        self.delivered += n as u64;
        Ok(n)
    }
}

/// The parser and what the rows need besides it.
struct CsvRows<'a, R, L, T> {
    reader: csv::Reader<Bounded<R>>,
    bounds: Rc<Bounds>,
    lines: LineCounter<L>,
    kind: ImportKind,
    progress: Option<&'a mut Progress>,
    parse: ParseFn<'a, T>,
    record: csv::StringRecord,
    count: u64,
    /// A limit was broken: no more rows.
    done: bool,
}

impl<R: Read, L: BufRead, T> CsvRows<'_, R, L, T> {
    fn header(&mut self) -> Result<Columns, LedgerError> {
        let read = self.reader.read_record(&mut self.record);
        if let Some(limit) = self.limit_broken(&read) {
            return Err(header_rejection("header", limit.reason()));
        }
        match read {
            Ok(true) => Columns::from_header(&self.record, self.kind),
            Ok(false) => Err(header_rejection("header", "the file is empty".into())),
            Err(e) => Err(header_rejection("header", unreadable_header(&e))),
        }
    }

    /// The limit the last read broke: the reader's, or a row read whole but too long.
    fn limit_broken(&mut self, read: &Result<bool, csv::Error>) -> Option<Exceeded> {
        if let Some(which) = self.bounds.exceeded.get() {
            return Some(which);
        }
        let end = self.reader.position().byte();
        let long = read.is_ok() && end.saturating_sub(self.bounds.row_start.get()) > MAX_ROW_BYTES;
        self.bounds.row_start.set(end);
        long.then_some(Exceeded::Row)
    }

    fn next_row(&mut self, columns: &Columns) -> Option<Parsed<T>> {
        if self.done {
            return None;
        }
        let row_start = self.bounds.row_start.get();
        let read = self.reader.read_record(&mut self.record);
        if let Some(limit) = self.limit_broken(&read) {
            self.done = true;
            let line = self.lines.line_at(row_start);
            return Some((line, Err(("row", limit.reason()))));
        }
        let read = match read {
            Ok(false) => return None,
            Ok(true) => Ok(()),
            Err(e) => Err(e),
        };
        self.count += 1;
        self.report_progress();
        let position = match &read {
            Ok(()) => self.record.position(),
            Err(e) => e.position(),
        };
        let line = position.map_or(self.count + 1, |p| self.lines.record_line(p));
        // Past the row cap, one rejection says so and the rest of the file is not read.
        self.done = self.count > MAX_IMPORT_ROWS;
        let parsing = Parsing {
            columns,
            kind: self.kind,
            parse: &self.parse,
        };
        // The record is parsed where it lies: the next read reuses its buffers, where a
        // record taken per row grew new ones field by field.
        let item = read.map(|()| &self.record);
        Some((line, parse_row(item, &parsing, self.count)))
    }

    fn report_progress(&mut self) {
        if self.count.is_multiple_of(PROGRESS_EVERY_ROWS) {
            if let Some(p) = self.progress.as_mut() {
                p(self.reader.position().byte());
            }
        }
    }
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

    /// The line of the record whose reading began at byte `at`; 0 (unknown) if the file
    /// cannot be read again.
    fn line_at(&mut self, at: u64) -> u64 {
        self.skip_to_record(at).map_or(0, |()| self.line)
    }

    /// Counts up to `byte`, then over any line breaks: to the first byte of the record.
    /// Counts a buffer at a time: this runs beside the parser for every row.
    fn skip_to_record(&mut self, byte: u64) -> std::io::Result<()> {
        let LineCounter {
            reader,
            offset,
            line,
            after_cr,
        } = self;
        loop {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let ahead = usize::try_from(byte.saturating_sub(*offset)).unwrap_or(usize::MAX);
            let mut taken = ahead.min(buf.len());
            count_breaks(&buf[..taken], line, after_cr);
            let mut at_record = false;
            for &b in &buf[taken..] {
                if b != b'\r' && b != b'\n' {
                    at_record = true;
                    break;
                }
                count_breaks(&[b], line, after_cr);
                taken += 1;
            }
            reader.consume(taken);
            *offset += taken as u64;
            if at_record {
                return Ok(());
            }
        }
    }
}

/// Adds the line breaks of `bytes` to `line`: `\n`, `\r\n` and a lone `\r` count one each;
/// `after_cr` says whether the byte before them was `\r`, and is left so for the next.
fn count_breaks(bytes: &[u8], line: &mut u64, after_cr: &mut bool) {
    if bytes.is_empty() {
        return;
    }
    if bytes.contains(&b'\r') {
        for &b in bytes {
            *line += u64::from(b == b'\r' || (b == b'\n' && !*after_cr));
            *after_cr = b == b'\r';
        }
        return;
    }
    // No `\r` (files written on Unix, the common case): every `\n` is a break but one that
    // ends a `\r\n` begun before `bytes`. Counted in one pass the compiler vectorizes.
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    let joined = u64::from(*after_cr && bytes[0] == b'\n');
    *line += newlines - joined;
    *after_cr = false;
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
        let optional = kind.optional_columns();
        if let Some(unknown) = names
            .iter()
            .find(|n| !expected.contains(n) && !optional.contains(n))
        {
            let mut known = expected.join(",");
            if !optional.is_empty() {
                known.push_str(&format!(" (and optionally {})", optional.join(",")));
            }
            return Err(header_rejection(
                "header",
                format!("unknown column {unknown:?}; expected {known}"),
            ));
        }
        let mut index = Vec::with_capacity(expected.len() + optional.len());
        for column in kind.all_columns() {
            match names.iter().filter(|n| **n == column).count() {
                1 => index.push(names.iter().position(|n| *n == column).unwrap_or(0)),
                0 if optional.contains(&column) => index.push(ABSENT),
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

/// The slot of an optional column the file does not have.
const ABSENT: usize = usize::MAX;

/// One record's fields, by expected column, with the rejection helper.
pub struct Fields<'r> {
    record: &'r csv::StringRecord,
    columns: &'r Columns,
    kind: ImportKind,
}

/// A field's value, or the field and why it was refused.
pub type FieldResult<T> = Result<T, (&'static str, String)>;

/// A row's line and its parsed value.
pub type Parsed<T> = (u64, FieldResult<T>);

impl Fields<'_> {
    /// The text of `column` (one of the kind's columns), refused when over
    /// [`MAX_FIELD_BYTES`].
    pub fn get(&self, column: &'static str) -> FieldResult<&str> {
        let slot = self
            .kind
            .all_columns()
            .position(|c| same_name(c, column))
            .expect("columns are looked up by their own names");
        let text = self.record.get(self.columns.index[slot]).unwrap_or("");
        if text.len() > MAX_FIELD_BYTES {
            return Err((column, format!("is longer than {MAX_FIELD_BYTES} bytes")));
        }
        Ok(text)
    }
}

/// Whether two column names are one. Callers name a column by the same literal as the
/// kind's list, so the address usually tells; else the length and first byte tell most
/// names apart without comparing text (an events row looks up eleven columns among ten:
/// compared as text, a twentieth of the planning thread went to `memcmp`).
fn same_name(listed: &'static str, asked: &'static str) -> bool {
    std::ptr::eq(listed, asked)
        || (listed.len() == asked.len()
            && listed.as_bytes().first() == asked.as_bytes().first()
            && listed == asked)
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

/// How the rows of one file are parsed.
struct Parsing<'p, 'a, T> {
    columns: &'p Columns,
    kind: ImportKind,
    parse: &'p ParseFn<'a, T>,
}

fn parse_row<T>(
    item: Result<&csv::StringRecord, csv::Error>,
    parsing: &Parsing<T>,
    count: u64,
) -> FieldResult<T> {
    let Parsing {
        columns,
        kind,
        parse,
    } = parsing;
    let record = item.map_err(|e| unreadable_row(&e, columns, *kind))?;
    if count > MAX_IMPORT_ROWS {
        return Err((
            "row",
            format!("the file has more than {MAX_IMPORT_ROWS} rows"),
        ));
    }
    if record.len() != columns.width {
        let hint = if record.iter().any(has_line_break) {
            UNCLOSED_QUOTE_HINT
        } else {
            ""
        };
        return Err((
            "row",
            format!(
                "has {} fields, the header has {}{hint}",
                record.len(),
                columns.width
            ),
        ));
    }
    parse(&Fields {
        record,
        columns,
        kind: *kind,
    })
}

/// The keys rows held in memory may need (an import sent over HTTP): identity numbers and
/// accounts enter the log as keyed hashes. A row that needs a key not given is refused.
#[derive(Default)]
pub struct RowKeys {
    pub identity: Option<IdentityKey>,
    pub account: Option<AccountKey>,
}

impl RowKeys {
    /// Both keys, derived from the signing key.
    pub fn of(key: &crate::keys::SigningKeyFile) -> RowKeys {
        RowKeys {
            identity: Some(key.identity_key()),
            account: Some(key.account_key()),
        }
    }

    fn lend(&self) -> Keys<'_> {
        Keys {
            identity: self.identity.as_ref(),
            account: self.account.as_ref(),
        }
    }
}

/// [`RowKeys`] as the parser borrows them.
#[derive(Clone, Copy, Default)]
struct Keys<'k> {
    identity: Option<&'k IdentityKey>,
    account: Option<&'k AccountKey>,
}

fn parse_fields(kind: ImportKind, fields: &Fields, keys: Keys) -> FieldResult<Command> {
    match kind {
        ImportKind::Households => parse_household(fields),
        ImportKind::Events => parse_event(fields, keys.account),
        ImportKind::Rates => parse_rate(fields),
        ImportKind::Persons => parse_person(fields, keys.identity),
        ImportKind::Changes => parse_change(fields),
        ImportKind::Deaths => Err((
            "row",
            "a death register is matched against the roll, not appended as it is".into(),
        )),
    }
}

/// [`read_values`] of a CSV text held in memory (an import sent to the HTTP API).
pub fn values_from_bytes<T>(
    bytes: &[u8],
    kind: ImportKind,
    parse: impl Fn(&Fields) -> FieldResult<T>,
) -> Result<Vec<Parsed<T>>, LedgerError> {
    let values = csv_values(bytes, LineCounter::new(bytes), kind, None, Box::new(parse))?;
    Ok(values.collect())
}

/// Reads a CSV file whose rows are not commands (a death register), each parsed by
/// `parse`, with its line; the same limits and messages as an import.
pub fn read_values<T>(
    path: &Path,
    kind: ImportKind,
    parse: impl Fn(&Fields) -> FieldResult<T>,
) -> Result<Vec<Parsed<T>>, LedgerError> {
    let source = |e: std::io::Error| LedgerError::Source(format!("{}: {e}", path.display()));
    let file = File::open(path).map_err(source)?;
    let again = File::open(path).map_err(source)?;
    let lines = LineCounter::new(BufReader::new(again));
    let values = csv_values(BufReader::new(file), lines, kind, None, Box::new(parse))?;
    Ok(values.collect())
}

/// A payee account cell: empty, or 12 to 19 digits kept as a keyed hash and the last four.
fn payee_account(text: &str, key: Option<&AccountKey>) -> FieldResult<Option<PayeeAccount>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let account = field("account", Account::parse(text))?;
    let key = key.ok_or((
        "account",
        "cannot be kept without the ledger's account key (signing.key)".to_string(),
    ))?;
    Ok(Some(PayeeAccount {
        hash: key.account_hash(&account),
        last4: account.last4().to_owned(),
    }))
}

fn parse_person(f: &Fields, identity: Option<&IdentityKey>) -> FieldResult<Command> {
    let key = identity.ok_or((
        "id_number",
        "cannot be kept without the ledger's identity key (signing.key)".to_string(),
    ))?;
    let person = field("person_id", PersonId::parse(f.get("person_id")?.trim()))?;
    let household = field(
        "household_id",
        HouseholdId::parse(f.get("household_id")?.trim()),
    )?;
    let role = field("role", Role::parse(f.get("role")?.trim()))?;
    let birth_date = field("birth_date", parse_date(f.get("birth_date")?.trim()))?;
    let joined_on = field("joined_on", parse_date(f.get("joined_on")?.trim()))?;
    let id_number = field("id_number", IdNumber::parse(f.get("id_number")?))?;
    field("id_number", check_identity(&id_number, role, birth_date))?;
    let identity = key.identity_hash(&id_number);
    let personal = field("name", Clear::new(f.get("name")?, id_number))?;
    Ok(Command::AddPerson(PersonEntry {
        person,
        household,
        identity,
        role,
        birth_date,
        joined_on,
        personal: Some(personal),
    }))
}

fn parse_change(f: &Fields) -> FieldResult<Command> {
    let date = field("date", parse_date(f.get("date")?.trim()))?;
    let kind = field("type", LifeEventKind::parse(f.get("type")?.trim()))?;
    let optional = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
    let person = optional(f.get("person_id")?)
        .map(|p| field("person_id", PersonId::parse(&p)))
        .transpose()?;
    let household = optional(f.get("household_id")?)
        .map(|h| field("household_id", HouseholdId::parse(&h)))
        .transpose()?;
    match (kind.is_personal(), &person, &household) {
        (true, None, _) => {
            return Err(("person_id", format!("is required for {}", kind.code())));
        }
        (false, Some(_), _) => {
            return Err(("person_id", format!("must be empty for {}", kind.code())));
        }
        (false, None, None) => {
            return Err(("household_id", format!("is required for {}", kind.code())));
        }
        _ => {}
    }
    let reference = field("reference", Reference::parse(f.get("reference")?.trim()))?;
    let memo = field("memo", check_text(f.get("memo")?, false))?;
    Ok(Command::RecordLifeEvent(LifeEvent {
        kind,
        person,
        household,
        date,
        reference,
        memo,
    }))
}

fn field<T, E: ToString>(column: &'static str, result: Result<T, E>) -> FieldResult<T> {
    result.map_err(|e| (column, e.to_string()))
}

fn parse_household(f: &Fields) -> FieldResult<Command> {
    let household = field("household_id", HouseholdId::parse(f.get("household_id")?))?;
    let subdistrict = field(
        "subdistrict",
        check_text(f.get("subdistrict")?.trim(), true),
    )?;
    let community = field("community", check_text(f.get("community")?.trim(), true))?;
    let category: Category = field("category", f.get("category")?.trim().parse())?;
    let members = parse_count("members", f.get("members")?)?;
    let enrolled_on = field("enrolled_on", parse_date(f.get("enrolled_on")?))?;
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
    Recovery,
}

fn parse_type(text: &str) -> FieldResult<RowType> {
    match text {
        "fund_allocation" => Ok(RowType::Allocation),
        "reversal" => Ok(RowType::Reversal),
        "recovery_received" => Ok(RowType::Recovery),
        other => PaymentKind::ALL
            .into_iter()
            .find(|k| k.code() == other)
            .map(RowType::Payment)
            .ok_or_else(|| {
                ("type", format!(
                    "{other:?} is not fund_allocation, disbursement, insurance_purchase, condolence_payment, in_kind_benefit, reversal or recovery_received"
                ))
            }),
    }
}

fn parse_event(f: &Fields, account_key: Option<&AccountKey>) -> FieldResult<Command> {
    let date = field("date", parse_date(f.get("date")?.trim()))?;
    let row_type = parse_type(f.get("type")?.trim())?;
    let household = f.get("household_id")?.trim();
    let program = f.get("program")?.trim();
    let amount = field("amount", Money::parse(f.get("amount")?))?;
    let persons = match f.get("persons")?.trim() {
        "" => 1,
        text => parse_count("persons", text)?,
    };
    let reference = f.get("reference")?.trim();
    let reference = field(
        "reference",
        match row_type {
            RowType::Reversal => Reference::parse_payment_target(reference),
            _ => Reference::parse(reference),
        },
    )?;
    let memo = field("memo", check_text(f.get("memo")?, false))?;
    let account = payee_account(f.get("account")?, account_key)?;
    if account.is_some() && !matches!(row_type, RowType::Payment(_)) {
        return Err(("account", "names a payee, so only a payment has one".into()));
    }
    let finding = f.get("finding")?.trim();
    if !finding.is_empty() && !matches!(row_type, RowType::Recovery) {
        return Err((
            "finding",
            "names the finding a recovery pays back, so only a recovery_received has one".into(),
        ));
    }
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
                account,
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
        RowType::Recovery => {
            if !f.get("persons")?.trim().is_empty() {
                return Err(("persons", "must be empty for a recovery_received".into()));
            }
            if finding.is_empty() {
                return Err((
                    "finding",
                    "is required for a recovery_received: the id of the finding whose \
                     receivable it pays back (as `fundtrail findings` shows it)"
                        .into(),
                ));
            }
            Ok(Command::RecordRecovery(Recovery {
                finding: field("finding", FindingId::parse(finding))?,
                household: required_household(household)?,
                program: field("program", ProgramCode::parse(program))?,
                amount,
                date,
                reference,
                memo,
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
    let program = field("program", ProgramCode::parse(f.get("program")?.trim()))?;
    let category: Category = field("category", f.get("category")?.trim().parse())?;
    let per_member = field("per_member", Money::parse(f.get("per_member")?))?;
    let valid_from = field("valid_from", parse_date(f.get("valid_from")?.trim()))?;
    let valid_to = match f.get("valid_to")?.trim() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded(inner: impl Read, row_start: u64) -> (Bounded<impl Read>, Rc<Bounds>) {
        let bounds = Rc::new(Bounds::default());
        bounds.row_start.set(row_start);
        let reader = Bounded {
            inner,
            delivered: 0,
            bounds: Rc::clone(&bounds),
        };
        (reader, bounds)
    }

    /// Reads until the end or an error: the bytes delivered, and whether it ended cleanly.
    fn drain(reader: &mut impl Read) -> (u64, bool) {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return (total, true),
                Ok(n) => total += n as u64,
                Err(_) => return (total, false),
            }
        }
    }

    proptest::proptest! {
        /// Line breaks counted in pieces, cut anywhere (a `\r\n` split in two included),
        /// are those counted a byte at a time: `\n`, `\r\n` and a lone `\r` one each.
        #[test]
        fn breaks_counted_in_pieces_are_counted_byte_by_byte(
            text in proptest::collection::vec(
                proptest::sample::select(vec![b'\r', b'\n', b'a']), 0..60),
            cuts in proptest::collection::vec(0..60usize, 0..6),
        ) {
            let mut expected = (1u64, false);
            for &b in &text {
                expected.0 += u64::from(b == b'\r' || (b == b'\n' && !expected.1));
                expected.1 = b == b'\r';
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.push(0);
            cuts.push(text.len());
            cuts.sort_unstable();
            let (mut line, mut after_cr) = (1u64, false);
            for piece in cuts.windows(2) {
                count_breaks(&text[piece[0]..piece[1]], &mut line, &mut after_cr);
            }
            proptest::prop_assert_eq!((line, after_cr), expected);
        }
    }

    #[test]
    fn a_stream_is_cut_off_one_byte_past_the_file_cap() {
        // Rows ending all along (the row window starts past the cap) leave the file cap.
        let (mut endless, bounds) = bounded(std::io::repeat(b'\n'), MAX_IMPORT_BYTES);
        assert_eq!(drain(&mut endless), (MAX_IMPORT_BYTES + 1, false));
        assert_eq!(bounds.exceeded.get(), Some(Exceeded::File));
        let at_cap = std::io::repeat(b'\n').take(MAX_IMPORT_BYTES);
        let (mut at_cap, bounds) = bounded(at_cap, MAX_IMPORT_BYTES);
        assert_eq!(drain(&mut at_cap), (MAX_IMPORT_BYTES, true));
        assert_eq!(bounds.exceeded.get(), None);
    }

    #[test]
    fn a_row_that_does_not_end_is_cut_off_past_its_window() {
        let (mut endless, bounds) = bounded(std::io::repeat(0), 0);
        let window = MAX_ROW_BYTES + CSV_BUFFER_BYTES as u64;
        assert_eq!(drain(&mut endless), (window, false));
        assert_eq!(bounds.exceeded.get(), Some(Exceeded::Row));
    }

    /// A header and one payment row whose memo pads the row to `row_bytes`, newline included.
    fn file_with_row_of(row_bytes: u64) -> Vec<u8> {
        let start = "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,R-1,";
        let memo = "m".repeat(row_bytes as usize - start.len() - 1);
        format!("{}\n{start}{memo}\n", EVENT_COLUMNS.join(",")).into_bytes()
    }

    #[test]
    fn a_row_is_refused_as_too_long_only_past_max_row_bytes() {
        let rows = rows_from_bytes(
            &file_with_row_of(MAX_ROW_BYTES),
            ImportKind::Events,
            10,
            &RowKeys::default(),
        )
        .unwrap()
        .unwrap();
        let (line, (field, _)) = (rows[0].line, rows[0].command.clone().unwrap_err());
        assert_eq!(
            (line, field),
            (2, "memo"),
            "a field limit, not the row limit"
        );

        let bytes = file_with_row_of(MAX_ROW_BYTES + 1);
        let rows = rows_from_bytes(&bytes, ImportKind::Events, 10, &RowKeys::default())
            .unwrap()
            .unwrap();
        assert_eq!(rows.len(), 1);
        let (field, reason) = rows[0].command.clone().unwrap_err();
        assert_eq!((rows[0].line, field), (2, "row"));
        assert!(reason.contains(&format!("longer than {MAX_ROW_BYTES} bytes")));
    }

    #[test]
    fn rows_after_a_row_too_long_are_not_read() {
        let mut bytes = file_with_row_of(MAX_ROW_BYTES * 4);
        bytes.extend_from_slice(b"not,a,row\n");
        let rows = rows_from_bytes(&bytes, ImportKind::Events, 10, &RowKeys::default())
            .unwrap()
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].command.clone().unwrap_err().0, "row");
    }

    #[test]
    fn a_header_without_an_end_is_refused_as_the_header() {
        let bytes = vec![b'a'; 3 * MAX_ROW_BYTES as usize];
        let Err(LedgerError::Rejected { rejections, .. }) =
            rows_from_bytes(&bytes, ImportKind::Events, 10, &RowKeys::default())
        else {
            panic!("a header of {} bytes was accepted", bytes.len());
        };
        assert_eq!((rejections[0].line, rejections[0].field), (1, "header"));
        assert!(rejections[0].reason.contains("longer than"));
    }

    /// A text of rows ended by `\n`, `\r\n` and lone `\r` in turn, some after blank lines,
    /// some with a quoted field spanning two lines, with the line each row starts on; the
    /// rows cross the parser's buffer several times.
    fn rows_with_mixed_breaks() -> (Vec<u8>, Vec<u64>) {
        let breaks = ["\n", "\r\n", "\r"];
        let mut text = format!("{}\n", EVENT_COLUMNS.join(",")).into_bytes();
        let (mut line, mut starts) = (2u64, Vec::new());
        for i in 0..400usize {
            if i % 7 == 0 && i > 0 {
                // A blank line, ended as the row before it was.
                text.extend_from_slice(breaks[(i - 1) % 3].as_bytes());
                line += 1;
            }
            starts.push(line);
            let memo = if i % 11 == 0 {
                line += 1;
                "\"two\nlines\"".to_string()
            } else {
                "m".repeat(i % 37)
            };
            let row =
                format!("2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,R-{i},{memo}");
            text.extend_from_slice(row.as_bytes());
            text.extend_from_slice(breaks[i % 3].as_bytes());
            line += 1;
        }
        (text, starts)
    }

    #[test]
    fn rows_are_numbered_by_their_first_line_across_the_parsers_buffers() {
        let (text, starts) = rows_with_mixed_breaks();
        assert!(
            text.len() > 3 * CSV_BUFFER_BYTES,
            "the rows cross several buffers"
        );
        let from_bytes = values_from_bytes(&text, ImportKind::Events, |_| Ok(())).unwrap();
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("events.csv");
        std::fs::write(&path, &text).unwrap();
        let from_file = read_values(&path, ImportKind::Events, |_| Ok(())).unwrap();
        for values in [from_bytes, from_file] {
            let lines: Vec<u64> = values.iter().map(|(line, _)| *line).collect();
            assert_eq!(lines, starts);
        }
    }

    #[test]
    fn a_row_straddling_the_parsers_buffer_is_numbered_by_its_first_line() {
        // Blank lines fill the first buffer up to 10 bytes short of its end: the row after
        // them is handed to the parser in two reads.
        let header = format!("{}\r\n", EVENT_COLUMNS.join(","));
        let blank = CSV_BUFFER_BYTES - header.len() - 10;
        let row = "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,R-1,memo\r\n";
        let text = format!("{header}{}{row}{row}", "\r\n".repeat(blank / 2));
        let first = 2 + (blank / 2) as u64;
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("events.csv");
        std::fs::write(&path, &text).unwrap();
        let values = read_values(&path, ImportKind::Events, |_| Ok(())).unwrap();
        let lines: Vec<u64> = values.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, vec![first, first + 1]);
    }
}
