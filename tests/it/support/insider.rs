//! The insider's event-level edits of a ledger's sled database: events live in blocks
//! (FORMAT.md §3), so reading, changing or deleting one event rewrites its block the way
//! someone with file access and the format page could.

use std::path::Path;

use fundtrail::model::domain::EventHash;
use fundtrail::store::block::{decode_stored, encode_stored, event_block, event_entries, HASH_LEN};
use fundtrail::store::Store;

/// Opens a ledger's sled database directly. The ledger must be closed (`Ledger::close`,
/// not a mere drop: sled lets go of its lock a moment after the last handle is dropped).
///
/// The lock is taken again for a while: a child process that another test forks while a
/// handle on the file is open (even `Store::wait_released`'s own probe) holds that lock
/// until its `exec`, a moment later.
pub fn open_db(ledger_dir: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::open(ledger_dir.join("sled")) {
            Err(e) if is_lock_held(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            opened => return opened.expect("open the ledger's sled database directly"),
        }
    }
}

/// How long [`open_db`] waits for a lock a forked child holds until its `exec`.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn is_lock_held(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// Rewrites every event and reference block in the stored form of layouts 3 and 4 (the
/// block's bytes, no form byte), as a ledger of those layouts holds them.
pub fn as_legacy_blocks(db: &sled::Db) {
    for prefix in [b"e", b"r"] {
        for item in db.scan_prefix(prefix) {
            let (key, value) = item.expect("read a block");
            let block = decode_stored(&value).expect("a stored block").into_owned();
            db.insert(key, block).expect("write a block");
        }
    }
}

/// Closes a database [`open_db`] opened on `ledger_dir`, returning once sled has released
/// its lock.
pub fn close_db(db: sled::Db, ledger_dir: &Path) {
    drop(db);
    Store::wait_released(ledger_dir).expect("the database closes");
}

/// The key of snapshot record `name` (read models, findings): `z‖name`, its value in a
/// block's stored form (FORMAT.md §3).
pub fn snapshot_key(name: &str) -> Vec<u8> {
    [b"z".as_slice(), name.as_bytes()].concat()
}

/// The sealed bytes of snapshot record `name`, unpacked from its stored form.
pub fn snapshot_record(db: &sled::Db, name: &str) -> Option<Vec<u8>> {
    let value = db.get(snapshot_key(name)).expect("read")?;
    Some(decode_stored(&value).expect("a stored record").into_owned())
}

/// Stores `sealed` as snapshot record `name`, packed as the ledger packs it.
pub fn put_snapshot_record(db: &sled::Db, name: &str, sealed: &[u8]) {
    db.insert(snapshot_key(name), encode_stored(sealed))
        .expect("write");
}

/// One event as stored: its chain hash and record bytes.
pub type Entry = ([u8; HASH_LEN], Vec<u8>);

/// The key of the event block whose first event is `first`.
pub fn block_key(first: u64) -> Vec<u8> {
    [&[b'e'][..], &first.to_be_bytes()].concat()
}

/// Every event block: its first seq and its entries, in seq order.
pub fn event_blocks(db: &sled::Db) -> Vec<(u64, Vec<Entry>)> {
    db.scan_prefix(b"e")
        .map(|item| {
            let (key, value) = item.expect("read an event block");
            let first = u64::from_be_bytes(key[1..].try_into().expect("an 8-byte seq"));
            (first, entries(&value))
        })
        .collect()
}

fn entries(value: &[u8]) -> Vec<Entry> {
    let block = decode_stored(value).expect("a stored block");
    event_entries(&block)
        .map(|entry| {
            let entry = entry.expect("an intact block");
            (*entry.hash, entry.record.to_vec())
        })
        .collect()
}

/// Writes `entries` as the block starting at `first` (or removes it when empty).
fn put_block(db: &sled::Db, first: u64, entries: &[Entry]) {
    if entries.is_empty() {
        db.remove(block_key(first)).expect("remove a block");
        return;
    }
    let pairs: Vec<(&[u8; HASH_LEN], &[u8])> =
        entries.iter().map(|(h, r)| (h, r.as_slice())).collect();
    db.insert(block_key(first), encode_stored(&event_block(&pairs)))
        .expect("write a block");
}

/// The block holding `seq` (or ending just before it), with the entry's index.
fn block_of(db: &sled::Db, seq: u64) -> Option<(u64, Vec<Entry>, usize)> {
    let (key, value) = db
        .range(block_key(0)..=block_key(seq))
        .next_back()?
        .expect("read an event block");
    let first = u64::from_be_bytes(key[1..].try_into().expect("an 8-byte seq"));
    let entries = entries(&value);
    let index = (seq - first) as usize;
    (index <= entries.len()).then_some((first, entries, index))
}

/// Events stored in all blocks.
pub fn event_count(db: &sled::Db) -> u64 {
    event_blocks(db).iter().map(|(_, e)| e.len() as u64).sum()
}

/// The stored (hash, record bytes) of an event.
pub fn read_event(db: &sled::Db, seq: u64) -> (EventHash, Vec<u8>) {
    match block_of(db, seq) {
        Some((_, entries, index)) if index < entries.len() => {
            let (hash, record) = entries[index].clone();
            (EventHash::from_bytes(hash), record)
        }
        _ => panic!("event {seq} is not stored"),
    }
}

/// Stores an event at `seq`: replaces it in its block, or starts a block of its own (as a
/// batch that appends it would).
pub fn write_event(db: &sled::Db, seq: u64, hash: &EventHash, record: &[u8]) {
    let entry = (hash.into_bytes(), record.to_vec());
    match block_of(db, seq) {
        Some((first, mut entries, index)) if index < entries.len() => {
            entries[index] = entry;
            put_block(db, first, &entries);
        }
        _ => put_block(db, seq, &[entry]),
    }
}

/// Deletes event `seq` and nothing else: its block is split around it, so the events after
/// it keep their seqs and the log has a gap.
pub fn remove_event(db: &sled::Db, seq: u64) {
    let (first, entries, index) = block_of(db, seq).expect("the event is stored");
    assert!(index < entries.len(), "event {seq} is not stored");
    put_block(db, first, &entries[..index]);
    put_block(db, seq + 1, &entries[index + 1..]);
}

/// The bytes of event `seq` as they lie in its block (hash, record length, record): the
/// block's key, its own bytes (decoded from its stored form), and where the entry is in it.
pub fn entry_span(db: &sled::Db, seq: u64) -> (Vec<u8>, Vec<u8>, std::ops::Range<usize>) {
    let (first, entries, index) = block_of(db, seq).expect("the event is stored");
    let start: usize = entries[..index]
        .iter()
        .map(|(_, r)| HASH_LEN + 4 + r.len())
        .sum();
    let len = HASH_LEN + 4 + entries[index].1.len();
    let key = block_key(first);
    let value = db.get(&key).expect("read").expect("the block");
    let block = decode_stored(&value).expect("a stored block").into_owned();
    (key, block, start..start + len)
}

/// Stores `block` (its own bytes, as [`entry_span`] gives them) under `key`, in the stored
/// form a writer gives it.
pub fn put_block_bytes(db: &sled::Db, key: Vec<u8>, block: &[u8]) {
    db.insert(key, encode_stored(block))
        .expect("write the block");
}
