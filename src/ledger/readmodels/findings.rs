//! The maintained findings (issue 13): the fold of `projections::findings`, persisted in
//! its own sealed meta record with the seq and hash it reflects, checked against the log
//! and caught up with the other read models on open, and rebuildable from genesis.
//!
//! It is a snapshot of its own, not a part of the read models' record: its position is
//! its own, so a crash between the two writes leaves each consistent with the log at the
//! seq it names. The fold keeps no payment: it asks the log ([`LogPayments`]) for a
//! household's payments when a death, an end, a possible duplicate or a shared account
//! needs them, reading that household's events through the household trail index, and
//! keeps the payments of the households it asked about, decoded, in a bounded cache of its
//! own (`payment_cache.rs`) that outlives a catch-up. What it keeps grows with households,
//! persons, accounts and findings, but for 4 bytes per payment (the duplicate filter) and
//! the reversed seqs.
//!
//! Without the state key the trail index cannot be checked against its sealed summaries,
//! and no snapshot is loaded: the findings are folded from genesis, their payments kept in
//! memory (`projections::Payments`), as an export's are.

use std::io::{Read, Write};
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use fundtrail_projections::{
    Finding, Findings, FindingsError, HouseholdNumbers, LoggedPayment, PaymentLookup,
};

use crate::ledger::readmodels::facts::finding_fact_of;
use crate::ledger::readmodels::payment_cache::{Cached, PaymentCache};
use crate::ledger::{LedgerError, LedgerView, MetaWriter, ReadVerdict, SealedRead};
use crate::model::ascending::AscendingList;
use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::{self, RecordV1};

/// Meta record holding the findings snapshot.
pub const META_FINDINGS: &str = "findings";

/// First byte of the stored findings snapshot. One of an older version is ignored and the
/// findings are rebuilt from genesis (a cache; the log is the evidence); a newer one is
/// refused. Version 1 kept each live payment with its texts (about 140 bytes); version 2
/// the compact fold (names interned, 32 bytes per live payment); version 3 the fold that
/// asks for its payments (the reversed seqs and the duplicate filter's digests, 4 bytes
/// per payment, and a list of payments of its own, empty when the log answers); version
/// 4 the same with 8-byte digests (a 32-bit filter's false matches each read a
/// household's trail from the log); version 5 the same with the findings kept compact
/// (ids as 8 bytes, names as table ids, their seqs, months and programs in shared lists),
/// the households paid on each account, per year, in one list per account, and the
/// filter's digests cut to their top 48 bits (4 bytes a payment in memory).
pub const FINDINGS_SNAPSHOT_VERSION: u8 = 5;

/// Why the maintained findings cannot be used or brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum FindingsSideError {
    #[error("the findings say they reflect seq {seq} with hash {found}, but the log has {expected} there")]
    HashMismatch {
        seq: u64,
        expected: EventHash,
        found: EventHash,
    },
    #[error("the findings reflect seq {seq}, beyond the log's head {head}")]
    AheadOfLog { seq: u64, head: u64 },
    #[error("the findings snapshot does not decode: {0}")]
    Snapshot(String),
    #[error("findings: seq {seq} comes after seq {applied}: events are folded once, in order")]
    OutOfOrder { applied: u64, seq: u64 },
    #[error("findings: seq {seq}: {reason}")]
    Fold { seq: u64, reason: String },
}

/// The last event the findings reflect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    seq: u64,
    hash: [u8; 32],
}

/// What the snapshot holds: the fold and the event it reflects (the fold itself knows
/// only the last event that was a fact).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FindingsState {
    applied: Option<Position>,
    fold: Findings,
}

/// The maintained findings and the seq of the snapshot they were loaded from or saved as.
#[derive(Clone, Debug, Default)]
pub struct FindingsSide {
    state: FindingsState,
    saved_seq: u64,
    /// The fold keeps its payments in memory (`Findings::apply`): there is no state key to
    /// check the trail index the log's payments are found through.
    in_memory: bool,
    /// Why a fold failed part-way through an event (a lookup that could not be answered):
    /// the state may hold part of that event, so nothing more is folded or saved.
    broken: Option<String>,
    /// The payments of the households asked about, kept between catch-ups.
    cache: PaymentCache,
}

