//! Rates and the monthly support allowance run, through the library and the binary.

use std::path::{Path, PathBuf};

use fundtrail::ledger::{Ledger, LedgerError};
use fundtrail::model::domain::{
    parse_date, Allocation, Category, Command, Enrollment, HouseholdId, Money, Month, ProgramCode,
    Rate, Reference, ReversalRequest,
};
use fundtrail::model::encoding::Body;
use fundtrail::model::rates::DueError;
use fundtrail::runs::batch::{entitlement, entitlements, run_allowance, BatchError, RunMode};

use crate::support::{binary, ctx, run_command};

fn month(text: &str) -> Month {
    Month::parse(text).unwrap()
}

fn enroll(id: &str, category: Category, members: u32, on: &str) -> Command {
    Command::Enroll(Enrollment {
        household: HouseholdId::parse(id).unwrap(),
        subdistrict: "拓东".into(),
        community: "金碧".into(),
        category,
        members,
        enrolled_on: parse_date(on).unwrap(),
    })
}

fn allocate(yuan: &str) -> Command {
    Command::Allocate(Allocation {
        program: ProgramCode::parse("support_allowance").unwrap(),
        amount: Money::parse(yuan).unwrap(),
        date: parse_date("2015-01-01").unwrap(),
        reference: Reference::parse(&format!("ZJ-{yuan}")).unwrap(),
        source: "区财政".into(),
    })
}

fn rate(category: Category, yuan: &str, from: &str, to: Option<&str>) -> Command {
    Command::SetRate(Rate {
        program: ProgramCode::parse("support_allowance").unwrap(),
        category,
        per_member: Money::parse(yuan).unwrap(),
        valid_from: parse_date(from).unwrap(),
        valid_to: to.map(|t| parse_date(t).unwrap()),
    })
}

/// A ledger with two households (2 bereaved members, 3 disabled members), a large budget
/// and one rate per category.
fn ledger(dir: &Path) -> Ledger {
    let mut ledger = Ledger::init(&dir.join("ledger")).unwrap();
    ledger
        .append(
            vec![
                enroll("PL-0001", Category::Bereaved, 2, "2015-03-01"),
                enroll("PL-0002", Category::Disabled, 3, "2016-05-20"),
                allocate("1000000.00"),
                rate(Category::Bereaved, "340.00", "2015-01-01", None),
                rate(Category::Disabled, "270.00", "2015-01-01", None),
            ],
            &ctx(),
        )
        .unwrap();
    ledger
}

fn pay(dir: &Path, name: &str) -> RunMode {
    RunMode::Pay {
        payment_file: dir.join(name),
    }
}

/// (household, amount in fen) of the support allowance disbursements for a month.
fn disbursements(ledger: &Ledger, month: Month) -> Vec<(String, i64)> {
    let prefix = format!("ALW-{}-", month.compact());
    ledger
        .view()
        .records(
            fundtrail::model::domain::Seq::FIRST,
            fundtrail::model::domain::Seq::new(u64::MAX),
        )
        .map(|item| item.unwrap().2)
        .filter(|r| r.reference.starts_with(&prefix))
        .map(|r| match r.body {
            Body::Disbursement(p) => {
                assert_eq!(
                    p.value_date,
                    fundtrail::model::domain::date_to_days(month.last_day())
                );
                (p.household, p.amount_fen)
            }
            other => panic!("allowance reference on {other:?}"),
        })
        .collect()
}

#[test]
fn a_month_run_pays_members_times_rate_and_writes_the_payment_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    let mode = pay(dir.path(), "pay.csv");
    let run = run_allowance(&mut ledger, month("2018-07"), &mode, &ctx()).unwrap();
    assert_eq!(run.appended, 2);
    assert_eq!(
        disbursements(&ledger, month("2018-07")),
        [
            ("PL-0001".to_string(), 68_000),
            ("PL-0002".to_string(), 81_000)
        ]
    );
    let file = std::fs::read_to_string(dir.path().join("pay.csv")).unwrap();
    assert_eq!(
        file,
        "reference,household_id,amount,memo\n\
         ALW-201807-PL-0001,PL-0001,680.00,support allowance 2018-07: 2 x 340.00\n\
         ALW-201807-PL-0002,PL-0002,810.00,support allowance 2018-07: 3 x 270.00\n"
    );
    assert!(!dir.path().join("pay.csv.partial").exists());
}

