//! The monthly run and the rates: `run allowance`, `rates`, `entitlement`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{actor, exit, failure, head_json, open, Cli, Failure, Output};
use crate::ledger::AppendContext;
use crate::model::domain::{HouseholdId, Money, Month};
use crate::model::rates::{period_text, DueBasis, Entitlement, RateTable};
use crate::model::render::{category_name, date_text, Align, Table};
use crate::receipt::issue::WrittenReceipts;
use crate::runs::batch::{self, AllowanceRun, BatchError, Release, RunMode};

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Pay the monthly support allowance: members × the rate of the household's category
    /// on the month's first day, to every household enrolled by the month's end. Re-running
    /// a month appends nothing. A household with an open duplicate_payment or
    /// shared_account finding is held (listed, not paid) until someone other than whoever
    /// ran the month releases it with --release HOUSEHOLD --reason TEXT.
    Allowance(AllowanceArgs),
}

#[derive(Debug, Args)]
pub struct AllowanceArgs {
    /// The month to pay, YYYY-MM.
    #[arg(long, value_parser = parse_month)]
    pub month: Month,
    /// Show what would be paid; append nothing and write no payment file.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to write the bank payment file; never overwritten. Default
    /// allowance-YYYY-MM.csv, or allowance-YYYY-MM-2.csv (-3, ...) when an earlier run of
    /// the month wrote that, as a re-run does for households enrolled since.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Release a household this month's run holds and pay it the month's due, recorded
    /// as a hold_released event; by another actor than whoever ran the month.
    #[arg(
        long,
        value_name = "HOUSEHOLD",
        requires = "reason",
        conflicts_with = "dry_run"
    )]
    pub release: Option<String>,
    /// Why the held household is paid despite its findings (with --release; at most 200
    /// characters).
    #[arg(long, value_name = "TEXT", requires = "release")]
    pub reason: Option<String>,
    /// After the run's checkpoint is signed, write a receipt of each of the month's
    /// allowance payments to DIR (created if missing), one file per payment named
    /// `<reference>.receipt`; a reversed payment gets none.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["dry_run", "release"])]
    pub receipts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EntitlementArgs {
    /// The household id.
    pub household: String,
    /// The last month to count, YYYY-MM (default: the current month).
    #[arg(long, value_parser = parse_month)]
    pub through: Option<Month>,
}

pub fn parse_month(text: &str) -> Result<Month, String> {
    Month::parse(text).map_err(|e| e.0)
}

/// Maps a batch error to its exit code and message.
pub(super) fn batch_failure(err: BatchError) -> Failure {
    match err {
        BatchError::Ledger(e) => failure(e, None),
        BatchError::RunRejected { rejections, total } => {
            let mut lines: Vec<String> = rejections
                .iter()
                .map(|(household, field, reason)| {
                    format!("household {household}: {field}: {reason}")
                })
                .collect();
            lines.push(format!(
                "{total} disbursement(s) rejected; nothing was appended and no payment file written"
            ));
            Failure::new(exit::BAD_INPUT, lines.join("\n"))
        }
        // The run itself is durable; only files could not be written.
        other @ BatchError::Receipts { .. } => Failure::new(exit::UNAVAILABLE, other.to_string()),
        other => Failure::new(exit::BAD_INPUT, other.to_string()),
    }
}

