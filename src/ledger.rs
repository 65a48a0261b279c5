//! The `Ledger`: opens the store, plans batches with the write-side rules, sequences and
//! chains events, commits them atomically and durably, and verifies the chain.
//!
//! One `Ledger` value is the only writer of its directory (the store's lock guarantees one
//! process; `&mut self` guarantees one writer inside it). Readers on other threads use a
//! [`LedgerView`]: the log as of one head. Nothing at or below a head ever changes, so a
//! view stays consistent while the writer appends beyond it.

use std::collections::BTreeMap;
use std::ops::{ControlFlow, Deref};
use std::path::Path;
use std::sync::Arc;

mod state;
mod tlog;
mod verify;

pub use tlog::SignedCheckpoint;

use crate::audit::AuditFault;
use crate::chain::chain_hash;
use crate::checkpoint::VerifierKey;
use crate::domain::{Command, EventHash, Reference, Seq, RATE_REFERENCE_PREFIX};
use crate::encoding::{decode, encode_into, Body, DecodeError, RateV1, RecordRef, RecordV1};
use crate::keys::{self, KeyError};
use crate::merkle::{Blake3Hasher, Digest, Frontier, TreeHasher, MAX_LEVELS, STORED_MIN_LEVEL};
use crate::seal::StateKey;
use crate::store::{
    OpenMode, ReferencesDigest, Store, StoreBatch, StoreError, StoredEvent, LEAF_TILE_LEAVES,
};
use crate::validate::{Budgets, Committed, HouseholdInfo, PlanError, Planned, Planner};
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
/// the derived state. Ledgers of layout 1 (a key per event) carry no layout record.
pub const STORE_LAYOUT: u32 = 3;

/// Meta records the ledger itself owns; `put_meta` refuses them.
const RESERVED_META: [&str; 3] = [META_STATE, META_VERIFIER_KEY, META_LAYOUT];

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
    /// A request made against a head that has since moved ([`GroupRequest::if_head`]).
    #[error("the ledger moved on from {expected} to {found} events; nothing was appended")]
    HeadMoved { expected: u64, found: u64 },
    /// A sealed record whose seal does not hold: changed without the ledger's key.
    #[error("the stored {0} was changed without the ledger's key (its seal does not hold); run `fundtrail verify`")]
    Unsealed(String),
    /// The ledger was written by a version of fundtrail with another store layout.
    #[error("this ledger is in store layout {found}, and this fundtrail reads layout {supported} only; open it with the version that wrote it")]
    Layout { found: u32, supported: u32 },
    #[error("{} of the rows were rejected; nothing was appended", total)]
    Rejected {
        rejections: Vec<RowRejection>,
        total: usize,
    },
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

/// A batch's rows, which the ledger may read twice: once to check them all, once to write.
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
    /// Stored Merkle nodes and leaf tiles compared with recomputed ones.
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
}

/// The writer: a view at the current head plus the state the write-side rules need.
pub struct Ledger {
    view: LedgerView,
    /// The Merkle frontier of the first `head.size` event hashes.
    frontier: Frontier,
    households: BTreeMap<String, HouseholdInfo>,
    budgets: Budgets,
    /// The digest of the reference blocks through the head (sealed with it).
    references: ReferencesDigest,
    /// Why this value may not append: the enrolled households could not be read back (a
    /// damaged event; the write-side rules would check against an incomplete list), or a
    /// failed batch could not be cleaned up. It can still be read and verified (which names
    /// a damaged seq).
    damaged: Option<String>,
}

/// A ledger reads like its own view at the current head; only the writes are its own.
impl Deref for Ledger {
    type Target = LedgerView;

    fn deref(&self) -> &LedgerView {
        &self.view
    }
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

/// What a refused append says happened.
const NOTHING_APPENDED: &str = "nothing was appended";

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

    /// Closes the ledger and returns once its locks are free, so that another process, or
    /// a direct reader of the database, can open it at once. A view still alive keeps the
    /// store open: close fails with `InUse` after waiting for it.
    pub fn close(self) -> Result<(), LedgerError> {
        let dir = self.view.store.dir().to_owned();
        drop(self);
        Ok(Store::wait_released(&dir)?)
    }

