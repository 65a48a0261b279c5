//! The one place where stored events become read-model facts (ARCHITECTURE.md,
//! "Boundaries"): `projections` knows facts, not events.

use std::mem::take;

use chrono::Datelike;
use fundtrail_projections as proj;

use crate::model::domain::{Decision, PaymentKind, Seq};
use crate::model::encoding::{
    stored_date, stored_decision, stored_payment_kind, stored_role, Body, DecodeError, RecordV1,
};

/// Looks up what a reversal names: the value date (days since 1970-01-01) of a committed
/// payment, or the value date and finding of a committed recovery.
pub trait TargetDates {
    fn value_date(&self, seq: Seq) -> Result<i32, String>;
    fn recovery(&self, seq: Seq) -> Result<(i32, String), String>;
}

/// Why an event could not become a fact.
#[derive(Debug, thiserror::Error)]
pub enum FactError {
    #[error("seq {seq}: {source}")]
    Decode { seq: Seq, source: DecodeError },
    #[error("seq {seq}: the reversed payment or recovery: {reason}")]
    Target { seq: Seq, reason: String },
}

/// The fact an event contributes, or `None` for events no read model counts. Takes the
/// record's strings out of it, leaving them empty: a replay maps every event, and moving
/// its strings into the fact saves copying them; taking them where the record lies saves
/// moving the whole record (300 bytes) as well.
pub fn fact_of(
    seq: Seq,
    record: &mut RecordV1,
    targets: &dyn TargetDates,
) -> Result<Option<proj::Fact>, FactError> {
    let date = |days: i32| date_of(days).map_err(|source| FactError::Decode { seq, source });
    let RecordV1 {
        body, reference, ..
    } = record;
    let (kind, p) = match body {
        Body::HouseholdEnrolled(e) => {
            let category = e
                .to_domain()
                .map_err(|source| FactError::Decode { seq, source })?
                .category
                .code();
            return Ok(Some(proj::Fact::HouseholdEnrolled {
                enrolled_on: date(e.enrolled_on)?,
                household: take(&mut e.household),
                subdistrict: take(&mut e.subdistrict),
                community: take(&mut e.community),
                category: category.to_string(),
                members: e.members,
            }));
        }
        Body::FundAllocation(a) => {
            return Ok(Some(proj::Fact::Allocated {
                program: take(&mut a.program),
                amount_fen: a.amount_fen,
                date: date(a.value_date)?,
                source: take(&mut a.source),
            }));
        }
        // A recovery counts no persons, so neither does its reversal; a payment's does.
        Body::Reversal(r) if r.persons == 0 => {
            let (target_days, finding) = targets
                .recovery(Seq::new(r.target_seq))
                .map_err(|reason| FactError::Target { seq, reason })?;
            return Ok(Some(proj::Fact::RecoveryReversed {
                target_seq: r.target_seq,
                finding,
                household: take(&mut r.household),
                program: take(&mut r.program),
                amount_fen: r.amount_fen,
                target_date: date(target_days)?,
                date: date(r.value_date)?,
                reason: take(&mut r.reason),
            }));
        }
        Body::Reversal(r) => {
            let target_days = targets
                .value_date(Seq::new(r.target_seq))
                .map_err(|reason| FactError::Target { seq, reason })?;
            return Ok(Some(proj::Fact::Reversed {
                target_seq: r.target_seq,
                household: take(&mut r.household),
                program: take(&mut r.program),
                amount_fen: r.amount_fen,
                persons: r.persons,
                target_date: date(target_days)?,
                date: date(r.value_date)?,
                reason: take(&mut r.reason),
            }));
        }
        // A decision sets its finding's receivable: what a confirmed one recovers, 0 for
        // a dismissal; a later decision replaces it.
        Body::FindingResolved(f) => {
            return Ok(Some(proj::Fact::ReceivableSet {
                finding: take(&mut f.finding),
                household: take(&mut f.household),
                program: take(&mut f.program),
                amount_fen: f.recover_fen,
            }));
        }
        Body::RecoveryReceived(r) => {
            return Ok(Some(proj::Fact::Recovered {
                date: date(r.value_date)?,
                finding: take(&mut r.finding),
                household: take(&mut r.household),
                program: take(&mut r.program),
                amount_fen: r.amount_fen,
                reference: take(reference),
            }));
        }
        Body::Disbursement(p) => (PaymentKind::Disbursement, p),
        Body::InsurancePurchase(p) => (PaymentKind::InsurancePurchase, p),
        Body::CondolencePayment(p) => (PaymentKind::CondolencePayment, p),
        Body::InKindBenefit(p) => (PaymentKind::InKindBenefit, p),
        Body::PaymentToAccount(p) => match stored_payment_kind(p.kind) {
            Some(kind) => (kind, &mut p.payment),
            None => {
                return Err(FactError::Decode {
                    seq,
                    source: DecodeError::InvalidValue(format!("payment kind {}", p.kind)),
                })
            }
        },
        // Rates, reconciliation runs and people events move no money: no read model
        // counts them (the people registry is the write rules' own, `model::people`).
        Body::RateSet(_)
        | Body::Reconciliation(_)
        | Body::PersonAdded(_)
        | Body::PersonDied(_)
        | Body::PersonLeft(_)
        | Body::HouseholdExited(_)
        | Body::EligibilityEnded(_)
        | Body::PersonRevealed(_)
        | Body::PersonErased(_)
        | Body::HoldReleased(_) => return Ok(None),
    };
    Ok(Some(proj::Fact::Paid {
        kind: payment_kind(kind),
        date: date(p.value_date)?,
        household: take(&mut p.household),
        program: take(&mut p.program),
        amount_fen: p.amount_fen,
        persons: p.persons,
        reference: take(reference),
    }))
}

