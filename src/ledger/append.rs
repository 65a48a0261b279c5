//! Appending: the streamed append of a batch of rows, the group commit of several
//! requests, and the one store write that commits either (FORMAT.md §3). The rules are
//! the `Planner`'s; this file turns its plan into records, chains them, extends the Merkle
//! frontier, seals the state, and writes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::state::{self, StateRecord};
use super::trails::{TrailDirectory, TrailUpdates};
use super::{
    AppendContext, AppendSummary, GroupOutcome, GroupRequest, Head, HeadRecord, Ledger,
    LedgerError, Row, RowRejection, RowSource, SignedCheckpoint, GROUP_COMMIT_EVENTS,
    MAX_REPORTED_REJECTIONS,
};
use crate::keys::seal::StateKey;
use crate::model::domain::{Command, EventHash, Reference, Seq};
use crate::model::encoding::{decode, encode_into, Body, RecordRef, RecordV1};
use crate::model::people::People;
use crate::model::rules::{
    Budgets, HouseholdInfo, PlanError, Planned, Planner, Registries, WrittenLog,
};
use crate::store::{tiles, ReferencesDigest, Store, StoreBatch};
use crate::tlog::chain::chain_hash;
use crate::tlog::merkle::{Blake3Hasher, Frontier, TreeHasher};

impl Ledger {
    /// A planner over the committed state, for a batch recorded at `now_us` by `actor`.
    fn planner(&self, now_us: i64, actor: &str) -> Planner<'_> {
        let registries = self.registries();
        let mut planner = Planner::new(
            &self.view,
            Registries {
                households: &registries.households,
                people: &registries.people,
            },
            &self.budgets,
            self.view.head.size_seq_next(),
            now_us,
        );
        planner.set_actor(actor);
        planner
    }
}

/// What a plan changes in the state the rules rely on, taken from the planner and moved
/// into the ledger once the commit is durable.
pub(super) struct Changes {
    budgets: Budgets,
    households: BTreeMap<String, HouseholdInfo>,
    /// The whole registry after the batch, when it holds people events (boxed: it is
    /// large, and most batches have none).
    people: Option<Box<People>>,
}

impl Changes {
    fn of(planner: &Planner<'_>) -> Changes {
        Changes {
            budgets: planner.budgets().clone(),
            households: planner
                .new_households()
                .iter()
                .map(|(id, info)| (id.clone(), info.clone()))
                .collect(),
            people: planner.changed_people().cloned().map(Box::new),
        }
    }
}

/// What a refused append says happened.
pub(super) const NOTHING_APPENDED: &str = "nothing was appended";

impl Ledger {
    /// Appends commands as one atomic, durable batch.
    pub fn append(
        &mut self,
        commands: Vec<Command>,
        ctx: &AppendContext,
    ) -> Result<AppendSummary, LedgerError> {
        self.append_rows(&mut { commands }, ctx)
    }

    /// Appends every row, or none: every rejection is reported (up to
    /// [`MAX_REPORTED_REJECTIONS`]) and nothing is appended. Batches of up to
    /// [`GROUP_COMMIT_EVENTS`] rows are planned whole, then written in one store write.
    /// Larger ones are read once: planned on this thread while another encodes, chains and
    /// writes them in chunks beyond the head, which stay invisible until the last batch
    /// moves the head, and are removed when a row is rejected.
    pub fn append_rows(
        &mut self,
        source: &mut dyn RowSource,
        ctx: &AppendContext,
    ) -> Result<AppendSummary, LedgerError> {
        self.append_rows_telling(source, ctx, None)
    }

    /// [`Ledger::append_rows`], telling `written` the events of a large batch as each of
    /// its store writes beyond the head lands ([`WrittenEvents`]), so that a reader can
    /// fold them while the rest is planned: in seq order, each once, and not committed
    /// until this returns `Ok` (after a rejection they are removed, and what was told of
    /// them must be thrown away). The events of the last store write, which moves the head,
    /// are not told: they are read back from the log. Nothing is told of a small batch.
    /// A receiver that hangs up is told nothing more; the append goes on.
    pub fn append_rows_telling(
        &mut self,
        source: &mut dyn RowSource,
        ctx: &AppendContext,
        written: Option<WrittenSender>,
    ) -> Result<AppendSummary, LedgerError> {
        self.refuse_if_damaged(NOTHING_APPENDED)?;
        let (writer, changes, summary) = match self.plan_and_write(source, ctx, written) {
            Ok(written) => written,
            Err(Failed {
                err,
                beyond_head: true,
            }) => return Err(self.discarding_chunks(err)),
            Err(Failed { err, .. }) => return Err(err),
        };
        let appended = writer.appended;
        let head = self.commit(writer, changes)?;
        Ok(AppendSummary {
            appended,
            head,
            ..summary
        })
    }

