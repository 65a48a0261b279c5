//! District totals: a data cube of live payments, answered one shape at a time.

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::cells::{
    FineCell, GroupCell, Period, PeriodLevel, Place, PlaceLevel, Shape, PLACES_PER_PAYMENT, SHAPES,
};
use crate::households::{CellChanges, HouseholdState, Rollup};
use crate::intern::{CommunityId, Id, Names, ProgramId, SubdistrictId};
use crate::tally::{Delta, Tally};
use crate::vocab::YearMonth;

/// A key to group district totals by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GroupKey {
    Subdistrict,
    /// A community is identified within its sub-district (names may repeat
    /// across sub-districts), so rows grouped by community also carry the
    /// sub-district.
    Community,
    Program,
    Year,
    /// Year and month together, printed `YYYY-MM`.
    Month,
}

/// What to total. `by` lists the grouping keys (order and repeats do not
/// matter; rows always sort by sub-district, community, program, year,
/// month). An empty `by` gives one grand-total row. Filters narrow the
/// payments counted; a filter naming something never seen gives no rows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalsQuery {
    pub by: Vec<GroupKey>,
    pub year: Option<i32>,
    pub month: Option<YearMonth>,
    pub subdistrict: Option<String>,
    pub program: Option<String>,
}

/// One group's totals. Key fields not grouped by are `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalsRow {
    pub subdistrict: Option<String>,
    pub community: Option<String>,
    pub program: Option<String>,
    pub year: Option<i32>,
    pub month: Option<YearMonth>,
    /// Sum of live payments.
    pub net_fen: i64,
    /// Number of live payments.
    pub payments: u64,
    /// Households with at least one live payment in the group.
    pub households: u64,
    pub person_times: u64,
    /// Money recovered (追缴) in the group, by the recovery's own date: beside the
    /// payments, never netted from them.
    pub recovered_fen: i64,
}

/// A group cell's content: the tally plus how many households reach it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupTally {
    pub(crate) tally: Tally,
    pub(crate) households: u64,
}

/// How a payment changes whether its household is reached by a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    Unchanged,
    /// The household's first live payment in the cell.
    Gained,
    /// The household's last live payment in the cell was reversed.
    Lost,
}

impl Reach {
    pub(crate) fn between(before: Tally, after: Tally) -> Reach {
        match (before.is_empty(), after.is_empty()) {
            (true, false) => Reach::Gained,
            (false, true) => Reach::Lost,
            _ => Reach::Unchanged,
        }
    }
}

impl GroupTally {
    /// Saturating, and exact for a consistent state (see [`Tally::saturating_apply`]).
    fn saturating_apply(self, delta: Delta, reach: Reach) -> GroupTally {
        let households = match reach {
            Reach::Unchanged => self.households,
            Reach::Gained => self.households.saturating_add(1),
            Reach::Lost => self.households.saturating_sub(1),
        };
        GroupTally {
            tally: self.tally.saturating_apply(delta),
            households,
        }
    }
}

/// The cube: for each of the [`SHAPES`] shapes, its non-empty cells. Size is bounded by
/// places x programs x months, never by payments.
///
/// It is a function of the household cells (a group cell sums the household cells of
/// the same program and period at its place, and counts the non-empty ones), so it is
/// derived from them in one pass ([`Totals::derive`]) rather than updated 18 times per
/// payment while a ledger is replayed, and then kept up to date per payment
/// ([`Totals::apply`]) while queries are being answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Totals {
    cubes: Vec<FxHashMap<GroupCell, GroupTally>>,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            cubes: vec![FxHashMap::default(); SHAPES],
        }
    }
}

/// The places a household's payments count at.
pub(crate) fn places_of(state: &HouseholdState) -> [Place; PLACES_PER_PAYMENT] {
    [
        Place::District,
        Place::Subdistrict(state.subdistrict),
        Place::Community(state.community),
    ]
}