pub(super) fn run(cli: &Cli, command: &RunCommand) -> Result<Output, Failure> {
    let RunCommand::Allowance(args) = command;
    let ctx = AppendContext::now(actor(cli)?);
    let mode = if args.dry_run {
        RunMode::DryRun
    } else {
        RunMode::Pay {
            payment_file: args
                .out
                .clone()
                .unwrap_or_else(|| default_payment_file(Path::new(""), args.month)),
        }
    };
    let mut ledger = open(cli)?;
    if let (Some(household), RunMode::Pay { payment_file }) = (&args.release, &mode) {
        let reason = args.reason.as_deref().unwrap_or_default();
        let release = batch::release_hold(
            &mut ledger,
            args.month,
            household,
            reason,
            payment_file,
            &ctx,
        )
        .map_err(batch_failure)?;
        super::read::refresh(&ledger);
        let output = Output::ok(release_text(&release), release_json(&release));
        return Ok(super::witness::ask_after_append(cli, &ledger, output));
    }
    let run = batch::run_allowance(&mut ledger, args.month, &mode, &ctx).map_err(batch_failure)?;
    if run.appended > 0 {
        super::read::refresh(&ledger);
    }
    let output = Output::ok(
        allowance_text(&run, args.dry_run),
        allowance_json(&run, args.dry_run),
    );
    // Asked before the receipts are written, so they carry the cosigned checkpoint.
    let mut output = if args.dry_run {
        output
    } else {
        super::witness::ask_after_append(cli, &ledger, output)
    };
    if let Some(dir) = &args.receipts {
        let started = Instant::now();
        let written = batch::write_run_receipts(ledger.view(), &run, dir).map_err(batch_failure)?;
        let seconds = started.elapsed().as_secs_f64();
        output.text.push_str(&receipts_text(&written, seconds));
        output.json["receipts"] = receipts_json(&written, seconds);
    }
    Ok(output)
}

fn receipts_text(written: &WrittenReceipts, seconds: f64) -> String {
    let rate = written.written as f64 / seconds.max(1e-9);
    let mut text = format!(
        "receipts: {} written to {} against the checkpoint of size {} ({rate:.0} receipts/s)\n",
        written.written,
        written.dir.display(),
        written.checkpoint_size
    );
    if !written.reversed.is_empty() {
        text.push_str(&format!(
            "no receipt for {} reversed payment(s): {}\n",
            written.reversed.len(),
            written.reversed.join(", ")
        ));
    }
    text
}

fn receipts_json(written: &WrittenReceipts, seconds: f64) -> Value {
    json!({
        "dir": written.dir.display().to_string(),
        "written": written.written,
        "reversed": written.reversed,
        "checkpoint_size": written.checkpoint_size,
        "seconds": seconds,
        "receipts_per_second": written.written as f64 / seconds.max(1e-9),
    })
}

/// Default payment files tried for one month before giving up (the last one's
/// "exists" error then says to choose --out).
const MAX_DEFAULT_PAYMENT_FILES: u32 = 99;

/// The first of allowance-YYYY-MM.csv, allowance-YYYY-MM-2.csv, ... in `dir` (empty: the
/// working directory) that does not exist, nor its `.partial`: each run of a month that
/// pays someone gets its own file.
fn default_payment_file(dir: &Path, month: Month) -> PathBuf {
    let name = |n: u32| match n {
        1 => dir.join(format!("allowance-{month}.csv")),
        n => dir.join(format!("allowance-{month}-{n}.csv")),
    };
    let taken = |path: &PathBuf| path.exists() || batch::partial_path(path).exists();
    (1..=MAX_DEFAULT_PAYMENT_FILES)
        .map(name)
        .find(|path| !taken(path))
        .unwrap_or_else(|| name(MAX_DEFAULT_PAYMENT_FILES))
}

/// Households paid under another reference that the table lists; `--json` lists all.
const MAX_LISTED_OTHERWISE: usize = 20;

/// Up to [`MAX_LISTED_OTHERWISE`] household ids, then how many more.
fn listed(households: &[HouseholdId]) -> String {
    let shown: Vec<&str> = households
        .iter()
        .take(MAX_LISTED_OTHERWISE)
        .map(HouseholdId::as_str)
        .collect();
    match households.len().saturating_sub(MAX_LISTED_OTHERWISE) {
        0 => shown.join(" "),
        more => format!("{} ... and {more} more (--json lists all)", shown.join(" ")),
    }
}

/// The run's total, or `overflow` (never for a real district: 20 members × the ceiling
/// per household leaves room for millions of households).
fn total(run: &AllowanceRun) -> String {
    run.paid
        .iter()
        .try_fold(Money::ZERO, |sum, d| sum.checked_add(d.amount))
        .map_or_else(|| "overflow".into(), |m| m.to_string())
}

