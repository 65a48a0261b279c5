//! The maintained read models: the projections' state, persisted in the ledger with the seq
//! and hash it reflects, caught up from there on open, and rebuildable from genesis.
//!
//! The snapshot is written after a batch and at most [`SNAPSHOT_LAG_EVENTS`] events behind
//! the head. It is never written in the same sled batch as events, so a crash can leave it
//! behind, never ahead: catching up applies exactly the events after its seq, after
//! checking that its hash is the log's hash at that seq.

pub mod facts;

mod parallel;

use std::ops::ControlFlow;

use fundtrail_projections::{
    trail, Fact, Prepared, ReadModels, TotalsQuery, TotalsRow, TrailEntry, TrailInput,
};

use crate::ledger::readmodels::facts::{fact_of, memo_of, TargetDates};
use crate::ledger::{Ledger, LedgerError, LedgerView};
use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::{Body, RecordV1};

/// A snapshot older than this many events is rewritten when the read side catches up.
/// Catching up costs a few µs per event, so this bounds the work an open does to well
/// under a second, while a single-row append does not rewrite the whole state.
pub const SNAPSHOT_LAG_EVENTS: u64 = 10_000;

/// Meta record holding the snapshot.
pub const META_READ_MODELS: &str = "read_models";

/// First byte of the stored snapshot. A snapshot of another version (an older release's)
/// is ignored and the models are rebuilt from genesis, then saved in this version: the
/// snapshot is a cache, and a replay from the log is always correct.
/// Version 2: name tables as name lists, household cells per program and month only, no
/// totals cube (all coarser cells are derived from those when first queried).
/// Version 3: receivables per finding, recovered money per household, program and month,
/// and each fund's recovered sum (issue 13, recoveries).
pub const SNAPSHOT_VERSION: u8 = 3;

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
    item: Result<(Seq, EventHash, RecordV1), LedgerError>,
    recent: &mut RecentDates<'_>,
) -> Result<Unprepared, ReadSideError> {
    let (seq, hash, record) = item?;
    recent.note(seq, &record.body);
    Ok((seq, hash, fact_of(seq, record, recent)?))
}

/// Payments a replay remembers the value dates of: a reversal usually follows its payment
/// closely, and finds the date here instead of reading the payment back from the store (a
/// block read and a decode, which cost a replay 6%). Constant memory: 64 KiB.
const RECENT_PAYMENTS: usize = 4_096;

/// The value dates of the most recent payments of a replay, by seq; other targets are
/// read from the ledger.
struct RecentDates<'a> {
    ledger: &'a LedgerView,
    /// Slot `seq % RECENT_PAYMENTS`: the seq it holds and that payment's value date.
    slots: Vec<(u64, i32)>,
}

