//! The deterministic workload the benches and `examples/gen_events.rs` share, and the
//! baselines the benches compare fundtrail with: raw sled (one key per event, no chain, no
//! index, no validation) and SQLite (WAL, `synchronous=FULL`, a UNIQUE reference column,
//! 1,000 rows per transaction).
//!
//! The workload: a few hundred households enrolled in 2014, one large allocation per
//! program (more when the file is big enough to need them), then payments with unique
//! references spread over the programs and households. Row `i` is always the same row, so
//! the CSV file, the commands and the baselines all see the same events.

use std::borrow::Borrow;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use fundtrail::ledger::import::{EVENT_COLUMNS, HOUSEHOLD_COLUMNS};
use fundtrail::ledger::{AppendContext, Ledger};
use fundtrail::model::domain::{
    date_to_days, Allocation, Category, Command, Enrollment, HouseholdId, Money, Payment,
    PaymentKind, ProgramCode, Reference, AMOUNT_CEILING_FEN, PROGRAMS,
};
use fundtrail::model::encoding::{encode, AllocationV1, Body, EnrolledV1, PaymentV1, RecordV1};

/// Households in every workload: "a few hundred", as in a district.
pub const HOUSEHOLDS: usize = 300;

/// Payments per value date, so a million rows span a few years.
const PAYMENTS_PER_DAY: u64 = 1_000;

/// The largest payment the generator makes, in fen (¥999.99); with it, one allocation of
/// just under the amount ceiling covers a million payments per program.
const MAX_PAYMENT_FEN: i64 = 99_999;

/// Rows SQLite commits per transaction (the setting).
pub const SQLITE_ROWS_PER_TX: usize = 1_000;

/// Every record the benches write carries this actor and time, so the bytes are the same
/// in every run and in every baseline.
pub fn context() -> AppendContext {
    AppendContext {
        actor: "bench".into(),
        now_us: 1_700_000_000_000_000,
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid calendar date")
}

/// The enrollment of household `i` (0-based).
pub fn enrollment(i: usize) -> Enrollment {
    const SUBDISTRICTS: [&str; 6] = ["拓东", "鼓楼", "龙泉", "金马", "吴井", "太和"];
    let subdistrict = SUBDISTRICTS[i % SUBDISTRICTS.len()];
    Enrollment {
        household: HouseholdId::parse(&household_id(i)).expect("generated ids are valid"),
        subdistrict: subdistrict.to_string(),
        community: format!("{subdistrict}第{}社区", 1 + i % 7),
        category: if i.is_multiple_of(4) {
            Category::Disabled
        } else {
            Category::Bereaved
        },
        members: 1 + (i % 3) as u32,
        enrolled_on: day(2014, 1, 1) + chrono::Duration::days((i % 300) as i64),
    }
}

pub fn household_id(i: usize) -> String {
    format!("PL-{:05}", i + 1)
}

/// Allocations per program for a file of `payments` payments: each one is just under the
/// amount ceiling, and a program receives at most `payments / 8` payments of at most ¥999.99.
pub fn allocations_per_program(payments: u64) -> u64 {
    let per_program = payments.div_ceil(PROGRAMS.len() as u64) as i64;
    let needed = per_program * MAX_PAYMENT_FEN;
    (needed / (AMOUNT_CEILING_FEN - 1) + 1) as u64
}

/// The `k`-th allocation of every program, in program order.
pub fn allocations(per_program: u64) -> Vec<Allocation> {
    let mut out = Vec::new();
    for k in 0..per_program {
        for p in PROGRAMS {
            out.push(Allocation {
                program: ProgramCode::parse(p.code).expect("catalog codes parse"),
                amount: Money::from_fen(AMOUNT_CEILING_FEN - 1),
                date: day(2015, 1, 1),
                reference: Reference::parse(&format!("ALLOC-{}-{k}", p.code))
                    .expect("generated references are valid"),
                source: "区财政".into(),
            });
        }
    }
    out
}

/// Payment `i` (0-based). The kind follows the program, as it does in the district.
pub fn payment(i: u64) -> Payment {
    let program = PROGRAMS[(i % PROGRAMS.len() as u64) as usize];
    let kind = match program.code {
        "support_allowance" => PaymentKind::Disbursement,
        "holiday_condolence" => PaymentKind::CondolencePayment,
        "accident_insurance" | "nursing_insurance" => PaymentKind::InsurancePurchase,
        _ => PaymentKind::InKindBenefit,
    };
    let date = day(2015, 1, 1) + chrono::Duration::days((i / PAYMENTS_PER_DAY) as i64);
    let household = (i.wrapping_mul(7919) % HOUSEHOLDS as u64) as usize;
    Payment {
        kind,
        household: HouseholdId::parse(&household_id(household)).expect("generated ids are valid"),
        program: ProgramCode::parse(program.code).expect("catalog codes parse"),
        amount: Money::from_fen(
            1_000 + (i.wrapping_mul(104_729) % (MAX_PAYMENT_FEN as u64 - 999)) as i64,
        ),
        persons: 1 + (i % 3) as u32,
        date,
        reference: Reference::parse(&format!("BANK-{:09}", i + 1))
            .expect("generated references are valid"),
        memo: format!("{}年{}月{}", date.year(), date.month(), program.name_zh),
        account: None,
    }
}

pub fn enroll_commands() -> Vec<Command> {
    (0..HOUSEHOLDS)
        .map(|i| Command::Enroll(enrollment(i)))
        .collect()
}

/// Households and enough allocations for `payments` payments: the state every append
/// bench starts from.
pub fn setup_commands(payments: u64) -> Vec<Command> {
    let mut commands = enroll_commands();
    commands.extend(
        allocations(allocations_per_program(payments))
            .into_iter()
            .map(Command::Allocate),
    );
    commands
}

pub fn payment_commands(range: std::ops::Range<u64>) -> Vec<Command> {
    range.map(|i| Command::Pay(payment(i))).collect()
}

/// Writes the households file.
pub fn write_households_csv(path: &Path) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(HOUSEHOLD_COLUMNS)?;
    for i in 0..HOUSEHOLDS {
        let e = enrollment(i);
        w.write_record([
            e.household.as_str(),
            &e.subdistrict,
            &e.community,
            e.category.code(),
            &e.members.to_string(),
            &e.enrolled_on.to_string(),
        ])?;
    }
    w.flush()
}

