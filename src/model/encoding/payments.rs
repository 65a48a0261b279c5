//! Payment records read straight from their bytes. Payments are nearly every event of a
//! district's log, and bincode's serde reader took a third of the rules' replay in
//! `verify` on them: it reads a payee account's 32-byte hash one byte at a time, each
//! through the size limit's check, and each text through a visitor. This reads the same
//! layout (FORMAT.md §1: fixed-width little-endian integers, texts as a u64 length and
//! UTF-8 bytes, the body's variant as a u32) in one pass over the slice.
//!
//! It only ever answers for a record that bincode would decode to the same value: any
//! other body, any byte it does not expect (an unknown variant, a length past the end,
//! text that is not UTF-8, a byte left over, a record over the limit) gives `None`, and
//! [`super::decode`] asks bincode, whose error message a damaged record keeps.

use super::{AccountPaymentV1, AccountV1, Body, PaymentV1, RecordV1, MAX_RECORD_BYTES};

/// The variant indices (the order of [`Body`]) of the bodies read here.
const DISBURSEMENT: u32 = 2;
const INSURANCE_PURCHASE: u32 = 3;
const CONDOLENCE_PAYMENT: u32 = 4;
const IN_KIND_BENEFIT: u32 = 5;
const PAYMENT_TO_ACCOUNT: u32 = 16;

/// The record after the version byte, if its body is a payment and it decodes.
pub(super) fn payment_record(rest: &[u8]) -> Option<RecordV1> {
    // Past the limit bincode refuses what it would read; leave that message to it.
    if rest.len() as u64 > MAX_RECORD_BYTES {
        return None;
    }
    let mut reader = Reader(rest);
    let seq = reader.u64()?;
    let recorded_at_us = i64::from_le_bytes(reader.array()?);
    let actor = reader.text()?;
    let reference = reader.text()?;
    let body = reader.payment_body()?;
    reader.0.is_empty().then_some(RecordV1 {
        seq,
        recorded_at_us,
        actor,
        reference,
        body,
    })
}

/// The bytes not yet read.
struct Reader<'b>(&'b [u8]);

