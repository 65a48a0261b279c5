//! The commands that record and check: init, import, log, verify, status.

use std::io::IsTerminal;

use serde_json::{json, Value};

use super::{
    actor, exit, failure, head_json, open, open_for_import, Cli, Failure, ImportCommand, InitArgs,
    LogArgs, Output, VerifyArgs,
};
use crate::export::read_note;
use crate::ledger::import::{CsvFile, ImportKind};
use crate::ledger::{AppendContext, AppendSummary, Ledger, LogFilter, SignedCheckpoint};
use crate::model::domain::Seq;
use crate::model::render::{event_json, value_date_text, Align, Table};
use crate::store::read_only::{write_denied, ReadOnlyCopy};
use crate::tlog::checkpoint::{open_note_bytes, Checkpoint};
use std::path::Path;

pub(super) fn init(cli: &Cli, args: &InitArgs) -> Result<Output, Failure> {
    let created = match &args.origin {
        Some(origin) => Ledger::init_with_origin(&cli.ledger, origin),
        None => Ledger::init(&cli.ledger),
    };
    let ledger = created.map_err(|e| failure(e, None))?;
    let view = ledger.view();
    let dir = view.dir().display().to_string();
    let key = view.verifier_key().to_string();
    Ok(Output::ok(
        format!(
            "created an empty ledger in {dir}\nlog origin:   {}\nverifier key: {key}\n(the signing key is {dir}/{}, readable only by you; give auditors the verifier key)\n",
            view.origin(),
            crate::keys::KEY_FILE
        ),
        json!({ "ledger": dir, "origin": view.origin(), "verifier_key": key }),
    ))
}

pub(super) fn import(cli: &Cli, what: &ImportCommand) -> Result<Output, Failure> {
    let (file, kind) = match what {
        ImportCommand::Households { file } => (file, ImportKind::Households),
        ImportCommand::Events { file } => (file, ImportKind::Events),
        ImportCommand::Rates { file } => (file, ImportKind::Rates),
        ImportCommand::Changes { file } => (file, ImportKind::Changes),
        ImportCommand::Persons { file } => return super::people::import_persons(cli, file),
        ImportCommand::Deaths { file, source } => {
            return super::people::import_deaths(cli, file, source)
        }
    };
    let (ctx, mut ledger, bar) = import_start(cli, file)?;
    let mut source = CsvFile::new(file, kind);
    if kind == ImportKind::Events {
        // Accounts enter the log as keyed hashes; without a readable key a row naming
        // one is refused, and the ledger refuses to write anyway.
        if let Ok(keys) = crate::keys::SigningKeyFile::read(ledger.view().dir()) {
            source = source.with_account_key(keys.account_key());
        }
    }
    if let Some(bar) = bar.clone() {
        source = source.with_progress(Box::new(move |pos| bar.set_position(pos)));
    }
    let result = super::read::append_signed(&mut ledger, &mut source, &ctx);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (summary, signed) = result.map_err(|e| failure(e, Some(file)))?;
    let output = import_output(file, &summary, signed.as_ref());
    let output = super::witness::ask_after_append(cli, &ledger, output);
    if summary.appended >= SETTLE_AFTER_EVENTS {
        // The import is durable and signed: a failure here costs the next open time only.
        if let Err(e) = ledger.close_settled() {
            eprintln!("warning: the next command will open the ledger more slowly: {e}");
        }
    }
    Ok(output)
}

/// From how many appended events an import settles the store before it exits
/// (`Ledger::close_settled`): below this, the next process's replay of what was written
/// takes a few milliseconds, and settling would cost more than it saves.
const SETTLE_AFTER_EVENTS: u64 = 10_000;

