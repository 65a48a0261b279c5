//! Receipts (FORMAT.md §14): one payment's proof in the beneficiary's hand. A receipt is
//! the payment's decoded fields, masked as every output masks them, followed by the
//! c2sp.org/tlog-proof of its event (FORMAT.md §8: the extra data is `prev_hash ‖
//! record`), so anyone holding the ledger's verifier key can check it offline: the record
//! gives the chain hash, the chain hash the Merkle leaf, the proof the root, and the
//! checkpoint's signature the root.
//!
//! Pure, except `issue` (receipts read from a ledger) and `qr` (PNG files). `compact` is
//! the same proof as bytes in base45, the form a QR code holds.

pub mod compact;
pub mod issue;
pub mod qr;

use serde_json::Value;

use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::RecordV1;
use crate::model::render::record_fields;
use crate::tlog::checkpoint::{open_note, Checkpoint, CheckpointError};
use crate::tlog::merkle::{self, Blake3Hasher, Digest, VerifyError};
use crate::tlog::note::VerifierKey;
use crate::tlog::proofs::{EventEvidence, ProofFault};
use crate::tlog::tlog_proof::{TlogProof, TLOG_PROOF_HEADER};

/// The first line of a receipt's text form.
pub const RECEIPT_HEADER: &str = "fundtrail.receipt.v1";

/// Most field lines a receipt may carry. A payment has 11 decoded fields; the bound keeps
/// a hostile file from making the parser hold more than a receipt ever has.
pub const MAX_RECEIPT_FIELDS: usize = 64;

/// What separates a field's name from its value on a field line.
const FIELD_SEPARATOR: &str = ": ";

/// One payment's receipt: its fields as shown, and the tlog-proof of its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// `(name, value)` in the order shown; values as [`field_text`] writes them.
    pub fields: Vec<(String, String)>,
    /// The proof; its extra data is `prev_hash ‖ record`.
    pub proof: TlogProof,
}

/// Why a receipt does not prove what it shows.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptFault {
    #[error("not a receipt: {0}")]
    Malformed(String),
    #[error("the checkpoint: {0}")]
    Checkpoint(CheckpointError),
    // The seq is not in the messages: `seq()` gives it, and reports put it in front.
    #[error("the record bytes: {reason}")]
    Record { seq: Seq, reason: String },
    #[error(
        "the record bytes and the inclusion proof do not lead to the checkpoint's root: {source}"
    )]
    Inclusion { seq: Seq, source: VerifyError },
    #[error("the event is a {kind}, not a payment")]
    NotPayment { seq: Seq, kind: &'static str },
    #[error("field {field}: the receipt shows {shown}, the record says {recorded}")]
    Field {
        seq: Seq,
        field: String,
        shown: String,
        recorded: String,
    },
}

impl ReceiptFault {
    /// The seq the fault concerns, when it concerns one.
    pub fn seq(&self) -> Option<Seq> {
        match self {
            ReceiptFault::Record { seq, .. }
            | ReceiptFault::Inclusion { seq, .. }
            | ReceiptFault::NotPayment { seq, .. }
            | ReceiptFault::Field { seq, .. } => Some(*seq),
            ReceiptFault::Malformed(_) | ReceiptFault::Checkpoint(_) => None,
        }
    }
}

fn malformed(what: impl Into<String>) -> ReceiptFault {
    ReceiptFault::Malformed(what.into())
}

/// A verified receipt: the payment, proven to be in the log at the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub seq: Seq,
    pub hash: EventHash,
    pub record: RecordV1,
    pub checkpoint: Checkpoint,
    /// The fields, as the record gives them (and the receipt showed them).
    pub fields: Vec<(String, String)>,
}

impl Receipt {
    /// The receipt of one event against a signed checkpoint note.
    pub fn new(evidence: &EventEvidence, record: &RecordV1, proof: &[Digest], note: &str) -> Self {
        Receipt {
            fields: shown_fields(record),
            proof: evidence.tlog_proof(proof, note),
        }
    }

    /// The text form: the header, one `name: value` line per field, a blank line, the
    /// tlog-proof (which ends with the checkpoint note).
    pub fn to_text(&self) -> String {
        let mut out = format!("{RECEIPT_HEADER}\n");
        for (name, value) in &self.fields {
            out.push_str(&format!("{name}{FIELD_SEPARATOR}{value}\n"));
        }
        out.push('\n');
        out.push_str(&self.proof.to_text());
        out
    }

