//! The `Ledger`: opens the store, plans batches with the write-side rules, sequences and
//! chains events, commits them atomically and durably, and verifies the chain.
//!
//! One `Ledger` value is the only writer of its directory (the store's lock guarantees one
//! process; `&mut self` guarantees one writer inside it). Readers on other threads use a
//! [`LedgerView`]: the log as of one head. Nothing at or below a head ever changes, so a
//! view stays consistent while the writer appends beyond it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

pub mod answers;
mod append;
pub mod holds;
pub mod import;
pub mod readmodels;
mod registries;
mod sealed_file;
mod state;
mod tlog;
pub mod trails;
mod upgrade;
mod verify;
mod view;

pub use append::{WrittenEvents, WrittenSender};
pub use registries::household_people;
pub use sealed_file::{ReadVerdict, SealedFile, SealedRead, SealedReader};
pub use tlog::SignedCheckpoint;
pub use upgrade::Upgraded;

use crate::keys::seal::StateKey;
use crate::keys::tokens::META_TOKENS;
use crate::keys::{self, KeyError};
use crate::model::domain::{Command, EventHash, Seq};
use crate::model::encoding::{Body, DecodeError};
use crate::model::people::People;
use crate::model::rules::{Budgets, HouseholdInfo};
use crate::store::{
    OpenMode, PackedMeta, ReferencesDigest, Store, StoreBatch, StoreError, IMPORT_CACHE_BYTES,
    STORED_MIN_LEVEL,
};
use crate::tlog::audit::AuditFault;
use crate::tlog::merkle::{Blake3Hasher, Digest, Frontier, LEVELS};
use crate::tlog::note::VerifierKey;
use registries::{Registries, SealedCounts};
use state::{StateRecord, META_STATE};

/// Events per durable commit. Large enough that the fdatasync and sled's per-batch costs
/// vanish per event, small enough that a batch's encoded records stay a few MiB.
pub const GROUP_COMMIT_EVENTS: usize = 10_000;

/// An import reports at most this many rejected rows; the total is always counted.
pub const MAX_REPORTED_REJECTIONS: usize = 100;

/// Events `log` shows when no limit is given: a screenful.
pub const DEFAULT_LOG_LIMIT: usize = 20;

/// The log's verifier key (C2SP vkey text), written once by `init`.
const META_VERIFIER_KEY: &str = "verifier_key";

/// The store layout (FORMAT.md §3), written once by `init`.
const META_LAYOUT: &str = "layout";

/// The store layout this version writes and reads: 2 stores events in blocks, 3 seals
/// the derived state, 4 adds the household trail index and its sealed summaries, 5 stores
/// each event and reference block with a form byte, compressed (LZ4), 6 compresses new
/// blocks with Zstandard (and reads layout 5's), 7 stores no leaf tiles (leaf hashes are
/// recomputed from the event blocks). Ledgers of layout 1 (a key per event) carry no
/// layout record.
pub const STORE_LAYOUT: u32 = 7;

/// Meta records the ledger itself owns; `put_meta` refuses them.
const RESERVED_META: [&str; 6] = [
    META_STATE,
    META_VERIFIER_KEY,
    META_LAYOUT,
    META_TOKENS,
    upgrade::META_RECODING,
    upgrade::META_DROPPING_TILES,
];

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("corrupt ledger: {0}")]
    Corrupt(String),
    /// Signing would break the promise that all of the log's checkpoints are consistent.
    #[error("refusing to sign a checkpoint: {0}")]
    Inconsistent(String),
    /// A request the ledger cannot answer as asked (a seq or size it does not have).
    #[error("{0}")]
    Invalid(String),
    #[error("reading the input: {0}")]
    Source(String),
    /// The events were appended and are durable, but the checkpoint after them was not
    /// signed (`source` says why).
    #[error(
        "{appended} event(s) were appended and are durable, but no checkpoint was signed: {source}"
    )]
    Unsigned {
        appended: u64,
        source: Box<LedgerError>,
    },
    /// A request made against a head that has since moved ([`GroupRequest::if_head`]).
    #[error("the ledger moved on from {expected} to {found} events; nothing was appended")]
    HeadMoved { expected: u64, found: u64 },
    /// A sealed record whose seal does not hold: changed without the ledger's key.
    #[error("the stored {0} was changed without the ledger's key (its seal does not hold); run `fundtrail verify`")]
    Unsealed(String),
    /// The ledger was written by a version of fundtrail with another store layout.
    #[error("this ledger is in store layout {found}, and this fundtrail reads layout {supported} only; open it with the version that wrote it{}", layout_hint(*.found))]
    Layout { found: u32, supported: u32 },
    #[error("{} of the rows were rejected; nothing was appended", total)]
    Rejected {
        rejections: Vec<RowRejection>,
        total: usize,
    },
}

/// What a ledger of an older layout lacks, for the message that refuses it.
fn layout_hint(found: u32) -> &'static str {
    match found {
        3 => {
            "; or run `fundtrail upgrade`, which builds the household trail index that layout \
              4 added from the log, stores the blocks compressed and removes the leaf tiles as \
              layout 7 does, in place, and changes nothing else"
        }
        4 => {
            "; or run `fundtrail upgrade`, which stores the event and reference blocks \
              compressed and removes the leaf tiles as layout 7 does, in place, and changes \
              nothing else (an interrupted upgrade is finished by running it again)"
        }
        5 => {
            "; or run `fundtrail upgrade`, which removes the leaf tiles and marks it layout 7 \
              (whose new blocks are stored Zstandard-compressed; its blocks stay as they are \
              and are read as they are) and changes nothing else"
        }
        6 => {
            "; or run `fundtrail upgrade`, which removes the stored leaf tiles (layout 7 \
              recomputes leaf hashes from the event blocks) in place and changes nothing else \
              (an interrupted upgrade is finished by running it again)"
        }
        _ => "",
    }
}

