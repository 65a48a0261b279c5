//! The reference index in memory: each committed reference as a 16-byte BLAKE3 digest with
//! its seq, in one sorted vector and a small sorted set of the latest additions.
//!
//! A map from each reference's text to its seq took about 80 bytes per event (the table at
//! half load, a boxed string, the allocator's rounding): 4,000,000 events held about 320 MB
//! of `serve`'s 973 MiB, and hashing every text into it at open was 40% of a no-op import's
//! CPU. An entry here takes 24 bytes, and the index is built by one sort.
//!
//! The digest stands for the text: BLAKE3, keyed with a key derived from a fixed context,
//! cut to 128 bits, so that two references with one digest (which would make a new
//! reference look recorded, or a reversal find another event) take about 2^64 work to
//! find. The index is rebuilt from the reference blocks, whose digest the ledger seals, as
//! before; nothing of it is stored.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::model::domain::Seq;

/// Bytes of a reference's digest in the index.
const DIGEST_BYTES: usize = 16;

/// Domain separation of a reference's digest from every other BLAKE3 use.
const DIGEST_CONTEXT: &str = "fundtrail reference index v1";

/// The fewest additions kept in the recent set before it is merged into the sorted vector:
/// a merge moves every entry, so below this a busy server would merge on every append.
const MIN_RECENT_ENTRIES: usize = 4_096;

/// The recent set may grow to this fraction of the sorted vector (1/N) before a merge, so
/// a merge's cost, spread over the additions that led to it, stays a few entry moves each.
const RECENT_FRACTION: usize = 16;

/// A reference's digest: what the index keeps instead of its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReferenceDigest([u8; DIGEST_BYTES]);

impl ReferenceDigest {
    pub fn of(reference: &str) -> ReferenceDigest {
        // The context's key is derived once: deriving it per reference took two of the
        // three BLAKE3 compressions each digest cost.
        static KEY: OnceLock<[u8; 32]> = OnceLock::new();
        let key = KEY.get_or_init(|| blake3::derive_key(DIGEST_CONTEXT, b""));
        let hash = blake3::keyed_hash(key, reference.as_bytes());
        let mut digest = [0; DIGEST_BYTES];
        digest.copy_from_slice(&hash.as_bytes()[..DIGEST_BYTES]);
        ReferenceDigest(digest)
    }
}

/// One reference: its digest, then its seq (the sort order).
type Entry = (ReferenceDigest, Seq);

/// Every committed reference with its seq; see the module documentation.
#[derive(Debug, Default)]
pub struct ReferenceIndex {
    /// Sorted by digest, then seq.
    sorted: Vec<Entry>,
    /// Added since the last merge.
    recent: BTreeSet<Entry>,
}

impl ReferenceIndex {
    /// The index of `entries`, in any order.
    pub fn from_entries(mut entries: Vec<Entry>) -> ReferenceIndex {
        entries.sort_unstable();
        entries.shrink_to_fit();
        ReferenceIndex {
            sorted: entries,
            recent: BTreeSet::new(),
        }
    }

    /// The seq recorded under `reference`. A ledger records each reference once; were one
    /// listed twice (a damaged store, which `verify` reports), the later seq is the answer.
    pub fn get(&self, reference: &str) -> Option<Seq> {
        let digest = ReferenceDigest::of(reference);
        let start = self.sorted.partition_point(|(d, _)| *d < digest);
        let sorted = self.sorted[start..]
            .iter()
            .take_while(|(d, _)| *d == digest)
            .map(|(_, seq)| *seq);
        let low = (digest, Seq::new(0));
        let high = (digest, Seq::new(u64::MAX));
        let recent = self.recent.range(low..=high).map(|(_, seq)| *seq);
        sorted.chain(recent).max()
    }

    /// Adds references committed after every one already listed.
    pub fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) {
        self.recent.extend(entries);
        if self.recent.len() >= MIN_RECENT_ENTRIES.max(self.sorted.len() / RECENT_FRACTION) {
            self.merge();
        }
    }

    /// Moves the recent set into the sorted vector, merging from the back in place (no
    /// second copy of the vector).
    fn merge(&mut self) {
        let recent: Vec<Entry> = std::mem::take(&mut self.recent).into_iter().collect();
        let old = self.sorted.len();
        self.sorted.reserve_exact(recent.len());
        self.sorted.extend_from_slice(&recent);
        let (mut i, mut j) = (old, recent.len());
        let mut out = self.sorted.len();
        while j > 0 {
            out -= 1;
            if i > 0 && self.sorted[i - 1] > recent[j - 1] {
                self.sorted[out] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[out] = recent[j - 1];
                j -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn entry(reference: &str, seq: u64) -> Entry {
        (ReferenceDigest::of(reference), Seq::new(seq))
    }

    #[test]
    fn a_digest_is_fixed_and_tells_texts_apart() {
        assert_eq!(ReferenceDigest::of("PAY-1"), ReferenceDigest::of("PAY-1"));
        assert_ne!(ReferenceDigest::of("PAY-1"), ReferenceDigest::of("PAY-10"));
        assert_ne!(ReferenceDigest::of(""), ReferenceDigest::of(" "));
        // Fixed across versions and machines: nothing stores it, but a change should be
        // deliberate.
        let key = blake3::derive_key(DIGEST_CONTEXT, b"");
        assert_eq!(
            hex::encode(ReferenceDigest::of("PAY-1").0),
            hex::encode(&blake3::keyed_hash(&key, b"PAY-1").as_bytes()[..DIGEST_BYTES])
        );
    }

    #[test]
    fn a_reference_listed_twice_answers_its_later_seq_wherever_each_sits() {
        let mut index = ReferenceIndex::from_entries(vec![entry("A", 9), entry("B", 2)]);
        assert_eq!(index.get("A"), Some(Seq::new(9)));
        index.extend([entry("A", 12)]);
        assert_eq!(index.get("A"), Some(Seq::new(12)), "recent beats sorted");
        index.merge();
        assert_eq!(index.get("A"), Some(Seq::new(12)), "after the merge too");
        assert_eq!(index.get("C"), None);
    }

    proptest! {
        /// Built, extended and merged in any steps, the index answers as a map of texts.
        #[test]
        fn answers_as_a_map_of_texts(
            first in prop::collection::vec(0..400u32, 0..300),
            steps in prop::collection::vec(prop::collection::vec(0..400u32, 0..50), 0..20),
        ) {
            let mut model: HashMap<String, u64> = HashMap::new();
            let mut seq = 0u64;
            let mut entries = Vec::new();
            for n in first {
                seq += 1;
                model.insert(format!("R-{n}"), seq);
                entries.push(entry(&format!("R-{n}"), seq));
            }
            let mut index = ReferenceIndex::from_entries(entries);
            for (round, step) in steps.into_iter().enumerate() {
                let mut added = Vec::new();
                for n in step {
                    seq += 1;
                    model.insert(format!("R-{n}"), seq);
                    added.push(entry(&format!("R-{n}"), seq));
                }
                index.extend(added);
                if round % 3 == 2 {
                    index.merge();
                }
                prop_assert!(index.sorted.windows(2).all(|w| w[0] <= w[1]));
            }
            for n in 0..400u32 {
                let text = format!("R-{n}");
                prop_assert_eq!(index.get(&text), model.get(&text).map(|s| Seq::new(*s)));
            }
        }
    }
}
