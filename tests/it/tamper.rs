//! An insider with file access edits the sled database directly; `verify` must catch every
//! edit, naming the first bad seq where one exists.
//!
//! The sample ledger: 5 opening events, then payment batches of 35, 40 and 40 with a
//! signed checkpoint after each (sizes 5, 40, 80, 120).

use crate::support::insider::{block_key, remove_event};
use crate::support::ledger::*;
use fundtrail::ledger::{LedgerError, VerifyReport};
use fundtrail::model::domain::{EventHash, Seq};
use fundtrail::model::encoding::{decode, encode, Body, PaymentV1, RecordV1, ReversalV1};
use fundtrail::tlog::audit::{AuditFault, StrayEntry};
use fundtrail::tlog::chain::ChainFault;
use fundtrail::tlog::checkpoint::Checkpoint;
use fundtrail::tlog::merkle::{Blake3Hasher, TreeHasher};

const BATCHES: [u64; 3] = [35, 40, 40];
const SIZE: u64 = 120;

fn sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path(), &BATCHES);
    assert_eq!(ledger.view().head().size, SIZE);
    let report = ledger.view().verify(|_| {}).unwrap();
    assert_eq!(report.fault, None);
    assert_eq!(report.checkpoints, 4);
    dir
}

/// 320 events (the sample plus 200 payments): stored nodes 6/0..=6/4, 7/0, 7/1 and 8/0,
/// for the edits of the stored tree.
fn larger() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path(), &[35, 40, 40, 200]);
    assert_eq!(ledger.view().head().size, 320);
    assert_eq!(ledger.view().verify(|_| {}).unwrap().fault, None);
    dir
}

fn verify(dir: &std::path::Path) -> VerifyReport {
    open_ledger(dir).view().verify(|_| {}).unwrap()
}

fn fault(dir: &std::path::Path) -> AuditFault {
    verify(dir).fault.expect("the edit is caught")
}

/// Changes the amount of event 57 and leaves its stored hash as it was.
fn change_amount_of_57(db: &sled::Db) {
    let (hash, record) = read_event(db, 57);
    write_event(db, 57, &hash, &with_amount_changed(&record, 10_000));
}

#[track_caller]
fn assert_hash_mismatch_at_57(fault: &AuditFault) {
    assert!(
        matches!(
            fault,
            AuditFault::Chain(ChainFault::HashMismatch { seq, .. }) if seq.get() == 57
        ),
        "{fault}"
    );
}

#[test]
fn an_amount_changed_under_the_old_hash_names_its_seq() {
    let dir = sample();
    with_sled(dir.path(), change_amount_of_57);
    let fault = fault(dir.path());
    assert_hash_mismatch_at_57(&fault);
    assert_eq!(fault.first_bad_seq(), Some(Seq::new(57)));
}

#[test]
fn a_deleted_event_is_a_gap_at_its_seq() {
    let dir = sample();
    with_sled(dir.path(), |db| remove_event(db, 33));
    let fault = fault(dir.path());
    assert_eq!(
        fault,
        AuditFault::Chain(ChainFault::Gap {
            expected: Seq::new(33),
            found: Seq::new(34)
        })
    );
}

#[test]
fn two_swapped_events_fail_at_the_first() {
    let dir = sample();
    with_sled(dir.path(), |db| {
        let (a, b) = (read_event(db, 70), read_event(db, 71));
        write_event(db, 70, &b.0, &b.1);
        write_event(db, 71, &a.0, &a.1);
    });
    assert_eq!(fault(dir.path()).first_bad_seq(), Some(Seq::new(70)));
}

#[test]
fn a_truncated_tail_disagrees_with_the_head() {
    let dir = sample();
    with_sled(dir.path(), |db| {
        for seq in 111..=SIZE {
            remove_event(db, seq);
        }
    });
    let fault = fault(dir.path());
    assert!(
        matches!(fault, AuditFault::Chain(ChainFault::HeadMismatch { .. })),
        "{fault}"
    );
    assert_eq!(fault.first_bad_seq(), Some(Seq::new(111)));
}

#[test]
fn a_truncated_tail_with_a_rewritten_head_is_caught_by_the_last_checkpoint() {
    let dir = sample();
    with_sled(dir.path(), |db| {
        for seq in 111..=SIZE {
            remove_event(db, seq);
        }
        rehash_from(db, SIZE + 1);
    });
    let fault = fault(dir.path());
    assert_eq!(
        fault,
        AuditFault::CheckpointBeyondLog {
            size: SIZE,
            log_size: 110
        }
    );
    assert_eq!(fault.first_bad_seq(), Some(Seq::new(111)));
}

