//! The roll's workflows: enrolling persons (the vault first, then the log), showing a
//! person (masked, or in clear with a recorded reason), and erasing a person's personal
//! data (crypto-shredding). Each append ends with a signed checkpoint, as every append
//! does.
//!
//! The vault is written before the person events: a crash between the two leaves vault
//! entries no event names (the same import run again finds them identical), while the
//! other order could leave the chain, which is never rewritten, naming persons whose name
//! and number were lost. An erasure destroys the key first and records the event after,
//! for the same reason: a promise of erasure in the chain must never outlive the data.

use std::path::Path;

use chrono::NaiveDate;
use serde_json::json;

use crate::keys::SigningKeyFile;
use crate::ledger::import::{CsvFile, ImportKind, Progress};
use crate::ledger::{AppendContext, AppendSummary, Ledger, LedgerError, Row, SignedCheckpoint};
use crate::model::domain::{Command, PersonAccess, Seq};
use crate::model::people::{People, PersonState};
use crate::model::person::{PersonId, Role};
use crate::people::mask::{mask, Field};
use crate::people::vault::{vault_dir, Clear, Entry, Vault, VaultError};

/// Rows of one persons file: a roll of a whole province fits; the rows are held in memory
/// so that the vault can be written before the log.
pub const MAX_PERSON_ROWS: usize = 1_000_000;

/// What shows in place of an erased person's name and number.
pub const ERASED: &str = "(erased)";

#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the personal-data vault: {0}")]
    Vault(#[from] VaultError),
    #[error("{0}")]
    BadSource(String),
    #[error(transparent)]
    Run(#[from] crate::runs::batch::BatchError),
    #[error("person {0} is not recorded")]
    UnknownPerson(String),
    #[error("person {person}: nothing to reveal: {why}")]
    NothingToReveal { person: String, why: String },
    #[error("{file}: more than {MAX_PERSON_ROWS} rows; split the roll into several files")]
    TooManyRows { file: String },
    /// The vault was changed but the event that records it was not appended: reported
    /// loudly, since the chain and the vault now disagree until the command is run again.
    #[error(
        "{done}, but the event recording it was not appended: {source}; run the command again"
    )]
    Unrecorded { done: String, source: LedgerError },
}

/// Appends the persons of a CSV file (FORMAT.md §4): reads its rows, then
/// [`import_person_rows`].
pub fn import_persons(
    ledger: &mut Ledger,
    path: &Path,
    progress: Option<Progress>,
    ctx: &AppendContext,
) -> Result<(AppendSummary, Option<SignedCheckpoint>), PeopleError> {
    let keys = SigningKeyFile::read(ledger.view().dir()).map_err(LedgerError::from)?;
    let mut source = CsvFile::new(path, ImportKind::Persons).with_identity_key(keys.identity_key());
    if let Some(progress) = progress {
        source = source.with_progress(progress);
    }
    let mut rows = Vec::new();
    for row in crate::ledger::RowSource::rows(&mut source)? {
        if rows.len() >= MAX_PERSON_ROWS {
            return Err(PeopleError::TooManyRows {
                file: path.display().to_string(),
            });
        }
        rows.push(row);
    }
    import_person_rows(ledger, rows, ctx)
}

/// Appends parsed persons rows (from a file or a request body, parsed under this ledger's
/// identity key): names and numbers to the vault, the person events to the log, then a
/// signed checkpoint. The one way persons enter a ledger, so that the vault is always
/// written first.
pub fn import_person_rows(
    ledger: &mut Ledger,
    rows: Vec<Row>,
    ctx: &AppendContext,
) -> Result<(AppendSummary, Option<SignedCheckpoint>), PeopleError> {
    let mut vault = open_vault(ledger)?;
    import_person_rows_in(ledger, &mut vault, rows, ctx)
}

/// [`import_person_rows`] with the ledger's vault already open.
pub fn import_person_rows_in(
    ledger: &mut Ledger,
    vault: &mut Vault,
    mut rows: Vec<Row>,
    ctx: &AppendContext,
) -> Result<(AppendSummary, Option<SignedCheckpoint>), PeopleError> {
    // A row that does not parse fails the whole import: the append names it, and the
    // vault is not touched for rows that will not be recorded.
    if rows.iter().any(|row| row.command.is_err()) {
        return Ok(ledger.append_signed(&mut rows, ctx)?);
    }
    let personal = new_personal_data(ledger, &rows);
    vault.put_many(&personal)?;
    match ledger.append_signed(&mut rows, ctx) {
        Ok(appended) => Ok(appended),
        Err(refused) => {
            // The log recorded none of them: their names and numbers are not kept. A
            // failure here leaves entries no event names, which the same rows find again.
            let ids: Vec<PersonId> = personal.into_iter().map(|(id, _)| id).collect();
            let unrecorded: Vec<PersonId> = ids
                .into_iter()
                .filter(|id| ledger.people().person(id.as_str()).is_none())
                .collect();
            let _ = vault.forget(&unrecorded);
            Err(refused.into())
        }
    }
}

