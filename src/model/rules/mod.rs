//! The write-side rules. A [`Planner`] walks a batch of commands in order against the
//! committed state plus what the batch itself has planned so far, and turns each command
//! into an event body to append, a harmless duplicate, or a rejection naming the field.
//!
//! It never writes: the ledger decides what to do with the plan (ARCHITECTURE.md, "Write
//! path").

mod batch_refs;
mod findings;
mod people;
mod recoveries;
mod replay_households;
mod replay_refs;
#[cfg(test)]
mod written_tests;

pub use findings::{check_finding_id, FindingContext};
mod release;

pub use release::allowance_prefix;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};

use crate::keys::identity::AccountHash;
use crate::model::domain::{
    date_to_days, days_to_date, validate_text, Allocation, Command, DifferenceCounts, Enrollment,
    HouseholdId, Money, Month, PayeeAccount, Payment, PaymentKind, ProgramCode, Rate,
    ReconciliationSummary, Reference, ReversalRequest, Seq, ALLOWANCE_REFERENCE_PREFIX,
    MAX_MEMBERS, MAX_PERSONS, PROGRAMS,
};
use crate::model::encoding::{
    payment_kind_code, stored_category, write_body, AccountPaymentV1, AccountV1, AllocationV1,
    Body, EnrolledV1, PaymentV1, RateV1, ReconciliationV1, RecordV1, ReversalV1,
};
use crate::model::fingerprints::Prefetch;
use crate::model::keyed::{self, RefDigest};
use crate::model::people::People;
use crate::model::rates::{check_new_rate, rate_v1, ALLOWANCE_PROGRAM};
use batch_refs::Found;
use foldhash::{HashMap, HashMapExt};
use fundtrail_projections::Receivables;

/// How many days after the day it is recorded a value date may lie: a year (a leap year's
/// 366 days). Payments are booked ahead at most for the coming months; a date further out
/// is a typing mistake (2999 for 2019) that would sit in every later total and report.
pub const MAX_DAYS_AHEAD: i32 = 366;

/// Microseconds in a day, to turn a recording time into its day.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A command the rules refuse: which input field is wrong and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub field: &'static str,
    pub reason: String,
}

fn reject<T>(field: &'static str, reason: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError::Rejected(Rejection {
        field,
        reason: reason.into(),
    }))
}

/// How a message names an event planned earlier in the same batch.
const EARLIER_IN_BATCH: &str = "earlier in this batch";

/// Why planning one command stopped.
#[derive(Debug)]
pub enum PlanError {
    Rejected(Rejection),
    /// The committed state could not be read; the whole batch must stop.
    Lookup(String),
}

/// What the planner decided for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    Append {
        seq: Seq,
        reference: Reference,
        body: Body,
    },
    /// The same content is already recorded (or planned) under this seq.
    Duplicate(Seq),
}

/// What the planner needs from the committed ledger.
pub trait Committed {
    /// The seq recorded under a reference, whose digest the caller has made (the store's
    /// index files references by its fingerprint).
    fn reference(&self, reference: &str, digest: &RefDigest) -> Result<Option<Seq>, String>;
    /// Starts loading what [`Committed::reference`] of `digest` will read (a hint).
    fn prefetch_reference(&self, _digest: &RefDigest, _stage: Prefetch) {}
    /// The body of a committed event.
    fn body(&self, seq: Seq) -> Result<Body, String>;
    /// Every committed rate (read once per batch, when the first rate is planned).
    fn rates(&self) -> Result<Vec<RateV1>, String> {
        Ok(Vec::new())
    }
    /// The finding with this id after the committed log, with the actors of its evidence
    /// (read when a batch decides a finding).
    fn finding(&self, _id: &str) -> Result<Option<FindingContext>, String> {
        Ok(None)
    }

    /// Every finding's receivable as of the committed head, authenticated or recomputed
    /// (read once per batch, when the first recovery or decision is planned).
    fn receivables(&self) -> Result<Receivables, String> {
        Ok(Receivables::new())
    }
    /// Who recorded the committed events whose references start with `prefix` (read
    /// only for a release, to find who ran its month).
    fn actors_under(&self, _prefix: &str) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
    /// The ids of the open findings that hold `household` at the payment gate, through
    /// the committed log (read only for a release); `None` where they are not known here:
    /// a replay, whose releases `verify` checks against the findings separately.
    fn holds(&self, _household: &str) -> Result<Option<Vec<String>>, String> {
        Ok(None)
    }
}

/// Money per program: what was allocated and what live payments have used, less what
/// recoveries (追缴) brought back: the write rules need only what is left to spend, and
/// recovered money is the program's to spend again. The read models keep payments and
/// recoveries apart (`funds`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    pub allocated_fen: i64,
    pub disbursed_fen: i64,
}

impl Budget {
    pub fn remaining_fen(&self) -> i64 {
        self.allocated_fen.saturating_sub(self.disbursed_fen)
    }
}

pub type Budgets = BTreeMap<String, Budget>;

/// The committed registries the rules read: households and people.
#[derive(Clone, Copy)]
pub struct Registries<'a> {
    pub households: &'a BTreeMap<String, HouseholdInfo>,
    pub people: &'a People,
}

/// An enrolled household as validation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdInfo {
    pub enrollment: Enrollment,
    pub seq: Seq,
}

/// An event planned in this batch: enough to reverse a payment made earlier in the same
/// batch (a retry is detected by its digest, kept beside it in [`Planner::digests`]). A
/// batch may hold millions of rows, so this holds no text of its own: what validation
/// keeps grows with households and references, never with a copy of the batch (at a
/// million rows, keeping each payment's fields here took 500 MiB).
type PlannedEvent = Option<PlannedPayment>;

/// [`PaidFacts`] of a payment planned in this batch in 16 bytes a row (24 with the program
/// as a name and the amount and persons apart; the shared names took 48): its household as
/// a position in [`Planner::names`], and its amount, program and persons in one word.
#[derive(Debug, Clone, Copy)]
struct PlannedPayment {
    household: NameId,
    /// Days since 1970-01-01.
    value_date: i32,
    packed: PackedPay,
}

/// A payment's amount, program (its position in [`PROGRAMS`]) and persons in one word,
/// each in its bits: every payment the rules accept fits (persons are at most
/// [`MAX_PERSONS`], an amount below [`MAX_PACKED_AMOUNT_FEN`] is beyond any budget a
/// district allocates); one that does not is [`PackedPay::UNPACKED`], its facts kept in
/// [`Planner::unpacked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackedPay(u64);

/// Bits of a packed amount (in fen): up to about 11 billion yuan.
const AMOUNT_BITS: u32 = 40;
/// Bits of a packed program's position in the catalog.
const PROGRAM_BITS: u32 = 8;
/// Bits of a packed count of persons: [`MAX_PERSONS`] fits.
const PERSONS_BITS: u32 = 16;
const _: () = assert!(AMOUNT_BITS + PROGRAM_BITS + PERSONS_BITS == u64::BITS);
const _: () = assert!(MAX_PERSONS < 1 << PERSONS_BITS);
/// The amounts packed are below this; all ones in the amount's bits marks
/// [`PackedPay::UNPACKED`].
const MAX_PACKED_AMOUNT_FEN: i64 = (1 << AMOUNT_BITS) - 1;

impl PackedPay {
    const UNPACKED: PackedPay = PackedPay(u64::MAX);

    /// The packed facts, if each fits its bits.
    fn pack(amount_fen: i64, program: usize, persons: u32) -> Option<PackedPay> {
        let amount = u64::try_from(amount_fen)
            .ok()
            .filter(|&a| a < MAX_PACKED_AMOUNT_FEN as u64)?;
        let program = u64::try_from(program)
            .ok()
            .filter(|&p| p < 1 << PROGRAM_BITS)?;
        let persons = u64::from(persons);
        if persons >= 1 << PERSONS_BITS {
            return None;
        }
        Some(PackedPay(
            amount | program << AMOUNT_BITS | persons << (AMOUNT_BITS + PROGRAM_BITS),
        ))
    }

    /// The amount, the program's position and the persons.
    fn unpack(self) -> (i64, usize, u32) {
        let field = |shift: u32, bits: u32| (self.0 >> shift) & ((1 << bits) - 1);
        let amount = i64::try_from(field(0, AMOUNT_BITS)).expect("40 bits fit an i64");
        let program =
            usize::try_from(field(AMOUNT_BITS, PROGRAM_BITS)).expect("8 bits fit a usize");
        let persons = u32::try_from(field(AMOUNT_BITS + PROGRAM_BITS, PERSONS_BITS))
            .expect("16 bits fit a u32");
        (amount, program, persons)
    }
}

/// A name's position in [`Planner::names`], from 1 (so that an `Option` of it takes no
/// more room).
type NameId = std::num::NonZeroU32;

/// What a reversal takes from the payment it names. Planned payments share their names
/// through [`Planner::name`].
#[derive(Debug, Clone)]
struct PaidFacts {
    household: Arc<str>,
    program: Arc<str>,
    amount_fen: i64,
    persons: u32,
    /// Days since 1970-01-01.
    value_date: i32,
}

impl PaidFacts {
    fn of(p: &PaymentV1) -> PaidFacts {
        PaidFacts {
            household: p.household.as_str().into(),
            program: p.program.as_str().into(),
            amount_fen: p.amount_fen,
            persons: p.persons,
            value_date: p.value_date,
        }
    }
}

/// What a reversal may name: a payment, or a recovery (recoveries.rs).
#[derive(Debug, Clone)]
enum Reversible {
    Payment(PaidFacts),
    Recovery(recoveries::RecoveredFacts),
}

impl Reversible {
    fn noun(&self) -> &'static str {
        match self {
            Reversible::Payment(_) => "payment",
            Reversible::Recovery(_) => "recovery",
        }
    }

    fn of(body: &Body) -> Option<Reversible> {
        match body {
            Body::RecoveryReceived(r) => {
                Some(Reversible::Recovery(recoveries::RecoveredFacts::of(r)))
            }
            other => other
                .payment()
                .map(|(_, p)| Reversible::Payment(PaidFacts::of(p))),
        }
    }
}

/// Where a planner stood before a request, so that the request can be undone as a whole.
#[derive(Debug, Clone)]
pub struct Savepoint {
    next: Seq,
    budgets: Budgets,
    rates: Option<Vec<RateV1>>,
    people_planned: usize,
    receivables: Option<Receivables>,
}

