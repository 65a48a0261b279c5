//! Imports are atomic (one bad row among thousands leaves the ledger byte-for-byte
//! unchanged), idempotent (re-running appends nothing), report every rejection up to the
//! cap, and files larger than one group commit take the streamed, chunked path correctly.

use std::path::Path;

use crate::support::*;
use fundtrail::ledger::import::{CsvFile, ImportKind};
use fundtrail::ledger::{LedgerError, GROUP_COMMIT_EVENTS, MAX_REPORTED_REJECTIONS};
use fundtrail::model::domain::Seq;

/// The line of payment row `i` of a file written by `write_csv` (the header is line 1).
fn line_of(i: usize) -> u64 {
    i as u64 + 2
}

#[test]
fn one_bad_row_among_thousands_leaves_the_ledger_unchanged() {
    let t = TempLedger::standard();
    let mut rows = payment_rows("BATCH", 5_000);
    let bad = 4_990;
    rows[bad] = rows[bad].replace(",0.01,", ",0.011,");
    let path = t.write_csv("batch.csv", ImportKind::Events, &rows);
    let before = t.dump();
    let run = t.import("events", &path);
    run.assert_code(2);
    let prefix = format!("error: {}:{}: amount: ", path.display(), line_of(bad));
    assert!(run.stderr.starts_with(&prefix), "{run:#?}");
    assert!(run
        .stderr
        .contains("1 row(s) rejected; the ledger is unchanged"));
    assert_eq!(t.dump(), before);

    // The same file without the bad row goes in whole.
    rows[bad] = rows[bad].replace(",0.011,", ",0.01,");
    let path = t.write_csv("batch.csv", ImportKind::Events, &rows);
    t.import("events", &path).assert_ok();
    assert_eq!(t.open().view().head().size, STANDARD_SIZE + 5_000);
}

/// A file of more than [`GROUP_COMMIT_EVENTS`] rows, whose last row reverses a payment
/// made in its first chunk.
fn large_file(t: &TempLedger) -> (Vec<String>, std::path::PathBuf) {
    let mut rows = payment_rows("BIG", GROUP_COMMIT_EVENTS + 50);
    rows.push("2015-03-02,reversal,PL-0002,support_allowance,0.01,1,BIG-3,重复".to_string());
    let path = t.write_csv("large.csv", ImportKind::Events, &rows);
    (rows, path)
}

#[test]
fn a_file_above_one_group_commit_imports_whole_and_once() {
    let t = TempLedger::standard();
    let (rows, path) = large_file(&t);
    let n = rows.len() as u64;
    let run = t.import("events", &path);
    run.assert_ok();
    assert!(
        run.stdout
            .contains(&format!("appended {n} event(s), 0 already present")),
        "{run:#?}"
    );
    {
        let ledger = t.open();
        assert_eq!(ledger.view().head().size, STANDARD_SIZE + n);
        let report = ledger.view().verify(|_| {}).expect("verify runs");
        assert_eq!(report.fault, None);
        assert_eq!(report.checked, STANDARD_SIZE + n);
        // Rows keep their order across the chunk boundary.
        for i in [
            0,
            GROUP_COMMIT_EVENTS - 1,
            GROUP_COMMIT_EVENTS,
            GROUP_COMMIT_EVENTS + 49,
        ] {
            let expected = Seq::new(STANDARD_SIZE + 1 + i as u64);
            assert_eq!(lookup(&ledger, &format!("BIG-{i}")), Some(expected));
        }
        assert_eq!(
            lookup(&ledger, "reversal:BIG-3"),
            Some(Seq::new(STANDARD_SIZE + n))
        );
        // 100.00 (BANK-1) + the payments - the reversed one, in fen.
        let budget = ledger.budgets()["support_allowance"];
        assert_eq!(
            budget.disbursed_fen,
            10_000 + GROUP_COMMIT_EVENTS as i64 + 50 - 1
        );
    }

    // Re-running the same import appends nothing and says so.
    t.assert_reimport_is_no_op("events", &path, rows.len());
}

