//! Reading a ledger this process may not write: a read-only mount, or a copy whose files
//! and directories have no write permission for this user.
//!
//! sled 0.34 has no read-only mode. `Config::open` opens its data file read-write (with
//! `create`), takes an exclusive `flock` on it, may write its `conf` file, and on recovery
//! writes snapshot files and zeroes a torn tail: on a read-only ledger it fails before a
//! single key is read. So a ledger that cannot be written is read from a private copy of
//! its sled directory in the temporary directory (`$TMPDIR`, else `/tmp`), which is removed
//! afterwards. The other entries of the ledger directory are linked, not copied, so nothing
//! secret is duplicated and anything written through them still fails. While copying,
//! shared locks on the original `LOCK` file and sled data file keep a writer from starting;
//! a writer that already holds them makes this fail as "in use", as opening would.

use std::fs::{self, DirBuilder, File, TryLockError};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{
    io_err, large, StoreError, LOCK_FILE, SLED_DATA_FILE, SLED_DIR, SLED_LOCK_POLL, SLED_LOCK_WAIT,
};

/// The copy's directories are this process's alone: a ledger's events are not for other
/// users of a shared temporary directory.
const COPY_DIR_MODE: u32 = 0o700;

/// The copied sled files must be writable by sled, whatever the originals' modes were.
const COPY_FILE_MODE: u32 = 0o600;

/// Attempts at a fresh name for the copy before giving up (another process could be
/// creating names of the same pattern at the same moment).
const NAME_ATTEMPTS: u32 = 100;

/// Why this process may not write the ledger at `dir` (EROFS, EACCES, ...): the first of
/// the directory, its sled directory and data file, and its `LOCK` file that denies write
/// access to the effective user. `None` when all may be written, or a path is missing (then
/// opening reports it).
pub fn write_denied(dir: &Path) -> Option<std::io::Error> {
    let sled = dir.join(SLED_DIR);
    let paths = [
        dir.to_owned(),
        dir.join(LOCK_FILE),
        sled.join(SLED_DATA_FILE),
        sled.clone(),
    ];
    paths
        .iter()
        .filter(|p| p.exists())
        .find_map(|p| writable(p).err())
}

/// `faccessat(W_OK, AT_EACCESS)`: whether the effective user may write `path`. It answers
/// for the mount (EROFS) and the permissions alike, without opening or changing anything.
fn writable(path: &Path) -> std::io::Result<()> {
    rustix::fs::accessat(
        rustix::fs::CWD,
        path,
        rustix::fs::Access::WRITE_OK,
        rustix::fs::AtFlags::EACCESS,
    )
    .map_err(std::io::Error::from)
}

/// A private, writable copy of a ledger's database, removed when dropped. Open it with
/// `Ledger::open(copy.path())`, and drop the ledger first.
#[derive(Debug)]
pub struct ReadOnlyCopy {
    path: PathBuf,
    bytes: u64,
}

impl ReadOnlyCopy {
    /// Copies the sled directory of the ledger at `dir` and links its other entries.
    pub fn make(dir: &Path) -> Result<ReadOnlyCopy, StoreError> {
        let sled = dir.join(SLED_DIR);
        if !sled.is_dir() {
            return Err(StoreError::Missing(dir.to_owned()));
        }
        let _locks = shared_locks(dir)?;
        let path = fresh_dir()?;
        // From here on, dropping `copy` removes whatever was copied, also on failure.
        let mut copy = ReadOnlyCopy { path, bytes: 0 };
        copy.bytes = copy_tree(&sled, &copy.path.join(SLED_DIR))?;
        // Copied too: opening the copy removes the files its own sled does not name, and
        // a write to it replaces them, which must not reach the original's.
        let records = large::records_dir(dir);
        if records.is_dir() {
            copy.bytes += copy_tree(&records, &large::records_dir(&copy.path))?;
        }
        link_others(dir, &copy.path)?;
        Ok(copy)
    }

