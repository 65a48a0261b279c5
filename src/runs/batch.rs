//! The batch runs over a ledger: the monthly support allowance run with its bank payment
//! file, a household's entitlement, and (below) reconciliation against a bank statement.
//!
//! The IO shell around the pure `rates` and `reconcile` modules: it reads the ledger,
//! appends through [`Ledger::append`] (so every write-side rule applies) and reads and
//! writes the files.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use fundtrail_projections::findings::Rule;

use crate::ledger::holds::holds_of;
pub use crate::ledger::holds::GATE_RULES;
use crate::ledger::{AppendContext, Head, Ledger, LedgerError, LedgerView};
use crate::model::domain::{
    check_text, Command, EventHash, HoldRelease, HouseholdId, Month, Reference, Seq,
};
use crate::model::encoding::{Body, RecordV1};
use crate::model::rates::{
    allowance_command, allowance_due, allowance_memo, AllowanceDue, DueError, Entitlement,
    RateTable, ALLOWANCE_PROGRAM,
};
use crate::runs::findings::findings;
use crate::runs::household::HouseholdEvents;
use crate::runs::payment_index::{Fold, NewPayment, PaymentTable, Watermark, INDEX_FILE_NAME};
use crate::runs::reconcile::{
    parse_statement, reconcile, Report, StatementError, MAX_STATEMENT_BYTES,
};

/// The bank payment file's columns (FORMAT.md §5).
pub const PAYMENT_FILE_COLUMNS: [&str; 4] = ["reference", "household_id", "amount", "memo"];