    /// Opens an existing ledger, discarding any uncommitted tail a crash left behind.
    pub fn open(dir: &Path) -> Result<Ledger, LedgerError> {
        let store = Store::open(dir, OpenMode::Existing)?;
        Ledger::load(store)
    }

    /// Reads the head and the state the write rules rely on, and checks them before
    /// anything is written: the seal (with the state key), the signed checkpoints against
    /// the head, and what lies beyond the head. A doubt leaves the ledger readable but
    /// refusing writes ([`Ledger::damaged`]), its store as it found it.
    fn load(store: Store) -> Result<Ledger, LedgerError> {
        let layout: u32 = read_meta(&store, META_LAYOUT)?.unwrap_or(1);
        if layout != STORE_LAYOUT {
            return Err(LedgerError::Layout {
                found: layout,
                supported: STORE_LAYOUT,
            });
        }
        let verifier_key = read_verifier_key(&store)?;
        let key = state::read_state_key(&store, &verifier_key);
        let state = state::read_state(&store, key.as_ref().ok())?;
        let StateRecord {
            head: stored,
            budgets,
            households: sealed_households,
            references,
        } = state.record;
        if stored.frontier.size() != stored.size {
            return Err(LedgerError::Corrupt(format!(
                "the head says {} events, its Merkle frontier {}",
                stored.size,
                stored.frontier.size()
            )));
        }
        store.expect_references(Seq(stored.size), references);
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
            },
            frontier: stored.frontier,
            households: BTreeMap::new(),
            budgets,
            references,
            damaged: state.doubt,
        };
        if ledger.damaged.is_none() {
            ledger.settle_beyond_head()?;
        }
        match ledger.load_households() {
            Ok(households) => ledger.households = households,
            Err(LedgerError::Corrupt(reason))
            | Err(LedgerError::Store(StoreError::Corrupt(reason))) => {
                ledger.damaged.get_or_insert(reason);
            }
            Err(other) => return Err(other),
        }
        ledger.check_household_count(sealed_households);
        Ok(ledger)
    }

    pub fn households(&self) -> &BTreeMap<String, HouseholdInfo> {
        &self.households
    }

    /// Why this value refuses to append, if it does: a damaged enrollment (the households
    /// could not be read back) or a commit that failed.
    pub fn damaged(&self) -> Option<&str> {
        self.damaged.as_deref()
    }

    /// An error saying why this value is damaged, and `consequence`, if it is: every
    /// append starts here (it would plan against households or a head that may not be what
    /// the store holds), and so does anything that relies on the list of households.
    pub(crate) fn refuse_if_damaged(&self, consequence: &str) -> Result<(), LedgerError> {
        self.sealing_key()?;
        match &self.damaged {
            Some(reason) => Err(LedgerError::Corrupt(format!("{reason}; {consequence}"))),
            None => Ok(()),
        }
    }

    /// The enrolled households, or an error on a damaged ledger, whose list may be
    /// incomplete: a run or a balance must not treat a household it lost as not enrolled.
    pub fn enrolled(&self) -> Result<&BTreeMap<String, HouseholdInfo>, LedgerError> {
        self.refuse_if_damaged("the enrolled households are not known")?;
        Ok(&self.households)
    }

    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// A view at the current head, for readers on other threads.
    pub fn view(&self) -> LedgerView {
        self.view.clone()
    }

    /// Appends commands as one atomic, durable batch.
    pub fn append(
        &mut self,
        commands: Vec<Command>,
        ctx: &AppendContext,
    ) -> Result<AppendSummary, LedgerError> {
        self.append_rows(&mut { commands }, ctx)
    }

    /// Appends every row, or none: all rows are checked first and every rejection is
    /// reported (up to [`MAX_REPORTED_REJECTIONS`]). Batches of up to
    /// [`GROUP_COMMIT_EVENTS`] rows are written in one pass; larger ones are read a second
    /// time and written in chunks that stay invisible until the head moves in the last one.
    pub fn append_rows(
        &mut self,
        source: &mut dyn RowSource,
        ctx: &AppendContext,
    ) -> Result<AppendSummary, LedgerError> {
        self.refuse_if_damaged(NOTHING_APPENDED)?;
        let checked = self.check_rows(source, ctx)?;
        let tile = self.partial_tile()?;
        let large = matches!(checked, Checked::Large);
        let mut writer = BatchWriter::new(self, tile, large);
        writer.batch.put_pending(self.pending_marker()?);
        let (planner_budgets, new_households, summary) = match checked {
            Checked::Small {
                planned,
                budgets,
                households,
                seqs,
                duplicates,
            } => {
                for (seq, reference, body) in &planned {
                    writer.add(ctx, *seq, reference, body);
                }
                (
                    budgets,
                    households,
                    AppendSummary {
                        seqs,
                        duplicates,
                        ..Default::default()
                    },
                )
            }
            Checked::Large => match self.write_large(source, ctx, &mut writer) {
                Ok(written) => written,
                Err(err) => return Err(self.discarding_chunks(err)),
            },
        };
        let appended = writer.appended;
        let head = self.commit(writer, planner_budgets, new_households)?;
        Ok(AppendSummary {
            appended,
            head,
            ..summary
        })
    }

    /// Appends several independent requests in one durable commit (group commit): the
    /// fdatasync is paid once for all of them. Each request is all or nothing on its own: a
    /// rejected request is reported in its slot and leaves no trace in the plan, and the
    /// requests after it are planned as if it had never come. Every event records its own
    /// request's actor and time. The outer error is the group's: nothing was committed.
    pub fn append_group(
        &mut self,
        requests: &[GroupRequest],
    ) -> Result<Vec<GroupOutcome>, LedgerError> {
        self.refuse_if_damaged(NOTHING_APPENDED)?;
        let rows: usize = requests.iter().map(|r| r.rows.len()).sum();
        assert!(
            rows <= GROUP_COMMIT_EVENTS,
            "a group holds at most GROUP_COMMIT_EVENTS rows; the caller bounds it"
        );
        let first_time = requests.first().map_or(0, |r| r.ctx.now_us);
        let mut planner = Planner::new(
            &self.view,
            &self.households,
            &self.budgets,
            self.head.size_seq_next(),
            first_time,
        );
        let tile = self.partial_tile()?;
        let mut writer = BatchWriter::new(self, tile, false);
        writer.batch.put_pending(self.pending_marker()?);
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            let found = planner.next_seq().0 - 1;
            if let Some(expected) = request.if_head.filter(|size| *size != found) {
                outcomes.push(Err(LedgerError::HeadMoved { expected, found }));
                continue;
            }
            planner.set_recorded_at(request.ctx.now_us);
            let savepoint = planner.savepoint();
            let outcome = plan_request(&mut planner, request)?;
            match &outcome {
                Ok(plan) => plan.planned.iter().for_each(|(seq, reference, body)| {
                    writer.add(&request.ctx, *seq, reference, body)
                }),
                Err(_) => planner.rollback(savepoint),
            }
            outcomes.push(outcome);
        }
        let budgets = planner.budgets().clone();
        let households = planner.new_households().clone();
        let head = self.commit(writer, budgets, households)?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.map(|plan| plan.summary(head)))
            .collect())
    }

    /// Writes what `writer` collected, with the new head and budgets, in one durable batch,
    /// and only then moves the in-memory state. Returns the head.
    fn commit(
        &mut self,
        writer: BatchWriter,
        budgets: Budgets,
        households: BTreeMap<String, HouseholdInfo>,
    ) -> Result<Head, LedgerError> {
        if writer.appended == 0 {
            return Ok(self.head);
        }
        let head = writer.head;
        let (mut batch, frontier) = writer.finish();
        batch.move_references_tip(Seq(head.size));
        let state = StateRecord {
            head: HeadRecord {
                size: head.size,
                hash: head.hash,
                frontier,
            },
            budgets,
            households: (self.households.len() + households.len()) as u64,
            references: batch
                .references_digest()
                .expect("the writer's batches continue the sealed digest"),
        };
        state::put_state(&mut batch, self.key()?, &state);
        batch.remove_pending();
        if let Err(err) = self.store.write_durable(batch) {
            // The batch may be in the store without being durable, or durable after all:
            // another append from this value would hand out its seqs again. Opening the
            // ledger again reads the head the store has.
            self.damaged = Some(format!("a commit failed ({err}); open the ledger again"));
            return Err(err.into());
        }
        self.view.head = head;
        self.view.root = state.head.frontier.root(&Blake3Hasher);
        self.frontier = state.head.frontier;
        self.budgets = state.budgets;
        self.references = state.references;
        self.households.extend(households);
        Ok(head)
    }

    /// First pass: plans every row, collecting rejections; keeps the plan if it is small.
    fn check_rows(
        &self,
        source: &mut dyn RowSource,
        ctx: &AppendContext,
    ) -> Result<Checked, LedgerError> {
        let mut planner = Planner::new(
            &self.view,
            &self.households,
            &self.budgets,
            self.head.size_seq_next(),
            ctx.now_us,
        );
        let mut rejections = Rejections::default();
        let mut planned = Vec::new();
        let mut seqs = Vec::new();
        let mut duplicates = 0u64;
        let mut large = false;
        for row in source.rows()? {
            match plan_row(&mut planner, &row)? {
                Ok(Planned::Append {
                    seq,
                    reference,
                    body,
                }) => {
                    if !large {
                        seqs.push(seq);
                        planned.push((seq, reference, body));
                    }
                }
                Ok(Planned::Duplicate(seq)) => {
                    duplicates += 1;
                    if !large {
                        seqs.push(seq);
                    }
                }
                Err(rejection) => rejections.push(rejection),
            }
            if seqs.len() > GROUP_COMMIT_EVENTS {
                large = true;
                planned = Vec::new();
                seqs = Vec::new();
            }
        }
        rejections.into_result()?;
        if large {
            return Ok(Checked::Large);
        }
        Ok(Checked::Small {
            planned,
            budgets: planner.budgets().clone(),
            households: planner.new_households().clone(),
            seqs,
            duplicates,
        })
    }

    /// Second pass for a large batch: plans again (the state is unchanged, so the plan is
    /// the same) and writes full chunks beyond the head; the caller's final batch moves it.
    fn write_large(
        &self,
        source: &mut dyn RowSource,
        ctx: &AppendContext,
        writer: &mut BatchWriter,
    ) -> Result<(Budgets, BTreeMap<String, HouseholdInfo>, AppendSummary), LedgerError> {
        let mut planner = Planner::new(
            &self.view,
            &self.households,
            &self.budgets,
            self.head.size_seq_next(),
            ctx.now_us,
        );
        let mut duplicates = 0;
        for row in source.rows()? {
            let Ok(command) = &row.command else {
                return Err(changed_between_passes(row.line));
            };
            match planner.plan(command) {
                Ok(Planned::Append {
                    seq,
                    reference,
                    body,
                }) => writer.add(ctx, seq, &reference, &body),
                Ok(Planned::Duplicate(_)) => duplicates += 1,
                Err(_) => return Err(changed_between_passes(row.line)),
            }
            if writer.pending >= GROUP_COMMIT_EVENTS {
                self.store.write(writer.take())?;
            }
        }
        let summary = AppendSummary {
            duplicates,
            ..Default::default()
        };
        Ok((
            planner.budgets().clone(),
            planner.new_households().clone(),
            summary,
        ))
    }

    /// After the second pass of a large batch failed: removes the chunks it wrote beyond
    /// the head, so that neither the store nor a later batch of this ledger (which reuses
    /// their seqs) sees them or their index entries. If that fails too, the ledger refuses
    /// to append until it is opened again, which removes them.
    fn discarding_chunks(&mut self, err: LedgerError) -> LedgerError {
        if let Err(discard) = self.discard_uncommitted() {
            self.damaged = Some(format!(
                "removing the chunks of a failed batch: {discard}; open the ledger again"
            ));
        }
        err
    }

    /// Removes everything beyond the head: event and reference blocks, household entries
    /// naming seqs beyond it, Merkle nodes and leaf tiles reaching past it, and the pending
    /// marker. Called only when nothing beyond the head can have been committed: the
    /// chunks of a large batch whose final commit never happened, proven so
    /// (`settle_beyond_head`) or written by this value a moment ago.
    fn discard_uncommitted(&mut self) -> Result<(), LedgerError> {
        let from = self.head.size_seq_next();
        let mut batch = StoreBatch::default();
        for first in self.store.blocks_from(from)? {
            batch.remove_event_block(first);
        }
        for (household, seq) in self.store.households()? {
            if seq >= from {
                batch.remove_household(&household);
            }
        }
        self.discard_nodes_beyond_head(&mut batch)?;
        if batch.keys() == 0 {
            return Ok(());
        }
        batch.remove_pending();
        self.store.write_durable(batch)?;
        Ok(())
    }

    /// The leaf hashes of the incomplete leaf tile at the head (fewer than
    /// `LEAF_TILE_LEAVES`), which the next append completes.
    fn partial_tile(&self) -> Result<Vec<Digest>, LedgerError> {
        let size = self.head.size;
        let first = size - size % LEAF_TILE_LEAVES;
        let mut leaves = Vec::with_capacity((size - first) as usize);
        for (_, hash) in self.store.event_hashes(Seq(first + 1)..=Seq(size))? {
            leaves.push(Blake3Hasher.hash_leaf(&hash.0));
        }
        if leaves.len() as u64 != size - first {
            return Err(LedgerError::Corrupt(format!(
                "events {}..={size} are not all in the store",
                first + 1
            )));
        }
        Ok(leaves)
    }

    /// Removes stored subtrees and leaf tiles that reach past the head. Left alone they would be
    /// harmless (no proof for a committed size reads them, and the append that completes
    /// them again overwrites them), but `verify` and an auditor reading the store should
    /// see only what was committed.
    fn discard_nodes_beyond_head(&self, batch: &mut StoreBatch) -> Result<(), LedgerError> {
        for level in STORED_MIN_LEVEL..MAX_LEVELS as u8 {
            // Complete subtrees within the head have indexes below size >> level.
            for index in self.store.node_indexes(level, self.head.size >> level) {
                batch.remove_node(level, index?);
            }
        }
        for index in self
            .store
            .leaf_tile_indexes(self.head.size / LEAF_TILE_LEAVES)
        {
            batch.remove_leaf_tile(index?);
        }
        Ok(())
    }

    fn load_households(&self) -> Result<BTreeMap<String, HouseholdInfo>, LedgerError> {
        let mut households = BTreeMap::new();
        for (id, seq) in self.store.households()? {
            let record = self.record(seq)?;
            let Body::HouseholdEnrolled(e) = &record.body else {
                return Err(LedgerError::Corrupt(format!(
                    "household {id} points at seq {seq}, which is not an enrollment"
                )));
            };
            if e.household != id {
                return Err(LedgerError::Corrupt(format!(
                    "household {id} points at seq {seq}, the enrollment of {}",
                    e.household
                )));
            }
            let enrollment = e.to_domain().map_err(|err| corrupt_at(seq, err))?;
            households.insert(id, HouseholdInfo { enrollment, seq });
        }
        Ok(households)
    }
}

