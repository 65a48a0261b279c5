//! `fundtrail audit`: offline verification for auditors. Needs no ledger: only the files
//! and the public key the auditor trusts. Exit 0: valid; 1: not valid, with the reason and
//! the first bad seq when there is one; 2: a file or the key cannot be read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{exit, Failure, Output};
use crate::export::{
    read_note, verify_export, verify_export_findings, ExportError, CHECKPOINT_FILE,
};
use crate::model::domain::Money;
use crate::model::render::{signed_amount, value_date_text, Align, Table};
use crate::tlog::checkpoint::{open_note_bytes, Checkpoint};
use crate::tlog::note::VerifierKey;
use crate::tlog::proofs::{self, ProofFault, VerifiedEvent};
use crate::witness::cosign::CosignerKey;
use crate::witness::quorum::{check_quorum, default_quorum};

/// The largest proof or trail file read. A trail holds about 1.5 KiB per event; 64 MiB is
/// tens of thousands of events, far more than one household has, and it bounds what a
/// wrong path can make the verifier read into memory.
pub const MAX_PROOF_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A verifier key is under 200 bytes; a `--key FILE` larger than this is not one.
const MAX_KEY_FILE_BYTES: u64 = 4096;

#[derive(Debug, Subcommand)]
// The subcommands are `audit verify-…` by design: `audit` is the offline auditor's toolbox,
// and each of its commands verifies one kind of evidence.
#[allow(clippy::enum_variant_names)]
pub enum AuditCommand {
    /// Check one event's inclusion proof: `prove --seq` output (tlog-proof) or its --json.
    VerifyInclusion {
        /// The proof file.
        file: PathBuf,
        #[command(flatten)]
        key: KeyArg,
        #[command(flatten)]
        witness: WitnessArgs,
    },
    /// Check that a checkpoint extends an older one: `prove --from` output or its --json.
    VerifyConsistency {
        /// The proof file.
        file: PathBuf,
        /// The older signed checkpoint you kept (default: the one in a --json proof).
        #[arg(long, value_name = "FILE")]
        old: Option<PathBuf>,
        #[command(flatten)]
        key: KeyArg,
        #[command(flatten)]
        witness: WitnessArgs,
    },
    /// Recompute the whole chain and Merkle root of an export and check them against its
    /// signed checkpoint.
    VerifyExport {
        /// The export directory.
        dir: PathBuf,
        /// Also compare with a signed checkpoint you kept (repeatable).
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
        #[command(flatten)]
        key: KeyArg,
        #[command(flatten)]
        witness: WitnessArgs,
    },
    /// Check a household's trail with proofs (`household ID --proofs` output).
    VerifyTrail {
        /// The trail file.
        file: PathBuf,
        #[command(flatten)]
        key: KeyArg,
        #[command(flatten)]
        witness: WitnessArgs,
    },
    /// Check a payment's receipt (`fundtrail receipt` output, its compact form, or a PNG of
    /// its QR code): record, fields, inclusion proof and the checkpoint's signature.
    VerifyReceipt(super::receipt::VerifyReceiptArgs),
    /// Recompute the findings from a verified export alone (no ledger): the same list as
    /// `fundtrail --json findings` on the ledger. The export is verified first; a tampered
    /// one is refused (exit 1).
    Findings {
        /// The export directory.
        dir: PathBuf,
        #[command(flatten)]
        key: KeyArg,
        #[command(flatten)]
        witness: WitnessArgs,
    },
    /// Perform a recorded reconciliation again from an export and the bank statement, and
    /// compare its report with the recorded one (exit 0 reproduced, 1 not, 2 bad input).
    Reconcile(super::audit_reconcile::AuditReconcileArgs),
}

#[derive(Debug, Args)]
pub struct KeyArg {
    /// The ledger's verifier key (`fundtrail key show`), or a file holding it. Get it from
    /// the operator, not from the files being checked.
    #[arg(long, value_name = "PUBKEY")]
    pub key: String,
}

