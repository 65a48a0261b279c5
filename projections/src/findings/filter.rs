//! The filter in front of the duplicate search: the [`Payment::alike_digest`] of every
//! payment folded, kept as its top [`PREFIX_BITS`] bits (a reversed payment's stays: it
//! costs a search, never a wrong answer). A payment whose prefix is new has no alike
//! payment, and nothing is looked up; otherwise its household's payments are.
//!
//! 4 bytes per payment: the prefixes are sorted into 2^16 buckets by their top 16 bits,
//! which the bucket says, and each keeps its other 32 bits. 48 bits, not 32: among n
//! distinct payments a filter of b bits falsely matches about n²/2^(b+1) of them, each
//! costing a read of a household's whole trail from the log: with 32 bits 1,900 at
//! 4,000,000 payments (that doubled a 4M rebuild), with 48 bits 0.03. 64-bit digests took
//! 8 bytes a payment: 8 MB of the 1,000,000-event import's peak, 35 MB at 4,000,000.
//!
//! [`Payment::alike_digest`]: super::state::Payment::alike_digest

use rustc_hash::FxHashSet;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

/// Bits of a digest the filter keeps: its top 48.
pub(super) const PREFIX_BITS: u32 = 48;

/// Bits of a prefix that pick its bucket: 2^16 buckets, whose starts take 256 KiB, so a
/// search looks at a few entries (16 at a million payments) instead of binary searching
/// the whole list (20 cache misses; that search was a tenth of a rebuild).
const BUCKET_BITS: u32 = 16;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// Bits of a prefix kept in its entry: the rest of it below the bucket's.
const ENTRY_BITS: u32 = PREFIX_BITS - BUCKET_BITS;

/// Prefixes a filter holds unsorted before it merges them into its sorted list: 512 KiB
/// of them, so a merge (a pass over the whole list) comes once per 65,536 payments.
const RECENT_PREFIXES: usize = 1 << 16;

/// See the module documentation. In a snapshot: one ascending list of `u64`s, each a
/// prefix in the top 48 bits with 16 zero bits below it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(try_from = "Vec<u64>")]
pub(super) struct DigestFilter {
    /// Per bucket, ascending and distinct: each prefix's low [`ENTRY_BITS`].
    entries: Vec<u32>,
    /// Per bucket, where its entries start in `entries`, and one more, their number;
    /// empty while `entries` is.
    starts: Vec<u32>,
    /// Prefixes not in `entries`, until they are merged into it.
    recent: FxHashSet<u64>,
}

/// The prefix a digest is kept as.
fn prefix(digest: u64) -> u64 {
    digest >> (u64::BITS - PREFIX_BITS)
}

/// A prefix's bucket.
fn bucket(prefix: u64) -> usize {
    usize::try_from(prefix >> ENTRY_BITS).expect("a bucket is 16 bits")
}

/// A prefix's entry: its bits below the bucket's.
fn entry(prefix: u64) -> u32 {
    // The mask keeps 32 bits: the cast keeps them all.
    #[allow(clippy::cast_possible_truncation)]
    let low = (prefix & ((1 << ENTRY_BITS) - 1)) as u32;
    low
}

/// The prefix of `entry` in `bucket`.
fn prefix_of(bucket: usize, entry: u32) -> u64 {
    ((bucket as u64) << ENTRY_BITS) | u64::from(entry)
}

impl TryFrom<Vec<u64>> for DigestFilter {
    type Error = String;

    /// From a snapshot's list; a list of full digests (before prefixes were kept) reads
    /// as their prefixes.
    fn try_from(digests: Vec<u64>) -> Result<Self, Self::Error> {
        if !digests.windows(2).all(|w| w[0] < w[1]) {
            return Err("the duplicate filter's digests are not ascending".into());
        }
        let mut prefixes: Vec<u64> = digests.into_iter().map(prefix).collect();
        prefixes.dedup();
        let mut filter = DigestFilter::default();
        filter.merge_sorted(&prefixes);
        Ok(filter)
    }
}

