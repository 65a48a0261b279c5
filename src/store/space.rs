//! A full disk: free space is checked before sled starts a write, and sled's flush is
//! watched, because sled 0.34.7 neither fails cleanly nor recovers cleanly when a write
//! meets ENOSPC.
//!
//! What sled 0.34.7 does on a full disk (read in its `pagecache/` sources, reproduced on a
//! small tmpfs):
//!
//! - **The hang.** `Log::reserve_inner` first claims room in the current IO buffer (it
//!   bumps the buffer's writer count), then `IoBufs::encapsulate` serializes the message.
//!   A message over a quarter segment (128 KiB; a leaf of 16 event blocks is 256 KiB) goes
//!   to its own file under `blobs/`, and if writing that file fails the `?` returns before
//!   a `Reservation` exists: the writer count is never given back. A buffer is written only
//!   once its writer count is 0, so that buffer is never written, its LSN never becomes
//!   stable, and sled's global error is not set (only a failed buffer write sets it). Every
//!   later `flush` (ours; sled's `Tree::drop`, which flushes in a loop; `make_stable`
//!   waits on the `interval_updated` condvar with no timeout) sleeps for ever, at 0% CPU,
//!   also after space is freed: nothing retries. The background flusher's page rewrites
//!   can hit the same blob write, so a flush can hang although our own write got no error.
//! - **The half-written batch.** A batch is atomic through a manifest reserved before its
//!   first insert and sealed with its last LSN after the last one. When an insert fails
//!   midway, `apply_batch` returns the error and the manifest's `Reservation` is dropped,
//!   which writes it as `Canceled`: recovery then replays whatever of the batch reached the
//!   log as ordinary writes. The inserts made so far also stay in the in-memory tree (sled
//!   has no rollback), and sled's flusher thread or its `Drop` writes them out. sled
//!   applies a batch in key order, and the head record (then `m‖head`) sorted before `n`
//!   (Merkle nodes) and `r` (reference blocks): the head moved over a batch whose nodes
//!   were missing.
//! - **The unreadable store.** Opening recovers the log and, if it grew, writes a new
//!   snapshot as `snap.<lsn>.generating`, renamed to `snap.<lsn>` after an fsync. On a full
//!   disk the write fails and leaves the `.generating` file empty or short. sled's
//!   `get_snapshot_files` does not skip `.generating` names and `read_snapshot` takes the
//!   last name in sort order, which is that file: its length or CRC check fails and every
//!   later open returns `Corruption { at: None }` ("Read corrupted data at file offset
//!   None"), also after space is freed. The log in `db` is intact: the snapshot is only a
//!   shortcut over it, written at open and nowhere else in 0.34.7.
//!
//! So the store (a) checks free space before every write with a margin sized from the
//! batch ([`needed`]) and refuses before sled starts it; (b) writes a batch in three
//! parts (`Store::write`): its sealed pending marker, its entries beyond the head, then the
//! one state record that commits them, a single key that sled writes whole or not at all;
//! whatever part of a failed write reaches the log is invisible and, explained by the
//! marker, discarded on open (sled recovers its log as a prefix, cut at the first buffer
//! that was not written); (c) watches sled's
//! flush ([`Flusher::flush`]) and fails promptly instead of waiting for a buffer that will
//! never be written; (d) flushes, watched, before sled's `Drop` would, and after sled
//! failed never lets its `Drop` flush or wait (the process ends as after a crash, which
//! sled recovers from); and (e) removes unfinished
//! `.generating` snapshots before sled opens ([`remove_unfinished_snapshots`]).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::StoreError;

