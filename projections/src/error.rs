use thiserror::Error;

use crate::receivables::ReceivableError;
use crate::vocab::Date;

/// Why a fact could not be folded. On any error the read models are left
/// exactly as they were before the call.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProjectionError {
    /// The seq is not the one after the last applied (a gap, a duplicate or
    /// a step backwards): the caller is feeding the wrong events.
    #[error("sequence gap: expected seq {expected}, found {found}")]
    Gap { expected: u64, found: u64 },

    /// A sum would not fit in its integer type.
    #[error("arithmetic overflow in {what}")]
    Overflow { what: &'static str },

    /// A payment or reversal names a household that was never enrolled.
    #[error("household {household:?} is not enrolled")]
    UnknownHousehold { household: String },

    /// A second enrollment of the same household; moving a household would
    /// silently move its past payments between sub-districts.
    #[error("household {household:?} is already enrolled")]
    AlreadyEnrolled { household: String },

    /// A day that does not exist on the calendar.
    #[error("invalid date {date}")]
    InvalidDate { date: Date },

    /// Amounts are non-negative; corrections are reversals, not negative payments.
    #[error("negative amount: {amount_fen} fen")]
    NegativeAmount { amount_fen: i64 },

    /// A reversal that does not fit the live payments of its household,
    /// program and target month (nothing live there, or more money or persons
    /// than are live): its copied fields disagree with the target payment.
    #[error(
        "reversal of seq {target_seq} does not match a live payment of household \
         {household:?} in program {program:?} on {target_date}"
    )]
    ReversalMismatch {
        target_seq: u64,
        household: String,
        program: String,
        target_date: Date,
    },

    /// A decision or a recovery that does not fit the finding's receivable (a recovery
    /// beyond what is open, a decision below what was recovered, ...).
    #[error("receivables: {0}")]
    Receivable(ReceivableError),
}
