//! The people registry, pure: who belongs to which household, who died or left, which
//! households left the scheme, folded from the person and life events in seq order. The
//! write rules read it to refuse what is certainly wrong when it arrives (an identity in
//! two households, a dead person's identity enrolled again, a payment after the household
//! ended, an allowance for more persons than are eligible), and the allowance run reads it
//! for who is due.
//!
//! It holds one entry per person and per ended household: it grows with the roll, never
//! with payments.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use crate::model::domain::{LifeEventKind, Month, Seq};
use crate::model::eligibility::{self, HouseholdFacts, PersonFacts};
use crate::model::encoding::{stored_date, stored_role, Body, LifeEventV1, PersonV1};
use crate::model::person::Role;

/// A date and the event that recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dated {
    pub date: NaiveDate,
    pub seq: Seq,
}

/// One person as the events left them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonState {
    /// The `person_added` event.
    pub seq: Seq,
    pub household: String,
    pub identity: [u8; 32],
    pub role: Role,
    pub birth_date: NaiveDate,
    pub joined_on: NaiveDate,
    pub left: Option<Dated>,
    pub died: Option<Dated>,
    /// The `person_erased` event, once the person's personal data was destroyed.
    pub erased: Option<Seq>,
}

impl PersonState {
    /// What eligibility needs to know of the person.
    pub fn facts(&self) -> PersonFacts {
        PersonFacts {
            role: self.role,
            birth_date: self.birth_date,
            joined_on: self.joined_on,
            left_on: self.left.map(|d| d.date),
            died_on: self.died.map(|d| d.date),
        }
    }
}

/// How and when a household's allowance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HouseholdEnd {
    pub kind: LifeEventKind,
    pub date: NaiveDate,
    pub seq: Seq,
}

impl HouseholdEnd {
    /// `exited the scheme` or `ended its eligibility`, for messages.
    pub fn verb(&self) -> &'static str {
        match self.kind {
            LifeEventKind::HouseholdExited => "exited the scheme",
            _ => "ended its eligibility",
        }
    }
}

/// Why a person or life event does not fit the registry: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    pub field: &'static str,
    pub reason: String,
}

fn misfit<T>(field: &'static str, reason: impl Into<String>) -> Result<T, Misfit> {
    Err(Misfit {
        field,
        reason: reason.into(),
    })
}

/// The persons of one household counted in one month, and those who are not with the
/// event that stopped them, if one did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthEligibility {
    pub counted: Vec<String>,
    /// Parents not counted because of a recorded event (death, leaving, the household's
    /// end): the person and the event's seq.
    pub stopped: Vec<(String, Seq)>,
}

/// The registry.
#[derive(Debug, Clone, Default)]
pub struct People {
    persons: HashMap<String, PersonState>,
    /// Person ids of each household, in the order they were added.
    by_household: HashMap<String, Vec<String>>,
    /// Identity -> the person who currently holds it in a household (not left).
    current: HashMap<[u8; 32], String>,
    /// Identity -> the person most recently added with it (a death register matches
    /// persons who left their household too).
    holders: HashMap<[u8; 32], String>,
    /// Identity -> its recorded death.
    deaths: HashMap<[u8; 32], Dated>,
    ends: HashMap<String, HouseholdEnd>,
    /// People events folded, to compare with the sealed count.
    events: u64,
}

impl People {
    pub fn new() -> People {
        People::default()
    }

