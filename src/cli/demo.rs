//! `fundtrail demo`: the README's main command. Builds the demo ledger, verifies it, and
//! prints the district report with the report's published figures beside the ledger's.

use std::path::Path;

use fundtrail_projections::{format_fen, GroupKey, TotalsQuery};
use serde_json::json;

use super::read::{check_read_models, read_failure, render_totals, Key, Lang, ReportArgs};
use super::{exit, failure, head_json, Cli, Failure, Output};
use crate::demo;
use crate::demo::data::DEMO_FIGURES;
use crate::ledger::readmodels::ReadSide;
use crate::ledger::LedgerError;
use crate::model::render::{Align, Table};
use crate::people::roll::PeopleError;

pub(super) fn run(cli: &Cli, dir: &Path) -> Result<Output, Failure> {
    if cli.ledger_given {
        return Err(Failure::new(
            exit::BAD_INPUT,
            format!(
                "the demo builds its own ledger and does not use --ledger, so that it never \
                 writes to a real one; run `fundtrail demo {}` to build it there",
                cli.ledger.display()
            ),
        ));
    }
    let outcome = demo::build(dir).map_err(|e| demo_failure(e, dir))?;
    let ledger = &outcome.ledger;
    let mut side = ReadSide::open(ledger.view()).map_err(read_failure)?;
    side.save(ledger, true).map_err(read_failure)?;
    let head = ledger.view().head();
    let chain_ok = outcome.verify.fault.is_none();
    let models_ok = check_read_models(ledger);
    let mut text = format!(
        "demo ledger: {} (inputs in {})\nhouseholds: {} appended, {} already present\nevents:     {} appended, {} already present\n",
        dir.display(),
        outcome.input_dir.display(),
        outcome.households.appended,
        outcome.households.duplicates,
        outcome.events.appended,
        outcome.events.duplicates,
    );
    text.push_str(&format!(
        "persons:    {} appended, {} already present ({} on the roll; names and identity \
         numbers only in the encrypted vault, shown masked)\n",
        outcome.persons.appended,
        outcome.persons.duplicates,
        ledger.people().len(),
    ));
    text.push_str(&format!(
        "checkpoint: {} size {} root {}\n",
        outcome.checkpoint.checkpoint.origin,
        outcome.checkpoint.checkpoint.size,
        hex::encode(outcome.checkpoint.checkpoint.root)
    ));
    text.push_str(&match (&outcome.verify.fault, &models_ok) {
        (None, Ok(())) => format!(
            "verify:     ok, {} events, head seq {} {}, {} checkpoint(s)\n\n",
            outcome.verify.checked, head.size, head.hash, outcome.verify.checkpoints
        ),
        (Some(fault), _) => format!("verify:     FAILED: {fault}\n\n"),
        (None, Err(reason)) => format!("verify:     FAILED: {reason}\n\n"),
    });
    let by = [Key::Subdistrict, Key::Program];
    let query = TotalsQuery {
        by: vec![GroupKey::Subdistrict, GroupKey::Program],
        ..TotalsQuery::default()
    };
    let report = ReportArgs {
        lang: Lang::Zh,
        csv: false,
    };
    text.push_str("盘龙区特殊家庭扶助资金 2015-2018: by sub-district and program\n");
    text.push_str(&render_totals(&side.totals(&query), &by, &report).text);
    text.push_str("\nThe report's figures beside the ledger's (live payments, after reversals):\n");
    text.push_str(&figures_table(&side));
    let ok = chain_ok && models_ok.is_ok();
    let json = json!({
        "ledger": dir.display().to_string(),
        "appended": outcome.households.appended + outcome.events.appended + outcome.persons.appended,
        "persons": ledger.people().len(),
        "verified": ok,
        "head": head_json(&head),
        "checkpoint": crate::ledger::answers::checkpoint_json(&outcome.checkpoint),
    });
    let code = if ok { exit::OK } else { exit::VERIFY_FAILED };
    Ok(Output { code, text, json })
}

/// Per program: the published figure and what the ledger's read models say.
fn figures_table(side: &ReadSide) -> String {
    let rows = side.totals(&TotalsQuery {
        by: vec![GroupKey::Program],
        ..TotalsQuery::default()
    });
    let mut table = Table::new(&[
        ("program", Align::Left),
        ("report amount", Align::Right),
        ("ledger amount", Align::Right),
        ("report persons", Align::Right),
        ("ledger persons", Align::Right),
        ("payments", Align::Right),
    ]);
    for figure in &DEMO_FIGURES.programs {
        let row = rows
            .iter()
            .find(|r| r.program.as_deref() == Some(figure.program));
        table.row(vec![
            figure.program.to_string(),
            format_fen(figure.amount_fen),
            row.map_or("-".into(), |r| format_fen(r.net_fen)),
            figure.persons.to_string(),
            row.map_or("-".into(), |r| r.person_times.to_string()),
            row.map_or("-".into(), |r| r.payments.to_string()),
        ]);
    }
    table.render()
}

/// As [`failure`]; a demo ledger left by a version with another store layout is only ever
/// the bundled data, so the message says how to rebuild it.
fn demo_failure(err: PeopleError, dir: &Path) -> Failure {
    let err = match err {
        PeopleError::Ledger(e) => e,
        other => return super::people::people_failure(other, None),
    };
    let layout = matches!(err, LedgerError::Layout { .. });
    let failure = failure(err, None);
    if !layout {
        return failure;
    }
    Failure::new(
        failure.code,
        format!(
            "{}. The demo ledger holds only the bundled data: remove {} and run `fundtrail demo` again to rebuild it.",
            failure.message,
            dir.display()
        ),
    )
}
