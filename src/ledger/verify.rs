//! `Ledger::verify`: the whole log recomputed from the stored event bytes and compared with
//! everything the ledger claims about it: the head, the Merkle frontier, every stored
//! Merkle node, every signed checkpoint, and the reference and household indexes. A leaf
//! tile (which layout 6 stored and this layout recomputes from the blocks) is reported as
//! an entry no write made.
//!
//! Every stored node is compared, not only those on the right edge: the scan has just
//! computed each one, so the comparison costs about two reads per 64 events (a few percent
//! of the scan), and a wrong one anywhere would make honest proofs fail for an auditor.
//!
//! The pass runs on two threads: the chain side scans the event blocks and checks each
//! link; the tree side builds the Merkle tree over the hashes it hands on and compares the
//! stored nodes, tiles and checkpoints. The tree needs about as many BLAKE3 compressions
//! per event as the chain (a leaf, and a node of 65 bytes), so one thread would take
//! about twice as long. The report is the one a single pass would give: the tree side only
//! sees hashes whose link held, so its fault, if any, comes first.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::ops::{ControlFlow, RangeInclusive};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use std::time::{Duration, Instant};

use super::readmodels::{Decoded, ReadSideError, RebuildCheck, REBUILD_HANDOFFS_IN_FLIGHT};
use super::trails::{SeqTrace, TraceKey, TrailScan};
use super::{LedgerError, LedgerView, VerifyReport};
use crate::model::domain::{EventHash, Seq, ENROLL_REFERENCE_PREFIX};
use crate::model::encoding::{
    body_variant, decode, peek_household, peek_reference, RecordV1, HOLD_RELEASED_VARIANT,
    PEOPLE_VARIANTS, RATE_SET_VARIANT,
};
use crate::model::rules::ReplayedBodies;
use crate::store::{tiles, StoreError, STORED_MIN_LEVEL};
use crate::tlog::audit::{AuditFault, RuleAudit, StrayEntry, TreeAudit, MAX_REPORTED_STRAYS};
use crate::tlog::chain::{ChainCheck, ChainFault};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle::{Blake3Hasher, TreeHasher, LEVELS};

impl LedgerView {
    /// Recomputes the chain and the Merkle tree from genesis, replays every record through
    /// the write rules, and compares them with the head, the stored nodes and every stored
    /// checkpoint. Anything stored beyond the head (events, reference blocks, nodes,
    /// household entries), and any leaf tile, is a fault: use it where no writer runs.
    pub fn verify(&self, progress: impl FnMut(u64)) -> Result<VerifyReport, LedgerError> {
        self.verify_against(&[], progress)
    }

    /// As [`LedgerView::verify`] through this view's head only, against the checkpoints
    /// of at most its size, and blind to what lies beyond the head: for a server, where a
    /// writer appends (and may sign) beyond the view while it checks.
    pub fn verify_snapshot(&self, progress: impl FnMut(u64)) -> Result<VerifyReport, LedgerError> {
        self.verify_through(&[], Scope::Snapshot, Fold::None, progress)
            .map(|(report, _)| report)
    }

    /// As [`Ledger::verify`], and also compares the log with checkpoints the caller holds
    /// (opened with this ledger's key): ones an auditor kept catch a rewrite even after the
    /// stored checkpoints were deleted.
    pub fn verify_against(
        &self,
        held: &[Checkpoint],
        progress: impl FnMut(u64),
    ) -> Result<VerifyReport, LedgerError> {
        self.verify_through(held, Scope::Store, Fold::None, progress)
            .map(|(report, _)| report)
    }

    /// As [`LedgerView::verify_against`], and also compares the read models and the
    /// findings with a rebuild from genesis ([`readmodels::verify_against_rebuild`]),
    /// folded in the same pass from the records the rules' replay has decoded, so that
    /// each event is read and decoded once and the folds run beside the log's checks.
    /// The snapshots are read and checked against their digests on the folds' thread too
    /// (0.06 s at 1M events, 0.15 s at 4M, that no other check waits for). The second
    /// result means something only when the report has no fault.
    pub fn verify_with_read_models(
        &self,
        held: &[Checkpoint],
        progress: impl FnMut(u64),
    ) -> Result<(VerifyReport, Result<(), ReadSideError>), LedgerError> {
        let (report, folded) = self.verify_through(held, Scope::Store, Fold::Rebuild, progress)?;
        let folded = folded.expect("a rebuild check asked for is run and joined");
        Ok((report, folded))
    }

