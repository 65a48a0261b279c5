//! The vocabulary of the ledger: newtypes for the values that carry meaning, the program
//! catalog, the commands a clerk issues and the event bodies the ledger stores.
//!
//! Everything here is pure: parsing and checking single values, no state and no IO.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::keys::identity::{AccountHash, IdentityHash};
use crate::model::person::{PersonId, Role};
use crate::people::vault::Clear;

/// Fen per yuan: money is CNY with exactly two decimal places.
pub const FEN_PER_YUAN: i64 = 100;

/// Amounts at or above ¥100,000,000.00 are refused. The district's largest yearly
/// allocation is far below this; the ceiling catches a misplaced decimal point or a pasted
/// account number long before the checked sums could come near overflowing an i64.
pub const AMOUNT_CEILING_FEN: i64 = 100_000_000 * FEN_PER_YUAN;

/// Household ids are short codes (`PL-0001`); the limit keeps index keys small.
pub const MAX_HOUSEHOLD_ID_CHARS: usize = 32;

/// Bank transaction ids, vouchers and policy numbers all fit in 64 characters.
pub const MAX_REFERENCE_CHARS: usize = 64;

/// Free-text fields (memo, reason, actor, community) are bounded so one row cannot bloat
/// the log; 200 characters hold any reason a clerk writes.
pub const MAX_TEXT_CHARS: usize = 200;

/// A household of the scheme has at most this many registered members.
pub const MAX_MEMBERS: u32 = 20;

/// One payment covers at most this many person-times (a yearly group insurance policy for
/// the largest household, or a batch purchase of in-kind benefits).
pub const MAX_PERSONS: u32 = 10_000;

/// References the ledger derives itself start with these prefixes; clerks may not use them.
pub const ENROLL_REFERENCE_PREFIX: &str = "enroll:";
pub const REVERSAL_REFERENCE_PREFIX: &str = "reversal:";
/// A rate's reference: `rate:<program>:<category>:<valid_from>` (FORMAT.md §1.2).
pub const RATE_REFERENCE_PREFIX: &str = "rate:";
/// A monthly allowance disbursement's reference: `ALW-<YYYYMM>-<household>`. Upper case and
/// without a colon because it travels to the bank in the payment file.
pub const ALLOWANCE_REFERENCE_PREFIX: &str = "ALW-";
/// A reconciliation's reference: `reconcile:<statement hash>:<period>:<report hash>`.
pub const RECONCILE_REFERENCE_PREFIX: &str = "reconcile:";

/// A person's entry: `person:<person id>`.
pub const PERSON_REFERENCE_PREFIX: &str = "person:";
/// A look at a person's data in clear: `reveal:<person id>:<microseconds since the epoch>`.
pub const REVEAL_REFERENCE_PREFIX: &str = "reveal:";
/// A person's erasure: `erase:<person id>` (a person is erased once).
pub const ERASE_REFERENCE_PREFIX: &str = "erase:";
/// A decision about a finding: `resolve:<finding id>:<microseconds since the epoch>` (a
/// finding may be decided again, by another actor, so the time tells decisions apart).
pub const RESOLVE_REFERENCE_PREFIX: &str = "resolve:";
/// A held household's release for a month: `release:<YYYYMM>:<household>` (a household
/// is released at most once a month: the release pays the month, and a paid month is not
/// held again).
pub const RELEASE_REFERENCE_PREFIX: &str = "release:";

/// Every derived prefix: a clerk's reference may start with none of them.
pub const RESERVED_REFERENCE_PREFIXES: [&str; 10] = [
    ENROLL_REFERENCE_PREFIX,
    REVERSAL_REFERENCE_PREFIX,
    RATE_REFERENCE_PREFIX,
    ALLOWANCE_REFERENCE_PREFIX,
    RECONCILE_REFERENCE_PREFIX,
    PERSON_REFERENCE_PREFIX,
    REVEAL_REFERENCE_PREFIX,
    ERASE_REFERENCE_PREFIX,
    RESOLVE_REFERENCE_PREFIX,
    RELEASE_REFERENCE_PREFIX,
];

/// Hex digits of a blake3 hash that a reconciliation reference carries: 64 bits each for
/// the statement and the report keep the reference within [`MAX_REFERENCE_CHARS`] and make
/// an accidental clash between two different runs negligible.
pub const RECONCILE_REFERENCE_HEX_CHARS: usize = 16;

/// Why a single value was refused. The import layer adds the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn invalid<T>(reason: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(reason.into()))
}

/// Position of an event in the log: dense, starting at 1, never reused. Every `u64` is a
/// valid `Seq`: 0 stands before the first event (the end of an empty log's range, the
/// start of a key range), and `u64::MAX` bounds an open-ended scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seq(u64);

impl Seq {
    pub const FIRST: Seq = Seq(1);

