//! Which nodes a proof needs: pure index arithmetic over RFC 9162 trees, no hashing and
//! no storage (the shape of transparency-dev/merkle's `proof.Nodes`).
//!
//! A proof is computed in three steps: [`inclusion_nodes`] or [`consistency_nodes`] name
//! the complete subtrees whose hashes it is made of; the caller reads those hashes from
//! wherever it keeps its tree; [`ProofNodes::rehash`] combines them into the proof. Every
//! node named is a complete subtree inside the tree the proof is for. The one node of a
//! proof that is not complete (the right edge of a tree whose size is not a power of two,
//! the "ephemeral" node) is named as the complete subtrees that cover it, and rehashed.

use super::hash::{fold_right, Digest, TreeHasher};

/// Levels a tree of at most `u64::MAX` leaves can have above the leaves, and
/// so the most roots a [`Frontier`](super::Frontier) holds (one per set bit of the size).
pub const MAX_LEVELS: usize = LEVELS as usize;

/// [`MAX_LEVELS`] in the type of a level number: the levels are `0..LEVELS`.
pub const LEVELS: u8 = 64;

/// A complete aligned subtree: level `level` (height above the leaves), index `index`
/// covers the leaves `[index << level, (index + 1) << level)`.
///
/// Invariant: those leaves exist in a tree of at most `u64::MAX` leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    level: u8,
    index: u64,
}

/// Why node ids could not be computed, or hashes not combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodesError {
    /// An inclusion proof was asked for a leaf the tree does not have.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof was asked from a larger size to a smaller one.
    #[error("consistency proof asked from size {size1} to the smaller size {size2}")]
    SizesOutOfOrder { size1: u64, size2: u64 },
    /// A subtree position past the end of any possible tree.
    #[error("there is no subtree at level {level}, index {index}")]
    NoSuchSubtree { level: u8, index: u64 },
    /// [`ProofNodes::rehash`] was given another number of hashes than it named nodes.
    #[error("{got} hashes for a proof of {expected} nodes")]
    HashCount { got: usize, expected: usize },
}

impl NodeId {
    /// The subtree at `level` and `index`, if a tree of at most `u64::MAX` leaves has one.
    pub fn new(level: u8, index: u64) -> Result<NodeId, NodesError> {
        let fits = level < LEVELS
            && index
                .checked_add(1)
                .and_then(|next| next.checked_mul(1u64 << level))
                .is_some();
        if !fits {
            return Err(NodesError::NoSuchSubtree { level, index });
        }
        Ok(NodeId { level, index })
    }

    /// A node whose position the tree's own arithmetic computed (the frontier's carry),
    /// so valid by construction.
    pub(super) fn at(level: u8, index: u64) -> NodeId {
        debug_assert!(NodeId::new(level, index).is_ok(), "{level}/{index}");
        NodeId { level, index }
    }

    /// Height above the leaves.
    pub fn level(self) -> u8 {
        self.level
    }

    /// Position within the level.
    pub fn index(self) -> u64 {
        self.index
    }

    /// The leaves the subtree covers, `(first, one past the last)`.
    pub fn coverage(self) -> (u64, u64) {
        (self.index << self.level, (self.index + 1) << self.level)
    }

    fn sibling(self) -> NodeId {
        NodeId {
            level: self.level,
            index: self.index ^ 1,
        }
    }

    fn parent(self) -> NodeId {
        NodeId {
            level: self.level + 1,
            index: self.index >> 1,
        }
    }
}

/// The complete subtrees that make up the leaves `[begin, end)`, left to right (largest
/// first when `begin` is 0): a compact range.
pub fn range_nodes(begin: u64, end: u64) -> Vec<NodeId> {
    let mut ids = Vec::new();
    let mut pos = begin;
    while pos < end {
        // The largest subtree that starts at `pos` (aligned) and ends by `end`.
        let aligned = pos.trailing_zeros();
        let fits = 63 - (end - pos).leading_zeros();
        // Both are below 64, so they fit a level.
        #[allow(clippy::cast_possible_truncation)]
        let level = aligned.min(fits) as u8;
        ids.push(NodeId {
            level,
            index: pos >> level,
        });
        pos += 1u64 << level;
    }
    ids
}

