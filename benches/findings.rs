//! What the maintained findings cost (issue 13), measured as whole operations in one run:
//!
//! 1. `import events` of the bench workload (`common`: households enrolled first, then
//!    ROWS rows of allocations and payments) into a fresh ledger, as the CLI does it: the
//!    durable, signed append (`Ledger::append_signed`), then the read side opened, caught
//!    up and saved (`cli/read.rs`'s `refresh`). Two variants in rotating paired rounds:
//!    the findings maintained, and the findings fold off (`FindingsFold::Off`, the
//!    bench-only switch: no command turns it off).
//! 2. `audit findings` on the export of the last ledger: `export::verify_export_findings`
//!    (verify the bundle and fold the rules over its events) beside `verify_export` (the
//!    verification alone), in paired rounds.
//!
//! `cargo bench --bench findings` (1,000,000 rows; `FUNDTRAIL_BENCH_FINDINGS_ROWS=N` for
//! another size, `FUNDTRAIL_BENCH_ROUNDS=N` for other round counts); `cargo test --benches`
//! runs it once at 2,000 rows. Temp directories go to `$TMPDIR`: keep it on a disk.

use std::path::Path;

#[allow(dead_code)]
mod common;
use common::*;

use fundtrail::export::{verify_export, verify_export_findings, write_export};
use fundtrail::keys::SigningKeyFile;
use fundtrail::ledger::import::{CsvFile, ImportKind};
use fundtrail::ledger::readmodels::{FindingsFold, ReadSide};
use fundtrail::ledger::Ledger;

/// Rows of the measured import (the size).
const ROWS: u64 = 1_000_000;

/// Rows when run as a test (`cargo test --benches`): enough to take the parallel path.
const TEST_ROWS: u64 = 2_000;

/// Paired rounds of the import: each round imports ROWS rows twice (about a minute at
/// 1,000,000 rows on 2 cores).
const IMPORT_ROUNDS: usize = 3;

/// Paired rounds of `audit findings` on one export.
const AUDIT_ROUNDS: usize = 3;

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let rows = match std::env::var("FUNDTRAIL_BENCH_FINDINGS_ROWS") {
        Ok(v) => v
            .parse()
            .expect("FUNDTRAIL_BENCH_FINDINGS_ROWS is a row count"),
        Err(_) if measuring => ROWS,
        Err(_) => TEST_ROWS,
    };
    let rounds = |default: usize| match measuring {
        true => std::env::var("FUNDTRAIL_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
        false => 1,
    };
    let files = tempfile::tempdir().expect("a temp dir for the input");
    let events = files.path().join("events.csv");
    write_events_csv(&events, rows).expect("write the events file");
    let enrollments = enroll_commands();

    let last = std::cell::RefCell::new(None);
    let import = |fold: FindingsFold| {
        let dir = tempfile::tempdir().expect("a temp dir for one round");
        let mut ledger = ledger_with(dir.path(), &enrollments);
        drain_deferred_frees();
        let (findings, cost) = measure(|| import_events(&mut ledger, &events, fold));
        ledger.close().expect("the bench ledger closes");
        if fold == FindingsFold::Maintained {
            println!("  (findings maintained: {findings} raised)");
            *last.borrow_mut() = Some(dir);
        }
        cost
    };
    paired(
        &format!("import events with the findings, {rows} rows"),
        rows,
        rounds(IMPORT_ROUNDS),
        &[
            ("findings on", &|| import(FindingsFold::Maintained)),
            ("findings off", &|| import(FindingsFold::Off)),
        ],
    );

    let ledger_dir = last.into_inner().expect("a round with the findings ran");
    audit_findings(ledger_dir.path(), rounds(AUDIT_ROUNDS));
}

/// The CLI's `import events` after the file is open: append, sign, catch the read side up
/// and save it. Returns how many findings the read side holds.
fn import_events(ledger: &mut Ledger, events: &Path, fold: FindingsFold) -> usize {
    let mut source = CsvFile::new(events, ImportKind::Events);
    let (_, append) = measure(|| {
        ledger
            .append_signed(&mut source, &context())
            .expect("the file is valid")
    });
    let (mut side, open) =
        measure(|| ReadSide::open_with(ledger.view(), fold).expect("the read side opens"));
    let (_, save) = measure(|| side.save(ledger, true).expect("the snapshots are saved"));
    let ms = |cost: Cost| {
        format!(
            "{:.0}/{:.0}",
            cost.wall.as_secs_f64() * 1e3,
            cost.cpu.as_secs_f64() * 1e3
        )
    };
    println!(
        "  ({fold:?}: append {}, catch-up {}, save {} ms wall/cpu)",
        ms(append),
        ms(open),
        ms(save)
    );
    side.findings().map_or(0, |f| f.all().len())
}

/// `audit findings` on an export of the ledger in `dir`, beside the export's verification
/// alone.
fn audit_findings(dir: &Path, rounds: usize) {
    let ledger = Ledger::open(dir).expect("the bench ledger opens");
    let events = ledger.view().head().size;
    let key = SigningKeyFile::read(dir)
        .expect("the bench ledger's key")
        .signer()
        .verifier_key();
    let export = tempfile::tempdir().expect("a temp dir for the export");
    write_export(&ledger, export.path()).expect("the export is written");
    ledger.close().expect("the bench ledger closes");
    let verify = |findings: bool| {
        let (verified, cost) = measure(|| match findings {
            true => verify_export_findings(export.path(), &key),
            false => verify_export(export.path(), &key, Vec::new()),
        });
        let verified = verified
            .expect("the export reads")
            .expect("the export verifies");
        assert_eq!(verified.events, events);
        cost
    };
    paired(
        &format!("audit findings on an export of {events} events"),
        events,
        rounds,
        &[
            ("audit findings", &|| verify(true)),
            ("verify-export", &|| verify(false)),
        ],
    );
}
