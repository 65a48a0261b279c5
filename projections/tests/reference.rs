//! Property test: the maintained models agree with a plain recomputation
//! from the full list of facts.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use fundtrail_projections::{
    Date, Enrollment, Fact, FundRow, GroupKey, HouseholdBalance, HouseholdNumbers, PaymentKind,
    Prepared, ProgramTally, ReadModels, Tally, TotalsQuery, TotalsRow, YearMonth,
};
use proptest::prelude::*;

/// (household, sub-district, community). C1 exists in two sub-districts.
const HOUSEHOLDS: [(&str, &str, &str); 6] = [
    ("H0", "S1", "C1"),
    ("H1", "S1", "C1"),
    ("H2", "S1", "C2"),
    ("H3", "S2", "C1"),
    ("H4", "S2", "C3"),
    ("H5", "S3", "C4"),
];
const PROGRAMS: [&str; 3] = ["p_a", "p_b", "p_c"];
const KINDS: [PaymentKind; 4] = [
    PaymentKind::Disbursement,
    PaymentKind::InsurancePurchase,
    PaymentKind::CondolencePayment,
    PaymentKind::InKindBenefit,
];
const ALL_KEYS: [GroupKey; 5] = [
    GroupKey::Subdistrict,
    GroupKey::Community,
    GroupKey::Program,
    GroupKey::Year,
    GroupKey::Month,
];
/// Enough cases to hit reversals across months and shared community names,
/// few enough to keep the suite well under a few seconds in debug builds.
const CASES: u32 = 96;
const MAX_OPS: usize = 80;

#[derive(Clone, Debug)]
enum Op {
    Enroll(usize),
    Allocate(usize, i64),
    Pay {
        household: usize,
        program: usize,
        kind: usize,
        amount_fen: i64,
        persons: u32,
        date: Date,
    },
    Reverse {
        pick: usize,
        date: Date,
    },
    /// A reversal claiming more money than its cell holds: must be rejected.
    /// (An amount off by a little can pass when other payments share the
    /// cell; the fold keeps no per-event data to catch that.)
    BadReverse {
        pick: usize,
    },
    /// A payment to a household that is never enrolled: must be rejected.
    PayStranger,
    /// An event that is not a fact.
    Other,
}

/// What the test feeds the models, in order.
#[derive(Clone, Debug)]
enum Step {
    Fact(Fact),
    Skip,
    Reject(Fact),
}

fn date_strategy() -> impl Strategy<Value = Date> {
    (2018..=2019i32, 1..=3u8, 1..=28u8).prop_map(|(year, month, day)| Date { year, month, day })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..HOUSEHOLDS.len()).prop_map(Op::Enroll),
        1 => (0..PROGRAMS.len(), 0..50_000i64).prop_map(|(p, a)| Op::Allocate(p, a)),
        6 => (
            0..HOUSEHOLDS.len(),
            0..PROGRAMS.len(),
            0..KINDS.len(),
            0..20_000i64,
            0..4u32,
            date_strategy()
        )
            .prop_map(|(household, program, kind, amount_fen, persons, date)| Op::Pay {
                household,
                program,
                kind,
                amount_fen,
                persons,
                date,
            }),
        3 => (any::<usize>(), date_strategy()).prop_map(|(pick, date)| Op::Reverse { pick, date }),
        1 => any::<usize>().prop_map(|pick| Op::BadReverse { pick }),
        1 => Just(Op::PayStranger),
        1 => Just(Op::Other),
    ]
}

fn enrollment_fact(index: usize) -> Fact {
    let (household, subdistrict, community) = HOUSEHOLDS[index];
    Fact::HouseholdEnrolled {
        household: household.into(),
        subdistrict: subdistrict.into(),
        community: community.into(),
        category: format!("cat{}", index % 2),
        members: u32::try_from(index).expect("small") + 1,
        enrolled_on: date(2017, 1, 1),
    }
}

