//! `fundtrail witness init | trust | serve`: a C2SP tlog-witness that cosigns the
//! checkpoints of the logs it trusts (it needs no ledger, and `--ledger` is ignored);
//! `fundtrail witness add | list`: the witnesses a ledger asks after `fundtrail
//! checkpoint` and every command that appends sign.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};

use super::{exit, open, Cli, Failure, Output};
use crate::http::witness::{self as serve, WitnessConfig, WitnessServeError};
use crate::http::Limits;
use crate::keys::KeyError;
use crate::ledger::{Ledger, SignedCheckpoint};
use crate::witness::cosigned;
use crate::witness::log_side::{ask_witnesses, CosignReport, LogWitnesses, Outcome};
use crate::witness::{state, WitnessError};

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Create a witness directory and its Ed25519 key (mode 0600); print its verifier key
    /// (C2SP vkey, signature type 0x04) to give to the logs and auditors that count it.
    Init {
        /// The witness directory (created if missing).
        dir: PathBuf,
        /// The witness's name in its cosignatures, e.g. `audit.panlong.example/witness`
        /// (no spaces or `+`).
        #[arg(long)]
        name: String,
    },
    /// Trust a log: cosign the checkpoints its key signs (its origin is the key's name).
    /// A serving witness reads the list when it starts.
    Trust {
        /// The witness directory.
        dir: PathBuf,
        /// The log's verifier key, as `fundtrail key show` prints it.
        #[arg(long = "log", value_name = "VKEY")]
        log: String,
    },
    /// Serve the tlog-witness API (POST /add-checkpoint) until SIGINT or SIGTERM.
    Serve {
        /// The witness directory.
        dir: PathBuf,
        /// Address to listen on; port 0 picks a free port (the bound address is printed).
        #[arg(long, default_value = "127.0.0.1:8380")]
        addr: SocketAddr,
    },
    /// This ledger: ask a witness to cosign every checkpoint the ledger signs.
    Add {
        /// The witness's URL, `http://host:port` (for https, a proxy in front of it).
        url: String,
        /// The witness's verifier key, as `witness init` printed it.
        #[arg(long, value_name = "VKEY")]
        key: String,
        /// Cosignatures a checkpoint needs (default: a majority of the witnesses).
        #[arg(long, value_name = "K")]
        quorum: Option<usize>,
    },
    /// This ledger's witnesses: what each cosigned last, alarms, and the latest checkpoint
    /// that reached the quorum.
    List,
}

pub(super) fn run(cli: &Cli, command: &WitnessCommand) -> Result<Output, Failure> {
    match command {
        WitnessCommand::Add { url, key, quorum } => add(cli, url, key, *quorum),
        WitnessCommand::List => list(cli),
        WitnessCommand::Init { dir, name } => init(dir, name),
        WitnessCommand::Trust { dir, log } => trust(dir, log),
        WitnessCommand::Serve { dir, addr } => run_server(dir, *addr),
    }
}

fn init(dir: &std::path::Path, name: &str) -> Result<Output, Failure> {
    let cosigner = state::init(dir, name).map_err(witness_failure)?;
    let key = cosigner.verifier_key();
    Ok(Output::ok(
        format!("{key}\n"),
        json!({
            "verifier_key": key.to_string(),
            "name": key.name(),
            "key_id": format!("{:08x}", key.key_id()),
        }),
    ))
}

fn trust(dir: &std::path::Path, log: &str) -> Result<Output, Failure> {
    let (key, added) = state::trust(dir, log).map_err(witness_failure)?;
    let text = if added {
        format!("trusting {key} (a serving witness reads this when it starts)\n")
    } else {
        format!("already trusting {key}\n")
    };
    Ok(Output::ok(
        text,
        json!({ "log": key.to_string(), "origin": key.name(), "added": added }),
    ))
}

fn run_server(dir: &std::path::Path, addr: SocketAddr) -> Result<Output, Failure> {
    let config = WitnessConfig {
        dir: dir.to_path_buf(),
        addr,
        limits: Limits::default(),
    };
    let announce = |addr: SocketAddr, key: &crate::witness::cosign::CosignerKey| {
        // The first line of stdout names the address, for scripts and tests on port 0.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = writeln!(out, "witness {key}");
        let _ = out.flush();
    };
    serve::run(config, announce).map_err(|e| match e {
        WitnessServeError::Witness(e) => witness_failure(e),
        WitnessServeError::Io(reason) => Failure::new(exit::UNAVAILABLE, reason),
    })?;
    Ok(Output::ok("stopped\n".into(), json!({ "stopped": true })))
}

