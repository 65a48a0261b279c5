//! The public roster (公示, issue 12 item 8): who was paid what in one month, for posting
//! where the community can see it. Every live payment dated in the month (a reversed one
//! counts in no month, as in `totals`), with its household's community, the masked names
//! of the persons it counted, its program and amount, and the month's total, which is
//! therefore exactly what `totals --month` says for the month.
//!
//! Who a payment counted: for the support allowance, the household's persons eligible in
//! the month (`People::eligible`, the rule the allowance run pays by); for any other
//! program, the household's persons in it on the month's first day. A household with no
//! persons recorded is paid by its `members` count and has no names to show.
//!
//! Names are read from the vault and shown only through the one masking function
//! (`roll::view_of`); an erased person shows as erased. Nothing here writes.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use chrono::NaiveDate;

use crate::keys::SigningKeyFile;
use crate::ledger::{Ledger, LedgerError};
use crate::model::domain::{days_to_date, Month, Seq};
use crate::model::eligibility;
use crate::model::encoding::Body;
use crate::model::people::{People, PersonState};
use crate::model::person::PersonId;
use crate::model::rates::ALLOWANCE_PROGRAM;
use crate::people::roll::view_of;
use crate::people::vault::{vault_dir, Entry, Vault, VaultError};

/// What the roster shows for a household with no persons recorded.
pub const NO_PERSONS_RECORDED: &str = "(no persons recorded)";

#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the personal-data vault: {0}")]
    Vault(#[from] VaultError),
    /// A stored payment names what the ledger does not know: the log or its indexes are
    /// damaged (the write rules never let such a payment in).
    #[error("seq {seq}: {reason} (run `fundtrail verify`)")]
    Damaged { seq: Seq, reason: String },
}

/// Whom a payment counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// The household has no persons recorded: it is paid by its `members` count.
    NoPersonsRecorded,
    /// The masked names (or the erased marker) of the persons counted, in the order they
    /// were added to the household; empty when none counted.
    Persons(Vec<String>),
}

/// One live payment of the month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterLine {
    pub seq: Seq,
    pub date: NaiveDate,
    pub reference: String,
    pub subdistrict: String,
    pub community: String,
    pub household: String,
    pub program: String,
    pub amount_fen: i64,
    pub counted: Counted,
}

/// The month's roster, in the order of sub-district, community, household, program and
/// seq: as a notice board lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    pub month: Month,
    pub lines: Vec<RosterLine>,
    /// The sum of the lines' amounts: `totals --month`'s amount for the month.
    pub total_fen: i64,
}

/// A live payment as the log scan finds it.
struct Live {
    seq: Seq,
    reference: String,
    household: String,
    program: String,
    amount_fen: i64,
    value_date: i32,
}

/// The roster of `month`. Reads the whole log once, then the vault for the persons shown.
pub fn roster(ledger: &Ledger, month: Month) -> Result<Roster, RosterError> {
    let live = live_payments(ledger, month)?;
    let enrolled = ledger.enrolled()?;
    let mut names = Names::new(ledger);
    let mut lines = Vec::with_capacity(live.len());
    let mut total_fen: i64 = 0;
    for payment in live.into_values() {
        let damaged = |reason: String| RosterError::Damaged {
            seq: payment.seq,
            reason,
        };
        let info = enrolled
            .get(&payment.household)
            .ok_or_else(|| damaged(format!("household {} is not enrolled", payment.household)))?;
        let date = days_to_date(payment.value_date)
            .ok_or_else(|| damaged(format!("value date {} is out of range", payment.value_date)))?;
        total_fen = total_fen
            .checked_add(payment.amount_fen)
            .ok_or_else(|| damaged("the month's total overflows".into()))?;
        let counted = names.counted(&payment.household, &payment.program, month)?;
        lines.push(RosterLine {
            seq: payment.seq,
            date,
            reference: payment.reference,
            subdistrict: info.enrollment.subdistrict.clone(),
            community: info.enrollment.community.clone(),
            household: payment.household,
            program: payment.program,
            amount_fen: payment.amount_fen,
            counted,
        });
    }
    lines.sort_by_cached_key(|l| {
        (
            natural_key(&l.subdistrict),
            natural_key(&l.community),
            natural_key(&l.household),
            l.program.clone(),
            l.seq,
        )
    });
    Ok(Roster {
        month,
        lines,
        total_fen,
    })
}

