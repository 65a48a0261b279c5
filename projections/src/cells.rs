//! The cells a payment lands in.
//!
//! A payment of household `h` (in sub-district `s`, community `c`) in program
//! `p` on a date in month `m` of year `y` is counted in:
//! - 6 household cells: program {any, p} x period {all time, y, m};
//! - 18 group cells: the same 6, each at place {district, s, c}.
//!
//! Together the group cells form a small data cube with 18 shapes; every
//! totals query is answered from exactly one shape, so nothing is summed at
//! query time, and distinct households are exact: a household counts in a
//! group cell when its household cell of the same program and period holds
//! a live payment. So the group cells are a function of the household cells:
//! a replay folds only the 6 household cells per payment and the cube is
//! derived in one pass when first queried; after that, the fold updates the 18
//! group cells too, counting a household in or out on every 0 <-> 1 change.

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::intern::{CommunityId, Id, ProgramId, SubdistrictId};
use crate::vocab::{Date, YearMonth};

/// Household cells one payment lands in: program {any, its own} x period
/// {all time, year, month}.
pub(crate) const HOUSEHOLD_CELLS_PER_PAYMENT: usize = 6;
/// Places one payment is counted at: district, sub-district, community.
pub(crate) const PLACES_PER_PAYMENT: usize = 3;

/// The time bucket of a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum Period {
    All,
    Year(i32),
    Month(YearMonth),
}

impl Period {
    /// The three periods a month falls in, coarsest first.
    pub(crate) fn of(month: YearMonth) -> [Period; 3] {
        [Period::All, Period::Year(month.year), Period::Month(month)]
    }

    /// Whether `month` falls in this period.
    fn contains(self, month: YearMonth) -> bool {
        match self {
            Period::All => true,
            Period::Year(year) => year == month.year,
            Period::Month(own) => own == month,
        }
    }

    fn level(self) -> PeriodLevel {
        match self {
            Period::All => PeriodLevel::All,
            Period::Year(_) => PeriodLevel::Year,
            Period::Month(_) => PeriodLevel::Month,
        }
    }

    pub(crate) fn year(self) -> Option<i32> {
        match self {
            Period::All => None,
            Period::Year(year) => Some(year),
            Period::Month(month) => Some(month.year),
        }
    }

    pub(crate) fn month(self) -> Option<YearMonth> {
        match self {
            Period::Month(month) => Some(month),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum PeriodLevel {
    All,
    Year,
    Month,
}

/// The place bucket of a group cell. A community implies its sub-district.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum Place {
    District,
    Subdistrict(SubdistrictId),
    Community(CommunityId),
}

impl Place {
    fn level(self) -> PlaceLevel {
        match self {
            Place::District => PlaceLevel::District,
            Place::Subdistrict(_) => PlaceLevel::Subdistrict,
            Place::Community(_) => PlaceLevel::Community,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum PlaceLevel {
    District,
    Subdistrict,
    Community,
}

/// A household's own cell: program (`None` = all programs) and period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct HouseholdCell {
    pub(crate) program: Option<ProgramId>,
    pub(crate) period: Period,
}

/// A household's finest cell: one program in one month. The fold keeps only these
/// per household; each [`HouseholdCell`] is a sum of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct FineCell {
    pub(crate) program: ProgramId,
    pub(crate) month: YearMonth,
}

impl FineCell {
    /// The fine cell of a payment in `program` on `date`.
    pub(crate) fn of(program: ProgramId, date: Date) -> FineCell {
        FineCell {
            program,
            month: date.year_month(),
        }
    }

    /// The household cells that sum this one, itself (program and month) included.
    pub(crate) fn rollups(self) -> [HouseholdCell; HOUSEHOLD_CELLS_PER_PAYMENT] {
        HouseholdCell::touched(self.program, self.month)
    }
}

impl Hash for FineCell {
    /// One packed word, as for [`HouseholdCell`]: this key is hashed once per payment.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let month = year_bits(self.month.year) << MONTH_BITS | u64::from(self.month.month);
        state.write_u64((self.program.index() as u64) << PROGRAM_SHIFT | month);
    }
}

/// A year's two's-complement bits, reinterpreted (not converted) for bit packing.
fn year_bits(year: i32) -> u64 {
    u64::from(year as u32)
}

/// Bit positions of [`HouseholdCell`]'s hash word: the period's value (a year, or a
/// year and month) below bit 36, its kind in bits 36-37, the program slot above.
const PERIOD_KIND_SHIFT: u32 = 36;
const PROGRAM_SHIFT: u32 = 38;
/// Bits of a month number (1 to 12).
const MONTH_BITS: u32 = 4;

impl Hash for HouseholdCell {
    /// One word instead of the derived sequence of discriminants and fields: the fold
    /// hashes six of these keys per payment. Equal cells give equal words; unequal cells
    /// may share one (only beyond 2^26 programs), which costs a probe, never a wrong
    /// answer, since equality stays exact.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (kind, value) = match self.period {
            Period::All => (0, 0),
            Period::Year(year) => (1, year_bits(year)),
            Period::Month(m) => (2, year_bits(m.year) << MONTH_BITS | u64::from(m.month)),
        };
        let program = self.program.map_or(0, |p| p.index() as u64 + 1);
        state.write_u64(program << PROGRAM_SHIFT | kind << PERIOD_KIND_SHIFT | value);
    }
}