/// The free text the clerk attached to an event, for its trail entry.
pub fn memo_of(record: &RecordV1) -> String {
    match &record.body {
        Body::FundAllocation(a) => a.source.clone(),
        Body::RecoveryReceived(r) => r.memo.clone(),
        Body::Reversal(r) => r.reason.clone(),
        Body::PersonRevealed(a) | Body::PersonErased(a) => a.reason.clone(),
        Body::FindingResolved(f) => f.reason.clone(),
        Body::HoldReleased(r) => r.reason.clone(),
        other if other.life_event().is_some() => other
            .life_event()
            .map(|(_, l)| l.memo.clone())
            .unwrap_or_default(),
        other => other
            .payment()
            .map(|(_, p)| p.memo.clone())
            .unwrap_or_default(),
    }
}

pub fn payment_kind(kind: PaymentKind) -> proj::PaymentKind {
    match kind {
        PaymentKind::Disbursement => proj::PaymentKind::Disbursement,
        PaymentKind::InsurancePurchase => proj::PaymentKind::InsurancePurchase,
        PaymentKind::CondolencePayment => proj::PaymentKind::CondolencePayment,
        PaymentKind::InKindBenefit => proj::PaymentKind::InKindBenefit,
    }
}

/// A stored day number as the read models' date.
pub fn date_of(days: i32) -> Result<proj::Date, DecodeError> {
    let d = stored_date(days)?;
    let month = u8::try_from(d.month()).expect("a month is 1 to 12");
    let day = u8::try_from(d.day()).expect("a day is 1 to 31");
    proj::Date::new(d.year(), month, day)
        .ok_or_else(|| DecodeError::InvalidValue(format!("day number {days}")))
}