#[test]
fn a_bad_row_beyond_one_group_commit_leaves_the_ledger_unchanged() {
    let t = TempLedger::standard();
    let mut rows = payment_rows("BIG", GROUP_COMMIT_EVENTS + 50);
    // Planned after the first chunk was handed to the writing thread, which writes it
    // beyond the head: the import removes it before it reports the row.
    let bad = GROUP_COMMIT_EVENTS + 40;
    rows[bad] = rows[bad].replace("PL-0001", "PL-9999");
    let path = t.write_csv("large.csv", ImportKind::Events, &rows);
    // sled's file keeps the room the removed chunk took (sled reuses it): every other
    // field of `status` is the same.
    let status = || {
        let run = t.run(&["--json", "status"]);
        run.assert_ok();
        let mut json = run.json();
        json.as_object_mut()
            .expect("status is an object")
            .remove("size_on_disk");
        json
    };
    let (before, status_before) = (t.dump(), status());
    let run = t.import("events", &path);
    run.assert_code(2);
    let prefix = format!("error: {}:{}: household_id: ", path.display(), line_of(bad));
    assert!(run.stderr.starts_with(&prefix), "{run:#?}");
    assert_eq!(t.dump(), before);
    assert_eq!(
        status(),
        status_before,
        "the same head, checkpoint and state"
    );
    t.run(&["verify"]).assert_ok();
}

#[test]
fn a_partly_known_file_appends_only_the_new_rows() {
    let t = TempLedger::standard();
    let first = payment_rows("PART", 300);
    t.append_csv(ImportKind::Events, &first[..200]);
    let path = t.write_csv("all.csv", ImportKind::Events, &first);
    let run = t.import("events", &path);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("appended 100 event(s), 200 already present"),
        "{run:#?}"
    );
    let ledger = t.open();
    assert_eq!(ledger.view().head().size, STANDARD_SIZE + 300);
    assert_eq!(lookup(&ledger, "PART-0"), Some(Seq::new(STANDARD_SIZE + 1)));
    assert_eq!(
        lookup(&ledger, "PART-299"),
        Some(Seq::new(STANDARD_SIZE + 300))
    );
}

#[test]
fn rejections_are_reported_up_to_the_cap_with_the_total() {
    let t = TempLedger::standard();
    let total = MAX_REPORTED_REJECTIONS + 50;
    let mut rows = payment_rows("CAP", total * 2);
    for row in rows.iter_mut().skip(1).step_by(2) {
        *row = row.replace("support_allowance", "lottery");
    }
    let path = t.write_csv("cap.csv", ImportKind::Events, &rows);
    let before = t.dump();

    let run = t.import("events", &path);
    run.assert_code(2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), MAX_REPORTED_REJECTIONS + 2, "{run:#?}");
    let name = path.display().to_string();
    for (k, line) in lines[..MAX_REPORTED_REJECTIONS].iter().enumerate() {
        let line = line.strip_prefix("error: ").unwrap_or(line);
        let expected = format!("{name}:{}: program: ", line_of(2 * k + 1));
        assert!(line.starts_with(&expected), "{line:?} vs {expected:?}");
    }
    assert_eq!(lines[MAX_REPORTED_REJECTIONS], "... and 50 more");
    assert_eq!(
        lines[MAX_REPORTED_REJECTIONS + 1],
        format!("{total} row(s) rejected; the ledger is unchanged")
    );

    let run = t.run(&["--json", "import", "events", &name]);
    run.assert_code(2);
    let json = run.json();
    assert_eq!(json["total"], total);
    let reported = json["rejections"].as_array().expect("an array");
    assert_eq!(reported.len(), MAX_REPORTED_REJECTIONS);
    assert_eq!(reported[0]["line"], 3);
    assert_eq!(t.dump(), before);
}

