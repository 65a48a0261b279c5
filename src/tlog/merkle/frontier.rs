//! The frontier (a compact range from leaf 0): the roots of the complete subtrees of the
//! whole tree, which is all a log needs to append a leaf and know its root.

use serde::{Deserialize, Serialize};

use super::hash::{fold_right, Digest, TreeHasher};
use super::nodes::NodeId;

/// Why a serialized [`Frontier`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontierError {
    #[error("a tree of size {size} has {expected} complete subtrees, the frontier lists {got}")]
    WrongNodeCount {
        size: u64,
        expected: usize,
        got: usize,
    },
}

/// The roots of the complete subtrees that make up the whole tree (its
/// compact range): one per set bit of the size, largest (leftmost) first.
///
/// Invariant: `nodes.len() == size.count_ones()`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FrontierParts", into = "FrontierParts")]
pub struct Frontier {
    size: u64,
    nodes: Vec<Digest>,
}

/// The serialized form of a [`Frontier`], checked on the way in so a damaged
/// head is reported instead of producing wrong roots.
#[derive(Clone, Serialize, Deserialize)]
struct FrontierParts {
    size: u64,
    nodes: Vec<Digest>,
}

impl TryFrom<FrontierParts> for Frontier {
    type Error = FrontierError;

    fn try_from(parts: FrontierParts) -> Result<Self, FrontierError> {
        Frontier::from_parts(parts.size, parts.nodes)
    }
}

impl From<Frontier> for FrontierParts {
    fn from(f: Frontier) -> Self {
        FrontierParts {
            size: f.size,
            nodes: f.nodes,
        }
    }
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A frontier from its size and its subtree roots, largest first.
    pub fn from_parts(size: u64, nodes: Vec<Digest>) -> Result<Self, FrontierError> {
        let expected = size.count_ones() as usize;
        if nodes.len() != expected {
            return Err(FrontierError::WrongNodeCount {
                size,
                expected,
                got: nodes.len(),
            });
        }
        Ok(Frontier { size, nodes })
    }
    /// Number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The complete subtree roots, largest (leftmost) first.
    pub fn nodes(&self) -> &[Digest] {
        &self.nodes
    }

    /// Appends one leaf hash (`hash_leaf(data)`).
    pub fn append<H: TreeHasher>(&mut self, hasher: &H, leaf_hash: Digest) {
        self.append_visiting(hasher, leaf_hash, |_, _| {});
    }

    /// Appends one leaf hash (`hash_leaf(data)`) and hands `visit` each subtree the leaf
    /// completes (levels 1 and up, lowest first) with its hash: which of them a log keeps
    /// is the log's choice.
    pub fn append_visiting<H: TreeHasher>(
        &mut self,
        hasher: &H,
        leaf_hash: Digest,
        mut visit: impl FnMut(NodeId, &Digest),
    ) {
        assert!(self.size < u64::MAX, "a Merkle log cannot hold 2^64 leaves");
        let leaf_index = self.size;
        let mut hash = leaf_hash;
        let mut level: u8 = 0;
        // Each trailing set bit of the old size is a left sibling that the new
        // leaf completes, exactly like a binary counter's carry.
        while leaf_index >> level & 1 == 1 {
            let left = self
                .nodes
                .pop()
                .expect("one frontier node per set bit of the size");
            hash = hasher.hash_children(&left, &hash);
            level += 1;
            let id = NodeId::at(level, leaf_index >> level);
            visit(id, &hash);
        }
        self.nodes.push(hash);
        self.size += 1;
    }

    /// The Merkle tree hash of the whole tree.
    pub fn root<H: TreeHasher>(&self, hasher: &H) -> Digest {
        fold_right(hasher, &self.nodes)
    }
}
