//! The maintained read models: the projections' state, persisted in the ledger with the seq
//! and hash it reflects, caught up from there on open, and rebuildable from genesis.
//!
//! The snapshot is written after a batch, at most its lag behind the head
//! ([`SnapshotPolicy`]: [`SNAPSHOT_LAG_EVENTS`], or more for a large state). It is never written in the same sled batch as events, so a crash can leave it
//! behind, never ahead: catching up applies exactly the events after its seq, after
//! checking that its hash is the log's hash at that seq.
//!
//! The snapshot is several records (FORMAT.md §3.4), so that a query reads only what it
//! answers: a core (`m‖read_models`: position, names, funds, receivables, and the BLAKE3
//! of every other record), [`HOUSEHOLD_SHARDS`] household shards and the totals cube's
//! period records. The core is sealed under the state key, so a record that does not hash
//! to what the core names was changed without the key and is refused. A query at the
//! snapshot's seq reads the core and its records ([`read_household`], [`read_totals`],
//! [`read_funds`]); behind it, a household's shard is caught up with that household's own
//! events, and for the others the whole state is loaded and caught up, in memory only.

pub mod facts;
pub mod findings;

mod alongside;
mod parallel;
mod payment_cache;

pub use alongside::Appended;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use fundtrail_projections::{
    household_shard, trail, ChangedParts, CoreData, CubeData, CubeRecords, Fact, FundRow,
    HouseholdBalance, HouseholdNumbers, Prepared, ReadModels, ShardData, TotalsQuery, TotalsRow,
    TrailEntry, TrailInput, HOUSEHOLD_SHARDS,
};
use serde::{Deserialize, Serialize};

use crate::ledger::readmodels::facts::{fact_of, memo_of, TargetDates};
pub use crate::ledger::readmodels::findings::{
    FindingsEncoding, FindingsSide, FindingsSideError, LogPayments, META_FINDINGS,
};
use crate::ledger::{Ledger, LedgerError, LedgerView, MetaBatch, MetaPacker, MetaWriter};
use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::{Body, RecordV1};
use crate::store::PackedMeta;

/// A snapshot older than this many events is rewritten when the read side catches up.
/// Catching up costs a few µs per event, so this bounds the work an open does to well
/// under a second, while a single-row append does not rewrite the whole state.
pub const SNAPSHOT_LAG_EVENTS: u64 = 10_000;

/// Bytes of a snapshot part per event it may lag: a part whose last snapshot was B bytes
/// is due again after max([`SNAPSHOT_LAG_EVENTS`], B / this) events. Encoding and writing
/// a part costs a few ns per byte, so its cost per appended event stays bounded (about
/// 4 KiB of encoding, some µs) however large the state grows; the catch-up it leaves an
/// open grows with the state as the snapshot's own load does, and stays a fraction of it
/// (a 4M-event district: parts of about 135 MB, due every 33,000 events).
pub const SNAPSHOT_BYTES_PER_EVENT: u64 = 4_096;

/// When a snapshot part is due ([`ReadSide::copy_due`]); the default is the constants'.
/// Tests shrink the lag to reach a snapshot in a few events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// The lag, in events, below which no part is rewritten unless forced.
    pub min_lag_events: u64,
    /// [`SNAPSHOT_BYTES_PER_EVENT`].
    pub bytes_per_event: u64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            min_lag_events: SNAPSHOT_LAG_EVENTS,
            bytes_per_event: SNAPSHOT_BYTES_PER_EVENT,
        }
    }
}

impl SnapshotPolicy {
    /// The lag, in events, after which a part whose last snapshot was `bytes` long is due.
    pub fn lag(&self, bytes: u64) -> u64 {
        self.min_lag_events
            .max(bytes / self.bytes_per_event.max(1))
            .max(1)
    }
}

/// Meta record holding the snapshot's core, which names every other record's BLAKE3.
pub const META_READ_MODELS: &str = "read_models";

/// The household shards' records: `read_models.households.00` to `.ff`.
const SHARD_PREFIX: &str = "read_models.households.";

/// The totals cube's all-time shapes.
const CUBE_ALL_TIME: &str = "read_models.totals";

/// One year's shapes of the totals cube: `read_models.totals.2019`.
const CUBE_YEAR_PREFIX: &str = "read_models.totals.";

/// First byte of the stored core. A snapshot of another version (an older release's)
/// is ignored and the models are rebuilt from genesis, then saved in this version: the
/// snapshot is a cache, and a replay from the log is always correct.
/// Version 2: name tables as name lists, household cells per program and month only, no
/// totals cube (all coarser cells are derived from those when first queried).
/// Version 3: receivables per finding, recovered money per household, program and month,
/// and each fund's recovered sum (issue 13, recoveries).
/// Version 4: the snapshot split into a core, household shards and the totals cube's
/// period records, each bound by its BLAKE3 in the core (issue 14, indexed reads).
pub const SNAPSHOT_VERSION: u8 = 4;

/// The meta name of household shard `shard`.
pub fn shard_record(shard: u8) -> String {
    format!("{SHARD_PREFIX}{shard:02x}")
}

/// The meta name of the cube record of `year`, or of the all-time shapes.
pub fn cube_record(year: Option<i32>) -> String {
    match year {
        Some(year) => format!("{CUBE_YEAR_PREFIX}{year}"),
        None => CUBE_ALL_TIME.to_owned(),
    }
}

/// The BLAKE3 of every record beside the core, as the core names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Directory {
    /// By shard number; [`HOUSEHOLD_SHARDS`] of them.
    shards: Vec<[u8; 32]>,
    all_time: [u8; 32],
    years: BTreeMap<i32, [u8; 32]>,
}

impl Directory {
    /// Every record the directory names, with its digest.
    fn records(&self) -> impl Iterator<Item = (String, [u8; 32])> + '_ {
        let shards = (0u8..=u8::MAX)
            .zip(&self.shards)
            .map(|(shard, digest)| (shard_record(shard), *digest));
        let years = self
            .years
            .iter()
            .map(|(year, digest)| (cube_record(Some(*year)), *digest));
        shards
            .chain(std::iter::once((cube_record(None), self.all_time)))
            .chain(years)
    }

    /// The digest of household shard `shard`.
    fn shard(&self, shard: u8) -> Result<[u8; 32], ReadSideError> {
        match (self.shards.len(), self.shards.get(usize::from(shard))) {
            (HOUSEHOLD_SHARDS, Some(digest)) => Ok(*digest),
            (len, _) => Err(ReadSideError::Snapshot(format!(
                "the snapshot's core names {len} household shards, not {HOUSEHOLD_SHARDS}"
            ))),
        }
    }

    /// The cube records `query` reads, with their digests.
    fn cubes_for(&self, query: &TotalsQuery) -> Vec<(String, [u8; 32])> {
        match query.cube_records() {
            CubeRecords::AllTime => vec![(cube_record(None), self.all_time)],
            CubeRecords::Year(year) => self
                .years
                .get(&year)
                .map(|digest| (cube_record(Some(year)), *digest))
                .into_iter()
                .collect(),
            CubeRecords::EveryYear => self
                .years
                .iter()
                .map(|(year, digest)| (cube_record(Some(*year)), *digest))
                .collect(),
        }
    }
}