impl LedgerView {
    pub fn head(&self) -> Head {
        self.head
    }

    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// A record kept beside the log (read-model snapshots, tokens), sealed under the state
    /// key: `Unsealed` if it was changed without the key, `Key` if the key is not at hand.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        let Some(stored) = self.store.meta(name)? else {
            return Ok(None);
        };
        let bytes = self
            .sealing_key()?
            .unwrap(name, &stored)
            .map_err(|_| LedgerError::Unsealed(format!("meta record {name}")))?;
        Ok(Some(bytes.to_vec()))
    }

    /// Writes a record durably, sealed under the state key. Reserved names of the ledger
    /// itself are refused.
    pub fn put_meta(&self, name: &str, value: Vec<u8>) -> Result<(), LedgerError> {
        assert!(
            !RESERVED_META.contains(&name),
            "the head, budgets and key are written only by the ledger itself"
        );
        let mut batch = StoreBatch::default();
        batch.put_meta(name, self.sealing_key()?.wrap(name, value));
        Ok(self.store.write_durable(batch)?)
    }

    /// The state key, or why it is not at hand.
    pub fn sealing_key(&self) -> Result<&StateKey, LedgerError> {
        self.state_key.as_ref().map_err(|reason| {
            LedgerError::Key(crate::keys::KeyError::Unavailable {
                reason: reason.to_string(),
            })
        })
    }

    pub fn size_on_disk(&self) -> Result<u64, LedgerError> {
        Ok(self.store.size_on_disk()?)
    }

    /// The same log as of an earlier head: `size` events.
    pub fn at(&self, size: u64) -> Result<LedgerView, LedgerError> {
        let hash = match size {
            0 => EventHash::GENESIS,
            n => self.stored(Seq(n))?.hash,
        };
        Ok(LedgerView {
            store: Arc::clone(&self.store),
            head: Head { size, hash },
            root: self.root_at(size)?,
            verifier_key: self.verifier_key.clone(),
            state_key: self.state_key.clone(),
        })
    }

    /// The most recent `limit` events that `filter` keeps, oldest first.
    pub fn recent(
        &self,
        filter: &LogFilter,
        limit: usize,
    ) -> Result<Vec<(Seq, EventHash, RecordV1)>, LedgerError> {
        let mut matched = Vec::new();
        for item in self.records(Seq::FIRST, Seq(self.head.size)).rev() {
            if matched.len() >= limit {
                break;
            }
            let (seq, hash, record) = item?;
            if filter.keeps(&record.body) {
                matched.push((seq, hash, record));
            }
        }
        matched.reverse();
        Ok(matched)
    }

    /// A committed event, as stored.
    pub fn stored(&self, seq: Seq) -> Result<StoredEvent, LedgerError> {
        if seq.0 == 0 || seq.0 > self.head.size {
            return Err(LedgerError::Corrupt(format!(
                "seq {seq} is not in the ledger (size {})",
                self.head.size
            )));
        }
        self.store
            .event(seq)?
            .ok_or_else(|| LedgerError::Corrupt(format!("seq {seq} is missing from the store")))
    }

    /// A committed event, decoded.
    pub fn record(&self, seq: Seq) -> Result<RecordV1, LedgerError> {
        let stored = self.stored(seq)?;
        decode(&stored.record).map_err(|e| corrupt_at(seq, e))
    }

    /// The seq recorded under an external reference.
    pub fn lookup_reference(&self, reference: &str) -> Result<Option<Seq>, LedgerError> {
        Ok(self
            .store
            .reference(reference)?
            .filter(|seq| seq.0 <= self.head.size))
    }

    /// Every committed rate (the events under `rate:` references), in reference order.
    pub fn rates(&self) -> Result<Vec<RateV1>, LedgerError> {
        let mut rates = Vec::new();
        for (reference, seq) in self.store.references_with_prefix(RATE_REFERENCE_PREFIX)? {
            if seq.0 > self.head.size {
                continue;
            }
            match self.record(seq)?.body {
                Body::RateSet(rate) => rates.push(rate),
                _ => {
                    return Err(LedgerError::Corrupt(format!(
                        "reference {reference} points at seq {seq}, which is not a rate"
                    )))
                }
            }
        }
        Ok(rates)
    }

    /// Committed events in seq order, decoded, within `range`.
    pub fn records(
        &self,
        from: Seq,
        to: Seq,
    ) -> impl DoubleEndedIterator<Item = Result<(Seq, EventHash, RecordV1), LedgerError>> + '_ {
        let to = Seq(to.0.min(self.head.size));
        self.store.events(from..=to).map(|item| {
            let (seq, stored) = item?;
            let record = decode(&stored.record).map_err(|e| corrupt_at(seq, e))?;
            Ok((seq, stored.hash, record))
        })
    }

    /// As [`LedgerView::records`], visiting each event in turn, decoded straight from its
    /// stored block (no copy of its bytes). Stops after the first error, or when `visit`
    /// breaks.
    pub fn visit_records(
        &self,
        from: Seq,
        to: Seq,
        mut visit: impl FnMut(Result<(Seq, EventHash, RecordV1), LedgerError>) -> ControlFlow<()>,
    ) {
        let to = Seq(to.0.min(self.head.size));
        let scanned = self.store.scan_events(from..=to, |seq, hash, bytes| {
            let record = decode(bytes).map_err(|e| corrupt_at(seq, e));
            let failed = record.is_err();
            let flow = visit(record.map(|record| (seq, *hash, record)));
            if failed {
                ControlFlow::Break(())
            } else {
                flow
            }
        });
        if let Err(e) = scanned {
            let _ = visit(Err(e.into()));
        }
    }
}

