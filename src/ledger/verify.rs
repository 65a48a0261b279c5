//! `Ledger::verify`: the whole log recomputed from the stored event bytes and compared with
//! everything the ledger claims about it: the head, the Merkle frontier, every stored
//! Merkle node and leaf tile, every signed checkpoint, and the reference and household
//! indexes.
//!
//! Every stored node and leaf tile is compared, not only those on the right edge: the scan
//! has just computed each one, so the comparison costs about three reads per 64 events (a few
//! percent of the scan), and a wrong one anywhere would make honest proofs fail for an
//! auditor.
//!
//! The pass runs on two threads: the chain side scans the event blocks and checks each
//! link; the tree side builds the Merkle tree over the hashes it hands on and compares the
//! stored nodes, tiles and checkpoints. The tree needs about as many BLAKE3 compressions
//! per event as the chain (a leaf, and a node of 65 bytes), so one thread would take
//! about twice as long. The report is the one a single pass would give: the tree side only
//! sees hashes whose link held, so its fault, if any, comes first.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use super::{LedgerError, LedgerView, VerifyReport};
use crate::audit::{AuditFault, TreeAudit};
use crate::chain::{ChainCheck, ChainFault};
use crate::checkpoint::Checkpoint;
use crate::domain::{EventHash, Seq, ENROLL_REFERENCE_PREFIX};
use crate::encoding::peek_reference;
use crate::merkle::{Blake3Hasher, Digest, TreeHasher};
use crate::store::{StoreError, LEAF_TILE_LEAVES};

impl LedgerView {
    /// Recomputes the chain and the Merkle tree from genesis and compares them with the
    /// head, the stored nodes and every stored checkpoint. Every stored event counts, also
    /// any beyond the head: use it where no writer runs.
    pub fn verify(&self, progress: impl FnMut(u64)) -> Result<VerifyReport, LedgerError> {
        self.verify_against(&[], progress)
    }

    /// As [`LedgerView::verify`] through this view's head only, against the checkpoints
    /// of at most its size: for a server, where a writer appends (and may sign) beyond the
    /// view while it checks.
    pub fn verify_snapshot(&self, progress: impl FnMut(u64)) -> Result<VerifyReport, LedgerError> {
        self.verify_through(&[], Seq(self.head.size), progress)
    }

    /// As [`Ledger::verify`], and also compares the log with checkpoints the caller holds
    /// (opened with this ledger's key): ones an auditor kept catch a rewrite even after the
    /// stored checkpoints were deleted.
    pub fn verify_against(
        &self,
        held: &[Checkpoint],
        progress: impl FnMut(u64),
    ) -> Result<VerifyReport, LedgerError> {
        self.verify_through(held, Seq(u64::MAX), progress)
    }

    fn verify_through(
        &self,
        held: &[Checkpoint],
        last: Seq,
        mut progress: impl FnMut(u64),
    ) -> Result<VerifyReport, LedgerError> {
        let mut report = VerifyReport {
            checked: 0,
            head: self.head,
            root: Blake3Hasher.empty_root(),
            nodes: 0,
            checkpoints: 0,
            fault: None,
        };
        let mut checkpoints = held.to_vec();
        for (size, bytes) in self.stored_checkpoints()? {
            if size > last.0 {
                continue;
            }
            match self.open_stored(size, bytes) {
                Ok(signed) => checkpoints.push(signed.checkpoint),
                Err(LedgerError::Corrupt(reason)) => {
                    report.fault = Some(AuditFault::BadCheckpoint { size, reason });
                    return Ok(report);
                }
                Err(other) => return Err(other),
            }
        }
        let (chain, tree) = std::thread::scope(|scope| {
            let (sender, receiver) = sync_channel(HANDOFFS_IN_FLIGHT);
            let tree = scope.spawn(|| self.tree_side(TreeAudit::new(checkpoints), receiver));
            let chain = self.chain_side(last, sender, &mut progress);
            (chain, tree.join())
        });
        let mut tree = tree.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        report.nodes = tree.compared.nodes;
        // The tree side only ever sees hashes whose chain link held, so a fault it found
        // is at an earlier seq than the chain side's: the one a single pass meets first.
        report.fault = match (tree.outcome?, chain.outcome?) {
            (Err(fault), _) => {
                report.checked = tree.audit.size();
                Some(fault)
            }
            (Ok(()), Err(fault)) => {
                report.checked = chain.check.size();
                Some(fault)
            }
            (Ok(()), Ok(())) => {
                report.checked = chain.check.size();
                match chain
                    .check
                    .finish(self.head.size, &self.head.hash)
                    .map_err(AuditFault::from)
                    .and_then(|()| tree.audit.finish(Some(self.root())))
                {
                    Ok(()) => self.check_households(chain.enrollments, last)?.err(),
                    Err(fault) => Some(fault),
                }
            }
        };
        report.root = tree.audit.root();
        report.checkpoints = tree.audit.checkpoints_compared();
        Ok(report)
    }

