//! `ReadModels`: the three maintained read models and the seq they reached.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use rustc_hash::FxHashMap;

use crate::cells::{FineCell, GroupCell};
use crate::error::ProjectionError;
use crate::funds::{FundRow, FundState};
use crate::households::{Enrollment, HouseholdBalance, HouseholdState};
use crate::intern::{HouseholdId, HouseholdNumbers, Id, Names, ProgramId};
use crate::receivables::{ReceivableError, Receivables};
use crate::snapshot::{household_shard, HOUSEHOLD_SHARDS};
use crate::tally::{Delta, Sign, Tally, TallyError};
use crate::totals::{places_of, GroupTally, Totals, TotalsQuery, TotalsRow};
use crate::vocab::{Date, Fact};

/// Seq numbers are dense and the first event of a ledger is seq 1.
pub const FIRST_SEQ: u64 = 1;

/// The last event folded in: the main crate checks on open that its log still
/// has this hash at this seq before catching up from `seq + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub seq: u64,
    pub hash: [u8; 32],
}

/// Household balances, district totals and fund balances, folded from facts.
///
/// The whole value is the snapshot: serialize it (bincode) and reload it; the
/// bytes depend only on the state, not on the order maps were filled in.
/// Two values built from the same events compare equal, so a rebuild can be
/// checked against maintained state with `==`.
///
/// The district totals cube is derived from the household cells: on the first
/// query (or `size`) it is built in one pass, and from then on every fact keeps
/// it up to date. A replay of many events therefore updates 6 household cells
/// per payment, not 24 cells.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReadModels {
    applied: Option<Applied>,
    names: Names,
    /// Indexed by `HouseholdId`.
    households: Vec<HouseholdState>,
    /// All live payments together: every group cell is a part of this sum, so
    /// checking it for overflow checks them all.
    grand: Tally,
    funds: BTreeMap<ProgramId, FundState>,
    /// Every finding's receivable (追缴), by finding id.
    receivables: Receivables,
    /// Money recovered per household, program and month of the recovery's date, for the
    /// totals' `recovered` figure: grows with households x programs x months.
    recovered: BTreeMap<(HouseholdId, FineCell), i64>,
    /// The district totals cube, once a query asked for it; a function of
    /// `households`, so neither stored nor compared.
    #[serde(skip)]
    totals: OnceLock<Totals>,
    /// Which household shards changed when: a snapshot re-encodes only the shards changed
    /// after the one on disk. Bookkeeping of this value's history, so neither stored nor
    /// compared.
    #[serde(skip)]
    changes: ShardChanges,
}

/// For each household shard ([`crate::household_shard`]), the seq of the last event that
/// changed one of its households (enrolled it, paid, reversed or recovered), 0 for none
/// since this value was made; and each household's shard, so that marking one costs no
/// hash of its id.
#[derive(Clone, Debug, Default)]
struct ShardChanges {
    /// [`HOUSEHOLD_SHARDS`] long once any shard was marked; empty before.
    last: Vec<u64>,
    /// Indexed by `HouseholdId`; filled as households are enrolled or loaded.
    shard_of: Vec<u8>,
}

impl ShardChanges {
    fn mark(&mut self, shard: u8, seq: u64) {
        if self.last.is_empty() {
            self.last = vec![0; HOUSEHOLD_SHARDS];
        }
        self.last[usize::from(shard)] = seq;
    }

    fn changed_after(&self, shard: u8, seq: u64) -> bool {
        self.last
            .get(usize::from(shard))
            .is_some_and(|&last| last > seq)
    }
}

impl PartialEq for ReadModels {
    fn eq(&self, other: &Self) -> bool {
        self.applied == other.applied
            && self.names == other.names
            && self.households == other.households
            && self.grand == other.grand
            && self.funds == other.funds
            && self.receivables == other.receivables
            && self.recovered == other.recovered
    }
}

impl Eq for ReadModels {}

/// Sizes of the maintained state, to show it tracks households and groups,
/// not events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSize {
    pub households: usize,
    pub household_cells: usize,
    pub group_cells: usize,
    pub programs: usize,
}

