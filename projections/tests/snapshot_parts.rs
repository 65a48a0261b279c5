//! The read models split into records (`snapshot`) answer exactly as the whole fold does:
//! for random histories of enrollments, payments, reversals, receivables and recoveries,
//! every household's balance read from its shard, and every totals query read from the
//! cube records it names, equal the in-memory models' answers; and the whole state put
//! back from its records equals the original.

use fundtrail_projections::{
    household_shard, CubeData, CubeRecords, Date, Fact, GroupKey, Parts, PaymentKind, ReadModels,
    TotalsQuery, YearMonth,
};
use proptest::prelude::*;

const HOUSEHOLDS: usize = 9;
const PROGRAMS: [&str; 3] = ["support_allowance", "holiday_condolence", "medical"];
const SUBDISTRICTS: [&str; 2] = ["拓东", "鼓楼"];
const YEARS: [i32; 3] = [2018, 2019, 2020];

/// One step of a random history; indexes are taken modulo what exists.
#[derive(Clone, Debug)]
enum Step {
    Pay {
        household: usize,
        program: usize,
        year: usize,
        month: u8,
        fen: i64,
    },
    /// Reverses the n-th live payment, if any.
    Reverse(usize),
    /// Sets a receivable on the n-th household and recovers part of it.
    Recover {
        household: usize,
        fen: i64,
        year: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..HOUSEHOLDS, 0..PROGRAMS.len(), 0..YEARS.len(), 1u8..=12, 1i64..100_000)
            .prop_map(|(household, program, year, month, fen)| Step::Pay {
                household,
                program,
                year,
                month,
                fen
            }),
        2 => (0usize..64).prop_map(Step::Reverse),
        1 => (0..HOUSEHOLDS, 1i64..10_000, 0..YEARS.len())
            .prop_map(|(household, fen, year)| Step::Recover { household, fen, year }),
    ]
}

fn household(n: usize) -> String {
    format!("H{n:03}")
}

fn date(year: i32, month: u8) -> Date {
    Date {
        year,
        month,
        day: 10,
    }
}

/// The facts of a history, each applicable in order.
fn facts(steps: &[Step]) -> Vec<Fact> {
    let mut facts: Vec<Fact> = (0..HOUSEHOLDS)
        .map(|n| Fact::HouseholdEnrolled {
            household: household(n),
            subdistrict: SUBDISTRICTS[n % 2].into(),
            community: format!("C{}", n % 3),
            category: "bereaved".into(),
            members: 2,
            enrolled_on: date(2018, 1),
        })
        .collect();
    let mut live: Vec<(u64, Fact)> = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::Pay {
                household: h,
                program,
                year,
                month,
                fen,
            } => {
                let fact = Fact::Paid {
                    kind: PaymentKind::Disbursement,
                    household: household(*h),
                    program: PROGRAMS[*program].into(),
                    amount_fen: *fen,
                    persons: 2,
                    date: date(YEARS[*year], *month),
                    reference: format!("PAY-{n}"),
                };
                live.push((facts.len() as u64 + 1, fact.clone()));
                facts.push(fact);
            }
            Step::Reverse(i) if !live.is_empty() => {
                let (target_seq, target) = live.remove(i % live.len());
                let Fact::Paid {
                    household,
                    program,
                    amount_fen,
                    persons,
                    date: target_date,
                    ..
                } = target
                else {
                    unreachable!("only payments are live")
                };
                facts.push(Fact::Reversed {
                    target_seq,
                    household,
                    program,
                    amount_fen,
                    persons,
                    target_date,
                    date: date(2021, 1),
                    reason: "wrong account".into(),
                });
            }
            Step::Reverse(_) => {}
            Step::Recover {
                household: h,
                fen,
                year,
            } => {
                let finding = format!("F-{n}");
                facts.push(Fact::ReceivableSet {
                    finding: finding.clone(),
                    household: household(*h),
                    program: PROGRAMS[0].into(),
                    amount_fen: fen * 2,
                });
                facts.push(Fact::Recovered {
                    finding,
                    household: household(*h),
                    program: PROGRAMS[0].into(),
                    amount_fen: *fen,
                    date: date(YEARS[*year], 6),
                    reference: format!("REC-{n}"),
                });
            }
        }
    }
    facts
}

