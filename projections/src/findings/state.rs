//! The compact state of the findings fold: names interned as small integers, and every
//! live payment as a 32-byte record with an index per household.
//!
//! A million live payments are what the fold holds at a district's scale (issue 14: its
//! memory must not grow with texts per event), so a payment keeps only what the rules read,
//! as numbers: its seq, amount, household, account, day, persons and program. Its
//! reference is not kept: references are unique in the ledger (FORMAT.md §1.2), so two
//! payments are always under different references, which is all `duplicate_payment` asks.
//!
//! Names are interned by [`crate::intern::Interner`]. Derived indexes (a household's
//! payments, the duplicate filter) are not serialized: they are rebuilt from the payments,
//! so a snapshot holds each fact once.

use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashSet, FxHasher};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

use crate::intern::{AccountId, HouseholdId, Id, ProgramId};
use crate::vocab::{Date, YearMonth};

/// The most distinct programs the fold tells apart: a payment keeps its program as a u16.
/// Programs are a district's schemes (a handful), so this is never near.
pub const MAX_PROGRAMS: usize = u16::MAX as usize;

/// The most persons a payment may count in the fold: it keeps them as a u16. The ledger
/// refuses more than 10,000 (`MAX_PERSONS`), well under it.
pub const MAX_PAYMENT_PERSONS: u32 = u16::MAX as u32;

/// The years a payment's date may have in the fold: it packs a date into 32 bits, 23 of
/// them for the year. The ledger keeps years 0000 to 9999 (FORMAT.md §9.1 rule 1).
pub const PAYMENT_YEARS: std::ops::RangeInclusive<i32> = -(1 << 22)..=(1 << 22) - 1;

/// Bits of a packed date below the year: 4 for the month, 5 for the day.
const YEAR_SHIFT: u32 = 9;
const MONTH_SHIFT: u32 = 5;

/// A date in 32 bits, ordered as the date: (year − min year) ‖ month ‖ day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct PackedDate(u32);

impl PackedDate {
    /// `None` for a year outside [`PAYMENT_YEARS`].
    pub(super) fn pack(date: Date) -> Option<PackedDate> {
        if !PAYMENT_YEARS.contains(&date.year) {
            return None;
        }
        let year = u32::try_from(i64::from(date.year) - i64::from(*PAYMENT_YEARS.start()))
            .expect("a year in PAYMENT_YEARS is at most 2^23 above its start");
        let month = u32::from(date.month);
        Some(PackedDate(
            year << YEAR_SHIFT | month << MONTH_SHIFT | u32::from(date.day),
        ))
    }

    pub(super) fn unpack(self) -> Date {
        let year = i64::from(self.0 >> YEAR_SHIFT) + i64::from(*PAYMENT_YEARS.start());
        Date {
            year: i32::try_from(year).expect("packed from an i32 year"),
            month: ((self.0 >> MONTH_SHIFT) & 0xf) as u8,
            day: (self.0 & 0x1f) as u8,
        }
    }

    pub(super) fn year(self) -> i32 {
        self.unpack().year
    }

    pub(super) fn year_month(self) -> YearMonth {
        self.unpack().year_month()
    }
}

/// Payments per word of the reversed bitmap.
const WORD_BITS: usize = u64::BITS as usize;

/// A payment's account id when it has none.
pub(super) const NO_ACCOUNT: u32 = u32::MAX;

/// A payment as the rules read it, 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Payment {
    pub seq: u64,
    pub amount_fen: i64,
    pub household: HouseholdId,
    /// Its account's id ([`AccountId`]), or [`NO_ACCOUNT`]: an `Option` would take 4
    /// bytes more.
    pub account: u32,
    pub date: PackedDate,
    pub persons: u16,
    /// Its program's id ([`ProgramId`]), in 16 bits (see [`MAX_PROGRAMS`]).
    pub program: u16,
}

impl Payment {
    pub(super) fn account(&self) -> Option<AccountId> {
        (self.account != NO_ACCOUNT).then(|| AccountId::from_index(self.account))
    }

    pub(super) fn program(&self) -> ProgramId {
        ProgramId::from_index(u32::from(self.program))
    }

    /// Same household, program, month and amount.
    fn is_alike(&self, other: &Payment) -> bool {
        self.household == other.household
            && self.program == other.program
            && self.amount_fen == other.amount_fen
            && self.date.year_month() == other.date.year_month()
    }