/// Writes an events file of `rows` data rows: the allocations first, then payments.
/// Returns the number of payments.
pub fn write_events_csv(path: &Path, rows: u64) -> std::io::Result<u64> {
    let allocs = allocations(allocations_per_program(rows));
    let payments = rows.saturating_sub(allocs.len() as u64);
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(File::create(path)?));
    w.write_record(EVENT_COLUMNS)?;
    for a in allocs.iter().take(rows as usize) {
        w.write_record([
            a.date.to_string().as_str(),
            "fund_allocation",
            "",
            a.program.as_str(),
            &a.amount.to_string(),
            "",
            a.reference.as_str(),
            &a.source,
        ])?;
    }
    for i in 0..payments {
        let p = payment(i);
        w.write_record([
            p.date.to_string().as_str(),
            p.kind.code(),
            p.household.as_str(),
            p.program.as_str(),
            &p.amount.to_string(),
            &p.persons.to_string(),
            p.reference.as_str(),
            &p.memo,
        ])?;
    }
    w.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .flush()?;
    Ok(payments)
}

/// A new ledger in `dir` holding `setup`, committed durably before anything is timed.
pub fn ledger_with(dir: &Path, setup: &[Command]) -> Ledger {
    let mut ledger = Ledger::init(dir).expect("init a bench ledger");
    ledger
        .append(setup.to_vec(), &context())
        .expect("the setup commands are valid");
    ledger
}

// ---- Raw sled: the same values, one key per event, no chain, index or validation ----

