//! The write rules for decisions about findings (`finding_resolved`, FORMAT.md §9.1 rule
//! 17). The values are checked everywhere; the finding itself (that it exists, four eyes
//! against its evidence, the amount and program to recover) needs the findings fold,
//! which the committed ledger provides through [`Committed::finding`]. A replay of the
//! whole log (audit.rs) has no fold: it checks the values and that no actor decides one
//! finding twice, and the findings fold (`runs::findings`, `audit findings`) re-checks the
//! rest.

use fundtrail_projections::{DecisionError, Finding, Resolution};

use chrono::Datelike;

use super::{date, money, program, reject, rejection, text, PlanError, Planner, Rejection};
use crate::model::domain::{
    date_to_days, Decision, FindingDecision, HouseholdId, Money, Seq, RESOLVE_REFERENCE_PREFIX,
};
use crate::model::encoding::{decision_code, stored_decision, FindingResolvedV1};

/// Hex digits of a finding id (FORMAT.md §12.1).
const FINDING_ID_HEX_DIGITS: usize = fundtrail_projections::findings::FINDING_ID_HEX_DIGITS;

/// A finding as the rules need it: the finding after the committed log, and the actor
/// of each of its evidence events.
#[derive(Debug, Clone)]
pub struct FindingContext {
    pub finding: Finding,
    /// (seq, actor) of every evidence event, ascending by seq.
    pub evidence_actors: Vec<(u64, String)>,
}

/// A decision planned in this batch (or, in a replay, anywhere before).
#[derive(Debug, Clone)]
pub(super) struct PlannedDecision {
    pub seq: Seq,
    pub finding: Box<str>,
    pub actor: Box<str>,
}

impl Planner<'_> {
    /// A decision about a finding: its values, four eyes, what may be recovered.
    pub(super) fn resolve_finding(
        &mut self,
        d: &FindingDecision,
    ) -> Result<crate::model::encoding::Body, PlanError> {
        let body = finding_resolved_v1(d);
        check_values(&body, &d.actor).map_err(PlanError::Rejected)?;
        if let Some(earlier) = self
            .decisions
            .iter()
            .find(|p| *p.finding == *d.finding && *p.actor == *d.actor)
        {
            return reject(
                "actor",
                format!(
                    "four eyes: {} already decided finding {} ({}); another actor must decide it again",
                    d.actor,
                    d.finding,
                    self.at(earlier.seq)
                ),
            );
        }
        if !self.replay {
            self.check_finding(d, &body)?;
        }
        self.decide_receivable(
            &body.finding,
            &body.household,
            &body.program,
            body.recover_fen,
            "recover",
        )?;
        self.decisions.push(PlannedDecision {
            seq: self.next,
            finding: d.finding.as_str().into(),
            actor: d.actor.as_str().into(),
        });
        Ok(crate::model::encoding::Body::FindingResolved(body))
    }

    /// The rules that need the finding: it exists, and the decision follows
    /// [`Finding::check_decision`] with the actors of its evidence.
    fn check_finding(
        &self,
        d: &FindingDecision,
        body: &FindingResolvedV1,
    ) -> Result<(), PlanError> {
        let Some(context) = self
            .committed
            .finding(&d.finding)
            .map_err(PlanError::Lookup)?
        else {
            return reject("finding_id", format!("no finding has id {}", d.finding));
        };
        let actors: Vec<(u64, &str)> = context
            .evidence_actors
            .iter()
            .map(|(seq, actor)| (*seq, actor.as_str()))
            .collect();
        let proposed = Resolution {
            seq: 0,
            decision: match d.decision {
                Decision::Confirmed => fundtrail_projections::Decision::Confirmed,
                Decision::Dismissed => fundtrail_projections::Decision::Dismissed,
            },
            reason: body.reason.clone(),
            actor: d.actor.clone(),
            recover_fen: body.recover_fen,
            program: body.program.clone(),
            date: projections_date(d.date),
        };
        context
            .finding
            .check_decision(&proposed, &body.household, &actors)
            .map_err(|e| PlanError::Rejected(decision_rejection(e)))
    }
}

/// A calendar date as the projections name it.
fn projections_date(d: chrono::NaiveDate) -> fundtrail_projections::Date {
    fundtrail_projections::Date {
        year: d.year(),
        month: u8::try_from(d.month()).expect("a month is 1 to 12"),
        day: u8::try_from(d.day()).expect("a day is 1 to 31"),
    }
}

/// The field a refused decision names.
fn decision_rejection(e: DecisionError) -> Rejection {
    let field = match &e {
        DecisionError::RecordedEvidence { .. } | DecisionError::DecidedBefore { .. } => "actor",
        DecisionError::Household { .. } => "household_id",
        DecisionError::RecoverDismissed
        | DecisionError::NegativeRecover { .. }
        | DecisionError::RecoverOverRisk { .. } => "recover",
        DecisionError::ProgramRequired { .. }
        | DecisionError::ProgramWithoutRecovery
        | DecisionError::ProgramNotInEvidence { .. } => "program",
    };
    rejection(field, e)
}

