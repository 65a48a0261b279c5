//! The Merkle algorithms against the published RFC 6962 vectors, the RFC's recursive
//! definitions, and corrupted proofs. Hashes come from an in-memory tree that holds every
//! leaf: which nodes a log stores is tested with the store (`store::tiles`).

use proptest::prelude::*;

use super::hash::largest_power_of_two_below;
use super::*;

fn dh(s: &str) -> Digest {
    let bytes = hex::decode(s).unwrap();
    bytes.try_into().unwrap()
}

// ---- Published RFC 6962 (SHA-256) vectors ----------------------------------
//
// testdata/merkle/rfc6962_sha256.json names its source.

/// The published vectors, as hex strings (`&'static`: parsed once, kept for the run).
struct Vectors {
    leaf_inputs: Vec<&'static str>,
    /// Index = tree size.
    roots: Vec<&'static str>,
    /// `[level][index]` of every complete subtree of the 8 leaves.
    node_hashes: Vec<Vec<&'static str>>,
    /// (1-based leaf number, tree size, proof).
    inclusion: Vec<(u64, u64, Vec<&'static str>)>,
    /// (size1, size2, proof).
    consistency: Vec<(u64, u64, Vec<&'static str>)>,
}

fn vectors() -> &'static Vectors {
    static VECTORS: std::sync::OnceLock<Vectors> = std::sync::OnceLock::new();
    VECTORS.get_or_init(|| {
        let text = include_str!("../../../testdata/merkle/rfc6962_sha256.json");
        let json: &'static serde_json::Value = Box::leak(Box::new(
            serde_json::from_str(text).expect("the vectors are JSON"),
        ));
        let strs = |v: &'static serde_json::Value| -> Vec<&'static str> {
            v.as_array()
                .expect("a list of hex strings")
                .iter()
                .map(|h| h.as_str().expect("a hex string"))
                .collect()
        };
        let proofs = |key: &str, a: &str, b: &str| {
            json[key]
                .as_array()
                .expect("a list of proofs")
                .iter()
                .map(|p| {
                    let n = |k: &str| p[k].as_u64().expect("a number");
                    (n(a), n(b), strs(&p["proof"]))
                })
                .collect()
        };
        // A file cut short would make the loops over it vacuous: its counts are pinned.
        let vectors = Vectors {
            leaf_inputs: strs(&json["leaf_inputs"]),
            roots: strs(&json["roots"]),
            node_hashes: json["node_hashes"]
                .as_array()
                .expect("rows of node hashes")
                .iter()
                .map(strs)
                .collect(),
            inclusion: proofs("inclusion", "leaf", "size"),
            consistency: proofs("consistency", "size1", "size2"),
        };
        let rows: Vec<usize> = vectors.node_hashes.iter().map(Vec::len).collect();
        assert_eq!(
            (vectors.leaf_inputs.len(), vectors.roots.len(), rows),
            (8, 9, vec![8, 4, 2, 1])
        );
        assert_eq!((vectors.inclusion.len(), vectors.consistency.len()), (5, 5));
        vectors
    })
}

/// The other SHA-256 vectors (testdata/merkle/sha256_hashes.json names their source).
fn sha256_hashes() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../testdata/merkle/sha256_hashes.json"))
        .expect("the vectors are JSON")
}

/// transparency-dev/merkle proof/verify_test.go: sha256SomeHash, in no tree.
fn some_hash() -> Digest {
    dh(sha256_hashes()["some_hash"].as_str().expect("a hex string"))
}

fn proof_of(hexes: &[&str]) -> Vec<Digest> {
    hexes.iter().map(|h| dh(h)).collect()
}

// ---- A tree held in memory, every leaf hash at hand -----------------------------------

/// Leaf hashes; any node's hash is the MTH of the leaves it covers.
struct Tree<H> {
    hasher: H,
    leaves: Vec<Digest>,
}

impl<H: TreeHasher> Tree<H> {
    fn with_data(hasher: H, data: &[Vec<u8>]) -> Self {
        let leaves = data.iter().map(|d| hasher.hash_leaf(d)).collect();
        Tree { hasher, leaves }
    }

    fn node(&self, id: NodeId) -> Digest {
        let (start, end) = id.coverage();
        mth(&self.hasher, &self.leaves[start as usize..end as usize])
    }

    fn hashes(&self, ids: &[NodeId]) -> Vec<Digest> {
        ids.iter().map(|&id| self.node(id)).collect()
    }

