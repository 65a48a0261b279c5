//! Proof documents (FORMAT.md §8 and §10): one event's inclusion in a checkpoint, the
//! consistency of two checkpoints, and one household's trail of events with proofs; their
//! text and JSON forms, and their verification against a verifier key alone.
//!
//! Pure. The text forms are C2SP formats, so existing transparency-log tools can parse
//! them: an inclusion proof is a c2sp.org/tlog-proof whose extra data is the event's
//! `prev_hash ‖ record` (the data that reconstructs the leaf), and a consistency proof is
//! the body of a c2sp.org/tlog-witness add-checkpoint request. Those specs assume SHA-256
//! trees; this log's tree hash is BLAKE3, so only a BLAKE3-aware verifier checks the hashes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::{decode, RecordV1};
use crate::model::json_object::unique_members;
use crate::model::render::record_fields;
use crate::tlog::chain::chain_hash;
use crate::tlog::checkpoint::{decode_hash, open_note, parse_decimal, Checkpoint, CheckpointError};
use crate::tlog::merkle::{self, Blake3Hasher, Digest, TreeHasher, VerifyError, HASH_LEN};
use crate::tlog::note::VerifierKey;
use crate::tlog::tlog_proof::{TlogProof, MAX_PROOF_HASHES, TLOG_PROOF_HEADER};

/// The `format` of an inclusion proof in JSON.
pub const INCLUSION_FORMAT: &str = "fundtrail.inclusion.v1";
/// The `format` of a consistency proof in JSON.
pub const CONSISTENCY_FORMAT: &str = "fundtrail.consistency.v1";
/// The `format` of a household's trail with proofs.
pub const TRAIL_FORMAT: &str = "fundtrail.trail.v1";

/// The first line of a consistency proof's text form starts with this, as the body of a
/// c2sp.org/tlog-witness add-checkpoint request does.
const OLD_SIZE_PREFIX: &str = "old ";

/// c2sp.org/tlog-witness allows at most 63 consistency proof lines (enough for any tree
/// below 2^63 leaves).
pub const MAX_CONSISTENCY_HASHES: usize = 63;

/// Why a proof document does not prove what it claims.
#[derive(Debug, thiserror::Error)]
pub enum ProofFault {
    #[error("{0}")]
    Malformed(String),
    #[error("{what}: {source}")]
    Checkpoint {
        what: &'static str,
        source: CheckpointError,
    },
    #[error("seq {seq}: {reason}")]
    Event { seq: Seq, reason: String },
    #[error("seq {seq}: the inclusion proof does not lead to the checkpoint's root: {source}")]
    Inclusion { seq: Seq, source: VerifyError },
    #[error(
        "the signed checkpoint of the old size {size} is needed to check this proof (--old FILE)"
    )]
    MissingOld { size: u64 },
    #[error("the proof does not show that the checkpoint of size {new} extends the one of size {old}: {source}")]
    Consistency {
        old: u64,
        new: u64,
        source: VerifyError,
    },
}

