//! The byte form of a stored event (FORMAT.md, "Record").
//!
//! A record is one format-version byte followed by the bincode 1.3.3 encoding of
//! [`RecordV1`] with fixed-width little-endian integers. The chain hash is computed over
//! exactly these bytes, so the encoding must never drift: bincode is pinned to an exact
//! version, the configuration is fixed here in one place, and golden vectors in the tests
//! fail on any change.

use bincode::Options;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::domain::{
    date_to_days, days_to_date, Category, Decision, Enrollment, HouseholdId, LifeEventKind,
    PaymentKind, Seq,
};
use crate::model::person::Role;

mod payments;

/// The first byte of every record. A new layout gets a new number; old records keep theirs.
pub const FORMAT_VERSION: u8 = 1;

/// No valid record comes near this size (every text field is bounded); the limit stops a
/// corrupted length prefix from asking the decoder for gigabytes.
pub const MAX_RECORD_BYTES: u64 = 16 * 1024;

/// Byte offset of the little-endian u64 `seq` inside a record (after the version byte).
pub const SEQ_OFFSET: usize = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record is empty")]
    Empty,
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
    #[error("record does not decode: {0}")]
    Malformed(String),
    #[error("record holds an invalid value: {0}")]
    InvalidValue(String),
}

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(MAX_RECORD_BYTES)
        .reject_trailing_bytes()
}

/// [`options`] without the limit, to write with: bincode enforces a limit on writing by
/// sizing the value first, a second pass over every field of every record an import
/// writes. [`write_bounded`] checks the size once the bytes are written instead.
fn write_options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

/// Appends the bincode of `value` to `out`, which must come to at most [`MAX_RECORD_BYTES`]
/// (a programmer's error if not: what a record holds is bounded far below it, and a body
/// holds no maps), as [`options`]' limit would have refused.
fn write_bounded<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let start = out.len();
    write_options()
        .serialize_into(&mut *out, value)
        .expect("a record or body holds no maps, and a Vec takes every write");
    let written = (out.len() - start) as u64;
    assert!(
        written <= MAX_RECORD_BYTES,
        "records are bounded far below MAX_RECORD_BYTES: {written} bytes written"
    );
}

/// Version 1 of the stored record. Field order is the byte order: never reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordV1 {
    pub seq: u64,
    /// When the event was recorded: microseconds since 1970-01-01T00:00:00Z.
    pub recorded_at_us: i64,
    /// Who recorded it: a person's name or an API token's name.
    pub actor: String,
    /// The external reference, unique in the ledger.
    pub reference: String,
    pub body: Body,
}

/// The event types. Variants are encoded by index (u32): new ones are only ever appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    HouseholdEnrolled(EnrolledV1),
    FundAllocation(AllocationV1),
    Disbursement(PaymentV1),
    InsurancePurchase(PaymentV1),
    CondolencePayment(PaymentV1),
    InKindBenefit(PaymentV1),
    Reversal(ReversalV1),
    RateSet(RateV1),
    Reconciliation(ReconciliationV1),
    PersonAdded(PersonV1),
    PersonDied(LifeEventV1),
    PersonLeft(LifeEventV1),
    HouseholdExited(LifeEventV1),
    EligibilityEnded(LifeEventV1),
    PersonRevealed(PersonAccessV1),
    PersonErased(PersonAccessV1),
    /// A payment of any kind with the payee's bank account (index 16).
    PaymentToAccount(AccountPaymentV1),
    /// A human decision about a finding (index 17, FORMAT.md §1.7).
    FindingResolved(FindingResolvedV1),
    /// Money received against a finding's receivable (追缴; index 18, FORMAT.md §1.8).
    RecoveryReceived(RecoveryV1),
    /// A household held by the allowance run's payment gate, released for a month (index
    /// 19, FORMAT.md §1, §5.1).
    HoldReleased(HoldReleasedV1),
}

/// A decision about a finding (index 17): confirmed or dismissed, why, and for a confirmed
/// overpayment the amount to recover from the household under `program`. Who decided is
/// the record's actor; a later decision supersedes it, nothing is edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingResolvedV1 {
    /// The finding's id: 16 lowercase hex digits (FORMAT.md §12.1).
    pub finding: String,
    /// As [`decision_code`]: 1 confirmed, 2 dismissed.
    pub decision: u8,
    pub reason: String,
    /// The finding's household, copied so that a reader needs no fold to know it.
    pub household: String,
    /// The program of the money to recover; empty when nothing is recovered.
    pub program: String,
    /// 0 unless confirmed with an amount to recover.
    pub recover_fen: i64,
    /// The day of the decision, days since 1970-01-01.
    pub value_date: i32,
}

