//! Hash maps for the in-memory indexes of the fold.
//!
//! The fold looks up a household, a program and two dozen cells per payment; with
//! `BTreeMap`s those searches were most of its cost. These maps hash with a small
//! multiply-rotate hasher (the Fx scheme of rustc): the keys are short ids, dates and
//! names the ledger already validated, so hash-flooding resistance buys nothing here,
//! and SipHash would cost more than the lookup it serves.
//!
//! Iteration order of a `HashMap` is arbitrary, so no map here is ever serialized or
//! reported in that order: snapshots write entries sorted by key, and queries sort
//! their rows. Equality (`==`) of hash maps ignores order, as it should.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FxHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The Fx multiplier (a 64-bit odd constant with well-spread bits, as in rustc).
const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;
/// Bits the state rotates by per word before mixing the next one in.
const WORD_ROTATE: u32 = 5;
/// The final rotation moves the best-mixed high bits down to the low bits, which the
/// table uses to pick a bucket.
const FINISH_ROTATE: u32 = 26;
const WORD_BYTES: usize = 8;

#[derive(Clone, Copy, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(WORD_ROTATE) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(WORD_BYTES);
        for chunk in &mut chunks {
            let mut word = [0; WORD_BYTES];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; WORD_BYTES];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        // usize is at most 64 bits on every target this crate supports.
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash.rotate_left(FINISH_ROTATE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn hash_of(value: impl Hash) -> u64 {
        let mut hasher = FxHasher::default();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn strings_differing_in_any_byte_hash_differently() {
        let base = hash_of("support_allowance");
        assert_ne!(base, hash_of("support_allowancf"));
        assert_ne!(base, hash_of("tupport_allowance"));
        assert_ne!(hash_of("H0001"), hash_of("H0002"));
        assert_eq!(base, hash_of("support_allowance"));
    }
}