/// The stored core: what every answer may need, and the digests of the other records.
#[derive(Debug, Serialize, Deserialize)]
struct CoreRecord {
    data: CoreData,
    directory: Directory,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadSideError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("read models: {0}")]
    Projection(#[from] fundtrail_projections::ProjectionError),
    #[error("read models: {0}")]
    Fact(#[from] crate::ledger::readmodels::facts::FactError),
    #[error("the read models say they reflect seq {seq} with hash {found}, but the log has {expected} there")]
    HashMismatch {
        seq: u64,
        expected: EventHash,
        found: EventHash,
    },
    #[error("the read models reflect seq {seq}, beyond the log's head {head}")]
    AheadOfLog { seq: u64, head: u64 },
    #[error("the read-model snapshot does not decode: {0}")]
    Snapshot(String),
    /// A record that does not hash to what the sealed core names: changed, removed or put
    /// back from an older snapshot without the ledger's key.
    #[error("the read-model record {name} is not the one the sealed snapshot names: it was changed without the ledger's key (run `fundtrail verify`)")]
    Unbound { name: String },
    #[error("read models: {0}")]
    Parts(#[from] fundtrail_projections::PartsError),
    #[error(transparent)]
    Findings(#[from] FindingsSideError),
    /// What `verify` found different from a rebuild from genesis ([`verify_against_rebuild`]).
    #[error("the maintained {0} differ from a rebuild from genesis (run `fundtrail rebuild`)")]
    Differs(String),
}

/// An event ready to fold: its seq, its hash and its fact, if it has one.
type Mapped = (Seq, EventHash, Option<Prepared>);

/// An event read and mapped to its fact, not yet prepared for folding.
type Unprepared = (Seq, EventHash, Option<Fact>);

/// A catch-up of at least this many events decodes them on a second thread
/// (`ledger/readmodels/parallel.rs`). Below it, the thread would cost more than it saves: a server
/// catches up a few events per commit.
const PARALLEL_CATCH_UP_EVENTS: u64 = 4_096;

/// One committed event, decoded, mapped to its fact; a payment's date is noted for the
/// reversals that may follow it.
fn map_event(
    item: Result<(Seq, EventHash, RecordV1), ReadSideError>,
    recent: &mut RecentDates<'_>,
) -> Result<Unprepared, ReadSideError> {
    let (seq, hash, mut record) = item?;
    map_record(seq, hash, &mut record, recent)
}

/// [`map_event`] of a record read and kept by the caller, whose strings the fact takes.
fn map_record(
    seq: Seq,
    hash: EventHash,
    record: &mut RecordV1,
    recent: &mut RecentDates<'_>,
) -> Result<Unprepared, ReadSideError> {
    recent.note(seq, &record.body);
    Ok((seq, hash, fact_of(seq, record, recent)?))
}

/// Folds a committed event into the findings, when they are maintained and have not
/// folded it yet (their snapshot may be ahead of the read models'), and passes it on;
/// `payments` answers for the payments before it.
fn fold_findings(
    findings: Option<&mut FindingsSide>,
    payments: &mut LogPayments<'_>,
    item: Result<(Seq, EventHash, RecordV1), LedgerError>,
) -> Result<(Seq, EventHash, RecordV1), ReadSideError> {
    let (seq, hash, record) = item?;
    fold_finding(findings, payments, seq, hash, &record)?;
    Ok((seq, hash, record))
}

/// [`fold_findings`] of an event it does not take: the caller hands it on as it is.
fn fold_finding(
    findings: Option<&mut FindingsSide>,
    payments: &mut LogPayments<'_>,
    seq: Seq,
    hash: EventHash,
    record: &RecordV1,
) -> Result<(), ReadSideError> {
    if let Some(findings) = findings.filter(|f| seq.get() >= f.next_seq()) {
        findings.fold(seq, hash, record, payments)?;
    }
    Ok(())
}

/// [`fold_finding`] of an event into findings that fold every event, with the number of
/// the household it pays ([`FindingsSide::fold_numbered`]).
fn fold_numbered(
    findings: &mut FindingsSide,
    payments: &mut LogPayments<'_>,
    (seq, hash, record): (Seq, EventHash, &RecordV1),
    numbered: Option<(u32, &mut HouseholdNumbers)>,
) -> Result<(), ReadSideError> {
    findings.fold_numbered(seq, hash, record, numbered, payments)?;
    Ok(())
}

/// Payments a replay remembers the value dates of: a reversal usually follows its payment
/// closely, and finds the date here instead of reading the payment back from the store (a
/// block read and a decode, which cost a replay 6%). Constant memory: 64 KiB.
const RECENT_PAYMENTS: usize = 4_096;

/// The value dates of the most recent payments of a replay, by seq; other targets are
/// read from the ledger.
struct RecentDates<'a> {
    ledger: &'a dyn TargetDates,
    /// Slot `seq % RECENT_PAYMENTS`: the seq it holds and that payment's value date.
    slots: Vec<(u64, i32)>,
}

impl<'a> RecentDates<'a> {
    fn new(ledger: &'a dyn TargetDates) -> RecentDates<'a> {
        RecentDates {
            ledger,
            slots: vec![(0, 0); RECENT_PAYMENTS],
        }
    }

    fn note(&mut self, seq: Seq, body: &Body) {
        if let Some((_, payment)) = body.payment() {
            self.slots[slot(seq)] = (seq.get(), payment.value_date);
        }
    }
}

/// The slot of `seq`: the slots hold seqs by their remainder.
fn slot(seq: Seq) -> usize {
    // The remainder is below RECENT_PAYMENTS, a usize.
    #[allow(clippy::cast_possible_truncation)]
    let slot = (seq.get() % RECENT_PAYMENTS as u64) as usize;
    slot
}

impl TargetDates for RecentDates<'_> {
    fn value_date(&self, seq: Seq) -> Result<i32, String> {
        match self.slots[slot(seq)] {
            (held, days) if held == seq.get() && held != 0 => Ok(days),
            _ => self.ledger.value_date(seq),
        }
    }

    fn recovery(&self, seq: Seq) -> Result<(i32, String), String> {
        self.ledger.recovery(seq)
    }
}

/// Whether a read side maintains the findings beside the read models. Imports, `findings`,
/// `verify`, `rebuild` and the server maintain them. [`FindingsFold::Off`] is for answers
/// that use none of them (`totals`, `funds`, `household`, the receivables a recovery is
/// checked against), which then neither load nor save the findings' snapshot, and for the
/// bench that measures what the findings cost an import (`benches/findings.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingsFold {
    Maintained,
    Off,
}

/// The read models and the findings, each with the seq of the snapshot it was loaded from.
#[derive(Clone)]
pub struct ReadSide {
    models: ReadModels,
    saved_seq: u64,
    /// The records on disk, when known: a save rewrites only the records whose bytes
    /// changed.
    saved_records: Option<SavedRecords>,
    findings: Option<FindingsSide>,
    /// The bytes of the last snapshot of each part this value wrote (0 before its first):
    /// how far the next may lag ([`SnapshotPolicy::lag`]).
    saved_bytes: PartBytes,
}

/// The read models' records on disk as a read side knows them.
#[derive(Clone, Debug)]
struct SavedRecords {
    directory: Directory,
    /// Each household shard's encoded length, by shard number, when the directory is that
    /// of this read side's own models at its saved seq (it loaded them from those records
    /// or wrote them): then a shard no event after that seq changed is on disk as the
    /// models hold it, and a snapshot encodes only the shards that changed. `None` when the
    /// directory is only what happens to be on disk (a rebuild's): every shard is encoded.
    shard_bytes: Option<Vec<u64>>,
}

/// Bytes of the read models' records (all of them, as encoded) and of the findings'.
#[derive(Clone, Copy, Debug, Default)]
struct PartBytes {
    models: u64,
    findings: u64,
}

/// The two parts of the read side's snapshot, each with a position of its own: written
/// one after the other, each is consistent with the log at the seq it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Models,
    Findings,
}

/// What a server takes of one part of the read side under its read lock when that part's
/// snapshot is due, to encode (if not encoded yet) and write on a thread of its own,
/// holding no lock ([`SnapshotSource::encode`]).
///
/// Of the read models, a copy of the core, the cube records and only the household shards
/// that changed since the snapshot on disk (all of them when that is not known): under
/// load on one household, one shard of 256, copied in about 1 ms at 1,000,000 events.
/// The findings are encoded in place, straight into their record file when too large for
/// sled ([`FindingsSide::snapshot_for`]): their encoding takes about as long as a copy of
/// them did (20 to 30 ms at 1,000,000 events), a copy held the findings twice at the
/// server's peak (26 MiB of copy beside 14 MiB of encoding), and an encoding in memory
/// held them once more (11 MB at 1,000,000 events, 46 MB at 4,000,000).
pub struct SnapshotSource(Source);

enum Source {
    // Boxed: hundreds of bytes inline, and a part is taken once a snapshot.
    Models {
        parts: Box<ChangedParts<'static>>,
        seq: u64,
        saved: Option<SavedRecords>,
    },
    /// The findings' snapshot: its seq and encoding.
    Findings(u64, FindingsEncoding),
}

impl SnapshotSource {
    /// The snapshot of the part taken, as [`ReadSide::snapshot`] would make it; a copy is
    /// dropped once it is encoded.
    pub fn encode(self) -> Snapshot {
        match self.0 {
            Source::Models { parts, seq, saved } => Snapshot {
                models: Some(encode(*parts, seq, saved.as_ref())),
                findings: None,
            },
            Source::Findings(seq, encoding) => Snapshot {
                models: None,
                findings: Some((seq, encoding)),
            },
        }
    }

    /// The seq the part taken reflects.
    pub fn seq(&self) -> u64 {
        match &self.0 {
            Source::Models { seq, .. } => *seq,
            Source::Findings(seq, _) => *seq,
        }
    }
}

/// The read models' records due to be written: those not already stored with the same
/// bytes (the core, last, always), and the bytes of every record, written or not.
struct ModelsSnapshot {
    records: ModelRecords,
    /// What the records reflect once written.
    at: SavedModels,
}

/// The records of a [`ModelsSnapshot`]: plain, as encoded, or already sealed and packed
/// into the batch that writes them ([`ReadSide::save`]).
enum ModelRecords {
    Held(Vec<(String, Vec<u8>)>),
    // Boxed: the store batch is hundreds of bytes inline.
    Packed(Box<MetaBatch>),
}

/// Where an encoding of the read models puts its records, one at a time, in order: each
/// record is made ready by the sink's packer (which may run on another thread, see
/// [`encode_beside`]), then put.
trait RecordSink {
    type Packer: RecordPacker;
    fn packer(&self) -> Self::Packer;
    fn put_ready(&mut self, ready: <Self::Packer as RecordPacker>::Ready);
}

/// Makes a record ready for its [`RecordSink`]: the costly part of a put.
trait RecordPacker: Sync {
    type Ready: Send;
    fn pack(&self, name: String, bytes: Vec<u8>) -> Self::Ready;
}

/// Records held plain, as encoded.
struct Plain;

impl RecordPacker for Plain {
    type Ready = (String, Vec<u8>);
    fn pack(&self, name: String, bytes: Vec<u8>) -> (String, Vec<u8>) {
        (name, bytes)
    }
}

impl RecordSink for Vec<(String, Vec<u8>)> {
    type Packer = Plain;
    fn packer(&self) -> Plain {
        Plain
    }
    fn put_ready(&mut self, ready: (String, Vec<u8>)) {
        self.push(ready);
    }
}

/// Each record is sealed and packed as it comes and its plain bytes dropped: an import
/// that changed every shard held all 256 shards' plain encodings at once otherwise (about
/// 35 MB at 1,000,000 events), at the end of the import, its peak.
impl RecordSink for MetaBatch {
    type Packer = MetaPacker;
    fn packer(&self) -> MetaPacker {
        MetaBatch::packer(self)
    }
    fn put_ready(&mut self, ready: PackedMeta) {
        self.put_packed(ready);
    }
}

