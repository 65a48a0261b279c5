//! Every write-side rule, one test each, through `fundtrail import` on the binary: a
//! refused row exits 2 with a message that starts `FILE:LINE: FIELD:`, and the ledger is
//! byte-for-byte unchanged (including the valid rows of the same file).
//!
//! The ledger is [`TempLedger::standard`]: seqs 1-3 enroll PL-0001 (2014-03-01), PL-0002
//! (2014-05-10) and PL-0003 (2015-06-01); 4 allocates 1000.00 to support_allowance, 5
//! allocates 300.00 to holiday_condolence; 6 pays BANK-1 (PL-0001, 100.00), 7 pays BANK-2
//! (PL-0002, 50.00) and 8 reverses BANK-2.

use std::path::Path;

use crate::support::*;
use fundtrail::ledger::import::ImportKind;

/// A valid payment, placed before the row under test so that it is on line 3 and the
/// test also shows that a file's valid rows are not appended when another is refused.
const VALID_PAYMENT: &str = "2015-03-01,disbursement,PL-0001,support_allowance,10.00,2,LEAD-1,";
const VALID_HOUSEHOLD: &str = "PL-0100,拓东,拓东第3社区,bereaved,1,2014-01-01";

/// Imports `row` after a valid one and checks that it, line 3, is refused for `field`.
/// Returns the reason the message gives.
#[track_caller]
fn refused(t: &TempLedger, kind: ImportKind, row: &str, field: &str) -> String {
    let lead = match kind {
        ImportKind::Households => VALID_HOUSEHOLD,
        ImportKind::Events => VALID_PAYMENT,
        other => panic!("no rule tests for {other:?} files"),
    };
    refused_file(t, kind, &[lead, row], 3, field)
}

/// Imports a file of `rows` and checks that exactly line `line` is refused for `field`.
#[track_caller]
fn refused_file(t: &TempLedger, kind: ImportKind, rows: &[&str], line: u64, field: &str) -> String {
    let path = t.write_csv("input.csv", kind, rows);
    refused_path(t, kind, &path, line, field)
}

#[track_caller]
fn refused_path(t: &TempLedger, kind: ImportKind, path: &Path, line: u64, field: &str) -> String {
    let before = t.dump();
    let run = t.import(kind_arg(kind), path);
    run.assert_code(2);
    let prefix = format!("error: {}:{line}: {field}: ", path.display());
    assert!(
        run.stderr.starts_with(&prefix),
        "expected the message to start with {prefix:?}: {run:#?}"
    );
    assert!(
        run.stderr
            .contains("1 row(s) rejected; the ledger is unchanged"),
        "{run:#?}"
    );
    assert_eq!(t.dump(), before, "a refused import changed the ledger");
    let first = run.stderr.lines().next().unwrap_or_default();
    first[prefix.len()..].to_owned()
}

/// Imports `rows` and checks that all of them are appended and the chain still verifies.
#[track_caller]
fn accepted(t: &TempLedger, kind: ImportKind, rows: &[&str]) -> Run {
    let path = t.write_csv("input.csv", kind, rows);
    let before = t.open().view().head().size;
    let run = t.import(kind_arg(kind), &path);
    run.assert_ok();
    let after = t.verify();
    assert_eq!(after.fault, None);
    assert_eq!(after.head.size, before + rows.len() as u64, "{run:#?}");
    run
}

fn kind_arg(kind: ImportKind) -> &'static str {
    match kind {
        ImportKind::Households => "households",
        ImportKind::Events => "events",
        ImportKind::Rates => "rates",
        ImportKind::Persons => "persons",
        ImportKind::Changes => "changes",
        ImportKind::Deaths => "deaths",
    }
}

use ImportKind::{Events, Households};

#[track_caller]
fn assert_mentions(reason: &str, words: &str) {
    assert!(
        reason.contains(words),
        "{reason:?} should mention {words:?}"
    );
}

// ----- amounts ---------------------------------------------------------------------------

#[test]
fn an_amount_with_three_decimals_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,disbursement,PL-0001,support_allowance,1.234,1,X-1,";
    assert_mentions(
        &refused(&t, Events, row, "amount"),
        "more than 2 decimal places",
    );
}

#[test]
fn amounts_that_are_not_plain_decimals_are_refused() {
    let t = TempLedger::standard();
    for amount in ["-1.00", "1e3", "\"12,00\"", "¥5", "", "1.2.3"] {
        let row = format!("2015-03-01,disbursement,PL-0001,support_allowance,{amount},1,X-1,");
        refused(&t, Events, &row, "amount");
    }
}

