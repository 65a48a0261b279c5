//! Receivables and recoveries (追缴) in the read models: a decision opens a finding's
//! receivable, recoveries reduce it and never below zero, the program has the money
//! again, and the totals show recoveries beside the payments.

mod common;

use common::*;
use fundtrail_projections::{
    Fact, GroupKey, ProjectionError, ReadModels, ReceivableError, ReceivableRow, TotalsQuery,
};

const ALLOWANCE: &str = "support_allowance";
const FINDING: &str = "0123456789abcdef";

fn receivable(household: &str, amount_fen: i64) -> Fact {
    Fact::ReceivableSet {
        finding: FINDING.into(),
        household: household.into(),
        program: ALLOWANCE.into(),
        amount_fen,
    }
}

fn recovered(amount_fen: i64, on: fundtrail_projections::Date) -> Fact {
    Fact::Recovered {
        finding: FINDING.into(),
        household: "H1".into(),
        program: ALLOWANCE.into(),
        amount_fen,
        date: on,
        reference: format!("REC-{amount_fen}-{on}"),
    }
}

/// H1 and H2 enrolled, 1,000 yuan allocated, 300 paid to H1 in January 2019, and a
/// decision that 300 yuan is to be recovered from H1.
fn overpaid() -> ReadModels {
    let mut models = ReadModels::new();
    apply_all(
        &mut models,
        &[
            enroll("H1", "拓东", "A", 2),
            enroll("H2", "拓东", "B", 2),
            allocate(ALLOWANCE, 100_000),
            pay("H1", ALLOWANCE, 30_000, 2, date(2019, 1, 15)),
            receivable("H1", 30_000),
        ],
    );
    models
}

fn receivables_of(models: &ReadModels, household: &str) -> Vec<ReceivableRow> {
    models
        .household(household)
        .expect("the household is enrolled")
        .receivables
}

fn row(opened_fen: i64, recovered_fen: i64) -> ReceivableRow {
    ReceivableRow {
        program: ALLOWANCE.into(),
        opened_fen,
        recovered_fen,
        open_fen: opened_fen - recovered_fen,
    }
}

#[test]
fn a_decision_opens_a_receivable_for_the_household_and_program() {
    let models = overpaid();
    assert_eq!(receivables_of(&models, "H1"), vec![row(30_000, 0)]);
    assert!(receivables_of(&models, "H2").is_empty());
}

#[test]
fn a_partial_recovery_leaves_the_rest_open() {
    let mut models = overpaid();
    apply_all(&mut models, &[recovered(10_000, date(2019, 3, 2))]);
    assert_eq!(receivables_of(&models, "H1"), vec![row(30_000, 10_000)]);
    let receivable = models.receivables().get(FINDING).expect("set");
    assert_eq!(receivable.open_fen(), 20_000);
}

#[test]
fn a_recovery_below_zero_is_refused_and_changes_nothing() {
    let mut models = overpaid();
    apply_all(&mut models, &[recovered(20_000, date(2019, 3, 2))]);
    let before = models.clone();
    let seq = models.next_seq().unwrap();
    let err = models
        .apply(seq, HASH, &recovered(10_001, date(2019, 4, 2)))
        .unwrap_err();
    assert_eq!(
        err,
        ProjectionError::Receivable(ReceivableError::BeyondOpen {
            finding: FINDING.into(),
            open_fen: 10_000,
            amount_fen: 10_001,
        })
    );
    assert_eq!(
        models, before,
        "a refused fact leaves the models as they were"
    );
    apply_all(&mut models, &[recovered(10_000, date(2019, 4, 2))]);
    assert_eq!(receivables_of(&models, "H1"), vec![row(30_000, 30_000)]);
}

