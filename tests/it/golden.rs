//! Golden vectors for the record encoding and the chain hash.
//!
//! The hex constants below were computed once and are frozen. Every stored ledger contains
//! bytes of exactly this form and hashes computed over them: if one of these tests fails,
//! the change breaks every existing ledger (its chain would no longer verify). Do not
//! "fix" a constant; a new layout needs a new format version byte (FORMAT.md §1).
//!
//! Each vector is checked three ways: against the frozen hex, against bytes built here by
//! hand from the layout of FORMAT.md §1 (so the constants are explained, not just recorded),
//! and through a decode round trip.

use chrono::NaiveDate;
use fundtrail::model::domain::{date_to_days, EventHash, Seq};
use fundtrail::model::encoding::{
    decode, encode, peek_seq, AllocationV1, Body, DecodeError, EnrolledV1, PaymentV1, RecordV1,
    ReversalV1, FORMAT_VERSION,
};
use fundtrail::tlog::chain::{chain_hash, ChainCheck, CHAIN_TAG};

/// 2015-01-05T09:30:00Z in microseconds.
const RECORDED_AT_US: i64 = 1_420_450_200_000_000;

const DAY_2014_03_01: i32 = 16130;
const DAY_2015_01_05: i32 = 16440;
const DAY_2015_01_31: i32 = 16466;
const DAY_2015_02_02: i32 = 16468;

fn enrollment() -> RecordV1 {
    RecordV1 {
        seq: 1,
        recorded_at_us: RECORDED_AT_US,
        actor: "张三".into(),
        reference: "enroll:PL-0001".into(),
        body: Body::HouseholdEnrolled(EnrolledV1 {
            household: "PL-0001".into(),
            subdistrict: "拓东".into(),
            community: "拓东第1社区".into(),
            category: 0,
            members: 2,
            enrolled_on: DAY_2014_03_01,
        }),
    }
}

fn allocation() -> RecordV1 {
    RecordV1 {
        seq: 2,
        recorded_at_us: RECORDED_AT_US + 1,
        actor: "李四".into(),
        reference: "ALLOC-2015-SA".into(),
        body: Body::FundAllocation(AllocationV1 {
            program: "support_allowance".into(),
            amount_fen: 5_000_000,
            value_date: DAY_2015_01_05,
            source: "区财政".into(),
        }),
    }
}

fn payment() -> RecordV1 {
    RecordV1 {
        seq: 3,
        recorded_at_us: RECORDED_AT_US + 2,
        actor: "张三".into(),
        reference: "BANK-201501-0001".into(),
        body: Body::Disbursement(PaymentV1 {
            household: "PL-0001".into(),
            program: "support_allowance".into(),
            amount_fen: 68_000,
            persons: 2,
            value_date: DAY_2015_01_31,
            memo: "2015年1月扶助金".into(),
        }),
    }
}

fn reversal() -> RecordV1 {
    RecordV1 {
        seq: 4,
        recorded_at_us: RECORDED_AT_US + 3,
        actor: "王五".into(),
        reference: "reversal:BANK-201501-0001".into(),
        body: Body::Reversal(ReversalV1 {
            target_seq: 3,
            target_reference: "BANK-201501-0001".into(),
            household: "PL-0001".into(),
            program: "support_allowance".into(),
            amount_fen: 68_000,
            persons: 2,
            value_date: DAY_2015_02_02,
            reason: "金额录入错误".into(),
        }),
    }
}

const ENROLLMENT_HEX: &str = concat!(
    "01010000000000000000969755e40b05000600000000000000e5bca0e4b8890e",
    "00000000000000656e726f6c6c3a504c2d303030310000000007000000000000",
    "00504c2d303030310600000000000000e68b93e4b89c1000000000000000e68b",
    "93e4b89ce7acac31e7a4bee58cba0002000000023f0000",
);
const ALLOCATION_HEX: &str = concat!(
    "01020000000000000001969755e40b05000600000000000000e69d8ee59b9b0d",
    "00000000000000414c4c4f432d323031352d5341010000001100000000000000",
    "737570706f72745f616c6c6f77616e6365404b4c000000000038400000090000",
    "0000000000e58cbae8b4a2e694bf",
);
const PAYMENT_HEX: &str = concat!(
    "01030000000000000002969755e40b05000600000000000000e5bca0e4b88910",
    "0000000000000042414e4b2d3230313530312d30303031020000000700000000",
    "000000504c2d303030311100000000000000737570706f72745f616c6c6f7761",
    "6e6365a0090100000000000200000052400000140000000000000032303135e5",
    "b9b431e69c88e689b6e58aa9e98791",
);
const REVERSAL_HEX: &str = concat!(
    "01040000000000000003969755e40b05000600000000000000e78e8be4ba9419",
    "00000000000000726576657273616c3a42414e4b2d3230313530312d30303031",
    "060000000300000000000000100000000000000042414e4b2d3230313530312d",
    "303030310700000000000000504c2d303030311100000000000000737570706f",
    "72745f616c6c6f77616e6365a009010000000000020000005440000012000000",
    "00000000e98791e9a29de5bd95e585a5e99499e8afaf",
);

