//! Recoveries (追缴): money a household paid back against a finding's receivable
//! (FORMAT.md §1, `recovery_received`; §9.1 for the rules).
//!
//! A confirmed finding opens a receivable for its household and program; a
//! `recovery_received` event reduces it and never below zero. The receivables themselves
//! are `fundtrail_projections::Receivables`, one pure statement of the rules that the
//! write side ([`crate::model::rules::Planner`]) and the read models both call. The
//! event's body is `encoding::RecoveryV1`.

use std::fmt;

use chrono::NaiveDate;
use fundtrail_projections::ReceivableError;

use crate::model::domain::{HouseholdId, Money, ProgramCode, Reference, ValueError};

/// Hex digits of a finding id (FORMAT.md §12): 64 bits of BLAKE3.
pub const FINDING_ID_HEX: usize = 16;

/// A finding's id: 16 lowercase hex digits, as `fundtrail findings` prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FindingId(String);

impl FindingId {
    pub fn parse(text: &str) -> Result<FindingId, ValueError> {
        let hex = text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if text.len() != FINDING_ID_HEX || !hex {
            return Err(ValueError(format!(
                "{text:?} is not a finding id ({FINDING_ID_HEX} lowercase hex digits, as \
                 `fundtrail findings` shows it)"
            )));
        }
        Ok(FindingId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Money received from a household against a finding's receivable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub finding: FindingId,
    pub household: HouseholdId,
    pub program: ProgramCode,
    pub amount: Money,
    /// The day the money came in.
    pub date: NaiveDate,
    /// The bank's or the cashier's reference of the receipt; unique in the ledger.
    pub reference: Reference,
    pub memo: String,
}

/// The input column a receivable rule's refusal names.
pub fn refused_field(error: &ReceivableError) -> &'static str {
    match error {
        ReceivableError::NoReceivable { .. } | ReceivableError::BelowRecovered { .. } => "finding",
        ReceivableError::OtherHousehold { .. } => "household_id",
        ReceivableError::OtherProgram { .. } => "program",
        ReceivableError::NotPositive { .. }
        | ReceivableError::Negative { .. }
        | ReceivableError::BeyondOpen { .. }
        | ReceivableError::RestoreBeyondRecovered { .. }
        | ReceivableError::Overflow => "amount",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_id_is_sixteen_lowercase_hex_digits() {
        assert!(FindingId::parse("0123456789abcdef").is_ok());
        for bad in [
            "",
            "0123456789abcde",
            "0123456789ABCDEF",
            "0123456789abcdeg",
            " 0123456789abcdef",
        ] {
            let err = FindingId::parse(bad).unwrap_err();
            assert!(err.0.contains("finding id"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn each_refusal_names_the_column_to_fix() {
        let no = ReceivableError::NoReceivable {
            finding: "f".into(),
        };
        assert_eq!(refused_field(&no), "finding");
        let beyond = ReceivableError::BeyondOpen {
            finding: "f".into(),
            open_fen: 1,
            amount_fen: 2,
        };
        assert_eq!(refused_field(&beyond), "amount");
        let other = ReceivableError::OtherHousehold {
            finding: "f".into(),
            expected: "H1".into(),
            found: "H2".into(),
        };
        assert_eq!(refused_field(&other), "household_id");
    }
}