    /// People events folded so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn person(&self, id: &str) -> Option<&PersonState> {
        self.persons.get(id)
    }

    pub fn len(&self) -> usize {
        self.persons.len()
    }

    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
    }

    /// The persons of a household, in the order they were added, with their ids.
    pub fn persons_of<'p>(
        &'p self,
        household: &str,
    ) -> impl Iterator<Item = (&'p str, &'p PersonState)> + 'p {
        self.by_household
            .get(household)
            .into_iter()
            .flatten()
            .filter_map(|id| self.persons.get(id).map(|p| (id.as_str(), p)))
    }

    /// Whether any person of the household was ever recorded: from then on its persons,
    /// not its `members` count, are what the allowance counts.
    pub fn has_persons(&self, household: &str) -> bool {
        self.by_household.contains_key(household)
    }

    pub fn household_end(&self, household: &str) -> Option<&HouseholdEnd> {
        self.ends.get(household)
    }

    /// Every person, by id (for listings in a stable order).
    pub fn all(&self) -> BTreeMap<&str, &PersonState> {
        self.persons
            .iter()
            .map(|(id, p)| (id.as_str(), p))
            .collect()
    }

    /// How many persons' personal data was erased.
    pub fn erased_count(&self) -> usize {
        self.persons.values().filter(|p| p.erased.is_some()).count()
    }

    /// The person currently holding an identity in a household, if any.
    pub fn current_holder(&self, identity: &[u8; 32]) -> Option<&str> {
        self.current.get(identity).map(String::as_str)
    }

    /// The person most recently added with an identity, current member or not.
    pub fn holder_of(&self, identity: &[u8; 32]) -> Option<&str> {
        self.holders.get(identity).map(String::as_str)
    }

    /// The recorded death of an identity.
    pub fn death_of(&self, identity: &[u8; 32]) -> Option<Dated> {
        self.deaths.get(identity).copied()
    }

    /// Who of `household` counts for the support allowance in `month` (issue rules in
    /// `model::eligibility`).
    pub fn eligible(&self, household: &str, month: Month) -> MonthEligibility {
        let end = self.ends.get(household);
        let facts = HouseholdFacts {
            ended_on: end.map(|e| e.date),
        };
        let mut result = MonthEligibility::default();
        for (id, person) in self.persons_of(household) {
            if eligibility::counts(&person.facts(), &facts, month) {
                result.counted.push(id.to_owned());
            } else if let Some(seq) = stopping_event(person, end, month) {
                result.stopped.push((id.to_owned(), seq));
            }
        }
        result
    }

    /// Checks a new person against the registry: the household has not ended, the person
    /// id is new, the identity is neither dead nor a current member elsewhere.
    pub fn check_new(&self, p: &PersonV1, name: &dyn Fn(Seq) -> String) -> Result<(), Misfit> {
        if let Some(existing) = self.persons.get(&p.person) {
            return misfit(
                "person_id",
                format!(
                    "{} is already recorded ({}) with other details",
                    p.person,
                    name(existing.seq)
                ),
            );
        }
        if let Some(death) = self.deaths.get(&p.identity) {
            return misfit(
                "id_number",
                format!(
                    "this identity was recorded dead on {} ({}): a dead person's identity is not enrolled again",
                    death.date,
                    name(death.seq)
                ),
            );
        }
        if let Some(holder) = self
            .current
            .get(&p.identity)
            .and_then(|id| self.persons.get(id))
        {
            let holder_id = self.current.get(&p.identity).map_or("", String::as_str);
            return misfit(
                "id_number",
                format!(
                    "this identity is already person {holder_id} of household {} ({})",
                    holder.household,
                    name(holder.seq)
                ),
            );
        }
        if let Some(end) = self.ends.get(&p.household) {
            return misfit(
                "household_id",
                format!(
                    "household {} {} on {} ({})",
                    p.household,
                    end.verb(),
                    end.date,
                    name(end.seq)
                ),
            );
        }
        Ok(())
    }

    /// Checks a life event against the registry and completes it: a person's event takes
    /// the person's household. Returns the event as it will be stored.
    pub fn check_life(
        &self,
        kind: LifeEventKind,
        mut event: LifeEventV1,
        name: &dyn Fn(Seq) -> String,
    ) -> Result<LifeEventV1, Misfit> {
        let date = stored_date(event.value_date).map_err(|e| Misfit {
            field: "date",
            reason: e.to_string(),
        })?;
        if kind.is_personal() {
            let Some(person) = self.persons.get(&event.person) else {
                return misfit("person_id", format!("{} is not recorded", event.person));
            };
            if event.household.is_empty() {
                event.household.clone_from(&person.household);
            } else if event.household != person.household {
                return misfit(
                    "household_id",
                    format!(
                        "{} is a person of household {}, not {}",
                        event.person, person.household, event.household
                    ),
                );
            }
            check_person_event(kind, &event.person, person, date, name)?;
        } else if let Some(end) = self.ends.get(&event.household) {
            return misfit(
                "type",
                format!(
                    "household {} already {} on {} ({})",
                    event.household,
                    end.verb(),
                    end.date,
                    name(end.seq)
                ),
            );
        }
        Ok(event)
    }

    /// Folds one event, in seq order. Events that are not people events are skipped; a
    /// people event that does not fit (a person recorded twice, an unknown person) is an
    /// error: stored events passed the rules, so this means the log or index is damaged.
    pub fn apply(&mut self, seq: Seq, body: &Body) -> Result<(), String> {
        match body {
            Body::PersonAdded(p) => self.add(seq, p)?,
            Body::PersonErased(a) => {
                let person = self
                    .persons
                    .get_mut(&a.person)
                    .ok_or_else(|| format!("seq {seq} erases unknown person {}", a.person))?;
                person.erased = Some(seq);
            }
            _ => match body.life_event() {
                Some((kind, event)) => self.apply_life(seq, kind, event)?,
                None => return Ok(()),
            },
        }
        self.events += 1;
        Ok(())
    }

    fn add(&mut self, seq: Seq, p: &PersonV1) -> Result<(), String> {
        if self.persons.contains_key(&p.person) {
            return Err(format!("seq {seq} adds person {} again", p.person));
        }
        let state = PersonState {
            seq,
            household: p.household.clone(),
            identity: p.identity,
            role: stored_role(p.role).map_err(|e| format!("seq {seq}: {e}"))?,
            birth_date: stored_date(p.birth_date).map_err(|e| format!("seq {seq}: {e}"))?,
            joined_on: stored_date(p.joined_on).map_err(|e| format!("seq {seq}: {e}"))?,
            left: None,
            died: None,
            erased: None,
        };
        self.current.insert(p.identity, p.person.clone());
        self.holders.insert(p.identity, p.person.clone());
        self.by_household
            .entry(p.household.clone())
            .or_default()
            .push(p.person.clone());
        self.persons.insert(p.person.clone(), state);
        Ok(())
    }

    fn apply_life(
        &mut self,
        seq: Seq,
        kind: LifeEventKind,
        event: &LifeEventV1,
    ) -> Result<(), String> {
        let date = stored_date(event.value_date).map_err(|e| format!("seq {seq}: {e}"))?;
        let dated = Dated { date, seq };
        if !kind.is_personal() {
            self.ends
                .insert(event.household.clone(), HouseholdEnd { kind, date, seq });
            return Ok(());
        }
        let person = self
            .persons
            .get_mut(&event.person)
            .ok_or_else(|| format!("seq {seq}: unknown person {}", event.person))?;
        if kind == LifeEventKind::PersonDied {
            person.died = Some(dated);
            self.deaths.insert(person.identity, dated);
        } else {
            person.left = Some(dated);
            if self.current.get(&person.identity) == Some(&event.person) {
                self.current.remove(&person.identity);
            }
        }
        Ok(())
    }
}

