//! Meta records larger than [`super::META_CHUNK_BYTES`] (the read-model and findings
//! snapshots of a large ledger) kept as files beside sled, in `<ledger>/records/`
//! (FORMAT.md §3, key `f`).
//!
//! In sled they cost memory and disk out of proportion: every value written stays in
//! sled's page cache until evicted, beyond the cache's nominal capacity (a 35 MB findings
//! snapshot held 70 MB of an import's peak), and a record rewritten every few thousand
//! events left its old blob files behind until sled collected them (140 MB of blobs for
//! 35 MB of live records at 1,000,000 events). A file is written once, read once, and
//! removed as soon as a newer one is committed.
//!
//! A file is named by its record's name and the BLAKE3 of its bytes, `name.<hex>`; the
//! key `f‖name` in sled names the live one by its length and digest, and is written in
//! the same batch as the rest of the write. The file is durable before that batch is
//! applied, so a crash leaves either the old key (and a new file no key names, removed on
//! the next open) or the new key with its file. A file that is missing or does not hash
//! to its key reads as no record: these records are caches, recomputed from the log when
//! absent, and their seal (checked by the callers) refuses an edit that kept the digest.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{io_err, space, sync_dir, StoreError};

/// The folder of the large records, inside the ledger directory.
pub(super) const RECORDS_DIR: &str = "records";

/// The suffix of a file being written; one left by a crash is removed on open.
const WRITING_SUFFIX: &str = ".writing";

/// What `f‖name` holds: the record's length and BLAKE3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileRef {
    pub(super) len: u64,
    pub(super) digest: [u8; 32],
}

/// `f‖name`'s value: length (u64 BE) ‖ BLAKE3 (32 bytes).
const REF_BYTES: usize = 8 + 32;

impl FileRef {
    pub(super) fn of(bytes: &[u8]) -> FileRef {
        FileRef {
            len: bytes.len() as u64,
            digest: *blake3::hash(bytes).as_bytes(),
        }
    }

    pub(super) fn encode(self) -> Vec<u8> {
        let mut value = Vec::with_capacity(REF_BYTES);
        value.extend_from_slice(&self.len.to_be_bytes());
        value.extend_from_slice(&self.digest);
        value
    }

    pub(super) fn decode(value: &[u8]) -> Option<FileRef> {
        let (len, digest) = value.split_first_chunk::<8>()?;
        Some(FileRef {
            len: u64::from_be_bytes(*len),
            digest: digest.try_into().ok()?,
        })
    }

    pub(super) fn file_name(self, name: &str) -> String {
        format!("{name}.{}", hex::encode(self.digest))
    }
}

/// A record waiting in a batch to be written as a file.
#[derive(Clone)]
pub(super) struct PendingFile {
    pub(super) name: String,
    pub(super) file: FileRef,
    pub(super) bytes: Vec<u8>,
}

/// A record written into its file as its bytes are made ([`super::Store::record_file`]),
/// so that no whole copy of it is held in memory: a findings snapshot is 11 MB at
/// 1,000,000 events and 46 MB at 4,000,000. The bytes go to a `.writing` file under a
/// name of its own (the digest that names the record is known only at the end) and are
/// hashed as they go; [`RecordFile::finish`] makes the file durable under its final name.
/// Dropped unfinished (an encoding that failed midway), the file is removed; one a crash
/// left is removed on the next open ([`remove_unnamed`]).
pub struct RecordFile {
    dir: PathBuf,
    name: String,
    writing: PathBuf,
    /// `None` once finished or failed: nothing is left to remove.
    file: Option<File>,
    hasher: blake3::Hasher,
    len: u64,
}

/// A record file made durable under its final name, for a batch to name
/// ([`super::StoreBatch::put_meta_file`]).
pub struct WrittenFile {
    pub(super) name: String,
    pub(super) file: FileRef,
}

/// Numbers the `.writing` files of this process, so that two records written at once
/// never share one.
static WRITING_FILES: AtomicU64 = AtomicU64::new(0);

