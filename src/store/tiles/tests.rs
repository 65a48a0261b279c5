//! Proofs read from a tree stored the ledger's way (nodes from `STORED_MIN_LEVEL` up, leaf
//! hashes by tile): the same proofs as from the whole tree, in logarithmically many reads.

use std::cell::Cell;
use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::tlog::merkle::{
    consistency_nodes, inclusion_nodes, range_nodes, verify_consistency, verify_inclusion,
    Blake3Hasher, Frontier, NodeId, Sha256Hasher,
};

/// Holds the leaf hashes and only the subtree hashes the ledger stores, and counts reads.
struct MemoryStore<H> {
    hasher: H,
    frontier: Frontier,
    leaves: Vec<Digest>,
    nodes: BTreeMap<(u8, u64), Digest>,
    leaf_calls: Cell<usize>,
    leaves_read: Cell<usize>,
    node_calls: Cell<usize>,
}

impl<H: TreeHasher> MemoryStore<H> {
    fn with_data(hasher: H, data: &[Vec<u8>]) -> Self {
        let mut store = MemoryStore {
            hasher,
            frontier: Frontier::new(),
            leaves: Vec::new(),
            nodes: BTreeMap::new(),
            leaf_calls: Cell::new(0),
            leaves_read: Cell::new(0),
            node_calls: Cell::new(0),
        };
        for d in data {
            store.append(d);
        }
        store
    }

    /// As the ledger appends: the frontier names each completed subtree, the stored
    /// levels are kept.
    fn append(&mut self, data: &[u8]) {
        let leaf = self.hasher.hash_leaf(data);
        self.leaves.push(leaf);
        let nodes = &mut self.nodes;
        self.frontier
            .append_visiting(&self.hasher, leaf, |id, hash| {
                if is_stored(id) {
                    let fresh = nodes.insert((id.level(), id.index()), *hash);
                    assert!(fresh.is_none(), "node stored twice");
                }
            });
    }

    fn hashes(&self, ids: &[NodeId]) -> Vec<Digest> {
        node_hashes(&self.hasher, self, ids).unwrap()
    }

    fn inclusion_proof(&self, index: u64, size: u64) -> Vec<Digest> {
        let nodes = inclusion_nodes(index, size).unwrap();
        nodes
            .rehash(&self.hasher, self.hashes(nodes.ids()))
            .unwrap()
    }

    fn consistency_proof(&self, size1: u64, size2: u64) -> Vec<Digest> {
        let nodes = consistency_nodes(size1, size2).unwrap();
        nodes
            .rehash(&self.hasher, self.hashes(nodes.ids()))
            .unwrap()
    }

    fn frontier_at(&self, size: u64) -> Frontier {
        Frontier::from_parts(size, self.hashes(&range_nodes(0, size))).unwrap()
    }

    /// Bounds on reads for one proof: O(log n) stored nodes, a constant number of leaf
    /// reads of at most `LEAF_TILE_LEAVES` each.
    fn assert_reads_logarithmic(&self, n: u64, what: &str) {
        let log = 64 - n.leading_zeros() as usize;
        assert!(
            self.node_calls.get() <= 2 * log,
            "{what}: {} node reads, n = {n}",
            self.node_calls.get()
        );
        assert!(
            self.leaf_calls.get() <= 3,
            "{what}: {} leaf reads",
            self.leaf_calls.get()
        );
        assert!(
            self.leaves_read.get() <= 3 * LEAF_TILE_LEAVES as usize,
            "{what}: {} leaves",
            self.leaves_read.get()
        );
        self.leaf_calls.set(0);
        self.leaves_read.set(0);
        self.node_calls.set(0);
    }
}

impl<H> NodeSource for MemoryStore<H> {
    type Error = String;