impl Reader<'_> {
    fn bytes(&mut self, len: usize) -> Option<&[u8]> {
        let (taken, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    fn text(&mut self) -> Option<String> {
        let len = usize::try_from(self.u64()?).ok()?;
        std::str::from_utf8(self.bytes(len)?)
            .ok()
            .map(str::to_owned)
    }

    fn payment_body(&mut self) -> Option<Body> {
        let variant = u32::from_le_bytes(self.array()?);
        Some(match variant {
            DISBURSEMENT => Body::Disbursement(self.payment()?),
            INSURANCE_PURCHASE => Body::InsurancePurchase(self.payment()?),
            CONDOLENCE_PAYMENT => Body::CondolencePayment(self.payment()?),
            IN_KIND_BENEFIT => Body::InKindBenefit(self.payment()?),
            PAYMENT_TO_ACCOUNT => {
                let [kind] = self.array()?;
                let payment = self.payment()?;
                let hash = self.array()?;
                let last4 = self.text()?;
                Body::PaymentToAccount(AccountPaymentV1 {
                    kind,
                    payment,
                    account: AccountV1 { hash, last4 },
                })
            }
            _ => return None,
        })
    }

    fn payment(&mut self) -> Option<PaymentV1> {
        let household = self.text()?;
        let program = self.text()?;
        let amount_fen = i64::from_le_bytes(self.array()?);
        let persons = u32::from_le_bytes(self.array()?);
        let value_date = i32::from_le_bytes(self.array()?);
        let memo = self.text()?;
        Some(PaymentV1 {
            household,
            program,
            amount_fen,
            persons,
            value_date,
            memo,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode, encode, options, FORMAT_VERSION};
    use super::*;
    use bincode::Options;
    use proptest::prelude::*;

    /// What bincode's serde reader makes of the bytes after the version byte.
    fn by_bincode(rest: &[u8]) -> Option<RecordV1> {
        options().deserialize(rest).ok()
    }

    fn payment_strategy() -> impl Strategy<Value = PaymentV1> {
        (
            ".{0,12}",
            "[a-z_]{0,20}",
            any::<i64>(),
            any::<u32>(),
            any::<i32>(),
            ".{0,8}",
        )
            .prop_map(
                |(household, program, amount_fen, persons, value_date, memo)| PaymentV1 {
                    household,
                    program,
                    amount_fen,
                    persons,
                    value_date,
                    memo,
                },
            )
    }

    fn body_strategy() -> impl Strategy<Value = Body> {
        prop_oneof![
            payment_strategy().prop_map(Body::Disbursement),
            payment_strategy().prop_map(Body::InsurancePurchase),
            payment_strategy().prop_map(Body::CondolencePayment),
            payment_strategy().prop_map(Body::InKindBenefit),
            (any::<u8>(), payment_strategy(), any::<[u8; 32]>(), ".{0,6}").prop_map(
                |(kind, payment, hash, last4)| Body::PaymentToAccount(AccountPaymentV1 {
                    kind,
                    payment,
                    account: AccountV1 { hash, last4 },
                })
            ),
        ]
    }

    fn record_strategy() -> impl Strategy<Value = RecordV1> {
        (
            any::<u64>(),
            any::<i64>(),
            ".{0,10}",
            ".{0,24}",
            body_strategy(),
        )
            .prop_map(|(seq, recorded_at_us, actor, reference, body)| RecordV1 {
                seq,
                recorded_at_us,
                actor,
                reference,
                body,
            })
    }

    /// A record of every other kind is left to bincode.
    #[test]
    fn other_bodies_are_left_to_bincode() {
        let record = RecordV1 {
            seq: 3,
            recorded_at_us: 9,
            actor: "clerk".into(),
            reference: "AL-1".into(),
            body: Body::FundAllocation(super::super::AllocationV1 {
                program: "micro_wish".into(),
                amount_fen: 1,
                value_date: 0,
                source: String::new(),
            }),
        };
        let bytes = encode(&record);
        assert_eq!(payment_record(&bytes[1..]), None);
        assert_eq!(decode(&bytes), Ok(record));
    }

    /// A disbursement recorded by `actor`.
    fn disbursement_by(actor: String) -> RecordV1 {
        RecordV1 {
            seq: 1,
            recorded_at_us: 2,
            actor,
            reference: "P-1".into(),
            body: Body::Disbursement(PaymentV1 {
                household: "H1".into(),
                program: "dibao".into(),
                amount_fen: 100,
                persons: 1,
                value_date: 3,
                memo: String::new(),
            }),
        }
    }

    /// A damaged payment gets bincode's own message: text that is not UTF-8, an unknown
    /// variant, a byte left over, a record cut short.
    #[test]
    fn damaged_payments_keep_bincodes_message() {
        let record = disbursement_by("clerk".into());
        let good = encode(&record);
        let mut not_utf8 = good.clone();
        let at = good
            .windows(2)
            .position(|w| w == b"H1")
            .expect("the household");
        not_utf8[at] = 0xFF;
        let mut unknown = good.clone();
        let variant_at = 1 + 16 + 8 + 5 + 8 + 3;
        unknown[variant_at..variant_at + 4].copy_from_slice(&99u32.to_le_bytes());
        let mut longer = good.clone();
        longer.push(0);
        let shorter = good[..good.len() - 1].to_vec();
        for damaged in [not_utf8, unknown, longer, shorter] {
            assert_eq!(payment_record(&damaged[1..]), None);
            let message = decode(&damaged).expect_err("damaged").to_string();
            let serde_only = options()
                .deserialize::<RecordV1>(&damaged[1..])
                .map_err(|e| super::super::malformed(*e).to_string());
            assert_eq!(Err(message), serde_only.map(|_| ()));
        }
        assert_eq!(decode(&good), Ok(record));
    }

    /// A record over the limit is left to bincode, whatever it makes of it.
    #[test]
    fn a_record_over_the_limit_is_left_to_bincode() {
        let record = disbursement_by("a".repeat(MAX_RECORD_BYTES as usize));
        let mut bytes = vec![FORMAT_VERSION];
        bytes.extend(
            bincode::DefaultOptions::new()
                .with_fixint_encoding()
                .with_little_endian()
                .serialize(&record)
                .expect("serializes without a limit"),
        );
        assert_eq!(payment_record(&bytes[1..]), None);
        let serde_only = options()
            .deserialize::<RecordV1>(&bytes[1..])
            .map_err(|e| super::super::malformed(*e));
        assert_eq!(decode(&bytes), serde_only);
    }

    proptest! {
        /// Every payment record reads as bincode reads it.
        #[test]
        fn payments_read_as_bincode_reads_them(record in record_strategy()) {
            let bytes = encode(&record);
            prop_assert_eq!(payment_record(&bytes[1..]), Some(record.clone()));
            prop_assert_eq!(by_bincode(&bytes[1..]), Some(record));
        }

        /// A payment record with a byte changed, cut short or grown reads as bincode reads
        /// it, or is left to bincode: never a value bincode would not give.
        #[test]
        fn damaged_payments_read_as_bincode_or_not_at_all(
            record in record_strategy(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            how in 0..3u8,
        ) {
            let mut rest = encode(&record)[1..].to_vec();
            let at = at.index(rest.len());
            match how {
                0 => rest[at] = byte,
                1 => rest.truncate(at),
                _ => rest.insert(at, byte),
            }
            if let Some(read) = payment_record(&rest) {
                prop_assert_eq!(Some(read), by_bincode(&rest));
            }
        }
    }
}