    /// Node ids, then their hashes, then the proof: the three steps a log takes.
    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Digest>, NodesError> {
        let nodes = inclusion_nodes(index, size)?;
        nodes.rehash(&self.hasher, self.hashes(nodes.ids()))
    }

    fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Digest>, NodesError> {
        let nodes = consistency_nodes(size1, size2)?;
        nodes.rehash(&self.hasher, self.hashes(nodes.ids()))
    }

    /// The frontier of the first `size` leaves, from the nodes of its compact range.
    fn frontier_at(&self, size: u64) -> Frontier {
        Frontier::from_parts(size, self.hashes(&range_nodes(0, size))).unwrap()
    }

    fn root_at(&self, size: u64) -> Digest {
        self.frontier_at(size).root(&self.hasher)
    }
}

fn rfc_tree() -> Tree<Sha256Hasher> {
    let data: Vec<Vec<u8>> = vectors()
        .leaf_inputs
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect();
    Tree::with_data(Sha256Hasher, &data)
}

// ---- Reference implementations: the RFC 9162 recursions, verbatim -------

fn ref_path<H: TreeHasher>(h: &H, m: usize, leaves: &[Digest]) -> Vec<Digest> {
    let n = leaves.len();
    if n == 1 {
        return Vec::new();
    }
    let k = largest_power_of_two_below(n as u64) as usize;
    if m < k {
        let mut p = ref_path(h, m, &leaves[..k]);
        p.push(mth(h, &leaves[k..]));
        p
    } else {
        let mut p = ref_path(h, m - k, &leaves[k..]);
        p.push(mth(h, &leaves[..k]));
        p
    }
}

fn ref_subproof<H: TreeHasher>(h: &H, m: usize, leaves: &[Digest], b: bool) -> Vec<Digest> {
    let n = leaves.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(h, leaves)] };
    }
    let k = largest_power_of_two_below(n as u64) as usize;
    if m <= k {
        let mut p = ref_subproof(h, m, &leaves[..k], b);
        p.push(mth(h, &leaves[k..]));
        p
    } else {
        let mut p = ref_subproof(h, m - k, &leaves[k..], false);
        p.push(mth(h, &leaves[..k]));
        p
    }
}

// ---- Vector tests ------------------------------------------------------

#[test]
fn sha256_hasher_matches_rfc6962_vectors() {
    // transparency-dev/merkle rfc6962/rfc6962_test.go
    let h = Sha256Hasher;
    assert_eq!(h.empty_root(), dh(vectors().roots[0]));
    let leaves = sha256_hashes()["leaf_hashes"].as_array().unwrap().clone();
    assert_eq!(leaves.len(), 2);
    for leaf in leaves {
        let input = hex::decode(leaf["leaf_input"].as_str().unwrap()).unwrap();
        assert_eq!(h.hash_leaf(&input), dh(leaf["leaf_hash"].as_str().unwrap()));
    }
}

#[test]
fn blake3_hasher_uses_rfc_prefixes() {
    let h = Blake3Hasher;
    let (l, r) = ([1u8; 32], [2u8; 32]);
    assert_eq!(h.hash_leaf(b"abc"), *blake3::hash(b"\x00abc").as_bytes());
    // A chain hash's length takes the stack-buffer path; its neighbours the streaming one.
    for len in [0, HASH_LEN - 1, HASH_LEN, HASH_LEN + 1] {
        let data = vec![3u8; len];
        let prefixed: Vec<u8> = [&[0u8][..], &data].concat();
        assert_eq!(
            h.hash_leaf(&data),
            *blake3::hash(&prefixed).as_bytes(),
            "leaf of {len} bytes"
        );
    }
    let node: Vec<u8> = [&[1u8][..], &l, &r].concat();
    assert_eq!(h.hash_children(&l, &r), *blake3::hash(&node).as_bytes());
    assert_eq!(h.empty_root(), *blake3::hash(b"").as_bytes());
}

#[test]
fn blake3_root_of_rfc_leaves_is_pinned() {
    // testdata/merkle/blake3_root.json: our own golden value, which freezes the ledger's
    // tree hash.
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("../../../testdata/merkle/blake3_root.json")).unwrap();
    let data: Vec<Vec<u8>> = vectors()
        .leaf_inputs
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect();
    let tree = Tree::with_data(Blake3Hasher, &data);
    let mut frontier = Frontier::new();
    for leaf in &tree.leaves {
        frontier.append(&Blake3Hasher, *leaf);
    }
    assert_eq!(
        hex::encode(frontier.root(&Blake3Hasher)),
        golden["root"].as_str().unwrap()
    );
}