impl ProofFault {
    /// The seq the fault concerns, when it concerns one.
    pub fn first_bad_seq(&self) -> Option<Seq> {
        match self {
            ProofFault::Event { seq, .. } | ProofFault::Inclusion { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

fn malformed(what: impl std::fmt::Display) -> ProofFault {
    ProofFault::Malformed(what.to_string())
}

fn event_fault(seq: Seq, reason: impl Into<String>) -> ProofFault {
    ProofFault::Event {
        seq,
        reason: reason.into(),
    }
}

fn opened(what: &'static str, note: &str, key: &VerifierKey) -> Result<Checkpoint, ProofFault> {
    open_note(note, key).map_err(|source| ProofFault::Checkpoint { what, source })
}

/// One event as evidence: what reconstructs its chain hash, and so its Merkle leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEvidence {
    pub seq: Seq,
    /// The chain hash of the event before (genesis, all zeros, for seq 1).
    pub prev_hash: EventHash,
    /// The stored record bytes.
    pub record: Vec<u8>,
}

impl EventEvidence {
    /// The event's chain hash, `H(tag ‖ prev_hash ‖ record)`: the Merkle leaf's data.
    pub fn hash(&self) -> EventHash {
        chain_hash(&self.prev_hash, &self.record)
    }

    /// The Merkle leaf hash, `H(0x00 ‖ hash)`.
    pub fn leaf_hash(&self) -> Digest {
        Blake3Hasher.hash_leaf(self.hash().as_bytes())
    }

    /// The tlog-proof extra data: `prev_hash ‖ record`.
    pub fn extra(&self) -> Vec<u8> {
        [&self.prev_hash.as_bytes()[..], &self.record].concat()
    }

    /// The evidence of the event at `seq` from tlog-proof extra data.
    pub fn from_extra(seq: Seq, extra: &[u8]) -> Result<EventEvidence, ProofFault> {
        if extra.len() <= HASH_LEN {
            return Err(event_fault(
                seq,
                format!(
                    "the extra data is {} bytes, too short for a prev_hash and a record",
                    extra.len()
                ),
            ));
        }
        let (prev, record) = extra.split_at(HASH_LEN);
        Ok(EventEvidence {
            seq,
            prev_hash: EventHash::from_bytes(prev.try_into().expect("split_at(HASH_LEN)")),
            record: record.to_vec(),
        })
    }

    /// Decodes the record and checks that it says it is this seq.
    pub fn decode(&self) -> Result<RecordV1, ProofFault> {
        let record = decode(&self.record).map_err(|e| event_fault(self.seq, e.to_string()))?;
        if record.seq != self.seq.get() {
            return Err(event_fault(
                self.seq,
                format!("the record says it is seq {}", record.seq),
            ));
        }
        Ok(record)
    }

    /// The tlog-proof of this event against a signed checkpoint.
    pub fn tlog_proof(&self, proof: &[Digest], note: &str) -> TlogProof {
        TlogProof {
            extra: Some(self.extra()),
            index: self.seq.get() - 1,
            hashes: proof.to_vec(),
            checkpoint: note.to_string(),
        }
    }

    /// Checks that a stated hash is the one the evidence gives.
    fn check_hash(&self, stated: &str) -> Result<EventHash, ProofFault> {
        let computed = self.hash();
        if hex_digest(self.seq, "hash", stated)? != computed.into_bytes() {
            return Err(event_fault(
                self.seq,
                format!("hash is {stated}, but prev_hash and record give {computed}"),
            ));
        }
        Ok(computed)
    }

    /// Checks the inclusion proof against the checkpoint.
    fn check_inclusion(&self, proof: &[Digest], checkpoint: &Checkpoint) -> Result<(), ProofFault> {
        merkle::verify_inclusion(
            &Blake3Hasher,
            self.seq.get() - 1,
            checkpoint.size,
            &self.leaf_hash(),
            proof,
            &checkpoint.root,
        )
        .map_err(|source| ProofFault::Inclusion {
            seq: self.seq,
            source,
        })
    }
}

/// An event that a proof showed to be in a signed log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEvent {
    pub seq: Seq,
    pub hash: EventHash,
    pub record: RecordV1,
}

/// Checks that `fields` are exactly the decoded fields of `record`, so that a reader of
/// the fields is not misled; names the first field that differs.
pub fn check_fields(
    seq: Seq,
    record: &RecordV1,
    fields: &Map<String, Value>,
) -> Result<(), ProofFault> {
    let expected = record_fields(record);
    if &expected == fields {
        return Ok(());
    }
    let differs = expected
        .keys()
        .chain(fields.keys())
        .find(|k| expected.get(*k) != fields.get(*k))
        .cloned()
        .unwrap_or_default();
    let show = |v: Option<&Value>| v.map_or("nothing".to_string(), |v| v.to_string());
    Err(event_fault(
        seq,
        format!(
            "fields.{differs} says {}, but the record says {}",
            show(fields.get(&differs)),
            show(expected.get(&differs))
        ),
    ))
}

/// Bytes from lowercase hex, the only form fundtrail writes: accepting `A` for `a` would
/// let a changed byte in an export or proof go unnoticed.
pub fn strict_hex(text: &str) -> Result<Vec<u8>, String> {
    if let Some(bad) = text.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(format!("{bad:?} is not a lowercase hex digit"));
    }
    hex::decode(text).map_err(|e| e.to_string())
}

/// 32 bytes from 64 hex digits.
pub fn hex_digest(seq: Seq, field: &str, text: &str) -> Result<Digest, ProofFault> {
    let bytes = strict_hex(text).map_err(|e| event_fault(seq, format!("{field}: {e}")))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| event_fault(seq, format!("{field} is {} bytes, not 32", b.len())))
}