/// What kind of failure a [`LedgerError`] is, for callers that map errors to exit codes
/// or statuses without naming the layers below the ledger (as the `csv` crate's
/// `ErrorKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input or request is wrong.
    BadInput,
    /// Rows refused by the write rules ([`LedgerError::Rejected`]).
    Rejected,
    /// A ledger already exists where one was to be created.
    AlreadyExists,
    /// The store or a record does not hold together: `verify` names where.
    Corrupt,
    /// The ledger's evidence cannot be trusted as it stands: a seal that does not hold, a
    /// key that is not this ledger's, a checkpoint that signing would contradict.
    Untrusted,
    /// The ledger cannot be used now: missing, in use, out of disk space, its key
    /// unreadable, or written in another layout.
    Unavailable,
    /// A request made against a head that has since moved.
    HeadMoved,
}

impl LedgerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            LedgerError::Rejected { .. } => ErrorKind::Rejected,
            LedgerError::Store(StoreError::AlreadyExists(_)) => ErrorKind::AlreadyExists,
            LedgerError::Store(StoreError::NotADirectory(_))
            | LedgerError::Source(_)
            | LedgerError::Invalid(_)
            | LedgerError::Key(KeyError::InvalidOrigin { .. }) => ErrorKind::BadInput,
            LedgerError::Store(StoreError::Corrupt(_)) | LedgerError::Corrupt(_) => {
                ErrorKind::Corrupt
            }
            LedgerError::Inconsistent(_)
            | LedgerError::Unsealed(_)
            | LedgerError::Key(KeyError::Malformed { .. } | KeyError::NotThisLedger { .. }) => {
                ErrorKind::Untrusted
            }
            LedgerError::HeadMoved { .. } => ErrorKind::HeadMoved,
            LedgerError::Unsigned { source, .. } => source.kind(),
            LedgerError::Store(_) | LedgerError::Key(_) | LedgerError::Layout { .. } => {
                ErrorKind::Unavailable
            }
        }
    }
}

/// A rejected input row: where it is, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRejection {
    pub line: u64,
    pub field: &'static str,
    pub reason: String,
}

/// One input row: its line (or position) and the command, or why it did not parse.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u64,
    pub command: Result<Command, (&'static str, String)>,
}

/// A batch's rows, which the ledger reads once, in order.
pub trait RowSource {
    fn rows(&mut self) -> Result<Box<dyn Iterator<Item = Row> + '_>, LedgerError>;
}

impl RowSource for Vec<Command> {
    fn rows(&mut self) -> Result<Box<dyn Iterator<Item = Row> + '_>, LedgerError> {
        Ok(Box::new(self.iter().enumerate().map(|(i, c)| Row {
            line: i as u64 + 1,
            command: Ok(c.clone()),
        })))
    }
}

/// Rows read ahead (a persons file, whose names went to the vault before the append).
impl RowSource for Vec<Row> {
    fn rows(&mut self) -> Result<Box<dyn Iterator<Item = Row> + '_>, LedgerError> {
        Ok(Box::new(self.iter().cloned()))
    }
}

/// Who records, and when.
#[derive(Debug, Clone)]
pub struct AppendContext {
    pub actor: String,
    /// Microseconds since the Unix epoch.
    pub now_us: i64,
}

impl AppendContext {
    pub fn now(actor: impl Into<String>) -> AppendContext {
        AppendContext {
            actor: actor.into(),
            now_us: chrono::Utc::now().timestamp_micros(),
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendSummary {
    pub appended: u64,
    pub duplicates: u64,
    /// Per row, the seq it was appended at or already had; kept for batches of at most
    /// [`GROUP_COMMIT_EVENTS`] rows, empty for larger ones.
    pub seqs: Vec<Seq>,
    pub head: Head,
}

/// The committed end of the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    pub size: u64,
    pub hash: EventHash,
}

/// Which events `log` shows: each given field must match.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub household: Option<String>,
    pub program: Option<String>,
    pub event_type: Option<String>,
}

impl LogFilter {
    pub fn keeps(&self, body: &Body) -> bool {
        self.household
            .as_deref()
            .is_none_or(|h| body.household() == Some(h))
            && self
                .program
                .as_deref()
                .is_none_or(|p| body.program() == Some(p))
            && self
                .event_type
                .as_deref()
                .is_none_or(|t| body.type_name() == t)
    }
}

/// The head as stored (FORMAT.md §3): the committed end of the log and the Merkle frontier
/// of its event hashes, so that opening a ledger never replays the log to find its root.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct HeadRecord {
    size: u64,
    hash: EventHash,
    frontier: Frontier,
}

/// The outcome of `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events whose chain link was recomputed (up to the first fault).
    pub checked: u64,
    pub head: Head,
    /// The Merkle root recomputed from the events checked.
    pub root: Digest,
    /// Stored Merkle nodes compared with recomputed ones.
    pub nodes: u64,
    /// Signed checkpoints whose root was compared with the recomputed one.
    pub checkpoints: usize,
    pub fault: Option<AuditFault>,
}