#[cfg(test)]
thread_local! {
    /// A device this thread's record files are opened as instead of their `.writing`
    /// files: a test's `/dev/full`, a disk that fills midway through a streamed record.
    static RECORD_FILE_DEVICE: std::cell::RefCell<Option<PathBuf>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's record files written to `device` (tests only).
#[cfg(test)]
pub(crate) fn with_record_files_on<T>(device: &Path, f: impl FnOnce() -> T) -> T {
    RECORD_FILE_DEVICE.with(|d| *d.borrow_mut() = Some(device.to_owned()));
    let out = f();
    RECORD_FILE_DEVICE.with(|d| *d.borrow_mut() = None);
    out
}

#[cfg(test)]
fn injected_device() -> Option<PathBuf> {
    RECORD_FILE_DEVICE.with(|d| d.borrow().clone())
}

/// Outside tests no device is injected.
#[cfg(not(test))]
fn injected_device() -> Option<PathBuf> {
    None
}

impl RecordFile {
    /// Starts the file of record `name` in the ledger at `dir`.
    pub(super) fn create(dir: &Path, name: &str) -> Result<RecordFile, StoreError> {
        let folder = records_dir(dir);
        fs::create_dir_all(&folder).map_err(|e| full_or_io(dir, &folder, e))?;
        let number = WRITING_FILES.fetch_add(1, Ordering::Relaxed);
        let writing = folder.join(format!(
            "{name}.{}-{number}{WRITING_SUFFIX}",
            std::process::id()
        ));
        let opened = File::create(injected_device().as_deref().unwrap_or(&writing));
        let file = opened.map_err(|e| full_or_io(dir, &writing, e))?;
        Ok(RecordFile {
            dir: dir.to_owned(),
            name: name.to_owned(),
            writing,
            file: Some(file),
            hasher: blake3::Hasher::new(),
            len: 0,
        })
    }

    /// The error `e` met while writing this file, as the store names it (a full disk as
    /// such).
    pub fn error(&self, e: std::io::Error) -> StoreError {
        full_or_io(&self.dir, &self.writing, e)
    }

    /// Syncs the file and renames it to the name its digest gives, then syncs the folder:
    /// durable before a batch names it. Refused, and the file removed, unless exactly
    /// `expected` bytes were written (the length the record's seal was begun with).
    pub fn finish(mut self, expected: u64) -> Result<WrittenFile, StoreError> {
        let file = FileRef {
            len: self.len,
            digest: *self.hasher.finalize().as_bytes(),
        };
        let path = records_dir(&self.dir).join(file.file_name(&self.name));
        let synced = match self.file.take() {
            Some(_) if self.len != expected => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} bytes written where {expected} were announced; not kept",
                    self.len
                ),
            )),
            Some(f) => f.sync_all().and_then(|()| fs::rename(&self.writing, &path)),
            None => Err(std::io::Error::other(
                "an earlier write to this file failed",
            )),
        };
        if let Err(e) = synced {
            let _ = fs::remove_file(&self.writing);
            return Err(self.error(e));
        }
        sync_dir(&records_dir(&self.dir))?;
        Ok(WrittenFile {
            name: std::mem::take(&mut self.name),
            file,
        })
    }
}

/// Writes and hashes the bytes; a failed write closes the file, and every later one fails.
impl Write for RecordFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Err(std::io::Error::other(
                "an earlier write to this file failed",
            ));
        };
        if let Err(e) = file.write_all(buf) {
            self.file = None;
            let _ = fs::remove_file(&self.writing);
            return Err(e);
        }
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An unfinished file is removed: no batch can name it.
impl Drop for RecordFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.writing);
        }
    }
}

/// A record file read as its bytes are decoded ([`super::Store::meta_read`]), hashed as
/// they go: whether they are the bytes `f‖name` names is known only at
/// [`RecordReader::finish`], so what was decoded from them is kept only then.
pub struct RecordReader {
    path: PathBuf,
    reader: File,
    file: FileRef,
    hasher: blake3::Hasher,
    read: u64,
}

impl RecordReader {
    /// The file `file` names; `None` when it is missing or not of the named length (a
    /// torn or edited file: the record is recomputed).
    pub(super) fn open(
        dir: &Path,
        name: &str,
        file: FileRef,
    ) -> Result<Option<RecordReader>, StoreError> {
        let path = records_dir(dir).join(file.file_name(name));
        let reader = match File::open(&path) {
            Ok(reader) => reader,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let len = reader.metadata().map_err(io_err(&path))?.len();
        Ok((len == file.len).then_some(RecordReader {
            path,
            reader,
            file,
            hasher: blake3::Hasher::new(),
            read: 0,
        }))
    }

    /// The record's length, as its reference names it.
    pub fn file_len(&self) -> u64 {
        self.file.len
    }

    /// Reads what is left, then says whether the bytes read were those the reference
    /// names (else the record reads as absent, as [`read`] has it).
    pub fn finish(mut self) -> Result<bool, StoreError> {
        std::io::copy(&mut self, &mut std::io::sink()).map_err(|e| self.error(e))?;
        Ok(self.read == self.file.len && *self.hasher.finalize().as_bytes() == self.file.digest)
    }

    /// The error `e` met reading this file, naming it.
    pub fn error(&self, e: std::io::Error) -> StoreError {
        io_err(&self.path)(e)
    }
}

impl Read for RecordReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.reader.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.read += read as u64;
        Ok(read)
    }
}