    /// Appends every row or none ([`Ledger::append_rows`]), then signs a checkpoint of the
    /// new head: what every command that appends does. Returns the summary and the
    /// checkpoint ([`Ledger::sign_after`]).
    pub fn append_signed(
        &mut self,
        source: &mut dyn RowSource,
        ctx: &AppendContext,
    ) -> Result<(AppendSummary, Option<SignedCheckpoint>), LedgerError> {
        let summary = self.append_rows(source, ctx)?;
        let checkpoint = self.sign_after(summary.appended)?;
        Ok((summary, checkpoint))
    }

    /// After a workflow appended `appended` events: a checkpoint of the new head, or, when
    /// nothing was appended (an identical retry), the latest one, leaving the checkpoints
    /// alone. A failure to sign after an append is [`LedgerError::Unsigned`].
    pub fn sign_after(&mut self, appended: u64) -> Result<Option<SignedCheckpoint>, LedgerError> {
        if appended == 0 {
            return self.view.latest_checkpoint();
        }
        self.checkpoint()
            .map(Some)
            .map_err(|source| LedgerError::Unsigned {
                appended,
                source: Box::new(source),
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
        let mut planner = self.planner(first_time, "");
        let mut writer = BatchWriter::new(self, false)?;
        writer.batch.put_pending(self.pending_marker()?);
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            let found = planner.next_seq().get() - 1;
            if let Some(expected) = request.if_head.filter(|size| *size != found) {
                outcomes.push(Err(LedgerError::HeadMoved { expected, found }));
                continue;
            }
            planner.set_recorded_at(request.ctx.now_us);
            planner.set_actor(&request.ctx.actor);
            let savepoint = planner.savepoint();
            let outcome = plan_request(&mut planner, request)?;
            match &outcome {
                Ok(plan) => {
                    for (seq, reference, body) in &plan.planned {
                        writer.add(&request.ctx, *seq, reference, body)?;
                    }
                }
                Err(_) => planner.rollback(savepoint),
            }
            outcomes.push(outcome);
        }
        let changes = Changes::of(&planner);
        drop(planner);
        let head = self.commit(writer, changes)?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.map(|plan| plan.summary(head)))
            .collect())
    }

    /// Writes what `writer` collected, with the new head and budgets, in one durable batch,
    /// and only then moves the in-memory state. Returns the head.
    fn commit(&mut self, writer: BatchWriter, changes: Changes) -> Result<Head, LedgerError> {
        let Changes {
            budgets,
            households,
            people,
        } = changes;
        if writer.appended == 0 {
            return Ok(self.view.head);
        }
        let head = writer.head;
        let Finished {
            mut batch,
            frontier,
            trails,
            rates: new_rates,
        } = writer.finish();
        let mut rates = self.view.rate_seqs.to_vec();
        rates.extend(new_rates);
        batch.move_references_tip(Seq::new(head.size));
        let state = StateRecord {
            head: HeadRecord {
                size: head.size,
                hash: head.hash,
                frontier,
            },
            budgets,
            households: (self.households().len() + households.len()) as u64,
            people: people.as_deref().unwrap_or(self.people()).events(),
            references: batch
                .references_digest()
                .expect("the writer's batches continue the sealed digest"),
            tokens: self.tokens,
            trails,
            rates,
        };
        state::put_state(&mut batch, self.key()?, &state);
        batch.remove_pending();
        if let Err(err) = self.view.store.write_durable(batch) {
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
        self.trails = state.trails;
        self.view.rate_seqs = std::sync::Arc::new(state.rates);
        let registries = self.registries_mut();
        registries.households.extend(households);
        if let Some(people) = people {
            registries.people = *people;
        }
        Ok(head)
    }

    /// Plans every row and writes all but the last batch: up to [`GROUP_COMMIT_EVENTS`]
    /// rows are planned whole first (a small batch is then written by the caller's
    /// commit); beyond that the rest are streamed ([`Ledger::stream_rows`]).
    fn plan_and_write(
        &self,
        source: &mut dyn RowSource,
        ctx: &AppendContext,
        written: Option<WrittenSender>,
    ) -> Result<Written, Failed> {
        let mut rows = source.rows()?;
        let mut planner = self.planner(ctx.now_us, &ctx.actor);
        let mut plan = Plan::default();
        let mut first = Vec::new();
        let mut large = false;
        for row in rows.by_ref() {
            plan.row(&mut planner, &row, &ctx.actor, &mut first)?;
            if plan.seqs.len() > GROUP_COMMIT_EVENTS {
                large = true;
                break;
            }
        }
        let mut writer = BatchWriter::new(self, large)?;
        writer.batch.put_pending(self.pending_marker()?);
        if large {
            plan.forget_seqs();
            return self.stream_rows(rows, planner, plan, first, (writer, ctx, written));
        }
        let summary = plan.finish()?;
        for (seq, reference, body) in &first {
            writer.add(ctx, *seq, reference, body)?;
        }
        Ok((writer, Changes::of(&planner), summary))
    }

    /// A large batch: this thread goes on planning the rows while another writes what is
    /// planned, in chunks of [`CHUNK_ROWS`] through a queue of [`CHUNKS_IN_FLIGHT`], to
    /// the store beyond the head. After the first rejection nothing more is written (the
    /// rows are still planned, so that every rejection is reported); the caller then
    /// removes what was written.
    fn stream_rows(
        &self,
        rows: Box<dyn Iterator<Item = Row> + '_>,
        mut planner: Planner<'_>,
        mut plan: Plan,
        first: Vec<PlannedRow>,
        (writer, ctx, written): (BatchWriter, &AppendContext, Option<WrittenSender>),
    ) -> Result<Written, Failed> {
        let beyond_head = |err| Failed {
            err,
            beyond_head: true,
        };
        let beyond = Arc::new(BeyondHead {
            store: Arc::clone(&self.view.store),
            through: AtomicU64::new(self.view.head.size),
        });
        planner.read_written_from(Arc::clone(&beyond) as Arc<dyn WrittenLog>);
        std::thread::scope(|scope| {
            let (send, receive) = std::sync::mpsc::sync_channel(CHUNKS_IN_FLIGHT);
            let writing =
                scope.spawn(move || write_chunks(writer, receive, (ctx, &beyond), written));
            let mut send = Some(send);
            let mut chunk = first;
            // The two rows after the one planned, read ahead so the planner can start
            // their lookups' loads (`Planner::look_ahead`).
            let mut rows = rows;
            let mut window: VecDeque<Row> = rows.by_ref().take(2).collect();
            while let Some(row) = window.pop_front() {
                window.extend(rows.next());
                planner.look_ahead(window.get(1).and_then(|r| r.command.as_ref().ok()));
                if chunk.len() >= CHUNK_ROWS {
                    hand_over(&mut send, &mut chunk, plan.rejections.total);
                }
                if send.is_none() && plan.rejections.total == 0 {
                    break; // the writer stopped: its error is the batch's
                }
                plan.row(&mut planner, &row, &ctx.actor, &mut chunk)
                    .map_err(beyond_head)?;
            }
            hand_over(&mut send, &mut chunk, plan.rejections.total);
            drop(send);
            let writer = writing
                .join()
                .expect("the writing thread does not panic")
                .map_err(beyond_head)?;
            let summary = plan.finish().map_err(beyond_head)?;
            Ok((writer, Changes::of(&planner), summary))
        })
    }

    /// After a large batch failed or was rejected: removes the chunks it wrote beyond
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
}

