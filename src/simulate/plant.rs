//! What the simulator planted, as written to `planted.json`: for each case, the rule that
//! must find it (or, for a near miss, must not), where it is, and the payments that make
//! it. A later `simulate --check` matches findings to cases by rule and household.

use chrono::Datelike;
use serde::Serialize;

use super::district::{
    is_allowance, month_text, ymd, yyyymm, District, Pay, PAY_DAY, SHARED_ACCOUNT,
    SHARED_NEAR_ACCOUNT,
};

/// One planted case or near miss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// The rule id (`paid_after_death`, ...): the rule that must raise it, or for a near
    /// miss the rule that must stay quiet.
    pub rule: &'static str,
    /// The households concerned: one, or for `shared_account` every household paid to
    /// the account.
    pub households: Vec<String>,
    /// The person, for the death cases.
    pub person: Option<String>,
    /// The payee account's last four digits, for the account cases.
    pub account_last4: Option<String>,
    /// The references of the payments that make the case, in file order.
    pub references: Vec<String>,
    /// The months (`YYYY-MM`) of those payments, ascending, each once.
    pub months: Vec<String>,
    /// What was planted, in a phrase.
    pub what: &'static str,
}

/// Everything planted in one district.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planted {
    pub seed: u64,
    pub households: u32,
    pub years: u32,
    pub first_year: i32,
    /// Cases each rule must find.
    pub cases: Vec<Case>,
    /// Cases no rule may find.
    pub near_misses: Vec<Case>,
}

impl Planted {
    /// `planted.json`: pretty-printed, members in declaration order, so the same district
    /// gives the same bytes.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .expect("strings, numbers and lists always serialize");
        text.push('\n');
        text
    }
}

/// The plants, read back from the generated payments: what each case is made of is
/// whatever the district paid, so planted.json cannot drift from events.csv.
impl District {
    pub(super) fn cases(&self) -> Vec<Case> {
        let p = &self.plan;
        let death = self.death_date(p.death);
        let exit = self.exit_date(p.exit);
        let over = ymd(self.year(0), p.over_month, PAY_DAY);
        vec![
            Case {
                person: Some(self.person_id(p.death, 0)),
                ..self.case(
                    "paid_after_death",
                    "the mother died; the allowance went on counting her",
                    &[p.death],
                    |pay| is_allowance(pay) && yyyymm(pay.date) > yyyymm(death),
                )
            },
            self.case(
                "paid_after_exit",
                "the household left the scheme; its payments went on",
                &[p.exit],
                |pay| pay.date > exit,
            ),
            self.case(
                "allowance_over_due",
                "one month's allowance at a wrong rate (450.00 instead of 400.00)",
                &[p.over],
                |pay| is_allowance(pay) && pay.date == over,
            ),
            self.case(
                "duplicate_payment",
                "the holiday condolence paid twice, same amount, two references",
                &[p.duplicate],
                |pay| !is_allowance(pay) && pay.date.year() == self.year(1),
            ),
            self.account_case(
                "shared_account",
                "three households paid to one account for a year",
                &p.shared,
                SHARED_ACCOUNT,
            ),
            self.case(
                "outlier_amount",
                "a holiday condolence of 5.5 times its year's median",
                &[p.outlier],
                |pay| !is_allowance(pay) && pay.date.year() == self.year(0),
            ),
        ]
    }

    pub(super) fn near_misses(&self) -> Vec<Case> {
        let p = &self.plan;
        let death = self.death_date(p.death_near);
        let exit = self.exit_date(p.exit_near);
        let under = ymd(self.year(0), p.over_near_month, PAY_DAY);
        vec![
            Case {
                person: Some(self.person_id(p.death_near, 1)),
                ..self.case(
                    "paid_after_death",
                    "the father died; the month of his death itself paid for him (still due)",
                    &[p.death_near],
                    |pay| is_allowance(pay) && yyyymm(pay.date) == yyyymm(death),
                )
            },
            self.case(
                "paid_after_exit",
                "the household left the scheme on the day of its last payment",
                &[p.exit_near],
                |pay| pay.date == exit,
            ),
            self.case(
                "allowance_over_due",
                "one month's allowance paid short (400.00 for two eligible parents)",
                &[p.over_near],
                |pay| is_allowance(pay) && pay.date == under,
            ),
            self.case(
                "duplicate_payment",
                "two holiday condolence payments in one month, of different amounts",
                &[p.duplicate_near],
                |pay| !is_allowance(pay) && pay.date.year() == self.year(1),
            ),
            self.account_case(
                "shared_account",
                "two households paid to one account for a year",
                &p.shared_near,
                SHARED_NEAR_ACCOUNT,
            ),
            self.case(
                "outlier_amount",
                "a holiday condolence of 4.9 times its year's median",
                &[p.outlier_near],
                |pay| !is_allowance(pay) && pay.date.year() == self.year(0),
            ),
            self.case(
                "outlier_amount",
                "a micro wish ten times the median of a group of 5 payments (under 20)",
                &[p.wishes[0]],
                |pay| pay.program == "micro_wish",
            ),
        ]
    }

    /// A case of `households`: their payments that `makes` picks.
    fn case(
        &self,
        rule: &'static str,
        what: &'static str,
        households: &[usize],
        makes: impl Fn(&Pay) -> bool,
    ) -> Case {
        let pays: Vec<&Pay> = self
            .payments
            .iter()
            .filter(|pay| households.contains(&pay.household) && makes(pay))
            .collect();
        let mut months: Vec<String> = pays.iter().map(|pay| month_text(pay.date)).collect();
        months.sort();
        months.dedup();
        let mut ids: Vec<String> = households
            .iter()
            .map(|&h| self.households[h].id.clone())
            .collect();
        ids.sort();
        Case {
            rule,
            households: ids,
            person: None,
            account_last4: None,
            references: pays.iter().map(|pay| pay.reference.clone()).collect(),
            months,
            what,
        }
    }

    fn account_case(
        &self,
        rule: &'static str,
        what: &'static str,
        households: &[usize],
        account: &str,
    ) -> Case {
        Case {
            account_last4: Some(account[account.len() - 4..].to_owned()),
            ..self.case(rule, what, households, |pay| {
                pay.account.as_deref() == Some(account)
            })
        }
    }
}