impl Totals {
    /// The cube of the given households' cells.
    ///
    /// Each household's cells are added at its community only; a sub-district's and the
    /// district's cells are then the sums of their communities' (a household lies in one
    /// community, and a community in one sub-district, so the household counts add up
    /// too). Adding every household cell at all three places, as a payment does, took a
    /// third of the read models' fold in a `verify` of a million events (benches/README.md,
    /// "The folds' CPU per event"); the communities' cells are far fewer. The sums are the
    /// same in any order: every part is non-negative, so saturating adds are associative.
    pub(crate) fn derive(households: &[HouseholdState]) -> Totals {
        let mut totals = Totals::default();
        let mut subdistrict_of: FxHashMap<CommunityId, SubdistrictId> = FxHashMap::default();
        let mut rollup = Rollup::default();
        for state in households {
            subdistrict_of.insert(state.community, state.subdistrict);
            state.rollup_into(&mut rollup);
            let place = Place::Community(state.community);
            for (cell, tally) in &rollup.cells {
                let value = GroupTally {
                    tally: *tally,
                    households: 1,
                };
                totals.add(cell.at(place), value);
            }
        }
        let communities: Vec<(CommunityId, GroupCell, GroupTally)> = (totals.cubes.iter())
            .flat_map(|cube| cube.iter())
            .filter_map(|(cell, value)| match cell.place {
                Place::Community(community) => Some((community, *cell, *value)),
                Place::District | Place::Subdistrict(_) => None,
            })
            .collect();
        for (community, cell, value) in communities {
            let subdistrict = *subdistrict_of
                .get(&community)
                .expect("a community's cells came from its households, which named it");
            for place in [Place::Subdistrict(subdistrict), Place::District] {
                totals.add(GroupCell { place, ..cell }, value);
            }
        }
        totals
    }

    /// Adds `value` to `cell`'s sum.
    fn add(&mut self, cell: GroupCell, value: GroupTally) {
        let sum = self.cube_mut(&cell).entry(cell).or_default();
        sum.tally = sum.tally.saturating_merge(value.tally);
        sum.households = sum.households.saturating_add(value.households);
    }

    /// Applies a payment's or reversal's household cell changes at the household's places.
    pub(crate) fn apply(
        &mut self,
        places: [Place; PLACES_PER_PAYMENT],
        changes: &CellChanges,
        delta: Delta,
    ) {
        for (cell, reach) in changes {
            for place in places {
                let group = cell.at(place);
                match self.cube_mut(&group).entry(group) {
                    Entry::Occupied(mut entry) => {
                        let value = entry.get().saturating_apply(delta, *reach);
                        if value.tally.is_empty() {
                            entry.remove();
                        } else {
                            *entry.get_mut() = value;
                        }
                    }
                    Entry::Vacant(entry) => {
                        let value = GroupTally::default().saturating_apply(delta, *reach);
                        if !value.tally.is_empty() {
                            entry.insert(value);
                        }
                    }
                }
            }
        }
    }

    fn cube_mut(&mut self, cell: &GroupCell) -> &mut FxHashMap<GroupCell, GroupTally> {
        let index = cell.shape().index();
        self.cubes
            .get_mut(index)
            .expect("the cube holds every shape index")
    }

    /// Number of stored group cells (for sizing reports).
    pub(crate) fn cell_count(&self) -> usize {
        self.cubes.iter().map(FxHashMap::len).sum()
    }

    /// The query's rows; `recovered` lists the money recovered per household (by its
    /// places), program and month, which each row shows beside its payments (a group
    /// with recoveries and no live payment gets a row of its own).
    pub(crate) fn query(
        &self,
        names: &Names,
        query: &TotalsQuery,
        recovered: impl Iterator<Item = ([Place; PLACES_PER_PAYMENT], FineCell, i64)>,
    ) -> Vec<TotalsRow> {
        let shape = shape_for(query);
        let Some(cube) = self.cubes.get(shape.index()) else {
            return Vec::new();
        };
        let mut groups: FxHashMap<GroupCell, (GroupTally, i64)> = cube
            .iter()
            .map(|(cell, value)| (*cell, (*value, 0)))
            .collect();
        add_recovered(&mut groups, Some(shape), recovered);
        rows_of(names, query, groups.into_iter())
    }

    /// Every stored cell with the money recovered in its group: what the snapshot's cube
    /// records hold ([`crate::snapshot`]), all shapes together.
    pub(crate) fn cells_with_recovered(
        &self,
        recovered: impl Iterator<Item = ([Place; PLACES_PER_PAYMENT], FineCell, i64)>,
    ) -> FxHashMap<GroupCell, (GroupTally, i64)> {
        let mut groups: FxHashMap<GroupCell, (GroupTally, i64)> = self
            .cubes
            .iter()
            .flat_map(|cube| cube.iter().map(|(cell, value)| (*cell, (*value, 0))))
            .collect();
        add_recovered(&mut groups, None, recovered);
        groups
    }
}