/// Bad input (a name, a key, an existing witness) exits 2; a damaged or too open key file
/// or trusted-logs file 1; a directory in use or that cannot be read 3.
fn witness_failure(err: WitnessError) -> Failure {
    let code = match &err {
        WitnessError::Exists(_)
        | WitnessError::Name(_)
        | WitnessError::LogKey(_)
        | WitnessError::NoKey(_) => exit::BAD_INPUT,
        WitnessError::Malformed { .. }
        | WitnessError::Key(KeyError::TooOpen { .. } | KeyError::Malformed { .. }) => {
            exit::VERIFY_FAILED
        }
        WitnessError::Io { .. }
        | WitnessError::InUse { .. }
        | WitnessError::Key(_)
        | WitnessError::Randomness(_) => exit::UNAVAILABLE,
    };
    Failure::new(code, err.to_string())
}

fn add(cli: &Cli, url: &str, key: &str, quorum: Option<usize>) -> Result<Output, Failure> {
    // Open, so no `checkpoint` rewrites the list meanwhile.
    let _ledger = open(cli)?;
    let mut witnesses = LogWitnesses::load(&cli.ledger).map_err(witness_failure)?;
    let added = witnesses
        .add(url, key, quorum)
        .map_err(|e| Failure::new(exit::BAD_INPUT, e))?;
    witnesses.save(&cli.ledger).map_err(witness_failure)?;
    let text = format!(
        "{} {key}; a checkpoint needs {} of {} witness(es)\n",
        if added { "added" } else { "already listed" },
        witnesses.quorum(),
        witnesses.witnesses.len()
    );
    Ok(Output::ok(
        text,
        json!({ "added": added, "quorum": witnesses.quorum(), "witnesses": witnesses.witnesses.len() }),
    ))
}

fn list(cli: &Cli) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let head = ledger.view().head().size;
    let witnesses = LogWitnesses::load(&cli.ledger).map_err(witness_failure)?;
    let cosigned = cosigned_size(&cli.ledger);
    let mut text = String::new();
    for w in &witnesses.witnesses {
        let alarm = w
            .alarm
            .as_deref()
            .map(|a| format!("  ALARM: {a}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "{}  {}  cosigned size {}{alarm}\n",
            w.key, w.url, w.cosigned_size
        ));
    }
    text.push_str(&format!(
        "quorum {} of {}; latest checkpoint with its quorum: {}; head {head}\n",
        witnesses.quorum(),
        witnesses.witnesses.len(),
        cosigned.map_or("none".to_string(), |s| format!(
            "size {s} ({} behind)",
            head.saturating_sub(s)
        ))
    ));
    let code = if witnesses.witnesses.iter().any(|w| w.alarm.is_some()) {
        exit::VERIFY_FAILED
    } else {
        exit::OK
    };
    Ok(Output {
        code,
        text,
        json: json!({
            "quorum": witnesses.quorum(),
            "witnesses": witnesses.witnesses,
            "cosigned_size": cosigned,
            "head": head,
        }),
    })
}

/// The ledger's witnesses for `status`: `None` when it has none; else the line to print,
/// its JSON, and whether a witness raised an alarm (it holds another history).
pub(super) fn status_summary(
    ledger_dir: &std::path::Path,
    head: u64,
) -> Option<(String, Value, bool)> {
    let witnesses = LogWitnesses::load(ledger_dir).ok()?;
    if witnesses.witnesses.is_empty() {
        return None;
    }
    let cosigned = cosigned_size(ledger_dir);
    let alarms: Vec<String> = witnesses
        .witnesses
        .iter()
        .filter_map(|w| w.alarm.as_ref().map(|a| format!("{}: {a}", w.url)))
        .collect();
    let reached = cosigned.map_or("no checkpoint has reached it".to_string(), |s| {
        format!(
            "size {s} reached it, the head is {} beyond",
            head.saturating_sub(s)
        )
    });
    let mut text = format!(
        "witnesses:  quorum {} of {}; {reached}\n",
        witnesses.quorum(),
        witnesses.witnesses.len()
    );
    for alarm in &alarms {
        text.push_str(&format!(
            "ALARM:      a witness holds another history: {alarm}\n"
        ));
    }
    let json = json!({
        "quorum": witnesses.quorum(),
        "count": witnesses.witnesses.len(),
        "cosigned_size": cosigned,
        "beyond": cosigned.map(|s| head.saturating_sub(s)),
        "alarms": alarms,
    });
    let alarm = !alarms.is_empty();
    Some((text, json, alarm))
}

/// The size of the latest checkpoint that reached its quorum, if any.
pub(super) fn cosigned_size(ledger_dir: &std::path::Path) -> Option<u64> {
    cosigned::latest(ledger_dir).map(|(size, _)| size)
}