#[derive(Clone)]
pub struct Planner<'a> {
    committed: &'a dyn Committed,
    /// The day being recorded (days since 1970-01-01): no value date may lie more than
    /// [`MAX_DAYS_AHEAD`] after it.
    recorded_on: i32,
    /// A replay of a whole log (audit.rs) names every earlier event by its seq; a batch
    /// names its own "earlier in this batch", since its seqs mean nothing to a refused
    /// batch's reader.
    replay: bool,
    households: &'a BTreeMap<String, HouseholdInfo>,
    /// Households enrolled by this batch (in a replay, every household): looked up by
    /// every payment, so hashed (a B-tree of 15,000 households took a dozen string
    /// compares a lookup).
    new_households: HashMap<String, HouseholdInfo>,
    /// A replay's households, in place of `new_households`: only the day each was
    /// enrolled, in a table that stays in cache ([`replay_households`]).
    replay_households: Option<replay_households::ReplayHouseholds>,
    /// [`Planner::household_number`].
    household_number: Option<u32>,
    /// The reference of each event planned in this batch, in plan order (`planned` and
    /// `digests` hold the entries after its archived ones); empty in a replay that reads
    /// its log back, which keeps `read_back` instead.
    new_refs: batch_refs::BatchRefs,
    /// The references of the last rows told by [`Planner::look_ahead`] (the row planned
    /// next and the two after it), each with its digest until it is planned, and which
    /// slot the next one takes.
    ahead: ([(String, Option<RefDigest>); LOOK_AHEAD_SLOTS], usize),
    /// The digest of the row told last, whose lookups' second stage the next
    /// [`Planner::look_ahead`] starts.
    told_last: Option<RefDigest>,
    /// The events of this batch already written beyond the head, to read back: the plan
    /// keeps only a fingerprint of each ([`Planner::read_written_from`]).
    written: Option<Arc<dyn WrittenLog + 'a>>,
    /// A replay that reads its log back ([`Planner::replay_reading`]): each event's
    /// reference as an 8-byte digest, checked for repeats at the end
    /// ([`Planner::first_repeat`]), not as each event comes.
    read_back: Option<replay_refs::ReplayRefs>,
    /// Where the record being replayed says its reversal's target is: the first place a
    /// replay that reads its log back looks for the target's reference.
    target_hint: Option<Seq>,
    /// One entry per event planned in this batch after the archived ones (the first at
    /// `first` when none is); none in a replay that reads its reversals' targets from
    /// `bodies`.
    planned: Vec<PlannedEvent>,
    /// The log a replay plans, to read a reversal's target from when it comes, instead of
    /// keeping every payment's facts in `planned` (24 bytes an event).
    bodies: Option<Arc<dyn ReplayedBodies>>,
    /// The digest of each planned event's content, in the order of `planned`, to tell a
    /// retry from a conflict (an archived event's is computed from its record read back).
    /// Empty in a replay, which refuses every repeated reference without comparing
    /// contents: 16 bytes an event a replay of the whole log keeps not.
    digests: Vec<[u8; keyed::DIGEST_BYTES]>,
    first: Seq,
    /// The household ids of planned payments (and the actors), each held once, in the
    /// order first met; `name_ids` finds one's position.
    names: Vec<Arc<str>>,
    name_ids: HashMap<Arc<str>, NameId>,
    /// Per name of `names`, the day it was enrolled on if it is a committed household: a
    /// payment's check reads it by the name's position, where a search of the committed
    /// households (a B-tree of 15,000 ids: a dozen string compares, each a cache miss)
    /// cost as much as the rest of the payment's rules.
    committed_enrolled: Vec<Option<chrono::NaiveDate>>,
    /// The catalog position of the last planned payment's program: the next payment's
    /// program is most often the same, and comparing it costs less than a search.
    last_program: usize,
    /// The facts of planned payments whose values do not fit a [`PackedPay`], by their
    /// position in the batch (none in practice).
    unpacked: HashMap<usize, PaidFacts>,
    budgets: Budgets,
    next: Seq,
    /// Committed and planned rates, loaded when the batch first sets a rate.
    rates: Option<Vec<RateV1>>,
    /// Every finding's receivable after the committed log and what this batch planned,
    /// loaded when the batch first plans a recovery.
    receivables: Option<Receivables>,
    /// The recoveries planned in this batch, by seq, for a reversal later in it (few: a
    /// batch of payments keeps nothing here).
    planned_recoveries: HashMap<Seq, recoveries::RecoveredFacts>,
    /// The registry after the committed log and, once this batch plans a people event,
    /// after those too (copied on the first: most batches hold payments only).
    people: Cow<'a, People>,
    /// The committed registry, to start again from on a rollback.
    committed_people: &'a People,
    /// The people events planned in this batch, to replay after a rollback.
    people_planned: Vec<(Seq, Body)>,
    /// The decisions about findings planned in this batch (in a replay: every one so far),
    /// for four eyes across them.
    decisions: Vec<findings::PlannedDecision>,
    /// Who records the commands planned next ([`Planner::set_actor`]).
    actor: Arc<str>,
    /// Who recorded support allowance disbursements in this batch, per month.
    run_actors: release::RunActors,
}

/// The committed state of a replay: nothing, since the replay plans the whole log.
struct NothingCommitted;

impl Committed for NothingCommitted {
    fn reference(&self, _: &str, _: &RefDigest) -> Result<Option<Seq>, String> {
        Ok(None)
    }
    fn body(&self, seq: Seq) -> Result<Body, String> {
        Err(format!("a replay has no committed event {seq}"))
    }
}

/// The events of a large batch written already, beyond the head, where they stay
/// invisible until the batch commits (append.rs), for a planner that reads them back
/// instead of keeping them ([`Planner::read_written_from`]).
pub trait WrittenLog {
    /// The last seq written: the batch's events up to it can be read.
    fn written_through(&self) -> u64;
    /// The record written at `seq`, at most [`WrittenLog::written_through`].
    fn record(&self, seq: Seq) -> Result<RecordV1, String>;
}

/// Events written before a planner archives them ([`Planner::read_written_from`]): its
/// full entries are dropped from the front of vectors, which moves those after them, so
/// it waits for a few thousand to drop at once. With what is in flight (append.rs: a
/// writer may lag by about 10,000 events) it keeps some 15,000 events in full, under
/// 1 MiB.
const ARCHIVE_EVENTS: usize = 4_096;

/// The bodies of the log a replay plans, by seq ([`Planner::replay_reading`]). A replay
/// reads only events it has planned already: the verifier has checked their place in the
/// chain, and the bodies are the same bytes it judged.
pub trait ReplayedBodies: Send + Sync {
    /// The decoded record at `seq`.
    fn record(&self, seq: Seq) -> Result<RecordV1, String>;

    /// Each reference of the events `seqs`, in seq order (read only when two references
    /// of a replay have one digest: [`Planner::first_repeat`]).
    fn references(
        &self,
        seqs: std::ops::RangeInclusive<Seq>,
        each: &mut dyn FnMut(Seq, &str),
    ) -> Result<(), String>;
}

static NO_HOUSEHOLDS: BTreeMap<String, HouseholdInfo> = BTreeMap::new();

/// The registry of a replay's start: nobody.
static NO_PEOPLE: std::sync::LazyLock<People> = std::sync::LazyLock::new(People::new);

impl Planner<'static> {
    /// A planner for a replay of a whole log from seq 1 (audit.rs): every event of the log
    /// is planned as one batch, so what it keeps grows with references and payments, and
    /// its messages name earlier events by seq. [`Planner::set_recorded_at`] before each.
    pub fn replay() -> Planner<'static> {
        let mut planner = Planner::new(
            &NothingCommitted,
            Registries {
                households: &NO_HOUSEHOLDS,
                people: &NO_PEOPLE,
            },
            &Budgets::new(),
            Seq::FIRST,
            0,
        );
        planner.replay = true;
        planner.replay_households = Some(Default::default());
        planner
    }

    /// As [`Planner::replay`] for a log of `events` events: the plan's table of references
    /// and its entries are sized for them up front, so they are never copied or rehashed
    /// as they grow (at a million events the growing table rehashed every reference it
    /// held at each doubling, and the last doubling held one and a half times the plan).
    pub fn replay_of(events: u64) -> Planner<'static> {
        let mut planner = Planner::replay();
        let reserved = usize::try_from(events.min(MAX_RESERVED_REPLAY_EVENTS))
            .expect("the reservation's ceiling fits in usize");
        planner.planned.reserve_exact(reserved);
        planner.new_refs.reserve(reserved);
        planner
    }

    /// As [`Planner::replay_of`], reading a reversal's target from `bodies` when one
    /// comes: the plan keeps an 8-byte digest of each event's reference and no payment's
    /// facts, where [`Planner::replay_of`] keeps 50 bytes an event. A log records few
    /// reversals, and each costs a read or two of an event. A reference that repeats an
    /// earlier one is not refused as it comes: [`Planner::first_repeat`] finds it once
    /// every event is planned (a command refused for another reason is refused as the
    /// repeat it is first, as in any plan).
    pub fn replay_reading(events: u64, bodies: Arc<dyn ReplayedBodies>) -> Planner<'static> {
        let mut planner = Planner::replay();
        let reserved = usize::try_from(events.min(MAX_RESERVED_REPLAY_EVENTS))
            .expect("the reservation's ceiling fits in usize");
        let mut read_back = replay_refs::ReplayRefs::new(Seq::FIRST);
        read_back.reserve(reserved);
        planner.read_back = Some(read_back);
        planner.bodies = Some(bodies);
        planner
    }
}

/// The most events a replay reserves room for up front ([`Planner::replay_of`]): a log
/// beyond it grows its plan as it goes. The room is only address space until it is used,
/// so a head that claims more events than its log holds costs no memory.
const MAX_RESERVED_REPLAY_EVENTS: u64 = 1 << 24;

