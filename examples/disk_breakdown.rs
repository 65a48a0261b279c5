//! Where a ledger's bytes on disk go: per key prefix of the sled tree (FORMAT.md §3) the
//! entries, the key and value bytes as stored, and for event and reference blocks their
//! own bytes before the stored form (§3.3); then the files of `<ledger>/sled` (sled's data
//! file, its blob files for values over its blob threshold, its snapshot) and of
//! `<ledger>/records` (the large meta records), so the difference between the two is
//! sled's space amplification.
//!
//! ```text
//! cargo run --release --example disk_breakdown -- LEDGER_DIR [EVENTS]
//! ```
//!
//! `EVENTS` (the ledger's event count, from `fundtrail status`) adds bytes per event. The
//! ledger must be closed; sled opens it for writing (its recovery may write a snapshot), so
//! point it at a copy of a ledger that matters. Like the tests' insider edits, this reads
//! the sled tree directly, which only the store does otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fundtrail::store::block::decode_stored;

const USAGE: &str = "usage: disk_breakdown LEDGER_DIR [EVENTS]";

/// Entries, key bytes and value bytes of one group of keys, and for blocks the bytes of
/// the blocks themselves.
#[derive(Default)]
struct Group {
    entries: u64,
    key_bytes: u64,
    value_bytes: u64,
    block_bytes: u64,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let events = args.next().and_then(|n| n.parse::<u64>().ok());
    let sled_dir = Path::new(&dir).join("sled");
    let db = match sled::open(&sled_dir) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("error: opening {}: {e}", sled_dir.display());
            return ExitCode::from(3);
        }
    };
    let groups = match tally(&db) {
        Ok(groups) => groups,
        Err(e) => {
            eprintln!("error: reading {}: {e}", sled_dir.display());
            return ExitCode::from(1);
        }
    };
    drop(db);
    print_groups(&groups, events);
    print_files(&sled_dir, Path::new(&dir).join("records"), events);
    ExitCode::SUCCESS
}

/// The group a key belongs to: its prefix byte, with meta records and their chunks by
/// name and Merkle nodes by level.
fn group_of(key: &[u8]) -> String {
    let rest = String::from_utf8_lossy(&key[1..]);
    match key[0] {
        b'm' | b'z' => format!(
            "{} {}",
            key[0] as char,
            rest.split('.').next().unwrap_or_default()
        ),
        b's' => format!("s {}", rest.split('\0').next().unwrap_or_default()),
        b'f' => format!("f {}", rest.split('.').next().unwrap_or_default()),
        b'n' if key.len() > 1 => format!("n level {:02}", key[1]),
        prefix => (prefix as char).to_string(),
    }
}

fn tally(db: &sled::Db) -> sled::Result<BTreeMap<String, Group>> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for item in db.iter() {
        let (key, value) = item?;
        let Some(&prefix) = key.first() else { continue };
        let group = groups.entry(group_of(&key)).or_default();
        group.entries += 1;
        group.key_bytes += key.len() as u64;
        group.value_bytes += value.len() as u64;
        if matches!(prefix, b'e' | b'r') {
            // A value that does not decode counts as its stored bytes.
            let own = decode_stored(&value).map_or(value.len(), |block| block.len());
            group.block_bytes += own as u64;
        }
    }
    Ok(groups)
}

fn per_event(bytes: u64, events: Option<u64>) -> String {
    match events {
        Some(n) if n > 0 => format!("{:>9.1}", bytes as f64 / n as f64),
        _ => format!("{:>9}", "-"),
    }
}

fn print_groups(groups: &BTreeMap<String, Group>, events: Option<u64>) {
    println!(
        "{:<16} {:>10} {:>12} {:>14} {:>9} {:>14}",
        "keys", "entries", "key bytes", "value bytes", "B/event", "block bytes"
    );
    let mut total = 0;
    for (name, g) in groups {
        let stored = g.key_bytes + g.value_bytes;
        total += stored;
        let blocks = match g.block_bytes {
            0 => String::new(),
            b => b.to_string(),
        };
        println!(
            "{name:<16} {:>10} {:>12} {:>14} {} {blocks:>14}",
            g.entries,
            g.key_bytes,
            g.value_bytes,
            per_event(stored, events)
        );
    }
    println!(
        "{:<16} {:>10} {:>12} {:>14} {}",
        "all keys",
        "",
        "",
        total,
        per_event(total, events)
    );
}

/// The files sled keeps, by kind: the data file, blobs, snapshots, the rest; and the large
/// meta records' files beside it (FORMAT.md §3, key `f`).
fn print_files(sled_dir: &Path, records_dir: PathBuf, events: Option<u64>) {
    let mut kinds: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut visit = |path: &Path, kind: &'static str| {
        if let Ok(meta) = std::fs::metadata(path) {
            let entry = kinds.entry(kind).or_default();
            entry.0 += 1;
            entry.1 += meta.len();
        }
    };
    let Ok(entries) = std::fs::read_dir(sled_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        match name.as_str() {
            "db" => visit(&path, "db (segments)"),
            "blobs" => {
                for blob in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                    visit(&blob.path(), "blobs");
                }
            }
            n if n.starts_with("snap.") => visit(&path, "snapshot"),
            _ => visit(&path, "other"),
        }
    }
    for record in std::fs::read_dir(&records_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        visit(&record.path(), "records/");
    }
    println!();
    println!(
        "{:<16} {:>10} {:>27} {:>9}",
        "files", "count", "bytes", "B/event"
    );
    let mut total = 0;
    for (kind, (count, bytes)) in &kinds {
        total += bytes;
        println!(
            "{kind:<16} {count:>10} {bytes:>27} {}",
            per_event(*bytes, events)
        );
    }
    println!(
        "{:<16} {:>10} {total:>27} {}",
        "all files",
        "",
        per_event(total, events)
    );
}