fn allowance_text(run: &AllowanceRun, dry_run: bool) -> String {
    let mut text = format!(
        "support allowance {}: {} household(s) to pay, {} in total; {} already paid\n",
        run.month,
        run.paid.len(),
        total(run),
        run.already.len()
    );
    if !run.paid_otherwise.is_empty() {
        text.push_str(&format!(
            "not paid again: {} household(s) already have a support allowance payment dated \
             {} under another reference (see `fundtrail entitlement ID` for any difference):\n",
            run.paid_otherwise.len(),
            run.month
        ));
        for (household, reference) in run.paid_otherwise.iter().take(MAX_LISTED_OTHERWISE) {
            text.push_str(&format!("  {household}  {reference}\n"));
        }
        let more = run
            .paid_otherwise
            .len()
            .saturating_sub(MAX_LISTED_OTHERWISE);
        if more > 0 {
            text.push_str(&format!("  ... and {more} more (--json lists all)\n"));
        }
    }
    if !run.paid.is_empty() {
        let mut table = Table::new(&[
            ("household", Align::Left),
            ("category", Align::Left),
            ("persons", Align::Right),
            ("per member", Align::Right),
            ("amount", Align::Right),
            ("reference", Align::Left),
        ]);
        for due in &run.paid {
            let persons = match due.basis {
                DueBasis::Persons => due.persons.to_string(),
                DueBasis::Members => format!("{} members*", due.persons),
            };
            table.row(vec![
                due.household.to_string(),
                due.category.code().to_string(),
                persons,
                due.per_member.to_string(),
                due.amount.to_string(),
                due.reference.to_string(),
            ]);
        }
        text.push_str(&table.render());
        let by_members = run
            .paid
            .iter()
            .filter(|d| d.basis == DueBasis::Members)
            .count();
        if by_members > 0 {
            text.push_str(&format!(
                "* no persons recorded: {by_members} household(s) paid by their members count; \
                 `fundtrail import persons` completes the roll\n"
            ));
        }
    }
    text.push_str(&held_text(run));
    if !run.none_eligible.is_empty() {
        text.push_str(&format!(
            "not due: {} household(s) with no person eligible in {}: {}\n",
            run.none_eligible.len(),
            run.month,
            listed(&run.none_eligible)
        ));
    }
    text.push_str(&match (&run.payment_file, dry_run) {
        (_, true) => "dry run: nothing appended, no payment file written\n".to_string(),
        (None, false) => "nothing to pay: no payment file written\n".to_string(),
        (Some(file), false) => format!(
            "appended {} disbursement(s); head is seq {} {}\npayment file: {} ({} row(s))\n",
            run.appended,
            run.head.size,
            run.head.hash,
            file.display(),
            run.paid.len()
        ),
    });
    text
}

/// The command that releases a held household, as the run's output suggests it.
fn release_hint(month: Month, household: &str) -> String {
    format!("fundtrail run allowance --month {month} --release {household} --reason TEXT")
}

/// The held households with the findings that hold them, and how to release one.
fn held_text(run: &AllowanceRun) -> String {
    if run.held.is_empty() {
        return String::new();
    }
    let total = run
        .held
        .iter()
        .try_fold(Money::ZERO, |sum, h| sum.checked_add(h.due.amount))
        .map_or_else(|| "overflow".into(), |m| m.to_string());
    let mut text = format!(
        "held: {} household(s), {total} in total, not paid: open {} findings name them\n",
        run.held.len(),
        batch::GATE_RULES.map(|r| r.as_str()).join(" or ")
    );
    let mut table = Table::new(&[
        ("household", Align::Left),
        ("amount held", Align::Right),
        ("findings", Align::Left),
    ]);
    for held in &run.held {
        table.row(vec![
            held.due.household.to_string(),
            held.due.amount.to_string(),
            held.findings.join(" "),
        ]);
    }
    text.push_str(&table.render());
    text.push_str(&format!(
        "see `fundtrail findings --household ID`; someone other than whoever ran the month \
         releases one: {}\n",
        release_hint(run.month, "ID")
    ));
    text
}

