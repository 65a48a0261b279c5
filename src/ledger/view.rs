//! `LedgerView`: the committed log as of one head, and every read of it (lookups, scans,
//! cached records beside the log). Nothing at or below a head ever changes, so a view
//! stays consistent while the writer appends beyond it.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use super::{corrupt_at, Head, LedgerError, LedgerView, LogFilter};
use crate::keys::seal::StateKey;
use crate::model::domain::{EventHash, Seq, RATE_REFERENCE_PREFIX};
use crate::model::encoding::{decode, Body, RateV1, RecordV1};
use crate::model::fingerprints::Prefetch;
use crate::model::keyed::RefDigest;
use crate::model::rules::{Committed, FindingContext};
use crate::store::StoredEvent;

impl LedgerView {
    pub fn head(&self) -> Head {
        self.head
    }

    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// A record kept beside the log (read-model snapshots, tokens), sealed under the state
    /// key: `Unsealed` if it was changed without the key, `Key` if the key is not at hand.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        let Some(stored) = self.store.meta(name)? else {
            return Ok(None);
        };
        let bytes = self
            .sealing_key()?
            .unwrap(name, &stored)
            .map_err(|_| LedgerError::Unsealed(format!("meta record {name}")))?;
        Ok(Some(bytes.to_vec()))
    }

    /// The record `name` as [`LedgerView::meta`] reads it, but one kept as a file as a
    /// reader of its bytes, whose seal is checked when it is finished
    /// ([`super::sealed_file::SealedReader`]).
    pub fn meta_reader(&self, name: &str) -> Result<super::SealedRead, LedgerError> {
        use crate::store::MetaRead;
        match self.store.meta_read(name)? {
            MetaRead::Absent => Ok(super::SealedRead::Absent),
            MetaRead::Whole(stored) => {
                let bytes = self
                    .sealing_key()?
                    .unwrap(name, &stored)
                    .map_err(|_| LedgerError::Unsealed(format!("meta record {name}")))?;
                Ok(super::SealedRead::Whole(bytes.to_vec()))
            }
            MetaRead::File(file) => Ok(super::SealedRead::File(Box::new(
                super::sealed_file::SealedReader::new(self.sealing_key()?, name, file)?,
            ))),
        }
    }

    /// The state key, or why it is not at hand.
    pub fn sealing_key(&self) -> Result<&StateKey, LedgerError> {
        self.state_key.as_ref().map_err(|reason| {
            LedgerError::Key(crate::keys::KeyError::Unavailable {
                reason: reason.to_string(),
            })
        })
    }

    pub fn size_on_disk(&self) -> Result<u64, LedgerError> {
        Ok(self.store.size_on_disk()?)
    }

    /// The same log as of an earlier head: `size` events.
    pub fn at(&self, size: u64) -> Result<LedgerView, LedgerError> {
        let hash = match size {
            0 => EventHash::GENESIS,
            n => self.stored(Seq::new(n))?.hash,
        };
        Ok(LedgerView {
            store: Arc::clone(&self.store),
            head: Head { size, hash },
            root: self.root_at(size)?,
            verifier_key: self.verifier_key.clone(),
            state_key: self.state_key.clone(),
            rate_seqs: Arc::clone(&self.rate_seqs),
            leaf_cache: Arc::clone(&self.leaf_cache),
        })
    }

    /// The most recent `limit` events that `filter` keeps, oldest first.
    pub fn recent(
        &self,
        filter: &LogFilter,
        limit: usize,
    ) -> Result<Vec<(Seq, EventHash, RecordV1)>, LedgerError> {
        // One household's events are read through its trail index, checked against its
        // sealed summary, not found by a scan of the whole log.
        if let Some(household) = filter.household.as_deref() {
            let mut matched = self.household_records(household)?;
            matched.retain(|(_, _, record)| filter.keeps(&record.body));
            let keep_from = matched.len().saturating_sub(limit);
            return Ok(matched.split_off(keep_from));
        }
        let mut matched = Vec::new();
        for item in self.records(Seq::FIRST, Seq::new(self.head.size)).rev() {
            if matched.len() >= limit {
                break;
            }
            let (seq, hash, record) = item?;
            if filter.keeps(&record.body) {
                matched.push((seq, hash, record));
            }
        }
        matched.reverse();
        Ok(matched)
    }

    /// A committed event, as stored.
    pub fn stored(&self, seq: Seq) -> Result<StoredEvent, LedgerError> {
        if seq.get() == 0 || seq.get() > self.head.size {
            return Err(LedgerError::Corrupt(format!(
                "seq {seq} is not in the ledger (size {})",
                self.head.size
            )));
        }
        self.store
            .event(seq)?
            .ok_or_else(|| LedgerError::Corrupt(format!("seq {seq} is missing from the store")))
    }

    /// A committed event, decoded.
    pub fn record(&self, seq: Seq) -> Result<RecordV1, LedgerError> {
        let stored = self.stored(seq)?;
        decode(&stored.record).map_err(|e| corrupt_at(seq, e))
    }

    /// The seq recorded under an external reference.
    pub fn lookup_reference(&self, reference: &str) -> Result<Option<Seq>, LedgerError> {
        self.lookup_reference_digested(reference, &RefDigest::of(reference))
    }

    /// [`LedgerView::lookup_reference`] of a reference whose keyed digest the caller has
    /// made (the planner digests each reference once).
    pub fn lookup_reference_digested(
        &self,
        reference: &str,
        digest: &RefDigest,
    ) -> Result<Option<Seq>, LedgerError> {
        Ok(self
            .store
            .reference_digested(reference, digest)?
            .filter(|seq| seq.get() <= self.head.size))
    }

    /// Every committed rate (the events under `rate:` references), in reference order:
    /// read at the seqs the sealed state lists, never through a scan of the reference
    /// index (which holds every event's reference).
    pub fn rates(&self) -> Result<Vec<RateV1>, LedgerError> {
        let mut rates = Vec::new();
        for seq in self
            .rate_seqs
            .iter()
            .copied()
            .filter(|s| *s <= self.head.size)
        {
            let record = self.record(Seq::new(seq))?;
            match record.body {
                Body::RateSet(rate) if record.reference.starts_with(RATE_REFERENCE_PREFIX) => {
                    rates.push((record.reference, rate))
                }
                _ => {
                    return Err(LedgerError::Corrupt(format!(
                        "the state lists seq {seq} as a rate, but it is a {} under {}",
                        record.body.type_name(),
                        record.reference
                    )))
                }
            }
        }
        rates.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(rates.into_iter().map(|(_, rate)| rate).collect())
    }

    /// Committed events in seq order, decoded, within `range`.
    pub fn records(
        &self,
        from: Seq,
        to: Seq,
    ) -> impl DoubleEndedIterator<Item = Result<(Seq, EventHash, RecordV1), LedgerError>> + '_ {
        let to = Seq::new(to.get().min(self.head.size));
        self.store.events(from..=to).map(|item| {
            let (seq, stored) = item?;
            let record = decode(&stored.record).map_err(|e| corrupt_at(seq, e))?;
            Ok((seq, stored.hash, record))
        })
    }

    /// As [`LedgerView::records`], visiting each event in turn, decoded straight from its
    /// stored block (no copy of its bytes). Stops after the first error, or when `visit`
    /// breaks.
    pub fn visit_records(
        &self,
        from: Seq,
        to: Seq,
        mut visit: impl FnMut(Result<(Seq, EventHash, RecordV1), LedgerError>) -> ControlFlow<()>,
    ) {
        let to = Seq::new(to.get().min(self.head.size));
        let scanned = self.store.scan_events(from..=to, |seq, hash, bytes| {
            let record = decode(bytes).map_err(|e| corrupt_at(seq, e));
            let failed = record.is_err();
            let flow = visit(record.map(|record| (seq, *hash, record)));
            if failed {
                ControlFlow::Break(())
            } else {
                flow
            }
        });
        if let Err(e) = scanned {
            let _ = visit(Err(e.into()));
        }
    }
}

