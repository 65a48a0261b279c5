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
