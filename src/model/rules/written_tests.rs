//! A large batch's planner that reads its written events back
//! ([`Planner::read_written_from`]): it keeps a fingerprint per written event, and decides
//! retries, conflicts and reversals as a planner that keeps every event does.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::tests::{allocate, enroll, pay, planned_record, rejected, NOW_US};
use super::*;

/// The events a test batch has "written": what it planned, up to `through`.
#[derive(Default)]
struct Written {
    records: Mutex<BTreeMap<Seq, RecordV1>>,
    through: AtomicU64,
    /// Every read fails (a damaged block).
    unreadable: AtomicBool,
}

impl Written {
    fn note(&self, planned: &Planned) {
        if let Some(record) = planned_record(planned, NOW_US) {
            self.records
                .lock()
                .unwrap()
                .insert(Seq::new(record.seq), record);
        }
    }

    /// Everything noted so far is written.
    fn write_all(&self) {
        let last = self
            .records
            .lock()
            .unwrap()
            .keys()
            .last()
            .map_or(0, |s| s.get());
        self.through.store(last, Ordering::SeqCst);
    }
}

impl WrittenLog for Written {
    fn written_through(&self) -> u64 {
        self.through.load(Ordering::SeqCst)
    }

    fn record(&self, seq: Seq) -> Result<RecordV1, String> {
        if self.unreadable.load(Ordering::SeqCst) {
            return Err(format!(
                "the block holding seq {seq} does not match its seal"
            ));
        }
        assert!(
            seq.get() <= self.written_through(),
            "the planner reads only written events"
        );
        self.records
            .lock()
            .unwrap()
            .get(&seq)
            .cloned()
            .ok_or_else(|| format!("no event {seq}"))
    }
}

struct Empty;
impl Committed for Empty {
    fn reference(&self, _: &str, _: &RefDigest) -> Result<Option<Seq>, String> {
        Ok(None)
    }
    fn body(&self, seq: Seq) -> Result<Body, String> {
        Err(format!("no committed event {seq}"))
    }
}

static NO_HOUSEHOLDS_HERE: BTreeMap<String, HouseholdInfo> = BTreeMap::new();

/// A planner reading back from `written`, with a household, a budget and `payments`
/// payments of 0.01 (`P-0`, `P-1`, ...) planned and written; the next command archives
/// them.
fn written_batch(written: &Arc<Written>, payments: usize) -> Planner<'static> {
    let registries = Registries {
        households: &NO_HOUSEHOLDS_HERE,
        people: &NO_PEOPLE,
    };
    let mut p = Planner::new(&Empty, registries, &Budgets::new(), Seq::FIRST, NOW_US);
    p.read_written_from(Arc::clone(written) as Arc<dyn WrittenLog>);
    let plan = |p: &mut Planner, command: &Command| {
        let planned = p.plan(command).unwrap();
        written.note(&planned);
    };
    plan(&mut p, &enroll("H1", "2014-01-01"));
    plan(&mut p, &allocate("100000.00", "A1"));
    for i in 0..payments {
        plan(&mut p, &pay("H1", "0.01", &format!("P-{i}")));
    }
    written.write_all();
    p
}

fn reversal(target: &str, fen: i64) -> Command {
    Command::Reverse(ReversalRequest {
        target: Reference::parse(target).unwrap(),
        household: HouseholdId::parse("H1").unwrap(),
        program: None,
        amount: Money::from_fen(fen),
        date: tests::date("2015-03-01"),
        reason: "重复支付".into(),
    })
}