    /// A 32-bit digest of what [`Payment::is_alike`] compares, with a fixed hasher: the
    /// same on every machine, though nothing depends on it but which searches are made.
    fn alike_digest(&self) -> u32 {
        let mut hasher = FxHasher::default();
        let month = self.date.year_month();
        (self.household, self.program, self.amount_fen).hash(&mut hasher);
        (month.year, month.month).hash(&mut hasher);
        let digest = hasher.finish();
        (digest >> 32) as u32 ^ digest as u32
    }
}

/// The live payments: every payment folded, in seq order, with the reversed ones marked
/// (a reversal is rare; marking it costs a bit, removing it would move the ones after).
/// A snapshot holds the live ones only, and loading it rebuilds the indexes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(from = "Vec<Payment>")]
pub(super) struct Payments {
    all: Vec<Payment>,
    /// Bit `i` is set when `all[i]` was reversed.
    reversed: Vec<u64>,
    live: usize,
    /// Per household id, the indexes into `all` of its payments, ascending (so by seq).
    of_household: Vec<Vec<u32>>,
    /// Digests of the payments folded since loading, or `None` until the first payment
    /// after loading (a reader that folds no payment never builds it). A payment whose
    /// digest is new has no alike payment; otherwise its household's are searched. A
    /// reversed payment's digest stays: it costs a search, never a wrong answer.
    alike: Option<FxHashSet<u32>>,
}

impl From<Vec<Payment>> for Payments {
    fn from(all: Vec<Payment>) -> Self {
        let households = all.iter().map(|p| p.household.index() + 1).max();
        let mut counts = vec![0usize; households.unwrap_or(0)];
        for p in &all {
            counts[p.household.index()] += 1;
        }
        let mut of_household: Vec<Vec<u32>> = counts.into_iter().map(Vec::with_capacity).collect();
        for (i, p) in all.iter().enumerate() {
            of_household[p.household.index()].push(index(i));
        }
        Payments {
            reversed: vec![0; all.len().div_ceil(WORD_BITS)],
            live: all.len(),
            of_household,
            all,
            alike: None,
        }
    }
}

impl Serialize for Payments {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.live))?;
        for p in self.live_payments() {
            seq.serialize_element(p)?;
        }
        seq.end()
    }
}

/// Equal when the same payments are live, in the same order (what was reversed before a
/// snapshot is gone from a fold loaded from it, and the indexes follow).
impl PartialEq for Payments {
    fn eq(&self, other: &Self) -> bool {
        self.live == other.live && self.live_payments().eq(other.live_payments())
    }
}

impl Eq for Payments {}

/// An index into [`Payments`]'s vector.
fn index(i: usize) -> u32 {
    u32::try_from(i)
        .expect("fewer than 4 billion payments: at 32 bytes each, memory runs out first")
}

impl Payments {
    pub(super) fn live_count(&self) -> usize {
        self.live
    }

    fn is_live(&self, i: usize) -> bool {
        self.reversed[i / WORD_BITS] & (1 << (i % WORD_BITS)) == 0
    }

    /// Every live payment, by seq.
    pub(super) fn live_payments(&self) -> impl Iterator<Item = &Payment> {
        self.all
            .iter()
            .enumerate()
            .filter(|(i, _)| self.is_live(*i))
            .map(|(_, p)| p)
    }

    /// The live payment at `seq`.
    pub(super) fn get(&self, seq: u64) -> Option<&Payment> {
        let i = self.all.binary_search_by_key(&seq, |p| p.seq).ok()?;
        self.is_live(i).then(|| &self.all[i])
    }

    /// A household's live payments, by seq.
    pub(super) fn of_household(&self, household: HouseholdId) -> impl Iterator<Item = &Payment> {
        self.of_household
            .get(household.index())
            .into_iter()
            .flatten()
            .map(|i| *i as usize)
            .filter(|i| self.is_live(*i))
            .map(|i| &self.all[i])
    }

    /// Adds a payment whose seq is above every other's.
    pub(super) fn push(&mut self, payment: Payment) {
        debug_assert!(self.all.last().is_none_or(|p| p.seq < payment.seq));
        let i = self.all.len();
        if i.is_multiple_of(WORD_BITS) {
            self.reversed.push(0);
        }
        let household = payment.household.index();
        if self.of_household.len() <= household {
            self.of_household.resize_with(household + 1, Vec::new);
        }
        self.of_household[household].push(index(i));
        self.all.push(payment);
        self.live += 1;
    }