#[test]
fn a_zero_disbursement_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,disbursement,PL-0001,support_allowance,0.00,1,X-1,";
    assert_mentions(&refused(&t, Events, row, "amount"), "at least 0.01");
}

#[test]
fn a_zero_allocation_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,fund_allocation,,micro_wish,0,,X-1,区财政";
    assert_mentions(&refused(&t, Events, row, "amount"), "at least 0.01");
}

#[test]
fn an_in_kind_benefit_may_be_worth_nothing() {
    let t = TempLedger::standard();
    // transit_card has nothing allocated: a zero-value benefit uses no budget.
    let row = "2015-03-01,in_kind_benefit,PL-0002,transit_card,0.00,1,CARD-1,公交卡";
    let run = accepted(&t, Events, &[row]);
    assert!(run.stdout.contains("appended 1 event(s)"), "{run:#?}");
}

#[test]
fn an_amount_at_the_ceiling_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,fund_allocation,,micro_wish,100000000.00,,X-1,区财政";
    assert_mentions(&refused(&t, Events, row, "amount"), "ceiling");
    let row = "2015-03-01,fund_allocation,,micro_wish,123456789.00,,X-1,区财政";
    assert_mentions(&refused(&t, Events, row, "amount"), "ceiling");
}

#[test]
fn an_amount_just_below_the_ceiling_is_accepted() {
    let t = TempLedger::standard();
    accepted(
        &t,
        Events,
        &["2015-03-01,fund_allocation,,micro_wish,99999999.99,,X-1,区财政"],
    );
}

// ----- households and programs -----------------------------------------------------------

#[test]
fn a_payment_to_an_unknown_household_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,disbursement,PL-9999,support_allowance,1.00,1,X-1,";
    assert_mentions(
        &refused(&t, Events, row, "household_id"),
        "PL-9999 is not enrolled",
    );
}

#[test]
fn a_payment_without_a_household_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,disbursement,,support_allowance,1.00,1,X-1,";
    assert_mentions(&refused(&t, Events, row, "household_id"), "required");
}

#[test]
fn a_payment_dated_before_enrollment_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-05-31,disbursement,PL-0003,support_allowance,1.00,1,X-1,";
    assert_mentions(
        &refused(&t, Events, row, "date"),
        "before household PL-0003 was enrolled (2015-06-01)",
    );
}

#[test]
fn a_payment_on_the_enrollment_day_is_accepted() {
    let t = TempLedger::standard();
    accepted(
        &t,
        Events,
        &["2015-06-01,disbursement,PL-0003,support_allowance,1.00,1,X-1,"],
    );
}

#[test]
fn a_newly_enrolled_household_cannot_be_paid_before_its_enrollment() {
    // Households and payments come in separate files; the events file sees the household
    // the households file enrolled, with its date.
    let t = TempLedger::standard();
    accepted(
        &t,
        Households,
        &["PL-0200,龙泉,龙泉第2社区,disabled,2,2016-01-01"],
    );
    let row = "2015-12-31,disbursement,PL-0200,support_allowance,1.00,1,X-1,";
    refused(&t, Events, row, "date");
}

#[test]
fn an_unknown_program_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,disbursement,PL-0001,lottery,1.00,1,X-1,";
    assert_mentions(
        &refused(&t, Events, row, "program"),
        "\"lottery\" is not a known program",
    );
}

#[test]
fn zero_persons_are_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,disbursement,PL-0001,support_allowance,1.00,0,X-1,";
    assert_mentions(&refused(&t, Events, row, "persons"), "not 1 to");
}

#[test]
fn more_persons_than_one_payment_covers_are_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,disbursement,PL-0001,support_allowance,1.00,10001,X-1,";
    assert_mentions(
        &refused(&t, Events, row, "persons"),
        "10001 is not 1 to 10000",
    );
}

#[test]
fn an_overlong_memo_is_refused() {
    let t = TempLedger::standard();
    let memo = "备".repeat(201);
    let row = format!("2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,X-1,{memo}");
    assert_mentions(
        &refused(&t, Events, &row, "memo"),
        "longer than 200 characters",
    );
    let row = format!(
        "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,X-1,{}",
        &memo[..600]
    );
    accepted(&t, Events, &[&row]);
}

#[test]
fn an_oversized_field_is_refused_by_name() {
    let t = TempLedger::standard();
    let long = "9".repeat(1025);
    let row = format!("2015-03-01,disbursement,PL-0001,support_allowance,{long},1,X-1,");
    assert_mentions(
        &refused(&t, Events, &row, "amount"),
        "longer than 1024 bytes",
    );
}