    fn verify_through(
        &self,
        held: &[Checkpoint],
        scope: Scope,
        fold: Fold,
        mut progress: impl FnMut(u64),
    ) -> Result<(VerifyReport, Option<Result<(), ReadSideError>>), LedgerError> {
        let timings = Timings::from_env();
        let last = Seq::new(self.head.size);
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
            if scope == Scope::Snapshot && size > last.get() {
                continue;
            }
            match self.open_stored(size, bytes) {
                Ok(signed) => checkpoints.push(signed.checkpoint),
                Err(LedgerError::Corrupt(reason)) => {
                    report.fault = Some(AuditFault::BadCheckpoint { size, reason });
                    return Ok((report, None));
                }
                Err(other) => return Err(other),
            }
        }
        // The trail index's scan and the chain side trace each household's seqs alike.
        let key = TraceKey::default();
        let (chain, tree, rules, folded, listed) = std::thread::scope(|scope| {
            let (hashes, hash_receiver) = sync_channel(HANDOFFS_IN_FLIGHT);
            let (records, record_receiver) = sync_channel(HANDOFFS_IN_FLIGHT);
            let (decoded, decoded_receiver) = sync_channel(REBUILD_HANDOFFS_IN_FLIGHT);
            // The trail index is read beside the log, which it is compared with at the end.
            let listed =
                scope.spawn(|| timings.side("trail index", || self.scan_trails(last, &key)));
            let tree = scope.spawn(|| {
                timings.side("tree", || {
                    self.tree_side(TreeAudit::new(checkpoints), hash_receiver)
                })
            });
            let forward = (fold == Fold::Rebuild).then_some(decoded);
            let rules = scope.spawn(|| {
                let bodies = Arc::new(self.clone());
                timings.side("rules", || {
                    rule_side(last.get(), bodies, record_receiver, forward)
                })
            });
            let folded = (fold == Fold::Rebuild).then(|| {
                scope.spawn(|| {
                    timings.side("read models", || {
                        // A snapshot that cannot be read or is not bound is the answer:
                        // dropping the receiver stops the rules' side handing records on.
                        RebuildCheck::prepare(self)
                            .and_then(|check| check.run(self, decoded_receiver))
                    })
                })
            });
            let chain = timings.side("chain", || {
                let indexed = Indexed::traced_under(key.clone());
                self.chain_side(last, indexed, Handoff::new(hashes, records), &mut progress)
            });
            (
                chain,
                join(tree),
                join(rules),
                folded.map(join),
                join(listed),
            )
        });
        report.nodes = tree.compared.nodes;
        let tree_at = tree.audit.size();
        // The tree and rule sides only ever see events whose chain link held, so a fault
        // either found is at an earlier seq than the chain side's. Between the two, the
        // earlier seq is the one a single pass meets first (the rules first at a tie: their
        // fault names its event).
        report.fault = match (rules.outcome, tree.outcome?, chain.outcome?) {
            (Err(fault), Err(_), _) if rules.checked < tree_at => {
                report.checked = rules.checked;
                Some(fault)
            }
            (_, Err(fault), _) => {
                report.checked = tree_at;
                Some(fault)
            }
            (Err(fault), Ok(()), _) => {
                report.checked = rules.checked;
                Some(fault)
            }
            (Ok(()), Ok(()), Err(fault)) => {
                report.checked = chain.check.size();
                Some(fault)
            }
            (Ok(()), Ok(()), Ok(())) => {
                report.checked = chain.check.size();
                timings.side("indexes", || {
                    let judged = (&chain.check, tree.audit.clone(), chain.indexed, listed);
                    self.judge_whole(scope, judged)
                })?
            }
        };
        report.root = tree.audit.root();
        report.checkpoints = tree.audit.checkpoints_compared();
        Ok((report, folded))
    }

    /// Once every event verifies: the head and the signed checkpoints (the evidence), what
    /// lies beyond the head (a stray entry would make a later write trust it), then the
    /// household index.
    fn judge_whole(
        &self,
        scope: Scope,
        (chain, mut tree, indexed, listed): (&ChainCheck, TreeAudit, Indexed, TrailScan),
    ) -> Result<Option<AuditFault>, LedgerError> {
        let ended = chain
            .finish(self.head.size, &self.head.hash)
            .map_err(AuditFault::from)
            .and_then(|()| tree.finish(Some(self.root())));
        if let Err(fault) = ended {
            return Ok(Some(fault));
        }
        let last = Seq::new(self.head.size);
        if scope == Scope::Store {
            if let Some(fault) = self.beyond_head(&listed)? {
                return Ok(Some(fault));
            }
        }
        if let Some(fault) = self.stored_leaf_tiles()? {
            return Ok(Some(fault));
        }
        if let Err(fault) = self.check_households(indexed.enrollments, last)? {
            return Ok(Some(fault));
        }
        if let Err(fault) = self.check_people(&indexed.people, last)? {
            return Ok(Some(fault));
        }
        let logged = indexed.trails.into_map();
        if let Err(fault) = self.check_trails(logged, listed, last)? {
            return Ok(Some(fault));
        }
        if let Err(fault) = self.check_rates(&indexed.rates, last) {
            return Ok(Some(fault));
        }
        super::holds::check_releases(self, &indexed.releases)
    }

    /// The chain half, on the calling thread: every stored event's link, in seq order.
    /// Hands the hashes and records of linked events to the tree and rule sides, and stops
    /// early if either has stopped at a fault.
    fn chain_side(
        &self,
        last: Seq,
        mut indexed: Indexed,
        mut handoff: Handoff,
        progress: &mut impl FnMut(u64),
    ) -> ChainSide {
        let mut check = ChainCheck::default();
        let mut outcome = Ok(());
        let scanned = self.store.scan_events_with_references(
            Seq::FIRST..=last,
            |seq, hash, record, listed, seal| {
                if let Some(fault) = seal {
                    handoff.unsealed(seq, fault);
                }
                let recorded = check
                    .push(seq, hash, record)
                    .map_err(AuditFault::from)
                    .and_then(|()| check_reference(seq, record, listed));
                match recorded {
                    Ok(Some(reference)) => {
                        if let Some(household) = reference.strip_prefix(ENROLL_REFERENCE_PREFIX) {
                            indexed.enrollments.push((household.to_owned(), seq));
                        }
                        let variant = body_variant(record);
                        if variant.is_some_and(|v| PEOPLE_VARIANTS.contains(&v)) {
                            indexed.people.push(seq);
                        }
                        if variant == Some(HOLD_RELEASED_VARIANT) {
                            indexed.releases.push(seq);
                        }
                        if let Some(household) = peek_household(record) {
                            indexed.trail(household, seq);
                        }
                        if variant == Some(RATE_SET_VARIANT) {
                            indexed.rates.push(seq);
                        }
                    }
                    Ok(None) => {}
                    Err(fault) => {
                        outcome = Err(fault);
                        return ControlFlow::Break(());
                    }
                }
                if handoff.push(seq, hash, record).is_break() {
                    return ControlFlow::Break(());
                }
                progress(seq.get());
                ControlFlow::Continue(())
            },
        );
        // If a side has stopped, it no longer needs these.
        handoff.flush();
        let outcome = match scanned {
            Ok(()) => Ok(outcome),
            Err(StoreError::Corrupt(reason)) => Ok(Err(unreadable(check.size(), reason))),
            Err(other) => Err(other.into()),
        };
        ChainSide {
            check,
            indexed,
            outcome,
        }
    }

    /// Every entry that names or covers a seq beyond the head (FORMAT.md §3): events in
    /// the head's block or in blocks after it, reference entries, Merkle nodes reaching
    /// past the head, and household entries naming a seq past it. Nothing
    /// committed wrote them; the write rules must not trust them.
    fn beyond_head(&self, trails: &TrailScan) -> Result<Option<AuditFault>, LedgerError> {
        let head = self.head.size;
        let mut strays = Strays::default();
        let from = Seq::new(head + 1);
        let mut run: Option<StrayEntry> = None;
        let scanned = self
            .store
            .scan_events_unsealed(from..=Seq::new(u64::MAX), |seq, _, _| {
                run = Some(match run.take() {
                    Some(StrayEntry::Events { block, first, .. }) if self.same_run(first, seq) => {
                        StrayEntry::Events {
                            block,
                            first,
                            last: seq,
                        }
                    }
                    other => {
                        strays.extend(other);
                        StrayEntry::Events {
                            block: self.block_of(seq),
                            first: seq,
                            last: seq,
                        }
                    }
                });
                ControlFlow::Continue(())
            });
        strays.extend(run);
        if let Err(e) = scanned {
            strays.push(StrayEntry::Events {
                block: from,
                first: from,
                last: from,
            });
            if !matches!(e, StoreError::Corrupt(_)) {
                return Err(e.into());
            }
        }
        for block in self.store.reference_blocks_reaching(from) {
            let (block, entries) = block?;
            // An empty block lists nothing, but a block beyond the head is stray anyway.
            let last = Seq::new(block.get().saturating_add(entries.max(1) - 1));
            if last >= from {
                let first = Seq::new(block.get().max(from.get()));
                strays.push(StrayEntry::References { block, first, last });
            }
        }
        for level in STORED_MIN_LEVEL..LEVELS {
            // Complete subtrees within the head have indexes below size >> level.
            for index in self.store.node_indexes(level, head >> level) {
                strays.push(StrayEntry::Node {
                    level,
                    index: index?,
                });
            }
        }
        match self.store.households() {
            Ok(listed) => {
                for (household, seq) in listed.into_iter().filter(|(_, seq)| seq.get() > head) {
                    strays.push(StrayEntry::Household { household, seq });
                }
            }
            // check_households reports an unreadable index.
            Err(StoreError::Corrupt(_)) => {}
            Err(other) => return Err(other.into()),
        }
        match self.store.people_events() {
            Ok(listed) => {
                for seq in listed.into_iter().filter(|seq| seq.get() > head) {
                    strays.push(StrayEntry::People { seq });
                }
            }
            // check_people reports an unreadable index.
            Err(StoreError::Corrupt(_)) => {}
            Err(other) => return Err(other.into()),
        }
        for (household, seq) in &trails.beyond {
            strays.push(StrayEntry::Trail {
                household: household.clone(),
                seq: *seq,
            });
        }
        strays.total += trails.beyond_total - trails.beyond.len();
        Ok(strays.into_fault(head))
    }

    /// Whether `seq` continues the stray run that started at `first` in one block.
    fn same_run(&self, first: Seq, seq: Seq) -> bool {
        self.block_of(first) == self.block_of(seq)
    }

    /// The first seq of the event block holding `seq`.
    fn block_of(&self, seq: Seq) -> Seq {
        self.store
            .event_block_holding(seq)
            .ok()
            .flatten()
            .unwrap_or(seq)
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
        let order = |f: &AuditFault| f.first_bad_seq().map_or(u64::MAX, |s| s.get());
        Ok(match faults.into_iter().min_by_key(order) {
            Some(fault) => Err(fault),
            None => Ok(()),
        })
    }

    /// The people index must list exactly the person, life and erasure events (`events`,
    /// in seq order): opening a ledger folds the registry the write rules read from it.
    fn check_people(
        &self,
        events: &[Seq],
        last: Seq,
    ) -> Result<Result<(), AuditFault>, LedgerError> {
        let listed: Vec<Seq> = match self.store.people_events() {
            Ok(listed) => listed.into_iter().filter(|seq| *seq <= last).collect(),
            Err(StoreError::Corrupt(reason)) => {
                return Ok(Err(AuditFault::PeopleIndexUnreadable(reason)))
            }
            Err(other) => return Err(other.into()),
        };
        Ok(match first_difference(&listed, events) {
            None => Ok(()),
            Some(seq) => Err(AuditFault::PeopleIndex {
                seq,
                listed: listed.binary_search(&seq).is_ok(),
            }),
        })
    }

    /// The sealed state's list of rates must name exactly the rate events through `last`
    /// (in seq order): the rates table the write rules and the runs use is read from it.
    fn check_rates(&self, events: &[Seq], last: Seq) -> Result<(), AuditFault> {
        let listed: Vec<Seq> = self
            .rate_seqs
            .iter()
            .map(|seq| Seq::new(*seq))
            .filter(|seq| *seq <= last)
            .collect();
        match first_difference(&listed, events) {
            None => Ok(()),
            Some(seq) => Err(AuditFault::RateList {
                seq,
                listed: listed.binary_search(&seq).is_ok(),
            }),
        }
    }

    /// The tree half, on its own thread: the Merkle tree over the hashes the chain side
    /// hands over, each stored node compared, and the checkpoints.
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

    /// One event's hash: the Merkle nodes it completes.
    fn check_tree(
        &self,
        audit: &mut TreeAudit,
        compared: &mut Compared,
        hash: &EventHash,
    ) -> Result<Result<(), AuditFault>, LedgerError> {
        // Most events complete no stored node: the vector allocates only for those that do.
        let mut stored = Vec::new();
        let pushed = audit.push(hash, |id, hash| {
            if tiles::is_stored(id) {
                stored.push((id, *hash));
            }
        });
        if let Err(fault) = pushed {
            return Ok(Err(fault));
        }
        for (id, hash) in stored {
            let found = match self.store.node(id.level(), id.index()) {
                Ok(found) => found,
                Err(StoreError::Corrupt(_)) => None,
                Err(other) => return Err(other.into()),
            };
            compared.nodes += 1;
            if found != Some(hash) {
                return Ok(Err(AuditFault::StoredNode {
                    level: id.level(),
                    index: id.index(),
                    stored: found,
                    recomputed: hash,
                }));
            }
        }
        Ok(Ok(()))
    }
}

