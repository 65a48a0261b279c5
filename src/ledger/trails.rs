//! The household trail index (FORMAT.md §3, §3.2): one store key per event that names a
//! household, so a household's trail reads that household's events and no others.
//!
//! The index is authenticated, never trusted. Per household the sealed state binds a
//! count and a digest chaining its indexed seqs, `dᵢ = BLAKE3(tag ‖ dᵢ₋₁ ‖ seq BE)`; a
//! read recomputes both from the entries it scanned and refuses, naming the household
//! index and the household, when they differ. So an insider without the key can neither
//! hide, add nor move an event in a trail by editing index entries.
//!
//! The summaries are sized by households, not events, but a district has tens of thousands
//! of households: one record of all of them would be rewritten by every commit (about
//! 1 MiB at 16,000 households). So they are kept in [`TRAIL_SHARDS`] shard records
//! (`m‖trails.xx`), a household in the shard its id's BLAKE3 picks; a commit rewrites the
//! shards its events touch, and the state record carries each shard's BLAKE3 (the
//! directory, 8 KiB), so a shard put back from an older copy no longer matches.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::ops::ControlFlow;

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};

use super::{corrupt_at, state, LedgerError, LedgerView};
use crate::model::ascending::AscendingList;
use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::{decode, peek_household, RecordV1};
use crate::store::{Store, StoreBatch};
use crate::tlog::audit::{AuditFault, MAX_REPORTED_STRAYS};

/// Shard records of the household summaries. 256: a shard is one byte of the id's hash,
/// and at 16,000 households a shard holds about 60 of them (4 KiB), so a commit of one
/// payment rewrites 4 KiB rather than all summaries, and the directory the state record
/// carries stays at 8 KiB.
pub const TRAIL_SHARDS: usize = 256;

/// Domain separation of a household's trail digest.
const TRAIL_DIGEST_TAG: &[u8] = b"fundtrail household trail v1";

/// Bytes hashed per step of a trail digest: the tag, the previous digest, the seq.
const TRAIL_DIGEST_INPUT_BYTES: usize = TRAIL_DIGEST_TAG.len() + 32 + 8;

/// One household's seqs as `verify` reads them, from the log and from the index: how
/// many, and a 64-bit trace chaining them in order under a key drawn per process
/// ([`TraceKey`]). The two sides are compared by their traces, so the log's side hashes
/// no BLAKE3 per event (a trail digest is two compressions, about a tenth of `verify`'s
/// hashing); the index's side computes the digests too, for the sealed summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SeqTrace {
    count: u64,
    trace: u64,
}

impl SeqTrace {
    /// The trace after one more seq.
    pub(super) fn extend(&mut self, key: &TraceKey, seq: Seq) {
        self.trace = key.0.hash_one((self.trace, seq.get()));
        self.count += 1;
    }
}

/// The key of the [`SeqTrace`]s one `verify` compares: std's `RandomState`, SipHash-1-3
/// (a keyed pseudorandom function) under keys drawn when the process starts. Whoever edits
/// the index cannot know them, so an edit goes unseen only if two traces of 64 bits meet
/// by chance.
#[derive(Clone, Default)]
pub(super) struct TraceKey(std::collections::hash_map::RandomState);

/// The prefix of the shard records' meta names: `trails.00` to `trails.ff`.
pub(super) const TRAIL_SHARD_META_PREFIX: &str = "trails.";

/// One household's indexed events: how many, and the digest chaining their seqs in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailSummary {
    pub count: u64,
    pub digest: [u8; 32],
}

impl TrailSummary {
    /// The summary after one more indexed event.
    pub fn extend(&mut self, seq: Seq) {
        // One call on the bytes laid end to end: the same digest as a hasher fed them in
        // turn, without setting one up per event.
        let mut input = [0u8; TRAIL_DIGEST_INPUT_BYTES];
        let (tag, rest) = input.split_at_mut(TRAIL_DIGEST_TAG.len());
        let (digest, seq_bytes) = rest.split_at_mut(32);
        tag.copy_from_slice(TRAIL_DIGEST_TAG);
        digest.copy_from_slice(&self.digest);
        seq_bytes.copy_from_slice(&seq.get().to_be_bytes());
        self.digest = *blake3::hash(&input).as_bytes();
        self.count += 1;
    }

