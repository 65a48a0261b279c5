//! The rules, each a small pure function over what the fold keeps: they say whether a
//! case is raised, the fold decides what evidence and subject a finding carries.

use std::collections::BTreeMap;

use crate::eligibility::{counts, first_day, HouseholdFacts, PersonFacts};
use crate::vocab::{Date, YearMonth};

/// Households one payee account may collect for in a calendar year before it is a finding:
/// a couple's two households may share an account, three unrelated ones should not.
pub const SHARED_ACCOUNT_MIN_HOUSEHOLDS: usize = 3;

/// A payment above this many times its group's median is an outlier (the table).
pub const OUTLIER_FACTOR: i64 = 5;

/// Payments a program and year needs before its median means anything: below this a few
/// unusual payments would make the median themselves.
pub const OUTLIER_MIN_GROUP: u64 = 20;

/// `paid_after_death`, support allowance: which persons (indices into `persons`) a payment
/// of `paid_persons` for `month` counts although they died in an earlier month. The
/// payment's persons beyond those alive and due are matched to the dead who would
/// otherwise be due, in the order the persons were added. The month of death itself is due.
pub fn dead_counted(
    persons: &[PersonFacts],
    household: &HouseholdFacts,
    month: YearMonth,
    paid_persons: u32,
) -> Vec<usize> {
    let alive_due = persons
        .iter()
        .filter(|p| counts(p, household, month))
        .count();
    let excess = usize::try_from(paid_persons)
        .unwrap_or(usize::MAX)
        .saturating_sub(alive_due);
    persons
        .iter()
        .enumerate()
        .filter(|(_, p)| p.died_on.is_some_and(|d| d.year_month() < month))
        .filter(|(_, p)| {
            let living = PersonFacts {
                died_on: None,
                ..**p
            };
            counts(&living, household, month)
        })
        .map(|(i, _)| i)
        .take(excess)
        .collect()
}

/// `paid_after_death`, other programs: the index of the last of the household's persons
/// to die, when every person still in the household on `date` died before it. `None` when
/// someone is alive (or the household has no persons on record).
pub fn all_dead_before(persons: &[PersonFacts], date: Date) -> Option<usize> {
    let members: Vec<(usize, Option<Date>)> = persons
        .iter()
        .enumerate()
        .filter(|(_, p)| p.joined_on <= date && p.left_on.is_none_or(|l| l > date))
        .map(|(i, p)| (i, p.died_on))
        .collect();
    let mut last: Option<(usize, Date)> = None;
    for (i, died) in members {
        let died = died.filter(|d| *d < date)?;
        if last.is_none_or(|(_, l)| died >= l) {
            last = Some((i, died));
        }
    }
    last.map(|(i, _)| i)
}

/// `paid_after_exit`: whether a payment dated `date` came after the household's end. A
/// support allowance payment is for its month, due when the household had not ended
/// before the month's first day; any other payment is judged by its day.
pub fn paid_after_end(ended_on: Option<Date>, date: Date, allowance: bool) -> bool {
    match ended_on {
        None => false,
        Some(end) if allowance => end < first_day(date.year_month()),
        Some(end) => date > end,
    }
}

/// `allowance_over_due`: the fen a support allowance payment exceeds what is due for
/// reasons other than deaths: `due_persons` (alive and due, plus those `paid_after_death`
/// already names) times the month's rate. `None` when within the due or no rate applies.
pub fn over_due_fen(amount_fen: i64, due_persons: u32, rate_fen: Option<i64>) -> Option<i64> {
    let due = rate_fen?.checked_mul(i64::from(due_persons))?;
    let excess = amount_fen.checked_sub(due)?;
    (excess > 0).then_some(excess)
}

/// `shared_account`: whether an account collecting for this many households in a year is
/// a finding.
pub fn shares_account(households: usize) -> bool {
    households >= SHARED_ACCOUNT_MIN_HOUSEHOLDS
}

/// The lower median of a multiset of amounts kept as amount -> count: an amount of the
/// data itself, with no rounding. `None` for an empty group.
pub fn lower_median(amounts: &BTreeMap<i64, u64>) -> Option<i64> {
    let total: u64 = amounts.values().sum();
    let target = total.checked_sub(1)? / 2;
    let mut seen = 0u64;
    for (amount, count) in amounts {
        seen += count;
        if seen > target {
            return Some(*amount);
        }
    }
    None
}