/// Bytes sled writes to disk per byte of a batch's keys and values. Measured on a tmpfs
/// (tests/it/disk_full.rs, `sled_bytes_per_event`; payments are 199 batch bytes per event),
/// importing into a ledger of 6,005 events: 10,000 and 25,000 rows grew the file system by
/// 2.3 to 2.8 bytes per batch byte at the peak (457 to 551 bytes per event); 3,001 rows by
/// 0.9 to 2.4 MB (293 to 803 bytes per event), the growth of a fresh 512 KiB segment and a
/// blob weighing on the smaller batch. sled is log-structured: an insert appends the
/// value, and every tenth change to a page rewrites the whole page (a leaf of event blocks
/// is up to 256 KiB), so a batch is written two to three times over.
pub const SLED_BYTES_PER_BATCH_BYTE: u64 = 3;

/// The margin on the measured figure: page rewrites depend on where a batch's keys land
/// in the tree, and sled's background cleaner rewrites pages while a batch is written.
pub const SAFETY_FACTOR: u64 = 2;

/// Room a write needs beyond its own bytes: sled grows its file by 512 KiB segments (the
/// current one may be full and the next one fresh), writes a page over 128 KiB as a blob
/// file of up to 256 KiB, and on the next open writes a snapshot. Measured, that fixed
/// part reached about 0.8 MB over the per-byte growth; 2 MiB covers it twice, and leaves
/// the disk enough to open the ledger again. A 3,001-row import thus asked for 5.4 MiB
/// with its blocks stored as they were (it used at most 2.3 MiB), and asks for 3.0 MiB in
/// layout 7 (blocks compressed, no leaf tiles); a single event for 2 MiB.
pub const FLOOR_BYTES: u64 = 2 * 1024 * 1024;

/// Free bytes a write of `batch_bytes` (keys plus values) needs before it may start.
pub fn needed(batch_bytes: u64) -> u64 {
    batch_bytes
        .saturating_mul(SLED_BYTES_PER_BATCH_BYTE * SAFETY_FACTOR)
        .saturating_add(FLOOR_BYTES)
}

/// How long sled's flush may take before the store gives up on it. A healthy flush of a
/// full group (10,000 events, a few MiB) takes well under a second; sled's own test
/// builds treat 30 s without progress in `make_stable` as a hang and panic.
pub const FLUSH_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a flush may run with the disk full (less than [`FLOOR_BYTES`] free) before it
/// is given up as stuck: long enough for a flush that still has its room to finish.
pub const FLUSH_FULL_GRACE: Duration = Duration::from_secs(1);

/// Between looks at a running flush and at the free space.
const FLUSH_POLL: Duration = Duration::from_millis(50);

/// The file systems sled writes to: its data file's, and its blob directory's.
pub(crate) struct Space {
    paths: Vec<PathBuf>,
    /// Replaces the measured free space (tests of the refusal without a full disk).
    #[cfg(test)]
    pub(crate) fake_available: std::sync::Mutex<Option<u64>>,
}

impl Space {
    pub(crate) fn new(sled_dir: &Path) -> Space {
        Space {
            paths: vec![sled_dir.to_owned(), sled_dir.join(BLOB_DIR)],
            #[cfg(test)]
            fake_available: std::sync::Mutex::new(None),
        }
    }

    /// Free bytes for an unprivileged writer on the file system of sled's data file, which
    /// holds its blob directory too unless something is mounted there.
    pub(crate) fn available(&self) -> std::io::Result<u64> {
        #[cfg(test)]
        if let Some(bytes) = *self
            .fake_available
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        {
            return Ok(bytes);
        }
        available_at(&self.paths[0])
    }

    /// Free bytes on the fullest of sled's file systems (its data file's and its blob
    /// directory's), to tell a stalled flush on a full disk and to report one.
    pub(crate) fn least_available(&self) -> std::io::Result<u64> {
        let mut least = self.available()?;
        for path in self.paths[1..].iter().filter(|p| p.exists()) {
            least = least.min(available_at(path)?);
        }
        Ok(least)
    }