/// An event key as fundtrail's store spells it (FORMAT.md, "Store keys"): `e` and the
/// big-endian seq.
pub fn event_key(seq: u64) -> [u8; 9] {
    let mut key = [b'e'; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// A sled database configured as fundtrail's store configures its own, and its data file.
pub struct RawSled {
    pub db: sled::Db,
    data_file: File,
}

impl RawSled {
    pub fn open(dir: &Path) -> RawSled {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(fundtrail::store::CACHE_BYTES)
            .open()
            .expect("open a raw sled database");
        let data_file = File::open(dir.join("db")).expect("sled's data file exists once open");
        RawSled { db, data_file }
    }

    /// One `apply_batch` of `values`, keyed by seq from `first_seq`.
    pub fn apply<'v>(&self, first_seq: u64, values: impl IntoIterator<Item = &'v [u8]>) {
        let mut batch = sled::Batch::default();
        for (i, value) in values.into_iter().enumerate() {
            batch.insert(&event_key(first_seq + i as u64), value);
        }
        self.db.apply_batch(batch).expect("raw apply_batch");
    }

    /// sled's flush, then fdatasync of its data file: what fundtrail's `Store::sync` does.
    /// A raw database already holding the setup events (seq 1 on), made durable: the
    /// state every measured raw round starts from.
    pub fn with_setup(dir: &Path, setup: &[Vec<u8>]) -> RawSled {
        let raw = RawSled::open(dir);
        raw.apply(1, setup.iter().map(Vec::as_slice));
        raw.sync();
        raw
    }

    pub fn sync(&self) {
        self.db.flush().expect("raw flush");
        self.data_file.sync_data().expect("raw fdatasync");
    }
}

/// The value bytes fundtrail stores for seqs `from..=to` (hash ‖ record), read back from
/// a ledger, so the raw baseline writes exactly the same bytes.
pub fn stored_values(ledger: &Ledger, from: u64, to: u64) -> Vec<Vec<u8>> {
    (from..=to)
        .map(|seq| {
            let stored = ledger
                .view()
                .stored(fundtrail::model::domain::Seq::new(seq))
                .expect("the event was appended");
            let mut value = stored.hash.as_bytes().to_vec();
            value.extend_from_slice(&stored.record);
            value
        })
        .collect()
}

/// A record as the raw baseline encodes it from a CSV row: the same layout as fundtrail's,
/// with a zero hash in front in place of the chain hash, so the value has the same size.
pub fn raw_value(seq: u64, row: &csv::StringRecord) -> Vec<u8> {
    let field = |i: usize| row.get(i).unwrap_or("");
    let date = date_to_days(NaiveDate::parse_from_str(field(0), "%Y-%m-%d").unwrap_or_default());
    let amount_fen = Money::parse(field(4)).map_or(0, Money::fen);
    let body = match field(1) {
        "fund_allocation" => Body::FundAllocation(AllocationV1 {
            program: field(3).into(),
            amount_fen,
            value_date: date,
            source: field(7).into(),
        }),
        kind => {
            let payment = PaymentV1 {
                household: field(2).into(),
                program: field(3).into(),
                amount_fen,
                persons: field(5).parse().unwrap_or(1),
                value_date: date,
                memo: field(7).into(),
            };
            let kind = PaymentKind::ALL
                .into_iter()
                .find(|k| k.code() == kind)
                .unwrap_or(PaymentKind::Disbursement);
            Body::from_payment(kind, payment)
        }
    };
    let ctx = context();
    let record = RecordV1 {
        seq,
        recorded_at_us: ctx.now_us,
        actor: ctx.actor,
        reference: field(6).into(),
        body,
    };
    let mut value = vec![0u8; 32];
    value.extend_from_slice(&encode(&record));
    value
}

/// The enrollment records the raw baselines start from, seqs 1..=HOUSEHOLDS.
pub fn raw_enrollments() -> Vec<Vec<u8>> {
    let ctx = context();
    (0..HOUSEHOLDS)
        .map(|i| {
            let e = enrollment(i);
            let record = RecordV1 {
                seq: i as u64 + 1,
                recorded_at_us: ctx.now_us,
                actor: ctx.actor.clone(),
                reference: Reference::for_enrollment(&e.household).to_string(),
                body: Body::HouseholdEnrolled(EnrolledV1::from_domain(&e)),
            };
            let mut value = vec![0u8; 32];
            value.extend_from_slice(&encode(&record));
            value
        })
        .collect()
}

// ---- SQLite: the peer a user would otherwise pick ----

/// One row of the events table.
pub struct SqlRow {
    pub date: i32,
    pub kind: String,
    pub household: String,
    pub program: String,
    pub amount_fen: i64,
    pub persons: u32,
    pub reference: String,
    pub memo: String,
}

impl SqlRow {
    pub fn from_command(command: &Command) -> SqlRow {
        match command {
            Command::Enroll(e) => SqlRow {
                date: date_to_days(e.enrolled_on),
                kind: "household_enrolled".into(),
                household: e.household.to_string(),
                program: String::new(),
                amount_fen: 0,
                persons: e.members,
                reference: command.reference().to_string(),
                memo: format!("{} {}", e.subdistrict, e.community),
            },
            Command::Allocate(a) => SqlRow {
                date: date_to_days(a.date),
                kind: "fund_allocation".into(),
                household: String::new(),
                program: a.program.to_string(),
                amount_fen: a.amount.fen(),
                persons: 0,
                reference: a.reference.to_string(),
                memo: a.source.clone(),
            },
            Command::Pay(p) => SqlRow {
                date: date_to_days(p.date),
                kind: p.kind.code().into(),
                household: p.household.to_string(),
                program: p.program.to_string(),
                amount_fen: p.amount.fen(),
                persons: p.persons,
                reference: p.reference.to_string(),
                memo: p.memo.clone(),
            },
            _ => unreachable!("the workload has only enrollments, allocations and payments"),
        }
    }

    /// A CSV row of the events file, converted as the raw baseline converts it.
    pub fn from_csv(row: &csv::StringRecord) -> SqlRow {
        let field = |i: usize| row.get(i).unwrap_or("").to_string();
        SqlRow {
            date: date_to_days(
                NaiveDate::parse_from_str(&field(0), "%Y-%m-%d").unwrap_or_default(),
            ),
            kind: field(1),
            household: field(2),
            program: field(3),
            amount_fen: Money::parse(&field(4)).map_or(0, Money::fen),
            persons: field(5).parse().unwrap_or(1),
            reference: field(6),
            memo: field(7),
        }
    }
}

/// An SQLite database as the issue specifies it.
pub fn sqlite_open(dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join("events.sqlite")).expect("open sqlite");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         CREATE TABLE events (
             seq INTEGER PRIMARY KEY,
             date INTEGER NOT NULL,
             type TEXT NOT NULL,
             household TEXT NOT NULL,
             program TEXT NOT NULL,
             amount_fen INTEGER NOT NULL,
             persons INTEGER NOT NULL,
             reference TEXT NOT NULL UNIQUE,
             memo TEXT NOT NULL
         );",
    )
    .expect("create the sqlite schema");
    conn
}

