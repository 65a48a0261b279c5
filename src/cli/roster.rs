//! `fundtrail roster --month YYYY-MM`: the month's public roster (公示) as a table, CSV or
//! JSON. The workflow is `runs::roster`; this only parses and renders.

use clap::Args;
use fundtrail_projections::format_fen;
use serde_json::{json, Value};

use super::read::{label, program_name, report_output, Lang, ReportArgs};
use super::{exit, failure, open, Cli, Failure, Output};
use crate::model::domain::Month;
use crate::model::render::Align;
use crate::runs::roster::{self, Counted, Roster, RosterError, RosterLine, NO_PERSONS_RECORDED};

#[derive(Debug, Args)]
pub struct RosterArgs {
    /// The month, YYYY-MM.
    #[arg(long, value_parser = super::run::parse_month)]
    pub month: Month,
    #[command(flatten)]
    pub report: ReportArgs,
}

pub(super) fn run(cli: &Cli, args: &RosterArgs) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let roster = roster::roster(&ledger, args.month).map_err(roster_failure)?;
    let lang = args.report.lang;
    let cells = roster
        .lines
        .iter()
        .map(|l| line_cells(l, lang))
        .chain([total_cells(&roster, lang)]);
    let mut out = report_output(
        &columns(lang),
        cells.collect(),
        roster_json(&roster),
        &args.report,
    );
    if !args.report.csv {
        out.text = format!("{}\n{}", heading(&roster, lang), out.text);
    }
    Ok(out)
}

fn roster_failure(err: RosterError) -> Failure {
    match err {
        RosterError::Ledger(e) => failure(e, None),
        // A vault that does not open with this ledger's key, or a log naming what the
        // ledger does not know: an integrity problem, as a corrupt ledger is.
        RosterError::Vault(_) | RosterError::Damaged { .. } => {
            Failure::new(exit::VERIFY_FAILED, err.to_string())
        }
    }
}

fn heading(roster: &Roster, lang: Lang) -> String {
    let count = roster.lines.len();
    let total = format_fen(roster.total_fen);
    match lang {
        Lang::Zh => format!(
            "{} 公示名单：{count} 笔，合计 {total} 元（姓名已脱敏）",
            roster.month
        ),
        Lang::En => format!(
            "Roster for {}: {count} payment(s), total {total} (names masked)",
            roster.month
        ),
    }
}

fn columns(lang: Lang) -> [(&'static str, Align); 5] {
    [
        (label(lang, "社区", "community"), Align::Left),
        (label(lang, "户", "household"), Align::Left),
        (label(lang, "姓名", "persons"), Align::Left),
        (label(lang, "项目", "program"), Align::Left),
        (label(lang, "金额(元)", "amount"), Align::Right),
    ]
}

fn line_cells(line: &RosterLine, lang: Lang) -> Vec<String> {
    vec![
        line.community.clone(),
        line.household.clone(),
        persons_cell(&line.counted, lang),
        program_name(&line.program, lang),
        format_fen(line.amount_fen),
    ]
}

fn persons_cell(counted: &Counted, lang: Lang) -> String {
    match counted {
        Counted::NoPersonsRecorded => NO_PERSONS_RECORDED.to_owned(),
        Counted::Persons(names) if names.is_empty() => label(lang, "（无）", "(none)").to_owned(),
        Counted::Persons(names) => names.join(label(lang, "、", ", ")),
    }
}

fn total_cells(roster: &Roster, lang: Lang) -> Vec<String> {
    vec![
        label(lang, "合计", "total").to_owned(),
        String::new(),
        String::new(),
        String::new(),
        format_fen(roster.total_fen),
    ]
}

fn roster_json(roster: &Roster) -> Value {
    json!({
        "month": roster.month.to_string(),
        "payments": roster.lines.iter().map(line_json).collect::<Vec<_>>(),
        "count": roster.lines.len(),
        "total": format_fen(roster.total_fen),
    })
}

fn line_json(line: &RosterLine) -> Value {
    let (recorded, persons) = match &line.counted {
        Counted::NoPersonsRecorded => (false, Vec::new()),
        Counted::Persons(names) => (true, names.clone()),
    };
    json!({
        "seq": line.seq.get(),
        "date": line.date.to_string(),
        "reference": line.reference,
        "subdistrict": line.subdistrict,
        "community": line.community,
        "household_id": line.household,
        "program": line.program,
        "amount": format_fen(line.amount_fen),
        "persons_recorded": recorded,
        "persons": persons,
    })
}