/// Turns random ops into a valid event stream: payments enroll their
/// household first, reversals pick an earlier unreversed payment.
fn build(ops: &[Op]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut enrolled = BTreeSet::new();
    let mut live: Vec<(u64, Fact)> = Vec::new();
    let mut seq = 0u64;
    let mut push = |steps: &mut Vec<Step>, step: Step| {
        if !matches!(step, Step::Reject(_)) {
            seq += 1;
        }
        steps.push(step);
        seq
    };
    for op in ops {
        match op {
            Op::Enroll(h) => {
                let step = if enrolled.insert(*h) {
                    Step::Fact(enrollment_fact(*h))
                } else {
                    Step::Skip
                };
                push(&mut steps, step);
            }
            Op::Allocate(p, amount) => {
                push(&mut steps, Step::Fact(allocate(PROGRAMS[*p], *amount)));
            }
            Op::Pay {
                household,
                program,
                kind,
                amount_fen,
                persons,
                date,
            } => {
                if enrolled.insert(*household) {
                    push(&mut steps, Step::Fact(enrollment_fact(*household)));
                }
                let fact = Fact::Paid {
                    kind: KINDS[*kind],
                    household: HOUSEHOLDS[*household].0.into(),
                    program: PROGRAMS[*program].into(),
                    amount_fen: *amount_fen,
                    persons: *persons,
                    date: *date,
                    reference: format!("r{}", steps.len()),
                };
                let at = push(&mut steps, Step::Fact(fact.clone()));
                live.push((at, fact));
            }
            Op::Reverse { pick, date } => {
                if !live.is_empty() {
                    let (target_seq, target) = live.remove(pick % live.len());
                    push(&mut steps, Step::Fact(reverse(target_seq, &target, *date)));
                }
            }
            Op::BadReverse { pick } => {
                if let Some((target_seq, target)) = live.get(pick % live.len().max(1)) {
                    let mut bad = reverse(*target_seq, target, date(2019, 6, 1));
                    if let Fact::Reversed { amount_fen, .. } = &mut bad {
                        *amount_fen = i64::MAX;
                    }
                    push(&mut steps, Step::Reject(bad));
                }
            }
            Op::PayStranger => {
                let fact = pay("stranger", PROGRAMS[0], 1, 1, date(2018, 1, 1));
                push(&mut steps, Step::Reject(fact));
            }
            Op::Other => {
                push(&mut steps, Step::Skip);
            }
        }
    }
    steps
}

/// Feeds the steps; rejected facts must fail and change nothing. Before step
/// `first_query` a query builds the totals cube, so the steps after it update
/// the cube fact by fact while the ones before only reach it through the
/// one-pass derivation.
fn fold(steps: &[Step], first_query: usize) -> Result<ReadModels, TestCaseError> {
    let mut models = ReadModels::new();
    for (index, step) in steps.iter().enumerate() {
        if index == first_query {
            models.totals(&TotalsQuery::default());
        }
        let seq = models.next_seq().expect("seq fits");
        let hash = [u8::try_from(seq % 256).expect("byte"); 32];
        match step {
            Step::Fact(fact) => prop_assert_eq!(models.apply(seq, hash, fact), Ok(())),
            Step::Skip => prop_assert_eq!(models.skip(seq, hash), Ok(())),
            Step::Reject(fact) => {
                let before = models.clone();
                prop_assert!(models.apply(seq, hash, fact).is_err());
                prop_assert_eq!(&models, &before);
            }
        }
    }
    Ok(models)
}

/// As [`fold`] (without queries), but each fact is prepared while the one before it
/// is still to be folded, as a replay does: its names may be enrolled or first paid
/// in just before it is applied.
fn fold_prepared(steps: &[Step]) -> Result<ReadModels, TestCaseError> {
    fold_prepared_with(steps, None)
}

/// A number for each household a payment names, as a replay gives them: its place in
/// [`HOUSEHOLDS`], and one past them for the stranger.
fn household_number(fact: &Fact) -> Option<u32> {
    let Fact::Paid { household, .. } = fact else {
        return None;
    };
    let place = HOUSEHOLDS.iter().position(|(h, _, _)| h == household);
    u32::try_from(place.unwrap_or(HOUSEHOLDS.len())).ok()
}

