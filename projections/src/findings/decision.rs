//! Human decisions about findings (`finding_resolved` events): the rules a decision must
//! follow, shared by the ledger's write rules, the fold and the export's auditor.
//!
//! Four eyes: whoever decides a finding recorded none of its evidence and did not decide
//! it before. A later decision, by a third actor, supersedes an earlier one; the earlier
//! ones stay in [`Finding::resolutions`], nothing is edited.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{Finding, Status};
use crate::money::format_fen;
use crate::vocab::Date;

/// What a human decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Confirmed,
    Dismissed,
}

impl Decision {
    /// The finding's status under this decision.
    pub fn status(self) -> Status {
        match self {
            Decision::Confirmed => Status::Confirmed,
            Decision::Dismissed => Status::Dismissed,
        }
    }
}

/// One decision about a finding, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The seq of the `finding_resolved` event.
    pub seq: u64,
    pub decision: Decision,
    pub reason: String,
    /// Who decided: the event's actor.
    pub actor: String,
    /// Fen to recover; 0 unless confirmed with an amount.
    pub recover_fen: i64,
    /// The program of the money to recover; empty when nothing is recovered.
    pub program: String,
    /// The day of the decision.
    pub date: Date,
}

/// Why a decision may not be recorded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecisionError {
    #[error(
        "four eyes: {actor} recorded seq {seq}, evidence of this finding; another actor must decide it"
    )]
    RecordedEvidence { actor: String, seq: u64 },
    #[error(
        "four eyes: {actor} already decided this finding (seq {seq}); another actor must decide it again"
    )]
    DecidedBefore { actor: String, seq: u64 },
    #[error("the finding is of household {finding}, not {given}")]
    Household { finding: String, given: String },
    #[error("an amount to recover needs the decision confirmed")]
    RecoverDismissed,
    #[error("the amount to recover is negative: {}", format_fen(*recover_fen))]
    NegativeRecover { recover_fen: i64 },
    #[error(
        "{} to recover exceeds the finding's amount at risk, {}",
        format_fen(*recover_fen),
        format_fen(*at_risk_fen)
    )]
    RecoverOverRisk { recover_fen: i64, at_risk_fen: i64 },
    #[error("an amount to recover needs a program; the evidence was paid from: {}", programs.join(", "))]
    ProgramRequired { programs: Vec<String> },
    #[error("a program is named only with an amount to recover")]
    ProgramWithoutRecovery,
    #[error("the evidence was paid from {}, not {program}", programs.join(", "))]
    ProgramNotInEvidence {
        program: String,
        programs: Vec<String>,
    },
}

impl Finding {
    /// The decision in effect: the latest.
    pub fn resolution(&self) -> Option<&Resolution> {
        self.resolutions.last()
    }

    /// The program to recover money for when none is named: the evidence payments' one
    /// program, when they were all paid from one.
    pub fn default_program(&self) -> Option<&str> {
        match self.programs.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Whether `decision` may be recorded after this finding's decisions so far.
    /// `evidence_actors` are the actors of the finding's evidence events, by seq: the fold
    /// does not know them (its facts carry no actors), so it passes none and the callers
    /// that read the events (the write rules, the export's auditor) pass them.
    pub fn check_decision(
        &self,
        decision: &Resolution,
        household: &str,
        evidence_actors: &[(u64, &str)],
    ) -> Result<(), DecisionError> {
        if household != self.household {
            return Err(DecisionError::Household {
                finding: self.household.clone(),
                given: household.to_string(),
            });
        }
        if let Some((seq, actor)) = evidence_actors
            .iter()
            .find(|(_, actor)| *actor == decision.actor)
        {
            return Err(DecisionError::RecordedEvidence {
                actor: actor.to_string(),
                seq: *seq,
            });
        }
        if let Some(earlier) = self.resolutions.iter().find(|r| r.actor == decision.actor) {
            return Err(DecisionError::DecidedBefore {
                actor: earlier.actor.clone(),
                seq: earlier.seq,
            });
        }
        self.check_recovery(decision)
    }

    /// An amount to recover: only when confirmed, at most the amount at risk, from one of
    /// the programs the evidence was paid from.
    fn check_recovery(&self, decision: &Resolution) -> Result<(), DecisionError> {
        let recover_fen = decision.recover_fen;
        if recover_fen < 0 {
            return Err(DecisionError::NegativeRecover { recover_fen });
        }
        if recover_fen == 0 {
            return match decision.program.is_empty() {
                true => Ok(()),
                false => Err(DecisionError::ProgramWithoutRecovery),
            };
        }
        if decision.decision != Decision::Confirmed {
            return Err(DecisionError::RecoverDismissed);
        }
        if recover_fen > self.amount_at_risk_fen {
            return Err(DecisionError::RecoverOverRisk {
                recover_fen,
                at_risk_fen: self.amount_at_risk_fen,
            });
        }
        if decision.program.is_empty() {
            return Err(DecisionError::ProgramRequired {
                programs: self.programs.clone(),
            });
        }
        if !self.programs.contains(&decision.program) {
            return Err(DecisionError::ProgramNotInEvidence {
                program: decision.program.clone(),
                programs: self.programs.clone(),
            });
        }
        Ok(())
    }
}