impl RecordPacker for MetaPacker {
    type Ready = PackedMeta;
    fn pack(&self, name: String, bytes: Vec<u8>) -> PackedMeta {
        MetaPacker::pack(self, &name, bytes)
    }
}

/// The snapshots due to be written, made under a read lock and written without one.
pub struct Snapshot {
    models: Option<ModelsSnapshot>,
    findings: Option<(u64, FindingsEncoding)>,
}

impl Snapshot {
    /// The read models' records to write, if due (unsealed; the store seals them), by
    /// name: those not stored already with the same bytes, and the core
    /// ([`META_READ_MODELS`]), which binds every record's digest, last. `None` too for
    /// records packed already ([`ReadSide::save`]'s, which it never hands out).
    pub fn models_records(&self) -> Option<&[(String, Vec<u8>)]> {
        match &self.models.as_ref()?.records {
            ModelRecords::Held(records) => Some(records.as_slice()),
            ModelRecords::Packed(_) => None,
        }
    }

    /// The findings' snapshot bytes, if due and held in memory (unsealed).
    pub fn findings_bytes(&self) -> Option<&[u8]> {
        match &self.findings {
            Some((_, FindingsEncoding::Bytes(bytes))) => Some(bytes.as_slice()),
            _ => None,
        }
    }
}

/// The seqs a written [`Snapshot`] reflects, with its parts' sizes, for [`ReadSide::saved`].
#[derive(Clone, Debug)]
pub struct SavedAt {
    /// Seq, directory and bytes of every record.
    models: Option<SavedModels>,
    /// Seq and bytes.
    findings: Option<(u64, u64)>,
}

/// What a written read-models snapshot reflects and holds.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SavedModels {
    seq: u64,
    directory: Directory,
    total_bytes: u64,
    shard_bytes: Vec<u64>,
}

impl SavedAt {
    /// The seq of each part written, if it was.
    pub fn seqs(&self) -> (Option<u64>, Option<u64>) {
        (
            self.models.as_ref().map(|models| models.seq),
            self.findings.map(|(seq, _)| seq),
        )
    }
}

impl ReadSide {
    /// Loads the snapshots (if any), checks them against the log and catches up.
    pub fn open(ledger: &LedgerView) -> Result<ReadSide, ReadSideError> {
        ReadSide::open_with(ledger, FindingsFold::Maintained)
    }

    /// [`ReadSide::open`], with the findings maintained or not ([`FindingsFold`]).
    pub fn open_with(ledger: &LedgerView, fold: FindingsFold) -> Result<ReadSide, ReadSideError> {
        let (models, saved_records) = match read_core(ledger)? {
            Some(core) => {
                check_applied(ledger, core.data.applied())?;
                let directory = core.directory.clone();
                let (models, shard_bytes) = load_models(ledger, core)?;
                let saved = SavedRecords {
                    directory,
                    shard_bytes: Some(shard_bytes),
                };
                (models, Some(saved))
            }
            None => (ReadModels::new(), None),
        };
        let findings = match fold {
            FindingsFold::Maintained => Some(FindingsSide::load(ledger)?),
            FindingsFold::Off => None,
        };
        let saved_seq = models.applied().map_or(0, |a| a.seq);
        let mut side = ReadSide {
            models,
            saved_seq,
            saved_records,
            findings,
            saved_bytes: PartBytes::default(),
        };
        side.catch_up(ledger)?;
        Ok(side)
    }

    /// Recomputes the read models and the findings from genesis. Its save rewrites only
    /// the records that differ from what is stored and reads back bound.
    pub fn rebuild(ledger: &LedgerView) -> Result<ReadSide, ReadSideError> {
        let mut side = ReadSide {
            models: ReadModels::new(),
            saved_seq: 0,
            saved_records: bound_directory(ledger).map(|directory| SavedRecords {
                directory,
                shard_bytes: None,
            }),
            findings: Some(FindingsSide::genesis(ledger)),
            saved_bytes: PartBytes::default(),
        };
        side.catch_up(ledger)?;
        Ok(side)
    }

    pub fn models(&self) -> &ReadModels {
        &self.models
    }

    /// The maintained findings; `None` only for a side opened with [`FindingsFold::Off`].
    pub fn findings(&self) -> Option<&FindingsSide> {
        self.findings.as_ref()
    }

    /// What differs between this side and `rebuilt` (a rebuild from genesis through the
    /// same seq), by name; `Ok` when nothing does.
    pub fn compare(&self, rebuilt: &ReadSide) -> Result<(), String> {
        let mut differ = Vec::new();
        if self.models != rebuilt.models {
            differ.push("read models");
        }
        if self.findings.is_some() && self.findings != rebuilt.findings {
            differ.push("findings");
        }
        if differ.is_empty() {
            return Ok(());
        }
        Err(format!(
            "the maintained {} differ from a rebuild from genesis (run `fundtrail rebuild`)",
            differ.join(" and ")
        ))
    }

    /// Applies every committed event after the models' position to the models, and every
    /// one after the findings' position to the findings, in one pass; returns how many
    /// the models applied.
    ///
    /// Each event is decoded straight from its stored block and prepared one event ahead
    /// of being folded, with a prefetch of the cell it will change: preparing the next
    /// event hides that cell's cache miss.
    pub fn catch_up(&mut self, ledger: &LedgerView) -> Result<u64, ReadSideError> {
        let models_from = self.models.next_seq()?;
        let from = self
            .findings
            .as_ref()
            .map_or(models_from, |f| f.next_seq().min(models_from));
        let (from, to) = (Seq::new(from), Seq::new(ledger.head().size));
        if to.get() >= from.get().saturating_add(PARALLEL_CATCH_UP_EVENTS) {
            return parallel::catch_up(self, ledger, from, to);
        }
        let mut findings = self.findings.as_mut();
        let mut folder = Folder::new(&mut self.models, models_from);
        let mut recent = RecentDates::new(ledger);
        let mut payments = LogPayments::new(ledger);
        let mut outcome = Ok(());
        ledger.visit_records(from, to, |item| {
            let item = fold_findings(findings.as_deref_mut(), &mut payments, item);
            match folder.push(map_event(item, &mut recent)) {
                Ok(()) => ControlFlow::Continue(()),
                Err(error) => {
                    outcome = Err(error);
                    ControlFlow::Break(())
                }
            }
        });
        outcome?;
        folder.finish()
    }

    /// Writes the snapshots that are due by the default [`SnapshotPolicy`], or all that
    /// are behind if `force`; says whether it wrote any.
    /// The findings are encoded straight into their file when large
    /// ([`FindingsSide::snapshot_for`]); the models' records are sealed and packed into
    /// their batch one at a time as they are encoded ([`MetaBatch`]), the core last, and
    /// the batch written whole: the same records, byte for byte, as [`ReadSide::snapshot`]
    /// makes.
    pub fn save(&mut self, ledger: &Ledger, force: bool) -> Result<bool, ReadSideError> {
        let metas = ledger.meta_writer();
        let policy = SnapshotPolicy::default();
        let findings = self
            .copy_due(Part::Findings, policy, force, &metas)?
            .and_then(|source| source.encode().findings);
        let models = match self.due(Part::Models, policy, force) {
            true => {
                let seq = self.models.applied().map_or(0, |a| a.seq);
                let batch = metas.batch()?;
                let saved = self.saved_records.as_ref();
                let changed = self.changed_shards();
                let (batch, at) = encode_beside(&self.models, changed, seq, saved, batch);
                Some(ModelsSnapshot {
                    records: ModelRecords::Packed(Box::new(batch)),
                    at,
                })
            }
            false => None,
        };
        if models.is_none() && findings.is_none() {
            return Ok(false);
        }
        let at = ReadSide::write_snapshot(&metas, Snapshot { models, findings })?;
        self.saved(at);
        Ok(true)
    }

    /// The snapshots to write, if any is due by the default [`SnapshotPolicy`] (or behind
    /// at all, if `force`), encoded from this value: [`ReadSide::save`] in two halves.
    pub fn snapshot(&self, force: bool) -> Option<Snapshot> {
        let policy = SnapshotPolicy::default();
        let models = self.due(Part::Models, policy, force).then(|| {
            let seq = self.models.applied().map_or(0, |a| a.seq);
            encode(self.changed_parts(), seq, self.saved_records.as_ref())
        });
        let findings = match (&self.findings, self.due(Part::Findings, policy, force)) {
            (Some(findings), true) => {
                let (seq, bytes) = findings.snapshot();
                Some((seq, FindingsEncoding::Bytes(bytes)))
            }
            _ => None,
        };
        (models.is_some() || findings.is_some()).then_some(Snapshot { models, findings })
    }

    /// [`ReadSide::snapshot`] encoding every household shard, not only those changed since
    /// the saved snapshot: what the changed-only encoding must equal byte for byte (same
    /// records, same directory), at the cost of encoding the whole state. For tests.
    pub fn snapshot_whole(&self, force: bool) -> Option<Snapshot> {
        let mut snapshot = self.snapshot(force)?;
        if snapshot.models.is_some() {
            let seq = self.models.applied().map_or(0, |a| a.seq);
            let parts = self.models.parts_where(|_| true);
            snapshot.models = Some(encode(parts, seq, self.saved_records.as_ref()));
        }
        Some(snapshot)
    }

