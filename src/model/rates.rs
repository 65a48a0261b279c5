//! The rates table and what it makes households due: the rules a new rate must satisfy,
//! the rate valid on a day, the monthly support allowance run's amounts, and a household's
//! entitlement against what it was paid.
//!
//! Pure: rates, households and payments come in as values; `batch` reads them from the
//! ledger.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::model::domain::{
    date_to_days, Category, Command, Enrollment, HouseholdId, Money, Month, Payment, PaymentKind,
    ProgramCode, Rate, Reference,
};
use crate::model::encoding::{category_code, stored_category, RateV1};
use crate::model::people::People;
use crate::model::render::date_text;
use crate::model::rules::HouseholdInfo;

/// The program the monthly run pays and the entitlement balance covers.
pub const ALLOWANCE_PROGRAM: &str = "support_allowance";

/// An entitlement spans at most a century of months: far beyond any household's time in
/// the scheme, it stops a mistyped `--through 9999-12` from building a million rows.
pub const MAX_ENTITLEMENT_MONTHS: usize = 1200;

/// Why a rate is refused, with the input field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("{valid_to} is before valid_from {valid_from}")]
    EndsBeforeStart {
        valid_from: String,
        valid_to: String,
    },
    #[error("a rate must be at least 0.01 per member")]
    NotPositive,
    #[error("{new} overlaps the {program} {category} rate {existing}; a rate with an end date may not reach into the next one")]
    Overlap {
        program: String,
        category: &'static str,
        new: String,
        existing: String,
    },
}

impl RateError {
    /// The CSV column to blame.
    pub fn field(&self) -> &'static str {
        match self {
            RateError::EndsBeforeStart { .. } => "valid_to",
            RateError::NotPositive => "per_member",
            RateError::Overlap { .. } => "valid_from",
        }
    }
}

/// Why amounts due could not be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DueError {
    #[error("no {ALLOWANCE_PROGRAM} rate for {category} households on {day} ({households} household(s) due); import rates first")]
    NoRate {
        category: &'static str,
        day: NaiveDate,
        households: usize,
    },
    #[error("{0} is too many months (at most {MAX_ENTITLEMENT_MONTHS})")]
    TooManyMonths(usize),
    #[error("the amounts of household {0} overflow")]
    Overflow(String),
}

/// The stored form of a rate command.
pub fn rate_v1(rate: &Rate) -> RateV1 {
    RateV1 {
        program: rate.program.to_string(),
        category: category_code(rate.category),
        per_member_fen: rate.per_member.fen(),
        valid_from: date_to_days(rate.valid_from),
        valid_to: rate.valid_to.map(date_to_days),
    }
}

/// `2015-01-01..2018-06-30` or `2018-07-01..` (open).
pub fn period_text(rate: &RateV1) -> String {
    let end = rate.valid_to.map_or(String::new(), date_text);
    format!("{}..{end}", date_text(rate.valid_from))
}

/// Checks a new rate against the rates already recorded or planned. Two rates of the same
/// program and category overlap when the earlier one has an end date on or after the later
/// one's start; an open-ended rate simply ends where the next one starts.
pub fn check_new_rate(existing: &[RateV1], new: &RateV1) -> Result<(), RateError> {
    if new.per_member_fen < 1 {
        return Err(RateError::NotPositive);
    }
    if let Some(to) = new.valid_to.filter(|to| *to < new.valid_from) {
        return Err(RateError::EndsBeforeStart {
            valid_from: date_text(new.valid_from),
            valid_to: date_text(to),
        });
    }
    let same_kind = existing
        .iter()
        .filter(|e| e.program == new.program && e.category == new.category);
    for old in same_kind {
        let (earlier, later) = if old.valid_from <= new.valid_from {
            (old, new)
        } else {
            (new, old)
        };
        let reaches = earlier.valid_to.is_none_or(|to| to >= later.valid_from);
        let open_superseded = earlier.valid_to.is_none() && earlier.valid_from < later.valid_from;
        if reaches && !open_superseded {
            return Err(overlap(new, old));
        }
    }
    Ok(())
}

fn overlap(new: &RateV1, existing: &RateV1) -> RateError {
    RateError::Overlap {
        program: new.program.clone(),
        category: stored_category(new.category).map_or("?", Category::code),
        new: period_text(new),
        existing: period_text(existing),
    }
}