    pub const fn new(seq: u64) -> Seq {
        Seq(seq)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A blake3 chain hash (FORMAT.md, "Chain"). The default is the genesis value.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventHash([u8; 32]);

impl EventHash {
    /// The `prev_hash` of the first event.
    pub const GENESIS: EventHash = EventHash([0; 32]);

    /// Any 32 bytes are a hash; whether they are the right one is for the chain to say.
    pub const fn from_bytes(bytes: [u8; 32]) -> EventHash {
        EventHash(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub const fn into_bytes(self) -> [u8; 32] {
        self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventHash({})", self.to_hex())
    }
}

impl fmt::Display for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An amount of CNY in fen. Parsed exactly through `rust_decimal`, kept as an integer so
/// every sum is exact and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// Any number of fen: a sum, a balance or a difference, which may be negative or
    /// beyond the ceiling of a single amount.
    pub const fn from_fen(fen: i64) -> Money {
        Money(fen)
    }

    /// One amount as an import gives it: not negative and below [`AMOUNT_CEILING_FEN`].
    pub fn amount_from_fen(fen: i64) -> Result<Money, ValueError> {
        if (0..AMOUNT_CEILING_FEN).contains(&fen) {
            return Ok(Money(fen));
        }
        invalid(format!(
            "{} is not between 0.00 and the ceiling {}",
            Money(fen),
            Money(AMOUNT_CEILING_FEN)
        ))
    }

    pub const fn fen(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// Parses `123`, `123.4` or `123.45`; refuses a third decimal, signs, exponents and
    /// amounts at or above the ceiling.
    pub fn parse(text: &str) -> Result<Money, ValueError> {
        let text = text.trim();
        if text.is_empty() {
            return invalid("is empty");
        }
        if !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return invalid(format!("{text:?} is not an amount like 1234.56"));
        }
        let Ok(value) = Decimal::from_str_exact(text) else {
            return invalid(format!("{text:?} is not an amount like 1234.56"));
        };
        if value.scale() > 2 {
            return invalid(format!("{text:?} has more than 2 decimal places"));
        }
        let mut fen = value;
        fen.rescale(2);
        match i64::try_from(fen.mantissa()) {
            Ok(fen) if fen < AMOUNT_CEILING_FEN => Ok(Money(fen)),
            _ => invalid(format!(
                "{text} is at or above the ceiling of {}",
                Money(AMOUNT_CEILING_FEN)
            )),
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let per_yuan = FEN_PER_YUAN.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / per_yuan, abs % per_yuan)
    }
}

/// A household's code, as the district assigns it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HouseholdId(String);

impl HouseholdId {
    pub fn parse(text: &str) -> Result<HouseholdId, ValueError> {
        let ok_len = (1..=MAX_HOUSEHOLD_ID_CHARS).contains(&text.chars().count());
        let ok_chars = text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok_len && ok_chars {
            Ok(HouseholdId(text.to_owned()))
        } else {
            invalid(format!(
                "{text:?} is not 1 to {MAX_HOUSEHOLD_ID_CHARS} letters, digits, '-' or '_'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HouseholdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An external reference: bank transaction id, voucher or policy number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Reference(String);

impl Reference {
    /// A reference a clerk supplies: printable, no spaces, not one of the derived forms.
    pub fn parse(text: &str) -> Result<Reference, ValueError> {
        Reference::check(text)?;
        Ok(Reference(text.to_owned()))
    }

    /// Whether [`Reference::parse`] takes `text`, without keeping a copy: for a verifier,
    /// which checks every stored reference and holds its own.
    pub fn check(text: &str) -> Result<(), ValueError> {
        if Reference::is_plain_ascii(text) {
            return Reference::check_reserved(text);
        }
        Reference::check_unicode(text)
    }

    /// Whether `text` is 1 to [`MAX_REFERENCE_CHARS`] printable ASCII characters other than
    /// the space, in one pass over its bytes: nearly every reference is, and none of them
    /// can be whitespace, a control or invisible (every invisible character is above ASCII).
    /// Anything else takes [`Reference::check_unicode`], which also words the error.
    fn is_plain_ascii(text: &str) -> bool {
        (1..=MAX_REFERENCE_CHARS).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_graphic())
    }

    fn check_reserved(text: &str) -> Result<(), ValueError> {
        for prefix in RESERVED_REFERENCE_PREFIXES {
            if text.starts_with(prefix) {
                return invalid(format!("{text:?}: the prefix {prefix:?} is reserved"));
            }
        }
        Ok(())
    }

    /// The full check, character by character, for any text.
    fn check_unicode(text: &str) -> Result<(), ValueError> {
        let len = text.chars().count();
        if !(1..=MAX_REFERENCE_CHARS).contains(&len) {
            return invalid(format!("must be 1 to {MAX_REFERENCE_CHARS} characters"));
        }
        if let Some(c) = text.chars().find(|c| c.is_whitespace()) {
            return invalid(format!(
                "{text:?} contains {}, a space: references have no spaces",
                code_point(c)
            ));
        }
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return invalid(format!(
                "{text:?} contains {}, a control character",
                code_point(c)
            ));
        }
        if let Some(c) = text.chars().find(|c| is_invisible(*c)) {
            return invalid(format!(
                "{text:?} contains {}, an invisible or bidirectional formatting character: \
                 two references with and without it would look the same",
                code_point(c)
            ));
        }
        Reference::check_reserved(text)
    }

    /// The reference of a payment to reverse: a clerk's reference, or a derived payment
    /// reference (an allowance disbursement), which a clerk may name but never create.
    pub fn parse_payment_target(text: &str) -> Result<Reference, ValueError> {
        match text.strip_prefix(ALLOWANCE_REFERENCE_PREFIX) {
            Some(rest) => {
                Reference::parse(&format!("X{rest}"))?;
                Ok(Reference(text.to_owned()))
            }
            None => Reference::parse(text),
        }
    }

    /// The reference of a rate: unique per program, category and first valid day, so a
    /// re-imported rates file is recognised row by row.
    pub fn for_rate(program: &ProgramCode, category: Category, valid_from: NaiveDate) -> Reference {
        Reference(format!(
            "{RATE_REFERENCE_PREFIX}{program}:{}:{valid_from}",
            category.code()
        ))
    }

    /// The reference of a household's support allowance for a month: re-running the month
    /// finds it and appends nothing.
    pub fn for_allowance(month: Month, household: &HouseholdId) -> Reference {
        Reference(format!(
            "{ALLOWANCE_REFERENCE_PREFIX}{}-{household}",
            month.compact()
        ))
    }

    /// The reference of a held household's release for a month: one per household and
    /// month, so a retried release is recognised.
    pub fn for_release(month: Month, household: &HouseholdId) -> Reference {
        Reference(format!(
            "{RELEASE_REFERENCE_PREFIX}{}:{household}",
            month.compact()
        ))
    }

    /// The reference of a reconciliation: the same statement, period and findings give the
    /// same reference, so repeating an identical run records nothing new.
    pub fn for_reconciliation(
        statement_hash: &[u8; 32],
        period: Option<Month>,
        report_hash: &[u8; 32],
    ) -> Reference {
        let short = |h: &[u8; 32]| hex::encode(&h[..RECONCILE_REFERENCE_HEX_CHARS / 2]);
        let period = period.map_or_else(|| ALL_PERIODS.to_string(), |m| m.to_string());
        Reference(format!(
            "{RECONCILE_REFERENCE_PREFIX}{}:{period}:{}",
            short(statement_hash),
            short(report_hash)
        ))
    }

    /// The reference of a household's enrollment event.
    pub fn for_enrollment(household: &HouseholdId) -> Reference {
        Reference(format!("{ENROLL_REFERENCE_PREFIX}{household}"))
    }

    /// The reference of the reversal of the payment with reference `target`; a payment can
    /// be reversed once, so this is unique and makes a retried reversal harmless.
    pub fn for_reversal(target: &Reference) -> Reference {
        Reference(format!("{REVERSAL_REFERENCE_PREFIX}{target}"))
    }

    /// A reference the ledger derives: `prefix` then `rest` (a person id, with a time for
    /// a reveal), within the limit since person ids are short.
    pub fn derived(prefix: &str, rest: &str) -> Reference {
        Reference(format!("{prefix}{rest}"))
    }

    /// A stored reference, already checked when it was appended.
    pub fn from_stored(text: String) -> Reference {
        Reference(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters that print as nothing, or only reorder what is around them: every Unicode
/// format character (general category Cf, Unicode 15.1) and the other default-ignorable
/// code points (fillers, variation selectors, tags). A reference holding one looks exactly
/// like the reference without it, so one payment could hide behind another's reference
/// (FORMAT.md §1.2). Inclusive ranges of code points, in order.
pub const INVISIBLE_CHARACTERS: [(char, char); 25] = [
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{034F}', '\u{034F}'),   // combining grapheme joiner
    ('\u{0600}', '\u{0605}'),   // Arabic number signs
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark (bidi)
    ('\u{06DD}', '\u{06DD}'),   // Arabic end of ayah
    ('\u{070F}', '\u{070F}'),   // Syriac abbreviation mark
    ('\u{0890}', '\u{0891}'),   // Arabic pound and piastre marks above
    ('\u{08E2}', '\u{08E2}'),   // Arabic disputed end of ayah
    ('\u{115F}', '\u{1160}'),   // Hangul fillers
    ('\u{17B4}', '\u{17B5}'),   // Khmer inherent vowels
    ('\u{180B}', '\u{180F}'),   // Mongolian variation selectors, vowel separator
    ('\u{200B}', '\u{200F}'),   // zero width space, joiners, LRM, RLM
    ('\u{202A}', '\u{202E}'),   // bidi embeddings and overrides
    ('\u{2060}', '\u{206F}'),   // word joiner, invisible operators, bidi isolates
    ('\u{3164}', '\u{3164}'),   // Hangul filler
    ('\u{FE00}', '\u{FE0F}'),   // variation selectors
    ('\u{FEFF}', '\u{FEFF}'),   // zero width no-break space (byte order mark)
    ('\u{FFA0}', '\u{FFA0}'),   // halfwidth Hangul filler
    ('\u{FFF0}', '\u{FFFB}'),   // unassigned specials, interlinear annotation
    ('\u{110BD}', '\u{110BD}'), // Kaithi number sign
    ('\u{110CD}', '\u{110CD}'), // Kaithi number sign above
    ('\u{13430}', '\u{1343F}'), // Egyptian hieroglyph format controls
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol format controls
    ('\u{E0000}', '\u{E0FFF}'), // tags, variation selectors supplement
];

/// Whether `c` is one of [`INVISIBLE_CHARACTERS`].
pub fn is_invisible(c: char) -> bool {
    // Every range lies at or above the soft hyphen: the text of most references and names
    // is below it, and needs no walk of the table.
    if c < INVISIBLE_CHARACTERS[0].0 {
        return false;
    }
    INVISIBLE_CHARACTERS
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// `U+200B`: how a message names a character that may not show.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// Checks a bounded free-text field (memo, reason, actor, place names).
pub fn check_text(text: &str, required: bool) -> Result<String, ValueError> {
    validate_text(text, required)?;
    Ok(text.to_owned())
}

/// As [`check_text`], without keeping a copy: for a verifier, which checks every stored
/// field and holds its own.
pub fn validate_text(text: &str, required: bool) -> Result<(), ValueError> {
    if required && text.trim().is_empty() {
        return invalid("is empty");
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return invalid(format!("is longer than {MAX_TEXT_CHARS} characters"));
    }
    if text.contains(['\n', '\r']) {
        return invalid(
            "contains a line break (in a CSV file, a quote (\") that is not closed joins the \
             next lines into this field)",
        );
    }
    if text.chars().any(|c| c.is_control()) {
        return invalid("contains control characters");
    }
    Ok(())
}

/// Parses a `YYYY-MM-DD` value date.
pub fn parse_date(text: &str) -> Result<NaiveDate, ValueError> {
    // Every row of an import has a date: a day of eight digits is read directly (chrono's
    // `parse_from_str` interprets its format string anew per call), and anything else,
    // a date that does not exist included, goes to chrono for its answer and message.
    match date_of_digits(text.as_bytes()) {
        Some(date) => Ok(date),
        None => parse_date_by_format(text),
    }
}

/// The day `YYYY-MM-DD` when every `Y`, `M` and `D` is an ASCII digit and the day exists.
fn date_of_digits(b: &[u8]) -> Option<NaiveDate> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *b else {
        return None;
    };
    let mut digits = [y0, y1, y2, y3, m0, m1, d0, d1];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter_mut().for_each(|d| *d -= b'0');
    let number = |ds: &[u8]| ds.iter().fold(0u32, |n, d| n * 10 + u32::from(*d));
    let year = i32::try_from(number(&digits[..4])).ok()?;
    NaiveDate::from_ymd_opt(year, number(&digits[4..6]), number(&digits[6..]))
}

/// [`parse_date`] by chrono's format parser: the answer for any text.
fn parse_date_by_format(text: &str) -> Result<NaiveDate, ValueError> {
    // chrono's `%Y` also takes a signed year (`-005`), which the rules and the verifiers
    // refuse in a stored date: the year is four digits, as in the files.
    let b = text.as_bytes();
    let shape_ok =
        b.len() == 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit);
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) if shape_ok => Ok(date),
        // The right shape, but no such day (2018-02-30, 2018-13-01): say so, rather than
        // that the format is wrong.
        Err(e) if shape_ok && e.kind() == chrono::format::ParseErrorKind::OutOfRange => {
            invalid(format!("{text:?} is not a day of the calendar"))
        }
        _ => invalid(format!("{text:?} is not a date YYYY-MM-DD")),
    }
}

/// Days since 1970-01-01, the stored form of a date (FORMAT.md).
pub fn date_to_days(date: NaiveDate) -> i32 {
    // chrono's dates lie within ±262,143 years of 1970, under 2^27 days either way.
    #[allow(clippy::cast_possible_truncation)]
    let days = (date - NaiveDate::default()).num_days() as i32;
    days
}

/// 1970-01-01 counted from 0001-01-01 (day 1), as chrono counts days of the common era.
const UNIX_EPOCH_DAY_CE: i32 = 719_163;

/// The date `days` after 1970-01-01. Counted from the common era's start, which chrono
/// converts with a few divisions (adding a `Duration` to a date cost five times more, and
/// a replay converts every event's date).
pub fn days_to_date(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_DAY_CE)?)
}

/// The (year, month) a date falls in.
pub fn year_month(date: NaiveDate) -> (i32, u32) {
    (date.year(), date.month())
}

/// Why a household is in the scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Category {
    /// 失独: the only child died.
    Bereaved,
    /// 伤残: the only child is disabled.
    Disabled,
}

impl Category {
    pub fn code(self) -> &'static str {
        match self {
            Category::Bereaved => "bereaved",
            Category::Disabled => "disabled",
        }
    }
}

impl FromStr for Category {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Category, ValueError> {
        match text {
            "bereaved" | "失独" => Ok(Category::Bereaved),
            "disabled" | "伤残" => Ok(Category::Disabled),
            _ => invalid(format!("{text:?} is not bereaved, disabled, 失独 or 伤残")),
        }
    }
}

/// One entry of the built-in program catalog (domain.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    pub code: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
}

/// The programs money flows through. Stored events name programs by `code`, so this list
/// may grow; a code, once used, never changes meaning.
pub const PROGRAMS: &[Program] = &[
    Program {
        code: "support_allowance",
        name_zh: "扶助金",
        name_en: "Support allowance",
    },
    Program {
        code: "holiday_condolence",
        name_zh: "节日慰问金",
        name_en: "Holiday condolence",
    },
    Program {
        code: "accident_insurance",
        name_zh: "意外伤害保险",
        name_en: "Accident insurance",
    },
    Program {
        code: "nursing_insurance",
        name_zh: "护理险",
        name_en: "Nursing insurance",
    },
    Program {
        code: "housekeeping_service",
        name_zh: "家政服务卡",
        name_en: "Housekeeping card",
    },
    Program {
        code: "smart_bracelet",
        name_zh: "智慧手环",
        name_en: "Smart bracelet",
    },
    Program {
        code: "transit_card",
        name_zh: "爱心公交卡",
        name_en: "Transit card",
    },
    Program {
        code: "micro_wish",
        name_zh: "微心愿",
        name_en: "Micro wish",
    },
];

/// A program code from the catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProgramCode(String);

impl ProgramCode {
    pub fn parse(text: &str) -> Result<ProgramCode, ValueError> {
        if PROGRAMS.iter().any(|p| p.code == text) {
            Ok(ProgramCode(text.to_owned()))
        } else {
            let known: Vec<&str> = PROGRAMS.iter().map(|p| p.code).collect();
            invalid(format!(
                "{text:?} is not a known program ({})",
                known.join(", ")
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The catalog entry; `None` only for a code unknown to this build.
    pub fn program(&self) -> Option<&'static Program> {
        PROGRAMS.iter().find(|p| p.code == self.0)
    }
}

impl fmt::Display for ProgramCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of payment to or on behalf of a household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PaymentKind {
    Disbursement,
    InsurancePurchase,
    CondolencePayment,
    InKindBenefit,
}

impl PaymentKind {
    pub const ALL: [PaymentKind; 4] = [
        PaymentKind::Disbursement,
        PaymentKind::InsurancePurchase,
        PaymentKind::CondolencePayment,
        PaymentKind::InKindBenefit,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PaymentKind::Disbursement => "disbursement",
            PaymentKind::InsurancePurchase => "insurance_purchase",
            PaymentKind::CondolencePayment => "condolence_payment",
            PaymentKind::InKindBenefit => "in_kind_benefit",
        }
    }

    /// In-kind benefits may be recorded at no cash value (a transit pass); everything else
    /// moves at least one fen.
    pub fn min_amount(self) -> Money {
        match self {
            PaymentKind::InKindBenefit => Money::ZERO,
            _ => Money(1),
        }
    }
}

/// A household as enrolled in the scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub household: HouseholdId,
    pub subdistrict: String,
    pub community: String,
    pub category: Category,
    pub members: u32,
    pub enrolled_on: NaiveDate,
}

/// Money allocated to a program from a fund source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub program: ProgramCode,
    pub amount: Money,
    pub date: NaiveDate,
    pub reference: Reference,
    /// The fund source, such as 区财政.
    pub source: String,
}

/// Money paid to, or spent on behalf of, a household.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub kind: PaymentKind,
    pub household: HouseholdId,
    pub program: ProgramCode,
    pub amount: Money,
    pub persons: u32,
    pub date: NaiveDate,
    pub reference: Reference,
    pub memo: String,
    /// The payee's bank account, as the chain keeps it, when the row named one.
    pub account: Option<PayeeAccount>,
}