/// The chain, the head, the frontier and every stored node rewritten consistently after
/// seq k = 50: only the checkpoint signed at 80 (covering seq 41..=80) catches it.
fn rewrite_after_50(dir: &std::path::Path) {
    with_sled(dir, |db| {
        let (hash, record) = read_event(db, 51);
        write_event(db, 51, &hash, &with_amount_changed(&record, -50_000));
        rehash_from(db, 51);
    });
}

#[test]
fn a_consistent_rewrite_after_k_is_caught_by_the_earlier_signed_checkpoint() {
    let dir = sample();
    rewrite_after_50(dir.path());
    let report = verify(dir.path());
    let fault = report.fault.expect("the rewrite is caught");
    assert!(
        matches!(
            fault,
            AuditFault::CheckpointRoot {
                size: 80,
                first: 41,
                ..
            }
        ),
        "{fault}"
    );
    // A root cannot say which event differs: no seq is named, the message gives the range.
    assert_eq!(fault.first_bad_seq(), None);
    assert!(fault.to_string().contains("seq 41..=80"), "{fault}");
    // The chain itself is valid: everything up to the checkpoint was checked.
    assert_eq!(report.checked, 80);
}

/// The rewrite moved the head record without the key: its seal no longer holds, so the
/// ledger opens for reading only and neither appends nor signs.
#[test]
fn the_ledger_refuses_to_sign_or_append_after_a_rewrite() {
    let dir = sample();
    rewrite_after_50(dir.path());
    let mut ledger = open_ledger(dir.path());
    let doubt = ledger
        .damaged()
        .expect("the rewrite is noticed on open")
        .to_string();
    assert!(doubt.contains("seal"), "{doubt}");
    assert!(matches!(ledger.checkpoint(), Err(LedgerError::Corrupt(_))));
    let err = ledger.append(payments(1000, 5), &ctx()).unwrap_err();
    assert!(err.to_string().contains("nothing was appended"), "{err}");
    let latest = ledger.view().latest_checkpoint().unwrap();
    assert_eq!(latest.expect("a checkpoint").checkpoint.size, SIZE);
}

#[test]
fn deleting_the_stored_checkpoints_too_is_caught_by_one_an_auditor_kept() {
    let dir = sample();
    let kept: Checkpoint = {
        let ledger = open_ledger(dir.path());
        ledger.view().checkpoint_at(80).unwrap().unwrap().checkpoint
    };
    rewrite_after_50(dir.path());
    with_sled(dir.path(), |db| {
        for item in db.scan_prefix(b"c") {
            db.remove(item.unwrap().0).unwrap();
        }
    });
    // Without checkpoints the rewritten log is self-consistent...
    assert_eq!(verify(dir.path()).fault, None);
    // ...but not against the checkpoint the auditor kept.
    let ledger = open_ledger(dir.path());
    let report = ledger.view().verify_against(&[kept], |_| {}).unwrap();
    assert!(matches!(
        report.fault,
        Some(AuditFault::CheckpointRoot { size: 80, .. })
    ));
}

#[test]
fn a_changed_stored_node_is_caught_with_the_seqs_it_covers() {
    let dir = larger();
    with_sled(dir.path(), |db| {
        db.insert(node_key(6, 2), &[7u8; 32][..]).unwrap();
    });
    let fault = fault(dir.path());
    assert!(
        matches!(
            fault,
            AuditFault::StoredNode {
                level: 6,
                index: 2,
                ..
            }
        ),
        "{fault}"
    );
    assert_eq!(fault.first_bad_seq(), Some(Seq::new(129)));
    assert_eq!(fault.last_bad_seq(), Some(Seq::new(192)));
}

#[test]
fn a_deleted_stored_node_is_caught() {
    let dir = larger();
    with_sled(dir.path(), |db| db.remove(node_key(7, 1)).unwrap());
    assert!(matches!(
        fault(dir.path()),
        AuditFault::StoredNode {
            level: 7,
            index: 1,
            stored: None,
            ..
        }
    ));
}