impl HouseholdCell {
    /// Whether this cell sums the fine cell `fine`.
    pub(crate) fn contains(self, fine: FineCell) -> bool {
        self.program.is_none_or(|p| p == fine.program) && self.period.contains(fine.month)
    }

    /// The household cells one payment in `program` in `month` lands in.
    pub(crate) fn touched(
        program: ProgramId,
        month: YearMonth,
    ) -> [HouseholdCell; HOUSEHOLD_CELLS_PER_PAYMENT] {
        let [all, year, month] = Period::of(month);
        let cell = |program, period| HouseholdCell { program, period };
        [
            cell(None, all),
            cell(None, year),
            cell(None, month),
            cell(Some(program), all),
            cell(Some(program), year),
            cell(Some(program), month),
        ]
    }

    /// The group cells at `places` that share this cell's program and period.
    pub(crate) fn at(self, place: Place) -> GroupCell {
        GroupCell {
            place,
            program: self.program,
            period: self.period,
        }
    }
}

/// A district-totals cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct GroupCell {
    pub(crate) place: Place,
    pub(crate) program: Option<ProgramId>,
    pub(crate) period: Period,
}

impl GroupCell {
    pub(crate) fn shape(&self) -> Shape {
        Shape {
            place: self.place.level(),
            by_program: self.program.is_some(),
            period: self.period.level(),
        }
    }
}

/// Which of the [`SHAPES`] cuboids of the cube a group cell belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct Shape {
    pub(crate) place: PlaceLevel,
    pub(crate) by_program: bool,
    pub(crate) period: PeriodLevel,
}

/// Place levels x {all programs, per program} x period levels.
pub(crate) const SHAPES: usize = 3 * 2 * 3;

impl Shape {
    /// A dense index in `0..SHAPES`, so the cube keeps its shapes in an array.
    pub(crate) fn index(self) -> usize {
        let place = match self.place {
            PlaceLevel::District => 0,
            PlaceLevel::Subdistrict => 1,
            PlaceLevel::Community => 2,
        };
        let period = match self.period {
            PeriodLevel::All => 0,
            PeriodLevel::Year => 1,
            PeriodLevel::Month => 2,
        };
        (place * 2 + usize::from(self.by_program)) * 3 + period
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::Id;

    #[test]
    fn a_payment_touches_six_distinct_household_cells() {
        let date = Date {
            year: 2019,
            month: 3,
            day: 9,
        };
        let cells = FineCell::of(ProgramId::from_index(4), date).rollups();
        assert_eq!(cells.len(), HOUSEHOLD_CELLS_PER_PAYMENT);
        let distinct: std::collections::BTreeSet<_> = cells.iter().collect();
        assert_eq!(distinct.len(), HOUSEHOLD_CELLS_PER_PAYMENT);
        assert!(cells.contains(&HouseholdCell {
            program: Some(ProgramId::from_index(4)),
            period: Period::Month(YearMonth {
                year: 2019,
                month: 3
            }),
        }));
    }

    #[test]
    fn shape_indexes_are_dense_and_distinct() {
        let mut seen = [false; SHAPES];
        for place in [
            PlaceLevel::District,
            PlaceLevel::Subdistrict,
            PlaceLevel::Community,
        ] {
            for by_program in [false, true] {
                for period in [PeriodLevel::All, PeriodLevel::Year, PeriodLevel::Month] {
                    let index = Shape {
                        place,
                        by_program,
                        period,
                    }
                    .index();
                    assert!(!seen[index], "{index} twice");
                    seen[index] = true;
                }
            }
        }
        assert!(seen.iter().all(|s| *s));
    }
}
