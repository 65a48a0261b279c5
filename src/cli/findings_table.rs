//! How `fundtrail findings` prints a list: a table with Chinese labels (English with
//! `--lang en`), or CSV (`--csv`). Rule ids are pinned ids in every language: they are
//! what `--rule` takes and what exports, the API and the rules' documentation name.

use serde_json::Value;

use super::read::{label, Lang, ReportArgs};
use super::Output;
use crate::ledger::answers::{finding_account, finding_json};
use crate::model::domain::Money;
use crate::model::render::{Align, Table};
use fundtrail_projections::Finding;

/// Findings as `findings` prints them, newest first (the order an auditor works in); the
/// same for a ledger and for `audit findings` on its export.
pub(super) fn listing(mut list: Vec<Finding>, report: &ReportArgs) -> Output {
    list.reverse();
    let json = Value::Array(list.iter().map(finding_json).collect());
    let text = if report.csv {
        csv(&list, report.lang)
    } else {
        text(&list, report.lang)
    };
    Output::ok(text, json)
}

/// The table's column labels, which the CSV header shares.
fn columns(lang: Lang) -> [(&'static str, Align); 9] {
    [
        (label(lang, "编号", "id"), Align::Left),
        (label(lang, "规则", "rule"), Align::Left),
        (label(lang, "户号", "household"), Align::Left),
        (label(lang, "人员", "person"), Align::Left),
        (label(lang, "账户", "account"), Align::Left),
        (label(lang, "涉及金额(元)", "at risk"), Align::Right),
        (label(lang, "月份", "months"), Align::Left),
        (label(lang, "记录序号", "seqs"), Align::Left),
        (label(lang, "状态", "status"), Align::Left),
    ]
}

/// One finding's cells; `sep` joins its months and its seqs. Cells come from the answer's
/// JSON shape (`finding_json`), so the account is masked exactly as every answer masks it
/// and the status is the one the API gives.
fn cells(f: &Finding, sep: &str) -> Vec<String> {
    let json = finding_json(f);
    let joined = |member: &str| -> String {
        json[member].as_array().map_or_else(String::new, |items| {
            items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(sep)
        })
    };
    vec![
        f.id.clone(),
        f.rule.as_str().to_string(),
        f.household.clone(),
        f.person.clone().unwrap_or_default(),
        finding_account(f).unwrap_or_default(),
        Money::from_fen(f.amount_at_risk_fen).to_string(),
        joined("months"),
        joined("seqs"),
        json["status"].as_str().unwrap_or_default().to_string(),
    ]
}

/// The table, with a line saying how many.
pub(super) fn text(list: &[Finding], lang: Lang) -> String {
    if list.is_empty() {
        return label(lang, "无疑点\n", "no findings\n").to_string();
    }
    let mut table = Table::new(&columns(lang));
    for f in list {
        table.row(cells(f, " "));
    }
    let count = match lang {
        Lang::Zh => format!("{} 条疑点，最新的在前\n", list.len()),
        Lang::En => format!("{} finding(s), newest first\n", list.len()),
    };
    format!("{count}{}", table.render())
}

/// Months (`YYYY-MM`) and seqs in one CSV cell are joined by this: a comma would need
/// quoting and a space reads as two words in some spreadsheets.
const CSV_LIST_SEPARATOR: &str = ";";

/// CSV (RFC 4180 quoting) with a header row and one finding per row, after a UTF-8 byte
/// order mark as every `--csv` of fundtrail, so spreadsheet programs read Chinese text.
fn csv(list: &[Finding], lang: Lang) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = columns(lang).iter().map(|(h, _)| *h).collect();
    let written = writer.write_record(&header).and_then(|()| {
        list.iter()
            .try_for_each(|f| writer.write_record(cells(f, CSV_LIST_SEPARATOR)))
    });
    written.expect("writing CSV into memory cannot fail");
    let bytes = writer
        .into_inner()
        .expect("flushing CSV into memory cannot fail");
    format!("\u{feff}{}", String::from_utf8_lossy(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_projections::findings::Status;
    use fundtrail_projections::{Rule, YearMonth};

    fn finding() -> Finding {
        Finding {
            id: "00112233aabbccdd".into(),
            rule: Rule::SharedAccount,
            // A household id with a comma and a quote: the CSV must quote it.
            household: "H,\"1\"".into(),
            person: None,
            account_last4: Some("5678".into()),
            seqs: vec![7, 9],
            amount_at_risk_fen: 123_456,
            months: vec![
                YearMonth {
                    year: 2021,
                    month: 3,
                },
                YearMonth {
                    year: 2021,
                    month: 4,
                },
            ],
            status: Status::Open,
            raised_by: 9,
            reversed_evidence: Vec::new(),
            programs: Vec::new(),
            resolutions: Vec::new(),
        }
    }

    #[test]
    fn csv_has_a_header_quotes_per_rfc_4180_and_joins_lists_with_semicolons() {
        let text = csv(&[finding()], Lang::En);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("\u{feff}id,rule,household,person,account,at risk,months,seqs,status")
        );
        assert_eq!(
            lines.next(),
            Some(
                "00112233aabbccdd,shared_account,\"H,\"\"1\"\"\",,************5678,1234.56,\
                 2021-03;2021-04,7;9,open"
            )
        );
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn labels_are_chinese_by_default_and_rule_ids_stay_pinned() {
        let zh = text(&[finding()], Lang::Zh);
        assert!(zh.starts_with("1 条疑点"), "{zh}");
        assert!(zh.contains("规则") && zh.contains("shared_account"), "{zh}");
        let en = text(&[finding()], Lang::En);
        assert!(en.starts_with("1 finding(s), newest first"), "{en}");
        assert!(en.contains("rule") && en.contains("shared_account"), "{en}");
        assert_eq!(text(&[], Lang::Zh), "无疑点\n");
        assert_eq!(text(&[], Lang::En), "no findings\n");
    }
}
