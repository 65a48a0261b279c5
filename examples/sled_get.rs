//! The raw-sled baseline of issue 14: what opening a ledger's sled directory and reading one
//! key costs alone, with nothing of fundtrail around it. Measured as a whole process:
//!
//! ```text
//! cargo build --release --example sled_get
//! /usr/bin/time -f '%e s %M KiB' target/release/examples/sled_get LEDGER/sled mlayout
//! ```
//!
//! The key is given as text (`mlayout` is the meta record `m‖layout`). It opens the copy
//! with the cache size the store uses, so the figure is what `Store::open` pays for sled.

use std::process::ExitCode;

use fundtrail::store::CACHE_BYTES;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(key)) = (args.next(), args.next()) else {
        eprintln!("usage: sled_get SLED_DIR KEY");
        return ExitCode::from(2);
    };
    let config = sled::Config::new().path(&dir).cache_capacity(CACHE_BYTES);
    let db = match config.open() {
        Ok(db) => db,
        Err(e) => {
            eprintln!("sled_get: {dir}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match db.get(key.as_bytes()) {
        Ok(value) => {
            println!("{key}: {} bytes", value.map_or(0, |v| v.len()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sled_get: {key}: {e}");
            ExitCode::FAILURE
        }
    }
}