/// A payment or a reversal, reduced to what the models need.
struct Change<'a> {
    household: &'a str,
    program: &'a str,
    date: Date,
    delta: Delta,
    /// The reversed payment's seq, for error messages; `None` for payments.
    reverses: Option<u64>,
    /// The names' ids where already looked up.
    ids: Ids,
}

/// A household's and a program's ids, where known. Ids are never removed or
/// reused, so one looked up before earlier facts were folded is still right; one
/// not found then is looked up again, since those facts may have added it.
#[derive(Clone, Copy, Debug, Default)]
struct Ids {
    household: Option<HouseholdId>,
    program: Option<ProgramId>,
}

/// A fact whose names [`ReadModels::prepare`] looked up, for
/// [`ReadModels::apply_prepared`] on the same `ReadModels`.
#[derive(Debug)]
pub struct Prepared {
    fact: Fact,
    ids: Ids,
}

impl Prepared {
    pub fn fact(&self) -> &Fact {
        &self.fact
    }
}

impl ReadModels {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last event folded in, `None` for a fresh model.
    pub fn applied(&self) -> Option<Applied> {
        self.applied
    }

    /// The seq the next `apply` or `skip` must carry.
    pub fn next_seq(&self) -> Result<u64, ProjectionError> {
        match self.applied {
            None => Ok(FIRST_SEQ),
            Some(applied) => applied
                .seq
                .checked_add(1)
                .ok_or(ProjectionError::Overflow { what: "seq" }),
        }
    }

    /// Folds one fact. `seq` must be the next seq; on any error nothing changes.
    pub fn apply(&mut self, seq: u64, hash: [u8; 32], fact: &Fact) -> Result<(), ProjectionError> {
        self.expect_seq(seq)?;
        let touched = self.fold(fact, Ids::default())?;
        self.applied = Some(Applied { seq, hash });
        self.mark(touched, seq);
        Ok(())
    }

    /// Advances past an event that is not a fact, with the same seq check.
    pub fn skip(&mut self, seq: u64, hash: [u8; 32]) -> Result<(), ProjectionError> {
        self.expect_seq(seq)?;
        self.applied = Some(Applied { seq, hash });
        Ok(())
    }

    /// Looks up a fact's household and program ahead of [`ReadModels::apply_prepared`]
    /// and starts loading the household cell it will change, so the caller can decode
    /// the next event while memory catches up. Changes nothing. A replay prepares one
    /// fact ahead of folding it: without this, that cell's cache miss was the largest
    /// part of folding a payment, and the names were looked up after it.
    pub fn prepare(&self, fact: Fact) -> Prepared {
        self.prepare_numbered(fact, None)
    }

    /// As [`ReadModels::prepare`], with the number its caller gives the household a
    /// payment names, and the ids of the numbers met before
    /// ([`HouseholdNumbers`], one per `ReadModels`): the household is then found by its
    /// number, not by its name. Only a payment's number is used.
    pub fn prepare_numbered(
        &self,
        fact: Fact,
        numbered: Option<(u32, &mut HouseholdNumbers)>,
    ) -> Prepared {
        let numbered = numbered.filter(|_| matches!(fact, Fact::Paid { .. }));
        let names = match &fact {
            Fact::Paid {
                household,
                program,
                date,
                ..
            } => Some((household, program, *date)),
            Fact::Reversed {
                household,
                program,
                target_date,
                ..
            } => Some((household, program, *target_date)),
            Fact::HouseholdEnrolled { .. }
            | Fact::Allocated { .. }
            | Fact::ReceivableSet { .. }
            | Fact::Recovered { .. }
            | Fact::RecoveryReversed { .. } => None,
        };
        let mut ids = Ids::default();
        if let Some((household, program, date)) = names {
            ids.household = match numbered {
                Some((number, numbers)) => numbers.id(number, household, &self.names.households),
                None => self.names.households.get(household.as_str()),
            };
            ids.program = self.names.programs.get(program.as_str());
            self.prefetch(ids, date);
        }
        Prepared { fact, ids }
    }

