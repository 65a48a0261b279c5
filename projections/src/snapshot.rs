//! The read models as separate records, so that a query loads only what it answers.
//!
//! [`ReadModels::parts`] splits the state into:
//! - a **core** ([`CoreData`]): the position, the program and place names, the grand total,
//!   the funds and the receivables; small, sized by programs, places and findings;
//! - **household shards** ([`ShardData`], [`HOUSEHOLD_SHARDS`] of them, a household in
//!   shard [`household_shard`] of its id): each household's enrollment, fine cells and
//!   recoveries; a `household` answer reads one;
//! - **cube records** ([`CubeData`]): the district totals' group cells with the money
//!   recovered in each, the all-time shapes in one record and each year's year and month
//!   shapes in one record per year; a `totals` answer reads the ones its shape lives in
//!   ([`crate::CubeRecords`]).
//!
//! [`ReadModels::from_parts`] puts the whole state back from the core and every shard
//! (the cube is derived again, as from any state). The records carry no digests: the
//! caller, which stores them, binds them to the core.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::cells::{FineCell, GroupCell, Period};
use crate::funds::FundState;
use crate::households::{HouseholdBalance, HouseholdState};
use crate::intern::{HouseholdId, Id, Names, ProgramId};
use crate::models::{Applied, ReadModels};
use crate::receivables::Receivables;
use crate::tally::Tally;
use crate::totals::{rows_of, GroupTally, TotalsQuery, TotalsRow};

/// Households are spread over this many shard records: a `household` answer reads one
/// 256th of the households' state (about 60 of 15,000), and a write rewrites only the
/// shards whose households changed. The same count and hash as the trail index's shards.
pub const HOUSEHOLD_SHARDS: usize = 256;

/// The shard holding `household`'s state: the first byte of the BLAKE3 of its id.
pub fn household_shard(household: &str) -> u8 {
    blake3::hash(household.as_bytes()).as_bytes()[0]
}

/// What a set of records does not fit: a household in the wrong shard, twice, or missing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the read-model records do not fit together: {0}")]
pub struct PartsError(String);

/// The state every answer may need, without the households.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreData {
    applied: Option<Applied>,
    /// Programs, sub-districts and communities; no households (those are in the shards).
    names: Names,
    households: u32,
    grand: Tally,
    funds: BTreeMap<ProgramId, FundState>,
    receivables: Receivables,
}

/// One household as a shard stores it: its id's index in the models (so the whole state
/// loads back in enrollment order and compares equal), its id, state and recoveries.
/// Borrowed from the models when saved (a save copies no household's state), owned when
/// loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ShardHousehold<'a> {
    index: u32,
    id: Cow<'a, str>,
    state: Cow<'a, HouseholdState>,
    recovered: Vec<(FineCell, i64)>,
}

/// The households of one shard, in index order; `ShardData<'static>` when loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardData<'a> {
    households: Vec<ShardHousehold<'a>>,
}

/// Group cells of the totals cube with the money recovered in each, sorted by cell.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CubeData {
    cells: Vec<(GroupCell, GroupTally, i64)>,
}

/// The whole state as records (see the module comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts<'a> {
    pub core: CoreData,
    /// [`HOUSEHOLD_SHARDS`] shards, by shard number, borrowing the models' households.
    pub shards: Vec<ShardData<'a>>,
    pub all_time: CubeData,
    pub years: BTreeMap<i32, CubeData>,
}

/// The parts of a snapshot that rewrites only the household shards that changed
/// ([`ReadModels::parts_where`]): the core and the cube records whole (they are not sized
/// by households), and the wanted shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedParts<'a> {
    pub core: CoreData,
    /// By shard number, [`HOUSEHOLD_SHARDS`] of them; `None` for a shard not wanted.
    pub shards: Vec<Option<ShardData<'a>>>,
    pub all_time: CubeData,
    pub years: BTreeMap<i32, CubeData>,
}

impl ChangedParts<'_> {
    /// The parts holding copies of the households they borrowed, to encode after the
    /// models have moved on.
    pub fn into_owned(self) -> ChangedParts<'static> {
        ChangedParts {
            core: self.core,
            shards: self
                .shards
                .into_iter()
                .map(|shard| shard.map(ShardData::into_owned))
                .collect(),
            all_time: self.all_time,
            years: self.years,
        }
    }
}

impl ShardData<'_> {
    /// The shard holding copies of the households it borrowed.
    pub fn into_owned(self) -> ShardData<'static> {
        let households = self
            .households
            .into_iter()
            .map(|household| ShardHousehold {
                index: household.index,
                id: Cow::Owned(household.id.into_owned()),
                state: Cow::Owned(household.state.into_owned()),
                recovered: household.recovered,
            })
            .collect();
        ShardData { households }
    }
}

