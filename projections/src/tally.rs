use serde::{Deserialize, Serialize};

/// Live payments summed: net amount, how many, and how many person-times.
///
/// Invariant: every field is non-negative, and `payments == 0` implies the
/// other two are zero too (the fold rejects reversals that would break this),
/// so a tally with no payments is empty and its cell is dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub net_fen: i64,
    pub payments: u64,
    pub person_times: u64,
}

/// A [`Tally`] as a household's fine cells keep it when a cell of its row does not
/// fit a [`NarrowTally`]: 16 bytes instead of 24.
///
/// One household's payments in one program and month number a handful, so the
/// counts fit in `u32` with room to spare; a cell that would not is refused with
/// [`TallyError::Overflow`] rather than kept wider still. The household's fine cells
/// are the largest part of the read models (one per program and month paid), so
/// their size is the models' size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PackedTally {
    net_fen: i64,
    payments: u32,
    person_times: u32,
}

impl PackedTally {
    pub(crate) fn is_empty(&self) -> bool {
        self.payments == 0
    }
}

impl TryFrom<Tally> for PackedTally {
    type Error = TallyError;

    fn try_from(tally: Tally) -> Result<Self, TallyError> {
        let narrow = |count: u64| u32::try_from(count).map_err(|_| TallyError::Overflow);
        Ok(PackedTally {
            net_fen: tally.net_fen,
            payments: narrow(tally.payments)?,
            person_times: narrow(tally.person_times)?,
        })
    }
}

impl From<PackedTally> for Tally {
    fn from(packed: PackedTally) -> Tally {
        Tally {
            net_fen: packed.net_fen,
            payments: u64::from(packed.payments),
            person_times: u64::from(packed.person_times),
        }
    }
}

/// A [`Tally`] in 8 bytes, as a row of fine cells keeps it while all its cells fit.
///
/// One household's one program in one month is paid once or twice (the 1M district's
/// largest cell holds 2 payments, 2 person-times and ¥2,750), so one word holds it:
/// the net amount in the low [`NARROW_NET_BITS`] bits (two's complement: a signed
/// range of about ±¥5.5 billion), then the payments in 8 bits (up to 255) and the
/// person-times in 16 (up to 65,535). A tally that does not fit is kept as a
/// [`PackedTally`] instead: the row it is in widens (`grid.rs`), so nothing is refused
/// here. Zero is the empty tally, as for the wide forms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NarrowTally(u64);

/// Bits of a [`NarrowTally`]'s net amount: what the word leaves after a `u8` of
/// payments and a `u16` of person-times.
const NARROW_NET_BITS: u32 = u64::BITS - u8::BITS - u16::BITS;
/// Where a [`NarrowTally`]'s payments start: above its net amount.
const NARROW_PAYMENTS_SHIFT: u32 = NARROW_NET_BITS;
/// Where a [`NarrowTally`]'s person-times start: above its payments, to the top bit.
const NARROW_PERSONS_SHIFT: u32 = NARROW_NET_BITS + u8::BITS;
/// The bits of the net amount, in place.
const NARROW_NET_MASK: u64 = (1 << NARROW_NET_BITS) - 1;

