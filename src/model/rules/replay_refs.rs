//! The references of a replay that reads its log back ([`super::Planner::replay_reading`]):
//! one 64-bit digest per event, in seq order, 8 bytes an event and no table. The replay
//! never looks a reference up per event: whether one repeats is decided once, at the end,
//! by sorting the digests ([`ReplayRefs::first_repeat`]); the few lookups a rule makes (a
//! reversal's target, a release's month) search the digests and confirm each candidate by
//! reading its reference back from the log.
//!
//! A digest stands for its text only as far as a candidate: equal digests of two texts
//! (keyed per process, about one pair in 2^64) are told apart by the texts read back, so a
//! collision costs a read and never makes a repeat or a lookup answer that is not there.
//! The same text always has the same digest, so a repeat is never missed.

use std::hash::BuildHasher;

use crate::model::domain::Seq;

use super::ReplayedBodies;

/// The digest of a reference: foldhash, seeded once per process (a table-quality hash; the
/// texts confirm every match, so it needs no more).
fn digest(state: &foldhash::quality::RandomState, reference: &str) -> u64 {
    state.hash_one(reference)
}

/// The references a replay has planned, the first at seq `first`.
#[derive(Clone)]
pub(super) struct ReplayRefs {
    first: Seq,
    /// Each planned event's reference digest, in seq order.
    digests: Vec<u64>,
    /// The reference planned last: the text of the one event whose reference may not be
    /// the one its record stores (the replay stops there when it is not). `None` once a
    /// truncate removed that event: the events left were all accepted, so the log holds
    /// their texts.
    last: Option<String>,
    state: foldhash::quality::RandomState,
}

/// A reference repeated in a replayed log: the repeat, and the event that held it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Repeat {
    pub(super) first: Seq,
    pub(super) repeat: Seq,
}

impl ReplayRefs {
    pub(super) fn new(first: Seq) -> ReplayRefs {
        ReplayRefs {
            first,
            digests: Vec::new(),
            last: None,
            state: foldhash::quality::RandomState::default(),
        }
    }

    pub(super) fn reserve(&mut self, additional: usize) {
        self.digests.reserve_exact(additional);
    }

    pub(super) fn len(&self) -> usize {
        self.digests.len()
    }

    /// Adds the reference of the next planned event.
    pub(super) fn push(&mut self, reference: &str) {
        self.digests.push(digest(&self.state, reference));
        let last = self.last.get_or_insert_with(String::new);
        last.clear();
        last.push_str(reference);
    }

    /// Forgets every entry from `len` on (a rolled back request), and with the last one
    /// its text, so that the new last event is read from the log like any other.
    pub(super) fn truncate(&mut self, len: usize) {
        if len < self.digests.len() {
            self.last = None;
        }
        self.digests.truncate(len);
    }

    fn seq_at(&self, index: usize) -> Seq {
        Seq::new(self.first.get() + index as u64)
    }

