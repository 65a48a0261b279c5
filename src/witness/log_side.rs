//! The ledger's witnesses (`fundtrail witness add | list`, and every `fundtrail
//! checkpoint`): which witnesses it asks, the quorum of cosignatures a checkpoint needs,
//! and the asking itself. Each witness gets the new checkpoint with a consistency proof
//! from the size it cosigned last; the witnesses are asked at once, each within
//! [`WITNESS_TIMEOUT`], so one that is down or slow only leaves its cosignature missing.
//! A witness that holds a checkpoint this ledger's tree does not extend has been shown
//! another history: an alarm.
//!
//! Kept beside the ledger's database: `witnesses.json` (the list, the quorum, each
//! witness's last cosigned size and alarm), replaced atomically, and the quorum notes
//! (`cosigned`: one per size, and the latest).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ledger::{LedgerView, SignedCheckpoint};
use crate::tlog::proofs::consistency_text;
use crate::witness::client::{Answer, WitnessUrl};
use crate::witness::cosign::CosignerKey;
use crate::witness::cosigned;
use crate::witness::state::{replace_durably, WitnessError};

pub use crate::witness::client::WITNESS_TIMEOUT;
pub use crate::witness::cosigned::{with_cosignatures, COSIGNED_DIR, COSIGNED_FILE};

/// The ledger's list of witnesses.
pub const WITNESSES_FILE: &str = "witnesses.json";

/// A witnesses file above 1 MiB is not one a ledger wrote (a witness is about 200 bytes).
const MAX_WITNESSES_FILE_BYTES: u64 = 1024 * 1024;

/// One witness as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogWitness {
    pub url: String,
    /// Its cosigner verifier key (type 0x04).
    pub key: String,
    /// The size of the last checkpoint it cosigned for this ledger (0: none).
    pub cosigned_size: u64,
    /// Why it was last an alarm (it holds another history), if it was.
    pub alarm: Option<String>,
}

/// The witnesses and the policy: `quorum` cosignatures of them, by default a majority.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogWitnesses {
    pub quorum: Option<usize>,
    pub witnesses: Vec<LogWitness>,
}

/// What one witness answered to one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its cosignature line, verified.
    Cosigned(String),
    /// Down, slow, or an answer that is not the protocol's: no cosignature.
    Down(String),
    /// It holds a checkpoint this one does not extend.
    Alarm(String),
}

/// What asking the witnesses for one checkpoint gave.
#[derive(Debug, Clone)]
pub struct CosignReport {
    pub size: u64,
    pub quorum: usize,
    /// In the order of the list: the witness's name and what it answered.
    pub outcomes: Vec<(String, Outcome)>,
    /// The checkpoint note with every cosignature collected.
    pub note: String,
}

impl CosignReport {
    pub fn cosignatures(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Cosigned(_)))
            .count()
    }

    pub fn reached_quorum(&self) -> bool {
        self.cosignatures() >= self.quorum
    }

    pub fn alarms(&self) -> impl Iterator<Item = (&str, &str)> {
        self.outcomes.iter().filter_map(|(name, o)| match o {
            Outcome::Alarm(why) => Some((name.as_str(), why.as_str())),
            _ => None,
        })
    }
}