// ----- references -----------------------------------------------------------------------

#[test]
fn a_reference_reused_with_other_content_is_a_conflict() {
    let t = TempLedger::standard();
    let row = "2015-01-31,disbursement,PL-0001,support_allowance,100.01,2,BANK-1,2015年1月扶助金";
    assert_mentions(
        &refused(&t, Events, row, "reference"),
        "BANK-1 is already recorded as seq 6 with different content",
    );
}

#[test]
fn a_reference_reused_within_one_file_is_a_conflict() {
    let t = TempLedger::standard();
    let other = "2015-03-01,disbursement,PL-0002,support_allowance,10.00,2,LEAD-1,";
    let reason = refused(&t, Events, other, "reference");
    // Seq 9 is where the first row would have gone: the batch is refused, so the message
    // names no seq that does not exist.
    assert_mentions(
        &reason,
        "LEAD-1 is already used earlier in this batch with different content",
    );
}

#[test]
fn an_identical_retry_is_a_no_op() {
    let t = TempLedger::standard();
    let path = t.write_csv("retry.csv", Events, STANDARD_EVENTS);
    t.assert_reimport_is_no_op("events", &path, 5);
}

#[test]
fn a_retry_by_another_clerk_is_a_no_op() {
    // Who recorded a row and when are not part of its content.
    let t = TempLedger::standard();
    let path = t.write_csv("retry.csv", Events, &[STANDARD_EVENTS[2]]);
    let path = path.to_str().expect("UTF-8");
    let before = t.dump().without_read_models();
    let run = t.run(&["--actor", "另一位经办人", "import", "events", path]);
    run.assert_ok();
    assert!(run.stdout.contains("nothing to append"), "{run:#?}");
    assert_eq!(t.dump().without_read_models(), before);
}

#[test]
fn a_reference_too_long_is_refused() {
    let t = TempLedger::standard();
    let row = format!(
        "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,{},",
        "R".repeat(65)
    );
    assert_mentions(
        &refused(&t, Events, &row, "reference"),
        "1 to 64 characters",
    );
}

#[test]
fn an_identical_row_twice_in_one_file_is_appended_once() {
    let t = TempLedger::standard();
    let path = t.write_csv("twice.csv", Events, &[VALID_PAYMENT, VALID_PAYMENT]);
    let run = t.import("events", &path);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("appended 1 event(s), 1 already present"),
        "{run:#?}"
    );
    assert_eq!(t.open().view().head().size, STANDARD_SIZE + 1);
}

#[test]
fn derived_reference_forms_are_reserved() {
    let t = TempLedger::standard();
    for reference in ["enroll:PL-0001", "reversal:BANK-1"] {
        let row = format!("2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,{reference},");
        assert_mentions(&refused(&t, Events, &row, "reference"), "is reserved");
    }
}

#[test]
fn a_reference_with_a_space_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,BANK 9,";
    assert_mentions(&refused(&t, Events, row, "reference"), "spaces");
}

// ----- reversals ------------------------------------------------------------------------

#[test]
fn reversing_an_unknown_reference_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,reversal,PL-0001,support_allowance,100.00,2,BANK-404,错误";
    assert_mentions(
        &refused(&t, Events, row, "reference"),
        "no payment has reference BANK-404",
    );
}

#[test]
fn reversing_an_allocation_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,reversal,PL-0001,support_allowance,1000.00,1,ALLOC-SA,错误";
    assert_mentions(
        &refused(&t, Events, row, "reference"),
        "ALLOC-SA (seq 4) is not a payment",
    );
}

#[test]
fn reversing_a_reversal_or_an_enrollment_is_refused() {
    let t = TempLedger::standard();
    for target in ["reversal:BANK-2", "enroll:PL-0001"] {
        let row = format!("2015-03-01,reversal,PL-0002,support_allowance,50.00,1,{target},错误");
        assert_mentions(&refused(&t, Events, &row, "reference"), "is reserved");
    }
}

#[test]
fn a_payment_reversed_twice_in_one_file_names_no_seq() {
    let t = TempLedger::standard();
    let rows = [
        "2015-03-01,disbursement,PL-0001,support_allowance,10.00,1,NEW-1,",
        "2015-03-02,reversal,PL-0001,support_allowance,10.00,1,NEW-1,退回",
        "2015-03-03,reversal,PL-0001,support_allowance,10.00,1,NEW-1,再次冲正",
    ];
    let reason = refused_file(&t, Events, &rows, 4, "reference");
    assert_mentions(
        &reason,
        "payment NEW-1 is already reversed (earlier in this batch)",
    );
}