    /// The chain half, on the calling thread: every stored event's link, in seq order.
    /// Hands the hashes of linked events to the tree side, and stops early if the tree
    /// side has stopped at a fault.
    fn chain_side(
        &self,
        last: Seq,
        sender: SyncSender<Vec<EventHash>>,
        progress: &mut impl FnMut(u64),
    ) -> ChainSide {
        let mut check = ChainCheck::default();
        let mut enrollments = Vec::new();
        let mut outcome = Ok(());
        let mut hashes = Vec::with_capacity(HASHES_PER_HANDOFF);
        let scanned = self.store.scan_events_with_references(
            Seq::FIRST..=last,
            |seq, hash, record, listed| {
                let recorded = check
                    .push(seq, hash, record)
                    .map_err(AuditFault::from)
                    .and_then(|()| check_reference(seq, record, listed));
                match recorded {
                    Ok(Some(reference)) => {
                        if let Some(household) = reference.strip_prefix(ENROLL_REFERENCE_PREFIX) {
                            enrollments.push((household.to_owned(), seq));
                        }
                    }
                    Ok(None) => {}
                    Err(fault) => {
                        outcome = Err(fault);
                        return ControlFlow::Break(());
                    }
                }
                hashes.push(*hash);
                if hashes.len() == HASHES_PER_HANDOFF {
                    let full =
                        std::mem::replace(&mut hashes, Vec::with_capacity(HASHES_PER_HANDOFF));
                    if sender.send(full).is_err() {
                        return ControlFlow::Break(());
                    }
                }
                progress(seq.0);
                ControlFlow::Continue(())
            },
        );
        // If the tree side has stopped, it no longer needs these.
        let _ = sender.send(hashes);
        let outcome = match scanned {
            Ok(()) => Ok(outcome),
            Err(StoreError::Corrupt(reason)) => Ok(Err(unreadable(check.size(), reason))),
            Err(other) => Err(other.into()),
        };
        ChainSide {
            check,
            enrollments,
            outcome,
        }
    }

    /// The household index must list each enrolled household at its enrollment, and
    /// nothing else: opening a ledger reads the households from it, and the write rules
    /// check every payment against them. Judged once the log itself verifies; entries
    /// beyond `last` (appended while a snapshot is checked) are not judged.
    fn check_households(
        &self,
        enrollments: Vec<(String, Seq)>,
        last: Seq,
    ) -> Result<Result<(), AuditFault>, LedgerError> {
        let mut listed: HashMap<String, Seq> = match self.store.households() {
            Ok(listed) => listed.into_iter().filter(|(_, seq)| *seq <= last).collect(),
            Err(StoreError::Corrupt(reason)) => {
                return Ok(Err(AuditFault::HouseholdIndexUnreadable(reason)))
            }
            Err(other) => return Err(other.into()),
        };
        let mut faults = Vec::new();
        for (household, enrolled) in enrollments {
            match listed.remove(&household) {
                Some(seq) if seq == enrolled => {}
                other => faults.push(AuditFault::HouseholdIndex {
                    household,
                    listed: other,
                    enrolled: Some(enrolled),
                }),
            }
        }
        faults.extend(
            listed
                .into_iter()
                .map(|(household, seq)| AuditFault::HouseholdIndex {
                    household,
                    listed: Some(seq),
                    enrolled: None,
                }),
        );
        // The earliest enrollment first; stray entries, which name none, after them.
        let order = |f: &AuditFault| f.first_bad_seq().map_or(u64::MAX, |s| s.0);
        Ok(match faults.into_iter().min_by_key(order) {
            Some(fault) => Err(fault),
            None => Ok(()),
        })
    }