/// Suffix of the payment file while it is written; it gets its real name only once the
/// disbursements it lists are committed.
const PARTIAL_SUFFIX: &str = ".partial";

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Due(#[from] DueError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The run is done (what it appended is durable and signed), but its receipts were
    /// not all written.
    #[error("the run is done (head seq {head}), but its receipts were not all written: {source}; write them again with the same command")]
    Receipts {
        head: u64,
        source: crate::receipt::issue::ReceiptError,
    },
    #[error("{0} exists; a payment file is never overwritten: move it away or choose --out")]
    OutputExists(PathBuf),
    /// An earlier run's payment file under its temporary name: its disbursements may be
    /// committed although the file never got its name.
    #[error("{0} exists: an earlier run's payment file that was not published; compare it with the ledger (fundtrail log --type disbursement), then move it away")]
    PartialExists(PathBuf),
    /// The disbursements are appended, but the payment file kept its temporary name.
    #[error("the disbursements are appended (head seq {head}), but publishing the payment file {partial} as {path} failed: {source}; check both paths")]
    PaymentFileNotPublished {
        head: u64,
        partial: PathBuf,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("household {0} is not enrolled")]
    UnknownHousehold(String),
    #[error(transparent)]
    Statement(#[from] StatementError),
    #[error("{path}: {bytes} bytes is more than a statement may have ({MAX_STATEMENT_BYTES})")]
    StatementTooLarge { path: PathBuf, bytes: u64 },
    /// A release that cannot be: the household is not held in the month (paid, not due,
    /// or no open finding holds it), or the reason is missing. Nothing was appended.
    #[error("household {household}, {month}: {reason}")]
    ReleaseRefused {
        household: String,
        month: Month,
        reason: String,
    },
    /// The ledger refused some of the run's disbursements; nothing was appended.
    #[error("{total} disbursement(s) of the run were rejected; nothing was appended")]
    RunRejected {
        /// Household, field and reason, for up to the ledger's reporting limit.
        rejections: Vec<(HouseholdId, &'static str, String)>,
        total: usize,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BatchError + '_ {
    move |source| BatchError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Whether a run appends and writes its payment file, or only reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMode {
    DryRun,
    Pay { payment_file: PathBuf },
}

/// What an allowance run did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowanceRun {
    pub month: Month,
    /// The disbursements appended by this run (or that a real run would append).
    pub paid: Vec<AllowanceDue>,
    /// Households whose allowance for the month is already recorded, with its seq; a re-run
    /// leaves them alone even if a rate has changed since (the balance shows the difference).
    pub already: Vec<(HouseholdId, Seq)>,
    /// Households with a live support allowance payment dated in the month under another
    /// reference (a bank's, imported as an event), with that reference: not paid again,
    /// since the run cannot tell a second payment from a correction; their balance shows
    /// any difference.
    pub paid_otherwise: Vec<(HouseholdId, String)>,
    /// Households with persons recorded but none eligible in the month: not paid.
    pub none_eligible: Vec<HouseholdId>,
    /// Households due this month that open findings of the gate's rules hold: not paid
    /// until someone other than whoever runs the month releases them ([`release_hold`]).
    pub held: Vec<Held>,
    pub appended: u64,
    pub head: Head,
    /// The payment file written; `None` in a dry run or when there was nothing to pay.
    pub payment_file: Option<PathBuf>,
}

/// A household the payment gate holds in a month: its due, not paid, and the open
/// findings that hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub due: AllowanceDue,
    /// Finding ids, ascending.
    pub findings: Vec<String>,
}

/// Runs the support allowance for `month`: works out every enrolled household's due
/// amount, holds the households that open findings of [`GATE_RULES`] name, appends the
/// other disbursements not yet recorded, publishes the payment file, and signs a
/// checkpoint of the new head, as every append ends.
pub fn run_allowance(
    ledger: &mut Ledger,
    month: Month,
    mode: &RunMode,
    ctx: &AppendContext,
) -> Result<AllowanceRun, BatchError> {
    let mut run = plan_month(ledger, month)?;
    let RunMode::Pay { payment_file } = mode else {
        return Ok(run);
    };
    if run.paid.is_empty() {
        return Ok(run);
    }
    let commands = run
        .paid
        .iter()
        .map(|due| allowance_command(due, month))
        .collect();
    let summary = pay_and_publish(ledger, commands, &run.paid, month, payment_file, ctx)
        .map_err(|err| run_rejected(err, &run.paid))?;
    run.appended = summary.appended;
    run.head = summary.head;
    run.payment_file = Some(payment_file.clone());
    Ok(run)
}

/// What a run of `month` would do now: who is paid, already paid, paid otherwise, not
/// due, or held. Appends nothing.
fn plan_month(ledger: &Ledger, month: Month) -> Result<AllowanceRun, BatchError> {
    let table = RateTable::new(ledger.view().rates()?);
    let mut run = AllowanceRun {
        month,
        paid: Vec::new(),
        already: Vec::new(),
        paid_otherwise: Vec::new(),
        none_eligible: none_eligible(ledger, month)?,
        held: Vec::new(),
        appended: 0,
        head: ledger.view().head(),
        payment_file: None,
    };
    for due in allowance_due(month, ledger.enrolled()?, ledger.people(), &table)? {
        match ledger.view().lookup_reference(due.reference.as_str())? {
            Some(seq) => run.already.push((due.household, seq)),
            None => run.paid.push(due),
        }
    }
    set_aside_paid_otherwise(ledger, &mut run)?;
    set_aside_held(ledger.view(), &mut run)?;
    Ok(run)
}

/// Writes the payment file of `paid` under its temporary name, appends `commands` as one
/// batch, publishes the file, and signs a checkpoint of the new head. Nothing is appended
/// when the file cannot be written, and the file is removed when the append is refused.
fn pay_and_publish(
    ledger: &mut Ledger,
    commands: Vec<Command>,
    paid: &[AllowanceDue],
    month: Month,
    payment_file: &Path,
    ctx: &AppendContext,
) -> Result<crate::ledger::AppendSummary, BatchError> {
    let partial = write_partial_payment_file(payment_file, paid, month)?;
    let summary = match ledger.append(commands, ctx) {
        Ok(summary) => summary,
        Err(err) => {
            let _ = fs::remove_file(&partial);
            return Err(err.into());
        }
    };
    publish(&partial, payment_file).map_err(|source| BatchError::PaymentFileNotPublished {
        head: summary.head.size,
        partial: partial.clone(),
        path: payment_file.to_owned(),
        source,
    })?;
    ledger.sign_after(summary.appended)?;
    Ok(summary)
}

/// Moves the households that open findings of [`GATE_RULES`] name from `paid` to
/// `held`. Folds the findings over the whole log, so only when there is someone to pay.
fn set_aside_held(view: &LedgerView, run: &mut AllowanceRun) -> Result<(), BatchError> {
    if run.paid.is_empty() {
        return Ok(());
    }
    let mut holds = holds_of(view, &findings(view)?)?;
    for due in std::mem::take(&mut run.paid) {
        match holds.remove(due.household.as_str()) {
            Some(ids) => run.held.push(Held {
                due,
                findings: ids.into_iter().collect(),
            }),
            None => run.paid.push(due),
        }
    }
    Ok(())
}

/// Writes the receipt of each of the month's allowance payments that `run` paid or found
/// already paid (`<reference>.receipt` in `dir`), against the latest signed checkpoint:
/// after a paying run, the run's own. A reversed payment is listed, not written. Re-running
/// writes them again, so a failed write is repaired by the same command.
pub fn write_run_receipts(
    view: &LedgerView,
    run: &AllowanceRun,
    dir: &Path,
) -> Result<crate::receipt::issue::WrittenReceipts, BatchError> {
    let references: Vec<Reference> = run
        .paid
        .iter()
        .map(|due| due.reference.clone())
        .chain(
            run.already
                .iter()
                .map(|(household, _)| Reference::for_allowance(run.month, household)),
        )
        .collect();
    crate::receipt::issue::write_receipts(view, references.iter().map(Reference::as_str), dir)
        .map_err(|source| BatchError::Receipts {
            head: view.head().size,
            source,
        })
}

/// A held household released for a month: the release and the disbursement it let
/// through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub month: Month,
    /// The disbursement appended with the release.
    pub due: AllowanceDue,
    /// The findings released, ascending.
    pub findings: Vec<String>,
    /// The seq of the `hold_released` event; the disbursement is the next.
    pub seq: Seq,
    pub head: Head,
    pub payment_file: PathBuf,
}

/// Releases a household the run of `month` holds and pays it that month's due: a
/// `hold_released` event naming the findings that hold it, then its disbursement, in one
/// batch, with a payment file of its one row; then a signed checkpoint. The ledger
/// refuses it when the releasing actor ran the month (FORMAT.md §9.1, rule 19); a
/// household that is not held in the month, or a missing reason, is refused here. A
/// refusal leaves the ledger and the directory of the payment file as they were.
pub fn release_hold(
    ledger: &mut Ledger,
    month: Month,
    household: &str,
    reason: &str,
    payment_file: &Path,
    ctx: &AppendContext,
) -> Result<Release, BatchError> {
    let refused = |why: String| BatchError::ReleaseRefused {
        household: household.to_owned(),
        month,
        reason: why,
    };
    let reason = check_text(reason, true).map_err(|e| refused(format!("reason: {e}")))?;
    if !ledger.enrolled()?.contains_key(household) {
        return Err(BatchError::UnknownHousehold(household.to_owned()));
    }
    let run = plan_month(ledger, month)?;
    let held = held_in(&run, household).map_err(refused)?;
    let release = Command::ReleaseHold(HoldRelease {
        household: held.due.household.clone(),
        month,
        reason,
        findings: held.findings.clone(),
        date: day_of(ctx.now_us),
    });
    let commands = vec![release, allowance_command(&held.due, month)];
    let paid = std::slice::from_ref(&held.due);
    let summary = pay_and_publish(ledger, commands, paid, month, payment_file, ctx)
        .map_err(|err| release_rejected(err, refused))?;
    let seq = *summary
        .seqs
        .first()
        .expect("a two-command append reports the seq of each command");
    Ok(Release {
        month,
        due: held.due,
        findings: held.findings,
        seq,
        head: summary.head,
        payment_file: payment_file.to_owned(),
    })
}

/// The household's hold in a planned run, or why it has none.
fn held_in(run: &AllowanceRun, household: &str) -> Result<Held, String> {
    if let Some(held) = run
        .held
        .iter()
        .find(|h| h.due.household.as_str() == household)
    {
        return Ok(held.clone());
    }
    if let Some((_, seq)) = run.already.iter().find(|(h, _)| h.as_str() == household) {
        return Err(format!(
            "already paid for the month (seq {seq}); a paid month is not held"
        ));
    }
    if let Some((_, reference)) = run
        .paid_otherwise
        .iter()
        .find(|(h, _)| h.as_str() == household)
    {
        return Err(format!(
            "already has a support allowance payment dated in the month ({reference}); it \
             is not paid again, so there is nothing to release"
        ));
    }
    if run.paid.iter().any(|d| d.household.as_str() == household) {
        return Err(format!(
            "not held: no open {} finding names it; `fundtrail run allowance --month {}` \
             pays it",
            GATE_RULES.map(Rule::as_str).join(" or "),
            run.month
        ));
    }
    Err("not due in the month (enrolled after it, or no person eligible in it)".into())
}

/// The ledger's refusal of a release, as the release's own error: field and reason.
fn release_rejected(err: BatchError, refused: impl Fn(String) -> BatchError) -> BatchError {
    let BatchError::Ledger(LedgerError::Rejected { rejections, .. }) = err else {
        return err;
    };
    let reasons: Vec<String> = rejections
        .into_iter()
        .map(|r| format!("{}: {}", r.field, r.reason))
        .collect();
    refused(reasons.join("; "))
}

/// The UTC day of a time in microseconds since the epoch.
fn day_of(now_us: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_micros(now_us)
        .expect("an append context's time is the clock's, well within chrono's years")
        .date_naive()
}

/// Households enrolled by the month's end whose recorded persons include none eligible in
/// it (all dead, gone, under 49, or the household ended).
fn none_eligible(ledger: &Ledger, month: Month) -> Result<Vec<HouseholdId>, BatchError> {
    let people = ledger.people();
    Ok(ledger
        .enrolled()?
        .values()
        .map(|info| &info.enrollment)
        .filter(|e| e.enrolled_on <= month.last_day() && people.has_persons(e.household.as_str()))
        .filter(|e| {
            people
                .eligible(e.household.as_str(), month)
                .counted
                .is_empty()
        })
        .map(|e| e.household.clone())
        .collect())
}

/// The temporary name of a file being written: `path` with [`PARTIAL_SUFFIX`].
pub fn partial_path(path: &Path) -> PathBuf {
    let mut partial = path.as_os_str().to_owned();
    partial.push(PARTIAL_SUFFIX);
    PathBuf::from(partial)
}

/// Moves the households that have a live support allowance payment dated in the run's
/// month under another reference from `paid` to `paid_otherwise`. Reads the whole log,
/// so only when there is someone to pay.
fn set_aside_paid_otherwise(ledger: &Ledger, run: &mut AllowanceRun) -> Result<(), BatchError> {
    if run.paid.is_empty() {
        return Ok(());
    }
    let month = run.month;
    let mut otherwise =
        live_allowance_payments(ledger.view(), None, |day| month.contains_days(day))?;
    for due in std::mem::take(&mut run.paid) {
        let payment = otherwise
            .remove(due.household.as_str())
            .and_then(|paid| paid.into_iter().next());
        match payment {
            Some(payment) => run.paid_otherwise.push((due.household, payment.reference)),
            None => run.paid.push(due),
        }
    }
    Ok(())
}

/// Writes the payment file under a temporary name, durably, refusing to replace a file.
fn write_partial_payment_file(
    path: &Path,
    paid: &[AllowanceDue],
    month: Month,
) -> Result<PathBuf, BatchError> {
    if path.exists() {
        return Err(BatchError::OutputExists(path.to_owned()));
    }
    let partial = partial_path(path);
    let file = match File::options().write(true).create_new(true).open(&partial) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BatchError::PartialExists(partial))
        }
        Err(e) => return Err(io_error(&partial)(e)),
    };
    let mut csv = csv::Writer::from_writer(file);
    let written: Result<(), csv::Error> = (|| {
        csv.write_record(PAYMENT_FILE_COLUMNS)?;
        for due in paid {
            csv.write_record([
                due.reference.as_str(),
                due.household.as_str(),
                &due.amount.to_string(),
                &allowance_memo(due, month),
            ])?;
        }
        Ok(())
    })();
    let file = written
        .map_err(std::io::Error::other)
        .and_then(|()| csv.into_inner().map_err(|e| e.into_error()))
        .and_then(|mut file| file.flush().and_then(|()| file.sync_all()))
        .map_err(io_error(&partial));
    if let Err(err) = file {
        let _ = fs::remove_file(&partial);
        return Err(err);
    }
    Ok(partial)
}