/// The findings fact an event contributes (`projections::findings`), or `None` for events
/// the audit rules do not read (allocations, reconciliations, reveals, erasures).
pub fn finding_fact_of(
    seq: Seq,
    record: &RecordV1,
) -> Result<Option<proj::FindingFact>, FactError> {
    use proj::FindingFact as F;
    let date = |days: i32| date_of(days).map_err(|source| FactError::Decode { seq, source });
    let body = &record.body;
    Ok(Some(match body {
        Body::HouseholdEnrolled(e) => F::HouseholdEnrolled {
            household: e.household.clone(),
            category: category_name(e.category).to_owned(),
        },
        Body::RateSet(r) => F::RateSet {
            program: r.program.clone(),
            category: category_name(r.category).to_owned(),
            per_member_fen: r.per_member_fen,
            valid_from: date(r.valid_from)?,
            valid_to: r.valid_to.map(date).transpose()?,
        },
        Body::PersonAdded(p) => F::PersonAdded {
            person: p.person.clone(),
            household: p.household.clone(),
            parent: stored_role(p.role).is_ok_and(|r| r.is_parent()),
            birth_date: date(p.birth_date)?,
            joined_on: date(p.joined_on)?,
        },
        Body::PersonDied(l) => F::PersonDied {
            person: l.person.clone(),
            date: date(l.value_date)?,
        },
        Body::PersonLeft(l) => F::PersonLeft {
            person: l.person.clone(),
            date: date(l.value_date)?,
        },
        Body::HouseholdExited(l) | Body::EligibilityEnded(l) => F::HouseholdEnded {
            household: l.household.clone(),
            date: date(l.value_date)?,
        },
        // The reversal of a recovery (no persons) touches no payment the rules read.
        Body::Reversal(r) if r.persons == 0 => return Ok(None),
        Body::Reversal(r) => F::Reversed {
            target_seq: r.target_seq,
        },
        Body::FindingResolved(f) => F::Resolved {
            finding: f.finding.clone(),
            household: f.household.clone(),
            decision: match stored_decision(f.decision)
                .map_err(|source| FactError::Decode { seq, source })?
            {
                Decision::Confirmed => proj::Decision::Confirmed,
                Decision::Dismissed => proj::Decision::Dismissed,
            },
            reason: f.reason.clone(),
            actor: record.actor.clone(),
            recover_fen: f.recover_fen,
            program: f.program.clone(),
            date: date(f.value_date)?,
        },
        other => match other.payment() {
            Some((kind, p)) => F::Paid {
                kind: payment_kind(kind),
                household: p.household.clone(),
                program: p.program.clone(),
                amount_fen: p.amount_fen,
                persons: p.persons,
                date: date(p.value_date)?,
                account: other.account().map(|a| proj::findings::Account {
                    hash: a.hash,
                    last4: a.last4.clone(),
                }),
            },
            None => return Ok(None),
        },
    }))
}

/// A stored category code as the read models name it.
fn category_name(code: u8) -> &'static str {
    crate::model::render::category_name(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::encoding::PaymentV1;

    struct NoTargets;

    impl TargetDates for NoTargets {
        fn value_date(&self, seq: Seq) -> Result<i32, String> {
            Err(format!("seq {seq} is not a payment"))
        }
        fn recovery(&self, seq: Seq) -> Result<(i32, String), String> {
            Err(format!("seq {seq} is not a recovery"))
        }
    }

    fn disbursement() -> RecordV1 {
        RecordV1 {
            seq: 7,
            recorded_at_us: 0,
            actor: "clerk".into(),
            reference: "R-7".into(),
            body: Body::Disbursement(PaymentV1 {
                household: "H1".into(),
                program: "micro_wish".into(),
                amount_fen: 12_345,
                persons: 2,
                value_date: 18_000,
                memo: "memo".into(),
            }),
        }
    }

    /// A payment's fact takes its household, program and reference out of the record,
    /// which keeps the rest (the trail's memo, the actor).
    #[test]
    fn a_payments_fact_takes_its_strings_from_the_record() {
        let mut record = disbursement();
        let fact = fact_of(Seq::new(7), &mut record, &NoTargets).expect("a payment maps");
        let expected = proj::Fact::Paid {
            kind: proj::PaymentKind::Disbursement,
            date: date_of(18_000).expect("a day"),
            household: "H1".into(),
            program: "micro_wish".into(),
            amount_fen: 12_345,
            persons: 2,
            reference: "R-7".into(),
        };
        assert_eq!(fact, Some(expected));
        assert_eq!(record.reference, "");
        assert_eq!(record.actor, "clerk");
        let Body::Disbursement(p) = &record.body else {
            panic!("the body stays a disbursement");
        };
        assert_eq!((p.household.as_str(), p.program.as_str()), ("", ""));
        assert_eq!(p.memo, "memo");
    }

    /// A reversal whose target the ledger cannot answer for is an error at its seq.
    #[test]
    fn a_reversal_of_what_is_not_a_payment_is_an_error() {
        let mut record = disbursement();
        record.body = Body::Reversal(crate::model::encoding::ReversalV1 {
            target_seq: 3,
            target_reference: "R-3".into(),
            household: "H1".into(),
            program: "micro_wish".into(),
            amount_fen: 12_345,
            persons: 2,
            value_date: 18_001,
            reason: "wrong".into(),
        });
        let error = fact_of(Seq::new(8), &mut record, &NoTargets).unwrap_err();
        assert!(
            error.to_string().contains("seq 3 is not a payment"),
            "{error}"
        );
    }
}
