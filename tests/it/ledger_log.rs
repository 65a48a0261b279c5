//! The ledger as a Merkle log, through the public API: stored nodes, proofs against every
//! checkpoint, the signing key, and crash clean-up of nodes beyond the head.

use std::os::unix::fs::PermissionsExt;

use crate::support::ledger::*;
use fundtrail::keys::{KeyError, KEY_FILE};
use fundtrail::ledger::{Ledger, LedgerError, Row, RowSource, GROUP_COMMIT_EVENTS};
use fundtrail::model::domain::{Command, Seq};
use fundtrail::store::{StoreError, STORED_MIN_LEVEL};
use fundtrail::tlog::checkpoint::open_note;
use fundtrail::tlog::merkle::{self, Blake3Hasher, TreeHasher};

fn node_count(dir: &std::path::Path) -> usize {
    with_sled(dir, |db| db.scan_prefix(b"n").count())
}

#[test]
fn appends_store_one_node_per_complete_subtree_at_level_6_and_up_and_no_leaf_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path(), &[100, 195]);
    assert_eq!(ledger.view().head().size, 300);
    drop(ledger);
    // 300 leaves: 4 subtrees of 64, 2 of 128, 1 of 256.
    assert_eq!(node_count(dir.path()), 4 + 2 + 1);
    let expected: u64 = (STORED_MIN_LEVEL..64).map(|l| 300u64 >> l).sum();
    assert_eq!(node_count(dir.path()) as u64, expected);
    // And no leaf tiles (layout 7): leaf hashes are recomputed from the event blocks.
    assert_eq!(with_sled(dir.path(), |db| db.scan_prefix(b"l").count()), 0);
}

#[test]
fn every_event_has_a_verifying_inclusion_proof_against_every_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path(), &[27, 50, 1, 67]);
    let key = ledger.view().verifier_key().clone();
    let sizes = [5, 32, 82, 83, 150];
    for size in sizes {
        let signed = ledger.view().checkpoint_at(size).unwrap().expect("signed");
        let checkpoint = open_note(&signed.note, &key).unwrap();
        assert_eq!(ledger.view().root_at(size).unwrap(), checkpoint.root);
        for seq in 1..=size {
            let hash = ledger.view().stored(Seq::new(seq)).unwrap().hash;
            let proof = ledger.view().inclusion_proof(Seq::new(seq), size).unwrap();
            merkle::verify_inclusion(
                &Blake3Hasher,
                seq - 1,
                size,
                &Blake3Hasher.hash_leaf(hash.as_bytes()),
                &proof,
                &checkpoint.root,
            )
            .unwrap();
        }
    }
    for (i, &old) in sizes.iter().enumerate() {
        for &new in &sizes[i..] {
            let proof = ledger.view().consistency_proof(old, new).unwrap();
            let (r1, r2) = (
                ledger.view().root_at(old).unwrap(),
                ledger.view().root_at(new).unwrap(),
            );
            merkle::verify_consistency(&Blake3Hasher, old, new, &proof, &r1, &r2).unwrap();
        }
    }
}

/// Leaf tiles are recomputed from the event blocks and kept for the next proofs: one
/// writer appending an event at a time (a block per event) proves every event after each
/// append, the head's tile growing under the kept copy, and every proof still verifies
/// against the root; so do proofs from a view of an earlier head.
#[test]
fn proofs_stay_right_as_the_head_grows_one_event_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = build(dir.path(), &[]);
    let earlier = ledger.view().clone();
    for i in 0..70 {
        ledger.append(payments(i, 1), &ctx()).unwrap();
        let size = ledger.view().head().size;
        let root = ledger.view().root();
        assert_eq!(ledger.view().root_at(size).unwrap(), root);
        for seq in 1..=size {
            let hash = ledger.view().stored(Seq::new(seq)).unwrap().hash;
            let proof = ledger.view().inclusion_proof(Seq::new(seq), size).unwrap();
            let leaf = Blake3Hasher.hash_leaf(hash.as_bytes());
            merkle::verify_inclusion(&Blake3Hasher, seq - 1, size, &leaf, &proof, &root)
                .unwrap_or_else(|e| panic!("seq {seq} at size {size}: {e}"));
        }
    }
    let size = earlier.head().size;
    let proof = earlier.inclusion_proof(Seq::new(size), size).unwrap();
    let hash = earlier.stored(Seq::new(size)).unwrap().hash;
    let leaf = Blake3Hasher.hash_leaf(hash.as_bytes());
    merkle::verify_inclusion(
        &Blake3Hasher,
        size - 1,
        size,
        &leaf,
        &proof,
        &earlier.root(),
    )
    .unwrap();
}