fn hex_digests(seq: Seq, texts: &[String]) -> Result<Vec<Digest>, ProofFault> {
    if texts.len() > MAX_PROOF_HASHES {
        return Err(event_fault(seq, "the proof has more than 64 hashes"));
    }
    texts.iter().map(|t| hex_digest(seq, "proof", t)).collect()
}

fn hexes(digests: &[Digest]) -> Vec<String> {
    digests.iter().map(hex::encode).collect()
}

// ---- Inclusion --------------------------------------------------------------------------

/// `prove --seq N --json`: one event, its inclusion proof and the signed checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionDoc {
    pub format: String,
    pub seq: u64,
    pub tree_size: u64,
    pub hash: String,
    pub prev_hash: String,
    pub record: String,
    #[serde(deserialize_with = "unique_members")]
    pub fields: Map<String, Value>,
    pub proof: Vec<String>,
    pub checkpoint: String,
}

impl InclusionDoc {
    pub fn new(
        evidence: &EventEvidence,
        record: &RecordV1,
        proof: &[Digest],
        checkpoint: &Checkpoint,
        note: &str,
    ) -> InclusionDoc {
        InclusionDoc {
            format: INCLUSION_FORMAT.into(),
            seq: evidence.seq.get(),
            tree_size: checkpoint.size,
            hash: evidence.hash().to_hex(),
            prev_hash: evidence.prev_hash.to_hex(),
            record: hex::encode(&evidence.record),
            fields: record_fields(record),
            proof: hexes(proof),
            checkpoint: note.to_string(),
        }
    }
}

/// What a verified inclusion proof showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedInclusion {
    pub event: VerifiedEvent,
    pub checkpoint: Checkpoint,
    /// The signed note the proof relied on, verbatim (with any cosignatures), for a
    /// witness quorum to be checked on.
    pub note: String,
}

/// Verifies an inclusion proof in either form: a tlog-proof (text) or an [`InclusionDoc`]
/// (JSON).
pub fn verify_inclusion(text: &str, key: &VerifierKey) -> Result<VerifiedInclusion, ProofFault> {
    if text.starts_with(TLOG_PROOF_HEADER) {
        return verify_tlog_proof(text, key, None);
    }
    let doc: InclusionDoc = serde_json::from_str(text)
        .map_err(|e| malformed(format!("neither a tlog-proof nor an inclusion proof: {e}")))?;
    if doc.format != INCLUSION_FORMAT {
        return Err(malformed(format!(
            "format {:?} is not {INCLUSION_FORMAT}",
            doc.format
        )));
    }
    let seq = Seq::new(doc.seq);
    let checkpoint = opened("checkpoint", &doc.checkpoint, key)?;
    if doc.tree_size != checkpoint.size {
        return Err(event_fault(
            seq,
            format!(
                "tree_size is {}, the checkpoint's size {}",
                doc.tree_size, checkpoint.size
            ),
        ));
    }
    let evidence = EventEvidence {
        seq,
        prev_hash: EventHash::from_bytes(hex_digest(seq, "prev_hash", &doc.prev_hash)?),
        record: strict_hex(&doc.record).map_err(|e| event_fault(seq, format!("record: {e}")))?,
    };
    if seq.get() == 0 {
        return Err(event_fault(seq, "seqs start at 1"));
    }
    let hash = evidence.check_hash(&doc.hash)?;
    let record = evidence.decode()?;
    check_fields(seq, &record, &doc.fields)?;
    evidence.check_inclusion(&hex_digests(seq, &doc.proof)?, &checkpoint)?;
    Ok(VerifiedInclusion {
        event: VerifiedEvent { seq, hash, record },
        checkpoint,
        note: doc.checkpoint,
    })
}

