//! The only module that names sled. It knows keys and bytes, not events.
//!
//! Everything lives in sled's default tree under one-byte key prefixes, so that one
//! `apply_batch` is atomic across the log, its indexes and the head (ARCHITECTURE.md,
//! "Store keys"). Events are stored in blocks of up to [`EVENT_BLOCK_EVENTS`] (see
//! [`block`]), each beside a block of their references; the reference index is a filter
//! of those blocks, read into memory on the first lookup, in front of a sealed read of the
//! event it names ([`references`]). A write is acknowledged only after `flush`
//! and an `fdatasync` of sled's data file: sled 0.34's `flush` issues `sync_file_range`,
//! which does not make the data durable on Linux. sled 0.34 hangs or loses a batch's
//! atomicity when the disk fills mid-write, so writes check free space first and are
//! ordered so that a failed one is invisible (see [`space`]).

pub mod block;
mod large;
pub mod read_only;
mod references;
pub mod space;
pub mod tiles;
pub mod trail;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::ops::{ControlFlow, RangeInclusive};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use crate::keys::seal::{Seal, StateKey, SEAL_LEN};
use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::peek_reference;
use crate::model::fingerprints::Prefetch;
use crate::model::keyed::RefDigest;
pub use block::EVENT_BLOCK_EVENTS;
use block::{
    decode_stored, encode_stored, event_entries, push_event_with, push_reference,
    reference_entries, MAX_STORED_BLOCK_BYTES,
};

/// sled's page cache. The default (1 GiB) would dominate the import's memory budget (512 MiB
/// for a 1,000,000-row file): at 64 MiB that import peaked at 506 MiB, at 32 MiB well below,
/// with no measurable change in import speed; proofs read O(log n) keys and stay fast. Once
/// scans let sled evict ([`LRU_TOUCHES_PER_SCANNED_KEY`]), 16 MiB against 32 took `verify`
/// at 1M from 127 to 114 MiB and `serve` under load 7 MiB lower, at the same speeds.
pub const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// sled's page cache for a store opened to append a file of rows (`import`): the pages an
/// import writes are not read again, and sled keeps them up to its cache size. At 4 MiB
/// the 1,000,000-row import peaked 14 to 29 MiB lower than at [`CACHE_BYTES`], at the same
/// speed (benches/README.md); what it reads (a reversal's target, a row written long
/// before, a household's payments for the findings) is read from the file again.
pub const IMPORT_CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// How many times a bulk scan looks up again each key it reads, so that sled evicts.
///
/// sled 0.34 accounts an access to a page in its LRU only once the page's shard (256 of
/// them, by page id) has queued 64 accesses; until then nothing in that shard is evicted,
/// whatever `CACHE_BYTES` is. A range scan visits each leaf page once, and a log of a few
/// million events has a few thousand leaves, so no queue fills and every page a scan
/// reads stays resident: reading every event block held 82 MiB at 1,000,000 events and
/// 348 MiB at 4,000,000 (`examples/scan_floor.rs`). Each lookup of a scanned key accesses
/// its leaf (and the index nodes above it) once more; with four per key the same scans
/// held 36 and 53 MiB, for about 0.03 s more CPU per million events (benches/README.md).
pub const LRU_TOUCHES_PER_SCANNED_KEY: usize = 4;

const SLED_DIR: &str = "sled";
const SLED_DATA_FILE: &str = "db";
const LOCK_FILE: &str = "LOCK";

const EVENT: u8 = b'e';
const REFERENCE: u8 = b'r';
const HOUSEHOLD: u8 = b'h';
/// The people index: `q‖seq` (big-endian) for every person, life and erasure event.
const PEOPLE: u8 = b'q';
const NODE: u8 = b'n';
/// A leaf tile as layout 6 stored it (64 leaf hashes): this layout recomputes leaf hashes
/// from the event blocks and stores none, so the key is only removed (by the upgrade) and
/// looked for (by `verify`).
const LEAF_TILE: u8 = b'l';
const META: u8 = b'm';
const CHECKPOINT: u8 = b'c';
/// The one key of the pending marker (FORMAT.md §3.2): written with a write's entries,
/// removed with the record that commits them.
const PENDING: u8 = b'p';
/// The seal of an event block (FORMAT.md §3.2), beside the block under its first seq.
const BLOCK_SEAL: u8 = b'b';
/// The seal label of event blocks.
const BLOCK_SEAL_LABEL: &str = "event block";
/// A chunk of a meta record larger than [`META_CHUNK_BYTES`] as earlier versions stored
/// it: `s‖name‖0x00‖index` (u32 BE), the record's bytes in order (FORMAT.md §3). Read, and
/// removed by the record's next write.
const META_CHUNK: u8 = b's';
/// `z‖name`: a snapshot record (read models, findings) in a block's stored form (FORMAT.md
/// §3.3), Zstandard-compressed when that is shorter ([`StoreBatch::put_packed_meta`]). The
/// read-model shards are mostly zeros: at 1,000,000 events their 48.7 MB compressed to
/// 0.44 MB, and every snapshot wrote them whole. Records written before as `m‖name` are
/// read as they are and replaced by their next write.
const META_PACKED: u8 = b'z';
/// `f‖name`: the length and BLAKE3 of a meta record larger than [`META_CHUNK_BYTES`],
/// kept as a file in `<ledger>/records/` ([`large`], FORMAT.md §3).
const META_FILE: u8 = b'f';
/// The largest meta record stored as one value in sled; a larger one (the read-model and
/// findings snapshots of a large ledger) is kept as a file ([`large`]). sled 0.34 reads a
/// tree node whole, and a node holding a large value is read when the database is opened
/// and by every read of a key beside it: one 100 MB value cost every command that opens
/// the ledger 200 MB of memory (measured with sled alone). Earlier versions stored such
/// records in chunks of this size, which are still read.
pub const META_CHUNK_BYTES: usize = 256 * 1024;

#[cfg(test)]
pub(crate) use large::{record_file_names, with_record_files_on};
pub use large::{RecordFile, RecordReader, WrittenFile};
pub use tiles::{LEAF_TILE_LEAVES, STORED_MIN_LEVEL};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no ledger at {0} (create one with `fundtrail init`)")]
    Missing(PathBuf),
    #[error("a ledger already exists at {0}")]
    AlreadyExists(PathBuf),
    #[error("{0} is a file, not a ledger directory")]
    NotADirectory(PathBuf),
    #[error("ledger {path} is in use by process {}", pid.map_or("(unknown)".to_string(), |p| p.to_string()))]
    InUse { path: PathBuf, pid: Option<u32> },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Db(String),
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// Refused before anything was written: the write needs more free space.
    #[error("not enough free disk space for the ledger {}: this write needs {} free, the file system has {}; nothing was written and the ledger is unchanged; free some space and run the command again", path.display(), space::mib(*needed), space::mib(*available))]
    DiskFull {
        path: PathBuf,
        needed: u64,
        available: u64,
    },
    /// The disk filled while a write was under way (another process took the space).
    #[error("the disk holding the ledger {} filled up during a write ({} free now): the write did not complete; free some space, then run the command again: the ledger opens at its last committed head, with this write whole or not at all", path.display(), space::mib(*available))]
    DiskFilled { path: PathBuf, available: u64 },
    /// sled's flush did not return in time; the process should end (restart a server).
    #[error("writing to the ledger {} did not finish within {} s ({} free on its disk): the write did not complete; end this process and open the ledger again, which shows this write whole or not at all", path.display(), waited.as_secs(), available.map_or("unknown".to_string(), space::mib))]
    Stalled {
        path: PathBuf,
        waited: Duration,
        available: Option<u64>,
    },
    /// The reference index cannot name this seq: a write is refused before anything is
    /// written, and a ledger that holds one cannot build its index.
    #[error("the ledger cannot hold event {seq}: its reference index names events by 32-bit seqs, up to {max}", max = references::MAX_INDEXED_SEQ)]
    TooManyEvents { seq: u64 },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { .. } => StoreError::Corrupt(e.to_string()),
            other => StoreError::Db(other.to_string()),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Whether `open` may create a new ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    Create,
    Existing,
}

/// A stored event: its chain hash and its record bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub hash: EventHash,
    pub record: Vec<u8>,
}

/// Every reference's fingerprint with the seq of its event, as read from the reference
/// blocks.
type References = references::ReferenceIndex;

/// A digest of every reference block through a seq, in seq order (FORMAT.md §3.2): a
/// hash chain over the blocks, which are written once and never rewritten, so a batch
/// extends it with the blocks it writes. The ledger seals it with the head, so a
/// reference block that is added, removed, renamed or moved is found when the index is
/// read, before any lookup relies on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReferencesDigest([u8; 32]);

/// Domain separation of the reference-block hash chain.
const REFERENCES_DIGEST_TAG: &[u8] = b"fundtrail references v1";

impl ReferencesDigest {
    /// The digest after one more block, whose first event is `first`.
    fn extend(&self, first: Seq, block: &[u8]) -> ReferencesDigest {
        let mut hasher = blake3::Hasher::new();
        hasher.update(REFERENCES_DIGEST_TAG);
        hasher.update(&self.0);
        hasher.update(&first.get().to_be_bytes());
        hasher.update(&(block.len() as u64).to_be_bytes());
        hasher.update(block);
        ReferencesDigest(*hasher.finalize().as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// What the reference blocks through `upto` must digest to: set by the ledger from its
/// sealed state, and moved by each batch that moves the head.
#[derive(Debug, Clone, Copy)]
struct ReferencesExpected {
    upto: Seq,
    digest: ReferencesDigest,
}

/// The open database and the lock that makes this process its only user.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    data_file: File,
    /// The reference index, read on the first lookup and kept current by `write`.
    references: RwLock<Option<References>>,
    /// What the reference blocks digest to, when the ledger has said (it always does
    /// before its first lookup).
    references_expected: RwLock<Option<ReferencesExpected>>,
    /// The file systems sled writes to, checked before every write.
    space: space::Space,
    /// Whether a write failed, and whether sled itself did ([`Health`]).
    health: AtomicU8,
    /// The thread that runs sled's flush for every commit, watched.
    flusher: space::Flusher,
    /// The key that event blocks are sealed with, once the ledger has it: every read for
    /// the write path and the read models checks a block's seal, so a record changed
    /// without the key (and perhaps changed back later) is never used.
    block_key: std::sync::OnceLock<StateKey>,
    /// Whether block values are read as layouts 3 and 4 stored them (the block's bytes,
    /// without a form byte): only while `fundtrail upgrade` reads an older ledger.
    legacy_blocks: std::sync::atomic::AtomicBool,
    /// The last event block whose seal held (its bytes, decompressed), by its first seq: a
    /// read of an event beside the last one read (opening a ledger reads every enrollment,
    /// and they lie side by side) neither looks the block up, decompresses nor hashes it
    /// again. Emptied by every write and by a change of how blocks are read.
    sealed_block: std::sync::Mutex<Option<(Seq, Arc<BlockBytes>)>>,
    /// Whether the process ends right after this store is dropped ([`Store::ending_process`]).
    ending_process: AtomicBool,
    /// Makes every `sync` fail, for the tests of what a failed commit leaves.
    #[cfg(test)]
    fail_syncs: std::sync::atomic::AtomicBool,
    _lock: File,
}

impl Store {
    pub fn open(dir: &Path, mode: OpenMode) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, mode, CACHE_BYTES)
    }