/// Two sides are equal when they reflect the same events with the same findings state,
/// wherever they were saved.
impl PartialEq for FindingsSide {
    fn eq(&self, other: &FindingsSide) -> bool {
        self.state == other.state
    }
}

impl FindingsSide {
    /// Empty: reflects no event (a rebuild starts here); its payments are read from
    /// `ledger`'s log, or kept in memory without the state key.
    pub fn genesis(ledger: &LedgerView) -> FindingsSide {
        FindingsSide {
            in_memory: ledger.sealing_key().is_err(),
            ..FindingsSide::default()
        }
    }

    /// Loads the snapshot (or starts from genesis without one, or without the state key,
    /// which a snapshot cannot be authenticated without) and checks its position against
    /// the log. It is not caught up here: the read side folds both in one pass.
    pub(super) fn load(ledger: &LedgerView) -> Result<FindingsSide, super::ReadSideError> {
        let state = read_state(ledger)?.unwrap_or_default();
        let side = FindingsSide {
            saved_seq: state.applied.map_or(0, |a| a.seq),
            state,
            ..FindingsSide::genesis(ledger)
        };
        side.check_position(ledger)?;
        Ok(side)
    }

    /// Loads the snapshot and catches it up to the view's head, alone: for a reader that
    /// wants the findings and not the read models (`runs::findings`).
    pub fn open(ledger: &LedgerView) -> Result<FindingsSide, super::ReadSideError> {
        let mut side = FindingsSide::load(ledger)?;
        let mut outcome = Ok(());
        let from = Seq::new(side.next_seq());
        let mut payments = LogPayments::new(ledger);
        ledger.visit_records(from, Seq::new(ledger.head().size), |item| {
            let step = item
                .map_err(super::ReadSideError::from)
                .and_then(|(seq, hash, record)| {
                    Ok(side.fold(seq, hash, &record, &mut payments)?)
                });
            match step {
                Ok(()) => ControlFlow::Continue(()),
                Err(error) => {
                    outcome = Err(error);
                    ControlFlow::Break(())
                }
            }
        });
        outcome.map(|()| side)
    }

    /// Every finding raised, in the order raised, built from the compact form the fold
    /// keeps.
    pub fn all(&self) -> Vec<Finding> {
        self.state.fold.all()
    }

    /// The finding with this id: only it is built from the compact form.
    pub fn finding(&self, id: &str) -> Option<Finding> {
        self.state.fold.finding(id)
    }

    /// The seq of the last event folded (0 for none).
    pub fn applied_seq(&self) -> u64 {
        self.state.applied.map_or(0, |a| a.seq)
    }

    /// The seq the next [`FindingsSide::fold`] must carry.
    pub fn next_seq(&self) -> u64 {
        self.applied_seq().saturating_add(1)
    }

    /// Folds one committed event, which must be the next one: a gap or a repeat would
    /// raise findings twice or miss them. `payments` answers for the payments before it.
    pub fn fold(
        &mut self,
        seq: Seq,
        hash: EventHash,
        record: &RecordV1,
        payments: &mut LogPayments<'_>,
    ) -> Result<(), FindingsSideError> {
        self.fold_numbered(seq, hash, record, None, payments)
    }

    /// As [`FindingsSide::fold`], with the number the rules' replay gave the household a
    /// payment names and the ids of the numbers met before, which must have been met by
    /// this side alone ([`Findings::apply_numbered`]).
    pub fn fold_numbered(
        &mut self,
        seq: Seq,
        hash: EventHash,
        record: &RecordV1,
        numbered: Option<(u32, &mut HouseholdNumbers)>,
        payments: &mut LogPayments<'_>,
    ) -> Result<(), FindingsSideError> {
        if let Some(reason) = &self.broken {
            return Err(FindingsSideError::Fold {
                seq: seq.get(),
                reason: format!("an earlier event did not fold: {reason}"),
            });
        }
        if seq.get() != self.next_seq() {
            return Err(FindingsSideError::OutOfOrder {
                applied: self.applied_seq(),
                seq: seq.get(),
            });
        }
        let fold_error = |reason: String| FindingsSideError::Fold {
            seq: seq.get(),
            reason,
        };
        let fact = finding_fact_of(seq, record).map_err(|e| fold_error(e.to_string()))?;
        if let Some(fact) = &fact {
            let folded = match self.in_memory {
                true => self.state.fold.apply(seq.get(), fact),
                false => {
                    let mut cached = Cached {
                        cache: &mut self.cache,
                        log: payments,
                    };
                    (self.state.fold).apply_numbered(seq.get(), fact, numbered, &mut cached)
                }
            };
            if let Err(error) = folded {
                if matches!(error, FindingsError::Lookup { .. }) {
                    self.broken = Some(error.to_string());
                    self.cache.clear();
                }
                return Err(fold_error(error.to_string()));
            }
        }
        if !self.in_memory {
            self.cache.folded(seq.get(), fact.as_ref());
        }
        self.state.applied = Some(Position {
            seq: seq.get(),
            hash: hash.into_bytes(),
        });
        Ok(())
    }

