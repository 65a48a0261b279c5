//! Findings (issue 13, first step): the audit rules of `projections::findings` folded over
//! the whole log on demand. The maintained read model, decisions and recoveries come
//! later; this reads the log once and holds what the fold holds.

use std::ops::ControlFlow;

use fundtrail_projections::{Finding, Findings};

use crate::ledger::readmodels::facts::finding_fact_of;
use crate::ledger::{LedgerError, LedgerView};
use crate::model::domain::Seq;

/// Every finding the log raises, in the order raised.
pub fn findings(view: &LedgerView) -> Result<Vec<Finding>, LedgerError> {
    let mut fold = Findings::new();
    let mut failed = None;
    view.visit_records(Seq::FIRST, Seq::new(u64::MAX), |item| {
        let step = item.and_then(|(seq, _, record)| {
            let fact =
                finding_fact_of(seq, &record).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
            match fact {
                Some(fact) => fold
                    .apply(seq.get(), &fact)
                    .map_err(|e| LedgerError::Corrupt(format!("seq {seq}: {e}"))),
                None => Ok(()),
            }
        });
        match step {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(fold.all().to_vec()),
    }
}