/// The records folder of the ledger at `dir`.
pub(super) fn records_dir(dir: &Path) -> PathBuf {
    dir.join(RECORDS_DIR)
}

/// The names of the files in a ledger's `records/` folder, sorted (none if it is absent).
#[cfg(test)]
pub(crate) fn record_file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(records_dir(dir))
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Writes `files` durably under their final names (each through a temporary name, so a
/// file under a final name is always whole), before the batch that names them is applied:
/// each file is synced, then the folder once for all of their names (a snapshot of a large
/// ledger is hundreds of files).
pub(super) fn write_all(dir: &Path, files: &[PendingFile]) -> Result<(), StoreError> {
    if files.is_empty() {
        return Ok(());
    }
    for pending in files {
        write_unsynced_name(dir, pending)?;
    }
    sync_dir(&records_dir(dir))
}

/// `pending` written and synced under its final name; the folder is not synced.
fn write_unsynced_name(dir: &Path, pending: &PendingFile) -> Result<(), StoreError> {
    let folder = records_dir(dir);
    fs::create_dir_all(&folder).map_err(|e| full_or_io(dir, &folder, e))?;
    let path = folder.join(pending.file.file_name(&pending.name));
    let writing = folder.join(format!(
        "{}{WRITING_SUFFIX}",
        pending.file.file_name(&pending.name)
    ));
    let written = File::create(&writing)
        .and_then(|mut f| f.write_all(&pending.bytes).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&writing, &path));
    if let Err(e) = written {
        let _ = fs::remove_file(&writing);
        return Err(full_or_io(dir, &writing, e));
    }
    Ok(())
}

/// The record `name` as `file` names it; `None` when the file is missing, or is not the
/// bytes its reference names (a torn or edited file: the record is recomputed).
pub(super) fn read(dir: &Path, name: &str, file: FileRef) -> Result<Option<Vec<u8>>, StoreError> {
    let path = records_dir(dir).join(file.file_name(name));
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    Ok((FileRef::of(&bytes) == file).then_some(bytes))
}