/// Gives the payment file its name once its disbursements are committed, durably. A hard
/// link, not a rename: it fails if a file of that name appeared since the check, instead
/// of replacing it. Where the file system has no hard links (FAT, some network shares),
/// a rename after a last check.
fn publish(partial: &Path, path: &Path) -> std::io::Result<()> {
    publish_with(partial, path, |from, to| fs::hard_link(from, to))
}

/// [`publish`], with the link operation given, so that a file system without links can
/// be stood in for.
fn publish_with(
    partial: &Path,
    path: &Path,
    link: impl FnOnce(&Path, &Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match link(partial, path) {
        // Published; a temporary name left behind is harmless, and the next run that
        // would reuse it says so.
        Ok(()) => {
            let _ = fs::remove_file(partial);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(e),
        Err(_) if path.exists() => return Err(std::io::ErrorKind::AlreadyExists.into()),
        Err(_) => fs::rename(partial, path)?,
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all())
}

/// Names the household of each rejected row (rows are the run's disbursements in order).
fn run_rejected(err: BatchError, paid: &[AllowanceDue]) -> BatchError {
    let BatchError::Ledger(LedgerError::Rejected { rejections, total }) = err else {
        return err;
    };
    let rejections = rejections
        .into_iter()
        .filter_map(|r| {
            let index = usize::try_from(r.line).ok()?.checked_sub(1)?;
            let due = paid.get(index)?;
            Some((due.household.clone(), r.field, r.reason))
        })
        .collect();
    BatchError::RunRejected { rejections, total }
}

/// A household's support allowance entitlement through `through` against its live
/// payments. Reads the whole log once.
pub fn entitlement(
    ledger: &Ledger,
    household: &str,
    through: Month,
) -> Result<Entitlement, BatchError> {
    let paid = live_allowance_payments(ledger.view(), Some(household), |_| true)?;
    let table = RateTable::new(ledger.view().rates()?);
    entitlement_of(ledger, household, &paid, &table, through)
}

/// The entitlements of many households, in their order: one read of the whole log and of
/// the rates for all of them, where [`entitlement`] reads both once per household (a death
/// register touches tens of thousands of households).
pub fn entitlements(
    ledger: &Ledger,
    households: &[String],
    through: Month,
) -> Result<Vec<Entitlement>, BatchError> {
    let paid = live_allowance_payments(ledger.view(), None, |_| true)?;
    let table = RateTable::new(ledger.view().rates()?);
    households
        .iter()
        .map(|household| entitlement_of(ledger, household, &paid, &table, through))
        .collect()
}

/// One household's entitlement, its payments looked up in `paid` (by household).
fn entitlement_of(
    ledger: &Ledger,
    household: &str,
    paid: &HashMap<String, Vec<LivePayment>>,
    table: &RateTable,
    through: Month,
) -> Result<Entitlement, BatchError> {
    let info = ledger
        .enrolled()?
        .get(household)
        .ok_or_else(|| BatchError::UnknownHousehold(household.to_owned()))?;
    let paid: Vec<(i32, i64)> = paid
        .get(household)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|p| (p.day, p.fen))
        .collect();
    Ok(crate::model::rates::entitlement(
        &info.enrollment,
        ledger.people(),
        table,
        &paid,
        through,
    )?)
}

/// The entitlement for a household's balance: `None` when no support allowance rate was
/// ever recorded for its category (then "due" would mean nothing, not zero). Reads only the
/// household's own enrollment and events, and the rates.
pub fn household_entitlement(
    ledger: &Ledger,
    household: &str,
    through: Month,
) -> Result<Option<Entitlement>, BatchError> {
    let events = HouseholdEvents::read(ledger, household)?;
    household_entitlement_of(ledger.view(), &events, through)
}

/// As [`household_entitlement`], of a household's events already read.
pub fn household_entitlement_of(
    view: &LedgerView,
    events: &HouseholdEvents,
    through: Month,
) -> Result<Option<Entitlement>, BatchError> {
    let enrollment = &events.info().enrollment;
    let category = crate::model::encoding::category_code(enrollment.category);
    let rates = view.rates()?;
    let rated = rates
        .iter()
        .any(|r| r.program == ALLOWANCE_PROGRAM && r.category == category);
    if !rated {
        return Ok(None);
    }
    let household = enrollment.household.as_str();
    let mut live = LivePayments::default();
    for (_, _, record) in events.records() {
        live.fold(record, Some(household), &|_| true);
    }
    let paid: Vec<(i32, i64)> = live
        .by_household()
        .remove(household)
        .unwrap_or_default()
        .iter()
        .map(|p| (p.day, p.fen))
        .collect();
    let table = RateTable::new(rates);
    Ok(Some(crate::model::rates::entitlement(
        enrollment,
        events.people(),
        &table,
        &paid,
        through,
    )?))
}

/// A support allowance payment that was not reversed.
struct LivePayment {
    reference: String,
    /// The value date, as days since 1970-01-01.
    day: i32,
    fen: i64,
}

/// The live support allowance payments of one household (or of all) whose value date
/// (days since 1970-01-01) passes `dated`, by household, in reference order. Reads the
/// whole log once, or one household's events through its trail index.
fn live_allowance_payments(
    ledger: &LedgerView,
    household: Option<&str>,
    dated: impl Fn(i32) -> bool,
) -> Result<HashMap<String, Vec<LivePayment>>, BatchError> {
    let mut live = LivePayments::default();
    match household {
        // One household's events come through its trail index, not a scan of the log.
        Some(household) => {
            for (_, _, record) in ledger.household_records(household)? {
                live.fold(&record, Some(household), &dated);
            }
        }
        None => {
            for item in ledger.records(Seq::FIRST, Seq::new(u64::MAX)) {
                let (_, _, record) = item?;
                live.fold(&record, None, &dated);
            }
        }
    }
    Ok(live.by_household())
}

/// Live support allowance payments by reference, so that a reversal finds its target:
/// the household, value date and amount of each.
#[derive(Default)]
struct LivePayments(BTreeMap<String, (String, i32, i64)>);

impl LivePayments {
    /// Folds one record, in seq order: a support allowance payment of `household` (of any
    /// household when `None`) dated as `dated` asks is live until a reversal names it.
    fn fold(&mut self, record: &RecordV1, household: Option<&str>, dated: &impl Fn(i32) -> bool) {
        let Some(of) = record.body.household() else {
            return;
        };
        if household.is_some_and(|h| h != of) || record.body.program() != Some(ALLOWANCE_PROGRAM) {
            return;
        }
        match &record.body {
            Body::Reversal(r) => {
                self.0.remove(&r.target_reference);
            }
            body => {
                if let Some((_, p)) = body.payment().filter(|(_, p)| dated(p.value_date)) {
                    self.0.insert(
                        record.reference.clone(),
                        (of.to_owned(), p.value_date, p.amount_fen),
                    );
                }
            }
        }
    }

    /// The live payments grouped by household, each household's in reference order.
    fn by_household(self) -> HashMap<String, Vec<LivePayment>> {
        let mut by_household: HashMap<String, Vec<LivePayment>> = HashMap::new();
        for (reference, (of, day, fen)) in self.0 {
            by_household.entry(of).or_default().push(LivePayment {
                reference,
                day,
                fen,
            });
        }
        by_household
    }
}

/// A reconciliation run and where the ledger recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub report: Report,
    /// blake3 of the statement file's bytes.
    pub statement_hash: [u8; 32],
    /// How the payment index was brought up to date.
    pub index: IndexUse,
    /// The reconciliation event: its reference and seq, and whether this run appended it
    /// (an identical earlier run already recorded the same findings).
    pub reference: Reference,
    pub seq: Seq,
    pub appended: bool,
}

