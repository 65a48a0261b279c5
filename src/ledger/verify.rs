//! `Ledger::verify`: the whole log recomputed from the stored event bytes and compared with
//! everything the ledger claims about it: the head, the Merkle frontier, every stored
//! Merkle node, and every signed checkpoint.
//!
//! Every stored node and leaf tile is compared, not only those on the right edge: the scan
//! has just computed each one, so the comparison costs one read per 8 events and one per
//! 16 (a few percent of the scan), and a wrong one anywhere would make honest proofs fail
//! for an auditor.

use std::ops::ControlFlow;

use super::{LedgerError, LedgerView, VerifyReport};
use crate::audit::{AuditFault, LogAudit};
use crate::chain::ChainFault;
use crate::checkpoint::Checkpoint;
use crate::domain::{EventHash, Seq};
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
        let mut audit = LogAudit::new(checkpoints);
        let mut compared = Compared::default();
        report.fault = self
            .scan(&mut audit, last, &mut compared, &mut progress)?
            .err();
        report.nodes = compared.nodes;
        if report.fault.is_none() {
            let head = (self.head.size, self.head.hash, self.root());
            report.fault = audit.finish(Some(head)).err();
        }
        report.checked = audit.size();
        report.root = audit.root();
        report.checkpoints = audit.checkpoints_compared();
        Ok(report)
    }

    /// Feeds every stored event to the audit and compares each Merkle node it completes
    /// with the stored one. The outer error is the store failing; the inner one is the
    /// first fault found in the log.
    fn scan(
        &self,
        audit: &mut LogAudit,
        last: Seq,
        compared: &mut Compared,
        progress: &mut impl FnMut(u64),
    ) -> Result<Result<(), AuditFault>, LedgerError> {
        let mut outcome = Ok(Ok(()));
        let scanned = self
            .store
            .scan_events(Seq::FIRST..=last, |seq, hash, record| {
                match self.check_event(audit, compared, seq, hash, record) {
                    Ok(Ok(())) => {
                        progress(seq.0);
                        ControlFlow::Continue(())
                    }
                    stop => {
                        outcome = stop;
                        ControlFlow::Break(())
                    }
                }
            });
        match scanned {
            Ok(()) => outcome,
            Err(StoreError::Corrupt(reason)) => Ok(Err(unreadable(audit.size(), reason))),
            Err(other) => Err(other.into()),
        }
    }

    /// One event: its chain link, the Merkle nodes and the leaf tile it completes.
    fn check_event(
        &self,
        audit: &mut LogAudit,
        compared: &mut Compared,
        seq: Seq,
        hash: &EventHash,
        record: &[u8],
    ) -> Result<Result<(), AuditFault>, LedgerError> {
        let completed = match audit.push(seq, hash, record) {
            Ok(completed) => completed,
            Err(fault) => return Ok(Err(fault)),
        };
        for node in completed {
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
        self.compare_tile(compared, seq, hash)
    }

    /// Collects leaf hashes and compares each completed tile with the stored one.
    fn compare_tile(
        &self,
        compared: &mut Compared,
        seq: Seq,
        hash: &EventHash,
    ) -> Result<Result<(), AuditFault>, LedgerError> {
        compared.tile.push(Blake3Hasher.hash_leaf(&hash.0));
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

/// Stored tree entries compared so far, and the leaf hashes of the tile being filled.
#[derive(Default)]
struct Compared {
    nodes: u64,
    tile: Vec<Digest>,
}

/// An event value the store cannot even split into hash and record.
fn unreadable(checked: u64, reason: String) -> AuditFault {
    AuditFault::Chain(ChainFault::SeqMismatch {
        seq: Seq(checked + 1),
        in_record: reason,
    })
}
