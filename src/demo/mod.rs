//! The demo: a ledger built from the bundled Panlong data set (`demo_data`), through the
//! same import path a clerk uses, then verified.
//!
//! The persons are imported after the households and events, so that the report's
//! historic payments, recorded when no person was, are judged as they were recorded: by
//! the households' `members`. Their names and identity numbers end up only in the
//! encrypted vault: the persons file is removed once imported, so that no file of the
//! ledger directory holds them in clear (and erasing a person leaves no copy behind).

pub mod data;

use std::fs;
use std::path::{Path, PathBuf};

use crate::ledger::import::{CsvFile, ImportKind};
use crate::ledger::{
    AppendContext, AppendSummary, ErrorKind, Ledger, LedgerError, SignedCheckpoint, VerifyReport,
};
use crate::people::roll::{self, PeopleError};

/// The actor recorded on demo events.
pub const DEMO_ACTOR: &str = "demo";

/// Where the demo writes its input files, inside the ledger directory.
const INPUT_DIR: &str = "demo-input";

/// The persons file, written into `INPUT_DIR` for the import and removed after it.
const PERSONS_FILE: &str = "persons.csv";

/// What building the demo did.
pub struct DemoOutcome {
    pub ledger: Ledger,
    pub households: AppendSummary,
    pub events: AppendSummary,
    /// The persons of the roll; their names and numbers went to the vault.
    pub persons: AppendSummary,
    /// The checkpoint signed after the imports, as every import ends with one.
    pub checkpoint: SignedCheckpoint,
    pub verify: VerifyReport,
    pub input_dir: PathBuf,
}

/// Builds (or, if it exists, re-imports into) the demo ledger in `dir`. Re-running is
/// harmless: the imports recognise their own rows.
pub fn build(dir: &Path) -> Result<DemoOutcome, PeopleError> {
    let mut ledger = match Ledger::init(dir) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ledger::open(dir)?,
        other => other?,
    };
    let input_dir = dir.join(INPUT_DIR);
    let households = write_input(&input_dir, "households.csv", &data::households_csv())?;
    let events = write_input(&input_dir, "events.csv", &data::events_csv())?;
    let ctx = AppendContext::now(DEMO_ACTOR);
    let households =
        ledger.append_rows(&mut CsvFile::new(&households, ImportKind::Households), &ctx)?;
    let events = ledger.append_rows(&mut CsvFile::new(&events, ImportKind::Events), &ctx)?;
    let persons = import_persons(&mut ledger, &input_dir, &ctx)?;
    let checkpoint = ledger.checkpoint()?;
    let verify = ledger.view().verify(|_| {})?;
    Ok(DemoOutcome {
        ledger,
        households,
        events,
        persons,
        checkpoint,
        verify,
        input_dir,
    })
}

/// Writes the persons file, imports it (vault first, then the log) and removes it, whether
/// the import succeeded or not: the file holds names and numbers in clear.
fn import_persons(
    ledger: &mut Ledger,
    input_dir: &Path,
    ctx: &AppendContext,
) -> Result<AppendSummary, PeopleError> {
    let path = write_input(input_dir, PERSONS_FILE, &data::persons_csv())?;
    let imported = roll::import_persons(ledger, &path, None, ctx);
    let removed =
        fs::remove_file(&path).map_err(|e| LedgerError::Source(format!("{}: {e}", path.display())));
    let (summary, _) = imported?;
    removed?;
    Ok(summary)
}

fn write_input(dir: &Path, name: &str, text: &str) -> Result<PathBuf, LedgerError> {
    let path = dir.join(name);
    fs::create_dir_all(dir)
        .and_then(|()| fs::write(&path, text))
        .map_err(|e| LedgerError::Source(format!("{}: {e}", path.display())))?;
    Ok(path)
}
