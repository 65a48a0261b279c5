//! A table of 32-bit fingerprints, each with a 32-bit value (a seq, an entry's position),
//! held in 6 bytes an entry: bucketed by the fingerprint's top [`BUCKET_BITS`], an entry
//! keeps the fingerprint's other bits and its value. A lookup by fingerprint gives every
//! value listed under it; the caller confirms each (the store's reference index and a
//! large import's planner read the event back). Pure: no key, no IO. Entries come in runs
//! (a build, then additions in order): additions wait in a small hashed set and are
//! merged in from the back, in place, once the set reaches a fraction of the table.

use hashbrown::HashTable;

use fundtrail_projections::prefetch;

/// Bits of a fingerprint.
const FINGERPRINT_BITS: u32 = 32;

/// Bits of a fingerprint that choose its bucket; an entry keeps the other [`LOW_BITS`].
/// 2^16 buckets take 512 KiB of bounds, and hold 15 entries each at 1,000,000 entries.
const BUCKET_BITS: u32 = 16;

/// The fingerprint's bits an entry keeps: a `u16`.
const LOW_BITS: u32 = FINGERPRINT_BITS - BUCKET_BITS;
const _: () = assert!(
    LOW_BITS == u16::BITS,
    "an entry keeps its low bits in a u16"
);

/// Buckets of the table.
const BUCKETS: usize = 1 << BUCKET_BITS;

/// The fewest additions kept in the recent set before it is merged into the buckets: a
/// merge moves every entry, so below this a busy server would merge on every append.
const MIN_RECENT_ENTRIES: usize = 4_096;

/// The recent set may grow to this fraction of the buckets' entries (1/N) before a merge,
/// so a merge's cost, spread over the additions that led to it, stays a few moves each.
const RECENT_FRACTION: usize = 16;

/// Destinations of one pass of [`FingerprintTable::place_in_buckets`]: a byte of a bucket.
const DISTRIBUTED_KEYS: usize = 256;
const _: () = assert!(DISTRIBUTED_KEYS * DISTRIBUTED_KEYS == BUCKETS);

/// One entry: its fingerprint in the high 32 bits, its value in the low 32 (the sort
/// order: by fingerprint, then value).
fn entry(fingerprint: u32, value: u32) -> u64 {
    u64::from(fingerprint) << (64 - FINGERPRINT_BITS) | u64::from(value)
}

/// An entry's value bits: the low 32.
const VALUE_MASK: u64 = (1 << (64 - FINGERPRINT_BITS)) - 1;

/// An entry's value: its low 32 bits.
fn value_of(entry: u64) -> u32 {
    (entry & VALUE_MASK) as u32
}

/// An entry's bucket: the top [`BUCKET_BITS`] of its fingerprint.
fn bucket_of(entry: u64) -> u16 {
    (entry >> (64 - BUCKET_BITS)) as u16
}

/// The fingerprint's bits an entry keeps beside its bucket.
fn low_of(entry: u64) -> u16 {
    ((entry >> (64 - FINGERPRINT_BITS)) & ((1 << LOW_BITS) - 1)) as u16
}

/// The entry of `bucket`, `low` and `value`, as [`entry`] makes it.
fn packed(bucket: usize, low: u16, value: u32) -> u64 {
    (bucket as u64) << (64 - BUCKET_BITS)
        | u64::from(low) << (64 - FINGERPRINT_BITS)
        | u64::from(value)
}

/// The entries' parallel vectors while the table is built.
struct Arrays<'a> {
    building: &'a mut [u16],
    lows: &'a mut [u16],
    values: &'a mut [u32],
}

impl Arrays<'_> {
    /// Moves each entry between `bounds[0]` and its last to the range of its `key`
    /// (`bounds[k]..bounds[k + 1]`, counted beforehand), in place: an "American flag"
    /// distribution, where every swap puts one entry where it belongs.
    fn distribute(&mut self, bounds: &[usize], key: impl Fn(u16) -> usize) {
        let keys = bounds.len() - 1;
        let mut next = bounds[..keys].to_vec();
        for k in 0..keys {
            while next[k] < bounds[k + 1] {
                let i = next[k];
                let target = key(self.building[i]);
                if target == k {
                    next[k] += 1;
                    continue;
                }
                let j = next[target];
                self.building.swap(i, j);
                self.lows.swap(i, j);
                self.values.swap(i, j);
                next[target] += 1;
            }
        }
    }
}