/// As [`fold_prepared`], each payment's household found by its number in `numbers`
/// where given.
fn fold_prepared_with(
    steps: &[Step],
    mut numbers: Option<HouseholdNumbers>,
) -> Result<ReadModels, TestCaseError> {
    let mut models = ReadModels::new();
    let mut pending: Option<(&Step, Option<Prepared>)> = None;
    for step in steps.iter().map(Some).chain([None]) {
        let next = step.map(|step| match step {
            Step::Fact(fact) | Step::Reject(fact) => {
                let numbered = household_number(fact).zip(numbers.as_mut());
                (step, Some(models.prepare_numbered(fact.clone(), numbered)))
            }
            Step::Skip => (step, None),
        });
        let Some((step, prepared)) = std::mem::replace(&mut pending, next) else {
            continue;
        };
        let seq = models.next_seq().expect("seq fits");
        let hash = [u8::try_from(seq % 256).expect("byte"); 32];
        match (step, prepared) {
            (Step::Fact(_), Some(prepared)) => {
                prop_assert_eq!(models.apply_prepared(seq, hash, &prepared), Ok(()));
            }
            (Step::Reject(_), Some(prepared)) => {
                let before = models.clone();
                prop_assert!(models.apply_prepared(seq, hash, &prepared).is_err());
                prop_assert_eq!(&models, &before);
            }
            _ => prop_assert_eq!(models.skip(seq, hash), Ok(())),
        }
    }
    Ok(models)
}

// ---- the reference: recompute everything from the list, plainly ----------

#[derive(Clone, Debug)]
struct Payment {
    household: String,
    program: String,
    amount_fen: i64,
    persons: u32,
    date: Date,
}

struct Reference {
    enrollments: BTreeMap<String, Enrollment>,
    live: Vec<Payment>,
    allocations: BTreeMap<String, (u64, i64)>,
}

impl Reference {
    fn new(steps: &[Step]) -> Reference {
        let mut enrollments = BTreeMap::new();
        let mut payments: BTreeMap<u64, Payment> = BTreeMap::new();
        let mut allocations: BTreeMap<String, (u64, i64)> = BTreeMap::new();
        let facts = steps.iter().filter_map(|step| match step {
            Step::Fact(fact) => Some(Some(fact)),
            Step::Skip => Some(None),
            Step::Reject(_) => None,
        });
        for (seq, fact) in (1u64..).zip(facts) {
            match fact {
                Some(Fact::HouseholdEnrolled {
                    household,
                    subdistrict,
                    community,
                    category,
                    members,
                    enrolled_on,
                }) => {
                    enrollments.insert(
                        household.clone(),
                        Enrollment {
                            subdistrict: subdistrict.clone(),
                            community: community.clone(),
                            category: category.clone(),
                            members: *members,
                            enrolled_on: *enrolled_on,
                        },
                    );
                }
                Some(Fact::Allocated {
                    program,
                    amount_fen,
                    ..
                }) => {
                    let entry = allocations.entry(program.clone()).or_default();
                    entry.0 += 1;
                    entry.1 += amount_fen;
                }
                Some(Fact::Paid {
                    household,
                    program,
                    amount_fen,
                    persons,
                    date,
                    ..
                }) => {
                    let payment = Payment {
                        household: household.clone(),
                        program: program.clone(),
                        amount_fen: *amount_fen,
                        persons: *persons,
                        date: *date,
                    };
                    payments.insert(seq, payment);
                }
                // Recoveries have their own tests (recoveries.rs).
                Some(
                    Fact::ReceivableSet { .. }
                    | Fact::Recovered { .. }
                    | Fact::RecoveryReversed { .. },
                ) => panic!("the generator makes no recoveries"),
                Some(Fact::Reversed { target_seq, .. }) => {
                    payments.remove(target_seq);
                }
                None => {}
            }
        }
        Reference {
            enrollments,
            live: payments.into_values().collect(),
            allocations,
        }
    }

