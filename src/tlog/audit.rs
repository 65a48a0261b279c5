//! The whole-log verifier: the hash chain, the write rules, the Merkle tree over the
//! chain, and the signed checkpoints, checked in one pass from genesis.
//!
//! Pure. [`LogAudit`] is fed one stored event at a time by both `Ledger::verify` (from the
//! store) and the offline export verifier (from `events.jsonl`), so the two can never
//! disagree about what a valid log is. It trusts nothing but the event bytes and the
//! checkpoints' signatures (checked by the caller, which holds the key). A log signed with
//! a stolen key is still judged by its own rules: [`RuleAudit`] replays every record
//! through the write path's own [`Planner`].

use crate::model::domain::{Command, EventHash, Seq};
use crate::model::encoding::{decode, RecordV1, MAX_RECORD_BYTES};
use crate::model::rules::{stored_command, PlanError, Planned, Planner, ReplayedBodies};
use crate::store::tiles::LEAF_TILE_LEAVES;
use crate::tlog::chain::{ChainCheck, ChainFault};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle::{Blake3Hasher, Digest, Frontier, NodeId, TreeHasher};

/// The first thing wrong with a log, with evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditFault {
    #[error(transparent)]
    Chain(#[from] ChainFault),
    #[error("the first {size} events do not have the Merkle root that the checkpoint of size {size} signed (signed {}, recomputed {}): an event in seq {first}..={size} differs from what was signed", hex::encode(.signed), hex::encode(.recomputed))]
    CheckpointRoot {
        size: u64,
        /// One past the largest checkpoint size that did match: the change is after it.
        first: u64,
        signed: Digest,
        recomputed: Digest,
    },
    #[error("two signed checkpoints of size {size} name different Merkle roots ({} and {}): the log was forked; these events give the first", hex::encode(.matched), hex::encode(.other))]
    ForkedCheckpoints {
        size: u64,
        matched: Digest,
        other: Digest,
    },
    #[error("a signed checkpoint covers {size} events, but the log has only {log_size}: events from seq {} on are missing", .log_size + 1)]
    CheckpointBeyondLog { size: u64, log_size: u64 },
    #[error("the head's Merkle frontier gives root {}, the events give {}", hex::encode(.stored), hex::encode(.recomputed))]
    HeadRoot { stored: Digest, recomputed: Digest },
    #[error("stored Merkle node {level}/{index} (over seq {}..={}) is {}, the events give {}", first_seq(*.level, *.index), last_seq(*.level, *.index), .stored.map_or("missing".to_string(), hex::encode), hex::encode(.recomputed))]
    StoredNode {
        level: u8,
        index: u64,
        stored: Option<Digest>,
        recomputed: Digest,
    },
    /// A leaf tile key (`l`, which layout 6 wrote and this layout neither writes nor
    /// reads): an entry no write of this ledger made. `index` is the first, `total` counts
    /// them all.
    #[error("leaf tile l‖{index} (over seq {}..={}) is stored{}: this store layout recomputes leaf hashes from the event blocks and stores none, so no write of this ledger stored it (nothing reads it)", tile_first_seq(*.index), tile_last_seq(*.index), if *.total > 1 { format!(", and {} more leaf tiles", .total - 1) } else { String::new() })]
    LeafTile { index: u64, total: u64 },
    #[error("the checkpoint stored at size {size} is not valid: {reason}")]
    BadCheckpoint { size: u64, reason: String },
    #[error("seq {seq}: the reference index lists {}, the record's reference is {recorded:?}", .listed.as_ref().map_or("nothing".to_string(), |r| format!("{r:?}")))]
    ReferenceIndex {
        seq: Seq,
        listed: Option<String>,
        recorded: String,
    },
    #[error("household {household}: the household index lists {}, but {}", .listed.map_or("nothing".to_string(), |s| format!("seq {s}")), .enrolled.map_or("the log enrolls no such household".to_string(), |s| format!("the log enrolls it at seq {s}")))]
    HouseholdIndex {
        household: String,
        listed: Option<Seq>,
        enrolled: Option<Seq>,
    },
    #[error("the household index cannot be read: {0}")]
    HouseholdIndexUnreadable(String),
    #[error("seq {seq}: {}", if *.listed { "the people index lists it, but it is no person or life event" } else { "a person or life event the people index does not list" })]
    PeopleIndex { seq: Seq, listed: bool },
    #[error("the people index cannot be read: {0}")]
    PeopleIndexUnreadable(String),
    /// An entry of the household trail index that the log does not give, or an event that
    /// names a household whose trail does not list it: `listed` is the household whose
    /// trail lists the seq, `named` the household its event names.
    #[error("seq {seq}: the household index {}, but {}", .listed.as_ref().map_or("lists it in no household's trail".to_string(), |h| format!("lists it in household {h}'s trail")), .named.as_ref().map_or("its event names no household".to_string(), |h| format!("its event names household {h}")))]
    TrailIndex {
        seq: Seq,
        listed: Option<String>,
        named: Option<String>,
    },
    /// A household's sealed trail summary that is not the one its events give.
    #[error("household {household}: the household index's sealed summary counts {sealed} events, the log {logged} (or their seqs differ): {reason}")]
    TrailSummary {
        household: String,
        sealed: u64,
        logged: u64,
        reason: String,
    },
    #[error("the household index cannot be read: {0}")]
    TrailIndexUnreadable(String),
    #[error("seq {seq}: {}", if *.listed { "the sealed state lists it as a rate, but it is no rate_set event" } else { "a rate_set event the sealed state's list of rates does not name" })]
    RateList { seq: Seq, listed: bool },
    #[error("seq {seq}: the record {reason}")]
    Record { seq: Seq, reason: String },
    #[error("seq {seq} breaks a write rule: {field}: {reason}")]
    Rule {
        seq: Seq,
        field: &'static str,
        reason: String,
    },
    #[error("{} beyond the head (size {head}), which no committed batch wrote: {}{}", plural(*.total, "entry is stored", "entries are stored"), .entries.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "), if *.total > .entries.len() { format!("; and {} more", .total - .entries.len()) } else { String::new() })]
    BeyondHead {
        head: u64,
        /// The first [`MAX_REPORTED_STRAYS`], in key order.
        entries: Vec<StrayEntry>,
        total: usize,
    },
}