/// The body of a decision.
pub(super) fn finding_resolved_v1(d: &FindingDecision) -> FindingResolvedV1 {
    FindingResolvedV1 {
        finding: d.finding.clone(),
        decision: decision_code(d.decision),
        reason: d.reason.clone(),
        household: d.household.to_string(),
        program: d
            .program
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        recover_fen: d.recover.fen(),
        value_date: date_to_days(d.date),
    }
}

/// What every verifier checks of a decision on its own: a finding id's shape, a reason,
/// an amount only when confirmed and only with a program, a program only with an amount.
fn check_values(f: &FindingResolvedV1, actor: &str) -> Result<(), Rejection> {
    check_finding_id(&f.finding)?;
    text("actor", actor, true)?;
    let reason = text("reason", &f.reason, true)?;
    if reason.trim().is_empty() {
        return Err(rejection("reason", "a decision needs a reason"));
    }
    let decision = stored_decision(f.decision).map_err(|e| rejection("decision", e))?;
    money("recover", f.recover_fen)?;
    if !f.program.is_empty() {
        program(&f.program)?;
    }
    match (f.recover_fen > 0, f.program.is_empty()) {
        (true, _) if decision != Decision::Confirmed => Err(rejection(
            "recover",
            "an amount to recover needs the decision confirmed",
        )),
        (true, true) => Err(rejection("program", "an amount to recover needs a program")),
        (false, false) => Err(rejection(
            "program",
            "a program is named only with an amount to recover",
        )),
        _ => Ok(()),
    }
}

/// A finding id: [`FINDING_ID_HEX_DIGITS`] lowercase hex digits.
pub fn check_finding_id(id: &str) -> Result<(), Rejection> {
    let hex = id.len() == FINDING_ID_HEX_DIGITS
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex {
        return Ok(());
    }
    Err(rejection(
        "finding_id",
        format!("{id:?} is not a finding id ({FINDING_ID_HEX_DIGITS} lowercase hex digits)"),
    ))
}

