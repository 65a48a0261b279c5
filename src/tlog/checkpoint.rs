//! Checkpoints (c2sp.org/tlog-checkpoint): the body a log signs, the opening of a signed
//! one, and the one error type of notes, checkpoints and tlog-proofs. Pure: no IO.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::tlog::merkle::{self, Digest, HASH_LEN};
use crate::tlog::note::{
    verify_note, KeyId, VerifierKey, MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES, PUBLIC_KEY_LEN,
};
use crate::tlog::tlog_proof::{MAX_PROOF_HASHES, TLOG_PROOF_HEADER};

/// Everything that can be wrong with a key, a note, a checkpoint or a proof.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("the note is not UTF-8 text")]
    NotUtf8,
    // Keys.
    #[error("key name {name:?} is empty or contains a space, a plus or a control character (U+0000 to U+001F, U+007F to U+009F)")]
    InvalidKeyName { name: String },
    #[error("verifier key is not <name>+<8 hex digits>+<base64 key>")]
    MalformedVerifierKey,
    #[error("verifier key says key id {stated:08x}, its name and key give {computed:08x}")]
    KeyIdMismatch { stated: KeyId, computed: KeyId },
    #[error("verifier key has signature type {found:#04x}; only Ed25519 (0x01) is supported")]
    UnsupportedKeyType { found: u8 },
    #[error("Ed25519 public key is {got} bytes, expected {PUBLIC_KEY_LEN}")]
    PublicKeyLength { got: usize },
    #[error("Ed25519 public key is not a usable curve point")]
    InvalidPublicKey,

    // Signed notes.
    #[error("note is {len} bytes, more than the {MAX_NOTE_BYTES} accepted")]
    NoteTooLarge { len: usize },
    #[error("note contains control character {byte:#04x} at byte {offset}")]
    ControlCharacter { byte: u8, offset: usize },
    #[error("note has no blank line before its signatures")]
    MissingSignatureBlock,
    #[error("note's signature block is empty or does not end in a newline")]
    UnterminatedSignatureBlock,
    #[error("signature line {line} does not start with an em dash and a space")]
    SignatureLinePrefix { line: usize },
    #[error("signature line {line} has no space between key name and signature")]
    SignatureLineShape { line: usize },
    #[error("signature line {line} is not base64 of a key id and a signature")]
    SignatureEncoding { line: usize },
    #[error("note has more than {MAX_NOTE_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("no signature by key {key}")]
    UnknownKey { key: String },
    #[error("signature by key {key} does not verify")]
    BadSignature { key: String },

    // Checkpoint bodies.
    #[error("checkpoint body does not end in a newline")]
    UnterminatedBody,
    #[error("checkpoint body has {got} lines, needs origin, size and root hash")]
    TooFewLines { got: usize },
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    #[error("checkpoint has an empty extension line")]
    EmptyExtensionLine,
    #[error("{field} {text:?} is not a decimal number")]
    NotDecimal { field: &'static str, text: String },
    #[error("{field} {text:?} has a leading zero")]
    LeadingZero { field: &'static str, text: String },
    #[error("{field} {text:?} does not fit in 64 bits")]
    NumberTooLarge { field: &'static str, text: String },
    #[error("{field} {text:?} is not standard base64")]
    NotBase64 { field: &'static str, text: String },
    #[error("{field} is {got} bytes, expected {HASH_LEN}")]
    HashLength { field: &'static str, got: usize },
    #[error("checkpoint origin {origin:?} is not the log's name {expected:?}")]
    OriginMismatch { origin: String, expected: String },

    // tlog-proofs.
    #[error("tlog-proof does not start with {TLOG_PROOF_HEADER:?}")]
    ProofHeader,
    #[error("tlog-proof has no \"index\" line")]
    MissingIndex,
    #[error("tlog-proof ends before its checkpoint")]
    ProofTruncated,
    #[error("tlog-proof has more than {MAX_PROOF_HASHES} inclusion proof hashes")]
    TooManyProofHashes,
    #[error("tlog-proof inclusion proof does not verify against its checkpoint")]
    Inclusion(#[from] merkle::VerifyError),
}

/// A log's signed statement: the tree of `size` leaves has root `root`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; also the key name its signatures carry.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// Merkle tree hash of those leaves.
    pub root: Digest,
}

impl Checkpoint {
    /// The note text: `<origin>\n<size>\n<base64 root>\n`, no extension lines.
    pub fn to_body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// Parses a note text. Extension lines after the root are allowed by the
    /// spec; they must be non-empty and are otherwise ignored (this log
    /// writes none).
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::UnterminatedBody)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines { got: lines.len() });
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if extensions.iter().any(|line| line.is_empty()) {
            return Err(CheckpointError::EmptyExtensionLine);
        }
        Ok(Checkpoint {
            origin: (*origin).to_string(),
            size: parse_decimal(size, "tree size")?,
            root: decode_hash(root, "root hash")?,
        })
    }
}

/// Opens a signed checkpoint: checks the note's shape, verifies every
/// signature line of `key` (at least one must exist; others are ignored, as
/// the spec requires for unknown keys), then parses the body and checks its
/// origin is the key's name.
/// As [`open_note`], for a note read from a file: bytes that are not UTF-8 are refused
/// here, since a signature covers only the note's body and a signature line of another
/// key is not signed at all.
pub fn open_note_bytes(bytes: &[u8], key: &VerifierKey) -> Result<Checkpoint, CheckpointError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CheckpointError::NotUtf8)?;
    open_note(text, key)
}