/// The committed log as of one head: every read, none of the writes. Cheap to clone (the
/// store is shared), so a server hands one to each reader.
#[derive(Clone)]
pub struct LedgerView {
    store: Arc<Store>,
    head: Head,
    /// The Merkle root of the first `head.size` events (from the writer's frontier).
    root: Digest,
    verifier_key: VerifierKey,
    /// The key that seals derived state, or why the signing key could not be read (the
    /// ledger is then read-only, and sealed caches are not trusted).
    state_key: Result<StateKey, Arc<str>>,
    /// The seq of every rate event the writer has committed (from the sealed state), in
    /// order; a view reads those within its head.
    rate_seqs: Arc<Vec<u64>>,
    /// Leaf tiles recomputed for proofs, shared by the views of this ledger.
    leaf_cache: Arc<tlog::LeafCache>,
}

/// The writer: a view at the current head plus the state the write-side rules need.
pub struct Ledger {
    view: LedgerView,
    /// The Merkle frontier of the first `head.size` event hashes.
    frontier: Frontier,
    /// The households and the people registry: read when a writer opens the ledger, or on
    /// first use by a query that opened it with [`Ledger::open_for_queries`].
    registries: OnceLock<Registries>,
    /// What the sealed state said the registries hold when the ledger was opened.
    sealed_counts: SealedCounts,
    budgets: Budgets,
    /// The digest of the reference blocks through the head (sealed with it).
    references: ReferencesDigest,
    /// The digest of the token registry record (sealed with the state).
    tokens: [u8; 32],
    /// The hashes of the household trail summaries' shards (sealed with the state).
    trails: trails::TrailDirectory,
    /// Why this value may not append, found before the registries are read: a state
    /// record or head in doubt, or a failed batch that could not be cleaned up (a doubt
    /// about the registries is theirs). It can still be read and verified (which names a
    /// damaged seq).
    damaged: Option<String>,
}

/// Writes the records beside the log that are no part of the sealed state (the read
/// side's snapshots), sealed under the state key, each call in one durable batch. It
/// cannot append, move the head or touch the state, the tokens, the layout, the key or the
/// trail summaries: those names are refused. Made by [`Ledger::meta_writer`], it lets a
/// thread other than the writer's write a snapshot while the writer appends: the store
/// applies one batch at a time, and a snapshot names only records the writer never writes.
#[derive(Clone)]
pub struct MetaWriter {
    view: LedgerView,
}

impl MetaWriter {
    /// [`Ledger::put_meta`].
    pub fn put_meta(&self, name: &str, value: Vec<u8>) -> Result<(), LedgerError> {
        self.put_metas(vec![(name.to_owned(), value)])
    }

    /// [`Ledger::put_metas`].
    pub fn put_metas(&self, records: Vec<(String, Vec<u8>)>) -> Result<(), LedgerError> {
        let mut batch = self.batch()?;
        for (name, value) in records {
            batch.put(&name, value);
        }
        batch.write()
    }

    /// [`MetaWriter::put_metas`] a record at a time: each record is sealed and packed as
    /// it is put, so a writer of many large records holds their packed forms, not all of
    /// their plain bytes at once; [`MetaBatch::write`] writes them in one durable batch.
    pub fn batch(&self) -> Result<MetaBatch, LedgerError> {
        Ok(MetaBatch {
            key: self.view.sealing_key()?.clone(),
            batch: StoreBatch::default(),
            writer: self.clone(),
        })
    }

    /// A file to write the record `name` of `len` bytes into as they are made, sealed as
    /// [`MetaWriter::put_metas`] seals, for a record too large to be held whole in memory
    /// (the findings snapshot of a large ledger); [`SealedFile::finish`] names it.
    pub fn sealed_file(&self, name: &str, len: u64) -> Result<SealedFile, LedgerError> {
        refuse_reserved(name);
        let sealer = self.view.sealing_key()?.sealer(name, len);
        let sealed_len = len.saturating_add(crate::keys::seal::SEAL_LEN as u64);
        let file = self.view.store.record_file(name, sealed_len)?;
        Ok(SealedFile::new(self.clone(), len, sealer, file))
    }

    /// Names a finished record file as its record's live version, in one durable batch.
    fn name_file(&self, written: crate::store::WrittenFile) -> Result<(), LedgerError> {
        let mut batch = StoreBatch::default();
        batch.put_meta_file(written);
        Ok(self.view.store.write_durable(batch)?)
    }
}

/// Records sealed and packed as they are put, written together by [`MetaBatch::write`]
/// (made by [`MetaWriter::batch`]); dropped unwritten, it writes nothing.
pub struct MetaBatch {
    key: StateKey,
    batch: StoreBatch,
    writer: MetaWriter,
}

impl MetaBatch {
    /// Seals and packs record `name`, to be written with the rest of the batch.
    pub fn put(&mut self, name: &str, value: Vec<u8>) {
        let packed = self.packer().pack(name, value);
        self.put_packed(packed);
    }

    /// What seals and packs records for this batch on another thread, as
    /// [`MetaBatch::put`] does.
    pub fn packer(&self) -> MetaPacker {
        MetaPacker {
            key: self.key.clone(),
        }
    }

    /// Puts a record its [`MetaBatch::packer`] sealed and packed.
    pub fn put_packed(&mut self, packed: PackedMeta) {
        self.batch.put_packed(packed);
    }

    /// Writes every record put, in one durable batch, as [`MetaWriter::put_metas`] does.
    pub fn write(self) -> Result<(), LedgerError> {
        Ok(self.writer.view.store.write_durable(self.batch)?)
    }
}

