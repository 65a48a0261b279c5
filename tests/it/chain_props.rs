//! Tampering with stored events, directly in sled as an insider with file access could, is
//! caught by `verify`, which names the first damaged seq.

use crate::support::*;
use fundtrail::ledger::import::ImportKind;
use fundtrail::ledger::{LedgerError, VerifyReport};
use fundtrail::model::domain::Seq;
use fundtrail::tlog::audit::AuditFault;
use fundtrail::tlog::chain::ChainFault;
use proptest::prelude::*;
use proptest::sample::Index;

/// Events in [`ledger_of_20`].
const SIZE: u64 = 20;

/// The standard ledger (3 enrollments, 5 events) plus 12 payments: every event type is
/// present, including enrollments, which `open` reads back.
fn ledger_of_20() -> TempLedger {
    let t = TempLedger::standard();
    let summary = t.append_csv(ImportKind::Events, &payment_rows("P", 12));
    assert_eq!(summary.head.size, SIZE);
    t
}

fn fault(report: &VerifyReport) -> &ChainFault {
    match report.fault.as_ref() {
        Some(AuditFault::Chain(fault)) => fault,
        None => panic!("verify passed a tampered ledger: {report:?}"),
        Some(other) => panic!("expected a chain fault, found {other}"),
    }
}

