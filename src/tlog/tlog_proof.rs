//! One entry's offline evidence in the c2sp.org/tlog-proof text format: its index, its
//! inclusion proof, and the signed checkpoint the proof leads to. Pure: no IO.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::tlog::checkpoint::{decode_hash, open_note, parse_decimal, Checkpoint, CheckpointError};
use crate::tlog::merkle::{self, Digest, TreeHasher};
use crate::tlog::note::VerifierKey;

/// First line of a c2sp.org/tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most inclusion proof hashes accepted in a tlog-proof: a tree of at most
/// 2^64 leaves has paths of at most 64 hashes.
pub const MAX_PROOF_HASHES: usize = merkle::MAX_LEVELS;

/// One entry's offline evidence (c2sp.org/tlog-proof): its index, its
/// inclusion proof, and the signed checkpoint the proof leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data (the `extra` line), if any.
    pub extra: Option<Vec<u8>>,
    /// Zero-based leaf index.
    pub index: u64,
    /// Inclusion proof, leaf's sibling first.
    pub hashes: Vec<Digest>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// The text form: header, optional `extra`, `index`, one base64 hash per
    /// line, a blank line, the checkpoint note.
    pub fn to_text(&self) -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", BASE64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.hashes {
            out.push_str(&BASE64.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses the text form; the checkpoint is kept verbatim and checked only
    /// by [`TlogProof::verify`].
    pub fn parse(text: &str) -> Result<TlogProof, CheckpointError> {
        let mut rest = text;
        if next_line(&mut rest).ok() != Some(TLOG_PROOF_HEADER) {
            return Err(CheckpointError::ProofHeader);
        }
        let mut line = next_line(&mut rest)?;
        let extra = match line.strip_prefix("extra ") {
            Some(encoded) => {
                let extra = BASE64
                    .decode(encoded)
                    .map_err(|_| CheckpointError::NotBase64 {
                        field: "extra data",
                        text: encoded.to_string(),
                    })?;
                line = next_line(&mut rest)?;
                Some(extra)
            }
            None => None,
        };
        let index = line
            .strip_prefix("index ")
            .ok_or(CheckpointError::MissingIndex)?;
        let index = parse_decimal(index, "index")?;
        let hashes = parse_proof_hashes(&mut rest)?;
        if rest.is_empty() {
            return Err(CheckpointError::ProofTruncated);
        }
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: rest.to_string(),
        })
    }

    /// Verifies the checkpoint's signature with `key` and the inclusion of
    /// `leaf_hash` (already `hash_leaf(data)`) at `index` in it; returns the
    /// checkpoint. The extra data is not authenticated and not looked at.
    pub fn verify<H: TreeHasher>(
        &self,
        hasher: &H,
        leaf_hash: &Digest,
        key: &VerifierKey,
    ) -> Result<Checkpoint, CheckpointError> {
        let checkpoint = open_note(&self.checkpoint, key)?;
        merkle::verify_inclusion(
            hasher,
            self.index,
            checkpoint.size,
            leaf_hash,
            &self.hashes,
            &checkpoint.root,
        )?;
        Ok(checkpoint)
    }
}

/// Hash lines up to and including the blank line that ends them.
fn parse_proof_hashes(rest: &mut &str) -> Result<Vec<Digest>, CheckpointError> {
    let mut hashes = Vec::new();
    loop {
        let line = next_line(rest)?;
        if line.is_empty() {
            return Ok(hashes);
        }
        if hashes.len() == MAX_PROOF_HASHES {
            return Err(CheckpointError::TooManyProofHashes);
        }
        hashes.push(decode_hash(line, "inclusion proof hash")?);
    }
}

