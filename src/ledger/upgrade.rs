//! `fundtrail upgrade`: a ledger of an older store layout brought to this one in place.
//!
//! Layout 3 to 4 builds the household trail index and the list of rate seqs (FORMAT.md §3,
//! §3.2) from its log. Nothing of the log, its checkpoints or its other indexes changes:
//! the index entries are written first (keys no layout-3 reader looks at), then one durable
//! batch writes the trail summaries, the state record naming them and layout 4.
//! Interrupted, the ledger is still layout 3 and the upgrade runs again from the start (the
//! entries are the same keys).
//!
//! Layout 4 to 6 rewrites each event and reference block in its stored form (a form byte,
//! compressed; FORMAT.md §3): the blocks' bytes, and so their seals and the reference
//! digest, stay the same. A first durable batch writes layout 6 (the version that wrote
//! layout 5 wrote 5 here) and the recoding marker `m‖recoding`, the first seq whose
//! blocks are still in layout 4's form; each batch of blocks moves the marker with them,
//! and the last removes it. While the marker is there, the ledger opens as layout 4
//! (refused, naming `fundtrail upgrade`, which carries on from the marker and writes
//! layout 6 at the end), and a version that reads layout 4 refuses the ledger.
//!
//! Layout 5 to 6 writes the layout record and nothing else: layout 6 reads layout 5's LZ4
//! blocks as they are and writes new blocks Zstandard-compressed, which a version that
//! reads layout 5 would take for damage, so it refuses layout 6.
//!
//! Layout 6 to 7 removes the leaf tiles (`l`, 32 bytes per event), which layout 7
//! recomputes from the event blocks. A first durable batch writes layout 7 and the marker
//! `m‖dropping-tiles` (from layouts 3 and 4, the recoding's first batch writes both); the
//! tiles go in batches of [`LEAF_TILES_PER_BATCH`]; the batch that removes the last ones
//! removes the marker, and a sync then makes it durable. While the marker is there the ledger opens as layout 6 (refused, naming
//! `fundtrail upgrade`, which removes what is left), and a version that reads layout 6,
//! which would miss the tiles, refuses the ledger as layout 7. Every layout before 6 stored
//! the tiles too, so every upgrade ends with this step.

use std::ops::ControlFlow;
use std::path::Path;

use serde::Deserialize;

use super::state::{self, StateRecord, META_STATE};
use super::trails::{TrailDirectory, TrailUpdates};
use super::{meta_bytes, STORE_LAYOUT};
use super::{read_meta, read_verifier_key, HeadRecord, Ledger, LedgerError, META_LAYOUT};
use crate::model::domain::Seq;
use crate::model::encoding::{body_variant, peek_household, RATE_SET_VARIANT};
use crate::model::rules::Budgets;
use crate::store::{OpenMode, ReferencesDigest, Store, StoreBatch};

/// The layout whose trail index this upgrade builds.
const TRAILS_FROM_LAYOUT: u32 = 3;

/// The layout whose blocks this upgrade recodes.
const RECODE_FROM_LAYOUT: u32 = 4;

/// The layout whose blocks (LZ4) are read as they are: its upgrade only removes the leaf
/// tiles and relabels it.
const RELABEL_FROM_LAYOUT: u32 = 5;

/// The layout that stored leaf tiles, which this upgrade removes.
const TILES_FROM_LAYOUT: u32 = 6;

/// The leaf-tile marker (FORMAT.md §3): present only while an upgrade removes the leaf
/// tiles of an earlier layout.
pub(super) const META_DROPPING_TILES: &str = "dropping-tiles";

/// Leaf tiles removed per batch: a removal is a key in the batch, not the tile's bytes, so
/// the batch stays well under a MiB; a 1,015,382-event ledger has 15,865 tiles, four
/// batches.
const LEAF_TILES_PER_BATCH: usize = 4096;

/// The recoding marker (FORMAT.md §3): the first seq whose blocks are still in layout 4's
/// form, present only while an upgrade from layout 4 is under way.
pub(super) const META_RECODING: &str = "recoding";

/// Event blocks recoded per batch: about 13 MiB of layout-4 blocks at 1,000,000 events,
/// so that the upgrade's memory stays flat however long the log.
const RECODE_BLOCKS_PER_BATCH: usize = 1024;

