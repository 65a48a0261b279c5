//! Hand-computed examples for each read model.

mod common;

use common::*;
use fundtrail_projections::{
    Applied, Enrollment, FundRow, GroupKey, ProgramTally, ReadModels, Tally, TotalsQuery, TotalsRow,
};

const SUPPORT: &str = "support_allowance";
const CONDOLENCE: &str = "holiday_condolence";
const TUODONG: &str = "拓东";
const GULOU: &str = "鼓楼";

/// Seqs 1..=15 (see the comments), then seq 16 is a non-fact event.
///
/// Live afterwards:
///   #6  H1 support    10000 fen, 2 persons, 2018-01
///   #8  H1 condolence 30000 fen, 1 person,  2018-02
///   #10 H3 support     8000 fen, 3 persons, 2018-02
///   #11 H3 support     8000 fen, 3 persons, 2019-01
///   #13 H2 support     5000 fen, 1 person,  2018-02
/// Reversed: #7 (H1, 2018-02) and #9 (H2, 2018-01; reversed on 2019-02-01).
fn scenario() -> ReadModels {
    let p7 = pay("H1", SUPPORT, 10_000, 2, date(2018, 2, 15));
    let p9 = pay("H2", SUPPORT, 5_000, 1, date(2018, 1, 20));
    let facts = vec![
        enroll("H1", TUODONG, "A", 2),                       // 1
        enroll("H2", TUODONG, "B", 1),                       // 2
        enroll("H3", GULOU, "A", 3), // 3: same community name, other sub-district
        allocate(SUPPORT, 100_000),  // 4
        allocate(CONDOLENCE, 50_000), // 5
        pay("H1", SUPPORT, 10_000, 2, date(2018, 1, 15)), // 6
        p7.clone(),                  // 7
        pay("H1", CONDOLENCE, 30_000, 1, date(2018, 2, 16)), // 8
        p9.clone(),                  // 9
        pay("H3", SUPPORT, 8_000, 3, date(2018, 2, 10)), // 10
        pay("H3", SUPPORT, 8_000, 3, date(2019, 1, 10)), // 11
        reverse(7, &p7, date(2018, 3, 1)), // 12
        pay("H2", SUPPORT, 5_000, 1, date(2018, 2, 20)), // 13
        allocate(SUPPORT, 20_000),   // 14
        reverse(9, &p9, date(2019, 2, 1)), // 15
    ];
    let mut models = ReadModels::new();
    apply_all(&mut models, &facts);
    models.skip(16, [16; 32]).expect("seq 16 is next");
    models
}

fn totals(models: &ReadModels, by: &[GroupKey]) -> Vec<TotalsRow> {
    models.totals(&TotalsQuery {
        by: by.to_vec(),
        ..TotalsQuery::default()
    })
}

fn row(net_fen: i64, payments: u64, households: u64, person_times: u64) -> TotalsRow {
    TotalsRow {
        subdistrict: None,
        community: None,
        program: None,
        year: None,
        month: None,
        net_fen,
        payments,
        households,
        person_times,
        recovered_fen: 0,
    }
}

fn tally(net_fen: i64, payments: u64, person_times: u64) -> Tally {
    Tally {
        net_fen,
        payments,
        person_times,
    }
}

#[test]
fn applied_records_the_last_seq_and_hash_including_skips() {
    let models = scenario();
    assert_eq!(
        models.applied(),
        Some(Applied {
            seq: 16,
            hash: [16; 32]
        })
    );
    assert_eq!(models.next_seq(), Ok(17));
}

#[test]
fn household_with_several_programs_and_a_reversal() {
    let h1 = scenario().household("H1").expect("H1 is enrolled");
    assert_eq!(h1.household, "H1");
    assert_eq!(
        h1.enrollment,
        Enrollment {
            subdistrict: TUODONG.into(),
            community: "A".into(),
            category: "bereaved".into(),
            members: 2,
            enrolled_on: date(2017, 12, 1),
        }
    );
    assert_eq!(
        h1.programs,
        vec![
            ProgramTally {
                program: CONDOLENCE.into(),
                tally: tally(30_000, 1, 1)
            },
            ProgramTally {
                program: SUPPORT.into(),
                tally: tally(10_000, 1, 2)
            },
        ]
    );
    assert_eq!(h1.total, tally(40_000, 2, 3));
}

