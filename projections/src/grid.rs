//! A household's fine cells (one program in one month), one row per program paid.
//!
//! These cells are the largest part of the read models: one per household,
//! program and month paid, kept for the whole life of the ledger. So a household
//! keeps rows only for the programs it was paid in (a short list sorted by
//! program), and each row is laid out for how the program pays:
//! - dense: whole calendar years of 12 slots, the cell's place arithmetic on the
//!   month (a program paid monthly);
//! - sparse: the live cells sorted by month, found by binary search (a program
//!   paid once or twice a year, which would leave 10 of 12 slots empty).
//!
//! A row takes whichever layout costs fewer bytes for its live cells, a dense row
//! with [`DENSE_SLACK`] to spare, so memory is bounded by the live cells, never
//! by the payments or the years between them. A replay updates one cell per
//! payment: a search among a few rows, then arithmetic or a short binary search.
//!
//! Each row also has a width. A cell holds a payment or two, so a row keeps its
//! tallies in 8 bytes ([`NarrowTally`]) while every one of its cells fits that; the
//! first cell that does not widens the row, all its cells at once, to 16-byte
//! [`PackedTally`]s, and the row stays wide (a row is rarely widened, and narrowing
//! back would mean looking at every cell at every change). The layouts' bytes are
//! counted at the row's width. Tallies of both widths are widened to [`Tally`]
//! when read, so the width changes no answer and no byte of a snapshot.

use std::collections::BTreeMap;
use std::mem::size_of;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cells::{FineCell, HouseholdCell, Period};
use crate::intern::{Id, ProgramId};
use crate::tally::{NarrowTally, PackedTally, Tally, TallyError};
use crate::vocab::YearMonth;

/// Slots per year of a dense row.
const MONTHS: usize = 12;
/// How many times the bytes of its live cells kept sparse a dense row may take
/// as it grows to a new year before it turns sparse. A sparse row turns dense
/// only when that takes no more bytes (a row paid at least two months in three
/// when wide, one in two when narrow); the slack keeps a monthly program's row
/// dense through a few missed months (and a reversal), and keeps a row from
/// switching back and forth at the line. So a household's cells take at most
/// twice their sparse bytes.
const DENSE_SLACK: usize = 2;

/// The non-empty fine cells of one household.
#[derive(Clone, Debug, Default)]
pub(crate) struct FineCells {
    /// One row per program with a live cell, sorted by program.
    rows: Vec<Row>,
}

/// One program's live cells.
#[derive(Clone, Debug)]
struct Row {
    program: ProgramId,
    cells: Cells,
}

/// A row's cells at one of the two widths; never empty.
#[derive(Clone, Debug)]
enum Cells {
    /// Every cell fits 8 bytes.
    Narrow(Months<NarrowTally>),
    /// A cell did not fit 8 bytes when it was set; the row stays wide.
    Wide(Months<PackedTally>),
}

/// A row's cells in one of its two layouts; never empty.
#[derive(Clone, Debug)]
enum Months<T> {
    /// Whole calendar years from `first_year`, January first; an empty slot is a
    /// month without a live payment. Only months 1 to 12 have a slot.
    Dense { first_year: i32, slots: Vec<T> },
    /// The live cells, sorted by month.
    Sparse(Vec<(YearMonth, T)>),
}

/// A tally as a row keeps it, at either width.
trait Slot: Copy + Default {
    /// Bytes of one cell of a sparse row (its month and tally).
    const SPARSE_CELL_BYTES: usize = size_of::<(YearMonth, Self)>();
    /// Bytes of one year of a dense row.
    const DENSE_YEAR_BYTES: usize = MONTHS * size_of::<Self>();

    /// Whether it holds no live payment (an empty slot of a dense row).
    fn is_empty(&self) -> bool;
    fn tally(self) -> Tally;
}

impl Slot for NarrowTally {
    fn is_empty(&self) -> bool {
        NarrowTally::is_empty(self)
    }

    fn tally(self) -> Tally {
        Tally::from(self)
    }
}

impl Slot for PackedTally {
    fn is_empty(&self) -> bool {
        PackedTally::is_empty(self)
    }

    fn tally(self) -> Tally {
        Tally::from(self)
    }
}

impl FineCells {
    /// The cell's tally; empty if it holds no live payment.
    pub(crate) fn get(&self, cell: FineCell) -> Tally {
        self.row(cell.program)
            .and_then(|row| row.cells.get(cell.month))
            .unwrap_or_default()
    }

    /// Starts loading the cell's tally into the cache; changes nothing.
    pub(crate) fn prefetch(&self, cell: FineCell) {
        if let Some(row) = self.row(cell.program) {
            row.cells.prefetch(cell.month);
        }
    }

    /// Sets the cell's tally; an empty tally removes the cell. A tally whose
    /// counts do not fit a [`PackedTally`] is refused and nothing changes.
    pub(crate) fn set(&mut self, cell: FineCell, tally: Tally) -> Result<(), TallyError> {
        let packed = PackedTally::try_from(tally)?;
        let found = self
            .rows
            .binary_search_by_key(&cell.program, |row| row.program);
        match found {
            Ok(index) if packed.is_empty() => {
                let row = &mut self.rows[index];
                if row.cells.remove(cell.month) {
                    self.rows.remove(index);
                }
            }
            Ok(index) => self.rows[index].cells.put(cell.month, packed),
            Err(_) if packed.is_empty() => {}
            Err(index) => {
                // Exact: a household's programs are few, and doubling would waste rows.
                self.rows.reserve_exact(1);
                let row = Row {
                    program: cell.program,
                    cells: Cells::laid_out(&[(cell.month, packed)]),
                };
                self.rows.insert(index, row);
            }
        }
        Ok(())
    }

