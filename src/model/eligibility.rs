//! Eligibility for the support allowance by person and month, pure (issue 12 item 6).
//!
//! A person counts in month M when all of these hold:
//! - their role is `mother` or `father`;
//! - they are in the household on M's first day (joined on or before it, and not left on
//!   or before it);
//! - they turn 49 in M or earlier;
//! - they did not die before M: the month of death is still due;
//! - the household did not end before M: its exit or end of eligibility is on or after
//!   M's first day.
//!
//! The allowance run pays `eligible_persons × rate`; the write rules refuse a support
//! allowance payment whose `persons` exceeds it. Everything here takes the facts as
//! arguments, so the run, the rules and the verifiers all count with this one function,
//! which is `fundtrail_projections::eligibility` (the findings fold counts with it too):
//! this module only converts chrono's dates and the crate's roles to its vocabulary.

use chrono::{Datelike, NaiveDate};
use fundtrail_projections::eligibility as pure;
use fundtrail_projections::{Date, YearMonth};

use crate::model::domain::Month;
use crate::model::person::Role;

/// The age from whose month a parent is due the allowance.
pub const ELIGIBLE_AGE_YEARS: i32 = pure::ELIGIBLE_AGE_YEARS;

/// What eligibility needs to know of one person of a household.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonFacts {
    pub role: Role,
    pub birth_date: NaiveDate,
    pub joined_on: NaiveDate,
    /// The day they left the household, if they did.
    pub left_on: Option<NaiveDate>,
    /// The day they died, if recorded.
    pub died_on: Option<NaiveDate>,
}

/// What eligibility needs to know of the household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HouseholdFacts {
    /// The earliest of the household's exit from the scheme and the end of its eligibility.
    pub ended_on: Option<NaiveDate>,
}

/// The month of the 49th birthday. A 29 February birthday turns 49 on 28 February in a
/// common year (never on 1 March): the birthday month is February in every year, for
/// everyone born in February. `None` beyond the calendar's range.
pub fn month_turning_49(birth_date: NaiveDate) -> Option<Month> {
    let month = pure::month_turning_49(date(birth_date))?;
    let month_number = u32::from(month.month);
    NaiveDate::from_ymd_opt(month.year, month_number, 1).map(Month::of)
}

/// Whether `person` of `household` counts for the support allowance in `month`.
pub fn counts(person: &PersonFacts, household: &HouseholdFacts, month: Month) -> bool {
    pure::counts(&person.pure(), &household.pure(), year_month(month))
}

/// Whether the person is in the household on `day`: joined on or before it, not left on or
/// before it.
pub fn in_household_on(person: &PersonFacts, day: NaiveDate) -> bool {
    pure::in_household_on(&person.pure(), date(day))
}

impl PersonFacts {
    fn pure(&self) -> pure::PersonFacts {
        pure::PersonFacts {
            parent: self.role.is_parent(),
            birth_date: date(self.birth_date),
            joined_on: date(self.joined_on),
            left_on: self.left_on.map(date),
            died_on: self.died_on.map(date),
        }
    }
}

impl HouseholdFacts {
    fn pure(&self) -> pure::HouseholdFacts {
        pure::HouseholdFacts {
            ended_on: self.ended_on.map(date),
        }
    }
}

/// The same day in the projections' calendar.
fn date(day: NaiveDate) -> Date {
    Date {
        year: day.year(),
        month: u8::try_from(day.month()).expect("a calendar month is 1 to 12"),
        day: u8::try_from(day.day()).expect("a day of the month is 1 to 31"),
    }
}

fn year_month(month: Month) -> YearMonth {
    date(month.first_day()).year_month()
}

/// The positions in `persons` of those who count in `month`, in order.
pub fn eligible_indices(
    persons: &[PersonFacts],
    household: &HouseholdFacts,
    month: Month,
) -> Vec<usize> {
    persons
        .iter()
        .enumerate()
        .filter(|(_, p)| counts(p, household, month))
        .map(|(i, _)| i)
        .collect()
}