#[test]
fn household_whose_only_early_payment_was_reversed_keeps_the_later_one() {
    let models = scenario();
    let h2 = models.household("H2").expect("H2 is enrolled");
    assert_eq!(h2.total, tally(5_000, 1, 1));
    let h3 = models.household("H3").expect("H3 is enrolled");
    assert_eq!(h3.total, tally(16_000, 2, 6));
    assert_eq!(h3.enrollment.subdistrict, GULOU);
    assert_eq!(models.household("H9"), None);
}

#[test]
fn fully_reversed_household_has_no_balance_and_no_cells() {
    let mut models = ReadModels::new();
    let p = pay("H1", SUPPORT, 700, 1, date(2019, 5, 5));
    apply_all(
        &mut models,
        &[
            enroll("H1", TUODONG, "A", 1),
            p.clone(),
            reverse(2, &p, date(2019, 6, 1)),
        ],
    );
    let h1 = models.household("H1").expect("enrolled");
    assert!(h1.programs.is_empty());
    assert_eq!(h1.total, Tally::default());
    assert!(totals(&models, &[]).is_empty());
    assert!(models.funds().is_empty(), "no allocation, no live payment");
    let size = models.size();
    assert_eq!((size.household_cells, size.group_cells), (0, 0));
}

#[test]
fn grand_total_counts_live_payments_only() {
    assert_eq!(totals(&scenario(), &[]), vec![row(61_000, 5, 3, 10)]);
}

#[test]
fn by_month_puts_a_reversal_in_its_targets_month() {
    // #9 (2018-01) was reversed on 2019-02-01: it leaves 2018-01, and
    // 2019-02 gets no row at all.
    let rows = totals(&scenario(), &[GroupKey::Month]);
    let expected = vec![
        TotalsRow {
            month: Some(ym(2018, 1)),
            ..row(10_000, 1, 1, 2)
        },
        TotalsRow {
            month: Some(ym(2018, 2)),
            ..row(43_000, 3, 3, 5)
        },
        TotalsRow {
            month: Some(ym(2019, 1)),
            ..row(8_000, 1, 1, 3)
        },
    ];
    assert_eq!(rows, expected);
}

#[test]
fn by_year_and_month_fills_both_keys() {
    let rows = totals(&scenario(), &[GroupKey::Month, GroupKey::Year]);
    let keys: Vec<_> = rows.iter().map(|r| (r.year, r.month)).collect();
    assert_eq!(
        keys,
        vec![
            (Some(2018), Some(ym(2018, 1))),
            (Some(2018), Some(ym(2018, 2))),
            (Some(2019), Some(ym(2019, 1))),
        ]
    );
}

#[test]
fn distinct_households_are_not_summed_across_months() {
    let models = scenario();
    // H3 was paid in 2018-02 and 2019-01: one household, two payments.
    let rows = totals(&models, &[GroupKey::Subdistrict]);
    let expected = vec![
        TotalsRow {
            subdistrict: Some(TUODONG.into()),
            ..row(45_000, 3, 2, 4)
        },
        TotalsRow {
            subdistrict: Some(GULOU.into()),
            ..row(16_000, 2, 1, 6)
        },
    ];
    assert_eq!(rows, expected);
    let by_year = totals(&models, &[GroupKey::Year]);
    assert_eq!(
        by_year,
        vec![
            TotalsRow {
                year: Some(2018),
                ..row(53_000, 4, 3, 7)
            },
            TotalsRow {
                year: Some(2019),
                ..row(8_000, 1, 1, 3)
            },
        ]
    );
}

