//! Checkpoint latency with three witnesses on loopback, beside a checkpoint with none, in
//! one run: each round appends one payment and signs a checkpoint (`Ledger::checkpoint`),
//! and every other round also asks the three witnesses (`ask_witnesses`, as
//! `fundtrail checkpoint` does). The witnesses are `fundtrail witness serve` processes of
//! the release binary, on free loopback ports, each with its own directory (and fsyncs).
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example witness_latency -- [--rounds 1000]
//! ```
//!
//! Prints p50, p99 and max of each, in milliseconds. `FUNDTRAIL_BIN` names another binary.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fundtrail::model::domain::{
    Allocation, Category, Command, Enrollment, HouseholdId, Money, Payment, PaymentKind,
    ProgramCode, Reference,
};
use fundtrail::witness::log_side::{ask_witnesses, LogWitnesses};
use fundtrail::{AppendContext, Ledger};

const WITNESSES: usize = 3;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: u64 = match args.iter().position(|a| a == "--rounds") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or("--rounds needs a number")?,
        None => 1_000,
    };
    let bin = std::env::var("FUNDTRAIL_BIN").unwrap_or_else(|_| "target/release/fundtrail".into());
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ledger_dir = tmp.path().join("ledger");
    let mut ledger = Ledger::init(&ledger_dir).map_err(|e| e.to_string())?;
    ledger
        .append(opening(), &ctx())
        .map_err(|e| e.to_string())?;
    let log_key = ledger.view().verifier_key().to_string();
    let mut children = Vec::new();
    let mut list = LogWitnesses::default();
    for i in 0..WITNESSES {
        let (child, url, key) =
            start_witness(&bin, &tmp.path().join(format!("w{i}")), i, &log_key)?;
        children.push(child);
        list.add(&url, &key, None)?;
    }
    list.save(&ledger_dir).map_err(|e| e.to_string())?;

    let (mut none, mut three) = (Vec::new(), Vec::new());
    for round in 0..2 * rounds {
        ledger
            .append(vec![payment(round)], &ctx())
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let signed = ledger.checkpoint().map_err(|e| e.to_string())?;
        if round % 2 == 0 {
            none.push(started.elapsed());
            continue;
        }
        let report =
            ask_witnesses(&ledger_dir, ledger.view(), &signed).map_err(|e| e.to_string())?;
        three.push(started.elapsed());
        if report.cosignatures() != WITNESSES {
            return Err(format!("round {round}: {:?}", report.outcomes));
        }
    }
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    println!("checkpoint latency over {rounds} checkpoints each, ms (p50 / p99 / max):");
    println!("  no witness:   {}", summary(&mut none));
    println!("  3 witnesses:  {}", summary(&mut three));
    Ok(())
}

fn summary(times: &mut [Duration]) -> String {
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64() * 1e3
    };
    format!("{:.2} / {:.2} / {:.2}", at(0.50), at(0.99), at(1.0))
}

/// Initializes, trusts the log, starts serving; returns the process, its URL and key.
fn start_witness(
    bin: &str,
    dir: &Path,
    i: usize,
    log_key: &str,
) -> Result<(Child, String, String), String> {
    let run = |args: &[&str]| -> Result<String, String> {
        let out = Process::new(bin)
            .args(args)
            .output()
            .map_err(|e| format!("{bin}: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let dir_text = dir.to_str().ok_or("a UTF-8 temp dir")?;
    let key = run(&[
        "witness",
        "init",
        dir_text,
        "--name",
        &format!("w{i}.bench/witness"),
    ])?;
    run(&["witness", "trust", dir_text, "--log", log_key])?;
    let mut child = Process::new(bin)
        .args(["witness", "serve", dir_text, "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("piped")?;
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or(line.clone())?
        .to_owned();
    Ok((child, url, key))
}

fn ctx() -> AppendContext {
    AppendContext {
        actor: "bench".into(),
        now_us: 1_700_000_000_000_000,
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

fn opening() -> Vec<Command> {
    vec![
        Command::Enroll(Enrollment {
            household: HouseholdId::parse("PL-0001").expect("valid"),
            subdistrict: "拓东".into(),
            community: "拓东第1社区".into(),
            category: Category::Bereaved,
            members: 2,
            enrolled_on: date(2014, 3, 1),
        }),
        Command::Allocate(Allocation {
            program: ProgramCode::parse("support_allowance").expect("valid"),
            amount: Money::from_fen(9_000_000_000),
            date: date(2015, 1, 5),
            reference: Reference::parse("ALLOC-1").expect("valid"),
            source: "区财政".into(),
        }),
    ]
}

fn payment(i: u64) -> Command {
    Command::Pay(Payment {
        kind: PaymentKind::Disbursement,
        household: HouseholdId::parse("PL-0001").expect("valid"),
        program: ProgramCode::parse("support_allowance").expect("valid"),
        amount: Money::from_fen(100),
        persons: 1,
        date: date(2015, 1, 31),
        reference: Reference::parse(&format!("BANK-{i:08}")).expect("valid"),
        memo: "扶助金".into(),
        account: None,
    })
}
