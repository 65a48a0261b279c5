//! The raw-sled memory floor of issue 14's import: what sled 0.34 alone holds while it
//! writes the keys and values of a ledger, with nothing of fundtrail around it.
//!
//! ```text
//! cargo build --release --example sled_write_floor
//! target/release/examples/sled_write_floor dump LEDGER/sled /tmp/keys.bin
//! /usr/bin/time -f '%e s %M KiB' target/release/examples/sled_write_floor load /tmp/keys.bin /tmp/floor
//! ```
//!
//! `dump` copies every key and value of a ledger's sled tree (point it at a copy: sled
//! opens for writing) into a flat file, in key order; `load` writes them into a new sled
//! tree with the store's cache size, in batches of `KEYS_PER_BATCH` keys, then flushes.
//! `load`'s peak resident memory is sled's own for those bytes: the floor under
//! `import events`, which writes the same keys (in seq order rather than key order) and
//! holds its planner, its read models and its findings besides.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use fundtrail::store::CACHE_BYTES;

/// Keys per `apply_batch`: about one import chunk of 1,024 events (16 event blocks, their
/// seals and reference blocks, and a trail key per household in the chunk).
const KEYS_PER_BATCH: usize = 256;

const USAGE: &str = "usage: sled_write_floor dump SLED_DIR FILE | load FILE NEW_SLED_DIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["dump", dir, file] => dump(dir, file),
        ["load", file, dir] => load(file, dir),
        _ => Err(USAGE.to_string()),
    };
    match outcome {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sled_write_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn open(dir: &str) -> Result<sled::Db, String> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(CACHE_BYTES)
        .open()
        .map_err(|e| format!("{dir}: {e}"))
}

/// Each entry as key length (u32 LE), key, value length (u32 LE), value.
fn dump(dir: &str, file: &str) -> Result<String, String> {
    let db = open(dir)?;
    let out = File::create(file).map_err(|e| format!("{file}: {e}"))?;
    let mut out = BufWriter::new(out);
    let (mut entries, mut bytes) = (0u64, 0u64);
    for item in db.iter() {
        let (key, value) = item.map_err(|e| format!("{dir}: {e}"))?;
        for part in [&key[..], &value[..]] {
            let len = u32::try_from(part.len()).map_err(|_| "a value over 4 GiB")?;
            out.write_all(&len.to_le_bytes())
                .and_then(|()| out.write_all(part))
                .map_err(|e| format!("{file}: {e}"))?;
        }
        entries += 1;
        bytes += (key.len() + value.len()) as u64;
    }
    out.flush().map_err(|e| format!("{file}: {e}"))?;
    Ok(format!(
        "dumped {entries} entries, {bytes} bytes of keys and values"
    ))
}

fn load(file: &str, dir: &str) -> Result<String, String> {
    let input = File::open(file).map_err(|e| format!("{file}: {e}"))?;
    let mut input = BufReader::new(input);
    let db = open(dir)?;
    let started = Instant::now();
    let (mut entries, mut bytes) = (0u64, 0u64);
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    while let Some(key) = read_part(&mut input).map_err(|e| format!("{file}: {e}"))? {
        let value = read_part(&mut input)
            .map_err(|e| format!("{file}: {e}"))?
            .ok_or_else(|| format!("{file}: a key without its value"))?;
        bytes += (key.len() + value.len()) as u64;
        batch.insert(key, value);
        entries += 1;
        in_batch += 1;
        if in_batch == KEYS_PER_BATCH {
            db.apply_batch(std::mem::take(&mut batch))
                .map_err(|e| format!("{dir}: {e}"))?;
            in_batch = 0;
        }
    }
    db.apply_batch(batch).map_err(|e| format!("{dir}: {e}"))?;
    db.flush().map_err(|e| format!("{dir}: {e}"))?;
    Ok(format!(
        "loaded {entries} entries, {bytes} bytes, in {:.2} s",
        started.elapsed().as_secs_f64()
    ))
}

/// One length-prefixed part, or `None` at the end of the file.
fn read_part(input: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut part = vec![0; u32::from_le_bytes(len) as usize];
    input.read_exact(&mut part)?;
    Ok(Some(part))
}
