//! Shared test helpers: small ledgers built through the public API, and the insider's
//! tools that edit the sled database directly.

pub use super::insider::{self, event_count, read_event, write_event};
pub use super::{ctx, held, open_ledger, Held};

use std::path::Path;

use chrono::NaiveDate;
use fundtrail::ledger::Ledger;
use fundtrail::model::domain::EventHash;
use fundtrail::model::domain::{
    Allocation, Category, Command, Enrollment, HouseholdId, Money, Payment, PaymentKind,
    ProgramCode, Reference,
};
use fundtrail::model::encoding::{decode, encode, Body};
use fundtrail::tlog::merkle::{Blake3Hasher, Digest, Frontier, TreeHasher};

/// Households in every sample ledger.
pub const HOUSEHOLDS: u64 = 4;

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid test date")
}

pub fn household(i: u64) -> String {
    format!("PL-{i:04}")
}

/// The enrollments and the allocation that every sample ledger starts with (5 events).
pub fn opening() -> Vec<Command> {
    let mut commands: Vec<Command> = (1..=HOUSEHOLDS)
        .map(|i| {
            Command::Enroll(Enrollment {
                household: HouseholdId::parse(&household(i)).unwrap(),
                subdistrict: "拓东".into(),
                community: "拓东第1社区".into(),
                category: Category::Bereaved,
                members: 2,
                enrolled_on: date(2014, 3, 1),
            })
        })
        .collect();
    commands.push(Command::Allocate(Allocation {
        program: ProgramCode::parse("support_allowance").unwrap(),
        amount: Money::from_fen(9_000_000_000),
        date: date(2015, 1, 5),
        reference: Reference::parse("ALLOC-1").unwrap(),
        source: "区财政".into(),
    }));
    commands
}

/// `count` disbursements numbered from `first`, round-robin over the households.
pub fn payments(first: u64, count: u64) -> Vec<Command> {
    (first..first + count)
        .map(|i| {
            Command::Pay(Payment {
                kind: PaymentKind::Disbursement,
                household: HouseholdId::parse(&household(1 + i % HOUSEHOLDS)).unwrap(),
                program: ProgramCode::parse("support_allowance").unwrap(),
                amount: Money::from_fen(68_000 + i as i64),
                persons: 1,
                date: date(2015, 1, 31),
                reference: Reference::parse(&format!("BANK-{i:08}")).unwrap(),
                memo: "扶助金".into(),
                account: None,
            })
        })
        .collect()
}

/// A ledger with the opening events and then batches of payments, signing a checkpoint
/// after each batch (as every import does). Returns the ledger, closed when dropped.
pub fn build(dir: &Path, batches: &[u64]) -> Held<Ledger> {
    let mut ledger = held(dir, Ledger::init(dir).unwrap());
    ledger.append(opening(), &ctx()).unwrap();
    ledger.checkpoint().unwrap();
    let mut next = 0;
    for &count in batches {
        ledger.append(payments(next, count), &ctx()).unwrap();
        ledger.checkpoint().unwrap();
        next += count;
    }
    ledger
}

// ---- The insider: direct edits of the sled database -------------------------------------

pub fn node_key(level: u8, index: u64) -> Vec<u8> {
    [&[b'n', level][..], &index.to_be_bytes()].concat()
}

/// Leaves in one leaf tile (FORMAT.md §6.3), which layout 6 stored under `l`.
pub const TILE: u64 = fundtrail::store::LEAF_TILE_LEAVES;

pub fn tile_key(index: u64) -> Vec<u8> {
    [&[b'l'][..], &index.to_be_bytes()].concat()
}

pub fn checkpoint_key(size: u64) -> Vec<u8> {
    [&[b'c'][..], &size.to_be_bytes()].concat()
}

/// The state record (FORMAT.md §3.2): the head first, then budgets, counts and the seal.
pub const STATE_KEY: &[u8] = b"mstate";

/// The head at the front of the stored state record.
pub fn read_head(db: &sled::Db) -> HeadRecord {
    let state = db.get(STATE_KEY).unwrap().expect("a state record");
    // bincode 1.3's default options read a prefix and leave the rest.
    bincode::deserialize(&state).unwrap()
}

/// Replaces the head at the front of the state record, keeping the rest of the record
/// and its (now stale) seal as they are: what an insider without the key can do.
pub fn write_head(db: &sled::Db, head: &HeadRecord) {
    let state = db.get(STATE_KEY).unwrap().expect("a state record");
    let old_len = bincode::serialized_size(&read_head(db)).unwrap() as usize;
    let mut edited = bincode::serialize(head).unwrap();
    edited.extend_from_slice(&state[old_len..]);
    db.insert(STATE_KEY, edited).unwrap();
}

/// Opens the ledger's sled database as someone with file access would (the ledger must
/// be closed), runs `edit`, flushes, and closes it.
pub fn with_sled<T>(dir: &Path, edit: impl FnOnce(&sled::Db) -> T) -> T {
    let db = insider::open_db(dir);
    let out = edit(&db);
    db.flush().unwrap();
    insider::close_db(db, dir);
    out
}

/// The record with its payment amount changed by `delta` fen, re-encoded.
pub fn with_amount_changed(record: &[u8], delta: i64) -> Vec<u8> {
    let mut decoded = decode(record).unwrap();
    match &mut decoded.body {
        Body::Disbursement(p) => p.amount_fen += delta,
        other => panic!("not a disbursement: {other:?}"),
    }
    encode(&decoded)
}

/// The head record as FORMAT.md §3 describes it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct HeadRecord {
    pub size: u64,
    pub hash: EventHash,
    pub frontier: Frontier,
}

/// Recomputes every hash from seq `from` on, the Merkle nodes and the head, and writes
/// them all: afterwards the chain, the stored tree and the head agree with each other.
pub fn rehash_from(db: &sled::Db, from: u64) {
    let size = event_count(db);
    let mut prev = EventHash::GENESIS;
    let mut frontier = Frontier::new();
    for seq in 1..=size {
        let (stored, record) = read_event(db, seq);
        let hash = if seq >= from {
            let hash = fundtrail::tlog::chain::chain_hash(&prev, &record);
            write_event(db, seq, &hash, &record);
            hash
        } else {
            stored
        };
        let leaf = Blake3Hasher.hash_leaf(hash.as_bytes());
        frontier.append_visiting(&Blake3Hasher, leaf, |id, hash| {
            if fundtrail::store::tiles::is_stored(id) {
                db.insert(node_key(id.level(), id.index()), &hash[..])
                    .unwrap();
            }
        });
        prev = hash;
    }
    // Nodes past the new size (a truncated log) are removed as the crash clean-up would.
    for item in db.scan_prefix(b"n") {
        let (key, _) = item.unwrap();
        let (level, index) = (key[1], u64::from_be_bytes(key[2..].try_into().unwrap()));
        if (index + 1) << level > size {
            db.remove(key).unwrap();
        }
    }
    let head = HeadRecord {
        size,
        hash: prev,
        frontier,
    };
    write_head(db, &head);
}

/// The Merkle root of the first `size` stored events, recomputed.
pub fn root_of(db: &sled::Db, size: u64) -> Digest {
    let mut frontier = Frontier::new();
    for seq in 1..=size {
        let (hash, _) = read_event(db, seq);
        frontier.append(&Blake3Hasher, Blake3Hasher.hash_leaf(hash.as_bytes()));
    }
    frontier.root(&Blake3Hasher)
}