/// Verifies a tlog-proof whose extra data is `prev_hash ‖ record`; when `note` is given,
/// the proof's checkpoint must be exactly that note.
fn verify_tlog_proof(
    text: &str,
    key: &VerifierKey,
    note: Option<&str>,
) -> Result<VerifiedInclusion, ProofFault> {
    let proof = TlogProof::parse(text).map_err(|e| malformed(format!("tlog-proof: {e}")))?;
    let seq = Seq::new(
        proof
            .index
            .checked_add(1)
            .ok_or_else(|| malformed("index overflows"))?,
    );
    if note.is_some_and(|n| n != proof.checkpoint) {
        return Err(event_fault(
            seq,
            "the proof is against another checkpoint than the document's",
        ));
    }
    let checkpoint = opened("checkpoint", &proof.checkpoint, key)?;
    let extra = proof
        .extra
        .as_deref()
        .ok_or_else(|| event_fault(seq, "the tlog-proof has no extra line holding the event"))?;
    let evidence = EventEvidence::from_extra(seq, extra)?;
    let record = evidence.decode()?;
    evidence.check_inclusion(&proof.hashes, &checkpoint)?;
    Ok(VerifiedInclusion {
        event: VerifiedEvent {
            seq,
            hash: evidence.hash(),
            record,
        },
        checkpoint,
        note: proof.checkpoint,
    })
}

// ---- Consistency ------------------------------------------------------------------------

/// `prove --from A --to B --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyDoc {
    pub format: String,
    pub old_size: u64,
    pub new_size: u64,
    pub proof: Vec<String>,
    /// The signed checkpoint of the old size, when the ledger signed one there.
    pub old_checkpoint: Option<String>,
    pub new_checkpoint: String,
}

impl ConsistencyDoc {
    pub fn new(
        old_size: u64,
        proof: &[Digest],
        old_note: Option<&str>,
        new: &Checkpoint,
        new_note: &str,
    ) -> ConsistencyDoc {
        ConsistencyDoc {
            format: CONSISTENCY_FORMAT.into(),
            old_size,
            new_size: new.size,
            proof: hexes(proof),
            old_checkpoint: old_note.map(str::to_string),
            new_checkpoint: new_note.to_string(),
        }
    }
}

/// The text form: `old <size>`, one base64 hash per line, a blank line, the new signed
/// checkpoint (the body of a c2sp.org/tlog-witness add-checkpoint request).
pub fn consistency_text(old_size: u64, proof: &[Digest], new_note: &str) -> String {
    use base64::Engine as _;
    let mut out = format!("{OLD_SIZE_PREFIX}{old_size}\n");
    for hash in proof {
        out.push_str(&base64::engine::general_purpose::STANDARD.encode(hash));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(new_note);
    out
}

/// What a verified consistency proof showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedConsistency {
    pub old: Checkpoint,
    pub new: Checkpoint,
    /// The new signed note, verbatim: the one a witness quorum is checked on (the old
    /// checkpoint is proven a prefix of it).
    pub new_note: String,
}

/// Verifies a consistency proof in either form. The old checkpoint is `held_old` (one the
/// auditor kept: what the proof is really about) or else the document's; an old size of 0
/// needs none.
pub fn verify_consistency(
    text: &str,
    key: &VerifierKey,
    held_old: Option<&str>,
) -> Result<VerifiedConsistency, ProofFault> {
    let parts = if text.starts_with(OLD_SIZE_PREFIX) {
        parse_consistency_text(text)?
    } else {
        parse_consistency_json(text)?
    };
    let new = opened("new checkpoint", &parts.new_note, key)?;
    if parts.new_size.is_some_and(|s| s != new.size) {
        return Err(malformed("new_size is not the new checkpoint's size"));
    }
    // A checkpoint the auditor kept is always opened and compared, also against a proof
    // "from size 0": otherwise a fork would pass by claiming to start from nothing.
    let old = match (held_old.or(parts.old_note.as_deref()), parts.old_size) {
        (Some(note), _) => opened("old checkpoint", note, key)?,
        (None, 0) => Checkpoint {
            origin: key.name().to_string(),
            size: 0,
            root: Blake3Hasher.empty_root(),
        },
        (None, size) => return Err(ProofFault::MissingOld { size }),
    };
    if old.size != parts.old_size {
        return Err(malformed(format!(
            "the old checkpoint is of size {}, the proof starts from size {}",
            old.size, parts.old_size
        )));
    }
    merkle::verify_consistency(
        &Blake3Hasher,
        old.size,
        new.size,
        &parts.proof,
        &old.root,
        &new.root,
    )
    .map_err(|source| ProofFault::Consistency {
        old: old.size,
        new: new.size,
        source,
    })?;
    Ok(VerifiedConsistency {
        old,
        new,
        new_note: parts.new_note,
    })
}