/// Planned rows handed from the planning thread to the writing one at a time: enough to
/// make the hand-over cheap per row, few enough that the rows in flight stay small.
const CHUNK_ROWS: usize = 1024;

/// Chunks the planning thread may run ahead of the writing one. With [`CHUNK_ROWS`] this
/// bounds what is planned but not yet written to a few thousand bodies (about 1 MiB).
const CHUNKS_IN_FLIGHT: usize = 4;

/// Events a large batch writes beyond the head in one store write (checked after each
/// chunk, so a write holds up to one chunk more). sled applies a write under one epoch
/// guard, so the node copies its inserts replace are freed only after the whole write:
/// at 10,000 events a write held that garbage and the write's entries (blocks, index
/// entries, tiles, trail summaries) for about 20 MiB more of the 1,000,000-row import's
/// peak than at 2,048, at the same CPU time (benches/README.md, "Scale").
const STREAM_WRITE_EVENTS: usize = 2 * CHUNK_ROWS;

/// An event to write: its seq, its reference and its body.
type PlannedRow = (Seq, Reference, Body);

/// Events a large batch has written beyond the head, as one store write put them: each
/// with its seq and chain hash. At most [`STREAM_WRITE_EVENTS`] and one chunk of them,
/// but for the first write, which holds the first [`GROUP_COMMIT_EVENTS`] rows planned.
pub type WrittenEvents = Vec<(Seq, EventHash, RecordV1)>;