/// Entries beyond the head a fault lists; the total is always given.
pub const MAX_REPORTED_STRAYS: usize = 20;

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// An entry of the store that names or covers seqs beyond the head (FORMAT.md §3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrayEntry {
    #[error("events {first}..={last} (event block e‖{block})")]
    Events { block: Seq, first: Seq, last: Seq },
    #[error("references of seq {first}..={last} (reference block r‖{block})")]
    References { block: Seq, first: Seq, last: Seq },
    #[error("Merkle node n‖{level}‖{index} (over seq {}..={})", first_seq(*.level, *.index), last_seq(*.level, *.index))]
    Node { level: u8, index: u64 },
    #[error("household h‖{household} naming seq {seq}")]
    Household { household: String, seq: Seq },
    #[error("people index entry q‖{seq}")]
    People { seq: Seq },
    #[error("household index entry t‖{household}‖{seq}")]
    Trail { household: String, seq: Seq },
}

impl StrayEntry {
    /// The first seq the entry names or covers.
    pub fn first_seq(&self) -> Seq {
        match self {
            StrayEntry::Events { first, .. } | StrayEntry::References { first, .. } => *first,
            StrayEntry::Node { level, index } => Seq::new(first_seq(*level, *index)),
            StrayEntry::Household { seq, .. }
            | StrayEntry::People { seq }
            | StrayEntry::Trail { seq, .. } => *seq,
        }
    }
}

impl AuditFault {
    /// The first seq that is (or, for a checkpoint mismatch, may be) wrong, when the fault
    /// points at one.
    pub fn first_bad_seq(&self) -> Option<Seq> {
        match self {
            AuditFault::Chain(fault) => Some(fault.seq()),
            AuditFault::CheckpointBeyondLog { log_size, .. } => Some(Seq::new(log_size + 1)),
            AuditFault::StoredNode { level, index, .. } => {
                Some(Seq::new(first_seq(*level, *index)))
            }
            AuditFault::ReferenceIndex { seq, .. }
            | AuditFault::Record { seq, .. }
            | AuditFault::Rule { seq, .. } => Some(*seq),
            AuditFault::BeyondHead { entries, .. } => {
                entries.iter().map(StrayEntry::first_seq).min()
            }
            // The enrollment is the event the entry should name; a stray entry names an
            // event that is itself fine.
            AuditFault::HouseholdIndex { enrolled, .. } => *enrolled,
            AuditFault::PeopleIndex { seq, .. }
            | AuditFault::TrailIndex { seq, .. }
            | AuditFault::RateList { seq, .. } => Some(*seq),
            // A root says that some event of a range differs, never which: the message
            // gives the range.
            AuditFault::CheckpointRoot { .. }
            | AuditFault::HeadRoot { .. }
            // An extra key: the events it covers are what they were.
            | AuditFault::LeafTile { .. }
            | AuditFault::ForkedCheckpoints { .. }
            | AuditFault::BadCheckpoint { .. }
            | AuditFault::HouseholdIndexUnreadable(_)
            | AuditFault::PeopleIndexUnreadable(_)
            | AuditFault::TrailSummary { .. }
            | AuditFault::TrailIndexUnreadable(_) => None,
        }
    }

    /// The last seq the fault may concern, for faults that name a range.
    pub fn last_bad_seq(&self) -> Option<Seq> {
        match self {
            AuditFault::StoredNode { level, index, .. } => Some(Seq::new(last_seq(*level, *index))),
            _ => self.first_bad_seq(),
        }
    }
}

