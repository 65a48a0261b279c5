//! Human- and machine-readable views of stored events: the decoded fields as JSON (the
//! `log --json` output and the export's `fields`, FORMAT.md §1.5 "Decoded fields") and aligned
//! text tables.

use chrono::{DateTime, SecondsFormat};
use serde_json::{json, Map, Value};
use unicode_width::UnicodeWidthStr;

use crate::model::domain::{days_to_date, Money, Seq};
use crate::model::encoding::{Body, RecordV1};

/// A value date as `YYYY-MM-DD` (or the raw day number if out of range).
pub fn date_text(days: i32) -> String {
    days_to_date(days).map_or_else(|| days.to_string(), |d| d.to_string())
}

/// The date column of an event table: the value date; for a reconciliation of every
/// month, which has none, `all months`; for a period that is not a month (no version
/// writes one), the period as stored.
pub fn value_date_text(body: &crate::model::encoding::Body) -> String {
    match (body, body.value_date()) {
        (_, Some(days)) => date_text(days),
        (crate::model::encoding::Body::Reconciliation(r), None) if !r.period.is_empty() => {
            r.period.clone()
        }
        (_, None) => "all months".to_string(),
    }
}

/// A record time as RFC 3339 UTC with microseconds.
pub fn time_text(us: i64) -> String {
    DateTime::from_timestamp_micros(us).map_or_else(
        || us.to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::Micros, true),
    )
}