#[test]
fn proofs_outside_the_ledger_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path(), &[10]);
    for (seq, size) in [(0, 15), (16, 15), (3, 16)] {
        assert!(matches!(
            ledger.view().inclusion_proof(Seq::new(seq), size),
            Err(LedgerError::Invalid(_))
        ));
    }
    assert!(matches!(
        ledger.view().consistency_proof(10, 5),
        Err(LedgerError::Invalid(_))
    ));
    assert!(matches!(
        ledger.view().root_at(16),
        Err(LedgerError::Invalid(_))
    ));
    assert_eq!(ledger.view().root_at(0).unwrap(), Blake3Hasher.empty_root());
}

#[test]
fn checkpointing_an_unchanged_head_returns_the_stored_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = build(dir.path(), &[10]);
    let first = ledger.view().latest_checkpoint().unwrap().unwrap();
    assert_eq!(ledger.checkpoint().unwrap(), first);
    assert_eq!(first.checkpoint.size, 15);
    assert_eq!(first.checkpoint.origin, ledger.view().origin());
    assert_eq!(first.checkpoint.root, ledger.view().root());
    drop(ledger);
    assert_eq!(with_sled(dir.path(), |db| db.scan_prefix(b"c").count()), 2);
}

#[test]
fn an_empty_ledger_can_be_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::init(dir.path()).unwrap();
    let signed = ledger.checkpoint().unwrap();
    assert_eq!(signed.checkpoint.size, 0);
    assert_eq!(signed.checkpoint.root, Blake3Hasher.empty_root());
    ledger.append(opening(), &ctx()).unwrap();
    assert_eq!(ledger.checkpoint().unwrap().checkpoint.size, 5);
}

#[test]
fn signing_needs_the_ledgers_own_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    drop(Ledger::init(other.path()).unwrap());
    let mut ledger = build(dir.path(), &[3]);
    let key = dir.path().join(KEY_FILE);

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        ledger.checkpoint(),
        Err(LedgerError::Key(KeyError::TooOpen { .. }))
    ));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mine = std::fs::read(&key).unwrap();
    std::fs::copy(other.path().join(KEY_FILE), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        ledger.checkpoint(),
        Err(LedgerError::Key(KeyError::NotThisLedger { .. }))
    ));
    std::fs::remove_file(&key).unwrap();
    assert!(matches!(
        ledger.checkpoint(),
        Err(LedgerError::Key(KeyError::Missing(_)))
    ));
    std::fs::write(&key, mine).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    ledger.append(payments(100, 1), &ctx()).unwrap();
    assert_eq!(ledger.checkpoint().unwrap().checkpoint.size, 9);
}

#[test]
fn init_keeps_the_origin_and_refuses_a_bad_one_before_creating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    assert!(matches!(
        Ledger::init_with_origin(&bad, "two words"),
        Err(LedgerError::Key(KeyError::InvalidOrigin { .. }))
    ));
    assert!(!bad.exists());
    let good = dir.path().join("good");
    let ledger = Ledger::init_with_origin(&good, "panlong.example/fundtrail").unwrap();
    assert_eq!(ledger.view().origin(), "panlong.example/fundtrail");
    let key = ledger.view().verifier_key().to_string();
    drop(ledger);
    let reopened = open_ledger(&good);
    assert_eq!(reopened.view().verifier_key().to_string(), key);
    drop(reopened);
    assert!(matches!(
        Ledger::init_with_origin(&good, "x"),
        Err(LedgerError::Store(StoreError::AlreadyExists(_)))
    ));
}

/// Rows of which one, after the first full chunk was handed to the writer, does not parse:
/// the batch is rejected after a chunk was written beyond the head.
struct BadRowAfterFirstChunk {
    commands: Vec<Command>,
}

