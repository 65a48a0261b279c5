//! `Ledger::verify` over a ledger of 100,000 events, against a raw scan of the same stored
//! values (hash ‖ record) in a sled database with one key per event, one blake3 over each.

use std::path::Path;
use std::time::Duration;

use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use fundtrail::ledger::import::{CsvFile, ImportKind};
use fundtrail::ledger::{Ledger, GROUP_COMMIT_EVENTS};

#[allow(dead_code)]
mod common;
use common::*;

const EVENTS: u64 = 100_000;

fn verify_ledger(ledger: &Ledger) {
    let report = ledger.view().verify(|_| {}).expect("verify runs");
    assert!(report.fault.is_none() && report.checked == EVENTS);
    black_box(report);
}

/// Every event value in seq order, each hashed once with blake3: the least a verifier
/// must do.
fn scan_and_hash(db: &sled::Db) {
    let mut count = 0u64;
    let mut acc = 0u8;
    for item in db.range(event_key(1)..=event_key(u64::MAX)) {
        let (_, value) = item.expect("raw scan");
        acc ^= blake3::hash(&value).as_bytes()[0];
        count += 1;
    }
    assert_eq!(count, EVENTS);
    black_box(acc);
}

/// The baseline's input: every stored value of the ledger under its own key, written in
/// chunks of a group commit and made durable.
fn write_raw_copy(ledger: &Ledger, raw_dir: &Path) {
    let raw = RawSled::open(raw_dir);
    let chunk = GROUP_COMMIT_EVENTS as u64;
    for first in (1..=EVENTS).step_by(GROUP_COMMIT_EVENTS) {
        let values = stored_values(ledger, first, (first + chunk - 1).min(EVENTS));
        raw.apply(first, values.iter().map(Vec::as_slice));
    }
    raw.sync();
}

/// One paired round: opens the database, warms its cache with one unmeasured pass (as
/// criterion's warm-up does), then measures one pass.
fn fundtrail_round(dir: &Path) -> Cost {
    let ledger = Ledger::open(dir).expect("reopen the ledger");
    verify_ledger(&ledger);
    measure(|| verify_ledger(&ledger)).1
}

fn raw_round(dir: &Path) -> Cost {
    let raw = RawSled::open(dir);
    scan_and_hash(&raw.db);
    measure(|| scan_and_hash(&raw.db)).1
}

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir for the ledger");
    let ledger_dir = dir.path().join("ledger");
    let raw_dir = dir.path().join("raw");
    {
        let events = dir.path().join("events.csv");
        write_events_csv(&events, EVENTS - HOUSEHOLDS as u64).expect("write the events file");
        let mut ledger = ledger_with(&ledger_dir, &enroll_commands());
        ledger
            .append_rows(&mut CsvFile::new(&events, ImportKind::Events), &context())
            .expect("the file is valid");
        assert_eq!(ledger.view().head().size, EVENTS);
        write_raw_copy(&ledger, &raw_dir);
    }
    drain_deferred_frees();

    let mut group = c.benchmark_group("verify");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(EVENTS));

    let ledger = Ledger::open(&ledger_dir).expect("reopen the ledger");
    group.bench_function(BenchmarkId::new("fundtrail", EVENTS), |b| {
        b.iter(|| verify_ledger(&ledger))
    });
    drop(ledger);

    let raw = RawSled::open(&raw_dir);
    group.bench_function(BenchmarkId::new("raw_scan_blake3", EVENTS), |b| {
        b.iter(|| scan_and_hash(&raw.db))
    });
    drop(raw);
    group.finish();

    paired(
        &format!("verify/{EVENTS}"),
        EVENTS,
        paired_rounds(15),
        &[
            ("fundtrail", &|| fundtrail_round(&ledger_dir)),
            ("raw_scan_blake3", &|| raw_round(&raw_dir)),
        ],
    );
}

criterion_group! {
    name = benches;
    config = common::few_samples(Duration::from_secs(5));
    targets = verify
}
criterion_main!(benches);