    /// As [`Store::open`], with sled's page cache at `cache_bytes` ([`IMPORT_CACHE_BYTES`]
    /// for an import).
    pub fn open_with_cache(
        dir: &Path,
        mode: OpenMode,
        cache_bytes: u64,
    ) -> Result<Store, StoreError> {
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::NotADirectory(dir.to_owned()));
        }
        let sled_dir = dir.join(SLED_DIR);
        match (mode, sled_dir.exists()) {
            (OpenMode::Existing, false) => return Err(StoreError::Missing(dir.to_owned())),
            (OpenMode::Create, true) => return Err(StoreError::AlreadyExists(dir.to_owned())),
            _ => {}
        }
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock = take_lock(dir)?;
        space::remove_unfinished_snapshots(&sled_dir)?;
        let space = space::Space::new(&sled_dir);
        let config = sled_config(&sled_dir).cache_capacity(cache_bytes);
        // Opening writes too (sled's recovery writes a snapshot): on a full disk it fails.
        let db = open_sled(&config).map_err(|e| match e {
            sled::Error::Io(io) if space::is_full(&io) => StoreError::DiskFull {
                path: dir.to_owned(),
                needed: space::FLOOR_BYTES,
                available: space.available_or_zero(),
            },
            other => other.into(),
        })?;
        let data_path = sled_dir.join(SLED_DATA_FILE);
        let data_file = File::open(&data_path).map_err(io_err(&data_path))?;
        let flusher = space::Flusher::start(db.clone()).map_err(io_err(dir))?;
        if mode == OpenMode::Create {
            sync_dir(dir)?;
        }
        let store = Store {
            dir: dir.to_owned(),
            db,
            data_file,
            references: RwLock::new(None),
            references_expected: RwLock::new(None),
            flusher,
            space,
            health: AtomicU8::new(Health::Sound as u8),
            block_key: std::sync::OnceLock::new(),
            legacy_blocks: std::sync::atomic::AtomicBool::new(false),
            ending_process: AtomicBool::new(false),
            sealed_block: std::sync::Mutex::new(None),
            #[cfg(test)]
            fail_syncs: std::sync::atomic::AtomicBool::new(false),
            _lock: lock,
        };
        // Files of records no key names: older versions, and those of a write that ended
        // before its batch was applied.
        large::remove_unnamed(dir, &store.live_files()?);
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// From now on, event blocks are read only when their seal under `key` holds.
    pub fn seal_blocks_with(&self, key: StateKey) {
        let _ = self.block_key.set(key);
    }

    /// Reads block values as layouts 3 and 4 stored them (no form byte, never compressed),
    /// or, with `false`, as this layout does: for `fundtrail upgrade` only.
    pub fn read_legacy_blocks(&self, legacy: bool) {
        self.legacy_blocks.store(legacy, Ordering::SeqCst);
        self.keep_sealed(None);
    }

    /// The bytes of the event or reference block (`kind`) at `first` from its stored value.
    fn block_bytes(
        &self,
        kind: BlockKind,
        first: Seq,
        value: sled::IVec,
    ) -> Result<BlockBytes, StoreError> {
        if self.legacy_blocks.load(Ordering::Relaxed) {
            return Ok(BlockBytes::Legacy(value));
        }
        let decompressed = match decode_stored(&value) {
            Ok(Cow::Borrowed(_)) => None,
            Ok(Cow::Owned(bytes)) => Some(bytes),
            Err(reason) => {
                return Err(StoreError::Corrupt(format!(
                    "the {} block at seq {first}: {reason}",
                    kind.name()
                )))
            }
        };
        Ok(match decompressed {
            Some(bytes) => BlockBytes::Decompressed(bytes),
            None => BlockBytes::Plain(value),
        })
    }

    /// Checks the seal of the event block at `first`, when blocks are sealed.
    fn authenticate(&self, first: Seq, block: &[u8]) -> Result<(), StoreError> {
        let Some(key) = self.block_key.get() else {
            return Ok(());
        };
        let stored = self
            .db
            .get(seq_key(BLOCK_SEAL, first))
            .map_err(|e| self.write_error(e))?;
        let holds = stored.is_some_and(|seal| {
            <[u8; SEAL_LEN]>::try_from(seal.as_ref())
                .is_ok_and(|seal| Seal::from_bytes(seal) == block_seal(key, first, block))
        });
        if holds {
            return Ok(());
        }
        Err(StoreError::Corrupt(format!(
            "the event block at seq {first} does not match its seal: it was changed without \
             the ledger's key (run `fundtrail verify`)"
        )))
    }

    fn last_sealed(&self) -> Option<(Seq, Arc<BlockBytes>)> {
        // A poisoned lock only means a reader panicked; the block it holds is still one
        // whose seal held, or none.
        match self.sealed_block.lock() {
            Ok(last) => last.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn keep_sealed(&self, block: Option<(Seq, Arc<BlockBytes>)>) {
        match self.sealed_block.lock() {
            Ok(mut last) => *last = block,
            Err(poisoned) => *poisoned.into_inner() = block,
        }
    }

    /// The event at `seq` from the last block whose seal held, if that block holds it.
    fn sealed_event(&self, seq: Seq) -> Option<Result<StoredEvent, StoreError>> {
        self.block_key.get()?;
        let (first, value) = self.last_sealed()?;
        let index = usize::try_from(seq.get().checked_sub(first.get())?).ok()?;
        let (_, entry) = event_entries(&value)
            .enumerate()
            .find(|(i, entry)| *i == index || entry.is_err())?;
        Some(entry_of(first, entry))
    }

    /// Says that the process ends once this store is dropped (a command-line query): the
    /// drop then flushes, watched, as always, and leaves the rest of sled's shutdown to the
    /// process's end. Never for a store that is opened again in the same process: sled's
    /// lock on its file is held until the process ends.
    pub fn ending_process(&self) {
        self.ending_process.store(true, Ordering::SeqCst);
    }

    /// Closes the database and returns once its locks are free for the next opener. sled
    /// 0.34 keeps its data file open (with its lock) in tasks of its background thread pool
    /// (a log buffer's write, a segment's truncation), each holding its own handle on the
    /// file; they finish a moment after the last `Db` is dropped.
    pub fn close(self) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        drop(self);
        Store::wait_released(&dir)
    }

    /// Opens the sled tree of the closed ledger in `dir` and closes it again, so that the
    /// next opener starts at once. sled 0.34 writes its recovery snapshot (where each page
    /// lies in its log) only when it opens, after replaying all that was written since the
    /// last one: after a 1,000,000-event import the first query's process spent 0.15 to
    /// 0.27 s in that replay, where the next took 0.04 s (benches/README.md). A large
    /// write pays for it here instead. Nothing of the ledger changes; on a full disk the
    /// snapshot is not written (sled writes it to a temporary file first), and the next
    /// opener replays as before.
    pub fn settle(dir: &Path) -> Result<(), StoreError> {
        let _lock = take_lock(dir)?;
        let sled_dir = dir.join(SLED_DIR);
        space::remove_unfinished_snapshots(&sled_dir)?;
        drop(open_sled(&sled_config(&sled_dir))?);
        Ok(())
    }

    /// Waits until no handle, in this process or a child that inherited one, holds the
    /// locks of the ledger in `dir`: polls for sled's lock on its data file, then `LOCK`.
    pub fn wait_released(dir: &Path) -> Result<(), StoreError> {
        let deadline = Instant::now() + CLOSE_WAIT;
        for path in [dir.join(SLED_DIR).join(SLED_DATA_FILE), dir.join(LOCK_FILE)] {
            let file = match File::open(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                opened => opened.map_err(io_err(&path))?,
            };
            loop {
                match file.try_lock() {
                    Ok(()) => break,
                    Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                        std::thread::sleep(SLED_LOCK_POLL)
                    }
                    Err(TryLockError::WouldBlock) => {
                        return Err(StoreError::InUse {
                            path: dir.to_owned(),
                            pid: None,
                        })
                    }
                    Err(TryLockError::Error(e)) => return Err(io_err(&path)(e)),
                }
            }
        }
        Ok(())
    }

    /// The stored event at `seq`, if a block holds it.
    pub fn event(&self, seq: Seq) -> Result<Option<StoredEvent>, StoreError> {
        if let Some(event) = self.sealed_event(seq) {
            return event.map(Some);
        }
        let Some((first, value)) = self.block_holding(seq)? else {
            return Ok(None);
        };
        let value = self.block_bytes(BlockKind::Event, first, value)?;
        self.authenticate(first, &value)?;
        let value = Arc::new(value);
        if self.block_key.get().is_some() {
            self.keep_sealed(Some((first, Arc::clone(&value))));
        }
        // Every entry before the wanted one is walked: damage there is reported, not
        // mistaken for a missing event.
        // An index beyond usize is beyond any block: the walk finds no entry at it.
        let index = usize::try_from(seq.get() - first.get()).unwrap_or(usize::MAX);
        let entry = event_entries(&value)
            .enumerate()
            .find(|(i, entry)| *i == index || entry.is_err());
        match entry {
            Some((_, entry)) => entry_of(first, entry).map(Some),
            None => Ok(None),
        }
    }

    /// Events in seq order within `range`, as stored (gaps included: the caller checks).
    /// A damaged block yields its readable entries, then the error.
    pub fn events(
        &self,
        range: RangeInclusive<Seq>,
    ) -> impl DoubleEndedIterator<Item = Result<(Seq, StoredEvent), StoreError>> + '_ {
        self.blocks(range.clone())
            .map(|block| {
                let (first, value) = block?;
                let value = self.block_bytes(BlockKind::Event, first, value)?;
                self.authenticate(first, &value)?;
                Ok((first, value))
            })
            .flat_map(|block| {
                let entries: Vec<_> = match block {
                    Ok((first, value)) => event_entries(&value)
                        .enumerate()
                        .map(|(i, entry)| {
                            let stored = entry_of(first, entry)?;
                            Ok((Seq::new(first.get() + i as u64), stored))
                        })
                        .collect(),
                    Err(e) => vec![Err(e)],
                };
                entries
            })
            .filter(move |item| item.as_ref().map_or(true, |(seq, _)| range.contains(seq)))
    }

    /// Visits the events in `range` in seq order without copying them: the hash and
    /// record bytes are borrowed from their block. Stops when `visit` breaks. A damaged
    /// block is visited up to the damage, then reported as `Corrupt`.
    pub fn scan_events(
        &self,
        range: RangeInclusive<Seq>,
        mut visit: impl FnMut(Seq, &EventHash, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.scan(range, false, Seals::Required, |seq, hash, record, _, _| {
            visit(seq, hash, record)
        })
    }

    /// As [`Store::scan_events`], without checking the blocks' seals: for `verify`, which
    /// trusts no seal and reports what the events themselves show.
    pub fn scan_events_unsealed(
        &self,
        range: RangeInclusive<Seq>,
        mut visit: impl FnMut(Seq, &EventHash, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.scan(range, false, Seals::Unchecked, |seq, hash, record, _, _| {
            visit(seq, hash, record)
        })
    }

    /// As [`Store::scan_events`], with each event's entry in the reference index: `None`
    /// when its reference block is missing, shorter than its event block, or unreadable.
    /// One more read per block, for `verify`, which judges the log by no seal: each event
    /// comes with its block's seal failure, if the seal does not hold, for the read models'
    /// rebuild that `verify` folds from the same scan (a query reads only through seals).
    pub fn scan_events_with_references(
        &self,
        range: RangeInclusive<Seq>,
        visit: impl FnMut(Seq, &EventHash, &[u8], Option<&str>, Option<&StoreError>) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.scan(range, true, Seals::Reported, visit)
    }

    fn scan(
        &self,
        range: RangeInclusive<Seq>,
        with_references: bool,
        seals: Seals,
        mut visit: impl FnMut(
            Seq,
            &EventHash,
            &[u8],
            Option<&str>,
            Option<&StoreError>,
        ) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        for block in self.blocks(range.clone()) {
            let (first, value) = block?;
            let value = self.block_bytes(BlockKind::Event, first, value)?;
            let seal = match seals {
                Seals::Required => {
                    self.authenticate(first, &value)?;
                    None
                }
                Seals::Reported => self.authenticate(first, &value).err(),
                Seals::Unchecked => None,
            };
            // An unreadable reference block lists nothing: each event is then reported as
            // missing from the index.
            let references = match with_references {
                true => self
                    .db
                    .get(reference_key(first))
                    .map_err(|e| self.write_error(e))?
                    .and_then(|v| self.block_bytes(BlockKind::Reference, first, v).ok()),
                false => None,
            };
            let mut listed = references
                .as_deref()
                .map(|refs| reference_entries(refs).map(Result::ok));
            for (i, entry) in event_entries(&value).enumerate() {
                let seq = Seq::new(first.get() + i as u64);
                let entry = entry.map_err(|fault| block_corrupt(first, fault))?;
                let reference = listed.as_mut().and_then(|refs| refs.next().flatten());
                if !range.contains(&seq) {
                    continue;
                }
                let hash = EventHash::from_bytes(*entry.hash);
                if visit(seq, &hash, entry.record, reference, seal.as_ref()).is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The chain hashes of the events in `range`, without copying their records: the
    /// Merkle leaves are hashes of these (a proof's leaf tile, at most 64). The blocks are
    /// found with one range scan from the window before the range (the block holding its
    /// start begins there), not a lookup and then a scan: the two walks of sled's tree
    /// were most of a proof's time.
    pub fn event_hashes(
        &self,
        range: RangeInclusive<Seq>,
    ) -> Result<Vec<(Seq, EventHash)>, StoreError> {
        let start = *range.start();
        let window = Seq::new(start.get().saturating_sub(EVENT_BLOCK_EVENTS as u64 - 1));
        let mut blocks: Vec<(Seq, sled::IVec)> = Vec::new();
        for item in self.db.range(event_key(window)..=event_key(*range.end())) {
            let (key, value) = item.map_err(|e| self.write_error(e))?;
            let first = seq_from_key(&key)?;
            if first <= start {
                blocks.clear();
            }
            blocks.push((first, value));
        }
        if blocks.first().is_some_and(|(first, _)| *first <= start) {
            return self.hashes_of(blocks, range);
        }
        // No block begins in the window: a block longer than any the ledger writes, or
        // none holds the start.
        let mut hashes = Vec::new();
        self.scan_events(range, |seq, hash, _| {
            hashes.push((seq, *hash));
            ControlFlow::Continue(())
        })?;
        Ok(hashes)
    }

    /// The hashes of the events of `range` in `blocks` (in seq order, each sealed).
    fn hashes_of(
        &self,
        blocks: Vec<(Seq, sled::IVec)>,
        range: RangeInclusive<Seq>,
    ) -> Result<Vec<(Seq, EventHash)>, StoreError> {
        let mut hashes = Vec::new();
        for (first, value) in blocks {
            let value = self.block_bytes(BlockKind::Event, first, value)?;
            self.authenticate(first, &value)?;
            for (i, entry) in event_entries(&value).enumerate() {
                let seq = Seq::new(first.get() + i as u64);
                let entry = entry.map_err(|fault| block_corrupt(first, fault))?;
                if seq > *range.end() {
                    break;
                }
                if range.contains(&seq) {
                    hashes.push((seq, EventHash::from_bytes(*entry.hash)));
                }
            }
        }
        Ok(hashes)
    }

    /// The first seqs of every event or reference block that starts at `from` or later,
    /// in order: what lies beyond a head.
    pub fn blocks_from(&self, from: Seq) -> Result<Vec<Seq>, StoreError> {
        let mut firsts = Vec::new();
        for prefix in [EVENT, REFERENCE] {
            let range = seq_key(prefix, from)..=seq_key(prefix, Seq::new(u64::MAX));
            for item in self.db.range(range) {
                firsts.push(seq_from_key(&item.map_err(|e| self.write_error(e))?.0)?);
            }
        }
        firsts.sort_unstable();
        firsts.dedup();
        Ok(firsts)
    }

    /// The event blocks that hold seqs of `range`, with their first seqs.
    fn blocks(
        &self,
        range: RangeInclusive<Seq>,
    ) -> impl DoubleEndedIterator<Item = Result<(Seq, sled::IVec), StoreError>> + '_ {
        // The block holding the range's start begins at or before it. If looking it up
        // fails, the scan starts at the range's start: the range scan meets the same error.
        let start = match self.block_holding(*range.start()) {
            Ok(Some((first, _))) => first,
            _ => *range.start(),
        };
        self.touching(self.db.range(event_key(start)..=event_key(*range.end())))
            .map(|item| {
                let (key, value) = item.map_err(|e| self.write_error(e))?;
                Ok((seq_from_key(&key)?, value))
            })
    }

    /// `scan` as a bulk scan: each key it yields is looked up again
    /// [`LRU_TOUCHES_PER_SCANNED_KEY`] times, so that sled's cache evicts what the scan
    /// has passed instead of keeping every page of it.
    fn touching(
        &self,
        scan: sled::Iter,
    ) -> impl DoubleEndedIterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + '_ {
        scan.inspect(move |item| {
            if let Ok((key, _)) = item {
                for _ in 0..LRU_TOUCHES_PER_SCANNED_KEY {
                    // Only the access counts; a failing lookup fails the scan's own reads.
                    let _ = self.db.contains_key(key);
                }
            }
        })
    }

    /// The block whose first seq is the largest at or below `seq`, which holds `seq` if
    /// any block does.
    fn block_holding(&self, seq: Seq) -> Result<Option<(Seq, sled::IVec)>, StoreError> {
        // A block holds at most EVENT_BLOCK_EVENTS events, so the one holding `seq` starts
        // in the window before it: a forward scan of that window finds it. sled 0.34's
        // `next_back` over a range from 0 walks far (it was 43% of a household query at
        // 1,000,000 events), so the range from 0 is only the fallback for a block longer
        // than any the ledger writes.
        let window = seq.get().saturating_sub(EVENT_BLOCK_EVENTS as u64 - 1);
        let mut last = None;
        for item in self.db.range(event_key(Seq::new(window))..=event_key(seq)) {
            last = Some(item.map_err(|e| self.write_error(e))?);
        }
        if let Some((key, value)) = last {
            return Ok(Some((seq_from_key(&key)?, value)));
        }
        match self
            .db
            .range(event_key(Seq::new(0))..=event_key(seq))
            .next_back()
        {
            Some(item) => {
                let (key, value) = item.map_err(|e| self.write_error(e))?;
                Ok(Some((seq_from_key(&key)?, value)))
            }
            None => Ok(None),
        }
    }

    /// The seq of the event recorded under `reference`: the reference index names the
    /// seqs whose fingerprint matches, and each one's event, read through its block's seal,
    /// says whether its reference is this text (a false match reads one event and goes
    /// on). Any read that fails, or an event the index names that the log lacks or whose
    /// record is unreadable, is an error: never "not found", which would let a repeated
    /// reference through.
    pub fn reference(&self, reference: &str) -> Result<Option<Seq>, StoreError> {
        self.reference_digested(reference, &RefDigest::of(reference))
    }

    /// [`Store::reference`] of a reference whose keyed digest the caller has made.
    pub fn reference_digested(
        &self,
        reference: &str,
        digest: &RefDigest,
    ) -> Result<Option<Seq>, StoreError> {
        let candidates = match self.references()?.as_ref() {
            Some(index) => index.candidates(references::Fingerprint::from(digest)),
            None => return Ok(None),
        };
        for seq in candidates {
            if self.records_reference(seq, reference)? {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }

    /// Starts loading what [`Store::reference_digested`] of `digest` will read of the
    /// reference index, if it is built (a hint: nothing is read or built for it).
    pub fn prefetch_reference(&self, digest: &RefDigest, stage: Prefetch) {
        let index = self.references.read().unwrap_or_else(|p| p.into_inner());
        if let Some(index) = index.as_ref() {
            index.prefetch(references::Fingerprint::from(digest), stage);
        }
    }

    /// Whether the record of the event at `seq`, which the index lists, is under
    /// `reference`.
    fn records_reference(&self, seq: Seq, reference: &str) -> Result<bool, StoreError> {
        let event = self.event(seq)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the reference index lists seq {seq}, which no event block holds (run \
                 `fundtrail verify`)"
            ))
        })?;
        match peek_reference(&event.record) {
            Some(text) => Ok(text == reference),
            None => Err(StoreError::Corrupt(format!(
                "the record of seq {seq}, which the reference index lists, has no readable \
                 reference field (run `fundtrail verify`)"
            ))),
        }
    }

    /// Every reference starting with `prefix`, in byte order, with its seq. Derived
    /// references share a prefix (FORMAT.md §1.2), so this lists, say, every rate. The
    /// index keeps fingerprints, not texts, so this reads the reference blocks (as the
    /// index's first use does, with the same check): only a release asks, once.
    pub fn references_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Seq)>, StoreError> {
        let mut found = Vec::new();
        self.visit_references(|reference, seq| {
            if reference.starts_with(prefix) {
                found.push((reference.to_string(), seq));
            }
        })?;
        found.sort();
        Ok(found)
    }

    /// The reference index, read from the reference blocks if this is the first use.
    fn references(&self) -> Result<RwLockReadGuard<'_, Option<References>>, StoreError> {
        {
            let loaded = self.references.read().unwrap_or_else(|p| p.into_inner());
            if loaded.is_some() {
                return Ok(loaded);
            }
        }
        {
            let mut slot = self.references.write().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(self.read_references()?);
            }
        }
        Ok(self.references.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Reads the reference index from the reference blocks ([`Store::visit_references`]).
    fn read_references(&self) -> Result<References, StoreError> {
        // One reference per event: the sealed head's size is what the index will hold.
        let expected = self
            .references_expected
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(0, |e| e.upto.get());
        let mut index = References::with_capacity(usize::try_from(expected).unwrap_or(0));
        let mut beyond = None;
        self.visit_references(|reference, seq| {
            if let Err(e) = index.push(references::Fingerprint::of(reference), seq) {
                beyond.get_or_insert(e);
            }
        })?;
        if let Some(references::SeqBeyondIndex(seq)) = beyond {
            return Err(StoreError::TooManyEvents { seq: seq.get() });
        }
        index.finish();
        Ok(index)
    }

    /// Visits every reference with its seq, from the reference blocks through the
    /// expected seq, checking them against the expected digest; blocks beyond it (an
    /// interrupted batch, or planted) are not read: `verify` reports them. On a mismatch
    /// the references already visited are to be dropped.
    fn visit_references(&self, mut visit: impl FnMut(&str, Seq)) -> Result<(), StoreError> {
        let expected = *self
            .references_expected
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let upto = expected.map_or(Seq::new(u64::MAX), |e| e.upto);
        let mut digest = ReferencesDigest::default();
        for item in self.touching(
            self.db
                .range(reference_key(Seq::new(0))..=reference_key(upto)),
        ) {
            let (key, value) = item.map_err(|e| self.write_error(e))?;
            let first = seq_from_key(&key)?;
            let value = self.block_bytes(BlockKind::Reference, first, value)?;
            digest = digest.extend(first, &value);
            for (i, reference) in reference_entries(&value).enumerate() {
                let reference = reference.map_err(|fault| {
                    StoreError::Corrupt(format!(
                        "reference block {first}, entry {}: {}",
                        fault.index, fault.reason
                    ))
                })?;
                visit(reference, Seq::new(first.get() + i as u64));
            }
        }
        match expected {
            Some(expected) if expected.digest != digest => Err(StoreError::Corrupt(format!(
                "the reference blocks through seq {upto} do not match the ledger's sealed \
                 digest of them: a reference entry was added, removed or changed (run \
                 `fundtrail verify` to find it)"
            ))),
            _ => Ok(()),
        }
    }

    /// Says what the reference blocks through `upto` digest to (from the ledger's sealed
    /// state); the index is read again, and checked, on next use.
    pub fn expect_references(&self, upto: Seq, digest: ReferencesDigest) {
        let mut refs = self.references.write().unwrap_or_else(|p| p.into_inner());
        *self
            .references_expected
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(ReferencesExpected { upto, digest });
        *refs = None;
    }

    pub fn household(&self, household: &str) -> Result<Option<Seq>, StoreError> {
        self.get_seq(&prefixed(HOUSEHOLD, household.as_bytes()))
    }

    /// Every household id with the seq of its enrollment event.
    pub fn households(&self) -> Result<Vec<(String, Seq)>, StoreError> {
        self.db
            .scan_prefix([HOUSEHOLD])
            .map(|item| {
                let (key, value) = item.map_err(|e| self.write_error(e))?;
                let id = String::from_utf8(key[1..].to_vec())
                    .map_err(|_| StoreError::Corrupt("household key is not UTF-8".into()))?;
                Ok((id, seq_from_value(&value)?))
            })
            .collect()
    }

    /// The seqs the household trail index lists for `household`, in order, as stored.
    pub fn trail_seqs(&self, household: &str) -> Result<Vec<Seq>, StoreError> {
        let mut seqs = Vec::new();
        for item in self.db.scan_prefix(trail::trail_prefix(household)) {
            let (key, value) = item.map_err(|e| self.write_error(e))?;
            let (_, first) = trail::parse_trail_key(&key).map_err(trail_corrupt)?;
            let listed = trail::decode_seqs(first, &value)
                .map_err(|reason| trail_corrupt(format!("household {household}: {reason}")))?;
            seqs.extend(listed.into_iter().map(Seq::new));
        }
        Ok(seqs)
    }

    /// Every entry of the household trail index in key order (by household, then first
    /// seq), with the seqs it lists: for `verify` and for removing entries beyond the head.
    pub fn trail_entries(
        &self,
    ) -> impl Iterator<Item = Result<(String, Seq, Vec<Seq>), StoreError>> + '_ {
        self.touching(self.db.scan_prefix([trail::TRAIL_PREFIX]))
            .map(|item| {
                let (key, value) = item.map_err(|e| self.write_error(e))?;
                let (household, first) = trail::parse_trail_key(&key).map_err(trail_corrupt)?;
                let seqs = trail::decode_seqs(first, &value)
                    .map_err(|reason| trail_corrupt(format!("household {household}: {reason}")))?;
                Ok((
                    household.to_owned(),
                    Seq::new(first),
                    seqs.into_iter().map(Seq::new).collect(),
                ))
            })
    }

    /// The seqs of every people event, in order.
    pub fn people_events(&self) -> Result<Vec<Seq>, StoreError> {
        self.db
            .scan_prefix([PEOPLE])
            .map(|item| {
                let (key, _) = item.map_err(|e| self.write_error(e))?;
                seq_from_value(&key[1..])
            })
            .collect()
    }

    /// A meta record: the value of `m‖name`, or the file `f‖name` names ([`large`]), or
    /// its chunks concatenated when an earlier version stored it in chunks. A file that is
    /// missing or not the bytes its key names, and chunks that do not make the record
    /// their header describes (a torn write), read as no record: the large records are
    /// caches, recomputed when absent. An edit made to keep the digest is still refused by
    /// the record's seal, which the callers check.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.db.get(prefixed(META_PACKED, name.as_bytes()))? {
            return match decode_stored(&value) {
                Ok(record) => Ok(Some(record.into_owned())),
                Err(reason) => Err(StoreError::Corrupt(format!("meta record {name}: {reason}"))),
            };
        }
        if let Some(value) = self.db.get(prefixed(META, name.as_bytes()))? {
            return Ok(Some(value.to_vec()));
        }
        if let Some(value) = self.db.get(prefixed(META_FILE, name.as_bytes()))? {
            return match large::FileRef::decode(&value) {
                Some(file) => large::read(&self.dir, name, file),
                None => Ok(None),
            };
        }
        let Some(header) = self.db.get(chunk_key(name, CHUNK_HEADER))? else {
            return Ok(None);
        };
        let Some((count, digest)) = parse_chunk_header(&header) else {
            return Ok(None);
        };
        let mut record = Vec::new();
        let mut chunks = 0u32;
        for item in self.db.range(chunk_key(name, 0)..chunk_key(name, count)) {
            let (_, chunk) = item?;
            record.extend_from_slice(&chunk);
            chunks += 1;
        }
        let whole = chunks == count && *blake3::hash(&record).as_bytes() == digest;
        Ok(whole.then_some(record))
    }

    /// The keys of `name`'s chunks from `from` on, to be removed by a write that stores
    /// fewer of them; from 0 (the record is stored as one value again), its header too.
    fn stale_chunks(&self, name: &str, from: u32) -> Result<Vec<sled::IVec>, StoreError> {
        let start = chunk_key(name, from);
        let header = chunk_key(name, CHUNK_HEADER);
        let range = match from {
            0 => self.db.range(start..=header),
            _ => self.db.range(start..header),
        };
        range
            .keys()
            .map(|key| key.map_err(|e| self.write_error(e)))
            .collect()
    }

    /// The pending marker of an unfinished write, if one is stored.
    pub fn pending(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get([PENDING])
            .map_err(|e| self.write_error(e))?
            .map(|v| v.to_vec()))
    }

    pub fn node(&self, level: u8, index: u64) -> Result<Option<[u8; 32]>, StoreError> {
        match self
            .db
            .get(node_key(level, index))
            .map_err(|e| self.write_error(e))?
        {
            Some(v) => {
                v.as_ref().try_into().map(Some).map_err(|_| {
                    StoreError::Corrupt(format!("node {level}/{index} is not 32 bytes"))
                })
            }
            None => Ok(None),
        }
    }

    /// The indexes of the leaf tiles stored from `from` on: layout 6 stored them, this
    /// layout stores none (FORMAT.md §3), so each is one `fundtrail upgrade` still removes
    /// or one `verify` reports.
    pub fn leaf_tile_indexes(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        let start = prefixed(LEAF_TILE, &from.to_be_bytes());
        let end = prefixed(LEAF_TILE, &u64::MAX.to_be_bytes());
        self.db.range(start..=end).map(|item| {
            let (key, _) = item.map_err(|e| self.write_error(e))?;
            u64_from(&key[1..]).ok_or_else(|| StoreError::Corrupt(format!("leaf tile key {key:?}")))
        })
    }

    /// The indexes of the stored Merkle nodes at `level` from index `from` on.
    pub fn node_indexes(
        &self,
        level: u8,
        from: u64,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        self.touching(
            self.db
                .range(node_key(level, from)..=node_key(level, u64::MAX)),
        )
        .map(move |item| {
            let (key, _) = item.map_err(|e| self.write_error(e))?;
            u64_from(&key[2..])
                .ok_or_else(|| StoreError::Corrupt(format!("node key {key:?} at level {level}")))
        })
    }

    /// The stored checkpoint of tree size `size` (its note text).
    pub fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get(prefixed(CHECKPOINT, &size.to_be_bytes()))?
            .map(|v| v.to_vec()))
    }

    /// The stored checkpoint of the largest tree size.
    pub fn last_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.last_checkpoint_upto(u64::MAX)
    }

    /// The stored checkpoint of the largest tree size at most `size` (a reader's view may
    /// be behind a checkpoint the writer has just signed).
    pub fn last_checkpoint_upto(&self, size: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let first = prefixed(CHECKPOINT, &0u64.to_be_bytes());
        let last = prefixed(CHECKPOINT, &size.to_be_bytes());
        match self.db.range(first..=last).next_back() {
            Some(item) => {
                let (key, value) = item.map_err(|e| self.write_error(e))?;
                let size = u64_from(&key[1..])
                    .ok_or_else(|| StoreError::Corrupt("checkpoint key".into()))?;
                Ok(Some((size, value.to_vec())))
            }
            None => Ok(None),
        }
    }

    /// Stored checkpoints (tree size and note text), oldest first.
    pub fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.db
            .scan_prefix([CHECKPOINT])
            .map(|item| {
                let (key, value) = item.map_err(|e| self.write_error(e))?;
                let size = u64_from(&key[1..])
                    .ok_or_else(|| StoreError::Corrupt("checkpoint key".into()))?;
                Ok((size, value.to_vec()))
            })
            .collect()
    }

    /// Applies a batch atomically, without waiting for the disk, and keeps the in-memory
    /// reference index in step with it. Refused with [`StoreError::DiskFull`], before
    /// anything is written, unless the disk has room for it with a margin; refused after
    /// an earlier write of this store failed.
    ///
    /// The batch goes to sled in three parts: the pending marker that announces it, its
    /// entries (events, indexes, nodes: beyond the head until the head moves), then the
    /// meta records that commit them. sled keeps a batch atomic only while every write
    /// succeeds (see [`space`]), and its log is recovered as a prefix: if a failed write
    /// leaves part of itself behind, it is entries beyond the head that the marker
    /// explains, which opening the ledger discards.
    pub fn write(&self, mut batch: StoreBatch) -> Result<(), StoreError> {
        self.refuse_after_failure()?;
        if let Some(seq) = batch
            .last_seq
            .filter(|s| s.get() > references::MAX_INDEXED_SEQ)
        {
            return Err(StoreError::TooManyEvents { seq: seq.get() });
        }
        // A write may remove or replace blocks beyond the head (an unfinished write's).
        self.keep_sealed(None);
        batch.seal_blocks();
        for (name, from) in std::mem::take(&mut batch.stale_chunks) {
            for key in self.stale_chunks(&name, from)? {
                batch.remove(key.to_vec());
            }
        }
        // The records whose files change: those now kept in a file, and those going back
        // into sled that had one (checked here, so a small record's write lists no folder).
        let mut files_changed = BTreeMap::new();
        for (name, file) in std::mem::take(&mut batch.meta_files) {
            let key = prefixed(META_FILE, name.as_bytes());
            if file.is_none() {
                if !self.db.contains_key(&key)? {
                    continue;
                }
                batch.remove(key);
            }
            files_changed.insert(name, file);
        }
        self.space.ensure_room(&self.dir, batch.bytes)?;
        if batch.index == IndexUpdate::Skip {
            return self.write_beyond_head(batch);
        }
        // Durable before the batch that names them: a crash between the two leaves files
        // no key names, which the next open removes.
        large::write_all(&self.dir, &std::mem::take(&mut batch.files))?;
        let mut refs = self.references.write().unwrap_or_else(|p| p.into_inner());
        if batch.index == IndexUpdate::Reload {
            *refs = None;
        }
        let announce_keys = usize::from(batch.announce.is_some());
        let applied = batch
            .announce
            .map_or(Ok(()), |marker| self.db.insert([PENDING], marker).map(drop))
            .and_then(|()| self.apply_entries(batch.entries, batch.entry_keys, batch.trail_parts))
            .and_then(|()| {
                let commit_keys = batch.keys - batch.entry_keys - announce_keys;
                self.apply(batch.commit, commit_keys)
            });
        if let (Ok(()), Some(tip)) = (&applied, batch.tip) {
            *self
                .references_expected
                .write()
                .unwrap_or_else(|p| p.into_inner()) = Some(tip);
        }
        if applied.is_ok() {
            large::remove_older(&self.dir, &files_changed);
        }
        match applied {
            Ok(()) => {
                // Every seq was checked above; were one beyond the index all the same, it
                // is read again, and refused, on next use.
                let extended = match (batch.index, refs.as_mut()) {
                    (IndexUpdate::Extend, Some(index)) => index.extend(batch.references).is_ok(),
                    _ => true,
                };
                if !extended {
                    *refs = None;
                }
                Ok(())
            }
            Err(e) => {
                // Whether any of it reached the tree is unknown: read the index again.
                *refs = None;
                self.fail(Health::SledFailed);
                Err(self.write_error(e))
            }
        }
    }

    /// A chunk of a large batch ([`StoreBatch::beyond_head`]): entries beyond the head
    /// only, which no lookup sees, so lookups of the reference index go on while it is
    /// written (the import plans its next rows meanwhile).
    fn write_beyond_head(&self, batch: StoreBatch) -> Result<(), StoreError> {
        debug_assert!(
            batch.tip.is_none() && batch.files.is_empty(),
            "a chunk beyond the head does not move it, nor write meta records"
        );
        let commit_keys = batch.keys - batch.entry_keys - usize::from(batch.announce.is_some());
        let applied = batch
            .announce
            .map_or(Ok(()), |marker| self.db.insert([PENDING], marker).map(drop))
            .and_then(|()| self.apply_entries(batch.entries, batch.entry_keys, batch.trail_parts))
            .and_then(|()| self.apply(batch.commit, commit_keys));
        applied.map_err(|e| {
            // Whether any of it reached the tree is unknown: read the index again.
            *self.references.write().unwrap_or_else(|p| p.into_inner()) = None;
            self.fail(Health::SledFailed);
            self.write_error(e)
        })
    }

    /// Applies a batch's entries, then its trail parts one by one: all of them lie beyond
    /// the head until the batch's commit (applied after them) moves it.
    fn apply_entries(
        &self,
        entries: sled::Batch,
        keys: usize,
        trail_parts: Vec<sled::Batch>,
    ) -> Result<(), sled::Error> {
        self.apply(entries, keys)?;
        trail_parts
            .into_iter()
            .try_for_each(|part| self.db.apply_batch(part))
    }

    fn apply(&self, batch: sled::Batch, keys: usize) -> Result<(), sled::Error> {
        match keys {
            0 => Ok(()),
            _ => self.db.apply_batch(batch),
        }
    }

    /// Applies a batch atomically and returns once it, and everything before it, is on disk.
    pub fn write_durable(&self, batch: StoreBatch) -> Result<(), StoreError> {
        self.write(batch)?;
        self.sync()
    }

    /// Makes every write so far durable: sled's flush (watched: on a full disk sled 0.34
    /// can wait for ever), then fdatasync of its data file.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.refuse_after_failure()?;
        if let Err(failure) = self.flusher.flush(&self.space) {
            self.fail(Health::SledFailed);
            return Err(match failure {
                space::FlushFailure::Sled(e) => self.write_error(e),
                space::FlushFailure::Stalled { waited, available } => {
                    match available.filter(|bytes| *bytes < space::FLOOR_BYTES) {
                        Some(available) => StoreError::DiskFilled {
                            path: self.dir.clone(),
                            available,
                        },
                        None => StoreError::Stalled {
                            path: self.dir.clone(),
                            waited,
                            available,
                        },
                    }
                }
            });
        }
        let path = self.dir.join(SLED_DIR).join(SLED_DATA_FILE);
        #[cfg(test)]
        if self.fail_syncs.load(std::sync::atomic::Ordering::SeqCst) {
            self.fail(Health::WriteFailed);
            return Err(io_err(&path)(std::io::Error::other(
                "injected fdatasync failure",
            )));
        }
        self.data_file.sync_data().map_err(|source| {
            self.fail(Health::WriteFailed);
            match space::is_full(&source) {
                true => StoreError::DiskFilled {
                    path: self.dir.clone(),
                    available: self.space.available_or_zero(),
                },
                false => io_err(&path)(source),
            }
        })
    }

    /// A failed write's sled error, with a full disk named as such. Reads map their
    /// errors here too: after a failed write sled 0.34 returns that write's error from
    /// every later call, reads included.
    fn write_error(&self, e: sled::Error) -> StoreError {
        match e {
            sled::Error::Io(io) if space::is_full(&io) => StoreError::DiskFilled {
                path: self.dir.clone(),
                available: self.space.available_or_zero(),
            },
            other => other.into(),
        }
    }

    /// Notes that a write failed; a sled failure outranks a failed fdatasync.
    fn fail(&self, health: Health) {
        self.health.fetch_max(health as u8, Ordering::SeqCst);
    }

    /// After a failed write this value writes nothing more: sled's in-memory tree may hold
    /// part of the failed batch, and a flush may be waiting for ever with sled's lock held.
    fn refuse_after_failure(&self) -> Result<(), StoreError> {
        match self.health.load(Ordering::SeqCst) {
            h if h == Health::Sound as u8 => Ok(()),
            _ => Err(StoreError::Db(
                "an earlier write to this ledger failed; open the ledger again".into(),
            )),
        }
    }

    /// The meta record `name` as [`Store::meta`] reads it, but a record kept as a file
    /// ([`large`]) as a reader of its file, so that a caller can decode it without holding
    /// its bytes (the findings snapshot: 11 MB at 1,000,000 events, 46 MB at 4,000,000).
    pub fn meta_read(&self, name: &str) -> Result<MetaRead, StoreError> {
        let in_sled = self
            .db
            .contains_key(prefixed(META_PACKED, name.as_bytes()))?
            || self.db.contains_key(prefixed(META, name.as_bytes()))?;
        if !in_sled {
            if let Some(value) = self.db.get(prefixed(META_FILE, name.as_bytes()))? {
                let Some(file) = large::FileRef::decode(&value) else {
                    return Ok(MetaRead::Absent);
                };
                return Ok(match RecordReader::open(&self.dir, name, file)? {
                    Some(reader) => MetaRead::File(Box::new(reader)),
                    None => MetaRead::Absent,
                });
            }
        }
        Ok(self.meta(name)?.map_or(MetaRead::Absent, MetaRead::Whole))
    }

    /// A file to write the meta record `name` of `len` bytes into as its bytes are made,
    /// for a record too large for sled ([`large::RecordFile`]); a batch names it once it
    /// is finished ([`StoreBatch::put_meta_file`]). Refused when the disk lacks room for
    /// it, as a batch of its size would be.
    pub fn record_file(&self, name: &str, len: u64) -> Result<RecordFile, StoreError> {
        check_meta_name(name);
        self.refuse_after_failure()?;
        self.space.ensure_room(&self.dir, len)?;
        RecordFile::create(&self.dir, name)
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        let sled = self.db.size_on_disk().map_err(|e| self.write_error(e))?;
        Ok(sled + large::size_on_disk(&self.dir))
    }

    /// The large meta records' files that sled names now, by record name.
    fn live_files(&self) -> Result<BTreeMap<String, large::FileRef>, StoreError> {
        let mut live = BTreeMap::new();
        for item in self.db.scan_prefix([META_FILE]) {
            let (key, value) = item?;
            let (Ok(name), Some(file)) = (
                std::str::from_utf8(&key[1..]),
                large::FileRef::decode(&value),
            ) else {
                continue;
            };
            live.insert(name.to_owned(), file);
        }
        Ok(live)
    }

    /// Rewrites the event blocks from `from` on, at most `limit` of them, and their
    /// reference blocks, from the stored form of layouts 3 and 4 (the block's bytes) into
    /// this layout's ([`block::encode_stored`]), and in the same atomic sled batch moves
    /// the meta record `marker` to the first seq after them (u64, bincode), or removes it
    /// when no block is left. Returns that seq, or `None` when the last block is done: a
    /// crash leaves every block in the form the marker says.
    pub fn recode_legacy_blocks(
        &self,
        from: Seq,
        limit: usize,
        marker: &str,
    ) -> Result<Option<Seq>, StoreError> {
        assert!(
            limit > 0,
            "a recoding batch that recodes nothing never ends"
        );
        self.refuse_after_failure()?;
        let next = match self
            .db
            .range(event_key(from)..=event_key(Seq::new(u64::MAX)))
            .keys()
            .nth(limit)
        {
            Some(key) => Some(seq_from_key(&key.map_err(|e| self.write_error(e))?)?),
            None => None,
        };
        let mut batch = sled::Batch::default();
        for prefix in [EVENT, REFERENCE] {
            let end = next.map_or(seq_key(prefix, Seq::new(u64::MAX)), |n| {
                seq_key(prefix, Seq::new(n.get().saturating_sub(1)))
            });
            for item in self.db.range(seq_key(prefix, from)..=end) {
                let (key, value) = item.map_err(|e| self.write_error(e))?;
                batch.insert(key, encode_stored(&value));
            }
        }
        let marker = prefixed(META, marker.as_bytes());
        match next {
            Some(next) => batch.insert(marker, next.get().to_le_bytes().to_vec()),
            None => batch.remove(marker),
        }
        if let Err(e) = self.db.apply_batch(batch) {
            self.fail(Health::SledFailed);
            return Err(self.write_error(e));
        }
        Ok(next)
    }

    /// Removes the leaf tiles (`l`) layout 6 stored, at most `limit` of them, from the
    /// first on; when fewer than `limit` were left, removes the meta record `marker` in the
    /// same atomic sled batch. Returns the tiles removed: a crash leaves the marker until
    /// every tile is gone.
    pub fn remove_leaf_tiles(&self, limit: usize, marker: &str) -> Result<usize, StoreError> {
        self.refuse_after_failure()?;
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for key in self.db.scan_prefix([LEAF_TILE]).keys().take(limit) {
            batch.remove(key.map_err(|e| self.write_error(e))?);
            removed += 1;
        }
        if removed < limit {
            batch.remove(prefixed(META, marker.as_bytes()));
        }
        if let Err(e) = self.db.apply_batch(batch) {
            self.fail(Health::SledFailed);
            return Err(self.write_error(e));
        }
        Ok(removed)
    }

    // For `verify`'s search for entries beyond the head (ledger/verify.rs).

    /// The first seq of the event block that holds `seq`, if any block does.
    pub fn event_block_holding(&self, seq: Seq) -> Result<Option<Seq>, StoreError> {
        Ok(self.block_holding(seq)?.map(|(first, _)| first))
    }

    /// The reference blocks that may list a seq at or after `from` (the one starting at or
    /// before it, and every one after), each with its first seq and its number of entries.
    pub fn reference_blocks_reaching(
        &self,
        from: Seq,
    ) -> impl Iterator<Item = Result<(Seq, u64), StoreError>> + '_ {
        let holding = self
            .db
            .range(reference_key(Seq::new(0))..=reference_key(from))
            .next_back();
        let after = self.db.range(
            reference_key(Seq::new(from.get().saturating_add(1)))
                ..=reference_key(Seq::new(u64::MAX)),
        );
        holding.into_iter().chain(after).map(|item| {
            let (key, value) = item.map_err(|e| self.write_error(e))?;
            let first = seq_from_key(&key)?;
            // An unreadable block lists no entry; beyond the head it is stray all the same.
            let entries = self
                .block_bytes(BlockKind::Reference, first, value)
                .map_or(0, |block| reference_entries(&block).count() as u64);
            Ok((first, entries))
        })
    }
}

