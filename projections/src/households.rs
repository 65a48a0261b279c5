//! Household balances: per household and program, and per household in all.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::cells::{FineCell, HouseholdCell, HOUSEHOLD_CELLS_PER_PAYMENT};
use crate::grid::FineCells;
use crate::intern::{CommunityId, Names, ProgramId, SubdistrictId};
use crate::receivables::ReceivableRow;
use crate::tally::{Delta, Tally, TallyError};
use crate::totals::Reach;
use crate::vocab::Date;

/// What the enrollment said about a household.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    pub subdistrict: String,
    pub community: String,
    pub category: String,
    pub members: u32,
    pub enrolled_on: Date,
}

/// A household's live payments in one program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramTally {
    pub program: String,
    pub tally: Tally,
}

/// Answer to `ReadModels::household`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdBalance {
    pub household: String,
    pub enrollment: Enrollment,
    /// Programs with at least one live payment, sorted by program code.
    pub programs: Vec<ProgramTally>,
    /// All programs together.
    pub total: Tally,
    /// Receivables (追缴) per program: what decisions on the household's findings set,
    /// what came back, and what is open.
    pub receivables: Vec<ReceivableRow>,
}

/// One enrolled household and its live payments per program and month. Size
/// grows with the household's programs and months, never with its number of
/// payments. Coarser cells (a year, all time, all programs) are sums of these,
/// computed when asked for ([`HouseholdState::rollup`]), so a payment updates
/// one cell here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HouseholdState {
    pub(crate) enrollment: Enrollment,
    pub(crate) subdistrict: SubdistrictId,
    pub(crate) community: CommunityId,
    pub(crate) cells: FineCells,
}

/// How a payment or reversal changed whether the household is reached by each
/// household cell it lands in.
pub(crate) type CellChanges = [(HouseholdCell, Reach); HOUSEHOLD_CELLS_PER_PAYMENT];

impl HouseholdState {
    pub(crate) fn new(
        enrollment: Enrollment,
        subdistrict: SubdistrictId,
        community: CommunityId,
    ) -> Self {
        HouseholdState {
            enrollment,
            subdistrict,
            community,
            cells: FineCells::default(),
        }
    }

    /// Applies a payment's or reversal's delta to its fine cell;
    /// returns the tally before and after. On error nothing changed.
    ///
    /// Checking the fine cell checks every coarser one: each is a sum of fine
    /// cells with non-negative parts, so if the fine cell holds the live payment
    /// a reversal removes, so do they, and if it was their only payment, it was
    /// the fine cell's too. (Sums growing too large are checked on the grand
    /// total, which bounds them all.)
    pub(crate) fn apply(
        &mut self,
        cell: FineCell,
        delta: Delta,
    ) -> Result<(Tally, Tally), TallyError> {
        let before = self.cells.get(cell);
        let after = before.apply(delta)?;
        self.cells.set(cell, after)?;
        Ok((before, after))
    }

    /// After `cell` changed from `before` to `after`: whether the household
    /// entered or left each household cell that sums it. A coarser cell changes
    /// only with the fine one, and only if no other fine cell of it is live, so
    /// the household's cells are looked at only on a 0 <-> 1 change.
    pub(crate) fn reach(&self, cell: FineCell, before: Tally, after: Tally) -> CellChanges {
        let fine = Reach::between(before, after);
        cell.rollups().map(|rollup| {
            let others_live = fine != Reach::Unchanged && self.cells.any_besides(rollup, cell);
            (rollup, if others_live { Reach::Unchanged } else { fine })
        })
    }

    /// The household's cells at every level (all time, year, month; each per
    /// program and for all programs), each the sum of its live fine cells.
    /// Saturating, and exact: every sum is bounded by the checked grand total.
    pub(crate) fn rollup(&self) -> FxHashMap<HouseholdCell, Tally> {
        let mut cells: FxHashMap<HouseholdCell, Tally> = FxHashMap::default();
        for (fine, tally) in self.cells.iter() {
            for cell in fine.rollups() {
                let sum = cells.entry(cell).or_default();
                *sum = sum.saturating_merge(tally);
            }
        }
        cells
    }

    pub(crate) fn balance(&self, household: &str, names: &Names) -> HouseholdBalance {
        let mut per_program: FxHashMap<ProgramId, Tally> = FxHashMap::default();
        let mut total = Tally::default();
        for (fine, tally) in self.cells.iter() {
            let sum = per_program.entry(fine.program).or_default();
            *sum = sum.saturating_merge(tally);
            total = total.saturating_merge(tally);
        }
        let mut programs: Vec<ProgramTally> = per_program
            .into_iter()
            .map(|(program, tally)| ProgramTally {
                program: names.program(program).to_owned(),
                tally,
            })
            .collect();
        programs.sort_by(|a, b| a.program.cmp(&b.program));
        HouseholdBalance {
            household: household.to_owned(),
            enrollment: self.enrollment.clone(),
            programs,
            total,
            receivables: Vec::new(),
        }
    }
}