    /// Every non-empty cell, sorted by cell (program, then month): the
    /// canonical form for equality and bytes.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (FineCell, Tally)> + '_ {
        self.rows.iter().flat_map(|row| {
            row.cells.iter().map(move |(month, tally)| {
                let cell = FineCell {
                    program: row.program,
                    month,
                };
                (cell, tally)
            })
        })
    }

    /// Whether a live cell other than `except` is summed by `within`. Each
    /// layout answers from the rows and months the period names (a year is at
    /// most 12 slots or a run of sorted cells), not from every cell: a payment
    /// into a new month asks this six times.
    pub(crate) fn any_besides(&self, within: HouseholdCell, except: FineCell) -> bool {
        let rows = match within.program {
            Some(program) => self.row(program).map(std::slice::from_ref).unwrap_or(&[]),
            None => &self.rows,
        };
        rows.iter().any(|row| {
            // The rows and months looked at are narrowed to `within`; this is
            // what each must satisfy.
            let counts = |month| {
                let fine = FineCell {
                    program: row.program,
                    month,
                };
                fine != except && within.contains(fine)
            };
            row.cells.any_in(within.period, counts)
        })
    }

    fn row(&self, program: ProgramId) -> Option<&Row> {
        let index = self
            .rows
            .binary_search_by_key(&program, |row| row.program)
            .ok()?;
        self.rows.get(index)
    }
}

impl Cells {
    /// A row's non-empty cells, sorted by month, each laid out once: narrow if
    /// every one fits, otherwise wide.
    fn laid_out(cells: &[(YearMonth, PackedTally)]) -> Cells {
        let mut narrow = Vec::with_capacity(cells.len());
        for &(month, tally) in cells {
            match NarrowTally::fit(tally) {
                Some(tally) => narrow.push((month, tally)),
                None => return Cells::Wide(Months::laid_out(cells.to_vec())),
            }
        }
        Cells::Narrow(Months::laid_out(narrow))
    }

    fn get(&self, month: YearMonth) -> Option<Tally> {
        match self {
            Cells::Narrow(months) => months.get(month).copied().map(Tally::from),
            Cells::Wide(months) => months.get(month).copied().map(Tally::from),
        }
    }

    fn prefetch(&self, month: YearMonth) {
        match self {
            Cells::Narrow(months) => months.get(month).map(prefetch),
            Cells::Wide(months) => months.get(month).map(prefetch),
        };
    }

    /// Sets a non-empty tally, widening the row first if it does not fit narrow.
    fn put(&mut self, month: YearMonth, tally: PackedTally) {
        match self {
            Cells::Wide(months) => months.put(month, tally),
            Cells::Narrow(months) => match NarrowTally::fit(tally) {
                Some(narrow) => months.put(month, narrow),
                None => {
                    self.widen();
                    self.put(month, tally);
                }
            },
        }
    }

    /// The row's cells at 16 bytes, laid out again for that width.
    fn widen(&mut self) {
        if let Cells::Narrow(months) = self {
            let mut wide = Vec::with_capacity(months.iter().count());
            wide.extend(
                months
                    .iter()
                    .map(|(month, tally)| (month, PackedTally::from(tally))),
            );
            *self = Cells::Wide(Months::laid_out(wide));
        }
    }

    /// Empties the month's cell; whether the row is now empty.
    fn remove(&mut self, month: YearMonth) -> bool {
        match self {
            Cells::Narrow(months) => months.remove(month),
            Cells::Wide(months) => months.remove(month),
        }
    }

    /// The live cells, sorted by month.
    fn iter(&self) -> impl Iterator<Item = (YearMonth, Tally)> + '_ {
        let (narrow, wide) = match self {
            Cells::Narrow(months) => (Some(months), None),
            Cells::Wide(months) => (None, Some(months)),
        };
        let narrow = narrow.into_iter().flat_map(Months::tallies);
        let wide = wide.into_iter().flat_map(Months::tallies);
        narrow.chain(wide)
    }

    /// Whether a live cell in `period` passes `keep`, looking only at the period's cells.
    fn any_in(&self, period: Period, keep: impl Fn(YearMonth) -> bool) -> bool {
        match self {
            Cells::Narrow(months) => months.any_in(period, keep),
            Cells::Wide(months) => months.any_in(period, keep),
        }
    }
}

impl<T: Slot> Months<T> {
    /// A row's non-empty cells, sorted by month, in the layout that takes fewer bytes.
    fn laid_out(cells: Vec<(YearMonth, T)>) -> Months<T> {
        let span = dense_span(&cells);
        let mut months = Months::Sparse(cells);
        if let Some(span) = span {
            months.regrid(span);
        }
        months
    }

    /// The month's live cell; an empty slot of a dense row is none.
    fn get(&self, month: YearMonth) -> Option<&T> {
        match self {
            Months::Dense { first_year, slots } => slots
                .get(dense_index(*first_year, slots.len(), month)?)
                .filter(|tally| !tally.is_empty()),
            Months::Sparse(cells) => {
                let index = cells.binary_search_by_key(&month, |(m, _)| *m).ok()?;
                cells.get(index).map(|(_, tally)| tally)
            }
        }
    }