/// Seals and packs records for a [`MetaBatch`] ([`MetaBatch::packer`]): the costly part
/// of a put (a keyed BLAKE3, Zstandard), which may run beside the batch's other work.
pub struct MetaPacker {
    key: StateKey,
}

impl MetaPacker {
    /// Record `name` sealed and packed as [`MetaBatch::put`] seals and packs it.
    pub fn pack(&self, name: &str, value: Vec<u8>) -> PackedMeta {
        refuse_reserved(name);
        PackedMeta::pack(name, self.key.wrap(name, value))
    }
}

/// The names only the ledger itself writes.
fn refuse_reserved(name: &str) {
    assert!(
        !RESERVED_META.contains(&name) && !name.starts_with(trails::TRAIL_SHARD_META_PREFIX),
        "the state, tokens, layout and key are written only by the ledger itself"
    );
}

/// One request of a group commit: who asks, and its rows, appended all or nothing.
#[derive(Debug, Clone)]
pub struct GroupRequest {
    pub ctx: AppendContext,
    pub rows: Vec<Row>,
    /// Appended only if the log still holds exactly this many events when the request's
    /// turn comes (else [`LedgerError::HeadMoved`]): a run that read the log as of a head
    /// records its outcome right after that head, or not at all.
    pub if_head: Option<u64>,
}

impl GroupRequest {
    /// A request of already parsed commands, numbered from 1.
    pub fn commands(ctx: AppendContext, commands: Vec<Command>) -> GroupRequest {
        let rows = commands
            .into_iter()
            .enumerate()
            .map(|(i, c)| Row {
                line: i as u64 + 1,
                command: Ok(c),
            })
            .collect();
        GroupRequest {
            ctx,
            rows,
            if_head: None,
        }
    }
}

/// Per request of a group: its summary, or why it was rejected (`LedgerError::Rejected`).
pub type GroupOutcome = Result<AppendSummary, LedgerError>;

impl Ledger {
    /// Creates a new, empty ledger in `dir` with a fresh signing key, under the origin
    /// [`keys::default_origin`] derives from the directory's name.
    pub fn init(dir: &Path) -> Result<Ledger, LedgerError> {
        Ledger::init_with_origin(dir, &keys::default_origin(dir))
    }

    /// Creates a new, empty ledger in `dir` whose checkpoints name the log `origin`, with a
    /// fresh Ed25519 signing key in `dir/signing.key`.
    pub fn init_with_origin(dir: &Path, origin: &str) -> Result<Ledger, LedgerError> {
        // The key is made (and the origin checked) before anything exists on disk, so a
        // bad origin leaves no half-made ledger behind.
        let key = keys::SigningKeyFile::generate(origin)?;
        let store = Store::open(dir, OpenMode::Create)?;
        key.write(dir)?;
        let mut batch = StoreBatch::default();
        state::put_state(&mut batch, &key.state_key(), &StateRecord::default());
        batch.put_meta(
            META_VERIFIER_KEY,
            key.signer().verifier_key().to_string().into_bytes(),
        );
        batch.put_meta(META_LAYOUT, meta_bytes(&STORE_LAYOUT));
        store.write_durable(batch)?;
        Ledger::load(store)
    }

    /// The token registry record (FORMAT.md §3.1), if there is one: refused when its seal
    /// does not hold or it is not the copy the sealed state names (one put back from an
    /// older copy would bring revoked tokens back).
    pub fn tokens_record(&self) -> Result<Option<Vec<u8>>, LedgerError> {
        let stored = self.view.store.meta(META_TOKENS)?;
        let digest = stored
            .as_deref()
            .map_or([0; 32], |bytes| *blake3::hash(bytes).as_bytes());
        if digest != self.tokens {
            return Err(LedgerError::Unsealed(
                "token registry (it is not the copy the ledger's state names)".into(),
            ));
        }
        match stored {
            None => Ok(None),
            Some(stored) => self
                .key()?
                .unwrap(META_TOKENS, &stored)
                .map(|bytes| Some(bytes.to_vec()))
                .map_err(|_| LedgerError::Unsealed("token registry".into())),
        }
    }

    /// Writes the token registry record and the state record naming it, in one durable
    /// batch.
    pub fn save_tokens(&mut self, bytes: Vec<u8>) -> Result<(), LedgerError> {
        self.refuse_if_damaged("the tokens were not saved")?;
        let sealed = self.key()?.wrap(META_TOKENS, bytes);
        let digest = *blake3::hash(&sealed).as_bytes();
        let mut state = self.state_record();
        state.tokens = digest;
        let mut batch = StoreBatch::default();
        batch.put_meta(META_TOKENS, sealed);
        state::put_state(&mut batch, self.key()?, &state);
        self.view.store.write_durable(batch)?;
        self.tokens = digest;
        Ok(())
    }

    /// Writes a record beside the log (the read-model snapshot) durably, sealed under the
    /// state key: only the writer writes. Reserved names of the ledger itself are refused.
    pub fn put_meta(&self, name: &str, value: Vec<u8>) -> Result<(), LedgerError> {
        self.meta_writer().put_meta(name, value)
    }

    /// Writes several records beside the log in one durable batch, each sealed as by
    /// [`Ledger::put_meta`]: the read models' snapshot, whose records must change together.
    pub fn put_metas(&self, records: Vec<(String, Vec<u8>)>) -> Result<(), LedgerError> {
        self.meta_writer().put_metas(records)
    }

