//! Timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature, `cosignature/v1`): the
//! witness's signer, the cosigner verifier key (signed-note vkey of signature type 0x04),
//! and the check of a cosignature line. Pure: the time is an argument, keys come from
//! `state`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::tlog::checkpoint::CheckpointError;
use crate::tlog::note::{
    check_key_name, KeyId, KEY_ID_LEN, PUBLIC_KEY_LEN, SEED_LEN, SIGNATURE_LEN,
    SIGNATURE_LINE_PREFIX,
};

/// Signature type of timestamped Ed25519 checkpoint cosignatures (c2sp.org/signed-note,
/// "Signature types"): in the key id and the verifier key, never in the signature.
pub const COSIGNATURE_TYPE: u8 = 0x04;

/// The first line of the signed message: domain separation from the log's own
/// signatures, which sign the checkpoint body alone.
pub const COSIGNATURE_HEADER: &str = "cosignature/v1\n";

/// Bytes of the timestamp that precedes the Ed25519 signature (a big-endian u64).
pub const TIMESTAMP_LEN: usize = 8;

/// The spec caps a timestamp at 2^63 - 1 seconds.
pub const MAX_TIMESTAMP: u64 = i64::MAX.unsigned_abs();

/// Bytes of a cosignature line's base64 payload: key id, timestamp, signature.
pub const COSIGNATURE_LEN: usize = KEY_ID_LEN + TIMESTAMP_LEN + SIGNATURE_LEN;

/// What can be wrong with a cosigner key or a cosignature.
#[derive(Debug, thiserror::Error)]
pub enum CosignError {
    #[error("cosigner name: {0}")]
    Name(CheckpointError),
    #[error(
        "cosigner verifier key is not <name>+<8 hex digits>+<base64(0x04 ‖ 32-byte Ed25519 key)>"
    )]
    MalformedKey,
    #[error("cosigner verifier key has signature type {found:#04x}, not 0x04 (timestamped Ed25519 cosignature)")]
    KeyType { found: u8 },
    #[error(
        "cosigner verifier key says key id {stated:08x}, its name and key give {computed:08x}"
    )]
    KeyIdMismatch { stated: KeyId, computed: KeyId },
    #[error("cosigner public key is not a usable Ed25519 point")]
    InvalidPublicKey,
    #[error("timestamp {0} is zero or above 2^63 - 1")]
    Timestamp(u64),
    #[error("the note has no blank line before its signatures")]
    NoSignatures,
    #[error("no cosignature by {key}")]
    Missing { key: String },
    #[error("the cosignature by {key} is not base64 of key id, timestamp and signature")]
    Encoding { key: String },
    #[error("the cosignature by {key} does not verify")]
    BadSignature { key: String },
}

/// The message a cosignature signs: the header line, `time <seconds>`, then the
/// checkpoint's note body (every line before the blank line, each ending in a newline).
pub fn signed_message(body: &str, timestamp: u64) -> String {
    format!("{COSIGNATURE_HEADER}time {timestamp}\n{body}")
}

/// `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[..4]`, big-endian.
pub fn cosigner_key_id(name: &str, public_key: &[u8; PUBLIC_KEY_LEN]) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([COSIGNATURE_TYPE]);
    h.update(public_key);
    let sum = h.finalize();
    KeyId::from_be_bytes([sum[0], sum[1], sum[2], sum[3]])
}

/// A witness's signing key, with the name its cosignature lines carry.
pub struct Cosigner {
    name: String,
    key: SigningKey,
    key_id: KeyId,
}

impl std::fmt::Debug for Cosigner {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cosigner({}+{:08x})", self.name, self.key_id)
    }
}