/// A fresh SQLite database in `dir` holding `setup`.
pub fn sqlite_with(dir: &Path, setup: &[SqlRow]) -> rusqlite::Connection {
    let mut conn = sqlite_open(dir);
    sqlite_insert(&mut conn, setup);
    conn
}

/// Inserts rows, committing every [`SQLITE_ROWS_PER_TX`] rows.
pub fn sqlite_insert<I>(conn: &mut rusqlite::Connection, rows: I)
where
    I: IntoIterator,
    I::Item: Borrow<SqlRow>,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let tx = conn.transaction().expect("begin");
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO events (date, type, household, program, amount_fen, persons, reference, memo)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .expect("prepare");
            for row in rows.by_ref().take(SQLITE_ROWS_PER_TX) {
                let row: &SqlRow = row.borrow();
                stmt.execute(rusqlite::params![
                    row.date,
                    row.kind,
                    row.household,
                    row.program,
                    row.amount_fen,
                    row.persons,
                    row.reference,
                    row.memo
                ])
                .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
}

// ---- Timing ----

/// What one measured round cost: wall-clock time, and CPU time of all the process's threads
/// (sled writes from background threads too). The machine may be shared with other work;
/// CPU time is the figure such load disturbs least, as long as the disk is not the limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    pub wall: Duration,
    pub cpu: Duration,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, other: Cost) {
        self.wall += other.wall;
        self.cpu += other.cpu;
    }
}

/// CPU time of this process so far, all its threads together, including threads that have
/// already ended (a verify's second thread, sled's flusher).
fn process_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call's duration.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Times `f` in wall-clock and CPU time.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Cost) {
    let cpu_before = process_cpu();
    let start = Instant::now();
    let value = f();
    let wall = start.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    (value, Cost { wall, cpu })
}

/// Frees what sled left for later. sled 0.34 replaces a tree node by a new copy on every
/// insert and hands the old one to crossbeam-epoch, which frees it only when some later
/// `pin` (any `get`, any batch) gets round to it, a few objects per pin. Without this, a
/// round pays for the nodes earlier rounds discarded, but only if it reads (fundtrail does;
/// the raw baseline never reads), and which round pays
/// depends on the order the variants run in.
pub fn drain_deferred_frees() {
    /// Each flush collects up to 8 bags of 64 objects: enough rounds for millions.
    const FLUSHES: usize = 8_192;
    for _ in 0..FLUSHES {
        crossbeam_epoch::pin().flush();
    }
}

/// With `FUNDTRAIL_BENCH_PAY_FREES=1`, each round also pays for freeing the nodes its own
/// writes replaced, inside its measured time: the steady state of a long-running writer,
/// where every batch's garbage is freed by the batches after it.
fn pay_own_frees() -> bool {
    static PAY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PAY.get_or_init(|| std::env::var("FUNDTRAIL_BENCH_PAY_FREES").is_ok_and(|v| v == "1"))
}

/// Runs `iters` measured rounds, each on fresh state that `setup` makes in a new temp
/// directory, timing only `work` (not the setup, not freeing what earlier rounds left, and
/// not closing the database).
pub fn fresh_rounds<S>(
    iters: u64,
    mut setup: impl FnMut(&Path) -> S,
    mut work: impl FnMut(&mut S),
) -> Cost {
    let mut total = Cost::default();
    for _ in 0..iters {
        let dir = tempfile::tempdir().expect("a temp dir for one round");
        let mut state = setup(dir.path());
        drain_deferred_frees();
        let ((), cost) = measure(|| {
            work(&mut state);
            if pay_own_frees() {
                drain_deferred_frees();
            }
        });
        total += cost;
        drop(state);
    }
    total
}