/// Whether to trust the cached payment index (after checking it) or read every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexMode {
    Cached,
    Rebuild,
}

/// How the payment index was brought up to date with the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexUse {
    /// The cached index already covered every event.
    UpToDate { size: u64 },
    /// The cached index was read and the events after it folded in.
    CaughtUp { from: u64, events: u64 },
    /// Every event was read: there was no usable index, or a rebuild was asked for.
    Rebuilt { events: u64, reason: String },
}

/// Reconciles a statement file against the ledger, records the run as an event and signs
/// a checkpoint of the new head. A statement with a bad row is refused whole, and then
/// nothing is recorded.
pub fn reconcile_file(
    ledger: &mut Ledger,
    path: &Path,
    period: Option<Month>,
    mode: IndexMode,
    ctx: &AppendContext,
) -> Result<Reconciliation, BatchError> {
    let bytes = read_statement(path)?;
    let statement_hash = *blake3::hash(&bytes).as_bytes();
    let (report, index) = reconcile_bytes(ledger.view(), &bytes, period, mode)?;
    let summary = report.summary(statement_hash);
    let command = Command::RecordReconciliation(summary);
    let reference = command.reference();
    let appended = ledger.append(vec![command], ctx)?;
    ledger.sign_after(appended.appended)?;
    let seq = *appended
        .seqs
        .first()
        .expect("a one-command append reports the seq of its command");
    Ok(Reconciliation {
        report,
        statement_hash,
        index,
        reference,
        seq,
        appended: appended.appended > 0,
    })
}

