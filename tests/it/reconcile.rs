//! Reconciliation of bank statements against the ledger, through the library and the
//! binary: planted differences of every kind, alone and together, a clean month, bad rows.

use std::path::{Path, PathBuf};

use fundtrail::ledger::Ledger;
use fundtrail::model::domain::{
    parse_date, Allocation, Category, Command, Enrollment, HouseholdId, Money, Month, ProgramCode,
    Rate, Reference, ReversalRequest, Seq,
};
use fundtrail::model::encoding::Body;
use fundtrail::runs::batch::{
    reconcile_file, run_allowance, BatchError, IndexMode, IndexUse, Reconciliation, RunMode,
};
use fundtrail::runs::payment_index::INDEX_FILE_NAME;

use crate::support::{binary, ctx, run_command};

fn month(text: &str) -> Month {
    Month::parse(text).unwrap()
}

/// A statement row: value date, amount, reference, beneficiary.
type Row = (String, String, String, String);

/// A ledger of four households paid for July and August 2018 by the allowance run; returns
/// the ledger and the July payment file's rows as the bank would report them.
fn paid_ledger(dir: &Path) -> (Ledger, Vec<Row>) {
    let mut ledger = Ledger::init(&dir.join("ledger")).unwrap();
    let mut setup = vec![
        Command::Allocate(Allocation {
            program: ProgramCode::parse("support_allowance").unwrap(),
            amount: Money::parse("1000000.00").unwrap(),
            date: parse_date("2018-01-01").unwrap(),
            reference: Reference::parse("ZJ-2018-1").unwrap(),
            source: "区财政".into(),
        }),
        Command::SetRate(Rate {
            program: ProgramCode::parse("support_allowance").unwrap(),
            category: Category::Bereaved,
            per_member: Money::parse("340.00").unwrap(),
            valid_from: parse_date("2015-01-01").unwrap(),
            valid_to: None,
        }),
    ];
    for (i, members) in [1, 2, 3, 4].into_iter().enumerate() {
        setup.push(Command::Enroll(Enrollment {
            household: HouseholdId::parse(&format!("PL-000{}", i + 1)).unwrap(),
            subdistrict: "龙泉".into(),
            community: "北市".into(),
            category: Category::Bereaved,
            members,
            enrolled_on: parse_date("2016-01-01").unwrap(),
        }));
    }
    ledger.append(setup, &ctx()).unwrap();
    for m in ["2018-07", "2018-08"] {
        let file = dir.join(format!("{m}.csv"));
        let mode = RunMode::Pay { payment_file: file };
        run_allowance(&mut ledger, month(m), &mode, &ctx()).unwrap();
    }
    let july = std::fs::read_to_string(dir.join("2018-07.csv")).unwrap();
    let rows = july
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            ("2018-07-31".into(), f[2].into(), f[0].into(), f[1].into())
        })
        .collect();
    (ledger, rows)
}

