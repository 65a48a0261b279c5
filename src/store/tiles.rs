//! Which parts of the Merkle tree the ledger stores (FORMAT.md §3, §6.3), and how the
//! hashes of the nodes a proof names are read back from them. Pure: the reads go through
//! a [`NodeSource`], which the ledger implements over the store.
//!
//! Storage contract: the ledger stores the hash of every complete aligned subtree at
//! level `L >= STORED_MIN_LEVEL` (level `L`, index `i` covers the leaves
//! `[i * 2^L, (i + 1) * 2^L)`) and nothing below that level. Leaf hashes are not stored
//! (since layout 7): a lower subtree is rehashed from the leaf hashes of its one tile of
//! `LEAF_TILE_LEAVES`, which the ledger recomputes from the event hashes in the event
//! blocks covering the tile.

use std::ops::Range;

use crate::tlog::merkle::{mth, Digest, NodeId, TreeHasher};

/// Lowest level whose complete subtrees the ledger stores. Level 6 covers 64
/// leaves, so a batch of n leaves writes about n/32 extra keys (n/64 + n/128 +
/// ... node hashes), and rebuilding any unstored subtree needs at most
/// `LEAF_TILE_LEAVES` leaf hashes (the events of one or two blocks). sled's cost is
/// per key: at level 4 (a node per 16 leaves, n/8 keys, tiles of 16) a
/// 1,000-event append spent about 0.1 ms more on them.
pub const STORED_MIN_LEVEL: u8 = 6;

/// Leaf hashes in one leaf tile (FORMAT.md §6.3): the leaves under one subtree at
/// `STORED_MIN_LEVEL`, the most leaf hashes one read of the lower levels ever asks for.
/// Layout 6 stored each complete tile as a key of its own; this layout recomputes it from
/// the event blocks, which hold each event's hash (64 hashes, a few microseconds).
pub const LEAF_TILE_LEAVES: u64 = 1 << STORED_MIN_LEVEL;

/// Whether the ledger stores the hash of this subtree as a node of its own.
pub fn is_stored(id: NodeId) -> bool {
    id.level() >= STORED_MIN_LEVEL
}

/// Read access to a stored tree, as proofs need it.
pub trait NodeSource {
    /// Why a read failed (IO, a missing key, corruption).
    type Error;

    /// The leaf hashes (`hash_leaf(data)`, not the data) of the leaves in `range`, in
    /// order. Ranges asked for lie inside one leaf tile (so are never longer than
    /// `LEAF_TILE_LEAVES`) and inside the size the proof is for.
    fn leaf_hashes(&self, range: Range<u64>) -> Result<Vec<Digest>, Self::Error>;

    /// The stored hash of the complete subtree at `level` (always `>= STORED_MIN_LEVEL`)
    /// and `index`.
    fn stored_node(&self, level: u8, index: u64) -> Result<Digest, Self::Error>;
}

/// Why the hashes of a proof's nodes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError<E> {
    /// The node source answered with the wrong number of leaf hashes.
    #[error("asked for leaf hashes {start}..{end}, got {got}")]
    ShortLeafRead { start: u64, end: u64, got: usize },
    /// The node source failed.
    #[error("reading the stored tree failed")]
    Source(#[source] E),
}

/// The hashes of `ids`, in order: a stored subtree is one read; the lower ones are
/// rehashed from leaf hashes read once per tile they lie in (a proof's lower nodes lie
/// in at most two tiles: the one of its leaf or old size, and the last one).
pub fn node_hashes<H: TreeHasher, S: NodeSource>(
    hasher: &H,
    source: &S,
    ids: &[NodeId],
) -> Result<Vec<Digest>, FetchError<S::Error>> {
    let tiles = TileReads::read(source, ids)?;
    ids.iter()
        .map(|&id| {
            if is_stored(id) {
                source
                    .stored_node(id.level(), id.index())
                    .map_err(FetchError::Source)
            } else {
                Ok(mth(hasher, tiles.leaves(id)))
            }
        })
        .collect()
}

/// Leaf hashes read for the unstored nodes of one proof: per tile, the span its nodes
/// cover.
struct TileReads {
    /// (first leaf, leaf hashes from it on), one per tile touched.
    reads: Vec<(u64, Vec<Digest>)>,
}

impl TileReads {
    fn read<S: NodeSource>(source: &S, ids: &[NodeId]) -> Result<Self, FetchError<S::Error>> {
        // (tile, first leaf, one past the last) per tile, in first-seen order.
        let mut spans: Vec<(u64, u64, u64)> = Vec::new();
        for &id in ids.iter().filter(|&&id| !is_stored(id)) {
            let (start, end) = id.coverage();
            let tile = start / LEAF_TILE_LEAVES;
            match spans.iter_mut().find(|span| span.0 == tile) {
                Some(span) => {
                    span.1 = span.1.min(start);
                    span.2 = span.2.max(end);
                }
                None => spans.push((tile, start, end)),
            }
        }
        let reads = spans
            .into_iter()
            .map(|(_, start, end)| Ok((start, read_leaves(source, start, end)?)))
            .collect::<Result<_, FetchError<S::Error>>>()?;
        Ok(TileReads { reads })
    }

    /// The leaf hashes under `id`, which [`read`](Self::read) was given.
    fn leaves(&self, id: NodeId) -> &[Digest] {
        let (start, end) = id.coverage();
        let (first, hashes) = self
            .reads
            .iter()
            .find(|(first, hashes)| *first <= start && end - first <= hashes.len() as u64)
            .expect("every unstored node's leaves were read");
        // Offsets within one tile, below LEAF_TILE_LEAVES (64).
        #[allow(clippy::cast_possible_truncation)]
        let (lo, hi) = ((start - first) as usize, (end - first) as usize);
        &hashes[lo..hi]
    }
}

fn read_leaves<S: NodeSource>(
    source: &S,
    start: u64,
    end: u64,
) -> Result<Vec<Digest>, FetchError<S::Error>> {
    let hashes = source.leaf_hashes(start..end).map_err(FetchError::Source)?;
    if hashes.len() as u64 != end - start {
        return Err(FetchError::ShortLeafRead {
            start,
            end,
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests;
