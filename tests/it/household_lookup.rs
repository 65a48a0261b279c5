//! `household ID` reads one household: its enrollment through its own entry of the
//! household index, its events through its trail index, its persons from its own events.
//! These tests hold that path to the whole registries (as `Ledger::open` reads them back)
//! and to the insider edits the whole registry refuses.

use chrono::NaiveDate;

use crate::support::*;
use fundtrail::ledger::import::ImportKind;
use fundtrail::ledger::Ledger;
use fundtrail::model::domain::Month;
use fundtrail::model::people::People;
use fundtrail::people::roll::{self, PersonView};
use fundtrail::runs::batch;
use fundtrail::runs::household::HouseholdEvents;

const HOUSEHOLDS: [&str; 3] = ["PL-0001", "PL-0002", "PL-0003"];

/// The standard ledger with a rate, PL-0001's parents (the mother dead in 2019) and a
/// person of PL-0002 whose data was erased; PL-0003 has no persons and no rate.
fn sample() -> TempLedger {
    let t = TempLedger::standard();
    let rates = ["support_allowance,bereaved,50.00,2015-01-01,"];
    t.import(
        "rates",
        &t.write_csv("rates.csv", ImportKind::Rates, &rates),
    )
    .assert_ok();
    let persons = [
        format!(
            "P-1,PL-0001,{},王秀芳,mother,1960-05-10,2014-03-01",
            id_number("19600510", 12, true)
        ),
        format!(
            "P-2,PL-0001,{},李建国,father,1970-08-01,2014-03-01",
            id_number("19700801", 34, false)
        ),
        format!(
            "P-3,PL-0002,{},赵小红,mother,1961-02-03,2014-06-01",
            id_number("19610203", 5, true)
        ),
    ];
    t.import(
        "persons",
        &t.write_csv("persons.csv", ImportKind::Persons, &persons),
    )
    .assert_ok();
    let died = ["2019-03-20,person_died,P-1,,DEATH-1,"];
    t.import(
        "changes",
        &t.write_csv("changes.csv", ImportKind::Changes, &died),
    )
    .assert_ok();
    t.run(&["person", "erase", "P-3", "--reason", "request 7"])
        .assert_ok();
    t
}

fn through() -> Month {
    Month::of(NaiveDate::from_ymd_opt(2020, 6, 1).unwrap())
}

/// What the whole registries give of a household: its enrollment, its entitlement (the
/// rates and every enrolled household and person read back), and who of it counts in a
/// few months.
fn full_registry_answer(ledger: &Ledger, household: &str) -> String {
    let enrollment = ledger.enrolled().unwrap().get(household).cloned();
    // The disabled PL-0003 has no rate: its balance shows no entitlement.
    let entitlement = batch::entitlement(ledger, household, through())
        .ok()
        .filter(|_| household != "PL-0003");
    let people = ledger.people();
    let registry = registry_answer(people, household);
    let vault = roll::open_vault(ledger).unwrap();
    let shown: Vec<_> = roll::household_persons(ledger, &vault, household)
        .unwrap()
        .iter()
        .map(PersonView::to_json)
        .collect();
    format!("{enrollment:?}\n{entitlement:?}\n{registry}\n{shown:?}")
}

/// What a people registry says of `household`: its persons, and its eligibility in a few
/// months.
fn registry_answer(people: &People, household: &str) -> String {
    let persons: Vec<_> = people
        .persons_of(household)
        .map(|(id, p)| (id.to_owned(), p.seq, p.died, p.left))
        .collect();
    let eligible: Vec<_> = ["2018-01", "2019-03", "2019-04", "2020-06"]
        .iter()
        .map(|m| people.eligible(household, Month::parse(m).unwrap()))
        .collect();
    format!("{persons:?}\n{eligible:?}")
}

/// The same, from the household alone, on a ledger opened for queries.
fn point_lookup_answer(ledger: &Ledger, household: &str) -> String {
    let enrollment = ledger.enrollment(household).unwrap();
    let events = HouseholdEvents::read(ledger, household).unwrap();
    assert_eq!(events.info(), enrollment.as_ref().unwrap());
    let entitlement = batch::household_entitlement(ledger, household, through()).unwrap();
    let people = events.people();
    let registry = registry_answer(people, household);
    let vault = roll::open_vault(ledger).unwrap();
    let shown: Vec<_> = roll::household_persons_in(ledger, &vault, people, household)
        .unwrap()
        .iter()
        .map(PersonView::to_json)
        .collect();
    format!("{enrollment:?}\n{entitlement:?}\n{registry}\n{shown:?}")
}

#[test]
fn one_household_read_alone_is_what_the_whole_registries_give() {
    let t = sample();
    let full = t.open();
    let expected: Vec<String> = HOUSEHOLDS
        .iter()
        .map(|h| full_registry_answer(&full, h))
        .collect();
    assert!(expected[0].contains("P-2"), "{}", expected[0]);
    assert!(
        expected[1].contains("\"erased_seq\": Number("),
        "P-3 was erased: {}",
        expected[1]
    );
    assert!(
        expected[0].contains("due: "),
        "PL-0001 is rated: {}",
        expected[0]
    );
    drop(full);
    let queries = held(&t.dir, Ledger::open_for_queries(&t.dir).unwrap());
    assert_eq!(queries.enrollment("PL-0099").unwrap(), None);
    assert!(matches!(
        HouseholdEvents::read(&queries, "PL-0099"),
        Err(batch::BatchError::UnknownHousehold(h)) if h == "PL-0099"
    ));
    for (household, expected) in HOUSEHOLDS.iter().zip(&expected) {
        assert_eq!(
            &point_lookup_answer(&queries, household),
            expected,
            "{household}"
        );
    }
}