pub(super) fn run(command: &AuditCommand) -> Result<Output, Failure> {
    match command {
        AuditCommand::VerifyInclusion { file, key, witness } => {
            inclusion(file, &verifier_key(key)?, &witnessing(witness)?)
        }
        AuditCommand::VerifyConsistency {
            file,
            old,
            key,
            witness,
        } => consistency(
            file,
            old.as_deref(),
            &verifier_key(key)?,
            &witnessing(witness)?,
        ),
        AuditCommand::VerifyExport {
            dir,
            checkpoints,
            key,
            witness,
        } => export(dir, checkpoints, &verifier_key(key)?, &witnessing(witness)?),
        AuditCommand::VerifyTrail { file, key, witness } => {
            trail(file, &verifier_key(key)?, &witnessing(witness)?)
        }
        AuditCommand::VerifyReceipt(args) => super::receipt::verify(args),
        AuditCommand::Findings { dir, key, witness } => {
            findings(dir, &verifier_key(key)?, &witnessing(witness)?)
        }
        AuditCommand::Reconcile(args) => super::audit_reconcile::run(args),
    }
}

#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// A witness's cosigner verifier key (`fundtrail witness init` prints it), or a file
    /// holding it; repeatable. With it, the checkpoint relied on must carry the quorum of
    /// valid cosignatures from these keys.
    #[arg(long = "witness", value_name = "VKEY")]
    pub witnesses: Vec<String>,
    /// How many of the --witness keys must have cosigned (default: a majority of them).
    #[arg(long, value_name = "K", requires = "witnesses")]
    pub quorum: Option<usize>,
}

/// The witness keys an auditor requires and how many of them; none: no quorum is checked.
pub(super) struct Witnessing {
    keys: Vec<CosignerKey>,
    quorum: usize,
}

/// The `--witness` keys parsed (inline or from files) and the quorum, checked against them.
pub(super) fn witnessing(args: &WitnessArgs) -> Result<Witnessing, Failure> {
    let keys = args
        .witnesses
        .iter()
        .map(|arg| cosigner_key(arg))
        .collect::<Result<Vec<_>, _>>()?;
    let quorum = args.quorum.unwrap_or_else(|| default_quorum(keys.len()));
    if !keys.is_empty() && (quorum == 0 || quorum > keys.len()) {
        return Err(Failure::new(
            exit::BAD_INPUT,
            format!(
                "--quorum {quorum}: must be from 1 to the {} --witness key(s) given",
                keys.len()
            ),
        ));
    }
    Ok(Witnessing { keys, quorum })
}

fn cosigner_key(arg: &str) -> Result<CosignerKey, Failure> {
    let inline = CosignerKey::parse(arg.trim());
    if let Ok(key) = inline {
        return Ok(key);
    }
    let path = Path::new(arg);
    if !path.is_file() {
        let reason = inline.err().map_or(String::new(), |e| e.to_string());
        return Err(Failure::new(
            exit::BAD_INPUT,
            format!("--witness: neither a cosigner verifier key nor a file: {reason}"),
        ));
    }
    let text = read_text(path, MAX_KEY_FILE_BYTES)?;
    CosignerKey::parse(text.trim()).map_err(|e| {
        Failure::new(
            exit::BAD_INPUT,
            format!(
                "--witness {}: not a cosigner verifier key: {e}",
                path.display()
            ),
        )
    })
}

impl Witnessing {
    /// `verified` when no witness is required or the quorum cosigned `note` (saying so in
    /// its text and JSON); otherwise the failure (exit 1), naming the checkpoint's size.
    pub(super) fn check(&self, note: &str, size: u64, mut verified: Output) -> Output {
        if self.keys.is_empty() {
            return verified;
        }
        match check_quorum(note, &self.keys, self.quorum) {
            Ok(by) => {
                verified.text.push_str(&format!(
                    "ok: the checkpoint of size {size} is cosigned by {} of the {} witness(es) listed (quorum {}): {}\n",
                    by.len(),
                    self.keys.len(),
                    self.quorum,
                    by.join(", ")
                ));
                if let Value::Object(map) = &mut verified.json {
                    map.insert(
                        "witnesses".into(),
                        json!({ "quorum": self.quorum, "cosigned_by": by }),
                    );
                }
                verified
            }
            Err(e) => super::check_failed(format!("the checkpoint of size {size}: {e}"), None),
        }
    }
}