impl Head {
    fn size_seq_next(&self) -> Seq {
        Seq(self.size + 1)
    }
}

/// The plan of the first pass.
enum Checked {
    Small {
        planned: Vec<(Seq, Reference, Body)>,
        budgets: Budgets,
        households: BTreeMap<String, HouseholdInfo>,
        seqs: Vec<Seq>,
        duplicates: u64,
    },
    Large,
}

/// Turns planned bodies into records, chains them, extends the Merkle tree and collects
/// the store writes.
struct BatchWriter {
    head: Head,
    frontier: Frontier,
    /// Leaf hashes of the tile being filled; stored when it holds `LEAF_TILE_LEAVES`.
    tile: Vec<Digest>,
    batch: StoreBatch,
    /// A large batch: its chunks, written beyond the head, leave the in-memory reference
    /// index alone, and its last batch has the index read again.
    large: bool,
    pending: usize,
    appended: u64,
}

impl BatchWriter {
    /// A writer continuing `ledger`'s head, frontier and reference digest.
    fn new(ledger: &Ledger, tile: Vec<Digest>, large: bool) -> BatchWriter {
        BatchWriter {
            head: ledger.head,
            frontier: ledger.frontier.clone(),
            tile,
            batch: BatchWriter::fresh_batch(large, ledger.references),
            large,
            pending: 0,
            appended: 0,
        }
    }

