//! The payment gate's holds (FORMAT.md §9.1, rule 19): which households the open findings
//! of [`GATE_RULES`] hold. One definition for the allowance run, which holds and releases
//! by it, and for `verify`, which checks every recorded release against the findings
//! folded through the record before it: a release the run would have refused is a fault
//! of the log, as every other broken write rule is.

use std::collections::{BTreeMap, BTreeSet};

use fundtrail_projections::findings::{Rule, Status};
use fundtrail_projections::{Finding, Findings};

use super::readmodels::facts::finding_fact_of;
use super::{LedgerError, LedgerView};
use crate::model::domain::Seq;
use crate::model::encoding::{Body, HoldReleasedV1};
use crate::tlog::audit::AuditFault;

/// The rules whose open findings hold a household's allowance: they doubt who is paid
/// (the same month twice, one account for unrelated households), not how much, so paying
/// on would repeat the doubted payment. The other rules' findings concern past payments.
pub const GATE_RULES: [Rule; 2] = [Rule::DuplicatePayment, Rule::SharedAccount];

/// Household id to the ids of the open findings that hold it.
pub type Holds = BTreeMap<String, BTreeSet<String>>;

/// The households `findings` hold: an open finding of [`GATE_RULES`] holds its own
/// household and the household of each of its evidence events (a shared account's finding
/// names the household whose payment made the account shared, its evidence the first
/// payment of every household on the account: all of them are doubted).
pub fn holds_of(view: &LedgerView, findings: &[Finding]) -> Result<Holds, LedgerError> {
    let mut holds = Holds::new();
    let gating = findings
        .iter()
        .filter(|f| f.status == Status::Open && GATE_RULES.contains(&f.rule));
    for finding in gating {
        let mut households = BTreeSet::from([finding.household.clone()]);
        for seq in &finding.seqs {
            if let Some(household) = view.record(Seq::new(*seq))?.body.household() {
                households.insert(household.to_owned());
            }
        }
        for household in households {
            holds
                .entry(household)
                .or_default()
                .insert(finding.id.clone());
        }
    }
    Ok(holds)
}

/// Checks each release at `releases` (ascending seqs of `hold_released` events): every
/// finding it names held its household by the findings folded through the record before
/// it. Folds the findings once, up to the last release.
pub(super) fn check_releases(
    view: &LedgerView,
    releases: &[Seq],
) -> Result<Option<AuditFault>, LedgerError> {
    let Some(last) = releases.last() else {
        return Ok(None);
    };
    let mut fold = Findings::new();
    for item in view.records(Seq::FIRST, *last) {
        let (seq, _, record) = item?;
        if let Body::HoldReleased(release) = &record.body {
            let fault = release_fault(&holds_of(view, &fold.all())?, seq, release);
            if fault.is_some() {
                return Ok(fault);
            }
        }
        let fact =
            finding_fact_of(seq, &record).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        if let Some(fact) = fact {
            fold.apply(seq.get(), &fact)
                .map_err(|e| LedgerError::Corrupt(format!("seq {seq}: {e}")))?;
        }
    }
    Ok(None)
}

/// The fault of a release that names a finding not holding its household, if it does.
fn release_fault(holds: &Holds, seq: Seq, release: &HoldReleasedV1) -> Option<AuditFault> {
    let held = holds.get(&release.household);
    let unheld = release
        .findings
        .iter()
        .find(|id| !held.is_some_and(|ids| ids.contains(*id)))?;
    Some(AuditFault::Rule {
        seq,
        field: "findings",
        reason: format!(
            "finding {unheld} did not hold household {}: no open {} finding of that id named \
             it before this release",
            release.household,
            GATE_RULES.map(Rule::as_str).join(" or ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(household: &str, findings: &[&str]) -> HoldReleasedV1 {
        HoldReleasedV1 {
            household: household.into(),
            period: "2018-07".into(),
            reason: "checked".into(),
            findings: findings.iter().map(|f| f.to_string()).collect(),
            value_date: 0,
        }
    }

    #[test]
    fn a_release_names_only_findings_that_hold_its_household() {
        let holds = Holds::from([(
            "H1".to_string(),
            BTreeSet::from([
                "000000000000000a".to_string(),
                "000000000000000b".to_string(),
            ]),
        )]);
        let seq = Seq::new(9);
        assert_eq!(
            release_fault(&holds, seq, &release("H1", &["000000000000000a"])),
            None
        );
        let both = release("H1", &["000000000000000a", "000000000000000b"]);
        assert_eq!(release_fault(&holds, seq, &both), None);
        for (household, ids) in [("H1", ["000000000000000c"]), ("H2", ["000000000000000a"])] {
            match release_fault(&holds, seq, &release(household, &ids)) {
                Some(AuditFault::Rule { seq, field, reason }) => {
                    assert_eq!((seq, field), (Seq::new(9), "findings"));
                    assert!(reason.contains(ids[0]), "{reason}");
                }
                other => panic!("expected a rule fault, got {other:?}"),
            }
        }
    }
}