/// A stage of [`FingerprintTable::prefetch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    /// The bucket's bounds, two rows ahead.
    Bounds,
    /// The bucket's first entries, a row ahead.
    Entries,
}

/// Fingerprints and their values; see the module documentation. An entry takes 6 bytes
/// where a `u64` of both took 8, for the same false matches.
#[derive(Debug, Clone, Default)]
pub struct FingerprintTable {
    /// `starts[b]..starts[b + 1]` are bucket `b`'s entries in `lows` and `values`
    /// (`BUCKETS + 1` offsets), or empty while no entry was merged (a small batch's
    /// planner never pays for the bounds); stale while the table is built.
    starts: Vec<usize>,
    /// Per entry, the fingerprint's low [`LOW_BITS`]: within a bucket the entries are
    /// sorted by these, then by value.
    lows: Vec<u16>,
    /// Per entry, its value.
    values: Vec<u32>,
    /// While the table is built, each entry's bucket; emptied by [`FingerprintTable::finish`].
    building: Vec<u16>,
    /// Added since the last merge, as [`entry`] makes them.
    recent: Recent,
}

/// The entries added since the last merge, hashed by fingerprint: a lookup and an addition
/// each cost one probe, where a sorted set took a search of its tree each (in a 1,000,000
/// row import, 7% of the planning thread's samples; benches/README.md, "The planner's
/// keyed digests and recent fingerprints").
#[derive(Debug, Clone, Default)]
struct Recent(HashTable<u64>);

impl Recent {
    /// A fingerprint's hash in the table: spread over 64 bits, since the table takes its
    /// position from the low bits and a tag from the top 7 (a fingerprint is uniform, so a
    /// multiplication by an odd constant serves).
    fn hash(fingerprint: u32) -> u64 {
        u64::from(fingerprint).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn fingerprint_of(entry: u64) -> u32 {
        (entry >> (64 - FINGERPRINT_BITS)) as u32
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds `entry` unless it is held.
    fn insert(&mut self, entry: u64) {
        let hash = Recent::hash(Recent::fingerprint_of(entry));
        if self.0.find(hash, |e| *e == entry).is_none() {
            self.0
                .insert_unique(hash, entry, |e| Recent::hash(Recent::fingerprint_of(*e)));
        }
    }

    /// The values held under `fingerprint`, in no order.
    fn values(&self, fingerprint: u32) -> impl Iterator<Item = u32> + '_ {
        self.0
            .iter_hash(Recent::hash(fingerprint))
            .filter(move |e| Recent::fingerprint_of(**e) == fingerprint)
            .map(|e| value_of(*e))
    }

    /// Every entry, sorted; the set is left empty.
    fn take_sorted(&mut self) -> Vec<u64> {
        let mut entries: Vec<u64> = std::mem::take(&mut self.0).into_iter().collect();
        entries.sort_unstable();
        entries
    }
}

impl FingerprintTable {
    /// Starts loading what a lookup of `fingerprint` reads, without waiting for it: at
    /// 1,000,000 entries the bounds (512 KiB) and the entries (6 MB) lie beyond the caches,
    /// and a lookup otherwise waits for the one, then the other. In two stages, each a row
    /// before the next: [`Prefetch::Bounds`] the bucket's bounds (its address alone is
    /// known), then [`Prefetch::Entries`] its first entries (the bounds, in cache by then,
    /// say where), so that neither the lookup nor the stages wait on memory.
    pub fn prefetch(&self, fingerprint: u32, stage: Prefetch) {
        let bucket = usize::from(bucket_of(entry(fingerprint, 0)));
        match stage {
            Prefetch::Bounds => {
                if let Some(bounds) = self.starts.get(bucket..=bucket + 1) {
                    prefetch(&bounds[0]);
                    prefetch(&bounds[1]);
                }
            }
            Prefetch::Entries => {
                if let Some(low) = self.starts.get(bucket).and_then(|&s| self.lows.get(s)) {
                    prefetch(low);
                }
            }
        }
    }

