//! The fraud simulator through the binary: `fundtrail simulate DIR` writes files that
//! import cleanly into a fresh ledger in the documented order, deterministically, with
//! planted.json naming every rule and every near miss.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::*;

/// The import order README documents, with the kind `fundtrail import` takes.
const ORDER: [&str; 6] = [
    "households",
    "rates",
    "persons",
    "events",
    "changes",
    "deaths",
];

fn simulate(dir: &Path, extra: &[&str]) -> Run {
    let dir = dir.to_str().expect("temporary paths are UTF-8");
    let mut args = vec!["simulate", dir];
    args.extend_from_slice(extra);
    run_command(binary_without_ledger().args(&args))
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Imports the simulated district in `dir` into `t`'s new ledger, in the documented order.
fn import_district(t: &TempLedger, dir: &Path) {
    t.run(&["init"]).assert_ok();
    for kind in ORDER {
        let file = dir.join(format!("{kind}.csv"));
        let file = file.to_str().expect("UTF-8");
        match kind {
            "deaths" => t.run(&["import", "deaths", file, "--source", "sim-register"]),
            _ => t.run(&["import", kind, file]),
        }
        .assert_ok();
    }
}

/// Every planted case is found, by rule and household, and nothing else: the near misses
/// and the rest of the district raise no finding.
#[test]
fn the_findings_are_exactly_the_planted_cases() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    simulate(&dir, &[]).assert_ok();
    import_district(&t, &dir);
    let run = t.run(&["--json", "findings"]);
    run.assert_ok();
    let found: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let planted: serde_json::Value = serde_json::from_slice(&read(&dir, "planted.json")).unwrap();
    let cases = planted["cases"].as_array().unwrap();
    assert_eq!(found.len(), cases.len(), "one finding a case: {found:#?}");
    for case in cases {
        let rule = case["rule"].as_str().unwrap();
        let households: Vec<&str> = case["households"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        let hit = found.iter().any(|f| {
            f["rule"] == rule && households.contains(&f["household_id"].as_str().unwrap())
        });
        assert!(hit, "{rule} of {households:?} was not found: {found:#?}");
    }
    let shared = found
        .iter()
        .find(|f| f["rule"] == "shared_account")
        .unwrap();
    assert!(shared["account"]
        .as_str()
        .unwrap()
        .starts_with("************"));
    let one_rule = t.run(&["findings", "--rule", "paid_after_death", "--lang", "en"]);
    one_rule.assert_ok();
    assert!(one_rule.stdout.starts_with("1 finding(s)"), "{one_rule:#?}");
    let unknown = t.run(&["findings", "--rule", "paid_twice"]);
    unknown.assert_code(2);
    assert!(unknown.stderr.contains("is not a rule"), "{unknown:#?}");
    let none = t.run(&["findings", "--household", "NOBODY", "--lang", "en"]);
    assert_eq!(none.stdout, "no findings\n");
    let none = t.run(&["findings", "--household", "NOBODY"]);
    assert_eq!(none.stdout, "无疑点\n");
    findings_as_csv_and_in_both_languages(&t, &found);
}

/// `findings --csv`: a header row and one finding per row, as `--json` lists them, the
/// account masked and months joined by `;`; the table's labels are Chinese by default,
/// English with `--lang en`, and rule ids stay pinned in both.
fn findings_as_csv_and_in_both_languages(t: &TempLedger, found: &[serde_json::Value]) {
    let csv = t.run(&["findings", "--csv", "--lang", "en"]);
    csv.assert_ok();
    let mut reader = csv::Reader::from_reader(
        csv.stdout
            .strip_prefix('\u{feff}')
            .expect("a byte order mark")
            .as_bytes(),
    );
    let header = reader.headers().expect("a header row").clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        [
            "id",
            "rule",
            "household",
            "person",
            "account",
            "at risk",
            "months",
            "seqs",
            "status"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a row")).collect();
    assert_eq!(rows.len(), found.len(), "{csv:#?}");
    for (row, f) in rows.iter().zip(found) {
        assert_eq!(row[0], f["id"], "the same order as --json");
        assert_eq!(row[1], f["rule"]);
        assert_eq!(row[5], f["amount_at_risk"]);
        let months: Vec<&str> = f["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert_eq!(row[6], months.join(";"));
        assert_eq!(row[8], *"open");
    }
    let shared = rows.iter().find(|r| &r[1] == "shared_account").unwrap();
    assert!(shared[4].starts_with("************"), "{shared:?}");
    let zh = t.run(&["findings", "--csv"]);
    assert!(zh.stdout.starts_with("\u{feff}编号,规则,户号,"), "{zh:#?}");
    let table = t.run(&["findings"]);
    assert!(
        table.stdout.contains("条疑点") && table.stdout.contains("规则"),
        "{table:#?}"
    );
    assert!(table.stdout.contains("paid_after_death"), "{table:#?}");
    let english = t.run(&["findings", "--lang", "en"]);
    assert!(english.stdout.contains(" rule "), "{english:#?}");
    t.run(&["--json", "findings", "--csv"]).assert_code(2);
    t.run(&["findings", "--csv", "--json"]).assert_code(2);
}

/// `findings show` gives each evidence event with an inclusion proof an auditor checks
/// offline with the verifier key alone.
#[test]
fn a_findings_evidence_verifies_offline() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    simulate(&dir, &["--households", "40", "--years", "2", "--seed", "5"]).assert_ok();
    import_district(&t, &dir);
    let run = t.run(&["--json", "findings", "--rule", "duplicate_payment"]);
    run.assert_ok();
    let found: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let id = found[0]["id"].as_str().unwrap();
    let shown = t.run(&["--json", "findings", "show", id]);
    shown.assert_ok();
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["finding"]["id"], id);
    let evidence = shown["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), found[0]["seqs"].as_array().unwrap().len());
    let key = t.run(&["key", "show"]);
    key.assert_ok();
    let key = key.stdout.lines().last().unwrap().trim().to_owned();
    for (i, proof) in evidence.iter().enumerate() {
        let file = t.file(&format!("proof-{i}.json"));
        std::fs::write(&file, proof.to_string()).unwrap();
        let checked = run_command(binary_without_ledger().args([
            "audit",
            "verify-inclusion",
            file.to_str().unwrap(),
            "--key",
            &key,
        ]));
        checked.assert_ok();
    }
    t.run(&["findings", "show", "0000000000000000"])
        .assert_code(2);
}

/// An auditor recomputes the findings from an export alone and gets the ledger's list; a
/// tampered export is refused.
#[test]
fn audit_findings_on_an_export_equals_the_ledgers_findings() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    simulate(&dir, &["--households", "40", "--years", "2", "--seed", "5"]).assert_ok();
    import_district(&t, &dir);
    // A decision and one superseding it: the export's auditor folds them too.
    let open = t.run(&["--json", "findings", "--rule", "duplicate_payment"]);
    let open: Vec<serde_json::Value> = serde_json::from_str(&open.stdout).unwrap();
    let id = open[0]["id"].as_str().unwrap();
    for (actor, decision) in [("li", "confirmed"), ("zhao", "dismissed")] {
        t.run(&[
            "--actor",
            actor,
            "findings",
            "resolve",
            id,
            "--decision",
            decision,
            "--reason",
            "case 3",
        ])
        .assert_ok();
    }
    let ledger = t.run(&["--json", "findings", "--status", "all"]);
    ledger.assert_ok();
    assert!(
        ledger.stdout.contains("\"superseded\""),
        "{}",
        ledger.stdout
    );
    let export = t.file("export");
    t.run(&["export", "--to", export.to_str().unwrap()])
        .assert_ok();
    let key = std::fs::read_to_string(export.join("pubkey")).unwrap();
    let audit = |dir: &Path| {
        run_command(binary_without_ledger().args([
            "--json",
            "audit",
            "findings",
            dir.to_str().unwrap(),
            "--key",
            key.trim(),
        ]))
    };
    let recomputed = audit(&export);
    recomputed.assert_ok();
    assert_eq!(recomputed.stdout, ledger.stdout);
    assert!(
        ledger.stdout.contains("shared_account"),
        "{}",
        ledger.stdout
    );
    // One amount changed in the fields of an event line: refused, nothing listed.
    let events = std::fs::read_to_string(export.join("events.jsonl")).unwrap();
    let forged = events.replacen("\"amount\":\"400.00\"", "\"amount\":\"4.00\"", 1);
    assert_ne!(forged, events, "the export has an amount to change");
    std::fs::write(export.join("events.jsonl"), forged).unwrap();
    let refused = audit(&export);
    refused.assert_code(1);
    assert!(
        !refused.stdout.contains("shared_account"),
        "{}",
        refused.stdout
    );
}

#[test]
fn a_simulated_district_imports_into_a_fresh_ledger_in_order_and_verifies() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    simulate(&dir, &[]).assert_ok();
    t.run(&["init"]).assert_ok();
    for kind in ORDER {
        let file = dir.join(format!("{kind}.csv"));
        let file = file.to_str().expect("UTF-8");
        let run = match kind {
            "deaths" => t.run(&["import", "deaths", file, "--source", "sim-register"]),
            _ => t.run(&["import", kind, file]),
        };
        run.assert_ok();
        assert!(
            run.stdout.contains("appended") || kind == "deaths",
            "{run:#?}"
        );
    }
    t.run(&["verify"]).assert_ok();
    assert_eq!(t.verify().fault, None);
}