    fn fresh_batch(large: bool, references: ReferencesDigest) -> StoreBatch {
        if large {
            StoreBatch::beyond_head_continuing(references)
        } else {
            StoreBatch::continuing(references)
        }
    }

    fn add(&mut self, ctx: &AppendContext, seq: Seq, reference: &Reference, body: &Body) {
        assert_eq!(
            seq.0,
            self.head.size + 1,
            "the planner hands out dense seqs"
        );
        let record = RecordRef {
            seq: seq.0,
            recorded_at_us: ctx.now_us,
            actor: &ctx.actor,
            reference: reference.as_str(),
            body,
        };
        let prev = self.head.hash;
        let hash = self.batch.put_event(
            seq,
            reference.as_str(),
            |out| encode_into(&record, out),
            |bytes| chain_hash(&prev, bytes),
        );
        if let Body::HouseholdEnrolled(e) = body {
            self.batch.put_household(&e.household, seq);
        }
        // About one node per 32 events (levels >= STORED_MIN_LEVEL only), and one leaf
        // tile per 64.
        let leaf = Blake3Hasher.hash_leaf(&hash.0);
        for node in self.frontier.append(&Blake3Hasher, leaf) {
            self.batch.put_node(node.level, node.index, &node.hash);
        }
        self.tile.push(leaf);
        if self.tile.len() as u64 == LEAF_TILE_LEAVES {
            self.batch
                .put_leaf_tile((seq.0 - 1) / LEAF_TILE_LEAVES, &self.tile);
            self.tile.clear();
        }
        self.head = Head { size: seq.0, hash };
        self.pending += 1;
        self.appended += 1;
    }

