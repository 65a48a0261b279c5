//! The command line: argument parsing (the only module that knows clap), output, and the
//! mapping of errors to exit codes. Everything it does goes through the library's API.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use crate::domain::Seq;
use crate::import::{CsvFile, ImportKind};
use crate::ledger::{AppendContext, Ledger, LedgerError, RowRejection};
use crate::store::StoreError;
use crate::view::{date_text, event_json, Align, Table};

/// Exit codes (README, "Exit codes").
pub mod exit {
    pub const OK: u8 = 0;
    pub const VERIFY_FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const UNAVAILABLE: u8 = 3;
}

/// Events `log` shows when no `--limit` is given.
pub const DEFAULT_LOG_LIMIT: usize = 20;

#[derive(Debug, Parser)]
#[command(
    name = "fundtrail",
    version,
    about = "A tamper-evident audit ledger for special-family subsidy funds",
    long_about = "fundtrail records every fund flow of the special-family support scheme \
(allocations, allowances, condolence payments, insurance, in-kind benefits, reversals) as an \
event in an append-only, hash-chained log, and lets auditors verify it.\n\n\
Start with `fundtrail init`, import households and events from CSV, and check the ledger \
with `fundtrail verify`.",
    after_help = "Exit codes: 0 ok, 1 verification failed, 2 bad input or usage, 3 ledger unavailable."
)]
pub struct Cli {
    /// The ledger directory.
    #[arg(
        long,
        global = true,
        env = "FUNDTRAIL_LEDGER",
        default_value = "./fundtrail-ledger"
    )]
    pub ledger: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is recording (stored in every event appended); defaults to $USER.
    #[arg(long, global = true, env = "FUNDTRAIL_ACTOR")]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty ledger.
    Init,
    /// Append a CSV batch: every row, or none if any row is invalid.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Show recent events, oldest first, optionally filtered.
    Log(LogArgs),
    /// Recompute the whole hash chain and compare it with the stored head.
    Verify,
    /// Event count, households, head seq and hash, size on disk.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Households: household_id,subdistrict,community,category,members,enrolled_on
    Households {
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
    },
    /// Events: date,type,household_id,program,amount,persons,reference,memo
    Events {
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only events of this household.
    #[arg(long)]
    pub household: Option<String>,
    /// Only events of this program code.
    #[arg(long)]
    pub program: Option<String>,
    /// Only events of this type (e.g. disbursement, reversal).
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// How many of the most recent matching events to show.
    #[arg(long, default_value_t = DEFAULT_LOG_LIMIT)]
    pub limit: usize,
}

/// A failure to report: the exit code and what to print.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub json: Value,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Failure {
        let message = message.into();
        let json = json!({ "error": message });
        Failure {
            code,
            message,
            json,
        }
    }
}

/// What a command produced: the text or JSON to print, and the exit code.
pub struct Output {
    pub code: u8,
    pub text: String,
    pub json: Value,
}

impl Output {
    fn ok(text: String, json: Value) -> Output {
        Output {
            code: exit::OK,
            text,
            json,
        }
    }
}

pub fn run(cli: &Cli) -> Result<Output, Failure> {
    match &cli.command {
        Command::Init => init(cli),
        Command::Import(what) => import(cli, what),
        Command::Log(args) => log(cli, args),
        Command::Verify => verify(cli),
        Command::Status => status(cli),
    }
}

pub fn open(cli: &Cli) -> Result<Ledger, Failure> {
    Ledger::open(&cli.ledger).map_err(|e| failure(e, None))
}

/// Maps a ledger error to its exit code and message; `file` names the input for rejections.
pub fn failure(err: LedgerError, file: Option<&Path>) -> Failure {
    match err {
        LedgerError::Rejected { rejections, total } => rejected(&rejections, total, file),
        LedgerError::Store(StoreError::AlreadyExists(_)) | LedgerError::Source(_) => {
            Failure::new(exit::BAD_INPUT, err.to_string())
        }
        LedgerError::Store(StoreError::Corrupt(_)) | LedgerError::Corrupt(_) => Failure::new(
            exit::VERIFY_FAILED,
            format!("{err} (run `fundtrail verify` for the first broken seq)"),
        ),
        LedgerError::Store(_) => Failure::new(exit::UNAVAILABLE, err.to_string()),
    }
}

fn rejected(rejections: &[RowRejection], total: usize, file: Option<&Path>) -> Failure {
    let name = file.map_or_else(|| "input".to_string(), |f| f.display().to_string());
    let mut lines: Vec<String> = rejections
        .iter()
        .map(|r| format!("{name}:{}: {}: {}", r.line, r.field, r.reason))
        .collect();
    if total > rejections.len() {
        lines.push(format!("... and {} more", total - rejections.len()));
    }
    lines.push(format!("{total} row(s) rejected; the ledger is unchanged"));
    let json = json!({
        "error": "rejected",
        "file": name,
        "total": total,
        "rejections": rejections.iter().map(|r| json!({
            "line": r.line, "field": r.field, "reason": r.reason
        })).collect::<Vec<_>>(),
    });
    Failure {
        code: exit::BAD_INPUT,
        message: lines.join("\n"),
        json,
    }
}

fn init(cli: &Cli) -> Result<Output, Failure> {
    let ledger = Ledger::init(&cli.ledger).map_err(|e| failure(e, None))?;
    let dir = ledger.dir().display().to_string();
    Ok(Output::ok(
        format!("created an empty ledger in {dir}\n"),
        json!({ "ledger": dir }),
    ))
}

