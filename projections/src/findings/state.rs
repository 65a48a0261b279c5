//! The compact parts of the findings fold: a payment as a 32-byte record, the filter in
//! front of the duplicate search, and the payments a fold asks for ([`PaymentLookup`]).
//!
//! The fold keeps no payment (issue 14: its memory must not grow with events): it asks a
//! [`PaymentLookup`] for the payments it needs, which the ledger answers from its log and
//! [`Payments`] from memory. A payment it reads keeps only what the rules read, as
//! numbers: its seq, amount, household, account, day, persons and program. Its reference
//! is not kept: references are unique in the ledger (FORMAT.md §1.2), so two payments are
//! always under different references, which is all `duplicate_payment` asks.
//!
//! Names are interned by [`crate::intern::Interner`].

use std::hash::{Hash, Hasher};
use std::ops::ControlFlow;

use rustc_hash::FxHasher;
use serde::{Deserialize, Serialize};

use super::FindingFact;
use crate::intern::{AccountId, HouseholdId, Id, ProgramId};
use crate::intern::{Interner, NameBytes};
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

/// A payment's account id when it has none.
pub(super) const NO_ACCOUNT: u32 = u32::MAX;

/// A payment as the rules read it, 32 bytes: in the fold, with the ids of the fold's
/// tables; in [`Payments`], with the ids of its own.
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
    pub(super) fn is_alike(&self, other: &Payment) -> bool {
        self.household == other.household
            && self.program == other.program
            && self.amount_fen == other.amount_fen
            && self.date.year_month() == other.date.year_month()
    }

    /// A 64-bit digest of what [`Payment::is_alike`] compares, with a fixed hasher: the
    /// same on every machine, and part of a snapshot (the filter's list keeps its top 48
    /// bits, `filter::DigestFilter`).
    pub(super) fn alike_digest(&self) -> u64 {
        let mut hasher = FxHasher::default();
        let month = self.date.year_month();
        (self.household, self.program, self.amount_fen).hash(&mut hasher);
        (month.year, month.month).hash(&mut hasher);
        hasher.finish()
    }
}

/// One household paid on an account in a year, and its live payments there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Paid {
    year: i32,
    household: HouseholdId,
    payments: u32,
}

/// Per account (by id), the households paid on it per year, by (year, household id)
/// ascending: what the shared-account rule counts. Nearly every account is one
/// household's, paid on a few years, so each account has one short list, grown by one
/// entry at a time: 12 bytes a year paid on it and a 24-byte header. A map per (account,
/// year) of a list of households took about 75 bytes a year; one flat map of (account,
/// year, household) entries about 34 (its nodes half full, as keys come in order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct AccountsPaid(Vec<Vec<Paid>>);

impl AccountsPaid {
    /// Counts a live payment of `household` on `account` in `year`. When the household is
    /// new there, the households paid on the account that year, by id ascending.
    pub(super) fn add(
        &mut self,
        account: AccountId,
        year: i32,
        household: HouseholdId,
    ) -> Option<Vec<HouseholdId>> {
        if self.0.len() <= account.index() {
            self.0.resize_with(account.index() + 1, Vec::new);
        }
        let list = &mut self.0[account.index()];
        match list.binary_search_by_key(&(year, household), |p| (p.year, p.household)) {
            Ok(i) => {
                list[i].payments += 1;
                return None;
            }
            Err(i) => {
                // One entry at a time: doubling would leave most lists half empty.
                list.reserve_exact(1);
                list.insert(
                    i,
                    Paid {
                        year,
                        household,
                        payments: 1,
                    },
                );
            }
        }
        let that_year = list.iter().filter(|p| p.year == year);
        Some(that_year.map(|p| p.household).collect())
    }

    /// Forgets a live payment (a reversal); one it does not count is ignored.
    pub(super) fn remove(&mut self, account: AccountId, year: i32, household: HouseholdId) {
        let Some(list) = self.0.get_mut(account.index()) else {
            return;
        };
        let Ok(i) = list.binary_search_by_key(&(year, household), |p| (p.year, p.household)) else {
            return;
        };
        list[i].payments -= 1;
        if list[i].payments == 0 {
            list.remove(i);
        }
    }

    /// The live payments of `household` on `account` in `year`.
    #[cfg(test)]
    pub(super) fn payments(&self, account: AccountId, year: i32, household: HouseholdId) -> u32 {
        let list = self.0.get(account.index()).map_or(&[][..], Vec::as_slice);
        let found = list
            .iter()
            .find(|p| (p.year, p.household) == (year, household));
        found.map_or(0, |p| p.payments)
    }

