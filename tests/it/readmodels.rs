//! The maintained read models end to end: a small hand-built ledger whose totals,
//! household balances and fund balances are computed by hand below, through the library
//! (`Ledger` + `ReadSide`) and through the binary's output contract (table in Chinese and
//! English, `--json`, `--csv`). Also the snapshot's life: catch-up after a restart, a
//! snapshot left behind by a crash, a tampered or impossible snapshot, a gap in the log,
//! and `rebuild` equal to the maintained state.

use std::path::{Path, PathBuf};

use fundtrail::ledger::import::{CsvFile, ImportKind};
use fundtrail::ledger::readmodels::{ReadSide, ReadSideError};
use fundtrail::ledger::Ledger;
use fundtrail::model::domain::{parse_date, HouseholdId, Money, Payment, PaymentKind, ProgramCode};
use fundtrail::model::domain::{Reference, ReversalRequest};
use fundtrail_projections::{
    format_fen, FundRow, GroupKey, ReadModels, TotalsQuery, TotalsRow, YearMonth,
};
use serde_json::{json, Value};
use unicode_width::UnicodeWidthStr;

use fundtrail::ledger::readmodels::{
    snapshot_records, stored_records, META_READ_MODELS as SNAPSHOT_META, SNAPSHOT_VERSION,
};

use crate::support::{binary, ctx, insider, run_command, Run};

const HOUSEHOLDS_CSV: &str = "\
household_id,subdistrict,community,category,members,enrolled_on
H1,拓东,A社区,bereaved,2,2018-01-01
H2,拓东,B社区,disabled,3,2018-01-01
H3,鼓楼,C社区,bereaved,1,2018-01-01
";

/// Seqs 1-3 are the enrollments above; these are seqs 4-12. PAY-2 (seq 7) is reversed by
/// seq 11 in March, so it leaves January (its value date), not March.
const EVENTS_CSV: &str = "\
date,type,household_id,program,amount,persons,reference,memo
2018-01-02,fund_allocation,,support_allowance,10000.00,,ALLOC-1,区财政
2018-01-02,fund_allocation,,holiday_condolence,3000.00,,ALLOC-2,市计生协
2018-01-15,disbursement,H1,support_allowance,800.00,2,PAY-1,一月
2018-01-15,disbursement,H2,support_allowance,1200.00,3,PAY-2,一月
2018-02-15,disbursement,H1,support_allowance,800.00,2,PAY-3,二月
2018-02-16,condolence_payment,H3,holiday_condolence,300.00,1,PAY-4,春节
2018-02-16,condolence_payment,H1,holiday_condolence,300.00,1,PAY-5,春节
2018-03-01,reversal,H2,support_allowance,1200.00,,PAY-2,paid to the wrong account
2019-01-15,disbursement,H3,support_allowance,400.00,1,PAY-6,
";

/// Events of the base ledger.
const BASE_EVENTS: u64 = 12;

/// Appended after the snapshot in the restart tests: seqs 13 and 14.
const MORE_EVENTS_CSV: &str = "\
date,type,household_id,program,amount,persons,reference,memo
2019-02-15,disbursement,H2,support_allowance,600.00,3,PAY-7,二月
2019-02-16,condolence_payment,H2,holiday_condolence,300.00,1,PAY-8,春节
";

// ---------------------------------------------------------------------------------------
// Building ledgers

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test input file");
    path
}

fn import(ledger: &mut Ledger, dir: &Path, name: &str, text: &str, kind: ImportKind) {
    let path = write(dir, name, text);
    ledger
        .append_rows(&mut CsvFile::new(&path, kind), &ctx())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
}

/// The base ledger in `root/ledger`, with no snapshot saved.
fn base_ledger(root: &Path) -> (PathBuf, Ledger) {
    let dir = root.join("ledger");
    let mut ledger = Ledger::init(&dir).expect("init");
    import(
        &mut ledger,
        root,
        "households.csv",
        HOUSEHOLDS_CSV,
        ImportKind::Households,
    );
    import(
        &mut ledger,
        root,
        "events.csv",
        EVENTS_CSV,
        ImportKind::Events,
    );
    assert_eq!(ledger.view().head().size, BASE_EVENTS);
    (dir, ledger)
}

fn append_more(ledger: &mut Ledger, root: &Path) {
    import(
        ledger,
        root,
        "more.csv",
        MORE_EVENTS_CSV,
        ImportKind::Events,
    );
}

/// The base ledger, its snapshot saved through the binary's own path (`import` refreshes
/// the read models), for the CLI tests.
fn cli_ledger(root: &Path) -> PathBuf {
    let dir = root.join("ledger");
    run_ok(&dir, &["init"]);
    let households = write(root, "households.csv", HOUSEHOLDS_CSV);
    let events = write(root, "events.csv", EVENTS_CSV);
    run_ok(&dir, &["import", "households", path_arg(&households)]);
    run_ok(&dir, &["import", "events", path_arg(&events)]);
    dir
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

// ---------------------------------------------------------------------------------------
// Expected values, computed by hand from the CSV above

/// (group keys, amount, payments, households, persons) for one totals row.
fn row(keys: Value, amount: &str, payments: u64, households: u64, persons: u64) -> Value {
    let mut object = keys.as_object().cloned().unwrap_or_default();
    object.insert("amount".into(), json!(amount));
    object.insert("payments".into(), json!(payments));
    object.insert("households".into(), json!(households));
    object.insert("persons".into(), json!(persons));
    object.insert("recovered".into(), json!("0.00"));
    Value::Object(object)
}

fn expected_by_program() -> Value {
    json!([
        // PAY-4 (H3) and PAY-5 (H1).
        row(json!({"program": "holiday_condolence"}), "600.00", 2, 2, 2),
        // PAY-1, PAY-3 (H1, 2 persons each) and PAY-6 (H3); PAY-2 reversed.
        row(json!({"program": "support_allowance"}), "2000.00", 3, 2, 5),
    ])
}

fn by(keys: &[GroupKey]) -> TotalsQuery {
    TotalsQuery {
        by: keys.to_vec(),
        ..TotalsQuery::default()
    }
}

/// The library's rows in the CLI's JSON shape, for comparing with the hand-computed values.
fn rows_json(rows: &[TotalsRow], keys: &[&str]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                let mut m = serde_json::Map::new();
                for key in keys {
                    let value = match *key {
                        "subdistrict" => json!(r.subdistrict),
                        "community" => json!(r.community),
                        "program" => json!(r.program),
                        "year" => json!(r.year),
                        "month" => json!(r.month.map(|m| m.to_string())),
                        other => panic!("unknown key {other}"),
                    };
                    m.insert((*key).into(), value);
                }
                let mut shaped = row(
                    Value::Object(m),
                    &format_fen(r.net_fen),
                    r.payments,
                    r.households,
                    r.person_times,
                );
                shaped["recovered"] = json!(format_fen(r.recovered_fen));
                shaped
            })
            .collect(),
    )
}

