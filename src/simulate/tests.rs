//! The generator's own promises: deterministic, every rule planted with its near misses
//! at the places planted.json names, and nothing a write rule would refuse.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

fn district(households: u32, years: u32, seed: u64) -> District {
    generate(Options {
        households,
        years,
        seed,
    })
    .expect("the options are in range")
}

fn file(d: &District, name: &str) -> String {
    d.files()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| text)
        .expect("the district has the file")
}

/// The rows of a CSV text as maps from column to value (the generated files hold no quotes
/// or commas inside values).
fn rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|line| {
            let values: Vec<&str> = line.split(',').collect();
            assert_eq!(values.len(), header.len(), "{line}");
            header
                .iter()
                .zip(values)
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn fen(amount: &str) -> i64 {
    let (yuan, cents) = amount.split_once('.').expect("two decimals");
    yuan.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

const RULES: [&str; 6] = [
    "paid_after_death",
    "paid_after_exit",
    "allowance_over_due",
    "duplicate_payment",
    "shared_account",
    "outlier_amount",
];

#[test]
fn the_same_options_give_the_same_bytes_and_another_seed_other_ones() {
    let a = district(60, 2, 7);
    let b = district(60, 2, 7);
    assert_eq!(a.files(), b.files());
    assert_eq!(a.planted.to_json(), b.planted.to_json());
    let c = district(60, 2, 8);
    assert_ne!(file(&a, "events.csv"), file(&c, "events.csv"));
    assert_ne!(a.planted, c.planted);
}

#[test]
fn a_district_of_more_than_five_years_ends_in_the_last_year() {
    assert_eq!(first_year(2), FIRST_YEAR);
    assert_eq!(first_year(5), FIRST_YEAR);
    assert_eq!(first_year(6), LAST_YEAR - 5);
    assert_eq!(first_year(MAX_YEARS), 2006);
    let d = district(60, 12, 3);
    let events = file(&d, "events.csv");
    let years: BTreeSet<&str> = events.lines().skip(1).map(|line| &line[..4]).collect();
    let expected: Vec<String> = (2014..=2025).map(|y| y.to_string()).collect();
    assert_eq!(years.into_iter().collect::<Vec<_>>(), expected);
    assert!(file(&d, "households.csv").contains(",2013-"));
}

#[test]
fn options_out_of_range_are_refused_with_their_bounds() {
    let cases = [
        (
            MIN_HOUSEHOLDS - 1,
            DEFAULT_YEARS,
            "--households must be 40 to 100000, not 39",
        ),
        (
            MAX_HOUSEHOLDS + 1,
            DEFAULT_YEARS,
            "--households must be 40 to 100000, not 100001",
        ),
        (
            DEFAULT_HOUSEHOLDS,
            MIN_YEARS - 1,
            "--years must be 2 to 20, not 1",
        ),
        (
            DEFAULT_HOUSEHOLDS,
            MAX_YEARS + 1,
            "--years must be 2 to 20, not 21",
        ),
    ];
    for (households, years, message) in cases {
        let options = Options {
            households,
            years,
            seed: 1,
        };
        let err = generate(options).err().expect("refused");
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn every_rule_is_planted_and_has_a_near_miss() {
    let d = district(DEFAULT_HOUSEHOLDS, DEFAULT_YEARS, DEFAULT_SEED);
    let planted: BTreeSet<&str> = d.planted.cases.iter().map(|c| c.rule).collect();
    let missed: BTreeSet<&str> = d.planted.near_misses.iter().map(|c| c.rule).collect();
    assert_eq!(planted, RULES.into_iter().collect());
    assert_eq!(missed, RULES.into_iter().collect());
    let outliers = d
        .planted
        .near_misses
        .iter()
        .filter(|c| c.rule == "outlier_amount");
    assert_eq!(
        outliers.count(),
        2,
        "4.9 times the median, and a small group"
    );
}

#[test]
fn every_planted_reference_is_a_payment_of_its_households_in_its_months() {
    let d = district(DEFAULT_HOUSEHOLDS, DEFAULT_YEARS, 3);
    let events = rows(&file(&d, "events.csv"));
    let by_reference: BTreeMap<&str, &BTreeMap<String, String>> = events
        .iter()
        .map(|r| (r["reference"].as_str(), r))
        .collect();
    assert_eq!(by_reference.len(), events.len(), "references are unique");
    for case in d.planted.cases.iter().chain(&d.planted.near_misses) {
        assert!(!case.references.is_empty(), "{case:?}");
        for reference in &case.references {
            let row = by_reference[reference.as_str()];
            assert!(case.households.contains(&row["household_id"]), "{case:?}");
            assert!(
                case.months.contains(&row["date"][..7].to_string()),
                "{case:?}"
            );
            if let Some(last4) = &case.account_last4 {
                assert!(row["account"].ends_with(last4.as_str()), "{case:?}");
            }
        }
    }
}

/// The case of `rule` among `cases`.
fn case<'c>(cases: &'c [Case], rule: &str) -> &'c Case {
    cases.iter().find(|c| c.rule == rule).expect("planted")
}

#[test]
fn the_deaths_are_in_the_register_and_the_case_is_paid_after_the_month_of_death() {
    let d = district(DEFAULT_HOUSEHOLDS, DEFAULT_YEARS, 5);
    let persons = rows(&file(&d, "persons.csv"));
    let register = rows(&file(&d, "deaths.csv"));
    let number_of = |person: &str| {
        persons
            .iter()
            .find(|p| p["person_id"] == person)
            .expect("on the roll")["id_number"]
            .clone()
    };
    let roll: BTreeSet<&str> = persons.iter().map(|p| p["id_number"].as_str()).collect();
    let matched: Vec<_> = register
        .iter()
        .filter(|r| roll.contains(r["id_number"].as_str()))
        .collect();
    assert_eq!(matched.len(), 2, "the case and the near miss, nobody else");
    for (c, after) in [
        (case(&d.planted.cases, "paid_after_death"), true),
        (case(&d.planted.near_misses, "paid_after_death"), false),
    ] {
        let person = c.person.as_deref().expect("a death names its person");
        let row = matched
            .iter()
            .find(|r| r["id_number"] == number_of(person))
            .expect("in the register");
        let died = &row["date_of_death"][..7];
        for month in &c.months {
            assert_eq!(month.as_str() > died, after, "{c:?} died {died}");
            assert!(
                after || month == died,
                "the near miss is the month of death"
            );
        }
    }
}

#[test]
fn the_exits_are_in_the_changes_and_only_the_case_is_paid_after() {
    let d = district(DEFAULT_HOUSEHOLDS, DEFAULT_YEARS, 5);
    let changes = rows(&file(&d, "changes.csv"));
    let events = rows(&file(&d, "events.csv"));
    for (c, after) in [
        (case(&d.planted.cases, "paid_after_exit"), true),
        (case(&d.planted.near_misses, "paid_after_exit"), false),
    ] {
        let household = &c.households[0];
        let exit = changes
            .iter()
            .find(|r| &r["household_id"] == household && r["type"] == "household_exited")
            .expect("exited")["date"]
            .clone();
        let later: Vec<&str> = events
            .iter()
            .filter(|r| &r["household_id"] == household && r["date"] > exit)
            .map(|r| r["reference"].as_str())
            .collect();
        if after {
            assert_eq!(
                later, c.references,
                "every payment after the exit is the case"
            );
        } else {
            assert!(later.is_empty(), "{c:?}");
            let row = events.iter().find(|r| r["reference"] == c.references[0]);
            assert_eq!(
                row.expect("a payment")["date"],
                exit,
                "paid on the exit day"
            );
        }
    }
}

/// The amount of the payment `reference`, in fen, and its row.
fn payment<'e>(
    events: &'e [BTreeMap<String, String>],
    reference: &str,
) -> &'e BTreeMap<String, String> {
    events
        .iter()
        .find(|r| r["reference"] == reference)
        .expect("a payment")
}