/// Layout 7 stores no leaf tiles (FORMAT.md §6.3): a tile an insider adds is read by
/// nothing, and `verify` reports it (and how many there are) without blaming the events.
#[test]
fn a_leaf_tile_added_to_the_store_is_reported_by_verify() {
    let dir = larger();
    assert_eq!(with_sled(dir.path(), |db| db.scan_prefix(b"l").count()), 0);
    let (hash, _) = with_sled(dir.path(), |db| read_event(db, 70));
    with_sled(dir.path(), |db| {
        for index in [3, 1] {
            db.insert(tile_key(index), vec![7u8; 32 * TILE as usize])
                .unwrap();
        }
    });
    let report = verify(dir.path());
    let fault = report.fault.expect("the added tiles are caught");
    assert_eq!(fault, AuditFault::LeafTile { index: 1, total: 2 });
    assert_eq!(fault.first_bad_seq(), None, "{fault}");
    assert!(
        fault.to_string().contains("l‖1 (over seq 65..=128)"),
        "{fault}"
    );
    assert_eq!(report.checked, 320, "every event verified");
    // The proofs are the events' own: the tile is not read.
    let ledger = open_ledger(dir.path());
    let view = ledger.view();
    let proof = view.inclusion_proof(Seq::new(70), 320).unwrap();
    let leaf = Blake3Hasher.hash_leaf(hash.as_bytes());
    fundtrail::tlog::merkle::verify_inclusion(&Blake3Hasher, 69, 320, &leaf, &proof, &view.root())
        .expect("the proof verifies");
}

/// An event block changed without the key (an event's stored hash): a proof that needs
/// the block's leaf hashes fails at the block's seal rather than give a proof of other
/// events.
#[test]
fn an_edited_event_block_fails_a_proof_at_its_seal() {
    let dir = larger();
    with_sled(dir.path(), |db| {
        let (_, record) = read_event(db, 200);
        write_event(db, 200, &EventHash::from_bytes([9; 32]), &record);
    });
    let ledger = open_ledger(dir.path());
    let err = ledger
        .view()
        .inclusion_proof(Seq::new(200), 320)
        .expect_err("the block's seal fails");
    assert!(err.to_string().contains("does not match its seal"), "{err}");
    // A proof of another tile reads no edited block.
    ledger
        .view()
        .inclusion_proof(Seq::new(10), 100)
        .expect("an untouched tile");
}

#[test]
fn a_changed_stored_checkpoint_is_caught() {
    let dir = sample();
    with_sled(dir.path(), |db| {
        let note = db.get(checkpoint_key(40)).unwrap().unwrap();
        let text = String::from_utf8(note.to_vec()).unwrap();
        let forged = text.replacen("\n40\n", "\n41\n", 1);
        db.insert(checkpoint_key(40), forged.as_bytes()).unwrap();
    });
    let fault = fault(dir.path());
    assert!(
        matches!(&fault, AuditFault::BadCheckpoint { size: 40, reason } if reason.contains("signature")),
        "{fault}"
    );
}

#[test]
fn a_changed_head_frontier_is_caught() {
    let dir = sample();
    with_sled(dir.path(), |db| {
        let mut head = read_head(db);
        let (size, mut nodes) = (head.frontier.size(), head.frontier.nodes().to_vec());
        nodes[0][0] ^= 1;
        head.frontier = fundtrail::tlog::merkle::Frontier::from_parts(size, nodes).unwrap();
        write_head(db, &head);
    });
    assert!(matches!(fault(dir.path()), AuditFault::HeadRoot { .. }));
}

#[test]
fn a_record_that_lies_about_its_seq_is_caught() {
    let dir = sample();
    with_sled(dir.path(), |db| {
        // Seq 60's record moved to key 61 with its hash recomputed: the chain links, but
        // the record says 60.
        let (_, record) = read_event(db, 60);
        let (prev, _) = read_event(db, 60);
        let hash = fundtrail::tlog::chain::chain_hash(&prev, &record);
        write_event(db, 61, &hash, &record);
    });
    assert!(matches!(
        fault(dir.path()),
        AuditFault::Chain(ChainFault::SeqMismatch { seq, .. }) if seq.get() == 61
    ));
}

#[test]
fn root_helper_matches_the_ledger() {
    // The tamper helpers recompute what the ledger computes.
    let dir = sample();
    let root = open_ledger(dir.path()).view().root();
    assert_eq!(with_sled(dir.path(), |db| root_of(db, SIZE)), root);
}