    fn take(&mut self) -> StoreBatch {
        self.pending = 0;
        let references = self
            .batch
            .references_digest()
            .expect("the writer's batches continue the sealed digest");
        std::mem::replace(
            &mut self.batch,
            BatchWriter::fresh_batch(self.large, references),
        )
    }

    /// The last batch and the frontier after every event added.
    fn finish(mut self) -> (StoreBatch, Frontier) {
        let mut batch = self.take();
        if self.large {
            batch.reload_reference_index();
        }
        (batch, self.frontier)
    }
}

/// One accepted request of a group: its events to write and what to report.
struct RequestPlan {
    planned: Vec<(Seq, Reference, Body)>,
    seqs: Vec<Seq>,
    duplicates: u64,
}

impl RequestPlan {
    fn summary(self, head: Head) -> AppendSummary {
        AppendSummary {
            appended: self.planned.len() as u64,
            duplicates: self.duplicates,
            seqs: self.seqs,
            head,
        }
    }
}

/// Plans one request of a group; its rejections, if any, are its own outcome.
fn plan_request(
    planner: &mut Planner,
    request: &GroupRequest,
) -> Result<Result<RequestPlan, LedgerError>, LedgerError> {
    let mut plan = RequestPlan {
        planned: Vec::new(),
        seqs: Vec::new(),
        duplicates: 0,
    };
    let mut rejections = Rejections::default();
    for row in &request.rows {
        match plan_row(planner, row)? {
            Ok(Planned::Append {
                seq,
                reference,
                body,
            }) => {
                plan.seqs.push(seq);
                plan.planned.push((seq, reference, body));
            }
            Ok(Planned::Duplicate(seq)) => {
                plan.duplicates += 1;
                plan.seqs.push(seq);
            }
            Err(rejection) => rejections.push(rejection),
        }
    }
    Ok(rejections.into_result().map(|()| plan))
}

