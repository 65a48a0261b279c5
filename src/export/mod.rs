//! The export bundle (FORMAT.md §9): every event up to the latest signed checkpoint as
//! JSON lines, that checkpoint, the public key and instructions; and its offline verifier.
//!
//! The verifier streams `events.jsonl` one bounded line at a time, so its memory does not
//! grow with the ledger. [`ExportCheck`] is its pure core: it feeds [`LogAudit`], the same
//! verifier `Ledger::verify` feeds, and adds what only an export has (each line's
//! `prev_hash` and decoded `fields`).

pub mod evidence;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use fundtrail_projections::{Finding, Findings};

use crate::ledger::readmodels::facts::finding_fact_of;
use crate::ledger::{Ledger, LedgerError, LedgerView};
use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::decode;
use crate::model::json_object::unique_members;
use crate::model::render::record_fields;
use crate::tlog::audit::{AuditFault, LogAudit};
use crate::tlog::chain::ChainFault;
use crate::tlog::checkpoint::{open_note_bytes, Checkpoint, CheckpointError};
use crate::tlog::note::{VerifierKey, MAX_NOTE_BYTES};
use crate::tlog::proofs::{check_fields, strict_hex, ProofFault};

pub const EVENTS_FILE: &str = "events.jsonl";
pub const CHECKPOINT_FILE: &str = "checkpoint.txt";
pub const PUBKEY_FILE: &str = "pubkey";
pub const README_FILE: &str = "README.txt";

/// Longest line of `events.jsonl` accepted, in bytes. A record is at most 16 KiB (32 KiB
/// as hex) and its decoded fields repeat its text once (control characters, the only ones
/// JSON escapes, never occur in records), so real lines stay under 64 KiB; the limit stops
/// a damaged file from making the verifier read gigabytes into one line.
pub const MAX_LINE_BYTES: usize = 128 * 1024;

/// Write buffer of `events.jsonl`: large enough that writes cost nothing per event.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// One line of `events.jsonl`. Field order is the written order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportLine {
    pub seq: u64,
    pub hash: String,
    pub prev_hash: String,
    pub record: String,
    #[serde(deserialize_with = "unique_members")]
    pub fields: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} exists and is not empty; export into a new directory")]
    NotEmpty(PathBuf),
    #[error("the ledger has no signed checkpoint yet (run `fundtrail checkpoint`)")]
    NoCheckpoint,
    #[error("{0}: the export has no such file")]
    Missing(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub events: u64,
    pub checkpoint: Checkpoint,
    /// Committed events after the latest checkpoint, which the export leaves out.
    pub unexported: u64,
    /// Bytes of `events.jsonl`.
    pub bytes: u64,
}

/// Writes the bundle for the latest checkpoint into `dir` (new, or empty).
pub fn write_export(ledger: &Ledger, dir: &Path) -> Result<ExportSummary, ExportError> {
    let latest = ledger
        .view()
        .latest_checkpoint()?
        .ok_or(ExportError::NoCheckpoint)?;
    let latest = crate::witness::log_side::with_cosignatures(ledger.view().dir(), latest);
    prepare_dir(dir)?;
    let size = latest.checkpoint.size;
    let bytes = write_events(ledger, &dir.join(EVENTS_FILE), size)?;
    let key = ledger.view().verifier_key().to_string();
    write_file(&dir.join(CHECKPOINT_FILE), latest.note.as_bytes())?;
    write_file(&dir.join(PUBKEY_FILE), format!("{key}\n").as_bytes())?;
    let readme = readme(&latest.checkpoint, &key);
    write_file(&dir.join(README_FILE), readme.as_bytes())?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(ExportSummary {
        events: size,
        unexported: ledger.view().head().size - size,
        checkpoint: latest.checkpoint,
        bytes,
    })
}