/// verify checks the chain and the tree on two threads; with damage in both, it reports
/// what a single pass in seq order meets first, with the events checked up to there.
#[test]
fn of_a_node_fault_and_a_chain_fault_the_earlier_seq_is_reported() {
    let change_amount = |db: &sled::Db, seq: u64| {
        let (hash, record) = read_event(db, seq);
        write_event(db, seq, &hash, &with_amount_changed(&record, 1));
    };
    // Node 6/1 (seq 65..=128, completed by seq 128) before a changed seq 200.
    let dir = larger();
    with_sled(dir.path(), |db| {
        db.remove(node_key(6, 1)).unwrap();
        change_amount(db, 200);
    });
    let report = verify(dir.path());
    assert!(
        matches!(
            report.fault,
            Some(AuditFault::StoredNode {
                level: 6,
                index: 1,
                ..
            })
        ),
        "{report:?}"
    );
    assert_eq!(report.checked, 128);

    // A changed seq 20 before node 7/1 (seq 129..=256).
    let dir = larger();
    with_sled(dir.path(), |db| {
        db.remove(node_key(7, 1)).unwrap();
        change_amount(db, 20);
    });
    let report = verify(dir.path());
    assert!(
        matches!(
            report.fault,
            Some(AuditFault::Chain(ChainFault::HashMismatch { seq, .. })) if seq.get() == 20
        ),
        "{report:?}"
    );
    assert_eq!(report.checked, 19);
}

/// The reference blocks are an index, and verify compares them with the records: an entry
/// changed to another reference, or a missing block, names the first seq it misleads.
#[test]
fn a_changed_or_missing_reference_block_is_caught() {
    let dir = sample();
    // Batches: 5 opening events, then 35, 40 and 40 payments: blocks at 1, 6, 41 and 81.
    with_sled(dir.path(), |db| {
        let key = [&[b'r'][..], &41u64.to_be_bytes()].concat();
        let block = db
            .get(&key)
            .unwrap()
            .expect("the reference block of seq 41");
        let mut refs: Vec<String> = fundtrail::store::block::reference_entries(
            &fundtrail::store::block::decode_stored(&block).unwrap(),
        )
        .map(|r| r.unwrap().to_string())
        .collect();
        refs[3] = "BANK-99999999".into();
        let mut changed = Vec::new();
        for r in &refs {
            fundtrail::store::block::push_reference(&mut changed, r);
        }
        db.insert(key, fundtrail::store::block::encode_stored(&changed))
            .unwrap();
    });
    let report = verify(dir.path());
    match report.fault.expect("the edit is caught") {
        AuditFault::ReferenceIndex {
            seq,
            listed,
            recorded,
        } => {
            assert_eq!(seq, Seq::new(44));
            assert_eq!(listed.as_deref(), Some("BANK-99999999"));
            assert_ne!(recorded, "BANK-99999999");
        }
        other => panic!("expected a reference index fault, found {other}"),
    }
    assert_eq!(report.checked, 44);

    let dir = sample();
    with_sled(dir.path(), |db| {
        db.remove([&[b'r'][..], &81u64.to_be_bytes()].concat())
            .unwrap()
    });
    let fault = fault(dir.path());
    assert!(
        matches!(
            fault,
            AuditFault::ReferenceIndex {
                seq,
                listed: None,
                ..
            } if seq.get() == 81
        ),
        "{fault}"
    );
    assert_eq!(fault.first_bad_seq(), Some(Seq::new(81)));
}

fn household_key(id: &str) -> Vec<u8> {
    [b"h", id.as_bytes()].concat()
}

