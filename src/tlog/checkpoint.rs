//! Signed checkpoints and offline proofs in the C2SP text formats:
//! c2sp.org/signed-note (Ed25519 signatures), c2sp.org/tlog-checkpoint (the
//! note body) and c2sp.org/tlog-proof (one entry's evidence). Key ids and
//! verifier keys follow golang.org/x/mod/sumdb/note, whose published test
//! vectors the tests check byte for byte.
//!
//! Pure: no IO. The only side effect is [`generate_seed`] asking the OS for
//! randomness.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::tlog::merkle::{self, Digest, TreeHasher, HASH_LEN};

/// Signature type byte of Ed25519 in key ids and verifier keys
/// (c2sp.org/signed-note, "Signature types").
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;

/// Bytes of a key id: the first four of a SHA-256, read big-endian.
pub const KEY_ID_LEN: usize = 4;

/// Bytes of an Ed25519 private key seed (RFC 8032).
pub const SEED_LEN: usize = 32;

/// Bytes of an Ed25519 public key (RFC 8032).
pub const PUBLIC_KEY_LEN: usize = 32;

/// Bytes of an Ed25519 signature (RFC 8032).
pub const SIGNATURE_LEN: usize = 64;

/// Starts every signature line: em dash U+2014, then a space.
pub const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// Most signature lines accepted in one note. The spec asks for at least 16;
/// 100 is the limit of golang.org/x/mod/sumdb/note, so any note a Go
/// verifier accepts is accepted here too.
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// Largest note accepted, in bytes: a checkpoint with 100 Ed25519
/// signatures is under 12 KiB, and 16 post-quantum signatures (about 5 kB
/// each, as the spec warns) under 100 KiB; anything far larger is not a
/// checkpoint and is refused before any parsing work.
pub const MAX_NOTE_BYTES: usize = 256 * 1024;

/// First line of a c2sp.org/tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most inclusion proof hashes accepted in a tlog-proof: a tree of at most
/// 2^64 leaves has paths of at most 64 hashes.
pub const MAX_PROOF_HASHES: usize = merkle::MAX_LEVELS;

/// A key id as it appears in signatures (first four bytes, big-endian) and in
/// verifier keys (eight lowercase hex digits).
pub type KeyId = u32;

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
    #[error("the operating system gave no randomness for a key seed: {0}")]
    Randomness(getrandom::Error),

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

/// A fresh random Ed25519 seed from the operating system.
pub fn generate_seed() -> Result<[u8; SEED_LEN], CheckpointError> {
    let mut seed = [0u8; SEED_LEN];
    getrandom::getrandom(&mut seed).map_err(CheckpointError::Randomness)?;
    Ok(seed)
}

/// The log's signing key. Its key name is the log's origin.
pub struct LogSigner {
    name: String,
    key: SigningKey,
    key_id: KeyId,
}

impl std::fmt::Debug for LogSigner {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogSigner({}+{:08x})", self.name, self.key_id)
    }
}

impl LogSigner {
    /// A signer for the log `origin` from a 32-byte Ed25519 seed.
    pub fn from_seed(origin: &str, seed: &[u8; SEED_LEN]) -> Result<Self, CheckpointError> {
        check_key_name(origin)?;
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(origin, &key.verifying_key().to_bytes());
        Ok(LogSigner {
            name: origin.to_string(),
            key,
            key_id,
        })
    }

    /// The key name, which is the origin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, to hand to verifiers.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The signed note of a checkpoint of this log.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, CheckpointError> {
        if checkpoint.origin != self.name {
            return Err(CheckpointError::OriginMismatch {
                origin: checkpoint.origin.clone(),
                expected: self.name.clone(),
            });
        }
        Ok(self.sign_text(&checkpoint.to_body()))
    }

    /// Signs any note text (ending in a newline): text, blank line, one
    /// signature line.
    fn sign_text(&self, text: &str) -> String {
        debug_assert!(text.ends_with('\n'), "note text ends in a newline");
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(KEY_ID_LEN + SIGNATURE_LEN);
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        format!(
            "{text}\n{SIGNATURE_LINE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(blob)
        )
    }
}