/// Which of a batch's two blocks a stored value is, for the messages that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Event,
    Reference,
}

impl BlockKind {
    fn name(self) -> &'static str {
        match self {
            BlockKind::Event => "event",
            BlockKind::Reference => "reference",
        }
    }
}

/// A block's own bytes, from its stored value (FORMAT.md §3): borrowed past the form byte
/// when stored plain, decompressed otherwise.
enum BlockBytes {
    Plain(sled::IVec),
    Decompressed(Vec<u8>),
    /// A value of layouts 3 and 4: the block's bytes, without a form byte.
    Legacy(sled::IVec),
}

impl std::ops::Deref for BlockBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            BlockBytes::Plain(value) => &value[1..],
            BlockBytes::Decompressed(bytes) => bytes,
            BlockBytes::Legacy(value) => value,
        }
    }
}

/// Whether the store's writes have all succeeded, in increasing order of trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Health {
    Sound = 0,
    /// An fdatasync failed after sled's flush succeeded: sled's state is whole.
    WriteFailed = 1,
    /// sled reported an error or its flush stalled: its in-memory tree may hold part of a
    /// batch, and an IO buffer may never be written.
    SledFailed = 2,
}

impl Drop for Store {
    fn drop(&mut self) {
        // sled's `Drop` flushes, and waits for ever for a buffer that a failed blob write
        // left claimed (a read that rewrites a page can meet one too). So the flush runs
        // first, watched; sled's `Drop` then has nothing left to write. After sled failed
        // there is no flush at all: it would write out what the failed batch left in
        // memory. A handle that is never dropped keeps sled's `Drop` from running: the
        // process ends as after a crash, which sled recovers from, and opening the ledger
        // discards what lies beyond the head.
        let failed = self.health.load(Ordering::SeqCst) == Health::SledFailed as u8;
        if failed || self.flusher.flush(&self.space).is_err() {
            std::mem::forget(self.db.clone());
            return;
        }
        // The flusher's handle on the database goes before this store's does.
        self.flusher.stop();
        if self.ending_process.load(Ordering::SeqCst) {
            // Everything is durable: the flush above returned. sled's `Drop` would flush
            // again, fsync its file, record every page it holds and free its page table
            // (a sixth of a query's process at 1M events); the process's end frees the
            // memory and releases sled's lock on its file instead.
            std::mem::forget(self.db.clone());
        }
    }
}