impl<'a> Planner<'a> {
    /// A planner after the committed state, for events recorded at `recorded_at_us`
    /// (microseconds since the Unix epoch, as `AppendContext::now_us`).
    pub fn new(
        committed: &'a dyn Committed,
        registries: Registries<'a>,
        budgets: &Budgets,
        next: Seq,
        recorded_at_us: i64,
    ) -> Planner<'a> {
        Planner {
            committed,
            recorded_on: day_of(recorded_at_us),
            replay: false,
            households: registries.households,
            people: Cow::Borrowed(registries.people),
            committed_people: registries.people,
            people_planned: Vec::new(),
            decisions: Vec::new(),
            new_households: HashMap::new(),
            replay_households: None,
            household_number: None,
            new_refs: batch_refs::BatchRefs::default(),
            ahead: Default::default(),
            told_last: None,
            written: None,
            read_back: None,
            target_hint: None,
            planned: Vec::new(),
            bodies: None,
            digests: Vec::new(),
            first: next,
            names: Vec::new(),
            name_ids: HashMap::new(),
            committed_enrolled: Vec::new(),
            last_program: 0,
            unpacked: HashMap::new(),
            budgets: budgets.clone(),
            next,
            rates: None,
            receivables: None,
            planned_recoveries: HashMap::new(),
            actor: "".into(),
            run_actors: release::RunActors::new(),
        }
    }

    /// Who records the commands planned next: the batch's actor, or (a group commit, a
    /// replay) each request's or record's own. The four-eyes rule of a release reads it.
    pub fn set_actor(&mut self, actor: &str) {
        if *self.actor != *actor {
            self.actor = self.name(actor);
        }
    }

    /// The recording time of the events planned next (a group commit's requests each have
    /// their own; a replay takes each record's).
    pub fn set_recorded_at(&mut self, recorded_at_us: i64) {
        self.recorded_on = day_of(recorded_at_us);
    }

    /// Budgets after everything planned so far.
    /// The seq the next planned event would get.
    pub fn next_seq(&self) -> Seq {
        self.next
    }

    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// The people registry after everything planned so far.
    pub fn people(&self) -> &People {
        &self.people
    }

    /// The registry after this batch, if the batch changed it.
    pub fn changed_people(&self) -> Option<&People> {
        match &self.people {
            Cow::Owned(people) => Some(people),
            Cow::Borrowed(_) => None,
        }
    }

    /// Households enrolled by this batch (none in a replay, which keeps only the day each
    /// was enrolled).
    pub fn new_households(&self) -> &HashMap<String, HouseholdInfo> {
        &self.new_households
    }

    /// The current position, to [`Planner::rollback`] to. Costs a copy of the budgets (one
    /// entry per program) and of the rates once a batch has loaded them (a handful), so it
    /// can be taken before every request of a group.
    pub fn savepoint(&self) -> Savepoint {
        Savepoint {
            next: self.next,
            budgets: self.budgets.clone(),
            rates: self.rates.clone(),
            people_planned: self.people_planned.len(),
            receivables: self.receivables.clone(),
        }
    }

    /// Forgets everything planned since `savepoint`. What was planned after it has seqs at
    /// or beyond its `next`, so no undo log is kept; the cost is one pass over this batch's
    /// plan, paid only when a request is rejected. Names interned since stay interned: they
    /// cost a few bytes and change no decision.
    pub fn rollback(&mut self, savepoint: Savepoint) {
        let next = savepoint.next;
        self.new_households.retain(|_, info| info.seq < next);
        if let Some(households) = &mut self.replay_households {
            households.forget_from(next);
        }
        self.decisions.retain(|d| d.seq < next);
        self.planned_recoveries.retain(|seq, _| *seq < next);
        for actors in self.run_actors.values_mut() {
            actors.retain(|_, seq| *seq < next);
        }
        let kept = usize::try_from(next.get() - self.first.get()).expect("a batch fits in memory");
        // A batch that archives (a large one) is never rolled back: this asserts so.
        self.new_refs.truncate(kept);
        let recent = kept - self.new_refs.archived();
        self.planned.truncate(recent);
        self.unpacked.retain(|index, _| *index < kept);
        self.digests.truncate(recent);
        if let Some(read_back) = &mut self.read_back {
            read_back.truncate(kept);
        }
        self.budgets = savepoint.budgets;
        self.rates = savepoint.rates;
        self.receivables = savepoint.receivables;
        self.next = next;
        if self.people_planned.len() > savepoint.people_planned {
            self.people_planned.truncate(savepoint.people_planned);
            self.replan_people();
        }
    }

    pub fn plan(&mut self, command: &Command) -> Result<Planned, PlanError> {
        self.household_number = None;
        self.archive_written();
        let reference = command.reference();
        let content = self.content(command)?;
        if self.read_back.is_some() {
            return self.plan_read_back(command, reference, content);
        }
        let ref_digest = self.ref_digest(reference.as_str());
        if let Some(seq) = self.existing(&reference, ref_digest, &content)? {
            return Ok(Planned::Duplicate(seq));
        }
        let planned = self.plan_new(command, reference, content)?;
        self.new_refs.push(ref_digest);
        Ok(planned)
    }

    /// Told the row two after the one planned next, starts loading what the reference
    /// lookups of the rows ahead will read, in two stages a row apart
    /// ([`FingerprintTable::prefetch`](crate::model::fingerprints::FingerprintTable::prefetch)):
    /// the bounds of this row's buckets, in the batch's table and the store's index, and
    /// the entries of the row told before it, whose bounds are in cache by now. Each
    /// lookup then finds what it reads in cache, where every large import's row waited on
    /// memory. Only a hint: a row not told, or told differently, is planned as ever.
    pub fn look_ahead(&mut self, row: Option<&Command>) {
        if self.read_back.is_some() {
            return;
        }
        if let Some(digest) = self.told_last.take() {
            self.new_refs.prefetch(&digest, Prefetch::Entries);
            self.committed
                .prefetch_reference(&digest, Prefetch::Entries);
        }
        let Some(Command::Pay(payment)) = row else {
            return;
        };
        let reference = payment.reference.as_str();
        let digest = RefDigest::of(reference);
        self.new_refs.prefetch(&digest, Prefetch::Bounds);
        self.committed.prefetch_reference(&digest, Prefetch::Bounds);
        self.told_last = Some(digest);
        let (slots, next) = &mut self.ahead;
        let slot = &mut slots[*next];
        slot.0.clear();
        slot.0.push_str(reference);
        slot.1 = Some(digest);
        *next = (*next + 1) % LOOK_AHEAD_SLOTS;
    }

    /// The digest of `reference`: the one [`Planner::look_ahead`] made if it was told.
    fn ref_digest(&mut self, reference: &str) -> RefDigest {
        self.ahead
            .0
            .iter_mut()
            .find(|(told, digest)| digest.is_some() && told == reference)
            .and_then(|(_, digest)| digest.take())
            .unwrap_or_else(|| RefDigest::of(reference))
    }

    /// [`Planner::plan`] in a replay that reads its log back: a repeated reference is
    /// found at the end ([`Planner::first_repeat`]), or here when the command is refused
    /// for another reason (a plan checks the reference before anything else).
    fn plan_read_back(
        &mut self,
        command: &Command,
        reference: Reference,
        content: Body,
    ) -> Result<Planned, PlanError> {
        let planned = self.plan_new(command, reference, content);
        self.target_hint = None;
        match planned {
            Ok(planned) => {
                if let (Some(read_back), Planned::Append { reference, .. }) =
                    (&mut self.read_back, &planned)
                {
                    read_back.push(reference.as_str());
                }
                Ok(planned)
            }
            Err(refused) => {
                let reference = command.reference();
                match self.planned_seq(reference.as_str())? {
                    Some((seq, _)) => {
                        let content = self.content(command)?;
                        Err(self.repeat_rejection(&reference, &content, seq))
                    }
                    None => Err(refused),
                }
            }
        }
    }

    /// Where the record replayed next says its reversal's target is (its `target_seq`).
    pub fn expect_target(&mut self, seq: Seq) {
        self.target_hint = Some(seq);
    }

    /// In a replay that reads its log back, the first event whose reference an earlier
    /// one holds, refused as [`Planner::plan`] refuses a repeat: call it once, after the
    /// last event (it gives up the digests it searches).
    pub fn first_repeat(&mut self) -> Result<Option<(Seq, Rejection)>, PlanError> {
        let (Some(read_back), Some(bodies)) = (&mut self.read_back, &self.bodies) else {
            return Ok(None);
        };
        let Some(found) = read_back
            .first_repeat(bodies.as_ref())
            .map_err(PlanError::Lookup)?
        else {
            return Ok(None);
        };
        let record = bodies.record(found.repeat).map_err(PlanError::Lookup)?;
        let command = stored_command(&record).map_err(PlanError::Rejected)?;
        let content = self.content(&command)?;
        match self.repeat_rejection(&command.reference(), &content, found.first) {
            PlanError::Rejected(rejection) => Ok(Some((found.repeat, rejection))),
            other => Err(other),
        }
    }

    /// The events a replay that reads its log back has planned (0 in any other plan).
    fn read_back_len(&self) -> usize {
        self.read_back
            .as_ref()
            .map_or(0, replay_refs::ReplayRefs::len)
    }

    /// [`Planner::plan`] of a command whose reference is not taken.
    fn plan_new(
        &mut self,
        command: &Command,
        reference: Reference,
        content: Body,
    ) -> Result<Planned, PlanError> {
        self.check_not_ahead(command)?;
        // A replay refuses every repeated reference, so it never compares contents.
        let digest = (!self.replay).then(|| digest(&content));
        let body = match command {
            Command::Enroll(e) => self.enroll(e)?,
            Command::Allocate(a) => self.allocate(a)?,
            // A payment is stored as its content: the common case builds one body.
            Command::Pay(p) => {
                self.check_payment(p)?;
                content
            }
            Command::Reverse(r) => self.reverse(r)?,
            Command::SetRate(r) => self.set_rate(rate_v1(r))?,
            Command::RecordReconciliation(_) => content,
            Command::AddPerson(p) => self.add_person(p)?,
            Command::RecordLifeEvent(l) => self.life_event(l)?,
            Command::RevealPerson(a) | Command::ErasePerson(a) => {
                self.check_person_data(a)?;
                content
            }
            Command::ResolveFinding(d) => self.resolve_finding(d)?,
            Command::RecordRecovery(r) => {
                self.recover(r)?;
                content
            }
            Command::ReleaseHold(r) => self.release_hold(r)?,
        };
        let seq = self.next;
        self.next = seq.next();
        let payment = match body.payment() {
            Some((_, p)) if self.bodies.is_none() => Some(self.planned_payment(p)),
            _ => None,
        };
        if let Body::HouseholdEnrolled(e) = &body {
            self.note_household(e, seq)?;
        }
        if body.is_people_event() {
            self.note_people_event(seq, &body)?;
        }
        if let Body::RecoveryReceived(r) = &body {
            self.planned_recoveries
                .insert(seq, recoveries::RecoveredFacts::of(r));
        }
        if let Command::Pay(p) = command {
            self.note_run_actor(&reference, Month::of(p.date), seq);
        }
        assert_eq!(
            self.first.get() + (self.new_refs.len() + self.read_back_len()) as u64,
            seq.get(),
            "one planned event per seq handed out"
        );
        if self.bodies.is_none() {
            self.planned.push(payment);
        }
        self.digests.extend(digest);
        Ok(Planned::Append {
            seq,
            reference,
            body,
        })
    }

    /// The seq already holding this reference, if its content is the same; a conflict if not.
    fn existing(
        &self,
        reference: &Reference,
        ref_digest: RefDigest,
        content: &Body,
    ) -> Result<Option<Seq>, PlanError> {
        let (seq, found) =
            if let Some((seq, index)) = self.planned_at(reference.as_str(), ref_digest)? {
                (seq, self.planned_digest(seq, index)?)
            } else if let Some(seq) = self.committed_ref(reference.as_str(), &ref_digest)? {
                let body = self.committed_body(seq)?;
                (seq, digest(&normalized(body)))
            } else {
                return Ok(None);
            };
        // In a replay even an identical repeat is a fault: a retry is never recorded twice.
        if !self.replay && found == digest(content) {
            return Ok(Some(seq));
        }
        Err(self.repeat_rejection(reference, content, seq))
    }

    /// The refusal of `content` under `reference`, which the event at `seq` holds.
    fn repeat_rejection(&self, reference: &Reference, content: &Body, seq: Seq) -> PlanError {
        let at = self.at(seq);
        let refused: Result<(), PlanError> = match content {
            Body::HouseholdEnrolled(e) => reject(
                "household_id",
                format!(
                    "{} is already enrolled ({at}) with other details",
                    e.household
                ),
            ),
            Body::Reversal(r) => reject(
                "reference",
                format!("payment {} is already reversed ({at})", r.target_reference),
            ),
            Body::RateSet(_) => reject(
                "valid_from",
                format!(
                    "{reference} is already recorded ({at}) with other values; recorded \
                     rates never change: add a rate with a later valid_from instead"
                ),
            ),
            _ if seq >= self.first && !self.replay => reject(
                "reference",
                format!("{reference} is already used {EARLIER_IN_BATCH} with different content"),
            ),
            _ => reject(
                "reference",
                format!("{reference} is already recorded as seq {seq} with different content"),
            ),
        };
        match refused {
            Err(error) => error,
            Ok(()) => unreachable!("every arm refuses"),
        }
    }

    /// Where an event the message refers to is: its seq once committed; a seq planned in
    /// this batch would mean nothing to the reader, since the batch is refused.
    fn at(&self, seq: Seq) -> String {
        if seq >= self.first && !self.replay {
            EARLIER_IN_BATCH.to_string()
        } else {
            format!("seq {seq}")
        }
    }

    /// The command's content in stored form, with the fields the ledger resolves zeroed,
    /// so a retry can be compared with what is stored.
    fn content(&self, command: &Command) -> Result<Body, PlanError> {
        Ok(match command {
            Command::Enroll(e) => Body::HouseholdEnrolled(EnrolledV1::from_domain(e)),
            Command::Allocate(a) => Body::FundAllocation(allocation_v1(a)),
            Command::Pay(p) => payment_body(p),
            Command::Reverse(r) => Body::Reversal(ReversalV1 {
                target_seq: 0,
                target_reference: r.target.to_string(),
                household: r.household.to_string(),
                program: String::new(),
                amount_fen: r.amount.fen(),
                persons: 0,
                value_date: date_to_days(r.date),
                reason: r.reason.clone(),
            }),
            Command::SetRate(r) => Body::RateSet(rate_v1(r)),
            Command::RecordReconciliation(r) => Body::Reconciliation(reconciliation_v1(r)),
            Command::AddPerson(p) => Body::PersonAdded(people::person_v1(p)),
            Command::RecordLifeEvent(l) => self.life_event_content(l),
            Command::RevealPerson(a) => Body::PersonRevealed(people::access_v1(a)),
            Command::ErasePerson(a) => Body::PersonErased(people::access_v1(a)),
            Command::ResolveFinding(d) => Body::FindingResolved(findings::finding_resolved_v1(d)),
            Command::RecordRecovery(r) => Body::RecoveryReceived(recoveries::recovery_v1(r)),
            Command::ReleaseHold(r) => Body::HoldReleased(release::release_v1(r)),
        })
    }

    /// A value date lies at most [`MAX_DAYS_AHEAD`] days after the recording day.
    fn check_not_ahead(&self, command: &Command) -> Result<(), PlanError> {
        let (field, date) = match command {
            Command::Enroll(e) => ("enrolled_on", e.enrolled_on),
            Command::Allocate(a) => ("date", a.date),
            Command::Pay(p) => ("date", p.date),
            Command::Reverse(r) => ("date", r.date),
            Command::AddPerson(p) => ("joined_on", p.joined_on.max(p.birth_date)),
            Command::RecordLifeEvent(l) => ("date", l.date),
            Command::ResolveFinding(d) => ("date", d.date),
            Command::RecordRecovery(r) => ("date", r.date),
            Command::ReleaseHold(r) => ("date", r.date),
            Command::SetRate(_)
            | Command::RecordReconciliation(_)
            | Command::RevealPerson(_)
            | Command::ErasePerson(_) => return Ok(()),
        };
        let ahead = i64::from(date_to_days(date)) - i64::from(self.recorded_on);
        if ahead <= i64::from(MAX_DAYS_AHEAD) {
            return Ok(());
        }
        let today = days_to_date(self.recorded_on)
            .map_or_else(|| self.recorded_on.to_string(), |d| d.to_string());
        reject(
            field,
            format!(
                "{date} is more than a year after the day it is recorded ({today}): a value \
                 date may lie at most {MAX_DAYS_AHEAD} days ahead"
            ),
        )
    }

    /// A rate must not overlap another of its program and category (rates.rs).
    fn set_rate(&mut self, rate: RateV1) -> Result<Body, PlanError> {
        let rates = match self.rates.take() {
            Some(rates) => rates,
            None => self.committed.rates().map_err(PlanError::Lookup)?,
        };
        let checked = check_new_rate(&rates, &rate);
        let rates = self.rates.insert(rates);
        if let Err(e) = checked {
            return reject(e.field(), e.to_string());
        }
        rates.push(rate.clone());
        Ok(Body::RateSet(rate))
    }

    fn enroll(&mut self, e: &Enrollment) -> Result<Body, PlanError> {
        if !(1..=MAX_MEMBERS).contains(&e.members) {
            return reject(
                "members",
                format!("{} is not 1 to {MAX_MEMBERS}", e.members),
            );
        }
        if e.subdistrict.trim().is_empty() {
            return reject("subdistrict", "is empty");
        }
        if e.community.trim().is_empty() {
            return reject("community", "is empty");
        }
        Ok(Body::HouseholdEnrolled(EnrolledV1::from_domain(e)))
    }

    fn allocate(&mut self, a: &Allocation) -> Result<Body, PlanError> {
        if a.amount < Money::from_fen(1) {
            return reject("amount", "an allocation must be at least 0.01");
        }
        let budget = self.budgets.entry(a.program.to_string()).or_default();
        budget.allocated_fen = budget
            .allocated_fen
            .checked_add(a.amount.fen())
            .ok_or_else(|| overflow("amount"))?;
        Ok(Body::FundAllocation(allocation_v1(a)))
    }

    /// The rules for a payment; its body is its content.
    fn check_payment(&mut self, p: &Payment) -> Result<(), PlanError> {
        if p.amount < p.kind.min_amount() {
            return reject(
                "amount",
                format!(
                    "a {} must be at least {}",
                    p.kind.code(),
                    p.kind.min_amount()
                ),
            );
        }
        if !(1..=MAX_PERSONS).contains(&p.persons) {
            return reject(
                "persons",
                format!("{} is not 1 to {MAX_PERSONS}", p.persons),
            );
        }
        self.household_number = self.check_enrolled_numbered(p.household.as_str(), p.date)?;
        self.check_not_ended(p)?;
        self.check_persons_eligible(p)?;
        self.spend(p.program.as_str(), p.amount)
    }

    fn check_enrolled(&self, household: &str, date: chrono::NaiveDate) -> Result<(), PlanError> {
        self.check_enrolled_numbered(household, date).map(|_| ())
    }

    /// [`Planner::check_enrolled`], and in a replay the household's number
    /// ([`Planner::household_number`]).
    fn check_enrolled_numbered(
        &self,
        household: &str,
        date: chrono::NaiveDate,
    ) -> Result<Option<u32>, PlanError> {
        let (enrolled_on, number) = match &self.replay_households {
            Some(households) => match households.enrolled_on(household) {
                Some((on, number)) => (Some(on), Some(number)),
                None => (None, None),
            },
            None => (
                self.new_households
                    .get(household)
                    .map(|info| info.enrollment.enrolled_on)
                    .or_else(|| self.committed_enrolled_on(household)),
                None,
            ),
        };
        match enrolled_on {
            None => reject("household_id", format!("{household} is not enrolled")),
            Some(enrolled_on) if enrolled_on > date => reject(
                "date",
                format!("{date} is before household {household} was enrolled ({enrolled_on})"),
            ),
            Some(_) => Ok(number),
        }
    }

    /// In a replay, the number of the household the payment last planned names, if
    /// the last plan was of a payment: the same number for every event naming that
    /// household, a different one for every other household (its place in the order the
    /// replay enrolled them). `None` outside a replay and after any other command.
    pub fn household_number(&self) -> Option<u32> {
        self.household_number
    }

    /// The day committed household `household` was enrolled on, if it is one: by its
    /// name's position once the batch has named it.
    fn committed_enrolled_on(&self, household: &str) -> Option<chrono::NaiveDate> {
        match self.name_ids.get(household) {
            Some(id) => self.committed_enrolled[id.get() as usize - 1],
            None => self.committed_household_enrolled_on(household),
        }
    }

    /// The day committed household `household` was enrolled on, searched for.
    fn committed_household_enrolled_on(&self, household: &str) -> Option<chrono::NaiveDate> {
        self.households
            .get(household)
            .map(|info| info.enrollment.enrolled_on)
    }

    /// Uses budget for a payment; refuses to pay beyond what was allocated.
    fn spend(&mut self, program: &str, amount: Money) -> Result<(), PlanError> {
        let budget = self.budgets.get(program).copied().unwrap_or_default();
        let after = budget
            .disbursed_fen
            .checked_add(amount.fen())
            .ok_or_else(|| overflow("amount"))?;
        if after > budget.allocated_fen {
            return reject(
                "amount",
                format!(
                    "{amount} exceeds what is left of program {program}: {} of {} allocated",
                    Money::from_fen(budget.remaining_fen()),
                    Money::from_fen(budget.allocated_fen)
                ),
            );
        }
        // get_mut first: the program is almost always budgeted already, and `entry` would
        // allocate its name for every payment.
        match self.budgets.get_mut(program) {
            Some(budget) => budget.disbursed_fen = after,
            None => {
                self.budgets
                    .entry(program.to_owned())
                    .or_default()
                    .disbursed_fen = after;
            }
        }
        Ok(())
    }

    fn reverse(&mut self, r: &ReversalRequest) -> Result<Body, PlanError> {
        let (target_seq, target) = self.live_target(&r.target)?;
        let (what, moved, paid) = match &target {
            Reversible::Payment(p) => ("payment", "was made to", p),
            Reversible::Recovery(recovery) => ("recovery", "came from", &recovery.paid),
        };
        if *paid.household != *r.household.as_str() {
            return reject(
                "household_id",
                format!(
                    "{what} {} {moved} {}, not {}",
                    r.target, paid.household, r.household
                ),
            );
        }
        if let Some(program) = &r.program {
            if program.as_str() != &*paid.program {
                return reject(
                    "program",
                    format!(
                        "{what} {} is in program {}, not {program}",
                        r.target, paid.program
                    ),
                );
            }
        }
        if r.amount.fen() != paid.amount_fen {
            return reject(
                "amount",
                format!(
                    "{} does not repeat the {what}'s amount {}",
                    r.amount,
                    Money::from_fen(paid.amount_fen)
                ),
            );
        }
        if r.reason.trim().is_empty() {
            return reject("memo", "a reversal needs a reason");
        }
        // A reversal undoes money that moved: it cannot take effect before it did.
        if date_to_days(r.date) < paid.value_date {
            let paid_on = days_to_date(paid.value_date)
                .map_or_else(|| paid.value_date.to_string(), |d| d.to_string());
            return reject(
                "date",
                format!(
                    "{} is before {what} {}'s own date {paid_on}",
                    r.date, r.target
                ),
            );
        }
        let body = ReversalV1 {
            target_seq: target_seq.get(),
            target_reference: r.target.to_string(),
            household: paid.household.to_string(),
            program: paid.program.to_string(),
            amount_fen: paid.amount_fen,
            persons: paid.persons,
            value_date: date_to_days(r.date),
            reason: r.reason.clone(),
        };
        match &target {
            Reversible::Payment(p) => {
                let budget = self.budgets.entry(p.program.to_string()).or_default();
                // Saturating: a replay reading its log back decides repeats at the end,
                // so a damaged log may reverse one payment any number of times first.
                budget.disbursed_fen = budget.disbursed_fen.saturating_sub(p.amount_fen);
            }
            Reversible::Recovery(recovery) => self.unrecover(recovery)?,
        }
        Ok(Body::Reversal(body))
    }

    /// The payment or recovery a reversal names: it must exist, be one of the two, and
    /// not be reversed yet.
    fn live_target(&self, target: &Reference) -> Result<(Seq, Reversible), PlanError> {
        let found = if let Some((seq, index)) = self.planned_seq(target.as_str())? {
            Some((seq, self.planned_target(seq, index)?))
        } else if let Some(seq) = self.committed_ref_of(target.as_str())? {
            let body = self.committed_body(seq)?;
            Some((seq, Reversible::of(&body)))
        } else {
            None
        };
        let reversal = Reference::for_reversal(target);
        match found {
            None => reject(
                "reference",
                format!("no payment has reference {target}, nor does a recovery"),
            ),
            Some((seq, None)) => reject(
                "reference",
                format!(
                    "{target} ({}) is not a payment or a recovery and cannot be reversed",
                    self.at(seq)
                ),
            ),
            // A replay reading its log back finds a repeat of the reversal's own
            // reference at the end (`first_repeat`), not by a search per reversal.
            Some((seq, Some(what)))
                if self.read_back.is_none() && self.is_recorded(&reversal)? =>
            {
                reject(
                    "reference",
                    format!(
                        "{} {target} ({}) is already reversed",
                        what.noun(),
                        self.at(seq)
                    ),
                )
            }
            Some((seq, Some(what))) => Ok((seq, what)),
        }
    }

    /// What a reversal may take from the event planned at `seq`, the `index`-th of the
    /// batch: from `planned`, or read again in a replay that keeps no facts.
    fn planned_target(&self, seq: Seq, index: usize) -> Result<Option<Reversible>, PlanError> {
        if let Some(bodies) = &self.bodies {
            return Ok(Reversible::of(
                &bodies.record(seq).map_err(PlanError::Lookup)?.body,
            ));
        }
        let Some(recent) = self.recent_position(index) else {
            return Ok(Reversible::of(&self.written_record(seq)?.body));
        };
        Ok(
            match (&self.planned[recent], self.planned_recoveries.get(&seq)) {
                (Some(paid), _) => Some(Reversible::Payment(self.paid_of(index, paid))),
                (None, Some(recovery)) => Some(Reversible::Recovery(recovery.clone())),
                (None, None) => None,
            },
        )
    }

    /// The seq and the position in `planned` of the event planned in this batch under
    /// `reference`: in a replay that reads its log back, a search of its digests (where
    /// the record says a reversal's target is, first) confirmed by the log.
    fn planned_seq(&self, reference: &str) -> Result<Option<(Seq, usize)>, PlanError> {
        let (Some(read_back), Some(bodies)) = (&self.read_back, &self.bodies) else {
            return self.planned_at(reference, RefDigest::of(reference));
        };
        let found = read_back
            .find(reference, self.target_hint, bodies.as_ref())
            .map_err(PlanError::Lookup)?;
        Ok(found.map(|seq| {
            let index = usize::try_from(seq.get() - self.first.get())
                .expect("a planned event's position fits in memory");
            (seq, index)
        }))
    }

    /// As [`Planner::planned_seq`], given the reference's digest: an archived event that
    /// shares the digest's fingerprint is read back to tell.
    fn planned_at(
        &self,
        reference: &str,
        ref_digest: RefDigest,
    ) -> Result<Option<(Seq, usize)>, PlanError> {
        let index = match self.new_refs.get(&ref_digest) {
            Found::At(index) => Some(index),
            Found::Candidates(candidates) => self.written_holding(reference, &candidates)?,
        };
        Ok(index.map(|index| (self.seq_of(index), index)))
    }

    /// The seq of the `index`-th event planned in this batch.
    fn seq_of(&self, index: usize) -> Seq {
        Seq::new(self.first.get() + index as u64)
    }

    /// Which of the archived events `candidates` (by position) holds `reference`, if any.
    fn written_holding(
        &self,
        reference: &str,
        candidates: &[usize],
    ) -> Result<Option<usize>, PlanError> {
        for &index in candidates {
            if self.written_record(self.seq_of(index))?.reference == reference {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }

    /// An archived event of this batch, read back from where it was written.
    fn written_record(&self, seq: Seq) -> Result<RecordV1, PlanError> {
        let written = self
            .written
            .as_ref()
            .expect("only a planner that reads its written events back archives them");
        written.record(seq).map_err(PlanError::Lookup)
    }

    /// The position in `planned` and `digests` of the `index`-th event of the batch, if it
    /// is not archived.
    fn recent_position(&self, index: usize) -> Option<usize> {
        index.checked_sub(self.new_refs.archived())
    }

    /// The digest of the content of the `index`-th event of the batch, at `seq`.
    fn planned_digest(
        &self,
        seq: Seq,
        index: usize,
    ) -> Result<[u8; keyed::DIGEST_BYTES], PlanError> {
        match self.recent_position(index) {
            // A replay keeps no digests: it never compares them (`existing`).
            Some(recent) => Ok(self.digests.get(recent).copied().unwrap_or_default()),
            None => Ok(digest(&normalized(self.written_record(seq)?.body))),
        }
    }

    /// Reads the events of this batch written beyond the head back from `written`, from
    /// now on, instead of keeping their references, contents and payments: the plan of a
    /// large batch then keeps a 4-byte fingerprint (and its table entry) per event
    /// written, and its entries in full only for the events in flight.
    pub fn read_written_from(&mut self, written: Arc<dyn WrittenLog + 'a>) {
        self.written = Some(written);
    }

    /// Archives the events written since the last archive, once there are
    /// [`ARCHIVE_EVENTS`] of them.
    fn archive_written(&mut self) {
        let Some(written) = &self.written else {
            return;
        };
        let through = written.written_through();
        let written = usize::try_from(through.saturating_sub(self.first.get() - 1))
            .unwrap_or(usize::MAX)
            .min(self.new_refs.len());
        let archived = self.new_refs.archived();
        if written < archived + ARCHIVE_EVENTS {
            return;
        }
        self.planned.drain(..written - archived);
        self.digests.drain(..written - archived);
        self.unpacked.retain(|index, _| *index >= written);
        self.new_refs.archive(written);
    }

    /// The planned payment of `p`, the next entry of `planned`.
    fn planned_payment(&mut self, p: &PaymentV1) -> PlannedPayment {
        let household = self.name_id(&p.household);
        let packed = self
            .program_position(&p.program)
            .and_then(|program| PackedPay::pack(p.amount_fen, program, p.persons))
            .unwrap_or_else(|| {
                let index = self.new_refs.archived() + self.planned.len();
                self.unpacked.insert(index, PaidFacts::of(p));
                PackedPay::UNPACKED
            });
        PlannedPayment {
            household,
            value_date: p.value_date,
            packed,
        }
    }

    /// What a reversal takes from the payment planned as the `index`-th event.
    fn paid_of(&self, index: usize, p: &PlannedPayment) -> PaidFacts {
        if p.packed == PackedPay::UNPACKED {
            if let Some(facts) = self.unpacked.get(&index) {
                return facts.clone();
            }
        }
        let (amount_fen, program, persons) = p.packed.unpack();
        PaidFacts {
            household: Arc::clone(&self.names[p.household.get() as usize - 1]),
            program: PROGRAMS.get(program).map_or("", |p| p.code).into(),
            amount_fen,
            persons,
            value_date: p.value_date,
        }
    }

    /// The catalog position of a payment's program, if the catalog has it.
    fn program_position(&mut self, code: &str) -> Option<usize> {
        if PROGRAMS
            .get(self.last_program)
            .is_some_and(|p| p.code == code)
        {
            return Some(self.last_program);
        }
        let position = PROGRAMS.iter().position(|p| p.code == code)?;
        self.last_program = position;
        Some(position)
    }

    /// The shared copy of a household id, program code or actor.
    fn name(&mut self, text: &str) -> Arc<str> {
        let id = self.name_id(text);
        Arc::clone(&self.names[id.get() as usize - 1])
    }

    /// The position of a name in `names`, adding it when it is new.
    fn name_id(&mut self, text: &str) -> NameId {
        if let Some(id) = self.name_ids.get(text) {
            return *id;
        }
        let name: Arc<str> = text.into();
        self.names.push(Arc::clone(&name));
        let enrolled_on = self.committed_household_enrolled_on(text);
        self.committed_enrolled.push(enrolled_on);
        let id = u32::try_from(self.names.len())
            .ok()
            .and_then(NameId::new)
            .expect("names are households, programs and actors: far fewer than 2^32");
        self.name_ids.insert(name, id);
        id
    }

    fn is_recorded(&self, reference: &Reference) -> Result<bool, PlanError> {
        Ok(self.planned_seq(reference.as_str())?.is_some()
            || self.committed_ref_of(reference.as_str())?.is_some())
    }

    fn note_household(&mut self, e: &EnrolledV1, seq: Seq) -> Result<(), PlanError> {
        let enrollment = e
            .to_domain()
            .map_err(|err| PlanError::Lookup(err.to_string()))?;
        if let Some(households) = &mut self.replay_households {
            households.insert(&e.household, enrollment.enrolled_on, seq);
            return Ok(());
        }
        let info = HouseholdInfo { enrollment, seq };
        self.new_households.insert(e.household.clone(), info);
        Ok(())
    }

    fn committed_ref(&self, reference: &str, digest: &RefDigest) -> Result<Option<Seq>, PlanError> {
        self.committed
            .reference(reference, digest)
            .map_err(PlanError::Lookup)
    }

    /// [`Planner::committed_ref`] of a reference whose digest is not at hand.
    fn committed_ref_of(&self, reference: &str) -> Result<Option<Seq>, PlanError> {
        self.committed_ref(reference, &RefDigest::of(reference))
    }

    fn committed_body(&self, seq: Seq) -> Result<Body, PlanError> {
        self.committed.body(seq).map_err(PlanError::Lookup)
    }
}

fn overflow(field: &'static str) -> PlanError {
    PlanError::Rejected(Rejection {
        field,
        reason: "the program's total would overflow".into(),
    })
}

/// The day (since 1970-01-01) of a time in microseconds since the Unix epoch; times
/// beyond the calendar saturate, which only moves them further from any value date.
fn day_of(us: i64) -> i32 {
    let day = us.div_euclid(MICROS_PER_DAY);
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX })
}