    /// The payments it keeps of the households it asked about (for the tests).
    #[cfg(test)]
    pub(super) fn cache(&self) -> &PaymentCache {
        &self.cache
    }

    /// The seq of the snapshot on disk, as far as this value knows (loaded or saved).
    pub fn saved_seq(&self) -> u64 {
        self.saved_seq
    }

    /// Whether a lookup failed while folding: the state then misses what it could not
    /// read, so it is never saved (the next open folds again from the last snapshot).
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The snapshot to write, with the seq it reflects, in memory; when it is due is the
    /// read side's policy (`ReadSide::snapshot`).
    pub fn snapshot(&self) -> (u64, Vec<u8>) {
        let at = self.applied_seq();
        // Sized first: grown by doubling, the buffer could hold twice the snapshot's bytes
        // at the moment of the write. With room for the seal the store appends, so that
        // sealing it does not move tens of MB to a larger allocation.
        let len = self.encoded_len();
        let capacity = usize::try_from(len)
            .unwrap_or(0)
            .saturating_add(crate::keys::seal::SEAL_LEN);
        let mut bytes = Vec::with_capacity(capacity);
        bytes.push(FINDINGS_SNAPSHOT_VERSION);
        bincode::serialize_into(&mut bytes, &self.state)
            .expect("the findings state serializes with bincode: plain data, ordered maps");
        (at, bytes)
    }

    /// The snapshot to write, with the seq it reflects: in memory ([`Self::snapshot`])
    /// when sled may keep it, else encoded straight into its record file, so that no
    /// whole copy is held (11 MB at 1,000,000 events, 46 MB at 4,000,000); the bytes
    /// are the same either way. The file is named when [`FindingsEncoding::write`]
    /// finishes it.
    pub fn snapshot_for(&self, metas: &MetaWriter) -> Result<(u64, FindingsEncoding), LedgerError> {
        let len = self.encoded_len();
        let sealed = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .saturating_add(crate::keys::seal::SEAL_LEN);
        if sealed <= STREAMED_ABOVE_BYTES {
            let (at, bytes) = self.snapshot();
            return Ok((at, FindingsEncoding::Bytes(bytes)));
        }
        let mut file = metas.sealed_file(META_FINDINGS, len)?;
        let encoded = file
            .write_all(&[FINDINGS_SNAPSHOT_VERSION])
            .map_err(|e| file.error(e))
            .and_then(|()| match bincode::serialize_into(&mut file, &self.state) {
                Ok(()) => Ok(()),
                Err(e) => Err(file.error(into_io(*e))),
            });
        encoded?;
        Ok((
            self.applied_seq(),
            FindingsEncoding::File {
                file: Box::new(file),
                len,
            },
        ))
    }

    /// The bytes of the snapshot: its version byte and the state's bincode.
    fn encoded_len(&self) -> u64 {
        bincode::serialized_size(&self.state)
            .expect("the findings state serializes with bincode: plain data, ordered maps")
            .saturating_add(1)
    }

    /// Records that the snapshot through `seq` is on disk.
    pub fn saved(&mut self, seq: u64) {
        self.saved_seq = self.saved_seq.max(seq);
    }

    /// Writes a snapshot made by [`FindingsSide::snapshot`].
    pub fn write_snapshot(metas: &MetaWriter, bytes: Vec<u8>) -> Result<(), LedgerError> {
        metas.put_meta(META_FINDINGS, bytes)
    }