/// Adds the money recovered to the groups it counts in (of `shape` only, if given); a
/// group with recoveries and no live payment gets an empty tally.
fn add_recovered(
    groups: &mut FxHashMap<GroupCell, (GroupTally, i64)>,
    shape: Option<Shape>,
    recovered: impl Iterator<Item = ([Place; PLACES_PER_PAYMENT], FineCell, i64)>,
) {
    for (places, fine, fen) in recovered {
        for group in groups_at(places, fine) {
            if shape.is_none_or(|shape| group.shape() == shape) {
                let sum = &mut groups.entry(group).or_default().1;
                *sum = sum.saturating_add(fen);
            }
        }
    }
}

/// The rows of `query` from group cells of any shapes: the cells of the query's one
/// shape that its filters accept, in name order.
pub(crate) fn rows_of(
    names: &Names,
    query: &TotalsQuery,
    cells: impl Iterator<Item = (GroupCell, (GroupTally, i64))>,
) -> Vec<TotalsRow> {
    let Some(filter) = Filter::resolve(names, query) else {
        return Vec::new();
    };
    let shape = shape_for(query);
    let grouping = Grouping::of(&query.by);
    let order = NameOrder::new(names, &grouping);
    let mut cells: Vec<(SortKey, GroupCell, GroupTally, i64)> = cells
        .filter(|(cell, _)| cell.shape() == shape && filter.accepts(names, cell))
        .map(|(cell, (value, fen))| (order.key(names, &cell), cell, value, fen))
        .collect();
    // Cells come in hash or record order; reports want name order.
    // Each cell is one group, so the keys are distinct.
    cells.sort_unstable_by_key(|(key, _, _, _)| *key);
    cells
        .into_iter()
        .map(|(_, cell, value, fen)| TotalsRow {
            recovered_fen: fen,
            ..grouping.row(names, &cell, &value)
        })
        .collect()
}

/// Which period records of the snapshot's cube a query reads: the all-time one, one
/// year's, or every year's (a query by month or year without a year filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CubeRecords {
    AllTime,
    Year(i32),
    EveryYear,
}

impl TotalsQuery {
    /// The cube records this query's one shape lives in ([`CubeRecords`]).
    pub fn cube_records(&self) -> CubeRecords {
        let fixed_year = self.month.map(|m| m.year).or(self.year);
        match (shape_for(self).period, fixed_year) {
            (PeriodLevel::All, _) => CubeRecords::AllTime,
            (_, Some(year)) => CubeRecords::Year(year),
            (_, None) => CubeRecords::EveryYear,
        }
    }
}

/// The group cells a household's fine cell counts in: one per shape (each of its
/// household cells, at each of the household's places).
fn groups_at(
    places: [Place; PLACES_PER_PAYMENT],
    fine: FineCell,
) -> impl Iterator<Item = GroupCell> {
    fine.rollups()
        .into_iter()
        .flat_map(move |cell| places.into_iter().map(move |place| cell.at(place)))
}

/// A cell's position in name order: sub-district, community, program, period.
type SortKey = (u32, u32, u32, Period);

/// The name rank of every id of each grouped dimension, so rows sort by
/// comparing integers, not strings. Ungrouped dimensions are constant within
/// one answer (fixed by a filter or absent) and rank 0.
struct NameOrder {
    subdistricts: Vec<u32>,
    communities: Vec<u32>,
    programs: Vec<u32>,
}

impl NameOrder {
    fn new(names: &Names, grouping: &Grouping) -> NameOrder {
        let communities: Vec<(&str, &str)> = if grouping.community {
            names
                .communities
                .names()
                .iter()
                .map(|(s, c)| (names.subdistrict(*s), c.as_str()))
                .collect()
        } else {
            Vec::new()
        };
        NameOrder {
            subdistricts: ranks_if(grouping.subdistrict, names.subdistricts.names()),
            communities: ranks_if(grouping.community, &communities),
            programs: ranks_if(grouping.program, names.programs.names()),
        }
    }

    fn key(&self, names: &Names, cell: &GroupCell) -> SortKey {
        let rank = |ranks: &[u32], index: usize| ranks.get(index).copied().unwrap_or(0);
        let subdistrict =
            subdistrict_of(names, cell.place).map_or(0, |id| rank(&self.subdistricts, id.index()));
        let community = match cell.place {
            Place::Community(id) => rank(&self.communities, id.index()),
            _ => 0,
        };
        let program = cell
            .program
            .map_or(0, |id| rank(&self.programs, id.index()));
        (subdistrict, community, program, cell.period)
    }
}