    fn totals(&self, query: &TotalsQuery) -> Vec<TotalsRow> {
        type Key = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i32>,
            Option<YearMonth>,
        );
        let has = |key| query.by.contains(&key);
        let mut groups: BTreeMap<Key, (i64, u64, BTreeSet<String>, u64)> = BTreeMap::new();
        for p in &self.live {
            let e = &self.enrollments[&p.household];
            let month = p.date.year_month();
            if query.year.is_some_and(|y| y != p.date.year)
                || query.month.is_some_and(|m| m != month)
                || query
                    .subdistrict
                    .as_ref()
                    .is_some_and(|s| *s != e.subdistrict)
                || query.program.as_ref().is_some_and(|x| *x != p.program)
            {
                continue;
            }
            let key = (
                (has(GroupKey::Subdistrict) || has(GroupKey::Community))
                    .then(|| e.subdistrict.clone()),
                has(GroupKey::Community).then(|| e.community.clone()),
                has(GroupKey::Program).then(|| p.program.clone()),
                has(GroupKey::Year).then_some(p.date.year),
                has(GroupKey::Month).then_some(month),
            );
            let group = groups.entry(key).or_default();
            group.0 += p.amount_fen;
            group.1 += 1;
            group.2.insert(p.household.clone());
            group.3 += u64::from(p.persons);
        }
        groups
            .into_iter()
            .map(|(key, (net, payments, households, persons))| TotalsRow {
                subdistrict: key.0,
                community: key.1,
                program: key.2,
                year: key.3,
                month: key.4,
                net_fen: net,
                payments,
                households: u64::try_from(households.len()).expect("small"),
                person_times: persons,
                recovered_fen: 0,
            })
            .collect()
    }

    fn household(&self, household: &str) -> Option<HouseholdBalance> {
        let enrollment = self.enrollments.get(household)?.clone();
        let mut programs: BTreeMap<String, Tally> = BTreeMap::new();
        let mut total = Tally::default();
        for p in self.live.iter().filter(|p| p.household == household) {
            for tally in [programs.entry(p.program.clone()).or_default(), &mut total] {
                tally.net_fen += p.amount_fen;
                tally.payments += 1;
                tally.person_times += u64::from(p.persons);
            }
        }
        Some(HouseholdBalance {
            household: household.into(),
            enrollment,
            programs: programs
                .into_iter()
                .map(|(program, tally)| ProgramTally { program, tally })
                .collect(),
            total,
            receivables: Vec::new(),
        })
    }

    fn funds(&self) -> Vec<FundRow> {
        let mut rows: BTreeMap<String, FundRow> = BTreeMap::new();
        let blank = |program: &str| FundRow {
            program: program.into(),
            allocations: 0,
            allocated_fen: 0,
            payments: 0,
            disbursed_fen: 0,
            recovered_fen: 0,
            remaining_fen: 0,
        };
        for (program, (count, amount)) in &self.allocations {
            let row = rows
                .entry(program.clone())
                .or_insert_with(|| blank(program));
            row.allocations = *count;
            row.allocated_fen = *amount;
        }
        for p in &self.live {
            let row = rows
                .entry(p.program.clone())
                .or_insert_with(|| blank(&p.program));
            row.payments += 1;
            row.disbursed_fen += p.amount_fen;
        }
        rows.into_values()
            .map(|row| FundRow {
                remaining_fen: row.allocated_fen - row.disbursed_fen,
                ..row
            })
            .collect()
    }

    /// Cells the models should hold: one per (household | place) x
    /// (program | all) x (all time | year | month) with a live payment.
    fn cell_counts(&self) -> (usize, usize) {
        let mut household_cells = BTreeSet::new();
        let mut group_cells = BTreeSet::new();
        for p in &self.live {
            let e = &self.enrollments[&p.household];
            let periods = [
                (None, None),
                (Some(p.date.year), None),
                (Some(p.date.year), Some(p.date.year_month())),
            ];
            let places = [
                (None, None),
                (Some(e.subdistrict.clone()), None),
                (Some(e.subdistrict.clone()), Some(e.community.clone())),
            ];
            for program in [None, Some(p.program.clone())] {
                for period in periods {
                    household_cells.insert((p.household.clone(), program.clone(), period));
                    for place in &places {
                        group_cells.insert((place.clone(), program.clone(), period));
                    }
                }
            }
        }
        (household_cells.len(), group_cells.len())
    }
}