    /// A handle that writes records beside the log as [`Ledger::put_metas`] does, from
    /// another thread than the one that owns the writer (the server's snapshot thread).
    pub fn meta_writer(&self) -> MetaWriter {
        MetaWriter {
            view: self.view.clone(),
        }
    }

    /// The state as this value holds it, which the store's state record seals.
    fn state_record(&self) -> StateRecord {
        StateRecord {
            head: HeadRecord {
                size: self.view.head.size,
                hash: self.view.head.hash,
                frontier: self.frontier.clone(),
            },
            budgets: self.budgets.clone(),
            households: self.registries().households.len() as u64,
            references: self.references,
            tokens: self.tokens,
            people: self.registries().people.events(),
            trails: self.trails.clone(),
            rates: self.view.rate_seqs.to_vec(),
        }
    }

    /// Closes the ledger and returns once its locks are free, so that another process, or
    /// a direct reader of the database, can open it at once. A view still alive keeps the
    /// store open: close fails with `InUse` after waiting for it.
    pub fn close(self) -> Result<(), LedgerError> {
        let dir = self.view.store.dir().to_owned();
        drop(self);
        Ok(Store::wait_released(&dir)?)
    }

    /// Closes the ledger as [`Ledger::close`] does, then has sled record where its pages
    /// lie ([`Store::settle`]), so that the next process to open the ledger does not
    /// replay what this one wrote: for a command that wrote much (a large import).
    pub fn close_settled(self) -> Result<(), LedgerError> {
        let dir = self.view.store.dir().to_owned();
        self.close()?;
        Store::settle(&dir)?;
        Ok(Store::wait_released(&dir)?)
    }

    /// Opens an existing ledger, discarding any uncommitted tail a crash left behind.
    pub fn open(dir: &Path) -> Result<Ledger, LedgerError> {
        let store = Store::open(dir, OpenMode::Existing)?;
        Ledger::load(store)
    }

    /// Opens an existing ledger as [`Ledger::open`] does, to append a file of rows: sled's
    /// cache is [`IMPORT_CACHE_BYTES`], since what an import writes it does
    /// not read again.
    pub fn open_for_import(dir: &Path) -> Result<Ledger, LedgerError> {
        let store = Store::open_with_cache(dir, OpenMode::Existing, IMPORT_CACHE_BYTES)?;
        Ledger::load(store)
    }

    /// Opens an existing ledger as [`Ledger::open`] does, checking the same (the state's
    /// seal, the layout, the head), but reads the households and the people registry back
    /// only when something first asks for them: a query that reads only its own sealed
    /// records (`totals`, `funds`) never pays for them. A registry that cannot be read
    /// then is a doubt ([`Ledger::damaged`]), as a damaged entry is.
    pub fn open_for_queries(dir: &Path) -> Result<Ledger, LedgerError> {
        let store = Store::open(dir, OpenMode::Existing)?;
        Ledger::load_head(store)
    }

    /// Says that the process ends once this ledger is dropped (a command-line query): the
    /// store is flushed, watched, as always, and sled's own shutdown is left to the
    /// process's end ([`Store::ending_process`]). Never for a ledger opened again in the
    /// same process.
    pub fn ending_process(&self) {
        self.view.store.ending_process();
    }

    /// As [`Ledger::load_head`], and reads the registries back at once: a failure to read
    /// them fails the open.
    fn load(store: Store) -> Result<Ledger, LedgerError> {
        let mut ledger = Ledger::load_head(store)?;
        let registries = Registries::load(&ledger.view, ledger.sealed_counts)?;
        ledger.registries = OnceLock::from(registries);
        Ok(ledger)
    }

    /// Reads the head and the state the write rules rely on, and checks them before
    /// anything is written: the seal (with the state key), the signed checkpoints against
    /// the head, and what lies beyond the head. A doubt leaves the ledger readable but
    /// refusing writes ([`Ledger::damaged`]), its store as it found it.
    fn load_head(store: Store) -> Result<Ledger, LedgerError> {
        let layout = upgrade::effective_layout(&store)?;
        if layout != STORE_LAYOUT {
            return Err(LedgerError::Layout {
                found: layout,
                supported: STORE_LAYOUT,
            });
        }
        let verifier_key = read_verifier_key(&store)?;
        let key = state::read_state_key(&store, &verifier_key);
        let foreign = foreign_key_doubt(&key);
        let state = state::read_state(&store, key.as_ref().ok())?;
        let StateRecord {
            head: stored,
            budgets,
            households: sealed_households,
            references,
            tokens,
            people: sealed_people,
            trails,
            rates,
        } = state.record;
        if stored.frontier.size() != stored.size {
            return Err(LedgerError::Corrupt(format!(
                "the head says {} events, its Merkle frontier {}",
                stored.size,
                stored.frontier.size()
            )));
        }
        store.expect_references(Seq::new(stored.size), references);
        if let Ok(key) = &key {
            store.seal_blocks_with(key.clone());
        }
        let mut ledger = Ledger {
            view: LedgerView {
                store: Arc::new(store),
                head: Head {
                    size: stored.size,
                    hash: stored.hash,
                },
                root: stored.frontier.root(&Blake3Hasher),
                verifier_key,
                state_key: key.map_err(|e| Arc::from(e.to_string())),
                rate_seqs: Arc::new(rates),
                leaf_cache: Arc::default(),
            },
            frontier: stored.frontier,
            registries: OnceLock::new(),
            sealed_counts: SealedCounts {
                households: sealed_households,
                people: sealed_people,
            },
            budgets,
            references,
            tokens,
            trails,
            damaged: state.doubt.or(foreign),
        };
        if ledger.damaged.is_none() {
            ledger.settle_beyond_head()?;
        }
        Ok(ledger)
    }