/// How long to wait for sled's own lock on its data file. A `Db` this process dropped a
/// moment ago can still hold it while its background flusher winds down (sled's tests block
/// on it for that reason). Our `LOCK` is taken first, so no other process holds it: only our
/// own stale handle can, and it goes within milliseconds.
const SLED_LOCK_WAIT: Duration = Duration::from_secs(2);

/// How long to wait for the `LOCK` file when it names this very process or its parent: a
/// child just forked shares the lock until its `exec`, a matter of milliseconds. A second
/// opener in the same process waits this long before it is told the ledger is in use.
const OWN_LOCK_WAIT: Duration = Duration::from_millis(500);

/// How long [`Store::close`] waits for the locks to be released: sled's background writes
/// end within milliseconds and a child forked in the meantime lets go at its `exec`, but a
/// write can take seconds on a loaded machine's disk.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Between attempts to take sled's lock.
const SLED_LOCK_POLL: Duration = Duration::from_millis(10);

/// How the store opens sled's tree in `sled_dir`.
fn sled_config(sled_dir: &Path) -> sled::Config {
    sled::Config::new()
        .path(sled_dir)
        .cache_capacity(CACHE_BYTES)
}

fn open_sled(config: &sled::Config) -> Result<sled::Db, sled::Error> {
    let deadline = Instant::now() + SLED_LOCK_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(SLED_LOCK_POLL);
            }
            opened => return opened,
        }
    }
}

