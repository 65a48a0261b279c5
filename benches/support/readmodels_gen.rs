//! A synthetic district ledger for the read-model benchmarks and the memory measurement
//! (`benches/readmodels.rs`, `examples/readmodels_ledger.rs`).
//!
//! The shape of the Panlong report (357 households in 103 communities of 12
//! sub-districts), the 8 catalog programs, 48 months of payments (2015-2018) and one
//! reversal of a recent payment every [`REVERSAL_EVERY`] payments. Every event is
//! produced twice, as the clerk's [`Command`] (for `Ledger::append`) and as the read-side
//! [`Fact`] the ledger will map it to (for folding into `ReadModels` without a ledger),
//! from one fixed seed, so both paths see the same events.

use chrono::{Datelike, NaiveDate};
use fundtrail::ledger::{AppendContext, Ledger, LedgerError};
use fundtrail::model::domain::{
    Allocation, Category, Command, Enrollment, HouseholdId, Money, Payment, PaymentKind,
    ProgramCode, Reference, ReversalRequest, PROGRAMS,
};
use fundtrail_projections as proj;

pub const HOUSEHOLDS: usize = 357;
pub const COMMUNITIES: usize = 103;
pub const SUBDISTRICTS: usize = 12;
pub const MONTHS: usize = 48;
pub const FIRST_YEAR: i32 = 2015;
/// One payment in this many is followed by the reversal of a recent payment.
pub const REVERSAL_EVERY: u64 = 50;
/// Reversals pick their target among this many recent payments.
const RECENT: usize = 64;
/// Allocations per program, each just under the amount ceiling: enough for 10 million
/// payments of at most ¥1,000.
const ALLOCATIONS_PER_PROGRAM: usize = 2;
const ALLOCATION_FEN: i64 = 9_999_999_900;
/// Payments are 1 fen to ¥1,000.00.
const MAX_PAYMENT_FEN: usize = 100_000;
/// Commands per `Ledger::append`: one group commit each.
pub const BATCH: usize = 10_000;

const SEED: u64 = 0x7265_6164_6d6f_6465;
const ACTOR: &str = "bench";

/// A fixed-seed linear congruential generator: reproducible, no dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let n = u64::try_from(n).expect("bounds are small");
        usize::try_from((self.0 >> 33) % n).expect("below a usize bound")
    }
}

/// A payment that may still be reversed.
#[derive(Clone)]
struct Live {
    seq: u64,
    payment: Payment,
}

/// The events of the synthetic ledger, in seq order, as (command, fact).
pub struct Synthetic {
    rng: Lcg,
    next_seq: u64,
    payments: u64,
    /// Set after every [`REVERSAL_EVERY`]th payment: the next event is a reversal.
    reversal_due: bool,
    recent: Vec<Option<Live>>,
}

impl Synthetic {
    pub fn new() -> Synthetic {
        Synthetic {
            rng: Lcg(SEED),
            next_seq: 1,
            payments: 0,
            reversal_due: false,
            recent: vec![None; RECENT],
        }
    }
}

impl Default for Synthetic {
    fn default() -> Self {
        Synthetic::new()
    }
}

fn household_id(index: usize) -> HouseholdId {
    HouseholdId::parse(&format!("H{index:04}")).expect("a valid id")
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a valid day")
}

fn proj_date(d: NaiveDate) -> proj::Date {
    let month = u8::try_from(d.month()).expect("1 to 12");
    let day = u8::try_from(d.day()).expect("1 to 31");
    proj::Date::new(d.year(), month, day).expect("a valid day")
}

fn enrolled_on() -> NaiveDate {
    date(FIRST_YEAR - 1, 12, 1)
}

impl Synthetic {
    fn enroll(&mut self, index: usize) -> (Command, proj::Fact) {
        let community = index % COMMUNITIES;
        let enrollment = Enrollment {
            household: household_id(index),
            subdistrict: format!("S{:02}", community % SUBDISTRICTS),
            community: format!("C{community:03}"),
            category: Category::Bereaved,
            members: 2,
            enrolled_on: enrolled_on(),
        };
        let fact = proj::Fact::HouseholdEnrolled {
            household: enrollment.household.to_string(),
            subdistrict: enrollment.subdistrict.clone(),
            community: enrollment.community.clone(),
            category: "bereaved".into(),
            members: enrollment.members,
            enrolled_on: proj_date(enrollment.enrolled_on),
        };
        (Command::Enroll(enrollment), fact)
    }