/// A payee account as the chain keeps it: a keyed hash and the last four digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayeeAccount {
    pub hash: AccountHash,
    pub last4: String,
}

/// A request to reverse an earlier payment. The clerk names the payment by its reference
/// and repeats its household, program and amount, so a typo cannot reverse the wrong one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalRequest {
    pub target: Reference,
    pub household: HouseholdId,
    pub program: Option<ProgramCode>,
    pub amount: Money,
    pub date: NaiveDate,
    pub reason: String,
}

/// What a clerk asks the ledger to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Enroll(Enrollment),
    Allocate(Allocation),
    Pay(Payment),
    Reverse(ReversalRequest),
    SetRate(Rate),
    RecordReconciliation(ReconciliationSummary),
    AddPerson(PersonEntry),
    RecordLifeEvent(LifeEvent),
    RevealPerson(PersonAccess),
    ErasePerson(PersonAccess),
    ResolveFinding(FindingDecision),
    /// Money received against a finding's receivable (追缴).
    RecordRecovery(crate::model::recovery::Recovery),
    ReleaseHold(HoldRelease),
}

/// What a human decided about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The finding is right: the money was wrongly paid.
    Confirmed,
    /// The finding is wrong, or explained.
    Dismissed,
}

impl Decision {
    pub const ALL: [Decision; 2] = [Decision::Confirmed, Decision::Dismissed];