    /// Whether a live cell in `period` passes `keep`, looking only at the period's cells.
    fn any_in(&self, period: Period, keep: impl Fn(YearMonth) -> bool) -> bool {
        match (period, self) {
            (Period::All, _) => self.iter().any(|(month, _)| keep(month)),
            (Period::Month(month), _) => self.get(month).is_some() && keep(month),
            (Period::Year(year), Months::Dense { first_year, slots }) => {
                let january = YearMonth { year, month: 1 };
                let Some(start) = dense_index(*first_year, slots.len(), january) else {
                    return false;
                };
                let months = slots.get(start..start + MONTHS).unwrap_or_default();
                (1..)
                    .zip(months)
                    .any(|(month, tally)| !tally.is_empty() && keep(YearMonth { year, month }))
            }
            (Period::Year(year), Months::Sparse(cells)) => {
                let start = cells.partition_point(|(month, _)| month.year < year);
                cells[start..]
                    .iter()
                    .take_while(|(month, _)| month.year == year)
                    .any(|(month, _)| keep(*month))
            }
        }
    }

    /// Sets a non-empty tally, changing the layout when the row's cells call for it.
    fn put(&mut self, month: YearMonth, tally: T) {
        match self {
            Months::Dense { first_year, slots } => {
                if let Some(index) = dense_index(*first_year, slots.len(), month) {
                    slots[index] = tally;
                    return;
                }
                let live = slots.iter().filter(|t| !t.is_empty()).count() + 1;
                let span = YearSpan::of(*first_year, slots.len() / MONTHS).cover(month);
                match span.filter(|span| span.dense_fits::<T>(live, DENSE_SLACK)) {
                    Some(span) => self.regrid(span),
                    None => *self = Months::Sparse(self.iter().collect()),
                }
                self.put(month, tally);
            }
            Months::Sparse(cells) => {
                match cells.binary_search_by_key(&month, |(m, _)| *m) {
                    Ok(index) => cells[index].1 = tally,
                    Err(index) => {
                        // Exact: a row's sparse cells are few, and a dense row
                        // takes over when they are many.
                        cells.reserve_exact(1);
                        cells.insert(index, (month, tally));
                        if let Some(span) = dense_span(cells) {
                            self.regrid(span);
                        }
                    }
                }
            }
        }
    }

    /// Empties the month's cell; whether the row is now empty.
    fn remove(&mut self, month: YearMonth) -> bool {
        match self {
            Months::Dense { first_year, slots } => {
                if let Some(index) = dense_index(*first_year, slots.len(), month) {
                    slots[index] = T::default();
                }
                slots.iter().all(T::is_empty)
            }
            Months::Sparse(cells) => {
                if let Ok(index) = cells.binary_search_by_key(&month, |(m, _)| *m) {
                    cells.remove(index);
                }
                cells.is_empty()
            }
        }
    }

    /// The live cells, sorted by month.
    fn iter(&self) -> impl Iterator<Item = (YearMonth, T)> + '_ {
        let (dense, sparse) = match self {
            Months::Dense { first_year, slots } => (Some((*first_year, slots)), None),
            Months::Sparse(cells) => (None, Some(cells)),
        };
        let dense = dense.into_iter().flat_map(|(first_year, slots)| {
            slots
                .iter()
                .enumerate()
                .filter(|(_, tally)| !tally.is_empty())
                .map(move |(index, tally)| (dense_month(first_year, index), *tally))
        });
        let sparse = sparse.into_iter().flat_map(|cells| cells.iter().copied());
        dense.chain(sparse)
    }

    /// The live cells widened to tallies, sorted by month.
    fn tallies(&self) -> impl Iterator<Item = (YearMonth, Tally)> + '_ {
        self.iter().map(|(month, tally)| (month, tally.tally()))
    }

    /// Lays the live cells out densely over `span`, which covers every one of them.
    fn regrid(&mut self, span: YearSpan) {
        let mut slots = vec![T::default(); span.slots()];
        for (month, tally) in self.iter() {
            let index = dense_index(span.first_year, slots.len(), month)
                .expect("the span covers every live cell, each in a calendar month");
            slots[index] = tally;
        }
        *self = Months::Dense {
            first_year: span.first_year,
            slots,
        };
    }
}

/// Where `month` sits in a dense row of `slots` slots from `first_year`, if inside.
fn dense_index(first_year: i32, slots: usize, month: YearMonth) -> Option<usize> {
    let year = usize::try_from(i64::from(month.year) - i64::from(first_year)).ok()?;
    let column = usize::from(month.month).checked_sub(1)?;
    let index = year.checked_mul(MONTHS)?.checked_add(column)?;
    (column < MONTHS && index < slots).then_some(index)
}

/// The month of slot `index` of a dense row from `first_year`.
fn dense_month(first_year: i32, index: usize) -> YearMonth {
    let years =
        i32::try_from(index / MONTHS).expect("a dense row's years fit its first year's type");
    YearMonth {
        year: first_year + years,
        month: u8::try_from(index % MONTHS + 1).expect("a month is 1 to 12"),
    }
}

/// The whole calendar years a dense row covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct YearSpan {
    first_year: i32,
    last_year: i32,
}

impl YearSpan {
    /// The span of a dense row of `years` years (at least one) from `first_year`.
    fn of(first_year: i32, years: usize) -> YearSpan {
        let more = i32::try_from(years.saturating_sub(1)).expect("a dense row's years fit i32");
        YearSpan {
            first_year,
            last_year: first_year + more,
        }
    }

    /// This span grown to cover `month`; `None` for a month outside the
    /// calendar, which has no slot.
    fn cover(self, month: YearMonth) -> Option<YearSpan> {
        (1..=12).contains(&month.month).then(|| YearSpan {
            first_year: self.first_year.min(month.year),
            last_year: self.last_year.max(month.year),
        })
    }

