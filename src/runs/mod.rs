//! Workflows over a ledger: the monthly allowance run and the entitlement query
//! (`batch`), reconciliation against a bank statement (`reconcile`, pure) with its payment
//! index (`payment_index`), an auditor's re-performance of a recorded run from an export
//! (`reperform`), and the month's public roster (`roster`).

pub mod batch;
pub mod findings;
pub mod household;
pub mod payment_index;
pub mod reconcile;
pub mod reperform;
pub mod roster;
