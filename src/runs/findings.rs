//! Findings (issue 13): the audit rules of `projections::findings` as the ledger
//! maintains them (`ledger::readmodels::findings`): the sealed snapshot, checked against
//! the log and caught up to the view's head. Decisions and recoveries come later.

use fundtrail_projections::Finding;

use crate::ledger::readmodels::{FindingsSide, ReadSideError};
use crate::ledger::{LedgerError, LedgerView};

/// Every finding the log raises through the view's head, in the order raised.
pub fn findings(view: &LedgerView) -> Result<Vec<Finding>, LedgerError> {
    match FindingsSide::open(view) {
        Ok(side) => Ok(side.all().to_vec()),
        Err(ReadSideError::Ledger(e)) => Err(e),
        // A snapshot that does not hold against the log, or an event that does not fold,
        // is corrupt derived state: `verify` and `rebuild` name and repair it.
        Err(other) => Err(LedgerError::Corrupt(format!(
            "{other} (`fundtrail rebuild` recomputes them from the log)"
        ))),
    }
}