#[test]
fn a_reversal_dated_before_its_payment_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-01-30,reversal,PL-0001,support_allowance,100.00,2,BANK-1,退回";
    assert_mentions(
        &refused(&t, Events, row, "date"),
        "2015-01-30 is before payment BANK-1's own date 2015-01-31",
    );
    // The same day is fine: a payment returned at once.
    accepted(
        &t,
        Events,
        &["2015-01-31,reversal,PL-0001,support_allowance,100.00,2,BANK-1,退回"],
    );
}

#[test]
fn a_reversal_without_a_household_says_what_it_needs() {
    // What a clerk writes to undo an allocation: the message says why that cannot be.
    let t = TempLedger::standard();
    let row = "2015-04-01,reversal,,support_allowance,50000.00,,ALLOC-1,撤销拨款";
    assert_mentions(
        &refused(&t, Events, row, "household_id"),
        "is required for a reversal: it names the household of the payment it reverses \
         (an allocation cannot be reversed)",
    );
}

#[test]
fn reversing_a_reversed_payment_again_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-05,reversal,PL-0002,support_allowance,50.00,1,BANK-2,再次冲正";
    assert_mentions(
        &refused(&t, Events, row, "reference"),
        "payment BANK-2 is already reversed (seq 8)",
    );
}

#[test]
fn retrying_the_same_reversal_is_a_no_op() {
    let t = TempLedger::standard();
    let path = t.write_csv("retry.csv", Events, &[STANDARD_EVENTS[4]]);
    t.assert_reimport_is_no_op("events", &path, 1);
}

#[test]
fn a_reversal_with_another_amount_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,reversal,PL-0001,support_allowance,99.99,2,BANK-1,错误";
    assert_mentions(
        &refused(&t, Events, row, "amount"),
        "99.99 does not repeat the payment's amount 100.00",
    );
}

#[test]
fn a_reversal_naming_another_household_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,reversal,PL-0002,support_allowance,100.00,2,BANK-1,错误";
    assert_mentions(
        &refused(&t, Events, row, "household_id"),
        "payment BANK-1 was made to PL-0001, not PL-0002",
    );
}

#[test]
fn a_reversal_naming_another_program_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,reversal,PL-0001,holiday_condolence,100.00,2,BANK-1,错误";
    assert_mentions(
        &refused(&t, Events, row, "program"),
        "payment BANK-1 is in program support_allowance, not holiday_condolence",
    );
}

#[test]
fn a_reversal_without_a_reason_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,reversal,PL-0001,support_allowance,100.00,2,BANK-1,  ";
    assert_mentions(&refused(&t, Events, row, "memo"), "needs a reason");
}

#[test]
fn a_reversal_may_omit_the_program_and_stores_the_payments() {
    let t = TempLedger::standard();
    accepted(
        &t,
        Events,
        &["2015-03-01,reversal,PL-0001,,100.00,2,BANK-1,金额录入错误"],
    );
    let ledger = t.open();
    let seq = lookup(&ledger, "reversal:BANK-1").expect("the reversal is recorded");
    let record = ledger.view().record(seq).expect("readable");
    match record.body {
        fundtrail::model::encoding::Body::Reversal(r) => {
            assert_eq!((r.target_seq, r.program.as_str()), (6, "support_allowance"));
            assert_eq!((r.amount_fen, r.persons), (10_000, 2));
        }
        other => panic!("expected a reversal, got {other:?}"),
    }
}

// ----- budget ---------------------------------------------------------------------------

#[test]
fn paying_beyond_the_allocation_is_refused() {
    let t = TempLedger::standard();
    let rows = [
        "2015-03-01,condolence_payment,PL-0001,holiday_condolence,200.00,1,V-1,春节慰问",
        "2015-03-01,condolence_payment,PL-0002,holiday_condolence,100.01,1,V-2,春节慰问",
    ];
    assert_mentions(
        &refused_file(&t, Events, &rows, 3, "amount"),
        "100.01 exceeds what is left of program holiday_condolence: 100.00 of 300.00 allocated",
    );
}

#[test]
fn a_program_without_an_allocation_cannot_pay() {
    let t = TempLedger::standard();
    let row = "2015-03-01,insurance_purchase,PL-0001,accident_insurance,0.01,2,POL-1,";
    assert_mentions(
        &refused(&t, Events, row, "amount"),
        "0.00 of 0.00 allocated",
    );
}