impl NarrowTally {
    /// The tally in one word, if each of its parts fits.
    pub(crate) fn fit(tally: PackedTally) -> Option<NarrowTally> {
        let payments = u8::try_from(tally.payments).ok()?;
        let person_times = u16::try_from(tally.person_times).ok()?;
        // The low bits, sign-extended back, give the amount only if it fits.
        let net = tally.net_fen.cast_unsigned() & NARROW_NET_MASK;
        (Self::net_of(net) == tally.net_fen).then(|| {
            NarrowTally(
                net | u64::from(payments) << NARROW_PAYMENTS_SHIFT
                    | u64::from(person_times) << NARROW_PERSONS_SHIFT,
            )
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.payments() == 0
    }

    fn payments(self) -> u8 {
        let [byte, ..] = (self.0 >> NARROW_PAYMENTS_SHIFT).to_le_bytes();
        byte
    }

    fn person_times(self) -> u16 {
        let [low, high, ..] = (self.0 >> NARROW_PERSONS_SHIFT).to_le_bytes();
        u16::from_le_bytes([low, high])
    }

    /// The amount in the low bits of `word`, sign-extended from its top bit.
    fn net_of(word: u64) -> i64 {
        let unused = u64::BITS - NARROW_NET_BITS;
        (word << unused).cast_signed() >> unused
    }
}

impl From<NarrowTally> for PackedTally {
    fn from(narrow: NarrowTally) -> PackedTally {
        PackedTally {
            net_fen: NarrowTally::net_of(narrow.0),
            payments: u32::from(narrow.payments()),
            person_times: u32::from(narrow.person_times()),
        }
    }
}

impl From<NarrowTally> for Tally {
    fn from(narrow: NarrowTally) -> Tally {
        Tally::from(PackedTally::from(narrow))
    }
}

/// Whether a change adds a payment or removes (reverses) one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sign {
    Add,
    Remove,
}

/// One payment's contribution to every tally it lands in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delta {
    pub(crate) sign: Sign,
    pub(crate) amount_fen: i64,
    pub(crate) persons: u32,
}

/// Why a tally could not take a delta; the caller adds the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TallyError {
    /// A sum left its integer range.
    Overflow,
    /// Removing more than is live (a reversal that does not fit).
    Underflow,
}

impl Tally {
    pub(crate) fn is_empty(&self) -> bool {
        self.payments == 0
    }

    /// The tally after `delta`, saturating instead of failing. Only for group cells:
    /// each is a sum of household cells the fold already checked, and bounded by the
    /// grand total it also checks, so for a consistent state this is exact.
    pub(crate) fn saturating_apply(self, delta: Delta) -> Tally {
        let persons = u64::from(delta.persons);
        match delta.sign {
            Sign::Add => Tally {
                net_fen: self.net_fen.saturating_add(delta.amount_fen),
                payments: self.payments.saturating_add(1),
                person_times: self.person_times.saturating_add(persons),
            },
            Sign::Remove => Tally {
                net_fen: self.net_fen.saturating_sub(delta.amount_fen),
                payments: self.payments.saturating_sub(1),
                person_times: self.person_times.saturating_sub(persons),
            },
        }
    }

    /// `self + other`, saturating; exact for the same reason as
    /// [`Tally::saturating_apply`].
    pub(crate) fn saturating_merge(self, other: Tally) -> Tally {
        Tally {
            net_fen: self.net_fen.saturating_add(other.net_fen),
            payments: self.payments.saturating_add(other.payments),
            person_times: self.person_times.saturating_add(other.person_times),
        }
    }

    /// The tally after `delta`, computed with checked arithmetic only.
    pub(crate) fn apply(self, delta: Delta) -> Result<Tally, TallyError> {
        match delta.sign {
            Sign::Add => self.add(delta),
            Sign::Remove => self.remove(delta),
        }
    }

    fn add(self, delta: Delta) -> Result<Tally, TallyError> {
        Ok(Tally {
            net_fen: self
                .net_fen
                .checked_add(delta.amount_fen)
                .ok_or(TallyError::Overflow)?,
            payments: self.payments.checked_add(1).ok_or(TallyError::Overflow)?,
            person_times: self
                .person_times
                .checked_add(u64::from(delta.persons))
                .ok_or(TallyError::Overflow)?,
        })
    }