/// The layout a ledger is in for opening it: its layout record, or 4 while an upgrade from
/// layout 4 is under way (its marker is there: the upgrade writes layout 7 first, earlier
/// versions' wrote 5 or 6), or 6 while one removes the leaf tiles.
pub(super) fn effective_layout(store: &Store) -> Result<u32, LedgerError> {
    let layout: u32 = read_meta(store, META_LAYOUT)?.unwrap_or(1);
    let recoding_label = [STORE_LAYOUT, TILES_FROM_LAYOUT, RELABEL_FROM_LAYOUT].contains(&layout);
    if recoding_label && store.meta(META_RECODING)?.is_some() {
        return Ok(RECODE_FROM_LAYOUT);
    }
    if layout == STORE_LAYOUT && store.meta(META_DROPPING_TILES)?.is_some() {
        return Ok(TILES_FROM_LAYOUT);
    }
    Ok(layout)
}

/// The state record of layout 3, as FORMAT.md §3.2 described it before the trail directory.
#[derive(Deserialize)]
struct StateRecordV3 {
    head: HeadRecord,
    budgets: Budgets,
    households: u64,
    references: ReferencesDigest,
    tokens: [u8; 32],
    people: u64,
}

/// The same, as layout-3 ledgers wrote it before people were recorded (read with
/// `people` = 0).
#[derive(Deserialize)]
struct StateRecordV3NoPeople {
    head: HeadRecord,
    budgets: Budgets,
    households: u64,
    references: ReferencesDigest,
    tokens: [u8; 32],
}

fn decode_v3(bytes: &[u8]) -> Result<StateRecordV3, LedgerError> {
    bincode::deserialize(bytes)
        .or_else(|err| {
            bincode::deserialize::<StateRecordV3NoPeople>(bytes)
                .map(|old| StateRecordV3 {
                    head: old.head,
                    budgets: old.budgets,
                    households: old.households,
                    references: old.references,
                    tokens: old.tokens,
                    people: 0,
                })
                .map_err(|_| err)
        })
        .map_err(|e| LedgerError::Corrupt(format!("the layout-3 state record: {e}")))
}

/// What an upgrade did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upgraded {
    /// The layout found (the current one when there was nothing to do).
    pub from: u32,
    /// Events listed in the trail index.
    pub entries: u64,
    /// Leaf tiles removed.
    pub tiles: u64,
}

impl Ledger {
    /// Upgrades the ledger in `dir` from store layout 3, 4, 5 or 6 to this version's layout,
    /// then opens it. A ledger already in this layout is opened as it is; any other layout
    /// is refused as `open` refuses it. From layout 3, the seal of the state must hold, and
    /// nothing may lie beyond the head (open it with the version that wrote it first,
    /// which settles that).
    pub fn upgrade(dir: &Path) -> Result<(Ledger, Upgraded), LedgerError> {
        let store = Store::open(dir, OpenMode::Existing)?;
        let layout = effective_layout(&store)?;
        if layout == STORE_LAYOUT {
            let ledger = Ledger::load(store)?;
            let nothing = Upgraded {
                from: layout,
                entries: 0,
                tiles: 0,
            };
            return Ok((ledger, nothing));
        }
        let from = [
            TRAILS_FROM_LAYOUT,
            RECODE_FROM_LAYOUT,
            RELABEL_FROM_LAYOUT,
            TILES_FROM_LAYOUT,
        ];
        if !from.contains(&layout) {
            return Err(LedgerError::Layout {
                found: layout,
                supported: STORE_LAYOUT,
            });
        }
        let mut entries = 0;
        if layout < RELABEL_FROM_LAYOUT {
            store.read_legacy_blocks(true);
            if layout == TRAILS_FROM_LAYOUT {
                entries = build_index(&store)?;
            }
            recode_blocks(&store)?;
            store.read_legacy_blocks(false);
        }
        let tiles = drop_leaf_tiles(&store)?;
        let ledger = Ledger::load(store)?;
        Ok((
            ledger,
            Upgraded {
                from: layout,
                entries,
                tiles,
            },
        ))
    }
}