#[test]
fn a_reversal_frees_its_budget_within_one_file() {
    let t = TempLedger::standard();
    accepted(
        &t,
        Events,
        &[
            "2015-03-01,condolence_payment,PL-0001,holiday_condolence,300.00,1,V-1,春节慰问",
            "2015-03-02,reversal,PL-0001,holiday_condolence,300.00,1,V-1,发错户",
            "2015-03-03,condolence_payment,PL-0002,holiday_condolence,300.00,1,V-2,春节慰问",
        ],
    );
    let budget = t.open().budgets()["holiday_condolence"];
    assert_eq!(
        (budget.allocated_fen, budget.disbursed_fen),
        (30_000, 30_000)
    );
}

#[test]
fn a_reversal_frees_its_budget_across_imports() {
    let t = TempLedger::standard();
    let pay = |reference: &str| {
        format!("2015-03-01,condolence_payment,PL-0001,holiday_condolence,300.00,1,{reference},")
    };
    accepted(&t, Events, &[&pay("V-1")]);
    refused_file(&t, Events, &[&pay("V-2")], 2, "amount");
    accepted(
        &t,
        Events,
        &["2015-03-02,reversal,PL-0001,holiday_condolence,300.00,1,V-1,发错户"],
    );
    accepted(&t, Events, &[&pay("V-2")]);
    refused_file(&t, Events, &[&pay("V-3")], 2, "amount");
}

// ----- households -----------------------------------------------------------------------

#[test]
fn a_household_with_no_members_is_refused() {
    let t = TempLedger::standard();
    let row = "PL-0101,拓东,拓东第3社区,bereaved,0,2014-01-01";
    assert_mentions(&refused(&t, Households, row, "members"), "0 is not 1 to 20");
}

#[test]
fn a_household_with_21_members_is_refused() {
    let t = TempLedger::standard();
    let row = "PL-0101,拓东,拓东第3社区,bereaved,21,2014-01-01";
    assert_mentions(
        &refused(&t, Households, row, "members"),
        "21 is not 1 to 20",
    );
}

#[test]
fn a_household_with_20_members_is_accepted() {
    let t = TempLedger::standard();
    accepted(
        &t,
        Households,
        &["PL-0101,拓东,拓东第3社区,伤残,20,2014-01-01"],
    );
}

#[test]
fn a_household_with_an_unknown_category_is_refused() {
    let t = TempLedger::standard();
    let row = "PL-0101,拓东,拓东第3社区,other,2,2014-01-01";
    refused(&t, Households, row, "category");
}

#[test]
fn a_household_without_a_community_is_refused() {
    let t = TempLedger::standard();
    let row = "PL-0101,拓东, ,bereaved,2,2014-01-01";
    assert_mentions(&refused(&t, Households, row, "community"), "is empty");
}

#[test]
fn a_household_with_a_bad_enrollment_date_is_refused() {
    let t = TempLedger::standard();
    let row = "PL-0101,拓东,拓东第3社区,bereaved,2,2014-13-01";
    refused(&t, Households, row, "enrolled_on");
}

#[test]
fn a_changed_household_is_refused_on_reimport() {
    let t = TempLedger::standard();
    let row = "PL-0002,鼓楼,鼓楼第2社区,失独,2,2014-05-10";
    assert_mentions(
        &refused(&t, Households, row, "household_id"),
        "PL-0002 is already enrolled (seq 2) with other details",
    );
}

#[test]
fn a_household_enrolled_twice_in_one_file_with_other_details_is_refused() {
    let t = TempLedger::standard();
    let other = VALID_HOUSEHOLD.replace(",1,2014-01-01", ",2,2014-01-01");
    assert_mentions(
        &refused(&t, Households, &other, "household_id"),
        "PL-0100 is already enrolled (earlier in this batch) with other details",
    );
}

#[test]
fn a_household_id_with_a_space_is_refused() {
    let t = TempLedger::standard();
    let row = "PL 0101,拓东,拓东第3社区,bereaved,2,2014-01-01";
    refused(&t, Households, row, "household_id");
}

#[test]
fn an_identical_household_reimport_is_a_no_op() {
    let t = TempLedger::standard();
    let path = t.write_csv("again.csv", Households, STANDARD_HOUSEHOLDS);
    t.assert_reimport_is_no_op("households", &path, 3);
}

// ----- CSV shape ------------------------------------------------------------------------