fn assert_base_figures(models: &ReadModels) {
    assert_eq!(
        rows_json(&models.totals(&by(&[GroupKey::Program])), &["program"]),
        expected_by_program()
    );
    assert_eq!(
        rows_json(&models.totals(&by(&[GroupKey::Month])), &["month"]),
        json!([
            // PAY-1 only: PAY-2 is reversed in March but counted out of January.
            row(json!({"month": "2018-01"}), "800.00", 1, 1, 2),
            row(json!({"month": "2018-02"}), "1400.00", 3, 2, 4),
            row(json!({"month": "2019-01"}), "400.00", 1, 1, 1),
        ])
    );
    let funds: Vec<(String, i64, i64, i64)> = models
        .funds()
        .into_iter()
        .map(|f: FundRow| (f.program, f.allocated_fen, f.disbursed_fen, f.remaining_fen))
        .collect();
    assert_eq!(
        funds,
        [
            ("holiday_condolence".to_string(), 300_000, 60_000, 240_000),
            ("support_allowance".to_string(), 1_000_000, 200_000, 800_000),
        ]
    );
    let h2 = models.household("H2").expect("H2 is enrolled");
    assert!(h2.programs.is_empty(), "H2's only payment was reversed");
    assert_eq!(h2.total.payments, 0);
}

// ---------------------------------------------------------------------------------------
// Running the binary

fn fundtrail(ledger: &Path, args: &[&str]) -> Run {
    run_command(binary(ledger).args(args))
}

fn run_ok(ledger: &Path, args: &[&str]) -> String {
    let run = fundtrail(ledger, args);
    assert_eq!(run.code, 0, "fundtrail {args:?}\n{run:#?}");
    run.stdout
}

fn run_json(ledger: &Path, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    serde_json::from_str(&run_ok(ledger, &args)).expect("--json prints JSON")
}

/// Runs a command that must fail with `code`; returns its stderr.
fn run_fails(ledger: &Path, args: &[&str], code: i32) -> String {
    let run = fundtrail(ledger, args);
    assert_eq!(run.code, code, "fundtrail {args:?}: {}", run.stderr);
    run.stderr
}

/// Every line of an aligned table has the same display width (the last column is
/// right-aligned), and there is a header plus `rows` lines.
fn assert_aligned(text: &str, rows: usize) {
    let widths: Vec<usize> = text.lines().map(UnicodeWidthStr::width).collect();
    assert_eq!(widths.len(), rows + 1, "{text}");
    assert!(widths.iter().all(|w| *w == widths[0]), "{text}");
}

/// Parses `--csv` output: it must start with the UTF-8 byte order mark.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let body = text
        .strip_prefix('\u{feff}')
        .unwrap_or_else(|| panic!("CSV must start with a BOM: {text:?}"));
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.expect("valid CSV").iter().map(str::to_owned).collect())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Library: hand-computed figures, restarts, crashes, tampering

#[test]
fn hand_computed_figures_from_the_library() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_, ledger) = base_ledger(root.path());
    let side = ReadSide::open(ledger.view()).expect("open the read side");
    let models = side.models();
    assert_eq!(models.applied().map(|a| a.seq), Some(BASE_EVENTS));
    assert_base_figures(models);

    let h1 = models.household("H1").expect("H1 is enrolled");
    let balances: Vec<(&str, i64, u64, u64)> = h1
        .programs
        .iter()
        .map(|p| {
            (
                p.program.as_str(),
                p.tally.net_fen,
                p.tally.payments,
                p.tally.person_times,
            )
        })
        .collect();
    assert_eq!(
        balances,
        [
            ("holiday_condolence", 30_000, 1, 1),
            ("support_allowance", 160_000, 2, 4)
        ]
    );
    assert_eq!(h1.total.net_fen, 190_000);
    assert_eq!(h1.enrollment.subdistrict, "拓东");
    assert_eq!(models.household("H9"), None);
}

#[test]
fn filters_narrow_the_counted_payments() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_, ledger) = base_ledger(root.path());
    let side = ReadSide::open(ledger.view()).expect("open");
    let query = |q: TotalsQuery, keys: &[&str]| rows_json(&side.totals(&q), keys);

    let in_2018 = TotalsQuery {
        year: Some(2018),
        ..by(&[GroupKey::Program])
    };
    assert_eq!(
        query(in_2018, &["program"]),
        json!([
            row(json!({"program": "holiday_condolence"}), "600.00", 2, 2, 2),
            row(json!({"program": "support_allowance"}), "1600.00", 2, 1, 4),
        ])
    );
    let february = TotalsQuery {
        month: Some(YearMonth {
            year: 2018,
            month: 2,
        }),
        ..by(&[GroupKey::Subdistrict])
    };
    assert_eq!(
        query(february, &["subdistrict"]),
        json!([
            row(json!({"subdistrict": "拓东"}), "1100.00", 2, 1, 3),
            row(json!({"subdistrict": "鼓楼"}), "300.00", 1, 1, 1),
        ])
    );
    let gulou = TotalsQuery {
        subdistrict: Some("鼓楼".into()),
        ..by(&[GroupKey::Program, GroupKey::Year])
    };
    assert_eq!(
        query(gulou, &["program", "year"]),
        json!([
            row(
                json!({"program": "holiday_condolence", "year": 2018}),
                "300.00",
                1,
                1,
                1
            ),
            row(
                json!({"program": "support_allowance", "year": 2019}),
                "400.00",
                1,
                1,
                1
            ),
        ])
    );
    let support = TotalsQuery {
        program: Some("support_allowance".into()),
        ..by(&[])
    };
    assert_eq!(
        query(support, &[]),
        json!([row(json!({}), "2000.00", 3, 2, 5)])
    );
    // B社区's only payment was reversed, so it has no row.
    assert_eq!(
        query(by(&[GroupKey::Community]), &["subdistrict", "community"]),
        json!([
            row(
                json!({"subdistrict": "拓东", "community": "A社区"}),
                "1900.00",
                3,
                1,
                5
            ),
            row(
                json!({"subdistrict": "鼓楼", "community": "C社区"}),
                "700.00",
                2,
                1,
                2
            ),
        ])
    );
}