/// Every grouping (each subset of the keys) with no filter, a year, a month, a
/// sub-district or a program filter, and filters naming nothing seen.
fn queries() -> Vec<TotalsQuery> {
    let keys = [
        GroupKey::Subdistrict,
        GroupKey::Community,
        GroupKey::Program,
        GroupKey::Year,
        GroupKey::Month,
    ];
    let mut queries = Vec::new();
    for mask in 0u32..(1 << keys.len()) {
        let by: Vec<GroupKey> = (0..keys.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| keys[i])
            .collect();
        let base = TotalsQuery {
            by,
            ..TotalsQuery::default()
        };
        queries.push(base.clone());
        queries.push(TotalsQuery {
            year: Some(2019),
            ..base.clone()
        });
        queries.push(TotalsQuery {
            year: Some(1999),
            ..base.clone()
        });
        queries.push(TotalsQuery {
            month: Some(YearMonth {
                year: 2020,
                month: 6,
            }),
            ..base.clone()
        });
        queries.push(TotalsQuery {
            subdistrict: Some(SUBDISTRICTS[1].into()),
            ..base.clone()
        });
        queries.push(TotalsQuery {
            program: Some(PROGRAMS[0].into()),
            ..base
        });
    }
    queries
}

/// The cube records a query names, as a reader would pick them from the parts.
fn cubes_for<'a>(parts: &'a Parts, query: &TotalsQuery) -> Vec<&'a CubeData> {
    match query.cube_records() {
        CubeRecords::AllTime => vec![&parts.all_time],
        CubeRecords::Year(year) => parts.years.get(&year).into_iter().collect(),
        CubeRecords::EveryYear => parts.years.values().collect(),
    }
}

fn fold(facts: &[Fact]) -> ReadModels {
    let mut models = ReadModels::new();
    for (seq, fact) in (1..).zip(facts) {
        models
            .apply(seq, [seq as u8; 32], fact)
            .unwrap_or_else(|e| panic!("seq {seq}: {e}"));
    }
    models
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn records_answer_as_the_whole_fold(steps in prop::collection::vec(step(), 0..120)) {
        let models = fold(&facts(&steps));
        let parts = models.parts();

        for n in 0..=HOUSEHOLDS {
            let id = household(n);
            let shard = &parts.shards[usize::from(household_shard(&id))];
            prop_assert_eq!(parts.core.household(shard, &id), models.household(&id));
        }
        for query in queries() {
            let stored = parts.core.totals(&query, cubes_for(&parts, &query).into_iter());
            prop_assert_eq!(stored, models.totals(&query), "{:?}", query);
        }
        prop_assert_eq!(parts.core.funds(), models.funds());

        let back = ReadModels::from_parts(parts.core.clone(), parts.shards.clone())
            .expect("the parts fit together");
        prop_assert_eq!(&back, &models);
        prop_assert_eq!(back.parts(), parts);
    }
}

#[test]
fn a_household_in_the_wrong_shard_or_missing_is_refused() {
    let models = fold(&facts(&[Step::Pay {
        household: 1,
        program: 0,
        year: 0,
        month: 3,
        fen: 100,
    }]));
    let Parts { core, shards, .. } = models.parts();
    let holding = usize::from(household_shard(&household(1)));

    let mut moved = shards.clone();
    let taken = std::mem::take(&mut moved[holding]);
    moved[(holding + 1) % shards.len()] = taken;
    let err = ReadModels::from_parts(core.clone(), moved).expect_err("moved");
    assert!(err.to_string().contains("not its own"), "{err}");

    let mut missing = shards.clone();
    missing[holding] = Default::default();
    let err = ReadModels::from_parts(core.clone(), missing).expect_err("missing");
    assert!(err.to_string().contains("missing"), "{err}");

    let err = ReadModels::from_parts(core, shards[..10].to_vec()).expect_err("too few");
    assert!(err.to_string().contains("household shards"), "{err}");
}

#[test]
fn the_all_time_record_holds_no_period_and_years_hold_their_own() {
    let steps: Vec<Step> = (0..YEARS.len())
        .map(|year| Step::Pay {
            household: year,
            program: year,
            year,
            month: 5,
            fen: 1_000,
        })
        .collect();
    let models = fold(&facts(&steps));
    let parts = models.parts();
    let years: Vec<i32> = parts.years.keys().copied().collect();
    assert_eq!(years, YEARS.to_vec());
    let by_program = TotalsQuery {
        by: vec![GroupKey::Program],
        ..TotalsQuery::default()
    };
    // Every program's all-time row comes from the all-time record alone.
    let rows = parts
        .core
        .totals(&by_program, std::iter::once(&parts.all_time));
    assert_eq!(rows.len(), 3);
    // A year's record holds nothing of other years.
    let by_year = TotalsQuery {
        by: vec![GroupKey::Year],
        ..TotalsQuery::default()
    };
    let only_2019 = parts
        .core
        .totals(&by_year, parts.years.get(&2019).into_iter());
    assert_eq!(only_2019.len(), 1);
    assert_eq!(only_2019[0].year, Some(2019));
}
