//! Receipts read from a ledger: `fundtrail receipt REFERENCE` and the allowance run's
//! `--receipts DIR`. Reads only; never signs (every command that appends ends with a
//! signed checkpoint, so a payment beyond the latest one was appended by the server
//! between its checkpoints, and `fundtrail checkpoint` covers it).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{compact, qr, Receipt, ReceiptFault};
use crate::export::evidence::{event_evidence, signed_checkpoint};
use crate::ledger::{LedgerError, LedgerView, SignedCheckpoint};
use crate::model::domain::{Seq, REVERSAL_REFERENCE_PREFIX};

/// The file name extension of a receipt's text form.
pub const RECEIPT_EXTENSION: &str = "receipt";

/// Why a receipt was not written.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("no event has reference {0}")]
    NoSuchReference(String),
    #[error("{reference} (seq {seq}) is a {kind}, not a payment: receipts are for payments")]
    NotAPayment {
        reference: String,
        seq: Seq,
        kind: &'static str,
    },
    #[error("payment {reference} (seq {seq}) was reversed by seq {by} ({reversal}); a reversed payment gets no receipt")]
    Reversed {
        reference: String,
        seq: Seq,
        by: Seq,
        reversal: String,
    },
    #[error("payment {reference} (seq {seq}) is beyond the latest signed checkpoint (size {size}); run `fundtrail checkpoint` first")]
    NotCovered {
        reference: String,
        seq: Seq,
        size: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Qr(#[from] qr::QrError),
    #[error(transparent)]
    Compact(#[from] ReceiptFault),
}

impl ReceiptError {
    /// Whether the fault is the request's (a reference without a receipt), not the
    /// ledger's or the file system's.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            ReceiptError::NoSuchReference(_)
                | ReceiptError::NotAPayment { .. }
                | ReceiptError::Reversed { .. }
                | ReceiptError::NotCovered { .. }
        )
    }
}

/// Writes receipts against one signed checkpoint: the latest.
pub struct Issuer<'v> {
    view: &'v LedgerView,
    checkpoint: SignedCheckpoint,
}

impl<'v> Issuer<'v> {
    /// An issuer against the latest signed checkpoint.
    pub fn new(view: &'v LedgerView) -> Result<Issuer<'v>, ReceiptError> {
        let checkpoint = signed_checkpoint(view, None)?;
        Ok(Issuer { view, checkpoint })
    }

    /// The receipt of the live payment with `reference`.
    pub fn receipt(&self, reference: &str) -> Result<Receipt, ReceiptError> {
        let seq = self
            .view
            .lookup_reference(reference)?
            .ok_or_else(|| ReceiptError::NoSuchReference(reference.to_string()))?;
        let (evidence, record) = event_evidence(self.view, seq)?;
        if record.body.payment().is_none() {
            return Err(ReceiptError::NotAPayment {
                reference: reference.to_string(),
                seq,
                kind: record.body.type_name(),
            });
        }
        self.check_live(reference, seq)?;
        let size = self.checkpoint.checkpoint.size;
        if seq.get() > size {
            return Err(ReceiptError::NotCovered {
                reference: reference.to_string(),
                seq,
                size,
            });
        }
        let proof = self.view.inclusion_proof(seq, size)?;
        Ok(Receipt::new(
            &evidence,
            &record,
            &proof,
            &self.checkpoint.note,
        ))
    }

    /// Refuses a payment that was reversed: a receipt of it would show money that was
    /// taken back as paid.
    fn check_live(&self, reference: &str, seq: Seq) -> Result<(), ReceiptError> {
        let reversal = format!("{REVERSAL_REFERENCE_PREFIX}{reference}");
        match self.view.lookup_reference(&reversal)? {
            Some(by) => Err(ReceiptError::Reversed {
                reference: reference.to_string(),
                seq,
                by,
                reversal,
            }),
            None => Ok(()),
        }
    }
}

/// The receipt of the payment with `reference`, against the latest signed checkpoint.
pub fn receipt(view: &LedgerView, reference: &str) -> Result<Receipt, ReceiptError> {
    Issuer::new(view)?.receipt(reference)
}

/// The PNG of a receipt's QR code (its compact form).
pub fn qr_png(receipt: &Receipt) -> Result<Vec<u8>, ReceiptError> {
    Ok(qr::png(&compact::encode(&receipt.proof)?)?)
}

/// Whether a batch of receipts is made durable by one `syncfs` of their file system after
/// they are all written (Linux), or each file is synced as it is written. An fdatasync per
/// file held a month of 10,000 receipts to about 230 a second on this project's disks; the
/// receipts are copies of what the ledger proves, rewritten by the same command.
const SYNC_ONCE: bool = cfg!(target_os = "linux");

/// Writes `bytes` to `path` whole or not at all, and durably: a temporary file beside it,
/// synced, then renamed over it, so a reader never sees half a receipt.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReceiptError> {
    write_whole(path, bytes, true)
}