    /// The summary of `seqs`, in the order given.
    pub fn of(seqs: impl IntoIterator<Item = Seq>) -> TrailSummary {
        let mut summary = TrailSummary::default();
        seqs.into_iter().for_each(|seq| summary.extend(seq));
        summary
    }
}

/// The households of one shard, in byte order of their ids (a `BTreeMap`, so the bytes
/// hashed into the directory never depend on a hash map's order).
pub type TrailShard = BTreeMap<String, TrailSummary>;

/// Per shard, BLAKE3 of its record as stored, or 32 zero bytes when there is none: the
/// part of the sealed state record that binds the summaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailDirectory(Vec<[u8; 32]>);

impl Default for TrailDirectory {
    fn default() -> TrailDirectory {
        TrailDirectory(vec![[0; 32]; TRAIL_SHARDS])
    }
}

impl TrailDirectory {
    /// What the directory says shard `shard` hashes to; a directory of the wrong length
    /// (only a damaged record has one) names no shard.
    fn expected(&self, shard: u8) -> Result<[u8; 32], LedgerError> {
        match (self.0.len(), self.0.get(usize::from(shard))) {
            (TRAIL_SHARDS, Some(hash)) => Ok(*hash),
            (len, _) => Err(LedgerError::Corrupt(format!(
                "the household index's directory in the state record has {len} shards, not \
                 {TRAIL_SHARDS}"
            ))),
        }
    }
}

/// The shard that holds `household`'s summary.
pub fn shard_of(household: &str) -> u8 {
    blake3::hash(household.as_bytes()).as_bytes()[0]
}

/// The meta name of shard `shard`'s record.
pub fn shard_name(shard: u8) -> String {
    format!("{TRAIL_SHARD_META_PREFIX}{shard:02x}")
}

/// Reads shard `shard` and checks it against the directory: a shard changed, removed, or
/// put back from an older copy is refused, naming the household index.
pub(super) fn read_shard(
    store: &Store,
    directory: &TrailDirectory,
    shard: u8,
) -> Result<TrailShard, LedgerError> {
    let expected = directory.expected(shard)?;
    let stored = store.meta(&shard_name(shard))?;
    let found = stored
        .as_deref()
        .map_or([0; 32], |bytes| *blake3::hash(bytes).as_bytes());
    if found != expected {
        return Err(LedgerError::Corrupt(format!(
            "the household index's summaries (shard {}) are not the ones the sealed state \
             names: they were changed without the ledger's key (run `fundtrail verify`)",
            shard_name(shard)
        )));
    }
    match stored {
        None => Ok(TrailShard::new()),
        Some(bytes) => bincode::deserialize(&bytes).map_err(|e| {
            LedgerError::Corrupt(format!("the household index's {}: {e}", shard_name(shard)))
        }),
    }
}

/// Seqs a writer holds before it writes them as trail entries: about 2 MiB of them, held
/// as differences. A write of fewer events writes one entry per household it names; a
/// large import one per household per this many events, so its memory stays bounded and
/// its keys few (sled's cost is per key). Each such write puts an entry for every
/// household at once, while the planner and the folds wait on the writer: at 262,144 a
/// 1,000,000-row import made three of them before its last, about 5% of its time
/// (benches/README.md, "Trail entries per 1,048,576 events").
pub const TRAIL_ENTRY_EVENTS: usize = 1 << 20;

