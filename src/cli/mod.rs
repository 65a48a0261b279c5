//! The command line: argument parsing (the only module that knows clap), output, and the
//! mapping of errors to exit codes. Everything it does goes through the library's API.

use std::path::{Path, PathBuf};

mod account;
mod audit;
mod audit_reconcile;
mod demo;
mod evidence;
mod findings;
mod findings_table;
mod people;
pub mod read;
mod receipt;
pub mod reconcile;
mod record;
mod roster;
pub mod run;
mod serve;
mod simulate;
mod token;
mod witness;

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use crate::ledger::{ErrorKind, Ledger, LedgerError, RowRejection};

/// Exit codes (README, "Exit codes").
pub mod exit {
    pub const OK: u8 = 0;
    pub const VERIFY_FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const UNAVAILABLE: u8 = 3;
}

pub use crate::ledger::DEFAULT_LOG_LIMIT;

#[derive(Debug, Parser)]
#[command(
    name = "fundtrail",
    version,
    about = "A tamper-evident audit ledger for special-family subsidy funds",
    long_about = "fundtrail records every fund flow of the special-family support scheme \
(allocations, allowances, condolence payments, insurance, in-kind benefits, reversals) as an \
event in an append-only, hash-chained log, and lets auditors verify it.\n\n\
Start with `fundtrail init`, import households and events from CSV, and check the ledger \
with `fundtrail verify`. Auditors check exports and proofs without the ledger with \
`fundtrail audit`.",
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
    /// Whether `--ledger` was on the command line (not from the environment or the
    /// default): set by [`Cli::from_args`].
    #[arg(skip)]
    pub ledger_given: bool,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is recording (stored in every event appended); defaults to $USER, then to the
    /// operating system's name for the effective user.
    #[arg(long, global = true, env = "FUNDTRAIL_ACTOR")]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process's arguments (exiting with usage on error, as clap does), noting
    /// whether `--ledger` was given on the command line.
    pub fn from_args() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches)
            .unwrap_or_else(|e| e.format(&mut Cli::command()).exit());
        cli.ledger_given =
            matches.value_source("ledger") == Some(clap::parser::ValueSource::CommandLine);
        // clap sees the conflict only when --json comes after the subcommand's --csv.
        if cli.json && cli.command.wants_csv() {
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--csv and --json cannot be used together: choose one output format",
                )
                .exit();
        }
        cli
    }
}