    fn leaf_hashes(&self, range: Range<u64>) -> Result<Vec<Digest>, String> {
        self.leaf_calls.set(self.leaf_calls.get() + 1);
        self.leaves_read
            .set(self.leaves_read.get() + (range.end - range.start) as usize);
        assert_eq!(
            range.start / LEAF_TILE_LEAVES,
            (range.end - 1) / LEAF_TILE_LEAVES,
            "leaf read {range:?} spans tiles"
        );
        let (lo, hi) = (range.start as usize, range.end as usize);
        self.leaves
            .get(lo..hi)
            .map(<[Digest]>::to_vec)
            .ok_or_else(|| format!("no leaves {range:?}"))
    }

    fn stored_node(&self, level: u8, index: u64) -> Result<Digest, String> {
        self.node_calls.set(self.node_calls.get() + 1);
        assert!(
            level >= STORED_MIN_LEVEL,
            "asked for unstored level {level}"
        );
        self.nodes
            .get(&(level, index))
            .copied()
            .ok_or_else(|| format!("no node {level}/{index}"))
    }
}

fn blake3_store(n: usize, seed: u64) -> MemoryStore<Blake3Hasher> {
    let data: Vec<Vec<u8>> = (0..n as u64)
        .map(|i| [seed.to_le_bytes(), i.to_le_bytes()].concat())
        .collect();
    MemoryStore::with_data(Blake3Hasher, &data)
}

#[test]
fn the_stored_subtrees_are_those_from_the_lowest_stored_level_up() {
    let store = blake3_store(300, 7);
    // 300 leaves: 4 complete subtrees at level 6, 2 at level 7, 1 at level 8.
    let kept: Vec<(u8, u64)> = store.nodes.keys().copied().collect();
    assert_eq!(
        kept,
        [(6, 0), (6, 1), (6, 2), (6, 3), (7, 0), (7, 1), (8, 0)]
    );
    for (&(level, index), hash) in &store.nodes {
        let id = NodeId::new(level, index).unwrap();
        let (start, end) = id.coverage();
        let want = mth(&Blake3Hasher, &store.leaves[start as usize..end as usize]);
        assert_eq!(*hash, want, "node {level}/{index}");
    }
    assert_eq!(LEAF_TILE_LEAVES, 1 << STORED_MIN_LEVEL);
    assert!(!is_stored(NodeId::new(5, 0).unwrap()));
    assert!(is_stored(NodeId::new(6, 9).unwrap()));
}

#[test]
fn a_missing_stored_node_or_leaf_is_the_sources_error() {
    let store = blake3_store(10, 1);
    // Past the stored leaves.
    assert!(matches!(
        node_hashes(&Blake3Hasher, &store, &range_nodes(0, 11)),
        Err(FetchError::Source(_))
    ));
    assert!(matches!(
        node_hashes(&Blake3Hasher, &store, &[NodeId::new(6, 0).unwrap()]),
        Err(FetchError::Source(_))
    ));
}

/// A source that drops the last leaf of every read.
struct ShortSource;

impl NodeSource for ShortSource {
    type Error = String;
    fn leaf_hashes(&self, range: Range<u64>) -> Result<Vec<Digest>, String> {
        Ok(vec![[0; 32]; (range.end - range.start - 1) as usize])
    }
    fn stored_node(&self, _: u8, _: u64) -> Result<Digest, String> {
        Err("none".into())
    }
}

#[test]
fn short_leaf_read_is_reported() {
    assert!(matches!(
        node_hashes(&Sha256Hasher, &ShortSource, &range_nodes(0, 5)),
        Err(FetchError::ShortLeafRead {
            start: 0,
            end: 5,
            got: 4
        })
    ));
}

/// A huge tree that exists only as counters: every read succeeds with a
/// made-up hash, so only the number and size of reads mean anything.
struct CountingSource {
    leaf_calls: Cell<usize>,
    leaves_read: Cell<u64>,
    node_calls: Cell<usize>,
}

