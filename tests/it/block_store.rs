//! Event and reference blocks stored compressed (FORMAT.md §3.3, layout 7): damage to a
//! stored block is caught by reads and by `verify`, ledgers of layout 4 (blocks stored
//! as their bytes) are refused until `fundtrail upgrade` recodes them, in place and
//! resumably, ledgers of layout 5 (blocks stored with LZ4) until it marks them layout 7,
//! which reads their blocks as they are, and ledgers of layout 6 (leaf tiles stored) until
//! it removes the tiles, in batches and resumably.

use crate::support::insider::{as_legacy_blocks, event_blocks};
use crate::support::*;
use fundtrail::ledger::import::ImportKind;
use fundtrail::store::block::{decode_stored, encode_stored, STORED_LZ4, STORED_ZSTD};
use fundtrail::tlog::merkle::{Blake3Hasher, TreeHasher};

/// The standard ledger and a batch of 40 payments, whose block (seqs 9 to 48) is stored
/// compressed.
fn with_payments() -> TempLedger {
    let t = TempLedger::standard();
    t.append_csv(ImportKind::Events, &payment_rows("PAY", 40));
    t
}

const PAYMENTS_BLOCK: u64 = STANDARD_SIZE + 1;

fn block_key(prefix: u8, first: u64) -> Vec<u8> {
    [&[prefix][..], &first.to_be_bytes()].concat()
}

/// Makes the ledger what layout 4 wrote: blocks without a form byte, layout 4.
fn as_layout_4(t: &TempLedger) {
    let db = t.sled();
    as_legacy_blocks(&db);
    db.insert(b"mlayout", 4u32.to_le_bytes().to_vec())
        .expect("write the layout");
    db.flush().expect("flush");
}

#[test]
fn a_damaged_compressed_block_is_caught_by_verify_and_by_reads() {
    let t = with_payments();
    {
        let db = t.sled();
        let key = block_key(b'e', PAYMENTS_BLOCK);
        let mut value = db.get(&key).expect("read").expect("the block").to_vec();
        assert_eq!(value[0], STORED_ZSTD);
        // The declared length: the block no longer decompresses.
        value[2] ^= 0x40;
        db.insert(key, value).expect("write");
        db.flush().expect("flush");
    }
    let report = t.verify();
    let fault = report.fault.expect("a fault").to_string();
    assert!(fault.contains("event block at seq 9"), "{fault}");
    assert_eq!(report.checked, STANDARD_SIZE);
    let run = t.run(&["log", "--limit", "100"]);
    run.assert_code(1);
    assert!(run.stderr.contains("event block at seq 9"), "{run:#?}");
    let run = t.run(&["household", "PL-0001"]);
    assert_ne!(run.code, 0, "{run:#?}");
}

#[test]
fn a_compressed_block_changed_to_other_bytes_fails_its_seal_and_the_chain() {
    let t = with_payments();
    {
        let db = t.sled();
        let key = block_key(b'e', PAYMENTS_BLOCK);
        let value = db.get(&key).expect("read").expect("the block");
        let mut block = decode_stored(&value).expect("decodes").into_owned();
        // A byte of the first record: the block still decompresses and parses.
        block[32 + 4 + 10] ^= 1;
        db.insert(key, encode_stored(&block)).expect("write");
        db.flush().expect("flush");
    }
    let report = t.verify();
    assert!(report.fault.is_some());
    assert_eq!(report.checked, STANDARD_SIZE);
    let run = t.run(&["log", "--limit", "100"]);
    run.assert_code(1);
    assert!(run.stderr.contains("does not match its seal"), "{run:#?}");
}