#[test]
fn an_unknown_column_is_refused() {
    let t = TempLedger::standard();
    let path = t.write_file(
        "extra.csv",
        &format!("{EVENTS_HEADER},remark\n{VALID_PAYMENT},x\n"),
    );
    let reason = refused_path(&t, Events, &path, 1, "header");
    assert_mentions(&reason, "unknown column \"remark\"");
}

#[test]
fn a_missing_column_is_refused() {
    let t = TempLedger::standard();
    let path = t.write_file(
        "short.csv",
        "date,type,household_id,program,amount,reference,memo\n\
         2015-03-01,disbursement,PL-0001,support_allowance,1.00,X-1,\n",
    );
    let reason = refused_path(&t, Events, &path, 1, "header");
    assert_mentions(&reason, "missing column \"persons\"");
}

#[test]
fn a_repeated_column_is_refused() {
    let t = TempLedger::standard();
    let path = t.write_file(
        "twice.csv",
        &format!("{HOUSEHOLDS_HEADER},members\n{VALID_HOUSEHOLD},1\n"),
    );
    let reason = refused_path(&t, Households, &path, 1, "header");
    assert_mentions(&reason, "column \"members\" appears twice");
}

#[test]
fn an_empty_file_is_refused() {
    let t = TempLedger::standard();
    let path = t.write_file("empty.csv", "");
    assert_mentions(&refused_path(&t, Events, &path, 1, "header"), "empty");
}

#[test]
fn columns_may_come_in_any_order() {
    let t = TempLedger::standard();
    let path = t.write_file(
        "reordered.csv",
        "reference,amount,date,type,program,household_id,persons,memo\n\
         X-1,1.00,2015-03-01,disbursement,support_allowance,PL-0001,1,\n",
    );
    t.import("events", &path).assert_ok();
    let ledger = t.open();
    let seq = lookup(&ledger, "X-1").expect("recorded");
    let record = ledger.view().record(seq).expect("readable");
    assert_eq!(record.body.household(), Some("PL-0001"));
}

#[test]
fn a_row_with_the_wrong_number_of_fields_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,X-1";
    assert_mentions(
        &refused(&t, Events, row, "row"),
        "has 7 fields, the header has 8",
    );
}

#[test]
fn a_bad_date_is_refused() {
    let t = TempLedger::standard();
    for date in ["2015/03/01", "2015-3-1", ""] {
        let row = format!("{date},disbursement,PL-0001,support_allowance,1.00,1,X-1,");
        assert_mentions(
            &refused(&t, Events, &row, "date"),
            "is not a date YYYY-MM-DD",
        );
    }
    for date in ["2015-02-30", "2015-13-01", "2015-04-31"] {
        let row = format!("{date},disbursement,PL-0001,support_allowance,1.00,1,X-1,");
        assert_mentions(
            &refused(&t, Events, &row, "date"),
            &format!("\"{date}\" is not a day of the calendar"),
        );
    }
}

#[test]
fn a_bad_type_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,refund,PL-0001,support_allowance,1.00,1,X-1,";
    assert_mentions(
        &refused(&t, Events, row, "type"),
        "\"refund\" is not fund_allocation",
    );
}