/// The household index is checked against the enrollments in the log: a stray entry, a
/// missing one, and one moved to another enrollment are each caught, at the lowest seq
/// involved. The opening events enroll PL-0001..=PL-0004 at seqs 1..=4.
#[test]
fn a_changed_household_index_is_caught() {
    let stray = sample();
    with_sled(stray.path(), |db| {
        db.insert(household_key("PL-FAKE"), &6u64.to_be_bytes())
            .unwrap()
    });
    let report = verify(stray.path());
    assert_eq!(report.checked, SIZE, "the log itself verified");
    let found = report.fault.expect("the stray entry is caught");
    assert_eq!(
        found,
        AuditFault::HouseholdIndex {
            household: "PL-FAKE".into(),
            listed: Some(Seq::new(6)),
            enrolled: None,
        }
    );
    assert_eq!(found.first_bad_seq(), None, "event 6 itself is fine");
    assert_eq!(
        found.to_string(),
        "household PL-FAKE: the household index lists seq 6, but the log enrolls no such household"
    );

    let missing = sample();
    with_sled(missing.path(), |db| {
        db.remove(household_key(&household(3))).unwrap()
    });
    assert_eq!(
        fault(missing.path()),
        AuditFault::HouseholdIndex {
            household: household(3),
            listed: None,
            enrolled: Some(Seq::new(3)),
        }
    );

    let moved = sample();
    with_sled(moved.path(), |db| {
        db.insert(household_key(&household(4)), &2u64.to_be_bytes())
            .unwrap()
    });
    let damaged = open_ledger(moved.path()).damaged().map(str::to_owned);
    assert_eq!(
        damaged.as_deref(),
        Some("household PL-0004 points at seq 2, the enrollment of PL-0002"),
        "opening notices the entry too"
    );
    let found = fault(moved.path());
    assert_eq!(
        found,
        AuditFault::HouseholdIndex {
            household: household(4),
            listed: Some(Seq::new(2)),
            enrolled: Some(Seq::new(4)),
        }
    );
    assert_eq!(found.first_bad_seq(), Some(Seq::new(4)));

    let unreadable = sample();
    with_sled(unreadable.path(), |db| {
        db.insert(household_key(&household(2)), &[1u8, 2, 3][..])
            .unwrap()
    });
    assert!(
        matches!(
            fault(unreadable.path()),
            AuditFault::HouseholdIndexUnreadable(_)
        ),
        "an entry that is not a seq is reported"
    );
}

/// A fault in the log itself comes before one in the household index.
#[test]
fn a_chain_fault_is_reported_before_a_household_index_fault() {
    let dir = sample();
    with_sled(dir.path(), |db| {
        db.insert(household_key("PL-FAKE"), &6u64.to_be_bytes())
            .unwrap();
        change_amount_of_57(db);
    });
    assert_hash_mismatch_at_57(&fault(dir.path()));
}

// ---- the write rules, re-performed over the whole log -------------------------------------

/// The reference block holding `seq`: its key, its references, and `seq`'s index in it.
fn reference_block_of(db: &sled::Db, seq: u64) -> (Vec<u8>, Vec<String>, usize) {
    let key = |n: u64| [&[b'r'][..], &n.to_be_bytes()].concat();
    let (found, block) = db
        .range(key(0)..=key(seq))
        .next_back()
        .expect("a reference block")
        .unwrap();
    let first = u64::from_be_bytes(found[1..].try_into().unwrap());
    let refs = fundtrail::store::block::reference_entries(
        &fundtrail::store::block::decode_stored(&block).unwrap(),
    )
    .map(|r| r.unwrap().to_string())
    .collect();
    (found.to_vec(), refs, (seq - first) as usize)
}

/// Lists `reference` for `seq` in its reference block.
fn set_listed_reference(db: &sled::Db, seq: u64, reference: &str) {
    let (key, mut refs, index) = reference_block_of(db, seq);
    refs[index] = reference.to_string();
    let mut block = Vec::new();
    for r in &refs {
        fundtrail::store::block::push_reference(&mut block, r);
    }
    db.insert(key, fundtrail::store::block::encode_stored(&block))
        .unwrap();
}

/// Rewrites the record of `seq` as `edit` makes it, lists its reference, and rehashes the
/// chain, the stored tree and the head from it: the store agrees with itself and with
/// every index, as if a ledger without the rules had written it. Only the rules can tell.
fn rewrite(db: &sled::Db, seq: u64, edit: impl FnOnce(&mut RecordV1)) {
    let (hash, bytes) = read_event(db, seq);
    let mut record = decode(&bytes).unwrap();
    edit(&mut record);
    set_listed_reference(db, seq, &record.reference);
    write_event(db, seq, &hash, &encode(&record));
    rehash_from(db, seq);
}

/// The payment of seq 49 (i = 43 in `payments`): BANK-00000043 to PL-0004, 680.43.
const PAID_AT_49: (&str, &str, i64) = ("BANK-00000043", "PL-0004", 68_043);

fn reversal_of_49(date: i32) -> (String, Body) {
    let (target, household, fen) = PAID_AT_49;
    (
        format!("reversal:{target}"),
        Body::Reversal(ReversalV1 {
            target_seq: 49,
            target_reference: target.into(),
            household: household.into(),
            program: "support_allowance".into(),
            amount_fen: fen,
            persons: 1,
            value_date: date,
            reason: "重复支付".into(),
        }),
    )
}