/// The decoded fields of a record, as a JSON object.
pub fn record_fields(record: &RecordV1) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), json!(record.body.type_name()));
    m.insert(
        "recorded_at".into(),
        json!(time_text(record.recorded_at_us)),
    );
    m.insert("actor".into(), json!(record.actor));
    m.insert("reference".into(), json!(record.reference));
    match &record.body {
        Body::HouseholdEnrolled(e) => {
            m.insert("household_id".into(), json!(e.household));
            m.insert("subdistrict".into(), json!(e.subdistrict));
            m.insert("community".into(), json!(e.community));
            m.insert("category".into(), json!(category_field(e.category)));
            m.insert("members".into(), json!(e.members));
            m.insert("date".into(), json!(date_text(e.enrolled_on)));
        }
        Body::FundAllocation(a) => {
            m.insert("program".into(), json!(a.program));
            m.insert(
                "amount".into(),
                json!(Money::from_fen(a.amount_fen).to_string()),
            );
            m.insert("date".into(), json!(date_text(a.value_date)));
            m.insert("source".into(), json!(a.source));
        }
        Body::Reversal(r) => {
            m.insert("household_id".into(), json!(r.household));
            m.insert("program".into(), json!(r.program));
            m.insert(
                "amount".into(),
                json!(Money::from_fen(r.amount_fen).to_string()),
            );
            m.insert("persons".into(), json!(r.persons));
            m.insert("date".into(), json!(date_text(r.value_date)));
            m.insert("target_seq".into(), json!(r.target_seq));
            m.insert("target_reference".into(), json!(r.target_reference));
            m.insert("reason".into(), json!(r.reason));
        }
        Body::RateSet(r) => {
            m.insert("program".into(), json!(r.program));
            m.insert("category".into(), json!(category_field(r.category)));
            m.insert(
                "per_member".into(),
                json!(Money::from_fen(r.per_member_fen).to_string()),
            );
            m.insert("valid_from".into(), json!(date_text(r.valid_from)));
            m.insert("valid_to".into(), json!(r.valid_to.map(date_text)));
        }
        Body::Reconciliation(r) => {
            m.insert(
                "statement_hash".into(),
                json!(hex::encode(r.statement_hash)),
            );
            m.insert("period".into(), json!(r.period));
            m.insert("bank_rows".into(), json!(r.bank_rows));
            m.insert("matched_count".into(), json!(r.matched_count));
            m.insert(
                "matched_amount".into(),
                json!(Money::from_fen(r.matched_fen).to_string()),
            );
            m.insert("missing_in_bank".into(), json!(r.missing_in_bank));
            m.insert("missing_in_ledger".into(), json!(r.missing_in_ledger));
            m.insert("amount_mismatch".into(), json!(r.amount_mismatch));
            m.insert("duplicate_in_bank".into(), json!(r.duplicate_in_bank));
            m.insert("reversed_but_paid".into(), json!(r.reversed_but_paid));
            m.insert("report_hash".into(), json!(hex::encode(r.report_hash)));
        }
        Body::PersonAdded(p) => {
            m.insert("person_id".into(), json!(p.person));
            m.insert("household_id".into(), json!(p.household));
            m.insert("identity".into(), json!(hex::encode(p.identity)));
            m.insert("role".into(), json!(role_field(p.role)));
            m.insert("birth_date".into(), json!(date_text(p.birth_date)));
            m.insert("date".into(), json!(date_text(p.joined_on)));
        }
        Body::PersonRevealed(a) | Body::PersonErased(a) => {
            m.insert("person_id".into(), json!(a.person));
            m.insert("reason".into(), json!(a.reason));
        }
        Body::FindingResolved(f) => {
            m.insert("finding_id".into(), json!(f.finding));
            m.insert("household_id".into(), json!(f.household));
            let decision = crate::model::encoding::stored_decision(f.decision)
                .map_or_else(|_| json!(f.decision), |d| json!(d.code()));
            m.insert("decision".into(), json!(decision));
            m.insert("reason".into(), json!(f.reason));
            m.insert("program".into(), json!(f.program));
            m.insert(
                "recover".into(),
                json!(Money::from_fen(f.recover_fen).to_string()),
            );
            m.insert("date".into(), json!(date_text(f.value_date)));
        }
        Body::RecoveryReceived(r) => {
            m.insert("finding".into(), json!(r.finding));
            m.insert("household_id".into(), json!(r.household));
            m.insert("program".into(), json!(r.program));
            m.insert(
                "amount".into(),
                json!(Money::from_fen(r.amount_fen).to_string()),
            );
            m.insert("date".into(), json!(date_text(r.value_date)));
            m.insert("memo".into(), json!(r.memo));
        }
        Body::HoldReleased(r) => {
            m.insert("household_id".into(), json!(r.household));
            m.insert("period".into(), json!(r.period));
            m.insert("reason".into(), json!(r.reason));
            m.insert("findings".into(), json!(r.findings));
            m.insert("date".into(), json!(date_text(r.value_date)));
        }
        other if other.life_event().is_some() => {
            if let Some((_, l)) = other.life_event() {
                if !l.person.is_empty() {
                    m.insert("person_id".into(), json!(l.person));
                }
                m.insert("household_id".into(), json!(l.household));
                m.insert("date".into(), json!(date_text(l.value_date)));
                m.insert("memo".into(), json!(l.memo));
            }
        }
        other => {
            if let Some(account) = other.account() {
                m.insert("account".into(), json!(account_field(&account.last4)));
            }
            if let Some((_, p)) = other.payment() {
                m.insert("household_id".into(), json!(p.household));
                m.insert("program".into(), json!(p.program));
                m.insert(
                    "amount".into(),
                    json!(Money::from_fen(p.amount_fen).to_string()),
                );
                m.insert("persons".into(), json!(p.persons));
                m.insert("date".into(), json!(date_text(p.value_date)));
                m.insert("memo".into(), json!(p.memo));
            }
        }
    }
    m
}

/// A stored category code in decoded fields: its name, or an unknown code as its number,
/// never as a known category: fields must not read better than the bytes (FORMAT.md §1.5).
fn category_field(code: u8) -> String {
    match crate::model::encoding::stored_category(code) {
        Ok(category) => category.code().to_string(),
        Err(_) => code.to_string(),
    }
}

/// A payee account in decoded fields: masked, the last four digits shown
/// (`************1234`), through the one masking function.
fn account_field(last4: &str) -> String {
    crate::people::mask::mask(crate::people::mask::Field::AccountLast4, last4)
}

/// A stored role code in decoded fields, as [`category_field`] does for categories.
fn role_field(code: u8) -> String {
    match crate::model::encoding::stored_role(code) {
        Ok(role) => role.as_str().to_string(),
        Err(_) => code.to_string(),
    }
}

/// A stored category code as its name (`bereaved`, `disabled`).
pub fn category_name(code: u8) -> &'static str {
    crate::model::encoding::stored_category(code).map_or("unknown", |c| c.code())
}