/// How many of `persons` count in `month`: the `persons` of the household's payment.
pub fn eligible_persons(persons: &[PersonFacts], household: &HouseholdFacts, month: Month) -> u32 {
    let n = persons
        .iter()
        .filter(|p| counts(p, household, month))
        .count();
    // A household has a handful of persons; a count beyond u32 cannot be paid either way.
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn month(text: &str) -> Month {
        Month::parse(text).unwrap()
    }

    /// A mother born 1960-05-20 (turns 49 in 2009-05), in the household since 2000.
    fn mother() -> PersonFacts {
        PersonFacts {
            role: Role::Mother,
            birth_date: date(1960, 5, 20),
            joined_on: date(2000, 1, 1),
            left_on: None,
            died_on: None,
        }
    }

    const OPEN: HouseholdFacts = HouseholdFacts { ended_on: None };

    #[test]
    fn only_parents_count() {
        for role in Role::ALL {
            let p = PersonFacts { role, ..mother() };
            assert_eq!(
                counts(&p, &OPEN, month("2010-01")),
                role.is_parent(),
                "{role}"
            );
        }
    }

    #[test]
    fn a_parent_counts_from_the_month_of_the_49th_birthday() {
        let p = mother();
        assert!(!counts(&p, &OPEN, month("2009-04")));
        assert!(
            counts(&p, &OPEN, month("2009-05")),
            "the birthday month is due"
        );
        assert!(counts(&p, &OPEN, month("2030-05")));
    }

    #[test]
    fn a_29_february_birthday_turns_49_in_february() {
        // 2009 is a common year: the birthday falls on 28 February.
        let p = PersonFacts {
            birth_date: date(1960, 2, 29),
            ..mother()
        };
        assert_eq!(month_turning_49(p.birth_date), Some(month("2009-02")));
        assert!(!counts(&p, &OPEN, month("2009-01")));
        assert!(counts(&p, &OPEN, month("2009-02")));
    }

    #[test]
    fn a_person_counts_only_when_in_the_household_on_the_first_day() {
        let joined_mid_month = PersonFacts {
            joined_on: date(2010, 3, 2),
            ..mother()
        };
        assert!(!counts(&joined_mid_month, &OPEN, month("2010-03")));
        assert!(counts(&joined_mid_month, &OPEN, month("2010-04")));
        let joined_on_first = PersonFacts {
            joined_on: date(2010, 3, 1),
            ..mother()
        };
        assert!(counts(&joined_on_first, &OPEN, month("2010-03")));

        let left = PersonFacts {
            left_on: Some(date(2010, 3, 1)),
            ..mother()
        };
        assert!(counts(&left, &OPEN, month("2010-02")));
        assert!(!counts(&left, &OPEN, month("2010-03")), "left on the first");
        let left_on_second = PersonFacts {
            left_on: Some(date(2010, 3, 2)),
            ..mother()
        };
        assert!(counts(&left_on_second, &OPEN, month("2010-03")));
        assert!(!counts(&left_on_second, &OPEN, month("2010-04")));
    }

    #[test]
    fn the_month_of_death_is_still_due() {
        let p = PersonFacts {
            died_on: Some(date(2012, 7, 1)),
            ..mother()
        };
        assert!(counts(&p, &OPEN, month("2012-06")));
        assert!(counts(&p, &OPEN, month("2012-07")));
        assert!(!counts(&p, &OPEN, month("2012-08")));
        let late_in_month = PersonFacts {
            died_on: Some(date(2012, 7, 31)),
            ..mother()
        };
        assert!(counts(&late_in_month, &OPEN, month("2012-07")));
        assert!(!counts(&late_in_month, &OPEN, month("2012-08")));
    }

    #[test]
    fn nobody_counts_after_the_household_ended() {
        let p = mother();
        let ended = HouseholdFacts {
            ended_on: Some(date(2015, 9, 1)),
        };
        assert!(counts(&p, &ended, month("2015-09")), "ended on the first");
        assert!(!counts(&p, &ended, month("2015-10")));
        let ended_before = HouseholdFacts {
            ended_on: Some(date(2015, 8, 31)),
        };
        assert!(!counts(&p, &ended_before, month("2015-09")));
    }

    #[test]
    fn a_household_counts_its_eligible_persons_in_order() {
        let father = PersonFacts {
            role: Role::Father,
            birth_date: date(1958, 11, 3),
            ..mother()
        };
        let child = PersonFacts {
            role: Role::Child,
            birth_date: date(1985, 1, 1),
            ..mother()
        };
        let dead_father = PersonFacts {
            died_on: Some(date(2008, 12, 31)),
            ..father
        };
        let persons = [child, father, mother(), dead_father];
        assert_eq!(eligible_indices(&persons, &OPEN, month("2009-04")), [1]);
        assert_eq!(eligible_indices(&persons, &OPEN, month("2009-05")), [1, 2]);
        assert_eq!(eligible_persons(&persons, &OPEN, month("2009-05")), 2);
        assert_eq!(eligible_persons(&[], &OPEN, month("2009-05")), 0);
    }

    /// The rule written a second way: ages by counting birthdays year by year, presence,
    /// life and the household's standing by walking the days of the month.
    fn reference_counts(p: &PersonFacts, h: &HouseholdFacts, m: Month) -> bool {
        let days: Vec<NaiveDate> = m
            .first_day()
            .iter_days()
            .take_while(|d| Month::of(*d) == m)
            .collect();
        let last = *days.last().unwrap();
        let birthdays_by_last = (p.birth_date.year() + 1..=last.year())
            .map(|y| anniversary(p.birth_date, y))
            .filter(|d| *d <= last)
            .count();
        let present_on_first = p.joined_on <= days[0] && p.left_on.is_none_or(|l| days[0] < l);
        let alive_some_day = days.iter().any(|d| p.died_on.is_none_or(|x| *d <= x));
        let scheme_some_day = days.iter().any(|d| h.ended_on.is_none_or(|e| *d <= e));
        matches!(p.role, Role::Mother | Role::Father)
            && present_on_first
            && birthdays_by_last >= 49
            && alive_some_day
            && scheme_some_day
    }

    /// The birthday in `year`; 29 February falls back to 28 February.
    fn anniversary(birth: NaiveDate, year: i32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
            .unwrap_or_else(|| NaiveDate::from_ymd_opt(year, 2, 28).unwrap())
    }

    /// Days around an anchor: every condition's edge lies within a month of it.
    const NEAR_DAYS: i64 = 45;

    /// A person drawn as offsets in days from anchors in the month tested, so that births,
    /// joins, departures and deaths fall on and around the edges that matter.
    #[derive(Debug, Clone)]
    struct Drawn {
        role: Role,
        /// From the same day 49 years before the month's first day; `None` is a
        /// 29 February birth in the leap year nearest to that.
        birth: Option<i64>,
        joined: i64,
        left: Option<i64>,
        died: Option<i64>,
    }

    /// Days from an anchor, often within a day or two of it, where the edges lie.
    fn near() -> impl Strategy<Value = i64> {
        prop_oneof![-2i64..=2, -NEAR_DAYS..=NEAR_DAYS]
    }

    fn any_drawn() -> impl Strategy<Value = Drawn> {
        (
            prop::sample::select(Role::ALL.to_vec()),
            prop_oneof![4 => near().prop_map(Some), 1 => Just(None)],
            near(),
            prop::option::of(near()),
            prop::option::of(near()),
        )
            .prop_map(|(role, birth, joined, left, died)| Drawn {
                role,
                birth,
                joined,
                left,
                died,
            })
    }

    fn facts(d: &Drawn, month: Month) -> PersonFacts {
        let first = month.first_day();
        let at = |days: i64| first + chrono::Duration::days(days);
        let year_49_before = first.year() - 49;
        let birth_date = match d.birth {
            Some(days) => date(year_49_before, first.month(), 1) + chrono::Duration::days(days),
            None => {
                let leap = (year_49_before - 3..=year_49_before)
                    .rev()
                    .find(|y| NaiveDate::from_ymd_opt(*y, 2, 29).is_some())
                    .unwrap();
                date(leap, 2, 29)
            }
        };
        PersonFacts {
            role: d.role,
            birth_date,
            joined_on: at(d.joined),
            left_on: d.left.map(at),
            died_on: d.died.map(at),
        }
    }

    /// Months, with February and March of the years a 29 February birth turns 49 drawn
    /// often, where the leap-day rule decides.
    fn any_month() -> impl Strategy<Value = Month> {
        prop_oneof![
            (2005i32..2030, 1u32..=12).prop_map(|(y, m)| Month::of(date(y, m, 1))),
            (
                prop::sample::select(vec![2005, 2009, 2013, 2017, 2021]),
                2u32..=3
            )
                .prop_map(|(y, m)| Month::of(date(y, m, 1))),
        ]
    }

    proptest! {
        #[test]
        fn eligibility_agrees_with_a_day_by_day_reference(
            drawn in prop::collection::vec(any_drawn(), 0..6),
            ended in prop::option::of(near()),
            month in any_month(),
        ) {
            let persons: Vec<PersonFacts> = drawn.iter().map(|d| facts(d, month)).collect();
            let ended_on = ended.map(|days| month.first_day() + chrono::Duration::days(days));
            let household = HouseholdFacts { ended_on };
            let expected: Vec<usize> = persons
                .iter()
                .enumerate()
                .filter(|(_, p)| reference_counts(p, &household, month))
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(eligible_indices(&persons, &household, month), expected.clone());
            prop_assert_eq!(eligible_persons(&persons, &household, month) as usize, expected.len());
        }
    }
}