/// For each index of `keys`, its rank in sorted order (empty if not wanted).
fn ranks_if<K: Ord>(wanted: bool, keys: &[K]) -> Vec<u32> {
    if !wanted {
        return Vec::new();
    }
    let mut by_name: Vec<usize> = (0..keys.len()).collect();
    by_name.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    let mut ranks = vec![0; keys.len()];
    for (rank, index) in (0u32..).zip(by_name) {
        ranks[index] = rank;
    }
    ranks
}

/// The one shape whose cells are exactly the query's groups: fine enough for
/// every grouped or filtered key, and no finer, so each group is one cell
/// and distinct households are read, never summed.
fn shape_for(query: &TotalsQuery) -> Shape {
    let has = |key| query.by.contains(&key);
    let place = if has(GroupKey::Community) {
        PlaceLevel::Community
    } else if has(GroupKey::Subdistrict) || query.subdistrict.is_some() {
        PlaceLevel::Subdistrict
    } else {
        PlaceLevel::District
    };
    let period = if has(GroupKey::Month) || query.month.is_some() {
        PeriodLevel::Month
    } else if has(GroupKey::Year) || query.year.is_some() {
        PeriodLevel::Year
    } else {
        PeriodLevel::All
    };
    Shape {
        place,
        by_program: has(GroupKey::Program) || query.program.is_some(),
        period,
    }
}

/// A query's filters with names resolved to ids.
struct Filter {
    year: Option<i32>,
    month: Option<YearMonth>,
    subdistrict: Option<SubdistrictId>,
    program: Option<ProgramId>,
}

impl Filter {
    /// `None` when a filter names a sub-district or program never seen, so
    /// nothing can match.
    fn resolve(names: &Names, query: &TotalsQuery) -> Option<Filter> {
        let subdistrict = match &query.subdistrict {
            Some(name) => Some(names.subdistricts.get(name.as_str())?),
            None => None,
        };
        let program = match &query.program {
            Some(name) => Some(names.programs.get(name.as_str())?),
            None => None,
        };
        Some(Filter {
            year: query.year,
            month: query.month,
            subdistrict,
            program,
        })
    }

    fn accepts(&self, names: &Names, cell: &GroupCell) -> bool {
        let year_ok = self.year.is_none_or(|y| cell.period.year() == Some(y));
        let month_ok = self.month.is_none_or(|m| cell.period.month() == Some(m));
        let program_ok = self.program.is_none_or(|p| cell.program == Some(p));
        let subdistrict_ok = self
            .subdistrict
            .is_none_or(|s| subdistrict_of(names, cell.place) == Some(s));
        year_ok && month_ok && program_ok && subdistrict_ok
    }
}

fn subdistrict_of(names: &Names, place: Place) -> Option<SubdistrictId> {
    match place {
        Place::District => None,
        Place::Subdistrict(id) => Some(id),
        Place::Community(id) => Some(names.community_subdistrict(id)),
    }
}

/// Which key fields a row fills in.
struct Grouping {
    subdistrict: bool,
    community: bool,
    program: bool,
    year: bool,
    month: bool,
}

impl Grouping {
    fn of(by: &[GroupKey]) -> Grouping {
        let has = |key| by.contains(&key);
        Grouping {
            subdistrict: has(GroupKey::Subdistrict) || has(GroupKey::Community),
            community: has(GroupKey::Community),
            program: has(GroupKey::Program),
            year: has(GroupKey::Year),
            month: has(GroupKey::Month),
        }
    }