pub fn actor(cli: &Cli) -> Result<String, Failure> {
    let name = cli
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    crate::domain::check_text(name.trim(), true)
        .map(|n| n.to_owned())
        .map_err(|e| {
            Failure::new(
                exit::BAD_INPUT,
                format!("say who records with --actor NAME or FUNDTRAIL_ACTOR: the name {e}"),
            )
        })
}

fn import(cli: &Cli, what: &ImportCommand) -> Result<Output, Failure> {
    let (file, kind) = match what {
        ImportCommand::Households { file } => (file, ImportKind::Households),
        ImportCommand::Events { file } => (file, ImportKind::Events),
    };
    let ctx = AppendContext::now(actor(cli)?);
    let size = std::fs::metadata(file)
        .map_err(|e| Failure::new(exit::BAD_INPUT, format!("{}: {e}", file.display())))?
        .len();
    let mut ledger = open(cli)?;
    let bar = progress_bar(cli, size);
    let mut source = CsvFile::new(file, kind);
    if let Some(bar) = bar.clone() {
        source = source.with_progress(Box::new(move |pos| bar.set_position(pos)));
    }
    let result = ledger.append_rows(&mut source, &ctx);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = result.map_err(|e| failure(e, Some(file)))?;
    let name = file.display().to_string();
    let text = if summary.appended == 0 {
        format!(
            "{name}: nothing to append: all {} row(s) are already in the ledger\n",
            summary.duplicates
        )
    } else {
        format!(
            "{name}: appended {} event(s), {} already present; head is seq {} {}\n",
            summary.appended, summary.duplicates, summary.head.size, summary.head.hash
        )
    };
    let json = json!({
        "file": name,
        "appended": summary.appended,
        "duplicates": summary.duplicates,
        "head": { "size": summary.head.size, "hash": summary.head.hash.to_hex() },
    });
    Ok(Output::ok(text, json))
}

/// A byte-based progress bar on a terminal; none when output is piped or JSON.
fn progress_bar(cli: &Cli, total: u64) -> Option<indicatif::ProgressBar> {
    if cli.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style =
        indicatif::ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {wide_bar} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

fn log(cli: &Cli, args: &LogArgs) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let mut matched = Vec::new();
    for item in ledger.records(Seq::FIRST, Seq(u64::MAX)).rev() {
        let (seq, hash, record) = item.map_err(|e| failure(e, None))?;
        let body = &record.body;
        let keep = args
            .household
            .as_deref()
            .is_none_or(|h| body.household() == Some(h))
            && args
                .program
                .as_deref()
                .is_none_or(|p| body.program() == Some(p))
            && args
                .event_type
                .as_deref()
                .is_none_or(|t| body.type_name() == t);
        if keep {
            matched.push((seq, hash, record));
            if matched.len() >= args.limit {
                break;
            }
        }
    }
    matched.reverse();
    let mut table = Table::new(&[
        ("seq", Align::Right),
        ("date", Align::Left),
        ("type", Align::Left),
        ("household", Align::Left),
        ("program", Align::Left),
        ("amount", Align::Right),
        ("reference", Align::Left),
        ("actor", Align::Left),
    ]);
    for (seq, _, record) in &matched {
        let body = &record.body;
        table.row(vec![
            seq.to_string(),
            date_text(body.value_date()),
            body.type_name().to_string(),
            body.household().unwrap_or("").to_string(),
            body.program().unwrap_or("").to_string(),
            crate::view::signed_amount(body).map_or(String::new(), |m| m.to_string()),
            record.reference.clone(),
            record.actor.clone(),
        ]);
    }
    let json: Vec<Value> = matched
        .iter()
        .map(|(s, h, r)| event_json(*s, h, r))
        .collect();
    let text = if table.is_empty() {
        "no matching events\n".to_string()
    } else {
        table.render()
    };
    Ok(Output::ok(text, Value::Array(json)))
}

fn verify(cli: &Cli) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let report = ledger.verify(|_| {}).map_err(|e| failure(e, None))?;
    match &report.fault {
        None => Ok(Output::ok(
            format!(
                "ok: {} events verified; head seq {} {}\n",
                report.checked, report.head.size, report.head.hash
            ),
            json!({ "ok": true, "events": report.checked, "head": head_json(&report.head) }),
        )),
        Some(fault) => Ok(Output {
            code: exit::VERIFY_FAILED,
            text: format!("FAILED at seq {}: {fault}\n", fault.seq()),
            json: json!({
                "ok": false,
                "first_bad_seq": fault.seq().0,
                "reason": fault.to_string(),
                "checked": report.checked,
            }),
        }),
    }
}

fn head_json(head: &crate::ledger::Head) -> Value {
    json!({ "seq": head.size, "hash": head.hash.to_hex() })
}

fn status(cli: &Cli) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let head = ledger.head();
    let households = ledger.households().len();
    let bytes = ledger.size_on_disk().map_err(|e| failure(e, None))?;
    let text = format!(
        "ledger:     {}\nevents:     {}\nhouseholds: {}\nhead:       seq {} {}\non disk:    {} bytes\n",
        ledger.dir().display(),
        head.size,
        households,
        head.size,
        head.hash,
        bytes
    );
    let json = json!({
        "ledger": ledger.dir().display().to_string(),
        "events": head.size,
        "households": households,
        "head": head_json(&head),
        "size_on_disk": bytes,
    });
    Ok(Output::ok(text, json))
}