/// Where [`Ledger::append_rows_telling`] sends what it has written beyond the head: a
/// bounded channel, so a reader that falls behind holds the writer back instead of
/// letting written events pile up in memory.
pub type WrittenSender = std::sync::mpsc::SyncSender<WrittenEvents>;

/// A planned and (but for its last batch) written append: the writer holding that batch,
/// the state it changes, and what to report.
type Written = (BatchWriter, Changes, AppendSummary);

/// Why an append stopped, and whether chunks of it may lie beyond the head.
struct Failed {
    err: LedgerError,
    beyond_head: bool,
}

impl From<LedgerError> for Failed {
    fn from(err: LedgerError) -> Failed {
        Failed {
            err,
            beyond_head: false,
        }
    }
}

/// What planning a batch's rows found so far.
#[derive(Default)]
struct Plan {
    rejections: Rejections,
    /// Per row, its seq; kept only while the batch is small.
    seqs: Vec<Seq>,
    /// The batch is larger than [`GROUP_COMMIT_EVENTS`] rows: no seqs are kept.
    large: bool,
    duplicates: u64,
}

impl Plan {
    /// Plans one row: an event to write goes to `planned`; a rejection is counted.
    fn row(
        &mut self,
        planner: &mut Planner,
        row: &Row,
        actor: &str,
        planned: &mut Vec<PlannedRow>,
    ) -> Result<(), LedgerError> {
        match plan_row(planner, row, actor)? {
            Ok(Planned::Append {
                seq,
                reference,
                body,
            }) => {
                self.keep(seq);
                planned.push((seq, reference, body));
            }
            Ok(Planned::Duplicate(seq)) => {
                self.duplicates += 1;
                self.keep(seq);
            }
            Err(rejection) => self.rejections.push(rejection),
        }
        Ok(())
    }

    fn keep(&mut self, seq: Seq) {
        if !self.large {
            self.seqs.push(seq);
        }
    }

    /// The batch turned out large: its seqs are not reported.
    fn forget_seqs(&mut self) {
        self.large = true;
        self.seqs = Vec::new();
    }

    /// What to report once every row is planned, or every rejection.
    fn finish(self) -> Result<AppendSummary, LedgerError> {
        self.rejections.into_result()?;
        Ok(AppendSummary {
            seqs: self.seqs,
            duplicates: self.duplicates,
            ..Default::default()
        })
    }
}

/// Hands a chunk of planned rows to the writing thread, or, once a row was rejected or
/// the writer stopped, drops it: nothing more is written.
fn hand_over(
    send: &mut Option<std::sync::mpsc::SyncSender<Vec<PlannedRow>>>,
    chunk: &mut Vec<PlannedRow>,
    rejected: usize,
) {
    let rows = std::mem::replace(chunk, Vec::with_capacity(CHUNK_ROWS));
    if rejected > 0 {
        *send = None;
    }
    if let Some(sender) = send {
        if sender.send(rows).is_err() {
            *send = None;
        }
    }
}

/// The writing thread of a large batch: adds each chunk's events to the writer and, whenever
/// it holds [`STREAM_WRITE_EVENTS`], hands its batch with those events to a storing thread
/// ([`store_writes`]) and goes on with the next chunk; returns the writer with the last
/// batch, for the commit that moves the head, once every batch handed over is written.
///
/// Two threads, since what the writer does per event (chaining, hashing into the Merkle
/// tree and the trails) and what a write does per block (sealing, compressing, sled's
/// apply) each took about half of one thread that did both, the busiest of the import's
/// (benches/README.md, "The import's writes on a thread of their own").
fn write_chunks(
    mut writer: BatchWriter,
    chunks: std::sync::mpsc::Receiver<Vec<PlannedRow>>,
    (ctx, beyond): (&AppendContext, &BeyondHead),
    written: Option<WrittenSender>,
) -> Result<BatchWriter, LedgerError> {
    let store = Arc::clone(&writer.store);
    let tell_written = written.is_some();
    std::thread::scope(|scope| {
        let (send, writes) = std::sync::mpsc::sync_channel(STORE_WRITES_WAITING);
        let storing = scope.spawn(move || store_writes(&store, writes, beyond, written));
        let added = add_chunks(&mut writer, chunks, ctx, &send, tell_written);
        drop(send);
        let stored = storing.join().expect("the storing thread does not panic");
        added.and(stored).map(|()| writer)
    })
}

