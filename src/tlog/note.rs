//! Signed notes (c2sp.org/signed-note) with Ed25519 signatures: the log's signer, the
//! verifier key auditors hold, key ids, and note verification. Key ids and verifier keys
//! follow golang.org/x/mod/sumdb/note, whose published test vectors the tests check byte
//! for byte. Pure: no IO, no randomness (keys are made in `keys`).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::tlog::checkpoint::{Checkpoint, CheckpointError};

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

/// A key id as it appears in signatures (first four bytes, big-endian) and in
/// verifier keys (eight lowercase hex digits).
pub type KeyId = u32;

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
    pub(crate) fn sign_text(&self, text: &str) -> String {
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
pub(crate) fn check_key_name(name: &str) -> Result<(), CheckpointError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::checkpoint::open_note;
    use crate::tlog::checkpoint::tests::ErrorCase;

    // ---- Published vectors ---------------------------------------------------
    //
    // Source: golang.org/x/mod/sumdb/note, note_test.go (TestNewVerifier,
    // TestSign, TestOpen) and the package documentation's example.

    // The files hold the exact bytes (testdata/note/SOURCE).
    const PETER_VKEY: &str = include_str!("../../testdata/note/PeterNeumann.vkey");
    /// The signer key `PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01 || seed)>`.
    const PETER_SKEY: &str = include_str!("../../testdata/note/PeterNeumann.skey");
    const ENOCH_VKEY: &str = include_str!("../../testdata/note/EnochRoot.vkey");
    const TEXT: &str = include_str!("../../testdata/note/text.txt");
    const PETER_SIG: &str = include_str!("../../testdata/note/PeterNeumann.sig");
    const ENOCH_SIG: &str = include_str!("../../testdata/note/EnochRoot.sig");

    fn peter_seed() -> [u8; SEED_LEN] {
        // PRIVATE+KEY+<name>+<key id>+<base64>, whose base64 may itself hold a '+'.
        let seed_b64 = PETER_SKEY.splitn(5, '+').nth(4).unwrap();
        let encoded = BASE64.decode(seed_b64).unwrap();
        assert_eq!(encoded[0], ED25519_SIGNATURE_TYPE);
        encoded[1..].try_into().unwrap()
    }

    fn peter() -> VerifierKey {
        VerifierKey::parse(PETER_VKEY).unwrap()
    }

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
}
