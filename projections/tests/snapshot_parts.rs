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

    /// The shards alone and the parts of no shard are the whole parts, split.
    #[test]
    fn the_shards_and_the_cube_apart_are_the_parts(steps in prop::collection::vec(step(), 0..120)) {
        let models = fold(&facts(&steps));
        let parts = models.parts();
        prop_assert_eq!(models.shard_parts(), parts.shards);
        let rest = models.parts_where(|_| false);
        prop_assert!(rest.shards.iter().all(Option::is_none));
        prop_assert_eq!(rest.core, parts.core);
        prop_assert_eq!(rest.all_time, parts.all_time);
        prop_assert_eq!(rest.years, parts.years);
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

/// Bytes of every shard's encoding, to compare shards as a snapshot stores them.
fn shard_bytes(parts: &Parts) -> Vec<Vec<u8>> {
    parts
        .shards
        .iter()
        .map(|shard| bincode::serialize(shard).expect("a shard encodes"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Models loaded from a snapshot at `split` and folded on to the end know which shards
    /// changed after it: every other shard encodes as it did at `split`, and the parts of
    /// the changed shards only are those of the whole parts.
    #[test]
    fn the_shards_marked_changed_are_all_that_differ_from_the_snapshot(
        steps in prop::collection::vec(step(), 0..120),
        cut in 0.0f64..=1.0,
    ) {
        let facts = facts(&steps);
        let split = ((facts.len() as f64) * cut) as usize;
        let before = fold(&facts[..split]);
        let saved = before.parts();
        let mut models = ReadModels::from_parts(saved.core.clone(), saved.shards.clone())
            .expect("the parts fit together");
        for shard in 0..=u8::MAX {
            prop_assert!(!models.shard_changed_after(shard, split as u64));
        }
        for (seq, fact) in (split as u64 + 1..).zip(&facts[split..]) {
            models.apply(seq, [seq as u8; 32], fact).expect("applies");
        }
        let whole = models.parts();
        let (now, then) = (shard_bytes(&whole), shard_bytes(&saved));
        let changed = models.parts_where(|shard| models.shard_changed_after(shard, split as u64));
        for shard in 0..=u8::MAX {
            let i = usize::from(shard);
            match &changed.shards[i] {
                Some(data) => prop_assert_eq!(data, &whole.shards[i]),
                None => prop_assert_eq!(&now[i], &then[i], "shard {} changed unmarked", shard),
            }
        }
        prop_assert_eq!(&changed.core, &whole.core);
        prop_assert_eq!(&changed.all_time, &whole.all_time);
        prop_assert_eq!(&changed.years, &whole.years);
        prop_assert_eq!(changed.into_owned().shards.len(), whole.shards.len());
    }
}

/// A fold from genesis marks every shard that holds a household as changed after seq 0,
/// and no shard as changed after its last event; an allocation or a receivable alone
/// (held in the core) marks no shard.
#[test]
fn a_fold_marks_the_shards_of_the_households_it_changed() {
    let facts = facts(&[]);
    let mut models = fold(&facts);
    let mut held = std::collections::BTreeSet::new();
    for n in 0..HOUSEHOLDS {
        held.insert(household_shard(&household(n)));
    }
    for shard in 0..=u8::MAX {
        assert_eq!(models.shard_changed_after(shard, 0), held.contains(&shard));
        assert!(!models.shard_changed_after(shard, facts.len() as u64));
    }
    let last = facts.len() as u64;
    let core_only = [
        Fact::Allocated {
            program: PROGRAMS[0].into(),
            amount_fen: 100,
            date: date(2019, 1),
            source: "budget".into(),
        },
        Fact::ReceivableSet {
            finding: "F-1".into(),
            household: household(0),
            program: PROGRAMS[0].into(),
            amount_fen: 50,
        },
    ];
    for (seq, fact) in (last + 1..).zip(&core_only) {
        models.apply(seq, [0; 32], fact).expect("applies");
    }
    assert!((0..=u8::MAX).all(|shard| !models.shard_changed_after(shard, last)));
    let paid = Fact::Paid {
        kind: PaymentKind::Disbursement,
        household: household(4),
        program: PROGRAMS[1].into(),
        amount_fen: 100,
        persons: 1,
        date: date(2019, 3),
        reference: "PAY-X".into(),
    };
    let seq = last + 3;
    models.apply(seq, [0; 32], &paid).expect("applies");
    let marked: Vec<u8> = (0..=u8::MAX)
        .filter(|&shard| models.shard_changed_after(shard, last))
        .collect();
    assert_eq!(marked, vec![household_shard(&household(4))]);
}

/// A fact that fails changes nothing, its household's shard's mark included.
#[test]
fn a_failed_fact_marks_nothing() {
    let facts = facts(&[]);
    let mut models = fold(&facts);
    let last = facts.len() as u64;
    let overdrawn = Fact::Reversed {
        target_seq: 1,
        household: household(2),
        program: PROGRAMS[0].into(),
        amount_fen: 100,
        persons: 1,
        target_date: date(2019, 3),
        date: date(2019, 4),
        reason: "never paid".into(),
    };
    assert!(models.apply(last + 1, [0; 32], &overdrawn).is_err());
    assert!((0..=u8::MAX).all(|shard| !models.shard_changed_after(shard, last)));
}