proptest! {
    // Each case builds a ledger on disk; a few dozen cases cover every event type and both
    // parts of the stored value while keeping the suite fast.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_flipped_bit_is_caught_at_its_seq(
        seq in 1..=SIZE,
        position in any::<Index>(),
        bit in 0u8..8,
    ) {
        let t = ledger_of_20();
        let original = t.raw_event(seq);
        let mut value = original.clone();
        let at = position.index(value.len());
        value[at] ^= 1 << bit;
        t.put_raw_event(seq, &value);

        let report = t.verify();
        let fault = fault(&report);
        prop_assert_eq!(fault.seq(), Seq::new(seq), "{}", fault);
        prop_assert_eq!(report.checked, seq - 1);
        prop_assert!(
            matches!(fault, ChainFault::HashMismatch { .. }),
            "a flipped bit changes the stored hash or the hashed bytes: {}", fault
        );
        if let ChainFault::HashMismatch { expected, found, .. } = fault {
            // The evidence: the recomputed hash and the stored one, exactly one of which
            // is the original (which part was flipped decides which).
            let stored: [u8; 32] = value[..32].try_into().expect("32-byte hash");
            prop_assert_eq!(found.into_bytes(), stored);
            if at < 32 {
                prop_assert_eq!(&expected.as_bytes()[..], &original[..32]);
            } else {
                prop_assert_eq!(&found.as_bytes()[..], &original[..32]);
                prop_assert_ne!(&expected.as_bytes()[..], &original[..32]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The same for every byte of the event's entry in its block, the record length
    /// included: a damaged length is named at its seq too, never at a neighbour's.
    #[test]
    fn any_flipped_bit_of_a_stored_entry_is_caught_at_its_seq(
        seq in 1..=SIZE,
        position in any::<Index>(),
        bit in 0u8..8,
    ) {
        let t = ledger_of_20();
        {
            let db = t.sled();
            let (key, mut block, span) = insider::entry_span(&db, seq);
            let at = span.start + position.index(span.len());
            block[at] ^= 1 << bit;
            insider::put_block_bytes(&db, key, &block);
            db.flush().expect("flush");
        }
        let report = t.verify();
        let fault = fault(&report);
        prop_assert_eq!(fault.seq(), Seq::new(seq), "{}", fault);
        prop_assert_eq!(report.checked, seq - 1);
    }
}

#[test]
fn a_record_length_past_the_block_end_is_named_at_its_seq() {
    let t = ledger_of_20();
    {
        let db = t.sled();
        let (key, mut block, span) = insider::entry_span(&db, 11);
        // The length's high byte: the record would run far past the block.
        block[span.start + 32 + 3] = 0x7f;
        insider::put_block_bytes(&db, key, &block);
        db.flush().expect("flush");
    }
    let report = t.verify();
    match fault(&report) {
        ChainFault::SeqMismatch { seq, in_record } => {
            assert_eq!(*seq, Seq::new(11));
            assert!(in_record.contains("the block ends"), "{in_record}");
        }
        other => panic!("expected an unreadable entry at 11, found {other}"),
    }
    assert_eq!(report.checked, 10);
}

#[test]
fn an_untouched_ledger_verifies() {
    let t = ledger_of_20();
    let report = t.verify();
    assert_eq!(report.fault, None);
    assert_eq!(report.checked, SIZE);
    assert_eq!(report.head.size, SIZE);
}

#[test]
fn a_flip_in_the_first_and_in_the_last_event_is_caught() {
    for (seq, at) in [(1, 0), (SIZE, usize::MAX)] {
        let t = ledger_of_20();
        let mut value = t.raw_event(seq);
        let at = at.min(value.len() - 1);
        value[at] ^= 0x80;
        t.put_raw_event(seq, &value);
        assert_eq!(fault(&t.verify()).seq(), Seq::new(seq));
    }
}

#[test]
fn a_deleted_event_is_reported_as_a_gap() {
    let t = ledger_of_20();
    t.remove_raw_event(12);
    let report = t.verify();
    assert_eq!(
        fault(&report),
        &ChainFault::Gap {
            expected: Seq::new(12),
            found: Seq::new(13)
        }
    );
    assert_eq!(report.checked, 11);
}

#[test]
fn a_deleted_enrollment_is_reported_at_its_seq() {
    // seq 2 is PL-0002's enrollment, which the household index still points at.
    let t = ledger_of_20();
    t.remove_raw_event(2);
    assert_eq!(fault(&t.verify()).seq(), Seq::new(2));
}

/// Damages enrollment seq 3 so that its record no longer decodes: the high byte of the
/// household id's length prefix (after the hash, the version byte, seq, time, the actor,
/// the reference and the body's variant index).
fn damage_enrollment(t: &TempLedger) {
    let mut value = t.raw_event(3);
    let record = fundtrail::model::encoding::decode(&value[32..]).expect("an intact record");
    let at = 32 + 1 + 8 + 8 + (8 + record.actor.len()) + (8 + record.reference.len()) + 4;
    value[at + 7] = 0xff;
    t.put_raw_event(3, &value);
}

#[test]
fn a_damaged_enrollment_is_reported_at_its_seq() {
    let t = ledger_of_20();
    damage_enrollment(&t);
    assert_eq!(fault(&t.verify()).seq(), Seq::new(3));
}

#[test]
fn a_ledger_with_a_damaged_enrollment_refuses_to_append() {
    let t = ledger_of_20();
    damage_enrollment(&t);
    let before = t.dump();
    let path = t.write_csv("more.csv", ImportKind::Events, &payment_rows("Q", 2));
    let result = t.open().append_rows(
        &mut fundtrail::ledger::import::CsvFile::new(&path, ImportKind::Events),
        &ctx(),
    );
    // The block holding the enrollment no longer matches its seal: it is not read.
    match result {
        Err(LedgerError::Corrupt(reason)) => {
            assert!(
                reason.contains("block at seq 1 does not match its seal"),
                "{reason}"
            )
        }
        other => panic!("expected a corrupt-ledger error, got {other:?}"),
    }
    assert_eq!(t.dump(), before);
}

#[test]
fn a_truncated_tail_is_reported_after_the_last_event_left() {
    let t = ledger_of_20();
    for seq in SIZE - 2..=SIZE {
        t.remove_raw_event(seq);
    }
    let report = t.verify();
    let fault = fault(&report);
    assert_eq!(fault.seq(), Seq::new(SIZE - 2), "{fault}");
    assert!(
        matches!(
            fault,
            ChainFault::HeadMismatch {
                expected_size: SIZE,
                found_size,
                ..
            } if *found_size == SIZE - 3
        ),
        "{fault}"
    );
}

#[test]
fn swapped_events_are_caught_at_the_first() {
    let t = ledger_of_20();
    let (a, b) = (t.raw_event(9), t.raw_event(10));
    t.put_raw_event(9, &b);
    t.put_raw_event(10, &a);
    assert_eq!(fault(&t.verify()).seq(), Seq::new(9));
}

#[test]
fn an_event_copied_over_another_with_its_hash_is_caught() {
    // A record and hash that are valid in themselves, stored under the wrong seq.
    let t = ledger_of_20();
    let copy = t.raw_event(15);
    t.put_raw_event(16, &copy);
    assert_eq!(fault(&t.verify()).seq(), Seq::new(16));
}