    /// The decision's name in commands, request bodies and JSON.
    pub fn code(self) -> &'static str {
        match self {
            Decision::Confirmed => "confirmed",
            Decision::Dismissed => "dismissed",
        }
    }

    pub fn parse(text: &str) -> Result<Decision, ValueError> {
        Decision::ALL
            .into_iter()
            .find(|d| d.code() == text)
            .ok_or_else(|| {
                ValueError(format!(
                    "{text:?} is not a decision: confirmed or dismissed"
                ))
            })
    }
}

/// A decision about a finding, by `actor` (the record's actor: four eyes are checked
/// against it), told apart from the finding's other decisions by `at_us`, its time in
/// microseconds since the epoch, which its reference holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingDecision {
    /// The finding's id, 16 lowercase hex digits.
    pub finding: String,
    pub decision: Decision,
    pub reason: String,
    /// The finding's household, as the finding names it.
    pub household: HouseholdId,
    /// The program to recover money for; `None` when nothing is recovered.
    pub program: Option<ProgramCode>,
    /// What to recover; zero unless confirmed.
    pub recover: Money,
    /// The day of the decision.
    pub date: NaiveDate,
    pub actor: String,
    pub at_us: i64,
}

/// A household held by the allowance run's payment gate, released for one month by
/// someone other than whoever ran that month (FORMAT.md §9.1, rule 19). The run appends
/// it right before the month's disbursement to the household, in one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRelease {
    pub household: HouseholdId,
    pub month: Month,
    /// Why the doubt does not stop this month's payment: required, at most
    /// [`MAX_TEXT_CHARS`] characters.
    pub reason: String,
    /// The ids of the open findings that held the household (16 lowercase hex digits
    /// each), ascending: at least one, at most [`MAX_RELEASED_FINDINGS`].
    pub findings: Vec<String>,
    /// The day of the decision.
    pub date: NaiveDate,
}