fn write_statement(dir: &Path, name: &str, rows: &[Row]) -> PathBuf {
    let mut text = String::from("value_date,amount,reference,beneficiary\n");
    for (date, amount, reference, beneficiary) in rows {
        text.push_str(&format!("{date},{amount},{reference},{beneficiary}\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn reconcile(
    ledger: &mut Ledger,
    dir: &Path,
    rows: &[Row],
    period: Option<&str>,
) -> Reconciliation {
    let path = write_statement(dir, "statement.csv", rows);
    reconcile_file(ledger, &path, period.map(month), IndexMode::Cached, &ctx()).unwrap()
}

/// (category, reference, ledger amount, bank amount) of every difference.
fn differences(r: &Reconciliation) -> Vec<(&'static str, String, Option<i64>, Option<i64>)> {
    r.report
        .differences
        .iter()
        .map(|d| (d.kind.code(), d.reference.clone(), d.ledger_fen, d.bank_fen))
        .collect()
}

fn reverse(ledger: &mut Ledger, reference: &str, household: &str, fen: i64) {
    let reversal = Command::Reverse(ReversalRequest {
        target: Reference::parse_payment_target(reference).unwrap(),
        household: HouseholdId::parse(household).unwrap(),
        program: None,
        amount: Money::from_fen(fen),
        date: parse_date("2018-08-03").unwrap(),
        reason: "paid to a closed account".into(),
    });
    ledger.append(vec![reversal], &ctx()).unwrap();
}

#[test]
fn a_clean_month_matches_every_payment_and_records_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, rows) = paid_ledger(dir.path());
    let head = ledger.view().head();
    let r = reconcile(&mut ledger, dir.path(), &rows, Some("2018-07"));
    assert!(r.report.is_clean(), "{:?}", r.report.differences);
    assert_eq!(r.report.matched_count, 4);
    assert_eq!(r.report.matched_fen, 34_000 * (1 + 2 + 3 + 4));
    assert_eq!(r.report.bank_rows, 4);
    assert!(r.appended);
    assert_eq!(r.seq, Seq::new(head.size + 1));
    let record = ledger.view().record(r.seq).unwrap();
    assert_eq!(record.reference, r.reference.as_str());
    let Body::Reconciliation(event) = record.body else {
        panic!("{record:?}")
    };
    let bytes = std::fs::read(dir.path().join("statement.csv")).unwrap();
    assert_eq!(event.statement_hash, *blake3::hash(&bytes).as_bytes());
    assert_eq!(event.report_hash, *blake3::hash(b"[]").as_bytes());
    assert_eq!(event.period, "2018-07");
    assert_eq!(
        (event.bank_rows, event.matched_count, event.matched_fen),
        (4, 4, 340_000)
    );
    assert_eq!(
        [
            event.missing_in_bank,
            event.missing_in_ledger,
            event.amount_mismatch,
            event.duplicate_in_bank,
            event.reversed_but_paid
        ],
        [0; 5]
    );
    assert!(r.reference.as_str().starts_with(&format!(
        "reconcile:{}:2018-07:",
        &hex::encode(event.statement_hash)[..16]
    )));
    // Re-running the same reconciliation finds the same and records nothing new.
    let again = reconcile(&mut ledger, dir.path(), &rows, Some("2018-07"));
    assert!(!again.appended);
    assert_eq!(again.seq, r.seq);
    assert_eq!(ledger.view().head().size, head.size + 1);
}

#[test]
fn each_kind_of_difference_is_found_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, rows) = paid_ledger(dir.path());
    let alw = |h: u32| format!("ALW-201807-PL-000{h}");

    let mut missing_in_bank = rows.clone();
    missing_in_bank.remove(1);
    let r = reconcile(&mut ledger, dir.path(), &missing_in_bank, Some("2018-07"));
    assert_eq!(
        differences(&r),
        [("missing_in_bank", alw(2), Some(68_000), None)]
    );
    assert_eq!(r.report.counts.missing_in_bank, 1);
    assert_eq!(r.report.matched_count, 3);

    let mut missing_in_ledger = rows.clone();
    missing_in_ledger.push((
        "2018-07-31".into(),
        "340.00".into(),
        "ICBC-9999".into(),
        "冒名".into(),
    ));
    let r = reconcile(&mut ledger, dir.path(), &missing_in_ledger, Some("2018-07"));
    assert_eq!(
        differences(&r),
        [("missing_in_ledger", "ICBC-9999".into(), None, Some(34_000))]
    );
    assert_eq!(r.report.differences[0].bank_lines, [6]);
    assert_eq!(r.report.matched_count, 4);

    let mut mismatch = rows.clone();
    mismatch[2].1 = "1020.01".into();
    let r = reconcile(&mut ledger, dir.path(), &mismatch, Some("2018-07"));
    assert_eq!(
        differences(&r),
        [("amount_mismatch", alw(3), Some(102_000), Some(102_001))]
    );
    assert_eq!(r.report.counts.amount_mismatch, 1);

    let mut duplicate = rows.clone();
    duplicate.push(rows[3].clone());
    let r = reconcile(&mut ledger, dir.path(), &duplicate, Some("2018-07"));
    assert_eq!(
        differences(&r),
        [("duplicate_in_bank", alw(4), Some(136_000), Some(272_000))]
    );
    assert_eq!(r.report.differences[0].bank_lines, [5, 6]);
    assert_eq!(r.report.matched_count, 3);

    reverse(&mut ledger, &alw(1), "PL-0001", 34_000);
    let r = reconcile(&mut ledger, dir.path(), &rows, Some("2018-07"));
    assert_eq!(
        differences(&r),
        [("reversed_but_paid", alw(1), Some(34_000), Some(34_000))]
    );
    assert_eq!(r.report.counts.reversed_but_paid, 1);
    // A reversed payment the bank did not pay is no difference.
    let r = reconcile(&mut ledger, dir.path(), &rows[1..], Some("2018-07"));
    assert!(r.report.is_clean(), "{:?}", r.report.differences);
}