#[test]
fn catch_up_after_a_restart_counts_new_events_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let (dir, ledger) = base_ledger(root.path());
    let mut side = ReadSide::open(ledger.view()).expect("open");
    assert!(side.save(&ledger, true).expect("save"));
    drop(side);
    ledger.close().expect("close");

    let mut ledger = Ledger::open(&dir).expect("reopen");
    append_more(&mut ledger, root.path());
    ledger.close().expect("close");

    let ledger = Ledger::open(&dir).expect("reopen after the append");
    let side = ReadSide::open(ledger.view()).expect("catch up");
    assert_eq!(
        side.models().applied().map(|a| a.seq),
        Some(BASE_EVENTS + 2)
    );
    assert_eq!(
        rows_json(&side.totals(&by(&[GroupKey::Program])), &["program"]),
        json!([
            row(json!({"program": "holiday_condolence"}), "900.00", 3, 3, 3),
            row(json!({"program": "support_allowance"}), "2600.00", 4, 3, 8),
        ])
    );
    let rebuilt = ReadSide::rebuild(ledger.view()).expect("rebuild");
    assert_eq!(side.models(), rebuilt.models());
}

/// The crash window: events are durable but the process died before it saved the
/// snapshot, which is therefore behind the head. Reopening applies exactly the missing
/// events, however far behind the snapshot is.
#[test]
fn a_snapshot_behind_the_head_counts_every_event_exactly_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let (dir, mut ledger) = base_ledger(root.path());
    let mut side = ReadSide::open(ledger.view()).expect("open");
    side.save(&ledger, true).expect("save at seq 12");
    let old_snapshot = stored_records(ledger.view()).expect("the saved records");

    // Appended without a save, as if the process died right after the commit.
    let reversal = ReversalRequest {
        target: Reference::parse("PAY-6").expect("reference"),
        household: HouseholdId::parse("H3").expect("id"),
        program: None,
        amount: Money::parse("400.00").expect("amount"),
        date: parse_date("2019-01-20").expect("date"),
        reason: "duplicate".into(),
    };
    let payment = Payment {
        kind: PaymentKind::Disbursement,
        household: HouseholdId::parse("H3").expect("id"),
        program: ProgramCode::parse("support_allowance").expect("program"),
        amount: Money::parse("450.00").expect("amount"),
        persons: 1,
        date: parse_date("2019-01-15").expect("date"),
        reference: Reference::parse("PAY-6b").expect("reference"),
        memo: "re-paid".into(),
        account: None,
    };
    let commands = vec![
        fundtrail::model::domain::Command::Reverse(reversal),
        fundtrail::model::domain::Command::Pay(payment),
    ];
    ledger.append(commands, &ctx()).expect("append");
    drop(side);
    ledger.close().expect("close");

    let check = |dir: &Path| {
        let ledger = Ledger::open(dir).expect("reopen");
        let side = ReadSide::open(ledger.view()).expect("catch up");
        let support = TotalsQuery {
            program: Some("support_allowance".into()),
            ..by(&[GroupKey::Month])
        };
        assert_eq!(
            rows_json(&side.totals(&support), &["month"]),
            json!([
                row(json!({"month": "2018-01"}), "800.00", 1, 1, 2),
                row(json!({"month": "2018-02"}), "800.00", 1, 1, 2),
                // PAY-6 reversed, PAY-6b paid: one payment, not two, not zero.
                row(json!({"month": "2019-01"}), "450.00", 1, 1, 1),
            ])
        );
        let rebuilt = ReadSide::rebuild(ledger.view()).expect("rebuild");
        assert_eq!(side.models(), rebuilt.models());
    };
    check(&dir);

    // The same after a save at the head, with the older snapshot put back: a stale
    // snapshot is never double-counted.
    {
        let ledger = Ledger::open(&dir).expect("reopen");
        let mut side = ReadSide::open(ledger.view()).expect("open");
        side.save(&ledger, true).expect("save at the head");
        ledger
            .put_metas(old_snapshot)
            .expect("restore the old snapshot");
    }
    check(&dir);
}

/// A snapshot claiming seq `seq` with a hash that is not the log's.
fn forged_snapshot(seq: u64, hash: [u8; 32]) -> Vec<u8> {
    let mut models = ReadModels::new();
    for s in 1..=seq {
        models.skip(s, hash).expect("dense seqs");
    }
    let (name, core) = snapshot_records(&models).pop().expect("a core");
    assert_eq!(name, SNAPSHOT_META);
    core
}

#[test]
fn a_tampered_snapshot_is_an_error_not_a_silent_skip() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_, ledger) = base_ledger(root.path());

    ledger
        .put_meta(SNAPSHOT_META, forged_snapshot(5, [0xAB; 32]))
        .expect("write the forged snapshot");
    match ReadSide::open(ledger.view()) {
        Err(ReadSideError::HashMismatch { seq, .. }) => assert_eq!(seq, 5),
        Err(other) => panic!("expected a hash mismatch, got {other}"),
        Ok(_) => panic!("a forged snapshot was accepted"),
    }

    let head = ledger.view().head();
    ledger
        .put_meta(
            SNAPSHOT_META,
            forged_snapshot(head.size + 1, head.hash.into_bytes()),
        )
        .expect("write a snapshot ahead of the log");
    assert!(matches!(
        ReadSide::open(ledger.view()),
        Err(ReadSideError::AheadOfLog { seq: 13, head: 12 })
    ));

    ledger
        .put_meta(SNAPSHOT_META, vec![SNAPSHOT_VERSION, 1, 2, 3])
        .expect("write garbage");
    assert!(matches!(
        ReadSide::open(ledger.view()),
        Err(ReadSideError::Snapshot(_))
    ));

    // A snapshot of a newer release is refused; one of an older release is replayed over.
    ledger
        .put_meta(SNAPSHOT_META, vec![SNAPSHOT_VERSION + 1])
        .expect("write a newer snapshot");
    assert!(matches!(
        ReadSide::open(ledger.view()),
        Err(ReadSideError::Snapshot(_))
    ));
    ledger
        .put_meta(SNAPSHOT_META, vec![SNAPSHOT_VERSION - 1, 1, 2, 3])
        .expect("write an older snapshot");
    assert_base_figures(ReadSide::open(ledger.view()).expect("replay").models());

    // A rebuild does not trust the snapshot, and saving it repairs the ledger.
    let mut rebuilt = ReadSide::rebuild(ledger.view()).expect("rebuild");
    rebuilt.save(&ledger, true).expect("save");
    assert_base_figures(ReadSide::open(ledger.view()).expect("open").models());
}