#[test]
fn the_sample_files_import_once() {
    let t = TempLedger::new();
    let root = env!("CARGO_MANIFEST_DIR");
    let households = format!("{root}/examples/sample/households.csv");
    let events = format!("{root}/examples/sample/events.csv");
    t.run(&["import", "households", &households]).assert_ok();
    t.run(&["import", "events", &events]).assert_ok();
    let report = t.verify();
    assert_eq!(report.fault, None);
    assert_eq!(report.checked, 13);

    t.assert_reimport_is_no_op("households", Path::new(&households), 3);
    t.assert_reimport_is_no_op("events", Path::new(&events), 10);

    // The README's allowance tour on the same files: March 2015 was paid to PL-0001 by
    // the bank (after a reversal), so the run pays only PL-0002.
    let rates = format!("{root}/examples/sample/rates.csv");
    t.run(&["import", "rates", &rates]).assert_ok();
    let run = t.run(&["run", "allowance", "--month", "2015-03", "--dry-run"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("1 household(s) to pay, 340.00 in total"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("  PL-0001  BANK-"), "{run:#?}");
}

#[test]
fn a_file_of_only_a_header_says_it_has_no_rows() {
    let t = TempLedger::standard();
    let before = t.dump().without_read_models();
    let file = t.write_csv::<&str>("empty.csv", ImportKind::Events, &[]);
    let run = t.import("events", &file);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("nothing to append: the file has no rows after its header"),
        "{run:#?}"
    );
    assert_eq!(
        t.dump().without_read_models(),
        before,
        "only the read-model cache may change"
    );
}

#[test]
fn a_missing_input_file_is_bad_input() {
    let t = TempLedger::standard();
    let before = t.dump();
    let missing = t.file("nope.csv");
    let run = t.import("events", &missing);
    run.assert_code(2);
    assert!(run.stderr.contains("nope.csv"), "{run:#?}");
    assert_eq!(t.dump(), before);
}

#[test]
fn a_batch_reports_the_seq_of_every_row() {
    let t = TempLedger::standard();
    let rows = [
        "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,S-1,",
        "2015-01-31,disbursement,PL-0001,support_allowance,100.00,2,BANK-1,2015年1月扶助金",
        "2015-03-01,disbursement,PL-0002,support_allowance,1.00,1,S-2,",
        "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,S-1,",
    ];
    let summary = t.append_csv(ImportKind::Events, &rows);
    assert_eq!((summary.appended, summary.duplicates), (2, 2));
    let s = STANDARD_SIZE;
    assert_eq!(
        summary.seqs,
        vec![
            Seq::new(s + 1),
            Seq::new(6),
            Seq::new(s + 2),
            Seq::new(s + 1)
        ]
    );
    assert_eq!(summary.head.size, s + 2);
}

/// A large import is planned while its chunks are written beyond the head: a row rejected
/// late, after chunks were written, leaves the store exactly as it was, and the rejection
/// names its line and field.
#[test]
fn a_large_append_rejected_late_leaves_nothing_behind() {
    let t = TempLedger::standard();
    let mut rows = payment_rows("BIG", 2 * GROUP_COMMIT_EVENTS + 50);
    // In the third batch: the first two were handed to the writer before it is planned.
    let late = 2 * GROUP_COMMIT_EVENTS + 40;
    rows[late] = rows[late].replace("PL-0001", "PL-9999");
    let file = t.write_csv("late.csv", ImportKind::Events, &rows);
    let fail = |ledger: &mut fundtrail::ledger::Ledger| {
        let mut source = CsvFile::new(&file, ImportKind::Events);
        match ledger.append_rows(&mut source, &ctx()) {
            Err(LedgerError::Rejected { rejections, total }) => {
                assert_eq!(total, 1);
                let at = (rejections[0].line, rejections[0].field);
                assert_eq!(at, (line_of(late), "household_id"));
                assert!(rejections[0].reason.contains("PL-9999"), "{rejections:?}");
            }
            other => panic!("expected the late row to be rejected, got {other:?}"),
        }
        assert_eq!(ledger.view().head().size, STANDARD_SIZE);
        assert_eq!(lookup(ledger, "BIG-0"), None);
    };

    // The store is left as it was, not only once it is next opened.
    let before = t.dump();
    fail(&mut t.open());
    assert_eq!(t.dump(), before);

    // The same ledger value goes on to record other rows at the seqs the failed batch
    // had planned; none of the failed batch's index entries may survive to point at them.
    let mut ledger = t.open();
    fail(&mut ledger);
    let more = t.write_csv("more.csv", ImportKind::Events, &payment_rows("NEW", 5));
    ledger
        .append_rows(&mut CsvFile::new(&more, ImportKind::Events), &ctx())
        .expect("valid rows");
    assert_eq!(lookup(&ledger, "NEW-0"), Some(Seq::new(STANDARD_SIZE + 1)));
    assert_eq!(lookup(&ledger, "BIG-0"), None);
    drop(ledger);
    check_indexes(&t);
    assert_eq!(t.verify().fault, None);
}

/// Every rejection of a large import is reported, in order, whether it comes before the
/// first chunk is written or after: once a row is rejected nothing more is written, but
/// every row is still planned.
#[test]
fn a_large_append_reports_rejections_early_and_late() {
    let t = TempLedger::standard();
    let mut rows = payment_rows("BIG", 2 * GROUP_COMMIT_EVENTS + 50);
    let (early, late) = (5, 2 * GROUP_COMMIT_EVENTS + 40);
    rows[early] = rows[early].replace(",0.01,", ",0.00,");
    rows[late] = rows[late].replace("PL-0001", "PL-9999");
    let file = t.write_csv("both.csv", ImportKind::Events, &rows);
    let before = t.dump();
    let mut ledger = t.open();
    let mut source = CsvFile::new(&file, ImportKind::Events);
    match ledger.append_rows(&mut source, &ctx()) {
        Err(LedgerError::Rejected { rejections, total }) => {
            assert_eq!(total, 2);
            let at: Vec<_> = rejections.iter().map(|r| (r.line, r.field)).collect();
            assert_eq!(
                at,
                [(line_of(early), "amount"), (line_of(late), "household_id")]
            );
        }
        other => panic!("expected two rejections, got {other:?}"),
    }
    assert_eq!(ledger.view().head().size, STANDARD_SIZE);
    drop(ledger);
    assert_eq!(t.dump(), before);
}

/// A large import leaves the in-memory reference index behind while it writes its chunks
/// and has it read again once the head has moved: the same `Ledger` value then finds the
/// import's references and the older ones, and a retry of the file is all duplicates.
#[test]
fn references_of_a_large_import_are_found_by_the_ledger_that_wrote_them() {
    let t = TempLedger::standard();
    let (rows, path) = large_file(&t);
    let mut ledger = t.open();
    // The index is in memory before the import starts.
    assert_eq!(lookup(&ledger, "BANK-1"), Some(Seq::new(6)));
    assert_eq!(lookup(&ledger, "BIG-0"), None);
    let mut file = fundtrail::ledger::import::CsvFile::new(&path, ImportKind::Events);
    let summary = ledger
        .append_rows(&mut file, &ctx())
        .expect("the file imports");
    assert_eq!(summary.appended, rows.len() as u64);
    assert!(
        summary.seqs.is_empty(),
        "a large batch reports no seq per row"
    );
    assert_eq!(lookup(&ledger, "BANK-1"), Some(Seq::new(6)));
    assert_eq!(lookup(&ledger, "BIG-0"), Some(Seq::new(STANDARD_SIZE + 1)));
    let last = format!("BIG-{}", GROUP_COMMIT_EVENTS + 49);
    assert_eq!(
        lookup(&ledger, &last),
        Some(Seq::new(STANDARD_SIZE + GROUP_COMMIT_EVENTS as u64 + 50))
    );
    let mut again = fundtrail::ledger::import::CsvFile::new(&path, ImportKind::Events);
    let retry = ledger.append_rows(&mut again, &ctx()).expect("a retry");
    assert_eq!((retry.appended, retry.duplicates), (0, rows.len() as u64));
}

#[test]
fn a_reference_with_an_invisible_character_is_refused_naming_it() {
    let t = TempLedger::standard();
    // BANK-1 exists; these look exactly like it, or like a fresh BANK-9, on screen.
    let rows = [
        "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,BANK\u{200B}-1,零宽",
        "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,BANK-\u{202E}9,反向",
    ];
    let path = t.write_csv("invisible.csv", ImportKind::Events, &rows);
    let before = t.dump();
    let run = t.import("events", &path);
    run.assert_code(2);
    for (line, code_point) in [(2, "U+200B"), (3, "U+202E")] {
        let prefix = format!("{}:{line}: reference: ", path.display());
        let said = run
            .stderr
            .lines()
            .find(|l| l.contains(&prefix))
            .unwrap_or_else(|| panic!("no rejection for line {line}: {run:#?}"));
        assert!(said.contains(code_point), "{said}");
        assert!(said.contains("invisible or bidirectional"), "{said}");
    }
    assert_eq!(t.dump(), before);
}

/// The rejection line of a run that refused `file` at `line`, in `field`.
fn refusal<'r>(run: &'r crate::support::Run, file: &Path, line: u64, field: &str) -> &'r str {
    let prefix = format!("error: {}:{line}: {field}: ", file.display());
    run.stderr
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {run:#?}"))
}