/// A log's public key as verifiers hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: KeyId,
    key: VerifyingKey,
}

impl VerifierKey {
    /// A verifier key from a name and a 32-byte Ed25519 public key.
    pub fn new(name: &str, public_key: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, CheckpointError> {
        check_key_name(name)?;
        let key = parse_public_key(public_key)?;
        Ok(VerifierKey {
            name: name.to_string(),
            key_id: key_id(name, public_key),
            key,
        })
    }

    /// Parses `<name>+<8 hex digit key id>+<base64(0x01 || public key)>`.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        // The name has no '+', the id neither; base64 may, so split twice only.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CheckpointError::MalformedVerifierKey);
        };
        check_key_name(name)?;
        let stated = parse_key_id(id_hex)?;
        let encoded = BASE64
            .decode(key_b64)
            .map_err(|_| CheckpointError::MalformedVerifierKey)?;
        if encoded.is_empty() {
            return Err(CheckpointError::MalformedVerifierKey);
        }
        let computed = key_id_of_encoded(name, &encoded);
        if stated != computed {
            return Err(CheckpointError::KeyIdMismatch { stated, computed });
        }
        let (&key_type, public_key) = encoded
            .split_first()
            .ok_or(CheckpointError::MalformedVerifierKey)?;
        if key_type != ED25519_SIGNATURE_TYPE {
            return Err(CheckpointError::UnsupportedKeyType { found: key_type });
        }
        let public_key: &[u8; PUBLIC_KEY_LEN] =
            public_key
                .try_into()
                .map_err(|_| CheckpointError::PublicKeyLength {
                    got: public_key.len(),
                })?;
        Ok(VerifierKey {
            name: name.to_string(),
            key_id: stated,
            key: parse_public_key(public_key)?,
        })
    }

    /// The key name (the log's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.key.to_bytes()
    }

    /// `<name>+<key id>`, how errors and the spec name a key.
    fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.key_id)
    }

    fn verify(&self, text: &str, signature: &[u8]) -> Result<(), CheckpointError> {
        let bad = || CheckpointError::BadSignature { key: self.label() };
        let bytes: &[u8; SIGNATURE_LEN] = signature.try_into().map_err(|_| bad())?;
        let signature = ed25519_dalek::Signature::from_bytes(bytes);
        self.key
            .verify_strict(text.as_bytes(), &signature)
            .map_err(|_| bad())
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut encoded = Vec::with_capacity(1 + PUBLIC_KEY_LEN);
        encoded.push(ED25519_SIGNATURE_TYPE);
        encoded.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(encoded)
        )
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = CheckpointError;

    fn from_str(s: &str) -> Result<Self, CheckpointError> {
        VerifierKey::parse(s)
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
    if checkpoint.origin != key.name {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin,
            expected: key.name.clone(),
        });
    }
    Ok(checkpoint)
}

/// Verifies any signed note against `key` and returns its text (up to and
/// including the newline before the blank line). The text means nothing
/// until this succeeds.
pub fn verify_note<'t>(text: &'t str, key: &VerifierKey) -> Result<&'t str, CheckpointError> {
    check_note_bytes(text)?;
    // The text may itself contain blank lines; the last one starts the
    // signatures.
    let split = text
        .rfind("\n\n")
        .ok_or(CheckpointError::MissingSignatureBlock)?;
    let (body, signatures) = (&text[..=split], &text[split + 2..]);
    let signatures = signatures
        .strip_suffix('\n')
        .filter(|s| !s.is_empty())
        .ok_or(CheckpointError::UnterminatedSignatureBlock)?;
    let lines = parse_signature_lines(signatures)?;
    let ours: Vec<&SignatureLine> = lines
        .iter()
        .filter(|l| l.name == key.name && l.key_id == key.key_id)
        .collect();
    if ours.is_empty() {
        return Err(CheckpointError::UnknownKey { key: key.label() });
    }
    for (i, line) in ours.iter().enumerate() {
        // A byte-identical repeat has the same verdict; skip the curve work.
        if !ours[..i]
            .iter()
            .any(|earlier| earlier.signature == line.signature)
        {
            key.verify(body, &line.signature)?;
        }
    }
    Ok(body)
}