/// A decision as stored: 1 confirmed, 2 dismissed (0 is never written, so a zeroed field
/// is no decision).
pub fn decision_code(decision: Decision) -> u8 {
    match decision {
        Decision::Confirmed => 1,
        Decision::Dismissed => 2,
    }
}

/// A stored decision code back to the decision.
pub fn stored_decision(code: u8) -> Result<Decision, DecodeError> {
    match code {
        1 => Ok(Decision::Confirmed),
        2 => Ok(Decision::Dismissed),
        other => Err(DecodeError::InvalidValue(format!("decision {other}"))),
    }
}

/// A recovery (`recovery_received`): money a household paid back against the
/// receivable a confirmed finding opened (FORMAT.md §1.8, §9.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryV1 {
    /// The finding whose receivable this reduces: 16 lowercase hex digits.
    pub finding: String,
    pub household: String,
    pub program: String,
    /// More than 0, and at most what is open of the finding's receivable.
    pub amount_fen: i64,
    /// The day the money came in, in days since 1970-01-01.
    pub value_date: i32,
    pub memo: String,
}

/// A held household released for one month (`hold_released`): the allowance run pays it
/// that month despite the open findings named, because `reason`. Who released it is the
/// record's actor, who differs from whoever ran the month (FORMAT.md §9.1, rule 19).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldReleasedV1 {
    pub household: String,
    /// `YYYY-MM`: the month whose allowance is released.
    pub period: String,
    pub reason: String,
    /// The finding ids (16 lowercase hex digits each), ascending.
    pub findings: Vec<String>,
    /// The day of the decision, days since 1970-01-01.
    pub value_date: i32,
}

/// A payment with its payee account (index 16): the kind, the payment fields, and the
/// account as a keyed hash and its last four digits, never the number (FORMAT.md §1.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPaymentV1 {
    /// As [`payment_kind_code`]: 0 disbursement, 1 insurance purchase, 2 condolence
    /// payment, 3 in-kind benefit.
    pub kind: u8,
    pub payment: PaymentV1,
    pub account: AccountV1,
}

/// A payee account as the chain keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountV1 {
    /// BLAKE3 keyed hash of the account number under the ledger's account key.
    pub hash: [u8; 32],
    /// The last four digits, which every output shows.
    pub last4: String,
}

pub fn payment_kind_code(kind: PaymentKind) -> u8 {
    match kind {
        PaymentKind::Disbursement => 0,
        PaymentKind::InsurancePurchase => 1,
        PaymentKind::CondolencePayment => 2,
        PaymentKind::InKindBenefit => 3,
    }
}

/// A stored payment kind code back to the kind.
pub fn stored_payment_kind(code: u8) -> Option<PaymentKind> {
    PaymentKind::ALL
        .into_iter()
        .find(|k| payment_kind_code(*k) == code)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledV1 {
    pub household: String,
    pub subdistrict: String,
    pub community: String,
    /// 0 = bereaved (失独), 1 = disabled (伤残).
    pub category: u8,
    pub members: u32,
    /// Days since 1970-01-01.
    pub enrolled_on: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationV1 {
    pub program: String,
    pub amount_fen: i64,
    pub value_date: i32,
    /// The fund source, such as 区财政.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentV1 {
    pub household: String,
    pub program: String,
    pub amount_fen: i64,
    pub persons: u32,
    pub value_date: i32,
    pub memo: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalV1 {
    pub target_seq: u64,
    pub target_reference: String,
    pub household: String,
    pub program: String,
    pub amount_fen: i64,
    pub persons: u32,
    pub value_date: i32,
    pub reason: String,
}

/// A rate of the rates table (index 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateV1 {
    pub program: String,
    /// As in [`EnrolledV1::category`].
    pub category: u8,
    /// Per member per month.
    pub per_member_fen: i64,
    /// First valid day, days since 1970-01-01.
    pub valid_from: i32,
    /// Last valid day (inclusive); `None` is open: until the next rate of the same program
    /// and category starts.
    pub valid_to: Option<i32>,
}

/// What a reconciliation found (index 8). It ran against the ledger as it was just before
/// this event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationV1 {
    /// blake3 of the statement file's bytes.
    pub statement_hash: [u8; 32],
    /// `YYYY-MM`, or empty when the ledger side was not limited to a month.
    pub period: String,
    pub bank_rows: u64,
    pub matched_count: u64,
    pub matched_fen: i64,
    pub missing_in_bank: u64,
    pub missing_in_ledger: u64,
    pub amount_mismatch: u64,
    pub duplicate_in_bank: u64,
    pub reversed_but_paid: u64,
    /// blake3 of the report's canonical JSON.
    pub report_hash: [u8; 32],
}

/// A person joins a household (index 9). The identity number and the name are not here:
/// the record holds a keyed hash of the number, and the vault holds both, encrypted
/// (FORMAT.md §11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonV1 {
    pub person: String,
    pub household: String,
    /// BLAKE3 keyed hash of the identity number under the ledger's identity key.
    pub identity: [u8; 32],
    /// 0 mother, 1 father, 2 child, 3 other.
    pub role: u8,
    /// Days since 1970-01-01.
    pub birth_date: i32,
    /// Days since 1970-01-01.
    pub joined_on: i32,
}