#[test]
fn an_endless_input_is_refused_at_once_and_the_ledger_is_unchanged() {
    let zero = Path::new("/dev/zero");
    if !zero.exists() {
        eprintln!("skipped: no /dev/zero here");
        return;
    }
    let t = TempLedger::standard();
    let before = t.dump();
    let run = t.import("events", zero);
    run.assert_code(2);
    let said = refusal(&run, zero, 1, "header");
    assert!(
        said.contains(&format!(
            "is longer than {} bytes",
            fundtrail::ledger::import::MAX_ROW_BYTES
        )),
        "{said}"
    );
    assert!(run.stderr.contains("the ledger is unchanged"), "{run:#?}");
    assert_eq!(t.dump(), before);
}

#[test]
fn a_file_with_one_enormous_line_is_refused_at_that_line() {
    let t = TempLedger::standard();
    // Eight megabytes of one field, valid rows before and after it.
    let rows = [
        payment_rows("HUGE", 1)[0].clone(),
        format!(
            "2015-03-01,disbursement,PL-0001,support_allowance,0.01,1,X,{}",
            "金".repeat(1 << 21)
        ),
        payment_rows("AFTER", 1)[0].clone(),
    ];
    let path = t.write_csv("huge.csv", ImportKind::Events, &rows);
    let before = t.dump();
    let run = t.import("events", &path);
    run.assert_code(2);
    let said = refusal(&run, &path, 3, "row");
    assert!(said.contains("is longer than 65536 bytes"), "{said}");
    assert!(run.stderr.contains("1 row(s) rejected"), "{run:#?}");
    assert_eq!(t.dump(), before);
}