    /// What a snapshot of `part` needs, if due by `policy` (or behind at all, if `force`),
    /// to encode and write without holding this value ([`SnapshotSource`]). The findings
    /// of a large ledger are encoded into their record file through `metas` here; it is
    /// named when the snapshot is written, and removed if it never is.
    pub fn copy_due(
        &self,
        part: Part,
        policy: SnapshotPolicy,
        force: bool,
        metas: &MetaWriter,
    ) -> Result<Option<SnapshotSource>, ReadSideError> {
        if !self.due(part, policy, force) {
            return Ok(None);
        }
        let source = match part {
            Part::Models => Source::Models {
                parts: Box::new(self.changed_parts().into_owned()),
                seq: self.models.applied().map_or(0, |a| a.seq),
                saved: self.saved_records.clone(),
            },
            Part::Findings => {
                let Some(findings) = self.findings.as_ref() else {
                    return Ok(None);
                };
                let (seq, encoding) = findings.snapshot_for(metas)?;
                Source::Findings(seq, encoding)
            }
        };
        Ok(Some(SnapshotSource(source)))
    }

    /// The models' records, with only the household shards that changed since the saved
    /// snapshot when this side knows that snapshot as its own ([`SavedRecords`]).
    fn changed_parts(&self) -> ChangedParts<'_> {
        self.models.parts_where(self.changed_shards())
    }

    /// Whether a household shard changed since the saved snapshot (every shard, when this
    /// side does not know that snapshot as its own).
    fn changed_shards(&self) -> impl Fn(u8) -> bool + Send + '_ {
        let known = self
            .saved_records
            .as_ref()
            .is_some_and(|saved| saved.shard_bytes.is_some());
        let since = self.saved_seq;
        let models = &self.models;
        move |shard| !known || models.shard_changed_after(shard, since)
    }

    /// Whether `part` is behind its snapshot on disk by its lag under `policy` (by any
    /// event, if `force`).
    fn due(&self, part: Part, policy: SnapshotPolicy, force: bool) -> bool {
        let (at, saved, bytes) = match (part, &self.findings) {
            (Part::Models, _) => (
                self.models.applied().map_or(0, |a| a.seq),
                self.saved_seq,
                self.saved_bytes.models,
            ),
            // A fold a failed lookup stopped is never saved (`FindingsSide::is_broken`).
            (Part::Findings, Some(findings)) if findings.is_broken() => return false,
            (Part::Findings, Some(findings)) => (
                findings.applied_seq(),
                findings.saved_seq(),
                self.saved_bytes.findings,
            ),
            (Part::Findings, None) => return false,
        };
        at > saved && (force || at - saved >= policy.lag(bytes))
    }

    /// Records that the snapshots of `at` are on disk.
    pub fn saved(&mut self, at: SavedAt) {
        if let Some(models) = at.models {
            if models.seq >= self.saved_seq {
                self.saved_seq = models.seq;
                self.saved_records = Some(SavedRecords {
                    directory: models.directory,
                    shard_bytes: Some(models.shard_bytes),
                });
                self.saved_bytes.models = models.total_bytes;
            }
        }
        if let (Some((seq, bytes)), Some(findings)) = (at.findings, self.findings.as_mut()) {
            if seq >= findings.saved_seq() {
                findings.saved(seq);
                self.saved_bytes.findings = bytes;
            }
        }
    }

    /// Writes the snapshots made by [`ReadSide::snapshot`] or [`SnapshotSource::encode`];
    /// says what they reflect. The read models' records go in one batch: those whose bytes
    /// are stored already are left as they are.
    pub fn write_snapshot(
        metas: &MetaWriter,
        snapshot: Snapshot,
    ) -> Result<SavedAt, ReadSideError> {
        let mut at = SavedAt {
            models: None,
            findings: None,
        };
        if let Some(models) = snapshot.models {
            let ModelsSnapshot { records, at: saved } = models;
            match records {
                ModelRecords::Held(records) => metas.put_metas(records)?,
                ModelRecords::Packed(batch) => batch.write()?,
            }
            at.models = Some(saved);
        }
        if let Some((seq, encoding)) = snapshot.findings {
            let len = encoding.record_len();
            encoding.write(metas)?;
            at.findings = Some((seq, len));
        }
        Ok(at)
    }

    /// Totals from the maintained state.
    pub fn totals(&self, query: &TotalsQuery) -> Vec<TotalsRow> {
        self.models.totals(query)
    }
}

/// The differing records a `verify` failure names at most; it says how many more there
/// are. A snapshot of another district differs in all 256 shards, and a line of 256 names
/// tells the reader no more than the first few.
const DIFFERING_RECORDS_NAMED: usize = 8;

/// Compares the stored snapshots with a rebuild from genesis, holding one state: the
/// rebuild folds the log and, at each snapshot's own seq, its encoding is compared with
/// what is stored. The read models by their records' BLAKE3s, which the sealed core's
/// directory names (each stored record is checked against the directory too), and the
/// core's own data; the findings by the BLAKE3 of their encoding. The fold then goes on
/// to the head, so that an event after the snapshots that does not fold is reported as
/// a query would meet it. A snapshot that is not stored, or of an older version, has
/// nothing to compare (a query replays the log instead).
///
/// The events are read and decoded on a thread of their own, beside the two of
/// [`RebuildCheck::run`]; `verify` feeds the same check from its rules' replay instead, so
/// that each event is read and decoded once.
pub fn verify_against_rebuild(ledger: &LedgerView) -> Result<(), ReadSideError> {
    let check = RebuildCheck::prepare(ledger)?;
    std::thread::scope(|scope| {
        let (sender, receiver) = sync_channel(REBUILD_HANDOFFS_IN_FLIGHT);
        scope.spawn(move || read_for_rebuild(ledger, sender));
        check.run(ledger, receiver)
    })
}

/// One committed event as a rebuild's check takes it: decoded, with the number the rules'
/// replay gave the household it pays, if it is a payment and a replay decoded it
/// ([`crate::tlog::audit::RuleAudit::push_numbered`]: the folds then find the household
/// by the number), or the reason it cannot be read (as a query would meet it: a block
/// whose seal does not hold).
pub type Decoded = Result<(Seq, EventHash, RecordV1, Option<u32>), LedgerError>;

/// Events handed to [`RebuildCheck::run`] at a time, and between its two threads.
pub const REBUILD_EVENTS_PER_HANDOFF: usize = 4_096;

/// Handoffs in flight into and within [`RebuildCheck::run`]: how far a side may run ahead.
pub const REBUILD_HANDOFFS_IN_FLIGHT: usize = 4;

/// Reads and decodes every committed event for [`verify_against_rebuild`], in order, up
/// to and including the first that cannot be read. Stops when the check has stopped.
fn read_for_rebuild(ledger: &LedgerView, sender: SyncSender<Vec<Decoded>>) {
    let mut handoffs = parallel::Handoffs::new(REBUILD_EVENTS_PER_HANDOFF, sender, None);
    ledger.visit_records(Seq::FIRST, Seq::new(ledger.head().size), |item| {
        let failed = item.is_err();
        handoffs.push(item.map(unnumbered), failed)
    });
    handoffs.finish();
}

/// An event no replay numbered the household of.
fn unnumbered(
    (seq, hash, record): (Seq, EventHash, RecordV1),
) -> (Seq, EventHash, RecordV1, Option<u32>) {
    (seq, hash, record, None)
}

/// [`verify_against_rebuild`] in two halves: what is stored, read and authenticated
/// first ([`RebuildCheck::prepare`]), then the fold of the log's events as a caller hands
/// them over ([`RebuildCheck::run`]).
pub struct RebuildCheck {
    core: Option<CoreRecord>,
    /// The findings snapshot's seq and the BLAKE3 of its encoding.
    findings: Option<(u64, [u8; 32])>,
}

impl RebuildCheck {
    /// Reads the snapshots' core and findings, each checked against the log, and every
    /// record the core names against its digest there.
    pub fn prepare(ledger: &LedgerView) -> Result<RebuildCheck, ReadSideError> {
        let core = checked_core(ledger)?;
        if let Some(core) = &core {
            check_bound(ledger, &core.directory)?;
        }
        let findings = findings::stored_digest(ledger)?;
        Ok(RebuildCheck { core, findings })
    }

    /// Folds the committed events, which `events` hands over in seq order from seq 1 to
    /// the head: the findings on this thread, each event's fact and the read models on a
    /// second one (about as long as the findings' fold). The first event that cannot be read or folded is the error, as a
    /// rebuild on one thread would meet it; otherwise the snapshots that differ from the
    /// rebuild at their seqs are named.
    pub fn run(
        self,
        ledger: &LedgerView,
        events: impl IntoIterator<Item = Vec<Decoded>>,
    ) -> Result<(), ReadSideError> {
        let RebuildCheck { core, findings } = self;
        let models_at = core
            .as_ref()
            .map(|core| (core.data.applied().map_or(0, |a| a.seq), core));
        let (findings_differ, models) = std::thread::scope(|scope| {
            let (sender, receiver) = sync_channel(REBUILD_HANDOFFS_IN_FLIGHT);
            let models = scope.spawn(move || fold_models(ledger, receiver, models_at));
            let findings = fold_findings_side(ledger, events, findings, &sender);
            drop(sender);
            let models = models
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (findings, models)
        });
        let (folded, models_differ) = models?;
        let head = ledger.head().size;
        if folded < head {
            return Err(ReadSideError::Ledger(LedgerError::Corrupt(format!(
                "the read models' rebuild ended at seq {folded}, before the head {head}"
            ))));
        }
        // In the order a single pass meets them: by seq, the read models first at a tie.
        let mut differ: Vec<(u64, u8, String)> = Vec::new();
        if let (Some(records), Some((at, _))) = (models_differ, models_at) {
            differ.push((at, 0, format!("read models ({})", named(&records))));
        }
        if let Some(at) = findings_differ {
            differ.push((at, 1, "findings".to_owned()));
        }
        differ.sort();
        match differ.is_empty() {
            true => Ok(()),
            false => Err(ReadSideError::Differs(
                differ
                    .into_iter()
                    .map(|(_, _, what)| what)
                    .collect::<Vec<_>>()
                    .join(" and "),
            )),
        }
    }
}

