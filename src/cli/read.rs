//! The read commands for supervisors and auditors: totals, household, funds, rebuild.
//! Answers come from the maintained read models.

use clap::{Args, ValueEnum};
use fundtrail_projections::{
    format_fen, GroupKey, HouseholdBalance, TotalsQuery, TotalsRow, TrailEntry, YearMonth,
};
use serde_json::{json, Value};

use super::{exit, open, open_for_queries, Cli, Failure, Output};
use crate::ledger::readmodels::{
    household_trail, read_funds, read_household, read_totals, ReadSide, ReadSideError,
};
use crate::ledger::{
    AppendContext, AppendSummary, Ledger, LedgerError, RowSource, SignedCheckpoint,
};
use crate::model::domain::{HouseholdId, PROGRAMS};
use crate::model::render::{Align, Table};
use crate::people::roll::{self, PeopleError, PersonView};
use crate::runs::household::HouseholdEvents;

/// Output language of table labels and program names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Zh,
    En,
}

/// Options shared by the report commands.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Language of labels and program names in tables and CSV.
    #[arg(long, value_enum, default_value_t = Lang::Zh)]
    pub lang: Lang,
    /// Print CSV (UTF-8 with a byte order mark, for spreadsheet programs) instead of a table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

#[derive(Debug, Args)]
pub struct TotalsArgs {
    /// Group by a comma list of: subdistrict, community, program, year, month.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub by: Vec<Key>,
    /// Only this year.
    #[arg(long)]
    pub year: Option<i32>,
    /// Only this month, YYYY-MM.
    #[arg(long, value_parser = parse_month)]
    pub month: Option<YearMonth>,
    /// Only this sub-district.
    #[arg(long)]
    pub subdistrict: Option<String>,
    /// Only this program code.
    #[arg(long, value_parser = super::parse_program)]
    pub program: Option<String>,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Key {
    Subdistrict,
    Community,
    Program,
    Year,
    Month,
}

#[derive(Debug, Args)]
pub struct HouseholdArgs {
    /// The household id.
    pub id: String,
    /// Print the household's events with an inclusion proof each against the latest
    /// checkpoint, as a file for `fundtrail audit verify-trail`.
    #[arg(long, conflicts_with = "csv")]
    pub proofs: bool,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Count the support allowance entitlement through this month, YYYY-MM (default: the
    /// current month).
    #[arg(long, value_parser = super::run::parse_month)]
    pub through: Option<crate::model::domain::Month>,
}

pub use crate::ledger::answers::parse_month;

pub(super) fn read_failure(err: ReadSideError) -> Failure {
    match err {
        ReadSideError::Ledger(e) => super::failure(e, None),
        other => Failure::new(
            exit::VERIFY_FAILED,
            format!("{other} (`fundtrail rebuild` recomputes them from the log)"),
        ),
    }
}

pub(super) fn program_name(code: &str, lang: Lang) -> String {
    PROGRAMS
        .iter()
        .find(|p| p.code == code)
        .map_or(code.to_string(), |p| match lang {
            Lang::Zh => p.name_zh.to_string(),
            Lang::En => p.name_en.to_string(),
        })
}

pub(super) fn label(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

pub(super) fn totals(cli: &Cli, args: &TotalsArgs) -> Result<Output, Failure> {
    let by: Vec<GroupKey> = args.by.iter().map(|k| group_key(*k)).collect();
    crate::ledger::answers::check_group_keys(&by)
        .map_err(|e| Failure::new(exit::BAD_INPUT, format!("--by: {e}")))?;
    let ledger = open_for_queries(cli)?;
    let query = TotalsQuery {
        by,
        year: args.year,
        month: args.month,
        subdistrict: args.subdistrict.clone(),
        program: args.program.clone(),
    };
    // The cube records of the query's shape only; the findings are not read.
    let rows = read_totals(ledger.view(), &query).map_err(read_failure)?;
    Ok(render_totals(&rows, &args.by, &args.report))
}

fn group_key(key: Key) -> GroupKey {
    match key {
        Key::Subdistrict => GroupKey::Subdistrict,
        Key::Community => GroupKey::Community,
        Key::Program => GroupKey::Program,
        Key::Year => GroupKey::Year,
        Key::Month => GroupKey::Month,
    }
}

/// One totals row as cells, in the order of `by`, then the four measures and recoveries.
fn totals_cells(row: &TotalsRow, by: &[Key], lang: Lang) -> Vec<String> {
    let mut cells: Vec<String> = by
        .iter()
        .map(|key| match key {
            Key::Subdistrict => row.subdistrict.clone().unwrap_or_default(),
            Key::Community => row.community.clone().unwrap_or_default(),
            Key::Program => row
                .program
                .as_deref()
                .map_or(String::new(), |p| program_name(p, lang)),
            Key::Year => row.year.map_or(String::new(), |y| y.to_string()),
            Key::Month => row.month.map_or(String::new(), |m| m.to_string()),
        })
        .collect();
    cells.push(format_fen(row.net_fen));
    cells.push(row.payments.to_string());
    cells.push(row.households.to_string());
    cells.push(row.person_times.to_string());
    cells.push(format_fen(row.recovered_fen));
    cells
}

fn key_label(key: Key, lang: Lang) -> &'static str {
    match key {
        Key::Subdistrict => label(lang, "街道", "subdistrict"),
        Key::Community => label(lang, "社区", "community"),
        Key::Program => label(lang, "项目", "program"),
        Key::Year => label(lang, "年", "year"),
        Key::Month => label(lang, "月", "month"),
    }
}

fn measure_labels(lang: Lang) -> [&'static str; 5] {
    [
        label(lang, "金额(元)", "amount"),
        label(lang, "笔数", "payments"),
        label(lang, "户数", "households"),
        label(lang, "人次", "persons"),
        label(lang, "追缴(元)", "recovered"),
    ]
}

pub(super) fn render_totals(rows: &[TotalsRow], by: &[Key], report: &ReportArgs) -> Output {
    let lang = report.lang;
    let mut columns: Vec<(&str, Align)> = by
        .iter()
        .map(|k| (key_label(*k, lang), Align::Left))
        .collect();
    columns.extend(measure_labels(lang).map(|l| (l, Align::Right)));
    let cells: Vec<Vec<String>> = rows.iter().map(|r| totals_cells(r, by, lang)).collect();
    let keys: Vec<GroupKey> = by.iter().map(|k| group_key(*k)).collect();
    let json = crate::ledger::answers::totals_rows_json(rows, &keys);
    report_output(&columns, cells, json, report)
}

/// A table, CSV or JSON, as the options ask.
pub(super) fn report_output(
    columns: &[(&str, Align)],
    cells: Vec<Vec<String>>,
    json: Value,
    report: &ReportArgs,
) -> Output {
    let text = if report.csv {
        csv_text(columns, &cells)
    } else if cells.is_empty() {
        label(report.lang, "（无数据）\n", "(no rows)\n").to_string()
    } else {
        let mut table = Table::new(columns);
        cells.into_iter().for_each(|row| table.row(row));
        table.render()
    };
    Output::ok(text, json)
}

/// CSV with a UTF-8 byte order mark, so spreadsheet programs read the Chinese text.
fn csv_text(columns: &[(&str, Align)], cells: &[Vec<String>]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let written = writer
        .write_record(&header)
        .and_then(|()| cells.iter().try_for_each(|row| writer.write_record(row)));
    written.expect("writing CSV into memory cannot fail");
    let bytes = writer
        .into_inner()
        .expect("flushing CSV into memory cannot fail");
    format!("\u{feff}{}", String::from_utf8_lossy(&bytes))
}

pub(super) fn funds(cli: &Cli, report: &ReportArgs) -> Result<Output, Failure> {
    let ledger = open_for_queries(cli)?;
    let lang = report.lang;
    let rows = read_funds(ledger.view()).map_err(read_failure)?;
    let columns = [
        (label(lang, "项目", "program"), Align::Left),
        (label(lang, "已拨付(元)", "allocated"), Align::Right),
        (label(lang, "已支出(元)", "disbursed"), Align::Right),
        (label(lang, "已追缴(元)", "recovered"), Align::Right),
        (label(lang, "结余(元)", "remaining"), Align::Right),
    ];
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                program_name(&r.program, lang),
                format_fen(r.allocated_fen),
                format_fen(r.disbursed_fen),
                format_fen(r.recovered_fen),
                format_fen(r.remaining_fen),
            ]
        })
        .collect();
    let json = crate::ledger::answers::funds_json(&rows);
    Ok(report_output(&columns, cells, json, report))
}