#[test]
fn a_quote_never_closed_is_refused_at_the_row_that_opens_it() {
    let t = TempLedger::standard();
    let mut rows = payment_rows("Q", 20_000);
    rows[2] = rows[2].replace(",批量", ",\"批量");
    let path = t.write_csv("quote.csv", ImportKind::Events, &rows);
    let before = t.dump();
    let run = t.import("events", &path);
    run.assert_code(2);
    let said = refusal(&run, &path, 4, "row");
    assert!(said.contains("a quote (\") that is not closed"), "{said}");
    assert_eq!(t.dump(), before);
}

#[test]
fn a_file_larger_than_the_import_cap_is_refused_before_it_is_read() {
    let t = TempLedger::standard();
    let path = t.file("big.csv");
    // A sparse file: its size is all that is looked at.
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(fundtrail::ledger::import::MAX_IMPORT_BYTES + 1)
        .unwrap();
    let before = t.dump();
    let run = t.import("events", &path);
    run.assert_code(2);
    let said = format!(
        "{}: {} bytes, more than an import may hold",
        path.display(),
        fundtrail::ledger::import::MAX_IMPORT_BYTES + 1
    );
    assert!(run.stderr.contains(&said), "{run:#?}");
    assert_eq!(t.dump(), before);
}

/// Rows of a large import in several store writes: rows 0 to 10,000 (planned whole before
/// the writing thread starts), then two chunks of 1,024 at a time, and the rest, which the
/// commit writes. All but the last are folded as written, the last read back from the log.
const SEVERAL_WRITES: usize = 2 * GROUP_COMMIT_EVENTS + 3_000;