/// The parts of a consistency proof, from either form.
struct ConsistencyParts {
    old_size: u64,
    new_size: Option<u64>,
    proof: Vec<Digest>,
    old_note: Option<String>,
    new_note: String,
}

fn parse_consistency_text(text: &str) -> Result<ConsistencyParts, ProofFault> {
    let bad = |e: CheckpointError| malformed(format!("consistency proof: {e}"));
    let mut lines = text.split_inclusive('\n');
    let mut consumed = 0;
    let mut next = || {
        let line = lines.next()?;
        consumed += line.len();
        line.strip_suffix('\n')
    };
    let first = next().ok_or_else(|| malformed("consistency proof: no old size line"))?;
    let old = first.strip_prefix(OLD_SIZE_PREFIX).unwrap_or(first);
    let old_size = parse_decimal(old, "old size").map_err(bad)?;
    let mut proof = Vec::new();
    loop {
        let line = next().ok_or_else(|| malformed("consistency proof: no checkpoint"))?;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_CONSISTENCY_HASHES {
            return Err(malformed("consistency proof: more than 63 hashes"));
        }
        proof.push(decode_hash(line, "consistency proof hash").map_err(bad)?);
    }
    Ok(ConsistencyParts {
        old_size,
        new_size: None,
        proof,
        old_note: None,
        new_note: text[consumed..].to_string(),
    })
}

fn parse_consistency_json(text: &str) -> Result<ConsistencyParts, ProofFault> {
    let doc: ConsistencyDoc = serde_json::from_str(text)
        .map_err(|e| malformed(format!("not a consistency proof: {e}")))?;
    if doc.format != CONSISTENCY_FORMAT {
        return Err(malformed(format!(
            "format {:?} is not {CONSISTENCY_FORMAT}",
            doc.format
        )));
    }
    if doc.proof.len() > MAX_CONSISTENCY_HASHES {
        return Err(malformed("consistency proof: more than 63 hashes"));
    }
    let proof = doc
        .proof
        .iter()
        .map(|t| {
            let bytes = strict_hex(t).map_err(|e| malformed(format!("proof: {e}")))?;
            Digest::try_from(bytes).map_err(|_| malformed("proof: a hash is not 32 bytes"))
        })
        .collect::<Result<_, _>>()?;
    Ok(ConsistencyParts {
        old_size: doc.old_size,
        new_size: Some(doc.new_size),
        proof,
        old_note: doc.old_checkpoint,
        new_note: doc.new_checkpoint,
    })
}

// ---- Household trail ----------------------------------------------------------------------

/// `household ID --proofs`: one household's events, each with a tlog-proof against the
/// same signed checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailDoc {
    pub format: String,
    pub household_id: String,
    pub checkpoint: String,
    pub events: Vec<TrailEvent>,
}

/// One event of a trail: the decoded fields for the reader, the tlog-proof as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailEvent {
    pub seq: u64,
    pub hash: String,
    #[serde(deserialize_with = "unique_members")]
    pub fields: Map<String, Value>,
    pub proof: String,
}

impl TrailEvent {
    pub fn new(
        evidence: &EventEvidence,
        record: &RecordV1,
        proof: &[Digest],
        note: &str,
    ) -> TrailEvent {
        TrailEvent {
            seq: evidence.seq.get(),
            hash: evidence.hash().to_hex(),
            fields: record_fields(record),
            proof: evidence.tlog_proof(proof, note).to_text(),
        }
    }
}

/// What a verified trail showed: these events of the household are in the signed log. It
/// cannot show that no other event of the household is (only the whole export can).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTrail {
    pub household: String,
    pub checkpoint: Checkpoint,
    /// The signed note every event's proof is against, verbatim.
    pub note: String,
    pub events: Vec<VerifiedEvent>,
}