/// An event missing from the store between the snapshot and the head stops the catch-up.
#[test]
fn a_gap_in_the_log_is_an_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let (dir, ledger) = base_ledger(root.path());
    let mut side = ReadSide::rebuild(ledger.view()).expect("rebuild");
    side.save(&ledger, true).expect("save at 12");
    let snapshot = stored_records(ledger.view()).expect("the saved records");
    drop(side);
    ledger.close().expect("close");

    let mut ledger = Ledger::open(&dir).expect("reopen");
    append_more(&mut ledger, root.path());
    ledger.close().expect("close");
    {
        let db = insider::open_db(&dir);
        insider::remove_event(&db, BASE_EVENTS + 1);
        db.flush().expect("remove seq 13");
        insider::close_db(db, &dir);
    }
    let ledger = Ledger::open(&dir).expect("reopen");
    ledger.put_metas(snapshot).expect("keep the snapshot at 12");
    // The block the event was removed from no longer matches its seal: the catch-up stops
    // there, before the read models could see a gap.
    match ReadSide::open(ledger.view()) {
        Err(ReadSideError::Ledger(err)) => {
            assert!(err.to_string().contains("does not match its seal"), "{err}");
        }
        Err(other) => panic!("expected the sealed block's refusal, got {other}"),
        Ok(_) => panic!("a gap in the log was skipped"),
    }
}

#[test]
fn rebuild_equals_state_maintained_across_many_saves() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("ledger");
    let mut ledger = Ledger::init(&dir).expect("init");
    let steps = [
        ("households.csv", HOUSEHOLDS_CSV, ImportKind::Households),
        ("events.csv", EVENTS_CSV, ImportKind::Events),
        ("more.csv", MORE_EVENTS_CSV, ImportKind::Events),
    ];
    for (name, text, kind) in steps {
        import(&mut ledger, root.path(), name, text, kind);
        let mut side = ReadSide::open(ledger.view()).expect("open");
        side.save(&ledger, true).expect("save");
        let rebuilt = ReadSide::rebuild(ledger.view()).expect("rebuild");
        assert_eq!(side.models(), rebuilt.models(), "after {name}");
    }
}

// ---------------------------------------------------------------------------------------
// The binary: output contract and errors

#[test]
fn totals_json_has_the_contracted_shape() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = cli_ledger(root.path());
    assert_eq!(
        run_json(&dir, &["totals", "--by", "program"]),
        expected_by_program()
    );
    assert_eq!(
        run_json(&dir, &["totals", "--by", "year,month"]),
        json!([
            row(json!({"year": 2018, "month": "2018-01"}), "800.00", 1, 1, 2),
            row(
                json!({"year": 2018, "month": "2018-02"}),
                "1400.00",
                3,
                2,
                4
            ),
            row(json!({"year": 2019, "month": "2019-01"}), "400.00", 1, 1, 1),
        ])
    );
    assert_eq!(
        run_json(
            &dir,
            &["totals", "--by", "subdistrict", "--month", "2018-02"]
        ),
        json!([
            row(json!({"subdistrict": "拓东"}), "1100.00", 2, 1, 3),
            row(json!({"subdistrict": "鼓楼"}), "300.00", 1, 1, 1),
        ])
    );
    assert_eq!(
        run_json(
            &dir,
            &[
                "totals",
                "--by",
                "community,program",
                "--year",
                "2018",
                "--subdistrict",
                "拓东",
                "--program",
                "support_allowance",
            ]
        ),
        json!([row(
            json!({"community": "A社区", "program": "support_allowance"}),
            "1600.00",
            2,
            1,
            4
        )])
    );
    assert_eq!(
        run_json(&dir, &["totals"]),
        json!([row(json!({}), "2600.00", 5, 2, 7)])
    );
}

#[test]
fn totals_table_in_chinese_and_english() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = cli_ledger(root.path());
    let zh = run_ok(&dir, &["totals", "--by", "subdistrict,program"]);
    assert_aligned(&zh, 4);
    let header: Vec<&str> = zh.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        [
            "街道",
            "项目",
            "金额(元)",
            "笔数",
            "户数",
            "人次",
            "追缴(元)"
        ]
    );
    let lines: Vec<Vec<&str>> = zh.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        lines[1],
        ["拓东", "节日慰问金", "300.00", "1", "1", "1", "0.00"]
    );
    assert_eq!(
        lines[2],
        ["拓东", "扶助金", "1600.00", "2", "1", "4", "0.00"]
    );
    assert_eq!(
        lines[3],
        ["鼓楼", "节日慰问金", "300.00", "1", "1", "1", "0.00"]
    );
    assert_eq!(
        lines[4],
        ["鼓楼", "扶助金", "400.00", "1", "1", "1", "0.00"]
    );

    let en = run_ok(&dir, &["totals", "--by", "program", "--lang", "en"]);
    assert_aligned(&en, 2);
    let lines: Vec<&str> = en.lines().collect();
    assert!(lines[0].starts_with("program"), "{en}");
    assert!(lines[0].ends_with("persons  recovered"), "{en}");
    assert!(lines[1].starts_with("Holiday condolence"), "{en}");
    assert!(lines[1].ends_with("2       0.00"), "{en}");
    assert!(lines[2].starts_with("Support allowance"), "{en}");

    let none = run_ok(&dir, &["totals", "--year", "2017", "--lang", "en"]);
    assert_eq!(none, "(no rows)\n");
}

#[test]
fn totals_csv_has_a_bom_and_parses() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = cli_ledger(root.path());
    let rows = parse_csv(&run_ok(&dir, &["totals", "--by", "program,year", "--csv"]));
    assert_eq!(
        rows,
        [
            ["项目", "年", "金额(元)", "笔数", "户数", "人次", "追缴(元)"],
            ["节日慰问金", "2018", "600.00", "2", "2", "2", "0.00"],
            ["扶助金", "2018", "1600.00", "2", "1", "4", "0.00"],
            ["扶助金", "2019", "400.00", "1", "1", "1", "0.00"],
        ]
    );
    let en = parse_csv(&run_ok(
        &dir,
        &["totals", "--by", "month", "--csv", "--lang", "en"],
    ));
    assert_eq!(
        en[0],
        [
            "month",
            "amount",
            "payments",
            "households",
            "persons",
            "recovered"
        ]
    );
    assert_eq!(en[1], ["2018-01", "800.00", "1", "1", "2", "0.00"]);
    assert_eq!(en.len(), 4);
}