#[test]
fn every_kind_planted_together_is_reported_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, rows) = paid_ledger(dir.path());
    reverse(&mut ledger, "ALW-201807-PL-0001", "PL-0001", 34_000);
    let mut planted = rows.clone();
    planted.remove(1); // PL-0002 not paid
    planted[1].1 = "1.00".into(); // PL-0003 at the wrong amount
    planted.push(rows[3].clone()); // PL-0004 twice
    planted.push((
        "2018-07-15".into(),
        "9.99".into(),
        "ICBC-X".into(),
        "?".into(),
    ));
    // A duplicated reference the ledger does not know is one missing_in_ledger, not two.
    planted.push((
        "2018-07-16".into(),
        "0.01".into(),
        "ICBC-X".into(),
        "?".into(),
    ));
    let head = ledger.view().head();
    let r = reconcile(&mut ledger, dir.path(), &planted, Some("2018-07"));
    assert_eq!(
        differences(&r),
        [
            (
                "reversed_but_paid",
                "ALW-201807-PL-0001".into(),
                Some(34_000),
                Some(34_000)
            ),
            (
                "missing_in_bank",
                "ALW-201807-PL-0002".into(),
                Some(68_000),
                None
            ),
            (
                "amount_mismatch",
                "ALW-201807-PL-0003".into(),
                Some(102_000),
                Some(100)
            ),
            (
                "duplicate_in_bank",
                "ALW-201807-PL-0004".into(),
                Some(136_000),
                Some(272_000)
            ),
            ("missing_in_ledger", "ICBC-X".into(), None, Some(1_000)),
        ]
    );
    let c = r.report.counts;
    assert_eq!(
        [
            c.missing_in_bank,
            c.missing_in_ledger,
            c.amount_mismatch,
            c.duplicate_in_bank,
            c.reversed_but_paid
        ],
        [1; 5]
    );
    assert_eq!((r.report.matched_count, r.report.matched_fen), (0, 0));
    let Body::Reconciliation(event) = ledger.view().record(r.seq).unwrap().body else {
        panic!()
    };
    assert_eq!(
        event.report_hash,
        *blake3::hash(&r.report.canonical_json()).as_bytes()
    );
    assert_eq!((event.missing_in_ledger, event.duplicate_in_bank), (1, 1));
    assert_eq!(ledger.view().head().size, head.size + 1);
}

