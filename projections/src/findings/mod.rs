//! Findings (疑点): audit rules raised as the facts arrive, a pure fold.
//!
//! [`Findings::apply`] folds [`FindingFact`]s in seq order and raises the rules of
//! [`Rule`]. A rule raises when its case appears, whichever fact completes it: a payment
//! that counts a dead person is raised by the payment when the death was already known,
//! and by the death when it is recorded later. Each finding cites its evidence seqs, and a
//! payment is cited at most once per rule and subject, so a rebuild, a replay in halves
//! and the maintained fold all raise the same findings with the same ids.
//!
//! A reversal of a payment closes nothing: every finding citing it keeps its status and
//! lists the reversed seq in [`Finding::reversed_evidence`], for a human to decide.
//!
//! State is kept in ordered maps and vectors in the order of the facts, so it compares
//! with `==`, serializes to the same bytes on every machine, and is never read in hash
//! order (the hash maps in it are lookups derived from vectors, never iterated). Names
//! (households, persons, programs, accounts) are interned as small integers in the order
//! first seen (`intern::Interner`). What it holds:
//! - per household and person: the facts eligibility needs (grows with persons);
//! - per (program, category): the rates (grows with rates);
//! - **no payment**: a death or an exit recorded years after the payments must find them,
//!   and so must a duplicate, a shared account and an outlier; the fold asks a
//!   [`PaymentLookup`] for them ([`Findings::apply_with`]: the ledger reads its log through
//!   the household trail index), or keeps them in memory in [`Payments`]
//!   ([`Findings::apply`]: 32 bytes each, for a fold with no log at hand). What grows with
//!   events is a filter in front of the duplicate search, 4 bytes per payment (the top
//!   48 bits of a payment's digest, `filter::DigestFilter`), and the seqs of the reversed
//!   payments;
//! - per account and year: the households paid and how many live payments each, in one
//!   list per account (`state::AccountsPaid`; grows with accounts and years);
//! - per (program, year) of the programs other than the support allowance: a count per
//!   distinct amount, for medians: grows with distinct amounts, which a program's fixed
//!   prices keep to a few; and the seqs of its first 20 payments, until it has more;
//! - the findings raised, kept compact (`kept::KeptFindings`: about 70 bytes each, built
//!   into [`Finding`]s when read), and the (rule, subject, payment) pairs already cited
//!   (grow with findings).

mod decision;
mod filter;
mod kept;
mod rules;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Bound, ControlFlow};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::eligibility::{counts, first_day, HouseholdFacts, PersonFacts};
use crate::vocab::{Date, PaymentKind, YearMonth};

pub use decision::{Decision, DecisionError, Resolution};
pub use rules::{OUTLIER_FACTOR, OUTLIER_MIN_GROUP, SHARED_ACCOUNT_MIN_HOUSEHOLDS};
pub use state::{MAX_PAYMENT_PERSONS, MAX_PROGRAMS, PAYMENT_YEARS};

use crate::intern::{AccountId, HouseholdId, HouseholdNumbers, Id, Interner, PersonId, ProgramId};
use filter::DigestFilter;
use kept::{KeptFindings, Raised};
use state::{AccountsPaid, PackedDate, Payment, NO_ACCOUNT};
pub use state::{LoggedPayment, PaymentLookup, Payments};

/// The program whose payments are monthly and counted by eligibility (FORMAT.md §1).
pub const SUPPORT_ALLOWANCE: &str = "support_allowance";

/// The key-derivation context of finding ids (FORMAT.md, "Finding ids").
pub const FINDING_ID_CONTEXT: &str = "fundtrail 2026-12 finding id v1";

/// Hex digits of a finding id: 64 bits, so that the findings of one ledger (thousands)
/// do not collide by chance, short enough to type in a command.
pub const FINDING_ID_HEX_DIGITS: usize = 16;

/// The audit rules; their ids are pinned (issue 13) and appear in exports and commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rule {
    PaidAfterDeath,
    PaidAfterExit,
    AllowanceOverDue,
    DuplicatePayment,
    SharedAccount,
    OutlierAmount,
}

impl Rule {
    /// Every rule, in declaration order.
    pub const ALL: [Rule; 6] = [
        Rule::PaidAfterDeath,
        Rule::PaidAfterExit,
        Rule::AllowanceOverDue,
        Rule::DuplicatePayment,
        Rule::SharedAccount,
        Rule::OutlierAmount,
    ];

    /// The pinned id of the rule.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::PaidAfterDeath => "paid_after_death",
            Rule::PaidAfterExit => "paid_after_exit",
            Rule::AllowanceOverDue => "allowance_over_due",
            Rule::DuplicatePayment => "duplicate_payment",
            Rule::SharedAccount => "shared_account",
            Rule::OutlierAmount => "outlier_amount",
        }
    }
}

/// Where a finding stands: raised open, then as its latest decision says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Open,
    Confirmed,
    Dismissed,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Open, Status::Confirmed, Status::Dismissed];

    /// The status's name in commands and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Confirmed => "confirmed",
            Status::Dismissed => "dismissed",
        }
    }
}

/// A payee account as the chain keeps it (FORMAT.md §1.6): the keyed hash of its digits
/// and its last four digits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub hash: [u8; 32],
    pub last4: String,
}