/// `seq`, `hash` and the decoded fields of one event.
pub fn event_json(seq: Seq, hash: &crate::model::domain::EventHash, record: &RecordV1) -> Value {
    let mut m = Map::new();
    m.insert("seq".into(), json!(seq.get()));
    m.insert("hash".into(), json!(hash.to_hex()));
    m.extend(record_fields(record));
    Value::Object(m)
}

/// The amount an event moves, signed as it affects what was paid: reversals negative.
pub fn signed_amount(body: &Body) -> Option<Money> {
    match body {
        Body::HouseholdEnrolled(_) => None,
        Body::FundAllocation(a) => Some(Money::from_fen(a.amount_fen)),
        Body::Reversal(r) => Some(Money::from_fen(-r.amount_fen)),
        // Money back from a household: it changes no payment, so it shows as received.
        Body::RecoveryReceived(r) => Some(Money::from_fen(r.amount_fen)),
        other => other.payment().map(|(_, p)| Money::from_fen(p.amount_fen)),
    }
}

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A text table aligned by display width, so Chinese names line up in a terminal.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            headers: columns.iter().map(|(h, _)| h.to_string()).collect(),
            aligns: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(
            cells.len(),
            self.headers.len(),
            "a row has one cell per column"
        );
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                std::iter::once(&self.headers[c])
                    .chain(self.rows.iter().map(|r| &r[c]))
                    .map(|s| s.width())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for cells in std::iter::once(&self.headers).chain(&self.rows) {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .zip(&self.aligns)
                .map(|((cell, width), align)| pad(cell, *width, *align))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

fn pad(cell: &str, width: usize, align: Align) -> String {
    let fill = " ".repeat(width.saturating_sub(cell.width()));
    match align {
        Align::Left => format!("{cell}{fill}"),
        Align::Right => format!("{fill}{cell}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_by_display_width() {
        let mut t = Table::new(&[("program", Align::Left), ("amount", Align::Right)]);
        t.row(vec!["扶助金".into(), "1.00".into()]);
        t.row(vec!["micro".into(), "100.00".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "program  amount");
        assert_eq!(lines[1], "扶助金     1.00");
        assert_eq!(lines[2], "micro    100.00");
    }

    /// A reconciliation's date column: its month's first day, `all months`, or a period
    /// that is not a month as stored.
    #[test]
    fn a_reconciliation_is_dated_by_its_period() {
        let with_period = |period: &str| {
            crate::model::encoding::Body::Reconciliation(crate::model::encoding::ReconciliationV1 {
                statement_hash: [0; 32],
                period: period.into(),
                bank_rows: 0,
                matched_count: 0,
                matched_fen: 0,
                missing_in_bank: 0,
                missing_in_ledger: 0,
                amount_mismatch: 0,
                duplicate_in_bank: 0,
                reversed_but_paid: 0,
                report_hash: [0; 32],
            })
        };
        assert_eq!(value_date_text(&with_period("2018-07")), "2018-07-01");
        assert_eq!(value_date_text(&with_period("")), "all months");
        assert_eq!(value_date_text(&with_period("Q3")), "Q3");
    }

    #[test]
    fn dates_and_times_render_in_iso_form() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(time_text(1_500_000), "1970-01-01T00:00:01.500000Z");
    }

    /// The edges of FORMAT.md §1.5, which an independent verifier must reproduce: years
    /// outside 0000..=9999 carry a sign, and days or times beyond the calendar's range
    /// (years -262143..=262142) are their decimal numbers.
    #[test]
    fn dates_and_times_at_the_calendars_edges() {
        const DAY_US: i64 = 86_400_000_000;
        for (days, text) in [
            (-535_000, "0505-03-22"),
            (-719_528, "0000-01-01"),
            (-719_893, "-0001-01-01"),
            (2_932_897, "+10000-01-01"),
            (-96_465_292, "-262143-01-01"),
            (95_026_236, "+262142-12-31"),
        ] {
            assert_eq!(date_text(days), text);
            let time = format!("{text}T00:00:00.000000Z");
            assert_eq!(time_text(i64::from(days) * DAY_US), time);
        }
        assert_eq!(date_text(-96_465_293), "-96465293");
        assert_eq!(date_text(95_026_237), "95026237");
        assert_eq!(time_text(95_026_237 * DAY_US), "8210266876800000000");
        assert_eq!(time_text(i64::MIN), "-9223372036854775808");
    }
}
