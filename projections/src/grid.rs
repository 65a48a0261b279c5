//! A household's fine cells (one program in one month) in a dense grid.
//!
//! A replay updates one fine cell per payment, picked by household, program and
//! month, so nearly every update misses the cache. In a hash map that costs a
//! control-byte probe, a key comparison and the table's growth; in a grid the
//! cell's place is arithmetic on the program and the month, and the tallies are
//! packed (no keys, no empty buckets), so more of them stay cached.
//!
//! The grid is a rectangle of programs x whole years that grows to cover each new
//! cell. A household paid sparsely over many programs and years would make it
//! large and mostly empty, so it stops at [`MAX_GRID_TALLIES`]; cells outside it
//! go to a hash map. Memory therefore stays bounded per household and grows with
//! its programs and months, never with its payments.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cells::FineCell;
use crate::intern::{Id, ProgramId};
use crate::tally::Tally;
use crate::vocab::YearMonth;

/// Most tallies one household's grid holds: 8 programs (the catalog's) over 12
/// years, 27 KiB. Real households are paid monthly or yearly in a few programs,
/// so their grids stay far smaller and mostly full.
const MAX_GRID_TALLIES: usize = 8 * 12 * MONTHS;
/// Columns per year of the grid.
const MONTHS: usize = 12;

/// The programs and years a grid covers; empty before the first cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    first_program: usize,
    programs: usize,
    first_year: i32,
    years: usize,
}

impl Span {
    fn tallies(self) -> usize {
        self.programs
            .saturating_mul(self.years)
            .saturating_mul(MONTHS)
    }

    /// Where `cell` sits in a grid of this span, if it is inside.
    fn index(self, cell: FineCell) -> Option<usize> {
        let row = cell.program.index().checked_sub(self.first_program)?;
        let year = i64::from(cell.month.year) - i64::from(self.first_year);
        let year = usize::try_from(year).ok()?;
        let month = usize::from(cell.month.month).checked_sub(1)?;
        if row >= self.programs || year >= self.years || month >= MONTHS {
            return None;
        }
        Some((row * self.years + year) * MONTHS + month)
    }

    /// The cell at `index`, which must be inside the span.
    fn cell(self, index: usize) -> FineCell {
        let (row, column) = (index / (self.years * MONTHS), index % (self.years * MONTHS));
        let year = i32::try_from(column / MONTHS).expect("a grid spans few years");
        let month = u8::try_from(column % MONTHS + 1).expect("a month is 1 to 12");
        let program = u32::try_from(self.first_program + row).expect("program ids are u32");
        FineCell {
            program: ProgramId::from_index(program),
            month: YearMonth {
                year: self.first_year + year,
                month,
            },
        }
    }

    /// The smallest span covering this one and `cell`, if it stays within the
    /// limit (a calendar month outside 1 to 12 never fits).
    fn cover(self, cell: FineCell) -> Option<Span> {
        if !(1..=MONTHS).contains(&usize::from(cell.month.month)) {
            return None;
        }
        let program = cell.program.index();
        let year = cell.month.year;
        let span = if self.programs == 0 {
            Span {
                first_program: program,
                programs: 1,
                first_year: year,
                years: 1,
            }
        } else {
            let first_program = self.first_program.min(program);
            let end_program = (self.first_program + self.programs).max(program + 1);
            let last_year = self.last_year()?.max(year);
            let first_year = self.first_year.min(year);
            let years = i64::from(last_year) - i64::from(first_year) + 1;
            Span {
                first_program,
                programs: end_program - first_program,
                first_year,
                years: usize::try_from(years).ok()?,
            }
        };
        (span.tallies() <= MAX_GRID_TALLIES).then_some(span)
    }

    fn last_year(self) -> Option<i32> {
        let years = i32::try_from(self.years).ok()?;
        self.first_year.checked_add(years - 1)
    }
}

/// The non-empty fine cells of one household.
#[derive(Clone, Debug, Default)]
pub(crate) struct FineCells {
    span: Span,
    /// `span.tallies()` tallies, program-major, then year, then month; empty
    /// tallies are cells without live payments.
    grid: Vec<Tally>,
    /// Non-empty cells outside `span`.
    spill: FxHashMap<FineCell, Tally>,
}

impl FineCells {
    /// The cell's tally; empty if it holds no live payment.
    pub(crate) fn get(&self, cell: FineCell) -> Tally {
        match self.span.index(cell) {
            Some(index) => self.grid.get(index).copied().unwrap_or_default(),
            None => self.spill.get(&cell).copied().unwrap_or_default(),
        }
    }

    /// Starts loading the cell's tally into the cache; changes nothing.
    pub(crate) fn prefetch(&self, cell: FineCell) {
        if let Some(tally) = self.span.index(cell).and_then(|index| self.grid.get(index)) {
            prefetch(tally);
        }
    }

    /// Sets the cell's tally; an empty tally removes the cell.
    pub(crate) fn set(&mut self, cell: FineCell, tally: Tally) {
        if self.span.index(cell).is_none() && !tally.is_empty() {
            if let Some(span) = self.span.cover(cell) {
                self.relayout(span);
            }
        }
        match self.span.index(cell) {
            Some(index) => {
                let slot = self
                    .grid
                    .get_mut(index)
                    .expect("the grid holds every index of its span");
                *slot = tally;
            }
            None if tally.is_empty() => {
                self.spill.remove(&cell);
            }
            None => {
                self.spill.insert(cell, tally);
            }
        }
    }