    /// [`ReadModels::apply`] for a fact this value prepared.
    pub fn apply_prepared(
        &mut self,
        seq: u64,
        hash: [u8; 32],
        prepared: &Prepared,
    ) -> Result<(), ProjectionError> {
        self.expect_seq(seq)?;
        let touched = self.fold(&prepared.fact, prepared.ids)?;
        self.applied = Some(Applied { seq, hash });
        self.mark(touched, seq);
        Ok(())
    }

    /// A household's enrollment and live balances; `None` if never enrolled.
    pub fn household(&self, id: &str) -> Option<HouseholdBalance> {
        let household = self.names.households.get(id)?;
        let state = self.households.get(household.index())?;
        let mut balance = state.balance(id, &self.names);
        balance.receivables = self.receivables.of_household(id);
        Some(balance)
    }

    /// Every finding's receivable: what decisions set and recoveries brought in. The
    /// write rules check recoveries against these (authenticated with the snapshot).
    pub fn receivables(&self) -> &Receivables {
        &self.receivables
    }

    /// District totals, rows sorted by key.
    pub fn totals(&self, query: &TotalsQuery) -> Vec<TotalsRow> {
        let recovered = self
            .recovered
            .iter()
            .filter_map(|(&(household, cell), &fen)| {
                let state = self.households.get(household.index())?;
                Some((places_of(state), cell, fen))
            });
        self.cube().query(&self.names, query, recovered)
    }

    /// Fund balances of every program with an allocation or a live payment,
    /// sorted by program code.
    pub fn funds(&self) -> Vec<FundRow> {
        fund_rows(&self.funds, &self.names)
    }

    /// How big the maintained state is.
    pub fn size(&self) -> StateSize {
        StateSize {
            households: self.households.len(),
            household_cells: self.households.iter().map(|h| h.rollup().len()).sum(),
            group_cells: self.cube().cell_count(),
            programs: self.funds.len(),
        }
    }

    /// The state from its parts ([`crate::snapshot`]); the cube is derived when first
    /// queried. Each household's shard is `shard_of` (by id index) where given, else the
    /// hash of its id when first needed.
    pub(crate) fn assemble(
        applied: Option<Applied>,
        names: Names,
        households: Vec<HouseholdState>,
        grand: Tally,
        funds: BTreeMap<ProgramId, FundState>,
        receivables: Receivables,
        recovered: BTreeMap<(HouseholdId, FineCell), i64>,
    ) -> ReadModels {
        ReadModels {
            applied,
            names,
            households,
            grand,
            funds,
            receivables,
            recovered,
            totals: OnceLock::new(),
            changes: ShardChanges::default(),
        }
    }

    /// This value with `shard_of` as its households' shards, by id index, as the shards
    /// it was assembled from placed them.
    pub(crate) fn with_shards_of(mut self, shard_of: Vec<u8>) -> ReadModels {
        debug_assert_eq!(shard_of.len(), self.households.len());
        self.changes.shard_of = shard_of;
        self
    }

    /// The program and place names, without the households'.
    pub(crate) fn names_without_households(&self) -> Names {
        Names {
            households: Default::default(),
            programs: self.names.programs.clone(),
            subdistricts: self.names.subdistricts.clone(),
            communities: self.names.communities.clone(),
        }
    }

    /// Every household's state, by id index.
    pub(crate) fn household_states(&self) -> &[HouseholdState] {
        &self.households
    }

    pub(crate) fn household_name(&self, id: HouseholdId) -> &str {
        self.names.households.name(id)
    }

    pub(crate) fn grand(&self) -> Tally {
        self.grand
    }

    pub(crate) fn fund_states(&self) -> &BTreeMap<ProgramId, FundState> {
        &self.funds
    }

    pub(crate) fn recovered_cells(&self) -> &BTreeMap<(HouseholdId, FineCell), i64> {
        &self.recovered
    }

    /// Every group cell of the cube, with the money recovered in its group.
    pub(crate) fn cube_cells(&self) -> FxHashMap<GroupCell, (GroupTally, i64)> {
        let recovered = self
            .recovered
            .iter()
            .filter_map(|(&(household, cell), &fen)| {
                let state = self.households.get(household.index())?;
                Some((places_of(state), cell, fen))
            });
        self.cube().cells_with_recovered(recovered)
    }