/// What the findings fold needs of the ledger's events; the ledger maps each event to at
/// most one of these, and feeds them with strictly increasing seqs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FindingFact {
    /// `household_enrolled`: the category picks the household's rates.
    HouseholdEnrolled { household: String, category: String },
    /// `rate_set`: from `valid_from`, each eligible person of a `category` household is due
    /// `per_member_fen` a month under `program`, to `valid_to` inclusive or the next rate.
    RateSet {
        program: String,
        category: String,
        per_member_fen: i64,
        valid_from: Date,
        valid_to: Option<Date>,
    },
    /// `person_added`; `parent` is the role `mother` or `father`.
    PersonAdded {
        person: String,
        household: String,
        parent: bool,
        birth_date: Date,
        joined_on: Date,
    },
    /// `person_died`.
    PersonDied { person: String, date: Date },
    /// `person_left`.
    PersonLeft { person: String, date: Date },
    /// `household_exited` or `eligibility_ended`: the household's end.
    HouseholdEnded { household: String, date: Date },
    /// A payment (types 2-5, and 16 with its `account`). Its reference is not a fact the
    /// rules need: references are unique in the ledger (FORMAT.md §1.2), so two payments
    /// are always under different references.
    Paid {
        kind: PaymentKind,
        household: String,
        program: String,
        amount_fen: i64,
        persons: u32,
        date: Date,
        account: Option<Account>,
    },
    /// `reversal` of the payment at `target_seq`.
    Reversed { target_seq: u64 },
    /// `finding_resolved`: `actor` decided the finding `finding` of `household`.
    Resolved {
        finding: String,
        household: String,
        decision: Decision,
        reason: String,
        actor: String,
        recover_fen: i64,
        program: String,
        date: Date,
    },
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// [`FINDING_ID_HEX_DIGITS`] lowercase hex digits of [`finding_id`].
    pub id: String,
    pub rule: Rule,
    pub household: String,
    /// The person of `paid_after_death`.
    pub person: Option<String>,
    /// The last four digits of the account of `shared_account`; the caller masks them.
    pub account_last4: Option<String>,
    /// The events that raised it, ascending: the payments, and the death or end that
    /// made them a finding when it came after them.
    pub seqs: Vec<u64>,
    /// Fen paid that the rule doubts.
    pub amount_at_risk_fen: i64,
    /// The months of the payments cited, ascending and distinct.
    pub months: Vec<YearMonth>,
    pub status: Status,
    /// The seq of the event that raised it (part of its id).
    pub raised_by: u64,
    /// Evidence payments reversed after the finding was raised, ascending.
    pub reversed_evidence: Vec<u64>,
    /// The programs the evidence payments were paid from, ascending and distinct.
    pub programs: Vec<String>,
    /// Every decision, oldest first: the last is in effect, the earlier ones it
    /// superseded.
    pub resolutions: Vec<Resolution>,
}

/// The sizes of the findings state, by what each grows with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FindingsSize {
    pub households: usize,
    pub persons: usize,
    /// Payments folded and not reversed: a count (the payments themselves are the log's,
    /// or [`Payments`] for [`Findings::apply`]).
    pub live_payments: usize,
    pub account_years: usize,
    /// Over every program and year other than the support allowance.
    pub distinct_amounts: usize,
    pub findings: usize,
    /// (rule, subject, payment) pairs cited: grows with findings.
    pub cited: usize,
}

/// Why a fact could not be folded; the state is left as it was.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FindingsError {
    #[error("seq {found} does not follow seq {last}: facts must come in increasing seq order")]
    OutOfOrder { last: u64, found: u64 },
    #[error("person {person:?} was never added")]
    UnknownPerson { person: String },
    #[error("person {person:?} is already added")]
    PersonExists { person: String },
    #[error("reversal of seq {target_seq}: no live payment has that seq")]
    UnknownPayment { target_seq: u64 },
    #[error("invalid date {date}")]
    InvalidDate { date: Date },
    #[error(
        "a payment counts {persons} persons, more than the fold keeps ({MAX_PAYMENT_PERSONS})"
    )]
    TooManyPersons { persons: u32 },
    #[error("program {program:?} is one more than the fold tells apart ({MAX_PROGRAMS})")]
    TooManyPrograms { program: String },
    #[error("account {account} was paid to with the last digits {first}, now {found}: one account has one number")]
    AccountDigits {
        account: String,
        first: String,
        found: String,
    },
    #[error("negative amount: {amount_fen} fen")]
    NegativeAmount { amount_fen: i64 },
    #[error("no finding has id {finding}")]
    UnknownFinding { finding: String },
    #[error("finding {finding}: {source}")]
    Decision {
        finding: String,
        source: DecisionError,
    },
    #[error("the payments looked up: {reason}")]
    Lookup { reason: String },
}

/// The id of a finding: the first [`FINDING_ID_HEX_DIGITS`] hex digits of
/// `BLAKE3-derive_key(FINDING_ID_CONTEXT, rule ‖ 0x00 ‖ subject ‖ 0x00 ‖ seq u64 LE)`,
/// where the subject is the person id, the household id, or the account hash in hex.
pub fn finding_id(rule: Rule, subject: &str, raised_by: u64) -> String {
    let mut hasher = blake3::Hasher::new_derive_key(FINDING_ID_CONTEXT);
    hasher.update(rule.as_str().as_bytes());
    hasher.update(&[0]);
    hasher.update(subject.as_bytes());
    hasher.update(&[0]);
    hasher.update(&raised_by.to_le_bytes());
    hasher.finalize().to_hex()[..FINDING_ID_HEX_DIGITS].to_string()
}

/// A person: their household's id and what eligibility needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Person {
    household: HouseholdId,
    facts: PersonFacts,
}

/// A household: what its payments are judged against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Household {
    /// The category of its latest enrollment, which picks its rates.
    category: Option<String>,
    /// The earliest of its exit and its end of eligibility.
    ended_on: Option<Date>,
    /// Its persons, in the order added.
    members: Vec<PersonId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Rate {
    per_member_fen: i64,
    valid_to: Option<Date>,
}

/// Whom a case is about, by id in the table of its kind: the rule says which kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subject {
    Person(PersonId),
    Household(HouseholdId),
    Account(AccountId),
}

impl Subject {
    /// The id's index in its table: with the rule, which says the table, it names the
    /// subject.
    fn index(self) -> u32 {
        let index = match self {
            Subject::Person(id) => id.index(),
            Subject::Household(id) => id.index(),
            Subject::Account(id) => id.index(),
        };
        u32::try_from(index).expect("ids are minted from u32 indexes")
    }

    /// The subject of a finding of `rule` whose subject's index is `index`: a death's
    /// finding is about a person, a shared account's about the account, the others about
    /// a household.
    fn of(rule: Rule, index: u32) -> Subject {
        match rule {
            Rule::PaidAfterDeath => Subject::Person(PersonId::from_index(index)),
            Rule::SharedAccount => Subject::Account(AccountId::from_index(index)),
            _ => Subject::Household(HouseholdId::from_index(index)),
        }
    }
}

/// The id of `name`, interned if new.
fn intern<K, I, Q>(table: &mut Interner<K, I>, name: &Q) -> I
where
    K: crate::intern::NameBytes + Clone + std::borrow::Borrow<Q>,
    Q: crate::intern::NameBytes + ToOwned<Owned = K> + ?Sized,
    I: Id,
{
    match table.get(name) {
        Some(id) => id,
        None => table
            .intern(name.to_owned())
            .expect("fewer than 4 billion names: each costs memory, which runs out first"),
    }
}

