//! The layout of the household trail index (FORMAT.md §3): pure, so that the store and the
//! tests that tamper with a store share one codec.
//!
//! One key per household and write: `t ‖ len(id) u8 ‖ id ‖ first seq u64 BE`, whose value
//! lists the seqs (u64 BE each, increasing, the first equal to the key's) of the events of
//! that write that name the household. A prefix scan over `t ‖ len ‖ id` gives one
//! household's seqs in order, and the length in front keeps `PL-1` from being a prefix of
//! `PL-10`'s keys. sled's cost is per key and per leaf it copies: a key per event, inserted
//! in household order rather than seq order, took a 1,000,000-event import from 13 s to
//! 79 s; a key per household and write costs what the event blocks cost.

/// The prefix byte of the household trail index.
pub const TRAIL_PREFIX: u8 = b't';

/// Bytes of a seq, in a key and in a value.
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

/// The key of the entry that lists `household`'s seqs of one write, from `first` on.
pub fn trail_key(household: &str, first: u64) -> Vec<u8> {
    let mut key = trail_prefix(household);
    key.extend_from_slice(&first.to_be_bytes());
    key
}

/// The household and first seq a trail key names, or why it is not a trail key.
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

/// The value of a trail entry: the seqs, u64 BE each.
pub fn encode_seqs(seqs: &[u64]) -> Vec<u8> {
    seqs.iter().flat_map(|seq| seq.to_be_bytes()).collect()
}

/// The seqs of the entry whose key names `first`, or why they are not a valid list: at
/// least one, whole u64s, increasing, the first equal to the key's.
pub fn decode_seqs(first: u64, value: &[u8]) -> Result<Vec<u64>, String> {
    if value.is_empty() || !value.len().is_multiple_of(SEQ_BYTES) {
        return Err(format!(
            "the entry of seq {first} is {} bytes, not a positive multiple of {SEQ_BYTES}",
            value.len()
        ));
    }
    let seqs: Vec<u64> = value
        .chunks_exact(SEQ_BYTES)
        .map(|c| u64::from_be_bytes(c.try_into().expect("chunks of SEQ_BYTES")))
        .collect();
    if seqs[0] != first {
        return Err(format!(
            "the entry keyed at seq {first} lists seq {} first",
            seqs[0]
        ));
    }
    if let Some(w) = seqs.windows(2).find(|w| w[0] >= w[1]) {
        return Err(format!(
            "the entry keyed at seq {first} lists seq {} after seq {}",
            w[1], w[0]
        ));
    }
    Ok(seqs)
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
    fn a_value_reads_back_as_its_seqs_and_a_malformed_one_is_refused() {
        assert_eq!(
            decode_seqs(3, &encode_seqs(&[3, 9, 10])),
            Ok(vec![3, 9, 10])
        );
        assert!(decode_seqs(3, &[]).is_err());
        assert!(decode_seqs(3, &encode_seqs(&[3, 9])[..12]).is_err());
        assert!(decode_seqs(4, &encode_seqs(&[3, 9]))
            .unwrap_err()
            .contains("lists seq 3 first"));
        assert!(decode_seqs(3, &encode_seqs(&[3, 9, 9]))
            .unwrap_err()
            .contains("after seq 9"));
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
