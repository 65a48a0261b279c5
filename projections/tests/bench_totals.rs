//! Throwaway benchmark at district scale, ignored by default. Run with
//! `cargo test -p fundtrail-projections --release --test bench_totals -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use fundtrail_projections::{
    Date, Fact, GroupKey, PaymentKind, ReadModels, TotalsQuery, YearMonth,
};

/// The district of the report: 357 households in 103 communities of 12
/// sub-districts, 8 programs, 4 years of months.
const HOUSEHOLDS: usize = 357;
const COMMUNITIES: usize = 103;
const SUBDISTRICTS: usize = 12;
const PROGRAMS: usize = 8;
const MONTHS: usize = 48;
const FIRST_YEAR: i32 = 2016;
const PAYMENTS: usize = 1_000_000;
/// One event in this many is a reversal of a recent payment.
const REVERSAL_EVERY: usize = 50;
const RECENT: usize = 64;
const RUNS: usize = 101;
const COMMON_QUERY_BUDGET: Duration = Duration::from_millis(1);

/// A fixed-seed linear congruential generator: reproducible, no dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from((self.0 >> 33) % u64::try_from(n).expect("fits")).expect("fits")
    }
}

fn u8_of(n: usize) -> u8 {
    u8::try_from(n).expect("small")
}

/// The district's facts, in seq order, and how many of them are reversals.
fn generate() -> (Vec<Fact>, u64) {
    let mut facts = Vec::new();
    let next = |facts: &mut Vec<Fact>, fact: &Fact| -> u64 {
        facts.push(fact.clone());
        u64::try_from(facts.len()).expect("fits")
    };
    for h in 0..HOUSEHOLDS {
        let community = h % COMMUNITIES;
        let fact = Fact::HouseholdEnrolled {
            household: format!("HH{h:04}"),
            subdistrict: format!("S{:02}", community % SUBDISTRICTS),
            community: format!("C{community:03}"),
            category: "bereaved".into(),
            members: 2,
            enrolled_on: Date {
                year: FIRST_YEAR - 1,
                month: 1,
                day: 1,
            },
        };
        next(&mut facts, &fact);
    }
    let mut rng = Lcg(42);
    let mut recent: Vec<Option<(u64, Fact)>> = vec![None; RECENT];
    let mut reversed = 0u64;
    for i in 0..PAYMENTS {
        if i % REVERSAL_EVERY == 0 {
            if let Some((
                target_seq,
                Fact::Paid {
                    household,
                    program,
                    amount_fen,
                    persons,
                    date,
                    ..
                },
            )) = recent[rng.below(RECENT)].take()
            {
                let fact = Fact::Reversed {
                    target_seq,
                    household,
                    program,
                    amount_fen,
                    persons,
                    target_date: date,
                    date,
                    reason: "bench".into(),
                };
                next(&mut facts, &fact);
                reversed += 1;
            }
        }
        let month = rng.below(MONTHS);
        let fact = Fact::Paid {
            kind: PaymentKind::Disbursement,
            household: format!("HH{:04}", rng.below(HOUSEHOLDS)),
            program: format!("P{}", rng.below(PROGRAMS)),
            amount_fen: i64::try_from(rng.below(100_000)).expect("fits"),
            persons: u32::try_from(rng.below(3)).expect("fits") + 1,
            date: Date {
                year: FIRST_YEAR + i32::try_from(month / 12).expect("fits"),
                month: u8_of(month % 12 + 1),
                day: u8_of(rng.below(28) + 1),
            },
            reference: String::new(),
        };
        let seq = next(&mut facts, &fact);
        recent[rng.below(RECENT)] = Some((seq, fact));
    }
    (facts, reversed)
}

fn fold(facts: &[Fact]) -> ReadModels {
    let mut models = ReadModels::new();
    for (seq, fact) in (1..).zip(facts) {
        models.apply(seq, [0; 32], fact).expect("valid fact");
    }
    models
}

/// This thread's CPU time in ns (Linux schedstat), so the numbers mean
/// something on a shared, busy machine; `None` elsewhere.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn median_time(models: &ReadModels, query: &TotalsQuery) -> (Duration, usize) {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let rows = models.totals(query);
            let elapsed = start.elapsed();
            assert!(!rows.is_empty(), "{query:?}");
            elapsed
        })
        .collect();
    times.sort();
    (times[RUNS / 2], models.totals(query).len())
}

fn q(by: &[GroupKey]) -> TotalsQuery {
    TotalsQuery {
        by: by.to_vec(),
        ..TotalsQuery::default()
    }
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn totals_at_district_scale() {
    let (facts, reversed) = generate();
    let start = Instant::now();
    let cpu_start = cpu_ns();
    let models = fold(&facts);
    let fold = start.elapsed();
    let cpu = cpu_ns().zip(cpu_start).map(|(end, start)| end - start);
    let events = HOUSEHOLDS as u64 + PAYMENTS as u64 + reversed;
    println!(
        "fold: {events} events, wall {fold:.2?}, cpu {:?} ns/event",
        cpu.map(|ns| ns / events),
    );
    let start = Instant::now();
    let size = models.size();
    println!(
        "first query (builds the totals cube if needed): {:.2?}; {size:?}",
        start.elapsed()
    );

    let grand = models.totals(&q(&[]));
    assert_eq!(grand[0].payments, PAYMENTS as u64 - reversed);
    assert_eq!(grand[0].households, HOUSEHOLDS as u64);

    let common = [
        (
            "by subdistrict+program",
            q(&[GroupKey::Subdistrict, GroupKey::Program]),
        ),
        ("by month", q(&[GroupKey::Month])),
        ("grand total", q(&[])),
        ("by community", q(&[GroupKey::Community])),
        ("by program+year", q(&[GroupKey::Program, GroupKey::Year])),
        (
            "by subdistrict, program=P3, year=2018",
            TotalsQuery {
                by: vec![GroupKey::Subdistrict],
                program: Some("P3".into()),
                year: Some(2018),
                ..TotalsQuery::default()
            },
        ),
        (
            "by community, subdistrict=S05, month=2017-06",
            TotalsQuery {
                by: vec![GroupKey::Community],
                subdistrict: Some("S05".into()),
                month: Some(YearMonth {
                    year: 2017,
                    month: 6,
                }),
                ..TotalsQuery::default()
            },
        ),
    ];
    for (name, query) in &common {
        let (median, rows) = median_time(&models, query);
        println!("{name}: {rows} rows, median {median:.2?}");
        assert!(median < COMMON_QUERY_BUDGET, "{name}: {median:?}");
    }
    let finest = q(&[GroupKey::Community, GroupKey::Program, GroupKey::Month]);
    let (median, rows) = median_time(&models, &finest);
    println!("by community+program+month (largest shape): {rows} rows, median {median:.2?}");

    let start = Instant::now();
    let bytes = bincode::serialize(&models).expect("serialize");
    let encode = start.elapsed();
    let start = Instant::now();
    let back: ReadModels = bincode::deserialize(&bytes).expect("deserialize");
    let decode = start.elapsed();
    assert_eq!(back, models);
    println!(
        "snapshot: {} bytes, encode {encode:.2?}, decode {decode:.2?}",
        bytes.len()
    );
}
