//! Exports of logs that break a write rule, correctly chained and signed with the test's
//! own key: what someone holding a stolen signing key could publish. Each is written from
//! the record layout and encodings of FORMAT.md (§1, §2, §6, §7, §9) with the library's
//! encoder, so nothing but the rules can tell them from an honest export.

#![allow(dead_code)] // each test binary uses a different part

use std::path::Path;

use fundtrail::export::ExportLine;
use fundtrail::model::domain::EventHash;
use fundtrail::model::encoding::{
    encode, AllocationV1, Body, EnrolledV1, PaymentV1, RecordV1, ReversalV1,
};
use fundtrail::model::render::record_fields;
use fundtrail::tlog::chain::chain_hash;
use fundtrail::tlog::checkpoint::Checkpoint;
use fundtrail::tlog::merkle::{Blake3Hasher, Frontier, TreeHasher};
use fundtrail::tlog::note::LogSigner;

pub const ORIGIN: &str = "forger.example/ledger";

/// 2026-01-01T00:00:00Z, the recording time of every forged event.
pub const RECORDED_AT_US: i64 = 1_767_225_600_000_000;

/// Days since 1970-01-01 of the dates the scenarios use.
pub const D2014_03_01: i32 = 16_130;
pub const D2014_01_01: i32 = 16_071;
pub const D2015_01_05: i32 = 16_440;
pub const D2015_01_01: i32 = 16_436;
pub const D2015_01_31: i32 = 16_466;
pub const D2015_02_02: i32 = 16_468;
pub const D2999_01_01: i32 = 375_835;

/// One event of a forged log: its reference and body.
pub type Event = (String, Body);

pub fn enroll(household: &str, on: i32) -> Event {
    (
        format!("enroll:{household}"),
        Body::HouseholdEnrolled(EnrolledV1 {
            household: household.into(),
            subdistrict: "拓东".into(),
            community: "拓东第1社区".into(),
            category: 0,
            members: 2,
            enrolled_on: on,
        }),
    )
}

pub fn allocate(reference: &str, fen: i64) -> Event {
    (
        reference.into(),
        Body::FundAllocation(AllocationV1 {
            program: "support_allowance".into(),
            amount_fen: fen,
            value_date: D2015_01_05,
            source: "区财政".into(),
        }),
    )
}

pub fn pay(reference: &str, household: &str, fen: i64, date: i32) -> Event {
    (
        reference.into(),
        Body::Disbursement(PaymentV1 {
            household: household.into(),
            program: "support_allowance".into(),
            amount_fen: fen,
            persons: 2,
            value_date: date,
            memo: "扶助金".into(),
        }),
    )
}

/// A reversal of the event `target_seq` (reference `target`), as the ledger writes one.
pub fn reverse(target: &str, target_seq: u64, household: &str, fen: i64, date: i32) -> Event {
    (
        format!("reversal:{target}"),
        Body::Reversal(ReversalV1 {
            target_seq,
            target_reference: target.into(),
            household: household.into(),
            program: "support_allowance".into(),
            amount_fen: fen,
            persons: 2,
            value_date: date,
            reason: "重复支付".into(),
        }),
    )
}

/// An honest opening: PL-0001 enrolled on 2014-03-01 (seq 1), 1000.00 allocated to
/// support_allowance (seq 2), and 100.00 paid to PL-0001 as BANK-1 on 2015-01-31 (seq 3).
pub fn opening() -> Vec<Event> {
    vec![
        enroll("PL-0001", D2014_03_01),
        allocate("ALLOC-1", 100_000),
        pay("BANK-1", "PL-0001", 10_000, D2015_01_31),
    ]
}

/// A forged log: its name, its events, and the seq of the first event that breaks a rule.
pub struct Scenario {
    pub name: &'static str,
    pub events: Vec<Event>,
    pub bad_seq: u64,
    /// The field the rule fault names.
    pub field: &'static str,
}

fn after_opening(extra: Vec<Event>) -> Vec<Event> {
    let mut events = opening();
    events.extend(extra);
    events
}