    fn cube(&self) -> &Totals {
        self.totals.get_or_init(|| Totals::derive(&self.households))
    }

    /// Notes that event `seq` changed `household`'s shard.
    fn mark(&mut self, household: Option<HouseholdId>, seq: u64) {
        if let Some(household) = household {
            let shard = self.shard_of(household);
            self.changes.mark(shard, seq);
        }
    }

    /// `household`'s shard, from the table when it has it (it always does for a value made
    /// by folding or [`ReadModels::from_parts`]).
    pub(crate) fn shard_of(&self, household: HouseholdId) -> u8 {
        self.changes
            .shard_of
            .get(household.index())
            .copied()
            .unwrap_or_else(|| household_shard(self.names.households.name(household)))
    }

    /// Whether an event after `seq` changed a household of shard `shard` (enrolled it,
    /// paid, reversed or recovered) in this value's history: false for every shard of a
    /// value just assembled from its parts, true for a shard with any household in a value
    /// folded from genesis (seq 0).
    pub fn shard_changed_after(&self, shard: u8, seq: u64) -> bool {
        self.changes.changed_after(shard, seq)
    }

    fn expect_seq(&self, found: u64) -> Result<(), ProjectionError> {
        let expected = self.next_seq()?;
        if found != expected {
            return Err(ProjectionError::Gap { expected, found });
        }
        Ok(())
    }

    /// Folds `fact`; returns the household whose state it changed, if any.
    fn fold(&mut self, fact: &Fact, ids: Ids) -> Result<Option<HouseholdId>, ProjectionError> {
        let touched = match fact {
            Fact::HouseholdEnrolled {
                household,
                subdistrict,
                community,
                category,
                members,
                enrolled_on,
            } => {
                let enrollment = Enrollment {
                    subdistrict: subdistrict.clone(),
                    community: community.clone(),
                    category: category.clone(),
                    members: *members,
                    enrolled_on: *enrolled_on,
                };
                self.enroll(household, enrollment)?
            }
            Fact::Allocated {
                program,
                amount_fen,
                date,
                source: _,
            } => {
                self.allocate(program, *amount_fen, *date)?;
                return Ok(None);
            }
            Fact::Paid {
                household,
                program,
                amount_fen,
                persons,
                date,
                ..
            } => self.change(&Change {
                household,
                program,
                date: *date,
                delta: Delta {
                    sign: Sign::Add,
                    amount_fen: *amount_fen,
                    persons: *persons,
                },
                reverses: None,
                ids,
            })?,
            Fact::Reversed {
                target_seq,
                household,
                program,
                amount_fen,
                persons,
                target_date,
                date,
                ..
            } => {
                check_date(*date)?;
                self.change(&Change {
                    household,
                    program,
                    date: *target_date,
                    delta: Delta {
                        sign: Sign::Remove,
                        amount_fen: *amount_fen,
                        persons: *persons,
                    },
                    reverses: Some(*target_seq),
                    ids,
                })?
            }
            Fact::ReceivableSet {
                finding,
                household,
                program,
                amount_fen,
            } => {
                // A receivable is in the core, not in its household's shard.
                self.receivables
                    .set(finding, household, program, *amount_fen)?;
                return Ok(None);
            }
            Fact::Recovered {
                finding,
                household,
                program,
                amount_fen,
                date,
                ..
            } => self.recover(&Recovery {
                finding,
                household,
                program,
                amount_fen: *amount_fen,
                date: *date,
                sign: Sign::Add,
            })?,
            Fact::RecoveryReversed {
                finding,
                household,
                program,
                amount_fen,
                target_date,
                date,
                ..
            } => {
                check_date(*date)?;
                self.recover(&Recovery {
                    finding,
                    household,
                    program,
                    amount_fen: *amount_fen,
                    date: *target_date,
                    sign: Sign::Remove,
                })?
            }
        };
        Ok(Some(touched))
    }

