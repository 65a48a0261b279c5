//! `simulate --check`: a simulated district imported into a fresh ledger through the
//! clerk's import paths, its findings folded over the log, and each rule's findings set
//! against what `planted.json` says was planted: planted, found, missed, false alarms.
//!
//! planted.json is read back from the directory rather than regenerated, so the check
//! judges the files as they are: a doctored list, or a district edited by hand, is
//! checked for what it claims.

use std::path::{Path, PathBuf};

use fundtrail_projections::{Finding, Rule};
use serde::Deserialize;

use super::{IMPORT_ORDER, PLANTED_FILE, REGISTER_SOURCE};
use crate::ledger::import::{CsvFile, ImportKind, Progress};
use crate::ledger::{AppendContext, ErrorKind, Ledger, LedgerError};
use crate::people::deaths;
use crate::people::roll::{self, PeopleError};

/// planted.json is read whole; the simulator's largest district writes a few kilobytes
/// (cases name a handful of households and payments), so 16 MiB is far beyond any real
/// one while a wrong file given by mistake is refused before it fills memory.
pub const MAX_PLANTED_BYTES: u64 = 16 * 1024 * 1024;

/// Reports the long steps to whoever shows progress.
pub trait Watch {
    /// A step begins: `what` names it, `bytes` is the size of the file it reads (0 when
    /// it reads none). The returned callback, if any, is told the bytes read so far.
    fn start(&mut self, what: &str, bytes: u64) -> Option<Progress>;
    /// The step begun last has ended.
    fn finish(&mut self);
}

/// A watch that shows nothing.
pub struct Quiet;

impl Watch for Quiet {
    fn start(&mut self, _: &str, _: u64) -> Option<Progress> {
        None
    }
    fn finish(&mut self) {}
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{}: {reason}", path.display())]
    Planted { path: PathBuf, reason: String },
    #[error("{}: missing: the district's files are written by `fundtrail simulate DIR`", path.display())]
    MissingFile { path: PathBuf },
    #[error(
        "{}: the ledger already holds {events} event(s); --check imports into a fresh one \
         (a new directory, or a ledger just made by `fundtrail init`)",
        path.display()
    )]
    NotFresh { path: PathBuf, events: u64 },
    /// The ledger could not be made or opened.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A file of the district was refused or could not be imported (boxed: a people
    /// error is large, and every other variant small).
    #[error("{}: {error}", file.display())]
    Import {
        file: PathBuf,
        error: Box<PeopleError>,
    },
}

/// A case of planted.json, as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedCase {
    pub rule: Rule,
    pub households: Vec<String>,
    pub person: Option<String>,
    pub what: String,
}

impl PlantedCase {
    /// Whether `finding` is this case: its rule, one of its households, and its person
    /// when the case names one.
    pub fn matches(&self, finding: &Finding) -> bool {
        finding.rule == self.rule
            && self.households.contains(&finding.household)
            && self
                .person
                .as_ref()
                .is_none_or(|p| finding.person.as_ref() == Some(p))
    }
}

/// planted.json's two lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedList {
    pub cases: Vec<PlantedCase>,
    pub near_misses: Vec<PlantedCase>,
}

/// One rule's line of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleCheck {
    pub rule: Rule,
    pub planted: usize,
    pub found: usize,
    pub missed: usize,
    pub false_alarms: usize,
}

/// A finding that no planted case accounts for; `near_miss` names the near miss it
/// raised on, if it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FalseAlarm {
    pub finding: Finding,
    pub near_miss: Option<String>,
}

/// The check's verdict, rule by rule in [`Rule::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub rules: Vec<RuleCheck>,
    pub missed: Vec<PlantedCase>,
    pub false_alarms: Vec<FalseAlarm>,
}

impl CheckReport {
    /// Every planted case found, and nothing else.
    pub fn clean(&self) -> bool {
        self.missed.is_empty() && self.false_alarms.is_empty()
    }
}

/// What [`check`] did: the ledger it built, every finding, and the verdict.
pub struct Checked {
    pub ledger: Ledger,
    pub findings: Vec<Finding>,
    pub report: CheckReport,
    /// How many near misses planted.json lists.
    pub planted_near_misses: usize,
}

/// Imports the district in `dir` into a fresh ledger at `ledger_dir` (made when missing,
/// refused when it holds events), folds the findings and compares them with planted.json.
/// planted.json and the files are looked at before anything is written.
pub fn check(
    dir: &Path,
    ledger_dir: &Path,
    ctx: &AppendContext,
    watch: &mut dyn Watch,
) -> Result<Checked, CheckError> {
    let planted = read_planted(&dir.join(PLANTED_FILE))?;
    let files = district_files(dir)?;
    let mut ledger = fresh_ledger(ledger_dir)?;
    for (kind, path) in &files {
        import_file(&mut ledger, *kind, path, ctx, watch)?;
    }
    watch.start("folding the findings rules over the log", 0);
    let findings = crate::runs::findings::findings(ledger.view());
    watch.finish();
    let findings = findings?;
    let report = compare(&planted, &findings);
    Ok(Checked {
        ledger,
        findings,
        report,
        planted_near_misses: planted.near_misses.len(),
    })
}