impl DigestFilter {
    /// Adds `digest`; whether its prefix was new.
    pub(super) fn insert(&mut self, digest: u64) -> bool {
        let prefix = prefix(digest);
        if self.in_entries(prefix) || !self.recent.insert(prefix) {
            return false;
        }
        if self.recent.len() >= RECENT_PREFIXES {
            let mut recent: Vec<u64> = self.recent.drain().collect();
            recent.sort_unstable();
            self.merge_sorted(&recent);
        }
        true
    }

    fn in_entries(&self, prefix: u64) -> bool {
        let bucket = bucket(prefix);
        let (Some(start), Some(end)) = (self.starts.get(bucket), self.starts.get(bucket + 1))
        else {
            return false;
        };
        self.entries[*start as usize..*end as usize]
            .binary_search(&entry(prefix))
            .is_ok()
    }

    /// Merges `added` (ascending, none in `entries`) into `entries`, from the back, in
    /// place: no second copy of the list.
    fn merge_sorted(&mut self, added: &[u64]) {
        if added.is_empty() {
            return;
        }
        let old = self.entries.len();
        let mut starts = std::mem::take(&mut self.starts);
        if starts.is_empty() {
            starts = vec![0; BUCKETS + 1];
        }
        // Entries come in exactly as many as `added` holds, so a doubled capacity would
        // only be slack.
        self.entries.reserve_exact(added.len());
        self.entries.resize(old + added.len(), 0);
        let (mut i, mut j, mut to) = (old, added.len(), old + added.len());
        for b in (0..BUCKETS).rev() {
            let start = starts[b] as usize;
            loop {
                let theirs = j.checked_sub(1).filter(|k| bucket(added[*k]) == b);
                let ours = (i > start).then(|| self.entries[i - 1]);
                let next = match (ours, theirs.map(|k| entry(added[k]))) {
                    (Some(o), Some(t)) if o > t => {
                        i -= 1;
                        o
                    }
                    (_, Some(t)) => {
                        j -= 1;
                        t
                    }
                    (Some(o), None) => {
                        i -= 1;
                        o
                    }
                    (None, None) => break,
                };
                to -= 1;
                self.entries[to] = next;
            }
            starts[b] = u32::try_from(to).expect("fewer than 4 billion payments");
        }
        starts[BUCKETS] = u32::try_from(self.entries.len()).expect("fewer than 4 billion payments");
        self.starts = starts;
    }

    /// Every prefix, ascending.
    fn prefixes(&self) -> impl Iterator<Item = u64> + '_ {
        let mut recent: Vec<u64> = self.recent.iter().copied().collect();
        recent.sort_unstable();
        let kept = self.starts.windows(2).enumerate().flat_map(|(b, w)| {
            let run = &self.entries[w[0] as usize..w[1] as usize];
            run.iter().map(move |e| prefix_of(b, *e))
        });
        Merged {
            a: kept.peekable(),
            b: recent.into_iter().peekable(),
        }
    }

    fn len(&self) -> usize {
        self.entries.len() + self.recent.len()
    }
}

/// Two ascending, disjoint sequences as one.
struct Merged<A: Iterator<Item = u64>, B: Iterator<Item = u64>> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<A: Iterator<Item = u64>, B: Iterator<Item = u64>> Iterator for Merged<A, B> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        match (self.a.peek(), self.b.peek()) {
            (Some(a), Some(b)) if b < a => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

/// Serialized as one ascending list, however much of it is merged: the same prefixes give
/// the same bytes (a rebuild's snapshot equals the maintained one's, byte for byte).
impl Serialize for DigestFilter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for prefix in self.prefixes() {
            seq.serialize_element(&(prefix << (u64::BITS - PREFIX_BITS)))?;
        }
        seq.end()
    }
}

impl PartialEq for DigestFilter {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.prefixes().eq(other.prefixes())
    }
}

impl Eq for DigestFilter {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digests spread over all 64 bits, so every bucket is used.
    fn spread(n: u64) -> Vec<u64> {
        (0..n)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect()
    }