    /// The distinct (account, year) pairs with a live payment.
    pub(super) fn account_years(&self) -> usize {
        let years = self.0.iter().map(|list| {
            let starts = list.windows(2).filter(|w| w[0].year != w[1].year);
            usize::from(!list.is_empty()) + starts.count()
        });
        years.sum()
    }
}

/// A payment as the log records it: what a [`PaymentLookup`] answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedPayment {
    pub seq: u64,
    pub household: String,
    pub program: String,
    pub amount_fen: i64,
    pub persons: u32,
    pub date: Date,
    /// The keyed hash of its account (FORMAT.md §1.6), if it has one.
    pub account: Option<[u8; 32]>,
}

impl LoggedPayment {
    /// The payment `fact` records at `seq`; `None` for any other fact.
    pub fn of(seq: u64, fact: &FindingFact) -> Option<LoggedPayment> {
        let FindingFact::Paid {
            household,
            program,
            amount_fen,
            persons,
            date,
            account,
            ..
        } = fact
        else {
            return None;
        };
        Some(LoggedPayment {
            seq,
            household: household.clone(),
            program: program.clone(),
            amount_fen: *amount_fen,
            persons: *persons,
            date: *date,
            account: account.as_ref().map(|a| a.hash),
        })
    }
}

/// Where the fold finds the payments it folded before: it keeps none of them (a district's
/// log holds millions), only which were reversed. Each answer holds only payments at seqs
/// below `before` (the fact being folded and what follows it are not the past), in seq
/// order, reversed ones included; the fold checks that they are what it asked for.
///
/// The ledger answers from its log through the household trail index; [`Payments`] holds
/// them in memory, for [`super::Findings::apply`].
pub trait PaymentLookup {
    /// Visits the payments naming `household` until `visit` breaks: the duplicate search
    /// stops at the first alike, so a household paid many times alike (a bulk import) is
    /// not read whole for each payment.
    fn visit_household(
        &mut self,
        household: &str,
        before: u64,
        visit: &mut dyn FnMut(LoggedPayment) -> ControlFlow<()>,
    ) -> Result<(), String>;

    /// The payments naming `household`.
    fn household_payments(
        &mut self,
        household: &str,
        before: u64,
    ) -> Result<Vec<LoggedPayment>, String> {
        let mut all = Vec::new();
        self.visit_household(household, before, &mut |p| {
            all.push(p);
            ControlFlow::Continue(())
        })?;
        Ok(all)
    }

    /// The payment at `seq`; `None` when the event there is not a payment.
    fn payment(&mut self, seq: u64, before: u64) -> Result<Option<LoggedPayment>, String>;

    /// The payments of `program` dated in `year`: asked only when a program's year falls
    /// back to [`super::OUTLIER_MIN_GROUP`] payments after reversals (its members were not
    /// kept), so a scan of the log is fine.
    fn program_payments(
        &mut self,
        program: &str,
        year: i32,
        before: u64,
    ) -> Result<Vec<LoggedPayment>, String>;
}

/// Payments kept in memory, each a 32-byte `Payment` with names interned in tables of
/// its own, and an index per household: the [`PaymentLookup`] of a fold that has no log
/// to read (an export's `audit findings`, the tests, a ledger without its key, whose
/// household index cannot be checked). It grows with payments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredPayments")]
pub struct Payments {
    /// Every payment pushed, by seq.
    all: Vec<Payment>,
    households: Interner<String, HouseholdId>,
    programs: Interner<String, ProgramId>,
    accounts: Interner<[u8; 32], AccountId>,
    /// Per household id, the indexes into `all` of its payments, ascending (so by seq);
    /// derived from `all`, not serialized.
    #[serde(skip)]
    of_household: Vec<Vec<u32>>,
}

/// What [`Payments`] serializes: everything but the index it derives.
#[derive(Deserialize)]
struct StoredPayments {
    all: Vec<Payment>,
    households: Interner<String, HouseholdId>,
    programs: Interner<String, ProgramId>,
    accounts: Interner<[u8; 32], AccountId>,
}

impl From<StoredPayments> for Payments {
    fn from(stored: StoredPayments) -> Self {
        let mut of_household: Vec<Vec<u32>> = vec![Vec::new(); stored.households.names().len()];
        for (i, p) in stored.all.iter().enumerate() {
            if let Some(list) = of_household.get_mut(p.household.index()) {
                list.push(index(i));
            }
        }
        Payments {
            all: stored.all,
            households: stored.households,
            programs: stored.programs,
            accounts: stored.accounts,
            of_household,
        }
    }
}