/// The recorded rates, by program and category, each list ordered by first valid day.
#[derive(Debug, Clone, Default)]
pub struct RateTable {
    rates: BTreeMap<(String, u8), Vec<RateV1>>,
}

impl RateTable {
    pub fn new(rates: impl IntoIterator<Item = RateV1>) -> RateTable {
        let mut table = RateTable::default();
        for rate in rates {
            let key = (rate.program.clone(), rate.category);
            table.rates.entry(key).or_default().push(rate);
        }
        for list in table.rates.values_mut() {
            list.sort_by_key(|r| r.valid_from);
        }
        table
    }

    /// Every rate, by program, category and first valid day.
    pub fn iter(&self) -> impl Iterator<Item = &RateV1> {
        self.rates.values().flatten()
    }

    /// The rate valid on `day`: the latest one starting on or before it, unless its end date
    /// has passed.
    pub fn on(&self, program: &str, category: Category, day: NaiveDate) -> Option<&RateV1> {
        let day = date_to_days(day);
        let list = self
            .rates
            .get(&(program.to_owned(), category_code(category)))?;
        let started = list.partition_point(|r| r.valid_from <= day);
        let rate = list.get(started.checked_sub(1)?)?;
        rate.valid_to.is_none_or(|to| day <= to).then_some(rate)
    }

    /// The effective last day of a rate: its own end, or the day before the next rate of
    /// its program and category starts, or `None` while it is open.
    pub fn effective_end(&self, rate: &RateV1) -> Option<i32> {
        let list = self.rates.get(&(rate.program.clone(), rate.category))?;
        let next = list.iter().find(|r| r.valid_from > rate.valid_from);
        match (rate.valid_to, next) {
            (Some(to), _) => Some(to),
            (None, Some(next)) => Some(next.valid_from - 1),
            (None, None) => None,
        }
    }
}

/// What a household is due for one month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthDue {
    /// Enrolled after the month ended.
    NotEnrolled,
    /// No rate for its category on the month's first day.
    NoRate,
    Due {
        per_member: Money,
        amount: Money,
    },
}

/// What a household's allowance of a month is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueBasis {
    /// Its persons eligible in the month (`model::eligibility`).
    Persons,
    /// Its `members` count: no person of the household is recorded yet.
    Members,
}

impl DueBasis {
    /// `persons` or `members (no persons recorded)`, as the run and entitlement show it.
    pub fn text(self) -> &'static str {
        match self {
            DueBasis::Persons => "persons",
            DueBasis::Members => "members (no persons recorded)",
        }
    }
}

/// Who a household's allowance of `month` counts: its eligible persons once any person of
/// it is recorded, else its `members` count.
pub fn counted(enrollment: &Enrollment, people: &People, month: Month) -> (DueBasis, u32) {
    let household = enrollment.household.as_str();
    if !people.has_persons(household) {
        return (DueBasis::Members, enrollment.members);
    }
    let eligible = people.eligible(household, month).counted.len();
    (
        DueBasis::Persons,
        u32::try_from(eligible).unwrap_or(u32::MAX),
    )
}

/// `persons` × the allowance rate valid on the month's first day, for a household enrolled
/// by the month's last day (enrolling at any time in a month earns the whole month).
pub fn month_due(
    enrollment: &Enrollment,
    table: &RateTable,
    month: Month,
    persons: u32,
) -> Option<MonthDue> {
    if enrollment.enrolled_on > month.last_day() {
        return Some(MonthDue::NotEnrolled);
    }
    let Some(rate) = table.on(ALLOWANCE_PROGRAM, enrollment.category, month.first_day()) else {
        return Some(MonthDue::NoRate);
    };
    let amount = rate.per_member_fen.checked_mul(i64::from(persons))?;
    Some(MonthDue::Due {
        per_member: Money::from_fen(rate.per_member_fen),
        amount: Money::from_fen(amount),
    })
}

/// One household's disbursement in a monthly run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowanceDue {
    pub household: HouseholdId,
    pub category: Category,
    /// The persons paid for: eligible persons, or members (see `basis`).
    pub persons: u32,
    pub basis: DueBasis,
    pub per_member: Money,
    pub amount: Money,
    pub reference: Reference,
}