#[test]
fn the_month_limits_what_the_ledger_expects_from_the_bank() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, rows) = paid_ledger(dir.path());
    // Without --month the August payments are expected too.
    let all = reconcile(&mut ledger, dir.path(), &rows, None);
    assert_eq!(all.report.counts.missing_in_bank, 4);
    assert!(
        all.reference.as_str().contains(":all:"),
        "{}",
        all.reference
    );
    let Body::Reconciliation(event) = ledger.view().record(all.seq).unwrap().body else {
        panic!()
    };
    assert_eq!(event.period, "");
    // An August payment paid on a July statement is still matched, not unknown.
    let mut late = rows.clone();
    late.push((
        "2018-07-31".into(),
        "340.00".into(),
        "ALW-201808-PL-0001".into(),
        "x".into(),
    ));
    let r = reconcile(&mut ledger, dir.path(), &late, Some("2018-07"));
    assert!(r.report.is_clean(), "{:?}", r.report.differences);
    assert_eq!(r.report.matched_count, 5);
    let august = reconcile(&mut ledger, dir.path(), &rows, Some("2018-08"));
    assert_eq!(august.report.counts.missing_in_bank, 4);
    assert_eq!(
        august.report.matched_count, 4,
        "July rows match July payments"
    );
}

#[test]
fn a_statement_with_bad_rows_is_refused_whole_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, rows) = paid_ledger(dir.path());
    let head = ledger.view().head();
    let mut bad = rows.clone();
    bad[0].1 = "340.001".into();
    bad[1].0 = "2018-07-32".into();
    bad[2].2 = String::new();
    let path = write_statement(dir.path(), "bad.csv", &bad);
    let err = reconcile_file(
        &mut ledger,
        &path,
        Some(month("2018-07")),
        IndexMode::Cached,
        &ctx(),
    )
    .unwrap_err();
    let BatchError::Statement(err) = err else {
        panic!("{err:?}")
    };
    let found: Vec<(u64, &str)> = err.rows.iter().map(|r| (r.line, r.field)).collect();
    assert_eq!(found, [(2, "amount"), (3, "value_date"), (4, "reference")]);
    assert_eq!(err.total, 3);
    assert_eq!(ledger.view().head(), head);
    assert!(
        !dir.path().join("ledger").join(INDEX_FILE_NAME).exists(),
        "a refused statement leaves the ledger directory as it was, without a payment index"
    );
    let missing = reconcile_file(
        &mut ledger,
        &dir.path().join("nope.csv"),
        None,
        IndexMode::Cached,
        &ctx(),
    );
    assert!(matches!(missing, Err(BatchError::Io { .. })), "{missing:?}");
}

// ---- the binary ----

fn fundtrail(ledger: &Path, args: &[&str]) -> (i32, String, String) {
    let run = run_command(binary(ledger).args(args).env("FUNDTRAIL_ACTOR", "审计员"));
    (run.code, run.stdout, run.stderr)
}

