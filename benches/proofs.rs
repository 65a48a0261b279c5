//! Proofs against a large ledger, and the export and its verifier beside the raw chain
//! hash rate, in one run.
//!
//! ```sh
//! cargo bench --bench proofs                                  # 1,000,000 events
//! FUNDTRAIL_BENCH_EVENTS=100000 cargo bench --bench proofs    # a smaller ledger
//! ```
//!
//! The ledger is built once through `Ledger::append` (about a minute for a million
//! events) and kept under the target directory, keyed by its size, for later runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{black_box, Criterion};
use fundtrail::export::{verify_export, write_export};
use fundtrail::ledger::{AppendContext, Ledger, GROUP_COMMIT_EVENTS};
use fundtrail::model::domain::{
    Allocation, Category, Command, Enrollment, EventHash, HouseholdId, Money, Payment, PaymentKind,
    ProgramCode, Reference, Seq,
};
use fundtrail::tlog::chain::chain_hash;
use fundtrail::tlog::merkle::{self, Blake3Hasher, TreeHasher};
use fundtrail::tlog::proofs;

/// Events in the benchmark ledger unless `FUNDTRAIL_BENCH_EVENTS` says otherwise.
const DEFAULT_EVENTS: u64 = 1_000_000;

/// Households the payments go round; enough that the planner's maps look realistic.
const HOUSEHOLDS: u64 = 1_000;

/// Runs of the one-shot throughput measurements (export, verify-export, hashing); the
/// median is reported.
const THROUGHPUT_RUNS: usize = 3;