    /// Every non-empty cell, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (FineCell, Tally)> + '_ {
        let span = self.span;
        let grid = self
            .grid
            .iter()
            .enumerate()
            .filter(|(_, tally)| !tally.is_empty())
            .map(move |(index, tally)| (span.cell(index), *tally));
        grid.chain(self.spill.iter().map(|(cell, tally)| (*cell, *tally)))
    }

    /// Every non-empty cell, sorted: the canonical form for equality and bytes.
    fn sorted(&self) -> Vec<(FineCell, Tally)> {
        let mut cells: Vec<(FineCell, Tally)> = self.iter().collect();
        cells.sort_unstable_by_key(|(cell, _)| *cell);
        cells
    }

    /// Moves every cell into a grid of `span`, which covers the current one, and
    /// pulls in the spilled cells it now covers.
    fn relayout(&mut self, span: Span) {
        let mut grid = vec![Tally::default(); span.tallies()];
        let old_span = self.span;
        for (index, tally) in self.grid.iter().enumerate() {
            if !tally.is_empty() {
                let new = span
                    .index(old_span.cell(index))
                    .expect("a grown span covers the old one");
                grid[new] = *tally;
            }
        }
        self.spill.retain(|cell, tally| match span.index(*cell) {
            Some(index) => {
                grid[index] = *tally;
                false
            }
            None => true,
        });
        self.span = span;
        self.grid = grid;
    }
}

/// Asks the CPU to start loading `value`'s cache line, without waiting for it.
#[cfg(target_arch = "x86_64")]
fn prefetch<T>(value: &T) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: SSE is part of every x86_64 CPU, and a prefetch never dereferences
    // its pointer (it cannot fault); this one comes from a live reference anyway.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>()) }
}

/// Elsewhere a prefetch is only a hint, so skipping it is correct.
#[cfg(not(target_arch = "x86_64"))]
fn prefetch<T>(_value: &T) {}

impl PartialEq for FineCells {
    /// Same live cells, whatever the layout the order of payments left.
    fn eq(&self, other: &Self) -> bool {
        self.sorted() == other.sorted()
    }
}

impl Eq for FineCells {}

impl Serialize for FineCells {
    /// A map sorted by cell, as the hash map this replaced wrote it: the
    /// snapshot's bytes depend only on the live cells.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.sorted())
    }
}

impl<'de> Deserialize<'de> for FineCells {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<FineCell, Tally>::deserialize(deserializer)?;
        let mut cells = FineCells::default();
        for (cell, tally) in map {
            cells.set(cell, tally);
        }
        Ok(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(program: u32, year: i32, month: u8) -> FineCell {
        FineCell {
            program: ProgramId::from_index(program),
            month: YearMonth { year, month },
        }
    }

    fn tally(payments: u64) -> Tally {
        Tally {
            net_fen: 100,
            payments,
            person_times: payments,
        }
    }

    #[test]
    fn cells_read_back_across_growth_in_any_direction() {
        let mut cells = FineCells::default();
        let all = [
            cell(3, 2017, 5),
            cell(1, 2015, 12),
            cell(7, 2019, 1),
            cell(0, 2014, 6),
        ];
        for (n, c) in (1..).zip(all) {
            cells.set(c, tally(n));
        }
        for (n, c) in (1..).zip(all) {
            assert_eq!(cells.get(c), tally(n));
        }
        assert_eq!(cells.get(cell(3, 2017, 6)), Tally::default());
        assert!(cells.spill.is_empty());
        assert_eq!(cells.iter().count(), all.len());
    }

    #[test]
    fn far_cells_spill_and_return_to_the_grid_when_it_covers_them() {
        let mut cells = FineCells::default();
        cells.set(cell(0, 2000, 1), tally(1));
        cells.set(cell(0, 2200, 1), tally(2));
        assert_eq!(cells.spill.len(), 1);
        cells.set(cell(0, 2200, 1), Tally::default());
        assert!(cells.spill.is_empty());
        assert_eq!(cells.iter().count(), 1);
        cells.set(cell(0, 2001, 3), tally(3));
        assert_eq!(cells.get(cell(0, 2001, 3)), tally(3));
    }

    #[test]
    fn equality_and_bytes_ignore_the_layout() {
        let mut a = FineCells::default();
        let mut b = FineCells::default();
        a.set(cell(2, 2016, 4), tally(1));
        a.set(cell(5, 2018, 9), tally(2));
        b.set(cell(5, 2018, 9), tally(2));
        b.set(cell(0, 2010, 1), tally(9));
        b.set(cell(2, 2016, 4), tally(1));
        b.set(cell(0, 2010, 1), Tally::default());
        assert_eq!(a, b);
        let bytes = |c: &FineCells| bincode::serialize(c).expect("serialize");
        assert_eq!(bytes(&a), bytes(&b));
        let back: FineCells = bincode::deserialize(&bytes(&a)).expect("deserialize");
        assert_eq!(back, a);
    }

    #[test]
    fn a_month_outside_the_calendar_still_round_trips() {
        let mut cells = FineCells::default();
        cells.set(cell(1, 2016, 13), tally(1));
        assert_eq!(cells.get(cell(1, 2016, 13)), tally(1));
        assert_eq!(cells.get(cell(1, 2017, 1)), Tally::default());
    }
}