/// The register's report of overpayments is what planted.json says of `paid_after_death`.
#[test]
fn the_death_register_matches_the_two_planted_deaths_and_reports_the_case_overpaid() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    simulate(&dir, &["--households", "40", "--years", "2", "--seed", "5"]).assert_ok();
    t.run(&["init"]).assert_ok();
    for kind in &ORDER[..5] {
        let file = dir.join(format!("{kind}.csv"));
        t.import(kind, &file).assert_ok();
    }
    let file = dir.join("deaths.csv");
    let run = t.run(&[
        "--json",
        "import",
        "deaths",
        file.to_str().expect("UTF-8"),
        "--source",
        "sim-register",
    ]);
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["matched"], 2, "{report:#}");
    assert_eq!(report["recorded"], 2, "{report:#}");
    let planted: serde_json::Value =
        serde_json::from_slice(&read(&dir, "planted.json")).expect("planted.json is JSON");
    let case = planted["cases"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|c| c["rule"] == "paid_after_death")
        .expect("planted");
    let overpaid = report["overpaid"].as_array().expect("a list");
    assert_eq!(
        overpaid.len(),
        1,
        "the near miss is not overpaid: {report:#}"
    );
    assert_eq!(overpaid[0]["household_id"], case["households"][0]);
    assert_eq!(overpaid[0]["months"], case["months"]);
}