impl CoreData {
    /// The last event the records reflect.
    pub fn applied(&self) -> Option<Applied> {
        self.applied
    }

    /// The receivables (追缴) of every finding.
    pub fn receivables(&self) -> &Receivables {
        &self.receivables
    }

    /// Fund balances, as [`ReadModels::funds`] gives them.
    pub fn funds(&self) -> Vec<crate::FundRow> {
        crate::models::fund_rows(&self.funds, &self.names)
    }

    /// `household`'s enrollment and balances from its shard ([`household_shard`]); `None`
    /// if the shard does not hold it (never enrolled).
    pub fn household(&self, shard: &ShardData<'_>, household: &str) -> Option<HouseholdBalance> {
        let entry = shard.households.iter().find(|h| h.id == household)?;
        let mut balance = entry.state.balance(household, &self.names);
        balance.receivables = self.receivables.of_household(household);
        Some(balance)
    }

    /// Models holding the core and only `household` (if its shard holds it), at the
    /// core's position: what a query of that household catches up with the household's
    /// own events after the snapshot (no other household's events change its balances;
    /// the totals and funds of such models are not the district's).
    pub fn household_models(&self, shard: &ShardData<'_>, household: &str) -> ReadModels {
        let mut names = self.names.clone();
        let mut states = Vec::new();
        let mut recovered = BTreeMap::new();
        if let Some(entry) = shard.households.iter().find(|h| h.id == household) {
            let id: HouseholdId = names
                .households
                .intern(household.to_owned())
                .expect("an empty name table has room for one household");
            states.push(entry.state.clone().into_owned());
            for (cell, fen) in &entry.recovered {
                recovered.insert((id, *cell), *fen);
            }
        }
        let shard_of = vec![household_shard(household); states.len()];
        ReadModels::assemble(
            self.applied,
            names,
            states,
            self.grand,
            self.funds.clone(),
            self.receivables.clone(),
            recovered,
        )
        .with_shards_of(shard_of)
    }

    /// The rows of `query` from the cube records it needs
    /// ([`TotalsQuery::cube_records`]); others passed along are ignored.
    pub fn totals<'a>(
        &self,
        query: &TotalsQuery,
        cubes: impl Iterator<Item = &'a CubeData>,
    ) -> Vec<TotalsRow> {
        let cells = cubes.flat_map(|cube| {
            cube.cells
                .iter()
                .map(|(cell, value, fen)| (*cell, (*value, *fen)))
        });
        rows_of(&self.names, query, cells)
    }
}