    fn allocate(&mut self, index: usize) -> (Command, proj::Fact) {
        let program = PROGRAMS[index % PROGRAMS.len()].code;
        let allocation = Allocation {
            program: ProgramCode::parse(program).expect("a catalog code"),
            amount: Money::from_fen(ALLOCATION_FEN),
            date: enrolled_on(),
            reference: Reference::parse(&format!("ALLOC-{index}")).expect("a valid reference"),
            source: "district budget".into(),
        };
        let fact = proj::Fact::Allocated {
            program: program.into(),
            amount_fen: ALLOCATION_FEN,
            date: proj_date(allocation.date),
            source: allocation.source.clone(),
        };
        (Command::Allocate(allocation), fact)
    }

    fn pay(&mut self) -> (Command, proj::Fact) {
        let month = self.rng.below(MONTHS);
        let year = FIRST_YEAR + i32::try_from(month / 12).expect("small");
        let month = u32::try_from(month % 12 + 1).expect("small");
        let day = u32::try_from(self.rng.below(28) + 1).expect("small");
        let program = PROGRAMS[self.rng.below(PROGRAMS.len())].code;
        let amount = i64::try_from(self.rng.below(MAX_PAYMENT_FEN) + 1).expect("small");
        let payment = Payment {
            kind: PaymentKind::Disbursement,
            household: household_id(self.rng.below(HOUSEHOLDS)),
            program: ProgramCode::parse(program).expect("a catalog code"),
            amount: Money::from_fen(amount),
            persons: u32::try_from(self.rng.below(3) + 1).expect("small"),
            date: date(year, month, day),
            reference: Reference::parse(&format!("PAY-{}", self.payments))
                .expect("a valid reference"),
            memo: String::new(),
            account: None,
        };
        self.payments += 1;
        let fact = proj::Fact::Paid {
            kind: proj::PaymentKind::Disbursement,
            household: payment.household.to_string(),
            program: program.into(),
            amount_fen: amount,
            persons: payment.persons,
            date: proj_date(payment.date),
            reference: payment.reference.to_string(),
        };
        let slot = self.rng.below(RECENT);
        self.recent[slot] = Some(Live {
            seq: self.next_seq,
            payment: payment.clone(),
        });
        (Command::Pay(payment), fact)
    }

    /// The reversal of a recent live payment, if the slot drawn holds one.
    fn reverse(&mut self) -> Option<(Command, proj::Fact)> {
        let slot = self.rng.below(RECENT);
        let Live { seq, payment } = self.recent[slot].take()?;
        let request = ReversalRequest {
            target: payment.reference.clone(),
            household: payment.household.clone(),
            program: Some(payment.program.clone()),
            amount: payment.amount,
            date: payment.date,
            reason: "entered twice".into(),
        };
        let fact = proj::Fact::Reversed {
            target_seq: seq,
            household: payment.household.to_string(),
            program: payment.program.to_string(),
            amount_fen: payment.amount.fen(),
            persons: payment.persons,
            target_date: proj_date(payment.date),
            date: proj_date(request.date),
            reason: request.reason.clone(),
        };
        Some((Command::Reverse(request), fact))
    }
}

impl Iterator for Synthetic {
    type Item = (Command, proj::Fact);

    fn next(&mut self) -> Option<(Command, proj::Fact)> {
        let allocations = PROGRAMS.len() * ALLOCATIONS_PER_PROGRAM;
        let seq = usize::try_from(self.next_seq).expect("fits");
        let event = if seq <= HOUSEHOLDS {
            self.enroll(seq - 1)
        } else if seq <= HOUSEHOLDS + allocations {
            self.allocate(seq - 1 - HOUSEHOLDS)
        } else if std::mem::take(&mut self.reversal_due) {
            self.reverse().unwrap_or_else(|| self.pay())
        } else {
            let payment = self.pay();
            self.reversal_due = self.payments.is_multiple_of(REVERSAL_EVERY);
            payment
        };
        self.next_seq += 1;
        Some(event)
    }
}

/// Appends synthetic events to `ledger` in batches of [`BATCH`] until it holds `events`;
/// a ledger that already holds a prefix of them (an interrupted build) is continued.
pub fn append(ledger: &mut Ledger, events: u64) -> Result<(), LedgerError> {
    let mut synthetic = Synthetic::new();
    let done = usize::try_from(ledger.view().head().size).expect("fits");
    synthetic.by_ref().take(done).for_each(drop);
    let ctx = AppendContext::now(ACTOR);
    while ledger.view().head().size < events {
        let room = events - ledger.view().head().size;
        let take = usize::try_from(room).map_or(BATCH, |room| room.min(BATCH));
        let commands: Vec<Command> = synthetic.by_ref().take(take).map(|(c, _)| c).collect();
        ledger.append(commands, &ctx)?;
    }
    Ok(())
}