fn prepare_dir(dir: &Path) -> Result<(), ExportError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut entries = fs::read_dir(dir).map_err(io_err(dir))?;
    if entries.next().is_some() {
        return Err(ExportError::NotEmpty(dir.to_owned()));
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut file = File::create_new(path).map_err(io_err(path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_err(path))
}

/// Writes seq 1..=size to `path`, one line each, and syncs it; returns the bytes written.
fn write_events(ledger: &Ledger, path: &Path, size: u64) -> Result<u64, ExportError> {
    let file = File::create_new(path).map_err(io_err(path))?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
    let bytes = write_event_lines(ledger.view(), &mut out, size).map_err(|e| match e {
        LinesError::Ledger(e) => ExportError::Ledger(e),
        LinesError::Io(e) => io_err(path)(e),
    })?;
    let file = out.into_inner().map_err(|e| io_err(path)(e.into_error()))?;
    file.sync_all().map_err(io_err(path))?;
    Ok(bytes)
}

/// Why writing export lines stopped.
#[derive(Debug, thiserror::Error)]
pub enum LinesError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes the `events.jsonl` lines of seq 1..=size (FORMAT.md, "Export") to `out`; returns
/// the bytes written. The file export and the HTTP export share it, so they cannot differ.
pub fn write_event_lines(
    view: &LedgerView,
    out: &mut impl Write,
    size: u64,
) -> Result<u64, LinesError> {
    let mut prev = EventHash::GENESIS;
    let mut bytes = 0u64;
    let mut expected = Seq::FIRST;
    for item in view.stored_events(Seq::FIRST, Seq::new(size)) {
        let (seq, stored) = item?;
        if seq != expected {
            return Err(LedgerError::Corrupt(format!("seq {expected} is missing")).into());
        }
        let record =
            decode(&stored.record).map_err(|e| LedgerError::Corrupt(format!("seq {seq}: {e}")))?;
        let line = ExportLine {
            seq: seq.get(),
            hash: stored.hash.to_hex(),
            prev_hash: prev.to_hex(),
            record: hex::encode(&stored.record),
            fields: record_fields(&record),
        };
        let mut text = serde_json::to_vec(&line).expect("an export line is plain JSON");
        text.push(b'\n');
        out.write_all(&text)?;
        bytes += text.len() as u64;
        prev = stored.hash;
        expected = seq.next();
    }
    if expected != Seq::new(size + 1) {
        return Err(LedgerError::Corrupt(format!("seq {expected} is missing")).into());
    }
    Ok(bytes)
}

/// The bundle's README.txt.
fn readme(checkpoint: &Checkpoint, key: &str) -> String {
    format!(
        "\
fundtrail export of the ledger {origin}
{rule}

This directory holds the first {size} events of the ledger and the ledger's signed
checkpoint of exactly those events. It needs no ledger and no fundtrail to check.

  {EVENTS_FILE}    one JSON object per line, seq 1 to {size}: seq, hash, prev_hash,
                  record (hex of the stored record bytes), fields (the record decoded)
  {CHECKPOINT_FILE}  the signed checkpoint (a C2SP signed note): origin, size, Merkle root
  {PUBKEY_FILE}          the ledger's public key (a C2SP verifier key)
  {README_FILE}      this file

Do not take the key from the {PUBKEY_FILE} file of this directory on trust: compare it with
the key the ledger's operator published or handed you another way. It should read
  {key}

With fundtrail (exit 0: valid; exit 1: not valid, with the reason and the first bad seq):

  fundtrail audit verify-export DIR --key '<the verifier key you trust>'

With your own tools (FORMAT.md in the fundtrail sources describes every byte):

1. {CHECKPOINT_FILE} is text, a blank line, and signature lines
   \"\\u{{2014}} <name> <base64>\". The base64 decodes to a 4-byte key id and a 64-byte
   Ed25519 signature over the text (through the newline before the blank line). The
   verifier key is <name>+<key id hex>+<base64 of 0x01 and the 32-byte public key>. The
   text is \"<origin>\\n<size>\\n<base64 Merkle root>\\n\".
2. For line n = 1, 2, ...: seq = n; prev_hash = the hash of line n-1 (64 zeros for line 1);
   hash = BLAKE3(\"fundtrail.event.v1\" 0x00 prev_hash record) over the raw bytes; bytes
   1 to 8 of record, read as a little-endian integer, = n.
3. leaf_n = BLAKE3(0x00 hash_n). The Merkle root of one leaf is the leaf; of m > 1 leaves,
   BLAKE3(0x01 root(first k) root(rest)), k the largest power of two below m. The root of
   all {size} leaves must be the checkpoint's root.
4. fields must be the decoded record: an amount you read in fields is the amount hashed.
",
        origin = checkpoint.origin,
        rule = "=".repeat(32 + checkpoint.origin.chars().count()),
        size = checkpoint.size,
    )
}

/// Why an export is not a valid copy of a signed log.
#[derive(Debug, thiserror::Error)]
pub enum ExportFault {
    #[error("{CHECKPOINT_FILE}: {0}")]
    Checkpoint(CheckpointError),
    #[error("{EVENTS_FILE} line {line}: {reason}")]
    Line { line: u64, reason: String },
    #[error("{EVENTS_FILE}: {0}")]
    Audit(#[from] AuditFault),
    #[error("{EVENTS_FILE} has more events than the {size} the checkpoint signs")]
    BeyondCheckpoint { size: u64 },
}

impl ExportFault {
    /// Line n holds seq n, so a bad line names its seq.
    pub fn first_bad_seq(&self) -> Option<Seq> {
        match self {
            ExportFault::Checkpoint(_) => None,
            ExportFault::Line { line, .. } => Some(Seq::new(*line)),
            ExportFault::Audit(fault) => fault.first_bad_seq(),
            ExportFault::BeyondCheckpoint { size } => Some(Seq::new(size + 1)),
        }
    }
}

/// What a valid export showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportVerified {
    pub events: u64,
    pub checkpoint: Checkpoint,
    /// Checkpoints besides the export's own (held by the auditor) that matched.
    pub held: usize,
    /// The findings the export's events raise, when asked for ([`ExportCheck::with_findings`]).
    pub findings: Option<Vec<Finding>>,
}

/// The pure check of an export's lines against its signed checkpoint.
#[derive(Debug, Clone)]
pub struct ExportCheck {
    audit: LogAudit,
    checkpoint: Checkpoint,
    held: usize,
    lines: u64,
    /// The audit rules folded over the verified events, when asked for.
    findings: Option<Findings>,
    /// The actor of every event, for four eyes on decisions (kept with the findings).
    actors: Actors,
}

/// The actor of each event by seq, each name held once: 4 bytes an event, so that a
/// decision's four eyes can be checked against any earlier evidence.
#[derive(Debug, Clone, Default)]
struct Actors {
    names: Vec<String>,
    index: std::collections::HashMap<String, u32>,
    by_seq: Vec<u32>,
}

impl Actors {
    fn push(&mut self, actor: &str) {
        let next = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct actors");
        let id = *self.index.entry(actor.to_owned()).or_insert_with(|| {
            self.names.push(actor.to_owned());
            next
        });
        self.by_seq.push(id);
    }

    /// The actor of the event at `seq` (seqs start at 1), if it was pushed.
    fn of(&self, seq: u64) -> Option<String> {
        let at = usize::try_from(seq.checked_sub(1)?).ok()?;
        let id = *self.by_seq.get(at)?;
        self.names.get(usize::try_from(id).ok()?).cloned()
    }
}

impl ExportCheck {
    /// `checkpoint` is the export's own, `held` any the auditor kept; all already opened
    /// with the trusted key.
    pub fn new(checkpoint: Checkpoint, held: Vec<Checkpoint>) -> ExportCheck {
        let mut all = held;
        let held = all.len();
        all.push(checkpoint.clone());
        ExportCheck {
            audit: LogAudit::new(all),
            checkpoint,
            held,
            lines: 0,
            findings: None,
            actors: Actors::default(),
        }
    }

    /// Also folds the audit rules (`projections::findings`) over every verified event, as
    /// the ledger does, so an auditor re-performs the findings from the export alone.
    pub fn with_findings(mut self) -> ExportCheck {
        self.findings = Some(Findings::new());
        self
    }

    /// Checks the next line (without its newline).
    pub fn push_line(&mut self, bytes: &[u8]) -> Result<(), ExportFault> {
        self.lines += 1;
        let line = self.lines;
        let fault = |reason: String| ExportFault::Line { line, reason };
        if line > self.checkpoint.size {
            return Err(ExportFault::BeyondCheckpoint {
                size: self.checkpoint.size,
            });
        }
        let parsed: ExportLine =
            serde_json::from_slice(bytes).map_err(|e| fault(format!("not an event line: {e}")))?;
        let seq = Seq::new(parsed.seq);
        if seq != Seq::new(line) {
            return Err(AuditFault::Chain(ChainFault::Gap {
                expected: Seq::new(line),
                found: seq,
            })
            .into());
        }
        let prev = hex32(&parsed.prev_hash).map_err(|e| fault(format!("prev_hash: {e}")))?;
        if prev != self.audit.last_hash() {
            return Err(fault(format!(
                "prev_hash is {}, the previous event's hash is {}",
                parsed.prev_hash,
                self.audit.last_hash()
            )));
        }
        let hash = hex32(&parsed.hash).map_err(|e| fault(format!("hash: {e}")))?;
        let record = strict_hex(&parsed.record).map_err(|e| fault(format!("record: {e}")))?;
        let decoded = self.audit.push(seq, &hash, &record)?;
        check_fields(seq, &decoded, &parsed.fields).map_err(|e| match e {
            ProofFault::Event { reason, .. } => fault(reason),
            other => fault(other.to_string()),
        })?;
        let Some(findings) = self.findings.as_mut() else {
            return Ok(());
        };
        let fact = finding_fact_of(seq, &decoded).map_err(|e| fault(e.to_string()))?;
        let actors = &mut self.actors;
        let checked = match &fact {
            Some(fact) => findings
                .check_evidence_actors(fact, |seq| actors.of(seq))
                .and_then(|()| findings.apply(seq.get(), fact)),
            None => Ok(()),
        };
        actors.push(&decoded.actor);
        checked.map_err(|e| fault(format!("the findings rules: {e}")))
    }

    /// After the last line: the export must reach the checkpoint's size.
    pub fn finish(mut self) -> Result<ExportVerified, ExportFault> {
        self.audit.finish(None)?;
        Ok(ExportVerified {
            events: self.audit.size(),
            checkpoint: self.checkpoint,
            held: self.held,
            findings: self.findings.map(|f| f.all()),
        })
    }

    /// The fault of a line that could not be read whole.
    fn unreadable_line(&self, reason: String) -> ExportFault {
        ExportFault::Line {
            line: self.lines + 1,
            reason,
        }
    }
}

fn hex32(text: &str) -> Result<EventHash, String> {
    let bytes = strict_hex(text)?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes, not 32", b.len()))?;
    Ok(EventHash::from_bytes(bytes))
}

/// Verifies the bundle in `dir` with `key` (and against `held` checkpoints, already opened
/// with it). The outer error is a file that cannot be read at all; the inner one says why
/// the export is not valid.
pub fn verify_export(
    dir: &Path,
    key: &VerifierKey,
    held: Vec<Checkpoint>,
) -> Result<Result<ExportVerified, ExportFault>, ExportError> {
    verify_export_with(dir, key, held, false)
}

/// [`verify_export`], and the findings the verified events raise (`audit findings`).
pub fn verify_export_findings(
    dir: &Path,
    key: &VerifierKey,
) -> Result<Result<ExportVerified, ExportFault>, ExportError> {
    verify_export_with(dir, key, Vec::new(), true)
}

fn verify_export_with(
    dir: &Path,
    key: &VerifierKey,
    held: Vec<Checkpoint>,
    findings: bool,
) -> Result<Result<ExportVerified, ExportFault>, ExportError> {
    if !dir.is_dir() {
        return Err(ExportError::Io {
            path: dir.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        });
    }
    // A missing file is bad input (exit 2), not a forged export: there is nothing to judge.
    for file in [CHECKPOINT_FILE, EVENTS_FILE] {
        if !dir.join(file).is_file() {
            return Err(ExportError::Missing(dir.join(file)));
        }
    }
    let note = read_note(&dir.join(CHECKPOINT_FILE))?;
    let checkpoint = match open_note_bytes(&note, key) {
        Ok(checkpoint) => checkpoint,
        Err(e) => return Ok(Err(ExportFault::Checkpoint(e))),
    };
    let mut check = ExportCheck::new(checkpoint, held);
    if findings {
        check = check.with_findings();
    }
    if let Err(fault) = stream_lines(&dir.join(EVENTS_FILE), &mut check)? {
        return Ok(Err(fault));
    }
    Ok(check.finish())
}

/// Reads a checkpoint note's bytes, refusing anything larger than a note can be; opening
/// it ([`open_note_bytes`]) checks the rest, UTF-8 included.
pub fn read_note(path: &Path) -> Result<Vec<u8>, ExportError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut bytes = Vec::new();
    file.take(MAX_NOTE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    Ok(bytes)
}

/// Feeds each line of `events.jsonl` to the check.
fn stream_lines(
    path: &Path,
    check: &mut ExportCheck,
) -> Result<Result<(), ExportFault>, ExportError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = BufReader::with_capacity(WRITE_BUFFER_BYTES, file);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let read = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(io_err(path))?;
        if read == 0 {
            return Ok(Ok(()));
        }
        if line.pop() != Some(b'\n') {
            let reason = if read as u64 == limit {
                format!("longer than {MAX_LINE_BYTES} bytes")
            } else {
                "the file ends inside this line (no final newline)".to_string()
            };
            return Ok(Err(check.unreadable_line(reason)));
        }
        if let Err(fault) = check.push_line(&line) {
            return Ok(Err(fault));
        }
    }
}