#[test]
fn frontier_and_compact_range_roots_match_published_roots() {
    let tree = rfc_tree();
    let mut frontier = Frontier::new();
    assert_eq!(frontier.root(&Sha256Hasher), dh(vectors().roots[0]));
    for (size, expected) in vectors().roots.iter().enumerate().skip(1) {
        frontier.append(&Sha256Hasher, tree.leaves[size - 1]);
        assert_eq!(frontier.root(&Sha256Hasher), dh(expected), "size {size}");
        assert_eq!(tree.root_at(size as u64), dh(expected));
    }
    assert_eq!(tree.root_at(0), dh(vectors().roots[0]));
}

#[test]
fn node_ids_and_compact_ranges_match_published_node_hashes() {
    let tree = rfc_tree();
    for (level, row) in vectors().node_hashes.iter().enumerate() {
        for (index, expected) in row.iter().enumerate() {
            let id = NodeId::new(level as u8, index as u64).unwrap();
            assert_eq!(tree.node(id), dh(expected), "node {level}/{index}");
        }
    }
    // CompactTrees(): the frontier of size 7 is nh[2][0], nh[1][2], nh[0][6].
    let ids = range_nodes(0, 7);
    let want_ids =
        [(2, 0), (1, 2), (0, 6)].map(|(level, index)| NodeId::new(level, index).unwrap());
    assert_eq!(ids, want_ids);
    let want = [
        vectors().node_hashes[2][0],
        vectors().node_hashes[1][2],
        vectors().node_hashes[0][6],
    ]
    .map(dh);
    assert_eq!(tree.frontier_at(7).nodes(), &want);
}

#[test]
fn inclusion_proofs_match_published_vectors() {
    let tree = rfc_tree();
    for (leaf, size, hexes) in &vectors().inclusion {
        let (leaf, size) = (*leaf, *size);
        let index = leaf - 1;
        let want = proof_of(hexes);
        let got = tree.inclusion_proof(index, size).unwrap();
        assert_eq!(got, want, "leaf {index} size {size}");
        let root = dh(vectors().roots[size as usize]);
        let leaf_hash = tree.leaves[index as usize];
        verify_inclusion(&Sha256Hasher, index, size, &leaf_hash, &want, &root).unwrap();
        assert_inclusion_probes_fail(index, size, &leaf_hash, &want, &root);
    }
}

type InclusionProbe = (u64, u64, Digest, Vec<Digest>, Digest, &'static str);

/// (size1, size2, root1, root2, proof, description)
type ConsistencyProbe = (u64, u64, Digest, Digest, Vec<Digest>, &'static str);

/// The corruptions of proof/verify_test.go corruptInclusionProof that
/// apply to fixed-size hashes.
fn assert_inclusion_probes_fail(
    index: u64,
    size: u64,
    leaf: &Digest,
    proof: &[Digest],
    root: &Digest,
) {
    let h = Sha256Hasher;
    let some = some_hash();
    let empty = h.empty_root();
    let mut probes: Vec<InclusionProbe> = vec![
        (
            index.wrapping_sub(1),
            size,
            *leaf,
            proof.to_vec(),
            *root,
            "index - 1",
        ),
        (index + 1, size, *leaf, proof.to_vec(), *root, "index + 1"),
        (index ^ 2, size, *leaf, proof.to_vec(), *root, "index ^ 2"),
        (index, size * 2, *leaf, proof.to_vec(), *root, "size * 2"),
        (index, size / 2, *leaf, proof.to_vec(), *root, "size / 2"),
        (index, size, some, proof.to_vec(), *root, "wrong leaf"),
        (index, size, *leaf, proof.to_vec(), empty, "empty root"),
        (index, size, *leaf, proof.to_vec(), some, "random root"),
        (
            index,
            size,
            *leaf,
            [proof, &[*root]].concat(),
            *root,
            "trailing root",
        ),
        (
            index,
            size,
            *leaf,
            [&[*root], proof].concat(),
            *root,
            "preceding root",
        ),
    ];
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i][0] ^= 8;
        probes.push((index, size, *leaf, p, *root, "flipped bit"));
    }
    if let Some((_, rest)) = proof.split_last() {
        probes.push((
            index,
            size,
            *leaf,
            rest.to_vec(),
            *root,
            "removed component",
        ));
    }
    if proof.len() > 1 {
        let p = [&[proof[0], some][..], &proof[1..]].concat();
        probes.push((index, size, *leaf, p, *root, "inserted component"));
    }
    for (i, s, l, p, r, desc) in probes {
        assert!(
            verify_inclusion(&h, i, s, &l, &p, &r).is_err(),
            "{desc} verified ({index}, {size})"
        );
    }
}

