//! Throwaway benchmark of the findings fold at a million payments, ignored by default:
//! its rate, and its memory as the heap it holds (counted by this binary's allocator) and
//! as its snapshot's bytes, each per live payment. Run with
//! `cargo test -p fundtrail-projections --release --test bench_findings -- --ignored --nocapture`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The system allocator, counting the bytes allocated and not yet freed, and their peak.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are
// only read by the test.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let live = LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed) + new_size;
        PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

use fundtrail_projections::findings::{Account, SUPPORT_ALLOWANCE};
use fundtrail_projections::{Date, FindingFact, Findings, LoggedPayment, PaymentKind, Payments};

const HOUSEHOLDS: usize = 8_000;
/// Months of allowance per household: 8,000 × 100 = 800,000 allowance payments.
const MONTHS: usize = 100;
/// Other payments per household (about 200,000 in all), under 6 programs.
const OTHERS: usize = 25;
const OTHER_PROGRAMS: [&str; 6] = [
    "holiday_condolence",
    "accident_insurance",
    "nursing_insurance",
    "housekeeping_service",
    "transit_card",
    "micro_wish",
];
const RATE: i64 = 50_000;
const FIRST_YEAR: i32 = 2016;
/// Households sharing one account (a couple's two households): below the rule's three.
const PER_ACCOUNT: usize = 2;

fn month_date(index: usize, day: u8) -> Date {
    let year = FIRST_YEAR + i32::try_from(index / 12).expect("small");
    let month = u8::try_from(index % 12 + 1).expect("a month");
    Date { year, month, day }
}

fn facts() -> Vec<FindingFact> {
    let mut facts = vec![FindingFact::RateSet {
        program: SUPPORT_ALLOWANCE.into(),
        category: "bereaved".into(),
        per_member_fen: RATE,
        valid_from: Date {
            year: 2000,
            month: 1,
            day: 1,
        },
        valid_to: None,
    }];
    for h in 0..HOUSEHOLDS {
        let household = format!("H{h:05}");
        facts.push(FindingFact::HouseholdEnrolled {
            household: household.clone(),
            category: "bereaved".into(),
        });
        for role in ["M", "F"] {
            facts.push(FindingFact::PersonAdded {
                person: format!("{role}{h:05}"),
                household: household.clone(),
                parent: true,
                birth_date: Date {
                    year: 1950,
                    month: 3,
                    day: 1,
                },
                joined_on: Date {
                    year: 2000,
                    month: 1,
                    day: 1,
                },
            });
        }
    }
    for m in 0..MONTHS {
        for h in 0..HOUSEHOLDS {
            facts.push(paid(
                h,
                SUPPORT_ALLOWANCE,
                2 * RATE,
                month_date(m, 10),
                None,
            ));
            if m % (MONTHS / OTHERS) == 0 {
                let program = OTHER_PROGRAMS[(h + m) % OTHER_PROGRAMS.len()];
                let account = Some(Account {
                    hash: account_hash(h / PER_ACCOUNT),
                    last4: "1234".into(),
                });
                facts.push(paid(h, program, 20_000, month_date(m, 20), account));
            }
        }
    }
    facts
}

fn account_hash(n: usize) -> [u8; 32] {
    let mut hash = [0; 32];
    hash[..8].copy_from_slice(&u64::try_from(n).expect("fits").to_le_bytes());
    hash
}

fn paid(
    h: usize,
    program: &str,
    amount_fen: i64,
    date: Date,
    account: Option<Account>,
) -> FindingFact {
    FindingFact::Paid {
        kind: PaymentKind::Disbursement,
        household: format!("H{h:05}"),
        program: program.into(),
        amount_fen,
        persons: 2,
        date,
        account,
    }
}