fn set(record: &mut RecordV1, (reference, body): (String, Body)) {
    record.reference = reference;
    record.body = body;
}

fn payment(record: &mut RecordV1) -> &mut PaymentV1 {
    match &mut record.body {
        Body::Disbursement(p) => p,
        other => panic!("not a disbursement: {other:?}"),
    }
}

/// Days since 1970-01-01.
const D2014_01_01: i32 = 16_071;
const D2015_01_01: i32 = 16_436;
const D2015_02_02: i32 = 16_468;
const D2999_01_01: i32 = 375_835;

/// The rule fault `verify` reports: its seq, field and reason.
fn rule_fault(dir: &std::path::Path) -> (u64, &'static str, String) {
    let report = verify(dir);
    match report.fault.expect("the broken rule is caught") {
        AuditFault::Rule { seq, field, reason } => {
            assert_eq!(
                report.checked,
                seq.get() - 1,
                "the events before it verified"
            );
            (seq.get(), field, reason)
        }
        other => panic!("expected a rule fault, found {other}"),
    }
}

#[test]
fn verify_names_the_seq_of_each_broken_write_rule() {
    type Edit = Box<dyn Fn(&sled::Db)>;
    let cases: Vec<(&str, Edit, u64, &str, &str)> = vec![
        (
            "a duplicate reference",
            Box::new(|db| rewrite(db, 50, |r| r.reference = "BANK-00000043".into())),
            50,
            "reference",
            "BANK-00000043 is already recorded as seq 49",
        ),
        (
            "a reference repeated far from its first use, before a later fault",
            Box::new(|db| {
                rewrite(db, 110, |r| r.reference = "BANK-00000003".into());
                rewrite(db, 115, |r| payment(r).amount_fen = 8_999_000_000);
            }),
            110,
            "reference",
            "BANK-00000003 is already recorded as seq 9",
        ),
        (
            "a repeated reference on a payment beyond the budget",
            Box::new(|db| {
                rewrite(db, 50, |r| {
                    r.reference = "BANK-00000043".into();
                    payment(r).amount_fen = 8_999_000_000;
                })
            }),
            50,
            "reference",
            "BANK-00000043 is already recorded as seq 49",
        ),
        (
            "a payment beyond the budget before a repeated reference",
            Box::new(|db| {
                rewrite(db, 50, |r| payment(r).amount_fen = 8_999_000_000);
                rewrite(db, 60, |r| r.reference = "BANK-00000003".into());
            }),
            50,
            "amount",
            "exceeds what is left of program support_allowance",
        ),
        (
            "a payment reversed twice",
            Box::new(|db| {
                rewrite(db, 50, |r| set(r, reversal_of_49(D2015_02_02)));
                rewrite(db, 70, |r| set(r, reversal_of_49(D2015_02_02)));
            }),
            70,
            "reference",
            "payment BANK-00000043 is already reversed (seq 50)",
        ),
        (
            "a reversal naming another event's seq as its target",
            Box::new(|db| {
                rewrite(db, 50, |r| {
                    let (reference, mut body) = reversal_of_49(D2015_02_02);
                    if let Body::Reversal(v) = &mut body {
                        v.target_seq = 48;
                    }
                    set(r, (reference, body));
                })
            }),
            50,
            "record",
            "target_seq: 49",
        ),
        (
            "a payment beyond the budget",
            Box::new(|db| rewrite(db, 50, |r| payment(r).amount_fen = 8_999_000_000)),
            50,
            "amount",
            "exceeds what is left of program support_allowance",
        ),
        (
            "a reversal of a reversal",
            Box::new(|db| {
                rewrite(db, 50, |r| set(r, reversal_of_49(D2015_02_02)));
                rewrite(db, 51, |r| {
                    let (_, mut body) = reversal_of_49(D2015_02_02);
                    if let Body::Reversal(v) = &mut body {
                        v.target_seq = 50;
                        v.target_reference = "reversal:BANK-00000043".into();
                    }
                    set(r, ("reversal:reversal:BANK-00000043".into(), body));
                });
            }),
            51,
            "reference",
            "reversal:",
        ),
        (
            "a reversal dated before its payment",
            Box::new(|db| rewrite(db, 50, |r| set(r, reversal_of_49(D2015_01_01)))),
            50,
            "date",
            "is before payment BANK-00000043's own date 2015-01-31",
        ),
        (
            "a payment dated before the household's enrollment",
            Box::new(|db| rewrite(db, 50, |r| payment(r).value_date = D2014_01_01)),
            50,
            "date",
            "2014-01-01 is before household PL-0001 was enrolled (2014-03-01)",
        ),
        (
            "a payment to a household never enrolled",
            Box::new(|db| rewrite(db, 50, |r| payment(r).household = "PL-0099".into())),
            50,
            "household_id",
            "PL-0099 is not enrolled",
        ),
        (
            "a payment dated 2999",
            Box::new(|db| rewrite(db, 50, |r| payment(r).value_date = D2999_01_01)),
            50,
            "date",
            "2999-01-01 is more than a year after the day it is recorded (2023-11-14)",
        ),
        (
            "a household enrolled twice",
            Box::new(|db| {
                rewrite(db, 50, |r| {
                    let (_, first) = read_event(db, 1);
                    let enrolled = decode(&first).unwrap();
                    set(r, (enrolled.reference, enrolled.body));
                });
            }),
            50,
            "household_id",
            "PL-0001 is already enrolled (seq 1)",
        ),
    ];
    for (what, edit, seq, field, reason) in cases {
        let dir = sample();
        with_sled(dir.path(), |db| edit(db));
        let found = rule_fault(dir.path());
        assert_eq!((found.0, found.1), (seq, field), "{what}: {}", found.2);
        assert!(found.2.contains(reason), "{what}: {}", found.2);
    }
}

