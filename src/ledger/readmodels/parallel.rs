//! A long catch-up on two threads: this one folds while a second one reads and decodes.
//!
//! Reading and decoding cost about as much per event as folding, so on two cores a rebuild
//! takes about as long as the decoding alone. Nothing handed over points into the decoding
//! thread's heap: a payment (almost every event) travels with its texts inline, and the
//! folding thread makes its own strings. Freeing another thread's allocations, and reading
//! them from another core's cache, made an earlier version with ordinary facts no faster
//! than one thread.

use std::ops::ControlFlow;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use fundtrail_projections as proj;

use super::{
    fold_findings, map_event, FindingsSide, Folder, LogPayments, ReadSide, ReadSideError,
    RecentDates, Unprepared,
};
use crate::ledger::readmodels::facts::{date_of, payment_kind};
use crate::ledger::LedgerView;
use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::RecordV1;

/// Events handed over at a time: 2,048 handed events are about 0.4 MB, and the buffers in
/// flight and recycled took 5 MB of a million-event rebuild at 8,192.
const EVENTS_PER_HANDOFF: usize = 2_048;

/// Handoffs in flight: how far the decoding thread may run ahead.
const HANDOFFS_IN_FLIGHT: usize = 4;

/// Inline room for a household id (at most 32 ASCII characters), a program code, and a
/// reference (at most 64 characters; longer UTF-8 ones travel as ordinary facts).
const HOUSEHOLD_BYTES: usize = 32;
const PROGRAM_BYTES: usize = 32;
const REFERENCE_BYTES: usize = 64;

/// Folds the committed events `from..=to` into `side`, decoding them on a second thread,
/// which also folds the findings (from the record it has just decoded, so no event is
/// decoded twice). The findings' fold is the longest part of a catch-up (about 2 µs a
/// payment against under 1 µs for decoding and the read models, benches/README.md),
/// and it is sequential: on two cores it sets the pace.
pub(super) fn catch_up(
    side: &mut ReadSide,
    ledger: &LedgerView,
    from: Seq,
    to: Seq,
) -> Result<u64, ReadSideError> {
    let models_from = side.models.next_seq()?;
    let findings = side.findings.as_mut();
    let models = &mut side.models;
    std::thread::scope(|scope| {
        let (sender, receiver) = sync_channel(HANDOFFS_IN_FLIGHT);
        let (recycle, recycled) = sync_channel(HANDOFFS_IN_FLIGHT);
        scope.spawn(move || decode_side(ledger, (from, to), findings, sender, recycled));
        fold_side(Folder::new(models, models_from), receiver, recycle)
    })
}

/// Decodes and maps the events in order (folding each into the findings on the way),
/// handing them over in batches, up to and including the first that fails. Stops early
/// when the folding side has stopped.
fn decode_side(
    ledger: &LedgerView,
    (from, to): (Seq, Seq),
    mut findings: Option<&mut FindingsSide>,
    sender: SyncSender<Vec<Handed>>,
    recycled: Receiver<Vec<Handed>>,
) {
    let mut recent = RecentDates::new(ledger);
    let mut payments = LogPayments::new(ledger);
    let mut handoffs = Handoffs::new(EVENTS_PER_HANDOFF, sender, Some(recycled));
    ledger.visit_records(from, to, |item| {
        let item = fold_findings(findings.as_deref_mut(), &mut payments, item);
        let event = Handed::of(item, &mut recent);
        let failed = matches!(event, Handed::Mapped(Err(_)));
        handoffs.push(event, failed)
    });
    handoffs.finish();
}

/// Items handed from a reading thread to a folding one in batches of `size`, in order, up
/// to and including the first that failed; buffers the other side sends back are reused.
pub(super) struct Handoffs<T> {
    batch: Vec<T>,
    size: usize,
    sender: SyncSender<Vec<T>>,
    recycled: Option<Receiver<Vec<T>>>,
    stopped: bool,
}

impl<T> Handoffs<T> {
    pub(super) fn new(
        size: usize,
        sender: SyncSender<Vec<T>>,
        recycled: Option<Receiver<Vec<T>>>,
    ) -> Self {
        Handoffs {
            batch: Vec::with_capacity(size),
            size,
            sender,
            recycled,
            stopped: false,
        }
    }