/// What the read side answers after an import, each as the command's exit code and JSON
/// output: both households' balances, totals, funds and the findings.
fn read_answers(t: &TempLedger) -> Vec<(i32, String)> {
    let commands: [&[&str]; 5] = [
        &["--json", "household", "PL-0001"],
        &["--json", "household", "PL-0002"],
        &["--json", "totals", "--by", "subdistrict,program,month"],
        &["--json", "funds"],
        &["--json", "findings"],
    ];
    commands
        .iter()
        .map(|args| {
            let run = t.run(args);
            (run.code, run.stdout.clone())
        })
        .collect()
}

/// The stored read-model records (by name) and findings snapshot, unsealed.
type Snapshots = (Vec<(String, Vec<u8>)>, Option<Vec<u8>>);

fn stored_snapshots(t: &TempLedger) -> Snapshots {
    use fundtrail::ledger::readmodels::{stored_records, META_FINDINGS};
    let ledger = t.open();
    let records = stored_records(ledger.view()).expect("the read-model records read");
    assert!(!records.is_empty(), "a snapshot is stored");
    let findings = ledger
        .view()
        .meta(META_FINDINGS)
        .expect("the findings read");
    (records, findings)
}

/// A large import folds the read models and the findings from each store write beyond
/// the head as it lands: a row rejected after two writes were folded leaves every answer
/// and both snapshots exactly as they were, and `verify` passes.
#[test]
fn a_large_import_rejected_late_leaves_the_read_models_and_findings_as_they_were() {
    let t = TempLedger::standard();
    t.run(&["rebuild"]).assert_ok();
    let mut rows = payment_rows("BIG", SEVERAL_WRITES);
    rows.push("2015-03-01,disbursement,PL-9999,support_allowance,0.01,1,BIG-LAST,批量".into());
    let file = t.write_csv("late.csv", ImportKind::Events, &rows);
    let (answers, snapshots) = (read_answers(&t), stored_snapshots(&t));
    assert!(answers[0].1.contains("PL-0001"), "{answers:?}");

    let run = t.import("events", &file);
    run.assert_code(2);
    let prefix = format!("error: {}:{}: ", file.display(), line_of(rows.len() - 1));
    assert!(run.stderr.starts_with(&prefix), "{run:#?}");
    assert!(!run.stderr.contains("warning"), "{run:#?}");
    assert_eq!(read_answers(&t), answers);
    assert_eq!(stored_snapshots(&t), snapshots);
    t.run(&["verify"]).assert_ok();

    // Without the bad row the same rows go in, and the answers move.
    rows.pop();
    let file = t.write_csv("good.csv", ImportKind::Events, &rows);
    t.import("events", &file).assert_ok();
    assert_ne!(read_answers(&t), answers);
}