/// Takes one newline-terminated line off the front of `rest`.
fn next_line<'t>(rest: &mut &'t str) -> Result<&'t str, CheckpointError> {
    let (line, tail) = rest
        .split_once('\n')
        .ok_or(CheckpointError::ProofTruncated)?;
    *rest = tail;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::checkpoint::tests::{signer, ErrorCase, ORIGIN};
    use crate::tlog::merkle::{Blake3Hasher, Frontier, HASH_LEN};
    use crate::tlog::note::{LogSigner, SEED_LEN};

    // ---- tlog-proof --------------------------------------------------------

    /// The example in c2sp.org/tlog-proof (testdata/tlog_proof/SOURCE).
    const SPEC_PROOF: &str = include_str!("../../testdata/tlog_proof/spec_example.txt");

    #[test]
    fn spec_example_proof_parses_and_round_trips() {
        let proof = TlogProof::parse(SPEC_PROOF).unwrap();
        assert_eq!(proof.index, 73894);
        assert_eq!(proof.hashes.len(), 5);
        assert!(proof
            .extra
            .as_deref()
            .unwrap()
            .starts_with(b"age-v1.2.1-darwin-arm64.tar.gz"));
        assert!(proof
            .checkpoint
            .starts_with("example.com/fancylog\n109482\n"));
        assert_eq!(proof.to_text(), SPEC_PROOF);
    }

    /// The leaf hashes of a small ledger-shaped tree, and its frontier.
    struct Tree {
        leaves: Vec<Digest>,
        frontier: Frontier,
    }

    impl Tree {
        fn new(n: u64) -> Tree {
            let mut tree = Tree {
                leaves: Vec::new(),
                frontier: Frontier::new(),
            };
            for i in 0..n {
                // As in the ledger: the leaf data is a 32-byte chain hash.
                let chain_hash = *blake3::hash(&i.to_le_bytes()).as_bytes();
                let leaf = Blake3Hasher.hash_leaf(&chain_hash);
                tree.leaves.push(leaf);
                tree.frontier.append(&Blake3Hasher, leaf);
            }
            tree
        }

        fn inclusion_proof(&self, index: u64, size: u64) -> Vec<Digest> {
            let nodes = merkle::inclusion_nodes(index, size).unwrap();
            let hashes = nodes
                .ids()
                .iter()
                .map(|id| {
                    let (start, end) = id.coverage();
                    merkle::mth(&Blake3Hasher, &self.leaves[start as usize..end as usize])
                })
                .collect();
            nodes.rehash(&Blake3Hasher, hashes).unwrap()
        }
    }

    fn ledger_proof(index: u64) -> (Tree, TlogProof) {
        let tree = Tree::new(40);
        let checkpoint = Checkpoint {
            origin: ORIGIN.into(),
            size: 40,
            root: tree.frontier.root(&Blake3Hasher),
        };
        let hashes = tree.inclusion_proof(index, 40);
        let note = signer().sign(&checkpoint).unwrap();
        (
            tree,
            TlogProof {
                extra: None,
                index,
                hashes,
                checkpoint: note,
            },
        )
    }

    #[test]
    fn ledger_proof_round_trips_and_verifies() {
        let (tree, proof) = ledger_proof(17);
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 17\n"));
        let parsed = TlogProof::parse(&text).unwrap();
        assert_eq!(parsed, proof);
        let checkpoint = parsed
            .verify(&Blake3Hasher, &tree.leaves[17], &signer().verifier_key())
            .unwrap();
        assert_eq!(checkpoint.size, 40);

        let with_extra = TlogProof {
            extra: Some(b"seq 18".to_vec()),
            ..proof
        };
        let text = with_extra.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra c2VxIDE4\nindex 17\n"));
        assert_eq!(TlogProof::parse(&text).unwrap(), with_extra);
    }

    #[test]
    fn ledger_proof_rejects_wrong_leaf_index_or_key() {
        let (tree, proof) = ledger_proof(17);
        let key = signer().verifier_key();
        assert!(matches!(
            proof.verify(&Blake3Hasher, &tree.leaves[16], &key),
            Err(CheckpointError::Inclusion(
                merkle::VerifyError::RootMismatch { .. }
            ))
        ));
        let moved = TlogProof {
            index: 16,
            ..proof.clone()
        };
        assert!(matches!(
            moved.verify(&Blake3Hasher, &tree.leaves[17], &key),
            Err(CheckpointError::Inclusion(_))
        ));
        let other = LogSigner::from_seed(ORIGIN, &[43; SEED_LEN])
            .unwrap()
            .verifier_key();
        assert!(matches!(
            proof.verify(&Blake3Hasher, &tree.leaves[17], &other),
            Err(CheckpointError::UnknownKey { .. })
        ));
    }

    #[test]
    fn tlog_proof_error_paths() {
        use CheckpointError as E;
        let hash = BASE64.encode([1u8; HASH_LEN]);
        let long = BASE64.encode([1u8; 2 * HASH_LEN]);
        let cp = "o\n1\nAAAA\n\n\u{2014} o AAAA\n";
        let too_many = format!("{hash}\n").repeat(MAX_PROOF_HASHES + 1);
        let cases: Vec<ErrorCase> = vec![
            (format!("wrong-header\nindex 0\n\n{cp}"), |e| {
                matches!(e, E::ProofHeader)
            }),
            ("c2sp.org/tlog-proof@v1".into(), |e| {
                matches!(e, E::ProofHeader)
            }),
            (
                format!("c2sp.org/tlog-proof@v1\nextra !!notbase64!!\nindex 0\n\n{cp}"),
                |e| {
                    matches!(
                        e,
                        E::NotBase64 {
                            field: "extra data",
                            ..
                        }
                    )
                },
            ),
            (format!("c2sp.org/tlog-proof@v1\n\n\n{cp}"), |e| {
                matches!(e, E::MissingIndex)
            }),
            (
                format!("c2sp.org/tlog-proof@v1\nindex notanumber\n\n{cp}"),
                |e| matches!(e, E::NotDecimal { field: "index", .. }),
            ),
            (format!("c2sp.org/tlog-proof@v1\nindex -5\n\n{cp}"), |e| {
                matches!(e, E::NotDecimal { .. })
            }),
            (format!("c2sp.org/tlog-proof@v1\nindex 05\n\n{cp}"), |e| {
                matches!(e, E::LeadingZero { .. })
            }),
            (
                format!("c2sp.org/tlog-proof@v1\nindex 0\n!!notbase64!!\n\n{cp}"),
                |e| {
                    matches!(
                        e,
                        E::NotBase64 {
                            field: "inclusion proof hash",
                            ..
                        }
                    )
                },
            ),
            (
                format!("c2sp.org/tlog-proof@v1\nindex 0\n{long}\n\n{cp}"),
                |e| matches!(e, E::HashLength { got: 64, .. }),
            ),
            (
                format!("c2sp.org/tlog-proof@v1\nindex 0\n{too_many}\n{cp}"),
                |e| matches!(e, E::TooManyProofHashes),
            ),
            (format!("c2sp.org/tlog-proof@v1\nindex 0\n{hash}\n"), |e| {
                matches!(e, E::ProofTruncated)
            }),
            (
                format!("c2sp.org/tlog-proof@v1\nindex 0\n{hash}\n\n"),
                |e| matches!(e, E::ProofTruncated),
            ),
            ("c2sp.org/tlog-proof@v1\nindex 0".into(), |e| {
                matches!(e, E::ProofTruncated)
            }),
        ];
        for (text, expected) in cases {
            let err = TlogProof::parse(&text).unwrap_err();
            assert!(expected(&err), "{text:?}: {err:?}");
        }
        // A parsed proof whose checkpoint is not a valid note fails in verify.
        let proof = TlogProof::parse("c2sp.org/tlog-proof@v1\nindex 0\n\nnot a note\n").unwrap();
        let err = proof
            .verify(&Blake3Hasher, &[0; HASH_LEN], &signer().verifier_key())
            .unwrap_err();
        assert!(matches!(err, E::MissingSignatureBlock), "{err:?}");
    }
}