    /// A snapshot is trusted only at a seq the log has, with the log's hash there; the
    /// events after it are then folded exactly once.
    fn check_position(&self, ledger: &LedgerView) -> Result<(), super::ReadSideError> {
        check_position(ledger, self.state.applied)
    }

    /// The BLAKE3 of the state as a snapshot stores it (after its version byte), hashed
    /// as it is encoded: `verify` compares it with the stored snapshot's without holding
    /// a second copy of the bytes.
    pub(super) fn state_digest(&self) -> [u8; 32] {
        super::encoding_digest(&self.state)
    }
}

/// The sealed size above which a snapshot is encoded straight into its file: one of at
/// most this size may be packed into sled (FORMAT.md §3, `z` row), which needs its bytes
/// whole, and holding 2 MiB costs little; a larger one is always kept as a file.
const STREAMED_ABOVE_BYTES: usize = crate::store::block::MAX_STORED_BLOCK_BYTES;

/// A findings snapshot ready to write ([`FindingsSide::snapshot_for`]).
pub enum FindingsEncoding {
    /// The bytes, unsealed: the store seals them.
    Bytes(Vec<u8>),
    /// Encoded into its file already, which is named by [`FindingsEncoding::write`];
    /// `len` bytes before the seal (boxed: its hashers are 4 KB).
    File {
        file: Box<crate::ledger::SealedFile>,
        len: u64,
    },
}

impl FindingsEncoding {
    /// The snapshot's bytes before its seal.
    pub fn record_len(&self) -> u64 {
        match self {
            FindingsEncoding::Bytes(bytes) => bytes.len() as u64,
            FindingsEncoding::File { len, .. } => *len,
        }
    }

    /// Writes it as the live findings snapshot.
    pub fn write(self, metas: &MetaWriter) -> Result<(), LedgerError> {
        match self {
            FindingsEncoding::Bytes(bytes) => FindingsSide::write_snapshot(metas, bytes),
            FindingsEncoding::File { file, .. } => file.finish(),
        }
    }
}

/// The I/O error under a failed encoding; bincode fails on nothing else for plain data.
fn into_io(error: bincode::ErrorKind) -> std::io::Error {
    match error {
        bincode::ErrorKind::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}

/// The payments the findings folded before, as the log holds them: a household's read
/// through the household trail index once its entries give the household's sealed summary
/// (`LedgerView::household_seqs`), each event checked to name the household. An import's
/// fold alongside its append also asks for payments it wrote beyond the view's head, whose
/// trail entries the append writes only every `TRAIL_ENTRY_EVENTS` events and whose
/// summaries only when it commits: [`LogPayments::told`] lists them as they are folded.
pub struct LogPayments<'a> {
    view: &'a LedgerView,
    /// Per household, the payments told beyond the view's head, as offsets from it, kept
    /// as their differences (about 2 bytes per payment of the append), only while it is
    /// folded alongside. Looked up once per payment told: foldhash (seeded per process) is
    /// faster than SipHash on short keys.
    beyond: foldhash::HashMap<String, AscendingList>,
    /// The households asked about and their committed seqs, at most
    /// [`CACHED_HOUSEHOLDS`].
    committed: foldhash::HashMap<String, std::rc::Rc<[Seq]>>,
}

/// Households whose trail [`LogPayments`] keeps between questions: checking a trail
/// against its sealed summary reads all of its entries, and a bulk import that pays a few
/// households many times alike asks about them for every payment (a rebuild of 30,000
/// such payments to two households took minutes without it). Emptied when full.
const CACHED_HOUSEHOLDS: usize = 64;

impl<'a> LogPayments<'a> {
    pub fn new(view: &'a LedgerView) -> LogPayments<'a> {
        LogPayments {
            view,
            beyond: foldhash::HashMap::default(),
            committed: foldhash::HashMap::default(),
        }
    }

    /// Lists an event written beyond the view's head, once folded, if it is a payment;
    /// events are told in seq order, and one told out of it is refused.
    pub(super) fn told(&mut self, seq: Seq, record: &RecordV1) -> Result<(), FindingsSideError> {
        let Some((_, payment)) = record.body.payment() else {
            return Ok(());
        };
        let head = self.view.head().size;
        let offset = seq.get().saturating_sub(head);
        match self.beyond.get_mut(payment.household.as_str()) {
            Some(offsets) => offsets
                .push(offset)
                .map_err(|e| FindingsSideError::OutOfOrder {
                    applied: head + e.last,
                    seq: seq.get(),
                }),
            None => {
                let offsets = AscendingList::of(offset);
                self.beyond.insert(payment.household.clone(), offsets);
                Ok(())
            }
        }
    }

    /// The seqs of `household`'s payments told beyond the view's head, ascending.
    pub(super) fn told_beyond(&self, household: &str) -> impl Iterator<Item = u64> + '_ {
        let head = self.view.head().size;
        let offsets = self.beyond.get(household).into_iter();
        offsets
            .flat_map(|o| o.iter())
            .map(move |offset| head + offset)
    }

