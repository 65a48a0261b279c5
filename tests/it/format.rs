//! The worked examples of FORMAT.md, recomputed: each value quoted there must appear there
//! verbatim and be what the code computes, so the document cannot drift from the bytes.

use fundtrail::model::domain::EventHash;
use fundtrail::model::encoding::{decode, encode, AllocationV1, Body, RecordV1};
use fundtrail::tlog::chain::chain_hash;
use fundtrail::tlog::checkpoint::Checkpoint;
use fundtrail::tlog::merkle::{Blake3Hasher, Frontier, TreeHasher};
use fundtrail::tlog::note::LogSigner;

const FORMAT_MD: &str = include_str!("../../FORMAT.md");

/// The record of FORMAT.md §1.1.
const RECORD_HEX: &str = concat!(
    "01",
    "0400000000000000",
    "00401e18240a0600",
    "0500000000000000",
    "636c65726b",
    "0200000000000000",
    "4131",
    "01000000",
    "1100000000000000",
    "737570706f72745f616c6c6f77616e6365",
    "404b4c0000000000",
    "38400000",
    "0900000000000000",
    "e58cbae8b4a2e694bf",
);

fn quoted(value: &str) {
    assert!(
        FORMAT_MD.contains(value),
        "FORMAT.md does not quote {value}"
    );
}

/// The record of FORMAT.md §1.1 is what the encoder writes, and decodes back.
#[test]
fn record_example_is_the_encoding() {
    let record = RecordV1 {
        seq: 4,
        recorded_at_us: 1_700_000_000_000_000,
        actor: "clerk".into(),
        reference: "A1".into(),
        body: Body::FundAllocation(AllocationV1 {
            program: "support_allowance".into(),
            amount_fen: 5_000_000,
            value_date: 16440,
            source: "区财政".into(),
        }),
    };
    assert_eq!(hex::encode(encode(&record)), RECORD_HEX);
    assert_eq!(decode(&encode(&record)), Ok(record));
}

#[test]
fn chain_and_leaf_hash_examples() {
    let record = hex::decode(RECORD_HEX).unwrap();
    let hash = chain_hash(&EventHash::GENESIS, &record);
    quoted(&hash.to_hex());
    let leaf = Blake3Hasher.hash_leaf(hash.as_bytes());
    quoted(&hex::encode(leaf));
    quoted(&hex::encode(Blake3Hasher.empty_root()));
}

#[test]
fn tree_and_checkpoint_examples() {
    let mut frontier = Frontier::new();
    for i in 1u8..=3 {
        let leaf = Blake3Hasher.hash_leaf(&[i; 32]);
        quoted(&hex::encode(leaf));
        frontier.append(&Blake3Hasher, leaf);
    }
    let root = frontier.root(&Blake3Hasher);
    quoted(&hex::encode(root));
    let signer = LogSigner::from_seed("fundtrail.example/ledger", &[42; 32]).unwrap();
    let key = signer.verifier_key().to_string();
    quoted(&key);
    let note = signer
        .sign(&Checkpoint {
            origin: "fundtrail.example/ledger".into(),
            size: 3,
            root,
        })
        .unwrap();
    quoted(&note);
}