#[test]
fn funds_in_every_output_mode() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = cli_ledger(root.path());
    assert_eq!(
        run_json(&dir, &["funds"]),
        json!([
            {"program": "holiday_condolence", "allocated": "3000.00", "disbursed": "600.00", "recovered": "0.00", "remaining": "2400.00"},
            {"program": "support_allowance", "allocated": "10000.00", "disbursed": "2000.00", "recovered": "0.00", "remaining": "8000.00"},
        ])
    );
    let zh = run_ok(&dir, &["funds"]);
    assert_aligned(&zh, 2);
    assert!(
        zh.lines().nth(2).unwrap_or("").starts_with("扶助金"),
        "{zh}"
    );
    let en = run_ok(&dir, &["funds", "--lang", "en"]);
    assert_aligned(&en, 2);
    assert!(en.starts_with("program"), "{en}");
    assert!(en.contains("Support allowance"), "{en}");
    let csv = parse_csv(&run_ok(&dir, &["funds", "--csv", "--lang", "en"]));
    assert_eq!(
        csv,
        [
            [
                "program",
                "allocated",
                "disbursed",
                "recovered",
                "remaining"
            ],
            ["Holiday condolence", "3000.00", "600.00", "0.00", "2400.00"],
            [
                "Support allowance",
                "10000.00",
                "2000.00",
                "0.00",
                "8000.00"
            ],
        ]
    );
}

#[test]
fn household_balances_and_trail_in_every_output_mode() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = cli_ledger(root.path());
    let h1 = run_json(&dir, &["household", "H1"]);
    assert_eq!(h1["household_id"], "H1");
    assert_eq!(
        h1["balances"],
        json!([
            {"program": "holiday_condolence", "amount": "300.00", "payments": 1, "persons": 1},
            {"program": "support_allowance", "amount": "1600.00", "payments": 2, "persons": 4},
        ])
    );
    assert_eq!(h1["total"], "1900.00");
    assert_eq!(h1["receivables"], json!([]), "no decision set any");
    let trail: Vec<(u64, &str)> = h1["trail"]
        .as_array()
        .expect("trail is an array")
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap_or(0),
                e["type"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            (1, "enrolled"),
            (6, "disbursement"),
            (8, "disbursement"),
            (10, "condolence_payment")
        ]
    );

    // H2's payment and its reversal, linked both ways; nothing live.
    let h2 = run_json(&dir, &["household", "H2"]);
    assert_eq!(h2["balances"], json!([]));
    assert_eq!(h2["total"], "0.00");
    let trail = h2["trail"].as_array().expect("trail");
    assert_eq!(trail.len(), 3);
    assert_eq!(trail[1]["seq"], 7);
    assert_eq!(trail[1]["reversed_by"], 11);
    assert_eq!(trail[2]["type"], "reversal");
    assert_eq!(trail[2]["reverses"], 7);
    assert_eq!(trail[2]["date"], "2018-03-01");
    assert_eq!(trail[2]["target_date"], "2018-01-15");

    let zh = run_ok(&dir, &["household", "H1"]);
    assert!(zh.starts_with("H1 拓东 A社区"), "{zh}");
    assert!(zh.contains("扶助金") && zh.contains("合计"), "{zh}");
    assert!(zh.contains("PAY-3"), "the trail lists references: {zh}");
    let en = run_ok(&dir, &["household", "H2", "--lang", "en"]);
    assert!(en.contains("[reversed by #11]"), "{en}");
    assert!(en.contains("[reverses #7]"), "{en}");
    assert!(en.contains("total"), "{en}");

    let csv = parse_csv(&run_ok(&dir, &["household", "H1", "--csv"]));
    assert_eq!(
        csv,
        [
            ["项目", "金额(元)", "笔数", "人次"],
            ["节日慰问金", "300.00", "1", "1"],
            ["扶助金", "1600.00", "2", "4"],
            ["合计", "1900.00", "3", "5"],
        ]
    );
}

#[test]
fn bad_requests_exit_2() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = cli_ledger(root.path());
    let err = run_fails(&dir, &["household", "H9"], 2);
    assert!(err.contains("H9"), "{err}");
    run_fails(&dir, &["household", "not an id"], 2);
    for month in ["2018-13", "2018-1", "201802", "2018-00"] {
        let err = run_fails(&dir, &["totals", "--month", month], 2);
        assert!(err.contains("YYYY-MM"), "{month}: {err}");
    }
    let err = run_fails(&dir, &["totals", "--program", "lottery"], 2);
    assert!(err.contains("lottery"), "{err}");
    let err = run_fails(&dir, &["totals", "--by", "program,district"], 2);
    assert!(err.contains("district"), "{err}");
    let err = run_fails(&dir, &["totals", "--by", "program,year,program"], 2);
    assert!(err.contains("--by: names program twice"), "{err}");
    run_fails(&dir, &["totals", "--csv", "--json"], 2);
}

#[test]
fn crash_window_and_tampering_through_the_binary() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = cli_ledger(root.path());

    // Events appended by the library without a snapshot save: the binary catches up.
    {
        let mut ledger = Ledger::open(&dir).expect("open");
        append_more(&mut ledger, root.path());
    }
    assert_eq!(
        run_json(&dir, &["totals", "--by", "program"]),
        json!([
            row(json!({"program": "holiday_condolence"}), "900.00", 3, 3, 3),
            row(json!({"program": "support_allowance"}), "2600.00", 4, 3, 8),
        ])
    );
    run_ok(&dir, &["verify"]);

    // A snapshot whose hash is not the log's: reads and verify fail with 1, rebuild heals.
    {
        let ledger = Ledger::open(&dir).expect("open");
        ledger
            .put_meta(SNAPSHOT_META, forged_snapshot(BASE_EVENTS, [0xCD; 32]))
            .expect("forge");
    }
    let err = run_fails(&dir, &["totals"], 1);
    assert!(err.contains("rebuild"), "{err}");
    run_fails(&dir, &["verify"], 1);
    let rebuilt = run_json(&dir, &["rebuild"]);
    assert_eq!(rebuilt["rebuilt_through"], BASE_EVENTS + 2);
    let verified = run_json(&dir, &["verify"]);
    assert_eq!(verified["read_models"], "ok");
}