/// A life event (indices 10 to 13): a person died or left the household, or the
/// household left the scheme or its allowance ended. `person` is empty for the last two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifeEventV1 {
    pub person: String,
    pub household: String,
    pub value_date: i32,
    pub memo: String,
}

/// Someone saw a person's data in clear (index 14), or erased it (index 15). Who is the
/// record's actor, when its recording time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonAccessV1 {
    pub person: String,
    pub reason: String,
}

/// Every event type name ([`Body::type_name`]), as `log --type` and the JSON show it, in
/// variant order (FORMAT.md §1); variant 16, a payment naming an account, has its kind's.
pub const EVENT_TYPES: [&str; 19] = [
    "household_enrolled",
    "fund_allocation",
    "disbursement",
    "insurance_purchase",
    "condolence_payment",
    "in_kind_benefit",
    "reversal",
    "rate_set",
    "reconciliation",
    "person_added",
    "person_died",
    "person_left",
    "household_exited",
    "eligibility_ended",
    "person_revealed",
    "person_erased",
    "finding_resolved",
    "recovery_received",
    "hold_released",
];

/// `text` is one of [`EVENT_TYPES`]; the error lists them.
pub fn check_event_type(text: &str) -> Result<(), String> {
    if EVENT_TYPES.contains(&text) {
        return Ok(());
    }
    Err(format!(
        "{text:?} is not an event type; one of: {}",
        EVENT_TYPES.join(", ")
    ))
}