    /// The copy's ledger directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes copied.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for ReadOnlyCopy {
    fn drop(&mut self) {
        // A copy left behind (the process killed) is only a stale temporary directory.
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Shared locks on the original `LOCK` and sled data file, held while copying: a writer
/// (which locks both exclusively) cannot start meanwhile, and one already running is
/// reported as the ledger being in use.
fn shared_locks(dir: &Path) -> Result<Vec<File>, StoreError> {
    let lock_path = dir.join(LOCK_FILE);
    let data_path = dir.join(SLED_DIR).join(SLED_DATA_FILE);
    let mut held = Vec::new();
    for path in [lock_path, data_path] {
        let mut file = match File::open(&path) {
            Ok(file) => file,
            // A copied ledger may have no LOCK file: nobody has it open, then.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.ends_with(LOCK_FILE) => {
                continue
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        match lock_shared(&file, path.ends_with(LOCK_FILE)) {
            Ok(()) => held.push(file),
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                if path.ends_with(LOCK_FILE) {
                    let _ = file.read_to_string(&mut text);
                }
                return Err(StoreError::InUse {
                    path: dir.to_owned(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
    }
    Ok(held)
}

/// A shared lock on `file`. Our `LOCK` is taken at once or not at all; sled's data file is
/// waited for up to [`SLED_LOCK_WAIT`], as `Store::open` waits: once `LOCK` is free, only a
/// `Db` this process dropped a moment ago can still hold it.
fn lock_shared(file: &File, is_lock_file: bool) -> Result<(), TryLockError> {
    let deadline = Instant::now() + SLED_LOCK_WAIT;
    loop {
        match file.try_lock_shared() {
            Err(TryLockError::WouldBlock) if !is_lock_file && Instant::now() < deadline => {
                std::thread::sleep(SLED_LOCK_POLL);
            }
            done => return done,
        }
    }
}

/// A new directory of this process's own in the temporary directory.
fn fresh_dir() -> Result<PathBuf, StoreError> {
    let base = std::env::temp_dir();
    let mut last = None;
    for attempt in 0..NAME_ATTEMPTS {
        let name = format!("fundtrail-read-only-{}-{attempt}", std::process::id());
        let path = base.join(name);
        match DirBuilder::new().mode(COPY_DIR_MODE).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::other("no attempt was made"));
    Err(io_err(&base)(e))
}

/// Copies the directory `from` to the new directory `to`, file by file; the bytes copied.
fn copy_tree(from: &Path, to: &Path) -> Result<u64, StoreError> {
    DirBuilder::new()
        .mode(COPY_DIR_MODE)
        .create(to)
        .map_err(io_err(to))?;
    let mut bytes = 0;
    for entry in fs::read_dir(from).map_err(io_err(from))? {
        let entry = entry.map_err(io_err(from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io_err(&source))?;
        if kind.is_dir() {
            bytes += copy_tree(&source, &target)?;
        } else if kind.is_file() {
            bytes += fs::copy(&source, &target).map_err(io_err(&source))?;
            fs::set_permissions(&target, fs::Permissions::from_mode(COPY_FILE_MODE))
                .map_err(io_err(&target))?;
        }
    }
    Ok(bytes)
}

/// Links every entry of the ledger directory but the sled directory, the large records'
/// folder and `LOCK` (the copy gets its own) from the copy, so that whatever else opening
/// reads is the original.
fn link_others(dir: &Path, copy: &Path) -> Result<(), StoreError> {
    let original = fs::canonicalize(dir).map_err(io_err(dir))?;
    for entry in fs::read_dir(&original).map_err(io_err(&original))? {
        let entry = entry.map_err(io_err(&original))?;
        let name = entry.file_name();
        if name == SLED_DIR || name == LOCK_FILE || name == large::RECORDS_DIR {
            continue;
        }
        let link = copy.join(&name);
        std::os::unix::fs::symlink(entry.path(), &link).map_err(io_err(&link))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{OpenMode, Store, StoreBatch};
    use super::*;

    fn store_with_a_key(dir: &Path) {
        let store = Store::open(dir, OpenMode::Create).unwrap();
        let mut batch = StoreBatch::default();
        batch.put_meta("probe", b"kept".to_vec());
        store.write_durable(batch).unwrap();
        fs::write(dir.join("payments.idx"), b"cache").unwrap();
    }

    #[test]
    fn a_copy_reads_like_the_original_and_is_removed_when_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ledger");
        store_with_a_key(&dir);
        let copy = ReadOnlyCopy::make(&dir).unwrap();
        assert!(copy.bytes() > 0);
        let path = copy.path().to_owned();
        assert!(path.starts_with(std::env::temp_dir()));
        {
            let store = Store::open(copy.path(), OpenMode::Existing).unwrap();
            assert_eq!(store.meta("probe").unwrap().as_deref(), Some(&b"kept"[..]));
        }
        let linked = fs::read_link(path.join("payments.idx")).unwrap();
        assert_eq!(fs::read(&linked).unwrap(), b"cache");
        assert!(!path.join(LOCK_FILE).is_symlink());
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, COPY_DIR_MODE);
        drop(copy);
        assert!(!path.exists());
    }

    /// A large record's file is copied, not linked: writing the copy replaces its own
    /// file and leaves the original's as it was.
    #[test]
    fn a_copy_has_its_own_large_records() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ledger");
        let big = vec![7u8; super::super::META_CHUNK_BYTES + 1];
        {
            let store = Store::open(&dir, OpenMode::Create).unwrap();
            let mut batch = StoreBatch::default();
            batch.put_meta("snap", big.clone());
            store.write_durable(batch).unwrap();
        }
        let copy = ReadOnlyCopy::make(&dir).unwrap();
        assert!(!large::records_dir(copy.path()).is_symlink());
        {
            let store = Store::open(copy.path(), OpenMode::Existing).unwrap();
            assert_eq!(store.meta("snap").unwrap(), Some(big.clone()));
            let mut batch = StoreBatch::default();
            batch.put_meta("snap", vec![8u8; super::super::META_CHUNK_BYTES + 1]);
            store.write_durable(batch).unwrap();
        }
        drop(copy);
        let store = Store::open(&dir, OpenMode::Existing).unwrap();
        assert_eq!(store.meta("snap").unwrap(), Some(big));
    }

    #[test]
    fn a_ledger_open_for_writing_elsewhere_is_in_use() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ledger");
        store_with_a_key(&dir);
        let writer = Store::open(&dir, OpenMode::Existing).unwrap();
        let err = ReadOnlyCopy::make(&dir).unwrap_err();
        assert!(
            matches!(err, StoreError::InUse { pid: Some(p), .. } if p == std::process::id()),
            "{err}"
        );
        drop(writer);
    }

    #[test]
    fn a_missing_ledger_is_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let err = ReadOnlyCopy::make(&tmp.path().join("none")).unwrap_err();
        assert!(matches!(err, StoreError::Missing(_)), "{err}");
    }

    #[test]
    fn a_writable_ledger_is_not_denied() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ledger");
        store_with_a_key(&dir);
        assert!(write_denied(&dir).is_none());
    }
}
