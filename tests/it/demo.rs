//! `fundtrail demo` reproduces the Panlong report's published figures (domain.md), read
//! back through the same `totals` command a supervisor uses. The figures are written out
//! literally here, not taken from the demo's own table, so a drift in either is caught.
//! It enrolls the report's 873 people, whose names and identity numbers no file of the
//! demo ledger holds in clear, and each month's roster adds up to the month's totals.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use fundtrail::model::domain::Month;
use fundtrail::model::eligibility::month_turning_49;
use serde_json::Value;

use crate::support::{binary, binary_without_ledger, open_ledger, run_command};

fn fundtrail(ledger: &Path, args: &[&str]) -> Value {
    let run = run_command(
        binary(ledger)
            .args(args)
            .arg("--json")
            .env("FUNDTRAIL_ACTOR", "demo-test"),
    );
    run.assert_ok();
    run.json()
}

fn rows(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// The row of one program in `totals --by program`.
fn program<'a>(totals: &'a Value, code: &str) -> &'a Value {
    rows(totals)
        .iter()
        .find(|r| r["program"] == code)
        .unwrap_or_else(|| panic!("no row for {code} in {totals}"))
}

/// One demo build (about a second in a debug build), then every assertion on it.
#[test]
fn the_demo_reproduces_the_reports_figures() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("demo");
    let dir_arg = dir.to_str().expect("temp paths are UTF-8");

    let built = fundtrail(&dir, &["demo", dir_arg]);
    assert_eq!(built["verified"], true, "{built}");
    let head = built["head"].clone();
    assert!(built["appended"].as_u64().unwrap_or(0) > 20_000, "{built}");

    let totals = fundtrail(&dir, &["totals", "--by", "program"]);
    // 扶助金 ¥15,929,700.00 (1592.97万元).
    assert_eq!(
        program(&totals, "support_allowance")["amount"],
        "15929700.00"
    );
    // 节日慰问金: 1,741 household visits, ¥522,300.00 (52.23万元).
    let condolence = program(&totals, "holiday_condolence");
    assert_eq!(condolence["payments"], 1741);
    assert_eq!(condolence["amount"], "522300.00");
    // 意外伤害保险: ¥161,000.00 (16.1万元), 1,971 person-times.
    let insurance = program(&totals, "accident_insurance");
    assert_eq!(insurance["amount"], "161000.00");
    assert_eq!(insurance["persons"], 1971);
    // 家政服务卡: 184 households, a ¥100.00 card each.
    let housekeeping = program(&totals, "housekeeping_service");
    assert_eq!(housekeeping["payments"], 184);
    assert_eq!(housekeeping["households"], 184);
    assert_eq!(housekeeping["amount"], "18400.00");
    // 智慧手环: 117 people, ¥35,200.00 (3.52万元).
    let bracelet = program(&totals, "smart_bracelet");
    assert_eq!(bracelet["persons"], 117);
    assert_eq!(bracelet["amount"], "35200.00");
    // 爱心公交卡: 317 people.
    assert_eq!(program(&totals, "transit_card")["persons"], 317);

    // 12 sub-districts, 103 communities, 357 households, every one of them reached.
    let subdistricts = fundtrail(&dir, &["totals", "--by", "subdistrict"]);
    assert_eq!(rows(&subdistricts).len(), 12);
    let communities = fundtrail(&dir, &["totals", "--by", "community"]);
    assert_eq!(rows(&communities).len(), 103);
    let grand = fundtrail(&dir, &["totals"]);
    assert_eq!(rows(&grand)[0]["households"], 357);
    assert_eq!(fundtrail(&dir, &["status"])["households"], 357);

    assert_eq!(built["persons"], 873, "{built}");
    check_the_roll(&dir);
    check_rosters(&dir);

    // Re-running the demo in the same place recognises every row and appends nothing.
    let again = fundtrail(&dir, &["demo", dir_arg]);
    assert_eq!(again["appended"], 0, "{again}");
    assert_eq!(again["head"], head);
    assert_eq!(again["verified"], true);
    assert_eq!(fundtrail(&dir, &["totals", "--by", "program"]), totals);
}