    /// The seq of the planned event whose reference is `reference`, trying `hint` (where
    /// the record being replayed says it is) before a search of every digest. With no
    /// reference repeated, as [`ReplayRefs::first_repeat`] decides, the answer is the
    /// only one; with a repeat, the replay's fault is at the repeat, before this lookup.
    pub(super) fn find(
        &self,
        reference: &str,
        hint: Option<Seq>,
        log: &dyn ReplayedBodies,
    ) -> Result<Option<Seq>, String> {
        let wanted = digest(&self.state, reference);
        let index_of = |seq: Seq| {
            seq.get()
                .checked_sub(self.first.get())
                .and_then(|i| usize::try_from(i).ok())
        };
        if let Some(index) = hint.and_then(index_of) {
            if self.digests.get(index) == Some(&wanted)
                && log.record(self.seq_at(index))?.reference == reference
            {
                return Ok(Some(self.seq_at(index)));
            }
        }
        for (index, _) in self
            .digests
            .iter()
            .enumerate()
            .filter(|(_, d)| **d == wanted)
        {
            let seq = self.seq_at(index);
            if self.text_at(seq, log)? == reference {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }

    /// The reference planned at `seq`: as its record stores it, but for the last planned
    /// event, whose record the replay may not have accepted.
    fn text_at(&self, seq: Seq, log: &dyn ReplayedBodies) -> Result<String, String> {
        match self.planned_last() {
            Some((last, text)) if last == seq => Ok(text.to_owned()),
            _ => Ok(log.record(seq)?.reference),
        }
    }

    fn last_seq(&self) -> Option<Seq> {
        self.digests.len().checked_sub(1).map(|i| self.seq_at(i))
    }

    /// The last planned event and the text it was planned under, while it is kept.
    fn planned_last(&self) -> Option<(Seq, &str)> {
        Some((self.last_seq()?, self.last.as_deref()?))
    }

    /// The earliest event whose reference an earlier event holds, as a replay that looked
    /// each reference up as it came would meet it first. Sorts the digests (they are
    /// needed no more: call it once, at the end); only when two are equal does it read
    /// the log's references again, through the last planned event, to tell which events
    /// hold them and whether their texts are equal.
    pub(super) fn first_repeat(
        &mut self,
        log: &dyn ReplayedBodies,
    ) -> Result<Option<Repeat>, String> {
        let Some(last) = self.last_seq() else {
            return Ok(None);
        };
        let mut digests = std::mem::take(&mut self.digests);
        digests.sort_unstable();
        let mut equal: Vec<u64> = digests
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect();
        drop(digests);
        if equal.is_empty() {
            return Ok(None);
        }
        equal.dedup();
        let mut texts = RepeatSearch {
            state: &self.state,
            equal: &equal,
            firsts: std::collections::HashMap::new(),
            found: None,
        };
        let Some(planned) = self.last.as_deref() else {
            log.references(self.first..=last, &mut |seq, text| texts.note(seq, text))?;
            return Ok(texts.found);
        };
        if last > self.first {
            let before_last = Seq::new(last.get() - 1);
            log.references(self.first..=before_last, &mut |seq, text| {
                texts.note(seq, text)
            })?;
        }
        texts.note(last, planned);
        Ok(texts.found)
    }
}

/// The references read back for [`ReplayRefs::first_repeat`]: the first seq of each text
/// whose digest is among the equal ones, and the first repeat met.
struct RepeatSearch<'a> {
    state: &'a foldhash::quality::RandomState,
    equal: &'a [u64],
    firsts: std::collections::HashMap<String, Seq>,
    found: Option<Repeat>,
}

impl RepeatSearch<'_> {
    fn note(&mut self, seq: Seq, text: &str) {
        if self.found.is_some() || self.equal.binary_search(&digest(self.state, text)).is_err() {
            return;
        }
        match self.firsts.get(text) {
            Some(&first) => self.found = Some(Repeat { first, repeat: seq }),
            None => {
                self.firsts.insert(text.to_owned(), seq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::encoding::{AllocationV1, Body, RecordV1};
    use std::collections::BTreeMap;

    /// A log whose stored references the test chooses, apart from what was pushed: a
    /// stored text other than the pushed one stands for two texts with one digest.
    struct Stored(BTreeMap<u64, &'static str>);

    impl ReplayedBodies for Stored {
        fn record(&self, seq: Seq) -> Result<RecordV1, String> {
            let reference = self.0.get(&seq.get()).ok_or("no such event")?;
            Ok(RecordV1 {
                seq: seq.get(),
                recorded_at_us: 0,
                actor: "clerk".into(),
                reference: (*reference).into(),
                body: Body::FundAllocation(AllocationV1 {
                    program: "support_allowance".into(),
                    amount_fen: 1,
                    value_date: 0,
                    source: String::new(),
                }),
            })
        }

        fn references(
            &self,
            seqs: std::ops::RangeInclusive<Seq>,
            each: &mut dyn FnMut(Seq, &str),
        ) -> Result<(), String> {
            for (seq, text) in self.0.range(seqs.start().get()..=seqs.end().get()) {
                each(Seq::new(*seq), text);
            }
            Ok(())
        }
    }

    fn pushed(texts: &[&str]) -> ReplayRefs {
        let mut refs = ReplayRefs::new(Seq::FIRST);
        for text in texts {
            refs.push(text);
        }
        refs
    }

    fn log(texts: &[&'static str]) -> Stored {
        Stored((1..).zip(texts.iter().copied()).collect())
    }

    #[test]
    fn finds_a_reference_at_its_hint_or_by_search_and_confirms_it_by_its_text() {
        let refs = pushed(&["A", "B", "C"]);
        let stored = log(&["A", "B", "C"]);
        assert_eq!(
            refs.find("B", Some(Seq::new(2)), &stored),
            Ok(Some(Seq::new(2)))
        );
        assert_eq!(
            refs.find("B", Some(Seq::new(1)), &stored),
            Ok(Some(Seq::new(2)))
        );
        assert_eq!(
            refs.find("B", Some(Seq::new(0)), &stored),
            Ok(Some(Seq::new(2)))
        );
        assert_eq!(
            refs.find("B", Some(Seq::new(9)), &stored),
            Ok(Some(Seq::new(2)))
        );
        assert_eq!(refs.find("D", None, &stored), Ok(None));
        // The digest of "B" at seq 2, whose record holds another text: not a match.
        let collided = log(&["A", "X", "C"]);
        assert_eq!(refs.find("B", Some(Seq::new(2)), &collided), Ok(None));
    }

    #[test]
    fn the_first_repeat_is_the_earliest_second_use_told_apart_by_the_texts() {
        let texts = ["A", "B", "C", "D", "B", "A"];
        let mut refs = pushed(&texts);
        let found = refs.first_repeat(&log(&texts)).unwrap();
        assert_eq!(
            found,
            Some(Repeat {
                first: Seq::new(2),
                repeat: Seq::new(5)
            })
        );
        // Equal digests whose stored texts differ (a collision) are no repeat.
        let mut refs = pushed(&["A", "A", "C"]);
        assert_eq!(refs.first_repeat(&log(&["A", "X", "C"])).unwrap(), None);
        // The last planned event counts with the text it was planned under.
        let mut refs = pushed(&["A", "B", "A"]);
        let found = refs.first_repeat(&log(&["A", "B", "Z"])).unwrap();
        assert_eq!(found.map(|r| r.repeat), Some(Seq::new(3)));
        assert_eq!(pushed(&[]).first_repeat(&log(&[])).unwrap(), None);
        assert_eq!(pushed(&["A"]).first_repeat(&log(&["A"])).unwrap(), None);
    }

    #[test]
    fn a_truncate_forgets_the_last_planned_text_and_reads_the_new_last_from_the_log() {
        // "B" was planned at seq 2 and "Z" at seq 3; the log stores "Y" at seq 3, which
        // the replay never accepted, so the request of seqs 2 and 3 is rolled back.
        let stored = log(&["A", "B", "Y"]);
        let mut refs = pushed(&["A", "B", "Z"]);
        refs.truncate(2);
        assert_eq!(refs.len(), 2);
        // The new last event, seq 2, holds "B" as the log says, not the forgotten "Z".
        assert_eq!(refs.find("Z", None, &stored), Ok(None));
        assert_eq!(refs.text_at(Seq::new(2), &stored), Ok("B".to_owned()));
        refs.push("B");
        let found = refs.first_repeat(&log(&["A", "B", "B"])).unwrap();
        assert_eq!(
            found,
            Some(Repeat {
                first: Seq::new(2),
                repeat: Seq::new(3)
            })
        );
        // Truncated and not pushed again: the repeat search reads every text from the log.
        let mut refs = pushed(&["A", "A", "Z"]);
        refs.truncate(2);
        let stored = log(&["A", "A"]);
        assert_eq!(
            refs.first_repeat(&stored).unwrap(),
            Some(Repeat {
                first: Seq::new(1),
                repeat: Seq::new(2)
            })
        );
        // A truncate that removes nothing keeps the last text.
        let mut refs = pushed(&["A", "B"]);
        refs.truncate(5);
        assert_eq!(
            refs.text_at(Seq::new(2), &log(&["A", "Q"])),
            Ok("B".to_owned())
        );
    }
}
