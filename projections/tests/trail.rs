//! The household trail.

mod common;

use common::*;
use fundtrail_projections::{trail, Fact, PaymentKind, TrailEntry, TrailInput, TrailKind};

fn input(fact: Fact, memo: &str) -> TrailInput {
    TrailInput {
        fact,
        memo: memo.into(),
    }
}

fn h1_trail() -> Vec<TrailEntry> {
    let p2 = pay("H1", "support_allowance", 10_000, 2, date(2019, 1, 10));
    let p4 = Fact::Paid {
        kind: PaymentKind::InsurancePurchase,
        household: "H1".into(),
        program: "accident_insurance".into(),
        amount_fen: 8_000,
        persons: 2,
        date: date(2019, 2, 1),
        reference: "policy-77".into(),
    };
    trail(vec![
        (1, input(enroll("H1", "拓东", "A", 2), "")),
        (2, input(p2.clone(), "January allowance")),
        (
            3,
            input(allocate("support_allowance", 5), "not a household event"),
        ),
        (4, input(p4, "")),
        (9, input(reverse(2, &p2, date(2019, 3, 1)), "clerk note")),
    ])
}

#[test]
fn entries_keep_seq_order_and_skip_allocations() {
    let entries = h1_trail();
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 4, 9]);
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["enrolled", "disbursement", "insurance_purchase", "reversal"]
    );
}

#[test]
fn payment_and_reversal_link_both_ways() {
    let entries = h1_trail();
    assert_eq!(entries[1].reversed_by, Some(9));
    assert_eq!(entries[1].reverses, None);
    assert_eq!(entries[2].reversed_by, None, "policy-77 stays live");
    assert_eq!(entries[3].reverses, Some(2));
    assert_eq!(entries[3].reversed_by, None);
}

#[test]
fn entries_carry_dates_amounts_references_and_memos() {
    let entries = h1_trail();
    assert_eq!(entries[0].date, date(2017, 12, 1));
    assert_eq!(entries[0].persons, 2, "enrollment reports members");
    assert_eq!(entries[0].program, None);
    let payment = &entries[1];
    assert_eq!(payment.kind, TrailKind::Payment(PaymentKind::Disbursement));
    assert_eq!(payment.program.as_deref(), Some("support_allowance"));
    assert_eq!(payment.amount_fen, 10_000);
    assert_eq!(payment.memo, "January allowance");
    assert_eq!(
        payment.reference.as_deref(),
        Some("ref-H1-support_allowance-2019-01-10")
    );
    let reversal = &entries[3];
    assert_eq!(reversal.date, date(2019, 3, 1));
    assert_eq!(reversal.target_date, Some(date(2019, 1, 10)));
    assert_eq!(reversal.amount_fen, 10_000);
    assert_eq!(reversal.reason.as_deref(), Some("entered twice"));
    assert_eq!(reversal.reference, None);
    assert_eq!(reversal.memo, "clerk note");
}

#[test]
fn reversal_of_a_payment_outside_the_input_keeps_its_target_seq() {
    let p = pay("H1", "support_allowance", 1, 1, date(2019, 1, 1));
    let entries = trail(vec![(7, input(reverse(3, &p, date(2019, 2, 1)), ""))]);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].reverses, Some(3));
}

#[test]
fn a_second_reversal_of_the_same_payment_does_not_replace_the_first_link() {
    let p = pay("H1", "support_allowance", 1, 1, date(2019, 1, 1));
    let entries = trail(vec![
        (1, input(p.clone(), "")),
        (2, input(reverse(1, &p, date(2019, 2, 1)), "")),
        (3, input(reverse(1, &p, date(2019, 2, 2)), "")),
    ]);
    assert_eq!(entries[0].reversed_by, Some(2));
}

#[test]
fn empty_input_gives_empty_trail() {
    assert!(trail(Vec::new()).is_empty());
}
