//! The write rules for recoveries (追缴) and for what a decision may do to a receivable
//! (FORMAT.md §9.1). The receivables are `fundtrail_projections::Receivables`: the read
//! models fold them with the same checks, so what the rules let in always folds.
//!
//! A batch loads the committed receivables once, when it first needs them
//! ([`Committed::receivables`](super::Committed::receivables)), and plans on its own copy,
//! so several recoveries of one finding in one batch count together.

use fundtrail_projections::{ReceivableError, Receivables};

use super::{
    date, household, money, program, reject, rejection, text, PaidFacts, PlanError, Planner,
};
use crate::model::domain::{date_to_days, Money, Reference};
use crate::model::encoding::RecoveryV1;
use crate::model::recovery::{refused_field, FindingId, Recovery};
use crate::model::rules::Rejection;

impl Planner<'_> {
    /// A recovery: more than 0, from an enrolled household, and within what is open of
    /// the finding's receivable for that household and program. The money is the
    /// program's to spend again.
    pub(super) fn recover(&mut self, r: &Recovery) -> Result<(), PlanError> {
        if r.amount < Money::from_fen(1) {
            return reject("amount", "a recovery must be at least 0.01");
        }
        self.check_enrolled(r.household.as_str(), r.date)?;
        let (finding, household, program) =
            (r.finding.as_str(), r.household.as_str(), r.program.as_str());
        let amount_fen = r.amount.fen();
        let receivables = self.receivables_mut()?;
        receivables
            .recover(finding, household, program, amount_fen)
            .map_err(refused)?;
        let budget = self.budgets.entry(program.to_owned()).or_default();
        budget.disbursed_fen = budget
            .disbursed_fen
            .checked_sub(amount_fen)
            .ok_or_else(|| super::overflow("amount"))?;
        Ok(())
    }

    /// A reversal of a recovery: the money did not come back after all (a bounced
    /// transfer), so the receivable is open again by its amount and the program has it no
    /// longer, which it must still be able to afford: live payments less recoveries never
    /// exceed what was allocated.
    pub(super) fn unrecover(&mut self, recovery: &RecoveredFacts) -> Result<(), PlanError> {
        let paid = &recovery.paid;
        let (finding, household, program) = (&recovery.finding, &paid.household, &paid.program);
        self.receivables_mut()?
            .check_restore(finding, household, program, paid.amount_fen)
            .map_err(refused)?;
        self.spend(program, Money::from_fen(paid.amount_fen))?;
        self.receivables_mut()?
            .restore(finding, household, program, paid.amount_fen)
            .map_err(refused)
    }

    /// The rule for a decision on a finding (`finding_resolved`), for the decision path to
    /// call: its receivable becomes `amount_fen` for `household` and `program`, never
    /// below what was already recovered for it, nor moved to another household or program
    /// once money came back. A refusal names `field`, the decision's amount input.
    pub fn decide_receivable(
        &mut self,
        finding: &str,
        household: &str,
        program: &str,
        amount_fen: i64,
        field: &'static str,
    ) -> Result<(), PlanError> {
        self.receivables_mut()?
            .set(finding, household, program, amount_fen)
            .map_err(|e| {
                PlanError::Rejected(Rejection {
                    field: match refused_field(&e) {
                        "amount" | "finding" => field,
                        other => other,
                    },
                    reason: e.to_string(),
                })
            })
    }

    /// The receivables after the committed log and this batch's plan.
    fn receivables_mut(&mut self) -> Result<&mut Receivables, PlanError> {
        if self.receivables.is_none() {
            let committed = self.committed.receivables().map_err(PlanError::Lookup)?;
            self.receivables = Some(committed);
        }
        Ok(self
            .receivables
            .as_mut()
            .expect("loaded just above when it was not yet"))
    }
}

/// What a reversal takes from the recovery it names. A recovery counts no persons, so
/// its reversal records `persons` 0, which no payment's reversal has.
#[derive(Debug, Clone)]
pub(super) struct RecoveredFacts {
    pub(super) finding: String,
    pub(super) paid: PaidFacts,
}

impl RecoveredFacts {
    pub(super) fn of(r: &RecoveryV1) -> RecoveredFacts {
        RecoveredFacts {
            finding: r.finding.clone(),
            paid: PaidFacts {
                household: r.household.as_str().into(),
                program: r.program.as_str().into(),
                amount_fen: r.amount_fen,
                persons: 0,
                value_date: r.value_date,
            },
        }
    }
}

fn refused(error: ReceivableError) -> PlanError {
    PlanError::Rejected(rejection(refused_field(&error), error))
}

pub(super) fn recovery_v1(r: &Recovery) -> RecoveryV1 {
    RecoveryV1 {
        finding: r.finding.to_string(),
        household: r.household.to_string(),
        program: r.program.to_string(),
        amount_fen: r.amount.fen(),
        value_date: date_to_days(r.date),
        memo: r.memo.clone(),
    }
}