    /// The first live payment alike `payment` (household, program, month, amount) other
    /// than itself, which must be the last pushed. Records its digest for later payments.
    pub(super) fn alike(&mut self, payment: &Payment) -> Option<&Payment> {
        if self.alike.is_none() {
            let digests = self.live_payments().map(Payment::alike_digest).collect();
            self.alike = Some(digests);
        }
        let digests = self.alike.as_mut().expect("built just above");
        if digests.insert(payment.alike_digest()) {
            return None;
        }
        self.of_household(payment.household)
            .find(|o| o.seq != payment.seq && o.is_alike(payment))
    }

    /// Marks the live payment at `seq` reversed and returns it.
    pub(super) fn reverse(&mut self, seq: u64) -> Option<Payment> {
        let i = self.all.binary_search_by_key(&seq, |p| p.seq).ok()?;
        if !self.is_live(i) {
            return None;
        }
        self.reversed[i / WORD_BITS] |= 1 << (i % WORD_BITS);
        self.live -= 1;
        Some(self.all[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(year: i32, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    fn payment(seq: u64, household: u32, amount_fen: i64, date: Date) -> Payment {
        Payment {
            seq,
            amount_fen,
            household: HouseholdId::from_index(household),
            account: NO_ACCOUNT,
            date: PackedDate::pack(date).expect("a year in range"),
            persons: 1,
            program: 0,
        }
    }

    #[test]
    fn a_payment_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Payment>(), 32);
    }

    #[test]
    fn a_packed_date_unpacks_to_itself_and_keeps_the_order() {
        let dates = [
            on(*PAYMENT_YEARS.start(), 1, 1),
            on(-1, 12, 31),
            on(0, 1, 1),
            on(2019, 2, 28),
            on(2019, 3, 1),
            on(9999, 12, 31),
            on(*PAYMENT_YEARS.end(), 12, 31),
        ];
        let packed: Vec<PackedDate> = dates
            .iter()
            .map(|d| PackedDate::pack(*d).unwrap())
            .collect();
        for (date, packed) in dates.iter().zip(&packed) {
            assert_eq!(packed.unpack(), *date);
            assert_eq!(packed.year_month(), date.year_month());
        }
        assert!(packed.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(PackedDate::pack(on(*PAYMENT_YEARS.end() + 1, 1, 1)), None);
        assert_eq!(PackedDate::pack(on(*PAYMENT_YEARS.start() - 1, 1, 1)), None);
    }

    #[test]
    fn payments_round_trip_without_the_reversed_and_with_their_indexes() {
        let mut payments = Payments::default();
        for seq in 1..=200 {
            payments.push(payment(seq, (seq % 3) as u32, 100, on(2019, 5, 1)));
        }
        assert_eq!(payments.reverse(7).map(|p| p.seq), Some(7));
        assert_eq!(payments.reverse(7), None, "reversed once");
        assert_eq!(payments.reverse(999), None);
        assert_eq!(
            (payments.get(7), payments.get(8).map(|p| p.seq)),
            (None, Some(8))
        );
        let bytes = bincode::serialize(&payments).unwrap();
        assert_eq!(
            bytes.len(),
            8 + 199 * 32,
            "a length, then 32 bytes per live payment"
        );
        let back: Payments = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, payments);
        assert_eq!(back.live_count(), 199);
        let of_one: Vec<u64> = back
            .of_household(HouseholdId::from_index(1))
            .map(|p| p.seq)
            .collect();
        let expected: Vec<u64> = (1..=200).filter(|s| s % 3 == 1 && *s != 7).collect();
        assert_eq!(of_one, expected);
        assert_eq!(back.get(7), None);
    }

    #[test]
    fn the_alike_search_finds_the_first_live_twin_and_skips_the_reversed() {
        let mut payments = Payments::default();
        let may = on(2019, 5, 2);
        for p in [
            payment(1, 0, 100, may),
            payment(2, 0, 100, on(2019, 5, 28)),
            payment(3, 0, 101, may),
            payment(4, 1, 100, may),
        ] {
            payments.push(p);
        }
        let alike = |payments: &mut Payments, p: Payment| {
            payments.push(p);
            payments.alike(&p).map(|o| o.seq)
        };
        assert_eq!(
            alike(&mut payments, payment(5, 0, 100, on(2019, 5, 9))),
            Some(1)
        );
        payments.reverse(1);
        assert_eq!(alike(&mut payments, payment(6, 0, 100, may)), Some(2));
        assert_eq!(
            alike(&mut payments, payment(7, 0, 100, on(2019, 6, 2))),
            None
        );
        assert_eq!(alike(&mut payments, payment(8, 2, 100, may)), None);
    }
}