/// One parsed `— <name> <base64(key id || signature)>` line.
struct SignatureLine<'t> {
    name: &'t str,
    key_id: KeyId,
    signature: Vec<u8>,
}

/// Parses every signature line before any signature is checked, so a note
/// with too many or malformed lines costs no curve arithmetic.
fn parse_signature_lines(block: &str) -> Result<Vec<SignatureLine<'_>>, CheckpointError> {
    let mut lines = Vec::new();
    for (number, line) in block.split('\n').enumerate() {
        if number == MAX_NOTE_SIGNATURES {
            return Err(CheckpointError::TooManySignatures);
        }
        lines.push(parse_signature_line(line, number + 1)?);
    }
    Ok(lines)
}

/// Splits one signature line (`number` counts from 1, for errors).
fn parse_signature_line(line: &str, number: usize) -> Result<SignatureLine<'_>, CheckpointError> {
    let rest = line
        .strip_prefix(SIGNATURE_LINE_PREFIX)
        .ok_or(CheckpointError::SignatureLinePrefix { line: number })?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or(CheckpointError::SignatureLineShape { line: number })?;
    check_key_name(name)?;
    let blob = BASE64
        .decode(encoded)
        .map_err(|_| CheckpointError::SignatureEncoding { line: number })?;
    // A key id and at least one byte of signature, as x/mod/sumdb/note requires.
    if blob.len() <= KEY_ID_LEN {
        return Err(CheckpointError::SignatureEncoding { line: number });
    }
    let (id, signature) = blob.split_at(KEY_ID_LEN);
    let key_id = KeyId::from_be_bytes([id[0], id[1], id[2], id[3]]);
    Ok(SignatureLine {
        name,
        key_id,
        signature: signature.to_vec(),
    })
}

/// Size limit, and the signed-note rule: no ASCII control characters other
/// than newline (a `&str` is already valid UTF-8).
fn check_note_bytes(text: &str) -> Result<(), CheckpointError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(CheckpointError::NoteTooLarge { len: text.len() });
    }
    match text
        .bytes()
        .enumerate()
        .find(|&(_, b)| b < b' ' && b != b'\n')
    {
        Some((offset, byte)) => Err(CheckpointError::ControlCharacter { byte, offset }),
        None => Ok(()),
    }
}