    /// Refuses a write of `batch_bytes` unless the disk has [`needed`] bytes free. A free
    /// space that cannot be read is not a reason to refuse: the write then meets the disk
    /// as it is.
    pub(crate) fn ensure_room(&self, ledger: &Path, batch_bytes: u64) -> Result<(), StoreError> {
        let needed = needed(batch_bytes);
        match self.available() {
            Ok(available) if available < needed => Err(StoreError::DiskFull {
                path: ledger.to_owned(),
                needed,
                available,
            }),
            _ => Ok(()),
        }
    }

    /// The free space to report after a write failed; 0 if it cannot be read.
    pub(crate) fn available_or_zero(&self) -> u64 {
        self.least_available().unwrap_or(0)
    }
}

/// sled's directory of blob files (sled 0.34's `Config::blob_path`).
const BLOB_DIR: &str = "blobs";

/// Free bytes for an unprivileged writer on the file system holding `path`.
#[cfg(unix)]
pub fn available_at(path: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(not(unix))]
pub fn available_at(_path: &Path) -> std::io::Result<u64> {
    Ok(u64::MAX)
}

/// Whether an IO error says the disk (or the user's quota) is full.
pub(crate) fn is_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Why a watched flush did not finish.
pub(crate) enum FlushFailure {
    /// sled reported an error.
    Sled(sled::Error),
    /// The flush did not return: after [`FLUSH_FULL_GRACE`] with the disk full, or after
    /// [`FLUSH_STALL_TIMEOUT`]. Its thread is left waiting (sled gives no way to stop it).
    Stalled {
        waited: Duration,
        available: Option<u64>,
    },
}

/// What a flush answers on.
type FlushReply = mpsc::SyncSender<Result<(), sled::Error>>;