/// Amounts of one program and year, as amount -> live payments, with the lower median
/// kept as a cursor: finding it by walking the amounts cost each payment time in the
/// number of distinct amounts (a 1,000,000-row import of varied amounts spent most of its
/// time there); moving the cursor costs a step or two.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Group {
    amounts: BTreeMap<i64, u64>,
    len: u64,
    /// The lower median and how many live payments are below it; `None` when empty.
    /// It depends only on the amounts, so a rebuild and a replay in parts agree.
    median: Option<(i64, u64)>,
    /// The live payments' seqs, ascending, until the group first grows beyond
    /// [`OUTLIER_MIN_GROUP`]: the candidates when it first reaches that size, found
    /// without a scan of every live payment (which, once per program and year, was a third
    /// of a million-payment fold).
    members: Vec<u64>,
    /// Whether the group has grown beyond [`OUTLIER_MIN_GROUP`] (then `members` is empty).
    outgrown: bool,
}

impl Group {
    fn insert(&mut self, seq: u64, amount: i64) {
        *self.amounts.entry(amount).or_default() += 1;
        self.len += 1;
        if !self.outgrown {
            self.members.push(seq);
            if self.len > OUTLIER_MIN_GROUP {
                self.outgrown = true;
                self.members = Vec::new();
            }
        }
        self.median = match self.median {
            None => Some((amount, 0)),
            Some((median, below)) if amount < median => Some((median, below + 1)),
            other => other,
        };
        self.settle();
    }

    /// Forgets one payment of `amount` (a reversal); an amount it does not hold is ignored.
    fn remove(&mut self, seq: u64, amount: i64) {
        let Some(count) = self.amounts.get_mut(&amount) else {
            return;
        };
        self.members.retain(|member| *member != seq);
        *count -= 1;
        if *count == 0 {
            self.amounts.remove(&amount);
        }
        self.len = self.len.saturating_sub(1);
        let Some((median, below)) = self.median else {
            return;
        };
        self.median = if self.len == 0 {
            None
        } else if amount < median {
            Some((median, below - 1))
        } else if self.amounts.contains_key(&median) {
            Some((median, below))
        } else if let Some((&next, _)) = self.amounts.range(median..).next() {
            // The median's last payment left: the cursor moves to a neighbour.
            Some((next, below))
        } else {
            self.amounts
                .range(..median)
                .next_back()
                .map(|(&prev, &n)| (prev, below - n))
        };
        self.settle();
    }

    /// Moves the cursor to the amount at sorted position `(len - 1) / 2`.
    fn settle(&mut self) {
        let Some((mut median, mut below)) = self.median else {
            return;
        };
        let target = self.len.saturating_sub(1) / 2;
        loop {
            let here = self.amounts.get(&median).copied().unwrap_or(0);
            if below > target {
                let Some((&prev, &n)) = self.amounts.range(..median).next_back() else {
                    break;
                };
                (median, below) = (prev, below - n);
            } else if below + here <= target {
                let above = (Bound::Excluded(median), Bound::Unbounded);
                let Some((&next, _)) = self.amounts.range(above).next() else {
                    break;
                };
                (median, below) = (next, below + here);
            } else {
                break;
            }
        }
        self.median = Some((median, below));
        debug_assert_eq!(
            self.median.map(|(m, _)| m),
            rules::lower_median(&self.amounts)
        );
    }
}

/// One case a rule raised, before cases of one rule and subject become a finding.
struct Hit {
    rule: Rule,
    subject: Subject,
    household: HouseholdId,
    /// The account of `shared_account`.
    account: Option<AccountId>,
    /// The payment this case is about: a payment is cited once per rule and subject.
    payment: u64,
    /// The payments it cites, live when it is raised.
    evidence: Vec<Payment>,
    amount_fen: i64,
    month: YearMonth,
}

/// The findings read model; see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    last_seq: Option<u64>,
    /// Program -> category -> valid_from -> rate (nested, so a lookup borrows its keys).
    rates: BTreeMap<String, BTreeMap<String, BTreeMap<Date, Rate>>>,
    household_ids: Interner<String, HouseholdId>,
    /// By household id.
    households: Vec<Household>,
    person_ids: Interner<String, PersonId>,
    /// By person id.
    persons: Vec<Person>,
    program_ids: Interner<String, ProgramId>,
    /// Accounts by their hash.
    account_ids: Interner<[u8; 32], AccountId>,
    /// By account id: the last four digits of the account, as first paid to (a hash is
    /// of the digits, so they are the same on every payment to it: `check` holds to that).
    account_last4: Vec<String>,
    /// The seqs of the payments reversed: a lookup answers with every payment folded.
    reversed: BTreeSet<u64>,
    /// Payments folded and not reversed.
    live_payments: usize,
    /// In front of the duplicate search.
    alike: DigestFilter,
    /// The payments [`Findings::apply`] folded, its lookup; empty in a fold through
    /// [`Findings::apply_with`], whose lookup holds them.
    payments: Payments,
    /// Per account, year and household paid on it: its number of live payments there.
    accounts: AccountsPaid,
    /// Per (program, year) of the programs other than the support allowance.
    groups: BTreeMap<(ProgramId, i32), Group>,
    /// (rule, subject id, payment seq) pairs cited; the subject's kind is the rule's.
    cited: BTreeSet<(Rule, u32, u64)>,
    findings: KeptFindings,
}

impl Findings {
    pub fn new() -> Findings {
        Findings::default()
    }

    /// Every finding, in the order raised (by `raised_by`, then rule and subject), built
    /// from the form the fold keeps.
    pub fn all(&self) -> Vec<Finding> {
        (0..self.findings.len()).map(|i| self.public(i)).collect()
    }