/// The ledger's personal-data vault, opened with its key. Opening reads and checks the
/// whole vault; a caller with several operations to do (the server) keeps it open and
/// uses the `_in` functions.
pub fn open_vault(ledger: &Ledger) -> Result<Vault, PeopleError> {
    let keys = SigningKeyFile::read(ledger.view().dir()).map_err(LedgerError::from)?;
    Ok(Vault::open(
        &vault_dir(ledger.view().dir()),
        keys.vault_key(),
    )?)
}

/// The names and numbers of persons the log does not know yet: those it knows are in the
/// vault already, or were erased and must stay so.
fn new_personal_data(ledger: &Ledger, rows: &[Row]) -> Vec<(PersonId, Clear)> {
    let mut out = Vec::new();
    for row in rows {
        let Ok(Command::AddPerson(entry)) = &row.command else {
            continue;
        };
        if ledger.people().person(entry.person.as_str()).is_some() {
            continue;
        }
        if let Some(clear) = &entry.personal {
            out.push((entry.person.clone(), clear.clone()));
        }
    }
    out
}

/// A person as `person show` presents them: personal data masked, or in clear after a
/// recorded reveal, or marked erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonView {
    pub person: String,
    pub household: String,
    pub role: Role,
    pub birth_date: NaiveDate,
    pub joined_on: NaiveDate,
    pub left: Option<(NaiveDate, Seq)>,
    pub died: Option<(NaiveDate, Seq)>,
    pub erased: Option<Seq>,
    pub name: String,
    pub id_number: String,
    /// Whether `name` and `id_number` are in clear.
    pub revealed: bool,
    /// The seq of the event that records the reveal.
    pub reveal_seq: Option<Seq>,
}

impl PersonView {
    /// The JSON shape of a person, shared by `person show --json` and the HTTP API.
    pub fn to_json(&self) -> serde_json::Value {
        let dated = |d: Option<(NaiveDate, Seq)>| {
            d.map(|(date, seq)| json!({ "date": date.to_string(), "seq": seq.get() }))
        };
        json!({
            "person_id": self.person,
            "household_id": self.household,
            "role": self.role.as_str(),
            "birth_date": self.birth_date.to_string(),
            "joined_on": self.joined_on.to_string(),
            "left": dated(self.left),
            "died": dated(self.died),
            "erased_seq": self.erased.map(|s| s.get()),
            "name": self.name,
            "id_number": self.id_number,
            "revealed": self.revealed,
            "reveal_seq": self.reveal_seq.map(|s| s.get()),
        })
    }
}

/// How a view shows the person's data: masked, or in clear for a recorded reason.
pub enum Showing<'a> {
    Masked,
    Revealed {
        reason: &'a str,
        ctx: &'a AppendContext,
    },
}

/// A person, masked; or revealed, which first appends a `person_revealed` event (who, when,
/// why) and signs it: nothing is shown in clear that the log does not record.
pub fn show_person(
    ledger: &mut Ledger,
    id: &str,
    showing: Showing<'_>,
) -> Result<PersonView, PeopleError> {
    known(ledger, id)?;
    let vault = open_vault(ledger)?;
    show_person_in(ledger, &vault, id, showing)
}

/// [`show_person`] with the ledger's vault already open.
pub fn show_person_in(
    ledger: &mut Ledger,
    vault: &Vault,
    id: &str,
    showing: Showing<'_>,
) -> Result<PersonView, PeopleError> {
    let state = known(ledger, id)?.clone();
    let person = PersonId::parse(id).map_err(|_| PeopleError::UnknownPerson(id.to_owned()))?;
    let entry = vault.get(&person)?;
    let mut view = view_of(id, &state, &entry);
    let Showing::Revealed { reason, ctx } = showing else {
        return Ok(view);
    };
    match &entry {
        Entry::Present(clear) => {
            let access = PersonAccess {
                person,
                reason: reason.to_owned(),
                at_us: ctx.now_us,
            };
            let (summary, _) =
                ledger.append_signed(&mut vec![Command::RevealPerson(access)], ctx)?;
            view.reveal_seq = summary.seqs.first().copied();
            view.name = clear.name().to_owned();
            view.id_number = clear.id_number().expose().to_owned();
            view.revealed = true;
            Ok(view)
        }
        Entry::Erased => Err(PeopleError::NothingToReveal {
            person: id.to_owned(),
            why: "the personal data was erased".into(),
        }),
        Entry::Unknown => Err(PeopleError::NothingToReveal {
            person: id.to_owned(),
            why: "the vault holds no personal data of this person".into(),
        }),
    }
}