/// Plans one row: the plan, or the row's rejection. The outer error stops the batch: the
/// committed state could not be read.
fn plan_row(
    planner: &mut Planner,
    row: &Row,
) -> Result<Result<Planned, RowRejection>, LedgerError> {
    let outcome = match &row.command {
        Ok(command) => planner.plan(command),
        Err((field, reason)) => Err(PlanError::Rejected(crate::validate::Rejection {
            field,
            reason: reason.clone(),
        })),
    };
    match outcome {
        Ok(planned) => Ok(Ok(planned)),
        Err(PlanError::Rejected(r)) => Ok(Err(RowRejection {
            line: row.line,
            field: r.field,
            reason: r.reason,
        })),
        Err(PlanError::Lookup(e)) => Err(LedgerError::Corrupt(e)),
    }
}

/// Rejections of a batch: all are counted, the first [`MAX_REPORTED_REJECTIONS`] kept.
#[derive(Default)]
struct Rejections {
    reported: Vec<RowRejection>,
    total: usize,
}

impl Rejections {
    fn push(&mut self, rejection: RowRejection) {
        self.total += 1;
        if self.reported.len() < MAX_REPORTED_REJECTIONS {
            self.reported.push(rejection);
        }
    }

    fn into_result(self) -> Result<(), LedgerError> {
        if self.total == 0 {
            return Ok(());
        }
        Err(LedgerError::Rejected {
            rejections: self.reported,
            total: self.total,
        })
    }
}

