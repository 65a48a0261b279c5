//! Receivables (追缴): what confirmed findings say a household owes back, and what
//! recoveries have brought in, per finding.
//!
//! A decision on a finding sets that finding's receivable (a confirmed overpayment to
//! the amount to recover, a dismissal to 0), replacing what an earlier decision on the
//! same finding set; a recovery reduces what is open. Two rules keep the books true:
//! a recovery never takes a receivable below zero ([`Receivables::check_recover`]),
//! and a superseding decision never sets a receivable below what was already recovered
//! for it, nor moves it to another household or program once money came back
//! ([`Receivables::check_set`]). The write rules and the read models call the same
//! functions, so what one lets in the other folds.
//!
//! State grows with findings, never with events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::money::format_fen;

/// One finding's receivable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receivable {
    pub household: String,
    /// The program the overpaid money came from ("" when a decision named none).
    pub program: String,
    /// What the latest decision says is to be recovered, in fen.
    pub amount_fen: i64,
    /// What recoveries have brought in so far, in fen; never above `amount_fen`.
    pub recovered_fen: i64,
}

impl Receivable {
    /// What is still to be recovered: never negative, by the two rules.
    pub fn open_fen(&self) -> i64 {
        self.amount_fen.saturating_sub(self.recovered_fen)
    }
}

/// Why a decision or a recovery does not fit the receivables.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ReceivableError {
    #[error("finding {finding} has no receivable: no decision confirmed an amount to recover")]
    NoReceivable { finding: String },
    #[error("finding {finding} is about household {expected}, not {found}")]
    OtherHousehold {
        finding: String,
        expected: String,
        found: String,
    },
    #[error("finding {finding}'s receivable is in program {expected}, not {found}")]
    OtherProgram {
        finding: String,
        expected: String,
        found: String,
    },
    #[error("a recovery must be more than 0 (found {} yuan)", format_fen(*amount_fen))]
    NotPositive { amount_fen: i64 },
    #[error("a receivable cannot be negative (found {} yuan)", format_fen(*amount_fen))]
    Negative { amount_fen: i64 },
    #[error(
        "{} yuan would take finding {finding}'s receivable below zero: {} yuan is open",
        format_fen(*amount_fen),
        format_fen(*open_fen)
    )]
    BeyondOpen {
        finding: String,
        open_fen: i64,
        amount_fen: i64,
    },
    #[error(
        "finding {finding} already had {} yuan recovered: a decision cannot set its \
         receivable to {} yuan",
        format_fen(*recovered_fen),
        format_fen(*amount_fen)
    )]
    BelowRecovered {
        finding: String,
        recovered_fen: i64,
        amount_fen: i64,
    },
    #[error(
        "a reversal of {} yuan exceeds the {} yuan recovered for finding {finding}",
        format_fen(*amount_fen),
        format_fen(*recovered_fen)
    )]
    RestoreBeyondRecovered {
        finding: String,
        recovered_fen: i64,
        amount_fen: i64,
    },
    #[error("a sum of receivables would not fit in 64 bits")]
    Overflow,
}

/// Every finding's receivable, by finding id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receivables {
    by_finding: BTreeMap<String, Receivable>,
}

/// One household's receivables in one program, summed over its findings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivableRow {
    pub program: String,
    /// Sum of what the latest decisions set.
    pub opened_fen: i64,
    pub recovered_fen: i64,
    /// `opened_fen - recovered_fen`, never negative.
    pub open_fen: i64,
}