#[test]
fn the_amount_cases_are_over_and_the_near_misses_under_their_bounds() {
    let d = district(DEFAULT_HOUSEHOLDS, DEFAULT_YEARS, 11);
    let events = rows(&file(&d, "events.csv"));
    let rate = fen(&rows(&file(&d, "rates.csv"))[0]["per_member"]);
    let (cases, near) = (&d.planted.cases, &d.planted.near_misses);

    let allowance = |c: &Case| {
        let row = payment(&events, &c.references[0]);
        (
            fen(&row["amount"]),
            row["persons"].parse::<i64>().unwrap() * rate,
        )
    };
    let (paid, due) = allowance(case(cases, "allowance_over_due"));
    assert!(paid > due, "{paid} over {due}");
    let (paid, due) = allowance(case(near, "allowance_over_due"));
    assert!(paid < due, "{paid} under {due}");

    let amounts = |c: &Case| -> Vec<i64> {
        c.references
            .iter()
            .map(|r| fen(&payment(&events, r)["amount"]))
            .collect()
    };
    let twice = amounts(case(cases, "duplicate_payment"));
    assert_eq!((twice.len(), twice[0]), (2, twice[1]));
    let differ = amounts(case(near, "duplicate_payment"));
    assert_eq!(differ.len(), 2);
    assert_ne!(differ[0], differ[1]);
}

