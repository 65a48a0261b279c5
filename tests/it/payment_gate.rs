//! The allowance run's payment gate: households with an open `duplicate_payment` or
//! `shared_account` finding are held, and released for a month by someone other than
//! whoever ran it (`hold_released`).

use std::path::Path;

use fundtrail::keys::identity::AccountHash;
use fundtrail::ledger::{AppendContext, Ledger, LedgerError};
use fundtrail::model::domain::{
    parse_date, Allocation, Category, Command, Enrollment, HoldRelease, HouseholdId, Money, Month,
    PayeeAccount, Payment, PaymentKind, ProgramCode, Rate, Reference, Seq,
};
use fundtrail::model::encoding::Body;
use fundtrail::runs::batch::{release_hold, run_allowance, AllowanceRun, BatchError, RunMode};
use fundtrail::runs::findings::findings;

use crate::support::{binary, ctx, run_command, NOW_US};

/// Who releases in these tests: not [`crate::support::ACTOR`], who runs the months.
const SUPERVISOR: &str = "supervisor-li";

fn month(text: &str) -> Month {
    Month::parse(text).unwrap()
}

fn as_actor(actor: &str) -> AppendContext {
    AppendContext {
        actor: actor.into(),
        now_us: NOW_US,
    }
}

fn enroll(id: &str, category: Category, members: u32) -> Command {
    Command::Enroll(Enrollment {
        household: HouseholdId::parse(id).unwrap(),
        subdistrict: "拓东".into(),
        community: "金碧".into(),
        category,
        members,
        enrolled_on: parse_date("2015-03-01").unwrap(),
    })
}

fn allocate(program: &str, reference: &str) -> Command {
    Command::Allocate(Allocation {
        program: ProgramCode::parse(program).unwrap(),
        amount: Money::parse("1000000.00").unwrap(),
        date: parse_date("2015-01-01").unwrap(),
        reference: Reference::parse(reference).unwrap(),
        source: "区财政".into(),
    })
}

fn rate(category: Category, yuan: &str) -> Command {
    Command::SetRate(Rate {
        program: ProgramCode::parse("support_allowance").unwrap(),
        category,
        per_member: Money::parse(yuan).unwrap(),
        valid_from: parse_date("2015-01-01").unwrap(),
        valid_to: None,
    })
}

fn payment(
    household: &str,
    program: &str,
    fen: i64,
    date: &str,
    reference: &str,
    account: Option<PayeeAccount>,
) -> Command {
    Command::Pay(Payment {
        kind: PaymentKind::Disbursement,
        household: HouseholdId::parse(household).unwrap(),
        program: ProgramCode::parse(program).unwrap(),
        amount: Money::from_fen(fen),
        persons: 1,
        date: parse_date(date).unwrap(),
        reference: Reference::parse(reference).unwrap(),
        memo: String::new(),
        account,
    })
}

fn shared_account() -> PayeeAccount {
    PayeeAccount {
        hash: AccountHash::from_bytes([7; 32]),
        last4: "1234".into(),
    }
}

/// Six households: PL-0001 paid the June allowance twice by the bank (a
/// `duplicate_payment`), PL-0003 to PL-0005 paid a holiday condolence to one account (a
/// `shared_account`), PL-0002 and PL-0006 beyond doubt.
fn ledger(dir: &Path) -> Ledger {
    let mut ledger = Ledger::init(&dir.join("ledger")).unwrap();
    let mut commands = vec![
        enroll("PL-0001", Category::Bereaved, 2),
        enroll("PL-0002", Category::Disabled, 3),
        enroll("PL-0003", Category::Bereaved, 1),
        enroll("PL-0004", Category::Bereaved, 1),
        enroll("PL-0005", Category::Bereaved, 1),
        enroll("PL-0006", Category::Bereaved, 2),
        allocate("support_allowance", "ZJ-1"),
        allocate("holiday_condolence", "ZJ-2"),
        rate(Category::Bereaved, "340.00"),
        rate(Category::Disabled, "270.00"),
        payment(
            "PL-0001",
            "support_allowance",
            68_000,
            "2018-06-30",
            "BANK-1",
            None,
        ),
        payment(
            "PL-0001",
            "support_allowance",
            68_000,
            "2018-06-30",
            "BANK-2",
            None,
        ),
    ];
    for (i, household) in ["PL-0003", "PL-0004", "PL-0005"].iter().enumerate() {
        commands.push(payment(
            household,
            "holiday_condolence",
            50_000,
            "2018-02-14",
            &format!("CJ-{i}"),
            Some(shared_account()),
        ));
    }
    ledger.append(commands, &ctx()).unwrap();
    ledger
}