#[test]
fn inclusion_rejects_impossible_index_and_size() {
    // proof/verify_test.go TestVerifyInclusion probes.
    let h = Sha256Hasher;
    for (index, size) in [(0, 0), (0, 1), (1, 0), (2, 1)] {
        let some = some_hash();
        let empty = h.empty_root();
        assert!(verify_inclusion(&h, index, size, &some, &[], &empty).is_err());
    }
    assert_eq!(
        verify_inclusion(&h, 2, 1, &[0; 32], &[], &[0; 32]),
        Err(VerifyError::IndexOutOfRange { index: 2, size: 1 })
    );
    // A one-leaf tree: the root is the leaf hash and the proof is empty.
    let leaf = h.hash_leaf(b"data");
    verify_inclusion(&h, 0, 1, &leaf, &[], &leaf).unwrap();
}

#[test]
fn consistency_proofs_match_published_vectors() {
    let tree = rfc_tree();
    for (size1, size2, hexes) in &vectors().consistency {
        let (size1, size2) = (*size1, *size2);
        let want = proof_of(hexes);
        let got = tree.consistency_proof(size1, size2).unwrap();
        assert_eq!(got, want, "{size1} -> {size2}");
        let (r1, r2) = (
            dh(vectors().roots[size1 as usize]),
            dh(vectors().roots[size2 as usize]),
        );
        verify_consistency(&Sha256Hasher, size1, size2, &want, &r1, &r2).unwrap();
        if !want.is_empty() {
            assert_consistency_probes_fail(size1, size2, &want, &r1, &r2);
        }
    }
}

/// proof/verify_test.go corruptConsistencyProof.
fn assert_consistency_probes_fail(
    size1: u64,
    size2: u64,
    proof: &[Digest],
    r1: &Digest,
    r2: &Digest,
) {
    let h = Sha256Hasher;
    let wrong = some_hash();
    let p = proof.to_vec();
    let mut probes: Vec<ConsistencyProbe> = vec![
        (size1 - 1, size2, *r1, *r2, p.clone(), "size1 - 1"),
        (size1 + 1, size2, *r1, *r2, p.clone(), "size1 + 1"),
        (size1 ^ 2, size2, *r1, *r2, p.clone(), "size1 ^ 2"),
        (size1, size2 * 2, *r1, *r2, p.clone(), "size2 * 2"),
        (size1, size2 / 2, *r1, *r2, p.clone(), "size2 / 2"),
        (size1, size2, wrong, *r2, p.clone(), "wrong root1"),
        (size1, size2, *r1, wrong, p.clone(), "wrong root2"),
        (size1, size2, *r2, *r1, p.clone(), "swapped roots"),
        (size1, size2, *r1, *r2, Vec::new(), "empty proof"),
        (
            size1,
            size2,
            *r1,
            *r2,
            [proof, &[*r1]].concat(),
            "trailing root1",
        ),
        (
            size1,
            size2,
            *r1,
            *r2,
            [proof, &[*r2]].concat(),
            "trailing root2",
        ),
        (
            size1,
            size2,
            *r1,
            *r2,
            [&[*r1], proof].concat(),
            "preceding root1",
        ),
        (
            size1,
            size2,
            *r1,
            *r2,
            [&[*r2], proof].concat(),
            "preceding root2",
        ),
        (
            size1,
            size2,
            *r1,
            *r2,
            [&[proof[0]], proof].concat(),
            "preceding proof[0]",
        ),
        (
            size1,
            size2,
            *r1,
            *r2,
            proof[..proof.len() - 1].to_vec(),
            "truncated",
        ),
    ];
    for i in 0..proof.len() {
        let mut q = p.clone();
        q[i][0] ^= 16;
        probes.push((size1, size2, *r1, *r2, q, "flipped bit"));
    }
    for (s1, s2, a, b, q, desc) in probes {
        assert!(
            verify_consistency(&h, s1, s2, &q, &a, &b).is_err(),
            "{desc} verified ({size1}, {size2})"
        );
    }
}