/// Every enrolled household's allowance for `month`, in household id order; a household
/// whose recorded persons include none eligible in the month is not paid. A due household
/// whose category has no rate stops the run: paying it nothing would be a silent error.
pub fn allowance_due(
    month: Month,
    households: &BTreeMap<String, HouseholdInfo>,
    people: &People,
    table: &RateTable,
) -> Result<Vec<AllowanceDue>, DueError> {
    let mut due = Vec::new();
    let mut missing: BTreeMap<Category, usize> = BTreeMap::new();
    for info in households.values() {
        let e = &info.enrollment;
        let (basis, persons) = counted(e, people, month);
        if persons == 0 {
            continue;
        }
        match month_due(e, table, month, persons) {
            None => return Err(DueError::Overflow(e.household.to_string())),
            Some(MonthDue::NotEnrolled) => {}
            Some(MonthDue::NoRate) => *missing.entry(e.category).or_default() += 1,
            Some(MonthDue::Due { per_member, amount }) => due.push(AllowanceDue {
                household: e.household.clone(),
                category: e.category,
                persons,
                basis,
                per_member,
                amount,
                reference: Reference::for_allowance(month, &e.household),
            }),
        }
    }
    match missing.into_iter().next() {
        Some((category, households)) => Err(DueError::NoRate {
            category: category.code(),
            day: month.first_day(),
            households,
        }),
        None => Ok(due),
    }
}

/// The disbursement command for one household's allowance, dated the month's last day.
pub fn allowance_command(due: &AllowanceDue, month: Month) -> Command {
    Command::Pay(Payment {
        kind: PaymentKind::Disbursement,
        household: due.household.clone(),
        program: ProgramCode::parse(ALLOWANCE_PROGRAM)
            .expect("the allowance program is in the catalog"),
        amount: due.amount,
        persons: due.persons,
        date: month.last_day(),
        reference: due.reference.clone(),
        memo: allowance_memo(due, month),
        account: None,
    })
}

/// `support allowance 2018-07: 3 x 340.00`.
pub fn allowance_memo(due: &AllowanceDue, month: Month) -> String {
    format!(
        "support allowance {month}: {} x {}",
        due.persons, due.per_member
    )
}

/// One month of a household's entitlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementMonth {
    pub month: Month,
    /// The persons the month's due counts, and from what.
    pub persons: u32,
    pub basis: DueBasis,
    /// The rate per member on the month's first day; `None` when there was none.
    pub per_member: Option<Money>,
    pub due: Money,
    pub paid: Money,
}

/// A household's support allowance entitlement against what it was paid, month by month
/// from its enrollment month through `through`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub household: HouseholdId,
    pub through: Month,
    pub months: Vec<EntitlementMonth>,
    pub due: Money,
    pub paid: Money,
}

impl Entitlement {
    /// Due minus paid: positive is arrears, negative is overpaid.
    pub fn balance(&self) -> Money {
        Money::from_fen(self.due.fen() - self.paid.fen())
    }

    /// `arrears`, `overpaid` or `settled`.
    pub fn standing(&self) -> &'static str {
        match self.balance().fen() {
            0 => "settled",
            b if b > 0 => "arrears",
            _ => "overpaid",
        }
    }
}

/// The entitlement of one household. `paid` holds its live (not reversed) support allowance
/// payments as (value date in days, fen); those after `through` are left out.
pub fn entitlement(
    enrollment: &Enrollment,
    people: &People,
    table: &RateTable,
    paid: &[(i32, i64)],
    through: Month,
) -> Result<Entitlement, DueError> {
    let overflow = || DueError::Overflow(enrollment.household.to_string());
    let first = Month::of(enrollment.enrolled_on);
    let mut months = Vec::new();
    let mut month = first;
    while month <= through {
        if months.len() >= MAX_ENTITLEMENT_MONTHS {
            return Err(DueError::TooManyMonths(months.len() + 1));
        }
        let (basis, persons) = counted(enrollment, people, month);
        let (per_member, due) =
            match month_due(enrollment, table, month, persons).ok_or_else(overflow)? {
                MonthDue::Due { per_member, amount } => (Some(per_member), amount),
                MonthDue::NotEnrolled | MonthDue::NoRate => (None, Money::ZERO),
            };
        let paid_fen = paid_in(paid, month, month == first).ok_or_else(overflow)?;
        months.push(EntitlementMonth {
            month,
            persons,
            basis,
            per_member,
            due,
            paid: Money::from_fen(paid_fen),
        });
        month = month.next();
    }
    let sum = |f: fn(&EntitlementMonth) -> Money| {
        months
            .iter()
            .try_fold(Money::ZERO, |acc, m| acc.checked_add(f(m)))
    };
    Ok(Entitlement {
        household: enrollment.household.clone(),
        through,
        due: sum(|m| m.due).ok_or_else(overflow)?,
        paid: sum(|m| m.paid).ok_or_else(overflow)?,
        months,
    })
}