    /// An empty table with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> FingerprintTable {
        FingerprintTable {
            lows: Vec::with_capacity(capacity),
            values: Vec::with_capacity(capacity),
            building: Vec::with_capacity(capacity),
            ..FingerprintTable::default()
        }
    }

    /// The entries held.
    pub fn len(&self) -> usize {
        self.lows.len() + self.recent.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds an entry while the table is built; [`FingerprintTable::finish`] sorts them.
    pub fn push(&mut self, fingerprint: u32, value: u32) {
        let entry = entry(fingerprint, value);
        self.building.push(bucket_of(entry));
        self.lows.push(low_of(entry));
        self.values.push(value);
    }

    /// Sorts what [`FingerprintTable::push`] added: the table is then ready for lookups.
    /// The entries are moved to their buckets in place (no second copy of them), then
    /// each bucket, a few dozen entries, is sorted.
    pub fn finish(&mut self) {
        let building = std::mem::take(&mut self.building);
        self.starts = vec![0; BUCKETS + 1];
        for bucket in &building {
            self.starts[usize::from(*bucket) + 1] += 1;
        }
        for b in 0..BUCKETS {
            self.starts[b + 1] += self.starts[b];
        }
        self.place_in_buckets(building);
        self.sort_buckets();
        self.lows.shrink_to_fit();
        self.values.shrink_to_fit();
    }

    /// Moves each entry to its bucket in place, in two passes of 8 bits (by the bucket's
    /// high byte over all entries, then by its low byte within each of those 256 ranges):
    /// with 256 destinations a pass writes where it wrote last, in cache, where one pass
    /// over 2^16 destinations missed the cache on every move (0.47 s at 4,000,000 entries).
    fn place_in_buckets(&mut self, mut building: Vec<u16>) {
        let high: Vec<usize> = (0..=DISTRIBUTED_KEYS)
            .map(|h| self.starts[h * DISTRIBUTED_KEYS])
            .collect();
        let mut arrays = Arrays {
            building: &mut building,
            lows: &mut self.lows,
            values: &mut self.values,
        };
        arrays.distribute(&high, |bucket| usize::from(bucket >> 8));
        for h in 0..DISTRIBUTED_KEYS {
            let bounds = &self.starts[h * DISTRIBUTED_KEYS..=(h + 1) * DISTRIBUTED_KEYS];
            arrays.distribute(bounds, |bucket| usize::from(bucket & 0xff));
        }
    }

    /// Sorts each bucket's entries by low bits, then value.
    fn sort_buckets(&mut self) {
        let mut scratch: Vec<(u16, u32)> = Vec::new();
        for b in 0..BUCKETS {
            let range = self.starts[b]..self.starts[b + 1];
            if range.len() < 2 {
                continue;
            }
            scratch.clear();
            scratch.extend(
                self.lows[range.clone()]
                    .iter()
                    .copied()
                    .zip(self.values[range.clone()].iter().copied()),
            );
            scratch.sort_unstable();
            for (k, (low, value)) in scratch.iter().enumerate() {
                self.lows[range.start + k] = *low;
                self.values[range.start + k] = *value;
            }
        }
    }

    /// The values listed under `fingerprint`, in ascending order, each once.
    pub fn candidates(&self, fingerprint: u32) -> Vec<u32> {
        let mut values: Vec<u32> = self.merged(entry(fingerprint, 0)).collect();
        values.extend(self.recent.values(fingerprint));
        values.sort_unstable();
        values.dedup();
        values
    }

    /// The merged values of `first`'s fingerprint (`first` as [`entry`] makes it).
    fn merged(&self, first: u64) -> impl Iterator<Item = u32> + '_ {
        let bucket = usize::from(bucket_of(first));
        let range = match self.starts.get(bucket..=bucket + 1) {
            Some(&[start, end]) => start..end,
            _ => 0..0,
        };
        let lows = &self.lows[range.clone()];
        let low = low_of(first);
        let from = lows.partition_point(|l| *l < low);
        lows[from..]
            .iter()
            .zip(&self.values[range.start + from..])
            .take_while(move |(l, _)| **l == low)
            .map(|(_, value)| *value)
    }

