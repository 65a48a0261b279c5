//! The payments read model that reconciliation matches against: every payment's reference,
//! amount, value date and whether it was reversed, sorted by reference and packed, with
//! the `(seq, hash)` of the last event folded in (FORMAT.md §5.6).
//!
//! Pure: folding, merging and the byte form. `batch` keeps it in a cache file beside the
//! database and catches it up from the log, because reading a million events out of sled
//! costs seconds while reading this form costs milliseconds. It is never evidence: a
//! missing, damaged or foreign index is rebuilt from the events.

use crate::model::domain::EventHash;

/// The cache file's name inside the ledger directory.
pub const INDEX_FILE_NAME: &str = "payments.idx";

/// The first bytes of the file; the last digit is the layout version.
pub const INDEX_MAGIC: &[u8; 8] = b"FTPAYIX1";

/// Entries per index. References are packed into one heap addressed by u32 offsets; fifty
/// million references of at most 64 bytes stay below 4 GiB, and that is decades of
/// payments for a district.
pub const MAX_INDEXED_PAYMENTS: usize = 50_000_000;

/// The last event folded into an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    pub size: u64,
    pub hash: EventHash,
}

impl Watermark {
    pub const GENESIS: Watermark = Watermark {
        size: 0,
        hash: EventHash::GENESIS,
    };
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payment index: {0}")]
pub struct IndexError(String);

/// One payment: where its reference sits in the heap, and its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    start: u32,
    len: u8,
    amount_fen: i64,
    value_date: i32,
    reversed: bool,
}

/// Every payment, sorted by reference (byte order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentTable {
    heap: String,
    entries: Vec<Entry>,
}

/// A payment read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub reference: String,
    pub amount_fen: i64,
    pub value_date: i32,
}

/// What the events after a watermark add: payments, and the references reversals name.
#[derive(Debug, Clone, Default)]
pub struct Fold {
    payments: Vec<NewPayment>,
    reversed: Vec<String>,
    events: u64,
}

impl Fold {
    /// Notes that one more event was read (whatever its type).
    pub fn event(&mut self) {
        self.events += 1;
    }

    pub fn payment(&mut self, payment: NewPayment) {
        self.payments.push(payment);
    }

    pub fn reversal(&mut self, target_reference: String) {
        self.reversed.push(target_reference);
    }

    /// Events read.
    pub fn events(&self) -> u64 {
        self.events
    }
}

impl PaymentTable {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn reference(&self, i: usize) -> &str {
        let e = &self.entries[i];
        let start = e.start as usize;
        &self.heap[start..start + usize::from(e.len)]
    }

    pub fn amount_fen(&self, i: usize) -> i64 {
        self.entries[i].amount_fen
    }

    pub fn value_date(&self, i: usize) -> i32 {
        self.entries[i].value_date
    }

    pub fn reversed(&self, i: usize) -> bool {
        self.entries[i].reversed
    }

    /// The position of the payment with this reference.
    pub fn find(&self, reference: &str) -> Option<usize> {
        self.entries
            .binary_search_by(|e| {
                let start = e.start as usize;
                self.heap[start..start + usize::from(e.len)].cmp(reference)
            })
            .ok()
    }

    /// This table with a fold applied: new payments merged in order, reversals marked.
    pub fn with(self, fold: Fold) -> Result<PaymentTable, IndexError> {
        let Fold {
            mut payments,
            reversed,
            ..
        } = fold;
        if self.len() + payments.len() > MAX_INDEXED_PAYMENTS {
            return Err(IndexError(format!(
                "more than {MAX_INDEXED_PAYMENTS} payments"
            )));
        }
        let mut table = if payments.is_empty() {
            self
        } else {
            payments.sort_unstable_by(|a, b| a.reference.cmp(&b.reference));
            self.merged(&payments)?
        };
        for target in reversed {
            if let Some(i) = table.find(&target) {
                table.entries[i].reversed = true;
            }
        }
        Ok(table)
    }

    /// A new table holding this one's entries and `new` (sorted), in order.
    fn merged(&self, new: &[NewPayment]) -> Result<PaymentTable, IndexError> {
        let mut out = PaymentTable {
            heap: String::with_capacity(self.heap.len() + new.len() * 24),
            entries: Vec::with_capacity(self.len() + new.len()),
        };
        let (mut i, mut j) = (0, 0);
        while i < self.len() || j < new.len() {
            let take_old = j == new.len()
                || (i < self.len() && self.reference(i) <= new[j].reference.as_str());
            if take_old {
                let e = self.entries[i];
                out.push(self.reference(i), e.amount_fen, e.value_date, e.reversed)?;
                i += 1;
            } else {
                let p = &new[j];
                out.push(&p.reference, p.amount_fen, p.value_date, false)?;
                j += 1;
            }
        }
        Ok(out)
    }

    fn push(
        &mut self,
        reference: &str,
        amount_fen: i64,
        value_date: i32,
        reversed: bool,
    ) -> Result<(), IndexError> {
        let too_big = || IndexError("the reference heap exceeds 4 GiB".into());
        let start = u32::try_from(self.heap.len()).map_err(|_| too_big())?;
        let len = u8::try_from(reference.len())
            .map_err(|_| IndexError(format!("reference {reference:?} is too long")))?;
        self.heap.push_str(reference);
        self.entries.push(Entry {
            start,
            len,
            amount_fen,
            value_date,
            reversed,
        });
        Ok(())
    }