#[test]
fn verify_names_a_record_over_16_kib() {
    let dir = sample();
    with_sled(dir.path(), |db| {
        rewrite(db, 70, |r| payment(r).memo = String::new());
        let (_, bytes) = read_event(db, 70);
        // One byte over 16 KiB: the most the encoder writes (its limit counts the bytes
        // after the version byte), so only the documented limit refuses it.
        let fill = 16 * 1024 + 1 - bytes.len();
        rewrite(db, 70, |r| payment(r).memo = "x".repeat(fill));
        assert_eq!(read_event(db, 70).1.len(), 16 * 1024 + 1);
    });
    match fault(dir.path()) {
        AuditFault::Record { seq, reason } => {
            assert_eq!(seq, Seq::new(70));
            assert!(reason.contains("over the limit of 16384 bytes"), "{reason}");
        }
        other => panic!("expected a record fault, found {other}"),
    }
}

#[test]
fn verify_decodes_every_record_and_names_a_trailing_byte() {
    let dir = sample();
    with_sled(dir.path(), |db| {
        let (hash, mut bytes) = read_event(db, 70);
        bytes.push(0);
        write_event(db, 70, &hash, &bytes);
        rehash_from(db, 70);
    });
    let report = verify(dir.path());
    match report.fault.expect("the trailing byte is caught") {
        AuditFault::Record { seq, reason } => {
            assert_eq!(seq, Seq::new(70));
            assert!(reason.contains("does not decode"), "{reason}");
        }
        other => panic!("expected a record fault, found {other}"),
    }
}

// ---- entries beyond the head ---------------------------------------------------------------

/// `verify`'s report of entries beyond the head (SIZE): each planted entry, by what it is
/// and where.
fn strays(dir: &std::path::Path) -> (Vec<StrayEntry>, usize, String) {
    match fault(dir) {
        fault @ AuditFault::BeyondHead { .. } => {
            let text = fault.to_string();
            let AuditFault::BeyondHead {
                head,
                entries,
                total,
            } = fault
            else {
                unreachable!()
            };
            assert_eq!(head, SIZE);
            (entries, total, text)
        }
        other => panic!("expected entries beyond the head, found {other}"),
    }
}

