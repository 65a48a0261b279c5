//! Builds the synthetic district ledger of the read-model benchmark (357 households, 8
//! programs, 48 months of payments, a reversal every 50 payments) with a given number of
//! events, for measuring `fundtrail rebuild` at scale:
//!
//! ```text
//! cargo run --release --example readmodels_ledger -- /tmp/ledger-1m 1000000
//! /usr/bin/time -v target/release/fundtrail --ledger /tmp/ledger-1m rebuild
//! ```
//!
//! Re-running on a ledger it built continues where it stopped.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use fundtrail::ledger::{Ledger, LedgerError};
use fundtrail::store::StoreError;

#[path = "../benches/support/readmodels_gen.rs"]
mod readmodels_gen;

const USAGE: &str = "usage: readmodels_ledger DIR EVENTS";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(events)) = (args.next(), args.next()) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Ok(events) = events.parse::<u64>() else {
        eprintln!("{USAGE}: EVENTS is a whole number");
        return ExitCode::from(2);
    };
    match build(PathBuf::from(dir), events) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build(dir: PathBuf, events: u64) -> Result<(), LedgerError> {
    let mut ledger = match Ledger::init(&dir) {
        Err(LedgerError::Store(StoreError::AlreadyExists(_))) => Ledger::open(&dir)?,
        other => other?,
    };
    let start = Instant::now();
    readmodels_gen::append(&mut ledger, events)?;
    let head = ledger.view().head();
    println!(
        "{}: {} events, head {}, built in {:.1?}",
        dir.display(),
        head.size,
        head.hash,
        start.elapsed()
    );
    Ok(())
}