#[test]
#[ignore = "a benchmark: run with --release -- --ignored --nocapture"]
fn fold_a_million_payments() {
    let facts = facts();
    let heap_before = LIVE_BYTES.load(Ordering::Relaxed);
    PEAK_BYTES.store(heap_before, Ordering::Relaxed);
    let started = Instant::now();
    let mut findings = Findings::new();
    for (seq, fact) in (1..).zip(&facts) {
        findings.apply(seq, fact).expect("a well-formed log");
    }
    let elapsed = started.elapsed();
    let held = LIVE_BYTES.load(Ordering::Relaxed) - heap_before;
    let peak = PEAK_BYTES.load(Ordering::Relaxed) - heap_before;
    let rate = facts.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{} facts folded in {:.2} s: {:.0} facts/s, {} findings",
        facts.len(),
        elapsed.as_secs_f64(),
        rate,
        findings.all().len()
    );
    let bytes = bincode::serialize(&findings).expect("findings serialize");
    let live = findings.size().live_payments as f64;
    println!(
        "{:?}\nheap held {held} bytes ({:.1} per live payment), peak while folding {peak} \
         ({:.1}); snapshot {} bytes ({:.1} per live payment)",
        findings.size(),
        held as f64 / live,
        peak as f64 / live,
        bytes.len(),
        bytes.len() as f64 / live
    );
    let back: Findings = bincode::deserialize(&bytes).expect("the snapshot loads back");
    assert_eq!(back, findings);
    assert!(findings.all().is_empty(), "the synthetic district is clean");
    assert_eq!(
        findings.size().live_payments,
        HOUSEHOLDS * (MONTHS + OTHERS)
    );
}

/// Households of the kept-form benchmark, each paid on an account of its own.
const OWN_ACCOUNTS: usize = 16_000;
/// Years each of them is paid on its account: one (account, year) entry each.
const ACCOUNT_YEARS: usize = 5;
/// Duplicate payments to one household: one `duplicate_payment` finding each, as under
/// the server's load benchmark.
const DUPLICATES: usize = 30_000;

/// The facts of the kept-form benchmark: payments on own accounts (or on none), then
/// `duplicates` payments alike to one household's first.
fn kept_facts(duplicates: usize, accounts: bool) -> Vec<FindingFact> {
    let mut facts = Vec::new();
    for year in 0..ACCOUNT_YEARS {
        for h in 0..OWN_ACCOUNTS {
            let date = month_date(12 * year, 10);
            let account = accounts.then(|| Account {
                hash: account_hash(h),
                last4: "1234".into(),
            });
            facts.push(paid(h, "micro_wish", 20_000, date, account));
        }
    }
    for _ in 0..duplicates {
        facts.push(paid(7, "micro_wish", 20_000, month_date(0, 11), None));
    }
    facts
}

/// The heap a fold of `facts` holds once loaded from its snapshot (as a server holds it),
/// its payments kept apart (as the ledger's log keeps them), and its findings.
fn loaded_heap(facts: &[FindingFact]) -> (usize, usize) {
    let mut findings = Findings::new();
    let mut payments = Payments::default();
    for (seq, fact) in (1..).zip(facts) {
        findings
            .apply_with(seq, fact, &mut payments)
            .expect("a well-formed log");
        payments.push(&LoggedPayment::of(seq, fact).expect("a payment"));
    }
    let bytes = bincode::serialize(&findings).expect("findings serialize");
    drop((findings, payments));
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let back: Findings = bincode::deserialize(&bytes).expect("the snapshot loads back");
    let held = LIVE_BYTES.load(Ordering::Relaxed) - before;
    (held, back.all().len())
}

/// The heap of the findings as kept, and of the households paid per account and year:
/// `cargo test -p fundtrail-projections --release --test bench_findings kept -- --ignored
/// --nocapture`.
#[test]
#[ignore = "a benchmark: run with --release -- --ignored --nocapture"]
fn kept_findings_and_account_years() {
    let (unpaid, _) = loaded_heap(&kept_facts(0, false));
    let (accounts, none) = loaded_heap(&kept_facts(0, true));
    let (with, found) = loaded_heap(&kept_facts(DUPLICATES, true));
    assert_eq!((none, found), (0, DUPLICATES));
    let account_years = OWN_ACCOUNTS * ACCOUNT_YEARS;
    println!(
        "{account_years} account-years: heap {} bytes more than without accounts ({:.1} \
         each, the accounts' names included); {found} findings: {} bytes more ({:.1} each)",
        accounts - unpaid,
        (accounts - unpaid) as f64 / account_years as f64,
        with - accounts,
        (with - accounts) as f64 / found as f64
    );
}