impl Command {
    /// Whether the command was asked for CSV output.
    fn wants_csv(&self) -> bool {
        match self {
            Command::Totals(args) => args.report.csv,
            Command::Household(args) => args.report.csv,
            Command::Funds(report) => report.csv,
            Command::Reconcile(args) => args.csv,
            Command::Roster(args) => args.report.csv,
            Command::Findings(args) => args.report.csv,
            _ => false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a demo ledger from the bundled Panlong data set, verify it, print a report.
    ///
    /// The demo builds its own ledger in DIR and never uses `--ledger` or
    /// FUNDTRAIL_LEDGER, so a real ledger is never written to. Its events are recorded by
    /// the actor `demo`. Explore it afterwards with `--ledger DIR`, e.g.
    /// `fundtrail --ledger ./fundtrail-demo totals --by program`.
    Demo {
        /// Where to build it (re-running there is harmless).
        #[arg(default_value = "./fundtrail-demo")]
        dir: PathBuf,
    },
    /// Write a synthetic district with planted fraud cases, and a near miss of each, as
    /// import files, with planted.json listing what each findings rule must find.
    ///
    /// It writes no ledger: import the files into a fresh one in the order households,
    /// rates, persons, events, changes, deaths (README, "The fraud simulator"), or let
    /// `simulate --check DIR LEDGER` do it and compare the findings with planted.json
    /// (exit 0 when every planted case is found and nothing else, 1 otherwise).
    Simulate(simulate::SimulateArgs),
    /// Create a new, empty ledger and its Ed25519 signing key (kept with mode 0600).
    Init(InitArgs),
    /// Append a CSV batch: every row, or none if any row is invalid.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Show recent events, oldest first, optionally filtered.
    Log(LogArgs),
    /// Recompute the hash chain and the Merkle tree; compare them with the head, the
    /// stored tree and every signed checkpoint.
    Verify(VerifyArgs),
    /// Event count, households, head seq and hash, size on disk.
    Status,
    /// Remove what lies beyond the head (blocks, index entries, Merkle nodes) when the
    /// ledger refuses to write because of it.
    ///
    /// Only when the state's seal holds and the latest signed checkpoint is exactly the
    /// head: that checkpoint proves the committed log ended there when it was signed. Run
    /// `fundtrail verify` first to see what will be removed; events acknowledged after the
    /// latest checkpoint would be among them, so make sure none were (for a server, that
    /// it was stopped cleanly: it signs the head when it stops).
    DiscardBeyondHead,
    /// Bring a ledger of store layout 3, 4, 5 or 6 to this version's layout in place: builds
    /// the household trail index from the log (from layout 3), stores the event and
    /// reference blocks compressed (from layouts 3 and 4; layout 5's blocks are read as
    /// they are), removes the stored leaf tiles (the leaf hashes are recomputed from the
    /// event blocks), and changes nothing else (the events, checkpoints, seals and other
    /// indexes stay as they are). From layout 3 it needs the signing key.
    /// An interrupted upgrade is finished by running it again. A ledger already in this
    /// layout is left as it is.
    Upgrade,
    /// The rates table: every recorded rate and until when it is in effect.
    Rates,
    /// A person of the roll: show (masked, or in clear with a recorded reason) or erase
    /// their personal data.
    #[command(subcommand)]
    Person(people::PersonCommand),
    /// What the audit rules raise over the whole log: paid after death or exit, more than
    /// due, paid twice, one account for 3 or more households in a year, amounts far above
    /// their peers. Newest first.
    Findings(findings::FindingsArgs),
    /// The monthly batch runs.
    #[command(subcommand)]
    Run(run::RunCommand),
    /// A household's support allowance: entitlement month by month against what was paid.
    Entitlement(run::EntitlementArgs),
    /// Match a bank statement against the ledger's payments; record what was found.
    /// Exit 0 when clean, 1 when there are differences, 2 on a bad statement.
    Reconcile(reconcile::ReconcileArgs),
    /// Totals by any of sub-district, community, program, year and month.
    Totals(read::TotalsArgs),
    /// One household's balances per program and its trail of events.
    Household(read::HouseholdArgs),
    /// Per program: allocated, disbursed by live payments, remaining.
    Funds(read::ReportArgs),
    /// The month's public roster (公示): every live payment dated in the month with its
    /// community, household, the masked names of the persons it counted, program and
    /// amount, and the month's total (the same as `totals --month`'s).
    ///
    /// The support allowance counts the household's persons eligible in the month; other
    /// programs the household's persons on the month's first day. Reversed payments count
    /// in no month.
    Roster(roster::RosterArgs),
    /// Recompute the read models from genesis and save them.
    Rebuild,
    /// Sign a checkpoint of the head (origin, size, Merkle root) and keep it in the ledger.
    Checkpoint,
    /// The ledger's public key.
    #[command(subcommand)]
    Key(evidence::KeyCommand),
    /// Print an inclusion proof (--seq) or a consistency proof (--from) against a signed
    /// checkpoint.
    Prove(evidence::ProveArgs),
    /// One payment's receipt for the beneficiary: its fields (masked) and the proof that it
    /// is in the signed log, which anyone checks with `audit verify-receipt`.
    Receipt(receipt::ReceiptArgs),
    /// Write an export bundle that an auditor verifies without the ledger.
    Export(evidence::ExportArgs),
    /// Offline verification of proofs, trails and exports: no ledger, only a public key.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Issue, list and revoke the HTTP API's bearer tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Serve the HTTP API and the supervisors' dashboard until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// A C2SP tlog-witness: cosign a log's checkpoints only when each extends the last one
    /// cosigned, so a log cannot show two histories (no ledger needed).
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The log's name in its checkpoints, e.g. `panlong.example.gov.cn/fundtrail` (no
    /// spaces or `+`); default `fundtrail.local/<directory name>`.
    #[arg(long)]
    pub origin: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also compare the log with a signed checkpoint you kept (repeatable).
    #[arg(long = "checkpoint", value_name = "FILE")]
    pub checkpoints: Vec<PathBuf>,
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
    /// Rates: program,category,per_member,valid_from,valid_to (empty valid_to: open)
    Rates {
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
    },
    /// Persons: person_id,household_id,id_number,name,role,birth_date,joined_on
    ///
    /// role is mother, father, child or other (also 母亲, 父亲, 子女, 其他). The identity
    /// number is checked (GB 11643: region, birth date, check character, and the sex digit
    /// against the role) and enters the log only as a keyed hash; the name and number go
    /// to the encrypted personal-data vault. An identity that is a current member of
    /// another household, or was recorded dead, is refused.
    Persons {
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
    },
    /// Life events: date,type,person_id,household_id,reference,memo
    ///
    /// type is person_died or person_left (person_id required; household_id empty or the
    /// person's), household_exited or eligibility_ended (household_id required, person_id
    /// empty). The reference names the source document and is unique in the ledger.
    Changes {
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
    },
    /// A death register: id_number,name,date_of_death,source_ref
    ///
    /// Matched against the roll by identity number: a matched person not yet recorded dead
    /// gets a person_died event (reference SOURCE:LINE); one recorded dead on another date
    /// is reported as a conflict and not changed; rows that match nobody are counted and
    /// never stored. Importing the same register again appends nothing. The report lists
    /// the households whose paid allowance now exceeds their due.
    Deaths {
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
        /// The register's name, e.g. police-2026-11 (letters, digits, '-', '_').
        #[arg(long)]
        source: String,
    },
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only events of this household.
    #[arg(long)]
    pub household: Option<String>,
    /// Only events of this program code (e.g. support_allowance).
    #[arg(long, value_parser = parse_program)]
    pub program: Option<String>,
    /// Only events of this type (e.g. disbursement, reversal).
    #[arg(long = "type", value_parser = parse_event_type)]
    pub event_type: Option<String>,
    /// How many of the most recent matching events to show.
    #[arg(long, default_value_t = DEFAULT_LOG_LIMIT)]
    pub limit: usize,
}

/// `--program`: a code of the catalog.
pub(super) fn parse_program(text: &str) -> Result<String, String> {
    crate::model::domain::ProgramCode::parse(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.0)
}

/// `--type`: an event type name.
fn parse_event_type(text: &str) -> Result<String, String> {
    crate::model::encoding::check_event_type(text).map(|()| text.to_owned())
}

/// A failure to report: the exit code and what to print.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub json: Value,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
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
    pub fn ok(text: String, json: Value) -> Output {
        Output {
            code: exit::OK,
            text,
            json,
        }
    }
}

pub fn run(cli: &Cli) -> Result<Output, Failure> {
    match &cli.command {
        Command::Demo { dir } => demo::run(cli, dir),
        Command::Simulate(args) => simulate::run(cli, args),
        Command::Init(args) => record::init(cli, args),
        Command::Import(what) => record::import(cli, what),
        Command::Log(args) => record::log(cli, args),
        Command::Verify(args) => record::verify(cli, args),
        Command::Status => record::status(cli),
        Command::Rates => run::rates(cli),
        Command::Run(what) => run::run(cli, what),
        Command::Findings(args) => findings::run(cli, args),
        Command::Person(what) => people::run(cli, what),
        Command::Entitlement(args) => run::entitlement(cli, args),
        Command::Reconcile(args) => reconcile::run(cli, args),
        Command::Totals(args) => read::totals(cli, args),
        Command::Household(args) => read::household(cli, args),
        Command::Funds(args) => read::funds(cli, args),
        Command::Roster(args) => roster::run(cli, args),
        Command::Rebuild => read::rebuild(cli),
        Command::Token(command) => token::run(cli, command),
        Command::Serve(args) => serve::run(cli, args),
        Command::Checkpoint => evidence::checkpoint(cli),
        Command::DiscardBeyondHead => record::discard_beyond_head(cli),
        Command::Upgrade => record::upgrade(cli),
        Command::Key(what) => evidence::key(cli, what),
        Command::Prove(args) => evidence::prove(cli, args),
        Command::Export(args) => evidence::export(cli, args),
        Command::Receipt(args) => receipt::run(cli, args),
        Command::Audit(what) => audit::run(what),
        Command::Witness(what) => witness::run(cli, what),
    }
}

pub fn open(cli: &Cli) -> Result<Ledger, Failure> {
    Ledger::open(&cli.ledger).map_err(|e| failure(e, None))
}

/// Opens the ledger to import a file of rows ([`Ledger::open_for_import`]).
pub fn open_for_import(cli: &Cli) -> Result<Ledger, Failure> {
    Ledger::open_for_import(&cli.ledger).map_err(|e| failure(e, None))
}

/// Opens the ledger for a query that reads only its own sealed records: the households
/// and the people registry are read back only if the query asks for them. The process
/// ends after the query, so sled's shutdown is left to its end.
pub fn open_for_queries(cli: &Cli) -> Result<Ledger, Failure> {
    let ledger = Ledger::open_for_queries(&cli.ledger).map_err(|e| failure(e, None))?;
    ledger.ending_process();
    Ok(ledger)
}

/// Maps a ledger error to its exit code and message; `file` names the input for rejections.
pub fn failure(err: LedgerError, file: Option<&Path>) -> Failure {
    if let LedgerError::Rejected { rejections, total } = &err {
        return rejected(rejections, *total, file);
    }
    if let LedgerError::Unsigned { appended, source } = err {
        // What was appended is durable: say so, with why the signature failed.
        let inner = failure(*source, file);
        let message = format!(
            "{appended} event(s) were appended and are durable, but no checkpoint was signed: {}",
            inner.message
        );
        return Failure {
            json: json!({ "error": message, "appended": appended }),
            message,
            ..inner
        };
    }
    match err.kind() {
        ErrorKind::BadInput | ErrorKind::AlreadyExists | ErrorKind::Rejected => {
            Failure::new(exit::BAD_INPUT, err.to_string())
        }
        ErrorKind::Corrupt => Failure::new(
            exit::VERIFY_FAILED,
            format!("{err} (run `fundtrail verify` for the first broken seq)"),
        ),
        ErrorKind::Untrusted => Failure::new(exit::VERIFY_FAILED, err.to_string()),
        // Missing, in use, a full disk (the ledger keeps its last committed head, and the
        // message names the directory), no key, another layout.
        ErrorKind::Unavailable | ErrorKind::HeadMoved => {
            Failure::new(exit::UNAVAILABLE, err.to_string())
        }
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

/// Who records: `--actor` (or FUNDTRAIL_ACTOR), else `$USER`, else the account name of the
/// effective uid; an error only when none of them names anyone.
pub fn actor(cli: &Cli) -> Result<String, Failure> {
    let from_user = || std::env::var("USER").ok().filter(|u| !u.trim().is_empty());
    let Some(name) = cli
        .actor
        .clone()
        .or_else(from_user)
        .or_else(account::effective_user_name)
    else {
        return Err(Failure::new(
            exit::BAD_INPUT,
            "say who records with --actor NAME or FUNDTRAIL_ACTOR=NAME: $USER is not set \
             and the operating system has no account name for this user id",
        ));
    };
    crate::model::domain::check_text(name.trim(), true)
        .map(|n| n.to_owned())
        .map_err(|e| {
            Failure::new(
                exit::BAD_INPUT,
                format!("say who records with --actor NAME or FUNDTRAIL_ACTOR: the name {e}"),
            )
        })
}

pub fn head_json(head: &crate::ledger::Head) -> Value {
    json!({ "seq": head.size, "hash": head.hash.to_hex() })
}

/// Exit 1 with the reason and, when known, the first bad seq: the one shape every check
/// (`verify`, the offline `audit` verifiers) reports a failure in.
pub(crate) fn check_failed(reason: String, seq: Option<crate::model::domain::Seq>) -> Output {
    let text = match seq {
        Some(seq) => format!("FAILED at seq {seq}: {reason}\n"),
        None => format!("FAILED: {reason}\n"),
    };
    Output {
        code: exit::VERIFY_FAILED,
        text,
        json: json!({ "ok": false, "reason": reason, "first_bad_seq": seq.map(|s| s.get()) }),
    }
}