#[test]
fn re_running_a_month_appends_nothing_and_leaves_the_payment_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    let mode = pay(dir.path(), "pay.csv");
    run_allowance(&mut ledger, month("2018-07"), &mode, &ctx()).unwrap();
    let head = ledger.view().head();
    let first_file = std::fs::read(dir.path().join("pay.csv")).unwrap();
    let again = run_allowance(&mut ledger, month("2018-07"), &mode, &ctx()).unwrap();
    assert_eq!(again.appended, 0);
    assert!(again.paid.is_empty());
    assert_eq!(again.already.len(), 2);
    assert_eq!(again.payment_file, None);
    assert_eq!(ledger.view().head(), head);
    assert_eq!(
        std::fs::read(dir.path().join("pay.csv")).unwrap(),
        first_file
    );
}

#[test]
fn a_household_enrolled_later_in_the_month_is_paid_once_on_the_re_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    run_allowance(
        &mut ledger,
        month("2018-07"),
        &pay(dir.path(), "a.csv"),
        &ctx(),
    )
    .unwrap();
    ledger
        .append(
            vec![
                enroll("PL-0003", Category::Bereaved, 1, "2018-07-31"),
                enroll("PL-0004", Category::Bereaved, 1, "2018-08-01"),
            ],
            &ctx(),
        )
        .unwrap();
    // The earlier file exists: a run with something to pay refuses to replace it.
    let same_file = run_allowance(
        &mut ledger,
        month("2018-07"),
        &pay(dir.path(), "a.csv"),
        &ctx(),
    );
    assert!(
        matches!(same_file, Err(BatchError::OutputExists(_))),
        "{same_file:?}"
    );
    let run = run_allowance(
        &mut ledger,
        month("2018-07"),
        &pay(dir.path(), "b.csv"),
        &ctx(),
    )
    .unwrap();
    let paid: Vec<&str> = run.paid.iter().map(|d| d.household.as_str()).collect();
    assert_eq!(
        paid,
        ["PL-0003"],
        "enrolled on the last day: due; the day after: not"
    );
    let file = std::fs::read_to_string(dir.path().join("b.csv")).unwrap();
    assert_eq!(file.lines().count(), 2, "{file}");
}

#[test]
fn rates_changing_mid_year_change_the_amounts_from_that_month() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    ledger
        .append(
            vec![rate(Category::Bereaved, "400.00", "2018-07-01", None)],
            &ctx(),
        )
        .unwrap();
    for m in ["2018-06", "2018-07"] {
        let mode = pay(dir.path(), &format!("{m}.csv"));
        run_allowance(&mut ledger, month(m), &mode, &ctx()).unwrap();
    }
    assert_eq!(
        disbursements(&ledger, month("2018-06"))[0],
        ("PL-0001".into(), 68_000)
    );
    assert_eq!(
        disbursements(&ledger, month("2018-07"))[0],
        ("PL-0001".into(), 80_000)
    );
    // A rate starting mid-month applies from the next month: the first day decides.
    ledger
        .append(
            vec![rate(Category::Disabled, "300.00", "2018-08-15", None)],
            &ctx(),
        )
        .unwrap();
    for m in ["2018-08", "2018-09"] {
        let mode = pay(dir.path(), &format!("{m}.csv"));
        run_allowance(&mut ledger, month(m), &mode, &ctx()).unwrap();
    }
    assert_eq!(
        disbursements(&ledger, month("2018-08"))[1],
        ("PL-0002".into(), 81_000)
    );
    assert_eq!(
        disbursements(&ledger, month("2018-09"))[1],
        ("PL-0002".into(), 90_000)
    );
}