/// Rewrites every event and reference block of layout 4 in this layout's stored form,
/// from the recoding marker on (the first seq, when the marker is not there yet), then
/// makes it durable.
fn recode_blocks(store: &Store) -> Result<(), LedgerError> {
    let mut from = match read_meta::<u64>(store, META_RECODING)? {
        Some(seq) => Seq::new(seq),
        None => {
            let mut start = StoreBatch::default();
            start.put_meta(META_LAYOUT, meta_bytes(&STORE_LAYOUT));
            start.put_meta(META_RECODING, meta_bytes(&0u64));
            start.put_meta(META_DROPPING_TILES, meta_bytes(&()));
            store.write_durable(start)?;
            Seq::new(0)
        }
    };
    while let Some(next) =
        store.recode_legacy_blocks(from, RECODE_BLOCKS_PER_BATCH, META_RECODING)?
    {
        from = next;
    }
    Ok(store.sync()?)
}

/// Removes every leaf tile in batches (writing layout 7 and the marker first, unless an
/// upgrade under way wrote them), the last batch with the marker, then makes that durable.
/// Returns the tiles removed.
fn drop_leaf_tiles(store: &Store) -> Result<u64, LedgerError> {
    if store.meta(META_DROPPING_TILES)?.is_none() {
        if read_meta::<u32>(store, META_LAYOUT)? == Some(STORE_LAYOUT) {
            return Ok(0);
        }
        let mut start = StoreBatch::default();
        start.put_meta(META_LAYOUT, meta_bytes(&STORE_LAYOUT));
        start.put_meta(META_DROPPING_TILES, meta_bytes(&()));
        store.write_durable(start)?;
    }
    let mut removed = 0u64;
    loop {
        let batch = store.remove_leaf_tiles(LEAF_TILES_PER_BATCH, META_DROPPING_TILES)?;
        removed += batch as u64;
        if batch < LEAF_TILES_PER_BATCH {
            break;
        }
    }
    store.sync()?;
    Ok(removed)
}

/// Writes the trail index of every committed event, then the summaries, the state record
/// and the layout in one durable batch. Returns the entries written.
fn build_index(store: &Store) -> Result<u64, LedgerError> {
    let verifier = read_verifier_key(store)?;
    let key = state::read_state_key(store, &verifier)?;
    let stored = store
        .meta(META_STATE)?
        .ok_or_else(|| LedgerError::Corrupt("the ledger has no state record".into()))?;
    let bytes = key
        .unwrap(state::STATE_LABEL, &stored)
        .map_err(|_| LedgerError::Unsealed("state record".into()))?;
    let old = decode_v3(bytes)?;
    let head = old.head.size;
    if store.pending()?.is_some() || !store.blocks_from(Seq::new(head + 1))?.is_empty() {
        return Err(LedgerError::Invalid(format!(
            "the ledger has an unfinished write beyond its head (seq {head}): open it once \
             with the version that wrote it, which settles that, then upgrade"
        )));
    }
    store.seal_blocks_with(key.clone());
    let directory = TrailDirectory::default();
    let mut updates = TrailUpdates::default();
    let mut batch = StoreBatch::default();
    let mut entries = 0u64;
    let mut failed = None;
    let mut rates = Vec::new();
    let scanned = match head {
        0 => Ok(()),
        _ => store.scan_events(Seq::FIRST..=Seq::new(head), |seq, _, record| {
            if body_variant(record) == Some(RATE_SET_VARIANT) {
                rates.push(seq.get());
            }
            let Some(household) = peek_household(record) else {
                return ControlFlow::Continue(());
            };
            entries += 1;
            let added = updates
                .add(store, &directory, household, seq)
                .and_then(|()| {
                    updates.flush_if_full(&mut batch);
                    match batch.keys() {
                        0 => Ok(()),
                        _ => Ok(store.write(std::mem::take(&mut batch))?),
                    }
                });
            match added {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failed = Some(e);
                    ControlFlow::Break(())
                }
            }
        }),
    };
    scanned?;
    if let Some(e) = failed {
        return Err(e);
    }
    let trails = updates.finish(&mut batch, &directory);
    let record = StateRecord {
        head: old.head,
        budgets: old.budgets,
        households: old.households,
        references: old.references,
        tokens: old.tokens,
        people: old.people,
        trails,
        rates,
    };
    state::put_state(&mut batch, &key, &record);
    batch.put_meta(META_LAYOUT, meta_bytes(&RECODE_FROM_LAYOUT));
    store.write_durable(batch)?;
    Ok(entries)
}