impl RowSource for BadRowAfterFirstChunk {
    fn rows(&mut self) -> Result<Box<dyn Iterator<Item = Row> + '_>, LedgerError> {
        Ok(Box::new(self.commands.iter().enumerate().map(|(i, c)| {
            Row {
                line: i as u64 + 1,
                command: if i == GROUP_COMMIT_EVENTS + 100 {
                    Err(("amount", "changed".into()))
                } else {
                    Ok(c.clone())
                },
            }
        })))
    }
}

#[test]
fn nodes_written_beyond_the_head_by_a_failed_batch_are_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = build(dir.path(), &[]);
    let rows = GROUP_COMMIT_EVENTS as u64 + 500;
    let mut source = BadRowAfterFirstChunk {
        commands: payments(0, rows),
    };
    // A full chunk (10,000 events, about 1,875 nodes and tiles) was written beyond the
    // head before the bad row was planned; the ledger removes the chunk at once.
    assert!(ledger.append_rows(&mut source, &ctx()).is_err());
    assert_eq!(ledger.view().head().size, 5);
    drop(ledger);
    assert_eq!(
        node_count(dir.path()),
        0,
        "5 events complete no stored subtree"
    );
    assert_eq!(with_sled(dir.path(), |db| db.scan_prefix(b"l").count()), 0);
    assert_eq!(with_sled(dir.path(), event_count), 5);

    let mut ledger = open_ledger(dir.path());
    ledger.append(payments(0, 300), &ctx()).unwrap();
    assert_eq!(ledger.checkpoint().unwrap().checkpoint.size, 305);
    assert_eq!(ledger.view().verify(|_| {}).unwrap().fault, None);
}

/// Debris beyond the head (an event, nodes and a tile) that no sealed marker of an
/// interrupted batch explains is not removed: the ledger refuses to write, and the store
/// keeps it for `verify`. (The removal of a real interrupted batch is tested in crash.rs.)
#[test]
fn nodes_and_tiles_beyond_the_head_without_a_marker_are_kept_and_block_writes() {
    let dir = tempfile::tempdir().unwrap();
    // 128 events: 2 tiles, nodes 6/0, 6/1, 7/0.
    drop(build(dir.path(), &[123]));
    with_sled(dir.path(), |db| {
        let (hash, record) = read_event(db, 128);
        write_event(db, 129, &hash, &record);
        db.insert(node_key(6, 2), &[1u8; 32][..]).unwrap();
        db.insert(node_key(8, 0), &[1u8; 32][..]).unwrap();
        db.insert(tile_key(2), vec![1u8; 2048]).unwrap();
    });
    let mut ledger = open_ledger(dir.path());
    assert_eq!(ledger.view().head().size, 128);
    let doubt = ledger
        .damaged()
        .expect("debris beyond the head")
        .to_string();
    assert!(doubt.contains("from seq 129"), "{doubt}");
    assert!(ledger.append(payments(0, 1), &ctx()).is_err());
    drop(ledger);
    assert_eq!(node_count(dir.path()), 5);
    assert_eq!(with_sled(dir.path(), |db| db.scan_prefix(b"l").count()), 1);
    assert_eq!(with_sled(dir.path(), event_count), 129);
}

/// FORMAT.md §3's example: batches of 5, 150 and 1 events are stored as event blocks at
/// 1 (5 events), 6, 70, 134 (64, 64, 22) and 156 (1), each beside a reference block
/// listing the same events' references in order.
#[test]
fn each_batch_stores_its_events_in_blocks_of_at_most_64() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path(), &[150, 1]);
    assert_eq!(ledger.view().head().size, 156);
    let references: Vec<String> = (1..=156)
        .map(|n| ledger.view().record(Seq::new(n)).unwrap().reference)
        .collect();
    drop(ledger);
    let blocks = with_sled(dir.path(), |db| {
        insider::event_blocks(db)
            .into_iter()
            .map(|(first, entries)| (first, entries.len()))
            .collect::<Vec<_>>()
    });
    assert_eq!(blocks, [(1, 5), (6, 64), (70, 64), (134, 22), (156, 1)]);
    let reference_blocks = with_sled(dir.path(), |db| {
        db.scan_prefix(b"r")
            .map(|item| {
                let (key, value) = item.unwrap();
                let first = u64::from_be_bytes(key[1..].try_into().unwrap());
                let refs: Vec<String> = fundtrail::store::block::reference_entries(
                    &fundtrail::store::block::decode_stored(&value).unwrap(),
                )
                .map(|r| r.unwrap().to_string())
                .collect();
                (first, refs)
            })
            .collect::<Vec<_>>()
    });
    let firsts: Vec<u64> = reference_blocks.iter().map(|(first, _)| *first).collect();
    assert_eq!(firsts, [1, 6, 70, 134, 156]);
    let listed: Vec<String> = reference_blocks.into_iter().flat_map(|(_, r)| r).collect();
    assert_eq!(listed, references);
}