impl NodeSource for CountingSource {
    type Error = String;
    fn leaf_hashes(&self, range: Range<u64>) -> Result<Vec<Digest>, String> {
        assert!(range.end - range.start <= LEAF_TILE_LEAVES);
        self.leaf_calls.set(self.leaf_calls.get() + 1);
        self.leaves_read
            .set(self.leaves_read.get() + range.end - range.start);
        Ok(range
            .map(|i| Sha256Hasher.hash_leaf(&i.to_le_bytes()))
            .collect())
    }
    fn stored_node(&self, level: u8, index: u64) -> Result<Digest, String> {
        assert!(level >= STORED_MIN_LEVEL);
        self.node_calls.set(self.node_calls.get() + 1);
        Ok(Sha256Hasher.hash_leaf(&[&[level][..], &index.to_le_bytes()].concat()))
    }
}

#[test]
fn proofs_in_a_trillion_leaf_tree_read_logarithmically_many_nodes() {
    const N: u64 = 1_000_000_000_037; // about 2^40, deliberately not a power of two
    let cases: [(&str, Vec<NodeId>); 4] = [
        (
            "inclusion, first leaf",
            inclusion_nodes(0, N).unwrap().ids().to_vec(),
        ),
        (
            "inclusion, last leaf",
            inclusion_nodes(N - 1, N).unwrap().ids().to_vec(),
        ),
        (
            "consistency",
            consistency_nodes(N / 3, N).unwrap().ids().to_vec(),
        ),
        ("root", range_nodes(0, N)),
    ];
    for (what, ids) in cases {
        let source = CountingSource {
            leaf_calls: Cell::new(0),
            leaves_read: Cell::new(0),
            node_calls: Cell::new(0),
        };
        let hashes = node_hashes(&Sha256Hasher, &source, &ids).unwrap();
        assert_eq!(hashes.len(), ids.len(), "{what}");
        assert!(
            source.node_calls.get() <= 2 * 40,
            "{what}: {} node reads",
            source.node_calls.get()
        );
        assert!(
            source.leaf_calls.get() <= 3,
            "{what}: {} leaf reads",
            source.leaf_calls.get()
        );
        assert!(
            source.leaves_read.get() <= 3 * LEAF_TILE_LEAVES,
            "{what}: {} leaves",
            source.leaves_read.get()
        );
    }
}

proptest! {
    // Every size and leaf costs O(n^2) proofs per case; a few cases of up to 300 leaves
    // cover levels 0..8 and keep the suite at seconds.
    #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]

    #[test]
    fn stored_roots_are_the_recursive_mth_at_every_size(n in 1usize..300, seed: u64) {
        let store = blake3_store(n, seed);
        for size in 0..=n {
            let want = mth(&Blake3Hasher, &store.leaves[..size]);
            prop_assert_eq!(store.frontier_at(size as u64).root(&Blake3Hasher), want);
            store.assert_reads_logarithmic(size as u64, "root");
        }
        prop_assert_eq!(store.frontier_at(n as u64), store.frontier.clone());
    }

    #[test]
    fn every_inclusion_proof_from_the_store_verifies(n in 1usize..300, seed: u64) {
        let store = blake3_store(n, seed);
        let h = Blake3Hasher;
        for m in 1..=n {
            let root = mth(&h, &store.leaves[..m]);
            for index in 0..m {
                let proof = store.inclusion_proof(index as u64, m as u64);
                store.assert_reads_logarithmic(m as u64, "inclusion");
                let leaf = store.leaves[index];
                prop_assert!(verify_inclusion(&h, index as u64, m as u64, &leaf, &proof, &root).is_ok());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn every_consistency_proof_from_the_store_verifies(n in 1usize..300, seed: u64, pairs in proptest::collection::vec((any::<usize>(), any::<usize>()), 64)) {
        let store = blake3_store(n, seed);
        let h = Blake3Hasher;
        for (a, b) in pairs {
            let m2 = 1 + b % n;
            let m1 = a % (m2 + 1);
            let proof = store.consistency_proof(m1 as u64, m2 as u64);
            store.assert_reads_logarithmic(m2 as u64, "consistency");
            let r1 = mth(&h, &store.leaves[..m1]);
            let r2 = mth(&h, &store.leaves[..m2]);
            prop_assert!(verify_consistency(&h, m1 as u64, m2 as u64, &proof, &r1, &r2).is_ok());
        }
    }
}