/// Removes every file of the folder that `live` (record name to its reference) does not
/// name: older versions of a record, files whose batch never applied, files being written
/// when a process ended. A file that cannot be removed is left for the next time.
pub(super) fn remove_unnamed(dir: &Path, live: &BTreeMap<String, FileRef>) {
    let Ok(entries) = fs::read_dir(records_dir(dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let named = file_name
            .to_str()
            .and_then(version_of)
            .is_some_and(|(name, hex)| {
                live.get(name)
                    .is_some_and(|file| hex::encode(file.digest) == hex)
            });
        if !named {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes, once the batch that wrote `written` (record name to the file it is kept in
/// now, or `None` when it went back into sled) is applied, every other file of those
/// records, in one listing of the folder. One that cannot be removed is left for the
/// next open.
pub(super) fn remove_older(dir: &Path, written: &BTreeMap<String, Option<FileRef>>) {
    if written.is_empty() {
        return;
    }
    let Ok(entries) = fs::read_dir(records_dir(dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some((name, _)) = file_name.to_str().and_then(version_of) else {
            continue;
        };
        let kept = written
            .get(name)
            .map(|file| file.map(|file| file.file_name(name)));
        if let Some(kept) = kept {
            if kept.as_deref() != file_name.to_str() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// The record name and digest of a file named `name.<64 hex digits>`: the digest is
/// after the last dot, so `read_models.totals.2019.<hex>` is a version of
/// `read_models.totals.2019`, not of `read_models.totals`.
fn version_of(file_name: &str) -> Option<(&str, &str)> {
    let (name, hex) = file_name.rsplit_once('.')?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some((name, hex))
}

/// The bytes all the files take.
pub(super) fn size_on_disk(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(records_dir(dir)) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}

fn full_or_io(dir: &Path, path: &Path, e: std::io::Error) -> StoreError {
    if space::is_full(&e) {
        StoreError::DiskFilled {
            path: dir.to_owned(),
            available: space::available_at(dir).unwrap_or(0),
        }
    } else {
        io_err(path)(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(name: &str, bytes: &[u8]) -> PendingFile {
        PendingFile {
            name: name.to_owned(),
            file: FileRef::of(bytes),
            bytes: bytes.to_vec(),
        }
    }

    fn folder_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(records_dir(dir))
            .expect("folder")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_record_file_is_named_by_the_bytes_written_into_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = b"the findings' state, in pieces";
        let mut file = RecordFile::create(dir.path(), "findings").expect("created");
        for piece in bytes.chunks(4) {
            file.write_all(piece).expect("written");
        }
        let written = file.finish(bytes.len() as u64).expect("finished");
        assert_eq!(written.file, FileRef::of(bytes));
        assert_eq!(written.name, "findings");
        assert_eq!(
            read(dir.path(), "findings", written.file).expect("read"),
            Some(bytes.to_vec())
        );
        assert_eq!(
            folder_names(dir.path()),
            [written.file.file_name("findings")]
        );
    }

    #[test]
    fn a_record_file_dropped_or_short_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut dropped = RecordFile::create(dir.path(), "findings").expect("created");
        dropped.write_all(b"half a record").expect("written");
        drop(dropped);
        assert!(folder_names(dir.path()).is_empty());
        let mut short = RecordFile::create(dir.path(), "findings").expect("created");
        short.write_all(b"a record").expect("written");
        match short.finish(9) {
            Err(StoreError::Io { path, source }) => {
                assert!(path.to_string_lossy().ends_with(WRITING_SUFFIX), "{path:?}");
                assert_eq!(source.kind(), std::io::ErrorKind::InvalidData);
            }
            other => panic!("expected a refusal naming the file, got {:?}", other.err()),
        }
        assert!(folder_names(dir.path()).is_empty());
    }

    #[test]
    fn a_reference_reads_back_from_its_bytes() {
        let file = FileRef::of(b"snapshot");
        assert_eq!(FileRef::decode(&file.encode()), Some(file));
        assert_eq!(FileRef::decode(&file.encode()[..REF_BYTES - 1]), None);
    }

    #[test]
    fn a_written_file_reads_back_and_an_edited_or_missing_one_reads_as_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = pending("findings", b"the findings' state");
        write_all(dir.path(), std::slice::from_ref(&record)).expect("written");
        assert_eq!(
            read(dir.path(), "findings", record.file).expect("read"),
            Some(record.bytes.clone())
        );
        let path = records_dir(dir.path()).join(record.file.file_name("findings"));
        fs::write(&path, b"the findings' stat!").expect("edit");
        assert_eq!(
            read(dir.path(), "findings", record.file).expect("read"),
            None
        );
        fs::remove_file(&path).expect("remove");
        assert_eq!(
            read(dir.path(), "findings", record.file).expect("read"),
            None
        );
    }

    #[test]
    fn a_committed_version_removes_the_records_older_ones_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = pending("read_models.totals", b"old cube");
        let new = pending("read_models.totals", b"new cube");
        let year = pending("read_models.totals.2019", b"a year");
        write_all(dir.path(), &[old.clone(), new.clone(), year.clone()]).expect("written");
        let written = |file| BTreeMap::from([("read_models.totals".to_owned(), file)]);
        remove_older(dir.path(), &written(Some(new.file)));
        assert_eq!(
            read(dir.path(), "read_models.totals", old.file).expect("read"),
            None
        );
        assert!(read(dir.path(), "read_models.totals", new.file)
            .expect("read")
            .is_some());
        assert!(read(dir.path(), "read_models.totals.2019", year.file)
            .expect("read")
            .is_some());
        remove_older(dir.path(), &written(None));
        assert_eq!(
            read(dir.path(), "read_models.totals", new.file).expect("read"),
            None
        );
    }

    #[test]
    fn only_the_files_the_live_references_name_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = pending("findings", b"old");
        let new = pending("findings", b"new");
        let other = pending("read_models.totals", b"cube");
        write_all(dir.path(), &[old, new.clone(), other.clone()]).expect("written");
        let folder = records_dir(dir.path());
        fs::write(folder.join(format!("x{WRITING_SUFFIX}")), b"torn").expect("torn");
        let live = BTreeMap::from([
            ("findings".to_owned(), new.file),
            ("read_models.totals".to_owned(), other.file),
        ]);
        remove_unnamed(dir.path(), &live);
        let mut left: Vec<String> = fs::read_dir(&folder)
            .expect("folder")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        left.sort();
        let mut expected = vec![
            new.file.file_name("findings"),
            other.file.file_name("read_models.totals"),
        ];
        expected.sort();
        assert_eq!(left, expected);
        assert_eq!(size_on_disk(dir.path()), 3 + 4);
    }
}