/// Events the chain side hands to the tree and rule sides at a time (32 KiB of hashes,
/// about 200 KiB of records), and the rules on to the folds: few enough handoffs that the
/// channels cost nothing per event, small enough that the records, decoded records and
/// facts in flight between four threads stay near 2 MB (at 4,096 they took 8 MB at 1M).
const EVENTS_PER_HANDOFF: usize = 1024;

/// Handoffs in flight: how far the chain side may run ahead of the other sides.
const HANDOFFS_IN_FLIGHT: usize = 4;

/// What a verify covers: the whole store (the CLI's `verify`), or a view's head only
/// (`verify_snapshot`, beside a writer).
/// Whether a verify also folds the read models and findings from genesis to compare them
/// with their snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fold {
    None,
    Rebuild,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Store,
    Snapshot,
}

/// A side thread's result, or its panic passed on.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Records of consecutive events, packed in one buffer, with their chain hashes.
struct Records {
    first: Seq,
    bytes: Vec<u8>,
    /// Where each record ends in `bytes`.
    ends: Vec<usize>,
    hashes: Vec<EventHash>,
    /// The first of these events whose block's seal does not hold, and the store's
    /// reason: the log is judged without seals, the read models' rebuild is not.
    unsealed: Option<(Seq, LedgerError)>,
}

