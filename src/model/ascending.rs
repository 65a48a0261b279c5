//! Ascending lists of integers kept as the differences between them, pure.
//!
//! A large import keeps, per household, the seqs it wrote and has not yet indexed (the
//! trail entries it holds, the payments the findings fold was told of): millions of
//! values, each larger than the one before in its list. A household is paid about once a
//! month, so the gap between two of its seqs is about the number of households: at 16,000
//! households two bytes of LEB128 (7 bits a byte) where a `u32` takes four and a `Seq`
//! eight, and no spare capacity doubled at the end of a `Vec` of words.

use thiserror::Error;

/// A value pushed that is not larger than the list's last one; the list is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("{value} does not follow {last}: the list takes ascending values only")]
pub struct NotAscending {
    pub last: u64,
    pub value: u64,
}

/// Distinct `u64`s in ascending order, each kept as its difference from the one before
/// (the first from 0) in LEB128.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AscendingList {
    bytes: Vec<u8>,
    last: Option<u64>,
    len: usize,
}

/// Payload bits of one LEB128 byte; the high bit says another byte follows.
const LEB_BITS: u32 = 7;
const LEB_MORE: u8 = 0x80;

impl AscendingList {
    /// A list of one value.
    pub fn of(value: u64) -> AscendingList {
        let mut list = AscendingList::default();
        list.put(value);
        list
    }

    /// Appends `value`, which must be larger than the last one.
    pub fn push(&mut self, value: u64) -> Result<(), NotAscending> {
        match self.last {
            Some(last) if value <= last => Err(NotAscending { last, value }),
            _ => {
                self.put(value);
                Ok(())
            }
        }
    }

    /// Appends `value`, known to be larger than the last one.
    fn put(&mut self, value: u64) {
        let mut delta = value - self.last.unwrap_or(0);
        while delta >= u64::from(LEB_MORE) {
            // The low 7 bits, with the flag that more follow: the cast keeps them.
            #[allow(clippy::cast_possible_truncation)]
            self.bytes.push(delta as u8 | LEB_MORE);
            delta >>= LEB_BITS;
        }
        #[allow(clippy::cast_possible_truncation)]
        self.bytes.push(delta as u8);
        self.last = Some(value);
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values, ascending.
    pub fn iter(&self) -> Values<'_> {
        Values {
            bytes: &self.bytes,
            at: 0,
            value: 0,
        }
    }
}

/// The values of an [`AscendingList`], ascending.
pub struct Values<'a> {
    bytes: &'a [u8],
    at: usize,
    value: u64,
}

impl Iterator for Values<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let (mut delta, mut shift) = (0u64, 0u32);
        loop {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            delta |= u64::from(byte & !LEB_MORE) << shift;
            if byte & LEB_MORE == 0 {
                break;
            }
            shift += LEB_BITS;
        }
        self.value += delta;
        Some(self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_empty_list_has_no_values() {
        let list = AscendingList::default();
        assert!(list.is_empty());
        assert_eq!(list.iter().next(), None);
    }

    #[test]
    fn a_value_not_above_the_last_is_refused_and_changes_nothing() {
        let mut list = AscendingList::of(7);
        assert_eq!(list.push(7), Err(NotAscending { last: 7, value: 7 }));
        assert_eq!(list.push(3), Err(NotAscending { last: 7, value: 3 }));
        assert_eq!(list.len(), 1);
        assert_eq!(list.iter().collect::<Vec<_>>(), [7]);
        list.push(8).unwrap();
        assert_eq!(list.iter().collect::<Vec<_>>(), [7, 8]);
    }

    #[test]
    fn a_gap_of_a_district_s_households_takes_two_bytes() {
        let mut list = AscendingList::of(0);
        list.push(16_383).unwrap();
        list.push(16_383 + 16_384).unwrap();
        assert_eq!(list.bytes.len(), 1 + 2 + 3);
    }

    proptest! {
        #[test]
        fn the_values_read_back_are_the_values_pushed(
            mut values in proptest::collection::vec(any::<u64>(), 0..200),
        ) {
            values.sort_unstable();
            values.dedup();
            let mut list = AscendingList::default();
            for value in &values {
                list.push(*value).unwrap();
            }
            prop_assert_eq!(list.len(), values.len());
            prop_assert_eq!(list.iter().collect::<Vec<_>>(), values);
        }
    }
}