    /// Finding `i` as the public [`Finding`].
    fn public(&self, i: usize) -> Finding {
        let kept = self.findings.kept(i);
        let subject = Subject::of(kept.rule, kept.subject);
        Finding {
            id: self.findings.id(i),
            rule: kept.rule,
            household: self.household_ids.name(kept.household).clone(),
            person: match subject {
                Subject::Person(id) => Some(self.person_ids.name(id).clone()),
                _ => None,
            },
            account_last4: match subject {
                Subject::Account(id) => Some(self.account_last4[id.index()].clone()),
                _ => None,
            },
            seqs: self.findings.seqs(i).to_vec(),
            amount_at_risk_fen: kept.amount_at_risk_fen,
            months: self
                .findings
                .months(i)
                .iter()
                .map(|m| m.year_month())
                .collect(),
            status: self.findings.status(i),
            raised_by: kept.raised_by,
            reversed_evidence: self.findings.reversed(i).to_vec(),
            programs: (self.findings.programs(i))
                .map(|p| self.program_ids.name(p).clone())
                .collect(),
            resolutions: self.findings.resolutions(i).to_vec(),
        }
    }

    /// The seq of the last fact folded.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// How much the state holds, by what it grows with (see the module documentation).
    pub fn size(&self) -> FindingsSize {
        FindingsSize {
            households: self.households.len(),
            persons: self.persons.len(),
            live_payments: self.live_payments,
            account_years: self.accounts.account_years(),
            distinct_amounts: self.groups.values().map(|g| g.amounts.len()).sum(),
            findings: self.findings.len(),
            cited: self.cited.len(),
        }
    }

    /// Everything that can refuse a fact at `seq`; then `seq` is the last folded. Returns
    /// the target of a reversal.
    fn admit(
        &mut self,
        seq: u64,
        fact: &FindingFact,
        lookup: &mut dyn PaymentLookup,
    ) -> Result<Option<Payment>, FindingsError> {
        if let Some(last) = self.last_seq.filter(|last| seq <= *last) {
            return Err(FindingsError::OutOfOrder { last, found: seq });
        }
        let target = self.check(seq, fact, lookup)?;
        self.last_seq = Some(seq);
        Ok(target)
    }

    /// Folds one fact, keeping the payments in memory ([`Payments`]); on error the state
    /// is unchanged. A fold is folded by this or by [`Findings::apply_with`], never both.
    pub fn apply(&mut self, seq: u64, fact: &FindingFact) -> Result<(), FindingsError> {
        let mut payments = std::mem::take(&mut self.payments);
        let applied = self.apply_with(seq, fact, &mut payments);
        if let (Ok(()), Some(paid)) = (&applied, LoggedPayment::of(seq, fact)) {
            payments.push(&paid);
        }
        self.payments = payments;
        applied
    }

    /// Folds one fact, asking `lookup` for the payments folded before it. A refused fact
    /// leaves the state unchanged; a lookup that fails or answers with what was not asked
    /// ([`FindingsError::Lookup`]) may leave it part-way through the fact: the fold must
    /// then be thrown away (the ledger's keeps nothing of it).
    pub fn apply_with(
        &mut self,
        seq: u64,
        fact: &FindingFact,
        lookup: &mut dyn PaymentLookup,
    ) -> Result<(), FindingsError> {
        self.apply_numbered(seq, fact, None, lookup)
    }

    /// As [`Findings::apply_with`], with the number its caller gives the household a
    /// payment names, and the ids of the numbers met before ([`HouseholdNumbers`], one
    /// per `Findings`): the household is then found by its number, not by its name. Only
    /// a payment's number is used.
    pub fn apply_numbered(
        &mut self,
        seq: u64,
        fact: &FindingFact,
        numbered: Option<(u32, &mut HouseholdNumbers)>,
        lookup: &mut dyn PaymentLookup,
    ) -> Result<(), FindingsError> {
        let target = self.admit(seq, fact, lookup)?;
        match fact {
            FindingFact::HouseholdEnrolled {
                household,
                category,
            } => {
                let id = self.household_id(household);
                self.households[id.index()].category = Some(category.clone());
            }
            FindingFact::RateSet {
                program,
                category,
                per_member_fen,
                valid_from,
                valid_to,
            } => {
                let rate = Rate {
                    per_member_fen: *per_member_fen,
                    valid_to: *valid_to,
                };
                self.rates
                    .entry(program.clone())
                    .or_default()
                    .entry(category.clone())
                    .or_default()
                    .insert(*valid_from, rate);
            }
            FindingFact::PersonAdded {
                person,
                household,
                parent,
                birth_date,
                joined_on,
            } => self.add_person(person, household, *parent, *birth_date, *joined_on),
            FindingFact::PersonDied { person, date } => {
                self.on_death(seq, person, *date, lookup)?
            }
            FindingFact::PersonLeft { person, date } => {
                if let Some(id) = self.person_ids.get(person.as_str()) {
                    self.persons[id.index()].facts.left_on = Some(*date);
                }
            }
            FindingFact::HouseholdEnded { household, date } => {
                self.on_end(seq, household, *date, lookup)?
            }
            FindingFact::Paid { .. } => self.on_payment(seq, fact, numbered, lookup)?,
            FindingFact::Reversed { .. } => {
                self.on_reversal(target.expect("admitted: a reversal's target is found"))
            }
            FindingFact::Resolved { finding, .. } => {
                let decision = resolution(seq, fact).expect("a Resolved fact is a decision");
                if let Some(found) = self.findings.position(finding) {
                    self.findings.decide(found, decision);
                }
            }
        }
        Ok(())
    }

    /// Everything that can refuse a fact at `seq`, before anything changes; returns the
    /// target of a reversal.
    fn check(
        &self,
        seq: u64,
        fact: &FindingFact,
        lookup: &mut dyn PaymentLookup,
    ) -> Result<Option<Payment>, FindingsError> {
        if let FindingFact::Reversed { target_seq } = fact {
            return match self.live_payment(lookup, *target_seq, seq)? {
                Some(target) => Ok(Some(target)),
                None => Err(FindingsError::UnknownPayment {
                    target_seq: *target_seq,
                }),
            };
        }
        self.check_other(fact).map(|()| None)
    }

