//! The registries the write-side rules check against (the enrolled households and the
//! people registry), read back from their indexes: when a writer opens the ledger, or on
//! first use by a query that may never need them (`totals` reads only its records).

use std::collections::BTreeMap;

use super::{corrupt_at, LedgerError, LedgerView};
use crate::model::domain::Seq;
use crate::model::encoding::Body;
use crate::model::people::People;
use crate::model::rules::HouseholdInfo;
use crate::store::StoreError;

/// The registries as read back, and why they cannot be trusted, if they cannot.
pub(super) struct Registries {
    pub(super) households: BTreeMap<String, HouseholdInfo>,
    /// Persons, life events and erasures, folded from the people index.
    pub(super) people: People,
    /// A damaged entry (the list may be incomplete), or an index whose count is not the
    /// sealed one: the ledger stays readable but refuses to append.
    pub(super) doubt: Option<String>,
}

/// What the sealed state says the registries hold.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SealedCounts {
    pub(super) households: u64,
    /// Events in the people index.
    pub(super) people: u64,
}

impl Registries {
    /// Reads both registries back and checks them against the sealed counts. What does not
    /// fit is a doubt; only a failure to read the store (not its content) is an error.
    pub(super) fn load(view: &LedgerView, sealed: SealedCounts) -> Result<Registries, LedgerError> {
        let loaded = load_households(view).and_then(|h| load_people(view).map(|p| (h, p)));
        match loaded {
            Ok((households, people)) => {
                let doubt = count_doubt(&households, &people, sealed);
                Ok(Registries {
                    households,
                    people,
                    doubt,
                })
            }
            Err(LedgerError::Corrupt(reason))
            | Err(LedgerError::Store(StoreError::Corrupt(reason))) => {
                Ok(Registries::doubted(reason))
            }
            Err(other) => Err(other),
        }
    }

    /// Empty registries that must not be trusted, for `reason`.
    pub(super) fn doubted(reason: String) -> Registries {
        Registries {
            households: BTreeMap::new(),
            people: People::new(),
            doubt: Some(reason),
        }
    }
}

/// Why the indexes do not hold the sealed counts, if they do not: an entry added or
/// removed without the ledger's key.
fn count_doubt(
    households: &BTreeMap<String, HouseholdInfo>,
    people: &People,
    sealed: SealedCounts,
) -> Option<String> {
    let found = households.len() as u64;
    if found != sealed.households {
        return Some(format!(
            "the household index lists {found} households, the sealed state {}: an entry \
             was added or removed without the ledger's key",
            sealed.households
        ));
    }
    let found = people.events();
    (found != sealed.people).then(|| {
        format!(
            "the people index lists {found} events, the sealed state {}: an entry was added \
             or removed without the ledger's key",
            sealed.people
        )
    })
}

/// Every enrolled household, read at the seq its index entry names.
fn load_households(view: &LedgerView) -> Result<BTreeMap<String, HouseholdInfo>, LedgerError> {
    let mut households = BTreeMap::new();
    for (id, seq) in view.store.households()? {
        let info = enrollment_at(view, &id, seq)?;
        households.insert(id, info);
    }
    Ok(households)
}

/// The enrollment an index entry of household `id` names at `seq`: an entry counts only
/// when the sealed event there (within the head) enrolls that very household. The log
/// enrolls a household once (`enroll:` references are unique), so an entry moved without
/// the key names another household's enrollment, or no enrollment, and is refused.
fn enrollment_at(view: &LedgerView, id: &str, seq: Seq) -> Result<HouseholdInfo, LedgerError> {
    let record = view.record(seq)?;
    let Body::HouseholdEnrolled(e) = &record.body else {
        return Err(LedgerError::Corrupt(format!(
            "household {id} points at seq {seq}, which is not an enrollment"
        )));
    };
    if e.household != id {
        return Err(LedgerError::Corrupt(format!(
            "household {id} points at seq {seq}, the enrollment of {}",
            e.household
        )));
    }
    let enrollment = e.to_domain().map_err(|err| corrupt_at(seq, err))?;
    Ok(HouseholdInfo { enrollment, seq })
}

/// One household's enrollment through its own index entry (`h‖id`), without reading the
/// others: checked as [`load_households`] checks each entry. The whole registry's count
/// check cannot be made for one entry, so an absent entry is judged by the household's
/// sealed trail instead: a household whose trail lists events was enrolled (its
/// enrollment names it), and then a missing entry was removed without the key.
pub(super) fn lookup_household(
    view: &LedgerView,
    id: &str,
) -> Result<Option<HouseholdInfo>, LedgerError> {
    let in_index = |reason: String| {
        LedgerError::Corrupt(format!(
            "the household index: {reason}; an entry was changed without the ledger's key \
             (run `fundtrail verify`)"
        ))
    };
    match view.store.household(id)? {
        Some(seq) => enrollment_at(view, id, seq).map(Some).map_err(|e| match e {
            LedgerError::Corrupt(reason) => in_index(reason),
            other => other,
        }),
        None => {
            let listed = view.household_seqs(id)?.len();
            if listed == 0 {
                return Ok(None);
            }
            Err(in_index(format!(
                "household {id} has no entry, yet its sealed trail lists {listed} event(s) of it"
            )))
        }
    }
}

/// The people registry of one household, folded in seq order from its own events (its
/// trail): every person and life event names the household it is of, so this holds
/// exactly what the whole registry holds of it, but for erasures, which name no household
/// (`erased` stays empty here). Enough for who is due an allowance.
pub fn household_people<'r>(
    records: impl IntoIterator<Item = (Seq, &'r Body)>,
) -> Result<People, LedgerError> {
    let mut people = People::new();
    for (seq, body) in records {
        if body.is_people_event() {
            people
                .apply(seq, body)
                .map_err(|reason| LedgerError::Corrupt(format!("a household's trail: {reason}")))?;
        }
    }
    Ok(people)
}

/// Folds the events the people index names, in seq order; each must be a people event.
fn load_people(view: &LedgerView) -> Result<People, LedgerError> {
    let mut people = People::new();
    for seq in view.store.people_events()? {
        let record = view.record(seq)?;
        if !record.body.is_people_event() {
            return Err(LedgerError::Corrupt(format!(
                "the people index names seq {seq}, a {}",
                record.body.type_name()
            )));
        }
        people
            .apply(seq, &record.body)
            .map_err(|reason| LedgerError::Corrupt(format!("the people index: {reason}")))?;
    }
    Ok(people)
}

/// The seq of `person`'s erasure, from the people index after `added` (the seq of the
/// person's entry), or `None` when the log records none. For a person the vault already
/// forgot or never held: the vault forgets a person before the log records the erasure
/// (`roll::erase_person_in`), so only those can have one, and a household's persons need
/// not fold the whole people registry (an erasure names no household, so it is not in
/// the household's trail). Every record read is from a sealed block.
pub(super) fn erasures_of(
    view: &LedgerView,
    persons: &BTreeMap<&str, Seq>,
) -> Result<BTreeMap<String, Seq>, LedgerError> {
    let mut erased = BTreeMap::new();
    if persons.is_empty() {
        return Ok(erased);
    }
    for seq in view.store.people_events()? {
        if seq.get() > view.head.size {
            continue;
        }
        if let Body::PersonErased(e) = view.record(seq)?.body {
            if persons
                .get(e.person.as_str())
                .is_some_and(|added| seq > *added)
            {
                erased.entry(e.person).or_insert(seq);
            }
        }
    }
    Ok(erased)
}