/// `outlier_amount`: whether `amount_fen` is more than [`OUTLIER_FACTOR`] times the
/// median of a group of `group_len` payments. Small groups and a zero median (in-kind
/// benefits without a price) raise nothing.
pub fn is_outlier(amount_fen: i64, median_fen: i64, group_len: u64) -> bool {
    group_len >= OUTLIER_MIN_GROUP
        && median_fen > 0
        && median_fen
            .checked_mul(OUTLIER_FACTOR)
            .is_some_and(|limit| amount_fen > limit)
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

    /// A parent turned 49 long ago, in the household since 2000.
    fn parent() -> PersonFacts {
        PersonFacts {
            parent: true,
            birth_date: on(1950, 1, 1),
            joined_on: on(2000, 1, 1),
            left_on: None,
            died_on: None,
        }
    }

    const OPEN: HouseholdFacts = HouseholdFacts { ended_on: None };

    #[test]
    fn a_person_counted_the_month_after_death_is_raised() {
        let dead = PersonFacts {
            died_on: Some(on(2019, 3, 31)),
            ..parent()
        };
        let persons = [parent(), dead];
        assert_eq!(dead_counted(&persons, &OPEN, ym(2019, 4), 2), [1]);
    }

    #[test]
    fn the_month_of_death_itself_is_not_raised() {
        let dead = PersonFacts {
            died_on: Some(on(2019, 3, 1)),
            ..parent()
        };
        assert!(dead_counted(&[parent(), dead], &OPEN, ym(2019, 3), 2).is_empty());
    }

    #[test]
    fn a_payment_that_counts_only_the_living_is_not_raised() {
        let dead = PersonFacts {
            died_on: Some(on(2019, 1, 5)),
            ..parent()
        };
        assert!(dead_counted(&[parent(), dead], &OPEN, ym(2019, 4), 1).is_empty());
        // A dead child was never due: counting one more person is not a death case.
        let dead_child = PersonFacts {
            parent: false,
            ..dead
        };
        assert!(dead_counted(&[parent(), dead_child], &OPEN, ym(2019, 4), 2).is_empty());
    }

    #[test]
    fn a_payment_after_every_member_died_names_the_last_to_die() {
        let first = PersonFacts {
            died_on: Some(on(2018, 5, 1)),
            ..parent()
        };
        let last = PersonFacts {
            died_on: Some(on(2018, 9, 1)),
            ..parent()
        };
        assert_eq!(all_dead_before(&[last, first], on(2018, 9, 2)), Some(0));
        assert_eq!(all_dead_before(&[first, last], on(2018, 9, 2)), Some(1));
    }

    #[test]
    fn a_payment_while_one_member_lives_or_on_the_day_of_death_is_not_raised() {
        let dead = PersonFacts {
            died_on: Some(on(2018, 5, 1)),
            ..parent()
        };
        assert_eq!(all_dead_before(&[dead, parent()], on(2019, 1, 1)), None);
        assert_eq!(all_dead_before(&[dead], on(2018, 5, 1)), None);
        assert_eq!(all_dead_before(&[], on(2018, 5, 1)), None);
        // One who left before the payment is not a member it could be meant for.
        let left = PersonFacts {
            left_on: Some(on(2018, 1, 1)),
            ..parent()
        };
        assert_eq!(all_dead_before(&[dead, left], on(2019, 1, 1)), Some(0));
    }

    #[test]
    fn a_payment_after_the_end_is_raised_and_one_before_is_not() {
        let end = Some(on(2020, 6, 15));
        assert!(paid_after_end(end, on(2020, 6, 16), false));
        assert!(!paid_after_end(end, on(2020, 6, 15), false));
        assert!(!paid_after_end(None, on(2030, 1, 1), false));
        // The allowance for June is due: the household was in the scheme on 1 June.
        assert!(!paid_after_end(end, on(2020, 6, 20), true));
        assert!(paid_after_end(end, on(2020, 7, 1), true));
    }

    #[test]
    fn an_allowance_above_its_due_is_raised_and_one_at_its_due_is_not() {
        assert_eq!(over_due_fen(80_000, 1, Some(40_000)), Some(40_000));
        assert_eq!(over_due_fen(80_000, 2, Some(40_000)), None);
        assert_eq!(over_due_fen(80_000, 2, Some(39_999)), Some(2));
        assert_eq!(
            over_due_fen(80_000, 0, None),
            None,
            "no rate, no due to judge"
        );
    }

    #[test]
    fn three_households_share_an_account_two_do_not() {
        assert!(shares_account(3));
        assert!(!shares_account(2));
    }

    #[test]
    fn the_lower_median_is_an_amount_of_the_group() {
        let group = |pairs: &[(i64, u64)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();
        assert_eq!(lower_median(&group(&[])), None);
        assert_eq!(lower_median(&group(&[(100, 1)])), Some(100));
        assert_eq!(lower_median(&group(&[(100, 1), (300, 1)])), Some(100));
        assert_eq!(lower_median(&group(&[(100, 2), (300, 3)])), Some(300));
    }

    #[test]
    fn five_times_the_median_is_the_edge_of_an_outlier() {
        assert!(is_outlier(50_001, 10_000, 20));
        assert!(!is_outlier(50_000, 10_000, 20), "exactly 5 times");
        assert!(!is_outlier(49_000, 10_000, 20), "4.9 times");
        assert!(!is_outlier(1_000_000, 10_000, 19), "a group under 20");
        assert!(!is_outlier(1_000, 0, 50), "a zero median");
    }
}
