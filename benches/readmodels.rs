//! Read-model benchmarks (issue 3):
//!
//! - **rebuild** (`ReadSide::rebuild`) beside a **raw baseline** on the same ledger in the
//!   same run: a scan of the event records with `encoding::decode` only (`Ledger::records`,
//!   which the rebuild itself iterates). Both in events/s; the ratio rebuild/raw is printed
//!   against the goal of [`RATIO_GOAL`].
//! - **totals** queries answered from maintained state holding [`QUERY_EVENTS`] events.
//!   The facts are folded directly into `ReadModels` (the same synthetic events the ledger
//!   holds, without storing them): a query reads only the maintained state, never the log.
//!   Goal: a median under [`QUERY_GOAL`].
//!
//! Run: `cargo bench --bench readmodels`. `FUNDTRAIL_BENCH_EVENTS` sets the ledger's size
//! (default [`LEDGER_EVENTS`]), `FUNDTRAIL_BENCH_QUERY_EVENTS` the query state's. The ledger
//! is generated once (`Ledger::append` in batches of 10,000) and kept under the target
//! directory (`CARGO_TARGET_TMPDIR`), so later runs start at once.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use fundtrail::ledger::readmodels::ReadSide;
use fundtrail::ledger::Ledger;
use fundtrail::model::domain::Seq;
use fundtrail_projections::{GroupKey, ReadModels, TotalsQuery, YearMonth};

#[path = "support/readmodels_gen.rs"]
mod readmodels_gen;

/// Events in the benchmark ledger.
const LEDGER_EVENTS: u64 = 200_000;
/// Events folded into the state the totals queries read.
const QUERY_EVENTS: u64 = 1_000_000;
/// The goal: a rebuild runs at 70% of the raw scan's rate or better.
const RATIO_GOAL: f64 = 0.70;
const QUERY_GOAL: Duration = Duration::from_millis(1);
/// Alternating runs of raw and rebuild for the printed ratio.
const RATIO_RUNS: usize = 5;
/// Runs per query for the printed median.
const QUERY_RUNS: usize = 1001;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The cached benchmark ledger, built (or completed) on first use.
fn ledger(events: u64) -> Ledger {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("readmodels-{events}"));
    let mut ledger = match Ledger::open(&dir) {
        Ok(ledger) => ledger,
        Err(_) => {
            let _ = std::fs::remove_dir_all(&dir);
            Ledger::init(&dir).expect("create the benchmark ledger")
        }
    };
    if ledger.view().head().size < events {
        eprintln!("building a {events}-event ledger in {}", dir.display());
        let start = Instant::now();
        readmodels_gen::append(&mut ledger, events).expect("append synthetic events");
        eprintln!("built in {:.1?}", start.elapsed());
    }
    assert_eq!(
        ledger.view().head().size,
        events,
        "{} holds other events",
        dir.display()
    );
    ledger
}

/// The raw baseline: every record read and decoded, nothing else.
fn raw_scan(ledger: &Ledger) -> u64 {
    let mut count = 0;
    for item in ledger
        .view()
        .records(Seq::FIRST, Seq::new(ledger.view().head().size))
    {
        black_box(item.expect("a readable record"));
        count += 1;
    }
    count
}

fn rebuild(ledger: &Ledger) -> ReadSide {
    ReadSide::rebuild(ledger.view()).expect("rebuild")
}

fn bench_rebuild(c: &mut Criterion) {
    let events = env_u64("FUNDTRAIL_BENCH_EVENTS", LEDGER_EVENTS);
    let ledger = ledger(events);
    let mut group = c.benchmark_group("rebuild");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(events));
    group.bench_function(format!("raw_scan_decode/{events}"), |b| {
        b.iter(|| raw_scan(&ledger))
    });
    group.bench_function(format!("rebuild/{events}"), |b| b.iter(|| rebuild(&ledger)));
    group.finish();
    print_ratio(&ledger, events);
}

/// Alternating runs, so both see the same machine load; medians of each.
fn print_ratio(ledger: &Ledger, events: u64) {
    let mut raw = Vec::new();
    let mut built = Vec::new();
    for _ in 0..RATIO_RUNS {
        let start = Instant::now();
        black_box(raw_scan(ledger));
        raw.push(start.elapsed());
        let start = Instant::now();
        black_box(rebuild(ledger));
        built.push(start.elapsed());
    }
    let rate = |times: &mut Vec<Duration>| {
        times.sort();
        events as f64 / times[times.len() / 2].as_secs_f64()
    };
    let (raw_rate, rebuild_rate) = (rate(&mut raw), rate(&mut built));
    let ratio = rebuild_rate / raw_rate;
    println!(
        "rebuild vs raw, {events} events, median of {RATIO_RUNS}: raw {raw_rate:.0} events/s, \
         rebuild {rebuild_rate:.0} events/s, ratio {:.0}% (goal {:.0}%: {})",
        ratio * 100.0,
        RATIO_GOAL * 100.0,
        if ratio >= RATIO_GOAL { "met" } else { "missed" }
    );
}

/// Maintained state holding `events` synthetic events.
fn folded(events: u64) -> ReadModels {
    let mut models = ReadModels::new();
    let facts = readmodels_gen::Synthetic::new().take(usize::try_from(events).expect("fits"));
    for (seq, (_, fact)) in (1..).zip(facts) {
        models.apply(seq, [0; 32], &fact).expect("a valid fact");
    }
    models
}

fn queries() -> Vec<(&'static str, TotalsQuery)> {
    let by = |keys: &[GroupKey]| TotalsQuery {
        by: keys.to_vec(),
        ..TotalsQuery::default()
    };
    vec![
        ("grand_total", by(&[])),
        ("by_program", by(&[GroupKey::Program])),
        (
            "by_subdistrict_program",
            by(&[GroupKey::Subdistrict, GroupKey::Program]),
        ),
        ("by_month", by(&[GroupKey::Month])),
        (
            "by_community_in_one_subdistrict_and_month",
            TotalsQuery {
                subdistrict: Some("S05".into()),
                month: Some(YearMonth {
                    year: 2017,
                    month: 6,
                }),
                ..by(&[GroupKey::Community])
            },
        ),
        (
            "by_program_year_for_one_program",
            TotalsQuery {
                program: Some("support_allowance".into()),
                ..by(&[GroupKey::Program, GroupKey::Year])
            },
        ),
    ]
}

fn bench_totals(c: &mut Criterion) {
    let events = env_u64("FUNDTRAIL_BENCH_QUERY_EVENTS", QUERY_EVENTS);
    let start = Instant::now();
    let models = folded(events);
    eprintln!(
        "folded {events} events in {:.1?}: {:?}",
        start.elapsed(),
        models.size()
    );
    let mut group = c.benchmark_group(format!("totals/{events}"));
    group.sample_size(100);
    for (name, query) in queries() {
        group.bench_function(name, |b| b.iter(|| models.totals(black_box(&query))));
    }
    group.finish();
    for (name, query) in queries() {
        let mut times: Vec<Duration> = (0..QUERY_RUNS)
            .map(|_| {
                let start = Instant::now();
                black_box(models.totals(&query));
                start.elapsed()
            })
            .collect();
        times.sort();
        let median = times[QUERY_RUNS / 2];
        println!(
            "totals {name}, {events} events: {} rows, median {median:.2?} (goal < {QUERY_GOAL:?}: {})",
            models.totals(&query).len(),
            if median < QUERY_GOAL { "met" } else { "missed" }
        );
    }
}

criterion_group!(benches, bench_rebuild, bench_totals);
criterion_main!(benches);