/// The command that would have produced a stored record, each value checked as an import
/// or the API checks it (import.rs) and the derived references as the ledger derives them.
/// A replay of the log (audit.rs) plans it again and requires exactly the stored body at
/// the stored seq. Fails, naming the field, when no command could have carried the values.
pub fn stored_command(record: &RecordV1) -> Result<Command, Rejection> {
    checked_text("actor", &record.actor, true)?;
    Ok(match &record.body {
        Body::HouseholdEnrolled(e) => Command::Enroll(Enrollment {
            household: household(&e.household)?,
            subdistrict: text("subdistrict", &e.subdistrict, true)?,
            community: text("community", &e.community, true)?,
            category: stored_category(e.category).map_err(|err| rejection("category", err))?,
            members: e.members,
            enrolled_on: date("enrolled_on", e.enrolled_on)?,
        }),
        Body::FundAllocation(a) => Command::Allocate(Allocation {
            program: program(&a.program)?,
            amount: money("amount", a.amount_fen)?,
            date: date("date", a.value_date)?,
            reference: Reference::parse(&record.reference)
                .map_err(|e| rejection("reference", e))?,
            source: text("memo", &a.source, false)?,
        }),
        Body::Reversal(r) => Command::Reverse(ReversalRequest {
            target: Reference::parse_payment_target(&r.target_reference)
                .map_err(|e| rejection("reference", e))?,
            household: household(&r.household)?,
            program: Some(program(&r.program)?),
            amount: money("amount", r.amount_fen)?,
            date: date("date", r.value_date)?,
            reason: text("memo", &r.reason, false)?,
        }),
        Body::RateSet(r) => Command::SetRate(Rate {
            program: program(&r.program)?,
            category: stored_category(r.category).map_err(|err| rejection("category", err))?,
            per_member: money("per_member", r.per_member_fen)?,
            valid_from: date("valid_from", r.valid_from)?,
            valid_to: r.valid_to.map(|d| date("valid_to", d)).transpose()?,
        }),
        Body::Reconciliation(r) => Command::RecordReconciliation(stored_reconciliation(r)?),
        Body::PersonAdded(p) => Command::AddPerson(people::stored_person(p)?),
        Body::PersonRevealed(a) => {
            Command::RevealPerson(people::stored_access(a, Some(&record.reference))?)
        }
        Body::PersonErased(a) => Command::ErasePerson(people::stored_access(a, None)?),
        Body::FindingResolved(f) => Command::ResolveFinding(findings::stored_finding_decision(
            f,
            &record.reference,
            &record.actor,
        )?),
        Body::RecoveryReceived(r) => {
            Command::RecordRecovery(recoveries::stored_recovery(r, &record.reference)?)
        }
        Body::HoldReleased(r) => Command::ReleaseHold(release::stored_release(r)?),
        other if other.life_event().is_some() => {
            Command::RecordLifeEvent(people::stored_life_event(other, &record.reference)?)
        }
        other => {
            let (kind, p) = other
                .payment()
                .ok_or_else(|| rejection("type", "not a payment of a known kind"))?;
            stored_payment(kind, p, other.account(), &record.reference)?
        }
    })
}

