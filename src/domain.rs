//! The vocabulary of the ledger: newtypes for the values that carry meaning, the program
//! catalog, the commands a clerk issues and the event bodies the ledger stores.
//!
//! Everything here is pure: parsing and checking single values, no state and no IO.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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

/// Why a single value was refused. The import layer adds the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn invalid<T>(reason: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(reason.into()))
}

/// Position of an event in the log: dense, starting at 1, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seq(pub u64);

impl Seq {
    pub const FIRST: Seq = Seq(1);

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
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// The `prev_hash` of the first event.
    pub const GENESIS: EventHash = EventHash([0; 32]);

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
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn fen(self) -> i64 {
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
        let len = text.chars().count();
        if !(1..=MAX_REFERENCE_CHARS).contains(&len) {
            return invalid(format!("must be 1 to {MAX_REFERENCE_CHARS} characters"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid(format!("{text:?} contains spaces or control characters"));
        }
        for prefix in [ENROLL_REFERENCE_PREFIX, REVERSAL_REFERENCE_PREFIX] {
            if text.starts_with(prefix) {
                return invalid(format!("{text:?}: the prefix {prefix:?} is reserved"));
            }
        }
        Ok(Reference(text.to_owned()))
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

/// Checks a bounded free-text field (memo, reason, actor, place names).
pub fn check_text(text: &str, required: bool) -> Result<String, ValueError> {
    if required && text.trim().is_empty() {
        return invalid("is empty");
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return invalid(format!("is longer than {MAX_TEXT_CHARS} characters"));
    }
    if text.chars().any(|c| c.is_control()) {
        return invalid("contains control characters");
    }
    Ok(text.to_owned())
}

/// Parses a `YYYY-MM-DD` value date.
pub fn parse_date(text: &str) -> Result<NaiveDate, ValueError> {
    let shape_ok = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) if shape_ok => Ok(date),
        _ => invalid(format!("{text:?} is not a date YYYY-MM-DD")),
    }
}

/// Days since 1970-01-01, the stored form of a date (FORMAT.md).
pub fn date_to_days(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
}

pub fn days_to_date(days: i32) -> Option<NaiveDate> {
    NaiveDate::default().checked_add_signed(chrono::Duration::days(i64::from(days)))
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
}

impl Command {
    /// The reference the event will carry: the clerk's, or the derived one.
    pub fn reference(&self) -> Reference {
        match self {
            Command::Enroll(e) => Reference::for_enrollment(&e.household),
            Command::Allocate(a) => a.reference.clone(),
            Command::Pay(p) => p.reference.clone(),
            Command::Reverse(r) => Reference::for_reversal(&r.target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn dates_are_strict_iso() {
        assert!(parse_date("2018-02-28").is_ok());
        assert!(parse_date("2018-02-30").is_err());
        assert!(parse_date("2018-2-3").is_err());
        assert!(parse_date("28/02/2018").is_err());
        let d = parse_date("2016-02-29").unwrap();
        assert_eq!(days_to_date(date_to_days(d)), Some(d));
        assert_eq!(date_to_days(parse_date("1970-01-02").unwrap()), 1);
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