/// Chain hashes of the four records in order, starting from the genesis hash.
const CHAIN_HEX: [&str; 4] = [
    "e5d57c79824253ec253d0a5dfc7e21b580398175517d3574c352b666a7579e39",
    "7500ac3eee609d5e49f99e393f3e86e37c4769e955a268c2db8864d0178d508b",
    "9fb6cb3e6980fc5178caa3890ccbf12e1d22b941e7e30d754a3425ec97aa01c7",
    "ad545f87c5cc9f67b36806c16e95ccfc2e1b79352768da55363883c187d23d7c",
];

fn vectors() -> [(RecordV1, &'static str); 4] {
    [
        (enrollment(), ENROLLMENT_HEX),
        (allocation(), ALLOCATION_HEX),
        (payment(), PAYMENT_HEX),
        (reversal(), REVERSAL_HEX),
    ]
}

/// Builds record bytes by hand from the layout FORMAT.md documents: the version byte, then
/// fixed-width little-endian integers, strings as a u64 byte length and UTF-8 bytes, the
/// body as a u32 variant index followed by its fields in declaration order.
#[derive(Default)]
struct Bytes(Vec<u8>);

impl Bytes {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(self, s: &str) -> Self {
        let mut b = self.u64(s.len() as u64);
        b.0.extend_from_slice(s.as_bytes());
        b
    }
    fn header(seq: u64, at: i64, actor: &str, reference: &str, variant: u32) -> Self {
        Bytes::default()
            .u8(1)
            .u64(seq)
            .i64(at)
            .str(actor)
            .str(reference)
            .u32(variant)
    }
}

fn hand_built() -> [Vec<u8>; 4] {
    let at = RECORDED_AT_US;
    [
        Bytes::header(1, at, "张三", "enroll:PL-0001", 0)
            .str("PL-0001")
            .str("拓东")
            .str("拓东第1社区")
            .u8(0)
            .u32(2)
            .i32(DAY_2014_03_01)
            .0,
        Bytes::header(2, at + 1, "李四", "ALLOC-2015-SA", 1)
            .str("support_allowance")
            .i64(5_000_000)
            .i32(DAY_2015_01_05)
            .str("区财政")
            .0,
        Bytes::header(3, at + 2, "张三", "BANK-201501-0001", 2)
            .str("PL-0001")
            .str("support_allowance")
            .i64(68_000)
            .u32(2)
            .i32(DAY_2015_01_31)
            .str("2015年1月扶助金")
            .0,
        Bytes::header(4, at + 3, "王五", "reversal:BANK-201501-0001", 6)
            .u64(3)
            .str("BANK-201501-0001")
            .str("PL-0001")
            .str("support_allowance")
            .i64(68_000)
            .u32(2)
            .i32(DAY_2015_02_02)
            .str("金额录入错误")
            .0,
    ]
}

#[test]
fn day_numbers_are_days_since_1970() {
    let day = |y, m, d| date_to_days(NaiveDate::from_ymd_opt(y, m, d).expect("a valid date"));
    assert_eq!(day(2014, 3, 1), DAY_2014_03_01);
    assert_eq!(day(2015, 1, 5), DAY_2015_01_05);
    assert_eq!(day(2015, 1, 31), DAY_2015_01_31);
    assert_eq!(day(2015, 2, 2), DAY_2015_02_02);
}

#[test]
fn records_encode_to_the_frozen_bytes() {
    for (record, expected) in vectors() {
        assert_eq!(
            hex::encode(encode(&record)),
            expected,
            "encoding of {} changed: this breaks every existing ledger",
            record.body.type_name()
        );
    }
}

#[test]
fn frozen_bytes_follow_the_documented_layout() {
    assert_eq!(FORMAT_VERSION, 1);
    for ((record, expected), built) in vectors().into_iter().zip(hand_built()) {
        assert_eq!(
            hex::encode(&built),
            expected,
            "{}: the hand-built layout disagrees with the frozen vector",
            record.body.type_name()
        );
    }
}

#[test]
fn records_chain_to_the_frozen_hashes() {
    let mut prev = EventHash::GENESIS;
    let mut check = ChainCheck::default();
    for (i, ((record, _), expected)) in vectors().into_iter().zip(CHAIN_HEX).enumerate() {
        let bytes = encode(&record);
        let hash = chain_hash(&prev, &bytes);
        assert_eq!(hash.to_hex(), expected, "chain hash of seq {}", i + 1);
        // The same value from blake3 directly, as an independent verifier computes it.
        let mut direct = blake3::Hasher::new();
        direct.update(b"fundtrail.event.v1\0");
        direct.update(prev.as_bytes());
        direct.update(&bytes);
        assert_eq!(direct.finalize().as_bytes(), hash.as_bytes());
        check
            .push(Seq::new(record.seq), &hash, &bytes)
            .expect("the vectors form a valid chain");
        prev = hash;
    }
    assert_eq!(CHAIN_TAG, b"fundtrail.event.v1\0");
    assert_eq!(check.finish(4, &prev), Ok(()));
}

#[test]
fn the_genesis_hash_is_all_zero() {
    assert_eq!(EventHash::GENESIS.into_bytes(), [0u8; 32]);
    assert_eq!(EventHash::default(), EventHash::GENESIS);
}

#[test]
fn records_round_trip() {
    for (record, expected) in vectors() {
        let bytes = hex::decode(expected).expect("the vectors are hex");
        assert_eq!(decode(&bytes), Ok(record.clone()));
        assert_eq!(peek_seq(&bytes), Some(Seq::new(record.seq)));
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    for (record, _) in vectors() {
        let mut bytes = encode(&record);
        bytes.push(0);
        assert!(
            matches!(decode(&bytes), Err(DecodeError::Malformed(_))),
            "{}: one trailing byte must not decode",
            record.body.type_name()
        );
    }
}

#[test]
fn unknown_format_versions_are_rejected() {
    let mut bytes = encode(&payment());
    for version in [0u8, 2, 0xff] {
        bytes[0] = version;
        assert_eq!(decode(&bytes), Err(DecodeError::UnknownVersion(version)));
    }
    assert_eq!(decode(&[]), Err(DecodeError::Empty));
}

#[test]
fn truncated_records_are_rejected() {
    for (record, _) in vectors() {
        let bytes = encode(&record);
        for len in 1..bytes.len() {
            assert!(
                matches!(decode(&bytes[..len]), Err(DecodeError::Malformed(_))),
                "{} truncated to {len} bytes decoded",
                record.body.type_name()
            );
        }
    }
}

#[test]
fn an_unknown_body_variant_is_rejected() {
    // The variant index sits after version, seq, time and the two strings.
    let record = payment();
    let mut bytes = encode(&record);
    let at = 1 + 8 + 8 + (8 + record.actor.len()) + (8 + record.reference.len());
    assert_eq!(&bytes[at..at + 4], &2u32.to_le_bytes());
    bytes[at..at + 4].copy_from_slice(&7u32.to_le_bytes());
    assert!(matches!(decode(&bytes), Err(DecodeError::Malformed(_))));
}

#[test]
fn a_huge_length_prefix_is_rejected_without_allocating() {
    let record = payment();
    let mut bytes = encode(&record);
    // The actor's length prefix follows version, seq and time.
    bytes[17..25].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(decode(&bytes), Err(DecodeError::Malformed(_))));
}

/// The ledger stores exactly these bytes (behind the chain hash) when a clerk records the
/// same four facts with the same actors and times.
#[test]
fn the_ledger_stores_the_frozen_records() {
    use fundtrail::ledger::{AppendContext, Ledger};
    use fundtrail::model::domain::{
        Allocation, Category, Command, Enrollment, HouseholdId, Money, Payment, PaymentKind,
        ProgramCode, Reference, ReversalRequest,
    };

    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a valid date");
    let household = HouseholdId::parse("PL-0001").expect("valid id");
    let program = ProgramCode::parse("support_allowance").expect("known program");
    let bank = Reference::parse("BANK-201501-0001").expect("valid reference");
    let commands = [
        Command::Enroll(Enrollment {
            household: household.clone(),
            subdistrict: "拓东".into(),
            community: "拓东第1社区".into(),
            category: Category::Bereaved,
            members: 2,
            enrolled_on: date(2014, 3, 1),
        }),
        Command::Allocate(Allocation {
            program: program.clone(),
            amount: Money::from_fen(5_000_000),
            date: date(2015, 1, 5),
            reference: Reference::parse("ALLOC-2015-SA").expect("valid reference"),
            source: "区财政".into(),
        }),
        Command::Pay(Payment {
            kind: PaymentKind::Disbursement,
            household: household.clone(),
            program,
            amount: Money::from_fen(68_000),
            persons: 2,
            date: date(2015, 1, 31),
            reference: bank.clone(),
            memo: "2015年1月扶助金".into(),
            account: None,
        }),
        Command::Reverse(ReversalRequest {
            target: bank,
            household,
            program: None,
            amount: Money::from_fen(68_000),
            date: date(2015, 2, 2),
            reason: "金额录入错误".into(),
        }),
    ];
    let tmp = tempfile::tempdir().expect("temporary directory");
    let mut ledger = Ledger::init(&tmp.path().join("ledger")).expect("init");
    for ((command, (record, _)), offset) in commands.into_iter().zip(vectors()).zip(0..) {
        let ctx = AppendContext {
            actor: record.actor.clone(),
            now_us: RECORDED_AT_US + offset,
        };
        ledger
            .append(vec![command], &ctx)
            .expect("the facts are valid");
    }
    for (seq, ((_, bytes), hash)) in (1..).zip(vectors().into_iter().zip(CHAIN_HEX)) {
        let stored = ledger.view().stored(Seq::new(seq)).expect("stored event");
        assert_eq!(
            hex::encode(&stored.record),
            bytes,
            "record bytes of seq {seq}"
        );
        assert_eq!(stored.hash.to_hex(), hash, "chain hash of seq {seq}");
    }
    assert_eq!(ledger.view().head().hash.to_hex(), CHAIN_HEX[3]);
}
