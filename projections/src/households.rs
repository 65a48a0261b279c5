//! Household balances: per household and program, and per household in all.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cells::{HouseholdCell, Period};
use crate::intern::{CommunityId, Names, SubdistrictId};
use crate::tally::Tally;
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
    pub(crate) cells: BTreeMap<HouseholdCell, Tally>,
}

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
            cells: BTreeMap::new(),
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
