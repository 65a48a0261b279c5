//! The ledger as a transparency log: its Merkle tree read from the store, its signed
//! checkpoints, and proofs against them (FORMAT.md §6 to §8).
//!
//! Invariant: the ledger never signs two checkpoints that are not consistent. Before it
//! signs size n it checks that its state is authenticated (sealed, no checkpoint beyond
//! the head), that the stored tree's root at n is the head's frontier root, and that a
//! consistency proof built from the store leads from the latest stored checkpoint's signed
//! root to that root.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use super::{Ledger, LedgerError, LedgerView};
use crate::keys::{KeyError, SigningKeyFile};
use crate::model::domain::Seq;
use crate::store::tiles::{self, FetchError, NodeSource, LEAF_TILE_LEAVES};
use crate::store::{StoreBatch, StoredEvent};
use crate::tlog::audit::AuditFault;
use crate::tlog::checkpoint::{open_note, Checkpoint};
use crate::tlog::merkle::{self, Blake3Hasher, Digest, Frontier, NodeId, NodesError, TreeHasher};
use crate::tlog::note::VerifierKey;

/// A checkpoint and the signed note it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    /// The note text, verbatim: what auditors store and compare.
    pub note: String,
}

/// Leaf `i` of the tree is the event of seq `i + 1`; its leaf hash is
/// `H(0x00 ‖ event hash)`. Leaf hashes are not stored (FORMAT.md §6.3): each event's hash
/// is in its event block, read through the block's seal like every other read of the log,
/// so a block changed without the ledger's key fails the proof instead of yielding one
/// for other events.
impl NodeSource for LedgerView {
    type Error = LedgerError;

    /// From the tile's leaves as last recomputed, else recomputed: every leaf of the tile
    /// within the head (ranges lie inside one tile and inside the head).
    fn leaf_hashes(&self, range: Range<u64>) -> Result<Vec<Digest>, LedgerError> {
        let tile = range.start / LEAF_TILE_LEAVES;
        let tile_start = tile * LEAF_TILE_LEAVES;
        let leaves = match self.leaf_cache.get(tile, range.end - tile_start) {
            Some(leaves) => leaves,
            None => {
                let end = (tile_start + LEAF_TILE_LEAVES).min(self.head.size.max(range.end));
                let leaves = Arc::new(self.leaf_hashes_from_events(tile_start..end)?);
                self.leaf_cache.keep(tile, Arc::clone(&leaves));
                leaves
            }
        };
        // Offsets within one tile, below LEAF_TILE_LEAVES (64).
        #[allow(clippy::cast_possible_truncation)]
        let (lo, hi) = (
            (range.start - tile_start) as usize,
            (range.end - tile_start) as usize,
        );
        leaves.get(lo..hi).map(<[Digest]>::to_vec).ok_or_else(|| {
            LedgerError::Corrupt(format!("leaves {range:?} are not all in the store"))
        })
    }

    fn stored_node(&self, level: u8, index: u64) -> Result<Digest, LedgerError> {
        self.store
            .node(level, index)?
            .ok_or_else(|| LedgerError::Corrupt(format!("Merkle node {level}/{index} is missing")))
    }
}

impl LedgerView {
    /// Leaf hashes computed from the events' hashes in their event blocks.
    fn leaf_hashes_from_events(&self, range: Range<u64>) -> Result<Vec<Digest>, LedgerError> {
        // The capacity is only a hint: ranges lie inside one tile of LEAF_TILE_LEAVES.
        let mut leaves = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
        let mut expected = Seq::new(range.start + 1);
        for (seq, hash) in self.store.event_hashes(expected..=Seq::new(range.end))? {
            if seq != expected {
                return Err(LedgerError::Corrupt(format!(
                    "seq {expected} is missing from the store"
                )));
            }
            leaves.push(Blake3Hasher.hash_leaf(hash.as_bytes()));
            expected = seq.next();
        }
        Ok(leaves)
    }
}

/// Leaf tiles a view recomputed lately, shared by every view of one ledger: a proof
/// against the head reads the head's tile whatever its leaf, and the server's receipts
/// prove recent events, whose tiles are near the head. Recomputing one reads one or two
/// event blocks of an import, up to 64 of single-event writes, each decompressed and
/// its seal checked. Committed leaves never change, so an entry (the first leaves of a
/// tile, as many as the head then held) stays true for every later head; an entry with
/// fewer leaves than asked for is recomputed.
#[derive(Default)]
pub(super) struct LeafCache(Mutex<Vec<(u64, Arc<Vec<Digest>>)>>);

/// Tiles kept: the head's and a few recent ones, 2 KiB each.
const LEAF_CACHE_TILES: usize = 8;

