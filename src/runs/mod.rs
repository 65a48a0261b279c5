//! Workflows over a ledger: the monthly allowance run and the entitlement query
//! (`batch`), reconciliation against a bank statement (`reconcile`, pure) with its payment
//! index (`payment_index`), and an auditor's re-performance of a recorded run from an
//! export (`reperform`).

pub mod batch;
pub mod payment_index;
pub mod reconcile;
pub mod reperform;
