//! Persons: `import persons`, `person show`, `person erase`. Personal data is shown only
//! through the one masking function, or in clear after a recorded reveal.

use std::path::Path;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::record::{import_output, import_start};
use super::{actor, exit, failure, open, open_for_import, Cli, Failure, Output};
use crate::ledger::AppendContext;
use crate::model::render::{Align, Table};
use crate::people::deaths::{self, DeathsReport};
use crate::people::roll::{self, PeopleError, PersonView, Showing};

#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// A person: household, role, dates, and their name and identity number masked
    /// (王*芳, 530103********1234).
    ///
    /// With --reveal the name and number are shown in clear, and a person_revealed event
    /// records who looked, when and why (--reason is required).
    Show(ShowArgs),
    /// Destroy a person's name and identity number for good (crypto-shredding).
    ///
    /// The person's key in the vault is destroyed and a person_erased event records it;
    /// the log, every total and every proof stay exactly as they were, and every output
    /// shows the person as erased.
    Erase(EraseArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The person's id.
    pub id: String,
    /// Show the name and number in clear (recorded as an event).
    #[arg(long, requires = "reason")]
    pub reveal: bool,
    /// Why the data is looked at in clear, e.g. a case number.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The person's id.
    pub id: String,
    /// Why the data is erased, e.g. the request it answers.
    #[arg(long)]
    pub reason: String,
}

pub(super) fn import_persons(cli: &Cli, file: &Path) -> Result<Output, Failure> {
    let (ctx, mut ledger, bar) = import_start(cli, file)?;
    let progress = bar
        .clone()
        .map(|bar| Box::new(move |pos| bar.set_position(pos)) as crate::ledger::import::Progress);
    let result = roll::import_persons(&mut ledger, file, progress, &ctx);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (summary, signed) = result.map_err(|e| people_failure(e, Some(file)))?;
    let output = import_output(file, &summary, signed.as_ref());
    Ok(super::witness::ask_after_append(cli, &ledger, output))
}

pub(super) fn import_deaths(cli: &Cli, file: &Path, source: &str) -> Result<Output, Failure> {
    let ctx = AppendContext::now(actor(cli)?);
    let mut ledger = open_for_import(cli)?;
    let report = deaths::import_deaths(&mut ledger, file, source, &ctx)
        .map_err(|e| people_failure(e, Some(file)))?;
    super::read::refresh(&ledger);
    let output = Output::ok(deaths_text(file, &report), deaths_json(file, &report));
    Ok(super::witness::ask_after_append(cli, &ledger, output))
}

fn deaths_text(file: &Path, r: &DeathsReport) -> String {
    let mut text = format!(
        "{}: {} row(s) read, {} matched, {} newly recorded dead, {} already recorded, {} \
         conflicting, {} matching nobody (not stored)\n",
        file.display(),
        r.read,
        r.matched,
        r.recorded,
        r.already,
        r.conflicts.len(),
        r.unmatched
    );
    for c in &r.conflicts {
        let by = c
            .recorded_seq
            .map_or_else(|| "an earlier row".to_string(), |s| format!("seq {s}"));
        text.push_str(&format!(
            "  conflict, line {}: person {} is recorded dead on {} ({by}), the register says {}; not changed\n",
            c.line, c.person, c.recorded, c.register
        ));
    }
    if !r.overpaid.is_empty() {
        text.push_str("households paid beyond their due (to recover):\n");
        let mut table = Table::new(&[
            ("household", Align::Left),
            ("overpaid", Align::Right),
            ("months", Align::Left),
        ]);
        for o in &r.overpaid {
            let months: Vec<String> = o.months.iter().map(ToString::to_string).collect();
            table.row(vec![
                o.household.to_string(),
                o.amount.to_string(),
                months.join(" "),
            ]);
        }
        text.push_str(&table.render());
    }
    if let Some(signed) = &r.signed {
        text.push_str(&format!(
            "checkpoint: size {} root {}\n",
            signed.checkpoint.size,
            hex::encode(signed.checkpoint.root)
        ));
    }
    text
}

fn deaths_json(file: &Path, r: &DeathsReport) -> Value {
    let mut json = deaths::report_json(r);
    json["file"] = json!(file.display().to_string());
    json
}

pub(super) fn run(cli: &Cli, command: &PersonCommand) -> Result<Output, Failure> {
    let mut ledger = open(cli)?;
    match command {
        PersonCommand::Show(args) => {
            let ctx;
            let showing = match (&args.reason, args.reveal) {
                (Some(reason), true) => {
                    ctx = AppendContext::now(actor(cli)?);
                    Showing::Revealed { reason, ctx: &ctx }
                }
                _ => Showing::Masked,
            };
            let revealed = matches!(showing, Showing::Revealed { .. });
            let view = roll::show_person(&mut ledger, &args.id, showing)
                .map_err(|e| people_failure(e, None))?;
            let output = Output::ok(view_text(&view), view.to_json());
            if !revealed {
                return Ok(output);
            }
            // A reveal appends its record and signs.
            Ok(super::witness::ask_after_append(cli, &ledger, output))
        }
        PersonCommand::Erase(args) => {
            let ctx = AppendContext::now(actor(cli)?);
            let seq = roll::erase_person(&mut ledger, &args.id, &args.reason, &ctx)
                .map_err(|e| people_failure(e, None))?;
            let output = Output::ok(
                format!(
                    "person {}: personal data erased (seq {seq}); the log and every proof are unchanged\n",
                    args.id
                ),
                json!({ "person_id": args.id, "erased_seq": seq.get() }),
            );
            Ok(super::witness::ask_after_append(cli, &ledger, output))
        }
    }
}

pub(super) fn people_failure(err: PeopleError, file: Option<&Path>) -> Failure {
    match err {
        PeopleError::Ledger(e) => failure(e, file),
        PeopleError::Run(e) => super::run::batch_failure(e),
        PeopleError::UnknownPerson(_)
        | PeopleError::BadSource(_)
        | PeopleError::NothingToReveal { .. }
        | PeopleError::TooManyRows { .. } => Failure::new(exit::BAD_INPUT, err.to_string()),
        // A vault that does not open with this ledger's key, or a change the log did not
        // record: an integrity problem, as a corrupt ledger is.
        PeopleError::Vault(_) | PeopleError::Unrecorded { .. } => {
            Failure::new(exit::VERIFY_FAILED, err.to_string())
        }
    }
}

fn view_text(v: &PersonView) -> String {
    let mut text = format!(
        "person {}  household {}  role {}\nname:      {}\nid number: {}\nborn {}  joined {}\n",
        v.person,
        v.household,
        v.role.as_str(),
        v.name,
        v.id_number,
        v.birth_date,
        v.joined_on
    );
    if let Some((date, seq)) = v.left {
        text.push_str(&format!("left the household {date} (seq {seq})\n"));
    }
    if let Some((date, seq)) = v.died {
        text.push_str(&format!("died {date} (seq {seq})\n"));
    }
    if let Some(seq) = v.erased {
        text.push_str(&format!("personal data erased (seq {seq})\n"));
    }
    if let Some(seq) = v.reveal_seq {
        text.push_str(&format!("shown in clear; recorded as seq {seq}\n"));
    }
    text
}