fn queries() -> Vec<TotalsQuery> {
    let filters = [
        TotalsQuery::default(),
        TotalsQuery {
            year: Some(2018),
            ..TotalsQuery::default()
        },
        TotalsQuery {
            month: Some(ym(2019, 2)),
            ..TotalsQuery::default()
        },
        TotalsQuery {
            subdistrict: Some("S1".into()),
            ..TotalsQuery::default()
        },
        TotalsQuery {
            program: Some("p_b".into()),
            ..TotalsQuery::default()
        },
        TotalsQuery {
            year: Some(2019),
            subdistrict: Some("S2".into()),
            program: Some("p_a".into()),
            ..TotalsQuery::default()
        },
        TotalsQuery {
            year: Some(2018),
            month: Some(ym(2018, 3)),
            subdistrict: Some("S1".into()),
            ..TotalsQuery::default()
        },
    ];
    let mut queries = Vec::new();
    for mask in 0u32..(1 << ALL_KEYS.len()) {
        let by: Vec<GroupKey> = ALL_KEYS
            .iter()
            .enumerate()
            .filter(|(bit, _)| mask & (1 << bit) != 0)
            .map(|(_, key)| *key)
            .collect();
        for filter in &filters {
            queries.push(TotalsQuery {
                by: by.clone(),
                ..filter.clone()
            });
        }
    }
    queries
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn maintained_models_match_recomputation(
        ops in prop::collection::vec(op_strategy(), 0..MAX_OPS),
        first_query in 0..MAX_OPS,
    ) {
        let steps = build(&ops);
        let models = fold(&steps, first_query % (steps.len() + 1))?;
        let reference = Reference::new(&steps);

        for query in queries() {
            prop_assert_eq!(models.totals(&query), reference.totals(&query), "{:?}", query);
        }
        for (household, _, _) in HOUSEHOLDS {
            prop_assert_eq!(models.household(household), reference.household(household));
        }
        prop_assert_eq!(models.household("stranger"), None);
        prop_assert_eq!(models.funds(), reference.funds());

        let size = models.size();
        prop_assert_eq!((size.household_cells, size.group_cells), reference.cell_counts());

        let bytes = bincode::serialize(&models).expect("serialize");
        let back: ReadModels = bincode::deserialize(&bytes).expect("deserialize");
        prop_assert_eq!(&back, &models);
        // The reloaded models derive their cube afresh: the same answers.
        for query in queries() {
            prop_assert_eq!(back.totals(&query), models.totals(&query), "{:?}", query);
        }
        prop_assert_eq!(back.size(), models.size());
    }

    #[test]
    fn facts_prepared_one_ahead_fold_as_applied(
        ops in prop::collection::vec(op_strategy(), 0..MAX_OPS),
    ) {
        let steps = build(&ops);
        let applied = fold(&steps, steps.len())?;
        let prepared = fold_prepared(&steps)?;
        prop_assert_eq!(&prepared, &applied);
        prop_assert_eq!(
            bincode::serialize(&prepared).expect("serialize"),
            bincode::serialize(&applied).expect("serialize")
        );
    }

    /// Households found by the numbers their payments carry fold as those found by name:
    /// the same state, the same refusals (a stranger's number is never taken).
    #[test]
    fn facts_numbered_fold_as_facts_by_name(
        ops in prop::collection::vec(op_strategy(), 0..MAX_OPS),
    ) {
        let steps = build(&ops);
        let by_name = fold_prepared(&steps)?;
        let numbered = fold_prepared_with(&steps, Some(HouseholdNumbers::new()))?;
        prop_assert_eq!(&numbered, &by_name);
        prop_assert_eq!(
            bincode::serialize(&numbered).expect("serialize"),
            bincode::serialize(&by_name).expect("serialize")
        );
    }
}