/// A release names at most this many findings. A household is held by its open
/// `duplicate_payment` and `shared_account` findings, a handful at most; the bound keeps
/// the record far below `MAX_RECORD_BYTES` (64 × 24 bytes).
pub const MAX_RELEASED_FINDINGS: usize = 64;

/// Hex digits of a finding id (FORMAT.md §12.1), as a release names it.
pub const FINDING_ID_HEX_CHARS: usize = 16;

/// A person joining a household, as the persons file states it. The identity number and
/// name went to the vault; the command carries the keyed hash only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonEntry {
    pub person: PersonId,
    pub household: HouseholdId,
    pub identity: IdentityHash,
    pub role: Role,
    pub birth_date: NaiveDate,
    pub joined_on: NaiveDate,
    /// The name and number, on their way to the vault; never part of the event. `None`
    /// for an entry read back from the log.
    pub personal: Option<Clear>,
}

/// What changed in a household's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifeEventKind {
    PersonDied,
    PersonLeft,
    HouseholdExited,
    EligibilityEnded,
}

impl LifeEventKind {
    pub const ALL: [LifeEventKind; 4] = [
        LifeEventKind::PersonDied,
        LifeEventKind::PersonLeft,
        LifeEventKind::HouseholdExited,
        LifeEventKind::EligibilityEnded,
    ];

    /// The type name, as the changes file, the CLI and the JSON speak it.
    pub fn code(self) -> &'static str {
        match self {
            LifeEventKind::PersonDied => "person_died",
            LifeEventKind::PersonLeft => "person_left",
            LifeEventKind::HouseholdExited => "household_exited",
            LifeEventKind::EligibilityEnded => "eligibility_ended",
        }
    }

    pub fn parse(text: &str) -> Result<LifeEventKind, ValueError> {
        LifeEventKind::ALL
            .into_iter()
            .find(|k| k.code() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = LifeEventKind::ALL.iter().map(|k| k.code()).collect();
                ValueError(format!("{text:?} is not one of {}", names.join(", ")))
            })
    }

    /// Whether the event concerns a person (else the whole household).
    pub fn is_personal(self) -> bool {
        matches!(self, LifeEventKind::PersonDied | LifeEventKind::PersonLeft)
    }
}

/// A life event as a clerk records it: the source document is its reference. A person's
/// event may leave the household out; the rules fill in the person's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifeEvent {
    pub kind: LifeEventKind,
    pub person: Option<PersonId>,
    pub household: Option<HouseholdId>,
    pub date: NaiveDate,
    pub reference: Reference,
    pub memo: String,
}

/// Someone reveals or erases a person's personal data, and why. A reveal is told apart
/// from every other by its time (microseconds since the epoch), which its reference holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonAccess {
    pub person: PersonId,
    pub reason: String,
    pub at_us: i64,
}

impl Command {
    /// The reference the event will carry: the clerk's, or the derived one.
    pub fn reference(&self) -> Reference {
        match self {
            Command::Enroll(e) => Reference::for_enrollment(&e.household),
            Command::Allocate(a) => a.reference.clone(),
            Command::Pay(p) => p.reference.clone(),
            Command::Reverse(r) => Reference::for_reversal(&r.target),
            Command::SetRate(r) => Reference::for_rate(&r.program, r.category, r.valid_from),
            Command::RecordReconciliation(r) => {
                Reference::for_reconciliation(&r.statement_hash, r.period, &r.report_hash)
            }
            Command::AddPerson(p) => Reference::derived(PERSON_REFERENCE_PREFIX, p.person.as_str()),
            Command::RecordLifeEvent(l) => l.reference.clone(),
            Command::RecordRecovery(r) => r.reference.clone(),
            Command::RevealPerson(a) => Reference::derived(
                REVEAL_REFERENCE_PREFIX,
                &format!("{}:{}", a.person, a.at_us),
            ),
            Command::ErasePerson(a) => {
                Reference::derived(ERASE_REFERENCE_PREFIX, a.person.as_str())
            }
            Command::ResolveFinding(d) => Reference::derived(
                RESOLVE_REFERENCE_PREFIX,
                &format!("{}:{}", d.finding, d.at_us),
            ),
            Command::ReleaseHold(r) => Reference::for_release(r.month, &r.household),
        }
    }
}