impl Committed for LedgerView {
    fn reference(&self, reference: &str, digest: &RefDigest) -> Result<Option<Seq>, String> {
        self.lookup_reference_digested(reference, digest)
            .map_err(|e| e.to_string())
    }

    fn prefetch_reference(&self, digest: &RefDigest, stage: Prefetch) {
        self.store.prefetch_reference(digest, stage);
    }

    fn body(&self, seq: Seq) -> Result<Body, String> {
        self.record(seq).map(|r| r.body).map_err(|e| e.to_string())
    }

    fn rates(&self) -> Result<Vec<RateV1>, String> {
        LedgerView::rates(self).map_err(|e| e.to_string())
    }

    fn finding(&self, id: &str) -> Result<Option<FindingContext>, String> {
        crate::runs::findings::finding_context(self, id).map_err(|e| e.to_string())
    }

    /// From the read models: their snapshot is sealed under the state key and checked
    /// against the log's hash at its seq, and they are caught up to this view's head
    /// (recomputed from the log when there is no snapshot to trust).
    fn receivables(&self) -> Result<fundtrail_projections::Receivables, String> {
        // Receivables are the read models'; the findings' state is not needed here.
        super::readmodels::ReadSide::open_with(self, super::readmodels::FindingsFold::Off)
            .map(|side| side.models().receivables().clone())
            .map_err(|e| e.to_string())
    }

    fn actors_under(&self, prefix: &str) -> Result<Vec<String>, String> {
        self.actors_of_references(prefix).map_err(|e| e.to_string())
    }

    fn holds(&self, household: &str) -> Result<Option<Vec<String>>, String> {
        let held = crate::runs::findings::findings(self)
            .and_then(|findings| super::holds::holds_of(self, &findings))
            .map_err(|e| e.to_string())?;
        Ok(Some(
            held.get(household)
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default(),
        ))
    }
}

impl LedgerView {
    /// Who recorded the committed events whose references start with `prefix`, one per
    /// event. A run appends its events together, so they are read as ranges of
    /// consecutive seqs, each range in one pass over its blocks.
    fn actors_of_references(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        let mut seqs: Vec<u64> = self
            .store
            .references_with_prefix(prefix)?
            .into_iter()
            .map(|(_, seq)| seq.get())
            .filter(|seq| *seq <= self.head.size)
            .collect();
        seqs.sort_unstable();
        let mut actors = Vec::with_capacity(seqs.len());
        for range in seqs.chunk_by(|a, b| a + 1 == *b) {
            let (first, last) = (range[0], range[range.len() - 1]);
            for item in self.records(Seq::new(first), Seq::new(last)) {
                actors.push(item?.2.actor);
            }
        }
        Ok(actors)
    }
}