/// Adds each chunk's events to the writer and hands its batch, with the last seq it holds
/// and (if `tell_written`) its records, to the storing thread whenever it holds
/// [`STREAM_WRITE_EVENTS`]; stops early once the storing thread has stopped, whose error
/// is then the batch's.
fn add_chunks(
    writer: &mut BatchWriter,
    chunks: std::sync::mpsc::Receiver<Vec<PlannedRow>>,
    ctx: &AppendContext,
    send: &std::sync::mpsc::SyncSender<StoreWrite>,
    tell_written: bool,
) -> Result<(), LedgerError> {
    let mut told = WrittenEvents::new();
    for chunk in chunks {
        for (seq, reference, body) in chunk {
            writer.add(ctx, seq, &reference, &body)?;
            if tell_written {
                told.push((seq, writer.head.hash, record_of(ctx, seq, reference, body)));
            }
        }
        if writer.pending >= STREAM_WRITE_EVENTS {
            let write = (writer.take(), writer.head.size, std::mem::take(&mut told));
            if send.send(write).is_err() {
                break;
            }
        }
    }
    Ok(())
}

/// Batches written beyond the head that may wait for the storing thread: one being written
/// and one ready, so that neither thread waits on the other in the steady state.
const STORE_WRITES_WAITING: usize = 1;

/// A batch beyond the head to write, the last seq it holds, and its events to tell.
type StoreWrite = (StoreBatch, u64, WrittenEvents);

/// The storing thread of a large batch: writes each batch handed over, in order, then
/// lets the planner read its events back and tells `written` (if any) of them. Stops at
/// the first failed write, which is the batch's error.
fn store_writes(
    store: &Store,
    writes: std::sync::mpsc::Receiver<StoreWrite>,
    beyond: &BeyondHead,
    mut written: Option<WrittenSender>,
) -> Result<(), LedgerError> {
    for (batch, through, mut told) in writes {
        store.write(batch)?;
        beyond.through.store(through, Ordering::Release);
        tell(&mut written, &mut told);
    }
    Ok(())
}

/// The events a large batch has written beyond the head, which its planner reads back
/// instead of keeping them ([`Planner::read_written_from`]).
struct BeyondHead {
    store: Arc<Store>,
    /// The last seq written beyond the head (the head itself before the first write).
    through: AtomicU64,
}

impl WrittenLog for BeyondHead {
    fn written_through(&self) -> u64 {
        self.through.load(Ordering::Acquire)
    }

    /// Read through its block's seal, as a committed event is.
    fn record(&self, seq: Seq) -> Result<RecordV1, String> {
        let stored = self
            .store
            .event(seq)
            .map_err(|e| format!("reading seq {seq}, written beyond the head: {e}"))?
            .ok_or_else(|| format!("seq {seq}, written beyond the head, is missing"))?;
        decode(&stored.record).map_err(|e| format!("seq {seq}, written beyond the head: {e}"))
    }
}

/// The record [`BatchWriter::add`] encoded for a planned row.
fn record_of(ctx: &AppendContext, seq: Seq, reference: Reference, body: Body) -> RecordV1 {
    RecordV1 {
        seq: seq.get(),
        recorded_at_us: ctx.now_us,
        actor: ctx.actor.clone(),
        reference: reference.as_str().to_owned(),
        body,
    }
}

/// Sends the events of a store write to `written`; once its receiver has hung up, stops
/// telling it anything.
fn tell(written: &mut Option<WrittenSender>, told: &mut WrittenEvents) {
    let events = std::mem::take(told);
    if let Some(sender) = written {
        if sender.send(events).is_err() {
            *written = None;
        }
    }
}

/// Turns planned bodies into records, chains them, extends the Merkle tree and collects
/// the store writes.
struct BatchWriter {
    /// The store, for the trail summaries a batch extends.
    store: std::sync::Arc<Store>,
    /// The sealed directory of the trail summaries this batch extends.
    trails_before: TrailDirectory,
    /// The trail summaries of the households this batch names.
    trails: TrailUpdates,
    /// The seqs of the rate events this batch appends.
    rates: Vec<u64>,
    head: Head,
    frontier: Frontier,
    batch: StoreBatch,
    /// A large batch: its chunks, written beyond the head, leave the in-memory reference
    /// index alone, and its last batch has the index read again.
    large: bool,
    pending: usize,
    appended: u64,
    /// The key the event blocks are sealed with.
    key: StateKey,
}