/// An index into [`Payments`]'s vector.
fn index(i: usize) -> u32 {
    u32::try_from(i)
        .expect("fewer than 4 billion payments: at 32 bytes each, memory runs out first")
}

/// The id of `name` in `table`, added if new.
fn interned<K, I>(table: &mut Interner<K, I>, name: K) -> I
where
    K: NameBytes + Clone,
    I: Id,
{
    table
        .intern(name)
        .expect("fewer than 4 billion names: each costs memory, which runs out first")
}

impl Payments {
    /// Adds a payment the fold admitted (so its date, persons and program fit a
    /// `Payment`), with a seq above every other's.
    pub fn push(&mut self, p: &LoggedPayment) {
        debug_assert!(self.all.last().is_none_or(|last| last.seq < p.seq));
        let household = interned(&mut self.households, p.household.clone());
        let program = interned(&mut self.programs, p.program.clone());
        let account = p.account.map_or(NO_ACCOUNT, |hash| {
            let id = interned(&mut self.accounts, hash);
            u32::try_from(id.index()).expect("ids are minted from u32 indexes")
        });
        if self.of_household.len() <= household.index() {
            self.of_household
                .resize_with(household.index() + 1, Vec::new);
        }
        self.of_household[household.index()].push(index(self.all.len()));
        self.all.push(Payment {
            seq: p.seq,
            amount_fen: p.amount_fen,
            household,
            account,
            date: PackedDate::pack(p.date).expect("admitted: a year the packed date holds"),
            persons: u16::try_from(p.persons).expect("admitted: at most MAX_PAYMENT_PERSONS"),
            program: u16::try_from(program.index()).expect("admitted: at most MAX_PROGRAMS"),
        });
    }

    /// The payment at `seq`, with the ids of this table.
    pub(super) fn get(&self, seq: u64) -> Option<&Payment> {
        let i = self.all.binary_search_by_key(&seq, |p| p.seq).ok()?;
        Some(&self.all[i])
    }

    fn logged(&self, p: &Payment) -> LoggedPayment {
        LoggedPayment {
            seq: p.seq,
            household: self.households.name(p.household).clone(),
            program: self.programs.name(p.program()).clone(),
            amount_fen: p.amount_fen,
            persons: u32::from(p.persons),
            date: p.date.unpack(),
            account: p.account().map(|a| *self.accounts.name(a)),
        }
    }

    /// The payments before `before`, by seq.
    fn before(&self, before: u64) -> &[Payment] {
        &self.all[..self.all.partition_point(|p| p.seq < before)]
    }
}

