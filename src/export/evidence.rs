//! Evidence read from a ledger: what `prove` and `household --proofs` hand to auditors. The
//! documents and their verification are in `proofs` (pure); this reads the store.

use crate::ledger::{LedgerError, LedgerView, SignedCheckpoint};
use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::{decode, RecordV1};
use crate::tlog::merkle::Digest;
use crate::tlog::proofs::{
    consistency_text, ConsistencyDoc, EventEvidence, InclusionDoc, TrailDoc, TrailEvent,
    TRAIL_FORMAT,
};
use crate::witness::log_side::with_cosignatures;

/// One event and its inclusion proof against a signed checkpoint.
#[derive(Debug, Clone)]
pub struct Inclusion {
    pub evidence: EventEvidence,
    pub record: RecordV1,
    pub proof: Vec<Digest>,
    pub checkpoint: SignedCheckpoint,
}

/// A consistency proof between two tree sizes, and the checkpoints signed at them.
#[derive(Debug, Clone)]
pub struct Consistency {
    pub old_size: u64,
    pub proof: Vec<Digest>,
    /// The checkpoint signed at the old size, if one was.
    pub old: Option<SignedCheckpoint>,
    pub new: SignedCheckpoint,
}

impl Inclusion {
    /// The c2sp.org/tlog-proof text, as `prove --seq` prints and the API returns.
    pub fn text(&self) -> String {
        self.evidence
            .tlog_proof(&self.proof, &self.checkpoint.note)
            .to_text()
    }

    /// The JSON document, as `prove --seq --json` prints and the API returns.
    pub fn doc(&self) -> InclusionDoc {
        InclusionDoc::new(
            &self.evidence,
            &self.record,
            &self.proof,
            &self.checkpoint.checkpoint,
            &self.checkpoint.note,
        )
    }
}

impl Consistency {
    /// The c2sp.org/tlog-witness body, as `prove --from` prints and the API returns.
    pub fn text(&self) -> String {
        consistency_text(self.old_size, &self.proof, &self.new.note)
    }

    /// The JSON document, as `prove --from --json` prints and the API returns.
    pub fn doc(&self) -> ConsistencyDoc {
        ConsistencyDoc::new(
            self.old_size,
            &self.proof,
            self.old.as_ref().map(|o| o.note.as_str()),
            &self.new.checkpoint,
            &self.new.note,
        )
    }
}

/// The signed checkpoint of `size`, or the latest when `size` is `None`, with the
/// witnesses' cosignatures when the ledger keeps them for it.
pub fn signed_checkpoint(
    ledger: &LedgerView,
    size: Option<u64>,
) -> Result<SignedCheckpoint, LedgerError> {
    let signed = match size {
        Some(size) => ledger.checkpoint_at(size)?.ok_or_else(|| {
            LedgerError::Invalid(format!(
                "the ledger signed no checkpoint of size {size} (`fundtrail checkpoint` signs the head)"
            ))
        }),
        None => ledger.latest_checkpoint()?.ok_or_else(|| {
            LedgerError::Invalid(
                "the ledger has no signed checkpoint yet (run `fundtrail checkpoint`)".into(),
            )
        }),
    }?;
    Ok(with_cosignatures(ledger.dir(), signed))
}

/// The stored bytes of event `seq` and the chain hash before it.
pub fn event_evidence(
    ledger: &LedgerView,
    seq: Seq,
) -> Result<(EventEvidence, RecordV1), LedgerError> {
    let stored = ledger.stored(seq)?;
    let prev_hash = if seq == Seq::FIRST {
        EventHash::GENESIS
    } else {
        ledger.stored(Seq::new(seq.get() - 1))?.hash
    };
    let record =
        decode(&stored.record).map_err(|e| LedgerError::Corrupt(format!("seq {seq}: {e}")))?;
    let evidence = EventEvidence {
        seq,
        prev_hash,
        record: stored.record,
    };
    if evidence.hash() != stored.hash {
        return Err(LedgerError::Corrupt(format!(
            "seq {seq}: the stored hash is not the chain hash of its record (run `fundtrail verify`)"
        )));
    }
    Ok((evidence, record))
}

/// The inclusion proof of `seq` against the checkpoint of `size` (the latest by default).
pub fn inclusion(
    ledger: &LedgerView,
    seq: Seq,
    size: Option<u64>,
) -> Result<Inclusion, LedgerError> {
    let checkpoint = signed_checkpoint(ledger, size)?;
    let cp_size = checkpoint.checkpoint.size;
    if seq.get() == 0 {
        return Err(LedgerError::Invalid("seqs start at 1".into()));
    }
    if seq.get() > cp_size {
        return Err(LedgerError::Invalid(format!(
            "seq {seq} is not in the checkpoint of size {cp_size}"
        )));
    }
    let (evidence, record) = event_evidence(ledger, seq)?;
    let proof = ledger.inclusion_proof(seq, cp_size)?;
    Ok(Inclusion {
        evidence,
        record,
        proof,
        checkpoint,
    })
}

/// The consistency proof from size `from` to the checkpoint of size `to` (the latest by
/// default).
pub fn consistency(
    ledger: &LedgerView,
    from: u64,
    to: Option<u64>,
) -> Result<Consistency, LedgerError> {
    let new = signed_checkpoint(ledger, to)?;
    let proof = ledger.consistency_proof(from, new.checkpoint.size)?;
    Ok(Consistency {
        old_size: from,
        proof,
        old: ledger.checkpoint_at(from)?,
        new,
    })
}

/// Every event of `household` up to the latest checkpoint, each with its tlog-proof.
pub fn trail(ledger: &LedgerView, household: &str) -> Result<TrailDoc, LedgerError> {
    let checkpoint = signed_checkpoint(ledger, None)?;
    let size = checkpoint.checkpoint.size;
    let mut events = Vec::new();
    // Through the household trail index (checked against its sealed summary); the
    // checkpoint may be older than the head.
    for (seq, _, _) in ledger.household_records(household)? {
        if seq.get() > size {
            break;
        }
        let (evidence, record) = event_evidence(ledger, seq)?;
        let proof = ledger.inclusion_proof(seq, size)?;
        events.push(TrailEvent::new(
            &evidence,
            &record,
            &proof,
            &checkpoint.note,
        ));
    }
    Ok(TrailDoc {
        format: TRAIL_FORMAT.into(),
        household_id: household.to_string(),
        checkpoint: checkpoint.note,
        events,
    })
}
