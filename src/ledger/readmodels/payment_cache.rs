//! The payments of the households the findings fold asked about, decoded once and kept by
//! the fold ([`super::FindingsSide`]) between questions and between catch-ups: a server
//! paying one household again and again asks about it for every append, and read it
//! whole from the log each time (a block read, its seal hashed, decompressed, per payment).
//!
//! It is derived from what the fold read and folded, never stored: an entry is filled only
//! from a whole answer of the log ([`LogPayments`]), and extended only by the events the
//! fold folds after it, in order. Every entry holds all of its household's payments below
//! one seq, the next the fold folds; an event folded out of order empties the cache. The
//! fold that owns it is dropped with an append that fails (`alongside.rs`), and empties it
//! when a lookup fails, so nothing an abandoned append told outlives it.

use std::ops::ControlFlow;
use std::sync::Arc;

use fundtrail_projections::{Date, FindingFact, LoggedPayment, PaymentLookup};

use super::findings::LogPayments;

/// Payments the cache holds, over all its households: 80 bytes each (with its household's
/// share of the map), so about 2.5 MiB. A household of twenty years of monthly payments in
/// three programs has about 700; a server paying one household adds one per append.
pub(super) const CACHED_PAYMENTS: usize = 1 << 15;

/// A payment as [`LoggedPayment`] has it, without its household (its entry's key); its
/// program shared with the other payments of the cache.
#[derive(Clone, Debug)]
struct CachedPayment {
    seq: u64,
    amount_fen: i64,
    program: Arc<str>,
    persons: u32,
    date: Date,
    account: Option<[u8; 32]>,
}

impl CachedPayment {
    fn logged(&self, household: &str) -> LoggedPayment {
        LoggedPayment {
            seq: self.seq,
            household: household.to_owned(),
            program: self.program.to_string(),
            amount_fen: self.amount_fen,
            persons: self.persons,
            date: self.date,
            account: self.account,
        }
    }
}

/// Households' payments below [`PaymentCache::through`], by seq.
#[derive(Debug, Default)]
pub struct PaymentCache {
    /// The seq the fold folds next: every entry holds all of its household's payments
    /// below it.
    through: u64,
    households: foldhash::HashMap<Box<str>, Vec<CachedPayment>>,
    /// Payments held, over all households; at most [`CACHED_PAYMENTS`].
    payments: usize,
    /// The programs named, each once: a district has a handful.
    programs: Vec<Arc<str>>,
}

/// A copy (a snapshot's, written on another thread) starts empty: it folds nothing.
impl Clone for PaymentCache {
    fn clone(&self) -> Self {
        PaymentCache::default()
    }
}

impl PaymentCache {
    /// Forgets every household.
    pub(super) fn clear(&mut self) {
        self.households.clear();
        self.payments = 0;
        self.programs.clear();
    }

    /// The event at `seq` was folded; `fact` is its fact, if it has one. An event that is
    /// not the next one empties the cache: its entries would miss what came between.
    pub(super) fn folded(&mut self, seq: u64, fact: Option<&FindingFact>) {
        if seq != self.through {
            self.clear();
        }
        self.through = seq.saturating_add(1);
        let Some(FindingFact::Paid { household, .. }) = fact else {
            return;
        };
        if !self.households.contains_key(household.as_str()) {
            return;
        }
        let Some(paid) = fact.and_then(|fact| LoggedPayment::of(seq, fact)) else {
            return;
        };
        let cached = self.cached(&paid);
        if let Some(list) = self.households.get_mut(paid.household.as_str()) {
            list.push(cached);
            self.payments += 1;
        }
        if self.payments > CACHED_PAYMENTS {
            self.clear();
        }
    }

    /// `household`'s payments below `before`, if they are held.
    fn answer(&self, household: &str, before: u64) -> Option<&[CachedPayment]> {
        (before == self.through)
            .then(|| self.households.get(household))
            .flatten()
            .map(Vec::as_slice)
    }

    /// Keeps `paid`, all of `household`'s payments below `before` as the log answered.
    fn fill(&mut self, household: &str, before: u64, paid: &[LoggedPayment]) {
        if before != self.through {
            self.clear();
            self.through = before;
        }
        if self.payments + paid.len() > CACHED_PAYMENTS {
            self.clear();
        }
        let list = paid.iter().map(|p| self.cached(p)).collect();
        self.households.insert(household.into(), list);
        self.payments += paid.len();
    }

