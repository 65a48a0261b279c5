//! `fundtrail receipt REFERENCE`: one payment's receipt for the beneficiary; and
//! `fundtrail audit verify-receipt FILE`: its offline check (exit 0 valid, 1 not, 2 a file
//! or the key cannot be read).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Map, Value};

use super::audit::{verifier_key, witnessing, KeyArg, WitnessArgs, MAX_PROOF_FILE_BYTES};
use super::{exit, failure, open, Cli, Failure, Output};
use crate::receipt::issue::{self, ReceiptError};
use crate::receipt::{self as rc, compact, qr, ReceiptFault, VerifiedReceipt};

#[derive(Debug, Args)]
pub struct ReceiptArgs {
    /// The payment's reference (any program's payment; a reversed one gets none).
    pub reference: String,
    /// Write the receipt to FILE instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write it as a QR code (PNG) holding its compact form.
    #[arg(long, value_name = "FILE.png")]
    pub qr: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyReceiptArgs {
    /// The receipt: its text form, its compact form (FTR1:...), or a PNG of its QR code.
    pub file: PathBuf,
    #[command(flatten)]
    pub key: KeyArg,
    #[command(flatten)]
    pub witness: WitnessArgs,
}

/// Maps a receipt error to its exit code: a reference without a receipt is bad input.
pub(super) fn receipt_failure(err: ReceiptError) -> Failure {
    match err {
        ReceiptError::Ledger(e) => failure(e, None),
        other if other.is_bad_request() => Failure::new(exit::BAD_INPUT, other.to_string()),
        other => Failure::new(exit::UNAVAILABLE, other.to_string()),
    }
}

pub(super) fn run(cli: &Cli, args: &ReceiptArgs) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let receipt = issue::receipt(ledger.view(), &args.reference).map_err(receipt_failure)?;
    let text = receipt.to_text();
    let compact =
        compact::encode(&receipt.proof).map_err(|e| receipt_failure(ReceiptError::Compact(e)))?;
    let mut said = String::new();
    if let Some(path) = &args.qr {
        let png = issue::qr_png(&receipt).map_err(receipt_failure)?;
        issue::write_file(path, &png).map_err(receipt_failure)?;
        said.push_str(&format!("wrote its QR code to {}\n", path.display()));
    }
    let json = json!({
        "reference": args.reference,
        "seq": receipt.proof.index + 1,
        "fields": fields_json(&receipt.fields),
        "receipt": text,
        "compact": compact,
    });
    match &args.out {
        Some(path) => {
            issue::write_file(path, text.as_bytes()).map_err(receipt_failure)?;
            let wrote = format!(
                "wrote the receipt of {} (seq {}) to {}\n",
                args.reference,
                receipt.proof.index + 1,
                path.display()
            );
            Ok(Output::ok(wrote + &said, json))
        }
        None if said.is_empty() => Ok(Output::ok(text, json)),
        // The receipt on stdout, what else was written on stderr, so stdout stays a receipt.
        None => {
            eprint!("{said}");
            Ok(Output::ok(text, json))
        }
    }
}

fn fields_json(fields: &[(String, String)]) -> Value {
    let map: Map<String, Value> = fields
        .iter()
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    Value::Object(map)
}

/// `audit verify-receipt`.
pub(super) fn verify(args: &VerifyReceiptArgs) -> Result<Output, Failure> {
    let key = verifier_key(&args.key)?;
    let witnessing = witnessing(&args.witness)?;
    let bytes = read_file(&args.file)?;
    let text = if qr::is_png(&bytes) {
        qr::read_png(&bytes)
            .map_err(|e| Failure::new(exit::BAD_INPUT, format!("{}: {e}", args.file.display())))?
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let verified =
        rc::parse_any(&text).and_then(|receipt| rc::verify(&receipt, &key).map(|v| (receipt, v)));
    match verified {
        Ok((receipt, v)) => Ok(witnessing.check(
            &receipt.proof.checkpoint,
            v.checkpoint.size,
            verified_output(&v),
        )),
        Err(fault) => Ok(fault_output(&fault)),
    }
}

/// What a verified receipt does not show.
const RECEIPT_LIMIT: &str = "The receipt proves the payment is in the signed log; a reversal \
recorded later would be another event, which the receipt cannot show.";

fn fault_output(fault: &ReceiptFault) -> Output {
    super::check_failed(fault.to_string(), fault.seq())
}

fn verified_output(v: &VerifiedReceipt) -> Output {
    let c = &v.checkpoint;
    let mut text = format!(
        "ok: payment {} (seq {}) is in the log {} at checkpoint size {}\n",
        v.record.reference, v.seq, c.origin, c.size
    );
    for (name, value) in &v.fields {
        text.push_str(&format!("  {name}: {value}\n"));
    }
    text.push_str(&format!("{RECEIPT_LIMIT}\n"));
    Output::ok(
        text,
        json!({
            "ok": true,
            "seq": v.seq.get(),
            "hash": v.hash.to_hex(),
            "fields": fields_json(&v.fields),
            "checkpoint": { "origin": c.origin, "size": c.size, "root": hex::encode(c.root) },
        }),
    )
}

/// A whole file, at most [`MAX_PROOF_FILE_BYTES`].
fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    let unreadable =
        |e: std::io::Error| Failure::new(exit::BAD_INPUT, format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_PROOF_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_PROOF_FILE_BYTES {
        return Err(Failure::new(
            exit::BAD_INPUT,
            format!(
                "{}: larger than {MAX_PROOF_FILE_BYTES} bytes",
                path.display()
            ),
        ));
    }
    Ok(bytes)
}