/// The first seq of stored leaf tile `index`. The faults that name stored entries (nodes,
/// tiles, blocks) use the store's layout for their seq ranges; nothing else here does.
fn tile_first_seq(index: u64) -> u64 {
    index * LEAF_TILE_LEAVES + 1
}

fn tile_last_seq(index: u64) -> u64 {
    (index + 1) * LEAF_TILE_LEAVES
}

/// The first seq under the subtree at `level`, `index` (seqs count from 1, leaves from 0).
fn first_seq(level: u8, index: u64) -> u64 {
    (index << level) + 1
}

fn last_seq(level: u8, index: u64) -> u64 {
    (index + 1) << level
}

/// Walks a log from genesis: the chain, the write rules, the Merkle frontier, and every
/// signed checkpoint compared with the recomputed root when the walk reaches its size.
#[derive(Debug, Clone)]
pub struct LogAudit {
    chain: ChainCheck,
    rules: RuleAudit,
    tree: TreeAudit,
}

impl LogAudit {
    /// An audit that will compare each of `checkpoints` (already signature-checked).
    pub fn new(checkpoints: Vec<Checkpoint>) -> LogAudit {
        LogAudit {
            chain: ChainCheck::default(),
            rules: RuleAudit::new(),
            tree: TreeAudit::new(checkpoints),
        }
    }

    /// Checks the next stored event: its link, its record against the write rules, and
    /// the tree. Returns the decoded record.
    pub fn push(
        &mut self,
        seq: Seq,
        hash: &EventHash,
        record: &[u8],
    ) -> Result<RecordV1, AuditFault> {
        self.chain.push(seq, hash, record)?;
        let record = self.rules.push(seq, record)?;
        self.tree.push(hash, |_, _| {})?;
        Ok(record)
    }

    /// After the last event: every checkpoint must have been reached, and the log must
    /// end where `head` (size, last hash, Merkle root) says, when a head is claimed.
    pub fn finish(&mut self, head: Option<(u64, EventHash, Digest)>) -> Result<(), AuditFault> {
        if let Some((size, hash, _)) = head {
            self.chain.finish(size, &hash)?;
        }
        self.tree.finish(head.map(|(_, _, root)| root))
    }

    /// Events checked so far.
    pub fn size(&self) -> u64 {
        self.chain.size()
    }

    /// The hash of the last event checked.
    pub fn last_hash(&self) -> EventHash {
        self.chain.last_hash()
    }

    /// The Merkle root of the events checked so far.
    pub fn root(&self) -> Digest {
        self.tree.root()
    }

    /// Checkpoints compared (and matched) so far.
    pub fn checkpoints_compared(&self) -> usize {
        self.tree.checkpoints_compared()
    }
}

/// The rules half of a [`LogAudit`]: each record decoded (FORMAT.md §1: a known version
/// and variant, no trailing byte, at most 16 KiB), turned back into the command that would
/// have produced it ([`stored_command`]), and planned again by the write path's own
/// [`Planner`] over everything before it. The planner must plan exactly the stored body
/// under the stored reference at the stored seq; a rejection, a duplicate or another body
/// is a fault at that seq, with the planner's reason. One implementation of the rules, so
/// what the ledger refuses to write, a verifier refuses to accept.
///
/// The replay is one batch from seq 1: what it keeps grows with references and payments
/// (about 42 bytes per event: each reference's digest and position, each payment's packed
/// facts; 26 when the facts are read back from the log, [`RuleAudit::for_log_reading`]), like
/// the planner of a large import.
#[derive(Clone)]
pub struct RuleAudit {
    planner: Planner<'static>,
    checked: u64,
}

impl std::fmt::Debug for RuleAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleAudit")
            .field("checked", &self.checked)
            .finish_non_exhaustive()
    }
}

impl Default for RuleAudit {
    fn default() -> Self {
        RuleAudit::new()
    }
}

impl RuleAudit {
    pub fn new() -> RuleAudit {
        RuleAudit {
            planner: Planner::replay(),
            checked: 0,
        }
    }

    /// A replay of a log of `events` events, its plan sized for them up front
    /// ([`Planner::replay_of`]).
    pub fn for_log(events: u64) -> RuleAudit {
        RuleAudit {
            planner: Planner::replay_of(events),
            checked: 0,
        }
    }

    /// As [`RuleAudit::for_log`], reading a reversal's target from `bodies` when one
    /// comes rather than keeping every payment's facts ([`Planner::replay_reading`]).
    pub fn for_log_reading(events: u64, bodies: std::sync::Arc<dyn ReplayedBodies>) -> RuleAudit {
        RuleAudit {
            planner: Planner::replay_reading(events, bodies),
            checked: 0,
        }
    }

