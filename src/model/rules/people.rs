//! The write rules for persons and life events, and what they change in the rules for
//! payments: no payment after the household ended, no support allowance for more persons
//! than are eligible in its month. The registry itself is `model::people`.

use std::borrow::Cow;

use super::{date, reject, rejection, text, PlanError, Planner, Rejection};
use crate::keys::identity::IdentityHash;
use crate::model::domain::{
    date_to_days, HouseholdId, LifeEvent, Month, Payment, PaymentKind, PersonAccess, PersonEntry,
    Reference, Seq, ALLOWANCE_REFERENCE_PREFIX, REVEAL_REFERENCE_PREFIX,
};
use crate::model::encoding::{role_code, stored_role, Body, LifeEventV1, PersonAccessV1, PersonV1};
use crate::model::people::{Misfit, People};
use crate::model::person::PersonId;
use crate::model::rates::ALLOWANCE_PROGRAM;

impl Planner<'_> {
    pub(super) fn add_person(&mut self, p: &PersonEntry) -> Result<Body, PlanError> {
        self.check_enrolled_on(p.household.as_str(), p.joined_on, "joined_on")?;
        if p.birth_date > p.joined_on {
            return reject(
                "joined_on",
                format!("{} is before the birth date {}", p.joined_on, p.birth_date),
            );
        }
        let v1 = person_v1(p);
        let at = |seq| self.at(seq);
        self.people.check_new(&v1, &at).map_err(rejected)?;
        Ok(Body::PersonAdded(v1))
    }

    pub(super) fn life_event(&mut self, l: &LifeEvent) -> Result<Body, PlanError> {
        let (kind, event) = (l.kind, self.life_event_v1(l));
        if !kind.is_personal() {
            self.check_enrolled_on(&event.household, l.date, "date")?;
        }
        let at = |seq| self.at(seq);
        let event = self.people.check_life(kind, event, &at).map_err(rejected)?;
        if kind.is_personal() {
            self.check_enrolled_on(&event.household, l.date, "date")?;
        }
        Ok(Body::from_life_event(kind, event))
    }

    /// A life event's content: a person's event without a household takes the person's,
    /// so that a retry with or without it is the same event.
    pub(super) fn life_event_content(&self, l: &LifeEvent) -> Body {
        Body::from_life_event(l.kind, self.life_event_v1(l))
    }

    fn life_event_v1(&self, l: &LifeEvent) -> LifeEventV1 {
        let person = l.person.as_ref().map(PersonId::as_str).unwrap_or_default();
        let household = match &l.household {
            Some(h) => h.to_string(),
            None => self
                .people
                .person(person)
                .map(|p| p.household.clone())
                .unwrap_or_default(),
        };
        LifeEventV1 {
            person: person.to_owned(),
            household,
            value_date: date_to_days(l.date),
            memo: l.memo.clone(),
        }
    }

    /// A reveal or an erasure names a recorded person; nothing is left to reveal once the
    /// person is erased.
    pub(super) fn check_person_data(&self, a: &PersonAccess) -> Result<(), PlanError> {
        let reason = text("reason", &a.reason, true).map_err(PlanError::Rejected)?;
        if reason.trim().is_empty() {
            return reject("reason", "is empty");
        }
        match self.people.person(a.person.as_str()) {
            None => reject("person_id", format!("{} is not recorded", a.person)),
            Some(p) => match p.erased {
                Some(seq) => reject(
                    "person_id",
                    format!("{}'s personal data was erased ({})", a.person, self.at(seq)),
                ),
                None => Ok(()),
            },
        }
    }

    /// Folds a planned people event into this batch's registry.
    pub(super) fn note_people_event(&mut self, seq: Seq, body: &Body) -> Result<(), PlanError> {
        self.people
            .to_mut()
            .apply(seq, body)
            .map_err(PlanError::Lookup)?;
        self.people_planned.push((seq, body.clone()));
        Ok(())
    }

    /// After a rollback: the committed registry plus the people events still planned.
    pub(super) fn replan_people(&mut self) {
        let mut people: People = self.committed_people.clone();
        for (seq, body) in &self.people_planned {
            people
                .apply(*seq, body)
                .expect("an event planned against this registry folds into it again");
        }
        self.people = Cow::Owned(people);
    }

    /// No payment after the household left the scheme or its eligibility ended. The
    /// allowance run's payment of a month is dated the month's last day and is due when
    /// the household had not ended before the month began (`model::eligibility`).
    pub(super) fn check_not_ended(&self, p: &Payment) -> Result<(), PlanError> {
        let Some(end) = self.people.household_end(p.household.as_str()) else {
            return Ok(());
        };
        let by_the_run = p.reference.as_str().starts_with(ALLOWANCE_REFERENCE_PREFIX);
        let after = if by_the_run {
            end.date < Month::of(p.date).first_day()
        } else {
            p.date > end.date
        };
        if !after {
            return Ok(());
        }
        reject(
            "date",
            format!(
                "{} is after household {} {} on {} ({})",
                p.date,
                p.household,
                end.verb(),
                end.date,
                self.at(end.seq)
            ),
        )
    }

    /// A support allowance payment counts at most the persons eligible in its month, once
    /// the household's persons are recorded (before that, its `members` count is all the
    /// ledger knows).
    pub(super) fn check_persons_eligible(&self, p: &Payment) -> Result<(), PlanError> {
        let household = p.household.as_str();
        let allowance =
            p.kind == PaymentKind::Disbursement && p.program.as_str() == ALLOWANCE_PROGRAM;
        if !allowance || !self.people.has_persons(household) {
            return Ok(());
        }
        let month = Month::of(p.date);
        let eligible = self.people.eligible(household, month);
        let counted = u32::try_from(eligible.counted.len()).unwrap_or(u32::MAX);
        if p.persons <= counted {
            return Ok(());
        }
        let stopped: Vec<String> = eligible
            .stopped
            .iter()
            .map(|(person, seq)| format!("{person} no longer counts ({})", self.at(*seq)))
            .collect();
        let why = if stopped.is_empty() {
            String::new()
        } else {
            format!(": {}", stopped.join(", "))
        };
        reject(
            "persons",
            format!(
                "{} persons exceed the {counted} of household {household} eligible in {month}{why}",
                p.persons
            ),
        )
    }

    /// The household is enrolled by `date`; the error names `field`.
    fn check_enrolled_on(
        &self,
        household: &str,
        date: chrono::NaiveDate,
        field: &'static str,
    ) -> Result<(), PlanError> {
        match self.check_enrolled(household, date) {
            Err(PlanError::Rejected(r)) if r.field == "date" => reject(field, r.reason),
            other => other,
        }
    }
}