/// The payments dated in `month` that no reversal undid, by seq.
fn live_payments(ledger: &Ledger, month: Month) -> Result<BTreeMap<Seq, Live>, RosterError> {
    let mut live = BTreeMap::new();
    let mut failed = None;
    ledger
        .view()
        .visit_records(Seq::FIRST, Seq::new(u64::MAX), |item| {
            let (seq, _, record) = match item {
                Ok(item) => item,
                Err(e) => {
                    failed = Some(e);
                    return ControlFlow::Break(());
                }
            };
            if let Body::Reversal(r) = &record.body {
                live.remove(&Seq::new(r.target_seq));
            } else if let Some((_, p)) = record.body.payment() {
                if month.contains_days(p.value_date) {
                    live.insert(
                        seq,
                        Live {
                            seq,
                            reference: record.reference,
                            household: p.household.clone(),
                            program: p.program.clone(),
                            amount_fen: p.amount_fen,
                            value_date: p.value_date,
                        },
                    );
                }
            }
            ControlFlow::Continue(())
        });
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(live),
    }
}

/// The persons a payment counted, masked; the vault is opened only when a name is needed,
/// and each person's entry is read once.
struct Names<'l> {
    ledger: &'l Ledger,
    vault: Option<Vault>,
    masked: BTreeMap<String, String>,
}

impl<'l> Names<'l> {
    fn new(ledger: &'l Ledger) -> Names<'l> {
        Names {
            ledger,
            vault: None,
            masked: BTreeMap::new(),
        }
    }

    fn counted(
        &mut self,
        household: &str,
        program: &str,
        month: Month,
    ) -> Result<Counted, RosterError> {
        let people = self.ledger.people();
        if !people.has_persons(household) {
            return Ok(Counted::NoPersonsRecorded);
        }
        let ids = if program == ALLOWANCE_PROGRAM {
            people.eligible(household, month).counted
        } else {
            present_on(people, household, month.first_day())
        };
        let mut shown = Vec::with_capacity(ids.len());
        for id in ids {
            shown.push(self.masked_name(people, &id)?);
        }
        Ok(Counted::Persons(shown))
    }

    fn masked_name(&mut self, people: &People, id: &str) -> Result<String, RosterError> {
        if let Some(name) = self.masked.get(id) {
            return Ok(name.clone());
        }
        let state = people
            .person(id)
            .expect("the ids counted come from the registry's own list of the household");
        let entry = match (state.erased, PersonId::parse(id)) {
            (Some(_), _) | (_, Err(_)) => Entry::Erased,
            (None, Ok(person)) => self.vault()?.get(&person)?,
        };
        let name = view_of(id, state, &entry).name;
        self.masked.insert(id.to_owned(), name.clone());
        Ok(name)
    }

    fn vault(&mut self) -> Result<&Vault, RosterError> {
        if self.vault.is_none() {
            let dir = self.ledger.view().dir();
            let keys = SigningKeyFile::read(dir).map_err(LedgerError::from)?;
            self.vault = Some(Vault::open(&vault_dir(dir), keys.vault_key())?);
        }
        Ok(self
            .vault
            .as_ref()
            .expect("the vault was opened just above when it was not open"))
    }
}

/// The persons of a household in it on `day`: joined on or before it, not left on or
/// before it, and not dead before it.
fn present_on(people: &People, household: &str, day: NaiveDate) -> Vec<String> {
    people
        .persons_of(household)
        .filter(|(_, p)| in_household_on(p, day))
        .map(|(id, _)| id.to_owned())
        .collect()
}

fn in_household_on(person: &PersonState, day: NaiveDate) -> bool {
    eligibility::in_household_on(&person.facts(), day)
        && person.died.is_none_or(|died| died.date >= day)
}

/// A piece of a name, for ordering names with numbers in them as a reader does (拓东第2社区
/// before 拓东第10社区): a run of digits by its value, with leading zeros dropped, so that
/// its length and then its digits order it, however long; text by its characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Piece {
    Number { len: usize, digits: String },
    Text(String),
}

fn natural_key(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        let digit = first.is_ascii_digit();
        let end = rest
            .find(|c: char| c.is_ascii_digit() != digit)
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(end);
        pieces.push(if digit {
            let digits = run.trim_start_matches('0').to_owned();
            Piece::Number {
                len: digits.len(),
                digits,
            }
        } else {
            Piece::Text(run.to_owned())
        });
        rest = tail;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_numbers_sort_as_a_reader_sorts_them() {
        let mut names = vec![
            "拓东第10社区",
            "拓东第2社区",
            "拓东第1社区",
            "东华第1社区",
            "PL-0010",
            "PL-009",
            "拓东第02社区",
            "x99999999999999999999999",
            "x100000000000000000000000",
        ];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(
            names,
            [
                "PL-009",
                "PL-0010",
                "x99999999999999999999999",
                "x100000000000000000000000",
                "东华第1社区",
                "拓东第1社区",
                "拓东第2社区",
                "拓东第02社区",
                "拓东第10社区",
            ]
        );
    }
}