fn release_text(r: &Release) -> String {
    format!(
        "released household {} for {} (seq {}): findings {}\n\
         paid {} ({}); head is seq {} {}\npayment file: {} (1 row)\n",
        r.due.household,
        r.month,
        r.seq,
        r.findings.join(" "),
        r.due.amount,
        r.due.reference,
        r.head.size,
        r.head.hash,
        r.payment_file.display()
    )
}

fn release_json(r: &Release) -> Value {
    json!({
        "month": r.month.to_string(),
        "household_id": r.due.household.as_str(),
        "findings": r.findings,
        "release_seq": r.seq.get(),
        "amount": r.due.amount.to_string(),
        "reference": r.due.reference.as_str(),
        "head": head_json(&r.head),
        "payment_file": r.payment_file.display().to_string(),
    })
}

fn allowance_json(run: &AllowanceRun, dry_run: bool) -> Value {
    json!({
        "month": run.month.to_string(),
        "dry_run": dry_run,
        "to_pay": run.paid.iter().map(|d| json!({
            "household_id": d.household.as_str(),
            "category": d.category.code(),
            "persons": d.persons,
            "basis": basis_code(d.basis),
            "per_member": d.per_member.to_string(),
            "amount": d.amount.to_string(),
            "reference": d.reference.as_str(),
        })).collect::<Vec<_>>(),
        "total": total(run),
        "already_paid": run.already.iter().map(|(h, seq)| json!({
            "household_id": h.as_str(), "seq": seq.get(),
        })).collect::<Vec<_>>(),
        "none_eligible": run.none_eligible.iter().map(HouseholdId::as_str).collect::<Vec<_>>(),
        "paid_under_other_reference": run.paid_otherwise.iter().map(|(h, reference)| json!({
            "household_id": h.as_str(), "reference": reference,
        })).collect::<Vec<_>>(),
        "held": run.held.iter().map(|h| json!({
            "household_id": h.due.household.as_str(),
            "amount": h.due.amount.to_string(),
            "findings": h.findings,
            "release": release_hint(run.month, h.due.household.as_str()),
        })).collect::<Vec<_>>(),
        "appended": run.appended,
        "head": head_json(&run.head),
        "payment_file": run.payment_file.as_ref().map(|f| f.display().to_string()),
    })
}

pub(super) fn rates(cli: &Cli) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let table = RateTable::new(ledger.view().rates().map_err(|e| failure(e, None))?);
    let mut text_table = Table::new(&[
        ("program", Align::Left),
        ("category", Align::Left),
        ("per member", Align::Right),
        ("recorded period", Align::Left),
        ("in effect until", Align::Left),
    ]);
    let mut rows = Vec::new();
    for rate in table.iter() {
        let until = table.effective_end(rate).map(date_text);
        text_table.row(vec![
            rate.program.clone(),
            category_name(rate.category).to_string(),
            Money::from_fen(rate.per_member_fen).to_string(),
            period_text(rate),
            until.clone().unwrap_or_else(|| "open".into()),
        ]);
        rows.push(json!({
            "program": rate.program,
            "category": category_name(rate.category),
            "per_member": Money::from_fen(rate.per_member_fen).to_string(),
            "valid_from": date_text(rate.valid_from),
            "valid_to": rate.valid_to.map(date_text),
            "effective_to": until,
        }));
    }
    let text = if text_table.is_empty() {
        "no rates recorded; import them with `fundtrail import rates FILE`\n".to_string()
    } else {
        text_table.render()
    };
    Ok(Output::ok(text, Value::Array(rows)))
}

pub(super) fn entitlement(cli: &Cli, args: &EntitlementArgs) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let through = args
        .through
        .unwrap_or_else(|| Month::of(chrono::Utc::now().date_naive()));
    let e = batch::entitlement(&ledger, &args.household, through).map_err(batch_failure)?;
    Ok(Output::ok(entitlement_text(&e), entitlement_json(&e)))
}

