//! The witness's decision on an `add-checkpoint` request, in the order c2sp.org/tlog-witness
//! gives its checks: the log known (404), its signature (403), the sizes in order (400),
//! the old size the one cosigned last (409), the proof (422). Pure: the stored state and
//! the trusted keys are arguments; storing and cosigning are the caller's.

use std::collections::BTreeMap;

use crate::tlog::checkpoint::{Checkpoint, CheckpointError};
use crate::tlog::merkle::{verify_consistency, Blake3Hasher, TreeHasher as _};
use crate::tlog::note::{verify_note, VerifierKey};
use crate::witness::request::AddCheckpoint;

/// Why a checkpoint is not cosigned; each is one HTTP status of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the body or the note is not what the protocol says.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 404: no trusted key names this origin.
    #[error("unknown log {origin:?}")]
    UnknownLog { origin: String },
    /// 403: no signature of a trusted key, or one that does not verify.
    #[error("not signed by the log: {0}")]
    Forbidden(String),
    /// 409: the old size is not the size of the checkpoint cosigned last.
    #[error("old size {old_size} is not {stored}, the size of the checkpoint cosigned last")]
    Conflict { old_size: u64, stored: u64 },
    /// 422: the checkpoint does not extend the one cosigned last.
    #[error("inconsistent: {0}")]
    Inconsistent(String),
    /// 503: the witness's state cannot be read or written; nothing was cosigned.
    #[error("the witness cannot keep its state: {0}")]
    Unavailable(String),
}

/// The logs a witness cosigns for: their verifier keys, by origin (a log may have several).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedLogs {
    keys: BTreeMap<String, Vec<VerifierKey>>,
}

impl TrustedLogs {
    /// Adds a key; false when it was already trusted.
    pub fn add(&mut self, key: VerifierKey) -> bool {
        let keys = self.keys.entry(key.name().to_string()).or_default();
        if keys.contains(&key) {
            return false;
        }
        keys.push(key);
        true
    }

    pub fn keys(&self) -> impl Iterator<Item = &VerifierKey> {
        self.keys.values().flatten()
    }

    pub fn knows(&self, origin: &str) -> bool {
        self.keys.contains_key(origin)
    }

    /// Opens the note with the origin's keys: every line of a trusted key must verify,
    /// and one at least must be there.
    fn open(&self, note: &str, origin: &str) -> Result<Checkpoint, Refusal> {
        let keys = self.keys.get(origin).ok_or_else(|| Refusal::UnknownLog {
            origin: origin.to_string(),
        })?;
        let mut body = None;
        for key in keys {
            match verify_note(note, key) {
                Ok(text) => body = Some(text),
                Err(CheckpointError::UnknownKey { .. }) => {}
                Err(e @ CheckpointError::BadSignature { .. }) => {
                    return Err(Refusal::Forbidden(e.to_string()))
                }
                Err(e) => return Err(Refusal::Malformed(format!("checkpoint note: {e}"))),
            }
        }
        let body = body.ok_or_else(|| {
            Refusal::Forbidden(format!("no signature by a key trusted for {origin}"))
        })?;
        Checkpoint::parse_body(body).map_err(|e| Refusal::Malformed(format!("checkpoint: {e}")))
    }
}

/// The checkpoint to cosign, when `request` extends `stored` (the checkpoint cosigned last
/// for its origin, `None` when never). It uses the log's tree hash, BLAKE3 (FORMAT.md §6):
/// the one deviation from the protocol's RFC 6962 SHA-256.
pub fn decide(
    trusted: &TrustedLogs,
    request: &AddCheckpoint,
    stored: Option<&Checkpoint>,
) -> Result<Checkpoint, Refusal> {
    let checkpoint = check_signed(trusted, request)?;
    check_extends(request, &checkpoint, stored)?;
    Ok(checkpoint)
}

/// The checks that need no state: known log, signature, sizes in order. The caller makes
/// them before it waits for the log's turn.
pub fn check_signed(trusted: &TrustedLogs, request: &AddCheckpoint) -> Result<Checkpoint, Refusal> {
    let checkpoint = trusted.open(&request.note, request.origin())?;
    if request.old_size > checkpoint.size {
        return Err(Refusal::Malformed(format!(
            "old size {} is larger than the checkpoint's size {}",
            request.old_size, checkpoint.size
        )));
    }
    Ok(checkpoint)
}