/// A row in a store write after the first of [`SEVERAL_WRITES`] rows: the rows from
/// 14,097 to 16,144 are written together.
const IN_LATER_WRITE: usize = GROUP_COMMIT_EVENTS + 5_000;

/// An import of several store writes, folded as they were written and caught up with
/// the last, saves the same snapshots, byte for byte, as a rebuild from genesis; the
/// reversals folded as written find their payments, in the write before theirs (read
/// back from beyond the head) and in their own.
#[test]
fn a_large_import_folded_as_written_saves_what_a_rebuild_saves() {
    let t = TempLedger::standard();
    let mut rows = payment_rows("BIG", SEVERAL_WRITES);
    let reversals = [
        "2015-03-02,reversal,PL-0002,support_allowance,0.01,1,BIG-3,重复",
        "2015-03-02,reversal,PL-0002,support_allowance,0.01,1,BIG-14501,重复",
    ];
    for (i, row) in reversals.iter().enumerate() {
        rows.insert(IN_LATER_WRITE + i, row.to_string());
    }
    let file = t.write_csv("large.csv", ImportKind::Events, &rows);
    let run = t.import("events", &file);
    run.assert_ok();
    assert!(!run.stderr.contains("warning"), "{run:#?}");
    let (answers, snapshots) = (read_answers(&t), stored_snapshots(&t));
    {
        let ledger = t.open();
        assert!(lookup(&ledger, "reversal:BIG-3").is_some());
        assert!(lookup(&ledger, "reversal:BIG-14501").is_some());
    }

    t.run(&["rebuild"]).assert_ok();
    assert_eq!(read_answers(&t), answers);
    assert_eq!(stored_snapshots(&t), snapshots);
    t.run(&["verify"]).assert_ok();
}

/// `append_rows_telling` tells the events of every store write beyond the head but the
/// last, in seq order, each with the hash the log then has at its seq; a small append
/// tells nothing.
#[test]
fn a_large_append_tells_every_write_beyond_the_head_but_the_last() {
    let t = TempLedger::standard();
    let file = t.write_csv(
        "large.csv",
        ImportKind::Events,
        &payment_rows("BIG", SEVERAL_WRITES),
    );
    let (sender, told) = std::sync::mpsc::sync_channel(16);
    let mut ledger = t.open();
    let summary = ledger
        .append_rows_telling(
            &mut CsvFile::new(&file, ImportKind::Events),
            &ctx(),
            Some(sender),
        )
        .expect("valid rows");
    let writes: Vec<_> = told.try_iter().collect();
    assert!(writes.len() >= 2, "several writes before the last");
    // The first write holds the rows planned before the writing thread started; each later
    // one is bounded well below a group commit, so that a write's garbage in sled stays small.
    assert_eq!(writes[0].len(), GROUP_COMMIT_EVENTS + 1);
    assert!(writes[1..]
        .iter()
        .all(|w| w.len() < GROUP_COMMIT_EVENTS / 2));
    let events: Vec<_> = writes.into_iter().flatten().collect();
    let told_seqs: Vec<u64> = events.iter().map(|(seq, _, _)| seq.get()).collect();
    let expected: Vec<u64> = (STANDARD_SIZE + 1..=STANDARD_SIZE + told_seqs.len() as u64).collect();
    assert_eq!(told_seqs, expected);
    assert!(told_seqs.len() >= 2 * GROUP_COMMIT_EVENTS);
    assert!((told_seqs.len() as u64) < summary.head.size - STANDARD_SIZE);
    for (seq, hash, record) in &events {
        let stored = ledger.view().stored(*seq).expect("committed");
        assert_eq!(stored.hash, *hash, "seq {seq}");
        assert_eq!(ledger.view().record(*seq).expect("decodes"), *record);
    }

    let small = t.write_csv("small.csv", ImportKind::Events, &payment_rows("SMALL", 50));
    let (sender, told) = std::sync::mpsc::sync_channel(16);
    ledger
        .append_rows_telling(
            &mut CsvFile::new(&small, ImportKind::Events),
            &ctx(),
            Some(sender),
        )
        .expect("valid rows");
    assert_eq!(told.try_iter().count(), 0);
}