fn read_statement(path: &Path) -> Result<Vec<u8>, BatchError> {
    let bytes = fs::metadata(path).map_err(io_error(path))?.len();
    if bytes > MAX_STATEMENT_BYTES {
        return Err(BatchError::StatementTooLarge {
            path: path.to_owned(),
            bytes,
        });
    }
    fs::read(path).map_err(io_error(path))
}

/// Parses the statement on one thread while the other brings the payment index up to
/// date, then matches them. Appends nothing to the log, and saves the index only once the
/// statement parsed: a refused statement leaves the ledger directory as it was.
pub fn reconcile_bytes(
    ledger: &LedgerView,
    statement: &[u8],
    period: Option<Month>,
    mode: IndexMode,
) -> Result<(Report, IndexUse), BatchError> {
    let (rows, table) = std::thread::scope(|scope| {
        let parser = scope.spawn(|| parse_statement(statement));
        let table = updated_payment_table(ledger, mode);
        let rows = parser
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (rows, table)
    });
    let rows = rows?;
    let (table, index, save) = table?;
    save_payment_table(ledger, &table, save)?;
    Ok((reconcile(&table, &rows, period), index))
}

/// The payment index, up to date with the log: the cached one if it belongs to this
/// ledger's chain, plus the events after it; saved again when that added anything.
pub fn payment_table(
    ledger: &LedgerView,
    mode: IndexMode,
) -> Result<(PaymentTable, IndexUse), BatchError> {
    let (table, used, save) = updated_payment_table(ledger, mode)?;
    save_payment_table(ledger, &table, save)?;
    Ok((table, used))
}

