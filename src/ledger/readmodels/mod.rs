//! The maintained read models: the projections' state, persisted in the ledger with the seq
//! and hash it reflects, caught up from there on open, and rebuildable from genesis.
//!
//! The snapshot is written after a batch and at most [`SNAPSHOT_LAG_EVENTS`] events behind
//! the head. It is never written in the same sled batch as events, so a crash can leave it
//! behind, never ahead: catching up applies exactly the events after its seq, after
//! checking that its hash is the log's hash at that seq.

pub mod facts;
pub mod findings;

mod parallel;

use std::ops::ControlFlow;

use fundtrail_projections::{
    trail, Fact, Prepared, ReadModels, TotalsQuery, TotalsRow, TrailEntry, TrailInput,
};

use crate::ledger::readmodels::facts::{fact_of, memo_of, TargetDates};
pub use crate::ledger::readmodels::findings::{FindingsSide, FindingsSideError, META_FINDINGS};
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
    #[error(transparent)]
    Findings(#[from] FindingsSideError),
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
    let (seq, hash, record) = item?;
    recent.note(seq, &record.body);
    Ok((seq, hash, fact_of(seq, record, recent)?))
}

/// Folds a committed event into the findings, when they are maintained and have not
/// folded it yet (their snapshot may be ahead of the read models'), and passes it on.
fn fold_findings(
    findings: Option<&mut FindingsSide>,
    item: Result<(Seq, EventHash, RecordV1), LedgerError>,
) -> Result<(Seq, EventHash, RecordV1), ReadSideError> {
    let (seq, hash, record) = item?;
    if let Some(findings) = findings.filter(|f| seq.get() >= f.next_seq()) {
        findings.fold(seq, hash, &record)?;
    }
    Ok((seq, hash, record))
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
    findings: Option<FindingsSide>,
}

/// The snapshots due to be written, made under a read lock and written without one.
pub struct Snapshot {
    models: Option<(u64, Vec<u8>)>,
    findings: Option<(u64, Vec<u8>)>,
}

impl Snapshot {
    /// The read models' snapshot bytes, if due (unsealed; the store seals them).
    pub fn models_bytes(&self) -> Option<&[u8]> {
        self.models.as_ref().map(|(_, bytes)| bytes.as_slice())
    }

    /// The findings' snapshot bytes, if due (unsealed).
    pub fn findings_bytes(&self) -> Option<&[u8]> {
        self.findings.as_ref().map(|(_, bytes)| bytes.as_slice())
    }
}

/// The seqs a written [`Snapshot`] reflects, for [`ReadSide::saved`].
#[derive(Clone, Copy, Debug)]
pub struct SavedAt {
    models: Option<u64>,
    findings: Option<u64>,
}

impl ReadSide {
    /// Loads the snapshots (if any), checks them against the log and catches up.
    pub fn open(ledger: &LedgerView) -> Result<ReadSide, ReadSideError> {
        ReadSide::open_with(ledger, FindingsFold::Maintained)
    }

    /// [`ReadSide::open`], with the findings maintained or not ([`FindingsFold`]).
    pub fn open_with(ledger: &LedgerView, fold: FindingsFold) -> Result<ReadSide, ReadSideError> {
        let models = match ledger.meta(META_READ_MODELS) {
            Ok(Some(bytes)) => decode_snapshot(&bytes)?.unwrap_or_default(),
            Ok(None) => ReadModels::new(),
            // Without the state key the snapshot cannot be authenticated: the models are
            // recomputed from the log, which needs no key.
            Err(LedgerError::Key(_)) => ReadModels::new(),
            Err(other) => return Err(other.into()),
        };
        let findings = match fold {
            FindingsFold::Maintained => Some(FindingsSide::load(ledger)?),
            FindingsFold::Off => None,
        };
        let saved_seq = models.applied().map_or(0, |a| a.seq);
        let mut side = ReadSide {
            models,
            saved_seq,
            findings,
        };
        side.check_position(ledger)?;
        side.catch_up(ledger)?;
        Ok(side)
    }

    /// Recomputes the read models and the findings from genesis.
    pub fn rebuild(ledger: &LedgerView) -> Result<ReadSide, ReadSideError> {
        let mut side = ReadSide {
            models: ReadModels::new(),
            saved_seq: 0,
            findings: Some(FindingsSide::genesis()),
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
        let mut outcome = Ok(());
        ledger.visit_records(from, to, |item| {
            let item = fold_findings(findings.as_deref_mut(), item);
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

    /// Writes the snapshots that lag by [`SNAPSHOT_LAG_EVENTS`], or all that are behind
    /// if `force`; says whether it wrote any.
    pub fn save(&mut self, ledger: &Ledger, force: bool) -> Result<bool, ReadSideError> {
        let Some(snapshot) = self.snapshot(force) else {
            return Ok(false);
        };
        let at = ReadSide::write_snapshot(ledger, snapshot)?;
        self.saved(at);
        Ok(true)
    }

    /// The snapshots to write, if any is due: [`ReadSide::save`] in two halves, so a
    /// server can write them without holding its lock on the models.
    pub fn snapshot(&self, force: bool) -> Option<Snapshot> {
        let at = self.models.applied().map_or(0, |a| a.seq);
        let models = (at != self.saved_seq
            && (force || at - self.saved_seq >= SNAPSHOT_LAG_EVENTS))
            .then(|| {
                let mut bytes = vec![SNAPSHOT_VERSION];
                bincode::serialize_into(&mut bytes, &self.models)
                    .expect("read models serialize with bincode");
                (at, bytes)
            });
        let findings = self.findings.as_ref().and_then(|f| f.snapshot(force));
        (models.is_some() || findings.is_some()).then_some(Snapshot { models, findings })
    }

    /// Records that the snapshots of `at` are on disk.
    pub fn saved(&mut self, at: SavedAt) {
        if let Some(seq) = at.models {
            self.saved_seq = self.saved_seq.max(seq);
        }
        if let (Some(seq), Some(findings)) = (at.findings, self.findings.as_mut()) {
            findings.saved(seq);
        }
    }

    /// Writes the snapshots made by [`ReadSide::snapshot`]; says what they reflect.
    pub fn write_snapshot(ledger: &Ledger, snapshot: Snapshot) -> Result<SavedAt, ReadSideError> {
        let mut at = SavedAt {
            models: None,
            findings: None,
        };
        if let Some((seq, bytes)) = snapshot.models {
            ledger.put_meta(META_READ_MODELS, bytes)?;
            at.models = Some(seq);
        }
        if let Some((seq, bytes)) = snapshot.findings {
            FindingsSide::write_snapshot(ledger, bytes)?;
            at.findings = Some(seq);
        }
        Ok(at)
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
    for (seq, _, record) in records {
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
}

impl<'s> Folder<'s> {
    fn new(models: &'s mut ReadModels, from: u64) -> Folder<'s> {
        Folder {
            models,
            from,
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
                    fold(self.models, &event)?;
                }
                return Err(error);
            }
        };
        if seq.get() < self.from {
            return Ok(());
        }
        let next = (seq, hash, fact.map(|fact| self.models.prepare(fact)));
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