/// The checks against the checkpoint cosigned last.
pub fn check_extends(
    request: &AddCheckpoint,
    checkpoint: &Checkpoint,
    stored: Option<&Checkpoint>,
) -> Result<(), Refusal> {
    let empty = Blake3Hasher.empty_root();
    let (stored_size, stored_root) = stored.map_or((0, empty), |s| (s.size, s.root));
    if request.old_size != stored_size {
        return Err(Refusal::Conflict {
            old_size: request.old_size,
            stored: stored_size,
        });
    }
    if checkpoint.size == 0 && checkpoint.root != empty {
        return Err(Refusal::Inconsistent(
            "a checkpoint of size 0 must have the empty tree's root".into(),
        ));
    }
    verify_consistency(
        &Blake3Hasher,
        stored_size,
        checkpoint.size,
        &request.proof,
        &stored_root,
        &checkpoint.root,
    )
    .map_err(|e| {
        Refusal::Inconsistent(format!(
            "no consistency from size {stored_size} to {}: {e}",
            checkpoint.size
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::merkle::{consistency_nodes, mth, Digest, TreeHasher};

    use crate::tlog::note::{LogSigner, SEED_LEN};

    const ORIGIN: &str = "fundtrail.example/ledger";

    fn signer(seed: u8) -> LogSigner {
        LogSigner::from_seed(ORIGIN, &[seed; SEED_LEN]).unwrap()
    }

    fn trusted() -> TrustedLogs {
        let mut logs = TrustedLogs::default();
        assert!(logs.add(signer(1).verifier_key()));
        assert!(!logs.add(signer(1).verifier_key()));
        logs
    }

    fn leaves(n: u64, fork: u8) -> Vec<Digest> {
        (0..n)
            .map(|i| Blake3Hasher.hash_leaf(&[fork, u8::try_from(i).unwrap()]))
            .collect()
    }

    fn checkpoint(leaves: &[Digest]) -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size: leaves.len() as u64,
            root: mth(&Blake3Hasher, leaves),
        }
    }

    /// A consistency proof from `old` leaves to all of them, computed from the leaves.
    fn proof(all: &[Digest], old: u64) -> Vec<Digest> {
        if old == 0 || old == all.len() as u64 {
            return Vec::new();
        }
        let nodes = consistency_nodes(old, all.len() as u64).unwrap();
        let hashes = nodes
            .ids()
            .iter()
            .map(|id| {
                let (from, to) = id.coverage();
                mth(&Blake3Hasher, &all[from as usize..to as usize])
            })
            .collect();
        nodes.rehash(&Blake3Hasher, hashes).unwrap()
    }

    fn request(old_size: u64, proof: Vec<Digest>, note: String) -> AddCheckpoint {
        AddCheckpoint {
            old_size,
            proof,
            note,
        }
    }

    #[test]
    fn a_consistent_checkpoint_is_accepted_from_nothing_and_from_the_last_one() {
        let all = leaves(13, 0);
        let first = checkpoint(&all[..5]);
        let note = signer(1).sign(&first).unwrap();
        assert_eq!(
            decide(&trusted(), &request(0, vec![], note), None).unwrap(),
            first
        );
        let second = checkpoint(&all);
        let note = signer(1).sign(&second).unwrap();
        let ok = decide(
            &trusted(),
            &request(5, proof(&all, 5), note.clone()),
            Some(&first),
        );
        assert_eq!(ok.unwrap(), second);
        // The same checkpoint again: equal sizes, equal roots, no proof.
        assert_eq!(
            decide(&trusted(), &request(13, vec![], note), Some(&second)).unwrap(),
            second
        );
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let all = leaves(13, 0);
        let fork = leaves(13, 1);
        let stored = checkpoint(&all[..5]);
        let good = signer(1).sign(&checkpoint(&all)).unwrap();
        let forked = signer(1).sign(&checkpoint(&fork)).unwrap();
        let mut bad_proof = proof(&all, 5);
        bad_proof[0][0] ^= 1;
        let other_log = LogSigner::from_seed("other.example/log", &[1; SEED_LEN])
            .unwrap()
            .sign(&Checkpoint {
                origin: "other.example/log".into(),
                ..checkpoint(&all)
            })
            .unwrap();
        let wrong_key = signer(2).sign(&checkpoint(&all)).unwrap();
        let tampered = good.replacen("\n13\n", "\n12\n", 1);
        let empty_with_root = signer(1)
            .sign(&Checkpoint {
                origin: ORIGIN.into(),
                size: 0,
                root: [9; 32],
            })
            .unwrap();
        let cases = [
            (request(5, proof(&all, 5), other_log), "unknown log"),
            (
                request(5, proof(&all, 5), wrong_key),
                "no signature by a key",
            ),
            (request(5, proof(&all, 5), tampered), "does not verify"),
            (request(14, vec![], good.clone()), "larger than"),
            (request(0, vec![], good.clone()), "old size 0 is not 5"),
            (
                request(5, bad_proof, good.clone()),
                "no consistency from size 5 to 13",
            ),
            (request(5, proof(&fork, 5), forked), "no consistency"),
            (request(5, vec![], "x\n".into()), "unknown log"),
            (request(5, vec![], format!("{ORIGIN}\n")), "checkpoint note"),
        ];
        for (req, reason) in cases {
            let err = decide(&trusted(), &req, Some(&stored)).unwrap_err();
            assert!(err.to_string().contains(reason), "{reason}: {err}");
        }
        assert_eq!(
            decide(
                &trusted(),
                &request(0, vec![], empty_with_root.clone()),
                None
            ),
            Err(Refusal::Inconsistent(
                "a checkpoint of size 0 must have the empty tree's root".into()
            ))
        );
        assert_eq!(
            decide(&trusted(), &request(0, vec![[0; 32]], good), None)
                .map_err(|e| matches!(e, Refusal::Inconsistent(_))),
            Err(true),
            "a proof from size 0 must be empty"
        );
        assert!(matches!(
            decide(
                &trusted(),
                &request(7, vec![], empty_with_root),
                Some(&stored)
            ),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn a_fork_of_the_same_size_is_inconsistent() {
        let stored = checkpoint(&leaves(13, 0));
        let forked = signer(1).sign(&checkpoint(&leaves(13, 1))).unwrap();
        assert!(matches!(
            decide(&trusted(), &request(13, vec![], forked), Some(&stored)),
            Err(Refusal::Inconsistent(_))
        ));
    }
}