/// Verifies a trail: the checkpoint's signature, then every event's proof, hash, record,
/// fields and household, in strictly increasing seq order.
pub fn verify_trail(text: &str, key: &VerifierKey) -> Result<VerifiedTrail, ProofFault> {
    let doc: TrailDoc =
        serde_json::from_str(text).map_err(|e| malformed(format!("not a trail: {e}")))?;
    if doc.format != TRAIL_FORMAT {
        return Err(malformed(format!(
            "format {:?} is not {TRAIL_FORMAT}",
            doc.format
        )));
    }
    let checkpoint = opened("checkpoint", &doc.checkpoint, key)?;
    let mut events: Vec<VerifiedEvent> = Vec::with_capacity(doc.events.len());
    for entry in &doc.events {
        let seq = Seq::new(entry.seq);
        if events.last().is_some_and(|last| last.seq >= seq) {
            return Err(event_fault(seq, "events are not in increasing seq order"));
        }
        events.push(verify_trail_event(entry, &doc, key)?);
    }
    Ok(VerifiedTrail {
        household: doc.household_id,
        checkpoint,
        note: doc.checkpoint,
        events,
    })
}

fn verify_trail_event(
    entry: &TrailEvent,
    doc: &TrailDoc,
    key: &VerifierKey,
) -> Result<VerifiedEvent, ProofFault> {
    let seq = Seq::new(entry.seq);
    let verified =
        verify_tlog_proof(&entry.proof, key, Some(&doc.checkpoint)).map_err(|e| match e {
            ProofFault::Malformed(reason) => event_fault(seq, reason),
            other => other,
        })?;
    let event = verified.event;
    if event.seq != seq {
        return Err(event_fault(
            seq,
            format!("the proof is for seq {}", event.seq),
        ));
    }
    if hex_digest(seq, "hash", &entry.hash)? != event.hash.into_bytes() {
        return Err(event_fault(
            seq,
            format!(
                "hash is {}, the proven event's is {}",
                entry.hash, event.hash
            ),
        ));
    }
    check_fields(seq, &event.record, &entry.fields)?;
    if event.record.body.household() != Some(doc.household_id.as_str()) {
        return Err(event_fault(
            seq,
            format!("the event is not one of household {}", doc.household_id),
        ));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::encoding::{encode, AllocationV1, Body};
    use crate::tlog::merkle::Frontier;
    use crate::tlog::note::LogSigner;

    const ORIGIN: &str = "fundtrail.example/ledger";

    fn signer() -> LogSigner {
        LogSigner::from_seed(ORIGIN, &[42; 32]).unwrap()
    }

    /// Two events; returns the evidence of the second and the signed note of size 2.
    fn two_events() -> (EventEvidence, RecordV1, Vec<Digest>, Checkpoint, String) {
        let record = |seq: u64| RecordV1 {
            seq,
            recorded_at_us: 0,
            actor: "a".into(),
            reference: format!("R{seq}"),
            body: Body::FundAllocation(AllocationV1 {
                program: "micro_wish".into(),
                amount_fen: 100,
                value_date: 0,
                source: "s".into(),
            }),
        };
        let first = EventEvidence {
            seq: Seq::new(1),
            prev_hash: EventHash::GENESIS,
            record: encode(&record(1)),
        };
        let second = EventEvidence {
            seq: Seq::new(2),
            prev_hash: first.hash(),
            record: encode(&record(2)),
        };
        let mut frontier = Frontier::new();
        frontier.append(&Blake3Hasher, first.leaf_hash());
        frontier.append(&Blake3Hasher, second.leaf_hash());
        let checkpoint = Checkpoint {
            origin: ORIGIN.into(),
            size: 2,
            root: frontier.root(&Blake3Hasher),
        };
        let note = signer().sign(&checkpoint).unwrap();
        (second, record(2), vec![first.leaf_hash()], checkpoint, note)
    }

    #[test]
    fn inclusion_documents_verify_in_both_forms() {
        let (evidence, record, proof, checkpoint, note) = two_events();
        let key = signer().verifier_key();
        let text = evidence.tlog_proof(&proof, &note).to_text();
        let verified = verify_inclusion(&text, &key).unwrap();
        assert_eq!(verified.event.seq, Seq::new(2));
        assert_eq!(verified.checkpoint, checkpoint);
        let doc = InclusionDoc::new(&evidence, &record, &proof, &checkpoint, &note);
        let json = serde_json::to_string(&doc).unwrap();
        assert_eq!(verify_inclusion(&json, &key).unwrap(), verified);
    }

    #[test]
    fn json_documents_refuse_uppercase_hex_repeated_and_unknown_members() {
        let (evidence, record, proof, checkpoint, note) = two_events();
        let key = signer().verifier_key();
        let doc = InclusionDoc::new(&evidence, &record, &proof, &checkpoint, &note);
        let json = serde_json::to_string(&doc).unwrap();
        let upper = json.replacen(&doc.hash, &doc.hash.to_uppercase(), 1);
        assert!(matches!(
            verify_inclusion(&upper, &key),
            Err(ProofFault::Event { seq, .. }) if seq == Seq::new(2)
        ));
        let repeated = json.replacen("\"fields\":{", "\"fields\":{\"actor\":\"b\",", 1);
        assert!(matches!(
            verify_inclusion(&repeated, &key),
            Err(ProofFault::Malformed(reason)) if reason.contains("\"actor\" appears twice")
        ));
        let extra = json.replacen("{", "{\"note\":\"trust me\",", 1);
        assert!(matches!(
            verify_inclusion(&extra, &key),
            Err(ProofFault::Malformed(_))
        ));
        assert_eq!(strict_hex("0aff"), Ok(vec![0x0a, 0xff]));
        assert!(strict_hex("0AFF").is_err());
        assert!(strict_hex(" 0a").is_err());
    }

    #[test]
    fn a_tlog_proof_needs_its_event_in_the_extra_line() {
        let (evidence, _, proof, _, note) = two_events();
        let key = signer().verifier_key();
        let mut tlog = evidence.tlog_proof(&proof, &note);
        tlog.extra = None;
        assert!(matches!(
            verify_inclusion(&tlog.to_text(), &key),
            Err(ProofFault::Event { seq, .. }) if seq == Seq::new(2)
        ));
        tlog.extra = Some(vec![0; 32]);
        assert!(matches!(
            verify_inclusion(&tlog.to_text(), &key),
            Err(ProofFault::Event { seq, .. }) if seq == Seq::new(2)
        ));
        // The record of seq 2 presented as leaf index 0 says it is seq 2.
        let mut moved = evidence.tlog_proof(&proof, &note);
        moved.index = 0;
        assert!(matches!(
            verify_inclusion(&moved.to_text(), &key),
            Err(ProofFault::Event { seq, reason }) if seq == Seq::new(1) && reason.contains("seq 2")
        ));
    }

    #[test]
    fn consistency_text_is_parsed_strictly() {
        let (_, _, _, checkpoint, note) = two_events();
        let key = signer().verifier_key();
        let zero = consistency_text(0, &[], &note);
        assert_eq!(zero, format!("old 0\n\n{note}"));
        let verified = verify_consistency(&zero, &key, None).unwrap();
        assert_eq!(verified.new, checkpoint);
        assert_eq!(verified.old.root, Blake3Hasher.empty_root());
        // A kept checkpoint is compared also with a proof "from size 0": a fork signed
        // with the log's key cannot pass by claiming to start from nothing.
        assert!(matches!(
            verify_consistency(&zero, &key, Some(&note)),
            Err(ProofFault::Malformed(reason))
                if reason.contains("the old checkpoint is of size 2, the proof starts from size 0")
        ));
        assert!(
            verify_consistency(&zero, &key, Some("not a note")).is_err(),
            "a kept checkpoint is always read"
        );
        // Equal sizes: the old checkpoint is the same note.
        let same = consistency_text(2, &[], &note);
        assert!(verify_consistency(&same, &key, Some(&note)).is_ok());
        assert!(matches!(
            verify_consistency(&same, &key, None),
            Err(ProofFault::MissingOld { size: 2 })
        ));
        let too_many = consistency_text(1, &[[1; 32]; MAX_CONSISTENCY_HASHES + 1], &note);
        assert!(matches!(
            verify_consistency(&too_many, &key, Some(&note)),
            Err(ProofFault::Malformed(_))
        ));
        for bad in [
            "old 01\n\n",
            "old x\n\n",
            "old 1\nnot base64\n\n",
            "old 1\n",
        ] {
            assert!(matches!(
                verify_consistency(bad, &key, Some(&note)),
                Err(ProofFault::Malformed(_))
            ));
        }
        // A proof from size 1 with a wrong hash.
        let wrong = consistency_text(1, &[[9; 32]], &note);
        assert!(matches!(
            verify_consistency(&wrong, &key, Some(&note)),
            Err(ProofFault::Malformed(_)) | Err(ProofFault::Consistency { .. })
        ));
    }
}