fn stored_payment(
    kind: PaymentKind,
    p: &PaymentV1,
    account: Option<&AccountV1>,
    reference: &str,
) -> Result<Command, Rejection> {
    let payment = Payment {
        kind,
        household: household(&p.household)?,
        program: program(&p.program)?,
        amount: money("amount", p.amount_fen)?,
        persons: p.persons,
        date: date("date", p.value_date)?,
        reference: Reference::from_stored(reference.to_owned()),
        memo: text("memo", &p.memo, false)?,
        account: account.map(stored_account).transpose()?,
    };
    if !reference.starts_with(ALLOWANCE_REFERENCE_PREFIX) {
        Reference::check(reference).map_err(|e| rejection("reference", e))?;
        return Ok(Command::Pay(payment));
    }
    // Only the allowance run makes these: its disbursement of the month for the household.
    let month = Month::of(payment.date);
    let derived = Reference::for_allowance(month, &payment.household);
    let by_the_run = kind == PaymentKind::Disbursement
        && payment.program.as_str() == ALLOWANCE_PROGRAM
        && payment.date == month.last_day()
        && payment.account.is_none()
        && derived.as_str() == reference;
    if !by_the_run {
        return Err(rejection(
            "reference",
            format!(
                "{reference}: only the allowance run records {ALLOWANCE_REFERENCE_PREFIX} \
                 references, as the {ALLOWANCE_PROGRAM} disbursement to the household it \
                 names, dated the last day of the month it names"
            ),
        ));
    }
    Ok(Command::Pay(payment))
}

