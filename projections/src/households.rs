//! Household balances: per household and program, and per household in all.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::cells::{FineCell, HouseholdCell, Period, HOUSEHOLD_CELLS_PER_PAYMENT};
use crate::grid::FineCells;
use crate::intern::{CommunityId, Names, ProgramId, SubdistrictId};
use crate::receivables::ReceivableRow;
use crate::tally::{Delta, Tally, TallyError};
use crate::totals::Reach;
use crate::vocab::{Date, YearMonth};

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
        let mut rollup = Rollup::default();
        self.rollup_into(&mut rollup);
        rollup.cells.into_iter().collect()
    }

    /// [`HouseholdState::rollup`] as a list into `rollup`, each cell once, by sums over
    /// runs of sorted months instead of a map entry per fine cell and level (six hashed
    /// lookups per cell: a third of deriving the cube, benches/README.md, "The folds'
    /// CPU per event"). A caller that rolls up every household reuses one `rollup`.
    pub(crate) fn rollup_into(&self, rollup: &mut Rollup) {
        let Rollup {
            cells,
            fine,
            months,
        } = rollup;
        cells.clear();
        fine.clear();
        fine.extend(
            self.cells
                .iter()
                .map(|(cell, tally)| (cell.program, cell.month, tally)),
        );
        // Already in this order as the grid keeps its rows; sorting a sorted list is a pass.
        fine.sort_unstable_by_key(|(program, month, _)| (*program, *month));
        for run in fine.chunk_by(|a, b| a.0 == b.0) {
            let program = run[0].0;
            roll_months(Some(program), run.iter().map(|(_, m, t)| (*m, *t)), cells);
        }
        months.clear();
        months.extend(fine.iter().map(|(_, month, tally)| (*month, *tally)));
        months.sort_unstable_by_key(|(month, _)| *month);
        roll_months(None, months.iter().copied(), cells);
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

/// Room for [`HouseholdState::rollup_into`]: its cells, and the fine cells and months it
/// sorts on the way.
#[derive(Debug, Default)]
pub(crate) struct Rollup {
    pub(crate) cells: Vec<(HouseholdCell, Tally)>,
    fine: Vec<(ProgramId, YearMonth, Tally)>,
    months: Vec<(YearMonth, Tally)>,
}

/// Pushes the month, year and all-time cells of `program` (`None`: all programs) summing
/// `months`, which are ascending (a month may repeat: its tallies are summed).
fn roll_months(
    program: Option<ProgramId>,
    months: impl Iterator<Item = (YearMonth, Tally)>,
    cells: &mut Vec<(HouseholdCell, Tally)>,
) {
    let cell = |period| HouseholdCell { program, period };
    let mut all: Option<Tally> = None;
    let mut year: Option<(i32, Tally)> = None;
    let mut month: Option<(YearMonth, Tally)> = None;
    for (m, tally) in months {
        match month {
            Some((held, sum)) if held == m => month = Some((m, sum.saturating_merge(tally))),
            _ => {
                if let Some((held, sum)) = month.replace((m, tally)) {
                    cells.push((cell(Period::Month(held)), sum));
                }
            }
        }
        match year {
            Some((held, sum)) if held == m.year => year = Some((held, sum.saturating_merge(tally))),
            _ => {
                if let Some((held, sum)) = year.replace((m.year, tally)) {
                    cells.push((cell(Period::Year(held)), sum));
                }
            }
        }
        all = Some(all.map_or(tally, |sum| sum.saturating_merge(tally)));
    }
    if let Some((held, sum)) = month {
        cells.push((cell(Period::Month(held)), sum));
    }
    if let Some((held, sum)) = year {
        cells.push((cell(Period::Year(held)), sum));
    }
    if let Some(sum) = all {
        cells.push((cell(Period::All), sum));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::Id;
    use crate::tally::Sign;
    use crate::vocab::YearMonth;

    fn household() -> HouseholdState {
        let enrollment = Enrollment {
            subdistrict: "拓东".into(),
            community: "拓东第1社区".into(),
            category: "bereaved".into(),
            members: 2,
            enrolled_on: Date {
                year: 2020,
                month: 1,
                day: 1,
            },
        };
        HouseholdState::new(
            enrollment,
            SubdistrictId::from_index(0),
            CommunityId::from_index(0),
        )
    }

    fn cell(month: u8) -> FineCell {
        FineCell {
            program: ProgramId::from_index(0),
            month: YearMonth { year: 2021, month },
        }
    }

    fn delta(sign: Sign, amount_fen: i64, persons: u32) -> Delta {
        Delta {
            sign,
            amount_fen,
            persons,
        }
    }

    /// The household paid ¥100 for 2 persons each month of 2021; with `wide`, March
    /// also holds a payment too large for a narrow cell, so the row is wide.
    fn paid(wide: bool) -> HouseholdState {
        let mut state = household();
        for month in 1..=12 {
            let paid = state.apply(cell(month), delta(Sign::Add, 10_000, 2));
            assert!(paid.is_ok(), "month {month}");
        }
        if wide {
            let large = delta(Sign::Add, 1 << 40, 2);
            assert!(state.apply(cell(3), large).is_ok());
        }
        state
    }

    #[test]
    fn a_reversal_of_more_than_is_live_is_refused_at_either_width() {
        for wide in [false, true] {
            let mut state = paid(wide);
            let before = state.clone();
            let too_much = [
                delta(Sign::Remove, 10_001, 2),
                delta(Sign::Remove, 10_000, 3),
                delta(Sign::Remove, 9_999, 2),
            ];
            for change in too_much {
                let refused = state.apply(cell(5), change);
                assert_eq!(refused, Err(TallyError::Underflow), "wide {wide}");
            }
            let emptied = state.apply(cell(5), delta(Sign::Remove, 10_000, 2));
            assert!(emptied.is_ok(), "wide {wide}");
            let again = state.apply(cell(5), delta(Sign::Remove, 0, 0));
            assert_eq!(again, Err(TallyError::Underflow), "wide {wide}");
            assert_eq!(state.cells.get(cell(5)), Tally::default());
            let mut expected = before;
            let restored = expected.apply(cell(5), delta(Sign::Remove, 10_000, 2));
            assert!(restored.is_ok());
            assert_eq!(
                state, expected,
                "only the reversal that fits changed the cells"
            );
        }
    }

    #[test]
    fn a_sum_past_its_range_is_refused_at_either_width_and_changes_nothing() {
        for wide in [false, true] {
            let mut state = paid(wide);
            let before = state.clone();
            for month in [3, 7] {
                let overflow = state.apply(cell(month), delta(Sign::Add, i64::MAX, 0));
                assert_eq!(overflow, Err(TallyError::Overflow), "wide {wide}");
            }
            assert_eq!(state, before, "wide {wide}");
        }
    }

    #[test]
    fn a_payment_past_the_narrow_range_is_kept_exactly() {
        let mut state = paid(false);
        let (before, after) = state
            .apply(cell(3), delta(Sign::Add, 1 << 40, 70_000))
            .expect("a wide cell holds it");
        assert_eq!(
            after,
            Tally {
                net_fen: before.net_fen + (1 << 40),
                payments: 2,
                person_times: 70_002,
            }
        );
        assert_eq!(state.cells.get(cell(3)), after);
        assert_eq!(state.cells.get(cell(4)), before);
    }

    /// Each fine cell added to each of its six household cells in a map: what a rollup
    /// is by definition.
    fn rolled_up_by_map(state: &HouseholdState) -> FxHashMap<HouseholdCell, Tally> {
        let mut cells: FxHashMap<HouseholdCell, Tally> = FxHashMap::default();
        for (fine, tally) in state.cells.iter() {
            for cell in fine.rollups() {
                let sum = cells.entry(cell).or_default();
                *sum = sum.saturating_merge(tally);
            }
        }
        cells
    }

    /// Three programs over three years, their months interleaved and repeated across
    /// programs, one row wide: the runs of sorted months give the map's sums, each cell
    /// once; a household never paid has no cells.
    #[test]
    fn a_rollup_by_sorted_runs_is_the_rollup_by_definition() {
        let mut state = paid(true);
        for (k, program) in (0..40u32).zip([2, 1, 2, 0, 1].into_iter().cycle()) {
            let fine = FineCell {
                program: ProgramId::from_index(program),
                month: YearMonth {
                    year: 2020 + (k * 7 % 3) as i32,
                    month: (k * 5 % 12 + 1) as u8,
                },
            };
            let paid = state.apply(fine, delta(Sign::Add, 100 + i64::from(k), k % 4));
            assert!(paid.is_ok(), "payment {k}");
        }
        let mut rollup = Rollup::default();
        for state in [household(), paid(false), paid(true), state] {
            let expected = rolled_up_by_map(&state);
            state.rollup_into(&mut rollup);
            assert_eq!(rollup.cells.len(), expected.len(), "each cell once");
            let listed: FxHashMap<HouseholdCell, Tally> = rollup.cells.iter().copied().collect();
            assert_eq!(listed, expected);
            assert_eq!(state.rollup(), expected);
        }
        assert!(
            rollup.cells.len() > 6 * 12,
            "the last household has many cells"
        );
    }
}
