//! `fundtrail roster --month`: the month's public roster, through the binary. Every live
//! payment dated in the month with the masked names of the persons it counted, and a total
//! that is `totals --month`'s; reversed payments in no month; bad and empty months.

use serde_json::Value;

use crate::support::*;
use fundtrail::ledger::import::ImportKind;

/// The ISO 7064 MOD 11-2 check character of 17 digits.
fn check_character(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * ((1u32 << (17 - i)) % 11))
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

/// A valid identity number of Panlong district born on `birth` (YYYYMMDD); the sequence's
/// last digit is even for a woman, odd for a man.
fn id_number(birth: &str, sequence: u32, female: bool) -> String {
    let first = format!("530103{birth}{:03}", sequence * 2 + u32::from(!female));
    format!("{first}{}", check_character(&first))
}

const MOTHER: &str = "王秀芳";
const FATHER: &str = "李建国";
const CHILD: &str = "李小明";

/// PL-0001's mother (49 in 2009), father (49 only in 2019) and a child who joined on
/// 2015-01-15: in 2015-01 the allowance counts the mother alone, other programs both
/// parents (the child was not yet in the household on the 1st).
fn persons() -> Vec<String> {
    vec![
        format!(
            "P-1,PL-0001,{},{MOTHER},mother,1960-05-10,2014-03-01",
            id_number("19600510", 12, true)
        ),
        format!(
            "P-2,PL-0001,{},{FATHER},father,1970-08-01,2014-03-01",
            id_number("19700801", 34, false)
        ),
        format!(
            "P-3,PL-0001,{},{CHILD},child,2015-01-10,2015-01-15",
            id_number("20150110", 5, false)
        ),
    ]
}

/// The standard ledger (BANK-1 live for PL-0001 in 2015-01, BANK-2 reversed) with more
/// payments: a condolence visit to PL-0001 and an allowance to PL-0002 (no persons
/// recorded) in 2015-01, and a March payment reversed in April. Then PL-0001's persons.
fn roster_ledger() -> TempLedger {
    let t = TempLedger::standard();
    t.append_csv(
        ImportKind::Events,
        &[
            "2015-01-20,condolence_payment,PL-0001,holiday_condolence,300.00,2,WW-1,春节慰问",
            "2015-01-31,disbursement,PL-0002,support_allowance,50.00,1,BANK-3,2015年1月扶助金",
            "2015-03-28,disbursement,PL-0001,support_allowance,100.00,2,BANK-4,2015年3月扶助金",
            "2015-04-02,reversal,PL-0001,support_allowance,100.00,2,BANK-4,重复支付",
        ],
    );
    let path = t.write_csv("persons.csv", ImportKind::Persons, &persons());
    t.import("persons", &path).assert_ok();
    t
}

fn json(t: &TempLedger, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = t.run(&all);
    run.assert_ok();
    run.json()
}

fn roster(t: &TempLedger, month: &str) -> Value {
    json(t, &["roster", "--month", month])
}

/// `totals --month`'s amount and payments; an empty month has no row.
fn totals(t: &TempLedger, month: &str) -> (String, u64) {
    let totals = json(t, &["totals", "--month", month]);
    match totals.as_array().and_then(|rows| rows.first()) {
        Some(row) => (
            row["amount"].as_str().unwrap().to_owned(),
            row["payments"].as_u64().unwrap(),
        ),
        None => ("0.00".to_owned(), 0),
    }
}

fn line<'a>(roster: &'a Value, reference: &str) -> &'a Value {
    roster["payments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["reference"] == reference)
        .unwrap_or_else(|| panic!("no {reference} in {roster}"))
}

#[test]
fn the_roster_lists_live_payments_with_masked_names_and_the_months_total() {
    let t = roster_ledger();
    let january = roster(&t, "2015-01");
    assert_eq!(january["month"], "2015-01");
    assert_eq!(january["count"], 3, "BANK-2 was reversed: {january}");
    assert_eq!(january["total"], "450.00");
    assert_eq!(totals(&t, "2015-01"), ("450.00".to_owned(), 3));

    let allowance = line(&january, "BANK-1");
    assert_eq!(allowance["household_id"], "PL-0001");
    assert_eq!(allowance["community"], "拓东第1社区");
    assert_eq!(allowance["program"], "support_allowance");
    assert_eq!(allowance["amount"], "100.00");
    assert_eq!(allowance["persons_recorded"], true);
    assert_eq!(
        allowance["persons"],
        serde_json::json!(["王*芳"]),
        "only the mother is 49"
    );
    let visit = line(&january, "WW-1");
    assert_eq!(
        visit["persons"],
        serde_json::json!(["王*芳", "李*国"]),
        "the parents were in the household on the 1st, the child not yet"
    );
    let unrecorded = line(&january, "BANK-3");
    assert_eq!(unrecorded["persons_recorded"], false);
    assert_eq!(unrecorded["persons"], serde_json::json!([]));

    let text = t.run(&["roster", "--month", "2015-01"]);
    text.assert_ok();
    for shown in [
        "王*芳、李*国",
        "(no persons recorded)",
        "合计",
        "450.00",
        "节日慰问金",
    ] {
        assert!(text.stdout.contains(shown), "{shown}: {text:#?}");
    }
    for secret in [MOTHER, FATHER, CHILD, &id_number("19600510", 12, true)] {
        for out in [&text.stdout, &january.to_string()] {
            assert!(!out.contains(secret), "{secret} in clear: {out}");
        }
    }
}