/// Key names: non-empty, no Unicode space, no '+' (the x/mod/sumdb/note
/// rule), and no control character (Unicode category Cc: U+0000..=U+001F, DEL
/// U+007F and the C1 controls U+0080..=U+009F, FORMAT.md §7.1): an origin is
/// shown to people, and a control character can hide or rewrite what they see.
fn check_key_name(name: &str) -> Result<(), CheckpointError> {
    let bad = |c: char| c.is_whitespace() || c == '+' || c.is_control();
    if name.is_empty() || name.chars().any(bad) {
        return Err(CheckpointError::InvalidKeyName {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Exactly eight hex digits.
fn parse_key_id(text: &str) -> Result<KeyId, CheckpointError> {
    if text.len() != 2 * KEY_ID_LEN || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CheckpointError::MalformedVerifierKey);
    }
    KeyId::from_str_radix(text, 16).map_err(|_| CheckpointError::MalformedVerifierKey)
}

fn parse_public_key(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<VerifyingKey, CheckpointError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| CheckpointError::InvalidPublicKey)?;
    // A small-order key would accept signatures anyone can make.
    if key.is_weak() {
        return Err(CheckpointError::InvalidPublicKey);
    }
    Ok(key)
}

/// C2SP signed-note key id of an Ed25519 key:
/// `SHA-256(name || 0x0A || 0x01 || public key)[..4]`, big-endian.
pub fn key_id(name: &str, public_key: &[u8; PUBLIC_KEY_LEN]) -> KeyId {
    let mut encoded = [0u8; 1 + PUBLIC_KEY_LEN];
    encoded[0] = ED25519_SIGNATURE_TYPE;
    encoded[1..].copy_from_slice(public_key);
    key_id_of_encoded(name, &encoded)
}

/// The key id over an encoded key (type byte, then key bytes).
fn key_id_of_encoded(name: &str, encoded_key: &[u8]) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(encoded_key);
    let sum = h.finalize();
    KeyId::from_be_bytes([sum[0], sum[1], sum[2], sum[3]])
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
    use crate::tlog::merkle::{Blake3Hasher, Frontier};

    // ---- Published vectors ---------------------------------------------------
    //
    // Source: golang.org/x/mod/sumdb/note, note_test.go (TestNewVerifier,
    // TestSign, TestOpen) and the package documentation's example.

    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    /// The signer key `PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01 || seed)>`.
    const PETER_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str =
        "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str =
        "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn peter_seed() -> [u8; SEED_LEN] {
        let encoded = BASE64.decode(PETER_SKEY_B64).unwrap();
        assert_eq!(encoded[0], ED25519_SIGNATURE_TYPE);
        encoded[1..].try_into().unwrap()
    }

    fn peter() -> VerifierKey {
        VerifierKey::parse(PETER_VKEY).unwrap()
    }

    /// A text to parse and a check that the error is the expected one.
    type ErrorCase = (String, fn(&CheckpointError) -> bool);

    fn note(sigs: &[&str]) -> String {
        format!("{TEXT}\n{}", sigs.concat())
    }

    #[test]
    fn signer_reproduces_the_published_key_and_signature() {
        let signer = LogSigner::from_seed("PeterNeumann", &peter_seed()).unwrap();
        assert_eq!(signer.verifier_key().to_string(), PETER_VKEY);
        assert_eq!(signer.verifier_key().key_id(), 0xc74f20a3);
        assert_eq!(signer.verifier_key(), peter());
        // Ed25519 is deterministic, so the signature must match byte for byte.
        assert_eq!(signer.sign_text(TEXT), note(&[PETER_SIG]));
        assert_eq!(format!("{signer:?}"), "LogSigner(PeterNeumann+c74f20a3)");
    }

    #[test]
    fn key_id_is_sha256_of_name_newline_type_and_key() {
        let key = peter();
        let mut h = Sha256::new();
        h.update(b"PeterNeumann\n\x01");
        h.update(key.public_key());
        assert_eq!(key.key_id().to_be_bytes(), h.finalize()[..4]);
        assert_eq!(key_id("PeterNeumann", &key.public_key()), 0xc74f20a3);
        let enoch = VerifierKey::parse(ENOCH_VKEY).unwrap();
        assert_eq!(enoch.key_id(), 0xaf0cfe78);
        assert_eq!(
            VerifierKey::new("EnochRoot", &enoch.public_key()).unwrap(),
            enoch
        );
        assert_eq!(
            ENOCH_VKEY.parse::<VerifierKey>().unwrap().to_string(),
            ENOCH_VKEY
        );
    }

    #[test]
    fn published_notes_verify() {
        let enoch = VerifierKey::parse(ENOCH_VKEY).unwrap();
        assert_eq!(verify_note(&note(&[PETER_SIG]), &peter()).unwrap(), TEXT);
        // A signature by a key we do not hold is ignored.
        let both = note(&[PETER_SIG, ENOCH_SIG]);
        assert_eq!(verify_note(&both, &peter()).unwrap(), TEXT);
        assert_eq!(verify_note(&both, &enoch).unwrap(), TEXT);
        assert!(matches!(
            verify_note(&note(&[ENOCH_SIG]), &peter()),
            Err(CheckpointError::UnknownKey { key }) if key == "PeterNeumann+c74f20a3"
        ));
        // The text verifies but is not a checkpoint.
        assert!(matches!(
            open_note(&both, &peter()),
            Err(CheckpointError::TooFewLines { got: 2 })
        ));
        let changed = note(&[PETER_SIG]).replace("cryptography", "cryptographY");
        assert!(matches!(
            verify_note(&changed, &peter()),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn mangled_verifier_keys_are_rejected() {
        // note_test.go TestNewVerifier: every proper substring and every
        // single-byte increment must fail.
        let b = PETER_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if (i, j) != (0, b.len()) {
                    let s = std::str::from_utf8(&b[i..j]).unwrap();
                    assert!(VerifierKey::parse(s).is_err(), "{s:?} accepted");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let s = String::from_utf8(m).unwrap();
            assert!(VerifierKey::parse(&s).is_err(), "{s:?} accepted");
        }
        // Go's wrong-length key (key id adjusted) ends in non-canonical base64
        // ("Y==" leaves set bits past the data), which our strict RFC 4648
        // decoder refuses before the length is looked at.
        assert!(matches!(
            VerifierKey::parse(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(CheckpointError::MalformedVerifierKey)
        ));
        let long_key = [&[ED25519_SIGNATURE_TYPE][..], &[7u8; PUBLIC_KEY_LEN + 1]].concat();
        let text = format!(
            "log+{:08x}+{}",
            key_id_of_encoded("log", &long_key),
            BASE64.encode(&long_key)
        );
        assert!(matches!(
            VerifierKey::parse(&text),
            Err(CheckpointError::PublicKeyLength { got: 33 })
        ));
        // Go's unknown-algorithm key, key id adjusted.
        assert!(matches!(
            VerifierKey::parse(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(CheckpointError::UnsupportedKeyType { found: 0x65 })
        ));
    }

    #[test]
    fn verifier_key_error_paths() {
        use CheckpointError as E;
        let key_b64 = PETER_VKEY.rsplit_once('+').unwrap().1;
        let cases: [ErrorCase; 6] = [
            ("PeterNeumann".into(), |e| {
                matches!(e, E::MalformedVerifierKey)
            }),
            (format!("PeterNeumann+c74f20a+{key_b64}"), |e| {
                matches!(e, E::MalformedVerifierKey)
            }),
            (format!("PeterNeumann+c74f20ag+{key_b64}"), |e| {
                matches!(e, E::MalformedVerifierKey)
            }),
            ("PeterNeumann+c74f20a3+".into(), |e| {
                matches!(e, E::MalformedVerifierKey)
            }),
            (format!("Peter Neumann+c74f20a3+{key_b64}"), |e| {
                matches!(e, E::InvalidKeyName { .. })
            }),
            (format!("PeterNeumann+c74f20a4+{key_b64}"), |e| {
                matches!(
                    e,
                    E::KeyIdMismatch {
                        stated: 0xc74f20a4,
                        computed: 0xc74f20a3
                    }
                )
            }),
        ];
        for (text, expected) in cases {
            let err = VerifierKey::parse(&text).unwrap_err();
            assert!(expected(&err), "{text:?}: {err:?}");
        }
        // Upper-case hex is read; the canonical form prints lower case.
        let upper = PETER_VKEY.replace("c74f20a3", "C74F20A3");
        assert_eq!(VerifierKey::parse(&upper).unwrap().to_string(), PETER_VKEY);
    }

    #[test]
    fn weak_and_invalid_public_keys_are_rejected() {
        // The identity point: small order, so it would accept forged signatures.
        let mut identity = [0u8; PUBLIC_KEY_LEN];
        identity[0] = 1;
        assert!(matches!(
            VerifierKey::new("log", &identity),
            Err(CheckpointError::InvalidPublicKey)
        ));
        let encoded = BASE64.encode([&[ED25519_SIGNATURE_TYPE][..], &identity].concat());
        let text = format!("log+{:08x}+{encoded}", key_id("log", &identity));
        assert!(matches!(
            VerifierKey::parse(&text),
            Err(CheckpointError::InvalidPublicKey)
        ));
        // Some encodings are not on the curve at all.
        let off_curve = (0u8..=255)
            .map(|b| [b; PUBLIC_KEY_LEN])
            .find(|k| VerifyingKey::from_bytes(k).is_err())
            .expect("an off-curve encoding among [b; 32]");
        assert!(matches!(
            VerifierKey::new("log", &off_curve),
            Err(CheckpointError::InvalidPublicKey)
        ));
    }

    #[test]
    fn key_names_follow_the_spec() {
        for bad in [
            "",
            "a b",
            "a+b",
            "a\u{3000}b",
            "a\u{a0}b",
            "a\nb",
            "a\u{1}b",
            "a\tb",
            "a\u{7f}b",
            "a\u{80}b",
            "a\u{85}b",
            "a\u{9f}b",
        ] {
            assert!(
                matches!(
                    LogSigner::from_seed(bad, &[7; SEED_LEN]),
                    Err(CheckpointError::InvalidKeyName { .. })
                ),
                "{bad:?} accepted"
            );
        }
        for good in [
            "example.com/log",
            "PeterNeumann",
            "ledger.example/fundtrail-2025",
            "café",
        ] {
            LogSigner::from_seed(good, &[7; SEED_LEN]).unwrap();
        }
    }

    #[test]
    fn malformed_notes_are_rejected() {
        use CheckpointError as E;
        // note_test.go TestOpen's badMsgs (except invalid UTF-8, which a &str
        // cannot hold) and the surrounding cases.
        let peter_less_newline = &PETER_SIG[..PETER_SIG.len() - 1];
        let bad_name = "\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let forged = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        let cases: Vec<ErrorCase> = vec![
            (TEXT.to_string(), |e| matches!(e, E::MissingSignatureBlock)),
            (format!("{TEXT}\n"), |e| {
                matches!(e, E::UnterminatedSignatureBlock)
            }),
            (format!("{TEXT}\n{peter_less_newline}"), |e| {
                matches!(e, E::UnterminatedSignatureBlock)
            }),
            (format!("\u{1}{TEXT}\n{PETER_SIG}"), |e| {
                matches!(e, E::ControlCharacter { byte: 1, offset: 0 })
            }),
            (format!("{TEXT}\n{bad_name}"), |e| {
                matches!(e, E::SignatureEncoding { line: 1 })
            }),
            (format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"), |e| {
                matches!(e, E::SignatureLinePrefix { line: 2 })
            }),
            (format!("{TEXT}\n\u{2014} PeterNeumann\n"), |e| {
                matches!(e, E::SignatureLineShape { line: 1 })
            }),
            (format!("{TEXT}\n\u{2014} Peter+Neumann AAAAAAA=\n"), |e| {
                matches!(e, E::InvalidKeyName { .. })
            }),
            (format!("{TEXT}\n\u{2014} PeterNeumann x08gow==\n"), |e| {
                matches!(e, E::SignatureEncoding { line: 1 })
            }),
            (format!("{TEXT}\n{forged}"), |e| {
                matches!(e, E::BadSignature { .. })
            }),
            // Every signature of the key must verify, not just one.
            (format!("{TEXT}\n{PETER_SIG}{forged}"), |e| {
                matches!(e, E::BadSignature { .. })
            }),
            (
                format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_NOTE_SIGNATURES + 1)),
                |e| matches!(e, E::TooManySignatures),
            ),
            ("x".repeat(MAX_NOTE_BYTES + 1), |e| {
                matches!(e, E::NoteTooLarge { .. })
            }),
        ];
        for (text, expected) in cases {
            let err = verify_note(&text, &peter()).unwrap_err();
            assert!(
                expected(&err),
                "{:?}: {err:?}",
                &text[..text.len().min(120)]
            );
        }
        // Up to the limit, repeated signatures are fine.
        verify_note(
            &format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_NOTE_SIGNATURES)),
            &peter(),
        )
        .unwrap();
    }

    // ---- Checkpoints of this log ---------------------------------------------

    const ORIGIN: &str = "fundtrail.example/ledger";

    fn signer() -> LogSigner {
        LogSigner::from_seed(ORIGIN, &[42; SEED_LEN]).unwrap()
    }

    fn sample() -> Checkpoint {
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
    fn fresh_seeds_sign_and_verify() {
        let (a, b) = (generate_seed().unwrap(), generate_seed().unwrap());
        assert_ne!(a, b);
        let signer = LogSigner::from_seed(ORIGIN, &a).unwrap();
        let signed = signer.sign(&sample()).unwrap();
        assert_eq!(
            open_note(&signed, &signer.verifier_key()).unwrap(),
            sample()
        );
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

    // ---- tlog-proof --------------------------------------------------------

    /// The example in c2sp.org/tlog-proof (its signatures are elided with
    /// "[...]" there, so it serves only as a parsing vector).
    const SPEC_PROOF: &str = "c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

\u{2014} example.com/fancylog hI2DJw[...]1roloI=
\u{2014} witness1.example mJirIklj[...]qY9v2B/5bg==
";

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
