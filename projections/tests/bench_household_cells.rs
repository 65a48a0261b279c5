//! Throwaway benchmark of the household fine cells, ignored by default. Run with
//! `cargo test -p fundtrail-projections --release --test bench_household_cells -- --ignored --nocapture`.
//!
//! The simulated district's households (paid monthly in one program and twice a
//! year in another, never in a third) over 20 years, folded twice: as a replay
//! does (the totals cube derived at the end), and with the cube maintained fact
//! by fact as a server does after its first query, where every payment into a
//! new month asks whether the household still counts in its coarser cells.

mod common;

use common::*;
use fundtrail_projections::{Fact, ReadModels, TotalsQuery};

const HOUSEHOLDS: usize = 2_000;
const FIRST_YEAR: i32 = 2018;
const YEARS: i32 = 20;
/// The simulated district's programs, in its order of first appearance.
const PROGRAMS: [&str; 3] = ["holiday_condolence", "micro_wish", "support_allowance"];

/// Enrollments and allocations, then the payments month by month.
fn district() -> (Vec<Fact>, Vec<Fact>) {
    let mut setup: Vec<Fact> = (0..HOUSEHOLDS)
        .map(|h| enroll(&format!("H{h:05}"), "拓东", &format!("C{}", h % 40), 2))
        .collect();
    setup.extend(PROGRAMS.map(|program| allocate(program, i64::MAX / 4)));
    let mut payments = Vec::new();
    for year in FIRST_YEAR..FIRST_YEAR + YEARS {
        for month in 1..=12 {
            for h in 0..HOUSEHOLDS {
                let household = format!("H{h:05}");
                payments.push(pay(&household, PROGRAMS[2], 1_000, 2, date(year, month, 5)));
                if month == 1 || month == 9 {
                    payments.push(pay(&household, PROGRAMS[0], 500, 2, date(year, month, 6)));
                }
            }
        }
    }
    (setup, payments)
}

/// This thread's CPU time in ns (Linux schedstat), so the numbers mean
/// something on a shared, busy machine; `None` elsewhere.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// CPU nanoseconds per payment folding `payments`, with or without the cube maintained.
fn fold(setup: &[Fact], payments: &[Fact], maintained: bool) -> (Option<u64>, ReadModels) {
    let mut models = ReadModels::new();
    apply_all(&mut models, setup);
    if maintained {
        models.totals(&TotalsQuery::default());
    }
    let start = cpu_ns();
    apply_all(&mut models, payments);
    let count = u64::try_from(payments.len()).expect("fits");
    let per_payment = cpu_ns()
        .zip(start)
        .map(|(end, start)| (end - start) / count);
    (per_payment, models)
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn fold_twenty_years_of_a_district() {
    let (setup, payments) = district();
    let (replay, replayed) = fold(&setup, &payments, false);
    let start = cpu_ns();
    let derived = replayed.totals(&TotalsQuery::default());
    let derive = cpu_ns()
        .zip(start)
        .map(|(end, start)| (end - start) / 1_000_000);
    let (maintained, kept) = fold(&setup, &payments, true);
    assert_eq!(kept.totals(&TotalsQuery::default()), derived);
    println!(
        "{} payments, CPU: replay {replay:?} ns/payment, cube derived after it {derive:?} ms; \
         cube maintained {maintained:?} ns/payment",
        payments.len()
    );
}