fn entitlement_text(e: &Entitlement) -> String {
    let mut table = Table::new(&[
        ("month", Align::Left),
        ("persons", Align::Right),
        ("per member", Align::Right),
        ("due", Align::Right),
        ("paid", Align::Right),
    ]);
    for m in &e.months {
        table.row(vec![
            m.month.to_string(),
            match m.basis {
                DueBasis::Persons => m.persons.to_string(),
                DueBasis::Members => format!("{} members", m.persons),
            },
            m.per_member.map_or("no rate".into(), |r| r.to_string()),
            m.due.to_string(),
            m.paid.to_string(),
        ]);
    }
    let mut text = format!(
        "household {}: support allowance through {}\n",
        e.household, e.through
    );
    if !table.is_empty() {
        text.push_str(&table.render());
    }
    text.push_str(&format!(
        "due {}  paid {}  balance {} ({})\n",
        e.due,
        e.paid,
        e.balance(),
        e.standing()
    ));
    text
}

/// The support allowance part of `fundtrail household`: the entitlement's summary line
/// and JSON (`null` when no rate was recorded for the household's category).
pub(super) fn household_allowance(
    ledger: &crate::ledger::Ledger,
    events: &crate::runs::household::HouseholdEvents,
    through: Option<Month>,
) -> Result<(String, Value), Failure> {
    let through = through.unwrap_or_else(|| Month::of(chrono::Utc::now().date_naive()));
    let found =
        batch::household_entitlement_of(ledger.view(), events, through).map_err(batch_failure)?;
    Ok(match found {
        Some(e) => (
            format!(
                "support allowance through {}: due {}  paid {}  balance {} ({})\n",
                e.through,
                e.due,
                e.paid,
                e.balance(),
                e.standing()
            ),
            entitlement_json(&e),
        ),
        None => (
            "support allowance: no rate recorded for this household's category\n".into(),
            Value::Null,
        ),
    })
}

/// The entitlement as JSON: also the `support_allowance` part of a household's balance.
/// How JSON names what a due counts: `persons` or `members`.
fn basis_code(basis: DueBasis) -> &'static str {
    match basis {
        DueBasis::Persons => "persons",
        DueBasis::Members => "members",
    }
}

pub fn entitlement_json(e: &Entitlement) -> Value {
    json!({
        "household_id": e.household.as_str(),
        "program": crate::model::rates::ALLOWANCE_PROGRAM,
        "through": e.through.to_string(),
        "due": e.due.to_string(),
        "paid": e.paid.to_string(),
        "balance": e.balance().to_string(),
        "standing": e.standing(),
        "months": e.months.iter().map(|m| json!({
            "month": m.month.to_string(),
            "persons": m.persons,
            "basis": basis_code(m.basis),
            "per_member": m.per_member.map(|r| r.to_string()),
            "due": m.due.to_string(),
            "paid": m.paid.to_string(),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name whose file or unpublished `.partial` exists is skipped.
    #[test]
    fn each_run_of_a_month_gets_a_free_payment_file_name() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let month = Month::parse("2018-07").expect("a month");
        let first = dir.path().join("allowance-2018-07.csv");
        assert_eq!(default_payment_file(dir.path(), month), first);
        std::fs::write(&first, "run 1").expect("write");
        let second = dir.path().join("allowance-2018-07-2.csv");
        assert_eq!(default_payment_file(dir.path(), month), second);
        std::fs::write(batch::partial_path(&second), "run 2, unpublished").expect("write");
        assert_eq!(
            default_payment_file(dir.path(), month),
            dir.path().join("allowance-2018-07-3.csv")
        );
        let here = default_payment_file(Path::new(""), month);
        assert!(
            here.is_relative() && here.to_string_lossy().starts_with("allowance-2018-07"),
            "relative to the working directory, as printed: {here:?}"
        );
    }
}
