//! Writes the benchmarks' deterministic workload as import files:
//! `households.csv` (a few hundred households) and `events.csv` (ROWS data rows: one large
//! allocation per program, then payments with unique references).
//!
//! Usage: cargo run --release --example gen_events -- OUT_DIR ROWS

use std::path::PathBuf;
use std::process::ExitCode;

#[allow(dead_code)]
#[path = "../benches/common/mod.rs"]
mod common;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(Ok(rows))) = (args.first(), args.get(1).map(|r| r.parse::<u64>())) else {
        eprintln!("usage: gen_events OUT_DIR ROWS");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    let result = std::fs::create_dir_all(&dir)
        .and_then(|()| common::write_households_csv(&dir.join("households.csv")))
        .and_then(|()| common::write_events_csv(&dir.join("events.csv"), rows));
    match result {
        Ok(payments) => {
            println!(
                "{}: {} households; {}: {rows} rows ({payments} payments)",
                dir.join("households.csv").display(),
                common::HOUSEHOLDS,
                dir.join("events.csv").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_events: {e}");
            ExitCode::FAILURE
        }
    }
}