    fn row(&self, names: &Names, cell: &GroupCell, value: &GroupTally) -> TotalsRow {
        let community = match cell.place {
            Place::Community(id) => Some(names.community(id).to_owned()),
            _ => None,
        };
        TotalsRow {
            subdistrict: self
                .subdistrict
                .then(|| subdistrict_of(names, cell.place))
                .flatten()
                .map(|id| names.subdistrict(id).to_owned()),
            community: community.filter(|_| self.community),
            program: self
                .program
                .then_some(cell.program)
                .flatten()
                .map(|id| names.program(id).to_owned()),
            year: self.year.then(|| cell.period.year()).flatten(),
            month: self.month.then(|| cell.period.month()).flatten(),
            net_fen: value.tally.net_fen,
            payments: value.tally.payments,
            households: value.households,
            person_times: value.tally.person_times,
            recovered_fen: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(by: &[GroupKey]) -> TotalsQuery {
        TotalsQuery {
            by: by.to_vec(),
            ..TotalsQuery::default()
        }
    }

    #[test]
    fn shape_is_as_fine_as_grouping_and_filters_need() {
        assert_eq!(
            shape_for(&query(&[])),
            Shape {
                place: PlaceLevel::District,
                by_program: false,
                period: PeriodLevel::All
            }
        );
        assert_eq!(
            shape_for(&query(&[GroupKey::Year, GroupKey::Subdistrict])),
            Shape {
                place: PlaceLevel::Subdistrict,
                by_program: false,
                period: PeriodLevel::Year
            }
        );
        let filtered = TotalsQuery {
            by: vec![GroupKey::Community],
            month: Some(YearMonth {
                year: 2019,
                month: 2,
            }),
            program: Some("p".into()),
            ..TotalsQuery::default()
        };
        assert_eq!(
            shape_for(&filtered),
            Shape {
                place: PlaceLevel::Community,
                by_program: true,
                period: PeriodLevel::Month
            }
        );
    }

    #[test]
    fn period_helpers_expose_year_and_month() {
        let m = YearMonth {
            year: 2018,
            month: 7,
        };
        assert_eq!(Period::Month(m).year(), Some(2018));
        assert_eq!(Period::Month(m).month(), Some(m));
        assert_eq!(Period::Year(2018).month(), None);
        assert_eq!(Period::All.year(), None);
    }

    /// The cube as every household's cells added at each of its three places, the way
    /// it was derived before the communities were summed instead.
    fn derived_at_every_place(households: &[HouseholdState]) -> Totals {
        let mut totals = Totals::default();
        for state in households {
            for (cell, tally) in state.rollup() {
                for place in places_of(state) {
                    totals.add(
                        cell.at(place),
                        GroupTally {
                            tally,
                            households: 1,
                        },
                    );
                }
            }
        }
        totals
    }

    /// Households in two sub-districts, one of them with two communities (one of which
    /// has the other sub-district's community's name), paid in two programs over
    /// several months, one household never paid.
    fn households() -> Vec<HouseholdState> {
        use crate::households::Enrollment;
        use crate::tally::{Delta, Sign};
        let enrollment = Enrollment {
            subdistrict: String::new(),
            community: String::new(),
            category: "bereaved".into(),
            members: 2,
            enrolled_on: crate::vocab::Date {
                year: 2019,
                month: 1,
                day: 1,
            },
        };
        let places = [(0, 0), (0, 1), (1, 2), (0, 0), (1, 2), (0, 1)];
        let mut households = Vec::new();
        for (n, (subdistrict, community)) in places.into_iter().enumerate() {
            let mut state = HouseholdState::new(
                enrollment.clone(),
                SubdistrictId::from_index(subdistrict),
                CommunityId::from_index(community),
            );
            for k in 0..(n as u32 * 3) {
                let cell = FineCell {
                    program: ProgramId::from_index(k % 2),
                    month: YearMonth {
                        year: 2019 + (k / 12) as i32,
                        month: (k % 12 + 1) as u8,
                    },
                };
                let delta = Delta {
                    sign: Sign::Add,
                    amount_fen: 100 * i64::from(k + 1),
                    persons: k % 3,
                };
                assert!(
                    state.apply(cell, delta).is_ok(),
                    "household {n}, payment {k}"
                );
            }
            households.push(state);
        }
        households
    }

    #[test]
    fn the_cube_summed_from_communities_is_the_cube_of_every_place() {
        let households = households();
        let derived = Totals::derive(&households);
        assert_eq!(derived, derived_at_every_place(&households));
        // Every shape has cells, and a sub-district's count is its communities' together.
        assert!(derived.cubes.iter().all(|cube| !cube.is_empty()));
        let all_time = |place| {
            let cell = GroupCell {
                place,
                program: None,
                period: Period::All,
            };
            derived.cubes[cell.shape().index()][&cell].households
        };
        assert_eq!(
            all_time(Place::District),
            5,
            "the household never paid is not counted"
        );
        assert_eq!(
            all_time(Place::Subdistrict(SubdistrictId::from_index(0))),
            3
        );
        assert_eq!(all_time(Place::Community(CommunityId::from_index(0))), 1);
        assert_eq!(all_time(Place::Community(CommunityId::from_index(1))), 2);
        assert_eq!(Totals::derive(&[]), Totals::default());
    }
}