    /// The tree half, on its own thread: the Merkle tree over the hashes the chain side
    /// hands over, each stored node and leaf tile compared, and the checkpoints.
    fn tree_side(&self, mut audit: TreeAudit, hashes: Receiver<Vec<EventHash>>) -> TreeSide {
        let mut compared = Compared::default();
        for handoff in hashes {
            for hash in &handoff {
                match self.check_tree(&mut audit, &mut compared, hash) {
                    Ok(Ok(())) => {}
                    stop => {
                        return TreeSide {
                            audit,
                            compared,
                            outcome: stop,
                        }
                    }
                }
            }
        }
        TreeSide {
            audit,
            compared,
            outcome: Ok(Ok(())),
        }
    }

    /// One event's hash: the Merkle nodes and the leaf tile it completes.
    fn check_tree(
        &self,
        audit: &mut TreeAudit,
        compared: &mut Compared,
        hash: &EventHash,
    ) -> Result<Result<(), AuditFault>, LedgerError> {
        let step = match audit.push(hash) {
            Ok(step) => step,
            Err(fault) => return Ok(Err(fault)),
        };
        for node in step.nodes {
            let found = match self.store.node(node.level, node.index) {
                Ok(found) => found,
                Err(StoreError::Corrupt(_)) => None,
                Err(other) => return Err(other.into()),
            };
            compared.nodes += 1;
            if found != Some(node.hash) {
                return Ok(Err(AuditFault::StoredNode {
                    level: node.level,
                    index: node.index,
                    stored: found,
                    recomputed: node.hash,
                }));
            }
        }
        self.compare_tile(compared, Seq(audit.size()), step.leaf)
    }

    /// Collects leaf hashes and compares each completed tile with the stored one.
    fn compare_tile(
        &self,
        compared: &mut Compared,
        seq: Seq,
        leaf: Digest,
    ) -> Result<Result<(), AuditFault>, LedgerError> {
        compared.tile.push(leaf);
        if (compared.tile.len() as u64) < LEAF_TILE_LEAVES {
            return Ok(Ok(()));
        }
        let index = (seq.0 - 1) / LEAF_TILE_LEAVES;
        let stored = match self.store.leaf_tile(index) {
            Ok(stored) => stored,
            Err(StoreError::Corrupt(_)) => Some(Vec::new()),
            Err(other) => return Err(other.into()),
        };
        let tile = std::mem::take(&mut compared.tile);
        compared.nodes += 1;
        Ok(match stored {
            Some(stored) if stored == tile => Ok(()),
            other => Err(AuditFault::StoredTile {
                index,
                present: other.is_some(),
            }),
        })
    }
}

/// Event hashes the chain side hands to the tree side at a time (128 KiB): few enough
/// handoffs that the channel costs nothing per event.
const HASHES_PER_HANDOFF: usize = 4096;

/// Handoffs in flight: how far the chain side may run ahead of the tree side.
const HANDOFFS_IN_FLIGHT: usize = 4;

/// What the chain side found: the outer error is the store failing, the inner one the
/// first broken link.
struct ChainSide {
    check: ChainCheck,
    /// Each enrollment's household and seq, from its `enroll:` reference.
    enrollments: Vec<(String, Seq)>,
    outcome: Result<Result<(), AuditFault>, LedgerError>,
}

/// What the tree side found, as [`ChainSide`].
struct TreeSide {
    audit: TreeAudit,
    compared: Compared,
    outcome: Result<Result<(), AuditFault>, LedgerError>,
}

/// Stored tree entries compared so far, and the leaf hashes of the tile being filled.
#[derive(Default)]
struct Compared {
    nodes: u64,
    tile: Vec<Digest>,
}

/// The reference index must list each event under the reference its record carries: a
/// wrong entry would let the write rules accept a reference twice, or refuse a new one.
/// Returns the record's reference.
fn check_reference<'r>(
    seq: Seq,
    record: &'r [u8],
    listed: Option<&str>,
) -> Result<Option<&'r str>, AuditFault> {
    // The link held, so these are the bytes that were hashed. Records the ledger writes
    // always have a readable reference; bytes without one have nothing to compare.
    let Some(recorded) = peek_reference(record) else {
        return Ok(None);
    };
    if listed == Some(recorded) {
        return Ok(Some(recorded));
    }
    Err(AuditFault::ReferenceIndex {
        seq,
        listed: listed.map(str::to_owned),
        recorded: recorded.to_owned(),
    })
}

/// An event value the store cannot even split into hash and record.
fn unreadable(checked: u64, reason: String) -> AuditFault {
    AuditFault::Chain(ChainFault::SeqMismatch {
        seq: Seq(checked + 1),
        in_record: reason,
    })
}