/// The rules for a death or a departure of one person.
fn check_person_event(
    kind: LifeEventKind,
    id: &str,
    person: &PersonState,
    date: NaiveDate,
    name: &dyn Fn(Seq) -> String,
) -> Result<(), Misfit> {
    if let Some(died) = person.died {
        return misfit(
            "type",
            format!(
                "{id} was already recorded dead on {} ({})",
                died.date,
                name(died.seq)
            ),
        );
    }
    if date < person.birth_date {
        return misfit(
            "date",
            format!("{date} is before {id} was born ({})", person.birth_date),
        );
    }
    if kind == LifeEventKind::PersonLeft {
        if let Some(left) = person.left {
            return misfit(
                "type",
                format!("{id} already left on {} ({})", left.date, name(left.seq)),
            );
        }
        if date < person.joined_on {
            return misfit(
                "date",
                format!("{date} is before {id} joined ({})", person.joined_on),
            );
        }
    }
    Ok(())
}

/// The recorded event that keeps a parent who would otherwise count out of `month`.
fn stopping_event(person: &PersonState, end: Option<&HouseholdEnd>, month: Month) -> Option<Seq> {
    if !matches!(person.role, Role::Mother | Role::Father) {
        return None;
    }
    let first = month.first_day();
    let died = person.died.filter(|d| Month::of(d.date) < month);
    let left = person.left.filter(|d| d.date <= first);
    let ended = end.filter(|e| e.date < first).map(|e| e.seq);
    died.or(left).map(|d| d.seq).or(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::domain::date_to_days;
    use crate::model::encoding::{role_code, PersonAccessV1};

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn person(id: &str, household: &str, identity: u8, role: Role, born: &str) -> Body {
        Body::PersonAdded(PersonV1 {
            person: id.into(),
            household: household.into(),
            identity: [identity; 32],
            role: role_code(role),
            birth_date: date_to_days(day(born)),
            joined_on: date_to_days(day("2010-01-01")),
        })
    }

    fn life(person: &str, household: &str, on: &str) -> LifeEventV1 {
        LifeEventV1 {
            person: person.into(),
            household: household.into(),
            value_date: date_to_days(day(on)),
            memo: String::new(),
        }
    }

    fn seq_name(seq: Seq) -> String {
        format!("seq {seq}")
    }

    /// H1: mother (born 1960) and father (born 1975), a child; H2 empty.
    fn registry() -> People {
        let mut people = People::new();
        let events = [
            person("M1", "H1", 1, Role::Mother, "1960-05-10"),
            person("F1", "H1", 2, Role::Father, "1975-03-01"),
            person("C1", "H1", 3, Role::Child, "1990-01-01"),
        ];
        let mut seq = Seq::FIRST;
        for body in &events {
            people.apply(seq, body).unwrap();
            seq = seq.next();
        }
        people
    }

    fn month(text: &str) -> Month {
        Month::parse(text).unwrap()
    }

    #[test]
    fn parents_count_from_their_49th_birthday_month() {
        let people = registry();
        assert_eq!(people.eligible("H1", month("2019-01")).counted, ["M1"]);
        // The father turns 49 in March 2024.
        assert_eq!(people.eligible("H1", month("2024-02")).counted, ["M1"]);
        assert_eq!(
            people.eligible("H1", month("2024-03")).counted,
            ["M1", "F1"]
        );
        assert!(people.has_persons("H1"));
        assert!(!people.has_persons("H2"));
    }

    #[test]
    fn a_death_stops_the_count_after_its_month_and_names_the_event() {
        let mut people = registry();
        let died = life("M1", "H1", "2019-03-20");
        let checked = people
            .check_life(LifeEventKind::PersonDied, died.clone(), &seq_name)
            .unwrap();
        people
            .apply(Seq::FIRST.next().next().next(), &Body::PersonDied(checked))
            .unwrap();
        assert_eq!(people.eligible("H1", month("2019-03")).counted, ["M1"]);
        let april = people.eligible("H1", month("2019-04"));
        assert!(april.counted.is_empty());
        assert_eq!(april.stopped.len(), 1);
        assert_eq!(april.stopped[0].0, "M1");
        let again = people
            .check_life(LifeEventKind::PersonDied, died, &seq_name)
            .unwrap_err();
        assert_eq!(again.field, "type");
        assert!(again
            .reason
            .contains("already recorded dead on 2019-03-20 (seq 4)"));
    }

    #[test]
    fn a_dead_identity_and_a_current_member_are_not_enrolled_again() {
        let mut people = registry();
        let Body::PersonAdded(mut copy) = person("X9", "H2", 1, Role::Mother, "1960-05-10") else {
            unreachable!()
        };
        let held = people.check_new(&copy, &seq_name).unwrap_err();
        assert_eq!(held.field, "id_number");
        assert!(
            held.reason
                .contains("already person M1 of household H1 (seq 1)"),
            "{}",
            held.reason
        );
        let died = life("M1", "", "2019-03-20");
        let died = people
            .check_life(LifeEventKind::PersonDied, died, &seq_name)
            .unwrap();
        assert_eq!(
            died.household, "H1",
            "a person's event takes the person's household"
        );
        people
            .apply(Seq::FIRST.next().next().next(), &Body::PersonDied(died))
            .unwrap();
        let dead = people.check_new(&copy, &seq_name).unwrap_err();
        assert!(
            dead.reason.contains("recorded dead on 2019-03-20 (seq 4)"),
            "{}",
            dead.reason
        );
        copy.identity = [9; 32];
        people.check_new(&copy, &seq_name).unwrap();
        copy.person = "F1".into();
        assert_eq!(
            people.check_new(&copy, &seq_name).unwrap_err().field,
            "person_id"
        );
    }

    #[test]
    fn a_person_who_left_frees_the_identity_and_stops_counting() {
        let mut people = registry();
        let left = life("M1", "H1", "2019-06-01");
        let left = people
            .check_life(LifeEventKind::PersonLeft, left, &seq_name)
            .unwrap();
        people
            .apply(Seq::FIRST.next().next().next(), &Body::PersonLeft(left))
            .unwrap();
        assert_eq!(people.eligible("H1", month("2019-05")).counted, ["M1"]);
        assert!(people.eligible("H1", month("2019-06")).counted.is_empty());
        assert_eq!(people.current_holder(&[1; 32]), None);
        let wrong = life("F1", "H2", "2019-06-01");
        let err = people
            .check_life(LifeEventKind::PersonLeft, wrong, &seq_name)
            .unwrap_err();
        assert_eq!(err.field, "household_id");
        let unknown = life("Z1", "", "2019-06-01");
        let err = people
            .check_life(LifeEventKind::PersonDied, unknown, &seq_name)
            .unwrap_err();
        assert_eq!(err.field, "person_id");
    }

    #[test]
    fn a_household_ends_once_and_stops_everyone_after_its_month() {
        let mut people = registry();
        let exit = life("", "H1", "2019-07-15");
        let exit = people
            .check_life(LifeEventKind::HouseholdExited, exit, &seq_name)
            .unwrap();
        people
            .apply(
                Seq::FIRST.next().next().next(),
                &Body::HouseholdExited(exit),
            )
            .unwrap();
        assert_eq!(people.eligible("H1", month("2019-07")).counted, ["M1"]);
        assert!(people.eligible("H1", month("2019-08")).counted.is_empty());
        let end = people.household_end("H1").unwrap();
        assert_eq!(end.verb(), "exited the scheme");
        let again = life("", "H1", "2019-09-01");
        let err = people
            .check_life(LifeEventKind::EligibilityEnded, again, &seq_name)
            .unwrap_err();
        assert!(err
            .reason
            .contains("already exited the scheme on 2019-07-15"));
        let Body::PersonAdded(late) = person("N1", "H1", 7, Role::Mother, "1960-01-01") else {
            unreachable!()
        };
        assert_eq!(
            people.check_new(&late, &seq_name).unwrap_err().field,
            "household_id"
        );
    }

    #[test]
    fn erasure_is_folded_and_an_unknown_person_is_damage() {
        let mut people = registry();
        let erase = Body::PersonErased(PersonAccessV1 {
            person: "C1".into(),
            reason: "request".into(),
        });
        people
            .apply(Seq::FIRST.next().next().next(), &erase)
            .unwrap();
        assert!(people.person("C1").unwrap().erased.is_some());
        assert_eq!(people.events(), 4);
        let unknown = Body::PersonErased(PersonAccessV1 {
            person: "nobody".into(),
            reason: "x".into(),
        });
        assert!(people.apply(Seq::FIRST, &unknown).is_err());
        assert!(people
            .apply(
                Seq::FIRST,
                &person("M1", "H1", 1, Role::Mother, "1960-05-10")
            )
            .is_err());
    }
}