#[test]
fn a_retroactive_rate_shows_as_arrears_and_re_runs_do_not_pay_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    ledger
        .append(
            vec![enroll("PL-0009", Category::Bereaved, 2, "2018-01-10")],
            &ctx(),
        )
        .unwrap();
    for m in ["2018-01", "2018-02", "2018-03"] {
        let mode = pay(dir.path(), &format!("{m}.csv"));
        run_allowance(&mut ledger, month(m), &mode, &ctx()).unwrap();
    }
    let settled = entitlement(&ledger, "PL-0009", month("2018-03")).unwrap();
    assert_eq!(
        (settled.due, settled.paid, settled.standing()),
        (
            Money::from_fen(204_000),
            Money::from_fen(204_000),
            "settled"
        )
    );
    // The rate rises from February, decided after February and March were paid.
    ledger
        .append(
            vec![rate(Category::Bereaved, "350.00", "2018-02-01", None)],
            &ctx(),
        )
        .unwrap();
    let rerun = run_allowance(&mut ledger, month("2018-03"), &RunMode::DryRun, &ctx()).unwrap();
    assert!(rerun.paid.iter().all(|d| d.household.as_str() != "PL-0009"));
    let owed = entitlement(&ledger, "PL-0009", month("2018-03")).unwrap();
    assert_eq!(owed.due, Money::from_fen(68_000 + 2 * 70_000));
    assert_eq!(
        (owed.balance(), owed.standing()),
        (Money::from_fen(4_000), "arrears")
    );
    let months: Vec<i64> = owed
        .months
        .iter()
        .map(|m| m.due.fen() - m.paid.fen())
        .collect();
    assert_eq!(months, [0, 2_000, 2_000]);
}

fn bank_payment(household: &str, fen: i64, date: &str, reference: &str) -> Command {
    Command::Pay(fundtrail::model::domain::Payment {
        kind: fundtrail::model::domain::PaymentKind::Disbursement,
        household: HouseholdId::parse(household).unwrap(),
        program: ProgramCode::parse("support_allowance").unwrap(),
        amount: Money::from_fen(fen),
        persons: 1,
        date: parse_date(date).unwrap(),
        reference: Reference::parse(reference).unwrap(),
        memo: String::new(),
        account: None,
    })
}

/// A month already paid through imported bank payments is not paid a second time by the
/// run: the households are listed with the payment's reference instead. A payment of
/// another month, or one that was reversed, does not count.
#[test]
fn a_month_paid_under_bank_references_is_not_paid_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    ledger
        .append(
            vec![
                enroll("PL-0003", Category::Bereaved, 1, "2016-01-01"),
                bank_payment("PL-0001", 68_000, "2018-07-10", "ICBC-1"),
                bank_payment("PL-0002", 81_000, "2018-06-30", "ICBC-2"),
                bank_payment("PL-0003", 34_000, "2018-07-10", "ICBC-3"),
                Command::Reverse(ReversalRequest {
                    target: Reference::parse_payment_target("ICBC-3").unwrap(),
                    household: HouseholdId::parse("PL-0003").unwrap(),
                    program: None,
                    amount: Money::from_fen(34_000),
                    date: parse_date("2018-07-12").unwrap(),
                    reason: "returned by the bank".into(),
                }),
            ],
            &ctx(),
        )
        .unwrap();
    let run = run_allowance(
        &mut ledger,
        month("2018-07"),
        &pay(dir.path(), "p.csv"),
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        run.paid_otherwise,
        [(HouseholdId::parse("PL-0001").unwrap(), "ICBC-1".to_string())]
    );
    let mut paid = disbursements(&ledger, month("2018-07"));
    paid.sort();
    assert_eq!(
        paid,
        [
            ("PL-0002".to_string(), 81_000),
            ("PL-0003".to_string(), 34_000)
        ],
        "June's payment and a reversed one do not count"
    );
    let file = std::fs::read_to_string(dir.path().join("p.csv")).unwrap();
    assert!(!file.contains("PL-0001"), "{file}");
}