/// The period text of a reconciliation that covers every month.
pub const ALL_PERIODS: &str = "all";

/// A calendar month, `YYYY-MM`: the unit of the allowance run and of reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    /// 1 (January) to 12 (December).
    month: u32,
}

impl Month {
    /// Parses `YYYY-MM` strictly (four-digit year, two-digit month).
    pub fn parse(text: &str) -> Result<Month, ValueError> {
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 7
            && bytes[4] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || b.is_ascii_digit());
        let parsed = shape_ok
            .then(|| Some((text[..4].parse().ok()?, text[5..].parse().ok()?)))
            .flatten();
        match parsed {
            Some((year, month)) if (1..=12).contains(&month) && year >= 1970 => {
                Ok(Month { year, month })
            }
            _ => invalid(format!("{text:?} is not a month YYYY-MM")),
        }
    }

    /// The month a date falls in.
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a parsed month has a first day")
    }

    pub fn last_day(self) -> NaiveDate {
        self.next()
            .first_day()
            .pred_opt()
            .expect("the day before a first of the month exists")
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Whether a stored day number falls in this month.
    pub fn contains_days(self, days: i32) -> bool {
        (date_to_days(self.first_day())..=date_to_days(self.last_day())).contains(&days)
    }

    /// `YYYYMM`, for references.
    pub fn compact(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// An amount per member per month that a program pays households of a category, for a
/// period. An open end (`valid_to: None`) lasts until the next rate of the same program
/// and category starts (rates.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub program: ProgramCode,
    pub category: Category,
    pub per_member: Money,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

/// How many differences of each kind a reconciliation found (FORMAT.md §5.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DifferenceCounts {
    pub missing_in_bank: u64,
    pub missing_in_ledger: u64,
    pub amount_mismatch: u64,
    pub duplicate_in_bank: u64,
    pub reversed_but_paid: u64,
}

impl DifferenceCounts {
    pub fn total(&self) -> u64 {
        self.missing_in_bank
            + self.missing_in_ledger
            + self.amount_mismatch
            + self.duplicate_in_bank
            + self.reversed_but_paid
    }
}

/// What a reconciliation found, as the ledger records it: which statement, which period,
/// the counts, and a hash of the full report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationSummary {
    /// blake3 of the statement file's bytes.
    pub statement_hash: [u8; 32],
    /// The month the ledger side was limited to; `None` for every month.
    pub period: Option<Month>,
    /// Data rows in the statement (the header not counted).
    pub bank_rows: u64,
    pub matched_count: u64,
    pub matched: Money,
    pub differences: DifferenceCounts,
    /// blake3 of the report's canonical JSON (FORMAT.md §5.5).
    pub report_hash: [u8; 32],
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Characters at ASCII's edges (controls, whitespace, space, DEL, the first byte
    /// above ASCII, an invisible character), printable ones and the derived prefixes'.
    fn edge_char() -> impl proptest::strategy::Strategy<Value = char> {
        use proptest::prelude::*;
        prop_oneof![
            prop::sample::select(vec![
                '\0', '\t', '\n', '\x0B', '\x0C', '\r', '\x1F', ' ', '!', '~', '\x7F', '\u{80}',
                '\u{A0}', '\u{AD}', '\u{200B}', '\u{3000}', '区', ':', '-',
            ]),
            (0x21u8..=0x7E).prop_map(char::from),
        ]
    }

    /// Text built from edge characters, sometimes behind a derived prefix.
    fn edge_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let prefixes: Vec<&str> = std::iter::once("")
            .chain(RESERVED_REFERENCE_PREFIXES)
            .chain(["enroll", "ALW", "alw-", "Rate:"])
            .collect();
        (
            prop::sample::select(prefixes),
            prop::collection::vec(edge_char(), 0..=MAX_REFERENCE_CHARS + 2),
        )
            .prop_map(|(prefix, chars)| prefix.chars().chain(chars).collect())
    }

    proptest::proptest! {
        #[test]
        fn the_ascii_fast_path_agrees_with_the_full_check(text in edge_text()) {
            proptest::prop_assert_eq!(Reference::check(&text), Reference::check_unicode(&text));
        }

        #[test]
        fn the_check_agrees_with_the_full_check_on_any_text(text in "\\PC{0,70}|.{0,70}") {
            proptest::prop_assert_eq!(Reference::check(&text), Reference::check_unicode(&text));
        }

        /// Dates read digit by digit are chrono's: days that exist or not, any year, and
        /// texts of the shape with signs, spaces or other characters in it.
        #[test]
        fn a_date_read_by_its_digits_is_the_formats_answer(
            text in "[0-9]{4}-[0-1][0-9]-[0-3][0-9]|[0-9 +-]{4}-[0-9 +-]{2}-[0-9 +a]{2}|[0-9-]{8,11}"
        ) {
            proptest::prop_assert_eq!(parse_date(&text), parse_date_by_format(&text));
        }
    }

    #[test]
    fn the_ascii_fast_path_takes_and_refuses_what_the_full_check_does() {
        let cases = [
            ("A", true),
            ("~!", true),
            ("SIM-AL-2021-micro_wish", true),
            (&"x".repeat(MAX_REFERENCE_CHARS), true),
            (&"x".repeat(MAX_REFERENCE_CHARS + 1), false),
            ("", false),
            ("a b", false),
            ("a\x7Fb", false),
            ("a\tb", false),
            ("rate:x", false),
            ("ALW-202101-H1", false),
        ];
        for (text, ok) in cases {
            assert_eq!(Reference::check(text).is_ok(), ok, "{text:?}");
            assert_eq!(
                Reference::check(text),
                Reference::check_unicode(text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn money_parses_exactly_two_decimals() {
        assert_eq!(Money::parse("1234.56"), Ok(Money(123_456)));
        assert_eq!(Money::parse("0.5"), Ok(Money(50)));
        assert_eq!(Money::parse("7"), Ok(Money(700)));
        assert_eq!(Money::parse("0.00"), Ok(Money(0)));
        assert!(Money::parse("1.234").is_err());
        assert!(Money::parse("-1.00").is_err());
        assert!(Money::parse("1e3").is_err());
        assert!(Money::parse("").is_err());
        assert!(Money::parse("12,00").is_err());
    }

    #[test]
    fn money_ceiling_is_exclusive() {
        assert_eq!(
            Money::parse("99999999.99"),
            Ok(Money(AMOUNT_CEILING_FEN - 1))
        );
        let err = Money::parse("100000000.00").unwrap_err();
        assert!(err.0.contains("ceiling"), "{err}");
        assert!(Money::parse("99999999999999999999999").is_err());
    }

    #[test]
    fn one_amount_is_not_negative_and_below_the_ceiling() {
        assert_eq!(Money::amount_from_fen(0), Ok(Money::ZERO));
        assert_eq!(
            Money::amount_from_fen(AMOUNT_CEILING_FEN - 1).map(Money::fen),
            Ok(AMOUNT_CEILING_FEN - 1)
        );
        for fen in [-1, AMOUNT_CEILING_FEN, i64::MAX] {
            let err = Money::amount_from_fen(fen).unwrap_err();
            assert!(
                err.0.contains("is not between 0.00 and the ceiling"),
                "{err}"
            );
        }
        // A sum or a balance is not one amount: it may be negative or beyond the ceiling.
        assert_eq!(Money::from_fen(-50).fen(), -50);
        assert_eq!(Money::from_fen(i64::MAX).fen(), i64::MAX);
    }

    #[test]
    fn seqs_and_hashes_give_back_what_made_them() {
        assert_eq!(Seq::new(0).get(), 0);
        assert_eq!(Seq::new(41).next(), Seq::new(42));
        assert_eq!(Seq::FIRST.get(), 1);
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        let hash = EventHash::from_bytes(bytes);
        assert_eq!((hash.as_bytes(), hash.into_bytes()), (&bytes, bytes));
        assert_eq!(EventHash::GENESIS.into_bytes(), [0; 32]);
    }

    #[test]
    fn money_displays_with_two_decimals() {
        assert_eq!(Money(123_456).to_string(), "1234.56");
        assert_eq!(Money(5).to_string(), "0.05");
        assert_eq!(Money(-50).to_string(), "-0.50");
    }

    #[test]
    fn household_ids_are_short_codes() {
        assert!(HouseholdId::parse("PL-0001_a").is_ok());
        assert!(HouseholdId::parse("").is_err());
        assert!(HouseholdId::parse("a b").is_err());
        assert!(HouseholdId::parse(&"x".repeat(33)).is_err());
    }

    #[test]
    fn references_reserve_derived_prefixes() {
        assert!(Reference::parse("BANK-2018-0001").is_ok());
        assert!(Reference::parse("reversal:X").is_err());
        assert!(Reference::parse("enroll:X").is_err());
        assert!(Reference::parse("has space").is_err());
        assert!(Reference::parse(&"r".repeat(65)).is_err());
        for reserved in [
            "rate:x",
            "ALW-201807-PL-1",
            "reconcile:ab",
            "release:201807:PL-1",
        ] {
            assert!(Reference::parse(reserved).is_err(), "{reserved}");
        }
        assert!(Reference::parse_payment_target("ALW-201807-PL-1").is_ok());
        assert!(Reference::parse_payment_target("ALW-2018 07").is_err());
        assert!(Reference::parse_payment_target("rate:x").is_err());
        assert!(Reference::parse_payment_target("BANK-1").is_ok());
    }

    #[test]
    fn references_refuse_invisible_and_bidi_characters_naming_the_code_point() {
        for (c, name) in [
            ('\u{200B}', "U+200B"),
            ('\u{200F}', "U+200F"),
            ('\u{202A}', "U+202A"),
            ('\u{202E}', "U+202E"),
            ('\u{2060}', "U+2060"),
            ('\u{2064}', "U+2064"),
            ('\u{2066}', "U+2066"),
            ('\u{2069}', "U+2069"),
            ('\u{FEFF}', "U+FEFF"),
            ('\u{00AD}', "U+00AD"),
            ('\u{061C}', "U+061C"),
            ('\u{FE0F}', "U+FE0F"),
            ('\u{E0041}', "U+E0041"),
        ] {
            let text = format!("BANK{c}-1");
            let err = Reference::parse(&text).unwrap_err();
            assert!(err.0.contains(name), "{name}: {err}");
            assert!(
                err.0.contains("invisible or bidirectional"),
                "{name}: {err}"
            );
            assert!(Reference::parse_payment_target(&text).is_err(), "{name}");
        }
        for (text, name) in [
            ("A\u{7}B", "U+0007"),
            ("A\u{7F}B", "U+007F"),
            ("A\u{85}B", "U+0085"),
        ] {
            let err = Reference::parse(text).unwrap_err();
            assert!(err.0.contains(name), "{name}: {err}");
        }
        let err = Reference::parse("A\u{3000}B").unwrap_err();
        assert!(err.0.contains("U+3000, a space"), "{err}");
        // Visible non-ASCII is still a reference: bank ids and Chinese vouchers.
        for ok in ["银行-2018-001", "Ω-1", "a.b_c/d#1", "ALW\u{2011}1"] {
            assert!(Reference::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn checking_a_reference_takes_what_parsing_takes() {
        // U+00AC is the last character below the table's first range, U+00AD its first.
        for text in [
            "SIM-SA-202101-SIM-00001",
            "银行-2021",
            "A\u{AC}B",
            "A\u{AD}B",
            "A\u{200B}B",
            "A B",
            "A\tB",
            "",
            "ALW-202101-H1",
            &"X".repeat(MAX_REFERENCE_CHARS + 1),
        ] {
            let parsed = Reference::parse(text).map(|r| r.as_str().to_owned());
            let checked = Reference::check(text).map(|()| text.to_owned());
            assert_eq!(parsed, checked, "{text:?}");
        }
        assert!(Reference::check("A\u{AC}B").is_ok());
        assert!(Reference::check("A\u{AD}B").is_err());
    }

    #[test]
    fn every_unicode_format_character_is_invisible() {
        // The format characters (Cf) of Unicode 15.1, as the Unicode database lists them.
        let format: &[(u32, u32)] = &[
            (0xAD, 0xAD),
            (0x600, 0x605),
            (0x61C, 0x61C),
            (0x6DD, 0x6DD),
            (0x70F, 0x70F),
            (0x890, 0x891),
            (0x8E2, 0x8E2),
            (0x180E, 0x180E),
            (0x200B, 0x200F),
            (0x202A, 0x202E),
            (0x2060, 0x2064),
            (0x2066, 0x206F),
            (0xFEFF, 0xFEFF),
            (0xFFF9, 0xFFFB),
            (0x110BD, 0x110BD),
            (0x110CD, 0x110CD),
            (0x13430, 0x1343F),
            (0x1BCA0, 0x1BCA3),
            (0x1D173, 0x1D17A),
            (0xE0001, 0xE0001),
            (0xE0020, 0xE007F),
        ];
        for &(first, last) in format {
            for c in (first..=last).filter_map(char::from_u32) {
                assert!(is_invisible(c), "{}", code_point(c));
            }
        }
        for c in ['A', '-', '银', '\u{2011}', '\u{FFFD}'] {
            assert!(!is_invisible(c), "{}", code_point(c));
        }
        let ordered = INVISIBLE_CHARACTERS
            .windows(2)
            .all(|w| w[0].0 <= w[0].1 && w[0].1 < w[1].0);
        assert!(ordered);
    }

    #[test]
    fn derived_references_fit_the_limit() {
        let longest = HouseholdId::parse(&"H".repeat(MAX_HOUSEHOLD_ID_CHARS)).unwrap();
        let month = Month::parse("2018-07").unwrap();
        let alw = Reference::for_allowance(month, &longest);
        assert!(alw.as_str().starts_with("ALW-201807-HHH"));
        assert!(alw.as_str().chars().count() <= MAX_REFERENCE_CHARS);
        let release = Reference::for_release(month, &longest);
        assert!(release.as_str().starts_with("release:201807:HHH"));
        assert!(release.as_str().chars().count() <= MAX_REFERENCE_CHARS);
        let longest_person = PersonId::parse(&"P".repeat(MAX_HOUSEHOLD_ID_CHARS)).unwrap();
        let reveal = Reference::derived(
            REVEAL_REFERENCE_PREFIX,
            &format!("{longest_person}:{}", i64::MAX),
        );
        assert!(reveal.as_str().chars().count() <= MAX_REFERENCE_CHARS);
        let rec = Reference::for_reconciliation(&[0xab; 32], Some(month), &[0x01; 32]);
        assert_eq!(
            rec.as_str(),
            "reconcile:abababababababab:2018-07:0101010101010101"
        );
        let program = ProgramCode::parse("housekeeping_service").unwrap();
        let rate = Reference::for_rate(
            &program,
            Category::Disabled,
            parse_date("2018-07-01").unwrap(),
        );
        assert_eq!(
            rate.as_str(),
            "rate:housekeeping_service:disabled:2018-07-01"
        );
        assert!(rate.as_str().chars().count() <= MAX_REFERENCE_CHARS);
    }

    #[test]
    fn months_parse_strictly_and_know_their_days() {
        let m = Month::parse("2016-02").unwrap();
        assert_eq!(m.first_day(), parse_date("2016-02-01").unwrap());
        assert_eq!(m.last_day(), parse_date("2016-02-29").unwrap());
        assert_eq!(
            Month::parse("2018-12").unwrap().next().to_string(),
            "2019-01"
        );
        assert_eq!(m.compact(), "201602");
        assert!(m.contains_days(date_to_days(parse_date("2016-02-29").unwrap())));
        assert!(!m.contains_days(date_to_days(parse_date("2016-03-01").unwrap())));
        for bad in [
            "2018-13",
            "2018-00",
            "2018-7",
            "18-07",
            "2018/07",
            "+018-07",
            "2018-07-01",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_are_strict_iso() {
        assert!(parse_date("2018-02-28").is_ok());
        assert!(parse_date("2018-02-29").is_err());
        assert!(parse_date("2018-00-10").is_err());
        assert!(parse_date("2018-01-00").is_err());
        // chrono takes a space before a month's digit: read digit by digit, that text
        // still gets chrono's answer.
        assert_eq!(parse_date("2018- 1-05"), parse_date_by_format("2018- 1-05"));
        assert!(parse_date("2018- 1-05").is_ok());
        assert!(parse_date("2018-02-30").is_err());
        assert!(parse_date("2018-2-3").is_err());
        assert!(parse_date("28/02/2018").is_err());
        // A signed year has the shape's length, but is no year of the files.
        for signed in ["-005-01-01", "+999-01-01"] {
            assert!(parse_date(signed).is_err(), "{signed}");
        }
        assert_eq!(parse_date("0000-01-01").unwrap().year(), 0);
        let d = parse_date("2016-02-29").unwrap();
        assert_eq!(days_to_date(date_to_days(d)), Some(d));
        assert_eq!(date_to_days(parse_date("1970-01-02").unwrap()), 1);
    }

    #[test]
    fn days_to_date_agrees_with_adding_days_to_the_epoch() {
        let by_duration = |days: i32| {
            NaiveDate::default().checked_add_signed(chrono::Duration::days(i64::from(days)))
        };
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -1_000_000_000,
            i32::MAX - 1,
            i32::MAX,
        ];
        for days in (-800_000..800_000)
            .step_by(7)
            .chain([-1, 0, 1])
            .chain(edges)
        {
            assert_eq!(days_to_date(days), by_duration(days), "day {days}");
        }
    }

    #[test]
    fn categories_accept_chinese_names() {
        assert_eq!("失独".parse::<Category>(), Ok(Category::Bereaved));
        assert_eq!("disabled".parse::<Category>(), Ok(Category::Disabled));
        assert!("other".parse::<Category>().is_err());
    }

    #[test]
    fn programs_come_from_the_catalog() {
        assert_eq!(PROGRAMS.len(), 8);
        let code = ProgramCode::parse("micro_wish").unwrap();
        assert_eq!(code.program().map(|p| p.name_zh), Some("微心愿"));
        assert!(ProgramCode::parse("lottery").is_err());
    }
}