    fn slots(self) -> usize {
        let years = i64::from(self.last_year) - i64::from(self.first_year) + 1;
        usize::try_from(years)
            .unwrap_or(usize::MAX)
            .saturating_mul(MONTHS)
    }

    /// Whether a dense row of `T`s over this span takes at most `slack` times
    /// the bytes of `live` cells kept sparse.
    fn dense_fits<T: Slot>(self, live: usize, slack: usize) -> bool {
        let dense = (self.slots() / MONTHS).saturating_mul(T::DENSE_YEAR_BYTES);
        dense
            <= live
                .saturating_mul(T::SPARSE_CELL_BYTES)
                .saturating_mul(slack)
    }
}

/// The span a sparse row's cells would take dense, if that takes no more bytes
/// and every month has a slot (is in the calendar).
fn dense_span<T: Slot>(cells: &[(YearMonth, T)]) -> Option<YearSpan> {
    let (first, _) = cells.first()?;
    let (last, _) = cells.last()?;
    let span = YearSpan {
        first_year: first.year,
        last_year: last.year,
    };
    // The bytes first: most inserts stop here, without a look at every month.
    let calendar = |cells: &[(YearMonth, T)]| {
        cells
            .iter()
            .all(|(month, _)| (1..=12).contains(&month.month))
    };
    (span.dense_fits::<T>(cells.len(), 1) && calendar(cells)).then_some(span)
}

/// Asks the CPU to start loading `value`'s cache line, without waiting for it (also for
/// the ledger's lookups a row ahead: `fundtrail::model::fingerprints`).
#[cfg(target_arch = "x86_64")]
pub fn prefetch<T>(value: &T) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: SSE is part of every x86_64 CPU, and a prefetch never dereferences
    // its pointer (it cannot fault); this one comes from a live reference anyway.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>()) }
}

/// Elsewhere a prefetch is only a hint, so skipping it is correct.
#[cfg(not(target_arch = "x86_64"))]
pub fn prefetch<T>(_value: &T) {}