impl Body {
    /// The event type's name as the CLI, the export and the import speak it.
    /// One of [`EVENT_TYPES`].
    pub fn type_name(&self) -> &'static str {
        match self {
            Body::HouseholdEnrolled(_) => "household_enrolled",
            Body::FundAllocation(_) => "fund_allocation",
            Body::Reversal(_) => "reversal",
            Body::RateSet(_) => "rate_set",
            Body::Reconciliation(_) => "reconciliation",
            Body::PersonAdded(_) => "person_added",
            Body::PersonDied(_) => "person_died",
            Body::PersonLeft(_) => "person_left",
            Body::HouseholdExited(_) => "household_exited",
            Body::EligibilityEnded(_) => "eligibility_ended",
            Body::PersonRevealed(_) => "person_revealed",
            Body::PersonErased(_) => "person_erased",
            Body::FindingResolved(_) => "finding_resolved",
            Body::RecoveryReceived(_) => "recovery_received",
            Body::HoldReleased(_) => "hold_released",
            Body::PaymentToAccount(p) => {
                stored_payment_kind(p.kind).map_or("payment_to_account", PaymentKind::code)
            }
            Body::Disbursement(_) => PaymentKind::Disbursement.code(),
            Body::InsurancePurchase(_) => PaymentKind::InsurancePurchase.code(),
            Body::CondolencePayment(_) => PaymentKind::CondolencePayment.code(),
            Body::InKindBenefit(_) => PaymentKind::InKindBenefit.code(),
        }
    }

    /// The payment kind and fields, for the four payment types.
    pub fn payment(&self) -> Option<(PaymentKind, &PaymentV1)> {
        match self {
            Body::Disbursement(p) => Some((PaymentKind::Disbursement, p)),
            Body::InsurancePurchase(p) => Some((PaymentKind::InsurancePurchase, p)),
            Body::CondolencePayment(p) => Some((PaymentKind::CondolencePayment, p)),
            Body::InKindBenefit(p) => Some((PaymentKind::InKindBenefit, p)),
            Body::PaymentToAccount(p) => stored_payment_kind(p.kind).map(|k| (k, &p.payment)),
            _ => None,
        }
    }

    /// The payee account of a payment that names one.
    pub fn account(&self) -> Option<&AccountV1> {
        match self {
            Body::PaymentToAccount(p) => Some(&p.account),
            _ => None,
        }
    }

    pub fn from_payment(kind: PaymentKind, payment: PaymentV1) -> Body {
        match kind {
            PaymentKind::Disbursement => Body::Disbursement(payment),
            PaymentKind::InsurancePurchase => Body::InsurancePurchase(payment),
            PaymentKind::CondolencePayment => Body::CondolencePayment(payment),
            PaymentKind::InKindBenefit => Body::InKindBenefit(payment),
        }
    }

    /// The household an event concerns, if any.
    pub fn household(&self) -> Option<&str> {
        match self {
            Body::HouseholdEnrolled(e) => Some(&e.household),
            Body::FundAllocation(_)
            | Body::RateSet(_)
            | Body::Reconciliation(_)
            | Body::PersonRevealed(_)
            | Body::PersonErased(_) => None,
            Body::FindingResolved(f) => Some(&f.household),
            Body::Reversal(r) => Some(&r.household),
            Body::RecoveryReceived(r) => Some(&r.household),
            Body::PersonAdded(p) => Some(&p.household),
            Body::HoldReleased(r) => Some(&r.household),
            Body::PersonDied(l)
            | Body::PersonLeft(l)
            | Body::HouseholdExited(l)
            | Body::EligibilityEnded(l) => Some(&l.household),
            other => other.payment().map(|(_, p)| p.household.as_str()),
        }
    }

    /// The program an event concerns, if any.
    pub fn program(&self) -> Option<&str> {
        match self {
            Body::HouseholdEnrolled(_) | Body::Reconciliation(_) => None,
            Body::PersonAdded(_) | Body::PersonRevealed(_) | Body::PersonErased(_) => None,
            // A release is no money of its own: the disbursement beside it is.
            Body::HoldReleased(_) => None,
            Body::FundAllocation(a) => Some(&a.program),
            Body::RateSet(r) => Some(&r.program),
            Body::Reversal(r) => Some(&r.program),
            Body::FindingResolved(f) => Some(f.program.as_str()).filter(|p| !p.is_empty()),
            Body::RecoveryReceived(r) => Some(&r.program),
            other => other.payment().map(|(_, p)| p.program.as_str()),
        }
    }

    /// The value date, in days since 1970-01-01: a rate's first valid day; for a
    /// reconciliation, its period's first day (none when it covered every month).
    pub fn value_date(&self) -> Option<i32> {
        match self {
            Body::HouseholdEnrolled(e) => Some(e.enrolled_on),
            Body::RateSet(r) => Some(r.valid_from),
            Body::Reconciliation(r) => crate::model::domain::Month::parse(&r.period)
                .ok()
                .map(|m| date_to_days(m.first_day())),
            Body::FundAllocation(a) => Some(a.value_date),
            Body::Reversal(r) => Some(r.value_date),
            Body::RecoveryReceived(r) => Some(r.value_date),
            Body::PersonAdded(p) => Some(p.joined_on),
            Body::PersonRevealed(_) | Body::PersonErased(_) => None,
            Body::FindingResolved(f) => Some(f.value_date),
            Body::HoldReleased(r) => Some(r.value_date),
            other => other
                .life_event()
                .map(|(_, l)| l.value_date)
                .or_else(|| other.payment().map(|(_, p)| p.value_date)),
        }
    }

    /// The kind and fields of the four life events.
    pub fn life_event(&self) -> Option<(LifeEventKind, &LifeEventV1)> {
        match self {
            Body::PersonDied(l) => Some((LifeEventKind::PersonDied, l)),
            Body::PersonLeft(l) => Some((LifeEventKind::PersonLeft, l)),
            Body::HouseholdExited(l) => Some((LifeEventKind::HouseholdExited, l)),
            Body::EligibilityEnded(l) => Some((LifeEventKind::EligibilityEnded, l)),
            _ => None,
        }
    }

    pub fn from_life_event(kind: LifeEventKind, event: LifeEventV1) -> Body {
        match kind {
            LifeEventKind::PersonDied => Body::PersonDied(event),
            LifeEventKind::PersonLeft => Body::PersonLeft(event),
            LifeEventKind::HouseholdExited => Body::HouseholdExited(event),
            LifeEventKind::EligibilityEnded => Body::EligibilityEnded(event),
        }
    }

    /// The person an event concerns, if any.
    pub fn person(&self) -> Option<&str> {
        match self {
            Body::PersonAdded(p) => Some(&p.person),
            Body::PersonDied(l) | Body::PersonLeft(l) => Some(&l.person),
            Body::PersonRevealed(a) | Body::PersonErased(a) => Some(&a.person),
            _ => None,
        }
    }

    /// Whether the people registry (`model::people`) folds this event: one of
    /// [`PEOPLE_VARIANTS`].
    pub fn is_people_event(&self) -> bool {
        matches!(self, Body::PersonAdded(_) | Body::PersonErased(_)) || self.life_event().is_some()
    }
}

