//! Digests that live only in this process's memory and stand for a text or an encoding
//! where comparing them must be as good as comparing what they stand for: a reference's
//! digest (a batch's planned references, the store's reference index) and a body's
//! (a retry compared with what was planned). Nothing of them is stored or hashed into the
//! log, so their function is free to choose; it is SipHash-2-4 with a 128-bit output, a
//! keyed pseudorandom function, under a key drawn once per process. Nobody who writes a
//! file or a log knows the key, so no pair of texts can be prepared to share a digest
//! (one pair by chance takes about 2^64 texts), nor a set of references to share a
//! fingerprint and make every lookup read many events.
//!
//! Why not BLAKE3, the log's hash: keyed BLAKE3 of a 22-byte reference took about 92 ns
//! and of a 150-byte body about 220 ns, SipHash-2-4 about 19 and 73; a 1,000,000-row
//! import digests each row's reference and body once (benches/README.md, "The planner's
//! keyed digests and recent fingerprints").

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use siphasher::sip128::{Hasher128, SipHasher24};

/// Bytes of a digest.
pub const DIGEST_BYTES: usize = 16;

/// The keyed digest of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; DIGEST_BYTES] {
    let mut hasher = SipHasher24::new_with_key(process_key());
    hasher.write(bytes);
    hasher.finish128().as_bytes()
}

/// A reference's digest: what a batch's plan keeps instead of its text, and, by its first
/// 4 bytes, the fingerprint the store's reference index files it under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefDigest([u8; DIGEST_BYTES]);

impl RefDigest {
    pub fn of(reference: &str) -> RefDigest {
        RefDigest(digest(reference.as_bytes()))
    }

    /// A digest of these bytes, for tests that need two digests to share a fingerprint.
    #[cfg(test)]
    pub fn from_bytes(bytes: [u8; DIGEST_BYTES]) -> RefDigest {
        RefDigest(bytes)
    }

    /// The digest's first 4 bytes: what a table of fingerprints keeps of it.
    pub fn fingerprint(&self) -> u32 {
        let mut bytes = [0; 4];
        bytes.copy_from_slice(&self.0[..4]);
        u32::from_le_bytes(bytes)
    }
}

/// The key of every digest this process makes, drawn on first use. std seeds its
/// `RandomState` from the operating system's randomness (128 bits, once per thread), as
/// every `HashMap` of the program is seeded, and drawing from it cannot fail where no
/// error can be returned; two of its outputs make the key.
fn process_key() -> &'static [u8; DIGEST_BYTES] {
    static KEY: OnceLock<[u8; DIGEST_BYTES]> = OnceLock::new();
    KEY.get_or_init(|| {
        let state = std::hash::RandomState::new();
        let mut key = [0; DIGEST_BYTES];
        for (i, chunk) in key.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&state.hash_one(i).to_le_bytes());
        }
        key
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_has_one_digest_and_others_differ() {
        assert_eq!(RefDigest::of("SIM-SA-1"), RefDigest::of("SIM-SA-1"));
        assert_ne!(RefDigest::of("SIM-SA-1"), RefDigest::of("SIM-SA-2"));
        assert_ne!(RefDigest::of(""), RefDigest::of(" "));
        assert_eq!(digest(b"body"), digest(b"body"));
        assert_ne!(digest(b"body"), digest(b"bodY"));
    }

    /// The key is drawn, not fixed: the digest is not SipHash-2-4 under an all-zero key,
    /// which anyone could compute ahead.
    #[test]
    fn the_key_is_not_a_constant() {
        let mut unkeyed = SipHasher24::new_with_key(&[0; DIGEST_BYTES]);
        unkeyed.write(b"PAY-1");
        assert_ne!(digest(b"PAY-1"), unkeyed.finish128().as_bytes());
        assert_ne!(*process_key(), [0; DIGEST_BYTES]);
    }

    #[test]
    fn the_fingerprint_is_the_first_four_bytes() {
        let digest = RefDigest::of("SIM-SA-1");
        assert_eq!(digest.fingerprint().to_le_bytes(), digest.0[..4]);
    }
}