/// The median of a program's payments in a year, and how many there are.
fn median(events: &[BTreeMap<String, String>], program: &str, year: &str) -> (i64, usize) {
    let mut amounts: Vec<i64> = events
        .iter()
        .filter(|r| r["type"] != "fund_allocation" && r["program"] == program)
        .filter(|r| r["date"].starts_with(year))
        .map(|r| fen(&r["amount"]))
        .collect();
    amounts.sort_unstable();
    (amounts[amounts.len() / 2], amounts.len())
}

#[test]
fn the_outliers_are_over_five_times_the_median_and_the_near_misses_are_not_counted() {
    let d = district(MIN_HOUSEHOLDS, MIN_YEARS, 2);
    let events = rows(&file(&d, "events.csv"));
    let ratio = |c: &Case| {
        let row = payment(&events, &c.references[0]);
        let (median, n) = median(&events, &row["program"], &row["date"][..4]);
        (fen(&row["amount"]) * 10 / median, n)
    };
    let (tenfold, n) = ratio(case(&d.planted.cases, "outlier_amount"));
    assert!(
        tenfold > 50 && n >= 20,
        "{tenfold}/10 of the median in a group of {n}"
    );
    let near: Vec<&Case> = d
        .planted
        .near_misses
        .iter()
        .filter(|c| c.rule == "outlier_amount")
        .collect();
    assert_eq!(ratio(near[0]).0, 49, "4.9 times the median");
    let (tenfold, n) = ratio(near[1]);
    assert!(
        tenfold > 50 && n < 20,
        "{tenfold}/10 of the median in a group of {n}"
    );
}

#[test]
fn three_households_share_the_planted_account_and_two_the_near_miss() {
    let d = district(DEFAULT_HOUSEHOLDS, DEFAULT_YEARS, 4);
    let events = rows(&file(&d, "events.csv"));
    let mut by_account: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for r in events.iter().filter(|r| !r["account"].is_empty()) {
        by_account
            .entry((&r["account"], &r["date"][..4]))
            .or_default()
            .insert(&r["household_id"]);
    }
    let shared: Vec<usize> = by_account
        .values()
        .map(BTreeSet::len)
        .filter(|&n| n > 1)
        .collect();
    assert_eq!(shared, [3, 2]);
    assert_eq!(case(&d.planted.cases, "shared_account").households.len(), 3);
    assert_eq!(
        case(&d.planted.near_misses, "shared_account")
            .households
            .len(),
        2
    );
}

#[test]
fn no_identity_number_or_name_repeats_at_the_largest_size() {
    let d = district(MAX_HOUSEHOLDS, MIN_YEARS, 9);
    let persons = rows(&file(&d, "persons.csv"));
    let register = rows(&file(&d, "deaths.csv"));
    let numbers: BTreeSet<&str> = persons.iter().map(|p| p["id_number"].as_str()).collect();
    let names: BTreeSet<&str> = persons.iter().map(|p| p["name"].as_str()).collect();
    assert_eq!((numbers.len(), names.len()), (persons.len(), persons.len()));
    let strangers: Vec<_> = register
        .iter()
        .filter(|r| !numbers.contains(r["id_number"].as_str()))
        .collect();
    let stranger_numbers: BTreeSet<&str> =
        strangers.iter().map(|r| r["id_number"].as_str()).collect();
    let stranger_names: BTreeSet<&str> = strangers.iter().map(|r| r["name"].as_str()).collect();
    assert_eq!(stranger_numbers.len(), strangers.len());
    assert!(stranger_names.is_disjoint(&names));
    assert_eq!(strangers.len() + 2, register.len());
}

#[test]
fn every_allocation_covers_its_year_and_stays_below_the_ceiling_when_split() {
    // 12,000 households pay more allowance in a year than one amount may be, so the year
    // is allocated in parts; a year's allocations do not depend on the number of years.
    let d = district(12_000, MIN_YEARS, 1);
    let mut paid: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut allocated: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut parts = Vec::new();
    // Split by hand: the 300,000 rows as maps would make the test slow.
    for line in file(&d, "events.csv").lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let key = (cells[3].to_string(), cells[0][..4].to_string());
        if cells[1] == "fund_allocation" {
            *allocated.entry(key).or_insert(0) += fen(cells[4]);
            parts.push((cells[6].to_string(), fen(cells[4])));
        } else {
            *paid.entry(key).or_insert(0) += fen(cells[4]);
        }
    }
    assert_eq!(allocated, paid);
    let ceiling = 100_000_000 * 100;
    assert!(parts.iter().all(|(_, a)| *a < ceiling), "{parts:?}");
    assert!(
        parts.len() > allocated.len(),
        "some year is split: {parts:?}"
    );
    let references: std::collections::BTreeSet<&String> = parts.iter().map(|(r, _)| r).collect();
    assert_eq!(
        references.len(),
        parts.len(),
        "distinct references: {parts:?}"
    );
}