/// After `fundtrail checkpoint` signed: asks the ledger's witnesses, if it has any. The
/// note printed carries the cosignatures; each witness's answer goes to stderr. Exit 1
/// when a witness holds another history (an alarm), 3 when the quorum was not reached.
pub(super) fn ask_after_checkpoint(
    cli: &Cli,
    ledger: &Ledger,
    signed: &SignedCheckpoint,
    output: Output,
) -> Result<Output, Failure> {
    let listed = LogWitnesses::load(&cli.ledger).map_err(witness_failure)?;
    if listed.witnesses.is_empty() {
        return Ok(output);
    }
    let report = ask_witnesses(&cli.ledger, ledger.view(), signed).map_err(witness_failure)?;
    print_outcomes(&report);
    if let Some(alarm) = alarm_message(&report) {
        return Err(Failure::new(exit::VERIFY_FAILED, alarm));
    }
    let summary = report_json(&report);
    if !report.reached_quorum() {
        return Err(Failure {
            code: exit::UNAVAILABLE,
            message: format!(
                "{}; `fundtrail checkpoint` asks again",
                missed_message(&report)
            ),
            json: summary,
        });
    }
    let mut json = output.json;
    json["witnesses"] = summary;
    Ok(Output::ok(report.note, json))
}

/// The end of every command that appends and signs (imports, runs, reconciliations,
/// decisions, persons' workflows): asks the ledger's witnesses about its latest checkpoint
/// exactly as `fundtrail checkpoint` does, unless that checkpoint already has its quorum
/// note. What the command appended is durable by now, so asking never fails it: a missed
/// quorum is a warning line (the next signing command asks again), an alarm makes it exit
/// 1, loudly on stderr. A ledger without witnesses gets `output` untouched.
pub(super) fn ask_after_append(cli: &Cli, ledger: &Ledger, mut output: Output) -> Output {
    let listed = match LogWitnesses::load(&cli.ledger) {
        Ok(listed) => listed,
        Err(e) => {
            eprintln!("warning: the witnesses were not asked: {e}");
            return output;
        }
    };
    if listed.witnesses.is_empty() {
        return output;
    }
    let signed = match ledger.view().latest_checkpoint() {
        Ok(Some(signed)) => signed,
        Ok(None) => return output,
        Err(e) => {
            eprintln!("warning: the witnesses were not asked: {e}");
            return output;
        }
    };
    if cosigned::note_at(&cli.ledger, signed.checkpoint.size).is_some() {
        return output;
    }
    let report = match ask_witnesses(&cli.ledger, ledger.view(), &signed) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("warning: the witnesses were not asked: {e}");
            return output;
        }
    };
    print_outcomes(&report);
    if let Some(alarm) = alarm_message(&report) {
        eprintln!("{alarm}");
        output.code = exit::VERIFY_FAILED;
    } else if !report.reached_quorum() {
        eprintln!(
            "warning: {}; the next command that signs, or `fundtrail checkpoint`, asks again",
            missed_message(&report)
        );
    }
    if let Some(json) = output.json.as_object_mut() {
        json.insert("witnesses".into(), report_json(&report));
    }
    output
}

/// Each witness's answer, one line each on stderr.
fn print_outcomes(report: &CosignReport) {
    for (name, outcome) in &report.outcomes {
        match outcome {
            Outcome::Cosigned(_) => eprintln!("witness {name}: cosigned"),
            Outcome::Down(why) => eprintln!("witness {name}: no cosignature: {why}"),
            Outcome::Alarm(why) => eprintln!("witness {name}: ALARM: {why}"),
        }
    }
}

/// The loud message when a witness holds another history; `None` without alarms.
fn alarm_message(report: &CosignReport) -> Option<String> {
    let alarms: Vec<String> = report
        .alarms()
        .map(|(name, why)| format!("witness {name}: {why}"))
        .collect();
    (!alarms.is_empty()).then(|| {
        format!(
            "ALARM: a witness was shown another history of this log; the checkpoint of size {} is signed but must not be trusted until this is explained:\n{}",
            report.size,
            alarms.join("\n")
        )
    })
}

fn missed_message(report: &CosignReport) -> String {
    format!(
        "the checkpoint of size {} is signed, but only {} of the {} cosignatures its quorum needs came",
        report.size,
        report.cosignatures(),
        report.quorum
    )
}

fn report_json(report: &CosignReport) -> Value {
    json!({
        "size": report.size,
        "cosignatures": report.cosignatures(),
        "quorum": report.quorum,
        "reached_quorum": report.reached_quorum(),
        "alarm": report.alarms().next().is_some(),
        "note": report.note,
    })
}