/// The command a stored recovery came from, each value checked as the import checks it.
pub(super) fn stored_recovery(r: &RecoveryV1, reference: &str) -> Result<Recovery, Rejection> {
    Ok(Recovery {
        finding: FindingId::parse(&r.finding).map_err(|e| rejection("finding", e))?,
        household: household(&r.household)?,
        program: program(&r.program)?,
        amount: money("amount", r.amount_fen)?,
        date: date("date", r.value_date)?,
        reference: Reference::parse(reference).map_err(|e| rejection("reference", e))?,
        memo: text("memo", &r.memo, false)?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::domain::Command;
    use crate::model::domain::{HouseholdId, ProgramCode, Seq};
    use crate::model::encoding::{Body, RecordV1};
    use crate::model::keyed::RefDigest;
    use crate::model::people::People;
    use crate::model::rules::tests::{allocate, date, enroll, pay, rejected, NOW_US};
    use crate::model::rules::{stored_command, Budgets, Committed, Planned, Registries};

    const FINDING: &str = "0123456789abcdef";

    /// Nothing committed but one finding's receivable of 100.00 for H1's allowance.
    struct Owed(Receivables);

    impl Committed for Owed {
        fn reference(&self, _: &str, _: &RefDigest) -> Result<Option<Seq>, String> {
            Ok(None)
        }
        fn body(&self, seq: Seq) -> Result<Body, String> {
            Err(format!("no event {seq}"))
        }
        fn receivables(&self) -> Result<Receivables, String> {
            Ok(self.0.clone())
        }
    }

    fn owed() -> Owed {
        let mut receivables = Receivables::new();
        receivables
            .set(FINDING, "H1", "support_allowance", 10_000)
            .unwrap();
        Owed(receivables)
    }

    fn recovery(finding: &str, household: &str, amount: &str, reference: &str) -> Command {
        Command::RecordRecovery(Recovery {
            finding: FindingId::parse(finding).unwrap(),
            household: HouseholdId::parse(household).unwrap(),
            program: ProgramCode::parse("support_allowance").unwrap(),
            amount: Money::parse(amount).unwrap(),
            date: date("2015-06-01"),
            reference: Reference::parse(reference).unwrap(),
            memo: "退回".into(),
        })
    }

    fn with_planner(committed: &dyn Committed, test: impl FnOnce(&mut Planner<'_>)) {
        let households = BTreeMap::new();
        let people = People::new();
        let registries = Registries {
            households: &households,
            people: &people,
        };
        let mut p = Planner::new(committed, registries, &Budgets::new(), Seq::FIRST, NOW_US);
        p.plan(&enroll("H1", "2014-01-01")).unwrap();
        p.plan(&enroll("H2", "2014-01-01")).unwrap();
        p.plan(&allocate("100.00", "A1")).unwrap();
        p.plan(&pay("H1", "100.00", "P1")).unwrap();
        test(&mut p);
    }

    #[test]
    fn a_recovery_without_a_receivable_is_refused_naming_the_finding() {
        let nothing = Owed(Receivables::new());
        with_planner(&nothing, |p| {
            let r = rejected(p.plan(&recovery(FINDING, "H1", "10.00", "R1")));
            assert_eq!(r.field, "finding");
            assert!(r.reason.contains("has no receivable"), "{}", r.reason);
        });
    }

    #[test]
    fn recoveries_of_one_batch_count_together_and_never_go_below_zero() {
        let committed = owed();
        with_planner(&committed, |p| {
            assert!(matches!(
                p.plan(&recovery(FINDING, "H1", "60.00", "R1")),
                Ok(Planned::Append { .. })
            ));
            let r = rejected(p.plan(&recovery(FINDING, "H1", "40.01", "R2")));
            assert_eq!(r.field, "amount");
            assert!(r.reason.contains("below zero"), "{}", r.reason);
            assert!(r.reason.contains("40.00 yuan is open"), "{}", r.reason);
            assert!(p.plan(&recovery(FINDING, "H1", "40.00", "R2")).is_ok());
        });
    }

    #[test]
    fn a_recovery_names_the_findings_household_and_program() {
        let committed = owed();
        with_planner(&committed, |p| {
            let r = rejected(p.plan(&recovery(FINDING, "H2", "1.00", "R1")));
            assert_eq!(r.field, "household_id");
        });
    }

    #[test]
    fn recovered_money_is_the_programs_to_spend_again() {
        let committed = owed();
        with_planner(&committed, |p| {
            assert_eq!(rejected(p.plan(&pay("H1", "30.00", "P2"))).field, "amount");
            p.plan(&recovery(FINDING, "H1", "30.00", "R1")).unwrap();
            assert_eq!(p.budgets()["support_allowance"].remaining_fen(), 3_000);
            assert!(p.plan(&pay("H1", "30.00", "P2")).is_ok());
        });
    }

    #[test]
    fn a_rollback_forgets_a_planned_recovery() {
        let committed = owed();
        with_planner(&committed, |p| {
            let savepoint = p.savepoint();
            p.plan(&recovery(FINDING, "H1", "100.00", "R1")).unwrap();
            p.rollback(savepoint);
            assert!(p.plan(&recovery(FINDING, "H1", "100.00", "R1")).is_ok());
        });
    }

    #[test]
    fn a_superseding_decision_may_not_go_below_what_was_recovered() {
        let committed = owed();
        with_planner(&committed, |p| {
            p.plan(&recovery(FINDING, "H1", "30.00", "R1")).unwrap();
            let refused = p.decide_receivable(FINDING, "H1", "support_allowance", 2_999, "recover");
            match refused {
                Err(PlanError::Rejected(r)) => {
                    assert_eq!(r.field, "recover");
                    assert!(
                        r.reason.contains("already had 30.00 yuan recovered"),
                        "{}",
                        r.reason
                    );
                }
                other => panic!("expected a rejection, got {other:?}"),
            }
            // A dismissal is a receivable of 0: refused too, once money came back.
            assert!(p
                .decide_receivable(FINDING, "H1", "", 0, "recover")
                .is_err());
            p.decide_receivable(FINDING, "H1", "support_allowance", 3_000, "recover")
                .unwrap();
            let r = rejected(p.plan(&recovery(FINDING, "H1", "0.01", "R2")));
            assert_eq!(r.field, "amount");
        });
    }

    fn reverse(reference: &str, household: &str, amount: &str) -> Command {
        Command::Reverse(crate::model::domain::ReversalRequest {
            target: Reference::parse(reference).unwrap(),
            household: HouseholdId::parse(household).unwrap(),
            program: None,
            amount: Money::parse(amount).unwrap(),
            date: date("2015-06-02"),
            reason: "退票".into(),
        })
    }

    #[test]
    fn a_reversed_recovery_opens_the_receivable_again() {
        let committed = owed();
        with_planner(&committed, |p| {
            p.plan(&recovery(FINDING, "H1", "100.00", "R1")).unwrap();
            assert_eq!(p.budgets()["support_allowance"].remaining_fen(), 10_000);
            let Ok(Planned::Append { body, .. }) = p.plan(&reverse("R1", "H1", "100.00")) else {
                panic!("the reversal is planned");
            };
            let Body::Reversal(reversal) = body else {
                panic!("a reversal body")
            };
            assert_eq!((reversal.persons, reversal.target_seq), (0, 5));
            assert_eq!(p.budgets()["support_allowance"].remaining_fen(), 0);
            assert!(p.plan(&recovery(FINDING, "H1", "100.00", "R2")).is_ok());
            // The same reversal again is a retry; another amount is refused.
            assert_eq!(
                p.plan(&reverse("R1", "H1", "100.00")).unwrap(),
                Planned::Duplicate(Seq::new(6))
            );
            assert_eq!(
                rejected(p.plan(&reverse("R1", "H1", "1.00"))).field,
                "reference"
            );
        });
    }

    #[test]
    fn a_recovery_already_spent_again_cannot_be_reversed() {
        let committed = owed();
        with_planner(&committed, |p| {
            p.plan(&recovery(FINDING, "H1", "30.00", "R1")).unwrap();
            p.plan(&pay("H1", "30.00", "P2")).unwrap();
            let r = rejected(p.plan(&reverse("R1", "H1", "30.00")));
            assert_eq!(r.field, "amount");
            assert!(r.reason.contains("exceeds what is left"), "{}", r.reason);
            let r = rejected(p.plan(&reverse("R1", "H2", "30.00")));
            assert_eq!(
                (r.field, r.reason.as_str()),
                ("household_id", "recovery R1 came from H1, not H2")
            );
        });
    }

    #[test]
    fn a_stored_recovery_reads_back_as_its_command() {
        let command = recovery(FINDING, "H1", "12.34", "R1");
        let Command::RecordRecovery(r) = &command else {
            unreachable!()
        };
        let record = RecordV1 {
            seq: 1,
            recorded_at_us: NOW_US,
            actor: "clerk".into(),
            reference: "R1".into(),
            body: Body::RecoveryReceived(recovery_v1(r)),
        };
        assert_eq!(stored_command(&record).unwrap(), command);
        let mut bad = record.clone();
        if let Body::RecoveryReceived(r) = &mut bad.body {
            r.finding = "not-a-finding".into();
        }
        assert_eq!(stored_command(&bad).unwrap_err().field, "finding");
    }
}