#[test]
fn the_same_seed_writes_the_same_files_and_planted_json_names_every_rule() {
    let t = TempLedger::uninitialized();
    let (a, b) = (t.file("a"), t.file("b"));
    simulate(&a, &["--seed", "42"]).assert_ok();
    simulate(&b, &["--seed", "42"]).assert_ok();
    for file in [
        "households.csv",
        "rates.csv",
        "persons.csv",
        "events.csv",
        "changes.csv",
        "deaths.csv",
        "planted.json",
    ] {
        assert_eq!(read(&a, file), read(&b, file), "{file}");
    }
    let planted: serde_json::Value =
        serde_json::from_slice(&read(&a, "planted.json")).expect("planted.json is JSON");
    let rules = |list: &str| -> BTreeSet<String> {
        planted[list]
            .as_array()
            .expect("a list")
            .iter()
            .map(|c| c["rule"].as_str().expect("a rule").to_owned())
            .collect()
    };
    let all: BTreeSet<String> = [
        "paid_after_death",
        "paid_after_exit",
        "allowance_over_due",
        "duplicate_payment",
        "shared_account",
        "outlier_amount",
    ]
    .map(String::from)
    .into();
    assert_eq!(rules("cases"), all);
    assert_eq!(rules("near_misses"), all);
    assert_eq!(planted["seed"], 42);
}

