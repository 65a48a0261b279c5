//! For random logs (enrollments, payments, reversals, persons and life events, several
//! households, several batches), a household's trail read through the household trail
//! index equals the trail of a scan of the whole log, for every household, and `verify`
//! finds the index exact.

use crate::support::*;
use fundtrail::ledger::import::ImportKind;
use fundtrail::ledger::readmodels::{household_trail, household_trail_scanned};
use proptest::prelude::*;

/// What one step of a random log appends.
#[derive(Debug, Clone)]
enum Step {
    /// A payment to household `i` of the enrolled ones.
    Pay(usize),
    /// The reversal of the `i`th payment still live (if any is).
    Reverse(usize),
    /// A new household, PL-1xxx.
    Enroll,
    /// Person P-2 (of PL-0001) leaves; once.
    Leaves,
    /// The batch so far is committed, and a new one begins.
    Commit,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0usize..8).prop_map(Step::Pay),
        2 => (0usize..8).prop_map(Step::Reverse),
        1 => Just(Step::Enroll),
        1 => Just(Step::Leaves),
        2 => Just(Step::Commit),
    ]
}

/// PL-0001's parents, through the binary (the vault holds their names).
fn with_persons(t: &TempLedger) {
    let rows = [
        "P-1,PL-0001,530103196005100244,王秀芳,mother,1960-05-10,2014-03-01",
        "P-2,PL-0001,530103197008010690,李建国,父亲,1970-08-01,2014-03-01",
    ];
    let rows: Vec<String> = rows.iter().map(|r| complete_id(r)).collect();
    let path = t.write_csv("persons.csv", ImportKind::Persons, &rows);
    t.import("persons", &path).assert_ok();
}

/// The row with its identity number's check digit made valid.
fn complete_id(row: &str) -> String {
    let fields: Vec<&str> = row.split(',').collect();
    let number = fundtrail::people::identity::IdNumber::complete(&fields[2][..17])
        .expect("a valid prefix")
        .expose()
        .to_owned();
    let mut out: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    out[2] = number;
    out.join(",")
}

/// Appends the steps' rows as event (and change) batches.
fn append_steps(t: &TempLedger, steps: &[Step]) -> Vec<String> {
    let mut households: Vec<String> = STANDARD_HOUSEHOLDS
        .iter()
        .map(|row| row.split(',').next().expect("an id").to_owned())
        .collect();
    // This test's own payments, all of the holiday program, which its reversals name.
    let mut live: Vec<(String, String)> = Vec::new();
    let mut events: Vec<String> = Vec::new();
    let mut left = false;
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Pay(h) => {
                let household = households[h % households.len()].clone();
                let reference = format!("PAY-{i}");
                events.push(format!(
                    "2016-01-05,disbursement,{household},holiday_condolence,1.00,1,{reference},"
                ));
                live.push((household, reference));
            }
            Step::Reverse(k) if !live.is_empty() => {
                let (household, reference) = live.remove(k % live.len());
                events.push(format!(
                    "2016-02-01,reversal,{household},holiday_condolence,1.00,1,{reference},错"
                ));
            }
            Step::Reverse(_) => {}
            Step::Enroll => {
                flush(t, &mut events);
                let household = format!("PL-{}", 1000 + i);
                t.append_csv(
                    ImportKind::Households,
                    &[format!(
                        "{household},拓东,拓东第1社区,bereaved,2,2015-01-01"
                    )],
                );
                households.push(household);
            }
            Step::Leaves if !left => {
                flush(t, &mut events);
                t.append_csv(
                    ImportKind::Changes,
                    &[format!("2016-03-01,person_left,P-2,,LEFT-{i},")],
                );
                left = true;
            }
            Step::Leaves => {}
            Step::Commit => flush(t, &mut events),
        }
    }
    flush(t, &mut events);
    households
}

fn flush(t: &TempLedger, events: &mut Vec<String>) {
    if !events.is_empty() {
        t.append_csv(ImportKind::Events, events);
        events.clear();
    }
}

proptest! {
    // Each case builds a ledger on disk and runs the binary once: a few cases cover
    // interleavings of batches, households and event kinds while keeping the suite fast.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn the_trail_through_the_index_is_the_trail_of_a_full_scan(
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let t = TempLedger::standard();
        with_persons(&t);
        let households = append_steps(&t, &steps);
        let ledger = t.open();
        let view = ledger.view();
        for household in households.iter().map(String::as_str).chain(["PL-9999"]) {
            let indexed = household_trail(view, household).expect("read through the index");
            let scanned = household_trail_scanned(view, household).expect("a full scan");
            prop_assert_eq!(&indexed, &scanned, "household {}", household);
            let records = view.household_records(household).expect("records");
            let all = view
                .household_records_scanned(household, view.head().size)
                .expect("records by a scan");
            prop_assert_eq!(records, all);
        }
        prop_assert_eq!(view.verify(|_| {}).expect("verify runs").fault, None);
    }
}
