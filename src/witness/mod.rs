//! A C2SP transparency-log witness (c2sp.org/tlog-witness) in the same binary: it cosigns
//! a log's checkpoint only when it extends the last one it cosigned for that log, so a log
//! that shows two histories is caught by everyone who counts its cosignatures.
//!
//! Pure core: `request` (the add-checkpoint body), `decide` (the protocol's checks and
//! their answers), `cosign` (timestamped Ed25519 cosignatures, c2sp.org/tlog-cosignature).
//! IO shell: `state` (the witness directory: key, trusted logs, lock, the latest
//! checkpoint per log, replaced durably) and [`Witness`], which serializes the requests of
//! one log and stores the new checkpoint before it hands out the cosignature. The HTTP
//! routes are `http::witness`.
//!
//! The ledger's side: `log_side` (the witnesses a ledger asks, its quorum, and the asking
//! after every signing command) over `client` (one blocking HTTP/1.1 request); `cosigned`
//! (the quorum notes kept, one per size).

pub mod client;
pub mod cosign;
pub mod cosigned;
pub mod decide;
pub mod log_side;
pub mod quorum;
pub mod request;
pub mod rounds;
pub mod state;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::note::{KEY_ID_LEN, SIGNATURE_LINE_PREFIX};
use cosign::{Cosigner, CosignerKey};
use decide::{check_extends, check_signed, Refusal, TrustedLogs};
use request::AddCheckpoint;
pub use state::WitnessError;

/// What the witness knows of one log, read from its file at the log's first request.
enum Slot {
    Unread,
    Latest(Option<Checkpoint>),
}

/// A serving witness: its key, the logs it trusts, and the directory it holds locked.
pub struct Witness {
    dir: PathBuf,
    cosigner: Cosigner,
    trusted: TrustedLogs,
    /// One lock per log: a request checks the stored checkpoint, cosigns and stores the new
    /// one holding it, so two requests of one log never both pass the check against the
    /// same old checkpoint (the race the protocol warns of).
    slots: Mutex<BTreeMap<String, Arc<Mutex<Slot>>>>,
    _lock: File,
}

impl Witness {
    /// Locks `dir` for this process and reads the key and the trusted logs.
    pub fn open(dir: &Path) -> Result<Witness, WitnessError> {
        let cosigner = state::read_key(dir)?;
        let lock = state::lock(dir)?;
        let trusted = state::read_trusted(dir)?;
        Ok(Witness {
            dir: dir.to_path_buf(),
            cosigner,
            trusted,
            slots: Mutex::new(BTreeMap::new()),
            _lock: lock,
        })
    }

    pub fn verifier_key(&self) -> CosignerKey {
        self.cosigner.verifier_key()
    }

    pub fn trusted(&self) -> &TrustedLogs {
        &self.trusted
    }

    /// Answers an add-checkpoint request at `now` (POSIX seconds): the cosignature line,
    /// stored durably with the checkpoint before it is returned, or why not.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, Refusal> {
        let request = AddCheckpoint::parse(body).map_err(Refusal::Malformed)?;
        let checkpoint = check_signed(&self.trusted, &request)?;
        let slot = self.slot(&checkpoint.origin);
        let mut slot = lock_slot(&slot);
        let stored = self.latest(&mut slot, &checkpoint.origin)?;
        check_extends(&request, &checkpoint, stored.as_ref())?;
        let body = note_body(&request.note);
        let line = self
            .cosigner
            .cosign(body, now)
            .map_err(|e| Refusal::Unavailable(e.to_string()))?;
        let note = format!(
            "{body}\n{}{line}",
            self.log_signatures(&request.note, &checkpoint.origin)
        );
        state::write_latest(&self.dir, &checkpoint.origin, &note).map_err(|e| {
            // What is on disk is unknown now: read it again at the next request.
            *slot = Slot::Unread;
            Refusal::Unavailable(e.to_string())
        })?;
        *slot = Slot::Latest(Some(checkpoint));
        Ok(line)
    }

    /// The latest cosigned note of the log whose origin hash is `hash`, with the log's
    /// signatures and this witness's cosignature.
    pub fn latest_note(&self, hash: &str) -> Result<Option<String>, Refusal> {
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Ok(None);
        }
        state::read_note(&self.dir, hash).map_err(|e| Refusal::Unavailable(e.to_string()))
    }

    fn slot(&self, origin: &str) -> Arc<Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            slots
                .entry(origin.to_string())
                .or_insert_with(|| Arc::new(Mutex::new(Slot::Unread))),
        )
    }

    fn latest(&self, slot: &mut Slot, origin: &str) -> Result<Option<Checkpoint>, Refusal> {
        if let Slot::Latest(latest) = slot {
            return Ok(latest.clone());
        }
        let latest = state::read_latest(&self.dir, origin)
            .map_err(|e| Refusal::Unavailable(e.to_string()))?;
        *slot = Slot::Latest(latest.clone());
        Ok(latest)
    }

    /// The note's signature lines by the origin's trusted keys (those that were verified),
    /// each ending in a newline: what the stored note keeps beside the cosignature.
    fn log_signatures(&self, note: &str, origin: &str) -> String {
        let ids: Vec<[u8; KEY_ID_LEN]> = self
            .trusted
            .keys()
            .filter(|k| k.name() == origin)
            .map(|k| k.key_id().to_be_bytes())
            .collect();
        let prefix = format!("{SIGNATURE_LINE_PREFIX}{origin} ");
        let block = note.rfind("\n\n").map_or("", |split| &note[split + 2..]);
        block
            .lines()
            .filter(|line| {
                line.strip_prefix(&prefix)
                    .and_then(|b64| BASE64.decode(b64).ok())
                    .is_some_and(|blob| {
                        blob.len() > KEY_ID_LEN && ids.iter().any(|id| blob[..KEY_ID_LEN] == id[..])
                    })
            })
            .map(|line| format!("{line}\n"))
            .collect()
    }
}

/// A poisoned slot (a panic while it was held) may not match the disk: read it again.
fn lock_slot(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(|poisoned| {
        let mut guard = poisoned.into_inner();
        *guard = Slot::Unread;
        guard
    })
}

/// The signed text of a verified note: everything through the newline before the last
/// blank line.
fn note_body(note: &str) -> &str {
    note.rfind("\n\n").map_or(note, |split| &note[..=split])
}