    /// The event at `seq`: committed, through the view, or written beyond the head, from
    /// the store without its cache of the last block (a block beyond the head may yet be
    /// removed, and its seqs handed out again).
    fn record(&self, seq: Seq) -> Result<RecordV1, String> {
        if seq.get() <= self.view.head().size {
            return self.view.record(seq).map_err(|e| e.to_string());
        }
        match self.view.store.events(seq..=seq).next() {
            Some(Ok((_, stored))) => {
                encoding::decode(&stored.record).map_err(|e| format!("seq {seq}: {e}"))
            }
            Some(Err(e)) => Err(e.to_string()),
            None => Err(format!("seq {seq} is not in the store")),
        }
    }

    /// The payment recorded at `seq`, if the event there is one.
    fn payment_at(&self, seq: Seq) -> Result<Option<(RecordV1, LoggedPayment)>, String> {
        let record = self.record(seq)?;
        let fact = finding_fact_of(seq, &record).map_err(|e| e.to_string())?;
        Ok(fact
            .and_then(|fact| LoggedPayment::of(seq.get(), &fact))
            .map(|paid| (record, paid)))
    }

    /// The seqs of `household`'s events through the view's head, as its trail index lists
    /// them, kept for later questions ([`CACHED_HOUSEHOLDS`]). Read a second time when
    /// they do not give the sealed summary: a reader beside a writer may read the state
    /// record before a commit and the summaries after it.
    fn committed_seqs(&mut self, household: &str) -> Result<std::rc::Rc<[Seq]>, String> {
        if let Some(seqs) = self.committed.get(household) {
            return Ok(std::rc::Rc::clone(seqs));
        }
        let seqs: std::rc::Rc<[Seq]> = self
            .view
            .household_seqs(household)
            .or_else(|_| self.view.household_seqs(household))
            .map_err(|e| e.to_string())?
            .into();
        if self.committed.len() >= CACHED_HOUSEHOLDS {
            self.committed.clear();
        }
        self.committed
            .insert(household.to_owned(), std::rc::Rc::clone(&seqs));
        Ok(seqs)
    }
}

