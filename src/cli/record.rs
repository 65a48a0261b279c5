//! The commands that record and check: init, import, log, verify, status.

use std::io::IsTerminal;

use serde_json::{json, Value};

use super::{actor, exit, failure, head_json, open, Cli, Failure, ImportCommand, LogArgs, Output};
use crate::domain::Seq;
use crate::import::{CsvFile, ImportKind};
use crate::ledger::{AppendContext, Ledger};
use crate::view::{date_text, event_json, Align, Table};

pub(super) fn init(cli: &Cli) -> Result<Output, Failure> {
    let ledger = Ledger::init(&cli.ledger).map_err(|e| failure(e, None))?;
    let dir = ledger.dir().display().to_string();
    Ok(Output::ok(
        format!("created an empty ledger in {dir}\n"),
        json!({ "ledger": dir }),
    ))
}

pub(super) fn import(cli: &Cli, what: &ImportCommand) -> Result<Output, Failure> {
    let (file, kind) = match what {
        ImportCommand::Households { file } => (file, ImportKind::Households),
        ImportCommand::Events { file } => (file, ImportKind::Events),
        ImportCommand::Rates { file } => (file, ImportKind::Rates),
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
    super::read::refresh(&ledger);
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

pub(super) fn log(cli: &Cli, args: &LogArgs) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let mut matched = Vec::new();
    for item in ledger.records(Seq::FIRST, Seq(u64::MAX)).rev() {
        if matched.len() >= args.limit {
            break;
        }
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

pub(super) fn verify(cli: &Cli) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let report = ledger.verify(|_| {}).map_err(|e| failure(e, None))?;
    match &report.fault {
        None => match super::read::check_read_models(&ledger) {
            Ok(()) => Ok(Output::ok(
                format!(
                    "ok: {} events verified; head seq {} {}\nok: the read models equal a rebuild from genesis\n",
                    report.checked, report.head.size, report.head.hash
                ),
                json!({ "ok": true, "events": report.checked, "head": head_json(&report.head), "read_models": "ok" }),
            )),
            Err(reason) => Ok(Output {
                code: exit::VERIFY_FAILED,
                text: format!("ok: {} events verified\nFAILED: {reason}\n", report.checked),
                json: json!({ "ok": false, "events": report.checked, "read_models": reason }),
            }),
        },
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

pub(super) fn status(cli: &Cli) -> Result<Output, Failure> {
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