#[test]
fn a_recovery_without_a_receivable_is_refused() {
    let mut models = ReadModels::new();
    apply_all(
        &mut models,
        &[enroll("H1", "拓东", "A", 2), allocate(ALLOWANCE, 100_000)],
    );
    let err = models
        .apply(3, HASH, &recovered(1, date(2019, 3, 2)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProjectionError::Receivable(ReceivableError::NoReceivable { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn a_superseding_decision_replaces_the_receivable() {
    let mut models = overpaid();
    apply_all(&mut models, &[receivable("H1", 12_000)]);
    assert_eq!(receivables_of(&models, "H1"), vec![row(12_000, 0)]);
    // A dismissal leaves nothing open.
    apply_all(
        &mut models,
        &[Fact::ReceivableSet {
            finding: FINDING.into(),
            household: "H1".into(),
            program: String::new(),
            amount_fen: 0,
        }],
    );
    assert!(receivables_of(&models, "H1").is_empty());
}

#[test]
fn a_superseding_decision_below_what_was_recovered_is_refused() {
    let mut models = overpaid();
    apply_all(&mut models, &[recovered(20_000, date(2019, 3, 2))]);
    let seq = models.next_seq().unwrap();
    let err = models
        .apply(seq, HASH, &receivable("H1", 19_999))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProjectionError::Receivable(ReceivableError::BelowRecovered {
                recovered_fen: 20_000,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn funds_remaining_includes_what_was_recovered() {
    let mut models = overpaid();
    apply_all(&mut models, &[recovered(10_000, date(2019, 3, 2))]);
    let funds = models.funds();
    assert_eq!(funds.len(), 1);
    let fund = &funds[0];
    assert_eq!(fund.program, ALLOWANCE);
    assert_eq!(fund.allocated_fen, 100_000);
    assert_eq!(fund.disbursed_fen, 30_000, "a recovery is no reversal");
    assert_eq!(fund.recovered_fen, 10_000);
    assert_eq!(fund.remaining_fen, 100_000 - 30_000 + 10_000);
}

#[test]
fn totals_show_recoveries_beside_payments_in_the_month_of_the_recovery() {
    let mut models = overpaid();
    apply_all(&mut models, &[recovered(10_000, date(2019, 3, 2))]);
    let by_month = TotalsQuery {
        by: vec![GroupKey::Month],
        ..TotalsQuery::default()
    };
    let rows = models.totals(&by_month);
    let figures: Vec<_> = rows
        .iter()
        .map(|r| (r.month.map(|m| m.to_string()), r.net_fen, r.recovered_fen))
        .collect();
    assert_eq!(
        figures,
        vec![
            (Some("2019-01".to_string()), 30_000, 0),
            (Some("2019-03".to_string()), 0, 10_000),
        ],
        "payments are not netted; the recovery counts in its own month"
    );
    assert_eq!(rows[1].payments, 0);
    assert_eq!(rows[1].households, 0);

    let grand = models.totals(&TotalsQuery::default());
    assert_eq!((grand[0].net_fen, grand[0].recovered_fen), (30_000, 10_000));

    let by_community = TotalsQuery {
        by: vec![GroupKey::Community],
        ..TotalsQuery::default()
    };
    let rows = models.totals(&by_community);
    let h1 = rows.iter().find(|r| r.community.as_deref() == Some("A"));
    assert_eq!(h1.map(|r| r.recovered_fen), Some(10_000));

    let february = TotalsQuery {
        month: Some(ym(2019, 2)),
        ..TotalsQuery::default()
    };
    assert!(
        models.totals(&february).is_empty(),
        "a filter narrows recoveries too"
    );
}

#[test]
fn a_reversed_recovery_opens_the_receivable_again() {
    let mut models = overpaid();
    apply_all(&mut models, &[recovered(10_000, date(2019, 3, 2))]);
    apply_all(
        &mut models,
        &[Fact::RecoveryReversed {
            target_seq: 6,
            finding: FINDING.into(),
            household: "H1".into(),
            program: ALLOWANCE.into(),
            amount_fen: 10_000,
            target_date: date(2019, 3, 2),
            date: date(2019, 3, 5),
            reason: "bounced".into(),
        }],
    );
    assert_eq!(receivables_of(&models, "H1"), vec![row(30_000, 0)]);
    assert_eq!(models.funds()[0].recovered_fen, 0);
    assert_eq!(models.funds()[0].remaining_fen, 70_000);
    let grand = models.totals(&TotalsQuery::default());
    assert_eq!(grand[0].recovered_fen, 0);
}

#[test]
fn receivables_survive_a_snapshot_and_equal_a_rebuild() {
    let mut models = overpaid();
    apply_all(&mut models, &[recovered(10_000, date(2019, 3, 2))]);
    let bytes = bincode::serialize(&models).unwrap();
    let loaded: ReadModels = bincode::deserialize(&bytes).unwrap();
    assert_eq!(loaded, models);
    assert_eq!(receivables_of(&loaded, "H1"), vec![row(30_000, 10_000)]);
    assert_eq!(
        loaded.totals(&TotalsQuery::default())[0].recovered_fen,
        10_000
    );
}