impl BatchWriter {
    /// A writer continuing `ledger`'s head, frontier and reference digest.
    fn new(ledger: &Ledger, large: bool) -> Result<BatchWriter, LedgerError> {
        let key = ledger.key()?.clone();
        Ok(BatchWriter {
            store: std::sync::Arc::clone(&ledger.view.store),
            trails_before: ledger.trails.clone(),
            trails: TrailUpdates::default(),
            rates: Vec::new(),
            head: ledger.view.head,
            frontier: ledger.frontier.clone(),
            batch: BatchWriter::fresh_batch(large, ledger.references, key.clone()),
            large,
            pending: 0,
            appended: 0,
            key,
        })
    }

    fn fresh_batch(large: bool, references: ReferencesDigest, key: StateKey) -> StoreBatch {
        if large {
            StoreBatch::beyond_head_continuing(references, key)
        } else {
            StoreBatch::continuing(references, key)
        }
    }

    fn add(
        &mut self,
        ctx: &AppendContext,
        seq: Seq,
        reference: &Reference,
        body: &Body,
    ) -> Result<(), LedgerError> {
        assert_eq!(
            seq.get(),
            self.head.size + 1,
            "the planner hands out dense seqs"
        );
        let record = RecordRef {
            seq: seq.get(),
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
        if body.is_people_event() {
            self.batch.put_people_event(seq);
        }
        if let Body::RateSet(_) = body {
            self.rates.push(seq.get());
        }
        if let Some(household) = body.household() {
            self.trails
                .add(&self.store, &self.trails_before, household, seq)?;
            self.trails.flush_if_full(&mut self.batch);
        }
        // About one node per 32 events (levels >= STORED_MIN_LEVEL only); leaf hashes are
        // not stored (the event blocks hold each event's hash).
        let leaf = Blake3Hasher.hash_leaf(hash.as_bytes());
        let batch = &mut self.batch;
        self.frontier
            .append_visiting(&Blake3Hasher, leaf, |id, hash| {
                if tiles::is_stored(id) {
                    batch.put_node(id.level(), id.index(), hash);
                }
            });
        self.head = Head {
            size: seq.get(),
            hash,
        };
        self.pending += 1;
        self.appended += 1;
        Ok(())
    }

    fn take(&mut self) -> StoreBatch {
        self.pending = 0;
        let references = self
            .batch
            .references_digest()
            .expect("the writer's batches continue the sealed digest");
        std::mem::replace(
            &mut self.batch,
            BatchWriter::fresh_batch(self.large, references, self.key.clone()),
        )
    }

    /// The last batch, with the trail summaries the events extended, the frontier after
    /// every event added, and the trail directory after the batch.
    fn finish(mut self) -> Finished {
        let mut batch = self.take();
        // Flushed while the batch is still beyond the head: a large batch's trail entries
        // (one per household) are then applied in parts, as its chunks' were.
        self.trails.flush(&mut batch);
        if self.large {
            batch.reload_reference_index();
        }
        let trails = self.trails.finish(&mut batch, &self.trails_before);
        Finished {
            batch,
            frontier: self.frontier,
            trails,
            rates: self.rates,
        }
    }
}

/// A writer's last batch and what the state record seals after it.
struct Finished {
    batch: StoreBatch,
    frontier: Frontier,
    trails: TrailDirectory,
    /// The seqs of the rate events the batch appended.
    rates: Vec<u64>,
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
        match plan_row(planner, row, &request.ctx.actor)? {
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
    actor: &str,
) -> Result<Result<Planned, RowRejection>, LedgerError> {
    let outcome = match &row.command {
        Ok(command) => check_actor(command, actor).and_then(|()| planner.plan(command)),
        Err((field, reason)) => Err(PlanError::Rejected(crate::model::rules::Rejection {
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

/// A decision about a finding names who decides, for four eyes: that must be who records
/// it.
fn check_actor(command: &Command, actor: &str) -> Result<(), PlanError> {
    match command {
        Command::ResolveFinding(d) if d.actor != actor => {
            Err(PlanError::Rejected(crate::model::rules::Rejection {
                field: "actor",
                reason: format!("the decision names {}, but {actor} records it", d.actor),
            }))
        }
        _ => Ok(()),
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