// ---------------------------------------------------------------------------------------
// Long catch-ups: across many event blocks

/// Payments `rows` of 0.01, alternating H1 and H3, with every 100th reversed at once
/// (a reversal's mapping reads its target's date from the store).
fn many_events_csv(rows: std::ops::Range<usize>) -> String {
    let mut csv = String::from("date,type,household_id,program,amount,persons,reference,memo\n");
    for i in rows {
        let household = ["H1", "H3"][i % 2];
        csv.push_str(&format!(
            "2019-03-{:02},disbursement,{household},support_allowance,0.01,1,MANY-{i},\n",
            1 + i % 28
        ));
        if i % 100 == 0 {
            csv.push_str(&format!(
                "2019-04-01,reversal,{household},support_allowance,0.01,,MANY-{i},test\n"
            ));
        }
    }
    csv
}

/// A rebuild of 6,000-odd events (about a hundred event blocks) equals the same events
/// applied in two catch-ups that each start where a block starts, byte for byte. The last
/// event reverses PAY-6 (seq 12, January 2019), 6,000 events back: a replay remembers only
/// recent payments' dates (seq 12's slot now holds a March payment's), so it reads that
/// one from the store, and the payment leaves January, not March.
#[test]
fn a_long_catch_up_equals_short_ones() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_, mut ledger) = base_ledger(root.path());
    let mut stepwise = ReadSide::rebuild(ledger.view()).expect("rebuild the base");
    for (name, rows) in [("first.csv", 0..3_000), ("second.csv", 3_000..6_000)] {
        import(
            &mut ledger,
            root.path(),
            name,
            &many_events_csv(rows),
            ImportKind::Events,
        );
        stepwise.catch_up(ledger.view()).expect("a short catch-up");
    }
    // A reference of 25 Chinese characters (75 bytes) is too long to travel inline
    // between a long catch-up's threads; it goes as an ordinary fact.
    let long_reference = "银行流水号".repeat(5);
    let far = format!(
        "date,type,household_id,program,amount,persons,reference,memo\n\
         2019-05-01,reversal,H3,support_allowance,400.00,,PAY-6,far back\n\
         2019-06-01,disbursement,H1,support_allowance,7.00,2,{long_reference},\n"
    );
    import(
        &mut ledger,
        root.path(),
        "far.csv",
        &far,
        ImportKind::Events,
    );
    stepwise
        .catch_up(ledger.view())
        .expect("a two-event catch-up");
    assert_eq!(ledger.view().head().size, BASE_EVENTS + 6_000 + 60 + 2);

    let rebuilt = ReadSide::rebuild(ledger.view()).expect("rebuild");
    let (rebuilt_bytes, stepwise_bytes) = (
        rebuilt.snapshot(true).expect("a snapshot"),
        stepwise.snapshot(true).expect("a snapshot"),
    );
    // The cores: each binds every record's digest (a snapshot lists only the records
    // its own side has not stored yet, and the two sides stored different ones).
    let core = |records: Option<&[(String, Vec<u8>)]>| records.and_then(|r| r.last()).cloned();
    assert_eq!(
        core(rebuilt_bytes.models_records()),
        core(stepwise_bytes.models_records())
    );
    assert!(core(rebuilt_bytes.models_records()).is_some_and(|(name, _)| name == SNAPSHOT_META));
    assert_eq!(
        rebuilt_bytes.findings_bytes(),
        stepwise_bytes.findings_bytes()
    );
    let all = TotalsQuery::default();
    assert_eq!(rebuilt.totals(&all), stepwise.totals(&all));
    let month = |month| {
        let query = TotalsQuery {
            month: Some(YearMonth { year: 2019, month }),
            ..TotalsQuery::default()
        };
        let rows = rebuilt.totals(&query);
        rows.first()
            .map_or((0, 0), |row| (row.payments, row.net_fen))
    };
    assert_eq!(month(1), (0, 0), "PAY-6 leaves January 2019");
    assert_eq!(month(3), (6_000 - 60, 6_000 - 60));
    assert_eq!(month(6), (1, 700));
}

/// The base ledger plus 5,000 payments (a long catch-up), edited by `edit` as an insider
/// would, and rebuilt.
fn rebuild_edited_long_ledger(edit: impl FnOnce(&sled::Db)) -> Result<ReadSide, ReadSideError> {
    let root = tempfile::tempdir().expect("tempdir");
    let (dir, mut ledger) = base_ledger(root.path());
    import(
        &mut ledger,
        root.path(),
        "many.csv",
        &many_events_csv(0..5_000),
        ImportKind::Events,
    );
    ledger.close().expect("close");
    {
        let db = insider::open_db(&dir);
        edit(&db);
        db.flush().expect("flush the edit");
        insider::close_db(db, &dir);
    }
    let ledger = Ledger::open(&dir).expect("reopen");
    ReadSide::rebuild(ledger.view())
}

/// A record that does not decode, deep in a long catch-up, stops it with the seq named.
#[test]
fn a_damaged_record_in_a_long_catch_up_is_an_error() {
    let rebuilt = rebuild_edited_long_ledger(|db| {
        let (hash, record) = insider::read_event(db, 4_500);
        insider::write_event(db, 4_500, &hash, &record[..record.len() - 3]);
    });
    // Its block (from seq 4493) no longer matches its seal.
    match rebuilt {
        Err(ReadSideError::Ledger(err)) => {
            assert!(
                err.to_string()
                    .contains("block at seq 4493 does not match its seal"),
                "{err}"
            );
        }
        Err(other) => panic!("expected the damaged record, got {other}"),
        Ok(_) => panic!("a damaged record was skipped"),
    }
}

/// A gap deep in a long catch-up stops it with the gap, as a short one does.
#[test]
fn a_gap_in_a_long_catch_up_is_an_error() {
    match rebuild_edited_long_ledger(|db| insider::remove_event(db, 4_500)) {
        Err(ReadSideError::Ledger(err)) => {
            assert!(
                err.to_string()
                    .contains("block at seq 4493 does not match its seal"),
                "{err}"
            );
        }
        Err(other) => panic!("expected the sealed block's refusal, got {other}"),
        Ok(_) => panic!("a gap in the log was skipped"),
    }
}

// ---------------------------------------------------------------------------------------
// Queries that read only their records (FORMAT.md §3.4)