    /// A recovery (or its reversal): the finding's receivable, the program's fund and
    /// the month's recovered figure change together, or nothing does.
    fn recover(&mut self, recovery: &Recovery<'_>) -> Result<HouseholdId, ProjectionError> {
        let Recovery {
            finding,
            household,
            program,
            amount_fen,
            date,
            sign,
        } = *recovery;
        check_date(date)?;
        match sign {
            Sign::Add => self
                .receivables
                .check_recover(finding, household, program, amount_fen)?,
            Sign::Remove => self
                .receivables
                .check_restore(finding, household, program, amount_fen)?,
        }
        let household_id = self.names.households.get(household).ok_or_else(|| {
            ProjectionError::UnknownHousehold {
                household: household.to_owned(),
            }
        })?;
        let program_id = self.names.programs.resolve(program)?;
        let overflow = |_| ProjectionError::Overflow { what: "recoveries" };
        let fund = self
            .fund(program_id)
            .recover(sign, amount_fen)
            .map_err(overflow)?;
        let key = (household_id, FineCell::of(program_id, date));
        let month = self.recovered.get(&key).copied().unwrap_or(0);
        let month = match sign {
            Sign::Add => month.checked_add(amount_fen),
            Sign::Remove => month.checked_sub(amount_fen).filter(|m| *m >= 0),
        }
        .ok_or(ProjectionError::Overflow { what: "recoveries" })?;
        // Nothing failed: write it all.
        self.register_program(program)?;
        let changed = match sign {
            Sign::Add => self
                .receivables
                .recover(finding, household, program, amount_fen),
            Sign::Remove => self
                .receivables
                .restore(finding, household, program, amount_fen),
        };
        changed.expect("checked before anything was written, and nothing changed since");
        self.funds.insert(program_id, fund);
        if month == 0 {
            self.recovered.remove(&key);
        } else {
            self.recovered.insert(key, month);
        }
        Ok(household_id)
    }

    fn enroll(
        &mut self,
        household: &str,
        enrollment: Enrollment,
    ) -> Result<HouseholdId, ProjectionError> {
        check_date(enrollment.enrolled_on)?;
        if self.names.households.get(household).is_some() {
            return Err(ProjectionError::AlreadyEnrolled {
                household: household.to_owned(),
            });
        }
        // Resolve every name first: interning cannot fail after this.
        self.names.households.resolve(household)?;
        let subdistrict = self
            .names
            .subdistricts
            .resolve(enrollment.subdistrict.as_str())?;
        let community_key = (subdistrict, enrollment.community.clone());
        self.names.communities.resolve(&community_key)?;

        let subdistrict = self
            .names
            .subdistricts
            .intern(enrollment.subdistrict.clone())?;
        let community = self.names.communities.intern(community_key)?;
        let id = self.names.households.intern(household.to_owned())?;
        debug_assert_eq!(id.index(), self.households.len(), "household ids are dense");
        self.households
            .push(HouseholdState::new(enrollment, subdistrict, community));
        if self.changes.shard_of.len() == id.index() {
            self.changes.shard_of.push(household_shard(household));
        }
        Ok(id)
    }

    fn allocate(
        &mut self,
        program: &str,
        amount_fen: i64,
        date: Date,
    ) -> Result<(), ProjectionError> {
        check_amount(amount_fen)?;
        check_date(date)?;
        let id = self.names.programs.resolve(program)?;
        let fund = self
            .fund(id)
            .allocate(amount_fen)
            .map_err(|_| ProjectionError::Overflow {
                what: "fund balance",
            })?;
        self.register_program(program)?;
        self.funds.insert(id, fund);
        Ok(())
    }

