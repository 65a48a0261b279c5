//! Eligibility for the support allowance by person and month, pure.
//!
//! A person counts in month M when all of these hold:
//! - they are a parent (role `mother` or `father`);
//! - they are in the household on M's first day (joined on or before it, and not left on
//!   or before it);
//! - they turn 49 in M or earlier;
//! - they did not die before M: the month of death is still due;
//! - the household did not end before M: its exit or end of eligibility is on or after
//!   M's first day.
//!
//! This is the one statement of the rule: the main crate's allowance run, write rules and
//! verifiers delegate here, and the findings fold counts with it too.

use serde::{Deserialize, Serialize};

use crate::vocab::{Date, YearMonth};

/// The age from whose month a parent is due the allowance.
pub const ELIGIBLE_AGE_YEARS: i32 = 49;

/// What eligibility needs to know of one person of a household.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonFacts {
    /// Role `mother` or `father`: only parents are due the allowance.
    pub parent: bool,
    pub birth_date: Date,
    pub joined_on: Date,
    /// The day they left the household, if they did.
    pub left_on: Option<Date>,
    /// The day they died, if recorded.
    pub died_on: Option<Date>,
}

/// What eligibility needs to know of the household.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HouseholdFacts {
    /// The earliest of the household's exit from the scheme and the end of its eligibility.
    pub ended_on: Option<Date>,
}

/// The month of the 49th birthday: the birth month, 49 years on (a 29 February birthday
/// turns 49 on 28 February of a common year, still in February). `None` if the year
/// overflows.
pub fn month_turning_49(birth_date: Date) -> Option<YearMonth> {
    let year = birth_date.year.checked_add(ELIGIBLE_AGE_YEARS)?;
    Some(YearMonth {
        year,
        month: birth_date.month,
    })
}

/// The first day of a month.
pub fn first_day(month: YearMonth) -> Date {
    Date {
        year: month.year,
        month: month.month,
        day: 1,
    }
}

/// Whether `person` of `household` counts for the support allowance in `month`.
pub fn counts(person: &PersonFacts, household: &HouseholdFacts, month: YearMonth) -> bool {
    let first = first_day(month);
    person.parent
        && in_household_on(person, first)
        && month_turning_49(person.birth_date).is_some_and(|m| m <= month)
        && person.died_on.is_none_or(|d| d.year_month() >= month)
        && household.ended_on.is_none_or(|e| e >= first)
}

/// Whether the person is in the household on `day`: joined on or before it, not left on or
/// before it.
pub fn in_household_on(person: &PersonFacts, day: Date) -> bool {
    person.joined_on <= day && person.left_on.is_none_or(|left| left > day)
}

/// How many of `persons` count in `month`.
pub fn eligible_count(
    persons: &[PersonFacts],
    household: &HouseholdFacts,
    month: YearMonth,
) -> u32 {
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

    fn on(year: i32, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    fn ym(year: i32, month: u8) -> YearMonth {
        YearMonth { year, month }
    }

    fn mother() -> PersonFacts {
        PersonFacts {
            parent: true,
            birth_date: on(1960, 5, 20),
            joined_on: on(2000, 1, 1),
            left_on: None,
            died_on: None,
        }
    }

    const OPEN: HouseholdFacts = HouseholdFacts { ended_on: None };

    #[test]
    fn a_parent_counts_from_the_birthday_month_and_a_child_never() {
        assert!(!counts(&mother(), &OPEN, ym(2009, 4)));
        assert!(counts(&mother(), &OPEN, ym(2009, 5)));
        let child = PersonFacts {
            parent: false,
            ..mother()
        };
        assert!(!counts(&child, &OPEN, ym(2010, 1)));
    }

    #[test]
    fn a_29_february_birthday_turns_49_in_february() {
        assert_eq!(month_turning_49(on(1960, 2, 29)), Some(ym(2009, 2)));
        assert_eq!(month_turning_49(on(i32::MAX, 2, 1)), None);
    }

    #[test]
    fn the_month_of_death_is_due_and_the_next_is_not() {
        let p = PersonFacts {
            died_on: Some(on(2012, 7, 31)),
            ..mother()
        };
        assert!(counts(&p, &OPEN, ym(2012, 7)));
        assert!(!counts(&p, &OPEN, ym(2012, 8)));
    }

    #[test]
    fn presence_and_the_households_end_are_judged_on_the_first_day() {
        let left = PersonFacts {
            left_on: Some(on(2010, 3, 1)),
            ..mother()
        };
        assert!(counts(&left, &OPEN, ym(2010, 2)));
        assert!(!counts(&left, &OPEN, ym(2010, 3)));
        let ended = HouseholdFacts {
            ended_on: Some(on(2015, 9, 1)),
        };
        assert!(counts(&mother(), &ended, ym(2015, 9)));
        assert!(!counts(&mother(), &ended, ym(2015, 10)));
        assert_eq!(eligible_count(&[mother(), left], &OPEN, ym(2010, 3)), 1);
    }
}