/// Copies the files of the directory `from` into `to` (the vault is one level deep).
fn copy_files(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// An insider who puts back the vault as it was before an erasure (its key still there)
/// does not hide the erasure: the log says who was erased.
#[test]
fn a_vault_put_back_from_before_an_erasure_does_not_hide_it() {
    let t = TempLedger::standard();
    let persons = [format!(
        "P-3,PL-0002,{},赵小红,mother,1961-02-03,2014-06-01",
        id_number("19610203", 5, true)
    )];
    t.import(
        "persons",
        &t.write_csv("persons.csv", ImportKind::Persons, &persons),
    )
    .assert_ok();
    let vault = t.dir.join(fundtrail::people::vault::VAULT_DIR);
    let before = t.tmp.path().join("vault-before");
    copy_files(&vault, &before);
    t.run(&["person", "erase", "P-3", "--reason", "request 7"])
        .assert_ok();
    let erased_at = t.open().view().head().size;
    std::fs::remove_dir_all(&vault).unwrap();
    copy_files(&before, &vault);
    let json = t.run(&["--json", "household", "PL-0002"]).json();
    assert_eq!(json["persons"][0]["person_id"], "P-3");
    assert_eq!(json["persons"][0]["erased_seq"], erased_at);
}

#[test]
fn household_shows_the_entitlement_and_persons_the_whole_registries_give() {
    let t = sample();
    let erased_at = t.open().view().head().size;
    let json = t
        .run(&["--json", "household", "PL-0001", "--through", "2020-06"])
        .json();
    let full = t
        .run(&["--json", "entitlement", "PL-0001", "--through", "2020-06"])
        .json();
    assert_eq!(json["support_allowance_entitlement"], full);
    assert_eq!(json["persons"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["persons"][0]["died"]["date"], "2019-03-20");
    assert_eq!(json["persons"][0]["erased_seq"], serde_json::Value::Null);
    // An erasure names no household: it still shows, from the people registry.
    let json = t.run(&["--json", "household", "PL-0002"]).json();
    assert_eq!(json["persons"][0]["person_id"], "P-3");
    assert_eq!(json["persons"][0]["erased_seq"], erased_at);
    let text = t.run(&["household", "PL-0001", "--through", "2020-06"]);
    text.assert_ok();
    let line = format!(
        "support allowance through 2020-06: due {}  paid {}",
        full["due"].as_str().unwrap(),
        full["paid"].as_str().unwrap()
    );
    assert!(text.stdout.contains(&line), "{text:#?}");
    assert!(text.stdout.contains("died 2019-03-20"), "{text:#?}");
}

fn household_key(id: &str) -> Vec<u8> {
    [b"h", id.as_bytes()].concat()
}

/// Runs `household ID` after `edit` of the household index; returns the run.
fn after_edit(edit: impl FnOnce(&sled::Db), household: &str) -> (TempLedger, Run) {
    let t = TempLedger::standard();
    {
        let db = t.sled();
        edit(&db);
    }
    let run = t.run(&["household", household]);
    (t, run)
}

#[track_caller]
fn assert_refused(run: &Run, reason: &str) {
    run.assert_code(1);
    assert!(run.stderr.contains("the household index: "), "{run:#?}");
    assert!(run.stderr.contains(reason), "{run:#?}");
    assert!(!run.stdout.contains("BANK-"), "no trail shown: {run:#?}");
}

#[test]
fn an_insider_edit_of_the_households_entry_is_refused() {
    // Moved to another household's enrollment (PL-0001's, seq 1).
    let (t, run) = after_edit(
        |db| {
            db.insert(household_key("PL-0002"), &1u64.to_be_bytes())
                .unwrap();
        },
        "PL-0002",
    );
    assert_refused(
        &run,
        "household PL-0002 points at seq 1, the enrollment of PL-0001",
    );
    // The other households' own entries still hold; `verify` names the edited one.
    t.run(&["household", "PL-0001"]).assert_ok();
    t.run(&["verify"]).assert_code(1);

    // Moved to an event that enrolls nobody (seq 4, an allocation).
    let (_, run) = after_edit(
        |db| {
            db.insert(household_key("PL-0002"), &4u64.to_be_bytes())
                .unwrap();
        },
        "PL-0002",
    );
    assert_refused(
        &run,
        "household PL-0002 points at seq 4, which is not an enrollment",
    );

    // Removed: the household's sealed trail still lists its enrollment.
    let (_, run) = after_edit(
        |db| {
            db.remove(household_key("PL-0003")).unwrap();
        },
        "PL-0003",
    );
    assert_refused(
        &run,
        "household PL-0003 has no entry, yet its sealed trail lists 1",
    );
}

#[test]
fn an_unknown_household_is_still_bad_input() {
    let t = TempLedger::standard();
    let run = t.run(&["household", "PL-0099"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("household PL-0099 is not enrolled"),
        "{run:#?}"
    );
    // A stray entry naming a household the log never enrolled changes nothing of that.
    {
        let db = t.sled();
        db.insert(household_key("PL-0099"), &1u64.to_be_bytes())
            .unwrap();
    }
    t.run(&["household", "PL-0099"]).assert_code(2);
    t.run(&["household", "PL-0001"]).assert_ok();
}
