//! Matching an external death register (police, hospitals, funeral homes) against the
//! roll by identity: each matched person not yet recorded dead gets a `person_died` event
//! whose reference names the register and the line; a person recorded dead on another date
//! is a conflict, reported and not changed; rows that match nobody are counted and never
//! stored (the register's names and numbers never enter the ledger). The report lists the
//! households whose paid months now exceed their due, the recovery work an auditor takes up.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;

use crate::keys::identity::{IdentityHash, IdentityKey};
use crate::keys::SigningKeyFile;
use crate::ledger::import::{
    read_values, values_from_bytes, FieldResult, Fields, ImportKind, Parsed,
};
use crate::ledger::{AppendContext, Ledger, LedgerError, RowRejection, SignedCheckpoint};
use crate::model::domain::{
    check_text, parse_date, Command, HouseholdId, LifeEvent, LifeEventKind, Money, Month,
    Reference, Seq, MAX_REFERENCE_CHARS,
};
use crate::model::person::PersonId;
use crate::people::identity::IdNumber;
use crate::people::roll::PeopleError;
use crate::runs::batch;

/// Characters of a register's name: it becomes part of each reference
/// (`<source>:<line>`), which must stay within [`MAX_REFERENCE_CHARS`] for any line.
pub const MAX_SOURCE_CHARS: usize = 32;

/// Characters a line number takes in a reference at most (a register of at most
/// `MAX_IMPORT_ROWS` rows).
const MAX_LINE_DIGITS: usize = 10;

/// One row of a register, as far as matching needs it: the name is read and dropped.
pub struct DeathRow {
    identity: IdentityHash,
    date: NaiveDate,
    source_ref: String,
}

/// A person recorded dead on another date than the register's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub line: u64,
    pub person: String,
    pub recorded: NaiveDate,
    /// The event that recorded it; none when an earlier row of the same register did.
    pub recorded_seq: Option<Seq>,
    pub register: NaiveDate,
}

/// A household paid more support allowance than it was due, once the deaths are recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overpaid {
    pub household: HouseholdId,
    /// Paid minus due, summed over the months paid beyond their due.
    pub amount: Money,
    /// The months whose payment exceeds their due.
    pub months: Vec<Month>,
}

/// What a register import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeathsReport {
    pub read: u64,
    pub matched: u64,
    pub recorded: u64,
    /// Matched persons already recorded dead on the same date (a register imported again).
    pub already: u64,
    pub conflicts: Vec<Conflict>,
    pub unmatched: u64,
    pub overpaid: Vec<Overpaid>,
    pub signed: Option<SignedCheckpoint>,
}

/// Imports a death register file under the name `source`.
pub fn import_deaths(
    ledger: &mut Ledger,
    path: &Path,
    source: &str,
    ctx: &AppendContext,
) -> Result<DeathsReport, PeopleError> {
    let key = identity_key(ledger.view().dir())?;
    let rows = read_values(path, ImportKind::Deaths, |f| parse_death(f, &key))?;
    record_deaths(ledger, rows, source, ctx)
}

/// The rows of a death register sent as a CSV text (over HTTP).
pub fn register_rows(
    ledger_dir: &Path,
    bytes: &[u8],
) -> Result<Vec<Parsed<DeathRow>>, PeopleError> {
    let key = identity_key(ledger_dir)?;
    Ok(values_from_bytes(bytes, ImportKind::Deaths, |f| {
        parse_death(f, &key)
    })?)
}

fn identity_key(ledger_dir: &Path) -> Result<IdentityKey, PeopleError> {
    Ok(SigningKeyFile::read(ledger_dir)
        .map_err(LedgerError::from)?
        .identity_key())
}

/// Matches a register's parsed rows (all of them, or none if any row is bad) and appends
/// the new deaths, as [`import_deaths`].
pub fn record_deaths(
    ledger: &mut Ledger,
    rows: Vec<Parsed<DeathRow>>,
    source: &str,
    ctx: &AppendContext,
) -> Result<DeathsReport, PeopleError> {
    let source = check_source(source)?;
    let rows = rows_or_rejections(rows)?;
    let mut report = DeathsReport {
        read: rows.len() as u64,
        ..DeathsReport::default()
    };
    let commands = match_rows(ledger, &rows, &source, &mut report);
    if !commands.is_empty() {
        let households: Vec<String> = commands.iter().map(|(_, h)| h.clone()).collect();
        let mut commands: Vec<Command> = commands.into_iter().map(|(c, _)| c).collect();
        let (summary, signed) = ledger.append_signed(&mut commands, ctx)?;
        report.recorded = summary.appended;
        report.signed = signed;
        let today = chrono::DateTime::from_timestamp_micros(ctx.now_us)
            .map_or_else(|| chrono::Utc::now().date_naive(), |t| t.date_naive());
        report.overpaid = overpaid(ledger, households, Month::of(today))?;
    }
    Ok(report)
}

/// The register's name: it goes into references, so it is short and has no colon.
fn check_source(source: &str) -> Result<String, PeopleError> {
    let ok = !source.is_empty()
        && source.chars().count() <= MAX_SOURCE_CHARS
        && source
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    if ok && MAX_SOURCE_CHARS + 1 + MAX_LINE_DIGITS <= MAX_REFERENCE_CHARS {
        return Ok(source.to_owned());
    }
    Err(PeopleError::BadSource(format!(
        "--source {source:?}: 1 to {MAX_SOURCE_CHARS} letters, digits, '-' or '_' (it names \
         the register in each death's reference)"
    )))
}

