//! Proof verification: RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), which
//! never rebuild a tree.

use super::hash::{Digest, TreeHasher};

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old size {size1} is larger than new size {size2}")]
    SizesOutOfOrder { size1: u64, size2: u64 },
    #[error("the proof has more hashes than the tree sizes allow")]
    ProofTooLong,
    #[error("the proof has fewer hashes than the tree sizes need")]
    ProofTooShort,
    #[error("consistency between different sizes needs a non-empty proof")]
    EmptyProof,
    #[error("equal sizes or an empty old tree need an empty proof, got {len} hashes")]
    UnexpectedProof { len: usize },
    #[error("the proof leads to root {}, expected {}", hex::encode(.computed), hex::encode(.expected))]
    RootMismatch { computed: Digest, expected: Digest },
    #[error("the proof leads to old root {}, expected {}", hex::encode(.computed), hex::encode(.expected))]
    OldRootMismatch { computed: Digest, expected: Digest },
    #[error("the proof leads to new root {}, expected {}", hex::encode(.computed), hex::encode(.expected))]
    NewRootMismatch { computed: Digest, expected: Digest },
    #[error("trees of equal size {size} have different roots")]
    RootsDiffer { size: u64 },
}

/// RFC 9162 §2.1.3.2: checks that `proof` proves the leaf with hash
/// `leaf_hash` at `leaf_index` is in the tree of `tree_size` leaves with root
/// `root`. The tree size is bound only through the proof's shape; the signed
/// checkpoint is what fixes it.
pub fn verify_inclusion<H: TreeHasher>(
    hasher: &H,
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Digest,
    proof: &[Digest],
    root: &Digest,
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion_proof(hasher, leaf_index, tree_size, leaf_hash, proof)?;
    if computed != *root {
        return Err(VerifyError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// The root an inclusion proof leads to (steps 1 to 4 of §2.1.3.2).
pub fn root_from_inclusion_proof<H: TreeHasher>(
    hasher: &H,
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Digest,
    proof: &[Digest],
) -> Result<Digest, VerifyError> {
    if leaf_index >= tree_size {
        return Err(VerifyError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    let mut f = leaf_index;
    let mut s = tree_size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        if f & 1 == 1 || f == s {
            r = hasher.hash_children(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = hasher.hash_children(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    Ok(r)
}

/// RFC 9162 §2.1.4.2: checks that the tree of `size2` leaves with root `root2`
/// extends the tree of `size1` leaves with root `root1`. Beyond the RFC
/// (which covers `0 < size1 < size2`): equal sizes need an empty proof and
/// equal roots; an empty old tree needs an empty proof and the empty root.
pub fn verify_consistency<H: TreeHasher>(
    hasher: &H,
    size1: u64,
    size2: u64,
    proof: &[Digest],
    root1: &Digest,
    root2: &Digest,
) -> Result<(), VerifyError> {
    if size1 > size2 {
        return Err(VerifyError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == size2 || size1 == 0 {
        return verify_trivial_consistency(hasher, size1, size2, proof, root1, root2);
    }
    if proof.is_empty() {
        return Err(VerifyError::EmptyProof);
    }
    let (fr, sr) = roots_from_consistency_proof(hasher, size1, size2, proof, root1)?;
    if fr != *root1 {
        return Err(VerifyError::OldRootMismatch {
            computed: fr,
            expected: *root1,
        });
    }
    if sr != *root2 {
        return Err(VerifyError::NewRootMismatch {
            computed: sr,
            expected: *root2,
        });
    }
    Ok(())
}

fn verify_trivial_consistency<H: TreeHasher>(
    hasher: &H,
    size1: u64,
    size2: u64,
    proof: &[Digest],
    root1: &Digest,
    root2: &Digest,
) -> Result<(), VerifyError> {
    if !proof.is_empty() {
        return Err(VerifyError::UnexpectedProof { len: proof.len() });
    }
    if size1 == 0 && *root1 != hasher.empty_root() {
        return Err(VerifyError::OldRootMismatch {
            computed: hasher.empty_root(),
            expected: *root1,
        });
    }
    if size1 == size2 && root1 != root2 {
        return Err(VerifyError::RootsDiffer { size: size1 });
    }
    Ok(())
}

/// Steps 2 to 6 of §2.1.4.2 for `0 < size1 < size2` and a non-empty proof:
/// the old and new roots the proof leads to, and the check that its length
/// fits the sizes.
fn roots_from_consistency_proof<H: TreeHasher>(
    hasher: &H,
    size1: u64,
    size2: u64,
    proof: &[Digest],
    root1: &Digest,
) -> Result<(Digest, Digest), VerifyError> {
    // Step 2: a power-of-two old tree is itself a subtree of the new one, so
    // the proof leaves out its root and the verifier supplies it.
    let (seed, rest) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (&proof[0], &proof[1..])
    };
    let mut f = size1 - 1;
    let mut s = size2 - 1;
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if s == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        if f & 1 == 1 || f == s {
            fr = hasher.hash_children(c, &fr);
            sr = hasher.hash_children(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = hasher.hash_children(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    Ok((fr, sr))
}
