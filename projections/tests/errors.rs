//! Error paths: each leaves the models exactly as they were.

mod common;

use common::*;
use fundtrail_projections::{Date, Fact, ProjectionError, ReadModels};

const SUPPORT: &str = "support_allowance";

/// H1 and H2 enrolled, one allocation, one live payment (seq 4).
fn base() -> (ReadModels, Fact) {
    let payment = pay("H1", SUPPORT, 1_000, 2, date(2019, 3, 5));
    let mut models = ReadModels::new();
    apply_all(
        &mut models,
        &[
            enroll("H1", "拓东", "A", 2),
            enroll("H2", "鼓楼", "B", 1),
            allocate(SUPPORT, 10_000),
            payment.clone(),
        ],
    );
    (models, payment)
}

/// Applies `fact` as the next seq, asserts it fails with `expected`, and that
/// nothing changed.
fn assert_rejected(models: &mut ReadModels, fact: &Fact, expected: ProjectionError) {
    let before = models.clone();
    let seq = models.next_seq().expect("seq fits");
    assert_eq!(models.apply(seq, HASH, fact), Err(expected));
    assert_eq!(*models, before, "state changed by a rejected fact");
}

#[test]
fn first_seq_must_be_one() {
    let mut models = ReadModels::new();
    let fact = enroll("H1", "拓东", "A", 1);
    assert_eq!(
        models.apply(2, HASH, &fact),
        Err(ProjectionError::Gap {
            expected: 1,
            found: 2
        })
    );
    assert_eq!(
        models.apply(0, HASH, &fact),
        Err(ProjectionError::Gap {
            expected: 1,
            found: 0
        })
    );
    assert_eq!(models, ReadModels::new());
    assert_eq!(models.apply(1, HASH, &fact), Ok(()));
}

#[test]
fn gap_and_duplicate_seq_are_rejected_for_apply_and_skip() {
    let (mut models, _) = base();
    let before = models.clone();
    let fact = allocate(SUPPORT, 1);
    let duplicate = models.apply(4, HASH, &fact);
    assert_eq!(
        duplicate,
        Err(ProjectionError::Gap {
            expected: 5,
            found: 4
        })
    );
    assert_eq!(
        models.apply(6, HASH, &fact),
        Err(ProjectionError::Gap {
            expected: 5,
            found: 6
        })
    );
    assert_eq!(
        models.skip(4, HASH),
        Err(ProjectionError::Gap {
            expected: 5,
            found: 4
        })
    );
    assert_eq!(
        models.skip(7, HASH),
        Err(ProjectionError::Gap {
            expected: 5,
            found: 7
        })
    );
    assert_eq!(models, before);
    assert_eq!(models.skip(5, HASH), Ok(()));
    assert_eq!(models.next_seq(), Ok(6));
}

#[test]
fn allocation_overflow_is_rejected() {
    let mut models = ReadModels::new();
    apply_all(&mut models, &[allocate(SUPPORT, i64::MAX)]);
    assert_rejected(
        &mut models,
        &allocate(SUPPORT, 1),
        ProjectionError::Overflow {
            what: "fund balance",
        },
    );
}

#[test]
fn payment_overflow_in_district_totals_is_rejected() {
    let mut models = ReadModels::new();
    // Each household's own tallies fit; the district total cannot hold both.
    apply_all(
        &mut models,
        &[
            enroll("H1", "拓东", "A", 2),
            enroll("H2", "鼓楼", "B", 1),
            pay("H1", "other", i64::MAX - 1, 1, date(2019, 3, 6)),
        ],
    );
    // A program never seen before: a rejected fact must not register its name either.
    let overflow = pay("H2", "brand_new", 2, 1, date(2019, 3, 6));
    assert_rejected(
        &mut models,
        &overflow,
        ProjectionError::Overflow {
            what: "payment tallies",
        },
    );
    assert_eq!(
        models.household("H2").map(|h| h.total.payments),
        Some(0),
        "H2 untouched"
    );
}

#[test]
fn person_times_past_u32_in_one_household_month_are_rejected() {
    // A household's fine cell counts in u32; the district totals count in u64.
    let mut models = ReadModels::new();
    apply_all(
        &mut models,
        &[
            enroll("H1", "拓东", "A", 2),
            allocate(SUPPORT, 10_000),
            pay("H1", SUPPORT, 1, u32::MAX, date(2019, 3, 5)),
        ],
    );
    let overflow = pay("H1", SUPPORT, 1, 1, date(2019, 3, 6));
    assert_rejected(
        &mut models,
        &overflow,
        ProjectionError::Overflow {
            what: "payment tallies",
        },
    );
    // The next month is a cell of its own, and takes it.
    let seq = models.next_seq().expect("seq fits");
    let next_month = pay("H1", SUPPORT, 1, 1, date(2019, 4, 6));
    assert_eq!(models.apply(seq, HASH, &next_month), Ok(()));
    let balance = models.household("H1").expect("enrolled");
    assert_eq!(balance.total.person_times, u64::from(u32::MAX) + 1);
}

#[test]
fn payment_to_unknown_household_is_rejected_and_invents_nothing() {
    let (mut models, _) = base();
    assert_rejected(
        &mut models,
        &pay("H9", "new_program", 100, 1, date(2019, 3, 5)),
        ProjectionError::UnknownHousehold {
            household: "H9".into(),
        },
    );
    assert_eq!(models.household("H9"), None);
    assert!(models.funds().iter().all(|f| f.program != "new_program"));
}