pub(super) fn household(cli: &Cli, args: &HouseholdArgs) -> Result<Output, Failure> {
    HouseholdId::parse(&args.id)
        .map_err(|e| Failure::new(exit::BAD_INPUT, format!("household id: {e}")))?;
    let ledger = open_for_queries(cli)?;
    // The household's shard of the read models only; the findings are not read.
    let balance = read_household(ledger.view(), &args.id).map_err(read_failure)?;
    let Some(balance) = balance else {
        return Err(Failure::new(
            exit::BAD_INPUT,
            format!("household {} is not enrolled", args.id),
        ));
    };
    if args.proofs {
        let doc = crate::export::evidence::trail(ledger.view(), &args.id)
            .map_err(|e| super::failure(e, None))?;
        let json = serde_json::to_value(doc).expect("a trail document is plain JSON");
        let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
        return Ok(Output::ok(text, json));
    }
    let lang = args.report.lang;
    if args.report.csv {
        // CSV shows the balances alone, and excludes --json: the trail, the allowance and
        // the persons are not read for it.
        return Ok(report_output(
            &balance_columns(lang),
            balance_cells(&balance, lang),
            Value::Null,
            &args.report,
        ));
    }
    let entries = household_trail(ledger.view(), &args.id).map_err(read_failure)?;
    let events = HouseholdEvents::read(&ledger, &args.id).map_err(super::run::batch_failure)?;
    let mut json = crate::ledger::answers::household_json(&balance, &entries);
    let (allowance_text, allowance_json) =
        super::run::household_allowance(&ledger, &events, args.through)?;
    json["support_allowance_entitlement"] = allowance_json;
    let persons = household_persons(&ledger, &events, &args.id)?;
    json["persons"] = Value::Array(persons.iter().map(PersonView::to_json).collect());
    let mut text = household_text(&balance, &entries, lang);
    text.push_str(&persons_text(&persons));
    text.push_str(&allowance_text);
    Ok(Output::ok(text, json))
}