fn write_whole(path: &Path, bytes: &[u8], sync: bool) -> Result<(), ReceiptError> {
    let io = |source| ReceiptError::Io {
        path: path.to_owned(),
        source,
    };
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut file = fs::File::create(&partial).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    if sync {
        file.sync_data().map_err(io)?;
    }
    fs::rename(&partial, path).map_err(io)
}

/// Flushes the file system holding `dir`: every receipt written there since, data and
/// names, is then on disk.
#[cfg(target_os = "linux")]
fn sync_file_system(dir: &Path) -> Result<(), ReceiptError> {
    let io = |source| ReceiptError::Io {
        path: dir.to_owned(),
        source,
    };
    let handle = fs::File::open(dir).map_err(io)?;
    rustix::fs::syncfs(&handle).map_err(|e| io(e.into()))
}

#[cfg(not(target_os = "linux"))]
fn sync_file_system(_dir: &Path) -> Result<(), ReceiptError> {
    Ok(())
}

/// The file name of a reference's receipt: `<reference>.receipt`, each byte of the
/// reference other than an ASCII letter, digit, `-` or `_` written `%XX` (uppercase hex),
/// so that a reference naming a path (`a/../b`) stays one file in the directory.
pub fn file_name(reference: &str) -> String {
    let mut name = String::with_capacity(reference.len() + RECEIPT_EXTENSION.len() + 1);
    for byte in reference.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    name.push('.');
    name.push_str(RECEIPT_EXTENSION);
    name
}

/// Receipts written to a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenReceipts {
    pub dir: PathBuf,
    /// One file per payment, named by [`file_name`].
    pub written: usize,
    /// References left out because their payment was reversed.
    pub reversed: Vec<String>,
    /// The size of the checkpoint every receipt proves against.
    pub checkpoint_size: u64,
}

/// Writes the receipt of each payment in `references` to `dir` (created if missing), named
/// by [`file_name`]; a reversed payment is listed, not written.
pub fn write_receipts<'r>(
    view: &LedgerView,
    references: impl IntoIterator<Item = &'r str>,
    dir: &Path,
) -> Result<WrittenReceipts, ReceiptError> {
    fs::create_dir_all(dir).map_err(|source| ReceiptError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let issuer = Issuer::new(view)?;
    let mut out = WrittenReceipts {
        dir: dir.to_owned(),
        written: 0,
        reversed: Vec::new(),
        checkpoint_size: issuer.checkpoint.checkpoint.size,
    };
    for reference in references {
        match issuer.receipt(reference) {
            Ok(receipt) => {
                let path = dir.join(file_name(reference));
                write_whole(&path, receipt.to_text().as_bytes(), !SYNC_ONCE)?;
                out.written += 1;
            }
            Err(ReceiptError::Reversed { .. }) => out.reversed.push(reference.to_string()),
            Err(other) => return Err(other),
        }
    }
    if SYNC_ONCE {
        sync_file_system(dir)?;
    }
    Ok(out)
}