#[test]
fn reversal_for_unknown_household_is_rejected() {
    let (mut models, _) = base();
    let bad = Fact::Reversed {
        target_seq: 4,
        household: "H9".into(),
        program: SUPPORT.into(),
        amount_fen: 1_000,
        persons: 2,
        target_date: date(2019, 3, 5),
        date: date(2019, 4, 1),
        reason: "typo".into(),
    };
    assert_rejected(
        &mut models,
        &bad,
        ProjectionError::UnknownHousehold {
            household: "H9".into(),
        },
    );
}

#[test]
fn second_enrollment_is_rejected() {
    let (mut models, _) = base();
    assert_rejected(
        &mut models,
        &enroll("H1", "鼓楼", "B", 3),
        ProjectionError::AlreadyEnrolled {
            household: "H1".into(),
        },
    );
}

#[test]
fn impossible_dates_are_rejected() {
    let (mut models, _) = base();
    let feb_29_2019 = Date {
        year: 2019,
        month: 2,
        day: 29,
    };
    assert_rejected(
        &mut models,
        &pay("H1", SUPPORT, 1, 1, feb_29_2019),
        ProjectionError::InvalidDate { date: feb_29_2019 },
    );
    let month_13 = Date {
        year: 2019,
        month: 13,
        day: 1,
    };
    assert_rejected(
        &mut models,
        &Fact::HouseholdEnrolled {
            household: "H3".into(),
            subdistrict: "s".into(),
            community: "c".into(),
            category: "x".into(),
            members: 1,
            enrolled_on: month_13,
        },
        ProjectionError::InvalidDate { date: month_13 },
    );
    assert_eq!(Date::new(2020, 2, 29), Some(date(2020, 2, 29)));
    assert_eq!(Date::new(1900, 2, 29), None);
    assert_eq!(Date::new(2000, 2, 29), Some(date(2000, 2, 29)));
    assert_eq!(Date::new(2019, 4, 31), None);
    assert_eq!(Date::new(2019, 1, 0), None);
}

#[test]
fn negative_amounts_are_rejected() {
    let (mut models, _) = base();
    assert_rejected(
        &mut models,
        &pay("H1", SUPPORT, -5, 1, date(2019, 3, 5)),
        ProjectionError::NegativeAmount { amount_fen: -5 },
    );
    assert_rejected(
        &mut models,
        &allocate(SUPPORT, -1),
        ProjectionError::NegativeAmount { amount_fen: -1 },
    );
}

fn mismatch(household: &str, program: &str, target_date: Date) -> ProjectionError {
    ProjectionError::ReversalMismatch {
        target_seq: 4,
        household: household.into(),
        program: program.into(),
        target_date,
    }
}

#[test]
fn reversal_that_does_not_fit_a_live_payment_is_rejected() {
    let (mut models, payment) = base();
    let good = reverse(4, &payment, date(2019, 4, 1));
    let with = |f: &dyn Fn(&mut Fact)| {
        let mut fact = good.clone();
        f(&mut fact);
        fact
    };
    let on = date(2019, 3, 5);
    let cases = [
        // wrong month: nothing live there
        (
            with(&|f| {
                if let Fact::Reversed { target_date, .. } = f {
                    *target_date = date(2019, 2, 5);
                }
            }),
            mismatch("H1", SUPPORT, date(2019, 2, 5)),
        ),
        // more money than was paid
        (
            with(&|f| {
                if let Fact::Reversed { amount_fen, .. } = f {
                    *amount_fen = 1_001;
                }
            }),
            mismatch("H1", SUPPORT, on),
        ),
        // less money: would leave a residue with no live payment
        (
            with(&|f| {
                if let Fact::Reversed { amount_fen, .. } = f {
                    *amount_fen = 999;
                }
            }),
            mismatch("H1", SUPPORT, on),
        ),
        // wrong household (enrolled, but never paid)
        (
            with(&|f| {
                if let Fact::Reversed { household, .. } = f {
                    *household = "H2".into();
                }
            }),
            mismatch("H2", SUPPORT, on),
        ),
        // program never seen
        (
            with(&|f| {
                if let Fact::Reversed { program, .. } = f {
                    *program = "nothing_here".into();
                }
            }),
            mismatch("H1", "nothing_here", on),
        ),
    ];
    for (fact, expected) in cases {
        assert_rejected(&mut models, &fact, expected);
    }
    apply_all(&mut models, std::slice::from_ref(&good));
    // The same payment cannot be reversed twice.
    assert_rejected(&mut models, &good, mismatch("H1", SUPPORT, on));
}

#[test]
fn errors_render_readable_messages() {
    let gap = ProjectionError::Gap {
        expected: 5,
        found: 7,
    };
    assert_eq!(gap.to_string(), "sequence gap: expected seq 5, found 7");
    let m = mismatch("H1", SUPPORT, date(2019, 3, 5));
    assert_eq!(
        m.to_string(),
        "reversal of seq 4 does not match a live payment of household \"H1\" \
         in program \"support_allowance\" on 2019-03-05"
    );
}