pub fn open_note(text: &str, key: &VerifierKey) -> Result<Checkpoint, CheckpointError> {
    let body = verify_note(text, key)?;
    let checkpoint = Checkpoint::parse_body(body)?;
    if checkpoint.origin != key.name() {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin,
            expected: key.name().to_string(),
        });
    }
    Ok(checkpoint)
}

/// An ASCII decimal without sign or leading zeros ("0" itself is fine).
pub(crate) fn parse_decimal(text: &str, field: &'static str) -> Result<u64, CheckpointError> {
    let owned = || text.to_string();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CheckpointError::NotDecimal {
            field,
            text: owned(),
        });
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(CheckpointError::LeadingZero {
            field,
            text: owned(),
        });
    }
    text.parse().map_err(|_| CheckpointError::NumberTooLarge {
        field,
        text: owned(),
    })
}

/// Standard, padded base64 of exactly one hash.
pub(crate) fn decode_hash(text: &str, field: &'static str) -> Result<Digest, CheckpointError> {
    let bytes = BASE64
        .decode(text)
        .map_err(|_| CheckpointError::NotBase64 {
            field,
            text: text.to_string(),
        })?;
    let got = bytes.len();
    bytes
        .try_into()
        .map_err(|_| CheckpointError::HashLength { field, got })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tlog::note::{LogSigner, SEED_LEN};

    // ---- Checkpoints of this log ---------------------------------------------

    pub(crate) const ORIGIN: &str = "fundtrail.example/ledger";

    /// A text to parse and a check that the error is the expected one.
    pub(crate) type ErrorCase = (String, fn(&CheckpointError) -> bool);

    pub(crate) fn signer() -> LogSigner {
        LogSigner::from_seed(ORIGIN, &[42; SEED_LEN]).unwrap()
    }

    pub(crate) fn sample() -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size: 20852163,
            root: [0xab; HASH_LEN],
        }
    }

    #[test]
    fn checkpoint_body_is_exact() {
        assert_eq!(
            sample().to_body(),
            "fundtrail.example/ledger\n20852163\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"
        );
        assert_eq!(
            Checkpoint::parse_body(&sample().to_body()).unwrap(),
            sample()
        );
        // The spec's example body (c2sp.org/tlog-checkpoint).
        let spec =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let parsed = Checkpoint::parse_body(spec).unwrap();
        assert_eq!(
            (parsed.origin.as_str(), parsed.size),
            ("example.com/behind-the-sofa", 20852163)
        );
        assert_eq!(parsed.to_body(), spec);
    }

    /// Bytes that are not UTF-8 in a line no signature covers (another key's signature
    /// line) are refused too, instead of being read past.
    #[test]
    fn a_note_read_from_bytes_must_be_utf8() {
        let signed = signer().sign(&sample()).unwrap();
        let key = signer().verifier_key();
        assert_eq!(open_note_bytes(signed.as_bytes(), &key).unwrap(), sample());
        let mut bytes = signed.into_bytes();
        bytes.extend_from_slice(b"\xe2\x80\x94 other\xff AAAAAAA=\n");
        assert!(matches!(
            open_note_bytes(&bytes, &key),
            Err(CheckpointError::NotUtf8)
        ));
    }

    #[test]
    fn signed_checkpoint_round_trips() {
        let signed = signer().sign(&sample()).unwrap();
        let body = sample().to_body();
        assert!(signed.starts_with(&format!("{body}\n\u{2014} {ORIGIN} ")));
        assert!(signed.ends_with('\n'));
        assert_eq!(
            open_note(&signed, &signer().verifier_key()).unwrap(),
            sample()
        );
        let key = signer().verifier_key();
        assert_eq!(VerifierKey::parse(&key.to_string()).unwrap(), key);
    }

    #[test]
    fn any_changed_byte_breaks_the_signed_checkpoint() {
        let signed = signer().sign(&sample()).unwrap();
        let key = signer().verifier_key();
        // One flipped low bit per byte reaches every field of every line.
        for i in 0..signed.len() {
            let mut bytes = signed.clone().into_bytes();
            bytes[i] ^= 0x01;
            if let Ok(text) = String::from_utf8(bytes) {
                assert!(
                    open_note(&text, &key).is_err(),
                    "byte {i} flipped still opens"
                );
            }
        }
    }

    #[test]
    fn other_keys_and_origins_are_rejected() {
        let signed = signer().sign(&sample()).unwrap();
        let other = LogSigner::from_seed(ORIGIN, &[43; SEED_LEN])
            .unwrap()
            .verifier_key();
        assert!(matches!(
            open_note(&signed, &other),
            Err(CheckpointError::UnknownKey { .. })
        ));
        let mut foreign = sample();
        foreign.origin = "elsewhere.example/log".into();
        assert!(matches!(
            signer().sign(&foreign),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        // A note signed by the right key whose body names another origin.
        let smuggled = signer().sign_text(&foreign.to_body());
        assert!(matches!(
            open_note(&smuggled, &signer().verifier_key()),
            Err(CheckpointError::OriginMismatch { origin, expected }) if origin == foreign.origin && expected == ORIGIN
        ));
    }

    #[test]
    fn checkpoint_body_error_paths() {
        use CheckpointError as E;
        let root = BASE64.encode([0xab; HASH_LEN]);
        let short = BASE64.encode([0xab; HASH_LEN - 1]);
        let cases: Vec<ErrorCase> = vec![
            (format!("o\n1\n{root}"), |e| {
                matches!(e, E::UnterminatedBody)
            }),
            ("o\n1\n".into(), |e| matches!(e, E::TooFewLines { got: 2 })),
            (format!("\n1\n{root}\n"), |e| matches!(e, E::EmptyOrigin)),
            (format!("o\n1\n{root}\n\n"), |e| {
                matches!(e, E::EmptyExtensionLine)
            }),
            (format!("o\n1\n{root}\next\n\n"), |e| {
                matches!(e, E::EmptyExtensionLine)
            }),
            (format!("o\n\n{root}\n"), |e| {
                matches!(
                    e,
                    E::NotDecimal {
                        field: "tree size",
                        ..
                    }
                )
            }),
            (format!("o\n+5\n{root}\n"), |e| {
                matches!(e, E::NotDecimal { .. })
            }),
            (format!("o\n-1\n{root}\n"), |e| {
                matches!(e, E::NotDecimal { .. })
            }),
            (format!("o\n 1\n{root}\n"), |e| {
                matches!(e, E::NotDecimal { .. })
            }),
            (format!("o\n1a\n{root}\n"), |e| {
                matches!(e, E::NotDecimal { .. })
            }),
            (format!("o\n\u{661}\n{root}\n"), |e| {
                matches!(e, E::NotDecimal { .. })
            }),
            (format!("o\n01\n{root}\n"), |e| {
                matches!(e, E::LeadingZero { .. })
            }),
            (format!("o\n18446744073709551616\n{root}\n"), |e| {
                matches!(e, E::NumberTooLarge { .. })
            }),
            ("o\n1\nnot base64!\n".into(), |e| {
                matches!(
                    e,
                    E::NotBase64 {
                        field: "root hash",
                        ..
                    }
                )
            }),
            (format!("o\n1\n{}\n", root.trim_end_matches('=')), |e| {
                matches!(e, E::NotBase64 { .. })
            }),
            (format!("o\n1\n{short}\n"), |e| {
                matches!(e, E::HashLength { got: 31, .. })
            }),
        ];
        for (text, expected) in cases {
            let err = Checkpoint::parse_body(&text).unwrap_err();
            assert!(expected(&err), "{text:?}: {err:?}");
        }
        // Accepted edge cases: size 0, the largest size, extension lines.
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n0\n{root}\n"))
                .unwrap()
                .size,
            0
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n7\n{root}\next one\next two\n"))
                .unwrap()
                .size,
            7
        );
    }
}