/// What was paid in a month; the first month also takes anything dated before it, so no
/// payment is left out of the balance.
fn paid_in(paid: &[(i32, i64)], month: Month, first: bool) -> Option<i64> {
    let start = date_to_days(month.first_day());
    paid.iter()
        .filter(|(day, _)| month.contains_days(*day) || (first && *day < start))
        .try_fold(0i64, |acc, (_, fen)| acc.checked_add(*fen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::domain::parse_date;

    fn rate(cat: u8, fen: i64, from: &str, to: Option<&str>) -> RateV1 {
        RateV1 {
            program: ALLOWANCE_PROGRAM.into(),
            category: cat,
            per_member_fen: fen,
            valid_from: date_to_days(parse_date(from).unwrap()),
            valid_to: to.map(|t| date_to_days(parse_date(t).unwrap())),
        }
    }

    #[test]
    fn open_rates_end_where_the_next_starts() {
        let old = rate(0, 34_000, "2015-01-01", None);
        let new = rate(0, 40_000, "2018-07-01", None);
        assert_eq!(check_new_rate(std::slice::from_ref(&old), &new), Ok(()));
        // The earlier rate may also arrive second.
        assert_eq!(check_new_rate(std::slice::from_ref(&new), &old), Ok(()));
        let table = RateTable::new([old.clone(), new]);
        let on = |d| {
            table.on(
                ALLOWANCE_PROGRAM,
                Category::Bereaved,
                parse_date(d).unwrap(),
            )
        };
        assert_eq!(on("2018-06-30").map(|r| r.per_member_fen), Some(34_000));
        assert_eq!(on("2018-07-01").map(|r| r.per_member_fen), Some(40_000));
        assert_eq!(on("2014-12-31"), None);
        assert_eq!(
            table.effective_end(&old),
            Some(date_to_days(parse_date("2018-06-30").unwrap()))
        );
        assert_eq!(
            table.on(
                ALLOWANCE_PROGRAM,
                Category::Disabled,
                parse_date("2018-07-01").unwrap()
            ),
            None
        );
    }

    #[test]
    fn end_dates_may_not_reach_into_another_rate() {
        let closed = rate(1, 30_000, "2015-01-01", Some("2018-07-31"));
        let later = rate(1, 35_000, "2018-07-01", None);
        let err = check_new_rate(std::slice::from_ref(&closed), &later).unwrap_err();
        assert_eq!(err.field(), "valid_from");
        assert!(err.to_string().contains("2015-01-01..2018-07-31"), "{err}");
        assert!(check_new_rate(std::slice::from_ref(&later), &closed).is_err());
        // A new open rate starting inside a closed period.
        let inside = rate(1, 1, "2016-01-01", None);
        assert!(check_new_rate(std::slice::from_ref(&closed), &inside).is_err());
        // The other category is independent; a gap is allowed.
        assert!(check_new_rate(
            std::slice::from_ref(&closed),
            &rate(0, 1, "2016-01-01", None)
        )
        .is_ok());
        assert!(check_new_rate(&[closed], &rate(1, 1, "2018-08-01", None)).is_ok());
    }

    #[test]
    fn rates_need_a_positive_amount_and_an_ordered_period() {
        let backwards = rate(0, 100, "2018-07-01", Some("2018-06-30"));
        assert_eq!(
            check_new_rate(&[], &backwards).unwrap_err().field(),
            "valid_to"
        );
        assert_eq!(
            check_new_rate(&[], &rate(0, 0, "2018-07-01", None)),
            Err(RateError::NotPositive)
        );
        let table = RateTable::new([rate(0, 100, "2018-01-01", Some("2018-01-31"))]);
        assert!(table
            .on(
                ALLOWANCE_PROGRAM,
                Category::Bereaved,
                parse_date("2018-02-01").unwrap()
            )
            .is_none());
    }

    fn household(id: &str, cat: Category, members: u32, on: &str) -> (String, HouseholdInfo) {
        let enrollment = Enrollment {
            household: HouseholdId::parse(id).unwrap(),
            subdistrict: "拓东".into(),
            community: "c".into(),
            category: cat,
            members,
            enrolled_on: parse_date(on).unwrap(),
        };
        (
            id.into(),
            HouseholdInfo {
                enrollment,
                seq: crate::model::domain::Seq::new(1),
            },
        )
    }

    #[test]
    fn the_run_pays_members_times_rate_to_households_enrolled_by_month_end() {
        let table = RateTable::new([
            rate(0, 34_000, "2015-01-01", None),
            rate(1, 27_000, "2015-01-01", None),
        ]);
        let households: BTreeMap<_, _> = [
            household("A", Category::Bereaved, 2, "2015-03-01"),
            household("B", Category::Disabled, 3, "2018-07-31"),
            household("C", Category::Bereaved, 1, "2018-08-01"),
        ]
        .into_iter()
        .collect();
        let month = Month::parse("2018-07").unwrap();
        let due = allowance_due(month, &households, &People::new(), &table).unwrap();
        let summary: Vec<(&str, i64, &str)> = due
            .iter()
            .map(|d| (d.household.as_str(), d.amount.fen(), d.reference.as_str()))
            .collect();
        assert_eq!(
            summary,
            [("A", 68_000, "ALW-201807-A"), ("B", 81_000, "ALW-201807-B")]
        );
        let Command::Pay(p) = allowance_command(&due[1], month) else {
            panic!()
        };
        assert_eq!(p.date, parse_date("2018-07-31").unwrap());
        assert_eq!(p.persons, 3);
        assert_eq!(p.memo, "support allowance 2018-07: 3 x 270.00");
    }

    #[test]
    fn a_due_household_without_a_rate_stops_the_run() {
        let table = RateTable::new([rate(0, 34_000, "2015-01-01", None)]);
        let households: BTreeMap<_, _> = [
            household("A", Category::Bereaved, 2, "2015-03-01"),
            household("B", Category::Disabled, 3, "2015-03-01"),
        ]
        .into_iter()
        .collect();
        let err = allowance_due(
            Month::parse("2018-07").unwrap(),
            &households,
            &People::new(),
            &table,
        )
        .unwrap_err();
        assert_eq!(
            err,
            DueError::NoRate {
                category: "disabled",
                day: parse_date("2018-07-01").unwrap(),
                households: 1
            }
        );
    }

    #[test]
    fn entitlement_follows_rate_changes_and_counts_what_was_paid() {
        let table = RateTable::new([
            rate(0, 10_000, "2018-01-01", None),
            rate(0, 12_000, "2018-03-01", None),
        ]);
        let (_, info) = household("A", Category::Bereaved, 2, "2018-01-20");
        let day = |d| date_to_days(parse_date(d).unwrap());
        let paid = [
            (day("2018-01-31"), 20_000),
            (day("2018-02-28"), 20_000),
            (day("2018-04-30"), 30_000),
            (day("2018-05-31"), 24_000),
        ];
        let e = entitlement(
            &info.enrollment,
            &People::new(),
            &table,
            &paid,
            Month::parse("2018-04").unwrap(),
        )
        .unwrap();
        let months: Vec<(String, i64, i64)> = e
            .months
            .iter()
            .map(|m| (m.month.to_string(), m.due.fen(), m.paid.fen()))
            .collect();
        assert_eq!(
            months,
            [
                ("2018-01".to_string(), 20_000, 20_000),
                ("2018-02".to_string(), 20_000, 20_000),
                ("2018-03".to_string(), 24_000, 0),
                ("2018-04".to_string(), 24_000, 30_000),
            ]
        );
        assert_eq!(
            (e.due, e.paid, e.balance(), e.standing()),
            (
                Money::from_fen(88_000),
                Money::from_fen(70_000),
                Money::from_fen(18_000),
                "arrears"
            )
        );
        let before = entitlement(
            &info.enrollment,
            &People::new(),
            &table,
            &paid,
            Month::parse("2017-12").unwrap(),
        )
        .unwrap();
        assert!(before.months.is_empty());
        assert_eq!(before.standing(), "settled");
        let far = entitlement(
            &info.enrollment,
            &People::new(),
            &table,
            &paid,
            Month::parse("9999-12").unwrap(),
        );
        assert!(matches!(far, Err(DueError::TooManyMonths(_))));
    }
}