    #[test]
    fn the_filter_says_new_once_per_digest_across_merges_and_a_snapshot() {
        let mut filter = DigestFilter::default();
        let digests = spread(3 * RECENT_PREFIXES as u64 + 5);
        for d in &digests {
            assert!(filter.insert(*d), "{d} is new");
        }
        assert!(!filter.recent.is_empty() && !filter.entries.is_empty());
        for d in digests.iter().step_by(97) {
            assert!(!filter.insert(*d), "{d} is known");
        }
        let mut expected: Vec<u64> = digests.iter().map(|d| prefix(*d)).collect();
        expected.sort_unstable();
        assert!(filter.prefixes().eq(expected.iter().copied()));
        let bytes = bincode::serialize(&filter).unwrap();
        let back: DigestFilter = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, filter);
        assert!(back.recent.is_empty(), "loaded as one sorted list");
        assert_eq!(back.entries.len(), expected.len());
        let mut other = DigestFilter::default();
        for d in digests.iter().rev() {
            other.insert(*d);
        }
        assert_eq!(
            bincode::serialize(&other).unwrap(),
            bytes,
            "one order of bytes"
        );
    }

    /// A digest is known by its top 48 bits: one that differs only below them is the
    /// same, and one that differs in any of them (in the bucket's 16 or the entry's 32)
    /// is new, on either side of a merge.
    #[test]
    fn a_digest_is_known_by_its_top_48_bits() {
        let base = 0x1234_5678_9ABC_0000u64;
        let mut filter = DigestFilter::default();
        assert!(filter.insert(base | 0x00FF));
        assert!(!filter.insert(base | 0xFF00), "differs below the prefix");
        let recent: Vec<u64> = filter.recent.drain().collect();
        filter.merge_sorted(&recent);
        assert!(!filter.insert(base), "merged, still known");
        assert!(
            filter.insert(base ^ (1 << 16)),
            "differs in the entry's lowest bit"
        );
        assert!(
            filter.insert(base ^ (1 << 47)),
            "differs in the entry's highest bit"
        );
        assert!(
            filter.insert(base ^ (1 << 48)),
            "differs in the bucket's lowest bit"
        );
        assert!(
            filter.insert(base ^ (1 << 63)),
            "differs in the bucket's highest bit"
        );
        assert_eq!(filter.len(), 5);
    }

    /// A snapshot of full 64-bit digests (before prefixes were kept) reads as their
    /// prefixes; two digests of one prefix read as one.
    #[test]
    fn a_list_of_full_digests_reads_as_their_prefixes() {
        let digests = vec![5u64, 0xFFFF, 0x1_0000, u64::MAX - 1, u64::MAX];
        let bytes = bincode::serialize(&digests).unwrap();
        let back: DigestFilter = bincode::deserialize(&bytes).unwrap();
        assert_eq!(
            back.prefixes().collect::<Vec<_>>(),
            [0, 1, prefix(u64::MAX)]
        );
        let written: Vec<u64> = bincode::deserialize(&bincode::serialize(&back).unwrap()).unwrap();
        assert_eq!(written, [0, 0x1_0000, !0xFFFF_u64]);
    }

    #[test]
    fn a_filter_whose_list_is_not_ascending_is_refused() {
        let bytes = bincode::serialize(&vec![1u64, 3, 2]).unwrap();
        let refused = bincode::deserialize::<DigestFilter>(&bytes).unwrap_err();
        assert!(refused.to_string().contains("not ascending"), "{refused}");
        let repeated = bincode::serialize(&vec![1u64, 1]).unwrap();
        assert!(bincode::deserialize::<DigestFilter>(&repeated).is_err());
    }

    /// Merges in any order of batches give one filter, answering as a set of prefixes.
    #[test]
    fn merges_of_any_batches_answer_as_a_set() {
        let digests = spread(10_000);
        let mut reference = std::collections::BTreeSet::new();
        let mut filter = DigestFilter::default();
        for (i, chunk) in digests.chunks(777).enumerate() {
            let mut batch: Vec<u64> = chunk.iter().map(|d| prefix(*d)).collect();
            batch.sort_unstable();
            batch.retain(|p| !reference.contains(p));
            batch.dedup();
            filter.merge_sorted(&batch);
            reference.extend(batch);
            if i % 3 == 0 {
                assert!(filter.prefixes().eq(reference.iter().copied()));
            }
        }
        for d in &digests {
            assert!(filter.in_entries(prefix(*d)));
        }
        assert!(!filter.in_entries(prefix(digests[0]) ^ 1));
    }
}