/// A read side that cannot be opened before a large import (a record of its snapshot
/// changed) is reported as after any append, as a warning naming the record: the rows go
/// in, nothing is folded or saved over the damaged snapshot, and `rebuild` replaces it.
#[test]
fn a_large_import_beside_a_damaged_snapshot_appends_and_warns() {
    use fundtrail::ledger::readmodels::shard_record;
    let t = TempLedger::standard();
    t.run(&["rebuild"]).assert_ok();
    t.open()
        .put_meta(&shard_record(0), vec![0xff])
        .expect("the insider's record is written");
    let file = t.write_csv(
        "large.csv",
        ImportKind::Events,
        &payment_rows("BIG", SEVERAL_WRITES),
    );
    let run = t.import("events", &file);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("warning: the read models were not updated")
            && run.stderr.contains("read_models.households.00"),
        "{run:#?}"
    );
    assert_eq!(
        t.open().view().head().size,
        STANDARD_SIZE + SEVERAL_WRITES as u64
    );
    let verify = t.run(&["verify"]);
    assert_ne!(verify.code, 0, "{verify:#?}");
    assert!(
        verify.stdout.contains("read_models.households.00"),
        "{verify:#?}"
    );
    t.run(&["rebuild"]).assert_ok();
    t.run(&["verify"]).assert_ok();
}

/// Rows far past the first chunks of a large import: by then the planner keeps only a
/// fingerprint of each written event and reads it back on a match.
const FAR: usize = 3 * GROUP_COMMIT_EVENTS;

/// A large import decides a retry, and a reversal, of rows written long before them as it
/// decides them within a chunk: the retry is counted as present, the reversal appended.
#[test]
fn a_large_import_decides_rows_against_rows_written_long_before() {
    let t = TempLedger::standard();
    let mut rows = payment_rows("BIG", FAR);
    rows.push(rows[3].clone());
    rows.push("2015-03-02,reversal,PL-0001,support_allowance,0.01,1,BIG-4,重复".to_string());
    let path = t.write_csv("far.csv", ImportKind::Events, &rows);
    let run = t.import("events", &path);
    run.assert_ok();
    assert!(
        run.stdout
            .contains(&format!("appended {} event(s), 1 already present", FAR + 1)),
        "{run:#?}"
    );
    {
        let ledger = t.open();
        let end = STANDARD_SIZE + FAR as u64 + 1;
        assert_eq!(ledger.view().head().size, end);
        assert_eq!(lookup(&ledger, "reversal:BIG-4"), Some(Seq::new(end)));
        // 100.00 (BANK-1) + the payments - the reversed one, in fen.
        let budget = ledger.budgets()["support_allowance"];
        assert_eq!(budget.disbursed_fen, 10_000 + FAR as i64 - 1);
    }
    assert_eq!(t.verify().fault, None);
}

/// A reference written long before, repeated with other content, is refused naming the
/// repeat's line and field, and the chunks already written are removed.
#[test]
fn a_large_import_refuses_a_row_conflicting_with_one_written_long_before() {
    let t = TempLedger::standard();
    let mut rows = payment_rows("BIG", FAR);
    rows.push(rows[3].replace(",0.01,", ",0.02,"));
    let path = t.write_csv("conflict.csv", ImportKind::Events, &rows);
    let before = t.dump();
    let run = t.import("events", &path);
    run.assert_code(2);
    let expected = format!(
        "error: {}:{}: reference: BIG-3 is already used earlier in this batch with \
         different content",
        path.display(),
        line_of(FAR)
    );
    assert!(run.stderr.starts_with(&expected), "{run:#?}");
    assert_eq!(t.dump(), before);
}