impl PaymentLookup for LogPayments<'_> {
    fn visit_household(
        &mut self,
        household: &str,
        before: u64,
        visit: &mut dyn FnMut(LoggedPayment) -> ControlFlow<()>,
    ) -> Result<(), String> {
        let committed = self.committed_seqs(household)?;
        let beyond = self.told_beyond(household).map(Seq::new);
        let seqs = committed.iter().copied().chain(beyond);
        for seq in seqs.take_while(|seq| seq.get() < before) {
            let Some((record, payment)) = self.payment_at(seq)? else {
                continue;
            };
            if record.body.household() != Some(household) {
                return Err(format!(
                    "the household index lists seq {seq} in household {household}'s trail, \
                     but its event names {} (run `fundtrail verify`)",
                    record.body.household().unwrap_or("no household")
                ));
            }
            if visit(payment).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn payment(&mut self, seq: u64, before: u64) -> Result<Option<LoggedPayment>, String> {
        if seq == 0 || seq >= before {
            return Ok(None);
        }
        Ok(self.payment_at(Seq::new(seq))?.map(|(_, paid)| paid))
    }

    fn program_payments(
        &mut self,
        program: &str,
        year: i32,
        before: u64,
    ) -> Result<Vec<LoggedPayment>, String> {
        let mut paid = Vec::new();
        for seq in 1..before {
            if let Some((_, p)) = self.payment_at(Seq::new(seq))? {
                if p.program == program && p.date.year == year {
                    paid.push(p);
                }
            }
        }
        Ok(paid)
    }
}

/// The stored snapshot's seq and the BLAKE3 of its state ([`FindingsSide::state_digest`]),
/// its position checked against the log; `None` when there is none, it is of an older
/// version, or the state key is not at hand (then nothing stored is trusted, as on open).
/// Only the position is decoded: the rest is compared by its hash.
pub(super) fn stored_digest(
    ledger: &LedgerView,
) -> Result<Option<(u64, [u8; 32])>, super::ReadSideError> {
    let found = match ledger.meta_reader(META_FINDINGS) {
        Ok(SealedRead::Absent) | Err(LedgerError::Key(_)) => return Ok(None),
        Ok(SealedRead::Whole(bytes)) => digest_of(&mut bytes.as_slice()),
        Ok(SealedRead::File(mut reader)) => {
            let found = digest_of(&mut reader);
            match reader.finish()? {
                ReadVerdict::Absent => return Ok(None),
                ReadVerdict::Sealed => found,
            }
        }
        Err(other) => return Err(other.into()),
    };
    let Some((applied, digest)) = found? else {
        return Ok(None);
    };
    check_position(ledger, applied)?;
    Ok(Some((applied.map_or(0, |a| a.seq), digest)))
}

/// The position a snapshot's state starts with, and the BLAKE3 of the state, read from
/// `reader` without holding its bytes; `None` for an older version.
fn digest_of(reader: &mut impl Read) -> Result<Option<PositionAndDigest>, FindingsSideError> {
    if !current_version(reader)? {
        return Ok(None);
    }
    let mut hashing = Hashing {
        reader,
        hasher: blake3::Hasher::new(),
    };
    // The position leads the state; the rest is hashed as it is read.
    let applied: Option<Position> = bincode::deserialize_from(&mut hashing)
        .map_err(|e| FindingsSideError::Snapshot(e.to_string()))?;
    std::io::copy(&mut hashing, &mut std::io::sink())
        .map_err(|e| FindingsSideError::Snapshot(e.to_string()))?;
    Ok(Some((applied, *hashing.hasher.finalize().as_bytes())))
}

/// A stored snapshot's position and the BLAKE3 of its state.
type PositionAndDigest = (Option<Position>, [u8; 32]);

/// Hashes what is read through it.
struct Hashing<'a, R> {
    reader: &'a mut R,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.reader.read(buf)?;
        self.hasher.update(&buf[..read]);
        Ok(read)
    }
}

/// The stored snapshot's state: `None` when there is none, when it is of an older
/// version, or when its file is not the bytes its reference names. One kept as a file is
/// decoded as the file is read, never held whole (11 MB at 1,000,000 events, 46 MB at
/// 4,000,000), and kept only once the file's digest and seal hold.
fn read_state(ledger: &LedgerView) -> Result<Option<FindingsState>, super::ReadSideError> {
    match ledger.meta_reader(META_FINDINGS) {
        Ok(SealedRead::Absent) | Err(LedgerError::Key(_)) => Ok(None),
        Ok(SealedRead::Whole(bytes)) => Ok(decode(&bytes)?),
        Ok(SealedRead::File(mut reader)) => {
            let len = reader.record_len();
            let decoded = decode_from(&mut reader, len);
            match reader.finish()? {
                ReadVerdict::Absent => Ok(None),
                ReadVerdict::Sealed => Ok(decoded?),
            }
        }
        Err(other) => Err(other.into()),
    }
}

/// A snapshot's state read from `reader`, of at most `len` bytes: the bytes are not
/// trusted until their seal is checked, so no length they state may allocate more than
/// they could hold.
fn decode_from(
    reader: &mut impl Read,
    len: u64,
) -> Result<Option<FindingsState>, FindingsSideError> {
    use bincode::Options;
    if !current_version(reader)? {
        return Ok(None);
    }
    // `bincode::deserialize`'s own encoding, with a limit.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(len)
        .deserialize_from(reader)
        .map(Some)
        .map_err(|e| FindingsSideError::Snapshot(e.to_string()))
}

/// Reads the version byte: whether it is this version's (an older one is `false`).
fn current_version(reader: &mut impl Read) -> Result<bool, FindingsSideError> {
    let mut version = [0; 1];
    match reader.read(&mut version) {
        Ok(0) => Ok(state_bytes(&[])?.is_some()),
        Ok(_) => Ok(state_bytes(&version)?.is_some()),
        Err(e) => Err(FindingsSideError::Snapshot(e.to_string())),
    }
}