impl LeafCache {
    /// The cached leaves of `tile` if at least `count` are there.
    fn get(&self, tile: u64, count: u64) -> Option<Arc<Vec<Digest>>> {
        let mut tiles = self.lock();
        let at = tiles
            .iter()
            .position(|(cached, leaves)| *cached == tile && leaves.len() as u64 >= count)?;
        // Most recently used last.
        let entry = tiles.remove(at);
        let leaves = Arc::clone(&entry.1);
        tiles.push(entry);
        Some(leaves)
    }

    fn keep(&self, tile: u64, leaves: Arc<Vec<Digest>>) {
        let mut tiles = self.lock();
        tiles.retain(|(cached, _)| *cached != tile);
        if tiles.len() >= LEAF_CACHE_TILES {
            tiles.remove(0);
        }
        tiles.push((tile, leaves));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Arc<Vec<Digest>>)>> {
        // A poisoned lock only means a reader panicked; every entry in it is whole.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl LedgerView {
    /// A leaf tile as layout 6 stored it, if any is left (FORMAT.md §3): this layout stores
    /// none and reads none, so one is an entry no write of this ledger made. The fault
    /// names the first and counts them all.
    pub(super) fn stored_leaf_tiles(&self) -> Result<Option<AuditFault>, LedgerError> {
        let mut first = None;
        let mut total = 0u64;
        for index in self.store.leaf_tile_indexes(0) {
            let index = index?;
            first.get_or_insert(index);
            total += 1;
        }
        Ok(first.map(|index| AuditFault::LeafTile { index, total }))
    }
}

impl LedgerView {
    /// The log's public key, as auditors hold it.
    pub fn verifier_key(&self) -> &VerifierKey {
        &self.verifier_key
    }

    /// The log's name in its checkpoints.
    pub fn origin(&self) -> &str {
        self.verifier_key.name()
    }

    /// The Merkle root of every event through the head, from the writer's frontier.
    pub fn root(&self) -> Digest {
        self.root
    }

    /// The Merkle root of the first `size` events, from the stored tree.
    pub fn root_at(&self, size: u64) -> Result<Digest, LedgerError> {
        self.check_size(size)?;
        let hashes = self.node_hashes(&merkle::range_nodes(0, size))?;
        let frontier = Frontier::from_parts(size, hashes)
            .expect("the compact range of 0..size has one node per set bit of size");
        Ok(frontier.root(&Blake3Hasher))
    }

    /// The inclusion proof of event `seq` in the tree of the first `size` events.
    pub fn inclusion_proof(&self, seq: Seq, size: u64) -> Result<Vec<Digest>, LedgerError> {
        self.check_size(size)?;
        if seq.get() == 0 || seq.get() > size {
            return Err(LedgerError::Invalid(format!(
                "seq {seq} is not in the tree of size {size}"
            )));
        }
        let nodes = merkle::inclusion_nodes(seq.get() - 1, size).map_err(nodes_error)?;
        let hashes = self.node_hashes(nodes.ids())?;
        nodes.rehash(&Blake3Hasher, hashes).map_err(nodes_error)
    }

    /// Committed events from `from` through `to` (at most the head), as stored.
    pub fn stored_events(
        &self,
        from: Seq,
        to: Seq,
    ) -> impl Iterator<Item = Result<(Seq, StoredEvent), LedgerError>> + '_ {
        let to = Seq::new(to.get().min(self.head.size));
        self.store
            .events(from..=to)
            .map(|item| item.map_err(LedgerError::from))
    }