/// Takes the ledger's lock file, recording this process's id in it, or reports who has it.
fn take_lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    let deadline = Instant::now() + OWN_LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.rewind();
                let _ = file.read_to_string(&mut text);
                let pid: Option<u32> = text.trim().parse().ok();
                // This process's own lock (or its parent's), still shared with a child
                // just forked (a `flock` belongs to the open file description, which the
                // child holds until its `exec` closes it): that goes within milliseconds.
                let ours = [std::process::id(), std::os::unix::process::parent_id()];
                if pid.is_some_and(|pid| ours.contains(&pid)) && Instant::now() < deadline {
                    std::thread::sleep(SLED_LOCK_POLL);
                    continue;
                }
                return Err(StoreError::InUse {
                    path: dir.to_owned(),
                    pid,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
    }
    file.set_len(0).map_err(io_err(&path))?;
    file.rewind().map_err(io_err(&path))?;
    writeln!(file, "{}", std::process::id()).map_err(io_err(&path))?;
    Ok(file)
}

/// Makes a new directory entry durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Writes to apply together. Counts keys, since sled's cost is per key, and bytes, which
/// size the free space the write needs.
#[derive(Default)]
pub struct StoreBatch {
    /// The pending marker, written before anything else of the batch.
    announce: Option<Vec<u8>>,
    /// Everything but the marker and the meta records: beyond the head until the head
    /// moves.
    entries: sled::Batch,
    /// The meta records (the head among them), applied after the entries.
    commit: sled::Batch,
    /// A batch beyond the head: its trail index entries, in parts of at most
    /// [`TRAIL_KEYS_PER_APPLY`] keys, applied one after another between `entries` and
    /// `commit`.
    trail_parts: Vec<sled::Batch>,
    /// Keys in the last of `trail_parts`.
    trail_part_keys: usize,
    keys: usize,
    entry_keys: usize,
    /// Keys and values written (keys only for removals).
    bytes: u64,
    /// The event block being filled, and its reference block.
    open: Option<OpenBlock>,
    /// Blocks filled and not yet sealed and compressed: [`Store::write`] does that, so a
    /// large import's writing thread hands it, with the write, to the thread that writes
    /// (`ledger::append`), and goes on chaining the next rows meanwhile.
    closed: Vec<OpenBlock>,
    /// The references this batch records, for the in-memory index once it is applied.
    references: Vec<(references::Fingerprint, Seq)>,
    /// The last event this batch writes: beyond [`references::MAX_INDEXED_SEQ`] the
    /// batch is refused, since the reference index could not name it.
    last_seq: Option<Seq>,
    /// What applying this batch does to the in-memory reference index.
    index: IndexUpdate,
    /// The digest of the reference blocks through this batch's last closed block, when the
    /// batch continues a known digest ([`StoreBatch::continuing`]).
    digest: Option<ReferencesDigest>,
    /// Set by the batch that moves the head: what the reference blocks digest to then.
    tip: Option<ReferencesExpected>,
    /// The key this batch's event blocks are sealed with.
    block_key: Option<StateKey>,
    /// Meta records this batch writes, with the number of chunks each now has: any
    /// chunk beyond is removed when the batch is written.
    stale_chunks: Vec<(String, u32)>,
    /// Meta records this batch writes as files, written before the batch is applied.
    files: Vec<large::PendingFile>,
    /// Every meta record this batch writes, with the file it is now kept in, if any:
    /// the record's other files (if it had any) are removed once the batch is applied.
    meta_files: Vec<(String, Option<large::FileRef>)>,
}

/// How a batch keeps the in-memory reference index current.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum IndexUpdate {
    /// The batch's references are added.
    #[default]
    Extend,
    /// The index is left as it is: the batch writes events beyond the head, which no
    /// lookup sees.
    Skip,
    /// The index is read again from the reference blocks when next used.
    Reload,
}

/// Consecutive events of one batch, not yet a key.
struct OpenBlock {
    first: Seq,
    count: usize,
    events: Vec<u8>,
    references: Vec<u8>,
}

/// Bytes reserved for an event entry when a block is opened: a typical record and its
/// framing, so that filling a block rarely reallocates.
const TYPICAL_ENTRY_BYTES: usize = 256;

impl StoreBatch {
    /// Adds an event under its reference, its record written in place by `write` and its
    /// hash computed by `hash` from the bytes written; returns the hash. Events of a batch
    /// come in seq order; a gap or a full block starts a new block.
    pub fn put_event(
        &mut self,
        seq: Seq,
        reference: &str,
        write: impl FnOnce(&mut Vec<u8>),
        hash: impl FnOnce(&[u8]) -> EventHash,
    ) -> EventHash {
        let block = self.block_for(seq);
        let digest = push_event_with(&mut block.events, write, |record| hash(record).into_bytes());
        push_reference(&mut block.references, reference);
        block.count += 1;
        let full = block.count == EVENT_BLOCK_EVENTS;
        self.last_seq = Some(seq);
        if self.index == IndexUpdate::Extend {
            let fingerprint = references::Fingerprint::of(reference);
            self.references.push((fingerprint, seq));
        }
        if full {
            self.close_block();
        }
        EventHash::from_bytes(digest)
    }

    /// The open block that `seq` extends, opening one if it does not follow the last.
    fn block_for(&mut self, seq: Seq) -> &mut OpenBlock {
        let follows = self
            .open
            .as_ref()
            .is_some_and(|b| b.first.get() + b.count as u64 == seq.get());
        if !follows {
            self.close_block();
        }
        self.open.get_or_insert_with(|| OpenBlock {
            first: seq,
            count: 0,
            events: Vec::with_capacity(EVENT_BLOCK_EVENTS * TYPICAL_ENTRY_BYTES),
            references: Vec::new(),
        })
    }

    /// Removes the event block starting at `first` and its reference block. Removals are
    /// rare (an interrupted batch's chunks): the reference index is read again after.
    pub fn remove_event_block(&mut self, first: Seq) {
        self.remove(event_key(first).to_vec());
        self.remove(seq_key(BLOCK_SEAL, first).to_vec());
        self.remove(reference_key(first).to_vec());
        self.index = IndexUpdate::Reload;
    }

    /// A chunk of a large batch, written beyond the head: the in-memory reference index
    /// does not take in its references (no lookup sees beyond the head, and the import's
    /// planner holds them already: holding them twice took a 1,000,000-row import from
    /// 433 MiB to 500 MiB).
    pub fn beyond_head() -> StoreBatch {
        StoreBatch {
            index: IndexUpdate::Skip,
            ..StoreBatch::default()
        }
    }

    /// The batch that moves the head past chunks written with [`StoreBatch::beyond_head`]:
    /// the reference index is read again, once, when next used.
    pub fn reload_reference_index(&mut self) {
        self.index = IndexUpdate::Reload;
    }

    /// A batch whose blocks extend the reference digest `digest`
    /// and whose event blocks are sealed under `key`.
    pub fn continuing(digest: ReferencesDigest, key: StateKey) -> StoreBatch {
        StoreBatch {
            digest: Some(digest),
            block_key: Some(key),
            ..StoreBatch::default()
        }
    }

    /// As [`StoreBatch::beyond_head`], extending the reference digest `digest`, its event
    /// blocks sealed under `key`.
    pub fn beyond_head_continuing(digest: ReferencesDigest, key: StateKey) -> StoreBatch {
        StoreBatch {
            digest: Some(digest),
            block_key: Some(key),
            ..StoreBatch::beyond_head()
        }
    }

    /// The reference digest after every block this batch holds (closing its open block).
    pub fn references_digest(&mut self) -> Option<ReferencesDigest> {
        self.close_block();
        self.digest
    }

    /// Marks this batch as the one that moves the head to `head`: once applied, the
    /// reference blocks through `head` must digest to this batch's digest.
    pub fn move_references_tip(&mut self, head: Seq) {
        if let Some(digest) = self.references_digest() {
            self.tip = Some(ReferencesExpected { upto: head, digest });
        }
    }

    /// Closes the open block: its references extend the digest now (the next block's
    /// digest follows), its seal and compression wait for [`StoreBatch::seal_blocks`].
    fn close_block(&mut self) {
        if let Some(block) = self.open.take() {
            if let Some(digest) = &mut self.digest {
                *digest = digest.extend(block.first, &block.references);
            }
            self.closed.push(block);
        }
    }

    /// Closes the open block, then seals and compresses every closed block into the
    /// batch's entries.
    fn seal_blocks(&mut self) {
        self.close_block();
        for block in std::mem::take(&mut self.closed) {
            if let Some(key) = &self.block_key {
                let seal = block_seal(key, block.first, &block.events);
                self.put(
                    seq_key(BLOCK_SEAL, block.first).to_vec(),
                    seal.as_bytes().to_vec(),
                );
            }
            self.put(
                event_key(block.first).to_vec(),
                encode_stored(&block.events),
            );
            self.put(
                reference_key(block.first).to_vec(),
                encode_stored(&block.references),
            );
        }
    }

    pub fn put_household(&mut self, household: &str, seq: Seq) {
        self.put(
            prefixed(HOUSEHOLD, household.as_bytes()),
            seq.get().to_be_bytes().to_vec(),
        );
    }

    pub fn remove_household(&mut self, household: &str) {
        self.remove(prefixed(HOUSEHOLD, household.as_bytes()));
    }

    /// Lists `seqs` (increasing, of one write) in `household`'s trail (FORMAT.md §3).
    pub fn put_trail_entry(&mut self, household: &str, seqs: &[Seq]) {
        let Some(first) = seqs.first() else {
            return;
        };
        let seqs: Vec<u64> = seqs.iter().map(|seq| seq.get()).collect();
        self.put(
            trail::trail_key(household, first.get()),
            trail::encode_seqs(&seqs),
        );
    }

    /// Removes `household`'s trail entry keyed at `first`.
    pub fn remove_trail_entry(&mut self, household: &str, first: Seq) {
        self.remove(trail::trail_key(household, first.get()));
    }

    pub fn put_people_event(&mut self, seq: Seq) {
        self.put(people_key(seq), Vec::new());
    }

    pub fn remove_people_event(&mut self, seq: Seq) {
        self.remove(people_key(seq));
    }

    /// Writes a meta record: as the one value `m‖name`, or, when larger than
    /// [`META_CHUNK_BYTES`], as a file named by `f‖name` ([`large`]; `m‖name` removed).
    /// Whatever an earlier version of the record left (`z‖name`, chunks, `f‖name`, its
    /// file) is removed when the batch is written.
    pub fn put_meta(&mut self, name: &str, value: Vec<u8>) {
        self.put_meta_as(name, value, MetaForm::Plain);
    }

    /// Writes a snapshot record as [`StoreBatch::put_meta`] does, but as `z‖name`, in a
    /// block's stored form ([`META_PACKED`]). For records that are caches of the log: an
    /// older version that does not read this form computes them again.
    pub fn put_packed_meta(&mut self, name: &str, value: Vec<u8>) {
        self.put_packed(PackedMeta::pack(name, value));
    }

    /// Puts a record packed already ([`PackedMeta::pack`]), as
    /// [`StoreBatch::put_packed_meta`] puts it.
    pub fn put_packed(&mut self, packed: PackedMeta) {
        let PackedMeta { name, stored } = packed;
        self.put_meta_stored(&name, stored, MetaForm::Packed);
    }

    /// Names the record file `written` as its record's live version (`f‖name`), removing
    /// the record's other forms as [`StoreBatch::put_meta`] does. The file is durable
    /// already ([`RecordFile::finish`]).
    pub fn put_meta_file(&mut self, written: WrittenFile) {
        let WrittenFile { name, file } = written;
        self.remove(prefixed(META, name.as_bytes()));
        self.remove(prefixed(META_PACKED, name.as_bytes()));
        self.stale_chunks.push((name.clone(), 0));
        self.put(prefixed(META_FILE, name.as_bytes()), file.encode());
        self.meta_files.push((name, Some(file)));
    }

    /// Writes a meta record in `form`, removing the record's other forms.
    fn put_meta_as(&mut self, name: &str, value: Vec<u8>, form: MetaForm) {
        self.put_meta_stored(name, form.sled_value(value), form);
    }

    /// [`StoreBatch::put_meta_as`] of a record whose form is made already
    /// ([`MetaForm::sled_value`]).
    fn put_meta_stored(&mut self, name: &str, stored: Result<Vec<u8>, Vec<u8>>, form: MetaForm) {
        check_meta_name(name);
        let (prefix, other) = match form {
            MetaForm::Plain => (META, META_PACKED),
            MetaForm::Packed => (META_PACKED, META),
        };
        let key = prefixed(prefix, name.as_bytes());
        self.remove(prefixed(other, name.as_bytes()));
        // Any chunks of an older version go (records are no longer written in chunks).
        self.stale_chunks.push((name.to_owned(), 0));
        let value = match stored {
            Ok(stored) => {
                self.put(key, stored);
                // Its `f‖name`, if it has one, is removed when the batch is written.
                self.meta_files.push((name.to_owned(), None));
                return;
            }
            Err(value) => value,
        };
        self.remove(key);
        let file = large::FileRef::of(&value);
        self.put(prefixed(META_FILE, name.as_bytes()), file.encode());
        self.bytes += value.len() as u64;
        self.meta_files.push((name.to_owned(), Some(file)));
        self.files.push(large::PendingFile {
            name: name.to_owned(),
            file,
            bytes: value,
        });
    }