/// One long-lived thread that runs sled's flush for every commit of a store, watched: a
/// thread spawned per flush cost about a fifth of the server's rate of single-event
/// appends (`scripts/bench-http 15 16 4`: 3,890 a second, 5,237 with this thread).
pub(crate) struct Flusher {
    requests: Option<mpsc::SyncSender<FlushReply>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    /// Starts the thread; it ends when the flusher is dropped (or stays in a flush that
    /// never returns, as a spawned one would).
    pub(crate) fn start(db: sled::Db) -> std::io::Result<Flusher> {
        let (requests, incoming) = mpsc::sync_channel::<FlushReply>(1);
        let thread = std::thread::Builder::new()
            .name("fundtrail-flush".into())
            .spawn(move || {
                for reply in incoming {
                    // The waiter may have given up; then nobody needs the answer.
                    let _ = reply.send(db.flush().map(drop));
                }
            })?;
        Ok(Flusher {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Ends the thread and waits for it, so that its handle on the database is gone when
    /// this returns. Only after a flush that returned: one that never does would never
    /// let the thread end.
    pub(crate) fn stop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// sled's flush, waited for at most [`FLUSH_STALL_TIMEOUT`], and only
    /// [`FLUSH_FULL_GRACE`] once the disk is full: a flush that waits for a buffer a failed
    /// blob write left claimed never returns.
    pub(crate) fn flush(&self, space: &Space) -> Result<(), FlushFailure> {
        let (done, finished) = mpsc::sync_channel(1);
        let sent = self.requests.as_ref().map(|requests| requests.send(done));
        if !matches!(sent, Some(Ok(()))) {
            return Err(FlushFailure::Sled(sled::Error::ReportableBug(
                "the flush thread is gone".into(),
            )));
        }
        wait_watched(&finished, space)
    }
}

/// Runs `work` on a thread of its own and waits for it as [`Flusher::flush`] does (the
/// tests' way to give it a flush that never returns).
#[cfg(test)]
fn watched(
    work: impl FnOnce() -> Result<(), sled::Error> + Send + 'static,
    space: &Space,
) -> Result<(), FlushFailure> {
    let (done, finished) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("fundtrail-flush".into())
        .spawn(move || {
            // The receiver may have given up; then nobody needs the answer.
            let _ = done.send(work());
        });
    if let Err(e) = spawned {
        // Out of threads: the flush has not run, so the write is not durable.
        return Err(FlushFailure::Sled(sled::Error::Io(e)));
    }
    wait_watched(&finished, space)
}

/// Waits for a flush's answer: at most [`FLUSH_STALL_TIMEOUT`], and only
/// [`FLUSH_FULL_GRACE`] once the disk is full.
fn wait_watched(
    finished: &mpsc::Receiver<Result<(), sled::Error>>,
    space: &Space,
) -> Result<(), FlushFailure> {
    let start = Instant::now();
    loop {
        match finished.recv_timeout(FLUSH_POLL) {
            Ok(result) => return result.map_err(FlushFailure::Sled),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(FlushFailure::Sled(sled::Error::ReportableBug(
                    "the flush thread ended without an answer".into(),
                )))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let waited = start.elapsed();
        let available = space.least_available().ok();
        let full = available.is_some_and(|bytes| bytes < FLOOR_BYTES);
        if waited >= FLUSH_STALL_TIMEOUT || (full && waited >= FLUSH_FULL_GRACE) {
            return Err(FlushFailure::Stalled { waited, available });
        }
    }
}

/// Removes the snapshots an interrupted open left half-written (`snap.<lsn>.generating`),
/// before sled opens: sled would take the newest of them for its snapshot and refuse the
/// store as corrupt. sled renames a snapshot to its final name only after an fsync, and
/// removes the older ones only after that rename, so a `.generating` file is never the only
/// record of anything: without it sled reads the previous snapshot and replays the log.
pub(crate) fn remove_unfinished_snapshots(sled_dir: &Path) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(sled_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StoreError::Io {
                path: sled_dir.to_owned(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|source| StoreError::Io { path, source })?;
        }
    }
    Ok(())
}

/// Bytes as MiB with one decimal, for messages.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_grows_with_the_batch_over_a_floor() {
        assert_eq!(needed(0), FLOOR_BYTES);
        assert_eq!(needed(1_000), FLOOR_BYTES + 6_000);
        assert_eq!(needed(u64::MAX), u64::MAX, "saturates, never wraps");
    }

    #[test]
    fn unfinished_snapshots_are_removed_and_finished_ones_kept() {
        let dir = tempfile::tempdir().expect("a temp dir");
        for name in [
            "snap.00000000002C6658",
            "snap.00000000002FF5E3.generating",
            "db",
        ] {
            std::fs::write(dir.path().join(name), b"").expect("write");
        }
        remove_unfinished_snapshots(dir.path()).expect("removed");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["db", "snap.00000000002C6658"]);
    }

    /// A flush that never returns (as sled's does after a failed blob write) is given up
    /// once the disk is full, and reported with the free space.
    #[test]
    fn a_flush_that_never_returns_on_a_full_disk_is_given_up() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let space = Space::new(dir.path());
        *space.fake_available.lock().expect("not poisoned") = Some(4096);
        let (_never, blocked) = mpsc::channel::<()>();
        let result = watched(
            move || {
                let _ = blocked.recv();
                Ok(())
            },
            &space,
        );
        match result {
            Err(FlushFailure::Stalled { waited, available }) => {
                assert!(waited >= FLUSH_FULL_GRACE, "{waited:?}");
                assert_eq!(available, Some(4096));
            }
            _ => panic!("expected the flush to be given up"),
        }
    }

    #[test]
    fn a_flush_that_returns_is_answered_with_its_result() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let space = Space::new(dir.path());
        assert!(watched(|| Ok(()), &space).is_ok());
        let failed = watched(|| Err(sled::Error::Unsupported("x".into())), &space);
        assert!(matches!(failed, Err(FlushFailure::Sled(_))));
    }

    #[test]
    fn enospc_and_quota_errors_are_a_full_disk() {
        assert!(is_full(&std::io::Error::from_raw_os_error(28)));
        assert!(!is_full(&std::io::Error::from_raw_os_error(5)));
    }
}