/// Matches findings to planted cases one to one: each case takes the first finding not
/// yet taken that [`PlantedCase::matches`] it. A case without one is missed; a finding
/// left over is a false alarm (also when it is a planted near miss).
pub fn compare(planted: &PlantedList, found: &[Finding]) -> CheckReport {
    let mut rules: Vec<RuleCheck> = Rule::ALL
        .iter()
        .map(|&rule| RuleCheck {
            rule,
            planted: 0,
            found: 0,
            missed: 0,
            false_alarms: 0,
        })
        .collect();
    let line = |rules: &mut Vec<RuleCheck>, rule: Rule| -> usize {
        rules
            .iter()
            .position(|r| r.rule == rule)
            .expect("Rule::ALL lists every rule")
    };
    let mut taken = vec![false; found.len()];
    let mut missed = Vec::new();
    for case in &planted.cases {
        let at = line(&mut rules, case.rule);
        rules[at].planted += 1;
        let hit = (0..found.len()).find(|&i| !taken[i] && case.matches(&found[i]));
        match hit {
            Some(i) => {
                taken[i] = true;
                rules[at].found += 1;
            }
            None => {
                rules[at].missed += 1;
                missed.push(case.clone());
            }
        }
    }
    let mut false_alarms = Vec::new();
    for (finding, _) in found.iter().zip(&taken).filter(|(_, taken)| !**taken) {
        let at = line(&mut rules, finding.rule);
        rules[at].false_alarms += 1;
        let near_miss = planted
            .near_misses
            .iter()
            .find(|n| n.matches(finding))
            .map(|n| n.what.clone());
        false_alarms.push(FalseAlarm {
            finding: finding.clone(),
            near_miss,
        });
    }
    CheckReport {
        rules,
        missed,
        false_alarms,
    }
}

/// planted.json as written by [`super::Planted::to_json`]; members the check does not
/// need are ignored.
#[derive(Deserialize)]
struct PlantedFile {
    cases: Vec<CaseFile>,
    near_misses: Vec<CaseFile>,
}

#[derive(Deserialize)]
struct CaseFile {
    rule: String,
    households: Vec<String>,
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    what: String,
}

/// Reads planted.json: an error names the file and, for a bad case, its list, index and
/// member (serde's own messages give the line and column).
pub fn read_planted(path: &Path) -> Result<PlantedList, CheckError> {
    let bad = |reason: String| CheckError::Planted {
        path: path.to_path_buf(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| bad(e.to_string()))?
        .len();
    if size > MAX_PLANTED_BYTES {
        return Err(bad(format!(
            "{size} bytes, more than the {MAX_PLANTED_BYTES} a planted list can be"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let file: PlantedFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    Ok(PlantedList {
        cases: cases("cases", file.cases).map_err(bad)?,
        near_misses: cases("near_misses", file.near_misses).map_err(bad)?,
    })
}

fn cases(list: &str, cases: Vec<CaseFile>) -> Result<Vec<PlantedCase>, String> {
    cases
        .into_iter()
        .enumerate()
        .map(|(i, case)| {
            let rule = Rule::ALL
                .into_iter()
                .find(|r| r.as_str() == case.rule)
                .ok_or_else(|| {
                    let names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
                    format!(
                        "{list}[{i}].rule: {:?} is not a rule ({})",
                        case.rule,
                        names.join(", ")
                    )
                })?;
            if case.households.is_empty() {
                return Err(format!("{list}[{i}].households: names no household"));
            }
            Ok(PlantedCase {
                rule,
                households: case.households,
                person: case.person,
                what: case.what,
            })
        })
        .collect()
}

/// The district's files in import order, each checked to be there.
fn district_files(dir: &Path) -> Result<Vec<(ImportKind, PathBuf)>, CheckError> {
    IMPORT_ORDER
        .iter()
        .map(|(_, file, kind)| {
            let path = dir.join(file);
            if path.is_file() {
                Ok((*kind, path))
            } else {
                Err(CheckError::MissingFile { path })
            }
        })
        .collect()
}

/// A new ledger at `dir`, or the empty one already there.
fn fresh_ledger(dir: &Path) -> Result<Ledger, CheckError> {
    let ledger = match Ledger::init(dir) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ledger::open(dir)?,
        other => other?,
    };
    let events = ledger.view().head().size;
    if events > 0 {
        return Err(CheckError::NotFresh {
            path: dir.to_path_buf(),
            events,
        });
    }
    Ok(ledger)
}

/// One file through the path `fundtrail import KIND FILE` takes; each import ends with a
/// signed checkpoint, as the command's does.
fn import_file(
    ledger: &mut Ledger,
    kind: ImportKind,
    path: &Path,
    ctx: &AppendContext,
    watch: &mut dyn Watch,
) -> Result<(), CheckError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    let progress = watch.start(&format!("importing {name}"), bytes);
    let imported = import_kind(ledger, kind, path, progress, ctx);
    watch.finish();
    imported.map_err(|error| CheckError::Import {
        file: path.to_path_buf(),
        error: Box::new(error),
    })
}

fn import_kind(
    ledger: &mut Ledger,
    kind: ImportKind,
    path: &Path,
    progress: Option<Progress>,
    ctx: &AppendContext,
) -> Result<(), PeopleError> {
    match kind {
        ImportKind::Persons => roll::import_persons(ledger, path, progress, ctx).map(|_| ()),
        ImportKind::Deaths => deaths::import_deaths(ledger, path, REGISTER_SOURCE, ctx).map(|_| ()),
        _ => {
            let mut source = CsvFile::new(path, kind);
            if kind == ImportKind::Events {
                let keys = crate::keys::SigningKeyFile::read(ledger.view().dir())
                    .map_err(LedgerError::from)?;
                source = source.with_account_key(keys.account_key());
            }
            if let Some(progress) = progress {
                source = source.with_progress(progress);
            }
            ledger.append_signed(&mut source, ctx)?;
            Ok(())
        }
    }
}