/// The nodes of one proof, leaf side first, and which of them are rehashed into one
/// proof entry (the ephemeral node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofNodes {
    ids: Vec<NodeId>,
    /// `ids[begin..end]` cover the ephemeral node, rightmost first; empty when the proof
    /// has no ephemeral node or it is itself complete.
    begin: usize,
    end: usize,
}

impl ProofNodes {
    /// The complete subtrees whose hashes the proof is made of, in the order
    /// [`rehash`](Self::rehash) wants their hashes.
    pub fn ids(&self) -> &[NodeId] {
        &self.ids
    }

    /// The proof, from the hashes of [`ids`](Self::ids) in the same order.
    pub fn rehash<H: TreeHasher>(
        &self,
        hasher: &H,
        hashes: Vec<Digest>,
    ) -> Result<Vec<Digest>, NodesError> {
        if hashes.len() != self.ids.len() {
            return Err(NodesError::HashCount {
                got: hashes.len(),
                expected: self.ids.len(),
            });
        }
        if self.end - self.begin < 2 {
            return Ok(hashes);
        }
        let mut proof = hashes;
        // The ephemeral node's pieces are listed rightmost first; as roots listed left to
        // right they fold into the one hash that takes their place.
        let mut pieces: Vec<Digest> = proof.drain(self.begin..self.end).collect();
        pieces.reverse();
        proof.insert(self.begin, fold_right(hasher, &pieces));
        Ok(proof)
    }

    /// Drops the first node (the leaf itself, or an old tree the verifier already holds).
    fn skip_first(mut self) -> ProofNodes {
        self.ids.remove(0);
        if self.begin < self.end {
            self.begin -= 1;
            self.end -= 1;
        }
        self
    }
}

/// RFC 9162 §2.1.3.1: the nodes of the inclusion proof (audit path) of leaf `index` in
/// the tree of the first `size` leaves.
pub fn inclusion_nodes(index: u64, size: u64) -> Result<ProofNodes, NodesError> {
    if index >= size {
        return Err(NodesError::IndexOutOfRange { index, size });
    }
    Ok(path_nodes(NodeId { level: 0, index }, size).skip_first())
}

/// RFC 9162 §2.1.4.1: the nodes of the consistency proof from the tree of the first
/// `size1` leaves to the tree of the first `size2`. None when `size1` is 0 or equal to
/// `size2` (nothing to prove).
pub fn consistency_nodes(size1: u64, size2: u64) -> Result<ProofNodes, NodesError> {
    if size1 > size2 {
        return Err(NodesError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 || size1 == size2 {
        return Ok(ProofNodes {
            ids: Vec::new(),
            begin: 0,
            end: 0,
        });
    }
    // The largest complete subtree that ends where the old tree ends: the proof is it
    // and its path into the new tree.
    // Below 64: size1 is not 0.
    #[allow(clippy::cast_possible_truncation)]
    let level = size1.trailing_zeros() as u8;
    let index = (size1 - 1) >> level;
    let nodes = path_nodes(NodeId { level, index }, size2);
    // An old tree that is itself that subtree: the verifier holds its root already.
    Ok(if index == 0 {
        nodes.skip_first()
    } else {
        nodes
    })
}

/// `node` and the nodes of its path to the root of the tree of `size` leaves, leaf side
/// first.
fn path_nodes(node: NodeId, size: u64) -> ProofNodes {
    // The fork: where the path to `node` parts from the path to leaf `size` (the right
    // edge). Below it the path has a real sibling at every level; its own sibling is the
    // ephemeral node, covering the leaves from the fork's end to `size`; above it every
    // sibling is on the left.
    let inner = 63 - (node.index ^ (size >> node.level)).leading_zeros();
    // `inner` is below 64 - node.level, so the sum is a level.
    #[allow(clippy::cast_possible_truncation)]
    let fork = NodeId {
        level: node.level + inner as u8,
        index: node.index >> inner,
    };
    let (fork_begin, fork_end) = fork.coverage();
    let mut ids = vec![node];
    let mut on_path = node;
    for _ in 0..inner {
        ids.push(on_path.sibling());
        on_path = on_path.parent();
    }
    let begin = ids.len();
    ids.extend(range_nodes(fork_end, size).into_iter().rev());
    let end = ids.len();
    ids.extend(range_nodes(0, fork_begin).into_iter().rev());
    ProofNodes { ids, begin, end }
}