impl Receivables {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, finding: &str) -> Option<&Receivable> {
        self.by_finding.get(finding)
    }

    /// Number of findings with a decision that set a receivable (0 included).
    pub fn len(&self) -> usize {
        self.by_finding.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_finding.is_empty()
    }

    /// Whether a decision may set `finding`'s receivable to `amount_fen` for `household`
    /// and `program`: never below what was recovered for it, and, once anything was
    /// recovered, never for another household or program (that money came back to the
    /// program it was paid from).
    pub fn check_set(
        &self,
        finding: &str,
        household: &str,
        program: &str,
        amount_fen: i64,
    ) -> Result<(), ReceivableError> {
        if amount_fen < 0 {
            return Err(ReceivableError::Negative { amount_fen });
        }
        let Some(previous) = self.by_finding.get(finding) else {
            return Ok(());
        };
        if previous.recovered_fen == 0 {
            return Ok(());
        }
        previous.check_owner(finding, household, program)?;
        if amount_fen < previous.recovered_fen {
            return Err(ReceivableError::BelowRecovered {
                finding: finding.to_owned(),
                recovered_fen: previous.recovered_fen,
                amount_fen,
            });
        }
        Ok(())
    }

    /// A decision: `finding`'s receivable becomes `amount_fen`, replacing the earlier
    /// decision's. On error nothing changes.
    pub fn set(
        &mut self,
        finding: &str,
        household: &str,
        program: &str,
        amount_fen: i64,
    ) -> Result<(), ReceivableError> {
        self.check_set(finding, household, program, amount_fen)?;
        let entry = self.by_finding.entry(finding.to_owned()).or_default();
        entry.household = household.to_owned();
        entry.program = program.to_owned();
        entry.amount_fen = amount_fen;
        Ok(())
    }

    /// Whether a recovery of `amount_fen` fits `finding`'s open receivable for `household`
    /// and `program`.
    pub fn check_recover(
        &self,
        finding: &str,
        household: &str,
        program: &str,
        amount_fen: i64,
    ) -> Result<(), ReceivableError> {
        if amount_fen <= 0 {
            return Err(ReceivableError::NotPositive { amount_fen });
        }
        let receivable = self
            .by_finding
            .get(finding)
            .filter(|r| r.amount_fen > 0)
            .ok_or_else(|| ReceivableError::NoReceivable {
                finding: finding.to_owned(),
            })?;
        receivable.check_owner(finding, household, program)?;
        if amount_fen > receivable.open_fen() {
            return Err(ReceivableError::BeyondOpen {
                finding: finding.to_owned(),
                open_fen: receivable.open_fen(),
                amount_fen,
            });
        }
        Ok(())
    }

    /// A recovery: `amount_fen` more came back for `finding`. On error nothing changes.
    pub fn recover(
        &mut self,
        finding: &str,
        household: &str,
        program: &str,
        amount_fen: i64,
    ) -> Result<(), ReceivableError> {
        self.check_recover(finding, household, program, amount_fen)?;
        let receivable = self
            .by_finding
            .get_mut(finding)
            .expect("check_recover found this finding");
        receivable.recovered_fen = receivable
            .recovered_fen
            .checked_add(amount_fen)
            .ok_or(ReceivableError::Overflow)?;
        Ok(())
    }

    /// Whether a reversal of a recovery of `amount_fen` fits what was recovered for
    /// `finding`.
    pub fn check_restore(
        &self,
        finding: &str,
        household: &str,
        program: &str,
        amount_fen: i64,
    ) -> Result<(), ReceivableError> {
        let receivable =
            self.by_finding
                .get(finding)
                .ok_or_else(|| ReceivableError::NoReceivable {
                    finding: finding.to_owned(),
                })?;
        receivable.check_owner(finding, household, program)?;
        if amount_fen <= 0 || amount_fen > receivable.recovered_fen {
            return Err(ReceivableError::RestoreBeyondRecovered {
                finding: finding.to_owned(),
                recovered_fen: receivable.recovered_fen,
                amount_fen,
            });
        }
        Ok(())
    }

    /// A reversal of a recovery: the receivable is open again by `amount_fen`. On error
    /// nothing changes.
    pub fn restore(
        &mut self,
        finding: &str,
        household: &str,
        program: &str,
        amount_fen: i64,
    ) -> Result<(), ReceivableError> {
        self.check_restore(finding, household, program, amount_fen)?;
        let receivable = self
            .by_finding
            .get_mut(finding)
            .expect("check_restore found this finding");
        receivable.recovered_fen -= amount_fen;
        Ok(())
    }

    /// A household's receivables per program, sorted by program; programs whose
    /// decisions set nothing to recover are left out.
    pub fn of_household(&self, household: &str) -> Vec<ReceivableRow> {
        let mut rows: BTreeMap<&str, ReceivableRow> = BTreeMap::new();
        let own = self
            .by_finding
            .values()
            .filter(|r| r.household == household && r.amount_fen > 0);
        for receivable in own {
            let row = rows.entry(&receivable.program).or_default();
            row.opened_fen = row.opened_fen.saturating_add(receivable.amount_fen);
            row.recovered_fen = row.recovered_fen.saturating_add(receivable.recovered_fen);
            row.open_fen = row.open_fen.saturating_add(receivable.open_fen());
        }
        rows.into_iter()
            .map(|(program, row)| ReceivableRow {
                program: program.to_owned(),
                ..row
            })
            .collect()
    }
}