/// Erases a person's name and number for good: the vault forgets their key, then a
/// `person_erased` event records it. The chain, every total and every proof stay as they
/// were. Returns the seq of the erasure event (the existing one when already erased).
pub fn erase_person(
    ledger: &mut Ledger,
    id: &str,
    reason: &str,
    ctx: &AppendContext,
) -> Result<Seq, PeopleError> {
    if let Some(seq) = known(ledger, id)?.erased {
        return Ok(seq);
    }
    let mut vault = open_vault(ledger)?;
    erase_person_in(ledger, &mut vault, id, reason, ctx)
}

/// [`erase_person`] with the ledger's vault already open.
pub fn erase_person_in(
    ledger: &mut Ledger,
    vault: &mut Vault,
    id: &str,
    reason: &str,
    ctx: &AppendContext,
) -> Result<Seq, PeopleError> {
    let state = known(ledger, id)?;
    if let Some(seq) = state.erased {
        return Ok(seq);
    }
    let person = PersonId::parse(id).map_err(|_| PeopleError::UnknownPerson(id.to_owned()))?;
    match vault.erase(&person) {
        Ok(()) | Err(VaultError::Unknown(_)) => {}
        Err(other) => return Err(other.into()),
    }
    let access = PersonAccess {
        person,
        reason: reason.to_owned(),
        at_us: 0,
    };
    let appended = ledger.append_signed(&mut vec![Command::ErasePerson(access)], ctx);
    match appended {
        Ok((summary, _)) => summary
            .seqs
            .first()
            .copied()
            .ok_or_else(|| PeopleError::UnknownPerson(id.to_owned())),
        Err(source) => Err(PeopleError::Unrecorded {
            done: format!("the personal data of {id} was destroyed"),
            source,
        }),
    }
}

/// The persons of a household, masked, in the order they were added: what the household
/// endpoint and the dashboard show.
pub fn household_persons(
    ledger: &Ledger,
    vault: &Vault,
    household: &str,
) -> Result<Vec<PersonView>, PeopleError> {
    let mut views = Vec::new();
    for (id, state) in ledger.people().persons_of(household) {
        let entry = match PersonId::parse(id) {
            Ok(person) => vault.get(&person)?,
            Err(_) => Entry::Unknown,
        };
        views.push(view_of(id, state, &entry));
    }
    Ok(views)
}

/// [`household_persons`] from the household's own people registry (its trail's person and
/// life events, `runs::household::HouseholdEvents`), without the whole registry. Its
/// persons carry no erasures (an erasure names no household), so those are looked up in
/// the log's people index for all of the household's persons at once: the log, not the
/// vault, says who was erased.
pub fn household_persons_in(
    ledger: &Ledger,
    vault: &Vault,
    people: &People,
    household: &str,
) -> Result<Vec<PersonView>, PeopleError> {
    let persons: Vec<(&str, &PersonState)> = people.persons_of(household).collect();
    let added = persons.iter().map(|(id, state)| (*id, state.seq)).collect();
    let erasures = ledger.erasures_of(&added)?;
    let mut views = Vec::new();
    for (id, state) in persons {
        let entry = match PersonId::parse(id) {
            Ok(person) => vault.get(&person)?,
            Err(_) => Entry::Unknown,
        };
        let mut state = state.clone();
        state.erased = erasures.get(id).copied();
        views.push(view_of(id, &state, &entry));
    }
    Ok(views)
}

fn known<'l>(ledger: &'l Ledger, id: &str) -> Result<&'l PersonState, PeopleError> {
    ledger
        .people()
        .person(id)
        .ok_or_else(|| PeopleError::UnknownPerson(id.to_owned()))
}

/// The masked view of a person: what every output shows.
pub fn view_of(id: &str, state: &PersonState, entry: &Entry) -> PersonView {
    let (name, id_number) = match entry {
        Entry::Present(clear) => (
            clear.masked_name(),
            mask(Field::IdNumber, clear.id_number().expose()),
        ),
        Entry::Erased => (ERASED.to_owned(), ERASED.to_owned()),
        Entry::Unknown => (
            "(not in the vault)".to_owned(),
            "(not in the vault)".to_owned(),
        ),
    };
    PersonView {
        person: id.to_owned(),
        household: state.household.clone(),
        role: state.role,
        birth_date: state.birth_date,
        joined_on: state.joined_on,
        left: state.left.map(|d| (d.date, d.seq)),
        died: state.died.map(|d| (d.date, d.seq)),
        erased: state.erased,
        name,
        id_number,
        revealed: false,
        reveal_seq: None,
    }
}