impl Records {
    fn new(first: Seq) -> Records {
        Records {
            first,
            bytes: Vec::with_capacity(EVENTS_PER_HANDOFF * TYPICAL_RECORD_BYTES),
            ends: Vec::with_capacity(EVENTS_PER_HANDOFF),
            hashes: Vec::with_capacity(EVENTS_PER_HANDOFF),
            unsealed: None,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (Seq, &EventHash, &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .zip(&self.hashes)
            .enumerate()
            .map(|(i, ((start, end), hash))| {
                (
                    Seq::new(self.first.get() + i as u64),
                    hash,
                    &self.bytes[start..*end],
                )
            })
    }
}

/// Bytes reserved per record in a handoff: a typical payment's record.
const TYPICAL_RECORD_BYTES: usize = 192;

/// The chain side's outgoing handoffs: hashes for the tree side, records for the rules.
struct Handoff {
    hash_sender: SyncSender<Vec<EventHash>>,
    record_sender: SyncSender<Records>,
    hashes: Vec<EventHash>,
    records: Records,
    /// Whether a block whose seal does not hold has been met (only the first is told).
    unsealed: bool,
}

impl Handoff {
    fn new(hash_sender: SyncSender<Vec<EventHash>>, record_sender: SyncSender<Records>) -> Handoff {
        Handoff {
            hash_sender,
            record_sender,
            hashes: Vec::with_capacity(EVENTS_PER_HANDOFF),
            records: Records::new(Seq::FIRST),
            unsealed: false,
        }
    }

    /// Notes that the block of the event at `seq`, pushed next, fails its seal.
    fn unsealed(&mut self, seq: Seq, fault: &StoreError) {
        if std::mem::replace(&mut self.unsealed, true) {
            return;
        }
        let copy = match fault {
            StoreError::Corrupt(reason) => StoreError::Corrupt(reason.clone()),
            other => StoreError::Db(other.to_string()),
        };
        self.records.unsealed = Some((seq, copy.into()));
    }

    /// Adds a linked event; breaks when a side has stopped.
    fn push(&mut self, seq: Seq, hash: &EventHash, record: &[u8]) -> ControlFlow<()> {
        self.hashes.push(*hash);
        self.records.hashes.push(*hash);
        self.records.bytes.extend_from_slice(record);
        self.records.ends.push(self.records.bytes.len());
        if self.hashes.len() < EVENTS_PER_HANDOFF {
            return ControlFlow::Continue(());
        }
        let hashes = std::mem::replace(&mut self.hashes, Vec::with_capacity(EVENTS_PER_HANDOFF));
        let records = std::mem::replace(&mut self.records, Records::new(seq.next()));
        // The hashes go first: a tree fault among them may come before the rules' fault.
        if self.hash_sender.send(hashes).is_err() || self.record_sender.send(records).is_err() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Sends what is left; a side that has stopped no longer needs it.
    fn flush(self) {
        let _ = self.hash_sender.send(self.hashes);
        let _ = self.record_sender.send(self.records);
    }
}

/// The rules, on their own thread: each record of the log's `events` decoded and replayed
/// ([`RuleAudit`]), and handed on decoded to the read models' rebuild, if `forward`, with
/// the number the replay gave the household of each payment: the folds index their
/// households by it instead of looking the name up again.
fn rule_side(
    events: u64,
    bodies: Arc<LedgerView>,
    records: Receiver<Records>,
    mut forward: Option<SyncSender<Vec<Decoded>>>,
) -> RuleSide {
    let mut audit = RuleAudit::for_log_reading(events, bodies);
    for handoff in records {
        let mut decoded = Vec::with_capacity(if forward.is_some() {
            handoff.ends.len()
        } else {
            0
        });
        let unsealed_from = handoff.unsealed.as_ref().map(|(seq, _)| *seq);
        for (seq, hash, record) in handoff.iter() {
            match audit.push_numbered(seq, record) {
                Ok((record, number))
                    if forward.is_some() && unsealed_from.is_none_or(|from| seq < from) =>
                {
                    decoded.push(Ok((seq, *hash, record, number)));
                }
                Ok(_) => {}
                Err(fault) => {
                    let outcome = audit.conclude(Err(fault));
                    return RuleSide {
                        checked: audit.size(),
                        outcome,
                    };
                }
            }
        }
        if let Some((_, unsealed)) = handoff.unsealed {
            decoded.push(Err(unsealed));
        }
        let ends = matches!(decoded.last(), Some(Err(_)));
        if forward
            .as_ref()
            .is_some_and(|sender| sender.send(decoded).is_err() || ends)
        {
            // The rebuild has stopped, or a record it cannot read came: the rules go on.
            forward = None;
        }
    }
    let outcome = audit.conclude(Ok(()));
    RuleSide {
        checked: audit.size(),
        outcome,
    }
}

/// A reversal's target, read again for the rules' replay: the view is a read-only copy
/// taken for `verify`, so the bytes are those the chain side linked, and, as there, no
/// block's seal is required (a broken seal is reported after the rules' fault).
impl ReplayedBodies for LedgerView {
    fn record(&self, seq: Seq) -> Result<RecordV1, String> {
        let mut found = None;
        self.store
            .scan_events_unsealed(seq..=seq, |_, _, record| {
                found = Some(decode(record).map_err(|e| format!("seq {seq} does not decode: {e}")));
                ControlFlow::Break(())
            })
            .map_err(|e| e.to_string())?;
        found.ok_or_else(|| format!("the log holds no event at seq {seq}"))?
    }

    fn references(
        &self,
        seqs: RangeInclusive<Seq>,
        each: &mut dyn FnMut(Seq, &str),
    ) -> Result<(), String> {
        let mut unreadable = None;
        self.store
            .scan_events_unsealed(seqs, |seq, _, record| match peek_reference(record) {
                Some(reference) => {
                    each(seq, reference);
                    ControlFlow::Continue(())
                }
                None => {
                    unreadable = Some(format!("seq {seq} has no readable reference"));
                    ControlFlow::Break(())
                }
            })
            .map_err(|e| e.to_string())?;
        unreadable.map_or(Ok(()), Err)
    }
}

/// What the rule side found: the records judged, and the first fault.
struct RuleSide {
    checked: u64,
    outcome: Result<(), AuditFault>,
}

/// Stray entries beyond the head, the first [`MAX_REPORTED_STRAYS`] kept.
#[derive(Default)]
struct Strays {
    kept: Vec<StrayEntry>,
    total: usize,
}

impl Strays {
    fn push(&mut self, entry: StrayEntry) {
        self.total += 1;
        if self.kept.len() < MAX_REPORTED_STRAYS {
            self.kept.push(entry);
        }
    }

    fn extend(&mut self, entry: Option<StrayEntry>) {
        if let Some(entry) = entry {
            self.push(entry);
        }
    }

    fn into_fault(self, head: u64) -> Option<AuditFault> {
        (self.total > 0).then_some(AuditFault::BeyondHead {
            head,
            entries: self.kept,
            total: self.total,
        })
    }
}

/// What the chain side found: the outer error is the store failing, the inner one the
/// first broken link.
struct ChainSide {
    check: ChainCheck,
    indexed: Indexed,
    outcome: Result<Result<(), AuditFault>, LedgerError>,
}

/// What the store's indexes should list, as the chain side found it in the log.
#[derive(Default)]
struct Indexed {
    /// Per household named by an event, the trace of those events' seqs: what its trail
    /// index entries must give (sized by households).
    trails: HouseholdTrails,
    /// Each enrollment's household and seq, from its `enroll:` reference.
    enrollments: Vec<(String, Seq)>,
    /// The seq of every person, life and erasure event, in order.
    people: Vec<Seq>,
    /// The seq of every `hold_released`, in order.
    releases: Vec<Seq>,
    /// The seq of every `rate_set`, in order: what the sealed state must list.
    rates: Vec<Seq>,
}

impl Indexed {
    /// Nothing yet, the trails traced under `key` (the trail index's scan's).
    fn traced_under(key: TraceKey) -> Indexed {
        Indexed {
            trails: HouseholdTrails {
                key,
                ..HouseholdTrails::default()
            },
            ..Indexed::default()
        }
    }

    /// Notes that the event at `seq` names `household`.
    fn trail(&mut self, household: &str, seq: Seq) {
        self.trails.extend(household, seq);
    }
}

/// Each household's trail trace, looked up once per event by its id. The ids are held
/// in one arena of text and the summaries in one vector, so a lookup reads memory that
/// stays in cache (some hundreds of KiB for 15,000 households): a map of `String`s read
/// each key from wherever it had been allocated, and that compare was 28% of the chain
/// side's time at a million events.
#[derive(Default)]
struct HouseholdTrails {
    /// Every household id, one after the other.
    text: String,
    /// Where each household's id ends in `text` (it starts where the one before it ends),
    /// and its trace.
    entries: Vec<(usize, SeqTrace)>,
    /// Entry indexes, hashed by their household id.
    table: hashbrown::HashTable<u32>,
    /// Seeded per process: foldhash is faster than SipHash on short keys.
    state: foldhash::fast::RandomState,
    /// The key of the traces.
    key: TraceKey,
}

impl HouseholdTrails {
    /// Extends the trace of `household` by `seq`.
    fn extend(&mut self, household: &str, seq: Seq) {
        let Self {
            text,
            entries,
            table,
            state,
            key,
        } = self;
        let hash = state.hash_one(household);
        let found = table.find(hash, |&i| id_at(text, entries, i) == household);
        if let Some(&i) = found {
            entries[i as usize].1.extend(key, seq);
            return;
        }
        let index = u32::try_from(entries.len())
            .expect("households named by a log are fewer than its events, and fewer than 2^32");
        text.push_str(household);
        let mut trace = SeqTrace::default();
        trace.extend(key, seq);
        entries.push((text.len(), trace));
        table.insert_unique(hash, index, |&i| state.hash_one(id_at(text, entries, i)));
    }

    /// Every household with its trace.
    fn into_map(self) -> HashMap<String, SeqTrace> {
        let mut start = 0;
        self.entries
            .into_iter()
            .map(|(end, summary)| {
                let id = self.text[start..end].to_owned();
                start = end;
                (id, summary)
            })
            .collect()
    }
}

/// The household id of entry `i`.
fn id_at<'t>(text: &'t str, entries: &[(usize, SeqTrace)], i: u32) -> &'t str {
    let i = i as usize;
    let start = if i == 0 { 0 } else { entries[i - 1].0 };
    &text[start..entries[i].0]
}

/// What the tree side found, as [`ChainSide`].
struct TreeSide {
    audit: TreeAudit,
    compared: Compared,
    outcome: Result<Result<(), AuditFault>, LedgerError>,
}

/// Stored tree entries compared so far.
#[derive(Default)]
struct Compared {
    nodes: u64,
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

/// The first seq in one of two increasing lists and not the other.
fn first_difference(listed: &[Seq], events: &[Seq]) -> Option<Seq> {
    listed
        .iter()
        .zip(events)
        .find(|(a, b)| a != b)
        .map(|(a, b)| (*a).min(*b))
        .or_else(|| match listed.len().cmp(&events.len()) {
            std::cmp::Ordering::Greater => listed.get(events.len()).copied(),
            std::cmp::Ordering::Less => events.get(listed.len()).copied(),
            std::cmp::Ordering::Equal => None,
        })
}

/// An event value the store cannot even split into hash and record.
fn unreadable(checked: u64, reason: String) -> AuditFault {
    AuditFault::Chain(ChainFault::SeqMismatch {
        seq: Seq::new(checked + 1),
        in_record: reason,
    })
}

/// The environment variable that makes `verify` print how long each of its sides took,
/// to stderr (benches/README.md): the output on stdout stays the same.
pub const TIMINGS_VARIABLE: &str = "FUNDTRAIL_VERIFY_TIMINGS";

/// Whether to print each side's time, and since when.
#[derive(Clone, Copy)]
struct Timings {
    start: Option<Instant>,
}

impl Timings {
    fn from_env() -> Timings {
        Timings {
            start: std::env::var_os(TIMINGS_VARIABLE).map(|_| Instant::now()),
        }
    }