    /// Adds entries after those built; merged into the buckets once enough wait.
    pub fn extend(&mut self, entries: impl IntoIterator<Item = (u32, u32)>) {
        for (fingerprint, value) in entries {
            self.recent.insert(entry(fingerprint, value));
        }
        if self.recent.len() >= MIN_RECENT_ENTRIES.max(self.lows.len() / RECENT_FRACTION) {
            self.merge();
        }
    }

    /// Moves the recent set into the buckets, merging from the back in place (no second
    /// copy of the entries), then moves the buckets' bounds by the entries added before
    /// each.
    pub fn merge(&mut self) {
        if self.starts.is_empty() {
            self.starts = vec![0; BUCKETS + 1];
        }
        let recent = self.recent.take_sorted();
        let old = self.lows.len();
        self.lows.reserve_exact(recent.len());
        self.values.reserve_exact(recent.len());
        self.lows.resize(old + recent.len(), 0);
        self.values.resize(old + recent.len(), 0);
        let (mut i, mut j) = (old, recent.len());
        let mut out = self.lows.len();
        // The bucket of entry `i - 1`: the last whose start is at or before it.
        let mut bucket = BUCKETS - 1;
        while j > 0 {
            out -= 1;
            let older = i.checked_sub(1).map(|last| {
                while self.starts[bucket] > last {
                    bucket -= 1;
                }
                packed(bucket, self.lows[last], self.values[last])
            });
            match older {
                Some(older) if older > recent[j - 1] => {
                    self.lows[out] = self.lows[i - 1];
                    self.values[out] = self.values[i - 1];
                    i -= 1;
                }
                _ => {
                    self.lows[out] = low_of(recent[j - 1]);
                    self.values[out] = value_of(recent[j - 1]);
                    j -= 1;
                }
            }
        }
        self.move_bounds(&recent);
    }

    /// Moves each bucket's start by the entries of `added` in the buckets before it.
    fn move_bounds(&mut self, added: &[u64]) {
        let mut added_before = vec![0; BUCKETS + 1];
        for entry in added {
            added_before[usize::from(bucket_of(*entry)) + 1] += 1;
        }
        let mut running = 0;
        for (start, added) in self.starts.iter_mut().zip(added_before) {
            running += added;
            *start += running;
        }
    }

    /// Whether every addition is merged.
    #[cfg(test)]
    pub fn all_merged(&self) -> bool {
        self.recent.len() == 0
    }

    /// The buckets' bounds cover the entries in order, and each bucket is sorted.
    #[cfg(test)]
    pub fn in_order(&self) -> bool {
        if self.starts.is_empty() {
            return self.lows.is_empty();
        }
        let bounds = self.starts.len() == BUCKETS + 1
            && self.starts[0] == 0
            && self.starts[BUCKETS] == self.lows.len()
            && self.starts.windows(2).all(|w| w[0] <= w[1]);
        bounds
            && (0..BUCKETS).all(|b| {
                let range = self.starts[b]..self.starts[b + 1];
                let entries: Vec<(u16, u32)> = self.lows[range.clone()]
                    .iter()
                    .copied()
                    .zip(self.values[range].iter().copied())
                    .collect();
                entries.windows(2).all(|w| w[0] <= w[1])
            })
    }