    /// The registries, read back on first use when the ledger was opened for queries.
    /// Reading them then cannot fail the open it is no longer part of: a store that cannot
    /// be read is a doubt, and the value refuses to append.
    fn registries(&self) -> &Registries {
        self.registries.get_or_init(|| {
            Registries::load(&self.view, self.sealed_counts).unwrap_or_else(|e| {
                Registries::doubted(format!("reading the household and people registries: {e}"))
            })
        })
    }

    /// The registries, for the writer to extend after a commit.
    fn registries_mut(&mut self) -> &mut Registries {
        self.registries();
        self.registries
            .get_mut()
            .expect("the registries were read back just above")
    }

    /// The people registry: persons, deaths, departures and ended households.
    pub fn people(&self) -> &People {
        &self.registries().people
    }

    pub fn households(&self) -> &BTreeMap<String, HouseholdInfo> {
        &self.registries().households
    }

    /// Why this value refuses to append, if it does: a damaged enrollment (the households
    /// could not be read back) or a commit that failed.
    pub fn damaged(&self) -> Option<&str> {
        self.damaged
            .as_deref()
            .or_else(|| self.registries().doubt.as_deref())
    }

    /// An error saying why this value is damaged, and `consequence`, if it is: every
    /// append starts here (it would plan against households or a head that may not be what
    /// the store holds), and so does anything that relies on the list of households.
    pub(crate) fn refuse_if_damaged(&self, consequence: &str) -> Result<(), LedgerError> {
        self.view.sealing_key()?;
        match self.damaged() {
            Some(reason) => Err(LedgerError::Corrupt(format!("{reason}; {consequence}"))),
            None => Ok(()),
        }
    }

    /// The enrolled households, or an error on a damaged ledger, whose list may be
    /// incomplete: a run or a balance must not treat a household it lost as not enrolled.
    pub fn enrolled(&self) -> Result<&BTreeMap<String, HouseholdInfo>, LedgerError> {
        self.refuse_if_damaged("the enrolled households are not known")?;
        Ok(self.households())
    }

    /// One household's enrollment (`None`: not enrolled), read through its own index entry
    /// and checked as the whole registry's entries are, when the registries were not read
    /// already: a query about one household reads nothing of the others. An error on a
    /// damaged ledger, as [`Ledger::enrolled`]; a doubt about other households' entries is
    /// found only by reading them (`status`, `verify`, a writer's open).
    pub fn enrollment(&self, household: &str) -> Result<Option<HouseholdInfo>, LedgerError> {
        const CONSEQUENCE: &str = "the enrolled households are not known";
        if let Some(registries) = self.registries.get() {
            self.refuse_if_damaged(CONSEQUENCE)?;
            return Ok(registries.households.get(household).cloned());
        }
        self.view.sealing_key()?;
        if let Some(reason) = &self.damaged {
            return Err(LedgerError::Corrupt(format!("{reason}; {CONSEQUENCE}")));
        }
        registries::lookup_household(&self.view, household)
    }

    /// The seq of each person's erasure, looked for in the people index after the seq of
    /// the person's entry (`persons`: id to that seq), in one pass and without reading the
    /// people registry back. Asked of the log for every person, not only for those the
    /// vault forgot: a vault put back from an older copy must not hide an erasure.
    pub fn erasures_of(
        &self,
        persons: &std::collections::BTreeMap<&str, Seq>,
    ) -> Result<std::collections::BTreeMap<String, Seq>, LedgerError> {
        registries::erasures_of(&self.view, persons)
    }

    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// The log as of the current head, for every read: the writer's own reads go through
    /// it too (`ledger.view().head()`). Borrowed, since most reads are one call; a reader
    /// on another thread keeps its own copy (`ledger.view().clone()`, cheap: the store is
    /// shared).
    pub fn view(&self) -> &LedgerView {
        &self.view
    }

    /// Removes everything beyond the head: event and reference blocks, household entries
    /// naming seqs beyond it, Merkle nodes reaching past it, and the pending
    /// marker. Called only when nothing beyond the head can have been committed: the
    /// chunks of a large batch whose final commit never happened, proven so
    /// (`settle_beyond_head`) or written by this value a moment ago.
    fn discard_uncommitted(&mut self) -> Result<(), LedgerError> {
        let from = self.view.head.size_seq_next();
        let mut batch = StoreBatch::default();
        for first in self.view.store.blocks_from(from)? {
            batch.remove_event_block(first);
        }
        for (household, seq) in self.view.store.households()? {
            if seq >= from {
                batch.remove_household(&household);
            }
        }
        for seq in self.view.store.people_events()? {
            if seq >= from {
                batch.remove_people_event(seq);
            }
        }
        for entry in self.view.store.trail_entries() {
            let (household, first, _) = entry?;
            if first >= from {
                batch.remove_trail_entry(&household, first);
            }
        }
        self.discard_nodes_beyond_head(&mut batch)?;
        if batch.keys() == 0 {
            return Ok(());
        }
        batch.remove_pending();
        self.view.store.write_durable(batch)?;
        Ok(())
    }