fn pay(dir: &Path, name: &str) -> RunMode {
    RunMode::Pay {
        payment_file: dir.join(name),
    }
}

/// The id of the one open finding of `rule`.
fn finding_of(ledger: &Ledger, rule: &str) -> String {
    let found: Vec<String> = findings(ledger.view())
        .unwrap()
        .into_iter()
        .filter(|f| f.rule.as_str() == rule)
        .map(|f| f.id)
        .collect();
    assert_eq!(found.len(), 1, "one {rule} finding: {found:?}");
    found[0].clone()
}

/// (household, fen) of the month's allowance disbursements.
fn paid(ledger: &Ledger, month: Month) -> Vec<(String, i64)> {
    let prefix = format!("ALW-{}-", month.compact());
    ledger
        .view()
        .records(Seq::FIRST, Seq::new(u64::MAX))
        .map(|item| item.unwrap().2)
        .filter(|r| r.reference.starts_with(&prefix))
        .filter_map(|r| {
            r.body
                .payment()
                .map(|(_, p)| (p.household.clone(), p.amount_fen))
        })
        .collect()
}

fn held(run: &AllowanceRun) -> Vec<(String, i64, Vec<String>)> {
    run.held
        .iter()
        .map(|h| {
            (
                h.due.household.to_string(),
                h.due.amount.fen(),
                h.findings.clone(),
            )
        })
        .collect()
}

fn july_run(dir: &Path, ledger: &mut Ledger) -> AllowanceRun {
    run_allowance(ledger, month("2018-07"), &pay(dir, "july.csv"), &ctx()).unwrap()
}

#[test]
fn households_on_a_shared_account_are_held_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    let shared = finding_of(&ledger, "shared_account");
    let run = july_run(dir.path(), &mut ledger);
    for household in ["PL-0003", "PL-0004", "PL-0005"] {
        let entry = held(&run)
            .into_iter()
            .find(|(h, _, _)| h == household)
            .unwrap_or_else(|| panic!("{household} is held: {:?}", run.held));
        assert_eq!(entry, (household.to_string(), 34_000, vec![shared.clone()]));
    }
    let file = std::fs::read_to_string(dir.path().join("july.csv")).unwrap();
    assert!(
        !file.contains("PL-0003") && !file.contains("PL-0005"),
        "{file}"
    );
    assert_eq!(
        paid(&ledger, month("2018-07")),
        [
            ("PL-0002".to_string(), 81_000),
            ("PL-0006".to_string(), 68_000)
        ]
    );
}

#[test]
fn a_household_with_a_duplicate_payment_is_held_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    let duplicate = finding_of(&ledger, "duplicate_payment");
    let run = july_run(dir.path(), &mut ledger);
    assert_eq!(
        held(&run)[0],
        ("PL-0001".to_string(), 68_000, vec![duplicate])
    );
    assert_eq!(run.held.len(), 4, "{:?}", run.held);
    assert_eq!(run.appended, 2);
    let dry = run_allowance(&mut ledger, month("2018-08"), &RunMode::DryRun, &ctx()).unwrap();
    assert_eq!(held(&dry), held(&run), "the gate holds in every month");
}

/// What a refused release must leave: the head, and no payment file.
fn assert_nothing_appended(ledger: &Ledger, head: fundtrail::Head, file: &Path) {
    assert_eq!(ledger.view().head(), head);
    assert!(!file.exists(), "{} was written", file.display());
    assert!(!fundtrail::runs::batch::partial_path(file).exists());
}

#[test]
fn the_actor_who_ran_the_month_cannot_release_a_household_it_held() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    july_run(dir.path(), &mut ledger);
    let head = ledger.view().head();
    let file = dir.path().join("release.csv");
    let err = release_hold(
        &mut ledger,
        month("2018-07"),
        "PL-0001",
        "bank confirmed one payment returned",
        &file,
        &ctx(),
    )
    .unwrap_err();
    match &err {
        BatchError::ReleaseRefused { reason, .. } => {
            assert!(reason.starts_with("actor: "), "{reason}");
            assert!(reason.contains("four eyes"), "{reason}");
        }
        other => panic!("expected ReleaseRefused, got {other:?}"),
    }
    assert_nothing_appended(&ledger, head, &file);
}

