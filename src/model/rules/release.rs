//! The write rule of a held household's release (`hold_released`, FORMAT.md §9.1 rule
//! 17): four eyes between whoever ran a month's support allowance and whoever releases a
//! household that run held, for a month not yet paid to it.
//!
//! Which findings held the household is the allowance run's to check against the findings
//! (§12) before it appends; these rules need only the log's own references and actors.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{date, household, reject, rejection, text, PlanError, Planner, Rejection};
use crate::model::domain::{
    check_text, date_to_days, HoldRelease, Month, Reference, Seq, ALLOWANCE_REFERENCE_PREFIX,
    FINDING_ID_HEX_CHARS, MAX_RELEASED_FINDINGS,
};
use crate::model::encoding::{Body, HoldReleasedV1};

/// Per month, who recorded its support allowance disbursements (`ALW-` references) in
/// this batch, each with the first seq they recorded: a replay's batch is the whole log.
pub(super) type RunActors = BTreeMap<Month, BTreeMap<Arc<str>, Seq>>;

impl Planner<'_> {
    pub(super) fn release_hold(&mut self, r: &HoldRelease) -> Result<Body, PlanError> {
        if r.reason.trim().is_empty() {
            return reject(
                "reason",
                "is empty: a release says why the household is paid despite its findings",
            );
        }
        if let Err(e) = check_text(&r.reason, true) {
            return reject("reason", e.0);
        }
        check_finding_ids(&r.findings).map_err(PlanError::Rejected)?;
        self.check_enrolled(r.household.as_str(), r.month.last_day())?;
        self.check_month_unpaid(r)?;
        self.check_four_eyes(r.month)?;
        self.check_held(r)?;
        Ok(Body::HoldReleased(release_v1(r)))
    }

    /// Every finding named holds the household, by the committed log's findings.
    fn check_held(&self, r: &HoldRelease) -> Result<(), PlanError> {
        let Some(held) = self
            .committed
            .holds(r.household.as_str())
            .map_err(PlanError::Lookup)?
        else {
            return Ok(());
        };
        match r.findings.iter().find(|id| !held.contains(id)) {
            None => Ok(()),
            Some(id) => reject(
                "findings",
                format!(
                    "finding {id} does not hold household {}: a release names open \
                     duplicate_payment or shared_account findings that name the household",
                    r.household
                ),
            ),
        }
    }

    /// A release pays the month: a household already paid for it is not held.
    fn check_month_unpaid(&self, r: &HoldRelease) -> Result<(), PlanError> {
        let paid = Reference::for_allowance(r.month, &r.household);
        let seq = match self.planned_seq(paid.as_str())? {
            Some((seq, _)) => Some(seq),
            None => self.committed_ref_of(paid.as_str())?,
        };
        match seq {
            None => Ok(()),
            Some(seq) => reject(
                "household_id",
                format!(
                    "{} is already paid the support allowance of {} ({paid}, {}): only an \
                     unpaid month is released",
                    r.household,
                    r.month,
                    self.at(seq)
                ),
            ),
        }
    }

    /// The month was run (someone recorded its `ALW-` disbursements before), and the
    /// releasing actor recorded none of them.
    fn check_four_eyes(&self, month: Month) -> Result<(), PlanError> {
        let mut runners: Vec<String> = self
            .run_actors
            .get(&month)
            .into_iter()
            .flat_map(|actors| actors.keys().map(|a| a.to_string()))
            .collect();
        if !self.replay {
            let prefix = allowance_prefix(month);
            let committed = self
                .committed
                .actors_under(&prefix)
                .map_err(PlanError::Lookup)?;
            runners.extend(committed);
        }
        if runners.is_empty() {
            return reject(
                "period",
                format!(
                    "the support allowance of {month} has not been run: a release follows the \
                     run that held the household"
                ),
            );
        }
        if runners.iter().any(|runner| *runner == *self.actor) {
            return reject(
                "actor",
                format!(
                    "{} recorded the support allowance run of {month}: a household it held is \
                     released by someone else (four eyes)",
                    self.actor
                ),
            );
        }
        Ok(())
    }

    /// Notes who recorded a month's support allowance disbursement, for the four-eyes
    /// rule of a later release.
    pub(super) fn note_run_actor(&mut self, reference: &Reference, month: Month, seq: Seq) {
        if !reference.as_str().starts_with(ALLOWANCE_REFERENCE_PREFIX) {
            return;
        }
        let actor = Arc::clone(&self.actor);
        self.run_actors
            .entry(month)
            .or_default()
            .entry(actor)
            .or_insert(seq);
    }
}

/// The references of a month's support allowance disbursements start with this.
pub fn allowance_prefix(month: Month) -> String {
    format!("{ALLOWANCE_REFERENCE_PREFIX}{}-", month.compact())
}

/// Finding ids: 1 to [`MAX_RELEASED_FINDINGS`], each [`FINDING_ID_HEX_CHARS`] lowercase
/// hex digits, strictly ascending (so each is named once, in one order).
fn check_finding_ids(ids: &[String]) -> Result<(), Rejection> {
    if ids.is_empty() || ids.len() > MAX_RELEASED_FINDINGS {
        return Err(rejection(
            "findings",
            format!(
                "names {} findings: a release names 1 to {MAX_RELEASED_FINDINGS}",
                ids.len()
            ),
        ));
    }
    let hex = |id: &str| {
        id.len() == FINDING_ID_HEX_CHARS
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if let Some(bad) = ids.iter().find(|id| !hex(id)) {
        return Err(rejection(
            "findings",
            format!("{bad:?} is not a finding id ({FINDING_ID_HEX_CHARS} lowercase hex digits)"),
        ));
    }
    if ids.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(rejection(
            "findings",
            "finding ids are listed in ascending order, each once",
        ));
    }
    Ok(())
}

pub(super) fn release_v1(r: &HoldRelease) -> HoldReleasedV1 {
    HoldReleasedV1 {
        household: r.household.to_string(),
        period: r.month.to_string(),
        reason: r.reason.clone(),
        findings: r.findings.clone(),
        value_date: date_to_days(r.date),
    }
}

/// A stored release back to its command, each value checked as the run checks it.
pub(super) fn stored_release(r: &HoldReleasedV1) -> Result<HoldRelease, Rejection> {
    Ok(HoldRelease {
        household: household(&r.household)?,
        month: Month::parse(&r.period).map_err(|e| rejection("period", e))?,
        reason: text("reason", &r.reason, true)?,
        findings: r.findings.clone(),
        date: date("date", r.value_date)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finding_ids_are_hex_ascending_and_bounded() {
        assert!(check_finding_ids(&ids(&["00000000000000aa", "fac2ab877149dbc8"])).is_ok());
        assert!(check_finding_ids(&[]).is_err());
        assert!(check_finding_ids(&ids(&["FAC2AB877149DBC8"])).is_err());
        assert!(check_finding_ids(&ids(&["fac2ab877149dbc"])).is_err());
        assert!(check_finding_ids(&ids(&["fac2ab877149dbc8", "00000000000000aa"])).is_err());
        assert!(check_finding_ids(&ids(&["fac2ab877149dbc8", "fac2ab877149dbc8"])).is_err());
        let many: Vec<String> = (0..=MAX_RELEASED_FINDINGS)
            .map(|i| format!("{i:016x}"))
            .collect();
        let err = check_finding_ids(&many).unwrap_err();
        assert_eq!(err.field, "findings");
        assert!(check_finding_ids(&many[..MAX_RELEASED_FINDINGS]).is_ok());
    }
}