    /// Removes stored subtrees that reach past the head. Left alone they would be
    /// harmless (no proof for a committed size reads them, and the append that completes
    /// them again overwrites them), but `verify` and an auditor reading the store should
    /// see only what was committed.
    fn discard_nodes_beyond_head(&self, batch: &mut StoreBatch) -> Result<(), LedgerError> {
        for level in STORED_MIN_LEVEL..LEVELS {
            // Complete subtrees within the head have indexes below size >> level.
            for index in self
                .view
                .store
                .node_indexes(level, self.view.head.size >> level)
            {
                batch.remove_node(level, index?);
            }
        }
        Ok(())
    }
}

impl Head {
    fn size_seq_next(&self) -> Seq {
        Seq::new(self.size + 1)
    }
}

fn corrupt_at(seq: Seq, err: DecodeError) -> LedgerError {
    LedgerError::Corrupt(format!("seq {seq}: {err}"))
}

fn meta_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    bincode::serialize(value).expect("meta records are plain structs and maps")
}

/// A signing key that is not the one whose public half the ledger stores means the
/// database or the key was swapped: a doubt, not merely a key out of reach.
fn foreign_key_doubt(key: &Result<StateKey, KeyError>) -> Option<String> {
    match key {
        Err(e @ KeyError::NotThisLedger { .. }) => Some(format!(
            "{e}: the database or the key was replaced, and nothing here can be trusted"
        )),
        _ => None,
    }
}

