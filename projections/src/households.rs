//! Household balances: per household and program, and per household in all.

use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};

use crate::cells::{HouseholdCell, Period, HOUSEHOLD_CELLS_PER_PAYMENT};
use crate::fasthash::{sorted_map, FastMap};
use crate::intern::{CommunityId, Names, ProgramId, SubdistrictId};
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
}

/// One enrolled household and its cells (all-time, per year, per month; each
/// per program and for all programs). Size grows with the household's
/// programs and months, never with its number of payments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HouseholdState {
    pub(crate) enrollment: Enrollment,
    pub(crate) subdistrict: SubdistrictId,
    pub(crate) community: CommunityId,
    #[serde(serialize_with = "sorted_map")]
    pub(crate) cells: FastMap<HouseholdCell, Tally>,
}

/// What a payment or reversal did to each of the household's cells it touched.
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
            cells: FastMap::default(),
        }
    }

    /// Applies a payment's or reversal's delta to the six cells it touches, in place.
    /// All or nothing: if one cell cannot take it, the cells already changed are put back.
    pub(crate) fn apply(
        &mut self,
        program: ProgramId,
        date: Date,
        delta: Delta,
    ) -> Result<CellChanges, TallyError> {
        let cells = HouseholdCell::touched(program, date);
        let mut changes = cells.map(|cell| (cell, Reach::Unchanged));
        let mut before = [Tally::default(); HOUSEHOLD_CELLS_PER_PAYMENT];
        for (index, cell) in cells.into_iter().enumerate() {
            match self.update(cell, delta) {
                Ok((old, new)) => {
                    before[index] = old;
                    changes[index].1 = Reach::between(old, new);
                }
                Err(error) => {
                    for (cell, old) in cells.into_iter().zip(before).take(index) {
                        self.put(cell, old);
                    }
                    return Err(error);
                }
            }
        }
        Ok(changes)
    }

    /// One cell's delta with a single lookup; returns the tally before and after.
    fn update(&mut self, cell: HouseholdCell, delta: Delta) -> Result<(Tally, Tally), TallyError> {
        match self.cells.entry(cell) {
            Entry::Occupied(mut entry) => {
                let old = *entry.get();
                let new = old.apply(delta)?;
                if new.is_empty() {
                    entry.remove();
                } else {
                    *entry.get_mut() = new;
                }
                Ok((old, new))
            }
            Entry::Vacant(entry) => {
                let new = Tally::default().apply(delta)?;
                if !new.is_empty() {
                    entry.insert(new);
                }
                Ok((Tally::default(), new))
            }
        }
    }

    pub(crate) fn cell(&self, cell: &HouseholdCell) -> Tally {
        self.cells.get(cell).copied().unwrap_or_default()
    }

    /// Stores a cell, dropping it once it holds no live payment, so state
    /// depends only on what is live (and a rebuild compares equal).
    pub(crate) fn put(&mut self, cell: HouseholdCell, tally: Tally) {
        if tally.is_empty() {
            self.cells.remove(&cell);
        } else {
            self.cells.insert(cell, tally);
        }
    }

    pub(crate) fn balance(&self, household: &str, names: &Names) -> HouseholdBalance {
        let mut programs: Vec<ProgramTally> = self
            .cells
            .iter()
            .filter(|(cell, _)| cell.period == Period::All)
            .filter_map(|(cell, tally)| {
                cell.program.map(|program| ProgramTally {
                    program: names.program(program).to_owned(),
                    tally: *tally,
                })
            })
            .collect();
        programs.sort_by(|a, b| a.program.cmp(&b.program));
        HouseholdBalance {
            household: household.to_owned(),
            enrollment: self.enrollment.clone(),
            programs,
            total: self.cell(&HouseholdCell {
                program: None,
                period: Period::All,
            }),
        }
    }
}