/// Events the findings have folded, handed to the read models' side as they were read:
/// the batch itself, not a copy of each event (moving 300-byte events one by one into a
/// new list was a tenth of the findings' thread in a `verify`, benches/README.md, "The
/// folds' CPU per event"). It ends at the first event that could not be read, or before
/// the first the findings could not fold, whose error is then `failed`.
struct FoldedBatch {
    events: Vec<Decoded>,
    failed: Option<ReadSideError>,
}

/// The check's first side: each event folded into the findings from genesis, the
/// findings' digest compared with `stored` at its seq, and the event handed on, up to and
/// including the first that fails. Returns the seq of the stored findings if they differ
/// from the rebuild's.
fn fold_findings_side(
    ledger: &LedgerView,
    events: impl IntoIterator<Item = Vec<Decoded>>,
    stored: Option<(u64, [u8; 32])>,
    sender: &SyncSender<FoldedBatch>,
) -> Option<u64> {
    let mut findings = FindingsSide::genesis(ledger);
    let mut payments = LogPayments::new(ledger);
    let mut numbers = HouseholdNumbers::new();
    let mut differ = None;
    let mut compare = |findings: &FindingsSide, at: u64| {
        if let Some((_, digest)) = stored.filter(|(seq, _)| *seq == at) {
            if findings.state_digest() != digest {
                differ = Some(at);
            }
        }
    };
    compare(&findings, 0);
    for mut batch in events {
        let mut failed = None;
        let mut end = batch.len();
        for (at, item) in batch.iter().enumerate() {
            let Ok((seq, hash, record, number)) = item else {
                end = at + 1;
                break;
            };
            let numbered = number.map(|number| (number, &mut numbers));
            if let Err(error) = fold_numbered(
                &mut findings,
                &mut payments,
                (*seq, *hash, record),
                numbered,
            ) {
                failed = Some(error);
                end = at;
                break;
            }
            compare(&findings, seq.get());
        }
        batch.truncate(end);
        let stops = failed.is_some() || matches!(batch.last(), Some(Err(_)));
        let handoff = FoldedBatch {
            events: batch,
            failed,
        };
        if sender.send(handoff).is_err() || stops {
            break;
        }
    }
    differ
}

/// The check's second side: each event mapped to its fact and the read models folded
/// from genesis, compared with the stored core at `stop` (its seq) by their records'
/// digests. Returns the events folded and the records that differ, if any, or the first
/// event that failed.
fn fold_models(
    ledger: &LedgerView,
    events: Receiver<FoldedBatch>,
    stop: Option<(u64, &CoreRecord)>,
) -> Result<(u64, Option<Vec<String>>), ReadSideError> {
    let mut models = ReadModels::new();
    let mut differ = None;
    let mut compare = |models: &ReadModels, at: u64| {
        if let Some((_, core)) = stop.filter(|(seq, _)| *seq == at) {
            let records = differing_records(models, core);
            if !records.is_empty() {
                differ = Some(records);
            }
        }
    };
    compare(&models, 0);
    let mut folded = 0;
    let mut recent = RecentDates::new(ledger);
    let mut folder = Folder::new(&mut models, Seq::FIRST.get());
    for FoldedBatch { mut events, failed } in events {
        // An event that could not be read ends its batch.
        let unreadable = (events.iter().position(Result::is_err))
            .and_then(|at| events.split_off(at).into_iter().next());
        for (seq, hash, record, number) in events.iter_mut().flatten() {
            folder.push_numbered(map_record(*seq, *hash, record, &mut recent), *number)?;
            folded = seq.get();
            if stop.is_some_and(|(at, _)| at == folded) {
                folder.finish()?;
                compare(&models, folded);
                folder = Folder::new(&mut models, folded + 1);
            }
        }
        if let Some(Err(error)) = unreadable {
            folder.push(Err(error.into()))?;
        }
        if let Some(error) = failed {
            folder.push(Err(error))?;
        }
    }
    folder.finish()?;
    Ok((folded, differ))
}

/// Every record the core names hashes to its digest there: a record changed, removed or
/// put back from an older snapshot is named ([`ReadSideError::Unbound`]), as on open.
fn check_bound(ledger: &LedgerView, directory: &Directory) -> Result<(), ReadSideError> {
    directory.shard(0)?;
    for (name, digest) in directory.records() {
        read_bound(ledger, &name, digest)?;
    }
    Ok(())
}

/// The records of `models` that differ from those `core` names (the core itself by its
/// data), by name: one record's encoding at a time is hashed, none is kept.
fn differing_records(models: &ReadModels, core: &CoreRecord) -> Vec<String> {
    // At the end of a `verify` nothing else runs beside this: the shards are encoded and
    // hashed on a second thread while this one derives the cube and encodes its records.
    let digests = |shards: Vec<Option<ShardData<'_>>>| {
        let digest = |shard: Option<ShardData<'_>>| part_digest(&shard.unwrap_or_default());
        shards.into_iter().map(digest).collect()
    };
    let (shards, (data, all_time, years)) = beside_shards(
        models,
        |_| true,
        digests,
        || {
            let ChangedParts {
                core: data,
                all_time,
                years,
                ..
            } = models.parts_where(|_| false);
            let years = (years.iter())
                .map(|(year, cube)| (*year, part_digest(cube)))
                .collect();
            (data, part_digest(&all_time), years)
        },
    );
    let rebuilt = Directory {
        shards,
        all_time,
        years,
    };
    let mut names = Vec::new();
    if data != core.data {
        names.push(META_READ_MODELS.to_owned());
    }
    let stored: BTreeMap<String, [u8; 32]> = core.directory.records().collect();
    let rebuilt: BTreeMap<String, [u8; 32]> = rebuilt.records().collect();
    let all: BTreeSet<&String> = stored.keys().chain(rebuilt.keys()).collect();
    names.extend(
        all.into_iter()
            .filter(|name| stored.get(*name) != rebuilt.get(*name))
            .cloned(),
    );
    names
}