#[test]
fn an_allocation_naming_a_household_is_refused() {
    let t = TempLedger::standard();
    let row = "2015-03-01,fund_allocation,PL-0001,support_allowance,1.00,,X-1,区财政";
    assert_mentions(
        &refused(&t, Events, row, "household_id"),
        "must be empty for a fund_allocation",
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let t = TempLedger::standard();
    let households = t.write_file(
        "bom-households.csv",
        &format!("\u{feff}{HOUSEHOLDS_HEADER}\n{VALID_HOUSEHOLD}\n"),
    );
    t.import("households", &households).assert_ok();
    let events = t.write_file(
        "bom-events.csv",
        &format!("\u{feff}{EVENTS_HEADER}\n{VALID_PAYMENT}\n"),
    );
    t.import("events", &events).assert_ok();
    let ledger = t.open();
    assert!(ledger.households().contains_key("PL-0100"));
    assert!(lookup(&ledger, "LEAD-1").is_some());
}

#[test]
fn every_refused_row_is_reported_with_its_line() {
    let t = TempLedger::standard();
    let rows = [
        VALID_PAYMENT,
        "2015-03-01,disbursement,PL-9999,support_allowance,1.00,1,X-1,",
        VALID_PAYMENT,
        "2015-03-01,disbursement,PL-0001,support_allowance,1.001,1,X-2,",
        "2015-03-01,disbursement,PL-0001,nope,1.00,1,X-3,",
    ];
    let path = t.write_csv("many.csv", Events, &rows);
    let before = t.dump();
    let run = t.import("events", &path);
    run.assert_code(2);
    let name = path.display();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{run:#?}");
    assert!(lines[0].starts_with(&format!("error: {name}:3: household_id: ")));
    assert!(lines[1].starts_with(&format!("{name}:5: amount: ")));
    assert!(lines[2].starts_with(&format!("{name}:6: program: ")));
    assert_eq!(lines[3], "3 row(s) rejected; the ledger is unchanged");
    assert_eq!(t.dump(), before);
}

#[test]
fn a_refusal_is_reported_as_json_too() {
    let t = TempLedger::standard();
    let path = t.write_csv(
        "bad.csv",
        Events,
        &[
            VALID_PAYMENT,
            "2015-03-01,disbursement,PL-0001,support_allowance,0.00,1,X-1,",
        ],
    );
    let run = t.run(&["--json", "import", "events", path.to_str().expect("UTF-8")]);
    run.assert_code(2);
    let json = run.json();
    assert_eq!(json["error"], "rejected");
    assert_eq!(json["total"], 1);
    assert_eq!(json["rejections"][0]["line"], 3);
    assert_eq!(json["rejections"][0]["field"], "amount");
}

// ----- line numbers ---------------------------------------------------------------------

const UNKNOWN_HOUSEHOLD: &str = "2015-03-01,disbursement,PL-9999,support_allowance,1.00,1,X-1,";

/// Writes `text` as an events file and checks that exactly `line` is refused, for the
/// unknown household.
#[track_caller]
fn refused_line(t: &TempLedger, name: &str, text: &str, line: u64) {
    let path = t.write_file(name, text);
    refused_path(t, Events, &path, line, "household_id");
}

#[test]
fn lines_are_counted_in_files_with_crlf_line_ends() {
    // As spreadsheets save CSV, with and without a byte order mark.
    let t = TempLedger::standard();
    let rows = [EVENTS_HEADER, VALID_PAYMENT, UNKNOWN_HOUSEHOLD, ""].join("\r\n");
    refused_line(&t, "crlf.csv", &rows, 3);
    refused_line(&t, "bom-crlf.csv", &format!("\u{feff}{rows}"), 3);
}

#[test]
fn lines_are_counted_in_files_with_cr_line_ends() {
    let t = TempLedger::standard();
    let rows = [
        EVENTS_HEADER,
        VALID_PAYMENT,
        VALID_PAYMENT,
        UNKNOWN_HOUSEHOLD,
    ]
    .join("\r");
    refused_line(&t, "cr.csv", &rows, 4);
}

#[test]
fn blank_lines_count_as_lines() {
    let t = TempLedger::standard();
    let rows = [
        EVENTS_HEADER,
        "",
        VALID_PAYMENT,
        "",
        "",
        UNKNOWN_HOUSEHOLD,
        "",
    ];
    refused_line(&t, "blank.csv", &rows.join("\n"), 6);
    refused_line(&t, "blank-crlf.csv", &rows.join("\r\n"), 6);
}

#[test]
fn a_quoted_field_spanning_lines_counts_its_lines() {
    let t = TempLedger::standard();
    let multi_line =
        "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,M-1,\"第一行,\r\n第二行\"";
    let rows = [
        EVENTS_HEADER,
        VALID_PAYMENT,
        multi_line,
        UNKNOWN_HOUSEHOLD,
        "",
    ];
    // The memo's line break is a control character, refused on line 3; the next row is
    // line 5.
    let path = t.write_file("multi.csv", &rows.join("\n"));
    let before = t.dump();
    let run = t.import("events", &path);
    run.assert_code(2);
    let name = path.display();
    assert!(
        run.stderr.starts_with(&format!(
            "error: {name}:3: memo: contains a line break (in a CSV file, a quote (\") that \
             is not closed"
        )),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains(&format!("\n{name}:5: household_id: ")),
        "{run:#?}"
    );
    assert_eq!(t.dump(), before);
}

/// A quote opened and never closed swallows the next row: the merged row's field count
/// is wrong, and the message says why that may be.
#[test]
fn an_unclosed_quote_that_swallows_a_row_is_named() {
    let t = TempLedger::standard();
    let rows = [
        EVENTS_HEADER,
        "2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,\"U-1,m",
        VALID_PAYMENT,
        "",
    ];
    let path = t.write_file("unclosed.csv", &rows.join("\n"));
    let reason = refused_path(&t, Events, &path, 2, "row");
    assert_mentions(
        &reason,
        "has 7 fields, the header has 8 (a field spans lines: a quote (\") that is not closed",
    );
}

#[test]
fn a_row_that_is_not_utf8_is_refused_with_its_line() {
    // A row saved in GBK, as older Chinese spreadsheet software does.
    let t = TempLedger::standard();
    let mut bytes = format!("{EVENTS_HEADER}\r\n{VALID_PAYMENT}\r\n").into_bytes();
    bytes.extend_from_slice(b"2015-03-01,disbursement,PL-0001,support_allowance,1.00,1,X-1,");
    bytes.extend_from_slice(&[0xc4, 0xe3, 0xba, 0xc3, b'\r', b'\n']);
    let path = t.file("gbk.csv");
    std::fs::write(&path, bytes).expect("write the file");
    let run = refused_path(&t, Events, &path, 3, "memo");
    assert_mentions(&run, "is not UTF-8 text");
    assert_mentions(&run, "save it as UTF-8");
}

#[test]
fn a_utf16_file_is_refused_at_its_header_with_how_to_save_it() {
    // Excel's "Unicode Text": UTF-16 little-endian with a byte order mark.
    let t = TempLedger::standard();
    let text = format!("{EVENTS_HEADER}\r\n{VALID_PAYMENT}\r\n");
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let path = t.file("utf16.csv");
    std::fs::write(&path, bytes).expect("write the file");
    let run = refused_path(&t, Events, &path, 1, "header");
    assert_mentions(&run, "may be saved as UTF-16");
    assert_mentions(&run, "save it as UTF-8");
}

// ----- value dates ahead of the recording day --------------------------------------------

#[test]
fn a_payment_dated_2999_is_refused_with_its_field() {
    let t = TempLedger::standard();
    let reason = refused(
        &t,
        Events,
        "2999-01-01,disbursement,PL-0001,support_allowance,10.00,2,FAR-1,",
        "date",
    );
    assert_mentions(
        &reason,
        "2999-01-01 is more than a year after the day it is recorded",
    );
    assert_mentions(&reason, "at most 366 days ahead");
    let reason = refused(
        &t,
        Events,
        "2999-01-01,fund_allocation,,support_allowance,10.00,,FAR-2,区财政",
        "date",
    );
    assert_mentions(&reason, "2999-01-01");
    let reason = refused(
        &t,
        Events,
        "2999-01-01,reversal,PL-0001,support_allowance,100.00,2,BANK-1,重复",
        "date",
    );
    assert_mentions(&reason, "2999-01-01");
    let reason = refused(
        &t,
        Households,
        "PL-0200,拓东,拓东第3社区,bereaved,1,2999-01-01",
        "enrolled_on",
    );
    assert_mentions(&reason, "2999-01-01");
}

/// The limit counts from the day the batch is recorded (the AppendContext's time): 366
/// days ahead is accepted, 367 refused.
#[test]
fn a_value_date_may_lie_at_most_366_days_after_the_recording_day() {
    use fundtrail::ledger::{AppendContext, LedgerError};
    use fundtrail::model::domain::{
        Command, HouseholdId, Money, Payment, PaymentKind, ProgramCode,
    };
    let t = TempLedger::standard();
    // 2026-01-01T12:00:00Z.
    let ctx = AppendContext {
        actor: ACTOR.into(),
        now_us: 1_767_268_800_000_000,
    };
    let pay = |date: &str, reference: &str| {
        Command::Pay(Payment {
            kind: PaymentKind::Disbursement,
            household: HouseholdId::parse("PL-0001").unwrap(),
            program: ProgramCode::parse("support_allowance").unwrap(),
            amount: Money::from_fen(100),
            persons: 1,
            date: fundtrail::model::domain::parse_date(date).unwrap(),
            reference: fundtrail::model::domain::Reference::parse(reference).unwrap(),
            memo: String::new(),
            account: None,
        })
    };
    let mut ledger = t.open();
    match ledger.append(vec![pay("2027-01-03", "AHEAD-367")], &ctx) {
        Err(LedgerError::Rejected { rejections, .. }) => {
            assert_eq!(rejections[0].field, "date");
            assert!(
                rejections[0].reason.contains("(2026-01-01)"),
                "{}",
                rejections[0].reason
            );
        }
        other => panic!("367 days ahead was not refused: {other:?}"),
    }
    let summary = ledger
        .append(vec![pay("2027-01-02", "AHEAD-366")], &ctx)
        .expect("366 days ahead is accepted");
    assert_eq!(summary.appended, 1);
    // verify replays the rule with the record's own recording time.
    assert_eq!(ledger.view().verify(|_| {}).unwrap().fault, None);
}