    /// The entries merged into bucket `bucket`.
    #[cfg(test)]
    pub fn in_bucket(&self, bucket: usize) -> usize {
        self.starts
            .get(bucket..=bucket + 1)
            .map_or(0, |bounds| bounds[1] - bounds[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn an_entry_is_its_bucket_low_bits_and_value() {
        let entry = entry(0xabcd_1234, 77);
        assert_eq!(bucket_of(entry), 0xabcd);
        assert_eq!(low_of(entry), 0x1234);
        assert_eq!(value_of(entry), 77);
        assert_eq!(packed(0xabcd, 0x1234, 77), entry);
    }

    #[test]
    fn an_empty_table_answers_nothing_and_keeps_no_bounds() {
        let mut table = FingerprintTable::default();
        assert!(table.is_empty());
        assert_eq!(table.candidates(5), Vec::<u32>::new());
        table.extend([(5, 1), (5, 2), (6, 3)]);
        assert!(table.starts.is_empty(), "below the threshold: not merged");
        assert_eq!(table.candidates(5), vec![1, 2]);
        table.merge();
        assert!(table.in_order());
        assert_eq!((table.len(), table.candidates(5)), (3, vec![1, 2]));
        assert_eq!(table.candidates(6), vec![3]);
        assert_eq!(table.candidates(0x0001_0005), Vec::<u32>::new());
    }

    /// A prefetch of a bucket at either end, empty or not, reads no bound or entry past
    /// the table's (an empty last bucket starts at the end of the entries) and changes
    /// no answer.
    #[test]
    fn a_prefetch_reads_nothing_past_the_ends_and_changes_no_answer() {
        let prefetch = |table: &FingerprintTable, fingerprint| {
            table.prefetch(fingerprint, Prefetch::Bounds);
            table.prefetch(fingerprint, Prefetch::Entries);
        };
        let mut table = FingerprintTable::default();
        for fingerprint in [0, 5, u32::MAX] {
            prefetch(&table, fingerprint);
        }
        table.extend((0..4_096u32).map(|v| (0xffff_0000 | v, v)));
        assert!(table.all_merged());
        for fingerprint in [0, 0x0001_0000, 0xfffe_ffff, 0xffff_0000, u32::MAX] {
            prefetch(&table, fingerprint);
        }
        table.extend((0..4_096u32).map(|v| (v, v)));
        assert!(table.all_merged());
        for fingerprint in [0, 0xfffe_0000, u32::MAX] {
            prefetch(&table, fingerprint);
        }
        assert_eq!(table.candidates(0xffff_0007), vec![7]);
        assert_eq!(table.candidates(7), vec![7]);
        assert_eq!(table.candidates(0x8000_0000), Vec::<u32>::new());
    }

    #[test]
    fn runs_added_in_order_pass_the_threshold_and_are_merged() {
        let mut table = FingerprintTable::default();
        let fingerprint = |v: u32| v.wrapping_mul(0x9E37_79B9);
        for run in 0..5u32 {
            table.extend((run * 4_096..(run + 1) * 4_096).map(|v| (fingerprint(v), v)));
            assert!(table.all_merged(), "a run of 4,096 reaches the threshold");
            assert!(table.in_order());
        }
        assert_eq!(table.len(), 5 * 4_096);
        for v in (0..5 * 4_096).step_by(13) {
            assert!(table.candidates(fingerprint(v)).contains(&v), "{v}");
        }
    }

    proptest! {
        /// Built, extended and merged in any steps, with fingerprints narrowed so that
        /// they share a bucket and low bits, or only one of them, the table answers as a
        /// map from fingerprint to the values listed under it.
        #[test]
        fn answers_as_a_multimap(
            first in prop::collection::vec(0..400u32, 0..300),
            steps in prop::collection::vec(prop::collection::vec(0..400u32, 0..50), 0..20),
            mask in prop::sample::select(vec![u32::MAX, 0xffff_0000, 0x0003_0000, 0xff, 0x3, 0]),
        ) {
            let fingerprint = |n: u32| n.wrapping_mul(0x9E37_79B9) & mask;
            let mut model: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
            let mut value = 0u32;
            let mut table = FingerprintTable::default();
            for n in first {
                value += 1;
                table.push(fingerprint(n), value);
                model.entry(fingerprint(n)).or_default().push(value);
            }
            table.finish();
            for (round, step) in steps.into_iter().enumerate() {
                let mut added = Vec::new();
                for n in step {
                    value += 1;
                    added.push((fingerprint(n), value));
                    model.entry(fingerprint(n)).or_default().push(value);
                }
                table.extend(added);
                if round % 3 == 2 {
                    table.merge();
                }
                prop_assert!(table.in_order());
            }
            for n in 0..400u32 {
                let listed = model.get(&fingerprint(n)).cloned().unwrap_or_default();
                prop_assert_eq!(table.candidates(fingerprint(n)), listed);
            }
        }
    }
}
