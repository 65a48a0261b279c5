//! The key layout of the household trail index (FORMAT.md §3): pure, so that the store and
//! the tests that tamper with a store share one codec.
//!
//! One key per event that names a household, `t ‖ len(id) u8 ‖ id ‖ seq u64 BE`, with an
//! empty value: a prefix scan over `t ‖ len ‖ id` gives one household's seqs in order, and
//! the length in front keeps `PL-1` from being a prefix of `PL-10`'s entries.

/// The prefix byte of the household trail index.
pub const TRAIL_PREFIX: u8 = b't';

/// Bytes of the seq at the end of a trail key.
const SEQ_BYTES: usize = 8;

/// The prefix every trail key of `household` starts with. Household ids are at most
/// `MAX_HOUSEHOLD_ID_CHARS` (32) ASCII characters, so their length fits the one byte.
pub fn trail_prefix(household: &str) -> Vec<u8> {
    let len = u8::try_from(household.len()).expect("household ids are at most 32 bytes");
    let mut key = Vec::with_capacity(2 + household.len() + SEQ_BYTES);
    key.push(TRAIL_PREFIX);
    key.push(len);
    key.extend_from_slice(household.as_bytes());
    key
}

/// The key of the entry that lists `seq` in `household`'s trail.
pub fn trail_key(household: &str, seq: u64) -> Vec<u8> {
    let mut key = trail_prefix(household);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The household and seq a trail key names, or why it is not a trail key.
pub fn parse_trail_key(key: &[u8]) -> Result<(&str, u64), String> {
    let (&prefix, rest) = key.split_first().ok_or("an empty key")?;
    if prefix != TRAIL_PREFIX {
        return Err(format!("prefix {prefix:#04x} is not the trail index's"));
    }
    let (&len, rest) = rest.split_first().ok_or("no household length")?;
    let len = usize::from(len);
    if rest.len() != len + SEQ_BYTES {
        return Err(format!(
            "{} bytes after the length, not {len} of household id and {SEQ_BYTES} of seq",
            rest.len()
        ));
    }
    let (id, seq) = rest.split_at(len);
    let id = std::str::from_utf8(id).map_err(|_| "the household id is not UTF-8".to_string())?;
    let seq = u64::from_be_bytes(seq.try_into().expect("split at len leaves 8 bytes"));
    Ok((id, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_as_its_household_and_seq() {
        let key = trail_key("PL-00001", 258);
        assert_eq!(parse_trail_key(&key), Ok(("PL-00001", 258)));
        assert!(key.starts_with(&trail_prefix("PL-00001")));
    }

    #[test]
    fn one_households_prefix_is_not_anothers() {
        assert!(!trail_key("PL-10", 1).starts_with(&trail_prefix("PL-1")));
    }

    #[test]
    fn keys_of_one_household_sort_by_seq() {
        assert!(trail_key("A", 255) < trail_key("A", 256));
    }

    #[test]
    fn a_malformed_key_is_refused_with_its_reason() {
        assert!(parse_trail_key(b"").is_err());
        assert!(parse_trail_key(&trail_key("A", 1)[..5]).is_err());
        let mut wrong = trail_key("A", 1);
        wrong[0] = b'h';
        assert!(parse_trail_key(&wrong)
            .unwrap_err()
            .contains("not the trail index"));
        let mut bad_utf8 = trail_key("A", 1);
        bad_utf8[2] = 0xff;
        assert!(parse_trail_key(&bad_utf8).unwrap_err().contains("UTF-8"));
    }
}