#[test]
fn a_layout_4_ledger_is_refused_naming_upgrade_and_upgraded_in_place() {
    let t = with_payments();
    let intact = t.dump();
    as_layout_4(&t);
    let before = t.dump();
    let run = t.run(&["household", "PL-0001"]);
    run.assert_code(3);
    assert!(
        run.stderr.contains("store layout 4") && run.stderr.contains("fundtrail upgrade"),
        "{run:#?}"
    );
    assert_eq!(t.dump(), before, "nothing was written");

    let run = t.run(&["upgrade"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("from store layout 4 to 7")
            && run.stdout.contains("blocks stored compressed"),
        "{run:#?}"
    );
    assert_eq!(t.dump(), intact, "the ledger as layout 7 wrote it");
    assert_eq!(t.verify().fault, None);
    t.run(&["household", "PL-0001"]).assert_ok();
}

/// An upgrade stopped after some blocks, as the version that wrote layout 5 left it: layout
/// 5 with the recoding marker, blocks before it recoded, after it not. The ledger is
/// refused as layout 4 until the upgrade, run again, finishes from the marker and marks it
/// layout 7.
#[test]
fn an_interrupted_upgrade_is_refused_then_finished_from_its_marker() {
    let t = with_payments();
    let intact = t.dump();
    as_layout_4(&t);
    {
        let db = t.sled();
        for prefix in [b'e', b'r'] {
            let key = block_key(prefix, 1);
            let block = db.get(&key).expect("read").expect("the first block");
            db.insert(key, encode_stored(&block)).expect("write");
        }
        db.insert(b"mlayout", 5u32.to_le_bytes().to_vec())
            .expect("write");
        db.insert(b"mrecoding", 4u64.to_le_bytes().to_vec())
            .expect("write");
        db.flush().expect("flush");
    }
    let run = t.run(&["log"]);
    run.assert_code(3);
    assert!(
        run.stderr.contains("store layout 4") && run.stderr.contains("fundtrail upgrade"),
        "{run:#?}"
    );
    let run = t.run(&["upgrade"]);
    run.assert_ok();
    assert!(run.stdout.contains("from store layout 4 to 7"), "{run:#?}");
    assert_eq!(t.dump(), intact);
    assert_eq!(t.verify().fault, None);
}

/// Makes the ledger what layout 5 wrote: every compressed block in LZ4's form, layout 5.
fn as_layout_5(t: &TempLedger) -> usize {
    let db = t.sled();
    let mut recoded = 0;
    for prefix in [b'e', b'r'] {
        for item in db.scan_prefix([prefix]) {
            let (key, value) = item.expect("read");
            if value[0] != STORED_ZSTD {
                continue;
            }
            let block = decode_stored(&value).expect("decodes").into_owned();
            let mut lz4 = vec![STORED_LZ4];
            lz4.extend_from_slice(&(block.len() as u32).to_le_bytes());
            lz4.extend_from_slice(&lz4_flex::block::compress(&block));
            db.insert(key, lz4).expect("write");
            recoded += 1;
        }
    }
    db.insert(b"mlayout", 5u32.to_le_bytes().to_vec())
        .expect("write the layout");
    db.flush().expect("flush");
    recoded
}

/// The stored form byte of every event and reference block, by key.
fn forms(t: &TempLedger) -> Vec<(Vec<u8>, u8)> {
    t.dump()
        .0
        .into_iter()
        .filter(|(key, _)| matches!(key[0], b'e' | b'r'))
        .map(|(key, value)| (key, value[0]))
        .collect()
}

/// A layout-5 ledger is refused, naming the upgrade, which writes the layout record and
/// nothing else: its LZ4 blocks are read (and verified) as they are, and the next append's
/// blocks are Zstandard's.
#[test]
fn a_layout_5_ledger_is_refused_then_marked_layout_7_and_its_lz4_blocks_read() {
    let t = with_payments();
    assert!(
        as_layout_5(&t) >= 2,
        "the payments' event and reference blocks"
    );
    let before = t.dump();
    let run = t.run(&["household", "PL-0001"]);
    run.assert_code(3);
    assert!(
        run.stderr.contains("store layout 5") && run.stderr.contains("fundtrail upgrade"),
        "{run:#?}"
    );
    assert_eq!(t.dump(), before, "nothing was written");

    let run = t.run(&["upgrade"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("from store layout 5 to 7")
            && run.stdout.contains("its blocks read as they are"),
        "{run:#?}"
    );
    let relabelled: Vec<_> = before
        .0
        .iter()
        .map(|(key, value)| match key.as_slice() {
            b"mlayout" => (key.clone(), 7u32.to_le_bytes().to_vec()),
            _ => (key.clone(), value.clone()),
        })
        .collect();
    assert_eq!(t.dump().0, relabelled, "only the layout record changed");
    assert_eq!(t.verify().fault, None);
    let json: serde_json::Value = serde_json::from_str(
        &t.run(&["household", "PL-0001", "--json"])
            .assert_ok()
            .stdout,
    )
    .expect("JSON");
    assert!(
        json["total_payments"].as_u64().expect("a count") > 0,
        "{json}"
    );

    let old_forms = forms(&t);
    assert!(old_forms.iter().any(|(_, form)| *form == STORED_LZ4));
    t.append_csv(ImportKind::Events, &payment_rows("MORE", 10));
    let new_forms: Vec<_> = forms(&t)
        .into_iter()
        .filter(|entry| !old_forms.contains(entry))
        .collect();
    assert_eq!(
        new_forms.len(),
        2,
        "one event and one reference block: {new_forms:?}"
    );
    assert!(new_forms.iter().all(|(_, form)| *form == STORED_ZSTD));
    assert_eq!(t.verify().fault, None);
}

/// The standard ledger and 140 payments: 148 events, two complete leaf tiles.
fn with_two_tiles() -> TempLedger {
    let t = TempLedger::standard();
    t.append_csv(ImportKind::Events, &payment_rows("PAY", 140));
    t
}

/// Leaf hashes in one leaf tile of layout 6 (FORMAT.md §6.3).
const TILE: usize = 64;

/// Makes the ledger what layout 6 wrote: a leaf tile `l‖index` (the 64 leaf hashes of its
/// events, in order) per complete tile, and layout 6. Returns the tiles written.
fn as_layout_6(t: &TempLedger) -> usize {
    let db = t.sled();
    let leaves: Vec<[u8; 32]> = event_blocks(&db)
        .into_iter()
        .flat_map(|(_, entries)| entries)
        .map(|(hash, _)| Blake3Hasher.hash_leaf(&hash))
        .collect();
    let mut tiles = 0;
    for (index, tile) in leaves.chunks_exact(TILE).enumerate() {
        db.insert(block_key(b'l', index as u64), tile.concat())
            .expect("write a tile");
        tiles += 1;
    }
    db.insert(b"mlayout", 6u32.to_le_bytes().to_vec())
        .expect("write the layout");
    db.flush().expect("flush");
    tiles
}

/// A layout-6 ledger is refused, naming the upgrade, which removes its leaf tiles and
/// writes layout 7: the ledger is then what layout 7 writes, and proofs are read from its
/// event blocks.
#[test]
fn a_layout_6_ledger_is_refused_then_its_leaf_tiles_removed_and_marked_layout_7() {
    let t = with_two_tiles();
    let intact = t.dump();
    assert_eq!(as_layout_6(&t), 2);
    let before = t.dump();
    let run = t.run(&["household", "PL-0001"]);
    run.assert_code(3);
    assert!(
        run.stderr.contains("store layout 6") && run.stderr.contains("fundtrail upgrade"),
        "{run:#?}"
    );
    assert_eq!(t.dump(), before, "nothing was written");

    let run = t.run(&["upgrade"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("from store layout 6 to 7")
            && run.stdout.contains("2 leaf tile(s) removed"),
        "{run:#?}"
    );
    assert_eq!(t.dump(), intact, "the ledger as layout 7 wrote it");
    assert_eq!(t.verify().fault, None);
    t.run(&["checkpoint"]).assert_ok();
    let run = t.run(&["prove", "--seq", "100"]);
    run.assert_ok();
    assert!(run.stdout.contains("\nindex 99\n"), "{run:#?}");
    let run = t.run(&["upgrade"]);
    run.assert_ok();
    assert!(run.stdout.contains("already in store layout 7"), "{run:#?}");
}

/// An upgrade from layout 6 stopped after its first batches: layout 7 with the marker and
/// some tiles left. The ledger is refused as layout 6 until the upgrade, run again,
/// removes the rest and the marker.
#[test]
fn an_interrupted_leaf_tile_removal_is_refused_then_finished_from_its_marker() {
    let t = with_two_tiles();
    let intact = t.dump();
    as_layout_6(&t);
    {
        let db = t.sled();
        db.remove(block_key(b'l', 0)).expect("remove a tile");
        db.insert(b"mlayout", 7u32.to_le_bytes().to_vec())
            .expect("write the layout");
        db.insert(b"mdropping-tiles", Vec::new()).expect("write");
        db.flush().expect("flush");
    }
    let run = t.run(&["log"]);
    run.assert_code(3);
    assert!(
        run.stderr.contains("store layout 6") && run.stderr.contains("fundtrail upgrade"),
        "{run:#?}"
    );
    let run = t.run(&["upgrade"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("from store layout 6 to 7")
            && run.stdout.contains("1 leaf tile(s) removed"),
        "{run:#?}"
    );
    assert_eq!(t.dump(), intact);
    assert_eq!(t.verify().fault, None);
}

/// From layout 4 the recoding and the removal of the tiles run in one upgrade.
#[test]
fn a_layout_4_ledger_with_leaf_tiles_is_recoded_and_its_tiles_removed() {
    let t = with_two_tiles();
    let intact = t.dump();
    as_layout_6(&t);
    as_layout_4(&t);
    let run = t.run(&["upgrade"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("from store layout 4 to 7")
            && run.stdout.contains("2 leaf tile(s) removed"),
        "{run:#?}"
    );
    assert_eq!(t.dump(), intact);
    assert_eq!(t.verify().fault, None);
}