    fn cached(&mut self, p: &LoggedPayment) -> CachedPayment {
        let program = match self
            .programs
            .iter()
            .find(|n| n.as_ref() == p.program.as_str())
        {
            Some(name) => Arc::clone(name),
            None => {
                let name: Arc<str> = p.program.as_str().into();
                self.programs.push(Arc::clone(&name));
                name
            }
        };
        CachedPayment {
            seq: p.seq,
            amount_fen: p.amount_fen,
            program,
            persons: p.persons,
            date: p.date,
            account: p.account,
        }
    }

    /// The payments held of `household`, as the log answers them (for the tests).
    #[cfg(test)]
    fn held(&self, household: &str) -> Option<Vec<LoggedPayment>> {
        let held = self.households.get(household)?;
        Some(held.iter().map(|p| p.logged(household)).collect())
    }
}

/// The log's answers through the cache: a household asked about is read whole once, and
/// its payments are answered from memory while the fold folds on.
pub(super) struct Cached<'c, 'l, 'v> {
    pub cache: &'c mut PaymentCache,
    pub log: &'l mut LogPayments<'v>,
}

impl PaymentLookup for Cached<'_, '_, '_> {
    fn visit_household(
        &mut self,
        household: &str,
        before: u64,
        visit: &mut dyn FnMut(LoggedPayment) -> ControlFlow<()>,
    ) -> Result<(), String> {
        if let Some(held) = self.cache.answer(household, before) {
            for p in held {
                if visit(p.logged(household)).is_break() {
                    break;
                }
            }
            return Ok(());
        }
        // Read on past the visitor's answer to fill the cache, unless the household has
        // more payments than the cache holds: then the log is read only as far as asked,
        // as without a cache (a bulk import paying one household alike many times).
        let (mut paid, mut visiting, mut whole) = (Vec::new(), true, true);
        self.log.visit_household(household, before, &mut |p| {
            if whole && paid.len() < CACHED_PAYMENTS {
                paid.push(p.clone());
            } else {
                whole = false;
                paid = Vec::new();
            }
            if visiting && visit(p).is_break() {
                visiting = false;
            }
            match visiting || whole {
                true => ControlFlow::Continue(()),
                false => ControlFlow::Break(()),
            }
        })?;
        if whole {
            self.cache.fill(household, before, &paid);
        }
        Ok(())
    }

    fn payment(&mut self, seq: u64, before: u64) -> Result<Option<LoggedPayment>, String> {
        self.log.payment(seq, before)
    }

    fn program_payments(
        &mut self,
        program: &str,
        year: i32,
        before: u64,
    ) -> Result<Vec<LoggedPayment>, String> {
        self.log.program_payments(program, year, before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ledger::readmodels::findings::FindingsSideError;
    use crate::ledger::readmodels::ReadSide;
    use crate::ledger::{AppendContext, Ledger};
    use crate::model::domain::Seq;
    use crate::model::rules::tests::{allocate, enroll, pay};

    /// Two households and one payment to the first, its first.
    fn ledger() -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut ledger = Ledger::init(dir.path()).expect("init");
        let commands = vec![
            enroll("PL-0001", "2014-03-01"),
            enroll("PL-0002", "2014-03-01"),
            allocate("1000.00", "ALLOC-1"),
            pay("PL-0001", "1.00", "PAY-0"),
        ];
        ledger
            .append(commands, &AppendContext::now("test"))
            .expect("append");
        (dir, ledger)
    }

    fn cache_of(side: &ReadSide) -> &PaymentCache {
        side.findings.as_ref().expect("findings are folded").cache()
    }

    /// A server's read side pays one household alike once per append: the duplicate
    /// search asks about it each time, and after the first the cache answers, extended
    /// by each event folded. What it holds equals a fresh read of the log, and the
    /// findings equal a rebuild's, after every catch-up.
    #[test]
    fn a_cached_household_extended_across_catch_ups_equals_a_fresh_read() {
        let (_dir, mut ledger) = ledger();
        let mut side = ReadSide::open(ledger.view()).expect("open");
        for i in 1..=4 {
            let commands = vec![
                pay("PL-0001", "1.00", &format!("PAY-{i}")),
                pay("PL-0002", "2.00", &format!("OTHER-{i}")),
            ];
            ledger
                .append(commands, &AppendContext::now("test"))
                .expect("append");
            side.catch_up(ledger.view()).expect("catch up");
            let view = ledger.view();
            let held = cache_of(&side).held("PL-0001").expect("asked about");
            let mut log = LogPayments::new(view);
            let fresh = log
                .household_payments("PL-0001", view.head().size + 1)
                .expect("a read");
            assert_eq!(held, fresh, "after append {i}");
            assert_eq!(held.len(), i + 1);
            let rebuilt = ReadSide::rebuild(view).expect("rebuild");
            assert_eq!(side.findings(), rebuilt.findings(), "after append {i}");
            assert_eq!(
                side.findings().expect("folded").all().len(),
                2 * i - 1,
                "each payment after the first of its household is a duplicate"
            );
        }
    }

    /// A lookup the log cannot answer (no state key: the trail index cannot be checked)
    /// is an error, and the household is not cached.
    #[test]
    fn a_failed_read_is_an_error_and_nothing_is_cached() {
        let (dir, ledger) = ledger();
        drop(ledger);
        std::fs::remove_file(dir.path().join("signing.key")).expect("the key's file");
        let ledger = Ledger::open(dir.path()).expect("open without the key");
        let view = ledger.view();
        assert!(view.sealing_key().is_err());
        let mut cache = PaymentCache::default();
        let mut log = LogPayments::new(view);
        let mut cached = Cached {
            cache: &mut cache,
            log: &mut log,
        };
        let mut visited = 0;
        let asked = cached.visit_household("PL-0001", view.head().size + 1, &mut |_| {
            visited += 1;
            ControlFlow::Continue(())
        });
        assert!(asked.is_err(), "{asked:?}");
        assert_eq!(visited, 0);
        assert_eq!(cache.held("PL-0001"), None);
        assert_eq!(cache.payments, 0);
    }

    /// The payments an import's fold is told of beyond the head are listed per household
    /// in seq order, and read back in it; one told out of order is refused and not listed.
    #[test]
    fn payments_told_beyond_the_head_are_listed_in_order_and_one_out_of_order_is_refused() {
        let (_dir, ledger) = ledger();
        let view = ledger.view();
        let head = view.head().size;
        let payment = view.record(Seq::new(head)).expect("the last payment");
        let mut log = LogPayments::new(view);
        for offset in [1, 3, 200, 70_000] {
            log.told(Seq::new(head + offset), &payment)
                .expect("in order");
        }
        let refused = log.told(Seq::new(head + 2), &payment);
        assert!(
            matches!(
                refused,
                Err(FindingsSideError::OutOfOrder { applied, seq })
                    if applied == head + 70_000 && seq == head + 2
            ),
            "{refused:?}"
        );
        let listed: Vec<u64> = log.told_beyond("PL-0001").collect();
        assert_eq!(listed, [1, 3, 200, 70_000].map(|o| head + o));
        assert_eq!(log.told_beyond("PL-0002").count(), 0);
    }

    fn paid(seq: u64, household: &str) -> LoggedPayment {
        LoggedPayment {
            seq,
            household: household.into(),
            program: "support_allowance".into(),
            amount_fen: 100,
            persons: 1,
            date: Date {
                year: 2019,
                month: 5,
                day: 2,
            },
            account: None,
        }
    }

    /// Entries answer only for the seq the fold folds next: one folded out of order, or
    /// asked about at another seq, empties the cache rather than answer with a gap.
    #[test]
    fn an_entry_answers_only_at_the_seq_folded_next() {
        let mut cache = PaymentCache::default();
        cache.fill("H1", 5, &[paid(2, "H1"), paid(4, "H1")]);
        assert_eq!(cache.answer("H1", 5).map(<[_]>::len), Some(2));
        assert!(cache.answer("H1", 6).is_none(), "not below seq 6");
        cache.folded(5, None);
        assert_eq!(cache.answer("H1", 6).map(<[_]>::len), Some(2));
        cache.folded(8, None);
        assert!(cache.held("H1").is_none(), "seqs 6 and 7 were not folded");
        cache.fill("H1", 9, &[paid(2, "H1")]);
        cache.fill("H2", 10, &[]);
        assert!(cache.held("H1").is_none(), "filled for another seq");
        assert_eq!(cache.held("H2"), Some(Vec::new()));
    }

    /// The cache holds at most `CACHED_PAYMENTS`: past it, it forgets every household.
    #[test]
    fn the_cache_is_emptied_when_it_passes_its_bound() {
        let mut cache = PaymentCache::default();
        let many: Vec<LoggedPayment> = (1..=CACHED_PAYMENTS as u64)
            .map(|seq| paid(seq, "H1"))
            .collect();
        let before = CACHED_PAYMENTS as u64 + 1;
        cache.fill("H1", before, &many);
        assert_eq!(cache.payments, CACHED_PAYMENTS);
        assert_eq!(cache.held("H1"), Some(many));
        cache.fill("H2", before, &[paid(1, "H2")]);
        assert!(cache.held("H1").is_none());
        assert_eq!(cache.payments, 1);
        assert_eq!(cache.programs.len(), 1, "one program, shared");
        assert!(
            std::mem::size_of::<CachedPayment>() <= 80,
            "CACHED_PAYMENTS is sized for 80 bytes a payment"
        );
    }
}