#[test]
fn a_payment_reversed_in_a_later_month_counts_in_no_month() {
    let t = roster_ledger();
    for month in ["2015-03", "2015-04"] {
        let roster = roster(&t, month);
        assert_eq!(roster["count"], 0, "{month}: {roster}");
        assert_eq!(roster["total"], "0.00");
        assert_eq!(totals(&t, month), ("0.00".to_owned(), 0));
    }
}

#[test]
fn an_erased_person_shows_as_erased() {
    let t = roster_ledger();
    t.run(&["person", "erase", "P-2", "--reason", "request 2026-3"])
        .assert_ok();
    let january = roster(&t, "2015-01");
    assert_eq!(
        line(&january, "WW-1")["persons"],
        serde_json::json!(["王*芳", "(erased)"])
    );
    assert_eq!(january["total"], "450.00", "erasure changes no total");
}

/// The allowance's names are the persons eligible in the month as the ledger knows them
/// now: a death recorded later, dated before the month, takes the mother off the list;
/// other programs list who was in the household on the month's first day.
#[test]
fn a_death_recorded_later_shows_who_was_not_due() {
    let t = roster_ledger();
    let changes = t.write_csv(
        "changes.csv",
        ImportKind::Changes,
        &["2014-12-15,person_died,P-1,,DEATH-2014-1,"],
    );
    t.import("changes", &changes).assert_ok();
    let january = roster(&t, "2015-01");
    assert_eq!(line(&january, "BANK-1")["persons"], serde_json::json!([]));
    assert_eq!(
        line(&january, "WW-1")["persons"],
        serde_json::json!(["李*国"])
    );
    assert_eq!(january["total"], "450.00", "what was paid stays paid");
    let text = t.run(&["roster", "--month", "2015-01", "--lang", "en"]);
    text.assert_ok();
    let bank_1 = text
        .stdout
        .lines()
        .find(|l| l.contains("PL-0001") && l.contains("Support allowance"))
        .unwrap_or_else(|| panic!("{text:#?}"));
    assert!(bank_1.contains("(none)"), "{bank_1}");
}

#[test]
fn csv_and_english_labels_carry_the_same_rows_and_the_total() {
    let t = roster_ledger();
    let csv = t.run(&["roster", "--month", "2015-01", "--csv", "--lang", "en"]);
    csv.assert_ok();
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(
        lines[0], "\u{feff}community,household,persons,program,amount",
        "{csv:#?}"
    );
    assert_eq!(
        lines.len(),
        5,
        "header, three payments, the total: {csv:#?}"
    );
    assert!(
        lines.contains(&"拓东第1社区,PL-0001,\"王*芳, 李*国\",Holiday condolence,300.00"),
        "{csv:#?}"
    );
    assert_eq!(lines[4], "total,,,,450.00");
    let both = t.run(&["roster", "--month", "2015-01", "--csv", "--json"]);
    both.assert_code(2);
}

#[test]
fn a_month_without_payments_is_an_empty_roster() {
    let t = roster_ledger();
    let run = t.run(&["roster", "--month", "2019-06"]);
    run.assert_ok();
    assert!(run.stdout.contains("0 笔"), "{run:#?}");
    let empty = roster(&t, "2019-06");
    assert_eq!(empty["count"], 0);
    assert_eq!(empty["payments"], serde_json::json!([]));
    assert_eq!(empty["total"], "0.00");
}

#[test]
fn a_bad_month_is_refused_with_the_reason() {
    let t = roster_ledger();
    for bad in ["2015-13", "2015-1", "201501", "last month"] {
        let run = t.run(&["roster", "--month", bad]);
        run.assert_code(2);
        assert!(
            run.stderr.contains("is not a month YYYY-MM"),
            "{bad}: {run:#?}"
        );
    }
    t.run(&["roster"]).assert_code(2);
    let missing = TempLedger::uninitialized();
    missing
        .run(&["roster", "--month", "2015-01"])
        .assert_code(3);
}