/// Writes the index under `mark`, when there is one to save.
fn save_payment_table(
    ledger: &LedgerView,
    table: &PaymentTable,
    mark: Option<Watermark>,
) -> Result<(), BatchError> {
    match mark {
        Some(mark) => {
            let sealed = ledger
                .sealing_key()?
                .wrap(INDEX_SEAL_LABEL, table.encode(mark));
            save_index(&ledger.dir().join(INDEX_FILE_NAME), &sealed)
        }
        None => Ok(()),
    }
}

/// As [`payment_table`], without saving: also the watermark to save it under, when
/// bringing it up to date changed it.
fn updated_payment_table(
    ledger: &LedgerView,
    mode: IndexMode,
) -> Result<(PaymentTable, IndexUse, Option<Watermark>), BatchError> {
    let path = ledger.dir().join(INDEX_FILE_NAME);
    let cached = match mode {
        IndexMode::Cached => load_index(ledger, &path)?,
        IndexMode::Rebuild => Err("a rebuild was asked for".to_string()),
    };
    let (mark, table, rebuilt) = match cached {
        Ok((mark, table)) => (mark, table, None),
        Err(reason) => (Watermark::GENESIS, PaymentTable::default(), Some(reason)),
    };
    let fold = fold_events(ledger, Seq::new(mark.size + 1))?;
    let events = fold.events();
    let head = ledger.head();
    let table = table
        .with(fold)
        .map_err(|e| LedgerError::Corrupt(e.to_string()))?;
    let save = (events > 0 || rebuilt.is_some()).then_some(Watermark {
        size: head.size,
        hash: head.hash,
    });
    let used = match rebuilt {
        Some(reason) => IndexUse::Rebuilt { events, reason },
        None if events == 0 => IndexUse::UpToDate { size: mark.size },
        None => IndexUse::CaughtUp {
            from: mark.size,
            events,
        },
    };
    Ok((table, used, save))
}