/// A position is trusted only at a seq the log has, with the log's hash there.
fn check_position(
    ledger: &LedgerView,
    applied: Option<Position>,
) -> Result<(), super::ReadSideError> {
    let Some(applied) = applied else {
        return Ok(());
    };
    let head = ledger.head().size;
    if applied.seq > head {
        return Err(FindingsSideError::AheadOfLog {
            seq: applied.seq,
            head,
        }
        .into());
    }
    let stored = ledger.stored(Seq::new(applied.seq))?.hash;
    if stored.into_bytes() != applied.hash {
        return Err(FindingsSideError::HashMismatch {
            seq: applied.seq,
            expected: stored,
            found: EventHash::from_bytes(applied.hash),
        }
        .into());
    }
    Ok(())
}

/// The state's bytes after the version byte; `None` for an older version.
fn state_bytes(bytes: &[u8]) -> Result<Option<&[u8]>, FindingsSideError> {
    match bytes.split_first() {
        Some((&FINDINGS_SNAPSHOT_VERSION, rest)) => Ok(Some(rest)),
        Some((&version, _)) if version < FINDINGS_SNAPSHOT_VERSION => Ok(None),
        Some((version, _)) => Err(FindingsSideError::Snapshot(format!(
            "unknown snapshot version {version}, newer than this program's {FINDINGS_SNAPSHOT_VERSION}"
        ))),
        None => Err(FindingsSideError::Snapshot("empty snapshot".into())),
    }
}

