//! Events CSV import: `Ledger::append_rows` over `import::CsvFile` (every row checked, then
//! written in group commits, durable at the end), against raw sled and SQLite fed from the
//! same file. Each measured import goes into a fresh database holding the same households.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use fundtrail::ledger::import::{CsvFile, ImportKind};
use fundtrail::ledger::GROUP_COMMIT_EVENTS;
use fundtrail::model::domain::Command;

#[allow(dead_code)]
mod common;
use common::*;

const ROWS: u64 = 20_000;

fn csv_rows(path: &Path) -> impl Iterator<Item = csv::StringRecord> {
    csv::Reader::from_path(path)
        .expect("open the events file")
        .into_records()
        .map(|r| r.expect("the generated file is well-formed"))
}

/// The events file and the households every import starts from, in each database's form.
struct Case {
    events: PathBuf,
    enrollments: Vec<Command>,
    raw_enrollments: Vec<Vec<u8>>,
    enrollment_rows: Vec<SqlRow>,
}

impl Baselined for Case {
    fn fundtrail(&self, iters: u64) -> Cost {
        fresh_rounds(
            iters,
            |dir| ledger_with(dir, &self.enrollments),
            |ledger| {
                let mut source = CsvFile::new(&self.events, ImportKind::Events);
                let summary = ledger
                    .append_rows(&mut source, &context())
                    .expect("the file is valid");
                assert_eq!(summary.appended, ROWS);
                black_box(summary);
            },
        )
    }

    /// Parses each row into the same record layout, then writes one key per event in
    /// chunks of [`GROUP_COMMIT_EVENTS`], durable at the end, as the ledger does.
    fn raw_sled(&self, iters: u64) -> Cost {
        let first = self.raw_enrollments.len() as u64 + 1;
        fresh_rounds(
            iters,
            |dir| RawSled::with_setup(dir, &self.raw_enrollments),
            |raw| {
                let mut seq = first;
                let mut chunk = Vec::with_capacity(GROUP_COMMIT_EVENTS);
                for row in csv_rows(&self.events) {
                    chunk.push(raw_value(seq + chunk.len() as u64, &row));
                    if chunk.len() == GROUP_COMMIT_EVENTS {
                        raw.apply(seq, chunk.iter().map(Vec::as_slice));
                        seq += chunk.len() as u64;
                        chunk.clear();
                    }
                }
                raw.apply(seq, chunk.iter().map(Vec::as_slice));
                raw.sync();
            },
        )
    }

    fn sqlite(&self, iters: u64) -> Cost {
        fresh_rounds(
            iters,
            |dir| sqlite_with(dir, &self.enrollment_rows),
            |conn| {
                let rows = csv_rows(&self.events).map(|r| SqlRow::from_csv(&r));
                sqlite_insert(conn, rows)
            },
        )
    }
}

fn import(c: &mut Criterion) {
    let files = tempfile::tempdir().expect("a temp dir for the input");
    let events = files.path().join("events.csv");
    write_events_csv(&events, ROWS).expect("write the events file");
    let enrollments = enroll_commands();
    let case = Case {
        events,
        raw_enrollments: raw_enrollments(),
        enrollment_rows: enrollments.iter().map(SqlRow::from_command).collect(),
        enrollments,
    };

    let mut group = c.benchmark_group("import_events_csv");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(ROWS));
    bench_beside_baselines(&mut group, ROWS, &case);
    group.finish();

    let title = format!("import_events_csv/{ROWS}");
    paired_beside_baselines(&title, ROWS, paired_rounds(15), &case);
}

criterion_group! {
    name = benches;
    config = common::few_samples(Duration::from_secs(5));
    targets = import
}
criterion_main!(benches);
