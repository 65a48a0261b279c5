//! The references a batch has planned, for the planner's lookups (a retry, a reversal of a
//! payment made earlier in the batch, a replay's check that no reference repeats). A batch
//! may hold millions of rows (a replay holds the whole log), so each reference is held as
//! a 16-byte digest in plan order, and a table of positions finds it: about 26 bytes per
//! row (the digest and, at the table's load, 10 bytes of positions), where the text in an
//! arena with its end and a position took about 42 at a million rows.
//!
//! The digest stands for the text: BLAKE3 keyed with a key drawn once per process and cut
//! to 128 bits. Two references with one digest would make a new reference look planned
//! (a false repeat) or a reversal find another payment (a hidden fault in a replay); with
//! a key nobody knows when the log or the file was written, such a pair cannot be made
//! ahead, and one by chance takes about 2^64 references. The same reference always has
//! the same digest, so a repeated reference is never missed.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use hashbrown::HashTable;

/// Bytes of a reference's digest.
const DIGEST_BYTES: usize = 16;

/// A reference's digest: what the table keeps instead of its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RefDigest([u8; DIGEST_BYTES]);

impl RefDigest {
    pub(super) fn of(reference: &str) -> RefDigest {
        let hash = blake3::keyed_hash(process_key(), reference.as_bytes());
        let mut digest = [0; DIGEST_BYTES];
        digest.copy_from_slice(&hash.as_bytes()[..DIGEST_BYTES]);
        RefDigest(digest)
    }

    /// The table's hash: the digest is already uniform, so its first 8 bytes serve, and
    /// the table never hashes a reference again as it grows.
    fn table_hash(&self) -> u64 {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(bytes)
    }
}

/// The key of every digest this process makes, drawn on first use. std seeds its
/// `RandomState` from the operating system (128 bits, once per thread), as every
/// `HashMap` here is seeded; four of its outputs make the key.
fn process_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let state = std::hash::RandomState::new();
        let mut key = [0; 32];
        for (i, chunk) in key.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&state.hash_one(i).to_le_bytes());
        }
        key
    })
}

/// The references planned in one batch, in plan order: entry `i` is the batch's `i`-th
/// planned event.
#[derive(Clone, Default)]
pub(super) struct BatchRefs {
    /// Every reference's digest, in plan order.
    digests: Vec<RefDigest>,
    /// Entry indexes, hashed by their digest.
    table: HashTable<u32>,
}

impl BatchRefs {
    /// The number of references held.
    pub(super) fn len(&self) -> usize {
        self.digests.len()
    }

    /// Makes room for `additional` more references without growing the table.
    pub(super) fn reserve(&mut self, additional: usize) {
        let Self { digests, table } = self;
        digests.reserve_exact(additional);
        table.reserve(additional, |&i| digests[i as usize].table_hash());
    }

    /// The entry holding the reference of `digest`, if any.
    pub(super) fn get(&self, digest: &RefDigest) -> Option<usize> {
        self.table
            .find(digest.table_hash(), |&i| {
                self.digests[i as usize] == *digest
            })
            .map(|&i| i as usize)
    }

    /// Adds the reference of `digest` as the next entry; the caller has checked it is not
    /// held yet.
    pub(super) fn push(&mut self, digest: RefDigest) {
        let index = u32::try_from(self.digests.len())
            .expect("a batch plans fewer than 2^32 events: its plan holds 50 bytes per event");
        self.digests.push(digest);
        let Self { digests, table } = self;
        table.insert_unique(digest.table_hash(), index, |&i| {
            digests[i as usize].table_hash()
        });
    }

    /// Forgets every entry from `len` on (a rolled back request of a group).
    pub(super) fn truncate(&mut self, len: usize) {
        if len >= self.digests.len() {
            return;
        }
        self.table.retain(|&mut i| (i as usize) < len);
        self.digests.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(refs: &BatchRefs, reference: &str) -> Option<usize> {
        refs.get(&RefDigest::of(reference))
    }

    fn push(refs: &mut BatchRefs, reference: &str) {
        refs.push(RefDigest::of(reference));
    }

    #[test]
    fn finds_each_reference_at_its_entry_and_forgets_truncated_ones() {
        let mut refs = BatchRefs::default();
        for r in ["A-1", "B-22", "", "C-333"] {
            assert_eq!(get(&refs, r), None);
            push(&mut refs, r);
        }
        assert_eq!(get(&refs, "A-1"), Some(0));
        assert_eq!(get(&refs, "B-22"), Some(1));
        assert_eq!(get(&refs, ""), Some(2));
        assert_eq!(get(&refs, "C-333"), Some(3));
        assert_eq!(get(&refs, "C-33"), None, "a prefix is another reference");
        refs.truncate(2);
        assert_eq!(refs.len(), 2);
        assert_eq!((get(&refs, ""), get(&refs, "C-333")), (None, None));
        assert_eq!(get(&refs, "B-22"), Some(1));
        push(&mut refs, "C-333");
        assert_eq!(get(&refs, "C-333"), Some(2));
        refs.truncate(0);
        assert_eq!((refs.len(), get(&refs, "A-1")), (0, None));
    }

    #[test]
    fn a_reserved_table_holds_its_references_without_growing() {
        let mut refs = BatchRefs::default();
        push(&mut refs, "A-0");
        refs.reserve(1_000);
        let capacity = refs.table.capacity();
        assert!(capacity >= 1_001);
        assert!(refs.digests.capacity() >= 1_001);
        for i in 1..=1_000 {
            push(&mut refs, &format!("A-{i}"));
        }
        assert_eq!(refs.table.capacity(), capacity);
        assert_eq!(
            (get(&refs, "A-0"), get(&refs, "A-1000")),
            (Some(0), Some(1000))
        );
        assert_eq!(get(&refs, "A-1001"), None);
    }

    #[test]
    fn holds_many_references_through_the_table_growing() {
        let mut refs = BatchRefs::default();
        for i in 0..10_000 {
            push(&mut refs, &format!("R-{i}"));
        }
        for i in (0..10_000).step_by(7) {
            assert_eq!(get(&refs, &format!("R-{i}")), Some(i));
        }
        assert_eq!(get(&refs, "R-10000"), None);
    }

    #[test]
    fn a_digest_is_the_same_for_the_same_text_and_differs_for_another() {
        assert_eq!(RefDigest::of("SIM-SA-1"), RefDigest::of("SIM-SA-1"));
        assert_ne!(RefDigest::of("SIM-SA-1"), RefDigest::of("SIM-SA-2"));
        assert_ne!(RefDigest::of(""), RefDigest::of(" "));
    }
}
