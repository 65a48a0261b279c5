//! `fundtrail demo` reproduces the Panlong report's published figures (domain.md), read
//! back through the same `totals` command a supervisor uses. The figures are written out
//! literally here, not taken from the demo's own table, so a drift in either is caught.

use std::path::Path;

use serde_json::Value;

use crate::support::{binary, binary_without_ledger, run_command};

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

    // Re-running the demo in the same place recognises every row and appends nothing.
    let again = fundtrail(&dir, &["demo", dir_arg]);
    assert_eq!(again["appended"], 0, "{again}");
    assert_eq!(again["head"], head);
    assert_eq!(again["verified"], true);
    assert_eq!(fundtrail(&dir, &["totals", "--by", "program"]), totals);
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