#[test]
fn a_reversed_allowance_is_arrears_and_clerks_cannot_forge_allowance_references() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    ledger
        .append(
            vec![enroll("PL-0005", Category::Bereaved, 1, "2018-07-01")],
            &ctx(),
        )
        .unwrap();
    run_allowance(
        &mut ledger,
        month("2018-07"),
        &pay(dir.path(), "p.csv"),
        &ctx(),
    )
    .unwrap();
    let reversal = Command::Reverse(ReversalRequest {
        target: Reference::parse_payment_target("ALW-201807-PL-0002").unwrap(),
        household: HouseholdId::parse("PL-0002").unwrap(),
        program: None,
        amount: Money::from_fen(81_000),
        date: parse_date("2018-08-02").unwrap(),
        reason: "account closed".into(),
    });
    ledger.append(vec![reversal], &ctx()).unwrap();
    let e = entitlement(&ledger, "PL-0002", month("2018-07")).unwrap();
    assert_eq!(e.paid, Money::ZERO);
    assert_eq!(e.balance(), e.due);
    assert_eq!(e.standing(), "arrears");
    assert!(Reference::parse("ALW-201808-PL-0002").is_err());
    let overpaid_by_hand = bank_payment("PL-0005", 10_000, "2018-07-20", "ICBC-1");
    ledger.append(vec![overpaid_by_hand], &ctx()).unwrap();
    let e = entitlement(&ledger, "PL-0005", month("2018-07")).unwrap();
    assert_eq!(
        (e.due, e.paid),
        (Money::from_fen(34_000), Money::from_fen(44_000))
    );
    assert_eq!(
        (e.balance(), e.standing()),
        (Money::from_fen(-10_000), "overpaid")
    );
    assert!(matches!(
        entitlement(&ledger, "PL-9", month("2018-07")),
        Err(BatchError::UnknownHousehold(_))
    ));
}

#[test]
fn a_run_that_cannot_be_paid_appends_nothing_and_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::init(&dir.path().join("ledger")).unwrap();
    ledger
        .append(
            vec![
                enroll("PL-0001", Category::Bereaved, 2, "2015-03-01"),
                enroll("PL-0002", Category::Disabled, 3, "2015-03-01"),
                allocate("700.00"),
                rate(Category::Bereaved, "340.00", "2015-01-01", None),
            ],
            &ctx(),
        )
        .unwrap();
    let head = ledger.view().head();
    let mode = pay(dir.path(), "p.csv");
    let no_rate = run_allowance(&mut ledger, month("2018-07"), &mode, &ctx()).unwrap_err();
    assert!(
        matches!(
            no_rate,
            BatchError::Due(DueError::NoRate {
                category: "disabled",
                households: 1,
                ..
            })
        ),
        "{no_rate:?}"
    );
    ledger
        .append(
            vec![rate(Category::Disabled, "270.00", "2015-01-01", None)],
            &ctx(),
        )
        .unwrap();
    let head_with_rate = ledger.view().head();
    assert_ne!(head, head_with_rate);
    let over_budget = run_allowance(&mut ledger, month("2018-07"), &mode, &ctx()).unwrap_err();
    let BatchError::RunRejected { rejections, total } = over_budget else {
        panic!("{over_budget:?}")
    };
    assert_eq!(total, 1);
    assert_eq!(rejections[0].0.as_str(), "PL-0002");
    assert_eq!(rejections[0].1, "amount");
    assert_eq!(ledger.view().head(), head_with_rate);
    assert!(!dir.path().join("p.csv").exists());
    assert!(!dir.path().join("p.csv.partial").exists());
    let dry = run_allowance(&mut ledger, month("2018-07"), &RunMode::DryRun, &ctx()).unwrap();
    assert_eq!(
        (dry.paid.len(), dry.appended, dry.payment_file),
        (2, 0, None)
    );
}

#[test]
fn rates_are_events_recorded_once_and_overlaps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    let again = ledger
        .append(
            vec![rate(Category::Bereaved, "340.00", "2015-01-01", None)],
            &ctx(),
        )
        .unwrap();
    assert_eq!((again.appended, again.duplicates), (0, 1));
    let changed = ledger.append(
        vec![rate(Category::Bereaved, "341.00", "2015-01-01", None)],
        &ctx(),
    );
    let Err(LedgerError::Rejected { rejections, .. }) = changed else {
        panic!("{changed:?}")
    };
    assert_eq!(rejections[0].field, "valid_from");
    assert!(
        rejections[0].reason.contains("never change"),
        "{}",
        rejections[0].reason
    );
    // Within one batch: a closed period and a later rate that it reaches into.
    let overlapping = ledger.append(
        vec![
            rate(Category::Bereaved, "1.00", "2010-01-01", Some("2015-01-01")),
            rate(Category::Disabled, "2.00", "2019-01-01", Some("2019-12-31")),
            rate(Category::Disabled, "3.00", "2019-06-01", None),
        ],
        &ctx(),
    );
    let Err(LedgerError::Rejected { rejections, total }) = overlapping else {
        panic!()
    };
    assert_eq!(total, 2);
    assert_eq!((rejections[0].line, rejections[1].line), (1, 3));
    assert!(
        rejections[0].reason.contains("2010-01-01..2015-01-01"),
        "{}",
        rejections[0].reason
    );
    let rates = ledger.view().rates().unwrap();
    assert_eq!(rates.len(), 2);
}

