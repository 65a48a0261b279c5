//! Keyed identity hashes. (Minimal; the full module replaces this.)

/// A keyed hash of an identity number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityHash([u8; 32]);

impl IdentityHash {
    pub fn from_bytes(bytes: [u8; 32]) -> IdentityHash {
        IdentityHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The key of the identity hashes. (Minimal; the full module replaces this.)
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdentityKey([u8; 32]);

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityKey(..)")
    }
}

impl IdentityKey {
    pub fn derive(seed: &[u8]) -> IdentityKey {
        IdentityKey(blake3::derive_key("fundtrail 2026-12 identity v1", seed))
    }

    pub fn identity_hash(&self, number: &crate::people::identity::IdNumber) -> IdentityHash {
        IdentityHash(*blake3::keyed_hash(&self.0, number.expose().as_bytes()).as_bytes())
    }
}