fn parse_death(f: &Fields, key: &IdentityKey) -> FieldResult<DeathRow> {
    let number = IdNumber::parse(f.get("id_number")?).map_err(|e| ("id_number", e.to_string()))?;
    // The name is checked as text and dropped: matching is by identity only.
    check_text(f.get("name")?.trim(), false).map_err(|e| ("name", e.to_string()))?;
    let date =
        parse_date(f.get("date_of_death")?.trim()).map_err(|e| ("date_of_death", e.to_string()))?;
    let source_ref = check_text(f.get("source_ref")?.trim(), false)
        .map_err(|e| ("source_ref", e.to_string()))?;
    Ok(DeathRow {
        identity: key.identity_hash(&number),
        date,
        source_ref,
    })
}

/// Every row, or every reason a row could not be read (the import is atomic).
fn rows_or_rejections(rows: Vec<Parsed<DeathRow>>) -> Result<Vec<(u64, DeathRow)>, PeopleError> {
    let mut good = Vec::with_capacity(rows.len());
    let mut rejections = Vec::new();
    let mut total = 0;
    for (line, row) in rows {
        match row {
            Ok(row) => good.push((line, row)),
            Err((field, reason)) => {
                total += 1;
                if rejections.len() < crate::ledger::MAX_REPORTED_REJECTIONS {
                    rejections.push(RowRejection {
                        line,
                        field,
                        reason,
                    });
                }
            }
        }
    }
    if total > 0 {
        return Err(LedgerError::Rejected { rejections, total }.into());
    }
    Ok(good)
}

/// The `person_died` commands for matched persons not yet dead, with their households;
/// counts the rest in `report`. A person listed twice is recorded once, from the first.
fn match_rows(
    ledger: &Ledger,
    rows: &[(u64, DeathRow)],
    source: &str,
    report: &mut DeathsReport,
) -> Vec<(Command, String)> {
    let people = ledger.people();
    let mut planned: HashMap<String, NaiveDate> = HashMap::new();
    let mut commands = Vec::new();
    for (line, row) in rows {
        let Some(id) = people.holder_of(row.identity.as_bytes()) else {
            report.unmatched += 1;
            continue;
        };
        report.matched += 1;
        let Some(person) = people.person(id) else {
            continue;
        };
        let recorded = person.died.map(|d| (d.date, Some(d.seq)));
        let earlier = planned.get(id).map(|date| (*date, None));
        match recorded.or(earlier) {
            Some((date, _)) if date == row.date => report.already += 1,
            Some((date, seq)) => report.conflicts.push(Conflict {
                line: *line,
                person: id.to_owned(),
                recorded: date,
                recorded_seq: seq,
                register: row.date,
            }),
            None => {
                planned.insert(id.to_owned(), row.date);
                commands.push((
                    death_command(id, row, source, *line),
                    person.household.clone(),
                ));
            }
        }
    }
    commands
}

fn death_command(person: &str, row: &DeathRow, source: &str, line: u64) -> Command {
    let memo = match row.source_ref.as_str() {
        "" => format!("death register {source}"),
        r => format!("death register {source}: {r}"),
    };
    Command::RecordLifeEvent(LifeEvent {
        kind: LifeEventKind::PersonDied,
        person: Some(PersonId::parse(person).expect("a recorded person's id is valid")),
        household: None,
        date: row.date,
        reference: Reference::parse(&format!("{source}:{line}"))
            .expect("a checked source and a line number make a valid reference"),
        memo: check_text(&memo, false).unwrap_or_else(|_| format!("death register {source}")),
    })
}

/// The report as JSON, for `--json` and the API: counts, conflicts and overpaid
/// households; never a name or a number.
pub fn report_json(r: &DeathsReport) -> serde_json::Value {
    serde_json::json!({
        "read": r.read,
        "matched": r.matched,
        "recorded": r.recorded,
        "already_recorded": r.already,
        "unmatched": r.unmatched,
        "conflicts": r.conflicts.iter().map(|c| serde_json::json!({
            "line": c.line,
            "person_id": c.person,
            "recorded": c.recorded.to_string(),
            "recorded_seq": c.recorded_seq.map(|s| s.get()),
            "register": c.register.to_string(),
        })).collect::<Vec<_>>(),
        "overpaid": r.overpaid.iter().map(|o| serde_json::json!({
            "household_id": o.household.as_str(),
            "amount": o.amount.to_string(),
            "months": o.months.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "checkpoint": r.signed.as_ref().map(crate::ledger::answers::checkpoint_json),
    })
}

/// The households among `households` with months, through `through`, whose support
/// allowance paid exceeds their due, with those months and the sum of the excess.
fn overpaid(
    ledger: &Ledger,
    mut households: Vec<String>,
    through: Month,
) -> Result<Vec<Overpaid>, PeopleError> {
    households.sort();
    households.dedup();
    let mut out = Vec::new();
    for e in batch::entitlements(ledger, &households, through)? {
        let months: Vec<_> = e.months.iter().filter(|m| m.paid > m.due).collect();
        let excess = months
            .iter()
            .map(|m| m.paid.fen() - m.due.fen())
            .sum::<i64>();
        if excess > 0 {
            out.push(Overpaid {
                household: e.household.clone(),
                amount: Money::from_fen(excess),
                months: months.iter().map(|m| m.month).collect(),
            });
        }
    }
    Ok(out)
}
