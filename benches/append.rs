//! Durable batched append: `Ledger::append` of payment batches, against raw sled writing
//! the same stored bytes under one key per event, and against SQLite. Every measured batch
//! goes into a fresh database holding the same households and allocations, so each sample
//! measures the same work.

use std::time::Duration;

use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use fundtrail::model::domain::Command;

#[allow(dead_code)]
mod common;
use common::*;

const BATCHES: [u64; 2] = [1_000, 10_000];

/// One batch size: the commands, and the same events as raw sled values and SQLite rows.
struct Case {
    n: u64,
    setup: Vec<Command>,
    batch: Vec<Command>,
    setup_values: Vec<Vec<u8>>,
    batch_values: Vec<Vec<u8>>,
    setup_rows: Vec<SqlRow>,
    batch_rows: Vec<SqlRow>,
}

impl Case {
    fn new(n: u64) -> Case {
        let setup = setup_commands(n);
        let batch = payment_commands(0..n);
        let mut values = {
            let dir = tempfile::tempdir().expect("a temp dir");
            let mut ledger = ledger_with(dir.path(), &setup);
            ledger
                .append(batch.clone(), &context())
                .expect("the batch is valid");
            stored_values(&ledger, 1, ledger.view().head().size)
        };
        let batch_values = values.split_off(setup.len());
        Case {
            n,
            setup_rows: setup.iter().map(SqlRow::from_command).collect(),
            batch_rows: batch.iter().map(SqlRow::from_command).collect(),
            setup,
            batch,
            setup_values: values,
            batch_values,
        }
    }

    fn fundtrail(&self, iters: u64) -> Cost {
        fresh_rounds(
            iters,
            |dir| (ledger_with(dir, &self.setup), self.batch.clone()),
            |(ledger, commands)| {
                let summary = ledger
                    .append(std::mem::take(commands), &context())
                    .expect("the batch is valid");
                assert_eq!(summary.appended, self.n);
                black_box(summary);
            },
        )
    }

    fn raw_sled(&self, iters: u64) -> Cost {
        let first = self.setup_values.len() as u64 + 1;
        fresh_rounds(
            iters,
            |dir| RawSled::with_setup(dir, &self.setup_values),
            |raw| {
                raw.apply(first, self.batch_values.iter().map(Vec::as_slice));
                raw.sync();
            },
        )
    }

    fn sqlite(&self, iters: u64) -> Cost {
        fresh_rounds(
            iters,
            |dir| {
                let mut conn = sqlite_open(dir);
                sqlite_insert(&mut conn, &self.setup_rows);
                conn
            },
            |conn| sqlite_insert(conn, &self.batch_rows),
        )
    }
}

fn durable_append(c: &mut Criterion) {
    let cases: Vec<Case> = BATCHES.into_iter().map(Case::new).collect();
    let mut group = c.benchmark_group("durable_append");
    group.sampling_mode(SamplingMode::Flat);
    for case in &cases {
        group.throughput(Throughput::Elements(case.n));
        group.bench_function(BenchmarkId::new("fundtrail", case.n), |b| {
            b.iter_custom(|iters| case.fundtrail(iters).wall)
        });
        group.bench_function(BenchmarkId::new("raw_sled", case.n), |b| {
            b.iter_custom(|iters| case.raw_sled(iters).wall)
        });
        group.bench_function(BenchmarkId::new("sqlite", case.n), |b| {
            b.iter_custom(|iters| case.sqlite(iters).wall)
        });
    }
    group.finish();

    for case in &cases {
        let rounds = paired_rounds(if case.n >= 10_000 { 15 } else { 40 });
        paired(
            &format!("durable_append/{}", case.n),
            case.n,
            rounds,
            &[
                ("fundtrail", &|| case.fundtrail(1)),
                ("raw_sled", &|| case.raw_sled(1)),
                ("sqlite", &|| case.sqlite(1)),
            ],
        );
    }
}

criterion_group! {
    name = benches;
    config = common::few_samples(Duration::from_secs(4));
    targets = durable_append
}
criterion_main!(benches);