    /// Decodes and judges the next record, whose chain link held (so `seq` is its seq).
    pub fn push(&mut self, seq: Seq, bytes: &[u8]) -> Result<RecordV1, AuditFault> {
        self.push_numbered(seq, bytes).map(|(record, _)| record)
    }

    /// As [`RuleAudit::push`], with the number the replay gives the household a payment
    /// names ([`Planner::household_number`]; `None` for any other record).
    pub fn push_numbered(
        &mut self,
        seq: Seq,
        bytes: &[u8],
    ) -> Result<(RecordV1, Option<u32>), AuditFault> {
        let prepared = RuleAudit::prepare(seq, bytes)?;
        self.judge(&prepared)?;
        Ok((prepared.record, self.planner.household_number()))
    }

    /// The part of judging a record that needs no earlier record: decoding it and turning
    /// it back into its command, each value checked. Pure, so a verifier may run it on
    /// another thread than [`RuleAudit::judge`].
    pub fn prepare(seq: Seq, bytes: &[u8]) -> Result<Prepared, AuditFault> {
        let record = decode_record(seq, bytes)?;
        let command = stored_command(&record).map_err(|r| AuditFault::Rule {
            seq,
            field: r.field,
            reason: r.reason,
        })?;
        Ok(Prepared {
            seq,
            record,
            command,
        })
    }

    /// Judges the next record against the rules and every record before it: the planner
    /// must plan exactly its body under its reference at its seq.
    pub fn judge(&mut self, prepared: &Prepared) -> Result<(), AuditFault> {
        let Prepared {
            seq,
            record,
            command,
        } = prepared;
        let seq = *seq;
        let rule = |field: &'static str, reason: String| AuditFault::Rule { seq, field, reason };
        self.planner.set_recorded_at(record.recorded_at_us);
        self.planner.set_actor(&record.actor);
        if let crate::model::encoding::Body::Reversal(r) = &record.body {
            self.planner.expect_target(Seq::new(r.target_seq));
        }
        match self.planner.plan(command) {
            Ok(Planned::Append {
                seq: planned,
                reference,
                body,
            }) => {
                if planned != seq {
                    return Err(rule("seq", format!("the rules give it seq {planned}")));
                }
                if reference.as_str() != record.reference {
                    return Err(rule(
                        "reference",
                        format!(
                            "{:?} is not the reference a {} gets: {reference:?}",
                            record.reference,
                            record.body.type_name()
                        ),
                    ));
                }
                if body != record.body {
                    return Err(rule(
                        "record",
                        format!(
                            "the stored {} is not what its command records: stored {:?}, the \
                             rules give {body:?}",
                            record.body.type_name(),
                            record.body
                        ),
                    ));
                }
            }
            Ok(Planned::Duplicate(first)) => {
                return Err(rule(
                    "reference",
                    format!(
                        "{} repeats seq {first} with the same content: a retry is never \
                         recorded twice",
                        record.reference
                    ),
                ))
            }
            Err(PlanError::Rejected(r)) => return Err(rule(r.field, r.reason)),
            Err(PlanError::Lookup(reason)) => return Err(rule("record", reason)),
        }
        self.checked += 1;
        Ok(())
    }

    /// Records judged so far.
    pub fn size(&self) -> u64 {
        self.checked
    }

    /// The verdict once the replay has stopped, at `stopped` (the fault
    /// [`RuleAudit::push`] returned) or at the log's end: a replay that reads its log
    /// back ([`RuleAudit::for_log_reading`]) finds a repeated reference only now, and its
    /// repeat is the fault when it comes no later than `stopped`'s (a plan checks the
    /// reference first). [`RuleAudit::size`] then counts the records before the fault.
    /// Call it once.
    pub fn conclude(&mut self, stopped: Result<(), AuditFault>) -> Result<(), AuditFault> {
        let repeat = match self.planner.first_repeat() {
            Ok(repeat) => repeat,
            Err(error) => {
                // The search could not read the log back: a fault already found stands,
                // else the failure is reported at the last record judged.
                stopped?;
                let seq = Seq::new(self.checked.max(1));
                let (field, reason) = match error {
                    PlanError::Rejected(r) => (r.field, r.reason),
                    PlanError::Lookup(reason) => ("record", reason),
                };
                return Err(AuditFault::Rule { seq, field, reason });
            }
        };
        let Some((seq, rejection)) = repeat else {
            return stopped;
        };
        if seq.get() > self.checked + 1 {
            return stopped;
        }
        self.checked = seq.get() - 1;
        Err(AuditFault::Rule {
            seq,
            field: rejection.field,
            reason: rejection.reason,
        })
    }
}

/// A decoded record and the command that would have produced it, ready to be judged.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub seq: Seq,
    pub record: RecordV1,
    pub command: Command,
}

