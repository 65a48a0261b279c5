//! The JSON shapes of the read answers: totals, fund balances, a household's balances and
//! trail. One definition, so `fundtrail ... --json` and the HTTP API answer alike.

use fundtrail_projections::{
    format_fen, FundRow, GroupKey, HouseholdBalance, TotalsRow, TrailEntry, YearMonth,
};
use serde_json::{json, Map, Value};

use crate::model::domain::Money;
use crate::runs::batch::{IndexUse, Reconciliation};
use crate::runs::reconcile::Difference;

/// One totals row: the grouped keys (in the order of `by`), then the four measures of the
/// live payments, then what was recovered (追缴) in the group: beside them, never netted.
pub fn totals_json(row: &TotalsRow, by: &[GroupKey]) -> Value {
    let mut m = Map::new();
    for key in by {
        let (name, value) = match key {
            GroupKey::Subdistrict => ("subdistrict", json!(row.subdistrict)),
            GroupKey::Community => ("community", json!(row.community)),
            GroupKey::Program => ("program", json!(row.program)),
            GroupKey::Year => ("year", json!(row.year)),
            GroupKey::Month => ("month", json!(row.month.map(|m| m.to_string()))),
        };
        m.insert(name.into(), value);
    }
    m.insert("amount".into(), json!(format_fen(row.net_fen)));
    m.insert("payments".into(), json!(row.payments));
    m.insert("households".into(), json!(row.households));
    m.insert("persons".into(), json!(row.person_times));
    m.insert("recovered".into(), json!(format_fen(row.recovered_fen)));
    Value::Object(m)
}

pub fn totals_rows_json(rows: &[TotalsRow], by: &[GroupKey]) -> Value {
    Value::Array(rows.iter().map(|r| totals_json(r, by)).collect())
}

/// Per program: allocated, disbursed by live payments, recovered (追缴), and remaining
/// (allocated - disbursed + recovered: recovered money is the program's again).
pub fn funds_json(rows: &[FundRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "program": r.program,
                    "allocated": format_fen(r.allocated_fen),
                    "disbursed": format_fen(r.disbursed_fen),
                    "recovered": format_fen(r.recovered_fen),
                    "remaining": format_fen(r.remaining_fen),
                })
            })
            .collect(),
    )
}