#[test]
fn the_binary_exits_0_when_clean_1_on_differences_2_on_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, rows) = paid_ledger(dir.path());
    drop(ledger);
    let l = dir.path().join("ledger");
    let clean = write_statement(dir.path(), "clean.csv", &rows);
    let (code, out, err) = fundtrail(
        &l,
        &[
            "reconcile",
            "--statement",
            clean.to_str().unwrap(),
            "--month",
            "2018-07",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("matched:     4 payment(s), 3400.00"), "{out}");
    assert!(out.contains("recorded as seq"), "{out}");

    let mut planted = rows.clone();
    planted[0].1 = "1.00".into();
    planted.push(rows[1].clone());
    let diff = write_statement(dir.path(), "diff.csv", &planted);
    let (code, out, _) = fundtrail(
        &l,
        &[
            "reconcile",
            "--statement",
            diff.to_str().unwrap(),
            "--month",
            "2018-07",
            "--csv",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "category,reference,ledger_amount,bank_amount,bank_lines\n\
         amount_mismatch,ALW-201807-PL-0001,340.00,1.00,2\n\
         duplicate_in_bank,ALW-201807-PL-0002,680.00,1360.00,3 6\n"
    );
    let (code, out, _) = fundtrail(
        &l,
        &[
            "--json",
            "reconcile",
            "--statement",
            diff.to_str().unwrap(),
            "--month",
            "2018-07",
        ],
    );
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["clean"], false);
    assert_eq!(json["counts"]["duplicate_in_bank"], 1);
    assert_eq!(json["differences"][0]["category"], "amount_mismatch");
    assert_eq!(json["differences"][0]["ledger_amount"], "340.00");
    assert_eq!(json["differences"][0]["bank_amount"], "1.00");
    assert_eq!(
        json["recorded"]["appended"], false,
        "the --csv run recorded it already"
    );
    let canonical = serde_json::to_vec(&json["differences"]).unwrap();
    assert_eq!(
        json["report_hash"],
        hex::encode(blake3::hash(&canonical).as_bytes())
    );

    let mut bad = rows.clone();
    bad[3].1 = "1.234".into();
    let bad = write_statement(dir.path(), "bad.csv", &bad);
    let (code, _, err) = fundtrail(&l, &["reconcile", "--statement", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.csv:5: amount: \"1.234\" has more than 2 decimal places"),
        "{err}"
    );
    let (code, _, err) = fundtrail(
        &l,
        &[
            "reconcile",
            "--statement",
            clean.to_str().unwrap(),
            "--month",
            "2018-7",
        ],
    );
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = fundtrail(&l, &["log", "--type", "reconciliation"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().count(),
        3,
        "a header and two recorded runs:\n{out}"
    );
    assert!(!out.contains("all months"), "{out}");

    // A run over every month has no value date: `log` says so instead of a date.
    let (code, _, err) = fundtrail(&l, &["reconcile", "--statement", clean.to_str().unwrap()]);
    assert!(code == 0 || code == 1, "{err}");
    let (code, out, _) = fundtrail(&l, &["log", "--type", "reconciliation", "--limit", "1"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(" all months ") && !out.contains("1970"),
        "{out}"
    );
}

#[test]
fn the_payment_index_is_caught_up_checked_and_rebuilt_when_it_cannot_be_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, rows) = paid_ledger(dir.path());
    let first = reconcile(&mut ledger, dir.path(), &rows, Some("2018-07"));
    assert!(
        matches!(first.index, IndexUse::Rebuilt { .. }),
        "{:?}",
        first.index
    );
    // The next run reads only what was appended since: the reconciliation event.
    reverse(&mut ledger, "ALW-201807-PL-0003", "PL-0003", 102_000);
    let second = reconcile(&mut ledger, dir.path(), &rows, Some("2018-07"));
    assert_eq!(
        second.index,
        IndexUse::CaughtUp {
            from: first.seq.get() - 1,
            events: 2
        }
    );
    assert_eq!(
        second.report.counts.reversed_but_paid, 1,
        "the reversal was folded in"
    );
    let index_file = dir.path().join("ledger").join("payments.idx");
    let mut damaged = std::fs::read(&index_file).unwrap();
    damaged[20] ^= 0xff;
    std::fs::write(&index_file, &damaged).unwrap();
    let third = reconcile(&mut ledger, dir.path(), &rows, Some("2018-07"));
    let IndexUse::Rebuilt { reason, .. } = &third.index else {
        panic!("{:?}", third.index)
    };
    assert!(reason.contains("seal"), "{reason}");
    assert_eq!(third.report, second.report);
    // An index from another ledger is refused even when intact.
    let other = tempfile::tempdir().unwrap();
    let (mut other_ledger, _) = paid_ledger(other.path());
    // Built the same way, it shares our first 14 events; then it goes its own way.
    reverse(&mut other_ledger, "ALW-201807-PL-0004", "PL-0004", 136_000);
    reconcile(&mut other_ledger, other.path(), &rows, None);
    drop(other_ledger);
    std::fs::copy(
        other.path().join("ledger").join("payments.idx"),
        &index_file,
    )
    .unwrap();
    let fourth = reconcile(&mut ledger, dir.path(), &rows, Some("2018-07"));
    let IndexUse::Rebuilt { reason, .. } = &fourth.index else {
        panic!("{:?}", fourth.index)
    };
    // Sealed under the other ledger's key, it does not open under this one's.
    assert!(reason.contains("seal"), "{reason}");
    assert_eq!(fourth.report, second.report);
    let path = write_statement(dir.path(), "statement.csv", &rows);
    let rebuilt = reconcile_file(
        &mut ledger,
        &path,
        Some(month("2018-07")),
        IndexMode::Rebuild,
        &ctx(),
    )
    .unwrap();
    assert!(matches!(rebuilt.index, IndexUse::Rebuilt { .. }));
    assert_eq!(rebuilt.report, second.report);
}