/// The household's persons, masked, from its own people registry; none before any is
/// recorded (and then no vault is opened, so a ledger without persons reads as it did).
fn household_persons(
    ledger: &Ledger,
    events: &HouseholdEvents,
    id: &str,
) -> Result<Vec<PersonView>, Failure> {
    if !events.people().has_persons(id) {
        return Ok(Vec::new());
    }
    let fail = |e: PeopleError| Failure::new(exit::VERIFY_FAILED, e.to_string());
    let vault = roll::open_vault(ledger).map_err(fail)?;
    roll::household_persons_in(ledger, &vault, events.people(), id).map_err(fail)
}

/// One line a person: id, role, masked name and number, and what ended their count.
fn persons_text(persons: &[PersonView]) -> String {
    let mut text = String::new();
    for p in persons {
        let mut line = format!(
            "person {}  {}  {}  {}  born {}",
            p.person,
            p.role.as_str(),
            p.name,
            p.id_number,
            p.birth_date
        );
        if let Some((date, _)) = p.died {
            line.push_str(&format!("  died {date}"));
        }
        if let Some((date, _)) = p.left {
            line.push_str(&format!("  left {date}"));
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}

fn balance_columns(lang: Lang) -> Vec<(&'static str, Align)> {
    vec![
        (label(lang, "项目", "program"), Align::Left),
        (label(lang, "金额(元)", "amount"), Align::Right),
        (label(lang, "笔数", "payments"), Align::Right),
        (label(lang, "人次", "persons"), Align::Right),
    ]
}

fn balance_cells(balance: &HouseholdBalance, lang: Lang) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = balance
        .programs
        .iter()
        .map(|p| {
            vec![
                program_name(&p.program, lang),
                format_fen(p.tally.net_fen),
                p.tally.payments.to_string(),
                p.tally.person_times.to_string(),
            ]
        })
        .collect();
    rows.push(vec![
        label(lang, "合计", "total").to_string(),
        format_fen(balance.total.net_fen),
        balance.total.payments.to_string(),
        balance.total.person_times.to_string(),
    ]);
    rows
}

fn household_text(balance: &HouseholdBalance, entries: &[TrailEntry], lang: Lang) -> String {
    let e = &balance.enrollment;
    let mut text = format!(
        "{} {} {} {} {} {}\n\n",
        balance.household, e.subdistrict, e.community, e.category, e.members, e.enrolled_on
    );
    let mut table = Table::new(&balance_columns(lang));
    balance_cells(balance, lang)
        .into_iter()
        .for_each(|r| table.row(r));
    text.push_str(&table.render());
    text.push('\n');
    text.push_str(&receivables_text(balance, lang));
    let mut trail_table = Table::new(&[
        ("seq", Align::Right),
        (label(lang, "日期", "date"), Align::Left),
        (label(lang, "类型", "type"), Align::Left),
        (label(lang, "项目", "program"), Align::Left),
        (label(lang, "金额(元)", "amount"), Align::Right),
        (label(lang, "凭证号", "reference"), Align::Left),
        (label(lang, "说明", "note"), Align::Left),
    ]);
    for entry in entries {
        trail_table.row(vec![
            entry.seq.to_string(),
            entry.date.to_string(),
            entry.kind.to_string(),
            entry
                .program
                .as_deref()
                .map_or(String::new(), |p| program_name(p, lang)),
            format_fen(entry.amount_fen),
            entry.reference.clone().unwrap_or_default(),
            trail_note(entry),
        ]);
    }
    text.push_str(&trail_table.render());
    text
}

/// The household's receivables (追缴) per program, when a decision set any.
fn receivables_text(balance: &HouseholdBalance, lang: Lang) -> String {
    if balance.receivables.is_empty() {
        return String::new();
    }
    let mut table = Table::new(&[
        (label(lang, "追缴项目", "receivable"), Align::Left),
        (label(lang, "应追缴(元)", "opened"), Align::Right),
        (label(lang, "已追缴(元)", "recovered"), Align::Right),
        (label(lang, "未追缴(元)", "open"), Align::Right),
    ]);
    for r in &balance.receivables {
        table.row(vec![
            program_name(&r.program, lang),
            format_fen(r.opened_fen),
            format_fen(r.recovered_fen),
            format_fen(r.open_fen),
        ]);
    }
    format!("{}\n", table.render())
}

fn trail_note(entry: &TrailEntry) -> String {
    let mut note = entry.reason.clone().unwrap_or_else(|| entry.memo.clone());
    if let Some(finding) = &entry.finding {
        note.push_str(&format!(" [finding {finding}]"));
    }
    if let Some(by) = entry.reversed_by {
        note.push_str(&format!(" [reversed by #{by}]"));
    }
    if let Some(target) = entry.reverses {
        note.push_str(&format!(" [reverses #{target}]"));
    }
    note.trim().to_string()
}

pub(super) fn rebuild(cli: &Cli) -> Result<Output, Failure> {
    let ledger = open(cli)?;
    let mut side = ReadSide::rebuild(ledger.view()).map_err(read_failure)?;
    side.save(&ledger, true).map_err(read_failure)?;
    let seq = side.models().applied().map_or(0, |a| a.seq);
    Ok(Output::ok(
        format!("rebuilt the read models and the findings from genesis through seq {seq}\n"),
        json!({ "rebuilt_through": seq }),
    ))
}

/// Brings the maintained read models up to the head and saves them (after an append). The
/// append itself is already durable, so a failure here is a warning: the next read catches up.
pub(super) fn refresh(ledger: &Ledger) -> Option<ReadSide> {
    let refreshed = ReadSide::open(ledger.view()).and_then(|mut side| {
        side.save(ledger, true)?;
        Ok(side)
    });
    match refreshed {
        Ok(side) => Some(side),
        Err(e) => {
            eprintln!("warning: the read models were not updated: {e}");
            None
        }
    }
}

/// Appends every row of `source` or none, signs a checkpoint, and brings the read models
/// and findings to the new head: a large import folds its events as it writes them, and
/// the snapshots are saved once the append is durable. As after [`refresh`], a read side
/// that could not be updated is a warning; the append stands.
pub(super) fn append_signed(
    ledger: &mut Ledger,
    source: &mut dyn RowSource,
    ctx: &AppendContext,
) -> Result<(AppendSummary, Option<SignedCheckpoint>), LedgerError> {
    let appended = ReadSide::append_signed(ledger, source, ctx)?;
    if let Err(e) = &appended.read_side {
        eprintln!("warning: the read models were not updated: {e}");
    }
    Ok((appended.summary, appended.checkpoint))
}

/// Compares the stored read models and findings with a rebuild from genesis, at each
/// snapshot's seq, holding one state.
pub(super) fn check_read_models(ledger: &Ledger) -> Result<(), String> {
    crate::ledger::readmodels::verify_against_rebuild(ledger.view()).map_err(|e| e.to_string())
}