#[test]
fn written_events_are_archived_and_decided_from_what_is_read_back() {
    let written = Arc::new(Written::default());
    let mut p = written_batch(&written, ARCHIVE_EVENTS);
    // A retry of a written payment: the same content, found by reading it back.
    assert_eq!(
        p.plan(&pay("H1", "0.01", "P-3")).unwrap(),
        Planned::Duplicate(Seq::new(6))
    );
    let events = ARCHIVE_EVENTS + 2;
    assert_eq!(
        p.new_refs.archived(),
        events,
        "every written event is archived"
    );
    assert_eq!((p.planned.len(), p.digests.len()), (0, 0));
    // The same reference with other content is refused as in any batch.
    let r = rejected(p.plan(&pay("H1", "0.02", "P-4")));
    assert_eq!(r.field, "reference");
    assert_eq!(
        r.reason,
        "P-4 is already used earlier in this batch with different content"
    );
    // A reversal of a written payment takes its facts from the record read back.
    let disbursed = p.budgets()["support_allowance"].disbursed_fen;
    assert!(matches!(
        p.plan(&reversal("P-5", 1)),
        Ok(Planned::Append { seq, .. }) if seq.get() == events as u64 + 1
    ));
    assert_eq!(
        p.budgets()["support_allowance"].disbursed_fen,
        disbursed - 1
    );
    let reversed = Seq::new(events as u64 + 1);
    assert_eq!(
        p.plan(&reversal("P-5", 1)).unwrap(),
        Planned::Duplicate(reversed)
    );
    let r = rejected(
        p.plan(&reversal("P-6", 1))
            .and_then(|_| p.plan(&reversal("P-6", 2))),
    );
    assert_eq!(r.field, "reference");
    assert!(r.reason.contains("already reversed"), "{}", r.reason);
    let r = rejected(p.plan(&reversal("A1", 1)));
    assert!(r.reason.contains("cannot be reversed"), "{}", r.reason);
    // A new reference is new, and one planned since the archive is found in full.
    assert!(matches!(
        p.plan(&pay("H1", "0.01", "P-new")),
        Ok(Planned::Append { .. })
    ));
    assert!(matches!(
        p.plan(&pay("H1", "0.01", "P-new")),
        Ok(Planned::Duplicate(_))
    ));
    assert_eq!(p.new_refs.archived(), events);
}

#[test]
fn fewer_written_events_than_an_archive_are_kept_in_full() {
    let written = Arc::new(Written::default());
    let mut p = written_batch(&written, ARCHIVE_EVENTS - 3);
    written.unreadable.store(true, Ordering::SeqCst);
    assert_eq!(
        p.plan(&pay("H1", "0.01", "P-3")).unwrap(),
        Planned::Duplicate(Seq::new(6)),
        "found without a read"
    );
    assert_eq!(p.new_refs.archived(), 0);
}

/// Two references whose digests share their first 4 bytes under this process's key.
fn references_sharing_a_fingerprint() -> (String, String) {
    let mut seen = HashMap::new();
    for i in 0.. {
        let reference = format!("F-{i}");
        let fingerprint = RefDigest::of(&reference).fingerprint();
        if let Some(other) = seen.insert(fingerprint, reference.clone()) {
            return (other, reference);
        }
    }
    unreachable!("a 32-bit fingerprint repeats long before the integers end")
}

#[test]
fn an_archived_event_that_only_shares_a_fingerprint_is_not_a_repeat() {
    let (first, second) = references_sharing_a_fingerprint();
    let written = Arc::new(Written::default());
    let mut p = written_batch(&written, 0);
    let planned = p.plan(&pay("H1", "0.01", &first)).unwrap();
    written.note(&planned);
    for i in 0..ARCHIVE_EVENTS {
        let planned = p.plan(&pay("H1", "0.01", &format!("P-{i}"))).unwrap();
        written.note(&planned);
    }
    written.write_all();
    // Read back, the archived event names `first`: `second` is new, with any content.
    assert!(matches!(
        p.plan(&pay("H1", "0.02", &second)),
        Ok(Planned::Append { .. })
    ));
    assert!(p.new_refs.archived() > 0);
    assert_eq!(
        p.plan(&pay("H1", "0.01", &first)).unwrap(),
        Planned::Duplicate(Seq::new(3))
    );
    assert!(matches!(
        p.plan(&pay("H1", "0.02", &second)),
        Ok(Planned::Duplicate(_))
    ));
}

#[test]
fn a_written_event_that_cannot_be_read_back_stops_the_batch() {
    let written = Arc::new(Written::default());
    let mut p = written_batch(&written, ARCHIVE_EVENTS);
    p.plan(&pay("H1", "0.01", "P-new")).unwrap();
    written.unreadable.store(true, Ordering::SeqCst);
    for command in [pay("H1", "0.01", "P-3"), reversal("P-5", 1)] {
        match p.plan(&command) {
            Err(PlanError::Lookup(reason)) => {
                assert!(reason.contains("does not match its seal"), "{reason}")
            }
            other => panic!("expected the read's failure, got {other:?}"),
        }
    }
}