/// A month a monthly program skipped is an empty slot of the household's row for
/// it; another program's payment in that month reaches the household in the month,
/// in the totals kept up to date since the first query as in totals computed anew.
#[test]
fn a_payment_in_a_month_another_program_skipped_reaches_the_household() {
    let mut facts = vec![
        enroll("H1", TUODONG, "A", 2),
        allocate(SUPPORT, 1_000_000),
        allocate(CONDOLENCE, 100_000),
    ];
    for month in (1..=12).filter(|month| *month != 3) {
        facts.push(pay("H1", SUPPORT, 10_000, 2, date(2018, month, 15)));
    }
    let mut models = ReadModels::new();
    apply_all(&mut models, &facts);
    let march = |models: &ReadModels| {
        totals(models, &[GroupKey::Month])
            .into_iter()
            .find(|row| row.month == Some(ym(2018, 3)))
    };
    assert_eq!(march(&models), None, "the first query");
    let condolence = pay("H1", CONDOLENCE, 30_000, 1, date(2018, 3, 16));
    let seq = models.next_seq().expect("seq fits");
    apply_all(&mut models, std::slice::from_ref(&condolence));
    let expected = TotalsRow {
        month: Some(ym(2018, 3)),
        ..row(30_000, 1, 1, 1)
    };
    assert_eq!(march(&models), Some(expected.clone()));
    let bytes = bincode::serialize(&models).expect("serialize");
    let anew: ReadModels = bincode::deserialize(&bytes).expect("deserialize");
    assert_eq!(march(&anew), Some(expected));
    apply_all(&mut models, &[reverse(seq, &condolence, date(2018, 4, 1))]);
    assert_eq!(march(&models), None);
}

#[test]
fn communities_with_the_same_name_in_two_subdistricts_stay_apart() {
    let rows = totals(&scenario(), &[GroupKey::Community]);
    let community = |s: &str, c: &str, r: TotalsRow| TotalsRow {
        subdistrict: Some(s.into()),
        community: Some(c.into()),
        ..r
    };
    assert_eq!(
        rows,
        vec![
            community(TUODONG, "A", row(40_000, 2, 1, 3)),
            community(TUODONG, "B", row(5_000, 1, 1, 1)),
            community(GULOU, "A", row(16_000, 2, 1, 6)),
        ]
    );
}

#[test]
fn by_program() {
    let rows = totals(&scenario(), &[GroupKey::Program]);
    assert_eq!(
        rows,
        vec![
            TotalsRow {
                program: Some(CONDOLENCE.into()),
                ..row(30_000, 1, 1, 1)
            },
            TotalsRow {
                program: Some(SUPPORT.into()),
                ..row(31_000, 4, 3, 9)
            },
        ]
    );
}

#[test]
fn filter_by_year_grouped_by_subdistrict() {
    let rows = scenario().totals(&TotalsQuery {
        by: vec![GroupKey::Subdistrict],
        year: Some(2018),
        ..TotalsQuery::default()
    });
    assert_eq!(
        rows,
        vec![
            TotalsRow {
                subdistrict: Some(TUODONG.into()),
                ..row(45_000, 3, 2, 4)
            },
            TotalsRow {
                subdistrict: Some(GULOU.into()),
                ..row(8_000, 1, 1, 3)
            },
        ]
    );
}

#[test]
fn filter_by_month_grouped_by_program() {
    let rows = scenario().totals(&TotalsQuery {
        by: vec![GroupKey::Program],
        month: Some(ym(2018, 2)),
        ..TotalsQuery::default()
    });
    assert_eq!(
        rows,
        vec![
            TotalsRow {
                program: Some(CONDOLENCE.into()),
                ..row(30_000, 1, 1, 1)
            },
            TotalsRow {
                program: Some(SUPPORT.into()),
                ..row(13_000, 2, 2, 4)
            },
        ]
    );
}

#[test]
fn filter_by_subdistrict_grouped_by_month() {
    let rows = scenario().totals(&TotalsQuery {
        by: vec![GroupKey::Month],
        subdistrict: Some(GULOU.into()),
        ..TotalsQuery::default()
    });
    assert_eq!(
        rows,
        vec![
            TotalsRow {
                month: Some(ym(2018, 2)),
                ..row(8_000, 1, 1, 3)
            },
            TotalsRow {
                month: Some(ym(2019, 1)),
                ..row(8_000, 1, 1, 3)
            },
        ]
    );
}

#[test]
fn filter_by_program_without_grouping_is_one_row() {
    let rows = scenario().totals(&TotalsQuery {
        program: Some(SUPPORT.into()),
        ..TotalsQuery::default()
    });
    assert_eq!(rows, vec![row(31_000, 4, 3, 9)]);
}