/// The first [`DIFFERING_RECORDS_NAMED`] of `names`, and how many more there are.
fn named(names: &[String]) -> String {
    let shown = names
        .iter()
        .take(DIFFERING_RECORDS_NAMED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    match names.len().saturating_sub(DIFFERING_RECORDS_NAMED) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Bytes of an encoding gathered before they are hashed: bincode writes field by field, a
/// few bytes at a time, and BLAKE3 hashes whole 1 KiB chunks (and several at once) fastest.
pub(crate) const DIGEST_BUFFER_BYTES: usize = 64 * 1024;

/// The BLAKE3 of `value`'s bincode encoding, hashed as it is encoded (never held whole).
pub(crate) fn encoding_digest<T: Serialize>(value: &T) -> [u8; 32] {
    let mut writer = std::io::BufWriter::with_capacity(DIGEST_BUFFER_BYTES, blake3::Hasher::new());
    bincode::serialize_into(&mut writer, value)
        .expect("read-model records serialize with bincode: plain data, ordered maps");
    let hasher = writer
        .into_inner()
        .expect("writing to a BLAKE3 hasher cannot fail");
    *hasher.finalize().as_bytes()
}

/// The BLAKE3 of a record's encoding, as stored ([`part_bytes`]).
fn part_digest<T: Serialize>(part: &T) -> [u8; 32] {
    encoding_digest(part)
}

/// A household's events in seq order, with reversals linked: read through the household
/// trail index, checked against its sealed summary (trails grow with events, so they are
/// not kept as state).
pub fn household_trail(ledger: &LedgerView, id: &str) -> Result<Vec<TrailEntry>, ReadSideError> {
    trail_of(ledger, ledger.household_records(id)?)
}

/// As [`household_trail`], from a scan of the whole log through the view's head: what the
/// index must give, for the tests that compare the two.
pub fn household_trail_scanned(
    ledger: &LedgerView,
    id: &str,
) -> Result<Vec<TrailEntry>, ReadSideError> {
    trail_of(
        ledger,
        ledger.household_records_scanned(id, ledger.head().size)?,
    )
}

fn trail_of(
    ledger: &LedgerView,
    records: Vec<(Seq, EventHash, RecordV1)>,
) -> Result<Vec<TrailEntry>, ReadSideError> {
    let mut inputs = Vec::new();
    for (seq, _, mut record) in records {
        let memo = memo_of(&record);
        if let Some(fact) = fact_of(seq, &mut record, ledger)? {
            inputs.push((seq.get(), TrailInput { fact, memo }));
        }
    }
    Ok(trail(inputs))
}

/// Checks that the log has the snapshot's hash at its seq, and that seq is not beyond
/// the head.
fn check_applied(
    ledger: &LedgerView,
    applied: Option<fundtrail_projections::Applied>,
) -> Result<(), ReadSideError> {
    let Some(applied) = applied else {
        return Ok(());
    };
    let head = ledger.head().size;
    if applied.seq > head {
        return Err(ReadSideError::AheadOfLog {
            seq: applied.seq,
            head,
        });
    }
    let stored = ledger.stored(Seq::new(applied.seq))?.hash;
    if stored.into_bytes() != applied.hash {
        return Err(ReadSideError::HashMismatch {
            seq: applied.seq,
            expected: stored,
            found: EventHash::from_bytes(applied.hash),
        });
    }
    Ok(())
}

/// The snapshot's core; `None` when there is none, it is of an older version (replay
/// instead), or the state key is not at hand to authenticate it (recompute from the log,
/// which needs no key).
fn read_core(ledger: &LedgerView) -> Result<Option<CoreRecord>, ReadSideError> {
    let bytes = match ledger.meta(META_READ_MODELS) {
        Ok(Some(bytes)) => bytes,
        Ok(None) | Err(LedgerError::Key(_)) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    match bytes.split_first() {
        Some((&SNAPSHOT_VERSION, rest)) => bincode::deserialize(rest)
            .map(Some)
            .map_err(|e| ReadSideError::Snapshot(e.to_string())),
        Some((&version, _)) if version < SNAPSHOT_VERSION => Ok(None),
        Some((version, _)) => Err(ReadSideError::Snapshot(format!(
            "unknown snapshot version {version}, newer than this program's {SNAPSHOT_VERSION}"
        ))),
        None => Err(ReadSideError::Snapshot("empty snapshot".into())),
    }
}

/// The core, checked against the log (its hash at its seq, not beyond the head).
fn checked_core(ledger: &LedgerView) -> Result<Option<CoreRecord>, ReadSideError> {
    let Some(core) = read_core(ledger)? else {
        return Ok(None);
    };
    check_applied(ledger, core.data.applied())?;
    Ok(Some(core))
}

/// The core when it reflects exactly the view's head (checked against the log): then a
/// query reads its records and nothing else.
fn core_at_head(ledger: &LedgerView) -> Result<Option<CoreRecord>, ReadSideError> {
    let core = checked_core(ledger)?;
    let head = ledger.head().size;
    Ok(core.filter(|core| core.data.applied().map_or(0, |a| a.seq) == head))
}

/// The bytes of record `name`, checked against the digest the core names.
fn read_bound(ledger: &LedgerView, name: &str, digest: [u8; 32]) -> Result<Vec<u8>, ReadSideError> {
    match ledger.meta(name)? {
        Some(bytes) if *blake3::hash(&bytes).as_bytes() == digest => Ok(bytes),
        _ => Err(ReadSideError::Unbound {
            name: name.to_owned(),
        }),
    }
}

/// The stored core's directory, each record that does not read back bound to its digest
/// named with [`UNBOUND_DIGEST`] instead; `None` when no core can be read. A rebuild's save
/// then skips the records whose bytes are already on disk: after an import all of them,
/// 35 MB at 1,000,000 events, which sled held twice while it wrote them (the batch and
/// its write) at the rebuild's peak.
fn bound_directory(ledger: &LedgerView) -> Option<Directory> {
    let mut directory = read_core(ledger).ok().flatten()?.directory;
    let bound = |name: &str, digest: &mut [u8; 32]| {
        if read_bound(ledger, name, *digest).is_err() {
            *digest = UNBOUND_DIGEST;
        }
    };
    for (shard, digest) in (0u8..=u8::MAX).zip(directory.shards.iter_mut()) {
        bound(&shard_record(shard), digest);
    }
    bound(&cube_record(None), &mut directory.all_time);
    for (year, digest) in directory.years.iter_mut() {
        bound(&cube_record(Some(*year)), digest);
    }
    Some(directory)
}

/// Stands for a record that is missing or does not match its digest: no record's BLAKE3.
const UNBOUND_DIGEST: [u8; 32] = [0; 32];

/// Record `name`, checked against its digest and decoded.
fn read_part<T: serde::de::DeserializeOwned>(
    ledger: &LedgerView,
    name: &str,
    digest: [u8; 32],
) -> Result<T, ReadSideError> {
    let bytes = read_bound(ledger, name, digest)?;
    bincode::deserialize(&bytes).map_err(|e| ReadSideError::Snapshot(format!("{name}: {e}")))
}

/// The whole state from the core and every shard, with each shard's stored length. The
/// cube records are checked against their digests too (not decoded: the cube is derived
/// from the households), so an edit of any record is refused wherever the snapshot is
/// loaded, `verify` included.
fn load_models(
    ledger: &LedgerView,
    core: CoreRecord,
) -> Result<(ReadModels, Vec<u64>), ReadSideError> {
    let mut shards = Vec::with_capacity(HOUSEHOLD_SHARDS);
    let mut shard_bytes = Vec::with_capacity(HOUSEHOLD_SHARDS);
    for shard in 0..=u8::MAX {
        let name = shard_record(shard);
        let bytes = read_bound(ledger, &name, core.directory.shard(shard)?)?;
        shard_bytes.push(bytes.len() as u64);
        shards.push(
            bincode::deserialize::<ShardData<'static>>(&bytes)
                .map_err(|e| ReadSideError::Snapshot(format!("{name}: {e}")))?,
        );
    }
    for (name, digest) in core
        .directory
        .records()
        .filter(|(n, _)| n.starts_with(CUBE_ALL_TIME))
    {
        read_bound(ledger, &name, digest)?;
    }
    Ok((ReadModels::from_parts(core.data, shards)?, shard_bytes))
}

/// The models as records, the core last, with the directory that binds them; `saved` is
/// what is on disk. A record whose digest the saved directory names already needs no
/// rewrite and is dropped as soon as it is hashed; a shard `parts` leaves out is unchanged
/// since `saved` and keeps its digest there, unencoded. A server's snapshot after appends
/// to a few households then holds a few shards' bytes, not all of them (at 1,000,000
/// events the whole encoding is about 35 MB). The records and directory are those a whole
/// encode of the same models writes.
fn encode(parts: ChangedParts<'_>, seq: u64, saved: Option<&SavedRecords>) -> ModelsSnapshot {
    let (records, at) = encode_into(parts, seq, saved, Vec::new());
    ModelsSnapshot {
        records: ModelRecords::Held(records),
        at,
    }
}

/// [`encode`], its records put into `sink` one at a time as they are encoded, the core
/// last: a record's plain bytes are held only until the sink takes them.
fn encode_into<S: RecordSink>(
    parts: ChangedParts<'_>,
    seq: u64,
    saved: Option<&SavedRecords>,
    mut sink: S,
) -> (S, SavedModels) {
    let ChangedParts {
        core,
        shards,
        all_time,
        years,
    } = parts;
    let kept = Kept::new(saved.map(|saved| &saved.directory));
    let packer = sink.packer();
    let mut keep = |name, bytes| sink.put_ready(packer.pack(name, bytes));
    let shards = encode_shards(shards, saved, &kept, &mut keep);
    let cubes = encode_cubes(&all_time, &years, &kept, &mut keep);
    let (core_bytes, at) = encode_core(core, seq, shards, cubes);
    keep(META_READ_MODELS.to_owned(), core_bytes);
    (sink, at)
}

/// [`encode_into`] of `models`' parts with the household shards `wanted` (the others
/// unchanged since `saved`), on two threads: the shards are encoded, hashed and made
/// ready for `sink` on a second thread while this one derives the cube and encodes its
/// records. The same records in the same order, and the same directory, as
/// [`encode_into`] of [`ReadModels::parts_where`]; the records ready are held until both
/// threads are done, as a packing sink holds them anyway.
fn encode_beside<S: RecordSink>(
    models: &ReadModels,
    wanted: impl Fn(u8) -> bool + Send,
    seq: u64,
    saved: Option<&SavedRecords>,
    mut sink: S,
) -> (S, SavedModels) {
    let kept = Kept::new(saved.map(|saved| &saved.directory));
    let packer = sink.packer();
    let encoded = |shards: Vec<Option<ShardData<'_>>>| {
        let mut records = Vec::new();
        let keep = &mut |name, bytes| records.push(packer.pack(name, bytes));
        let digests = encode_shards(shards, saved, &kept, keep);
        (records, digests)
    };
    let ((shard_records, shards), (core, cube_records, cubes)) =
        beside_shards(models, wanted, encoded, || {
            let ChangedParts {
                core,
                all_time,
                years,
                ..
            } = models.parts_where(|_| false);
            let mut records = Vec::new();
            let keep = &mut |name, bytes| records.push(packer.pack(name, bytes));
            let cubes = encode_cubes(&all_time, &years, &kept, keep);
            (core, records, cubes)
        });
    for record in shard_records.into_iter().chain(cube_records) {
        sink.put_ready(record);
    }
    let (core_bytes, at) = encode_core(core, seq, shards, cubes);
    sink.put_ready(packer.pack(META_READ_MODELS.to_owned(), core_bytes));
    (sink, at)
}

/// `on_shards` of `models`' household shards `wanted` says yes to (`None` for the
/// others) on a second thread, beside `rest` on this one, which may derive the cube: the
/// two halves of a snapshot's encoding that take longest, and need nothing of each other.
fn beside_shards<'m, A: Send, B>(
    models: &'m ReadModels,
    wanted: impl Fn(u8) -> bool + Send,
    on_shards: impl FnOnce(Vec<Option<ShardData<'m>>>) -> A + Send,
    rest: impl FnOnce() -> B,
) -> (A, B) {
    std::thread::scope(|scope| {
        let shards = scope.spawn(move || on_shards(models.shard_parts_where(wanted)));
        let rest = rest();
        let shards = (shards.join()).unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (shards, rest)
    })
}

/// The household shards' digests and lengths, by shard number.
struct ShardDigests {
    digests: Vec<[u8; 32]>,
    lens: Vec<u64>,
}

/// Encodes each shard `shards` holds, handing the records not stored already to `keep`;
/// a shard left out keeps its digest and length in `saved`.
fn encode_shards(
    shards: Vec<Option<ShardData<'_>>>,
    saved: Option<&SavedRecords>,
    kept: &Kept,
    keep: &mut impl FnMut(String, Vec<u8>),
) -> ShardDigests {
    let mut digests = Vec::with_capacity(HOUSEHOLD_SHARDS);
    let mut lens = Vec::with_capacity(HOUSEHOLD_SHARDS);
    for (shard, data) in (0..=u8::MAX).zip(shards) {
        let (digest, len) = match data {
            Some(data) => kept.put(shard_record(shard), part_bytes(&data), keep),
            None => unchanged_shard(saved, shard),
        };
        digests.push(digest);
        lens.push(len);
    }
    ShardDigests { digests, lens }
}

/// The cube records' digests and their bytes in all.
struct CubeDigests {
    all_time: [u8; 32],
    years: BTreeMap<i32, [u8; 32]>,
    bytes: u64,
}

/// Encodes the cube records, handing those not stored already to `keep`.
fn encode_cubes(
    all_time: &CubeData,
    years: &BTreeMap<i32, CubeData>,
    kept: &Kept,
    keep: &mut impl FnMut(String, Vec<u8>),
) -> CubeDigests {
    let (all_time, mut bytes) = kept.put(cube_record(None), part_bytes(all_time), keep);
    let years = years
        .iter()
        .map(|(year, data)| {
            let (digest, len) = kept.put(cube_record(Some(*year)), part_bytes(data), keep);
            bytes = bytes.saturating_add(len);
            (*year, digest)
        })
        .collect();
    CubeDigests {
        all_time,
        years,
        bytes,
    }
}

/// The core's bytes, binding every record's digest, and what the records reflect once
/// written.
fn encode_core(
    core: CoreData,
    seq: u64,
    shards: ShardDigests,
    cubes: CubeDigests,
) -> (Vec<u8>, SavedModels) {
    let directory = Directory {
        shards: shards.digests,
        all_time: cubes.all_time,
        years: cubes.years,
    };
    let mut core_bytes = vec![SNAPSHOT_VERSION];
    let record = CoreRecord {
        data: core,
        directory,
    };
    bincode::serialize_into(&mut core_bytes, &record).expect("the core serializes with bincode");
    let total_bytes = shards
        .lens
        .iter()
        .fold(cubes.bytes, |sum, len| sum.saturating_add(*len))
        .saturating_add(core_bytes.len() as u64);
    let at = SavedModels {
        seq,
        directory: record.directory,
        total_bytes,
        shard_bytes: shards.lens,
    };
    (core_bytes, at)
}

/// The records an encoding keeps to write: those the saved directory does not name with
/// the same digest.
struct Kept {
    before: BTreeMap<String, [u8; 32]>,
}

impl Kept {
    fn new(saved: Option<&Directory>) -> Kept {
        Kept {
            before: saved.map_or_else(BTreeMap::new, |saved| saved.records().collect()),
        }
    }

    /// Hands record `name` to `keep` if its bytes are not on disk already; returns its
    /// digest and length.
    fn put(
        &self,
        name: String,
        bytes: Vec<u8>,
        keep: &mut impl FnMut(String, Vec<u8>),
    ) -> ([u8; 32], u64) {
        let digest = *blake3::hash(&bytes).as_bytes();
        let len = bytes.len() as u64;
        if self.before.get(&name) != Some(&digest) {
            keep(name, bytes);
        }
        (digest, len)
    }
}

/// The digest and length of a shard left out of an encoding as unchanged since `saved`.
fn unchanged_shard(saved: Option<&SavedRecords>, shard: u8) -> ([u8; 32], u64) {
    let index = usize::from(shard);
    saved
        .and_then(|saved| {
            let digest = saved.directory.shards.get(index)?;
            let len = saved.shard_bytes.as_ref()?.get(index)?;
            Some((*digest, *len))
        })
        .expect("a shard is left out only when the saved records know it (`changed_parts`)")
}

/// The records a snapshot of `models` consists of, as they are stored before sealing:
/// the shards, the cube records, then the core ([`META_READ_MODELS`]).
pub fn snapshot_records(models: &ReadModels) -> Vec<(String, Vec<u8>)> {
    let seq = models.applied().map_or(0, |a| a.seq);
    encode_into(models.parts_where(|_| true), seq, None, Vec::new()).0
}

/// Every stored record of the snapshot, as [`snapshot_records`] lists them (unsealed);
/// none without a core. Put back with [`Ledger::put_metas`], they restore the snapshot.
pub fn stored_records(ledger: &LedgerView) -> Result<Vec<(String, Vec<u8>)>, ReadSideError> {
    let Some(core) = ledger.meta(META_READ_MODELS)? else {
        return Ok(Vec::new());
    };
    let mut records = Vec::new();
    if let Some(decoded) = read_core(ledger)? {
        for (name, _) in decoded.directory.records() {
            if let Some(bytes) = ledger.meta(&name)? {
                records.push((name, bytes));
            }
        }
    }
    records.push((META_READ_MODELS.to_owned(), core));
    Ok(records)
}

fn part_bytes<T: Serialize>(part: &T) -> Vec<u8> {
    bincode::serialize(part).expect("read-model records serialize with bincode")
}

/// `household`'s enrollment and balances, reading only the core and its shard, caught up
/// in memory with its own events when the snapshot is behind the head (the whole state,
/// as [`ReadSide::open`], only when there is no snapshot of this version to trust);
/// `None` if it was never enrolled.
pub fn read_household(
    ledger: &LedgerView,
    household: &str,
) -> Result<Option<HouseholdBalance>, ReadSideError> {
    if let Some(core) = checked_core(ledger)? {
        let shard = household_shard(household);
        let digest = core.directory.shard(shard)?;
        let data: ShardData<'static> = read_part(ledger, &shard_record(shard), digest)?;
        if core.data.applied().map_or(0, |a| a.seq) == ledger.head().size {
            return Ok(core.data.household(&data, household));
        }
        return household_caught_up(ledger, &core.data, &data, household);
    }
    let side = ReadSide::open_with(ledger, FindingsFold::Off)?;
    Ok(side.models().household(household))
}

/// `household`'s balances from its shard of a snapshot behind the head, caught up in
/// memory with the household's own events after it, read through the trail index: every
/// event that changes a household's balances or receivables names it, so no other event
/// is read. Nothing is written.
fn household_caught_up(
    ledger: &LedgerView,
    core: &CoreData,
    shard: &ShardData<'_>,
    household: &str,
) -> Result<Option<HouseholdBalance>, ReadSideError> {
    let mut models = core.household_models(shard, household);
    for (seq, hash, mut record) in ledger.household_records(household)? {
        let next = models.next_seq()?;
        if seq.get() < next {
            continue;
        }
        // Other households' events change nothing of this answer: the models pass them.
        for other in next..seq.get() {
            models.skip(other, [0; 32])?;
        }
        match fact_of(seq, &mut record, ledger)? {
            Some(fact) => models.apply(seq.get(), hash.into_bytes(), &fact)?,
            None => models.skip(seq.get(), hash.into_bytes())?,
        }
    }
    Ok(models.household(household))
}

/// District totals, reading only the cube records the query's shape lives in when the
/// snapshot is at the head (else from the whole state, as [`read_household`]).
pub fn read_totals(
    ledger: &LedgerView,
    query: &TotalsQuery,
) -> Result<Vec<TotalsRow>, ReadSideError> {
    if let Some(core) = core_at_head(ledger)? {
        let mut cubes = Vec::new();
        for (name, digest) in core.directory.cubes_for(query) {
            cubes.push(read_part::<CubeData>(ledger, &name, digest)?);
        }
        return Ok(core.data.totals(query, cubes.iter()));
    }
    Ok(ReadSide::open_with(ledger, FindingsFold::Off)?.totals(query))
}

/// Fund balances, from the core alone when the snapshot is at the head.
pub fn read_funds(ledger: &LedgerView) -> Result<Vec<FundRow>, ReadSideError> {
    if let Some(core) = core_at_head(ledger)? {
        return Ok(core.data.funds());
    }
    Ok(ReadSide::open_with(ledger, FindingsFold::Off)?
        .models()
        .funds())
}

impl TargetDates for crate::ledger::LedgerView {
    fn value_date(&self, seq: Seq) -> Result<i32, String> {
        payment_date(seq, &self.record(seq).map_err(|e| e.to_string())?)
    }

    fn recovery(&self, seq: Seq) -> Result<(i32, String), String> {
        recovery_of(seq, self.record(seq).map_err(|e| e.to_string())?)
    }
}

/// The value date of the payment at `seq`, which a reversal names.
fn payment_date(seq: Seq, record: &RecordV1) -> Result<i32, String> {
    match record.body.payment() {
        Some((_, p)) => Ok(p.value_date),
        None if matches!(record.body, Body::Reversal(_)) => {
            Err(format!("seq {seq} is a reversal, not a payment"))
        }
        None => Err(format!("seq {seq} is not a payment")),
    }
}

/// The value date and finding of the recovery at `seq`, which a reversal names.
fn recovery_of(seq: Seq, record: RecordV1) -> Result<(i32, String), String> {
    match record.body {
        Body::RecoveryReceived(r) => Ok((r.value_date, r.finding)),
        _ => Err(format!("seq {seq} is not a recovery")),
    }
}

/// Folds one event into the models.
fn fold(models: &mut ReadModels, (seq, hash, fact): &Mapped) -> Result<(), ReadSideError> {
    match fact {
        Some(prepared) => models.apply_prepared(seq.get(), hash.into_bytes(), prepared)?,
        None => models.skip(seq.get(), hash.into_bytes())?,
    }
    Ok(())
}

/// Folds events in order, each prepared one event ahead of being folded.
struct Folder<'s> {
    models: &'s mut ReadModels,
    /// The models' next seq: events before it were read for the findings only.
    from: u64,
    pending: Option<Mapped>,
    applied: u64,
    /// The models' household ids by the numbers the rules' replay gave them.
    numbers: HouseholdNumbers,
}

impl<'s> Folder<'s> {
    fn new(models: &'s mut ReadModels, from: u64) -> Folder<'s> {
        Folder {
            models,
            from,
            pending: None,
            applied: 0,
            numbers: HouseholdNumbers::new(),
        }
    }

    /// Prepares the next event and folds the one before it. An event that does not map
    /// is reported after the ones before it are folded.
    fn push(&mut self, event: Result<Unprepared, ReadSideError>) -> Result<(), ReadSideError> {
        self.push_numbered(event, None)
    }

    /// As [`Folder::push`], with the number the rules' replay gave the household the
    /// event pays, if it is a payment ([`ReadModels::prepare_numbered`]).
    fn push_numbered(
        &mut self,
        event: Result<Unprepared, ReadSideError>,
        number: Option<u32>,
    ) -> Result<(), ReadSideError> {
        let (seq, hash, fact) = match event {
            Ok(event) => event,
            Err(error) => {
                if let Some(event) = self.pending.take() {
                    fold(self.models, &event)?;
                }
                return Err(error);
            }
        };
        if seq.get() < self.from {
            return Ok(());
        }
        let numbered = number.map(|number| (number, &mut self.numbers));
        let next = (
            seq,
            hash,
            fact.map(|fact| self.models.prepare_numbered(fact, numbered)),
        );
        if let Some(event) = self.pending.replace(next) {
            fold(self.models, &event)?;
            self.applied += 1;
        }
        Ok(())
    }

    /// Folds the last event; returns how many were folded.
    fn finish(mut self) -> Result<u64, ReadSideError> {
        if let Some(event) = self.pending.take() {
            fold(self.models, &event)?;
            self.applied += 1;
        }
        Ok(self.applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::AppendContext;
    use crate::model::rules::tests::enroll;

    /// Enrollments of households `from` through `to`, numbered.
    fn enrollments(from: u32, to: u32) -> Vec<crate::model::domain::Command> {
        (from..=to)
            .map(|n| enroll(&format!("PL-{n:04}"), "2014-03-01"))
            .collect()
    }

    /// A save whose durable write fails leaves no core without its shards (they are one
    /// batch): the ledger opened again reads a snapshot whole, the one saved before or the
    /// new one, and the side that failed still has its models due.
    #[test]
    fn a_failed_save_leaves_a_whole_snapshot_and_its_models_due() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ctx = AppendContext::now("test");
        let mut ledger = Ledger::init(dir.path()).expect("init");
        ledger.append(enrollments(1, 40), &ctx).expect("append");
        let mut side = ReadSide::open(ledger.view()).expect("open");
        assert!(side.save(&ledger, true).expect("the first save"));
        let before = stored_records(ledger.view()).expect("stored before");
        ledger
            .append(enrollments(41, 80), &ctx)
            .expect("append more");
        side.catch_up(ledger.view()).expect("catch up");
        let after = snapshot_records(side.models());
        ledger.view.store.fail_syncs();
        let failed = side.save(&ledger, true);
        assert!(
            matches!(failed, Err(ReadSideError::Ledger(_))),
            "{failed:?}"
        );
        let due = side.snapshot(true).expect("the models are still due");
        let records = due.models_records().expect("the models' records");
        assert!(records
            .iter()
            .any(|(name, _)| name.contains(".households.")));
        drop(ledger);

        let ledger = Ledger::open(dir.path()).expect("open again");
        let stored = stored_records(ledger.view()).expect("stored after");
        assert!(
            stored == before || stored == after,
            "a mix of two snapshots"
        );
        let reopened = ReadSide::open(ledger.view()).expect("the snapshot reads back");
        let rebuilt = ReadSide::rebuild(ledger.view()).expect("rebuild");
        assert_eq!(reopened.compare(&rebuilt), Ok(()));
    }

    /// The snapshot encoded on two threads ([`encode_beside`], what a save writes) is the
    /// one-thread encoding byte for byte: every record, in order, and the directory, for
    /// every shard and for the shards changed since a saved snapshot.
    #[test]
    fn the_two_thread_encoding_is_the_one_thread_encoding() {
        use crate::model::rules::tests::{allocate, pay};
        let dir = tempfile::tempdir().expect("a temp dir");
        let ctx = AppendContext::now("test");
        let mut ledger = Ledger::init(dir.path()).expect("init");
        let mut commands = enrollments(1, 300);
        commands.push(allocate("1000.00", "A-1"));
        ledger.append(commands, &ctx).expect("append");
        let mut side = ReadSide::open(ledger.view()).expect("open");
        let both = |side: &ReadSide| {
            let seq = side.models.applied().map_or(0, |a| a.seq);
            let saved = side.saved_records.as_ref();
            let one = encode_into(side.changed_parts(), seq, saved, Vec::new());
            let two = encode_beside(&side.models, side.changed_shards(), seq, saved, Vec::new());
            assert_eq!(one, two);
            one.0.len()
        };
        let whole = both(&side);
        assert_eq!(
            whole,
            HOUSEHOLD_SHARDS + 2,
            "every shard, the all-time cube, the core"
        );
        assert!(side.save(&ledger, true).expect("saved"));
        let payments = (1..=3).map(|n| pay(&format!("PL-{n:04}"), "12.50", &format!("R-{n}")));
        ledger.append(payments.collect(), &ctx).expect("pay");
        side.catch_up(ledger.view()).expect("catch up");
        let changed = both(&side);
        assert!(
            changed > 2 && changed < whole,
            "{changed} records of {whole}"
        );
    }

    /// The check of a rebuild stops at the first event the findings cannot fold (here one
    /// that skips a seq), with the findings' error, and at the first that cannot be read,
    /// with that error, in whichever batch it comes; the events before either are folded.
    #[test]
    fn a_rebuild_check_stops_at_the_first_event_that_does_not_fold_or_read() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ctx = AppendContext::now("test");
        let mut ledger = Ledger::init(dir.path()).expect("init");
        ledger.append(enrollments(1, 9), &ctx).expect("append");
        let mut events: Vec<Decoded> = Vec::new();
        ledger
            .view()
            .visit_records(Seq::FIRST, Seq::new(9), |item| {
                events.push(item.map(unnumbered));
                ControlFlow::Continue(())
            });
        assert_eq!(events.len(), 9);
        let check = |batches: Vec<Vec<Decoded>>| {
            let check = RebuildCheck::prepare(ledger.view()).expect("nothing stored to check");
            check.run(ledger.view(), batches)
        };
        let whole = || events.iter().map(|e| Ok(e.as_ref().expect("read").clone()));
        assert!(check(vec![whole().collect()]).is_ok());
        let gap = |n: usize| -> Vec<Decoded> {
            let kept = whole().enumerate().filter(|(i, _)| *i != n);
            kept.map(|(_, e)| e).collect()
        };
        for batches in [
            vec![gap(5)],
            vec![
                gap(5).into_iter().take(3).collect(),
                gap(5).into_iter().skip(3).collect(),
            ],
        ] {
            let failed = check(batches);
            assert!(
                matches!(
                    failed,
                    Err(ReadSideError::Findings(FindingsSideError::OutOfOrder {
                        applied: 5,
                        seq: 7
                    }))
                ),
                "{failed:?}"
            );
        }
        let unreadable = || Err(LedgerError::Corrupt("seq 4 does not decode".into()));
        let mut cut: Vec<Decoded> = whole().take(3).collect();
        cut.push(unreadable());
        cut.extend(whole().skip(4));
        let failed = check(vec![cut]);
        assert!(
            matches!(&failed, Err(ReadSideError::Ledger(LedgerError::Corrupt(m))) if m.contains("seq 4")),
            "{failed:?}"
        );
        let failed = check(vec![
            whole().take(3).collect(),
            vec![unreadable()],
            whole().skip(4).collect(),
        ]);
        assert!(
            matches!(&failed, Err(ReadSideError::Ledger(LedgerError::Corrupt(_)))),
            "{failed:?}"
        );
    }

    #[test]
    fn a_few_differing_records_are_all_named() {
        let names = vec![shard_record(0x0a), cube_record(Some(2019))];
        assert_eq!(
            named(&names),
            "read_models.households.0a, read_models.totals.2019"
        );
    }

    #[test]
    fn many_differing_records_are_cut_with_a_count_of_the_rest() {
        let names: Vec<String> = (0..=u8::MAX).map(shard_record).collect();
        let text = named(&names);
        assert!(text.starts_with("read_models.households.00, "), "{text}");
        assert!(
            text.contains("read_models.households.07 and 248 more"),
            "{text}"
        );
        assert!(!text.contains("read_models.households.08"), "{text}");
    }
}