pub fn role_code(role: Role) -> u8 {
    match role {
        Role::Mother => 0,
        Role::Father => 1,
        Role::Child => 2,
        Role::Other => 3,
    }
}

/// A stored role code back to the role.
pub fn stored_role(code: u8) -> Result<Role, DecodeError> {
    match code {
        0 => Ok(Role::Mother),
        1 => Ok(Role::Father),
        2 => Ok(Role::Child),
        3 => Ok(Role::Other),
        other => Err(DecodeError::InvalidValue(format!("role {other}"))),
    }
}

pub fn category_code(category: Category) -> u8 {
    match category {
        Category::Bereaved => 0,
        Category::Disabled => 1,
    }
}

/// A stored category code back to the category.
pub fn stored_category(code: u8) -> Result<Category, DecodeError> {
    match code {
        0 => Ok(Category::Bereaved),
        1 => Ok(Category::Disabled),
        other => Err(DecodeError::InvalidValue(format!("category {other}"))),
    }
}

impl EnrolledV1 {
    pub fn from_domain(e: &Enrollment) -> EnrolledV1 {
        EnrolledV1 {
            household: e.household.to_string(),
            subdistrict: e.subdistrict.clone(),
            community: e.community.clone(),
            category: category_code(e.category),
            members: e.members,
            enrolled_on: date_to_days(e.enrolled_on),
        }
    }

    /// Back to the domain type; stored records were checked on append, so a failure here
    /// means the record is corrupt.
    pub fn to_domain(&self) -> Result<Enrollment, DecodeError> {
        let category = stored_category(self.category)?;
        Ok(Enrollment {
            household: HouseholdId::parse(&self.household)
                .map_err(|e| DecodeError::InvalidValue(e.0))?,
            subdistrict: self.subdistrict.clone(),
            community: self.community.clone(),
            category,
            members: self.members,
            enrolled_on: stored_date(self.enrolled_on)?,
        })
    }
}

/// A stored day number back to a date.
pub fn stored_date(days: i32) -> Result<NaiveDate, DecodeError> {
    days_to_date(days).ok_or_else(|| DecodeError::InvalidValue(format!("day number {days}")))
}

/// The body variant of `hold_released`, whose releases `verify` checks against the
/// findings (FORMAT.md §9.1, rule 19).
pub const HOLD_RELEASED_VARIANT: u32 = 19;

/// The body variant of a rate (`rate_set`), which the sealed state lists by seq.
pub const RATE_SET_VARIANT: u32 = 7;

/// Body variants the people registry folds (FORMAT.md §1): persons, life events,
/// erasures.
pub const PEOPLE_VARIANTS: [u32; 6] = [9, 10, 11, 12, 13, 15];