    /// [`Findings::check`] of a fact other than a reversal.
    fn check_other(&self, fact: &FindingFact) -> Result<(), FindingsError> {
        let valid = |date: &Date| {
            date.is_valid()
                .then_some(())
                .ok_or(FindingsError::InvalidDate { date: *date })
        };
        let known = |person: &String| {
            self.person_ids
                .get(person.as_str())
                .map(|_| ())
                .ok_or_else(|| FindingsError::UnknownPerson {
                    person: person.clone(),
                })
        };
        match fact {
            FindingFact::HouseholdEnrolled { .. } => Ok(()),
            FindingFact::RateSet {
                per_member_fen,
                valid_from,
                valid_to,
                ..
            } => {
                non_negative(*per_member_fen)?;
                valid(valid_from)?;
                valid_to.as_ref().map_or(Ok(()), valid)
            }
            FindingFact::PersonAdded {
                person,
                birth_date,
                joined_on,
                ..
            } => {
                if self.person_ids.get(person.as_str()).is_some() {
                    return Err(FindingsError::PersonExists {
                        person: person.clone(),
                    });
                }
                valid(birth_date)?;
                valid(joined_on)
            }
            FindingFact::PersonDied { person, date } | FindingFact::PersonLeft { person, date } => {
                known(person)?;
                valid(date)
            }
            FindingFact::HouseholdEnded { date, .. } => valid(date),
            FindingFact::Paid {
                amount_fen,
                date,
                persons,
                program,
                account,
                ..
            } => {
                non_negative(*amount_fen)?;
                valid(date)?;
                self.check_compact(*date, *persons, program, account.as_ref())
            }
            FindingFact::Reversed { .. } => Ok(()),
            FindingFact::Resolved {
                finding,
                household,
                date,
                ..
            } => {
                valid(date)?;
                let found = self
                    .finding(finding)
                    .ok_or_else(|| FindingsError::UnknownFinding {
                        finding: finding.clone(),
                    })?;
                let decision = resolution(0, fact).expect("a Resolved fact is a decision");
                found
                    .check_decision(&decision, household, &[])
                    .map_err(|source| FindingsError::Decision {
                        finding: finding.clone(),
                        source,
                    })
            }
        }
    }