#[test]
fn references_are_found_after_reopening_and_in_the_batch_that_wrote_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = build(dir.path(), &[70]);
    // Looked up before the next append: the index was read from the blocks, then kept.
    assert_eq!(
        ledger.view().lookup_reference("BANK-00000069").unwrap(),
        Some(Seq::new(75))
    );
    ledger.append(payments(70, 3), &ctx()).unwrap();
    assert_eq!(
        ledger.view().lookup_reference("BANK-00000072").unwrap(),
        Some(Seq::new(78))
    );
    // A retry of an appended payment is a duplicate, found through the index.
    let summary = ledger.append(payments(69, 1), &ctx()).unwrap();
    assert_eq!((summary.appended, summary.duplicates), (0, 1));
    drop(ledger);
    let ledger = open_ledger(dir.path());
    assert_eq!(
        ledger.view().lookup_reference("BANK-00000000").unwrap(),
        Some(Seq::new(6))
    );
    assert_eq!(
        ledger.view().lookup_reference("BANK-00000072").unwrap(),
        Some(Seq::new(78))
    );
    assert_eq!(
        ledger.view().lookup_reference("BANK-99999999").unwrap(),
        None
    );
}

/// A workflow's append is durable even when the checkpoint after it cannot be signed: the
/// error says how many events were appended, and the next signature covers them.
#[test]
fn an_append_whose_checkpoint_fails_says_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = build(dir.path(), &[3]);
    let key = dir.path().join(KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut rows = payments(200, 2);
    match ledger.append_signed(&mut rows, &ctx()) {
        Err(LedgerError::Unsigned { appended, source }) => {
            assert_eq!(appended, 2);
            assert!(matches!(
                *source,
                LedgerError::Key(KeyError::TooOpen { .. })
            ));
        }
        other => panic!("expected Unsigned, got {other:?}"),
    }
    assert_eq!(ledger.view().head().size, 10);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // An identical retry appends nothing and signs nothing new; `checkpoint` then does.
    let (summary, latest) = ledger.append_signed(&mut rows, &ctx()).unwrap();
    assert_eq!((summary.appended, summary.duplicates), (0, 2));
    assert_eq!(latest.map(|c| c.checkpoint.size), Some(8));
    assert_eq!(ledger.checkpoint().unwrap().checkpoint.size, 10);
}

/// `close` returns only once sled has let go of its data file: the database opens directly
/// at once, every time, with no retry, though sled's flusher outlives the last handle.
#[test]
fn a_closed_ledger_opens_directly_at_once() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &[]).into_inner().close().unwrap();
    for round in 0..10 {
        let mut ledger = Ledger::open(dir.path()).unwrap();
        ledger.append(payments(round, 1), &ctx()).unwrap();
        ledger.close().unwrap();
        let db = sled::open(dir.path().join("sled"))
            .unwrap_or_else(|e| panic!("round {round}: the closed ledger is still locked: {e}"));
        insider::close_db(db, dir.path());
    }
}

/// A view still alive keeps the store open: `close` waits for it, then says the ledger is
/// in use, and the ledger opens once the view is gone.
#[test]
fn close_with_a_view_alive_reports_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path(), &[3]);
    let ledger = ledger.into_inner();
    let view = ledger.view().clone();
    let closed = ledger.close();
    assert!(
        matches!(&closed, Err(LedgerError::Store(StoreError::InUse { path, .. })) if path == dir.path()),
        "{closed:?}"
    );
    assert_eq!(view.head().size, 5 + 3, "the view still reads");
    drop(view);
    open_ledger(dir.path());
}
