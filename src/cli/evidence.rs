//! The commands that give auditors evidence from a ledger: key show, checkpoint, prove,
//! export.

use std::path::PathBuf;
use std::time::Instant;

use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;

use super::{exit, failure, open, Cli, Failure, Output};
use crate::export::evidence::{self as ev};
use crate::export::{write_export, ExportError};
use crate::ledger::Ledger;
use crate::model::domain::Seq;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the verifier key (C2SP signed-note format: name+key id+base64 key) to give to
    /// auditors.
    Show,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("proof").required(true).args(["seq", "from"])))]
pub struct ProveArgs {
    /// The event to prove included (prints a c2sp.org/tlog-proof).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub seq: Option<u64>,
    /// The size of the signed checkpoint to prove against (default: the latest).
    #[arg(long, requires = "seq")]
    pub size: Option<u64>,
    /// The old tree size of a consistency proof (prints a c2sp.org/tlog-witness body).
    #[arg(long)]
    pub from: Option<u64>,
    /// The size of the signed checkpoint to prove consistency with (default: the latest).
    #[arg(long, requires = "from")]
    pub to: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The directory to write (new or empty).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

pub(super) fn key(cli: &Cli, what: &KeyCommand) -> Result<Output, Failure> {
    let KeyCommand::Show = what;
    let ledger = open(cli)?;
    let key = ledger.view().verifier_key();
    Ok(Output::ok(
        format!("{key}\n"),
        json!({
            "verifier_key": key.to_string(),
            "origin": key.name(),
            "key_id": format!("{:08x}", key.key_id()),
            "public_key": hex::encode(key.public_key()),
        }),
    ))
}

pub(super) fn checkpoint(cli: &Cli) -> Result<Output, Failure> {
    let mut ledger = open(cli)?;
    let signed = ledger.checkpoint().map_err(|e| failure(e, None))?;
    let output = Output::ok(
        signed.note.clone(),
        crate::ledger::answers::checkpoint_json(&signed),
    );
    super::witness::ask_after_checkpoint(cli, &ledger, &signed, output)
}

pub(super) fn prove(cli: &Cli, args: &ProveArgs) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    match (args.seq, args.from) {
        (Some(seq), _) => prove_inclusion(&ledger, Seq::new(seq), args.size),
        (None, Some(from)) => prove_consistency(&ledger, from, args.to),
        (None, None) => Err(Failure::new(exit::BAD_INPUT, "give --seq N or --from A")),
    }
}

fn prove_inclusion(ledger: &Ledger, seq: Seq, size: Option<u64>) -> Result<Output, Failure> {
    let inc = ev::inclusion(ledger.view(), seq, size).map_err(|e| failure(e, None))?;
    let json = serde_json::to_value(inc.doc()).expect("a proof document is plain JSON");
    Ok(Output::ok(inc.text(), json))
}

fn prove_consistency(ledger: &Ledger, from: u64, to: Option<u64>) -> Result<Output, Failure> {
    let c = ev::consistency(ledger.view(), from, to).map_err(|e| failure(e, None))?;
    let json = serde_json::to_value(c.doc()).expect("a proof document is plain JSON");
    Ok(Output::ok(c.text(), json))
}

pub(super) fn export(cli: &Cli, args: &ExportArgs) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let started = Instant::now();
    let summary = write_export(&ledger, &args.to).map_err(export_failure)?;
    let seconds = started.elapsed().as_secs_f64();
    let rate = summary.events as f64 / seconds.max(1e-9);
    let dir = args.to.display().to_string();
    let mut text = format!(
        "exported {} events to {dir} ({} bytes of events.jsonl, {:.0} events/s)\ncheckpoint: {} size {} root {}\n",
        summary.events,
        summary.bytes,
        rate,
        summary.checkpoint.origin,
        summary.checkpoint.size,
        hex::encode(summary.checkpoint.root)
    );
    if summary.unexported > 0 {
        text.push_str(&format!(
            "note: {} event(s) after the latest checkpoint are not in the export (run `fundtrail checkpoint` first to include them)\n",
            summary.unexported
        ));
    }
    let json = json!({
        "dir": dir,
        "events": summary.events,
        "bytes": summary.bytes,
        "seconds": seconds,
        "events_per_second": rate,
        "checkpoint": { "origin": summary.checkpoint.origin, "size": summary.checkpoint.size, "root": hex::encode(summary.checkpoint.root) },
        "unexported": summary.unexported,
    });
    Ok(Output::ok(text, json))
}

pub(super) fn export_failure(err: ExportError) -> Failure {
    match err {
        ExportError::Ledger(e) => failure(e, None),
        ExportError::NotEmpty(_)
        | ExportError::NoCheckpoint
        | ExportError::Io { .. }
        | ExportError::Missing(_) => Failure::new(exit::BAD_INPUT, err.to_string()),
    }
}