    /// What a payment must be for its compact record (`state::Payment`) to hold it as it
    /// is, and for its account to be one account.
    fn check_compact(
        &self,
        date: Date,
        persons: u32,
        program: &str,
        account: Option<&Account>,
    ) -> Result<(), FindingsError> {
        if PackedDate::pack(date).is_none() {
            return Err(FindingsError::InvalidDate { date });
        }
        if persons > MAX_PAYMENT_PERSONS {
            return Err(FindingsError::TooManyPersons { persons });
        }
        let programs = self.program_ids.names().len();
        if programs >= MAX_PROGRAMS && self.program_ids.get(program).is_none() {
            return Err(FindingsError::TooManyPrograms {
                program: program.to_string(),
            });
        }
        let Some(account) = account else {
            return Ok(());
        };
        match self.account_ids.get(&account.hash) {
            Some(id) if self.account_last4[id.index()] != account.last4 => {
                Err(FindingsError::AccountDigits {
                    account: hex(&account.hash),
                    first: self.account_last4[id.index()].clone(),
                    found: account.last4.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Four eyes against the evidence, which the fold cannot check alone (its facts carry
    /// no actors): a decision's actor recorded none of its finding's evidence events.
    /// `actor_of` names the actor of an earlier event by seq. Other facts pass.
    pub fn check_evidence_actors(
        &self,
        fact: &FindingFact,
        actor_of: impl Fn(u64) -> Option<String>,
    ) -> Result<(), FindingsError> {
        let FindingFact::Resolved { finding, actor, .. } = fact else {
            return Ok(());
        };
        let found =
            self.findings
                .position(finding)
                .ok_or_else(|| FindingsError::UnknownFinding {
                    finding: finding.clone(),
                })?;
        match (self.findings.seqs(found).iter())
            .find(|seq| actor_of(**seq).as_deref() == Some(actor.as_str()))
        {
            None => Ok(()),
            Some(seq) => Err(FindingsError::Decision {
                finding: finding.clone(),
                source: DecisionError::RecordedEvidence {
                    actor: actor.clone(),
                    seq: *seq,
                },
            }),
        }
    }

    /// The finding with this id.
    pub fn finding(&self, id: &str) -> Option<Finding> {
        self.findings.position(id).map(|i| self.public(i))
    }

    /// The id of a household, interned with an empty record if new.
    fn household_id(&mut self, household: &str) -> HouseholdId {
        let id = intern(&mut self.household_ids, household);
        if self.households.len() <= id.index() {
            self.households.push(Household::default());
        }
        id
    }

    /// [`Findings::household_id`], by the household's number where its caller gave one.
    fn numbered_household_id(
        &mut self,
        household: &str,
        numbered: Option<(u32, &mut HouseholdNumbers)>,
    ) -> HouseholdId {
        let Some((number, numbers)) = numbered else {
            return self.household_id(household);
        };
        if let Some(id) = numbers.id(number, household, &self.household_ids) {
            return id;
        }
        let id = self.household_id(household);
        numbers.remember(number, id);
        id
    }

    fn add_person(
        &mut self,
        person: &str,
        household: &str,
        parent: bool,
        birth_date: Date,
        joined_on: Date,
    ) {
        let facts = PersonFacts {
            parent,
            birth_date,
            joined_on,
            left_on: None,
            died_on: None,
        };
        let household = self.household_id(household);
        let id = intern(&mut self.person_ids, person);
        self.persons.push(Person { household, facts });
        self.households[household.index()].members.push(id);
    }

    /// The persons of a household in the order added: ids and facts.
    fn household_persons(&self, household: HouseholdId) -> (Vec<PersonId>, Vec<PersonFacts>) {
        self.households[household.index()]
            .members
            .iter()
            .map(|id| (*id, self.persons[id.index()].facts))
            .unzip()
    }

    fn household_facts(&self, household: HouseholdId) -> HouseholdFacts {
        HouseholdFacts {
            ended_on: self.households[household.index()].ended_on,
        }
    }

    /// Whether a payment is of the support allowance.
    fn is_allowance(&self, p: &Payment) -> bool {
        self.program_ids.get(SUPPORT_ALLOWANCE) == Some(p.program())
    }

    /// The rate in effect on the month's first day for the household's category.
    fn rate(&self, program: ProgramId, household: HouseholdId, month: YearMonth) -> Option<i64> {
        let category = self.households[household.index()].category.as_ref()?;
        let program = self.program_ids.name(program);
        let first = first_day(month);
        let (_, rate) = self
            .rates
            .get(program)?
            .get(category)?
            .range(..=first)
            .next_back()?;
        rate.valid_to
            .is_none_or(|to| to >= first)
            .then_some(rate.per_member_fen)
    }

    /// The compact record of a payment fact that `check` admitted.
    fn compact(
        &mut self,
        seq: u64,
        fact: &FindingFact,
        numbered: Option<(u32, &mut HouseholdNumbers)>,
    ) -> Option<Payment> {
        let FindingFact::Paid {
            household,
            program,
            amount_fen,
            persons,
            date,
            account,
            ..
        } = fact
        else {
            return None;
        };
        let program = intern(&mut self.program_ids, program.as_str());
        let account = account.as_ref().map_or(NO_ACCOUNT, |a| {
            let id = intern(&mut self.account_ids, &a.hash);
            if self.account_last4.len() <= id.index() {
                self.account_last4.push(a.last4.clone());
            }
            u32::try_from(id.index()).expect("ids are minted from u32 indexes")
        });
        Some(Payment {
            seq,
            amount_fen: *amount_fen,
            household: self.numbered_household_id(household, numbered),
            account,
            date: PackedDate::pack(*date).expect("checked: a year the packed date holds"),
            persons: u16::try_from(*persons).expect("checked: at most MAX_PAYMENT_PERSONS"),
            program: u16::try_from(program.index())
                .expect("checked: at most MAX_PROGRAMS programs"),
        })
    }

    fn on_payment(
        &mut self,
        seq: u64,
        fact: &FindingFact,
        numbered: Option<(u32, &mut HouseholdNumbers)>,
        lookup: &mut dyn PaymentLookup,
    ) -> Result<(), FindingsError> {
        let Some(payment) = self.compact(seq, fact, numbered) else {
            return Ok(());
        };
        self.live_payments += 1;
        let mut hits = self.life_hits(&payment);
        hits.extend(self.duplicate_hits(&payment, lookup)?);
        hits.extend(self.account_hits(&payment, lookup)?);
        hits.extend(self.outlier_hits(&payment, lookup)?);
        self.raise(seq, hits, &[]);
        Ok(())
    }

    /// A payment a lookup answered with, in the fold's ids: every name in it was folded
    /// before, else the lookup answered with what the fold never saw.
    fn known(&self, p: &LoggedPayment) -> Result<Payment, FindingsError> {
        let unknown = |what: &str| FindingsError::Lookup {
            reason: format!("seq {}: {what} was never folded", p.seq),
        };
        let household = self
            .household_ids
            .get(p.household.as_str())
            .ok_or_else(|| unknown(&format!("household {:?}", p.household)))?;
        let program = self
            .program_ids
            .get(p.program.as_str())
            .ok_or_else(|| unknown(&format!("program {:?}", p.program)))?;
        let account = match &p.account {
            None => NO_ACCOUNT,
            Some(hash) => {
                let id = self
                    .account_ids
                    .get(hash)
                    .ok_or_else(|| unknown(&format!("account {}", hex(hash))))?;
                u32::try_from(id.index()).expect("ids are minted from u32 indexes")
            }
        };
        Ok(Payment {
            seq: p.seq,
            amount_fen: p.amount_fen,
            household,
            account,
            date: PackedDate::pack(p.date).ok_or_else(|| unknown("its date"))?,
            persons: u16::try_from(p.persons).map_err(|_| unknown("its persons"))?,
            program: u16::try_from(program.index()).map_err(|_| unknown("its program"))?,
        })
    }

    /// A payment of a lookup's answer in the fold's ids, `None` when it was reversed; it
    /// must come after `last` (the answer's previous one), before `before`, and be `asked`.
    fn live_one(
        &self,
        p: &LoggedPayment,
        last: u64,
        before: u64,
        asked: impl Fn(&LoggedPayment) -> bool,
    ) -> Result<Option<Payment>, FindingsError> {
        if p.seq <= last || p.seq >= before || !asked(p) {
            return Err(FindingsError::Lookup {
                reason: format!(
                    "the payment at seq {} (household {:?}, program {:?}) is not one asked \
                     for before seq {before}, in seq order",
                    p.seq, p.household, p.program
                ),
            });
        }
        match self.reversed.contains(&p.seq) {
            true => Ok(None),
            false => self.known(p).map(Some),
        }
    }

    /// The live payments among a lookup's answer ([`Findings::live_one`] each).
    fn live_of(
        &self,
        found: Vec<LoggedPayment>,
        before: u64,
        asked: impl Fn(&LoggedPayment) -> bool,
    ) -> Result<Vec<Payment>, FindingsError> {
        let mut last = 0;
        let mut live = Vec::with_capacity(found.len());
        for p in &found {
            live.extend(self.live_one(p, last, before, &asked)?);
            last = p.seq;
        }
        Ok(live)
    }

    /// The first of a household's live payments before `before` that `wanted` picks.
    fn first_household_payment(
        &self,
        lookup: &mut dyn PaymentLookup,
        household: HouseholdId,
        before: u64,
        wanted: impl Fn(&Payment) -> bool,
    ) -> Result<Option<Payment>, FindingsError> {
        let name = self.household_ids.name(household);
        let (mut last, mut outcome) = (0, Ok(None));
        lookup
            .visit_household(name, before, &mut |p| {
                let one = self.live_one(&p, last, before, |p| p.household == *name);
                last = p.seq;
                match one {
                    Ok(Some(live)) if wanted(&live) => outcome = Ok(Some(live)),
                    Ok(_) => return ControlFlow::Continue(()),
                    Err(error) => outcome = Err(error),
                }
                ControlFlow::Break(())
            })
            .map_err(|reason| FindingsError::Lookup { reason })?;
        outcome
    }

    /// A household's live payments before `before`, by seq.
    fn household_payments(
        &self,
        lookup: &mut dyn PaymentLookup,
        household: HouseholdId,
        before: u64,
    ) -> Result<Vec<Payment>, FindingsError> {
        let name = self.household_ids.name(household);
        let found = lookup
            .household_payments(name, before)
            .map_err(|reason| FindingsError::Lookup { reason })?;
        self.live_of(found, before, |p| p.household == *name)
    }

    /// The live payment at `seq`, if the event there is one, before `before`.
    fn live_payment(
        &self,
        lookup: &mut dyn PaymentLookup,
        seq: u64,
        before: u64,
    ) -> Result<Option<Payment>, FindingsError> {
        if seq >= before {
            return Ok(None);
        }
        let found = lookup
            .payment(seq, before)
            .map_err(|reason| FindingsError::Lookup { reason })?;
        let live = self.live_of(found.into_iter().collect(), before, |p| p.seq == seq)?;
        Ok(live.into_iter().next())
    }

    /// The live payments of a program dated in `year`, before `before`, by seq.
    fn program_payments(
        &self,
        lookup: &mut dyn PaymentLookup,
        program: ProgramId,
        year: i32,
        before: u64,
    ) -> Result<Vec<Payment>, FindingsError> {
        let name = self.program_ids.name(program);
        let found = lookup
            .program_payments(name, year, before)
            .map_err(|reason| FindingsError::Lookup { reason })?;
        self.live_of(found, before, |p| p.program == *name && p.date.year == year)
    }

    /// `paid_after_exit`, `paid_after_death` and `allowance_over_due` on one payment, with
    /// what is known now. An exit explains the whole payment, so it stops the others.
    fn life_hits(&self, p: &Payment) -> Vec<Hit> {
        let date = p.date.unpack();
        let month = date.year_month();
        let allowance = self.is_allowance(p);
        let household = Subject::Household(p.household);
        let ended_on = self.households[p.household.index()].ended_on;
        if rules::paid_after_end(ended_on, date, allowance) {
            return vec![hit(Rule::PaidAfterExit, household, p, p.amount_fen)];
        }
        let (ids, persons) = self.household_persons(p.household);
        if persons.is_empty() {
            // Without persons on record the allowance counts members, not eligibility.
            return Vec::new();
        }
        if !allowance {
            return rules::all_dead_before(&persons, date)
                .map(|i| {
                    hit(
                        Rule::PaidAfterDeath,
                        Subject::Person(ids[i]),
                        p,
                        p.amount_fen,
                    )
                })
                .into_iter()
                .collect();
        }
        let facts = self.household_facts(p.household);
        let paid_persons = u32::from(p.persons);
        let dead = rules::dead_counted(&persons, &facts, month, paid_persons);
        let share = p.amount_fen / i64::from(paid_persons.max(1));
        let mut hits: Vec<Hit> = dead
            .iter()
            .map(|i| hit(Rule::PaidAfterDeath, Subject::Person(ids[*i]), p, share))
            .collect();
        let alive_due = persons.iter().filter(|f| counts(f, &facts, month)).count();
        let due_persons = u32::try_from(alive_due + dead.len()).unwrap_or(u32::MAX);
        let rate = self.rate(p.program(), p.household, month);
        if let Some(excess) = rules::over_due_fen(p.amount_fen, due_persons, rate) {
            hits.push(hit(Rule::AllowanceOverDue, household, p, excess));
        }
        hits
    }

    /// The first live payment alike `p` (household, program, month, amount), behind the
    /// digest filter: a digest never seen means none.
    fn duplicate_hits(
        &mut self,
        p: &Payment,
        lookup: &mut dyn PaymentLookup,
    ) -> Result<Option<Hit>, FindingsError> {
        if self.alike.insert(p.alike_digest()) {
            return Ok(None);
        }
        let twin = self.first_household_payment(lookup, p.household, p.seq, |o| o.is_alike(p))?;
        let Some(twin) = twin else {
            return Ok(None);
        };
        let mut found = hit(
            Rule::DuplicatePayment,
            Subject::Household(p.household),
            p,
            p.amount_fen,
        );
        found.evidence.push(twin);
        Ok(Some(found))
    }

    fn account_hits(
        &mut self,
        p: &Payment,
        lookup: &mut dyn PaymentLookup,
    ) -> Result<Option<Hit>, FindingsError> {
        let Some(account) = p.account() else {
            return Ok(None);
        };
        let year = p.date.year();
        let Some(households) = self.accounts.add(account, year, p.household) else {
            return Ok(None);
        };
        if !rules::shares_account(households.len()) {
            return Ok(None);
        }
        // Each household's first live payment on the account that year: `p` for its own
        // household, which had none there before it.
        let mut evidence = Vec::with_capacity(households.len());
        for household in households {
            if household == p.household {
                evidence.push(*p);
                continue;
            }
            let first = self.first_household_payment(lookup, household, p.seq, |o| {
                o.account() == Some(account) && o.date.year() == year
            })?;
            evidence.extend(first);
        }
        let amount_fen = evidence
            .iter()
            .fold(0i64, |sum, e| sum.saturating_add(e.amount_fen));
        let mut found = hit(
            Rule::SharedAccount,
            Subject::Account(account),
            p,
            amount_fen,
        );
        found.account = Some(account);
        found.evidence = evidence;
        Ok(Some(found))
    }

    /// Outliers among the payments of a program and year other than the allowance: the
    /// new payment once the group is large enough, and the whole group the first time
    /// it is.
    fn outlier_hits(
        &mut self,
        p: &Payment,
        lookup: &mut dyn PaymentLookup,
    ) -> Result<Vec<Hit>, FindingsError> {
        if self.is_allowance(p) {
            return Ok(Vec::new());
        }
        let year = p.date.year();
        let group = self.groups.entry((p.program(), year)).or_default();
        group.insert(p.seq, p.amount_fen);
        let (len, median) = (group.len, group.median.map(|(m, _)| m));
        let members = (len == OUTLIER_MIN_GROUP && !group.outgrown).then(|| group.members.clone());
        let Some(median) = median.filter(|_| len >= OUTLIER_MIN_GROUP) else {
            return Ok(Vec::new());
        };
        let candidates: Vec<Payment> = if let Some(members) = members {
            let mut candidates = Vec::with_capacity(members.len());
            for seq in members {
                match seq == p.seq {
                    true => candidates.push(*p),
                    false => candidates.extend(self.live_payment(lookup, seq, p.seq)?),
                }
            }
            candidates
        } else if len == OUTLIER_MIN_GROUP {
            // Back to the size after reversals: the members were not kept.
            let mut candidates = self.program_payments(lookup, p.program(), year, p.seq)?;
            candidates.push(*p);
            candidates
        } else {
            vec![*p]
        };
        Ok(candidates
            .iter()
            .filter(|o| rules::is_outlier(o.amount_fen, median, len))
            .map(|o| {
                let household = Subject::Household(o.household);
                hit(Rule::OutlierAmount, household, o, o.amount_fen)
            })
            .collect())
    }

    /// A death recorded after payments: the allowance payments of later months that
    /// counted the person, and the other payments dated after the last member died.
    fn on_death(
        &mut self,
        seq: u64,
        person: &str,
        date: Date,
        lookup: &mut dyn PaymentLookup,
    ) -> Result<(), FindingsError> {
        let Some(id) = self.person_ids.get(person) else {
            return Ok(());
        };
        let household = self.persons[id.index()].household;
        let paid = self.household_payments(lookup, household, seq)?;
        self.persons[id.index()].facts.died_on = Some(date);
        let hits = self.retro_hits(&paid, |h| h.rule == Rule::PaidAfterDeath);
        self.raise(seq, hits, &[seq]);
        Ok(())
    }

    /// An end recorded after payments: the payments it makes late.
    fn on_end(
        &mut self,
        seq: u64,
        household: &str,
        date: Date,
        lookup: &mut dyn PaymentLookup,
    ) -> Result<(), FindingsError> {
        let paid = match self.household_ids.get(household) {
            Some(id) => self.household_payments(lookup, id, seq)?,
            None => Vec::new(),
        };
        let id = self.household_id(household);
        let end = &mut self.households[id.index()].ended_on;
        *end = Some(end.map_or(date, |e| e.min(date)));
        let hits = self.retro_hits(&paid, |h| h.rule == Rule::PaidAfterExit);
        self.raise(seq, hits, &[seq]);
        Ok(())
    }

    /// The rules of `keep` on a household's live payments, with what is known now.
    fn retro_hits(&self, paid: &[Payment], keep: impl Fn(&Hit) -> bool) -> Vec<Hit> {
        paid.iter()
            .flat_map(|p| self.life_hits(p))
            .filter(|h| keep(h))
            .collect()
    }

    /// Marks `p`, a live payment ([`Findings::check`] found it), reversed.
    fn on_reversal(&mut self, p: Payment) {
        let target = p.seq;
        self.reversed.insert(target);
        self.live_payments -= 1;
        if let Some(account) = p.account() {
            self.forget_account_payment(account, &p);
        }
        if !self.is_allowance(&p) {
            self.forget_group_amount(&p);
        }
        self.findings.reverse(target);
    }

    fn forget_account_payment(&mut self, account: AccountId, p: &Payment) {
        self.accounts.remove(account, p.date.year(), p.household);
    }

    fn forget_group_amount(&mut self, p: &Payment) {
        if let Some(group) = self.groups.get_mut(&(p.program(), p.date.year())) {
            group.remove(p.seq, p.amount_fen);
        }
    }

    /// A subject's text: the person id, the household id or the account hash in hex.
    fn subject_text(&self, subject: Subject) -> String {
        match subject {
            Subject::Person(id) => self.person_ids.name(id).clone(),
            Subject::Household(id) => self.household_ids.name(id).clone(),
            Subject::Account(id) => hex(self.account_ids.name(id)),
        }
    }

    /// Turns the hits not cited before into findings, one per rule and subject, raised by
    /// `seq`, with `extra` (the death or end) in the evidence; in the order of their rules
    /// and subjects' texts.
    fn raise(&mut self, seq: u64, hits: Vec<Hit>, extra: &[u64]) {
        let mut grouped: BTreeMap<(Rule, String), Raised> = BTreeMap::new();
        for hit in hits {
            debug_assert_eq!(Subject::of(hit.rule, hit.subject.index()), hit.subject);
            if !self
                .cited
                .insert((hit.rule, hit.subject.index(), hit.payment))
            {
                continue;
            }
            let subject = self.subject_text(hit.subject);
            let raised =
                grouped
                    .entry((hit.rule, subject))
                    .or_insert_with_key(|(rule, subject)| Raised {
                        id: kept::id_number(&finding_id(*rule, subject, seq)),
                        rule: *rule,
                        household: hit.household,
                        subject: hit.subject.index(),
                        raised_by: seq,
                        // A figure of doubt, not money moved: it saturates rather than fails,
                        // and i64::MAX fen is beyond any district's payments.
                        amount_at_risk_fen: 0,
                        seqs: extra.to_vec(),
                        months: Vec::new(),
                        programs: Vec::new(),
                    });
            raised
                .programs
                .extend(hit.evidence.iter().map(|p| p.program()));
            raised.seqs.extend(hit.evidence.iter().map(|p| p.seq));
            raised.amount_at_risk_fen = raised.amount_at_risk_fen.saturating_add(hit.amount_fen);
            raised.months.push(month_start(hit.month));
        }
        for mut raised in grouped.into_values() {
            raised.seqs.sort_unstable();
            raised.seqs.dedup();
            raised.months.sort_unstable();
            raised.months.dedup();
            let names = &self.program_ids;
            raised
                .programs
                .sort_unstable_by(|a, b| names.name(*a).cmp(names.name(*b)));
            raised.programs.dedup();
            self.findings.push(raised);
        }
    }
}

/// The month of a payment as the first day of it, packed: a payment's year is one a
/// packed date holds (`check_compact`).
fn month_start(month: YearMonth) -> PackedDate {
    let first = first_day(month);
    PackedDate::pack(first).expect("a payment's month: its year is in PAYMENT_YEARS")
}

/// A hit about one payment, with that payment as its evidence.
fn hit(rule: Rule, subject: Subject, payment: &Payment, amount_fen: i64) -> Hit {
    Hit {
        rule,
        subject,
        household: payment.household,
        account: None,
        payment: payment.seq,
        evidence: vec![*payment],
        amount_fen,
        month: payment.date.year_month(),
    }
}

/// The decision a `Resolved` fact records, as the event at `seq`.
fn resolution(seq: u64, fact: &FindingFact) -> Option<Resolution> {
    let FindingFact::Resolved {
        decision,
        reason,
        actor,
        recover_fen,
        program,
        date,
        ..
    } = fact
    else {
        return None;
    };
    Some(Resolution {
        seq,
        decision: *decision,
        reason: reason.clone(),
        actor: actor.clone(),
        recover_fen: *recover_fen,
        program: program.clone(),
        date: *date,
    })
}

fn non_negative(amount_fen: i64) -> Result<(), FindingsError> {
    if amount_fen < 0 {
        return Err(FindingsError::NegativeAmount { amount_fen });
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