#[test]
fn simulate_refuses_sizes_out_of_range_and_writes_nothing() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    let run = simulate(&dir, &["--households", "5"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("--households must be 40 to 100000, not 5"),
        "{run:#?}"
    );
    simulate(&dir, &["--years", "21"]).assert_code(2);
    assert!(!dir.exists());
    let file = t.write_file("a-file", "not a directory");
    let run = simulate(&file.join("district"), &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("a-file"), "names the path: {run:#?}");
}

/// `simulate --check DIR LEDGER` through the binary.
fn check(dir: &Path, ledger: &Path, json: bool) -> Run {
    let mut args = Vec::new();
    if json {
        args.push("--json");
    }
    args.extend([
        "simulate",
        "--check",
        dir.to_str().expect("UTF-8"),
        ledger.to_str().expect("UTF-8"),
    ]);
    run_command(binary_without_ledger().args(&args))
}

/// The rule's line of a `--json` check.
fn rule_line(report: &serde_json::Value, rule: &str) -> serde_json::Value {
    report["rules"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap_or_else(|| panic!("no line for {rule}: {report:#}"))
        .clone()
}

/// A district of twenty years (its payments from 2006 to 2025, its parents born as much
/// earlier) imports in order and its check finds every planted case and nothing else: no
/// parent under 49 is counted and no value date is ahead of today.
#[test]
fn simulate_check_passes_on_a_district_of_twenty_years() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    simulate(&dir, &["--households", "40", "--years", "20"]).assert_ok();
    let run = check(&dir, &t.file("checked"), true);
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["false_alarms"], serde_json::json!([]));
    let planted: serde_json::Value = serde_json::from_slice(&read(&dir, "planted.json")).unwrap();
    assert_eq!(planted["first_year"], 2006, "{planted:#}");
}

/// At the default size every rule finds its planted case and raises nothing else.
#[test]
fn simulate_check_finds_every_planted_case_and_no_false_alarm_at_the_default_size() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    simulate(&dir, &[]).assert_ok();
    let run = check(&dir, &t.file("checked"), true);
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["ok"], true, "{report:#}");
    for rule in [
        "paid_after_death",
        "paid_after_exit",
        "allowance_over_due",
        "duplicate_payment",
        "shared_account",
        "outlier_amount",
    ] {
        let line = rule_line(&report, rule);
        assert_eq!(line["planted"], 1, "{line}");
        assert_eq!(line["found"], 1, "{line}");
        assert_eq!(line["missed"], 0, "{line}");
        assert_eq!(line["false_alarms"], 0, "{line}");
    }
    assert_eq!(report["missed"], serde_json::json!([]));
    assert_eq!(report["false_alarms"], serde_json::json!([]));
    // The ledger it built is a ledger like any other: it verifies and lists the findings.
    let built = run_command(binary_without_ledger().args([
        "--ledger",
        t.file("checked").to_str().unwrap(),
        "verify",
    ]));
    built.assert_ok();
}

