//! The read models and the findings folded alongside a large append, from the records its
//! writing threads have just encoded and written beyond the head, on a thread of their own:
//! when the append is durable the read side is already at the head but for the append's
//! last store write (at most `GROUP_COMMIT_EVENTS` events), which is read back from the
//! log as after any append. What the append wrote is never read back, decompressed or
//! decoded again.
//!
//! The fold is kept apart from what is stored until the append commits: a rejected
//! append removes the events it wrote beyond the head, and their fold is dropped with it.
//! The snapshots are saved only after the head has moved, so never ahead of the log.

use std::sync::mpsc::{sync_channel, Receiver};

use super::facts::TargetDates;
use super::{fold_finding, map_record, Folder, LogPayments, ReadSide, ReadSideError, RecentDates};
use crate::ledger::{
    AppendContext, AppendSummary, Ledger, LedgerError, LedgerView, RowSource, SignedCheckpoint,
    WrittenEvents,
};
use crate::model::domain::Seq;
use crate::model::encoding::{decode, RecordV1};

/// Store writes handed to the folding thread and not yet folded. Each holds up to
/// `GROUP_COMMIT_EVENTS` records (a few MB): when the fold falls behind, the storing thread
/// waits for it rather than let written records pile up in memory.
const WRITES_IN_FLIGHT: usize = 2;

/// An append with its read side: what the append did, and the read models and findings
/// caught up to the new head and saved, or why they could not be (the append stands: the
/// next read catches up).
pub struct Appended {
    pub summary: AppendSummary,
    pub checkpoint: Option<SignedCheckpoint>,
    pub read_side: Result<ReadSide, ReadSideError>,
}

/// The read side a fold alongside an append starts from: opened before the append
/// (loaded, checked against the log and caught up), or `None` when the ledger refuses to
/// append (damaged, or no signing key): there is nothing to fold, and the read side is
/// opened after the append, as before it.
type Start = Option<ReadSide>;

impl ReadSide {
    /// Appends every row of `source` or none and signs a checkpoint
    /// ([`Ledger::append_signed`]), folding the events into the read models and findings
    /// as a large append writes them ([`Ledger::append_rows_telling`]); once the append is
    /// durable, the rest is caught up from the log and both snapshots are saved. The read
    /// side is opened before the append, its snapshots checked against the log as on any
    /// open. A rejected or failed append drops the fold and saves nothing.
    pub fn append_signed(
        ledger: &mut Ledger,
        source: &mut dyn RowSource,
        ctx: &AppendContext,
    ) -> Result<Appended, LedgerError> {
        let start = match ledger.damaged().is_none() && ledger.view().sealing_key().is_ok() {
            true => ReadSide::open(ledger.view()).map(Some),
            false => Ok(None),
        };
        let (appended, folded) = match start {
            Ok(Some(side)) => fold_alongside(ledger, source, ctx, side),
            Ok(None) => (ledger.append_rows(source, ctx), Ok(None)),
            Err(error) => (ledger.append_rows(source, ctx), Err(error)),
        };
        let summary = appended?;
        let checkpoint = ledger.sign_after(summary.appended)?;
        let read_side = folded.and_then(|start| caught_up_and_saved(ledger, start));
        Ok(Appended {
            summary,
            checkpoint,
            read_side,
        })
    }
}

/// The append on this thread, the fold of what it writes on another.
fn fold_alongside(
    ledger: &mut Ledger,
    source: &mut dyn RowSource,
    ctx: &AppendContext,
    side: ReadSide,
) -> (
    Result<AppendSummary, LedgerError>,
    Result<Start, ReadSideError>,
) {
    let view = ledger.view().clone();
    std::thread::scope(|scope| {
        let (sender, receiver) = sync_channel(WRITES_IN_FLIGHT);
        let folding = scope.spawn(move || fold_written(side, &view, receiver));
        // The sender goes with the append and is dropped when it returns, which ends the
        // fold: after the last write told, or early when a row was rejected.
        let appended = ledger.append_rows_telling(source, ctx, Some(sender));
        let folded = folding.join().expect("the folding thread does not panic");
        (appended, folded.map(Some))
    })
}

/// Folds the events of each store write as it is handed over, in seq order, into the
/// findings and the read models. Stops at the first event that does not fold (the
/// receiver is dropped, so the append tells it nothing more); the error is the read
/// side's, reported once the append is done.
fn fold_written(
    mut side: ReadSide,
    view: &LedgerView,
    written: Receiver<WrittenEvents>,
) -> Result<ReadSide, ReadSideError> {
    let models_from = side.models.next_seq()?;
    let targets = BeyondHead(view);
    let mut recent = RecentDates::new(&targets);
    let mut findings = side.findings.as_mut();
    let mut folder = Folder::new(&mut side.models, models_from);
    // The payments this append wrote are found through what it told: their trail entries
    // and summaries are not all written until it commits.
    let mut payments = LogPayments::new(view);
    // Each event is folded where the store write's list holds it: moving 300-byte records
    // out one by one was a twelfth of this thread (benches/README.md, "The folds' CPU per
    // event").
    for mut events in written {
        for (seq, hash, record) in &mut events {
            if let Err(error) =
                fold_finding(findings.as_deref_mut(), &mut payments, *seq, *hash, record)
            {
                // Folds the events before it into the read models and returns the error.
                folder.push(Err(error))?;
            }
            if findings.is_some() {
                payments.told(*seq, record)?;
            }
            folder.push(map_record(*seq, *hash, record, &mut recent))?;
        }
    }
    folder.finish()?;
    Ok(side)
}

/// After the append: a fold that was opened before it is caught up with what was not
/// told (the last store write), else the read side is opened now; then saved.
fn caught_up_and_saved(ledger: &Ledger, start: Start) -> Result<ReadSide, ReadSideError> {
    let mut side = match start {
        Some(mut side) => {
            side.catch_up(ledger.view())?;
            side
        }
        None => ReadSide::open(ledger.view())?,
    };
    side.save(ledger, true)?;
    Ok(side)
}

/// What a reversal told alongside an append names: a committed event, through the view,
/// or one the append wrote beyond the head, from the store. A target comes before its
/// reversal, so its store write landed before the reversal's events were told. Read
/// without the store's cache of the last block: a block beyond the head may yet be
/// removed, and its seqs handed out again.
struct BeyondHead<'a>(&'a LedgerView);

impl BeyondHead<'_> {
    fn record(&self, seq: Seq) -> Result<RecordV1, String> {
        if seq.get() <= self.0.head().size {
            return self.0.record(seq).map_err(|e| e.to_string());
        }
        let stored = match self.0.store.events(seq..=seq).next() {
            Some(Ok((_, stored))) => stored,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err(format!("seq {seq} is not in the store")),
        };
        decode(&stored.record).map_err(|e| format!("seq {seq}: {e}"))
    }
}

impl TargetDates for BeyondHead<'_> {
    fn value_date(&self, seq: Seq) -> Result<i32, String> {
        super::payment_date(seq, &self.record(seq)?)
    }

    fn recovery(&self, seq: Seq) -> Result<(i32, String), String> {
        super::recovery_of(seq, self.record(seq)?)
    }
}
