//! Fund balances: per program, what was allocated, paid out and is left.

use serde::{Deserialize, Serialize};

use crate::tally::{Delta, Sign, TallyError};

/// One program's fund balance, from `ReadModels::funds`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundRow {
    pub program: String,
    /// Number of allocations.
    pub allocations: u64,
    pub allocated_fen: i64,
    /// Number of live payments.
    pub payments: u64,
    /// Sum of live payments.
    pub disbursed_fen: i64,
    /// Sum of recoveries (追缴) brought back to the program, net of their reversals.
    pub recovered_fen: i64,
    /// `allocated_fen - disbursed_fen + recovered_fen`: recovered money is the
    /// program's to spend again. Negative only if the main crate let a program
    /// overspend.
    pub remaining_fen: i64,
}

/// Maintained per program. `remaining_fen` is kept rather than derived so the
/// subtraction is checked when a fact is folded, not when a query runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FundState {
    pub(crate) allocations: u64,
    pub(crate) allocated_fen: i64,
    pub(crate) payments: u64,
    pub(crate) disbursed_fen: i64,
    pub(crate) recovered_fen: i64,
    pub(crate) remaining_fen: i64,
}

impl FundState {
    /// A program is listed once it has an allocation, a live payment or a recovery.
    pub(crate) fn is_empty(&self) -> bool {
        self.allocations == 0 && self.payments == 0 && self.recovered_fen == 0
    }

    /// A recovery (`Sign::Add`) or its reversal (`Sign::Remove`): the money is the
    /// program's again, or no longer.
    pub(crate) fn recover(self, sign: Sign, amount_fen: i64) -> Result<FundState, TallyError> {
        let (recovered, remaining) = match sign {
            Sign::Add => (
                self.recovered_fen.checked_add(amount_fen),
                self.remaining_fen.checked_add(amount_fen),
            ),
            Sign::Remove => (
                self.recovered_fen
                    .checked_sub(amount_fen)
                    .filter(|r| *r >= 0),
                self.remaining_fen.checked_sub(amount_fen),
            ),
        };
        Ok(FundState {
            recovered_fen: recovered.ok_or(TallyError::Underflow)?,
            remaining_fen: remaining.ok_or(TallyError::Overflow)?,
            ..self
        })
    }

    pub(crate) fn allocate(self, amount_fen: i64) -> Result<FundState, TallyError> {
        Ok(FundState {
            allocations: self
                .allocations
                .checked_add(1)
                .ok_or(TallyError::Overflow)?,
            allocated_fen: self
                .allocated_fen
                .checked_add(amount_fen)
                .ok_or(TallyError::Overflow)?,
            remaining_fen: self
                .remaining_fen
                .checked_add(amount_fen)
                .ok_or(TallyError::Overflow)?,
            ..self
        })
    }

    pub(crate) fn pay(self, delta: Delta) -> Result<FundState, TallyError> {
        match delta.sign {
            Sign::Add => self.add_payment(delta.amount_fen),
            Sign::Remove => self.remove_payment(delta.amount_fen),
        }
    }

    fn add_payment(self, amount_fen: i64) -> Result<FundState, TallyError> {
        Ok(FundState {
            payments: self.payments.checked_add(1).ok_or(TallyError::Overflow)?,
            disbursed_fen: self
                .disbursed_fen
                .checked_add(amount_fen)
                .ok_or(TallyError::Overflow)?,
            remaining_fen: self
                .remaining_fen
                .checked_sub(amount_fen)
                .ok_or(TallyError::Overflow)?,
            ..self
        })
    }

    fn remove_payment(self, amount_fen: i64) -> Result<FundState, TallyError> {
        let next = FundState {
            payments: self.payments.checked_sub(1).ok_or(TallyError::Underflow)?,
            disbursed_fen: self
                .disbursed_fen
                .checked_sub(amount_fen)
                .ok_or(TallyError::Overflow)?,
            remaining_fen: self
                .remaining_fen
                .checked_add(amount_fen)
                .ok_or(TallyError::Overflow)?,
            ..self
        };
        if next.disbursed_fen < 0 {
            return Err(TallyError::Underflow);
        }
        Ok(next)
    }
}