fn stored_reconciliation(r: &ReconciliationV1) -> Result<ReconciliationSummary, Rejection> {
    let period = match r.period.as_str() {
        "" => None,
        text => Some(Month::parse(text).map_err(|e| rejection("period", e))?),
    };
    Ok(ReconciliationSummary {
        statement_hash: r.statement_hash,
        period,
        bank_rows: r.bank_rows,
        matched_count: r.matched_count,
        matched: Money::from_fen(r.matched_fen),
        differences: DifferenceCounts {
            missing_in_bank: r.missing_in_bank,
            missing_in_ledger: r.missing_in_ledger,
            amount_mismatch: r.amount_mismatch,
            duplicate_in_bank: r.duplicate_in_bank,
            reversed_but_paid: r.reversed_but_paid,
        },
        report_hash: r.report_hash,
    })
}

fn rejection(field: &'static str, reason: impl ToString) -> Rejection {
    Rejection {
        field,
        reason: reason.to_string(),
    }
}

fn household(text: &str) -> Result<HouseholdId, Rejection> {
    HouseholdId::parse(text).map_err(|e| rejection("household_id", e))
}

fn program(text: &str) -> Result<ProgramCode, Rejection> {
    ProgramCode::parse(text).map_err(|e| rejection("program", e))
}

fn text(field: &'static str, value: &str, required: bool) -> Result<String, Rejection> {
    checked_text(field, value, required).map(|()| value.to_owned())
}

/// As [`text`], for a field whose value the command does not carry (the actor).
fn checked_text(field: &'static str, value: &str, required: bool) -> Result<(), Rejection> {
    validate_text(value, required).map_err(|e| rejection(field, format!("{value:?} {e}")))
}

/// An amount an import can give: not negative, below the ceiling.
fn money(field: &'static str, fen: i64) -> Result<Money, Rejection> {
    Money::amount_from_fen(fen).map_err(|e| rejection(field, e))
}

/// A date an import can give: a day of the calendar with a four-digit year.
fn date(field: &'static str, days: i32) -> Result<NaiveDate, Rejection> {
    match days_to_date(days) {
        Some(date) if (0..=9999).contains(&date.year()) => Ok(date),
        _ => Err(rejection(
            field,
            format!("day {days} is not a date YYYY-MM-DD"),
        )),
    }
}

fn allocation_v1(a: &Allocation) -> AllocationV1 {
    AllocationV1 {
        program: a.program.to_string(),
        amount_fen: a.amount.fen(),
        value_date: date_to_days(a.date),
        source: a.source.clone(),
    }
}

fn reconciliation_v1(r: &crate::model::domain::ReconciliationSummary) -> ReconciliationV1 {
    let d = &r.differences;
    ReconciliationV1 {
        statement_hash: r.statement_hash,
        period: r.period.map_or(String::new(), |m| m.to_string()),
        bank_rows: r.bank_rows,
        matched_count: r.matched_count,
        matched_fen: r.matched.fen(),
        missing_in_bank: d.missing_in_bank,
        missing_in_ledger: d.missing_in_ledger,
        amount_mismatch: d.amount_mismatch,
        duplicate_in_bank: d.duplicate_in_bank,
        reversed_but_paid: d.reversed_but_paid,
        report_hash: r.report_hash,
    }
}

/// A payment's body: with its payee account when it names one.
fn payment_body(p: &Payment) -> Body {
    match &p.account {
        None => Body::from_payment(p.kind, payment_v1(p)),
        Some(account) => Body::PaymentToAccount(AccountPaymentV1 {
            kind: payment_kind_code(p.kind),
            payment: payment_v1(p),
            account: AccountV1 {
                hash: *account.hash.as_bytes(),
                last4: account.last4.clone(),
            },
        }),
    }
}

/// The account a stored payment names: its last four characters are digits.
fn stored_account(a: &AccountV1) -> Result<PayeeAccount, Rejection> {
    if a.last4.len() != 4 || !a.last4.bytes().all(|b| b.is_ascii_digit()) {
        return Err(rejection(
            "account",
            "the last four digits are not four digits",
        ));
    }
    Ok(PayeeAccount {
        hash: AccountHash::from_bytes(a.hash),
        last4: a.last4.clone(),
    })
}

fn payment_v1(p: &Payment) -> PaymentV1 {
    PaymentV1 {
        // Copied, not formatted: `to_string` grew each through the formatter.
        household: p.household.as_str().to_owned(),
        program: p.program.as_str().to_owned(),
        amount_fen: p.amount.fen(),
        persons: p.persons,
        value_date: date_to_days(p.date),
        memo: p.memo.clone(),
    }
}

/// A stored body with the fields the ledger resolved zeroed, as [`Planner::content`] does.
fn normalized(body: Body) -> Body {
    match body {
        Body::Reversal(r) => Body::Reversal(ReversalV1 {
            target_seq: 0,
            program: String::new(),
            persons: 0,
            ..r
        }),
        other => other,
    }
}

/// Rows whose digests [`Planner::look_ahead`] keeps: the one planned next and the two told
/// after it.
const LOOK_AHEAD_SLOTS: usize = 3;

/// Bytes reserved for a body's encoding when digesting it: more than a typical payment's.
const TYPICAL_BODY_BYTES: usize = 256;