/// What a batch adds to the trail index: the summaries of the shards it touches, read
/// once and extended in seq order, and the seqs not yet written as entries. Sized by the
/// households a batch touches and [`TRAIL_ENTRY_EVENTS`], never by its events.
#[derive(Default)]
pub(super) struct TrailUpdates {
    /// The shards read, by their byte; each touched household's summary goes back into its
    /// shard at [`TrailUpdates::finish`].
    shards: BTreeMap<u8, TrailShard>,
    /// Per household the batch names, in the order first named, what it adds to the
    /// index: found by one hashed lookup per event (`positions`), where the household's
    /// shard (a BLAKE3) and three B-tree searches by id took a third of a large import's
    /// writer outside sled and hashing.
    touched: Vec<Touched>,
    /// The positions in `touched`, hashed by household id: 8 bytes a slot, so that the
    /// table's spare slots cost little (a map of the entries themselves took 120 bytes a
    /// slot, 3.9 MB at 15,000 households).
    positions: HashTable<usize>,
    /// The hash of `positions`: std's SipHash under keys drawn per process, as every
    /// `HashMap` here (the ids come from the files imported).
    hasher: RandomState,
    pending_events: usize,
}

/// What a batch adds to one household's trail.
struct Touched {
    household: Box<str>,
    shard: u8,
    /// The summary read from its shard, extended by each seq added.
    summary: TrailSummary,
    /// The seqs not yet written as an entry, kept as their differences (about 2 bytes a
    /// seq where a `Seq` takes 8).
    pending: Option<AscendingList>,
}

impl TrailUpdates {
    /// Lists `seq` in `household`'s trail: the summary at once, the entry with the next
    /// [`TrailUpdates::flush`].
    pub fn add(
        &mut self,
        store: &Store,
        directory: &TrailDirectory,
        household: &str,
        seq: Seq,
    ) -> Result<(), LedgerError> {
        let hash = self.hasher.hash_one(household);
        let found = self
            .positions
            .find(hash, |&i| *self.touched[i].household == *household);
        let index = match found {
            Some(&index) => index,
            None => {
                let first = self.first_touch(store, directory, household)?;
                let index = self.touched.len();
                self.touched.push(first);
                let Self {
                    positions,
                    touched,
                    hasher,
                    ..
                } = self;
                positions.insert_unique(hash, index, |&i| hasher.hash_one(&*touched[i].household));
                index
            }
        };
        let touched = &mut self.touched[index];
        // The entry first: a seq out of order is refused before the summary takes it.
        match &mut touched.pending {
            Some(seqs) => seqs.push(seq.get()).map_err(|e| {
                LedgerError::Invalid(format!("household {household}'s trail entry: {e}"))
            })?,
            None => touched.pending = Some(AscendingList::of(seq.get())),
        }
        touched.summary.extend(seq);
        self.pending_events += 1;
        Ok(())
    }

    /// A household the batch names for the first time: its summary as its shard holds it
    /// (the shard read when it is first needed), and no seqs yet.
    fn first_touch(
        &mut self,
        store: &Store,
        directory: &TrailDirectory,
        household: &str,
    ) -> Result<Touched, LedgerError> {
        let shard = shard_of(household);
        let summaries = match self.shards.entry(shard) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(read_shard(store, directory, shard)?)
            }
        };
        Ok(Touched {
            household: household.into(),
            shard,
            summary: summaries.get(household).copied().unwrap_or_default(),
            pending: None,
        })
    }

    /// Writes the entries held into `batch` when [`TRAIL_ENTRY_EVENTS`] are held.
    pub fn flush_if_full(&mut self, batch: &mut StoreBatch) {
        if self.pending_events >= TRAIL_ENTRY_EVENTS {
            self.flush(batch);
        }
    }

    /// Writes the entries held into `batch`: one per household, in the order of their ids.
    pub fn flush(&mut self, batch: &mut StoreBatch) {
        let mut entries: Vec<(&str, AscendingList)> = self
            .touched
            .iter_mut()
            .filter_map(|touched| Some((&*touched.household, touched.pending.take()?)))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (household, seqs) in entries {
            let seqs: Vec<Seq> = seqs.iter().map(Seq::new).collect();
            batch.put_trail_entry(household, &seqs);
        }
        self.pending_events = 0;
    }

    /// Writes the entries held and the touched shards into `batch` (with the state record
    /// that names them) and returns the directory after them.
    pub fn finish(mut self, batch: &mut StoreBatch, directory: &TrailDirectory) -> TrailDirectory {
        self.flush(batch);
        for touched in self.touched {
            self.shards
                .get_mut(&touched.shard)
                .expect("a household's shard is read when the household is first touched")
                .insert(touched.household.into(), touched.summary);
        }
        let mut next = directory.clone();
        for (shard, summaries) in self.shards {
            let bytes = bincode::serialize(&summaries).expect("a shard is a plain map");
            next.0[usize::from(shard)] = *blake3::hash(&bytes).as_bytes();
            batch.put_meta(&shard_name(shard), bytes);
        }
        next
    }
}

