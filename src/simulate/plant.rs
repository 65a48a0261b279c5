//! What the simulator planted, as written to `planted.json`: for each case, the rule that
//! must find it (or, for a near miss, must not), where it is, and the payments that make
//! it. A later `simulate --check` matches findings to cases by rule and household.

use serde::Serialize;

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