impl Receivable {
    fn check_owner(
        &self,
        finding: &str,
        household: &str,
        program: &str,
    ) -> Result<(), ReceivableError> {
        if self.household != household {
            return Err(ReceivableError::OtherHousehold {
                finding: finding.to_owned(),
                expected: self.household.clone(),
                found: household.to_owned(),
            });
        }
        if self.program != program {
            return Err(ReceivableError::OtherProgram {
                finding: finding.to_owned(),
                expected: self.program.clone(),
                found: program.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &str = "00112233aabbccdd";

    fn confirmed(amount_fen: i64) -> Receivables {
        let mut r = Receivables::new();
        r.set(F, "H1", "support_allowance", amount_fen).unwrap();
        r
    }

    #[test]
    fn a_decision_opens_a_receivable_and_recoveries_reduce_it() {
        let mut r = confirmed(10_000);
        r.recover(F, "H1", "support_allowance", 4_000).unwrap();
        let got = r.get(F).unwrap();
        assert_eq!((got.recovered_fen, got.open_fen()), (4_000, 6_000));
        assert_eq!(
            r.of_household("H1"),
            vec![ReceivableRow {
                program: "support_allowance".into(),
                opened_fen: 10_000,
                recovered_fen: 4_000,
                open_fen: 6_000,
            }]
        );
        assert!(r.of_household("H2").is_empty());
    }

    #[test]
    fn a_recovery_never_takes_a_receivable_below_zero() {
        let mut r = confirmed(10_000);
        r.recover(F, "H1", "support_allowance", 6_000).unwrap();
        let before = r.clone();
        let err = r.recover(F, "H1", "support_allowance", 4_001).unwrap_err();
        assert_eq!(
            err,
            ReceivableError::BeyondOpen {
                finding: F.into(),
                open_fen: 4_000,
                amount_fen: 4_001
            }
        );
        assert_eq!(r, before, "a refused recovery changes nothing");
        r.recover(F, "H1", "support_allowance", 4_000).unwrap();
        assert_eq!(r.get(F).unwrap().open_fen(), 0);
        assert!(matches!(
            r.recover(F, "H1", "support_allowance", 1),
            Err(ReceivableError::BeyondOpen { open_fen: 0, .. })
        ));
    }

    #[test]
    fn a_recovery_needs_a_receivable_of_its_household_and_program() {
        let r = confirmed(10_000);
        assert!(matches!(
            r.check_recover("ffffffffffffffff", "H1", "support_allowance", 1),
            Err(ReceivableError::NoReceivable { .. })
        ));
        assert!(matches!(
            r.check_recover(F, "H2", "support_allowance", 1),
            Err(ReceivableError::OtherHousehold { .. })
        ));
        assert!(matches!(
            r.check_recover(F, "H1", "holiday_condolence", 1),
            Err(ReceivableError::OtherProgram { .. })
        ));
        assert!(matches!(
            r.check_recover(F, "H1", "support_allowance", 0),
            Err(ReceivableError::NotPositive { amount_fen: 0 })
        ));
    }

    #[test]
    fn a_dismissal_leaves_nothing_to_recover() {
        let mut r = confirmed(10_000);
        r.set(F, "H1", "", 0).unwrap();
        assert!(matches!(
            r.check_recover(F, "H1", "", 1),
            Err(ReceivableError::NoReceivable { .. })
        ));
        assert!(r.of_household("H1").is_empty());
    }

    #[test]
    fn a_superseding_decision_replaces_the_amount() {
        let mut r = confirmed(10_000);
        r.set(F, "H1", "support_allowance", 7_000).unwrap();
        assert_eq!(r.get(F).unwrap().amount_fen, 7_000);
        assert_eq!(r.of_household("H1")[0].opened_fen, 7_000);
    }

    #[test]
    fn a_superseding_decision_never_goes_below_what_was_recovered() {
        let mut r = confirmed(10_000);
        r.recover(F, "H1", "support_allowance", 3_000).unwrap();
        assert_eq!(
            r.check_set(F, "H1", "support_allowance", 2_999),
            Err(ReceivableError::BelowRecovered {
                finding: F.into(),
                recovered_fen: 3_000,
                amount_fen: 2_999
            })
        );
        // A dismissal after money came back is the same case: 0 < 3,000.
        assert!(r.check_set(F, "H1", "", 0).is_err());
        assert!(matches!(
            r.check_set(F, "H1", "holiday_condolence", 5_000),
            Err(ReceivableError::OtherProgram { .. })
        ));
        r.set(F, "H1", "support_allowance", 3_000).unwrap();
        assert_eq!(r.get(F).unwrap().open_fen(), 0);
    }

    #[test]
    fn a_reversed_recovery_opens_the_receivable_again() {
        let mut r = confirmed(10_000);
        r.recover(F, "H1", "support_allowance", 3_000).unwrap();
        r.restore(F, "H1", "support_allowance", 3_000).unwrap();
        assert_eq!(r.get(F).unwrap().open_fen(), 10_000);
        assert!(matches!(
            r.restore(F, "H1", "support_allowance", 1),
            Err(ReceivableError::RestoreBeyondRecovered { .. })
        ));
    }
}