/// What `household`, `totals` and `funds` read from the snapshot's records equals the
/// whole state's answer, at the head (the records) and behind it (the whole state caught
/// up in memory); neither read writes anything.
#[test]
fn record_reads_equal_the_whole_state_at_and_behind_the_head() {
    use fundtrail::ledger::readmodels::{read_funds, read_household, read_totals};
    let root = tempfile::tempdir().expect("tempdir");
    let (_, mut ledger) = base_ledger(root.path());
    let mut side = ReadSide::open(ledger.view()).expect("open");
    side.save(&ledger, true).expect("save at the head");
    let queries = [
        by(&[]),
        by(&[GroupKey::Subdistrict, GroupKey::Program]),
        by(&[GroupKey::Community, GroupKey::Month]),
        by(&[GroupKey::Year]),
        TotalsQuery {
            year: Some(2019),
            ..by(&[GroupKey::Program])
        },
        TotalsQuery {
            month: Some(YearMonth {
                year: 2018,
                month: 1,
            }),
            ..by(&[GroupKey::Community])
        },
        TotalsQuery {
            year: Some(2017),
            ..by(&[GroupKey::Month])
        },
    ];
    for step in 0..3 {
        let behind = step > 0;
        if step == 1 {
            append_more(&mut ledger, root.path());
        }
        if step == 2 {
            // After the snapshot: an enrollment, its payment, and a reversal of a payment
            // also made after it.
            import(
                &mut ledger,
                root.path(),
                "h4.csv",
                "household_id,subdistrict,community,category,members,enrolled_on\n\
                 H4,鼓楼,D社区,disabled,1,2019-01-01\n",
                ImportKind::Households,
            );
            import(
                &mut ledger,
                root.path(),
                "late.csv",
                "date,type,household_id,program,amount,persons,reference,memo\n\
                 2019-03-15,disbursement,H4,support_allowance,500.00,1,PAY-9,\n\
                 2019-03-20,reversal,H2,support_allowance,600.00,,PAY-7,wrong account\n",
                ImportKind::Events,
            );
        }
        let view = ledger.view();
        let saved = stored_records(view).expect("records");
        let whole = ReadSide::open(view).expect("the whole state");
        for id in ["H1", "H2", "H3", "H4", "H9"] {
            assert_eq!(
                read_household(view, id).expect("household"),
                whole.models().household(id),
                "{id}, behind: {behind}"
            );
        }
        for query in &queries {
            assert_eq!(
                read_totals(view, query).expect("totals"),
                whole.totals(query),
                "{query:?}, behind: {behind}"
            );
        }
        assert_eq!(read_funds(view).expect("funds"), whole.models().funds());
        assert_eq!(
            stored_records(view).expect("records"),
            saved,
            "a read wrote"
        );
    }
}

/// A snapshot of an older version (one record of the whole state) is ignored: the reads
/// replay the log without writing, and the next save writes the records of this version.
#[test]
fn an_old_single_record_snapshot_is_rebuilt_in_this_layout() {
    use fundtrail::ledger::readmodels::read_totals;
    let root = tempfile::tempdir().expect("tempdir");
    let (_, ledger) = base_ledger(root.path());
    let old = vec![SNAPSHOT_VERSION - 1, 0xde, 0xad];
    ledger
        .put_meta(SNAPSHOT_META, old.clone())
        .expect("an old snapshot");
    assert_eq!(
        rows_json(
            &read_totals(ledger.view(), &by(&[GroupKey::Program])).expect("totals"),
            &["program"]
        ),
        expected_by_program()
    );
    let stored = stored_records(ledger.view()).expect("records");
    assert_eq!(
        stored,
        vec![(SNAPSHOT_META.to_owned(), old)],
        "the read wrote"
    );

    let mut side = ReadSide::open(ledger.view()).expect("replayed");
    side.save(&ledger, true).expect("save");
    let stored = stored_records(ledger.view()).expect("records");
    // 256 shards, the all-time and two years' cube records, then the core.
    assert_eq!(stored.len(), 256 + 3 + 1);
    let (name, core) = stored.last().expect("a core");
    assert_eq!((name.as_str(), core[0]), (SNAPSHOT_META, SNAPSHOT_VERSION));
    assert_base_figures(ReadSide::open(ledger.view()).expect("open").models());
}

/// A snapshot after appends to one household lists only the records that changed (its
/// shard, the cube's records of the payment's year and of all time) and the core, and
/// written, it reads back equal to a rebuild: the unchanged shards are neither held nor
/// rewritten.
#[test]
fn a_snapshot_lists_only_the_records_that_changed_since_the_last() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_, mut ledger) = base_ledger(root.path());
    let mut side = ReadSide::rebuild(ledger.view()).expect("rebuild the base");
    assert!(side.save(&ledger, true).expect("the first save"));
    assert!(
        side.snapshot(true).is_none(),
        "nothing is behind after a save"
    );
    let names = |s: &fundtrail::ledger::readmodels::Snapshot| -> Vec<String> {
        let records = s.models_records().expect("the models' records");
        records.iter().map(|(n, _)| n.clone()).collect()
    };

    import(
        &mut ledger,
        root.path(),
        "one.csv",
        "date,type,household_id,program,amount,persons,reference,memo\n\
         2019-07-01,disbursement,H1,support_allowance,3.00,1,ONE-MORE,\n",
        ImportKind::Events,
    );
    side.catch_up(ledger.view()).expect("catch up one event");
    let next = side.snapshot(true).expect("a snapshot");
    let listed = names(&next);
    assert_eq!(listed.last().map(String::as_str), Some(SNAPSHOT_META));
    let shards = listed.iter().filter(|n| n.contains(".households.")).count();
    assert_eq!(shards, 1, "{listed:?}");
    assert!(listed.len() < 6, "{listed:?}");

    let at = ReadSide::write_snapshot(&ledger.meta_writer(), next).expect("write");
    side.saved(at);
    let rebuilt = ReadSide::rebuild(ledger.view()).expect("rebuild");
    assert_eq!(
        stored_records(ledger.view()).expect("stored"),
        snapshot_records(rebuilt.models())
    );
}

/// The household-shard records a snapshot lists, by name.
/// The read models' snapshot as the server's thread takes it when one is due (forced), or
/// `None` when nothing is due.
fn models_copy(
    side: &ReadSide,
    ledger: &Ledger,
) -> Option<fundtrail::ledger::readmodels::Snapshot> {
    use fundtrail::ledger::readmodels::{Part, SnapshotPolicy};
    side.copy_due(
        Part::Models,
        SnapshotPolicy::default(),
        true,
        &ledger.meta_writer(),
    )
    .expect("copied")
    .map(|copy| copy.encode())
}