    /// The consistency proof from the tree of the first `size1` events to that of `size2`.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Digest>, LedgerError> {
        self.check_size(size2)?;
        if size1 > size2 {
            return Err(LedgerError::Invalid(format!(
                "a consistency proof goes from a smaller size to a larger one, not {size1} to {size2}"
            )));
        }
        let nodes = merkle::consistency_nodes(size1, size2).map_err(nodes_error)?;
        let hashes = self.node_hashes(nodes.ids())?;
        nodes.rehash(&Blake3Hasher, hashes).map_err(nodes_error)
    }

    /// The hashes of complete subtrees within the head, read from the stored tree.
    fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Digest>, LedgerError> {
        tiles::node_hashes(&Blake3Hasher, self, ids).map_err(|err| match err {
            FetchError::Source(inner) => inner,
            FetchError::ShortLeafRead { .. } => LedgerError::Corrupt(err.to_string()),
        })
    }

    /// The checkpoint of the largest size within this view's head, if any was signed.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, LedgerError> {
        match self.store.last_checkpoint_upto(self.head.size)? {
            Some((size, bytes)) => self.open_stored(size, bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The checkpoint signed at tree size `size`, if there is one.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>, LedgerError> {
        match self.store.checkpoint(size)? {
            Some(bytes) => self.open_stored(size, bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every stored checkpoint as size and note text, oldest first, unchecked: `verify`
    /// reports a bad one as a fault instead of failing.
    pub(super) fn stored_checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        Ok(self.store.checkpoints()?)
    }

    /// Opens a stored note with the ledger's key and checks it is filed under its size.
    pub(super) fn open_stored(
        &self,
        size: u64,
        bytes: Vec<u8>,
    ) -> Result<SignedCheckpoint, LedgerError> {
        let corrupt = |reason: String| {
            LedgerError::Corrupt(format!("the checkpoint at size {size}: {reason}"))
        };
        let note = String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8".into()))?;
        let checkpoint =
            open_note(&note, &self.verifier_key).map_err(|e| corrupt(e.to_string()))?;
        if checkpoint.size != size {
            return Err(corrupt(format!("it signs size {}", checkpoint.size)));
        }
        Ok(SignedCheckpoint { checkpoint, note })
    }

    pub(super) fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        if size > self.head.size {
            return Err(LedgerError::Invalid(format!(
                "the ledger has {} events, not {size}",
                self.head.size
            )));
        }
        Ok(())
    }
}

impl Ledger {
    /// Signs a checkpoint of the head and keeps it in the ledger, or returns the stored one
    /// if the head has not moved since. Refuses (and signs nothing) if the stored tree
    /// disagrees with the head, or the head does not extend the latest checkpoint.
    pub fn checkpoint(&mut self) -> Result<SignedCheckpoint, LedgerError> {
        // A head that is not authenticated, or is contradicted by a stored checkpoint,
        // must not be signed.
        self.refuse_if_damaged("no checkpoint was signed")?;
        let key = self.signing_key()?;
        let size = self.view.head.size;
        let root = self.view.root();
        let stored = self.view.root_at(size)?;
        if stored != root {
            return Err(LedgerError::Inconsistent(format!(
                "the stored Merkle tree gives root {} at size {size}, the head's frontier {}",
                hex::encode(stored),
                hex::encode(root)
            )));
        }
        // The latest checkpoint of any size: one beyond the head is refused here, and every
        // earlier one was checked against its successor when that was signed, so extending
        // the latest extends them all (`verify` checks them all against the log).
        if let Some((latest_size, bytes)) = self.view.store.last_checkpoint()? {
            let latest = self.view.open_stored(latest_size, bytes)?;
            self.check_extends(&latest.checkpoint, size, &root)?;
            if latest.checkpoint.size == size {
                return Ok(latest);
            }
        }
        let checkpoint = Checkpoint {
            origin: self.view.origin().to_string(),
            size,
            root,
        };
        let note = key
            .signer()
            .sign(&checkpoint)
            .map_err(|e| LedgerError::Inconsistent(e.to_string()))?;
        let mut batch = StoreBatch::default();
        batch.put_checkpoint(size, note.as_bytes());
        self.view.store.write_durable(batch)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// The signing key, which must be the one whose public half `init` stored.
    fn signing_key(&self) -> Result<SigningKeyFile, LedgerError> {
        let key = SigningKeyFile::read(self.view.dir())?;
        let found = key.signer().verifier_key();
        if found != self.view.verifier_key {
            return Err(KeyError::NotThisLedger {
                path: self.view.dir().join(crate::keys::KEY_FILE),
                found: found.to_string(),
                expected: self.view.verifier_key.to_string(),
            }
            .into());
        }
        Ok(key)
    }

    /// Checks, with a proof built from the store, that the tree of `size` events with
    /// `root` extends the signed `earlier` checkpoint.
    fn check_extends(
        &self,
        earlier: &Checkpoint,
        size: u64,
        root: &Digest,
    ) -> Result<(), LedgerError> {
        if earlier.size > size {
            return Err(LedgerError::Inconsistent(format!(
                "a checkpoint signed {} events, the log now has {size}",
                earlier.size
            )));
        }
        let proof = self.view.consistency_proof(earlier.size, size)?;
        merkle::verify_consistency(
            &Blake3Hasher,
            earlier.size,
            size,
            &proof,
            &earlier.root,
            root,
        )
        .map_err(|e| {
            LedgerError::Inconsistent(format!(
                "the log of {size} events does not extend the checkpoint of size {}: {e}",
                earlier.size
            ))
        })
    }
}

fn nodes_error(err: NodesError) -> LedgerError {
    LedgerError::Invalid(err.to_string())
}