#[test]
fn consistency_edge_cases() {
    // proof/verify_test.go TestVerifyConsistency, with one deliberate
    // difference: an empty old tree must have the empty root.
    let h = Sha256Hasher;
    let (a, b) = ([0xaa; 32], [0xbb; 32]);
    let empty = h.empty_root();
    assert_eq!(
        verify_consistency(&h, 0, 0, &[], &a, &b),
        Err(VerifyError::OldRootMismatch {
            computed: empty,
            expected: a
        })
    );
    assert_eq!(
        verify_consistency(&h, 1, 1, &[], &a, &b),
        Err(VerifyError::RootsDiffer { size: 1 })
    );
    verify_consistency(&h, 0, 0, &[], &empty, &empty).unwrap();
    verify_consistency(&h, 0, 1, &[], &empty, &b).unwrap();
    verify_consistency(&h, 1, 1, &[], &b, &b).unwrap();
    assert_eq!(
        verify_consistency(&h, 1, 0, &[], &a, &b),
        Err(VerifyError::SizesOutOfOrder { size1: 1, size2: 0 })
    );
    assert_eq!(
        verify_consistency(&h, 2, 1, &[], &a, &b),
        Err(VerifyError::SizesOutOfOrder { size1: 2, size2: 1 })
    );
    assert_eq!(
        verify_consistency(&h, 1, 2, &[], &a, &b),
        Err(VerifyError::EmptyProof)
    );
    for (s1, s2) in [(0, 0), (0, 1), (1, 1)] {
        assert_eq!(
            verify_consistency(&h, s1, s2, &[empty], &empty, &empty),
            Err(VerifyError::UnexpectedProof { len: 1 })
        );
    }
}

#[test]
fn node_ids_reject_bad_arguments() {
    assert_eq!(
        inclusion_nodes(8, 8),
        Err(NodesError::IndexOutOfRange { index: 8, size: 8 })
    );
    assert_eq!(
        consistency_nodes(6, 3),
        Err(NodesError::SizesOutOfOrder { size1: 6, size2: 3 })
    );
    assert!(consistency_nodes(0, 3).unwrap().ids().is_empty());
    assert!(consistency_nodes(5, 5).unwrap().ids().is_empty());
    assert_eq!(
        NodeId::new(64, 0),
        Err(NodesError::NoSuchSubtree {
            level: 64,
            index: 0
        })
    );
    assert!(matches!(
        NodeId::new(63, 2),
        Err(NodesError::NoSuchSubtree { .. })
    ));
    assert_eq!(NodeId::new(63, 0).map(NodeId::coverage), Ok((0, 1 << 63)));
    // Hashes that do not match the ids are refused, not folded into a wrong proof.
    let nodes = inclusion_nodes(2, 7).unwrap();
    assert_eq!(
        nodes.rehash(&Sha256Hasher, vec![[0; 32]]),
        Err(NodesError::HashCount {
            got: 1,
            expected: nodes.ids().len()
        })
    );
}

#[test]
fn proof_nodes_are_logarithmically_many_in_a_trillion_leaf_tree() {
    const N: u64 = 1_000_000_000_037; // about 2^40, deliberately not a power of two
    for ids in [
        inclusion_nodes(0, N).unwrap().ids().to_vec(),
        inclusion_nodes(N - 1, N).unwrap().ids().to_vec(),
        consistency_nodes(N / 3, N).unwrap().ids().to_vec(),
        range_nodes(0, N),
    ] {
        assert!(!ids.is_empty());
        assert!(ids.len() <= 2 * 40, "{} nodes", ids.len());
        for id in ids {
            assert!(id.coverage().1 <= N, "{id:?} reaches past the tree");
        }
    }
}

#[test]
fn range_nodes_cover_the_range_with_aligned_subtrees() {
    for (begin, end) in [
        (0, 0),
        (0, 1),
        (3, 4),
        (1, 7),
        (5, 300),
        (64, 128),
        (63, 129),
    ] {
        let ids = range_nodes(begin, end);
        let mut pos = begin;
        for id in &ids {
            let (start, stop) = id.coverage();
            assert_eq!(start, pos, "{begin}..{end}: {ids:?}");
            pos = stop;
        }
        assert_eq!(pos, end.max(begin));
        // Canonical: no two neighbours of one size could merge into their parent.
        for pair in ids.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(
                !(a.level() == b.level() && a.index() % 2 == 0),
                "{begin}..{end}: {ids:?}"
            );
        }
    }
}