    /// Adds `item`, handing the batch over when it is full or `item` failed. Breaks
    /// after a failure (nothing after it is read) or when the other side has stopped.
    pub(super) fn push(&mut self, item: T, failed: bool) -> ControlFlow<()> {
        self.batch.push(item);
        if failed || self.batch.len() == self.size {
            let empty = self
                .recycled
                .as_ref()
                .and_then(|recycled| recycled.try_recv().ok())
                .unwrap_or_else(|| Vec::with_capacity(self.size));
            let full = std::mem::replace(&mut self.batch, empty);
            if self.sender.send(full).is_err() || failed {
                self.stopped = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    /// Hands over the rest, unless the other side has stopped (it no longer needs them)
    /// or a failure ended the batches.
    pub(super) fn finish(self) {
        if !self.stopped {
            let _ = self.sender.send(self.batch);
        }
    }
}

/// Folds what the decoding side hands over and sends the emptied buffers back.
fn fold_side(
    mut folder: Folder<'_>,
    handoffs: Receiver<Vec<Handed>>,
    recycle: SyncSender<Vec<Handed>>,
) -> Result<u64, ReadSideError> {
    for mut handoff in handoffs {
        for event in handoff.drain(..) {
            folder.push(event.unprepared())?;
        }
        let _ = recycle.try_send(handoff);
    }
    folder.finish()
}

/// An event as handed between the threads.
enum Handed {
    /// A payment whose texts fit inline.
    Paid(InlinePayment),
    /// Any other event, or a failure, as [`map_event`] gives it.
    Mapped(Result<Unprepared, ReadSideError>),
}

impl Handed {
    fn of(
        item: Result<(Seq, EventHash, RecordV1), ReadSideError>,
        recent: &mut RecentDates<'_>,
    ) -> Handed {
        if let Ok((seq, hash, record)) = &item {
            if let Some(payment) = InlinePayment::of(*seq, *hash, record) {
                recent.note(*seq, &record.body);
                return Handed::Paid(payment);
            }
        }
        Handed::Mapped(map_event(item, recent))
    }

    /// The event as the folding side takes it, with strings of its own.
    fn unprepared(self) -> Result<Unprepared, ReadSideError> {
        match self {
            Handed::Paid(p) => Ok((
                p.seq,
                p.hash,
                Some(proj::Fact::Paid {
                    kind: p.kind,
                    household: p.household.to_string(),
                    program: p.program.to_string(),
                    amount_fen: p.amount_fen,
                    persons: p.persons,
                    date: p.date,
                    reference: p.reference.to_string(),
                }),
            )),
            Handed::Mapped(event) => event,
        }
    }
}

/// The fields of a payment's fact (as `facts::fact_of` maps them), texts inline.
struct InlinePayment {
    seq: Seq,
    hash: EventHash,
    kind: proj::PaymentKind,
    date: proj::Date,
    amount_fen: i64,
    persons: u32,
    household: Inline<HOUSEHOLD_BYTES>,
    program: Inline<PROGRAM_BYTES>,
    reference: Inline<REFERENCE_BYTES>,
}

impl InlinePayment {
    /// `None` for other events, a bad date (which `map_event` reports), or texts too long
    /// to go inline.
    fn of(seq: Seq, hash: EventHash, record: &RecordV1) -> Option<InlinePayment> {
        let (kind, p) = record.body.payment()?;
        Some(InlinePayment {
            seq,
            hash,
            kind: payment_kind(kind),
            date: date_of(p.value_date).ok()?,
            amount_fen: p.amount_fen,
            persons: p.persons,
            household: Inline::new(&p.household)?,
            program: Inline::new(&p.program)?,
            reference: Inline::new(&record.reference)?,
        })
    }
}

/// A short UTF-8 text held in place.
struct Inline<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    fn new(text: &str) -> Option<Inline<N>> {
        let mut bytes = [0; N];
        bytes
            .get_mut(..text.len())?
            .copy_from_slice(text.as_bytes());
        Some(Inline {
            len: text.len(),
            bytes,
        })
    }
}

impl<const N: usize> std::fmt::Display for Inline<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = std::str::from_utf8(&self.bytes[..self.len]).map_err(|_| std::fmt::Error)?;
        f.write_str(text)
    }
}
