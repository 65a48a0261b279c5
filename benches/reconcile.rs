//! Reconciliation throughput: a statement of N lines against a ledger of N events
//! (N = 1,000,000 unless FUNDTRAIL_BENCH_RECONCILE_EVENTS says otherwise), beside two
//! baselines in the same run: tokenizing the CSV only, and parsing the statement with
//! every field checked (the reconciliation's own first half). `reconcile` is the steady
//! state: the payment index is up to date, as it is after the first reconciliation; the
//! full scan that builds it is measured separately (`payment_index_rebuild_full_scan`).
//!
//! `cargo bench --bench reconcile`. Building the ledger happens once, outside the
//! measurements, through `Ledger::append_rows` like any import; its time is printed.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fundtrail::ledger::{AppendContext, Ledger, LedgerError, Row, RowSource};
use fundtrail::model::domain::{
    parse_date, Allocation, Category, Command, Enrollment, HouseholdId, Money, Month, Payment,
    PaymentKind, ProgramCode, Reference, AMOUNT_CEILING_FEN,
};
use fundtrail::runs::batch::{payment_table, reconcile_bytes, IndexMode};
use fundtrail::runs::reconcile::parse_statement;

const DEFAULT_EVENTS: u64 = 1_000_000;

/// Households in the generated ledger; payments cycle through them.
const HOUSEHOLDS: u64 = 1_000;

fn events() -> u64 {
    std::env::var("FUNDTRAIL_BENCH_RECONCILE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_EVENTS)
}

/// The generated ledger's rows: households, one allocation, then payments, made on the
/// fly so a million commands are never held at once (the ledger reads its source twice).
struct Generated {
    events: u64,
}

fn command(i: u64) -> Command {
    let program = ProgramCode::parse("support_allowance").expect("catalog code");
    let date = parse_date("2018-07-31").expect("valid date");
    if i < HOUSEHOLDS {
        return Command::Enroll(Enrollment {
            household: household(i),
            subdistrict: "拓东".into(),
            community: "金碧".into(),
            category: Category::Bereaved,
            members: 2,
            enrolled_on: parse_date("2015-01-01").expect("valid date"),
        });
    }
    if i == HOUSEHOLDS {
        return Command::Allocate(Allocation {
            program,
            amount: Money::from_fen(AMOUNT_CEILING_FEN - 1),
            date,
            reference: Reference::parse("ZJ-BENCH").expect("plain reference"),
            source: "区财政".into(),
        });
    }
    Command::Pay(Payment {
        kind: PaymentKind::Disbursement,
        household: household(i % HOUSEHOLDS),
        program,
        amount: Money::from_fen(amount_fen(i)),
        persons: 2,
        date,
        reference: payment_reference(i),
        memo: "support allowance".into(),
        account: None,
    })
}

fn household(i: u64) -> HouseholdId {
    HouseholdId::parse(&format!("PL-{i:05}")).expect("short id")
}

fn payment_reference(i: u64) -> Reference {
    Reference::parse(&format!("ICBC-2018-{i:09}")).expect("plain reference")
}

/// Small varied amounts (under ¥10): a million of them stay within one allocation.
fn amount_fen(i: u64) -> i64 {
    100 + (i % 900) as i64
}

impl RowSource for Generated {
    fn rows(&mut self) -> Result<Box<dyn Iterator<Item = Row> + '_>, LedgerError> {
        Ok(Box::new((0..self.events).map(|i| Row {
            line: i + 1,
            command: Ok(command(i)),
        })))
    }
}

/// A statement of `lines` rows paying every generated payment, with one of each kind of
/// difference planted, padded with unknown references to the requested length.
fn statement(events: u64, lines: u64) -> Vec<u8> {
    let mut text = String::from("value_date,amount,reference,beneficiary\n");
    let mut written = 0;
    let mut row = |reference: &str, fen: i64| {
        let amount = Money::from_fen(fen);
        text.push_str(&format!("2018-07-31,{amount},{reference},王芳\n"));
    };
    for i in (HOUSEHOLDS + 1)..events {
        if written == lines {
            break;
        }
        let reference = payment_reference(i);
        match i - HOUSEHOLDS {
            1 => continue,                                   // missing_in_bank
            2 => row(reference.as_str(), amount_fen(i) + 1), // amount_mismatch
            3 => {
                row(reference.as_str(), amount_fen(i)); // duplicate_in_bank
                row(reference.as_str(), amount_fen(i));
                written += 1;
            }
            _ => row(reference.as_str(), amount_fen(i)),
        }
        written += 1;
    }
    let mut extra = 0;
    while written < lines {
        row(&format!("UNKNOWN-{extra}"), 100); // missing_in_ledger
        extra += 1;
        written += 1;
    }
    text.into_bytes()
}

fn build_ledger(dir: &std::path::Path, events: u64) -> Ledger {
    let started = Instant::now();
    let mut ledger = Ledger::init(&dir.join("ledger")).expect("new ledger");
    let ctx = AppendContext {
        actor: "bench".into(),
        now_us: 1_700_000_000_000_000,
    };
    ledger
        .append_rows(&mut Generated { events }, &ctx)
        .expect("the generated rows are valid");
    eprintln!(
        "setup: ledger of {events} events built in {:.1} s ({:.0} events/s), {} MB on disk",
        started.elapsed().as_secs_f64(),
        events as f64 / started.elapsed().as_secs_f64(),
        ledger.view().size_on_disk().unwrap_or(0) / 1_000_000
    );
    ledger
}

fn bench(c: &mut Criterion) {
    let events = events();
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = build_ledger(dir.path(), events);
    let bytes = statement(events, events);
    let month = Some(Month::parse("2018-07").expect("valid month"));

    let started = Instant::now();
    let (report, index) =
        reconcile_bytes(ledger.view(), &bytes, month, IndexMode::Cached).expect("clean statement");
    eprintln!(
        "setup: first reconcile {:.2} s ({index:?})",
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "setup: {} statement lines ({} MB), {} matched, {} differences {:?}",
        report.bank_rows,
        bytes.len() / 1_000_000,
        report.matched_count,
        report.counts.total(),
        report.counts
    );

    let mut group = c.benchmark_group("reconcile");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function(BenchmarkId::new("baseline_csv_tokenize", events), |b| {
        b.iter(|| {
            let mut reader = csv::ReaderBuilder::new().from_reader(&bytes[..]);
            let mut record = csv::ByteRecord::new();
            let mut fields = 0;
            while reader.read_byte_record(&mut record).expect("valid CSV") {
                fields += record.len();
            }
            fields
        })
    });
    group.bench_function(BenchmarkId::new("baseline_parse_statement", events), |b| {
        b.iter(|| parse_statement(&bytes).expect("clean statement").len())
    });
    group.bench_function(BenchmarkId::new("payment_index_load", events), |b| {
        b.iter(|| {
            payment_table(ledger.view(), IndexMode::Cached)
                .expect("index")
                .0
                .len()
        })
    });
    group.bench_function(BenchmarkId::new("reconcile", events), |b| {
        b.iter(|| {
            let (report, _) = reconcile_bytes(ledger.view(), &bytes, month, IndexMode::Cached)
                .expect("clean statement");
            report.matched_count
        })
    });
    // The cold path: no usable index, so every event is read from sled (once per ledger,
    // then only the events appended since).
    group.bench_function(
        BenchmarkId::new("payment_index_rebuild_full_scan", events),
        |b| {
            b.iter(|| {
                payment_table(ledger.view(), IndexMode::Rebuild)
                    .expect("index")
                    .0
                    .len()
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
