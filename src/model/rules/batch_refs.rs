//! The references a batch has planned, for the planner's lookups (a retry, a reversal of a
//! payment made earlier in the batch, a replay's check that no reference repeats). A batch
//! may hold millions of rows (a replay holds the whole log), so each reference is held as
//! a 16-byte digest in plan order, found through a table of positions hashed by its first
//! 4 bytes (about 26 bytes per row at the table's load); once the batch's events are
//! written and can be read back ([`BatchRefs::archive`]), only those 4 bytes, its
//! fingerprint, with its entry in a [`FingerprintTable`] (6 bytes; a table of positions
//! over a vector of fingerprints took about 13). The text in an arena with its end and a
//! position took about 42.
//!
//! The digest stands for the text ([`RefDigest`], keyed under a key drawn once per
//! process: `model::keyed`). Two references with one digest would make a new reference
//! look planned (a false repeat) or a reversal find another payment (a hidden fault in a
//! replay); with a key nobody knows when the log or the file was written, such a pair
//! cannot be made ahead, and one by chance takes about 2^64 references. The same
//! reference always has the same digest, so a repeated reference is never missed. An
//! archived entry keeps only its fingerprint (the digest's first 4 bytes): a match is a
//! candidate, which the planner confirms by reading the written event's reference back
//! (about one false candidate per 4,000 lookups against a million entries).

use hashbrown::HashTable;

use crate::model::fingerprints::{FingerprintTable, Prefetch};
pub(super) use crate::model::keyed::RefDigest;

/// The table's hash of a fingerprint: spread over 64 bits, since the table takes its
/// position from the low bits and a tag from the top 7 (the fingerprint is uniform, so a
/// multiplication by an odd constant serves, and the table never hashes a reference
/// again as it grows).
fn table_hash(fingerprint: u32) -> u64 {
    u64::from(fingerprint).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The references planned in one batch, in plan order: entry `i` is the batch's `i`-th
/// planned event. Entries before `archived()` keep only their fingerprint.
#[derive(Clone, Default)]
pub(super) struct BatchRefs {
    /// The fingerprints of the archived entries, `0..archived()`, each with its entry:
    /// 6 bytes an entry (a table of positions over a vector of fingerprints took about 13,
    /// and as the table doubled, 15 at 4,000,000 rows).
    archived: FingerprintTable,
    /// The digests of the entries after them, in plan order.
    recent: Vec<RefDigest>,
    /// The recent entries' indexes, hashed by their fingerprint.
    table: HashTable<u32>,
}

/// Where a reference is among a batch's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Found {
    /// At this entry, known by its digest.
    At(usize),
    /// Perhaps at one of these archived entries (in plan order), whose fingerprint is the
    /// reference's: the caller reads them back to tell.
    Candidates(Vec<usize>),
}

impl BatchRefs {
    /// The number of references held.
    pub(super) fn len(&self) -> usize {
        self.archived() + self.recent.len()
    }

    /// The entries that keep only their fingerprint: `0..archived()`.
    pub(super) fn archived(&self) -> usize {
        self.archived.len()
    }

    /// The fingerprint of recent entry `i` (an index among all the entries).
    fn fingerprint(archived: usize, recent: &[RefDigest], i: u32) -> u32 {
        recent[i as usize - archived].fingerprint()
    }

    /// Makes room for `additional` more references without growing the table.
    pub(super) fn reserve(&mut self, additional: usize) {
        let archived = self.archived();
        let Self { recent, table, .. } = self;
        recent.reserve_exact(additional);
        table.reserve(additional, |&i| {
            table_hash(BatchRefs::fingerprint(archived, recent, i))
        });
    }

    /// Starts loading what [`BatchRefs::get`] of `digest` will read among the archived
    /// entries ([`FingerprintTable::prefetch`]).
    pub(super) fn prefetch(&self, digest: &RefDigest, stage: Prefetch) {
        self.archived.prefetch(digest.fingerprint(), stage);
    }

    /// Where the reference of `digest` may be: its entry when a digest held says so,
    /// else the archived entries that share its fingerprint (none: it is not held).
    pub(super) fn get(&self, digest: &RefDigest) -> Found {
        let fingerprint = digest.fingerprint();
        let archived = self.archived();
        let recent = self.table.find(table_hash(fingerprint), |&i| {
            self.recent[i as usize - archived] == *digest
        });
        if let Some(&i) = recent {
            return Found::At(i as usize);
        }
        let candidates = self.archived.candidates(fingerprint);
        Found::Candidates(candidates.into_iter().map(|i| i as usize).collect())
    }

    /// Adds the reference of `digest` as the next entry; the caller has checked it is not
    /// held yet.
    pub(super) fn push(&mut self, digest: RefDigest) {
        let index = u32::try_from(self.len()).expect(
            "a batch plans fewer than 2^32 events: its plan holds 6 bytes or more per event",
        );
        self.recent.push(digest);
        let archived = self.archived();
        let Self { recent, table, .. } = self;
        table.insert_unique(table_hash(digest.fingerprint()), index, |&i| {
            table_hash(BatchRefs::fingerprint(archived, recent, i))
        });
    }