/// A record's bytes decoded, or the fault at `seq`: over 16 KiB, an unknown version or
/// variant, a field cut short, or a trailing byte.
pub fn decode_record(seq: Seq, bytes: &[u8]) -> Result<RecordV1, AuditFault> {
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(AuditFault::Record {
            seq,
            reason: format!(
                "is {} bytes, over the limit of {MAX_RECORD_BYTES} bytes (16 KiB)",
                bytes.len()
            ),
        });
    }
    decode(bytes).map_err(|e| AuditFault::Record {
        seq,
        reason: format!("does not decode: {e}"),
    })
}

/// The tree half of a [`LogAudit`]: the Merkle frontier over event hashes whose chain was
/// checked, and the signed checkpoints compared as it reaches their sizes. On its own it
/// lets a verifier run the tree beside the chain, on another thread.
#[derive(Debug, Clone)]
pub struct TreeAudit {
    frontier: Frontier,
    /// Checkpoints still to compare, largest size first, so the next is at the end.
    pending: Vec<Checkpoint>,
    /// The largest checkpoint size whose root matched so far.
    matched: u64,
    compared: usize,
}

impl TreeAudit {
    /// A tree audit that will compare each of `checkpoints` (already signature-checked).
    pub fn new(mut checkpoints: Vec<Checkpoint>) -> TreeAudit {
        checkpoints.sort_by_key(|c| std::cmp::Reverse(c.size));
        TreeAudit {
            frontier: Frontier::new(),
            pending: checkpoints,
            matched: 0,
            compared: 0,
        }
    }

    /// Adds the next event's hash and compares every checkpoint of the new size (and, on
    /// the first event, those of size 0). Hands `visit` each subtree the event completes,
    /// for a caller that compares them with what it stored; returns the leaf hash.
    pub fn push(
        &mut self,
        hash: &EventHash,
        visit: impl FnMut(NodeId, &Digest),
    ) -> Result<Digest, AuditFault> {
        self.settle()?;
        let leaf = Blake3Hasher.hash_leaf(hash.as_bytes());
        self.frontier.append_visiting(&Blake3Hasher, leaf, visit);
        self.settle()?;
        Ok(leaf)
    }

    /// After the last event: every checkpoint must have been reached, and the root must be
    /// the one a head claims, when one is claimed.
    pub fn finish(&mut self, head_root: Option<Digest>) -> Result<(), AuditFault> {
        self.settle()?;
        if let Some(next) = self.pending.last() {
            return Err(AuditFault::CheckpointBeyondLog {
                size: next.size,
                log_size: self.size(),
            });
        }
        match head_root {
            Some(stored) if stored != self.root() => Err(AuditFault::HeadRoot {
                stored,
                recomputed: self.root(),
            }),
            _ => Ok(()),
        }
    }

    /// Event hashes added so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The Merkle root of the event hashes added so far.
    pub fn root(&self) -> Digest {
        self.frontier.root(&Blake3Hasher)
    }

    /// Checkpoints compared (and matched) so far.
    pub fn checkpoints_compared(&self) -> usize {
        self.compared
    }