impl PaymentLookup for Payments {
    fn visit_household(
        &mut self,
        household: &str,
        before: u64,
        visit: &mut dyn FnMut(LoggedPayment) -> ControlFlow<()>,
    ) -> Result<(), String> {
        let Some(id) = self.households.get(household) else {
            return Ok(());
        };
        let indexes = self
            .of_household
            .get(id.index())
            .map_or(&[][..], Vec::as_slice);
        let payments = indexes.iter().map(|i| &self.all[*i as usize]);
        for p in payments.take_while(|p| p.seq < before) {
            if visit(self.logged(p)).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn payment(&mut self, seq: u64, before: u64) -> Result<Option<LoggedPayment>, String> {
        Ok(self
            .get(seq)
            .filter(|p| p.seq < before)
            .map(|p| self.logged(p)))
    }

    fn program_payments(
        &mut self,
        program: &str,
        year: i32,
        before: u64,
    ) -> Result<Vec<LoggedPayment>, String> {
        let Some(id) = self.programs.get(program) else {
            return Ok(Vec::new());
        };
        Ok(self
            .before(before)
            .iter()
            .filter(|p| p.program() == id && p.date.year() == year)
            .map(|p| self.logged(p))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(year: i32, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    #[test]
    fn a_payment_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Payment>(), 32);
    }

    /// The filter's prefixes tell payments apart: 100,000 payments that are not alike
    /// (each household paid one amount in one month) give 100,000 digests, none a false
    /// match in the filter, and their high halves differ (a digest folded to 32 bits would
    /// have none).
    #[test]
    fn payments_not_alike_have_distinct_64_bit_digests() {
        let mut filter = super::super::filter::DigestFilter::default();
        let mut high = rustc_hash::FxHashSet::default();
        for i in 0..100_000u32 {
            let p = Payment {
                seq: u64::from(i) + 1,
                amount_fen: 40_000 + i64::from(i % 7),
                household: HouseholdId::from_index(i / 12),
                account: NO_ACCOUNT,
                date: PackedDate::pack(on(2020, 1 + (i % 12) as u8, 5)).unwrap(),
                persons: 1,
                program: 2,
            };
            let digest = p.alike_digest();
            high.insert(digest >> 32);
            assert!(
                filter.insert(digest),
                "payment {i} falsely matched an earlier one"
            );
        }
        assert!(high.len() > 99_000, "{} high halves", high.len());
    }

    /// The households per account and year, against a map of (account, year,
    /// household) counts, through additions and removals in any order.
    #[test]
    fn accounts_paid_count_as_a_flat_map_would() {
        use std::collections::BTreeMap;
        let mut paid = AccountsPaid::default();
        let mut flat: BTreeMap<(u32, i32, u32), u32> = BTreeMap::new();
        let mut x = 7u64;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let (a, y, h) = ((x >> 33) % 5, 2019 + (x >> 40) % 4, (x >> 45) % 6);
            let (a, y, h) = (a as u32, y as i32, h as u32);
            let (account, household) = (AccountId::from_index(a), HouseholdId::from_index(h));
            if (x >> 50).is_multiple_of(3) {
                paid.remove(account, y, household);
                if let Some(n) = flat.get_mut(&(a, y, h)) {
                    *n -= 1;
                    if *n == 0 {
                        flat.remove(&(a, y, h));
                    }
                }
                continue;
            }
            let new = !flat.contains_key(&(a, y, h));
            *flat.entry((a, y, h)).or_default() += 1;
            let expected = new.then(|| {
                let that_year = flat.keys().filter(|k| (k.0, k.1) == (a, y));
                that_year
                    .map(|k| HouseholdId::from_index(k.2))
                    .collect::<Vec<_>>()
            });
            assert_eq!(paid.add(account, y, household), expected);
        }
        for ((a, y, h), n) in &flat {
            let (account, household) = (AccountId::from_index(*a), HouseholdId::from_index(*h));
            assert_eq!(paid.payments(account, *y, household), *n);
        }
        let mut years: Vec<(u32, i32)> = flat.keys().map(|k| (k.0, k.1)).collect();
        years.dedup();
        assert_eq!(paid.account_years(), years.len());
        assert_eq!(
            paid.payments(AccountId::from_index(99), 2019, HouseholdId::from_index(0)),
            0
        );
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

    fn logged(seq: u64, household: &str, program: &str, date: Date) -> LoggedPayment {
        LoggedPayment {
            seq,
            household: household.into(),
            program: program.into(),
            amount_fen: 100,
            persons: 1,
            date,
            account: seq.is_multiple_of(2).then_some([seq as u8; 32]),
        }
    }

    #[test]
    fn payments_in_memory_answer_with_what_was_pushed_before_the_seq_asked() {
        let mut payments = Payments::default();
        let pushed: Vec<LoggedPayment> = (1..=200)
            .map(|seq| {
                let program = ["a", "b"][(seq % 2) as usize];
                logged(seq, &format!("H{}", seq % 3), program, on(2019, 5, 1))
            })
            .collect();
        pushed.iter().for_each(|p| payments.push(p));
        let bytes = bincode::serialize(&payments).unwrap();
        let mut back: Payments = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, payments, "the household index is rebuilt on load");
        let of_one = back.household_payments("H1", 100).unwrap();
        let expected: Vec<&LoggedPayment> = pushed
            .iter()
            .filter(|p| p.household == "H1" && p.seq < 100)
            .collect();
        assert_eq!(of_one.iter().collect::<Vec<_>>(), expected);
        assert_eq!(back.household_payments("H9", 201).unwrap(), []);
        assert_eq!(back.payment(8, 9).unwrap().as_ref(), Some(&pushed[7]));
        assert_eq!(
            back.payment(8, 8).unwrap(),
            None,
            "not before the seq asked"
        );
        assert_eq!(back.payment(999, 1000).unwrap(), None);
        let of_b = back.program_payments("b", 2019, 11).unwrap();
        let seqs: Vec<u64> = of_b.iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [1, 3, 5, 7, 9]);
        assert_eq!(back.program_payments("b", 2020, 201).unwrap(), []);
    }
}
