//! Findings (issue 13): the audit rules of `projections::findings` as the ledger
//! maintains them (`ledger::readmodels::findings`: the sealed snapshot, checked against
//! the log and caught up to the view's head), the finding a new decision is checked
//! against (`model::rules`, four eyes), and the recording of a decision.

use fundtrail_projections::Finding;

use crate::ledger::readmodels::{FindingsSide, ReadSideError};
use crate::ledger::{AppendContext, Ledger, LedgerError, LedgerView, RowRejection};
use crate::model::domain::{
    Command, Decision, FindingDecision, HouseholdId, Money, ProgramCode, Seq,
};
use crate::model::rules::FindingContext;

/// Every finding the log raises through the view's head, in the order raised.
pub fn findings(view: &LedgerView) -> Result<Vec<Finding>, LedgerError> {
    Ok(caught_up(view)?.all())
}

/// The maintained findings, caught up to the view's head.
fn caught_up(view: &LedgerView) -> Result<FindingsSide, LedgerError> {
    match FindingsSide::open(view) {
        Ok(side) => Ok(side),
        Err(ReadSideError::Ledger(e)) => Err(e),
        // A snapshot that does not hold against the log, or an event that does not fold,
        // is corrupt derived state: `verify` and `rebuild` name and repair it.
        Err(other) => Err(LedgerError::Corrupt(format!(
            "{other} (`fundtrail rebuild` recomputes them from the log)"
        ))),
    }
}

/// The finding `id` after the log, with the actor of each of its evidence events: what
/// the write rules check a decision against. `None` when no finding has that id.
pub fn finding_context(view: &LedgerView, id: &str) -> Result<Option<FindingContext>, LedgerError> {
    let Some(finding) = caught_up(view)?.finding(id) else {
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

/// A decision as a person asks for it (`findings resolve`, `POST
/// /api/v1/findings/{id}/resolve`): the ledger fills in the finding's household and, for an
/// amount to recover with no program named, the one program of its evidence.
#[derive(Debug, Clone)]
pub struct DecisionRequest {
    pub finding: String,
    pub decision: Decision,
    pub reason: String,
    /// Zero when nothing is to be recovered.
    pub recover: Money,
    pub program: Option<ProgramCode>,
}

/// Records a decision about a finding by `ctx.actor`, with four eyes (`model::rules`), and
/// signs a checkpoint after it. Returns the decision's seq.
pub fn resolve(
    ledger: &mut Ledger,
    request: &DecisionRequest,
    ctx: &AppendContext,
) -> Result<Seq, LedgerError> {
    let command = decision_command(ledger.view(), request, ctx)?;
    let (summary, _) = ledger.append_signed(&mut vec![command], ctx)?;
    summary
        .seqs
        .first()
        .copied()
        .ok_or_else(|| LedgerError::Corrupt("an appended decision has no seq".into()))
}

/// The command that records `request`; refused, naming the field, when the finding is
/// unknown or the program to recover is not clear.
fn decision_command(
    view: &LedgerView,
    request: &DecisionRequest,
    ctx: &AppendContext,
) -> Result<Command, LedgerError> {
    let Some(finding) = findings(view)?
        .into_iter()
        .find(|f| f.id == request.finding)
    else {
        return Err(refused(
            "finding_id",
            format!(
                "no finding has id {:?} (`fundtrail findings --status all` lists them)",
                request.finding
            ),
        ));
    };
    let program = match (&request.program, request.recover.fen() > 0) {
        (Some(program), _) => Some(program.clone()),
        (None, false) => None,
        (None, true) => Some(default_program(&finding)?),
    };
    let household = HouseholdId::parse(&finding.household)
        .map_err(|e| LedgerError::Corrupt(format!("finding {}: {e}", finding.id)))?;
    let date = chrono::DateTime::from_timestamp_micros(ctx.now_us)
        .ok_or_else(|| LedgerError::Invalid(format!("time {} µs is not a date", ctx.now_us)))?
        .date_naive();
    Ok(Command::ResolveFinding(FindingDecision {
        finding: finding.id,
        decision: request.decision,
        reason: request.reason.clone(),
        household,
        program,
        recover: request.recover,
        date,
        actor: ctx.actor.clone(),
        at_us: ctx.now_us,
    }))
}

/// The program to recover under when none is named: the evidence's one program.
fn default_program(finding: &Finding) -> Result<ProgramCode, LedgerError> {
    let Some(program) = finding.default_program() else {
        return Err(refused(
            "program",
            format!(
                "the evidence of finding {} was paid from {}: name the program to recover for",
                finding.id,
                finding.programs.join(", ")
            ),
        ));
    };
    ProgramCode::parse(program)
        .map_err(|e| LedgerError::Corrupt(format!("finding {}: {e}", finding.id)))
}

/// A request refused before the rules saw it, in the rules' own shape.
fn refused(field: &'static str, reason: String) -> LedgerError {
    LedgerError::Rejected {
        rejections: vec![RowRejection {
            line: 1,
            field,
            reason,
        }],
        total: 1,
    }
}
