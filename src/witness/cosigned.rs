//! The quorum notes a ledger keeps (FORMAT.md §13.5): every checkpoint that reached its
//! witnesses' quorum, cosigned, one file per size in `<ledger>/cosigned/<size>.txt`, so
//! evidence for an older size (a proof `--size`, a receipt, an export) still carries its
//! cosignatures; and `cosigned-checkpoint.txt`, the latest of them, read by `status`,
//! `witness list` and the API without listing the directory.
//!
//! A note is self-authenticating by its signatures (the log's and each witness's), so
//! plain files are enough: someone who edits one breaks its signatures, and an auditor
//! requiring the quorum refuses it. Each file is written durably (temp file, fsync,
//! rename, directory fsync). A ledger from before the directory existed has only the
//! latest file; it is still read, for its own size.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::ledger::SignedCheckpoint;
use crate::tlog::checkpoint::Checkpoint;
use crate::witness::state::{io_err, replace_durably, WitnessError};

/// The directory of quorum notes, one `<size>.txt` per checkpoint size.
pub const COSIGNED_DIR: &str = "cosigned";

/// The latest checkpoint that reached its quorum, cosigned (also in [`COSIGNED_DIR`]).
pub const COSIGNED_FILE: &str = "cosigned-checkpoint.txt";

/// A cosigned note above 1 MiB is not one a ledger wrote (a note is at most 256 KiB,
/// FORMAT.md §13.3, and a cosignature line about 120 bytes).
const MAX_COSIGNED_FILE_BYTES: u64 = 1024 * 1024;

/// Keeps `note`, the checkpoint of `size` with its quorum of cosignatures: its own file
/// first, then the latest file, each replaced durably.
pub fn keep(ledger_dir: &Path, size: u64, note: &str) -> Result<(), WitnessError> {
    let dir = notes_dir(ledger_dir)?;
    replace_durably(&dir, &file_name(size), note.as_bytes())?;
    replace_durably(ledger_dir, COSIGNED_FILE, note.as_bytes())
}

/// The kept quorum note of the checkpoint of `size`, if any.
pub fn note_at(ledger_dir: &Path, size: u64) -> Option<String> {
    let own = ledger_dir.join(COSIGNED_DIR).join(file_name(size));
    if let Some(note) = read_note(&own) {
        return Some(note);
    }
    // A ledger from before the directory: the latest file, when it is of this size.
    read_note(&ledger_dir.join(COSIGNED_FILE)).filter(|note| note_size(note) == Some(size))
}

/// The latest kept quorum note and its size.
pub fn latest(ledger_dir: &Path) -> Option<(u64, String)> {
    let note = read_note(&ledger_dir.join(COSIGNED_FILE))?;
    note_size(&note).map(|size| (size, note))
}

/// `signed` with its witnesses' cosignatures when a quorum note of its size is kept and
/// starts with this very note verbatim; otherwise `signed` as it is. Proofs, trails,
/// receipts and exports carry what this gives, so an auditor can require the witnesses'
/// quorum; without a note they carry the log's signature alone, which an auditor
/// requiring witnesses refuses loudly.
pub fn with_cosignatures(ledger_dir: &Path, mut signed: SignedCheckpoint) -> SignedCheckpoint {
    if let Some(cosigned) = note_at(ledger_dir, signed.checkpoint.size) {
        if cosigned.len() > signed.note.len() && cosigned.starts_with(&signed.note) {
            signed.note = cosigned;
        }
    }
    signed
}

/// The size a note's checkpoint body names.
fn note_size(note: &str) -> Option<u64> {
    let split = note.rfind("\n\n")?;
    Checkpoint::parse_body(&note[..=split]).ok().map(|c| c.size)
}

fn file_name(size: u64) -> String {
    format!("{size}.txt")
}

/// The notes' directory, made (and its creation made durable) at the first note.
fn notes_dir(ledger_dir: &Path) -> Result<PathBuf, WitnessError> {
    let dir = ledger_dir.join(COSIGNED_DIR);
    match std::fs::create_dir(&dir) {
        Ok(()) => File::open(ledger_dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(ledger_dir))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(&dir)(e)),
    }
    Ok(dir)
}

/// A note file, read up to its bound; none when missing, unreadable or not UTF-8.
fn read_note(path: &Path) -> Option<String> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_COSIGNED_FILE_BYTES).read_to_end(&mut bytes))
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(size: u64) -> String {
        format!("fundtrail.example/ledger\n{size}\nX2iWKcJUBsvhfiOq/TcAhCGVY4N3m7KWKFNB8qXQ62g=\n\n\u{2014} fundtrail.example/ledger AAAA\n")
    }

    #[test]
    fn every_size_is_kept_and_the_latest_file_names_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(latest(dir.path()), None);
        assert_eq!(note_at(dir.path(), 3), None);
        keep(dir.path(), 3, &note(3)).unwrap();
        keep(dir.path(), 7, &note(7)).unwrap();
        assert_eq!(note_at(dir.path(), 3), Some(note(3)));
        assert_eq!(note_at(dir.path(), 7), Some(note(7)));
        assert_eq!(note_at(dir.path(), 5), None);
        assert_eq!(latest(dir.path()), Some((7, note(7))));
        assert!(dir.path().join("cosigned/3.txt").is_file());
    }

    #[test]
    fn a_ledger_with_only_the_latest_file_still_reads_it_for_its_size() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(COSIGNED_FILE), note(4)).unwrap();
        assert_eq!(note_at(dir.path(), 4), Some(note(4)));
        assert_eq!(note_at(dir.path(), 3), None);
        std::fs::write(dir.path().join(COSIGNED_FILE), "not a note").unwrap();
        assert_eq!(note_at(dir.path(), 4), None);
        assert_eq!(latest(dir.path()), None);
    }

    #[test]
    fn a_note_directory_that_cannot_be_made_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(COSIGNED_DIR), "a file in the way").unwrap();
        assert!(matches!(
            keep(dir.path(), 1, &note(1)),
            Err(WitnessError::Io { .. })
        ));
    }
}
