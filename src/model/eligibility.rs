//! Eligibility for the support allowance by person and month. (Minimal; the full module
//! with its reference-model property test replaces this.)

use chrono::{Datelike, NaiveDate};

use crate::model::domain::Month;
use crate::model::person::Role;

/// The age from whose month a parent is due the allowance.
pub const ELIGIBLE_AGE_YEARS: i32 = 49;

pub struct PersonFacts {
    pub role: Role,
    pub birth_date: NaiveDate,
    pub joined_on: NaiveDate,
    pub left_on: Option<NaiveDate>,
    pub died_on: Option<NaiveDate>,
}

pub struct HouseholdFacts {
    pub ended_on: Option<NaiveDate>,
}

/// Whether a person counts in `month`.
pub fn counts(p: &PersonFacts, h: &HouseholdFacts, month: Month) -> bool {
    let first = month.first_day();
    let parent = matches!(p.role, Role::Mother | Role::Father);
    let present = p.joined_on <= first && p.left_on.is_none_or(|left| left > first);
    let turns = (
        p.birth_date.year() + ELIGIBLE_AGE_YEARS,
        p.birth_date.month(),
    );
    let of_age = (first.year(), first.month()) >= turns;
    let alive = p.died_on.is_none_or(|died| Month::of(died) >= month);
    let open = h.ended_on.is_none_or(|end| end >= first);
    parent && present && of_age && alive && open
}