impl Cosigner {
    /// The cosigner `name` with the Ed25519 key of `seed`.
    pub fn from_seed(name: &str, seed: &[u8; SEED_LEN]) -> Result<Cosigner, CosignError> {
        check_key_name(name).map_err(CosignError::Name)?;
        let key = SigningKey::from_bytes(seed);
        let key_id = cosigner_key_id(name, &key.verifying_key().to_bytes());
        Ok(Cosigner {
            name: name.to_string(),
            key,
            key_id,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, to hand to the logs and auditors that count this witness.
    pub fn verifier_key(&self) -> CosignerKey {
        CosignerKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// One cosignature line (ending in a newline) over the checkpoint `body` at
    /// `timestamp` (POSIX seconds, not zero: the witness protocol forbids omitting it).
    pub fn cosign(&self, body: &str, timestamp: u64) -> Result<String, CosignError> {
        if timestamp == 0 || timestamp > MAX_TIMESTAMP {
            return Err(CosignError::Timestamp(timestamp));
        }
        let signature = self.key.sign(signed_message(body, timestamp).as_bytes());
        let mut blob = Vec::with_capacity(COSIGNATURE_LEN);
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{SIGNATURE_LINE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(blob)
        ))
    }
}

/// A cosigner's verifier key: `<name>+<key id>+<base64(0x04 ‖ public key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignerKey {
    name: String,
    key_id: KeyId,
    key: VerifyingKey,
}

impl CosignerKey {
    /// Parses the vkey form; the stated key id must be the one its name and key give.
    pub fn parse(text: &str) -> Result<CosignerKey, CosignError> {
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CosignError::MalformedKey);
        };
        check_key_name(name).map_err(CosignError::Name)?;
        if id_hex.len() != 2 * KEY_ID_LEN || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CosignError::MalformedKey);
        }
        let stated = KeyId::from_str_radix(id_hex, 16).map_err(|_| CosignError::MalformedKey)?;
        let encoded = BASE64
            .decode(key_b64)
            .map_err(|_| CosignError::MalformedKey)?;
        let (&key_type, public_key) = encoded.split_first().ok_or(CosignError::MalformedKey)?;
        if key_type != COSIGNATURE_TYPE {
            return Err(CosignError::KeyType { found: key_type });
        }
        let public_key: &[u8; PUBLIC_KEY_LEN] = public_key
            .try_into()
            .map_err(|_| CosignError::MalformedKey)?;
        let computed = cosigner_key_id(name, public_key);
        if stated != computed {
            return Err(CosignError::KeyIdMismatch { stated, computed });
        }
        let key =
            VerifyingKey::from_bytes(public_key).map_err(|_| CosignError::InvalidPublicKey)?;
        // A small-order key would accept signatures anyone can make.
        if key.is_weak() {
            return Err(CosignError::InvalidPublicKey);
        }
        Ok(CosignerKey {
            name: name.to_string(),
            key_id: stated,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.key_id)
    }

    /// Checks this key's cosignature on a signed checkpoint note (the log's and other
    /// signatures are ignored) and returns its timestamp. Every line with this key's name
    /// and key id must verify, and there must be one.
    pub fn verify_note(&self, note: &str) -> Result<u64, CosignError> {
        let split = note.rfind("\n\n").ok_or(CosignError::NoSignatures)?;
        let (body, lines) = (&note[..=split], &note[split + 2..]);
        let prefix = format!("{SIGNATURE_LINE_PREFIX}{} ", self.name);
        let mut newest = None;
        for encoded in lines.lines().filter_map(|l| l.strip_prefix(&prefix)) {
            let Ok(blob) = BASE64.decode(encoded) else {
                continue;
            };
            if blob.len() < KEY_ID_LEN || blob[..KEY_ID_LEN] != self.key_id.to_be_bytes() {
                continue;
            }
            let timestamp = self.verify_blob(body, &blob)?;
            newest = newest.max(Some(timestamp));
        }
        newest.ok_or_else(|| CosignError::Missing { key: self.label() })
    }

    /// One cosignature's bytes after its key id: timestamp, then signature.
    fn verify_blob(&self, body: &str, blob: &[u8]) -> Result<u64, CosignError> {
        let encoding = || CosignError::Encoding { key: self.label() };
        if blob.len() != COSIGNATURE_LEN {
            return Err(encoding());
        }
        let (time, signature) = blob[KEY_ID_LEN..].split_at(TIMESTAMP_LEN);
        let timestamp = u64::from_be_bytes(time.try_into().map_err(|_| encoding())?);
        let signature: &[u8; SIGNATURE_LEN] = signature.try_into().map_err(|_| encoding())?;
        self.key
            .verify_strict(
                signed_message(body, timestamp).as_bytes(),
                &ed25519_dalek::Signature::from_bytes(signature),
            )
            .map_err(|_| CosignError::BadSignature { key: self.label() })?;
        Ok(timestamp)
    }
}