    /// Keeps only the fingerprints of the entries before `upto` (those whose events the
    /// caller can read back); an entry archived stays so.
    pub(super) fn archive(&mut self, upto: usize) {
        let upto = upto.min(self.len());
        let first = self.archived();
        let Some(more) = upto.checked_sub(first) else {
            return;
        };
        let mut moved = Vec::with_capacity(more);
        for (k, digest) in self.recent.drain(..more).enumerate() {
            let index = u32::try_from(first + k).expect("an entry held has a u32 index");
            let fingerprint = digest.fingerprint();
            if let Ok(slot) = self
                .table
                .find_entry(table_hash(fingerprint), |&i| i == index)
            {
                slot.remove();
            }
            moved.push((fingerprint, index));
        }
        self.archived.extend(moved);
    }

    /// Forgets every entry from `len` on (a rolled back request of a group, which archives
    /// nothing).
    pub(super) fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        let kept = len
            .checked_sub(self.archived())
            .expect("only a batch that archives nothing is rolled back");
        self.table.retain(|&mut i| (i as usize) < len);
        self.recent.truncate(kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(refs: &BatchRefs, reference: &str) -> Option<usize> {
        match refs.get(&RefDigest::of(reference)) {
            Found::At(i) => Some(i),
            Found::Candidates(c) if c.is_empty() => None,
            Found::Candidates(c) => panic!("{reference}: unexpected candidates {c:?}"),
        }
    }

    fn push(refs: &mut BatchRefs, reference: &str) {
        refs.push(RefDigest::of(reference));
    }

    /// A digest whose fingerprint is `fingerprint`, the rest `rest`.
    fn digest_with(fingerprint: u32, rest: u8) -> RefDigest {
        let mut bytes = [rest; crate::model::keyed::DIGEST_BYTES];
        bytes[..4].copy_from_slice(&fingerprint.to_le_bytes());
        RefDigest::from_bytes(bytes)
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
        assert!(refs.recent.capacity() >= 1_001);
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
            if i % 3_000 == 2_999 {
                refs.archive(i - 100);
            }
        }
        assert_eq!(refs.archived(), 8_899);
        for i in (0..10_000).step_by(7) {
            let found = refs.get(&RefDigest::of(&format!("R-{i}")));
            let expected = if i < 8_899 {
                Found::Candidates(vec![i])
            } else {
                Found::At(i)
            };
            assert_eq!(found, expected, "R-{i}");
        }
        assert_eq!(get(&refs, "R-10000"), None);
    }

    #[test]
    fn an_archived_entry_is_a_candidate_by_its_fingerprint_and_a_recent_one_is_exact() {
        let mut refs = BatchRefs::default();
        refs.push(digest_with(7, 1));
        refs.push(digest_with(9, 1));
        refs.push(digest_with(7, 2));
        refs.archive(2);
        assert_eq!(refs.archived(), 2);
        // Entry 0 shares only its fingerprint with the lookup: the caller must read it.
        assert_eq!(refs.get(&digest_with(7, 3)), Found::Candidates(vec![0]));
        assert_eq!(refs.get(&digest_with(7, 1)), Found::Candidates(vec![0]));
        assert_eq!(refs.get(&digest_with(7, 2)), Found::At(2));
        assert_eq!(refs.get(&digest_with(9, 5)), Found::Candidates(vec![1]));
        assert_eq!(refs.get(&digest_with(8, 1)), Found::Candidates(vec![]));
        refs.push(digest_with(7, 4));
        refs.archive(10);
        assert_eq!(refs.archived(), 4, "archiving stops at the entries held");
        assert_eq!(
            refs.get(&digest_with(7, 9)),
            Found::Candidates(vec![0, 2, 3])
        );
        refs.archive(1);
        assert_eq!(refs.archived(), 4, "an entry archived stays so");
    }

    #[test]
    fn archiving_moves_entries_out_of_the_hashed_table() {
        let mut refs = BatchRefs::default();
        for i in 0..10 {
            push(&mut refs, &format!("R-{i}"));
        }
        refs.archive(6);
        assert_eq!(refs.table.len(), 4, "only the recent entries are hashed");
        assert_eq!(refs.archived.len(), 6);
        refs.truncate(8);
        assert_eq!(refs.table.len(), 2);
        push(&mut refs, "R-8");
        assert_eq!(get(&refs, "R-8"), Some(8));
        assert_eq!(get(&refs, "R-9"), None, "truncated");
        refs.archive(9);
        assert_eq!((refs.table.len(), refs.archived()), (0, 9));
        assert_eq!(refs.get(&RefDigest::of("R-8")), Found::Candidates(vec![8]));
    }

    #[test]
    #[should_panic(expected = "only a batch that archives nothing is rolled back")]
    fn rolling_back_into_archived_entries_is_a_programming_error() {
        let mut refs = BatchRefs::default();
        for r in ["A-1", "A-2", "A-3"] {
            push(&mut refs, r);
        }
        refs.archive(2);
        refs.truncate(1);
    }
}