    /// The pending marker, written with the entries of the write it announces.
    pub fn put_pending(&mut self, marker: Vec<u8>) {
        // First of all, on its own: a write that fails part way leaves no entry that its
        // marker does not explain.
        self.bytes += 1 + marker.len() as u64;
        self.keys += 1;
        self.announce = Some(marker);
    }

    /// Removes the pending marker, with the record that commits the write.
    pub fn remove_pending(&mut self) {
        // With the commit, not with the entries: a write that stops between the two
        // leaves its marker to explain the entries it left.
        self.bytes += 1;
        self.keys += 1;
        self.commit.remove(vec![PENDING]);
    }

    pub fn put_node(&mut self, level: u8, index: u64, hash: &[u8; 32]) {
        self.put(node_key(level, index).to_vec(), hash.to_vec());
    }

    pub fn remove_node(&mut self, level: u8, index: u64) {
        self.remove(node_key(level, index).to_vec());
    }

    pub fn put_checkpoint(&mut self, size: u64, note: &[u8]) {
        self.put(prefixed(CHECKPOINT, &size.to_be_bytes()), note.to_vec());
    }

    /// Keys the batch writes so far (an event block's once the write has sealed it).
    pub fn keys(&self) -> usize {
        self.keys
    }

    /// Bytes of keys and values the batch writes so far (an event block's once the write
    /// has sealed it).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// `value` as a slice is copied once into sled's own buffer; a record split into
    /// chunks is put that way, so its bytes are not held a third time.
    fn put(&mut self, key: Vec<u8>, value: impl Into<sled::IVec>) {
        let value: sled::IVec = value.into();
        self.bytes += (key.len() + value.len()) as u64;
        self.part_for(&key).insert(key, value);
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.bytes += key.len() as u64;
        self.part_for(&key).remove(key);
    }

    /// The sled batch a key goes in, counted.
    fn part_for(&mut self, key: &[u8]) -> &mut sled::Batch {
        self.keys += 1;
        if self.index == IndexUpdate::Skip && key.first() == Some(&trail::TRAIL_PREFIX) {
            return self.trail_part();
        }
        // A meta record's chunks go with it, in the batch applied last.
        if matches!(
            key.first(),
            Some(&META | &META_PACKED | &META_CHUNK | &META_FILE)
        ) {
            &mut self.commit
        } else {
            self.entry_keys += 1;
            &mut self.entries
        }
    }
}

impl StoreBatch {
    /// The part of `trail_parts` the next trail key goes in.
    fn trail_part(&mut self) -> &mut sled::Batch {
        if self.trail_parts.is_empty() || self.trail_part_keys >= TRAIL_KEYS_PER_APPLY {
            self.trail_parts.push(sled::Batch::default());
            self.trail_part_keys = 0;
        }
        self.trail_part_keys += 1;
        self.entry_keys += 1;
        self.trail_parts
            .last_mut()
            .expect("a part was pushed when there was none")
    }
}

/// Trail index keys a write beyond the head applies in one sled batch. sled 0.34 copies a
/// leaf for each key it inserts and frees the copies only once the batch is applied, and
/// a large import writes a trail entry for every household at once (`TRAIL_ENTRY_EVENTS`):
/// at 1,000,000 events each such write held 60 to 90 MiB of copies for an instant. Keys
/// beyond the head need no atomicity (a failed or interrupted append removes every trail
/// entry past the head, written or not), so they are applied in parts.
const TRAIL_KEYS_PER_APPLY: usize = 256;

/// A meta record as [`Store::meta_read`] finds it.
pub enum MetaRead {
    Absent,
    /// Kept in sled (or in chunks): its bytes.
    Whole(Vec<u8>),
    /// Kept as a file: a reader of it, checked against its reference at the end (boxed:
    /// its hasher is 2 KB).
    File(Box<RecordReader>),
}

/// Meta record names are the ledger's own constants; a large record's is a file name.
fn check_meta_name(name: &str) {
    assert!(
        !name.contains(['/', '\\', '\0']) && !name.starts_with('.'),
        "meta record names are the ledger's own constants, usable as file names"
    );
}

/// A snapshot record in the form [`StoreBatch::put_packed_meta`] stores it, its packing
/// (Zstandard) done: made on any thread, put into a batch by [`StoreBatch::put_packed`].
pub struct PackedMeta {
    name: String,
    /// The value for `z‖name`, or the record itself when too large for sled.
    stored: Result<Vec<u8>, Vec<u8>>,
}

impl PackedMeta {
    /// Record `name` packed as [`StoreBatch::put_packed_meta`] packs it.
    pub fn pack(name: &str, value: Vec<u8>) -> PackedMeta {
        PackedMeta {
            name: name.to_owned(),
            stored: MetaForm::Packed.sled_value(value),
        }
    }
}

/// How a meta record small enough for sled is stored there.
#[derive(Clone, Copy)]
enum MetaForm {
    /// `m‖name`: the record's bytes.
    Plain,
    /// `z‖name`: the record in a block's stored form ([`META_PACKED`]).
    Packed,
}

impl MetaForm {
    /// The value that stores `record` in sled in this form, or the record back when that
    /// value would be larger than [`META_CHUNK_BYTES`] (it is then kept as a file). A
    /// packed record may be larger unpacked (a 4,000,000-event ledger's read-model shards
    /// are about 550 KB, packed a few KB), up to what a stored form unpacks to.
    fn sled_value(self, record: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
        match self {
            MetaForm::Plain if record.len() <= META_CHUNK_BYTES => Ok(record),
            MetaForm::Packed if record.len() <= MAX_STORED_BLOCK_BYTES => {
                let packed = encode_stored(&record);
                match packed.len() <= META_CHUNK_BYTES {
                    true => Ok(packed),
                    false => Err(record),
                }
            }
            _ => Err(record),
        }
    }
}

/// The seal of the event block whose first event is `first` (FORMAT.md §3.2).
fn block_seal(key: &StateKey, first: Seq, block: &[u8]) -> Seal {
    key.seal(BLOCK_SEAL_LABEL, &[&first.get().to_be_bytes(), block])
}

fn people_key(seq: Seq) -> Vec<u8> {
    prefixed(PEOPLE, &seq.get().to_be_bytes())
}

/// The index of a chunked record's header: its chunk count (u32 BE) and the BLAKE3 of the
/// whole record, after every chunk in key order.
const CHUNK_HEADER: u32 = u32::MAX;

fn parse_chunk_header(header: &[u8]) -> Option<(u32, [u8; 32])> {
    let (count, digest) = header.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*count), digest.try_into().ok()?))
}

/// `s‖name‖0x00`: the prefix of a meta record's chunks (names hold no 0x00).
fn chunk_prefix(name: &str) -> Vec<u8> {
    let mut key = prefixed(META_CHUNK, name.as_bytes());
    key.push(0);
    key
}

fn chunk_key(name: &str, index: u32) -> Vec<u8> {
    let mut key = chunk_prefix(name);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + rest.len());
    key.push(prefix);
    key.extend_from_slice(rest);
    key
}

/// Big-endian, so sled's byte order is seq order.
fn event_key(first: Seq) -> [u8; 9] {
    seq_key(EVENT, first)
}

fn reference_key(first: Seq) -> [u8; 9] {
    seq_key(REFERENCE, first)
}

fn seq_key(prefix: u8, seq: Seq) -> [u8; 9] {
    let mut key = [prefix; 9];
    key[1..].copy_from_slice(&seq.get().to_be_bytes());
    key
}

/// An entry of the block at `first` as an owned event, or the block's damage.
fn entry_of(
    first: Seq,
    entry: Result<block::EventEntry<'_>, block::BlockFault>,
) -> Result<StoredEvent, StoreError> {
    let entry = entry.map_err(|fault| block_corrupt(first, fault))?;
    Ok(StoredEvent {
        hash: EventHash::from_bytes(*entry.hash),
        record: entry.record.to_vec(),
    })
}

fn trail_corrupt(reason: String) -> StoreError {
    StoreError::Corrupt(format!("the household trail index: {reason}"))
}

fn block_corrupt(first: Seq, fault: block::BlockFault) -> StoreError {
    StoreError::Corrupt(format!(
        "event {}: {}",
        first.get() + fault.index as u64,
        fault.reason
    ))
}

fn node_key(level: u8, index: u64) -> [u8; 10] {
    let mut key = [NODE; 10];
    key[1] = level;
    key[2..].copy_from_slice(&index.to_be_bytes());
    key
}

