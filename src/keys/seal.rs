//! Seals: keyed MACs over the state that the ledger derives from its log and then relies on
//! (the head, the budgets, the household and reference indexes, the read-model snapshot,
//! the token registry, the payment index). FORMAT.md §3.2.
//!
//! The state key is derived from the signing key's seed, so it is kept exactly as the
//! signing key is (mode 0600, never exported) and no new file can be lost or leak on its
//! own. An insider who can edit the ledger directory but cannot read `signing.key` cannot
//! produce a seal, so an edited derived value is found before any write relies on it.
//! Seals cannot stop a *replay* of older sealed values together (a restored backup); the
//! ledger's signed checkpoints, which it refuses to contradict, bound that.

/// BLAKE3 `derive_key` context for the state key: a fixed, unique string, as BLAKE3 asks.
const STATE_KEY_CONTEXT: &str = "fundtrail 2026-12 ledger state seal v1";

/// Bytes of a seal (a BLAKE3 keyed hash).
pub const SEAL_LEN: usize = 32;

/// The key that seals derived state. Never printed, never stored.
#[derive(Clone)]
pub struct StateKey([u8; 32]);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

/// A seal over some bytes; compared in constant time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seal(blake3::Hash);

impl Seal {
    pub fn as_bytes(&self) -> &[u8; SEAL_LEN] {
        self.0.as_bytes()
    }

    pub fn from_bytes(bytes: [u8; SEAL_LEN]) -> Seal {
        Seal(blake3::Hash::from_bytes(bytes))
    }
}

impl StateKey {
    /// The state key of the signing key with this seed.
    pub fn derive(seed: &[u8]) -> StateKey {
        StateKey(blake3::derive_key(STATE_KEY_CONTEXT, seed))
    }

    /// The seal of `parts` under `label`: each part is length-prefixed, so no two different
    /// lists of parts give the same input.
    pub fn seal(&self, label: &str, parts: &[&[u8]]) -> Seal {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        for part in std::iter::once(label.as_bytes()).chain(parts.iter().copied()) {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        Seal(hasher.finalize())
    }

    /// The seal under `label` of one part of `len` bytes, fed as its bytes are made: equal
    /// to `seal(label, &[bytes])` once all `len` bytes are fed (the length comes before
    /// the bytes it counts, so it must be known first).
    pub fn sealer(&self, label: &str, len: u64) -> Sealer {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(&(label.len() as u64).to_le_bytes());
        hasher.update(label.as_bytes());
        hasher.update(&len.to_le_bytes());
        Sealer(hasher)
    }

    /// `bytes` followed by their seal under `label`: the stored form of a sealed record.
    pub fn wrap(&self, label: &str, mut bytes: Vec<u8>) -> Vec<u8> {
        let seal = self.seal(label, &[&bytes]);
        // Exactly: a snapshot of tens of MB would otherwise be reallocated to twice its size.
        bytes.reserve_exact(SEAL_LEN);
        bytes.extend_from_slice(seal.as_bytes());
        bytes
    }

    /// The bytes of a record made by [`StateKey::wrap`], if its seal holds.
    pub fn unwrap<'a>(&self, label: &str, stored: &'a [u8]) -> Result<&'a [u8], Unsealed> {
        let split = stored.len().checked_sub(SEAL_LEN).ok_or(Unsealed)?;
        let (bytes, seal) = stored.split_at(split);
        let seal: [u8; SEAL_LEN] = seal.try_into().map_err(|_| Unsealed)?;
        if self.seal(label, &[bytes]) == Seal::from_bytes(seal) {
            Ok(bytes)
        } else {
            Err(Unsealed)
        }
    }
}

/// A seal being computed over bytes as they come ([`StateKey::sealer`]).
pub struct Sealer(blake3::Hasher);

impl Sealer {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(&self) -> Seal {
        Seal(self.0.finalize())
    }
}

/// A sealed record whose seal does not hold: edited, truncated, or sealed by another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("its seal does not hold (it was changed without the ledger's key)")]
pub struct Unsealed;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_record_opens_only_unchanged_under_its_label_and_key() {
        let key = StateKey::derive(&[7; 32]);
        let stored = key.wrap("tokens", b"registry".to_vec());
        assert_eq!(key.unwrap("tokens", &stored), Ok(&b"registry"[..]));
        assert_eq!(key.unwrap("read_models", &stored), Err(Unsealed));
        assert_eq!(
            StateKey::derive(&[8; 32]).unwrap("tokens", &stored),
            Err(Unsealed)
        );
        let mut edited = stored.clone();
        edited[0] ^= 1;
        assert_eq!(key.unwrap("tokens", &edited), Err(Unsealed));
        assert_eq!(key.unwrap("tokens", &stored[..10]), Err(Unsealed));
    }

    #[test]
    fn a_seal_fed_in_pieces_is_the_seal_of_the_whole() {
        let key = StateKey::derive(&[3; 32]);
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut sealer = key.sealer("findings", bytes.len() as u64);
        for piece in bytes.chunks(7_001) {
            sealer.update(piece);
        }
        assert_eq!(sealer.finish(), key.seal("findings", &[&bytes]));
        let mut short = key.sealer("findings", bytes.len() as u64);
        short.update(&bytes[1..]);
        assert_ne!(short.finish(), key.seal("findings", &[&bytes]));
    }

    #[test]
    fn parts_are_length_prefixed() {
        let key = StateKey::derive(&[1; 32]);
        assert_ne!(key.seal("x", &[b"ab", b"c"]), key.seal("x", &[b"a", b"bc"]));
    }
}