/// A household's enrollment, balances and receivables (追缴) per program, without its
/// trail.
pub fn balance_json(balance: &HouseholdBalance) -> Map<String, Value> {
    let e = &balance.enrollment;
    let value = json!({
        "household_id": balance.household,
        "subdistrict": e.subdistrict,
        "community": e.community,
        "category": e.category,
        "members": e.members,
        "enrolled_on": e.enrolled_on.to_string(),
        "balances": balance.programs.iter().map(|p| json!({
            "program": p.program,
            "amount": format_fen(p.tally.net_fen),
            "payments": p.tally.payments,
            "persons": p.tally.person_times,
        })).collect::<Vec<_>>(),
        "total": format_fen(balance.total.net_fen),
        "total_payments": balance.total.payments,
        "total_persons": balance.total.person_times,
        "receivables": balance.receivables.iter().map(|r| json!({
            "program": r.program,
            "opened": format_fen(r.opened_fen),
            "recovered": format_fen(r.recovered_fen),
            "open": format_fen(r.open_fen),
        })).collect::<Vec<_>>(),
    });
    match value {
        Value::Object(m) => m,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

/// A household's balances and its trail of events.
pub fn household_json(balance: &HouseholdBalance, entries: &[TrailEntry]) -> Value {
    let mut m = balance_json(balance);
    m.insert("trail".into(), trail_json(entries));
    Value::Object(m)
}

pub fn trail_json(entries: &[TrailEntry]) -> Value {
    Value::Array(entries.iter().map(trail_entry_json).collect())
}

pub fn trail_entry_json(entry: &TrailEntry) -> Value {
    json!({
        "seq": entry.seq,
        "type": entry.kind.as_str(),
        "date": entry.date.to_string(),
        "target_date": entry.target_date.map(|d| d.to_string()),
        "program": entry.program,
        "amount": format_fen(entry.amount_fen),
        "persons": entry.persons,
        "reference": entry.reference,
        "memo": entry.memo,
        "reason": entry.reason,
        "reversed_by": entry.reversed_by,
        "reverses": entry.reverses,
        "finding": entry.finding,
    })
}

/// Parses `YYYY-MM`.
pub fn parse_month(text: &str) -> Result<YearMonth, String> {
    let bad = || format!("{text:?} is not a month YYYY-MM");
    let (y, m) = text.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let year = y.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok(YearMonth { year, month })
}

/// Grouping keys may not repeat: a second column of the same key says nothing new.
pub fn check_group_keys(by: &[GroupKey]) -> Result<(), String> {
    for (i, key) in by.iter().enumerate() {
        if by[..i].contains(key) {
            return Err(format!("names {} twice", group_key_name(*key)));
        }
    }
    Ok(())
}

fn group_key_name(key: GroupKey) -> &'static str {
    match key {
        GroupKey::Subdistrict => "subdistrict",
        GroupKey::Community => "community",
        GroupKey::Program => "program",
        GroupKey::Year => "year",
        GroupKey::Month => "month",
    }
}

/// A grouping key by its name in `--by` and `?by=`.
pub fn parse_group_key(text: &str) -> Result<GroupKey, String> {
    match text {
        "subdistrict" => Ok(GroupKey::Subdistrict),
        "community" => Ok(GroupKey::Community),
        "program" => Ok(GroupKey::Program),
        "year" => Ok(GroupKey::Year),
        "month" => Ok(GroupKey::Month),
        other => Err(format!(
            "{other:?} is not subdistrict, community, program, year or month"
        )),
    }
}

/// A reconciliation run: the report, its hash, and where the ledger recorded it, as
/// `fundtrail reconcile --json` prints it; `statement` names the statement (a file name, or
/// how the HTTP API received it).
pub fn reconciliation_json(outcome: &Reconciliation, statement: &str) -> Value {
    let r = &outcome.report;
    json!({
        "statement": statement,
        "statement_hash": hex::encode(outcome.statement_hash),
        "period": r.period.map(|m| m.to_string()),
        "bank_rows": r.bank_rows,
        "matched": { "count": r.matched_count, "amount": Money::from_fen(r.matched_fen).to_string() },
        "counts": r.counts,
        "clean": r.is_clean(),
        "differences": r.differences.iter().map(Difference::canonical).collect::<Vec<_>>(),
        "report_hash": hex::encode(r.report_hash()),
        "payment_index": index_text(&outcome.index),
        "recorded": {
            "seq": outcome.seq.get(),
            "reference": outcome.reference.as_str(),
            "appended": outcome.appended,
        },
    })
}

/// How the payment index was brought up to date, in words.
pub fn index_text(index: &IndexUse) -> String {
    match index {
        IndexUse::UpToDate { size } => format!("payment index up to date (seq {size})"),
        IndexUse::CaughtUp { from, events } => {
            format!("payment index caught up from seq {from} ({events} new event(s))")
        }
        IndexUse::Rebuilt { events, reason } => {
            format!("payment index rebuilt from all {events} event(s): {reason}")
        }
    }
}

/// The origin, size, root (hex) and note of a signed checkpoint.
pub fn checkpoint_json(signed: &crate::ledger::SignedCheckpoint) -> serde_json::Value {
    let c = &signed.checkpoint;
    serde_json::json!({
        "origin": c.origin,
        "size": c.size,
        "root": hex::encode(c.root),
        "note": signed.note,
    })
}

/// The account a finding names, masked as every output masks it.
pub fn finding_account(f: &fundtrail_projections::Finding) -> Option<String> {
    f.account_last4
        .as_deref()
        .map(|last4| crate::people::mask::mask(crate::people::mask::Field::AccountLast4, last4))
}

pub fn finding_json(f: &fundtrail_projections::Finding) -> serde_json::Value {
    serde_json::json!({
        "id": f.id,
        "rule": f.rule.as_str(),
        "household_id": f.household,
        "person_id": f.person,
        "account": finding_account(f),
        "seqs": f.seqs,
        "amount_at_risk": crate::model::domain::Money::from_fen(f.amount_at_risk_fen).to_string(),
        "months": f.months.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "status": f.status.as_str(),
        "reversed_evidence": f.reversed_evidence,
        "resolution": f.resolution().map(|r| {
            let mut latest = resolution_json(r);
            let earlier = &f.resolutions[..f.resolutions.len() - 1];
            latest["superseded"] = earlier.iter().map(resolution_json).collect();
            latest
        }),
    })
}

/// A decision's name, as commands and JSON write it.
pub fn decision_name(d: fundtrail_projections::Decision) -> &'static str {
    match d {
        fundtrail_projections::Decision::Confirmed => "confirmed",
        fundtrail_projections::Decision::Dismissed => "dismissed",
    }
}

/// One decision about a finding.
fn resolution_json(r: &fundtrail_projections::Resolution) -> serde_json::Value {
    serde_json::json!({
        "seq": r.seq,
        "decision": decision_name(r.decision),
        "reason": r.reason,
        "actor": r.actor,
        "recover": crate::model::domain::Money::from_fen(r.recover_fen).to_string(),
        "program": (!r.program.is_empty()).then_some(&r.program),
        "date": r.date.to_string(),
    })
}
