//! Findings (issue 13): the audit rules of `projections::findings` folded over the whole
//! log on demand, decisions included, and the finding a new decision is checked against
//! (`model::rules`, four eyes). This reads the log once and holds what the fold holds.

use std::ops::ControlFlow;

use fundtrail_projections::{Finding, Findings};

use crate::ledger::readmodels::facts::finding_fact_of;
use crate::ledger::{LedgerError, LedgerView};
use crate::model::domain::Seq;
use crate::model::rules::FindingContext;

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

/// The finding `id` after the log, with the actor of each of its evidence events: what
/// the write rules check a decision against. `None` when no finding has that id.
pub fn finding_context(view: &LedgerView, id: &str) -> Result<Option<FindingContext>, LedgerError> {
    let Some(finding) = findings(view)?.into_iter().find(|f| f.id == id) else {
        return Ok(None);
    };
    let evidence_actors = finding
        .seqs
        .iter()
        .map(|seq| Ok((*seq, view.record(Seq::new(*seq))?.actor)))
        .collect::<Result<Vec<_>, LedgerError>>()?;
    Ok(Some(FindingContext {
        finding,
        evidence_actors,
    }))
}