impl<'a> RecentDates<'a> {
    fn new(ledger: &'a LedgerView) -> RecentDates<'a> {
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

/// The read models and the seq of the snapshot they were loaded from.
pub struct ReadSide {
    models: ReadModels,
    saved_seq: u64,
}

impl ReadSide {
    /// Loads the snapshot (if any), checks it against the log and catches up.
    pub fn open(ledger: &LedgerView) -> Result<ReadSide, ReadSideError> {
        let models = match ledger.meta(META_READ_MODELS) {
            Ok(Some(bytes)) => decode_snapshot(&bytes)?.unwrap_or_default(),
            Ok(None) => ReadModels::new(),
            // Without the state key the snapshot cannot be authenticated: the models are
            // recomputed from the log, which needs no key.
            Err(LedgerError::Key(_)) => ReadModels::new(),
            Err(other) => return Err(other.into()),
        };
        let saved_seq = models.applied().map_or(0, |a| a.seq);
        let mut side = ReadSide { models, saved_seq };
        side.check_position(ledger)?;
        side.catch_up(ledger)?;
        Ok(side)
    }

    /// Recomputes the read models from genesis.
    pub fn rebuild(ledger: &LedgerView) -> Result<ReadSide, ReadSideError> {
        let mut side = ReadSide {
            models: ReadModels::new(),
            saved_seq: 0,
        };
        side.catch_up(ledger)?;
        Ok(side)
    }

    pub fn models(&self) -> &ReadModels {
        &self.models
    }

    /// Applies every committed event after the models' position; returns how many.
    ///
    /// Each event is decoded straight from its stored block and prepared one event ahead
    /// of being folded, with a prefetch of the cell it will change: preparing the next
    /// event hides that cell's cache miss.
    pub fn catch_up(&mut self, ledger: &LedgerView) -> Result<u64, ReadSideError> {
        let from = Seq::new(self.models.next_seq()?);
        let to = Seq::new(ledger.head().size);
        if to.get() >= from.get().saturating_add(PARALLEL_CATCH_UP_EVENTS) {
            return parallel::catch_up(self, ledger, from, to);
        }
        let mut folder = Folder::new(self);
        let mut recent = RecentDates::new(ledger);
        let mut outcome = Ok(());
        ledger.visit_records(from, to, |item| {
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

    fn fold(&mut self, (seq, hash, fact): &Mapped) -> Result<(), ReadSideError> {
        match fact {
            Some(prepared) => self
                .models
                .apply_prepared(seq.get(), hash.into_bytes(), prepared)?,
            None => self.models.skip(seq.get(), hash.into_bytes())?,
        }
        Ok(())
    }

    /// Writes the snapshot if it lags the models by [`SNAPSHOT_LAG_EVENTS`] or `force`.
    pub fn save(&mut self, ledger: &Ledger, force: bool) -> Result<bool, ReadSideError> {
        let Some((at, bytes)) = self.snapshot(force) else {
            return Ok(false);
        };
        ledger.put_meta(META_READ_MODELS, bytes)?;
        self.saved(at);
        Ok(true)
    }

    /// The snapshot to write, with the seq it reflects, if it is due: [`ReadSide::save`]
    /// in two halves, so a server can write it without holding its lock on the models.
    pub fn snapshot(&self, force: bool) -> Option<(u64, Vec<u8>)> {
        let at = self.models.applied().map_or(0, |a| a.seq);
        if at == self.saved_seq || (!force && at - self.saved_seq < SNAPSHOT_LAG_EVENTS) {
            return None;
        }
        let mut bytes = vec![SNAPSHOT_VERSION];
        bytes.extend(bincode::serialize(&self.models).expect("read models serialize with bincode"));
        Some((at, bytes))
    }

    /// Records that the snapshot through `seq` is on disk.
    pub fn saved(&mut self, seq: u64) {
        self.saved_seq = self.saved_seq.max(seq);
    }

    /// Writes a snapshot made by [`ReadSide::snapshot`].
    pub fn write_snapshot(ledger: &Ledger, bytes: Vec<u8>) -> Result<(), ReadSideError> {
        Ok(ledger.put_meta(META_READ_MODELS, bytes)?)
    }

    /// Totals from the maintained state.
    pub fn totals(&self, query: &TotalsQuery) -> Vec<TotalsRow> {
        self.models.totals(query)
    }

    fn check_position(&self, ledger: &LedgerView) -> Result<(), ReadSideError> {
        let Some(applied) = self.models.applied() else {
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
}

/// A household's events in seq order, with reversals linked: a scan of the log through the
/// view's head (trails grow with events, so they are not kept as state).
pub fn household_trail(ledger: &LedgerView, id: &str) -> Result<Vec<TrailEntry>, ReadSideError> {
    let mut inputs = Vec::new();
    for item in ledger.records(Seq::FIRST, Seq::new(ledger.head().size)) {
        let (seq, _, record) = item?;
        if record.body.household() != Some(id) {
            continue;
        }
        let memo = memo_of(&record);
        if let Some(fact) = fact_of(seq, record, ledger)? {
            inputs.push((seq.get(), TrailInput { fact, memo }));
        }
    }
    Ok(trail(inputs))
}

/// The snapshot's models; `None` for a snapshot of an older version (replay instead).
fn decode_snapshot(bytes: &[u8]) -> Result<Option<ReadModels>, ReadSideError> {
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

impl TargetDates for crate::ledger::LedgerView {
    fn value_date(&self, seq: Seq) -> Result<i32, String> {
        let record = self.record(seq).map_err(|e| e.to_string())?;
        match record.body.payment() {
            Some((_, p)) => Ok(p.value_date),
            None if matches!(record.body, Body::Reversal(_)) => {
                Err(format!("seq {seq} is a reversal, not a payment"))
            }
            None => Err(format!("seq {seq} is not a payment")),
        }
    }

    fn recovery(&self, seq: Seq) -> Result<(i32, String), String> {
        match self.record(seq).map_err(|e| e.to_string())?.body {
            Body::RecoveryReceived(r) => Ok((r.value_date, r.finding)),
            _ => Err(format!("seq {seq} is not a recovery")),
        }
    }
}

/// Folds events in order, each prepared one event ahead of being folded.
struct Folder<'s> {
    side: &'s mut ReadSide,
    pending: Option<Mapped>,
    applied: u64,
}

impl<'s> Folder<'s> {
    fn new(side: &'s mut ReadSide) -> Folder<'s> {
        Folder {
            side,
            pending: None,
            applied: 0,
        }
    }

    /// Prepares the next event and folds the one before it. An event that does not map
    /// is reported after the ones before it are folded.
    fn push(&mut self, event: Result<Unprepared, ReadSideError>) -> Result<(), ReadSideError> {
        let (seq, hash, fact) = match event {
            Ok(event) => event,
            Err(error) => {
                if let Some(event) = self.pending.take() {
                    self.side.fold(&event)?;
                }
                return Err(error);
            }
        };
        let next = (seq, hash, fact.map(|fact| self.side.models.prepare(fact)));
        if let Some(event) = self.pending.replace(next) {
            self.side.fold(&event)?;
            self.applied += 1;
        }
        Ok(())
    }

    /// Folds the last event; returns how many were folded.
    fn finish(mut self) -> Result<u64, ReadSideError> {
        if let Some(event) = self.pending.take() {
            self.side.fold(&event)?;
            self.applied += 1;
        }
        Ok(self.applied)
    }
}