/// The index file's own checksum is a plain hash anyone can recompute: an insider who
/// changes an amount and fixes the checksum (keeping the old seal) gets the index rebuilt
/// from the events, and the report is the honest one.
#[test]
fn a_payment_index_with_a_recomputed_checksum_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, rows) = paid_ledger(dir.path());
    let honest = reconcile(&mut ledger, dir.path(), &rows, Some("2018-07"));
    let index_file = dir.path().join("ledger").join(INDEX_FILE_NAME);
    let stored = std::fs::read(&index_file).unwrap();
    let (body, seal) = stored.split_at(stored.len() - 32);
    let (table, _checksum) = body.split_at(body.len() - 32);
    let mut forged = table.to_vec();
    // The last entry's amount (its reversed flag, date and amount end the table).
    let amount_at = forged.len() - 1 - 4 - 8;
    forged[amount_at] ^= 0x01;
    let checksum = *blake3::hash(&forged).as_bytes();
    forged.extend_from_slice(&checksum);
    forged.extend_from_slice(seal);
    assert!(
        fundtrail::runs::payment_index::PaymentTable::decode(&forged[..forged.len() - 32]).is_ok(),
        "the forged table is well formed"
    );
    std::fs::write(&index_file, &forged).unwrap();
    let again = reconcile(&mut ledger, dir.path(), &rows, Some("2018-07"));
    let IndexUse::Rebuilt { reason, .. } = &again.index else {
        panic!("{:?}", again.index)
    };
    assert!(reason.contains("seal"), "{reason}");
    assert_eq!(again.report, honest.report);
}

// ---- performing a recorded run again, from an export ----

/// A paid ledger with two recorded runs for July, one clean and one with differences, and
/// its export: (ledger dir, export dir, clean statement, statement with differences, key).
struct Recorded {
    _tmp: tempfile::TempDir,
    ledger: PathBuf,
    export: PathBuf,
    clean: PathBuf,
    diff: PathBuf,
    key: String,
}

fn recorded_runs() -> Recorded {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ledger, rows) = paid_ledger(dir);
    drop(ledger);
    let l = dir.join("ledger");
    let clean = write_statement(dir, "clean.csv", &rows);
    let mut planted = rows.clone();
    planted[0].1 = "1.00".into();
    planted.push((
        "2018-07-31".into(),
        "9.00".into(),
        "STRANGER".into(),
        "x".into(),
    ));
    let diff = write_statement(dir, "diff.csv", &planted);
    for (file, code) in [(&clean, 0), (&diff, 1)] {
        let file = file.to_str().unwrap();
        let (got, out, err) = fundtrail(
            &l,
            &["reconcile", "--statement", file, "--month", "2018-07"],
        );
        assert_eq!(got, code, "{out}{err}");
    }
    let export = dir.join("export");
    let (code, out, err) = fundtrail(&l, &["export", "--to", export.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, key, err) = fundtrail(&l, &["key", "show"]);
    assert_eq!(code, 0, "{err}");
    Recorded {
        _tmp: tmp,
        ledger: l,
        export,
        clean,
        diff,
        key: key.trim().to_string(),
    }
}

/// `fundtrail audit reconcile EXPORT --statement FILE --key KEY [extra…]`.
fn audit_reconcile(
    r: &Recorded,
    export: &Path,
    statement: &Path,
    extra: &[&str],
) -> (i32, String, String) {
    let mut args = vec![
        "audit",
        "reconcile",
        export.to_str().unwrap(),
        "--statement",
        statement.to_str().unwrap(),
        "--key",
        &r.key,
    ];
    args.extend_from_slice(extra);
    fundtrail(&r.ledger, &args)
}