/// The body variant of a version-1 record, read from its bytes without decoding it (the
/// strings before it are skipped by their lengths); `None` if the bytes end first.
pub fn body_variant(record: &[u8]) -> Option<u32> {
    let skip_string = |at: usize| -> Option<usize> {
        let len = u64::from_le_bytes(record.get(at..at + 8)?.try_into().ok()?);
        at.checked_add(8)?.checked_add(usize::try_from(len).ok()?)
    };
    // version, seq, recorded_at_us, then actor and reference.
    let after_actor = skip_string(1 + 8 + 8)?;
    let after_reference = skip_string(after_actor)?;
    let bytes = record.get(after_reference..after_reference + 4)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The household a version-1 record's body names (as [`Body::household`]), read from its
/// bytes without decoding it: after the body variant, the fields before the household are
/// skipped by their widths (FORMAT.md §1). `None` for bodies that name no household, and
/// for bytes that end first. `verify` compares it with the household trail index.
pub fn peek_household(record: &[u8]) -> Option<&str> {
    let skip_string = |at: usize| -> Option<usize> {
        let len = u64::from_le_bytes(record.get(at..at + 8)?.try_into().ok()?);
        at.checked_add(8)?.checked_add(usize::try_from(len).ok()?)
    };
    let after_actor = skip_string(1 + 8 + 8)?;
    let body = skip_string(after_actor)?.checked_add(4)?;
    let variant = body_variant(record)?;
    // Where the household string starts, per variant (the field order of §1).
    let at = match variant {
        // household_enrolled, the four payments, hold_released: the first field.
        0 | 2..=5 | 19 => body,
        // reversal: target_seq u64, target_reference.
        6 => skip_string(body + 8)?,
        // person_added, the four life events, recovery_received: person or finding first.
        9..=13 | 18 => skip_string(body)?,
        // payment_to_account: the kind byte, then the payment.
        16 => body + 1,
        // finding_resolved: finding, decision u8, reason.
        17 => skip_string(skip_string(body)? + 1)?,
        _ => return None,
    };
    let end = skip_string(at)?;
    std::str::from_utf8(record.get(at + 8..end)?).ok()
}

/// Encodes a record: the version byte, then bincode.
pub fn encode(record: &RecordV1) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_into(&RecordRef::of(record), &mut bytes);
    bytes
}

/// A record's fields, borrowed. serde writes `&str` as it writes `String`, and `&Body` as
/// `Body`, so this encodes to exactly the bytes of the [`RecordV1`] with the same values;
/// the writer encodes from it without copying the actor, the reference or the body.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RecordRef<'a> {
    pub seq: u64,
    pub recorded_at_us: i64,
    pub actor: &'a str,
    pub reference: &'a str,
    pub body: &'a Body,
}