    /// Parses the text form. Only the layout is checked here; [`verify`] checks the rest.
    pub fn parse(text: &str) -> Result<Receipt, ReceiptFault> {
        let (head, tail) = text
            .split_once(&format!("\n\n{TLOG_PROOF_HEADER}\n"))
            .ok_or_else(|| malformed("no blank line followed by a c2sp.org/tlog-proof"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(RECEIPT_HEADER) {
            return Err(malformed(format!("the first line is not {RECEIPT_HEADER}")));
        }
        let mut fields = Vec::new();
        for line in lines {
            if fields.len() == MAX_RECEIPT_FIELDS {
                return Err(malformed(format!(
                    "more than {MAX_RECEIPT_FIELDS} field lines"
                )));
            }
            let (name, value) = line.split_once(FIELD_SEPARATOR).ok_or_else(|| {
                malformed(format!("field line {line:?} has no {FIELD_SEPARATOR:?}"))
            })?;
            if fields.iter().any(|(n, _)| n == name) {
                return Err(malformed(format!("field {name} is shown twice")));
            }
            fields.push((name.to_string(), value.to_string()));
        }
        let proof = TlogProof::parse(&format!("{TLOG_PROOF_HEADER}\n{tail}"))
            .map_err(|e| malformed(format!("tlog-proof: {e}")))?;
        Ok(Receipt { fields, proof })
    }

    /// The receipt of a verified proof whose fields are the record's own: what a compact
    /// form, which carries no field lines, shows.
    fn with_record_fields(proof: TlogProof) -> Result<Receipt, ReceiptFault> {
        let (_, record) = evidence_of(&proof)?;
        Ok(Receipt {
            fields: shown_fields(&record),
            proof,
        })
    }
}

/// The decoded fields of a record as a receipt shows them (already masked by
/// `record_fields`, as in every output).
pub fn shown_fields(record: &RecordV1) -> Vec<(String, String)> {
    record_fields(record)
        .into_iter()
        .map(|(name, value)| (name, field_text(&value)))
        .collect()
}

/// A field's value on its line: its JSON text, a string without its quotes (JSON's
/// escapes kept, so a value is always one line).
pub fn field_text(value: &Value) -> String {
    match value {
        Value::String(_) => {
            let quoted = value.to_string();
            quoted[1..quoted.len() - 1].to_string()
        }
        other => other.to_string(),
    }
}

/// The one check of a receipt's checkpoint note: the log's signature under `key`. Other
/// signature lines (a witness's cosignatures, c2sp.org/tlog-cosignature) ride along in
/// the note verbatim and are ignored here; `audit verify-receipt --witness` checks their
/// quorum on the note (`witness::quorum`).
pub fn open_checkpoint(note: &str, key: &VerifierKey) -> Result<Checkpoint, ReceiptFault> {
    open_note(note, key).map_err(ReceiptFault::Checkpoint)
}

/// The event evidence a proof carries, and its decoded record.
fn evidence_of(proof: &TlogProof) -> Result<(EventEvidence, RecordV1), ReceiptFault> {
    let seq = Seq::new(
        proof
            .index
            .checked_add(1)
            .ok_or_else(|| malformed("the index overflows"))?,
    );
    let extra = proof
        .extra
        .as_deref()
        .ok_or_else(|| malformed("the tlog-proof has no extra line holding the record"))?;
    let record_fault = |e: ProofFault| ReceiptFault::Record {
        seq,
        reason: match e {
            ProofFault::Event { reason, .. } => reason,
            other => other.to_string(),
        },
    };
    let evidence = EventEvidence::from_extra(seq, extra).map_err(record_fault)?;
    let record = evidence.decode().map_err(record_fault)?;
    Ok((evidence, record))
}

/// Verifies a receipt: the checkpoint's signature, the record, its inclusion, that it is
/// a payment, and that every field shown is the record's.
pub fn verify(receipt: &Receipt, key: &VerifierKey) -> Result<VerifiedReceipt, ReceiptFault> {
    let checkpoint = open_checkpoint(&receipt.proof.checkpoint, key)?;
    let (evidence, record) = evidence_of(&receipt.proof)?;
    let seq = evidence.seq;
    merkle::verify_inclusion(
        &Blake3Hasher,
        receipt.proof.index,
        checkpoint.size,
        &evidence.leaf_hash(),
        &receipt.proof.hashes,
        &checkpoint.root,
    )
    .map_err(|source| ReceiptFault::Inclusion { seq, source })?;
    if record.body.payment().is_none() {
        return Err(ReceiptFault::NotPayment {
            seq,
            kind: record.body.type_name(),
        });
    }
    let fields = shown_fields(&record);
    check_fields(seq, &fields, &receipt.fields)?;
    Ok(VerifiedReceipt {
        seq,
        hash: evidence.hash(),
        record,
        checkpoint,
        fields,
    })
}

/// Every field the record gives is shown with its value, and nothing else is shown.
fn check_fields(
    seq: Seq,
    recorded: &[(String, String)],
    shown: &[(String, String)],
) -> Result<(), ReceiptFault> {
    let find = |list: &[(String, String)], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| format!("{v:?}"))
    };
    let names = recorded.iter().chain(shown).map(|(n, _)| n.as_str());
    for name in names {
        let (shown_value, recorded_value) = (find(shown, name), find(recorded, name));
        if shown_value != recorded_value {
            let nothing = || "nothing".to_string();
            return Err(ReceiptFault::Field {
                seq,
                field: name.to_string(),
                shown: shown_value.unwrap_or_else(nothing),
                recorded: recorded_value.unwrap_or_else(nothing),
            });
        }
    }
    Ok(())
}

/// A receipt in any of the forms `audit verify-receipt` reads: the text form, or the
/// compact form ([`compact::PREFIX`]), whose fields are then the record's own.
pub fn parse_any(text: &str) -> Result<Receipt, ReceiptFault> {
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.starts_with(compact::PREFIX) {
        return Receipt::with_record_fields(compact::decode(trimmed)?);
    }
    Receipt::parse(text)
}