#[test]
fn an_auditor_reproduces_recorded_runs_from_the_export_and_the_statement() {
    let r = recorded_runs();
    let (code, out, err) = audit_reconcile(&r, &r.export, &r.clean, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(period 2018-07, recorded by 审计员"), "{out}");
    assert!(
        out.contains("reproduced: the report hash matches the record ("),
        "{out}"
    );
    assert!(
        out.contains("4 matched (3400.00), 0 difference(s)"),
        "{out}"
    );
    assert!(
        out.contains("ok: the 1 recorded run(s) of this statement are reproduced"),
        "{out}"
    );

    // A run with differences is reproduced as well: the same differences, the same hash.
    let (code, out, err) =
        audit_reconcile(&r, &r.export, &r.diff, &["--json", "--month", "2018-07"]);
    assert_eq!(code, 0, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["ok"], true);
    let run = &json["runs"][0];
    assert_eq!(run["reproduced"], true);
    assert_eq!(run["report_hash"], run["recorded_report_hash"]);
    assert_eq!(json["other_runs"], 1);

    // The recorded hash is the one `reconcile --json` printed when it ran.
    let (_, out, _) = fundtrail(
        &r.ledger,
        &[
            "--json",
            "reconcile",
            "--statement",
            r.diff.to_str().unwrap(),
            "--month",
            "2018-07",
        ],
    );
    let live: serde_json::Value = serde_json::from_str(&out).unwrap();
    let live_hash = live["report_hash"].as_str().unwrap_or_default();
    assert_eq!(run["report_hash"], live_hash, "{live}");
}

#[test]
fn a_statement_changed_after_its_run_is_reported() {
    let r = recorded_runs();
    let text = std::fs::read_to_string(&r.clean).unwrap();
    let changed = text.replacen("2018-07-31", "2018-07-30", 1);
    assert_ne!(changed, text);
    std::fs::write(&r.clean, changed).unwrap();
    let (code, out, err) = audit_reconcile(&r, &r.export, &r.clean, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("FAILED: the export records no reconciliation of a statement with blake3"),
        "{out}"
    );
    assert!(out.contains("the export records these runs:"), "{out}");
    // A period with no run of the statement is reported the same way.
    let (code, out, _) = audit_reconcile(&r, &r.export, &r.diff, &["--month", "2018-08"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("over 2018-08"), "{out}");
}

/// Rewrites the export as a key holder could: the reconciliation event of `statement` gets
/// another report hash (and the reference that goes with it), every later hash is chained
/// again, and a checkpoint of the new root is signed with the ledger's own key.
fn forge_report_hash(ledger: &Path, export: &Path, statement: &Path) {
    use fundtrail::export::ExportLine;
    use fundtrail::model::domain::EventHash;
    use fundtrail::model::encoding::{decode, encode};
    use fundtrail::tlog::chain::chain_hash;
    use fundtrail::tlog::checkpoint::{open_note_bytes, Checkpoint};
    use fundtrail::tlog::merkle::{Blake3Hasher, Frontier, TreeHasher};

    let statement_hash = *blake3::hash(&std::fs::read(statement).unwrap()).as_bytes();
    let signer = fundtrail::keys::SigningKeyFile::read(ledger).unwrap();
    let note = std::fs::read(export.join("checkpoint.txt")).unwrap();
    let old = open_note_bytes(&note, &signer.signer().verifier_key()).unwrap();
    let events = std::fs::read_to_string(export.join("events.jsonl")).unwrap();
    let mut prev = EventHash::GENESIS;
    let mut frontier = Frontier::new();
    let mut out = String::new();
    let mut forged = 0;
    for line in events.lines() {
        let mut line: ExportLine = serde_json::from_str(line).unwrap();
        let mut record = decode(&hex::decode(&line.record).unwrap()).unwrap();
        if let Body::Reconciliation(run) = &mut record.body {
            if run.statement_hash == statement_hash {
                run.report_hash = [0x5a; 32];
                let period = Month::parse(&run.period).ok();
                record.reference =
                    Reference::for_reconciliation(&run.statement_hash, period, &run.report_hash)
                        .to_string();
                forged += 1;
            }
        }
        let bytes = encode(&record);
        let hash = chain_hash(&prev, &bytes);
        line.prev_hash = prev.to_hex();
        line.hash = hash.to_hex();
        line.record = hex::encode(&bytes);
        line.fields = fundtrail::model::render::record_fields(&record);
        frontier.append(&Blake3Hasher, Blake3Hasher.hash_leaf(hash.as_bytes()));
        prev = hash;
        out.push_str(&serde_json::to_string(&line).unwrap());
        out.push('\n');
    }
    assert_eq!(forged, 1);
    let checkpoint = Checkpoint {
        origin: old.origin,
        size: old.size,
        root: frontier.root(&Blake3Hasher),
    };
    std::fs::write(export.join("events.jsonl"), out).unwrap();
    let signed = signer.signer().sign(&checkpoint).unwrap();
    std::fs::write(export.join("checkpoint.txt"), signed).unwrap();
}

#[test]
fn a_re_signed_export_with_another_report_hash_is_reported() {
    let r = recorded_runs();
    forge_report_hash(&r.ledger, &r.export, &r.clean);
    // The forged export is a correctly signed log: only performing the run again finds it.
    let export = r.export.to_str().unwrap();
    let (code, out, err) = fundtrail(
        &r.ledger,
        &["audit", "verify-export", export, "--key", &r.key],
    );
    assert_eq!(code, 0, "the forgery should verify as a log: {out}{err}");
    let (code, out, err) = audit_reconcile(&r, &r.export, &r.clean, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("NOT reproduced: the report differs from the record"),
        "{out}"
    );
    let recorded = format!("report_hash: recorded {}, recomputed ", "5a".repeat(32));
    assert!(out.contains(&recorded), "{out}");
    assert!(out.contains("FAILED: 1 of the 1 recorded run(s)"), "{out}");
    // The other statement's run is untouched and still reproduced.
    let (code, out, err) = audit_reconcile(&r, &r.export, &r.diff, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn audit_reconcile_refuses_bad_input_and_an_export_that_does_not_verify() {
    let r = recorded_runs();
    // A statement with a bad row: exit 2, the row named.
    let bad = r.clean.with_file_name("bad.csv");
    std::fs::write(
        &bad,
        "value_date,amount,reference,beneficiary\n2018-07-31,1.234,P1,a\n",
    )
    .unwrap();
    let (code, out, err) = audit_reconcile(&r, &r.export, &bad, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("{}:2: amount: ", bad.display())),
        "{err}"
    );
    // A missing statement, a missing export, a bad key, a bad month: exit 2.
    let missing = r.clean.with_file_name("none.csv");
    assert_eq!(audit_reconcile(&r, &r.export, &missing, &[]).0, 2);
    assert_eq!(
        audit_reconcile(&r, &r.export.join("none"), &r.clean, &[]).0,
        2
    );
    assert_eq!(
        audit_reconcile(&r, &r.export, &r.clean, &["--month", "July"]).0,
        2
    );
    let (code, _, err) = fundtrail(
        &r.ledger,
        &[
            "audit",
            "reconcile",
            r.export.to_str().unwrap(),
            "--statement",
            r.clean.to_str().unwrap(),
            "--key",
            "nokey",
        ],
    );
    assert_eq!(code, 2, "{err}");
    // An export whose log does not verify: exit 1, nothing compared.
    let events = r.export.join("events.jsonl");
    let text = std::fs::read_to_string(&events).unwrap();
    let first_line_end = text.find('\n').unwrap();
    let mut lines = text.clone();
    lines.replace_range(first_line_end - 3..first_line_end - 2, "!");
    std::fs::write(&events, lines).unwrap();
    let (code, out, err) = audit_reconcile(&r, &r.export, &r.clean, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("the export does not verify"), "{out}");
}