/// 873 persons in the 357 households, every parent 49 or older in the household's
/// enrollment month, and no name or identity number in clear in any file of the ledger
/// directory (sled's files and the vault included) or in `person show`.
fn check_the_roll(dir: &Path) {
    {
        let ledger = open_ledger(dir);
        let people = ledger.people();
        let enrolled = ledger.enrolled().expect("the households are readable");
        let all = people.all();
        assert_eq!(all.len(), 873);
        let households: BTreeSet<&str> = all.values().map(|p| p.household.as_str()).collect();
        assert_eq!(households.len(), 357);
        for (id, person) in &all {
            if !person.role.is_parent() {
                continue;
            }
            let enrolled_on = enrolled[&person.household].enrollment.enrolled_on;
            let turns_49 = month_turning_49(person.birth_date).expect("a real birth date");
            assert!(
                turns_49 <= Month::of(enrolled_on),
                "{id} turns 49 in {turns_49}, after enrollment on {enrolled_on}"
            );
        }
    }
    let secrets = demo_secrets();
    assert_eq!(secrets.len(), 873 * 2);
    let every = secrets_in(fundtrail::demo::data::persons_csv().as_bytes(), &secrets);
    let distinct: BTreeSet<&String> = secrets.iter().collect();
    assert_eq!(
        every.len(),
        distinct.len(),
        "the scan finds each secret where it is"
    );
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).expect("read a ledger file");
        let found = secrets_in(&bytes, &secrets);
        assert!(
            found.is_empty(),
            "{} holds {found:?} in clear",
            file.display()
        );
    }
    let shown = fundtrail(dir, &["person", "show", "PL-0001-1"]);
    assert_eq!(shown["household_id"], "PL-0001");
    assert!(
        shown["name"].as_str().is_some_and(|n| n.contains('*')),
        "{shown}"
    );
    assert!(secrets_in(shown.to_string().as_bytes(), &secrets).is_empty());
}

/// The names and identity numbers of the demo's roll, in clear.
fn demo_secrets() -> Vec<String> {
    let text = fundtrail::demo::data::persons_csv();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut secrets = Vec::new();
    for record in reader.records() {
        let record = record.expect("the demo's persons file is CSV");
        secrets.push(record[2].to_owned());
        secrets.push(record[3].to_owned());
    }
    secrets
}

/// The secrets that occur in `bytes`. Each position is looked up by its first three bytes
/// (a name's first character, or "530" of a number), and only when its first byte can
/// start one, so that the demo's 19 MB are scanned in a moment even in a debug build.
fn secrets_in(bytes: &[u8], secrets: &[String]) -> BTreeSet<String> {
    let mut by_start: HashMap<&[u8], Vec<&[u8]>> = HashMap::new();
    let mut starts = [false; 256];
    for secret in secrets {
        let secret = secret.as_bytes();
        by_start.entry(&secret[..3]).or_default().push(secret);
        starts[usize::from(secret[0])] = true;
    }
    let mut found = BTreeSet::new();
    for at in 0..bytes.len().saturating_sub(2) {
        if !starts[usize::from(bytes[at])] {
            continue;
        }
        for secret in by_start.get(&bytes[at..at + 3]).into_iter().flatten() {
            if bytes[at..].starts_with(secret) {
                found.insert(String::from_utf8_lossy(secret).into_owned());
            }
        }
    }
    found
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Months with reversals of several kinds (a duplicate, a wrong amount, a wrong household,
/// a wrong count of persons), the first and the last paid month, and one with no payment:
/// each roster's total and count are the month's totals, its names are masked.
fn check_rosters(dir: &Path) {
    let secrets = demo_secrets();
    for month in [
        "2015-01", "2015-03", "2016-09", "2017-10", "2018-07", "2030-01",
    ] {
        let roster = fundtrail(dir, &["roster", "--month", month]);
        let totals = fundtrail(dir, &["totals", "--month", month]);
        let (amount, payments) = rows(&totals).first().map_or(("0.00", 0), |r| {
            (
                r["amount"].as_str().unwrap(),
                r["payments"].as_u64().unwrap(),
            )
        });
        assert_eq!(roster["total"], amount, "{month}");
        assert_eq!(roster["count"], payments, "{month}");
        let lines = rows(&roster["payments"]);
        assert_eq!(lines.len() as u64, payments, "{month}");
        for line in lines {
            assert_eq!(line["persons_recorded"], true, "{line}");
            let names = rows(&line["persons"]);
            if line["program"] == "support_allowance" {
                assert!(!names.is_empty(), "an allowance counts someone: {line}");
            }
            for name in names {
                let chars: Vec<char> = name.as_str().unwrap().chars().collect();
                assert!(chars.len() <= 3 && chars[1] == '*', "{line}");
            }
        }
        assert!(secrets_in(roster.to_string().as_bytes(), &secrets).is_empty());
    }
}

/// `--ledger` on the command line is refused rather than ignored: the demo builds its own
/// ledger, and must never import its data into a real one. The environment variable, which
/// names a clerk's everyday ledger, is not a request to build the demo there.
#[test]
fn the_demo_refuses_an_explicit_ledger_and_ignores_the_environments() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let real = tmp.path().join("real");
    let run = run_command(
        binary_without_ledger()
            .args(["--ledger"])
            .arg(&real)
            .arg("demo")
            .arg(tmp.path().join("demo")),
    );
    let stderr = &run.stderr;
    run.assert_code(2);
    assert!(stderr.contains("does not use --ledger"), "{stderr}");
    assert!(stderr.contains(&format!("fundtrail demo {}", real.display())));
    assert!(!real.exists() && !tmp.path().join("demo").exists());

    let demo = tmp.path().join("demo");
    run_command(binary(&real).arg("demo").arg(&demo)).assert_ok();
    assert!(demo.join("sled").exists() && !real.exists());
}