#[test]
fn a_release_by_another_actor_pays_exactly_the_due_and_records_the_release() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    let duplicate = finding_of(&ledger, "duplicate_payment");
    july_run(dir.path(), &mut ledger);
    let before = ledger.view().head().size;
    let file = dir.path().join("release.csv");
    let release = release_hold(
        &mut ledger,
        month("2018-07"),
        "PL-0001",
        "bank confirmed one June payment returned",
        &file,
        &as_actor(SUPERVISOR),
    )
    .unwrap();
    assert_eq!(release.seq, Seq::new(before + 1));
    assert_eq!(release.head.size, before + 2);
    assert_eq!(release.findings, std::slice::from_ref(&duplicate));

    let record = ledger.view().record(release.seq).unwrap();
    assert_eq!(record.actor, SUPERVISOR);
    assert_eq!(record.reference, "release:201807:PL-0001");
    match record.body {
        Body::HoldReleased(r) => {
            assert_eq!(r.household, "PL-0001");
            assert_eq!(r.period, "2018-07");
            assert_eq!(r.reason, "bank confirmed one June payment returned");
            assert_eq!(r.findings, [duplicate]);
        }
        other => panic!("expected a hold_released, got {other:?}"),
    }
    let july = paid(&ledger, month("2018-07"));
    assert!(july.contains(&("PL-0001".to_string(), 68_000)), "{july:?}");
    let payment = ledger.view().record(Seq::new(before + 2)).unwrap();
    assert_eq!(payment.reference, "ALW-201807-PL-0001");
    assert_eq!(payment.actor, SUPERVISOR);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "reference,household_id,amount,memo\n\
         ALW-201807-PL-0001,PL-0001,680.00,support allowance 2018-07: 2 x 340.00\n"
    );
    let report = ledger.view().verify(|_| {}).unwrap();
    assert_eq!(
        report.fault, None,
        "the release is judged held by the findings before it"
    );
    assert_eq!(report.checked, before + 2);
    let signed = ledger.view().latest_checkpoint().unwrap().unwrap();
    assert_eq!(
        signed.checkpoint.size,
        before + 2,
        "the release ends with a signed checkpoint"
    );
}

#[test]
fn a_rerun_pays_nobody_twice_and_a_released_household_is_not_held_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    let first = july_run(dir.path(), &mut ledger);
    let again = run_allowance(
        &mut ledger,
        month("2018-07"),
        &pay(dir.path(), "2.csv"),
        &ctx(),
    )
    .unwrap();
    assert_eq!(again.appended, 0);
    assert_eq!(held(&again), held(&first), "still held, still unpaid");
    release_hold(
        &mut ledger,
        month("2018-07"),
        "PL-0003",
        "account belongs to the village committee, verified",
        &dir.path().join("release.csv"),
        &as_actor(SUPERVISOR),
    )
    .unwrap();
    let head = ledger.view().head();
    let third = run_allowance(
        &mut ledger,
        month("2018-07"),
        &pay(dir.path(), "3.csv"),
        &ctx(),
    )
    .unwrap();
    assert_eq!(third.appended, 0);
    assert_eq!(ledger.view().head(), head);
    assert!(third.already.iter().any(|(h, _)| h.as_str() == "PL-0003"));
    assert!(!third
        .held
        .iter()
        .any(|h| h.due.household.as_str() == "PL-0003"));
    assert_eq!(third.held.len(), 3);
    let mut households: Vec<String> = paid(&ledger, month("2018-07"))
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    households.sort();
    assert_eq!(households, ["PL-0002", "PL-0003", "PL-0006"]);
}

#[test]
fn a_release_of_a_household_not_held_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    july_run(dir.path(), &mut ledger);
    let head = ledger.view().head();
    let file = dir.path().join("release.csv");
    let release = |ledger: &mut Ledger, household: &str| {
        release_hold(
            ledger,
            month("2018-07"),
            household,
            "checked",
            &file,
            &as_actor(SUPERVISOR),
        )
    };
    match release(&mut ledger, "PL-0002").unwrap_err() {
        BatchError::ReleaseRefused { reason, .. } => {
            assert!(reason.contains("already paid"), "{reason}")
        }
        other => panic!("expected ReleaseRefused, got {other:?}"),
    }
    assert!(matches!(
        release(&mut ledger, "PL-9999").unwrap_err(),
        BatchError::UnknownHousehold(_)
    ));
    assert_nothing_appended(&ledger, head, &file);

    // In a month nobody ran, PL-0006 would be paid, not held.
    let err = release_hold(
        &mut ledger,
        month("2018-08"),
        "PL-0006",
        "checked",
        &file,
        &as_actor(SUPERVISOR),
    )
    .unwrap_err();
    match err {
        BatchError::ReleaseRefused { reason, .. } => {
            assert!(reason.starts_with("not held"), "{reason}")
        }
        other => panic!("expected ReleaseRefused, got {other:?}"),
    }
    assert_nothing_appended(&ledger, head, &file);
}