fn u64_from(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

fn seq_from_key(key: &[u8]) -> Result<Seq, StoreError> {
    u64_from(&key[1..])
        .map(Seq::new)
        .ok_or_else(|| StoreError::Corrupt(format!("event key {key:?}")))
}

fn seq_from_value(value: &[u8]) -> Result<Seq, StoreError> {
    u64_from(value)
        .map(Seq::new)
        .ok_or_else(|| StoreError::Corrupt(format!("index value {value:?} is not a seq")))
}

impl Store {
    /// Makes every later `sync` fail (tests only).
    #[cfg(test)]
    pub(crate) fn fail_syncs(&self) {
        self.fail_syncs
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Has every later write see `available` bytes free (`None`: the disk's own figure;
    /// tests only).
    #[cfg(test)]
    pub(crate) fn fake_available(&self, available: Option<u64>) {
        *self
            .space
            .fake_available
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = available;
    }

    fn get_seq(&self, key: &[u8]) -> Result<Option<Seq>, StoreError> {
        match self.db.get(key).map_err(|e| self.write_error(e))? {
            Some(v) => seq_from_value(&v).map(Some),
            None => Ok(None),
        }
    }
}

/// How a scan treats the event blocks' seals.
#[derive(Clone, Copy)]
enum Seals {
    /// A block whose seal does not hold ends the scan as `Corrupt`.
    Required,
    /// Each event is visited with its block's seal failure, if any.
    Reported,
    Unchecked,
}

#[cfg(test)]
mod reopen_tests {
    use super::*;

    #[test]
    fn a_store_reopens_at_once_after_this_process_closed_it() {
        let dir = tempfile::tempdir().expect("a temp dir");
        drop(Store::open(dir.path(), OpenMode::Create).expect("created"));
        for round in 0..50 {
            let store = Store::open(dir.path(), OpenMode::Existing)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let mut batch = StoreBatch::default();
            batch.put_meta("round", vec![round as u8]);
            store.write_durable(batch).expect("written");
        }
    }

    /// The log positions of sled's recovery snapshots in `dir` (files `snap.<hex lsn>`).
    fn snapshot_lsns(dir: &Path) -> Vec<u64> {
        let mut lsns: Vec<u64> = fs::read_dir(dir.join(SLED_DIR))
            .expect("sled's folder")
            .filter_map(|e| {
                let name = e.expect("entry").file_name().into_string().ok()?;
                u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()
            })
            .collect();
        lsns.sort_unstable();
        lsns
    }

    /// Settling a closed store has sled record its snapshot past what was written, so
    /// the next opener replays nothing; every record reads back as it was.
    #[test]
    fn settling_a_closed_store_moves_sled_s_snapshot_past_the_writes() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        for round in 0..200u32 {
            let mut batch = StoreBatch::default();
            batch.put_meta(&format!("record {round}"), round.to_le_bytes().repeat(64));
            store.write_durable(batch).expect("written");
        }
        store.close().expect("closed");
        let before = snapshot_lsns(dir.path());

        Store::settle(dir.path()).expect("settled");
        Store::wait_released(dir.path()).expect("released");

        let after = snapshot_lsns(dir.path());
        assert!(
            after.last() > before.last(),
            "snapshots before {before:?}, after {after:?}"
        );
        let store = Store::open(dir.path(), OpenMode::Existing).expect("reopened");
        for round in [0u32, 99, 199] {
            let value = store.meta(&format!("record {round}")).expect("read");
            assert_eq!(value.as_deref(), Some(&round.to_le_bytes().repeat(64)[..]));
        }
    }

    /// A store open elsewhere is not settled: the lock says so, and the open store goes on
    /// reading and writing as before.
    #[test]
    fn settling_a_store_that_is_open_fails_and_leaves_it_working() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let mut batch = StoreBatch::default();
        batch.put_meta("kept", b"before".to_vec());
        store.write_durable(batch).expect("written");

        let refused = Store::settle(dir.path()).expect_err("the ledger is open");
        assert!(matches!(refused, StoreError::InUse { .. }), "{refused:?}");

        let mut batch = StoreBatch::default();
        batch.put_meta("kept", b"after".to_vec());
        store.write_durable(batch).expect("still writes");
        assert_eq!(
            store.meta("kept").expect("read").as_deref(),
            Some(&b"after"[..])
        );
    }
}

#[cfg(test)]
mod packed_meta_tests {
    use super::*;

    /// Whether `store` holds the key `prefix‖name`.
    fn holds(store: &Store, prefix: u8, name: &str) -> bool {
        let key = prefixed(prefix, name.as_bytes());
        store.db.get(key).expect("read").is_some()
    }

    fn write(store: &Store, fill: impl FnOnce(&mut StoreBatch)) {
        let mut batch = StoreBatch::default();
        fill(&mut batch);
        store.write_durable(batch).expect("written");
    }

    /// A snapshot record is stored packed, far smaller when it repeats itself, and reads
    /// back byte for byte; the plain form an earlier version left is removed by the write.
    #[test]
    fn a_packed_record_reads_back_and_replaces_the_plain_form() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        write(&store, |b| b.put_meta("shard", vec![1; 100]));
        assert!(holds(&store, META, "shard"));
        let mostly_zeros: Vec<u8> = (0..100_000u32).map(|i| u8::from(i % 997 == 0)).collect();

        write(&store, |b| b.put_packed_meta("shard", mostly_zeros.clone()));

        assert_eq!(
            store.meta("shard").expect("read"),
            Some(mostly_zeros.clone())
        );
        assert!(!holds(&store, META, "shard"));
        let packed = store.db.get(prefixed(META_PACKED, b"shard")).expect("read");
        let packed = packed.expect("stored packed");
        assert!(
            packed.len() < mostly_zeros.len() / 10,
            "{} bytes",
            packed.len()
        );
    }

    /// A record that goes back to the plain form, or to a file, leaves no packed value
    /// behind to be read instead.
    #[test]
    fn a_record_written_in_another_form_leaves_no_packed_value() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        write(&store, |b| b.put_packed_meta("a", vec![2; 500]));
        write(&store, |b| b.put_meta("a", vec![3; 10]));
        assert_eq!(store.meta("a").expect("read"), Some(vec![3; 10]));
        assert!(!holds(&store, META_PACKED, "a"));

        write(&store, |b| b.put_packed_meta("b", vec![4; 500]));
        let incompressible: Vec<u8> = (0..META_CHUNK_BYTES as u32 / 32 + 1)
            .flat_map(|i| *blake3::hash(&i.to_le_bytes()).as_bytes())
            .collect();
        write(&store, |b| b.put_packed_meta("b", incompressible.clone()));
        assert_eq!(store.meta("b").expect("read"), Some(incompressible));
        assert!(!holds(&store, META_PACKED, "b"));
        assert!(holds(&store, META_FILE, "b"));
    }

    /// A record larger than sled takes plain stays in sled when it packs small enough, and
    /// one larger than a stored form unpacks to goes to a file whatever it packs to.
    #[test]
    fn a_record_is_kept_in_sled_when_its_packed_form_fits() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let shard = vec![7; 4 * META_CHUNK_BYTES];
        let beyond = vec![8; MAX_STORED_BLOCK_BYTES + 1];
        write(&store, |b| {
            b.put_packed_meta("shard", shard.clone());
            b.put_packed_meta("beyond", beyond.clone());
        });
        assert_eq!(store.meta("shard").expect("read"), Some(shard));
        assert!(!holds(&store, META_FILE, "shard"));
        assert_eq!(store.meta("beyond").expect("read"), Some(beyond));
        assert!(!holds(&store, META_PACKED, "beyond"));
        assert!(holds(&store, META_FILE, "beyond"));
    }

    /// A packed value that does not unpack (cut short, an unknown form, a length it does
    /// not have) is an error naming the record, never a record of other bytes.
    #[test]
    fn a_damaged_packed_value_is_refused_naming_the_record() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        write(&store, |b| b.put_packed_meta("snap", vec![6; 4_000]));
        let key = prefixed(META_PACKED, b"snap");
        let stored = store.db.get(&key).expect("read").expect("stored").to_vec();
        let mut longer = stored.clone();
        longer[1] ^= 0x01;
        let damaged = [
            stored[..stored.len() - 3].to_vec(),
            [&[0x7f], &stored[1..]].concat(),
            longer,
            Vec::new(),
        ];
        for value in damaged {
            store.db.insert(&key, value.clone()).expect("planted");
            let err = store.meta("snap").expect_err("refused");
            assert!(
                matches!(&err, StoreError::Corrupt(m) if m.contains("meta record snap")),
                "{value:?}: {err:?}"
            );
        }
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::*;

    fn put(store: &Store, name: &str, value: &[u8]) {
        let mut batch = StoreBatch::default();
        batch.put_meta(name, value.to_vec());
        store.write_durable(batch).expect("written");
    }

    /// Stores `value` as versions before the records folder did: in chunks and a header.
    fn put_chunked(db: &sled::Db, name: &str, value: &[u8]) {
        let mut count = 0u32;
        for chunk in value.chunks(META_CHUNK_BYTES) {
            db.insert(chunk_key(name, count), chunk).expect("chunk");
            count += 1;
        }
        let mut header = count.to_be_bytes().to_vec();
        header.extend_from_slice(blake3::hash(value).as_bytes());
        db.insert(chunk_key(name, CHUNK_HEADER), header)
            .expect("header");
    }

    fn chunks(store: &Store, name: &str) -> usize {
        store.db.scan_prefix(chunk_prefix(name)).count()
    }

    fn files(dir: &Path) -> Vec<String> {
        record_file_names(dir)
    }

    fn big(len: usize, modulus: usize) -> Vec<u8> {
        (0..len).map(|i| (i % modulus) as u8).collect()
    }

    /// A record larger than [`META_CHUNK_BYTES`] is kept as one file and read back whole;
    /// a shorter one replaces the file, a small one goes back into sled and leaves no file;
    /// a neighbour's file is never touched.
    #[test]
    fn a_large_meta_record_is_kept_as_a_file_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let big = big(3 * META_CHUNK_BYTES + 5, 251);
        put(&store, "snap", &big);
        put(&store, "snap2", &big);
        assert_eq!(store.meta("snap").expect("read"), Some(big.clone()));
        assert_eq!(store.db.get(prefixed(META, b"snap")).expect("read"), None);
        assert_eq!(chunks(&store, "snap"), 0, "no chunks in sled");
        assert_eq!(files(dir.path()).len(), 2);

        let shorter = &big[..META_CHUNK_BYTES + 1];
        put(&store, "snap", shorter);
        assert_eq!(store.meta("snap").expect("read").as_deref(), Some(shorter));
        assert_eq!(
            files(dir.path()).len(),
            2,
            "the older file of snap is removed"
        );

        put(&store, "snap", b"small");
        assert_eq!(
            store.meta("snap").expect("read").as_deref(),
            Some(&b"small"[..])
        );
        assert_eq!(files(dir.path()).len(), 1, "only snap2's file is left");
        assert_eq!(
            store.meta("snap2").expect("read"),
            Some(big),
            "the neighbour"
        );
        assert_eq!(store.meta("absent").expect("read"), None);
        assert!(store.size_on_disk().expect("size") >= 3 * META_CHUNK_BYTES as u64);
    }

    /// A file edited or removed behind the ledger's back reads as no record (a cache,
    /// recomputed); the callers' seal refuses an edit that would keep its digest.
    #[test]
    fn an_edited_or_missing_file_reads_as_no_record() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let big = big(META_CHUNK_BYTES + 7, 253);
        put(&store, "snap", &big);
        let path = large::records_dir(dir.path()).join(&files(dir.path())[0]);
        let mut edited = big.clone();
        edited[100] ^= 1;
        fs::write(&path, &edited).expect("edit");
        assert_eq!(store.meta("snap").expect("read"), None);
        fs::remove_file(&path).expect("remove");
        assert_eq!(store.meta("snap").expect("read"), None);
    }

    /// A file written for a batch that never applied (the process ended between the
    /// two) is removed by the next open; the live one is kept.
    #[test]
    fn a_file_no_key_names_is_removed_on_open() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let big = big(META_CHUNK_BYTES + 3, 247);
        {
            let store = Store::open(dir.path(), OpenMode::Create).expect("created");
            put(&store, "snap", &big);
            let mut orphan = big.clone();
            orphan[0] ^= 1;
            large::write_all(
                dir.path(),
                &[large::PendingFile {
                    name: "snap".to_owned(),
                    file: large::FileRef::of(&orphan),
                    bytes: orphan,
                }],
            )
            .expect("written");
            assert_eq!(files(dir.path()).len(), 2);
        }
        let store = Store::open(dir.path(), OpenMode::Existing).expect("reopened");
        assert_eq!(files(dir.path()).len(), 1);
        assert_eq!(store.meta("snap").expect("read"), Some(big));
    }

    /// A file that cannot be written fails the write before its batch: the record and
    /// its file stay as they were, and nothing under the new file's name is left.
    #[test]
    fn a_file_that_cannot_be_written_leaves_the_record_as_it_was() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let old = big(META_CHUNK_BYTES + 11, 239);
        put(&store, "snap", &old);
        let new = big(META_CHUNK_BYTES + 12, 239);
        let name = large::FileRef::of(&new).file_name("snap");
        let blocked = large::records_dir(dir.path()).join(format!("{name}.writing"));
        fs::create_dir(&blocked).expect("a directory where the file would be written");
        let mut batch = StoreBatch::default();
        batch.put_meta("snap", new);
        match store.write_durable(batch) {
            Err(StoreError::Io { path, .. }) => assert_eq!(path, blocked),
            other => panic!("expected an error naming the file, got {other:?}"),
        }
        assert_eq!(store.meta("snap").expect("read"), Some(old));
        assert!(!large::records_dir(dir.path()).join(&name).exists());
    }

    /// A record an older version stored in chunks is read; writing it again removes
    /// every chunk and its header.
    #[test]
    fn a_record_stored_in_chunks_is_read_then_replaced_by_a_file() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let big = big(3 * META_CHUNK_BYTES + 5, 251);
        put_chunked(&store.db, "snap", &big);
        assert_eq!(store.meta("snap").expect("read"), Some(big.clone()));
        assert_eq!(chunks(&store, "snap"), 5, "four chunks and the header");
        let newer = &big[..2 * META_CHUNK_BYTES];
        put(&store, "snap", newer);
        assert_eq!(chunks(&store, "snap"), 0);
        assert_eq!(store.meta("snap").expect("read").as_deref(), Some(newer));
    }

    /// Chunks that do not make the record their header describes (a torn write) read as
    /// no record, whichever part is missing or stale.
    #[test]
    fn a_torn_chunked_record_reads_as_none() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let big = big(2 * META_CHUNK_BYTES + 9, 241);
        let torn = |edit: &dyn Fn(&sled::Db)| {
            put_chunked(&store.db, "snap", &big);
            assert_eq!(store.meta("snap").expect("read"), Some(big.clone()));
            edit(&store.db);
            store.meta("snap").expect("read")
        };
        let stale = |db: &sled::Db| drop(db.insert(chunk_key("snap", 1), vec![0u8; 5]));
        let lost = |db: &sled::Db| drop(db.remove(chunk_key("snap", 2)));
        let headless = |db: &sled::Db| drop(db.remove(chunk_key("snap", CHUNK_HEADER)));
        let short = |db: &sled::Db| drop(db.insert(chunk_key("snap", CHUNK_HEADER), vec![0u8; 3]));
        for edit in [&stale as &dyn Fn(&sled::Db), &lost, &headless, &short] {
            assert_eq!(torn(edit), None);
        }
    }
}

#[cfg(test)]
mod space_tests {
    use super::*;

    fn meta_batch(name: &str, bytes: usize) -> StoreBatch {
        let mut batch = StoreBatch::default();
        batch.put_meta(name, vec![7; bytes]);
        batch
    }

