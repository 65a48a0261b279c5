//! A full disk during an import: the import fails promptly with exit 3 and a message naming
//! the ledger's disk, and once space is freed the ledger opens at its last acknowledged head
//! with every acknowledged event there and `verify` passing (src/store/space.rs says why
//! sled 0.34 needs the store's help for that).
//!
//! The ledgers live on a small tmpfs that each test mounts, which needs root (CI runs the
//! suite as root). Without it these tests print a notice and pass without checking
//! anything; run them as root (`sudo -E cargo test --test it disk_full::`), or set
//! `FUNDTRAIL_DISK_TESTS=require` to make a missing mount a failure. The free-space refusal
//! itself is also tested without root, with the measured free space replaced
//! (`store::space_tests` in src/store.rs). Every child process runs under a time bound
//! ([`CHILD_BOUND`]): one that does not end is killed and reported as a hang.
//!
//! `cargo test --test it -- --ignored --nocapture disk_full::sled_bytes_per_event` (as root)
//! prints the bytes sled writes per event, which `store::space` sizes its margin from.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use fundtrail::ledger::import::ImportKind;
use fundtrail::ledger::Ledger;
use fundtrail::store::space;

/// Longer than the store's flush watchdog (30 s) plus a debug build's import of a few
/// thousand rows: a child still running after this is hanging.
const CHILD_BOUND: Duration = Duration::from_secs(120);

/// Events in the base ledger: the standard 8, then payments, as in the report of the hang
/// (6,005 acknowledged events).
const BASE_EVENTS: u64 = 6_005;

/// Rows of the import that meets the full disk.
const IMPORT_ROWS: usize = 3_001;