    /// The file form (FORMAT.md §5.6): magic, watermark, count, entries, blake3 checksum.
    pub fn encode(&self, mark: Watermark) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(INDEX_MAGIC.len() + 80 + self.heap.len() + 14 * self.len());
        out.extend_from_slice(INDEX_MAGIC);
        out.extend_from_slice(&mark.size.to_le_bytes());
        out.extend_from_slice(mark.hash.as_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for (i, e) in self.entries.iter().enumerate() {
            out.push(e.len);
            out.extend_from_slice(self.reference(i).as_bytes());
            out.extend_from_slice(&e.amount_fen.to_le_bytes());
            out.extend_from_slice(&e.value_date.to_le_bytes());
            out.push(u8::from(e.reversed));
        }
        let checksum = blake3::hash(&out);
        out.extend_from_slice(checksum.as_bytes());
        out
    }

    /// Reads the file form back, checking the checksum and the order of the entries.
    pub fn decode(bytes: &[u8]) -> Result<(Watermark, PaymentTable), IndexError> {
        let body_len = bytes
            .len()
            .checked_sub(32)
            .ok_or_else(|| IndexError("shorter than its checksum".into()))?;
        let (body, checksum) = bytes.split_at(body_len);
        if blake3::hash(body).as_bytes() != checksum {
            return Err(IndexError("checksum mismatch".into()));
        }
        let mut r = Reader { bytes: body };
        if r.take(INDEX_MAGIC.len())? != INDEX_MAGIC {
            return Err(IndexError("not a payment index (magic)".into()));
        }
        let size = u64::from_le_bytes(r.array()?);
        let hash = EventHash::from_bytes(r.array()?);
        let count = usize::try_from(u64::from_le_bytes(r.array()?))
            .ok()
            .filter(|c| *c <= MAX_INDEXED_PAYMENTS)
            .ok_or_else(|| IndexError("entry count out of range".into()))?;
        let mut table = PaymentTable::default();
        for _ in 0..count {
            table.read_entry(&mut r)?;
        }
        if !r.bytes.is_empty() {
            return Err(IndexError("trailing bytes".into()));
        }
        Ok((Watermark { size, hash }, table))
    }

    fn read_entry(&mut self, r: &mut Reader) -> Result<(), IndexError> {
        let len = usize::from(r.take(1)?[0]);
        let reference = std::str::from_utf8(r.take(len)?)
            .map_err(|_| IndexError("reference is not UTF-8".into()))?;
        if !self.is_empty() && self.reference(self.len() - 1) >= reference {
            return Err(IndexError("entries out of order".into()));
        }
        let amount_fen = i64::from_le_bytes(r.array()?);
        let value_date = i32::from_le_bytes(r.array()?);
        let reversed = match r.take(1)?[0] {
            0 => false,
            1 => true,
            other => return Err(IndexError(format!("reversed flag {other}"))),
        };
        self.push(reference, amount_fen, value_date, reversed)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        if self.bytes.len() < n {
            return Err(IndexError("truncated".into()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], IndexError> {
        let bytes = self.take(N)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(payments: &[(&str, i64)], reversed: &[&str]) -> Fold {
        let mut f = Fold::default();
        for (reference, fen) in payments {
            f.event();
            f.payment(NewPayment {
                reference: reference.to_string(),
                amount_fen: *fen,
                value_date: 17_743,
            });
        }
        for target in reversed {
            f.event();
            f.reversal(target.to_string());
        }
        f
    }

    fn references(t: &PaymentTable) -> Vec<&str> {
        (0..t.len()).map(|i| t.reference(i)).collect()
    }

    #[test]
    fn folds_merge_in_reference_order_and_mark_reversals() {
        let t = PaymentTable::default()
            .with(fold(&[("P3", 3), ("P1", 1), ("银行-9", 9)], &[]))
            .unwrap();
        assert_eq!(references(&t), ["P1", "P3", "银行-9"]);
        let t = t
            .with(fold(&[("P2", 2), ("P0", 0)], &["P3", "NOPE"]))
            .unwrap();
        assert_eq!(references(&t), ["P0", "P1", "P2", "P3", "银行-9"]);
        let i = t.find("P3").unwrap();
        assert!(t.reversed(i));
        assert_eq!(t.amount_fen(i), 3);
        assert!(!t.reversed(t.find("P2").unwrap()));
        assert_eq!(t.find("P9"), None);
    }

    #[test]
    fn the_file_form_round_trips_and_refuses_damage() {
        let t = PaymentTable::default()
            .with(fold(&[("B", -1), ("A", 7)], &["B"]))
            .unwrap();
        let mark = Watermark {
            size: 42,
            hash: EventHash::from_bytes([7; 32]),
        };
        let bytes = t.encode(mark);
        assert_eq!(&bytes[..8], b"FTPAYIX1");
        assert_eq!(PaymentTable::decode(&bytes), Ok((mark, t.clone())));
        let entry_a = [
            &[1u8, b'A'][..],
            &7i64.to_le_bytes(),
            &17_743i32.to_le_bytes(),
            &[0],
        ]
        .concat();
        assert_eq!(&bytes[56..56 + entry_a.len()], &entry_a[..]);
        for at in [0, 9, 60, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            assert!(PaymentTable::decode(&bad).is_err(), "flipped byte {at}");
        }
        assert!(PaymentTable::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(PaymentTable::decode(b"").is_err());
    }
}