/// The cached index if it is readable and was built from a prefix of this chain; the
/// reason to rebuild otherwise.
fn load_index(
    ledger: &LedgerView,
    path: &Path,
) -> Result<Result<(Watermark, PaymentTable), String>, BatchError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err("there was no index yet".into()))
        }
        Err(e) => return Err(io_error(path)(e)),
    };
    // Sealed under the state key: anyone can recompute the file's own checksum, so only
    // the seal shows that the ledger wrote it (FORMAT.md §5.6).
    let Ok(bytes) = ledger.sealing_key()?.unwrap(INDEX_SEAL_LABEL, &bytes) else {
        return Ok(Err(
            "the index's seal does not hold (it was changed without the ledger's key)".into(),
        ));
    };
    let (mark, table) = match PaymentTable::decode(bytes) {
        Ok(decoded) => decoded,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let head = ledger.head();
    let on_chain = match mark.size {
        0 => mark.hash == EventHash::GENESIS,
        size if size > head.size => false,
        size => ledger.stored(Seq::new(size))?.hash == mark.hash,
    };
    if !on_chain {
        return Ok(Err(format!(
            "the index (seq {} {}) is not a prefix of this ledger's chain",
            mark.size, mark.hash
        )));
    }
    Ok(Ok((mark, table)))
}