impl LedgerView {
    /// `household`'s events through this view's head, in seq order, read through the
    /// household trail index and checked against its sealed summary. Without the state key
    /// nothing sealed can be checked: the log is scanned instead, as every read without
    /// the key does.
    pub fn household_records(
        &self,
        household: &str,
    ) -> Result<Vec<(Seq, EventHash, RecordV1)>, LedgerError> {
        if self.sealing_key().is_err() {
            return self.household_records_scanned(household, self.head.size);
        }
        let mut records = Vec::new();
        for seq in self.household_seqs(household)? {
            let stored = self.stored(seq)?;
            let record = decode(&stored.record).map_err(|e| corrupt_at(seq, e))?;
            if record.body.household() != Some(household) {
                return Err(LedgerError::Corrupt(format!(
                    "the household index lists seq {seq} in household {household}'s trail, \
                     but its event names {} (run `fundtrail verify`)",
                    record.body.household().unwrap_or("no household")
                )));
            }
            records.push((seq, stored.hash, record));
        }
        Ok(records)
    }

    /// Every event of the log through `size` that names `household`: a scan of the whole
    /// log, for a ledger whose key is not at hand (and for the tests, as the reference the
    /// index must equal).
    pub fn household_records_scanned(
        &self,
        household: &str,
        size: u64,
    ) -> Result<Vec<(Seq, EventHash, RecordV1)>, LedgerError> {
        let mut records = Vec::new();
        for item in self.records(Seq::FIRST, Seq::new(size)) {
            let (seq, hash, record) = item?;
            if record.body.household() == Some(household) {
                records.push((seq, hash, record));
            }
        }
        Ok(records)
    }

    /// The seqs the trail index lists for `household` through this view's head, once they
    /// give the summary the sealed state holds for it (entries beyond the state's head are
    /// an unfinished write and not judged here; `verify` reports them).
    pub fn household_seqs(&self, household: &str) -> Result<Vec<Seq>, LedgerError> {
        let state = state::read_state(&self.store, Some(self.sealing_key()?))?;
        if state.doubt.is_some() {
            return Err(LedgerError::Unsealed("state record".into()));
        }
        let sealed_head = state.record.head.size;
        if sealed_head < self.head.size {
            return Err(LedgerError::Corrupt(format!(
                "the sealed state says {sealed_head} events, this view {}",
                self.head.size
            )));
        }
        let shard = read_shard(&self.store, &state.record.trails, shard_of(household))?;
        let sealed = shard.get(household).copied().unwrap_or_default();
        let mut listed = self.store.trail_seqs(household)?;
        listed.retain(|seq| seq.get() <= sealed_head);
        let found = TrailSummary::of(listed.iter().copied());
        if found != sealed {
            return Err(LedgerError::Corrupt(format!(
                "the household index of household {household} does not match its sealed \
                 summary ({} entries listed, {} sealed): an entry was added, removed or \
                 moved without the ledger's key; nothing of its trail is shown (run \
                 `fundtrail verify`)",
                found.count, sealed.count
            )));
        }
        listed.retain(|seq| seq.get() <= self.head.size);
        Ok(listed)
    }
}

/// The trail index as `verify` reads it: per household the summary and the trace of its
/// seqs through the head, and the entries listing seqs beyond the head, by household and
/// first seq (the first `MAX_REPORTED_STRAYS`, and how many there are).
#[derive(Default)]
pub(super) struct TrailScan {
    summaries: HashMap<String, (TrailSummary, SeqTrace)>,
    pub beyond: Vec<(String, Seq)>,
    pub beyond_total: usize,
    /// Why the index could not be read, if it could not.
    unreadable: Option<String>,
}

