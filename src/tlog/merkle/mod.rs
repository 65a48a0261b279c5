//! The ledger's Merkle log: the RFC 9162 §2.1 tree (the same tree as RFC 6962),
//! generic over the hash function. Pure, and blind to how a log stores its tree.
//!
//! - `hash`: [`TreeHasher`] with the RFC's leaf and node prefixes, over BLAKE3 (the
//!   ledger's) or SHA-256 (RFC 6962's, which the published vectors test).
//! - `frontier`: [`Frontier`], the roots of the complete subtrees of the whole tree.
//!   The ledger keeps it with its head and appends every new leaf to it; it hands each
//!   subtree it completes to the caller, which stores the ones it keeps.
//! - `nodes`: which complete subtrees ([`NodeId`]) an inclusion or consistency proof,
//!   or a root at an earlier size ([`range_nodes`]), is made of: index arithmetic only.
//!   The caller reads their hashes and [`ProofNodes::rehash`] turns them into the proof.
//! - `verify`: [`verify_inclusion`] and [`verify_consistency`], the RFC 9162 §2.1.3.2
//!   and §2.1.4.2 algorithms, which never rebuild a tree.

mod frontier;
mod hash;
mod nodes;
mod verify;

#[cfg(test)]
mod tests;

pub use frontier::{Frontier, FrontierError};
pub use hash::{
    mth, Blake3Hasher, Digest, Sha256Hasher, TreeHasher, HASH_LEN, LEAF_PREFIX, NODE_PREFIX,
};
pub use nodes::{
    consistency_nodes, inclusion_nodes, range_nodes, NodeId, NodesError, ProofNodes, LEVELS,
    MAX_LEVELS,
};
pub use verify::{root_from_inclusion_proof, verify_consistency, verify_inclusion, VerifyError};