/// The seal label of the payment index file.
const INDEX_SEAL_LABEL: &str = "payments.idx";

/// The payments and reversals of the events from `from` on.
fn fold_events(ledger: &LedgerView, from: Seq) -> Result<Fold, BatchError> {
    let mut fold = Fold::default();
    if from.get() > ledger.head().size {
        return Ok(fold);
    }
    for item in ledger.records(from, Seq::new(u64::MAX)) {
        let (_, _, record) = item?;
        fold.event();
        match record.body {
            Body::Reversal(r) => fold.reversal(r.target_reference),
            body => {
                if let Some((_, p)) = body.payment() {
                    fold.payment(NewPayment {
                        reference: record.reference,
                        amount_fen: p.amount_fen,
                        value_date: p.value_date,
                    });
                }
            }
        }
    }
    Ok(fold)
}

/// Replaces the cached index whole (a temporary file renamed over it). Not fsync'ed: it is
/// a cache, and a torn or lost one is detected by its checksum or watermark and rebuilt.
fn save_index(path: &Path, bytes: &[u8]) -> Result<(), BatchError> {
    let partial = partial_path(path);
    fs::write(&partial, bytes).map_err(io_error(&partial))?;
    fs::rename(&partial, path).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that appeared under the payment file's name after the run checked is kept:
    /// publishing fails instead of replacing it, and the committed run's file stays under
    /// its temporary name.
    #[test]
    fn publishing_never_replaces_a_file() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let partial = dir.path().join("pay.csv.partial");
        let path = dir.path().join("pay.csv");
        fs::write(&partial, "ours").expect("write the partial file");
        fs::write(&path, "theirs").expect("write the other file");
        let err = publish(&partial, &path).expect_err("the name is taken");
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&path).expect("read"), "theirs");
        assert_eq!(fs::read_to_string(&partial).expect("read"), "ours");

        fs::remove_file(&path).expect("remove the other file");
        publish(&partial, &path).expect("the name is free");
        assert_eq!(fs::read_to_string(&path).expect("read"), "ours");
        assert!(!partial.exists());
    }

    /// Without hard links (FAT, some shares) the file is renamed into place after a last
    /// check, which still refuses a taken name.
    #[test]
    fn without_hard_links_publishing_renames_but_never_replaces() {
        let unsupported = |_: &Path, _: &Path| Err(std::io::ErrorKind::Unsupported.into());
        let dir = tempfile::tempdir().expect("a temp dir");
        let partial = dir.path().join("pay.csv.partial");
        let path = dir.path().join("pay.csv");
        fs::write(&partial, "ours").expect("write the partial file");
        fs::write(&path, "theirs").expect("write the other file");
        let err = publish_with(&partial, &path, unsupported).expect_err("the name is taken");
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&path).expect("read"), "theirs");

        fs::remove_file(&path).expect("remove the other file");
        publish_with(&partial, &path, unsupported).expect("renamed");
        assert_eq!(fs::read_to_string(&path).expect("read"), "ours");
        assert!(!partial.exists());
    }

    /// An earlier run's unpublished file may be the only list of what it paid: a new run
    /// of that name refuses to start writing over it.
    #[test]
    fn an_earlier_partial_payment_file_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("pay.csv");
        let partial = partial_path(&path);
        fs::write(&partial, "earlier run").expect("write the partial file");
        let month = Month::parse("2018-07").expect("a month");
        match write_partial_payment_file(&path, &[], month) {
            Err(BatchError::PartialExists(named)) => assert_eq!(named, partial),
            other => panic!("expected PartialExists, got {other:?}"),
        }
        assert_eq!(fs::read_to_string(&partial).expect("read"), "earlier run");
        assert!(!path.exists());
    }
}