#[test]
fn a_release_before_the_month_was_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    let head = ledger.view().head();
    let file = dir.path().join("release.csv");
    let err = release_hold(
        &mut ledger,
        month("2018-07"),
        "PL-0001",
        "checked",
        &file,
        &as_actor(SUPERVISOR),
    )
    .unwrap_err();
    match err {
        BatchError::ReleaseRefused { reason, .. } => {
            assert!(reason.contains("has not been run"), "{reason}")
        }
        other => panic!("expected ReleaseRefused, got {other:?}"),
    }
    assert_nothing_appended(&ledger, head, &file);
}

#[test]
fn a_release_without_a_reason_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    july_run(dir.path(), &mut ledger);
    let head = ledger.view().head();
    let file = dir.path().join("release.csv");
    let too_long = "理".repeat(201);
    for reason in ["", "   ", too_long.as_str(), "two\nlines"] {
        let err = release_hold(
            &mut ledger,
            month("2018-07"),
            "PL-0001",
            reason,
            &file,
            &as_actor(SUPERVISOR),
        )
        .unwrap_err();
        match err {
            BatchError::ReleaseRefused { reason, .. } => {
                assert!(reason.starts_with("reason: "), "{reason}")
            }
            other => panic!("expected ReleaseRefused, got {other:?}"),
        }
    }
    assert_nothing_appended(&ledger, head, &file);
}

/// The write rule itself, for a release appended without the run: the ledger refuses
/// what the run would never build, each naming its field.
#[test]
fn the_ledger_refuses_a_release_that_breaks_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path());
    july_run(dir.path(), &mut ledger);
    let head = ledger.view().head();
    let duplicate = finding_of(&ledger, "duplicate_payment");
    let shared = finding_of(&ledger, "shared_account");
    let release = |household: &str, m: &str, reason: &str, findings: Vec<String>| {
        Command::ReleaseHold(HoldRelease {
            household: HouseholdId::parse(household).unwrap(),
            month: month(m),
            reason: reason.into(),
            findings,
            date: parse_date("2023-11-14").unwrap(),
        })
    };
    let cases = [
        (
            release("PL-0001", "2018-07", "ok", vec![duplicate.clone()]),
            ctx(),
            "actor",
        ),
        (
            release("PL-0001", "2018-09", "ok", vec![duplicate.clone()]),
            as_actor(SUPERVISOR),
            "period",
        ),
        (
            release("PL-0002", "2018-07", "ok", vec![duplicate.clone()]),
            as_actor(SUPERVISOR),
            "household_id",
        ),
        (
            release("PL-0001", "2018-07", " ", vec![duplicate.clone()]),
            as_actor(SUPERVISOR),
            "reason",
        ),
        (
            release("PL-0001", "2018-07", "ok", vec![]),
            as_actor(SUPERVISOR),
            "findings",
        ),
        (
            release("PL-0001", "2018-07", "ok", vec!["XYZ".into()]),
            as_actor(SUPERVISOR),
            "findings",
        ),
        (
            release("PL-0001", "2018-07", "ok", vec![shared]),
            as_actor(SUPERVISOR),
            "findings",
        ),
    ];
    for (command, ctx, field) in cases {
        match ledger.append(vec![command], &ctx) {
            Err(LedgerError::Rejected { rejections, .. }) => {
                assert_eq!(rejections[0].field, field, "{:?}", rejections[0])
            }
            other => panic!("expected a rejection of {field}, got {other:?}"),
        }
        assert_eq!(ledger.view().head(), head);
    }
}

fn fundtrail(ledger: &Path, cwd: &Path, actor: &str, args: &[&str]) -> crate::support::Run {
    run_command(
        binary(ledger)
            .current_dir(cwd)
            .env("FUNDTRAIL_ACTOR", actor)
            .args(args),
    )
}

