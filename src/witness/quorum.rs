//! The auditor's quorum (issue 15, FORMAT.md §13.6): a checkpoint note counts only when at
//! least K of the witness keys the auditor lists cosigned it. Pure: the note and the keys
//! are arguments.

use super::cosign::{CosignError, CosignerKey};

/// Why a note does not meet the quorum.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("the quorum {quorum} is more than the {listed} witness key(s) listed")]
    Impossible { quorum: usize, listed: usize },
    #[error("the quorum must be at least 1")]
    Zero,
    #[error("a cosignature of a listed witness is invalid: {0}")]
    Invalid(CosignError),
    #[error(
        "{valid} valid cosignature(s) of the {listed} listed witness key(s) ({by}), the quorum is {quorum}"
    )]
    NotMet {
        valid: usize,
        listed: usize,
        by: String,
        quorum: usize,
    },
}

/// Without `--quorum`: a majority of the listed keys, as the ledger's own default
/// (`witness add`, FORMAT.md §13.5), so one witness down never blocks an audit of three.
pub fn default_quorum(listed: usize) -> usize {
    listed / 2 + 1
}

/// Counts the valid cosignatures of `note` by distinct keys of `keys` and returns them
/// (as `name+keyid`) when there are at least `quorum`. A line of another key is ignored
/// (c2sp.org/signed-note); a line of a listed key that does not verify is an error, since
/// a witness never signs a bad line and someone edited the note.
pub fn check_quorum(
    note: &str,
    keys: &[CosignerKey],
    quorum: usize,
) -> Result<Vec<String>, QuorumError> {
    let distinct = distinct(keys);
    if quorum == 0 {
        return Err(QuorumError::Zero);
    }
    if quorum > distinct.len() {
        return Err(QuorumError::Impossible {
            quorum,
            listed: distinct.len(),
        });
    }
    let mut valid = Vec::new();
    for key in &distinct {
        match key.verify_note(note) {
            Ok(_) => valid.push(label(key)),
            Err(CosignError::Missing { .. }) => {}
            Err(e) => return Err(QuorumError::Invalid(e)),
        }
    }
    if valid.len() < quorum {
        return Err(QuorumError::NotMet {
            valid: valid.len(),
            listed: distinct.len(),
            by: if valid.is_empty() {
                "none".to_string()
            } else {
                valid.join(", ")
            },
            quorum,
        });
    }
    Ok(valid)
}

/// The keys with duplicates removed: a key listed twice is one witness.
fn distinct(keys: &[CosignerKey]) -> Vec<&CosignerKey> {
    let mut out: Vec<&CosignerKey> = Vec::with_capacity(keys.len());
    for key in keys {
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

fn label(key: &CosignerKey) -> String {
    format!("{}+{:08x}", key.name(), key.key_id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::note::SEED_LEN;
    use crate::witness::cosign::Cosigner;

    const BODY: &str =
        "fundtrail.example/ledger\n3\nX2iWKcJUBsvhfiOq/TcAhCGVY4N3m7KWKFNB8qXQ62g=\n";
    const LOG_LINE: &str = "\u{2014} fundtrail.example/ledger SsGBC9r7KWDRmPV6WGSuzALRpnGklrABYzzYXiIvTwxrjmZtFS8CtHy++NLMNyB1iF8i0YmCYK/7UpCWVZnTo0zKFQQ=\n";

    fn witness(n: u8) -> Cosigner {
        Cosigner::from_seed(&format!("witness.example/w{n}"), &[n; SEED_LEN]).unwrap()
    }

    fn note(lines: &[String]) -> String {
        format!("{BODY}\n{LOG_LINE}{}", lines.concat())
    }

    fn line(w: &Cosigner) -> String {
        w.cosign(BODY, 1679315147).unwrap()
    }

    /// The cosignature line with the last byte of its signature changed.
    fn flip_last_byte(line: &str) -> String {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let (head, b64) = line.trim_end().rsplit_once(' ').unwrap();
        let mut blob = engine.decode(b64).unwrap();
        *blob.last_mut().unwrap() ^= 1;
        format!("{head} {}\n", engine.encode(blob))
    }

    #[test]
    fn distinct_listed_cosigners_are_counted() {
        let (a, b, c) = (witness(1), witness(2), witness(3));
        let keys = [a.verifier_key(), b.verifier_key(), c.verifier_key()];
        let n = note(&[line(&a), line(&b)]);
        assert_eq!(check_quorum(&n, &keys, 2).unwrap().len(), 2);
        assert!(matches!(
            check_quorum(&n, &keys, 3),
            Err(QuorumError::NotMet {
                valid: 2,
                listed: 3,
                quorum: 3,
                ..
            })
        ));
    }

    #[test]
    fn a_key_listed_twice_or_a_line_repeated_counts_once() {
        let (a, b) = (witness(1), witness(2));
        let keys = [a.verifier_key(), a.verifier_key(), b.verifier_key()];
        let n = note(&[line(&a), line(&a)]);
        let err = check_quorum(&n, &keys, 2).unwrap_err();
        assert!(
            matches!(
                err,
                QuorumError::NotMet {
                    valid: 1,
                    listed: 2,
                    ..
                }
            ),
            "{err}"
        );
        // Two listed keys only: a quorum of 3 cannot be met by anyone.
        assert!(matches!(
            check_quorum(&n, &keys, 3),
            Err(QuorumError::Impossible {
                quorum: 3,
                listed: 2
            })
        ));
    }

    #[test]
    fn unknown_lines_are_ignored_and_an_edited_listed_line_is_an_error() {
        let (a, stranger) = (witness(1), witness(9));
        let keys = [a.verifier_key()];
        let n = note(&[
            line(&stranger),
            "\u{2014} other junk\n".to_string(),
            line(&a),
        ]);
        assert_eq!(
            check_quorum(&n, &keys, 1).unwrap(),
            vec![format!(
                "witness.example/w1+{:08x}",
                a.verifier_key().key_id()
            )]
        );
        let edited = note(&[flip_last_byte(&line(&a))]);
        assert!(matches!(
            check_quorum(&edited, &keys, 1),
            Err(QuorumError::Invalid(CosignError::BadSignature { .. }))
        ));
        let only_stranger = note(&[line(&stranger)]);
        assert!(matches!(
            check_quorum(&only_stranger, &keys, 1),
            Err(QuorumError::NotMet { valid: 0, .. })
        ));
        assert!(matches!(check_quorum(&n, &keys, 0), Err(QuorumError::Zero)));
    }

    #[test]
    fn the_default_is_a_majority() {
        assert_eq!(
            (1..=5).map(default_quorum).collect::<Vec<_>>(),
            [1, 2, 2, 3, 3]
        );
    }
}
