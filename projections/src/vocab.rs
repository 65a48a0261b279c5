//! The read-side vocabulary: the only facts a read model needs.
//!
//! The main crate maps each of its events to at most one [`Fact`]; events
//! that are not facts still advance the sequence via `ReadModels::skip`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Months are numbered 1 (January) to 12 (December), as on a calendar.
pub const MONTHS_PER_YEAR: u8 = 12;

/// A calendar date (proleptic Gregorian). Field order makes the derived
/// `Ord` chronological.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// A date, or `None` if no such day exists (month 13, 30 February, ...).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        let date = Date { year, month, day };
        date.is_valid().then_some(date)
    }

    /// Whether this day exists; the fields are public, so a value may be built
    /// without [`Date::new`] and the fold checks again.
    pub fn is_valid(&self) -> bool {
        (1..=MONTHS_PER_YEAR).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
    }

    /// The month this date falls in.
    pub fn year_month(&self) -> YearMonth {
        YearMonth {
            year: self.year,
            month: self.month,
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// A calendar month of a given year; printed `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct YearMonth {
    pub year: i32,
    pub month: u8,
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// How money or a benefit reached a household. All kinds count alike in the
/// read models; the kind matters to the trail and to the main crate's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PaymentKind {
    Disbursement,
    InsurancePurchase,
    CondolencePayment,
    InKindBenefit,
}

impl PaymentKind {
    /// Stable snake_case name, for reports and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentKind::Disbursement => "disbursement",
            PaymentKind::InsurancePurchase => "insurance_purchase",
            PaymentKind::CondolencePayment => "condolence_payment",
            PaymentKind::InKindBenefit => "in_kind_benefit",
        }
    }
}

impl fmt::Display for PaymentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One fact the read models fold. Amounts are fen (1 yuan = 100 fen) and
/// must not be negative.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fact {
    /// A household joins the scheme. Its sub-district and community place
    /// all of its payments in the district totals, so a household is enrolled
    /// exactly once.
    HouseholdEnrolled {
        household: String,
        subdistrict: String,
        community: String,
        category: String,
        members: u32,
        enrolled_on: Date,
    },
    /// Money is allocated to a program (from a budget `source`).
    Allocated {
        program: String,
        amount_fen: i64,
        date: Date,
        source: String,
    },
    /// Money or a benefit reaches a household; `date` is the value date,
    /// which picks the year/month cell in the totals.
    Paid {
        kind: PaymentKind,
        household: String,
        program: String,
        amount_fen: i64,
        persons: u32,
        date: Date,
        reference: String,
    },
    /// A reversal removes the whole target payment from every read model, in
    /// the cell of the TARGET's value date (reporting treats a reversed
    /// payment as never paid); it carries the target's fields so no model
    /// needs to remember per-event data.
    Reversed {
        target_seq: u64,
        household: String,
        program: String,
        amount_fen: i64,
        persons: u32,
        target_date: Date,
        date: Date,
        reason: String,
    },
    /// A decision on a finding sets its receivable (追缴): the amount to recover from
    /// `household` for `program`, replacing what an earlier decision on the same
    /// finding set (a dismissal sets 0). See `receivables` for the rules it must keep.
    ReceivableSet {
        finding: String,
        household: String,
        program: String,
        amount_fen: i64,
    },
    /// Money of a finding's receivable came back on `date`: the program has it to spend
    /// again, and the totals show it beside the payments of the recovery's month.
    Recovered {
        finding: String,
        household: String,
        program: String,
        amount_fen: i64,
        date: Date,
        reference: String,
    },
    /// A reversal of a recovery (`target_seq`, dated `target_date`): as if it never came
    /// back, so the receivable is open again. Carries the recovery's fields, as
    /// `Reversed` carries a payment's.
    RecoveryReversed {
        target_seq: u64,
        finding: String,
        household: String,
        program: String,
        amount_fen: i64,
        target_date: Date,
        date: Date,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_order_chronologically_and_print_iso() {
        let a = Date {
            year: 2018,
            month: 12,
            day: 31,
        };
        let b = Date {
            year: 2019,
            month: 1,
            day: 1,
        };
        assert!(a < b);
        assert_eq!(a.to_string(), "2018-12-31");
        assert_eq!(b.year_month().to_string(), "2019-01");
        assert!(a.year_month() < b.year_month());
    }

    #[test]
    fn payment_kinds_have_stable_names() {
        let names: Vec<&str> = [
            PaymentKind::Disbursement,
            PaymentKind::InsurancePurchase,
            PaymentKind::CondolencePayment,
            PaymentKind::InKindBenefit,
        ]
        .iter()
        .map(|k| k.as_str())
        .collect();
        assert_eq!(
            names,
            [
                "disbursement",
                "insurance_purchase",
                "condolence_payment",
                "in_kind_benefit"
            ]
        );
    }
}