/// Every rule-breaking log the tests forge.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "duplicate-reference",
            events: after_opening(vec![pay("BANK-1", "PL-0001", 5_000, D2015_01_31)]),
            bad_seq: 4,
            field: "reference",
        },
        Scenario {
            name: "identical-duplicate",
            events: after_opening(vec![pay("BANK-1", "PL-0001", 10_000, D2015_01_31)]),
            bad_seq: 4,
            field: "reference",
        },
        Scenario {
            name: "negative-budget",
            events: after_opening(vec![pay("BANK-2", "PL-0001", 95_000, D2015_01_31)]),
            bad_seq: 4,
            field: "amount",
        },
        Scenario {
            name: "reversal-of-a-reversal",
            events: after_opening(vec![
                reverse("BANK-1", 3, "PL-0001", 10_000, D2015_02_02),
                reverse("reversal:BANK-1", 4, "PL-0001", 10_000, D2015_02_02),
            ]),
            bad_seq: 5,
            field: "reference",
        },
        Scenario {
            name: "reversal-before-payment",
            events: after_opening(vec![reverse("BANK-1", 3, "PL-0001", 10_000, D2015_01_01)]),
            bad_seq: 4,
            field: "date",
        },
        Scenario {
            name: "payment-before-enrollment",
            events: after_opening(vec![pay("BANK-2", "PL-0001", 1_000, D2014_01_01)]),
            bad_seq: 4,
            field: "date",
        },
        Scenario {
            name: "enrolled-twice",
            events: after_opening(vec![enroll("PL-0001", D2014_01_01)]),
            bad_seq: 4,
            field: "household_id",
        },
        Scenario {
            // Looks exactly like BANK-1's reference, with a zero width space inside.
            name: "invisible-character-in-reference",
            events: after_opening(vec![pay("BANK\u{200B}-1", "PL-0001", 1_000, D2015_01_31)]),
            bad_seq: 4,
            field: "reference",
        },
        Scenario {
            name: "value-date-2999",
            events: after_opening(vec![pay("BANK-2", "PL-0001", 1_000, D2999_01_01)]),
            bad_seq: 4,
            field: "date",
        },
    ]
}

/// The records of `events` at seqs 1, 2, …
pub fn records(events: &[Event]) -> Vec<RecordV1> {
    events
        .iter()
        .enumerate()
        .map(|(i, (reference, body))| RecordV1 {
            seq: i as u64 + 1,
            recorded_at_us: RECORDED_AT_US,
            actor: "forger".into(),
            reference: reference.clone(),
            body: body.clone(),
        })
        .collect()
}

/// The signer of the forged logs: a key the test made, as a thief would hold one.
pub fn signer() -> LogSigner {
    LogSigner::from_seed(ORIGIN, &[7; 32]).expect("a valid origin and seed")
}

/// The verifier key of [`signer`], as `key show` prints one.
pub fn verifier_key() -> String {
    signer().verifier_key().to_string()
}

/// Writes `events` as an export bundle into `dir` (created): events.jsonl, a checkpoint of
/// all of them signed by [`signer`], and the pubkey file.
pub fn write_export(dir: &Path, events: &[Event]) {
    let bytes: Vec<Vec<u8>> = records(events).iter().map(encode).collect();
    write_export_of_records(dir, &bytes);
}

/// As [`write_export`], from record bytes as they are (which may not even decode).
pub fn write_export_of_records(dir: &Path, records: &[Vec<u8>]) {
    std::fs::create_dir_all(dir).expect("create the export directory");
    let mut lines = String::new();
    let mut prev = EventHash::GENESIS;
    let mut frontier = Frontier::new();
    for (i, record) in records.iter().enumerate() {
        let hash = chain_hash(&prev, record);
        let fields = match fundtrail::model::encoding::decode(record) {
            Ok(decoded) => record_fields(&decoded),
            Err(_) => serde_json::Map::new(),
        };
        let line = ExportLine {
            seq: i as u64 + 1,
            hash: hash.to_hex(),
            prev_hash: prev.to_hex(),
            record: hex::encode(record),
            fields,
        };
        lines.push_str(&serde_json::to_string(&line).expect("an export line is JSON"));
        lines.push('\n');
        frontier.append(&Blake3Hasher, Blake3Hasher.hash_leaf(hash.as_bytes()));
        prev = hash;
    }
    let checkpoint = Checkpoint {
        origin: ORIGIN.into(),
        size: records.len() as u64,
        root: frontier.root(&Blake3Hasher),
    };
    let note = signer()
        .sign(&checkpoint)
        .expect("sign the forged checkpoint");
    std::fs::write(dir.join("events.jsonl"), lines).expect("write events.jsonl");
    std::fs::write(dir.join("checkpoint.txt"), note).expect("write checkpoint.txt");
    std::fs::write(dir.join("pubkey"), format!("{}\n", verifier_key())).expect("write pubkey");
}