impl std::fmt::Display for CosignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut encoded = Vec::with_capacity(1 + PUBLIC_KEY_LEN);
        encoded.push(COSIGNATURE_TYPE);
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

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn witness() -> Cosigner {
        Cosigner::from_seed("witness.example/w1", &[7; SEED_LEN]).unwrap()
    }

    fn cosigned(line: &str) -> String {
        format!("{BODY}\n{line}")
    }

    /// FORMAT.md §13.2's example: seed 32 bytes of `2b`, the checkpoint of §7.2.
    #[test]
    fn the_format_example_is_reproduced() {
        let w = Cosigner::from_seed("witness.example/w1", &[0x2b; SEED_LEN]).unwrap();
        assert_eq!(
            w.verifier_key().to_string(),
            "witness.example/w1+f2e73717+BEUIoHqpQXB/PrLblMiJeoCywRl0drbeITrCc999hsT/"
        );
        let body = "fundtrail.example/ledger\n3\nX2iWKcJUBsvhfiOq/TcAhCGVY4N3m7KWKFNB8qXQ62g=\n";
        assert_eq!(
            w.cosign(body, 1679315147).unwrap(),
            "\u{2014} witness.example/w1 8uc3FwAAAABkGFDL/sS7+zVAcRUjt8rIyuE0S4s4pttoOYgdDpk9qOwlW7W4ysnmE9V1jgCFGiwMuaXNUOOy+JDB16W6uUAE71RYCw==\n"
        );
    }

    #[test]
    fn the_signed_message_is_header_time_and_body() {
        assert_eq!(
            signed_message(BODY, 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn a_cosignature_carries_key_id_timestamp_and_signature() {
        let w = witness();
        let line = w.cosign(BODY, 1679315147).unwrap();
        let encoded = line
            .strip_prefix("\u{2014} witness.example/w1 ")
            .and_then(|l| l.strip_suffix('\n'))
            .unwrap();
        let blob = BASE64.decode(encoded).unwrap();
        assert_eq!(blob.len(), 76);
        let public = w.verifier_key().key.to_bytes();
        let mut h = Sha256::new();
        h.update(b"witness.example/w1\n\x04");
        h.update(public);
        assert_eq!(blob[..4], h.finalize()[..4]);
        assert_eq!(blob[4..12], 1679315147u64.to_be_bytes());
        let signature = ed25519_dalek::Signature::from_slice(&blob[12..]).unwrap();
        w.verifier_key()
            .key
            .verify_strict(signed_message(BODY, 1679315147).as_bytes(), &signature)
            .unwrap();
        assert_eq!(
            w.verifier_key().verify_note(&cosigned(&line)).unwrap(),
            1679315147
        );
    }

    #[test]
    fn verifier_keys_round_trip_and_refuse_other_types_and_ids() {
        let key = witness().verifier_key();
        let text = key.to_string();
        assert_eq!(CosignerKey::parse(&text).unwrap(), key);
        let (head, b64) = text.rsplit_once('+').unwrap();
        let mut encoded = BASE64.decode(b64).unwrap();
        encoded[0] = 0x01;
        assert!(matches!(
            CosignerKey::parse(&format!("{head}+{}", BASE64.encode(&encoded))),
            Err(CosignError::KeyType { found: 0x01 })
        ));
        let other_id = text.replacen(&format!("{:08x}", key.key_id()), "00000000", 1);
        assert!(matches!(
            CosignerKey::parse(&other_id),
            Err(CosignError::KeyIdMismatch { stated: 0, .. })
        ));
        for bad in ["", "w1", "w1+0000", "w 1+00000000+BA=="] {
            assert!(CosignerKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_changed_body_time_or_key_is_refused() {
        let w = witness();
        let line = w.cosign(BODY, 1679315147).unwrap();
        let changed = cosigned(&line).replace("20852163", "20852164");
        assert!(matches!(
            w.verifier_key().verify_note(&changed),
            Err(CosignError::BadSignature { .. })
        ));
        let other = Cosigner::from_seed("witness.example/w1", &[8; SEED_LEN]).unwrap();
        assert!(matches!(
            other.verifier_key().verify_note(&cosigned(&line)),
            Err(CosignError::Missing { .. })
        ));
        // A cosignature is not a log signature: the same key signing the bare body with
        // another timestamp in the blob does not pass.
        let mut blob = BASE64
            .decode(line.trim_end().rsplit_once(' ').unwrap().1)
            .unwrap();
        blob[11] ^= 1;
        let forged = format!("\u{2014} witness.example/w1 {}\n", BASE64.encode(&blob));
        assert!(matches!(
            w.verifier_key().verify_note(&cosigned(&forged)),
            Err(CosignError::BadSignature { .. })
        ));
        assert!(matches!(w.cosign(BODY, 0), Err(CosignError::Timestamp(0))));
        assert!(w.cosign(BODY, MAX_TIMESTAMP + 1).is_err());
        assert!(matches!(
            Cosigner::from_seed("a b", &[7; SEED_LEN]),
            Err(CosignError::Name(_))
        ));
    }
}