/// The table names each rule's counts; a ledger that holds events is refused, and nothing
/// is imported into it.
#[test]
fn simulate_check_prints_a_table_and_refuses_a_ledger_that_is_not_fresh() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    simulate(&dir, &["--households", "40", "--years", "2", "--seed", "5"]).assert_ok();
    let ledger = t.file("checked");
    let run = check(&dir, &ledger, false);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("rule                planted  found  missed  false alarms"),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains("total                     6      6       0             0"),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains("near misses: 7 planted, 0 raised"),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains("ok: every planted case found"),
        "{run:#?}"
    );
    let status = |ledger: &Path| {
        let run = run_command(binary_without_ledger().args([
            "--json",
            "--ledger",
            ledger.to_str().unwrap(),
            "status",
        ]));
        run.assert_ok();
        run.json()["head"]["seq"].clone()
    };
    let before = status(&ledger);
    let again = check(&dir, &ledger, false);
    again.assert_code(2);
    assert!(
        again.stderr.contains("already holds") && again.stderr.contains("checked"),
        "{again:#?}"
    );
    assert_eq!(status(&ledger), before, "nothing was imported again");
    // A ledger just made by `init` is fresh.
    let empty = t.file("empty");
    run_command(binary_without_ledger().args(["--ledger", empty.to_str().unwrap(), "init"]))
        .assert_ok();
    check(&dir, &empty, false).assert_ok();
}

/// A doctored planted.json: an extra case nobody planted is missed, a case taken out of
/// the list turns its finding into a false alarm; either way exit 1.
#[test]
fn simulate_check_reports_a_doctored_planted_list_as_missed_and_false_alarm() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    simulate(&dir, &["--households", "40", "--years", "2", "--seed", "5"]).assert_ok();
    let original: serde_json::Value =
        serde_json::from_slice(&read(&dir, "planted.json")).expect("planted.json is JSON");
    let write_planted = |planted: &serde_json::Value| {
        std::fs::write(dir.join("planted.json"), planted.to_string()).expect("written");
    };

    let mut extra = original.clone();
    let cases = extra["cases"].as_array_mut().expect("a list");
    let mut copy = cases
        .iter()
        .find(|c| c["rule"] == "paid_after_exit")
        .expect("planted")
        .clone();
    copy["households"] = serde_json::json!(["SIM-NOBODY"]);
    cases.push(copy);
    write_planted(&extra);
    let run = check(&dir, &t.file("extra"), true);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(report["ok"], false);
    let line = rule_line(&report, "paid_after_exit");
    assert_eq!(
        (
            &line["planted"],
            &line["found"],
            &line["missed"],
            &line["false_alarms"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(0)
        ),
        "{report:#}"
    );
    assert_eq!(
        report["missed"][0]["households"],
        serde_json::json!(["SIM-NOBODY"])
    );

    let mut fewer = original.clone();
    fewer["cases"]
        .as_array_mut()
        .expect("a list")
        .retain(|c| c["rule"] != "shared_account");
    write_planted(&fewer);
    let run = check(&dir, &t.file("fewer"), false);
    run.assert_code(1);
    assert!(
        run.stdout.contains("false alarm: ") && run.stdout.contains("shared_account"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("FAILED"), "{run:#?}");
}

/// What --check cannot use is refused before any ledger is made: a planted list with an
/// unknown rule (named by list, index and member), a missing file.
#[test]
fn simulate_check_refuses_a_bad_planted_list_or_a_missing_file_before_writing() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    simulate(&dir, &["--households", "40", "--years", "2", "--seed", "5"]).assert_ok();
    let planted = String::from_utf8(read(&dir, "planted.json")).expect("UTF-8");
    let bad = planted.replacen(
        "\"rule\": \"paid_after_death\"",
        "\"rule\": \"paid_twice\"",
        1,
    );
    std::fs::write(dir.join("planted.json"), &bad).expect("written");
    let ledger = t.file("never");
    let run = check(&dir, &ledger, false);
    run.assert_code(2);
    assert!(
        run.stderr.contains("planted.json") && run.stderr.contains("cases[0].rule: \"paid_twice\""),
        "{run:#?}"
    );
    std::fs::write(dir.join("planted.json"), &planted).expect("written");
    std::fs::remove_file(dir.join("changes.csv")).expect("removed");
    let run = check(&dir, &ledger, false);
    run.assert_code(2);
    assert!(run.stderr.contains("changes.csv: missing"), "{run:#?}");
    assert!(!ledger.exists(), "no ledger was made");
    let usage = run_command(binary_without_ledger().args(["simulate", "--check", "d"]));
    usage.assert_code(2);
}