fn read_verifier_key(store: &Store) -> Result<VerifierKey, LedgerError> {
    let bytes = store
        .meta(META_VERIFIER_KEY)?
        .ok_or_else(|| LedgerError::Corrupt("the ledger has no verifier key".into()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| LedgerError::Corrupt("the stored verifier key is not UTF-8".into()))?;
    VerifierKey::parse(&text)
        .map_err(|e| LedgerError::Corrupt(format!("the stored verifier key: {e}")))
}

fn read_meta<T: serde::de::DeserializeOwned>(
    store: &Store,
    name: &str,
) -> Result<Option<T>, LedgerError> {
    match store.meta(name)? {
        Some(bytes) => bincode::deserialize(&bytes)
            .map(Some)
            .map_err(|e| LedgerError::Corrupt(format!("meta record {name}: {e}"))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Callers above the ledger tell failures apart by kind, never by the store's errors.
    #[test]
    fn each_error_has_the_kind_its_callers_map() {
        let path = std::path::PathBuf::from("L");
        let kinds = [
            (
                StoreError::AlreadyExists(path.clone()).into(),
                ErrorKind::AlreadyExists,
            ),
            (
                StoreError::NotADirectory(path.clone()).into(),
                ErrorKind::BadInput,
            ),
            (StoreError::Corrupt("x".into()).into(), ErrorKind::Corrupt),
            (StoreError::Missing(path).into(), ErrorKind::Unavailable),
            (LedgerError::Unsealed("x".into()), ErrorKind::Untrusted),
            (LedgerError::Inconsistent("x".into()), ErrorKind::Untrusted),
            (LedgerError::Invalid("x".into()), ErrorKind::BadInput),
            (
                LedgerError::HeadMoved {
                    expected: 1,
                    found: 2,
                },
                ErrorKind::HeadMoved,
            ),
        ];
        for (err, kind) in kinds {
            assert_eq!(err.kind(), kind, "{err}");
        }
    }
    use crate::model::rules::tests::{allocate, enroll, pay};

    /// A large batch's write that fails on the storing thread (here refused by the space
    /// check, as on a full disk) is the batch's error: the writing thread stops handing
    /// writes over, nothing is committed, and once there is room the same rows append
    /// whole.
    #[test]
    fn a_large_batch_whose_write_fails_on_the_storing_thread_appends_nothing() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ctx = AppendContext::now("test");
        let mut ledger = Ledger::init(dir.path()).expect("init");
        let setup = vec![
            enroll("PL-0001", "2014-03-01"),
            allocate("1000.00", "ALLOC-1"),
        ];
        ledger.append(setup, &ctx).expect("append");
        let rows = 2 * GROUP_COMMIT_EVENTS + 50;
        let payments = || -> Vec<Command> {
            (0..rows)
                .map(|i| pay("PL-0001", "0.01", &format!("PAY-{i}")))
                .collect()
        };
        ledger.view.store.fake_available(Some(0));
        match ledger.append(payments(), &ctx) {
            Err(LedgerError::Store(StoreError::DiskFull { available, .. })) => {
                assert_eq!(available, 0);
            }
            other => panic!("expected the storing thread's refusal, got {other:?}"),
        }
        assert_eq!(ledger.view().head().size, 2, "the head did not move");
        assert_eq!(
            ledger.view().lookup_reference("PAY-0").expect("a lookup"),
            None
        );
        ledger.view.store.fake_available(None);
        let summary = ledger.append(payments(), &ctx).expect("room again");
        assert_eq!(summary.appended, rows as u64);
        drop(ledger);
        let ledger = Ledger::open(dir.path()).expect("open again");
        assert_eq!(ledger.view().head().size, 2 + rows as u64);
        let last = format!("PAY-{}", rows - 1);
        assert_eq!(
            ledger.view().lookup_reference(&last).expect("a lookup"),
            Some(Seq::new(2 + rows as u64))
        );
    }

    /// Two households enrolled, then the household index edited without the key: one entry
    /// removed, so the index no longer holds the sealed count.
    fn ledger_with_a_removed_household_entry() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut ledger = Ledger::init(dir.path()).expect("init");
        let enrollments = vec![
            enroll("PL-0001", "2014-03-01"),
            enroll("PL-0002", "2014-03-01"),
        ];
        ledger
            .append(enrollments, &AppendContext::now("test"))
            .expect("append");
        let mut batch = StoreBatch::default();
        batch.remove_household("PL-0002");
        ledger.view.store.write_durable(batch).expect("the edit");
        drop(ledger);
        dir
    }

    /// A ledger opened for an import (a smaller sled cache) checks what an ordinary open
    /// checks: a registry edited without the key is the same doubt, and a ledger that is
    /// not there is refused the same way.
    #[test]
    fn an_import_open_finds_what_an_ordinary_open_finds() {
        let dir = ledger_with_a_removed_household_entry();
        let ordinary = Ledger::open(dir.path()).expect("open");
        let doubt = ordinary.damaged().map(str::to_owned);
        drop(ordinary);
        let for_import = Ledger::open_for_import(dir.path()).expect("open for an import");
        assert!(doubt.is_some());
        assert_eq!(for_import.damaged().map(str::to_owned), doubt);
        drop(for_import);
        let missing = dir.path().join("nothing-here");
        assert!(matches!(
            Ledger::open_for_import(&missing),
            Err(LedgerError::Store(StoreError::Missing(_)))
        ));
    }

    /// A ledger opened for queries reads the registries only when asked, and then finds
    /// the same doubt an ordinary open does: it refuses to append and to list households.
    #[test]
    fn a_query_open_finds_a_damaged_registry_when_it_reads_it() {
        let dir = ledger_with_a_removed_household_entry();
        let doubt = Ledger::open(dir.path())
            .expect("open")
            .damaged()
            .map(str::to_owned)
            .expect("the edit is noticed on open");
        assert!(
            doubt.contains("household index lists 1 households"),
            "{doubt}"
        );
        let mut ledger = Ledger::open_for_queries(dir.path()).expect("open for queries");
        assert!(ledger.registries.get().is_none(), "not read at open");
        assert_eq!(ledger.view().head().size, 2);
        assert_eq!(ledger.damaged(), Some(doubt.as_str()));
        assert!(matches!(ledger.enrolled(), Err(LedgerError::Corrupt(_))));
        let appended = ledger.append(vec![allocate("1.00", "ALLOC-1")], &AppendContext::now("t"));
        match appended {
            Err(LedgerError::Corrupt(reason)) => assert!(reason.contains(&doubt), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// The writer's rules run against the registries read on first use: a household
    /// enrolled twice is refused, and what a query-opened ledger appends keeps the sealed
    /// counts right for the next open.
    #[test]
    fn a_query_open_appends_against_the_registries_it_reads_on_first_use() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ctx = AppendContext::now("test");
        Ledger::init(dir.path())
            .expect("init")
            .append(vec![enroll("PL-0001", "2014-03-01")], &ctx)
            .expect("append");
        let mut ledger = Ledger::open_for_queries(dir.path()).expect("open for queries");
        let again = ledger.append(vec![enroll("PL-0001", "2015-03-01")], &ctx);
        assert!(
            matches!(again, Err(LedgerError::Rejected { total: 1, .. })),
            "{again:?}"
        );
        ledger
            .append(vec![enroll("PL-0002", "2015-03-01")], &ctx)
            .expect("a new household");
        assert_eq!(ledger.households().len(), 2);
        drop(ledger);
        let ledger = Ledger::open(dir.path()).expect("open");
        assert_eq!(ledger.damaged(), None);
        assert_eq!(ledger.enrolled().expect("not damaged").len(), 2);
    }

    /// A commit whose sync fails may have left its batch in the store: the ledger value
    /// refuses to append again (it would reuse the batch's seqs) until it is opened again,
    /// which reads the head the store has.
    #[test]
    fn after_a_failed_commit_the_ledger_appends_only_once_opened_again() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ctx = AppendContext::now("test");
        let mut ledger = Ledger::init(dir.path()).expect("init");
        ledger
            .append(vec![enroll("PL-0001", "2014-03-01")], &ctx)
            .expect("append");
        ledger.view.store.fail_syncs();
        match ledger.append(vec![allocate("1.00", "ALLOC-1")], &ctx) {
            Err(LedgerError::Store(StoreError::Io { source, .. })) => {
                assert_eq!(source.to_string(), "injected fdatasync failure");
            }
            other => panic!("expected the sync's failure, got {other:?}"),
        }
        assert_eq!(ledger.view().head().size, 1, "the head did not move");
        match ledger.append(vec![allocate("1.00", "ALLOC-2")], &ctx) {
            Err(LedgerError::Corrupt(reason)) => {
                assert!(reason.contains("open the ledger again"), "{reason}");
                assert!(reason.contains("nothing was appended"), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let group = [GroupRequest::commands(
            ctx.clone(),
            vec![allocate("1.00", "ALLOC-2")],
        )];
        match ledger.append_group(&group) {
            Err(LedgerError::Corrupt(reason)) => {
                assert!(reason.contains("open the ledger again"), "{reason}");
            }
            other => panic!("a group commit is refused too, got {other:?}"),
        }
        drop(ledger);

        let mut ledger = Ledger::open(dir.path()).expect("open again");
        let size = ledger.view().head().size;
        assert!(
            size == 1 || size == 2,
            "the failed batch is whole or absent: {size}"
        );
        let summary = ledger
            .append(
                vec![allocate("1.00", "ALLOC-1"), allocate("1.00", "ALLOC-2")],
                &ctx,
            )
            .expect("appends again");
        assert_eq!(summary.head.size, 3);
        assert_eq!(ledger.view().verify(|_| {}).expect("verify").fault, None);
    }
}