fn main() {
    let events = std::env::var("FUNDTRAIL_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_EVENTS);
    let dir = prepared_ledger(events);
    let mut ledger = Ledger::open(&dir).expect("the bench ledger opens");
    let size = ledger.view().head().size;
    ledger.checkpoint().expect("the bench ledger signs");
    throughput(&ledger, size);
    let mut c = Criterion::default()
        .sample_size(200)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    proof_benches(&mut c, &ledger, size);
    c.final_summary();
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

fn household(i: u64) -> HouseholdId {
    HouseholdId::parse(&format!("PL-{:05}", i % HOUSEHOLDS)).expect("a valid id")
}

fn opening() -> Vec<Command> {
    let mut commands: Vec<Command> = (0..HOUSEHOLDS)
        .map(|i| {
            Command::Enroll(Enrollment {
                household: household(i),
                subdistrict: "拓东".into(),
                community: "拓东第1社区".into(),
                category: Category::Bereaved,
                members: 2,
                enrolled_on: date(2014, 3, 1),
            })
        })
        .collect();
    commands.push(Command::Allocate(Allocation {
        program: ProgramCode::parse("support_allowance").expect("a program"),
        amount: Money::from_fen(9_999_999_999),
        date: date(2015, 1, 1),
        reference: Reference::parse("ALLOC-BENCH").expect("a reference"),
        source: "区财政".into(),
    }));
    commands
}

fn payments(first: u64, count: u64) -> Vec<Command> {
    (first..first + count)
        .map(|i| {
            Command::Pay(Payment {
                kind: PaymentKind::Disbursement,
                household: household(i),
                program: ProgramCode::parse("support_allowance").expect("a program"),
                amount: Money::from_fen(100),
                persons: 1,
                date: date(2015, 1, 31),
                reference: Reference::parse(&format!("BANK-{i:010}")).expect("a reference"),
                memo: "2015年1月扶助金".into(),
                account: None,
            })
        })
        .collect()
}

/// The cached ledger of `events` events, built if missing or of another size.
fn prepared_ledger(events: u64) -> PathBuf {
    // The name carries the store layout's version, so a cached ledger of an older layout
    // is never measured.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-ledger-v4-{events}"));
    if let Ok(ledger) = Ledger::open(&dir) {
        if ledger.view().head().size == events {
            return dir;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut ledger = Ledger::init(&dir).expect("a new bench ledger");
    let ctx = AppendContext {
        actor: "bench".into(),
        now_us: 1_700_000_000_000_000,
    };
    let started = Instant::now();
    ledger.append(opening(), &ctx).expect("the opening appends");
    let mut next = 0;
    while ledger.view().head().size < events {
        let count = (events - ledger.view().head().size).min(GROUP_COMMIT_EVENTS as u64);
        ledger
            .append(payments(next, count), &ctx)
            .expect("the payments append");
        next += count;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "built {events} events in {seconds:.1} s ({:.0} events/s appended, {} MB on disk)",
        events as f64 / seconds,
        ledger.view().size_on_disk().unwrap_or(0) / 1_000_000
    );
    dir
}

/// Export, verify-export, `Ledger::verify` and the raw chain hash over the same bytes, in
/// events per second.
fn throughput(ledger: &Ledger, size: u64) {
    let scratch = tempfile::tempdir().expect("a scratch dir");
    let key = ledger.view().verifier_key().clone();
    let records: Vec<(EventHash, Vec<u8>)> = ledger
        .view()
        .stored_events(Seq::FIRST, Seq::new(size))
        .map(|item| item.map(|(_, e)| (e.hash, e.record)).expect("readable"))
        .collect();
    let record_bytes: usize = records.iter().map(|(_, r)| r.len()).sum();

    let export = median(|run| {
        let to = scratch.path().join(format!("export-{run}"));
        time(|| write_export(ledger, &to).map(drop).expect("export"))
    });
    let verify = median(|run| {
        let from = scratch.path().join(format!("export-{run}"));
        time(|| {
            verify_export(&from, &key, vec![])
                .expect("readable")
                .expect("valid");
        })
    });
    let ledger_verify = median(|_| {
        time(|| {
            let report = ledger.view().verify(|_| {}).expect("verify runs");
            assert!(report.fault.is_none());
        })
    });
    let chain = median(|_| {
        time(|| {
            let mut prev = EventHash::GENESIS;
            for (_, record) in &records {
                prev = chain_hash(&prev, record);
            }
            black_box(prev);
        })
    });
    let chain_and_leaf = median(|_| {
        time(|| {
            let mut prev = EventHash::GENESIS;
            let mut frontier = merkle::Frontier::new();
            for (_, record) in &records {
                prev = chain_hash(&prev, record);
                frontier.append(&Blake3Hasher, Blake3Hasher.hash_leaf(prev.as_bytes()));
            }
            black_box(frontier.root(&Blake3Hasher));
        })
    });
    let rate = |d: Duration| size as f64 / d.as_secs_f64();
    println!(
        "\n{size} events, {} record bytes ({:.0} bytes/event); median of {THROUGHPUT_RUNS} runs",
        record_bytes,
        record_bytes as f64 / size as f64
    );
    println!(
        "  {:<46} {:>12.0} events/s",
        "chain hash only (blake3, in memory)",
        rate(chain)
    );
    println!(
        "  {:<46} {:>12.0} events/s",
        "chain hash + Merkle leaf + frontier (memory)",
        rate(chain_and_leaf)
    );
    println!(
        "  {:<46} {:>12.0} events/s",
        "Ledger::verify (store: chain, tree, nodes)",
        rate(ledger_verify)
    );
    println!(
        "  {:<46} {:>12.0} events/s",
        "export (write events.jsonl and bundle)",
        rate(export)
    );
    println!(
        "  {:<46} {:>12.0} events/s",
        "verify-export (stream, parse, check all)",
        rate(verify)
    );
}

fn median(mut run: impl FnMut(usize) -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..THROUGHPUT_RUNS).map(&mut run).collect();
    times.sort();
    times[THROUGHPUT_RUNS / 2]
}

fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

/// Spreads benchmark inputs over the whole log (a fixed xorshift, so runs compare).
struct Picks(u64);

impl Picks {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn proof_benches(c: &mut Criterion, ledger: &Ledger, size: u64) {
    let label = format!("{size} events");
    let latest = ledger
        .view()
        .latest_checkpoint()
        .expect("readable")
        .expect("signed");
    let root = latest.checkpoint.root;
    let key = ledger.view().verifier_key().clone();
    let mut group = c.benchmark_group(format!("proofs/{label}"));

    let mut picks = Picks(0x9e37_79b9_7f4a_7c15);
    group.bench_function("inclusion proof: generate (random seq)", |b| {
        b.iter(|| {
            let seq = Seq::new(1 + picks.next(size));
            black_box(ledger.view().inclusion_proof(seq, size).expect("a proof"))
        })
    });

    let seq = Seq::new(size / 3);
    let proof = ledger.view().inclusion_proof(seq, size).expect("a proof");
    let leaf = Blake3Hasher.hash_leaf(ledger.view().stored(seq).expect("stored").hash.as_bytes());
    group.bench_function("inclusion proof: verify", |b| {
        b.iter(|| {
            merkle::verify_inclusion(&Blake3Hasher, seq.get() - 1, size, &leaf, &proof, &root)
                .expect("valid")
        })
    });

    let inclusion =
        fundtrail::export::evidence::inclusion(ledger.view(), seq, None).expect("evidence");
    let text = inclusion
        .evidence
        .tlog_proof(&inclusion.proof, &latest.note)
        .to_text();
    group.bench_function(
        "tlog-proof: verify offline (parse, signature, chain, path)",
        |b| b.iter(|| proofs::verify_inclusion(black_box(&text), &key).expect("valid")),
    );

    let mut picks = Picks(0x2545_f491_4f6c_dd1d);
    group.bench_function("consistency proof: generate (random old size)", |b| {
        b.iter(|| {
            let old = 1 + picks.next(size);
            black_box(ledger.view().consistency_proof(old, size).expect("a proof"))
        })
    });

    let mut picks = Picks(0x1234_5678_9abc_def1);
    group.bench_function("root at a random earlier size", |b| {
        b.iter(|| black_box(ledger.view().root_at(1 + picks.next(size)).expect("a root")))
    });
    group.finish();
}