/// The key given inline, or read from a file.
pub(super) fn verifier_key(arg: &KeyArg) -> Result<VerifierKey, Failure> {
    let inline = VerifierKey::parse(arg.key.trim());
    if let Ok(key) = inline {
        return Ok(key);
    }
    let path = Path::new(&arg.key);
    if !path.is_file() {
        let reason = inline.err().map_or(String::new(), |e| e.to_string());
        return Err(Failure::new(
            exit::BAD_INPUT,
            format!("--key: neither a verifier key nor a file: {reason}"),
        ));
    }
    let text = read_text(path, MAX_KEY_FILE_BYTES)?;
    VerifierKey::parse(text.trim()).map_err(|e| {
        Failure::new(
            exit::BAD_INPUT,
            format!("--key {}: not a verifier key: {e}", path.display()),
        )
    })
}

/// A whole file as text; a missing file is a usage error, bad UTF-8 is kept (lossily) for
/// the verifier to reject as content.
fn read_text(path: &Path, limit: u64) -> Result<String, Failure> {
    let unreadable =
        |e: std::io::Error| Failure::new(exit::BAD_INPUT, format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(Failure::new(
            exit::BAD_INPUT,
            format!("{}: larger than {limit} bytes", path.display()),
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn proof_invalid(fault: ProofFault) -> Output {
    super::check_failed(fault.to_string(), fault.first_bad_seq())
}

fn checkpoint_json(c: &Checkpoint) -> Value {
    json!({ "origin": c.origin, "size": c.size, "root": hex::encode(c.root) })
}

fn event_json(e: &VerifiedEvent) -> Value {
    let mut fields = crate::model::render::record_fields(&e.record);
    fields.insert("seq".into(), json!(e.seq.get()));
    fields.insert("hash".into(), json!(e.hash.to_hex()));
    Value::Object(fields)
}

fn inclusion(file: &Path, key: &VerifierKey, witnessing: &Witnessing) -> Result<Output, Failure> {
    let text = read_text(file, MAX_PROOF_FILE_BYTES)?;
    let verified = match proofs::verify_inclusion(&text, key) {
        Ok(v) => v,
        Err(fault) => return Ok(proof_invalid(fault)),
    };
    let (e, c) = (&verified.event, &verified.checkpoint);
    let text = format!(
        "ok: seq {} ({} {}) is in the log {} at checkpoint size {}\n",
        e.seq,
        e.record.body.type_name(),
        e.record.reference,
        c.origin,
        c.size
    );
    let out = Output::ok(
        text,
        json!({ "ok": true, "event": event_json(e), "checkpoint": checkpoint_json(c) }),
    );
    Ok(witnessing.check(&verified.note, c.size, out))
}

fn consistency(
    file: &Path,
    old: Option<&Path>,
    key: &VerifierKey,
    witnessing: &Witnessing,
) -> Result<Output, Failure> {
    let text = read_text(file, MAX_PROOF_FILE_BYTES)?;
    let old_note = old
        .map(|p| read_text(p, MAX_PROOF_FILE_BYTES))
        .transpose()?;
    let verified = match proofs::verify_consistency(&text, key, old_note.as_deref()) {
        Ok(v) => v,
        Err(fault @ ProofFault::MissingOld { .. }) => {
            return Err(Failure::new(exit::BAD_INPUT, fault.to_string()))
        }
        Err(fault) => return Ok(proof_invalid(fault)),
    };
    let text = format!(
        "ok: the checkpoint of size {} extends the checkpoint of size {} of the log {}\n",
        verified.new.size, verified.old.size, verified.new.origin
    );
    let out = Output::ok(
        text,
        json!({ "ok": true, "old": checkpoint_json(&verified.old), "new": checkpoint_json(&verified.new) }),
    );
    // The old checkpoint is proven a prefix of the new one: the new one's quorum covers it.
    Ok(witnessing.check(&verified.new_note, verified.new.size, out))
}

/// `audit findings`: the export verified, then its findings as `findings` lists them.
/// The findings of a verified export; with `--witness`, only when its checkpoint carries
/// the witnesses' quorum (the list is printed, then the line saying who cosigned).
fn findings(dir: &Path, key: &VerifierKey, witnessing: &Witnessing) -> Result<Output, Failure> {
    let verified = match verify_export_findings(dir, key).map_err(export_read_failure)? {
        Ok(v) => v,
        Err(fault) => {
            return Ok(super::check_failed(
                fault.to_string(),
                fault.first_bad_seq(),
            ))
        }
    };
    let size = verified.checkpoint.size;
    let listing = super::findings::listing(verified.findings.unwrap_or_default());
    let note = read_note(&dir.join(CHECKPOINT_FILE)).map_err(export_read_failure)?;
    Ok(witnessing.check(&String::from_utf8_lossy(&note), size, listing))
}

fn export(
    dir: &Path,
    held: &[PathBuf],
    key: &VerifierKey,
    witnessing: &Witnessing,
) -> Result<Output, Failure> {
    let mut checkpoints = Vec::new();
    for path in held {
        let note = read_note(path).map_err(export_read_failure)?;
        match open_note_bytes(&note, key) {
            Ok(c) => checkpoints.push(c),
            Err(e) => {
                return Ok(super::check_failed(
                    format!("{}: {e}", path.display()),
                    None,
                ))
            }
        }
    }
    let started = Instant::now();
    let verified = match verify_export(dir, key, checkpoints).map_err(export_read_failure)? {
        Ok(v) => v,
        Err(fault) => {
            return Ok(super::check_failed(
                fault.to_string(),
                fault.first_bad_seq(),
            ))
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let rate = verified.events as f64 / seconds.max(1e-9);
    let c = &verified.checkpoint;
    let mut text = format!(
        "ok: {} events; chain, fields and Merkle root match the checkpoint of {} size {} ({:.0} events/s)\n",
        verified.events, c.origin, c.size, rate
    );
    if verified.held > 0 {
        text.push_str(&format!(
            "ok: the export also matches {} checkpoint(s) you kept\n",
            verified.held
        ));
    }
    let note = read_note(&dir.join(CHECKPOINT_FILE)).map_err(export_read_failure)?;
    let out = Output::ok(
        text,
        json!({
            "ok": true,
            "events": verified.events,
            "checkpoint": checkpoint_json(c),
            "held_checkpoints": verified.held,
            "seconds": seconds,
            "events_per_second": rate,
        }),
    );
    Ok(witnessing.check(&String::from_utf8_lossy(&note), c.size, out))
}

fn export_read_failure(err: ExportError) -> Failure {
    Failure::new(exit::BAD_INPUT, err.to_string())
}

/// What a verified trail does not show.
const TRAIL_LIMIT: &str = "Each event is proven to be in the signed log; a trail cannot prove \
that no other event of the household is (verify an export for that).";

fn trail(file: &Path, key: &VerifierKey, witnessing: &Witnessing) -> Result<Output, Failure> {
    let text = read_text(file, MAX_PROOF_FILE_BYTES)?;
    let verified = match proofs::verify_trail(&text, key) {
        Ok(v) => v,
        Err(fault) => return Ok(proof_invalid(fault)),
    };
    let c = &verified.checkpoint;
    let mut out = format!(
        "ok: {} event(s) of household {} are in the log {} at checkpoint size {}\n\n",
        verified.events.len(),
        verified.household,
        c.origin,
        c.size
    );
    out.push_str(&trail_table(&verified.events));
    out.push_str(&format!("\n{TRAIL_LIMIT}\n"));
    let out = Output::ok(
        out,
        json!({
            "ok": true,
            "household_id": verified.household,
            "checkpoint": checkpoint_json(c),
            "events": verified.events.iter().map(event_json).collect::<Vec<_>>(),
            // A program reading the JSON gets the same caveat as a person reading the text.
            "complete": false,
            "note": TRAIL_LIMIT,
        }),
    );
    Ok(witnessing.check(&verified.note, c.size, out))
}

fn trail_table(events: &[VerifiedEvent]) -> String {
    let mut table = Table::new(&[
        ("seq", Align::Right),
        ("date", Align::Left),
        ("type", Align::Left),
        ("program", Align::Left),
        ("amount", Align::Right),
        ("reference", Align::Left),
    ]);
    for e in events {
        let body = &e.record.body;
        table.row(vec![
            e.seq.to_string(),
            value_date_text(body),
            body.type_name().to_string(),
            body.program().unwrap_or("").to_string(),
            signed_amount(body).map_or(String::new(), |m: Money| m.to_string()),
            e.record.reference.clone(),
        ]);
    }
    table.render()
}
