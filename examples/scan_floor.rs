//! The floor under any `verify` (issue 14): what reading a ledger's event blocks costs with
//! nothing of fundtrail's checks around it. It opens the ledger's sled tree as the store
//! does (same cache size) and scans the event blocks `e‖first` (FORMAT.md §3.3) in key
//! order, on one thread, to one of three depths, or only opens it:
//!
//! - `open`: the tree is opened and its last event block read, nothing more: the floor
//!   under a command that opens the ledger to answer from a few keys (`household`,
//!   `totals`), and what sled alone keeps for a log of that size;
//! - `read`: every block's stored value is read (and its bytes summed, so none is skipped);
//! - `decompress`: each value is also turned back into the block's bytes (LZ4, §3.3);
//! - `hash`: each block's entries are also split and every record's chain hash recomputed
//!   (BLAKE3 of the tag, the previous hash and the record, FORMAT.md §2) and compared with
//!   the stored one.
//!
//! ```text
//! cargo build --release --example scan_floor
//! /usr/bin/time -f '%e s %U u %S s %M KiB' target/release/examples/scan_floor LEDGER hash
//! /usr/bin/time -f '%e s %U u %S s %M KiB' target/release/examples/scan_floor LEDGER read 0
//! ```
//!
//! Like the store's bulk scans, the scan looks each block's key up again
//! `LRU_TOUCHES_PER_SCANNED_KEY` times so that sled's cache evicts what it has passed
//! (src/store); a last argument sets that count, and `0` shows what sled keeps without it.
//!
//! `verify` does all of this on its chain thread, and more (the seals, the reference
//! blocks, the rules, the tree, the read models): its whole-process time can be no lower
//! than the `hash` figure. The ledger must be closed; sled opens it for writing (its
//! recovery may write a snapshot), so point it at a copy of a ledger that matters. Like
//! `disk_breakdown`, this reads the sled tree directly, which only the store does otherwise.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use fundtrail::model::domain::EventHash;
use fundtrail::store::block::{decode_stored, event_entries};
use fundtrail::store::{CACHE_BYTES, LRU_TOUCHES_PER_SCANNED_KEY};
use fundtrail::tlog::chain::chain_hash;

const USAGE: &str = "usage: scan_floor LEDGER_DIR open|read|decompress|hash [TOUCHES]";

/// The key prefix of event blocks (FORMAT.md §3): `e`, then the block's first seq.
const EVENT_PREFIX: u8 = b'e';

/// How far the scan goes into each block.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Depth {
    Open,
    Read,
    Decompress,
    Hash,
}

/// What the scan met.
#[derive(Default)]
struct Scanned {
    blocks: u64,
    stored_bytes: u64,
    block_bytes: u64,
    events: u64,
    /// Records whose recomputed chain hash is not the stored one (0 on a sound ledger).
    broken_links: u64,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(depth)) = (args.next(), args.next()) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let depth = match depth.as_str() {
        "open" => Depth::Open,
        "read" => Depth::Read,
        "decompress" => Depth::Decompress,
        "hash" => Depth::Hash,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let touches = match args.next().map(|t| t.parse::<usize>()) {
        None => LRU_TOUCHES_PER_SCANNED_KEY,
        Some(Ok(touches)) => touches,
        Some(Err(e)) => {
            eprintln!("error: TOUCHES: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sled_dir = Path::new(&dir).join("sled");
    let opening = Instant::now();
    let config = sled::Config::new()
        .path(&sled_dir)
        .cache_capacity(CACHE_BYTES);
    let db = match config.open() {
        Ok(db) => db,
        Err(e) => {
            eprintln!("error: opening {}: {e}", sled_dir.display());
            return ExitCode::from(3);
        }
    };
    let opened = opening.elapsed();
    let scanning = Instant::now();
    let scanned = match scan(&db, depth, touches) {
        Ok(scanned) => scanned,
        Err(e) => {
            eprintln!("error: reading {}: {e}", sled_dir.display());
            return ExitCode::from(1);
        }
    };
    let took = scanning.elapsed();
    println!(
        "{} blocks, {} stored bytes, {} block bytes, {} events, {} broken links; open {:.3} s, scan {:.3} s",
        scanned.blocks,
        scanned.stored_bytes,
        scanned.block_bytes,
        scanned.events,
        scanned.broken_links,
        opened.as_secs_f64(),
        took.as_secs_f64()
    );
    if scanned.broken_links > 0 {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Scans the event blocks in key order to `depth`, looking each key up `touches` times more.
fn scan(db: &sled::Db, depth: Depth, touches: usize) -> Result<Scanned, String> {
    let mut scanned = Scanned::default();
    let mut prev = EventHash::GENESIS;
    if depth == Depth::Open {
        if let Some(item) = db.scan_prefix([EVENT_PREFIX]).next_back() {
            let (_, value) = item.map_err(|e| e.to_string())?;
            scanned.blocks = 1;
            scanned.stored_bytes = value.len() as u64;
        }
        return Ok(scanned);
    }
    for item in db.scan_prefix([EVENT_PREFIX]) {
        let (key, value) = item.map_err(|e| e.to_string())?;
        for _ in 0..touches {
            db.contains_key(&key).map_err(|e| e.to_string())?;
        }
        scanned.blocks += 1;
        scanned.stored_bytes += value.len() as u64;
        if depth < Depth::Decompress {
            continue;
        }
        let block = decode_stored(&value)?;
        scanned.block_bytes += block.len() as u64;
        if depth < Depth::Hash {
            continue;
        }
        for entry in event_entries(&block) {
            let entry =
                entry.map_err(|fault| format!("entry {}: {}", fault.index, fault.reason))?;
            let stored = EventHash::from_bytes(*entry.hash);
            let hash = chain_hash(&prev, entry.record);
            scanned.events += 1;
            if hash != stored {
                scanned.broken_links += 1;
            }
            prev = stored;
        }
    }
    Ok(scanned)
}
