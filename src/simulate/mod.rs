//! The fraud simulator (issue 13, item 8): a synthetic district with planted cases of
//! every findings rule at known places, and a near miss of each that must not be found.
//!
//! `write` puts the import files and `planted.json` in a directory. The files import
//! cleanly into a fresh ledger in the order of [`IMPORT_ORDER`]: the deaths and exits that
//! make earlier payments wrong come after those payments, as in life, so the write rules
//! let them in and only the findings can catch them. Everything derives from the seed;
//! nothing reads the clock, so the same options give the same bytes on every machine.

pub mod check;
mod district;
mod plant;

use std::path::{Path, PathBuf};

use crate::ledger::import::ImportKind;

pub use district::District;
pub use plant::{Case, Planted};

/// Households when `--households` is not given: enough for every outlier group to hold
/// ten times the 20 payments the rule needs.
pub const DEFAULT_HOUSEHOLDS: u32 = 200;
/// The fewest households: the plants take 18 households of their own, and each program's
/// yearly group must keep at least 20 payments for `outlier_amount` to apply.
pub const MIN_HOUSEHOLDS: u32 = 40;
/// The most households: enough for a district of four million event rows (the scale
/// benchmark, `scripts/scale-bench`), while every person keeps a distinct generated name
/// and identity number. A program's year above the ceiling of one amount is allocated in
/// several parts.
pub const MAX_HOUSEHOLDS: u32 = 100_000;
/// Years of payments when `--years` is not given.
pub const DEFAULT_YEARS: u32 = 3;
/// The fewest years: the plants sit in the first and second years, and a death or exit in
/// the second year needs later months to be paid after.
pub const MIN_YEARS: u32 = 2;
/// The most years: twenty, a district's record over time (the scale benchmark grows a
/// district by its years, so memory is measured against events, not households).
pub const MAX_YEARS: u32 = 20;
/// The first year of payments of a district of up to five years; the households enroll in
/// the year before. A longer district starts earlier ([`first_year`]).
pub const FIRST_YEAR: i32 = 2021;
/// The last year of payments of a district of more than five years, so no value date is
/// ever ahead of the day it is imported (a district of up to five starts in [`FIRST_YEAR`]).
pub const LAST_YEAR: i32 = 2025;

/// The first year of payments of a district of `years` years: [`FIRST_YEAR`], or earlier
/// so that the last is [`LAST_YEAR`].
pub fn first_year(years: u32) -> i32 {
    let years = i32::try_from(years).expect("at most MAX_YEARS years");
    FIRST_YEAR.min(LAST_YEAR + 1 - years)
}
/// The seed when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 1;
/// The death register's `--source` that the README's import commands use.
pub const REGISTER_SOURCE: &str = "sim-register";

/// The files, in the order they must be imported: the `fundtrail import` kind, the file,
/// and the kind's reader.
pub const IMPORT_ORDER: [(&str, &str, ImportKind); 6] = [
    ("households", "households.csv", ImportKind::Households),
    ("rates", "rates.csv", ImportKind::Rates),
    ("persons", "persons.csv", ImportKind::Persons),
    ("events", "events.csv", ImportKind::Events),
    ("changes", "changes.csv", ImportKind::Changes),
    ("deaths", "deaths.csv", ImportKind::Deaths),
];
/// The list of what was planted, beside the import files.
pub const PLANTED_FILE: &str = "planted.json";

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub households: u32,
    pub years: u32,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            households: DEFAULT_HOUSEHOLDS,
            years: DEFAULT_YEARS,
            seed: DEFAULT_SEED,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("--households must be {MIN_HOUSEHOLDS} to {MAX_HOUSEHOLDS}, not {0}")]
    Households(u32),
    #[error("--years must be {MIN_YEARS} to {MAX_YEARS}, not {0}")]
    Years(u32),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Options {
    fn check(self) -> Result<Options, SimulateError> {
        if !(MIN_HOUSEHOLDS..=MAX_HOUSEHOLDS).contains(&self.households) {
            return Err(SimulateError::Households(self.households));
        }
        if !(MIN_YEARS..=MAX_YEARS).contains(&self.years) {
            return Err(SimulateError::Years(self.years));
        }
        Ok(self)
    }
}

/// What `write` wrote: row counts per file, and the plants.
#[derive(Debug)]
pub struct Written {
    pub rows: Vec<(&'static str, usize)>,
    pub planted: Planted,
}

/// Generates the district of `options` in memory.
pub fn generate(options: Options) -> Result<District, SimulateError> {
    Ok(District::generate(options.check()?))
}

/// Generates the district and writes its files into `dir` (created if missing; files of
/// the same names are replaced).
pub fn write(dir: &Path, options: Options) -> Result<Written, SimulateError> {
    let district = generate(options)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SimulateError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut rows = Vec::with_capacity(IMPORT_ORDER.len());
    for (file, text) in district.files() {
        let path = dir.join(file);
        std::fs::write(&path, &text).map_err(io(&path))?;
        rows.push((file, text.lines().count().saturating_sub(1)));
    }
    let path = dir.join(PLANTED_FILE);
    std::fs::write(&path, district.planted.to_json()).map_err(io(&path))?;
    Ok(Written {
        rows,
        planted: district.planted,
    })
}

#[cfg(test)]
mod tests;
