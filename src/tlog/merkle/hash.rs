//! The hash of a Merkle tree (RFC 9162 §2.1.1): leaf and interior node hashes with their
//! domain-separation prefixes, the ledger's BLAKE3 hasher and the RFC 6962 SHA-256 one,
//! and the tree hash (MTH) of leaf hashes held in memory.

use sha2::Digest as _;

/// A node or leaf hash. Both hashers in this module produce 32 bytes.
pub type Digest = [u8; HASH_LEN];

/// Bytes in a [`Digest`].
pub const HASH_LEN: usize = 32;

/// RFC 9162 §2.1.1: a leaf hash is `HASH(0x00 || leaf data)`.
pub const LEAF_PREFIX: u8 = 0x00;

/// RFC 9162 §2.1.1: an interior node hash is `HASH(0x01 || left || right)`.
pub const NODE_PREFIX: u8 = 0x01;

/// The hash function of a Merkle tree, with the RFC 9162 domain separation.
pub trait TreeHasher {
    /// `HASH(0x00 || data)`.
    fn hash_leaf(&self, data: &[u8]) -> Digest;
    /// `HASH(0x01 || left || right)`.
    fn hash_children(&self, left: &Digest, right: &Digest) -> Digest;
    /// The root of the empty tree, `HASH()` of no bytes.
    fn empty_root(&self) -> Digest;
}

/// BLAKE3 (32-byte output): the hasher of the ledger's tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct Blake3Hasher;

impl TreeHasher for Blake3Hasher {
    fn hash_leaf(&self, data: &[u8]) -> Digest {
        // The ledger's leaves are chain hashes: one stack buffer and a one-shot hash
        // skip the streaming hasher's setup (about 1% of `verify`'s CPU).
        if data.len() == HASH_LEN {
            let mut input = [LEAF_PREFIX; 1 + HASH_LEN];
            input[1..].copy_from_slice(data);
            return *blake3::hash(&input).as_bytes();
        }
        let mut h = blake3::Hasher::new();
        h.update(&[LEAF_PREFIX]);
        h.update(data);
        *h.finalize().as_bytes()
    }

    fn hash_children(&self, left: &Digest, right: &Digest) -> Digest {
        let mut input = [NODE_PREFIX; 1 + 2 * HASH_LEN];
        input[1..=HASH_LEN].copy_from_slice(left);
        input[1 + HASH_LEN..].copy_from_slice(right);
        *blake3::hash(&input).as_bytes()
    }

    fn empty_root(&self) -> Digest {
        *blake3::hash(&[]).as_bytes()
    }
}

/// SHA-256, the RFC 6962 hasher: it lets the published test vectors check the
/// tree algorithms.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sha256Hasher;

impl TreeHasher for Sha256Hasher {
    fn hash_leaf(&self, data: &[u8]) -> Digest {
        let mut h = sha2::Sha256::new();
        h.update([LEAF_PREFIX]);
        h.update(data);
        h.finalize().into()
    }

    fn hash_children(&self, left: &Digest, right: &Digest) -> Digest {
        let mut h = sha2::Sha256::new();
        h.update([NODE_PREFIX]);
        h.update(left);
        h.update(right);
        h.finalize().into()
    }

    fn empty_root(&self) -> Digest {
        sha2::Sha256::digest([]).into()
    }
}

/// RFC 9162 §2.1.1 MTH over leaf hashes held in memory: the hash of a subtree from its
/// leaves.
pub fn mth<H: TreeHasher>(hasher: &H, leaves: &[Digest]) -> Digest {
    match leaves.len() {
        0 => hasher.empty_root(),
        1 => leaves[0],
        n => {
            // Below n, a usize.
            #[allow(clippy::cast_possible_truncation)]
            let k = largest_power_of_two_below(n as u64) as usize;
            hasher.hash_children(&mth(hasher, &leaves[..k]), &mth(hasher, &leaves[k..]))
        }
    }
}

/// Combines complete subtree roots listed left to right (sizes strictly
/// decreasing) into the root of their union: the RFC tree always splits off
/// its largest power of two on the left, so the union hashes right to left.
pub(super) fn fold_right<H: TreeHasher>(hasher: &H, roots: &[Digest]) -> Digest {
    match roots.split_last() {
        None => hasher.empty_root(),
        Some((last, rest)) => rest
            .iter()
            .rev()
            .fold(*last, |acc, left| hasher.hash_children(left, &acc)),
    }
}

/// The RFC's `k`: the largest power of two strictly smaller than `n` (n >= 2).
pub(super) fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}
