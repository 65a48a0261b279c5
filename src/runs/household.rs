//! One household as its balance shows it: its enrollment, through its own entry of the
//! household index, and its events, read once through its trail index (both checked
//! against what the sealed state binds); nothing of other households is read, so the
//! cost of `household ID` follows the household's events, not the log's.

use crate::ledger::{household_people, Ledger, LedgerError};
use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::RecordV1;
use crate::model::people::People;
use crate::model::rules::HouseholdInfo;
use crate::runs::batch::BatchError;

/// One enrolled household's enrollment, events (in seq order) and people registry.
pub struct HouseholdEvents {
    info: HouseholdInfo,
    records: Vec<(Seq, EventHash, RecordV1)>,
    people: People,
}

impl HouseholdEvents {
    /// Reads `household`; [`BatchError::UnknownHousehold`] when it is not enrolled, an
    /// error naming the index when an index entry was changed without the ledger's key.
    pub fn read(ledger: &Ledger, household: &str) -> Result<HouseholdEvents, BatchError> {
        let info = ledger
            .enrollment(household)?
            .ok_or_else(|| BatchError::UnknownHousehold(household.to_owned()))?;
        let records = ledger.view().household_records(household)?;
        check_enrollment_listed(household, &info, &records)?;
        let people = household_people(records.iter().map(|(seq, _, r)| (*seq, &r.body)))?;
        Ok(HouseholdEvents {
            info,
            records,
            people,
        })
    }

    pub fn info(&self) -> &HouseholdInfo {
        &self.info
    }

    /// The household's events, in seq order.
    pub fn records(&self) -> &[(Seq, EventHash, RecordV1)] {
        &self.records
    }

    /// The household's persons and life events; erasures name no household and are not
    /// folded here (a person's `erased` is always empty).
    pub fn people(&self) -> &People {
        &self.people
    }
}

/// The household index and the trail index must agree: the enrollment names its
/// household, so its seq is in the household's trail; otherwise one of the two was
/// changed, and neither is shown.
fn check_enrollment_listed(
    household: &str,
    info: &HouseholdInfo,
    records: &[(Seq, EventHash, RecordV1)],
) -> Result<(), LedgerError> {
    if records.iter().any(|(seq, _, _)| *seq == info.seq) {
        return Ok(());
    }
    Err(LedgerError::Corrupt(format!(
        "the household index names seq {} as household {household}'s enrollment, which its \
         sealed trail does not list (run `fundtrail verify`)",
        info.seq
    )))
}