impl LedgerView {
    /// Reads every trail index entry once, in key order (by household, then seq).
    pub(super) fn scan_trails(&self, last: Seq, key: &TraceKey) -> TrailScan {
        let mut scan = TrailScan::default();
        for entry in self.store.trail_entries() {
            let (household, first, seqs) = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    scan.unreadable = Some(e.to_string());
                    break;
                }
            };
            if seqs.last().is_some_and(|seq| *seq > last) {
                scan.beyond_total += 1;
                if scan.beyond.len() < MAX_REPORTED_STRAYS {
                    scan.beyond.push((household.clone(), first));
                }
            }
            let (summary, trace) = scan.summaries.entry(household).or_default();
            for seq in seqs.into_iter().filter(|seq| *seq <= last) {
                summary.extend(seq);
                trace.extend(key, seq);
            }
        }
        scan.summaries.retain(|_, (summary, _)| summary.count > 0);
        scan
    }

    /// The trail index must list exactly the events through `last` that name a household,
    /// each under that household (`logged`, traced from the log under the key `listed`
    /// was traced with), and the sealed summaries must be the log's: the index's, once the
    /// traces show it lists the log's seqs. A household whose entries do not give its
    /// logged trace is looked at again, entry by entry, to name the first seq that differs.
    pub(super) fn check_trails(
        &self,
        logged: HashMap<String, SeqTrace>,
        listed: TrailScan,
        last: Seq,
    ) -> Result<Result<(), AuditFault>, LedgerError> {
        if let Some(reason) = listed.unreadable {
            return Ok(Err(AuditFault::TrailIndexUnreadable(reason)));
        }
        let differing: BTreeSet<&str> = logged
            .iter()
            .filter(|(h, t)| listed.summaries.get(*h).map(|(_, trace)| trace) != Some(t))
            .map(|(h, _)| h.as_str())
            .chain(
                listed
                    .summaries
                    .keys()
                    .filter(|h| !logged.contains_key(*h))
                    .map(String::as_str),
            )
            .collect();
        if !differing.is_empty() {
            return self.first_trail_difference(&differing, last).map(Err);
        }
        drop(logged);
        let mut summaries = listed
            .summaries
            .into_iter()
            .map(|(household, (summary, _))| (household, summary))
            .collect();
        self.check_sealed_trails(&mut summaries)
    }

    /// The first seq at which the trail entries of `households` and the events naming them
    /// differ: a second look, taken only when the summaries showed a difference.
    fn first_trail_difference(
        &self,
        households: &BTreeSet<&str>,
        last: Seq,
    ) -> Result<AuditFault, LedgerError> {
        let mut listed: BTreeMap<Seq, String> = BTreeMap::new();
        for household in households {
            for seq in self.store.trail_seqs(household)? {
                if seq <= last {
                    listed.entry(seq).or_insert_with(|| household.to_string());
                }
            }
        }
        let mut named: BTreeMap<Seq, String> = BTreeMap::new();
        self.store
            .scan_events_unsealed(Seq::FIRST..=last, |seq, _, record| {
                if let Some(household) = peek_household(record) {
                    if households.contains(household) || listed.contains_key(&seq) {
                        named.insert(seq, household.to_owned());
                    }
                }
                ControlFlow::Continue(())
            })?;
        let seqs: BTreeSet<Seq> = listed.keys().chain(named.keys()).copied().collect();
        for seq in seqs {
            let (listed, named) = (listed.get(&seq), named.get(&seq));
            if listed != named {
                return Ok(AuditFault::TrailIndex {
                    seq,
                    listed: listed.cloned(),
                    named: named.cloned(),
                });
            }
        }
        Ok(AuditFault::TrailIndexUnreadable(format!(
            "the entries of {} do not give the summary of their events, yet list the same seqs",
            households.iter().copied().collect::<Vec<_>>().join(", ")
        )))
    }

    /// The sealed summaries must be the log's (`logged`), when the sealed state is of this
    /// view's head (a server's view may be behind the writer's state: then the entries
    /// alone are judged).
    fn check_sealed_trails(
        &self,
        logged: &mut HashMap<String, TrailSummary>,
    ) -> Result<Result<(), AuditFault>, LedgerError> {
        let state = state::read_state(&self.store, self.sealing_key().ok())?;
        if state.record.head.size != self.head.size {
            return Ok(Ok(()));
        }
        let mut faults = Vec::new();
        for shard in 0..=u8::MAX {
            let summaries = match read_shard(&self.store, &state.record.trails, shard) {
                Ok(summaries) => summaries,
                Err(LedgerError::Corrupt(reason)) => {
                    return Ok(Err(AuditFault::TrailIndexUnreadable(reason)))
                }
                Err(other) => return Err(other),
            };
            for (household, sealed) in summaries {
                let log = logged.remove(&household).unwrap_or_default();
                if sealed != log {
                    faults.push(sealed_fault(household, sealed, log));
                }
            }
        }
        faults.extend(
            logged
                .drain()
                .map(|(household, log)| sealed_fault(household, TrailSummary::default(), log)),
        );
        Ok(
            match faults
                .into_iter()
                .min_by(|a, b| fault_household(a).cmp(fault_household(b)))
            {
                Some(fault) => Err(fault),
                None => Ok(()),
            },
        )
    }
}