/// What every import starts with: who records, the open ledger, and a progress bar sized
/// by the file (none when output is piped or JSON).
pub(super) fn import_start(
    cli: &Cli,
    file: &Path,
) -> Result<(AppendContext, Ledger, Option<indicatif::ProgressBar>), Failure> {
    let ctx = AppendContext::now(actor(cli)?);
    let size = std::fs::metadata(file)
        .map_err(|e| Failure::new(exit::BAD_INPUT, format!("{}: {e}", file.display())))?
        .len();
    let ledger = open_for_import(cli)?;
    Ok((ctx, ledger, progress_bar(cli, size)))
}

/// What an import says: appended, already present, the head and the checkpoint.
pub(super) fn import_output(
    file: &Path,
    summary: &AppendSummary,
    signed: Option<&SignedCheckpoint>,
) -> Output {
    let name = file.display().to_string();
    let mut text = if summary.appended == 0 && summary.duplicates == 0 {
        format!("{name}: nothing to append: the file has no rows after its header\n")
    } else if summary.appended == 0 {
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
    if let Some(signed) = signed {
        text.push_str(&format!(
            "checkpoint: size {} root {}\n",
            signed.checkpoint.size,
            hex::encode(signed.checkpoint.root)
        ));
    }
    let json = json!({
        "file": name,
        "appended": summary.appended,
        "duplicates": summary.duplicates,
        "head": { "size": summary.head.size, "hash": summary.head.hash.to_hex() },
        "checkpoint": signed.map(crate::ledger::answers::checkpoint_json),
    });
    Output::ok(text, json)
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
    let filter = LogFilter {
        household: args.household.clone(),
        program: args.program.clone(),
        event_type: args.event_type.clone(),
    };
    let matched = ledger
        .view()
        .recent(&filter, args.limit)
        .map_err(|e| failure(e, None))?;
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
            value_date_text(body),
            body.type_name().to_string(),
            body.household().unwrap_or("").to_string(),
            body.program().unwrap_or("").to_string(),
            crate::model::render::signed_amount(body).map_or(String::new(), |m| m.to_string()),
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

/// A ledger opened by `verify` or `status`: the ledger itself or, when this process may
/// not write its directory (a read-only mount, no write permission), a private copy of its
/// database (`store::read_only`): sled cannot open a database it may not write.
struct Reading {
    ledger: Ledger,
    /// Removes the copy; declared after `ledger`, so it is dropped after it.
    copy: Option<ReadOnlyCopy>,
}

fn open_for_reading(cli: &Cli) -> Result<Reading, Failure> {
    let Some(denied) = write_denied(&cli.ledger) else {
        return Ok(Reading {
            ledger: open(cli)?,
            copy: None,
        });
    };
    let copy = ReadOnlyCopy::make(&cli.ledger).map_err(|e| {
        let mut failed = failure(e.into(), None);
        failed.message.push_str(&format!(
            " (the ledger cannot be written ({denied}), so its database is read from a copy \
             under $TMPDIR, else /tmp: that needs room for it)"
        ));
        failed
    })?;
    eprintln!(
        "note: {} cannot be written ({denied}); reading a private copy of its database \
         ({} bytes) in {}, removed afterwards",
        cli.ledger.display(),
        copy.bytes(),
        copy.path().display()
    );
    let ledger = Ledger::open(copy.path()).map_err(|e| failure(e, None))?;
    Ok(Reading {
        ledger,
        copy: Some(copy),
    })
}

pub(super) fn verify(cli: &Cli, args: &VerifyArgs) -> Result<Output, Failure> {
    let reading = open_for_reading(cli)?;
    let ledger = &reading.ledger;
    let held = match held_checkpoints(ledger, &args.checkpoints)? {
        Ok(held) => held,
        Err(reason) => return Ok(verify_failed(reason, None, 0)),
    };
    // The read models' rebuild is folded beside the log's checks; it is reported only
    // once the log and the state beside it are sound.
    let (report, read_models) = ledger
        .view()
        .verify_with_read_models(&held, |_| {})
        .map_err(|e| failure(e, None))?;
    if let Some(fault) = &report.fault {
        let mut out = verify_failed(fault.to_string(), fault.first_bad_seq(), report.checked);
        out.json["last_bad_seq"] = json!(fault.last_bad_seq().map(|s| s.get()));
        return Ok(out);
    }
    let mut text = format!(
        "ok: {} events verified; head seq {} {}\nok: Merkle root {} ({} stored nodes compared)\nok: {} signed checkpoint(s) match the log\n",
        report.checked,
        report.head.size,
        report.head.hash,
        hex::encode(report.root),
        report.nodes,
        report.checkpoints
    );
    let mut json = json!({
        "ok": true,
        "events": report.checked,
        "head": head_json(&report.head),
        "root": hex::encode(report.root),
        "nodes": report.nodes,
        "checkpoints": report.checkpoints,
    });
    // The log is sound; the state beside it must be too (a seal that does not hold, a
    // checkpoint beyond the head, a key that is not this ledger's).
    if let Some(doubt) = ledger.damaged() {
        text.push_str(&format!("FAILED: the ledger's state: {doubt}\n"));
        json["ok"] = json!(false);
        json["state"] = json!(doubt);
        return Ok(Output {
            code: exit::VERIFY_FAILED,
            text,
            json,
        });
    }
    match read_models.map_err(|e| e.to_string()) {
        Ok(()) => {
            text.push_str("ok: the read models and the findings equal a rebuild from genesis\n");
            json["read_models"] = json!("ok");
            Ok(Output::ok(text, json))
        }
        Err(reason) => {
            text.push_str(&format!("FAILED: {reason}\n"));
            json["ok"] = json!(false);
            json["read_models"] = json!(reason);
            Ok(Output {
                code: exit::VERIFY_FAILED,
                text,
                json,
            })
        }
    }
}

/// Checkpoints the auditor kept, opened with the ledger's key. A file that cannot be read
/// is a usage error; one the key does not open is a failed verification (inner error).
fn held_checkpoints(
    ledger: &Ledger,
    paths: &[std::path::PathBuf],
) -> Result<Result<Vec<Checkpoint>, String>, Failure> {
    let mut held = Vec::new();
    for path in paths {
        let note = read_note(path).map_err(|e| Failure::new(exit::BAD_INPUT, e.to_string()))?;
        match open_note_bytes(&note, ledger.view().verifier_key()) {
            Ok(checkpoint) => held.push(checkpoint),
            Err(e) => return Ok(Err(format!("{}: {e}", path.display()))),
        }
    }
    Ok(Ok(held))
}

fn verify_failed(reason: String, seq: Option<Seq>, checked: u64) -> Output {
    let mut out = super::check_failed(reason, seq);
    out.json["checked"] = json!(checked);
    out
}

pub(super) fn status(cli: &Cli) -> Result<Output, Failure> {
    let reading = open_for_reading(cli)?;
    let ledger = &reading.ledger;
    let view = ledger.view();
    // A copy's directory is a temporary one: name the ledger that was asked for.
    let dir = match &reading.copy {
        Some(_) => cli.ledger.clone(),
        None => view.dir().to_owned(),
    };
    let head = view.head();
    let households = ledger.households().len();
    let persons = ledger.people().len();
    let erased = ledger.people().erased_count();
    let bytes = view.size_on_disk().map_err(|e| failure(e, None))?;
    let latest = view.latest_checkpoint().map_err(|e| failure(e, None))?;
    let checkpoint = latest
        .as_ref()
        .map_or("none (run `fundtrail checkpoint`)".to_string(), |c| {
            format!("size {}", c.checkpoint.size)
        });
    // A damaged ledger could not read its households back: say so, not "0".
    let damaged = ledger.damaged();
    // Without its signing key a ledger reads but cannot check or write its sealed state.
    let key_missing = view.sealing_key().err().map(|e| e.to_string());
    let (households_text, persons_text) = match damaged {
        Some(_) => (
            "unknown (the ledger is damaged)".to_string(),
            "unknown".to_string(),
        ),
        None => (
            households.to_string(),
            format!("{persons} ({erased} with personal data erased)"),
        ),
    };
    let mut text = format!(
        "ledger:     {}\norigin:     {}\nevents:     {}\nhouseholds: {}\npersons:    {}\nhead:       seq {} {}\nroot:       {}\ncheckpoint: {checkpoint}\non disk:    {} bytes\n",
        dir.display(),
        view.origin(),
        head.size,
        households_text,
        persons_text,
        head.size,
        head.hash,
        hex::encode(view.root()),
        bytes
    );
    let json = json!({
        "ledger": dir.display().to_string(),
        "read_only_copy": reading.copy.is_some(),
        "origin": view.origin(),
        "events": head.size,
        "households": households,
        "persons": persons,
        "persons_erased": erased,
        "head": head_json(&head),
        "root": hex::encode(view.root()),
        "checkpoint_size": latest.map(|c| c.checkpoint.size),
        "size_on_disk": bytes,
        "damaged": damaged,
        "writable": damaged.is_none() && key_missing.is_none(),
    });
    if let Some(reason) = &key_missing {
        text.push_str(&format!("writes:     refused: {reason}\n"));
    }
    let mut json = json;
    let witnesses = super::witness::status_summary(&dir, head.size);
    let alarm = witnesses.as_ref().is_some_and(|(_, _, alarm)| *alarm);
    if let Some((line, summary, _)) = witnesses {
        text.push_str(&line);
        json["witnesses"] = summary;
    }
    let Some(reason) = damaged else {
        // A witness holding another history is an alarm: exit 1, as `witness list` does.
        let code = if alarm { exit::VERIFY_FAILED } else { exit::OK };
        return Ok(Output { code, text, json });
    };
    text.push_str(&format!(
        "damaged:    {reason} (appends are refused; run `fundtrail verify` for the first broken seq)\n"
    ));
    Ok(Output {
        code: exit::VERIFY_FAILED,
        text,
        json,
    })
}

pub(super) fn discard_beyond_head(cli: &Cli) -> Result<Output, Failure> {
    let mut ledger = open(cli)?;
    let removed = ledger.discard_beyond_head().map_err(|e| failure(e, None))?;
    let head = ledger.view().head();
    let text = match removed {
        0 => format!("nothing lies beyond the head (seq {})\n", head.size),
        n => format!(
            "removed {n} block(s) beyond the head (seq {}); the ledger takes writes again\n",
            head.size
        ),
    };
    Ok(Output::ok(
        text,
        json!({ "removed_blocks": removed, "head": head_json(&head) }),
    ))
}

pub(super) fn upgrade(cli: &Cli) -> Result<Output, Failure> {
    let (ledger, upgraded) = Ledger::upgrade(&cli.ledger).map_err(|e| failure(e, None))?;
    let layout = crate::ledger::STORE_LAYOUT;
    let text = match upgraded.from == layout {
        true => format!("the ledger is already in store layout {layout}; nothing was changed\n"),
        false => {
            let built = match upgraded.from {
                3 => format!(
                    "{} events listed in the household trail index, built from the log; ",
                    upgraded.entries
                ),
                _ => String::new(),
            };
            let blocks = match upgraded.from {
                6 => "",
                5 => "its blocks read as they are, new ones stored Zstandard-compressed; ",
                _ => "the event and reference blocks stored compressed; ",
            };
            format!(
                "upgraded the ledger from store layout {} to {layout}: {built}{blocks}{} leaf \
                 tile(s) removed (leaf hashes are recomputed from the event blocks) (head seq \
                 {})\n",
                upgraded.from,
                upgraded.tiles,
                ledger.view().head().size
            )
        }
    };
    Ok(Output::ok(
        text,
        json!({
            "from_layout": upgraded.from,
            "layout": layout,
            "events_listed": upgraded.entries,
            "leaf_tiles_removed": upgraded.tiles,
        }),
    ))
}