#[test]
fn verify_names_each_kind_of_entry_beyond_the_head() {
    // Blocks of the sample: 1 (5 events), 6 (35), 41 (40), 81 (40): the head is 120.
    type Plant = Box<dyn Fn(&sled::Db)>;
    let cases: Vec<(&str, Plant, StrayEntry)> = vec![
        (
            "a reference block",
            Box::new(|db| {
                let mut block = Vec::new();
                fundtrail::store::block::push_reference(&mut block, "BANK-00000000");
                db.insert(
                    [&[b'r'][..], &121u64.to_be_bytes()].concat(),
                    fundtrail::store::block::encode_stored(&block),
                )
                .unwrap();
            }),
            StrayEntry::References {
                block: Seq::new(121),
                first: Seq::new(121),
                last: Seq::new(121),
            },
        ),
        (
            "an empty reference block",
            Box::new(|db| {
                db.insert(
                    [&[b'r'][..], &130u64.to_be_bytes()].concat(),
                    fundtrail::store::block::encode_stored(&[]),
                )
                .unwrap();
            }),
            StrayEntry::References {
                block: Seq::new(130),
                first: Seq::new(130),
                last: Seq::new(130),
            },
        ),
        (
            "a reference entry past the head in the last block",
            Box::new(|db| {
                let (key, mut refs, _) = reference_block_of(db, 120);
                refs.push("BANK-00000000".into());
                let mut block = Vec::new();
                for r in &refs {
                    fundtrail::store::block::push_reference(&mut block, r);
                }
                db.insert(key, fundtrail::store::block::encode_stored(&block))
                    .unwrap();
            }),
            StrayEntry::References {
                block: Seq::new(81),
                first: Seq::new(121),
                last: Seq::new(121),
            },
        ),
        (
            "an event past the head in the last block",
            Box::new(|db| {
                // Event 120 again at 121, inside block 81: no block starts beyond the head.
                let key = block_key(81);
                let value = db.get(&key).unwrap().unwrap();
                let mut entries: Vec<([u8; 32], Vec<u8>)> = fundtrail::store::block::event_entries(
                    &fundtrail::store::block::decode_stored(&value).unwrap(),
                )
                .map(|e| {
                    let e = e.unwrap();
                    (*e.hash, e.record.to_vec())
                })
                .collect();
                entries.push(entries.last().unwrap().clone());
                let pairs: Vec<(&[u8; 32], &[u8])> =
                    entries.iter().map(|(h, r)| (h, r.as_slice())).collect();
                db.insert(
                    key,
                    fundtrail::store::block::encode_stored(&fundtrail::store::block::event_block(
                        &pairs,
                    )),
                )
                .unwrap();
            }),
            StrayEntry::Events {
                block: Seq::new(81),
                first: Seq::new(121),
                last: Seq::new(121),
            },
        ),
        (
            "a Merkle node",
            Box::new(|db| {
                db.insert(node_key(6, 1), &[7u8; 32][..]).unwrap();
            }),
            StrayEntry::Node { level: 6, index: 1 },
        ),
        (
            "a household entry",
            Box::new(|db| {
                db.insert(household_key("PL-0099"), &130u64.to_be_bytes())
                    .unwrap();
            }),
            StrayEntry::Household {
                household: "PL-0099".into(),
                seq: Seq::new(130),
            },
        ),
    ];
    for (what, plant, expected) in cases {
        let dir = sample();
        with_sled(dir.path(), |db| plant(db));
        let (entries, total, text) = strays(dir.path());
        assert_eq!(
            (entries.as_slice(), total),
            (&[expected.clone()][..], 1),
            "{what}"
        );
        assert!(text.contains(&expected.to_string()), "{what}: {text}");
        assert!(
            text.contains("beyond the head (size 120)"),
            "{what}: {text}"
        );
    }
}

#[test]
fn entries_beyond_the_head_are_reported_together_and_left_in_place() {
    let dir = sample();
    let r121 = [&[b'r'][..], &121u64.to_be_bytes()].concat();
    with_sled(dir.path(), |db| {
        let mut block = Vec::new();
        fundtrail::store::block::push_reference(&mut block, "BANK-00000001");
        db.insert(&r121, fundtrail::store::block::encode_stored(&block))
            .unwrap();
        db.insert(node_key(7, 1), &[7u8; 32][..]).unwrap();
        db.insert(household_key("PL-0099"), &121u64.to_be_bytes())
            .unwrap();
    });
    let report = verify(dir.path());
    let fault = report.fault.expect("the strays are caught");
    assert_eq!(fault.first_bad_seq(), Some(Seq::new(121)));
    let (entries, total, text) = strays(dir.path());
    assert_eq!(total, 3, "{text}");
    assert_eq!(entries.len(), 3);
    assert!(
        text.starts_with("3 entries are stored beyond the head"),
        "{text}"
    );
    // verify reports; it clears nothing.
    with_sled(dir.path(), |db| {
        assert!(db.get(&r121).unwrap().is_some());
        assert!(db.get(node_key(7, 1)).unwrap().is_some());
    });
}
