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
//! State is kept in ordered maps only, so it compares with `==`, serializes to the same
//! bytes on every machine, and is never read in hash order. What it holds:
//! - per household and person: the facts eligibility needs (grows with persons);
//! - per (program, category): the rates (grows with rates);
//! - **every live payment** (seq, household, program, amount, persons, date, reference,
//!   account): this grows with payments, about 140 bytes each in a snapshot (measured by
//!   `tests/bench_findings.rs`: 142 MB for a million payments). A death or an exit
//!   recorded years after the payments must find them, and so must a duplicate; the
//!   ledger's payment index could answer these lookups instead once this is wired in;
//! - per (account, year): the households paid and their live payment seqs (grows with
//!   payments to accounts);
//! - per (program, year) of the programs other than the support allowance: a count per
//!   distinct amount, for medians: grows with distinct amounts, which a program's fixed
//!   prices keep to a few; and the seqs of its first 20 payments, until it has more;
//! - the findings raised and the (rule, subject, payment) pairs already cited (grow with
//!   findings).

mod decision;
mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::eligibility::{counts, first_day, HouseholdFacts, PersonFacts};
use crate::vocab::{Date, PaymentKind, YearMonth};

pub use decision::{Decision, DecisionError, Resolution};
pub use rules::{OUTLIER_FACTOR, OUTLIER_MIN_GROUP, SHARED_ACCOUNT_MIN_HOUSEHOLDS};

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
    /// A payment (types 2-5, and 16 with its `account`).
    Paid {
        kind: PaymentKind,
        household: String,
        program: String,
        amount_fen: i64,
        persons: u32,
        date: Date,
        reference: String,
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
    pub persons: usize,
    /// Grows with payments: the one part that grows with events.
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
    #[error("negative amount: {amount_fen} fen")]
    NegativeAmount { amount_fen: i64 },
    #[error("no finding has id {finding}")]
    UnknownFinding { finding: String },
    #[error("finding {finding}: {source}")]
    Decision {
        finding: String,
        source: DecisionError,
    },
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Person {
    household: String,
    facts: PersonFacts,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Rate {
    per_member_fen: i64,
    valid_to: Option<Date>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Payment {
    household: String,
    program: String,
    amount_fen: i64,
    persons: u32,
    date: Date,
    reference: String,
    account: Option<Account>,
}

/// A payment's month, amount and seq.
type PaymentKey = (YearMonth, i64, u64);

impl Payment {
    fn is_allowance(&self) -> bool {
        self.program == SUPPORT_ALLOWANCE
    }

    fn key(&self, seq: u64) -> PaymentKey {
        (self.date.year_month(), self.amount_fen, seq)
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
    subject: String,
    household: String,
    person: Option<String>,
    account_last4: Option<String>,
    /// The payment this case is about: a payment is cited once per rule and subject.
    payment: u64,
    evidence: Vec<u64>,
    amount_fen: i64,
    month: YearMonth,
}

/// The findings read model; see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    last_seq: Option<u64>,
    categories: BTreeMap<String, String>,
    /// Program -> category -> valid_from -> rate (nested, so a lookup borrows its keys).
    rates: BTreeMap<String, BTreeMap<String, BTreeMap<Date, Rate>>>,
    persons: BTreeMap<String, Person>,
    /// Person ids of each household, in the order they were added.
    members: BTreeMap<String, Vec<String>>,
    ends: BTreeMap<String, Date>,
    payments: BTreeMap<u64, Payment>,
    /// Per household, its live payments as (month, amount, seq): a duplicate's twins are
    /// one range of it.
    payments_of: BTreeMap<String, BTreeSet<PaymentKey>>,
    accounts: BTreeMap<([u8; 32], i32), BTreeMap<String, BTreeSet<u64>>>,
    /// Program -> year -> group (nested, so a lookup borrows the program).
    groups: BTreeMap<String, BTreeMap<i32, Group>>,
    cited: BTreeSet<(Rule, String, u64)>,
    findings: Vec<Finding>,
}

impl Findings {
    pub fn new() -> Findings {
        Findings::default()
    }

    /// Every finding, in the order raised (by `raised_by`, then rule and subject).
    pub fn all(&self) -> &[Finding] {
        &self.findings
    }

    /// The seq of the last fact folded.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// How much the state holds, by what it grows with (see the module documentation).
    pub fn size(&self) -> FindingsSize {
        FindingsSize {
            persons: self.persons.len(),
            live_payments: self.payments.len(),
            account_years: self.accounts.len(),
            distinct_amounts: self
                .groups
                .values()
                .flat_map(BTreeMap::values)
                .map(|g| g.amounts.len())
                .sum(),
            findings: self.findings.len(),
            cited: self.cited.len(),
        }
    }

    /// [`Findings::apply`], taking the fact: a payment's texts move into the state rather
    /// than being copied (a replay folds a payment per event, and the copies and frees were
    /// a third of the fold's time).
    pub fn apply_owned(&mut self, seq: u64, fact: FindingFact) -> Result<(), FindingsError> {
        if !matches!(fact, FindingFact::Paid { .. }) {
            return self.apply(seq, &fact);
        }
        self.admit(seq, &fact)?;
        if let FindingFact::Paid {
            household,
            program,
            amount_fen,
            persons,
            date,
            reference,
            account,
            ..
        } = fact
        {
            let payment = Payment {
                household,
                program,
                amount_fen,
                persons,
                date,
                reference,
                account,
            };
            self.on_payment(seq, payment);
        }
        Ok(())
    }

    /// Everything that can refuse a fact at `seq`; then `seq` is the last folded.
    fn admit(&mut self, seq: u64, fact: &FindingFact) -> Result<(), FindingsError> {
        if let Some(last) = self.last_seq.filter(|last| seq <= *last) {
            return Err(FindingsError::OutOfOrder { last, found: seq });
        }
        self.check(fact)?;
        self.last_seq = Some(seq);
        Ok(())
    }

    /// Folds one fact; on error the state is unchanged.
    pub fn apply(&mut self, seq: u64, fact: &FindingFact) -> Result<(), FindingsError> {
        self.admit(seq, fact)?;
        match fact {
            FindingFact::HouseholdEnrolled {
                household,
                category,
            } => {
                self.categories.insert(household.clone(), category.clone());
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
            FindingFact::PersonDied { person, date } => self.on_death(seq, person, *date),
            FindingFact::PersonLeft { person, date } => {
                if let Some(p) = self.persons.get_mut(person) {
                    p.facts.left_on = Some(*date);
                }
            }
            FindingFact::HouseholdEnded { household, date } => self.on_end(seq, household, *date),
            FindingFact::Paid {
                household,
                program,
                amount_fen,
                persons,
                date,
                reference,
                account,
                ..
            } => {
                let payment = Payment {
                    household: household.clone(),
                    program: program.clone(),
                    amount_fen: *amount_fen,
                    persons: *persons,
                    date: *date,
                    reference: reference.clone(),
                    account: account.clone(),
                };
                self.on_payment(seq, payment);
            }
            FindingFact::Reversed { target_seq } => self.on_reversal(*target_seq),
            FindingFact::Resolved { finding, .. } => {
                let decision = resolution(seq, fact).expect("a Resolved fact is a decision");
                if let Some(found) = self.findings.iter_mut().find(|f| f.id == *finding) {
                    found.decide(decision);
                }
            }
        }
        Ok(())
    }

    /// Everything that can refuse a fact, before anything changes.
    fn check(&self, fact: &FindingFact) -> Result<(), FindingsError> {
        let valid = |date: &Date| {
            date.is_valid()
                .then_some(())
                .ok_or(FindingsError::InvalidDate { date: *date })
        };
        let known = |person: &String| {
            self.persons
                .contains_key(person)
                .then_some(())
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
                if self.persons.contains_key(person) {
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
                amount_fen, date, ..
            } => {
                non_negative(*amount_fen)?;
                valid(date)
            }
            FindingFact::Reversed { target_seq } => {
                self.payments.contains_key(target_seq).then_some(()).ok_or(
                    FindingsError::UnknownPayment {
                        target_seq: *target_seq,
                    },
                )
            }
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
        let found = self
            .finding(finding)
            .ok_or_else(|| FindingsError::UnknownFinding {
                finding: finding.clone(),
            })?;
        match found
            .seqs
            .iter()
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
    pub fn finding(&self, id: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.id == id)
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
        let entry = Person {
            household: household.to_string(),
            facts,
        };
        self.persons.insert(person.to_string(), entry);
        self.members
            .entry(household.to_string())
            .or_default()
            .push(person.to_string());
    }

    /// The persons of a household in the order added: ids and facts.
    fn household_persons(&self, household: &str) -> (Vec<&str>, Vec<PersonFacts>) {
        self.members
            .get(household)
            .into_iter()
            .flatten()
            .filter_map(|id| self.persons.get(id).map(|p| (id.as_str(), p.facts)))
            .unzip()
    }

    fn household_facts(&self, household: &str) -> HouseholdFacts {
        HouseholdFacts {
            ended_on: self.ends.get(household).copied(),
        }
    }

    /// The rate in effect on the month's first day for the household's category.
    fn rate(&self, program: &str, household: &str, month: YearMonth) -> Option<i64> {
        let category = self.categories.get(household)?;
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

    fn on_payment(&mut self, seq: u64, payment: Payment) {
        let key = payment.key(seq);
        // Looked up before it is inserted: `entry` would copy the id for every payment.
        match self.payments_of.get_mut(&payment.household) {
            Some(keys) => {
                keys.insert(key);
            }
            None => {
                let keys = BTreeSet::from([key]);
                self.payments_of.insert(payment.household.clone(), keys);
            }
        }
        self.payments.insert(seq, payment);
        let mut hits = self.life_hits(seq);
        hits.extend(self.duplicate_hits(seq));
        hits.extend(self.account_hits(seq));
        hits.extend(self.outlier_hits(seq));
        self.raise(seq, hits, &[]);
    }

    /// `paid_after_exit`, `paid_after_death` and `allowance_over_due` on one payment, with
    /// what is known now. An exit explains the whole payment, so it stops the others.
    fn life_hits(&self, seq: u64) -> Vec<Hit> {
        let Some(p) = self.payments.get(&seq) else {
            return Vec::new();
        };
        let month = p.date.year_month();
        let ended_on = self.ends.get(&p.household).copied();
        if rules::paid_after_end(ended_on, p.date, p.is_allowance()) {
            let subject = p.household.clone();
            return vec![hit(
                Rule::PaidAfterExit,
                subject,
                None,
                (seq, p),
                p.amount_fen,
            )];
        }
        let (ids, persons) = self.household_persons(&p.household);
        if persons.is_empty() {
            // Without persons on record the allowance counts members, not eligibility.
            return Vec::new();
        }
        if !p.is_allowance() {
            return rules::all_dead_before(&persons, p.date)
                .map(|i| {
                    let person = ids[i].to_string();
                    hit(
                        Rule::PaidAfterDeath,
                        person.clone(),
                        Some(person),
                        (seq, p),
                        p.amount_fen,
                    )
                })
                .into_iter()
                .collect();
        }
        let household = self.household_facts(&p.household);
        let dead = rules::dead_counted(&persons, &household, month, p.persons);
        let share = p.amount_fen / i64::from(p.persons.max(1));
        let mut hits: Vec<Hit> = dead
            .iter()
            .map(|i| {
                let person = ids[*i].to_string();
                hit(
                    Rule::PaidAfterDeath,
                    person.clone(),
                    Some(person),
                    (seq, p),
                    share,
                )
            })
            .collect();
        let alive_due = persons
            .iter()
            .filter(|f| counts(f, &household, month))
            .count();
        let due_persons = u32::try_from(alive_due + dead.len()).unwrap_or(u32::MAX);
        let rate = self.rate(&p.program, &p.household, month);
        if let Some(excess) = rules::over_due_fen(p.amount_fen, due_persons, rate) {
            let subject = p.household.clone();
            hits.push(hit(Rule::AllowanceOverDue, subject, None, (seq, p), excess));
        }
        hits
    }

    fn duplicate_hits(&self, seq: u64) -> Option<Hit> {
        let p = self.payments.get(&seq)?;
        let month = p.date.year_month();
        let alike = (month, p.amount_fen, 0)..=(month, p.amount_fen, u64::MAX);
        let (_, _, twin) =
            self.payments_of
                .get(&p.household)?
                .range(alike)
                .find(|(_, _, other)| {
                    self.payments.get(other).is_some_and(|o| {
                        *other != seq
                            && o.program == p.program
                            && rules::is_duplicate(&p.reference, &o.reference)
                    })
                })?;
        let mut found = hit(
            Rule::DuplicatePayment,
            p.household.clone(),
            None,
            (seq, p),
            p.amount_fen,
        );
        found.evidence.push(*twin);
        Some(found)
    }

    fn account_hits(&mut self, seq: u64) -> Option<Hit> {
        let p = self.payments.get(&seq)?;
        let account = p.account.clone()?;
        let key = (account.hash, p.date.year);
        let households = self.accounts.entry(key).or_default();
        let newcomer = !households.contains_key(&p.household);
        households
            .entry(p.household.clone())
            .or_default()
            .insert(seq);
        if !newcomer || !rules::shares_account(households.len()) {
            return None;
        }
        let evidence: Vec<u64> = households
            .values()
            .filter_map(|seqs| seqs.first().copied())
            .collect();
        let amount_fen = evidence
            .iter()
            .filter_map(|s| self.payments.get(s))
            .fold(0i64, |sum, e| sum.saturating_add(e.amount_fen));
        let subject = hex(&account.hash);
        let mut found = hit(Rule::SharedAccount, subject, None, (seq, p), amount_fen);
        found.account_last4 = Some(account.last4);
        found.evidence = evidence;
        Some(found)
    }

    /// Outliers among the payments of a program and year other than the allowance: the
    /// new payment once the group is large enough, and the whole group the first time
    /// it is.
    fn outlier_hits(&mut self, seq: u64) -> Vec<Hit> {
        let Some(p) = self.payments.get(&seq).filter(|p| !p.is_allowance()) else {
            return Vec::new();
        };
        if !self.groups.contains_key(&p.program) {
            self.groups.insert(p.program.clone(), BTreeMap::new());
        }
        let group = self
            .groups
            .get_mut(&p.program)
            .map(|years| years.entry(p.date.year).or_default());
        let Some(group) = group else {
            return Vec::new();
        };
        group.insert(seq, p.amount_fen);
        let (len, median) = (group.len, group.median.map(|(m, _)| m));
        let members = (len == OUTLIER_MIN_GROUP && !group.outgrown).then(|| group.members.clone());
        let Some(median) = median.filter(|_| len >= OUTLIER_MIN_GROUP) else {
            return Vec::new();
        };
        let candidates: Vec<u64> = if let Some(members) = members {
            members
        } else if len == OUTLIER_MIN_GROUP {
            // Back to the size after reversals: the members were not kept.
            self.payments
                .iter()
                .filter(|(_, o)| {
                    !o.is_allowance() && o.program == p.program && o.date.year == p.date.year
                })
                .map(|(s, _)| *s)
                .collect()
        } else {
            vec![seq]
        };
        candidates
            .into_iter()
            .filter_map(|s| self.payments.get(&s).map(|o| (s, o)))
            .filter(|(_, o)| rules::is_outlier(o.amount_fen, median, len))
            .map(|(s, o)| {
                hit(
                    Rule::OutlierAmount,
                    o.household.clone(),
                    None,
                    (s, o),
                    o.amount_fen,
                )
            })
            .collect()
    }

    /// A death recorded after payments: the allowance payments of later months that
    /// counted the person, and the other payments dated after the last member died.
    fn on_death(&mut self, seq: u64, person: &str, date: Date) {
        let Some(entry) = self.persons.get_mut(person) else {
            return;
        };
        entry.facts.died_on = Some(date);
        let household = entry.household.clone();
        let hits = self.retro_hits(&household, |h| h.rule == Rule::PaidAfterDeath);
        self.raise(seq, hits, &[seq]);
    }

    /// An end recorded after payments: the payments it makes late.
    fn on_end(&mut self, seq: u64, household: &str, date: Date) {
        let end = self.ends.entry(household.to_string()).or_insert(date);
        *end = (*end).min(date);
        let hits = self.retro_hits(household, |h| h.rule == Rule::PaidAfterExit);
        self.raise(seq, hits, &[seq]);
    }

    /// The rules of `keep` on every live payment of a household, with what is known now.
    fn retro_hits(&self, household: &str, keep: impl Fn(&Hit) -> bool) -> Vec<Hit> {
        self.payments_of
            .get(household)
            .into_iter()
            .flatten()
            .flat_map(|(_, _, s)| self.life_hits(*s))
            .filter(|h| keep(h))
            .collect()
    }

    fn on_reversal(&mut self, target: u64) {
        let Some(p) = self.payments.remove(&target) else {
            return;
        };
        if let Some(seqs) = self.payments_of.get_mut(&p.household) {
            seqs.remove(&p.key(target));
        }
        if let Some(account) = &p.account {
            self.forget_account_payment(account, &p, target);
        }
        if !p.is_allowance() {
            self.forget_group_amount(target, &p);
        }
        for finding in self
            .findings
            .iter_mut()
            .filter(|f| f.seqs.contains(&target))
        {
            finding.reversed_evidence.push(target);
        }
    }

    fn forget_account_payment(&mut self, account: &Account, p: &Payment, target: u64) {
        let key = (account.hash, p.date.year);
        let Some(households) = self.accounts.get_mut(&key) else {
            return;
        };
        if let Some(seqs) = households.get_mut(&p.household) {
            seqs.remove(&target);
            if seqs.is_empty() {
                households.remove(&p.household);
            }
        }
        if households.is_empty() {
            self.accounts.remove(&key);
        }
    }

    fn forget_group_amount(&mut self, seq: u64, p: &Payment) {
        let group = self
            .groups
            .get_mut(&p.program)
            .and_then(|years| years.get_mut(&p.date.year));
        if let Some(group) = group {
            group.remove(seq, p.amount_fen);
        }
    }

    /// Turns the hits not cited before into findings, one per rule and subject, raised by
    /// `seq`, with `extra` (the death or end) in the evidence.
    fn raise(&mut self, seq: u64, hits: Vec<Hit>, extra: &[u64]) {
        let mut grouped: BTreeMap<(Rule, String), Finding> = BTreeMap::new();
        for hit in hits {
            let cite = (hit.rule, hit.subject.clone(), hit.payment);
            if !self.cited.insert(cite) {
                continue;
            }
            let finding = grouped
                .entry((hit.rule, hit.subject.clone()))
                .or_insert_with(|| Finding {
                    id: finding_id(hit.rule, &hit.subject, seq),
                    rule: hit.rule,
                    household: hit.household.clone(),
                    person: hit.person.clone(),
                    account_last4: hit.account_last4.clone(),
                    seqs: extra.to_vec(),
                    // A figure of doubt, not money moved: it saturates rather than fails,
                    // and i64::MAX fen is beyond any district's payments.
                    amount_at_risk_fen: 0,
                    months: Vec::new(),
                    status: Status::Open,
                    raised_by: seq,
                    reversed_evidence: Vec::new(),
                    programs: Vec::new(),
                    resolutions: Vec::new(),
                });
            let programs = hit.evidence.iter().filter_map(|s| self.payments.get(s));
            finding.programs.extend(programs.map(|p| p.program.clone()));
            finding.seqs.extend(hit.evidence);
            finding.amount_at_risk_fen = finding.amount_at_risk_fen.saturating_add(hit.amount_fen);
            finding.months.push(hit.month);
        }
        for mut finding in grouped.into_values() {
            finding.seqs.sort_unstable();
            finding.seqs.dedup();
            finding.months.sort_unstable();
            finding.months.dedup();
            finding.programs.sort_unstable();
            finding.programs.dedup();
            self.findings.push(finding);
        }
    }
}

/// A hit about one payment, with that payment as its evidence.
fn hit(
    rule: Rule,
    subject: String,
    person: Option<String>,
    (seq, payment): (u64, &Payment),
    amount_fen: i64,
) -> Hit {
    Hit {
        rule,
        subject,
        household: payment.household.clone(),
        person,
        account_last4: None,
        payment: seq,
        evidence: vec![seq],
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