impl ReadModels {
    /// The state as separate records; [`ReadModels::from_parts`] is its inverse.
    pub fn parts(&self) -> Parts<'_> {
        let ChangedParts {
            core,
            shards,
            all_time,
            years,
        } = self.parts_where(|_| true);
        Parts {
            core,
            shards: shards.into_iter().map(Option::unwrap_or_default).collect(),
            all_time,
            years,
        }
    }

    /// [`ReadModels::parts`] with only the household shards `wanted` says yes to: each
    /// shard wanted is the same as in the whole parts. The other shards' households are
    /// neither copied nor borrowed, so a snapshot after changes to a few households
    /// encodes a few shards (see [`ReadModels::shard_changed_after`]).
    pub fn parts_where(&self, wanted: impl Fn(u8) -> bool) -> ChangedParts<'_> {
        let names = self.names_without_households();
        let core = CoreData {
            applied: self.applied(),
            names,
            households: u32::try_from(self.household_states().len())
                .expect("household ids are u32, so there are at most u32::MAX households"),
            grand: self.grand(),
            funds: self.fund_states().clone(),
            receivables: self.receivables().clone(),
        };
        let (all_time, years) = self.cube_records();
        ChangedParts {
            core,
            shards: self.shards_where(&wanted),
            all_time,
            years,
        }
    }

    /// The whole state back from its core and every shard; the cube records are not
    /// needed (the cube is derived from the households when first queried).
    pub fn from_parts(
        core: CoreData,
        shards: Vec<ShardData<'_>>,
    ) -> Result<ReadModels, PartsError> {
        if shards.len() != HOUSEHOLD_SHARDS {
            return Err(PartsError(format!(
                "{} household shards, not {HOUSEHOLD_SHARDS}",
                shards.len()
            )));
        }
        let mut households: Vec<Option<(u8, ShardHousehold<'_>)>> = Vec::new();
        households.resize_with(core.households as usize, || None);
        for (number, shard) in shards.into_iter().enumerate() {
            for household in shard.households {
                place(&mut households, number, household)?;
            }
        }
        let mut names = core.names;
        let mut states = Vec::with_capacity(households.len());
        let mut shard_of = Vec::with_capacity(households.len());
        let mut recovered = BTreeMap::new();
        for (index, household) in households.into_iter().enumerate() {
            let (shard, household) =
                household.ok_or_else(|| PartsError(format!("household #{index} is missing")))?;
            shard_of.push(shard);
            let id: HouseholdId = names
                .households
                .intern(household.id.into_owned())
                .map_err(|e| PartsError(e.to_string()))?;
            for (cell, fen) in household.recovered {
                recovered.insert((id, cell), fen);
            }
            states.push(household.state.into_owned());
        }
        Ok(ReadModels::assemble(
            core.applied,
            names,
            states,
            core.grand,
            core.funds,
            core.receivables,
            recovered,
        )
        .with_shards_of(shard_of))
    }

    /// Every household shard, as [`ReadModels::parts`] gives them, without the cube
    /// records, which derive the cube: a caller may encode these on one thread while
    /// another derives and encodes the cube ([`ReadModels::parts_where`] of no shard).
    pub fn shard_parts(&self) -> Vec<ShardData<'_>> {
        let shards = self.shards_where(&|_| true);
        shards.into_iter().map(Option::unwrap_or_default).collect()
    }

    /// The household shards of [`ReadModels::parts_where`] alone (`None` for a shard not
    /// wanted), for the same use as [`ReadModels::shard_parts`].
    pub fn shard_parts_where(&self, wanted: impl Fn(u8) -> bool) -> Vec<Option<ShardData<'_>>> {
        self.shards_where(&wanted)
    }

    /// Each wanted shard's households, in index order; `None` for the others.
    fn shards_where(&self, wanted: &impl Fn(u8) -> bool) -> Vec<Option<ShardData<'_>>> {
        let mut recovered: FxHashMap<HouseholdId, Vec<(FineCell, i64)>> = FxHashMap::default();
        for (&(household, cell), &fen) in self.recovered_cells() {
            if wanted(self.shard_of(household)) {
                recovered.entry(household).or_default().push((cell, fen));
            }
        }
        let mut shards: Vec<Option<ShardData<'_>>> = (0..=u8::MAX)
            .map(|shard| wanted(shard).then(ShardData::default))
            .collect();
        for (index, state) in (0u32..).zip(self.household_states()) {
            let household = HouseholdId::from_index(index);
            let Some(shard) = &mut shards[usize::from(self.shard_of(household))] else {
                continue;
            };
            let id = self.household_name(household);
            shard.households.push(ShardHousehold {
                index,
                id: Cow::Borrowed(id),
                state: Cow::Borrowed(state),
                recovered: recovered
                    .remove(&HouseholdId::from_index(index))
                    .unwrap_or_default(),
            });
        }
        shards
    }

    /// The cube with its recoveries, split by period: all-time shapes, then per year.
    fn cube_records(&self) -> (CubeData, BTreeMap<i32, CubeData>) {
        let mut all_time = CubeData::default();
        let mut years: BTreeMap<i32, CubeData> = BTreeMap::new();
        for (cell, (value, fen)) in self.cube_cells() {
            let record = match cell.period {
                Period::All => &mut all_time,
                Period::Year(year) => years.entry(year).or_default(),
                Period::Month(month) => years.entry(month.year).or_default(),
            };
            record.cells.push((cell, value, fen));
        }
        all_time.cells.sort_unstable_by_key(|(cell, _, _)| *cell);
        for record in years.values_mut() {
            record.cells.sort_unstable_by_key(|(cell, _, _)| *cell);
        }
        (all_time, years)
    }
}

/// Puts a shard's household at its index, checking it belongs there.
fn place<'a>(
    households: &mut [Option<(u8, ShardHousehold<'a>)>],
    shard: usize,
    household: ShardHousehold<'a>,
) -> Result<(), PartsError> {
    let own = household_shard(&household.id);
    if usize::from(own) != shard {
        return Err(PartsError(format!(
            "household {} is in shard {shard}, not its own",
            household.id
        )));
    }
    let slot = households
        .get_mut(household.index as usize)
        .ok_or_else(|| {
            PartsError(format!(
                "household #{} is beyond the count",
                household.index
            ))
        })?;
    if slot.is_some() {
        return Err(PartsError(format!("household #{} twice", household.index)));
    }
    *slot = Some((own, household));
    Ok(())
}