impl LogWitnesses {
    /// The ledger's witnesses; none when it has no list.
    pub fn load(ledger_dir: &Path) -> Result<LogWitnesses, WitnessError> {
        let path = ledger_dir.join(WITNESSES_FILE);
        let text = match std::fs::File::open(&path) {
            Ok(file) => {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(file, MAX_WITNESSES_FILE_BYTES),
                    &mut text,
                )
                .map_err(|source| WitnessError::Io {
                    path: path.clone(),
                    source,
                })?;
                text
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(LogWitnesses::default())
            }
            Err(source) => return Err(WitnessError::Io { path, source }),
        };
        let witnesses: LogWitnesses =
            serde_json::from_str(&text).map_err(|e| WitnessError::Malformed {
                path: path.clone(),
                line: e.line(),
                reason: e.to_string(),
            })?;
        witnesses
            .check()
            .map_err(|reason| WitnessError::Malformed {
                path,
                line: 1,
                reason,
            })?;
        Ok(witnesses)
    }

    pub fn save(&self, ledger_dir: &Path) -> Result<(), WitnessError> {
        let text = serde_json::to_string_pretty(self).expect("plain data serializes");
        replace_durably(ledger_dir, WITNESSES_FILE, format!("{text}\n").as_bytes())
    }

    /// Adds a witness; for one listed already (by its key), sets its URL (a witness that
    /// moved keeps what it cosigned). Changes the quorum when one is given.
    pub fn add(&mut self, url: &str, key: &str, quorum: Option<usize>) -> Result<bool, String> {
        let url = WitnessUrl::parse(url)?.to_string();
        let key = CosignerKey::parse(key.trim())
            .map_err(|e| e.to_string())?
            .to_string();
        let listed = self.witnesses.iter_mut().find(|w| w.key == key);
        let added = listed.is_none();
        match listed {
            Some(w) => w.url = url,
            None => self.witnesses.push(LogWitness {
                url,
                key,
                cosigned_size: 0,
                alarm: None,
            }),
        }
        if quorum.is_some() {
            self.quorum = quorum;
        }
        self.check()?;
        Ok(added)
    }

    /// Cosignatures a checkpoint needs: the configured quorum, or a majority.
    pub fn quorum(&self) -> usize {
        self.quorum.unwrap_or(self.witnesses.len() / 2 + 1)
    }

    fn check(&self) -> Result<(), String> {
        for w in &self.witnesses {
            WitnessUrl::parse(&w.url)?;
            CosignerKey::parse(&w.key).map_err(|e| e.to_string())?;
        }
        match self.quorum {
            Some(k) if k == 0 || k > self.witnesses.len() => Err(format!(
                "a quorum of {k} of {} witnesses: it must be at least 1 and at most their number",
                self.witnesses.len()
            )),
            _ => Ok(()),
        }
    }
}

/// What the API and the dashboard show of the ledger's witnesses (README, "The HTTP
/// API"): no personal data, only the witnesses' addresses and keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitnessState {
    /// Cosignatures a checkpoint needs; `None` when the ledger has no witnesses.
    pub quorum: Option<usize>,
    pub witnesses: Vec<WitnessView>,
    /// The latest checkpoint that reached the quorum.
    pub cosigned_size: Option<u64>,
    pub head: u64,
    /// How far the head is beyond `cosigned_size`.
    pub beyond: Option<u64>,
    /// Whether any witness holds another history of this log.
    pub alarm: bool,
}

/// One witness as [`WitnessState`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitnessView {
    /// Its name in its cosignatures.
    pub name: String,
    pub url: String,
    pub key: String,
    pub cosigned_size: u64,
    pub alarm: Option<String>,
}

impl WitnessState {
    /// The state of the witnesses of the ledger in `ledger_dir`, whose head is `head`.
    pub fn read(ledger_dir: &Path, head: u64) -> Result<WitnessState, WitnessError> {
        let list = LogWitnesses::load(ledger_dir)?;
        let cosigned_size = cosigned::latest(ledger_dir).map(|(size, _)| size);
        Ok(WitnessState {
            quorum: (!list.witnesses.is_empty()).then(|| list.quorum()),
            alarm: list.witnesses.iter().any(|w| w.alarm.is_some()),
            witnesses: list
                .witnesses
                .into_iter()
                .map(|w| WitnessView {
                    name: name_of(&w.key),
                    url: w.url,
                    key: w.key,
                    cosigned_size: w.cosigned_size,
                    alarm: w.alarm,
                })
                .collect(),
            cosigned_size,
            head,
            beyond: cosigned_size.map(|size| head.saturating_sub(size)),
        })
    }
}

/// Asks every witness to cosign `signed` (a checkpoint `view` signed), records what each
/// cosigned, and stores the cosigned note when it reached its quorum.
pub fn ask_witnesses(
    ledger_dir: &Path,
    view: &LedgerView,
    signed: &SignedCheckpoint,
) -> Result<CosignReport, WitnessError> {
    let mut list = LogWitnesses::load(ledger_dir)?;
    let answers: Vec<(Outcome, u64)> = std::thread::scope(|s| {
        let asks: Vec<_> = list
            .witnesses
            .iter()
            .map(|w| s.spawn(move || ask(w, view, signed)))
            .collect();
        asks.into_iter()
            .zip(&list.witnesses)
            .map(|(ask, w)| {
                ask.join()
                    .unwrap_or_else(|_| (Outcome::Down("asking it failed".into()), w.cosigned_size))
            })
            .collect()
    });
    let mut note = signed.note.clone();
    let mut outcomes = Vec::with_capacity(answers.len());
    for (w, (outcome, size)) in list.witnesses.iter_mut().zip(answers) {
        w.cosigned_size = size;
        match &outcome {
            Outcome::Cosigned(line) => {
                note.push_str(line);
                w.alarm = None;
            }
            Outcome::Alarm(why) => w.alarm = Some(why.clone()),
            Outcome::Down(_) => {}
        }
        outcomes.push((name_of(&w.key), outcome));
    }
    list.save(ledger_dir)?;
    let report = CosignReport {
        size: signed.checkpoint.size,
        quorum: list.quorum(),
        outcomes,
        note,
    };
    if report.reached_quorum() {
        cosigned::keep(ledger_dir, report.size, &report.note)?;
    }
    Ok(report)
}