    /// Runs `work`, then prints when it started and ended (from the start of the verify).
    fn side<T>(&self, name: &str, work: impl FnOnce() -> T) -> T {
        let Some(start) = self.start else {
            return work();
        };
        let began = start.elapsed();
        let done = work();
        let ended = start.elapsed();
        eprintln!(
            "verify: {name}: {:.3} s, from {:.3} s to {:.3} s",
            seconds(ended - began),
            seconds(began),
            seconds(ended)
        );
        done
    }
}

fn seconds(span: Duration) -> f64 {
    span.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn household_trails_trace_each_households_seqs_in_order() {
        let mut trails = HouseholdTrails::default();
        let mut expected: HashMap<String, Vec<Seq>> = HashMap::new();
        // Enough households to grow the table several times; ids of every length,
        // one the prefix of another, and the empty id.
        let ids: Vec<String> = (0..3_000)
            .map(|i| format!("H-{i}"))
            .chain([String::new()])
            .collect();
        for seq in 1..=12_000u64 {
            let id = &ids[(seq as usize * 7) % ids.len()];
            trails.extend(id, Seq::new(seq));
            expected.entry(id.clone()).or_default().push(Seq::new(seq));
        }
        let key = trails.key.clone();
        let found = trails.into_map();
        assert_eq!(found.len(), expected.len());
        for (id, seqs) in expected {
            let mut trace = SeqTrace::default();
            seqs.into_iter().for_each(|seq| trace.extend(&key, seq));
            assert_eq!(found.get(&id), Some(&trace), "{id:?}");
        }
        assert!(!found.contains_key("H-3000"));
    }
}