impl PartialEq for FineCells {
    /// Same live cells, whatever layout the order of payments left.
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for FineCells {}

impl Serialize for FineCells {
    /// A map sorted by cell, as the hash map this replaced wrote it: the
    /// snapshot's bytes depend only on the live cells.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Counted first: bincode writes a map's length before its entries.
        let mut map = serializer.serialize_map(Some(self.iter().count()))?;
        for (cell, tally) in self.iter() {
            map.serialize_entry(&cell, &tally)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for FineCells {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<FineCell, Tally>::deserialize(deserializer)?;
        FineCells::from_sorted(map).map_err(|cell| {
            D::Error::custom(format!(
                "the tally of program {} in {} counts more than a fine cell holds",
                cell.program.index(),
                cell.month
            ))
        })
    }
}

impl FineCells {
    /// The cells of a snapshot, each row laid out once from its sorted cells: set one
    /// by one, a dense row was laid out again at every new year (quadratic in the
    /// years a household was paid), and a row widened by one cell was built narrow
    /// first. Empty tallies are skipped, as `set` skips them. The first cell whose
    /// counts a [`PackedTally`] cannot hold is the error.
    fn from_sorted(map: BTreeMap<FineCell, Tally>) -> Result<FineCells, FineCell> {
        let mut rows: Vec<Row> = Vec::new();
        // The current program's cells, gathered before its row is laid out.
        let mut program = None;
        let mut cells: Vec<(YearMonth, PackedTally)> = Vec::new();
        for (cell, tally) in map {
            let packed = PackedTally::try_from(tally).map_err(|_| cell)?;
            if packed.is_empty() {
                continue;
            }
            if program != Some(cell.program) {
                rows.extend(Row::laid_out(program, &cells));
                program = Some(cell.program);
                cells.clear();
            }
            cells.push((cell.month, packed));
        }
        rows.extend(Row::laid_out(program, &cells));
        rows.shrink_to_fit();
        Ok(FineCells { rows })
    }
}

impl Row {
    /// The program's row of `cells` (non-empty, sorted by month); none before the first program.
    fn laid_out(program: Option<ProgramId>, cells: &[(YearMonth, PackedTally)]) -> Option<Row> {
        Some(Row {
            program: program?,
            cells: Cells::laid_out(cells),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::{Delta, Sign};
    use proptest::prelude::*;

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

    fn set(cells: &mut FineCells, at: FineCell, to: Tally) {
        cells.set(at, to).expect("counts fit");
    }

    impl<T> Months<T> {
        fn is_dense(&self) -> bool {
            matches!(self, Months::Dense { .. })
        }

        /// Bytes on the heap, by capacity.
        fn heap_bytes(&self) -> usize {
            match self {
                Months::Dense { slots, .. } => slots.capacity() * size_of::<T>(),
                Months::Sparse(cells) => cells.capacity() * size_of::<(YearMonth, T)>(),
            }
        }
    }

    impl FineCells {
        /// Whether each row (in program order) is dense.
        fn layouts(&self) -> Vec<bool> {
            let dense = |row: &Row| match &row.cells {
                Cells::Narrow(months) => months.is_dense(),
                Cells::Wide(months) => months.is_dense(),
            };
            self.rows.iter().map(dense).collect()
        }

        /// Whether each row (in program order) is wide.
        fn widths(&self) -> Vec<bool> {
            let wide = |row: &Row| matches!(row.cells, Cells::Wide(_));
            self.rows.iter().map(wide).collect()
        }

        /// Bytes on the heap, by capacity.
        fn heap_bytes(&self) -> usize {
            let row = |row: &Row| match &row.cells {
                Cells::Narrow(months) => months.heap_bytes(),
                Cells::Wide(months) => months.heap_bytes(),
            };
            self.rows.capacity() * size_of::<Row>() + self.rows.iter().map(row).sum::<usize>()
        }

        /// Every row widened: what a grid that kept every row wide holds, since a
        /// row never narrows back.
        fn widen_all(&mut self) {
            for row in &mut self.rows {
                row.cells.widen();
            }
        }
    }

    /// The district's household: monthly in program 2, twice a year in program 0.
    fn district_household(years: i32) -> FineCells {
        let mut cells = FineCells::default();
        for year in 2021..2021 + years {
            for month in 1..=12 {
                set(&mut cells, cell(2, year, month), tally(1));
                if month == 1 || month == 9 {
                    set(&mut cells, cell(0, year, month), tally(1));
                }
            }
        }
        cells
    }

    #[test]
    fn rows_only_for_programs_paid_each_in_its_layout() {
        let cells = district_household(5);
        assert_eq!(cells.rows.len(), 2, "no row for program 1");
        assert_eq!(
            cells.layouts(),
            [false, true],
            "twice a year sparse, monthly dense"
        );
        assert_eq!(cells.iter().count(), 70);
        // 60 dense slots and 10 sparse cells, against 3 x 60 wide tallies in one grid.
        assert_eq!(
            cells.widths(),
            [false, false],
            "a payment a cell fits narrow"
        );
        let bytes = cells.heap_bytes();
        assert_eq!(bytes, 2 * size_of::<Row>() + 60 * 8 + 10 * 16);
        assert!(bytes * 3 < 3 * 60 * size_of::<Tally>(), "{bytes} bytes");
        // Kept wide, the same rows take 16 bytes a slot and 24 a sparse cell.
        let mut wide = cells.clone();
        wide.widen_all();
        assert_eq!(wide.widths(), [true, true]);
        assert_eq!(wide.layouts(), [false, true]);
        assert_eq!(wide.heap_bytes(), 2 * size_of::<Row>() + 60 * 16 + 10 * 24);
        assert_eq!(wide, cells);
    }

    #[test]
    fn a_snapshot_lays_each_row_out_once_as_small_as_built() {
        let built = district_household(20);
        let bytes = bincode::serialize(&built).expect("serialize");
        let loaded: FineCells = bincode::deserialize(&bytes).expect("deserialize");
        assert_eq!(loaded, built);
        assert_eq!(loaded.layouts(), [false, true]);
        assert_eq!(loaded.heap_bytes(), built.heap_bytes(), "exact capacities");
        // A row that is dense only with slack is loaded sparse: smaller, same cells.
        let mut gappy = FineCells::default();
        for month in 1..=8 {
            set(&mut gappy, cell(0, 2021, month), tally(1));
        }
        set(&mut gappy, cell(0, 2022, 1), tally(1));
        assert_eq!(gappy.layouts(), [true]);
        let bytes = bincode::serialize(&gappy).expect("serialize");
        let loaded: FineCells = bincode::deserialize(&bytes).expect("deserialize");
        assert_eq!((loaded.layouts(), &loaded), (vec![false], &gappy));
        assert!(loaded.heap_bytes() < gappy.heap_bytes());
    }

    #[test]
    fn a_snapshots_empty_tallies_are_skipped() {
        let mut map = BTreeMap::new();
        map.insert(cell(0, 2020, 1), Tally::default());
        map.insert(cell(1, 2020, 2), tally(2));
        map.insert(cell(1, 2020, 3), Tally::default());
        let bytes = bincode::serialize(&map).expect("serialize");
        let loaded: FineCells = bincode::deserialize(&bytes).expect("deserialize");
        let listed: Vec<(FineCell, Tally)> = loaded.iter().collect();
        assert_eq!(listed, [(cell(1, 2020, 2), tally(2))]);
        assert_eq!(
            loaded.rows.len(),
            1,
            "no row for a program with only empty cells"
        );
    }

    #[test]
    fn a_programs_last_cell_gone_drops_its_row() {
        let mut cells = district_household(1);
        set(&mut cells, cell(1, 2021, 3), tally(1));
        assert_eq!(cells.rows.len(), 3);
        set(&mut cells, cell(1, 2021, 3), Tally::default());
        assert_eq!(cells.rows.len(), 2);
        for month in 1..=12 {
            set(&mut cells, cell(2, 2021, month), Tally::default());
        }
        assert_eq!(cells.rows.len(), 1);
        assert_eq!(cells.get(cell(0, 2021, 9)), tally(1));
        // Emptying a cell never set changes nothing.
        set(&mut cells, cell(5, 2021, 1), Tally::default());
        assert_eq!(cells.iter().count(), 2);
    }

    /// A tally of `payments` that does not fit narrow.
    fn wide_tally(payments: u64) -> Tally {
        Tally {
            payments: payments + 1_000,
            ..tally(payments)
        }
    }

    #[test]
    fn a_sparse_row_turns_dense_when_that_is_no_larger_at_its_width() {
        // A year dense against its cells sparse: 96 against 16 bytes each narrow,
        // 192 against 24 wide.
        assert_eq!(
            NarrowTally::DENSE_YEAR_BYTES / NarrowTally::SPARSE_CELL_BYTES,
            6
        );
        assert_eq!(
            PackedTally::DENSE_YEAR_BYTES / PackedTally::SPARSE_CELL_BYTES,
            8
        );
        let narrow: fn(u64) -> Tally = tally;
        for (to, months_to_dense, wide) in [(narrow, 6, false), (wide_tally, 8, true)] {
            let mut cells = FineCells::default();
            for month in 1..=12u8 {
                set(&mut cells, cell(4, 2020, month), to(u64::from(month)));
                let dense = usize::from(month) >= months_to_dense;
                assert_eq!(cells.layouts(), [dense], "after month {month}");
                assert_eq!(cells.widths(), [wide]);
            }
            for month in 1..=12u8 {
                assert_eq!(cells.get(cell(4, 2020, month)), to(u64::from(month)));
            }
        }
    }

    #[test]
    fn widening_a_row_keeps_every_cell_and_the_other_rows_narrow() {
        let mut cells = district_household(3);
        let before: BTreeMap<FineCell, Tally> = cells.iter().collect();
        // Each part of a tally past what 8 bytes hold widens the row it is set in.
        let past_narrow = [
            (cell(2, 2022, 5), wide_tally(1)),
            (
                cell(0, 2021, 1),
                Tally {
                    person_times: 65_536,
                    ..tally(1)
                },
            ),
            (
                cell(0, 2023, 9),
                Tally {
                    net_fen: 1 << 39,
                    ..tally(1)
                },
            ),
        ];
        let mut expected = before.clone();
        let mut widths = [false, false];
        for (n, (at, to)) in past_narrow.into_iter().enumerate() {
            set(&mut cells, at, to);
            expected.insert(at, to);
            widths[usize::from(at.program == ProgramId::from_index(2))] = true;
            assert_eq!(cells.widths(), widths, "tally {n}");
            assert_eq!(cells.layouts(), [false, true], "tally {n}");
            assert!(cells.iter().eq(expected.clone()), "tally {n}");
        }
        // A wide row stays wide when its cells fit narrow again.
        for (at, _) in past_narrow {
            set(&mut cells, at, tally(1));
        }
        assert_eq!(cells.widths(), [true, true]);
        assert!(cells.iter().eq(before));
    }

    #[test]
    fn a_widened_row_is_laid_out_again_for_its_width() {
        // 13 cells over 2 years: dense narrow (192 bytes, within twice 13 x 16),
        // sparse wide (384 bytes, more than 13 x 24).
        let mut cells = FineCells::default();
        for month in 1..=12 {
            set(&mut cells, cell(1, 2021, month), tally(1));
        }
        set(&mut cells, cell(1, 2022, 1), tally(1));
        assert_eq!((cells.layouts(), cells.widths()), (vec![true], vec![false]));
        set(&mut cells, cell(1, 2022, 1), wide_tally(1));
        assert_eq!((cells.layouts(), cells.widths()), (vec![false], vec![true]));
        assert_eq!(cells.iter().count(), 13);
        assert_eq!(cells.get(cell(1, 2022, 1)), wide_tally(1));
        // A sparse wide row turns dense again when that is no larger.
        for month in 2..=8 {
            set(&mut cells, cell(1, 2022, month), tally(1));
        }
        assert_eq!((cells.layouts(), cells.widths()), (vec![true], vec![true]));
        assert_eq!(cells.iter().count(), 20);
    }

    #[test]
    fn a_snapshot_loads_a_row_narrow_only_if_every_cell_fits() {
        let mut cells = district_household(2);
        set(&mut cells, cell(0, 2022, 9), wide_tally(2));
        let bytes = bincode::serialize(&cells).expect("serialize");
        let loaded: FineCells = bincode::deserialize(&bytes).expect("deserialize");
        assert_eq!(loaded.widths(), [true, false]);
        assert_eq!(loaded, cells);
        // A row widened and back within narrow is narrow again once loaded.
        set(&mut cells, cell(0, 2022, 9), tally(2));
        let bytes = bincode::serialize(&cells).expect("serialize");
        let loaded: FineCells = bincode::deserialize(&bytes).expect("deserialize");
        assert_eq!(
            (cells.widths(), loaded.widths()),
            (vec![true, false], vec![false, false])
        );
        assert_eq!(loaded, cells);
    }

    #[test]
    fn an_empty_slot_of_a_dense_row_is_no_live_cell() {
        // Program 2 paid every month of 2021 but March: a dense row, March's slot empty.
        let mut cells = FineCells::default();
        for month in (1..=12).filter(|month| *month != 3) {
            set(&mut cells, cell(2, 2021, month), tally(1));
        }
        assert_eq!(cells.layouts(), [true]);
        let march = cell(0, 2021, 3);
        set(&mut cells, march, tally(1));
        let in_march = |program| HouseholdCell {
            program,
            period: Period::Month(march.month),
        };
        assert!(!cells.any_besides(in_march(None), march));
        assert!(!cells.any_besides(in_march(Some(march.program)), march));
        let skipped = cell(2, 2021, 3);
        assert!(cells.any_besides(in_march(None), skipped));
        assert!(!cells.any_besides(in_march(Some(skipped.program)), skipped));
        assert_eq!(cells.get(skipped), Tally::default());
    }

    #[test]
    fn a_dense_row_grows_by_years_and_turns_sparse_when_its_cells_are_far_apart() {
        let mut cells = FineCells::default();
        for month in 1..=12 {
            set(&mut cells, cell(0, 2020, month), tally(1));
        }
        // Earlier and later years keep the row dense while it stays full enough.
        set(&mut cells, cell(0, 2019, 12), tally(2));
        set(&mut cells, cell(0, 2021, 1), tally(3));
        assert_eq!(cells.layouts(), [true]);
        assert_eq!(cells.get(cell(0, 2019, 12)), tally(2));
        assert_eq!(cells.get(cell(0, 2021, 1)), tally(3));
        assert_eq!(cells.get(cell(0, 2019, 11)), Tally::default());
        // A century away: dense would take far more than twice its cells sparse.
        set(&mut cells, cell(0, 2120, 6), tally(4));
        assert_eq!(cells.layouts(), [false]);
        assert_eq!(cells.iter().count(), 15);
        assert_eq!(cells.get(cell(0, 2120, 6)), tally(4));
        assert_eq!(cells.get(cell(0, 2020, 7)), tally(1));
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
            set(&mut cells, c, tally(n));
        }
        for (n, c) in (1..).zip(all) {
            assert_eq!(cells.get(c), tally(n));
        }
        assert_eq!(cells.get(cell(3, 2017, 6)), Tally::default());
        assert_eq!(cells.iter().count(), all.len());
    }

    #[test]
    fn equality_and_bytes_ignore_the_layout() {
        let mut a = FineCells::default();
        let mut b = FineCells::default();
        a.set(cell(2, 2016, 4), tally(1)).expect("fits");
        a.set(cell(5, 2018, 9), tally(2)).expect("fits");
        for month in 1..=12 {
            b.set(cell(2, 2016, month), tally(7)).expect("fits");
        }
        b.set(cell(5, 2018, 9), tally(2)).expect("fits");
        b.set(cell(0, 2010, 1), tally(9)).expect("fits");
        b.set(cell(0, 2010, 1), Tally::default()).expect("fits");
        for month in (1..=12).filter(|m| *m != 4) {
            b.set(cell(2, 2016, month), Tally::default()).expect("fits");
        }
        b.set(cell(2, 2016, 4), tally(1)).expect("fits");
        assert_eq!(b.layouts(), [true, false]);
        assert_eq!(a.layouts(), [false, false]);
        assert_eq!(a, b);
        let bytes = |c: &FineCells| bincode::serialize(c).expect("serialize");
        assert_eq!(bytes(&a), bytes(&b));
        let back: FineCells = bincode::deserialize(&bytes(&a)).expect("deserialize");
        assert_eq!(back, a);
    }

    #[test]
    fn a_month_outside_the_calendar_stays_in_a_sparse_row() {
        let mut cells = FineCells::default();
        set(&mut cells, cell(1, 2016, 13), tally(1));
        for month in 1..=12 {
            set(&mut cells, cell(1, 2016, month), tally(2));
        }
        assert_eq!(cells.layouts(), [false]);
        assert_eq!(cells.get(cell(1, 2016, 13)), tally(1));
        assert_eq!(cells.get(cell(1, 2017, 1)), Tally::default());
        assert_eq!(cells.iter().count(), 13);
    }

    #[test]
    fn counts_past_u32_are_an_overflow_and_change_nothing_at_either_width() {
        let narrow = district_household(1);
        let mut wide = narrow.clone();
        wide.widen_all();
        for mut cells in [narrow, wide] {
            let before = cells.clone();
            let widths = cells.widths();
            let past = u64::from(u32::MAX) + 1;
            for tally in [
                Tally {
                    payments: past,
                    ..tally(1)
                },
                Tally {
                    person_times: past,
                    ..tally(1)
                },
            ] {
                assert_eq!(
                    cells.set(cell(2, 2021, 3), tally),
                    Err(TallyError::Overflow)
                );
                assert_eq!(
                    cells.set(cell(0, 2021, 1), tally),
                    Err(TallyError::Overflow)
                );
                assert_eq!(
                    cells.set(cell(6, 2021, 3), tally),
                    Err(TallyError::Overflow)
                );
            }
            assert_eq!(cells, before);
            assert_eq!(cells.widths(), widths, "a refused tally widens nothing");
            assert_eq!(cells.rows.len(), 2);
        }
    }

    #[test]
    fn a_snapshot_cell_too_large_to_hold_is_refused() {
        let mut map = BTreeMap::new();
        map.insert(
            cell(0, 2020, 1),
            Tally {
                net_fen: 1,
                payments: 1,
                person_times: u64::from(u32::MAX) + 1,
            },
        );
        let bytes = bincode::serialize(&map).expect("serialize");
        let error = bincode::deserialize::<FineCells>(&bytes).expect_err("refused");
        assert!(error.to_string().contains("2020-01"), "{error}");
    }

    /// One step of the property test: a cell and the tally it is set to.
    fn step() -> impl Strategy<Value = (FineCell, Tally)> {
        let month = prop_oneof![
            8 => (2018..2024i32, 1..=12u8),
            1 => (1990..2150i32, 1..=12u8),
            1 => (2018..2024i32, prop_oneof![Just(0u8), Just(13u8)]),
        ];
        // Each range's edges: a narrow tally's, then a wide one's.
        let count = |narrow: u64| {
            prop_oneof![
                3 => Just(0u64),
                6 => 1..5u64,
                1 => narrow - 1..=narrow + 1,
                1 => Just(u64::from(u32::MAX)),
                1 => Just(u64::from(u32::MAX) + 1),
            ]
        };
        let net_fen = prop_oneof![
            8 => -5..5i64,
            1 => (1i64 << 39) - 1..=1 << 39,
            1 => -(1i64 << 39) - 1..=-(1 << 39),
            1 => prop_oneof![Just(i64::MIN), Just(i64::MAX)],
        ];
        (0..4u32, month, count(256), count(65_536), net_fen).prop_map(
            |(program, (year, month), payments, person_times, net_fen)| {
                let tally = Tally {
                    net_fen,
                    payments,
                    person_times,
                };
                (cell(program, year, month), tally)
            },
        )
    }

    /// One payment or reversal of the second property test, `times` times over.
    #[derive(Clone, Debug)]
    struct Change {
        at: FineCell,
        delta: Delta,
        times: u32,
    }

    fn change() -> impl Strategy<Value = Change> {
        let sign = prop_oneof![3 => Just(Sign::Add), 2 => Just(Sign::Remove)];
        // Few cells, so reversals find payments and rows widen and empty.
        let at = (0..3u32, 2020..2023i32, 1..=12u8);
        let amount_fen = prop_oneof![
            8 => 0..100_000i64,
            1 => (1i64 << 38)..(1 << 40),
            1 => Just(i64::MAX),
        ];
        let persons = prop_oneof![8 => 0..5u32, 1 => 60_000..70_000u32];
        let times = prop_oneof![9 => Just(1u32), 1 => 250..270u32];
        (sign, at, amount_fen, persons, times).prop_map(
            |(sign, (program, year, month), amount_fen, persons, times)| Change {
                at: cell(program, year, month),
                delta: Delta {
                    sign,
                    amount_fen,
                    persons,
                },
                times,
            },
        )
    }

    /// What the household fold does with a payment: the cell's tally after the
    /// delta, set back; on error nothing changed.
    fn apply(cells: &mut FineCells, at: FineCell, delta: Delta) -> Result<Tally, TallyError> {
        let after = cells.get(at).apply(delta)?;
        cells.set(at, after)?;
        Ok(after)
    }

    proptest! {
        /// The rows answer as a plain sorted map of wide tallies, the layout the
        /// snapshot bytes were defined by, and as the same rows kept wide: the same
        /// cells, the same refusals, the same bytes.
        #[test]
        fn rows_answer_as_a_sorted_map(steps in prop::collection::vec(step(), 0..200)) {
            let mut cells = FineCells::default();
            let mut wide = FineCells::default();
            let mut model: BTreeMap<FineCell, Tally> = BTreeMap::new();
            for (at, to) in steps {
                let fits = u32::try_from(to.payments).is_ok()
                    && u32::try_from(to.person_times).is_ok();
                let result = cells.set(at, to);
                prop_assert_eq!(result.is_ok(), fits);
                prop_assert_eq!(wide.set(at, to), result);
                wide.widen_all();
                if fits && to.is_empty() {
                    model.remove(&at);
                } else if fits {
                    model.insert(at, to);
                }
                prop_assert_eq!(cells.get(at), model.get(&at).copied().unwrap_or_default());
                prop_assert_eq!(wide.get(at), cells.get(at));
                for within in at.rollups() {
                    let expected = model.keys().any(|c| *c != at && within.contains(*c));
                    prop_assert_eq!(cells.any_besides(within, at), expected, "{:?}", within);
                    prop_assert_eq!(wide.any_besides(within, at), expected, "{:?}", within);
                }
            }
            let listed: Vec<(FineCell, Tally)> = cells.iter().collect();
            let expected: Vec<(FineCell, Tally)> = model.iter().map(|(c, t)| (*c, *t)).collect();
            prop_assert_eq!(listed, expected);
            prop_assert_eq!(&wide, &cells);
            let bytes = bincode::serialize(&cells).expect("serialize");
            prop_assert_eq!(&bytes, &bincode::serialize(&model).expect("serialize"));
            prop_assert_eq!(&bytes, &bincode::serialize(&wide).expect("serialize"));
            let mut back: FineCells = bincode::deserialize(&bytes).expect("deserialize");
            prop_assert_eq!(&back, &cells);
            // Loaded in one pass, the rows still answer and change as the built ones.
            for at in model.keys() {
                prop_assert_eq!(back.get(*at), cells.get(*at));
                for within in at.rollups() {
                    prop_assert_eq!(back.any_besides(within, *at), cells.any_besides(within, *at));
                }
            }
            if let Some(at) = model.keys().next().copied() {
                set(&mut back, at, Tally::default());
                set(&mut cells, at, Tally::default());
                prop_assert_eq!(back, cells);
            }
        }

        /// Payments and reversals folded as the households fold them: narrow rows,
        /// rows kept wide and a sorted map of tallies take and refuse the same
        /// changes, past the narrow range and back to empty.
        #[test]
        fn payments_and_reversals_fold_alike_at_either_width(
            changes in prop::collection::vec(change(), 0..120),
        ) {
            let mut cells = FineCells::default();
            let mut wide = FineCells::default();
            let mut model: BTreeMap<FineCell, Tally> = BTreeMap::new();
            for Change { at, delta, times } in changes {
                for _ in 0..times {
                    let before = model.get(&at).copied().unwrap_or_default();
                    let expected = before.apply(delta);
                    prop_assert_eq!(apply(&mut cells, at, delta), expected);
                    prop_assert_eq!(apply(&mut wide, at, delta), expected);
                    wide.widen_all();
                    match expected {
                        Ok(after) if after.is_empty() => model.remove(&at),
                        Ok(after) => model.insert(at, after),
                        Err(_) => break,
                    };
                }
                for within in at.rollups() {
                    let expected = model.keys().any(|c| *c != at && within.contains(*c));
                    prop_assert_eq!(cells.any_besides(within, at), expected, "{:?}", within);
                    prop_assert_eq!(wide.any_besides(within, at), expected, "{:?}", within);
                }
            }
            prop_assert!(cells.iter().eq(model.iter().map(|(c, t)| (*c, *t))));
            prop_assert_eq!(&wide, &cells);
            let bytes = bincode::serialize(&cells).expect("serialize");
            prop_assert_eq!(&bytes, &bincode::serialize(&model).expect("serialize"));
            let back: FineCells = bincode::deserialize(&bytes).expect("deserialize");
            prop_assert_eq!(back, cells);
        }
    }
}
