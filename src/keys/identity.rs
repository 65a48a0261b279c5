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