fn changed_between_passes(line: u64) -> LedgerError {
    LedgerError::Corrupt(format!(
        "row {line} planned differently on the second pass; nothing was committed"
    ))
}

fn corrupt_at(seq: Seq, err: DecodeError) -> LedgerError {
    LedgerError::Corrupt(format!("seq {seq}: {err}"))
}

impl Committed for LedgerView {
    fn reference(&self, reference: &str) -> Result<Option<Seq>, String> {
        self.lookup_reference(reference).map_err(|e| e.to_string())
    }

    fn body(&self, seq: Seq) -> Result<Body, String> {
        self.record(seq).map(|r| r.body).map_err(|e| e.to_string())
    }

    fn rates(&self) -> Result<Vec<RateV1>, String> {
        LedgerView::rates(self).map_err(|e| e.to_string())
    }
}

fn meta_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    bincode::serialize(value).expect("meta records are plain structs and maps")
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
    use crate::validate::tests::{allocate, enroll};

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
        ledger.store.fail_syncs();
        match ledger.append(vec![allocate("1.00", "ALLOC-1")], &ctx) {
            Err(LedgerError::Store(StoreError::Io { source, .. })) => {
                assert_eq!(source.to_string(), "injected fdatasync failure");
            }
            other => panic!("expected the sync's failure, got {other:?}"),
        }
        assert_eq!(ledger.head().size, 1, "the head did not move");
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
        let size = ledger.head().size;
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
        assert_eq!(ledger.verify(|_| {}).expect("verify").fault, None);
    }
}