/// The snapshot's state; `None` for a snapshot of an older version (replay instead).
fn decode(bytes: &[u8]) -> Result<Option<FindingsState>, FindingsSideError> {
    state_bytes(bytes)?
        .map(|state| {
            bincode::deserialize(state).map_err(|e| FindingsSideError::Snapshot(e.to_string()))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    use fundtrail_projections::{Date, FindingFact, PaymentKind};

    /// A state holding two payments alike, so one finding (`duplicate_payment`).
    fn state() -> FindingsState {
        let mut fold = Findings::new();
        for seq in 1..=2 {
            let paid = FindingFact::Paid {
                kind: PaymentKind::Disbursement,
                household: "H1".into(),
                program: "micro_wish".into(),
                amount_fen: 30_000,
                persons: 1,
                date: Date {
                    year: 2019,
                    month: 5,
                    day: 2,
                },
                account: None,
            };
            fold.apply(seq, &paid).expect("a payment folds");
        }
        assert_eq!(fold.all().len(), 1);
        FindingsState {
            applied: Some(Position {
                seq: 2,
                hash: [7; 32],
            }),
            fold,
        }
    }

    fn snapshot_of(state: FindingsState) -> Vec<u8> {
        let side = FindingsSide {
            state,
            ..FindingsSide::default()
        };
        side.snapshot().1
    }

    /// A state whose snapshot is larger than sled keeps: `households` enrolled, each
    /// under a name of 200 characters.
    fn large_state(households: u64) -> FindingsState {
        let mut fold = Findings::new();
        for seq in 1..=households {
            let enrolled = FindingFact::HouseholdEnrolled {
                household: format!("{seq:0200}"),
                category: "low_income".into(),
            };
            fold.apply(seq, &enrolled).expect("an enrollment folds");
        }
        FindingsState {
            applied: None,
            fold,
        }
    }

    /// Streamed into its file when written, decoded from its file when read: the same
    /// bytes as the snapshot in memory, the same state back, the same digest for `verify`.
    #[test]
    fn a_large_snapshot_is_streamed_both_ways() {
        let root = tempfile::tempdir().expect("tempdir");
        let ledger = crate::ledger::Ledger::init(&root.path().join("l")).expect("init");
        let side = FindingsSide {
            state: large_state(12_000),
            ..FindingsSide::default()
        };
        let (_, whole) = side.snapshot();
        assert!(whole.len() > STREAMED_ABOVE_BYTES, "{}", whole.len());
        let (_, encoding) = side.snapshot_for(&ledger.meta_writer()).expect("encoded");
        assert!(matches!(encoding, FindingsEncoding::File { .. }));
        assert_eq!(encoding.record_len(), whole.len() as u64);
        encoding.write(&ledger.meta_writer()).expect("written");
        assert_eq!(
            ledger.view().meta(META_FINDINGS).expect("read"),
            Some(whole.clone())
        );
        let back = read_state(ledger.view()).expect("read").expect("a state");
        assert!(back == side.state, "the state reads back equal");
        assert_eq!(
            stored_digest(ledger.view()).expect("digest"),
            Some((0, side.state_digest()))
        );
    }

    #[test]
    fn a_small_snapshot_is_kept_in_memory_for_sled() {
        let root = tempfile::tempdir().expect("tempdir");
        let ledger = crate::ledger::Ledger::init(&root.path().join("l")).expect("init");
        let side = FindingsSide {
            state: state(),
            ..FindingsSide::default()
        };
        let (_, encoding) = side.snapshot_for(&ledger.meta_writer()).expect("encoded");
        match &encoding {
            FindingsEncoding::Bytes(bytes) => assert_eq!(*bytes, side.snapshot().1),
            FindingsEncoding::File { .. } => panic!("a small snapshot goes to sled"),
        }
    }

    /// Bytes that are not yet checked cannot make the decoder allocate more than they hold.
    #[test]
    fn a_stated_length_beyond_the_bytes_is_refused_without_allocating_it() {
        // No position, no last seq, one program of rates, whose name says it is 2^64 - 1
        // bytes long.
        let mut bytes = vec![FINDINGS_SNAPSHOT_VERSION, 0, 0];
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        let refused = decode_from(&mut bytes.as_slice(), bytes.len() as u64);
        assert!(matches!(refused, Err(FindingsSideError::Snapshot(_))));
    }

    #[test]
    fn a_snapshot_of_this_version_reads_back_equal() {
        let bytes = snapshot_of(state());
        assert_eq!(bytes[0], FINDINGS_SNAPSHOT_VERSION);
        let back = decode(&bytes).unwrap().expect("this version is read");
        assert_eq!(back, state());
        assert_eq!(back.fold.all(), state().fold.all());
    }

    /// `verify` compares the stored state's hash with a rebuild's digest, and finds the
    /// stored position by decoding only the prefix of the state.
    #[test]
    fn the_state_digest_is_the_hash_of_the_snapshot_after_its_version_byte() {
        let bytes = snapshot_of(state());
        let side = FindingsSide {
            state: state(),
            ..FindingsSide::default()
        };
        assert_eq!(side.state_digest(), *blake3::hash(&bytes[1..]).as_bytes());
        assert_ne!(FindingsSide::default().state_digest(), side.state_digest());
        let position: Option<Position> = bincode::deserialize(&bytes[1..]).unwrap();
        assert_eq!(position, state().applied);
        assert_eq!(state_bytes(&bytes).unwrap(), Some(&bytes[1..]));
    }

    /// The store seals a snapshot by appending to its bytes: the room is there already.
    #[test]
    fn a_snapshot_has_room_for_its_seal() {
        let bytes = snapshot_of(state());
        assert!(bytes.capacity() >= bytes.len() + crate::keys::seal::SEAL_LEN);
    }

    #[test]
    fn a_snapshot_of_an_older_version_is_ignored_for_a_replay() {
        let mut bytes = snapshot_of(state());
        for older in 0..FINDINGS_SNAPSHOT_VERSION {
            bytes[0] = older;
            assert_eq!(decode(&bytes).unwrap(), None, "version {older}");
        }
        // Version 1's layout, whatever it holds, is not decoded as this one.
        assert_eq!(decode(&[1, 0xff, 0xff]).unwrap(), None);
    }

    #[test]
    fn a_newer_empty_or_cut_snapshot_is_refused() {
        let mut bytes = snapshot_of(state());
        let cut = decode(&bytes[..bytes.len() - 1]).unwrap_err().to_string();
        assert!(cut.contains("does not decode"), "{cut}");
        bytes[0] = FINDINGS_SNAPSHOT_VERSION + 1;
        let newer = decode(&bytes).unwrap_err().to_string();
        assert!(newer.contains("newer than this program's"), "{newer}");
        let empty = decode(&[]).unwrap_err().to_string();
        assert!(empty.contains("empty snapshot"), "{empty}");
    }
}