    fn remove(self, delta: Delta) -> Result<Tally, TallyError> {
        let next = Tally {
            net_fen: self
                .net_fen
                .checked_sub(delta.amount_fen)
                .ok_or(TallyError::Overflow)?,
            payments: self.payments.checked_sub(1).ok_or(TallyError::Underflow)?,
            person_times: self
                .person_times
                .checked_sub(u64::from(delta.persons))
                .ok_or(TallyError::Underflow)?,
        };
        // A residue after the last live payment is gone means the reversal's
        // copied amount or persons differ from the payment it names.
        let residue = next.payments == 0 && (next.net_fen != 0 || next.person_times != 0);
        if next.net_fen < 0 || residue {
            return Err(TallyError::Underflow);
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(sign: Sign, amount_fen: i64, persons: u32) -> Delta {
        Delta {
            sign,
            amount_fen,
            persons,
        }
    }

    #[test]
    fn a_packed_tally_is_16_bytes_and_widens_back_exactly() {
        assert_eq!(std::mem::size_of::<PackedTally>(), 16);
        let largest = Tally {
            net_fen: i64::MIN,
            payments: u64::from(u32::MAX),
            person_times: u64::from(u32::MAX),
        };
        let packed = PackedTally::try_from(largest).expect("counts fit in u32");
        assert_eq!(Tally::from(packed), largest);
        assert!(PackedTally::default().is_empty());
        assert_eq!(Tally::from(PackedTally::default()), Tally::default());
    }

    #[test]
    fn a_narrow_tally_is_8_bytes_and_holds_each_part_to_its_edges() {
        assert_eq!(std::mem::size_of::<NarrowTally>(), 8);
        let tally = |net_fen: i64, payments: u64, person_times: u64| Tally {
            net_fen,
            payments,
            person_times,
        };
        let net = 1i64 << 39;
        let fits = [
            Tally::default(),
            tally(0, 1, 0),
            tally(net - 1, 255, 65_535),
            tally(-net, 255, 65_535),
            tally(-1, 1, 1),
        ];
        for tally in fits {
            let packed = PackedTally::try_from(tally).expect("counts fit in u32");
            let narrow = NarrowTally::fit(packed).expect("each part fits");
            assert_eq!(Tally::from(narrow), tally);
            assert_eq!(PackedTally::from(narrow), packed);
            assert_eq!(narrow.is_empty(), tally.is_empty());
        }
        assert!(NarrowTally::default().is_empty());
        let past = [
            tally(net, 1, 1),
            tally(-net - 1, 1, 1),
            tally(i64::MAX, 1, 1),
            tally(i64::MIN, 1, 1),
            tally(1, 256, 1),
            tally(1, 1, 65_536),
        ];
        for tally in past {
            let packed = PackedTally::try_from(tally).expect("counts fit in u32");
            assert_eq!(NarrowTally::fit(packed), None, "{tally:?}");
        }
    }

    #[test]
    fn counts_past_u32_do_not_pack() {
        let wide = |payments: u64, person_times: u64| Tally {
            net_fen: 1,
            payments,
            person_times,
        };
        let past = u64::from(u32::MAX) + 1;
        assert_eq!(
            PackedTally::try_from(wide(past, 1)),
            Err(TallyError::Overflow)
        );
        assert_eq!(
            PackedTally::try_from(wide(1, past)),
            Err(TallyError::Overflow)
        );
    }

    #[test]
    fn add_then_remove_returns_to_empty() {
        let t = Tally::default().apply(delta(Sign::Add, 500, 2));
        assert_eq!(
            t,
            Ok(Tally {
                net_fen: 500,
                payments: 1,
                person_times: 2
            })
        );
        let back = t.and_then(|t| t.apply(delta(Sign::Remove, 500, 2)));
        assert_eq!(back, Ok(Tally::default()));
    }

    #[test]
    fn add_overflow_is_reported() {
        let t = Tally {
            net_fen: i64::MAX,
            payments: 1,
            person_times: 0,
        };
        assert_eq!(t.apply(delta(Sign::Add, 1, 0)), Err(TallyError::Overflow));
    }

    #[test]
    fn removing_more_than_live_is_underflow() {
        let t = Tally {
            net_fen: 100,
            payments: 1,
            person_times: 1,
        };
        assert_eq!(
            t.apply(delta(Sign::Remove, 101, 1)),
            Err(TallyError::Underflow)
        );
        assert_eq!(
            t.apply(delta(Sign::Remove, 100, 2)),
            Err(TallyError::Underflow)
        );
        assert_eq!(
            t.apply(delta(Sign::Remove, 99, 1)),
            Err(TallyError::Underflow)
        );
        assert_eq!(
            Tally::default().apply(delta(Sign::Remove, 0, 0)),
            Err(TallyError::Underflow)
        );
    }
}