/// A short digest of a body's content, to compare a retry with what was planned: the
/// keyed digest of its encoding (`model::keyed`). Encoded into a buffer first: streamed,
/// bincode would feed the hasher one field at a time, which costs more than the hashing.
fn digest(body: &Body) -> [u8; keyed::DIGEST_BYTES] {
    let mut bytes = Vec::with_capacity(TYPICAL_BODY_BYTES);
    write_body(body, &mut bytes);
    keyed::digest(&bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::domain::Category;

    /// The planner keeps one of these per row of a batch (a million rows and more), and
    /// a replay one per event of the log.
    #[test]
    fn a_planned_event_takes_16_bytes() {
        assert_eq!(std::mem::size_of::<PlannedEvent>(), 16);
    }

    struct Empty;
    impl Committed for Empty {
        fn reference(&self, _: &str, _: &RefDigest) -> Result<Option<Seq>, String> {
            Ok(None)
        }
        fn body(&self, seq: Seq) -> Result<Body, String> {
            Err(format!("no event {seq}"))
        }
    }

    /// 2026-12-05, the recording time of the tests' batches.
    pub(crate) const NOW_US: i64 = 20_427 * MICROS_PER_DAY;

    pub(crate) fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Commands for the crate's unit tests.
    pub(crate) fn enroll(id: &str, on: &str) -> Command {
        Command::Enroll(Enrollment {
            household: HouseholdId::parse(id).unwrap(),
            subdistrict: "拓东".into(),
            community: "拓东第1社区".into(),
            category: Category::Bereaved,
            members: 2,
            enrolled_on: date(on),
        })
    }

    pub(crate) fn allocate(amount: &str, reference: &str) -> Command {
        Command::Allocate(Allocation {
            program: ProgramCode::parse("support_allowance").unwrap(),
            amount: Money::parse(amount).unwrap(),
            date: date("2015-01-01"),
            reference: Reference::parse(reference).unwrap(),
            source: "区财政".into(),
        })
    }

    pub(crate) fn pay(id: &str, amount: &str, reference: &str) -> Command {
        Command::Pay(Payment {
            kind: PaymentKind::Disbursement,
            household: HouseholdId::parse(id).unwrap(),
            program: ProgramCode::parse("support_allowance").unwrap(),
            amount: Money::parse(amount).unwrap(),
            persons: 2,
            date: date("2015-02-01"),
            reference: Reference::parse(reference).unwrap(),
            memo: String::new(),
            account: None,
        })
    }

    pub(crate) fn rejected(result: Result<Planned, PlanError>) -> Rejection {
        match result {
            Err(PlanError::Rejected(r)) => r,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    /// A planner over nothing committed but `households`.
    fn planner_over(households: &BTreeMap<String, HouseholdInfo>) -> Planner<'_> {
        let registries = Registries {
            households,
            people: &NO_PEOPLE,
        };
        Planner::new(&Empty, registries, &Budgets::new(), Seq::FIRST, NOW_US)
    }

    #[test]
    fn a_batch_sees_its_own_households_refs_and_budget() {
        let households = BTreeMap::new();
        let mut p = planner_over(&households);
        assert!(matches!(
            p.plan(&enroll("H1", "2014-01-01")),
            Ok(Planned::Append { seq, .. }) if seq == Seq::new(1)
        ));
        assert!(matches!(
            p.plan(&allocate("100.00", "A1")),
            Ok(Planned::Append { seq, .. }) if seq == Seq::new(2)
        ));
        assert!(matches!(
            p.plan(&pay("H1", "60.00", "P1")),
            Ok(Planned::Append { seq, .. }) if seq == Seq::new(3)
        ));
        assert_eq!(
            p.plan(&pay("H1", "60.00", "P1")).unwrap(),
            Planned::Duplicate(Seq::new(3))
        );
        let r = rejected(p.plan(&pay("H1", "50.00", "P2")));
        assert_eq!(r.field, "amount");
        assert!(r.reason.contains("40.00 of 100.00"), "{}", r.reason);
        let r = rejected(p.plan(&pay("H1", "1.00", "P1")));
        assert_eq!(r.field, "reference");
        assert_eq!(p.budgets()["support_allowance"].disbursed_fen, 6000);
    }

    /// Payments told ahead, as an import tells the row after the one it plans, are planned
    /// as if nothing was told: a digest told is taken only for its own reference, and a
    /// row told but never planned (refused as it was read) is taken for no other.
    #[test]
    fn payments_told_ahead_are_planned_as_payments_not_told() {
        let households = BTreeMap::new();
        let mut p = planner_over(&households);
        p.plan(&enroll("H1", "2014-01-01")).unwrap();
        p.plan(&allocate("100.00", "A1")).unwrap();
        p.look_ahead(Some(&pay("H1", "10.00", "P1")));
        p.look_ahead(Some(&pay("H1", "10.00", "P2")));
        assert!(matches!(
            p.plan(&pay("H1", "10.00", "P1")),
            Ok(Planned::Append { seq, .. }) if seq == Seq::new(3)
        ));
        p.look_ahead(Some(&pay("H1", "10.00", "P9")));
        assert!(matches!(
            p.plan(&pay("H1", "10.00", "P2")),
            Ok(Planned::Append { seq, .. }) if seq == Seq::new(4)
        ));
        // P9's digest is still held; P2's told again is taken by a retry of P2.
        p.look_ahead(Some(&pay("H1", "10.00", "P2")));
        assert_eq!(
            p.plan(&pay("H1", "10.00", "P2")).unwrap(),
            Planned::Duplicate(Seq::new(4))
        );
        // P1's told with other content: the repeat is still found, and refused.
        p.look_ahead(Some(&pay("H1", "10.00", "P1")));
        let r = rejected(p.plan(&pay("H1", "20.00", "P1")));
        assert_eq!(r.field, "reference");
        // P2's digest told, P3 planned: P3 is new, not a retry of P2. A row that is not
        // a payment, or none, is told nothing of.
        p.look_ahead(Some(&pay("H1", "10.00", "P2")));
        p.look_ahead(Some(&allocate("1.00", "P3")));
        p.look_ahead(None);
        p.look_ahead(Some(&pay("H1", "10.00", "P2")));
        assert!(matches!(
            p.plan(&pay("H1", "10.00", "P3")),
            Ok(Planned::Append { seq, .. }) if seq == Seq::new(5)
        ));
        assert_eq!(p.budgets()["support_allowance"].disbursed_fen, 3000);
    }

    /// A committed household's enrollment day decides its payments whether the batch
    /// has named it before or not, and under another name's position (an actor's, a
    /// household enrolled in the batch) nothing of it is taken.
    #[test]
    fn a_committed_household_is_enrolled_from_its_day_on_each_time_it_is_named() {
        let info = |on: &str| HouseholdInfo {
            enrollment: Enrollment {
                household: HouseholdId::parse("H1").unwrap(),
                subdistrict: "拓东".into(),
                community: "拓东第1社区".into(),
                category: Category::Bereaved,
                members: 2,
                enrolled_on: date(on),
            },
            seq: Seq::new(1),
        };
        let households = BTreeMap::from([("H1".to_string(), info("2015-02-01"))]);
        let mut p = planner_over(&households);
        p.plan(&allocate("100.00", "A1")).unwrap();
        let early = |reference: &str| match pay("H1", "1.00", reference) {
            Command::Pay(payment) => Command::Pay(Payment {
                date: date("2015-01-31"),
                ..payment
            }),
            _ => unreachable!("pay() makes a payment"),
        };
        for round in ["a", "b"] {
            let r = rejected(p.plan(&early(&format!("E{round}"))));
            assert_eq!(r.field, "date", "{round}: {}", r.reason);
            assert!(r.reason.contains("(2015-02-01)"), "{}", r.reason);
            p.plan(&pay("H1", "1.00", &format!("P{round}"))).unwrap();
        }
        assert_eq!(p.committed_enrolled, vec![Some(date("2015-02-01"))]);
        p.plan(&enroll("H2", "2015-01-01")).unwrap();
        p.plan(&pay("H2", "1.00", "P2")).unwrap();
        assert_eq!(p.committed_enrolled.len(), p.names.len());
        assert_eq!(p.committed_enrolled[1], None);
        let r = rejected(p.plan(&pay("H3", "1.00", "P3")));
        assert_eq!(
            (r.field, r.reason.as_str()),
            ("household_id", "H3 is not enrolled")
        );
    }

    #[test]
    fn a_rollback_forgets_what_was_planned_after_the_savepoint() {
        let households = BTreeMap::new();
        let mut p = planner_over(&households);
        p.plan(&enroll("H1", "2014-01-01")).unwrap();
        p.plan(&allocate("100.00", "A1")).unwrap();
        let savepoint = p.savepoint();
        p.plan(&enroll("H2", "2014-01-01")).unwrap();
        p.plan(&pay("H1", "60.00", "P1")).unwrap();
        p.rollback(savepoint);
        assert_eq!(p.budgets()["support_allowance"].disbursed_fen, 0);
        assert!(!p.new_households().contains_key("H2"));
        assert_eq!(
            rejected(p.plan(&pay("H2", "1.00", "P2"))).field,
            "household_id"
        );
        assert!(matches!(
            p.plan(&pay("H1", "60.00", "P1")),
            Ok(Planned::Append { seq, .. }) if seq == Seq::new(3)
        ));
    }

    #[test]
    fn a_replay_s_households_refuse_an_early_date_and_forget_a_rolled_back_enrollment() {
        let mut p = Planner::replay_of(8);
        let micros_per_day = 86_400_000_000;
        p.set_recorded_at(i64::from(date_to_days(date("2015-06-01"))) * micros_per_day);
        p.plan(&enroll("H1", "2015-03-01")).unwrap();
        p.plan(&allocate("100.00", "A1")).unwrap();
        let r = rejected(p.plan(&pay("H1", "1.00", "P0")));
        assert_eq!(r.field, "date");
        assert!(
            r.reason.contains("was enrolled (2015-03-01)"),
            "{}",
            r.reason
        );
        let savepoint = p.savepoint();
        p.plan(&enroll("H2", "2014-01-01")).unwrap();
        p.rollback(savepoint);
        assert!(p.new_households().is_empty());
        let r = rejected(p.plan(&pay("H2", "1.00", "P2")));
        assert_eq!(
            (r.field, r.reason.as_str()),
            ("household_id", "H2 is not enrolled")
        );
    }

    #[test]
    fn a_replay_keeps_no_digests_and_still_refuses_a_repeated_reference() {
        let mut p = Planner::replay_of(8);
        assert!(p.planned.capacity() >= 8);
        let micros_per_day = 86_400_000_000;
        p.set_recorded_at(i64::from(date_to_days(date("2015-06-01"))) * micros_per_day);
        p.plan(&enroll("H1", "2014-01-01")).unwrap();
        p.plan(&allocate("100.00", "A1")).unwrap();
        p.plan(&pay("H1", "60.00", "P1")).unwrap();
        // An identical repeat is a retry to a batch, a fault to a replay.
        let r = rejected(p.plan(&pay("H1", "60.00", "P1")));
        assert_eq!(r.field, "reference");
        assert!(r.reason.contains("seq 3"), "{}", r.reason);
        let reverse = Command::Reverse(ReversalRequest {
            target: Reference::parse("P1").unwrap(),
            household: HouseholdId::parse("H1").unwrap(),
            program: None,
            amount: Money::from_fen(6000),
            date: date("2015-03-01"),
            reason: "重复支付".into(),
        });
        assert!(matches!(
            p.plan(&reverse),
            Ok(Planned::Append { seq, .. }) if seq == Seq::new(4)
        ));
        assert_eq!((p.planned.len(), p.digests.len()), (4, 0));
    }

    /// The log a replay has planned so far, as a verifier would read it back.
    #[derive(Default)]
    struct PlannedLog(std::sync::Mutex<BTreeMap<Seq, RecordV1>>);

    impl PlannedLog {
        fn note(&self, planned: &Planned) {
            if let Some(record) = planned_record(planned, 0) {
                self.0.lock().unwrap().insert(Seq::new(record.seq), record);
            }
        }
    }

    /// The record a planned append is written as, recorded by `clerk` at `recorded_at_us`;
    /// `None` for anything else planned.
    pub(super) fn planned_record(planned: &Planned, recorded_at_us: i64) -> Option<RecordV1> {
        let Planned::Append {
            seq,
            reference,
            body,
        } = planned
        else {
            return None;
        };
        Some(RecordV1 {
            seq: seq.get(),
            recorded_at_us,
            actor: "clerk".into(),
            reference: reference.to_string(),
            body: body.clone(),
        })
    }

    impl ReplayedBodies for PlannedLog {
        fn record(&self, seq: Seq) -> Result<RecordV1, String> {
            let log = self.0.lock().map_err(|e| e.to_string())?;
            log.get(&seq)
                .cloned()
                .ok_or_else(|| format!("no event {seq}"))
        }

        fn references(
            &self,
            seqs: std::ops::RangeInclusive<Seq>,
            each: &mut dyn FnMut(Seq, &str),
        ) -> Result<(), String> {
            let log = self.0.lock().map_err(|e| e.to_string())?;
            for (seq, record) in log.range(seqs) {
                each(*seq, &record.reference);
            }
            Ok(())
        }
    }

    fn reversal(target: &str, household: &str, fen: i64, on: &str) -> Command {
        Command::Reverse(ReversalRequest {
            target: Reference::parse(target).unwrap(),
            household: HouseholdId::parse(household).unwrap(),
            program: None,
            amount: Money::from_fen(fen),
            date: date(on),
            reason: "重复支付".into(),
        })
    }

    #[test]
    fn a_replay_reading_its_log_keeps_no_facts_and_decides_as_one_that_keeps_them() {
        let log = Arc::new(PlannedLog::default());
        let mut reading = Planner::replay_reading(16, log.clone());
        let mut keeping = Planner::replay_of(16);
        let recorded_at = i64::from(date_to_days(date("2015-06-01"))) * MICROS_PER_DAY;
        let commands = [
            enroll("H1", "2014-01-01"),
            enroll("H2", "2014-01-01"),
            allocate("100.00", "A1"),
            pay("H1", "60.00", "P1"),
            pay("H2", "10.00", "P2"),
            reversal("P1", "H2", 6000, "2015-03-01"),
            reversal("P1", "H1", 5000, "2015-03-01"),
            reversal("P1", "H1", 6000, "2014-12-31"),
            reversal("A1", "H1", 6000, "2015-03-01"),
            reversal("P9", "H1", 6000, "2015-03-01"),
            reversal("P1", "H1", 6000, "2015-03-01"),
            reversal("P2", "H2", 1000, "2015-03-01"),
        ];
        let mut refused = 0;
        for command in &commands {
            reading.set_recorded_at(recorded_at);
            keeping.set_recorded_at(recorded_at);
            let read = reading.plan(command);
            let kept = keeping.plan(command);
            match (read, kept) {
                (Ok(read), Ok(kept)) => {
                    assert_eq!(read, kept);
                    log.note(&read);
                }
                (Err(PlanError::Rejected(read)), Err(PlanError::Rejected(kept))) => {
                    assert_eq!(read, kept);
                    refused += 1;
                }
                (read, kept) => panic!("{read:?} against {kept:?}"),
            }
        }
        assert_eq!(refused, 5, "each faulty reversal is refused by both");
        assert_eq!(reading.budgets(), keeping.budgets());
        assert_eq!(reading.budgets()["support_allowance"].disbursed_fen, 0);
        assert_eq!((reading.planned.len(), keeping.planned.len()), (0, 7));
        // A second reversal of P1 repeats its reversal's reference: refused by a plan
        // that looks references up, found at the end by one that reads its log back.
        let again = reversal("P1", "H1", 6000, "2015-03-02");
        reading.set_recorded_at(recorded_at);
        keeping.set_recorded_at(recorded_at);
        let Err(PlanError::Rejected(kept)) = keeping.plan(&again) else {
            panic!("a second reversal is refused");
        };
        let read = reading.plan(&again).unwrap();
        log.note(&read);
        assert_eq!(reading.first_repeat().unwrap(), Some((Seq::new(8), kept)));
    }

    #[test]
    fn a_replay_reading_its_log_back_finds_the_first_repeat_far_from_its_first_use() {
        let log = Arc::new(PlannedLog::default());
        let mut p = Planner::replay_reading(4_000, log.clone());
        p.set_recorded_at(i64::from(date_to_days(date("2015-06-01"))) * MICROS_PER_DAY);
        let plan = |p: &mut Planner, command: &Command| {
            let planned = p.plan(command).unwrap();
            log.note(&planned);
        };
        plan(&mut p, &enroll("H1", "2014-01-01"));
        plan(&mut p, &allocate("100000.00", "A1"));
        for i in 0..3_000 {
            plan(&mut p, &pay("H1", "1.00", &format!("P{i}")));
        }
        // P7 (seq 10) again at seq 3003, then P5 (seq 8) again at seq 3004: the earlier
        // repeat is the fault, though the reference it repeats came later.
        plan(&mut p, &pay("H1", "2.00", "P7"));
        plan(&mut p, &pay("H1", "2.00", "P5"));
        let (seq, rejection) = p.first_repeat().unwrap().expect("P7 repeats");
        assert_eq!(seq, Seq::new(3003));
        assert_eq!(rejection.field, "reference");
        assert_eq!(
            rejection.reason,
            "P7 is already recorded as seq 10 with different content"
        );
    }

    #[test]
    fn a_replay_reading_its_log_back_refuses_a_repeat_refused_for_another_reason_as_a_repeat() {
        let log = Arc::new(PlannedLog::default());
        let mut p = Planner::replay_reading(8, log.clone());
        p.set_recorded_at(i64::from(date_to_days(date("2015-06-01"))) * MICROS_PER_DAY);
        for command in [
            enroll("H1", "2014-01-01"),
            allocate("100.00", "A1"),
            pay("H1", "60.00", "P1"),
        ] {
            log.note(&p.plan(&command).unwrap());
        }
        // Over the budget as well as a repeat: a plan checks the reference first.
        let r = rejected(p.plan(&pay("H1", "60.00", "P1")));
        assert_eq!(
            (r.field, r.reason.as_str()),
            (
                "reference",
                "P1 is already recorded as seq 3 with different content"
            )
        );
        let r = rejected(p.plan(&pay("H1", "60.00", "P2")));
        assert_ne!(r.field, "reference", "{r:?}");
        assert_eq!(p.first_repeat().unwrap(), None);
    }

    #[test]
    fn a_replay_that_cannot_read_a_reversals_target_stops_with_the_reason() {
        let mut p = Planner::replay_reading(4, Arc::new(PlannedLog::default()));
        p.set_recorded_at(i64::from(date_to_days(date("2015-06-01"))) * MICROS_PER_DAY);
        p.plan(&enroll("H1", "2014-01-01")).unwrap();
        p.plan(&allocate("100.00", "A1")).unwrap();
        p.plan(&pay("H1", "60.00", "P1")).unwrap();
        match p.plan(&reversal("P1", "H1", 6000, "2015-03-01")) {
            Err(PlanError::Lookup(reason)) => assert_eq!(reason, "no event 3"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_payment_packs_its_amount_program_and_persons_while_they_fit() {
        let last = PROGRAMS.len() - 1;
        for (fen, program, persons) in [(1, 0, 1), (MAX_PACKED_AMOUNT_FEN - 1, last, MAX_PERSONS)] {
            let packed = PackedPay::pack(fen, program, persons).unwrap();
            assert_ne!(packed, PackedPay::UNPACKED);
            assert_eq!(packed.unpack(), (fen, program, persons));
        }
        assert_eq!(PackedPay::pack(MAX_PACKED_AMOUNT_FEN, 0, 1), None);
        assert_eq!(PackedPay::pack(-1, 0, 1), None);
        assert_eq!(PackedPay::pack(1, 1 << PROGRAM_BITS, 1), None);
        assert_eq!(PackedPay::pack(1, 0, 1 << PERSONS_BITS), None);
    }

    #[test]
    fn a_payment_too_large_to_pack_is_reversed_from_its_kept_facts() {
        let households = BTreeMap::new();
        let mut p = planner_over(&households);
        let big = MAX_PACKED_AMOUNT_FEN + 5;
        let with_fen = |command: Command| match command {
            Command::Pay(pay) => Command::Pay(Payment {
                amount: Money::from_fen(big),
                ..pay
            }),
            Command::Allocate(a) => Command::Allocate(Allocation {
                amount: Money::from_fen(big),
                ..a
            }),
            other => other,
        };
        p.plan(&enroll("H1", "2014-01-01")).unwrap();
        p.plan(&with_fen(allocate("1.00", "A1"))).unwrap();
        let savepoint = p.savepoint();
        p.plan(&with_fen(pay("H1", "1.00", "P1"))).unwrap();
        assert_eq!(p.unpacked.len(), 1);
        let reversed = p.plan(&reversal("P1", "H1", big, "2015-03-01")).unwrap();
        match reversed {
            Planned::Append {
                body: Body::Reversal(r),
                ..
            } => {
                assert_eq!((r.amount_fen, r.persons), (big, 2));
                assert_eq!(
                    (r.household.as_str(), r.program.as_str()),
                    ("H1", "support_allowance")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.budgets()["support_allowance"].disbursed_fen, 0);
        p.rollback(savepoint);
        assert!(
            p.unpacked.is_empty(),
            "a rollback forgets the kept facts too"
        );
    }

    #[test]
    fn payments_of_alternating_programs_are_reversed_in_their_own_programs() {
        let households = BTreeMap::new();
        let mut p = planner_over(&households);
        let in_program = |command: Command, code: &str| match command {
            Command::Pay(pay) => Command::Pay(Payment {
                program: ProgramCode::parse(code).unwrap(),
                ..pay
            }),
            Command::Allocate(a) => Command::Allocate(Allocation {
                program: ProgramCode::parse(code).unwrap(),
                ..a
            }),
            other => other,
        };
        p.plan(&enroll("H1", "2014-01-01")).unwrap();
        p.plan(&allocate("100.00", "A1")).unwrap();
        p.plan(&in_program(allocate("100.00", "A2"), "micro_wish"))
            .unwrap();
        p.plan(&pay("H1", "10.00", "P1")).unwrap();
        p.plan(&in_program(pay("H1", "20.00", "P2"), "micro_wish"))
            .unwrap();
        p.plan(&pay("H1", "30.00", "P3")).unwrap();
        for (target, program, fen) in [
            ("P2", "micro_wish", 2000),
            ("P1", "support_allowance", 1000),
        ] {
            let reverse = Command::Reverse(ReversalRequest {
                target: Reference::parse(target).unwrap(),
                household: HouseholdId::parse("H1").unwrap(),
                program: Some(ProgramCode::parse(program).unwrap()),
                amount: Money::from_fen(fen),
                date: date("2015-03-01"),
                reason: "重复支付".into(),
            });
            assert!(p.plan(&reverse).is_ok(), "{target}");
        }
        assert_eq!(p.budgets()["support_allowance"].disbursed_fen, 3000);
        assert_eq!(p.budgets()["micro_wish"].disbursed_fen, 0);
    }

    #[test]
    fn a_batch_keeps_a_digest_per_planned_event() {
        let households = BTreeMap::new();
        let mut p = planner_over(&households);
        p.plan(&enroll("H1", "2014-01-01")).unwrap();
        p.plan(&allocate("100.00", "A1")).unwrap();
        let savepoint = p.savepoint();
        p.plan(&pay("H1", "60.00", "P1")).unwrap();
        assert_eq!((p.planned.len(), p.digests.len()), (3, 3));
        // A command refused after its content was digested leaves no digest behind.
        let r = rejected(p.plan(&pay("H1", "60.00", "P2")));
        assert_eq!(r.field, "amount");
        assert_eq!((p.planned.len(), p.digests.len()), (3, 3));
        assert!(matches!(
            p.plan(&pay("H1", "40.00", "P3")),
            Ok(Planned::Append { seq, .. }) if seq == Seq::new(4)
        ));
        assert_eq!(
            p.plan(&pay("H1", "40.00", "P3")).unwrap(),
            Planned::Duplicate(Seq::new(4))
        );
        p.rollback(savepoint);
        assert_eq!((p.planned.len(), p.digests.len()), (2, 2));
    }

    #[test]
    fn a_reversal_frees_budget_and_cannot_repeat() {
        let households = BTreeMap::new();
        let mut p = planner_over(&households);
        p.plan(&enroll("H1", "2014-01-01")).unwrap();
        p.plan(&allocate("100.00", "A1")).unwrap();
        p.plan(&pay("H1", "100.00", "P1")).unwrap();
        let reverse = Command::Reverse(ReversalRequest {
            target: Reference::parse("P1").unwrap(),
            household: HouseholdId::parse("H1").unwrap(),
            program: None,
            amount: Money::from_fen(10000),
            date: date("2015-03-01"),
            reason: "重复支付".into(),
        });
        assert!(matches!(
            p.plan(&reverse),
            Ok(Planned::Append { seq, .. }) if seq == Seq::new(4)
        ));
        assert_eq!(p.plan(&reverse).unwrap(), Planned::Duplicate(Seq::new(4)));
        assert_eq!(p.budgets()["support_allowance"].disbursed_fen, 0);
        assert!(p.plan(&pay("H1", "100.00", "P2")).is_ok());
    }
}