fn listed_shards(snapshot: &fundtrail::ledger::readmodels::Snapshot) -> Vec<String> {
    let records = snapshot.models_records().expect("the models' records");
    records
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| name.contains(".households."))
        .collect()
}

/// A payment of `fen` fen to `household`, as an events file.
fn payment_csv(household: &str, fen: u64, reference: &str) -> String {
    format!(
        "date,type,household_id,program,amount,persons,reference,memo\n\
         2019-07-01,disbursement,{household},support_allowance,{}.{:02},1,{reference},\n",
        fen / 100,
        fen % 100
    )
}

/// A snapshot that was made and never written (a failed write) leaves its shards due: the
/// next snapshot lists them beside the ones changed since, and written, the stored records
/// are a rebuild's.
#[test]
fn a_snapshot_not_written_leaves_its_shards_to_the_next() {
    use fundtrail::ledger::readmodels::shard_record;
    use fundtrail_projections::household_shard;
    let root = tempfile::tempdir().expect("tempdir");
    let (_, mut ledger) = base_ledger(root.path());
    let mut side = ReadSide::rebuild(ledger.view()).expect("rebuild the base");
    assert!(side.save(&ledger, true).expect("the first save"));

    let csv = payment_csv("H1", 300, "LOST-1");
    import(&mut ledger, root.path(), "h1.csv", &csv, ImportKind::Events);
    side.catch_up(ledger.view()).expect("catch up");
    let lost = models_copy(&side, &ledger).expect("a copy");
    assert_eq!(
        listed_shards(&lost),
        vec![shard_record(household_shard("H1"))]
    );
    drop(lost);

    // Several events after the lost snapshot: its shard is due by the saved snapshot's
    // seq, not by how recently it changed.
    for n in 0..4 {
        let csv = payment_csv("H3", 400 + n, &format!("AFTER-{n}"));
        import(&mut ledger, root.path(), "h3.csv", &csv, ImportKind::Events);
    }
    side.catch_up(ledger.view()).expect("catch up");
    let next = side.snapshot(true).expect("a snapshot");
    let mut expected: Vec<String> = ["H1", "H3"]
        .iter()
        .map(|h| shard_record(household_shard(h)))
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(listed_shards(&next), expected);

    let at = ReadSide::write_snapshot(&ledger.meta_writer(), next).expect("write");
    side.saved(at);
    let rebuilt = ReadSide::rebuild(ledger.view()).expect("rebuild");
    assert_eq!(
        stored_records(ledger.view()).expect("stored"),
        snapshot_records(rebuilt.models())
    );
    assert!(side.snapshot(true).is_none(), "nothing is behind");
}

/// One step of a random history after the base ledger.
#[derive(Clone, Debug)]
enum SnapStep {
    /// A payment to the n-th household known (modulo their count).
    Pay(usize),
    /// A new household enrolled.
    Enroll,
    /// The snapshot written and recorded as saved.
    Save,
    /// A snapshot made and never written, as a failed write leaves it.
    Fail,
    /// The read side opened afresh from the snapshot on disk.
    Reopen,
}

fn snap_step() -> impl proptest::strategy::Strategy<Value = SnapStep> {
    use proptest::prelude::*;
    prop_oneof![
        5 => (0usize..64).prop_map(SnapStep::Pay),
        1 => Just(SnapStep::Enroll),
        2 => Just(SnapStep::Save),
        1 => Just(SnapStep::Fail),
        1 => Just(SnapStep::Reopen),
    ]
}

/// Applies `steps` to the base ledger in `root`, checking after each that the snapshot of
/// the changed shards only, made either way (in place or from a copy), lists the same
/// records (the core, and so the directory, included) as one encoding every shard.
fn check_changed_only_snapshots(root: &Path, steps: &[SnapStep]) {
    let (_, mut ledger) = base_ledger(root);
    let mut side = ReadSide::rebuild(ledger.view()).expect("rebuild the base");
    let mut households: Vec<String> = ["H1", "H2", "H3"].map(String::from).to_vec();
    for (n, step) in steps.iter().enumerate() {
        match step {
            SnapStep::Pay(i) => {
                let csv = payment_csv(
                    &households[i % households.len()],
                    100 + n as u64,
                    &format!("P-{n}"),
                );
                import(&mut ledger, root, "pay.csv", &csv, ImportKind::Events);
            }
            SnapStep::Enroll => {
                let id = format!("N{n}");
                let csv = format!(
                    "household_id,subdistrict,community,category,members,enrolled_on\n\
                     {id},鼓楼,C社区,bereaved,1,2018-01-01\n"
                );
                import(
                    &mut ledger,
                    root,
                    "enroll.csv",
                    &csv,
                    ImportKind::Households,
                );
                households.push(id);
            }
            SnapStep::Save => {
                // The save packs its records as it encodes them: stored, they are what a
                // whole encode of the same models lists, byte for byte.
                let whole = snapshot_records(side.models());
                side.save(&ledger, true).expect("save");
                let stored = stored_records(ledger.view()).expect("stored");
                assert_eq!(stored, whole, "step {n}: the saved records");
            }
            SnapStep::Reopen => {
                side = ReadSide::open(ledger.view()).expect("reopen");
            }
            SnapStep::Fail => {
                drop(models_copy(&side, &ledger));
            }
        }
        side.catch_up(ledger.view()).expect("catch up");
        let records = |s: Option<fundtrail::ledger::readmodels::Snapshot>| {
            s.and_then(|s| s.models_records().map(<[_]>::to_vec))
        };
        let whole = records(side.snapshot_whole(true));
        assert_eq!(records(side.snapshot(true)), whole, "step {n}: {step:?}");
        let copied = models_copy(&side, &ledger);
        assert_eq!(records(copied), whole, "step {n}: {step:?}, copied");
    }
    side.save(&ledger, true).expect("the last save");
    let rebuilt = ReadSide::rebuild(ledger.view()).expect("rebuild");
    assert_eq!(
        stored_records(ledger.view()).expect("stored"),
        snapshot_records(rebuilt.models())
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8))]

    /// After random appends, enrollments, saves, failed saves and reopenings, the
    /// snapshot of the changed shards only is the whole encoding's, byte for byte.
    #[test]
    fn a_changed_only_snapshot_equals_the_whole_encoding(
        steps in proptest::collection::vec(snap_step(), 1..24)
    ) {
        let root = tempfile::tempdir().expect("tempdir");
        check_changed_only_snapshots(root.path(), &steps);
    }
}