// ---- the binary ----

fn fundtrail(ledger: &Path, cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let run = run_command(
        binary(ledger)
            .args(args)
            .env("FUNDTRAIL_ACTOR", "王芳")
            .current_dir(cwd),
    );
    (run.code, run.stdout, run.stderr)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_binary_imports_rates_runs_a_month_and_shows_the_balance() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let l = d.join("ledger");
    let hh = write(d, "hh.csv", "household_id,subdistrict,community,category,members,enrolled_on\nPL-0001,拓东,金碧,bereaved,2,2018-01-03\n");
    let ev = write(d, "ev.csv", "date,type,household_id,program,amount,persons,reference,memo\n2018-01-01,fund_allocation,,support_allowance,100000.00,,ZJ-1,区财政\n");
    let rates = write(d, "rates.csv", "program,category,per_member,valid_from,valid_to\nsupport_allowance,bereaved,340.00,2015-01-01,2018-06-30\nsupport_allowance,失独,400.00,2018-07-01,\n");
    assert_eq!(fundtrail(&l, d, &["init"]).0, 0);
    for (kind, file) in [("households", &hh), ("events", &ev), ("rates", &rates)] {
        let (code, _, err) = fundtrail(&l, d, &["import", kind, file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, _) = fundtrail(&l, d, &["import", "rates", rates.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to append"), "{out}");

    let (code, out, _) = fundtrail(
        &l,
        d,
        &["run", "allowance", "--month", "2018-07", "--dry-run"],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("ALW-201807-PL-0001") && out.contains("800.00") && out.contains("dry run"),
        "{out}"
    );
    assert!(!d.join("allowance-2018-07.csv").exists());

    let (code, out, err) = fundtrail(&l, d, &["run", "allowance", "--month", "2018-07"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("payment file: allowance-2018-07.csv"), "{out}");
    let bank = std::fs::read_to_string(d.join("allowance-2018-07.csv")).unwrap();
    assert!(
        bank.starts_with("reference,household_id,amount,memo\nALW-201807-PL-0001,PL-0001,800.00,"),
        "{bank}"
    );

    let (code, out, _) = fundtrail(&l, d, &["--json", "run", "allowance", "--month", "2018-07"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["appended"], 0);
    assert_eq!(json["already_paid"][0]["household_id"], "PL-0001");
    assert_eq!(json["payment_file"], serde_json::Value::Null);

    // A household enrolled since: the re-run pays it into a file of its own, and leaves
    // the first run's file as the bank received it.
    let later = write(d, "later.csv", "household_id,subdistrict,community,category,members,enrolled_on\nPL-0002,拓东,金碧,bereaved,1,2018-07-20\n");
    let (code, _, err) = fundtrail(&l, d, &["import", "households", later.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = fundtrail(&l, d, &["run", "allowance", "--month", "2018-07"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("payment file: allowance-2018-07-2.csv"),
        "{out}"
    );
    let second = std::fs::read_to_string(d.join("allowance-2018-07-2.csv")).unwrap();
    assert!(second.contains("ALW-201807-PL-0002,PL-0002,400.00,") && !second.contains("PL-0001"));
    assert_eq!(
        std::fs::read_to_string(d.join("allowance-2018-07.csv")).unwrap(),
        bank
    );

    // August was paid to PL-0002 through the bank's own reference: the run says so and
    // would pay only PL-0001.
    let august = write(d, "aug.csv", "date,type,household_id,program,amount,persons,reference,memo\n2018-08-05,disbursement,PL-0002,support_allowance,400.00,1,ICBC-0805-1,\n");
    let (code, _, err) = fundtrail(&l, d, &["import", "events", august.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = fundtrail(
        &l,
        d,
        &["run", "allowance", "--month", "2018-08", "--dry-run"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 household(s) to pay"), "{out}");
    assert!(
        out.contains("not paid again: 1 household(s)") && out.contains("  PL-0002  ICBC-0805-1\n"),
        "{out}"
    );

    let (code, out, _) = fundtrail(
        &l,
        d,
        &["--json", "entitlement", "PL-0001", "--through", "2018-07"],
    );
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["due"], "4880.00", "6 × 680.00 + 800.00");
    assert_eq!(json["paid"], "800.00");
    assert_eq!(json["standing"], "arrears");

    // `household` shows the same balance beside the read models' totals.
    let (code, out, _) = fundtrail(&l, d, &["household", "PL-0001", "--through", "2018-07"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("support allowance through 2018-07: due 4880.00  paid 800.00  balance 4080.00 (arrears)"),
        "{out}"
    );
    let (code, out, _) = fundtrail(
        &l,
        d,
        &["--json", "household", "PL-0001", "--through", "2018-06"],
    );
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["support_allowance_entitlement"]["balance"], "4080.00");
    assert_eq!(json["support_allowance_entitlement"]["paid"], "0.00");

    let (code, out, _) = fundtrail(&l, d, &["rates"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("2015-01-01..2018-06-30") && out.contains("open"),
        "{out}"
    );
}

#[test]
fn the_binary_reports_bad_rates_and_bad_months_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let l = d.join("ledger");
    assert_eq!(fundtrail(&l, d, &["init"]).0, 0);
    let bad = write(d, "bad.csv", "program,category,per_member,valid_from,valid_to\nsupport_allowance,bereaved,340.001,2015-01-01,\nlottery,bereaved,1,2015-01-01,\nsupport_allowance,disabled,1,2015-02-30,\n");
    let (code, _, err) = fundtrail(&l, d, &["import", "rates", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.csv:2: per_member:"), "{err}");
    assert!(err.contains("bad.csv:3: program:"), "{err}");
    assert!(err.contains("bad.csv:4: valid_from:"), "{err}");
    let (code, _, err) = fundtrail(&l, d, &["run", "allowance", "--month", "2018-13"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = fundtrail(&l, d, &["entitlement", "PL-404", "--through", "2018-01"]);
    assert_eq!(code, 2);
    assert!(err.contains("not enrolled"), "{err}");
    // Without a rate for its category, a household's balance has no entitlement part.
    let hh = write(d, "hh.csv", "household_id,subdistrict,community,category,members,enrolled_on\nPL-0002,鼓楼,B,disabled,1,2018-01-03\n");
    assert_eq!(
        fundtrail(&l, d, &["import", "households", hh.to_str().unwrap()]).0,
        0
    );
    let (code, out, _) = fundtrail(&l, d, &["--json", "household", "PL-0002"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        json["support_allowance_entitlement"],
        serde_json::Value::Null
    );
}

/// Adds PL-0001's two parents (both past 49) through the library, with any identity bytes.
fn add_parents(ledger: &mut Ledger) {
    use fundtrail::keys::identity::IdentityHash;
    use fundtrail::model::domain::PersonEntry;
    use fundtrail::model::person::{PersonId, Role};
    let person = |id: &str, role: Role, byte: u8| {
        Command::AddPerson(PersonEntry {
            person: PersonId::parse(id).unwrap(),
            household: HouseholdId::parse("PL-0001").unwrap(),
            identity: IdentityHash::from_bytes([byte; 32]),
            role,
            birth_date: parse_date("1950-01-01").unwrap(),
            joined_on: parse_date("2015-03-01").unwrap(),
            personal: None,
        })
    };
    ledger
        .append(
            vec![
                person("M-1", Role::Mother, 1),
                person("F-1", Role::Father, 2),
            ],
            &ctx(),
        )
        .unwrap();
}

/// Records a life event of PL-0001 (of its person `person`, if given).
fn record_life_event(
    ledger: &mut Ledger,
    kind: fundtrail::model::domain::LifeEventKind,
    person: Option<&str>,
    on: &str,
) {
    use fundtrail::model::domain::LifeEvent;
    use fundtrail::model::person::PersonId;
    let event = LifeEvent {
        kind,
        person: person.map(|p| PersonId::parse(p).unwrap()),
        household: person
            .is_none()
            .then(|| HouseholdId::parse("PL-0001").unwrap()),
        date: parse_date(on).unwrap(),
        reference: Reference::parse(&format!("LIFE-{on}")).unwrap(),
        memo: String::new(),
    };
    ledger
        .append(vec![Command::RecordLifeEvent(event)], &ctx())
        .unwrap();
}

#[test]
fn after_a_death_the_run_pays_one_person_fewer_from_the_next_month() {
    use fundtrail::model::domain::LifeEventKind;
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    add_parents(&mut ledger);
    record_life_event(
        &mut ledger,
        LifeEventKind::PersonDied,
        Some("M-1"),
        "2018-07-20",
    );
    for m in ["2018-07", "2018-08"] {
        run_allowance(
            &mut ledger,
            month(m),
            &pay(dir.path(), &format!("{m}.csv")),
            &ctx(),
        )
        .unwrap();
    }
    let paid = |m| {
        disbursements(&ledger, month(m))
            .into_iter()
            .find(|(h, _)| h == "PL-0001")
            .map(|(_, fen)| fen)
    };
    assert_eq!(
        paid("2018-07"),
        Some(68_000),
        "the month of death is still due for two"
    );
    assert_eq!(
        paid("2018-08"),
        Some(34_000),
        "from the next month, one person"
    );
    let e = entitlement(&ledger, "PL-0001", month("2018-08")).unwrap();
    let august = e.months.last().unwrap();
    assert_eq!((august.persons, august.due.fen()), (1, 34_000));
}

#[test]
fn a_household_whose_persons_are_none_eligible_is_not_paid_and_is_listed() {
    use fundtrail::model::domain::LifeEventKind;
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    add_parents(&mut ledger);
    record_life_event(
        &mut ledger,
        LifeEventKind::HouseholdExited,
        None,
        "2018-06-30",
    );
    let run = run_allowance(&mut ledger, month("2018-07"), &RunMode::DryRun, &ctx()).unwrap();
    assert!(run.paid.iter().all(|d| d.household.as_str() != "PL-0001"));
    assert_eq!(run.none_eligible, [HouseholdId::parse("PL-0001").unwrap()]);
    // PL-0002 has no persons recorded: paid by its members.
    let other = run
        .paid
        .iter()
        .find(|d| d.household.as_str() == "PL-0002")
        .unwrap();
    assert_eq!(other.basis, fundtrail::model::rates::DueBasis::Members);
}

#[test]
fn entitlements_of_many_households_equal_each_household_s_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    ledger
        .append(
            vec![enroll("PL-0005", Category::Bereaved, 1, "2018-07-01")],
            &ctx(),
        )
        .unwrap();
    run_allowance(
        &mut ledger,
        month("2018-07"),
        &pay(dir.path(), "p.csv"),
        &ctx(),
    )
    .unwrap();
    let overpaid_by_hand = bank_payment("PL-0005", 10_000, "2018-07-20", "ICBC-1");
    ledger.append(vec![overpaid_by_hand], &ctx()).unwrap();
    let households = ["PL-0005".to_string(), "PL-0002".to_string()];
    let all = entitlements(&ledger, &households, month("2018-08")).unwrap();
    let each: Vec<_> = households
        .iter()
        .map(|h| entitlement(&ledger, h, month("2018-08")).unwrap())
        .collect();
    assert_eq!(all, each);
    assert_eq!(all[0].household.as_str(), "PL-0005");
    assert_eq!(all[0].paid, Money::from_fen(44_000));
    let unknown = ["PL-0002".to_string(), "PL-9".to_string()];
    assert!(matches!(
        entitlements(&ledger, &unknown, month("2018-08")),
        Err(BatchError::UnknownHousehold(h)) if h == "PL-9"
    ));
}
