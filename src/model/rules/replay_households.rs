//! The households a replay has enrolled ([`super::Planner::replay`]). Every payment of a
//! replayed log looks its household up (a million lookups at a million events), and the
//! rules read only the day each was enrolled, so this keeps only that and the enrollment's
//! seq, with the ids in one arena: about 30 bytes a household, where the batch's map of
//! whole enrollments keeps about 150 in entries scattered over the heap. At 16,000
//! households that map was 2.5 MB, and its lookups missed the cache (6% of `verify`'s
//! CPU, most of it waiting for the key's text); this table and its texts are 0.5 MB.

use chrono::NaiveDate;
use std::hash::BuildHasher;

use crate::model::domain::Seq;

#[derive(Clone, Default)]
pub(super) struct ReplayHouseholds {
    /// Every id, one after another, in the order first enrolled.
    text: String,
    entries: Vec<Enrolled>,
    /// The position in `entries` of each household, by the hash of its id.
    table: hashbrown::HashTable<u32>,
    state: foldhash::fast::RandomState,
}

#[derive(Clone, Copy)]
struct Enrolled {
    /// Where the id ends in `text` (it starts where the previous entry's ends).
    end: usize,
    enrolled_on: NaiveDate,
    seq: Seq,
}

impl ReplayHouseholds {
    /// Notes `household` enrolled on `enrolled_on` at `seq`; a household enrolled again
    /// (a repeated reference, which the replay reports at its end) takes the later
    /// enrollment, as a map's insert would.
    pub(super) fn insert(&mut self, household: &str, enrolled_on: NaiveDate, seq: Seq) {
        let hash = self.state.hash_one(household);
        if let Some(&i) = self.find(hash, household) {
            let entry = &mut self.entries[i as usize];
            entry.enrolled_on = enrolled_on;
            entry.seq = seq;
            return;
        }
        let index = u32::try_from(self.entries.len())
            .expect("households enrolled in a log are fewer than its events, and fewer than 2^32");
        self.text.push_str(household);
        self.entries.push(Enrolled {
            end: self.text.len(),
            enrolled_on,
            seq,
        });
        let Self {
            text,
            entries,
            table,
            state,
        } = self;
        table.insert_unique(hash, index, |&i| state.hash_one(id_at(text, entries, i)));
    }

    /// The day `household` was enrolled, if it was, and its number: its place in the
    /// order first enrolled, the same for every event that names it (an enrollment again
    /// keeps the number), so that the folds downstream of a replay can index their own
    /// tables by it instead of looking the name up again.
    pub(super) fn enrolled_on(&self, household: &str) -> Option<(NaiveDate, u32)> {
        let hash = self.state.hash_one(household);
        self.find(hash, household)
            .map(|&i| (self.entries[i as usize].enrolled_on, i))
    }

    /// Forgets every enrollment at `next` or after (a rolled back request). Rebuilds the
    /// table when one goes, which a replay of a log never asks for: the households after
    /// a forgotten one would take new numbers, which the folds that index by number
    /// (`enrolled_on`) must never see, and a replay never rolls back.
    pub(super) fn forget_from(&mut self, next: Seq) {
        if self.entries.iter().all(|entry| entry.seq < next) {
            return;
        }
        let old = std::mem::take(self);
        let mut start = 0;
        for entry in &old.entries {
            if entry.seq < next {
                self.insert(&old.text[start..entry.end], entry.enrolled_on, entry.seq);
            }
            start = entry.end;
        }
    }

    fn find(&self, hash: u64, household: &str) -> Option<&u32> {
        self.table
            .find(hash, |&i| id_at(&self.text, &self.entries, i) == household)
    }
}

fn id_at<'t>(text: &'t str, entries: &[Enrolled], i: u32) -> &'t str {
    let i = i as usize;
    let start = if i == 0 { 0 } else { entries[i - 1].end };
    &text[start..entries[i].end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The day `name` was enrolled on, if it was.
    fn day_of(households: &ReplayHouseholds, name: &str) -> Option<NaiveDate> {
        households.enrolled_on(name).map(|(on, _)| on)
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn finds_each_enrolled_household_and_no_other() {
        let mut households = ReplayHouseholds::default();
        households.insert("H1", day("2014-01-01"), Seq::new(1));
        households.insert("H10", day("2015-02-03"), Seq::new(2));
        households.insert("H", day("2016-03-04"), Seq::new(3));
        assert_eq!(day_of(&households, "H1"), Some(day("2014-01-01")));
        assert_eq!(day_of(&households, "H10"), Some(day("2015-02-03")));
        assert_eq!(day_of(&households, "H"), Some(day("2016-03-04")));
        assert_eq!(day_of(&households, "H2"), None);
        assert_eq!(day_of(&households, "H1H"), None);
        assert_eq!(day_of(&households, ""), None);
        // Enrolled again: the later enrollment counts.
        households.insert("H10", day("2017-01-01"), Seq::new(4));
        assert_eq!(day_of(&households, "H10"), Some(day("2017-01-01")));
        assert_eq!(households.entries.len(), 3);
    }

    #[test]
    fn numbers_each_household_once_in_the_order_first_enrolled() {
        let mut households = ReplayHouseholds::default();
        for i in 0..500u32 {
            households.insert(
                &format!("H{i}"),
                day("2014-01-01"),
                Seq::new(u64::from(i) + 1),
            );
        }
        // Enrolled again: the same number.
        households.insert("H7", day("2015-01-01"), Seq::new(501));
        for i in 0..500u32 {
            let number = households.enrolled_on(&format!("H{i}")).map(|(_, n)| n);
            assert_eq!(number, Some(i), "H{i}");
        }
        assert_eq!(households.enrolled_on("H500"), None);
    }

    #[test]
    fn forgets_the_enrollments_from_a_seq_on_and_keeps_the_others_findable() {
        let mut households = ReplayHouseholds::default();
        for i in 1..=200u64 {
            households.insert(&format!("H{i}"), day("2014-01-01"), Seq::new(i));
        }
        households.insert("H5", day("2019-01-01"), Seq::new(201));
        households.forget_from(Seq::new(150));
        assert_eq!(day_of(&households, "H149"), Some(day("2014-01-01")));
        assert_eq!(day_of(&households, "H1"), Some(day("2014-01-01")));
        assert_eq!(day_of(&households, "H150"), None);
        assert_eq!(day_of(&households, "H200"), None);
        // Re-enrolled after the savepoint: gone with it, as a map's retain would drop it.
        assert_eq!(day_of(&households, "H5"), None);
        households.insert("H150", day("2020-01-01"), Seq::new(150));
        assert_eq!(day_of(&households, "H150"), Some(day("2020-01-01")));
        households.forget_from(Seq::new(151));
        assert_eq!(day_of(&households, "H150"), Some(day("2020-01-01")));
    }
}