// ---- Frontier ----------------------------------------------------------

#[test]
fn frontier_serde_round_trip_and_validation() {
    let tree = rfc_tree();
    let frontier = tree.frontier_at(8);
    let json = serde_json::to_string(&frontier).unwrap();
    let back: Frontier = serde_json::from_str(&json).unwrap();
    assert_eq!(back, frontier);
    let bytes = bincode::serialize(&frontier).unwrap();
    assert_eq!(bincode::deserialize::<Frontier>(&bytes).unwrap(), frontier);
    // bincode 1 default layout: size u64 LE, node count u64 LE, 32 bytes
    // per node (largest subtree first).
    let three = tree.frontier_at(3);
    let bytes = bincode::serialize(&three).unwrap();
    assert_eq!(bytes.len(), 8 + 8 + 2 * HASH_LEN);
    assert_eq!(
        bytes[..16],
        [3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(bytes[16..48], dh(vectors().node_hashes[1][0]));
    assert_eq!(bytes[48..], dh(vectors().node_hashes[0][2]));

    let bad = serde_json::json!({ "size": 3, "nodes": [vec![0u8; 32]] }).to_string();
    assert!(serde_json::from_str::<Frontier>(&bad).is_err());
    assert_eq!(
        Frontier::from_parts(3, vec![[0; 32]]),
        Err(FrontierError::WrongNodeCount {
            size: 3,
            expected: 2,
            got: 1
        })
    );
}

#[test]
fn append_visits_exactly_the_completed_subtrees() {
    let h = Blake3Hasher;
    let mut frontier = Frontier::new();
    let mut leaves = Vec::new();
    for i in 0u64..100 {
        let leaf = h.hash_leaf(&i.to_le_bytes());
        leaves.push(leaf);
        let mut got = Vec::new();
        frontier.append_visiting(&h, leaf, |id, hash| got.push((id, *hash)));
        let size = i + 1;
        // Subtrees whose last leaf is leaf i, lowest first.
        let want: Vec<(NodeId, Digest)> = (1..8)
            .filter(|l| size % (1 << l) == 0)
            .map(|l| {
                let id = NodeId::new(l, i >> l).unwrap();
                let (start, end) = id.coverage();
                (id, mth(&h, &leaves[start as usize..end as usize]))
            })
            .collect();
        assert_eq!(got, want, "after leaf {i}");
    }
}

// ---- Properties ----------------------------------------------------------

fn blake3_tree(n: usize, seed: u64) -> Tree<Blake3Hasher> {
    let data: Vec<Vec<u8>> = (0..n as u64)
        .map(|i| [seed.to_le_bytes(), i.to_le_bytes()].concat())
        .collect();
    Tree::with_data(Blake3Hasher, &data)
}

proptest! {
    // The exhaustive tests cost O(n^2) proofs per case; a few cases of up
    // to 300 leaves cover levels 0..8 and keep the suite at seconds.
    #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]

    #[test]
    fn frontier_root_is_the_recursive_mth_at_every_size(n in 1usize..300, seed: u64) {
        let tree = blake3_tree(n, seed);
        let mut frontier = Frontier::new();
        for size in 1..=n {
            frontier.append(&Blake3Hasher, tree.leaves[size - 1]);
            let want = mth(&Blake3Hasher, &tree.leaves[..size]);
            prop_assert_eq!(frontier.root(&Blake3Hasher), want);
            prop_assert_eq!(tree.root_at(size as u64), want);
        }
        let rebuilt = tree.frontier_at(n as u64);
        prop_assert_eq!(rebuilt, frontier);
    }

    #[test]
    fn every_inclusion_proof_verifies(n in 1usize..300, seed: u64) {
        let tree = blake3_tree(n, seed);
        let h = Blake3Hasher;
        for m in 1..=n {
            let root = mth(&h, &tree.leaves[..m]);
            for index in 0..m {
                let proof = tree.inclusion_proof(index as u64, m as u64).unwrap();
                let leaf = tree.leaves[index];
                prop_assert!(verify_inclusion(&h, index as u64, m as u64, &leaf, &proof, &root).is_ok());
            }
        }
    }

}

proptest! {
    // Sampled and corruption tests are cheap; more cases, more shapes.
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn inclusion_proofs_match_the_reference(n in 1usize..300, seed: u64, pairs in proptest::collection::vec((any::<usize>(), any::<usize>()), 64)) {
        // The reference costs O(m) hashes per proof, so it checks a sample.
        let tree = blake3_tree(n, seed);
        let h = Blake3Hasher;
        for (a, b) in pairs {
            let m = 1 + a % n;
            let index = b % m;
            let proof = tree.inclusion_proof(index as u64, m as u64).unwrap();
            prop_assert_eq!(&proof, &ref_path(&h, index, &tree.leaves[..m]));
        }
    }

    #[test]
    fn corrupted_inclusion_proofs_fail(n in 2usize..300, seed: u64, pick: (usize, usize)) {
        let tree = blake3_tree(n, seed);
        let h = Blake3Hasher;
        let m = 2 + pick.0 % (n - 1);
        let index = pick.1 % m;
        let (size, leaf) = (m as u64, tree.leaves[index]);
        let root = mth(&h, &tree.leaves[..m]);
        let proof = tree.inclusion_proof(index as u64, size).unwrap();
        for i in 0..proof.len() {
            for bit in 0..HASH_LEN * 8 {
                let mut p = proof.clone();
                p[i][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(&h, index as u64, size, &leaf, &p, &root).is_err());
            }
        }
        for other in [index.wrapping_sub(1), index + 1, index ^ 2, index ^ 1] {
            prop_assert!(verify_inclusion(&h, other as u64, size, &leaf, &proof, &root).is_err());
        }
        prop_assert!(verify_inclusion(&h, index as u64, size * 2, &leaf, &proof, &root).is_err());
        prop_assert!(verify_inclusion(&h, index as u64, size / 2, &leaf, &proof, &root).is_err());
        let mut bad_leaf = leaf;
        bad_leaf[0] ^= 1;
        prop_assert!(verify_inclusion(&h, index as u64, size, &bad_leaf, &proof, &root).is_err());
    }

    #[test]
    fn every_consistency_proof_verifies(n in 1usize..300, seed: u64, pairs in proptest::collection::vec((any::<usize>(), any::<usize>()), 64)) {
        let tree = blake3_tree(n, seed);
        let h = Blake3Hasher;
        for (a, b) in pairs {
            let m2 = 1 + b % n;
            let m1 = a % (m2 + 1);
            let proof = tree.consistency_proof(m1 as u64, m2 as u64).unwrap();
            if m1 > 0 {
                prop_assert_eq!(&proof, &ref_subproof(&h, m1, &tree.leaves[..m2], true));
            }
            let r1 = mth(&h, &tree.leaves[..m1]);
            let r2 = mth(&h, &tree.leaves[..m2]);
            prop_assert!(verify_consistency(&h, m1 as u64, m2 as u64, &proof, &r1, &r2).is_ok());
        }
    }

    #[test]
    fn corrupted_consistency_proofs_fail(n in 3usize..300, seed: u64, pick: (usize, usize)) {
        let tree = blake3_tree(n, seed);
        let h = Blake3Hasher;
        let m2 = 3 + pick.0 % (n - 2);
        let m1 = 1 + pick.1 % (m2 - 1);
        let (s1, s2) = (m1 as u64, m2 as u64);
        let r1 = mth(&h, &tree.leaves[..m1]);
        let r2 = mth(&h, &tree.leaves[..m2]);
        let proof = tree.consistency_proof(s1, s2).unwrap();
        for i in 0..proof.len() {
            for bit in 0..HASH_LEN * 8 {
                let mut p = proof.clone();
                p[i][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_consistency(&h, s1, s2, &p, &r1, &r2).is_err());
            }
        }
        prop_assert!(verify_consistency(&h, s1, s2, &proof, &r2, &r1).is_err());
        prop_assert!(verify_consistency(&h, s1, s2 * 2, &proof, &r1, &r2).is_err());
        prop_assert!(verify_consistency(&h, s1, s2, &proof[1..], &r1, &r2).is_err());
        prop_assert!(verify_consistency(&h, s1, s2, &[&proof[..], &[r2]].concat(), &r1, &r2).is_err());
    }
}