#[test]
fn filters_that_match_nothing_give_no_rows() {
    let models = scenario();
    let unknown_subdistrict = TotalsQuery {
        subdistrict: Some("no such place".into()),
        ..TotalsQuery::default()
    };
    let unknown_program = TotalsQuery {
        program: Some("no_such_program".into()),
        ..TotalsQuery::default()
    };
    let contradictory = TotalsQuery {
        year: Some(2019),
        month: Some(ym(2018, 1)),
        ..TotalsQuery::default()
    };
    let empty_month = TotalsQuery {
        month: Some(ym(2019, 2)),
        ..TotalsQuery::default()
    };
    for query in [
        unknown_subdistrict,
        unknown_program,
        contradictory,
        empty_month,
    ] {
        assert_eq!(models.totals(&query), vec![], "{query:?}");
    }
}

#[test]
fn funds_show_allocated_disbursed_and_remaining() {
    assert_eq!(
        scenario().funds(),
        vec![
            FundRow {
                program: CONDOLENCE.into(),
                allocations: 1,
                allocated_fen: 50_000,
                payments: 1,
                disbursed_fen: 30_000,
                recovered_fen: 0,
                remaining_fen: 20_000,
            },
            FundRow {
                program: SUPPORT.into(),
                allocations: 2,
                allocated_fen: 120_000,
                payments: 4,
                disbursed_fen: 31_000,
                recovered_fen: 0,
                remaining_fen: 89_000,
            },
        ]
    );
}

#[test]
fn snapshot_round_trips_through_bincode() {
    let models = scenario();
    let bytes = bincode::serialize(&models).expect("serialize");
    let back: ReadModels = bincode::deserialize(&bytes).expect("deserialize");
    assert_eq!(back, models);
    assert_eq!(back.household("H1"), models.household("H1"));
    assert_eq!(back.funds(), models.funds());
    let query = TotalsQuery {
        by: vec![GroupKey::Community, GroupKey::Month],
        ..TotalsQuery::default()
    };
    assert_eq!(back.totals(&query), models.totals(&query));
    assert!(!back.totals(&query).is_empty());
    // The restored model keeps folding from where it stopped.
    let mut back = back;
    apply_all(&mut back, &[pay("H2", SUPPORT, 1, 1, date(2019, 3, 3))]);
    assert_eq!(back.household("H2").map(|h| h.total.net_fen), Some(5_001));
}

#[test]
fn same_facts_give_equal_models_and_equal_bytes() {
    let a = scenario();
    let b = scenario();
    assert_eq!(a, b);
    assert_eq!(
        bincode::serialize(&a).expect("serialize"),
        bincode::serialize(&b).expect("serialize")
    );
}

#[test]
fn payment_then_reversal_leaves_totals_as_if_never_paid() {
    let mut with_reversal = ReadModels::new();
    let mut without = ReadModels::new();
    let base = [
        enroll("H1", TUODONG, "A", 1),
        allocate(SUPPORT, 1_000),
        pay("H1", SUPPORT, 300, 1, date(2019, 1, 2)),
    ];
    apply_all(&mut with_reversal, &base);
    apply_all(&mut without, &base);
    let extra = pay("H1", SUPPORT, 200, 2, date(2019, 4, 2));
    apply_all(
        &mut with_reversal,
        &[extra.clone(), reverse(4, &extra, date(2019, 5, 1))],
    );
    for by in [
        vec![],
        vec![GroupKey::Month],
        vec![GroupKey::Community, GroupKey::Program, GroupKey::Year],
    ] {
        assert_eq!(totals(&with_reversal, &by), totals(&without, &by));
    }
    assert_eq!(with_reversal.funds(), without.funds());
    assert_eq!(with_reversal.household("H1"), without.household("H1"));
    assert_eq!(with_reversal.size(), without.size());
}

#[test]
fn enrolled_household_without_payments_is_reported_but_not_counted() {
    let mut models = ReadModels::new();
    apply_all(&mut models, &[enroll("H1", TUODONG, "A", 4)]);
    let h1 = models.household("H1").expect("enrolled");
    assert_eq!(h1.enrollment.members, 4);
    assert_eq!(h1.total, Tally::default());
    assert!(totals(&models, &[GroupKey::Subdistrict]).is_empty());
}

#[test]
fn zero_amount_service_event_counts_as_a_payment() {
    let mut models = ReadModels::new();
    apply_all(
        &mut models,
        &[
            enroll("H1", TUODONG, "A", 1),
            pay("H1", "family_doctor", 0, 1, date(2019, 1, 2)),
        ],
    );
    assert_eq!(totals(&models, &[]), vec![row(0, 1, 1, 1)]);
}