// ----- a small file system ---------------------------------------------------------------

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it), or says why not and returns
    /// `None` (a failure instead under `FUNDTRAIL_DISK_TESTS=require`).
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("a mount point");
        mount_tmpfs(dir.path(), size).then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn free(&self) -> u64 {
        space::available_at(self.path()).expect("statvfs the tmpfs")
    }

    /// Grows the file `fill` until at most `free` bytes are left.
    fn fill_to(&self, free: u64) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join("fill"))
            .expect("open the fill file");
        let page = [0u8; 4096];
        while self.free() > free {
            if file.write_all(&page).is_err() {
                break;
            }
        }
        file.sync_all().expect("sync the fill file");
    }

    fn unfill(&self) {
        let _ = std::fs::remove_file(self.path().join("fill"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        unmount(self.path());
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> bool {
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        let notice = "cannot mount a tmpfs (not root?): the full-disk test is skipped; \
                      run it as root, see tests/it/disk_full.rs";
        assert!(
            std::env::var("FUNDTRAIL_DISK_TESTS").as_deref() != Ok("require"),
            "{notice}"
        );
        eprintln!("{notice}");
    }
    mounted
}

fn unmount(at: &Path) {
    let _ = Command::new("umount")
        .arg("-l")
        .arg(at)
        .stderr(Stdio::null())
        .status();
}

// ----- ledgers and the binary ------------------------------------------------------------

/// A ledger of [`BASE_EVENTS`] events on `fs`.
fn base_ledger(fs: &Tmpfs) -> TempLedger {
    let tmp = tempfile::tempdir_in(fs.path()).expect("a directory on the tmpfs");
    let t = TempLedger {
        dir: tmp.path().join("ledger"),
        tmp,
    };
    Ledger::init(&t.dir).expect("init").close().expect("close");
    t.append_csv(ImportKind::Households, STANDARD_HOUSEHOLDS);
    t.append_csv(ImportKind::Events, STANDARD_EVENTS);
    let rows = payment_rows("BASE", (BASE_EVENTS - STANDARD_SIZE) as usize);
    let summary = t.append_csv(ImportKind::Events, &rows);
    assert_eq!(summary.head.size, BASE_EVENTS);
    // Opening once brings sled's snapshot up to date, so that opening on a full disk
    // later has nothing to write.
    assert_eq!(status_head(&t.dir), BASE_EVENTS);
    // The setup's CSV files lie beside the ledger; they would count against its space.
    let _ = std::fs::remove_file(t.file("setup.csv"));
    t
}

/// A CSV file of `rows` payments tagged `tag`, outside any tmpfs.
fn import_file(inputs: &Path, tag: &str, rows: usize) -> PathBuf {
    let path = inputs.join(format!("{tag}.csv"));
    let mut text = ImportKind::Events.columns().join(",");
    text.push('\n');
    for row in payment_rows(tag, rows) {
        text.push_str(&row);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write the import file");
    path
}

/// As [`import_file`], each row with a memo of 128 CJK characters drawn from its own hash
/// (14 bits each: hex digits, 4 bits a byte, Zstandard halves): blocks are stored
/// compressed (FORMAT.md §3.3), and only blocks that do not shrink fill tree pages past
/// sled's blob threshold the way blocks of typical records did before.
fn incompressible_import_file(inputs: &Path, tag: &str, rows: usize) -> PathBuf {
    let path = inputs.join(format!("{tag}.csv"));
    let mut text = ImportKind::Events.columns().join(",");
    text.push('\n');
    for (i, row) in payment_rows(tag, rows).into_iter().enumerate() {
        let mut memo = blake3::Hasher::new();
        memo.update(tag.as_bytes());
        memo.update(&i.to_le_bytes());
        let mut random = [0u8; 256];
        memo.finalize_xof().fill(&mut random);
        let row = row
            .strip_suffix("批量")
            .expect("payment rows end with their memo");
        text.push_str(row);
        for pair in random.chunks_exact(2) {
            let offset = u32::from(u16::from_le_bytes([pair[0], pair[1]]) & 0x3fff);
            text.push(char::from_u32(0x4e00 + offset).expect("a CJK ideograph"));
        }
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write the import file");
    path
}

/// Runs the binary on `ledger`, killing it if it outlives [`CHILD_BOUND`] (a hang fails
/// the test).
fn run_bounded(ledger: &Path, args: &[&str]) -> Run {
    let mut child = spawn(
        binary(ledger)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let start = Instant::now();
    while child.try_wait().expect("poll the child").is_none() {
        if start.elapsed() > CHILD_BOUND {
            let _ = child.kill();
            let out = child.wait_with_output().expect("reap the killed child");
            panic!(
                "`fundtrail {}` hung: killed after {CHILD_BOUND:?}; stderr: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child
        .wait_with_output()
        .expect("collect the child's output");
    Run::from_output(out)
}

fn import(ledger: &Path, file: &Path) -> Run {
    run_bounded(
        ledger,
        &["import", "events", file.to_str().expect("UTF-8 path")],
    )
}

/// The head `status` reports (which opens the ledger as any command does).
fn status_head(ledger: &Path) -> u64 {
    let run = run_bounded(ledger, &["status", "--json"]);
    run.assert_ok();
    run.json()["head"]["seq"]
        .as_u64()
        .expect("status reports the head")
}

/// Once space is back: the ledger opens at `head`, `verify` passes, and each reference of
/// `acknowledged` names an event.
#[track_caller]
fn assert_intact(t: &TempLedger, head: u64, acknowledged: &[String]) {
    assert_eq!(status_head(&t.dir), head, "the last acknowledged head");
    let verify = run_bounded(&t.dir, &["verify"]);
    assert_eq!(verify.code, 0, "verify: {verify:#?}");
    let ledger = t.open();
    for reference in acknowledged {
        assert!(
            lookup(&ledger, reference).is_some(),
            "acknowledged {reference} is gone"
        );
    }
}

/// A failure that names the ledger's disk, with exit 3.
#[track_caller]
fn assert_disk_failure(run: &Run, ledger: &Path) {
    run.assert_code(3);
    assert!(
        run.stderr.contains("disk") && run.stderr.contains(&ledger.display().to_string()),
        "the message names the disk and the ledger: {run:#?}"
    );
}

fn kib(n: u64) -> u64 {
    n * 1024
}

// ----- the tests -------------------------------------------------------------------------

/// The case of the report: 6,005 acknowledged events, then a 3,001-row import with 0 to
/// 2.5 MiB free (since layout 7 stores no leaf tiles the import asks for less than 3 MiB,
/// and 3 MiB holds it). Each is refused before anything is written; the ledger stays readable on the
/// full disk and is whole once space is freed; with room the same import succeeds.
#[test]
fn an_import_the_disk_cannot_hold_is_refused_at_every_fill_level() {
    let Some(fs) = Tmpfs::mount("24m") else {
        return;
    };
    let t = base_ledger(&fs);
    let inputs = tempfile::tempdir().expect("a directory for inputs");
    let file = import_file(inputs.path(), "NEW", IMPORT_ROWS);
    for free in [0, kib(300), kib(700), kib(1100), kib(1500), kib(2560)] {
        fs.fill_to(free);
        let run = import(&t.dir, &file);
        assert_disk_failure(&run, &t.dir);
        assert!(
            run.stderr.contains("nothing was written"),
            "refused before writing at {free} bytes free: {run:#?}"
        );
        // On the full disk the ledger reads at its head, or (when sled has a snapshot to
        // write as it opens) is unavailable, saying why; never corrupt.
        let status = run_bounded(&t.dir, &["status", "--json"]);
        match status.code {
            0 => assert_eq!(status.json()["head"]["seq"].as_u64(), Some(BASE_EVENTS)),
            _ => assert_disk_failure(&status, &t.dir),
        }
        fs.unfill();
        assert_intact(&t, BASE_EVENTS, &["BASE-0".into()]);
    }
    let run = import(&t.dir, &file);
    run.assert_ok();
    let last = format!("NEW-{}", IMPORT_ROWS - 1);
    assert_intact(&t, BASE_EVENTS + IMPORT_ROWS as u64, &[last]);
}

/// Another process takes the space while an import runs: the import starts with room
/// enough (the check passes), and after a delay a file on the same tmpfs takes every free
/// byte at once. Over the delays the space runs out at different points: in sled's
/// writes, in its flush, in the checkpoint or read-model writes after the commit, or not
/// before the import ended. Every import ends within the bound; one that succeeded is
/// there afterwards, one that failed names the disk; once the space is back, the ledger
/// opens with each import whole or absent (a failed write is not acknowledged, but may
/// have reached the disk) and verifies.
#[test]
fn the_disk_filling_during_an_import_loses_nothing_acknowledged() {
    const ROWS: usize = 3_001;
    let Some(fs) = Tmpfs::mount("48m") else {
        return;
    };
    let t = base_ledger(&fs);
    let inputs = tempfile::tempdir().expect("a directory for inputs");
    let mut head = BASE_EVENTS;
    let mut acknowledged = vec!["BASE-0".to_string()];
    for (round, delay_ms) in [0u64, 2, 5, 10, 25, 50, 100].into_iter().enumerate() {
        let tag = format!("D{round}");
        let file = import_file(inputs.path(), &tag, ROWS);
        fs.fill_to(12 * 1024 * 1024);
        let done = Arc::new(AtomicBool::new(false));
        let grabber = {
            let (path, done) = (fs.path().to_owned(), done.clone());
            let start = fs.free();
            std::thread::spawn(move || {
                // Once sled's writes have begun (the disk lost its first 128 KiB).
                while !done.load(Ordering::SeqCst) {
                    if space::available_at(&path).expect("statvfs") + WRITING < start {
                        std::thread::sleep(Duration::from_millis(delay_ms));
                        grab_all(&path);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let run = import(&t.dir, &file);
        done.store(true, Ordering::SeqCst);
        grabber.join().expect("the grabber ends");
        println!(
            "delay {delay_ms} ms: exit {}: {}",
            run.code,
            run.stderr.trim()
        );
        if run.code != 0 {
            assert_disk_failure(&run, &t.dir);
        }
        fs.unfill();
        let now = status_head(&t.dir);
        let last = format!("{tag}-{}", ROWS - 1);
        match run.code {
            0 => {
                assert_eq!(now, head + ROWS as u64, "acknowledged: {run:#?}");
                acknowledged.push(last);
            }
            _ if now == head => {}
            _ => {
                assert_eq!(now, head + ROWS as u64, "whole or absent: {run:#?}");
                acknowledged.push(last);
            }
        }
        head = now;
        assert_intact(&t, head, &acknowledged);
    }
}

/// Free space an import has used when its writes are surely under way.
const WRITING: u64 = 128 * 1024;

/// Takes every free byte of the file system holding `dir` at once (`fallocate` on a file
/// there), as another process writing a large file would.
fn grab_all(dir: &Path) {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("fill"))
        .expect("open the fill file");
    let mut offset = file.metadata().expect("its length").len();
    let mut chunk = space::available_at(dir).expect("statvfs");
    while chunk >= 4096 {
        match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), offset, chunk) {
            Ok(()) => offset += chunk,
            Err(_) => chunk /= 2,
        }
    }
}

/// The write fails in the middle although the free-space check passed: sled's blob files
/// go to a 4 KiB tmpfs mounted over its `blobs` directory, so the first page sled writes
/// as a blob meets ENOSPC. In sled 0.34.7 that leaves an IO buffer claimed for ever and the
/// import hung in its flush (at 0% CPU, until killed). Now it fails promptly, exit 3, and
/// the ledger is whole once the space is back.
#[test]
fn a_blob_write_failing_mid_write_fails_promptly_instead_of_hanging() {
    let Some(fs) = Tmpfs::mount("64m") else {
        return;
    };
    let t = base_ledger(&fs);
    let blobs = t.dir.join("sled").join("blobs");
    let present: Vec<_> = std::fs::read_dir(&blobs).expect("sled's blobs").collect();
    assert!(
        present.is_empty(),
        "the base ledger holds no blobs: {present:?}"
    );
    if !mount_tmpfs(&blobs, "4k") {
        return;
    }
    let inputs = tempfile::tempdir().expect("a directory for inputs");
    // Whether sled writes a page as a blob depends on how its background threads have
    // split the tree; an import it takes without a blob succeeds, and the next, larger
    // one meets the blob directory sooner or later.
    let mut head = BASE_EVENTS;
    let mut acknowledged = vec!["BASE-0".to_string()];
    let failed = (0..BLOB_ROUNDS).find_map(|round| {
        let tag = format!("NEW{round}");
        let rows = IMPORT_ROWS << round;
        let file = incompressible_import_file(inputs.path(), &tag, rows);
        let run = import(&t.dir, &file);
        if run.code == 0 {
            head += rows as u64;
            acknowledged.push(format!("{tag}-{}", rows - 1));
            return None;
        }
        Some((run, file, rows))
    });
    unmount(&blobs);
    let (run, file, rows) = failed.expect("an import met the full blob directory");
    assert_disk_failure(&run, &t.dir);
    assert!(
        run.stderr.contains("filled up during a write"),
        "the check passed and the write itself failed: {run:#?}"
    );
    assert_intact(&t, head, &acknowledged);
    let run = import(&t.dir, &file);
    run.assert_ok();
    assert_eq!(status_head(&t.dir), head + rows as u64);
}

/// Imports tried, each twice the last, before the blob test gives up on meeting a blob.
const BLOB_ROUNDS: u32 = 4;

/// A large import (more than one group, so written in chunks beyond the head) with room
/// for its first chunk only: the next chunk is refused, the chunks written are discarded,
/// and the head stays where it was.
#[test]
fn a_large_import_that_runs_out_of_room_between_chunks_keeps_the_head() {
    let Some(fs) = Tmpfs::mount("48m") else {
        return;
    };
    let t = base_ledger(&fs);
    let inputs = tempfile::tempdir().expect("a directory for inputs");
    let file = incompressible_import_file(inputs.path(), "BIG", 25_000);
    fs.fill_to(16 * 1024 * 1024);
    let run = import(&t.dir, &file);
    assert_disk_failure(&run, &t.dir);
    fs.unfill();
    assert_intact(&t, BASE_EVENTS, &["BASE-0".into()]);
    import(&t.dir, &file).assert_ok();
    assert_intact(&t, BASE_EVENTS + 25_000, &["BIG-24999".into()]);
}

/// An open interrupted on a full disk leaves sled's new snapshot half-written as
/// `snap.<lsn>.generating`, which sled 0.34.7 then takes for its newest snapshot and
/// refuses as corrupt ("Read corrupted data at file offset None") on every later open.
/// Opening removes it first. Needs no full disk: the file is made by hand.
#[test]
fn a_half_written_snapshot_does_not_make_the_ledger_unreadable() {
    let t = TempLedger::standard();
    let sled = t.dir.join("sled");
    let unfinished = sled.join("snap.7FFFFFFFFFFFFFFF.generating");
    std::fs::write(&unfinished, b"").expect("an empty unfinished snapshot");
    let status = t.run(&["status", "--json"]);
    status.assert_ok();
    assert_eq!(status.json()["head"]["seq"].as_u64(), Some(STANDARD_SIZE));
    assert!(!unfinished.exists(), "removed on open");
    t.run(&["verify"]).assert_ok();
}

/// Not a test: prints the bytes sled writes per event and per batch byte for imports of
/// several sizes into the base ledger, the figures `store::space` sizes its margin from.
#[test]
#[ignore = "a measurement; run as root with --ignored --nocapture"]
fn sled_bytes_per_event() {
    for rows in [1_000usize, 3_001, 10_000, 25_000] {
        let Some(fs) = Tmpfs::mount("256m") else {
            return;
        };
        let t = base_ledger(&fs);
        let inputs = tempfile::tempdir().expect("a directory for inputs");
        let file = import_file(inputs.path(), "M", rows);
        let logical_before = logical_bytes(&t);
        let used = |fs: &Tmpfs| {
            let stat = rustix::fs::statvfs(fs.path()).expect("statvfs");
            (stat.f_blocks - stat.f_bfree) * stat.f_frsize
        };
        let before = used(&fs);
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
        let done = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (peak, done, path) = (peak.clone(), done.clone(), fs.path().to_owned());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let stat = rustix::fs::statvfs(&path).expect("statvfs");
                    peak.fetch_max(
                        (stat.f_blocks - stat.f_bfree) * stat.f_frsize,
                        Ordering::SeqCst,
                    );
                }
            })
        };
        import(&t.dir, &file).assert_ok();
        done.store(true, Ordering::SeqCst);
        watcher.join().expect("the watcher ends");
        let grown = peak.load(Ordering::SeqCst) - before;
        let written = logical_bytes(&t) - logical_before;
        println!(
            "{rows} rows: batch keys+values {written} bytes ({} per event); peak file system \
             growth {grown} bytes ({} per event, {:.2} per batch byte); the store asks for {}",
            written / rows as u64,
            grown / rows as u64,
            grown as f64 / written as f64,
            space::needed(written),
        );
    }
}

/// Keys and values in the ledger's database, in bytes.
fn logical_bytes(t: &TempLedger) -> u64 {
    t.dump()
        .0
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum()
}
