//! Persons, life events and the personal-data vault, through the binary: identity numbers
//! checked and kept only as keyed hashes, names and numbers only in the vault, reveals
//! recorded, erasure that leaves the log and every proof as they were, and the write rules
//! that life events bring (no identity twice, no payment after the end, no allowance for
//! more persons than are eligible).

use std::path::Path;

use crate::support::ledger::with_sled;
use crate::support::*;
use fundtrail::ledger::import::ImportKind;

const NAME_MOTHER: &str = "王秀芳";
const NAME_FATHER: &str = "李建国";

/// PL-0001's parents: a mother born 1960 (49 in 2009) and a father born 1970 (49 in 2019).
fn parents() -> Vec<String> {
    vec![
        format!(
            "P-1,PL-0001,{},{NAME_MOTHER},mother,1960-05-10,2014-03-01",
            id_number("19600510", 12, true)
        ),
        format!(
            "P-2,PL-0001,{},{NAME_FATHER},父亲,1970-08-01,2014-03-01",
            id_number("19700801", 34, false)
        ),
    ]
}

/// The standard ledger with PL-0001's parents recorded through the binary.
fn with_parents() -> TempLedger {
    let t = TempLedger::standard();
    let path = t.write_csv("persons.csv", ImportKind::Persons, &parents());
    t.import("persons", &path).assert_ok();
    t
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        out.extend(std::fs::read(entry).unwrap_or_default());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn names_and_numbers_never_reach_the_ledger_files_or_the_log_in_clear() {
    let t = with_parents();
    let number = id_number("19600510", 12, true);
    let bytes = all_bytes(&t.dir);
    for secret in [NAME_MOTHER, NAME_FATHER, number.as_str()] {
        assert!(!contains(&bytes, secret), "{secret} is in a ledger file");
    }
    let log = t.run(&["--json", "log", "--limit", "50"]);
    log.assert_ok();
    assert!(log.stdout.contains("person_added"), "{log:#?}");
    for secret in [NAME_MOTHER, NAME_FATHER, number.as_str()] {
        assert!(!log.stdout.contains(secret), "log shows {secret}");
    }
    assert_eq!(t.verify().fault, None);
}

#[test]
fn person_show_masks_and_a_reveal_is_recorded_with_its_reason() {
    let t = with_parents();
    let masked = t.run(&["person", "show", "P-1"]);
    masked.assert_ok();
    assert!(masked.stdout.contains("王*芳"), "{masked:#?}");
    assert!(masked.stdout.contains("530103********"), "{masked:#?}");
    assert!(!masked.stdout.contains(NAME_MOTHER));
    let before = t.open().view().head().size;
    let no_reason = t.run(&["person", "show", "P-1", "--reveal"]);
    no_reason.assert_code(2);
    let revealed = t.run(&[
        "person",
        "show",
        "P-1",
        "--reveal",
        "--reason",
        "case 2026-17",
    ]);
    revealed.assert_ok();
    assert!(revealed.stdout.contains(NAME_MOTHER), "{revealed:#?}");
    assert!(revealed.stdout.contains(&id_number("19600510", 12, true)));
    let ledger = t.open();
    let view = ledger.view();
    assert_eq!(view.head().size, before + 1, "the reveal is an event");
    let record = view.record(fundtrail::Seq::new(before + 1)).unwrap();
    assert_eq!(record.body.type_name(), "person_revealed");
    let fields = fundtrail::model::render::record_fields(&record);
    assert_eq!(fields["reason"], "case 2026-17");
    assert_eq!(fields["person_id"], "P-1");
}

#[test]
fn erasure_destroys_the_data_and_leaves_the_log_proofs_and_totals_as_they_were() {
    let t = with_parents();
    let totals_before = t.run(&["--json", "totals", "--by", "program"]);
    totals_before.assert_ok();
    let (size, root, proof) = {
        let ledger = t.open();
        let view = ledger.view();
        let size = view.head().size;
        (
            size,
            view.root(),
            view.inclusion_proof(fundtrail::Seq::new(9), size).unwrap(),
        )
    };
    let erase = t.run(&["person", "erase", "P-1", "--reason", "request 2026-3"]);
    erase.assert_ok();
    assert_eq!(t.verify().fault, None);
    let shown = t.run(&["person", "show", "P-1"]);
    shown.assert_ok();
    assert!(shown.stdout.contains("(erased)"), "{shown:#?}");
    let reveal = t.run(&["person", "show", "P-1", "--reveal", "--reason", "x"]);
    reveal.assert_code(2);
    assert!(!reveal.stdout.contains(NAME_MOTHER), "{reveal:#?}");
    let totals_after = t.run(&["--json", "totals", "--by", "program"]);
    assert_eq!(totals_after.stdout, totals_before.stdout);
    {
        let ledger = t.open();
        let view = ledger.view();
        assert_eq!(view.head().size, size + 1, "one erasure event");
        assert_eq!(
            view.root_at(size).unwrap(),
            root,
            "the tree before it is unchanged"
        );
        assert_eq!(
            view.inclusion_proof(fundtrail::Seq::new(9), size).unwrap(),
            proof
        );
    }
    let bytes = all_bytes(&t.dir);
    assert!(
        !contains(&bytes, NAME_MOTHER),
        "the erased name is still in a file"
    );
    assert!(!contains(&bytes, &id_number("19600510", 12, true)));
    let status = t.run(&["status"]);
    status.assert_ok();
    assert!(
        status
            .stdout
            .contains("persons:    2 (1 with personal data erased)"),
        "{status:#?}"
    );
    let again = t.run(&["person", "erase", "P-1", "--reason", "request 2026-3"]);
    again.assert_ok();
    assert!(
        again.stdout.contains(&format!("seq {}", size + 1)),
        "{again:#?}"
    );
}

/// Imports `rows` of `kind` and checks that line `line` is refused for `field`, with the
/// ledger unchanged; returns the message.
#[track_caller]
fn refused(t: &TempLedger, kind: ImportKind, rows: &[String], line: u64, field: &str) -> String {
    let name = match kind {
        ImportKind::Persons => "persons",
        ImportKind::Changes => "changes",
        ImportKind::Events => "events",
        other => panic!("no people tests for {other:?}"),
    };
    let path = t.write_csv("input.csv", kind, rows);
    let before = t.dump();
    let run = t.import(name, &path);
    run.assert_code(2);
    let prefix = format!("error: {}:{line}: {field}: ", path.display());
    assert!(
        run.stderr.starts_with(&prefix),
        "expected {prefix:?}: {run:#?}"
    );
    assert_eq!(t.dump(), before, "a refused import changed the ledger");
    run.stderr
}

#[test]
fn identity_numbers_are_checked_and_never_echoed() {
    let t = TempLedger::standard();
    let good = id_number("19600510", 12, true);
    let mut wrong_check = good.clone();
    let last = if good.ends_with('0') { "1" } else { "0" };
    wrong_check.replace_range(17.., last);
    let cases = [
        (
            wrong_check.clone(),
            "1960-05-10",
            "mother",
            "check character",
        ),
        (
            good.clone(),
            "1960-05-11",
            "mother",
            "differs from birth_date",
        ),
        (
            good.clone(),
            "1960-05-10",
            "father",
            "the role father is male",
        ),
        (
            "530103600510123".to_string(),
            "1960-05-10",
            "mother",
            "15-digit",
        ),
    ];
    for (number, birth, role, words) in cases {
        let row = format!("P-9,PL-0001,{number},{NAME_MOTHER},{role},{birth},2014-03-01");
        let message = refused(&t, ImportKind::Persons, &[row], 2, "id_number");
        assert!(message.contains(words), "{message:?} should say {words:?}");
        assert!(
            !message.contains(&number),
            "the message repeats the number: {message}"
        );
        assert!(!message.contains(NAME_MOTHER));
    }
}

#[test]
fn an_identity_is_in_one_household_and_a_dead_one_is_not_enrolled_again() {
    let t = with_parents();
    let copy = format!(
        "P-7,PL-0002,{},{NAME_MOTHER},mother,1960-05-10,2014-06-01",
        id_number("19600510", 12, true)
    );
    let message = refused(
        &t,
        ImportKind::Persons,
        std::slice::from_ref(&copy),
        2,
        "id_number",
    );
    assert!(
        message.contains("already person P-1 of household PL-0001"),
        "{message}"
    );
    let died = vec!["2019-03-20,person_died,P-1,,DEATH-1,".to_string()];
    let path = t.write_csv("changes.csv", ImportKind::Changes, &died);
    t.import("changes", &path).assert_ok();
    let message = refused(&t, ImportKind::Persons, &[copy], 2, "id_number");
    assert!(message.contains("recorded dead on 2019-03-20"), "{message}");
    // The same persons file again appends nothing.
    let path = t.write_csv("persons-again.csv", ImportKind::Persons, &parents());
    t.assert_reimport_is_no_op("persons", &path, 2);
}

#[test]
fn life_events_refuse_later_payments_and_allowances_for_the_dead() {
    let t = with_parents();
    let died = vec!["2019-03-20,person_died,P-1,,DEATH-1,火化证明".to_string()];
    let path = t.write_csv("changes.csv", ImportKind::Changes, &died);
    t.import("changes", &path).assert_ok();
    // The father turns 49 in August 2019: from April to July nobody of PL-0001 is due.
    let april =
        vec!["2019-04-30,disbursement,PL-0001,support_allowance,10.00,1,BANK-APR,".to_string()];
    let message = refused(&t, ImportKind::Events, &april, 2, "persons");
    assert!(
        message.contains("exceed the 0 of household PL-0001 eligible in 2019-04"),
        "{message}"
    );
    assert!(message.contains("P-1 no longer counts (seq"), "{message}");
    let march =
        vec!["2019-03-31,disbursement,PL-0001,support_allowance,10.00,1,BANK-MAR,".to_string()];
    let path = t.write_csv("march.csv", ImportKind::Events, &march);
    t.import("events", &path).assert_ok();
    let exit = vec!["2019-09-15,household_exited,,PL-0001,EXIT-1,迁出本区".to_string()];
    let path = t.write_csv("exit.csv", ImportKind::Changes, &exit);
    t.import("changes", &path).assert_ok();
    let late =
        vec!["2019-09-16,condolence_payment,PL-0001,holiday_condolence,10.00,1,HC-1,".to_string()];
    let message = refused(&t, ImportKind::Events, &late, 2, "date");
    assert!(
        message.contains("after household PL-0001 exited the scheme on 2019-09-15 (seq"),
        "{message}"
    );
    let twice = vec!["2019-10-01,eligibility_ended,,PL-0001,END-1,".to_string()];
    let message = refused(&t, ImportKind::Changes, &twice, 2, "type");
    assert!(message.contains("already exited the scheme"), "{message}");
}

#[test]
fn change_rows_name_what_is_missing() {
    let t = with_parents();
    let cases = [
        ("2019-03-20,person_died,,PL-0001,D-1,", "person_id"),
        ("2019-03-20,household_exited,P-1,PL-0001,D-2,", "person_id"),
        ("2019-03-20,household_exited,,,D-3,", "household_id"),
        ("2019-03-20,person_moved,P-1,,D-4,", "type"),
        ("2019-03-20,person_left,P-1,PL-0002,D-5,", "household_id"),
        ("2019-03-20,person_died,P-404,,D-6,", "person_id"),
        ("1950-01-01,person_died,P-1,,D-7,", "date"),
    ];
    for (row, field) in cases {
        refused(&t, ImportKind::Changes, &[row.to_string()], 2, field);
    }
}

/// `fundtrail import deaths FILE --source SOURCE`.
fn import_register(t: &TempLedger, file: &str, source: &str) -> Run {
    t.run(&["import", "deaths", file, "--source", source])
}

/// [`import_register`] with `--json`: what it printed, and that parsed.
fn register_json(t: &TempLedger, file: &str, source: &str) -> (String, serde_json::Value) {
    let run = t.run(&["--json", "import", "deaths", file, "--source", source]);
    run.assert_ok();
    let report = serde_json::from_str(&run.stdout).expect("the report is JSON");
    (run.stdout, report)
}

#[test]
fn a_death_register_records_matches_reports_conflicts_and_overpayments() {
    let t = with_parents();
    let setup = vec!["support_allowance,bereaved,50.00,2015-01-01,".to_string()];
    let path = t.write_csv("rates.csv", ImportKind::Rates, &setup);
    t.import("rates", &path).assert_ok();
    // Paid for the mother alone in March, April and May 2019, before her death was known.
    let paid: Vec<String> = ["03-31", "04-30", "05-31"]
        .iter()
        .map(|d| format!("2019-{d},disbursement,PL-0001,support_allowance,50.00,1,SA-{d},"))
        .collect();
    let path = t.write_csv("paid.csv", ImportKind::Events, &paid);
    t.import("events", &path).assert_ok();
    let mother = id_number("19600510", 12, true);
    let father = id_number("19700801", 34, false);
    let stranger = id_number("19551111", 77, true);
    let register = format!(
        "id_number,name,date_of_death,source_ref\n\
         {mother},{NAME_MOTHER},2019-03-20,HZ-1\n\
         {stranger},张三,2019-01-02,HZ-2\n\
         {mother},{NAME_MOTHER},2019-03-20,HZ-3\n"
    );
    let path = t.write_file("deaths.csv", &register);
    let file = path.to_str().unwrap();
    let (printed, report) = register_json(&t, file, "police-2026-11");
    assert_eq!(report["read"], 3);
    assert_eq!(report["matched"], 2);
    assert_eq!(report["recorded"], 1);
    assert_eq!(report["already_recorded"], 1, "the repeated row");
    assert_eq!(report["unmatched"], 1);
    assert_eq!(report["overpaid"][0]["household_id"], "PL-0001");
    // April and May 2019 paid a dead mother; January 2015 (BANK-1 of the standard ledger,
    // 100.00 for 2) paid for the father, who turned 49 only in 2019.
    assert_eq!(report["overpaid"][0]["amount"], "150.00");
    assert_eq!(
        report["overpaid"][0]["months"],
        serde_json::json!(["2015-01", "2019-04", "2019-05"])
    );
    for secret in [NAME_MOTHER, "张三", mother.as_str(), stranger.as_str()] {
        assert!(!printed.contains(secret), "the report shows {secret}");
        assert!(!contains(&all_bytes(&t.dir), secret), "{secret} was stored");
    }
    let view = t.open();
    let seq = view.view().lookup_reference("police-2026-11:2").unwrap();
    assert!(
        seq.is_some(),
        "the death's reference names the register and line"
    );
    drop(view);
    // The same register again appends nothing.
    let before = t.dump();
    let (_, again) = register_json(&t, file, "police-2026-11");
    assert_eq!(again["recorded"], 0);
    assert_eq!(again["already_recorded"], 2);
    assert_eq!(t.dump().without_read_models(), before.without_read_models());
    // Another date for a recorded death is a conflict, and nothing changes.
    let other = format!(
        "id_number,name,date_of_death,source_ref\n{mother},{NAME_MOTHER},2019-02-01,\n{father},{NAME_FATHER},2020-01-05,\n"
    );
    let path = t.write_file("hospital.csv", &other);
    let run = import_register(&t, path.to_str().unwrap(), "hospital");
    run.assert_ok();
    assert!(
        run.stdout
            .contains("conflict, line 2: person P-1 is recorded dead on 2019-03-20"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("1 newly recorded dead"), "{run:#?}");
}

#[test]
fn a_death_register_with_a_bad_row_records_nothing() {
    let t = with_parents();
    let register = format!(
        "id_number,name,date_of_death,source_ref\n{},{NAME_MOTHER},2019-03-20,\n530103600510123,x,2019-03-20,\n",
        id_number("19600510", 12, true)
    );
    let path = t.write_file("deaths.csv", &register);
    let before = t.dump();
    let run = import_register(&t, path.to_str().unwrap(), "police");
    run.assert_code(2);
    assert!(run.stderr.contains(":3: id_number: "), "{run:#?}");
    assert_eq!(t.dump(), before);
    let bad_source = import_register(&t, path.to_str().unwrap(), "a:b");
    bad_source.assert_code(2);
}

#[test]
fn a_people_index_entry_removed_by_an_insider_stops_writes_and_verify_names_it() {
    let t = with_parents();
    // Seq 9 is P-1's person_added: without it the registry would not know the mother.
    let key: Vec<u8> = [&b"q"[..], &9u64.to_be_bytes()].concat();
    let removed = with_sled(&t.dir, |db| db.remove(&key).unwrap());
    assert!(removed.is_some(), "the people index lists seq 9");
    let ledger = t.open();
    let damaged = ledger.damaged().map(str::to_owned);
    drop(ledger);
    assert!(
        damaged
            .as_deref()
            .is_some_and(|d| d.contains("people index lists 1 events")),
        "{damaged:?}"
    );
    let fault = t.verify().fault.map(|f| f.to_string());
    assert!(
        fault
            .as_deref()
            .is_some_and(|f| f.contains("seq 9") && f.contains("people index")),
        "{fault:?}"
    );
    let changes = vec!["2019-03-20,person_died,P-2,,DEATH-9,".to_string()];
    let path = t.write_csv("changes.csv", ImportKind::Changes, &changes);
    let run = t.import("changes", &path);
    assert_ne!(run.code, 0, "a damaged ledger appends nothing: {run:#?}");
}

#[test]
fn a_payee_account_is_kept_as_a_keyed_hash_and_shown_masked() {
    let t = TempLedger::standard();
    let account = "6222021234567891234";
    let header = "date,type,household_id,program,amount,persons,reference,memo,account";
    let text = format!(
        "{header}\n2015-02-28,disbursement,PL-0001,support_allowance,10.00,1,ACC-1,,{account}\n"
    );
    let path = t.write_file("accounts.csv", &text);
    t.import("events", &path).assert_ok();
    let log = t.run(&["--json", "log", "--limit", "1"]);
    log.assert_ok();
    assert!(
        log.stdout.contains("\"account\": \"************1234\""),
        "{log:#?}"
    );
    assert!(
        log.stdout.contains("\"type\": \"disbursement\""),
        "{log:#?}"
    );
    assert!(!log.stdout.contains(account));
    assert!(
        !contains(&all_bytes(&t.dir), account),
        "the account is stored in clear"
    );
    assert_eq!(t.verify().fault, None);
    // The same row again is a no-op; the column may come in any order or not at all.
    t.assert_reimport_is_no_op("events", &path, 1);
    let cases = [
        (
            "2015-02-28,disbursement,PL-0001,support_allowance,10.00,1,ACC-2,,12345",
            "account",
        ),
        (
            "2015-02-28,fund_allocation,,support_allowance,10.00,,ACC-3,,622202123456789",
            "account",
        ),
    ];
    for (row, field) in cases {
        let path = t.write_file("bad.csv", &format!("{header}\n{row}\n"));
        let before = t.dump();
        let run = t.import("events", &path);
        run.assert_code(2);
        assert!(run.stderr.contains(&format!(":2: {field}: ")), "{run:#?}");
        assert!(!run.stderr.contains("12345678"), "{run:#?}");
        assert_eq!(t.dump(), before);
    }
}

#[test]
fn household_lists_its_persons_masked_with_their_deaths() {
    let t = with_parents();
    let died = vec!["2019-03-20,person_died,P-1,,DEATH-1,".to_string()];
    let path = t.write_csv("changes.csv", ImportKind::Changes, &died);
    t.import("changes", &path).assert_ok();
    let run = t.run(&["household", "PL-0001"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("person P-1  mother  王*芳  530103********"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("died 2019-03-20"), "{run:#?}");
    assert!(!run.stdout.contains(NAME_MOTHER));
    let json = t.run(&["--json", "household", "PL-0002"]);
    json.assert_ok();
    assert!(json.stdout.contains("\"persons\": []"), "{json:#?}");
}

#[test]
fn a_refused_persons_import_keeps_no_name_in_the_vault() {
    use fundtrail::keys::SigningKeyFile;
    use fundtrail::model::person::PersonId;
    use fundtrail::people::vault::{vault_dir, Entry, Vault};
    let t = with_parents();
    let valid = format!(
        "P-5,PL-0002,{},赵小红,mother,1961-02-03,2014-06-01",
        id_number("19610203", 5, true)
    );
    // The same identity as P-1, who is a current member of PL-0001: refused by the rules,
    // after the vault was written.
    let copy = format!(
        "P-6,PL-0003,{},{NAME_MOTHER},mother,1960-05-10,2015-06-01",
        id_number("19600510", 12, true)
    );
    refused(&t, ImportKind::Persons, &[valid, copy], 3, "id_number");
    let key = SigningKeyFile::read(&t.dir).unwrap().vault_key();
    let vault = Vault::open(&vault_dir(&t.dir), key).unwrap();
    for id in ["P-5", "P-6"] {
        let entry = vault.get(&PersonId::parse(id).unwrap()).unwrap();
        assert_eq!(entry, Entry::Unknown, "{id} is still in the vault");
    }
    assert!(matches!(
        vault.get(&PersonId::parse("P-1").unwrap()).unwrap(),
        Entry::Present(_)
    ));
}