mod checking {
    use fundtrail_projections::findings::Status;
    use fundtrail_projections::{Finding, Rule};

    use super::super::check::{compare, read_planted, CheckError, PlantedCase, PlantedList};
    use super::*;

    fn finding(rule: Rule, household: &str, person: Option<&str>) -> Finding {
        Finding {
            id: format!("{household}-{}", rule.as_str()),
            rule,
            household: household.to_owned(),
            person: person.map(str::to_owned),
            account_last4: None,
            seqs: vec![1],
            amount_at_risk_fen: 100,
            months: Vec::new(),
            status: Status::Open,
            raised_by: 1,
            reversed_evidence: Vec::new(),
            programs: Vec::new(),
            resolutions: Vec::new(),
        }
    }

    fn case(rule: Rule, households: &[&str], person: Option<&str>) -> PlantedCase {
        PlantedCase {
            rule,
            households: households.iter().map(|h| h.to_string()).collect(),
            person: person.map(str::to_owned),
            what: format!("{} planted", rule.as_str()),
        }
    }

    #[test]
    fn one_finding_accounts_for_one_case_only() {
        let planted = PlantedList {
            cases: vec![
                case(Rule::DuplicatePayment, &["H-1"], None),
                case(Rule::DuplicatePayment, &["H-1"], None),
            ],
            near_misses: Vec::new(),
        };
        let report = compare(&planted, &[finding(Rule::DuplicatePayment, "H-1", None)]);
        let line = report.rules[3];
        assert_eq!(line.rule, Rule::DuplicatePayment);
        assert_eq!((line.planted, line.found, line.missed), (2, 1, 1));
        assert_eq!(report.missed.len(), 1);
        assert!(report.false_alarms.is_empty());
        assert!(!report.clean());
    }

    #[test]
    fn a_finding_on_a_near_miss_is_a_false_alarm_that_names_it() {
        let planted = PlantedList {
            cases: vec![case(Rule::PaidAfterDeath, &["H-1"], Some("P-1"))],
            near_misses: vec![case(Rule::PaidAfterDeath, &["H-2"], Some("P-2"))],
        };
        let found = [
            finding(Rule::PaidAfterDeath, "H-1", Some("P-1")),
            finding(Rule::PaidAfterDeath, "H-2", Some("P-2")),
            finding(Rule::OutlierAmount, "H-9", None),
        ];
        let report = compare(&planted, &found);
        assert_eq!(report.rules[0].found, 1);
        assert_eq!(report.rules[0].false_alarms, 1);
        assert_eq!(report.rules[5].false_alarms, 1);
        let named: Vec<Option<&str>> = report
            .false_alarms
            .iter()
            .map(|a| a.near_miss.as_deref())
            .collect();
        assert_eq!(named, [Some("paid_after_death planted"), None]);
    }

    #[test]
    fn a_death_case_needs_its_person_not_only_its_household() {
        let planted = PlantedList {
            cases: vec![case(Rule::PaidAfterDeath, &["H-1"], Some("P-1"))],
            near_misses: Vec::new(),
        };
        let report = compare(
            &planted,
            &[finding(Rule::PaidAfterDeath, "H-1", Some("P-2"))],
        );
        assert_eq!(
            (report.rules[0].missed, report.rules[0].false_alarms),
            (1, 1)
        );
    }

    #[test]
    fn the_generated_planted_json_reads_back_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let written = write(dir.path(), Options::default()).expect("written");
        let path = dir.path().join(PLANTED_FILE);
        let list = read_planted(&path).expect("the simulator's own list reads");
        assert_eq!(list.cases.len(), written.planted.cases.len());
        assert_eq!(list.near_misses.len(), written.planted.near_misses.len());
        let text = std::fs::read_to_string(&path).expect("written");
        let bad = text.replacen(
            "\"rule\": \"paid_after_exit\"",
            "\"rule\": \"paid_late\"",
            1,
        );
        assert_ne!(bad, text);
        std::fs::write(&path, bad).expect("rewritten");
        let err = read_planted(&path).expect_err("an unknown rule");
        assert!(matches!(err, CheckError::Planted { .. }));
        let message = err.to_string();
        assert!(
            message.contains("planted.json") && message.contains("cases[1].rule: \"paid_late\""),
            "{message}"
        );
        std::fs::write(&path, "{\"cases\": [").expect("rewritten");
        let message = read_planted(&path).expect_err("cut short").to_string();
        assert!(message.contains("line 1"), "{message}");
    }
}
