//! The demo: a ledger built from the bundled Panlong data set (`demo_data`), through the
//! same import path a clerk uses, then verified.

pub mod data;

use std::fs;
use std::path::{Path, PathBuf};

use crate::ledger::import::{CsvFile, ImportKind};
use crate::ledger::{
    AppendContext, AppendSummary, ErrorKind, Ledger, LedgerError, SignedCheckpoint, VerifyReport,
};

/// The actor recorded on demo events.
pub const DEMO_ACTOR: &str = "demo";

/// Where the demo writes its input files, inside the ledger directory.
const INPUT_DIR: &str = "demo-input";

/// What building the demo did.
pub struct DemoOutcome {
    pub ledger: Ledger,
    pub households: AppendSummary,
    pub events: AppendSummary,
    /// The checkpoint signed after the imports, as every import ends with one.
    pub checkpoint: SignedCheckpoint,
    pub verify: VerifyReport,
    pub input_dir: PathBuf,
}

/// Builds (or, if it exists, re-imports into) the demo ledger in `dir`. Re-running is
/// harmless: the imports recognise their own rows.
pub fn build(dir: &Path) -> Result<DemoOutcome, LedgerError> {
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
    let checkpoint = ledger.checkpoint()?;
    let verify = ledger.view().verify(|_| {})?;
    Ok(DemoOutcome {
        ledger,
        households,
        events,
        checkpoint,
        verify,
        input_dir,
    })
}

fn write_input(dir: &Path, name: &str, text: &str) -> Result<PathBuf, LedgerError> {
    let path = dir.join(name);
    fs::create_dir_all(dir)
        .and_then(|()| fs::write(&path, text))
        .map_err(|e| LedgerError::Source(format!("{}: {e}", path.display())))?;
    Ok(path)
}
