//! The references a batch has planned, for the planner's lookups (a retry, a reversal of a
//! payment made earlier in the batch). A batch may hold millions of rows, so each
//! reference is held once, in one arena of text, and the table holds only its position:
//! 14 to 19 bytes per row besides the text, where a map of boxed strings took about 80
//! (the table, the box, and the allocator's rounding of each box).

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// The references planned in one batch, in plan order: entry `i` is the batch's `i`-th
/// planned event.
#[derive(Clone, Default)]
pub(super) struct BatchRefs {
    /// Every reference, one after the other.
    text: String,
    /// Where each reference ends in `text`; it starts where the one before it ends.
    ends: Vec<usize>,
    /// Entry indexes, hashed by their reference.
    table: HashTable<u32>,
    /// Seeded at random per process: a file cannot be made of references that collide.
    state: foldhash::fast::RandomState,
}

impl BatchRefs {
    /// The number of references held.
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Makes room for `additional` more references without growing the table, and for
    /// their text if they are of a typical length.
    pub(super) fn reserve(&mut self, additional: usize) {
        let Self {
            text,
            ends,
            table,
            state,
        } = self;
        text.reserve_exact(additional.saturating_mul(TYPICAL_REFERENCE_BYTES));
        ends.reserve_exact(additional);
        table.reserve(additional, |&i| state.hash_one(entry(text, ends, i)));
    }

    /// The entry holding `reference`, if any.
    pub(super) fn get(&self, reference: &str) -> Option<usize> {
        let hash = self.state.hash_one(reference);
        self.table
            .find(hash, |&i| entry(&self.text, &self.ends, i) == reference)
            .map(|&i| i as usize)
    }

    /// Adds `reference` as the next entry; the caller has checked it is not held yet.
    pub(super) fn push(&mut self, reference: &str) {
        let index = u32::try_from(self.ends.len())
            .expect("a batch plans fewer than 2^32 events: its plan holds 40 bytes per event");
        self.text.push_str(reference);
        self.ends.push(self.text.len());
        let Self {
            text,
            ends,
            table,
            state,
        } = self;
        let hash = state.hash_one(reference);
        table.insert_unique(hash, index, |&i| state.hash_one(entry(text, ends, i)));
    }

    /// Forgets every entry from `len` on (a rolled back request of a group).
    pub(super) fn truncate(&mut self, len: usize) {
        if len >= self.ends.len() {
            return;
        }
        self.table.retain(|&mut i| (i as usize) < len);
        self.ends.truncate(len);
        self.text.truncate(self.ends.last().copied().unwrap_or(0));
    }
}

/// Bytes of text reserved per reference: a typical payment's reference (`SIM-SA-202101-
/// SIM-00001` is 23 bytes). Longer ones grow the text as they come.
const TYPICAL_REFERENCE_BYTES: usize = 24;

/// The reference of entry `i`.
fn entry<'t>(text: &'t str, ends: &[usize], i: u32) -> &'t str {
    let i = i as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &text[start..ends[i]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_reference_at_its_entry_and_forgets_truncated_ones() {
        let mut refs = BatchRefs::default();
        for r in ["A-1", "B-22", "", "C-333"] {
            assert_eq!(refs.get(r), None);
            refs.push(r);
        }
        assert_eq!(refs.get("A-1"), Some(0));
        assert_eq!(refs.get("B-22"), Some(1));
        assert_eq!(refs.get(""), Some(2));
        assert_eq!(refs.get("C-333"), Some(3));
        assert_eq!(refs.get("C-33"), None, "a prefix is another reference");
        refs.truncate(2);
        assert_eq!(refs.len(), 2);
        assert_eq!((refs.get(""), refs.get("C-333")), (None, None));
        assert_eq!(refs.get("B-22"), Some(1));
        refs.push("C-333");
        assert_eq!(refs.get("C-333"), Some(2));
        refs.truncate(0);
        assert_eq!((refs.len(), refs.get("A-1")), (0, None));
    }

    #[test]
    fn a_reserved_table_holds_its_references_without_growing() {
        let mut refs = BatchRefs::default();
        refs.push("A-0");
        refs.reserve(1_000);
        let capacity = refs.table.capacity();
        assert!(capacity >= 1_001);
        assert!(refs.text.capacity() >= 1_000 * TYPICAL_REFERENCE_BYTES);
        for i in 1..=1_000 {
            refs.push(&format!("A-{i}"));
        }
        assert_eq!(refs.table.capacity(), capacity);
        assert_eq!((refs.get("A-0"), refs.get("A-1000")), (Some(0), Some(1000)));
        assert_eq!(refs.get("A-1001"), None);
    }

    #[test]
    fn holds_many_references_through_the_table_growing() {
        let mut refs = BatchRefs::default();
        for i in 0..10_000 {
            refs.push(&format!("R-{i}"));
        }
        for i in (0..10_000).step_by(7) {
            assert_eq!(refs.get(&format!("R-{i}")), Some(i));
        }
        assert_eq!(refs.get("R-10000"), None);
    }
}