// ---- Paired rounds ----

/// Rounds of the paired comparison; 0 turns it off. Only `cargo bench` runs it (cargo passes
/// `--bench`), and not in criterion's test, list or profiling modes; `cargo test --benches`
/// only checks that each bench runs once.
pub fn paired_rounds(default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    let other_mode = ["--test", "--list", "--profile-time"];
    if !args.iter().any(|a| a == "--bench") || args.iter().any(|a| other_mode.contains(&a.as_str()))
    {
        return 0;
    }
    std::env::var("FUNDTRAIL_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs one measured round of every variant, in rotating order, `rounds` times, and prints
/// each variant's median wall-clock and CPU time, and the medians of the per-round ratios of
/// the first variant's rate to each other's. Criterion measures the variants one after
/// another, so a burst of load from another process lands on one of them; here it lands on
/// all of them alike.
pub fn paired(title: &str, elements: u64, rounds: usize, variants: &[(&str, &dyn Fn() -> Cost)]) {
    if rounds == 0 {
        return;
    }
    let mut costs = vec![Vec::with_capacity(rounds); variants.len()];
    for round in 0..rounds {
        for k in 0..variants.len() {
            let v = (round + k) % variants.len();
            costs[v].push((variants[v].1)());
        }
    }
    println!("paired {title}: {rounds} rounds, {elements} events per round");
    for ((name, _), c) in variants.iter().zip(&costs) {
        let wall = median(c.iter().map(|c| c.wall.as_secs_f64()).collect());
        let cpu = median(c.iter().map(|c| c.cpu.as_secs_f64()).collect());
        println!(
            "  {name:<16} wall median {:>9.3} ms = {:>9.0} events/s   cpu median {:>9.3} ms",
            wall * 1e3,
            elements as f64 / wall,
            cpu * 1e3
        );
    }
    let (first, _) = variants[0];
    for ((name, _), c) in variants.iter().zip(&costs).skip(1) {
        let ratio = |of: fn(&Cost) -> Duration| -> Vec<f64> {
            c.iter()
                .zip(&costs[0])
                .map(|(other, ours)| of(other).as_secs_f64() / of(ours).as_secs_f64())
                .collect()
        };
        let (wall, cpu) = (ratio(|c| c.wall), ratio(|c| c.cpu));
        println!(
            "  rate {first} / {name}: wall {:.3} (quartiles {}), cpu {:.3} (quartiles {})",
            median(wall.clone()),
            quartiles(wall),
            median(cpu.clone()),
            quartiles(cpu)
        );
    }
}

fn quartiles(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    format!("{:.3} .. {:.3}", values[n / 4], values[(3 * n) / 4])
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// A workload that runs on fundtrail and on both baselines, each run from fresh
/// directories: `iters` rounds, and what they cost.
pub trait Baselined {
    fn fundtrail(&self, iters: u64) -> Cost;
    fn raw_sled(&self, iters: u64) -> Cost;
    fn sqlite(&self, iters: u64) -> Cost;
}

/// Criterion's measurement of `case` (`n` events a round) on fundtrail and both baselines.
pub fn bench_beside_baselines(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: u64,
    case: &impl Baselined,
) {
    use criterion::BenchmarkId;
    group.bench_function(BenchmarkId::new("fundtrail", n), |b| {
        b.iter_custom(|iters| case.fundtrail(iters).wall)
    });
    group.bench_function(BenchmarkId::new("raw_sled", n), |b| {
        b.iter_custom(|iters| case.raw_sled(iters).wall)
    });
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter_custom(|iters| case.sqlite(iters).wall)
    });
}

/// [`paired`] rounds of `case` on fundtrail and both baselines.
pub fn paired_beside_baselines(title: &str, n: u64, rounds: usize, case: &impl Baselined) {
    paired(
        title,
        n,
        rounds,
        &[
            ("fundtrail", &|| case.fundtrail(1)),
            ("raw_sled", &|| case.raw_sled(1)),
            ("sqlite", &|| case.sqlite(1)),
        ],
    );
}

/// Criterion settings of these benches: few samples of whole durable rounds, because each
/// round builds a fresh database and the paired comparison adds its own rounds after.
pub fn few_samples(measurement: Duration) -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(measurement)
}