    /// Compares every pending checkpoint of exactly the current size. Two of one size with
    /// different roots, one of which the events give, are a fork: the key signed two trees
    /// of that size, and no event range is to blame.
    fn settle(&mut self) -> Result<(), AuditFault> {
        let size = self.frontier.size();
        let mut roots = Vec::new();
        while let Some(next) = self.pending.last().filter(|c| c.size == size) {
            roots.push(next.root);
            self.pending.pop();
        }
        if roots.is_empty() {
            return Ok(());
        }
        let recomputed = self.root();
        match roots.iter().find(|root| **root != recomputed) {
            None => {
                self.matched = size;
                self.compared += roots.len();
                Ok(())
            }
            Some(&other) if roots.contains(&recomputed) => Err(AuditFault::ForkedCheckpoints {
                size,
                matched: recomputed,
                other,
            }),
            Some(&signed) => Err(AuditFault::CheckpointRoot {
                size,
                first: self.matched + 1,
                signed,
                recomputed,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::encoding::{encode, AllocationV1, Body};
    use crate::tlog::chain::chain_hash;

    /// An allocation at `seq`, which every rule accepts anywhere in a log; `salt` changes
    /// its amount.
    fn record(seq: u64, salt: u8) -> Vec<u8> {
        encode(&RecordV1 {
            seq,
            recorded_at_us: 1_700_000_000_000_000,
            actor: "clerk".into(),
            reference: format!("A{seq}"),
            body: Body::FundAllocation(AllocationV1 {
                program: "micro_wish".into(),
                amount_fen: 100 + i64::from(salt),
                value_date: 16_436,
                source: String::new(),
            }),
        })
    }

    /// A log whose events cannot be read back: a repeat search over it fails.
    struct Unreadable;

    impl ReplayedBodies for Unreadable {
        fn record(&self, _: Seq) -> Result<RecordV1, String> {
            Err("the log cannot be read".into())
        }

        fn references(
            &self,
            _: std::ops::RangeInclusive<Seq>,
            _: &mut dyn FnMut(Seq, &str),
        ) -> Result<(), String> {
            Err("the log cannot be read".into())
        }
    }

    /// A replay that read back two events under one reference, so that its repeat search
    /// must read the log.
    fn replay_with_a_repeat() -> RuleAudit {
        let mut audit = RuleAudit::for_log_reading(2, std::sync::Arc::new(Unreadable));
        for seq in 1..=2 {
            let mut bytes = record(seq, 0);
            let mut decoded = decode(&bytes).expect("a record");
            decoded.reference = "A1".into();
            bytes = encode(&decoded);
            audit.push(Seq::new(seq), &bytes).expect("judged");
        }
        audit
    }

    #[test]
    fn a_repeat_search_that_cannot_read_the_log_keeps_the_fault_already_found() {
        let found = AuditFault::Rule {
            seq: Seq::new(3),
            field: "amount",
            reason: "found before the search".into(),
        };
        assert_eq!(
            replay_with_a_repeat().conclude(Err(found.clone())),
            Err(found)
        );
    }

    #[test]
    fn a_repeat_search_that_cannot_read_the_log_is_reported_at_the_last_record_judged() {
        match replay_with_a_repeat().conclude(Ok(())) {
            Err(AuditFault::Rule { seq, field, reason }) => {
                assert_eq!((seq, field), (Seq::new(2), "record"));
                assert!(reason.contains("the log cannot be read"), "{reason}");
            }
            other => panic!("expected the read failure, got {other:?}"),
        }
    }

    fn log(n: u64, salt_at: Option<u64>) -> Vec<(Seq, EventHash, Vec<u8>)> {
        let mut prev = EventHash::GENESIS;
        (1..=n)
            .map(|seq| {
                let bytes = record(seq, u8::from(salt_at == Some(seq)));
                prev = chain_hash(&prev, &bytes);
                (Seq::new(seq), prev, bytes)
            })
            .collect()
    }

    fn checkpoint_of(events: &[(Seq, EventHash, Vec<u8>)], size: u64) -> Checkpoint {
        let mut audit = LogAudit::new(vec![]);
        for (seq, hash, bytes) in &events[..size as usize] {
            audit.push(*seq, hash, bytes).unwrap();
        }
        Checkpoint {
            origin: "o".into(),
            size,
            root: audit.root(),
        }
    }

    fn run(
        events: &[(Seq, EventHash, Vec<u8>)],
        checkpoints: Vec<Checkpoint>,
    ) -> Result<LogAudit, AuditFault> {
        let mut audit = LogAudit::new(checkpoints);
        for (seq, hash, bytes) in events {
            audit.push(*seq, hash, bytes)?;
        }
        audit.finish(None)?;
        Ok(audit)
    }

    #[test]
    fn a_good_log_matches_all_its_checkpoints() {
        let events = log(40, None);
        let cps = [0, 1, 16, 17, 40]
            .map(|s| checkpoint_of(&events, s))
            .to_vec();
        let audit = run(&events, cps).unwrap();
        assert_eq!(audit.checkpoints_compared(), 5);
        assert_eq!(audit.size(), 40);
    }

    #[test]
    fn a_consistent_rewrite_is_caught_by_the_first_later_checkpoint() {
        let honest = log(40, None);
        let cps = [10, 20, 30].map(|s| checkpoint_of(&honest, s)).to_vec();
        // Seq 25 changed and every later hash recomputed: the chain is valid.
        let rewritten = log(40, Some(25));
        let fault = run(&rewritten, cps).unwrap_err();
        assert!(matches!(
            fault,
            AuditFault::CheckpointRoot {
                size: 30,
                first: 21,
                ..
            }
        ));
        // A root names no event: the message gives the range.
        assert_eq!(fault.first_bad_seq(), None);
        assert!(fault.to_string().contains("seq 21..=30"), "{fault}");
    }

    #[test]
    fn two_checkpoints_of_one_size_with_other_roots_are_a_fork() {
        let honest = log(40, None);
        let forked = log(40, Some(40));
        for cps in [
            vec![checkpoint_of(&honest, 40), checkpoint_of(&forked, 40)],
            vec![checkpoint_of(&forked, 40), checkpoint_of(&honest, 40)],
        ] {
            let fault = run(&honest, cps).unwrap_err();
            assert!(
                matches!(fault, AuditFault::ForkedCheckpoints { size: 40, .. }),
                "{fault}"
            );
            assert!(fault.to_string().contains("the log was forked"), "{fault}");
            assert_eq!(fault.first_bad_seq(), None);
        }
    }

    #[test]
    fn a_truncated_log_is_caught_by_a_checkpoint_beyond_it() {
        let events = log(40, None);
        let cps = vec![checkpoint_of(&events, 40)];
        let fault = run(&events[..35], cps).unwrap_err();
        assert_eq!(
            fault,
            AuditFault::CheckpointBeyondLog {
                size: 40,
                log_size: 35
            }
        );
        assert_eq!(fault.first_bad_seq(), Some(Seq::new(36)));
    }

    #[test]
    fn head_claims_are_compared() {
        let events = log(20, None);
        let mut audit = LogAudit::new(vec![]);
        for (seq, hash, bytes) in &events {
            audit.push(*seq, hash, bytes).unwrap();
        }
        let (root, last) = (audit.root(), audit.last_hash());
        assert!(audit.clone().finish(Some((20, last, root))).is_ok());
        assert!(matches!(
            audit.clone().finish(Some((20, last, [0; 32]))),
            Err(AuditFault::HeadRoot { .. })
        ));
        assert!(matches!(
            audit.finish(Some((21, last, root))),
            Err(AuditFault::Chain(ChainFault::HeadMismatch { .. }))
        ));
    }

    #[test]
    fn push_visits_the_completed_nodes() {
        let events = log(128, None);
        let mut audit = TreeAudit::new(vec![]);
        let mut positions = Vec::new();
        for (_, hash, _) in &events {
            audit
                .push(hash, |id, _| positions.push((id.level(), id.index())))
                .unwrap();
        }
        // Every complete subtree of 128 leaves, each once, as its last leaf arrives.
        assert_eq!(positions.len(), 127);
        let high: Vec<(u8, u64)> = positions.into_iter().filter(|p| p.0 >= 6).collect();
        assert_eq!(high, [(6, 0), (6, 1), (7, 0)]);
        let fault = AuditFault::StoredNode {
            level: 6,
            index: 1,
            stored: None,
            recomputed: [0; 32],
        };
        assert_eq!(fault.first_bad_seq(), Some(Seq::new(65)));
        assert_eq!(fault.last_bad_seq(), Some(Seq::new(128)));
        let tile = AuditFault::LeafTile { index: 2, total: 3 };
        assert_eq!(tile.first_bad_seq(), None, "the events are not at fault");
        assert_eq!(tile.last_bad_seq(), None);
        let text = tile.to_string();
        assert!(
            text.starts_with(
                "leaf tile l‖2 (over seq 129..=192) is stored, and 2 more leaf tiles:"
            ),
            "{text}"
        );
    }

    // ---- the rules replayed ------------------------------------------------------------

    /// 2026-01-01T00:00:00Z.
    const RECORDED_AT_US: i64 = 1_767_225_600_000_000;

    fn rec(seq: u64, reference: &str, body: Body) -> RecordV1 {
        RecordV1 {
            seq,
            recorded_at_us: RECORDED_AT_US,
            actor: "clerk".into(),
            reference: reference.into(),
            body,
        }
    }

    fn rate(seq: u64, from: i32, to: Option<i32>) -> RecordV1 {
        use crate::model::domain::{days_to_date, Category, ProgramCode, Reference};
        let program = ProgramCode::parse("support_allowance").unwrap();
        let reference =
            Reference::for_rate(&program, Category::Bereaved, days_to_date(from).unwrap());
        rec(
            seq,
            reference.as_str(),
            Body::RateSet(crate::model::encoding::RateV1 {
                program: program.to_string(),
                category: 0,
                per_member_fen: 34_000,
                valid_from: from,
                valid_to: to,
            }),
        )
    }

    fn enroll(seq: u64) -> RecordV1 {
        rec(
            seq,
            "enroll:PL-0001",
            Body::HouseholdEnrolled(crate::model::encoding::EnrolledV1 {
                household: "PL-0001".into(),
                subdistrict: "拓东".into(),
                community: "拓东第1社区".into(),
                category: 0,
                members: 2,
                enrolled_on: 16_071,
            }),
        )
    }

    fn allocation(seq: u64) -> RecordV1 {
        rec(
            seq,
            "ALLOC-1",
            Body::FundAllocation(AllocationV1 {
                program: "support_allowance".into(),
                amount_fen: 1_000_000,
                value_date: 16_071,
                source: String::new(),
            }),
        )
    }

    fn disbursement(seq: u64, reference: &str, date: i32) -> RecordV1 {
        rec(
            seq,
            reference,
            Body::Disbursement(crate::model::encoding::PaymentV1 {
                household: "PL-0001".into(),
                program: "support_allowance".into(),
                amount_fen: 68_000,
                persons: 2,
                value_date: date,
                memo: String::new(),
            }),
        )
    }

    /// The first rule fault of `records` replayed from seq 1: its seq, field and reason.
    fn first_rule_fault(records: &[RecordV1]) -> Option<(u64, &'static str, String)> {
        let mut rules = RuleAudit::new();
        for record in records {
            match rules.push(Seq::new(record.seq), &encode(record)) {
                Ok(_) => {}
                Err(AuditFault::Rule { seq, field, reason }) => {
                    return Some((seq.get(), field, reason))
                }
                Err(other) => panic!("not a rule fault: {other}"),
            }
        }
        None
    }

    /// `record` with every `PL-0001` in its household and reference made `household`.
    fn of_household(mut record: RecordV1, household: &str) -> RecordV1 {
        record.reference = record.reference.replace("PL-0001", household);
        match &mut record.body {
            Body::HouseholdEnrolled(e) => e.household = household.into(),
            Body::Disbursement(p) => p.household = household.into(),
            _ => {}
        }
        record
    }

    #[test]
    fn a_replay_numbers_each_payments_household_in_the_order_enrolled() {
        let records = [
            enroll(1),
            of_household(enroll(2), "PL-0002"),
            allocation(3),
            of_household(disbursement(4, "B-1", 17_743), "PL-0002"),
            disbursement(5, "B-2", 17_743),
            of_household(disbursement(6, "B-3", 17_743), "PL-0002"),
        ];
        let mut rules = RuleAudit::new();
        let numbers: Vec<Option<u32>> = (records.iter())
            .map(|record| {
                let (decoded, number) = rules
                    .push_numbered(Seq::new(record.seq), &encode(record))
                    .expect("a good log");
                assert_eq!(&decoded, record);
                number
            })
            .collect();
        assert_eq!(numbers, [None, None, None, Some(1), Some(0), Some(1)]);
        // A payment refused has no number to hand on, and the next record none either.
        let mut rules = RuleAudit::new();
        for record in &records[..3] {
            rules
                .push_numbered(Seq::new(record.seq), &encode(record))
                .unwrap();
        }
        let stranger = of_household(disbursement(4, "B-1", 17_743), "PL-0009");
        assert!(rules
            .push_numbered(Seq::new(4), &encode(&stranger))
            .is_err());
        assert_eq!(rules.planner.household_number(), None);
    }

    #[test]
    fn overlapping_rates_are_a_rule_fault() {
        // 2018-07-01 ..= 2018-12-31, then one from 2018-10-01: they overlap.
        let closed = rate(1, 17_713, Some(17_896));
        assert_eq!(first_rule_fault(std::slice::from_ref(&closed)), None);
        let (seq, field, _) = first_rule_fault(&[closed, rate(2, 17_805, None)]).unwrap();
        assert_eq!((seq, field), (2, "valid_from"));
        // An open rate simply ends where a later one starts.
        assert_eq!(
            first_rule_fault(&[rate(1, 17_713, None), rate(2, 17_805, None)]),
            None
        );
    }

    #[test]
    fn only_the_allowance_run_makes_alw_references() {
        // 2018-07-31 is day 17_743: the run's disbursement of 2018-07 for PL-0001.
        let honest = [
            enroll(1),
            allocation(2),
            disbursement(3, "ALW-201807-PL-0001", 17_743),
        ];
        assert_eq!(first_rule_fault(&honest), None);
        for (reference, date) in [
            ("ALW-201807-PL-0002", 17_743),
            ("ALW-201806-PL-0001", 17_743),
            ("ALW-201807-PL-0001", 17_742),
        ] {
            let forged = [enroll(1), allocation(2), disbursement(3, reference, date)];
            let (seq, field, reason) = first_rule_fault(&forged).unwrap();
            assert_eq!(
                (seq, field),
                (3, "reference"),
                "{reference} {date}: {reason}"
            );
        }
    }

    #[test]
    fn the_value_date_limit_counts_from_each_records_own_recording_day() {
        // Recorded 2026-01-01: 2027-01-02 (day 20_820) is 366 days ahead, 2027-01-03 367.
        let at = |date| [enroll(1), allocation(2), disbursement(3, "B-1", date)];
        assert_eq!(first_rule_fault(&at(20_820)), None);
        let (seq, field, reason) = first_rule_fault(&at(20_821)).unwrap();
        assert_eq!((seq, field), (3, "date"), "{reason}");
        assert!(reason.contains("(2026-01-01)"), "{reason}");
    }

    #[test]
    fn a_stored_body_other_than_the_planned_one_is_a_fault() {
        // A reversal that names the right payment but another seq for it.
        let reversal = rec(
            4,
            "reversal:B-1",
            Body::Reversal(crate::model::encoding::ReversalV1 {
                target_seq: 2,
                target_reference: "B-1".into(),
                household: "PL-0001".into(),
                program: "support_allowance".into(),
                amount_fen: 68_000,
                persons: 2,
                value_date: 16_500,
                reason: "重复".into(),
            }),
        );
        let log = [
            enroll(1),
            allocation(2),
            disbursement(3, "B-1", 16_466),
            reversal,
        ];
        let (seq, field, reason) = first_rule_fault(&log).unwrap();
        assert_eq!((seq, field), (4, "record"), "{reason}");
        assert!(reason.contains("target_seq: 3"), "{reason}");
    }
}