#[test]
fn the_binary_lists_the_held_and_releases_by_another_actor() {
    let dir = tempfile::tempdir().unwrap();
    let ledger_dir = {
        let ledger = ledger(dir.path());
        let path = dir.path().join("ledger");
        ledger.close().unwrap();
        path
    };
    let clerk = crate::support::ACTOR;
    let run = fundtrail(
        &ledger_dir,
        dir.path(),
        clerk,
        &["run", "allowance", "--month", "2018-07"],
    );
    run.assert_ok();
    assert!(
        run.stdout
            .contains("held: 4 household(s), 1700.00 in total"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("fundtrail run allowance --month 2018-07 --release ID --reason TEXT"),
        "{}",
        run.stdout
    );
    let json = fundtrail(
        &ledger_dir,
        dir.path(),
        clerk,
        &[
            "--json",
            "run",
            "allowance",
            "--month",
            "2018-07",
            "--dry-run",
        ],
    );
    json.assert_ok();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let held = value["held"].as_array().unwrap();
    assert_eq!(held.len(), 4);
    assert_eq!(held[0]["household_id"], "PL-0001");
    assert_eq!(held[0]["amount"], "680.00");
    assert_eq!(held[0]["findings"].as_array().unwrap().len(), 1);
    assert_eq!(
        held[0]["release"],
        "fundtrail run allowance --month 2018-07 --release PL-0001 --reason TEXT"
    );

    let missing = fundtrail(
        &ledger_dir,
        dir.path(),
        SUPERVISOR,
        &[
            "run",
            "allowance",
            "--month",
            "2018-07",
            "--release",
            "PL-0001",
        ],
    );
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("--reason"), "{}", missing.stderr);
    let same = fundtrail(
        &ledger_dir,
        dir.path(),
        clerk,
        &[
            "run",
            "allowance",
            "--month",
            "2018-07",
            "--release",
            "PL-0001",
            "--reason",
            "ok",
        ],
    );
    assert_eq!(same.code, 2, "{same:?}");
    assert!(same.stderr.contains("four eyes"), "{}", same.stderr);
    let released = fundtrail(
        &ledger_dir,
        dir.path(),
        SUPERVISOR,
        &[
            "--json",
            "run",
            "allowance",
            "--month",
            "2018-07",
            "--release",
            "PL-0001",
            "--reason",
            "one June payment returned",
        ],
    );
    released.assert_ok();
    let value: serde_json::Value = serde_json::from_str(&released.stdout).unwrap();
    assert_eq!(value["amount"], "680.00");
    assert_eq!(value["reference"], "ALW-201807-PL-0001");
    let file = dir.path().join(value["payment_file"].as_str().unwrap());
    assert!(std::fs::read_to_string(file)
        .unwrap()
        .contains("ALW-201807-PL-0001,PL-0001,680.00"));
    let log = fundtrail(
        &ledger_dir,
        dir.path(),
        clerk,
        &["log", "--type", "hold_released"],
    );
    log.assert_ok();
    assert!(
        log.stdout.contains("release:201807:PL-0001"),
        "{}",
        log.stdout
    );
    fundtrail(&ledger_dir, dir.path(), clerk, &["verify"]).assert_ok();
}

/// The four-eyes clause in a replay (`audit verify-export` replays the write rules with
/// each record's own actor): a signed export whose release was recorded by the actor who
/// ran the month is refused at the release; by someone else it passes.
#[test]
fn a_replay_refuses_a_release_by_the_actor_who_ran_the_month() {
    use crate::support::{audit_verify_export, audit_verify_export_json, forge};
    use fundtrail::model::encoding::{encode, HoldReleasedV1};

    const D2015_02_28: i32 = 16_494;
    const D2015_03_02: i32 = 16_496;
    let mut events = forge::opening();
    events.push(forge::enroll("PL-0002", forge::D2014_03_01));
    events.push(forge::pay(
        "ALW-201502-PL-0001",
        "PL-0001",
        10_000,
        D2015_02_28,
    ));
    events.push((
        "release:201502:PL-0002".into(),
        Body::HoldReleased(HoldReleasedV1 {
            household: "PL-0002".into(),
            period: "2015-02".into(),
            reason: "bank confirmed".into(),
            findings: vec!["fac2ab877149dbc8".into()],
            value_date: D2015_03_02,
        }),
    ));
    let release_seq = events.len() as u64;
    let dir = tempfile::tempdir().unwrap();

    let same = dir.path().join("same");
    forge::write_export(&same, &events);
    let json = audit_verify_export_json(&same, &forge::verifier_key())
        .assert_code(1)
        .json();
    assert_eq!(json["first_bad_seq"], release_seq, "{json}");
    let reason = json["reason"].as_str().unwrap();
    assert!(
        reason.contains("actor: ") && reason.contains("four eyes"),
        "{reason}"
    );

    let other = dir.path().join("other");
    let mut records = forge::records(&events);
    records.last_mut().unwrap().actor = SUPERVISOR.into();
    let bytes: Vec<Vec<u8>> = records.iter().map(encode).collect();
    forge::write_export_of_records(&other, &bytes);
    audit_verify_export(&other, &forge::verifier_key()).assert_ok();
}