/// The decision a stored `finding_resolved` came from; its reference is
/// `resolve:<finding>:<microseconds>` and its actor decided.
pub(super) fn stored_finding_decision(
    f: &FindingResolvedV1,
    reference: &str,
    actor: &str,
) -> Result<FindingDecision, Rejection> {
    check_values(f, actor)?;
    let at_us = reference
        .strip_prefix(RESOLVE_REFERENCE_PREFIX)
        .and_then(|rest| rest.strip_prefix(f.finding.as_str()))
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|us| us.parse().ok())
        .ok_or_else(|| rejection("reference", "not a decision's reference"))?;
    Ok(FindingDecision {
        finding: f.finding.clone(),
        decision: stored_decision(f.decision).map_err(|e| rejection("decision", e))?,
        reason: f.reason.clone(),
        household: HouseholdId::parse(&f.household).map_err(|e| rejection("household_id", e))?,
        program: match f.program.as_str() {
            "" => None,
            code => Some(program(code)?),
        },
        recover: Money::from_fen(f.recover_fen),
        date: date("date", f.value_date)?,
        actor: actor.to_owned(),
        at_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::encoding::{Body, RecordV1};
    use crate::model::keyed::RefDigest;
    use crate::model::rules::{Budgets, Committed, Planned, Registries};
    use fundtrail_projections::{Rule, Status};

    const ID: &str = "0123456789abcdef";

    /// A decision as stored, at `seq`, by `actor`.
    fn record(seq: u64, actor: &str, body: FindingResolvedV1) -> RecordV1 {
        RecordV1 {
            seq,
            recorded_at_us: 1_700_000_000_000_000 + i64::try_from(seq).unwrap(),
            actor: actor.into(),
            reference: format!("{RESOLVE_REFERENCE_PREFIX}{}:{seq}", body.finding),
            body: Body::FindingResolved(body),
        }
    }

    fn dismissal() -> FindingResolvedV1 {
        FindingResolvedV1 {
            finding: ID.into(),
            decision: 2,
            reason: "case 1".into(),
            household: "H1".into(),
            program: String::new(),
            recover_fen: 0,
            value_date: 19_000,
        }
    }

    /// What a replay says of `record` after `earlier`: `None` when it is accepted.
    fn replayed(earlier: &[RecordV1], record: &RecordV1) -> Option<Rejection> {
        let mut planner = Planner::replay();
        for r in earlier {
            let command = stored_command(r).unwrap();
            planner.set_recorded_at(r.recorded_at_us);
            planner.plan(&command).unwrap();
        }
        planner.set_recorded_at(record.recorded_at_us);
        let command = match stored_command(record) {
            Ok(command) => command,
            Err(rejection) => return Some(rejection),
        };
        match planner.plan(&command) {
            Ok(_) => None,
            Err(PlanError::Rejected(r)) => Some(r),
            Err(PlanError::Lookup(e)) => panic!("a replay looks nothing up: {e}"),
        }
    }

    use crate::model::rules::stored_command;

    #[test]
    fn a_replay_refuses_one_actor_deciding_a_finding_twice() {
        let first = record(1, "li", dismissal());
        assert_eq!(replayed(&[], &first), None);
        let again = record(2, "li", dismissal());
        let refused = replayed(std::slice::from_ref(&first), &again).unwrap();
        assert_eq!(refused.field, "actor");
        assert!(refused.reason.contains("seq 1"), "{}", refused.reason);
        assert_eq!(replayed(&[first], &record(2, "zhao", dismissal())), None);
    }

    #[test]
    fn a_replay_refuses_values_no_command_could_carry() {
        let cases: [(FindingResolvedV1, &str); 6] = [
            (
                FindingResolvedV1 {
                    finding: "0123456789ABCDEF".into(),
                    ..dismissal()
                },
                "finding_id",
            ),
            (
                FindingResolvedV1 {
                    decision: 0,
                    ..dismissal()
                },
                "decision",
            ),
            (
                FindingResolvedV1 {
                    reason: " ".into(),
                    ..dismissal()
                },
                "reason",
            ),
            (
                FindingResolvedV1 {
                    recover_fen: 100,
                    program: "micro_wish".into(),
                    ..dismissal()
                },
                "recover",
            ),
            (
                FindingResolvedV1 {
                    decision: 1,
                    recover_fen: 100,
                    ..dismissal()
                },
                "program",
            ),
            (
                FindingResolvedV1 {
                    program: "micro_wish".into(),
                    ..dismissal()
                },
                "program",
            ),
        ];
        for (body, field) in cases {
            let refused = replayed(&[], &record(1, "li", body.clone()));
            assert_eq!(refused.map(|r| r.field), Some(field), "{body:?}");
        }
        let mut wrong_reference = record(1, "li", dismissal());
        wrong_reference.reference = format!("{RESOLVE_REFERENCE_PREFIX}{ID}:x");
        assert_eq!(
            replayed(&[], &wrong_reference).map(|r| r.field),
            Some("reference")
        );
    }

    /// A committed ledger holding one finding, whose evidence seq 5 `clerk` recorded.
    struct WithFinding;

    impl Committed for WithFinding {
        fn reference(&self, _: &str, _: &RefDigest) -> Result<Option<Seq>, String> {
            Ok(None)
        }
        fn body(&self, seq: Seq) -> Result<Body, String> {
            Err(format!("no event {seq}"))
        }
        fn finding(&self, id: &str) -> Result<Option<FindingContext>, String> {
            Ok((id == ID).then(|| FindingContext {
                finding: Finding {
                    id: ID.into(),
                    rule: Rule::DuplicatePayment,
                    household: "H1".into(),
                    person: None,
                    account_last4: None,
                    seqs: vec![5],
                    amount_at_risk_fen: 30_000,
                    months: Vec::new(),
                    status: Status::Open,
                    raised_by: 5,
                    reversed_evidence: Vec::new(),
                    programs: vec!["micro_wish".into()],
                    resolutions: Vec::new(),
                },
                evidence_actors: vec![(5, "clerk".into())],
            }))
        }
    }

    fn decision(actor: &str, finding: &str, recover_fen: i64) -> crate::model::domain::Command {
        crate::model::domain::Command::ResolveFinding(FindingDecision {
            finding: finding.into(),
            decision: Decision::Confirmed,
            reason: "case 2".into(),
            household: HouseholdId::parse("H1").unwrap(),
            program: (recover_fen > 0)
                .then(|| crate::model::domain::ProgramCode::parse("micro_wish").unwrap()),
            recover: Money::from_fen(recover_fen),
            date: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            actor: actor.into(),
            at_us: 1,
        })
    }

    fn planned(actor: &str, finding: &str, recover_fen: i64) -> Result<Planned, PlanError> {
        let households = std::collections::BTreeMap::new();
        let people = crate::model::people::People::new();
        let registries = Registries {
            households: &households,
            people: &people,
        };
        let now_us = 20_427 * 86_400_000_000;
        let mut planner = Planner::new(
            &WithFinding,
            registries,
            &Budgets::new(),
            Seq::FIRST,
            now_us,
        );
        planner.plan(&decision(actor, finding, recover_fen))
    }

    fn field(outcome: Result<Planned, PlanError>) -> &'static str {
        match outcome {
            Err(PlanError::Rejected(r)) => r.field,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn at_append_the_finding_must_exist_and_four_eyes_hold_against_its_evidence() {
        assert!(matches!(
            planned("li", ID, 30_000),
            Ok(Planned::Append { .. })
        ));
        assert_eq!(field(planned("clerk", ID, 0)), "actor");
        assert_eq!(field(planned("li", "fedcba9876543210", 0)), "finding_id");
        assert_eq!(field(planned("li", ID, 30_001)), "recover");
    }
}