    fn change(&mut self, change: &Change<'_>) -> Result<HouseholdId, ProjectionError> {
        check_amount(change.delta.amount_fen)?;
        check_date(change.date)?;
        let household = change
            .ids
            .household
            .or_else(|| self.names.households.get(change.household))
            .ok_or_else(|| ProjectionError::UnknownHousehold {
                household: change.household.to_owned(),
            })?;
        let known = change
            .ids
            .program
            .or_else(|| self.names.programs.get(change.program));
        debug_assert!(known.is_none_or(|p| self.names.program(p) == change.program));
        let program = match (known, change.delta.sign) {
            (Some(id), _) => id,
            (None, Sign::Add) => self.names.programs.resolve(change.program)?,
            // Nothing was ever paid in an unknown program, so nothing to reverse.
            (None, Sign::Remove) => return Err(change.error(TallyError::Underflow)),
        };
        // The sums that can fail are computed before anything is written...
        let grand = self
            .grand
            .apply(change.delta)
            .map_err(|e| change.error(e))?;
        let fund = self
            .fund(program)
            .pay(change.delta)
            .map_err(|e| change.error(e))?;
        let state = self
            .households
            .get_mut(household.index())
            .expect("every interned household has a state");
        // ...and the household's one fine cell changes or the fact fails.
        let cell = FineCell::of(program, change.date);
        let (before, after) = state
            .apply(cell, change.delta)
            .map_err(|e| change.error(e))?;
        if known.is_none() {
            // Cannot fail: `resolve` above handed out this very id.
            self.names.programs.intern(change.program.to_owned())?;
        }
        self.grand = grand;
        if fund.is_empty() {
            self.funds.remove(&program);
        } else {
            self.funds.insert(program, fund);
        }
        if let Some(totals) = self.totals.get_mut() {
            let state = self
                .households
                .get(household.index())
                .expect("every interned household has a state");
            let changes = state.reach(cell, before, after);
            totals.apply(places_of(state), &changes, change.delta);
        }
        Ok(household)
    }

    /// Adds a program name on first use; cannot fail once `resolve` succeeded.
    fn register_program(&mut self, program: &str) -> Result<(), ProjectionError> {
        if self.names.programs.get(program).is_none() {
            self.names.programs.intern(program.to_owned())?;
        }
        Ok(())
    }

    /// Starts loading the fine cell a payment of `ids` in the month of `date` lands in.
    fn prefetch(&self, ids: Ids, date: Date) {
        let (Some(household), Some(program)) = (ids.household, ids.program) else {
            return;
        };
        if let Some(state) = self.households.get(household.index()) {
            state.cells.prefetch(FineCell::of(program, date));
        }
    }

    fn fund(&self, program: ProgramId) -> FundState {
        self.funds.get(&program).copied().unwrap_or_default()
    }
}

/// Fund balances of every program in `funds`, sorted by program code.
pub(crate) fn fund_rows(funds: &BTreeMap<ProgramId, FundState>, names: &Names) -> Vec<FundRow> {
    let mut rows: Vec<FundRow> = funds
        .iter()
        .map(|(&program, fund)| FundRow {
            program: names.program(program).to_owned(),
            allocations: fund.allocations,
            allocated_fen: fund.allocated_fen,
            payments: fund.payments,
            disbursed_fen: fund.disbursed_fen,
            recovered_fen: fund.recovered_fen,
            remaining_fen: fund.remaining_fen,
        })
        .collect();
    rows.sort_by(|a, b| a.program.cmp(&b.program));
    rows
}

/// A recovery or its reversal, reduced to what the models need.
#[derive(Clone, Copy)]
struct Recovery<'a> {
    finding: &'a str,
    household: &'a str,
    program: &'a str,
    amount_fen: i64,
    /// The recovery's date (for a reversal, the recovery's own).
    date: Date,
    sign: Sign,
}

impl From<ReceivableError> for ProjectionError {
    fn from(error: ReceivableError) -> ProjectionError {
        ProjectionError::Receivable(error)
    }
}

impl Change<'_> {
    fn error(&self, error: TallyError) -> ProjectionError {
        match (error, self.reverses) {
            (TallyError::Underflow, Some(target_seq)) => ProjectionError::ReversalMismatch {
                target_seq,
                household: self.household.to_owned(),
                program: self.program.to_owned(),
                target_date: self.date,
            },
            _ => ProjectionError::Overflow {
                what: "payment tallies",
            },
        }
    }
}

fn check_amount(amount_fen: i64) -> Result<(), ProjectionError> {
    if amount_fen < 0 {
        return Err(ProjectionError::NegativeAmount { amount_fen });
    }
    Ok(())
}

fn check_date(date: Date) -> Result<(), ProjectionError> {
    if !date.is_valid() {
        return Err(ProjectionError::InvalidDate { date });
    }
    Ok(())
}