impl<'a> RecordRef<'a> {
    pub fn of(record: &'a RecordV1) -> RecordRef<'a> {
        RecordRef {
            seq: record.seq,
            recorded_at_us: record.recorded_at_us,
            actor: &record.actor,
            reference: &record.reference,
            body: &record.body,
        }
    }
}

/// Appends the record bytes (version byte, then bincode) to `out`.
pub fn encode_into(record: &RecordRef<'_>, out: &mut Vec<u8>) {
    out.push(FORMAT_VERSION);
    write_bounded(record, out);
}

/// Writes a body's bincode (as inside a record) to `out`, for digests of content that
/// need no bytes of their own.
pub fn write_body(body: &Body, out: &mut Vec<u8>) {
    write_bounded(body, out);
}

/// Decodes stored record bytes: a payment's by [`payments`], which reads the same layout
/// and leaves every record it does not take, and every damaged one, to bincode.
pub fn decode(bytes: &[u8]) -> Result<RecordV1, DecodeError> {
    let (&version, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    if let Some(record) = payments::payment_record(rest) {
        return Ok(record);
    }
    options().deserialize(rest).map_err(|e| malformed(*e))
}

/// bincode reports running out of bytes as an I/O error whose message is empty.
fn malformed(e: bincode::ErrorKind) -> DecodeError {
    match e {
        bincode::ErrorKind::Io(ref io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Malformed("the record ends before its last field".into())
        }
        other => DecodeError::Malformed(other.to_string()),
    }
}

/// Reads the reference field without decoding the rest: after the version byte, seq and
/// time, the actor's and then the reference's u64 length and bytes (FORMAT.md §1).
/// `verify` compares it with the reference index.
pub fn peek_reference(bytes: &[u8]) -> Option<&str> {
    let text_at = |at: usize| -> Option<(&[u8], usize)> {
        let len = bytes.get(at..at + 8)?;
        let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
        let start = at + 8;
        let end = start.checked_add(len)?;
        Some((bytes.get(start..end)?, end))
    };
    let (_actor, after_actor) = text_at(SEQ_OFFSET + 16)?;
    let (reference, _) = text_at(after_actor)?;
    std::str::from_utf8(reference).ok()
}

/// Reads the seq field without decoding the rest (verification checks density cheaply).
pub fn peek_seq(bytes: &[u8]) -> Option<Seq> {
    let raw = bytes.get(SEQ_OFFSET..SEQ_OFFSET + 8)?;
    let raw: [u8; 8] = raw.try_into().ok()?;
    Some(Seq::new(u64::from_le_bytes(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small allocation record.
    fn allocation(seq: u64, actor: &str, reference: &str) -> RecordV1 {
        RecordV1 {
            seq,
            recorded_at_us: 0,
            actor: actor.into(),
            reference: reference.into(),
            body: Body::FundAllocation(AllocationV1 {
                program: "micro_wish".into(),
                amount_fen: 1,
                value_date: 0,
                source: String::new(),
            }),
        }
    }

    /// Written in one pass, a record is the bytes bincode's size-checked serializer wrote,
    /// for every variant; and a record or body past the limit is refused as it was.
    #[test]
    fn records_written_in_one_pass_are_the_checked_bytes() {
        for index in 0u32.. {
            let mut bytes = index.to_le_bytes().to_vec();
            bytes.resize(512, 0);
            let Ok(body) = options().allow_trailing_bytes().deserialize::<Body>(&bytes) else {
                break;
            };
            let record = RecordV1 {
                body,
                ..allocation(7, "clerk", "REF-1")
            };
            let mut checked = vec![FORMAT_VERSION];
            options()
                .serialize_into(&mut checked, &record)
                .expect("within the limit");
            assert_eq!(encode(&record), checked, "variant {index}");
            let mut body_bytes = Vec::new();
            write_body(&record.body, &mut body_bytes);
            assert_eq!(
                body_bytes,
                options().serialize(&record.body).expect("within"),
                "variant {index}"
            );
        }
        let at_limit = |len: usize| {
            let mut record = allocation(1, "a", "r");
            let overhead = encode(&record).len() - 1;
            record.actor = "a".repeat(len - overhead + 1);
            record
        };
        let record = at_limit(MAX_RECORD_BYTES as usize);
        assert_eq!(encode(&record).len() as u64, MAX_RECORD_BYTES + 1);
        assert!(options()
            .serialize(&at_limit(MAX_RECORD_BYTES as usize + 1))
            .is_err());
        let over = std::panic::catch_unwind(|| encode(&at_limit(MAX_RECORD_BYTES as usize + 1)));
        assert!(
            over.is_err(),
            "a record past the limit is a programmer's error"
        );
    }

    /// The variant of a payment naming an account, which has no type name of its own.
    const ACCOUNT_PAYMENT_VARIANT: usize = 16;

    /// `EVENT_TYPES` names every variant, in variant order: the body of each variant index
    /// is decoded from zeros (empty strings, zero numbers) until an index is unknown. A
    /// payment naming an account takes its kind's name (kind 0: a disbursement).
    #[test]
    fn event_types_name_every_variant_once() {
        let mut names = Vec::new();
        for index in 0u32.. {
            let mut bytes = index.to_le_bytes().to_vec();
            bytes.resize(512, 0);
            let Ok(body) = options().allow_trailing_bytes().deserialize::<Body>(&bytes) else {
                break;
            };
            names.push(body.type_name());
        }
        assert_eq!(names[HOLD_RELEASED_VARIANT as usize], "hold_released");
        let account_payment = names.remove(ACCOUNT_PAYMENT_VARIANT);
        assert_eq!(names, EVENT_TYPES);
        assert_eq!(account_payment, "disbursement");
    }

    /// Every string of `value` replaced by a distinct one, so a field read from the wrong
    /// place reads another string.
    fn distinct_strings(value: &mut serde_json::Value, next: &mut u32) {
        match value {
            serde_json::Value::String(text) => {
                *next += 1;
                *text = format!("S{next}");
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(|v| distinct_strings(v, next))
            }
            serde_json::Value::Object(members) => {
                members.values_mut().for_each(|v| distinct_strings(v, next))
            }
            _ => {}
        }
    }

    /// `peek_household` reads what `Body::household` gives for every variant, each body's
    /// strings all distinct; and nothing from bytes cut short.
    #[test]
    fn peek_household_reads_the_household_of_every_variant() {
        let mut seen = 0;
        for index in 0u32.. {
            let mut bytes = index.to_le_bytes().to_vec();
            bytes.resize(512, 0);
            let Ok(body) = options().allow_trailing_bytes().deserialize::<Body>(&bytes) else {
                break;
            };
            let mut json = serde_json::to_value(&body).expect("a body is JSON");
            distinct_strings(&mut json, &mut 0);
            let body: Body = serde_json::from_value(json).expect("the same shape");
            let record = RecordV1 {
                seq: 3,
                recorded_at_us: 5,
                actor: "clerk".into(),
                reference: "REF-1".into(),
                body,
            };
            let encoded = encode(&record);
            assert_eq!(
                peek_household(&encoded),
                record.body.household(),
                "variant {index}"
            );
            if let Some(household) = record.body.household() {
                seen += 1;
                assert!(household.starts_with('S'), "variant {index}: {household}");
                let field = [
                    &(household.len() as u64).to_le_bytes()[..],
                    household.as_bytes(),
                ]
                .concat();
                let end = encoded
                    .windows(field.len())
                    .position(|w| w == field.as_slice())
                    .expect("the household is in the bytes")
                    + field.len();
                assert_eq!(peek_household(&encoded[..end - 1]), None, "variant {index}");
            }
        }
        assert_eq!(seen, 15, "the variants that name a household");
        assert_eq!(peek_household(&[]), None);
    }

    #[test]
    fn decoding_refuses_damaged_records() {
        assert_eq!(decode(&[]), Err(DecodeError::Empty));
        assert_eq!(decode(&[2, 0]), Err(DecodeError::UnknownVersion(2)));
        let record = allocation(1, "a", "r");
        let mut bytes = encode(&record);
        bytes.push(0);
        assert!(matches!(decode(&bytes), Err(DecodeError::Malformed(_))));
        bytes.truncate(bytes.len() - 3);
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::Malformed(
                "the record ends before its last field".into()
            ))
        );
        assert_eq!(peek_seq(&encode(&record)), Some(Seq::new(1)));
    }

    #[test]
    fn peek_reference_reads_the_reference_field() {
        let record = allocation(7, "张三", "BANK-7");
        let bytes = encode(&record);
        assert_eq!(peek_reference(&bytes), Some("BANK-7"));
        // Cut inside the reference, or with a length past the end: nothing.
        assert_eq!(peek_reference(&bytes[..1 + 16 + 8 + 6 + 8 + 3]), None);
        let mut huge = bytes.clone();
        huge[1 + 16] = 0xff;
        assert_eq!(peek_reference(&huge), None);
    }

    /// The byte layouts of the two variants added after `Reversal` (FORMAT.md §1.3).
    #[test]
    fn rate_and_reconciliation_layouts_are_exact() {
        let rate = |valid_to| RecordV1 {
            seq: 9,
            recorded_at_us: 0,
            actor: "a".into(),
            reference: "r".into(),
            body: Body::RateSet(RateV1 {
                program: "micro_wish".into(),
                category: 1,
                per_member_fen: 34_000,
                valid_from: 17_713,
                valid_to,
            }),
        };
        let head = concat!(
            "01",
            "0900000000000000",
            "0000000000000000",
            "0100000000000000",
            "61",
            "0100000000000000",
            "72",
        );
        let rate_fields = concat!(
            "07000000",
            "0a00000000000000",
            "6d6963726f5f77697368",
            "01",
            "d084000000000000",
            "31450000",
        );
        let open = encode(&rate(None));
        assert_eq!(hex::encode(&open), format!("{head}{rate_fields}00"));
        let closed = encode(&rate(Some(17_896)));
        assert_eq!(
            hex::encode(&closed),
            format!("{head}{rate_fields}01e8450000")
        );
        assert_eq!(decode(&closed), Ok(rate(Some(17_896))));

        let reconciliation = RecordV1 {
            body: Body::Reconciliation(ReconciliationV1 {
                statement_hash: [0xaa; 32],
                period: "2018-07".into(),
                bank_rows: 3,
                matched_count: 2,
                matched_fen: 68_000,
                missing_in_bank: 1,
                missing_in_ledger: 0,
                amount_mismatch: 0,
                duplicate_in_bank: 1,
                reversed_but_paid: 0,
                report_hash: [0xbb; 32],
            }),
            ..rate(None)
        };
        let expected = format!(
            "{head}08000000{}{}{}{}",
            "aa".repeat(32),
            "0700000000000000323031382d3037",
            concat!(
                "0300000000000000",
                "0200000000000000",
                "a009010000000000",
                "0100000000000000",
                "0000000000000000",
                "0000000000000000",
                "0100000000000000",
                "0000000000000000",
            ),
            "bb".repeat(32),
        );
        let bytes = encode(&reconciliation);
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(decode(&bytes), Ok(reconciliation));
    }
}