fn sealed_fault(household: String, sealed: TrailSummary, log: TrailSummary) -> AuditFault {
    AuditFault::TrailSummary {
        household,
        sealed: sealed.count,
        logged: log.count,
        reason: "it was changed without the ledger's key, or the entries and the summary were \
                 both rewritten"
            .into(),
    }
}

/// The household a sealed-summary fault names, so the first in byte order is reported.
fn fault_household(fault: &AuditFault) -> &str {
    match fault {
        AuditFault::TrailSummary { household, .. } => household,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_depends_on_every_seq_and_their_order() {
        let one = TrailSummary::of([Seq::new(1), Seq::new(5)]);
        assert_eq!(one.count, 2);
        assert_ne!(one, TrailSummary::of([Seq::new(1), Seq::new(6)]));
        assert_ne!(one, TrailSummary::of([Seq::new(5), Seq::new(1)]));
        assert_ne!(one, TrailSummary::of([Seq::new(1)]));
        assert_eq!(TrailSummary::of([]), TrailSummary::default());
    }

    #[test]
    fn a_summary_is_blake3_of_tag_previous_digest_and_seq() {
        let mut hasher = blake3::Hasher::new();
        hasher.update(TRAIL_DIGEST_TAG);
        hasher.update(&[0; 32]);
        hasher.update(&7u64.to_be_bytes());
        let first = *hasher.finalize().as_bytes();
        let mut hasher = blake3::Hasher::new();
        hasher.update(TRAIL_DIGEST_TAG);
        hasher.update(&first);
        hasher.update(&9u64.to_be_bytes());
        let expected = TrailSummary {
            count: 2,
            digest: *hasher.finalize().as_bytes(),
        };
        assert_eq!(TrailSummary::of([Seq::new(7), Seq::new(9)]), expected);
    }

    #[test]
    fn a_trace_depends_on_every_seq_their_order_and_the_key() {
        let key = TraceKey::default();
        let trace = |seqs: &[u64]| {
            let mut trace = SeqTrace::default();
            seqs.iter()
                .for_each(|seq| trace.extend(&key, Seq::new(*seq)));
            trace
        };
        let one = trace(&[1, 5]);
        assert_eq!(one, trace(&[1, 5]));
        assert_eq!(one.count, 2);
        assert_ne!(one, trace(&[1, 6]));
        assert_ne!(one, trace(&[5, 1]));
        assert_ne!(one, trace(&[1]));
        assert_ne!(one, trace(&[1, 5, 5]));
        let mut other = SeqTrace::default();
        let other_key = TraceKey::default();
        [1, 5]
            .iter()
            .for_each(|seq| other.extend(&other_key, Seq::new(*seq)));
        assert_ne!(one, other, "a trace under another key");
    }

    /// Seqs held per household come back whole as its entry; a seq out of order is
    /// refused before the summary takes it.
    #[test]
    fn held_seqs_are_written_whole_and_one_out_of_order_is_refused() {
        use crate::store::{OpenMode, Store, StoreBatch};
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let directory = TrailDirectory::default();
        let mut updates = TrailUpdates::default();
        let seqs = [3, 20_000, 20_001, 5_000_000_000].map(Seq::new);
        for seq in seqs {
            updates
                .add(&store, &directory, "H1", seq)
                .expect("in order");
        }
        let refused = updates.add(&store, &directory, "H1", Seq::new(7));
        assert!(
            matches!(&refused, Err(LedgerError::Invalid(m)) if m.contains("H1")),
            "{refused:?}"
        );
        assert_eq!(updates.pending_events, seqs.len());
        assert_eq!(updates.touched.len(), 1);
        assert_eq!(updates.touched[0].summary, TrailSummary::of(seqs));
        let mut batch = StoreBatch::default();
        updates.flush(&mut batch);
        store.write_durable(batch).expect("written");
        assert_eq!(store.trail_seqs("H1").expect("read back"), seqs);
    }

    /// Summaries extended over flushes and batches are those of every seq in order, in
    /// the shard each household's id picks; a shard holds its households in id order.
    #[test]
    fn summaries_go_back_into_their_shards_over_flushes_and_batches() {
        use crate::store::{OpenMode, Store, StoreBatch};
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let households: Vec<String> = (0..300).map(|h| format!("H{h}")).collect();
        let mut directory = TrailDirectory::default();
        let mut expected: BTreeMap<String, Vec<Seq>> = BTreeMap::new();
        let mut seq = 0u64;
        for batch_number in 0..2 {
            let mut updates = TrailUpdates::default();
            let mut batch = StoreBatch::default();
            for round in 0..3 {
                for household in households.iter().skip(batch_number * 100 + round) {
                    seq += 1;
                    let household = household.as_str();
                    updates
                        .add(&store, &directory, household, Seq::new(seq))
                        .expect("in order");
                    expected
                        .entry(household.into())
                        .or_default()
                        .push(Seq::new(seq));
                }
                updates.flush(&mut batch);
            }
            directory = updates.finish(&mut batch, &directory);
            store.write_durable(batch).expect("written");
        }
        for (household, seqs) in &expected {
            let shard = read_shard(&store, &directory, shard_of(household)).expect("sealed");
            assert_eq!(shard[household], TrailSummary::of(seqs.iter().copied()));
            assert_eq!(&store.trail_seqs(household).expect("read back"), seqs);
        }
        let shards: BTreeSet<u8> = households.iter().map(|h| shard_of(h)).collect();
        for shard in shards {
            let read = read_shard(&store, &directory, shard).expect("sealed");
            assert!(read.keys().all(|h| shard_of(h) == shard));
        }
    }

    /// A shard that does not hash to what the directory says is refused when the first
    /// household in it is added, and nothing of that household is kept.
    #[test]
    fn a_changed_shard_is_refused_at_its_first_household() {
        use crate::store::{OpenMode, Store};
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let mut directory = TrailDirectory::default();
        directory.0[usize::from(shard_of("H1"))] = [7; 32];
        let mut updates = TrailUpdates::default();
        let refused = updates.add(&store, &directory, "H1", Seq::new(1));
        assert!(
            matches!(refused, Err(LedgerError::Corrupt(_))),
            "{refused:?}"
        );
        assert!(updates.touched.is_empty() && updates.positions.is_empty());
        assert_eq!(updates.pending_events, 0);
    }

    #[test]
    fn shard_names_cover_one_byte() {
        assert_eq!(shard_name(0), "trails.00");
        assert_eq!(shard_name(255), "trails.ff");
        assert_eq!(TrailDirectory::default().0.len(), TRAIL_SHARDS);
    }

    #[test]
    fn a_directory_of_the_wrong_length_names_no_shard() {
        let short = TrailDirectory(vec![[0; 32]; 3]);
        assert!(short.expected(1).is_err());
        assert_eq!(TrailDirectory::default().expected(255).ok(), Some([0; 32]));
    }
}