fn rejected(m: Misfit) -> PlanError {
    PlanError::Rejected(Rejection {
        field: m.field,
        reason: m.reason,
    })
}

pub(super) fn person_v1(p: &PersonEntry) -> PersonV1 {
    PersonV1 {
        person: p.person.to_string(),
        household: p.household.to_string(),
        identity: *p.identity.as_bytes(),
        role: role_code(p.role),
        birth_date: date_to_days(p.birth_date),
        joined_on: date_to_days(p.joined_on),
    }
}

pub(super) fn access_v1(a: &PersonAccess) -> PersonAccessV1 {
    PersonAccessV1 {
        person: a.person.to_string(),
        reason: a.reason.clone(),
    }
}

fn person_id(text: &str) -> Result<PersonId, Rejection> {
    PersonId::parse(text).map_err(|e| rejection("person_id", e))
}

fn household_id(text: &str) -> Result<HouseholdId, Rejection> {
    HouseholdId::parse(text).map_err(|e| rejection("household_id", e))
}

/// The person entry a stored `person_added` came from.
pub(super) fn stored_person(p: &PersonV1) -> Result<PersonEntry, Rejection> {
    Ok(PersonEntry {
        person: person_id(&p.person)?,
        household: household_id(&p.household)?,
        identity: IdentityHash::from_bytes(p.identity),
        role: stored_role(p.role).map_err(|e| rejection("role", e))?,
        birth_date: date("birth_date", p.birth_date)?,
        joined_on: date("joined_on", p.joined_on)?,
        personal: None,
    })
}

/// The request a stored reveal or erasure came from; a reveal's time is in its reference.
pub(super) fn stored_access(
    a: &PersonAccessV1,
    reveal_reference: Option<&str>,
) -> Result<PersonAccess, Rejection> {
    let at_us = match reveal_reference {
        None => 0,
        Some(reference) => reference
            .strip_prefix(REVEAL_REFERENCE_PREFIX)
            .and_then(|rest| rest.strip_prefix(&a.person))
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|us| us.parse().ok())
            .ok_or_else(|| rejection("reference", "not a reveal's reference"))?,
    };
    Ok(PersonAccess {
        person: person_id(&a.person)?,
        reason: text("reason", &a.reason, true)?,
        at_us,
    })
}

/// The life event a stored one came from.
pub(super) fn stored_life_event(body: &Body, reference: &str) -> Result<LifeEvent, Rejection> {
    let (kind, l) = body
        .life_event()
        .ok_or_else(|| rejection("type", "not a life event"))?;
    Ok(LifeEvent {
        kind,
        person: if kind.is_personal() {
            Some(person_id(&l.person)?)
        } else {
            None
        },
        household: Some(household_id(&l.household)?),
        date: date("date", l.value_date)?,
        reference: Reference::parse(reference).map_err(|e| rejection("reference", e))?,
        memo: text("memo", &l.memo, false)?,
    })
}