fn name_of(key: &str) -> String {
    key.split('+').next().unwrap_or(key).to_string()
}

/// One witness: the outcome, and the size it is now known to have cosigned.
fn ask(w: &LogWitness, view: &LedgerView, signed: &SignedCheckpoint) -> (Outcome, u64) {
    let (Ok(url), Ok(key)) = (WitnessUrl::parse(&w.url), CosignerKey::parse(&w.key)) else {
        return (
            Outcome::Down("its URL or key no longer parses".into()),
            w.cosigned_size,
        );
    };
    let size = signed.checkpoint.size;
    let send = |old: u64| -> Result<Answer, String> {
        let proof = view
            .consistency_proof(old, size)
            .map_err(|e| e.to_string())?;
        url.add_checkpoint(&consistency_text(old, &proof, &signed.note))
    };
    let mut old = w.cosigned_size;
    for attempt in 0..2 {
        if old > size {
            let why = format!("it cosigned size {old} of this log, beyond this checkpoint's {size}: another history or a rollback");
            return (Outcome::Alarm(why), old);
        }
        let answer = match send(old) {
            Ok(answer) => answer,
            Err(e) => return (Outcome::Down(e), w.cosigned_size),
        };
        match answer.status {
            200 => return (cosigned(&key, signed, &answer.body), size),
            // The size it holds, when this ledger did not know it (an answer lost on the
            // way): asked once more from there; a second 409 means it keeps moving.
            409 if attempt == 0 => match answer.body.trim().parse() {
                Ok(stored) => old = stored,
                Err(_) => {
                    return (
                        Outcome::Down("a 409 without a size".into()),
                        w.cosigned_size,
                    )
                }
            },
            409 | 422 => {
                let why = format!(
                    "it answered {} to a proof from size {old}: it holds a checkpoint of this log that this ledger's tree does not extend ({})",
                    answer.status,
                    answer.body.trim()
                );
                return (Outcome::Alarm(why), old);
            }
            status => {
                let why = format!("it answered {status}: {}", answer.body.trim());
                return (Outcome::Down(why), w.cosigned_size);
            }
        }
    }
    (Outcome::Down("no answer after a retry".into()), old)
}

/// The witness's cosignature lines of a 200, each checked against its key.
fn cosigned(key: &CosignerKey, signed: &SignedCheckpoint, body: &str) -> Outcome {
    let prefix = format!("\u{2014} {} ", key.name());
    let lines: String = body
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    match key.verify_note(&format!("{}{lines}", signed.note)) {
        Ok(_) => Outcome::Cosigned(lines),
        Err(e) => Outcome::Down(format!("its answer is not its cosignature: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::note::SEED_LEN;
    use crate::witness::cosign::Cosigner;

    fn key(seed: u8) -> String {
        Cosigner::from_seed("w.example/w", &[seed; SEED_LEN])
            .unwrap()
            .verifier_key()
            .to_string()
    }

    #[test]
    fn witnesses_are_added_once_with_a_majority_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let mut list = LogWitnesses::load(dir.path()).unwrap();
        assert!(list.add("http://127.0.0.1:1", &key(1), None).unwrap());
        assert!(!list.add("http://127.0.0.1:1", &key(1), None).unwrap());
        assert!(list.add("http://127.0.0.1:2", &key(2), None).unwrap());
        assert!(list.add("http://127.0.0.1:3", &key(3), None).unwrap());
        assert_eq!(list.quorum(), 2);
        assert!(list.add("http://127.0.0.1:3", &key(3), Some(4)).is_err());
        list.quorum = Some(3);
        list.save(dir.path()).unwrap();
        assert_eq!(LogWitnesses::load(dir.path()).unwrap(), list);
        assert!(list.add("https://x:1", &key(4), None).is_err());
        assert!(list.add("http://x:1", "not a key", None).is_err());
        std::fs::write(
            dir.path().join(WITNESSES_FILE),
            "{\"quorum\": 0, \"witnesses\": []}",
        )
        .unwrap();
        assert!(matches!(
            LogWitnesses::load(dir.path()),
            Err(WitnessError::Malformed { .. })
        ));
    }
}