    /// Without a full disk at hand (no root for a tmpfs): the measured free space is
    /// replaced, and a write it cannot hold is refused before sled sees it.
    #[test]
    fn a_write_the_disk_cannot_hold_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        store
            .write_durable(meta_batch("before", 10))
            .expect("written");
        let batch = meta_batch("big", 100_000);
        let needed = space::needed(batch.bytes());
        *store.space.fake_available.lock().expect("not poisoned") = Some(needed - 1);
        match store.write_durable(batch) {
            Err(StoreError::DiskFull {
                path,
                needed: said,
                available,
            }) => {
                assert_eq!(path, dir.path());
                assert_eq!((said, available), (needed, needed - 1));
            }
            other => panic!("expected DiskFull, got {:?}", other.err()),
        }
        assert_eq!(
            store.meta("big").expect("read"),
            None,
            "nothing was written"
        );
        // A refusal is not a failure: with room again, the same store writes.
        *store.space.fake_available.lock().expect("not poisoned") = Some(needed);
        store
            .write_durable(meta_batch("big", 100_000))
            .expect("written once there is room");
        assert_eq!(
            store.meta("big").expect("read").map(|v| v.len()),
            Some(100_000)
        );
    }

    #[test]
    fn after_a_failed_sync_the_store_writes_nothing_more() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        store.fail_syncs();
        assert!(store.write_durable(meta_batch("a", 1)).is_err());
        match store.write(meta_batch("b", 1)) {
            Err(StoreError::Db(reason)) => assert!(reason.contains("open the ledger again")),
            other => panic!("expected a refusal, got {:?}", other.err()),
        }
        assert_eq!(store.meta("b").expect("read"), None);
    }

    #[test]
    fn a_batch_counts_its_bytes_and_puts_meta_records_last() {
        let mut batch = StoreBatch::default();
        batch.put_household("PL-1", Seq::new(3));
        batch.put_meta("head", vec![0; 5]);
        // The household, the record, and the removal of the record's packed form.
        assert_eq!(batch.bytes(), (1 + 4 + 8) + (1 + 4 + 5) + (1 + 4));
        assert_eq!((batch.keys, batch.entry_keys), (3, 1));
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;
    use crate::model::encoding::{encode, AllocationV1, Body, RecordV1};

    /// The bytes of a record at `seq` under `reference`, its source `note`: a lookup
    /// reads the reference inside the record.
    fn record_of(seq: u64, reference: &str, note: &str) -> Vec<u8> {
        encode(&RecordV1 {
            seq,
            recorded_at_us: 0,
            actor: "clerk".into(),
            reference: reference.into(),
            body: Body::FundAllocation(AllocationV1 {
                program: "micro_wish".into(),
                amount_fen: 1,
                value_date: 0,
                source: note.into(),
            }),
        })
    }

    /// A store holding one sealed block of `count` events at seq 1, and its key.
    fn store_with_block(dir: &Path, count: u64) -> (Store, StateKey) {
        let store = Store::open(dir, OpenMode::Create).expect("created");
        let key = StateKey::derive(&[9; 32]);
        let mut batch = StoreBatch::continuing(ReferencesDigest::default(), key.clone());
        for seq in 1..=count {
            let reference = format!("BANK-{seq:08}");
            let note = format!("payment {seq} of 100.00 to household PL-{:04}", seq % 3);
            let record = record_of(seq, &reference, &note);
            batch.put_event(
                Seq::new(seq),
                &reference,
                |out| out.extend_from_slice(&record),
                |bytes| EventHash::from_bytes(*blake3::hash(bytes).as_bytes()),
            );
        }
        store.write_durable(batch).expect("written");
        store.seal_blocks_with(key.clone());
        (store, key)
    }

    #[test]
    fn references_are_found_by_text_and_by_prefix_through_the_sealed_digest() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let key = StateKey::derive(&[9; 32]);
        let mut batch = StoreBatch::continuing(ReferencesDigest::default(), key);
        for (seq, reference) in [(1, "RUN-2020-02-B"), (2, "X-1"), (3, "RUN-2020-02-A")] {
            let record = record_of(seq, reference, "");
            batch.put_event(
                Seq::new(seq),
                reference,
                |out| out.extend_from_slice(&record),
                |bytes| EventHash::from_bytes(*blake3::hash(bytes).as_bytes()),
            );
        }
        batch.move_references_tip(Seq::new(3));
        let tip = batch.tip.expect("the batch moves the tip");
        store.write_durable(batch).expect("written");
        assert_eq!(store.reference("X-1").expect("read"), Some(Seq::new(2)));
        assert_eq!(store.reference("X-2").expect("read"), None);
        let listed = store.references_with_prefix("RUN-2020-02").expect("read");
        let expected = [("RUN-2020-02-A", 3), ("RUN-2020-02-B", 1)]
            .map(|(r, seq)| (r.to_string(), Seq::new(seq)));
        assert_eq!(listed, expected);
        // A renamed entry no longer gives the sealed digest: both ways of reading refuse.
        let mut renamed = Vec::new();
        for name in ["RUN-2020-02-B", "X-2", "RUN-2020-02-A"] {
            push_reference(&mut renamed, name);
        }
        let stored = block::encode_stored(&renamed);
        store
            .db
            .insert(reference_key(Seq::FIRST), stored)
            .expect("edited");
        // As a ledger's open does: the index is read again, on its next use.
        store.expect_references(tip.upto, tip.digest);
        let prefix = store.references_with_prefix("RUN").expect_err("refused");
        assert!(prefix.to_string().contains("sealed digest"), "{prefix}");
        let lookup = store.reference("X-2").expect_err("refused");
        assert!(lookup.to_string().contains("sealed digest"), "{lookup}");
    }

    fn all_events(store: &Store, count: u64) -> Result<Vec<StoredEvent>, StoreError> {
        (1..=count)
            .map(|seq| store.event(Seq::new(seq)).map(|e| e.expect("present")))
            .collect()
    }

    #[test]
    fn a_block_written_compressed_reads_back_byte_identical() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (store, key) = store_with_block(dir.path(), 20);
        let stored = store
            .db
            .get(event_key(Seq::FIRST))
            .expect("read")
            .expect("a block");
        assert_eq!(stored[0], block::STORED_ZSTD);
        let events = all_events(&store, 20).expect("readable");
        let plain: Vec<(&[u8; block::HASH_LEN], &[u8])> = events
            .iter()
            .map(|e| (e.hash.as_bytes(), e.record.as_slice()))
            .collect();
        let block = block::event_block(&plain);
        assert!(stored.len() < block.len());
        assert_eq!(
            decode_stored(&stored).expect("decodes").as_ref(),
            &block[..]
        );
        // The seal is over the block's own bytes, not the stored value.
        let seal = store.db.get(seq_key(BLOCK_SEAL, Seq::FIRST)).expect("read");
        assert_eq!(
            seal.as_deref(),
            Some(&block_seal(&key, Seq::FIRST, &block).as_bytes()[..])
        );
        let refs = store.db.get(reference_key(Seq::FIRST)).expect("read");
        let refs = decode_stored(refs.as_deref().expect("a reference block")).expect("decodes");
        assert_eq!(reference_entries(&refs).count(), 20);
        assert_eq!(
            store.reference("BANK-00000007").expect("read"),
            Some(Seq::new(7))
        );
    }

    /// Each byte of a small compressed block flipped in turn: a sealed read gives an error
    /// naming the block or the events as written, never other bytes and never a panic; an
    /// unsealed scan (verify's) ends or errs without a panic.
    #[test]
    fn every_byte_flipped_in_a_stored_block_is_refused_or_reads_the_original() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (store, _) = store_with_block(dir.path(), 6);
        let original = all_events(&store, 6).expect("readable");
        let stored = store
            .db
            .get(event_key(Seq::FIRST))
            .expect("read")
            .expect("a block");
        assert_eq!(stored[0], block::STORED_ZSTD);
        let mut refused = 0;
        for at in 0..stored.len() {
            let mut damaged = stored.to_vec();
            damaged[at] ^= 0x5a;
            store
                .db
                .insert(event_key(Seq::FIRST), damaged)
                .expect("write");
            // An edit made beside the store, not through it: as a ledger opened afresh
            // over the edited bytes would, the read starts without the last sealed block.
            store.keep_sealed(None);
            match all_events(&store, 6) {
                Ok(events) => assert_eq!(events, original, "byte {at}"),
                Err(StoreError::Corrupt(reason)) => {
                    assert!(
                        reason.contains("block at seq 1") || reason.contains("event "),
                        "{reason}"
                    );
                    refused += 1;
                }
                Err(other) => panic!("byte {at}: {other}"),
            }
            let _ = store.scan_events_unsealed(Seq::FIRST..=Seq::new(6), |_, _, _| {
                ControlFlow::Continue(())
            });
        }
        assert!(refused > stored.len() / 2, "{refused} of {}", stored.len());
    }

    /// A ledger of layout 4 stores a block's bytes with no form byte: read as such while
    /// recoding, then stored in this layout's form, the marker moved with each batch.
    #[test]
    fn legacy_blocks_are_recoded_and_the_marker_removed_at_the_end() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (store, _) = store_with_block(dir.path(), 150);
        let original = all_events(&store, 150).expect("readable");
        let mut firsts = Vec::new();
        for prefix in [EVENT, REFERENCE] {
            for item in store.db.scan_prefix([prefix]) {
                let (key, value) = item.expect("read");
                firsts.push(key.to_vec());
                let block = decode_stored(&value).expect("decodes").into_owned();
                store.db.insert(key, block).expect("write");
            }
        }
        assert_eq!(firsts.len(), 6, "blocks at 1, 65 and 129");
        store.read_legacy_blocks(true);
        assert_eq!(all_events(&store, 150).expect("readable"), original);
        let next = store
            .recode_legacy_blocks(Seq::new(0), 2, "recoding")
            .expect("recoded");
        assert_eq!(next, Some(Seq::new(129)));
        assert_eq!(
            store.meta("recoding").expect("read"),
            Some(129u64.to_le_bytes().to_vec())
        );
        let next = store
            .recode_legacy_blocks(Seq::new(129), 2, "recoding")
            .expect("recoded");
        assert_eq!(next, None);
        assert_eq!(store.meta("recoding").expect("read"), None);
        store.read_legacy_blocks(false);
        assert_eq!(all_events(&store, 150).expect("readable"), original);
        assert_eq!(
            store.reference("BANK-00000140").expect("read"),
            Some(Seq::new(140))
        );
    }

    /// Writes one batch of events at `first`, `first + 1`, … under `references`, as a
    /// batch that moves the head.
    fn write_events(store: &Store, first: u64, references: &[&str]) {
        let mut batch = StoreBatch::default();
        for (i, reference) in references.iter().enumerate() {
            let seq = first + i as u64;
            let record = record_of(seq, reference, "");
            batch.put_event(
                Seq::new(seq),
                reference,
                |out| out.extend_from_slice(&record),
                |bytes| EventHash::from_bytes(*blake3::hash(bytes).as_bytes()),
            );
        }
        store.write_durable(batch).expect("written");
    }

    /// Two texts with one fingerprint under this process's key, found by the birthday
    /// bound (about 2^16 draws at 32 bits).
    fn colliding_pair() -> (String, String) {
        let mut seen = std::collections::HashMap::new();
        for n in 0u64.. {
            let text = format!("PAIR-{n}");
            if let Some(other) = seen.insert(references::Fingerprint::of(&text), text.clone()) {
                return (other, text);
            }
        }
        unreachable!("the draws end at a collision")
    }

    #[test]
    fn texts_that_share_a_fingerprint_are_told_apart_by_their_records() {
        let (first, second) = colliding_pair();
        assert_ne!(first, second);
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        write_events(&store, 1, &["A-1", &first, "A-3"]);
        assert_eq!(store.reference(&first).expect("read"), Some(Seq::new(2)));
        assert_eq!(
            store.reference(&second).expect("read"),
            None,
            "a false match"
        );
        // The second, added by a later batch, sits in the recent set: both resolve.
        write_events(&store, 4, &[&second]);
        assert_eq!(store.reference(&first).expect("read"), Some(Seq::new(2)));
        assert_eq!(store.reference(&second).expect("read"), Some(Seq::new(4)));
        // And read again from the reference blocks, both in the sorted vector.
        *store.references.write().expect("not poisoned") = None;
        assert_eq!(store.reference(&first).expect("read"), Some(Seq::new(2)));
        assert_eq!(store.reference(&second).expect("read"), Some(Seq::new(4)));
    }

    /// The index was loaded from sealed blocks; an event block edited afterwards (by an
    /// insider without the key) makes a lookup that lands on it an error, never "not
    /// found", which would let a repeated reference through.
    #[test]
    fn a_lookup_that_lands_on_an_event_block_edited_after_the_load_is_an_error() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (store, _) = store_with_block(dir.path(), 20);
        assert_eq!(
            store.reference("BANK-00000007").expect("loaded"),
            Some(Seq::new(7))
        );
        let mut events = all_events(&store, 20).expect("readable");
        events[6].record = record_of(7, "BANK-00000007", "paid twice");
        let plain: Vec<(&[u8; block::HASH_LEN], &[u8])> = events
            .iter()
            .map(|e| (e.hash.as_bytes(), e.record.as_slice()))
            .collect();
        let edited = block::encode_stored(&block::event_block(&plain));
        store
            .db
            .insert(event_key(Seq::FIRST), edited)
            .expect("edited");
        store.keep_sealed(None);
        let err = store.reference("BANK-00000007").expect_err("refused");
        assert!(err.to_string().contains("does not match its seal"), "{err}");
        // A lookup that no entry matches reads nothing and still answers.
        assert_eq!(store.reference("BANK-99999999").expect("read"), None);
        // An event block the index names, removed: an error too.
        store.db.remove(event_key(Seq::FIRST)).expect("removed");
        let err = store.reference("BANK-00000003").expect_err("refused");
        assert!(err.to_string().contains("no event block holds"), "{err}");
    }

    /// A reference block is read only to build the index, whole and checked against the
    /// sealed digest; an edit made after that changes no answer (each is read from the
    /// sealed event), and the next build refuses it.
    #[test]
    fn a_reference_block_edited_after_the_load_changes_no_answer() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let key = StateKey::derive(&[9; 32]);
        let mut batch = StoreBatch::continuing(ReferencesDigest::default(), key.clone());
        for (seq, reference) in [(1, "X-1"), (2, "X-2")] {
            let record = record_of(seq, reference, "");
            batch.put_event(
                Seq::new(seq),
                reference,
                |out| out.extend_from_slice(&record),
                |bytes| EventHash::from_bytes(*blake3::hash(bytes).as_bytes()),
            );
        }
        batch.move_references_tip(Seq::new(2));
        let tip = batch.tip.expect("the batch moves the tip");
        store.write_durable(batch).expect("written");
        store.seal_blocks_with(key);
        store.expect_references(tip.upto, tip.digest);
        assert_eq!(store.reference("X-1").expect("loaded"), Some(Seq::new(1)));
        let mut renamed = Vec::new();
        for name in ["X-9", "X-2"] {
            push_reference(&mut renamed, name);
        }
        store
            .db
            .insert(reference_key(Seq::FIRST), block::encode_stored(&renamed))
            .expect("edited");
        assert_eq!(store.reference("X-1").expect("read"), Some(Seq::new(1)));
        assert_eq!(store.reference("X-9").expect("read"), None);
        store.expect_references(tip.upto, tip.digest);
        let err = store.reference("X-1").expect_err("refused");
        assert!(err.to_string().contains("sealed digest"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// Written in batches of any sizes, looked up while they grow and after the index
        /// is read again from the blocks, the store answers as a map of texts.
        #[test]
        fn the_store_answers_lookups_as_a_map_of_texts(
            texts in proptest::collection::hash_set("[A-Z]{1,3}-[0-9]{1,4}", 1..200),
            cuts in proptest::collection::vec(1..70usize, 1..8),
        ) {
            let texts: Vec<String> = texts.into_iter().collect();
            let (written, absent) = texts.split_at(texts.len() * 3 / 4);
            let dir = tempfile::tempdir().expect("a temp dir");
            let store = Store::open(dir.path(), OpenMode::Create).expect("created");
            let mut next = 0;
            for cut in cuts.iter().cycle() {
                if next == written.len() {
                    break;
                }
                let end = (next + cut).min(written.len());
                let batch: Vec<&str> = written[next..end].iter().map(String::as_str).collect();
                write_events(&store, next as u64 + 1, &batch);
                next = end;
                for (i, text) in written[..next].iter().enumerate() {
                    proptest::prop_assert_eq!(
                        store.reference(text).expect("read"),
                        Some(Seq::new(i as u64 + 1))
                    );
                }
            }
            *store.references.write().expect("not poisoned") = None;
            for (i, text) in written.iter().enumerate() {
                proptest::prop_assert_eq!(
                    store.reference(text).expect("read"),
                    Some(Seq::new(i as u64 + 1))
                );
            }
            for text in absent {
                proptest::prop_assert_eq!(store.reference(text).expect("read"), None);
            }
        }
    }

    #[test]
    fn a_batch_past_the_last_seq_the_index_can_name_is_refused_unwritten() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let beyond = references::MAX_INDEXED_SEQ + 1;
        let mut batch = StoreBatch::default();
        let record = record_of(beyond, "FAR-1", "");
        batch.put_event(
            Seq::new(beyond),
            "FAR-1",
            |out| out.extend_from_slice(&record),
            |bytes| EventHash::from_bytes(*blake3::hash(bytes).as_bytes()),
        );
        match store.write_durable(batch) {
            Err(StoreError::TooManyEvents { seq }) => assert_eq!(seq, beyond),
            other => panic!("expected TooManyEvents, got {:?}", other.err()),
        }
        assert_eq!(store.db.len(), 0, "nothing was written");
        assert_eq!(store.reference("FAR-1").expect("read"), None);
    }
}

#[cfg(test)]
mod trail_part_tests {
    use super::*;

    /// `n` households' trail entries, one seq each.
    fn put_entries(batch: &mut StoreBatch, n: usize) {
        for i in 0..n {
            batch.put_trail_entry(&format!("H-{i:05}"), &[Seq::new(i as u64 + 1)]);
        }
    }

    fn entries(store: &Store) -> Vec<(String, Seq, Vec<Seq>)> {
        store
            .trail_entries()
            .collect::<Result<_, _>>()
            .expect("the entries read back")
    }

    #[test]
    fn trail_entries_beyond_the_head_are_applied_in_parts_and_all_land() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let n = 2 * TRAIL_KEYS_PER_APPLY + 3;
        let mut batch = StoreBatch::beyond_head();
        put_entries(&mut batch, n);
        assert_eq!((batch.trail_parts.len(), batch.trail_part_keys), (3, 3));
        assert_eq!(batch.keys(), n);
        store.write(batch).expect("written");
        let read = entries(&store);
        assert_eq!(read.len(), n);
        assert_eq!(
            read[n - 1],
            ("H-00514".into(), Seq::new(515), vec![Seq::new(515)])
        );
    }

    /// The last batch of a large append begins beyond the head and then moves it: the
    /// trail parts it took before are applied with its entries.
    #[test]
    fn a_batch_turned_to_move_the_head_applies_the_trail_parts_it_holds() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let mut batch = StoreBatch::beyond_head();
        put_entries(&mut batch, TRAIL_KEYS_PER_APPLY + 1);
        batch.reload_reference_index();
        batch.put_trail_entry("LATE", &[Seq::new(9_999)]);
        assert_eq!(batch.trail_parts.len(), 2, "taken while beyond the head");
        store.write_durable(batch).expect("written");
        let read = entries(&store);
        assert_eq!(read.len(), TRAIL_KEYS_PER_APPLY + 2);
        assert!(read.iter().any(|(household, ..)| household == "LATE"));
    }

    /// A batch that moves the head keeps its trail entries with its other entries.
    #[test]
    fn an_ordinary_batch_keeps_its_trail_entries_in_one_sled_batch() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), OpenMode::Create).expect("created");
        let mut batch = StoreBatch::default();
        put_entries(&mut batch, TRAIL_KEYS_PER_APPLY + 1);
        assert!(batch.trail_parts.is_empty());
        store.write_durable(batch).expect("written");
        assert_eq!(entries(&store).len(), TRAIL_KEYS_PER_APPLY + 1);
    }
}
